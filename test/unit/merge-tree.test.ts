import { describe, expect, it } from 'vitest';
import { detectRenames, planMerge, type ContentMerger, type MergeState, type PathTriple } from '../../src/core/merge-tree.js';

const file = (hash: string, mode = 0o644, extra: Partial<MergeState> = {}): MergeState => ({ type: 'f', mode, size: hash.length, hash, target: null, uid: null, gid: null, annot: null, ...extra });
const dir = (mode = 0o755): MergeState => ({ type: 'd', mode, size: 0, hash: null, target: null, uid: null, gid: null, annot: null });
const link = (target: string): MergeState => ({ type: 'l', mode: 0o777, size: target.length, hash: null, target, uid: null, gid: null, annot: null });
const t = (base: MergeState | null, ours: MergeState | null, theirs: MergeState | null): PathTriple => ({ base, ours, theirs });
/** A content merger that conflicts unless told the merged hash; records what it was asked. */
const merger = (merged: string | null = null): ContentMerger & { calls: string[] } => {
  const calls: string[] = [];
  const fn = ((path: string) => {
    calls.push(path);
    return merged ? { clean: true, content: { hash: merged, size: merged.length } } : { clean: false, text: { binary: false, too_large: false, hunks: [] }, union: { hash: 'marked', size: 6 } };
  }) as unknown as ContentMerger & { calls: string[] };
  fn.calls = calls;
  return fn;
};

describe('planMerge: one path', () => {
  it('takes the side that changed; the same change twice once; unchanged stays', () => {
    const plan = planMerge(
      new Map([
        ['/theirs', t(file('a'), file('a'), file('b'))],
        ['/ours', t(file('a'), file('b'), file('a'))],
        ['/same', t(file('a'), file('c'), file('c'))],
        ['/added', t(null, null, file('n'))],
        ['/deleted', t(file('a'), file('a'), null)],
      ]),
      'fail',
      merger(),
    );
    expect(plan.paths.map((p) => [p.path, p.class, p.result?.hash ?? null])).toEqual([
      ['/added', 'theirs_only', 'n'],
      ['/deleted', 'theirs_only', null],
      ['/ours', 'ours_only', 'b'],
      ['/same', 'both_same', 'c'],
      ['/theirs', 'theirs_only', 'b'],
    ]);
    expect(plan.conflicts).toEqual([]);
  });

  it('merges content, mode and tags separately; only file contents changed on both sides go to the content merger', () => {
    const m = merger('merged');
    const plan = planMerge(
      new Map([
        ['/parts', t(file('a'), file('a', 0o755), file('b', 0o644, { annot: '{"tags":["x"]}' }))],
        ['/both', t(file('a'), file('b'), file('c'))],
      ]),
      'fail',
      m,
    );
    const parts = plan.paths.find((p) => p.path === '/parts')!;
    expect(parts.class).toBe('merged');
    expect(parts.result).toMatchObject({ hash: 'b', mode: 0o755, annot: '{"tags":["x"]}' });
    expect(plan.paths.find((p) => p.path === '/both')!.result!.hash).toBe('merged');
    expect(m.calls).toEqual(['/both']);
  });

  it('resolves each conflict kind by strategy, and union only where both can be kept', () => {
    const triples = new Map([
      ['/mode', t(file('a'), file('a', 0o600), file('a', 0o750))],
      ['/del', t(file('a'), null, file('b'))],
      ['/type', t(file('a'), dir(), link('x'))],
      ['/meta', t(file('a'), file('a', 0o644, { uid: 1 }), file('a', 0o644, { uid: 2 }))],
      ['/text', t(file('a'), file('b'), file('c'))],
    ]);
    const fail = planMerge(triples, 'fail', merger());
    expect(fail.conflicts.map((c) => [c.path, c.kind, c.resolution])).toEqual([
      ['/del', 'delete_edit', null],
      ['/meta', 'metadata', null],
      ['/mode', 'mode', null],
      ['/text', 'content', null],
      ['/type', 'type', null],
    ]);
    expect(fail.unresolved).toHaveLength(5);
    const theirs = planMerge(triples, 'theirs', merger());
    expect(theirs.unresolved).toEqual([]);
    expect(Object.fromEntries(theirs.paths.map((p) => [p.path, p.result]))).toEqual({
      '/mode': file('a', 0o750),
      '/del': file('b'),
      '/type': link('x'),
      '/meta': file('a', 0o644, { uid: 2 }),
      '/text': file('c'),
    });
    const union = planMerge(triples, 'union', merger());
    const res = Object.fromEntries(union.paths.map((p) => [p.path, p.result]));
    expect(res['/mode']!.mode).toBe(0o750 | 0o600);
    expect(res['/del']).toEqual(file('b'));
    expect(res['/text']!.hash).toBe('marked');
    expect(union.unresolved.map((c) => c.path)).toEqual(['/meta', '/type']);
  });
});

