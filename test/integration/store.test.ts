import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openStore, type Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { checkoutVersion, pathVersions, revertPath } from '../../src/store/history.js';
import { createVault, deleteVault, forkVault, listVaults, resolveVaultName, useVault } from '../../src/store/vaults.js';
import { INLINE_MAX } from '../../src/store/blobs.js';
import { ROOT, avfs, errorCode, openTempStore, seededRandom, thrownError } from '../helpers.js';
import { BUSY_TIMEOUT_MS } from '../../src/store/db.js';
import { MAX_NEW_PATH_BYTES } from '../../src/core/paths.js';
import { putEntry } from '../../src/store/entries.js';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';

const actor = { source: 'sdk' as const };
let home: { dir: string; cleanup: () => void };
let store: Store;
let fs: VaultFs;

const code = errorCode;
const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
/** Everything observable about a vault: used to prove a failed call changed nothing. */
const snapshot = (v: VaultFs) => JSON.stringify({ tree: v.walk('/').map((e) => [e.path, e.type, e.mode, e.hash, e.target, e.size]), versions: count('versions'), blobs: count('blobs') });

let close: () => void;
beforeEach(() => ({ home, store, fs, close } = openTempStore()));
afterEach(() => close());

describe('home and connections', () => {
  it('a VaultFs stays on the vault its name named: once that is deleted, a vault made under the name since is not changed by it', () => {
    createVault(store, 'p', actor);
    const long = new VaultFs(store, 'p', actor);
    long.writeFile('/first', 'a');
    // A person deletes the vault and makes another with its name while a long job (a streamed
    // write, an import, a copy-mode run) still holds this one.
    deleteVault(store, 'p', true, actor);
    // (The new row gets the deleted one's id: what tells them apart is the creation time, in ms.)
    for (const t = Date.now(); Date.now() === t; );
    createVault(store, 'p', actor);
    const err = thrownError(() => long.writeFile('/late', 'b'));
    expect([err?.code, (err?.data as { reason?: string } | undefined)?.reason]).toEqual(['VAULT_NOT_FOUND', 'vault_replaced']);
    expect(thrownError(() => long.readFile('/first'))?.code).toBe('VAULT_NOT_FOUND');
    const fresh = new VaultFs(store, 'p', actor);
    expect(fresh.walk('/').map((e) => e.path)).toEqual([]);
  });

  it('seeds a new home with a default vault that is used until another is chosen', () => {
    expect(store.fresh).toBe(true);
    expect(listVaults(store).map((v) => v.name)).toEqual(['default']);
    expect(resolveVaultName(store)).toBe('default');
  });
  it('shares one connection per home per process', () => {
    const again = openStore(home.dir);
    expect(again).toBe(store);
    again.release();
    expect(store.db.open).toBe(true);
  });
  it('runs in WAL mode', () => {
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
  });
  it('a lingering read (the mount\'s read requests) sees every commit made before each call; a write ends it first and never fails on its snapshot', async () => {
    fs.writeFile('/a.txt', 'one');
    store.lingerRead(60_000); // ended below, not by its timer
    expect(fs.readFile('/a.txt').toString()).toBe('one');
    store.lingerRead(60_000); // nothing committed since: the same transaction goes on
    let r = await avfs(home.dir, ['write', '/a.txt', 'two']);
    expect(r.code, r.stderr).toBe(0);
    expect(store.db.inTransaction).toBe(true);
    // The next request's call sees that another process committed: a new snapshot, with its write.
    store.lingerRead(60_000);
    expect(fs.readFile('/a.txt').toString()).toBe('two');
    r = await avfs(home.dir, ['write', '/a.txt', 'three']);
    expect(r.code, r.stderr).toBe(0);
    // A write of this connection ends it, then takes the write lock on the current state.
    fs.writeFile('/b.txt', 'b');
    expect(fs.readFile('/a.txt').toString()).toBe('three');
    expect(store.db.inTransaction).toBe(false);
    // One that lapses ends by itself.
    store.lingerRead(10);
    expect(store.db.inTransaction).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(store.db.inTransaction).toBe(false);
    // rolledBack, which refuses to run inside a transaction, ends one first too.
    store.lingerRead(60_000);
    expect(store.rolledBack(() => fs.readFile('/b.txt').toString())).toBe('b');
    expect(store.db.inTransaction).toBe(false);
  });
  it('a long scan reads in one transaction in WAL mode only (where WAL was refused a reader holds off every writer)', () => {
    expect(store.readLong(() => store.db.inTransaction)).toBe(true);
    const other = openTempStore();
    try {
      other.store.db.pragma('journal_mode = DELETE'); // as db.ts falls back where WAL is refused
      expect(other.store.readLong(() => other.store.db.inTransaction)).toBe(false);
    } finally {
      other.close();
    }
  });
  it('a write waits while another process holds the write lock, then commits (never SQLITE_BUSY), with the busy timeout unchanged', async () => {
    // Another process takes the write lock and keeps it for a moment.
    const holder = spawn(
      process.execPath,
      ['-e', `const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.exec('BEGIN IMMEDIATE'); db.prepare("INSERT INTO audit (at, op, source) VALUES (0, 'holder', 'sdk')").run(); console.log('locked'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 400);`, join(home.dir, 'avfs.db')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => holder.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      holder.once('exit', (c) => reject(new Error(`lock holder exited ${c}`)));
    });
    // Blocks this thread in SQLite's busy handler (Store.begin) until the holder commits.
    fs.writeFile('/after-wait.txt', 'written once the lock was free\n');
    expect(await exited).toBe(0);
    expect(fs.readFile('/after-wait.txt').toString()).toBe('written once the lock was free\n');
    expect((store.db.prepare("SELECT count(*) AS n FROM audit WHERE op = 'holder'").get() as { n: number }).n).toBe(1);
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(BUSY_TIMEOUT_MS);
  });
  it('a write lock held past the busy timeout ends in CONFLICT (exit 4, reason locked), and the write changes nothing', async () => {
    const holder = spawn(
      process.execPath,
      ['-e', `const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.exec('BEGIN IMMEDIATE'); console.log('locked'); process.stdin.on('data', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });`, join(home.dir, 'avfs.db')],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => holder.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.once('exit', (c) => reject(new Error(`lock holder exited ${c}`)));
      });
      const before = snapshot(fs);
      // The 30 s wait, shortened on this connection only.
      store.db.pragma('busy_timeout = 200');
      const e = thrownError(() => fs.writeFile('/locked-out.txt', 'never written\n'));
      expect([e?.code, e?.exitCode, e?.data.reason, e?.data.cause]).toEqual(['CONFLICT', 4, 'locked', 'SQLITE_BUSY']);
      expect(snapshot(fs)).toBe(before);
    } finally {
      store.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      holder.stdin!.end('release\n');
    }
    expect(await exited).toBe(0);
    fs.writeFile('/locked-out.txt', 'written once the lock was free\n');
    expect(fs.readFile('/locked-out.txt').toString()).toBe('written once the lock was free\n');
  });
  it('a full disk under the home (SQLITE_FULL) is NO_SPACE (exit 6), the write changes nothing, and writes work again once there is room', () => {
    fs.writeFile('/kept.txt', 'kept\n');
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    const before = snapshot(fs);
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    // The database may not grow past what it holds now: the disk is full, as far as SQLite can tell.
    store.db.pragma(`max_page_count = ${pages + 2}`);
    try {
      const e = thrownError(() => fs.writeFile('/big.bin', randomBytes(2 << 20)));
      expect([e?.code, e?.exitCode, e?.errno, e?.data.cause]).toEqual(['NO_SPACE', 6, 'ENOSPC', 'SQLITE_FULL']);
      expect(snapshot(fs)).toBe(before);
    } finally {
      store.db.pragma('max_page_count = 4294967294');
    }
    fs.writeFile('/big.bin', Buffer.alloc(2 << 20, 7));
    expect(fs.stat('/big.bin').size).toBe(2 << 20);
    expect(fs.readFile('/kept.txt').toString()).toBe('kept\n');
  });
  it('a home removed while a synchronous job runs (an import, a restore) fails that job at its commit (NOT_FOUND, home_removed) instead of reporting it done and losing it', () => {
    fs.writeFile('/before.txt', 'one');
    // Nothing in between yields to the event loop, so an inotify event could not arrive in time:
    // the commit itself must notice that the file it writes is no longer the home's.
    const e = thrownError(() =>
      store.mutate(() => {
        fs.writeFile('/during.txt', 'two');
        rmSync(home.dir, { recursive: true, force: true });
      }),
    );
    expect([e?.code, e?.data.reason, e?.data.home]).toEqual(['NOT_FOUND', 'home_removed', home.dir]);
    // Later writes are refused at once; reads still answer from the file this connection holds.
    expect(errorCode(() => fs.writeFile('/after.txt', 'three'))).toBe('NOT_FOUND');
    expect(fs.exists('/during.txt')).toBe(false);
    expect(fs.readFile('/before.txt').toString()).toBe('one');
    // A new connection makes the home anew.
    const again = openStore(home.dir);
    try {
      expect(again).not.toBe(store);
      new VaultFs(again, 'default', actor).writeFile('/new.txt', 'four');
      expect(new VaultFs(again, 'default', actor).list('/').map((x) => x.path)).toEqual(['/new.txt']);
    } finally {
      again.release();
    }
  });
  it('a database file replaced under the connection (moved away, another put in its place) is noticed the same way', () => {
    fs.writeFile('/before.txt', 'one');
    const file = join(home.dir, 'avfs.db');
    renameSync(file, `${file}.moved`);
    writeFileSync(file, '');
    expect(errorCode(() => fs.writeFile('/x.txt', 'lost?'))).toBe('NOT_FOUND');
  });
});

