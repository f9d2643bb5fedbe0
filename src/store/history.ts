import { AvfsError, notFound } from '../errors.js';
import { descendantRange, dirname, namesDirectory, normalizePath } from '../core/paths.js';
import { wholeOption } from '../core/units.js';
import { audit } from './audit.js';
import { contentChunks, isStored, readContent } from './blobs.js';
import { addName, getEntry, hasChildren, layersOf, listDescendants, namesOfInode, putEntry, putNewBelow, removeDescendants, removeEntry, type ChangeOptions, type Entry, type EntryState, type EntryType, type NewState } from './entries.js';
import type { Actor, Store } from './store.js';
import { chainParams, historyChain, type HistorySegment, type VaultRow } from './vaults.js';
import { ensureParents, moveTree, type VaultFs } from './vault-fs.js';
import { DEFAULT_DIR_MODE } from '../core/entry-types.js';
import { assertNotRoot } from './guards.js';
import { hasQuota } from './quota.js';
import { pushAll } from '../core/arrays.js';
import { parseDetail, VERSION_COLUMNS } from './version-columns.js';

/**
 * Per-path history (ARCHITECTURE.md "The one door for changes"). Every change to a path is a
 * `versions` row holding the path's NEW state (type NULL = the path is absent), numbered per path:
 * v3 is what the file became by its third change. A fork inherits its parent's history up to the
 * change sequence it forked at (`fork_seq`), recursively, so every read here walks a chain of
 * (vault, upper sequence bound) segments, newest first. Own versions of a vault are always newer
 * than what it inherited, and version numbers continue across the fork point, so concatenating
 * segments keeps the order.
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
  /** The change (one transaction's versions) this version belongs to: the id of its first version; null when recorded before change ids. */
  change_id: number | null;
}

/** A version with the name of the vault that recorded it (a parent's, for inherited history). */
export interface VersionRecord extends VersionRow {
  vault: string;
  /** That vault was deleted since (its forks keep its history; a new vault may have its name). */
  vault_deleted: boolean;
}

/** A path's state as history records it (an entry's state without its access time); null means absent. */
export type PathState = Omit<EntryState, 'atime'>;


