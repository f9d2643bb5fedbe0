import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ATTR_TIMEOUT_S } from '../../src/mount/op-context.js';
import { describeMount, eventually, mountFixture, sh, shOk, stepScript, type MountFixture } from './helpers.js';

/**
 * POSIX conformance of a mounted vault (issue 20), through the real mount and real tools: special
 * files (FIFOs, sockets, devices), owners, ctime rules, permissions checked by the kernel for a
 * non-root user (default_permissions), and the errno each refused call gives. These tests run as
 * root (CI does); the non-root checks switch user with setpriv.
 */
const settle = () => new Promise((r) => setTimeout(r, ATTR_TIMEOUT_S * 1000 + 300));
const NOBODY = 'setpriv --reuid=65534 --regid=65534 --clear-groups';

/** Runs python3 code in `cwd` that prints one errno name (or OK) per call of `t(name, fn)`, as JSON. */
async function errnos(cwd: string, calls: string): Promise<Record<string, string>> {
  const code = `import os, errno, json\nr = {}\ndef t(name, fn):\n    try:\n        fn(); r[name] = 'OK'\n    except OSError as e:\n        r[name] = errno.errorcode[e.errno]\n${calls}\nprint(json.dumps(r))`;
  return JSON.parse(await shOk(`python3 - <<'EOF'\n${code}\nEOF`, { cwd }));
}

