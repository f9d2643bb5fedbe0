import { audit, trimAudit } from './audit.js';
import { chunkList, forgetContentLayouts } from './blobs.js';
import { dropIndexOf, indexedCount } from './text-index.js';
import { endLease, ownLeases, staleLeases, storedByLease } from './leases.js';
import { now, type Actor, type Store } from './store.js';

/**
 * Garbage collection of content (ARCHITECTURE.md "Prune and gc"): deletes stored content that
 * nothing references, and nothing else.
 *
 * What counts as a reference: a `hash` column in any table other than the content tables
 * themselves. The tables are discovered from the schema on every run (today entries, versions,
 * checkpoint_entries and content_pins), so a table another feature adds later keeps its content
 * alive without gc knowing about it; erring that way only ever keeps too much.
 *
 * Why no writer ever links an entry to content gc deleted, whatever the grace (0 included):
 *  1. Every deletion runs in an IMMEDIATE transaction that re-checks, under the write lock, that
 *     the content is still unreferenced: a blob by no reference table, a chunk by no blob's list
 *     (its `refs` count is 0: blobs.ts keeps it in the transaction that writes or deletes a list)
 *     and no pin. Transactions are serialised, so each writer's transaction runs entirely
 *     before or entirely after each gc transaction.
 *  2. A writer that stores (or finds) content and points an entry at it in one transaction (write,
 *     cp, mv, checkout, restore, a small mount flush) is therefore either seen by the re-check (the
 *     reference is there) or runs after the deletion (it finds the content missing, stores it).
 *  3. A writer that stores content in one transaction and links it in a later one (a streamed
 *     `write --from`, `import`, a mount persisting a large file, proxy copy mode) pins every chunk
 *     and blob under its lease (leases.ts) in the same transaction that stores or reuses it. From
 *     that commit on, the re-check sees the pin; a deletion committed before it made the writer
 *     store the content again (INSERT OR IGNORE finds it missing). So between the writer's first
 *     transaction and its link, each piece of its content is pinned or listed by its pinned blob.
 *  4. The linking transaction (blobs.ts `linkContent`) checks that the blob and every chunk it
 *     lists are present, fails with CONTENT_MISSING otherwise, and ends the lease in the same
 *     transaction as the entry that now references the content. There is no moment at which the
 *     content is neither pinned nor referenced.
 *  5. Pins are dropped only by their own writer (link, abandon, or its Store closing) or by gc for
 *     a lease whose process is dead (recorded pid, boot id and process start time: a reused pid
 *     does not keep a dead writer's lease alive, and a live writer's lease is never dropped). A
 *     writer that is dead can link nothing.
 * The grace period is therefore no longer what protects writers: it only keeps recently orphaned
 * content around a little longer (content younger than `now - grace` is kept).
 * Chunks are deleted only when no blob lists them (refs 0) and no lease pins them, checked in the
 * same transaction. Search index rows of deleted content go with it: schema migration 2 adds a trigger
 * on blobs; without that trigger gc deletes them itself.
 */

/** Tables that hold content or are derived from it, never references to it. */
const CONTENT_TABLES = new Set(['blobs', 'chunks', 'text_index']);

/** Default grace: unreferenced content stored within the last hour is kept (writers do not depend on it: see above). */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
// Blobs per transaction: about 10-50 ms of write lock each on a large home, so writers barely wait.
const BATCH = 500;
const UNINDEXED_BATCHES = 8;

export interface ReferenceTable {
  table: string;
  /** Whether an index starts with `hash`, so a reference check is one index probe. */
  indexed: boolean;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Every table with a `hash` column that is not a content table: what keeps content alive. */
export function referenceTables(store: Store): ReferenceTable[] {
  const tables = store.stmt<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name").all();
  const out: ReferenceTable[] = [];
  for (const { name } of tables) {
    if (CONTENT_TABLES.has(name)) continue;
    const columns = store.db.pragma(`table_info(${quote(name)})`) as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'hash')) continue;
    const indexes = store.db.pragma(`index_list(${quote(name)})`) as Array<{ name: string }>;
    const indexed = indexes.some((ix) => (store.db.pragma(`index_info(${quote(ix.name)})`) as Array<{ seqno: number; name: string }>)[0]?.name === 'hash');
    out.push({ table: name, indexed });
  }
  return out;
}

