import { AvfsError } from '../errors.js';
import { decodeText } from '../core/diff.js';
import { dirname } from '../core/paths.js';
import { KIND } from '../core/entry-types.js';
import { hashBytes } from '../core/hash.js';
import { merge3 } from '../core/merge3.js';
import { planMerge, sameState, STRATEGIES, type Conflict, type Content, type ContentMerger, type MergePlan, type MergeState, type PathMerge, type PathTriple, type Strategy } from '../core/merge-tree.js';
import { parseAnnotations } from './annotations.js';
import { audit } from './audit.js';
import { putContent, readContent } from './blobs.js';
import { applyPlan, autoCheckpointName, saveCheckpoint } from './checkpoints.js';
import { MAX_DIFF_BYTES } from './compare.js';
import { getEntry, inodeFields, iterateDescendants, namesOfInode, newInode, type ChangeOptions, type Entry } from './entries.js';
import { applyState, joinNames, stateAt, type PathState, type Writer } from './history.js';
import { collectTriples, lastMerge, lineage, markUndone, mergeState, pathsChangedAfter, recordMerge, vaultTriples, type Lineage, type MergeRecord } from './lineage.js';
import { linkBases, planLinks, type MergeLinks } from './merge-links.js';
import { enforceQuotaForAll } from './quota.js';
import { now, type Actor, type Store } from './store.js';
import { currentSeq, getVault, shownName, vaultById, type VaultRow } from './vaults.js';
import { VaultFs } from './vault-fs.js';
import type { Progress } from './transfer.js';

/**
 * `vault merge`: a three-way merge of one vault's work into another (README "Merging"). The base
 * and the paths to look at come from lineage.ts (the fork point, or what the pair's last merge
 * merged), the rules from core/merge-tree.ts, text merges from core/merge3.ts. The plan is made
 * and applied in one transaction: after an automatic checkpoint (`before-merge-…`), each path
 * whose result differs from the target's is written as a version with op `merge`, and the merge
 * is recorded so the next one starts from what this one merged. With unresolved conflicts nothing
 * is applied (MERGE_CONFLICT, carrying the whole report). A dry run makes the same plan in a read
 * transaction and stores nothing: merged content is hashed, not stored.
 */

export interface MergeOptions {
  /** The vault to merge into (default: the source's parent). */
  into?: string;
  strategy?: Strategy;
  dryRun?: boolean;
  actor: Actor;
  /** Hears the phases "comparing" (paths read on both sides) and "applying" (paths written). */
  progress?: Progress;
}

/** One side's state of a path in a report. */
export interface SideJson {
  type: string;
  mode: string;
  size: number;
  hash: string | null;
  target: string | null;
}

export interface ChangeJson {
  path: string;
  action: 'added' | 'modified' | 'deleted';
  class: PathMerge['class'];
  renamed_from: string | null;
  /** The old path of a followed move: where its content (and the other side's edit) went. */
  renamed_to: string | null;
  /** A name of a file (hard link) another name's edit reaches: that name. */
  link_of: string | null;
  /** What the path holds now in the target, and after the merge. */
  before: SideJson | null;
  after: SideJson | null;
}

export interface ConflictJson {
  path: string;
  kind: Conflict['kind'];
  kinds: Conflict['kinds'];
  /** How the strategy resolved it: ours, theirs, union; null when unresolved. */
  resolution: Strategy | null;
  deleted_by: 'ours' | 'theirs' | null;
  renamed_to: { ours: string; theirs: string } | null;
  inside: string[] | null;
  /** `link` conflicts: the names of one file the merge gave different states. */
  links: string[] | null;
  /** `metadata` conflicts: each side's owner (null: whoever reads), tags and metadata, the part that differs. */
  metadata: { base: MetadataJson | null; ours: MetadataJson | null; theirs: MetadataJson | null } | null;
  base: SideJson | null;
  ours: SideJson | null;
  theirs: SideJson | null;
  binary: boolean;
  too_large: boolean;
  hunks: import('../core/merge3.js').Merge3Hunk[];
}

export interface MergeSummary {
  /** Paths the merge looked at (changed on either side since the base, and their directories). */
  examined: number;
  added: number;
  modified: number;
  deleted: number;
  theirs_only: number;
  ours_only: number;
  both_same: number;
  merged: number;
  renamed: number;
  conflicts: number;
  unresolved: number;
}

