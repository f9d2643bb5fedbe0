import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import Database from 'better-sqlite3';
import { avfs, BIN, expectError, expectOk, useTempHome } from '../helpers.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { describeMount, forceCleanup } from '../mount/helpers.js';

const h = useTempHome('each');
const run = h.run;
const dbFile = () => join(h.home, 'avfs.db');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const modeOf = (p: string) => statSync(p).mode & 0o777;

/** Bind mounts made read-only by a test, unmounted afterwards whatever happened. */
const readOnlyMounts: string[] = [];
async function makeReadOnly(dir: string): Promise<void> {
  await execa('mount', ['--bind', dir, dir]);
  readOnlyMounts.push(dir);
  await execa('mount', ['-o', 'remount,bind,ro', dir]);
}

// Registered after useTempHome's, so it runs before the home is removed.
afterEach(async () => {
  while (readOnlyMounts.length) await execa('umount', [readOnlyMounts.pop()!], { reject: false });
});

describe('the home directory', () => {
  it(
    'a home that cannot be created (--home /proc/nope) fails fast with INVALID_PATH',
    async () => {
      // Node's recursive mkdir spun at 100% CPU forever on /proc (EEXIST/ENOENT ping-pong).
      for (const bad of ['/proc/nope', '/proc/nope/deeper']) {
        const r = await avfs(bad, ['ls']);
        expectError(r, 'INVALID_PATH', 2);
        expect(r.json.error.home).toBe(bad);
      }
    },
    90_000,
  );

  it('a home that is a symlink to nothing says so, naming the target (was "EEXIST: file already exists, mkdir")', async () => {
    const link = join(h.dir, 'dangling-home');
    symlinkSync(join(h.dir, 'not-made'), link);
    const r = await avfs(link, ['ls']);
    expectError(r, 'INVALID_PATH', 2);
    expect(r.json.error).toMatchObject({ home: link, target: join(h.dir, 'not-made') });
    expect(r.json.error.message).toContain('which does not exist');
  });

  it('a home given as ~/… (AVFS_HOME or --home, quoted so no shell expands it) is in the user\'s home directory, not a directory named ~', async () => {
    const user = join(h.home, 'user');
    const cwd = join(h.home, 'cwd');
    mkdirSync(user, { recursive: true });
    mkdirSync(cwd, { recursive: true });
    const r = await execa('node', [BIN, '--json', 'write', '/f', 'x'], { cwd, env: { HOME: user, AVFS_HOME: '~/agents', AVFS_VAULT: '' }, reject: false });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const flag = await execa('node', [BIN, '--json', '--home', '~/agents', 'cat', '/f'], { cwd, env: { HOME: user, AVFS_VAULT: '' }, reject: false });
    expect(JSON.parse(flag.stdout)).toMatchObject({ ok: true, content: 'x' });
    expect(existsSync(join(user, 'agents', 'avfs.db'))).toBe(true);
    expect(existsSync(join(cwd, '~'))).toBe(false);
  });

  it("another user's home (one it may not enter, or whose database it may not read) is DENIED naming the path, not READ_ONLY or INTERNAL", async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.log('skipped: needs root to run the CLI as another user');
      return ctx.skip();
    }
    expectOk(await avfs(h.home, ['write', '/f', 'x']));
    const asNobody = () => execa('node', [BIN, '--json', 'ls'], { env: { AVFS_HOME: h.home, AVFS_VAULT: '' }, uid: 65534, gid: 65534, reject: false });
    chmodSync(h.dir, 0o755);
    chmodSync(h.home, 0o700);
    let r = await asNobody();
    expect(r.exitCode).toBe(5);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'DENIED', reason: 'permission', path: h.home });
    chmodSync(h.home, 0o755);
    r = await asNobody();
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'DENIED', reason: 'permission', path: join(h.home, 'avfs.db') });
    // A home below a directory the user cannot enter.
    const below = await execa('node', [BIN, '--json', 'ls'], { env: { AVFS_HOME: join(h.home, 'inner'), AVFS_VAULT: '' }, uid: 65534, gid: 65534, reject: false });
    chmodSync(h.home, 0o700);
    const locked = await execa('node', [BIN, '--json', 'ls'], { env: { AVFS_HOME: join(h.home, 'inner'), AVFS_VAULT: '' }, uid: 65534, gid: 65534, reject: false });
    expect(JSON.parse(locked.stdout).error).toMatchObject({ code: 'DENIED', reason: 'permission' });
    expect(JSON.parse(below.stdout).error).toMatchObject({ code: 'DENIED' }); // 0755 home, but no write to make inner
    expect(expectOk(await avfs(h.home, ['cat', '/f']))).toMatchObject({ content: 'x' });
  });

  it("another user's home shared for reading (directory and database readable, not writable) reads, and refuses changes READ_ONLY", async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.log('skipped: needs root to run the CLI as another user');
      return ctx.skip();
    }
    expectOk(await avfs(h.home, ['write', '/f', 'shared']));
    chmodSync(h.dir, 0o755);
    chmodSync(h.home, 0o755);
    chmodSync(join(h.home, 'avfs.db'), 0o644);
    const asNobody = (args: string[]) => execa('node', [BIN, '--json', ...args], { env: { AVFS_HOME: h.home, AVFS_VAULT: 'default' }, uid: 65534, gid: 65534, reject: false });
    const read = await asNobody(['cat', '/f']);
    expect(JSON.parse(read.stdout), read.stdout + read.stderr).toMatchObject({ ok: true, content: 'shared' });
    const write = await asNobody(['write', '/g', 'x']);
    expect(JSON.parse(write.stdout).error).toMatchObject({ code: 'READ_ONLY' });
  });

  it('home files are the user\'s alone (0600, dirs 0700) even in a home made beforehand with 0755', async () => {
    mkdirSync(h.home, { mode: 0o755 });
    chmodSync(h.home, 0o755);
    expectOk(await run(['write', '/a.txt', 'secret']));
    expectOk(await run(['vault', 'use', 'default']));
    expectOk(await run(['proxy', 'policy', 'set', '-', '--scope', 'home'], { input: '{"timeout_ms": 60000}' }));
    expect(modeOf(h.home)).toBe(0o700);
    for (const name of ['avfs.db', 'state.json', 'policy.json']) expect([name, modeOf(join(h.home, name))]).toEqual([name, 0o600]);

    // The WAL and its index exist only while a process has the database open: hold one open.
    const writer = execa('node', [BIN, '--json', 'write', '/held.txt', '--stdin'], { env: { AVFS_HOME: h.home, AVFS_VAULT: '' }, reject: false });
    try {
      const deadline = Date.now() + 30_000;
      while (!(existsSync(`${dbFile()}-wal`) && existsSync(`${dbFile()}-shm`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(modeOf(`${dbFile()}-wal`)).toBe(0o600);
      expect(modeOf(`${dbFile()}-shm`)).toBe(0o600);
    } finally {
      writer.stdin!.end('held');
      expect((await writer).exitCode).toBe(0);
    }
  });

  it('a database its owner made read-only for a while is writable again once they make it so: the -wal and -shm it gave its mode to are given back (adversarial round)', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.log('skipped: needs root to run the CLI as another user (root writes read-only files)');
      return ctx.skip();
    }
    chmodSync(h.dir, 0o755);
    mkdirSync(h.home, { mode: 0o700 });
    await execa('chown', ['65534:65534', h.home]);
    const asNobody = (args: string[]) => execa('node', [BIN, '--json', ...args], { env: { AVFS_HOME: h.home, AVFS_VAULT: '' }, uid: 65534, gid: 65534, reject: false });
    const ok = (r: Awaited<ReturnType<typeof asNobody>>) => expect(JSON.parse(r.stdout), r.stdout + r.stderr).toMatchObject({ ok: true });
    ok(await asNobody(['write', '/x', 'hi']));
    chmodSync(dbFile(), 0o400);
    ok(await asNobody(['ls', '/']));
    chmodSync(dbFile(), 0o600);
    ok(await asNobody(['write', '/z', 'hi']));
    for (const suffix of ['-wal', '-shm']) if (existsSync(dbFile() + suffix)) expect([suffix, modeOf(dbFile() + suffix)]).toEqual([suffix, 0o600]);
  });

  it('a world-writable directory of another user is refused as a home (DENIED) with nothing left in it, another user\'s state.json is DENIED, not damage, and a removed working directory is NOT_FOUND (adversarial round)', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.log('skipped: needs root to run the CLI as another user');
      return ctx.skip();
    }
    chmodSync(h.dir, 0o755);
    const asNobody = (home: string, args: string[]) => execa('node', [BIN, '--json', ...args], { env: { AVFS_HOME: home, AVFS_VAULT: '' }, uid: 65534, gid: 65534, reject: false });
    // A world-writable directory root owns: avfs cannot make it private, so it is not made a home.
    const shared = join(h.dir, 'shared');
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    for (let i = 0; i < 2; i++) {
      const r = await asNobody(shared, ['write', '/a', 'hi']);
      expect(JSON.parse(r.stdout).error, r.stdout + r.stderr).toMatchObject({ code: 'DENIED', reason: 'permission' });
      expect(readdirSync(shared)).toEqual([]);
    }
    // Root changed the vault in use of nobody's home: its state.json is root's now.
    mkdirSync(h.home, { mode: 0o700 });
    await execa('chown', ['65534:65534', h.home]);
    expect(JSON.parse((await asNobody(h.home, ['write', '/x', 'hi'])).stdout)).toMatchObject({ ok: true });
    expectOk(await run(['vault', 'create', 'rv', '--use']));
    const denied = await asNobody(h.home, ['ls', '/']);
    expect(JSON.parse(denied.stdout).error, denied.stdout).toMatchObject({ code: 'DENIED', reason: 'permission' });
    // The working directory removed before avfs started: a relative host path names nothing.
    const gone = join(h.dir, 'gone');
    mkdirSync(gone);
    const r = await execa('sh', ['-c', 'cd "$1" && rmdir "$1" && exec node "$2" --json import . /i', 'sh', gone, BIN], { env: { AVFS_HOME: join(h.dir, 'other-home'), AVFS_VAULT: '' }, reject: false });
    expect(JSON.parse(r.stdout).error, r.stdout + r.stderr).toMatchObject({ code: 'NOT_FOUND', reason: 'cwd_removed' });
    expect(r.exitCode).toBe(3);
  });

  it('a user who may not open /dev/fuse is told so: FUSE_UNAVAILABLE, not INTERNAL "fuse failed" (adversarial round)', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.log('skipped: needs root to run the CLI as another user in a mount namespace of its own');
      return ctx.skip();
    }
    chmodSync(h.dir, 0o755);
    mkdirSync(join(h.home, 'mnt'), { recursive: true, mode: 0o700 });
    await execa('chown', ['-R', '65534:65534', h.home]);
    // A /dev/fuse only root may open (0600, as on this machine; most make it 0666), whatever this one's mode.
    const device = join(h.dir, 'fuse-device');
    writeFileSync(device, '', { mode: 0o600 });
    const script = 'mount --bind "$1" /dev/fuse && exec setpriv --reuid 65534 --regid 65534 --clear-groups node "$2" --json mount "$3"';
    const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', device, BIN, join(h.home, 'mnt')], { env: { AVFS_HOME: h.home, AVFS_VAULT: '' }, reject: false, timeout: 60_000 });
    const error = JSON.parse(r.stdout).error;
    expect(error, r.stdout + r.stderr).toMatchObject({ code: 'FUSE_UNAVAILABLE' });
    expect(error.message).toContain('/dev/fuse');
  });

  it('a database left world-readable by an older avfs is made 0600 on the next open', async () => {
    expectOk(await run(['write', '/a.txt', 'secret']));
    chmodSync(dbFile(), 0o644);
    expectOk(await run(['ls']));
    expect(modeOf(dbFile())).toBe(0o600);
  });
});

