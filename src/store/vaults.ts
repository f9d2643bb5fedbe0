import { AvfsError } from '../errors.js';
import { audit } from './audit.js';
import { readState, readStateIfSound, updateState, type HomeState } from './home.js';
import { deleteCheckpointRows } from './checkpoints.js';
import { dropHistory, dropLayer, insertRoot, layersOf } from './entries.js';
import { dropMergeRecords, dropTrackedImports } from './lineage.js';
import { dropExecRecords } from './execs.js';
import { now, type Actor, type Statements, type Store } from './store.js';

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
  /** JSON array of ancestor vault ids, nearest first (see entries.ts layersOf). */
  ancestors: string;
  /** Usage counters of what the vault shows (the root not counted), kept by entries.ts. */
  files: number;
  directories: number;
  symlinks: number;
  specials: number;
  bytes: number;
  /** Set when the vault was deleted while forks still read through it (see deleteVault). */
  retired_at: number | null;
}

export interface VaultSummary {
  name: string;
  /** The vault it was forked from; null when none, or when that one was deleted (a detached fork). */
  parent: string | null;
  /** Forked from a vault that was deleted since (then `parent` is null, whether or not an ancestor still stands). */
  detached: boolean;
  /** The live vaults it descends from, nearest first, deleted ones passed over (a detached fork still descends from the vaults above the deleted one). */
  ancestors: string[];
  created_at: string;
  files: number;
  directories: number;
  symlinks: number;
  /** FIFOs, sockets and device nodes. */
  specials: number;
  bytes: number;
  forks: number;
  current: boolean;
}

export const VAULT_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DEFAULT_VAULT = 'default';

export function validateVaultName(name: string): string {
  return validateName('vault', name);
}

/** Validates a user-given vault or checkpoint name (one rule for both: VAULT_NAME_RE). */
export function validateName(kind: 'vault' | 'checkpoint', name: string): string {
  if (typeof name !== 'string' || !VAULT_NAME_RE.test(name)) {
    throw new AvfsError(
      'INVALID_NAME',
      `invalid ${kind} name ${JSON.stringify(name)}: use 1-128 letters, digits, '-', '_' or '.', not starting with '.' or '-'`,
      { name },
    );
  }
  return name;
}

const SELECT_VAULT = 'SELECT * FROM vaults WHERE name = ?';
const SELECT_VAULT_BY_ID = 'SELECT * FROM vaults WHERE id = ?';
const INSERT_VAULT = 'INSERT INTO vaults (name, parent_id, fork_seq, created_at, next_ino) VALUES (?, ?, ?, ?, ?)';

/**
 * Vault rows read since the database last changed, per store. A mount reads its vault's row for
 * every request (its layers, entries.ts layersOf), and a row of 20 columns costs several times
 * what asking whether anything changed does: `data_version` moves when another connection
 * commits, `total_changes()` when this one writes (inside an open transaction too), and
 * `Store.rollbacks` when this one rolls back (which moves neither of the others back), so a row is
 * reused only while none has moved. Rows are frozen: shared.
 */
interface RowCache {
  version: number;
  changes: number;
  rollbacks: number;
  byId: Map<number, VaultRow>;
  byName: Map<string, VaultRow>;
}
// Two statements: one SELECT of both through pragma_data_version costs twice what they do.
const TOTAL_CHANGES = 'SELECT total_changes()';
const rowCaches = new WeakMap<Store, RowCache>();

function rowCache(store: Store): RowCache {
  const version = store.dataVersion();
  const changes = store.stmt(TOTAL_CHANGES).pluck(true).get() as number;
  let cache = rowCaches.get(store);
  if (!cache || cache.version !== version || cache.changes !== changes || cache.rollbacks !== store.rollbacks) {
    cache = { version, changes, rollbacks: store.rollbacks, byId: new Map(), byName: new Map() };
    rowCaches.set(store, cache);
  }
  return cache;
}

