import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addTags, getTags } from '../../src/store/annotations.js';
import { listCheckpoints, restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { diffTreeSources } from '../../src/store/compare.js';
import { pathVersions, revertPath } from '../../src/store/history.js';
import { mergeVaults, undoMerge, type MergeReport } from '../../src/store/merge.js';
import { prune } from '../../src/store/prune.js';
import { setQuota } from '../../src/store/quota.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault, deleteVault, forkVault } from '../../src/store/vaults.js';
import { hashBytes } from '../../src/core/hash.js';
import { errorCode, mergeConflict, openTempStore, thrownError, writeLinked } from '../helpers.js';

const actor = { source: 'sdk' as const };
let store: Store;
let main: VaultFs;
let close: () => void;
beforeEach(() => {
  ({ store, fs: main, close } = openTempStore());
});
afterEach(() => close());

const fork = (from = 'default', name = 'exp') => (forkVault(store, from, name, actor), new VaultFs(store, name, actor));
const text = (...lines: string[]) => lines.map((l) => l + '\n').join('');
const read = (fs: VaultFs, path: string) => fs.readFile(path).toString();

/** Every path of a vault with what it holds: content for files, target for symlinks, mode for all. */
function tree(fs: VaultFs): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.walk('/')) {
    const body = e.type === 'f' ? fs.readFile(e.path).toString('base64') : e.type === 'l' ? `-> ${e.target}` : 'dir';
    out[e.path] = `${e.type} ${(e.mode & 0o7777).toString(8)} ${body}`;
  }
  return out;
}

function versionCount(): number {
  return (store.db.prepare('SELECT count(*) AS n FROM versions').get() as { n: number }).n;
}

const conflictOf = (fn: () => unknown) => mergeConflict<MergeReport>(fn);

