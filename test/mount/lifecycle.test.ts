import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BIN, avfsBytes, expectSameBytes } from '../helpers.js';
import { avfs, describeMount, forceCleanup, isMounted, mountFixture, sh, shOk, tempDir, type MountFixture } from './helpers.js';
import { findLiveMount, listMounts, mountVault, unmountDir } from '../../src/mount/index.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
};
async function waitFor(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(25);
  }
  return cond();
}

describeMount('mount sessions', () => {
  let tmp: ReturnType<typeof tempDir>;
  let home: string;
  const run = (args: string[], opts?: Parameters<typeof avfs>[2]) => avfs(home, args, opts);
  const mounted: string[] = [];
  const newDir = (name: string) => {
    const d = join(tmp.dir, name);
    mkdirSync(d, { recursive: true });
    mounted.push(d);
    return d;
  };

  beforeAll(() => {
    tmp = tempDir('avfs-mount-life-');
    home = join(tmp.dir, 'home');
  });
  afterAll(async () => {
    for (const d of mounted) {
      await run(['unmount', d, '--lazy', '--timeout', '3000']);
      await forceCleanup(d);
    }
    tmp.cleanup();
  });

  it('mounts in the background, answers, lists, and unmounts (a second unmount is harmless)', async () => {
    const dir = newDir('m1');
    await run(['write', '/hello.txt', 'hello world']);
    const r = await run(['mount', dir]);
    expect(r.json, r.stderr).toMatchObject({ ok: true, vault: 'default', dir, state: 'mounted' });
    expect(r.code).toBe(0);
    expect(typeof r.json.pid).toBe('number');
    expect(typeof r.json.session_id).toBe('string');
    expect(alive(r.json.pid)).toBe(true);
    expect(statSync(dir).dev).not.toBe(statSync(dirname(dir)).dev);
    expect(readFileSync(join(dir, 'hello.txt'), 'utf8')).toBe('hello world');

    for (const args of [['mounts'], ['mount', '--list']]) {
      const list = await run(args);
      expect(list.json.ok).toBe(true);
      const m = list.json.mounts.find((x: any) => x.dir === dir);
      expect(m).toMatchObject({ vault: 'default', dir, pid: r.json.pid, state: 'mounted', session_id: r.json.session_id });
      expect(Date.parse(m.since)).toBeGreaterThan(0);
    }

    const u = await run(['unmount', dir]);
    expect(u.json).toMatchObject({ ok: true, dir, state: 'unmounted', was_mounted: true, stale: false, vault: 'default' });
    expect(isMounted(dir)).toBe(false);
    expect(await waitFor(() => !alive(r.json.pid), 5000)).toBe(true);
    const session = JSON.parse(readFileSync(join(home, 'mounts', `${r.json.session_id}.json`), 'utf8'));
    expect(session.state).toBe('unmounted');

    const again = await run(['unmount', dir]);
    expect(again.json).toMatchObject({ ok: true, state: 'unmounted', was_mounted: false });
    expect((await run(['mounts'])).json.mounts.filter((x: any) => x.dir === dir)).toEqual([]);
  });

  it('refuses a missing, non-directory, non-empty or already mounted dir and an unknown vault, with clear codes', async () => {
    const missing = await run(['mount', join(tmp.dir, 'nope')]);
    expect(missing.json.error.code).toBe('NOT_FOUND');
    expect(missing.code).toBe(3);

    const file = join(tmp.dir, 'a-file');
    writeFileSync(file, 'x');
    const notDir = await run(['mount', file]);
    expect(notDir.json.error.code).toBe('NOT_A_DIRECTORY');

    const full = newDir('full');
    writeFileSync(join(full, 'x'), 'x');
    const notEmpty = await run(['mount', full]);
    expect(notEmpty.json.error.code).toBe('NOT_EMPTY');
    expect(notEmpty.code).toBe(4);

    const noVault = await run(['mount', newDir('novault'), '--vault', 'no-such-vault']);
    expect(noVault.json.error.code).toBe('VAULT_NOT_FOUND');

    const dir = newDir('twice');
    expect((await run(['mount', dir])).json.ok).toBe(true);
    const twice = await run(['mount', dir]);
    expect(twice.json.error.code).toBe('ALREADY_EXISTS');
    expect(twice.code).toBe(4);
    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('persists everything written and closed: N files of varied sizes, then an immediate unmount', async () => {
    const dir = newDir('n-files');
    expect((await run(['mount', dir])).json.ok).toBe(true);
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 120; i++) files[`/d${i % 7}/f${i}.bin`] = randomBytes(i === 0 ? 12 * 1024 * 1024 : (i * 977) % 200_000);
    files['/empty'] = Buffer.alloc(0);
    const src = join(tmp.dir, 'n-src');
    for (const [p, data] of Object.entries(files)) {
      mkdirSync(dirname(join(src, p)), { recursive: true });
      writeFileSync(join(src, p), data);
    }
    // Real tools write them (cp), each file closed before cp exits; then unmount at once.
    await shOk(`cp -r ${src}/. ${dir}/`);
    expect((await run(['unmount', dir])).json.ok).toBe(true);
    // Every file through `avfs export`, a sample (the spilled 12 MiB one included) through `avfs cat`.
    const out = join(tmp.dir, 'n-out');
    expect((await run(['export', '/', out])).json.ok).toBe(true);
    for (const [p, data] of Object.entries(files)) expect(sha(readFileSync(join(out, p))), p).toBe(sha(data));
    for (const p of ['/d0/f0.bin', '/d1/f1.bin', '/d5/f110.bin', '/empty']) {
      const cat = await avfsBytes(home, ['cat', p]);
      expect(cat.code, `${p}: ${cat.stderr}`).toBe(0);
      expectSameBytes(cat.stdout, files[p]!, p);
    }
  });

  it('records a file written through the mount in `avfs log`: one version per write-and-close, source mount', async () => {
    const dir = newDir('log');
    expect((await run(['mount', dir])).json.ok).toBe(true);
    await shOk(`echo first > ${dir}/notes.txt`);
    await shOk(`echo second >> ${dir}/notes.txt`);
    await shOk(`printf 'a%.0s' $(seq 1 100) > ${dir}/hundred.txt`);
    await sleep(100); // release of the last descriptor is asynchronous
    const log = await run(['log', '/notes.txt']);
    expect(log.json.ok).toBe(true);
    expect(log.json.versions.map((v: any) => [v.version, v.op, v.size, v.source])).toEqual([
      [2, 'write', 13, 'mount'],
      [1, 'create', 6, 'mount'],
    ]);
    const hundred = await run(['log', '/hundred.txt']);
    expect(hundred.json.versions).toHaveLength(1);
    expect(hundred.json.versions[0]).toMatchObject({ op: 'create', size: 100, source: 'mount' });
    expect((await run(['cat', '/notes.txt'], { raw: true })).stdout).toBe('first\nsecond');
    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('shows CLI changes made while mounted once the attribute cache expires, without a remount', async () => {
    const dir = newDir('cli-changes');
    expect((await run(['mount', dir])).json.ok).toBe(true);
    await shOk(`echo v1 > ${dir}/shared.txt && cat ${dir}/shared.txt`);
    // Same size, written within the same second: only the content differs (the page cache the
    // kernel kept for it must be dropped).
    await shOk(`printf AAAA > ${dir}/same-size.txt && cat ${dir}/same-size.txt && cat ${dir}/same-size.txt`);
    expect((await run(['write', '/shared.txt', 'v2 from the cli'])).json.ok).toBe(true);
    expect((await run(['write', '/new-from-cli.txt', 'new'])).json.ok).toBe(true);
    expect((await run(['write', '/same-size.txt', 'BBBB'])).json.ok).toBe(true);
    // The cache bound is 1 s; the wait is far longer so a loaded machine never fails it, yet a
    // mount that kept serving stale attributes or pages would (it never changes without a remount).
    const seen = await waitFor(
      async () => (await sh(`cat ${dir}/shared.txt; cat ${dir}/new-from-cli.txt; cat ${dir}/same-size.txt`)).stdout === 'v2 from the clinewBBBB',
      30_000,
    );
    expect(seen).toBe(true);

    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('unmount of a busy mount is a CONFLICT; --lazy detaches and the server exits once the last file closes', async () => {
    const dir = newDir('busy');
    const m = await run(['mount', dir]);
    expect(m.json.ok).toBe(true);
    const holder = execa('bash', ['-c', 'exec 3<>keep.txt; echo held >&3; sleep 30'], { cwd: dir, reject: false, timeout: 60_000 });
    await sleep(300);
    const busy = await run(['unmount', dir]);
    expect(busy.json.error.code).toBe('CONFLICT');
    expect(busy.code).toBe(4);
    const lazy = await run(['unmount', dir, '--lazy']);
    expect(lazy.json).toMatchObject({ ok: true, was_mounted: true });
    expect(['unmounting', 'unmounted']).toContain(lazy.json.state);
    expect(isMounted(dir)).toBe(false);
    expect(alive(m.json.pid)).toBe(true); // still serving keep.txt for its holder
    holder.kill('SIGKILL');
    await holder;
    expect(await waitFor(() => !alive(m.json.pid), 10_000)).toBe(true);
    expect((await run(['cat', '/keep.txt'], { raw: true })).stdout).toBe('held');
  });

  it('after kill -9 of the server, the dead mount is detected; unmount cleans it up and the vault is intact', async () => {
    const dir = newDir('killed');
    const m = await run(['mount', dir]);
    expect(m.json.ok).toBe(true);
    const data = randomBytes(300_000);
    writeFileSync(join(tmp.dir, 'k.bin'), data);
    await shOk(`cp ${tmp.dir}/k.bin ${dir}/k.bin && mkdir ${dir}/sub && echo note > ${dir}/sub/n.txt`);
    process.kill(m.json.pid, 'SIGKILL');
    expect(await waitFor(() => !alive(m.json.pid))).toBe(true);
    const dead = await sh(`ls ${dir}`, { timeout: 10_000 });
    expect(dead.code).not.toBe(0);
    expect(dead.stderr).toMatch(/not connected|connection abort/i);
    expect(listMounts(home).filter((x) => x.dir === dir)).toEqual([]); // dead: not live

    const u = await run(['unmount', dir]);
    expect(u.json).toMatchObject({ ok: true, was_mounted: true, stale: true, state: 'unmounted' });
    expect(isMounted(dir)).toBe(false);
    const session = JSON.parse(readFileSync(join(home, 'mounts', `${m.json.session_id}.json`), 'utf8'));
    expect(session).toMatchObject({ state: 'unmounted', stale: true });

    const cat = await avfsBytes(home, ['cat', '/k.bin']);
    expect(cat.code, cat.stderr).toBe(0);
    expectSameBytes(cat.stdout, data, `stderr: ${cat.stderr}`);
    expect((await run(['cat', '/sub/n.txt'], { raw: true })).stdout).toBe('note');
    // The directory can be mounted again.
    expect((await run(['mount', dir])).json.ok).toBe(true);
    expect(readFileSync(join(dir, 'sub', 'n.txt'), 'utf8')).toBe('note\n');
    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('kill -9 of the server while a large file is being written: the chunks it stored early are freed by gc, and nothing else changes', async () => {
    const dir = newDir('killed-writing');
    const m = await run(['mount', dir]);
    expect(m.json.ok).toBe(true);
    await run(['write', '/before.txt', 'kept']);
    const db = new Database(join(home, 'avfs.db'), { readonly: true, fileMustExist: true });
    const pinned = () => db.prepare("SELECT hash FROM content_pins WHERE kind = 'c'").all() as { hash: string }[];
    // 128 KiB writes of fresh bytes, a few milliseconds apart, to a file that stays open until the server dies.
    const script = `const fs = require('fs'), c = require('crypto'); const fd = fs.openSync(process.argv[1], 'w');
      let n = 0; const t = setInterval(() => { try { if (n++ < 2048) fs.writeSync(fd, c.randomBytes(131072)); } catch { process.exit(0); } }, 2);`;
    const writer = execa('node', ['-e', script, join(dir, 'half.bin')], { reject: false });
    try {
      // The mount stores the chunks it has cut while the file is still open (hang guard, not a timing).
      expect(await waitFor(() => pinned().length > 0, 60_000)).toBe(true);
      const early = pinned().map((p) => p.hash);
      process.kill(m.json.pid, 'SIGKILL');
      expect(await waitFor(() => !alive(m.json.pid))).toBe(true);
      writer.kill('SIGKILL');
      await writer;
      // The dead server's lease ends; what it pinned is then an ordinary orphan (freed past the grace period: none here).
      const gc = await run(['gc', '--grace', '0']);
      expect(gc.json.stale_leases).toBeGreaterThanOrEqual(1);
      expect(gc.json.freed_chunks).toBeGreaterThanOrEqual(early.length);
      const left = db.prepare(`SELECT count(*) AS n FROM chunks WHERE hash IN (${early.map(() => '?').join(',')})`).get(...early) as { n: number };
      expect(left.n).toBe(0);
      expect(db.prepare('SELECT count(*) AS n FROM content_leases').get()).toEqual({ n: 0 });
      expect((await run(['cat', '/before.txt'], { raw: true })).stdout).toBe('kept');
      expect((await run(['ls', '/'])).json.entries.map((e: { name: string }) => e.name)).not.toContain('half.bin');
      expect((await run(['unmount', dir])).json).toMatchObject({ ok: true, stale: true });
    } finally {
      writer.kill('SIGKILL');
      db.close();
    }
  });

  it('a mount from another home on a dir this home serves is ALREADY_EXISTS and leaves the live mount alone', async () => {
    const dir = newDir('other-home');
    await run(['write', '/mine.txt', 'mine']);
    const first = await run(['mount', dir]);
    expect(first.json.ok).toBe(true);
    const otherHome = join(tmp.dir, 'home2');
    const second = await avfs(otherHome, ['mount', dir]);
    expect(second.json?.error?.code, second.stdout).toBe('ALREADY_EXISTS');
    expect(second.code).toBe(4);
    expect(alive(first.json.pid)).toBe(true);
    expect(isMounted(dir)).toBe(true);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('mine');
    expect((await run(['mounts'])).json.mounts.filter((x: any) => x.dir === dir)).toHaveLength(1);
    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('vault delete of a mounted vault is a CONFLICT naming the mount (even with --force) and changes nothing; unmounted, it deletes', async () => {
    const dir = newDir('delete-mounted');
    expect((await run(['vault', 'create', 'doomed'])).json.ok).toBe(true);
    await run(['write', '/kept.txt', 'kept', '--vault', 'doomed']);
    const m = await run(['mount', dir, '--vault', 'doomed']);
    expect(m.json.ok, m.stdout).toBe(true);
    for (const force of [[], ['--force']]) {
      const del = await run(['vault', 'delete', 'doomed', '-y', ...force]);
      expect(del.json.error, del.stdout).toMatchObject({ code: 'CONFLICT', reason: 'mounted', dirs: [dir] });
      expect(del.code).toBe(4);
    }
    expect(readFileSync(join(dir, 'kept.txt'), 'utf8')).toBe('kept');
    expect((await run(['cat', '/kept.txt', '--vault', 'doomed'])).json.content).toBe('kept');
    expect((await run(['unmount', dir])).json.ok).toBe(true);
    expect((await run(['vault', 'delete', 'doomed', '-y'])).json).toMatchObject({ ok: true, deleted: 'doomed' });
  });

  it('unmount from another home is CONFLICT while the mount is served, and leaves it alone', async () => {
    const dir = newDir('other-home-unmount');
    await run(['write', '/mine.txt', 'mine']);
    const first = await run(['mount', dir]);
    expect(first.json.ok).toBe(true);
    const other = await avfs(join(tmp.dir, 'home3'), ['unmount', dir]);
    expect(other.json?.error?.code, other.stdout).toBe('CONFLICT');
    expect(other.code).toBe(4);
    expect(other.json.error.message).toContain('fusermount -u');
    expect(alive(first.json.pid)).toBe(true);
    expect(isMounted(dir)).toBe(true);
    expect(readFileSync(join(dir, 'mine.txt'), 'utf8')).toBe('mine');
    expect((await run(['unmount', dir])).json).toMatchObject({ ok: true, was_mounted: true, stale: false });
    expect(isMounted(dir)).toBe(false);
  });

  it('`mounts` and a new mount clean up a dir left dead by a killed server', async () => {
    const dir = newDir('remount-dead');
    let m = await run(['mount', dir]);
    process.kill(m.json.pid, 'SIGKILL');
    expect(await waitFor(() => !alive(m.json.pid))).toBe(true);
    const list = await run(['mounts']);
    expect(list.json.cleaned_stale).toEqual([dir]);
    expect(list.json.mounts.filter((x: any) => x.dir === dir)).toEqual([]);
    expect(isMounted(dir)).toBe(false);
    m = await run(['mount', dir]);
    process.kill(m.json.pid, 'SIGKILL');
    expect(await waitFor(() => !alive(m.json.pid))).toBe(true);
    const again = await run(['mount', dir]);
    expect(again.json, again.stdout).toMatchObject({ ok: true, state: 'mounted' });
    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('--foreground serves until SIGTERM, then unmounts cleanly and saves open files', async () => {
    const dir = newDir('fg');
    const fg = execa('node', [BIN, '--json', 'mount', dir, '--foreground'], { env: { AVFS_HOME: home }, reject: false, timeout: 60_000 });
    expect(await waitFor(() => isMounted(dir), 15_000)).toBe(true);
    expect(await waitFor(async () => (await run(['mounts'])).json.mounts.some((x: any) => x.dir === dir && x.state === 'mounted'))).toBe(true);
    await shOk(`echo foreground > ${dir}/fg.txt`);
    fg.kill('SIGTERM');
    const r = await fg;
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, action: 'serve', state: 'unmounted', dir });
    expect(isMounted(dir)).toBe(false);
    expect((await run(['cat', '/fg.txt'], { raw: true })).stdout).toBe('foreground');
  });

  it('a read-only mount serves reads and refuses writes with EROFS', async () => {
    const dir = newDir('ro');
    await run(['write', '/ro.txt', 'read me']);
    const m = await run(['mount', dir, '--read-only']);
    expect(m.json).toMatchObject({ ok: true, read_only: true });
    expect(readFileSync(join(dir, 'ro.txt'), 'utf8')).toBe('read me');
    const w = await sh(`echo x > ${dir}/new.txt`);
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(/read-only file system/i);
    const t = await sh(`touch ${dir}/ro.txt`);
    expect(t.stderr).toMatch(/read-only file system/i);
    expect((await run(['unmount', dir])).json.ok).toBe(true);
  });

  it('applies the vault quota to writes through the mount (EDQUOT), changing nothing', async () => {
    const q = tempDir('avfs-mount-quota-');
    const qhome = join(q.dir, 'home');
    const dir = join(q.dir, 'mnt');
    mkdirSync(dir);
    try {
      const quota = await avfs(qhome, ['quota', 'set', '--max-bytes', '1MiB']);
      expect(quota.json?.ok, quota.stdout + quota.stderr).toBe(true);
      const mount = await avfs(qhome, ['mount', dir]);
      expect(mount.json?.ok, mount.stdout + mount.stderr).toBe(true);
      await shOk(`head -c 500000 /dev/urandom > ${dir}/ok.bin`);
      const over = await sh(`head -c 2000000 /dev/urandom > ${dir}/big.bin`);
      expect(over.code).not.toBe(0);
      expect(over.stderr).toMatch(/quota exceeded/i);
      const df = await shOk(`df -B1 --output=size ${dir} | tail -1`);
      expect(Number(df.trim())).toBe(1024 * 1024);
      await sleep(100);
      const ls = await avfs(qhome, ['ls', '/']);
      // As on a full disk: the refused write changed nothing, the bytes written before it are kept.
      const big = ls.json.entries.find((e: any) => e.name === 'big.bin');
      expect(big.size).toBeGreaterThan(0);
      expect(500000 + big.size).toBeLessThanOrEqual(1024 * 1024);
      expect(ls.json.entries.find((e: any) => e.name === 'ok.bin').size).toBe(500000);

      await shOk(`rm ${dir}/big.bin`);
      // Bytes written to another open file and not stored yet count: only the close of the last
      // file failed, and a new file was then gone (tools ignore errors at close).
      const two = await shOk(`python3 -c '
import os
a = os.open("${dir}/p1.bin", os.O_CREAT | os.O_WRONLY, 0o644)
b = os.open("${dir}/p2.bin", os.O_CREAT | os.O_WRONLY, 0o644)
os.write(a, b"a" * 300000)
data = b"b" * 300000
try:
    while data:
        data = data[os.write(b, data):]
    print("second write passed")
except OSError as e:
    print("second write", e.errno)
os.close(a)
os.close(b)
'`);
      expect(two.trim()).toBe('second write 122');
      await sleep(100);
      const kept = new Map<string, number>((await avfs(qhome, ['ls', '/'])).json.entries.map((e: any) => [e.name, e.size]));
      expect(kept.get('p1.bin')).toBe(300000);
      expect(500000 + 300000 + kept.get('p2.bin')!).toBeLessThanOrEqual(1024 * 1024);
      await shOk(`rm ${dir}/p2.bin`);
      // A file stored a moment ago counts at once (the usage was a second-old figure).
      const seq = await sh(`head -c 200000 /dev/urandom > ${dir}/s1.bin && head -c 200000 /dev/urandom > ${dir}/s2.bin`);
      expect(seq.code).not.toBe(0);
      expect(seq.stderr).not.toMatch(/close/i);
      await sleep(100);
      const after = new Map((await avfs(qhome, ['ls', '/'])).json.entries.map((e: any) => [e.name, e.size]));
      expect(after.get('s1.bin')).toBe(200000);
      expect(after.get('s2.bin')).toBeLessThan(200000);
    } finally {
      await avfs(qhome, ['unmount', dir, '--lazy']);
      await forceCleanup(dir);
      q.cleanup();
    }
  });

  it('the programmatic API: mountVault with an exec id (versions record source proxy), listMounts, findLiveMount, unmountDir', async () => {
    const dir = newDir('api');
    const session = await mountVault({ home, vault: 'default', dir, execId: 'exec-test-1' });
    expect(session).toMatchObject({ vault: 'default', dir, state: 'mounted', exec_id: 'exec-test-1', read_only: false });
    expect(listMounts(home).map((s) => s.session_id)).toContain(session.session_id);
    expect(findLiveMount(home, 'default')?.session_id).toBeDefined();
    await shOk(`echo via-proxy > ${dir}/proxied.txt`);
    const log = await run(['log', '/proxied.txt']);
    expect(log.json.versions[0]).toMatchObject({ source: 'proxy', exec_id: 'exec-test-1' });
    const result = await unmountDir({ home, dir });
    expect(result).toMatchObject({ state: 'unmounted', was_mounted: true });
    expect(listMounts(home).map((s) => s.session_id)).not.toContain(session.session_id);
    expect(await unmountDir({ home, dir })).toMatchObject({ was_mounted: false });
  });
});

describeMount('mount sessions: fixture sanity', () => {
  let fx: MountFixture;
  beforeAll(async () => {
    fx = await mountFixture();
  });
  afterAll(async () => fx?.cleanup());

  it('reports the uid/gid of the mounting process and a stable inode per file', async () => {
    await shOk(`echo a > ${fx.dir}/ino.txt`);
    const st1 = statSync(join(fx.dir, 'ino.txt'));
    await shOk(`echo b >> ${fx.dir}/ino.txt && mv ${fx.dir}/ino.txt ${fx.dir}/ino2.txt`);
    const st2 = statSync(join(fx.dir, 'ino2.txt'));
    expect(st1.uid).toBe(process.getuid!());
    expect(st1.gid).toBe(process.getgid!());
    expect(st2.ino).toBe(st1.ino);
  });
});
