import { looksBinary } from '../core/text.js';
import type { Store } from './store.js';

/**
 * The full-text index is keyed by content hash (ARCHITECTURE.md "Search"): each distinct text
 * content is indexed once, when it is first stored, inside the transaction that stores it. So a
 * search is consistent as soon as the writing command returns, and forks, copies, versions and
 * checkpoint restores, which only point entries at content that already exists, never index
 * anything.
 *
 * Indexed: non-empty content of at most TEXT_INDEX_MAX_BYTES that is text by `looksBinary`
 * (no NUL and valid UTF-8 in its first 8 KiB). Larger files and binaries are not searchable with
 * `search` (grep still scans them, streaming).
 */
export const TEXT_INDEX_MAX_BYTES = 1024 * 1024;

const INSERT_TEXT = 'INSERT INTO text_index (hash) VALUES (?) ON CONFLICT (hash) DO NOTHING RETURNING id';
const INSERT_FTS = 'INSERT INTO fts (rowid, body) VALUES (?, ?)';

/** Whether content of this size could be indexed (lets a streaming writer keep the bytes only when useful). */
export const indexableSize = (size: number) => size > 0 && size <= TEXT_INDEX_MAX_BYTES;

/**
 * Indexes newly stored content when it is text within the cap. Must run inside the transaction
 * that inserted the blob. Costs a NUL scan and UTF-8 check of at most 8 KiB, one decode and two
 * inserts for text; nothing else for binary content.
 */
export function indexContent(store: Store, hash: string, data: Uint8Array): boolean {
  if (!indexableSize(data.length) || looksBinary(data)) return false;
  const row = store.stmt<{ id: number }>(INSERT_TEXT).get(hash);
  if (!row) return false; // already indexed
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  store.stmt(INSERT_FTS).run(row.id, text);
  return true;
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
