import { AvfsError } from '../errors.js';
import { descendantRange, normalizePath } from '../core/paths.js';
import { audit } from './audit.js';
import { now, type Actor, type Store } from './store.js';
import { getVault, type VaultRow } from './vaults.js';

/**
 * Pruning history (DESIGN §2 rule 8). Drops old version rows (and, when asked, old checkpoints)
 * by rule; the content they alone referenced then becomes collectable by `gc`.
 *
 * Rules, per path (versions) or per vault (checkpoints):
 *  - `keep`: the newest `keep` stay; older ones are candidates.
 *  - `olderThanMs`: only rows older than now - olderThanMs are candidates.
 *  - both: a row goes only when both rules say so (keep at least N, and anything recent).
 * Never dropped: the newest version of each path (the current state, or the deletion that ended
 * it, so version numbers never restart), and any version that is the current state of a path in
 * this vault or in a fork below it (a fork reads its parent's history from before the fork).
 * Checkpoints have no current state: with only `olderThanMs`, every old checkpoint goes.
 *
 * Pruning a vault also shortens the history its forks inherit from it (their `log` of paths
 * unchanged since the fork shows what is left in the parent).
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
}

export interface PruneVaultReport {
  vault: string;
  pruned_versions: number;
  remaining_versions: number;
  pruned_checkpoints: string[];
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
  vaults: PruneVaultReport[];
}

export function prune(store: Store, options: PruneOptions): PruneReport {
  const { keep, olderThanMs } = options;
  if (keep === undefined && olderThanMs === undefined) {
    throw new AvfsError('USAGE', 'say what to prune: --keep <n>, --older-than <duration>, or both');
  }
  if (keep !== undefined && (!Number.isSafeInteger(keep) || keep < 1)) {
    throw new AvfsError('INVALID_ARGUMENT', `--keep must be a whole number of at least 1 (the current state is always kept), got ${keep}`, { keep });
  }
  if (olderThanMs !== undefined && (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0)) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid age: ${olderThanMs}`, { older_than_ms: olderThanMs });
  }
  const path = normalizePath(options.path ?? '/');
  if (options.checkpoints && path !== '/') {
    throw new AvfsError('INVALID_ARGUMENT', 'checkpoints belong to a whole vault: prune them with path / (or --all), not a sub-path', { path });
  }
  const cutoff = olderThanMs === undefined ? null : now() - olderThanMs;
  const vaults = store.read(() =>
    'all' in options.scope
      ? store.stmt<VaultRow>('SELECT * FROM vaults ORDER BY name').all()
      : [getVault(store, options.scope.vault)],
  );
  const report: PruneReport = {
    dry_run: !!options.dryRun,
    path,
    keep: keep ?? null,
    older_than_ms: olderThanMs ?? null,
    cutoff: cutoff === null ? null : new Date(cutoff).toISOString(),
    pruned_versions: 0,
    pruned_checkpoints: 0,
    vaults: [],
  };
  // One transaction per vault: each is consistent, and other writers get the lock in between.
  for (const { name } of vaults) {
    const result = store.mutate(() => pruneVault(store, getVault(store, name), path, keep, cutoff, options));
    report.vaults.push(result);
    report.pruned_versions += result.pruned_versions;
    report.pruned_checkpoints += result.pruned_checkpoints.length;
  }
  return report;
}

/** Ids of this vault and every vault forked from it, directly or through other forks. */
function withDescendants(store: Store, id: number): number[] {
  const rows = store.stmt<{ id: number; parent_id: number | null }>('SELECT id, parent_id FROM vaults').all();
  const out = [id];
  for (let i = 0; i < out.length; i++) for (const r of rows) if (r.parent_id === out[i]) out.push(r.id);
  return out;
}

/**
 * Candidate versions: ranked newest first per path; a row is a candidate when it is past the
 * newest `keep` (at least 1) and older than the cutoff, and no entry of this vault or its forks
 * is at that version.
 */
const VERSION_CANDIDATES = `
  SELECT v.id FROM (
    SELECT id, path, version, at, row_number() OVER (PARTITION BY path ORDER BY id DESC) AS rn
    FROM versions WHERE vault_id = @vault AND (@all_paths OR path = @path OR (path >= @lo AND path < @hi))
  ) v
  WHERE v.rn > @keep AND (@cutoff IS NULL OR v.at < @cutoff)
    AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.vault_id IN (SELECT value FROM json_each(@family)) AND e.path = v.path AND e.version = v.version)`;

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
    family: JSON.stringify(withDescendants(store, vault.id)),
  };
  const pruned = options.dryRun
    ? store.stmt<{ n: number }>(`SELECT count(*) AS n FROM (${VERSION_CANDIDATES})`).get(params)!.n
    : store.stmt(`DELETE FROM versions WHERE id IN (${VERSION_CANDIDATES})`).run(params).changes;

  let checkpoints: Array<{ id: number; name: string }> = [];
  if (options.checkpoints) {
    checkpoints = store.stmt<{ id: number; name: string }>(CHECKPOINT_CANDIDATES).all(vault.id, keep ?? 0, cutoff, cutoff);
    if (!options.dryRun && checkpoints.length > 0) deleteCheckpoints(store, checkpoints.map((c) => c.id));
  }
  const remaining = store.stmt<{ n: number }>('SELECT count(*) AS n FROM versions WHERE vault_id = ?').get(vault.id)!.n;
  if (!options.dryRun && (pruned > 0 || checkpoints.length > 0)) {
    audit(store, options.actor, 'prune', vault.name, {
      path,
      keep: keep ?? null,
      older_than_ms: options.olderThanMs ?? null,
      pruned_versions: pruned,
      pruned_checkpoints: checkpoints.map((c) => c.name),
    });
  }
  return { vault: vault.name, pruned_versions: pruned, remaining_versions: remaining, pruned_checkpoints: checkpoints.map((c) => c.name) };
}

/**
 * Deletes checkpoints with everything that belongs to them: every table with a checkpoint_id
 * column (checkpoint_entries, checkpoint_annotations, and whatever a later feature adds).
 */
function deleteCheckpoints(store: Store, ids: number[]): void {
  const json = JSON.stringify(ids);
  const tables = store
    .stmt<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")
    .all()
    .map((r) => r.name)
    .filter((name) => (store.db.pragma(`table_info("${name.replace(/"/g, '""')}")`) as Array<{ name: string }>).some((c) => c.name === 'checkpoint_id'));
  for (const table of tables) store.stmt(`DELETE FROM "${table.replace(/"/g, '""')}" WHERE checkpoint_id IN (SELECT value FROM json_each(?))`).run(json);
  store.stmt('DELETE FROM checkpoints WHERE id IN (SELECT value FROM json_each(?))').run(json);
}
