import { describe, expect, it } from 'vitest';
import { AvfsError } from '../../src/errors.js';
import { MAX_CHUNK_ID, chunkSpansForRange, decodeChunkList, encodeChunkList, type ChunkList, type ChunkSpan } from '../../src/core/chunk-list.js';
import { errorCode, seededRandom } from '../helpers.js';

/** A list like an edited content's: runs of consecutive ids, jumps back and forward, big ids and sizes. */
function randomList(random: (n: number) => number, count: number): { ids: number[]; sizes: number[] } {
  const ids: number[] = [];
  const sizes: number[] = [];
  let id = 1 + random(1000);
  for (let i = 0; i < count; i++) {
    const jump = random(8);
    if (jump === 0) id = 1 + random(2 ** 30) * 2 ** 18 + random(2 ** 18); // anywhere up to 2^48
    else if (jump === 1) id = Math.max(1, id - random(5000));
    else id = Math.min(MAX_CHUNK_ID, id + 1);
    ids.push(id);
    sizes.push(random(10) === 0 ? 2 ** 32 - 1 - random(1000) : 1 + random(70_000));
  }
  return { ids, sizes };
}

/** The spans of a range by walking every chunk. */
function referenceSpans(sizes: number[], offset: number, length: number): ChunkSpan[] {
  const spans: ChunkSpan[] = [];
  let chunkStart = 0;
  sizes.forEach((size, index) => {
    const start = Math.max(offset, chunkStart);
    const end = Math.min(offset + length, chunkStart + size);
    if (start < end) spans.push({ index, start: start - chunkStart, end: end - chunkStart });
    chunkStart += size;
  });
  return spans;
}

