import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CDC_AVG_SIZE, CDC_MAX_SIZE, CDC_MIN_SIZE, ContentChunker, splitContent, type CdcOptions } from '../../src/core/cdc.js';
import { errorCode, seededRandom, BLOCK, PREFIX_BLOCKS, block } from '../helpers.js';

/** Deterministic pseudo-random bytes. */
function seededBytes(length: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const words = new Uint32Array(Math.ceil(length / 4)).map(() => random(2 ** 32));
  return Buffer.from(words.buffer, 0, length);
}

/** Feeds `data` to a ContentChunker in pieces whose sizes `nextSize` picks; returns every chunk. */
function chunkStreaming(data: Uint8Array, nextSize: () => number, options: CdcOptions = {}): Uint8Array[] {
  const chunker = new ContentChunker(options);
  const chunks: Uint8Array[] = [];
  for (let pos = 0; pos < data.length; ) {
    const size = nextSize();
    chunks.push(...chunker.push(data.subarray(pos, pos + size)));
    pos += size;
  }
  const tail = chunker.finish();
  if (tail) chunks.push(tail);
  return chunks;
}

const sizesOf = (chunks: Uint8Array[]): number[] => chunks.map((c) => c.length);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const SMALL: CdcOptions = { minSize: 64, avgSize: 256, maxSize: 1024 };

