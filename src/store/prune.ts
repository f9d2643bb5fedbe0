import { AvfsError } from '../errors.js';
import { descendantRange, namesDirectory, normalizePath } from '../core/paths.js';
import { audit } from './audit.js';
import { now, type Actor, type Store } from './store.js';
import { deleteCheckpointRows } from './checkpoints.js';
import { forksOf, getVault, shownName, vaultById, type VaultRow } from './vaults.js';
import { mergePins, mergeWindows, trackedPins } from './lineage.js';
import { undoableExecWindows } from './execs.js';
import { getEntry } from './entries.js';

/**
 * Pruning history (ARCHITECTURE.md "Prune and gc", "Pins"). Drops old version rows (and, when
 * asked, old checkpoints) by rule; the content they alone referenced then becomes collectable by
 * `gc`.
 *
 * Rules, per path (versions) or per vault (checkpoints):
 *  - `keep`: the newest `keep` stay; older ones are candidates.
 *  - `olderThanMs`: only rows older than now - olderThanMs are candidates.
 *  - both: a row goes only when both rules say so (keep at least N, and anything recent).
 * Never dropped: the newest version of each path (the current state, or the deletion that ended
 * it, so version numbers never restart), and any pinned version: a path's newest at or before a
 * checkpoint that stays, or before the fork point of a fork (what that fork shows and restores),
 * and any version an undo still reads: those a merge not undone wrote, and those recorded while an
 * exec ran that `proxy undo` can still undo (its checkpoint stays). Without them an undo would not
 * see what it has to put back, nor the later changes it must refuse to drop.
 * Checkpoints have no current state: with only `olderThanMs`, every old checkpoint goes, and the
 * versions only they pinned go with them in the same run.
 *
 * Pruning a vault also shortens the history its forks inherit from it (their `log` of paths
 * unchanged since the fork shows what is left in the parent, at least the state at the fork).
 * A deleted vault kept for its forks (retired) is pruned with them: by `all`, and with the one
 * vault that is its only live fork, whose history it then is (otherwise a version pruned on
 * purpose, a leaked secret, stayed readable through it for good).
 */
export interface PruneOptions {
  /** One vault (by name), or every vault in the home. */
  scope: { vault: string } | { all: true };
  /** Only versions of this vault path and the paths below it (default: every path). */
  path?: string;
  keep?: number;
  olderThanMs?: number;
  checkpoints?: boolean;
  dryRun?: boolean;
  actor: Actor;
  /** How the caller's face names these options in error messages (default: the CLI's flags). */
  names?: PruneOptionNames;
}

/** The words a face uses for prune's options: the CLI's flags, or the SDK's option names. */
export interface PruneOptionNames {
  keep: string;
  olderThan: string;
  all: string;
}
const CLI_NAMES: PruneOptionNames = { keep: '--keep', olderThan: '--older-than', all: '--all' };

export interface PruneVaultReport {
  vault: string;
  /** A deleted vault whose history its forks still read (present only then). */
  deleted?: true;
  pruned_versions: number;
  remaining_versions: number;
  pruned_checkpoints: string[];
  /** The proxy execs whose checkpoint this drops, which `proxy undo` can no longer undo (not undone yet). */
  no_longer_undoable: string[];
}

export interface PruneReport {
  dry_run: boolean;
  path: string;
  keep: number | null;
  older_than_ms: number | null;
  /** Rows created before this time were old enough (null without --older-than). */
  cutoff: string | null;
  pruned_versions: number;
  pruned_checkpoints: number;
  /** Every vault's no_longer_undoable. */
  no_longer_undoable: string[];
  vaults: PruneVaultReport[];
}