describe('vault merge', () => {
  it('clean merge: takes each side’s changes, as versions with op merge after a checkpoint; the fork is untouched', () => {
    main.writeFile('/keep.txt', 'keep');
    main.writeFile('/edit.txt', text('1', '2', '3', '4', '5', '6', '7'));
    main.writeFile('/gone.txt', 'bye');
    main.mkdir('/dir');
    main.writeFile('/dir/a', 'a');
    const exp = fork();
    exp.writeFile('/edit.txt', text('1', 'TWO', '3', '4', '5', '6', '7'));
    exp.writeFile('/dir/new', 'new');
    exp.rm('/gone.txt');
    exp.chmod('/keep.txt', 0o600);
    exp.symlink('dir/a', '/link');
    main.writeFile('/edit.txt', text('1', '2', '3', '4', '5', '6', 'SEVEN'));
    main.writeFile('/mine.txt', 'mine');
    const expBefore = tree(exp);

    const r = mergeVaults(store, 'exp', { actor });
    expect(r.status).toBe('merged');
    expect(r.target).toBe('default');
    expect(r.base.from).toBe('fork_point');
    expect(r.conflicts).toEqual([]);
    expect(read(main, '/edit.txt')).toBe(text('1', 'TWO', '3', '4', '5', '6', 'SEVEN'));
    expect(read(main, '/dir/new')).toBe('new');
    expect(main.exists('/gone.txt')).toBe(false);
    expect(main.stat('/keep.txt').mode & 0o777).toBe(0o600);
    expect(main.readlink('/link')).toBe('dir/a');
    expect(read(main, '/mine.txt')).toBe('mine');
    expect(Object.fromEntries(r.changes.map((c) => [c.path, [c.action, c.class]]))).toEqual({
      '/edit.txt': ['modified', 'merged'],
      '/dir/new': ['added', 'theirs_only'],
      '/gone.txt': ['deleted', 'theirs_only'],
      '/keep.txt': ['modified', 'theirs_only'],
      '/link': ['added', 'theirs_only'],
    });
    expect(r.summary).toMatchObject({ added: 2, modified: 2, deleted: 1, ours_only: 1, conflicts: 0 });
    const ops = store.db.prepare("SELECT DISTINCT op FROM versions WHERE vault_id = (SELECT id FROM vaults WHERE name = 'default') AND id > (SELECT seq FROM merges)").all();
    expect(ops.map((o: any) => o.op).filter((op: string) => op !== 'touch')).toEqual(['merge']);
    expect(listCheckpoints(main).map((c) => c.name)).toEqual([r.checkpoint]);
    expect(tree(exp)).toEqual(expBefore);
  });

  it('the same change on both sides is taken once, and changes nothing', () => {
    main.writeFile('/a', 'old');
    const exp = fork();
    exp.writeFile('/a', 'same');
    main.writeFile('/a', 'same');
    const versions = versionCount();
    const r = mergeVaults(store, 'exp', { actor });
    expect(r.summary).toMatchObject({ both_same: 1, added: 0, modified: 0, deleted: 0 });
    expect(r.checkpoint).toBeNull();
    expect(versionCount()).toBe(versions);
  });

  it('a dry run reports exactly what the merge then does, and changes nothing', () => {
    main.writeFile('/a', text('x', 'y', 'z'));
    const exp = fork();
    exp.writeFile('/a', text('X', 'y', 'z'));
    exp.writeFile('/b', 'b');
    main.writeFile('/a', text('x', 'y', 'Z'));
    const versions = versionCount();
    const dry = mergeVaults(store, 'exp', { actor, dryRun: true });
    expect(versionCount()).toBe(versions);
    expect(listCheckpoints(main)).toEqual([]);
    expect(store.db.prepare('SELECT count(*) AS n FROM merges').get()).toEqual({ n: 0 });
    const real = mergeVaults(store, 'exp', { actor });
    expect(real.changes).toEqual(dry.changes);
    expect(real.summary).toEqual(dry.summary);
    expect(main.stat('/a').hash).toBe(dry.changes.find((c) => c.path === '/a')!.after!.hash);
  });

  it('refuses a merge into itself, between unrelated vaults, and an unknown strategy', () => {
    fork();
    forkVault(store, 'default', 'other', actor);
    expect(errorCode(() => mergeVaults(store, 'exp', { actor, into: 'exp' }))).toBe('INVALID_ARGUMENT');
    expect(errorCode(() => undoMerge(store, 'exp', { actor, into: 'exp' }))).toBe('INVALID_ARGUMENT'); // as the merge it would undo
    expect(errorCode(() => mergeVaults(store, 'default', { actor }))).toBe('USAGE'); // no parent
    expect(errorCode(() => mergeVaults(store, 'exp', { actor, strategy: 'theirs-ish' as never }))).toBe('INVALID_ARGUMENT');
    createVault(store, 'lonely', actor);
    expect(errorCode(() => mergeVaults(store, 'lonely', { actor, into: 'default' }))).toBe('UNRELATED_VAULTS');
  });

  it('hard links: a name theirs gave an inode of its own leaves the link, the other names keep their content; an edit through the link reaches every name', () => {
    main.mkdir('/d');
    writeLinked(main, 'keep\n', '/d/p', '/d/q');
    writeLinked(main, 'one\n', '/d/x', '/d/y');
    const exp = fork();
    exp.rm('/d/q'); // sed -i, an editor's save: a new file at the name
    exp.writeFile('/d/q', 'edited\n');
    exp.writeFile('/d/y', 'two\n'); // through the link: /d/x too
    expect(read(exp, '/d/x')).toBe('two\n');
    const report = mergeVaults(store, 'exp', { actor });
    expect(report.changes.map((c) => c.path).sort()).toEqual(['/d/q', '/d/x', '/d/y']);
    expect(read(main, '/d/p')).toBe('keep\n');
    expect(read(main, '/d/q')).toBe('edited\n');
    const [p, q, x, y] = ['/d/p', '/d/q', '/d/x', '/d/y'].map((path) => main.stat(path));
    expect([p!.nlink, q!.nlink]).toEqual([1, 1]);
    expect(p!.ino).not.toBe(q!.ino);
    expect([read(main, '/d/x'), read(main, '/d/y')]).toEqual(['two\n', 'two\n']);
    expect([x!.nlink, y!.nlink, x!.ino]).toEqual([2, 2, y!.ino]);
    // Undone, the link is whole again.
    undoMerge(store, 'exp', { actor });
    expect([read(main, '/d/p'), read(main, '/d/q')]).toEqual(['keep\n', 'keep\n']);
  });

  it('hard links the source split or kept: a name the target added gets an edit through the link; names linked on both sides stay linked when a third leaves; undo restores every count', () => {
    const st = (fs: VaultFs, path: string) => [fs.stat(path).ino, fs.stat(path).nlink];
    // The target added a name; the source edited through the link.
    main.mkdir('/e');
    writeLinked(main, 'base\n', '/e/a', '/e/b');
    const exp = fork();
    main.link('/e/a', '/e/n');
    exp.writeFile('/e/b', 'base\nTB\n');
    mergeVaults(store, 'exp', { actor });
    expect(['/e/a', '/e/b', '/e/n'].map((p) => read(main, p))).toEqual(Array(3).fill('base\nTB\n'));
    expect(['/e/a', '/e/b', '/e/n'].map((p) => st(main, p))).toEqual(Array(3).fill([main.stat('/e/a').ino, 3]));
    // Three names; the source gives c an inode of its own and edits b; the target edits a.
    main.mkdir('/t');
    writeLinked(main, text('l1', 'l2', 'l3', 'l4', 'l5'), '/t/a', '/t/b', '/t/c');
    const exp2 = fork('default', 'exp2');
    main.writeFile('/t/a', text('OURS', 'l2', 'l3', 'l4', 'l5'));
    exp2.rm('/t/c');
    exp2.writeFile('/t/c', text('l1', 'l2', 'l3', 'l4', 'C5'));
    exp2.writeFile('/t/b', text('l1', 'l2', 'L3B', 'l4', 'l5'));
    mergeVaults(store, 'exp2', { actor });
    expect(read(main, '/t/a')).toBe(text('OURS', 'l2', 'L3B', 'l4', 'l5'));
    expect(read(main, '/t/b')).toBe(read(main, '/t/a'));
    expect([st(main, '/t/a'), st(main, '/t/b')]).toEqual([[main.stat('/t/a').ino, 2], [main.stat('/t/a').ino, 2]]);
    expect(main.stat('/t/c').nlink).toBe(1);
    expect(main.stat('/t/c').ino).not.toBe(main.stat('/t/a').ino);
    // The source removed one name: undo gives the others their count back (and the link).
    main.mkdir('/u');
    writeLinked(main, 'base\n', '/u/a', '/u/b');
    const exp3 = fork('default', 'exp3');
    exp3.rm('/u/a');
    mergeVaults(store, 'exp3', { actor });
    expect(st(main, '/u/b')[1]).toBe(1);
    undoMerge(store, 'exp3', { actor });
    expect([st(main, '/u/a'), st(main, '/u/b')]).toEqual([[main.stat('/u/a').ino, 2], [main.stat('/u/a').ino, 2]]);
    main.writeFile('/u/a', 'base\nW\n');
    expect(read(main, '/u/b')).toBe('base\nW\n');
  });

  it('a new file with two names arrives as one inode, and the history of neither name shows a deletion it never had', () => {
    main.writeFile('/x', 'base');
    const exp = fork();
    exp.mkdir('/h');
    writeLinked(exp, 'hi\n', '/h/f', '/h/g');
    mergeVaults(store, 'exp', { actor });
    const [f, g] = [main.stat('/h/f'), main.stat('/h/g')];
    expect([g.ino, g.nlink, f.nlink, read(main, '/h/g')]).toEqual([f.ino, 2, 2, 'hi\n']);
    for (const path of ['/h/f', '/h/g']) {
      const states = pathVersions(store, main.row(), path, 100).map((v) => `${v.op} ${v.type}`);
      expect(states.filter((s) => !s.startsWith('merge f')), path).toEqual([]);
    }
  });

  it('hard links made in the source arrive as links: a new name of an old file, names of a group renamed; undo takes them back', () => {
    main.mkdir('/d');
    main.writeFile('/d/a', 'a\n');
    writeLinked(main, 'p\n', '/d/p', '/d/q', '/d/r');
    writeLinked(main, 'own\n', '/d/own', '/d/own2');
    const exp = fork();
    exp.link('/d/a', '/d/b'); // a new name of a file the target has
    exp.rm('/d/q');
    exp.mv('/d/r', '/d/r2'); // the group renamed: p and r2
    writeLinked(exp, 'n\n', '/d/n', '/d/n2'); // a new file with two names
    exp.link('/d/own', '/d/own3'); // a link of a group the target has whole
    mergeVaults(store, 'exp', { actor });
    const st = (path: string) => main.stat(path);
    const sameInode = (...paths: string[]) => paths.map((p) => [st(p).ino, st(p).nlink]);
    expect(sameInode('/d/a', '/d/b')).toEqual([[st('/d/a').ino, 2], [st('/d/a').ino, 2]]);
    expect(sameInode('/d/p', '/d/r2')).toEqual([[st('/d/p').ino, 2], [st('/d/p').ino, 2]]);
    expect(sameInode('/d/n', '/d/n2')).toEqual([[st('/d/n').ino, 2], [st('/d/n').ino, 2]]);
    expect(sameInode('/d/own', '/d/own2', '/d/own3')).toEqual(Array(3).fill([st('/d/own').ino, 3]));
    expect(main.exists('/d/q') || main.exists('/d/r')).toBe(false);
    // Appending through one name shows in the other, as in the source.
    main.writeFile('/d/b', 'a\nmore\n');
    expect(read(main, '/d/a')).toBe('a\nmore\n');
    main.writeFile('/d/b', 'a\n');
    undoMerge(store, 'exp', { actor, force: true });
    expect(main.exists('/d/b') || main.exists('/d/r2') || main.exists('/d/n')).toBe(false);
    expect(sameInode('/d/p', '/d/q', '/d/r')).toEqual(Array(3).fill([st('/d/p').ino, 3]));
    expect(st('/d/a').nlink).toBe(1);
  });

  describe('hard links either side made since the fork', () => {
    const st = (fs: VaultFs, path: string) => fs.stat(path);
    /** Each name's content and whether all of them are one inode with that many names. */
    const file = (fs: VaultFs, ...paths: string[]) => ({
      text: paths.map((p) => read(fs, p)),
      one: paths.every((p) => st(fs, p).ino === st(fs, paths[0]!).ino && st(fs, p).nlink === paths.length),
    });
    /** The report says exactly what the merge stored: each changed path's `after` is what it holds. */
    const reportHolds = (report: MergeReport, fs: VaultFs) => {
      for (const c of report.changes) expect(c.after?.hash ?? null, c.path).toBe(fs.exists(c.path) ? hashBytes(fs.readFile(c.path)) : null);
    };

    it("a link the target made gets the source's in-place edit, listed in the report (link_of); a name the source replaced leaves the link", () => {
      main.writeFile('/a', 'v1\n');
      main.writeFile('/c', 'c1\n');
      main.writeFile('/old-b', 'separate\n');
      const exp = fork();
      main.link('/a', '/b');
      main.link('/c', '/d');
      main.rm('/old-b'); // a name that was another file, linked to /a now
      main.link('/a', '/old-b');
      exp.writeFile('/a', 'v2-fork\n'); // in place: /a keeps its inode
      exp.rm('/c'); // a new file at the name: /d keeps the old one
      exp.writeFile('/c', 'c2\n');
      const dry = mergeVaults(store, 'exp', { actor, dryRun: true });
      expect(dry.changes.map((c) => [c.path, c.link_of])).toEqual([
        ['/a', null],
        ['/b', '/a'],
        ['/c', null],
        ['/old-b', '/a'],
      ]);
      const report = mergeVaults(store, 'exp', { actor });
      expect(report.changes).toEqual(dry.changes);
      expect(file(main, '/a', '/b', '/old-b')).toEqual({ text: Array(3).fill('v2-fork\n'), one: true });
      expect([read(main, '/c'), read(main, '/d'), st(main, '/c').nlink, st(main, '/d').nlink]).toEqual(['c2\n', 'c1\n', 1, 1]);
      reportHolds(report, main);
      undoMerge(store, 'exp', { actor });
      expect(file(main, '/a', '/b', '/old-b')).toEqual({ text: Array(3).fill('v1\n'), one: true });
      expect(file(main, '/c', '/d')).toEqual({ text: ['c1\n', 'c1\n'], one: true });
    });

    it('the source replacing a name the target linked since (rm and a new file) leaves the other name its content', () => {
      main.writeFile('/a', 'v1\n');
      const exp = fork();
      main.link('/a', '/b');
      exp.rm('/a');
      exp.writeFile('/a', 'new\n');
      exp.link('/a', '/z'); // linked in the source, but not to /b
      const report = mergeVaults(store, 'exp', { actor });
      expect([read(main, '/a'), read(main, '/b'), st(main, '/b').nlink]).toEqual(['new\n', 'v1\n', 1]);
      expect(file(main, '/a', '/z')).toEqual({ text: ['new\n', 'new\n'], one: true });
      expect(report.changes.map((c) => c.path)).toEqual(['/a', '/z']);
    });

    it('names both sides linked and edited through merge as one file: one clean result for every name, one inode', () => {
      main.writeFile('/a', text('l1', 'l2', 'l3', 'l4', 'l5'));
      const exp = fork();
      main.link('/a', '/b');
      main.writeFile('/b', text('l1-P', 'l2', 'l3', 'l4', 'l5'));
      exp.link('/a', '/b');
      exp.writeFile('/b', text('l1', 'l2', 'l3', 'l4', 'l5-B'));
      const report = mergeVaults(store, 'exp', { actor }); // strategy fail: no conflict
      const merged = text('l1-P', 'l2', 'l3', 'l4', 'l5-B');
      expect(report.conflicts).toEqual([]);
      expect(file(main, '/a', '/b')).toEqual({ text: [merged, merged], one: true });
      reportHolds(report, main);
      expect(report.changes.map((c) => [c.path, c.after?.size])).toEqual([
        ['/a', merged.length],
        ['/b', merged.length],
      ]);
    });

    it("a name the target moved (the source's edit follows the move) stays a name of the file: the edit reaches the target's other names", () => {
      const six = text('1', '2', '3', '4', '5', '6');
      main.writeFile('/a', six);
      main.link('/a', '/b');
      main.writeFile('/c', six.replace('1', 'c'));
      const exp = fork();
      main.mv('/a', '/o'); // the group: /o and /b
      main.mv('/c', '/o1');
      main.link('/o1', '/o2'); // a link of the moved file, made since
      exp.writeFile('/b', six + 'T\n'); // through the link: /a too
      exp.writeFile('/c', six.replace('1', 'c') + 'T\n');
      const report = mergeVaults(store, 'exp', { actor });
      expect(file(main, '/o', '/b')).toEqual({ text: [six + 'T\n', six + 'T\n'], one: true });
      expect(file(main, '/o1', '/o2')).toEqual({ text: Array(2).fill(six.replace('1', 'c') + 'T\n'), one: true });
      expect(report.changes.find((c) => c.path === '/o2')?.link_of).toBe('/o1');
      reportHolds(report, main);
    });

    it('a move the source made of a file the target linked since: the new name is a name of that file, an edit made with the move reaches the other name', () => {
      main.writeFile('/a', 'v1\n');
      main.writeFile('/c', 'c1\n');
      const exp = fork();
      main.link('/a', '/o');
      main.link('/c', '/p');
      exp.mv('/a', '/u'); // a plain move
      exp.writeFile('/c', 'c2\n'); // in place, then moved
      exp.mv('/c', '/w');
      const report = mergeVaults(store, 'exp', { actor });
      expect([main.exists('/a'), main.exists('/c')]).toEqual([false, false]);
      expect(file(main, '/u', '/o')).toEqual({ text: ['v1\n', 'v1\n'], one: true });
      expect(file(main, '/w', '/p')).toEqual({ text: ['c2\n', 'c2\n'], one: true });
      expect(report.changes.find((c) => c.path === '/p')?.link_of).toBe('/w');
      reportHolds(report, main);
      undoMerge(store, 'exp', { actor });
      expect([file(main, '/a', '/o'), file(main, '/c', '/p'), main.exists('/u'), main.exists('/w')]).toEqual([
        { text: ['v1\n', 'v1\n'], one: true },
        { text: ['c1\n', 'c1\n'], one: true },
        false,
        false,
      ]);
    });

    it('a link the source made to a file the target linked too joins the whole file; a tie keeps the inode number the target gave it', () => {
      main.writeFile('/a', 'hi\n');
      main.writeFile('/z', 'zz\n');
      const exp = fork();
      main.link('/a', '/o');
      exp.link('/a', '/b');
      exp.link('/z', '/y'); // /y sorts first, and both names have one link: /z keeps its inode
      const z = main.stat('/z').ino;
      mergeVaults(store, 'exp', { actor });
      expect(file(main, '/a', '/b', '/o')).toEqual({ text: Array(3).fill('hi\n'), one: true });
      expect([file(main, '/y', '/z').one, main.stat('/z').ino]).toEqual([true, z]);
    });

    it('a name both sides made a link of another file (ln -f), edited on one side: merges as that file, no conflict', () => {
      const six = text('1', '2', '3', '4', '5', '6');
      main.writeFile('/a', six);
      main.writeFile('/b', text('x', 'y', 'z'));
      const exp = fork();
      for (const fs of [main, exp]) {
        fs.rm('/b');
        fs.link('/a', '/b');
      }
      main.writeFile('/a', six + 'O\n');
      const report = mergeVaults(store, 'exp', { actor });
      expect(report.conflicts).toEqual([]);
      expect(file(main, '/a', '/b')).toEqual({ text: [six + 'O\n', six + 'O\n'], one: true });
    });

    it('ln -f in opposite directions on the two sides: the file the source linked to is no base of the target\'s own name (a content conflict, not a dropped change)', () => {
      main.writeFile('/a', text('1', '2', '3'));
      main.writeFile('/c', text('x', 'y', 'z'));
      const exp = fork();
      main.rm('/c');
      main.link('/a', '/c'); // ln -f a c
      main.writeFile('/a', text('1', '2', '3', 'W'));
      exp.rm('/a');
      exp.link('/c', '/a'); // ln -f c a
      const report = conflictOf(() => mergeVaults(store, 'exp', { actor }));
      expect(report.conflicts.map((c) => [c.path, c.kind])).toContainEqual(['/a', 'content']);
      // Without the edit: no conflict of content, but the source's link is no edit of the target's
      // file: its /a leaves it, and /c keeps what the target gave it.
      main.writeFile('/a', text('1', '2', '3'));
      const r = mergeVaults(store, 'exp', { actor });
      expect([read(main, '/a'), read(main, '/c'), main.stat('/c').nlink]).toEqual([text('x', 'y', 'z'), text('1', '2', '3'), 1]);
      reportHolds(r, main);
    });

    it('a move and a link in the source of a file the target linked: one file of every name, as reported; with --strategy theirs apart, the target\'s own link stays with the file', () => {
      main.writeFile('/a', text('1', '2', '3'));
      const exp = fork();
      main.link('/a', '/o');
      exp.mv('/a', '/u');
      exp.link('/u', '/v');
      exp.writeFile('/u', text('1', '2', '3', 'T'));
      const report = mergeVaults(store, 'exp', { actor });
      expect(file(main, '/o', '/u', '/v')).toEqual({ text: Array(3).fill(text('1', '2', '3', 'T')), one: true });
      expect(report.changes.find((c) => c.path === '/o')?.link_of).toBe('/u');
      const six = text('1', '2', '3', '4', '5', '6');
      main.mkdir('/t');
      main.writeFile('/t/a', six);
      main.writeFile('/t/b', text('x', 'y', 'z'));
      const exp2 = fork('default', 'exp2');
      main.rm('/t/b');
      main.link('/t/a', '/t/b');
      main.link('/t/a', '/t/o');
      exp2.writeFile('/t/a', six + 'T\n');
      exp2.writeFile('/t/b', text('x', 'y', 'z', 'T'));
      const r2 = mergeVaults(store, 'exp2', { actor, strategy: 'theirs' });
      expect(file(main, '/t/a', '/t/o')).toEqual({ text: [six + 'T\n', six + 'T\n'], one: true });
      expect([read(main, '/t/b'), main.stat('/t/b').nlink]).toEqual([text('x', 'y', 'z', 'T'), 1]);
      reportHolds(r2, main);
    });

    it('names of one file the rules give different results are a link conflict: ours keeps its file for every name, theirs takes each name apart as the source has them, union and fail refuse', () => {
      const six = text('1', '2', '3', '4', '5', '6');
      const setup = (name: string) => {
        main.mkdir(`/${name}`);
        main.writeFile(`/${name}/a`, six);
        main.writeFile(`/${name}/b`, text('x', 'y', 'z'));
        const exp = fork('default', name);
        main.rm(`/${name}/b`);
        main.link(`/${name}/a`, `/${name}/b`); // one file in the target, two in the source
        exp.writeFile(`/${name}/a`, six + 'T\n');
        exp.writeFile(`/${name}/b`, text('x', 'y', 'z', 'T'));
      };
      for (const strategy of ['fail', 'union'] as const) {
        setup(strategy);
        const before = versionCount();
        const report = conflictOf(() => mergeVaults(store, strategy, { actor, strategy }));
        const links = [`/${strategy}/a`, `/${strategy}/b`];
        expect(report.conflicts.map((c) => [c.path, c.kinds, c.resolution, c.links])).toEqual([
          [`/${strategy}/a`, ['link'], null, links],
          [`/${strategy}/b`, ['content', 'link'], null, links],
        ]);
        expect(versionCount()).toBe(before);
      }
      for (const strategy of ['ours', 'theirs'] as const) {
        setup(strategy);
        const dry = mergeVaults(store, strategy, { actor, strategy, dryRun: true });
        const report = mergeVaults(store, strategy, { actor, strategy });
        expect(report.changes).toEqual(dry.changes);
        expect(report.conflicts.map((c) => [c.path, c.kinds, c.resolution])).toEqual([
          [`/${strategy}/a`, ['link'], strategy],
          [`/${strategy}/b`, ['content', 'link'], strategy],
        ]);
        const [a, b] = [`/${strategy}/a`, `/${strategy}/b`];
        if (strategy === 'ours') expect(file(main, a, b)).toEqual({ text: [six, six], one: true });
        else expect([read(main, a), read(main, b), main.stat(a).nlink, main.stat(b).nlink]).toEqual([six + 'T\n', text('x', 'y', 'z', 'T'), 1, 1]);
        reportHolds(report, main);
      }
    });

    it('names both sides linked to another file than the base had there, edited on both: one file, one clean merge', () => {
      main.writeFile('/a', text('l1', 'l2', 'l3', 'l4', 'l5'));
      main.writeFile('/b', 'other\n');
      const exp = fork();
      for (const [fs, body] of [
        [main, text('l1-P', 'l2', 'l3', 'l4', 'l5')],
        [exp, text('l1', 'l2', 'l3', 'l4', 'l5-B')],
      ] as const) {
        fs.rm('/b');
        fs.link('/a', '/b');
        fs.writeFile('/a', body);
      }
      const report = mergeVaults(store, 'exp', { actor });
      const merged = text('l1-P', 'l2', 'l3', 'l4', 'l5-B');
      expect(report.conflicts).toEqual([]);
      expect(file(main, '/a', '/b')).toEqual({ text: [merged, merged], one: true });
      reportHolds(report, main);
    });
  });
});

