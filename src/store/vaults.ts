import { AvfsError } from '../errors.js';
import { audit } from './audit.js';
import { readState, writeState } from './home.js';
import { now, type Actor, type Store } from './store.js';

export interface VaultRow {
  id: number;
  name: string;
  parent_id: number | null;
  fork_seq: number | null;
  created_at: number;
  next_ino: number;
  max_bytes: number | null;
  max_files: number | null;
  max_file_size: number | null;
}

export interface VaultSummary {
  name: string;
  parent: string | null;
  created_at: string;
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  forks: number;
  current: boolean;
}

export const VAULT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DEFAULT_VAULT = 'default';

export function validateVaultName(name: string): string {
  if (typeof name !== 'string' || !VAULT_NAME_RE.test(name)) {
    throw new AvfsError(
      'INVALID_NAME',
      `invalid vault name ${JSON.stringify(name)}: use 1-128 letters, digits, '-', '_' or '.', not starting with '.' or '-'`,
      { name },
    );
  }
  return name;
}

const SELECT_VAULT = 'SELECT * FROM vaults WHERE name = ?';
const SELECT_VAULT_BY_ID = 'SELECT * FROM vaults WHERE id = ?';
const INSERT_VAULT = 'INSERT INTO vaults (name, parent_id, fork_seq, created_at, next_ino) VALUES (?, ?, ?, ?, ?)';
const INSERT_ROOT = `INSERT INTO entries (vault_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
  VALUES (?, '/', '', 'd', 493, 0, NULL, NULL, ?, ?, ?, 1, 0)`;
const COUNT_BY_TYPE = `SELECT type, count(*) AS n, coalesce(sum(size), 0) AS bytes FROM entries WHERE vault_id = ? AND path <> '/' GROUP BY type`;

export function findVault(store: Store, name: string): VaultRow | undefined {
  return store.stmt<VaultRow>(SELECT_VAULT).get(name);
}

export function getVault(store: Store, name: string): VaultRow {
  validateVaultName(name);
  const row = findVault(store, name);
  if (!row) throw new AvfsError('VAULT_NOT_FOUND', `no such vault: ${name}`, { vault: name });
  return row;
}

export function vaultById(store: Store, id: number): VaultRow | undefined {
  return store.stmt<VaultRow>(SELECT_VAULT_BY_ID).get(id);
}

export function createVault(store: Store, name: string, actor: Actor): VaultSummary {
  validateVaultName(name);
  store.mutate(() => {
    if (findVault(store, name)) throw new AvfsError('ALREADY_EXISTS', `vault already exists: ${name}`, { vault: name });
    const at = now();
    const { lastInsertRowid } = store.stmt(INSERT_VAULT).run(name, null, null, at, 2);
    store.stmt(INSERT_ROOT).run(lastInsertRowid, at, at, at);
    audit(store, actor, 'vault.create', name);
  });
  return summarize(store, getVault(store, name));
}

/** The global change sequence: the id of the newest version row (0 for an empty home). */
export function currentSeq(store: Store): number {
  return store.stmt<{ seq: number }>('SELECT coalesce(max(id), 0) AS seq FROM versions').get()!.seq;
}

/**
 * Forks `source` into a new vault `target`: copies the entry and annotation rows (metadata only;
 * content is shared by hash) and records the parent and the change sequence it forked at, so
 * history older than the fork is read from the parent instead of being copied.
 */
export function forkVault(store: Store, source: string, target: string, actor: Actor): VaultSummary {
  validateVaultName(target);
  store.mutate(() => {
    const src = getVault(store, source);
    if (findVault(store, target)) throw new AvfsError('ALREADY_EXISTS', `vault already exists: ${target}`, { vault: target });
    const at = now();
    const { lastInsertRowid } = store.stmt(INSERT_VAULT).run(target, src.id, currentSeq(store), at, src.next_ino);
    const id = Number(lastInsertRowid);
    store
      .stmt(
        `INSERT INTO entries (vault_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
         SELECT ?, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version FROM entries WHERE vault_id = ?`,
      )
      .run(id, src.id);
    store
      .stmt('INSERT INTO annotations (vault_id, path, kind, key, value) SELECT ?, path, kind, key, value FROM annotations WHERE vault_id = ?')
      .run(id, src.id);
    store
      .stmt('UPDATE vaults SET max_bytes = ?, max_files = ?, max_file_size = ? WHERE id = ?')
      .run(src.max_bytes, src.max_files, src.max_file_size, id);
    audit(store, actor, 'vault.fork', target, { from: source });
  });
  return summarize(store, getVault(store, target));
}

