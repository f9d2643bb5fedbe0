import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault, deleteVault, forkVault } from '../../src/store/vaults.js';
import {
  checkoutVersion,
  getFileVersion,
  getVersion,
  pathVersions,
  readVersion,
  revertPath,
  vaultChanges,
  findVersion,
  type VersionRecord,
} from '../../src/store/history.js';
import { errorCode, letEventLoopRun, openTempStore, thrownError } from '../helpers.js';
import { prune } from '../../src/store/prune.js';
import { diffVersions } from '../../src/store/compare.js';
import { saveCheckpoint } from '../../src/store/checkpoints.js';

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;

const code = errorCode;
const text = (p: string, v = fs) => v.readFile(p).toString();
const log = (p: string, v = fs) => pathVersions(store, v.row(), p, 1000);
const tree = (v = fs) => v.walk('/').map((e) => [e.path, e.type, e.mode, e.hash, e.target, e.size].join(' '));
const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

describe('log', () => {
  it('of more changes than fit on the stack as arguments (over 120,000): rm -r of a 70,000-file tree, then the whole log', async () => {
    const n = 70_000;
    // Steps of a few seconds each, the worker's event loop let run between them (letEventLoopRun).
    fs.mkdir('/big');
    for (let from = 0; from < n; from += 10_000) {
      store.mutate(() => {
        for (let i = from; i < from + 10_000; i++) fs.writeFile(`/big/f${i}`, '');
      });
      await letEventLoopRun();
    }
    // rm -r lists every path it removed; each removal is a version: 140,002 changes in all.
    expect(fs.rm('/big', { recursive: true }).length).toBe(n + 1);
    await letEventLoopRun();
    const changes = vaultChanges(store, fs.row(), 1_000_000);
    expect(changes.length).toBe(2 * (n + 1));
    expect(changes[0]).toMatchObject({ path: '/big', type: null });
  }, 120_000);

  it('a loop in the fork links (a damaged database) ends the walk: history and version numbers still come out', () => {
    fs.writeFile('/a', 'one');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fork.writeFile('/a', 'two');
    store.db.prepare("UPDATE vaults SET parent_id = (SELECT id FROM vaults WHERE name = 'fork'), fork_seq = 1 WHERE name = 'default'").run();
    expect(log('/a', fork).map((v) => v.version)).toEqual([2, 1]);
    expect(fork.writeFile('/b', 'new').version).toBe(1);
    expect(fs.writeFile('/c', 'new').version).toBe(1);
  });

  it("lists a path's versions newest first, each the state the path took", () => {
    fs.writeFile('/a.txt', 'A');
    fs.writeFile('/a.txt', 'BB');
    fs.chmod('/a.txt', 0o600);
    fs.rm('/a.txt');
    const rows = log('/a.txt');
    expect(rows.map((r) => [r.version, r.op, r.type, r.size])).toEqual([
      [4, 'delete', null, null],
      [3, 'chmod', 'f', 2],
      [2, 'write', 'f', 2],
      [1, 'create', 'f', 1],
    ]);
    expect(rows[1]!.mode).toBe(0o600);
    expect(rows.every((r) => r.source === 'sdk' && r.vault === 'default')).toBe(true);
    // strictly increasing global sequence
    expect(rows.map((r) => r.id)).toEqual([...rows.map((r) => r.id)].sort((a, b) => b - a));
  });

  it('limits, and lists the vault-wide and subtree changes newest first', () => {
    for (let i = 0; i < 10; i++) fs.writeFile('/a.txt', `v${i}`);
    fs.writeFile('/dir/x', 'x', { parents: true });
    expect(pathVersions(store, fs.row(), '/a.txt', 3).map((r) => r.version)).toEqual([10, 9, 8]);
    const recent = vaultChanges(store, fs.row(), 3);
    expect(recent.map((r) => r.path)).toEqual(['/dir/x', '/dir', '/a.txt']);
    expect(vaultChanges(store, fs.row(), 100, '/dir').map((r) => r.path)).toEqual(['/dir/x', '/dir']);
  });

  it("a fork's log includes its parent's history up to the fork point, not after", () => {
    fs.writeFile('/a.txt', 'one');
    fs.writeFile('/a.txt', 'two');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fs.writeFile('/a.txt', 'parent-after-fork');
    fork.writeFile('/a.txt', 'fork-three');
    const rows = log('/a.txt', fork);
    expect(rows.map((r) => [r.version, r.vault])).toEqual([
      [3, 'fork'],
      [2, 'default'],
      [1, 'default'],
    ]);
    expect(readVersion(store, getFileVersion(fork, '/a.txt', 1)).toString()).toBe('one');
    // the parent's own v3 is not the fork's v3
    expect(readVersion(store, getFileVersion(fork, '/a.txt', 3)).toString()).toBe('fork-three');
    expect(readVersion(store, getFileVersion(fs, '/a.txt', 3)).toString()).toBe('parent-after-fork');
    // a fork of a fork inherits through both
    forkVault(store, 'fork', 'grandchild', actor);
    const gc = new VaultFs(store, 'grandchild', actor);
    expect(log('/a.txt', gc).map((r) => [r.version, r.vault])).toEqual([
      [3, 'fork'],
      [2, 'default'],
      [1, 'default'],
    ]);
    expect(vaultChanges(store, gc.row(), 100).map((r) => r.vault)).toEqual(['fork', 'default', 'default']);
  });

  it('reads history through a symlinked directory, and of deleted paths', () => {
    fs.writeFile('/real/f.txt', 'x', { parents: true });
    fs.symlink('/real', '/link');
    expect(getVersion(fs, '/link/f.txt', 1).path).toBe('/real/f.txt');
    fs.rm('/real/f.txt');
    expect(getVersion(fs, '/real/f.txt', 2).type).toBeNull();
  });
});