/**
 * Each conflict class with each strategy. `setup` makes the base in main, forks, then edits both
 * sides; `expect` gives, per strategy, what main must hold afterwards (the tree of the paths
 * listed), or 'conflict' when the merge must be refused and change nothing.
 */
interface ConflictCase {
  name: string;
  kind: string;
  path: string;
  setup(main: VaultFs, exp: VaultFs): void;
  expect: Record<'ours' | 'theirs' | 'union', Record<string, string | null> | 'conflict'>;
}

const BINARY_BASE = Buffer.from([0, 1, 2, 3]);
const CASES: ConflictCase[] = [
  {
    name: 'conflicting text edits',
    kind: 'content',
    path: '/t.txt',
    setup: (m, e) => {
      e.writeFile('/t.txt', text('a', 'THEIRS', 'c'));
      m.writeFile('/t.txt', text('a', 'OURS', 'c'));
    },
    expect: {
      ours: { '/t.txt': text('a', 'OURS', 'c') },
      theirs: { '/t.txt': text('a', 'THEIRS', 'c') },
      union: { '/t.txt': text('a', '<<<<<<< default', 'OURS', '=======', 'THEIRS', '>>>>>>> exp', 'c') },
    },
  },
  {
    name: 'conflicting binary edits',
    kind: 'content',
    path: '/bin',
    setup: (m, e) => {
      e.writeFile('/bin', Buffer.from([0, 9, 9]));
      m.writeFile('/bin', Buffer.from([0, 8, 8]));
    },
    expect: { ours: { '/bin': '\0\b\b' }, theirs: { '/bin': '\0\t\t' }, union: 'conflict' },
  },
  {
    name: 'added on both sides with different content',
    kind: 'content',
    path: '/new.txt',
    setup: (m, e) => {
      e.writeFile('/new.txt', 'theirs\n');
      m.writeFile('/new.txt', 'ours\n');
    },
    expect: {
      ours: { '/new.txt': 'ours\n' },
      theirs: { '/new.txt': 'theirs\n' },
      union: { '/new.txt': text('<<<<<<< default', 'ours', '=======', 'theirs', '>>>>>>> exp') },
    },
  },
  {
    name: 'added on both sides, empty in ours (a line merge against no base took the empty side as unchanged)',
    kind: 'content',
    path: '/new.txt',
    setup: (m, e) => {
      e.writeFile('/new.txt', 'theirs\n');
      m.writeFile('/new.txt', '');
    },
    expect: { ours: { '/new.txt': '' }, theirs: { '/new.txt': 'theirs\n' }, union: { '/new.txt': 'theirs\n' } },
  },
  {
    name: 'added on both sides, empty in theirs',
    kind: 'content',
    path: '/new.txt',
    setup: (m, e) => {
      e.writeFile('/new.txt', '');
      m.writeFile('/new.txt', 'ours\n');
    },
    expect: { ours: { '/new.txt': 'ours\n' }, theirs: { '/new.txt': '' }, union: { '/new.txt': 'ours\n' } },
  },
  {
    name: 'deleted in ours, edited in theirs',
    kind: 'delete_edit',
    path: '/t.txt',
    setup: (m, e) => {
      e.writeFile('/t.txt', 'edited\n');
      m.rm('/t.txt');
    },
    expect: { ours: { '/t.txt': null }, theirs: { '/t.txt': 'edited\n' }, union: { '/t.txt': 'edited\n' } },
  },
  {
    name: 'edited in ours, deleted in theirs',
    kind: 'delete_edit',
    path: '/t.txt',
    setup: (m, e) => {
      e.rm('/t.txt');
      m.writeFile('/t.txt', 'edited\n');
    },
    expect: { ours: { '/t.txt': 'edited\n' }, theirs: { '/t.txt': null }, union: { '/t.txt': 'edited\n' } },
  },
  {
    name: 'a file turned into a directory in ours and a symlink in theirs',
    kind: 'type',
    path: '/t.txt',
    setup: (m, e) => {
      e.rm('/t.txt');
      e.symlink('elsewhere', '/t.txt');
      m.rm('/t.txt');
      m.mkdir('/t.txt');
      m.writeFile('/t.txt/inner', 'inner');
    },
    expect: { ours: { '/t.txt': 'dir', '/t.txt/inner': 'inner' }, theirs: { '/t.txt': '-> elsewhere', '/t.txt/inner': null }, union: 'conflict' },
  },
  {
    name: 'different mode changes',
    kind: 'mode',
    path: '/t.txt',
    setup: (m, e) => {
      e.chmod('/t.txt', 0o755);
      m.chmod('/t.txt', 0o640);
    },
    expect: { ours: { '/t.txt': 'mode 640' }, theirs: { '/t.txt': 'mode 755' }, union: { '/t.txt': 'mode 755' } },
  },
  {
    name: 'different tags',
    kind: 'metadata',
    path: '/t.txt',
    setup: (m, e) => {
      addTags(e, '/t.txt', ['theirs']);
      addTags(m, '/t.txt', ['ours']);
    },
    expect: { ours: { '/t.txt': 'tags ours' }, theirs: { '/t.txt': 'tags theirs' }, union: 'conflict' },
  },
  {
    name: 'a directory deleted in theirs while ours added a file in it',
    kind: 'delete_edit',
    path: '/d',
    setup: (m, e) => {
      e.rm('/d', { recursive: true });
      m.writeFile('/d/added', 'added');
    },
    expect: {
      ours: { '/d': 'dir', '/d/old': 'old', '/d/added': 'added' },
      theirs: { '/d': null, '/d/old': null, '/d/added': null },
      union: { '/d': 'dir', '/d/old': null, '/d/added': 'added' },
    },
  },
  {
    name: 'one file renamed to different paths on each side',
    kind: 'rename',
    path: '/r.txt',
    setup: (m, e) => {
      e.mv('/r.txt', '/theirs.txt');
      m.mv('/r.txt', '/ours.txt');
    },
    expect: {
      ours: { '/r.txt': null, '/ours.txt': 'renamed\n', '/theirs.txt': null },
      theirs: { '/r.txt': null, '/ours.txt': null, '/theirs.txt': 'renamed\n' },
      union: { '/r.txt': null, '/ours.txt': 'renamed\n', '/theirs.txt': 'renamed\n' },
    },
  },
];