function cacheRow(cache: RowCache, row: VaultRow | undefined): VaultRow | undefined {
  if (!row) return undefined;
  Object.freeze(row);
  cache.byId.set(row.id, row);
  cache.byName.set(row.name, row);
  return row;
}

export function findVault(store: Store, name: string): VaultRow | undefined {
  const cache = rowCache(store);
  return cache.byName.get(name) ?? cacheRow(cache, store.stmt<VaultRow>(SELECT_VAULT).get(name));
}

export function getVault(store: Store, name: string): VaultRow {
  validateVaultName(name);
  const row = findVault(store, name);
  if (!row) throw new AvfsError('VAULT_NOT_FOUND', `no such vault: ${name}`, { vault: name });
  return row;
}

export function vaultById(store: Store, id: number): VaultRow | undefined {
  const cache = rowCache(store);
  return cache.byId.get(id) ?? cacheRow(cache, store.stmt<VaultRow>(SELECT_VAULT_BY_ID).get(id));
}

/** The proxy policy stored on a vault (JSON text), or null. */
export function getVaultPolicy(store: Store, vault: VaultRow): string | null {
  return store.stmt<{ policy: string | null }>('SELECT policy FROM vaults WHERE id = ?').get(vault.id)?.policy ?? null;
}

/** Stores (or with null clears) a vault's proxy policy. The caller has validated it. */
export function setVaultPolicy(store: Store, vault: VaultRow, policy: string | null): void {
  store.stmt('UPDATE vaults SET policy = ? WHERE id = ?').run(policy, vault.id);
}

/** One vault of a fork chain, and the highest change sequence (inclusive) whose versions it contributes. */
export interface HistorySegment {
  vaultId: number;
  vault: string;
  /** The vault was deleted while forks still read through it (its name may since name another vault). */
  deleted: boolean;
  /** Highest change sequence this segment contributes (inclusive). */
  upTo: number;
}

/**
 * The segments whose versions make up a vault's history, newest first (the vault, its parent up to
 * the fork point, …): the one walk of the fork chain, guarded against a loop in the parent links.
 */
export function historyChain(store: Store, vault: VaultRow): HistorySegment[] {
  const chain: HistorySegment[] = [{ vaultId: vault.id, vault: vault.name, deleted: false, upTo: Number.MAX_SAFE_INTEGER }];
  const seen = new Set([vault.id]);
  let current = vault;
  let upTo = Number.MAX_SAFE_INTEGER;
  while (current.parent_id !== null && current.fork_seq !== null) {
    upTo = Math.min(upTo, current.fork_seq);
    const parent = vaultById(store, current.parent_id);
    if (!parent || seen.has(parent.id)) break;
    seen.add(parent.id);
    chain.push({ vaultId: parent.id, vault: shownName(parent), deleted: parent.retired_at !== null, upTo });
    current = parent;
  }
  return chain;
}

/**
 * A history chain as named statement parameters, @s0/@u0 … (segment j's vault id and the last
 * change it contributes), for statements that read a path's history set-wise (entries.ts, history.ts).
 */
export function chainParams(chain: readonly HistorySegment[]): Record<string, number> {
  const params: Record<string, number> = {};
  chain.forEach((seg, j) => Object.assign(params, { [`s${j}`]: seg.vaultId, [`u${j}`]: seg.upTo }));
  return params;
}

/** The name a deleted vault that forks still read keeps (`~name-id`): no vault name can start with `~`. */
const retiredName = (v: VaultRow): string => `~${v.name}-${v.id}`;

/** A vault's name as history shows it: a retired one by the name it had (retiredName undone). */
export const shownName = (v: VaultRow): string => (v.retired_at === null ? v.name : v.name.slice(1, v.name.lastIndexOf('-')));

/** Writes a new empty vault: its row and its root directory (a new home's `default` too: Store.create). */
export function insertVault(store: Statements, name: string, at: number): void {
  const { lastInsertRowid } = store.stmt(INSERT_VAULT).run(name, null, null, at, 2);
  insertRoot(store, Number(lastInsertRowid), at);
}

