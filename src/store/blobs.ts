import { readSync } from 'node:fs';
import { CHUNK_SIZE, chunksForRange, splitChunks } from '../core/chunking.js';
import { createHasher, hashBytes } from '../core/hash.js';
import { AvfsError } from '../errors.js';
import { abandonLease, abandonOwnLeases } from './gc.js';
import { endLease, pin, type Lease } from './leases.js';
import { now, type Store } from './store.js';
import { indexableSize, indexContent } from './text-index.js';

/**
 * Content stored under its SHA-256: once per distinct content, shared by every path and version.
 * `lease` is set when the content was stored by an earlier transaction than the one that will
 * link it (putContentFromFd): the lease pins it against gc until `linkContent` or `abandonContent`.
 */
export interface ContentRef {
  hash: string;
  size: number;
  lease?: number | null;
}

/** A bound on a streamed content's size: reading stops once it is passed, and `refuse(size)` is thrown. */
export interface SizeLimit {
  maxBytes: number;
  refuse(size: number): Error;
}

const INSERT_INLINE = 'INSERT OR IGNORE INTO blobs (hash, size, chunk_count, data, created_at) VALUES (?, ?, ?, ?, ?)';
const INSERT_CHUNK = 'INSERT OR IGNORE INTO chunks (hash, size, data, created_at) VALUES (?, ?, ?, ?)';
const INSERT_BLOB_CHUNK = 'INSERT OR IGNORE INTO blob_chunks (blob_hash, seq, chunk_hash) VALUES (?, ?, ?)';
const BLOB_EXISTS = 'SELECT 1 FROM blobs WHERE hash = ?';
const BLOB_INFO = 'SELECT size, chunk_count AS chunkCount FROM blobs WHERE hash = ?';
const INLINE_DATA = 'SELECT data FROM blobs WHERE hash = ?';
const CHUNK_RANGE = `SELECT bc.seq AS seq, c.data AS data FROM blob_chunks bc JOIN chunks c ON c.hash = bc.chunk_hash
  WHERE bc.blob_hash = ? AND bc.seq BETWEEN ? AND ? ORDER BY bc.seq`;
// How many of a blob's chunks are stored (a blob of at most one chunk holds its bytes inline).
const PRESENT = `SELECT chunk_count AS chunkCount, CASE WHEN chunk_count > 1 THEN
    (SELECT count(*) FROM blob_chunks bc JOIN chunks c ON c.hash = bc.chunk_hash WHERE bc.blob_hash = blobs.hash)
  ELSE chunk_count END AS present FROM blobs WHERE hash = ?`;
/** Chunks a streamed write commits per transaction: about 1 MiB, few commits yet a short write lock. */
const CHUNKS_PER_TRANSACTION = 16;

/** Stores `data` (if new) and returns its address. Joins the caller's transaction if there is one. */
export function putContent(store: Store, data: Uint8Array): ContentRef {
  const hash = hashBytes(data);
  store.mutate(() => storeBlob(store, hash, data));
  return { hash, size: data.length };
}

/** Stores `data` under `hash` unless that content is already stored; true when it was new. */
function storeBlob(store: Store, hash: string, data: Uint8Array): boolean {
  if (store.stmt(BLOB_EXISTS).get(hash)) return false;
  const at = now();
  indexContent(store, hash, data); // new content: index its text in this same transaction
  if (data.length <= CHUNK_SIZE) {
    store.stmt(INSERT_INLINE).run(hash, data.length, data.length === 0 ? 0 : 1, data, at);
    return true;
  }
  const chunks = splitChunks(data);
  chunks.forEach((chunk, seq) => {
    const chunkHash = hashBytes(chunk);
    store.stmt(INSERT_CHUNK).run(chunkHash, chunk.length, chunk, at);
    store.stmt(INSERT_BLOB_CHUNK).run(hash, seq, chunkHash);
  });
  store.stmt(INSERT_INLINE).run(hash, data.length, chunks.length, null, at);
  return true;
}

/**
 * Stores the content of an open file descriptor, reading one chunk at a time so a large file is
 * never held in memory, and committing about 1 MiB of chunks per transaction; the blob row that
 * lists them comes last. Each transaction pins what it stores or reuses under one lease
 * (leases.ts), so gc leaves it alone until the caller links the content in a later transaction
 * (`linkContent`) or abandons it (`abandonContent`); a writer that dies leaves a lease gc ends.
 * With `limit`, reading stops as soon as the content is larger: what this call stored is removed
 * and `limit.refuse(size)` thrown. On any failure, nothing this call stored remains.
 */
