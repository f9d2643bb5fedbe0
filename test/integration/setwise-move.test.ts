import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { revertPath } from '../../src/store/history.js';
import type { Store } from '../../src/store/store.js';
import { moveEntries, VaultFs } from '../../src/store/vault-fs.js';
import { removeEachBelow, removeEntry } from '../../src/store/entries.js';
import { setQuota } from '../../src/store/quota.js';
import { createVault, forkVault, getVault } from '../../src/store/vaults.js';
import { openTempStore } from '../helpers.js';

/**
 * A moved directory's contents move set-wise (entries.ts moveBelow), a few statements over the
 * whole set, where the reference (moveEntries) puts and removes each entry through the one door.
 * Both must write the same rows and versions, in the vault and in its fork: the same tree is built
 * in two vaults, moved one way in each, and everything compared.
 */
const ACTOR = { source: 'sdk' } as const;
// An astral character: SQLite's length() and substr() count it as one, JavaScript as two units.
const SRC = '/😀src';

function build(fs: VaultFs): void {
  fs.mkdir('/dst/moved/a/b/c', { parents: true });
  fs.writeFile('/dst/moved/a/b/c/f', 'was here'); // paths the move arrives at again: their versions continue
  fs.rm('/dst/moved', { recursive: true });
  fs.mkdir(`${SRC}/a/b/c`, { parents: true });
  fs.mkdir(`${SRC}/empty`);
  fs.writeFile(`${SRC}/a/b/c/f`, 'deep file');
  fs.writeFile(`${SRC}/a/big`, Buffer.alloc(200_000, 7));
  fs.writeFile(`${SRC}/a/empty-file`, '');
  fs.writeFile(`${SRC}/a/é ü`, 'unicode name');
  fs.symlink('../a/b/c/f', `${SRC}/empty/link`);
  fs.mknod(`${SRC}/fifo`, 'p', 0o640);
  fs.writeFile(`${SRC}/linked`, 'two names inside');
  fs.link(`${SRC}/linked`, `${SRC}/a/linked2`);
  fs.writeFile('/outside', 'one name outside');
  fs.link('/outside', `${SRC}/a/b/inside`);
  fs.chmod(`${SRC}/a/b`, 0o700);
  fs.chmod(`${SRC}/a/big`, 0o6755); // a copy loses set-user-ID and set-group-ID (copiedMode)
  fs.chmod(`${SRC}/empty`, 0o3775); // and a directory keeps only its sticky bit
  fs.chown(`${SRC}/a/b/c/f`, 1234, 5678);
  fs.writeFile(`${SRC}/a/b/c/f`, 'deep file, second version');
  fs.mkdir('/dst/old');
  // Times apart from the frozen clock's, so each time column keeps its own.
  fs.utimes(`${SRC}/a/b/c/f`, Date.UTC(2001, 0, 1), Date.UTC(2002, 0, 1));
  fs.utimes(`${SRC}/a`, Date.UTC(2003, 0, 1), Date.UTC(2004, 0, 1));
}

/** The vault's own rows and versions, without the vault id, version ids and times of recording. */
function snapshot(store: Store, name: string) {
  const id = getVault(store, name).id;
  const rows = store.db.prepare('SELECT * FROM entries WHERE vault_id = ? ORDER BY path').all(id) as Array<Record<string, unknown>>;
  const versions = store.db
    .prepare('SELECT path, version, op, type, mode, uid, gid, size, hash, target, rdev, ino, nlink, mtime, annot, source, exec_id, detail, change_id IS NULL AS alone FROM versions WHERE vault_id = ? ORDER BY path, version, op')
    .all(id) as Array<Record<string, unknown>>;
  const changes = store.db.prepare('SELECT count(DISTINCT coalesce(change_id, id)) AS n FROM versions WHERE vault_id = ?').get(id) as { n: number };
  const counters = store.db.prepare('SELECT files, directories, symlinks, specials, bytes, next_ino FROM vaults WHERE id = ?').get(id);
  return { rows: rows.map(({ vault_id: _, ...r }) => r), versions, changes: changes.n, counters };
}

