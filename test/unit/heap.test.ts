import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../src/core/heap.js';

describe('MinHeap', () => {
  it('pops in order whatever order items were pushed in, pushes between pops included', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 50; round++) {
      const heap = new MinHeap<number>((a, b) => a - b);
      const model: number[] = [];
      for (let step = 0; step < 200; step++) {
        if (rnd() < 0.6) {
          const n = Math.floor(rnd() * 50);
          heap.push(n);
          model.push(n);
        } else {
          model.sort((a, b) => a - b);
          expect(heap.pop()).toBe(model.shift());
        }
        expect(heap.size).toBe(model.length);
      }
      model.sort((a, b) => a - b);
      const rest: number[] = [];
      while (heap.size > 0) rest.push(heap.pop()!);
      expect(rest).toEqual(model);
      expect(heap.pop()).toBeUndefined();
    }
  });
});
