import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { avfs, BIN, tempDir } from '../helpers.js';
import { snapshot } from '../mount/helpers.js';
import { describeModes, describeSandbox, processes, seedHome, setVaultPolicy, vaultTree, type Mode } from './helpers.js';

/**
 * The enforced boundary (issue 14): every escape an adversarial agent tried against the
 * command-line policy is contained by the sandbox alone — the vault's policy here lets every
 * command through (`extends: none`), so nothing but the sandbox stands in the way. After each:
 * the host victim directory is intact, nothing appears outside the vault, no process of the run
 * is alive (/proc), and changed_files is exactly what the command did to the vault.
 */

let tmp: { dir: string; cleanup: () => void };
let victim: string;
beforeAll(() => {
  tmp = tempDir('avfs-sandbox-');
  victim = join(tmp.dir, 'victim');
  mkdirSync(join(victim, 'sub'), { recursive: true });
  writeFileSync(join(victim, 'a.txt'), 'precious\n');
  writeFileSync(join(victim, 'sub', 'b.txt'), 'also precious\n');
});
afterAll(() => tmp.cleanup());

let homes = 0;
/** A home whose vault's policy allows everything: only the sandbox is tested. */
function openHome(files: Record<string, string> = {}): string {
  const home = seedHome(join(tmp.dir, `home-${++homes}`), files);
  setVaultPolicy(home, { extends: 'none' });
  return home;
}

const paths = (r: { json: { changed_files: { path: string }[] } }) => r.json.changed_files.map((c) => c.path);

/** Runs a shell command line through `proxy exec` with a tag in its environment, to find its processes in /proc. */
async function run(home: string, mode: Mode, shell: string, extra: string[] = []) {
  const tag = `AVFS_TEST_RUN=${Math.random().toString(36).slice(2)}`;
  const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--env', tag, ...extra, '--shell', shell]);
  expect(r.json?.ok, `${r.stdout}\n${r.stderr}`).toBe(true);
  expect(r.json.sandbox.enforced).toBe(true);
  expect(processes().filter((p) => p.env.includes(tag)).map((p) => p.cmdline)).toEqual([]);
  return r;
}

describeModes('escapes are contained by the sandbox', (mode) => {
  it('deleting a host directory through shells, env -S, substitutions and quoting leaves it intact', async () => {
    const home = openHome({ '/keep.txt': 'keep\n' });
    const before = await snapshot(victim);
    for (const shell of [
      `sh -Cc "rm -rf ${victim}"`,
      `bash -c -- "rm -rf ${victim}"`,
      `env -S "rm -rf ${victim}"`,
      `rm -rf "$(echo ${victim})"`,
      `bash -c "rm -rf \\$'${victim}'"`,
    ]) {
      const r = await run(home, mode, shell);
      expect(paths(r), shell).toEqual([]);
      expect(await snapshot(victim), shell).toEqual(before);
    }
    expect(Object.keys(vaultTree(home))).toEqual(['/', '/keep.txt']);
  });

  it('climbing out with cd .., going home, and git aliases stay inside the vault', async () => {
    const home = openHome({ '/src/app.js': '1\n' });
    const hostHome = process.env.HOME ?? '/root';
    const hostDot = existsSync(join(hostHome, '.x'));
    const climbed = await run(home, mode, 'cd ..; cd ..; cd ..; cd ..; echo out > escaped.txt', ['--cwd', '/src']);
    expect(paths(climbed)).toEqual(['/escaped.txt']);
    const home2 = await run(home, mode, 'cd && echo x > .x && pwd');
    expect(home2.json.stdout).toBe('/tmp\n');
    expect(paths(home2)).toEqual([]);
    expect(existsSync(join(hostHome, '.x'))).toBe(hostDot);
    const git = await run(home, mode, `git init -q /repo && cd /repo && git -c alias.x='!touch ${victim}/gitfile' x; true`);
    expect(existsSync(join(victim, 'gitfile'))).toBe(false);
    expect(paths(git).every((p) => p === '/repo' || p.startsWith('/repo/'))).toBe(true);
  });

  it('avfs itself is out of reach: no policy reset, no checkpoint deletion, no import or export of host files', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const cp = await avfs(home, ['checkpoint', 'save', 'keep-me']);
    expect(cp.code).toBe(0);
    const secret = join(tmp.dir, 'secret.txt');
    writeFileSync(secret, 'secret\n');
    const target = join(tmp.dir, `export-${homes}`);
    const cli = `node ${BIN} --home ${home}`;
    const r = await run(home, mode, `${cli} proxy policy reset; ${cli} checkpoint delete keep-me; ${cli} import ${secret} /stolen; ${cli} export / ${target}; avfs proxy policy reset; true`);
    expect(paths(r)).toEqual([]);
    expect((await avfs(home, ['proxy', 'policy', 'show'])).json.source).toBe('vault');
    expect((await avfs(home, ['checkpoint', 'list'])).json.checkpoints.map((c: any) => c.name)).toContain('keep-me');
    expect(vaultTree(home)['/stolen']).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  });

  it('a symlink in the vault to a host directory does not send writes to the host', async () => {
    const home = openHome();
    expect((await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'ln', '-s', victim, '/link'])).json.changed_files.map((c: any) => c.path)).toEqual(['/link']);
    const before = await snapshot(victim);
    const r = await run(home, mode, 'echo evil > /link/evil.sh; chmod 777 /link/sub; mkdir -p /link/new; true');
    expect(await snapshot(victim)).toEqual(before);
    expect((await import('node:fs')).statSync(join(victim, 'sub')).mode & 0o777).not.toBe(0o777);
    expect(paths(r)).toEqual([]);
  });

  it('a child started with set -m, setsid or without AVFS_EXEC_ID does not outlive the call, and writes nothing after it', async () => {
    const home = openHome();
    const r = await run(
      home,
      mode,
      "set -m; (env -u AVFS_EXEC_ID sh -c 'sleep 2; echo late > /late.txt') & setsid sh -c 'sleep 2; echo late > /late2.txt' & nohup sh -c 'sleep 2; echo late > /late3.txt' >/dev/null 2>&1 & echo started",
    );
    expect(r.json.stdout).toBe('started\n');
    expect(paths(r)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(Object.keys(vaultTree(home))).toEqual(['/']);
  });
});

