import type { EntryType } from './entry-types.js';
import type { Merge3Hunk } from './merge3.js';
import { ancestors, basename, isWithin } from './paths.js';

/**
 * The rules of a three-way tree merge, pure (README "Merging"). Given, for a set of paths, the
 * state each had at the merge base and has now on the side being merged into ("ours") and the
 * side merged from ("theirs"), decide each path's result:
 *
 *  1. the same state on both sides: keep it (unchanged, or the same change made twice);
 *  2. changed on one side only: take that side;
 *  3. changed on both sides: merge content, mode and metadata (owner, tags) separately, each
 *     taken from the side that changed it; a component both sides changed differently is a
 *     conflict, except text content, which gets a line-level merge (merge3) first.
 *     One side deleting what the other changed is a delete/edit conflict; a path of different
 *     types (file, directory, symlink) on the two sides is a type conflict;
 *  4. renames: a file deleted on one side whose exact content appears at a new path on that side
 *     was moved; an edit of the old path on the other side follows it to the new path. Both sides
 *     moving it to different paths is a rename conflict;
 *  5. the tree stays a tree: a directory that ends deleted or replaced while something below it
 *     ends present is a conflict on the directory (delete/edit or type).
 *
 * Conflicts are resolved by the strategy: `fail` resolves none, `ours`/`theirs` take that side's
 * state for the conflicting component (for a directory conflict, for its whole subtree), and
 * `union` keeps both sides where that is possible: text with conflict markers, the union of mode
 * bits, the edited side of a delete/edit; binary, symlink, type, metadata and rename conflicts
 * have no union and stay unresolved.
 *
 * The caller supplies every path that may differ between the three trees (see compare.ts) plus
 * their ancestors, and merges file content through a callback (reading content is I/O).
 */

/** What a merge compares of a path's state. */
export interface MergeState {
  type: EntryType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
  uid: number | null;
  gid: number | null;
  annot: string | null;
}

export interface PathTriple {
  base: MergeState | null;
  ours: MergeState | null;
  theirs: MergeState | null;
}

export type Side = 'ours' | 'theirs';
export type Strategy = 'fail' | Side | 'union';
export const STRATEGIES: readonly Strategy[] = ['fail', 'ours', 'theirs', 'union'];
/** `link`: names of one file (hard links) merged to different states (store/merge-links.ts). */
export type ConflictKind = 'content' | 'delete_edit' | 'type' | 'mode' | 'metadata' | 'rename' | 'link';
export type MergeClass = 'unchanged' | 'ours_only' | 'theirs_only' | 'both_same' | 'merged' | 'renamed' | 'conflict';

/** Why two file contents did not merge: binary or too large to merge by lines, or conflicting line stretches. */
export interface TextConflict {
  binary: boolean;
  too_large: boolean;
  hunks: Merge3Hunk[];
}

export type Content = Pick<MergeState, 'hash' | 'size'>;

/** A content merge of one file: the merged content, or the conflict and (for text) the content with conflict markers. */
export type ContentMerge = { clean: true; content: Content } | { clean: false; text: TextConflict; union: Content | null };

export type ContentMerger = (path: string, base: MergeState | null, ours: MergeState, theirs: MergeState) => ContentMerge;

export interface Conflict {
  path: string;
  /** The first of `kinds`. */
  kind: ConflictKind;
  kinds: ConflictKind[];
  /** delete_edit: the side that deleted the path. */
  deleted_by?: Side;
  /** rename: where each side moved the path. */
  renamed_to?: { ours: string; theirs: string };
  /** Directory conflicts: the paths below it that end present although it ends deleted or replaced. */
  inside?: string[];
  /** Content conflicts of two files. */
  text?: TextConflict;
  /** `link` conflicts: the names of the file that were given different states. */
  links?: string[];
  /** How the strategy resolved it; null when unresolved (the merge is refused). */
  resolution: Strategy | null;
}

