import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INLINE_MAX, putContent, readContent, readContentInto } from '../../src/store/blobs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';

// Range reads of stored content, as the mount's read requests make them: straight into the
// request's buffer, across chunk boundaries, clipped at the end of the content and of the buffer.

let tmp: ReturnType<typeof tempDir>;
let store: Store;
const big = randomBytes(3 * INLINE_MAX + 12345); // chunked
const small = randomBytes(5000); // inline

beforeAll(() => {
  tmp = tempDir('avfs-read-content-');
  store = openStore(join(tmp.dir, 'home'));
});
afterAll(() => {
  store.release();
  tmp.cleanup();
});

describe('readContentInto', () => {
  it('copies any range of chunked and inline content into the buffer it is given', () => {
    const b = putContent(store, big);
    const s = putContent(store, small);
    for (const [ref, bytes] of [[b, big], [s, small]] as const) {
      const ranges: Array<[number, number]> = [[0, 128 * 1024], [70_000, 128 * 1024], [bytes.length - 1000, 128 * 1024], [bytes.length - 1, 10], [bytes.length, 10], [1, 0]];
      for (const [offset, length] of ranges) {
        const target = Buffer.alloc(128 * 1024, 0xee);
        const n = readContentInto(store, ref.hash, offset, length, target);
        const want = bytes.subarray(offset, offset + length);
        expect(n).toBe(want.length);
        expect(target.subarray(0, n).equals(want)).toBe(true);
        expect(target.subarray(0, n).equals(readContent(store, ref.hash, offset, length))).toBe(true);
      }
    }
  });

  it('sequential reads of two contents taking turns, and a chunk shared by both, each get their own bytes (the chunk a read ended in is reused only by its own content)', () => {
    const other = Buffer.concat([big.subarray(0, INLINE_MAX), randomBytes(2 * INLINE_MAX)]); // its first chunks are big's
    const a = putContent(store, big);
    const b = putContent(store, other);
    const step = 128 * 1024 + 333; // request boundaries fall anywhere in a chunk
    const ta = Buffer.alloc(step);
    const tb = Buffer.alloc(step);
    for (let off = 0; off < Math.max(big.length, other.length); off += step) {
      const na = readContentInto(store, a.hash, off, step, ta);
      const nb = readContentInto(store, b.hash, off, step, tb);
      expect(ta.subarray(0, na).equals(big.subarray(off, off + step))).toBe(true);
      expect(tb.subarray(0, nb).equals(other.subarray(off, off + step))).toBe(true);
      // Backwards within a chunk, and a jump: no stale bytes either.
      const back = Math.max(0, off - 1000);
      const nc = readContentInto(store, a.hash, back, 500, ta);
      expect(ta.subarray(0, nc).equals(big.subarray(back, back + 500))).toBe(true);
    }
  });

  it('reads contents whose chunk ids run in pieces: an edited version reusing its parent\'s chunks around new ones, and a chunk repeated', () => {
    // A fresh content's chunks get consecutive ids, which a read fetches in one statement per run;
    // an insertion in the middle makes the list jump to new ids and back, and a run of zeros
    // repeats one chunk.
    const base = randomBytes(6 * INLINE_MAX);
    putContent(store, base);
    const edited = Buffer.concat([base.subarray(0, 2 * INLINE_MAX + 777), randomBytes(3000), base.subarray(2 * INLINE_MAX + 777)]);
    const zeros = Buffer.concat([randomBytes(1000), Buffer.alloc(8 * INLINE_MAX), randomBytes(1000)]);
    let seed = 11;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (const bytes of [edited, zeros]) {
      const { hash } = putContent(store, bytes);
      const target = Buffer.alloc(200 * 1024);
      for (let i = 0; i < 200; i++) {
        const offset = rnd(bytes.length);
        const length = 1 + rnd(target.length);
        const n = readContentInto(store, hash, offset, length, target);
        expect(n).toBe(Math.min(length, bytes.length - offset));
        expect(target.subarray(0, n).equals(bytes.subarray(offset, offset + n))).toBe(true);
      }
      // Sequentially, in requests as the mount makes them.
      const whole = Buffer.alloc(bytes.length);
      for (let off = 0; off < bytes.length; off += 128 * 1024) readContentInto(store, hash, off, 128 * 1024, whole.subarray(off));
      expect(whole.equals(bytes)).toBe(true);
    }
  });

  it('never writes past the buffer it is given', () => {
    const b = putContent(store, big);
    const target = Buffer.alloc(4096);
    expect(readContentInto(store, b.hash, 100, 1 << 20, target)).toBe(4096);
    expect(target.equals(big.subarray(100, 100 + 4096))).toBe(true);
  });
});