describeModes('the sandbox is the vault', (mode) => {
  it('runs the seed example: proxy exec -- python3 /src/main.py runs the vault\'s /src/main.py', async () => {
    const home = openHome({
      '/src/main.py': "import os\nprint(open('/src/data.txt').read().strip())\nos.makedirs('/out', exist_ok=True)\nopen('/out/result.txt', 'w').write('done\\n')\n",
      '/src/data.txt': 'hello from the vault\n',
    });
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'python3', '/src/main.py']);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, stdout: 'hello from the vault\n' });
    expect(paths(r)).toEqual(['/out', '/out/result.txt']);
  });

  it('reserved names are the sandbox\'s: two runs in a row leave the vault unchanged, and the vault\'s own /tmp and /etc stay untouched and unseen', async () => {
    const home = openHome({ '/tmp/keep.txt': 'vault tmp\n', '/etc/app.conf': 'vault etc\n', '/a.txt': 'a\n' });
    const before = vaultTree(home);
    for (let i = 0; i < 2; i++) {
      const r = await run(home, mode, 'test ! -e /tmp/keep.txt && test ! -e /etc/app.conf && test -e /etc/passwd && test -d /proc/self && test -c /dev/null && ls / > /dev/null');
      expect(r.json.exit_code).toBe(0);
      expect(r.json.changed_files).toEqual([]);
      expect(r.json.sandbox.reserved).toEqual(expect.arrayContaining(['/dev', '/etc', '/proc', '/tmp', '/usr']));
    }
    expect(vaultTree(home)).toEqual(before);
  });

  it('has no network by default (a listener on the host\'s 127.0.0.1 is unreachable) and the host network with --network host', async () => {
    const home = openHome();
    // The probe closes at once: a reset on the server's side of it is expected.
    const server: Server = createServer((s) => s.on('error', () => {}).end('hi\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const probe = `import socket\ntry:\n  socket.create_connection(('127.0.0.1', ${port}), timeout=5); print('connected')\nexcept OSError as e:\n  print('refused')\n`;
      const off = await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'python3', '-c', probe]);
      expect(off.json).toMatchObject({ ok: true, stdout: 'refused\n', sandbox: { enforced: true, network: 'none' } });
      const on = await avfs(home, ['proxy', 'exec', '--mode', mode, '--network', 'host', '--', 'python3', '-c', probe]);
      expect(on.json).toMatchObject({ ok: true, stdout: 'connected\n', sandbox: { enforced: true, network: 'host' } });
    } finally {
      server.close();
    }
  });
});

