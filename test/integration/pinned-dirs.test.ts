import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { PinnedDirs } from '../../src/store/pinned-dirs.js';
import { tempDir } from '../helpers.js';

// PinnedDirs (export and sync reach host paths through it): a directory swapped for a symlink
// after it was reached is never written through, and one swapped before is refused.

let tmp: { dir: string; cleanup: () => void };
let root: string;
let elsewhere: string;
beforeEach(() => {
  tmp = tempDir('avfs-pinned-');
  root = join(tmp.dir, 'root');
  elsewhere = join(tmp.dir, 'elsewhere');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  mkdirSync(elsewhere);
});
afterEach(() => tmp.cleanup());

const swapForSymlink = (dir: string) => {
  renameSync(join(root, dir), join(root, `${dir}-aside`));
  symlinkSync(elsewhere, join(root, dir));
};

it('a path given before its directory is swapped for a symlink still writes into the directory itself', () => {
  const dirs = new PinnedDirs(root);
  try {
    const path = dirs.path(join(root, 'a', 'b', 'f'));
    swapForSymlink('a');
    writeFileSync(path, 'kept');
    expect(readFileSync(join(root, 'a-aside', 'b', 'f'), 'utf8')).toBe('kept');
    expect(readdirSync(elsewhere)).toEqual([]);
  } finally {
    dirs.close();
  }
});

it('a directory swapped for a symlink before it is reached is refused (ENOTDIR), never followed', () => {
  const dirs = new PinnedDirs(root);
  try {
    swapForSymlink('a');
    expect(() => writeFileSync(dirs.path(join(root, 'a', 'b', 'f')), 'x')).toThrow(/ENOTDIR|ELOOP/);
    expect(readdirSync(elsewhere)).toEqual([]);
  } finally {
    dirs.close();
  }
});

it('the root is held by its descriptor throughout: swapped for a symlink after many directories were reached, it is not followed', () => {
  const dirs = new PinnedDirs(root);
  try {
    // Below one subdirectory: reaching them uses its descriptor, not the root's.
    for (let i = 0; i < 100; i++) {
      mkdirSync(join(root, 'a', `d${i}`));
      dirs.trim();
      writeFileSync(dirs.path(join(root, 'a', `d${i}`, 'f')), String(i));
    }
    renameSync(root, `${root}-aside`);
    symlinkSync(elsewhere, root);
    dirs.trim();
    writeFileSync(dirs.path(join(root, 'late')), 'late');
    mkdirSync(dirs.path(join(root, 'late-dir')));
    writeFileSync(dirs.path(join(root, 'late-dir', 'f')), 'late');
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readFileSync(join(`${root}-aside`, 'late-dir', 'f'), 'utf8')).toBe('late');
  } finally {
    dirs.close();
  }
});

it('a directory named by itself (to list it, or remove names in it) is refused once swapped for a symlink', () => {
  const dirs = new PinnedDirs(root);
  try {
    swapForSymlink('a');
    expect(() => readdirSync(dirs.dir(join(root, 'a')))).toThrow(/ENOTDIR|ELOOP/);
  } finally {
    dirs.close();
  }
});

it('takes a path however it is spelled (trailing slash, ./, a relative root), and refuses one outside the root', () => {
  const dirs = new PinnedDirs(`${root}/`);
  try {
    writeFileSync(dirs.path(`${root}/a/./b//f`), 'x');
    expect(readFileSync(join(root, 'a', 'b', 'f'), 'utf8')).toBe('x');
    expect(readdirSync(dirs.dir(`${root}/`)).sort()).toEqual(['a']);
    expect(() => dirs.path('/etc/passwd')).toThrow(/not within/);
    expect(() => dirs.path(`${root}-other/f`)).toThrow(/not within/);
  } finally {
    dirs.close();
  }
  const cwd = process.cwd();
  process.chdir(root);
  const relative = new PinnedDirs('.');
  try {
    writeFileSync(relative.path('a/g'), 'y');
    expect(readFileSync(join(root, 'a', 'g'), 'utf8')).toBe('y');
  } finally {
    relative.close();
    process.chdir(cwd);
  }
});

it('keeps a bounded number of descriptors across many directories', () => {
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  const dirs = new PinnedDirs(root);
  try {
    for (let i = 0; i < 300; i++) {
      mkdirSync(join(root, `d${i}`));
      dirs.trim();
      writeFileSync(dirs.path(join(root, `d${i}`, 'f')), String(i));
    }
    dirs.trim();
    expect(open() - before).toBeLessThanOrEqual(64);
    expect(readFileSync(join(root, 'd299', 'f'), 'utf8')).toBe('299');
  } finally {
    dirs.close();
  }
  expect(open()).toBe(before);
});
