import { sameState, type Conflict, type MergePlan, type MergeState, type PathMerge, type PathTriple, type Strategy } from '../core/merge-tree.js';
import { getEntry, namesOfInode, type Entry } from './entries.js';
import { stateAt } from './history.js';
import { mergeState, type TripleSource } from './lineage.js';
import type { Store } from './store.js';
import type { VaultRow } from './vaults.js';

/**
 * Hard links in a `vault merge` (README "Merging"). The merge rules (core/merge-tree.ts) decide
 * each name on its own; a file with several names must end with one state under all the names
 * that stay its names. What a merge does to the target's link groups is what replaying the
 * source's work on the target would do:
 *  - an edit the source made in place (its name kept the inode it had at the base) reaches every
 *    name the target's inode has, names the target linked since included;
 *  - a name the source gave an inode of its own (`sed -i`, an editor's save, rm and a new file)
 *    leaves the target's link first, and the other names keep their content;
 *  - names the source linked become one inode in the target too (joinLinks, after the results).
 * The plan is settled before the report is made, so the report (and a dry run) lists every name
 * an edit reaches, and two names of one file that the rules gave different results are a `link`
 * conflict, never the result applied last.
 *
 * Inode numbers are per vault, the same in a fork and its parent only for what the fork read
 * through: whether the source kept a name's inode is read against the source's own state at the
 * point where the merge's changes are read from (lineage.ts `since`), never against the target's.
 */

/** What one side of a merge is read against: the vault and its state at `since` (lineage.ts: the source's `since`, the target's `oursSince`). */
export interface HistorySide {
  vault: VaultRow;
  since: number;
}

/** The inode `path` had on that side at `since` (inode numbers are per vault: compare only with the same side's). */
const inoThen = (store: Store, side: HistorySide, path: string) => stateAt(store, side.vault, path, side.since)?.ino;

/**
 * Gives a name both sides made a link of one other name (`ln a b`, `ln -f a b`) that name's base:
 * both sides' names of the file are one file, so they merge as one (the same triple, the same
 * result). Without it such a name was added on both sides with different content (or changed on
 * both, from another file's base): a conflict where the file's own merge was clean. Only names
 * added or changed on both sides are looked at (the rules settle the others alike either way).
 */
export function linkBases(store: Store, ours: HistorySide, theirs: HistorySide, triples: Map<string, PathTriple>, source: TripleSource): void {
  const bases = new Map<string, MergeState | null>();
  for (const [path, t] of triples) {
    if (t.ours?.type !== 'f' || t.theirs?.type !== 'f') continue;
    if (t.base && (sameState(t.ours, t.base) || sameState(t.theirs, t.base))) continue;
    const [o, th] = [getEntry(store, ours.vault, path), getEntry(store, theirs.vault, path)];
    if (!o || !th || o.nlink < 2 || th.nlink < 2 || th.ino === inoThen(store, theirs, path)) continue; // the file's own name
    const theirsNames = new Set(namesOfInode(store, theirs.vault, th.ino).map((e) => e.path));
    // The name whose file it is, on both sides: each has the inode that name had at the base (a
    // link each side made the other way round, `ln -f a c` against `ln -f c a`, is no such name).
    const file = namesOfInode(store, ours.vault, o.ino).find(
      (e) => e.path !== path && theirsNames.has(e.path) && inoThen(store, theirs, e.path) === th.ino && inoThen(store, ours, e.path) === o.ino,
    );
    const base = file && (triples.get(file.path)?.base ?? source.base(file.path));
    if (base?.type === 'f') bases.set(path, base);
  }
  // Set after the pass, so each name takes its file's own base, never one another name was given.
  for (const [path, base] of bases) triples.set(path, { ...triples.get(path)!, base });
}

/**
 * Settles the plan's hard links (see the header): returns the names that leave their link group
 * before their result is written, and changes `plan` in place: every name an edit reaches gets
 * that result (`link_of`: the name it came through), and names of one file given different
 * results become a `link` conflict each (linkConflict).
 */