describe('cat --version (getFileVersion)', () => {
  it('reads old versions byte for byte, including of a deleted file and a large chunked file', () => {
    const big1 = randomBytes(300_000);
    const big2 = Buffer.from(big1);
    big2[200_000] = big2[200_000]! ^ 0xff;
    fs.writeFile('/big', big1);
    fs.writeFile('/big', big2);
    fs.rm('/big');
    expect(readVersion(store, getFileVersion(fs, '/big', 1)).equals(big1)).toBe(true);
    expect(readVersion(store, getFileVersion(fs, '/big', 2)).equals(big2)).toBe(true);
  });

  it('fails with codes: unknown version, deleted state, directory, unknown path', () => {
    fs.writeFile('/a', 'x');
    fs.rm('/a');
    fs.mkdir('/d');
    expect(code(() => getFileVersion(fs, '/a', 9))).toBe('VERSION_NOT_FOUND');
    expect(code(() => getFileVersion(fs, '/a', 2))).toBe('NOT_FOUND');
    expect(code(() => getFileVersion(fs, '/d', 1))).toBe('IS_A_DIRECTORY');
    expect(code(() => getFileVersion(fs, '/never', 1))).toBe('VERSION_NOT_FOUND');
  });

  it('a pruned version is VERSION_NOT_FOUND with reason version_pruned (cat, checkout, diff); one never made has no reason', () => {
    for (const body of ['a1', 'a2', 'a3']) fs.writeFile('/a', body);
    prune(store, { scope: { vault: 'default' }, keep: 1, actor });
    for (const attempt of [() => getFileVersion(fs, '/a', 2), () => checkoutVersion(fs, '/a', 1), () => diffVersions(fs, '/a', { from: 1 })]) {
      const err = thrownError(attempt);
      expect([err?.code, err?.data.reason, err?.data.latest]).toEqual(['VERSION_NOT_FOUND', 'version_pruned', 3]);
    }
    const never = thrownError(() => getFileVersion(fs, '/a', 9));
    expect([never?.code, never?.data.reason]).toEqual(['VERSION_NOT_FOUND', undefined]);
  });

  it('revert and diff after a prune that kept an older version of the same state (a checkpoint\'s): VERSION_NOT_FOUND, never the older change undone', () => {
    fs.writeFile('/f', 'hello');
    saveCheckpoint(fs, 'c1');
    fs.writeFile('/f', 'edit');
    fs.writeFile('/f', 'hello'); // the latest change: edit → hello
    fs.writeFile('/g', 'A');
    saveCheckpoint(fs, 'c2');
    fs.writeFile('/g', 'B');
    saveCheckpoint(fs, 'c3');
    fs.writeFile('/g', 'C');
    fs.writeFile('/g', 'B'); // C → B; the B of v2 is kept by c3
    prune(store, { scope: { vault: 'default' }, keep: 1, actor });
    expect(log('/f').map((v) => v.version)).toEqual([3, 1]);
    expect(log('/g').map((v) => v.version)).toEqual([4, 2, 1]);
    for (const path of ['/f', '/g']) {
      const before = tree();
      for (const attempt of [() => revertPath(fs, path), () => diffVersions(fs, path, {})]) {
        const err = thrownError(attempt);
        expect([err?.code, err?.data.reason]).toEqual(['VERSION_NOT_FOUND', 'version_pruned']);
      }
      expect(tree()).toEqual(before);
    }
    expect([text('/f'), text('/g')]).toEqual(['hello', 'B']);
  });
});