const MAX_SEQ = Number.MAX_SAFE_INTEGER;
const COLS = VERSION_COLUMNS;
// Rows with op 'touch' record times and link counts only (entries.ts changeMetadata): they carry the
// version number of the change before them and are not changes of their own, so listings skip them.
// Of two rows under one number the first is the version: homes written before link-count changes
// were always touches (entries.ts changeMetadata) hold a second one with the op of the change that
// moved the count, which is no change of the path's own.
const PATH_VERSIONS = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND path = ? AND id <= ? AND version < ? AND op <> 'touch' ORDER BY version DESC, id ASC LIMIT ?`;
const ONE_VERSION = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND path = ? AND version = ? AND id <= ? ORDER BY id DESC LIMIT 1`;
const VAULT_CHANGES = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND id <= ? AND id < ? AND op <> 'touch' ORDER BY id DESC LIMIT ?`;
const SUBTREE_CHANGES = `SELECT ${COLS} FROM versions WHERE vault_id = ? AND id <= ? AND id < ? AND op <> 'touch' AND (path = ? OR (path >= ? AND path < ?))
  ORDER BY id DESC LIMIT ?`;
// Versions of one path are numbered in change order (a `touch` row shares its number with the change
// before it), so this walks the path's index backwards; ordered by id alone, the planner walked every
// version of the vault instead.
const STATE_AT = `SELECT ${COLS} FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id <= ? ORDER BY version DESC, id DESC LIMIT 1`;
const CHANGED_SINCE = `SELECT DISTINCT path FROM versions WHERE vault_id = ? AND id > ? AND (path = ? OR (path >= ? AND path < ?)) ORDER BY path`;
// The whole vault: the versions after `seq` by id (O(changes)), then sorted. Left to itself the
// planner walks every version of the vault in path order (versions_path) to skip the sort: at
// 100k files that was 4.8 of a restore's ~25 ms of CPU, against 0.3 ms this way.
const CHANGED_SINCE_ALL = `SELECT DISTINCT path FROM versions INDEXED BY versions_vault WHERE vault_id = ? AND id > ? AND (path = ? OR (path >= ? AND path < ?)) ORDER BY path`;

const tag = (rows: VersionRow[], seg: HistorySegment): VersionRecord[] => rows.map((r) => ({ ...r, vault: seg.vault, vault_deleted: seg.deleted }));

/** A path's versions, newest first, at most `limit`, only those numbered below `below` (for paging). */
export function pathVersions(store: Store, vault: VaultRow, path: string, limit: number, below = MAX_SEQ): VersionRecord[] {
  const out: VersionRecord[] = [];
  for (const seg of historyChain(store, vault)) {
    if (out.length >= limit) break;
    const rows = store.stmt<VersionRow>(PATH_VERSIONS).all(seg.vaultId, path, seg.upTo, below, limit - out.length);
    pushAll(out, tag(rows, seg));
    if (rows.length > 0) below = rows[rows.length - 1]!.version;
  }
  return out;
}

/**
 * Version `n` of a path, or undefined. A number no version can have (versions count from 1) is
 * INVALID_ARGUMENT, as the CLI refuses it (exit 2), not a version that happens to be missing.
 */
export function findVersion(store: Store, vault: VaultRow, path: string, n: number): VersionRecord | undefined {
  wholeOption('version', n, 1);
  for (const seg of historyChain(store, vault)) {
    const row = store.stmt<VersionRow>(ONE_VERSION).get(seg.vaultId, path, n, seg.upTo);
    if (row) return tag([row], seg)[0];
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
    pushAll(out, tag(rows, seg));
  }
  return out;
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
    .stmt<{ path: string }>(under === '/' ? CHANGED_SINCE_ALL : CHANGED_SINCE)
    .all(vault.id, seq, under, lo, hi)
    .map((r) => r.path);
}


/**
 * The canonical path history commands work on. History is keyed by real paths, so the path as
 * written wins when it exists or has history (a deleted file); otherwise symlinks in its
 * directories are followed (`/link/file` → `/real/file`), never in the last component.
 */
export function historyPath(fs: VaultFs, vault: VaultRow, input: string): string {
  const path = normalizePath(input);
  const current = getEntry(fs.store, vault, path);
  if (current && namesDirectory(input)) {
    // As every lookup answers: `f/` of a file is NOT_A_DIRECTORY (revert f/ undid the file), and
    // `link/` is the directory the link leads to (revert link/ undid the link).
    const named = fs.lstat(input);
    if (current.type === 'l') return named.path;
  }
  if (current || pathVersions(fs.store, vault, path, 1).length > 0) return path;
  try {
    return fs.resolve(path, false);
  } catch {
    return path;
  }
}

/**
 * What `log <path>` answers, through every interface: the path its history is kept under, its
 * version now (null: deleted), and its versions newest first (with `recursive`, the changes to
 * it and below it). NOT_FOUND for a path that has neither an entry nor any history.
 */
export function pathLog(fs: VaultFs, vault: VaultRow, input: string, limit: number, recursive = false): { path: string; current: number | null; rows: VersionRecord[] } {
  const path = historyPath(fs, vault, input);
  const entry = getEntry(fs.store, vault, path);
  const rows = recursive ? vaultChanges(fs.store, vault, limit, path) : pathVersions(fs.store, vault, path, limit);
  if (rows.length === 0 && !entry) throw notFound(path, vault.name);
  return { path, current: entry?.version ?? null, rows };
}

export function versionNotFound(store: Store, vault: VaultRow, path: string, version: number): AvfsError {
  const latest = pathVersions(store, vault, path, 1)[0]?.version ?? null;
  // Versions of a path are numbered without gaps, so one below the latest that is missing was pruned.
  const pruned = latest !== null && Number.isInteger(version) && version >= 1 && version < latest;
  return new AvfsError(
    'VERSION_NOT_FOUND',
    latest === null
      ? `${path} has no history in vault ${vault.name}`
      : pruned
        ? `${path} version ${version} was pruned (latest is v${latest}; \`avfs log ${path}\` lists those kept)`
        : `${path} has no version ${version} (latest is v${latest})`,
    { path, version, latest, vault: vault.name, ...(pruned ? { reason: 'version_pruned' } : {}) },
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
  if (state.type === 'f' && state.hash && !isStored(store, state.hash)) {
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

/** The vault root exists from creation without a version; its implicit first state. */
export const ROOT_STATE: PathState = { type: 'd', mode: DEFAULT_DIR_MODE, size: 0, hash: null, target: null };

/** Whether two states (an entry or a recorded state) look the same to `ls -l`, stat and tags, times aside. */
export function sameState(a: PathState, b: PathState): boolean {
  return (
    a.type === b.type &&
    (a.mode & 0o7777) === (b.mode & 0o7777) &&
    a.hash === b.hash &&
    a.target === b.target &&
    a.size === b.size &&
    (a.uid ?? null) === (b.uid ?? null) &&
    (a.gid ?? null) === (b.gid ?? null) &&
    (a.rdev ?? 0) === (b.rdev ?? 0) &&
    (a.annot ?? null) === (b.annot ?? null)
  );
}

/** Removes everything below a directory (deepest first, each removal a version); refuses with NOT_EMPTY unless `allowed`. */
function clearChildren(w: Writer, dir: Entry, change: ChangeOptions, allowed: boolean): number {
  if (dir.type !== 'd' || !hasChildren(w.store, w.vault, dir.path)) return 0;
  if (!allowed) {
    throw new AvfsError('NOT_EMPTY', `directory not empty: ${dir.path} (use --recursive to replace it with its contents)`, {
      path: dir.path,
      entries: listDescendants(w.store, w.vault, dir.path).length,
    });
  }
  return removeDescendants(w.store, w.vault, dir.path, change).length;
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
    assertNotRoot(path);
    const removed = clearChildren(w, current, change, replaceChildren);
    removeEntry(w.store, w.vault, path, change);
    return removed + 1;
  }
  if (current && sameState(current, state)) return 0;
  checkContent(w.store, path, state);
  // A recorded state: the path was stored before, so the bound on new paths is not applied again.
  change = { ...change, recorded: true };
  let changed = 0;
  if (current && current.type === 'd' && state.type !== 'd') changed += clearChildren(w, current, change, replaceChildren);
  if (!current) changed += ensureParents(w.store, w.vault, path, change); // a restored file whose directory was deleted since
  const size = state.type === 'd' ? 0 : state.size;
  // A single path goes back as a new file (times now, like git, so build tools see the change;
  // its own inode, never one another name may hold by now): only restoreCheckpoint puts exact states back.
  const { mtime: _mtime, ino: _ino, nlink: _nlink, ...rest } = state;
  putEntry(w.store, w.vault, path, { ...rest, size, uid: state.uid ?? null, gid: state.gid ?? null, annot: state.annot ?? null }, change);
  // A file's other names (a hard link keeps its inode) took the new state with it, a version each.
  const otherNames = current && current.type !== 'd' && state.type !== 'd' && current.nlink > 1 ? current.nlink - 1 : 0;
  return changed + 1 + otherNames;
}

/**
 * Makes `paths` one inode again (a hard-link group that a merge or a checkout put back name by
 * name, each a new file): only when every one is a non-directory of one state and no name outside
 * `paths` shares the inode of any of them (a link of the vault's own stays as it is). The inode
 * with the most names keeps them; each other name becomes a name of it (one version each, recorded
 * with `change`). Returns how many names it linked.
 */
export function joinNames(w: Writer, paths: readonly string[], change: ChangeOptions): number {
  const group = new Set(paths);
  const here = paths.map((path) => getEntry(w.store, w.vault, path));
  const first = here[0];
  if (!first || first.type === 'd' || here.some((e) => !e || e.type === 'd' || !sameState(e, first))) return 0;
  if (here.some((e) => e!.nlink > 1 && namesOfInode(w.store, w.vault, e!.ino).some((n) => !group.has(n.path)))) return 0;
  const anchor = (here as Entry[]).reduce((best, e) => (e.nlink > best.nlink ? e : best));
  let linked = 0;
  for (const { path } of here as Entry[]) {
    if (getEntry(w.store, w.vault, path)!.ino === anchor.ino) continue;
    // The name turns into a name of the anchor's inode in one version: a removal before it would
    // show a deletion the path never had. Its old inode's other names are all in `paths`, so they
    // turn too, and no count of that inode is left to keep.
    addName(w.store, w.vault, getEntry(w.store, w.vault, anchor.path)!, path, change);
    linked++;
  }
  return linked;
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
    const change = { op: 'checkout', actor: fs.actor, detail: { version: n } };
    const state = stateOf(row);
    const changed = leaveOtherFile(w, path, state, change) + applyState(w, path, state, change, !!options.recursive);
    if (changed > 0) audit(fs.store, fs.actor, 'checkout', fs.name, { path, version: n, changed });
    return { path, version: n, changed: changed > 0, entry: getEntry(fs.store, vault, path) ?? null, changed_paths: changed };
  });
}

