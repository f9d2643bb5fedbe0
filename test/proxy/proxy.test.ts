import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { openStore } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { spawn, spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { avfs, avfsBytes, BIN, expectSameBytes, tempDir } from '../helpers.js';
import { auditRows, bwrap, describeModes, fuse, type Mode, processes, seedHome, setVaultPolicy, skipMountTests, vaultTree } from './helpers.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('avfs-proxy-');
});
afterAll(() => tmp.cleanup());

let homes = 0;
const newHome = (files: Record<string, string> = {}, setup?: (fs: VaultFs) => void) => seedHome(join(tmp.dir, `home-${++homes}`), files, setup);

/** `avfs --json proxy exec --mode <mode> …` in `home`. */
const exec = (home: string, mode: Mode, args: string[], opts: Parameters<typeof avfs>[2] = {}) => avfs(home, ['proxy', 'exec', '--mode', mode, ...args], opts);

function expectRan(r: Awaited<ReturnType<typeof avfs>>, exit = 0) {
  expect(r.json, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBeDefined();
  expect(r.json.ok, JSON.stringify(r.json)).toBe(true);
  expect(r.json.exit_code).toBe(exit);
  expect(r.code).toBe(exit);
  return r.json;
}

function expectError(r: Awaited<ReturnType<typeof avfs>>, code: string, exit: number) {
  expect(r.json, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBeDefined();
  expect(r.json.ok).toBe(false);
  expect(r.json.error.code).toBe(code);
  expect(r.code).toBe(exit);
  return r.json.error;
}


function setPolicy(home: string, policy: unknown) {
  const file = join(tmp.dir, `policy-${homes}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(policy));
  return avfs(home, ['proxy', 'policy', 'set', file]);
}

/** Only the fields that describe a change (not how many versions it took). */
const net = (changes: any[]) => changes.map(({ versions: _v, ...rest }) => rest);

/**
 * `avfs --json proxy exec <options> -- sh -c <script>`, with `tag` in the command's environment,
 * sent `signal` once the command has a `sleep` running (it has started); resolves when avfs exits.
 */
async function signalledExec(home: string, tag: string, options: string[], script: string, signal: NodeJS.Signals, env: Record<string, string> = {}) {
  const run = execa(process.execPath, [BIN, '--json', 'proxy', 'exec', ...options, '--env', tag, '--', 'sh', '-c', script], { env: { AVFS_HOME: home, AVFS_VAULT: '', ...env }, reject: false, timeout: 120_000 });
  const deadline = Date.now() + 60_000;
  while (!processes().some((p) => p.env.includes(tag) && p.cmdline[0] === 'sleep')) {
    if (Date.now() > deadline || run.exitCode !== null) throw new Error(`the command never started: ${(await run).stdout}`);
    await sleep(50);
  }
  run.kill(signal);
  return run;
}

describeModes('proxy exec', (mode) => {
  it('runs an allowed command in the vault and returns its output, environment and exit code', async () => {
    const home = newHome({ '/notes.md': 'hello\n', '/src/': '' });
    // In the sandbox the vault is `/`: the vault's paths are the command's own.
    const r = expectRan(await exec(home, mode, ['--cwd', '/src', '--', 'sh', '-c', 'cat ../notes.md /notes.md; echo "$AVFS_VAULT $AVFS_EXEC_ID $AVFS_MOUNTPOINT"; pwd']));
    expect(r.mode).toBe(mode);
    expect(r.mode_reason === null || mode === 'copy').toBe(true);
    expect(r.stdout).toBe(`hello\nhello\ndefault ${r.exec_id} /\n/src\n`);
    expect(r).toMatchObject({ vault: 'default', cwd: '/src', signal: null, timed_out: false, truncated: false, changed_files: [], checkpoint: null, violations: [] });
    expect(r.sandbox).toMatchObject({ enforced: true, network: 'none' });
    expect(r.decision).toMatchObject({ action: 'allow' });
    expect(typeof r.duration_ms).toBe('number');

    // The child's own exit code becomes avfs's, with exactly one JSON document.
    const failed = expectRan(await exec(home, mode, ['--shell', 'echo oops >&2; exit 7']), 7);
    expect(failed.stderr).toBe('oops\n');
    // stdin passthrough, and the output cap.
    expect(expectRan(await exec(home, mode, ['--stdin', '--', 'cat'], { input: 'piped' })).stdout).toBe('piped');
    const big = expectRan(await exec(home, mode, ['--max-output', '100', '--', 'sh', '-c', 'yes | head -c 5000']));
    expect(big).toMatchObject({ truncated: true, stdout_bytes: 5000 });
    expect(big.stdout.length).toBe(100);
    // A program that does not exist: 127, like a shell.
    expect(expectRan(await exec(home, mode, ['--', 'no-such-program-avfs']), 127).stderr).toContain('command not found');
    const audits = auditRows(home, 'proxy.');
    expect(audits.filter((a) => a.exec_id === r.exec_id).map((a) => a.op)).toEqual(['proxy.request', 'proxy.exec']);
  });

  it('the command opens its stdout and stderr by path without --json too; a relayed stdin (a pipe, a file) fails at once as /dev/stdin rather than wait', async () => {
    const home = newHome();
    // Captured output was a socket pair, which cannot be opened again: each of these failed with ENXIO.
    const line = 'echo x > /dev/stdout; echo y > /dev/stderr; echo z | tee /dev/stderr; echo w > /proc/self/fd/1';
    const plain = await avfsBytes(home, ['proxy', 'exec', '--mode', mode, '--shell', line]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.toString()).toBe('x\nz\nw\n');
    expect(plain.stderr).toMatch(/^y\nz\n/);
    // A caller's stdin that is a pipe is relayed (reopened, its read end would be its write end):
    // the bytes arrive; /dev/stdin is a socket, which cannot be opened again.
    const cli = (shellLine: string) => execa('sh', ['-c', shellLine], { env: { AVFS_HOME: home, AVFS_VAULT: '' }, reject: false, timeout: 60_000 });
    const avfsLine = `"${process.execPath}" "${BIN}" --json proxy exec --mode ${mode} --stdin`;
    expect(JSON.parse((await cli(`printf piped | ${avfsLine} --shell 'cat; cat /dev/stdin 2>/dev/null || echo " not reopened"'`)).stdout)).toMatchObject({ exit_code: 0, stdout: 'piped not reopened\n' });
    // One that is a file is relayed through a socket too (fifo-pipes.ts says why no FIFO): its
    // bytes arrive, and opening it again fails at once (a FIFO would wait for ever once avfs has closed it).
    const input = join(tmp.dir, `input-${mode}.txt`);
    writeFileSync(input, 'from a file');
    const relayed = JSON.parse((await cli(`${avfsLine} --shell 'cat; cat /dev/stdin 2>/dev/null || echo " not reopened"' < "${input}"`)).stdout);
    expect(relayed).toMatchObject({ exit_code: 0, stdout: 'from a file not reopened\n' });
  });

  it('audits every change the command makes, under its exec id: renames, modes and removed directories too, as changed_files reports them', async () => {
    const home = newHome({ '/a.txt': 'a\n', '/b.txt': 'b\n', '/gone/': '' });
    const r = expectRan(await exec(home, mode, ['--shell', 'mv /a.txt /moved.txt && chmod 600 /b.txt && rmdir /gone && echo new > /new.txt']));
    expect(r.changed_files.map((c: { path: string }) => c.path).sort()).toEqual(['/a.txt', '/b.txt', '/gone', '/moved.txt', '/new.txt']);
    const mine = auditRows(home, '').filter((a) => a.exec_id === r.exec_id && !a.op.startsWith('proxy.'));
    const seen = (op: string, detail: Record<string, unknown>) => mine.some((a) => a.op === op && Object.entries(detail).every(([k, v]) => a.detail[k] === v));
    expect(seen('mv', { from: '/a.txt', to: '/moved.txt' }) || (mode === 'copy' && seen('rm', { path: '/a.txt' }) && seen('write', { path: '/moved.txt' })), JSON.stringify(mine)).toBe(true);
    expect(seen('chmod', { path: '/b.txt', mode: '0600' }) || seen('chown', { path: '/b.txt', mode: '0600' }), JSON.stringify(mine)).toBe(true);
    expect(seen('rm', { path: '/gone' }), JSON.stringify(mine)).toBe(true);
    expect(seen('write', { path: '/new.txt' }), JSON.stringify(mine)).toBe(true);
  });

  it('never starts a denied command (exit 5, audited) and runs require_approval only with --approve', async () => {
    // Scripts in the vault that leave a marker in the vault when they run.
    const home = newHome({ '/denied.sh': '#!/bin/sh\ntouch /denied.ran\n', '/approval.sh': '#!/bin/sh\ntouch /approval.ran\necho ran\n' }, (fs) => {
      fs.chmod('/denied.sh', 0o755);
      fs.chmod('/approval.sh', 0o755);
    });
    expect((await setPolicy(home, {
      rules: [
        { name: 'no-denied', program: 'denied.sh', action: 'deny', reason: 'test denial' },
        { name: 'ask-first', program: 'approval.sh', action: 'require_approval' },
      ],
    })).code).toBe(0);

    const e = expectError(await exec(home, mode, ['--', '/denied.sh']), 'DENIED', 5);
    expect(e.decision).toMatchObject({ action: 'deny', rule: 'no-denied' });
    expect(vaultTree(home)['/denied.ran']).toBeUndefined();
    const rows = auditRows(home, 'proxy.').filter((a) => a.exec_id === e.exec_id);
    expect(rows.map((a) => a.op)).toEqual(['proxy.request', 'proxy.denied']);

    const refused = expectError(await exec(home, mode, ['--', '/approval.sh']), 'DENIED', 5);
    expect(refused).toMatchObject({ approval_required: true, decision: { action: 'require_approval', rule: 'ask-first' } });
    expect(vaultTree(home)['/approval.ran']).toBeUndefined();
    const ran = expectRan(await exec(home, mode, ['--approve', '--', '/approval.sh']));
    expect(ran).toMatchObject({ approved: true, stdout: 'ran\n', decision: { action: 'require_approval' } });
    expect(ran.changed_files.map((c: any) => c.path)).toEqual(['/approval.ran']);
  });

  it('denies a host path before anything runs when the run is not sandboxed (policy sandbox.mode off)', async () => {
    const home = newHome();
    setVaultPolicy(home, { sandbox: { mode: 'off' } });
    const marker = join(tmp.dir, `host-marker-${mode}`);
    const host = expectError(await exec(home, mode, ['--shell', `touch ${marker}`]), 'DENIED', 5);
    expect(host.decision.rule).toBe('host-paths');
    expect(existsSync(marker)).toBe(false);
    // Not through the /proc/self/** and /dev/fd/* allowances either: /proc/self/root is the host's /.
    const secret = join(tmp.dir, `host-secret-${mode}`);
    writeFileSync(secret, 'host secret\n');
    for (const path of [`/proc/self/root${secret}`, `/proc/self/../..${secret}`, `/dev/fd/../..${secret}`, `/proc/self/cwd/../../../../../..${secret}`]) {
      const leak = expectError(await exec(home, mode, ['--', 'cat', path]), 'DENIED', 5);
      expect(leak.decision.rule, path).toBe('host-paths');
      expect(JSON.stringify(leak)).not.toContain('host secret');
    }
    const r = expectRan(await exec(home, mode, ['--', 'true']));
    expect(r.sandbox).toMatchObject({ enforced: false, reason: expect.any(String) });
  });

  it('times out a group that ignores SIGTERM: SIGKILL after the grace period, exit 124, and no process of the group remains', async () => {
    const home = newHome();
    const tag = `AVFS_TEST_RUN=${Math.random().toString(36).slice(2)}`;
    const pending = exec(home, mode, ['--timeout', '3000', '--kill-after', '1000', '--env', tag, '--', 'sh', '-c', 'trap "" TERM; sleep 100 & sleep 100']);
    let settled = false;
    pending.finally(() => (settled = true));
    const groups = new Set<number>();
    const seen = new Set<number>();
    while (!settled) {
      for (const p of processes()) {
        if (p.cmdline[0] === 'sleep' && p.env.includes(tag)) {
          groups.add(p.pgid);
          seen.add(p.pid);
        }
      }
      await sleep(50);
    }
    const r = await pending;
    expect(r.code).toBe(124);
    expect(r.json).toMatchObject({ ok: true, exit_code: 124, timed_out: true, signal: 'SIGKILL' });
    // Not killed before the timeout and its grace (the timeout leaves the shell time to set its trap on a busy machine).
    expect(r.json.duration_ms).toBeGreaterThanOrEqual(4000);
    expect(seen.size).toBe(2); // both sleeps ran …
    expect(groups.size).toBe(1); // … in one process group
    const left = processes().filter((p) => groups.has(p.pgid) || seen.has(p.pid) || p.env.includes(tag));
    expect(left).toEqual([]);
  });

  it('a command killed by a signal reports 128+n and the signal, and no leftover processes (the sandbox init is not one)', async () => {
    const home = newHome();
    // The sandbox's init was still exiting when bubblewrap reported, about every other run: repeat.
    for (let i = 0; i < 8; i++) {
      const r = await exec(home, mode, ['--', 'python3', '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGTERM)']);
      expect(r.code).toBe(143);
      expect(r.json).toMatchObject({ ok: true, exit_code: 143, signal: 'SIGTERM', timed_out: false, leftover_processes: 0, survivors: [] });
    }
  });

  it('reports exactly what a script created, edited, deleted, renamed and chmodded', async () => {
    const home = newHome(
      { '/keep.txt': 'keep\n', '/edit.txt': 'line1\n', '/gone.txt': 'gone\n', '/old-name.txt': 'moving\n', '/script.sh': '#!/bin/sh\necho hi\n', '/dir-gone/inner.txt': 'inner\n' },
      (fs) => fs.symlink('keep.txt', '/link-old'),
    );
    const script = [
      'set -e',
      'echo created > created.txt',
      "printf 'more\\n' >> edit.txt",
      'rm gone.txt',
      'mv old-name.txt new-name.txt',
      'chmod 755 script.sh',
      'mkdir -p newdir/sub',
      'rm -r dir-gone',
      'ln -s created.txt link-new',
      'rm link-old',
      'touch keep.txt', // times only: not a change
      'echo tmp > tmp.txt && rm tmp.txt', // created and removed: no net change
    ].join('\n');
    const r = expectRan(await exec(home, mode, ['--shell', script]));
    const file = (content: string) => ({ size: content.length, hash: sha(content) });
    expect(net(r.changed_files)).toEqual([
      { path: '/created.txt', kind: 'added', type: 'file', size_before: null, size_after: 8, hash_before: null, hash: sha('created\n'), mode_before: null, mode_after: '0644' },
      { path: '/dir-gone', kind: 'deleted', type: 'directory', size_before: 0, size_after: null, hash_before: null, hash: null, mode_before: '0755', mode_after: null },
      { path: '/dir-gone/inner.txt', kind: 'deleted', type: 'file', size_before: 6, size_after: null, hash_before: file('inner\n').hash, hash: null, mode_before: '0644', mode_after: null },
      { path: '/edit.txt', kind: 'modified', type: 'file', size_before: 6, size_after: 11, hash_before: sha('line1\n'), hash: sha('line1\nmore\n'), mode_before: '0644', mode_after: '0644' },
      { path: '/gone.txt', kind: 'deleted', type: 'file', size_before: 5, size_after: null, hash_before: sha('gone\n'), hash: null, mode_before: '0644', mode_after: null },
      { path: '/link-new', kind: 'added', type: 'symlink', size_before: null, size_after: 11, hash_before: null, hash: null, mode_before: null, mode_after: '0777', target_before: null, target: 'created.txt' },
      { path: '/link-old', kind: 'deleted', type: 'symlink', size_before: 8, size_after: null, hash_before: null, hash: null, mode_before: '0777', mode_after: null, target_before: 'keep.txt', target: null },
      { path: '/new-name.txt', kind: 'added', type: 'file', size_before: null, size_after: 7, hash_before: null, hash: sha('moving\n'), mode_before: null, mode_after: '0644' },
      { path: '/newdir', kind: 'added', type: 'directory', size_before: null, size_after: 0, hash_before: null, hash: null, mode_before: null, mode_after: '0755' },
      { path: '/newdir/sub', kind: 'added', type: 'directory', size_before: null, size_after: 0, hash_before: null, hash: null, mode_before: null, mode_after: '0755' },
      { path: '/old-name.txt', kind: 'deleted', type: 'file', size_before: 7, size_after: null, hash_before: sha('moving\n'), hash: null, mode_before: '0644', mode_after: null },
      { path: '/script.sh', kind: 'modified', type: 'file', size_before: 18, size_after: 18, hash_before: sha('#!/bin/sh\necho hi\n'), hash: sha('#!/bin/sh\necho hi\n'), mode_before: '0644', mode_after: '0755' },
    ]);
    // The store agrees with the report.
    const tree = vaultTree(home);
    expect(tree['/created.txt']).toMatchObject({ type: 'f', hash: sha('created\n') });
    expect(tree['/script.sh']!.mode).toBe(0o755);
    expect(tree['/link-new']).toMatchObject({ type: 'l', target: 'created.txt' });
    for (const gone of ['/gone.txt', '/old-name.txt', '/dir-gone', '/link-old', '/tmp.txt']) expect(tree[gone]).toBeUndefined();
  });

  it('runs git init, add and commit through the proxy', async () => {
    // The vault is the sandbox's `/`, beside the system directories: the repository is a directory of it.
    const home = newHome({ '/repo/README.md': '# demo\n', '/repo/src/app.js': 'console.log(1)\n' });
    const env = ['GIT_AUTHOR_NAME=avfs', 'GIT_AUTHOR_EMAIL=avfs@example.com', 'GIT_COMMITTER_NAME=avfs', 'GIT_COMMITTER_EMAIL=avfs@example.com'].flatMap((e) => ['--env', e]);
    const r = expectRan(await exec(home, mode, [...env, '--cwd', '/repo', '--timeout', '60s', '--shell', 'git init -q && git add -A && git commit -q -m init && git log --oneline']));
    expect(r.stdout).toMatch(/^[0-9a-f]+ init\n$/);
    const paths = r.changed_files.map((c: any) => c.path);
    expect(paths).toContain('/repo/.git/HEAD');
    expect(paths).toContain('/repo/.git/index');
    expect(paths.some((p: string) => p.startsWith('/repo/.git/objects/'))).toBe(true);
    expect(r.changed_files.every((c: any) => c.kind === 'added')).toBe(true);
    const status = expectRan(await exec(home, mode, ['--cwd', '/repo', '--', 'git', 'status', '--porcelain']));
    expect(status.stdout).toBe('');
    expect(status.decision).toMatchObject({ action: 'allow', rule: 'git-read', categories: ['read_only'] });
  });

  it('checkpoint + undo restores the exact prior tree; later changes by others are a CONFLICT unless --force', async () => {
    const home = newHome({ '/keep.txt': 'keep\n', '/edit.txt': 'v1\n', '/dir/a.txt': 'a\n' }, (fs) => fs.symlink('keep.txt', '/link'));
    const before = vaultTree(home);
    const r = expectRan(await exec(home, mode, ['--checkpoint', '--shell', 'echo v2 > edit.txt; chmod 600 edit.txt; rm keep.txt; mkdir -p new/deep; echo x > new/deep/x; rm -r dir; ln -sf edit.txt link']));
    expect(r.checkpoint).toBe(`proxy-${r.exec_id}`);
    expect(vaultTree(home)).not.toEqual(before);
    const undo = await avfs(home, ['proxy', 'undo', r.exec_id]);
    expect(undo.code, undo.stdout).toBe(0);
    expect(undo.json).toMatchObject({ ok: true, exec_id: r.exec_id, checkpoint: r.checkpoint, discarded_changes: 0 });
    expect(undo.json.changed_files.length).toBeGreaterThan(0);
    expect(vaultTree(home)).toEqual(before);

    // A later write by someone else to a path the exec made would be lost: refused, then forced.
    // A later write elsewhere is not the exec's and stays.
    const r2 = expectRan(await exec(home, mode, ['--checkpoint', '--', 'touch', 'made-by-exec']));
    expect((await avfs(home, ['write', '/made-by-exec', 'later'])).code).toBe(0);
    expect((await avfs(home, ['write', '/later.txt', 'later'])).code).toBe(0);
    const conflict = expectError(await avfs(home, ['proxy', 'undo', r2.exec_id]), 'CONFLICT', 4);
    expect(conflict).toMatchObject({ later_changes: 1, paths: ['/made-by-exec'] });
    expect(vaultTree(home)['/made-by-exec']).toBeDefined();
    const forced = await avfs(home, ['proxy', 'undo', '--force', r2.exec_id]);
    expect(forced.json).toMatchObject({ ok: true, discarded_changes: 1 });
    const { '/later.txt': later, ...rest } = vaultTree(home);
    expect(later).toBeDefined();
    expect(rest).toEqual(before);

    // An exec without a checkpoint cannot be undone as a whole; an unknown id is NOT_FOUND.
    const r3 = expectRan(await exec(home, mode, ['--', 'true']));
    expectError(await avfs(home, ['proxy', 'undo', r3.exec_id]), 'CHECKPOINT_NOT_FOUND', 3);
    expectError(await avfs(home, ['proxy', 'undo', 'ex-nope']), 'NOT_FOUND', 3);
  });

  it('undo of an exec that turned a file or a symlink into a directory: what someone else made inside it is a CONFLICT, not silently dropped', async () => {
    const home = newHome({ '/x': 'orig file\n', '/d/in.txt': 'in\n' }, (fs) => fs.symlink('d', '/s'));
    const before = vaultTree(home);
    const script = ['--checkpoint', '--shell', 'rm /x /s; mkdir /x /s; echo a > /x/a; echo b > /s/b'];
    // Nothing of anyone else's inside: undo puts the file and the link back.
    const clean = expectRan(await exec(home, mode, script));
    expect((await avfs(home, ['proxy', 'undo', clean.exec_id])).json).toMatchObject({ ok: true, discarded_changes: 0 });
    expect(vaultTree(home)).toEqual(before);

    const r = expectRan(await exec(home, mode, script));
    expect((await avfs(home, ['write', '/x/p', "person's work"])).code).toBe(0);
    expect((await avfs(home, ['write', '/s/q', "person's work"])).code).toBe(0);
    const conflict = expectError(await avfs(home, ['proxy', 'undo', r.exec_id]), 'CONFLICT', 4);
    expect(conflict).toMatchObject({ later_changes: 2, paths: ['/s/q', '/x/p'] });
    expect((await avfs(home, ['cat', '/x/p'], { raw: true })).stdout).toBe("person's work");
    const forced = await avfs(home, ['proxy', 'undo', '--force', r.exec_id]);
    expect(forced.json).toMatchObject({ ok: true, discarded_changes: 2 });
    expect(vaultTree(home)).toEqual(before);
  });

  it('undo after someone put a symlink in place of a directory above the exec\'s paths: that symlink is named in the CONFLICT, and --force puts the paths back without writing through it', async () => {
    const home = newHome({ '/w/dir/g': 'g\n', '/w/target/g': 'target g\n' });
    const before = vaultTree(home);
    const r = expectRan(await exec(home, mode, ['--checkpoint', '--shell', 'echo e > /w/dir/f; echo mod > /w/dir/g']));
    expect((await avfs(home, ['mv', '/w/dir', '/w/dir_old'])).code).toBe(0);
    const store = openStore(home);
    try {
      new VaultFs(store, 'default', { source: 'cli' }).symlink('/w/target', '/w/dir');
    } finally {
      store.release();
    }
    const conflict = expectError(await avfs(home, ['proxy', 'undo', r.exec_id]), 'CONFLICT', 4);
    expect(conflict).toMatchObject({ paths: ['/w/dir', '/w/dir/g'] });
    const forced = await avfs(home, ['proxy', 'undo', '--force', r.exec_id]);
    expect(forced.json, forced.stdout).toMatchObject({ ok: true });
    const after = vaultTree(home);
    expect(after['/w/target/g']).toEqual(before['/w/target/g']);
    expect(after['/w/dir']).toMatchObject({ type: 'd' });
    expect(after['/w/dir/g']).toEqual(before['/w/dir/g']);
    expect(after['/w/dir/f']).toBeUndefined();
  });

  it("a second undo changes nothing, even with --force (a person's write since stays); naming another vault than the exec's is refused", async () => {
    const home = newHome({ '/a.txt': 'base\n' });
    const r = expectRan(await exec(home, mode, ['--checkpoint', '--shell', 'echo exec > /a.txt']));
    expect((await avfs(home, ['vault', 'fork', 'default', 'f'])).code).toBe(0);
    // The agent works in its fork and names it: undoing in default would change another vault.
    const wrong = expectError(await avfs(home, ['--vault', 'f', 'proxy', 'undo', r.exec_id]), 'INVALID_ARGUMENT', 2);
    expect(wrong).toMatchObject({ vault: 'default', named_vault: 'f' });
    expectError(await avfs(home, ['proxy', 'undo', r.exec_id], { env: { AVFS_VAULT: 'f' } }), 'INVALID_ARGUMENT', 2);
    expect(vaultTree(home)['/a.txt']).toEqual(vaultTree(home, 'f')['/a.txt']);
    expect((await avfs(home, ['cat', '/a.txt'], { raw: true })).stdout).toBe('exec');
    const undo = await avfs(home, ['--vault', 'default', 'proxy', 'undo', r.exec_id]);
    expect(undo.json).toMatchObject({ ok: true, already_undone: false, vault: 'default' });
    expect((await avfs(home, ['write', '/a.txt', 'person'])).code).toBe(0);
    for (const args of [[], ['--force']]) {
      const again = await avfs(home, ['proxy', 'undo', r.exec_id, ...args]);
      expect(again.json, again.stdout).toMatchObject({ ok: true, already_undone: true, discarded_changes: 0, changed_files: [] });
    }
    expect((await avfs(home, ['cat', '/a.txt'], { raw: true })).stdout).toBe('person');
  });

  it('undos stack: after undoing a later exec that changed the same file, the earlier one undoes without CONFLICT', async () => {
    const home = newHome({ '/f.txt': 'one\n' });
    const before = vaultTree(home);
    const r1 = expectRan(await exec(home, mode, ['--checkpoint', '--shell', 'echo two > /f.txt; echo n > /new.txt']));
    const r2 = expectRan(await exec(home, mode, ['--checkpoint', '--shell', 'echo three > /f.txt']));
    // While the later exec's change is there, undoing the earlier one would drop it.
    expectError(await avfs(home, ['proxy', 'undo', r1.exec_id]), 'CONFLICT', 4);
    expect((await avfs(home, ['proxy', 'undo', r2.exec_id])).json).toMatchObject({ ok: true, discarded_changes: 0 });
    // Now /f.txt is as r1 left it: nothing of anyone else's would be lost.
    expect((await avfs(home, ['proxy', 'undo', r1.exec_id])).json).toMatchObject({ ok: true, discarded_changes: 0 });
    expect(vaultTree(home)).toEqual(before);

    // A path someone already put back as it was before the exec: undo drops nothing there either.
    const r3 = expectRan(await exec(home, mode, ['--checkpoint', '--shell', 'echo four > /f.txt']));
    expect((await avfs(home, ['revert', '/f.txt'])).json).toMatchObject({ ok: true });
    expect((await avfs(home, ['proxy', 'undo', r3.exec_id])).json).toMatchObject({ ok: true, discarded_changes: 0 });
    expect(vaultTree(home)['/f.txt']).toEqual(before['/f.txt']);
  });

  /**
   * A checkpointed exec that writes `path` (`first`), waits for /go, then runs `then`; between the
   * two, once the exec's first version of `path` is stored, the CLI writes `theirs` there. Only a
   * mounted run records its versions as it goes; a copy-mode run's are imported at its end.
   */
  const aroundAnotherWrite = async (home: string, path: string, first: string, then: string, theirs: string) => {
    const run = exec(home, mode, ['--checkpoint', '--shell', `${first}; while [ ! -e /go ]; do sleep 0.05; done; ${then}`]);
    const log = async () => (await avfs(home, ['log', path])).json?.versions ?? [];
    while (!(await log()).some((v: any) => v.source === 'proxy')) await new Promise((r) => setTimeout(r, 50));
    expect((await avfs(home, ['write', path, theirs])).code).toBe(0);
    expect((await avfs(home, ['write', '/go', ''])).code).toBe(0);
    return { r: expectRan(await run), log };
  };

  if (mode === 'mount')
    it('undo refuses to drop a change someone else made between two of the exec\'s own changes to a path (CONFLICT; --force counts it)', async () => {
      const home = newHome({ '/shared.txt': 'orig\n' });
      // A write by someone else between two of the exec's is followed by another of the exec's
      // (an append), so it is not "later" than the exec's last.
      const { r, log } = await aroundAnotherWrite(home, '/shared.txt', 'echo exec > /shared.txt', 'echo exec2 >> /shared.txt', 'someone else\n');
      expect((await log()).slice(0, 3).map((v: any) => v.source)).toEqual(['proxy', 'cli', 'proxy']); // newest first
      const conflict = expectError(await avfs(home, ['proxy', 'undo', r.exec_id]), 'CONFLICT', 4);
      expect(conflict).toMatchObject({ later_changes: 1, paths: ['/shared.txt'] });
      const forced = await avfs(home, ['proxy', 'undo', '--force', r.exec_id]);
      expect(forced.json).toMatchObject({ ok: true, discarded_changes: 1 });
      expect((await avfs(home, ['cat', '/shared.txt'], { raw: true })).stdout).toBe('orig'); // execa drops the final newline
    });

  if (mode === 'mount')
    it('a path the exec left as it found it, over someone else\'s change made meanwhile, is reported, and undo refuses (sandbox round: neither said anything)', async () => {
      const home = newHome({ '/f.txt': 'orig\n' });
      const { r } = await aroundAnotherWrite(home, '/f.txt', 'echo temp > /f.txt', 'echo orig > /f.txt', 'theirs\n');
      expect((await avfs(home, ['cat', '/f.txt'], { raw: true })).stdout).toBe('orig');
      expect(r.changed_files.filter((c: any) => c.path === '/f.txt').map((c: any) => [c.kind, c.versions])).toEqual([['modified', 2]]);
      expect(expectError(await avfs(home, ['proxy', 'undo', r.exec_id]), 'CONFLICT', 4)).toMatchObject({ later_changes: 1, paths: ['/f.txt'] });
    });

  it('checkpoints when the policy asks (rm -rf), and not with --no-checkpoint', async () => {
    const home = newHome({ '/build/a.o': 'a', '/build2/b.o': 'b' });
    const r = expectRan(await exec(home, mode, ['--', 'rm', '-rf', 'build']));
    expect(r.decision).toMatchObject({ action: 'allow_with_checkpoint', rule: 'rm-recursive', categories: ['destructive'] });
    expect(r.checkpoint).toBe(`proxy-${r.exec_id}`);
    expect(net(r.changed_files).map((c) => [c.path, c.kind])).toEqual([['/build', 'deleted'], ['/build/a.o', 'deleted']]);
    const skip = expectRan(await exec(home, mode, ['--no-checkpoint', '--', 'rm', '-rf', 'build2']));
    expect(skip.checkpoint).toBeNull();
    expect(vaultTree(home)['/build']).toBeUndefined();
    // Undoing the first puts back what it removed; the second exec's deletion is not its to undo.
    expect((await avfs(home, ['proxy', 'undo', r.exec_id])).json).toMatchObject({ ok: true, discarded_changes: 0 });
    expect(Object.keys(vaultTree(home)).sort()).toEqual(['/', '/build', '/build/a.o']);
  });

  it('Ctrl-C (SIGINT), SIGHUP, Ctrl-\\ (SIGQUIT) and SIGUSR2 reach the command as themselves, and the run is reported as ended by them (adversarial rounds: the last two ended avfs with no document)', async () => {
    for (const [sig, status] of [['SIGINT', 130], ['SIGHUP', 129], ['SIGQUIT', 131], ['SIGUSR2', 140]] as const) {
      const home = newHome();
      const tag = `AVFS_TEST_RUN=${Math.random().toString(36).slice(2)}`;
      const name = sig.slice(3);
      // The shell waits on a child, so its trap runs as soon as the signal comes; what it writes is in the report.
      const script = `trap 'echo got-${name} > /trapped.txt; exit 0' ${name}; sleep 300 & wait`;
      const r = await signalledExec(home, tag, ['--mode', mode], script, sig);
      expect(r.exitCode, r.stderr).toBe(status);
      const doc = JSON.parse(r.stdout);
      expect(doc, sig).toMatchObject({ ok: true, exit_code: status, signal: sig });
      expect(doc.changed_files.map((c: any) => c.path), sig).toEqual(['/trapped.txt']);
      expect((await avfs(home, ['cat', '/trapped.txt'], { raw: true })).stdout, sig).toBe(`got-${name}`);
    }
  });

  it('a command that ignores the Ctrl-C passed on is killed after the grace period, and the report says SIGKILL (exit 137), as after a timeout', async () => {
    const home = newHome();
    const tag = `AVFS_TEST_RUN=${Math.random().toString(36).slice(2)}`;
    const script = `trap '' INT TERM; while :; do sleep 0.2; done`;
    const r = await signalledExec(home, tag, ['--mode', mode, '--kill-after', '1000'], script, 'SIGINT');
    expect(r.exitCode, r.stderr).toBe(137);
    expect(JSON.parse(r.stdout), r.stderr).toMatchObject({ ok: true, exit_code: 137, signal: 'SIGKILL' });
    expect(processes().filter((p) => p.env.includes(tag))).toEqual([]);
  });
});

describe('the proxy views server', () => {
  it.skipIf(skipMountTests('one views server per home'))('is started once when the first execs of a home come at the same time (README: one per home)', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    // A claim to start it left by a starter that died (a pid that has exited) does not hold anyone up.
    const dead = spawnSync('true').pid!;
    mkdirSync(join(home, 'mounts'), { recursive: true });
    writeFileSync(join(home, 'mounts', 'views.starting'), JSON.stringify({ pid: dead, pid_start: 1 }));
    const runs = await Promise.all([1, 2, 3, 4].map((i) => exec(home, 'mount', ['--', 'sh', '-c', `echo ${i} > /r${i}`])));
    for (const r of runs) expectRan(r);
    const mounts = await avfs(home, ['mounts']);
    expect(mounts.json.mounts.filter((m: { views: boolean }) => m.views)).toHaveLength(1);
    expect(new Set(runs.map((r) => r.json.mountpoint.split('/').slice(0, -1).join('/'))).size).toBe(1);
    expect(existsSync(join(home, 'mounts', 'views.starting'))).toBe(false);
  });

  it.skipIf(skipMountTests('views server killed'))('killed (kill -9), it is replaced by the next exec, and its runtime directory goes with its session', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    expectRan(await exec(home, 'mount', ['--', 'true']));
    const server = (await avfs(home, ['mounts'])).json.mounts.find((m: { views: boolean }) => m.views);
    const base = join(server.dir, '..');
    expect(existsSync(join(base, 'ctl.sock'))).toBe(true);
    process.kill(server.pid, 'SIGKILL');
    for (let i = 0; i < 200 && processes().some((p) => p.pid === server.pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(expectRan(await exec(home, 'mount', ['--', 'cat', '/a.txt'])).stdout).toBe('a\n');
    expect(existsSync(base)).toBe(false);
    const now = (await avfs(home, ['mounts'])).json.mounts.filter((m: { views: boolean }) => m.views);
    expect(now).toHaveLength(1);
    expect(now[0].pid).not.toBe(server.pid);
  });

  it.skipIf(skipMountTests('copied home'))('a home copied with its session files (cp -a) runs its execs on a server of its own, not the original\'s', async () => {
    const original = newHome({ '/a.txt': 'a\n' });
    expectRan(await exec(original, 'mount', ['--', 'true']));
    const copy = join(tmp.dir, `home-${++homes}`);
    expect(spawnSync('cp', ['-a', original, copy]).status).toBe(0);
    const r = expectRan(await exec(copy, 'mount', ['--', 'sh', '-c', 'echo copy > /c.txt']));
    expect(r.changed_files.map((c: { path: string }) => c.path)).toEqual(['/c.txt']);
    expect((await avfs(copy, ['cat', '/c.txt'], { raw: true })).stdout).toBe('copy');
    expect((await avfs(original, ['ls', '/'])).json.entries.map((e: { path: string }) => e.path)).toEqual(['/a.txt']);
  });

  it.skipIf(skipMountTests('views server killed mid-run'))('killed while a run uses it, the run says so with what it stored before and its output, not a bare CONFLICT', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    /** Runs a command that stores /before-<n>.txt, kills the views server once it has, and returns the run's result. */
    const killedUnder = async (n: number, raw: boolean) => {
      expectRan(await exec(home, 'mount', ['--', 'true']));
      const server = (await avfs(home, ['mounts'])).json.mounts.find((m: { views: boolean }) => m.views);
      // It waits until the vault is gone from under it (the server killed), then tries one more write.
      const script = `echo x > /before-${n}.txt; echo started; echo said >&2; while [ -e /before-${n}.txt ]; do sleep 0.1; done; echo y > /after.txt`;
      const run = avfs(home, ['proxy', 'exec', '--mode', 'mount', '--checkpoint', '--', 'sh', '-c', script], { raw });
      for (let i = 0; i < 300 && !(await avfs(home, ['log', `/before-${n}.txt`])).json?.ok; i++) await new Promise((r) => setTimeout(r, 50));
      process.kill(server.pid, 'SIGKILL');
      const r = await run;
      // `avfs mounts` cleans up the dead server: its mount and its runtime directory go.
      expect((await avfs(home, ['mounts'])).json.cleaned_stale).toEqual([server.dir]);
      expect(existsSync(join(server.dir, '..'))).toBe(false);
      return r;
    };
    const r = await killedUnder(1, false);
    expect(r.json.error, r.stdout).toMatchObject({ code: 'INTERNAL', reason: 'views_server_stopped', changed_files: [{ path: '/before-1.txt', kind: 'added' }] });
    expect(r.json.error.stdout).toBe('started\n');
    expect(r.json.error.stderr).toMatch(/^said\n/); // then the shell's failed write of /after.txt
    expect(r.json.error.checkpoint).toMatch(/^proxy-/);
    // On the terminal the command's output is shown as a run's is, then the error.
    const text = await killedUnder(2, true);
    expect([text.code, text.stdout]).toEqual([1, 'started']);
    expect(text.stderr).toMatch(/^said\n[^]*\nerror \[INTERNAL\] the proxy views server stopped/);
  });
});

describe('copy mode and mount mode', () => {
  const script = [
    'set -e',
    'echo created > created.txt',
    'echo more >> edit.txt',
    'rm gone.txt',
    'mv old.txt new.txt',
    'chmod 700 run.sh',
    'mkdir -p d1/d2 && echo deep > d1/d2/f',
    'rm -r olddir',
    'ln -s new.txt ln',
    'printf "\\000\\001binary" > bin.dat',
    'dd if=/dev/zero of=big.bin bs=1024 count=300 2>/dev/null',
  ].join('\n');
  const files = { '/edit.txt': 'edit\n', '/gone.txt': 'gone\n', '/old.txt': 'old\n', '/run.sh': 'echo\n', '/olddir/x': 'x\n' };

  it.skipIf(skipMountTests('copy mode and mount mode parity'))('give the same change report for the same script', async () => {
    if (!fuse.ok) throw new Error(`FUSE is unavailable: ${fuse.reason}`);
    const home = newHome(files);
    const store = openStore(home);
    try {
      forkVault(store, 'default', 'twin', { source: 'cli' });
    } finally {
      store.release();
    }
    const viaCopy = expectRan(await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', script]));
    const viaMount = expectRan(await avfs(home, ['--vault', 'twin', 'proxy', 'exec', '--mode', 'mount', '--shell', script]));
    expect(viaCopy.mode).toBe('copy');
    expect(viaMount.mode).toBe('mount');
    expect(viaCopy.changed_files.length).toBe(14);
    expect(net(viaMount.changed_files)).toEqual(net(viaCopy.changed_files));
    // And the two vaults end up identical.
    expect(vaultTree(home, 'twin')).toEqual(vaultTree(home, 'default'));
  });
});

describe('a run that fails before its command starts', () => {
  it('leaves no proxy-<id> checkpoint: the checkpoint is stored with the exec that names it, after the workspace opened', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    // The copy cannot be made where it is told to go: the run fails before its exec is stored.
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--', 'true'], { env: { AVFS_PROXY_TMPDIR: '/nonexistent/avfs-test' } });
    expect(r.json?.ok, r.stdout + r.stderr).toBe(false);
    // Said as what it is: the directory named by the variable is not there.
    expect(r.json.error).toMatchObject({ code: 'INVALID_PATH', path: '/nonexistent/avfs-test', reason: 'runtime_parent' });
    expect(r.json.error.message).toContain('AVFS_PROXY_TMPDIR');
    expect((await avfs(home, ['checkpoint', 'list'])).json.checkpoints).toEqual([]);
    // The audit says the run failed, and with no checkpoint.
    const failed = (await avfs(home, ['audit', '--op', 'proxy.failed'])).json.records;
    expect(failed.map((a: { detail: { checkpoint: unknown } }) => a.detail.checkpoint)).toEqual([null]);
  });

  it('unsandboxed, a command that ignores the Ctrl-C passed on still gets SIGTERM halfway through the grace, before SIGKILL (review)', async () => {
    const home = newHome();
    // Not an AVFS_ name: unsandboxed, a command may not set those (rule avfs-inside).
    const tag = `HALFWAY_TEST_RUN=${Math.random().toString(36).slice(2)}`;
    // No bubblewrap: auto runs the command unsandboxed, in a copy (its working directory).
    const script = `trap '' INT; trap 'echo cleaned > cleaned.txt; exit 0' TERM; while :; do sleep 0.2; done`;
    const r = await signalledExec(home, tag, ['--mode', 'copy', '--kill-after', '8000'], script, 'SIGINT', { AVFS_BWRAP: join(tmp.dir, 'no-bwrap-here') });
    const doc = JSON.parse(r.stdout);
    expect(doc, r.stderr).toMatchObject({ ok: true, signal: 'SIGINT', sandbox: { enforced: false } });
    expect(doc.changed_files.map((c: any) => c.path)).toEqual(['/cleaned.txt']);
  });

  it('unsandboxed, a command that ends on the Ctrl-C passed on is reported as ended by it (130), though a process it left behind is killed with SIGKILL (review)', async () => {
    const home = newHome();
    const tag = `HALFWAY_TEST_RUN=${Math.random().toString(36).slice(2)}`;
    // In the sandbox the leftover dies with the command's pid namespace; unsandboxed, avfs kills it after the grace.
    const script = `trap 'exit 0' INT; (trap '' INT TERM; sleep 300) & wait`;
    const r = await signalledExec(home, tag, ['--mode', 'copy', '--kill-after', '1000'], script, 'SIGINT', { AVFS_BWRAP: join(tmp.dir, 'no-bwrap-here') });
    expect(r.exitCode, r.stderr).toBe(130);
    expect(JSON.parse(r.stdout), r.stderr).toMatchObject({ ok: true, exit_code: 130, signal: 'SIGINT', sandbox: { enforced: false } });
    expect(processes().filter((p) => p.env.includes(tag))).toEqual([]);
  });

  it("a user's runtime directory another user made first in /dev/shm: the copy goes to the temp directory instead; one in the temp directory is DENIED, saying what to do (adversarial round)", async (ctx) => {
    if (process.getuid?.() !== 0 || !existsSync('/dev/shm')) {
      console.log('skipped: needs root (to make another user\'s directory) and /dev/shm');
      return ctx.skip();
    }
    // A uid no other test runs as: its /dev/shm runtime directory is this test's to squat.
    const uid = 65532;
    const squatted = `/dev/shm/avfs-run-${uid}`;
    rmSync(squatted, { recursive: true, force: true });
    mkdirSync(squatted, { mode: 0o755 });
    // Reachable by that user (the suite's temp directory is root's alone).
    const base = mkdtempSync(join(tmpdir(), 'avfs-squat-'));
    chmodSync(base, 0o755);
    try {
      const home = join(base, 'squatted-home');
      const temp = join(base, 'squatted-tmp');
      mkdirSync(temp);
      spawnSync('chown', [`${uid}:${uid}`, temp]);
      seedHome(home, { '/a.txt': 'a\n' });
      spawnSync('chown', ['-R', `${uid}:${uid}`, home]);
      const run = (env: Record<string, string>) => execa(process.execPath, [BIN, '--json', 'proxy', 'exec', '--mode', 'copy', '--shell', 'echo b > /b.txt'], { env: { AVFS_HOME: home, AVFS_VAULT: '', ...env }, uid, gid: uid, reject: false, timeout: 120_000 });
      const r = await run({ TMPDIR: temp });
      expect(JSON.parse(r.stdout), r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, changed_files: [{ path: '/b.txt' }] });
      expect(existsSync(join(temp, `avfs-run-${uid}`))).toBe(true);
      // Squatted in the temp directory too (nowhere left to go): refused, naming the way out.
      const theirs = join(base, 'their-tmp');
      mkdirSync(join(theirs, `avfs-run-${uid}`), { recursive: true, mode: 0o755 });
      const refused = await run({ TMPDIR: theirs, AVFS_PROXY_TMPDIR: theirs });
      expect(JSON.parse(refused.stdout).error, refused.stdout).toMatchObject({ code: 'DENIED', reason: 'not_private' });
      expect(JSON.parse(refused.stdout).error.message).toContain('AVFS_PROXY_TMPDIR');
      // Both squatted, the fallback's failure names the first cause too (it named only the temp directory).
      const both = JSON.parse((await run({ TMPDIR: theirs })).stdout).error;
      expect(both).toMatchObject({ code: 'DENIED', reason: 'not_private' });
      expect(both.message).toContain(squatted);
      expect(both.message).toContain('the system temp directory was tried instead');
    } finally {
      rmSync(squatted, { recursive: true, force: true });
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('proxy exec without --json', () => {
  it("passes the command's stdout through byte for byte: binary, past a pipe's capacity, a final CRLF included", async () => {
    const home = newHome();
    // 76,802 bytes: more than a Linux pipe holds at once (64 KiB).
    const expected = Buffer.concat([Buffer.from(Array.from({ length: 256 * 300 }, (_, i) => i % 256)), Buffer.from('\r\n')]);
    const r = await avfsBytes(home, ['proxy', 'exec', '--mode', 'copy', '--', 'python3', '-c', "import sys; sys.stdout.buffer.write(bytes(range(256)) * 300 + b'\\r\\n')"]);
    expect(r.code, r.stderr).toBe(0);
    expectSameBytes(r.stdout, expected, `stderr: ${r.stderr}`);
  });

  it('the change report and undo show names with control characters escaped, so a name cannot forge a line or send the terminal escapes', async () => {
    const home = newHome();
    const script = 'printf x > "/n$(printf "\\n  - ")important"; printf evil > "/$(printf "\\r\\033[1A\\033[2K\\r")x"; ln -s "$(printf "t\\033]0;")" /l';
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--shell', script], { raw: true });
    expect(r.code, r.stderr).toBe(0);
    const report = ['  + /\\x0d\\x1b[1A\\x1b[2K\\x0dx', '  + /l -> t\\x1b]0;', '  + /n\\x0a  - important'];
    expect(r.stderr.split('\n').slice(1)).toEqual(report);
    const execId = /exec (ex-[^ \n]+)/.exec(r.stderr)![1]!;
    const undo = await avfs(home, ['proxy', 'undo', execId], { raw: true });
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stderr.split('\n').slice(1)).toEqual(report.map((l) => l.replace('+', '-').replace(/ -> .*/, '')));
  });
});

describe('proxy policy and help', () => {
  it("a fork starts with its parent's policy: forking is no way around a rule (an agent forked, ran what the vault denied, and merged it back)", async () => {
    const home = newHome();
    setVaultPolicy(home, { rules: [{ name: 'no-cat', program: 'cat', action: 'deny', reason: 'not here' }], timeout_ms: 1000 });
    expect((await avfs(home, ['vault', 'fork', 'default', 'side'])).json.ok).toBe(true);
    const denied = await avfs(home, ['--vault', 'side', 'proxy', 'exec', '--', 'cat', '/etc/hostname']);
    expect(denied.json.error).toMatchObject({ code: 'DENIED', decision: { rule: 'no-cat' } });
    expect((await avfs(home, ['--vault', 'side', 'proxy', 'policy', 'show'])).json).toMatchObject({ source: 'vault', policy: { timeout_ms: 1000 } });
    // Changed afterwards, each is its own.
    setVaultPolicy(home, {}, 'side');
    expect((await avfs(home, ['--vault', 'side', 'proxy', 'policy', 'check', '--', 'cat', '/x'])).json.decision.rule).not.toBe('no-cat');
    expect((await avfs(home, ['proxy', 'policy', 'check', '--', 'cat', '/x'])).json.decision.rule).toBe('no-cat');
  });

  it('show, check, set and reset a vault policy', async () => {
    const home = newHome();
    const shown = await avfs(home, ['proxy', 'policy', 'show', '--builtin']);
    expect(shown.json).toMatchObject({ ok: true, source: 'default', policy: { default_action: 'allow', timeout_ms: 300000 } });
    expect(shown.json.builtin_rules.length).toBeGreaterThan(10);

    const check = await avfs(home, ['proxy', 'policy', 'check', '--', 'rm', '-rf', 'build']);
    expect(check.code).toBe(0);
    expect(check.json).toMatchObject({ decision: { action: 'allow_with_checkpoint', rule: 'rm-recursive' }, would_run: true, would_checkpoint: true });
    // In the sandbox `~` is the sandbox's own /tmp: nothing of the host to deny. Unsandboxed, it is the host's home.
    const inside = await avfs(home, ['proxy', 'policy', 'check', '--shell', 'ls && cat ~/.ssh/id_rsa']);
    expect(inside.json).toMatchObject({ sandboxed: !!bwrap, would_run: !!bwrap });
    setVaultPolicy(home, { sandbox: { mode: 'off' } });
    const denied = await avfs(home, ['proxy', 'policy', 'check', '--shell', 'ls && cat ~/.ssh/id_rsa']);
    expect(denied.code).toBe(0);
    expect(denied.json).toMatchObject({ sandboxed: false, decision: { action: 'deny', rule: 'host-paths' }, would_run: false });
    expect(denied.json.verdicts.length).toBe(3);

    expect((await setPolicy(home, { timeout_ms: 1234, rules: [{ name: 'no-make', program: 'make', action: 'deny' }] })).json).toMatchObject({ ok: true, scope: 'vault' });
    expect((await avfs(home, ['proxy', 'policy', 'show'])).json).toMatchObject({ source: 'vault', policy: { timeout_ms: 1234 } });
    expect((await avfs(home, ['proxy', 'policy', 'check', '--', 'make'])).json.decision).toMatchObject({ action: 'deny', rule: 'no-make' });

    const bad = await setPolicy(home, { rules: [{ name: 'x', program: 'ls', action: 'sometimes' }] });
    expectError(bad, 'INVALID_ARGUMENT', 2);
    expect(bad.json.error.issues[0].path).toBe('rules.0.action');
    // Not a policy file: a device read until memory ran out (node aborted, no JSON), a FIFO was waited on for ever.
    const fifo = join(tmp.dir, 'policy.fifo');
    spawnSync('mkfifo', [fifo]);
    for (const special of ['/dev/zero', fifo]) expect(expectError(await avfs(home, ['proxy', 'policy', 'set', special]), 'INVALID_ARGUMENT', 2).reason).toBe('not_a_file');
    const huge = join(tmp.dir, 'huge.json');
    writeFileSync(huge, ' '.repeat(1024 * 1024 + 1));
    expect(expectError(await avfs(home, ['proxy', 'policy', 'set', huge]), 'INVALID_ARGUMENT', 2).reason).toBe('too_large');
    expect(expectError(await avfs(home, ['proxy', 'policy', 'set', '-'], { input: ' '.repeat(1024 * 1024 + 1) }), 'INVALID_ARGUMENT', 2).reason).toBe('too_large');
    expect((await avfs(home, ['proxy', 'policy', 'show'])).json).toMatchObject({ source: 'vault', policy: { timeout_ms: 1234 } });

    expect((await avfs(home, ['proxy', 'policy', 'reset'])).json).toMatchObject({ ok: true, source: 'default' });
    // A home-level policy applies to every vault without its own.
    const file = join(tmp.dir, 'home-policy.json');
    writeFileSync(file, JSON.stringify({ default_action: 'require_approval' }));
    expect((await avfs(home, ['proxy', 'policy', 'set', file, '--scope', 'home'])).code).toBe(0);
    expect((await avfs(home, ['proxy', 'policy', 'check', '--', 'make'])).json).toMatchObject({ policy: 'home', decision: { action: 'require_approval', rule: 'default' } });
  });

  it('usage errors are JSON too', async () => {
    const home = newHome();
    expectError(await avfs(home, ['proxy', 'exec']), 'USAGE', 2);
    expectError(await avfs(home, ['proxy', 'exec', '--shell', 'ls', '--', 'ls']), 'USAGE', 2);
    expectError(await avfs(home, ['proxy', 'exec', '--timeout', 'soon', '--', 'true']), 'USAGE', 2);
    expectError(await avfs(home, ['proxy', 'exec', '--cwd', '/missing', '--', 'true']), 'NOT_FOUND', 3);
    // An empty program name is USAGE, as `--shell ""` is, for exec and check alike.
    expectError(await avfs(home, ['proxy', 'exec', '--', '']), 'USAGE', 2);
    expectError(await avfs(home, ['proxy', 'exec', '--shell', '']), 'USAGE', 2);
    expectError(await avfs(home, ['proxy', 'policy', 'check', '--', '']), 'USAGE', 2);
    expectError(await avfs(home, ['proxy', 'policy', 'check', '--', '', 'x']), 'USAGE', 2);
  });

  it('--help says what the boundary is and is not', async () => {
    const help = await avfs(tmp.dir, ['proxy', 'exec', '--help'], { raw: true });
    expect(help.code).toBe(0);
    for (const words of ['Boundary:', 'Not enforced', 'filter refuses only the keyring calls', 'no egress allowlist', 'CPU time', 'writable', 'advisory', 'Reserved names', 'sandbox {enforced', 'violations', 'changed_files', '--network <mode>', '--sandbox <mode>']) {
      expect(help.stdout).toContain(words);
    }
  });
});

describe('output a JSON document can carry', () => {
  it('--max-output over 128 MiB is INVALID_ARGUMENT before anything runs', async () => {
    const home = newHome();
    const r = await exec(home, 'copy', ['--max-output', '1GiB', '--', 'sh', '-c', 'echo ran > /ran.txt']);
    expect(r.code).toBe(2);
    expect(r.json.error).toMatchObject({ code: 'INVALID_ARGUMENT', option: 'maxOutputBytes' });
    expect(vaultTree(home)['/ran.txt']).toBeUndefined();
  });

  it('90 MiB of control characters comes back as base64, not as a JSON string too long to make (it was INTERNAL after the run)', async () => {
    const home = newHome();
    const out = join(tmp.dir, `control-${homes}.json`);
    // Each \x01 is six characters in JSON: over 512 MiB as text; execa would not buffer it either, so to a file.
    // Not spawnSync: a worker blocked that long (tens of seconds on a busy machine) misses vitest's own RPC deadline.
    const fd = openSync(out, 'w');
    const child = spawn('node', [BIN, '--json', 'proxy', 'exec', '--mode', 'copy', '--max-output', '90MiB', '--shell', 'echo made > /made.txt; head -c 94371840 /dev/zero | tr "\\000" "\\001"'], {
      stdio: ['ignore', fd, 'pipe'],
      env: { ...process.env, AVFS_HOME: home, AVFS_VAULT: '', FORCE_COLOR: '0' },
    });
    closeSync(fd);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    rmSync(out);
    expect(json).toMatchObject({ ok: true, exit_code: 0, stdout_encoding: 'base64', stdout_bytes: 94371840, truncated: false });
    const bytes = Buffer.from(json.stdout, 'base64');
    expect(bytes.length).toBe(94371840);
    // One comparison, not a callback per byte: 94 million of those held the worker for seconds.
    expect(bytes.equals(Buffer.alloc(bytes.length, 1))).toBe(true);
    expect(json.changed_files.map((c: any) => c.path)).toEqual(['/made.txt']);
  }, 300_000); // 90 MiB through a run and its JSON: 44 s on a loaded 2-core machine, over 120 s at load 20
});

describe('proxy undo --force of an exec still running', () => {
  it('puts back what it did so far and answers running: true; once it ends, undoing again puts back what it wrote after', async () => {
    const home = newHome({ '/m.txt': 'orig\n' });
    const script = 'echo A1 > /m.txt; echo "$AVFS_EXEC_ID" > /started; while [ ! -e /go ]; do sleep 0.05; done; echo A2 > /m.txt; echo B > /b.txt';
    const run = avfs(home, ['proxy', 'exec', '--mode', 'mount', '--checkpoint', '--', 'sh', '-c', script]);
    let started = await avfs(home, ['cat', '/started']);
    while (started.json?.ok !== true) {
      await sleep(50);
      started = await avfs(home, ['cat', '/started']);
    }
    const id = String(started.json.content).trim();
    expectError(await avfs(home, ['proxy', 'undo', id]), 'CONFLICT', 4);
    expect((await avfs(home, ['proxy', 'undo', '--force', id])).json).toMatchObject({ ok: true, running: true, already_undone: false });
    expect((await avfs(home, ['cat', '/m.txt'])).json.content).toBe('orig\n');
    expect((await avfs(home, ['write', '/go', ''])).code).toBe(0);
    expect(expectRan(await run).exec_id).toBe(id);
    expect((await avfs(home, ['cat', '/m.txt'])).json.content).toBe('A2\n');
    // Its writes after the first undo were left for good ("already undone") before.
    const rest = await avfs(home, ['proxy', 'undo', id]);
    expect(rest.json).toMatchObject({ ok: true, running: false, already_undone: false, discarded_changes: 0 });
    expect(rest.json.changed_files.map((c: any) => c.path).sort()).toEqual(['/b.txt', '/m.txt']);
    expect((await avfs(home, ['cat', '/m.txt'])).json.content).toBe('orig\n');
    expectError(await avfs(home, ['cat', '/b.txt']), 'NOT_FOUND', 3);
    expect((await avfs(home, ['cat', '/go'])).json.ok).toBe(true); // a person's, not the exec's
    expect((await avfs(home, ['proxy', 'undo', id])).json).toMatchObject({ ok: true, already_undone: true, changed_files: [] });
  });
});

describe('vault delete of a vault a command runs in', () => {
  it('is refused (CONFLICT, exec_running) while the exec runs, deleting nothing; the command finishes its work; afterwards the delete goes through', async () => {
    const home = newHome({ '/a.txt': 'kept' });
    const run = avfs(home, ['proxy', 'exec', '--', 'sh', '-c', 'echo > /started; while [ ! -e /go ]; do sleep 0.05; done; echo done > /after.txt']);
    while ((await avfs(home, ['ls', '/started'])).json?.ok !== true) await sleep(50);
    const busy = await avfs(home, ['vault', 'delete', 'default']);
    expect(busy.code, busy.stdout).toBe(4);
    expect(busy.json.error).toMatchObject({ code: 'CONFLICT', reason: 'exec_running', execs: [expect.stringMatching(/^ex-/)] });
    expect((await avfs(home, ['write', '/go', ''])).code).toBe(0);
    expect(expectRan(await run).exec_id).toBe(busy.json.error.execs[0]);
    expect((await avfs(home, ['cat', '/after.txt'])).json.content).toBe('done\n');
    expect((await avfs(home, ['vault', 'delete', 'default'])).json).toMatchObject({ ok: true, deleted: 'default' });
  });
});

describe('avfs shell --json', () => {
  it('stdout holds exactly the one document: what the session prints goes to the terminal through stderr', async () => {
    const home = newHome();
    const r = await avfs(home, ['shell'], { input: 'echo typed > /typed.txt; echo session-output\nexit 3\n' });
    expect(r.code, r.stderr).toBe(3);
    expect(r.json, `stdout: ${r.stdout.slice(0, 300)}`).toBeDefined(); // the prompt and the echo were on stdout before the document
    expect(r.json).toMatchObject({ ok: true, exit_code: 3 });
    expect(r.json.changed_files.map((c: any) => c.path)).toEqual(['/typed.txt']);
    expect(r.stderr).toContain('session-output');
  });

  it('input that is no terminal ends the session at its end (/dev/null: at once); stopped by SIGTERM it exits 143 and says so', async () => {
    const home = newHome();
    const nothing = await execa(process.execPath, [BIN, '--json', 'shell'], { env: { AVFS_HOME: home, AVFS_VAULT: '' }, stdin: 'ignore', reject: false, timeout: 60_000 });
    expect(nothing.timedOut).toBe(false);
    expect(nothing.exitCode, nothing.stderr).toBe(0);
    expect(JSON.parse(nothing.stdout)).toMatchObject({ ok: true, exit_code: 0 });
    // A session that is still reading: avfs passes SIGTERM on and reports the run as ended by it.
    const session = execa(process.execPath, [BIN, '--json', 'shell'], { env: { AVFS_HOME: home, AVFS_VAULT: '' }, stdin: 'pipe', reject: false, timeout: 60_000 });
    session.stdin!.write('echo started >&2\n');
    await new Promise<void>((resolve) => session.stderr!.on('data', (d: Buffer) => d.toString().includes('started') && resolve()));
    session.kill('SIGTERM');
    const stopped = await session;
    expect(stopped.exitCode, stopped.stderr).toBe(143);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ ok: true, exit_code: 143, signal: 'SIGTERM' });
  });
});
