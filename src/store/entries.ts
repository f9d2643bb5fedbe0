import { AvfsError } from '../errors.js';
import { COPIED_MODE_SQL, type EntryType } from '../core/entry-types.js';
import { checkNewPathLength, descendantRange, dirname } from '../core/paths.js';
import { representableTime } from '../core/units.js';
import { layerPaths, noteWritten } from './layer-paths.js';
import { now, type Actor, type Statements, type Store } from './store.js';
import { enforceQuota } from './quota.js';
import { countChange, countSubtree } from './usage.js';
import { refuseAfterExec } from './execs.js';
import { chainParams, historyChain, type VaultRow } from './vaults.js';

/**
 * The tree of every vault (table `entries`), and the one door through which it changes.
 *
 * Forks are layers (ARCHITECTURE.md, "Forks are layers"): a vault's rows are its own layer, and
 * what it shows is its own layer over what its parent shows, down the chain of ancestors. A row of
 * type 'x' (a whiteout) hides a path an ancestor has. Forking writes nothing but the vault row.
 * The invariant that keeps a fork's view fixed while its parent changes: before a vault changes
 * what it shows at a path, it copies what it showed there (or a whiteout) into every direct fork
 * that has no row of its own for that path (pushDown). A fork therefore never sees its parent's
 * later changes, and reading never has to consult history.
 *
 * Every change of what a vault shows goes through putEntry, removeEntry or setTimes, which also
 * keep the vault's usage counters and record the history version.
 */

export type { EntryType };
/** A row's type: an entry type, or 'x' for a whiteout in a fork's layer. */
type RowType = EntryType | 'x';

/** One entry of a vault's tree. Times are epoch milliseconds; mode holds permission bits only. */
export interface Entry {
  path: string;
  parent: string;
  type: EntryType;
  mode: number;
  /** Owner; null means whoever mounts or reads the vault. */
  uid: number | null;
  gid: number | null;
  size: number;
  hash: string | null;
  target: string | null;
  /** Device number of a character or block device (0 otherwise). */
  rdev: number;
  /** Names this entry's inode has in the vault (hard links share `ino`). */
  nlink: number;
  mtime: number;
  atime: number;
  ctime: number;
  ino: number;
  version: number;
  /** Tags and metadata, JSON (see annotations.ts); null when none. */
  annot: string | null;
}

/** The state a change gives a path. Omitted fields come from defaults or the old entry. */
export interface EntryState {
  type: EntryType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
  uid?: number | null;
  gid?: number | null;
  rdev?: number;
  nlink?: number;
  annot?: string | null;
  mtime?: number;
  atime?: number;
  /** Keep this inode number (a move, a hard link) instead of allocating a new one. */
  ino?: number;
}

const COLUMNS = 'path, parent, type, mode, uid, gid, size, hash, target, rdev, nlink, mtime, atime, ctime, ino, version, annot';
type Row = Omit<Entry, 'type'> & { type: RowType };

// ---- layers --------------------------------------------------------------------------------

const parsedAncestors = new Map<string, number[]>();

/** The vault ids whose layers make up what `vault` shows, nearest first (the vault itself, its parent, …). */
export function layersOf(vault: VaultRow): number[] {
  let ancestors = parsedAncestors.get(vault.ancestors);
  if (!ancestors) {
    ancestors = JSON.parse(vault.ancestors) as number[];
    if (parsedAncestors.size > 256) parsedAncestors.clear();
    parsedAncestors.set(vault.ancestors, ancestors);
  }
  return [vault.id, ...ancestors];
}

/**
 * `sql` remembered per layer count: a mount builds these for every request (getattr, readdir),
 * and a new string of a few hundred characters is hashed again by every statement-cache lookup.
 */
function bySize(sql: (layers: number) => string): (layers: number) => string {
  const made: string[] = [];
  return (layers) => (made[layers] ??= sql(layers));
}

/** The same statement once per layer, joined with UNION ALL; `layer` numbers the arms from 0. */
function perLayer(sql: (layer: number) => string, layers: number): string {
  return Array.from({ length: layers }, (_, i) => sql(i)).join(' UNION ALL ');
}

/**
 * The first row found, nearest layer first: SQLite runs the arms of a UNION ALL in order and stops
 * at the LIMIT, so a path the vault has itself costs one probe.
 */
const pointSql = bySize((layers: number) =>
  layers === 1
    ? `SELECT ${COLUMNS} FROM entries WHERE vault_id = ? AND path = ?`
    : `${perLayer(() => `SELECT ${COLUMNS} FROM entries WHERE vault_id = ? AND path = ?`, layers)} LIMIT 1`);

/**
 * Rows of every layer for a set of paths, in path order; `nearest` keeps the nearest layer's row of
 * each path. Ordered by path alone: each arm then comes in its index's order and SQLite merges the
 * arms, where `ORDER BY path, layer` sorted every arm in a temporary b-tree first (a 100-entry
 * listing 5 layers deep: 1.19× the root's statement time with it, 1.06× without). Rows of one path
 * from several layers are then adjacent in no set order.
 */
const setSql = (where: string, index: string, layers: number) =>
  `${perLayer((i) => `SELECT ${COLUMNS}, ${i} AS layer FROM entries ${index} WHERE vault_id = ? AND ${where}`, layers)} ORDER BY path`;

/** Of each run of rows for one path, the row of the nearest layer (the smallest `layer`). */
function* nearest<R>(rows: Iterable<R>, pathOf: (row: R) => string, layerOf: (row: R) => number): Generator<R> {
  let best: R | undefined;
  for (const row of rows) {
    if (best !== undefined && pathOf(row) === pathOf(best)) {
      if (layerOf(row) < layerOf(best)) best = row;
      continue;
    }
    if (best !== undefined) yield best;
    best = row;
  }
  if (best !== undefined) yield best;
}

const rowPath = (row: Row & { layer: number }) => row.path;
const rowLayer = (row: Row & { layer: number }) => row.layer;

/** The entries a set of rows of every layer shows: the nearest row of each path, whiteouts left out. */
function* merge(rows: Iterable<Row & { layer: number }>): Generator<Entry> {
  for (const row of nearest(rows, rowPath, rowLayer)) {
    if (row.type === 'x') continue;
    const { layer: _layer, ...entry } = row;
    yield entry as Entry;
  }
}

/** Raw rows whose first two columns are path and type and whose last is the layer. */
type RawRow = [string, RowType, ...unknown[]];
const rawPath = (row: RawRow) => row[0];
const rawLayer = (row: RawRow) => row[row.length - 1] as number;

/** Binds `params` once per layer, each time after that layer's vault id. */
function bindPerLayer(layers: number[], ...params: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const id of layers) out.push(id, ...params);
  return out;
}

// ---- reads ---------------------------------------------------------------------------------

/** What the vault shows at `path`, or undefined. */
export function getEntry(store: Store, vault: VaultRow, path: string): Entry | undefined {
  return visible(store, layersOf(vault), path);
}

/**
 * The entry above `path` that is not a directory (a file or symlink put where one of its
 * directories was), if any. `directories` remembers the directories found, for a caller asking
 * about many paths; only directories are remembered.
 */
export function nonDirectoryAbove(store: Store, vault: VaultRow, path: string, directories: Set<string>): Entry | undefined {
  for (let dir = dirname(path); dir !== '/' && !directories.has(dir); dir = dirname(dir)) {
    const entry = getEntry(store, vault, dir);
    if (entry && entry.type !== 'd') return entry;
    if (entry) directories.add(dir);
  }
  return undefined;
}

/**
 * Outside a transaction, up to this many layers, a read asks every layer in its one statement.
 * The layer-path sets save probes but must confirm `PRAGMA data_version` with a statement of
 * their own, which costs about what five more index probes do (a lookup of a path only the root
 * has, 10k-file root, forks of 200 own files: 2 layers 12.0 µs probing all against 15.1 with the
 * sets, 5 layers 13.6 against 14.9, 8 layers 15.4 against 15.1, 17 layers 20.8 against 15.8).
 * Inside one (the mount's requests, every command's reads and writes) the sets are confirmed
 * once per transaction, so they pay from two layers on.
 */
export const PROBE_ALL_LAYERS = 6;

/**
 * The first row of `layers` (nearest first) for `path`. Inside a transaction, or past
 * PROBE_ALL_LAYERS, only the layers that may have one are probed (layer-paths.ts); the record of
 * which layers may is checked against other connections' commits in the same transaction as the
 * probe, or right after it for a read outside one (readOutside).
 */