export interface MergeReport {
  source: string;
  target: string;
  strategy: Strategy;
  dry_run: boolean;
  /** merged: applied (or, in a dry run, would be); up_to_date: theirs has nothing new; conflicts: refused (dry run only; otherwise MERGE_CONFLICT). */
  status: 'merged' | 'up_to_date' | 'conflicts';
  /** vault as history names it; vault_deleted: it was deleted since (its forks still read through it). */
  base: { vault: string; vault_deleted: boolean; seq: number; from: 'fork_point' | 'merge'; merge_id: number | null };
  /** The checkpoint saved before applying (null when nothing was applied). */
  checkpoint: string | null;
  merge_id: number | null;
  summary: MergeSummary;
  changes: ChangeJson[];
  conflicts: ConflictJson[];
}

export function validateStrategy(strategy: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(strategy)) {
    throw new AvfsError('INVALID_ARGUMENT', `unknown merge strategy ${JSON.stringify(strategy)}: use ${STRATEGIES.join(', ')}`, { strategy });
  }
  return strategy as Strategy;
}

/** The vault a merge goes into: --into, else the source's parent. */
function targetOf(store: Store, source: VaultRow, into: string | undefined): VaultRow {
  if (into !== undefined) return getVault(store, into);
  const parent = source.parent_id === null ? undefined : vaultById(store, source.parent_id);
  if (!parent || parent.retired_at !== null) {
    throw new AvfsError('USAGE', `vault ${source.name} has no parent to merge into: name the vault to merge into (--into <vault>; \`into\` in the SDK and MCP)`, { vault: source.name });
  }
  return parent;
}

function refuseSelf(ours: VaultRow, theirs: VaultRow): void {
  if (ours.id === theirs.id) throw new AvfsError('INVALID_ARGUMENT', `cannot merge vault ${ours.name} into itself`, { vault: ours.name });
}

/** Merges vault `sourceName` into its parent (or `options.into`). See the header. */
export function mergeVaults(store: Store, sourceName: string, options: MergeOptions): MergeReport {
  const strategy = validateStrategy(options.strategy ?? 'fail');
  const run = () => {
    const theirs = getVault(store, sourceName);
    const ours = targetOf(store, theirs, options.into);
    refuseSelf(ours, theirs);
    const lin = lineage(store, ours, theirs);
    const seq = currentSeq(store);
    const changed = new Set([...pathsChangedAfter(store, ours, lin.oursSince), ...pathsChangedAfter(store, theirs, lin.since)]);
    const source = vaultTriples(store, ours, theirs, lin);
    const triples = collectTriples(source, changed, '/', options.progress);
    const sides = { ours: { vault: ours, since: lin.oursSince }, theirs: { vault: theirs, since: lin.since } };
    linkBases(store, sides.ours, sides.theirs, triples, source);
    const labels = { oursLabel: ours.name, theirsLabel: theirs.name };
    const plan = planMerge(triples, strategy, contentMerger(store, labels, !!options.dryRun));
    const links = planLinks(store, sides.ours, sides.theirs, plan, strategy, source);
    const report = buildReport(ours, theirs, lin, strategy, !!options.dryRun, triples, plan);
    if (report.status === 'up_to_date') return report;
    if (plan.unresolved.length > 0) {
      if (options.dryRun) return report;
      throw new AvfsError('MERGE_CONFLICT', conflictMessage(report), { ...report });
    }
    const actions = plan.paths.filter((p) => !sameState(p.current, p.result));
    // Up front, so a dry run says what the merge would: refused, as a whole, past a quota.
    enforceQuotaForAll(store, ours, '/', () => actions.map((a) => [a.current, a.result, a.path] as const));
    if (options.dryRun) return report;
    if (actions.length > 0) {
      const fs = new VaultFs(store, ours.name, options.actor);
      report.checkpoint = saveCheckpoint(fs, autoCheckpointName(store, ours, 'before-merge'), `state before merging ${theirs.name}`).name;
      const change: ChangeOptions = { op: 'merge', actor: options.actor, detail: { merged_from: theirs.name, checkpoint: report.checkpoint } };
      applyResults({ store, vault: ours, actor: options.actor }, theirs, links, actions, change, options.progress);
    }
    const record = recordMerge(store, {
      source_id: theirs.id,
      target_id: ours.id,
      base_vault_id: lin.base.vault.id,
      base_seq: lin.base.seq,
      seq,
      end_seq: currentSeq(store),
      checkpoint: report.checkpoint,
      strategy,
      changed: actions.length,
      conflicts: plan.conflicts.length,
      source: options.actor.source,
      created_at: now(),
    });
    report.merge_id = record.id;
    audit(store, options.actor, 'vault.merge', ours.name, { from: theirs.name, merge_id: record.id, strategy, changed: actions.length, conflicts: plan.conflicts.length });
    return report;
  };
  return options.dryRun ? store.read(run) : store.mutate(run);
}