// ---- revert --------------------------------------------------------------------------------

export interface RevertResult {
  path: string;
  /** The change that was undone. */
  reverted: VersionRecord;
  /** The version whose state the path holds again (null: absent again, or a move moved it back). */
  restored_version: number | null;
  entry: Entry | null;
  /** Entries changed, including a directory's restored or removed contents and a moved tree. */
  changed_paths: number;
  /** For an undone move, its other end (where the tree was moved back from or to), else null. */
  paired: string | null;
}

/**
 * Undoes the latest change to a path, as new versions (op `revert`), so a revert can itself be
 * reverted: a modified file gets its previous content, a deleted file or directory comes back
 * (a directory with what that same change removed below it), a just-created one is removed (with
 * what that same change created below it). Undoing a move moves the tree back as it is now, so
 * changes made to it since the move travel with it. Refused (changing nothing): when the state
 * to go back to was pruned (VERSION_NOT_FOUND), for a move whose old place is taken or whose tree
 * is gone, and for a created directory later changes added to (CONFLICT).
 */
export function revertPath(fs: VaultFs, input: string): RevertResult {
  return fs.store.mutate(() => {
    const vault = fs.row();
    const path = historyPath(fs, vault, input);
    const newest = pathVersions(fs.store, vault, path, 1)[0];
    if (!newest) {
      if (getEntry(fs.store, vault, path)) {
        throw new AvfsError('VERSION_NOT_FOUND', `${path} has no recorded change to revert`, { path, version: null, latest: null, vault: vault.name });
      }
      throw notFound(path, vault.name);
    }
    const latest = latestChange(fs.store, vault, path, newest);
    const w: Writer = { store: fs.store, vault, actor: fs.actor };
    const move = moveAt(w, path, latest);
    const whole = move && movedWithDirectory(w, move);
    if (whole) {
      // Undoing one path's part of a directory's move would split the tree between the two places.
      const side = path === move.to ? whole.to : whole.from;
      throw new AvfsError('CONFLICT', `${path} was moved with its directory (${whole.from} -> ${whole.to}) by its latest change: revert ${side} to move the whole tree back`, {
        path,
        from: whole.from,
        to: whole.to,
        vault: vault.name,
        reason: 'moved_with_directory',
      });
    }
    const undone = move ? undoMove(w, latest, move) : undoChange(w, path, latest);
    const paired = move ? (move.from === path ? move.to : move.from) : null;
    audit(fs.store, fs.actor, 'revert', fs.name, { path, version: latest.version, paired, changed: undone.changed });
    return {
      path,
      reverted: latest,
      restored_version: undone.restoredTo?.version ?? null,
      entry: getEntry(fs.store, vault, path) ?? null,
      changed_paths: undone.changed,
      paired,
    };
  });
}

