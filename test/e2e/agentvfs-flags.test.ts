import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { avfs, BIN, expectError, expectOk, useTempHome } from '../helpers.js';
import { skipMountTests } from '../proxy/helpers.js';

/** The flags of the original agentvfs that do not clash with ours (README "Coming from agentvfs"). */

const h = useTempHome('each');
const run = h.run;

describe('flags from agentvfs', () => {
  it('write -a/--append adds at the end (creating the file when absent), one version per append', async () => {
    expectOk(await run(['write', '-a', '/log.txt', 'one\n']));
    expectOk(await run(['write', '--append', '/log.txt', 'two\n']));
    expectOk(await avfs(h.home, ['write', '-a', '/log.txt', '--stdin'], { input: 'three\n' }));
    expect(expectOk(await run(['cat', '/log.txt'])).content).toBe('one\ntwo\nthree\n');
    expect(expectOk(await run(['log', '/log.txt'])).versions).toHaveLength(3);
    expectError(await run(['write', '-a', '/', 'x']), 'IS_A_DIRECTORY', 2);
  });

  it('tree -L is --depth; both at once must agree', async () => {
    expectOk(await run(['write', '-p', '/a/b/c/d.txt', 'x']));
    const deep = (t: { children?: unknown[] }): number => (t.children?.length ? 1 + Math.max(...t.children.map((c) => deep(c as never))) : 0);
    expect(deep(expectOk(await run(['tree', '-L', '1'])).tree)).toBe(1);
    expect(deep(expectOk(await run(['tree', '-L', '2'])).tree)).toBe(2);
    expectError(await run(['tree', '-L', '1', '--depth', '2']), 'USAGE', 2);
  });

  it('tree of a tree deeper than it nests (1,000 levels) is INVALID_ARGUMENT naming --depth, not a crash; --depth shows it', async () => {
    expectOk(await run(['write', '-p', `/${'d/'.repeat(1200)}f`, 'x']));
    expect(expectError(await run(['tree', '/']), 'INVALID_ARGUMENT', 2).message).toContain('--depth');
    expectOk(await run(['tree', '/', '--depth', '1000']));
  });

  it('rm -f of a missing path succeeds with removed 0; other errors stay errors', async () => {
    expect(expectOk(await run(['rm', '-f', '/nope'])).removed).toBe(0);
    expect(expectOk(await run(['rm', '-rf', '/nope/deeper'])).removed).toBe(0);
    expectOk(await run(['mkdir', '/d']));
    expectOk(await run(['write', '/d/x', 'x']));
    expectError(await run(['rm', '-f', '/d']), 'NOT_EMPTY', 4);
    expect(expectOk(await run(['rm', '-rf', '/d'])).removed).toBe(2);
  });

  it('checkpoint save -d is --message; snapshot is checkpoint', async () => {
    expectOk(await run(['write', '/f', 'x']));
    expect(expectOk(await run(['checkpoint', 'save', 'one', '-d', 'first'])).checkpoint.message).toBe('first');
    expect(expectOk(await run(['snapshot', 'save', 'two'])).checkpoint.name).toBe('two');
    expect(expectOk(await run(['snapshot', 'list'])).checkpoints.map((c: { name: string }) => c.name).sort()).toEqual(['one', 'two']);
    expectError(await run(['checkpoint', 'save', 'three', '-d', 'a', '-m', 'b']), 'USAGE', 2);
  });

  it('unmount -l is --lazy', async () => {
    expect(expectOk(await run(['unmount', '-l', join(h.dir, 'not-mounted')])).was_mounted).toBe(false);
  });

  it('vault delete asks on a terminal unless -y or --force; without a terminal or with --json it asks nothing', async () => {
    for (const name of ['keep', 'gone', 'quiet']) expectOk(await run(['vault', 'create', name]));
    // A pseudo-terminal (script(1)) that answers "n": nothing is deleted.
    const onTty = (args: string, answer: string) =>
      spawnSync('script', ['-qec', `node ${BIN} ${args}`, '/dev/null'], { input: answer, encoding: 'utf8', env: { ...process.env, AVFS_HOME: h.home, AVFS_VAULT: '' } });
    const refused = onTty('vault delete keep', 'n\n');
    expect(refused.stdout).toContain('delete vault keep');
    expect(refused.status).toBe(4);
    const answeredYes = onTty('vault delete gone', 'y\n');
    expect(answeredYes.status, answeredYes.stdout).toBe(0);
    expect(onTty('vault delete quiet -y', '').status).toBe(0);
    expect(expectOk(await run(['vault', 'list'])).vaults.map((v: { name: string }) => v.name)).toEqual(['keep']);
  });
});

describe.skipIf(skipMountTests('mount --allow-other'))('mount --allow-other', () => {
  it('mounts with allow_other, so another user reads what the mode lets them read', async () => {
    expectOk(await run(['write', '/shared.txt', 'for everyone']));
    const dir = join(h.dir, 'mnt');
    mkdirSync(dir);
    chmodSync(h.dir, 0o755); // the other user must be able to reach the mountpoint
    expectOk(await run(['mount', '--allow-other', dir]));
    try {
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir) ?? '';
      expect(line).toContain('allow_other');
      if (process.getuid?.() === 0) {
        const other = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', join(dir, 'shared.txt')], { encoding: 'utf8' });
        expect(other.stdout, other.stderr).toBe('for everyone');
      }
    } finally {
      expectOk(await run(['unmount', dir]));
    }
  });
});