export interface PathMerge {
  path: string;
  /** The three states compared (for a followed rename: the old path's base and the other side's edit). */
  base: MergeState | null;
  ours: MergeState | null;
  theirs: MergeState | null;
  /** What ours has at the path now; an action is needed where it differs from `result`. */
  current: MergeState | null;
  result: MergeState | null;
  class: MergeClass;
  /** The path this one's content was moved from (class `renamed`). */
  renamed_from?: string;
  /** The path this one's content was moved to, where the other side's edit went (class `renamed`). */
  renamed_to?: string;
  /** A name of a file (hard link) that takes the result of another name's edit: that name. */
  link_of?: string;
  conflict?: Conflict;
}

export interface MergePlan {
  /** Every path given, in path order. */
  paths: PathMerge[];
  conflicts: Conflict[];
  /** Conflicts the strategy could not resolve: when any, the merge must not be applied. */
  unresolved: Conflict[];
}

// ---- comparing states ----------------------------------------------------------------------

const sameContent = (a: MergeState, b: MergeState) => a.type === b.type && a.hash === b.hash && a.target === b.target && (a.type !== 'f' || a.size === b.size);
// A symlink's mode carries no meaning (always 0777), as in diffTrees.
const sameMode = (a: MergeState, b: MergeState) => a.type === 'l' || (a.mode & 0o7777) === (b.mode & 0o7777);
const sameMeta = (a: MergeState, b: MergeState) => a.uid === b.uid && a.gid === b.gid && a.annot === b.annot;

/** Whether two states are the same for a merge (times and inode numbers are not compared). */
export function sameState(a: MergeState | null, b: MergeState | null): boolean {
  if (!a || !b) return a === b;
  return sameContent(a, b) && sameMode(a, b) && sameMeta(a, b);
}

/** Which side one component comes from: 'ours' also when both agree; null when both changed it differently. */
function pick(base: MergeState | null, ours: MergeState, theirs: MergeState, same: (a: MergeState, b: MergeState) => boolean): Side | null {
  if (same(ours, theirs) || (base && same(theirs, base))) return 'ours';
  if (base && same(ours, base)) return 'theirs';
  return null;
}

// ---- one path ------------------------------------------------------------------------------

interface Decision {
  result: MergeState | null;
  class: MergeClass;
  conflict?: Conflict;
}

function conflict(path: string, kinds: ConflictKind[], extra: Partial<Conflict> = {}): Conflict {
  return { path, kind: kinds[0]!, kinds, resolution: null, ...extra };
}

