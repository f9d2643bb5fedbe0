import { AvfsError } from '../errors.js';
import { isWellFormed } from '../core/utf8.js';
import { descendantRange, dirname, isWithin } from '../core/paths.js';
import { audit } from './audit.js';
import { isStored } from './blobs.js';
import { getEntry, hasChildren, iterateDescendants, namesOfInode, putEntry, recountDirLinks, removeEntry, setLinkCount, setNameLinkCount, setTimes, type ChangeOptions, type Entry, type EntryState } from './entries.js';
import { usageChange, vaultUsage } from './usage.js';
import { applyState, historyPath, joinNames, pathsChangedSince, sameState, stateAt, type PathState, type Writer } from './history.js';
import { now, type Store } from './store.js';
import { currentSeq, validateName, type VaultRow } from './vaults.js';
import type { VaultFs } from './vault-fs.js';

/**
 * Checkpoints name the exact state of a whole vault. A checkpoint is a pointer into the change
 * sequence (ARCHITECTURE.md, "Checkpoints are pointers"): saving one writes one row, whatever the
 * size of the vault, and the state it names is what history says each path was at that point.
 * Restoring one looks only at the paths the vault changed since (its own versions after the
 * pointer), in one transaction, records a version (op `restore`) for each path it changes, and
 * first saves the state it replaces as another checkpoint, so a restore is itself undoable.
 *
 * Checkpoints saved before schema 8 copied every entry row (checkpoint_entries, `materialized`);
 * they are restored from those rows, comparing the whole tree.
 */

export interface CheckpointRow {
  id: number;
  vault_id: number;
  name: string;
  message: string | null;
  /** The global change sequence when it was saved. */
  seq: number;
  /** Regular files and their total logical size, directories, symlinks and special files at that point. */
  files: number;
  bytes: number;
  directories: number;
  symlinks: number;
  specials: number;
  source: string;
  exec_id: string | null;
  created_at: number;
  /** 1 for a checkpoint saved before schema 8, whose entry rows are copied in checkpoint_entries. */
  materialized: number;
}

/** @deprecated the same as CheckpointRow (every row carries its counts). */
export type CheckpointInfo = CheckpointRow;