describe('planMerge: renames and directories', () => {
  it('an edit follows a file the other side moved; a move to two places conflicts', () => {
    const base = file('content');
    const follow = planMerge(
      new Map([
        ['/old', t(base, file('edited'), null)],
        ['/new', t(null, null, base)],
      ]),
      'fail',
      merger(),
    );
    expect(follow.conflicts).toEqual([]);
    expect(follow.paths.map((p) => [p.path, p.class, p.result?.hash ?? null, p.renamed_from ?? null, p.renamed_to ?? null])).toEqual([
      ['/new', 'renamed', 'edited', '/old', null],
      ['/old', 'renamed', null, null, '/new'],
    ]);
    const twice = planMerge(
      new Map([
        ['/old', t(base, null, null)],
        ['/a', t(null, base, null)],
        ['/b', t(null, null, base)],
      ]),
      'ours',
      merger(),
    );
    expect(twice.conflicts).toMatchObject([{ path: '/old', kind: 'rename', renamed_to: { ours: '/a', theirs: '/b' }, resolution: 'ours' }]);
    expect(twice.paths.filter((p) => p.result).map((p) => p.path)).toEqual(['/a']);
  });

  it('a file one side moved, where the other side removed it and made an unrelated file at the new path, is a conflict: no content is dropped (review)', () => {
    const plan = planMerge(
      new Map([
        ['/a.txt', t(file('precious'), null, null)],
        ['/b.txt', t(null, file('precious'), file('other stuff'))],
      ]),
      'fail',
      merger(),
    );
    expect(plan.unresolved.map((c) => [c.path, c.kind])).toEqual([['/b.txt', 'content']]);
  });

  it('detectRenames pairs each deleted file once, preferring the same name, and never empty files', () => {
    const c = file('same');
    const renames = detectRenames(
      new Map([
        ['/x/one', t(c, null, c)],
        ['/x/two', t(c, null, c)],
        ['/y/two', t(null, c, null)],
        ['/y/zzz', t(null, c, null)],
        ['/empty', t(file(''), null, file(''))],
        ['/y/empty', t(null, file(''), null)],
      ]),
    );
    expect(renames.sort((a, b) => (a.from < b.from ? -1 : 1))).toEqual([
      { side: 'ours', from: '/x/one', to: '/y/zzz' },
      { side: 'ours', from: '/x/two', to: '/y/two' },
    ]);
  });

  it('detectRenames pairs as the plain rule says on random trees: per side, deleted files in path order take an added path of their content with their name first, then the first left', () => {
    // The rule written the obvious way (a scan per deleted file, quadratic at 50,000 moved files): the model.
    const model = (triples: Map<string, PathTriple>) => {
      const out: Array<{ side: string; from: string; to: string }> = [];
      const paths = [...triples.keys()].sort();
      const movable = (x: MergeState | null) => x?.type === 'f' && x.size > 0;
      for (const side of ['ours', 'theirs'] as const) {
        const added = paths.filter((p) => !triples.get(p)!.base && movable(triples.get(p)![side]));
        const deleted = paths.filter((p) => !triples.get(p)![side] && movable(triples.get(p)!.base));
        for (const sameName of [true, false]) {
          for (const p of deleted) {
            if (out.some((r) => r.side === side && r.from === p)) continue;
            const hash = triples.get(p)!.base!.hash;
            const i = added.findIndex((c) => triples.get(c)![side]!.hash === hash && (!sameName || c.split('/').pop() === p.split('/').pop()));
            if (i >= 0) out.push({ side, from: p, to: added.splice(i, 1)[0]! });
          }
        }
      }
      return out;
    };
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let round = 0; round < 300; round++) {
      const triples = new Map<string, PathTriple>();
      // Few contents and names in three directories: deleted files with several candidates, some of their name.
      const state = () => (rnd(3) === 0 ? null : file(['a', 'a', 'b', ''][rnd(4)]!));
      for (let k = 0; k < 2 + rnd(30); k++) triples.set(`/${['d', 'e', 'f'][rnd(3)]}/${['x', 'y'][rnd(2)]}${rnd(2)}`, t(state(), state(), state()));
      expect(detectRenames(triples), `round ${round}`).toEqual(model(triples));
    }
  });

  it('a directory deleted on one side while the other added inside it is one conflict on the directory', () => {
    const triples = new Map([
      ['/d', t(dir(), dir(), null)],
      ['/d/old', t(file('o'), file('o'), null)],
      ['/d/new', t(null, file('n'), null)],
    ]);
    const fail = planMerge(triples, 'fail', merger());
    expect(fail.conflicts).toMatchObject([{ path: '/d', kind: 'delete_edit', deleted_by: 'theirs', inside: ['/d/new'], resolution: null }]);
    const keep = (s: 'ours' | 'theirs' | 'union') => planMerge(triples, s, merger()).paths.filter((p) => p.result).map((p) => p.path);
    expect(keep('ours')).toEqual(['/d', '/d/new', '/d/old']);
    expect(keep('theirs')).toEqual([]);
    expect(keep('union')).toEqual(['/d', '/d/new']);
  });
});