describeSandbox('sandbox limits, binds and availability', () => {
  it('reports the limits it enforces, and a limit hit as a violation', async () => {
    const home = openHome();
    const big = await avfs(home, ['proxy', 'exec', '--max-file-size', '4KiB', '--shell', 'head -c 100000 /dev/zero > /big.bin']);
    expect(big.json.sandbox.limits.max_file_size).toEqual({ value: 4096, enforced_by: 'RLIMIT_FSIZE' });
    expect(big.json.exit_code).not.toBe(0);
    expect(big.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'max_file_size' }));
    const tree = vaultTree(home);
    expect(tree['/big.bin'] === undefined || tree['/big.bin'].size <= 4096).toBe(true);

    const forks = await avfs(home, ['proxy', 'exec', '--max-processes', '8', '--shell', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; wait; true']);
    const procs = forks.json.sandbox.limits.max_processes;
    expect(procs.value).toBe(8);
    if (procs.enforced_by) {
      expect(procs.enforced_by).toMatch(/^cgroup v[12] pids\.max$/);
      expect(forks.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'max_processes' }));
    } else {
      // Where no cgroup can be made, the result says so instead of pretending.
      expect(typeof procs.reason).toBe('string');
    }
    const hungry = await avfs(home, ['proxy', 'exec', '--memory', '64MiB', '--', 'python3', '-c', 'x = bytearray(400 * 1024 * 1024); print("allocated")']);
    const memory = hungry.json.sandbox.limits.memory;
    expect(memory.value).toBe(64 * 1024 * 1024);
    if (memory.enforced_by) {
      expect(hungry.json.stdout).toBe('');
      expect(hungry.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'memory' }));
    } else {
      expect(typeof memory.reason).toBe('string');
    }
    const timed = await avfs(home, ['proxy', 'exec', '--timeout', '300', '--', 'sleep', '30']);
    expect(timed.json).toMatchObject({ exit_code: 124, timed_out: true });
    expect(timed.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'timeout_ms', value: 300 }));
  });

  it('binds the policy\'s host paths (read-only or writable) and reports them', async () => {
    const tool = join(tmp.dir, 'tool');
    const cache = join(tmp.dir, 'cache');
    mkdirSync(tool, { recursive: true });
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(tool, 'version'), 'tool 1.2\n');
    const home = seedHome(join(tmp.dir, `home-${++homes}`));
    setVaultPolicy(home, { sandbox: { binds: [{ source: tool, dest: '/opt/tool' }, { source: cache, dest: '/cache', writable: true }, { source: join(tmp.dir, 'absent'), optional: true }] } });
    const r = await avfs(home, ['proxy', 'exec', '--shell', 'cat /opt/tool/version; echo c > /cache/c.txt; echo x > /opt/tool/nope 2>/dev/null || echo read-only']);
    expect(r.json, r.stdout).toMatchObject({ ok: true, stdout: 'tool 1.2\nread-only\n', changed_files: [] });
    expect(r.json.sandbox.binds).toEqual(expect.arrayContaining([{ source: tool, dest: '/opt/tool', writable: false }, { source: cache, dest: '/cache', writable: true }]));
    expect(r.json.sandbox.reserved).toEqual(expect.arrayContaining(['/opt', '/cache']));
    expect(readFileSync(join(cache, 'c.txt'), 'utf8')).toBe('c\n');
    expect(readdirSync(tool)).toEqual(['version']);
    // A bind that is not an absolute path is refused when the policy is set.
    const bad = join(tmp.dir, 'bad-policy.json');
    writeFileSync(bad, JSON.stringify({ sandbox: { binds: [{ source: 'relative/dir' }] } }));
    const refused = await avfs(home, ['proxy', 'policy', 'set', bad]);
    expect(refused.json.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('without bubblewrap: --sandbox auto runs unsandboxed and says so (JSON and stderr), --sandbox required refuses', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const env = { AVFS_BWRAP: join(tmp.dir, 'no-bwrap-here') };
    const auto = await avfs(home, ['proxy', 'exec', '--', 'true'], { env });
    expect(auto.json).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: false, reason: expect.any(String) } });
    // The warning for people carries the reason.
    expect(auto.stderr).toContain(auto.json.sandbox.reason);
    const required = await avfs(home, ['proxy', 'exec', '--sandbox', 'required', '--', 'true'], { env });
    expect(required.code).toBe(1);
    expect(required.json.error.code).toBe('SANDBOX_UNAVAILABLE');
    // A policy that requires the sandbox cannot be loosened from the command line.
    setVaultPolicy(home, { sandbox: { mode: 'required' } });
    expect((await avfs(home, ['proxy', 'exec', '--sandbox', 'auto', '--', 'true'], { env })).json.error.code).toBe('SANDBOX_UNAVAILABLE');
  });

  it('avfs shell opens a shell in the sandbox on a terminal (under script) and reports what it changed', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const r = await execa('script', ['-qefc', `node ${BIN} shell --cwd /`, '/dev/null'], {
      input: 'echo made-in-shell > /made.txt\nrm /a.txt\ntest -t 0 && echo "on-a-tty-$((1+1))"\necho "root-is-$AVFS_MOUNTPOINT-vault"\nexit 3\n',
      env: { AVFS_HOME: home, AVFS_VAULT: '', SHELL: '/bin/sh', FORCE_COLOR: '0', TERM: 'dumb' },
      reject: false,
      timeout: 60_000,
    });
    expect(r.exitCode, r.stdout).toBe(3);
    // (What the shell prints, not the echo of what was typed.)
    expect(r.stdout).toContain('on-a-tty-2');
    expect(r.stdout).toContain('root-is-/-vault');
    expect(r.stdout).toMatch(/\+ \/made\.txt/);
    expect(r.stdout).toMatch(/- \/a\.txt/);
    expect(Object.keys(vaultTree(home))).toEqual(['/', '/made.txt']);
  });
});