/** What a vault's own layer gets on top of what it reads through (the fork tests). */
function diverge(fs: VaultFs): void {
  fs.writeFile(`${SRC}/a/own-new`, 'only in the fork');
  fs.rm(`${SRC}/a/big`); // a whiteout below the moved directory
  fs.writeFile(`${SRC}/a/b/c/f`, 'changed in the fork'); // a row of its own over an inherited one
  fs.rm(`${SRC}/empty`, { recursive: true });
  fs.mkdir(`${SRC}/empty`); // its own again; the link below stays hidden
  fs.mkdir(`${SRC}/forkdir/x`, { parents: true });
  fs.writeFile('/dst/old/new', 'arrives where the move goes'); // gone again before the move
  fs.rm('/dst/old/new');
}

/**
 * Moves `from` to `to` in `set` as avfs does (VaultFs.mv: set-wise below a directory) and in
 * `each` entry by entry (moveEntries), at one frozen time, and compares what each vault and its
 * fork (pushDown) wrote.
 */
function compareMove(store: Store, set: VaultFs, each: VaultFs, from: string, to: string, moved: number, at: number): void {
  vi.setSystemTime(at);
  expect(set.mv(from, to)).toEqual({ from, to, moved });
  expect(store.mutate(() => moveEntries(store, each.row(), from, to, { op: 'move', actor: ACTOR }))).toBe(moved);
  expect(snapshot(store, set.name)).toEqual(snapshot(store, each.name));
  expect(snapshot(store, `${set.name}-fork`)).toEqual(snapshot(store, `${each.name}-fork`));
  expect(set.walk('/')).toEqual(each.walk('/'));
}

/** A move there and back, then `revert` of the move back (set-wise in both), compared after each step. */
function compareMoves(store: Store, set: VaultFs, each: VaultFs, moved: number): void {
  const forkView = new VaultFs(store, `${set.name}-fork`, ACTOR).walk('/');
  compareMove(store, set, each, SRC, '/dst/moved', moved, Date.UTC(2021, 0, 1));
  expect(set.exists(SRC)).toBe(false);
  compareMove(store, set, each, '/dst/moved', SRC, moved, Date.UTC(2022, 0, 1));
  vi.setSystemTime(Date.UTC(2023, 0, 1));
  for (const fs of [set, each]) revertPath(fs, SRC);
  expect(snapshot(store, set.name)).toEqual(snapshot(store, each.name));
  expect(set.exists('/dst/moved')).toBe(true);
  // The fork never sees its parent's later changes.
  expect(new VaultFs(store, `${set.name}-fork`, ACTOR).walk('/')).toEqual(forkView);
}

