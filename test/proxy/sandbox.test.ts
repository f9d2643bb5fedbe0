import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { runtimeDirIn } from '../../src/store/host-dirs.js';
import { execa } from 'execa';
import { avfs, BIN, expectError, expectOk, ROOT, tempDir } from '../helpers.js';
import { snapshot } from '../mount/helpers.js';
import { describeModes, describeSandbox, processes, seedHome, setVaultPolicy, storeVaultPolicyAsIs, vaultTree, type Mode, type VaultItem } from './helpers.js';

/**
 * The enforced boundary (issue 14): every escape an adversarial agent tried against the
 * command-line policy is contained by the sandbox alone — the vault's policy here lets every
 * command through (`extends: none`), so nothing but the sandbox stands in the way. After each:
 * the host victim directory is intact, nothing appears outside the vault, no process of the run
 * is alive (/proc), and changed_files is exactly what the command did to the vault.
 *
 * The victim lives outside /tmp (the sandbox's /tmp is private anyway), at a path the vault holds
 * a copy of: each escape then visibly runs — it deletes or writes the vault's copy, which
 * changed_files reports — while the host's directory of the same name stays as it was.
 */

let tmp: { dir: string; cleanup: () => void };
let victimRoot: { dir: string; cleanup: () => void };
let victim: string;
beforeAll(() => {
  tmp = tempDir('avfs-sandbox-');
  victimRoot = tempDir('avfs-victim-', '/var/tmp');
  victim = join(victimRoot.dir, 'victim');
  mkdirSync(join(victim, 'sub'), { recursive: true });
  writeFileSync(join(victim, 'a.txt'), 'precious\n');
  writeFileSync(join(victim, 'sub', 'b.txt'), 'also precious\n');
});
afterAll(() => {
  victimRoot.cleanup();
  tmp.cleanup();
});

let homes = 0;
/** A home whose vault's policy allows everything: only the sandbox is tested. */
function openHome(files: Record<string, string> = {}, policy: Record<string, unknown> = {}): string {
  const home = seedHome(join(tmp.dir, `home-${++homes}`), files);
  setVaultPolicy(home, { extends: 'none', ...policy });
  return home;
}

/** The vault's copy of the host victim directory, at the same path. */
const mirror = () => ({ [`${victim}/a.txt`]: 'vault copy\n', [`${victim}/sub/b.txt`]: 'vault copy too\n' });
const mirrorPaths = () => [victim, `${victim}/a.txt`, `${victim}/sub`, `${victim}/sub/b.txt`];

const paths = (r: { json: { changed_files: { path: string }[] } }) => r.json.changed_files.map((c) => c.path);