describeMount('home files of a mount', () => {
  it('session records, logs, the WAL and its index are 0600 and mounts/ 0700 while a mount serves', async () => {
    mkdirSync(h.home, { mode: 0o755 });
    chmodSync(h.home, 0o755);
    const dir = join(h.dir, 'mnt');
    mkdirSync(dir);
    const m = expectOk(await run(['mount', dir]));
    try {
      expectOk(await run(['write', '/a.txt', 'x'])); // the server holds the database open: -wal and -shm exist
      const mounts = join(h.home, 'mounts');
      expect(modeOf(mounts)).toBe(0o700);
      const files = [...readdirSync(mounts).map((n) => join(mounts, n)), dbFile(), `${dbFile()}-wal`, `${dbFile()}-shm`];
      expect(files.some((f) => f.endsWith('.json')) && files.some((f) => f.endsWith('.log'))).toBe(true);
      for (const f of files) expect([f, modeOf(f)]).toEqual([f, 0o600]);
      expect(modeOf(h.home)).toBe(0o700);
    } finally {
      await run(['unmount', dir, '--lazy', '--timeout', '5000']);
      await forceCleanup(dir, m.pid);
    }
  });
});

describe('a database from a newer avfs', () => {
  it('is refused with SCHEMA_TOO_NEW naming both versions, and left byte for byte as it was', async () => {
    expectOk(await run(['write', '/a.txt', 'kept']));
    const newer = MIGRATIONS.length + 1;
    const db = new Database(dbFile());
    // DELETE journal mode too: opening it must not switch it back to WAL (a write).
    db.pragma('journal_mode = DELETE');
    db.pragma(`user_version = ${newer}`);
    db.close();
    const before = { hash: sha(dbFile()), files: readdirSync(h.home).sort() };
    for (const args of [['ls'], ['cat', '/a.txt'], ['write', '/b.txt', 'new'], ['vault', 'create', 'other']]) {
      const err = expectError(await run(args), 'SCHEMA_TOO_NEW', 4);
      expect(err).toMatchObject({ schema_version: newer, supported_version: MIGRATIONS.length });
    }
    expect({ hash: sha(dbFile()), files: readdirSync(h.home).sort() }).toEqual(before);
  });
});

