/**
 * Large content is split into fixed-size chunks. Fixed boundaries make a byte range map to
 * chunk indices by division (a range read touches only the chunks it needs) and make an in-place
 * edit of a large file change only the chunks it overlaps, which is how editors, databases and
 * the mount rewrite files. Content no larger than one chunk is stored as a single chunk whose
 * hash is the content hash, so small files cost one row.
 */
export const CHUNK_SIZE = 64 * 1024;

export interface ChunkSpan {
  index: number;
  start: number;
  end: number;
}

/** Splits a buffer into chunk views (no copies). */
export function splitChunks(data: Uint8Array, chunkSize = CHUNK_SIZE): Uint8Array[] {
  if (data.length <= chunkSize) return [data];
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += chunkSize) out.push(data.subarray(off, Math.min(off + chunkSize, data.length)));
  return out;
}

/** The chunks a byte range [offset, offset+length) touches, clipped to the content size. */
export function chunksForRange(size: number, offset: number, length: number, chunkSize = CHUNK_SIZE): ChunkSpan[] {
  const end = Math.min(size, offset + length);
  if (offset >= end) return [];
  const spans: ChunkSpan[] = [];
  for (let index = Math.floor(offset / chunkSize); index * chunkSize < end; index++) {
    const chunkStart = index * chunkSize;
    spans.push({ index, start: Math.max(offset, chunkStart) - chunkStart, end: Math.min(end, chunkStart + chunkSize) - chunkStart });
  }
  return spans;
}
