import { afterEach, beforeEach, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { avfs, expectError, expectOk, tempDir } from '../helpers.js';
import { describeModes, skipMountTests } from './helpers.js';

/** proxy exec flags from agentvfs: --readonly, --timeout 0, --mountpoint/--keep-mount, and its result fields. */

let tmp: { dir: string; cleanup: () => void };
let home: string;
beforeEach(async () => {
  tmp = tempDir();
  home = join(tmp.dir, 'home');
  expectOk(await avfs(home, ['write', '/a.txt', 'hello']));
});
afterEach(() => tmp.cleanup());

describeModes('proxy exec flags from agentvfs', (mode) => {
  it('--readonly: the command reads the vault and cannot change it; nothing is reported or stored', async () => {
    const r = expectOk(await avfs(home, ['proxy', 'exec', '--mode', mode, '--readonly', '--shell', 'cat a.txt; echo x > a.txt; echo y > b.txt; true']));
    expect(r.stdout).toBe('hello');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.sandbox).toMatchObject({ enforced: true, read_only: true });
    expect(r.changed_files).toEqual([]);
    expect(expectOk(await avfs(home, ['cat', '/a.txt'])).content).toBe('hello');
    expectError(await avfs(home, ['cat', '/b.txt']), 'NOT_FOUND', 3);
  });

  it('--timeout 0 is no timeout, and the result carries schema_version, kind and success', async () => {
    // avfs exits with the command's exit code; the JSON document is still ok (the command ran).
    const ran = await avfs(home, ['proxy', 'exec', '--mode', mode, '--timeout', '0', '--', 'sh', '-c', 'sleep 1; exit 3']);
    expect(ran.code).toBe(3);
    const r = ran.json;
    expect(r).toMatchObject({ exit_code: 3, timed_out: false, schema_version: 1, kind: 'proxy_exec', success: false });
    expect(r.sandbox.limits.timeout_ms).toMatchObject({ value: null, enforced_by: null });
    expect(expectOk(await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'true'])).success).toBe(true);
  });

  it.skipIf(skipMountTests('--mountpoint'))('--mountpoint shows the vault on a host directory during the run; --keep-mount leaves it there', async () => {
    const dir = join(tmp.dir, 'watch');
    mkdirSync(dir);
    const kept = expectOk(await avfs(home, ['proxy', 'exec', '--mode', mode, '--mountpoint', dir, '--keep-mount', '--', 'sh', '-c', 'echo w > w.txt']));
    expect(kept).toMatchObject({ mountpoint: dir, mount_kept: true });
    expect(readFileSync(join(dir, 'w.txt'), 'utf8')).toBe('w\n');
    expectOk(await avfs(home, ['unmount', dir]));
    expect(existsSync(join(dir, 'w.txt'))).toBe(false);
    const gone = expectOk(await avfs(home, ['proxy', 'exec', '--mode', mode, '--mountpoint', dir, '--', 'true']));
    expect(gone.mount_kept).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${dir} `);
    expectError(await avfs(home, ['proxy', 'exec', '--keep-mount', '--', 'true']), 'USAGE', 2);
  });
});
