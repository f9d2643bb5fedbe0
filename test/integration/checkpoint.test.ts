import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import {
  checkoutFromCheckpoint,
  checkpointInfo,
  deleteCheckpoint,
  listCheckpoints,
  restoreCheckpoint,
  saveCheckpoint,
} from '../../src/store/checkpoints.js';
import { pathVersions, revertPath } from '../../src/store/history.js';
import { addTags, setMeta } from '../../src/store/annotations.js';
import { AvfsError } from '../../src/errors.js';
import { diffTrees, type TreeItem } from '../../src/core/diff.js';
import { diffTreeSources } from '../../src/store/compare.js';
import { errorCode, openTempStore, writeLinked } from '../helpers.js';

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;

const code = errorCode;
const count = (sql: string, ...params: unknown[]) => (store.db.prepare(sql).get(...params) as { n: number }).n;
/** Everything a checkpoint promises to bring back: every entry with type, mode, size, hash, target, mtime, inode, plus annotations. */
const listing = (v = fs) => ({
  entries: v.walk('/').map((e) => [e.path, e.type, e.mode, e.size, e.hash, e.target, e.mtime, e.ino].join('|')),
  root: (({ mode, mtime }) => [mode, mtime])(v.stat('/')),
  annotations: v.walk('/').filter((e) => e.annot !== null).map((e) => [e.path, e.annot]),
});

let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => {
  vi.restoreAllMocks();
  close();
});

/** Seeded PRNG so a failure is reproducible. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function buildTree(v: VaultFs, rand: () => number, files = 60) {
  for (let i = 0; i < files; i++) {
    const dir = `/d${Math.floor(rand() * 6)}/s${Math.floor(rand() * 3)}`;
    v.writeFile(`${dir}/f${i}.txt`, randomBytes(Math.floor(rand() * 3000)), { parents: true, mode: rand() < 0.2 ? 0o755 : 0o644 });
  }
  v.symlink('/d0', '/link-to-d0');
  v.symlink('../d1/missing', '/d2/dangling');
  v.mkdir('/empty');
  v.writeFile('/big.bin', randomBytes(200_000));
}

/** 100 random changes of every kind: creates, rewrites, deletes, rm -r, moves, copies, chmods, symlinks, mkdirs, tags. */
function randomChanges(v: VaultFs, rand: () => number, n = 100) {
  const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  let done = 0;
  while (done < n) {
    const all = v.walk('/');
    const files = all.filter((e) => e.type === 'f');
    const dirs = all.filter((e) => e.type === 'd');
    const op = Math.floor(rand() * 10);
    try {
      if (op === 0) v.writeFile(`${pick(dirs).path}/new${done}.txt`, `new ${done}`);
      else if (op === 1 && files.length) v.writeFile(pick(files).path, randomBytes(50));
      else if (op === 2 && files.length) v.rm(pick(files).path);
      else if (op === 3 && dirs.length > 2) v.rm(pick(dirs).path, { recursive: true });
      else if (op === 4 && all.length) v.mv(pick(all).path, `/moved${done}`);
      else if (op === 5 && files.length) v.chmod(pick(files).path, pick([0o600, 0o700, 0o444]));
      else if (op === 6) v.symlink(pick(all)?.path ?? '/', `/sym${done}`);
      else if (op === 7) v.mkdir(`${pick(dirs).path}/dir${done}`, { mode: 0o700 });
      else if (op === 8 && files.length) addTags(v, pick(files).path, [`t${done % 3}`]);
      else if (op === 9 && dirs.length > 1) v.cp(pick(dirs).path, `/copy${done}`, { recursive: true });
      else continue;
      done++;
    } catch (err) {
      if (!(err instanceof AvfsError)) throw err; // e.g. moving a directory into itself: try another change
    }
  }
}