function visible(store: Store, layers: number[], path: string): Entry | undefined {
  if (layers.length <= 1) return probe(store, layers, path);
  if (store.db.inTransaction) return probe(store, layerPaths(store).candidates(layers, path), path);
  if (layers.length <= PROBE_ALL_LAYERS) return probe(store, layers, path);
  return layerPaths(store).readOutside(layers, path, (some) => probe(store, some, path));
}

function probe(store: Store, layers: number[], path: string): Entry | undefined {
  if (layers.length === 0) return undefined;
  const row = store.stmt<Row>(pointSql(layers.length)).get(...bindPerLayer(layers, path));
  return row && row.type !== 'x' ? (row as Entry) : undefined;
}

/** What the vault's parent shows at `path` (undefined for a vault without parent). */
function inherited(store: Store, vault: VaultRow, path: string): Entry | undefined {
  return visible(store, layersOf(vault).slice(1), path);
}

/** The row the vault's own layer has for `path` (a whiteout included), or undefined. */
function ownRow(store: Store, vaultId: number, path: string): Row | undefined {
  if (!layerPaths(store).mayHold(vaultId, path)) return undefined;
  return store.stmt<Row>(pointSql(1)).get(vaultId, path);
}

// INDEXED BY: without statistics the planner prefers walking the primary key (it already yields
// path order) over the whole vault, which made every listing O(entries in the vault).
const CHILDREN = bySize((layers: number) => setSql('parent = ?', 'INDEXED BY entries_parent', layers));
const RANGE = bySize((layers: number) => setSql('path >= ? AND path < ?', '', layers));

const CHILDREN_AFTER = bySize((layers: number) => setSql('parent = ? AND path > ?', 'INDEXED BY entries_parent', layers));

/**
 * The children of `dir` in path order; with `limit`, the first that many (the rest is not read);
 * with `after` (a path), only those that sort after it.
 */
export function listChildren(store: Store, vault: VaultRow, dir: string, limit = Infinity, after?: string): Entry[] {
  const layers = layersOf(vault);
  const out: Entry[] = [];
  if (limit <= 0) return out;
  const rows = after === undefined ? store.stmt<Row & { layer: number }>(CHILDREN(layers.length)).iterate(...bindPerLayer(layers, dir)) : store.stmt<Row & { layer: number }>(CHILDREN_AFTER(layers.length)).iterate(...bindPerLayer(layers, dir, after));
  for (const e of merge(rows)) {
    if (out.push(e) >= limit) break;
  }
  return out;
}

/** Whether `dir` shows a child whose path sorts after `after` (reading up to the first such child). */
export function hasChildAfter(store: Store, vault: VaultRow, dir: string, after: string): boolean {
  const layers = layersOf(vault);
  for (const _ of merge(store.stmt<Row & { layer: number }>(CHILDREN_AFTER(layers.length)).iterate(...bindPerLayer(layers, dir, after)))) return true;
  return false;
}

const CHILDREN_BRIEF = bySize((layers: number) => CHILDREN(layers).replace(new RegExp(`SELECT ${COLUMNS},`, 'g'), '/* brief */ SELECT path, type, ino,'));

/**
 * [path, type, ino] of each child of `dir`, in path order: what a directory listing reports (the
 * mount's readdir). Raw arrays, not entry objects, as in briefDescendants.
 */
export function briefChildren(store: Store, vault: VaultRow, dir: string): Array<[string, EntryType, number]> {
  const layers = layersOf(vault);
  const rows = store.stmt(CHILDREN_BRIEF(layers.length)).raw(true).all(...bindPerLayer(layers, dir)) as Array<[string, RowType, number, number]>;
  const out: Array<[string, EntryType, number]> = [];
  for (const [path, type, ino] of nearest(rows, rawPath, rawLayer)) {
    if (type !== 'x') out.push([path, type, ino]);
  }
  return out;
}

/** Every entry strictly below `dir`, in path order (an index range scan per layer). */
export function listDescendants(store: Store, vault: VaultRow, dir: string): Entry[] {
  return [...iterateDescendants(store, vault, dir)];
}

/** Like listDescendants, one entry at a time (export and scans of large trees). */
export function* iterateDescendants(store: Store, vault: VaultRow, dir: string): Generator<Entry> {
  const layers = layersOf(vault);
  const [lo, hi] = descendantRange(dir);
  for (const e of merge(store.stmt<Row & { layer: number }>(RANGE(layers.length)).iterate(...bindPerLayer(layers, lo, hi)))) {
    if (e.path !== '/') yield e;
  }
}

/**
 * [path, type, size, mtime] of every entry strictly below `dir`, in path order. Raw arrays, not
 * entry objects: building a 17-field object per row is what a scan of a large tree spends most
 * of its time on, so scans (find) read these four columns and read whole entries only for matches.
 */
export function briefDescendants(store: Store, vault: VaultRow, dir: string): Array<[string, EntryType, number, number]> {
  return visibleBelow<[string, EntryType, number, number]>(store, vault, dir, 'path, type, size, mtime');
}

/**
 * [path, hash, size] of every file strictly below `dir`, in path order: what grep reads (raw
 * arrays, as in briefDescendants; a file's hash is null when it is empty).
 */
export function descendantFiles(store: Store, vault: VaultRow, dir: string): Array<[string, string | null, number]> {
  const out: Array<[string, string | null, number]> = [];
  for (const [path, type, hash, size] of visibleBelow<[string, EntryType, string | null, number]>(store, vault, dir, 'path, type, hash, size')) {
    if (type === 'f') out.push([path, hash, size]);
  }
  return out;
}

/** The rows (of `columns`, the first two path and type) that the vault shows strictly below `dir`, in path order. */
function visibleBelow<R extends [string, EntryType, ...unknown[]]>(store: Store, vault: VaultRow, dir: string, columns: string): R[] {
  const layers = layersOf(vault);
  const [lo, hi] = descendantRange(dir);
  const sql = setSql('path >= ? AND path < ?', '', layers.length).replace(new RegExp(`SELECT ${COLUMNS},`, 'g'), `/* brief */ SELECT ${columns},`);
  const rows = store.stmt(sql).raw(true).all(...bindPerLayer(layers, lo, hi)) as RawRow[];
  const out: R[] = [];
  for (const row of nearest(rows, rawPath, rawLayer)) {
    if (row[1] !== 'x' && row[0] !== '/') out.push(row as unknown as R); // the layer stays on the end, unread
  }
  return out;
}

/**
 * How many subdirectories `dir` has in what the vault shows, counted (a directory's link count,
 * 2 plus this, is kept by touchDir; this counts it for directories stored before it was kept).
 * Each layer's directory rows under `dir` come from a partial index holding directories only
 * (schema 14), so the cost follows the number of subdirectories, not of children. A layer's row
 * counts when no nearer layer has a row for its path (a nearer row is what the vault shows
 * there: another entry, or a whiteout).
 */
export function subdirCount(store: Store, vault: VaultRow, dir: string): number {
  const layers = layersOf(vault);
  const row = store.stmt<{ n: number }>(SUBDIRS(layers.length)).get(...layers.flatMap((id, i) => [id, dir, ...layers.slice(0, i)]))!;
  return row.n;
}

const SUBDIRS = (layers: number) =>
  `SELECT ${Array.from({ length: layers }, (_, i) => {
    const nearer = i === 0 ? '' : ` AND NOT EXISTS (SELECT 1 FROM entries n WHERE n.vault_id IN (${Array(i).fill('?').join(', ')}) AND n.path = e.path)`;
    return `(SELECT count(*) FROM entries e INDEXED BY entries_subdirs WHERE e.vault_id = ? AND e.parent = ? AND e.type = 'd'${nearer})`;
  }).join(' + ')} AS n`;

export function hasChildren(store: Store, vault: VaultRow, dir: string): boolean {
  if (layersOf(vault).length === 1) return store.stmt('SELECT 1 FROM entries WHERE vault_id = ? AND parent = ? LIMIT 1').get(vault.id, dir) !== undefined;
  return listChildren(store, vault, dir).length > 0;
}

/**
 * Entries the vault shows whose content is `hash`, restricted to paths in [lo, hi) or equal to
 * `path`: each layer's rows for the hash that no nearer layer overrides.
 */
export function entriesWithHash(store: Store, vault: VaultRow, hash: string): Entry[] {
  const layers = layersOf(vault);
  const sql = perLayer(
    (i) =>
      `SELECT ${COLUMNS} FROM entries e INDEXED BY entries_vault_hash WHERE e.vault_id = ? AND e.hash = ?` +
      (i === 0 ? '' : ` AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.vault_id IN (${layers.slice(0, i).join(',')}) AND o.path = e.path)`),
    layers.length,
  );
  return store.stmt<Entry>(sql).all(...bindPerLayer(layers, hash));
}