/** What a path holds, in the terms CASES use. */
function holds(fs: VaultFs, path: string, want: string | null): string | null {
  if (!fs.exists(path)) return null;
  const e = fs.lstat(path);
  if (want?.startsWith('mode ')) return `mode ${(e.mode & 0o777).toString(8)}`;
  if (want?.startsWith('tags ')) return `tags ${getTags(fs, path).tags.join(',')}`;
  if (e.type === 'd') return 'dir';
  if (e.type === 'l') return `-> ${e.target}`;
  return fs.readFile(path).toString('latin1');
}

function setupCase(c: ConflictCase): VaultFs {
  main.writeFile('/t.txt', text('a', 'b', 'c'));
  main.writeFile('/bin', BINARY_BASE);
  main.writeFile('/r.txt', 'renamed\n');
  main.writeFile('/d/old', 'old', { parents: true });
  const exp = fork();
  c.setup(main, exp);
  return exp;
}

describe('each conflict class with each strategy', () => {
  for (const c of CASES) {
    it(`${c.name}: fail refuses and lists it with base, ours and theirs`, () => {
      setupCase(c);
      const before = tree(main);
      const versions = versionCount();
      const report = conflictOf(() => mergeVaults(store, 'exp', { actor }));
      const conflict = report.conflicts.find((x) => x.path === c.path)!;
      expect(conflict, JSON.stringify(report.conflicts)).toBeDefined();
      expect(conflict.kind).toBe(c.kind);
      expect(conflict.resolution).toBeNull();
      expect(conflict.base === null && conflict.ours === null && conflict.theirs === null).toBe(false);
      // A metadata conflict shows what differs (base, ours and theirs' sides alone may be identical).
      if (c.kind === 'metadata') {
        expect(conflict.metadata).toEqual({
          base: { uid: null, gid: null, tags: [], meta: {} },
          ours: { uid: null, gid: null, tags: ['ours'], meta: {} },
          theirs: { uid: null, gid: null, tags: ['theirs'], meta: {} },
        });
      } else expect(conflict.metadata).toBeNull();
      expect(tree(main)).toEqual(before);
      expect(versionCount()).toBe(versions);
      expect(listCheckpoints(main)).toEqual([]);
    });
    for (const strategy of ['ours', 'theirs', 'union'] as const) {
      it(`${c.name}: --strategy ${strategy}`, () => {
        setupCase(c);
        const want = c.expect[strategy];
        if (want === 'conflict') {
          const before = tree(main);
          const report = conflictOf(() => mergeVaults(store, 'exp', { actor, strategy }));
          expect(report.conflicts.find((x) => x.path === c.path)!.resolution).toBeNull();
          expect(tree(main)).toEqual(before);
          return;
        }
        const r = mergeVaults(store, 'exp', { actor, strategy });
        expect(r.conflicts.find((x) => x.path === c.path)).toMatchObject({ kind: c.kind, resolution: strategy });
        for (const [path, value] of Object.entries(want)) expect(holds(main, path, value), path).toBe(value);
      });
    }
  }

  it('a binary conflict says binary and has no hunks; a text one has the conflicting hunk with each side’s lines', () => {
    main.writeFile('/bin', BINARY_BASE);
    main.writeFile('/t.txt', text('a', 'b', 'c'));
    const exp = fork();
    exp.writeFile('/bin', Buffer.from([0, 9]));
    exp.writeFile('/t.txt', text('a', 'THEIRS', 'c'));
    main.writeFile('/bin', Buffer.from([0, 8]));
    main.writeFile('/t.txt', text('a', 'OURS', 'c'));
    const r = mergeVaults(store, 'exp', { actor, dryRun: true });
    expect(r.status).toBe('conflicts');
    const bin = r.conflicts.find((c) => c.path === '/bin')!;
    expect(bin).toMatchObject({ kind: 'content', binary: true, hunks: [] });
    expect([bin.base!.hash, bin.ours!.hash, bin.theirs!.hash]).toEqual([hashBytes(BINARY_BASE), main.stat('/bin').hash, exp.stat('/bin').hash]);
    const t = r.conflicts.find((c) => c.path === '/t.txt')!;
    expect(t).toMatchObject({ binary: false, hunks: [{ base_start: 2, base: ['b'], ours: ['OURS'], theirs: ['THEIRS'] }] });
  });
});

