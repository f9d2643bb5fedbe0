import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, chunksForRange, splitChunks } from '../../src/core/chunking.js';
import { EMPTY_HASH, createHasher, hashBytes } from '../../src/core/hash.js';

describe('chunking', () => {
  it('keeps content of up to one chunk whole', () => {
    expect(splitChunks(new Uint8Array(10))).toHaveLength(1);
    expect(splitChunks(new Uint8Array(CHUNK_SIZE))).toHaveLength(1);
  });
  it('splits larger content into fixed chunks that reassemble exactly', () => {
    const data = new Uint8Array(CHUNK_SIZE * 2 + 5).map((_, i) => i % 251);
    const chunks = splitChunks(data);
    expect(chunks.map((c) => c.length)).toEqual([CHUNK_SIZE, CHUNK_SIZE, 5]);
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
  });
  it('maps a byte range to only the chunks it touches', () => {
    const size = CHUNK_SIZE * 4;
    expect(chunksForRange(size, 10, 20)).toEqual([{ index: 0, start: 10, end: 30 }]);
    expect(chunksForRange(size, CHUNK_SIZE - 2, 4)).toEqual([
      { index: 0, start: CHUNK_SIZE - 2, end: CHUNK_SIZE },
      { index: 1, start: 0, end: 2 },
    ]);
    expect(chunksForRange(size, size - 1, 100)).toEqual([{ index: 3, start: CHUNK_SIZE - 1, end: CHUNK_SIZE }]);
    expect(chunksForRange(size, size, 10)).toEqual([]);
  });
});

describe('hashing', () => {
  it('is sha256 hex and incremental hashing matches one-shot', () => {
    expect(EMPTY_HASH).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const h = createHasher();
    h.update(Buffer.from('hello '));
    h.update(Buffer.from('world'));
    expect(h.digest()).toBe(hashBytes(Buffer.from('hello world')));
  });
});
