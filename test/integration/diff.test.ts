import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { saveCheckpoint } from '../../src/store/checkpoints.js';
import { MAX_DIFF_BYTES, PATCH_TEXT_BUDGET, diffPaths, diffTreeSources, diffVersions } from '../../src/store/compare.js';
import { errorCode, openTempStore } from '../helpers.js';

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;

const code = errorCode;

let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

describe('diff of versions', () => {
  it('defaults to the previous version against the current one', () => {
    fs.writeFile('/f', 'a\nb\nc\n');
    fs.writeFile('/f', 'a\nB\nc\nd\n');
    const r = diffVersions(fs, '/f');
    expect(r).toMatchObject({ path: '/f', from_version: 1, to_version: 2 });
    expect(r.file).toMatchObject({ kind: 'modified', additions: 2, deletions: 1, binary: false });
    expect(r.file.hunks![0]!.lines).toEqual([' a', '-b', '+B', ' c', '+d']);
  });

  it('--from/--to pick any two versions; a creation diffs against nothing; a deletion against nothing', () => {
    fs.writeFile('/f', 'one\n');
    fs.writeFile('/f', 'two\n');
    fs.writeFile('/f', 'three\n');
    expect(diffVersions(fs, '/f', { from: 1, to: 3 }).file.hunks![0]!.lines).toEqual(['-one', '+three']);
    expect(diffVersions(fs, '/f', { to: 1 })).toMatchObject({ from_version: null, file: { kind: 'added', additions: 1 } });
    fs.rm('/f');
    expect(diffVersions(fs, '/f')).toMatchObject({ from_version: 3, to_version: 4, file: { kind: 'deleted', deletions: 1 } });
    expect(diffVersions(fs, '/f', { from: 2, to: 2 }).file.kind).toBe('unchanged');
  });

  it('reports binary and too-large files as differing without line hunks', () => {
    fs.writeFile('/b', Buffer.from([1, 0, 2]));
    fs.writeFile('/b', Buffer.from([1, 0, 3]));
    expect(diffVersions(fs, '/b').file).toMatchObject({ kind: 'modified', binary: true, hunks: [], additions: 0 });
    const big = Buffer.alloc(MAX_DIFF_BYTES + 1, 0x61);
    fs.writeFile('/big', big);
    big[5] = 0x62;
    fs.writeFile('/big', big);
    expect(diffVersions(fs, '/big').file).toMatchObject({ kind: 'modified', too_large: true, hunks: [] });
  });

  it('a tree diff\'s patch compares at most PATCH_TEXT_BUDGET of text: the files after that are too_large, and a diff of fewer paths shows them', () => {
    // Five 7 MiB texts (each under MAX_DIFF_BYTES) deleted since a checkpoint: 35 MiB, over the 32 MiB bound.
    const size = 7 * 1024 * 1024;
    expect(5 * size).toBeGreaterThan(PATCH_TEXT_BUDGET);
    for (let i = 1; i <= 5; i++) fs.writeFile(`/d${i}/text`, Buffer.alloc(size, `line ${i}\n`), { parents: true });
    saveCheckpoint(fs, 'before');
    for (let i = 1; i <= 5; i++) fs.rm(`/d${i}`, { recursive: true });
    const all = diffTreeSources(fs, { checkpoint: 'before' }, { current: true }, { patch: true });
    const texts = all.files.filter((f) => f.path.endsWith('/text'));
    expect(texts.map((f) => [f.path, f.too_large])).toEqual([['/d1/text', false], ['/d2/text', false], ['/d3/text', false], ['/d4/text', false], ['/d5/text', true]]);
    expect(texts[0]!.deletions).toBe(size / 'line 1\n'.length);
    const rest = diffTreeSources(fs, { checkpoint: 'before' }, { current: true }, { patch: true, under: '/d5' });
    expect(rest.files.find((f) => f.path === '/d5/text')).toMatchObject({ too_large: false, deletions: size / 'line 5\n'.length });
  });

  it('fails with codes: unknown version, unknown path', () => {
    fs.writeFile('/f', 'x');
    expect(code(() => diffVersions(fs, '/f', { from: 7 }))).toBe('VERSION_NOT_FOUND');
    expect(code(() => diffVersions(fs, '/f', { to: 7 }))).toBe('VERSION_NOT_FOUND');
    expect(code(() => diffVersions(fs, '/nope'))).toBe('NOT_FOUND');
  });
});