describe('files', () => {
  it('round-trips text and binary content byte for byte', () => {
    const bin = randomBytes(3000);
    fs.writeFile('/a.txt', 'héllo');
    fs.writeFile('/b.bin', bin);
    expect(fs.readFile('/a.txt').toString()).toBe('héllo');
    expect(fs.readFile('/b.bin').equals(bin)).toBe(true);
    expect(fs.stat('/b.bin')).toMatchObject({ type: 'f', size: 3000, mode: 0o644 });
  });

  it('stores identical content once', () => {
    fs.writeFile('/a', 'same');
    fs.writeFile('/b', 'same');
    fs.cp('/a', '/c');
    expect(count('blobs')).toBe(1);
    expect(fs.stat('/c').hash).toBe(fs.stat('/a').hash);
  });

  it('keeps content up to INLINE_MAX in one row; chunks larger content, reads ranges, and stores only what an edit changed', () => {
    fs.writeFile('/inline', randomBytes(INLINE_MAX));
    expect(count('chunks')).toBe(0);
    // Seeded, so the chunk boundaries (and the counts below) are the same every run.
    const random = seededRandom(7);
    const big = Buffer.from(new Uint32Array(Math.ceil((2 * INLINE_MAX + 123) / 4)).map(() => random(2 ** 32)).buffer, 0, 2 * INLINE_MAX + 123);
    fs.writeFile('/big', big);
    const chunks = count('chunks');
    expect(chunks).toBeGreaterThan(2 * INLINE_MAX / (64 * 1024)); // at most 64 KiB each
    const at = INLINE_MAX + 777;
    expect(fs.readRange('/big', at, 100_000).equals(big.subarray(at, at + 100_000))).toBe(true);
    expect(fs.readRange('/big', big.length - 3, 100).equals(big.subarray(big.length - 3))).toBe(true);
    // An overwrite in place and an insertion each store only the chunks around them.
    const edited = Buffer.from(big);
    edited.fill(7, INLINE_MAX, INLINE_MAX + 4096);
    fs.writeFile('/big', edited);
    expect(count('chunks') - chunks).toBeLessThanOrEqual(3);
    const inserted = Buffer.concat([edited.subarray(0, 1000), Buffer.from('x'.repeat(100)), edited.subarray(1000)]);
    const before = count('chunks');
    fs.writeFile('/big', inserted);
    expect(count('chunks') - before).toBeLessThanOrEqual(3);
    expect(fs.readFile('/big').equals(inserted)).toBe(true);
  });

  it('streams a host file in without changing the stored form', () => {
    const big = randomBytes(2 * INLINE_MAX + 1);
    const file = join(home.dir, 'host.bin');
    writeFileSync(file, big);
    const fd = openSync(file, 'r');
    const entry = fs.writeFile('/from-fd', { fd });
    closeSync(fd);
    fs.writeFile('/from-buffer', big);
    expect(fs.stat('/from-buffer').hash).toBe(entry.hash);
    expect(fs.readFile('/from-fd').equals(big)).toBe(true);
    for (const size of [0, 10, INLINE_MAX, INLINE_MAX + 1]) {
      writeFileSync(file, randomBytes(size));
      const fd2 = openSync(file, 'r');
      const e = fs.writeFile(`/s${size}`, { fd: fd2 });
      closeSync(fd2);
      expect(e.size).toBe(size);
      expect(fs.readFile(`/s${size}`).length).toBe(size);
    }
  });

  it('creates parents only when asked', () => {
    expect(code(() => fs.writeFile('/x/y/z', '1'))).toBe('NOT_FOUND');
    fs.writeFile('/x/y/z', '1', { parents: true });
    expect(fs.stat('/x/y').type).toBe('d');
    expect(code(() => fs.mkdir('/x'))).toBe('ALREADY_EXISTS');
    expect(fs.mkdir('/x', { parents: true }).type).toBe('d');
  });

  it('moves directories with everything in them, keeping inode numbers', () => {
    fs.writeFile('/src/a/b.txt', 'b', { parents: true });
    fs.writeFile('/src/c.txt', 'c');
    const ino = fs.stat('/src/a/b.txt').ino;
    fs.mv('/src', '/lib');
    expect(fs.walk('/').map((e) => e.path)).toEqual(['/lib', '/lib/a', '/lib/a/b.txt', '/lib/c.txt']);
    expect(fs.stat('/lib/a/b.txt').ino).toBe(ino);
    fs.mkdir('/dest');
    expect(fs.mv('/lib', '/dest').to).toBe('/dest/lib');
    expect(code(() => fs.mv('/dest', '/dest/lib/inside'))).toBe('INVALID_ARGUMENT');
  });

  it('rename follows POSIX: replaces a file, refuses a non-empty directory', () => {
    fs.writeFile('/a', 'A');
    fs.writeFile('/b', 'B');
    fs.rename('/a', '/b');
    expect(fs.readFile('/b').toString()).toBe('A');
    expect(fs.exists('/a')).toBe(false);
    fs.writeFile('/d1/f', '1', { parents: true });
    fs.writeFile('/d2/f', '2', { parents: true });
    expect(code(() => fs.rename('/d1', '/d2'))).toBe('NOT_EMPTY');
    expect(code(() => fs.rename('/b', '/d2'))).toBe('IS_A_DIRECTORY');
    expect(code(() => fs.rename('/d1', '/b'))).toBe('NOT_A_DIRECTORY');
  });

  it('copies trees sharing content', () => {
    fs.writeFile('/t/a', 'a', { parents: true });
    fs.symlink('a', '/t/link');
    const blobs = count('blobs');
    expect(code(() => fs.cp('/t', '/u'))).toBe('IS_A_DIRECTORY');
    fs.cp('/t', '/u', { recursive: true });
    expect(count('blobs')).toBe(blobs);
    expect(fs.readlink('/u/link')).toBe('a');
    expect(fs.readFile('/u/link').toString()).toBe('a');
  });

  it('cp clears set-user-ID, set-group-ID and sticky on a file copy, as cp(1) without -p does; the source keeps them', () => {
    fs.writeFile('/tool', '#!/bin/sh\n', { mode: 0o6755 });
    fs.writeFile('/sticky', 'x', { mode: 0o1644 });
    fs.cp('/tool', '/tool-copy');
    fs.cp('/sticky', '/sticky-copy');
    fs.writeFile('/over', 'replaced', { mode: 0o600 });
    fs.cp('/tool', '/over');
    const mode = (path: string) => (fs.lstat(path).mode & 0o7777).toString(8);
    // Onto a file already there, cp(1) writes its content and keeps its mode.
    expect(['/tool', '/tool-copy', '/sticky', '/sticky-copy', '/over'].map(mode)).toEqual(['6755', '755', '1644', '644', '600']);
    expect(fs.readFile('/over').toString()).toBe('#!/bin/sh\n');
    // A write clears set-user-ID and set-group-ID of the file written; its sticky bit stays.
    fs.writeFile('/setid', 'x', { mode: 0o7750 });
    fs.cp('/sticky', '/setid');
    expect(mode('/setid')).toBe('1750');
  });

  it('cp onto a file with hard links writes the file every name shares, keeping its mode, as cp(1) does (an adversarial round saw every name widened to the source\'s mode)', () => {
    fs.writeFile('/a', 'A', { mode: 0o600 });
    fs.link('/a', '/b');
    fs.writeFile('/c', 'C', { mode: 0o755 });
    fs.cp('/c', '/b');
    expect(['/a', '/b'].map((p) => [fs.readFile(p).toString(), fs.lstat(p).mode & 0o7777, fs.lstat(p).nlink])).toEqual([['C', 0o600, 2], ['C', 0o600, 2]]);
    // The same below a directory copied with -r onto one that holds a name of the file.
    fs.mkdir('/d/t', { parents: true });
    fs.link('/a', '/d/t/b');
    fs.mkdir('/t');
    fs.writeFile('/t/b', 'T', { mode: 0o700 });
    fs.cp('/t', '/d', { recursive: true });
    expect([fs.readFile('/a').toString(), fs.lstat('/a').mode & 0o7777, fs.lstat('/a').nlink]).toEqual(['T', 0o600, 3]);
  });

  it('cp of a symlink: follows it, but names the copy after the link (never after its target); with -r copies the link itself', () => {
    fs.writeFile('/src/notes.md', 'source notes', { parents: true });
    fs.writeFile('/backup/notes.md', 'IMPORTANT backup', { parents: true });
    fs.symlink('/src/notes.md', '/link');
    expect(fs.cp('/link', '/backup').to).toBe('/backup/link');
    expect(fs.readFile('/backup/notes.md').toString()).toBe('IMPORTANT backup');
    expect(fs.lstat('/backup/link').type).toBe('f');
    expect(fs.readFile('/backup/link').toString()).toBe('source notes');
    fs.mkdir('/copies');
    expect(fs.cp('/link', '/copies', { recursive: true }).to).toBe('/copies/link');
    expect(fs.readlink('/copies/link')).toBe('/src/notes.md');
    // A link to a directory: without -r it is a directory (refused), with -r the link is copied.
    fs.symlink('/src', '/dirlink');
    expect(code(() => fs.cp('/dirlink', '/copies'))).toBe('IS_A_DIRECTORY');
    fs.cp('/dirlink', '/copies', { recursive: true });
    expect(fs.readlink('/copies/dirlink')).toBe('/src');
    // A dangling link: NOT_FOUND names the link without -r; -r copies it.
    fs.symlink('/nowhere', '/dangling');
    const err = thrownError(() => fs.cp('/dangling', '/copies'));
    expect(err?.code).toBe('NOT_FOUND');
    expect(err?.message).toContain('/dangling');
    fs.cp('/dangling', '/copies', { recursive: true });
    expect(fs.readlink('/copies/dangling')).toBe('/nowhere');
    // With -r, a link onto a link to a file replaces that link; the file it pointed to stays.
    fs.writeFile('/ef', 'keep me');
    fs.symlink('/ef', '/lef');
    fs.cp('/dirlink', '/lef', { recursive: true });
    expect(fs.readlink('/lef')).toBe('/src');
    expect(fs.readFile('/ef').toString()).toBe('keep me');
    // A link onto itself is the same file; `link/` names the directory it points to.
    expect(code(() => fs.cp('/link', '/link', { recursive: true }))).toBe('INVALID_ARGUMENT');
    expect(fs.readFile('/src/notes.md').toString()).toBe('source notes');
    fs.cp('/dirlink/', '/tree', { recursive: true });
    expect(fs.lstat('/tree').type).toBe('d');
    expect(fs.readFile('/tree/notes.md').toString()).toBe('source notes');
    // cp(1) will not write through a link to nothing: refused, naming the link, and nothing made.
    fs.symlink('/made-by-cp', '/dest-link');
    const refused = thrownError(() => fs.cp('/ef', '/dest-link'));
    expect(refused?.code).toBe('INVALID_ARGUMENT');
    expect(refused?.message).toContain('/dest-link');
    expect(fs.exists('/made-by-cp')).toBe(false);
    expect(fs.readlink('/dest-link')).toBe('/made-by-cp');
    // A link to a file that exists is written through, as cp(1) does.
    fs.writeFile('/made-by-cp', 'old');
    fs.cp('/ef', '/dest-link');
    expect(fs.readFile('/made-by-cp').toString()).toBe('keep me');
  });

  it('mkdir follows symlinks above the new directory; -p (mkdir and write) refuses to go through a link to nothing', () => {
    fs.mkdir('/real');
    fs.symlink('/real', '/link');
    fs.symlink('nowhere', '/dangling');
    expect(fs.mkdir('/link/sub').path).toBe('/real/sub');
    expect(fs.mkdir('/link/a/b', { parents: true }).path).toBe('/real/a/b');
    expect(fs.mkdir('/link', { parents: true }).type).toBe('l');
    expect(code(() => fs.mkdir('/link'))).toBe('ALREADY_EXISTS');
    expect(code(() => fs.mkdir('/dangling/x', { parents: true }))).toBe('NOT_A_DIRECTORY');
    expect(code(() => fs.writeFile('/dangling/f', 'x', { parents: true }))).toBe('NOT_A_DIRECTORY');
    expect(code(() => fs.writeFile('/dangling/f', 'x'))).toBe('NOT_FOUND');
    expect(fs.exists('/nowhere')).toBe(false);
    expect(fs.writeFile('/link/deep/f', 'x', { parents: true }).path).toBe('/real/deep/f');
  });

  it('follows symlinks in paths like POSIX lookup', () => {
    fs.writeFile('/real/file', 'x', { parents: true });
    fs.symlink('/real', '/abs');
    fs.symlink('real', '/rel');
    fs.symlink('loop2', '/loop1');
    fs.symlink('loop1', '/loop2');
    expect(fs.readFile('/abs/file').toString()).toBe('x');
    expect(fs.readFile('/rel/file').toString()).toBe('x');
    fs.writeFile('/rel/new', 'y');
    expect(fs.readFile('/real/new').toString()).toBe('y');
    expect(code(() => fs.readFile('/loop1'))).toBe('INVALID_PATH');
    expect(fs.lstat('/abs').type).toBe('l');
  });

  it('a link whose target climbs above / stays at /, as the kernel takes it where the vault is the whole tree (sandbox, mount)', () => {
    fs.writeFile('/real/file', 'x', { parents: true });
    fs.symlink('../../../real', '/up');
    fs.symlink('../../..', '/real/top');
    expect(fs.readFile('/up/file').toString()).toBe('x');
    expect(fs.readFile('/real/top/real/file').toString()).toBe('x');
    expect(fs.resolve('/up')).toBe('/real');
    // Typed by the caller, `..` above the root is still refused.
    expect(code(() => fs.readFile('/../real/file'))).toBe('INVALID_PATH');
  });

  it('rm needs -r for a non-empty directory and never removes the root', () => {
    fs.writeFile('/d/e/f', '1', { parents: true });
    expect(code(() => fs.rm('/d'))).toBe('NOT_EMPTY');
    expect(fs.rm('/d', { recursive: true })).toEqual(['/d/e/f', '/d/e', '/d']);
    expect(code(() => fs.rm('/'))).toBe('INVALID_PATH');
  });

  it('rm and rmdir refuse a path ending in . or .. (taken textually, /keep/typo/.. would be all of /keep) and remove nothing', () => {
    fs.writeFile('/keep/me/file.txt', 'important', { parents: true });
    for (const path of ['/keep/typo/..', '/keep/me/..', '/keep/me/../', '/keep/.', '/keep/me/./']) {
      expect(code(() => fs.rm(path, { recursive: true })), path).toBe('INVALID_PATH');
      expect(code(() => fs.rmdir(path)), path).toBe('INVALID_PATH');
    }
    expect(fs.readFile('/keep/me/file.txt').toString()).toBe('important');
    expect(fs.rm('/keep/me/../me', { recursive: true })).toEqual(['/keep/me/file.txt', '/keep/me']);
  });

  it('truncate shrinks and zero-extends', () => {
    fs.writeFile('/t', 'abcdef');
    fs.truncate('/t', 3);
    expect(fs.readFile('/t').toString()).toBe('abc');
    fs.truncate('/t', 5);
    expect(fs.readFile('/t').equals(Buffer.from('abc\0\0'))).toBe(true);
  });

  it('records one version per change with its source', () => {
    fs.writeFile('/v', '1');
    fs.writeFile('/v', '2');
    fs.rm('/v');
    const rows = store.db.prepare("SELECT version, op, type, source FROM versions WHERE path = '/v' ORDER BY id").all();
    expect(rows).toEqual([
      { version: 1, op: 'create', type: 'f', source: 'sdk' },
      { version: 2, op: 'write', type: 'f', source: 'sdk' },
      { version: 3, op: 'delete', type: null, source: 'sdk' },
    ]);
  });
});