interface Undone {
  changed: number;
  restoredTo: VersionRecord | null;
}

/**
 * The latest version of `path` that changed more than its times, from `newest` back. A path goes
 * back with times now (applyState), so undoing a change of times alone (a `touch`, or a checkpoint
 * restore that put an older mtime back) changed nothing and recorded nothing, and every later
 * revert undid that same change again: the path could never be reverted past it. A new inode
 * number alone (a restore puts the checkpoint's back) is no change either, unless hard links
 * make it one. A version whose predecessor was pruned is where the walk stops: what it changed is
 * not known (an older version kept by a checkpoint may hold the same state, and stepping past to
 * it undid an older change than the latest), so the revert then fails VERSION_NOT_FOUND.
 */
function latestChange(store: Store, vault: VaultRow, path: string, newest: VersionRecord): VersionRecord {
  for (let v = newest; ; ) {
    const before = versionBefore(store, vault, path, v.version);
    if (before && before.version !== v.version - 1) return v;
    const sameInode = v.ino === before?.ino || ((v.nlink ?? 1) <= 1 && (before?.nlink ?? 1) <= 1);
    const timesOnly = before !== undefined && v.type !== null && before.type !== null && sameInode && sameState(stateOf(v)!, stateOf(before)!);
    if (!timesOnly) return v;
    v = before;
  }
}

/** The change a version belongs to: the versions one transaction recorded share it (schema migration 6). */
const changeOf = (row: Pick<VersionRow, 'id' | 'change_id'>) => row.change_id ?? row.id;

/**
 * What a path was just before the change `row` belongs to: the version before the path's first
 * version in that change, or null when that change created it. VERSION_NOT_FOUND when that
 * version was pruned (versions of a path are numbered without gaps, so a gap is a pruned one).
 */
function stateBeforeChange(w: Writer, row: VersionRecord): VersionRecord | null {
  let first = row;
  let before = versionBefore(w.store, w.vault, row.path, first.version);
  while (before && changeOf(before) === changeOf(row)) {
    first = before;
    before = versionBefore(w.store, w.vault, row.path, first.version);
  }
  if (first.version === 1) return null;
  if (!before || before.version !== first.version - 1) {
    throw new AvfsError('VERSION_NOT_FOUND', `${row.path} cannot be reverted: its version ${first.version - 1}, the state to go back to, was pruned`, {
      path: row.path,
      version: first.version - 1,
      vault: w.vault.name,
      reason: 'version_pruned',
    });
  }
  return before;
}