describe('chunk list encoding', () => {
  it('decodes what it encodes, with each chunk offset', () => {
    const random = seededRandom(1);
    for (const count of [0, 1, 2, 100, 5000]) {
      const { ids, sizes } = randomList(random, count);
      const list = decodeChunkList(encodeChunkList(ids, sizes));
      expect(list.ids).toEqual(ids);
      expect(list.sizes).toEqual(sizes);
      expect(list.offsets).toEqual(sizes.reduce((offsets, size) => [...offsets, offsets.at(-1)! + size], [0]));
    }
    const extremes = decodeChunkList(encodeChunkList([MAX_CHUNK_ID, 1, MAX_CHUNK_ID], [2 ** 32 - 1, 1, 2 ** 32 - 1]));
    expect(extremes.ids).toEqual([MAX_CHUNK_ID, 1, MAX_CHUNK_ID]);
  });

  it('costs one byte per consecutive id and two bytes per size up to 64 KiB (version 2)', () => {
    // 640 chunks of 16-64 KiB (a 10 MB file) with ids stored one after the other
    const ids = Array.from({ length: 640 }, (_, i) => 1_000_000 + i);
    const sizes = ids.map((_, i) => 16 * 1024 + i * 73);
    const header = 1 + 2; // version, count 640
    const first = 3; // the first id as a delta from 0
    const bytes = encodeChunkList(ids, sizes);
    expect(bytes[0]).toBe(2);
    expect(bytes).toHaveLength(header + first + 639 * 1 + 640 * 2);
    expect(decodeChunkList(encodeChunkList([1, 2], [1, 65536])).sizes).toEqual([1, 65536]);
  });

  it('writes a varint per size (version 1) when a size is over 64 KiB, and reads lists of both versions', () => {
    const ids = [10, 11, 12];
    const bytes = encodeChunkList(ids, [65537, 20_000, 3]);
    expect([...bytes]).toEqual([1, 3, 20, 0x81, 0x80, 0x04, 2, 0xa0, 0x9c, 0x01, 2, 3]);
    expect(decodeChunkList(bytes)).toMatchObject({ ids, sizes: [65537, 20_000, 3] });
    // The same list as version 1 wrote it before version 2 existed.
    expect(decodeChunkList(Uint8Array.from([1, 3, 20, 0x80, 0x80, 0x01, 2, 0xa0, 0x9c, 0x01, 2, 3]))).toMatchObject({ ids, sizes: [16384, 20_000, 3] });
    expect([...encodeChunkList(ids, [16384, 20_000, 3])]).toEqual([2, 3, 20, 0xff, 0x3f, 2, 0x1f, 0x4e, 2, 2, 0]);
  });

  it('maps byte ranges to the chunk spans they touch, as a walk over every chunk does', () => {
    const random = seededRandom(2);
    for (let trial = 0; trial < 50; trial++) {
      const count = 1 + random(60);
      const sizes = Array.from({ length: count }, () => 1 + random(random(2) === 0 ? 3 : 5000));
      const list = decodeChunkList(encodeChunkList(sizes.map((_, i) => i + 1), sizes));
      const total = list.offsets[count]!;
      for (let r = 0; r < 40; r++) {
        // random ranges, ranges on chunk boundaries, and ranges past the end
        const offset = random(3) === 0 ? list.offsets[random(count + 1)]! : random(total + 10);
        const length = random(4) === 0 ? 0 : random(3) === 0 ? list.offsets[random(count + 1)]! - offset : random(total + 10);
        expect(chunkSpansForRange(list, offset, length)).toEqual(referenceSpans(sizes, offset, Math.max(0, length)));
      }
    }
    expect(chunkSpansForRange(decodeChunkList(encodeChunkList([], [])), 0, 10)).toEqual([]);
  });

  it('refuses to encode ids or sizes out of range', () => {
    for (const [ids, sizes] of [
      [[0], [1]],
      [[MAX_CHUNK_ID + 1], [1]],
      [[1.5], [1]],
      [[1], [0]],
      [[1], [2 ** 32]],
      [[1, 2], [1]],
    ]) {
      expect(errorCode(() => encodeChunkList(ids!, sizes!))).toBe('INVALID_ARGUMENT');
    }
  });

  it('rejects corrupt lists with INTERNAL: unknown version, truncation, trailing bytes, bad values, oversized counts', () => {
    const valid = encodeChunkList([5, 6, 7, 300], [100, 20_000, 3, 70_000]);
    const corrupt: number[][] = [
      [],
      [3, ...valid.subarray(1)], // version 3
      [0, ...valid.subarray(1)], // version 0
      [2, 2, 2, 0xff, 0x3f, 2], // version 2 truncated in a size
      [2, 2, 2, 0xff, 0x3f, 2, 0, 0, 0], // version 2 with a trailing byte
      [2, 3, 2, 0, 0, 2, 0, 0], // version 2: a count of 3 in 6 bytes
      [...valid, 0], // a trailing byte
      [1, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1], // a count of 2^35 - 1 in 8 bytes
      [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // a count varint longer than 5 bytes
      [1, 2, 2, 1, 1, 1], // ids 1 then 0
      [1, 1, 2, 0], // size 0
      [1, 1, 0x82, 0x00, 1], // an overlong id delta (2 written as 0x82 0x00)
      [1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1], // an id delta varint longer than 8 bytes
      [1, 2, ...encodeChunkList([MAX_CHUNK_ID], [1]).subarray(2), 2, 1], // ids 2^48 then 2^48 + 1
      [1, 1, 2, 0x80, 0x80, 0x80, 0x80, 0x10], // size 2^32
    ];
    // every proper prefix of a valid list is truncated
    for (let length = 0; length < valid.length; length++) corrupt.push([...valid.subarray(0, length)]);
    for (const bytes of corrupt) expect(errorCode(() => decodeChunkList(Uint8Array.from(bytes))), JSON.stringify(bytes)).toBe('INTERNAL');
  });

  it('decodes damaged bytes into a consistent list or INTERNAL, never anything else', () => {
    const random = seededRandom(3);
    const { ids, sizes } = randomList(random, 50);
    const valid = encodeChunkList(ids, sizes);
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = Uint8Array.from(valid);
      for (let flips = 1 + random(3); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
      let list: ChunkList;
      try {
        list = decodeChunkList(bytes);
      } catch (err) {
        expect((err as AvfsError).code).toBe('INTERNAL');
        continue;
      }
      expect(list.offsets).toHaveLength(list.ids.length + 1);
      list.ids.forEach((id, i) => {
        expect(id >= 1 && id <= MAX_CHUNK_ID && list.sizes[i]! >= 1).toBe(true);
        expect(list.offsets[i + 1]).toBe(list.offsets[i]! + list.sizes[i]!);
      });
    }
  });
});