describe('save, list, info, delete', () => {
  it('saves the whole tree as one row: no content and no entry rows copied', () => {
    fs.writeFile('/a.txt', 'hello', { parents: true });
    fs.writeFile('/d/b.bin', randomBytes(150_000), { parents: true });
    fs.symlink('/a.txt', '/l');
    const blobs = count('SELECT count(*) AS n FROM blobs');
    const chunks = count('SELECT count(*) AS n FROM chunks');
    const entries = count('SELECT count(*) AS n FROM entries');
    const versions = count('SELECT count(*) AS n FROM versions');
    const cp = saveCheckpoint(fs, 'one', 'first state');
    expect(cp).toMatchObject({ name: 'one', message: 'first state', files: 2, bytes: 150_005, directories: 1, symlinks: 1, source: 'sdk' });
    expect(count('SELECT count(*) AS n FROM blobs')).toBe(blobs);
    expect(count('SELECT count(*) AS n FROM chunks')).toBe(chunks);
    expect(count('SELECT count(*) AS n FROM entries')).toBe(entries);
    expect(count('SELECT count(*) AS n FROM versions')).toBe(versions);
    expect(count('SELECT count(*) AS n FROM checkpoint_entries')).toBe(0);
    expect(checkpointInfo(fs, 'one').name).toBe('one');
  });

  it('auto-names never collide, even twice in the same millisecond', () => {
    vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2025, 0, 2, 3, 4, 5, 678));
    const a = saveCheckpoint(fs).name;
    const b = saveCheckpoint(fs).name;
    const c = saveCheckpoint(fs).name;
    expect(a).toBe('cp-20250102-030405-678');
    expect(new Set([a, b, c]).size).toBe(3);
    expect(listCheckpoints(fs).map((x) => x.name)).toEqual([c, b, a]);
  });

  it('a message that is not text (a lone surrogate, a non-string from JavaScript) is INVALID_ARGUMENT and saves nothing', () => {
    expect(code(() => saveCheckpoint(fs, 'c1', 'x\ud800y'))).toBe('INVALID_ARGUMENT');
    expect(code(() => saveCheckpoint(fs, 'c2', { message: 'm' } as unknown as string))).toBe('INVALID_ARGUMENT');
    expect(listCheckpoints(fs)).toEqual([]);
  });

  it('fails with codes: duplicate name, invalid name, unknown checkpoint', () => {
    saveCheckpoint(fs, 'x');
    expect(code(() => saveCheckpoint(fs, 'x'))).toBe('ALREADY_EXISTS');
    expect(code(() => saveCheckpoint(fs, '../x'))).toBe('INVALID_NAME');
    expect(code(() => saveCheckpoint(fs, '-x'))).toBe('INVALID_NAME');
    expect(code(() => saveCheckpoint(fs, ''))).toBe('INVALID_NAME'); // empty is not "choose a name"
    expect(code(() => restoreCheckpoint(fs, 'nope'))).toBe('CHECKPOINT_NOT_FOUND');
    expect(code(() => checkpointInfo(fs, 'nope'))).toBe('CHECKPOINT_NOT_FOUND');
    expect(code(() => deleteCheckpoint(fs, 'nope'))).toBe('CHECKPOINT_NOT_FOUND');
    expect(listCheckpoints(fs)).toHaveLength(1);
  });

  it('delete removes the checkpoint and its rows; the name can be reused', () => {
    fs.writeFile('/a', 'a');
    const cp = saveCheckpoint(fs, 'x');
    addTags(fs, '/a', ['t']);
    saveCheckpoint(fs, 'y');
    deleteCheckpoint(fs, 'x');
    expect(count('SELECT count(*) AS n FROM checkpoint_entries WHERE checkpoint_id = ?', cp.id)).toBe(0);
    expect(listCheckpoints(fs).map((c) => c.name)).toEqual(['y']);
    saveCheckpoint(fs, 'x');
  });

  it('checkpoints are per vault', () => {
    saveCheckpoint(fs, 'x');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    expect(listCheckpoints(fork)).toEqual([]);
    saveCheckpoint(fork, 'x');
  });
});

