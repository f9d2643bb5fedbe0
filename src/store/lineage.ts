import { AvfsError } from '../errors.js';
import type { MergeState, PathTriple } from '../core/merge-tree.js';
import { descendantRange, dirname } from '../core/paths.js';
import { entriesWithHash, getEntry, iterateDescendants, type Entry } from './entries.js';
import { stateAt, type PathState } from './history.js';
import type { Store } from './store.js';
import type { Progress } from './transfer.js';
import { historyChain, vaultById, type HistorySegment, type VaultRow } from './vaults.js';

/**
 * What two vaults share: the point of history both descend from, found through the fork tree and
 * the merges recorded between them (table `merges`, owned here), and the paths where they can
 * differ from it. This is the tree-comparison core of `diff --vault`, `vault merge` and (with a
 * host directory as one side) `sync`: it looks only at paths changed since the shared point, so
 * comparing a fork with 1,000 changes in a 100,000-file vault reads about 1,000 paths, not 100,000.
 *
 * A vault's state at change sequence s is its parent's state at s while s is at or before its fork
 * point (vaults.ts historyChain). Two vaults whose chains meet in vault C, at fork points u and v,
 * both held C's state at min(u, v): that is their fork-tree base. A recorded merge of S into T at
 * seq m says T (after the merge) contains S's state at m, so S@m is a later base for any pair whose
 * one side reads through S up to m and the other through T past the merge.
 */

export interface MergeRecord {
  id: number;
  source_id: number;
  target_id: number;
  base_vault_id: number;
  base_seq: number;
  /** The change sequence just before the merge wrote: source@seq is what it merged. */
  seq: number;
  /** The last change the merge wrote (its own versions are the target's in (seq, end_seq]). */
  end_seq: number;
  checkpoint: string | null;
  strategy: string;
  changed: number;
  conflicts: number;
  source: string;
  created_at: number;
  undone_at: number | null;
  /** The last change the merge's undo wrote (schema 19), null while it is not undone (or was undone with no version left to date it). */
  undone_seq: number | null;
}

export interface Lineage {
  /** The base: `vault`'s state at `seq` (both sides descend from it). */
  base: { vault: VaultRow; seq: number };
  /** The recorded merge that gave the base, or null for the fork tree's point. */
  merge: MergeRecord | null;
  /** Where the two chains meet in the fork tree (every difference between the sides is a change of either after it). */
  forkSeq: number;
  /**
   * The sequence after which the sides' changes must be read to find every path where a merge of
   * theirs into ours has something to do: the recorded merge's own point when it merged this same
   * pair in this direction, else forkSeq.
   */
  since: number;
  /**
   * Where a merge of theirs into ours reads ours' changes from: after the recorded merge's own
   * writes when it merged this pair in this direction (they are its result, and only a later
   * change on either side makes work of such a path), else `since`. Without it a second merge
   * looked again at everything the first one wrote (60k paths for 37 new files).
   */
  oursSince: number;
}

const MERGES_BETWEEN = `SELECT * FROM merges WHERE undone_at IS NULL AND source_id IN (SELECT value FROM json_each(?)) AND target_id IN (SELECT value FROM json_each(?))
  ORDER BY seq DESC`;

/** Merges undone since, into a vault of either chain. */
const UNDONE_INTO = 'SELECT * FROM merges WHERE undone_seq IS NOT NULL AND target_id IN (SELECT value FROM json_each(?))';

/** The chain's segments by vault id: a vault's state at s ≤ upTo is that segment's vault's state at s. */
const reach = (chain: HistorySegment[]) => new Map(chain.map((s) => [s.vaultId, s.upTo]));

