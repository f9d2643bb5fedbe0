import { chunkList } from './blobs.js';
import { planGc, referenceTables, type GcPlan } from './gc.js';
import { databaseSize } from './maintenance.js';
import type { Store } from './store.js';
import { layersOf } from './entries.js';
import { forksOf, getVault, type VaultRow } from './vaults.js';
import { homeTreeCounts, treeCounts } from './usage.js';

/**
 * Numbers that explain where a vault's (or the home's) space goes. Definitions:
 *
 *  - files, directories, symlinks: entries of the current tree (the root not counted); for the
 *    home, summed over its vaults.
 *  - logical_bytes: the sum of the current files' sizes, what `du --apparent-size` of an export
 *    would say.
 *  - stored_bytes: the bytes of distinct content those files need: each distinct content once
 *    (small content is stored inline in its blob row; large content as chunks, each distinct
 *    chunk once, so two versions of a large file that share chunks count the shared ones once).
 *    Row and page overhead is not counted.
 *  - dedup_ratio: logical_bytes / stored_bytes, rounded to 3 decimals (null when nothing is
 *    stored). Copies and forks raise it; 1 means no sharing.
 *  - distinct_contents: distinct contents (blobs) of the current tree.
 *  - retained_bytes: distinct content the scope keeps alive: the current tree plus every version
 *    and checkpoint (for the home: everything referenced, which is what gc keeps).
 *  - versions, checkpoints: history rows of the scope (a vault's own, not those a fork inherits).
 *  - forks: a vault's direct forks; for the home, vaults that are forks.
 *  - index_bytes: pages of the full-text index (home-wide: content is indexed once for all vaults).
 *  - database_bytes = file_bytes + wal_bytes: the database on disk (home-wide).
 *  - orphaned_blobs / orphaned_chunks / orphaned_bytes: unreferenced content, what `gc --grace 0`
 *    would free now (home-wide).
 */
export interface StatsCommon {
  files: number;
  directories: number;
  symlinks: number;
  logical_bytes: number;
  stored_bytes: number;
  dedup_ratio: number | null;
  distinct_contents: number;
  retained_bytes: number;
  versions: number;
  checkpoints: number;
  forks: number;
  index_bytes: number | null;
  database_bytes: number;
  file_bytes: number;
  wal_bytes: number;
  orphaned_blobs: number;
  orphaned_chunks: number;
  orphaned_bytes: number;
}

export interface VaultStats extends StatsCommon {
  scope: 'vault';
  vault: string;
}

export interface HomeStats extends StatsCommon {
  scope: 'home';
  vaults: number;
  /** Every stored content, referenced or not: blob rows, chunk rows and their bytes. */
  blobs: number;
  chunks: number;
  content_bytes: number;
}

interface ContentTotals {
  blobs: number;
  chunks: number;
  bytes: number;
}

/** better-sqlite3 refuses a parameters object for a statement without named parameters. */
const bind = (params: Record<string, unknown>) => (Object.keys(params).length ? [params] : []);

/**
 * Distinct stored content of the hashes that `hashSql` (a SELECT of a `hash` column, with named
 * parameters) yields.
 */
function contentOf(store: Store, hashSql: string, params: Record<string, unknown>): ContentTotals {
  const blobs = store
    .stmt<{ hash: string; size: number; inline: number }>(
      `SELECT b.hash AS hash, b.size AS size, typeof(b.data) <> 'null' AS inline FROM blobs b
       WHERE b.hash IN (SELECT DISTINCT hash FROM (${hashSql}) WHERE hash IS NOT NULL)`,
    )
    .all(...bind(params));
  // A chunk shared by several of these contents counts once.
  const chunks = new Set<number>();
  let bytes = 0;
  for (const b of blobs) {
    if (b.inline || b.size === 0) bytes += b.size;
    else for (const id of chunkList(store, b.hash).ids) chunks.add(id);
  }
  if (chunks.size > 0) {
    bytes += store.stmt<{ bytes: number }>('SELECT coalesce(sum(size), 0) AS bytes FROM chunks WHERE id IN (SELECT value FROM json_each(?))').get(JSON.stringify([...chunks]))!.bytes;
  }
  return { blobs: blobs.length, chunks: chunks.size, bytes };
}

/**
 * A SELECT of the `hash` of every entry the vault shows: each layer's rows that no nearer layer
 * has a row for (entries.ts entriesWithHash reads the same way). In SQL, not from a listing of the
 * view: entry objects and a JSON list of 50,000 hashes were most of a 50k-file vault's stats.
 */
function shownHashes(vault: VaultRow): string {
  const layers = layersOf(vault);
  return layers
    .map((id, i) => `SELECT e.hash FROM entries e WHERE e.vault_id = ${id} AND e.hash IS NOT NULL` + (i === 0 ? '' : ` AND NOT EXISTS (SELECT 1 FROM entries n WHERE n.vault_id IN (${layers.slice(0, i).join(', ')}) AND n.path = e.path)`))
    .join(' UNION ALL ');
}