/** SQL that is true when `${col}` (a blob hash) is referenced by none of the indexed reference tables. */
function unreferenced(tables: ReferenceTable[], col: string): string {
  const indexed = tables.filter((t) => t.indexed);
  if (indexed.length === 0) return '1';
  return indexed.map(({ table }) => `NOT EXISTS (SELECT 1 FROM ${quote(table)} r WHERE r.hash = ${col})`).join(' AND ');
}

/**
 * Which of `hashes` a reference table without a hash index (checkpoint_entries: see schema
 * migration 4) still references: one scan of the table, probing each row against the candidate
 * set. That costs a fraction of building an index over every hash in the table (NOT IN), and is
 * done once per transaction, not once per blob.
 */
function referencedByUnindexed(store: Store, tables: ReferenceTable[], hashes: string[]): Set<string> {
  const found = new Set<string>();
  if (hashes.length === 0) return found;
  const json = JSON.stringify(hashes);
  for (const { table } of tables.filter((t) => !t.indexed)) {
    const rows = store.stmt<{ hash: string }>(`SELECT DISTINCT hash FROM ${quote(table)} WHERE hash IN (SELECT value FROM json_each(?))`).all(json);
    for (const r of rows) found.add(r.hash);
  }
  return found;
}


interface BlobCandidate {
  hash: string;
  size: number;
  chunkCount: number;
  /** 1 when the blob holds its bytes itself (blobs.ts: content of at most INLINE_MAX bytes). */
  inline: number;
  createdAt: number;
}

/** Stored bytes of a blob row itself: its inline data (a chunked blob's bytes live in chunks). */
const inlineBytes = (b: { size: number; inline: number }) => (b.inline ? b.size : 0);

/** What gc would free with this cutoff (content created before it), computed without writing. */
export interface GcPlan {
  blobs: number;
  chunks: number;
  bytes: number;
  index_entries: number;
  /** Unreferenced content kept because it is newer than the cutoff. */
  recent_blobs: number;
}

function scanUnreferenced(store: Store, tables: ReferenceTable[]): BlobCandidate[] {
  const candidates = store
    .stmt<BlobCandidate>(
      // Driven by the hash index (a narrow scan), reading the wide blob rows only for orphans.
      `SELECT hash, size, chunk_count AS chunkCount, typeof(data) <> 'null' AS inline, created_at AS createdAt FROM blobs
       WHERE hash IN (SELECT k.hash FROM blobs k WHERE ${unreferenced(tables, 'k.hash')})`,
    )
    .all();
  const referenced = referencedByUnindexed(store, tables, candidates.map((b) => b.hash));
  return referenced.size === 0 ? candidates : candidates.filter((b) => !referenced.has(b.hash));
}

/**
 * A plan that changes nothing: used by `gc --dry-run` and by `stats` (cutoff = Infinity: every
 * orphan). It sees what gc would: gc first ends the leases of writers that died (an interrupted
 * import or `write --from`, a killed mount), which frees their content; when there are such
 * leases, the plan runs in a write transaction that ends them and is rolled back.
 */
export function planGc(store: Store, cutoff: number): GcPlan {
  const stale = store.read(() => staleLeases(store));
  // Inside a caller's transaction (or on a read-only home) the plan can only read: those leases still count.
  if (stale.length === 0 || store.readOnly || store.db.inTransaction) return store.read(() => planIn(store, cutoff));
  // Those leases stay stale (their processes are dead); one ended meanwhile is a no-op to end again.
  return store.rolledBack(() => {
    for (const id of stale) endLease(store, id);
    return planIn(store, cutoff);
  });
}