/**
 * The names the vault shows for inode `ino`. By default only hard-linked ones (nlink > 1 rows,
 * through their partial index); `anyCount` finds a single name too, scanning every row of the
 * vault's layers: only the mount asks that, for a file it has open whose name someone else
 * changed (OpenFiles.relocate), too rarely to keep an index on every entry's inode. `fromLayer` 1
 * leaves out the rows of the vault's own layer (names it shows from there are still found).
 * O(names): a row of the vault's own layer is what it shows there; only a row of an ancestor's
 * layer is looked up again, as a nearer layer may hide or replace it. (Comparing each name with
 * every name found before, and looking each up again, made a link or unlink of an inode with n
 * names cost O(n²), and making n links O(n³).)
 */
export function namesOfInode(store: Store, vault: VaultRow, ino: number, anyCount = false, fromLayer = 0): Entry[] {
  const layers = layersOf(vault);
  const out: Entry[] = [];
  const seen = new Set<string>();
  const sql = anyCount
    ? `SELECT ${COLUMNS} FROM entries WHERE vault_id = ? AND ino = ?`
    : `SELECT ${COLUMNS} FROM entries INDEXED BY entries_links WHERE vault_id = ? AND ino = ? AND nlink > 1`;
  for (let i = fromLayer; i < layers.length; i++) {
    for (const row of store.stmt<Row>(sql).all(layers[i], ino)) {
      if (seen.has(row.path)) continue;
      seen.add(row.path);
      const shown = i === 0 ? (row.type === 'x' ? undefined : (row as Entry)) : visible(store, layers, row.path);
      if (shown && shown.ino === ino) out.push(shown);
    }
  }
  return out;
}

/** Entries with tags or metadata, by path (annotation queries). */
export function annotatedEntries(store: Store, vault: VaultRow): Entry[] {
  const layers = layersOf(vault);
  const sql = perLayer(
    (i) =>
      `SELECT ${COLUMNS} FROM entries e INDEXED BY entries_annotated WHERE e.vault_id = ? AND e.annot IS NOT NULL` +
      (i === 0 ? '' : ` AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.vault_id IN (${layers.slice(0, i).join(',')}) AND o.path = e.path)`),
    layers.length,
  );
  return store.stmt<Entry>(sql).all(...layers).filter((e) => (e.type as RowType) !== 'x');
}

// ---- changes -------------------------------------------------------------------------------

const UPSERT = `INSERT OR REPLACE INTO entries (vault_id, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const DELETE_OWN = 'DELETE FROM entries WHERE vault_id = ? AND path = ?';
const CHILD_VAULTS = 'SELECT id FROM vaults WHERE parent_id = ?';
const NEXT_INO = 'UPDATE vaults SET next_ino = next_ino + 1 WHERE id = ? RETURNING next_ino - 1 AS ino';

/** An inode number the vault has never given out. */
export function newInode(store: Store, vault: VaultRow): number {
  return store.stmt<{ ino: number }>(NEXT_INO).get(vault.id)!.ino;
}
const INSERT_VERSION = `INSERT INTO versions (vault_id, path, version, op, type, mode, uid, gid, size, hash, target, rdev, ino, nlink, mtime, annot, source, exec_id, detail, at, change_id)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const OWN_CHANGE = 'UPDATE versions SET change_id = id WHERE id = ?';
const MAX_OWN_VERSION = 'SELECT max(version) AS v FROM versions WHERE vault_id = ? AND path = ? AND id <= ?';

/** The columns a change may give a row that stays (its path, and so its parent, do not change). */
const CHANGEABLE = ['type', 'mode', 'uid', 'gid', 'size', 'hash', 'target', 'rdev', 'nlink', 'mtime', 'atime', 'ctime', 'ino', 'version', 'annot'] as const;
const VERSION_BIT = 1 << CHANGEABLE.indexOf('version');
const updates = new Map<number, string>();
/** The UPDATE setting the CHANGEABLE columns whose bits are in `mask`. */
const updateOf = (mask: number) => {
  let sql = updates.get(mask);
  if (sql === undefined) {
    const set = CHANGEABLE.filter((_, i) => mask & (1 << i)).map((k) => `${k} = ?`);
    updates.set(mask, (sql = `UPDATE entries SET ${set.join(', ')} WHERE vault_id = ? AND path = ?`));
  }
  return sql;
};

/**
 * Writes the vault's own row for `e.path`. `before` is what the vault showed there: when the row
 * is the vault's own, an UPDATE of the columns that change leaves alone every index none of them
 * is in (a create or an unlink touches its directory's times, a chmod its mode, a rewrite its
 * content), where replacing the row rewrote it in every index: each commits fewer pages.
 */
function writeOwn(store: Statements, vaultId: number, e: Row, before?: Row): void {
  noteWritten(store, vaultId, e.path);
  rowsChanged(store, vaultId, e.path);
  if (before) {
    let mask = 0;
    const values: unknown[] = [];
    for (let i = 0; i < CHANGEABLE.length; i++) {
      const k = CHANGEABLE[i]!;
      if (before[k] === e[k]) continue;
      mask |= 1 << i;
      values.push(e[k]);
    }
    // Nothing changes: the version column is set to itself, which tells whether the row is the vault's own.
    if (mask === 0) (mask = VERSION_BIT), values.push(e.version);
    if (store.stmt(updateOf(mask)).run(...values, vaultId, e.path).changes === 1) return;
    // else the row is an ancestor's (a fork's first change of it)
  }
  store
    .stmt(UPSERT)
    .run(vaultId, e.path, e.parent, e.type, e.mode, e.uid, e.gid, e.size, e.hash, e.target, e.rdev, e.nlink, e.mtime, e.atime, e.ctime, e.ino, e.version, e.annot);
}

/** The `parent` column: the directory listing a path; the root is listed by no directory. */
const parentOf = (path: string) => (path === '/' ? '' : dirname(path));

const whiteout = (path: string): Row => ({
  path,
  parent: parentOf(path),
  type: 'x',
  mode: 0,
  uid: null,
  gid: null,
  size: 0,
  hash: null,
  target: null,
  rdev: 0,
  nlink: 1,
  mtime: 0,
  atime: 0,
  ctime: 0,
  ino: 0,
  version: 0,
  annot: null,
});

/**
 * Keeps every direct fork's view of `path` as it is (see the header): a fork without a row of
 * its own gets what the vault showed there until now, or a whiteout where it showed nothing.
 */
function pushDown(store: Store, vault: VaultRow, path: string, shown: Entry | undefined, forks = directForks(store, vault)): void {
  for (const id of forks) {
    if (!ownRow(store, id, path)) writeOwn(store, id, shown ?? whiteout(path));
  }
}

const directForks = (store: Store, vault: VaultRow): number[] => store.stmt<{ id: number }>(CHILD_VAULTS).all(vault.id).map((r) => r.id);

/**
 * Replaces what the vault shows at `path` with `next` (or nothing), keeping forks and counters
 * right. `forks` are the vault's direct forks when the caller already read them.
 */
function show(store: Store, vault: VaultRow, path: string, before: Entry | undefined, next: Entry | undefined, forks?: number[]): void {
  pushDown(store, vault, path, before, forks);
  if (next) writeOwn(store, vault.id, next, before);
  else if (inherited(store, vault, path)) writeOwn(store, vault.id, whiteout(path));
  else deleteOwn(store, vault.id, path);
  countChange(store, vault, path, before, next);
}

/**
 * Sets a directory's mtime and ctime (a name was added or removed in it), and its link count when
 * `subdirs` of its names were directories that appeared (+) or went (-). A directory whose count
 * was never kept (below DIR_LINKS: stored before schema 14) is counted now, after the change.
 */
function touchDir(store: Store, vault: VaultRow, dir: string, at: number, change: ChangeOptions, unlessChangedSince = false, subdirs = 0): void {
  const d = getEntry(store, vault, dir);
  if (!d || d.type !== 'd') return;
  const nlink = subdirs === 0 ? d.nlink : d.nlink >= DIR_LINKS ? d.nlink + subdirs : DIR_LINKS + subdirCount(store, vault, dir);
  const touch = { ...change, op: 'touch', detail: undefined };
  // A name that appeared earlier and is stored only now: the directory keeps times set after that
  // (a tie in the millisecond goes to the create; the mount settles a directory changed after a create, attribute-ops).
  if (unlessChangedSince && d.ctime > at) {
    if (nlink !== d.nlink) changeMetadata(store, vault, d, { ...d, nlink }, touch);
    return;
  }
  changeMetadata(store, vault, d, { ...d, mtime: at, ctime: at, nlink }, touch);
}

/**
 * Puts a directory's link count right by counting its subdirectories. Exact changes (restore,
 * merge undo) put back recorded states without touchDir's ±1, and a parent whose only difference
 * is its count may not be among the paths they put back; they call this for each directory whose
 * subdirectories they changed, so the count never depends on which paths a plan included.
 */