export function putContentFromFd(store: Store, fd: number, limit?: SizeLimit): ContentRef {
  const lease = openLease(store);
  try {
    return streamContent(store, fd, lease, limit);
  } catch (err) {
    if (lease.id !== null) abandonLease(store, lease.id);
    throw err;
  }
}

function streamContent(store: Store, fd: number, lease: Lease, limit: SizeLimit | undefined): ContentRef {
  let size = 0;
  const read = (): Buffer => {
    const chunk = readFull(fd, CHUNK_SIZE);
    size += chunk.length;
    if (limit && size > limit.maxBytes) throw limit.refuse(size);
    return chunk;
  };
  const first = read();
  let last = first.length === CHUNK_SIZE ? read() : Buffer.alloc(0);
  if (last.length === 0) {
    // At most one chunk: stored inline, like putContent.
    const hash = hashBytes(first);
    store.mutate(() => pin(store, lease, 'b', hash, storeBlob(store, hash, first)));
    return { hash, size, lease: lease.id };
  }
  const hasher = createHasher();
  const chunkHashes: string[] = [];
  // Content small enough for the text index is kept (at most TEXT_INDEX_MAX_BYTES) to index it.
  let kept: Buffer[] | null = [];
  let batch: Array<{ hash: string; data: Buffer }> = [];
  const take = (chunk: Buffer) => {
    hasher.update(chunk);
    const chunkHash = hashBytes(chunk);
    chunkHashes.push(chunkHash);
    batch.push({ hash: chunkHash, data: chunk });
    if (kept && indexableSize(size)) kept.push(chunk);
    else kept = null;
    if (batch.length < CHUNKS_PER_TRANSACTION) return;
    storeChunks(store, lease, batch);
    batch = [];
  };
  take(first);
  take(last);
  while (last.length === CHUNK_SIZE) {
    last = read();
    if (last.length > 0) take(last);
  }
  if (batch.length > 0) storeChunks(store, lease, batch);
  const hash = hasher.digest();
  store.mutate(() => {
    if (store.stmt(BLOB_EXISTS).get(hash)) return pin(store, lease, 'b', hash, false);
    if (kept) indexContent(store, hash, Buffer.concat(kept, size));
    chunkHashes.forEach((chunkHash, seq) => store.stmt(INSERT_BLOB_CHUNK).run(hash, seq, chunkHash));
    store.stmt(INSERT_INLINE).run(hash, size, chunkHashes.length, null, now());
    pin(store, lease, 'b', hash, true);
  });
  return { hash, size, lease: lease.id };
}

/** Stores a batch of chunks in one transaction, pinning each (stored now, or found already stored). */
function storeChunks(store: Store, lease: Lease, batch: Array<{ hash: string; data: Buffer }>): void {
  const at = now();
  store.mutate(() => {
    for (const { hash, data } of batch) pin(store, lease, 'c', hash, store.stmt(INSERT_CHUNK).run(hash, data.length, data, at).changes > 0);
  });
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

const watched = new WeakSet<Store>();

/** A new lease; the first one in a Store arranges that the leases it leaves are abandoned when it closes. */
function openLease(store: Store): Lease {
  if (!watched.has(store)) {
    watched.add(store);
    store.atClose(() => {
      try {
        abandonOwnLeases(store);
      } catch {
        // Best effort: a lease left behind is ended by gc once this process has exited.
      }
    });
  }
  return { id: null };
}

/**
 * Makes content stored by an earlier transaction (a ContentRef with a lease; one without must be
 * linked in the transaction that stored it) safe to link, inside the linking transaction:
 * checks that the blob and every chunk it lists are stored (CONTENT_MISSING otherwise: an entry
 * never points at missing content), then ends the content's lease, since the entry written in
 * this same transaction references it from now on (gc.ts explains why that closes every window).
 */
export function linkContent(store: Store, content: ContentRef): void {
  if (!content.lease) return; // stored by this same transaction (putContent): present by construction
  const row = store.stmt<{ chunkCount: number; present: number }>(PRESENT).get(content.hash);
  if (!row || row.present !== row.chunkCount) {
    throw new AvfsError('CONTENT_MISSING', `content ${content.hash} is not fully stored (deleted while it was being written?); nothing was linked`, {
      hash: content.hash,
      size: content.size,
    });
  }
  endLease(store, content.lease);
}

/** Gives up content that will not be linked: what its write stored is removed unless something else references it now. */
export function abandonContent(store: Store, content: ContentRef): void {
  if (content.lease) abandonLease(store, content.lease);
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