describe('renames', () => {
  it('a rename in theirs carries an edit made in ours to the new path', () => {
    main.writeFile('/src/old.ts', text('1', '2', '3', '4', '5'), { parents: true });
    const exp = fork();
    exp.mv('/src/old.ts', '/src/new.ts');
    main.writeFile('/src/old.ts', text('1', '2', '3', '4', 'FIVE'));
    const r = mergeVaults(store, 'exp', { actor });
    expect(main.exists('/src/old.ts')).toBe(false);
    expect(read(main, '/src/new.ts')).toBe(text('1', '2', '3', '4', 'FIVE'));
    expect(r.changes.find((c) => c.path === '/src/new.ts')).toMatchObject({ action: 'added', class: 'renamed', renamed_from: '/src/old.ts', renamed_to: null });
    // The old path goes with the move (it read as the same change on both sides).
    expect(r.changes.find((c) => c.path === '/src/old.ts')).toMatchObject({ action: 'deleted', class: 'renamed', renamed_from: null, renamed_to: '/src/new.ts' });
    expect(r.summary).toMatchObject({ renamed: 1, both_same: 0, deleted: 1, added: 1 });
  });

  it('a rename in ours takes an edit made in theirs, merged with ours’ own edit of the moved file', () => {
    main.writeFile('/old.ts', text('1', '2', '3', '4', '5'));
    const exp = fork();
    exp.writeFile('/old.ts', text('ONE', '2', '3', '4', '5'));
    main.mv('/old.ts', '/new.ts');
    main.chmod('/new.ts', 0o755);
    const r = mergeVaults(store, 'exp', { actor });
    expect(main.exists('/old.ts')).toBe(false);
    expect(read(main, '/new.ts')).toBe(text('ONE', '2', '3', '4', '5'));
    expect(main.stat('/new.ts').mode & 0o777).toBe(0o755);
    expect(r.changes.map((c) => [c.path, c.class])).toEqual([['/new.ts', 'renamed']]);
  });
});