/** Rules 1-3 for one path. An unresolved conflict's result is ours (a consistent stand-in). */
function mergePath(path: string, { base, ours, theirs }: PathTriple, strategy: Strategy, mergeContent: ContentMerger): Decision {
  if (sameState(ours, theirs)) return { result: ours, class: sameState(ours, base) ? 'unchanged' : 'both_same' };
  if (sameState(theirs, base)) return { result: ours, class: 'ours_only' };
  if (sameState(ours, base)) return { result: theirs, class: 'theirs_only' };
  if (!ours || !theirs) {
    const c = conflict(path, ['delete_edit'], { deleted_by: ours ? 'theirs' : 'ours' });
    const pickSide = strategy === 'union' ? (ours ? 'ours' : 'theirs') : strategy === 'fail' ? null : strategy;
    return resolved(c, pickSide ? (pickSide === 'ours' ? ours : theirs) : ours, pickSide ? strategy : null);
  }
  if (ours.type !== theirs.type) {
    const side = strategy === 'ours' || strategy === 'theirs' ? strategy : null;
    return resolved(conflict(path, ['type']), side === 'theirs' ? theirs : ours, side);
  }
  const b = base && base.type === ours.type ? base : null;
  const result: MergeState = { ...ours };
  const kinds: ConflictKind[] = [];
  let text: TextConflict | undefined;
  let unionContent: Content | null = null;
  const content = pick(b, ours, theirs, sameContent);
  if (content === 'theirs') Object.assign(result, { size: theirs.size, hash: theirs.hash, target: theirs.target });
  if (content === null) {
    const merged = ours.type === 'f' ? mergeContent(path, b, ours, theirs) : null;
    // Without a base (added on both sides) a line merge against nothing takes an empty side as
    // unchanged and drops it: different contents conflict; the merged text only serves union.
    if (merged?.clean && b) Object.assign(result, merged.content);
    else {
      kinds.push('content');
      if (merged?.clean) unionContent = merged.content;
      else if (merged) ({ text, union: unionContent } = merged);
    }
  }
  const mode = pick(b, ours, theirs, sameMode);
  if (mode === 'theirs') result.mode = theirs.mode;
  if (mode === null) kinds.push('mode');
  const meta = pick(b, ours, theirs, sameMeta);
  if (meta === 'theirs') Object.assign(result, { uid: theirs.uid, gid: theirs.gid, annot: theirs.annot });
  if (meta === null) kinds.push('metadata');
  if (kinds.length === 0) return { result, class: 'merged' };
  const c = conflict(path, kinds, text ? { text } : {});
  if (strategy === 'fail') return resolved(c, ours, null);
  if (strategy === 'union') {
    if (kinds.includes('metadata') || (kinds.includes('content') && !unionContent)) return resolved(c, ours, null);
    if (unionContent) Object.assign(result, unionContent);
    if (kinds.includes('mode')) result.mode = ours.mode | theirs.mode;
    return resolved(c, result, 'union');
  }
  const side = strategy === 'ours' ? ours : theirs;
  if (kinds.includes('content')) Object.assign(result, { size: side.size, hash: side.hash, target: side.target });
  if (kinds.includes('mode')) result.mode = side.mode;
  if (kinds.includes('metadata')) Object.assign(result, { uid: side.uid, gid: side.gid, annot: side.annot });
  return resolved(c, result, strategy);
}

function resolved(c: Conflict, result: MergeState | null, resolution: Strategy | null): Decision {
  c.resolution = resolution;
  return { result, class: 'conflict', conflict: c };
}

// ---- renames -------------------------------------------------------------------------------

/** A file `from` that `side` deleted while adding its exact content (non-empty) at `to`. */
interface Rename {
  side: Side;
  from: string;
  to: string;
}

/**
 * Exact renames on each side: each deleted file pairs with at most one added path holding its
 * content, first those with the same name, then the rest in path order.
 */
export function detectRenames(triples: ReadonlyMap<string, PathTriple>): Rename[] {
  const out: Rename[] = [];
  const paths = [...triples.keys()].sort(byPath);
  const movable = (s: MergeState | null | undefined): s is MergeState => s?.type === 'f' && s.size > 0 && !!s.hash;
  for (const side of ['ours', 'theirs'] as const) {
    // Added paths by content, in path order, each taken at most once: queues read from the front,
    // so a tree of 50,000 moved files costs linear time (a scan per deleted path was quadratic).
    const added = new Map<string, PathQueue>();
    const addedByName = new Map<string, PathQueue>();
    for (const p of paths) {
      const s = triples.get(p)![side];
      if (triples.get(p)!.base || !movable(s)) continue;
      queueFor(added, s.hash!).paths.push(p);
      queueFor(addedByName, `${s.hash!}/${basename(p)}`).paths.push(p);
    }
    const taken = new Set<string>();
    const deleted = paths.filter((p) => !triples.get(p)![side] && movable(triples.get(p)!.base) && added.has(triples.get(p)!.base!.hash!));
    const renamed = new Set<string>();
    for (const sameName of [true, false]) {
      for (const p of deleted) {
        if (renamed.has(p)) continue;
        const hash = triples.get(p)!.base!.hash!;
        const to = nextUntaken(sameName ? addedByName.get(`${hash}/${basename(p)}`) : added.get(hash), taken);
        if (to === undefined) continue;
        taken.add(to);
        renamed.add(p);
        out.push({ side, from: p, to });
      }
    }
  }
  return out;
}

