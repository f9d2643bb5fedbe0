import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault, deleteVault, forkVault, getVault } from '../../src/store/vaults.js';
import { prune, type PruneOptions } from '../../src/store/prune.js';
import { errorCode, openTempStore } from '../helpers.js';

const actor = { source: 'sdk' as const };
let store: Store;
let fs: VaultFs;

const code = errorCode;
const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
/** The version numbers of a path still recorded in a vault, oldest first. */
const versionsOf = (path: string, vault = 'default') =>
  (
    store.db.prepare('SELECT version FROM versions WHERE vault_id = ? AND path = ? ORDER BY id').all(getVault(store, vault).id, path) as Array<{
      version: number;
    }>
  ).map((r) => r.version);
const run = (options: Omit<PruneOptions, 'actor' | 'scope'> & { scope?: PruneOptions['scope'] }) =>
  prune(store, { scope: { vault: 'default' }, actor, ...options });
/** Dates every version of `path` `ms` in the past. */
const backdate = (path: string, ms: number) => store.db.prepare('UPDATE versions SET at = at - ? WHERE path = ?').run(ms, path);

let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

describe('prune --keep', () => {
  it('keeps the newest N versions of each path', () => {
    for (let i = 1; i <= 5; i++) fs.writeFile('/p', `p${i}`);
    for (let i = 1; i <= 3; i++) fs.writeFile('/q', `q${i}`);
    fs.writeFile('/r', 'r1');
    const report = run({ keep: 2 });
    expect(report).toMatchObject({ dry_run: false, pruned_versions: 4, keep: 2, older_than_ms: null });
    expect(report.vaults).toEqual([{ vault: 'default', pruned_versions: 4, remaining_versions: 5, pruned_checkpoints: [] }]);
    expect(versionsOf('/p')).toEqual([4, 5]);
    expect(versionsOf('/q')).toEqual([2, 3]);
    expect(versionsOf('/r')).toEqual([1]);
    expect(fs.readFile('/p').toString()).toBe('p5');
  });

  it('never drops the current state: --keep 1 leaves the current version, or the deletion that ended a path', () => {
    for (let i = 1; i <= 3; i++) fs.writeFile('/p', `p${i}`);
    fs.writeFile('/gone', 'x');
    fs.writeFile('/gone', 'y');
    fs.rm('/gone');
    run({ keep: 1 });
    expect(versionsOf('/p')).toEqual([3]);
    expect(versionsOf('/gone')).toEqual([3]); // the delete
    // Numbering continues after a prune, for live and deleted paths alike.
    expect(fs.writeFile('/p', 'p4').version).toBe(4);
    expect(fs.writeFile('/gone', 'back').version).toBe(4);
  });

  it('keeps a version that a fork still has as its current state', () => {
    fs.writeFile('/f', 'one');
    forkVault(store, 'default', 'child', actor); // child's /f is version 1, a row of default's history
    forkVault(store, 'child', 'grandchild', actor);
    fs.writeFile('/f', 'two');
    fs.writeFile('/f', 'three');
    run({ keep: 1 });
    expect(versionsOf('/f')).toEqual([1, 3]);
    deleteVault(store, 'grandchild', false, actor);
    run({ keep: 1 });
    expect(versionsOf('/f')).toEqual([1, 3]); // still child's
    deleteVault(store, 'child', false, actor);
    run({ keep: 1 });
    expect(versionsOf('/f')).toEqual([3]);
  });
});

describe('prune --older-than', () => {
  it('drops only versions older than the age, never the newest of a path', () => {
    for (let i = 1; i <= 3; i++) fs.writeFile('/old', `o${i}`);
    for (let i = 1; i <= 3; i++) fs.writeFile('/new', `n${i}`);
    backdate('/old', 3 * 86_400_000);
    const report = run({ olderThanMs: 86_400_000 });
    expect(report.pruned_versions).toBe(2);
    expect(report.cutoff).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(versionsOf('/old')).toEqual([3]);
    expect(versionsOf('/new')).toEqual([1, 2, 3]);
  });

  it('with --keep, a version goes only when both rules allow it', () => {
    for (let i = 1; i <= 6; i++) fs.writeFile('/p', `p${i}`);
    // versions 1-4 are a week old, 5-6 are fresh
    store.db.prepare("UPDATE versions SET at = at - ? WHERE path = '/p' AND version <= 4").run(7 * 86_400_000);
    run({ keep: 4, olderThanMs: 86_400_000 });
    expect(versionsOf('/p')).toEqual([3, 4, 5, 6]);
    run({ keep: 1, olderThanMs: 86_400_000 });
    expect(versionsOf('/p')).toEqual([5, 6]);
  });
});

