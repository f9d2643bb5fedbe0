import { isADirectory, notFound } from '../errors.js';
import { descendantRange, normalizePath, rebase } from '../core/paths.js';
import { wholeOption } from '../core/units.js';
import { decodeText, diffTrees, lineDiff, sameContent, summarizeChanges, type ChangeKind, type Hunk, type TreeItem } from '../core/diff.js';
import { readContent } from './blobs.js';
import { checkpointPlan, getCheckpoint } from './checkpoints.js';
import { getEntry, iterateDescendants, listDescendants, type Entry } from './entries.js';
import { findVersion, historyPath, pathVersions, versionBefore, versionNotFound, type PathState, type VersionRecord } from './history.js';
import { lineage, pathsChangedAfter } from './lineage.js';
import type { Store } from './store.js';
import { getVault, type VaultRow } from './vaults.js';
import type { VaultFs } from './vault-fs.js';

/**
 * What `diff` compares: two versions of a path, two paths, or two whole trees (a checkpoint,
 * another vault, the current state). Trees are compared by the pure diffTrees; text content by
 * the pure lineDiff. Binary content (NUL bytes or invalid UTF-8) is reported as differing, and
 * content over MAX_DIFF_BYTES as too large, never loaded for a line diff.
 */

export const MAX_DIFF_BYTES = 8 * 1024 * 1024;

export interface FileDiff {
  /** Where the change is reported: the new side's path, else the old side's (relative to the roots for two directories). */
  path: string;
  old_path: string | null;
  new_path: string | null;
  kind: ChangeKind | 'unchanged';
  old: TreeItem | null;
  new: TreeItem | null;
  content_changed: boolean;
  mode_changed: boolean;
  type_changed: boolean;
  /** Set when a line diff was asked for: */
  binary?: boolean;
  too_large?: boolean;
  additions?: number;
  deletions?: number;
  hunks?: Hunk[];
}

export interface DiffOptions {
  /** Compute line hunks for changed text files. */
  patch?: boolean;
  /** Context lines around each hunk (default 3). */
  context?: number;
  /**
   * Bytes of file text the line diffs of one request may still read (a tree diff's: PATCH_TEXT_BUDGET);
   * a file past it is reported too_large, as one over MAX_DIFF_BYTES is.
   */
  budget?: { left: number };
}

/**
 * The file text one tree diff's patches read at most: past it, files are too_large. The hunks of a
 * patch take several times their text in memory: a patch of 54,000 deleted files (458 MB of JSON)
 * took 3.7 GB, and with a smaller heap ended in an abort with nothing on stdout.
 */
export const PATCH_TEXT_BUDGET = 32 * 1024 * 1024;

const BINARY = Symbol('binary');

/** A side's text for a line diff (diffItems has checked its size against MAX_DIFF_BYTES). */
function textOf(store: Store, item: TreeItem | null): string | typeof BINARY {
  if (!item) return '';
  if (item.type === 'l') return item.target ?? '';
  if (item.type !== 'f' || !item.hash) return '';
  return decodeText(readContent(store, item.hash)) ?? BINARY;
}

