import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { avfs, BIN, expectOk, tempDir } from '../helpers.js';
import { FUSE, describeNeeding } from '../requirements.js';

/**
 * A vault deleted (`--force`) while a mount-mode `proxy exec` runs in it, and made again under its
 * name, ended the run with `ok: true` and an empty report: the command had worked in the deleted
 * vault's view. It is VAULT_NOT_FOUND (vault_replaced) now, and the new vault gets nothing.
 */

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => (tmp = tempDir('avfs-replaced-')));
afterAll(() => tmp.cleanup());

describeNeeding(FUSE, 'a vault deleted and made again while a mount-mode exec runs in it', () => {
  it('is VAULT_NOT_FOUND (vault_replaced), and nothing reaches the new vault', async () => {
    const home = join(tmp.dir, 'home');
    expectOk(await avfs(home, ['vault', 'create', 'v']));
    // The command waits for a line on its stdin, so the vault is replaced while it runs.
    const run = execa('node', [BIN, '--json', '--vault', 'v', 'proxy', 'exec', '--mode', 'mount', '--stdin', '--shell', 'echo a > /early; read x; echo late > /late'], {
      env: { AVFS_HOME: home, AVFS_VAULT: '' },
      reject: false,
      timeout: 120_000,
    });
    // /early through the mount: the command is running.
    for (let i = 0; i < 600 && (await avfs(home, ['--vault', 'v', 'cat', '/early'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    expectOk(await avfs(home, ['vault', 'delete', 'v', '--force']));
    expectOk(await avfs(home, ['vault', 'create', 'v']));
    run.stdin!.end('go\n');
    const r = await run;
    const doc = JSON.parse(r.stdout);
    expect([doc.ok, doc.error?.code, doc.error?.reason, r.exitCode]).toEqual([false, 'VAULT_NOT_FOUND', 'vault_replaced', 3]);
    expect(expectOk(await avfs(home, ['--vault', 'v', 'ls', '/'])).entries).toEqual([]);
  }, 180_000);
});
