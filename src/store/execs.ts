import { AvfsError } from '../errors.js';
import { now, type Store } from './store.js';
import { audit } from './audit.js';
import { currentSeq, vaultById, type VaultRow } from './vaults.js';

/**
 * The record of `proxy exec` runs (table `execs`, migrations 3 and 13) and the history queries
 * the change report and `proxy undo` are built on.
 */

import type { VersionRow } from './history.js';
import { VERSION_COLUMNS } from './version-columns.js';

export type { VersionRow };

export interface ExecRow {
  id: string;
  vault_id: number;
  vault: string;
  /** JSON: `{"argv": [...]}` or `{"shell": "..."}`. */
  command: string;
  cwd: string;
  mode: string;
  /** JSON of the policy decision. */
  decision: string;
  checkpoint: string | null;
  seq_before: number;
  seq_after: number | null;
  started_at: number;
  ended_at: number | null;
  exit_code: number | null;
  signal: string | null;
  timed_out: number | null;
  undone_at: number | null;
  /** The avfs process running it and that process's start time (null for rows from before migration 13). */
  pid: number | null;
  pid_start: number | null;
  /** When its avfs process was found dead while it ran (its window then closes at seq_after). */
  died_at: number | null;
}

export type NewExec = Pick<ExecRow, 'id' | 'vault_id' | 'vault' | 'command' | 'cwd' | 'mode' | 'decision' | 'checkpoint' | 'seq_before' | 'pid' | 'pid_start'>;

const INSERT = `INSERT INTO execs (id, vault_id, vault, command, cwd, mode, decision, checkpoint, seq_before, pid, pid_start, started_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const FINISH = 'UPDATE execs SET seq_after = ?, ended_at = ?, exit_code = ?, signal = ?, timed_out = ? WHERE id = ?';
const SELECT = 'SELECT * FROM execs WHERE id = ?';
const COLS = VERSION_COLUMNS;
const WINDOW = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND id > ? AND id <= ? ORDER BY id`;
const WINDOW_TAGGED = `SELECT ${COLS} FROM versions WHERE exec_id = ? AND vault_id = ? AND id > ? AND id <= ? ORDER BY id`;
const BEFORE = `SELECT ${COLS} FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id < ? ORDER BY version DESC, id DESC LIMIT 1`;
// Times-only rows (op 'touch': a directory's mtime moving as names come and go) are not changes undo would lose.
// By the path's index: left to the planner on a home without statistics (never compacted), it
// walked versions_vault over every version after the exec, once per path undo checks (O(n²)).
const PATH_AFTER = `SELECT ${COLS} FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id > ? AND op <> 'touch' ORDER BY id`;
const OPEN = 'SELECT * FROM execs WHERE seq_after IS NULL';
const DIED = 'UPDATE execs SET seq_after = ?, ended_at = ?, died_at = ? WHERE id = ? AND seq_after IS NULL';

export function insertExec(store: Store, exec: NewExec): void {
  store
    .stmt(INSERT)
    .run(exec.id, exec.vault_id, exec.vault, exec.command, exec.cwd, exec.mode, exec.decision, exec.checkpoint, exec.seq_before, exec.pid, exec.pid_start, now());
}

/** Execs that have not finished: still running, or their avfs died and nobody noticed yet. */
export function openExecs(store: Store): ExecRow[] {
  return store.stmt<ExecRow>(OPEN).all();
}

/**
 * Records, in one transaction, that an exec's avfs process died while it ran: its change window
 * closes now (the caller has ended whatever could still write with its id) and a `proxy.died`
 * audit row says so. Returns false when it had already ended.
 */
export function recordExecDied(store: Store, exec: Pick<ExecRow, 'id' | 'vault' | 'pid'>): boolean {
  return store.mutate(() => {
    const at = now();
    if (store.stmt(DIED).run(currentSeq(store), at, at, exec.id).changes === 0) return false;
    audit(store, { source: 'proxy', execId: exec.id }, 'proxy.died', exec.vault, { exec_id: exec.id, pid: exec.pid, noticed_by: process.pid });
    return true;
  });
}

/** Records how a run ended; `seqAfter` closes its change window. */
export function finishExec(
  store: Store,
  id: string,
  outcome: { seqAfter: number; exitCode: number | null; signal: string | null; timedOut: boolean },
): void {
  store.stmt(FINISH).run(outcome.seqAfter, now(), outcome.exitCode, outcome.signal, outcome.timedOut ? 1 : 0, id);
}