describe('diff of two paths', () => {
  it('line-diffs two files, and compares two directories recursively', () => {
    fs.writeFile('/a.txt', 'x\ny\n');
    fs.writeFile('/b.txt', 'x\nz\n');
    const files = diffPaths(fs, '/a.txt', '/b.txt');
    expect(files.files[0]).toMatchObject({ old_path: '/a.txt', new_path: '/b.txt', additions: 1, deletions: 1 });
    expect(diffPaths(fs, '/a.txt', '/a.txt').files).toEqual([]);
    fs.writeFile('/l/same', 's', { parents: true });
    fs.writeFile('/l/changed', 'old\n');
    fs.writeFile('/l/only-left', 'x');
    fs.writeFile('/r/same', 's', { parents: true });
    fs.writeFile('/r/changed', 'new\n');
    fs.writeFile('/r/sub/only-right', 'y', { parents: true });
    const dirs = diffPaths(fs, '/l', '/r', { patch: true });
    expect(dirs.directories).toBe(true);
    expect(dirs.files.map((f) => [f.path, f.kind])).toEqual([
      ['/changed', 'modified'],
      ['/only-left', 'deleted'],
      ['/sub', 'added'],
      ['/sub/only-right', 'added'],
    ]);
    expect(dirs.files[0]!.hunks![0]!.lines).toEqual(['-old', '+new']);
  });

  it('reports two binary files as differing; fails with codes for a directory against a file and a missing path', () => {
    fs.writeFile('/x.bin', randomBytes(100));
    fs.writeFile('/y.bin', randomBytes(100));
    expect(diffPaths(fs, '/x.bin', '/y.bin').files[0]).toMatchObject({ binary: true, hunks: [] });
    fs.mkdir('/d');
    expect(code(() => diffPaths(fs, '/d', '/x.bin'))).toBe('IS_A_DIRECTORY');
    expect(code(() => diffPaths(fs, '/x.bin', '/missing'))).toBe('NOT_FOUND');
  });
});

describe('tree diffs: checkpoints and vaults', () => {
  it('lists added, modified and deleted paths with sizes since a checkpoint, with hunks on request', () => {
    fs.writeFile('/keep', 'k');
    fs.writeFile('/edit.txt', 'one\n');
    fs.writeFile('/gone', 'gone!');
    fs.writeFile('/mode', 'm');
    saveCheckpoint(fs, 'cp');
    fs.writeFile('/edit.txt', 'two\n');
    fs.rm('/gone');
    fs.chmod('/mode', 0o700);
    fs.writeFile('/src/new.ts', 'export {}\n', { parents: true });
    const r = diffTreeSources(fs, { checkpoint: 'cp' }, { current: true });
    expect(r).toMatchObject({ from: 'checkpoint:cp', to: 'vault:default', summary: { added: 2, modified: 2, deleted: 1 } });
    expect(r.files.map((f) => [f.path, f.kind, f.old?.size ?? null, f.new?.size ?? null])).toEqual([
      ['/edit.txt', 'modified', 4, 4],
      ['/gone', 'deleted', 5, null],
      ['/mode', 'modified', 1, 1],
      ['/src', 'added', null, 0],
      ['/src/new.ts', 'added', null, 10],
    ]);
    expect(r.files[0]!.hunks).toBeUndefined();
    const patched = diffTreeSources(fs, { checkpoint: 'cp' }, { current: true }, { patch: true });
    expect(patched.files[0]!.hunks![0]!.lines).toEqual(['-one', '+two']);
    expect(patched.summary).toMatchObject({ additions: 2, deletions: 2 });
    // limited to a directory
    expect(diffTreeSources(fs, { checkpoint: 'cp' }, { current: true }, { under: '/src' }).files.map((f) => f.path)).toEqual(['/src', '/src/new.ts']);
  });

  it('compares two checkpoints, and fails with a code for an unknown one', () => {
    fs.writeFile('/a', '1');
    saveCheckpoint(fs, 'one');
    fs.writeFile('/a', '22');
    saveCheckpoint(fs, 'two');
    fs.rm('/a');
    expect(diffTreeSources(fs, { checkpoint: 'one' }, { checkpoint: 'two' }).files).toMatchObject([{ path: '/a', kind: 'modified' }]);
    expect(code(() => diffTreeSources(fs, { checkpoint: 'nope' }, { current: true }))).toBe('CHECKPOINT_NOT_FOUND');
  });

  it('compares a fork with its parent', () => {
    fs.writeFile('/shared', 's');
    fs.writeFile('/changed', 'parent');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fork.writeFile('/changed', 'fork');
    fork.writeFile('/added', 'a');
    const r = diffTreeSources(fork, { vault: 'default' }, { current: true });
    expect(r).toMatchObject({ from: 'vault:default', to: 'vault:fork' });
    expect(r.files.map((f) => [f.path, f.kind])).toEqual([
      ['/added', 'added'],
      ['/changed', 'modified'],
    ]);
    expect(code(() => diffTreeSources(fork, { vault: 'nope' }, { current: true }))).toBe('VAULT_NOT_FOUND');
  });
});
