import { describe, expect, it } from 'vitest';
import type { MergeState } from '../../src/core/merge-tree.js';
import { collectTriples, type TripleSource } from '../../src/store/lineage.js';

const dir: MergeState = { type: 'd', mode: 0o755, size: 0, hash: null, target: null, uid: null, gid: null, annot: null };

/** A chain /x/d0/d1/… that `ours` and the base have and `theirs` moved away (mv /x /z). */
function movedChain(depth: number): { source: TripleSource; listings: string[]; chain: string[] } {
  const chain: string[] = [];
  for (let p = '/x', i = 0; i <= depth; p += `/d${i}`, i++) chain.push(p);
  const moved = chain.map((p) => `/z${p.slice(2)}`);
  const ours = new Set(chain);
  const theirs = new Set(moved);
  const listings: string[] = [];
  const source: TripleSource = {
    base: (p) => (ours.has(p) ? dir : null),
    ours: (p) => (ours.has(p) ? dir : null),
    theirs: (p) => (theirs.has(p) ? dir : null),
    below: (side, d) => {
      listings.push(`${side} ${d}`);
      return [...(side === 'ours' ? ours : theirs)].filter((p) => p.startsWith(`${d}/`));
    },
    withHash: () => [],
  };
  return { source, listings, chain: [...chain, ...moved] };
}

describe('collectTriples', () => {
  it('lists a subtree once, at its top: a chain of directories one side moved is O(depth), not a listing per directory (a 2,000-deep merge took 110 s)', () => {
    const { source, listings, chain } = movedChain(200);
    const triples = collectTriples(source, new Set(chain));
    expect([...triples.keys()].sort()).toEqual([...chain].sort());
    expect(listings.sort()).toEqual(['ours /x', 'theirs /z']);
  });

  it('completes the subtree of a directory the other side deleted whichever of its paths changed', () => {
    const { source, chain } = movedChain(20);
    const triples = collectTriples(source, new Set(['/x/d0/d1', '/z']));
    expect([...triples.keys()].sort()).toEqual([...chain].sort());
  });
});