function conflictMessage(r: MergeReport): string {
  const list = r.conflicts.filter((c) => c.resolution === null);
  const shown = list.slice(0, 5).map((c) => `${c.path} (${c.kind})`).join(', ');
  return `merging ${r.source} into ${r.target} stopped on ${list.length} conflict(s), nothing was applied: ${shown}${list.length > 5 ? ', …' : ''}. See them with --dry-run --json (dryRun in the SDK, dry_run in MCP), or pick a --strategy (ours, theirs, union; strategy in the SDK and MCP)`;
}

/**
 * Puts the planned results in place: removals deepest first, then the rest parents first (so a
 * directory is empty when it goes, and there before its children). A name in `links.leaving` leaves its
 * hard link first; any other name's result reaches every name of its inode, as planLinks planned.
 */
function applyResults(w: Writer, theirs: VaultRow, links: MergeLinks, actions: PathMerge[], change: ChangeOptions, progress?: Progress): void {
  const isDir = (s: MergeState | null) => s?.type === 'd';
  const removals = actions.filter((a) => !a.result || (a.current && isDir(a.current) !== isDir(a.result)));
  const total = removals.length + actions.length;
  let done = 0;
  for (const a of removals.reverse()) {
    progress?.(done++, total, 'applying');
    if (getEntry(w.store, w.vault, a.path)) applyState(w, a.path, null, change, false);
  }
  for (const a of actions) {
    progress?.(done++, total, 'applying');
    if (!a.result) continue;
    const current = getEntry(w.store, w.vault, a.path);
    if (current && current.type !== 'd' && current.nlink > 1 && links.leaving.has(a.path)) applyState(w, a.path, null, change, false);
    applyState(w, a.path, pathState(a.result), change, false);
  }
  const added = new Set(actions.filter((a) => !a.current).map((a) => a.path));
  joinLinks(w, theirs, actions, added, change);
  for (const names of links.joins) joinWithOwnLinks(w, names, added, change);
  progress?.(total, total, 'applying');
}

/**
 * The source's links, where the names the merge touched hold them no more: names one inode has
 * in `theirs` (a link the source made, names of a group it renamed, or names that left a group of
 * the target's above because the source split it) become one inode in the target too when they
 * ended with one state (joinNames; left apart when the merge gave them different ones).
 */
function joinLinks(w: Writer, theirs: VaultRow, actions: PathMerge[], added: ReadonlySet<string>, change: ChangeOptions): void {
  const seen = new Set<number>();
  for (const a of actions) {
    if (!a.result || a.result.type === 'd') continue;
    const there = getEntry(w.store, theirs, a.path);
    if (!there || there.type === 'd' || there.nlink < 2 || seen.has(there.ino)) continue;
    seen.add(there.ino);
    joinWithOwnLinks(w, namesOfInode(w.store, theirs, there.ino).map((e) => e.path), added, change);
  }
}

/**
 * joinNames of `paths` with the target's own links of them (names of the same file there:
 * joinNames leaves alone a name linked outside what it is given), the names the target had
 * before the merge first, so on a tie of link counts the file keeps the inode number the target
 * gave it (`added`: the names the merge added).
 */
function joinWithOwnLinks(w: Writer, paths: string[], added: ReadonlySet<string>, change: ChangeOptions): void {
  const names = new Set(paths);
  for (const path of paths) {
    const here = getEntry(w.store, w.vault, path);
    if (here && here.type !== 'd' && here.nlink > 1) for (const e of namesOfInode(w.store, w.vault, here.ino)) names.add(e.path);
  }
  joinNames(w, [...names].sort((x, y) => Number(added.has(x)) - Number(added.has(y))), change);
}

