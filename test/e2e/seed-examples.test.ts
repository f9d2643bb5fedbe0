import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { avfs, expectError, expectOk, useTempHome } from '../helpers.js';
import { describeSandbox } from '../proxy/helpers.js';

/**
 * The seed's "Basic Usage" block, run as written on a fresh home: the first vault created replaces
 * the home's unused `default` and is the one in use, so the files land in it, the fork carries them, and the exec runs the vault's
 * /src/main.py inside the sandbox (where the vault is /). `python` is what the block names; a host
 * without /usr/bin/python (Debian ships only python3 there) runs python3, the same interpreter.
 */
const PYTHON = existsSync('/usr/bin/python') ? 'python' : 'python3';

const h = useTempHome('each');

const human = async (args: string[]) => {
  const r = await avfs(h.home, args, { raw: true });
  expect(r.code, `avfs ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r;
};

describeSandbox('the seed block, verbatim', () => {
  it('vault create, mkdir, write, fork --use, checkpoint save, proxy exec', async () => {
    const created = await human(['vault', 'create', 'myproject']);
    expect(created.stdout + created.stderr).toContain('now in use');
    await human(['mkdir', '/src']);
    await human(['write', '/src/main.py', 'print("hello from the vault")']);
    await human(['vault', 'fork', 'myproject', 'task-001', '--use']);
    await human(['checkpoint', 'save', 'before-refactor']);
    const ran = await human(['proxy', 'exec', '--', PYTHON, '/src/main.py']);
    expect(ran.stdout).toContain('hello from the vault');

    // Where everything landed: no `default` was made, both vaults hold the file.
    const vaults = expectOk(await avfs(h.home, ['vault', 'list']));
    expect(vaults.vaults.map((v: { name: string }) => v.name)).toEqual(['myproject', 'task-001']);
    expect(vaults.current).toBe('task-001');
    for (const vault of ['myproject', 'task-001']) {
      expect(expectOk(await avfs(h.home, ['--vault', vault, 'cat', '/src/main.py'])).content).toBe('print("hello from the vault")');
    }
    expect(expectOk(await avfs(h.home, ['checkpoint', 'list'])).checkpoints.map((c: { name: string }) => c.name)).toEqual(['before-refactor']);
  });
});

describe('which vault a new home works on', () => {
  it('a new home works on an empty `default`; once something was written there, a vault created later does not take over', async () => {
    expect(expectOk(await avfs(h.home, ['vault', 'list'])).vaults.map((v: { name: string }) => v.name)).toEqual(['default']);
    expectOk(await avfs(h.home, ['write', '/notes.md', 'hi']));
    expect(expectOk(await avfs(h.home, ['vault', 'list'])).current).toBe('default');
    const made = expectOk(await avfs(h.home, ['vault', 'create', 'other']));
    expect(made.vault).toMatchObject({ name: 'other', current: false });
    expect(expectOk(await avfs(h.home, ['cat', '/notes.md'])).content).toBe('hi');
  });

  it('after the vault in use is deleted, nothing is guessed; the next vault created is used', async () => {
    expectOk(await avfs(h.home, ['vault', 'create', 'a']));
    expectOk(await avfs(h.home, ['vault', 'create', 'b']));
    expectOk(await avfs(h.home, ['vault', 'delete', 'a', '--force']));
    expectError(await avfs(h.home, ['ls']), 'NO_VAULT', 2);
    expect(expectOk(await avfs(h.home, ['vault', 'create', 'c'])).vault).toMatchObject({ name: 'c', current: true });
    expect(expectOk(await avfs(h.home, ['vault', 'list'])).current).toBe('c');
  });
});
