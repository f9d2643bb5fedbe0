import { describe, expect, it } from 'vitest';
import { KernelCache } from '../../src/mount/kernel-cache.js';

describe('KernelCache.move', () => {
  const cache = () => {
    const k = new KernelCache();
    for (const [p, h] of [['/d/a', 'A'], ['/d/ab', 'AB'], ['/d/sub/x', 'X'], ['/e', 'E'], ['/z', null]] as const) k.remember(p, h);
    return k;
  };

  it("a file's rename moves its own record only, over what the target had", () => {
    const k = cache();
    k.move('/d/a', '/e', false);
    expect(k.holds('/e', 'A')).toBe(true);
    expect(k.holds('/d/a', 'A')).toBe(false);
    expect(k.holds('/d/ab', 'AB')).toBe(true); // a sibling whose name starts the same stays
    k.move('/z', '/y', false); // a record of no content (null) moves too
    expect(k.holds('/y', null)).toBe(true);
    k.move('/nothing', '/d/ab', false); // a file with no record: the target's is dropped
    expect(k.holds('/d/ab', 'AB')).toBe(false);
  });

  it("a directory's rename moves every record below it, and only those", () => {
    const k = cache();
    k.move('/d', '/n', true);
    expect([k.holds('/n/a', 'A'), k.holds('/n/ab', 'AB'), k.holds('/n/sub/x', 'X'), k.holds('/d/a', 'A'), k.holds('/e', 'E')]).toEqual([true, true, true, false, true]);
  });
});