const pathState = (s: MergeState): PathState => ({ type: s.type, mode: s.mode, size: s.size, hash: s.hash, target: s.target, uid: s.uid, gid: s.gid, annot: s.annot });

/**
 * Merges file contents by lines (merge3), reading each side's bytes with `read` and keeping the
 * merged text (and, for union, the text with conflict markers) with `keep`. Binary content and
 * content over MAX_DIFF_BYTES are not merged by lines: they conflict.
 */
export function textMerger(
  read: (state: MergeState, side: 'base' | 'ours' | 'theirs') => Uint8Array,
  keep: (text: string) => Content,
  labels: { oursLabel: string; theirsLabel: string },
): ContentMerger {
  return (_path, base, ours, theirs) => {
    const refused = (binary: boolean) => ({ clean: false as const, text: { binary, too_large: !binary, hunks: [] }, union: null });
    if ([base, ours, theirs].some((s) => s && s.size > MAX_DIFF_BYTES)) return refused(false);
    const text = (s: MergeState | null, side: 'base' | 'ours' | 'theirs') => (s?.hash ? decodeText(read(s, side)) : '');
    const [b, o, t] = [text(base, 'base'), text(ours, 'ours'), text(theirs, 'theirs')];
    if (b === null || o === null || t === null) return refused(true);
    const m = merge3(b, o, t, labels);
    if (!m) return refused(false);
    if (m.clean) return { clean: true, content: keep(m.text) };
    return { clean: false, text: { binary: false, too_large: false, hunks: m.conflicts }, union: keep(m.text) };
  };
}

/** Two vaults' contents merged by lines; merged text is stored, or in a dry run only hashed, so the report names the exact result. */
function contentMerger(store: Store, labels: { oursLabel: string; theirsLabel: string }, dryRun: boolean): ContentMerger {
  const keep = (text: string): Content => {
    const data = Buffer.from(text);
    return dryRun ? { hash: hashBytes(data), size: data.length } : putContent(store, data);
  };
  return textMerger((s) => readContent(store, s.hash!), keep, labels);
}

// ---- the report ----------------------------------------------------------------------------

export const sideJson = (s: MergeState | null): SideJson | null =>
  s && { type: KIND[s.type], mode: '0' + (s.mode & 0o7777).toString(8).padStart(3, '0'), size: s.size, hash: s.hash, target: s.target };

export interface MetadataJson {
  uid: number | null;
  gid: number | null;
  tags: string[];
  meta: Record<string, string>;
}

const metadataJson = (s: MergeState | null): MetadataJson | null => s && { uid: s.uid, gid: s.gid, ...parseAnnotations(s.annot) };

export function conflictJson(c: Conflict, p: PathMerge): ConflictJson {
  return {
    path: c.path,
    kind: c.kind,
    kinds: c.kinds,
    resolution: c.resolution,
    deleted_by: c.deleted_by ?? null,
    renamed_to: c.renamed_to ?? null,
    inside: c.inside ?? null,
    links: c.links ?? null,
    metadata: c.kinds.includes('metadata') ? { base: metadataJson(p.base), ours: metadataJson(p.ours), theirs: metadataJson(p.theirs) } : null,
    base: sideJson(p.base),
    ours: sideJson(p.ours),
    theirs: sideJson(p.theirs),
    binary: c.text?.binary ?? false,
    too_large: c.text?.too_large ?? false,
    hunks: c.text?.hunks ?? [],
  };
}

/** What a plan does to the side merged into: each path whose result differs from what it holds now. */
export function planChanges(plan: MergePlan): ChangeJson[] {
  return plan.paths
    .filter((p) => !sameState(p.current, p.result))
    .map((p) => ({
      path: p.path,
      action: !p.current ? 'added' : !p.result ? 'deleted' : 'modified',
      class: p.class,
      renamed_from: p.renamed_from ?? null,
      renamed_to: p.renamed_to ?? null,
      link_of: p.link_of ?? null,
      before: sideJson(p.current),
      after: sideJson(p.result),
    }));
}

