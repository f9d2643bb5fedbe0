import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { avfs, avfsBytes, BIN, expectContentIntact, tempDir, type CliResult } from '../helpers.js';
import { describeSandbox, fuse, seedHome, setVaultPolicy, skipMountTests, vaultTree } from './helpers.js';
import { runtimeDirIn } from '../../src/store/host-dirs.js';
import { openStore } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('avfs-proxy-modes-');
});
afterAll(() => tmp.cleanup());

let homes = 0;
const newHome = (files: Record<string, string>) => seedHome(join(tmp.dir, `home-${++homes}`), files);

/**
 * A copy-mode exec of `script` paused as it starts, for the test to act while it runs: resolves
 * once the command waits, with the run and `go`, which lets it go on. Unsandboxed, so the command
 * can wait on host files (named through --env: the policy refuses host paths on the command line).
 */
async function pausedCopyExec(home: string, script: string): Promise<{ run: Promise<CliResult>; go: () => void }> {
  setVaultPolicy(home, { sandbox: { mode: 'off' } });
  const started = join(tmp.dir, `started-${homes}`);
  const go = join(tmp.dir, `go-${homes}`);
  const run = avfs(home, ['proxy', 'exec', '--mode', 'copy', '--env', `STARTED=${started}`, '--env', `GO=${go}`, '--shell', `touch "$STARTED"; while [ ! -e "$GO" ]; do sleep 0.05; done; ${script}`]);
  for (let i = 0; i < 600 && !existsSync(started); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  return { run, go: () => writeFileSync(go, '') };
}

describe('copy mode specifics', () => {
  it('imports only real changes: same-content rewrites, type changes, directory modes', async () => {
    const home = newHome({ '/same.txt': 'same\n', '/becomes-link.txt': 'file\n', '/d/x': 'x\n' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'echo same > same.txt; rm becomes-link.txt; ln -s same.txt becomes-link.txt; chmod 700 d']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.changed_files.map(({ versions: _v, ...c }: any) => c)).toEqual([
      {
        path: '/becomes-link.txt',
        kind: 'modified',
        type: 'symlink',
        type_before: 'file',
        size_before: 5,
        size_after: 8,
        hash_before: sha('file\n'),
        hash: null,
        mode_before: '0644',
        mode_after: '0777',
        target_before: null,
        target: 'same.txt',
      },
      { path: '/d', kind: 'modified', type: 'directory', size_before: 0, size_after: 0, hash_before: null, hash: null, mode_before: '0755', mode_after: '0700' },
    ]);
  });

  it('keeps the times the command gave directories, symlinks and FIFOs, made or already there (tar xp, cp -a, touch -h)', async () => {
    const home = newHome({ '/proj/old/x': 'x\n' });
    const mtimes = () => {
      const store = openStore(home);
      try {
        const fs = new VaultFs(store, 'default', { source: 'cli' });
        return Object.fromEntries(['/proj/d', '/proj/s', '/proj/p', '/proj/old'].map((p) => [p, new Date(fs.lstat(p).mtime).toISOString().slice(0, 10)]));
      } finally {
        store.release();
      }
    };
    const made = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'cd /proj; ln -s x s; touch -h -d 2002-01-01 s; mkfifo p; touch -d 2003-01-01 p; mkdir d; touch -d 2004-01-01 d; touch -d 2001-01-01 old']);
    expect(made.code, made.stdout + made.stderr).toBe(0);
    expect(mtimes()).toEqual({ '/proj/d': '2004-01-01', '/proj/s': '2002-01-01', '/proj/p': '2003-01-01', '/proj/old': '2001-01-01' });
    const again = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'cd /proj; touch -h -d 2006-01-01 s; touch -d 2007-01-01 d p']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.json.changed_files).toEqual([]); // times only
    expect(mtimes()).toEqual({ '/proj/d': '2007-01-01', '/proj/s': '2006-01-01', '/proj/p': '2007-01-01', '/proj/old': '2001-01-01' });
  });

  it('two runs appending to one file at once keep both appends (small and chunked files); a rewrite still wins', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024) + '\n';
    const home = newHome({ '/log': 'base\n', '/big.log': big, '/rewritten': 'old\n' });
    const run = (shell: string) => avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', shell]);
    // Both copies are made before either run writes: each appends to the base it saw.
    const [a, b] = await Promise.all([
      run('sleep 1; echo A >> log; echo A >> big.log'),
      run('sleep 2; echo B >> log; echo B >> big.log; echo mine > rewritten'),
    ]);
    expect([a.code, b.code], a.stdout + a.stderr + b.stdout + b.stderr).toEqual([0, 0]);
    const cat = async (p: string) => (await avfsBytes(home, ['cat', p])).stdout.toString();
    expect(await cat('/log')).toBe('base\nA\nB\n');
    expect(await cat('/big.log')).toBe(big + 'A\nB\n');
    expect(await cat('/rewritten')).toBe('mine\n');
    const store = openStore(home);
    try {
      expectContentIntact(store);
    } finally {
      store.release();
    }
  });

  it('records a FIFO the command makes as a FIFO entry (special files are entries; nothing is skipped)', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'mkfifo pipe && echo b > b.txt']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind, c.type])).toEqual([
      ['/b.txt', 'added', 'file'],
      ['/pipe', 'added', 'fifo'],
    ]);
    expect(r.json.skipped).toEqual([]);
    expect(vaultTree(home)['/pipe']?.type).toBe('p');
  });

  it('copy mode: a symlink whose target is not UTF-8 is skipped and reported, never stored with U+FFFD', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--', 'python3', '-c', 'import os; os.symlink(b"tgt\\xff", "/l"); os.symlink("ok", "/m")']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.skipped).toEqual([{ path: '/l', reason: 'symlink target is not valid UTF-8' }]);
    expect(r.json.changed_files.map((c: any) => [c.path, c.target])).toEqual([['/m', 'ok']]);
    expect(vaultTree(home)['/l']).toBeUndefined();
  });

  it('keeps writes made to the vault by others during the run, and reports the run\'s own nested avfs writes', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    // The nested avfs writes straight into the store (tagged with this exec's id by AVFS_EXEC_ID);
    // the copy never sees /nested.txt, and the import must not delete it.
    // `avfs` on the command's PATH; its absolute arguments are vault paths (exempt from host-path checks).
    const bin = join(tmp.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'avfs'), `#!/bin/sh\nexec node ${BIN} "$@"\n`, { mode: 0o755 });
    const env = { PATH: `${bin}:${process.env.PATH}` };
    // Only an unsandboxed run can reach the avfs home at all.
    setVaultPolicy(home, { sandbox: { mode: 'off' } });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'avfs write /nested.txt nested > /dev/null && echo b > b.txt'], { env });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/b.txt', 'added'], ['/nested.txt', 'added']]);
    expect(vaultTree(home)['/nested.txt']).toMatchObject({ type: 'f', hash: sha('nested') });

    // Someone else creating what the command creates, or removing what it removes, is not an error.
    const race = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'avfs mkdir /shared && avfs rm /a.txt && mkdir shared && echo f > shared/f && rm a.txt'], { env });
    expect(race.code, race.stdout + race.stderr).toBe(0);
    expect(race.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/a.txt', 'deleted'], ['/shared', 'added'], ['/shared/f', 'added']]);
    expect(vaultTree(home)['/shared/f']).toMatchObject({ type: 'f', hash: sha('f\n') });
  });

  it('imports a run that made a tree past PATH_MAX, all of it, and removes its copy', async () => {
    const home = newHome({ '/important': 'original' });
    const copies = join(tmp.dir, `copies-${homes}`);
    mkdirSync(copies);
    // Relative paths reach any depth: 17 names of 250 bytes pass PATH_MAX (removing the copy recursed on the JS stack and named every path whole).
    const make = 'import os; open("/important", "w").write("tampered"); os.chdir("/")\nfor i in range(17): os.mkdir("d" * 250); os.chdir("d" * 250)';
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--', 'python3', '-c', make], { env: { AVFS_PROXY_TMPDIR: copies } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.changed_files.find((c: any) => c.path === '/important')).toMatchObject({ kind: 'modified', hash: sha('tampered') });
    // Its names past PATH_MAX on the host are imported too (they were left out, reported).
    expect(r.json.skipped).toEqual([]);
    expect(r.json.changed_files.filter((c: any) => c.path.startsWith('/d')).map((c: any) => [c.path, c.kind])).toEqual(
      Array.from({ length: 17 }, (_, i) => [`/${'d'.repeat(250)}`.repeat(i + 1), 'added']),
    );
    expect(readdirSync(runtimeDirIn(copies))).toEqual([]);
  });

  it('leaves out a file that gained more than 1 GiB of holes (`truncate -s 2G`), at once, as the mount refuses it', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'truncate -s 2G big && echo b > b.txt']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.skipped).toEqual([{ path: '/big', reason: expect.stringMatching(/holes/) }]);
    expect(r.json.changed_files.map((c: any) => c.path)).toEqual(['/b.txt']);
    expect(vaultTree(home)['/big']).toBeUndefined();
  });

  it('bounds the holes of the whole run, not only of each file: files past it are left out, each with its reason', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    // Each alone is within the bound (1 GiB); the second takes the run past it, and so does the third.
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'truncate -s 520M s1 s2 s3 && echo b > b.txt']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const skipped = r.json.skipped.map((s: { path: string }) => s.path).sort();
    expect(skipped).toHaveLength(2);
    expect(r.json.skipped.map((s: { reason: string }) => s.reason)).toEqual([expect.stringMatching(/a run may gain/), expect.stringMatching(/a run may gain/)]);
    const imported = ['/s1', '/s2', '/s3'].filter((p) => !skipped.includes(p));
    expect(r.json.changed_files.map((c: any) => c.path).sort()).toEqual(['/b.txt', ...imported]);
    expect(vaultTree(home)[imported[0]!]).toMatchObject({ type: 'f', size: 520 * 1024 * 1024 });
  });

  it('a rename that leaves a whiteout (RENAME_WHITEOUT, a character device 0:0 tmpfs makes without CAP_MKNOD) is a rename: no device is imported', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    const whiteout = 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = libc.renameat2(-100, b"a.txt", -100, b"b.txt", 4); assert r == 0, os.strerror(ctypes.get_errno()); st = os.lstat("a.txt"); print(oct(st.st_mode), st.st_rdev)';
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--', 'python3', '-c', whiteout]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.stdout).toBe('0o20000 0\n'); // the copy held the whiteout
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind, c.type])).toEqual([['/a.txt', 'deleted', 'file'], ['/b.txt', 'added', 'file']]);
    const tree = vaultTree(home);
    expect(tree['/a.txt']).toBeUndefined();
    expect(tree['/b.txt']).toMatchObject({ type: 'f', hash: sha('a\n') });
  });

  it("removes only what the command saw: a name someone wrote during the run into a directory it moves stays, and is not reported", async () => {
    const home = newHome({ '/d/a': 'old' });
    const { run, go } = await pausedCopyExec(home, 'mv d e');
    expect((await avfs(home, ['write', '/d/new', "person's work"])).code).toBe(0);
    go();
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/d/a', 'deleted'], ['/e', 'added'], ['/e/a', 'added']]);
    const tree = vaultTree(home);
    expect(tree['/d/new']).toMatchObject({ type: 'f', hash: sha("person's work") });
    expect(tree['/d']).toMatchObject({ type: 'd' });
  });

  it("copy mode: a chmod by the command of a file someone moved, replaced or made a symlink during the run is listed in skipped, applied to nothing else; the rest is imported", async () => {
    const home = newHome({ '/m.txt': 'm\n', '/a.sh': 'a\n', '/b.sh': 'b\n', '/c.sh': 'c\n', '/d.sh': 'd\n', '/secret': 's\n', '/e.sh': 'e\n' });
    const { run, go } = await pausedCopyExec(home, 'chmod 600 m.txt a.sh b.sh c.sh d.sh e.sh; echo n > n.txt');
    expect((await avfs(home, ['mv', '/m.txt', '/moved.txt'])).code).toBe(0);
    const store = openStore(home);
    try {
      const person = new VaultFs(store, 'default', { source: 'cli' });
      person.rm('/a.sh');
      person.writeFile('/a.sh', "the person's new file");
      person.rm('/b.sh');
      person.mkdir('/b.sh');
      person.rm('/c.sh');
      person.symlink('secret', '/c.sh');
      person.rm('/d.sh');
      person.symlink('nowhere', '/d.sh');
      person.writeFile('/e.sh', "the person's new content"); // the same file: the chmod meets it
    } finally {
      store.release();
    }
    go();
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/e.sh', 'modified'], ['/n.txt', 'added']]);
    const skipped = Object.fromEntries(r.json.skipped.map((s: any) => [s.path, s.reason]));
    expect(Object.keys(skipped).sort()).toEqual(['/a.sh', '/b.sh', '/c.sh', '/d.sh', '/m.txt']);
    expect(skipped['/m.txt']).toContain('removed from the vault while the command ran: its chmod to 0600 was not applied');
    expect(skipped['/c.sh']).toContain('replaced in the vault while the command ran (now a symlink)');
    const tree = vaultTree(home);
    expect(tree['/moved.txt']).toMatchObject({ mode: 0o644 });
    expect(tree['/a.sh']).toMatchObject({ type: 'f', mode: 0o644, hash: sha("the person's new file") });
    expect(tree['/b.sh']).toMatchObject({ type: 'd', mode: 0o755 });
    expect(tree['/secret']).toMatchObject({ mode: 0o644 });
    expect(tree['/e.sh']).toMatchObject({ mode: 0o600, hash: sha("the person's new content") });
    expect(tree['/n.txt']).toMatchObject({ hash: sha('n\n') });
  });

  it('copy mode: nothing goes through a symlink someone put in place of a directory during the run; those paths are listed in skipped', async () => {
    const home = newHome({ '/w/dir/old': 'old\n', '/w/dir/gone': 'gone\n', '/w/dir/edit': 'edit\n', '/src/main.py': 'precious\n', '/src/old': 'src old\n', '/src/gone': 'src gone\n', '/src/edit': 'src edit\n' });
    const { run, go } = await pausedCopyExec(home, 'echo new > w/dir/main.py; rm w/dir/gone; echo more >> w/dir/edit; ln w/dir/old w/dir/hard; mkdir w/dir/sub; chmod 600 w/dir/old; echo own > w/elsewhere');
    const store = openStore(home);
    try {
      const person = new VaultFs(store, 'default', { source: 'cli' });
      person.rm('/w/dir', { recursive: true });
      person.symlink('/src', '/w/dir');
    } finally {
      store.release();
    }
    go();
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/w/elsewhere', 'added']]);
    const skipped = Object.fromEntries(r.json.skipped.map((s: any) => [s.path, s.reason]));
    expect(Object.keys(skipped).sort()).toEqual(['/w/dir/edit', '/w/dir/hard', '/w/dir/main.py', '/w/dir/old', '/w/dir/sub']);
    for (const path of ['/w/dir/main.py', '/w/dir/old']) expect(skipped[path]).toBe('/w/dir above it became a symlink in the vault while the command ran; not imported through it');
    const tree = vaultTree(home);
    expect(tree['/w/dir']).toMatchObject({ type: 'l', target: '/src' });
    expect(Object.keys(tree).filter((p) => p.startsWith('/src/')).sort()).toEqual(['/src/edit', '/src/gone', '/src/main.py', '/src/old']);
    expect([tree['/src/main.py'], tree['/src/gone'], tree['/src/edit'], tree['/src/old']]).toMatchObject([
      { hash: sha('precious\n') },
      { hash: sha('src gone\n') },
      { hash: sha('src edit\n') },
      { hash: sha('src old\n'), mode: 0o644 },
    ]);
  });

  it('keeps the copy and says where when the changes cannot be imported (quota), changing nothing', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    expect((await avfs(home, ['quota', 'set', '--max-bytes', '1000'])).code).toBe(0);
    const before = vaultTree(home);
    // A program the command made set-user-ID (found by an adversarial run) keeps its bits nowhere on the host, as with export.
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', 'head -c 5000 /dev/zero > big.bin; echo x > suid; chmod 6755 suid; mkdir -p d; echo y > d/sgid; chmod 2711 d/sgid; echo done']);
    expect(r.code).toBe(6);
    expect(r.json.error).toMatchObject({ code: 'QUOTA_EXCEEDED', exit_code: 0, timed_out: false });
    expect(existsSync(join(r.json.error.kept_dir, 'big.bin'))).toBe(true);
    // A copy made on tmpfs (memory) is kept on disk, in the home, so refused runs cannot pin memory.
    const TMPFS = 0x01021994;
    if (statfsSync(home).type !== TMPFS) {
      expect(statfsSync(r.json.error.kept_dir).type).not.toBe(TMPFS);
      const shm = `/dev/shm/avfs-run-${process.getuid!()}`;
      expect(existsSync(shm) ? readdirSync(shm).filter((n) => n.includes(r.json.error.exec_id)) : []).toEqual([]);
    }
    expect([lstatSync(join(r.json.error.kept_dir, 'suid')).mode & 0o7777, lstatSync(join(r.json.error.kept_dir, 'd/sgid')).mode & 0o7777]).toEqual([0o755, 0o711]);
    rmSync(dirname(r.json.error.kept_dir), { recursive: true, force: true });
    expect(vaultTree(home)).toEqual(before);
  });
});