export function forksOf(store: Store, id: number): string[] {
  return store.stmt<{ name: string }>('SELECT name FROM vaults WHERE parent_id = ? ORDER BY name').all(id).map((r) => r.name);
}

/**
 * Deletes a vault with its entries, history, checkpoints and annotations (content stays until
 * `gc`). A vault with forks is refused with HAS_FORKS unless `force`: then its forks are detached
 * (they keep every file, but history from before the fork, which they read from this vault, goes
 * with it). Deleting the vault in use clears the selection.
 */
export function deleteVault(store: Store, name: string, force: boolean, actor: Actor): { name: string; detached_forks: string[] } {
  const detached = store.mutate(() => {
    const vault = getVault(store, name);
    const forks = forksOf(store, vault.id);
    if (forks.length > 0 && !force) {
      throw new AvfsError('HAS_FORKS', `vault ${name} has forks (${forks.join(', ')}); pass --force to delete it and detach them`, {
        vault: name,
        forks,
      });
    }
    store.stmt('UPDATE vaults SET parent_id = NULL, fork_seq = NULL WHERE parent_id = ?').run(vault.id);
    for (const table of ['entries', 'versions', 'annotations']) {
      store.stmt(`DELETE FROM ${table} WHERE vault_id = ?`).run(vault.id);
    }
    store.stmt('DELETE FROM checkpoint_entries WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE vault_id = ?)').run(vault.id);
    store.stmt('DELETE FROM checkpoint_annotations WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE vault_id = ?)').run(vault.id);
    store.stmt('DELETE FROM checkpoints WHERE vault_id = ?').run(vault.id);
    store.stmt('DELETE FROM vaults WHERE id = ?').run(vault.id);
    audit(store, actor, 'vault.delete', name, { detached_forks: forks });
    return forks;
  });
  if (currentVaultName(store) === name) writeState(store.home, { ...readState(store.home), current_vault: null });
  return { name, detached_forks: detached };
}

export function summarize(store: Store, vault: VaultRow): VaultSummary {
  const counts = { f: { n: 0, bytes: 0 }, d: { n: 0, bytes: 0 }, l: { n: 0, bytes: 0 } } as Record<string, { n: number; bytes: number }>;
  for (const row of store.stmt<{ type: string; n: number; bytes: number }>(COUNT_BY_TYPE).all(vault.id)) counts[row.type] = row;
  const parent = vault.parent_id === null ? null : (vaultById(store, vault.parent_id)?.name ?? null);
  return {
    name: vault.name,
    parent,
    created_at: new Date(vault.created_at).toISOString(),
    files: counts.f!.n,
    directories: counts.d!.n,
    symlinks: counts.l!.n,
    bytes: counts.f!.bytes,
    forks: forksOf(store, vault.id).length,
    current: currentVaultName(store) === vault.name,
  };
}

export function listVaults(store: Store): VaultSummary[] {
  return store.read(() => store.stmt<VaultRow>('SELECT * FROM vaults ORDER BY name').all().map((v) => summarize(store, v)));
}

export function useVault(store: Store, name: string): VaultSummary {
  const vault = getVault(store, name);
  writeState(store.home, { ...readState(store.home), current_vault: name });
  return summarize(store, vault);
}

/**
 * Which vault a command works on: `--vault`, else `$AVFS_VAULT`, else the one chosen with
 * `vault use`. A new home starts with a vault named `default`, which is used until another is chosen.
 */
export function resolveVaultName(store: Store, flag?: string): string {
  const selected = readState(store.home).current_vault;
  // No selection recorded yet means a new home: its seeded `default` vault. An explicit null
  // means the selected vault was deleted, and guessing another one would be wrong.
  const name = flag || process.env.AVFS_VAULT || (selected === undefined ? DEFAULT_VAULT : selected);
  if (!name) {
    throw new AvfsError('NO_VAULT', 'no vault selected: pass --vault <name>, set AVFS_VAULT, or run `avfs vault use <name>`');
  }
  return validateVaultName(name);
}

/** The vault chosen with `vault use` (or the seeded default), ignoring flags and environment. */
export function currentVaultName(store: Store): string | null {
  const selected = readState(store.home).current_vault;
  return selected === undefined ? DEFAULT_VAULT : selected;
}
