import { SqliteError } from 'better-sqlite3';
import { looksBinary } from '../core/text.js';
import { readContent } from './blobs.js';
import type { Store } from './store.js';

/**
 * The full-text index is keyed by content hash (ARCHITECTURE.md "Search"): each distinct text
 * content is indexed once. Forks, copies, versions and checkpoint restores, which only point
 * entries at content that already exists, never index anything.
 *
 * Indexed: non-empty content of at most TEXT_INDEX_MAX_BYTES that is text by `looksBinary`
 * (no NUL and valid UTF-8 in its first 8 KiB). Larger files and binaries are not searchable with
 * `search` (grep still scans them, streaming).
 *
 * Indexing is batched. The transaction that first stores a text content gives it its text_index
 * row (its id, the fts rowid it will have); the text goes into fts later, in batches, in id order:
 * text_index rows with an id above the highest fts rowid are pending (ids are max + 1, so a new
 * row is always above every indexed one). FTS5 writes a new index segment per transaction and
 * merges segments as they pile up: one 1–16 KB text per transaction wrote about 24 of the 46
 * database pages such a write commits and took 40% of its CPU (and 1.3 ms of CPU for 8 KB of
 * words, 0.64 ms per text in batches of 64; BENCHMARKS.md "Scale"). Pending texts are indexed
 * (indexPending) by the transaction that makes them INDEX_LAG (a mount lets more wait and indexes
 * them when idle: deferIndexing), by `search` before it queries, so a write is still searchable as
 * soon as the command returns, and by a writer closing its store.
 */
export const TEXT_INDEX_MAX_BYTES = 1024 * 1024;
/** The fts table's tokenizer (schema.ts migration 18); search.ts tokenizes snippets with it too. */
export const FTS_TOKENIZER = 'unicode61 remove_diacritics 2';
/** Pending texts at which the storing transaction indexes a batch (one FTS5 segment for it). */
export const INDEX_LAG = 32;
/** Texts indexed per transaction: by a storing one, and by `search` (a bound on how long it holds the write lock). */
const BATCH = 64;

const INSERT_TEXT = 'INSERT INTO text_index (hash) VALUES (?) ON CONFLICT (hash) DO NOTHING RETURNING id';
const INSERT_FTS = 'INSERT INTO fts (rowid, body) VALUES (?, ?)';
/** The highest fts rowid: every text_index row at or below it is indexed (max(rowid) is one FTS5 lookup). */
const INDEXED_UP_TO = 'SELECT coalesce(max(rowid), 0) AS id FROM fts';
// Joined with blobs so that an index row whose content is gone (which gc never leaves: the trigger
// or dropIndexOf removes both) could never fail the writer's transaction that indexes a batch.
const PENDING = 'SELECT t.id, t.hash FROM text_index t JOIN blobs b ON b.hash = t.hash WHERE t.id > ? ORDER BY t.id LIMIT ?';

/** Whether content of this size could be indexed (lets a streaming writer keep the bytes only when useful). */
export const indexableSize = (size: number) => size > 0 && size <= TEXT_INDEX_MAX_BYTES;

/**
 * Registers newly stored content for the index when it is text within the cap. Must run inside
 * the transaction that inserted the blob. `data` is the content, or at least its first
 * SNIFF_BYTES of `size` (the text is read from the store when indexed). Costs a NUL scan and
 * UTF-8 check of at most 8 KiB and one insert; every INDEX_LAG texts, indexing the pending batch
 * in the same transaction.
 */
export function indexContent(store: Store, hash: string, data: Uint8Array, size = data.length): boolean {
  if (!indexableSize(size) || looksBinary(data, size)) return false;
  const row = store.stmt<{ id: number }>(INSERT_TEXT).get(hash);
  if (!row) return false; // already indexed or pending
  if (row.id - indexedUpTo(store) >= (lags.get(store) ?? INDEX_LAG)) indexBatch(store, BATCH);
  else if (!indexesAtClose.has(store)) {
    indexesAtClose.add(store);
    store.atClose(() => indexAtClose(store));
  }
  return true;
}

