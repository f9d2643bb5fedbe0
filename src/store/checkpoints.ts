import { AvfsError } from '../errors.js';
import { descendantRange, normalizePath } from '../core/paths.js';
import { audit } from './audit.js';
import { getEntry } from './entries.js';
import { applyState, historyChain, historyPath, type PathState, type Writer } from './history.js';
import { now, type Store } from './store.js';
import { currentSeq, type VaultRow } from './vaults.js';
import type { VaultFs } from './vault-fs.js';

/**
 * Checkpoints name the exact state of a whole vault: a copy of its entry rows (paths, types,
 * modes, sizes, hashes, symlink targets, times, inode numbers) and of its annotations, made with
 * INSERT … SELECT, so saving one copies no file bytes and costs one row per entry. Restoring one is
 * a single transaction that compares the vault with the checkpoint in SQL, touches only the paths
 * that differ, records a version (op `restore`) for each, and first saves the state it replaces as
 * another checkpoint, so a restore is itself undoable.
 */

export interface CheckpointRow {
  id: number;
  vault_id: number;
  name: string;
  message: string | null;
  /** The global change sequence when it was saved. */
  seq: number;
  /** Regular files and their total logical size. */
  files: number;
  bytes: number;
  source: string;
  exec_id: string | null;
  created_at: number;
}

export interface CheckpointInfo extends CheckpointRow {
  directories: number;
  symlinks: number;
}

export const CHECKPOINT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

const SELECT = 'SELECT * FROM checkpoints WHERE vault_id = ? AND name = ?';
const INSERT = `INSERT INTO checkpoints (vault_id, name, message, seq, files, bytes, source, exec_id, created_at)
  VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?)`;
const COPY_ENTRIES = `INSERT INTO checkpoint_entries (checkpoint_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
  SELECT ?, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version FROM entries WHERE vault_id = ?`;
const COPY_ANNOTATIONS = `INSERT INTO checkpoint_annotations (checkpoint_id, path, kind, key, value)
  SELECT ?, path, kind, key, value FROM annotations WHERE vault_id = ?`;
const SET_TOTALS = `UPDATE checkpoints SET (files, bytes) =
  (SELECT count(*), coalesce(sum(size), 0) FROM checkpoint_entries WHERE checkpoint_id = @cp AND type = 'f') WHERE id = @cp`;
const COUNT_TYPES = `SELECT type, count(*) AS n FROM checkpoint_entries WHERE checkpoint_id = ? AND path <> '/' GROUP BY type`;

/** Validates a user-given checkpoint name (same rules as vault names). */
export function validateCheckpointName(name: string): string {
  if (typeof name !== 'string' || !CHECKPOINT_NAME_RE.test(name)) {
    throw new AvfsError(
      'INVALID_NAME',
      `invalid checkpoint name ${JSON.stringify(name)}: use 1-128 letters, digits, '-', '_' or '.', not starting with '.' or '-'`,
      { name },
    );
  }
  return name;
}

export function findCheckpoint(store: Store, vault: VaultRow, name: string): CheckpointRow | undefined {
  return store.stmt<CheckpointRow>(SELECT).get(vault.id, name);
}

export function getCheckpoint(store: Store, vault: VaultRow, name: string): CheckpointRow {
  validateCheckpointName(name);
  const row = findCheckpoint(store, vault, name);
  if (!row) throw new AvfsError('CHECKPOINT_NOT_FOUND', `no checkpoint ${name} in vault ${vault.name}`, { checkpoint: name, vault: vault.name });
  return row;
}

/**
 * A name nobody has used in this vault: `<prefix>-YYYYMMDD-HHMMSS-mmm` (UTC), with `-2`, `-3`, …
 * appended when taken, so two saves in the same millisecond still get distinct names. Must run
 * inside the transaction that inserts the checkpoint.
 */
export function autoCheckpointName(store: Store, vault: VaultRow, prefix = 'cp'): string {
  const d = new Date(now());
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const base =
    `${prefix}-${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}-${p(d.getUTCMilliseconds(), 3)}`;
  let name = base;
  for (let i = 2; findCheckpoint(store, vault, name); i++) name = `${base}-${i}`;
  return name;
}