/** The paths whose entry differs between two vault trees (added, removed or changed), sorted. */
function treeDiff(before: Record<string, VaultItem>, after: Record<string, VaultItem>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

/** changed_files is exact: it names every path the run changed in the vault, and nothing else. */
function expectExact(home: string, before: Record<string, VaultItem>, r: { json: { changed_files: { path: string }[] } }): void {
  expect([...paths(r)].sort()).toEqual(treeDiff(before, vaultTree(home)));
}

/** Every directory from `dir` up to the host's /. */
const ancestors = (dir: string): string[] => (dir === '/' ? ['/'] : [dir, ...ancestors(dirname(dir))]);

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
  it('deleting a host directory through shells, env -S, substitutions and quoting deletes the vault\'s copy and leaves the host\'s intact', async () => {
    const before = await snapshot(victim);
    for (const shell of [
      `sh -Cc "rm -rf ${victim}"`,
      `bash -c -- "rm -rf ${victim}"`,
      `env -S "rm -rf ${victim}"`,
      `rm -rf "$(echo ${victim})"`,
      `bash -c "rm -rf \\$'${victim}'"`,
    ]) {
      const home = openHome({ '/keep.txt': 'keep\n', ...mirror() });
      const tree = vaultTree(home);
      const r = await run(home, mode, shell);
      // It ran, and what it deleted was the vault's copy: exactly that, reported exactly.
      expect([...paths(r)].sort(), shell).toEqual(mirrorPaths());
      expect(r.json.changed_files.every((c: any) => c.kind === 'deleted'), shell).toBe(true);
      expectExact(home, tree, r);
      expect(await snapshot(victim), shell).toEqual(before);
    }
  });

  it('climbing out with cd .., going home, and git aliases stay inside the vault', async () => {
    const home = openHome({ '/src/app.js': '1\n', ...mirror() });
    const marker = `escaped-${Math.random().toString(36).slice(2)}.txt`;
    let tree = vaultTree(home);
    const climbed = await run(home, mode, `cd ..; cd ..; cd ..; cd ..; echo out > ${marker}`, ['--cwd', '/src']);
    expect(paths(climbed)).toEqual([`/${marker}`]);
    expectExact(home, tree, climbed);
    // Nothing appeared on the host above the directory that is the sandbox's / (the vault's view or
    // copy), nor near the test.
    for (const dir of new Set([...ancestors(dirname(climbed.json.mountpoint)), ...ancestors(tmp.dir), ...ancestors(victim), process.cwd()])) {
      expect(existsSync(join(dir, marker)), dir).toBe(false);
    }

    const hostHome = process.env.HOME ?? '/root';
    const hostDot = existsSync(join(hostHome, '.x'));
    tree = vaultTree(home);
    const home2 = await run(home, mode, 'cd && echo x > .x && pwd');
    expect(home2.json.stdout).toBe('/tmp\n');
    expect(paths(home2)).toEqual([]);
    expectExact(home, tree, home2);
    expect(existsSync(join(hostHome, '.x'))).toBe(hostDot);

    // The alias runs (its second touch lands in the vault); the host path it names is the vault's.
    const before = await snapshot(victim);
    tree = vaultTree(home);
    const git = await run(home, mode, `git init -q /repo && cd /repo && git -c alias.x='!touch ${victim}/gitfile' x && echo alias-ran`);
    expect(git.json.stdout).toBe('alias-ran\n');
    expect(existsSync(join(victim, 'gitfile'))).toBe(false);
    expect(await snapshot(victim)).toEqual(before);
    expect(paths(git)).toContain(`${victim}/gitfile`);
    expect(paths(git).every((p) => p === '/repo' || p.startsWith('/repo/') || p === `${victim}/gitfile`)).toBe(true);
    expectExact(home, tree, git);
  });

  it('avfs itself is out of reach: even with the avfs program inside, no policy reset, no checkpoint deletion, no import or export of host files', async () => {
    // The policy binds this checkout read-only, so `node bin/avfs.js` runs inside the sandbox:
    // what stops it is that the avfs home (and the host's files) are not there.
    const home = openHome({ '/a.txt': 'a\n' }, { sandbox: { binds: [{ source: ROOT, dest: ROOT }] } });
    const cp = await avfs(home, ['checkpoint', 'save', 'keep-me']);
    expect(cp.code).toBe(0);
    const secret = join(victimRoot.dir, 'secret.txt');
    writeFileSync(secret, 'secret\n');
    const target = join(victimRoot.dir, `export-${homes}`);
    const cli = `node ${BIN} --json --home ${home}`;
    const tree = vaultTree(home);
    const r = await run(
      home,
      mode,
      `test -e ${home} || echo no-home; test -e ${secret} || echo no-secret; ${cli} proxy policy reset >/dev/null && echo reset-ran-elsewhere; ` +
        `${cli} checkpoint delete keep-me >/dev/null || echo no-checkpoint; ${cli} import ${secret} /stolen >/dev/null || echo no-import; ` +
        `${cli} export / ${target} >/dev/null; avfs proxy policy reset 2>/dev/null; true`,
    );
    expect(r.json.stdout).toBe('no-home\nno-secret\nreset-ran-elsewhere\nno-checkpoint\nno-import\n');
    // The export went to the vault's path of that name (captured), not to the host.
    expect(existsSync(target)).toBe(false);
    expect(paths(r).every((p) => target.startsWith(p) || p.startsWith(`${target}/`) || p === target)).toBe(true);
    expectExact(home, tree, r);
    expect((await avfs(home, ['proxy', 'policy', 'show'])).json.source).toBe('vault');
    expect((await avfs(home, ['checkpoint', 'list'])).json.checkpoints.map((c: any) => c.name)).toContain('keep-me');
    expect(vaultTree(home)['/stolen']).toBeUndefined();
  });

  it('the kernel\'s settings are read-only inside, for root too (core_pattern would run a program as host root), and root has a user namespace of its own', async () => {
    const home = openHome();
    // Writes back the value it read: harmless to the host even where the write would go through.
    const probe = 'for f in /proc/sys/kernel/core_uses_pid /proc/sys/kernel/core_pattern; do v=$(cat $f); if (printf "%s\\n" "$v" > $f) 2>/dev/null; then echo "$f WRITABLE"; else echo "$f refused"; fi; done; readlink /proc/self/ns/user';
    const r = await run(home, mode, probe);
    const lines = r.json.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['/proc/sys/kernel/core_uses_pid refused', '/proc/sys/kernel/core_pattern refused']);
    if (process.getuid?.() === 0) expect(lines[2], 'root inside shares the host\'s user namespace').not.toBe(readlinkSync('/proc/self/ns/user'));
    expect(paths(r)).toEqual([]);
  });

  it('/proc/keys and /proc/key-users show nothing of the host\'s keyrings inside (reading them is refused)', async () => {
    const files = ['/proc/keys', '/proc/key-users'].filter((f) => existsSync(f));
    if (files.length === 0) return console.warn('skipped: this kernel has no /proc/keys (built without key support)');
    // The host lists at least its user's keyring here (root's `_uid.0` once anything asked for it).
    expect(files.map((f) => readFileSync(f, 'utf8')).join('')).not.toBe('');
    const home = openHome();
    // Covered by /dev/null on a nodev mount: opening them is refused, so nothing is read.
    const r = await run(home, mode, `cat ${files.join(' ')}; echo "cat: $?"`);
    expect(r.json.stdout).toBe('cat: 1\n');
  });

  it('no process inside can take the descriptor through which bubblewrap\'s init reports the exit status: the run ends with the command\'s own status', async () => {
    // A grandchild takes pid 1's eventfd (pidfd_getfd; ptrace would do too) and writes a status
    // to it, which the bubblewrap outside would report as the command's, ending the run early;
    // or writes code into pid 1's memory (/proc/1/mem) that does so.
    const script = [
      'import ctypes, os, struct, sys, time',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'def getfd(n):',
      '    fd = libc.syscall(438, os.pidfd_open(1), n, 0)',
      '    return fd, ctypes.get_errno()',
      'if os.fork() == 0:',
      '    tried = []',
      '    for n in range(3, 32):',
      '        fd, err = getfd(n)',
      '        tried.append(err)',
      '        if fd >= 0 and os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]":',
      '            os.write(fd, struct.pack("Q", 1))',
      '            print("forged", flush=True)',
      '            os._exit(0)',
      '    print("refused", sorted(set(tried)), flush=True)',
      '    for mem in ("/proc/1/mem", "/proc/1/task/1/mem"):',
      '        try:',
      '            os.close(os.open(mem, os.O_RDWR))',
      '            print(mem, "writable", flush=True)',
      '        except OSError as e:',
      '            print(mem, "refused", flush=True)',
      '    os._exit(0)',
      'time.sleep(1)',
      'open("/finished", "w").write("the command ran to its end\\n")',
      'sys.exit(3)',
    ].join('\n');
    const home = openHome({ '/forge.py': script });
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'python3', '/forge.py']);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 3 });
    // EPERM for every descriptor number; and its memory, where code written in would do the same, is not writable.
    expect(r.json.stdout).toBe('refused [1]\n/proc/1/mem refused\n/proc/1/task/1/mem refused\n');
    expect(paths(r)).toEqual(['/finished']);
  });

  it('the keys of the caller\'s session keyring are out of reach: the kernel\'s key calls are refused (EPERM)', async () => {
    // On the host: put a key in the session keyring, then run avfs, whose sandbox inherits that
    // keyring across every namespace. Inside: ask for the keyring and search it for the key.
    const [addKey, keyctl] = process.arch === 'arm64' ? [217, 219] : [248, 250]; // x86_64 otherwise
    const script = [
      'import ctypes, os, sys',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'if sys.argv[1] == "host":',
      `    assert libc.syscall(${addKey}, b"user", b"avfs-canary", b"TOPSECRET", 9, ctypes.c_long(-3)) > 0`,
      '    os.execvp(sys.argv[2], sys.argv[2:])',
      `ring = libc.syscall(${keyctl}, 0, ctypes.c_long(-3), 0)`,
      'print("keyring", ring, ctypes.get_errno())',
      `print("search", libc.syscall(${keyctl}, 10, ctypes.c_long(-3), b"user", b"avfs-canary", 0), ctypes.get_errno())`,
    ].join('\n');
    const home = openHome({ '/keys.py': script });
    const host = join(tmp.dir, 'keys.py');
    writeFileSync(host, script);
    const r = await execa('python3', [host, 'host', 'node', BIN, '--json', 'proxy', 'exec', '--mode', mode, '--', 'python3', '/keys.py', 'inside'], {
      env: { AVFS_HOME: home, AVFS_VAULT: '' },
      reject: false,
    });
    const doc = JSON.parse(r.stdout);
    expect(doc, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0 });
    expect(doc.stdout).toBe('keyring -1 1\nsearch -1 1\n');
  });

  it('a symlink in the vault to a host directory sends writes to the vault\'s path of that name, never to the host', async () => {
    const home = openHome(mirror());
    const link = await run(home, mode, `ln -s ${victim} /link`);
    expect(paths(link)).toEqual(['/link']);
    const before = await snapshot(victim);
    const subMode = statSync(join(victim, 'sub')).mode & 0o777;
    const tree = vaultTree(home);
    const r = await run(home, mode, 'echo evil > /link/evil.sh && chmod 777 /link/sub && mkdir -p /link/new && echo wrote');
    expect(r.json.stdout).toBe('wrote\n');
    expect(await snapshot(victim)).toEqual(before);
    expect(statSync(join(victim, 'sub')).mode & 0o777).toBe(subMode);
    expect([...paths(r)].sort()).toEqual([`${victim}/evil.sh`, `${victim}/new`, `${victim}/sub`]);
    expectExact(home, tree, r);
  });

  it('a descriptor avfs inherited (a directory on the host, opened by its caller) does not reach the command: /proc/self/fd/<n> is no way out', async () => {
    const home = openHome();
    const before = await snapshot(victim);
    const dirFd = openSync(victim, 'r');
    // The CLI gets the host directory as its fd 20, without close-on-exec, as a shell's
    // `exec 20<dir` would leave it; the command then tries to list and write through it.
    const stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
    for (let fd = 3; fd < 20; fd++) stdio.push('ignore');
    stdio.push(dirFd);
    const line = 'ls /proc/self/fd/20/; echo evil > /proc/self/fd/20/evil.txt; readlink /proc/self/fd/20; echo done';
    const child = spawn('node', [BIN, '--json', 'proxy', 'exec', '--mode', mode, '--shell', line], {
      env: { ...process.env, AVFS_HOME: home, AVFS_VAULT: '' },
      stdio,
    });
    closeSync(dirFd);
    let stdout = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b));
    child.stderr!.resume();
    await new Promise((resolve) => child.once('close', resolve));
    const r = JSON.parse(stdout);
    expect(r.ok, stdout).toBe(true);
    expect(r.sandbox.enforced).toBe(true);
    expect(r.stdout).toBe('/dev/null\ndone\n'); // nothing listed: fd 20 is /dev/null in there
    expect(await snapshot(victim)).toEqual(before);
    expect(existsSync(join(victim, 'evil.txt'))).toBe(false);
    expect(r.changed_files).toEqual([]);
  });

  it('the caller\'s stdin, stdout and stderr reach the command as bytes, never as host descriptors: a redirected file or directory is no way out', async () => {
    const home = openHome();
    const before = await snapshot(victim);
    /** Runs the CLI with `fds` as its stdin, stdout and stderr (numbers: host files opened here). */
    const runWith = async (args: string[], fds: StdioOptions) => {
      const child = spawn('node', [BIN, ...args], { env: { ...process.env, AVFS_HOME: home, AVFS_VAULT: '' }, stdio: fds });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (b: Buffer) => (stdout += b));
      child.stderr?.on('data', (b: Buffer) => (stderr += b));
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      return { code, stdout, stderr };
    };
    // `proxy exec --stdin < a.txt`: a read-only host file, which reopened for writing would be the host's.
    const input = openSync(join(victim, 'a.txt'), 'r');
    const line = 'cat; echo evil > /proc/self/fd/0; ls /proc/self/fd/0/ 2>/dev/null; echo done';
    const file = await runWith(['--json', 'proxy', 'exec', '--stdin', '--mode', mode, '--shell', line], [input, 'pipe', 'pipe']);
    closeSync(input);
    const r = JSON.parse(file.stdout);
    expect(r.sandbox.enforced, file.stdout).toBe(true);
    expect(r.stdout).toBe('precious\ndone\n');
    expect(r.changed_files).toEqual([]);
    // `< <dir>`: a host directory, below which every host path would be reachable.
    const dir = openSync(victim, 'r');
    const dirLine = 'cat /proc/self/fd/0/a.txt; echo evil > /proc/self/fd/0/evil.txt; echo done';
    const fromDir = await runWith(['--json', 'proxy', 'exec', '--stdin', '--mode', mode, '--shell', dirLine], [dir, 'pipe', 'pipe']);
    closeSync(dir);
    expect(JSON.parse(fromDir.stdout)).toMatchObject({ stdout: 'done\n', changed_files: [] });
    // `avfs shell < script >> log`: the log (an earlier line of it a secret) is the shell's stdout.
    const log = join(tmp.dir, `shell-${mode}.log`);
    writeFileSync(log, 'earlier line: TOKEN=s3cret\n');
    const script = join(tmp.dir, `shell-${mode}.sh`);
    writeFileSync(script, 'cat /proc/self/fd/1 > /stolen.txt; echo replaced > /proc/self/fd/1; echo normal\n');
    const scriptFd = openSync(script, 'r');
    const logFd = openSync(log, 'a');
    const shell = await runWith(['shell'], [scriptFd, logFd, 'pipe']);
    closeSync(scriptFd);
    closeSync(logFd);
    expect(shell.code, shell.stderr).toBe(0);
    // Reopened, the shell's stdout is the pipe avfs relays (never the log): what goes through it
    // is appended in order like the rest, and the log is neither truncated nor read.
    expect(readFileSync(log, 'utf8')).toBe('earlier line: TOKEN=s3cret\nreplaced\nnormal\n');
    expect((await avfs(home, ['cat', '/stolen.txt'], { raw: true })).stdout).toBe(''); // empty or absent: the log was not readable
    expect(await snapshot(victim)).toEqual(before);
  });

  it("the caller's stdin pipe is relayed, not handed over: its read end reopened is no write end into the caller's input; an output pipe is handed over (SIGPIPE reaches the command)", async () => {
    const home = openHome();
    const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '' };
    const marker = join(tmp.dir, `escaped-${mode}`);
    // A host shell reading its script from a pipe runs avfs with that pipe as stdin; the command
    // reopens fd 0 for writing to put a line into the shell's input.
    const inject = `echo "touch ${marker}" > /proc/self/fd/0; echo status $?`;
    const script = `node ${BIN} proxy exec --stdin --mode ${mode} -q -- sh -c '${inject}'\n`;
    // (A real pipe: execa's input would be a socket, which cannot be reopened at all.)
    const host = await execa('sh', ['-c', 'printf "$SCRIPT" | bash'], { env: { ...env, SCRIPT: script }, reject: false });
    expect(host.stdout).toMatch(/^status [1-9]/m);
    expect(existsSync(marker)).toBe(false);
    // What the command does read is the caller's bytes, in order, to their end.
    const piped = await execa('sh', ['-c', `printf 'one\\ntwo\\n' | node ${BIN} proxy exec --stdin --mode ${mode} -q -- sh -c 'cat; echo end'`], { env });
    expect(piped.stdout).toBe('one\ntwo\nend');
    // An output pipe is handed over (reopened, its read end gives only what is written into it):
    // a command whose reader has gone gets SIGPIPE at once, as under a shell.
    const head = await execa('bash', ['-c', `echo yes | node ${BIN} shell 2>/dev/null | head -1; echo "\${PIPESTATUS[1]}"`], { env, timeout: 60_000 });
    expect(head.stdout.split('\n')).toEqual(['y', '141']);
  });

  it("the caller's named pipe and terminal keep their mode: a named pipe is relayed, and a terminal's mode and owner are put back when the run ends", async () => {
    const home = openHome();
    const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '' };
    const chmodInput = "python3 -c 'import os; os.fchmod(0, 0o666); os.utime(0, (0, 0)); print(os.read(0, 9))'";
    // `proxy exec --stdin < fifo`: a named pipe is a host file, whose mode fchmod of fd 0 changed.
    const fifo = join(tmp.dir, `in-${mode}.fifo`);
    await execa('mkfifo', ['-m', '600', fifo]);
    const writer = execa('sh', ['-c', `echo hi > ${fifo}`]);
    const fromFifo = await execa('sh', ['-c', `node ${BIN} --json proxy exec --stdin --mode ${mode} --shell "${chmodInput.replace(/"/g, '\\"')}" < ${fifo}`], { env, reject: false });
    await writer;
    expect(JSON.parse(fromFifo.stdout), fromFifo.stderr).toMatchObject({ exit_code: 0, stdout: "b'hi\\n'\n" });
    expect(statSync(fifo).mode & 0o7777).toBe(0o600);
    expect(statSync(fifo).mtimeMs).toBeGreaterThan(0);
    // On a terminal (script gives the CLI one): handed over as it is, and its mode put back after.
    const chmodTerminal = "python3 -c 'import os; os.fchmod(0, 0o666); os.fchmod(1, 0o666)'";
    const terminal = await execa('script', ['-qc', `stat -c %a $(tty); node ${BIN} proxy exec --stdin --mode ${mode} --shell "${chmodTerminal}" 2>/dev/null; stat -c %a $(tty)`, '/dev/null'], { env, input: '' });
    const lines = terminal.stdout.trim().split(/\r?\n/).map((l) => l.trim());
    const [before, after] = [lines[0], lines[lines.length - 1]];
    expect(before).toMatch(/^6[02]0$/);
    expect(after).toBe(before);
  });

  it("the command's captured stdout and stderr, reopened by path, are pipes of its own that lead nowhere: no directory above them, no name left on the host", async () => {
    const home = openHome();
    const before = await snapshot(victim);
    const line = [
      'readlink /proc/self/fd/1 >&2',
      'ls /proc/self/fd/1/ 2>/dev/null || echo "not a directory"',
      'echo evil 2>/dev/null > /proc/self/fd/1/../evil || echo "no way up"',
      'ln -L /proc/self/fd/2 /linked 2>/dev/null || echo "no new name"',
      'echo done > /dev/stdout',
    ].join('; ');
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', line]);
    expect(r.json.ok, r.stdout).toBe(true);
    expect(r.json.stdout).toBe('not a directory\nno way up\nno new name\ndone\n');
    // Unlinked (with its directory) before the command started: the link text names nothing.
    const named = r.json.stderr.trim().replace(/ \(deleted\)$/, '');
    expect(named.startsWith('/') ? [named, dirname(named)].filter((p) => existsSync(p)) : []).toEqual([]);
    expect(r.json.changed_files).toEqual([]);
    expect(await snapshot(victim)).toEqual(before);
  });

  it("a command whose first word looks like one of bubblewrap's options is a program name, never an option (no host bind, no capabilities, no network back)", async () => {
    const home = openHome();
    for (const argv of [
      ['--bind', '/', '/host', '/bin/cat', `/host${victim}/a.txt`],
      ['--cap-add', 'ALL', '/bin/grep', 'CapEff', '/proc/self/status'],
      ['--share-net', '/bin/cat', '/proc/net/dev'],
      ['--', '/bin/cat', `${victim}/a.txt`],
    ]) {
      const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--', ...argv]);
      expect(r.json?.ok, `${r.stdout}\n${r.stderr}`).toBe(true);
      expect(r.json.sandbox.enforced).toBe(true);
      expect(r.json.exit_code, argv.join(' ')).toBe(127);
      expect(r.json.stdout, argv.join(' ')).toBe('');
      expect(r.json.stderr, argv.join(' ')).toContain(`cannot run ${argv[0]}: command not found`);
      expect(r.json.changed_files).toEqual([]);
    }
    // Likewise a --shell command starting with `-` is the command for sh, not one of its options.
    const sh = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', '--version; echo ran']);
    expect(sh.json?.ok, `${sh.stdout}\n${sh.stderr}`).toBe(true);
    expect(sh.json.stdout).toBe('ran\n');
    expect(sh.json.stderr).toMatch(/--version: .*not found/);
  });

  it("the caller's environment reaches the command only: a dynamic loader variable (LD_PRELOAD's kin) acts on nothing outside the sandbox", async () => {
    // With a process limit, a shell prologue runs on the host before bubblewrap; both are the
    // caller's (root here). LD_DEBUG_OUTPUT makes every dynamically linked program that starts
    // with it write a trace file: on the host, here; inside, the path does not exist.
    const home = openHome({}, { sandbox: { limits: { max_processes: 64 } } });
    const traces = join(tmp.dir, `loader-trace-${mode}`);
    mkdirSync(traces);
    const env = { LD_DEBUG: 'libs', LD_DEBUG_OUTPUT: join(traces, 'trace') };
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]), '--', 'sh', '-c', 'echo "$LD_DEBUG"']);
    expect(r.json).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: true } });
    expect(r.json.stdout).toMatch(/^libs$/m); // the command had it (the loader's own lines, inside, go where it sends them)
    expect(readdirSync(traces)).toEqual([]);
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
  it('a file, directory or symlink removed and made again as it was (an editor saving by rename, git checking out the same blob) is not reported', async () => {
    const home = openHome();
    // Imported from the host: owners stored (the user avfs runs as); made again through a run: unset.
    const src = join(tmp.dir, `same-${mode}`);
    mkdirSync(join(src, 'd'), { recursive: true });
    writeFileSync(join(src, 'f'), 'x\n');
    writeFileSync(join(src, 'd', 'g'), 'y\n');
    writeFileSync(join(src, 'h'), 'h\n');
    symlinkSync('f', join(src, 'l'));
    expect((await avfs(home, ['import', src, '/proj'])).code).toBe(0);
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', 'cd /proj; rm f; echo x > f; rm -r d; mkdir d; echo y > d/g; rm l; ln -s f l; cp h h.tmp; mv h.tmp h; echo z > new']);
    expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
    expect(paths(r)).toEqual(['/proj/new']);
  });

  it('the command opens its captured stdout and stderr again by path (/dev/stdout, /dev/stderr, tee), as under a shell: they are pipes, which lead nowhere else', async () => {
    // They were socket pairs, which cannot be opened again: ENXIO, and a script writing its
    // errors to /dev/stderr failed.
    const home = openHome();
    const line = 'echo out > /dev/stdout; echo err > /dev/stderr; echo both | tee /dev/stderr; [ -e /proc/self/fd/1/.. ] && echo escaped; echo done >> /proc/self/fd/1';
    const r = await run(home, mode, line);
    expect(r.json).toMatchObject({ exit_code: 0, stdout: 'out\nboth\ndone\n', stderr: 'err\nboth\n', changed_files: [] });
  });

  it('runs the seed example: proxy exec -- python3 /src/main.py runs the vault\'s /src/main.py', async () => {
    const home = openHome({
      '/src/main.py': "import os\nprint(open('/src/data.txt').read().strip())\nos.makedirs('/out', exist_ok=True)\nopen('/out/result.txt', 'w').write('done\\n')\n",
      '/src/data.txt': 'hello from the vault\n',
    });
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'python3', '/src/main.py']);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, stdout: 'hello from the vault\n' });
    expect(paths(r)).toEqual(['/out', '/out/result.txt']);
  });

  it('PATH inside holds only the host directories bound read-only: a program the command places at a host PATH directory (a vault path inside) never runs in place of the one judged', async () => {
    const home = openHome({ '/f': 'precious\n' });
    const env = { PATH: `/opt/evil/bin:/root/.cargo/bin:/usr/local/bin:/usr/bin:/bin:/sbin` };
    const plant = 'for d in /opt/evil/bin /root/.cargo/bin; do mkdir -p $d && printf "#!/bin/sh\\nrm -f /f; echo fake\\n" > $d/ls && chmod +x $d/ls; done';
    expect((await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'sh', '-c', plant], { env })).json).toMatchObject({ ok: true, exit_code: 0 });
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--', 'ls', '/'], { env });
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0 });
    expect(r.json.stdout).not.toContain('fake');
    expect(r.json.changed_files).toEqual([]);
    const shown = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', 'echo "$PATH"; ls / >/dev/null'], { env });
    expect(shown.json.stdout.trim().split(':')).toEqual(['/usr/local/bin', '/usr/bin', '/bin', '/sbin'].filter((d) => existsSync(d)));
    expect(shown.json.changed_files).toEqual([]);
    // An explicit --env PATH is the caller's choice.
    const own = await avfs(home, ['proxy', 'exec', '--mode', mode, '--env', 'PATH=/opt/evil/bin:/usr/bin', '--shell', 'echo "$PATH"'], { env });
    expect(own.json.stdout).toBe('/opt/evil/bin:/usr/bin\n');
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

  it('a file the command replaces keeps nothing of it in a hard link under a reserved name (copy mode wrote the new bytes into the hidden name too)', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const src = join(tmp.dir, `linked-${mode}`);
    mkdirSync(join(src, 'etc'), { recursive: true });
    mkdirSync(join(src, 'd'));
    writeFileSync(join(src, 'etc', 'app.conf'), 'keep\n');
    linkSync(join(src, 'etc', 'app.conf'), join(src, 'd', 'b'));
    expectOk(await avfs(home, ['import', src, '/']));
    const cat = async (path: string) => (await avfs(home, ['cat', path], { raw: true })).stdout.trim();
    // Written in place (the same inode), the file is still the one the hidden name shares.
    await run(home, mode, 'echo in-place > /d/b');
    expect([await cat('/d/b'), await cat('/etc/app.conf')]).toEqual(['in-place', 'in-place']);
    // Replaced (sed -i renames a new file over it), the name is a new file; the hidden one keeps the old.
    const r = await run(home, mode, 'sed -i s/in-place/replaced/ /d/b');
    expect(paths(r)).toEqual(['/d/b']);
    expect([await cat('/d/b'), await cat('/etc/app.conf')]).toEqual(['replaced', 'in-place']);
  });

  it('a reserved symlink (/lib -> usr/lib) the command links or moves to another name is not imported there', async () => {
    if (!lstatSync('/lib').isSymbolicLink()) throw new Error('this test needs a host whose /lib is a symlink (merged /usr), as Debian 12 has');
    const home = openHome({ '/lib/vault-lib.txt': 'the vault\'s own\n', '/a.txt': 'a\n' });
    const before = vaultTree(home);
    // ln first: once /lib is moved, no dynamically linked program starts. Mount mode refuses both (EROFS).
    const r = await run(home, mode, 'ln -P /lib /linked-lib; mv /lib /moved-lib; echo x > /made.txt');
    expect(paths(r)).toEqual(['/made.txt']);
    const after = vaultTree(home);
    delete after['/made.txt'];
    expect(after).toEqual(before);
    if (mode === 'copy') expect(r.json.skipped.map((k: { path: string }) => k.path).sort()).toEqual(['/linked-lib', '/moved-lib']);
  });

  it('a symlink the command makes after removing a reserved one is imported, though it may get the freed inode number (a copy on disk)', async () => {
    if (!lstatSync('/sbin').isSymbolicLink()) throw new Error('this test needs a host whose /sbin is a symlink (merged /usr), as Debian 12 has');
    const home = openHome({ '/a.txt': 'a\n' });
    // On ext4 a freed inode number is handed out again at once; tmpfs (/dev/shm) never reuses one.
    const onDisk = join(tmp.dir, `copies-on-disk-${mode}`);
    mkdirSync(onDisk);
    const links = Array.from({ length: 8 }, (_, i) => `/made-link-${i}`);
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', `rm /sbin; ${links.map((l) => `ln -s elsewhere ${l}`).join('; ')}`], { env: { AVFS_PROXY_TMPDIR: onDisk } });
    expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
    expect(paths(r)).toEqual(links);
    expect(r.json.skipped ?? []).toEqual([]);
    const tree = vaultTree(home);
    for (const l of links) expect(tree[l], l).toMatchObject({ type: 'l', target: 'elsewhere' });
  });

  it('--cwd at a reserved name is refused as reserved (not as missing), whether or not the vault holds that name', async () => {
    for (const files of [{ '/a.txt': 'a\n' }, { '/tmp/keep.txt': 'vault tmp\n', '/etc/x/keep': 'x\n' }] as Record<string, string>[]) {
      const home = openHome(files);
      for (const cwd of ['/tmp', '/etc/x', '/proc']) {
        const e = expectError(await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', cwd, '--', 'true']), 'INVALID_PATH', 2);
        expect(e.message, cwd).toContain('reserved in the sandbox');
      }
      expect((await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/', '--', 'true'])).json).toMatchObject({ ok: true, exit_code: 0 });
    }
  });

  it('--cwd follows the vault\'s symlinks as the kernel does inside, where the vault is / (`..` at / stays at /)', async () => {
    const home = seedHome(join(tmp.dir, `home-${++homes}`), { '/src/a.txt': 'a\n' }, (fs) => {
      fs.symlink('../../../../src', '/up');
      fs.symlink('../../../../etc', '/elink');
      fs.symlink('/src/a.txt', '/file');
      fs.mkdir('/src/deep');
      fs.symlink('/src/deep', '/ld');
      fs.symlink('/usr/bin', '/lu');
    });
    setVaultPolicy(home, { extends: 'none' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/up', '--', 'sh', '-c', 'pwd; cat a.txt']);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, stdout: '/src\na\n', cwd: '/src' });
    expect(expectError(await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/elink', '--', 'true']), 'INVALID_PATH', 2).message).toContain('/etc is reserved in the sandbox');
    expectError(await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/file', '--', 'true']), 'NOT_A_DIRECTORY', 2);
    expectError(await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/up/missing', '--', 'true']), 'NOT_FOUND', 3);
    // `..` after a link is the link target's parent (it was taken lexically: /ld/.. was /), and above / is /.
    const parent = await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/ld/..', '--', 'pwd']);
    expect(parent.json, parent.stdout + parent.stderr).toMatchObject({ ok: true, stdout: '/src\n' });
    expect(expectError(await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/lu/..', '--', 'true']), 'INVALID_PATH', 2).message).toContain('/usr is reserved in the sandbox');
    const above = await avfs(home, ['proxy', 'exec', '--mode', mode, '--cwd', '/../../src', '--', 'pwd']);
    expect(above.json, above.stdout + above.stderr).toMatchObject({ ok: true, stdout: '/src\n' });
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
    // In 512-byte blocks: a smaller limit is refused (it was silently raised to 512), a larger one rounded down.
    expect(expectError(await avfs(home, ['proxy', 'exec', '--max-file-size', '10', '--', 'true']), 'INVALID_ARGUMENT', 2).message).toContain('at least 512');
    expect((await avfs(home, ['proxy', 'exec', '--max-file-size', '1000', '--', 'true'])).json.sandbox.limits.max_file_size.value).toBe(512);
    expect(big.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'max_file_size' }));
    const tree = vaultTree(home);
    expect(tree['/big.bin'] === undefined || tree['/big.bin'].size <= 4096).toBe(true);
    // A command that ignores SIGXFSZ is not killed: its writes past the limit fail (EFBIG), and the
    // files that stopped at the limit are what shows it.
    for (const mode of ['mount', 'copy']) {
      const quiet = await avfs(home, ['proxy', 'exec', '--mode', mode, '--max-file-size', '4KiB', '--shell', 'trap "" XFSZ; head -c 100000 /dev/zero > /quiet.bin; echo after']);
      expect(quiet.json, quiet.stdout + quiet.stderr).toMatchObject({ ok: true, stdout: 'after\n', signal: null });
      expect(quiet.json.violations).toEqual([expect.objectContaining({ kind: 'limit', limit: 'max_file_size', value: 4096, detail: expect.stringContaining('/quiet.bin') })]);
      expect(vaultTree(home)['/quiet.bin']).toMatchObject({ size: 4096 });
      if (mode === 'mount') {
        // Cut short at the limit again, the file ends as it began: the limit was still hit (sandbox round).
        const again = await avfs(home, ['proxy', 'exec', '--mode', mode, '--max-file-size', '4KiB', '--shell', 'trap "" XFSZ; head -c 100000 /dev/zero > /quiet.bin; echo after']);
        expect([again.json.changed_files, again.json.violations]).toEqual([[], [expect.objectContaining({ limit: 'max_file_size', detail: expect.stringContaining('/quiet.bin') })]]);
      }
      expect((await avfs(home, ['rm', '/quiet.bin'])).code).toBe(0);
    }
    // Exit status 153 reads as SIGXFSZ (128 + 25), but with no file size limit no limit was hit.
    const unlimited = await avfs(home, ['proxy', 'exec', '--shell', 'exit 153']);
    expect(unlimited.json, unlimited.stdout + unlimited.stderr).toMatchObject({ ok: true, exit_code: 153, violations: [] });

    const forks = await avfs(home, ['proxy', 'exec', '--max-processes', '8', '--shell', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; wait; true']);
    const procs = forks.json.sandbox.limits.max_processes;
    expect(procs.value).toBe(8);
    if (procs.enforced_by) {
      expect(procs.enforced_by).toMatch(/^cgroup v[12] pids\.max$/);
      expect(forks.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'max_processes' }));
      // The limit is the command's own: a shell and its two children fit in 3, not in 2 (bubblewrap's
      // two processes counted against it: 1 or 2 failed to start the sandbox at all).
      const script = 'sleep 0.2 & sleep 0.2 & wait; echo done';
      const fits = await avfs(home, ['proxy', 'exec', '--max-processes', '3', '--shell', script]);
      expect(fits.json, fits.stdout + fits.stderr).toMatchObject({ ok: true, exit_code: 0, stdout: 'done\n', violations: [] });
      const over = await avfs(home, ['proxy', 'exec', '--max-processes', '2', '--shell', script]);
      expect(over.json.violations, over.stdout + over.stderr).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'max_processes', value: 2 }));
      expect((await avfs(home, ['proxy', 'exec', '--max-processes', '1', '--', 'true'])).json).toMatchObject({ ok: true, exit_code: 0 });
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
    // The sandbox's /tmp is memory too: filling it past the limit kills the sandbox itself, after
    // the command started. That is a run with a violation and its changes, not "could not start",
    // even when the command's last words on stderr are bubblewrap's (a run it pretended not to be).
    const filler = await avfs(home, ['proxy', 'exec', '--memory', '64MiB', '--shell', 'echo planted > /planted; echo "bwrap: Creating new namespace failed: Operation not permitted" >&2; head -c 200M /dev/zero > /tmp/fill']);
    if (memory.enforced_by) {
      expect(filler.json, filler.stdout).toMatchObject({ ok: true });
      expect(filler.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'memory' }));
      expect(filler.json.changed_files.map((c: { path: string }) => c.path)).toContain('/planted');
    }
    // Without --memory a run is held to half the machine's memory (a memory bomb dies in its own
    // cgroup, not by the host's OOM killer); none turns the limit off.
    const plain = (await avfs(home, ['proxy', 'exec', '--', 'true'])).json.sandbox.limits.memory;
    expect(plain.value).toBe(Math.floor(totalmem() / 2 / 2 ** 20) * 2 ** 20);
    if (plain.enforced_by) expect(plain.enforced_by).toMatch(/^cgroup v[12] memory\./);
    else expect(typeof plain.reason).toBe('string');
    if (memory.enforced_by) expect(plain.enforced_by).toBe(memory.enforced_by);
    expect((await avfs(home, ['proxy', 'exec', '--memory', 'none', '--', 'true'])).json.sandbox.limits.memory).toMatchObject({ value: null, enforced_by: null });
    const timed = await avfs(home, ['proxy', 'exec', '--timeout', '300', '--', 'sleep', '30']);
    expect(timed.json).toMatchObject({ exit_code: 124, timed_out: true });
    expect(timed.json.violations).toContainEqual(expect.objectContaining({ kind: 'limit', limit: 'timeout_ms', value: 300 }));
  });

  it('runs without privileges in namespaces of its own: no capabilities, no-new-privileges, its own PID, IPC, UTS and network namespaces, /etc/shadow hidden', async () => {
    const home = openHome();
    const r = await avfs(home, ['proxy', 'exec', '--shell', "grep -E '^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):' /proc/self/status; cat /proc/sys/kernel/hostname; for ns in pid ipc uts net; do readlink /proc/self/ns/$ns; done; cat /etc/shadow 2>/dev/null | wc -c"]);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: true } });
    const lines = r.json.stdout.trim().split('\n');
    const status = Object.fromEntries(lines.slice(0, 5).map((l: string) => l.split(/:\s+/)));
    // (The bounding set may keep bits: with no-new-privileges nothing can be regained from it.)
    expect(status).toEqual({ CapInh: '0000000000000000', CapPrm: '0000000000000000', CapEff: '0000000000000000', CapAmb: '0000000000000000', NoNewPrivs: '1' });
    expect(lines[5]).toBe('avfs');
    const host = ['pid', 'ipc', 'uts', 'net'].map((ns) => readlinkSync(`/proc/self/ns/${ns}`));
    expect(lines.slice(6, 10)).toHaveLength(4);
    lines.slice(6, 10).forEach((inside: string, i: number) => expect(inside, host[i]).not.toBe(host[i]));
    // Nothing of the host's /etc/shadow (when there is one) can be read inside.
    expect(lines[10]).toBe('0');
  });

  it('no user namespace can be made inside (capabilities regained there; each held one counts against the host limit every sandbox needs); threads, forks and other namespaces work', async () => {
    const home = openHome();
    const probe = [
      'unshare --user true 2>/dev/null && echo "unshare -U: made" || echo "unshare -U: refused"',
      'unshare --user --map-root-user --net true 2>/dev/null && echo "unshare -Urn: made" || echo "unshare -Urn: refused"',
      // clone3 is answered ENOSYS: the C library falls back to clone for threads and processes.
      `python3 -c 'import threading, subprocess; t = threading.Thread(target=print, args=("thread ran",)); t.start(); t.join(); print(subprocess.run(["echo", "child ran"], capture_output=True, text=True).stdout.strip())'`,
    ].join('; ');
    const r = await avfs(home, ['proxy', 'exec', '--shell', probe]);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: true } });
    expect(r.json.stdout).toBe('unshare -U: refused\nunshare -Urn: refused\nthread ran\nchild ran\n');
  });

  it('io_uring is unavailable inside (ENOSYS, as on a kernel without it): its calls are a kernel surface of their own', async () => {
    const home = openHome();
    // io_uring_setup(8, &params) and io_uring_enter/register on no ring: one number on every architecture.
    const probe = `python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); p = ctypes.create_string_buffer(120)
for nr, args in ((425, (8, p)), (426, (-1, 0, 0, 0, None, 0)), (427, (-1, 0, None, 0))):
    print(nr, libc.syscall(nr, *args), ctypes.get_errno())'`;
    const r = await avfs(home, ['proxy', 'exec', '--shell', probe]);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: true } });
    expect(r.json.stdout).toBe('425 -1 38\n426 -1 38\n427 -1 38\n');
  });

  it('a policy bind over /etc shows its own files: the host\'s secrets are covered where the host\'s /etc is shown, and nothing is made in the bound directory (sandbox round)', async () => {
    const etc = join(tmp.dir, 'own-etc');
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(etc, 'shadow'), 'not the host\'s\n'); // its own file of that name, shown as it is
    for (const writable of [true, false]) {
      const home = seedHome(join(tmp.dir, `home-${++homes}`));
      setVaultPolicy(home, { sandbox: { binds: [{ source: etc, dest: '/etc', writable }, { source: '/etc', dest: '/host-etc' }] } });
      const r = await avfs(home, ['proxy', 'exec', '--shell', 'cat /etc/passwd /etc/shadow; [ -c /host-etc/shadow ] && echo covered']);
      expect(r.json, r.stdout).toMatchObject({ ok: true, stdout: 'root:x:0:0:root:/root:/bin/sh\nnot the host\'s\ncovered\n' });
      expect(readdirSync(etc).sort()).toEqual(['passwd', 'shadow']);
    }
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
    // The directory made to hold the bind (/opt) is no vault path: a write there fails in both
    // modes (in copy mode it was a scratch directory whose files vanished, unreported).
    for (const mode of ['copy', 'mount']) {
      const line = `echo x > /opt/new 2>/dev/null || echo refused; echo v > /v-${mode}.txt; ln /v-${mode}.txt /opt/linked 2>/dev/null || echo refused`;
      const beside = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', line]);
      expect(beside.json, beside.stdout).toMatchObject({ ok: true, stdout: 'refused\nrefused\n' });
      expect(beside.json.changed_files.map((c: { path: string }) => c.path)).toEqual([`/v-${mode}.txt`]);
      // Root inside owns the copy's /opt: a chmod made it writable, a file moved there left the
      // vault unreported, and /opt renamed was imported as a tree. It is a read-only mount now.
      const owner = `chmod 755 /opt 2>/dev/null || echo refused; mv /v-${mode}.txt /opt/ 2>/dev/null || echo refused; mv /opt /o2 2>/dev/null || echo refused; ls /opt`;
      const moved = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', owner]);
      expect(moved.json, moved.stdout).toMatchObject({ ok: true, stdout: 'refused\nrefused\nrefused\ntool\n', changed_files: [], skipped: [] });
      expect((await avfs(home, ['cat', `/v-${mode}.txt`], { raw: true })).stdout).toBe('v');
    }
    expect(r.json.sandbox.binds).toEqual(expect.arrayContaining([{ source: tool, dest: '/opt/tool', writable: false }, { source: cache, dest: '/cache', writable: true }]));
    expect(r.json.sandbox.reserved).toEqual(expect.arrayContaining(['/opt', '/cache']));
    expect(readFileSync(join(cache, 'c.txt'), 'utf8')).toBe('c\n');
    expect(readdirSync(tool)).toEqual(['version']);
    // A bind that is not an absolute path is refused when the policy is set.
    const bad = join(tmp.dir, 'bad-policy.json');
    writeFileSync(bad, JSON.stringify({ sandbox: { binds: [{ source: 'relative/dir' }] } }));
    const refused = await avfs(home, ['proxy', 'policy', 'set', bad]);
    expect(refused.json.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // So is one inside a system directory at a path this host lacks: the directory is read-only
    // inside, so bubblewrap could not make the mountpoint and every run failed SANDBOX_UNAVAILABLE.
    // A policy stored before the path went missing is still shown; the run says what is wrong.
    const before = (await avfs(home, ['proxy', 'policy', 'show'])).json.policy;
    writeFileSync(bad, JSON.stringify({ sandbox: { binds: [{ source: tool, dest: '/etc/avfs-test-absent/tool' }] } }));
    const absent = await avfs(home, ['proxy', 'policy', 'set', bad]);
    expect(absent.json.error).toMatchObject({ code: 'INVALID_ARGUMENT', issues: [{ path: 'sandbox.binds.0.dest' }] });
    expect((await avfs(home, ['proxy', 'policy', 'show'])).json.policy).toEqual(before);
    storeVaultPolicyAsIs(home, { sandbox: { binds: [{ source: tool, dest: '/etc/avfs-test-absent/tool' }] } });
    expect((await avfs(home, ['proxy', 'policy', 'show'])).json.policy.sandbox.binds[0].dest).toBe('/etc/avfs-test-absent/tool');
    const run = await avfs(home, ['proxy', 'exec', '--', 'true']);
    expect(run.json.error).toMatchObject({ code: 'INVALID_ARGUMENT', dest: '/etc/avfs-test-absent/tool' });
    // A bind inside another is judged by that bind's source (review): refused where it lacks the path.
    writeFileSync(bad, JSON.stringify({ sandbox: { binds: [{ source: tool, dest: '/usr/share' }, { source: tool, dest: '/usr/share/avfs-absent-inner' }] } }));
    expect((await avfs(home, ['proxy', 'policy', 'set', bad])).json.error).toMatchObject({ code: 'INVALID_ARGUMENT', issues: [{ path: 'sandbox.binds.1.dest' }] });
    // Not refused (review): an optional bind whose source this host lacks (it is skipped), and a
    // bind inside another bind whose source has the mountpoint.
    const outer = join(tmp.dir, 'outer');
    mkdirSync(join(outer, 'inner'), { recursive: true });
    for (const binds of [
      [{ source: '/usr/local/avfs-test-absent', optional: true }],
      [{ source: outer, dest: '/usr/share' }, { source: tool, dest: '/usr/share/inner' }],
    ]) {
      writeFileSync(bad, JSON.stringify({ sandbox: { binds } }));
      expect((await avfs(home, ['proxy', 'policy', 'set', bad])).json, JSON.stringify(binds)).toMatchObject({ ok: true });
      const ran = await avfs(home, ['proxy', 'exec', '--shell', 'cat /usr/share/inner/version 2>/dev/null; echo ran']);
      expect(ran.json, ran.stdout).toMatchObject({ ok: true, exit_code: 0 });
      expect(ran.json.stdout).toBe(binds.length === 2 ? 'tool 1.2\nran\n' : 'ran\n');
    }
  });

  it("a bind that covers avfs's own directories (host /tmp, the home) shows neither: no other vault through the views server's socket or mount, no database; a bind inside them is refused", async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const run = basename(runtimeDirIn(tmpdir()));
    const rel = relative('/tmp', home);
    setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: '/tmp', dest: '/hosttmp' }] } });
    // The first exec starts the home's views server, the second finds it running: hidden both times.
    // Its control socket, beside the views' mount, opens any vault of the home.
    let socket = '';
    const look = () => `ls -A /hosttmp/${run} | wc -l; ls -A /hosttmp/${rel} | wc -l; test -e /hosttmp/${socket || 'none'} && echo socket; ls /hosttmp >/dev/null && echo bound`;
    for (let i = 0; i < 3; i++) {
      const r = await avfs(home, ['proxy', 'exec', '--shell', look()]);
      expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, exit_code: 0, stdout: '0\n0\nbound\n' });
      expect(r.json.sandbox.masked).toEqual(expect.arrayContaining([`/hosttmp/${run}`, `/hosttmp/${rel}`]));
      socket = relative('/tmp', join(dirname(dirname(r.json.mountpoint)), 'ctl.sock'));
      expect(existsSync(join('/tmp', socket))).toBe(true);
    }
    // On the host the views server's directory is there, with its socket and mount.
    expect(readdirSync(runtimeDirIn(tmpdir())).some((n) => n.startsWith('views-'))).toBe(true);
    // A source reached through a symlink is checked and bound by its real path.
    const link = join(tmp.dir, 'tmp-link');
    symlinkSync('/tmp', link);
    setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: link, dest: '/hosttmp' }] } });
    const linked = await avfs(home, ['proxy', 'exec', '--shell', look()]);
    expect(linked.json, linked.stdout + linked.stderr).toMatchObject({ ok: true, stdout: '0\n0\nbound\n' });
    symlinkSync(runtimeDirIn(tmpdir()), join(tmp.dir, 'run-link'));
    setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: join(tmp.dir, 'run-link'), dest: '/views' }] } });
    expect((await avfs(home, ['proxy', 'exec', '--', 'true'])).json.error).toMatchObject({ code: 'INVALID_ARGUMENT' });
    setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: runtimeDirIn(tmpdir()), dest: '/views' }] } });
    const refused = await avfs(home, ['proxy', 'exec', '--', 'true']);
    expect(refused.json.error, refused.stdout).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/avfs's own state/) });
    // The home under another name (a bind mount of it) is the same directory: refused too, and a
    // directory inside it by that name (it showed the database and took writes).
    const alias = join(tmp.dir, 'home-alias');
    mkdirSync(alias);
    mkdirSync(join(home, 'inner'));
    const bound = await execa('mount', ['--bind', home, alias], { reject: false });
    expect(bound.exitCode, `mount --bind (root in CI): ${bound.stderr}`).toBe(0);
    try {
      for (const source of [alias, join(alias, 'inner')]) {
        setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source, dest: '/h', writable: true }] } });
        const aliased = await avfs(home, ['proxy', 'exec', '--', 'sh', '-c', 'ls /h']);
        expect(aliased.json.error, aliased.stdout).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/avfs's own state/) });
      }
    } finally {
      await execa('umount', [alias], { reject: false });
    }
  });

  it('a home inside a host system directory (/usr/local/…, a system-wide install) is hidden there too: the read-only bind of /usr shows no database of any vault', async () => {
    // Root (as CI runs) may make a directory in /usr/local; the sandbox binds all of /usr read-only.
    const sys = tempDir('avfs-test-home-', '/usr/local');
    try {
      const home = seedHome(join(sys.dir, 'home'), { '/mine.txt': 'mine\n' });
      expect((await avfs(home, ['vault', 'create', 'victim'])).code).toBe(0);
      expect((await avfs(home, ['--vault', 'victim', 'write', '/secret.txt', 'topsecret-avfs-test'])).code).toBe(0);
      setVaultPolicy(home, { extends: 'none' });
      const look = `ls -A ${home} | wc -l; cat ${home}/avfs.db ${home}/avfs.db-wal 2>/dev/null | grep -c topsecret-avfs-test; ls /usr/local >/dev/null && echo usr`;
      // The first exec starts the home's views server, the second finds it running; copy mode too.
      for (const mode of ['mount', 'mount', 'copy']) {
        const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', look]);
        expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, stdout: '0\n0\nusr\n' });
        expect(r.json.sandbox.masked).toContain(realpathSync(home));
      }
      const views = (await avfs(home, ['mounts'])).json.mounts.filter((m: { views?: boolean }) => m.views);
      for (const m of views) expect((await avfs(home, ['unmount', m.dir])).code).toBe(0);
    } finally {
      sys.cleanup();
    }
  });

  it("a views server started under another TMPDIR is hidden too: its socket and mount are found by the mount table", async () => {
    const alt = join(tmp.dir, `alt-tmp-${++homes}`);
    mkdirSync(alt);
    const home = openHome({ '/a.txt': 'a\n' });
    const started = await avfs(home, ['proxy', 'exec', '--', 'true'], { env: { TMPDIR: alt } });
    expect(started.json?.ok, started.stdout + started.stderr).toBe(true);
    expect(started.json.mountpoint.startsWith(alt)).toBe(true);
    const views = dirname(started.json.mountpoint);
    try {
      setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: tmp.dir, dest: '/scratch' }] } });
      const r = await avfs(home, ['proxy', 'exec', '--shell', `find /scratch/${basename(alt)} -name ctl.sock | wc -l; ls /scratch >/dev/null && echo bound`]);
      expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, stdout: '0\nbound\n' });
    } finally {
      // The resident server's mount lies in this test's temporary directory: it goes first.
      expect((await avfs(home, ['unmount', views])).code).toBe(0);
    }
  });

  it('a dead avfs mount anywhere (its server killed) does not fail a run with a bind: one inside the bind shows as an empty directory', async () => {
    const area = join(tmp.dir, `dead-${++homes}`);
    const dead = join(area, 'dead');
    mkdirSync(dead, { recursive: true });
    const mounted = await avfs(openHome({ '/secret.txt': 'other vault\n' }), ['mount', dead]);
    expect(mounted.json?.ok, mounted.stdout + mounted.stderr).toBe(true);
    try {
      process.kill(mounted.json.pid, 'SIGKILL');
      await expect.poll(() => execa('stat', [dead], { reject: false }).then((r) => r.stderr), { timeout: 20_000 }).toMatch(/not connected/);
      const home = openHome();
      setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: area, dest: '/scratch' }] } });
      const r = await avfs(home, ['proxy', 'exec', '--shell', 'ls -A /scratch/dead | wc -l; ls /scratch']);
      expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, stdout: '0\ndead\n' });
    } finally {
      await execa('fusermount', ['-u', '-z', dead], { reject: false });
    }
  });

  it('every SSH host private key of the host is hidden, whatever its type, and /etc/sudoers.d', async () => {
    const made = !existsSync('/etc/ssh');
    const key = '/etc/ssh/ssh_host_avfstest_key';
    mkdirSync('/etc/ssh', { recursive: true });
    writeFileSync(key, 'SECRET-KEY\n', { mode: 0o600 });
    try {
      const home = openHome();
      const r = await avfs(home, ['proxy', 'exec', '--shell', `cat ${key} 2>/dev/null | wc -c; ls -A /etc/sudoers.d 2>/dev/null | wc -l`]);
      expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, stdout: '0\n0\n' });
      expect(r.json.sandbox.masked).toContain(key);
      // A bind of the host's / shows them again: covered there too.
      setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: '/', dest: '/host' }] } });
      const again = await avfs(home, ['proxy', 'exec', '--shell', `cat /host${key} 2>/dev/null | wc -c; cat /host/etc/shadow 2>/dev/null | wc -c; test -d /host/usr && echo bound`]);
      expect(again.json, again.stdout + again.stderr).toMatchObject({ ok: true, stdout: '0\n0\nbound\n' });
    } finally {
      rmSync(key, { force: true });
      if (made) rmSync('/etc/ssh', { recursive: true, force: true });
    }
  });

  it("every file of /etc other users may not read, and every directory they may not search, is hidden (root inside is the host's uid 0)", async () => {
    const file = '/etc/avfs-test-private.conf';
    const dir = '/etc/avfs-test-private.d';
    const open = '/etc/avfs-test-public.conf';
    writeFileSync(file, 'PRIVATE-CONF\n', { mode: 0o640 });
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'inner.conf'), 'PRIVATE-INNER\n', { mode: 0o644 });
    writeFileSync(open, 'PUBLIC\n', { mode: 0o644 });
    try {
      const home = openHome();
      const r = await avfs(home, ['proxy', 'exec', '--shell', `cat ${file} ${dir}/inner.conf 2>/dev/null; ls -A ${dir} | wc -l; cat ${open}`]);
      expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, stdout: '0\nPUBLIC\n' });
      expect(r.json.sandbox.masked).toEqual(expect.arrayContaining([file, dir]));
      expect(r.json.sandbox.masked).not.toContain(open);
    } finally {
      rmSync(file, { force: true });
      rmSync(dir, { recursive: true, force: true });
      rmSync(open, { force: true });
    }
  });

  /**
   * `cat /a.txt` through runExec with SSH host keys made in /etc/ssh first; `onStart` (after the
   * plan is made, before bubblewrap) gets the start's number and removes what the test says. The
   * keys, and a /etc/ssh made here, go afterwards.
   */
  async function runWhileHostKeysGo(keys: string[], onStart: (start: number) => void) {
    const made = !existsSync('/etc/ssh');
    mkdirSync('/etc/ssh', { recursive: true });
    for (const key of keys) writeFileSync(key, 'SECRET-KEY\n', { mode: 0o600 });
    const home = openHome({ '/a.txt': 'a\n' });
    const { openStore } = await import('../../src/store/store.js');
    const { runExec } = await import('../../src/api/exec.js');
    const store = openStore(home);
    try {
      let starts = 0;
      const result = await runExec(store, 'default', { argv: ['cat', '/a.txt'], onStart: () => onStart(starts++) });
      return { result, starts };
    } finally {
      store.release();
      for (const key of keys) rmSync(key, { force: true });
      if (made) rmSync('/etc/ssh', { recursive: true, force: true });
    }
  }

  it('an SSH host key removed between planning and bubblewrap does not fail the run: planned again, it runs', async () => {
    const key = '/etc/ssh/ssh_host_avfsrace_key';
    // The key goes away between the plan and bubblewrap.
    const { result: r, starts } = await runWhileHostKeysGo([key], () => rmSync(key, { force: true }));
    expect(r.stdout).toBe('a\n');
    expect(r.exitCode).toBe(0);
    expect(r.sandbox.enforced).toBe(true);
    expect(starts).toBe(2);
    expect(r.sandbox.masked).not.toContain(key);
  });

  it('hidden host files that keep going away between planning and bubblewrap (one per start) are planned around each time', async () => {
    const keys = ['/etc/ssh/ssh_host_avfsrace1_key', '/etc/ssh/ssh_host_avfsrace2_key'];
    // The first start loses one key, the second the other (CI: two tests' files going at once).
    const { result: r, starts } = await runWhileHostKeysGo(keys, (start) => rmSync(keys[start] ?? keys[0]!, { force: true }));
    expect([r.stdout, r.exitCode, r.sandbox.enforced, starts]).toEqual(['a\n', 0, true, 3]);
  });

  it('without bubblewrap: --sandbox auto runs unsandboxed and says so (JSON and stderr), --sandbox required refuses', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const env = { AVFS_BWRAP: join(tmp.dir, 'no-bwrap-here') };
    const auto = await avfs(home, ['proxy', 'exec', '--', 'true'], { env });
    expect(auto.json).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: false, reason: expect.any(String) } });
    // The warning for people carries the reason.
    expect(auto.stderr).toContain(auto.json.sandbox.reason);
    // A shell says so before the session starts: what it prints comes after the warning.
    const shell = await avfs(home, ['shell'], { env, input: 'echo session-output >&2\nexit 0\n' });
    expect(shell.json, shell.stderr).toMatchObject({ ok: true, sandbox: { enforced: false } });
    const warned = shell.stderr.indexOf('WITHOUT the sandbox');
    expect(warned, shell.stderr).toBeGreaterThanOrEqual(0);
    expect(shell.stderr.indexOf('session-output')).toBeGreaterThan(warned);
    expect(shell.stderr.slice(warned)).toContain(shell.json.sandbox.reason);
    const required = await avfs(home, ['proxy', 'exec', '--sandbox', 'required', '--', 'true'], { env });
    expect(required.code).toBe(1);
    expect(required.json.error.code).toBe('SANDBOX_UNAVAILABLE');
    // A policy that requires the sandbox cannot be loosened from the command line.
    setVaultPolicy(home, { sandbox: { mode: 'required' } });
    expect((await avfs(home, ['proxy', 'exec', '--sandbox', 'auto', '--', 'true'], { env })).json.error.code).toBe('SANDBOX_UNAVAILABLE');
  });

  it('policy check only looks: it says the run would be sandboxed and makes no runtime directory on the host', async () => {
    const home = openHome();
    const parents = [join(tmp.dir, 'check-tmp'), join(tmp.dir, 'check-proxy-tmp')];
    for (const dir of parents) mkdirSync(dir);
    const env = { TMPDIR: parents[0]!, AVFS_PROXY_TMPDIR: parents[1]! };
    const check = await avfs(home, ['proxy', 'policy', 'check', '--', 'ls'], { env });
    expect(check.json).toMatchObject({ ok: true, sandboxed: true, decision: { action: 'allow' } });
    for (const dir of parents) expect(readdirSync(dir)).toEqual([]);
    // Without bubblewrap it says so, as exec would run it.
    const without = await avfs(home, ['proxy', 'policy', 'check', '--', 'ls'], { env: { ...env, AVFS_BWRAP: join(tmp.dir, 'no-bwrap-here') } });
    expect(without.json).toMatchObject({ ok: true, sandboxed: false });
  });

  it('where bubblewrap cannot create namespaces, auto runs unsandboxed and says why, required refuses; a sandbox that fails for its own reasons is never run without it', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    // A bubblewrap like one in a locked-down container: it cannot make any namespace.
    const fake = join(tmp.dir, 'bwrap-no-userns');
    writeFileSync(fake, '#!/bin/sh\necho "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n', { mode: 0o755 });
    const env = { AVFS_BWRAP: fake };
    const auto = await avfs(home, ['proxy', 'exec', '--shell', 'echo ran > ran.txt'], { env });
    expect(auto.json, auto.stdout + auto.stderr).toMatchObject({ ok: true, exit_code: 0, sandbox: { enforced: false } });
    expect(auto.json.sandbox.reason).toContain('No permissions to create new namespace');
    expect(auto.stderr).toContain(auto.json.sandbox.reason);
    expect(paths(auto)).toEqual(['/ran.txt']);
    const before = vaultTree(home);
    const required = await avfs(home, ['proxy', 'exec', '--sandbox', 'required', '--shell', 'echo again > again.txt'], { env });
    expect(required.code).toBe(1);
    expect(required.json.error.code).toBe('SANDBOX_UNAVAILABLE');
    expect(vaultTree(home)).toEqual(before);
    // The real bubblewrap, with a bind it cannot make (a directory over a file): this machine can
    // sandbox, so the run is refused rather than run unsandboxed.
    setVaultPolicy(home, { extends: 'none', sandbox: { binds: [{ source: tmp.dir, dest: '/etc/passwd' }] } });
    const bad = await avfs(home, ['proxy', 'exec', '--shell', 'echo bad > bad.txt']);
    expect(bad.code, bad.stdout).toBe(1);
    expect(bad.json.error.code).toBe('SANDBOX_UNAVAILABLE');
    expect(vaultTree(home)).toEqual(before);
  });

  it('a sandbox that fails as the run starts: the command is judged again as it would run without it (a host path is denied), and an agent\'s run is refused', async () => {
    // The default policy (not openHome's allow-all): its host-path rule judges unsandboxed runs.
    const home = seedHome(join(tmp.dir, `home-${++homes}`), { '/etc-copy.txt': 'vault\n' });
    // Planned with this "bubblewrap", the run is sandboxed; started, it fails, and so does the probe.
    const fake = join(tmp.dir, 'bwrap-fails-at-start');
    writeFileSync(fake, '#!/bin/sh\necho "bwrap: Creating new namespace failed: No space left on device" >&2\nexit 1\n', { mode: 0o755 });
    const before = vaultTree(home);
    const person = await avfs(home, ['proxy', 'exec', '--', 'cat', '/etc/hostname'], { env: { AVFS_BWRAP: fake } });
    expect(person.json, person.stdout).toMatchObject({ ok: false, error: { code: 'DENIED' } });
    expect(person.json.error.message).toContain('host-paths');
    // A command the unsandboxed judgement allows still runs, unsandboxed and saying so.
    const relative = await avfs(home, ['proxy', 'exec', '--', 'cat', 'etc-copy.txt'], { env: { AVFS_BWRAP: fake } });
    expect(relative.json).toMatchObject({ ok: true, stdout: 'vault\n', sandbox: { enforced: false } });
    // A person's shell would open on the host where they expect the vault as /: refused.
    const shell = await avfs(home, ['shell'], { env: { AVFS_BWRAP: fake }, input: 'echo ran > shell.txt\n' });
    expect(shell.json, shell.stdout).toMatchObject({ ok: false, error: { code: 'SANDBOX_UNAVAILABLE' } });
    const { AVFS } = await import('../../src/sdk/index.js');
    const saved = process.env.AVFS_BWRAP;
    process.env.AVFS_BWRAP = fake;
    try {
      const sdk = new AVFS({ home, vault: 'default' });
      await expect(sdk.proxyExec('cat', ['etc-copy.txt'], { agent: true })).rejects.toMatchObject({ code: 'SANDBOX_UNAVAILABLE' });
      sdk.close();
    } finally {
      if (saved === undefined) delete process.env.AVFS_BWRAP;
      else process.env.AVFS_BWRAP = saved;
    }
    expect(vaultTree(home)).toEqual(before);
    // Where the unsandboxed judgement takes a checkpoint, the run has it, and reports that judgement.
    setVaultPolicy(home, { host_paths: { action: 'allow_with_checkpoint' } });
    const host = await avfs(home, ['proxy', 'exec', '--', 'cat', '/etc/hostname'], { env: { AVFS_BWRAP: fake } });
    expect(host.json, host.stdout).toMatchObject({ ok: true, sandbox: { enforced: false }, decision: { action: 'allow_with_checkpoint', rule: 'host-paths' }, checkpoint: expect.stringMatching(/^proxy-/) });
    expect((await avfs(home, ['proxy', 'undo', host.json.exec_id])).json).toMatchObject({ ok: true });
  });

  it("the command's environment is checked as bubblewrap reads it: a NUL in the policy's env.set is refused when the policy is set; more variables than bubblewrap takes are INVALID_ARGUMENT before anything runs", async () => {
    const home = openHome();
    const file = join(tmp.dir, 'nul-env-policy.json');
    writeFileSync(file, JSON.stringify({ extends: 'none', env: { set: { A: 'x\u0000--bind\u0000/\u0000/hostroot' } } }));
    const set = await avfs(home, ['proxy', 'policy', 'set', file]);
    expect(set.json, set.stdout).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    const many = Array.from({ length: 3100 }, (_, i) => ['--env', `V${i}=x`]).flat();
    const r = await avfs(home, ['proxy', 'exec', ...many, '--', 'sh', '-c', 'echo ran > /many.txt']);
    expect(r.json, r.stdout).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', option: 'env', reason: 'too_many' } });
    expect(Object.keys(vaultTree(home))).toEqual(['/']);
  });

  it('avfs shell opens a shell in the sandbox on a terminal (under script) and reports what it changed', async () => {
    const home = openHome({ '/a.txt': 'a\n' });
    const tag = `AVFS_TEST_SHELL=${Math.random().toString(36).slice(2)}`;
    const r = await execa('script', ['-qefc', `node ${BIN} shell --cwd /`, '/dev/null'], {
      input: `echo made-in-shell > /made.txt\nrm /a.txt\ntest -t 0 && echo "on-a-tty-$((1+1))"\necho "root-is-$AVFS_MOUNTPOINT-vault"\n${tag} sleep 1000 & echo "job-started-$((2+2))"\nexit 3\n`,
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
    // The job the shell left running ended with it.
    expect(r.stdout).toContain('job-started-4');
    expect(processes().filter((p) => p.env.includes(tag)).map((p) => p.cmdline)).toEqual([]);
  });
});