describe('content-defined chunking', () => {
  it('cuts chunks within [min, max] except the last, averaging near the average size, that reassemble exactly', () => {
    const data = seededBytes(4 << 20, 1);
    const chunks = splitContent(data);
    const sizes = sizesOf(chunks);
    for (const size of sizes.slice(0, -1)) {
      expect(size).toBeGreaterThanOrEqual(CDC_MIN_SIZE);
      expect(size).toBeLessThanOrEqual(CDC_MAX_SIZE);
    }
    expect(sizes.at(-1)).toBeLessThanOrEqual(CDC_MAX_SIZE);
    const mean = data.length / chunks.length;
    expect(mean).toBeGreaterThan(CDC_AVG_SIZE * 0.75);
    expect(mean).toBeLessThan(CDC_AVG_SIZE * 1.5);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('cuts exactly where a from-scratch reading of the documented algorithm cuts', () => {
    // Boundaries decide which versions share chunks, so they must not drift: this checks the gear
    // table against its documented derivation and the rolling loop against the hash's definition.
    for (const [options, data] of [
      [SMALL, seededBytes(100_000, 2)],
      [{}, seededBytes(1 << 19, 3)],
    ] as const) {
      const sizes = sizesOf(splitContent(data, options));
      expect(sizes).toEqual(referenceSizes(data, options));
      expect(sizesOf(splitContent(Buffer.from(data), options))).toEqual(sizes);
    }
  });

  it('cuts content without cut points (one repeated byte) at the max size, so runs deduplicate', () => {
    expect(sizesOf(splitContent(new Uint8Array(300_000)))).toEqual([65536, 65536, 65536, 65536, 300_000 - 4 * 65536]);
  });

  it('cuts content made of one-byte blocks of the max size at the block borders (what test/helpers.ts block() relies on)', () => {
    const fills = [...'abcBxz3pqrstlm', ...Array.from({ length: PREFIX_BLOCKS }, (_, i) => String.fromCharCode(0xe0 + i))];
    const data = Buffer.concat(fills.map(block));
    expect(splitContent(data).map((c) => Buffer.from(c).toString('latin1', 0, 1))).toEqual(fills);
    expect(splitContent(data).every((c) => c.length === BLOCK)).toBe(true);
  });

  it('keeps small content whole and returns nothing for empty content', () => {
    expect(sizesOf(splitContent(new Uint8Array(100)))).toEqual([100]);
    expect(splitContent(new Uint8Array(0))).toEqual([]);
  });

  it('gives the same chunks fed in any pieces as in one piece', () => {
    const random = seededRandom(3);
    for (const [options, data, maxFeed] of [
      [SMALL, seededBytes(200_000, 4), 3000],
      [{}, seededBytes(3 << 20, 5), 300_000],
    ] as const) {
      const whole = sizesOf(splitContent(data, options));
      for (let trial = 0; trial < 8; trial++) {
        // feeds of 0 and 1 bytes, around the chunk sizes, and several chunks at once
        const chunks = chunkStreaming(data, () => (random(4) === 0 ? random(2) : random(maxFeed)), options);
        expect(sizesOf(chunks)).toEqual(whole);
        expect(Buffer.concat(chunks).equals(data)).toBe(true);
      }
    }
    // the sizes the mount and pipes deliver
    const data = seededBytes(3 << 20, 6);
    for (const feed of [128 * 1024, 64 * 1024, 4096]) expect(sizesOf(chunkStreaming(data, () => feed))).toEqual(sizesOf(splitContent(data)));
  });

  it('copies the bytes it keeps between pushes, so the caller may reuse its buffer', () => {
    const data = seededBytes(20_000, 7);
    const expected = splitContent(data, SMALL).map((c) => Buffer.from(c));
    const chunker = new ContentChunker(SMALL);
    const buffer = new Uint8Array(100); // reused for every push, as FUSE does
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < data.length; pos += buffer.length) {
      buffer.set(data.subarray(pos, pos + buffer.length));
      chunks.push(...chunker.push(buffer).map((c) => Buffer.from(c)));
      buffer.fill(0xee);
    }
    chunks.push(Buffer.from(chunker.finish()!));
    expect(chunks).toEqual(expected);
  });

  it('starts a new content after finish', () => {
    const data = seededBytes(5000, 10);
    const chunker = new ContentChunker(SMALL);
    chunker.push(seededBytes(700, 11)); // a first content that ends inside a chunk, past the min size
    chunker.finish();
    const chunks = [...chunker.push(data), chunker.finish()!];
    expect(sizesOf(chunks)).toEqual(sizesOf(splitContent(data, SMALL)));
  });

  it('rejects sizes that are not ordered or an average that is not a power of two', () => {
    for (const options of [{ avgSize: 10_000 }, { minSize: 16 * 1024 }, { maxSize: 16 * 1024 }, { minSize: 0 }, { avgSize: 32, minSize: 8, maxSize: 128 }, { maxSize: 1.5 * 2 ** 30 }]) {
      expect(errorCode(() => new ContentChunker(options))).toBe('INVALID_ARGUMENT');
    }
  });

  it('re-stores only the chunks around a 100-byte insertion at a random offset in 10 MB', () => {
    const random = seededRandom(8);
    const original = seededBytes(10_000_000, 9);
    const stored = new Set(splitContent(original).map(sha256));
    const trials = 50;
    let changedChunks = 0;
    let changedBytes = 0;
    for (let trial = 0; trial < trials; trial++) {
      const at = random(original.length + 1);
      const edited = Buffer.concat([original.subarray(0, at), seededBytes(100, 100 + trial), original.subarray(at)]);
      for (const chunk of splitContent(edited)) {
        if (stored.has(sha256(chunk))) continue;
        changedChunks++;
        changedBytes += chunk.length;
      }
    }
    // A fixed 64 KiB grid would re-store half the file on average (about 5 MB).
    expect(changedChunks / trials).toBeLessThanOrEqual(4);
    expect(changedBytes / trials).toBeLessThan(3 * CDC_AVG_SIZE);
  });
});

/** splitmix32 as the header of cdc.ts describes it, in BigInt arithmetic modulo 2^32. */
function referenceGear(): bigint[] {
  const M = 2n ** 32n;
  const mix = (z: bigint, shift: bigint, factor: bigint) => ((z ^ (z >> shift)) * factor) % M;
  let state = 0x61766673n; // "avfs"
  return Array.from({ length: 256 }, () => {
    state = (state + 0x9e3779b9n) % M;
    const z = mix(mix(state, 16n, 0x85ebca6bn), 13n, 0xc2b2ae35n);
    return z ^ (z >> 16n);
  });
}

/**
 * Chunk sizes by the definition: the hash at byte i of a chunk is the sum of GEAR[byte j] * 2^(i-j)
 * mod 2^32 over the bytes j from the chunk's min size to i; a chunk ends after the first byte
 * whose hash has its top log2(avg)+2 bits clear (up to avg bytes) or log2(avg)-2 bits (after),
 * or at max bytes.
 */
function referenceSizes(data: Uint8Array, { minSize = CDC_MIN_SIZE, avgSize = CDC_AVG_SIZE, maxSize = CDC_MAX_SIZE }: CdcOptions): number[] {
  const gear = referenceGear();
  const bits = Math.log2(avgSize);
  const topClear = (h: bigint, n: number) => h >> BigInt(32 - n) === 0n;
  const sizes: number[] = [];
  for (let start = 0; start < data.length; ) {
    let size = Math.min(maxSize, data.length - start);
    for (let length = minSize + 1; length <= Math.min(maxSize, data.length - start); length++) {
      const i = start + length - 1;
      let h = 0n;
      for (let j = Math.max(start + minSize, i - 31); j <= i; j++) h += gear[data[j]!]! << BigInt(i - j);
      if (topClear(h % 2n ** 32n, length <= avgSize ? bits + 2 : bits - 2)) {
        size = length;
        break;
      }
    }
    sizes.push(size);
    start += size;
  }
  return sizes;
}