describe('walk to a depth', () => {
  it('is the full walk without what lies deeper, in the same order, in a fork with its own changes and whiteouts too (both the level-by-level and the one-scan way)', () => {
    const rnd = seededRandom(11);
    // Names that sort around '/' (' ', '!', '-', '.') put a directory's descendants between its
    // siblings in path order; U+E000 and an emoji sort apart in UTF-8 and UTF-16.
    const names = ['a', 'a b', 'a!', 'a-x', 'a.b', 'b', 'z', '\ue000', '😀'];
    const dirs = ['/'];
    for (let i = 0; i < 400; i++) {
      const dir = dirs[rnd(dirs.length)]!;
      const path = `${dir === '/' ? '' : dir}/${names[rnd(names.length)]}${rnd(3)}`;
      if (fs.exists(path)) continue;
      if (rnd(3) === 0 && path.split('/').length < 22) {
        fs.mkdir(path);
        dirs.push(path);
      } else fs.writeFile(path, `f${i}`);
    }
    // Past WALK_BY_LEVEL_MAX (16) levels too, where one scan is filtered instead.
    fs.writeFile(`/a${'/d'.repeat(24)}/leaf`, 'deep', { parents: true });
    dirs.splice(1, 0, '/a');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    for (const d of dirs.slice(2, 30)) if (fork.exists(d)) fork.rm(d, { recursive: true });
    fork.writeFile('/a b9/new/deep/x', 'x', { parents: true });
    for (const v of [fs, fork]) {
      for (const top of ['/', ...dirs.slice(1, 6)].filter((d) => v.exists(d))) {
        const base = top === '/' ? 0 : top.split('/').length - 1;
        const all = v.walk(top).map((e) => e.path);
        for (const depth of [1, 2, 3, 5, 16, 17, 40]) {
          expect(v.walk(top, depth).map((e) => e.path), `${v.name} ${top} ${depth}`).toEqual(all.filter((p) => p.split('/').length - 1 - base <= depth));
        }
      }
    }
    expect(fs.walk('/', 1).every((e) => e.parent === '/')).toBe(true);
  });
});