/** The base and the change windows for merging (or diffing) `theirs` into `ours`; UNRELATED_VAULTS when they share nothing. */
export function lineage(store: Store, ours: VaultRow, theirs: VaultRow): Lineage {
  const oursChain = reach(historyChain(store, ours));
  const theirsChain = reach(historyChain(store, theirs));
  // The first vault of theirs' chain that is in ours' too is where the chains meet.
  const meet = [...theirsChain].find(([id]) => oursChain.has(id));
  if (!meet) {
    throw new AvfsError('UNRELATED_VAULTS', `vaults ${ours.name} and ${theirs.name} share no history (neither descends from the other or from a common vault)`, {
      vaults: [ours.name, theirs.name],
    });
  }
  const forkSeq = Math.min(meet[1], oursChain.get(meet[0])!);
  const merge = latestMerge(store, oursChain, theirsChain);
  if (!merge || merge.seq <= forkSeq) return { base: { vault: vaultById(store, meet[0])!, seq: forkSeq }, merge: null, forkSeq, since: forkSeq, oursSince: forkSeq };
  const direct = merge.source_id === theirs.id && merge.target_id === ours.id;
  return { base: { vault: vaultById(store, merge.source_id)!, seq: merge.seq }, merge, forkSeq, since: direct ? merge.seq : forkSeq, oursSince: direct ? merge.end_seq : forkSeq };
}

/**
 * The newest merge (not undone) whose source one side reads up to its point and whose target the
 * other reads past it, and whose source did not hold then what a merge undone since had brought
 * it. Such a merge passed the undone one's work on (merge try into main, main into try, then undo
 * the first): as a base it would make the work look shared, and the undo look like a deletion to
 * keep, so merging try into main again brought nothing and merging main into try deleted try's own
 * files. Past it the base is an older merge, or the fork point, as `--undo` promises (README).
 */
function latestMerge(store: Store, a: Map<number, number>, b: Map<number, number>): MergeRecord | null {
  const ids = (m: Map<number, number>) => JSON.stringify([...m.keys()]);
  const undone = store.stmt<MergeRecord>(UNDONE_INTO).all(JSON.stringify([...a.keys(), ...b.keys()]));
  // m's source read u's work (u's target is m's source or an ancestor it reads past u's end), before
  // u's undo, and the side m's source is on sees that undo (a vault forked before it does not).
  const passedOnUndone = (m: MergeRecord, from: Map<number, number>, chain: number[]) =>
    undone.some((u) => {
      const reach = from.get(u.target_id);
      return reach !== undefined && chain.indexOf(u.target_id) >= chain.indexOf(m.source_id) && u.end_seq <= Math.min(m.seq, reach) && m.seq < u.undone_seq! && u.undone_seq! <= reach;
    });
  const mergesInto = (from: Map<number, number>, into: Map<number, number>) => {
    const chain = [...from.keys()];
    return store
      .stmt<MergeRecord>(MERGES_BETWEEN)
      .all(ids(from), ids(into))
      .filter((m) => m.seq <= from.get(m.source_id)! && m.end_seq <= into.get(m.target_id)! && !passedOnUndone(m, from, chain));
  };
  const rows = [...mergesInto(a, b), ...mergesInto(b, a)];
  // Two merges at one point (the first wrote nothing, so the next began at the same change): the later one knows more.
  return rows.sort((x, y) => y.seq - x.seq || y.id - x.id)[0] ?? null;
}

// ---- paths that changed --------------------------------------------------------------------

const CHANGED_IN = `SELECT DISTINCT path FROM versions WHERE vault_id = ? AND id > ? AND id <= ? AND (path = ? OR (path >= ? AND path < ?))`;

/**
 * Paths at or below `under` whose state in `vault` may differ from its state at `seq`: what the
 * vault and each ancestor it reads through (up to its fork point) changed after `seq`. An index
 * range over each vault's versions after `seq`: O(changes), whatever the size of the tree.
 */
export function pathsChangedAfter(store: Store, vault: VaultRow, seq: number, under = '/', upTo = Number.MAX_SAFE_INTEGER): Set<string> {
  const [lo, hi] = descendantRange(under);
  const out = new Set<string>();
  for (const seg of historyChain(store, vault)) {
    const top = Math.min(seg.upTo, upTo);
    if (top <= seq) break; // older segments end earlier still
    for (const { path } of store.stmt<{ path: string }>(CHANGED_IN).all(seg.vaultId, seq, top, under, lo, hi)) out.add(path);
  }
  return out;
}

// ---- states for a merge --------------------------------------------------------------------

