import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/store.js';
import { processStartTime } from '../../src/store/host-process.js';
import { exportTree } from '../../src/store/transfer.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { openTempStore, tempDir, thrownError } from '../helpers.js';

let store: Store;
let fs: VaultFs;
let close: () => void;
let homeDir: string;
let out: { dir: string; cleanup: () => void };
beforeEach(() => {
  const t = openTempStore();
  ({ store, fs, close } = t);
  homeDir = t.home.dir;
  out = tempDir('avfs-export-');
});
afterEach(() => {
  close();
  out.cleanup();
});

it('exports one state of the vault while another process changes and removes its files', () => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  fs.mkdir('/src');
  for (const n of names) fs.writeFile(`/src/${n}.txt`, `old ${n}\n`);
  fs.writeFile('/src/big.bin', Buffer.alloc(2 * 1024 * 1024, 7)); // chunked: read chunk by chunk
  const other = openStore(homeDir);
  try {
    const writer = new VaultFs(other, 'default', { source: 'sdk' });
    let changed = false;
    // Called after each entry is written: the first one changes everything not yet exported.
    const progress = () => {
      if (changed) return;
      changed = true;
      for (const n of names) writer.writeFile(`/src/${n}.txt`, `new ${n}\n`);
      writer.rm('/src/e.txt');
      writer.writeFile('/src/big.bin', 'small now');
      writer.writeFile('/src/late.txt', 'written during the export');
    };
    const summary = exportTree(fs, '/src', join(out.dir, 'x'), false, progress);
    expect(changed).toBe(true);
    expect(summary.files).toBe(6);
    expect(readdirSync(join(out.dir, 'x')).sort()).toEqual(['a.txt', 'b.txt', 'big.bin', 'c.txt', 'd.txt', 'e.txt']);
    for (const n of names) expect(readFileSync(join(out.dir, 'x', `${n}.txt`), 'utf8')).toBe(`old ${n}\n`);
    expect(readFileSync(join(out.dir, 'x', 'big.bin')).equals(Buffer.alloc(2 * 1024 * 1024, 7))).toBe(true);
    // The writes landed: the next export sees them.
    exportTree(fs, '/src', join(out.dir, 'y'), false);
    expect(readdirSync(join(out.dir, 'y')).sort()).toEqual(['a.txt', 'b.txt', 'big.bin', 'c.txt', 'd.txt', 'late.txt']);
    expect(readFileSync(join(out.dir, 'y', 'a.txt'), 'utf8')).toBe('new a\n');
  } finally {
    other.release();
  }
});

it('a host path another process takes while the export runs is CONFLICT, and what it wrote there stays', () => {
  fs.mkdir('/src');
  fs.writeFile('/src/a.txt', 'a');
  fs.writeFile('/src/b.txt', 'b');
  const dest = join(out.dir, 'x');
  // After the first file, "another export" writes the second one's name (free when export looked).
  const progress = (done: number) => {
    if (done === 1) writeFileSync(join(dest, 'b.txt'), 'theirs');
  };
  const caught = thrownError(() => exportTree(fs, '/src', dest, false, progress));
  expect(caught).toMatchObject({ code: 'CONFLICT', data: { host: join(dest, 'b.txt'), exported: 1 } });
  expect(readFileSync(join(dest, 'b.txt'), 'utf8')).toBe('theirs');
  expect(readdirSync(dest).sort()).toEqual(['a.txt', 'b.txt']); // no temporary file left beside them
});

it('a host directory moved aside and replaced by a symlink while the export runs: nothing is written where the symlink leads, and the export ends in CONFLICT', () => {
  fs.mkdir('/src/s1', { parents: true });
  for (let i = 0; i < 4; i++) fs.writeFile(`/src/s1/f${i}`, `f${i}`);
  const dest = join(out.dir, 'x');
  const elsewhere = join(out.dir, 'elsewhere');
  mkdirSync(elsewhere);
  // After the directory and its first file: another process moves it aside and links its name elsewhere.
  const progress = (done: number) => {
    if (done !== 2) return;
    renameSync(join(dest, 's1'), join(dest, 'aside'));
    symlinkSync(elsewhere, join(dest, 's1'));
  };
  const caught = thrownError(() => exportTree(fs, '/src', dest, false, progress));
  // The files went on into the directory export made (now moved aside), reached through its
  // descriptor; its mode, set last by name, found the symlink and stopped there.
  expect(caught).toMatchObject({ code: 'CONFLICT', data: { host: join(dest, 's1'), exported: 5 } });
  expect(readdirSync(elsewhere)).toEqual([]);
  expect(readdirSync(join(dest, 'aside')).sort()).toEqual(['f0', 'f1', 'f2', 'f3']);
});

it('an export over an existing tree never clears temporary names where a symlink put in place of one of its directories leads', () => {
  fs.mkdir('/src/a', { parents: true });
  fs.mkdir('/src/z');
  fs.writeFile('/src/a/f', 'a');
  fs.writeFile('/src/z/f', 'z');
  const dest = join(out.dir, 'x');
  exportTree(fs, '/src', dest, false);
  const victim = join(out.dir, 'victim');
  mkdirSync(victim);
  const stale = join(victim, '.avfs-export-999999.1-aaaaaaaaaaaa-0'); // a dead process's name
  writeFileSync(stale, 'not the export\'s to remove');
  const progress = (done: number) => {
    if (done !== 1) return;
    renameSync(join(dest, 'z'), join(dest, 'z-aside'));
    symlinkSync(victim, join(dest, 'z'));
  };
  const caught = thrownError(() => exportTree(fs, '/src', dest, true, progress));
  expect(caught).toMatchObject({ code: 'CONFLICT' });
  expect(readdirSync(victim).sort()).toEqual(['.avfs-export-999999.1-aaaaaaaaaaaa-0']);
});

it('an export clears the temporary files an export stopped part way left (its process gone), and nothing else', () => {
  fs.writeFile('/top.txt', 'top');
  fs.writeFile('/d/in.txt', 'in', { parents: true });
  mkdirSync(join(out.dir, 'd'));
  const start = processStartTime(process.pid)!;
  // A dead writer: this pid with another start time (a reused pid is not the process that wrote).
  const stale = `.avfs-export-${process.pid}.${start + 1}-0123456789ab-0`;
  const live = `.avfs-export-${process.pid}.${start}-0123456789ab-1`;
  for (const dir of [out.dir, join(out.dir, 'd')]) {
    writeFileSync(join(dir, stale), 'half of a file');
    writeFileSync(join(dir, live), 'being written');
    writeFileSync(join(dir, '.avfs-export-notes'), 'the user\'s own');
  }
  mkdirSync(join(out.dir, `.avfs-export-${process.pid}.${start + 1}-0123456789ab-2`));
  exportTree(fs, '/', out.dir, true);
  expect(readdirSync(out.dir).sort()).toEqual([`.avfs-export-${process.pid}.${start + 1}-0123456789ab-2`, '.avfs-export-notes', live, 'd', 'top.txt'].sort());
  expect(readdirSync(join(out.dir, 'd')).sort()).toEqual(['.avfs-export-notes', live, 'in.txt'].sort());
});