export function planLinks(store: Store, oursSide: HistorySide, theirs: HistorySide, plan: MergePlan, strategy: Strategy, source: TripleSource): MergeLinks {
  const ours = oursSide.vault;
  const leaving = new Set<string>();
  const staying = new Map<number, PathMerge[]>();
  for (const p of plan.paths) {
    if (!p.result || !p.current || p.current.type === 'd' || sameState(p.current, p.result)) continue;
    const entry = getEntry(store, ours, p.path);
    if (!entry || entry.type === 'd' || entry.nlink < 2) continue;
    if (editedInPlace(store, theirs, oursSide, entry, p.renamed_from)) staying.set(entry.ino, [...(staying.get(entry.ino) ?? []), p]);
    else leaving.add(p.path);
  }
  const byPath = new Map(plan.paths.map((p) => [p.path, p]));
  let added = false;
  for (const [ino, edited] of staying) {
    const names = namesOfInode(store, ours, ino);
    // Every name the source had a say on: its result is a decision (a resolved conflict keeping
    // ours' state included), not only where the target stays as it is.
    const decided = names.map((n) => byPath.get(n.path)).filter((p): p is PathMerge => !!p && !!p.result && !leaving.has(p.path) && p.class !== 'unchanged' && p.class !== 'ours_only');
    const agree = decided.every((p) => sameState(p.result, edited[0]!.result));
    const settled = agree ? edited[0]! : linkConflict(store, oursSide, theirs, ino, plan, decided, strategy, leaving);
    if (!settled) continue; // unresolved: every name keeps its state (the merge is refused)
    const first = settled;
    const result = settled.result!;
    for (const { path } of names) {
      let p = byPath.get(path);
      // It leaves the file, or goes; or it is an unresolved conflict, which keeps its state (the merge is refused).
      if (leaving.has(path) || (p && (!p.result || p.conflict?.resolution === null))) continue;
      if (!p) {
        p = unchangedPath(path, source);
        byPath.set(path, p);
        plan.paths.push(p);
        added = true;
      }
      if (sameState(p.result, result)) continue;
      p.result = { ...result };
      if (p.class !== 'conflict') {
        p.class = first.class === 'conflict' ? 'theirs_only' : first.class;
        p.link_of = first.path;
      }
    }
  }
  const joins = followMoves(store, ours, theirs, plan, byPath);
  if (added) plan.paths.sort((a, b) => byName(a.path, b.path));
  plan.conflicts.sort((a, b) => byName(a.path, b.path));
  plan.unresolved = plan.conflicts.filter((c) => c.resolution === null);
  return { leaving, joins };
}

/** What planLinks settled for applying: names that leave their link first, and names to make one file afterwards. */
export interface MergeLinks {
  leaving: Set<string>;
  /** Each: a name the source moved a file to, then the target's other names of that file. */
  joins: string[][];
}

/**
 * Moves the source made of a file the target has other names of (`mv a u` where the target made
 * `ln a o`): the source's new name is the file's inode as the old name had it at `since` (a move
 * keeps the inode, with or without an edit). Replayed on the target, the new name is a name of
 * that file, so the target's other names take its state (`link_of`) and are joined with it once
 * written. Only where the old name goes (the target did not change it) and the other names have
 * nothing else to take.
 */
