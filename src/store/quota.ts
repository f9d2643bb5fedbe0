import { AvfsError } from '../errors.js';
import type { Entry, EntryState } from './entries.js';
import type { Store } from './store.js';
import type { VaultRow } from './vaults.js';

const USAGE = "SELECT coalesce(sum(size), 0) AS bytes, count(*) - 1 AS entries FROM entries WHERE vault_id = ?";

/**
 * Refuses a change that would take the vault over its quota. Runs inside the change's own
 * transaction, before anything is written, so a refused write changes nothing. Entries count
 * files, directories and symlinks; bytes count the logical size of files.
 */
export function enforceQuota(store: Store, vault: VaultRow, path: string, old: Entry | undefined, next: EntryState): void {
  if (vault.max_bytes === null && vault.max_files === null && vault.max_file_size === null) return;
  if (next.type === 'f' && vault.max_file_size !== null && next.size > vault.max_file_size) {
    throw quotaError(vault, path, 'max_file_size', vault.max_file_size, next.size);
  }
  const addedBytes = (next.type === 'f' ? next.size : 0) - (old?.type === 'f' ? old.size : 0);
  const addedEntries = old ? 0 : 1;
  if (addedBytes <= 0 && addedEntries === 0) return;
  const usage = store.stmt<{ bytes: number; entries: number }>(USAGE).get(vault.id)!;
  if (vault.max_bytes !== null && addedBytes > 0 && usage.bytes + addedBytes > vault.max_bytes) {
    throw quotaError(vault, path, 'max_bytes', vault.max_bytes, usage.bytes + addedBytes);
  }
  if (vault.max_files !== null && addedEntries > 0 && usage.entries + addedEntries > vault.max_files) {
    throw quotaError(vault, path, 'max_files', vault.max_files, usage.entries + addedEntries);
  }
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