/** The plan, inside the caller's transaction. */
function planIn(store: Store, cutoff: number): GcPlan {
  const tables = referenceTables(store);
  const all = scanUnreferenced(store, tables);
  const doomed = all.filter((b) => b.createdAt < cutoff);
  const recent = all.filter((b) => b.createdAt >= cutoff);
  const withBlobs = chunksFreedWith(store, doomed, cutoff);
  const loose = looseChunkStats(store, cutoff);
  const indexEntries = indexedCount(store, JSON.stringify(doomed.map((b) => b.hash)));
  return {
    blobs: doomed.length,
    chunks: withBlobs.n + loose.n,
    bytes: doomed.reduce((sum, b) => sum + inlineBytes(b), 0) + withBlobs.bytes + loose.bytes,
    index_entries: indexEntries,
    recent_blobs: recent.length,
  };
}

/**
 * The chunks that deleting `blobs` would free: those whose every reference is from these blobs
 * (their `refs` equals how often these blobs' lists name them), unpinned and older than the cutoff.
 */
function chunksFreedWith(store: Store, blobs: BlobCandidate[], cutoff: number): { n: number; bytes: number } {
  const uses = new Map<number, number>();
  for (const b of blobs) {
    if (b.inline || b.size === 0) continue;
    for (const id of chunkList(store, b.hash).ids) uses.set(id, (uses.get(id) ?? 0) + 1);
  }
  if (uses.size === 0) return { n: 0, bytes: 0 };
  const rows = store
    .stmt<{ id: number; refs: number; size: number }>(
      `SELECT c.id AS id, r.refs AS refs, c.size AS size FROM chunks c JOIN chunk_refs r ON r.id = c.id WHERE c.id IN (SELECT value FROM json_each(?)) AND ${UNPINNED} AND c.created_at < ?`,
    )
    .all(JSON.stringify([...uses.keys()]), clampCutoff(cutoff));
  const freed = rows.filter((r) => r.refs === uses.get(r.id));
  return { n: freed.length, bytes: freed.reduce((sum, r) => sum + r.size, 0) };
}

/** SQLite compares integers; Infinity (stats' "every orphan") becomes the largest safe integer. */
const clampCutoff = (cutoff: number) => (Number.isFinite(cutoff) ? cutoff : Number.MAX_SAFE_INTEGER);

/** True for a chunk `c` that no lease pins (a streamed write in progress; leases.ts). */
const UNPINNED = 'NOT EXISTS (SELECT 1 FROM content_pins p WHERE p.hash = c.hash)';

// Chunks no blob list names (refs 0): found through the partial index chunks_loose.
const LOOSE_CHUNKS = `FROM chunk_refs r INDEXED BY chunk_refs_loose JOIN chunks c ON c.id = r.id WHERE r.refs = 0 AND ${UNPINNED} AND c.created_at < ?`;

/** Chunks no blob lists and no lease pins: left by a streamed write that stopped before its blob row was written. */
function looseChunkStats(store: Store, cutoff: number): { n: number; bytes: number } {
  return store.stmt<{ n: number; bytes: number }>(`SELECT count(*) AS n, coalesce(sum(c.size), 0) AS bytes ${LOOSE_CHUNKS}`).get(clampCutoff(cutoff))!;
}

export interface GcOptions {
  /** Content younger than this (ms) is kept even when unreferenced. */
  graceMs: number;
  dryRun?: boolean;
  actor: Actor;
  /** Blobs per transaction (the write lock is released between batches). */
  batchSize?: number;
  /** Told after each batch how many of the candidates were looked at (a progress display). */
  progress?: (done: number, total: number) => void;
}

export interface GcReport {
  dry_run: boolean;
  grace_ms: number;
  /** Content created before this time was eligible. */
  cutoff: string;
  freed_blobs: number;
  freed_chunks: number;
  /** Content bytes freed: inline blob data plus chunk data (row and page overhead not counted). */
  freed_bytes: number;
  freed_index_entries: number;
  /** Unreferenced content kept because it is within the grace period. */
  recent_blobs: number;
  /** The tables whose `hash` column counted as a reference. */
  reference_tables: string[];
  /** Leases of streamed writes whose process had died: their pins were dropped first (a dry run counts them and what they held, and keeps them). */
  stale_leases: number;
  transactions: number;
  duration_ms: number;
}