describe('checkout', () => {
  it('write A, write B, checkout v(A) → A, as a new version', () => {
    fs.writeFile('/f', 'A');
    fs.writeFile('/f', 'B');
    const r = checkoutVersion(fs, '/f', 1);
    expect(r.changed).toBe(true);
    expect(text('/f')).toBe('A');
    expect(r.entry!.version).toBe(3);
    expect(log('/f')[0]).toMatchObject({ version: 3, op: 'checkout' });
    // checking out the state it already has records nothing
    const before = count('versions');
    expect(checkoutVersion(fs, '/f', 3).changed).toBe(false);
    expect(count('versions')).toBe(before);
  });

  it('brings back a deleted file, recreating its deleted directories', () => {
    fs.writeFile('/d/e/f.txt', 'keep me', { parents: true, mode: 0o600 });
    fs.rm('/d', { recursive: true });
    expect(fs.exists('/d')).toBe(false);
    checkoutVersion(fs, '/d/e/f.txt', 1);
    expect(text('/d/e/f.txt')).toBe('keep me');
    expect(fs.stat('/d/e/f.txt').mode).toBe(0o600);
    expect(fs.stat('/d/e').type).toBe('d');
  });

  it('checks out a deletion (removes the path), directory modes and symlinks', () => {
    fs.writeFile('/f', 'x');
    fs.rm('/f');
    fs.writeFile('/f', 'y');
    checkoutVersion(fs, '/f', 2);
    expect(fs.exists('/f')).toBe(false);
    fs.mkdir('/d', { mode: 0o700 });
    fs.chmod('/d', 0o755);
    fs.writeFile('/d/inside', 'z');
    checkoutVersion(fs, '/d', 1);
    expect(fs.stat('/d').mode).toBe(0o700);
    expect(text('/d/inside')).toBe('z'); // a directory version is the directory itself; contents stay
    fs.symlink('/d/inside', '/l');
    fs.rm('/l');
    fs.symlink('/elsewhere', '/l');
    checkoutVersion(fs, '/l', 1);
    expect(fs.readlink('/l')).toBe('/d/inside');
  });

  it('refuses to replace a non-empty directory unless recursive', () => {
    fs.writeFile('/p', 'file');
    fs.rm('/p');
    fs.writeFile('/p/child', 'c', { parents: true });
    expect(code(() => checkoutVersion(fs, '/p', 1))).toBe('NOT_EMPTY');
    expect(text('/p/child')).toBe('c');
    checkoutVersion(fs, '/p', 1, { recursive: true });
    expect(text('/p')).toBe('file');
    expect(fs.exists('/p/child')).toBe(false);
  });

  it('fails with codes and changes nothing: unknown version, unknown path, ancestor is a file', () => {
    fs.writeFile('/f', 'x');
    expect(code(() => checkoutVersion(fs, '/f', 5))).toBe('VERSION_NOT_FOUND');
    expect(code(() => checkoutVersion(fs, '/nope', 1))).toBe('VERSION_NOT_FOUND');
    fs.writeFile('/d/g', 'g', { parents: true });
    fs.rm('/d', { recursive: true });
    fs.writeFile('/d', 'now a file');
    const before = tree();
    expect(code(() => checkoutVersion(fs, '/d/g', 1))).toBe('NOT_A_DIRECTORY');
    expect(tree()).toEqual(before);
  });

  it('f/ of a file is NOT_A_DIRECTORY for revert, checkout and version lookups, and changes nothing', () => {
    fs.writeFile('/f', 'one');
    fs.writeFile('/f', 'two');
    fs.mkdir('/real');
    fs.writeFile('/real/x', 'x');
    fs.symlink('/real', '/dirlink');
    const before = tree();
    const versions = count('versions');
    expect(code(() => revertPath(fs, '/f/'))).toBe('NOT_A_DIRECTORY');
    expect(code(() => checkoutVersion(fs, '/f/.', 1))).toBe('NOT_A_DIRECTORY');
    expect(code(() => getVersion(fs, 'f/', 1))).toBe('NOT_A_DIRECTORY');
    expect(tree()).toEqual(before);
    expect(count('versions')).toBe(versions);
    // A directory may end with '/'; a link to one with '/' is that directory, as in every lookup.
    expect(getVersion(fs, '/real/', 1).path).toBe('/real');
    expect(getVersion(fs, '/dirlink/', 1).path).toBe('/real');
    expect(getVersion(fs, '/dirlink', 1).path).toBe('/dirlink');
    expect(revertPath(fs, '/dirlink/x').path).toBe('/real/x');
    expect(fs.lstat('/dirlink').type).toBe('l');
  });

  it('respects quotas and changes nothing when over', () => {
    fs.writeFile('/f', Buffer.alloc(5000));
    fs.writeFile('/f', 'small');
    store.db.prepare('UPDATE vaults SET max_bytes = 1000 WHERE name = ?').run('default');
    const before = count('versions');
    expect(code(() => checkoutVersion(fs, '/f', 1))).toBe('QUOTA_EXCEEDED');
    expect(text('/f')).toBe('small');
    expect(count('versions')).toBe(before);
  });
});