/** Paths in order, read from `next` on. */
interface PathQueue {
  paths: string[];
  next: number;
}

function queueFor(queues: Map<string, PathQueue>, key: string): PathQueue {
  let q = queues.get(key);
  if (!q) queues.set(key, (q = { paths: [], next: 0 }));
  return q;
}

/** The first path of `q` not in `taken` (those before it are passed for good: taken is only added to). */
function nextUntaken(q: PathQueue | undefined, taken: ReadonlySet<string>): string | undefined {
  if (!q) return undefined;
  while (q.next < q.paths.length && taken.has(q.paths[q.next]!)) q.next++;
  return q.paths[q.next];
}

/**
 * Applies rule 4 to the triples (a copy): an edit of a moved file follows it. Returns the copy,
 * which paths were renamed from where and to where, and rename/rename conflicts.
 */
function followRenames(triples: ReadonlyMap<string, PathTriple>): {
  work: Map<string, PathTriple>;
  from: Map<string, string>;
  to: Map<string, string>;
  conflicts: Array<{ from: string; ours: string; theirs: string }>;
} {
  const work = new Map(triples);
  const from = new Map<string, string>();
  const movedTo = new Map<string, string>();
  const conflicts: Array<{ from: string; ours: string; theirs: string }> = [];
  const renames = detectRenames(triples);
  const bySource = new Map<string, Rename[]>();
  for (const r of renames) bySource.set(r.from, [...(bySource.get(r.from) ?? []), r]);
  for (const [old, rs] of bySource) {
    if (rs.length === 2) {
      const ours = rs.find((r) => r.side === 'ours')!.to;
      const theirs = rs.find((r) => r.side === 'theirs')!.to;
      if (ours !== theirs) conflicts.push({ from: old, ours, theirs });
      continue;
    }
    const { side, to } = rs[0]!;
    const other: Side = side === 'ours' ? 'theirs' : 'ours';
    const t = triples.get(old)!;
    const edited = t[other];
    // Only an edit needs following: a deletion or no change on the other side merges by the plain rules.
    if (!edited || edited.type !== 'f' || sameState(edited, t.base) || triples.get(to)![other]) continue;
    const moved = triples.get(to)![side];
    work.set(to, { base: t.base, ours: side === 'ours' ? moved : edited, theirs: side === 'theirs' ? moved : edited });
    work.set(old, { base: t.base, ours: null, theirs: null });
    from.set(to, old);
    movedTo.set(old, to);
  }
  return { work, from, to: movedTo, conflicts };
}

// ---- the whole plan ------------------------------------------------------------------------

const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Merges every path of `triples` by the rules above (see the header). */
export function planMerge(triples: ReadonlyMap<string, PathTriple>, strategy: Strategy, mergeContent: ContentMerger): MergePlan {
  const { work, from, to, conflicts: renameConflicts } = followRenames(triples);
  const paths = [...triples.keys()].sort(byPath);
  const plan = new Map<string, PathMerge>();
  for (const path of paths) {
    const t = work.get(path)!;
    const d = mergePath(path, t, strategy, mergeContent);
    const entry: PathMerge = { path, ...t, current: triples.get(path)!.ours, result: d.result, class: d.class, ...(d.conflict ? { conflict: d.conflict } : {}) };
    // Both ends of a followed move are the move's (the old path read as `both_same`: deleted on both sides).
    const renamedFrom = from.get(path);
    const renamedTo = to.get(path);
    if (renamedFrom) entry.renamed_from = renamedFrom;
    if (renamedTo) entry.renamed_to = renamedTo;
    if ((renamedFrom || renamedTo) && entry.class !== 'conflict') entry.class = 'renamed';
    plan.set(path, entry);
  }
  for (const r of renameConflicts) resolveRenameConflict(plan, triples, r, strategy);
  keepTree(plan, triples, strategy);
  const all = [...plan.values()];
  const conflicts = all.flatMap((p) => (p.conflict ? [p.conflict] : []));
  return { paths: all, conflicts, unresolved: conflicts.filter((c) => c.resolution === null) };
}