/** Compares two states of a file (either may be absent), with a line diff when `patch`. */
export function diffItems(
  store: Store,
  oldPath: string | null,
  oldItem: TreeItem | null,
  newPath: string | null,
  newItem: TreeItem | null,
  options: DiffOptions & { path?: string } = {},
): FileDiff {
  const both = oldItem !== null && newItem !== null;
  const contentChanged = both ? !sameContent(oldItem, newItem) : oldItem !== newItem;
  const modeChanged = both && oldItem.type === newItem.type && oldItem.type !== 'l' && (oldItem.mode & 0o7777) !== (newItem.mode & 0o7777);
  const kind = !oldItem && !newItem ? 'unchanged' : !oldItem ? 'added' : !newItem ? 'deleted' : contentChanged || modeChanged ? 'modified' : 'unchanged';
  const diff: FileDiff = {
    path: options.path ?? newPath ?? oldPath ?? '/',
    old_path: oldItem ? oldPath : null,
    new_path: newItem ? newPath : null,
    kind,
    old: oldItem,
    new: newItem,
    content_changed: contentChanged,
    mode_changed: modeChanged,
    type_changed: both && oldItem.type !== newItem.type,
  };
  if (!options.patch) return diff;
  Object.assign(diff, { binary: false, too_large: false, additions: 0, deletions: 0, hunks: [] });
  // Directories have no lines; a file replaced by a symlink (or back) is a type change, not a text edit.
  const textual = (i: TreeItem | null) => i === null || i.type === 'f' || i.type === 'l';
  if (!contentChanged || !textual(oldItem) || !textual(newItem) || diff.type_changed) return diff;
  // Never loaded: a side over MAX_DIFF_BYTES, and any file once the request's budget is spent.
  if (Math.max(oldItem?.size ?? 0, newItem?.size ?? 0) > MAX_DIFF_BYTES) return Object.assign(diff, { too_large: true });
  if (options.budget) {
    const cost = (oldItem?.size ?? 0) + (newItem?.size ?? 0);
    // Once one file does not fit, none after it does: the patch is whole up to a point, then stops.
    if (cost > options.budget.left) options.budget.left = 0;
    if (options.budget.left === 0) return Object.assign(diff, { too_large: true });
    options.budget.left -= cost;
  }
  const a = textOf(store, oldItem);
  const b = textOf(store, newItem);
  if (a === BINARY || b === BINARY) return Object.assign(diff, { binary: true });
  const lines = lineDiff(a, b, { context: options.context });
  if (!lines) return Object.assign(diff, { too_large: true });
  return Object.assign(diff, lines);
}

const itemOf = (row: { path: string; type: TreeItem['type'] | null; mode: number | null; size: number | null; hash: string | null; target: string | null }): TreeItem | null =>
  row.type === null ? null : { path: row.path, type: row.type, mode: row.mode ?? 0, size: row.size ?? 0, hash: row.hash, target: row.target };

// ---- versions of one path ------------------------------------------------------------------

export interface VersionDiff {
  path: string;
  /** null: the path did not exist before `to_version` (it was created). */
  from_version: number | null;
  to_version: number;
  file: FileDiff;
}

/**
 * Two versions of one path: `to` defaults to the latest (the current state), `from` to the version
 * before `to` (so `diff <path>` shows the latest change).
 */
export function diffVersions(fs: VaultFs, input: string, options: DiffOptions & { from?: number; to?: number } = {}): VersionDiff {
  wholeOption('from', options.from, 1);
  wholeOption('to', options.to, 1);
  return fs.store.read(() => {
    const store = fs.store;
    const vault = fs.row();
    const path = historyPath(fs, vault, input);
    const latest = pathVersions(store, vault, path, 1)[0];
    if (!latest) {
      if (options.from === undefined && options.to === undefined && !fs.exists(path)) throw notFound(path, vault.name);
      throw versionNotFound(store, vault, path, options.to ?? options.from ?? 0);
    }
    const pick = (n: number): VersionRecord => {
      const row = findVersion(store, vault, path, n);
      if (!row) throw versionNotFound(store, vault, path, n);
      return row;
    };
    const to = options.to !== undefined ? pick(options.to) : latest;
    const from = options.from !== undefined ? pick(options.from) : versionBefore(store, vault, path, to.version);
    // Versions are numbered without gaps: none just before a later one was pruned (VERSION_NOT_FOUND,
    // version_pruned, as `revert` says), not a file created there (it showed as "new file"), nor
    // the same as an older one a checkpoint kept (it showed "no differences" against that one).
    if (options.from === undefined && to.version > 1 && from?.version !== to.version - 1) throw versionNotFound(store, vault, path, to.version - 1);
    const file = diffItems(store, path, from ? itemOf(from) : null, path, itemOf(to), { ...options, patch: true });
    return { path, from_version: from?.version ?? null, to_version: to.version, file };
  });
}