/** The decision and checkpoint of an exec judged again before it ran (run.ts: a sandbox that failed to start). */
export function rejudgeExec(store: Store, id: string, judged: { decision: string; checkpoint: string | null }): void {
  store.stmt('UPDATE execs SET decision = ?, checkpoint = ? WHERE id = ?').run(judged.decision, judged.checkpoint, id);
}

const ENDED = 'SELECT seq_after FROM execs WHERE id = ?';

/**
 * Refuses a change attributed to exec `id` once that exec has ended (finished, or found dead):
 * its window is closed, its report made, and `proxy undo` may already have run, so a write landing
 * now (a process that outlived the run, stuck in a request the server was still serving) could be
 * neither reported nor undone. Its own undo is the one exception (the caller's to make).
 */
export function refuseAfterExec(store: Store, id: string): void {
  const row = store.stmt<{ seq_after: number | null }>(ENDED).get(id);
  if (row && row.seq_after !== null) {
    throw new AvfsError('DENIED', `proxy exec ${id} has ended: its processes may no longer change the vault`, { exec_id: id, reason: 'exec_ended' });
  }
}

export function findExec(store: Store, id: string): ExecRow | undefined {
  return store.stmt<ExecRow>(SELECT).get(id);
}

export function getExec(store: Store, id: string): ExecRow {
  const row = findExec(store, id);
  if (!row) throw execNotFound(id);
  return row;
}

/** The answer for an exec id no record has. */
export const execNotFound = (id: string) => new AvfsError('NOT_FOUND', `no proxy exec ${id} (the record of an exec goes when its vault is deleted)`, { exec_id: id });

/**
 * Forgets the execs of a vault that is deleted for good: nothing can undo into it, and a vault
 * created later may get its id (SQLite reuses the highest row id), which must not inherit them.
 */
export function dropExecRecords(store: Store, vaultId: number): void {
  store.stmt('DELETE FROM execs WHERE vault_id = ?').run(vaultId);
}

export function markExecUndone(store: Store, id: string): void {
  store.stmt('UPDATE execs SET undone_at = ? WHERE id = ?').run(now(), id);
}

/**
 * The versions a run recorded, oldest first: those in (after, upTo] of the vault, and with
 * `execId` only those tagged with it (writes by anyone else during the run are left out).
 */
export function windowVersions(store: Store, vaultId: number, after: number, upTo: number, execId: string | null): VersionRow[] {
  return execId === null
    ? store.stmt<VersionRow>(WINDOW).all(vaultId, after, upTo)
    : store.stmt<VersionRow>(WINDOW_TAGGED).all(execId, vaultId, after, upTo);
}

const UNDOABLE_WINDOWS = `SELECT e.seq_before AS after, coalesce(e.seq_after, 9007199254740991) AS upTo FROM execs e
  JOIN checkpoints c ON c.vault_id = e.vault_id AND c.name = e.checkpoint
  WHERE e.vault_id = ? AND e.undone_at IS NULL AND c.id NOT IN (SELECT value FROM json_each(?))`;

/**
 * The change windows, (after, upTo], of this vault's execs that `proxy undo` can still undo: not
 * undone, and their checkpoint still there (leaving out the checkpoints in `droppingCheckpoints`,
 * which a prune is deleting). Undo reads every version in the window (the exec's changes, and
 * others' writes between them, which it must not drop silently), so prune keeps them until then.
 */
export function undoableExecWindows(store: Store, vaultId: number, droppingCheckpoints: number[]): Array<{ after: number; upTo: number }> {
  return store.stmt<{ after: number; upTo: number }>(UNDOABLE_WINDOWS).all(vaultId, JSON.stringify(droppingCheckpoints));
}

/** The newest version of `path` recorded before change `beforeId`, following the fork chain; undefined when it had none. */
export function versionBeforeSeq(store: Store, vault: VaultRow, path: string, beforeId: number): VersionRow | undefined {
  // A fork inherits its parent's history up to the sequence it forked at (and so on up the chain).
  let current: VaultRow | undefined = vault;
  let bound = beforeId;
  const seen = new Set<number>();
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    const row = store.stmt<VersionRow>(BEFORE).get(current.id, path, bound);
    if (row) return row;
    if (current.parent_id === null || current.fork_seq === null) return undefined;
    bound = Math.min(bound, current.fork_seq + 1);
    current = vaultById(store, current.parent_id);
  }
  return undefined;
}

/** The versions of one path recorded after change `afterId`, oldest first (this vault's own). */
export function pathVersionsAfter(store: Store, vaultId: number, path: string, afterId: number): VersionRow[] {
  return store.stmt<VersionRow>(PATH_AFTER).all(vaultId, path, afterId);
}
