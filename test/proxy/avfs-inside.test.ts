import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { avfs, BIN, tempDir } from '../helpers.js';
import { seedHome, setVaultPolicy, vaultTree } from './helpers.js';

/**
 * An unsandboxed run (policy sandbox.mode off) reaches the avfs home: avfs inside it may work on
 * its own vault's content, never on the boundary's controls (src/proxy/avfs-inside.ts). Each
 * attempt runs through the built CLI and must be denied before anything starts, leaving the
 * policy, quota, checkpoints and other vaults as they were.
 */

let tmp: { dir: string; cleanup: () => void };
let env: Record<string, string>;
beforeAll(() => {
  tmp = tempDir('avfs-proxy-inside-');
  // `avfs` on the command's PATH, as an agent's environment would have it.
  const bin = join(tmp.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'avfs'), `#!/bin/sh\nexec node ${BIN} "$@"\n`, { mode: 0o755 });
  env = { PATH: `${bin}:${process.env.PATH}` };
});
afterAll(() => tmp.cleanup());

const OFF = { sandbox: { mode: 'off' }, timeout_ms: 60_000 };

describe('avfs inside an unsandboxed proxy exec', () => {
  it('may not lift its own boundary: policy, quota, checkpoint deletion, undo, other vaults, mounts, mcp are denied and change nothing', async () => {
    const home = seedHome(join(tmp.dir, 'home'), { '/a.txt': 'a\n' });
    expect((await avfs(home, ['vault', 'create', 'other'])).code).toBe(0);
    expect((await avfs(home, ['--vault', 'other', 'write', '/o.txt', 'o'])).code).toBe(0);
    setVaultPolicy(home, OFF);
    expect((await avfs(home, ['checkpoint', 'save', 'keep'])).code).toBe(0);
    // A run that is allowed: its exec id is what `proxy undo` would name, its checkpoint what a prune would drop.
    const ok = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--shell', 'avfs write /nested.txt n >/dev/null && avfs --vault default cat /a.txt && avfs checkpoint save mine >/dev/null && avfs quota >/dev/null'], { env });
    expect(ok.json, ok.stdout + ok.stderr).toMatchObject({ ok: true, exit_code: 0, stdout: 'a\n', sandbox: { enforced: false } });
    const state = async () => ({
      policy: (await avfs(home, ['proxy', 'policy', 'show'])).json,
      quota: (await avfs(home, ['quota'])).json.quota,
      checkpoints: (await avfs(home, ['checkpoint', 'list'])).json.checkpoints.map((c: any) => c.name),
      vaults: (await avfs(home, ['vault', 'list'])).json.vaults.map((v: any) => v.name),
      other: vaultTree(home, 'other'),
      tree: vaultTree(home),
    });
    const before = await state();
    expect(before.policy).toMatchObject({ source: 'vault', policy: { sandbox: { mode: 'off' } } });
    expect(before.checkpoints).toEqual(expect.arrayContaining(['keep', 'mine', `proxy-${ok.json.exec_id}`]));

    const attempts: string[][] = [
      ['--', 'avfs', 'proxy', 'policy', 'reset'],
      ['--shell', `echo '{"sandbox":{"mode":"off"},"default_action":"allow","rules":[]}' | avfs proxy policy set -`],
      ['--', 'avfs', 'proxy', 'policy', 'set', '-', '--scope', 'home'],
      ['--', 'avfs', 'quota', 'set', '--max-bytes', '1'],
      ['--', 'avfs', 'quota', 'clear'],
      ['--', 'avfs', 'checkpoint', 'delete', 'keep'],
      ['--', 'avfs', 'snapshot', 'rm', 'keep'],
      ['--checkpoint', '--shell', 'avfs checkpoint delete "proxy-$AVFS_EXEC_ID"'],
      ['--', 'avfs', 'prune', '--checkpoints', '--keep', '1'],
      ['--', 'avfs', 'proxy', 'undo', ok.json.exec_id],
      ['--', 'avfs', 'proxy', 'exec', '--approve', '--', 'true'],
      ['--', 'avfs', 'vault', 'delete', 'other', '--force'],
      ['--', 'avfs', 'vault', 'use', 'other'],
      ['--', 'avfs', '--vault', 'other', 'rm', '/o.txt'],
      ['--', 'avfs', '--vault=other', 'rm', '/o.txt'],
      ['--', 'avfs', 'diff', '--vault', 'other'],
      ['--shell', 'AVFS_VAULT=other avfs rm /o.txt'],
      ['--shell', 'export AVFS_VAULT=other; avfs rm /o.txt'],
      ['--', 'env', 'AVFS_VAULT=other', 'avfs', 'rm', '/o.txt'],
      ['--', 'env', '-u', 'AVFS_HOME', 'avfs', 'ls'],
      ['--', 'env', '-i', 'avfs', 'ls'],
      ['--', 'sh', '-c', 'avfs proxy policy reset'],
      ['--', 'env', 'avfs', 'proxy', 'policy', 'reset'],
      ['--', 'node', BIN, 'proxy', 'policy', 'reset'],
      ['--', 'avfs', 'mount', 'mnt'],
      ['--', 'avfs', 'mcp'],
      ['--', 'avfs', 'gc'],
      ['--', 'avfs', 'compact'],
      ['--', 'avfs', 'shell'],
    ];
    for (const args of attempts) {
      const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', ...args], { env, input: '{"sandbox":{"mode":"off"},"rules":[]}' });
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(5);
      expect(r.json.error, args.join(' ')).toMatchObject({ code: 'DENIED', decision: { action: 'deny', rule: 'avfs-inside' } });
    }
    expect(await state()).toEqual(before);
  });

  it('policy check explains the denial the same way', async () => {
    const home = seedHome(join(tmp.dir, 'home-check'));
    setVaultPolicy(home, OFF);
    const r = await avfs(home, ['proxy', 'policy', 'check', '--', 'avfs', 'proxy', 'policy', 'reset']);
    expect(r.json).toMatchObject({ sandboxed: false, would_run: false, decision: { action: 'deny', rule: 'avfs-inside' } });
    expect(r.json.decision.reason).toContain('avfs proxy');
  });
});
