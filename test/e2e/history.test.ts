import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { avfs, useTempHome } from '../helpers.js';

/** A fresh home per test, so tests do not see each other's history. */
const h = useTempHome('each');

function ok(r: Awaited<ReturnType<typeof avfs>>) {
  expect(r.json, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBeDefined();
  expect(r.json.ok, JSON.stringify(r.json)).toBe(true);
  expect(r.code).toBe(0);
  return r.json;
}
function fails(r: Awaited<ReturnType<typeof avfs>>, code: string, exit: number) {
  expect(r.json, `stdout: ${r.stdout}`).toBeDefined();
  expect(r.json.ok).toBe(false);
  expect(r.json.error.code).toBe(code);
  expect(r.code).toBe(exit);
}

describe('log, cat --version, checkout, revert through the CLI', () => {
  it('write A, write B, checkout v(A) → cat is A; log shows every version newest first', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '/f.txt', 'A']));
    ok(await avfs(home, ['write', '/f.txt', 'B']));
    const log = ok(await avfs(home, ['log', '/f.txt']));
    expect(log).toMatchObject({ vault: 'default', path: '/f.txt', current_version: 2, truncated: false });
    expect(log.versions.map((v: any) => [v.version, v.op, v.type, v.size, v.source])).toEqual([
      [2, 'write', 'file', 1, 'cli'],
      [1, 'create', 'file', 1, 'cli'],
    ]);
    expect(Object.keys(log.versions[0]).sort()).toEqual(
      ['at', 'deleted', 'detail', 'exec_id', 'hash', 'mode', 'mtime', 'op', 'path', 'seq', 'size', 'source', 'target', 'type', 'vault', 'vault_deleted', 'version'].sort(),
    );
    // cat --version: JSON, raw, and with global options after the command
    expect(ok(await avfs(home, ['cat', '/f.txt', '--version', '1']))).toMatchObject({ content: 'A', version: 1 });
    expect((await avfs(home, ['cat', '/f.txt', '--version', '1'], { raw: true })).stdout).toBe('A');
    expect(JSON.parse((await avfs(home, ['cat', '--version', '1', '/f.txt', '--json'], { raw: true })).stdout).content).toBe('A');
    // checkout
    const co = ok(await avfs(home, ['checkout', '/f.txt', '--version', '1']));
    expect(co).toMatchObject({ path: '/f.txt', version: 1, changed: true, new_version: 3, deleted: false });
    expect(ok(await avfs(home, ['cat', '/f.txt'])).content).toBe('A');
    expect(ok(await avfs(home, ['log', '/f.txt', '-n', '1'])).versions).toMatchObject([{ version: 3, op: 'checkout' }]);
    // the program's own --version still works
    const v = await avfs(home, ['--version'], { raw: true });
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('delete + revert → the file is back; the vault log shows the changes', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '-p', '/d/keep.txt', 'keep me']));
    ok(await avfs(home, ['rm', '-r', '/d']));
    fails(await avfs(home, ['cat', '/d/keep.txt']), 'NOT_FOUND', 3);
    const r = ok(await avfs(home, ['revert', '/d']));
    expect(r).toMatchObject({ path: '/d', deleted: false, changed_paths: 2, reverted: { op: 'delete', deleted: true } });
    expect(ok(await avfs(home, ['cat', '/d/keep.txt'])).content).toBe('keep me');
    const recent = ok(await avfs(home, ['log', '-n', '3']));
    expect(recent.path).toBeNull();
    expect(recent.versions.map((x: any) => [x.path, x.op])).toEqual([
      ['/d/keep.txt', 'revert'],
      ['/d', 'revert'],
      ['/d', 'delete'],
    ]);
    expect(recent.truncated).toBe(true);
  });

  it('fails with stable codes and exit codes', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '/f', 'x']));
    fails(await avfs(home, ['cat', '/f', '--version', '9']), 'VERSION_NOT_FOUND', 3);
    fails(await avfs(home, ['checkout', '/f', '--version', '9']), 'VERSION_NOT_FOUND', 3);
    fails(await avfs(home, ['checkout', '/f']), 'USAGE', 2);
    fails(await avfs(home, ['checkout', '/f', '--version', 'abc']), 'USAGE', 2);
    fails(await avfs(home, ['log', '/nope']), 'NOT_FOUND', 3);
    fails(await avfs(home, ['revert', '/nope']), 'NOT_FOUND', 3);
    fails(await avfs(home, ['log', '-n', '0']), 'USAGE', 2);
  });
});