/** Counts of a plan by class and by action. */
export function planSummary(triples: ReadonlyMap<string, PathTriple>, plan: MergePlan, changes: ChangeJson[]): MergeSummary {
  const count = (cls: PathMerge['class']) => plan.paths.filter((p) => p.class === cls).length;
  return {
    examined: triples.size,
    added: changes.filter((c) => c.action === 'added').length,
    modified: changes.filter((c) => c.action === 'modified').length,
    deleted: changes.filter((c) => c.action === 'deleted').length,
    theirs_only: count('theirs_only'),
    ours_only: count('ours_only'),
    both_same: count('both_same'),
    merged: count('merged'),
    // Moves followed, each once (by its new path; its old path is class `renamed` too).
    renamed: plan.paths.filter((p) => p.class === 'renamed' && p.renamed_from).length,
    conflicts: plan.conflicts.length,
    unresolved: plan.unresolved.length,
  };
}

/** True when theirs changed nothing since the base: merging is a no-op. */
export const nothingNew = (triples: ReadonlyMap<string, PathTriple>) => [...triples.values()].every((t) => sameState(t.theirs, t.base));

function buildReport(ours: VaultRow, theirs: VaultRow, lin: Lineage, strategy: Strategy, dryRun: boolean, triples: Map<string, PathTriple>, plan: MergePlan): MergeReport {
  const changes = planChanges(plan);
  const byPath = new Map(plan.paths.map((p) => [p.path, p]));
  return {
    source: theirs.name,
    target: ours.name,
    strategy,
    dry_run: dryRun,
    status: nothingNew(triples) ? 'up_to_date' : plan.unresolved.length > 0 ? 'conflicts' : 'merged',
    base: { vault: shownName(lin.base.vault), vault_deleted: lin.base.vault.retired_at !== null, seq: lin.base.seq, from: lin.merge ? 'merge' : 'fork_point', merge_id: lin.merge?.id ?? null },
    checkpoint: null,
    merge_id: null,
    summary: planSummary(triples, plan, changes),
    changes,
    conflicts: plan.conflicts.map((c) => conflictJson(c, byPath.get(c.path)!)),
  };
}

// ---- undo ----------------------------------------------------------------------------------

export interface UndoReport {
  source: string;
  target: string;
  merge_id: number;
  /** Paths put back to what they held before the merge. */
  restored: number;
  paths: string[];
}

// Not a path whose times or link count alone moved (op touch): a directory the merge wrote below,
// a file the merge gave or took another name of. The merge did not change it, and undo leaves
// what was done to it since (applyPlan counts the names of the groups it puts names back into).
const MERGE_PATHS = "SELECT DISTINCT path FROM versions WHERE vault_id = ? AND id > ? AND id <= ? AND op <> 'touch' ORDER BY path";
const COUNT_ONLY_PATHS = "SELECT DISTINCT path FROM versions WHERE vault_id = ? AND id > ? AND id <= ? AND op = 'touch' AND type <> 'd'";

/**
 * Reverses the newest merge of `sourceName` into its target: every path the merge changed goes
 * back to its state before the merge (exactly, as a restore does), as versions with op
 * `merge-undo`, and the merge stops counting as a base. When a path the merge changed has changed
 * again since (or something was created in a directory it made), undo is refused with CONFLICT
 * listing them, unless `force`: then those go back to their state before the merge as well (their
 * later changes stay in history). Later work on paths the merge did not touch stays either way;
 * restoring the merge's checkpoint is what puts the whole vault back.
 */