describe('a directory moved, copied or removed set-wise writes what entry by entry writes', () => {
  let t: ReturnType<typeof openTempStore>;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.UTC(2020, 0, 1));
    t = openTempStore();
  });
  afterEach(() => {
    t.close();
    vi.useRealTimers();
  });

  /** `set` and `each`, made alike by `make`, each with a fork of its own. */
  function pair(make: (name: string) => VaultFs): [VaultFs, VaultFs] {
    const set = make('set');
    const each = make('each');
    for (const name of ['set', 'each']) forkVault(t.store, name, `${name}-fork`, ACTOR);
    return [set, each];
  }

  const rootPair = () =>
    pair((name) => {
      createVault(t.store, name, ACTOR);
      const fs = new VaultFs(t.store, name, ACTOR);
      build(fs);
      return fs;
    });

  /** A fork of a fork each: their trees partly their own, partly read through, with whiteouts on both sides. */
  function forkPair(): [VaultFs, VaultFs, VaultFs] {
    createVault(t.store, 'base', ACTOR);
    build(new VaultFs(t.store, 'base', ACTOR));
    forkVault(t.store, 'base', 'mid', ACTOR);
    const mid = new VaultFs(t.store, 'mid', ACTOR);
    mid.rm(`${SRC}/a/empty-file`);
    mid.writeFile(`${SRC}/a/mid-file`, 'from the middle');
    const [set, each] = pair((name) => {
      forkVault(t.store, 'mid', name, ACTOR);
      const fs = new VaultFs(t.store, name, ACTOR);
      diverge(fs);
      return fs;
    });
    expect(set.row().ancestors).not.toBe('[]');
    // A whiteout of their own that hides nothing any more: the middle removes the path as well.
    for (const fs of [set, each]) fs.rm(`${SRC}/a/é ü`);
    mid.rm(`${SRC}/a/é ü`);
    return [set, each, mid];
  }

  /** rm -r of SRC: `set` as avfs does it (set-wise below it), `each` entry by entry (removeEachBelow). */
  function compareRemove(set: VaultFs, each: VaultFs): void {
    vi.setSystemTime(Date.UTC(2024, 0, 1));
    const forkView = new VaultFs(t.store, 'set-fork', ACTOR).walk('/');
    const removed = set.rm(SRC, { recursive: true });
    const change = { op: 'delete', actor: ACTOR };
    const reference = t.store.mutate(() => {
      const below = removeEachBelow(t.store, each.row(), SRC, change);
      removeEntry(t.store, each.row(), SRC, change);
      return [...below, SRC];
    });
    expect(removed).toEqual(reference);
    expect(snapshot(t.store, 'set')).toEqual(snapshot(t.store, 'each'));
    expect(snapshot(t.store, 'set-fork')).toEqual(snapshot(t.store, 'each-fork'));
    expect(set.walk('/')).toEqual(each.walk('/'));
    expect(set.exists(SRC)).toBe(false);
    expect(new VaultFs(t.store, 'set-fork', ACTOR).walk('/')).toEqual(forkView);
  }

  /**
   * cp -r of SRC to a path with history of its own: `set` set-wise below the top; `each` has a quota
   * (far from reached), under which a copy checks entry by entry, so it copies one by one.
   */
  function compareCopy(set: VaultFs, each: VaultFs, copied: number): void {
    vi.setSystemTime(Date.UTC(2025, 0, 1));
    setQuota(t.store, 'each', { max_files: 1_000_000 }, ACTOR);
    const forkView = new VaultFs(t.store, 'set-fork', ACTOR).walk('/');
    for (const fs of [set, each]) expect(fs.cp(SRC, '/dst/moved', { recursive: true })).toEqual({ from: SRC, to: '/dst/moved', copied });
    expect(snapshot(t.store, 'set')).toEqual(snapshot(t.store, 'each'));
    expect(snapshot(t.store, 'set-fork')).toEqual(snapshot(t.store, 'each-fork'));
    expect(set.walk('/')).toEqual(each.walk('/'));
    expect(new VaultFs(t.store, 'set-fork', ACTOR).walk('/')).toEqual(forkView);
    const source = set.walk(SRC);
    expect(set.walk('/dst/moved').map((e) => [e.path.slice('/dst/moved'.length), e.type, e.hash, e.nlink])).toEqual(
      source.map((e) => [e.path.slice(SRC.length), e.type, e.hash, e.type === 'd' ? e.nlink : 1]),
    );
  }

  /**
   * rm -r of SRC, then revert of SRC: `set` brings back what went set-wise; `each` has a quota (far
   * from reached), under which a revert puts each path back one by one.
   */
  function compareRevert(set: VaultFs, each: VaultFs, changed: number): void {
    vi.setSystemTime(Date.UTC(2025, 0, 1));
    for (const fs of [set, each]) fs.rm(SRC, { recursive: true });
    // A fork made after the removal shows nothing there, and must go on showing nothing (pushDown).
    for (const name of ['set', 'each']) forkVault(t.store, name, `${name}-later`, ACTOR);
    setQuota(t.store, 'each', { max_files: 1_000_000 }, ACTOR);
    vi.setSystemTime(Date.UTC(2026, 0, 1));
    const forkViews = ['set-fork', 'set-later'].map((name) => new VaultFs(t.store, name, ACTOR).walk('/'));
    expect([set, each].map((fs) => revertPath(fs, SRC).changed_paths)).toEqual([changed, changed]);
    expect(snapshot(t.store, 'set')).toEqual(snapshot(t.store, 'each'));
    for (const fork of ['fork', 'later']) expect(snapshot(t.store, `set-${fork}`)).toEqual(snapshot(t.store, `each-${fork}`));
    expect(set.walk('/')).toEqual(each.walk('/'));
    expect(['set-fork', 'set-later'].map((name) => new VaultFs(t.store, name, ACTOR).walk('/'))).toEqual(forkViews);
  }

  it('revert of rm -r in a vault of one layer', () => {
    const [set, each] = rootPair();
    compareRevert(set, each, 14);
    expect(set.readFile(`${SRC}/a/b/c/f`).toString()).toBe('deep file, second version');
  });

  it('revert of rm -r in a fork of a fork, its paths partly its own, partly its parents\'', () => {
    const [set, each] = forkPair();
    compareRevert(set, each, 14);
    expect(set.readFile(`${SRC}/a/mid-file`).toString()).toBe('from the middle');
  });

  it('cp -r in a vault of one layer', () => {
    const [set, each] = rootPair();
    compareCopy(set, each, 14);
    expect(set.lstat('/dst/moved/a/linked2').nlink).toBe(1);
    const mode = (path: string) => (set.lstat(path).mode & 0o7777).toString(8);
    expect([mode(`${SRC}/a/big`), mode(`${SRC}/empty`)]).toEqual(['6755', '3775']);
    expect([mode('/dst/moved/a/big'), mode('/dst/moved/empty'), mode('/dst/moved/a/b')]).toEqual(['755', '1775', '700']);
  });

  it('cp -r in a fork of a fork', () => {
    const [set, each] = forkPair();
    compareCopy(set, each, 14);
  });

  it('mv in a vault of one layer', () => {
    const [set, each] = rootPair();
    compareMoves(t.store, set, each, 14);
    expect(set.readFile('/dst/moved/a/b/c/f').toString()).toBe('deep file, second version');
    expect(set.lstat('/dst/moved/a/linked2').nlink).toBe(2);
    expect(set.lstat('/dst/moved/a/b/inside').nlink).toBe(2);
  });

  it('mv in a fork of a fork', () => {
    const [set, each, mid] = forkPair();
    compareMoves(t.store, set, each, 14);
    expect(set.readFile('/dst/moved/a/b/c/f').toString()).toBe('changed in the fork');
    expect(set.exists('/dst/moved/a/big')).toBe(false);
    expect(set.exists('/dst/moved/empty/link')).toBe(false);
    expect(mid.walk('/').map((e) => e.path)).toContain(`${SRC}/a/mid-file`); // the middle is untouched
  });

  it('rm -r in a vault of one layer: hard links inside and out lose their names alike', () => {
    const [set, each] = rootPair();
    compareRemove(set, each);
    expect(set.lstat('/outside').nlink).toBe(1);
    expect(set.row()).toMatchObject({ files: 1, bytes: 'one name outside'.length });
  });

  it('rm -r in a fork of a fork', () => {
    const [set, each, mid] = forkPair();
    const usage = (fs: VaultFs) => ({ files: fs.row().files, directories: fs.row().directories, bytes: fs.row().bytes });
    compareRemove(set, each);
    expect(usage(set)).toEqual(usage(each));
    expect(mid.exists(SRC)).toBe(true);
  });

  it('refuses a new path past the length bound and changes nothing', () => {
    createVault(t.store, 'set', ACTOR);
    const set = new VaultFs(t.store, 'set', ACTOR);
    build(set);
    // 8,032 bytes: the moved directory's own new path fits the 8,192-byte bound (8,188), its deepest file's does not (8,196).
    const long = `/${'d'.repeat(250)}`.repeat(32);
    set.mkdir(long, { parents: true });
    const before = snapshot(t.store, 'set');
    expect(() => set.mv(SRC, `${long}/${'x'.repeat(155)}`)).toThrow(expect.objectContaining({ code: 'INVALID_PATH' }));
    expect(snapshot(t.store, 'set')).toEqual(before);
  });
});
