import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { briefChildren, getEntry, listChildren, subdirCount } from '../../src/store/entries.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { StoredEntries } from '../../src/mount/stored-entries.js';
import { avfs, openTempStore } from '../helpers.js';

/**
 * The mount's cache of stored entries (mount/stored-entries.ts) keeps what it read only while the
 * database is unchanged: a change by another process, by this connection, or one rolled back must
 * each be seen by the next read.
 */

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;
let home: { dir: string };
let close: () => void;
beforeEach(() => ({ store, fs, home, close } = openTempStore()));
afterEach(() => close());

const entries = () => new StoredEntries(store, fs.row());

describe('the mount reads stored entries through a cache', () => {
  it('sees a change made by another process', async () => {
    fs.writeFile('/a.txt', 'one');
    const stored = entries();
    expect(stored.get('/a.txt')?.size).toBe(3);
    expect(stored.get('/b.txt')).toBeUndefined();
    let r = await avfs(home.dir, ['write', '/a.txt', 'three']);
    expect(r.code, r.stderr).toBe(0);
    r = await avfs(home.dir, ['write', '/b.txt', 'b']);
    expect(r.code, r.stderr).toBe(0);
    expect(stored.get('/a.txt')?.size).toBe(5);
    expect(stored.get('/b.txt')?.size).toBe(1);
    r = await avfs(home.dir, ['rm', '/a.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(stored.get('/a.txt')).toBeUndefined();
  });

  it('sees a change made through this connection, and none rolled back', () => {
    fs.writeFile('/a.txt', 'one');
    const stored = entries();
    expect(stored.get('/a.txt')?.size).toBe(3);
    fs.writeFile('/a.txt', 'four');
    expect(stored.get('/a.txt')?.size).toBe(4);
    // Read inside a transaction that then rolls back: the read must not outlive it.
    expect(() =>
      store.mutate(() => {
        fs.writeFile('/a.txt', 'eight ch');
        expect(stored.get('/a.txt')?.size).toBe(8);
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(stored.get('/a.txt')?.size).toBe(4);
    fs.rm('/a.txt');
    expect(stored.get('/a.txt')).toBeUndefined();
  });

  it('keeps the entries of other paths across its own writes, and drops those written', () => {
    fs.writeFile('/a.txt', 'one');
    fs.writeFile('/b.txt', 'two');
    const stored = entries();
    const a = stored.get('/a.txt');
    expect(stored.get('/b.txt')?.size).toBe(3);
    fs.writeFile('/b.txt', 'three');
    fs.writeFile('/c.txt', 'c');
    expect(stored.get('/a.txt')).toBe(a); // the same object: kept
    expect(stored.get('/b.txt')?.size).toBe(5);
    expect(stored.get('/c.txt')?.size).toBe(1);
    fs.rm('/c.txt');
    expect(stored.get('/c.txt')).toBeUndefined();
    fs.touchExact(['/a.txt'], null, 1000);
    expect(stored.get('/a.txt')?.mtime).toBe(1000);
  });

  it("follows writes in every layer of a fork, and ignores other vaults' layers", () => {
    fs.writeFile('/p.txt', 'parent');
    forkVault(store, 'default', 'f', actor);
    const fork = new VaultFs(store, 'f', actor);
    const inFork = new StoredEntries(store, fork.row());
    const inParent = entries();
    expect(inFork.get('/p.txt')?.size).toBe(6);
    expect(inParent.get('/p.txt')?.size).toBe(6);
    fork.writeFile('/p.txt', 'fork!!!!'); // the fork's own layer only
    expect(inFork.get('/p.txt')?.size).toBe(8);
    expect(inParent.get('/p.txt')?.size).toBe(6);
    fs.writeFile('/q.txt', 'q'); // the parent's layer, and a whiteout pushed into the fork's
    expect(inParent.get('/q.txt')?.size).toBe(1);
    expect(inFork.get('/q.txt')).toBeUndefined();
    fork.rm('/p.txt');
    expect(inFork.get('/p.txt')).toBeUndefined();
    expect(inParent.get('/p.txt')?.size).toBe(6);
    inFork.close();
    inParent.close();
  });

  it('hands out entries no caller can change', () => {
    fs.writeFile('/a.txt', 'one');
    const e = entries().get('/a.txt')!;
    expect(() => {
      (e as { size: number }).size = 9;
    }).toThrow(TypeError);
  });
});

describe("a directory's times and link count change in place", () => {
  it('a fork that inherits the directory gets a row of its own; its parent keeps the old one', () => {
    fs.mkdir('/d');
    fs.writeFile('/d/a.txt', 'a');
    const parentDir = getEntry(store, fs.row(), '/d')!;
    forkVault(store, 'default', 'f', actor);
    const fork = new VaultFs(store, 'f', actor);
    fork.writeFile('/d/b.txt', 'b');
    fork.mkdir('/d/sub');
    fork.rm('/d/a.txt');
    const forkDir = getEntry(store, fork.row(), '/d')!;
    expect(forkDir.nlink).toBe(3);
    expect(forkDir.ctime).toBeGreaterThanOrEqual(parentDir.ctime);
    expect(listChildren(store, fork.row(), '/d').map((e) => e.path)).toEqual(['/d/b.txt', '/d/sub']);
    // The parent vault is untouched by the fork's changes.
    expect(getEntry(store, fs.row(), '/d')).toEqual(parentDir);
    expect(listChildren(store, fs.row(), '/d').map((e) => e.path)).toEqual(['/d/a.txt']);
  });

  it('the link count stays equal to the subdirectories, and the directory listing stays whole', () => {
    fs.mkdir('/d');
    for (const n of ['x', 'y', 'z']) fs.mkdir(`/d/${n}`);
    fs.writeFile('/d/f.txt', 'f');
    fs.rmdir('/d/y');
    fs.rm('/d/f.txt');
    fs.touchExact(['/d'], null, 1000);
    const d = getEntry(store, fs.row(), '/d')!;
    expect(d.nlink).toBe(2 + subdirCount(store, fs.row(), '/d'));
    expect(d.nlink).toBe(4);
    expect(d.mtime).toBe(1000);
    // The indexes the in-place update leaves alone still find the directory (parent listing, subdirectories).
    expect(listChildren(store, fs.row(), '/').map((e) => e.path)).toEqual(['/d']);
    expect(subdirCount(store, fs.row(), '/')).toBe(1);
  });
});

describe("the mount's directory listing (briefChildren)", () => {
  it('lists what listChildren lists, through fork layers with whiteouts', () => {
    fs.mkdir('/d');
    for (const n of ['a.txt', 'b.txt', 'c.txt']) fs.writeFile(`/d/${n}`, n);
    fs.mkdir('/d/sub');
    forkVault(store, 'default', 'f', actor);
    const fork = new VaultFs(store, 'f', actor);
    fork.rm('/d/b.txt'); // a whiteout over the parent's row
    fork.writeFile('/d/c.txt', 'changed'); // the fork's own row over the parent's
    fork.writeFile('/d/e.txt', 'new');
    fork.symlink('a.txt', '/d/link');
    fs.writeFile('/d/after-fork.txt', 'x'); // the parent's later change: not in the fork
    for (const [vault, names] of [
      [fork, ['/d/a.txt', '/d/c.txt', '/d/e.txt', '/d/link', '/d/sub']],
      [fs, ['/d/a.txt', '/d/after-fork.txt', '/d/b.txt', '/d/c.txt', '/d/sub']],
    ] as const) {
      const full = listChildren(store, vault.row(), '/d');
      expect(full.map((e) => e.path)).toEqual(names);
      expect(briefChildren(store, vault.row(), '/d')).toEqual(full.map((e) => [e.path, e.type, e.ino]));
    }
    expect(briefChildren(store, fork.row(), '/d/sub')).toEqual([]);
  });
});