describe('a damaged home', () => {
  it('an empty avfs.db in a home that has state is DATABASE_DAMAGED, not silently a new home', async () => {
    expectOk(await run(['write', '/a.txt', 'work']));
    expectOk(await run(['vault', 'use', 'default']));
    truncateSync(dbFile(), 0);
    for (const args of [['ls'], ['write', '/b.txt', 'x']]) {
      const err = expectError(await run(args), 'DATABASE_DAMAGED', 1);
      expect(err.reason).toBe('empty');
    }
    expect(statSync(dbFile()).size).toBe(0); // nothing re-created over the evidence
  });

  it('a damaged state.json is DATABASE_DAMAGED (state_damaged), not the vault `default`; `vault use` repairs it; --vault still works', async () => {
    expectOk(await run(['vault', 'create', 'work']));
    expectOk(await run(['vault', 'create', 'other']));
    expectOk(await run(['vault', 'use', 'work']));
    expectOk(await run(['write', '/d.txt', 'keep']));
    const state = join(h.home, 'state.json');
    for (const damage of ['', '{"current_vau', '[1]', '{"current_vault": 5}', '{}', '{"vault": "work"}']) {
      writeFileSync(state, damage);
      // Read as no state, these acted on `default` (a new home's vault): writes landed there.
      for (const args of [['write', '/w.txt', 'x'], ['rm', '/d.txt'], ['ls']]) {
        const e = expectError(await run(args), 'DATABASE_DAMAGED', 1);
        expect([e.reason, e.file], damage).toEqual(['state_damaged', state]);
        expect(e.message).toContain('avfs vault use');
      }
      expect((await run(['ls', '/', '--vault', 'work'])).json.entries.map((x: { name: string }) => x.name)).toEqual(['d.txt']);
      // The names `vault use` needs are listed (none marked in use), and vault info works.
      const listed = expectOk(await run(['vault', 'list']));
      expect([listed.vaults.map((v: { name: string }) => v.name), listed.vaults.some((v: { current: boolean }) => v.current), listed.current], damage).toEqual([['other', 'work'], false, null]);
      expect(expectOk(await run(['vault', 'info', 'work'])).vault.current).toBe(false);
      expectOk(await run(['vault', 'use', 'work']));
      expect(JSON.parse(readFileSync(state, 'utf8'))).toEqual({ current_vault: 'work' });
    }
    expect((await run(['vault', 'list'])).json.vaults.map((v: { name: string }) => v.name)).toEqual(['other', 'work']);
    // A vault named to delete is deleted; the damaged file stays for `vault use` to repair.
    writeFileSync(state, '');
    expectOk(await run(['vault', 'delete', 'other']));
    expect(readFileSync(state, 'utf8')).toBe('');
    expectOk(await run(['vault', 'use', 'work']));
    expect(readdirSync(h.home).filter((n) => n.includes('.tmp'))).toEqual([]);
    // No state.json at all is still a new home's state, as before.
    rmSync(state);
    expectOk(await run(['vault', 'create', 'third']));
  });

  it('an empty avfs.db with no other state is still a new home', async () => {
    mkdirSync(h.home);
    writeFileSync(dbFile(), '');
    expectOk(await run(['write', '/a.txt', 'x']));
    expect(expectOk(await run(['cat', '/a.txt'])).content).toBe('x');
  });

  it('a file that is not a database is DATABASE_DAMAGED (not INTERNAL) and is not touched', async () => {
    mkdirSync(h.home);
    writeFileSync(dbFile(), randomBytes(8192));
    const before = sha(dbFile());
    const err = expectError(await run(['ls']), 'DATABASE_DAMAGED', 1);
    expect(err.reason).toBe('not_a_database');
    expect(sha(dbFile())).toBe(before);
  });

  it('an avfs.db that is a directory is DATABASE_DAMAGED (not INTERNAL EISDIR)', async () => {
    mkdirSync(dbFile(), { recursive: true });
    expect(expectError(await run(['ls']), 'DATABASE_DAMAGED', 1).reason).toBe('not_a_database');
  });

  it('a half-truncated database is DATABASE_DAMAGED (not INTERNAL) when a command reaches the lost part', async () => {
    const src = join(h.dir, 'src');
    mkdirSync(src);
    for (let i = 0; i < 40; i++) writeFileSync(join(src, `f${i}.txt`), randomBytes(3000).toString('hex'));
    expectOk(await run(['import', src, '/']));
    truncateSync(dbFile(), Math.floor(statSync(dbFile()).size / 2));
    const r = await run(['grep', 'zzz', '/']);
    expectError(r, 'DATABASE_DAMAGED', 1);
    expect(r.json.error.reason).toBe('corrupt');
  });

  it('a read-only home serves reads; writes fail with READ_ONLY and change nothing', async () => {
    expectOk(await run(['write', '-p', '/docs/a.txt', 'alpha beta']));
    expectOk(await run(['write', '/docs/a.txt', 'alpha gamma']));
    expectOk(await run(['checkpoint', 'save', 'cp1']));
    expectOk(await run(['vault', 'use', 'default']));
    const before = { hash: sha(dbFile()), files: readdirSync(h.home).sort() };
    await makeReadOnly(h.home);

    expect(expectOk(await run(['ls', '/docs'])).entries.map((e: any) => e.name)).toEqual(['a.txt']);
    expect(expectOk(await run(['cat', '/docs/a.txt'])).content).toBe('alpha gamma');
    expect(expectOk(await run(['cat', '/docs/a.txt', '--version', '1'])).content).toBe('alpha beta');
    expect(expectOk(await run(['log', '/docs/a.txt'])).versions).toHaveLength(2);
    expect(expectOk(await run(['search', 'gamma'])).count).toBe(1);
    expect(expectOk(await run(['tree'])).files).toBe(1);
    expectOk(await run(['checkpoint', 'list']));
    expectOk(await run(['vault', 'list']));
    expectOk(await run(['stats']));
    expectOk(await run(['audit']));
    // Dry runs write nothing, so they answer too.
    expect(expectOk(await run(['prune', '/docs/a.txt', '--keep', '1', '--dry-run'])).pruned_versions).toBe(1);
    expectOk(await run(['gc', '--dry-run']));

    for (const args of [['write', '/b.txt', 'x'], ['prune', '/docs/a.txt', '--keep', '1'], ['rm', '/docs/a.txt'], ['mkdir', '/d'], ['checkpoint', 'save', 'cp2'], ['vault', 'create', 'v2'], ['vault', 'use', 'default']]) {
      expectError(await run(args), 'READ_ONLY', 5);
    }
    expect({ hash: sha(dbFile()), files: readdirSync(h.home).sort() }).toEqual(before);
  });

  it('a read-only home whose last commits are only in the -wal (no -shm to read it) is READ_ONLY, never an old state', async () => {
    expectOk(await run(['write', '/a.txt', 'x']));
    // Copy the home while a writer holds a commit in the WAL, then drop the -shm from the copy.
    const copy = join(h.dir, 'copy');
    const db = new Database(dbFile());
    try {
      db.prepare("UPDATE vaults SET name = 'renamed' WHERE name = 'default'").run();
      cpSync(h.home, copy, { recursive: true });
    } finally {
      db.close();
    }
    rmSync(join(copy, 'avfs.db-shm'));
    expect(statSync(join(copy, 'avfs.db-wal')).size).toBeGreaterThan(0);
    await makeReadOnly(copy);
    expectError(await avfs(copy, ['vault', 'list']), 'READ_ONLY', 5);
  });
});
