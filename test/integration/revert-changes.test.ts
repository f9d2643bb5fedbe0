import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { copyFileSync, mkdirSync } from 'node:fs';
import { openStore, type Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { pathVersions, revertPath } from '../../src/store/history.js';
import { databaseFile } from '../../src/store/home.js';
import { ROOT, errorCode, openTempStore } from '../helpers.js';

/** revert works on recorded changes (versions.change_id, schema migration 6), moves included. */

const actor = { source: 'sdk' as const };
let home: { dir: string; cleanup: () => void };
let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ home, store, fs, close } = openTempStore()));
afterEach(() => close());

const text = (p: string, v = fs) => v.readFile(p).toString();
// Times-only rows ('touch': a directory's mtime) belong to the change that caused them but are not changes of paths.
const changes = (s = store) => s.db.prepare("SELECT path, type, change_id AS change, id FROM versions WHERE op <> 'touch' ORDER BY id").all() as Array<{ path: string; type: string | null; change: number | null; id: number }>;

describe('change ids', () => {
  it('the versions one transaction records share the id of its first version; separate commands get their own', () => {
    fs.writeFile('/d/a', 'a', { parents: true });
    fs.writeFile('/d/b', 'b');
    const before = changes().length;
    fs.rm('/d', { recursive: true });
    const rm = changes().slice(before);
    expect(rm.map((r) => r.path)).toEqual(['/d/b', '/d/a', '/d']);
    expect(rm.every((r) => r.change === rm[0]!.id)).toBe(true);
    const all = changes();
    expect(all[0]!.change).toBe(all[0]!.id); // mkdir -p and the create: one write
    expect(all[1]!.change).toBe(all[0]!.id);
    // The second write: a change of its own, stored without an id (NULL, as versions older than
    // change ids), which keeps it out of the versions_change index.
    expect(all[2]!.change).toBeNull();
    // Reverting it undoes that write alone.
    fs.writeFile('/e/a', 'a1', { parents: true });
    fs.writeFile('/e/b', 'b1');
    fs.writeFile('/e/b', 'b2');
    expect(changes().slice(-1)[0]!.change).toBeNull();
    revertPath(fs, '/e/b');
    expect([text('/e/a'), text('/e/b')]).toEqual(['a1', 'b1']);
  });

  it('a home from before change ids migrates; its old versions are each their own change, new ones are grouped', () => {
    // A home written by avfs at schema 5 (test/fixtures/home-schema5.sh): vault "feature" removed /data with rm -r.
    const dir = join(home.dir, 'old');
    mkdirSync(dir);
    copyFileSync(join(ROOT, 'test', 'fixtures', 'home-schema5.db'), databaseFile(dir));
    const reopened = openStore(dir);
    try {
      const rfs = new VaultFs(reopened, 'feature', actor);
      expect(changes(reopened).filter((r) => r.id <= 30).every((r) => r.change === null)).toBe(true);
      expect(revertPath(rfs, '/data').changed_paths).toBe(1); // the old rm -r is not known to be one change: /data alone
      expect(rfs.exists('/data/big.bin')).toBe(false);
      revertPath(rfs, '/data/big.bin'); // each removal is still recorded
      expect(rfs.stat('/data/big.bin').size).toBe(70_000);
      rfs.rm('/data', { recursive: true });
      expect(revertPath(rfs, '/data').changed_paths).toBe(2); // recorded after the migration: one change
    } finally {
      reopened.release();
    }
  });
});

describe('undoing a move', () => {
  it('mv onto an existing file, then an edit at the new place: the edited file goes back, the replaced one returns', () => {
    fs.writeFile('/keep', 'old target');
    fs.writeFile('/src', 'new');
    fs.mv('/src', '/keep');
    fs.writeFile('/keep', 'new, edited');
    const r = revertPath(fs, '/src');
    expect(r.paired).toBe('/keep');
    expect([text('/src'), text('/keep')]).toEqual(['new, edited', 'old target']);
    revertPath(fs, '/src'); // and again: moved onto /keep once more
    expect(text('/keep')).toBe('new, edited');
    expect(fs.exists('/src')).toBe(false);
  });

  it('mv onto a name of a file with other names: the replaced name comes back as a name of that file again (one inode), in a fork too', () => {
    fs.writeFile('/x/f', 'a\n', { parents: true });
    fs.link('/x/f', '/x/h');
    fs.writeFile('/x/g', 'b\n');
    forkVault(store, 'default', 'fk', actor);
    for (const v of [fs, new VaultFs(store, 'fk', actor)]) {
      v.mv('/x/g', '/x/f');
      expect(v.stat('/x/h').nlink).toBe(1);
      revertPath(v, '/x/f');
      const [f, h] = [v.stat('/x/f'), v.stat('/x/h')];
      expect([f.ino === h.ino, f.nlink, h.nlink, text('/x/f', v), text('/x/g', v)]).toEqual([true, 2, 2, 'a\n', 'b\n']);
      v.writeFile('/x/h', 'a\nmore\n'); // through the other name
      expect(text('/x/f', v)).toBe('a\nmore\n');
    }
  });

  it('a file of a moved directory does not go back alone (that split the tree): CONFLICT naming the move; the directory goes back whole', () => {
    fs.writeFile('/d/x', 'x', { parents: true });
    fs.writeFile('/d/y', 'y');
    fs.mv('/d', '/e');
    expect(errorCode(() => revertPath(fs, '/e/x'))).toBe('CONFLICT');
    expect([text('/e/x'), text('/e/y'), fs.exists('/d')]).toEqual(['x', 'y', false]);
    revertPath(fs, '/e');
    expect([text('/d/x'), text('/d/y'), fs.exists('/e')]).toEqual(['x', 'y', false]);
  });

  it('keeps inode numbers, and works in a fork on a move it inherited without touching the parent', () => {
    fs.writeFile('/d/x', 'x', { parents: true });
    const ino = fs.stat('/d/x').ino;
    fs.mv('/d', '/e');
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fork.writeFile('/e/x', 'edited in the fork');
    revertPath(fork, '/e');
    expect(text('/d/x', fork)).toBe('edited in the fork');
    expect(fork.stat('/d/x').ino).toBe(ino);
    expect(text('/e/x')).toBe('x');
    expect(pathVersions(store, fork.row(), '/d', 1)[0]).toMatchObject({ op: 'revert', vault: 'fork' });
  });
});

