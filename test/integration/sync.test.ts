import { linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processStartTime } from '../../src/store/host-process.js';
import { prune } from '../../src/store/prune.js';
import type { Store } from '../../src/store/store.js';
import { importTracked, syncTracked, type SyncReport } from '../../src/store/sync.js';
import type { VaultFs } from '../../src/store/vault-fs.js';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { errorCode, mergeConflict, openTempStore, tempDir, thrownError } from '../helpers.js';

let store: Store;
let fs: VaultFs;
let close: () => void;
let host: string;
let outside: string;
let cleanupHost: () => void;
beforeEach(() => {
  ({ store, fs, close } = openTempStore());
  const t = tempDir('avfs-sync-');
  cleanupHost = t.cleanup;
  host = join(t.dir, 'project');
  outside = join(t.dir, 'outside');
  mkdirSync(join(host, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(host, 'src', 'main.txt'), 'a\nb\nc\nd\ne\n');
  writeFileSync(join(host, 'README'), 'readme\n');
  writeFileSync(join(host, 'data.bin'), Buffer.from([0, 1, 2]));
  writeFileSync(join(outside, 'secret'), 'untouched');
});
afterEach(() => {
  close();
  cleanupHost();
});

/** Every host path below `dir` with what it holds (content, symlink target, or 'dir') and its mode. */
function hostTree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = lstatSync(p);
    const key = `${prefix}/${name}`;
    if (st.isSymbolicLink()) out[key] = `-> ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[key] = `dir ${(st.mode & 0o777).toString(8)}`;
      Object.assign(out, hostTree(p, key));
    } else out[key] = `${(st.mode & 0o777).toString(8)} ${readFileSync(p).toString('base64')}`;
  }
  return out;
}

/** The same view of a vault directory. */
function vaultTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.walk(dir)) {
    const key = e.path.slice(dir.length);
    if (e.type === 'l') out[key] = `-> ${e.target}`;
    else if (e.type === 'd') out[key] = `dir ${(e.mode & 0o777).toString(8)}`;
    else out[key] = `${(e.mode & 0o777).toString(8)} ${fs.readFile(e.path).toString('base64')}`;
  }
  return out;
}

const conflictOf = (fn: () => unknown) => mergeConflict<SyncReport>(fn);

describe('sync: the vault’s work back to a tracked host directory', () => {
  it('without host changes: the host ends holding exactly what the vault holds', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/src/main.txt', 'a\nB\nc\nd\ne\n');
    fs.writeFile('/p/src/new/deep.txt', 'deep', { parents: true });
    fs.rm('/p/README');
    fs.chmod('/p/data.bin', 0o600);
    fs.symlink('src/main.txt', '/p/link');
    const r = syncTracked(fs, '/p');
    expect(r.status).toBe('synced');
    expect(r.conflicts).toEqual([]);
    expect(hostTree(host)).toEqual(vaultTree('/p'));
    expect(r.changes.map((c) => [c.path, c.action])).toEqual([
      ['/p/README', 'deleted'],
      ['/p/data.bin', 'modified'],
      ['/p/link', 'added'],
      ['/p/src/main.txt', 'modified'],
      ['/p/src/new', 'added'],
      ['/p/src/new/deep.txt', 'added'],
    ]);
    expect(r.changes[0]!.host_path).toBe(join(host, 'README'));
    // nothing new: a no-op, and more vault work is synced alone
    expect(syncTracked(fs, '/p').status).toBe('up_to_date');
    fs.writeFile('/p/later.txt', 'later');
    expect(syncTracked(fs, '/p').changes.map((c) => c.path)).toEqual(['/p/later.txt']);
    expect(hostTree(host)).toEqual(vaultTree('/p'));
  });

  it('names of one vault inode stay one host inode: written once, linked under the others, as export writes them (sync wrote each name as a file of its own)', () => {
    linkSync(join(host, 'README'), join(host, 'README.link'));
    importTracked(fs, host, '/p');
    expect(fs.stat('/p/README.link').nlink).toBe(2);
    fs.writeFile('/p/README', 'edited through one name\n'); // both names change
    fs.link('/p/README', '/p/src/third');
    fs.writeFile('/p/src/main.txt', 'a\nb\nc\nd\nE\n'); // one name: written as before
    const r = syncTracked(fs, '/p');
    expect(r.changes.map((c) => [c.path, c.action])).toEqual([['/p/README', 'modified'], ['/p/README.link', 'modified'], ['/p/src/main.txt', 'modified'], ['/p/src/third', 'added']]);
    expect(hostTree(host)).toEqual(vaultTree('/p'));
    const ino = (name: string) => lstatSync(join(host, name)).ino;
    expect([ino('README.link'), ino('src/third'), lstatSync(join(host, 'README')).nlink]).toEqual([ino('README'), ino('README'), 3]);
    writeFileSync(join(host, 'README'), 'a host edit shows in every name\n');
    expect(readFileSync(join(host, 'src', 'third'), 'utf8')).toBe('a host edit shows in every name\n');
  });

  it('names of one inode whose host and vault edits are line-merged stay one host inode (each name was written as a file of its own)', () => {
    writeFileSync(join(host, 'lines'), '1\n2\n3\n');
    linkSync(join(host, 'lines'), join(host, 'lines.link'));
    importTracked(fs, host, '/p');
    writeFileSync(join(host, 'lines'), 'ONE\n2\n3\n'); // through the link: both host names
    fs.writeFile('/p/lines', '1\n2\nTHREE\n'); // both vault names
    const r = syncTracked(fs, '/p');
    expect(r.changes.filter((c) => c.path.startsWith('/p/lines')).map((c) => c.path)).toEqual(['/p/lines', '/p/lines.link']);
    expect(readFileSync(join(host, 'lines.link'), 'utf8')).toBe('ONE\n2\nTHREE\n');
    expect([lstatSync(join(host, 'lines.link')).ino, lstatSync(join(host, 'lines')).nlink]).toEqual([lstatSync(join(host, 'lines')).ino, 2]);
  });

  it('where the host refuses the link (a name on another filesystem), that name gets a copy, as export writes it, and the sync finishes', (ctx) => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI) throw new Error('this test mounts a tmpfs: run CI as root');
      console.log('skipped: mounting a tmpfs needs root');
      return ctx.skip();
    }
    const other = join(host, 'other');
    mkdirSync(other);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', other]).status).toBe(0);
    try {
      importTracked(fs, host, '/p');
      fs.writeFile('/p/README', 'edited\n');
      fs.link('/p/README', '/p/other/b'); // on the tmpfs: link(2) fails with EXDEV
      const r = syncTracked(fs, '/p');
      expect(r.status).toBe('synced');
      expect([readFileSync(join(host, 'README'), 'utf8'), readFileSync(join(other, 'b'), 'utf8')]).toEqual(['edited\n', 'edited\n']);
    } finally {
      spawnSync('umount', [other]);
    }
  });

  it('a file a stopped export or sync left under its temporary name is not host work: not synced into the vault, cleared on the next write there', () => {
    importTracked(fs, host, '/p');
    const stale = `.avfs-export-${process.pid}.${processStartTime(process.pid)! + 1}-0123456789ab-0`;
    writeFileSync(join(host, 'src', stale), 'half of a file');
    fs.rm('/p/src', { recursive: true });
    fs.writeFile('/p/README', 'new readme\n');
    writeFileSync(join(host, stale), 'half of another');
    const r = syncTracked(fs, '/p');
    expect(r.status).toBe('synced');
    expect(r.conflicts).toEqual([]);
    expect(hostTree(host)).toEqual(vaultTree('/p'));
    expect(fs.exists(`/p/${stale}`)).toBe(false);
  });

  it('host edits to other files are kept, and edits to other lines of the same file are merged', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/src/main.txt', 'A\nb\nc\nd\ne\n');
    writeFileSync(join(host, 'src', 'main.txt'), 'a\nb\nc\nd\nE\n');
    writeFileSync(join(host, 'README'), 'host readme\n');
    writeFileSync(join(host, 'host-only'), 'mine');
    const r = syncTracked(fs, '/p');
    expect(r.conflicts).toEqual([]);
    expect(readFileSync(join(host, 'src', 'main.txt'), 'utf8')).toBe('A\nb\nc\nd\nE\n');
    expect(readFileSync(join(host, 'README'), 'utf8')).toBe('host readme\n');
    expect(readFileSync(join(host, 'host-only'), 'utf8')).toBe('mine');
    expect(r.changes.map((c) => [c.path, c.class])).toEqual([['/p/src/main.txt', 'merged']]);
  });

  it('a host edit of a file the vault moved follows the move: the host file is written at the new path with the host edit', () => {
    importTracked(fs, host, '/p');
    fs.mv('/p/src/main.txt', '/p/src/moved.txt');
    writeFileSync(join(host, 'src', 'main.txt'), 'a\nb\nHOST\nd\ne\n');
    const r = syncTracked(fs, '/p');
    expect(r.conflicts).toEqual([]);
    // The edit existed only on the host; its old place went first, and it was read from there (INTERNAL, the edit lost).
    expect(readdirSync(join(host, 'src'))).toEqual(['moved.txt']);
    expect(readFileSync(join(host, 'src', 'moved.txt'), 'utf8')).toBe('a\nb\nHOST\nd\ne\n');
    expect(r.changes.map((c) => [c.path, c.class, c.renamed_from, c.renamed_to])).toEqual([
      ['/p/src/main.txt', 'renamed', null, '/p/src/moved.txt'],
      ['/p/src/moved.txt', 'renamed', '/p/src/main.txt', null],
    ]);
    expect(syncTracked(fs, '/p').status).toBe('up_to_date');
  });

  it('a concurrent host edit of a file the vault changed is a conflict: nothing is written (fail), or one side wins', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/src/main.txt', 'a\nVAULT\nc\nd\ne\n');
    fs.writeFile('/p/added', 'vault added');
    writeFileSync(join(host, 'src', 'main.txt'), 'a\nHOST\nc\nd\ne\n');
    const before = hostTree(host);
    const report = conflictOf(() => syncTracked(fs, '/p'));
    expect(report.conflicts).toMatchObject([{ path: '/p/src/main.txt', kind: 'content', resolution: null, hunks: [{ ours: ['HOST'], theirs: ['VAULT'], base: ['b'] }] }]);
    expect(hostTree(host)).toEqual(before);
    // the base did not move: the same conflict again
    expect(conflictOf(() => syncTracked(fs, '/p')).conflicts).toHaveLength(1);

    const ours = syncTracked(fs, '/p', { strategy: 'ours' });
    expect(ours.conflicts[0]!.resolution).toBe('ours');
    expect(readFileSync(join(host, 'src', 'main.txt'), 'utf8')).toBe('a\nHOST\nc\nd\ne\n');
    expect(readFileSync(join(host, 'added'), 'utf8')).toBe('vault added');
    // resolved: the next sync does not raise it again, until the vault changes that file again
    expect(syncTracked(fs, '/p').status).toBe('up_to_date');
    fs.writeFile('/p/src/main.txt', 'a\nVAULT 2\nc\nd\ne\n');
    syncTracked(fs, '/p', { strategy: 'theirs' });
    expect(readFileSync(join(host, 'src', 'main.txt'), 'utf8')).toBe('a\nVAULT 2\nc\nd\ne\n');
  });

  it('a host deletion of a file the vault changed, and a binary file changed on both sides, are conflicts', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/README', 'vault readme\n');
    fs.writeFile('/p/data.bin', Buffer.from([0, 9]));
    rmSync(join(host, 'README'));
    writeFileSync(join(host, 'data.bin'), Buffer.from([0, 8]));
    const r = syncTracked(fs, '/p', { dryRun: true });
    expect(r.status).toBe('conflicts');
    expect(r.conflicts.map((c) => [c.path, c.kind, c.deleted_by ?? c.binary])).toEqual([
      ['/p/README', 'delete_edit', 'ours'],
      ['/p/data.bin', 'content', true],
    ]);
  });

  it('a dry run writes nothing and reports what the sync then does', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/src/main.txt', 'changed\n');
    fs.rm('/p/data.bin');
    const before = hostTree(host);
    const dry = syncTracked(fs, '/p', { dryRun: true });
    expect(hostTree(host)).toEqual(before);
    const real = syncTracked(fs, '/p');
    expect(real.changes).toEqual(dry.changes);
    expect(real.synced_seq).toBeGreaterThan(dry.synced_seq);
  });

  it('never follows a host symlink out of the directory', () => {
    importTracked(fs, host, '/p');
    // the host turned src into a symlink to a directory outside; the vault adds a file in src
    rmSync(join(host, 'src'), { recursive: true });
    symlinkSync(outside, join(host, 'src'));
    fs.writeFile('/p/src/evil.txt', 'would land outside');
    const report = conflictOf(() => syncTracked(fs, '/p'));
    expect(report.conflicts.map((c) => [c.path, c.kind])).toEqual([['/p/src', 'type']]);
    expect(readdirSync(outside)).toEqual(['secret']);
    // keeping the host's symlink writes nothing through it
    syncTracked(fs, '/p', { strategy: 'ours' });
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(lstatSync(join(host, 'src')).isSymbolicLink()).toBe(true);
    // the vault's side replaces the symlink itself with a real directory
    fs.writeFile('/p/src/evil.txt', 'again');
    syncTracked(fs, '/p', { strategy: 'theirs' });
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('untouched');
    expect(lstatSync(join(host, 'src')).isDirectory()).toBe(true);
    expect(readFileSync(join(host, 'src', 'evil.txt'), 'utf8')).toBe('again');
  });

  it('a file the host replaced with a symlink to an outside file is not written through', () => {
    importTracked(fs, host, '/p');
    rmSync(join(host, 'README'));
    symlinkSync(join(outside, 'secret'), join(host, 'README'));
    fs.writeFile('/p/README', 'vault readme\n');
    syncTracked(fs, '/p', { strategy: 'theirs' });
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('untouched');
    expect(lstatSync(join(host, 'README')).isFile()).toBe(true);
    expect(readFileSync(join(host, 'README'), 'utf8')).toBe('vault readme\n');
  });

  it('a tracked directory replaced by a symlink (moved away, a link left behind) is refused whatever the strategy, and nothing is written where it points (adversarial round)', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/new', 'from the vault');
    writeFileSync(join(outside, 'new'), 'precious');
    rmSync(host, { recursive: true });
    symlinkSync(outside, host);
    for (const strategy of ['fail', 'theirs'] as const) {
      const e = thrownError(() => syncTracked(fs, '/p', { strategy }));
      expect([e?.code, e?.data.reason], strategy).toEqual(['CONFLICT', 'tracked_root_replaced']);
    }
    expect(readdirSync(outside).sort()).toEqual(['new', 'secret']);
    expect(readFileSync(join(outside, 'new'), 'utf8')).toBe('precious');
  });

  it('--track of a symlink to a directory tracks the directory it names, and syncs there (it imported the link, and no sync ever worked)', () => {
    const link = join(outside, 'link-to-project');
    symlinkSync(host, link);
    importTracked(fs, `${link}/`, '/p');
    expect(fs.lstat('/p').type).toBe('d');
    expect(fs.readFile('/p/README').toString()).toBe('readme\n');
    fs.writeFile('/p/added.txt', 'added\n');
    expect(syncTracked(fs, '/p')).toMatchObject({ host, status: 'synced' });
    expect(readFileSync(join(host, 'added.txt'), 'utf8')).toBe('added\n');
  });

  it('a host directory sync would remove that holds a name which is not UTF-8 is refused before anything is written, dry run too (it deleted half and failed ENOTEMPTY on every sync after)', () => {
    importTracked(fs, host, '/p');
    const bad = Buffer.concat([Buffer.from(join(host, 'src') + '/bad'), Buffer.from([0xff]), Buffer.from('name')]);
    writeFileSync(bad, 'host only');
    fs.mv('/p/src', '/p/lib');
    for (const dryRun of [true, false]) {
      const e = thrownError(() => syncTracked(fs, '/p', { dryRun }));
      expect([e?.code, e?.data.reason, e?.data.names], `dry run ${dryRun}`).toEqual(['CONFLICT', 'names_not_utf8', ['bad\\xffname']]);
    }
    expect(readFileSync(join(host, 'src', 'main.txt'), 'utf8')).toBe('a\nb\nc\nd\ne\n');
    expect(readdirSync(host).sort()).toEqual(['README', 'data.bin', 'src']);
  });

  it('the base survives prune', () => {
    importTracked(fs, host, '/p');
    fs.writeFile('/p/src/main.txt', 'a\nb\nc\nd\nE1\n');
    fs.writeFile('/p/src/main.txt', 'a\nb\nc\nd\nE2\n');
    writeFileSync(join(host, 'src', 'main.txt'), 'A\nb\nc\nd\ne\n');
    prune(store, { scope: { vault: 'default' }, keep: 1, actor: { source: 'sdk' } });
    syncTracked(fs, '/p');
    expect(readFileSync(join(host, 'src', 'main.txt'), 'utf8')).toBe('A\nb\nc\nd\nE2\n');
  });

  it('refuses to delete the host directory when the vault no longer has the tracked directory (CONFLICT), changing nothing', () => {
    const cp = saveCheckpoint(fs, 'before-import');
    importTracked(fs, host, '/p');
    const before = hostTree(host);
    restoreCheckpoint(fs, cp.name, { saveBefore: false });
    expect(fs.exists('/p')).toBe(false);
    for (const dryRun of [true, false]) {
      const e = thrownError(() => syncTracked(fs, '/p', { dryRun }));
      expect([e?.code, e?.data.reason, e?.data.host]).toEqual(['CONFLICT', 'tracked_root_gone', host]);
    }
    expect(hostTree(host)).toEqual(before);
    // A file (or a link) where the directory was, or the directory back but empty: the same.
    fs.writeFile('/p', 'i am a file');
    expect(thrownError(() => syncTracked(fs, '/p'))?.data.reason).toBe('tracked_root_gone');
    fs.rm('/p');
    fs.mkdir('/p');
    expect(thrownError(() => syncTracked(fs, '/p'))?.data.reason).toBe('tracked_root_gone');
    expect(hostTree(host)).toEqual(before);
    // Brought back, it syncs as before.
    fs.writeFile('/p/README', 'readme\n', { parents: true });
    expect(syncTracked(fs, '/p').status).not.toBe('conflicts');
  });

  it('a tracked directory removed in the vault while the host edited a file in it: tracked_root_gone, whatever the strategy (it was MERGE_CONFLICT, whose advice to pick a --strategy then led here) (docs round)', () => {
    importTracked(fs, host, '/p');
    writeFileSync(join(host, 'src', 'main.txt'), 'edited on the host\n');
    fs.rm('/p', { recursive: true });
    const before = hostTree(host);
    for (const strategy of ['fail', 'theirs', 'ours'] as const) {
      for (const dryRun of [true, false]) {
        const e = thrownError(() => syncTracked(fs, '/p', { strategy, dryRun }));
        expect([e?.code, e?.data.reason], `${strategy} ${dryRun}`).toEqual(['CONFLICT', 'tracked_root_gone']);
      }
    }
    expect(hostTree(host)).toEqual(before);
  });

  it('tracking the vault root: a restore to before the import does not empty the host either', () => {
    const cp = saveCheckpoint(fs, 'empty');
    importTracked(fs, host, '/');
    const before = hostTree(host);
    restoreCheckpoint(fs, cp.name, { saveBefore: false });
    expect(thrownError(() => syncTracked(fs, '/'))?.data.reason).toBe('tracked_root_gone');
    expect(hostTree(host)).toEqual(before);
  });

  it('refuses an untracked path (NOT_TRACKED), and --track into a non-empty vault directory (ALREADY_EXISTS)', () => {
    fs.writeFile('/busy/file', 'x', { parents: true });
    expect(errorCode(() => syncTracked(fs, '/busy'))).toBe('NOT_TRACKED');
    expect(errorCode(() => importTracked(fs, host, '/busy'))).toBe('ALREADY_EXISTS');
    expect(errorCode(() => importTracked(fs, join(host, 'README'), '/x'))).toBe('NOT_A_DIRECTORY');
  });
});


describe('sync while someone works in the host directory', () => {
  /** Syncs /p, running `meanwhile` once, at the first write step (after the plan was made). */
  const syncWith = (meanwhile: () => void) => {
    let ran = false;
    return () =>
      syncTracked(fs, '/p', {
        progress: (_done, _total, phase) => {
          if (phase !== 'writing' || ran) return;
          ran = true;
          meanwhile();
        },
      });
  };

  it('a host file edited, made or removed after the plan is never written over or deleted: CONFLICT, and the next sync merges it', () => {
    for (let i = 0; i < 5; i++) writeFileSync(join(host, `f${i}`), 'base\n');
    importTracked(fs, host, '/p');
    for (let i = 0; i < 5; i++) fs.writeFile(`/p/f${i}`, 'vault\n');
    // An edit of a file the sync is about to write (the last, so that earlier ones were written).
    const edited = syncWith(() => writeFileSync(join(host, 'f4'), 'user edit\n'));
    const err = thrownError(edited)!;
    expect(err.code).toBe('CONFLICT');
    expect(err.data).toMatchObject({ reason: 'host_changed', path: '/p/f4' });
    expect(readFileSync(join(host, 'f4'), 'utf8')).toBe('user edit\n');
    // The next sync sees the edit: a conflict with the vault's change, nothing written over.
    expect(mergeConflict<SyncReport>(() => syncTracked(fs, '/p')).conflicts.map((c) => c.path)).toEqual(['/p/f4']);
    expect(readFileSync(join(host, 'f4'), 'utf8')).toBe('user edit\n');

    // A file made where the vault adds one.
    fs.writeFile('/p/new.txt', 'vault new\n');
    fs.writeFile('/p/f4', 'user edit\n'); // the vault agrees with the host there now
    expect(thrownError(syncWith(() => writeFileSync(join(host, 'new.txt'), 'user new\n')))?.code).toBe('CONFLICT');
    expect(readFileSync(join(host, 'new.txt'), 'utf8')).toBe('user new\n');

    // A removal the vault made, of a file the user edits meanwhile.
    fs.writeFile('/p/new.txt', 'user new\n');
    syncTracked(fs, '/p');
    fs.rm('/p/f0');
    expect(thrownError(syncWith(() => writeFileSync(join(host, 'f0'), 'still mine\n')))?.code).toBe('CONFLICT');
    expect(readFileSync(join(host, 'f0'), 'utf8')).toBe('still mine\n');
  });

  it('a directory the sync removes that gains a file meanwhile is kept, with a CONFLICT (was INTERNAL, ENOTEMPTY)', () => {
    mkdirSync(join(host, 'sub'));
    writeFileSync(join(host, 'sub', 'a'), 'a\n');
    importTracked(fs, host, '/p');
    fs.rm('/p/sub', { recursive: true });
    expect(thrownError(syncWith(() => writeFileSync(join(host, 'sub', 'late.txt'), 'late\n')))?.code).toBe('CONFLICT');
    expect(readFileSync(join(host, 'sub', 'late.txt'), 'utf8')).toBe('late\n');
  });
});