/** Saves the vault's current state inside the caller's transaction. */
function saveIn(fs: VaultFs, vault: VaultRow, name: string, message: string | null): CheckpointRow {
  const store = fs.store;
  if (findCheckpoint(store, vault, name)) {
    throw new AvfsError('ALREADY_EXISTS', `checkpoint ${name} already exists in vault ${vault.name}`, { checkpoint: name, vault: vault.name });
  }
  const { lastInsertRowid } = store.stmt(INSERT).run(vault.id, name, message, currentSeq(store), fs.actor.source, fs.actor.execId ?? null, now());
  const id = Number(lastInsertRowid);
  store.stmt(COPY_ENTRIES).run(id, vault.id);
  store.stmt(COPY_ANNOTATIONS).run(id, vault.id);
  store.stmt(SET_TOTALS).run({ cp: id });
  return store.stmt<CheckpointRow>('SELECT * FROM checkpoints WHERE id = ?').get(id)!;
}

/** Saves the vault's current state as checkpoint `name` (an automatic name when omitted). */
export function saveCheckpoint(fs: VaultFs, name?: string | null, message?: string | null): CheckpointInfo {
  if (name) validateCheckpointName(name);
  return fs.store.mutate(() => {
    const vault = fs.row();
    const row = saveIn(fs, vault, name || autoCheckpointName(fs.store, vault), message ?? null);
    audit(fs.store, fs.actor, 'checkpoint.save', fs.name, { checkpoint: row.name, files: row.files });
    return withCounts(fs.store, row);
  });
}

function withCounts(store: Store, row: CheckpointRow): CheckpointInfo {
  const counts: Record<string, number> = {};
  for (const r of store.stmt<{ type: string; n: number }>(COUNT_TYPES).all(row.id)) counts[r.type] = r.n;
  return { ...row, directories: counts.d ?? 0, symlinks: counts.l ?? 0 };
}

/** Checkpoints of the vault, newest first. */
export function listCheckpoints(fs: VaultFs): CheckpointRow[] {
  return fs.store.read(() => fs.store.stmt<CheckpointRow>('SELECT * FROM checkpoints WHERE vault_id = ? ORDER BY id DESC').all(fs.row().id));
}

export function checkpointInfo(fs: VaultFs, name: string): CheckpointInfo {
  return fs.store.read(() => withCounts(fs.store, getCheckpoint(fs.store, fs.row(), name)));
}

export function deleteCheckpoint(fs: VaultFs, name: string): CheckpointRow {
  return fs.store.mutate(() => {
    const row = getCheckpoint(fs.store, fs.row(), name);
    fs.store.stmt('DELETE FROM checkpoint_entries WHERE checkpoint_id = ?').run(row.id);
    fs.store.stmt('DELETE FROM checkpoint_annotations WHERE checkpoint_id = ?').run(row.id);
    fs.store.stmt('DELETE FROM checkpoints WHERE id = ?').run(row.id);
    audit(fs.store, fs.actor, 'checkpoint.delete', fs.name, { checkpoint: name });
    return row;
  });
}

// ---- restore -------------------------------------------------------------------------------

export interface RestoreResult {
  checkpoint: string;
  /** The checkpoint saved of the state this restore replaced (null when nothing changed). */
  saved_before: string | null;
  added: number;
  modified: number;
  deleted: number;
  /** Paths whose tags or metadata changed. */
  annotations_changed: number;
}

// The restore plan: one row per path that differs, with the version number it has now. The plan is
// usually far smaller than the checkpoint, so joins from it say CROSS JOIN, which makes SQLite loop
// over the plan and probe the checkpoint by primary key (it has no statistics for a temp table).
// kind: 1 = only in the checkpoint (re-created), 2 = in both but different, 3 = only in the vault (removed).
const PLAN_TABLE = 'CREATE TEMP TABLE IF NOT EXISTS restore_plan (path TEXT PRIMARY KEY, kind INTEGER NOT NULL, base INTEGER) WITHOUT ROWID';
const PLAN_CLEAR = 'DELETE FROM temp.restore_plan';
// An entry differs when anything `ls -l`/stat shows differs, except access and change times.
const PLAN_CHANGED = `INSERT INTO temp.restore_plan (path, kind, base)
  SELECT e.path, CASE WHEN c.path IS NULL THEN 3 ELSE 2 END, e.version
  FROM entries e LEFT JOIN checkpoint_entries c ON c.checkpoint_id = @cp AND c.path = e.path
  WHERE e.vault_id = @v AND (c.path IS NULL OR c.type IS NOT e.type OR c.mode IS NOT e.mode OR c.size IS NOT e.size
    OR c.hash IS NOT e.hash OR c.target IS NOT e.target OR c.mtime IS NOT e.mtime)`;