describe('diff against checkpoints', () => {
  /** The whole tree (or the part under `under`), as diffTrees takes it: what a diff of every entry compares. */
  const items = (v: VaultFs, under = '/'): TreeItem[] =>
    [...(under === '/' ? [] : [v.lstat(under)]), ...v.walk(under)].filter((e) => e.path !== '/').map((e) => ({ path: e.path, type: e.type, mode: e.mode, size: e.size, hash: e.hash, target: e.target }));
  const kinds = (changes: { path: string; kind: string }[]) => changes.map((c) => `${c.kind} ${c.path}`).sort();

  it('finds exactly what a comparison of the whole trees finds, between checkpoints and now, after random changes, in a vault and a fork of it', () => {
    const rand = rng(11);
    buildTree(fs, rand);
    const trees = new Map<string, TreeItem[]>();
    const subtrees = new Map<string, TreeItem[]>();
    const check = (v: VaultFs) => {
      const now = items(v);
      for (const [name, then] of trees) {
        expect(kinds(diffTreeSources(v, { checkpoint: name }, { current: true }).files), name).toEqual(kinds(diffTrees(then, now)));
        expect(kinds(diffTreeSources(v, { current: true }, { checkpoint: name }).files), name).toEqual(kinds(diffTrees(now, then)));
        if (v.exists('/d1')) expect(kinds(diffTreeSources(v, { checkpoint: name }, { current: true }, { under: '/d1' }).files), name).toEqual(kinds(diffTrees(subtrees.get(name)!, items(v, '/d1'))));
        for (const [other, otherTree] of trees) expect(kinds(diffTreeSources(v, { checkpoint: name }, { checkpoint: other }).files), `${name} ${other}`).toEqual(kinds(diffTrees(then, otherTree)));
      }
    };
    for (let round = 0; round < 4; round++) {
      saveCheckpoint(fs, `r${round}`);
      trees.set(`r${round}`, items(fs));
      subtrees.set(`r${round}`, fs.exists('/d1') ? items(fs, '/d1') : []);
      randomChanges(fs, rand, 40);
      check(fs);
    }
    // A fork's own checkpoints, over layers it shares with its parent while the parent changes on.
    const fork = new VaultFs(store, forkVault(store, 'default', 'fork', { source: 'sdk' }).name, { source: 'sdk' });
    trees.clear();
    subtrees.clear();
    for (let round = 0; round < 3; round++) {
      saveCheckpoint(fork, `f${round}`);
      trees.set(`f${round}`, items(fork));
      subtrees.set(`f${round}`, fork.exists('/d1') ? items(fork, '/d1') : []);
      randomChanges(fork, rand, 30);
      randomChanges(fs, rand, 10);
      check(fork);
    }
  });
});

