import { describe, expect, it } from 'vitest';
import { ByteRanges } from '../../src/core/byte-ranges.js';

/** The bytes a ByteRanges covers below `size`, as a bitmap. */
function covered(ranges: ByteRanges, size: number): boolean[] {
  const bits = new Array<boolean>(size).fill(false);
  for (const [s, e] of ranges.list()) for (let i = s; i < Math.min(e, size); i++) bits[i] = true;
  return bits;
}

describe('ByteRanges', () => {
  it('add, remove and clip agree with a bitmap over random operations, and pieces cut a span where ranges begin and end', () => {
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const SIZE = 200;
    for (let round = 0; round < 200; round++) {
      const ranges = new ByteRanges();
      const model = new Array<boolean>(SIZE).fill(false);
      for (let op = 0; op < 30; op++) {
        const a = rnd(SIZE);
        const b = a + rnd(40);
        const kind = rnd(5);
        if (kind < 2) {
          ranges.add(a, b);
          for (let i = a; i < Math.min(b, SIZE); i++) model[i] = true;
        } else if (kind < 4) {
          ranges.remove(a, b);
          for (let i = a; i < Math.min(b, SIZE); i++) model[i] = false;
        } else {
          ranges.clip(b);
          for (let i = b; i < SIZE; i++) model[i] = false;
        }
        expect(covered(ranges, SIZE)).toEqual(model);
        // Disjoint, ordered, not touching (add merges neighbours; remove leaves gaps).
        const list = ranges.list();
        for (let i = 0; i < list.length; i++) {
          expect(list[i]![0]).toBeLessThan(list[i]![1]);
          if (i > 0) expect(list[i]![0]).toBeGreaterThanOrEqual(list[i - 1]![1]);
        }
        const from = rnd(SIZE);
        const to = from + rnd(60);
        const pieces = ranges.pieces(from, to);
        let at = from;
        for (const p of pieces) {
          expect(p.start).toBe(at);
          for (let i = p.start; i < Math.min(p.end, SIZE); i++) expect(model[i], `${i} in ${JSON.stringify(p)}`).toBe(p.inRange);
          at = p.end;
        }
        expect(at).toBe(Math.max(from, to));
      }
    }
  });
});
