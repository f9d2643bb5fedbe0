import { AvfsError } from '../errors.js';

/**
 * The chunk list of one large content, packed into one BLOB: which chunks, in order, and how long
 * each is. One row per content instead of one row per chunk, and a few bytes per chunk.
 *
 * Format version 1, all integers unsigned LEB128 varints (7 bits a byte, low bits first, high
 * bit set on every byte but the last, no redundant trailing zero bytes):
 *
 *   version byte (1) · count · count × (id delta · size)
 *
 * Version 2, written when every size is at most 64 KiB (content-defined chunks always are): the
 * same, with each size as two bytes (size − 1, little-endian) instead of a varint, which takes
 * three bytes for the typical 16–64 KiB chunk. A 10 MB file's list goes from ~2,150 to ~1,750
 * bytes, and two such blob rows share a 4 KiB page where one did (BENCHMARKS.md, "Scale"). Both
 * versions are read.
 *
 * `id delta` is the zigzag-encoded difference from the previous id (the first from 0): chunks
 * stored one after the other get consecutive ids, so a new content costs one byte per id, and an
 * edited one mostly repeats runs of its previous version's ids. Ids are 1..2^48, sizes 1..2^32-1.
 *
 * Decoding trusts nothing: a list read back from the database that is truncated, has trailing
 * bytes, out-of-range values or a count larger than its bytes can hold throws INTERNAL before
 * allocating anything in proportion to that count.
 */
export const CHUNK_LIST_VERSION = 2;
/** Sizes a version 2 list can hold (two bytes each). */
const SHORT_SIZE_MAX = 0x10000;
export const MAX_CHUNK_ID = 2 ** 48;
const MAX_SIZE = 2 ** 32 - 1;
/** Varint lengths that cover each field's largest value (7 bits a byte). */
const ID_DELTA_BYTES = 8; // zigzag of ±2^48 < 2^50
const SIZE_BYTES = 5; // < 2^32
const COUNT_BYTES = 5; // a list of more than 2^35 chunks is not a chunk list
/** The smallest encoding of one entry, by version: a one-byte delta and a one-byte (1) or two-byte (2) size. */
const MIN_ENTRY_BYTES = [0, 2, 3];

/** The part of chunk `index` a byte range covers: [start, end) within that chunk. */
export interface ChunkSpan {
  index: number;
  start: number;
  end: number;
}

export interface ChunkList {
  ids: number[];
  sizes: number[];
  /** Where each chunk starts in the content; one more entry than chunks, the last is the content size. */
  offsets: number[];
}

/** Packs a content's chunk ids and sizes (parallel arrays, in content order). */
export function encodeChunkList(ids: readonly number[], sizes: readonly number[]): Uint8Array {
  if (ids.length !== sizes.length) throw invalidList(`${ids.length} ids but ${sizes.length} sizes`);
  const out = new Uint8Array(1 + COUNT_BYTES + ids.length * (ID_DELTA_BYTES + SIZE_BYTES));
  const short = sizes.every((size) => size <= SHORT_SIZE_MAX);
  out[0] = short ? 2 : 1;
  let pos = writeVarint(out, 1, ids.length);
  let previous = 0;
  ids.forEach((id, i) => {
    const size = sizes[i]!;
    if (!isIn(id, 1, MAX_CHUNK_ID)) throw invalidList(`chunk id ${id} is not an integer in 1..2^48`);
    if (!isIn(size, 1, MAX_SIZE)) throw invalidList(`chunk size ${size} is not an integer in 1..2^32-1`);
    pos = writeVarint(out, pos, zigzag(id - previous));
    if (short) {
      out[pos++] = (size - 1) & 0xff;
      out[pos++] = (size - 1) >>> 8;
    } else pos = writeVarint(out, pos, size);
    previous = id;
  });
  return out.slice(0, pos);
}

