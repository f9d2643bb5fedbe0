import { readSync } from 'node:fs';
import { CHUNK_SIZE, chunksForRange, splitChunks } from '../core/chunking.js';
import { createHasher, hashBytes } from '../core/hash.js';
import { AvfsError } from '../errors.js';
import { now, type Store } from './store.js';
import { indexableSize, indexContent } from './text-index.js';

/** Content stored under its SHA-256: once per distinct content, shared by every path and version. */
export interface ContentRef {
  hash: string;
  size: number;
}

const INSERT_INLINE = 'INSERT OR IGNORE INTO blobs (hash, size, chunk_count, data, created_at) VALUES (?, ?, ?, ?, ?)';
const INSERT_CHUNK = 'INSERT OR IGNORE INTO chunks (hash, size, data, created_at) VALUES (?, ?, ?, ?)';
const INSERT_BLOB_CHUNK = 'INSERT OR IGNORE INTO blob_chunks (blob_hash, seq, chunk_hash) VALUES (?, ?, ?)';
const BLOB_EXISTS = 'SELECT 1 FROM blobs WHERE hash = ?';
const BLOB_INFO = 'SELECT size, chunk_count AS chunkCount FROM blobs WHERE hash = ?';
const INLINE_DATA = 'SELECT data FROM blobs WHERE hash = ?';
const CHUNK_RANGE = `SELECT bc.seq AS seq, c.data AS data FROM blob_chunks bc JOIN chunks c ON c.hash = bc.chunk_hash
  WHERE bc.blob_hash = ? AND bc.seq BETWEEN ? AND ? ORDER BY bc.seq`;
// Touching created_at protects content a writer is about to reference from a concurrent gc grace window.
const TOUCH_BLOB = 'UPDATE blobs SET created_at = ? WHERE hash = ?';
const TOUCH_CHUNK = 'UPDATE chunks SET created_at = ? WHERE hash = ? AND created_at < ?';

/** Stores `data` (if new) and returns its address. Joins the caller's transaction if there is one. */
export function putContent(store: Store, data: Uint8Array): ContentRef {
  const hash = hashBytes(data);
  const at = now();
  store.mutate(() => {
    if (store.stmt(BLOB_EXISTS).get(hash)) {
      store.stmt(TOUCH_BLOB).run(at, hash);
      return;
    }
    indexContent(store, hash, data); // new content: index its text in this same transaction
    if (data.length <= CHUNK_SIZE) {
      store.stmt(INSERT_INLINE).run(hash, data.length, data.length === 0 ? 0 : 1, data, at);
      return;
    }
    const chunks = splitChunks(data);
    chunks.forEach((chunk, seq) => {
      const chunkHash = hashBytes(chunk);
      store.stmt(INSERT_CHUNK).run(chunkHash, chunk.length, chunk, at);
      store.stmt(INSERT_BLOB_CHUNK).run(hash, seq, chunkHash);
    });
    store.stmt(INSERT_INLINE).run(hash, data.length, chunks.length, null, at);
  });
  return { hash, size: data.length };
}

/**
 * Stores the content of an open file descriptor, reading one chunk at a time so a large file is
 * never held in memory. Chunks are written as they are read; the blob row that makes the content
 * visible is written last, so an interrupted import leaves only unreferenced chunks for gc.
 */
export function putContentFromFd(store: Store, fd: number): ContentRef {
  const first = readFull(fd, CHUNK_SIZE);
  if (first.length < CHUNK_SIZE) return putContent(store, first);
  let next = readFull(fd, CHUNK_SIZE);
  if (next.length === 0) return putContent(store, first); // exactly one chunk: stored inline
  const at = now();
  const hasher = createHasher();
  const chunkHashes: string[] = [];
  // Content small enough for the text index is kept (at most TEXT_INDEX_MAX_BYTES) to index it.
  let kept: Buffer[] | null = [];
  let size = 0;
  for (let chunk = first; chunk.length > 0; chunk = next, next = chunk.length === CHUNK_SIZE ? readFull(fd, CHUNK_SIZE) : Buffer.alloc(0)) {
    hasher.update(chunk);
    size += chunk.length;
    chunkHashes.push(storeChunk(store, chunk, at));
    if (kept && indexableSize(size)) kept.push(chunk);
    else kept = null;
  }
  const hash = hasher.digest();
  store.mutate(() => {
    if (store.stmt(BLOB_EXISTS).get(hash)) return void store.stmt(TOUCH_BLOB).run(at, hash);
    if (kept) indexContent(store, hash, Buffer.concat(kept, size));
    chunkHashes.forEach((chunkHash, seq) => store.stmt(INSERT_BLOB_CHUNK).run(hash, seq, chunkHash));
    store.stmt(INSERT_INLINE).run(hash, size, chunkHashes.length, null, at);
  });
  return { hash, size };
}