// ---- two paths -----------------------------------------------------------------------------

export interface PathsDiff {
  from: string;
  to: string;
  /** True when both are directories: `files` then lists every difference below them. */
  directories: boolean;
  files: FileDiff[];
}

const entryItem = (e: Entry, path = e.path): TreeItem => ({ path, type: e.type, mode: e.mode, size: e.size, hash: e.hash, target: e.target });
/** What a checkpoint says `path` was, as an item (checkpointPlan's states). */
const stateItem = (path: string, s: PathState): TreeItem => ({ path, type: s.type, mode: s.mode, size: s.size, hash: s.hash, target: s.target });

/**
 * Two current paths of the vault (symlinks followed): two files are line-diffed; two
 * directories are compared recursively, paths reported relative to each (`/x` = a/x vs b/x).
 */
export function diffPaths(fs: VaultFs, a: string, b: string, options: DiffOptions = {}): PathsDiff {
  return fs.store.read(() => {
    const ea = fs.stat(a);
    const eb = fs.stat(b);
    if (ea.type === 'd' && eb.type === 'd') {
      const vault = fs.row();
      const rel = (root: string) => (e: Entry) => entryItem(e, rebase(e.path, root, '/'));
      const left = listDescendants(fs.store, vault, ea.path).map(rel(ea.path));
      const right = listDescendants(fs.store, vault, eb.path).map(rel(eb.path));
      const files = diffTrees(left, right).map((c) =>
        diffItems(fs.store, rebase(c.path, '/', ea.path), c.old, rebase(c.path, '/', eb.path), c.new, { ...options, path: c.path }),
      );
      return { from: ea.path, to: eb.path, directories: true, files };
    }
    if (ea.type === 'd') throw isADirectory(ea.path);
    if (eb.type === 'd') throw isADirectory(eb.path);
    const file = diffItems(fs.store, ea.path, entryItem(ea), eb.path, entryItem(eb), { ...options, patch: true });
    return { from: ea.path, to: eb.path, directories: false, files: file.kind === 'unchanged' ? [] : [file] };
  });
}

// ---- whole trees ---------------------------------------------------------------------------

/** One side of a tree diff: a checkpoint of this vault, another vault, or this vault as it is now. */
export type TreeSource = { checkpoint: string } | { vault: string } | { current: true };

export interface TreeDiff {
  /** `checkpoint:<name>`, `vault:<name>` */
  from: string;
  to: string;
  under: string;
  files: FileDiff[];
  summary: { added: number; modified: number; deleted: number; additions?: number; deletions?: number };
}

const vaultOf = (fs: VaultFs, source: TreeSource): VaultRow | null => ('vault' in source ? getVault(fs.store, source.vault) : 'current' in source ? fs.row() : null);

/**
 * Two vaults that share history differ only at paths either changed since the point where their
 * histories meet (lineage.ts): the items of both trees at just those paths, instead of every
 * entry of each. Null when one side is a checkpoint or the vaults are unrelated.
 */
function relatedItems(fs: VaultFs, from: TreeSource, to: TreeSource, under: string): [TreeItem[], TreeItem[]] | null {
  const a = vaultOf(fs, from);
  const b = vaultOf(fs, to);
  if (!a || !b) return null;
  let forkSeq: number;
  try {
    forkSeq = lineage(fs.store, b, a).forkSeq;
  } catch (err) {
    if ((err as { code?: string }).code === 'UNRELATED_VAULTS') return null;
    throw err;
  }
  const paths = new Set([...pathsChangedAfter(fs.store, a, forkSeq, under), ...pathsChangedAfter(fs.store, b, forkSeq, under)]);
  paths.delete('/');
  const items = (vault: VaultRow) => [...paths].flatMap((p) => {
    const e = getEntry(fs.store, vault, p);
    return e ? [entryItem(e)] : [];
  });
  return [items(a), items(b)];
}