describe('restore', () => {
  it('a name that changed type since the checkpoint gets one restore version, the state it had (no deletion first)', () => {
    fs.writeFile('/g', 'G0');
    fs.writeFile('/t/in', 'x', { parents: true });
    saveCheckpoint(fs, 'cp');
    fs.rm('/g');
    fs.mkdir('/g');
    fs.writeFile('/g/child', 'c');
    fs.rm('/t', { recursive: true });
    fs.writeFile('/t', 'T');
    expect(restoreCheckpoint(fs, 'cp', { saveBefore: false })).toMatchObject({ added: 1, modified: 2, deleted: 1 });
    const restores = (path: string) => pathVersions(store, fs.row(), path, 100).filter((v) => v.op === 'restore').map((v) => v.type);
    expect([restores('/g'), restores('/t'), restores('/g/child'), restores('/t/in')]).toEqual([['f'], ['d'], [null], ['f']]);
    expect([fs.readFile('/g').toString(), fs.readFile('/t/in').toString(), fs.exists('/g/child')]).toEqual(['G0', 'x', false]);
  });

  it('save, 100 random changes, restore → identical tree, bytes and annotations', () => {
    const rand = rng(42);
    buildTree(fs, rand);
    addTags(fs, '/big.bin', ['keep']);
    setMeta(fs, '/d0', 'owner', 'me');
    const saved = listing();
    const bytes = new Map(fs.walk('/').filter((e) => e.type === 'f').map((e) => [e.path, fs.readFile(e.path)]));
    saveCheckpoint(fs, 'base');
    randomChanges(fs, rand, 100);
    expect(listing()).not.toEqual(saved);
    const r = restoreCheckpoint(fs, 'base');
    expect(r.added + r.modified + r.deleted).toBeGreaterThan(0);
    expect(listing()).toEqual(saved);
    for (const [path, data] of bytes) expect(fs.readFile(path).equals(data)).toBe(true);
    // a second restore finds nothing to do
    expect(restoreCheckpoint(fs, 'base')).toMatchObject({ added: 0, modified: 0, deleted: 0, saved_before: null });
  });

  it('several seeds: restore the saved state, then the replaced state, both exactly', () => {
    for (const seed of [1, 7, 1234]) {
      const v = new VaultFs(store, 'default', actor);
      const rand = rng(seed);
      buildTree(v, rand, 30);
      const a = listing();
      saveCheckpoint(v, `a${seed}`);
      randomChanges(v, rand, 100);
      const b = listing();
      const r = restoreCheckpoint(v, `a${seed}`);
      expect(listing()).toEqual(a);
      // the restore saved what it replaced: restoring that brings it back
      expect(r.saved_before).toMatch(/^before-restore-/);
      restoreCheckpoint(v, r.saved_before!);
      expect(listing()).toEqual(b);
      for (const e of v.list('/')) v.rm(e.path, { recursive: true }); // a fresh start for the next seed
    }
  });

  it('records one restore version per changed path only, continuing each path’s numbering', () => {
    fs.writeFile('/same', 's');
    fs.writeFile('/changed', 'v1');
    fs.writeFile('/gone', 'g');
    saveCheckpoint(fs, 'x');
    fs.writeFile('/changed', 'v2');
    fs.rm('/gone');
    fs.writeFile('/added', 'new');
    const sameVersion = fs.stat('/same').version;
    // Times-only rows (op touch: the root's mtime put back) are not versions.
    const versions = () => count("SELECT count(*) AS n FROM versions WHERE op <> 'touch'");
    const before = versions();
    const r = restoreCheckpoint(fs, 'x');
    // /gone re-created, /added removed, /changed (and the root, if its mtime moved on) rewritten
    expect(r).toMatchObject({ added: 1, deleted: 1 });
    expect([1, 2]).toContain(r.modified);
    expect(fs.stat('/same').version).toBe(sameVersion);
    const restoreRows = count("SELECT count(*) AS n FROM versions WHERE op = 'restore'");
    expect(versions() - before).toBe(restoreRows);
    expect(pathVersions(store, fs.row(), '/changed', 1)[0]).toMatchObject({ version: 3, op: 'restore', hash: fs.stat('/changed').hash });
    expect(pathVersions(store, fs.row(), '/gone', 1)[0]).toMatchObject({ version: 3, op: 'restore', type: 'f' });
    expect(pathVersions(store, fs.row(), '/added', 1)[0]).toMatchObject({ version: 2, op: 'restore', type: null });
    // and each path's restore can be reverted on its own
    revertPath(fs, '/changed');
    expect(fs.readFile('/changed').toString()).toBe('v2');
  });

  it('a path whose only difference is its times gets them back without a restore version: revert then steps back over the last real change', () => {
    fs.writeFile('/f', 'c1');
    const cp = fs.stat('/f');
    saveCheckpoint(fs, 'cp1');
    vi.spyOn(Date, 'now').mockReturnValue(cp.mtime + 60_000);
    fs.writeFile('/f', 'c0');
    revertPath(fs, '/f'); // c1 again, with a later mtime
    vi.restoreAllMocks();
    expect(fs.stat('/f').mtime).not.toBe(cp.mtime);
    const r = restoreCheckpoint(fs, 'cp1');
    expect(r).toMatchObject({ added: 0, modified: 0, deleted: 0 });
    expect(fs.stat('/f').mtime).toBe(cp.mtime);
    expect(pathVersions(store, fs.row(), '/f', 10).map((v) => v.op)).toEqual(['revert', 'write', 'create']);
    // The latest change is the revert: reverting it gives back c0.
    revertPath(fs, '/f');
    expect(fs.readFile('/f').toString()).toBe('c0');
  });

  it('a file a revert brought back under a new inode number: the restore puts the old number back and reports it as the modification it records', () => {
    fs.writeFile('/f', 'one');
    const ino = fs.stat('/f').ino;
    saveCheckpoint(fs, 'cp1');
    fs.rm('/f');
    revertPath(fs, '/f'); // the same bytes and mode, a new inode number
    expect(fs.stat('/f').ino).not.toBe(ino);
    const r = restoreCheckpoint(fs, 'cp1');
    expect(fs.stat('/f').ino).toBe(ino);
    const restores = pathVersions(store, fs.row(), '/f', 10).filter((v) => v.op === 'restore').length;
    expect(restores).toBe(1);
    expect(r).toMatchObject({ added: 0, modified: 1, deleted: 0 });
  });

  it('brings back an exact tree where types changed (file ↔ directory ↔ symlink)', () => {
    fs.writeFile('/x', 'file');
    fs.mkdir('/y');
    fs.writeFile('/y/inner', 'i');
    fs.symlink('/x', '/z');
    const saved = listing();
    saveCheckpoint(fs, 'x');
    fs.rm('/x');
    fs.mkdir('/x');
    fs.writeFile('/x/deep', 'd');
    fs.rm('/y', { recursive: true });
    fs.writeFile('/y', 'now a file');
    fs.rm('/z');
    fs.writeFile('/z', 'z');
    restoreCheckpoint(fs, 'x');
    expect(listing()).toEqual(saved);
  });

  it('refuses a restore that would exceed the quota, changing nothing', () => {
    for (let i = 0; i < 10; i++) fs.writeFile(`/f${i}`, 'xx');
    saveCheckpoint(fs, 'ten');
    for (let i = 0; i < 8; i++) fs.rm(`/f${i}`);
    store.db.prepare('UPDATE vaults SET max_files = 5 WHERE name = ?').run('default');
    const before = listing();
    const versions = count('SELECT count(*) AS n FROM versions');
    expect(code(() => restoreCheckpoint(fs, 'ten'))).toBe('QUOTA_EXCEEDED');
    expect(listing()).toEqual(before);
    expect(count('SELECT count(*) AS n FROM versions')).toBe(versions);
    expect(listCheckpoints(fs)).toHaveLength(1); // no before-restore checkpoint left behind
    store.db.prepare('UPDATE vaults SET max_files = NULL, max_file_size = 1 WHERE name = ?').run('default');
    expect(code(() => restoreCheckpoint(fs, 'ten'))).toBe('QUOTA_EXCEEDED');
  });

  it('in a fork, re-created paths continue the numbering inherited from the parent', () => {
    fs.writeFile('/f', 'one');
    fs.writeFile('/f', 'two');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    saveCheckpoint(fork, 'x');
    fork.rm('/f');
    expect(pathVersions(store, fork.row(), '/f', 1)[0]!.version).toBe(3);
    restoreCheckpoint(fork, 'x');
    expect(pathVersions(store, fork.row(), '/f', 10).map((r) => [r.version, r.op, r.vault])).toEqual([
      [4, 'restore', 'fork'],
      [3, 'delete', 'fork'],
      [2, 'write', 'default'],
      [1, 'create', 'default'],
    ]);
    expect(fs.readFile('/f').toString()).toBe('two');
  });
});

