import { AvfsError } from '../errors.js';
import { descendantRange, dirname } from '../core/paths.js';
import { now, type Actor, type Store } from './store.js';
import { enforceQuota } from './quota.js';
import { vaultById, type VaultRow } from './vaults.js';

export type EntryType = 'f' | 'd' | 'l';

/** One row of a vault's tree. Times are epoch milliseconds; mode holds permission bits only. */
export interface Entry {
  path: string;
  parent: string;
  type: EntryType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
  mtime: number;
  atime: number;
  ctime: number;
  ino: number;
  version: number;
}

/** The state a change gives a path. `null` fields are filled from defaults or the old entry. */
export interface EntryState {
  type: EntryType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
  mtime?: number;
  atime?: number;
  /** Keep this inode number (a move) instead of allocating a new one. */
  ino?: number;
}

const COLUMNS = 'path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version';
const GET_ENTRY = `SELECT ${COLUMNS} FROM entries WHERE vault_id = ? AND path = ?`;
// INDEXED BY: without statistics the planner prefers walking the primary key (it already yields
// path order) over the whole vault, which made every listing O(entries in the vault).
const LIST_CHILDREN = `SELECT ${COLUMNS} FROM entries INDEXED BY entries_parent WHERE vault_id = ? AND parent = ? ORDER BY path`;
const LIST_DESCENDANTS = `SELECT ${COLUMNS} FROM entries WHERE vault_id = ? AND path >= ? AND path < ? ORDER BY path`;
const HAS_CHILD = 'SELECT 1 FROM entries WHERE vault_id = ? AND parent = ? LIMIT 1';
const UPSERT_ENTRY = `INSERT OR REPLACE INTO entries (vault_id, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const DELETE_ENTRY = 'DELETE FROM entries WHERE vault_id = ? AND path = ?';
const TOUCH_DIR = "UPDATE entries SET mtime = ?, ctime = ? WHERE vault_id = ? AND path = ? AND type = 'd'";
// A name that appeared at an earlier time and is stored only now: the directory takes that time unless it changed since.
const TOUCH_DIR_UNLESS_CHANGED = "UPDATE entries SET mtime = ?, ctime = ? WHERE vault_id = ? AND path = ? AND type = 'd' AND ctime < ?";
const NEXT_INO = 'UPDATE vaults SET next_ino = next_ino + 1 WHERE id = ? RETURNING next_ino - 1 AS ino';
const INSERT_VERSION = `INSERT INTO versions (vault_id, path, version, op, type, mode, size, hash, target, mtime, source, exec_id, detail, at, change_id)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const OWN_CHANGE = 'UPDATE versions SET change_id = id WHERE id = ?';
const MAX_OWN_VERSION = 'SELECT max(version) AS v FROM versions WHERE vault_id = ? AND path = ? AND id <= ?';

/**
 * Reserves `count` consecutive inode numbers and returns the first. The mount gives a file it
 * creates its inode number at create time, before the entry exists (it is stored on close), and
 * reserves them in batches so a create costs no extra transaction. Unused numbers are gaps.
 */
export function reserveInos(store: Store, vaultId: number, count: number): number {
  return store.mutate(
    () => store.stmt<{ ino: number }>('UPDATE vaults SET next_ino = next_ino + ? WHERE id = ? RETURNING next_ino - ? AS ino').get(count, vaultId, count)!.ino,
  );
}

/** A vault's logical file bytes and entry count (the root not counted), as quotas measure them. */
export function vaultUsage(store: Store, vaultId: number): { bytes: number; entries: number } {
  return store
    .stmt<{ bytes: number; entries: number }>('SELECT coalesce(sum(size), 0) AS bytes, count(*) - 1 AS entries FROM entries WHERE vault_id = ?')
    .get(vaultId)!;
}

export function getEntry(store: Store, vaultId: number, path: string): Entry | undefined {
  return store.stmt<Entry>(GET_ENTRY).get(vaultId, path);
}

export function listChildren(store: Store, vaultId: number, dir: string): Entry[] {
  return store.stmt<Entry>(LIST_CHILDREN).all(vaultId, dir);
}

/** Every entry strictly below `dir`, in path order (an index range scan). */
export function listDescendants(store: Store, vaultId: number, dir: string): Entry[] {
  const [lo, hi] = descendantRange(dir);
  return store.stmt<Entry>(LIST_DESCENDANTS).all(vaultId, lo, hi).filter((e) => e.path !== '/');
}

export function hasChildren(store: Store, vaultId: number, dir: string): boolean {
  return store.stmt(HAS_CHILD).get(vaultId, dir) !== undefined;
}

/**
 * The newest version number a path has had in this vault, following the fork chain: a fork
 * inherits its parent's history up to the fork point, so numbering continues where it was.
 */