/** An entry or recorded state as a merge compares it (times and inode numbers left out). */
export function mergeState(e: Entry | PathState | null | undefined): MergeState | null {
  if (!e) return null;
  return { type: e.type, mode: e.mode & 0o7777, size: e.type === 'd' ? 0 : e.size, hash: e.hash, target: e.target, uid: e.uid ?? null, gid: e.gid ?? null, annot: e.annot ?? null };
}

/** Where a merge reads each side's states. */
export interface TripleSource {
  base(path: string): MergeState | null;
  ours(path: string): MergeState | null;
  theirs(path: string): MergeState | null;
  /** Paths strictly below a directory of one side (to complete a subtree that ends deleted or replaced). */
  below(side: 'ours' | 'theirs', dir: string): Iterable<string>;
  /** Paths of one side holding this content (where a file that side deleted may have moved). */
  withHash(side: 'ours' | 'theirs', hash: string): Iterable<string>;
}

/** Reads the three states of two related vaults. */
export function vaultTriples(store: Store, ours: VaultRow, theirs: VaultRow, lin: Lineage): TripleSource {
  return {
    base: (p) => mergeState(stateAt(store, lin.base.vault, p, lin.base.seq)),
    ours: (p) => mergeState(getEntry(store, ours, p)),
    theirs: (p) => mergeState(getEntry(store, theirs, p)),
    below: function* (side, dir) {
      for (const e of iterateDescendants(store, side === 'ours' ? ours : theirs, dir)) yield e.path;
    },
    withHash: (side, hash) => entriesWithHash(store, side === 'ours' ? ours : theirs, hash).map((e) => e.path),
  };
}

/**
 * The triples a merge needs: every path in `changed`, every ancestor of one (a directory a
 * change lies in); where one side has a directory that the other deleted or replaced, that side's
 * whole subtree there (the merge may have to remove or keep all of it); and where a side deleted
 * a file of the base, that side's paths with the same content (it may have moved it before the
 * last merge, which the changes since do not show). `root` is never removed, so it is only
 * included when changed itself. `progress` hears (paths compared, paths known so far) as phase
 * "comparing": on a large change, reading each side's state is most of a merge's time.
 */
export function collectTriples(source: TripleSource, changed: ReadonlySet<string>, root = '/', progress?: Progress): Map<string, PathTriple> {
  const triples = new Map<string, PathTriple>();
  const pending: string[] = [];
  const add = (p: string) => {
    if (triples.has(p)) return false;
    triples.set(p, { base: source.base(p), ours: source.ours(p), theirs: source.theirs(p) });
    progress?.(triples.size, Math.max(changed.size, triples.size), 'comparing');
    return true;
  };
  const within = (p: string) => root === '/' || p === root || p.startsWith(root + '/');
  // Nearest first, stopping at one already known: every known path's directories are known too
  // (a subtree below() gives has its directories in it). All of them each time made a merge of a
  // 2,000-deep chain of directories O(depth²).
  const addWithDirs = (path: string) => {
    if (add(path)) pending.push(path);
    for (let dir = dirname(path); dir !== root && within(dir); dir = dirname(dir)) {
      if (!add(dir)) break;
      pending.push(dir);
    }
  };
  for (const path of changed) addWithDirs(path);
  // The paths below a directory of each side whose whole subtree there is known: a directory
  // inside one needs no listing of its own (a listing per directory of a chain was O(depth²)).
  // Shortest last, so that a directory is taken (and its subtree listed) before what is in it.
  const listed = { ours: new Set<string>(), theirs: new Set<string>() };
  pending.sort((a, b) => b.length - a.length);
  while (pending.length > 0) {
    const path = pending.pop()!;
    const t = triples.get(path)!;
    for (const side of ['ours', 'theirs'] as const) {
      const other = side === 'ours' ? t.theirs : t.ours;
      if (t[side]?.type === 'd' && other?.type !== 'd' && !listed[side].has(path)) {
        for (const p of source.below(side, path)) {
          listed[side].add(p);
          if (add(p)) pending.push(p);
        }
      }
      if (!t[side] && t.base?.type === 'f' && t.base.size > 0 && t.base.hash) {
        // Only a path the base lacks can be where it moved (merge-tree detectRenames pairs a
        // deleted path with an added one): the copies of the same content the base already had
        // (a LICENSE in every package) are looked up once each, not compared on three sides
        // with their directories, which made a merge of node_modules-like trees O(vault).
        for (const p of source.withHash(side, t.base.hash)) if (within(p) && !triples.has(p) && source.base(p) === null) addWithDirs(p);
      }
    }
  }
  return triples;
}