describe('undoing the creation of a directory', () => {
  it('refuses with CONFLICT, changing nothing, when later changes put something below it; removes what its own change made', () => {
    fs.mkdir('/x');
    fs.writeFile('/x/f', 'precious');
    const before = changes().length;
    expect(errorCode(() => revertPath(fs, '/x'))).toBe('CONFLICT');
    expect(text('/x/f')).toBe('precious');
    expect(changes().length).toBe(before);
    // One change made all three (write -p): undoing it removes them together.
    fs.writeFile('/y/sub/g', 'g', { parents: true });
    expect(revertPath(fs, '/y').changed_paths).toBe(3);
    expect(fs.exists('/y')).toBe(false);
    // Once the later file is gone (rm, or its own revert), the mkdir can be undone.
    revertPath(fs, '/x/f');
    expect(fs.exists('/x/f')).toBe(false);
    revertPath(fs, '/x');
    expect(fs.exists('/x')).toBe(false);
  });

  it('counts what is below it now and changed since: not times alone, not what came and went, not a fork’s or its parent’s other side', () => {
    fs.writeFile('/z/sub/a', 'a', { parents: true }); // one change: /z, /z/sub, /z/sub/a
    fs.utimes('/z/sub/a', 1_000, 2_000); // times only: still that change's
    fs.writeFile('/z/tmp', 'came');
    fs.rm('/z/tmp'); // and went
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fork.writeFile('/z/sub/b', 'in the fork');
    fork.writeFile('/z/c', 'in the fork');
    fs.writeFile('/z/sub/a', 'in the parent, after the fork');
    const refused = (() => {
      try {
        revertPath(fork, '/z');
      } catch (err) {
        return err as { code: string; data: Record<string, unknown> };
      }
    })();
    expect([refused?.code, refused?.data.later, refused?.data.first]).toEqual(['CONFLICT', 2, '/z/c']);
    expect(text('/z/sub/a', fork)).toBe('a');
    // The parent's own later write is the one in its way; once removed, the creation can be undone.
    expect(errorCode(() => revertPath(fs, '/z'))).toBe('CONFLICT');
    fs.rm('/z/sub/a');
    expect(revertPath(fs, '/z').changed_paths).toBe(2);
    expect(fs.exists('/z')).toBe(false);
    expect(text('/z/sub/b', fork)).toBe('in the fork');
  });
});

describe('changes of times alone (scale round of stop 57)', () => {
  it('revert passes over a checkpoint restore that only put an older mtime back: it undoes the change before it', async () => {
    const { saveCheckpoint, restoreCheckpoint } = await import('../../src/store/checkpoints.js');
    fs.writeFile('/a', 'c4');
    const cp = saveCheckpoint(fs, 'k');
    fs.rm('/a');
    revertPath(fs, '/a'); // back, same content, a new mtime
    const restored = restoreCheckpoint(fs, cp.name, { saveBefore: false });
    expect(restored.modified).toBe(1); // the mtime differs: restore puts it back exactly
    expect(pathVersions(store, fs.row(), '/a', 10).map((v) => v.op)).toEqual(['restore', 'revert', 'delete', 'create']);
    // It undid the restore, changing nothing and recording nothing, again and again.
    const r = revertPath(fs, '/a');
    expect(r.reverted.op).toBe('revert');
    expect(r.changed_paths).toBe(1);
    expect(fs.exists('/a')).toBe(false);
    // Reverting the revert brings it back, as before.
    expect(revertPath(fs, '/a').changed_paths).toBe(1);
    expect(text('/a')).toBe('c4');
  });
});