const SELECT = 'SELECT * FROM checkpoints WHERE vault_id = ? AND name = ?';
const INSERT = `INSERT INTO checkpoints (vault_id, name, message, seq, files, bytes, directories, symlinks, specials, source, exec_id, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Validates a user-given checkpoint name (the rule of vault names). */
export function validateCheckpointName(name: string): string {
  return validateName('checkpoint', name);
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

/** Saves the vault's current state inside the caller's transaction: one row. */
function saveIn(fs: VaultFs, vault: VaultRow, name: string, message: string | null): CheckpointRow {
  const store = fs.store;
  if (findCheckpoint(store, vault, name)) {
    throw new AvfsError('ALREADY_EXISTS', `checkpoint ${name} already exists in vault ${vault.name}`, { checkpoint: name, vault: vault.name });
  }
  const { lastInsertRowid } = store
    .stmt(INSERT)
    .run(vault.id, name, message, currentSeq(store), vault.files, vault.bytes, vault.directories, vault.symlinks, vault.specials, fs.actor.source, fs.actor.execId ?? null, now());
  return store.stmt<CheckpointRow>('SELECT * FROM checkpoints WHERE id = ?').get(Number(lastInsertRowid))!;
}

/** Saves the vault's current state as checkpoint `name` (an automatic name when omitted). */
export function saveCheckpoint(fs: VaultFs, name?: string | null, message?: string | null): CheckpointRow {
  // An empty name is a name (refused, as restore, info and delete refuse it), not "choose one".
  if (name !== undefined && name !== null) validateCheckpointName(name);
  if (message !== undefined && message !== null && (typeof message !== 'string' || !isWellFormed(message))) {
    throw new AvfsError('INVALID_ARGUMENT', 'a checkpoint message must be text (a string of valid Unicode)', { option: 'message' });
  }
  return fs.store.mutate(() => {
    const vault = fs.row();
    const row = saveIn(fs, vault, name ?? autoCheckpointName(fs.store, vault), message ?? null);
    audit(fs.store, fs.actor, 'checkpoint.save', fs.name, { checkpoint: row.name, files: row.files });
    return row;
  });
}

/** Checkpoints of the vault, newest first. */
export function listCheckpoints(fs: VaultFs): CheckpointRow[] {
  return fs.store.read(() => fs.store.stmt<CheckpointRow>('SELECT * FROM checkpoints WHERE vault_id = ? ORDER BY id DESC').all(fs.row().id));
}

export function checkpointInfo(fs: VaultFs, name: string): CheckpointRow {
  return fs.store.read(() => getCheckpoint(fs.store, fs.row(), name));
}

export function deleteCheckpoint(fs: VaultFs, name: string): CheckpointRow {
  return fs.store.mutate(() => {
    const row = getCheckpoint(fs.store, fs.row(), name);
    deleteCheckpointRows(fs.store, [row.id]);
    audit(fs.store, fs.actor, 'checkpoint.delete', fs.name, { checkpoint: name });
    return row;
  });
}

/** Deletes checkpoints with the entry rows of materialized ones (checkpoints owns both tables). */
export function deleteCheckpointRows(store: Store, ids: number[]): void {
  const json = JSON.stringify(ids);
  store.stmt('DELETE FROM checkpoint_entries WHERE checkpoint_id IN (SELECT value FROM json_each(?))').run(json);
  store.stmt('DELETE FROM checkpoints WHERE id IN (SELECT value FROM json_each(?))').run(json);
}

// ---- the state a checkpoint names ----------------------------------------------------------

const CP_COLUMNS = 'path, type, mode, size, hash, target, mtime, ino, annot';
const CP_ENTRY = `SELECT ${CP_COLUMNS} FROM checkpoint_entries WHERE checkpoint_id = ? AND path = ?`;
const CP_SUBTREE = `SELECT ${CP_COLUMNS} FROM checkpoint_entries WHERE checkpoint_id = ? AND (path = ? OR (path >= ? AND path < ?)) ORDER BY path`;

type CpRow = PathState & { path: string; mtime: number; ino: number; annot: string | null };
const cpState = ({ path: _path, ...state }: CpRow): PathState => state;

/**
 * What a checkpoint says every path that may differ from the vault's current tree should be, at
 * and below `under` (null = absent). For a pointer checkpoint these are the paths the vault
 * changed since, with their state at the pointer; for a materialized one, every path either side.
 */
export function checkpointPlan(store: Store, vault: VaultRow, cp: CheckpointRow, under = '/'): Map<string, PathState | null> {
  const plan = new Map<string, PathState | null>();
  if (!cp.materialized) {
    for (const path of pathsChangedSince(store, vault, cp.seq, under)) plan.set(path, stateAt(store, vault, path, cp.seq));
    return plan;
  }
  const [lo, hi] = descendantRange(under);
  for (const row of store.stmt<CpRow>(CP_SUBTREE).all(cp.id, under, lo, hi)) plan.set(row.path, cpState(row));
  const self = getEntry(store, vault, under);
  for (const e of [...(self ? [self] : []), ...iterateDescendants(store, vault, under)]) if (!plan.has(e.path)) plan.set(e.path, null);
  return plan;
}

/** What a checkpoint says one path was (null: absent). */
export function checkpointState(store: Store, vault: VaultRow, cp: CheckpointRow, path: string): PathState | null {
  if (!cp.materialized) return stateAt(store, vault, path, cp.seq);
  const row = store.stmt<CpRow>(CP_ENTRY).get(cp.id, path);
  return row ? cpState(row) : null;
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

/** The plan's paths that differ from what the vault shows now, with the entry each has now. */
function differences(store: Store, vault: VaultRow, plan: Map<string, PathState | null>): Array<{ path: string; want: PathState | null; now: Entry | undefined }> {
  const out = [];
  for (const [path, want] of plan) {
    const current = getEntry(store, vault, path);
    if (!want && !current) continue;
    if (want && current && sameState(current, want) && (want.mtime ?? current.mtime) === current.mtime && (want.nlink ?? 1) === current.nlink) continue;
    out.push({ path, want, now: current });
  }
  return out;
}

/**
 * Makes the vault exactly the checkpoint's state, in one transaction: each path that differs is
 * removed (deepest first) or put back (parents first) with its recorded times, owner, tags and,
 * for hard links, its shared inode; each recorded as a version with op `restore`. Before changing
 * anything it saves the current state as checkpoint `before-restore-…` (returned as
 * `saved_before`), so restoring that one brings the replaced state back. A restore that would
 * take the vault further over a quota, or needs content that is no longer stored, is refused and
 * changes nothing.
 */
export function restoreCheckpoint(
  fs: VaultFs,
  name: string,
  options: { saveBefore?: boolean; /** told (paths applied, paths to apply) as the restore goes */ progress?: (done: number, total: number) => void } = {},
): RestoreResult {
  const store = fs.store;
  return store.mutate(() => {
    const vault = fs.row();
    const cp = getCheckpoint(store, vault, name);
    const diffs = differences(store, vault, checkpointPlan(store, vault, cp));
    const result: RestoreResult = { checkpoint: cp.name, saved_before: null, added: 0, modified: 0, deleted: 0, annotations_changed: 0 };
    for (const d of diffs) {
      if (!d.now) result.added++;
      else if (!d.want) result.deleted++;
      // A path whose only difference is its times or link count (a directory whose mtime moved as
      // a name in it came and went, a file whose hard link came back) gets them back but is not a
      // modification worth reporting.
      else if (!onlyTimesOrCountDiffer(d.now, d.want)) result.modified++;
      if ((d.now?.annot ?? null) !== (d.want?.annot ?? null)) result.annotations_changed++;
    }
    if (diffs.length === 0) return result;
    checkRestore(store, vault, cp, diffs);
    if (options.saveBefore !== false) {
      result.saved_before = saveIn(fs, vault, autoCheckpointName(store, vault, 'before-restore'), `state before restoring ${cp.name}`).name;
    }
    const change: ChangeOptions = { op: 'restore', actor: fs.actor, detail: { checkpoint: cp.name, saved_before: result.saved_before }, exact: true };
    applyPlan(store, vault, diffs, change, options.progress);
    audit(store, fs.actor, 'checkpoint.restore', fs.name, {
      checkpoint: cp.name,
      saved_before: result.saved_before,
      added: result.added,
      modified: result.modified,
      deleted: result.deleted,
    });
    return result;
  });
}

/**
 * Whether putting `want` at a path showing `now` changes its times or link count only: the same
 * state and inode number. Those come back as `touch` rows, as a link, an unlink or a name made in
 * a directory records them: not a change of the path that log, revert and undo would show or step
 * back over (restoring a name's hard link must not make `revert` of the other name undo nothing).
 * Anything more is recorded as a version (op restore) and reported as a modification; an inode
 * number alone counts (a file a revert brought back got a new one, which the restore puts back,
 * as `ls -i` shows).
 */
function onlyTimesOrCountDiffer(now: Entry, want: PathState): boolean {
  return sameState(now, want) && (want.ino ?? now.ino) === now.ino;
}

/**
 * Applies exact states: removals deepest first (a directory is empty when it goes), then the
 * states to put, parents first, each with the inode number and link count it had. That reuses no
 * number wrongly: a path unchanged since the checkpoint still holds the number it held then, and
 * every changed one gets its number from then back, so the inode numbers end as they were.
 * (Versions recorded before avfs kept inode numbers have none: such a path keeps its own or gets a
 * new one.)
 */
export function applyPlan(
  store: Store,
  vault: VaultRow,
  diffs: Array<{ path: string; want: PathState | null; now: Entry | undefined }>,
  change: ChangeOptions,
  progress?: (done: number, total: number) => void,
): void {
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  change = { ...change, planned: new Set(diffs.map((d) => d.path)) };
  const removals = diffs.filter((d) => d.now && (!d.want || (d.now.type === 'd') !== (d.want.type === 'd'))).sort(byPath).reverse();
  const puts = diffs.filter((x) => x.want).sort(byPath);
  const total = removals.length + puts.length;
  let done = 0;
  for (const d of removals) {
    const current = getEntry(store, vault, d.path);
    // A name that changes type is replaced by its put, in one version (a removal first showed a
    // deletion it never had): a file at once, a directory once what it held is gone (deeper first).
    const replaced = d.want && current && (current.type !== 'd' || !hasChildren(store, vault, d.path));
    if (current && !replaced) removeEntry(store, vault, d.path, change);
    progress?.(++done, total);
  }
  for (const d of puts) {
    const want = d.want!;
    const current = getEntry(store, vault, d.path);
    if (current && d.now && onlyTimesOrCountDiffer(current, want)) {
      // Only its times or count differ: they come back as touch rows. A directory's count is its
      // subdirectories', put right below once they are.
      setTimes(store, vault, d.path, null, want.mtime ?? current.mtime, change);
      if (want.type !== 'd' && (want.nlink ?? 1) !== current.nlink) setNameLinkCount(store, vault, d.path, want.nlink ?? 1, change);
      progress?.(++done, total);
      continue;
    }
    const state: EntryState = {
      ...want,
      size: want.type === 'd' ? 0 : want.size,
      uid: want.uid ?? null,
      gid: want.gid ?? null,
      annot: want.annot ?? null,
      ino: want.ino ?? current?.ino,
      nlink: want.nlink ?? 1,
    };
    putEntry(store, vault, d.path, state, change);
    progress?.(++done, total);
  }
  // Each directory that gained or lost a subdirectory gets the count of what it now holds.
  const parents = new Set(diffs.filter((d) => (d.now?.type === 'd') !== (d.want?.type === 'd')).map((d) => dirname(d.path)));
  for (const dir of parents) recountDirLinks(store, vault, dir, change);
  // A name removed or replaced lowered the count of its group's other names, which the plan may
  // leave as they are (their state was already right): each such group gets the count of the
  // names it has now.
  // So does a name that stays in its group with another count than the group has (a merge undo
  // puts back a file that a name outside the plan was linked to since).
  const regrouped = (d: (typeof diffs)[number]) => !d.want || d.want.ino !== d.now!.ino || (d.want.type !== 'd' && (d.want.nlink ?? 1) !== d.now!.nlink);
  const groups = new Set(diffs.filter((d) => d.now && d.now.type !== 'd' && d.now.nlink > 1 && regrouped(d)).map((d) => d.now!.ino));
  for (const ino of groups) recountLinks(store, vault, ino, change, true);
  // A name put back into a group joins the names that hold its inode now, which may be more than
  // the plan knows (one linked since, which a merge undo leaves): the group, found by the links
  // index (every name of it counts more than one), gets the count of its names.
  const joined = diffs.filter((d) => d.want && d.want.type !== 'd' && (d.want.nlink ?? 1) > 1 && d.want.ino !== undefined).map((d) => d.want!.ino!);
  for (const ino of new Set(joined)) if (!groups.has(ino)) recountLinks(store, vault, ino, change, false);
}

/**
 * Gives every name of inode `ino` the count of its names: with `anyCount`, by a scan of the
 * vault's entries (only for the few groups a plan broke); else by the links index.
 */
function recountLinks(store: Store, vault: VaultRow, ino: number, change: ChangeOptions, anyCount: boolean): void {
  for (;;) {
    const names = namesOfInode(store, vault, ino, anyCount);
    const wrong = names.find((name) => name.nlink !== names.length);
    if (!wrong) return;
    setLinkCount(store, vault, ino, names.length, change, wrong);
  }
}

/** Refuses a restore (changing nothing) that needs missing content or grows the vault past a quota. */
function checkRestore(store: Store, vault: VaultRow, cp: CheckpointRow, diffs: Array<{ path: string; want: PathState | null; now: Entry | undefined }>): void {
  for (const d of diffs) {
    if (d.want?.type === 'f' && d.want.hash && !isStored(store, d.want.hash)) {
      throw new AvfsError('CHECKPOINT_NOT_FOUND', `checkpoint ${cp.name} refers to content that is no longer stored (${d.path})`, {
        checkpoint: cp.name,
        path: d.path,
        hash: d.want.hash,
        reason: 'content_pruned',
      });
    }
  }
  if (vault.max_bytes === null && vault.max_files === null && vault.max_file_size === null) return;
  const usage = vaultUsage(vault);
  let bytes = usage.bytes;
  let entries = usage.entries;
  const refuse = (limit: string, max: number, wanted: number, path = '/') =>
    new AvfsError('QUOTA_EXCEEDED', `quota exceeded in vault ${vault.name}: ${limit} is ${max}, restoring ${cp.name} needs ${wanted}`, {
      vault: vault.name,
      path,
      limit,
      max,
      wanted,
      checkpoint: cp.name,
    });
  for (const d of diffs) {
    if (d.want?.type === 'f' && vault.max_file_size !== null && d.want.size > vault.max_file_size) throw refuse('max_file_size', vault.max_file_size, d.want.size, d.path);
    const change = usageChange(d.now, d.want);
    bytes += change.bytes;
    entries += change.entries;
  }
  if (vault.max_bytes !== null && bytes > vault.max_bytes && bytes > usage.bytes) throw refuse('max_bytes', vault.max_bytes, bytes);
  if (vault.max_files !== null && entries > vault.max_files && entries > usage.entries) throw refuse('max_files', vault.max_files, entries);
}

// ---- single paths from a checkpoint --------------------------------------------------------

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
    const path = historyPath(fs, vault, input);
    const w: Writer = { store, vault, actor: fs.actor };
    const change = { op: 'checkout', actor: fs.actor, detail: { checkpoint: cp.name } };
    const own = checkpointState(store, vault, cp, path);
    let changed = 0;
    if (options.recursive && own?.type === 'd') {
      const plan = checkpointPlan(store, vault, cp, path);
      const below = [...plan].filter(([p]) => p !== path && isWithin(p, path)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      // Extra entries go first (deepest first), then the checkpoint's, parents before children.
      for (const [p] of below.filter(([, s]) => s === null).reverse()) if (getEntry(store, vault, p)) changed += applyState(w, p, null, change, true);
      changed += applyState(w, path, own, change, true);
      for (const [p, state] of below) if (state) changed += applyState(w, p, state, change, true);
      // Each name came back as a file of its own: the checkpoint's link groups are made again.
      const groups = new Map<number, string[]>();
      for (const [p, state] of below) if (state && state.type !== 'd' && (state.nlink ?? 1) > 1 && state.ino != null) groups.set(state.ino, [...(groups.get(state.ino) ?? []), p]);
      for (const names of groups.values()) if (names.length > 1) changed += joinNames(w, names, change);
    } else {
      changed += applyState(w, path, own, change, !!options.recursive);
    }
    if (changed > 0) audit(store, fs.actor, 'checkout', fs.name, { path, checkpoint: cp.name, changed });
    return { path, checkpoint: cp.name, changed: changed > 0, changed_paths: changed, entry: getEntry(store, vault, path) ?? null };
  });
}