describe('bad input changes nothing', () => {
  it.each([
    ['../ escape', (v: VaultFs) => v.writeFile('../x', 'x'), 'INVALID_PATH'],
    ['NUL byte', (v: VaultFs) => v.writeFile('/a\0b', 'x'), 'INVALID_PATH'],
    ['a lone surrogate in a name', (v: VaultFs) => v.writeFile('/s\ud800x', 'x'), 'INVALID_PATH'],
    ['a lone low surrogate in a directory name', (v: VaultFs) => v.mkdir('/\udc00'), 'INVALID_PATH'],
    ['a lone surrogate in a symlink target', (v: VaultFs) => v.symlink('/t\ud800', '/link'), 'INVALID_PATH'],
    ['a lone surrogate in text content', (v: VaultFs) => v.writeFile('/text', 'a\ud800b'), 'INVALID_ARGUMENT'],
    ['a lone surrogate in appended text', (v: VaultFs) => v.appendFile('/file', '\udfff'), 'INVALID_ARGUMENT'],
    ['empty path', (v: VaultFs) => v.writeFile('', 'x'), 'INVALID_PATH'],
    ['file used as a directory', (v: VaultFs) => v.writeFile('/file/child', 'x'), 'NOT_A_DIRECTORY'],
    ['file used as a directory with -p', (v: VaultFs) => v.writeFile('/file/child/deeper', 'x', { parents: true }), 'NOT_A_DIRECTORY'],
    ['writing a directory path', (v: VaultFs) => v.writeFile('/dir', 'x'), 'IS_A_DIRECTORY'],
    ['writing the root', (v: VaultFs) => v.writeFile('/', 'x'), 'IS_A_DIRECTORY'],
    ['reading a directory', (v: VaultFs) => v.readFile('/dir'), 'IS_A_DIRECTORY'],
    ['reading a file as a directory (trailing slash)', (v: VaultFs) => v.readFile('/file/'), 'NOT_A_DIRECTORY'],
    ['reading a FIFO (no content, not an empty file)', (v: VaultFs) => v.readFile('/fifo'), 'INVALID_ARGUMENT'],
    ['reading a socket through a symlink', (v: VaultFs) => v.readFile('/link-to-sock'), 'INVALID_ARGUMENT'],
    ['reading a range of a FIFO', (v: VaultFs) => v.readRange('/fifo', 0, 10), 'INVALID_ARGUMENT'],
    ['streaming a FIFO', (v: VaultFs) => [...v.readChunks('/fifo')], 'INVALID_ARGUMENT'],
    ['removing a file as a directory', (v: VaultFs) => v.rm('/file/'), 'NOT_A_DIRECTORY'],
    ['moving a file as a directory', (v: VaultFs) => v.mv('/file/', '/moved'), 'NOT_A_DIRECTORY'],
    ['copying a file as a directory', (v: VaultFs) => v.cp('/file/.', '/copy'), 'NOT_A_DIRECTORY'],
    ['listing a file as a directory', (v: VaultFs) => v.list('/file/'), 'NOT_A_DIRECTORY'],
    ['removing a link to a file as a directory', (v: VaultFs) => v.rm('/link-to-file/'), 'NOT_A_DIRECTORY'],
    ['moving a link to a file as a directory', (v: VaultFs) => v.mv('/link-to-file/', '/moved'), 'NOT_A_DIRECTORY'],
    ['removing a dangling link as a directory', (v: VaultFs) => v.rm('/dangling/'), 'NOT_FOUND'],
    ['mkdir over a file', (v: VaultFs) => v.mkdir('/file'), 'ALREADY_EXISTS'],
    ['moving a missing path', (v: VaultFs) => v.mv('/nope', '/x'), 'NOT_FOUND'],
    ['copying into itself', (v: VaultFs) => v.cp('/dir', '/dir/sub', { recursive: true }), 'INVALID_ARGUMENT'],
  ])('%s', (_name, fn, expected) => {
    fs.writeFile('/file', 'content');
    fs.mkdir('/dir');
    fs.writeFile('/dir/inner', 'i');
    fs.symlink('/file', '/link-to-file');
    fs.symlink('/nowhere', '/dangling');
    fs.mknod('/fifo', 'p', 0o644);
    fs.mknod('/sock', 's', 0o755);
    fs.symlink('/sock', '/link-to-sock');
    const before = snapshot(fs);
    expect(code(() => fn(fs))).toBe(expected);
    expect(snapshot(fs)).toBe(before);
  });
});