export function recountDirLinks(store: Store, vault: VaultRow, dir: string, change: ChangeOptions): void {
  const d = getEntry(store, vault, dir);
  if (!d || d.type !== 'd') return;
  const nlink = DIR_LINKS + subdirCount(store, vault, dir);
  if (nlink !== d.nlink) changeMetadata(store, vault, d, { ...d, nlink }, { ...change, op: 'touch', detail: undefined });
}

/** A directory's link count with no subdirectories: its name and its own `.`. */
const DIR_LINKS = 2;

/**
 * The link count a change gives an entry. A directory's is DIR_LINKS plus its subdirectories,
 * kept by touchDir as they come and go: a new one starts without any (a moved or copied tree's
 * subdirectories are added after it, one by one), an existing one keeps its count whatever
 * state the change brings (a merge's from another vault), and an exact change (a restore) puts
 * back the recorded count together with the recorded children. Other entries' count is their
 * inode's number of names (hard links).
 */
function linkCountOf(state: EntryState, old: Entry | undefined, exact: boolean): number {
  const oldDir = old?.type === 'd';
  if (state.type !== 'd') return state.nlink ?? (oldDir ? undefined : old?.nlink) ?? 1;
  if (exact) return state.nlink ?? (oldDir ? old!.nlink : DIR_LINKS);
  return oldDir ? old!.nlink : DIR_LINKS;
}

/**
 * The link count of `e` as stat reports it. Directories stored before schema 14 carry 1 (not
 * counted); theirs is counted here (subdirCount) until a change below them stores it.
 */
export function linkCount(store: Store, vault: VaultRow, e: Entry): number {
  if (e.type !== 'd' || e.nlink >= DIR_LINKS) return e.nlink;
  return DIR_LINKS + subdirCount(store, vault, e.path);
}

/**
 * A change of times or link count only (touch, tar and cp -a setting mtimes, a name added to a
 * directory, a hard link added or removed). History stays exact for what restore puts back (mtime
 * and nlink) without a version per change: while nothing has pinned the path's newest version (no
 * checkpoint, fork or exec start since it, see pinnedSince), that version's recorded state is
 * updated in place, as it is the state the path has had since it; otherwise a row with op `touch`
 * records the new state under the same version number (a touch is not a change of the path:
 * `log` does not list it, and numbering is unchanged). Access times are never recorded.
 */
function changeMetadata(store: Store, vault: VaultRow, old: Entry, next: Entry, change: ChangeOptions, known?: ManyNames): void {
  if (next.mtime === old.mtime && next.nlink === old.nlink) return show(store, vault, old.path, old, next, known?.forks);
  const own = store.stmt<{ id: number }>(OWN_VERSION).get(vault.id, old.path, old.version);
  if (own && !(known ? own.id <= known.pinnedUpTo : pinnedSince(store, vault, own.id))) {
    show(store, vault, old.path, old, next, known?.forks);
    store.stmt('UPDATE versions SET mtime = ?, nlink = ? WHERE id = ?').run(next.mtime, next.nlink, own.id);
    return;
  }
  show(store, vault, old.path, old, next, known?.forks);
  // Always a touch, whatever change moved the count (a link, an unlink, an rm -r): a row of the
  // change's own op under the same number read as the path's state before that change, so a
  // revert of the rm -r of two names of one file brought back only one.
  recordVersion(store, vault, old.path, old.version, { ...change, op: 'touch' }, next);
}

/**
 * Gives every other name of `entry`'s inode its ctime, the inode's (rename(2) moves the moved
 * inode's ctime, and a hard link's names show one inode). A ctime-only change: rows, no version.
 */
export function shareCtime(store: Store, vault: VaultRow, entry: Entry, change: ChangeOptions): void {
  for (const other of namesOfInode(store, vault, entry.ino)) {
    if (other.path !== entry.path && other.ctime !== entry.ctime) changeMetadata(store, vault, other, { ...other, ctime: entry.ctime }, change);
  }
}

/**
 * What changeMetadata asks about the vault for every name, asked once by a change of every name
 * of an inode (its link count, its times): the newest point of the vault's history anything
 * pinned (see pinnedSince; -1 when none) and its direct forks. Neither changes during the change.
 */
interface ManyNames {
  pinnedUpTo: number;
  forks: number[];
}

function manyNames(store: Store, vault: VaultRow): ManyNames {
  const pinned = store.stmt<{ seq: number | null }>(PINNED_UP_TO).get({ vault: vault.id })!.seq;
  return { pinnedUpTo: pinned ?? -1, forks: directForks(store, vault) };
}

const OWN_VERSION = 'SELECT id FROM versions WHERE vault_id = ? AND path = ? AND version = ? ORDER BY id DESC LIMIT 1';

/**
 * Reserves `count` consecutive inode numbers and returns the first. The mount gives a file it
 * creates its inode number at create time, before the entry exists (it is stored on close), and
 * reserves them in batches so a create costs no extra transaction. Unused numbers are gaps.
 */
export function reserveInos(store: Store, vaultId: number, count: number): number {
  return store.mutate(() => takeInos(store, vaultId, count));
}

/** reserveInos inside the caller's transaction. */
function takeInos(store: Statements, vaultId: number, count: number): number {
  return store.stmt<{ ino: number }>('UPDATE vaults SET next_ino = next_ino + ? WHERE id = ? RETURNING next_ino - ? AS ino').get(count, vaultId, count)!.ino;
}

/**
 * The newest version number a path has had in this vault, following the fork chain: a fork
 * inherits its parent's history up to the fork point, so numbering continues where it was.
 */
export function lastVersion(store: Store, vault: VaultRow, path: string): number {
  const entry = getEntry(store, vault, path);
  if (entry) return entry.version;
  for (const seg of historyChain(store, vault)) {
    const own = store.stmt<{ v: number | null }>(MAX_OWN_VERSION).get(seg.vaultId, path, seg.upTo)!.v;
    if (own !== null) return own;
  }
  return 0;
}

export interface ChangeOptions {
  op: string;
  actor: Actor;
  detail?: Record<string, unknown>;
  /**
   * The caller puts back exact recorded states for a whole operation (a restore): it checked the
   * quota for the end state (the way there may pass states over it), and directory times are part
   * of what it puts back, so adding or removing names does not touch them.
   */
  exact?: boolean;
  /**
   * The paths an exact plan puts in states of their own (applyPlan): a change through one name of
   * a hard link is not passed on to another name among them, which gets its own state next
   * (passing it on recorded versions that name never had). Other names still get it.
   */
  planned?: ReadonlySet<string>;
  /**
   * The caller puts back a state history recorded for this path (revert, checkout, undo, merge):
   * the path was stored before, so it is not held to the bound on new paths (MAX_NEW_PATH_BYTES).
   */
  recorded?: boolean;
  /**
   * When the change happened, if before now: the mount stores a file when it is closed, but the
   * kernel saw it change (its ctime) when it was written, and saw its name appear (`createdAt`,
   * for a new entry) when it was created. The entry's ctime is `ctime`; the parent directory takes
   * `createdAt` unless it changed after that (tar sets a directory's times once its files are
   * written, and an empty file is stored only when the kernel releases it, which may come later).
   */
  at?: { ctime: number; createdAt?: number };
  /**
   * The change puts back an exec's paths (`proxy undo`): attributed to the exec after it ended,
   * which nothing else may be (execs.ts refuseAfterExec). A field, not the op: the times and link
   * counts it moves on other paths (parent directories, other names of a file) are recorded as
   * `touch` rows of the same change.
   */
  undoesExec?: boolean;
}

/**
 * The part an entry has in a move (moveTree), which puts it at its new path with the state it had,
 * inode number and link count included. As for rename(2): the `top` of the moved tree changes
 * names in two directories, which both take the time of the move, and its own ctime is the move's
 * (its mtime is kept); everything `below` it goes along untouched, its times and its parent's
 * times unchanged (the parent's names are the same).
 */
export type MovePart = 'top' | 'below';

/**
 * Gives `path` a new state and records it as a version. Every mutation of a vault's tree goes
 * through this function, removeEntry or setTimes, which is what makes history complete. Callers
 * have already validated the parent and run inside a transaction. `moved`: see MovePart.
 */