describeMount('POSIX conformance of a mounted vault', () => {
  let fx: MountFixture;
  beforeAll(async () => {
    fx = await mountFixture();
  });
  afterAll(async () => fx?.cleanup());

  it('mkfifo makes a FIFO that carries data between two processes, and the vault stores it as a fifo', async () => {
    const dir = join(fx.dir, 'fifo');
    mkdirSync(dir);
    await shOk('mkfifo -m 0640 pipe', { cwd: dir });
    expect(await shOk("stat -c '%F %a' pipe", { cwd: dir })).toBe('fifo 640');
    const out = await shOk('(echo through-the-pipe > pipe &) ; timeout 10 cat pipe', { cwd: dir });
    expect(out).toBe('through-the-pipe');
    const ls = await fx.run(['ls', '/fifo']);
    expect(ls.json.entries).toEqual([expect.objectContaining({ name: 'pipe', type: 'fifo', mode: '0640', size: 0 })]);
  });

  it('a Unix socket binds in the mount, accepts a connection and is stored as a socket', async () => {
    const dir = join(fx.dir, 'sock');
    mkdirSync(dir);
    const py = [
      'import socket, os',
      's = socket.socket(socket.AF_UNIX); s.bind("agent.sock"); s.listen(1)',
      'c = socket.socket(socket.AF_UNIX); c.connect("agent.sock"); a, _ = s.accept()',
      'c.sendall(b"hello"); print(a.recv(5).decode())',
    ].join('\n');
    expect(await shOk(`python3 -c '${py}'`, { cwd: dir })).toBe('hello');
    expect(await shOk("stat -c '%F' agent.sock", { cwd: dir })).toBe('socket');
    const ls = await fx.run(['ls', '/sock']);
    expect(ls.json.entries).toEqual([expect.objectContaining({ name: 'agent.sock', type: 'socket' })]);
  });

  it('mknod makes character and block devices (as root) with their device numbers', async () => {
    const dir = join(fx.dir, 'dev');
    mkdirSync(dir);
    await shOk('mknod -m 0600 null c 1 3 && mknod loop b 7 300', { cwd: dir });
    expect(await shOk("stat -c '%n %F %t:%T %a' null loop", { cwd: dir })).toBe('null character special file 1:3 600\nloop block special file 7:12c 644');
    const ls = await fx.run(['ls', '/dev']);
    expect(ls.json.entries).toEqual([
      expect.objectContaining({ name: 'loop', type: 'block_device', major: 7, minor: 300 }),
      expect.objectContaining({ name: 'null', type: 'char_device', major: 1, minor: 3 }),
    ]);
    // A special file has history like any entry.
    const log = await fx.run(['log', '/dev/null']);
    expect(log.json.ok).toBe(true);
    expect(JSON.stringify(log.json)).toContain('mknod');
  });

  it('chown and chown -h are stored and reported by stat, ls -l and ls --json; -1 keeps an id', async () => {
    const dir = join(fx.dir, 'own');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'x');
    await shOk('ln -s f link && chown 1000:1001 f && chown -h 2000:2001 link && chgrp 3000 f', { cwd: dir });
    expect(await shOk("stat -c '%n %u %g' f link", { cwd: dir })).toBe('f 1000 3000\nlink 2000 2001');
    expect((await shOk('ls -ln f', { cwd: dir })).split(/\s+/).slice(2, 4)).toEqual(['1000', '3000']);
    const ls = await fx.run(['ls', '/own']);
    expect(ls.json.entries).toEqual([
      expect.objectContaining({ name: 'f', uid: 1000, gid: 3000 }),
      expect.objectContaining({ name: 'link', uid: 2000, gid: 2001 }),
    ]);
    // A file never chowned shows the mounting user and records no owner.
    writeFileSync(join(dir, 'plain'), 'y');
    expect(await shOk("stat -c '%u %g' plain", { cwd: dir })).toBe(`${process.getuid!()} ${process.getgid!()}`);
  });

  it('cp -a and tar --same-owner as root keep owners', async () => {
    const src = join(fx.scratch, 'owners');
    mkdirSync(src);
    writeFileSync(join(src, 'a'), 'a');
    await shOk(`chown 1234:2345 ${src}/a && tar -C ${fx.scratch} -cf ${fx.scratch}/o.tar owners`);
    await shOk(`cp -a ${src} ${fx.dir}/cpa && mkdir ${fx.dir}/tarx && tar --same-owner -C ${fx.dir}/tarx -xf ${fx.scratch}/o.tar`);
    expect(await shOk(`stat -c '%u %g' ${fx.dir}/cpa/a ${fx.dir}/tarx/owners/a`)).toBe('1234 2345\n1234 2345');
  });

  it("chown to the mounting user's ids of a file with no owner records nothing (root's cp -a of the vault's own files), of an owned one stores them", async () => {
    const dir = join(fx.dir, 'mine');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'x');
    writeFileSync(join(dir, 'owned'), 'y');
    const me = `${process.getuid!()}:${process.getgid!()}`;
    await shOk(`chown ${me} f && cp -a f copy && chown 1000:1001 owned && chown ${me} owned`, { cwd: dir });
    const ops = async (path: string) => (await fx.run(['log', path])).json.versions.map((v: { op: string }) => v.op);
    expect(await ops('/mine/f')).toEqual(['create']);
    expect(await ops('/mine/owned')).toEqual(['chown', 'chown', 'create']);
    const ls = await fx.run(['ls', '/mine']);
    const owners = Object.fromEntries(ls.json.entries.map((e: { name: string; uid?: number; gid?: number }) => [e.name, [e.uid ?? null, e.gid ?? null]]));
    expect(owners).toEqual({ copy: [null, null], f: [null, null], owned: [process.getuid!(), process.getgid!()] });
  });

  it('tar x of a file owned by another user stores it once: its chown, chmod and times wait for the close', async () => {
    const src = join(fx.scratch, 'once');
    mkdirSync(src);
    writeFileSync(join(src, 'a'), 'content of a\n');
    await shOk(`chown 1234:2345 ${src}/a && chmod 640 ${src}/a && touch -d '2001-02-03 04:05:06' ${src}/a && tar -C ${fx.scratch} -cf ${fx.scratch}/once.tar once`);
    await shOk(`mkdir ${fx.dir}/oncex && tar --same-owner -C ${fx.dir}/oncex -xf ${fx.scratch}/once.tar`);
    // Before, the fchown stored the file (create), then recorded a chown and a chmod version.
    const log = await fx.run(['log', '/oncex/once/a']);
    expect(log.json.versions.map((v: { op: string }) => v.op)).toEqual(['create']);
    expect(await shOk(`stat -c '%u %g %a %Y' ${fx.dir}/oncex/once/a`)).toBe(`1234 2345 640 ${Math.floor(Date.parse('2001-02-03T04:05:06') / 1000)}`);
    const ls = await fx.run(['ls', '/oncex/once']);
    expect(ls.json.entries).toEqual([expect.objectContaining({ name: 'a', uid: 1234, gid: 2345, mode: '0640' })]);
    const versions = async () => (await fx.run(['log', '/oncex/once/a'])).json.versions.map((v: { op: string }) => v.op);

    // An open file with unsaved bytes shows a chown and chmod at once and stores them with the
    // bytes on close. (A python process holds the file: a process the test spawns would inherit a
    // descriptor of the test's own, and its close is a flush, which stores the bytes.)
    const path = join(fx.dir, 'oncex', 'once', 'a');
    const changeOpen = (write: boolean, uid: number, mode: number) =>
      stepScript(
        `fd = os.open(sys.argv[1], os.O_RDWR)\n${write ? "os.write(fd, b'CONTENT')\n" : ''}os.fchown(fd, ${uid}, ${uid + 1})\nos.fchmod(fd, ${mode})\n` +
          `st = os.fstat(fd)\nstep(f'{st.st_uid} {st.st_gid} {st.st_mode & 0o7777:o}')\nos.close(fd)`,
        [path],
      );
    const dirty = changeOpen(true, 77, 0o600);
    expect(await dirty.next()).toBe('77 78 600');
    expect(await versions()).toEqual(['create']);
    dirty.go();
    await dirty.done();
    expect(await versions()).toEqual(['write', 'create']);
    expect((await fx.run(['ls', '/oncex/once'])).json.entries).toEqual([expect.objectContaining({ name: 'a', uid: 77, gid: 78, mode: '0600', size: 13 })]);

    // An open file with nothing unsaved stores a chown and chmod at once, as a closed one does.
    const clean = changeOpen(false, 99, 0o644);
    expect(await clean.next()).toBe('99 100 644');
    expect((await fx.run(['ls', '/oncex/once'])).json.entries).toEqual([expect.objectContaining({ name: 'a', uid: 99, gid: 100, mode: '0644' })]);
    expect(await versions()).toEqual(['chmod', 'chown', 'write', 'create']);
    clean.go();
    await clean.done();
  });

  it('fchmod, fchown and futimens of a file unlinked while open work on its descriptor (as on a local disk), and store nothing', async () => {
    const dir = join(fx.dir, 'unlinked-attrs');
    mkdirSync(dir);
    const out = await shOk(
      `python3 -c "
import os, stat
fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'data')
os.unlink('f')
os.fchmod(fd, 0o600)
os.fchown(fd, 1234, 5678)
os.utime(fd, (1000000000, 1000000000))
st = os.fstat(fd)
print(oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, int(st.st_mtime))
os.close(fd)
"`,
      { cwd: dir },
    );
    expect(out.trim()).toBe('0o600 1234 5678 1000000000');
    expect((await fx.run(['ls', '/unlinked-attrs'])).json.entries).toEqual([]);
  });

  it('chmod, chown, link, rename and truncate update ctime, on every name at once; a read and a no-op chmod do not', async () => {
    const dir = join(fx.dir, 'ctime');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'hello');
    const ctime = () => lstatSync(join(dir, 'f')).ctimeMs;
    const changes: Array<[string, boolean]> = [];
    const step = async (name: string, cmd: string, changed: boolean) => {
      const before = ctime();
      await new Promise((r) => setTimeout(r, 20));
      await shOk(cmd, { cwd: dir });
      changes.push([name, ctime() !== before]);
      expect([name, ctime() !== before]).toEqual([name, changed]);
    };
    await step('read', 'cat f > /dev/null', false);
    await step('chmod', 'chmod 600 f', true);
    await step('chmod same', 'chmod 600 f', false);
    await step('chown', 'chown 7:8 f', true);
    await step('link', 'ln f g', true);
    await step('rename', 'mv f h && mv h f', true);
    await step('truncate', 'truncate -s 2 f', true);
    expect(changes).toHaveLength(7);
    // One inode: both names show its ctime.
    expect(lstatSync(join(dir, 'g')).ctimeMs).toBe(ctime());
  });

  it('mv of a directory keeps its mtime and everything below it as on the local disk; only the two parents change', async () => {
    // Every time set to 2001 first, the parents' too, so a change shows whatever the clock says.
    const repro = (cwd: string) =>
      shOk(
        'mkdir -p a/top/mid/leaf a/top/emptysub b && echo x > a/top/mid/leaf/file && echo y > a/top/file2 && ' +
          "touch -d '2001-01-01 00:00 UTC' a b a/top a/top/mid a/top/mid/leaf a/top/emptysub a/top/mid/leaf/file a/top/file2 && mv a/top b/top2",
        { cwd },
      );
    const moved = 'b/top2 b/top2/mid b/top2/mid/leaf b/top2/emptysub b/top2/mid/leaf/file b/top2/file2';
    const movedTimes = (cwd: string) => shOk(`stat -c '%n %Y %h' ${moved}`, { cwd });
    const parentTimes = (cwd: string) => shOk("stat -c '%Y' a b", { cwd }).then((o) => o.split('\n').map(Number));
    const native = join(fx.scratch, 'mvtimes');
    const dir = join(fx.dir, 'mvtimes');
    mkdirSync(native);
    mkdirSync(dir);
    await repro(native);
    await repro(dir);
    await settle(); // what the store holds, not attributes the kernel cached before the move
    const disk = await movedTimes(native);
    expect(disk.split('\n').map((l) => l.split(' ')[1])).toEqual(Array(6).fill('978307200'));
    expect(await movedTimes(dir)).toBe(disk);
    for (const cwd of [native, dir]) expect(await parentTimes(cwd)).not.toContain(978307200);
  });

  it("a file created in a directory changes the directory's mtime whatever was changed on it just before or while the file is open (stored too)", async () => {
    // Found by an adversarial run: utime(d) then a create in the same millisecond kept d's old mtime
    // (28-46 of 100), as did a chmod of d while the new file was still open.
    const dir = join(fx.dir, 'dirtimes');
    mkdirSync(dir);
    const code = [
      'import os, sys',
      'bad = []',
      'for i in range(60):',
      '    d = f"u{i}"; os.mkdir(d); os.utime(d, (1, 1))',
      '    open(d + "/new", "w").close()',
      '    if os.stat(d).st_mtime < 100: bad.append(d)',
      'for i in range(10):',
      '    d = f"c{i}"; os.mkdir(d); os.utime(d, (1, 1))',
      '    fd = os.open(d + "/new", os.O_CREAT | os.O_WRONLY); os.chmod(d, 0o700); os.close(fd)',
      '    if os.stat(d).st_mtime < 100: bad.append(d)',
      '    e = f"t{i}"; os.mkdir(e)',
      '    fd = os.open(e + "/new", os.O_CREAT | os.O_WRONLY); os.utime(e, (5, 5)); os.close(fd)',
      '    if os.stat(e).st_mtime != 5: bad.append(e)',
      'print(" ".join(bad) or "none")',
    ].join('\n');
    expect(await shOk(`python3 - <<'EOF'\n${code}\nEOF`, { cwd: dir })).toBe('none');
    // What the store holds: every u and c directory took its file's creation time, every t one kept the utime.
    // (The last files' release, which stores them, may still be on its way.)
    const wrongInStore = async () => {
      const listed = (await fx.run(['ls', '/dirtimes'])).json.entries as Array<{ name: string; mtime: string }>;
      const wrong = listed.filter((e) => (e.name.startsWith('t') ? Date.parse(e.mtime) !== 5000 : Date.parse(e.mtime) < 100_000)).map((e) => e.name);
      return [listed.length, ...wrong];
    };
    expect(await eventually(wrongInStore, (w) => w.length === 1 && w[0] === 80)).toEqual([80]);
  });

  it('permissions are checked for a non-root user: mode bits, search permission, sticky bit, set-id cleared on write', async () => {
    const dir = join(fx.dir, 'perm');
    mkdirSync(dir);
    await shOk(
      'chmod 777 . && echo secret > priv && chmod 600 priv && mkdir -m 700 closed && touch closed/in && ' +
        'mkdir -m 1777 sticky && echo x > sticky/roots && chmod 666 sticky/roots && echo data > suid && chmod 4777 suid',
      { cwd: dir },
    );
    expect((await sh(`${NOBODY} cat priv`, { cwd: dir })).stderr).toContain('Permission denied');
    expect((await sh(`${NOBODY} stat closed/in`, { cwd: dir })).stderr).toContain('Permission denied');
    const rm = await sh(`${NOBODY} rm -f sticky/roots`, { cwd: dir });
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('Operation not permitted');
    // Writable by anyone but not removable by them; root still reads the private file.
    await shOk(`${NOBODY} sh -c 'echo more >> sticky/roots'`, { cwd: dir });
    expect(await shOk('cat priv', { cwd: dir })).toBe('secret');
    // A write by someone other than root clears set-user-id (the kernel sends the new mode).
    await shOk(`${NOBODY} sh -c 'echo more >> suid'`, { cwd: dir });
    await settle();
    expect(await shOk("stat -c '%a' suid", { cwd: dir })).toBe('777');
    expect((await fx.run(['ls', '/perm/suid'])).json.entries[0].mode).toBe('0777');
    // Only root gives a file away.
    writeFileSync(join(dir, 'given'), '');
    await shOk('chown 65534 given', { cwd: dir });
    expect((await sh(`${NOBODY} chown 0 given`, { cwd: dir })).stderr).toContain('Operation not permitted');
  });

  it('a file, directory, FIFO, symlink or device created by another user belongs to that user; a set-group-ID directory gives its group', async () => {
    const dir = join(fx.dir, 'creator');
    mkdirSync(dir);
    await shOk('chmod 777 . && mkdir -m 2777 shared && chown 0:4242 shared', { cwd: dir });
    await shOk(
      `${NOBODY} sh -c 'echo x > f && touch empty && mkdir d && mkfifo p && ln -s f l && echo y > shared/g && mkdir shared/sub'`,
      { cwd: dir },
    );
    expect(await shOk("stat -c '%n %u %g' f empty d p l", { cwd: dir })).toBe(
      'f 65534 65534\nempty 65534 65534\nd 65534 65534\np 65534 65534\nl 65534 65534',
    );
    // Under a set-group-ID directory: the directory's group, and a new directory keeps the bit.
    expect(await shOk("stat -c '%n %u %g %A' g sub", { cwd: join(dir, 'shared') })).toBe(
      'g 65534 4242 -rw-r--r--\nsub 65534 4242 drwxr-sr-x',
    );
    // Stored, not just shown: the vault reports the same owners, and root's own files stay unowned (the mounting user).
    await shOk('touch mine', { cwd: dir });
    const ls = await eventually(() => fx.run(['ls', '/creator']), (r) => r.json.entries.some((e: { name: string }) => e.name === 'mine'));
    const byName = Object.fromEntries(ls.json.entries.map((e: { name: string; uid: number; gid: number }) => [e.name, [e.uid, e.gid]]));
    expect(byName).toMatchObject({ f: [65534, 65534], d: [65534, 65534], p: [65534, 65534], l: [65534, 65534], mine: [undefined, undefined] });
    // The creator owns it, so the creator may chmod it and root's owner checks see it.
    await shOk(`${NOBODY} chmod 600 f`, { cwd: dir });
    expect((await sh(`${NOBODY} chmod 600 mine`, { cwd: dir })).stderr).toContain('Operation not permitted');
  });

  it("a directory's link count is 2 + its subdirectories, through mkdir, rename (pjdfstest rename/24), rmdir and the CLI", async () => {
    const dir = join(fx.dir, 'nlink');
    mkdirSync(dir);
    // Each stat runs right after the change, in a fresh process: the kernel drops a directory's
    // cached attributes when a name in it changes, so no settle() is needed.
    const links = (...names: string[]) => shOk(`stat -c '%h' ${names.join(' ')}`, { cwd: dir }).then((o) => o.split('\n').map(Number));
    await shOk('mkdir -p src/sub dst && touch src/file && ln -s sub src/link', { cwd: dir });
    expect(await links('.', 'src', 'dst', 'src/sub')).toEqual([4, 3, 2, 2]);
    await shOk('mv src/sub dst/moved', { cwd: dir });
    expect(await links('src', 'dst', 'dst/moved')).toEqual([2, 3, 2]);
    expect(await shOk('stat -c %i dst dst/moved/..', { cwd: dir }).then((o) => new Set(o.split('\n')).size)).toBe(1);
    await shOk('rmdir dst/moved && mkdir src/a src/b', { cwd: dir });
    expect(await links('src', 'dst')).toEqual([4, 2]);
    // A directory made with the CLI shows up in the count once the attribute cache lets go.
    await fx.run(['mkdir', '/nlink/dst/cli']);
    await settle();
    expect(await links('dst')).toEqual([3]);
    // find's leaf optimisation trusts the count: every directory is still found.
    expect((await shOk('find . -type d | sort', { cwd: dir })).split('\n')).toEqual(['.', './dst', './dst/cli', './src', './src/a', './src/b']);
  });

  it('a tree deeper than PATH_MAX (made with relative paths) can be made and removed', async () => {
    const dir = join(fx.dir, 'deep');
    mkdirSync(dir);
    // 20 steps of 240-byte names (4,820 bytes below the mount), each mkdir given a short relative path.
    const name = 'd'.repeat(240);
    await shOk(`for i in $(seq 20); do mkdir ${name} && cd ${name}; done && touch leaf && ls leaf`, { cwd: dir });
    const vaultPath = '/deep' + `/${name}`.repeat(20) + '/leaf';
    expect(Buffer.byteLength(vaultPath)).toBeGreaterThan(4096);
    // An empty file is stored at its release, which the kernel sends after close returns.
    const leaf = await eventually(() => fx.run(['ls', vaultPath]), (r) => r.json.ok);
    expect(leaf.json.entries).toEqual([expect.objectContaining({ name: 'leaf' })]);
    await shOk(`rm -rf ${name}`, { cwd: dir });
    expect((await fx.run(['ls', '/deep'])).json.entries).toEqual([]);
  });

  it('a new path longer than 8,192 bytes is ENAMETOOLONG for every call that makes a name, a rename that would take a file inside past it too; nothing changes', async () => {
    const dir = join(fx.dir, 'toolong');
    mkdirSync(dir);
    // 33 levels of 240-byte names: the working directory is /toolong plus 33 × 241 bytes = 7,961 bytes in the vault.
    const name = 'd'.repeat(240);
    // The working directory is past PATH_MAX on the host too: it is reached one level at a time.
    await shOk(`for i in $(seq 33); do mkdir ${name} && cd ${name}; done && mkdir x && touch x/${'f'.repeat(200)} && touch keep`, { cwd: dir });
    const room = 8192 - (Buffer.byteLength('/toolong') + 33 * 241) - 1;
    expect(room).toBe(230);
    const r = await errnos(
      dir,
      [
        `for _ in range(33): os.chdir("${name}")`,
        `t("create at the bound", lambda: open("n" * ${room}, "w").close())`,
        `t("create past it", lambda: open("n" * ${room + 1}, "w"))`,
        `t("mkdir past it", lambda: os.mkdir("m" * ${room + 1}))`,
        `t("symlink past it", lambda: os.symlink("keep", "s" * ${room + 1}))`,
        `t("link past it", lambda: os.link("keep", "l" * ${room + 1}))`,
        `t("mkfifo past it", lambda: os.mkfifo("p" * ${room + 1}))`,
        `t("rename past it", lambda: os.rename("keep", "r" * ${room + 1}))`,
        // x/fff… is 8,164 bytes; as y…/fff… (30-byte name) it would be 8,193.
        't("rename a directory whose file would pass it", lambda: os.rename("x", "y" * 30))',
        // The same with a file not stored yet (open, written, never closed): the rename must not take it past.
        'os.mkdir("o"); held = os.open("o/" + "h" * 200, os.O_CREAT | os.O_WRONLY); os.write(held, b"unsaved")',
        't("rename a directory whose unsaved file would pass it", lambda: os.rename("o", "z" * 30))',
        't("close it", lambda: os.close(held))',
      ].join('\n'),
    );
    expect(r).toEqual({
      'create at the bound': 'OK',
      'create past it': 'ENAMETOOLONG',
      'mkdir past it': 'ENAMETOOLONG',
      'symlink past it': 'ENAMETOOLONG',
      'link past it': 'ENAMETOOLONG',
      'mkfifo past it': 'ENAMETOOLONG',
      'rename past it': 'ENAMETOOLONG',
      'rename a directory whose file would pass it': 'ENAMETOOLONG',
      'rename a directory whose unsaved file would pass it': 'ENAMETOOLONG',
      'close it': 'OK',
    });
    const vaultDir = '/toolong' + `/${name}`.repeat(33);
    const ls = await fx.run(['ls', vaultDir]);
    expect(ls.json.entries.map((e: { name: string }) => e.name).sort()).toEqual(['keep', 'n'.repeat(room), 'o', 'x']);
    expect((await fx.run(['cat', `${vaultDir}/o/${'h'.repeat(200)}`], { raw: true })).stdout).toBe('unsaved');
    expect((await fx.run(['ls', `${vaultDir}/x`])).json.entries.map((e: { name: string }) => e.name)).toEqual(['f'.repeat(200)]);
    await shOk(`rm -rf ${name}`, { cwd: dir });
  });

  it('errno: rename between types, into its own subtree and over a non-empty directory; long names; symlink loops', async () => {
    const dir = join(fx.dir, 'errno');
    mkdirSync(dir);
    await shOk('mkdir -p a/b empty full && touch full/x file && ln -s loop1 loop2 && ln -s loop2 loop1', { cwd: dir });
    const r = await errnos(
      dir,
      [
        't("dir over non-empty dir", lambda: os.rename("empty", "full"))',
        't("into own subtree", lambda: os.rename("a", "a/b/c"))',
        't("dir over file", lambda: os.rename("empty", "file"))',
        't("file over dir", lambda: os.rename("file", "empty"))',
        't("create 256", lambda: open("n" * 256, "w"))',
        't("mkdir 256", lambda: os.mkdir("n" * 256))',
        't("mkfifo 256", lambda: os.mkfifo("n" * 256))',
        't("create 255", lambda: open("n" * 255, "w").close())',
        't("loop", lambda: open("loop1"))',
        't("rmdir non-empty", lambda: os.rmdir("full"))',
        't("rmdir file", lambda: os.rmdir("file"))',
        't("unlink dir", lambda: os.unlink("empty"))',
        't("mkfifo over file", lambda: os.mkfifo("file"))',
        't("file as dir", lambda: open("file/x"))',
      ].join('\n'),
    );
    expect(r).toEqual({
      'dir over non-empty dir': 'ENOTEMPTY',
      'into own subtree': 'EINVAL',
      'dir over file': 'ENOTDIR',
      'file over dir': 'EISDIR',
      'create 256': 'ENAMETOOLONG',
      'mkdir 256': 'ENAMETOOLONG',
      'mkfifo 256': 'ENAMETOOLONG',
      'create 255': 'OK',
      loop: 'ELOOP',
      'rmdir non-empty': 'ENOTEMPTY',
      'rmdir file': 'ENOTDIR',
      'unlink dir': 'EISDIR',
      'mkfifo over file': 'EEXIST',
      'file as dir': 'ENOTDIR',
    });
  });

  it('names that are not UTF-8 are refused with EILSEQ by every call that makes a name, never changed into another name', async () => {
    const dir = join(fx.dir, 'not-utf8');
    mkdirSync(dir);
    await shOk('echo keep > file && mkdir d', { cwd: dir });
    const r = await errnos(
      dir,
      [
        't("create", lambda: open(b"a\\xff", "w").close())',
        't("create other", lambda: open(b"a\\xfe", "w").close())',
        't("mkdir", lambda: os.mkdir(b"d\\xff"))',
        't("mkfifo", lambda: os.mkfifo(b"f\\xff"))',
        't("symlink", lambda: os.symlink("file", b"s\\xff"))',
        't("symlink target", lambda: os.symlink(b"tgt\\xff", "s"))',
        't("link", lambda: os.link("file", b"l\\xff"))',
        't("rename", lambda: os.rename("file", b"r\\xff"))',
        't("rename dir", lambda: os.rename("d", b"d\\xfe"))',
        't("in a subdir", lambda: open(b"d/x\\xc3", "w").close())',
        't("valid utf-8", lambda: open("caf\\u00e9", "w").close())',
      ].join('\n'),
    );
    expect(r).toEqual({
      create: 'EILSEQ',
      'create other': 'EILSEQ',
      mkdir: 'EILSEQ',
      mkfifo: 'EILSEQ',
      symlink: 'EILSEQ',
      'symlink target': 'EILSEQ',
      link: 'EILSEQ',
      rename: 'EILSEQ',
      'rename dir': 'EILSEQ',
      'in a subdir': 'EILSEQ',
      'valid utf-8': 'OK',
    });
    expect((await shOk('ls -A d; ls -A', { cwd: dir })).split('\n').filter(Boolean).sort()).toEqual(['café', 'd', 'file']);
    expect((await fx.run(['cat', '/not-utf8/file'])).json.content).toBe('keep\n');
  });

  it('a name that is not UTF-8 never reaches a stored name holding U+FFFD in its place: looked up, it is missing; made, it is refused', async () => {
    // JS receives each invalid byte as U+FFFD, so b"u\xff" and the stored "u\ufffd" (made with
    // the CLI, well-formed UTF-8) were the same name: a write to the first replaced the second.
    const dir = join(fx.dir, 'fffd');
    mkdirSync(dir);
    expect((await fx.run(['write', '/fffd/u\ufffd', 'genuine'])).json.ok).toBe(true);
    const r = await errnos(
      dir,
      [
        't("stat", lambda: os.stat(b"u\\xff"))',
        't("read", lambda: open(b"u\\xfe", "rb").read())',
        't("write", lambda: open(b"u\\xff", "w").write("x"))',
        't("append", lambda: open(b"u\\xff", "a").write("x"))',
        't("mkdir", lambda: os.mkdir(b"u\\xff"))',
        't("unlink", lambda: os.unlink(b"u\\xff"))',
        't("link to it", lambda: os.link(b"u\\xff", "l"))',
        't("genuine", lambda: open("u\\ufffd", "rb").read())',
      ].join('\n'),
    );
    expect(r).toEqual({ stat: 'ENOENT', read: 'ENOENT', write: 'EILSEQ', append: 'EILSEQ', mkdir: 'EILSEQ', unlink: 'ENOENT', 'link to it': 'ENOENT', genuine: 'OK' });
    expect((await fx.run(['cat', '/fffd/u\ufffd'])).json.content).toBe('genuine');
  });

  it('a checkpoint restore brings back a FIFO, a socket and a chowned file; export makes the FIFO and owners on the host', async () => {
    const dir = join(fx.dir, 'model');
    mkdirSync(dir);
    await shOk(
      `mkfifo fifo && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")' && echo mine > owned && chown 4321:5432 owned && mknod tty c 5 0`,
      { cwd: dir },
    );
    expect((await fx.run(['checkpoint', 'save', 'special'])).json.ok).toBe(true);
    await shOk('rm fifo sock owned tty', { cwd: dir });
    await settle();
    expect((await fx.run(['checkpoint', 'restore', 'special'])).json.ok).toBe(true);
    await settle();
    expect(await shOk("stat -c '%n %F %u:%g' fifo sock owned tty", { cwd: dir })).toBe(
      'fifo fifo 0:0\nsock socket 0:0\nowned regular file 4321:5432\ntty character special file 0:0'.replace(/0:0/g, `${process.getuid!()}:${process.getgid!()}`),
    );
    const out = join(fx.scratch, 'export');
    const ex = await fx.run(['export', '/model', out]);
    expect(ex.json.ok).toBe(true);
    expect(ex.json.skipped).toEqual([expect.objectContaining({ path: '/model/sock', type: 'socket' })]);
    expect(await shOk("stat -c '%n %F %u:%g %t:%T' fifo owned tty", { cwd: out })).toBe(
      `fifo fifo ${process.getuid!()}:${process.getgid!()} 0:0\nowned regular file 4321:5432 0:0\ntty character special file ${process.getuid!()}:${process.getgid!()} 5:0`,
    );
  });

  it('import takes FIFOs, sockets and devices as what they are, never opening them', async () => {
    const src = join(fx.scratch, 'special-src');
    mkdirSync(src);
    await shOk(`mkfifo -m 0600 fifo && mknod dev c 4 64 && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'`, { cwd: src });
    const imp = await fx.run(['import', src, '/imported']);
    expect(imp.json).toMatchObject({ ok: true, special: 3 });
    const ls = await fx.run(['ls', '/imported']);
    expect(ls.json.entries).toEqual([
      expect.objectContaining({ name: 'dev', type: 'char_device', major: 4, minor: 64 }),
      expect.objectContaining({ name: 'fifo', type: 'fifo', mode: '0600' }),
      expect.objectContaining({ name: 'sock', type: 'socket' }),
    ]);
  });
});