describe('path length', () => {
  // 32 levels of 250-byte names: 8,032 bytes; a name of 159 bytes below it ends at exactly 8,192.
  const deepDir = `/${'d'.repeat(250)}`.repeat(32);
  const atBound = `${deepDir}/${'n'.repeat(MAX_NEW_PATH_BYTES - Buffer.byteLength(deepDir) - 1)}`;
  const pastBound = atBound + 'n';

  it('a new entry may have a path of MAX_NEW_PATH_BYTES, not one byte more: write -p, mkdir -p, symlink, cp and mv past it are INVALID_PATH (cause ENAMETOOLONG) and change nothing', () => {
    expect(Buffer.byteLength(atBound)).toBe(MAX_NEW_PATH_BYTES);
    fs.writeFile('/file', 'content');
    fs.mkdir('/dir');
    fs.writeFile(`/dir/${'i'.repeat(200)}`, 'inner');
    const before = snapshot(fs);
    // -p would create 32 directories first: the whole write is undone.
    const err = thrownError(() => fs.writeFile(pastBound, 'x', { parents: true }));
    expect(err).toMatchObject({ code: 'INVALID_PATH', data: { reason: 'path_too_long', max_bytes: MAX_NEW_PATH_BYTES, cause: 'ENAMETOOLONG' } });
    expect(code(() => fs.mkdir(pastBound, { parents: true }))).toBe('INVALID_PATH');
    expect(snapshot(fs)).toBe(before);
    fs.writeFile(atBound, 'at the bound', { parents: true });
    expect(fs.readFile(atBound).toString()).toBe('at the bound');
    const withDeep = snapshot(fs);
    expect(code(() => fs.symlink('/file', pastBound))).toBe('INVALID_PATH');
    expect(code(() => fs.cp('/file', pastBound))).toBe('INVALID_PATH');
    expect(code(() => fs.mv('/file', pastBound))).toBe('INVALID_PATH');
    // The directory's own new path fits; the file inside it would not (8,032 + 1 + 2 + 1 + 200 bytes).
    expect(code(() => fs.mv('/dir', `${deepDir}/mv`))).toBe('INVALID_PATH');
    expect(snapshot(fs)).toBe(withDeep);
  });

  it('a path stored past the bound (by an older avfs) stays readable, removable and restorable', () => {
    fs.mkdir(deepDir, { parents: true });
    store.mutate(() => putEntry(store, fs.row(), pastBound, { type: 'f', mode: 0o644, size: 0, hash: null, target: null }, { op: 'write', actor, exact: true }));
    expect(fs.stat(pastBound).size).toBe(0);
    expect(fs.list(deepDir).map((e) => e.path)).toEqual([pastBound]);
    // Rewriting it is not a new entry.
    fs.writeFile(pastBound, 'rewritten');
    saveCheckpoint(fs, 'with-it');
    fs.rm(pastBound);
    expect(fs.exists(pastBound)).toBe(false);
    restoreCheckpoint(fs, 'with-it');
    expect(fs.readFile(pastBound).toString()).toBe('rewritten');
    // Path by path too: revert of its removal, checkout of an old version of it (parents included).
    fs.rm(deepDir.slice(0, deepDir.indexOf('/', 1)), { recursive: true });
    revertPath(fs, pastBound);
    expect(fs.readFile(pastBound).toString()).toBe('rewritten');
    fs.rm(pastBound);
    checkoutVersion(fs, pastBound, 2);
    expect(fs.readFile(pastBound).toString()).toBe('rewritten');
    fs.rm('/' + 'd'.repeat(250), { recursive: true });
    expect(fs.walk('/')).toEqual([]);
  });
});

