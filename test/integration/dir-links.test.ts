import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { linkCount, subdirCount } from '../../src/store/entries.js';
import { pathVersions } from '../../src/store/history.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { openTempStore } from '../helpers.js';

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

/** The stored link count of every directory, and what stat reports. */
const dirLinks = (v = fs) => {
  const dirs = [v.stat('/'), ...v.walk('/').filter((e) => e.type === 'd')];
  return Object.fromEntries(dirs.map((e) => [e.path, e.nlink]));
};
const reported = (v: VaultFs, path: string) => linkCount(store, v.row(), v.stat(path));

describe('directory link counts (2 + subdirectories)', () => {
  it('follow mkdir, rmdir, rm -r, files and symlinks (which do not count), mv and cp', () => {
    fs.mkdir('/a/b/c', { parents: true });
    fs.mkdir('/a/d');
    fs.writeFile('/a/f', 'x');
    fs.symlink('b', '/a/l');
    expect(dirLinks()).toEqual({ '/': 3, '/a': 4, '/a/b': 3, '/a/b/c': 2, '/a/d': 2 });
    fs.rmdir('/a/d');
    expect(fs.stat('/a').nlink).toBe(3);
    fs.mkdir('/e');
    fs.mv('/a/b', '/e/b');
    expect(dirLinks()).toEqual({ '/': 4, '/a': 2, '/e': 3, '/e/b': 3, '/e/b/c': 2 });
    fs.cp('/e', '/g', { recursive: true });
    expect(dirLinks()).toMatchObject({ '/': 5, '/g': 3, '/g/b': 3, '/g/b/c': 2 });
    fs.rm('/e', { recursive: true });
    expect(fs.stat('/').nlink).toBe(4);
    // rename(2) over an empty directory: the target's parent loses one and gains one.
    fs.mkdir('/g/x');
    fs.rename('/a', '/g/x');
    expect(dirLinks()).toEqual({ '/': 3, '/g': 4, '/g/b': 3, '/g/b/c': 2, '/g/x': 2 });
    for (const [path, n] of Object.entries(dirLinks())) expect([path, reported(fs, path)]).toEqual([path, n]);
  });

  it('a fork keeps its own counts while its parent changes; a checkpoint restore puts counts back with the tree', () => {
    fs.mkdir('/p/q', { parents: true });
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fs.mkdir('/p/r');
    fork.rmdir('/p/q');
    expect(fs.stat('/p').nlink).toBe(4);
    expect(fork.stat('/p').nlink).toBe(2);
    expect(subdirCount(store, fork.row(), '/p')).toBe(0);
    expect(subdirCount(store, fs.row(), '/p')).toBe(2);
    saveCheckpoint(fs, 'before');
    fs.mkdir('/p/s');
    fs.rm('/p/q', { recursive: true });
    fs.mkdir('/t');
    expect(dirLinks()).toEqual({ '/': 4, '/p': 4, '/p/r': 2, '/p/s': 2, '/t': 2 });
    restoreCheckpoint(fs, 'before');
    expect(dirLinks()).toEqual({ '/': 3, '/p': 4, '/p/q': 2, '/p/r': 2 });
  });

  it('a restore that only adds or removes subdirectories gives their parent its count as a touch, not a version of its own', () => {
    fs.mkdir('/b');
    saveCheckpoint(fs, 'empty');
    fs.mkdir('/b/c');
    fs.writeFile('/b/f', 'x');
    const result = restoreCheckpoint(fs, 'empty', { saveBefore: false });
    expect([result.modified, result.deleted, fs.stat('/b').nlink]).toEqual([0, 2, 2]);
    expect(pathVersions(store, fs.row(), '/b', 10).map((v) => v.op)).toEqual(['mkdir']);
  });

  it('a directory stored before counts were kept (nlink 1) is counted on read, and stored at its next change', () => {
    fs.mkdir('/old/x/y', { parents: true });
    fs.mkdir('/old/z');
    fs.writeFile('/old/f', 'x');
    store.db.prepare("UPDATE entries SET nlink = 1 WHERE type = 'd'").run();
    expect(fs.stat('/old').nlink).toBe(1);
    expect(reported(fs, '/old')).toBe(4);
    expect(reported(fs, '/old/x/y')).toBe(2);
    fs.mkdir('/old/w');
    expect(fs.stat('/old').nlink).toBe(5);
    fs.rmdir('/old/z');
    expect(fs.stat('/old').nlink).toBe(4);
  });
});

describe('directory link counts through merge and merge undo', () => {
  it('a merge that adds or removes a subdirectory, and its undo, leave every count right (2 + subdirectories)', async () => {
    const { mergeVaults, undoMerge } = await import('../../src/store/merge.js');
    fs.mkdir('/p/a', { parents: true });
    fs.mkdir('/p/b');
    fs.rmdir('/p/b'); // a history entry for /p before the fork, as in the report that found this
    forkVault(store, 'default', 'rf', actor);
    const rf = new VaultFs(store, 'rf', actor);
    rf.mkdir('/p/x');
    mergeVaults(store, 'rf', { actor });
    expect(dirLinks()).toEqual({ '/': 3, '/p': 4, '/p/a': 2, '/p/x': 2 });
    undoMerge(store, 'rf', { actor });
    expect(dirLinks()).toEqual({ '/': 3, '/p': 3, '/p/a': 2 });
    fs.mkdir('/p/later');
    expect(fs.stat('/p').nlink).toBe(4);

    // The other direction: the merge removes a directory, its undo brings it back.
    forkVault(store, 'default', 'rm', actor);
    const rmf = new VaultFs(store, 'rm', actor);
    rmf.rmdir('/p/a');
    mergeVaults(store, 'rm', { actor });
    expect(fs.stat('/p').nlink).toBe(3);
    undoMerge(store, 'rm', { actor });
    expect(dirLinks()).toEqual({ '/': 3, '/p': 4, '/p/a': 2, '/p/later': 2 });
  });
});