/** Both sides moved one file to different paths: keep one side's new path, or (union) both. */
function resolveRenameConflict(plan: Map<string, PathMerge>, triples: ReadonlyMap<string, PathTriple>, r: { from: string; ours: string; theirs: string }, strategy: Strategy): void {
  const entry = plan.get(r.from)!;
  const c = conflict(r.from, ['rename'], { renamed_to: { ours: r.ours, theirs: r.theirs } });
  entry.class = 'conflict';
  entry.conflict = c;
  if (strategy === 'ours' || strategy === 'theirs') {
    // The losing side's new path goes back to what the winning side has there (nothing).
    const losing = strategy === 'ours' ? r.theirs : r.ours;
    plan.get(losing)!.result = triples.get(losing)![strategy];
    c.resolution = strategy;
  } else if (strategy === 'union') {
    c.resolution = 'union'; // both new paths stay
  } else {
    plan.get(r.theirs)!.result = triples.get(r.theirs)!.ours;
  }
}

/**
 * Rule 5: while some path ends present below a directory that ends deleted or replaced, that
 * directory is a conflict. `ours`/`theirs` give the directory's whole subtree that side's states
 * (each side is a consistent tree); `union` keeps the directory from the side that has it when
 * the other deleted it; an unresolved one falls back to ours' subtree so the rest can be checked.
 */
function keepTree(plan: Map<string, PathMerge>, triples: ReadonlyMap<string, PathTriple>, strategy: Strategy): void {
  for (let round = 0; round <= plan.size; round++) {
    const broken = new Map<string, string[]>(); // directory → the present paths below it
    for (const entry of plan.values()) {
      if (!entry.result) continue;
      const dir = ancestors(entry.path).find((a) => a !== '/' && plan.has(a) && plan.get(a)!.result?.type !== 'd');
      if (dir) broken.set(dir, [...(broken.get(dir) ?? []), entry.path]);
    }
    const tops = [...broken.keys()].filter((d) => !ancestors(d).some((a) => broken.has(a)));
    if (tops.length === 0) return;
    for (const dir of tops) resolveDirectory(plan, triples, dir, broken.get(dir)!, strategy);
  }
  throw new Error('merge: directory conflicts did not settle'); // unreachable: every round settles a subtree for good
}

function resolveDirectory(plan: Map<string, PathMerge>, triples: ReadonlyMap<string, PathTriple>, dir: string, inside: string[], strategy: Strategy): void {
  const entry = plan.get(dir)!;
  const t = triples.get(dir)!;
  const deleted = entry.result === null;
  const previous = entry.conflict;
  const c: Conflict = previous ?? conflict(dir, [deleted ? 'delete_edit' : 'type']);
  if (!previous) {
    if (deleted) c.deleted_by = t.ours ? 'theirs' : 'ours';
    entry.conflict = c;
    entry.class = 'conflict';
  }
  c.inside = [...(c.inside ?? []), ...inside];
  const dirSide: Side | null = t.ours?.type === 'd' && !t.theirs ? 'ours' : t.theirs?.type === 'd' && !t.ours ? 'theirs' : null;
  // A conflict the directory already had (say, on its tags) that union could not resolve stays unresolved.
  const resolvable = !previous || previous.resolution !== null;
  if (strategy === 'union' && deleted && dirSide && resolvable) {
    entry.result = t[dirSide];
    c.resolution = 'union';
    return;
  }
  const side: Side = strategy === 'ours' || strategy === 'theirs' ? strategy : 'ours';
  c.resolution = strategy === 'ours' || strategy === 'theirs' ? strategy : null;
  for (const [path, p] of plan) if (isWithin(path, dir)) p.result = triples.get(path)![side];
}