const PLAN_ADDED = `INSERT INTO temp.restore_plan (path, kind, base)
  SELECT c.path, 1, NULL FROM checkpoint_entries c
  WHERE c.checkpoint_id = @cp AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.vault_id = @v AND e.path = c.path)`;
// A re-created path continues its own numbering (following the fork chain, one segment at a time).
const PLAN_BASE = `UPDATE temp.restore_plan SET base =
  (SELECT max(version) FROM versions v WHERE v.vault_id = ? AND v.path = restore_plan.path AND v.id <= ?) WHERE base IS NULL`;
const PLAN_COUNTS = 'SELECT kind, count(*) AS n FROM temp.restore_plan GROUP BY kind';
const PLAN_MAX_FILE = `SELECT max(c.size) AS size, c.path AS path FROM temp.restore_plan p
  CROSS JOIN checkpoint_entries c ON c.checkpoint_id = ? AND c.path = p.path WHERE c.type = 'f'`;
const CHECKPOINT_USAGE = `SELECT count(*) - 1 AS entries, coalesce(sum(CASE WHEN type = 'f' THEN size END), 0) AS bytes
  FROM checkpoint_entries WHERE checkpoint_id = ?`;
const VAULT_USAGE = `SELECT count(*) - 1 AS entries, coalesce(sum(CASE WHEN type = 'f' THEN size END), 0) AS bytes FROM entries WHERE vault_id = ?`;
const MISSING_CONTENT = `SELECT c.path AS path, c.hash AS hash FROM temp.restore_plan p CROSS JOIN checkpoint_entries c ON c.checkpoint_id = ? AND c.path = p.path
  WHERE c.type = 'f' AND c.hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = c.hash) LIMIT 1`;
const APPLY_DELETE = 'DELETE FROM entries WHERE vault_id = ? AND path IN (SELECT path FROM temp.restore_plan)';
const APPLY_INSERT = `INSERT INTO entries (vault_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
  SELECT @v, c.path, c.parent, c.type, c.mode, c.size, c.hash, c.target, c.mtime, c.atime, @at, c.ino, coalesce(p.base, 0) + 1
  FROM temp.restore_plan p CROSS JOIN checkpoint_entries c ON c.checkpoint_id = @cp AND c.path = p.path`;
const APPLY_VERSIONS = `INSERT INTO versions (vault_id, path, version, op, type, mode, size, hash, target, mtime, source, exec_id, detail, at)
  SELECT @v, p.path, coalesce(p.base, 0) + 1, 'restore', c.type, c.mode, c.size, c.hash, c.target, c.mtime, @source, @exec, @detail, @at
  FROM temp.restore_plan p LEFT JOIN checkpoint_entries c ON c.checkpoint_id = @cp AND c.path = p.path ORDER BY p.path`;
const ANNOTATIONS_STALE = `FROM annotations a WHERE a.vault_id = @v AND NOT EXISTS (SELECT 1 FROM checkpoint_annotations c
  WHERE c.checkpoint_id = @cp AND c.path = a.path AND c.kind = a.kind AND c.key = a.key AND c.value = a.value)`;
const ANNOTATIONS_MISSING = `FROM checkpoint_annotations c WHERE c.checkpoint_id = @cp AND NOT EXISTS (SELECT 1 FROM annotations a
  WHERE a.vault_id = @v AND a.path = c.path AND a.kind = c.kind AND a.key = c.key AND a.value = c.value)`;
const ANNOTATIONS_CHANGED = `SELECT count(DISTINCT path) AS n FROM (SELECT a.path AS path ${ANNOTATIONS_STALE} UNION ALL SELECT c.path ${ANNOTATIONS_MISSING})`;
const ANNOTATIONS_DELETE = `DELETE FROM annotations WHERE vault_id = @v AND NOT EXISTS (SELECT 1 FROM checkpoint_annotations c
  WHERE c.checkpoint_id = @cp AND c.path = annotations.path AND c.kind = annotations.kind AND c.key = annotations.key AND c.value = annotations.value)`;