const count = (store: Store, sql: string, params: Record<string, unknown> = {}) => store.stmt<{ n: number }>(sql).get(...bind(params))!.n;

const ratio = (logical: number, stored: number) => (stored === 0 ? null : Math.round((logical / stored) * 1000) / 1000);

/** Statistics of one vault (home-wide figures included, as documented on StatsCommon). */
export function vaultStats(store: Store, name: string): VaultStats {
  const orphans = planGc(store, Infinity); // before the read: it may need a write transaction (gc.ts planGc)
  return store.read(() => {
    const vault = getVault(store, name);
    const params = { vault: vault.id };
    const tree = treeCounts(vault);
    const current = contentOf(store, shownHashes(vault), params);
    const retained = contentOf(
      store,
      `${shownHashes(vault)}
       UNION ALL SELECT hash FROM versions WHERE vault_id = @vault
       UNION ALL SELECT ce.hash FROM checkpoint_entries ce JOIN checkpoints cp ON cp.id = ce.checkpoint_id WHERE cp.vault_id = @vault`,
      params,
    );
    return {
      scope: 'vault',
      vault: vault.name,
      ...tree,
      stored_bytes: current.bytes,
      dedup_ratio: ratio(tree.logical_bytes, current.bytes),
      distinct_contents: current.blobs,
      retained_bytes: retained.bytes,
      versions: count(store, "SELECT count(*) AS n FROM versions WHERE vault_id = @vault AND op <> 'touch'", params),
      checkpoints: count(store, 'SELECT count(*) AS n FROM checkpoints WHERE vault_id = @vault', params),
      forks: forksOf(store, vault.id).length,
      ...homeWide(store, orphans),
    };
  });
}

/** Statistics of the whole home: every vault, every stored content. */
export function homeStats(store: Store): HomeStats {
  const orphans = planGc(store, Infinity); // before the read: it may need a write transaction (gc.ts planGc)
  return store.read(() => {
    const tree = homeTreeCounts(store);
    const current = contentOf(store, 'SELECT hash FROM entries', {});
    const refs = referenceTables(store);
    const retained = contentOf(store, refs.map((t) => `SELECT hash FROM "${t.table}"`).join(' UNION ALL ') || 'SELECT NULL AS hash', {});
    const all = store
      .stmt<{ blobs: number; inline_bytes: number }>("SELECT count(*) AS blobs, coalesce(sum(CASE WHEN typeof(data) <> 'null' THEN size ELSE 0 END), 0) AS inline_bytes FROM blobs")
      .get()!;
    const chunks = store.stmt<{ n: number; bytes: number }>('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM chunks').get()!;
    return {
      scope: 'home',
      vaults: count(store, 'SELECT count(*) AS n FROM vaults WHERE retired_at IS NULL'),
      ...tree,
      stored_bytes: current.bytes,
      dedup_ratio: ratio(tree.logical_bytes, current.bytes),
      distinct_contents: current.blobs,
      retained_bytes: retained.bytes,
      versions: count(store, "SELECT count(*) AS n FROM versions WHERE op <> 'touch'"),
      checkpoints: count(store, 'SELECT count(*) AS n FROM checkpoints'),
      forks: count(store, 'SELECT count(*) AS n FROM vaults WHERE parent_id IS NOT NULL AND retired_at IS NULL'),
      blobs: all.blobs,
      chunks: chunks.n,
      content_bytes: all.inline_bytes + chunks.bytes,
      ...homeWide(store, orphans),
    };
  });
}

function homeWide(store: Store, orphans: GcPlan) {
  return {
    index_bytes: indexBytes(store),
    ...databaseSize(store),
    orphaned_blobs: orphans.blobs,
    orphaned_chunks: orphans.chunks,
    orphaned_bytes: orphans.bytes,
  };
}

/**
 * Bytes of database pages used by the full-text index: every FTS5 table with its shadow tables,
 * and the text_index table with its indexes. Null when the index does not exist (an older schema)
 * or SQLite was built without the dbstat table.
 */
export function indexBytes(store: Store): number | null {
  const fts = store
    .stmt<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")
    .all()
    .map((r) => r.name);
  const owners = [...fts.flatMap((n) => [`${n}_data`, `${n}_idx`, `${n}_content`, `${n}_docsize`, `${n}_config`]), 'text_index'];
  const names = store
    .stmt<{ name: string }>("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND tbl_name IN (SELECT value FROM json_each(?))")
    .all(JSON.stringify(owners))
    .map((r) => r.name);
  if (names.length === 0) return null;
  try {
    let total = 0;
    for (const name of names) total += store.stmt<{ bytes: number }>('SELECT coalesce(sum(pgsize), 0) AS bytes FROM dbstat WHERE name = ?').get(name)!.bytes;
    return total;
  } catch {
    return null; // no dbstat virtual table in this SQLite build
  }
}
