import { AvfsError, notADirectory, notFound } from '../errors.js';
import { ancestors, descendantRange, isWithin, normalizePath } from '../core/paths.js';
import { audit } from './audit.js';
import { contentChunks, readContent } from './blobs.js';
import { getEntry, listDescendants, putEntry, removeEntry, type ChangeOptions, type Entry, type EntryType } from './entries.js';
import type { Actor, Store } from './store.js';
import { vaultById, type VaultRow } from './vaults.js';
import type { VaultFs } from './vault-fs.js';

/**
 * Per-path history (DESIGN §2 rule 6). Every change to a path is a `versions` row holding the
 * path's NEW state (type NULL = the path is absent), numbered per path: v3 is what the file became
 * by its third change. A fork inherits its parent's history up to the change sequence it forked
 * at (`fork_seq`), recursively, so every read here walks a chain of (vault, upper sequence bound)
 * segments, newest first. Own versions of a vault are always newer than what it inherited, and
 * version numbers continue across the fork point, so concatenating segments keeps the order.
 */

export interface VersionRow {
  /** The global change sequence number. */
  id: number;
  vault_id: number;
  path: string;
  version: number;
  op: string;
  type: EntryType | null;
  mode: number | null;
  size: number | null;
  hash: string | null;
  target: string | null;
  mtime: number | null;
  uid: number | null;
  gid: number | null;
  rdev: number | null;
  /** Inode number of the entry (null in versions recorded before avfs kept it). */
  ino: number | null;
  nlink: number | null;
  /** Tags and metadata (annotations.ts format). */
  annot: string | null;
  source: string;
  exec_id: string | null;
  /** JSON text. */
  detail: string | null;
  at: number;
}

/** A version with the name of the vault that recorded it (a parent's, for inherited history). */
export interface VersionRecord extends VersionRow {
  vault: string;
}

/** A path's state as history records it; null means absent. */
export interface PathState {
  type: EntryType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
  uid?: number | null;
  gid?: number | null;
  rdev?: number;
  annot?: string | null;
  mtime?: number;
  ino?: number;
  nlink?: number;
}

export interface HistorySegment {
  vaultId: number;
  vault: string;
  /** Highest change sequence this segment contributes (inclusive). */
  upTo: number;
}

const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const COLS = 'id, vault_id, path, version, op, type, mode, size, hash, target, mtime, uid, gid, rdev, ino, nlink, annot, source, exec_id, detail, at';
// Rows with op 'touch' record times and link counts only (entries.ts changeMetadata): they carry the
// version number of the change before them and are not changes of their own, so listings skip them.
const PATH_VERSIONS = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND path = ? AND id <= ? AND version < ? AND op <> 'touch' ORDER BY version DESC LIMIT ?`;
const ONE_VERSION = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND path = ? AND version = ? AND id <= ? ORDER BY id DESC LIMIT 1`;
const VAULT_CHANGES = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND id <= ? AND id < ? AND op <> 'touch' ORDER BY id DESC LIMIT ?`;
const SUBTREE_CHANGES = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND id <= ? AND id < ? AND op <> 'touch' AND (path = ? OR (path >= ? AND path < ?))
  ORDER BY id DESC LIMIT ?`;