/** Gives a path its state from before its latest change; a directory coming back brings what that change removed below it. */
function undoChange(w: Writer, path: string, latest: VersionRecord): Undone {
  const before = stateBeforeChange(w, latest);
  const target = before ? stateOf(before) : path === '/' ? ROOT_STATE : null;
  const current = getEntry(w.store, w.vault, path);
  if (target === null && current?.type === 'd') assertCreatedTogether(w, path, latest);
  const detail = { reverted: latest.version, to: before?.version ?? null };
  let changed = applyState(w, path, target, { op: 'revert', actor: w.actor, detail }, true);
  if (target?.type === 'd' && current?.type !== 'd') changed += restoreRemovedBelow(w, path, latest);
  else if (!current && before && target && target.type !== 'd') relink(w, [{ path, ino: before.ino, links: linksAt(w, chainIds(w), path, before.version) }], { op: 'revert', actor: w.actor, detail });
  return { changed, restoredTo: before && before.type !== null ? before : null };
}

/**
 * Undoing the creation of directory `path` removes what is below it only if that same change made
 * it (`write -p /a/b/f`, an import): a file written into it later is not part of the change being
 * undone, and `rm` would refuse a non-empty directory too. CONFLICT, naming the first such entry.
 */
function assertCreatedTogether(w: Writer, path: string, latest: VersionRecord): void {
  // The paths below changed after that change (changes are transactions, so their versions come
  // after all of its), then those of them still there. Each entry's own latest version, looked
  // up one by one, took 2.5 s under a 50,000-file import before the refusal.
  const end = latest.change_id === null ? latest.id : w.store.stmt<{ id: number }>(CHANGE_END).get(latest.change_id)!.id;
  const [lo, hi] = descendantRange(path);
  const changed = new Set<string>();
  for (const seg of historyChain(w.store, w.vault)) {
    if (seg.upTo <= end) break;
    for (const r of w.store.stmt<{ path: string }>(CHANGED_BELOW_AFTER).all(seg.vaultId, end, seg.upTo, lo, hi)) changed.add(r.path);
  }
  const later = [...changed].sort().filter((p) => getEntry(w.store, w.vault, p));
  if (later.length === 0) return;
  throw new AvfsError(
    'CONFLICT',
    `cannot revert the creation of ${path}: ${later.length} ${later.length === 1 ? 'entry' : 'entries'} below it came from later changes (first: ${later[0]}); revert or remove them first, or use rm -r`,
    { path, version: latest.version, later: later.length, first: later[0] },
  );
}

const CHANGE_END = 'SELECT max(id) AS id FROM versions WHERE change_id = ?';
// Paths below a directory (range) a change recorded in one segment changed after version id `end` (a touch is no change).
const CHANGED_BELOW_AFTER = `SELECT DISTINCT path FROM versions WHERE vault_id = ? AND id > ? AND id <= ? AND path >= ? AND path < ? AND op <> 'touch'`;

// The removals one change made below a directory, parents before children.
const CHANGE_REMOVALS = `SELECT ${COLS} FROM versions WHERE change_id = ? AND vault_id = ? AND path >= ? AND path < ? AND type IS NULL ORDER BY path, version`;

/**
 * Brings back, below `dir`, exactly what the change of `latest` removed there (`rm -r`, a mv, a
 * checkout), each path as it was just before that change. Paths removed by other changes stay
 * removed. The change may be inherited from a parent vault: its rows are read where they were
 * recorded. Versions from before change ids were recorded are each their own change.
 */
function restoreRemovedBelow(w: Writer, dir: string, latest: VersionRecord): number {
  const [lo, hi] = descendantRange(dir);
  const change = { op: 'revert', actor: w.actor, detail: { with: dir } };
  const together = removedTogether(w, dir, latest);
  if (together) {
    const changed = putNewBelow(w.store, w.vault, dir, together.states, { ...change, recorded: true });
    relink(w, together.returned, change);
    return changed;
  }
  let changed = 0;
  const returned: Returned[] = [];
  const chain = chainIds(w);
  for (const removal of w.store.stmt<VersionRow>(CHANGE_REMOVALS).all(changeOf(latest), latest.vault_id, lo, hi)) {
    if (getEntry(w.store, w.vault, removal.path)) continue;
    const before = stateBeforeChange(w, { ...removal, vault: latest.vault, vault_deleted: latest.vault_deleted });
    if (!before?.type) continue;
    changed += applyState(w, removal.path, stateOf(before), change, false);
    if (before.type !== 'd') returned.push({ path: removal.path, ino: before.ino, links: linksAt(w, chain, removal.path, before.version) });
  }
  relink(w, returned, change);
  return changed;
}