const ANNOTATIONS_INSERT = `INSERT OR REPLACE INTO annotations (vault_id, path, kind, key, value) SELECT @v, c.path, c.kind, c.key, c.value ${ANNOTATIONS_MISSING}`;

const planReady = new WeakSet<Store>();

/**
 * Makes the vault exactly the checkpoint's state, in one transaction: paths that differ are
 * deleted and re-inserted from the checkpoint's rows (with their times and inode numbers), each
 * recorded as a version with op `restore`; unchanged paths are not touched. Before changing
 * anything it saves the current state as checkpoint `before-restore-…` (returned as
 * `saved_before`), so restoring that one brings the replaced state back. A restore that would
 * take the vault further over a quota is refused (QUOTA_EXCEEDED) and changes nothing.
 */
export function restoreCheckpoint(fs: VaultFs, name: string, options: { saveBefore?: boolean } = {}): RestoreResult {
  const store = fs.store;
  if (!planReady.has(store)) {
    store.db.exec(PLAN_TABLE);
    planReady.add(store);
  }
  return store.mutate(() => {
    const vault = fs.row();
    const cp = getCheckpoint(store, vault, name);
    const ids = { v: vault.id, cp: cp.id };
    store.stmt(PLAN_CLEAR).run();
    try {
      store.stmt(PLAN_CHANGED).run(ids);
      store.stmt(PLAN_ADDED).run(ids);
      const counts: Record<number, number> = {};
      for (const r of store.stmt<{ kind: number; n: number }>(PLAN_COUNTS).all()) counts[r.kind] = r.n;
      const annotations = store.stmt<{ n: number }>(ANNOTATIONS_CHANGED).get(ids)!.n;
      const result: RestoreResult = {
        checkpoint: cp.name,
        saved_before: null,
        added: counts[1] ?? 0,
        modified: counts[2] ?? 0,
        deleted: counts[3] ?? 0,
        annotations_changed: annotations,
      };
      if (result.added + result.modified + result.deleted + annotations === 0) return result;
      if (result.added > 0) {
        for (const seg of historyChain(store, vault)) store.stmt(PLAN_BASE).run(seg.vaultId, seg.upTo);
      }
      checkRestoreQuota(store, vault, cp);
      const missing = store.stmt<{ path: string; hash: string }>(MISSING_CONTENT).get(cp.id);
      if (missing) {
        throw new AvfsError('CHECKPOINT_NOT_FOUND', `checkpoint ${cp.name} refers to content that is no longer stored (${missing.path})`, {
          checkpoint: cp.name,
          path: missing.path,
          hash: missing.hash,
          reason: 'content_pruned',
        });
      }
      if (options.saveBefore !== false) {
        result.saved_before = saveIn(fs, vault, autoCheckpointName(store, vault, 'before-restore'), `state before restoring ${cp.name}`).name;
      }
      const at = now();
      store.stmt(APPLY_DELETE).run(vault.id);
      store.stmt(APPLY_INSERT).run({ ...ids, at });
      store
        .stmt(APPLY_VERSIONS)
        .run({ ...ids, at, source: fs.actor.source, exec: fs.actor.execId ?? null, detail: JSON.stringify({ checkpoint: cp.name, saved_before: result.saved_before }) });
      if (annotations > 0) {
        store.stmt(ANNOTATIONS_DELETE).run(ids);
        store.stmt(ANNOTATIONS_INSERT).run(ids);
      }
      audit(store, fs.actor, 'checkpoint.restore', fs.name, {
        checkpoint: cp.name,
        saved_before: result.saved_before,
        added: result.added,
        modified: result.modified,
        deleted: result.deleted,
      });
      return result;
    } finally {
      store.stmt(PLAN_CLEAR).run();
    }
  });
}