export function putEntry(store: Store, vault: VaultRow, path: string, state: EntryState, change: ChangeOptions, moved?: MovePart): Entry {
  const at = now();
  const old = getEntry(store, vault, path);
  if (!change.exact) {
    if (!old && !change.recorded) checkNewPathLength(path);
    enforceQuota(store, vault, path, old, state);
  }
  const version = (old ? old.version : lastVersion(store, vault, path)) + 1;
  const ino = state.ino ?? old?.ino ?? newInode(store, vault);
  const entry: Entry = {
    path,
    parent: parentOf(path),
    type: state.type,
    mode: state.mode & 0o7777,
    uid: state.uid !== undefined ? state.uid : (old?.uid ?? null),
    gid: state.gid !== undefined ? state.gid : (old?.gid ?? null),
    size: state.size,
    hash: state.hash,
    target: state.target,
    rdev: state.rdev ?? 0,
    // A moved directory's subdirectories move with it, and so does its count of them.
    nlink: linkCountOf(state, old, (change.exact ?? false) || moved !== undefined),
    mtime: state.mtime ?? at,
    atime: state.atime ?? state.mtime ?? at,
    ctime: change.at?.ctime ?? at,
    ino,
    version,
    annot: state.annot !== undefined ? state.annot : (old?.annot ?? null),
  };
  show(store, vault, path, old, entry);
  // The change's own version first: a transaction's change id is its first version's id.
  recordVersion(store, vault, path, version, change, entry);
  if (!change.exact && moved !== 'below') {
    // A subdirectory appearing (or a name turning into or out of one) changes the parent's link count.
    const subdirs = (entry.type === 'd' ? 1 : 0) - (old?.type === 'd' ? 1 : 0);
    if (!old || subdirs !== 0) touchDir(store, vault, dirname(path), change.at?.createdAt ?? at, change, change.at?.createdAt !== undefined, subdirs);
  }
  if (old && old.type !== 'd' && entry.type !== 'd' && old.nlink > 1 && entry.ino === old.ino) syncLinks(store, vault, entry, change);
  return entry;
}

/** What all names of one inode share: a change through one name is a change of every name. */
const INODE_FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'hash', 'target', 'rdev', 'mtime'] as const;

/** The state every name of `e`'s inode shares (content, mode, owner, times). */
export function inodeFields(e: EntryState): Pick<EntryState, (typeof INODE_FIELDS)[number]> {
  return Object.fromEntries(INODE_FIELDS.map((k) => [k, e[k]])) as Pick<EntryState, (typeof INODE_FIELDS)[number]>;
}

/** Gives the other names of `entry`'s inode its new inode state, each recorded as a version of that name. */
function syncLinks(store: Store, vault: VaultRow, entry: Entry, change: ChangeOptions): void {
  for (const other of namesOfInode(store, vault, entry.ino)) {
    if (other.path === entry.path || change.planned?.has(other.path) || INODE_FIELDS.every((k) => other[k] === entry[k])) continue;
    const next: Entry = { ...other, ...Object.fromEntries(INODE_FIELDS.map((k) => [k, entry[k]])), ctime: entry.ctime, version: other.version + 1 };
    show(store, vault, other.path, other, next);
    recordVersion(store, vault, other.path, next.version, { ...change, detail: { ...change.detail, linked: entry.path } }, next);
  }
}

/**
 * Gives the inode of `entry` one more name, the free `path`: every name's count goes up by one,
 * recorded with `group` for the names it had and with `change` for the new one. Returns the new name.
 */
export function addName(store: Store, vault: VaultRow, entry: Entry, path: string, change: ChangeOptions, group: ChangeOptions = change): Entry {
  const nlink = entry.nlink + 1;
  setLinkCount(store, vault, entry.ino, nlink, group, entry);
  return putEntry(store, vault, path, { ...entry, nlink }, change);
}

/**
 * Sets the link count of every name of an inode (a link added or removed), including `also` (a
 * name with nlink 1, which the links index does not list). See changeMetadata.
 *
 * Each name stores the count, so this is O(names) rows; in a vault without forks the names of its
 * own layer are changed by three statements over the group (ownLinkCount), not by a few
 * statements per name: making n links is then O(n²) row writes inside SQLite, not O(n²)
 * statements. Names an ancestor's layer shows, and every name where forks must get a copy of
 * what they showed (pushDown), go one by one.
 */
export function setLinkCount(store: Store, vault: VaultRow, ino: number, nlink: number, change: ChangeOptions, also?: Entry): void {
  const at = change.at?.ctime ?? now();
  const known = manyNames(store, vault);
  const relink = (name: Entry) => changeMetadata(store, vault, name, { ...name, nlink, ctime: at }, change, known);
  if (known.forks.length > 0) {
    const names = namesOfInode(store, vault, ino);
    if (also && !names.some((e) => e.path === also.path)) names.push(also);
    for (const name of names) relink(name);
    return;
  }
  ownLinkCount(store, vault, ino, nlink, at, known.pinnedUpTo, relink);
  for (const name of namesOfInode(store, vault, ino, false, 1)) if (!ownRow(store, vault.id, name.path)) relink(name);
  // Last, so the statements over the group above did not meet it (it joins the index now).
  if (also && also.nlink <= 1) relink(also);
}

/**
 * Sets one name's link count as a touch: a restore or merge undo putting back a name whose state
 * is otherwise the one wanted, while the other names of its inode come and go around it.
 */
export function setNameLinkCount(store: Store, vault: VaultRow, path: string, nlink: number, change: ChangeOptions): void {
  const old = getEntry(store, vault, path);
  if (!old) throw new AvfsError('NOT_FOUND', `no such file or directory: ${path}`, { path });
  changeMetadata(store, vault, old, { ...old, nlink, ctime: change.at?.ctime ?? now() }, { ...change, op: 'touch', detail: undefined });
}

/**
 * The linked names of the vault's own layer for inode `ino`, as changeMetadata changes each one,
 * in three statements over the group: a name whose newest version something pinned (or that has
 * none of its own) gets a `touch` version through `pinned`, one by one (the first change after a
 * pin; from then on its newest version is that touch); the others' newest versions are updated
 * in place; then every row, with its ctime.
 */
function ownLinkCount(store: Store, vault: VaultRow, ino: number, nlink: number, ctime: number, pinnedUpTo: number, pinned: (name: Entry) => void): void {
  for (const name of store.stmt<Entry>(LINKED_PINNED).all({ vault: vault.id, ino, nlink, pinned: pinnedUpTo })) pinned(name);
  store.stmt(LINKED_VERSIONS).run({ vault: vault.id, ino, nlink, pinned: pinnedUpTo });
  for (const { path } of store.stmt<{ path: string }>(LINKED_ROWS).all({ vault: vault.id, ino, nlink, ctime })) {
    noteWritten(store, vault.id, path);
    rowsChanged(store, vault.id, path);
  }
}

/** The newest version of the entry `e`'s path with its current version number (OWN_VERSION, for a row `e`). */
const NEWEST_OWN = 'SELECT max(v.id) FROM versions v WHERE v.vault_id = e.vault_id AND v.path = e.path AND v.version = e.version';
const LINKED = 'FROM entries e INDEXED BY entries_links WHERE e.vault_id = @vault AND e.ino = @ino AND e.nlink > 1';
const LINKED_PINNED = `SELECT ${COLUMNS} ${LINKED} AND e.nlink != @nlink AND coalesce((${NEWEST_OWN}), -1) <= @pinned`;
const LINKED_VERSIONS = `UPDATE versions SET nlink = @nlink WHERE id IN (SELECT (${NEWEST_OWN}) ${LINKED} AND e.nlink != @nlink) AND id > @pinned`;
// INDEXED BY: the planner otherwise walks every row of the vault (the count it sets is in the index's WHERE).
const LINKED_ROWS = 'UPDATE entries INDEXED BY entries_links SET nlink = @nlink, ctime = @ctime WHERE vault_id = @vault AND ino = @ino AND nlink > 1 RETURNING path';

/**
 * Deletes `path` (not its descendants) and records the deletion as a version. The other names of
 * a hard-linked inode lose one link, unless the name is only `moving` (a rename puts it back; see
 * MovePart for what it touches).
 * `current` is the entry at `path` when the caller has just read it in this transaction.
 */
export function removeEntry(store: Store, vault: VaultRow, path: string, change: ChangeOptions, options: { moving?: MovePart; current?: Entry } = {}): void {
  const old = options.current ?? getEntry(store, vault, path);
  if (!old) throw new AvfsError('NOT_FOUND', `no such file or directory: ${path}`, { path });
  dropEntry(store, vault, old, change, options.moving !== undefined);
  if (!change.exact && options.moving !== 'below') touchDir(store, vault, dirname(path), now(), change, false, old.type === 'd' ? -1 : 0);
}

/** removeEntry without touching the parent directory. */
function dropEntry(store: Store, vault: VaultRow, old: Entry, change: ChangeOptions, moving: boolean): void {
  show(store, vault, old.path, old, undefined);
  if (old.type !== 'd' && old.nlink > 1 && !moving) setLinkCount(store, vault, old.ino, old.nlink - 1, change);
  recordVersion(store, vault, old.path, old.version + 1, change, null);
}

