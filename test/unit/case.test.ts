import { describe, expect, expectTypeOf, it } from 'vitest';
import { camel, snake, type Camel } from '../../src/api/case.js';

interface Report {
  dry_run: boolean;
  base: { merge_id: number | null; from: 'fork_point' };
  changes: Array<{ path: string; host_path?: string; hunks: Array<{ ours_start: number }> }>;
  detail: Record<string, unknown> | null;
  links_copied?: number;
}

describe('field-name styles', () => {
  const report: Report = {
    dry_run: true,
    base: { merge_id: null, from: 'fork_point' },
    changes: [{ path: '/a_b', host_path: '/h/a_b', hunks: [{ ours_start: 3 }] }],
    detail: { exec_id: 'ex-1', changed_files: 2 },
  };

  it('camel renames every field down the tree, never values, and keeps detail as it is', () => {
    const c = camel(report);
    expect(c).toEqual({
      dryRun: true,
      base: { mergeId: null, from: 'fork_point' },
      changes: [{ path: '/a_b', hostPath: '/h/a_b', hunks: [{ oursStart: 3 }] }],
      detail: { exec_id: 'ex-1', changed_files: 2 },
    });
    expectTypeOf(c.base.mergeId).toEqualTypeOf<number | null>();
    expectTypeOf(c.changes[0]!.hostPath).toEqualTypeOf<string | undefined>();
    expectTypeOf(c).toHaveProperty('linksCopied');
    expectTypeOf<Camel<Buffer>>().toEqualTypeOf<Buffer>();
  });

  it('snake is its inverse', () => {
    expect(snake<Report>(camel(report))).toEqual(report);
    const buf = Buffer.from('x');
    expect(camel({ data_bytes: buf }).dataBytes).toBe(buf);
  });
});