/**
 * Creates an empty vault. With `firstOfHome` (what a person's `vault create` asks: the CLI, SDK
 * and MCP pass it), the first vault created in a new home replaces its unused `default` and is
 * the vault in use (replaceableDefault), unless the caller works on `default` by name (`named`: its
 * `--vault` or SDK option, else $AVFS_VAULT), whose next write would find it gone.
 */
export function createVault(store: Store, name: string, actor: Actor, options: { firstOfHome?: boolean; named?: string } = {}): VaultSummary {
  validateVaultName(name);
  const mayReplace = !!options.firstOfHome && namedVault(options.named) !== DEFAULT_VAULT;
  store.mutate(() => {
    if (findVault(store, name)) throw new AvfsError('ALREADY_EXISTS', `vault already exists: ${name}`, { vault: name });
    insertVault(store, name, now());
    audit(store, actor, 'vault.create', name);
  });
  // The first vault a person creates in a new home is the one they mean to work in (as in
  // agentvfs); so is one created when the vault in use was deleted and none is chosen. The choice
  // is made and written under the write lock, after the vault is committed (a command resolving
  // the vault in use finds one that exists): of several first vaults created at once, one is
  // chosen and only its creator is told so.
  let replacing = false;
  const replaces = () => mayReplace && replaceableDefault(store, undefined) !== undefined;
  const noneChosen = () => readStateIfSound(store.home)?.current_vault === null;
  // Looked at first without the lock: in a home that has a vault in use, nothing is chosen.
  const chosen = !options.firstOfHome || !(replaces() || noneChosen())
    ? undefined
    : store.mutate(() => {
        replacing = replaces();
        return replacing || noneChosen() ? useVault(store, name) : undefined;
      });
  if (replacing) {
    // `default` goes after the new vault is chosen (a command resolving the vault in use in between
    // found it gone, VAULT_NOT_FOUND, when it went first). One that wrote into `default` meanwhile made it used, and it stays.
    store.mutate(() => {
      const d = replaceableDefault(store, name);
      if (!d) return;
      purge(store, d);
      audit(store, actor, 'vault.delete', DEFAULT_VAULT, { reason: 'unused default replaced by the first vault created' });
    });
  }
  return chosen ?? summarize(store, getVault(store, name));
}

const USED = `SELECT EXISTS (SELECT 1 FROM versions WHERE vault_id = :id) OR EXISTS (SELECT 1 FROM vaults WHERE parent_id = :id)
  OR EXISTS (SELECT 1 FROM checkpoints WHERE vault_id = :id) OR EXISTS (SELECT 1 FROM execs WHERE vault_id = :id)
  OR EXISTS (SELECT 1 FROM vaults WHERE id = :id AND coalesce(policy, max_bytes, max_files, max_file_size) IS NOT NULL) AS used`;

/**
 * A new home starts with an empty `default` vault, used until another is chosen. While nothing
 * was ever chosen (`chosen` undefined; or only the vault replacing it, `chosen`) and nothing ever
 * happened in it (no version, fork, checkpoint, exec, policy or quota), the first vault created
 * takes its place: this returns `default` then, for the caller's transaction to remove.
 */
function replaceableDefault(store: Store, chosen: string | undefined): VaultRow | undefined {
  // A damaged state.json may have recorded a choice: never read as a new home's.
  const state = readStateIfSound(store.home);
  if (!state || state.current_vault !== chosen) return undefined;
  const d = findVault(store, DEFAULT_VAULT);
  if (!d || store.stmt<{ used: number }>(USED).get({ id: d.id })!.used) return undefined;
  return d;
}

/**
 * Paths of vault `vaultId` whose name, type or inode may have changed after change `seq`: those
 * with a version newer than it, times-only changes (touch) left out. Every change of what a vault
 * shows at a path records a version of that path (entries.ts), and prune keeps each path's newest,
 * so none is missed. Null when there are more than `limit` (the caller then forgets everything).
 */
