import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault, deleteVault, forkVault, getVault } from '../../src/store/vaults.js';
import { prune, type PruneOptions } from '../../src/store/prune.js';
import { deleteCheckpoint, restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { compact } from '../../src/store/maintenance.js';
import { finishExec, insertExec, markExecUndone } from '../../src/store/execs.js';
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
    expect(report.vaults).toEqual([{ vault: 'default', pruned_versions: 4, remaining_versions: 5, pruned_checkpoints: [], no_longer_undoable: [] }]);
    expect(versionsOf('/p')).toEqual([4, 5]);
    expect(versionsOf('/q')).toEqual([2, 3]);
    expect(versionsOf('/r')).toEqual([1]);
    expect(fs.readFile('/p').toString()).toBe('p5');
  });

  it('a path the vault neither has nor has history of is NOT_FOUND (a typo pruned nothing and said ok); a deleted one, or a directory, is pruned', () => {
    fs.mkdir('/d');
    for (let i = 1; i <= 3; i++) fs.writeFile('/d/f', `f${i}`);
    expect(errorCode(() => run({ keep: 1, path: '/nope' }))).toBe('NOT_FOUND');
    expect(errorCode(() => run({ keep: 1, path: '/d/nope' }))).toBe('NOT_FOUND');
    expect(run({ keep: 1, path: '/d', dryRun: true }).pruned_versions).toBe(2);
    fs.rm('/d', { recursive: true });
    expect(run({ keep: 1, path: '/d/f' }).pruned_versions).toBe(3); // f1-f3; the deletion stays
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

  it("keeps the change a fork shows when the fork point follows that change's times-only row", () => {
    fs.writeFile('/f', 'one');
    fs.writeFile('/f', 'two');
    saveCheckpoint(fs, 'k'); // holds /f's times: the next utimes records a touch row of version 2
    fs.utimes('/f', 1_000, 1_000);
    forkVault(store, 'default', 'child', actor);
    deleteCheckpoint(fs, 'k');
    fs.writeFile('/f', 'three');
    expect(versionsOf('/f')).toEqual([1, 2, 2, 3]);
    run({ keep: 1 });
    // The fork point pins version 2, change and touch alike: child's log and revert still see it.
    expect(versionsOf('/f')).toEqual([2, 2, 3]);
    const child = new VaultFs(store, 'child', actor);
    expect(child.readFile('/f').toString()).toBe('two');
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

  it('a deleted middle vault is pruned with its only fork, and by --all; not with one of two forks', () => {
    createVault(store, 'a', actor);
    new VaultFs(store, 'a', actor).writeFile('/f', 'a1');
    forkVault(store, 'a', 'b', actor);
    const b = new VaultFs(store, 'b', actor);
    b.writeFile('/f', 'SECRET');
    b.writeFile('/f', 'b2');
    forkVault(store, 'b', 'c', actor);
    forkVault(store, 'b', 'd', actor);
    new VaultFs(store, 'c', actor).writeFile('/f', 'c1');
    const bId = getVault(store, 'b').id;
    deleteVault(store, 'b', true, actor);
    const secretKept = () => (store.db.prepare("SELECT count(*) AS n FROM versions WHERE vault_id = ? AND path = '/f'").get(bId) as { n: number }).n;
    expect(secretKept()).toBe(2);
    // d still reads b's history too: pruning c alone leaves it.
    expect(run({ scope: { vault: 'c' }, keep: 1 }).vaults.map((v) => v.vault)).toEqual(['c']);
    expect(secretKept()).toBe(2);
    deleteVault(store, 'd', false, actor);
    const report = run({ scope: { vault: 'c' }, keep: 1 });
    expect(report.vaults).toEqual([
      { vault: 'c', pruned_versions: 0, remaining_versions: 1, pruned_checkpoints: [], no_longer_undoable: [] },
      { vault: 'b', deleted: true, pruned_versions: 1, remaining_versions: 1, pruned_checkpoints: [], no_longer_undoable: [] },
    ]);
    expect(secretKept()).toBe(1);
    // Its audit row says it was the deleted b, not a live vault that took the name since.
    const audited = store.db.prepare("SELECT vault, detail FROM audit WHERE op = 'prune' ORDER BY id DESC LIMIT 1").get() as { vault: string; detail: string };
    expect([audited.vault, JSON.parse(audited.detail)]).toEqual(['b', expect.objectContaining({ deleted: true, vault_id: bId })]);
    // What c shows and its history at the fork point stay.
    expect(new VaultFs(store, 'c', actor).readFile('/f').toString()).toBe('c1');
    expect(store.db.prepare("SELECT count(*) AS n FROM versions WHERE vault_id = ? AND path = '/f' AND op <> 'touch'").get(bId)).toEqual({ n: 1 });
    // --all reaches a deleted vault too, named as it was and marked.
    const c = new VaultFs(store, 'c', actor);
    c.writeFile('/g', '1');
    c.writeFile('/g', '2');
    const all = run({ scope: { all: true }, keep: 1 });
    expect(all.vaults.map((v) => [v.vault, v.deleted ?? false])).toEqual([
      ['a', false],
      ['c', false],
      ['default', false],
      ['b', true],
    ]);
    expect(all.pruned_versions).toBe(1);
  });

  it('prune works again after compact in the same process (compact drops the temp table it uses)', () => {
    for (let i = 1; i <= 3; i++) fs.writeFile('/p', `p${i}`);
    expect(run({ keep: 2 }).pruned_versions).toBe(1);
    compact(store, actor);
    fs.writeFile('/p', 'p4');
    expect(run({ keep: 1 }).pruned_versions).toBe(2);
    expect(versionsOf('/p')).toEqual([4]);
  });

  it('a dry run reports the same numbers and changes nothing', () => {
    for (let i = 1; i <= 4; i++) fs.writeFile('/p', `p${i}`);
    const before = count('versions');
    const dry = run({ keep: 2, dryRun: true });
    expect(dry).toMatchObject({ dry_run: true, pruned_versions: 2 });
    expect(count('versions')).toBe(before);
    expect(store.db.prepare("SELECT count(*) AS n FROM audit WHERE op = 'prune'").get()).toEqual({ n: 0 });
    // The same report, remaining_versions included (what the prune leaves).
    expect({ ...run({ keep: 2 }), dry_run: true }).toEqual({ ...dry, cutoff: null });
    expect(dry.vaults[0]!.remaining_versions).toBe(2);
    expect(count('versions')).toBe(before - 2);
    expect(store.db.prepare("SELECT count(*) AS n FROM audit WHERE op = 'prune'").get()).toEqual({ n: 1 });
  });
});

describe('prune --checkpoints', () => {
  /** A checkpoint `ageMs` old; `legacy` makes it one saved before schema 8 (its entry rows copied). */
  const save = (name: string, ageMs: number, legacy = false) => {
    const id = saveCheckpoint(fs, name).id;
    store.db.prepare('UPDATE checkpoints SET created_at = ?, materialized = ? WHERE id = ?').run(Date.now() - ageMs, legacy ? 1 : 0, id);
    if (!legacy) return;
    store.db
      .prepare(
        `INSERT INTO checkpoint_entries (checkpoint_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version, annot)
         SELECT ?, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version, annot FROM entries WHERE vault_id = ?`,
      )
      .run(id, getVault(store, 'default').id);
  };
  const names = () => (store.db.prepare('SELECT name FROM checkpoints ORDER BY created_at').all() as Array<{ name: string }>).map((r) => r.name);

  it('keeps the newest N checkpoints and deletes the others with their rows', () => {
    fs.writeFile('/a', 'a');
    save('oldest', 3000, true);
    save('middle', 2000);
    save('newest', 1000, true);
    const report = run({ keep: 1, checkpoints: true });
    expect(report.pruned_checkpoints).toBe(2);
    expect(report.vaults[0]!.pruned_checkpoints).toEqual(['oldest', 'middle']);
    expect(names()).toEqual(['newest']);
    expect(count('checkpoint_entries')).toBe(2); // / and /a of "newest", the only legacy one left
  });

  it('says which proxy execs its dropped checkpoints leave no longer undoable (an exec undone already is not named)', () => {
    const vault = getVault(store, 'default');
    const exec = (id: string, checkpoint: string) => {
      insertExec(store, { id, vault_id: vault.id, vault: 'default', command: '{"shell":"true"}', cwd: '/', mode: 'copy', decision: '{}', checkpoint, seq_before: 0, pid: null, pid_start: null });
      finishExec(store, id, { seqAfter: 0, exitCode: 0, signal: null, timedOut: false });
    };
    save('proxy-ex-a', 4000);
    exec('ex-a', 'proxy-ex-a');
    save('proxy-ex-b', 3000);
    exec('ex-b', 'proxy-ex-b');
    markExecUndone(store, 'ex-b');
    save('proxy-ex-c', 1000);
    exec('ex-c', 'proxy-ex-c');
    const dry = run({ keep: 1, checkpoints: true, dryRun: true });
    expect([dry.no_longer_undoable, dry.vaults[0]!.no_longer_undoable]).toEqual([['ex-a'], ['ex-a']]);
    expect(names()).toEqual(['proxy-ex-a', 'proxy-ex-b', 'proxy-ex-c']);
    expect(run({ keep: 1, checkpoints: true }).no_longer_undoable).toEqual(['ex-a']);
    expect(names()).toEqual(['proxy-ex-c']);
  });

  it('versions a checkpoint or a fork needs stay; a checkpoint pruned in the same run releases them', () => {
    fs.writeFile('/p', 'p1');
    saveCheckpoint(fs, 'at-p1');
    fs.writeFile('/p', 'p2');
    forkVault(store, 'default', 'fork', { source: 'sdk' });
    fs.writeFile('/p', 'p3');
    fs.writeFile('/p', 'p4');
    run({ keep: 1 });
    // p1 (the checkpoint's) and p2 (the fork point's) are pinned; p3 is not.
    expect(versionsOf('/p')).toEqual([1, 2, 4]);
    fs.writeFile('/p', 'p5');
    restoreCheckpoint(fs, 'at-p1');
    expect(fs.readFile('/p').toString()).toBe('p1');
    expect(new VaultFs(store, 'fork', { source: 'sdk' }).readFile('/p').toString()).toBe('p2');
    // Keeping one checkpoint drops at-p1: v1 goes with it; the restore's before-restore checkpoint pins v5.
    run({ keep: 1, checkpoints: true });
    expect(names()).toEqual([expect.stringMatching(/^before-restore-/)]);
    expect(versionsOf('/p')).toEqual([2, 5, 6]);
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
