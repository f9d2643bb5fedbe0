import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getEntry, listChildren, subdirCount } from '../../src/store/entries.js';
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