/** Unpacks a chunk list, with each chunk's offset in the content. */
export function decodeChunkList(bytes: Uint8Array): ChunkList {
  const version = bytes[0];
  if (version !== 1 && version !== 2) throw corrupt(`unknown version ${version ?? '(empty)'}`, 0);
  const reader = new VarintReader(bytes, 1);
  const count = reader.read(COUNT_BYTES, 'count');
  if (count > (bytes.length - reader.pos) / MIN_ENTRY_BYTES[version]!) throw corrupt(`count ${count} does not fit in ${bytes.length} bytes`, 1);
  const list: ChunkList = { ids: new Array(count), sizes: new Array(count), offsets: new Array(count + 1) };
  let id = 0;
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const at = reader.pos;
    id += unzigzag(reader.read(ID_DELTA_BYTES, 'id'));
    if (!isIn(id, 1, MAX_CHUNK_ID)) throw corrupt(`chunk ${i} has id ${id}, outside 1..2^48`, at);
    const size = version === 2 ? reader.short() + 1 : reader.read(SIZE_BYTES, 'size');
    if (!isIn(size, 1, MAX_SIZE)) throw corrupt(`chunk ${i} has size ${size}`, at);
    list.ids[i] = id;
    list.sizes[i] = size;
    list.offsets[i] = offset;
    offset += size;
  }
  list.offsets[count] = offset;
  if (reader.pos !== bytes.length) throw corrupt(`${bytes.length - reader.pos} bytes after the last chunk`, reader.pos);
  return list;
}

/**
 * The chunks a byte range [offset, offset+length) of the content touches, with the part of each
 * it covers, clipped to the content size. Finds the first chunk by binary search, so a small read
 * of a large content costs O(log chunks).
 */
export function chunkSpansForRange(list: ChunkList, offset: number, length: number): ChunkSpan[] {
  const { offsets } = list;
  const end = Math.min(offsets[offsets.length - 1]!, offset + length);
  if (offset >= end) return [];
  const spans: ChunkSpan[] = [];
  for (let index = chunkIndexAt(offsets, offset); offsets[index]! < end; index++) {
    const chunkStart = offsets[index]!;
    spans.push({ index, start: Math.max(offset, chunkStart) - chunkStart, end: Math.min(end, offsets[index + 1]!) - chunkStart });
  }
  return spans;
}

/** The index of the chunk that holds byte `position` (inside the content): the last i with offsets[i] <= position. */
function chunkIndexAt(offsets: readonly number[], position: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (offsets[mid]! <= position) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// ---- varints --------------------------------------------------------------------------------
// Values reach 2^50, past 32-bit bitwise operators, so these use arithmetic on doubles (exact
// below 2^53).

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

class VarintReader {
  constructor(
    private readonly bytes: Uint8Array,
    public pos: number,
  ) {}

  /** Reads a two-byte little-endian integer. */
  short(): number {
    const start = this.pos;
    const lo = this.bytes[this.pos++];
    const hi = this.bytes[this.pos++];
    if (lo === undefined || hi === undefined) throw corrupt('truncated in a size', start);
    return lo | (hi << 8);
  }

  /** Reads one canonical varint of at most `maxBytes` bytes. */
  read(maxBytes: number, field: string): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let n = 0; n < maxBytes; n++) {
      const byte = this.bytes[this.pos++];
      if (byte === undefined) throw corrupt(`truncated in a ${field}`, start);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && n > 0) throw corrupt(`overlong ${field} varint`, start);
        return value;
      }
      scale *= 0x80;
    }
    throw corrupt(`${field} varint longer than ${maxBytes} bytes`, start);
  }
}

/** Maps signed to unsigned so that small differences either way stay small: 0, -1, 1, -2 → 0, 1, 2, 3. */
const zigzag = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

const isIn = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max;

function corrupt(reason: string, offset: number): AvfsError {
  return new AvfsError('INTERNAL', `corrupt chunk list: ${reason} (at byte ${offset})`, { format: 'chunk-list', offset });
}

function invalidList(reason: string): AvfsError {
  return new AvfsError('INVALID_ARGUMENT', `cannot encode chunk list: ${reason}`, { format: 'chunk-list' });
}