export function prune(store: Store, options: PruneOptions): PruneReport {
  const { keep, olderThanMs } = options;
  const names = options.names ?? CLI_NAMES;
  if (keep === undefined && olderThanMs === undefined) {
    throw new AvfsError('USAGE', `say what to prune: ${names.keep}, ${names.olderThan}, or both`);
  }
  if (keep !== undefined && (!Number.isSafeInteger(keep) || keep < 1)) {
    throw new AvfsError('INVALID_ARGUMENT', `${names.keep} must be a whole number of at least 1 (the current state is always kept), got ${keep}`, { keep });
  }
  if (olderThanMs !== undefined && (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0)) {
    throw new AvfsError('INVALID_ARGUMENT', `${names.olderThan} must be an age of at least 0 whole milliseconds, got ${olderThanMs}`, { older_than_ms: olderThanMs });
  }
  const path = normalizePath(options.path ?? '/');
  if (options.checkpoints && path !== '/') {
    throw new AvfsError('INVALID_ARGUMENT', `checkpoints belong to a whole vault: prune them with path / (or ${names.all}), not a sub-path`, { path });
  }
  const cutoff = olderThanMs === undefined ? null : now() - olderThanMs;
  const scope = options.scope;
  const vaults = store.read(() =>
    'all' in scope ? store.stmt<VaultRow>('SELECT * FROM vaults ORDER BY retired_at IS NOT NULL, name').all() : withOwnedAncestors(store, getVault(store, scope.vault)),
  );
  // A path the vault neither has nor has history of, at it or below (a typo): said, not pruned as nothing.
  if (!('all' in scope) && path !== '/' && !store.read(() => getEntry(store, vaults[0]!, path) !== undefined || hasHistory(store, vaults[0]!, path))) {
    throw new AvfsError('NOT_FOUND', `${path} has no history in vault ${vaults[0]!.name}: nothing to prune there`, { path, vault: vaults[0]!.name });
  }
  // `f/` names a directory (as everywhere): a file there is NOT_A_DIRECTORY, not its history pruned.
  // A deleted path so named must have been a directory: a version of one there, or history below it.
  const namedDirectory = !('all' in scope) && path !== '/' && namesDirectory(options.path ?? '/');
  const atPath = namedDirectory ? store.read(() => getEntry(store, vaults[0]!, path)) : undefined;
  if (namedDirectory && (atPath ? atPath.type !== 'd' : !store.read(() => wasDirectory(store, vaults[0]!, path)))) {
    throw new AvfsError('NOT_A_DIRECTORY', `${options.path} ends with '/' but ${path} ${atPath ? 'is' : 'was'} not a directory: a file path cannot end with '/'`, { path, input: options.path });
  }
  const report: PruneReport = {
    dry_run: !!options.dryRun,
    path,
    keep: keep ?? null,
    older_than_ms: olderThanMs ?? null,
    cutoff: cutoff === null ? null : new Date(cutoff).toISOString(),
    pruned_versions: 0,
    pruned_checkpoints: 0,
    no_longer_undoable: [],
    vaults: [],
  };
  // One transaction per vault: each is consistent, and other writers get the lock in between.
  // A dry run writes nothing (only temp tables): a read, so a read-only home can be asked too.
  const run = <T>(fn: () => T): T => (options.dryRun ? store.read(fn) : store.mutate(fn));
  for (const { id } of vaults) {
    const result = run(() => {
      const vault = vaultById(store, id);
      return vault && pruneVault(store, vault, path, keep, cutoff, options); // a retired vault may be gone since
    });
    if (!result) continue;
    report.vaults.push(result);
    report.pruned_versions += result.pruned_versions;
    report.pruned_checkpoints += result.pruned_checkpoints.length;
    report.no_longer_undoable.push(...result.no_longer_undoable);
  }
  return report;
}

const HISTORY_AT = 'SELECT 1 FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? LIMIT 1';
const DIRECTORY_VERSION_AT = "SELECT 1 FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path = ? AND type = 'd' LIMIT 1";
const HISTORY_BELOW = 'SELECT 1 FROM versions INDEXED BY versions_path WHERE vault_id = ? AND path >= ? AND path < ? LIMIT 1';

/** Whether the vault records a version of `path` or of a path below it (its own history, which prune prunes). */
function hasHistory(store: Store, vault: VaultRow, path: string): boolean {
  return store.stmt(HISTORY_AT).get(vault.id, path) !== undefined || hasHistoryBelow(store, vault, path);
}

function hasHistoryBelow(store: Store, vault: VaultRow, path: string): boolean {
  const [lo, hi] = descendantRange(path);
  return store.stmt(HISTORY_BELOW).get(vault.id, lo, hi) !== undefined;
}