/** A name a revert brought back as a new file: the inode it had, and the most names that inode had then. */
export interface Returned {
  path: string;
  ino: number | null;
  links: number;
}

// The most names a path's version counted, its touches included (a link recorded where history was pinned).
const LINKS_AT = 'SELECT max(nlink) AS links FROM versions WHERE vault_id IN (SELECT value FROM json_each(?)) AND path = ? AND version = ?';

/** How many names `path`'s version counted at most, by the vault ids of the history chain as JSON (chainIds). */
function linksAt(w: Writer, chain: string, path: string, version: number): number {
  return w.store.stmt<{ links: number | null }>(LINKS_AT).get(chain, path, version)?.links ?? 1;
}

const chainIds = (w: Writer) => JSON.stringify(historyChain(w.store, w.vault).map((seg) => seg.vaultId));

// Names a vault's layer holds for any of a few inodes: a scan of the layer, as only names of
// more than one (nlink > 1) are indexed by inode; run only when a returned name had other names.
const HOLDING = `SELECT path, ino FROM entries WHERE vault_id = ? AND type NOT IN ('d', 'x') AND ino IN (SELECT value FROM json_each(?))`;

/**
 * Before a name gets an earlier state of its own back (checkout, proxy undo): when it names a
 * file with other names now, and not the file that state was (`ln -f d a`, `mv b d` pointed it
 * there), it leaves that file, so the state is not written through into the other names (which
 * would give `d` the bytes of `a`). Returns the names removed (0 or 1).
 */
export function leaveOtherFile(w: Writer, path: string, state: PathState | null, change: ChangeOptions): number {
  const current = getEntry(w.store, w.vault, path);
  if (!current || current.type === 'd' || current.nlink <= 1 || !state || state.type === 'd' || current.ino === state.ino) return 0;
  removeEntry(w.store, w.vault, path, change);
  return 1;
}

/**
 * Makes names a revert (or a proxy undo) brought back one inode again with the names they shared
 * an inode with when they were removed: each other, and the names still in the vault that hold that inode, when all
 * of them have one state (joinNames; a name written since stays a file of its own). The names
 * already there come first, so the inode they hold keeps its number. Names that stayed are looked
 * for only when a returned name counted more than one: the last of a group to go always did if
 * one stayed, while a count lowered before the removal may be recorded in place of the higher one.
 */
export function relink(w: Writer, returned: readonly Returned[], change: ChangeOptions): void {
  const groups = new Map<number, { names: string[]; links: number }>();
  for (const r of returned) {
    if (r.ino === null) continue;
    const group = groups.get(r.ino) ?? groups.set(r.ino, { names: [], links: 1 }).get(r.ino)!;
    group.names.push(r.path);
    group.links = Math.max(group.links, r.links);
  }
  const stayed = [...groups].filter(([, g]) => g.links > 1).map(([ino]) => ino);
  const holding = new Map<number, Set<string>>();
  const inos = JSON.stringify(stayed);
  for (const layer of stayed.length > 0 ? layersOf(w.vault) : []) {
    for (const { path, ino } of w.store.stmt<{ path: string; ino: number }>(HOLDING).all(layer, inos)) {
      if (getEntry(w.store, w.vault, path)?.ino === ino) holding.set(ino, (holding.get(ino) ?? new Set()).add(path));
    }
  }
  for (const [ino, { names }] of groups) {
    const all = [...(holding.get(ino) ?? []), ...names];
    if (all.length > 1) joinNames(w, all, change);
  }
}

// The removals one change made below a directory, each with the version it removed (the one
// numbered just before it, in the first segment of the history chain that has it, @s0/@u0 …;
// a touch row only updates times) and how many versions (not touches) the change recorded for its
// path: looked up by path (INDEXED BY), as by the change's index it read every row of the change for each (O(n²)).
const removedStates = (segments: number) => `SELECT r.path, r.version, p.type, p.mode, p.uid, p.gid, p.size, p.hash, p.target, p.rdev, p.annot, p.ino, p.version AS before,
    (SELECT count(*) FROM versions o INDEXED BY versions_path WHERE o.vault_id = r.vault_id AND o.path = r.path AND o.change_id = r.change_id AND o.op <> 'touch') AS recorded,
    (SELECT max(l.nlink) FROM versions l INDEXED BY versions_path WHERE l.vault_id IN (${Array.from({ length: segments }, (_, j) => `@s${j}`).join(', ')})
      AND l.path = r.path AND l.version = r.version - 1) AS links
  FROM versions r LEFT JOIN versions p ON p.id = coalesce(${Array.from(
    { length: segments },
    (_, j) => `(SELECT max(x.id) FROM versions x WHERE x.vault_id = @s${j} AND x.path = r.path AND x.version = r.version - 1 AND x.op <> 'touch' AND x.id <= @u${j})`,
  ).join(', ')}, NULL)
  WHERE r.change_id = @change AND r.vault_id = @vault AND r.path >= @lo AND r.path < @hi AND r.type IS NULL ORDER BY r.path`;