export function undoMerge(store: Store, sourceName: string, options: { into?: string; force?: boolean; actor: Actor; progress?: Progress }): UndoReport {
  return store.mutate(() => {
    const theirs = sourceToUndo(store, sourceName);
    const ours = targetOf(store, theirs, options.into);
    refuseSelf(ours, theirs);
    const record = lastMerge(store, theirs.id, ours.id);
    if (!record) throw new AvfsError('MERGE_NOT_FOUND', `no merge of ${theirs.name} into ${ours.name} to undo`, { source: theirs.name, target: ours.name });
    const merged = store.stmt<{ path: string }>(MERGE_PATHS).all(ours.id, record.seq, record.end_seq).map((r) => r.path);
    const touched = changedSinceMerge(store, ours, record, merged);
    if (touched.length > 0 && !options.force) {
      throw new AvfsError('CONFLICT', `${touched.length} path(s) merged from ${theirs.name} changed since the merge; --force puts them back as they were before the merge too, losing those changes: ${touched.slice(0, 5).join(', ')}`, {
        source: theirs.name,
        target: ours.name,
        merge_id: record.id,
        paths: touched,
      });
    }
    // Forced, the later changes of merged paths (and what was made below a directory the merge
    // made) go too; later work on other paths stays, as it does without --force.
    const paths = withDirectories(store, ours, record.seq, new Set([...merged, ...touched]));
    let compared = 0;
    const diffs = paths
      .map((path) => (options.progress?.(++compared, paths.length, 'comparing'), { path, want: stateAt(store, ours, path, record.seq), now: getEntry(store, ours, path) }))
      .filter((d) => !(d.now && d.want && sameState(mergeState(d.now), mergeState(d.want)) && sameLinks(d.now, d.want)) && (d.now || d.want));
    diffs.push(...linkGroups(store, ours, record, diffs));
    // applyPlan puts states back exactly, without the per-entry quota check: the whole undo is checked here.
    enforceQuotaForAll(store, ours, '/', () => diffs.map((d) => [d.now, d.want, d.path] as const));
    applyPlan(store, ours, diffs, { op: 'merge-undo', actor: options.actor, detail: { merge_id: record.id, merged_from: theirs.name }, exact: true }, (done, total) => options.progress?.(done, total, 'applying'));
    markUndone(store, record.id, now(), currentSeq(store));
    audit(store, options.actor, 'vault.merge.undo', ours.name, { from: theirs.name, merge_id: record.id, restored: diffs.length });
    return { source: theirs.name, target: ours.name, merge_id: record.id, restored: diffs.length, paths: diffs.map((d) => d.path) };
  });
}

/**
 * The source of a merge to undo, by name. A deleted vault has none (its merges are forgotten with
 * it, lineage.ts dropMergeRecords, or kept under a retired id): its merge is undone by restoring
 * the checkpoint taken before it, which the error says.
 */
function sourceToUndo(store: Store, sourceName: string): VaultRow {
  try {
    return getVault(store, sourceName);
  } catch (err) {
    if (!(err instanceof AvfsError) || err.code !== 'VAULT_NOT_FOUND') throw err;
    throw new AvfsError('VAULT_NOT_FOUND', `no such vault: ${sourceName} (if a vault merged from was deleted since, undo that merge by restoring the before-merge-… checkpoint of the vault it was merged into: avfs --vault <that vault> checkpoint list)`, { vault: sourceName });
  }
}

type PlannedState = { path: string; want: PathState | null; now?: Entry | undefined };
/** A name linkGroups adds to the plan: the state it is to have, and the entry it has now. */
type NameToPut = { path: string; want: PathState; now: Entry };

/**
 * The hard links of the files undo puts back, as they are now (the plan knows names, and a file
 * may have more names than the merge changed). Returns the names to add to the plan, and gives
 * each name the plan puts on an inode the state that inode ends with:
 *  - A file whose own state (content, mode) the merge changed goes back to its state before the
 *    merge under every name, so names linked to it since (`ln` after the merge) join the plan.
 *  - A file the merge only gave or took names of keeps its state as it is now (a chmod since
 *    through another name stays, as later work outside the merged paths does): a name put back
 *    is one more name of it, and the names whose count alone the merge moved get their count back.
 *  - An inode no name held when the merge ended whose number a name holds now got it back with an
 *    older file (a restore since, of a checkpoint from before a merge that removed it): that file
 *    is left alone, and the names put back take a new number, so no two files share one.
 * applyPlan then counts the names of each group; every name of a group counts more than one here,
 * so the links index finds them.
 */
