import { now, type Actor, type Store } from './store.js';

const INSERT_AUDIT = 'INSERT INTO audit (at, vault, op, source, exec_id, detail) VALUES (?, ?, ?, ?, ?, ?)';

/** Records one audit row: one per command or per file close, never per write call. */
export function audit(store: Store, actor: Actor, op: string, vault: string | null, detail?: Record<string, unknown>): void {
  store.stmt(INSERT_AUDIT).run(now(), vault, op, actor.source, actor.execId ?? null, detail ? JSON.stringify(detail) : null);
}