/** Deletes unreferenced content older than the grace period (or with dryRun, reports what it would). */
export function gc(store: Store, options: GcOptions): GcReport {
  const started = performance.now();
  const cutoff = now() - options.graceMs;
  const staleCount = options.dryRun ? store.read(() => staleLeases(store)).length : clearStaleLeases(store);
  const tables = store.read(() => referenceTables(store));
  const base = { grace_ms: options.graceMs, cutoff: new Date(cutoff).toISOString(), reference_tables: tables.map((t) => t.table), stale_leases: staleCount };
  if (options.dryRun) {
    const plan = planGc(store, cutoff);
    return {
      dry_run: true,
      ...base,
      freed_blobs: plan.blobs,
      freed_chunks: plan.chunks,
      freed_bytes: plan.bytes,
      freed_index_entries: plan.index_entries,
      recent_blobs: plan.recent_blobs,
      transactions: 0,
      duration_ms: elapsed(started),
    };
  }

  const candidates = store.read(() => scanUnreferenced(store, tables));
  const doomed = candidates.filter((b) => b.createdAt < cutoff).map((b) => b.hash);
  const recent = candidates.length - doomed.length;
  const freed: Freed = { blobs: 0, chunks: 0, bytes: 0, index: 0 };
  let transactions = 0;
  // Each transaction scans every unindexed reference table once, so with such a table the
  // candidates go in at most UNINDEXED_BATCHES transactions instead of many small ones.
  const unindexed = tables.some((t) => !t.indexed);
  const batchSize = options.batchSize ?? (unindexed ? Math.max(BATCH, Math.ceil(doomed.length / UNINDEXED_BATCHES)) : BATCH);

  // The candidate list is only a hint: each batch re-selects, under the write lock, the
  // candidates that are still unreferenced and still older than the cutoff.
  for (let i = 0; i < doomed.length; i += batchSize) {
    store.mutate(() => {
      transactions++;
      const released = deleteBlobs(store, tables, doomed.slice(i, i + batchSize), cutoff, freed);
      deleteChunks(store, released, cutoff, freed);
    });
    options.progress?.(Math.min(i + batchSize, doomed.length), doomed.length);
  }

  // Loose chunks (no blob lists them), re-checked the same way.
  const loose = store.read(() => store.stmt<{ id: number }>(`SELECT c.id AS id ${LOOSE_CHUNKS}`).all(cutoff)).map((r) => r.id);
  for (let i = 0; i < loose.length; i += batchSize) {
    store.mutate(() => {
      transactions++;
      deleteChunks(store, loose.slice(i, i + batchSize), cutoff, freed);
    });
  }

  const report: GcReport = {
    dry_run: false,
    ...base,
    freed_blobs: freed.blobs,
    freed_chunks: freed.chunks,
    freed_bytes: freed.bytes,
    freed_index_entries: freed.index,
    recent_blobs: recent,
    transactions,
    duration_ms: elapsed(started),
  };
  store.mutate(() => {
    trimAudit(store);
    audit(store, options.actor, 'gc', null, {
      grace_ms: report.grace_ms,
      freed_blobs: report.freed_blobs,
      freed_chunks: report.freed_chunks,
      freed_bytes: report.freed_bytes,
      stale_leases: report.stale_leases,
    });
  });
  return report;
}

/** What deletions freed, accumulated over a run. */
interface Freed {
  blobs: number;
  chunks: number;
  bytes: number;
  index: number;
}

/**
 * Deletes those of `hashes` that are blobs still unreferenced and created before `cutoff` (re-checked
 * here, under the write lock), with their search index rows and chunk lists. Returns the chunks
 * those blobs listed, which may now be loose. Inside the caller's transaction.
 */
