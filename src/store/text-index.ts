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