/** Whether `path`, not in the vault now, was a directory in its history (a version as one, or anything below it). */
function wasDirectory(store: Store, vault: VaultRow, path: string): boolean {
  return store.stmt(DIRECTORY_VERSION_AT).get(vault.id, path) !== undefined || hasHistoryBelow(store, vault, path);
}

/** The vault, then each deleted ancestor up the chain whose only live fork it is (their history is its own). */
function withOwnedAncestors(store: Store, vault: VaultRow): VaultRow[] {
  const out = [vault];
  for (let parent = vault.parent_id === null ? undefined : vaultById(store, vault.parent_id); parent && parent.retired_at !== null; ) {
    const live = forksOf(store, parent.id);
    if (live.length !== 1 || live[0] !== vault.name) break;
    out.push(parent);
    parent = parent.parent_id === null ? undefined : vaultById(store, parent.parent_id);
  }
  return out;
}

/**
 * The points of this vault's history something still needs (ARCHITECTURE.md, "Pins"): every
 * checkpoint (a pointer: restoring it reads each path's newest version at or before it) and the
 * fork point of every direct fork (a fork shows, and reads the history of, what this vault had
 * there), and the points merges and tracked imports start from or undo to (lineage.ts). A version
 * is pinned when it is a path's newest at or before some pin.
 */
function pinSeqs(store: Store, vault: VaultRow, dropping: number[]): number[] {
  const json = JSON.stringify(dropping);
  return [
    ...store
      .stmt<{ seq: number }>('SELECT seq FROM checkpoints WHERE vault_id = ? AND materialized = 0 AND id NOT IN (SELECT value FROM json_each(?))')
      .all(vault.id, json)
      .map((r) => r.seq),
    ...store.stmt<{ seq: number }>('SELECT fork_seq AS seq FROM vaults WHERE parent_id = ? AND fork_seq IS NOT NULL').all(vault.id).map((r) => r.seq),
    ...mergePins(store, vault.id),
    ...trackedPins(store, vault.id),
  ];
}

const PINS_TABLE = 'CREATE TEMP TABLE IF NOT EXISTS prune_pins (seq INTEGER PRIMARY KEY)';

/**
 * The change windows (after, upTo] whose versions an undo still reads (see the header), merged
 * into disjoint ones: a version is in one when the window with the greatest `after` below it
 * reaches it, one index probe per candidate.
 */
function keptWindows(store: Store, vault: VaultRow, dropping: number[]): Array<{ after: number; upTo: number }> {
  if (vault.retired_at !== null) return []; // nothing undoes into a deleted vault
  const windows = [...mergeWindows(store, vault.id), ...undoableExecWindows(store, vault.id, dropping)].sort((a, b) => a.after - b.after);
  const out: Array<{ after: number; upTo: number }> = [];
  for (const w of windows) {
    const last = out[out.length - 1];
    if (last && w.after <= last.upTo) last.upTo = Math.max(last.upTo, w.upTo);
    else out.push({ ...w });
  }
  return out;
}

const KEPT_TABLE = 'CREATE TEMP TABLE IF NOT EXISTS prune_kept (after INTEGER PRIMARY KEY, up_to INTEGER NOT NULL)';

/**
 * Candidate versions: ranked newest first per path by version number (a `touch` row shares the
 * number of the change before it and goes with it); a row is a candidate when it is past the
 * newest `keep` (at least 1), older than the cutoff, and not pinned: no pin between it and the
 * path's next version (the first row of a greater number). A pin past a change's `touch` row
 * pins the change with it: bounded by the touch row, the pin kept only the touch, and a fork
 * made after a restore lost the state it shows from its log.
 */
const VERSION_CANDIDATES = `
  SELECT v.id, v.op FROM (
    SELECT id, op, at, dense_rank() OVER (PARTITION BY path ORDER BY version DESC) AS rn,
      min(id) OVER (PARTITION BY path ORDER BY version RANGE BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS newer
    FROM versions WHERE vault_id = @vault AND (@all_paths OR path = @path OR (path >= @lo AND path < @hi))
  ) v
  WHERE v.rn > @keep AND (@cutoff IS NULL OR v.at < @cutoff)
    AND NOT EXISTS (SELECT 1 FROM temp.prune_pins p WHERE p.seq >= v.id AND p.seq < coalesce(v.newer, 9223372036854775807))
    AND coalesce((SELECT k.up_to FROM temp.prune_kept k WHERE k.after < v.id ORDER BY k.after DESC LIMIT 1), 0) < v.id`;