function deleteBlobs(store: Store, tables: ReferenceTable[], hashes: string[], cutoff: number, freed: Freed): number[] {
  if (hashes.length === 0) return [];
  let rows = store
    .stmt<{ hash: string; size: number; inline: number }>(
      `SELECT hash, size, typeof(data) <> 'null' AS inline FROM blobs
       WHERE hash IN (SELECT value FROM json_each(?)) AND created_at < ? AND ${unreferenced(tables, 'blobs.hash')}`,
    )
    .all(JSON.stringify(hashes), clampCutoff(cutoff));
  if (tables.some((t) => !t.indexed)) {
    const referenced = referencedByUnindexed(store, tables, rows.map((r) => r.hash));
    rows = rows.filter((r) => !referenced.has(r.hash));
  }
  if (rows.length === 0) return [];
  const json = JSON.stringify(rows.map((r) => r.hash));
  freed.index += dropIndexOf(store, json);
  // A chunked blob's list goes with it: each chunk it names loses those references.
  const released = new Map<number, number>();
  for (const r of rows) {
    if (r.inline || r.size === 0) continue;
    for (const id of chunkList(store, r.hash).ids) released.set(id, (released.get(id) ?? 0) + 1);
  }
  store.stmt('DELETE FROM blobs WHERE hash IN (SELECT value FROM json_each(?))').run(json);
  forgetContentLayouts(store);
  for (const [id, n] of released) store.stmt('UPDATE chunk_refs SET refs = refs - ? WHERE id = ?').run(n, id);
  freed.blobs += rows.length;
  freed.bytes += rows.reduce((sum, r) => sum + inlineBytes(r), 0);
  return [...released.keys()];
}

/** Deletes those of `ids` that are chunks no blob lists (refs 0) and no lease pins, created before `cutoff`. Inside the caller's transaction. */
function deleteChunks(store: Store, ids: number[], cutoff: number, freed: Freed): void {
  if (ids.length === 0) return;
  const gone = store
    .stmt<{ size: number }>(
      // Its chunk_refs row goes with it (a trigger of schema migration 17).
      `DELETE FROM chunks AS c WHERE c.id IN (SELECT value FROM json_each(?)) AND c.created_at < ?
       AND (SELECT r.refs FROM chunk_refs r WHERE r.id = c.id) = 0 AND ${UNPINNED} RETURNING size`,
    )
    .all(JSON.stringify(ids), clampCutoff(cutoff));
  freed.chunks += gone.length;
  freed.bytes += gone.reduce((sum, r) => sum + r.size, 0);
}

/** Ends the leases of writers whose process died (their content is then an ordinary orphan). Returns how many. */
export function clearStaleLeases(store: Store): number {
  return store.mutate(() => {
    const stale = staleLeases(store);
    for (const id of stale) endLease(store, id);
    return stale.length;
  });
}

/**
 * Abandons a lease whose content will not be linked (a write refused by quota, or failed): ends it
 * and deletes what it stored itself that nothing references or pins now, whatever its age, so the
 * write leaves the store as it found it. Content it only reused stays. One transaction.
 */
export function abandonLease(store: Store, id: number): void {
  store.mutate(() => {
    const stored = storedByLease(store, id);
    endLease(store, id);
    if (stored.length === 0) return;
    const freed: Freed = { blobs: 0, chunks: 0, bytes: 0, index: 0 };
    const never = Number.MAX_SAFE_INTEGER;
    deleteBlobs(store, referenceTables(store), stored.filter((p) => p.kind === 'b').map((p) => p.hash), never, freed);
    const chunkIds = stored.filter((p) => p.kind === 'c').map((p) => store.stmt<{ id: number }>('SELECT id FROM chunks WHERE hash = ?').get(p.hash)?.id);
    deleteChunks(store, chunkIds.filter((id): id is number => id !== undefined), never, freed);
  });
}

/** Abandons every lease this process still holds (its Store is closing: nothing it stored unlinked can be linked any more). */
export function abandonOwnLeases(store: Store): void {
  for (const id of store.read(() => ownLeases(store))) abandonLease(store, id);
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 100) / 100;
