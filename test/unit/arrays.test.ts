import { describe, expect, it } from 'vitest';
import { pushAll } from '../../src/core/arrays.js';
import { table } from '../../src/cli/output.js';

describe('pushAll', () => {
  it('appends in order, any number of items (a spread of this many overflows the stack)', () => {
    const many = Array.from({ length: 300_000 }, (_, i) => i);
    expect(() => [0].push(...many)).toThrow(RangeError);
    const out = pushAll([-1], many);
    expect(out.length).toBe(300_001);
    expect([out[0], out[1], out[300_000]]).toEqual([-1, 0, 299_999]);
    expect(pushAll([] as string[], new Set(['a', 'b']))).toEqual(['a', 'b']);
  });

  it('table renders 300,000 rows', () => {
    const rows = Array.from({ length: 300_000 }, (_, i) => [`v${i}`, 'x']);
    const text = table(rows);
    expect(text.split('\n')[0]).toBe('v0       x');
  });
});