const UNDOABLE_WITH = 'SELECT id FROM execs WHERE vault_id = ? AND undone_at IS NULL AND checkpoint IN (SELECT value FROM json_each(?)) ORDER BY started_at, id';

const CHECKPOINT_CANDIDATES = `
  SELECT id, name FROM (
    SELECT id, name, created_at, row_number() OVER (ORDER BY created_at DESC, id DESC) AS rn FROM checkpoints WHERE vault_id = ?
  ) WHERE rn > ? AND (? IS NULL OR created_at < ?) ORDER BY created_at, id`;

function pruneVault(store: Store, vault: VaultRow, path: string, keep: number | undefined, cutoff: number | null, options: PruneOptions): PruneVaultReport {
  const [lo, hi] = descendantRange(path);
  const params = {
    vault: vault.id,
    all_paths: path === '/' ? 1 : 0,
    path,
    lo,
    hi,
    keep: keep ?? 1,
    cutoff,
  };
  let checkpoints: Array<{ id: number; name: string }> = [];
  if (options.checkpoints) checkpoints = store.stmt<{ id: number; name: string }>(CHECKPOINT_CANDIDATES).all(vault.id, keep ?? 0, cutoff, cutoff);
  // Made every time: changing temp_store (compact does) drops every temp table of the connection.
  store.stmt(PINS_TABLE).run();
  store.stmt('DELETE FROM temp.prune_pins').run();
  const insertPin = store.stmt('INSERT OR IGNORE INTO temp.prune_pins (seq) VALUES (?)');
  for (const seq of pinSeqs(store, vault, checkpoints.map((c) => c.id))) insertPin.run(seq);
  store.stmt(KEPT_TABLE).run();
  store.stmt('DELETE FROM temp.prune_kept').run();
  const insertKept = store.stmt('INSERT INTO temp.prune_kept (after, up_to) VALUES (?, ?)');
  for (const w of keptWindows(store, vault, checkpoints.map((c) => c.id))) insertKept.run(w.after, w.upTo);
  // Reported counts are of changes; `touch` rows (times only) go with them uncounted.
  const pruned = store.stmt<{ n: number }>(`SELECT count(*) AS n FROM (${VERSION_CANDIDATES}) WHERE op <> 'touch'`).get(params)!.n;
  if (!options.dryRun) store.stmt(`DELETE FROM versions WHERE id IN (SELECT id FROM (${VERSION_CANDIDATES}))`).run(params);

  // An exec's checkpoint is what makes it undoable: said, as a checkpoint is no different to prune.
  const lostUndos = checkpoints.length === 0 ? [] : store.stmt<{ id: string }>(UNDOABLE_WITH).all(vault.id, JSON.stringify(checkpoints.map((c) => c.name))).map((e) => e.id);
  if (!options.dryRun && checkpoints.length > 0) deleteCheckpointRows(store, checkpoints.map((c) => c.id));
  // After the prune: a dry run says what a real one would leave.
  const remaining = store.stmt<{ n: number }>("SELECT count(*) AS n FROM versions WHERE vault_id = ? AND op <> 'touch'").get(vault.id)!.n - (options.dryRun ? pruned : 0);
  if (!options.dryRun && (pruned > 0 || checkpoints.length > 0)) {
    audit(store, options.actor, 'prune', shownName(vault), {
      path,
      keep: keep ?? null,
      older_than_ms: options.olderThanMs ?? null,
      pruned_versions: pruned,
      pruned_checkpoints: checkpoints.map((c) => c.name),
      no_longer_undoable: lostUndos,
      ...(vault.retired_at === null ? {} : { deleted: true, vault_id: vault.id }),
    });
  }
  const named = vault.retired_at === null ? { vault: vault.name } : { vault: shownName(vault), deleted: true as const };
  return { ...named, pruned_versions: pruned, remaining_versions: remaining, pruned_checkpoints: checkpoints.map((c) => c.name), no_longer_undoable: lostUndos };
}