export function pathsChangedSince(store: Store, vaultId: number, seq: number, limit: number): string[] | null {
  const paths = store.stmt("SELECT path FROM versions WHERE vault_id = ? AND id > ? AND op <> 'touch' LIMIT ?").pluck(true).all(vaultId, seq, limit + 1) as string[];
  return paths.length > limit ? null : paths;
}

/** The global change sequence: the id of the newest version row (0 for an empty home). */
export function currentSeq(store: Store): number {
  return store.stmt<{ seq: number }>('SELECT coalesce(max(id), 0) AS seq FROM versions').get()!.seq;
}

/**
 * Forks `source` into a new vault `target`: one vault row, whatever the size of the tree. The
 * fork is a layer over its parent (entries.ts) and records the change sequence it forked at, so
 * history older than the fork is read from the parent. Quotas, usage counters and the proxy
 * policy are copied: a fork is no way around its parent's limits (an agent over MCP forked a
 * vault to run there what the vault's policy denied, then merged the result back).
 */
export function forkVault(store: Store, source: string, target: string, actor: Actor): VaultSummary {
  validateVaultName(target);
  store.mutate(() => {
    const src = getVault(store, source);
    if (findVault(store, target)) throw new AvfsError('ALREADY_EXISTS', `vault already exists: ${target}`, { vault: target });
    const { lastInsertRowid } = store.stmt(INSERT_VAULT).run(target, src.id, currentSeq(store), now(), src.next_ino);
    store
      .stmt(
        `UPDATE vaults SET (max_bytes, max_files, max_file_size, policy, files, directories, symlinks, specials, bytes) =
           (SELECT max_bytes, max_files, max_file_size, policy, files, directories, symlinks, specials, bytes FROM vaults WHERE id = ?),
         ancestors = ? WHERE id = ?`,
      )
      .run(src.id, JSON.stringify(layersOf(src)), Number(lastInsertRowid));
    audit(store, actor, 'vault.fork', target, { from: source });
  });
  return summarize(store, getVault(store, target));
}

/** Names of the live vaults forked from this one, directly or through deleted (retired) vaults. */
export function forksOf(store: Store, id: number): string[] {
  const out: string[] = [];
  for (const child of store.stmt<VaultRow>(CHILDREN).all(id)) {
    if (child.retired_at === null) out.push(child.name);
    else out.push(...forksOf(store, child.id));
  }
  return out.sort();
}

const CHILDREN = 'SELECT * FROM vaults WHERE parent_id = ? ORDER BY name';

/**
 * Deletes a vault with its entries, history and checkpoints (content stays until `gc`). A vault
 * with forks is refused with HAS_FORKS unless `force`. Its forks read what they show, and their
 * history from before they forked, through its layer and its versions; so with forks it is
 * retired instead of deleted: renamed out of reach (`~name-id`, which no vault name can be), its
 * checkpoints gone, never listed or written again, and deleted for good, with every retired
 * ancestor it leaves childless, when its last fork goes. Its forks keep exactly what they show and
 * all their history. Deleting the vault in use clears the selection.
 */
export function deleteVault(store: Store, name: string, force: boolean, actor: Actor): { name: string; detached_forks: string[] } {
  // Read before deleting. A damaged state.json does not stop a delete of a vault named here; it
  // stays damaged (whichever vault it recorded), to be repaired by `vault use`.
  const wasCurrent = shownCurrentVault(store) === name;
  const detached = store.mutate(() => {
    const vault = getVault(store, name);
    const forks = forksOf(store, vault.id);
    if (forks.length > 0 && !force) {
      throw new AvfsError('HAS_FORKS', `vault ${name} has forks (${forks.join(', ')}); pass --force to delete it and keep them`, {
        vault: name,
        forks,
      });
    }
    deleteCheckpointRows(store, store.stmt<{ id: number }>('SELECT id FROM checkpoints WHERE vault_id = ?').all(vault.id).map((r) => r.id));
    if (store.stmt(CHILDREN).get(vault.id)) {
      store.stmt('UPDATE vaults SET name = ?, retired_at = ?, policy = NULL WHERE id = ?').run(retiredName(vault), now(), vault.id);
    } else {
      purge(store, vault);
    }
    audit(store, actor, 'vault.delete', name, { detached_forks: forks });
    return forks;
  });
  if (wasCurrent) updateState(store.home, { current_vault: null });
  return { name, detached_forks: detached };
}