/**
 * Removes every entry below the directory `dir`, each removal recorded as a version as removeEntry
 * records it; but only `dir` itself has its times and link count touched, once at the end (the
 * directories in between go too: touching each on every child removed was a quarter of an `rm -r`
 * of 55,000 entries). Names of hard-linked inodes go one by one (the inode's other names lose a
 * link each time), and so does the first removal of a change (it gives the change its id and is
 * refused after an exec ended); the rest goes set-wise, a few statements per layer and per direct
 * fork (the same ones moveBelow runs): removal versions, the vault's own rows, whiteouts where an
 * ancestor's layer shows a path, copies for forks (pushDown) and the usage counters. Entry by entry
 * a 50,000-entry `rm -r` took 1.1-1.5 s. Returns the removed paths, deepest first.
 */
export function removeDescendants(store: Store, vault: VaultRow, dir: string, change: ChangeOptions): string[] {
  const below = visibleBelow<[string, EntryType, number]>(store, vault, dir, 'path, type, nlink');
  if (below.length === 0) return [];
  const oneByOne = below.filter(([, type, nlink]) => type !== 'd' && nlink > 1);
  const tx = store.currentChange();
  if (!tx || tx.id === null) oneByOne.push(below[below.length - 1]!);
  // A name of a hard-linked inode had its link count lowered when another name of it went, so each is read again.
  for (const [path] of new Set(oneByOne.reverse())) if (getEntry(store, vault, path)) dropEntry(store, vault, getEntry(store, vault, path)!, change, false);
  // After the first removal: the change has its id by now.
  const { plan, params } = subtreeStatements(store, vault, dir, dir, change);
  for (const fork of directForks(store, vault)) {
    for (const sql of plan.forkRows) noteRows(store, fork, store.stmt<{ path: string }>(sql).all({ ...params, fork }));
  }
  countSubtree(store, vault, store.stmt<{ type: string; n: number; bytes: number }>(plan.counts).all(params), -1);
  for (const sql of plan.removals) store.stmt(sql).run(params);
  layerPaths(store).removed(vault.id);
  for (const { path } of store.stmt<{ path: string }>(plan.clears).all(params)) rowsChanged(store, vault.id, path);
  for (const sql of plan.whiteouts) noteRows(store, vault.id, store.stmt<{ path: string }>(sql).all(params));
  const subdirs = below.filter(([path, type]) => type === 'd' && dirname(path) === dir).length;
  if (!change.exact) touchDir(store, vault, dir, now(), change, false, -subdirs);
  return below.map(([path]) => path).reverse();
}

/**
 * removeDescendants one entry at a time, deepest first, as it ran before it went set-wise: the
 * reference test/integration/setwise-move.test.ts compares it with (nothing else calls it).
 */
export function removeEachBelow(store: Store, vault: VaultRow, dir: string, change: ChangeOptions): string[] {
  const below = listDescendants(store, vault, dir).reverse();
  let subdirs = 0;
  for (const child of below) {
    const current = child.type !== 'd' && child.nlink > 1 ? getEntry(store, vault, child.path)! : child;
    dropEntry(store, vault, current, change, false);
    if (child.type === 'd' && child.parent === dir) subdirs++;
  }
  if (below.length > 0 && !change.exact) touchDir(store, vault, dir, now(), change, false, -subdirs);
  return below.map((e) => e.path);
}

/** A moved path: `@dst` in place of the `@src` it starts with (SQLite's length and substr count characters alike). */
const REBASED = (path: string) => `@dst || substr(${path}, length(@src) + 1)`;

/**
 * The rows of layer `i` (alias e) that the vault shows strictly below `@src`: in the range, not a
 * whiteout, and no nearer layer (@l0 … @l{i-1}) has a row for the path (SUBDIRS reads the same way).
 */
function shownBelow(i: number): string {
  const nearer = Array.from({ length: i }, (_, j) => `@l${j}`).join(', ');
  return `e.vault_id = @l${i} AND e.path >= @lo AND e.path < @hi AND e.type != 'x'` + (i === 0 ? '' : ` AND NOT EXISTS (SELECT 1 FROM entries n WHERE n.vault_id IN (${nearer}) AND n.path = e.path)`);
}

/** A whiteout's columns after path and parent, as whiteout() gives them. */
const WHITEOUT_COLUMNS = "'x', 0, NULL, NULL, 0, NULL, NULL, 0, 1, 0, 0, 0, 0, 0, NULL";

/**
 * The statements of a set-wise move or removal below a directory, in a vault of `layers` layers
 * whose history has `segments` segments (historyChain).
 */
interface SubtreePlan {
  longest: string;
  counts: string;
  copies: string;
  subdirCounts: string;
  copyVersions: string;
  removals: string[];
  forkRows: string[];
  forkWhiteouts: string[];
  leaves: string[];
  arrives: string[];
  arrivals: string;
  clears: string;
  whiteouts: string[];
}

const subtreePlans = new Map<string, SubtreePlan>();

function subtreePlan(layers: number, segments: number): SubtreePlan {
  const key = `${layers}/${segments}`;
  let plan = subtreePlans.get(key);
  if (plan) return plan;
  const each = (sql: (i: number) => string, from = 0) => Array.from({ length: layers - from }, (_, i) => sql(i + from));
  // lastVersion of a new path: its newest version in the first segment of the history chain that has one.
  const lastOwn = (j: number) => `(SELECT max(v.version) FROM versions v WHERE v.vault_id = @s${j} AND v.path = ${REBASED('e.path')} AND v.id <= @u${j})`;
  const nextVersion = `1 + coalesce(${Array.from({ length: segments }, (_, j) => lastOwn(j)).join(', ')}, 0)`;
  const shown = (columns: string) => each((i) => `SELECT ${columns} FROM entries e WHERE ${shownBelow(i)}`).join(' UNION ALL ');
  plan = {
    longest: `SELECT path FROM (${shown('e.path')}) ORDER BY length(CAST(path AS BLOB)) DESC LIMIT 1`,
    counts: `SELECT type, count(*) AS n, coalesce(sum(size), 0) AS bytes FROM (${shown('e.type, e.size')}) GROUP BY type`,
    // New inode numbers in path order from @ino, as putEntry would take them one by one; times now;
    // no owner (a copy belongs to whoever reads, as cp(1) makes the copier the owner); a link count
    // of 1, or 2 for a directory until its subdirectories are counted (subdirCounts).
    copies: `INSERT OR REPLACE INTO entries (vault_id, ${COLUMNS})
      SELECT @l0, ${REBASED('path')}, ${REBASED('parent')}, type, ${COPIED_MODE_SQL}, NULL, NULL, size, hash, target, rdev, CASE type WHEN 'd' THEN ${DIR_LINKS} ELSE 1 END,
        @at, @at, @at, @ino - 1 + row_number() OVER (ORDER BY path), ${nextVersion.replaceAll('e.path', 's.path')}, annot
      FROM (${shown('e.path, e.parent, e.type, e.mode, e.size, e.hash, e.target, e.rdev, e.annot')}) s RETURNING path`,
    subdirCounts: `UPDATE entries SET nlink = ${DIR_LINKS} + (SELECT count(*) FROM entries c INDEXED BY entries_subdirs WHERE c.vault_id = @l0 AND c.parent = entries.path AND c.type = 'd')
      WHERE vault_id = @l0 AND path >= @dlo AND path < @dhi AND type = 'd'`,
    copyVersions: `INSERT INTO versions (vault_id, path, version, op, type, mode, uid, gid, size, hash, target, rdev, ino, nlink, mtime, annot, source, exec_id, detail, at, change_id)
      SELECT vault_id, path, version, @op, type, mode, uid, gid, size, hash, target, rdev, ino, nlink, mtime, annot, @source, @exec,
        json_set(coalesce(@detail, '{}'), '$.from', @src || substr(path, length(@dst) + 1)), @at, @change
      FROM entries WHERE vault_id = @l0 AND path >= @dlo AND path < @dhi AND type != 'x'`,
    removals: each(
      (i) => `INSERT INTO versions (vault_id, path, version, op, source, exec_id, detail, at, change_id)
        SELECT @l0, e.path, e.version + 1, @op, @source, @exec, @detail, @at, @change FROM entries e WHERE ${shownBelow(i)}`,
    ),
    // pushDown, for each direct fork (@fork) without a row of its own: what the vault showed at an
    // old path, and a whiteout at a new one (it showed nothing there).
    forkRows: each(
      (i) => `INSERT OR IGNORE INTO entries (vault_id, ${COLUMNS})
        SELECT @fork, ${COLUMNS.replace(/(\w+)/g, 'e.$1')} FROM entries e WHERE ${shownBelow(i)} RETURNING path`,
    ),
    forkWhiteouts: each(
      (i) => `INSERT OR IGNORE INTO entries (vault_id, ${COLUMNS})
        SELECT @fork, ${REBASED('e.path')}, ${REBASED('e.parent')}, ${WHITEOUT_COLUMNS} FROM entries e WHERE ${shownBelow(i)} RETURNING path`,
    ),
    leaves: each(
      (i) => `INSERT INTO versions (vault_id, path, version, op, source, exec_id, detail, at, change_id)
        SELECT @l0, e.path, e.version + 1, @op, @source, @exec, json_set(coalesce(@detail, '{}'), '$.to', ${REBASED('e.path')}), @at, @change FROM entries e WHERE ${shownBelow(i)}`,
    ),
    // New paths are outside the range read (dst is not within src); a row there is a whiteout, replaced.
    arrives: each(
      (i) => `INSERT OR REPLACE INTO entries (vault_id, ${COLUMNS})
        SELECT @l0, ${REBASED('e.path')}, ${REBASED('e.parent')}, e.type, e.mode, e.uid, e.gid, e.size, e.hash, e.target, e.rdev, e.nlink, e.mtime, e.atime, e.ctime, e.ino,
          ${nextVersion}, e.annot FROM entries e WHERE ${shownBelow(i)} RETURNING path`,
    ),
    arrivals: `INSERT INTO versions (vault_id, path, version, op, type, mode, uid, gid, size, hash, target, rdev, ino, nlink, mtime, annot, source, exec_id, detail, at, change_id)
      SELECT vault_id, path, version, @op, type, mode, uid, gid, size, hash, target, rdev, ino, nlink, mtime, annot, @source, @exec,
        json_set(coalesce(@detail, '{}'), '$.from', @src || substr(path, length(@dst) + 1)), @at, @change
      FROM entries WHERE vault_id = @l0 AND path >= @dlo AND path < @dhi AND type != 'x'`,
    // What the vault showed; a whiteout of its own stays, as one by one only shown paths are visited.
    clears: "DELETE FROM entries WHERE vault_id = @l0 AND path >= @lo AND path < @hi AND type != 'x' RETURNING path",
    // What an ancestor shows at an old path stays hidden (show(): a whiteout where inherited() finds
    // a row). The vault's own rows there are gone by now but its whiteouts, which shownBelow skips.
    whiteouts: each(
      (i) => `INSERT INTO entries (vault_id, ${COLUMNS})
        SELECT @l0, e.path, e.parent, ${WHITEOUT_COLUMNS} FROM entries e
        WHERE ${shownBelow(i)} RETURNING path`,
      1,
    ),
  };
  subtreePlans.set(key, plan);
  return plan;
}