function linkGroups(store: Store, vault: VaultRow, record: MergeRecord, diffs: PlannedState[]): NameToPut[] {
  const plan: LinkPlan = {
    store,
    vault,
    record,
    planned: new Set(diffs.map((d) => d.path)),
    ...inodesTheMergeChanged(store, vault, record, diffs),
    livesOn: new Map(),
    renumbered: new Map(),
    linked: new Set(),
  };
  const out = countOnlyNames(plan);
  for (const d of out) if (!plan.changedByMerge.has(d.now.ino)) plan.livesOn.set(d.now.ino, d.now);
  out.push(...namesChangedSince(plan, diffs));
  // A file renamed since keeps every name it has: none of them is linked since to the name put back.
  const kept = out.filter((d) => !(plan.linked.has(d.now.ino) && plan.renumbered.has(d.now.ino)));
  for (const d of [...diffs, ...kept]) {
    if (!isFile(d.want) || d.want.ino === undefined) continue;
    const ino = plan.renumbered.get(d.want.ino);
    const file = plan.livesOn.get(d.want.ino);
    if (ino !== undefined) d.want = { ...d.want, ino };
    else if (file) d.want = { ...d.want, ...inodeFields(file) };
    else if (plan.linked.has(d.want.ino)) d.want = { ...d.want, nlink: Math.max(d.want.nlink ?? 1, 2) };
  }
  return kept;
}

/** What linkGroups knows while it plans, and the end state it decides for each inode. */
interface LinkPlan {
  store: Store;
  vault: VaultRow;
  record: MergeRecord;
  /** The names the plan puts. */
  planned: Set<string>;
  /** Each file's state before the merge, by the inode it had then. */
  before: Map<number, PathState>;
  /** Files whose own state (content, mode) the merge changed. */
  changedByMerge: Set<number>;
  /** Files the merge only gave or took names of: they end as they are now. */
  livesOn: Map<number, Entry>;
  /** Inodes whose names put back take a new number. */
  renumbered: Map<number, number>;
  /** Merged files with names linked to them since: every name goes back to the state before the merge. */
  linked: Set<number>;
}

const isFile = (s: PathState | Entry | null | undefined): s is PathState => !!s && s.type !== 'd';

/** The state before the merge of each file the plan puts back, and which of them the merge changed (not only named). */
function inodesTheMergeChanged(store: Store, vault: VaultRow, record: MergeRecord, diffs: PlannedState[]): Pick<LinkPlan, 'before' | 'changedByMerge'> {
  const before = new Map<number, PathState>();
  const changedByMerge = new Set<number>();
  for (const d of diffs) {
    if (!isFile(d.want) || d.want.ino === undefined) continue;
    before.set(d.want.ino, d.want);
    const after = stateAt(store, vault, d.path, record.end_seq);
    if (isFile(after) && after.ino === d.want.ino && !sameState(mergeState({ ...after, annot: null })!, mergeState({ ...d.want, annot: null })!)) changedByMerge.add(after.ino);
  }
  return { before, changedByMerge };
}

/** Names whose count alone the merge moved (it gave or took another name of their file): they get their count back. */
function countOnlyNames({ store, vault, record, planned }: LinkPlan): NameToPut[] {
  const out: NameToPut[] = [];
  for (const { path } of store.stmt<{ path: string }>(COUNT_ONLY_PATHS).all(vault.id, record.seq, record.end_seq)) {
    if (planned.has(path)) continue;
    const now = getEntry(store, vault, path);
    const then = stateAt(store, vault, path, record.seq);
    if (!isFile(now) || !isFile(then) || now.ino !== then.ino || (then.nlink ?? 1) === now.nlink) continue;
    if (stateAt(store, vault, path, record.end_seq)?.ino !== now.ino) continue;
    planned.add(path);
    out.push({ path, want: { ...now, nlink: then.nlink ?? 1 }, now });
  }
  return out;
}

/**
 * The names changed since the merge that hold a file the plan puts back, each sorted into the
 * inode's end state (LinkPlan). Returns the names to add to the plan.
 */