export function lastVersion(store: Store, vault: VaultRow, path: string): number {
  const entry = getEntry(store, vault.id, path);
  if (entry) return entry.version;
  let current: VaultRow | undefined = vault;
  let upTo = Number.MAX_SAFE_INTEGER;
  while (current) {
    const own = store.stmt<{ v: number | null }>(MAX_OWN_VERSION).get(current.id, path, upTo)!.v;
    if (own !== null) return own;
    if (current.parent_id === null || current.fork_seq === null) return 0;
    upTo = Math.min(upTo, current.fork_seq);
    current = vaultById(store, current.parent_id);
  }
  return 0;
}

export interface ChangeOptions {
  op: string;
  actor: Actor;
  detail?: Record<string, unknown>;
  /** Metadata-only changes (utimens) update the entry without a history version. */
  noVersion?: boolean;
  /**
   * When the change happened, if before now: the mount stores a file when it is closed, but the
   * kernel saw it change (its ctime) when it was written, and saw its name appear (`createdAt`,
   * for a new entry) when it was created. The entry's ctime is `ctime`; the parent directory takes
   * `createdAt` unless it changed after that (tar sets a directory's times once its files are
   * written, and an empty file is stored only when the kernel releases it, which may come later).
   */
  at?: { ctime: number; createdAt?: number };
}

/**
 * Gives `path` a new state and records it as a version. Every mutation of a vault's tree goes
 * through this function or `removeEntry`, which is what makes history complete. Callers have
 * already validated the parent and run inside a transaction.
 */
export function putEntry(store: Store, vault: VaultRow, path: string, state: EntryState, change: ChangeOptions): Entry {
  const at = now();
  const old = getEntry(store, vault.id, path);
  enforceQuota(store, vault, path, old, state);
  const version = change.noVersion && old ? old.version : (old ? old.version : lastVersion(store, vault, path)) + 1;
  const ino = state.ino ?? old?.ino ?? store.stmt<{ ino: number }>(NEXT_INO).get(vault.id)!.ino;
  const entry: Entry = {
    path,
    parent: dirname(path),
    type: state.type,
    mode: state.mode & 0o7777,
    size: state.size,
    hash: state.hash,
    target: state.target,
    mtime: state.mtime ?? at,
    atime: state.atime ?? state.mtime ?? at,
    ctime: change.at?.ctime ?? at,
    ino,
    version,
  };
  store
    .stmt(UPSERT_ENTRY)
    .run(vault.id, path, entry.parent, entry.type, entry.mode, entry.size, entry.hash, entry.target, entry.mtime, entry.atime, entry.ctime, ino, version);
  if (!old) {
    const createdAt = change.at?.createdAt;
    if (createdAt === undefined) store.stmt(TOUCH_DIR).run(at, at, vault.id, entry.parent);
    else store.stmt(TOUCH_DIR_UNLESS_CHANGED).run(createdAt, createdAt, vault.id, entry.parent, createdAt);
  }
  if (!change.noVersion) recordVersion(store, vault, path, version, change, entry);
  return entry;
}

/** Deletes `path` (not its descendants) and records the deletion as a version. */
export function removeEntry(store: Store, vault: VaultRow, path: string, change: ChangeOptions): void {
  const old = getEntry(store, vault.id, path);
  if (!old) throw new AvfsError('NOT_FOUND', `no such file or directory: ${path}`, { path });
  const at = now();
  store.stmt(DELETE_ENTRY).run(vault.id, path);
  store.stmt('DELETE FROM annotations WHERE vault_id = ? AND path = ?').run(vault.id, path);
  store.stmt(TOUCH_DIR).run(at, at, vault.id, old.parent);
  recordVersion(store, vault, path, old.version + 1, change, null);
}

/**
 * Inserts a version row. Every version a write transaction records belongs to one change, whose id
 * is the id of the first of them: the first one names itself, the others copy it.
 */
function recordVersion(store: Store, vault: VaultRow, path: string, version: number, change: ChangeOptions, entry: Entry | null): void {
  const tx = store.currentChange();
  const { lastInsertRowid } = store
    .stmt(INSERT_VERSION)
    .run(
      vault.id,
      path,
      version,
      change.op,
      entry?.type ?? null,
      entry?.mode ?? null,
      entry?.size ?? null,
      entry?.hash ?? null,
      entry?.target ?? null,
      entry?.mtime ?? null,
      change.actor.source,
      change.actor.execId ?? null,
      change.detail ? JSON.stringify(change.detail) : null,
      now(),
      tx?.id ?? null,
    );
  if (tx && tx.id !== null) return;
  store.stmt(OWN_CHANGE).run(lastInsertRowid);
  if (tx) tx.id = Number(lastInsertRowid);
}

/**
 * Updates times without a history version (metadata only: touch, tar, cp -a). `ctime` is now
 * unless given (the mount passes the time it already showed the kernel).
 */
export function setTimes(store: Store, vaultId: number, path: string, atime: number | null, mtime: number | null, ctime = now()): void {
  store
    .stmt('UPDATE entries SET atime = coalesce(?, atime), mtime = coalesce(?, mtime), ctime = ? WHERE vault_id = ? AND path = ?')
    .run(atime, mtime, ctime, vaultId, path);
}