describe('diff through the CLI', () => {
  it('prints a unified diff for humans and structured hunks with --json', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '/f.txt', 'one\ntwo\nthree\n']));
    ok(await avfs(home, ['write', '/f.txt', 'one\n2\nthree\nfour\n']));
    const human = await avfs(home, ['--no-color', 'diff', '/f.txt'], { raw: true });
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(
      ['diff avfs a/f.txt b/f.txt', '--- a/f.txt', '+++ b/f.txt', '@@ -1,3 +1,4 @@', ' one', '-two', '+2', ' three', '+four'].join('\n'), // execa strips the final newline
    );
    const json = ok(await avfs(home, ['diff', '/f.txt', '--from', '1', '--to', '2']));
    expect(json).toMatchObject({ mode: 'versions', from_version: 1, to_version: 2, identical: false, summary: { modified: 1, additions: 2, deletions: 1 } });
    expect(json.files[0]).toMatchObject({ kind: 'modified', binary: false, old_size: 14, new_size: 17 });
    expect(json.files[0].hunks).toEqual([{ old_start: 1, old_lines: 3, new_start: 1, new_lines: 4, lines: [' one', '-two', '+2', ' three', '+four'] }]);
  });

  it('reports binary files as differing and never prints their bytes', async () => {
    const home = h.home;
    const a = Buffer.concat([Buffer.from('MAGIC\0'), randomBytes(2000)]);
    const b = Buffer.concat([Buffer.from('MAGIC\0'), randomBytes(2000)]);
    ok(await avfs(home, ['write', '/x.bin', '--stdin'], { input: a }));
    ok(await avfs(home, ['write', '/x.bin', '--stdin'], { input: b }));
    const json = ok(await avfs(home, ['diff', '/x.bin']));
    expect(json.files[0]).toMatchObject({ kind: 'modified', binary: true, hunks: [], additions: 0, deletions: 0 });
    expect(json.identical).toBe(false);
    const human = await avfs(home, ['--no-color', 'diff', '/x.bin'], { raw: true });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Binary files a/x.bin and b/x.bin differ');
    expect(human.stdout).not.toContain('MAGIC');
    expect(human.stdout.length).toBeLessThan(200);
  });

  it('diffs two paths, a checkpoint against now (with --patch), and a fork against its parent', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '/a.txt', 'same\nold\n']));
    ok(await avfs(home, ['write', '/b.txt', 'same\nnew\n']));
    expect(ok(await avfs(home, ['diff', '/a.txt', '/b.txt'])).files[0].hunks[0].lines).toEqual([' same', '-old', '+new']);
    ok(await avfs(home, ['checkpoint', 'save', 'base']));
    ok(await avfs(home, ['write', '/a.txt', 'changed\n']));
    ok(await avfs(home, ['rm', '/b.txt']));
    ok(await avfs(home, ['write', '/c.txt', 'new file\n']));
    const tree = ok(await avfs(home, ['diff', '--checkpoint', 'base']));
    expect(tree).toMatchObject({ mode: 'tree', from: 'checkpoint:base', to: 'vault:default', summary: { added: 1, modified: 1, deleted: 1 } });
    expect(tree.files.map((f: any) => [f.path, f.kind, f.old_size, f.new_size])).toEqual([
      ['/a.txt', 'modified', 9, 8],
      ['/b.txt', 'deleted', 9, null],
      ['/c.txt', 'added', null, 9],
    ]);
    expect(tree.files[0].hunks).toBeUndefined();
    const patched = ok(await avfs(home, ['diff', '--checkpoint', 'base', '--patch']));
    expect(patched.files[2].hunks[0].lines).toEqual(['+new file']);
    // no arguments: since the newest checkpoint
    expect(ok(await avfs(home, ['diff'])).summary).toMatchObject({ added: 1, modified: 1, deleted: 1 });
    const human = await avfs(home, ['--no-color', 'diff', '--checkpoint', 'base'], { raw: true });
    expect(human.stdout.split('\n').filter(Boolean)).toEqual(['M  /a.txt  (9 B → 8 B)', 'D  /b.txt  (9 B)', 'A  /c.txt  (9 B)']);
    // fork vs parent: --vault inside diff names the other vault; the global --vault (before the command) picks this one
    ok(await avfs(home, ['vault', 'fork', 'default', 'exp']));
    ok(await avfs(home, ['--vault', 'exp', 'write', '/c.txt', 'fork edit\n']));
    const fork = ok(await avfs(home, ['--vault', 'exp', 'diff', '--vault', 'default']));
    expect(fork).toMatchObject({ vault: 'exp', from: 'vault:default', to: 'vault:exp', summary: { added: 0, modified: 1, deleted: 0 } });
    expect(ok(await avfs(home, ['diff', '--vault', 'default', '--json'], { env: { AVFS_VAULT: 'exp' } })).files.map((f: any) => f.path)).toEqual(['/c.txt']);
  });

  it('fails with stable codes', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '/f', 'x']));
    fails(await avfs(home, ['diff', '/f', '--from', '5']), 'VERSION_NOT_FOUND', 3);
    fails(await avfs(home, ['diff', '--checkpoint', 'nope']), 'CHECKPOINT_NOT_FOUND', 3);
    fails(await avfs(home, ['diff']), 'CHECKPOINT_NOT_FOUND', 3);
    fails(await avfs(home, ['diff', '--vault', 'nope']), 'VAULT_NOT_FOUND', 3);
    fails(await avfs(home, ['diff', '/f', '/missing']), 'NOT_FOUND', 3);
    fails(await avfs(home, ['diff', '--checkpoint', 'a', '--vault', 'b']), 'USAGE', 2);
    fails(await avfs(home, ['diff', '/f', '--to', 'x']), 'USAGE', 2);
  });
});