const SUBTREE_STATES = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND path >= ? AND path < ? AND id <= ? ORDER BY path, id`;
const RUN_BEFORE = 'SELECT id, vault_id, path, type, op FROM versions WHERE id < ? ORDER BY id DESC LIMIT 512';
const BLOB_EXISTS = 'SELECT 1 FROM blobs WHERE hash = ?';
// Versions of one path are numbered in change order (a `touch` row shares its number with the change
// before it), so this walks the path's index backwards; ordered by id alone, the planner walked every
// version of the vault instead.
const STATE_AT = `SELECT ${COLS} FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id <= ? ORDER BY version DESC, id DESC LIMIT 1`;
const CHANGED_SINCE = `SELECT DISTINCT path FROM versions WHERE vault_id = ? AND id > ? AND (path = ? OR (path >= ? AND path < ?)) ORDER BY path`;

/** The segments whose versions make up a vault's history, newest first (the vault, its parent up to the fork point, …). */
export function historyChain(store: Store, vault: VaultRow): HistorySegment[] {
  const chain: HistorySegment[] = [{ vaultId: vault.id, vault: vault.name, upTo: MAX_SEQ }];
  const seen = new Set([vault.id]);
  let current = vault;
  let upTo = MAX_SEQ;
  while (current.parent_id !== null && current.fork_seq !== null) {
    upTo = Math.min(upTo, current.fork_seq);
    const parent = vaultById(store, current.parent_id);
    if (!parent || seen.has(parent.id)) break;
    seen.add(parent.id);
    chain.push({ vaultId: parent.id, vault: parent.name, upTo });
    current = parent;
  }
  return chain;
}

const tag = (rows: VersionRow[], vault: string): VersionRecord[] => rows.map((r) => ({ ...r, vault }));

/** A path's versions, newest first, at most `limit`, only those numbered below `below` (for paging). */
export function pathVersions(store: Store, vault: VaultRow, path: string, limit: number, below = MAX_SEQ): VersionRecord[] {
  const out: VersionRecord[] = [];
  for (const seg of historyChain(store, vault)) {
    if (out.length >= limit) break;
    const rows = store.stmt<VersionRow>(PATH_VERSIONS).all(seg.vaultId, path, seg.upTo, below, limit - out.length);
    out.push(...tag(rows, seg.vault));
    if (rows.length > 0) below = rows[rows.length - 1]!.version;
  }
  return out;
}

/** Version `n` of a path, or undefined. */
export function findVersion(store: Store, vault: VaultRow, path: string, n: number): VersionRecord | undefined {
  for (const seg of historyChain(store, vault)) {
    const row = store.stmt<VersionRow>(ONE_VERSION).get(seg.vaultId, path, n, seg.upTo);
    if (row) return { ...row, vault: seg.vault };
  }
  return undefined;
}

/** The newest version of a path numbered below `n`, or undefined when `n` was its first. */
export function versionBefore(store: Store, vault: VaultRow, path: string, n: number): VersionRecord | undefined {
  return pathVersions(store, vault, path, 1, n)[0];
}

/**
 * The vault's recent changes, newest first: every path, or with `under` only that path and what
 * lies below it. `beforeSeq` pages backwards through older changes.
 */
export function vaultChanges(store: Store, vault: VaultRow, limit: number, under?: string, beforeSeq = MAX_SEQ): VersionRecord[] {
  const out: VersionRecord[] = [];
  const [lo, hi] = under ? descendantRange(under) : ['', ''];
  for (const seg of historyChain(store, vault)) {
    if (out.length >= limit) break;
    const left = limit - out.length;
    const rows =
      under === undefined || under === '/'
        ? store.stmt<VersionRow>(VAULT_CHANGES).all(seg.vaultId, seg.upTo, beforeSeq, left)
        : store.stmt<VersionRow>(SUBTREE_CHANGES).all(seg.vaultId, seg.upTo, beforeSeq, under, lo, hi, left);
    out.push(...tag(rows, seg.vault));
  }
  return out;
}

/** The state of every path strictly below `dir` as of change sequence `seq` (absent paths included, as type null). */
export function subtreeAt(store: Store, vault: VaultRow, dir: string, seq: number): Map<string, VersionRecord> {
  const [lo, hi] = descendantRange(dir);
  const states = new Map<string, VersionRecord>();
  // Oldest segment first, so a vault's own (newer) versions override what it inherited.
  for (const seg of historyChain(store, vault).reverse()) {
    for (const row of store.stmt<VersionRow>(SUBTREE_STATES).iterate(seg.vaultId, lo, hi, Math.min(seg.upTo, seq))) {
      if (row.path !== dir) states.set(row.path, { ...row, vault: seg.vault });
    }
  }
  return states;
}

export function stateOf(row: VersionRow): PathState | null {
  if (row.type === null) return null;
  const state: PathState = { type: row.type, mode: row.mode ?? 0, size: row.size ?? 0, hash: row.hash, target: row.target, uid: row.uid, gid: row.gid, annot: row.annot };
  if (row.rdev !== null) state.rdev = row.rdev;
  if (row.mtime !== null) state.mtime = row.mtime;
  if (row.ino !== null) state.ino = row.ino;
  if (row.nlink !== null) state.nlink = row.nlink;
  return state;
}

/**
 * What `path` was in the vault at change sequence `seq`: its newest version up to `seq`, read
 * through the fork chain (a vault that had not changed the path since it forked shows what its
 * parent had at the fork point). Null when absent; the root without versions is a plain directory.
 */
export function stateAt(store: Store, vault: VaultRow, path: string, seq: number): PathState | null {
  for (const seg of historyChain(store, vault)) {
    const row = store.stmt<VersionRow>(STATE_AT).get(seg.vaultId, path, Math.min(seg.upTo, seq));
    if (row) return stateOf(row);
  }
  return path === '/' ? ROOT_STATE : null;
}

/** Paths the vault itself changed after change sequence `seq` (what a restore to `seq` must look at), in path order. */
export function pathsChangedSince(store: Store, vault: VaultRow, seq: number, under = '/'): string[] {
  const [lo, hi] = descendantRange(under);
  return store
    .stmt<{ path: string }>(CHANGED_SINCE)
    .all(vault.id, seq, under, lo, hi)
    .map((r) => r.path);
}

export function parseDetail(row: Pick<VersionRow, 'detail'>): Record<string, unknown> {
  if (!row.detail) return {};
  try {
    return JSON.parse(row.detail) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * The canonical path history commands work on. History is keyed by real paths, so the path as
 * written wins when it exists or has history (a deleted file); otherwise symlinks in its
 * directories are followed (`/link/file` → `/real/file`), never in the last component.
 */
export function historyPath(fs: VaultFs, vault: VaultRow, input: string): string {
  const path = normalizePath(input);
  if (getEntry(fs.store, vault, path) || pathVersions(fs.store, vault, path, 1).length > 0) return path;
  try {
    return fs.resolve(path, false);
  } catch {
    return path;
  }
}

export function versionNotFound(store: Store, vault: VaultRow, path: string, version: number): AvfsError {
  const latest = pathVersions(store, vault, path, 1)[0]?.version ?? null;
  return new AvfsError(
    'VERSION_NOT_FOUND',
    latest === null ? `${path} has no history in vault ${vault.name}` : `${path} has no version ${version} (latest is v${latest})`,
    { path, version, latest, vault: vault.name },
  );
}

/** Version `n` of a path, or VERSION_NOT_FOUND. */
export function getVersion(fs: VaultFs, input: string, n: number): VersionRecord {
  return fs.store.read(() => {
    const vault = fs.row();
    const path = historyPath(fs, vault, input);
    const row = findVersion(fs.store, vault, path, n);
    if (!row) throw versionNotFound(fs.store, vault, path, n);
    return row;
  });
}

/** Version `n` of a path, checked to be a regular file whose content is still stored (for `cat --version`). */
export function getFileVersion(fs: VaultFs, input: string, n: number): VersionRecord {
  const row = getVersion(fs, input, n);
  if (row.type === null) {
    throw new AvfsError('NOT_FOUND', `${row.path} did not exist at version ${n} (that version deleted it)`, { path: row.path, version: n, deleted: true });
  }
  if (row.type === 'd') throw new AvfsError('IS_A_DIRECTORY', `version ${n} of ${row.path} is a directory`, { path: row.path, version: n });
  if (row.type === 'l') {
    throw new AvfsError('INVALID_ARGUMENT', `version ${n} of ${row.path} is a symlink to ${row.target}`, { path: row.path, version: n, target: row.target });
  }
  checkContent(fs.store, row.path, row);
  return row;
}

/** The bytes of a file version (whole; use versionChunks to stream a large one). */
export function readVersion(store: Store, row: VersionRow): Buffer {
  return row.hash ? readContent(store, row.hash) : Buffer.alloc(0);
}

export function* versionChunks(store: Store, row: VersionRow): Generator<Buffer> {
  if (row.hash) yield* contentChunks(store, row.hash);
}

function checkContent(store: Store, path: string, state: { type: EntryType | null; hash: string | null; version?: number }): void {
  if (state.type === 'f' && state.hash && !store.stmt(BLOB_EXISTS).get(state.hash)) {
    throw new AvfsError('VERSION_NOT_FOUND', `the content of ${path} at that version is no longer stored (pruned)`, {
      path,
      version: state.version ?? null,
      hash: state.hash,
      reason: 'content_pruned',
    });
  }
}

// ---- changing paths to a recorded state ---------------------------------------------------

/** Who changes the tree and in which vault; the store functions below take it instead of a VaultFs. */
export interface Writer {
  store: Store;
  vault: VaultRow;
  actor: Actor;
}

const DIR_MODE = 0o755;
const ROOT_STATE: PathState = { type: 'd', mode: DIR_MODE, size: 0, hash: null, target: null };

/** Whether an entry already is in a recorded state (what `ls -l`, stat and tags show, except times). */
export function sameState(e: Entry, s: PathState): boolean {
  return (
    e.type === s.type &&
    (e.mode & 0o7777) === (s.mode & 0o7777) &&
    e.hash === s.hash &&
    e.target === s.target &&
    e.size === s.size &&
    e.uid === (s.uid ?? null) &&
    e.gid === (s.gid ?? null) &&
    e.rdev === (s.rdev ?? 0) &&
    e.annot === (s.annot ?? null)
  );
}

/** Removes everything below a directory (deepest first, each removal a version); refuses with NOT_EMPTY unless `allowed`. */
function clearChildren(w: Writer, dir: Entry, change: ChangeOptions, allowed: boolean): number {
  if (dir.type !== 'd') return 0;
  const below = listDescendants(w.store, w.vault, dir.path);
  if (below.length === 0) return 0;
  if (!allowed) {
    throw new AvfsError('NOT_EMPTY', `directory not empty: ${dir.path} (use --recursive to replace it with its contents)`, {
      path: dir.path,
      entries: below.length,
    });
  }
  for (const child of below.reverse()) removeEntry(w.store, w.vault, child.path, change);
  return below.length;
}

/** Creates missing ancestor directories of `path` (a restored file whose directory was deleted since). */
function ensureParents(w: Writer, path: string, change: ChangeOptions): number {
  let created = 0;
  for (const dir of ancestors(path)) {
    const entry = getEntry(w.store, w.vault, dir);
    if (entry?.type === 'd') continue;
    if (entry) throw notADirectory(dir);
    putEntry(w.store, w.vault, dir, { type: 'd', mode: DIR_MODE, size: 0, hash: null, target: null }, change);
    created++;
  }
  return created;
}

/**
 * Gives `path` the state `state` (null: absent) as one more version, creating missing parent
 * directories; replacing a non-empty directory needs `replaceChildren`. Quotas are enforced by
 * putEntry. Returns how many entries changed (0 when the path already is in that state). Runs
 * inside the caller's transaction.
 */
export function applyState(w: Writer, path: string, state: PathState | null, change: ChangeOptions, replaceChildren: boolean): number {
  const current = getEntry(w.store, w.vault, path);
  if (state === null) {
    if (!current) return 0;
    if (path === '/') throw new AvfsError('INVALID_PATH', 'refusing to remove the vault root', { path });
    const removed = clearChildren(w, current, change, replaceChildren);
    removeEntry(w.store, w.vault, path, change);
    return removed + 1;
  }
  if (current && sameState(current, state)) return 0;
  checkContent(w.store, path, state);
  let changed = 0;
  if (current && current.type === 'd' && state.type !== 'd') changed += clearChildren(w, current, change, replaceChildren);
  if (!current) changed += ensureParents(w, path, change);
  const size = state.type === 'd' ? 0 : state.size;
  // A single path goes back as a new file (times now, like git, so build tools see the change;
  // its own inode, never one another name may hold by now): only restoreCheckpoint puts exact states back.
  const { mtime: _mtime, ino: _ino, nlink: _nlink, ...rest } = state;
  putEntry(w.store, w.vault, path, { ...rest, size, uid: state.uid ?? null, gid: state.gid ?? null, annot: state.annot ?? null }, change);
  return changed + 1;
}

// ---- checkout ------------------------------------------------------------------------------

export interface CheckoutResult {
  path: string;
  /** The version whose state the path now holds. */
  version: number;
  /** False when the path already was in that state (nothing recorded). */
  changed: boolean;
  /** The path's entry afterwards (null when that version is a deletion). */
  entry: Entry | null;
  /** Entries changed, counting created parent directories and removed children. */
  changed_paths: number;
}

/**
 * Makes `input` hold version `n` again, as a new version (op `checkout`): works for a deleted path
 * (its directories are recreated), for directories (mode only; contents are untouched) and
 * symlinks. Checking out a deletion removes the path; replacing a non-empty directory needs
 * `recursive`. File times are set to now, like git, so build tools see the change.
 */
export function checkoutVersion(fs: VaultFs, input: string, n: number, options: { recursive?: boolean } = {}): CheckoutResult {
  return fs.store.mutate(() => {
    const vault = fs.row();
    const path = historyPath(fs, vault, input);
    const row = findVersion(fs.store, vault, path, n);
    if (!row) throw versionNotFound(fs.store, vault, path, n);
    const w: Writer = { store: fs.store, vault, actor: fs.actor };
    const changed = applyState(w, path, stateOf(row), { op: 'checkout', actor: fs.actor, detail: { version: n } }, !!options.recursive);
    if (changed > 0) audit(fs.store, fs.actor, 'checkout', fs.name, { path, version: n, changed });
    return { path, version: n, changed: changed > 0, entry: getEntry(fs.store, vault, path) ?? null, changed_paths: changed };
  });
}

// ---- revert --------------------------------------------------------------------------------

export interface RevertResult {
  path: string;
  /** The change that was undone. */
  reverted: VersionRecord;
  /** The version whose state the path holds again (null: the path is absent again). */
  restored_version: number | null;
  entry: Entry | null;
  /** Entries changed, including a directory's restored or removed contents and a paired move side. */
  changed_paths: number;
  /** The other side of an undone move (it was moved back), or null. */
  paired: string | null;
}

/**
 * Undoes the latest change to a path, as new versions (op `revert`), so a revert can itself be
 * reverted: a modified file gets its previous content, a deleted file or directory comes back
 * (a directory with everything that was in it just before), a just-created one is removed (with
 * its contents). A move is undone on both sides when the other side has not changed since.
 */
export function revertPath(fs: VaultFs, input: string): RevertResult {
  return fs.store.mutate(() => {
    const vault = fs.row();
    const path = historyPath(fs, vault, input);
    const latest = pathVersions(fs.store, vault, path, 1)[0];
    if (!latest) {
      if (getEntry(fs.store, vault, path)) {
        throw new AvfsError('VERSION_NOT_FOUND', `${path} has no recorded change to revert`, { path, version: null, latest: null, vault: vault.name });
      }
      throw notFound(path, vault.name);
    }
    const w: Writer = { store: fs.store, vault, actor: fs.actor };
    const partner = pairedChange(fs.store, vault, path, latest);
    let changed = 0;
    let restored: VersionRecord | null | undefined;
    // The side that exists now goes first, so the side coming back never collides with it.
    const sides: Array<[string, VersionRecord, string | null]> = [[path, latest, partner?.path ?? null]];
    if (partner) sides[latest.type === null ? 'unshift' : 'push']([partner.path, partner.latest, path]);
    for (const [p, row, other] of sides) {
      const r = undoChange(w, p, row, other);
      changed += r.changed;
      if (p === path) restored = r.restoredTo;
    }
    audit(fs.store, fs.actor, 'revert', fs.name, { path, version: latest.version, paired: partner?.path ?? null, changed });
    return {
      path,
      reverted: latest,
      restored_version: restored?.version ?? null,
      entry: getEntry(fs.store, vault, path) ?? null,
      changed_paths: changed,
      paired: partner?.path ?? null,
    };
  });
}

/** Reverts one path's latest change `latest`; `pairedWith` is recorded so a later revert undoes both sides again. */
function undoChange(w: Writer, path: string, latest: VersionRecord, pairedWith: string | null): { changed: number; restoredTo: VersionRecord | null } {
  let before = versionBefore(w.store, w.vault, path, latest.version);
  // mv onto an existing file records that file's deletion just before the move: the same change.
  if (latest.op === 'move' && latest.type !== null && before && before.type === null && parseDetail(before).replaced_by !== undefined) {
    before = versionBefore(w.store, w.vault, path, before.version);
  }
  const target = before ? stateOf(before) : path === '/' ? ROOT_STATE : null;
  const current = getEntry(w.store, w.vault, path);
  const detail: Record<string, unknown> = { reverted: latest.version, to: before?.version ?? null };
  if (pairedWith) detail.paired = pairedWith;
  let changed = applyState(w, path, target, { op: 'revert', actor: w.actor, detail }, true);
  // A directory coming back (after a deletion, or in place of a file) brings back what it held
  // just before the change that emptied it.
  if (target?.type === 'd' && current?.type !== 'd') {
    const start = changeRunStart(w.store, w.vault, path, latest);
    const child = { op: 'revert', actor: w.actor, detail: { with: path } };
    for (const [p, row] of subtreeAt(w.store, w.vault, path, start - 1)) {
      if (row.type !== null && !getEntry(w.store, w.vault, p)) changed += applyState(w, p, stateOf(row), child, false);
    }
  }
  return { changed, restoredTo: before && before.type !== null ? before : null };
}

/**
 * Where the change that removed a directory's contents started. `rm -r`, `mv` and checkout
 * remove the contents (deepest first) right before the directory itself, in one transaction, so
 * the removals are the contiguous run of same-op deletions below `dir` just before its version.
 * (A restore records them after it instead, which needs no scan.)
 */
function changeRunStart(store: Store, vault: VaultRow, dir: string, latest: VersionRow): number {
  let start = latest.id;
  for (;;) {
    const rows = store.stmt<Pick<VersionRow, 'id' | 'vault_id' | 'path' | 'type' | 'op'>>(RUN_BEFORE).all(start);
    for (const r of rows) {
      if (r.vault_id !== vault.id || r.type !== null || r.op !== latest.op || r.path === dir || !isWithin(r.path, dir)) return start;
      start = r.id;
    }
    if (rows.length === 0) return start;
  }
}

/**
 * The other half of a move (or of a revert that undid a move): `mv /a /b` records /a's removal
 * (detail.to) and /b's creation (detail.from). Paired only while the other side's latest change is
 * still that same half, so later changes there are never silently undone through this path.
 */
function pairedChange(store: Store, vault: VaultRow, path: string, latest: VersionRecord): { path: string; latest: VersionRecord } | null {
  const d = parseDetail(latest);
  const pointer = (row: VersionRow, det: Record<string, unknown>) => (row.op === 'move' ? (row.type === null ? det.to : det.from) : det.paired);
  if (latest.op !== 'move' && latest.op !== 'revert') return null;
  const other = pointer(latest, d);
  if (typeof other !== 'string' || other === path) return null;
  const theirs = pathVersions(store, vault, other, 1)[0];
  if (!theirs || theirs.op !== latest.op || pointer(theirs, parseDetail(theirs)) !== path) return null;
  // The two halves of a move: one side gone, the other there (a revert of a move onto an existing file leaves both there).
  if (latest.op === 'move' && (theirs.type === null) === (latest.type === null)) return null;
  return { path: other, latest: theirs };
}
