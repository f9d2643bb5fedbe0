import { AvfsError } from '../errors.js';
import { audit } from './audit.js';
import type { SizeLimit } from './blobs.js';
import type { Entry, EntryState } from './entries.js';
import type { Actor, Store } from './store.js';
import { getVault, type VaultRow } from './vaults.js';
import { currentUsage, largestFile, usageChange, usageOf, vaultUsage, type Usage } from './usage.js';

/** Whether any limit is set on the vault: set-wise writes (entries.ts) are for vaults without one, whose entries need no check each. */
export const hasQuota = (vault: VaultRow): boolean => vault.max_bytes !== null || vault.max_files !== null || vault.max_file_size !== null;

/**
 * Refuses a change that would take the vault over its quota. Runs inside the change's own
 * transaction, before anything is written, so a refused write changes nothing. Entries count
 * files, directories, symlinks and special files; bytes count the logical size of files (a
 * symlink's size is its target's length: not counted). Usage and the rule are usage.ts's: the
 * vault's counters, so the check is O(1).
 */
export function enforceQuota(store: Store, vault: VaultRow, path: string, old: Entry | undefined, next: EntryState): void {
  if (!hasQuota(vault)) return;
  if (next.type === 'f' && vault.max_file_size !== null && next.size > vault.max_file_size) {
    throw quotaError(vault, path, 'max_file_size', vault.max_file_size, next.size);
  }
  refuseGrowth(store, vault, path, usageChange(old, next));
}

/** Refuses `added` usage that would take the vault past max_bytes or max_files; `path` names the change. */
function refuseGrowth(store: Store, vault: VaultRow, path: string, added: Usage): void {
  if (added.bytes <= 0 && added.entries <= 0) return;
  const usage = currentUsage(store, vault);
  if (vault.max_bytes !== null && added.bytes > 0 && usage.bytes + added.bytes > vault.max_bytes) {
    throw quotaError(vault, path, 'max_bytes', vault.max_bytes, usage.bytes + added.bytes);
  }
  if (vault.max_files !== null && added.entries > 0 && usage.entries + added.entries > vault.max_files) {
    throw quotaError(vault, path, 'max_files', vault.max_files, usage.entries + added.entries);
  }
}

/**
 * Refuses a change of many entries (an import, a cp -r, a merge) up front when all of it together
 * would take the vault over max_bytes or max_files, reporting what the whole change needs. Checked
 * entry by entry alone, the refusal came at the first entry over the limit and said "needs 31" of
 * an import of 150 files into a vault allowed 30. `changes` gives each path's state before and
 * after (null: removed); it is read only under a quota. Where it names the path, a file over
 * max_file_size is refused too: a plan put back exactly (a merge undo) skips the per-entry check
 * (enforceQuota) that every other change still makes as each entry is written.
 */
export function enforceQuotaForAll(
  store: Store,
  vault: VaultRow,
  root: string,
  changes: () => Iterable<readonly [before: Pick<Entry, 'type' | 'size'> | null | undefined, after: Pick<Entry, 'type' | 'size'> | null, path?: string]>,
): void {
  if (!hasQuota(vault)) return;
  const added: Usage = { bytes: 0, entries: 0 };
  for (const [before, after, path] of changes()) {
    if (path !== undefined && after?.type === 'f' && vault.max_file_size !== null && after.size > vault.max_file_size) {
      throw quotaError(vault, path, 'max_file_size', vault.max_file_size, after.size);
    }
    const change = usageChange(before, after);
    added.bytes += change.bytes;
    added.entries += change.entries;
  }
  refuseGrowth(store, vault, root, added);
}

/**
 * The size limit for a file written at `path` whose size is not known until it has been read (a
 * pipe): the most bytes it may have under max_file_size and max_bytes, measured as enforceQuota
 * measures them, and the QUOTA_EXCEEDED error for a stream that passed it (`wanted` then counts
 * what had been read). Undefined without byte limits. The linking transaction checks again.
 */