function followMoves(store: Store, ours: VaultRow, theirs: HistorySide, plan: MergePlan, byPath: Map<string, PathMerge>): string[][] {
  const joins: string[][] = [];
  const gone = new Map<number, PathMerge>();
  for (const p of plan.paths) {
    if (p.result || p.theirs || p.base?.type !== 'f' || p.current?.type !== 'f') continue;
    const ino = stateAt(store, theirs.vault, p.path, theirs.since)?.ino;
    if (ino !== undefined) gone.set(ino, p);
  }
  if (gone.size === 0) return joins;
  for (const p of plan.paths) {
    if (p.current || p.base || p.result?.type !== 'f' || !p.theirs) continue;
    const there = getEntry(store, theirs.vault, p.path);
    const from = there && gone.get(there.ino);
    const old = from && getEntry(store, ours, from.path);
    if (!from || !old || old.nlink < 2) continue;
    const others = namesOfInode(store, ours, old.ino).filter((e) => e.path !== from.path).map((e) => byPath.get(e.path) ?? null);
    // Each other name as the target has it, and nothing else planned for it.
    if (others.some((o) => !o || !sameState(o.result, o.current))) continue;
    for (const o of others as PathMerge[]) {
      if (sameState(o.result, p.result)) continue;
      o.result = { ...p.result };
      o.class = p.class;
      o.link_of = p.path;
    }
    joins.push([p.path, ...others.map((o) => o!.path)]);
  }
  return joins;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A name neither side changed since the base (an edit through another name reaches it). */
function unchangedPath(path: string, source: TripleSource): PathMerge {
  const ours = source.ours(path);
  return { path, base: source.base(path), ours, theirs: source.theirs(path), current: ours, result: ours, class: 'unchanged' };
}

/**
 * Whether the source's work on `current`'s name is an edit of the target's file: the source has
 * the name (or, where the target moved it, the name it moved it from: the edit followed the move)
 * as a file linked with the other names of the target's inode that it has, or as the inode the
 * name had at `since` (edited in place), and made none of those other names another file (gave
 * one an inode of its own, or split it from this name) since.
 */
function editedInPlace(store: Store, theirs: HistorySide, ours: HistorySide, current: Entry, renamedFrom: string | undefined): boolean {
  const name = renamedFrom !== undefined && !getEntry(store, theirs.vault, current.path) ? renamedFrom : current.path;
  const there = getEntry(store, theirs.vault, name);
  if (!there || there.type === 'd') return false;
  const thisThen = inoThen(store, theirs, name);
  let linked = thisThen !== undefined && there.ino === thisThen;
  for (const { path } of namesOfInode(store, ours.vault, current.ino)) {
    if (path === current.path) continue;
    const other = getEntry(store, theirs.vault, path);
    if (!other) continue;
    const otherThen = inoThen(store, theirs, path);
    if (other.ino === there.ino) {
      // Linked with it in the source, as one file of the two sides: the source made this name a
      // link of that one's file, and the target's inode is that name's too (`ln -f c a` against
      // `ln -f a c` makes each side's names the other file's: not an edit of the target's file).
      if (there.ino === thisThen || there.ino !== otherThen || inoThen(store, ours, path) === current.ino) linked = true;
      else return false;
      continue;
    }
    if (other.ino !== otherThen || otherThen === thisThen) return false;
  }
  return linked;
}

/**
 * Names of one file the rules gave different results (each name merged against its own base): a
 * `link` conflict on each. `ours` keeps the target's file as it is; `theirs` takes the source's
 * file, or where the source has these names as different files, each name's own state: the
 * file's own name in the target (the inode it had at the base) stays the file, with the target's
 * other links of it, and the rest leave it (`leaving`); `union` and `fail` leave it unresolved.
 * Returns the name whose result every name still of the file gets, or null when unresolved.
 */
function linkConflict(store: Store, ours: HistorySide, theirs: HistorySide, ino: number, plan: MergePlan, names: PathMerge[], strategy: Strategy, leaving: Set<string>): PathMerge | null {
  const theirsStates = names.map((p) => mergeState(getEntry(store, theirs.vault, p.path)));
  const theirsFile = theirsStates.every((s) => s && sameState(s, theirsStates[0]!)) ? theirsStates[0]! : null;
  const result = strategy === 'ours' ? names[0]!.current : strategy === 'theirs' ? theirsFile : null;
  const apart = strategy === 'theirs' && !theirsFile;
  const links = names.map((p) => p.path);
  names.forEach((p, i) => {
    let c = p.conflict;
    if (!c) {
      c = { path: p.path, kind: 'link', kinds: [], resolution: strategy };
      p.conflict = c;
      p.class = 'conflict';
      plan.conflicts.push(c);
    }
    c.kinds = [...c.kinds, 'link'];
    c.links = links;
    // One already unresolved (binary content both sides changed, say) stays unresolved.
    if (!result && !apart) c.resolution = null;
    else if (c.resolution !== null) c.resolution = strategy;
    if (apart) p.result = theirsStates[i] ?? p.result;
    else p.result = result ? { ...result } : p.current;
  });
  if (!apart) return result ? names[0]! : null;
  const own = names.find((p) => inoThen(store, ours, p.path) === ino);
  for (const p of names) if (p !== own) leaving.add(p.path);
  return own ?? null;
}