describe('merging again', () => {
  it('merging back right after a merge that wrote nothing (its point the same change) starts from the newer merge: once more is up to date', () => {
    main.writeFile('/a', 'x');
    const exp = fork();
    exp.writeFile('/a', 'fork edit');
    exp.writeFile('/b', 'new in the fork');
    main.rm('/a');
    // main into exp: the delete/edit conflict resolved as exp has it, nothing written, at the same change as the next merge.
    const into = mergeVaults(store, 'default', { actor, into: 'exp', strategy: 'ours' });
    expect(into).toMatchObject({ status: 'merged', changes: [] });
    const back = mergeVaults(store, 'exp', { actor, into: 'default', strategy: 'ours' });
    expect(back.changes.map((c) => c.path).sort()).toEqual(['/a', '/b']);
    const again = mergeVaults(store, 'exp', { actor, into: 'default', strategy: 'ours' });
    expect(again).toMatchObject({ status: 'up_to_date', changes: [], base: { from: 'merge', merge_id: back.merge_id, vault: 'exp' } });
  });

  it('a second merge is a no-op, and a later one merges only the new work', () => {
    main.writeFile('/a', text('a1', 'a2', 'a3'));
    main.writeFile('/b', 'b');
    const exp = fork();
    exp.writeFile('/a', text('A1', 'a2', 'a3'));
    const first = mergeVaults(store, 'exp', { actor });
    expect(first.status).toBe('merged');
    const versions = versionCount();
    const again = mergeVaults(store, 'exp', { actor });
    expect(again).toMatchObject({ status: 'up_to_date', checkpoint: null, merge_id: null, changes: [], conflicts: [] });
    expect(versionCount()).toBe(versions);
    // main edits what it merged: that is ours' work now, not a conflict with the fork's old edit
    main.writeFile('/a', text('A1', 'a2', 'MAIN'));
    exp.writeFile('/b', 'fork b');
    const third = mergeVaults(store, 'exp', { actor });
    expect(third.base).toMatchObject({ from: 'merge', merge_id: first.merge_id, vault: 'exp' });
    expect(third.changes.map((c) => c.path)).toEqual(['/b']);
    expect(read(main, '/a')).toBe(text('A1', 'a2', 'MAIN'));
    expect(read(main, '/b')).toBe('fork b');
  });

  it('the next merge of the pair examines the new work, not again every path the last one wrote (60k examined for 37 new files)', () => {
    main.writeFile('/a', 'a');
    const exp = fork();
    for (let i = 0; i < 40; i++) exp.writeFile(`/f${i}`, `file ${i}`);
    expect(mergeVaults(store, 'exp', { actor }).summary.examined).toBe(41); // and /
    exp.writeFile('/new', 'new');
    exp.writeFile('/f3', 'edited');
    const next = mergeVaults(store, 'exp', { actor, dryRun: true });
    expect([next.summary.examined, next.changes.map((c) => [c.path, c.action])]).toEqual([2, [['/f3', 'modified'], ['/new', 'added']]]);
    // Ours' own later work on a merged path is still looked at (and stands).
    main.writeFile('/f5', 'main edit');
    expect(mergeVaults(store, 'exp', { actor }).summary).toMatchObject({ examined: 3, added: 1, modified: 1 });
    expect([read(main, '/f5'), read(main, '/f3'), read(main, '/new')]).toEqual(['main edit', 'edited', 'new']);
  });

  it('a file deleted in a vault holding many copies of its content examines the deletion, not every copy (node_modules: a LICENSE per package)', () => {
    for (let i = 0; i < 30; i++) main.writeFile(`/pkg${i}/LICENSE`, 'MIT', { parents: true });
    const exp = fork();
    exp.rm('/pkg7', { recursive: true });
    exp.mv('/pkg8', '/moved8');
    const plan = mergeVaults(store, 'exp', { actor, dryRun: true });
    // /, /pkg7 and its LICENSE, /pkg8, /moved8 and their LICENSEs: the 28 other copies the base had are not where either went.
    expect(plan.summary.examined).toBe(7);
    expect(plan.changes.map((c) => [c.path, c.action])).toEqual([
      ['/moved8', 'added'],
      ['/moved8/LICENSE', 'added'],
      ['/pkg7', 'deleted'],
      ['/pkg7/LICENSE', 'deleted'],
      ['/pkg8', 'deleted'],
      ['/pkg8/LICENSE', 'deleted'],
    ]);
    mergeVaults(store, 'exp', { actor });
    expect(tree(main)).toEqual(tree(exp));
  });

  it('a conflict resolved with a strategy is not raised again by the next merge', () => {
    main.writeFile('/a', 'base\n');
    const exp = fork();
    exp.writeFile('/a', 'theirs\n');
    main.writeFile('/a', 'ours\n');
    mergeVaults(store, 'exp', { actor, strategy: 'ours' });
    exp.writeFile('/other', 'x');
    const next = mergeVaults(store, 'exp', { actor });
    expect(next.conflicts).toEqual([]);
    expect(read(main, '/a')).toBe('ours\n');
  });

  it('merging the parent back into the fork after a merge brings only the parent’s own work', () => {
    main.writeFile('/a', 'a');
    const exp = fork();
    main.writeFile('/main-only', 'm');
    exp.writeFile('/a', 'fork a');
    mergeVaults(store, 'exp', { actor });
    const r = mergeVaults(store, 'default', { actor, into: 'exp' });
    expect(r.base.from).toBe('merge');
    expect(r.changes.map((c) => [c.path, c.action])).toEqual([['/main-only', 'added']]);
    expect(tree(exp)).toEqual(tree(main));
  });

  it('merges between siblings through their common parent', () => {
    main.writeFile('/a', text('1', '2', '3', '4', '5'));
    const one = fork('default', 'one');
    const two = fork('default', 'two');
    one.writeFile('/a', text('ONE', '2', '3', '4', '5'));
    two.writeFile('/a', text('1', '2', '3', '4', 'FIVE'));
    const r = mergeVaults(store, 'one', { actor, into: 'two' });
    expect(r.base).toMatchObject({ vault: 'default', from: 'fork_point' });
    expect(read(two, '/a')).toBe(text('ONE', '2', '3', '4', 'FIVE'));
  });

  it('the recorded base survives prune: a later merge still sees what was merged', () => {
    main.writeFile('/a', text('1', '2', '3'));
    const exp = fork();
    exp.writeFile('/a', text('ONE', '2', '3'));
    mergeVaults(store, 'exp', { actor });
    exp.writeFile('/a', text('ONE', '2', 'THREE'));
    exp.writeFile('/a', text('ONE', 'TWO', 'THREE'));
    main.writeFile('/z', 'z');
    for (const vault of ['default', 'exp']) prune(store, { scope: { vault }, keep: 1, actor });
    const r = mergeVaults(store, 'exp', { actor });
    expect(r.conflicts).toEqual([]);
    expect(read(main, '/a')).toBe(text('ONE', 'TWO', 'THREE'));
  });
});

describe('prune after the source is deleted', () => {
  it("keeps no version for undoing a merge from a deleted vault (nothing can undo it), while the fork reading through it still merges from the recorded base", () => {
    main.writeFile('/f', text('1', '2', '3'));
    const k = fork('default', 'k');
    k.writeFile('/f', text('ONE', '2', '3'));
    fork('k', 'kk');
    mergeVaults(store, 'k', { actor });
    for (const n of ['a', 'b', 'c']) main.writeFile('/f', text('ONE', '2', n));
    const ops = () => pathVersions(store, main.row(), '/f', 100).map((v) => v.op);
    prune(store, { scope: { vault: 'default' }, keep: 1, actor });
    expect(ops()).toContain('merge'); // undoable: kept
    deleteVault(store, 'k', true, actor);
    expect(errorCode(() => undoMerge(store, 'k', { actor, into: 'default' }))).toBe('VAULT_NOT_FOUND');
    prune(store, { scope: { vault: 'default' }, keep: 1, actor });
    expect(ops()).toEqual(['write', 'create']); // the newest, and the state k forked from (kk reads through k)
    // kk (forked from k after its edit) merges into default from k's merged state: nothing new.
    expect(mergeVaults(store, 'kk', { actor, into: 'default' }).status).toBe('up_to_date');
  });
});

describe('quotas', () => {
  it('a merge past the target\'s quota is refused as a whole, its dry run says so too, and nothing changes', () => {
    const exp = fork();
    exp.writeFile('/big', Buffer.alloc(5000));
    exp.writeFile('/small', 'x');
    setQuota(store, 'default', { max_bytes: 1000 }, actor);
    const before = versionCount();
    for (const dryRun of [true, false]) {
      const err = thrownError(() => mergeVaults(store, 'exp', { actor, dryRun }));
      expect([err?.code, err?.data]).toMatchObject(['QUOTA_EXCEEDED', { limit: 'max_bytes', max: 1000, wanted: 5001 }]);
    }
    setQuota(store, 'default', { max_bytes: null, max_file_size: 4000 }, actor);
    expect(thrownError(() => mergeVaults(store, 'exp', { actor, dryRun: true }))?.data).toMatchObject({ limit: 'max_file_size', path: '/big' });
    expect(versionCount()).toBe(before);
    expect(main.exists('/small')).toBe(false);
  });

  it('a merge undo that would bring back more than the quota allows is refused and changes nothing (it puts states back exactly, past the per-entry check)', () => {
    main.writeFile('/big', Buffer.alloc(5000));
    for (let i = 0; i < 4; i++) main.writeFile(`/f${i}`, 'f');
    const exp = fork();
    exp.rm('/big');
    for (let i = 0; i < 4; i++) exp.rm(`/f${i}`);
    mergeVaults(store, 'exp', { actor });
    const merged = tree(main);
    const none = { max_bytes: null, max_files: null, max_file_size: null };
    for (const [limit, max] of [['max_bytes', 1000], ['max_files', 3], ['max_file_size', 4000]] as const) {
      setQuota(store, 'default', { ...none, [limit]: max }, actor);
      const err = thrownError(() => undoMerge(store, 'exp', { actor }));
      expect([err?.code, err?.data.limit]).toEqual(['QUOTA_EXCEEDED', limit]);
      expect(tree(main)).toEqual(merged);
    }
    setQuota(store, 'default', { max_bytes: null, max_files: null, max_file_size: null }, actor);
    undoMerge(store, 'exp', { actor });
    expect(main.exists('/big')).toBe(true);
  });
});