type RemovedState = NewState & { version: number; before: number | null; recorded: number; type: EntryType | null; ino: number | null; links: number | null };

/**
 * What restoreRemovedBelow puts back, read in one statement and put set-wise (entries.ts
 * putNewBelow), when the plain case holds: the change is the vault's own, recorded one version
 * per path, each removed state is in its history (a fork's reaching into its parent's) and its content still stored,
 * nothing removed is shown again now, every parent is `dir` or comes back with it, and the vault
 * has no quota. Otherwise undefined, and the paths go back one by one, which raises the errors
 * (VERSION_NOT_FOUND, NOT_A_DIRECTORY, QUOTA_EXCEEDED) or makes the parents a later change took.
 */
function removedTogether(w: Writer, dir: string, latest: VersionRecord): { states: NewState[]; returned: Returned[] } | undefined {
  const { store, vault } = w;
  if (latest.vault_id !== vault.id || latest.change_id === null) return undefined;
  if (hasQuota(vault)) return undefined;
  const [lo, hi] = descendantRange(dir);
  const chain = historyChain(store, vault);
  const params = { change: latest.change_id, vault: vault.id, lo, hi, ...chainParams(chain) };
  const rows = store.stmt<RemovedState>(removedStates(chain.length)).all(params);
  const dirs = new Set([dir]);
  const states: NewState[] = [];
  const returned: Returned[] = [];
  for (const r of rows) {
    if (r.recorded !== 1 || getEntry(store, vault, r.path)) return undefined;
    if (r.version === 1) continue; // the change created nothing there: nothing to bring back
    if (r.before === null || r.type === null || !dirs.has(dirname(r.path))) return undefined;
    if (r.type === 'f' && r.hash && !isStored(store, r.hash)) return undefined;
    if (r.type === 'd') dirs.add(r.path);
    else returned.push({ path: r.path, ino: r.ino, links: r.links ?? 1 });
    states.push({ path: r.path, type: r.type, mode: r.mode, uid: r.uid ?? null, gid: r.gid ?? null, size: r.size, hash: r.hash, target: r.target, rdev: r.rdev ?? 0, annot: r.annot ?? null });
  }
  return { states, returned };
}

// ---- undoing a move ------------------------------------------------------------------------

/** A move a change made: the tree at `from` went to `to`. */
interface Move {
  from: string;
  to: string;
  /** The change that moved it. */
  change: number;
}

/**
 * The move that the change of `latest` made with `path` as one of its ends, or null. `mv a b`
 * (and undoing a move, op revert) records a's removal with detail.to and b's creation with
 * detail.from; the path's newest version in that change that carries one of them decides.
 */
function moveAt(w: Writer, path: string, latest: VersionRecord): Move | null {
  const change = changeOf(latest);
  for (let row: VersionRecord | undefined = latest; row && changeOf(row) === change; row = versionBefore(w.store, w.vault, path, row.version)) {
    if (row.op !== 'move' && row.op !== 'revert') continue;
    const d = parseDetail(row);
    // A revert of a non-move records detail.to as a version number, never a path.
    if (row.type === null && typeof d.to === 'string') return { from: path, to: d.to, change };
    if (row.type !== null && typeof d.from === 'string') return { from: d.from, to: path, change };
  }
  return null;
}

/**
 * The directory move that carried `move` along, when `move` is a path below a directory that the
 * same change moved (`mv d e` records d/f -> e/f beside d -> e): the outermost such move, or null.
 */
function movedWithDirectory(w: Writer, move: Move): Move | null {
  let outer: Move | null = null;
  for (let from = dirname(move.from), to = dirname(move.to); from !== '/' && to !== '/'; from = dirname(from), to = dirname(to)) {
    const parent = moveOf(w, to, move.change);
    if (!parent || parent.from !== from) break;
    outer = parent;
  }
  return outer;
}

/** The move recorded at `path` by change `change` (its arrival there, or its removal from there), or null. */
function moveOf(w: Writer, path: string, change: number): Move | null {
  for (let row = pathVersions(w.store, w.vault, path, 1)[0]; row && row.id >= change; row = versionBefore(w.store, w.vault, path, row.version)) {
    if (changeOf(row) === change) return moveAt(w, path, row);
  }
  return null;
}