describe('checkpoints through the CLI', () => {
  it('save, list, info, restore (undoable), delete', async () => {
    const home = h.home;
    ok(await avfs(home, ['write', '-p', '/src/app.js', 'v1']));
    const saved = ok(await avfs(home, ['checkpoint', 'save', 'before', '-m', 'tests green']));
    expect(saved.checkpoint).toMatchObject({ name: 'before', message: 'tests green', files: 1, directories: 1, symlinks: 0, bytes: 2, source: 'cli', exec_id: null });
    expect(typeof saved.duration_ms).toBe('number');
    const auto = ok(await avfs(home, ['checkpoint', 'save'])).checkpoint.name;
    expect(auto).toMatch(/^cp-\d{8}-\d{6}-\d{3}/);
    fails(await avfs(home, ['checkpoint', 'save', 'before']), 'ALREADY_EXISTS', 4);
    fails(await avfs(home, ['checkpoint', 'save', 'bad/name']), 'INVALID_NAME', 2);

    ok(await avfs(home, ['write', '/src/app.js', 'v2 broken']));
    ok(await avfs(home, ['write', '/junk', 'j']));
    const info = ok(await avfs(home, ['checkpoint', 'info', 'before']));
    expect(info.checkpoint.changes_since).toEqual({ added: 1, modified: 1, deleted: 0 });
    expect(Object.keys(info.checkpoint)).toEqual(['name', 'message', 'created_at', 'seq', 'files', 'directories', 'symlinks', 'bytes', 'source', 'exec_id', 'changes_since']);
    expect(new Date(info.checkpoint.created_at).toISOString()).toBe(info.checkpoint.created_at);

    const r = ok(await avfs(home, ['checkpoint', 'restore', 'before']));
    expect(r).toMatchObject({ checkpoint: 'before', added: 0, deleted: 1 });
    expect(r.modified).toBeGreaterThanOrEqual(1);
    expect(r.saved_before).toMatch(/^before-restore-/);
    expect(ok(await avfs(home, ['cat', '/src/app.js'])).content).toBe('v1');
    fails(await avfs(home, ['cat', '/junk']), 'NOT_FOUND', 3);
    // the replaced state was saved: restoring it undoes the restore
    ok(await avfs(home, ['checkpoint', 'restore', r.saved_before]));
    expect(ok(await avfs(home, ['cat', '/src/app.js'])).content).toBe('v2 broken');
    expect(ok(await avfs(home, ['cat', '/junk'])).content).toBe('j');

    const list = ok(await avfs(home, ['checkpoint', 'list']));
    expect(list.checkpoints.map((c: any) => c.name)).toHaveLength(4);
    expect(list.checkpoints.at(-1).name).toBe('before');
    expect(ok(await avfs(home, ['checkpoint', 'delete', 'before']))).toMatchObject({ deleted: 'before' });
    fails(await avfs(home, ['checkpoint', 'restore', 'before']), 'CHECKPOINT_NOT_FOUND', 3);
    fails(await avfs(home, ['checkpoint', 'info', 'before']), 'CHECKPOINT_NOT_FOUND', 3);
    fails(await avfs(home, ['checkpoint', 'delete', 'before']), 'CHECKPOINT_NOT_FOUND', 3);
  });

  it('every history command has --help with examples', async () => {
    const home = h.home;
    for (const cmd of [['log'], ['checkout'], ['revert'], ['diff'], ['checkpoint'], ['checkpoint', 'save'], ['checkpoint', 'restore'], ['checkpoint', 'list'], ['checkpoint', 'info'], ['checkpoint', 'delete']]) {
      const r = await avfs(home, [...cmd, '--help'], { raw: true });
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout, cmd.join(' ')).toContain('Examples:');
    }
    const cat = await avfs(home, ['cat', '--help'], { raw: true });
    expect(cat.stdout).toContain('--version <n>');
  });
});
