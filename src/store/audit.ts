import { now, type Actor, type Store } from './store.js';

const INSERT_AUDIT = 'INSERT INTO audit (at, vault, op, source, exec_id, detail) VALUES (?, ?, ?, ?, ?, ?)';

/**
 * Audit retention. Two kinds of rows: a change (one per file close, rename, removal, mode or owner
 * change; a command changing many files writes many) and a command row (COMMAND_ROW: one per
 * command or proxy decision). Each kind keeps at most AUDIT_MAX_ROWS rows, and nothing is kept
 * past AUDIT_MAX_AGE_MS (90 days); older rows go first. Counted apart, so no command, however
 * many files it changes, can push out the decision that let it run, or any other command's.
 * Changes are trimmed inside the writing transaction on every AUDIT_TRIM_EVERY-th row (indexed
 * range deletes, so about 1,000 rows each time at steady state); command rows, which only
 * commands add, at `gc` and `compact` (their count needs a walk of their index). `audit clear
 * --before` drops rows earlier on demand.
 */
export const AUDIT_MAX_ROWS = 100_000;
export const AUDIT_MAX_AGE_MS = 90 * 86_400_000;
export const AUDIT_TRIM_EVERY = 1000;

/** The ops of command rows (see retention above); every other op is a change. */
const COMMAND_ROW =
  "(substr(op, 1, 5) = 'proxy' OR substr(op, 1, 6) IN ('vault.', 'quota.', 'audit.') OR substr(op, 1, 11) = 'checkpoint.' OR op IN ('gc', 'prune', 'compact', 'sync'))";

/** Records one audit row: one per command or per file close, never per write call. */
export function audit(store: Store, actor: Actor, op: string, vault: string | null, detail?: Record<string, unknown>): void {
  const { lastInsertRowid } = store
    .stmt(INSERT_AUDIT)
    .run(now(), vault, op, actor.source, actor.execId ?? null, detail ? JSON.stringify(detail) : null);
  if (Number(lastInsertRowid) % AUDIT_TRIM_EVERY === 0) trimChanges(store, AUDIT_MAX_ROWS, AUDIT_MAX_AGE_MS);
}

/** Applies every retention bound (gc, compact); returns the number of rows dropped. Joins the caller's transaction. */
export function trimAudit(store: Store, limits: { maxRows?: number; maxAgeMs?: number } = {}): number {
  const maxRows = limits.maxRows ?? AUDIT_MAX_ROWS;
  return store.mutate(() => {
    const commands = store
      .stmt(`DELETE FROM audit WHERE ${COMMAND_ROW} AND id <= (SELECT id FROM audit WHERE ${COMMAND_ROW} ORDER BY id DESC LIMIT 1 OFFSET ?)`)
      .run(maxRows).changes;
    return commands + trimChanges(store, maxRows, limits.maxAgeMs ?? AUDIT_MAX_AGE_MS);
  });
}

/** Drops changes past the newest `maxRows` rows, and rows of either kind older than `maxAgeMs`. */
function trimChanges(store: Store, maxRows: number, maxAgeMs: number): number {
  return store.mutate(() => {
    // Ids only grow (INTEGER PRIMARY KEY, new rows get max+1), so the rows past the newest
    // maxRows are those with id <= max(id) - maxRows, whatever was deleted in between. Counting
    // command rows among those newest keeps fewer changes, never more.
    const byCount = store.stmt(`DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ? AND NOT ${COMMAND_ROW}`).run(maxRows).changes;
    const byAge = store.stmt('DELETE FROM audit WHERE at < ?').run(now() - maxAgeMs).changes;
    return byCount + byAge;
  });
}

/** One audit row as commands report it. `detail` is the JSON object the writer recorded. */
export interface AuditRecord {
  id: number;
  at: string;
  vault: string | null;
  op: string;
  source: string;
  exec_id: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  /** Rows at or after this time (epoch ms). */
  since?: number;
  /** Exact op name, or a prefix ending in `*` (`vault.*`, `proxy*`). */
  op?: string;
  execId?: string;
  vault?: string;
  /** The newest `limit` matching rows are returned (in chronological order). */
  limit: number;
}

interface AuditRow {
  id: number;
  at: number;
  vault: string | null;
  op: string;
  source: string;
  exec_id: string | null;
  detail: string | null;
}

/** The newest matching rows, oldest first; `truncated` says that older rows also matched. */
export function queryAudit(store: Store, q: AuditQuery): { records: AuditRecord[]; truncated: boolean } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.since !== undefined) {
    where.push('at >= ?');
    params.push(q.since);
  }
  if (q.op !== undefined) {
    if (q.op.endsWith('*')) {
      // substr comparison instead of LIKE/GLOB, so `_`, `%` or `[` in an op name mean themselves.
      const prefix = q.op.slice(0, -1);
      where.push('substr(op, 1, ?) = ?');
      params.push(prefix.length, prefix);
    } else {
      where.push('op = ?');
      params.push(q.op);
    }
  }
  if (q.execId !== undefined) {
    where.push('exec_id = ?');
    params.push(q.execId);
  }
  if (q.vault !== undefined) {
    where.push('vault = ?');
    params.push(q.vault);
  }
  const sql = `SELECT id, at, vault, op, source, exec_id, detail FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
  const rows = store.stmt<AuditRow>(sql).all(...params, q.limit + 1);
  const truncated = rows.length > q.limit;
  const records = rows.slice(0, q.limit).reverse().map(toRecord);
  return { records, truncated };
}

function toRecord(row: AuditRow): AuditRecord {
  let detail: Record<string, unknown> | null = null;
  if (row.detail !== null) {
    try {
      detail = JSON.parse(row.detail) as Record<string, unknown>;
    } catch {
      detail = { raw: row.detail };
    }
  }
  return { id: row.id, at: new Date(row.at).toISOString(), vault: row.vault, op: row.op, source: row.source, exec_id: row.exec_id, detail };
}

/** Deletes rows older than `before` (epoch ms) and records that it did; returns the count deleted. */
export function clearAudit(store: Store, before: number, actor: Actor): number {
  return store.mutate(() => {
    const deleted = store.stmt('DELETE FROM audit WHERE at < ?').run(before).changes;
    audit(store, actor, 'audit.clear', null, { before: new Date(before).toISOString(), deleted });
    return deleted;
  });
}
