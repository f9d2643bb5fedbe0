import type { Store } from './store.js';
import { iterateDescendants, layersOf, type Entry } from './entries.js';
import { vaultById, type VaultRow } from './vaults.js';

/**
 * What a vault uses, as quotas measure it (ARCHITECTURE.md, "Usage counters"): the one owner of
 * the usage columns of `vaults` (files, directories, symlinks, specials, bytes) and of the rule
 * behind them. Every entry but the root counts once; bytes are the logical size of files only (a
 * symlink's size is its target's length and a directory's or special file's is 0: none counts).
 * The counters are kept by the one door (entries.ts calls countChange in the change's own
 * transaction), so reading usage is O(1); quotas, checkpoint restores, stats and the mount read it
 * here.
 */

export interface Usage {
  /** Logical size of the vault's files. */
  bytes: number;
  /** Files, directories, symlinks and special files (the root not counted): what max_files limits. */
  entries: number;
}

/** What one entry adds to its vault's usage. */
export function usageOf(e: Pick<Entry, 'type' | 'size'> | null | undefined): Usage {
  if (!e) return { bytes: 0, entries: 0 };
  return { bytes: e.type === 'f' ? e.size : 0, entries: 1 };
}

/** How usage changes when a path goes from `before` to `after` (either may be absent). */
export function usageChange(before: Pick<Entry, 'type' | 'size'> | null | undefined, after: Pick<Entry, 'type' | 'size'> | null | undefined): Usage {
  const a = usageOf(after);
  const b = usageOf(before);
  return { bytes: a.bytes - b.bytes, entries: a.entries - b.entries };
}

/** A vault's usage from the counters of its row. */
export function vaultUsage(vault: VaultRow): Usage {
  return { bytes: vault.bytes, entries: vault.files + vault.directories + vault.symlinks + vault.specials };
}

/** A vault's usage read now (counters move within a transaction: a move removes, then puts). */
export function currentUsage(store: Store, vault: VaultRow): Usage {
  return vaultUsage(vaultById(store, vault.id)!);
}

/** The size of the vault's largest file (a scan of what it shows). */
export function largestFile(store: Store, vault: VaultRow): number {
  if (layersOf(vault).length === 1) {
    return store.stmt<{ n: number }>("SELECT coalesce(max(size), 0) AS n FROM entries WHERE vault_id = ? AND type = 'f'").get(vault.id)!.n;
  }
  let max = 0;
  for (const e of iterateDescendants(store, vault, '/')) if (e.type === 'f' && e.size > max) max = e.size;
  return max;
}

/** Entries of the trees of every vault not retired (roots not counted), and their file bytes. */
export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  logical_bytes: number;
}

/** One vault's tree counts. */
export const treeCounts = (vault: VaultRow): TreeCounts => ({ files: vault.files, directories: vault.directories, symlinks: vault.symlinks, logical_bytes: vault.bytes });

const HOME_TREE_COUNTS = `SELECT coalesce(sum(files), 0) AS files, coalesce(sum(directories), 0) AS directories,
  coalesce(sum(symlinks), 0) AS symlinks, coalesce(sum(bytes), 0) AS logical_bytes FROM vaults WHERE retired_at IS NULL`;

/** The tree counts of the whole home: every vault not retired. */
export function homeTreeCounts(store: Store): TreeCounts {
  return store.stmt<TreeCounts>(HOME_TREE_COUNTS).get()!;
}

const COUNTERS = 'UPDATE vaults SET files = files + ?, directories = directories + ?, symlinks = symlinks + ?, specials = specials + ?, bytes = bytes + ? WHERE id = ?';
const SLOT: Record<string, number> = { f: 0, d: 1, l: 2 };

/** Adjusts the vault's counters for `before` → `after` at one path (either may be absent). Only entries.ts calls it. */
export function countChange(store: Store, vault: VaultRow, path: string, before: Pick<Entry, 'type' | 'size'> | undefined, after: Pick<Entry, 'type' | 'size'> | undefined): void {
  if (path === '/') return;
  const delta = [0, 0, 0, 0, usageChange(before, after).bytes];
  if (before) delta[SLOT[before.type] ?? 3]! -= 1;
  if (after) delta[SLOT[after.type] ?? 3]! += 1;
  if (delta.some((d) => d !== 0)) store.stmt(COUNTERS).run(...delta, vault.id);
}

/**
 * Counts entries added (`sign` 1) or removed (-1) together: per type, how many and their summed
 * size (bytes count for files only, as usageOf counts them). Only entries.ts calls it (a set-wise
 * copy or removal of a subtree).
 */
export function countSubtree(store: Store, vault: VaultRow, byType: ReadonlyArray<{ type: string; n: number; bytes: number }>, sign: 1 | -1): void {
  const delta = [0, 0, 0, 0, 0];
  for (const { type, n, bytes } of byType) {
    delta[SLOT[type] ?? 3]! += sign * n;
    if (type === 'f') delta[4]! += sign * bytes;
  }
  if (delta.some((d) => d !== 0)) store.stmt(COUNTERS).run(...delta, vault.id);
}
