import { describe, expect, it } from 'vitest';
import { decodeText, diffTrees, formatUnified, hunkHeader, lineDiff, summarizeChanges, type TreeItem } from '../../src/core/diff.js';

const f = (path: string, hash: string, extra: Partial<TreeItem> = {}): TreeItem => ({ path, type: 'f', mode: 0o644, size: hash.length, hash, target: null, ...extra });
const d = (path: string, mode = 0o755): TreeItem => ({ path, type: 'd', mode, size: 0, hash: null, target: null });
const l = (path: string, target: string): TreeItem => ({ path, type: 'l', mode: 0o777, size: target.length, hash: null, target });

describe('diffTrees', () => {
  it('reports added, deleted and modified paths in one pass, ignoring unchanged ones', () => {
    const from = [d('/a'), f('/a/x', 'h1'), f('/a/y', 'h2'), l('/link', '/a'), f('/z', 'h9')];
    const to = [d('/a'), f('/a/x', 'h1'), f('/a/y', 'h3'), l('/link', '/b'), f('/new', 'h4')];
    const changes = diffTrees(from, to);
    expect(changes.map((c) => [c.path, c.kind, c.contentChanged, c.modeChanged])).toEqual([
      ['/a/y', 'modified', true, false],
      ['/link', 'modified', true, false],
      ['/new', 'added', true, false],
      ['/z', 'deleted', true, false],
    ]);
    expect(summarizeChanges(changes)).toEqual({ added: 1, modified: 2, deleted: 1 });
  });

  it('detects mode-only and type changes, but not symlink modes or times', () => {
    const changes = diffTrees(
      [f('/m', 'h'), d('/dir', 0o755), f('/t', 'h'), l('/s', 'x')],
      [f('/m', 'h', { mode: 0o755 }), d('/dir', 0o700), d('/t'), l('/s', 'x')].map((i) => (i.path === '/s' ? { ...i, mode: 0o755 } : i)),
    );
    expect(changes.map((c) => [c.path, c.contentChanged, c.modeChanged, c.typeChanged])).toEqual([
      ['/dir', false, true, false],
      ['/m', false, true, false],
      ['/t', true, false, true],
    ]);
  });

  it('does not depend on input order, and handles empty sides', () => {
    const a = [f('/b', '1'), f('/a', '1'), f('/c', '1')];
    expect(diffTrees([...a].reverse(), [])).toHaveLength(3);
    expect(diffTrees([], a).every((c) => c.kind === 'added')).toBe(true);
    expect(diffTrees(a, [...a].reverse())).toEqual([]);
    // a path that is a prefix of another (/a vs /a-b vs /a/b) is still matched exactly
    expect(diffTrees([f('/a', '1'), f('/a-b', '1'), f('/a/b', '1')], [f('/a/b', '1'), f('/a', '2'), f('/a-b', '1')]).map((c) => c.path)).toEqual(['/a']);
  });
});

describe('lineDiff', () => {
  it('finds real line edits (Myers), not a same-line comparison', () => {
    // Inserting a line at the top shifts every line: a naive per-line comparison would report all of them.
    const old = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const neu = 'inserted\n' + old.replace('line 10\n', 'line ten\n');
    const r = lineDiff(old, neu)!;
    expect(r.additions).toBe(2);
    expect(r.deletions).toBe(1);
    expect(r.hunks).toHaveLength(2);
    expect(r.hunks[0]).toEqual({ old_start: 1, old_lines: 3, new_start: 1, new_lines: 4, lines: ['+inserted', ' line 0', ' line 1', ' line 2'] });
    expect(r.hunks[1]!.lines).toEqual([' line 7', ' line 8', ' line 9', '-line 10', '+line ten', ' line 11', ' line 12', ' line 13']);
    expect(hunkHeader(r.hunks[1]!)).toBe('@@ -8,7 +9,7 @@');
  });

  it('uses the unified convention for an empty side and marks a missing final newline', () => {
    const created = lineDiff('', 'a\nb\n')!;
    expect(hunkHeader(created.hunks[0]!)).toBe('@@ -0,0 +1,2 @@');
    const deleted = lineDiff('a\n', '')!;
    expect(hunkHeader(deleted.hunks[0]!)).toBe('@@ -1 +0,0 @@');
    const eol = lineDiff('x\ny', 'x\nz')!;
    expect(eol.hunks[0]!.lines).toContain('\\ No newline at end of file');
    expect(lineDiff('same', 'same')).toEqual({ hunks: [], additions: 0, deletions: 0 });
  });

  it('context lines are configurable', () => {
    const old = 'a\nb\nc\nd\ne\nf\ng\n';
    expect(lineDiff(old, old.replace('d', 'D'), { context: 0 })!.hunks[0]!.lines).toEqual(['-d', '+D']);
    expect(lineDiff(old, old.replace('d', 'D'), { context: 1 })!.hunks[0]!.lines).toEqual([' c', '-d', '+D', ' e']);
  });

  it('formats a unified diff with /dev/null for an absent side', () => {
    const r = lineDiff('', 'hi\n')!;
    expect(formatUnified(null, 'b/x', r.hunks)).toBe('--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+hi\n');
  });
});

describe('decodeText', () => {
  it('returns text for UTF-8 and null for binary (NUL bytes or invalid UTF-8)', () => {
    expect(decodeText(Buffer.from('héllo\n'))).toBe('héllo\n');
    expect(decodeText(Buffer.alloc(0))).toBe('');
    expect(decodeText(Buffer.from([0x61, 0x00, 0x62]))).toBeNull();
    expect(decodeText(Buffer.from([0xff, 0xfe, 0x41]))).toBeNull();
    expect(decodeText(Buffer.from([0xc3]))).toBeNull(); // truncated multi-byte sequence
  });
});