describe('checkout from a checkpoint', () => {
  it('takes one file, or a whole directory with recursive', () => {
    fs.writeFile('/a', 'A1');
    fs.writeFile('/src/x', 'x1', { parents: true });
    fs.writeFile('/src/y', 'y1');
    saveCheckpoint(fs, 'cp');
    fs.writeFile('/a', 'A2');
    fs.writeFile('/src/x', 'x2');
    fs.rm('/src/y');
    fs.writeFile('/src/z', 'z');
    fs.writeFile('/new', 'n');
    expect(checkoutFromCheckpoint(fs, '/a', 'cp').changed).toBe(true);
    expect(fs.readFile('/a').toString()).toBe('A1');
    checkoutFromCheckpoint(fs, '/src', 'cp', { recursive: true });
    expect(fs.walk('/src').map((e) => [e.path, fs.readFile(e.path).toString()])).toEqual([
      ['/src/x', 'x1'],
      ['/src/y', 'y1'],
    ]);
    expect(fs.readFile('/new').toString()).toBe('n'); // outside the path: untouched
    checkoutFromCheckpoint(fs, '/new', 'cp'); // absent in the checkpoint: removed
    expect(fs.exists('/new')).toBe(false);
    expect(code(() => checkoutFromCheckpoint(fs, '/a', 'nope'))).toBe('CHECKPOINT_NOT_FOUND');
  });

  it("a directory taken with recursive gets the checkpoint's hard links back, and leaves a link reaching outside it apart", () => {
    fs.mkdir('/h');
    writeLinked(fs, 'keep\n', '/h/p', '/h/q', '/h/r');
    writeLinked(fs, 'o\n', '/h/o', '/out'); // a group with a name outside /h
    saveCheckpoint(fs, 'links');
    fs.rm('/h', { recursive: true });
    fs.writeFile('/out', 'changed\n');
    checkoutFromCheckpoint(fs, '/h', 'links', { recursive: true });
    const st = (path: string) => [fs.stat(path).ino, fs.stat(path).nlink];
    expect(['/h/p', '/h/q', '/h/r'].map(st)).toEqual(Array(3).fill([fs.stat('/h/p').ino, 3]));
    fs.writeFile('/h/q', 'edited\n'); // through the link, as in the checkpoint
    expect(fs.readFile('/h/r').toString()).toBe('edited\n');
    expect([fs.readFile('/h/o').toString(), fs.readFile('/out').toString()]).toEqual(['o\n', 'changed\n']);
    expect(st('/h/o')[1]).toBe(1);
  });
});