const indexesAtClose = new WeakSet<Store>();
const lags = new WeakMap<Store, number>();

/**
 * Lets up to `lag` texts wait before a storing transaction indexes any: for a writer that indexes
 * them itself when it is idle (indexSomePending), as a mount does, so that a burst of files
 * closed (a clone, a checkout) does not pay for the index file by file. `search` still indexes
 * what waits before it queries, so nothing is missed; `lag` bounds what it may have to do first.
 */
export function deferIndexing(store: Store, lag: number): void {
  lags.set(store, lag);
}

/**
 * A writer indexes what is still waiting when it closes its store, so a reader that cannot write
 * (a read-only home) finds every text a writer that exited stored. Only a writer that died
 * (kill -9) leaves texts waiting, until the next search or writer indexes them; so a failure here
 * (the lock not obtained within the busy timeout, a full disk) is left to them too, rather than
 * thrown from the close of a store whose own work all committed.
 */
function indexAtClose(store: Store): void {
  try {
    indexPending(store);
  } catch (err) {
    // Left waiting: the next search or the write that makes INDEX_LAG wait indexes it.
    if (!(err instanceof SqliteError)) throw err;
  }
}

/**
 * Indexes every pending text, BATCH per write transaction (joining the caller's write
 * transaction if it runs in one). `search` calls it first, which is what makes a write searchable
 * when its command returns. Returns how many texts it indexed.
 */
export function indexPending(store: Store): number {
  let total = 0;
  for (;;) {
    const n = indexSomePending(store);
    total += n;
    if (n < BATCH) return total;
  }
}

/** Indexes one batch of pending texts in a write transaction of its own; returns how many (0: none waits). */
export function indexSomePending(store: Store): number {
  return store.mutate(() => indexBatch(store, BATCH));
}

/** Whether texts are waiting for the index (a read: a read-only home can ask). */
export function hasPending(store: Store): boolean {
  return store.stmt('SELECT 1 FROM text_index WHERE id > ? LIMIT 1').get(indexedUpTo(store)) !== undefined;
}

const indexedUpTo = (store: Store) => store.stmt<{ id: number }>(INDEXED_UP_TO).get()!.id;

/** Indexes up to `limit` pending texts, oldest first, in the running write transaction. */
function indexBatch(store: Store, limit: number): number {
  const rows = store.stmt<{ id: number; hash: string }>(PENDING).all(indexedUpTo(store), limit);
  for (const { id, hash } of rows) store.stmt(INSERT_FTS).run(id, readContent(store, hash).toString('utf8'));
  return rows.length;
}

/**
 * Drops the index rows of content gc deletes (`hashes`: a JSON array), in gc's transaction, unless
 * deleting the blob rows drops them anyway (the trigger from migration 2). Returns how many
 * contents were indexed. Homes from before the index have no such tables.
 */
export function dropIndexOf(store: Store, hashes: string): number {
  const indexed = indexedCount(store, hashes);
  if (indexed > 0 && !indexFollowsBlobs(store)) {
    if (hasTable(store, 'fts')) store.stmt('DELETE FROM fts WHERE rowid IN (SELECT id FROM text_index WHERE hash IN (SELECT value FROM json_each(?)))').run(hashes);
    store.stmt('DELETE FROM text_index WHERE hash IN (SELECT value FROM json_each(?))').run(hashes);
  }
  return indexed;
}

/** How many of `hashes` (a JSON array) are indexed. */
export function indexedCount(store: Store, hashes: string): number {
  if (!hasTable(store, 'text_index')) return 0;
  return store.stmt<{ n: number }>('SELECT count(*) AS n FROM text_index WHERE hash IN (SELECT value FROM json_each(?))').get(hashes)!.n;
}

function hasTable(store: Store, name: string): boolean {
  return store.stmt("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** Whether deleting a blob row already drops its search index rows (the trigger from migration 2). */
function indexFollowsBlobs(store: Store): boolean {
  return store.stmt("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'blobs' AND sql LIKE '%text_index%'").get() !== undefined;
}