/**
 * The statements of a subtree operation from `src` (to `dst`) and the named parameters they read:
 * the ranges below both, the vault's layers (@l0 …), its history chain (@s0/@u0 …) and the
 * change's columns. Taken after the change's first version, so that its id is known.
 */
function subtreeStatements(store: Store, vault: VaultRow, src: string, dst: string, change: ChangeOptions) {
  const layers = layersOf(vault);
  const chain = historyChain(store, vault);
  const [lo, hi] = descendantRange(src);
  const [dlo, dhi] = descendantRange(dst);
  const params: Record<string, unknown> = {
    src,
    dst,
    lo,
    hi,
    dlo,
    dhi,
    op: change.op,
    source: change.actor.source,
    exec: change.actor.execId ?? null,
    detail: change.detail ? JSON.stringify(change.detail) : null,
    at: now(),
    change: groupedChangeId(store),
    ...chainParams(chain),
  };
  layers.forEach((id, i) => (params[`l${i}`] = id));
  return { plan: subtreePlan(layers.length, chain.length), params };
}

/** Rows a set-wise statement wrote in `layer` (RETURNING path), told to the layer's path list and the row listeners. */
function noteRows(store: Store, layer: number, rows: ReadonlyArray<{ path: string }>): void {
  for (const { path } of rows) {
    noteWritten(store, layer, path);
    rowsChanged(store, layer, path);
  }
}

/** A new path below `dst` is refused when too long, as putEntry refuses it (a recorded one was stored before). */
function checkLongestBelow(store: Store, plan: SubtreePlan, params: Record<string, unknown>, src: string, dst: string, change: ChangeOptions): void {
  if (change.recorded) return;
  const longest = store.stmt<{ path: string }>(plan.longest).get(params);
  if (longest) checkNewPathLength(dst + longest.path.slice(src.length));
}

/**
 * Moves every entry strictly below the directory `src` to the same place below `dst`, a few
 * statements per layer (and per direct fork) over the whole set; the caller has already moved
 * `src` itself (so the change has its id). It writes what putting and removing each
 * entry writes for a move (MovePart `below`; test/integration/setwise-move.test.ts compares them):
 * each keeps its state, inode number, link count and times at its new path, and records its
 * removal (detail.to) and arrival (detail.from) as versions, the arrival numbered after whatever
 * the new path had before (lastVersion); an old path an ancestor's layer shows gets a whiteout, and
 * each direct fork keeps what it showed (pushDown).
 * Usage counters do not change (the same entries leave and arrive) and no quota applies (nothing
 * grows); a new path longer than MAX_NEW_PATH_BYTES is refused as putEntry refuses it. Entry by
 * entry a move cost ~50 µs an entry (2.6 s for 50,000; BENCHMARKS.md, "scale"). Returns how many
 * entries moved.
 */
export function moveBelow(store: Store, vault: VaultRow, src: string, dst: string, change: ChangeOptions): number {
  const { plan, params } = subtreeStatements(store, vault, src, dst, change);
  checkLongestBelow(store, plan, params, src, dst, change);
  for (const fork of directForks(store, vault)) {
    for (const sql of [...plan.forkRows, ...plan.forkWhiteouts]) noteRows(store, fork, store.stmt<{ path: string }>(sql).all({ ...params, fork }));
  }
  for (const sql of plan.leaves) store.stmt(sql).run(params);
  let moved = 0;
  for (const sql of plan.arrives) {
    const rows = store.stmt<{ path: string }>(sql).all(params);
    noteRows(store, vault.id, rows);
    moved += rows.length;
  }
  store.stmt(plan.arrivals).run(params);
  layerPaths(store).removed(vault.id);
  for (const { path } of store.stmt<{ path: string }>(plan.clears).all(params)) rowsChanged(store, vault.id, path);
  for (const sql of plan.whiteouts) noteRows(store, vault.id, store.stmt<{ path: string }>(sql).all(params));
  return moved;
}

/**
 * Copies every entry strictly below the directory `src` to the same place below `dst`, which the
 * caller has just created (a fresh copy: nothing is shown below it), in a vault without quotas: a
 * few statements per layer over the whole set, as moveBelow moves. It writes what putting each
 * entry writes for cp -r (VaultFs.cp entry by entry; setwise-move.test.ts compares them): the
 * entry's type, mode (copiedMode), content, target, device number and tags, a new inode number, the time of
 * the copy, no owner, a version (op and detail from `change`, detail.from the path copied)
 * numbered after the new path's history; directories counted 2 plus their subdirectories, `dst`
 * included (touched once, not once per child); whiteouts for direct forks (pushDown) and the
 * usage counters. A vault with quotas copies entry by entry, where each entry is checked as it
 * comes. Returns how many entries it copied.
 */
export function copyBelow(store: Store, vault: VaultRow, src: string, dst: string, change: ChangeOptions): number {
  const { plan, params } = subtreeStatements(store, vault, src, dst, change);
  checkLongestBelow(store, plan, params, src, dst, change);
  const counts = store.stmt<{ type: string; n: number; bytes: number }>(plan.counts).all(params);
  const total = counts.reduce((sum, c) => sum + c.n, 0);
  if (total === 0) return 0;
  params.ino = takeInos(store, vault.id, total);
  for (const fork of directForks(store, vault)) {
    for (const sql of plan.forkWhiteouts) noteRows(store, fork, store.stmt<{ path: string }>(sql).all({ ...params, fork }));
  }
  noteRows(store, vault.id, store.stmt<{ path: string }>(plan.copies).all(params));
  store.stmt(plan.subdirCounts).run(params);
  store.stmt(plan.copyVersions).run(params);
  countSubtree(store, vault, counts, 1);
  const subdirs = store.stmt<{ n: number }>("SELECT count(*) AS n FROM entries INDEXED BY entries_subdirs WHERE vault_id = ? AND parent = ? AND type = 'd'").get(vault.id, dst)!.n;
  touchDir(store, vault, dst, params.at as number, change, false, subdirs);
  return total;
}

