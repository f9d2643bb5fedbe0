import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { checkoutVersion, pathVersions, revertPath } from '../../src/store/history.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { setQuota } from '../../src/store/quota.js';
import { errorCode, openTempStore } from '../helpers.js';

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

/** path → [ino, nlink, content, mode] for every file. */
const files = (v = fs) => Object.fromEntries(v.walk('/').filter((e) => e.type === 'f').map((e) => [e.path, [e.ino, e.nlink, v.readFile(e.path).toString(), e.mode]]));

describe('hard links', () => {
  it('two names of one inode: shared content, mode and count; a change through one is a change of both, recorded on each', () => {
    fs.writeFile('/a', 'one');
    fs.mkdir('/d');
    const linked = fs.link('/a', '/d/b');
    const ino = fs.stat('/a').ino;
    expect(linked).toMatchObject({ ino, nlink: 2 });
    expect(files()).toEqual({ '/a': [ino, 2, 'one', 0o644], '/d/b': [ino, 2, 'one', 0o644] });
    fs.writeFile('/d/b', 'two');
    fs.chmod('/a', 0o600);
    expect(files()).toEqual({ '/a': [ino, 2, 'two', 0o600], '/d/b': [ino, 2, 'two', 0o600] });
    expect(pathVersions(store, fs.row(), '/a', 10).map((v) => v.op)).toEqual(['chmod', 'write', 'create']);
    expect(pathVersions(store, fs.row(), '/d/b', 10).map((v) => v.op)).toEqual(['chmod', 'write', 'link']);
  });

  it('times set through one name are every name\'s (touch -d of one link), and not a version', () => {
    fs.writeFile('/a', 'one');
    fs.link('/a', '/b');
    fs.writeFile('/c', 'alone');
    fs.utimes('/a', 978307200000, 978307200000); // 2001-01-01
    expect([fs.stat('/a').mtime, fs.stat('/b').mtime]).toEqual([978307200000, 978307200000]);
    fs.utimes('/b', null, 1012608000000); // 2002-02-02, atime kept
    expect([fs.stat('/a').mtime, fs.stat('/b').mtime]).toEqual([1012608000000, 1012608000000]);
    expect(fs.stat('/a').atime).toBe(978307200000);
    expect(fs.stat('/c').mtime).not.toBe(1012608000000);
    expect(pathVersions(store, fs.row(), '/b', 10).map((v) => v.op)).toEqual(['link']);
  });

  it('removing or moving a name: the others keep the inode, the count follows', () => {
    fs.writeFile('/a', 'x');
    fs.link('/a', '/b');
    fs.link('/a', '/c');
    const ino = fs.stat('/a').ino;
    expect(fs.stat('/b').nlink).toBe(3);
    fs.rm('/b');
    fs.mv('/c', '/moved');
    expect(files()).toEqual({ '/a': [ino, 2, 'x', 0o644], '/moved': [ino, 2, 'x', 0o644] });
    fs.rm('/a');
    expect(files()).toEqual({ '/moved': [ino, 1, 'x', 0o644] });
  });

  it('rm -r of a tree holding several names of one inode: the names outside keep the inode with the right count; forks and history keep the tree', () => {
    fs.writeFile('/keep', 'shared');
    fs.mkdir('/t/u/v', { parents: true });
    fs.link('/keep', '/t/a');
    fs.link('/keep', '/t/u/b');
    fs.link('/keep', '/t/u/v/c');
    fs.writeFile('/t/u/plain', 'p');
    const ino = fs.stat('/keep').ino;
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    const forkBefore = files(fork);
    const rootBefore = fs.stat('/');
    const removed = fs.rm('/t', { recursive: true });
    expect(removed.sort()).toEqual(['/t', '/t/a', '/t/u', '/t/u/b', '/t/u/plain', '/t/u/v', '/t/u/v/c']);
    expect(files()).toEqual({ '/keep': [ino, 1, 'shared', 0o644] });
    expect(fs.stat('/').nlink).toBe(rootBefore.nlink - 1);
    expect(fs.stat('/').mtime).toBeGreaterThanOrEqual(rootBefore.mtime);
    expect(files(fork)).toEqual(forkBefore);
    expect(forkBefore['/t/u/v/c']).toEqual([ino, 4, 'shared', 0o644]);
    for (const path of removed) expect(pathVersions(store, fs.row(), path, 10)[0]!.op, path).toBe('delete');
    // No version of a directory that went was recorded between its children's removals.
    expect(pathVersions(store, fs.row(), '/t/u', 10).map((v) => v.op)).toEqual(['delete', 'mkdir']);
  });

  it('mv of a name onto itself or another name of the same file is INVALID_ARGUMENT and changes nothing (mv(1): "are the same file")', () => {
    fs.writeFile('/a', 'x');
    fs.mkdir('/d');
    fs.link('/a', '/d/b');
    const before = files();
    expect(errorCode(() => fs.mv('/a', '/d/b'))).toBe('INVALID_ARGUMENT');
    expect(files()).toEqual(before);
    // One name given twice, or a file moved into the directory it is in, as mv(1) refuses them.
    expect(errorCode(() => fs.mv('/a', '/a'))).toBe('INVALID_ARGUMENT');
    expect(errorCode(() => fs.mv('/d/b', '/d'))).toBe('INVALID_ARGUMENT');
    expect(errorCode(() => fs.mv('/d', '/d'))).toBe('INVALID_ARGUMENT');
    expect(files()).toEqual(before);
  });

  it('mv of a symlink onto the only name of the file it leads to is INVALID_ARGUMENT; onto one of two names it replaces that name, as mv(1) does', () => {
    fs.writeFile('/a', 'x');
    fs.mkdir('/d');
    fs.symlink('a', '/al');
    fs.symlink('../a', '/d/l');
    fs.symlink('/al', '/chain');
    const before = files();
    for (const link of ['/al', '/d/l', '/chain']) expect(errorCode(() => fs.mv(link, '/a')), link).toBe('INVALID_ARGUMENT');
    expect(files()).toEqual(before);
    // With a second name the bytes stay reachable: the link replaces the name it was moved onto.
    fs.link('/a', '/b');
    expect(fs.mv('/al', '/a').moved).toBe(1);
    expect(fs.readlink('/a')).toBe('a');
    expect(fs.readFile('/b').toString()).toBe('x');
  });

  it('mv of a missing name is NOT_FOUND however the target is spelled, and mv of the root is refused', () => {
    expect(errorCode(() => fs.mv('/missing', '/missing/'))).toBe('NOT_FOUND');
    expect(errorCode(() => fs.mv('/missing', '/elsewhere'))).toBe('NOT_FOUND');
    expect(errorCode(() => fs.mv('/', '/'))).toBe('INVALID_PATH');
    expect(errorCode(() => fs.mv('/', '/x'))).toBe('INVALID_PATH');
  });

  it('revert of an rm -r brings back every name of a linked file, also where a fork or checkpoint pinned their history', () => {
    for (const pin of ['none', 'fork', 'checkpoint']) {
      fs.mkdir(`/${pin}`);
      fs.writeFile(`/${pin}/a`, pin);
      fs.link(`/${pin}/a`, `/${pin}/b`);
      if (pin === 'fork') forkVault(store, 'default', 'pinned', { source: 'sdk' });
      if (pin === 'checkpoint') saveCheckpoint(fs, 'pinned');
      fs.rm(`/${pin}`, { recursive: true });
      revertPath(fs, `/${pin}`);
      // The count a removal lowered is a touch under the same version number: never the state before it.
      expect(pathVersions(store, fs.row(), `/${pin}/a`, 10).map((v) => v.op)).toEqual(['revert', 'delete', 'create']);
      expect(fs.walk(`/${pin}`).map((e) => [e.path, fs.readFile(e.path).toString()])).toEqual([
        [`/${pin}/a`, pin],
        [`/${pin}/b`, pin],
      ]);
      // …and as one inode again, its count read past the touches a pin made.
      expect([fs.stat(`/${pin}/b`).ino, fs.stat(`/${pin}/b`).nlink], pin).toEqual([fs.stat(`/${pin}/a`).ino, 2]);
    }
  });

  it('revert of an rm -r or an rm makes hard-linked names one inode again: with each other, and with a name outside that still holds the same file', () => {
    const inoOf = (path: string) => fs.stat(path).ino;
    for (const way of ['set-wise', 'one-by-one']) {
      // A quota makes the revert put paths back one by one.
      if (way === 'one-by-one') setQuota(store, 'default', { max_files: 1_000_000 }, { source: 'sdk' });
      const t = `/${way}`;
      fs.mkdir(`${t}/d/u`, { parents: true });
      fs.writeFile(`${t}/d/a`, 'four names');
      fs.link(`${t}/d/a`, `${t}/d/b`);
      fs.link(`${t}/d/a`, `${t}/d/u/c`);
      fs.link(`${t}/d/a`, `${t}/out`);
      fs.writeFile(`${t}/d/m`, 'changed outside since');
      fs.link(`${t}/d/m`, `${t}/out2`);
      fs.writeFile(`${t}/d/single`, 'one name');
      fs.rm(`${t}/d`, { recursive: true });
      fs.writeFile(`${t}/out2`, 'new bytes');
      const out = inoOf(`${t}/out`);
      revertPath(fs, `${t}/d`);
      for (const name of ['d/a', 'd/b', 'd/u/c', 'out']) {
        expect([inoOf(`${t}/${name}`), fs.stat(`${t}/${name}`).nlink], `${way} ${name}`).toEqual([out, 4]);
      }
      expect(fs.readFile(`${t}/d/u/c`).toString()).toBe('four names');
      // A name changed since the rm holds other bytes: the one that came back stays a file of its own.
      expect([fs.readFile(`${t}/d/m`).toString(), fs.stat(`${t}/d/m`).nlink, fs.stat(`${t}/out2`).nlink]).toEqual(['changed outside since', 1, 1]);
      expect(fs.stat(`${t}/d/single`).nlink).toBe(1);
      // A single name removed and reverted rejoins the names it had.
      fs.rm(`${t}/d/b`);
      revertPath(fs, `${t}/d/b`);
      expect([inoOf(`${t}/d/b`), fs.stat(`${t}/d/b`).nlink, fs.stat(`${t}/out`).nlink]).toEqual([out, 4, 4]);
    }
  });

  it('revert of an rm -r reads past a link count recorded with the op of the removal (homes written before it was a touch)', () => {
    fs.mkdir('/d');
    fs.writeFile('/d/a', 'x');
    fs.link('/d/a', '/d/b');
    forkVault(store, 'default', 'pinned', { source: 'sdk' });
    fs.rm('/d', { recursive: true });
    store.db.prepare("UPDATE versions SET op = 'delete' WHERE op = 'touch' AND path LIKE '/d/%'").run();
    revertPath(fs, '/d');
    expect(fs.walk('/d').map((e) => e.path)).toEqual(['/d/a', '/d/b']);
  });

  it('a restore brings names back linked, with their counts', () => {
    fs.writeFile('/a', 'x');
    fs.link('/a', '/b');
    saveCheckpoint(fs, 'linked');
    const saved = files();
    fs.rm('/b');
    fs.writeFile('/a', 'changed');
    fs.writeFile('/c', 'new');
    fs.link('/c', '/b');
    restoreCheckpoint(fs, 'linked');
    expect(files()).toEqual(saved);
    fs.writeFile('/b', 'after');
    expect(fs.readFile('/a').toString()).toBe('after');
  });

  it('a fork shows the links and changes them on its own side only', () => {
    fs.writeFile('/a', 'x');
    fs.link('/a', '/b');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fork.writeFile('/b', 'fork');
    expect(files(fork)).toMatchObject({ '/a': [expect.any(Number), 2, 'fork', 0o644], '/b': [expect.any(Number), 2, 'fork', 0o644] });
    expect(files()).toMatchObject({ '/a': [expect.any(Number), 2, 'x', 0o644], '/b': [expect.any(Number), 2, 'x', 0o644] });
  });

  it('refuses with codes and changes nothing: a directory, an existing name, a missing source or parent', () => {
    fs.writeFile('/a', 'x');
    fs.mkdir('/d');
    expect(errorCode(() => fs.link('/d', '/d2'))).toBe('DENIED');
    expect(errorCode(() => fs.link('/a', '/d'))).toBe('ALREADY_EXISTS');
    expect(errorCode(() => fs.link('/nope', '/n'))).toBe('NOT_FOUND');
    expect(errorCode(() => fs.link('/a', '/missing/b'))).toBe('NOT_FOUND');
    expect(fs.stat('/a').nlink).toBe(1);
  });
});

describe('checkout of a name now linked to another file', () => {
  it('gives the name its old bytes without writing them into the file it names now (whose other names keep theirs)', () => {
    fs.writeFile('/a', 'A');
    fs.link('/a', '/b');
    fs.writeFile('/d', 'D');
    // `ln -f d a`: a leaves the pair and becomes a name of d.
    fs.rm('/a');
    fs.link('/d', '/a');
    expect(fs.lstat('/a').ino).toBe(fs.lstat('/d').ino);
    checkoutVersion(fs, '/a', 1);
    expect(['/a', '/b', '/d'].map((p) => [fs.readFile(p).toString(), fs.lstat(p).nlink])).toEqual([['A', 1], ['A', 1], ['D', 1]]);
    expect(fs.lstat('/a').ino).not.toBe(fs.lstat('/d').ino);
  });
});