describe('prune scope', () => {
  it('a path prunes that path and everything below it, nothing else', () => {
    fs.mkdir('/dir');
    fs.mkdir('/dirx');
    for (const p of ['/dir/a', '/dir/sub-a', '/dirx/a', '/top']) {
      fs.writeFile(p, '1', { parents: true });
      fs.writeFile(p, '2');
    }
    expect(run({ path: '/dir', keep: 1 }).pruned_versions).toBe(2);
    expect(versionsOf('/dir/a')).toEqual([2]);
    expect(versionsOf('/dir/sub-a')).toEqual([2]);
    expect(versionsOf('/dirx/a')).toEqual([1, 2]);
    expect(versionsOf('/top')).toEqual([1, 2]);
    expect(run({ path: '/top', keep: 1 }).pruned_versions).toBe(1);
    expect(versionsOf('/dirx/a')).toEqual([1, 2]);
  });

  it('--all prunes every vault', () => {
    createVault(store, 'other', actor);
    const other = new VaultFs(store, 'other', actor);
    for (let i = 1; i <= 3; i++) {
      fs.writeFile('/a', `${i}`);
      other.writeFile('/b', `${i}`);
    }
    const report = run({ scope: { all: true }, keep: 1 });
    expect(report.pruned_versions).toBe(4);
    expect(report.vaults.map((v) => [v.vault, v.pruned_versions])).toEqual([
      ['default', 2],
      ['other', 2],
    ]);
    expect(versionsOf('/b', 'other')).toEqual([3]);
  });

  it('a dry run reports the same numbers and changes nothing', () => {
    for (let i = 1; i <= 4; i++) fs.writeFile('/p', `p${i}`);
    const before = count('versions');
    const dry = run({ keep: 2, dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, pruned_versions: 2 });
    expect(count('versions')).toBe(before);
    expect(store.db.prepare("SELECT count(*) AS n FROM audit WHERE op = 'prune'").get()).toEqual({ n: 0 });
    expect({ ...run({ keep: 2 }), dry_run: true }).toEqual({ ...dry, cutoff: null, vaults: [{ ...dry.vaults[0], remaining_versions: 2 }] });
    expect(count('versions')).toBe(before - 2);
    expect(store.db.prepare("SELECT count(*) AS n FROM audit WHERE op = 'prune'").get()).toEqual({ n: 1 });
  });
});

describe('prune --checkpoints', () => {
  const save = (name: string, ageMs: number) => {
    const v = getVault(store, 'default');
    const id = Number(
      store.db
        .prepare("INSERT INTO checkpoints (vault_id, name, seq, files, bytes, source, created_at) VALUES (?, ?, 0, 0, 0, 'sdk', ?)")
        .run(v.id, name, Date.now() - ageMs).lastInsertRowid,
    );
    store.db
      .prepare(
        `INSERT INTO checkpoint_entries (checkpoint_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
         SELECT ?, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version FROM entries WHERE vault_id = ?`,
      )
      .run(id, v.id);
    store.db.prepare("INSERT INTO checkpoint_annotations (checkpoint_id, path, kind, key, value) VALUES (?, '/a', 't', 'x', '')").run(id);
  };
  const names = () => (store.db.prepare('SELECT name FROM checkpoints ORDER BY created_at').all() as Array<{ name: string }>).map((r) => r.name);

  it('keeps the newest N checkpoints and deletes the others with their rows', () => {
    fs.writeFile('/a', 'a');
    save('oldest', 3000);
    save('middle', 2000);
    save('newest', 1000);
    const report = run({ keep: 1, checkpoints: true });
    expect(report.pruned_checkpoints).toBe(2);
    expect(report.vaults[0]!.pruned_checkpoints).toEqual(['oldest', 'middle']);
    expect(names()).toEqual(['newest']);
    expect(count('checkpoint_entries')).toBe(2); // / and /a of "newest"
    expect(count('checkpoint_annotations')).toBe(1);
  });

  it('by age; without --checkpoints they are left alone', () => {
    save('week-old', 7 * 86_400_000);
    save('fresh', 0);
    run({ olderThanMs: 86_400_000 });
    expect(names()).toEqual(['week-old', 'fresh']);
    run({ olderThanMs: 86_400_000, checkpoints: true });
    expect(names()).toEqual(['fresh']);
  });
});

describe('prune refuses bad input and changes nothing', () => {
  it('no rule, --keep below 1, a negative age, --checkpoints on a sub-path, a missing vault', () => {
    for (let i = 1; i <= 3; i++) fs.writeFile('/p', `p${i}`);
    const before = count('versions');
    expect(code(() => run({}))).toBe('USAGE');
    expect(code(() => run({ keep: 0 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => run({ keep: 1.5 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => run({ olderThanMs: -1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => run({ path: '/p', keep: 1, checkpoints: true }))).toBe('INVALID_ARGUMENT');
    expect(code(() => run({ path: 'relative/../..', keep: 1 }))).toBe('INVALID_PATH');
    expect(code(() => run({ scope: { vault: 'nope' }, keep: 1 }))).toBe('VAULT_NOT_FOUND');
    expect(count('versions')).toBe(before);
  });
});