/** Deletes a vault that nothing reads any more, then its parent too if that is retired and now childless. */
function purge(store: Store, vault: VaultRow): void {
  dropLayer(store, vault.id);
  dropMergeRecords(store, vault.id);
  dropTrackedImports(store, vault.id);
  dropExecRecords(store, vault.id);
  dropHistory(store, vault.id);
  store.stmt('DELETE FROM vaults WHERE id = ?').run(vault.id);
  const parent = vault.parent_id === null ? undefined : vaultById(store, vault.parent_id);
  if (parent && parent.retired_at !== null && !store.stmt(CHILDREN).get(parent.id)) purge(store, parent);
}

/** A vault as `vault info` shows it; `current` is the vault in use when the caller already read it (a listing reads it once). */
export function summarize(store: Store, vault: VaultRow, current: string | null = shownCurrentVault(store)): VaultSummary {
  const row = vault.parent_id === null ? undefined : vaultById(store, vault.parent_id);
  const parent = row && row.retired_at === null ? row.name : null;
  return {
    name: vault.name,
    parent,
    detached: row !== undefined && parent === null,
    ancestors: historyChain(store, vault)
      .slice(1)
      .filter((segment) => !segment.deleted)
      .map((segment) => segment.vault),
    created_at: new Date(vault.created_at).toISOString(),
    files: vault.files,
    directories: vault.directories,
    symlinks: vault.symlinks,
    specials: vault.specials,
    bytes: vault.bytes,
    forks: forksOf(store, vault.id).length,
    current: current === vault.name,
  };
}

export function listVaults(store: Store): VaultSummary[] {
  const current = shownCurrentVault(store);
  return store.read(() => store.stmt<VaultRow>('SELECT * FROM vaults WHERE retired_at IS NULL ORDER BY name').all().map((v) => summarize(store, v, current)));
}

export function useVault(store: Store, name: string): VaultSummary {
  const vault = getVault(store, name);
  // A damaged state.json is replaced: `vault use` is the repair its error names.
  updateState(store.home, { current_vault: name });
  return summarize(store, vault);
}

/**
 * Which vault a command works on: `--vault`, else `$AVFS_VAULT`, else the one chosen with
 * `vault use`. A new home starts with an empty vault named `default`, which is used until another is
 * chosen, or replaced by the first vault created while still unused (createVault).
 */
export function resolveVaultName(store: Store, flag?: string): string {
  // A named vault needs no state (so --vault works while state.json is damaged). After the
  // selected vault was deleted, guessing another one would be wrong.
  const name = namedVault(flag) ?? currentVaultName(store);
  if (!name) {
    throw new AvfsError('NO_VAULT', 'no vault selected: pass --vault <name>, set AVFS_VAULT, or run `avfs vault use <name>`');
  }
  return validateVaultName(name);
}

/** The vault a caller named for this command (`--vault`, else `$AVFS_VAULT`), if any: not the one merely in use. */
export function namedVault(flag?: string): string | undefined {
  return flag || process.env.AVFS_VAULT || undefined;
}

/**
 * The vault a state selects: none recorded yet is a new home, which uses its seeded `default`; an
 * explicit null means the selected vault was deleted.
 */
const selectedVault = (state: HomeState): string | null => (state.current_vault === undefined ? DEFAULT_VAULT : state.current_vault);

/** The vault chosen with `vault use` (or the seeded default), ignoring flags and environment. */
export function currentVaultName(store: Store): string | null {
  return selectedVault(readState(store.home));
}

/** The vault in use as listings show it: null while state.json is damaged (readStateIfSound). */
export function shownCurrentVault(store: Store): string | null {
  const state = readStateIfSound(store.home);
  return state === undefined ? null : selectedVault(state);
}