export function streamLimit(store: Store, vault: VaultRow, path: string, old: Entry | undefined): SizeLimit | undefined {
  const limits: Array<{ limit: string; max: number; room: number; wanted: (size: number) => number }> = [];
  if (vault.max_file_size !== null) limits.push({ limit: 'max_file_size', max: vault.max_file_size, room: vault.max_file_size, wanted: (size) => size });
  if (vault.max_bytes !== null) {
    const oldSize = usageOf(old).bytes;
    const others = currentUsage(store, vault).bytes - oldSize;
    // A vault already over its quota may still keep a file at its size (enforceQuota refuses only growth).
    limits.push({ limit: 'max_bytes', max: vault.max_bytes, room: Math.max(vault.max_bytes - others, oldSize), wanted: (size) => others + size });
  }
  if (limits.length === 0) return undefined;
  const tightest = limits.reduce((a, b) => (b.room < a.room ? b : a));
  return { maxBytes: tightest.room, refuse: (size) => quotaError(vault, path, tightest.limit, tightest.max, tightest.wanted(size)) };
}

function quotaError(vault: VaultRow, path: string, limit: string, max: number, wanted: number): AvfsError {
  return new AvfsError('QUOTA_EXCEEDED', `quota exceeded in vault ${vault.name}: ${limit} is ${max}, this change needs ${wanted}`, {
    vault: vault.name,
    path,
    limit,
    max,
    wanted,
  });
}

/** A vault's limits; `null` means unlimited. */
export interface QuotaLimits {
  max_bytes: number | null;
  max_files: number | null;
  max_file_size: number | null;
}

/** Current usage, measured the way enforceQuota measures it. */
export interface QuotaUsage extends Usage {
  /** The largest file, compared with max_file_size. */
  largest_file: number;
}

export interface QuotaReport {
  vault: string;
  quota: QuotaLimits;
  usage: QuotaUsage;
  /** Limits the vault is already over (possible after lowering a quota): growth is refused until usage drops. */
  exceeded: Array<keyof QuotaLimits>;
}

export function quotaReport(store: Store, vault: VaultRow): QuotaReport {
  return store.read(() => {
    const usage: QuotaUsage = { ...vaultUsage(vault), largest_file: largestFile(store, vault) };
    const quota: QuotaLimits = { max_bytes: vault.max_bytes, max_files: vault.max_files, max_file_size: vault.max_file_size };
    const exceeded: Array<keyof QuotaLimits> = [];
    if (quota.max_bytes !== null && usage.bytes > quota.max_bytes) exceeded.push('max_bytes');
    if (quota.max_files !== null && usage.entries > quota.max_files) exceeded.push('max_files');
    if (quota.max_file_size !== null && usage.largest_file > quota.max_file_size) exceeded.push('max_file_size');
    return { vault: vault.name, quota, usage, exceeded };
  });
}

/**
 * Sets the given limits (others keep their value; `null` removes one). A limit below current
 * usage is accepted: nothing is deleted, and from then on any change that would grow the vault in
 * that dimension is refused until usage is back under it (`exceeded` in the report says so).
 */
export function setQuota(store: Store, vaultName: string, limits: Partial<QuotaLimits>, actor: Actor, op = 'quota.set'): QuotaReport {
  return store.mutate(() => {
    const vault = getVault(store, vaultName);
    for (const [key, value] of Object.entries(limits)) {
      if (value !== null && value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
        throw new AvfsError('INVALID_ARGUMENT', `${key} must be a whole number of at least 0, got ${value}`, { limit: key, value });
      }
    }
    const next: QuotaLimits = {
      max_bytes: limits.max_bytes === undefined ? vault.max_bytes : limits.max_bytes,
      max_files: limits.max_files === undefined ? vault.max_files : limits.max_files,
      max_file_size: limits.max_file_size === undefined ? vault.max_file_size : limits.max_file_size,
    };
    store.stmt('UPDATE vaults SET max_bytes = ?, max_files = ?, max_file_size = ? WHERE id = ?').run(next.max_bytes, next.max_files, next.max_file_size, vault.id);
    audit(store, actor, op, vault.name, { ...next });
    return quotaReport(store, getVault(store, vaultName));
  });
}

/** Removes every limit of a vault. */
export function clearQuota(store: Store, vaultName: string, actor: Actor): QuotaReport {
  return setQuota(store, vaultName, { max_bytes: null, max_files: null, max_file_size: null }, actor, 'quota.clear');
}