describe('vaults', () => {
  it('validates names', () => {
    for (const bad of ['', 'a b', '../x', 'a/b', '-x', '.hidden', 'x'.repeat(129), 'ü']) {
      expect(code(() => createVault(store, bad, actor))).toBe('INVALID_NAME');
    }
    expect(code(() => createVault(store, 'default', actor))).toBe('ALREADY_EXISTS');
    expect(code(() => useVault(store, 'missing'))).toBe('VAULT_NOT_FOUND');
  });

  it('forks copy metadata only and then diverge independently', () => {
    for (let i = 0; i < 50; i++) fs.writeFile(`/d/f${i}`, `content ${i}`, { parents: true });
    const blobs = count('blobs');
    forkVault(store, 'default', 'child', actor);
    expect(count('blobs')).toBe(blobs);
    const child = new VaultFs(store, 'child', actor);
    expect(child.walk('/').map((e) => [e.path, e.hash])).toEqual(fs.walk('/').map((e) => [e.path, e.hash]));
    child.writeFile('/d/f1', 'changed in child');
    child.rm('/d/f2');
    fs.writeFile('/d/f3', 'changed in parent');
    expect(fs.readFile('/d/f1').toString()).toBe('content 1');
    expect(fs.exists('/d/f2')).toBe(true);
    expect(child.readFile('/d/f3').toString()).toBe('content 3');
    expect(listVaults(store).find((v) => v.name === 'child')?.parent).toBe('default');
  });

  it('refuses to delete a vault with forks unless forced, then detaches them', () => {
    forkVault(store, 'default', 'child', actor);
    expect(code(() => deleteVault(store, 'default', false, actor))).toBe('HAS_FORKS');
    expect(deleteVault(store, 'default', true, actor).detached_forks).toEqual(['child']);
    expect(listVaults(store).map((v) => [v.name, v.parent, v.detached])).toEqual([['child', null, true]]);
    // The deleted vault was in use: nothing is silently chosen instead.
    expect(code(() => resolveVaultName(store))).toBe('NO_VAULT');
  });

  it('history from before a fork names a deleted parent by the name it had, never by its internal retired name', () => {
    fs.writeFile('/f', 'one');
    forkVault(store, 'default', 'child', actor);
    deleteVault(store, 'default', true, actor);
    const child = new VaultFs(store, 'child', actor);
    expect(pathVersions(store, child.row(), '/f', 10).map((v) => v.vault)).toEqual(['default']);
  });

  it('enforces quotas atomically', () => {
    store.db.prepare("UPDATE vaults SET max_bytes = 10 WHERE name = 'default'").run();
    fs.writeFile('/a', '12345');
    const before = snapshot(fs);
    expect(code(() => fs.writeFile('/b', '123456'))).toBe('QUOTA_EXCEEDED');
    expect(snapshot(fs).replace(/"blobs":\d+/, '')).toBe(before.replace(/"blobs":\d+/, ''));
    fs.writeFile('/a', '1234567890'); // replacing within the quota is fine
  });
});

describe('the change sequence', () => {
  it('never reuses ids, so a fork never inherits its parent changes made after the fork', async () => {
    const { pathVersions } = await import('../../src/store/history.js');
    const { getVault } = await import('../../src/store/vaults.js');
    fs.writeFile('/f', 'one');
    createVault(store, 'other', actor);
    new VaultFs(store, 'other', actor).writeFile('/x', 'x'); // the newest change so far
    forkVault(store, 'default', 'child', actor);
    deleteVault(store, 'other', false, actor); // frees the newest ids
    fs.writeFile('/f', 'two'); // made after the fork: must not appear in the child's history
    const childLog = pathVersions(store, getVault(store, 'child'), '/f', 10);
    expect(childLog.map((v) => v.version)).toEqual([1]);
  });
});