describe('revert', () => {
  it('restores the previous content of a modified file, and reverting the revert redoes it', () => {
    fs.writeFile('/f', 'one');
    fs.writeFile('/f', 'two');
    const r = revertPath(fs, '/f');
    expect(text('/f')).toBe('one');
    expect(r.reverted.version).toBe(2);
    expect(r.restored_version).toBe(1);
    expect(log('/f')[0]).toMatchObject({ version: 3, op: 'revert' });
    revertPath(fs, '/f');
    expect(text('/f')).toBe('two');
  });

  it('delete + revert → the file is back with its bytes and mode', () => {
    const bytes = randomBytes(100_000);
    fs.writeFile('/f.bin', bytes, { mode: 0o640 });
    fs.rm('/f.bin');
    revertPath(fs, '/f.bin');
    expect(fs.readFile('/f.bin').equals(bytes)).toBe(true);
    expect(fs.stat('/f.bin').mode).toBe(0o640);
  });

  it('removes a just-created file, and undoes a chmod', () => {
    fs.writeFile('/new', 'x');
    const r = revertPath(fs, '/new');
    expect(r.entry).toBeNull();
    expect(fs.exists('/new')).toBe(false);
    fs.writeFile('/m', 'x', { mode: 0o644 });
    fs.chmod('/m', 0o755);
    revertPath(fs, '/m');
    expect(fs.stat('/m').mode).toBe(0o644);
  });

  it('rm -r of a directory + revert → the whole tree is back, identical', () => {
    fs.writeFile('/src/a.ts', 'a', { parents: true });
    fs.writeFile('/src/lib/b.ts', 'b', { parents: true, mode: 0o600 });
    fs.symlink('lib/b.ts', '/src/link');
    fs.mkdir('/src/empty');
    fs.writeFile('/other', 'o');
    const before = tree();
    fs.rm('/src', { recursive: true });
    fs.rm('/other'); // a later, separate change stays
    const r = revertPath(fs, '/src');
    expect(r.changed_paths).toBe(6);
    expect(tree()).toEqual(before.filter((l) => !l.startsWith('/other ')));
    // and undoing that revert removes the tree again
    revertPath(fs, '/src');
    expect(fs.exists('/src')).toBe(false);
    revertPath(fs, '/src');
    expect(tree()).toEqual(before.filter((l) => !l.startsWith('/other ')));
  });

  it('reverting a directory creation removes it with its contents (recorded, so undoable)', () => {
    fs.writeFile('/d/e/f', 'f', { parents: true });
    const r = revertPath(fs, '/d');
    expect(r.changed_paths).toBe(3);
    expect(fs.exists('/d')).toBe(false);
    revertPath(fs, '/d');
    expect(text('/d/e/f')).toBe('f');
  });

  it('undoes a move on both sides (files and directories), and mv onto an existing file', () => {
    fs.writeFile('/a.txt', 'A');
    fs.mv('/a.txt', '/b.txt');
    const r = revertPath(fs, '/b.txt');
    expect(r.paired).toBe('/a.txt');
    expect(text('/a.txt')).toBe('A');
    expect(fs.exists('/b.txt')).toBe(false);

    fs.writeFile('/dir/x', 'x', { parents: true });
    fs.writeFile('/dir/sub/y', 'y', { parents: true });
    const before = tree();
    fs.mv('/dir', '/moved');
    revertPath(fs, '/dir'); // from the source side this time
    expect(tree()).toEqual(before);

    fs.writeFile('/keep', 'old target');
    fs.writeFile('/src', 'new');
    fs.mv('/src', '/keep');
    revertPath(fs, '/keep');
    expect(text('/keep')).toBe('old target');
    expect(text('/src')).toBe('new');
    // revert of that revert moves it again
    revertPath(fs, '/keep');
    expect(text('/keep')).toBe('new');
    expect(fs.exists('/src')).toBe(false);
  });

  it('a path moved with its directory is not reverted alone (that split the tree between both places): CONFLICT naming the directory move, on either side, and nothing changes', () => {
    fs.writeFile('/d/f', '0', { parents: true });
    fs.writeFile('/d/sub/g', '1', { parents: true });
    fs.mv('/d', '/e');
    const moved = tree();
    for (const [path, side] of [['/e/f', '/e'], ['/d/f', '/d'], ['/e/sub/g', '/e'], ['/e/sub', '/e']]) {
      const e = thrownError(() => revertPath(fs, path!));
      expect([path, e?.code, e?.data.reason, e?.data.from, e?.data.to]).toEqual([path, 'CONFLICT', 'moved_with_directory', '/d', '/e']);
      expect(e?.message).toContain(`revert ${side} `);
      expect(tree()).toEqual(moved);
    }
    // The directory itself moves back whole; then its files were last moved with it, the other way.
    revertPath(fs, '/e');
    expect(text('/d/f')).toBe('0');
    expect(fs.exists('/e')).toBe(false);
    expect(thrownError(() => revertPath(fs, '/d/sub/g'))?.data).toMatchObject({ from: '/e', to: '/d' });
    // Nested: the outermost directory that moved is named.
    fs.writeFile('/x/y/z', 'z', { parents: true });
    fs.mv('/x', '/w');
    expect(thrownError(() => revertPath(fs, '/w/y/z'))?.data).toMatchObject({ from: '/x', to: '/w' });
    // A file renamed on its own inside a directory is still reverted alone.
    fs.mv('/w/y/z', '/w/y/z2');
    revertPath(fs, '/w/y/z2');
    expect(text('/w/y/z')).toBe('z');
  });

  it('undoing a move whose arrival was pruned is VERSION_NOT_FOUND (version_pruned), not a claim that the tree moved away; one truly gone is still moved_away', () => {
    fs.writeFile('/a', 'orig');
    fs.mv('/a', '/b');
    fs.writeFile('/b', 'edited');
    prune(store, { scope: { vault: 'default' }, keep: 1, actor });
    const refused = thrownError(() => revertPath(fs, '/a'));
    expect([refused?.code, refused?.data.reason, refused?.data.path]).toEqual(['VERSION_NOT_FOUND', 'version_pruned', '/b']);
    expect(text('/b')).toBe('edited');

    fs.writeFile('/c', 'c');
    fs.mv('/c', '/d');
    fs.rm('/d');
    fs.writeFile('/d', 'another file');
    const movedAway = thrownError(() => revertPath(fs, '/c'));
    expect([movedAway?.code, movedAway?.data.reason]).toEqual(['CONFLICT', 'moved_away']);
  });

  it('fails with codes: a path with no history, the root without changes', () => {
    expect(code(() => revertPath(fs, '/never'))).toBe('NOT_FOUND');
    expect(code(() => revertPath(fs, '/'))).toBe('VERSION_NOT_FOUND');
  });

  it('works in a fork on inherited history without touching the parent', () => {
    fs.writeFile('/f', 'one');
    fs.writeFile('/f', 'two');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    revertPath(fork, '/f');
    expect(text('/f', fork)).toBe('one');
    expect(text('/f')).toBe('two');
    expect(log('/f', fork)[0]).toMatchObject({ version: 3, op: 'revert', vault: 'fork' });
  });
});

describe('history of a deleted middle vault', () => {
  it('is marked deleted, so a new vault with its name is not taken for the one that recorded it', () => {
    fs.writeFile('/f', 'root');
    forkVault(store, 'default', 'mid', actor);
    new VaultFs(store, 'mid', actor).writeFile('/f', 'mid');
    forkVault(store, 'mid', 'leaf', actor);
    const leaf = new VaultFs(store, 'leaf', actor);
    leaf.writeFile('/f', 'leaf');
    deleteVault(store, 'mid', true, actor);
    createVault(store, 'mid', actor);
    const shown = (records: VersionRecord[]) => records.map((v) => [v.version, v.vault, v.vault_deleted]);
    const expected = [
      [3, 'leaf', false],
      [2, 'mid', true],
      [1, 'default', false],
    ];
    expect(shown(log('/f', leaf))).toEqual(expected);
    expect(shown(vaultChanges(store, leaf.row(), 10))).toEqual(expected);
    expect(shown([findVersion(store, leaf.row(), '/f', 2)!])).toEqual([expected[1]]);
  });
});