function namesChangedSince(plan: LinkPlan, diffs: PlannedState[]): NameToPut[] {
  const { store, vault, record } = plan;
  const since = pathsChangedAfter(store, vault, record.end_seq);
  // The inodes some name held when the merge ended: a name the plan puts, one changed since (it
  // may have been renamed or removed), or one unchanged since that holds it now. Read once, when
  // a name first needs it.
  let heldThen: Set<number> | undefined;
  const aliveAtEnd = (now: Entry) => {
    heldThen ??= new Set([...diffs.map((d) => d.path), ...since].map((path) => stateAt(store, vault, path, record.end_seq)).filter(isFile).map((s) => s.ino!));
    return heldThen.has(now.ino) || namesOfInode(store, vault, now.ino).some((name) => !since.has(name.path));
  };
  const renumber = (ino: number) => {
    if (!plan.renumbered.has(ino)) plan.renumbered.set(ino, newInode(store, vault));
  };
  const alive = new Map<number, boolean>();
  const out: NameToPut[] = [];
  for (const path of since) {
    const now = plan.planned.has(path) ? undefined : getEntry(store, vault, path);
    const want = isFile(now) ? plan.before.get(now.ino) : undefined;
    if (!now || !want) continue;
    if (!alive.has(now.ino)) alive.set(now.ino, aliveAtEnd(now));
    if (!alive.get(now.ino)) renumber(now.ino);
    else if (!plan.changedByMerge.has(now.ino)) {
      plan.livesOn.set(now.ino, now);
      // A name it has now that counts one is not in the links index, by which the group is counted.
      if (now.nlink < 2) out.push({ path, want: { ...now, nlink: 2 }, now });
    } else if (movedHere(store, vault, record, now)) {
      // The merged file itself, renamed since (`mv`): it stays as it is, later work on another
      // path; the name put back is a file of its own.
      renumber(now.ino);
    } else {
      plan.linked.add(now.ino);
      out.push({ path, want: { ...want, annot: now.annot }, now });
    }
  }
  return out;
}

/**
 * Whether `now`'s name came to hold its inode since the merge by a move of the file, rather than
 * by a link (`ln`, perhaps with the old name removed after: the same state, one name on the
 * inode). A `mv` moves it. A revert or restore may move it too (a directory rename undone) or
 * link it again with names that hold it (a checkpoint's hard links put back): it moved when the
 * name is the file's only one. Changes since the merge are the vault's own rows.
 */
function movedHere(store: Store, vault: VaultRow, record: MergeRecord, now: Entry): boolean {
  const first = store.stmt<{ op: string }>(ARRIVAL).get(vault.id, now.path, record.end_seq, now.ino);
  return first?.op === 'move' || (first !== undefined && first.op !== 'link' && now.nlink < 2);
}

const ARRIVAL = 'SELECT op FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND id > ? AND ino = ? ORDER BY id LIMIT 1';

/**
 * `paths` and the directories above them that were directories at `seq` and are not now (removed
 * since, or replaced by a file or symlink): putting a path back needs them back first. Sorted.
 */
function withDirectories(store: Store, vault: VaultRow, seq: number, paths: Set<string>): string[] {
  for (const path of [...paths]) {
    if (!stateAt(store, vault, path, seq)) continue;
    for (let dir = dirname(path); dir !== '/' && !paths.has(dir); dir = dirname(dir)) {
      if (getEntry(store, vault, dir)?.type === 'd') break;
      if (stateAt(store, vault, dir, seq)?.type === 'd') paths.add(dir);
    }
  }
  return [...paths].sort();
}

/**
 * Whether a name is in the link group it was in: a merge that removed one name of a hard link
 * changed the others' link count only, which undo puts back too.
 */
const sameLinks = (now: Entry, want: PathState) => now.type === 'd' || ((want.nlink ?? 1) === now.nlink && (want.ino ?? now.ino) === now.ino);

/**
 * Paths the merge changed that are not what it left them (times aside), and paths created since
 * below a directory the merge made (a name added to a directory may update its version in place
 * rather than record one, so the directory alone would not show it). A version after the merge
 * alone is no change: a directory whose times moved (a file written in it) records one whenever
 * a checkpoint holds its older state.
 */
function changedSinceMerge(store: Store, vault: VaultRow, record: MergeRecord, merged: string[]): string[] {
  const later = pathsChangedAfter(store, vault, record.end_seq);
  const mergedSet = new Set(merged);
  const out = merged.filter((p) => later.has(p));
  for (const p of merged) {
    if (getEntry(store, vault, p)?.type !== 'd' || stateAt(store, vault, p, record.seq)?.type === 'd') continue;
    for (const e of iterateDescendants(store, vault, p)) if (!mergedSet.has(e.path) && later.has(e.path)) out.push(e.path);
  }
  const differs = (p: string) => !sameState(mergeState(getEntry(store, vault, p)), mergeState(stateAt(store, vault, p, record.end_seq)));
  return [...new Set(out)].filter(differs).sort();
}