/** The vault after a restore is exactly the checkpoint, so its usage is the checkpoint's; refuse growth past a limit. */
function checkRestoreQuota(store: Store, vault: VaultRow, cp: CheckpointRow): void {
  if (vault.max_bytes === null && vault.max_files === null && vault.max_file_size === null) return;
  const next = store.stmt<{ entries: number; bytes: number }>(CHECKPOINT_USAGE).get(cp.id)!;
  const cur = store.stmt<{ entries: number; bytes: number }>(VAULT_USAGE).get(vault.id)!;
  const refuse = (limit: string, max: number, wanted: number, path = '/') =>
    new AvfsError('QUOTA_EXCEEDED', `quota exceeded in vault ${vault.name}: ${limit} is ${max}, restoring ${cp.name} needs ${wanted}`, {
      vault: vault.name,
      path,
      limit,
      max,
      wanted,
      checkpoint: cp.name,
    });
  if (vault.max_file_size !== null) {
    const big = store.stmt<{ size: number | null; path: string | null }>(PLAN_MAX_FILE).get(cp.id)!;
    if (big.size !== null && big.size > vault.max_file_size) throw refuse('max_file_size', vault.max_file_size, big.size, big.path ?? '/');
  }
  if (vault.max_bytes !== null && next.bytes > vault.max_bytes && next.bytes > cur.bytes) throw refuse('max_bytes', vault.max_bytes, next.bytes);
  if (vault.max_files !== null && next.entries > vault.max_files && next.entries > cur.entries) throw refuse('max_files', vault.max_files, next.entries);
}

// ---- single paths from a checkpoint --------------------------------------------------------

const PATH_ANNOTATIONS = `INSERT OR REPLACE INTO annotations (vault_id, path, kind, key, value)
  SELECT ?, path, kind, key, value FROM checkpoint_annotations WHERE checkpoint_id = ? AND path = ?`;

/**
 * Gives one path the tags and metadata it had in a checkpoint (a path brought back after a
 * deletion, which dropped them), keeping any it has now. Returns how many were written.
 */
export function restorePathAnnotations(store: Store, vault: VaultRow, cp: CheckpointRow, path: string): number {
  return store.stmt(PATH_ANNOTATIONS).run(vault.id, cp.id, path).changes;
}

const CP_ENTRY = 'SELECT path, type, mode, size, hash, target FROM checkpoint_entries WHERE checkpoint_id = ? AND path = ?';
const CP_SUBTREE = `SELECT path, type, mode, size, hash, target FROM checkpoint_entries
  WHERE checkpoint_id = ? AND path >= ? AND path < ? ORDER BY path`;
const CUR_SUBTREE = `SELECT path FROM entries WHERE vault_id = ? AND path >= ? AND path < ? ORDER BY path DESC`;

/**
 * Makes one path hold what it held in a checkpoint (op `checkout`); with `recursive`, a directory
 * gets exactly the checkpoint's contents below it too (extra entries removed, missing ones back).
 * A path absent from the checkpoint is removed. Returns how many entries changed.
 */
export function checkoutFromCheckpoint(fs: VaultFs, input: string, name: string, options: { recursive?: boolean } = {}) {
  return fs.store.mutate(() => {
    const store = fs.store;
    const vault = fs.row();
    const cp = getCheckpoint(store, vault, name);
    const path = historyPath(fs, vault, normalizePath(input));
    const w: Writer = { store, vault, actor: fs.actor };
    const change = { op: 'checkout', actor: fs.actor, detail: { checkpoint: cp.name } };
    const own = store.stmt<PathState & { path: string }>(CP_ENTRY).get(cp.id, path) ?? null;
    let changed = 0;
    if (options.recursive && own?.type === 'd') {
      const [lo, hi] = descendantRange(path);
      const wanted = new Map(store.stmt<PathState & { path: string }>(CP_SUBTREE).all(cp.id, lo, hi).map((r) => [r.path, r]));
      // Extra entries go first (deepest first), then the checkpoint's, parents before children.
      for (const { path: p } of store.stmt<{ path: string }>(CUR_SUBTREE).all(vault.id, lo, hi)) {
        if (p !== path && !wanted.has(p) && getEntry(store, vault.id, p)) changed += applyState(w, p, null, change, true);
      }
      changed += applyState(w, path, own, change, true);
      for (const [p, state] of wanted) if (p !== path) changed += applyState(w, p, state, change, true);
    } else {
      changed += applyState(w, path, own, change, !!options.recursive);
    }
    if (changed > 0) audit(store, fs.actor, 'checkout', fs.name, { path, checkpoint: cp.name, changed });
    return { path, checkpoint: cp.name, changed: changed > 0, changed_paths: changed, entry: getEntry(store, vault.id, path) ?? null };
  });
}