/** A state putNewBelow puts at a path: what a recorded version holds (history.ts stateOf), without times, inode or link count. */
export type NewState = Pick<Entry, 'path' | 'type' | 'mode' | 'uid' | 'gid' | 'size' | 'hash' | 'target' | 'rdev' | 'annot'>;

/**
 * Puts new entries below the directory `dir` at paths the vault does not show, parents first, each
 * parent `dir` or one of them (a revert bringing back what an `rm -r` removed), as putEntry would
 * put each one: a new inode number (in path order), the time now, a link count of 1 or, for a
 * directory, 2 plus its subdirectories among them; a version each; whiteouts for direct forks
 * (pushDown) and the usage counters; but `dir` is touched once, not once per child, and nobody
 * else is (every other parent is new). No quota is checked: the caller puts entry by entry in a
 * vault that has one. 50,000 entries one by one through putEntry took 5.6 s. Returns how many.
 */
export function putNewBelow(store: Store, vault: VaultRow, dir: string, states: readonly NewState[], change: ChangeOptions): number {
  if (states.length === 0) return 0;
  const subdirs = new Map<string, number>();
  for (const s of states) if (s.type === 'd') subdirs.set(dirname(s.path), (subdirs.get(dirname(s.path)) ?? 0) + 1);
  const first = takeInos(store, vault.id, states.length);
  const at = now();
  const forks = directForks(store, vault);
  const counts = new Map<string, { type: string; n: number; bytes: number }>();
  states.forEach((s, i) => {
    const entry: Entry = {
      ...s,
      parent: parentOf(s.path),
      mode: s.mode & 0o7777,
      size: s.type === 'd' ? 0 : s.size,
      nlink: s.type === 'd' ? DIR_LINKS + (subdirs.get(s.path) ?? 0) : 1,
      mtime: at,
      atime: at,
      ctime: at,
      ino: first + i,
      version: lastVersion(store, vault, s.path) + 1,
    };
    pushDown(store, vault, s.path, undefined, forks);
    writeOwn(store, vault.id, entry);
    recordVersion(store, vault, s.path, entry.version, change, entry);
    const c = counts.get(s.type) ?? { type: s.type, n: 0, bytes: 0 };
    counts.set(s.type, { type: s.type, n: c.n + 1, bytes: c.bytes + entry.size });
  });
  countSubtree(store, vault, [...counts.values()], 1);
  if (!change.exact) touchDir(store, vault, dir, at, change, false, subdirs.get(dir) ?? 0);
  return states.length;
}

/**
 * The change id for a version joining the current transaction's change, which already has its
 * first version (null outside a transaction that keeps one). See recordVersion.
 */
function groupedChangeId(store: Store): number | null {
  const tx = store.currentChange();
  if (!tx || tx.id === null) return null;
  if (!tx.grouped) store.stmt(OWN_CHANGE).run(tx.id);
  tx.grouped = true;
  return tx.id;
}

/**
 * Inserts a version row. Every version a write transaction records belongs to one change, whose id
 * is the id of the first of them: the first one names itself, the others copy it.
 */
function recordVersion(store: Store, vault: VaultRow, path: string, version: number, change: ChangeOptions, e: Entry | null): void {
  const tx = store.currentChange();
  // Once per change: nothing is attributed to an exec after it ended, except its undo.
  if (change.actor.execId && !change.undoesExec && (!tx || tx.id === null)) refuseAfterExec(store, change.actor.execId);
  // A change's id is its first version's. A change of one version (most are) is stored without
  // one, NULL meaning "its own change" as for versions older than change ids, which keeps it out
  // of the versions_change index: a page fewer for its commit to write. The first version gets
  // the id when a second one joins the change.
  const changeId = groupedChangeId(store);
  const { lastInsertRowid } = store
    .stmt(INSERT_VERSION)
    .run(
      vault.id,
      path,
      version,
      change.op,
      e?.type ?? null,
      e?.mode ?? null,
      e?.uid ?? null,
      e?.gid ?? null,
      e?.size ?? null,
      e?.hash ?? null,
      e?.target ?? null,
      e?.rdev ?? null,
      e?.ino ?? null,
      e?.nlink ?? null,
      e?.mtime ?? null,
      e?.annot ?? null,
      change.actor.source,
      change.actor.execId ?? null,
      change.detail ? JSON.stringify(change.detail) : null,
      now(),
      changeId,
    );
  if (tx && tx.id === null) tx.id = Number(lastInsertRowid);
}

/**
 * Sets a path's access and modification times (`null` keeps one): touch, tar, cp -a. `ctime` is
 * now unless given (the mount passes the time it already showed the kernel). See changeMetadata.
 */
export function setTimes(store: Store, vault: VaultRow, path: string, atime: number | null, mtime: number | null, change: ChangeOptions, ctime = now()): void {
  const old = getEntry(store, vault, path);
  if (!old) throw new AvfsError('NOT_FOUND', `no such file or directory: ${path}`, { path });
  // Times are the inode's: every name of a hard-linked file shows them (as putEntry's syncLinks does for content).
  const names = old.type !== 'd' && old.nlink > 1 ? namesOfInode(store, vault, old.ino) : [old];
  const known = names.length > 1 ? manyNames(store, vault) : undefined;
  const a = atime === null ? null : representableTime(atime);
  const m = mtime === null ? null : representableTime(mtime);
  for (const e of names.some((n) => n.path === path) ? names : [old, ...names]) {
    changeMetadata(store, vault, e, { ...e, atime: a ?? e.atime, mtime: m ?? e.mtime, ctime }, { ...change, op: 'touch' }, known);
  }
}

/**
 * Whether anything recorded a point of this vault's history at or after change `seq`: a
 * checkpoint, a fork, or the start of a proxy exec. Such a point may need the state as it was.
 */
export function pinnedSince(store: Store, vault: VaultRow, seq: number): boolean {
  return store.stmt(PINNED_SINCE).get({ vault: vault.id, seq }) !== undefined;
}

/** The newest point anything pinned (the max of what PINNED_SINCE compares), each an index lookup. */
const PINNED_UP_TO = `SELECT max(seq) AS seq FROM (SELECT max(seq) AS seq FROM checkpoints WHERE vault_id = @vault
  UNION ALL SELECT max(fork_seq) FROM vaults WHERE parent_id = @vault
  UNION ALL SELECT max(seq_before) FROM execs WHERE vault_id = @vault)`;

const PINNED_SINCE = `SELECT 1 WHERE EXISTS (SELECT 1 FROM checkpoints WHERE vault_id = @vault AND seq >= @seq)
  OR EXISTS (SELECT 1 FROM vaults WHERE parent_id = @vault AND fork_seq >= @seq)
  OR EXISTS (SELECT 1 FROM execs WHERE vault_id = @vault AND seq_before >= @seq)`;

function deleteOwn(store: Store, vaultId: number, path: string): void {
  layerPaths(store).removed(vaultId);
  rowsChanged(store, vaultId, path);
  store.stmt(DELETE_OWN).run(vaultId, path);
}

/** Deletes a vault's own layer. */
export function dropLayer(store: Store, vaultId: number): void {
  layerPaths(store).removed(vaultId);
  rowsChanged(store, vaultId, null);
  store.stmt('DELETE FROM entries WHERE vault_id = ?').run(vaultId);
}

/** Deletes a vault's own history (a vault purged for good: nothing reads through it any more). */
export function dropHistory(store: Store, vaultId: number): void {
  store.stmt('DELETE FROM versions WHERE vault_id = ?').run(vaultId);
}

/** Told of each row of `entries` this connection writes or deletes: its layer and path (null: the whole layer). */
export type RowListener = (layer: number, path: string | null) => void;
const rowListeners = new WeakMap<Store, Set<RowListener>>();

/**
 * Calls `listener` for every row of `entries` this connection writes or deletes from now on (as
 * the statement runs, committed or not), until the returned function is called: what keeps the
 * mount's cache of entries right across its own writes (mount/stored-entries.ts). This module
 * is the only writer of `entries` after migrations.
 */
export function watchRows(store: Store, listener: RowListener): () => void {
  let set = rowListeners.get(store);
  if (!set) rowListeners.set(store, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

function rowsChanged(store: Statements, layer: number, path: string | null): void {
  const set = rowListeners.get(store as Store);
  if (set) for (const listener of set) listener(layer, path);
}

/** The root row of a new vault. */
export function insertRoot(store: Statements, vaultId: number, at: number): void {
  writeOwn(store, vaultId, { ...whiteout('/'), type: 'd', mode: 0o755, nlink: DIR_LINKS, mtime: at, atime: at, ctime: at, ino: 1 });
}