describe.skipIf(skipMountTests('mount mode specifics'))('mount mode specifics', () => {
  it('a run that ends while the views server is busy storing another run\'s large file waits for it, and is reported whole', async () => {
    if (!fuse.ok) throw new Error(`FUSE is unavailable: ${fuse.reason}`);
    const home = newHome({ '/a.txt': 'a\n' });
    // The first run starts the home's views server, so the next ones' opens are answered at once.
    expect((await avfs(home, ['proxy', 'exec', '--', 'true'])).json?.ok).toBe(true);
    const env = { AVFS_VIEWS_REPLY_MS: '500' };
    // `short` opens its view, writes, then sleeps; meanwhile `long` closes a 1 GiB sparse file,
    // which the server hashes and chunks for seconds, so `short` ends, and asks the server to
    // close its view, while the server is still storing `long`'s file. It gave up after the reply
    // time and reported a failure without its changes, which were stored afterwards.
    const short = avfs(home, ['proxy', 'exec', '--checkpoint', '--shell', 'echo s > short.txt; sleep 4'], { env });
    // `short` has written (through its view) before `long` starts.
    for (let i = 0; i < 400 && (await avfs(home, ['cat', '/short.txt'])).code !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const big = 'import os; fd = os.open("big", os.O_CREAT | os.O_WRONLY); os.pwrite(fd, b"x", (1 << 30) - 1); os.close(fd)';
    const long = await avfs(home, ['proxy', 'exec', '--', 'python3', '-c', big], { env });
    const r = await short;
    expect(long.json, long.stdout + long.stderr).toMatchObject({ ok: true, exit_code: 0 });
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, mode: 'mount', exit_code: 0 });
    expect(r.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/short.txt', 'added']]);
    const undo = await avfs(home, ['proxy', 'undo', r.json.exec_id]);
    expect(undo.json, undo.stdout).toMatchObject({ ok: true });
    expect(Object.keys(vaultTree(home)).sort()).toEqual(['/', '/a.txt', '/big']);
  });

  it("bounds the zeros a run's files gain in all, as copy mode does: a truncate past it fails EFBIG, what came before is stored", async () => {
    if (!fuse.ok) throw new Error(`FUSE is unavailable: ${fuse.reason}`);
    const home = newHome({ '/a.txt': 'a\n' });
    // Each alone is within the per-file bound (1 GiB between saves); the second takes the run past it.
    const r = await avfs(home, ['proxy', 'exec', '--shell', 'truncate -s 600M s1; truncate -s 600M s2; echo "s2 $?"; truncate -s 10 s3 && echo b > b.txt']);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ ok: true, mode: 'mount', exit_code: 0 });
    expect(r.json.stderr).toMatch(/File too large/);
    expect(r.json.stdout).toBe('s2 1\n');
    const tree = vaultTree(home);
    expect([tree['/s1']?.size, tree['/s2']?.size, tree['/s3']?.size, tree['/b.txt']?.size]).toEqual([600 * 1024 * 1024, 0, 10, 2]);
  });

  it('never reuses a live `avfs mount` of the vault: the run gets its own mount, whose writes are all its own', async () => {
    if (!fuse.ok) throw new Error(`FUSE is unavailable: ${fuse.reason}`);
    const home = newHome({ '/a.txt': 'a\n' });
    const dir = join(tmp.dir, `mnt-${homes}`);
    mkdirSync(dir);
    const m = await avfs(home, ['mount', dir]);
    expect(m.code, m.stdout + m.stderr).toBe(0);
    try {
      const r = await avfs(home, ['proxy', 'exec', '--', 'sh', '-c', 'echo b > b.txt; rm a.txt; pwd']);
      expect(r.code, r.stdout).toBe(0);
      expect(r.json).toMatchObject({ mode: 'mount', mode_reason: null });
      expect(r.json.mountpoint).not.toBe(dir);
      expect(r.json.stdout).toBe(r.json.sandbox.enforced ? '/\n' : `${r.json.mountpoint}\n`);
      expect(r.json.changed_files.map((c: any) => [c.path, c.kind])).toEqual([['/a.txt', 'deleted'], ['/b.txt', 'added']]);
      // The live mount shows the run's changes like any other change to the vault.
      expect(readFileSync(join(dir, 'b.txt'), 'utf8')).toBe('b\n');
      const log = await avfs(home, ['log', '/b.txt']);
      expect(log.json.versions.map((v: any) => [v.source, v.exec_id])).toEqual([['proxy', r.json.exec_id]]);
    } finally {
      await avfs(home, ['unmount', dir, '--lazy']);
      if (readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `)) await execa('umount', ['-l', dir], { reject: false });
    }
  });
});

describeSandbox('copy mode in the sandbox', () => {
  it('a vault whose / or working directory no one may search refuses the run with DENIED naming it, not as a sandbox failure; a search bit given back lets it run', async () => {
    const home = newHome({ '/src/a': 'a\n' });
    let r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--', 'chmod', '600', '/src']);
    expect(r.code, r.stdout).toBe(0);
    r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--cwd', '/src', '--', 'true']);
    expect(r.code, r.stdout).toBe(5);
    expect(r.json.error).toMatchObject({ code: 'DENIED', reason: 'not_searchable', path: '/src' });
    r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--', 'chmod', '644', '/']);
    expect(r.code, r.stdout).toBe(0);
    r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--', 'true']);
    expect(r.json.error).toMatchObject({ code: 'DENIED', reason: 'not_searchable', path: '/' });
    // Fixed from outside the copy (the SDK's store API here; `--mode mount -- chmod` where FUSE is).
    const store = openStore(home);
    try {
      const fs = new VaultFs(store, 'default', { source: 'sdk' });
      fs.chmod('/', 0o755);
      fs.chmod('/src', 0o755);
    } finally {
      store.release();
    }
    r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--cwd', '/src', '--', 'cat', 'a']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.stdout).toBe('a\n');
  });
});