// By the path's index (a path has few versions): without statistics the planner takes
// versions_vault and walks every version of the vault in the id range.
const ARRIVAL = `SELECT ${COLS} FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id >= ? AND id <= ? AND type IS NOT NULL
  AND op IN ('move', 'revert') AND json_extract(detail, '$.from') = ? ORDER BY id DESC LIMIT 1`;
const REMOVED_AFTER = 'SELECT 1 FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id > ? AND id <= ? AND type IS NULL LIMIT 1';

/** The version that put the moved tree at `move.to`, when the tree has been there ever since (never removed); else undefined. */
function movedTreeStillThere(w: Writer, move: Move): VersionRecord | undefined {
  if (!getEntry(w.store, w.vault, move.to)) return undefined;
  let arrival: VersionRecord | undefined;
  for (const seg of historyChain(w.store, w.vault)) {
    const row = w.store.stmt<VersionRow>(ARRIVAL).get(seg.vaultId, move.to, move.change, seg.upTo, move.from);
    if (row) {
      arrival = tag([row], seg)[0];
      break;
    }
  }
  if (!arrival) return undefined;
  for (const seg of historyChain(w.store, w.vault)) {
    if (w.store.stmt(REMOVED_AFTER).get(seg.vaultId, move.to, arrival.id, seg.upTo)) return undefined;
  }
  return arrival;
}

/** Whether a version of `path` recorded since change `since` was pruned: versions are numbered without gaps, so a gap is a pruned one. */
function prunedSince(w: Writer, path: string, since: number): boolean {
  for (let row = pathVersions(w.store, w.vault, path, 1)[0]; row && row.id >= since; ) {
    const before = versionBefore(w.store, w.vault, path, row.version);
    if (row.version > 1 && before?.version !== row.version - 1) return true;
    row = before;
  }
  return false;
}

/**
 * Undoes a move by moving the tree back from `to` to `from` as it is now: edits, additions and
 * removals made to it since the move travel with it, and nothing is dropped. What the move
 * replaced at `to` (mv onto an existing file) comes back there. Refused with CONFLICT when the tree
 * is no longer at `to`, or when `from` is taken by anything but what that same change put there
 * (undoing the undo of a move onto an existing file replaces that file again).
 */
function undoMove(w: Writer, latest: VersionRecord, move: Move): Undone {
  const { from, to } = move;
  const arrival = movedTreeStillThere(w, move);
  if (!arrival && getEntry(w.store, w.vault, to) && prunedSince(w, to, move.change)) {
    throw new AvfsError('VERSION_NOT_FOUND', `cannot undo the move of ${from} to ${to}: versions of ${to} since the move were pruned, so whether what is there now is what was moved cannot be told`, {
      path: to,
      reverted: latest.path,
      vault: w.vault.name,
      reason: 'version_pruned',
    });
  }
  if (!arrival) {
    throw new AvfsError('CONFLICT', `cannot undo the move of ${from} to ${to}: what was moved is no longer at ${to} (revert ${to} first, or use checkout)`, {
      path: to,
      reverted: latest.path,
      reason: 'moved_away',
    });
  }
  const change = { op: 'revert', actor: w.actor, detail: { reverted: latest.version } };
  const occupant = getEntry(w.store, w.vault, from);
  let changed = 0;
  if (occupant) {
    const own = pathVersions(w.store, w.vault, from, 1)[0];
    if (!own || changeOf(own) !== move.change || (occupant.type === 'd' && hasChildren(w.store, w.vault, from))) {
      throw new AvfsError('CONFLICT', `cannot move ${to} back to ${from}: ${from} exists now (move or remove it first)`, {
        path: from,
        reverted: latest.path,
        reason: 'occupied',
      });
    }
    removeEntry(w.store, w.vault, from, { ...change, detail: { ...change.detail, replaced_by: to } });
    changed++;
  }
  changed += ensureParents(w.store, w.vault, from, change);
  changed += moveTree(w.store, w.vault, to, from, change);
  // mv onto an existing path records that path's removal (detail.replaced_by) just before the arrival.
  const replaced = versionBefore(w.store, w.vault, to, arrival.version);
  if (replaced && replaced.type === null && parseDetail(replaced).replaced_by === from) {
    const before = stateBeforeChange(w, replaced);
    if (before?.type) {
      changed += applyState(w, to, stateOf(before), change, false);
      // A name of a file with other names comes back as one of them again, as after `rm`'s revert.
      if (before.type !== 'd') relink(w, [{ path: to, ino: before.ino, links: linksAt(w, chainIds(w), to, before.version) }], change);
    }
  }
  return { changed, restoredTo: null };
}