/**
 * Checkpoints of this vault and its current state differ only at paths changed since the older
 * checkpoint (a checkpoint is a point in the vault's change sequence: checkpointPlan): the items
 * of both sides at just those paths, so "what changed since my checkpoint" costs what changed,
 * not the vault's size. Null when a side is another vault.
 */
function checkpointItems(fs: VaultFs, from: TreeSource, to: TreeSource, under: string): [TreeItem[], TreeItem[]] | null {
  if ('vault' in from || 'vault' in to) return null;
  const store = fs.store;
  const vault = fs.row();
  const planOf = (source: TreeSource) => ('checkpoint' in source ? checkpointPlan(store, vault, getCheckpoint(store, vault, source.checkpoint), under) : null);
  const plans = [planOf(from), planOf(to)];
  const paths = new Set(plans.flatMap((plan) => (plan ? [...plan.keys()] : [])));
  paths.delete('/');
  // A path a checkpoint's plan leaves out is as it is now.
  const items = (plan: ReturnType<typeof planOf>) =>
    [...paths].flatMap((path): TreeItem[] => {
      if (plan?.has(path)) {
        const state = plan.get(path);
        return state ? [stateItem(path, state)] : [];
      }
      const e = getEntry(store, vault, path);
      return e ? [entryItem(e)] : [];
    });
  return [items(plans[0]!), items(plans[1]!)];
}

function treeOf(fs: VaultFs, source: TreeSource, under: string): { label: string; items: TreeItem[] } {
  const store = fs.store;
  const current = (vault: VaultRow) => {
    const self = getEntry(store, vault, under);
    return [...(self ? [self] : []), ...iterateDescendants(store, vault, under)].filter((e) => e.path !== '/').map((e) => entryItem(e));
  };
  if ('checkpoint' in source) {
    const vault = fs.row();
    const cp = getCheckpoint(store, vault, source.checkpoint);
    const items = new Map(current(vault).map((i) => [i.path, i]));
    for (const [path, state] of checkpointPlan(store, vault, cp, under)) {
      if (path === '/') continue;
      if (state) items.set(path, stateItem(path, state));
      else items.delete(path);
    }
    return { label: `checkpoint:${cp.name}`, items: [...items.values()].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)) };
  }
  const vault = 'vault' in source ? getVault(store, source.vault) : fs.row();
  return { label: `vault:${vault.name}`, items: current(vault) };
}

/** Everything that differs between two trees (optionally only at and below `under`): added, modified, deleted, with sizes. */
export function diffTreeSources(fs: VaultFs, from: TreeSource, to: TreeSource, options: DiffOptions & { under?: string } = {}): TreeDiff {
  return fs.store.read(() => {
    const under = normalizePath(options.under ?? '/');
    const label = (source: TreeSource) => ('checkpoint' in source ? `checkpoint:${getCheckpoint(fs.store, fs.row(), source.checkpoint).name}` : `vault:${vaultOf(fs, source)!.name}`);
    const related = checkpointItems(fs, from, to, under) ?? relatedItems(fs, from, to, under);
    const a = related ? { label: label(from), items: related[0] } : treeOf(fs, from, under);
    const b = related ? { label: label(to), items: related[1] } : treeOf(fs, to, under);
    const budget = { left: options.budget?.left ?? PATCH_TEXT_BUDGET };
    const files = diffTrees(a.items, b.items).map((c) => diffItems(fs.store, c.path, c.old, c.path, c.new, { ...options, budget }));
    const summary: TreeDiff['summary'] = summarizeChanges(files);
    if (options.patch) {
      summary.additions = files.reduce((n, f) => n + (f.additions ?? 0), 0);
      summary.deletions = files.reduce((n, f) => n + (f.deletions ?? 0), 0);
    }
    return { from: a.label, to: b.label, under, files, summary };
  });
}

