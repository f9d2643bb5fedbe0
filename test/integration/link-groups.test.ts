import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { pathVersions, revertPath } from '../../src/store/history.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { openTempStore } from '../helpers.js';

// Many names of one inode (cp -al, tar x of an archive of links, a loop of ln): every name keeps
// the right inode, count and content through links, unlinks, restores and forks, and a link or
// unlink runs as many statements with hundreds of names as with ten (ARCHITECTURE.md, "Hard links").

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => {
  vi.restoreAllMocks();
  close();
});

const names = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `/h${from + i}`);

/** Every name in `paths` shows inode `ino` with link count `nlink` and content `content`. */
function expectGroup(v: VaultFs, paths: string[], ino: number, nlink: number, content: string): void {
  const wrong = paths.filter((p) => {
    const e = v.lstat(p);
    return e.ino !== ino || e.nlink !== nlink || v.readFile(p).toString() !== content;
  });
  expect(wrong).toEqual([]);
}

/** Statements run by `fn`, counted at Store.stmt (every statement of the store goes through it). */
function statementsOf(fn: () => void): number {
  const spy = vi.spyOn(store, 'stmt');
  try {
    fn();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

describe('an inode with many names', () => {
  it('600 links, then half of them unlinked: every name has the inode, the count and the content', () => {
    const count = 600;
    fs.writeFile('/h0', 'x\n');
    const ino = fs.lstat('/h0').ino;
    for (const p of names(1, count)) fs.link('/h0', p);
    expectGroup(fs, names(0, count), ino, count + 1, 'x\n');
    for (const p of names(1, count / 2)) fs.rm(p);
    expectGroup(fs, ['/h0', ...names(count / 2 + 1, count)], ino, count / 2 + 1, 'x\n');
    fs.writeFile('/h0', 'y\n');
    expectGroup(fs, ['/h0', ...names(count / 2 + 1, count)], ino, count / 2 + 1, 'y\n');
    expect(fs.exists('/h1')).toBe(false);
  }, 300_000);

  it('a link or an unlink runs as many statements with 300 names as with 10', () => {
    // A clock that moves on every reading: a change in the same millisecond as the one before it
    // leaves the parent's times as they are and skips their statements, which made the counts
    // depend on the machine's speed (a busy CI run saw 22 statements against 19).
    let clock = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => ++clock);
    fs.writeFile('/h0', 'x\n');
    for (const p of names(1, 9)) fs.link('/h0', p);
    const link10 = statementsOf(() => fs.link('/h0', '/h10'));
    const unlink10 = statementsOf(() => fs.rm('/h10'));
    fs.link('/h0', '/h10');
    for (const p of names(11, 299)) fs.link('/h0', p);
    const link300 = statementsOf(() => fs.link('/h0', '/h300'));
    const unlink300 = statementsOf(() => fs.rm('/h300'));
    expect({ link: link300, unlink: unlink300 }).toEqual({ link: link10, unlink: unlink10 });
    expectGroup(fs, names(0, 299), fs.lstat('/h0').ino, 300, 'x\n');
  });

  it('a restore puts back the count every name had at the checkpoint, and the names made since go', () => {
    fs.writeFile('/h0', 'x\n');
    const ino = fs.lstat('/h0').ino;
    for (const p of names(1, 100)) fs.link('/h0', p);
    saveCheckpoint(fs, 'hundred');
    for (const p of names(101, 200)) fs.link('/h0', p);
    for (const p of names(1, 50)) fs.rm(p);
    expectGroup(fs, ['/h0', ...names(51, 200)], ino, 151, 'x\n');
    restoreCheckpoint(fs, 'hundred');
    expectGroup(fs, names(0, 100), ino, 101, 'x\n');
    expect(names(101, 200).filter((p) => fs.exists(p))).toEqual([]);
  });

  it('a restore over names linked since records one version per name that differs, each a state the name has after it', () => {
    const content = (p: string) => fs.readFile(p).toString();
    /** The states a restore recorded for `path`: its content and inode after each. */
    const restored = (path: string) => pathVersions(store, fs.row(), path, 100).filter((v) => v.op === 'restore').map((v) => `${v.size} ${v.ino} ${v.nlink}`);
    // Two files of one content at the checkpoint; since, one name linked to the other and edited.
    fs.writeFile('/b', 'P');
    fs.writeFile('/c', 'P');
    const [b, c] = [fs.lstat('/b'), fs.lstat('/c')];
    saveCheckpoint(fs, 'apart');
    fs.rm('/c');
    fs.link('/b', '/c');
    fs.writeFile('/c', 'RR');
    restoreCheckpoint(fs, 'apart', { saveBefore: false });
    expect([content('/b'), content('/c'), fs.lstat('/c').ino, fs.lstat('/b').nlink]).toEqual(['P', 'P', c.ino, 1]);
    expect(restored('/b')).toEqual([`1 ${b.ino} 1`]);
    expect(restored('/c')).toEqual([`1 ${c.ino} 1`]); // not also /b's state, passed to it as a link
    // Three names at the checkpoint; since, edited through one and one name removed.
    fs.writeFile('/x', 'V1');
    fs.link('/x', '/y');
    fs.link('/y', '/z');
    saveCheckpoint(fs, 'three');
    fs.writeFile('/y', 'V22');
    fs.rm('/x');
    restoreCheckpoint(fs, 'three', { saveBefore: false });
    const ino = fs.lstat('/x').ino;
    expectGroup(fs, ['/x', '/y', '/z'], ino, 3, 'V1');
    for (const p of ['/y', '/z']) expect(restored(p), p).toEqual([`2 ${ino} 3`]);
  });

  it('a restore that only adds or removes another name of a file gives the name that stayed its count as a touch, so revert of it undoes its own last change', () => {
    fs.writeFile('/c', 'C');
    const created = pathVersions(store, fs.row(), '/c', 10).map((v) => v.op);
    saveCheckpoint(fs, 'one-name');
    fs.link('/c', '/b');
    saveCheckpoint(fs, 'two-names');
    const away = restoreCheckpoint(fs, 'one-name', { saveBefore: false });
    expect([away.added, away.modified, away.deleted, fs.exists('/b'), fs.lstat('/c').nlink]).toEqual([0, 0, 1, false, 1]);
    const back = restoreCheckpoint(fs, 'two-names', { saveBefore: false });
    expect([back.added, back.modified, back.deleted, fs.lstat('/c').nlink, fs.lstat('/b').ino]).toEqual([1, 0, 0, 2, fs.lstat('/c').ino]);
    // The count moved twice; /c's content never did, so its log is its creation alone.
    expect(pathVersions(store, fs.row(), '/c', 10).map((v) => v.op)).toEqual(created);
    restoreCheckpoint(fs, 'one-name', { saveBefore: false });
    revertPath(fs, '/c');
    expect(fs.exists('/c')).toBe(false);
  });

  it('a fork links and unlinks names of an inode its parent stored; the parent keeps its own, and the fork keeps its view while the parent changes', () => {
    fs.writeFile('/h0', 'x\n');
    const ino = fs.lstat('/h0').ino;
    for (const p of names(1, 20)) fs.link('/h0', p);
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    for (const p of names(21, 60)) fork.link('/h5', p);
    for (const p of names(1, 10)) fork.rm(p);
    expectGroup(fork, ['/h0', ...names(11, 60)], ino, 51, 'x\n');
    expectGroup(fs, names(0, 20), ino, 21, 'x\n');
    // The parent, which now has a fork, changes its own group: the fork keeps what it showed.
    for (const p of names(100, 129)) fs.link('/h0', p);
    fs.rm('/h20');
    expectGroup(fs, ['/h0', ...names(1, 19), ...names(100, 129)], ino, 50, 'x\n');
    expectGroup(fork, ['/h0', ...names(11, 60)], ino, 51, 'x\n');
    expect(names(100, 129).filter((p) => fork.exists(p))).toEqual([]);
  });
});