describe('merge undo', () => {
  it('puts every merged path back, and the next merge starts again from the fork point', () => {
    main.writeFile('/a', 'a');
    main.writeFile('/d/x', 'x', { parents: true });
    const exp = fork();
    exp.writeFile('/a', 'fork a');
    exp.writeFile('/new/deep/file', 'n', { parents: true });
    exp.rm('/d', { recursive: true });
    const before = tree(main);
    const merged = mergeVaults(store, 'exp', { actor });
    expect(tree(main)).not.toEqual(before);
    const undo = undoMerge(store, 'exp', { actor });
    expect(undo.merge_id).toBe(merged.merge_id);
    expect(tree(main)).toEqual(before);
    expect(mergeVaults(store, 'exp', { actor, dryRun: true }).base.from).toBe('fork_point');
    expect(errorCode(() => undoMerge(store, 'exp', { actor }))).toBe('MERGE_NOT_FOUND');
  });

  it('a merge made since in the other direction, which passed the undone merge on, is no base: the work merges again, and neither side loses its own files', () => {
    main.writeFile('/a', 'a');
    const exp = fork();
    exp.writeFile('/b', 'fork work');
    mergeVaults(store, 'exp', { actor }); // main gets /b
    main.writeFile('/m', 'main work');
    mergeVaults(store, 'default', { actor, into: 'exp' }); // exp gets /m, and main's /b came with main's state
    undoMerge(store, 'exp', { actor }); // main loses /b
    expect(main.exists('/b')).toBe(false);
    // It merged nothing again (up to date, the second merge as its base), and main into exp deleted exp's own /b.
    const again = mergeVaults(store, 'exp', { actor, dryRun: true });
    expect([again.base.from, again.changes.map((c) => [c.path, c.action])]).toEqual(['fork_point', [['/b', 'added']]]);
    expect(mergeVaults(store, 'default', { actor, into: 'exp' }).summary).toMatchObject({ added: 0, modified: 0, deleted: 0 });
    expect(exp.exists('/b')).toBe(true);
    mergeVaults(store, 'exp', { actor });
    expect(read(main, '/b')).toBe('fork work');

    // The same undone inside the other side: exp takes main's /m, passes it back, then undoes taking it.
    main.writeFile('/m2', 'main again');
    mergeVaults(store, 'default', { actor, into: 'exp' }); // exp gets /m2
    exp.writeFile('/t', 'exp again');
    mergeVaults(store, 'exp', { actor }); // main gets /t, and exp's /m2 with exp's state
    undoMerge(store, 'default', { actor, into: 'exp' }); // exp loses /m2
    expect(exp.exists('/m2')).toBe(false);
    mergeVaults(store, 'exp', { actor });
    expect(read(main, '/m2')).toBe('main again'); // merging exp into main deleted main's own /m2
  });

  it('an undo in a vault both sides forked from before it, which neither sees, leaves their merge a base: a file removed since stays removed', () => {
    main.writeFile('/a', 'a');
    const x = fork('default', 'x');
    x.writeFile('/x', 'x');
    mergeVaults(store, 'x', { actor }); // main gets /x
    const a = fork('default', 'a');
    const b = fork('default', 'b');
    a.writeFile('/new', 'new');
    mergeVaults(store, 'a', { actor, into: 'b' });
    undoMerge(store, 'x', { actor }); // in main, after a and b forked from it
    b.rm('/new');
    const again = mergeVaults(store, 'a', { actor, into: 'b' });
    expect([again.status, again.base.from]).toEqual(['up_to_date', 'merge']);
    expect(b.exists('/new')).toBe(false);
  });

  it('refuses when a merged path changed since (CONFLICT), and --force puts back the state before the merge', () => {
    main.writeFile('/a', 'a');
    const exp = fork();
    exp.writeFile('/a', 'fork a');
    exp.writeFile('/dir/f', 'f', { parents: true });
    const before = tree(main);
    mergeVaults(store, 'exp', { actor });
    main.writeFile('/dir/later', 'later');
    expect(errorCode(() => undoMerge(store, 'exp', { actor }))).toBe('CONFLICT');
    main.rm('/dir/later');
    main.writeFile('/a', 'edited after');
    expect(errorCode(() => undoMerge(store, 'exp', { actor }))).toBe('CONFLICT');
    undoMerge(store, 'exp', { actor, force: true });
    expect(tree(main)).toEqual(before);
  });

  it('--force puts back the merged paths changed since, and leaves later work on other paths as it does without --force', () => {
    main.writeFile('/x', 'base');
    const exp = fork();
    exp.writeFile('/y', 'from the fork');
    exp.writeFile('/new/f', 'made by the fork', { parents: true });
    const before = tree(main);
    mergeVaults(store, 'exp', { actor });
    main.writeFile('/a', 'after the merge');
    main.writeFile('/x', 'x edited after the merge');
    main.writeFile('/y', 'y edited after the merge');
    main.writeFile('/new/later', 'made in a merged directory');
    const refused = thrownError(() => undoMerge(store, 'exp', { actor }));
    expect([refused?.code, refused?.data.paths]).toEqual(['CONFLICT', ['/new/later', '/y']]);
    expect(undoMerge(store, 'exp', { actor, force: true }).paths).toEqual(['/new', '/new/f', '/new/later', '/y']);
    const text = (t: string) => `f 644 ${Buffer.from(t).toString('base64')}`;
    expect(tree(main)).toEqual({ ...before, '/a': text('after the merge'), '/x': text('x edited after the merge') });
  });

  it('--force puts back the directories a merged path needs, removed or replaced since the merge', () => {
    main.writeFile('/x/f', 'one', { parents: true });
    main.writeFile('/s/f', 'one', { parents: true });
    const exp = fork();
    exp.writeFile('/x/f', 'two');
    exp.writeFile('/s/f', 'two');
    const before = tree(main);
    mergeVaults(store, 'exp', { actor });
    main.rm('/x', { recursive: true });
    main.rm('/s', { recursive: true });
    main.symlink('/elsewhere', '/s');
    expect(undoMerge(store, 'exp', { actor, force: true }).paths).toEqual(['/s', '/s/f', '/x', '/x/f']);
    expect(tree(main)).toEqual(before);
  });

  it('undo gives a name linked to a merged file since the merge the state undo gives that file (one inode, one content)', () => {
    main.writeFile('/a', 'base\n');
    const exp = fork();
    exp.writeFile('/a', 'theirs\n');
    mergeVaults(store, 'exp', { actor });
    main.link('/a', '/c');
    undoMerge(store, 'exp', { actor });
    const [a, c] = [main.lstat('/a'), main.lstat('/c')];
    expect([a.ino, a.nlink, read(main, '/a')]).toEqual([c.ino, 2, 'base\n']);
    expect([c.nlink, read(main, '/c')]).toEqual([2, 'base\n']);
  });

  it('--force over a merged file renamed since (mv): the name comes back as before the merge, a file of its own, and the renamed file stays as it is', () => {
    main.writeFile('/a', 'base');
    const exp = fork();
    exp.writeFile('/a', 'theirs');
    mergeVaults(store, 'exp', { actor });
    main.mv('/a', '/d');
    undoMerge(store, 'exp', { actor, force: true });
    const [a, d] = [main.lstat('/a'), main.lstat('/d')];
    expect([read(main, '/a'), read(main, '/d'), a.nlink, d.nlink]).toEqual(['base', 'theirs', 1, 1]);
    expect(a.ino).not.toBe(d.ino);
  });

  it('--force over a merged file a revert moved since (a directory rename undone): it stays as it is, as after mv (adversarial round)', () => {
    main.mkdir('/b');
    main.writeFile('/b/x', 'X');
    main.mv('/b', '/a');
    const exp = fork();
    revertPath(main, '/b'); // /a goes back to /b
    exp.chmod('/a/x', 0o600);
    mergeVaults(store, 'exp', { actor }); // /b/x (moved from /a/x) becomes 0600
    revertPath(main, '/b'); // the tree goes back to /a, /a/x with the merged mode
    const report = undoMerge(store, 'exp', { actor, force: true });
    expect(report.paths).toEqual(['/b', '/b/x']);
    const [ax, bx] = [main.lstat('/a/x'), main.lstat('/b/x')];
    expect([ax.mode & 0o777, bx.mode & 0o777, ax.nlink, bx.nlink]).toEqual([0o600, 0o644, 1, 1]);
    expect(ax.ino).not.toBe(bx.ino);
  });

  it('--force over a merged file a restore linked again since (a checkpoint\'s hard link put back): both names get the undone file, one inode (review)', () => {
    main.writeFile('/a', 'old');
    main.link('/a', '/c');
    saveCheckpoint(main, 'C');
    main.rm('/c');
    const exp = fork();
    exp.writeFile('/a', 'merged');
    mergeVaults(store, 'exp', { actor });
    restoreCheckpoint(main, 'C');
    undoMerge(store, 'exp', { actor, force: true });
    const [a, c] = [main.lstat('/a'), main.lstat('/c')];
    expect([read(main, '/a'), read(main, '/c'), a.nlink, c.nlink, a.ino === c.ino]).toEqual(['old', 'old', 2, 2, true]);
  });

  it('--force over a merged file whose name was removed after a link was made to it: both names get the undone file, one inode', () => {
    main.writeFile('/a/f', 'old', { parents: true });
    const exp = fork();
    exp.writeFile('/a/f', 'new');
    mergeVaults(store, 'exp', { actor });
    main.mkdir('/z');
    main.link('/a/f', '/z/l');
    main.rm('/a/f');
    undoMerge(store, 'exp', { actor, force: true });
    const [f, l] = [main.lstat('/a/f'), main.lstat('/z/l')];
    expect([read(main, '/a/f'), read(main, '/z/l')]).toEqual(['old', 'old']);
    expect([f.ino, f.nlink, l.nlink]).toEqual([l.ino, 2, 2]);
    main.writeFile('/z/l', 'through the link');
    expect(read(main, '/a/f')).toBe('through the link');
  });

  it('a file the merge removed, whose inode number a restore since gave another name: undo puts it back as its own file and leaves that one alone', () => {
    main.writeFile('/b', 'old');
    main.link('/b', '/c');
    saveCheckpoint(main, 'linked');
    main.rm('/c');
    main.writeFile('/b', 'before the merge');
    const exp = fork();
    exp.rm('/b');
    mergeVaults(store, 'exp', { actor });
    restoreCheckpoint(main, 'linked', { saveBefore: false });
    main.rm('/b'); // as the merge left it; /c now holds the number /b had before the merge
    const versionsOfC = () => pathVersions(store, main.row(), '/c', 100).length;
    const cVersions = versionsOfC();
    undoMerge(store, 'exp', { actor });
    const [b, c] = [main.lstat('/b'), main.lstat('/c')];
    expect([read(main, '/b'), read(main, '/c'), b.nlink, c.nlink]).toEqual(['before the merge', 'old', 1, 1]);
    expect(b.ino).not.toBe(c.ino);
    expect(versionsOfC()).toBe(cVersions);
  });

  it('a file the merge only took a name from is not a merged path: undo gives the name back as a link of the file as it is now, and a chmod since stays', () => {
    main.writeFile('/a', 'x');
    main.mkdir('/b');
    main.link('/a', '/b/c');
    main.link('/a', '/c');
    const exp = fork();
    exp.rm('/b', { recursive: true });
    mergeVaults(store, 'exp', { actor });
    main.chmod('/a', 0o755);
    main.writeFile('/b', 'a file where the directory was');
    const refused = thrownError(() => undoMerge(store, 'exp', { actor }));
    expect([refused?.code, refused?.data.paths]).toEqual(['CONFLICT', ['/b']]);
    undoMerge(store, 'exp', { actor, force: true });
    const names = ['/a', '/b/c', '/c'].map((p) => main.lstat(p));
    expect(names.map((e) => [e.ino, e.nlink, e.mode & 0o777])).toEqual(Array(3).fill([names[0]!.ino, 3, 0o755]));
  });

  it('a file the merge took a name from, renamed and written since: undo gives the name back as a link of the file as it is now, not a copy of its old state', () => {
    main.writeFile('/a', 'x');
    main.link('/a', '/c');
    const exp = fork();
    exp.rm('/c');
    mergeVaults(store, 'exp', { actor });
    main.mv('/a', '/z');
    main.writeFile('/z', 'edited since');
    undoMerge(store, 'exp', { actor });
    const [c, z] = [main.lstat('/c'), main.lstat('/z')];
    expect([read(main, '/c'), c.ino, c.nlink, z.nlink]).toEqual(['edited since', z.ino, 2, 2]);
  });

  it('a name the undo puts back into a group that gained a link since the merge: every name has the count of the group', () => {
    main.writeFile('/a/f', 'old', { parents: true });
    main.link('/a/f', '/a/g');
    main.link('/a/f', '/h');
    const exp = fork();
    exp.rm('/a/g');
    mergeVaults(store, 'exp', { actor });
    main.link('/h', '/later');
    undoMerge(store, 'exp', { actor });
    const names = ['/a/f', '/a/g', '/h', '/later'].map((p) => main.lstat(p));
    expect(names.map((e) => [e.ino, e.nlink])).toEqual(Array(4).fill([names[0]!.ino, 4]));
  });

  it('a directory the merge only wrote below is not a merged path: what was done to it since stays', () => {
    main.mkdir('/d');
    main.mkdir('/a');
    main.chmod('/d', 0o700);
    const exp = fork();
    exp.writeFile('/d/c', 'from the fork');
    exp.mkdir('/a/sub');
    mergeVaults(store, 'exp', { actor });
    main.chmod('/d', 0o755);
    main.rm('/a', { recursive: true });
    expect(undoMerge(store, 'exp', { actor, force: true }).paths).toEqual(['/d/c']);
    expect([main.lstat('/d').mode & 0o777, main.exists('/d/c'), main.exists('/a')]).toEqual([0o755, false, false]);
  });

  it('a checkpoint saved after the merge does not turn an unrelated write beside a merged file into a CONFLICT', () => {
    main.mkdir('/d');
    const exp = fork();
    exp.writeFile('/d/f0', 'merged');
    mergeVaults(store, 'exp', { actor });
    // The checkpoint holds /d's times as the merge left them, so the next write in /d records a
    // version of /d: its times moved, nothing the merge decided.
    saveCheckpoint(main, 'after-merge');
    main.writeFile('/d/other', 'unrelated');
    expect(undoMerge(store, 'exp', { actor }).paths).toContain('/d/f0');
    expect(tree(main)).toEqual({ '/d': 'd 755 dir', '/d/other': `f 644 ${Buffer.from('unrelated').toString('base64')}` });
    // A merged file edited and put back as the merge left it is no change either; edited, it is.
    mergeVaults(store, 'exp', { actor });
    saveCheckpoint(main, 'again');
    main.writeFile('/d/f0', 'edited');
    expect(errorCode(() => undoMerge(store, 'exp', { actor }))).toBe('CONFLICT');
    main.writeFile('/d/f0', 'merged');
    undoMerge(store, 'exp', { actor });
    expect(tree(main)).toEqual({ '/d': 'd 755 dir', '/d/other': `f 644 ${Buffer.from('unrelated').toString('base64')}` });
  });

  it('after a prune, undo still sees every path the merge changed: CONFLICT for the one changed since, --force puts all back; once undone, prune lets its versions go', () => {
    main.writeFile('/a', 'a orig');
    main.writeFile('/b', 'b orig');
    const exp = fork();
    exp.writeFile('/a', 'a fork');
    exp.writeFile('/b', 'b fork');
    const before = tree(main);
    const merged = mergeVaults(store, 'exp', { actor });
    main.writeFile('/b', 'edited after the merge');
    prune(store, { scope: { all: true }, keep: 1, actor });
    const mergeVersions = () => (store.db.prepare("SELECT count(*) AS n FROM versions WHERE op = 'merge'").get() as { n: number }).n;
    const refused = thrownError(() => undoMerge(store, 'exp', { actor }));
    expect([refused?.code, refused?.data.paths]).toEqual(['CONFLICT', ['/b']]);
    expect(mergeVersions()).toBe(merged.changes.length); // both, /b's though no longer its newest
    expect(undoMerge(store, 'exp', { actor, force: true }).paths).toEqual(['/a', '/b']);
    expect(tree(main)).toEqual(before);
    prune(store, { scope: { all: true }, keep: 1, actor });
    expect(mergeVersions()).toBe(0);
  });

  it('the checkpoint saved before the merge restores the same state', () => {
    main.writeFile('/a', 'a');
    const exp = fork();
    exp.writeFile('/a', 'fork a');
    const before = tree(main);
    const r = mergeVaults(store, 'exp', { actor });
    restoreCheckpoint(main, r.checkpoint!);
    expect(tree(main)).toEqual(before);
  });
});

describe('diff --vault shares the merge’s comparison core', () => {
  it('reports the same differences as comparing every entry', () => {
    for (let i = 0; i < 50; i++) main.writeFile(`/d${i % 5}/f${i}`, `file ${i}`, { parents: true });
    const exp = fork();
    exp.writeFile('/d1/f1', 'changed');
    exp.rm('/d2', { recursive: true });
    exp.chmod('/d3/f3', 0o600);
    main.writeFile('/d4/f4', 'main changed');
    main.writeFile('/fresh', 'fresh');
    const viaLineage = diffTreeSources(main, { vault: 'exp' }, { current: true });
    // The full comparison, by hand: every path of both trees.
    const a = tree(exp);
    const b = tree(main);
    const expected = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((p) => a[p] !== b[p]).sort();
    expect(viaLineage.files.map((f) => f.path).sort()).toEqual(expected);
    // exp (the old side) deleted /d2 and its 10 files; main added /fresh
    expect(viaLineage.summary).toEqual({ added: 12, modified: 3, deleted: 0 });
  });
});