/** Reads up to `length` bytes (fewer only at end of file) into a new buffer. */
function readFull(fd: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const n = readSync(fd, buf, filled, length - filled, null);
    if (n === 0) break;
    filled += n;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

function storeChunk(store: Store, chunk: Uint8Array, at: number): string {
  const chunkHash = hashBytes(chunk);
  store.mutate(() => {
    // An existing chunk may be unreferenced and old, i.e. one gc is about to delete; until the
    // blob row that lists it is written (a later transaction), only a fresh created_at (gc's
    // grace period) protects it.
    if (store.stmt(INSERT_CHUNK).run(chunkHash, chunk.length, chunk, at).changes === 0) store.stmt(TOUCH_CHUNK).run(at, chunkHash, at);
  });
  return chunkHash;
}

export function contentInfo(store: Store, hash: string): { size: number; chunkCount: number } {
  const info = store.stmt<{ size: number; chunkCount: number }>(BLOB_INFO).get(hash);
  if (!info) throw new AvfsError('INTERNAL', `missing content ${hash}`, { hash });
  return info;
}

/**
 * Reads `length` bytes at `offset` of a content (clipped to its size). Only the chunks that
 * overlap the range are loaded, so a 4 KiB read of a 1 GiB file touches one 64 KiB chunk.
 */
export function readContent(store: Store, hash: string, offset = 0, length = Number.MAX_SAFE_INTEGER): Buffer {
  const { size, chunkCount } = contentInfo(store, hash);
  if (chunkCount === 0 || offset >= size) return Buffer.alloc(0);
  if (chunkCount === 1) {
    const row = store.stmt<{ data: Buffer }>(INLINE_DATA).get(hash)!;
    return offset === 0 && length >= size ? row.data : row.data.subarray(offset, Math.min(size, offset + length));
  }
  const spans = chunksForRange(size, offset, length);
  if (spans.length === 0) return Buffer.alloc(0);
  if (spans.length === 1) {
    const row = store.stmt<{ seq: number; data: Buffer }>(CHUNK_RANGE).get(hash, spans[0]!.index, spans[0]!.index);
    if (!row) throw new AvfsError('INTERNAL', `content ${hash} is missing chunk ${spans[0]!.index}`, { hash });
    return row.data.subarray(spans[0]!.start, spans[0]!.end);
  }
  // One allocation filled row by row as SQLite yields them: no array of rows, no concat copy.
  const out = Buffer.allocUnsafe(spans.reduce((n, s) => n + s.end - s.start, 0));
  let filled = 0;
  let i = 0;
  for (const row of store.stmt<{ seq: number; data: Buffer }>(CHUNK_RANGE).iterate(hash, spans[0]!.index, spans[spans.length - 1]!.index)) {
    const span = spans[i++];
    if (!span || row.seq !== span.index) throw new AvfsError('INTERNAL', `content ${hash} is missing chunks`, { hash });
    filled += row.data.copy(out, filled, span.start, span.end);
  }
  if (i !== spans.length) throw new AvfsError('INTERNAL', `content ${hash} is missing chunks`, { hash });
  return out;
}

/** Streams a content chunk by chunk (export, cat of a large file) without loading it whole. */
export function* contentChunks(store: Store, hash: string): Generator<Buffer> {
  const { size, chunkCount } = contentInfo(store, hash);
  if (chunkCount <= 1) {
    if (size > 0) yield readContent(store, hash);
    return;
  }
  for (let seq = 0; seq < chunkCount; seq++) {
    const row = store.stmt<{ seq: number; data: Buffer }>(CHUNK_RANGE).get(hash, seq, seq);
    if (!row) throw new AvfsError('INTERNAL', `content ${hash} is missing chunk ${seq}`, { hash });
    yield row.data;
  }
}
