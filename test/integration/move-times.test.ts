import { lstatSync, mkdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { revertPath } from '../../src/store/history.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { openTempStore, tempDir } from '../helpers.js';

/**
 * rename(2) of a directory, compared with the local disk: the moved directory keeps its mtime
 * (its ctime changes), nothing below it changes, and only the two parents take the time of the
 * move. The store moves a tree by removing and re-creating its entries, which must not touch them.
 */
const DIRS = ['src', 'dst', 'src/top', 'src/top/mid', 'src/top/mid/leaf', 'src/top/emptysub'];
const FILES = ['src/top/mid/leaf/file', 'src/top/file2'];
const OLD = Date.UTC(2001, 0, 1); // ms
const MOVED = ['top', 'top/mid', 'top/mid/leaf', 'top/emptysub', 'top/mid/leaf/file', 'top/file2'];

interface Times {
  mtime: number;
  ctime: number;
  nlink: number;
}
type Snapshot = Record<string, Times>;

/** Whether each entry's times changed between two snapshots (`renamed`: its path before, by its path after), and its link count after. */
function changes(before: Snapshot, after: Snapshot, renamed: (path: string) => string) {
  return Object.fromEntries(
    Object.entries(after).map(([path, t]) => {
      const was = before[renamed(path)]!;
      return [path, { mtime: t.mtime === was.mtime ? 'kept' : 'changed', ctime: t.ctime === was.ctime ? 'kept' : 'changed', nlink: t.nlink }];
    }),
  );
}

/** Paths after the move of src/top to dst/top2, and the path each had before. */
const AFTER = ['src', 'dst', ...MOVED.map((p) => `dst/${p.replace(/^top/, 'top2')}`)];
const before = (path: string) => path.replace(/^dst\/top2/, 'src/top');

/** The same sequence on the local disk: what the kernel does is what the store should do. */
function onDisk(): ReturnType<typeof changes> {
  const { dir, cleanup } = tempDir('avfs-mvtimes-');
  try {
    for (const d of DIRS) mkdirSync(join(dir, d));
    for (const f of FILES) writeFileSync(join(dir, f), 'x');
    for (const p of [...DIRS, ...FILES]) utimesSync(join(dir, p), OLD / 1000, OLD / 1000);
    const snap = (paths: string[]): Snapshot =>
      Object.fromEntries(
        paths.map((p) => {
          const s = lstatSync(join(dir, p), { bigint: true });
          return [p, { mtime: Number(s.mtimeNs), ctime: Number(s.ctimeNs), nlink: Number(s.nlink) }];
        }),
      );
    const start = snap([...DIRS, ...FILES]);
    // The kernel's clock for file times ticks in jiffies: let it tick, so a changed ctime shows.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
    renameSync(join(dir, 'src/top'), join(dir, 'dst/top2'));
    return changes(start, snap(AFTER), before);
  } finally {
    cleanup();
  }
}

/** What rename(2) does on Linux (onDisk shows it for the disk the tests run on). */
const KERNEL = {
  src: { mtime: 'changed', ctime: 'changed', nlink: 2 },
  dst: { mtime: 'changed', ctime: 'changed', nlink: 3 },
  'dst/top2': { mtime: 'kept', ctime: 'changed', nlink: 4 },
  'dst/top2/mid': { mtime: 'kept', ctime: 'kept', nlink: 3 },
  'dst/top2/mid/leaf': { mtime: 'kept', ctime: 'kept', nlink: 2 },
  'dst/top2/emptysub': { mtime: 'kept', ctime: 'kept', nlink: 2 },
  'dst/top2/mid/leaf/file': { mtime: 'kept', ctime: 'kept', nlink: 1 },
  'dst/top2/file2': { mtime: 'kept', ctime: 'kept', nlink: 1 },
};

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

const abs = (p: string) => `/${p}`;
function build(v: VaultFs): void {
  for (const d of DIRS) v.mkdir(abs(d));
  for (const f of FILES) v.writeFile(abs(f), 'x');
  for (const p of [...DIRS, ...FILES]) v.utimes(abs(p), OLD, OLD);
}
const snapshot = (v: VaultFs, paths: string[]): Snapshot =>
  Object.fromEntries(
    paths.map((p) => {
      const e = v.stat(abs(p));
      return [p, { mtime: e.mtime, ctime: e.ctime, nlink: e.nlink }];
    }),
  );
/** Waits for the store's clock (ms) to pass the times just set, so a changed ctime shows. */
function tick(): void {
  const t = Date.now();
  while (Date.now() <= t);
}
function moveIn(v: VaultFs, move: () => void = () => v.mv('/src/top', '/dst/top2')) {
  const start = snapshot(v, [...DIRS, ...FILES]);
  tick();
  move();
  return changes(start, snapshot(v, AFTER), before);
}

describe('mv keeps the moved entries’ times, as rename(2) does', () => {
  it('the local disk does what KERNEL says', () => {
    expect(onDisk()).toEqual(KERNEL);
  });

  it.each(['mv', 'rename'] as const)('%s: only the two parents and the moved directory’s ctime change', (op) => {
    build(fs);
    expect(moveIn(fs, () => fs[op]('/src/top', '/dst/top2'))).toEqual(KERNEL);
  });

  it('in a fork whose tree is stored in its parent', () => {
    build(fs);
    const start = snapshot(fs, [...DIRS, ...FILES]);
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    expect(moveIn(fork)).toEqual(KERNEL);
    expect(snapshot(fs, [...DIRS, ...FILES])).toEqual(start);
  });

  it('revert of a move moves the tree back the same way', () => {
    build(fs);
    const start = snapshot(fs, [...DIRS, ...FILES]);
    fs.mv('/src/top', '/dst/top2');
    tick();
    revertPath(fs, '/dst/top2');
    const back = snapshot(fs, [...DIRS, ...FILES]);
    for (const p of MOVED.slice(1)) expect([p, back[`src/${p}`]]).toEqual([p, start[`src/${p}`]]);
    expect(back['src/top']!.mtime).toBe(OLD);
  });
});