// ---- the merges table ----------------------------------------------------------------------

const INSERT_MERGE = `INSERT INTO merges (source_id, target_id, base_vault_id, base_seq, seq, end_seq, checkpoint, strategy, changed, conflicts, source, created_at)
  VALUES (@source_id, @target_id, @base_vault_id, @base_seq, @seq, @end_seq, @checkpoint, @strategy, @changed, @conflicts, @source, @created_at)`;

export function recordMerge(store: Store, row: Omit<MergeRecord, 'id' | 'undone_at' | 'undone_seq'>): MergeRecord {
  const { lastInsertRowid } = store.stmt(INSERT_MERGE).run(row);
  return store.stmt<MergeRecord>('SELECT * FROM merges WHERE id = ?').get(Number(lastInsertRowid))!;
}

/** The newest merge of `source` into `target` that is not undone. */
export function lastMerge(store: Store, sourceId: number, targetId: number): MergeRecord | undefined {
  return store
    .stmt<MergeRecord>('SELECT * FROM merges WHERE source_id = ? AND target_id = ? AND undone_at IS NULL ORDER BY id DESC LIMIT 1')
    .get(sourceId, targetId);
}

/** Marks a merge undone at time `at`, its undo's last change being `seq`. */
export function markUndone(store: Store, id: number, at: number, seq: number): void {
  store.stmt('UPDATE merges SET undone_at = ?, undone_seq = ? WHERE id = ?').run(at, seq, id);
}

// A merge is undone by its source's name (`vault merge <source> --undo`): once the source is
// deleted (retired: its forks still read through it) nothing can undo it, and only its base stays of use.
const UNDOABLE = 'undone_at IS NULL AND source_id IN (SELECT id FROM vaults WHERE retired_at IS NULL)';

/** Points of this vault's history that merges still need (prune keeps the versions they read): as a source, its merged state (a base); as a target, its state before the merge (undo). */
export function mergePins(store: Store, vaultId: number): number[] {
  return store
    .stmt<{ seq: number }>(`SELECT seq FROM merges WHERE (source_id = ? AND undone_at IS NULL) OR (target_id = ? AND ${UNDOABLE})`)
    .all(vaultId, vaultId)
    .map((r) => r.seq);
}

/**
 * The change windows, (after, upTo], in which merges that can still be undone wrote into this
 * vault: undo reads the paths a merge changed from its versions there, so prune keeps them until
 * it is undone (or its source deleted).
 */
export function mergeWindows(store: Store, vaultId: number): Array<{ after: number; upTo: number }> {
  return store.stmt<{ after: number; upTo: number }>(`SELECT seq AS after, end_seq AS upTo FROM merges WHERE target_id = ? AND ${UNDOABLE} AND end_seq > seq`).all(vaultId);
}

/** Forgets the merges of a vault that is deleted for good. */
export function dropMergeRecords(store: Store, vaultId: number): void {
  store.stmt('DELETE FROM merges WHERE source_id = ? OR target_id = ? OR base_vault_id = ?').run(vaultId, vaultId, vaultId);
}

// ---- tracked imports (the table is sync.ts's; these two serve prune and vault deletion) -----

/** Points of a vault's history tracked imports start from (prune keeps the versions they read). */
export function trackedPins(store: Store, vaultId: number): number[] {
  return store.stmt<{ seq: number }>('SELECT seq FROM tracked_imports WHERE vault_id = ?').all(vaultId).map((r) => r.seq);
}

/** Forgets the tracked imports of a vault that is deleted for good. */
export function dropTrackedImports(store: Store, vaultId: number): void {
  store.stmt('DELETE FROM tracked_imports WHERE vault_id = ?').run(vaultId);
}
