import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault, getVault } from '../../src/store/vaults.js';
import { clearQuota, quotaReport, setQuota } from '../../src/store/quota.js';
import { importTree } from '../../src/store/transfer.js';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { vaultStats } from '../../src/store/stats.js';
import { AUDIT_MAX_AGE_MS, AUDIT_MAX_ROWS, AUDIT_TRIM_EVERY, audit, clearAudit, queryAudit, trimAudit } from '../../src/store/audit.js';
import { AvfsError } from '../../src/errors.js';
import { openTempStore, tempDir } from '../helpers.js';

const actor = { source: 'sdk' as const };
let home: { dir: string; cleanup: () => void };
let store: Store;
let fs: VaultFs;

const caught = (fn: () => unknown): AvfsError | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AvfsError) return err;
    throw err;
  }
  return undefined;
};
const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
/** Everything a refused change must leave as it was: the full listing and the history. */
const snapshot = (v: VaultFs = fs) =>
  JSON.stringify({ tree: v.walk('/').map((e) => [e.path, e.type, e.mode, e.size, e.hash, e.target, e.version]), versions: count('versions') });
/** Runs a change that must be refused with QUOTA_EXCEEDED (exit 6) and must change nothing. */
function expectRefused(fn: () => unknown, limit: string, v: VaultFs = fs): void {
  const before = snapshot(v);
  const err = caught(fn);
  expect(err?.code).toBe('QUOTA_EXCEEDED');
  expect(err?.exitCode).toBe(6);
  expect(err?.errno).toBe('EDQUOT');
  expect(err?.data.limit).toBe(limit);
  expect(snapshot(v)).toBe(before);
}

let close: () => void;
beforeEach(() => ({ home, store, fs, close } = openTempStore()));
afterEach(() => close());

describe('quota settings', () => {
  it('shows, sets only the limits given, and clears', () => {
    fs.writeFile('/a', '12345');
    fs.symlink('/a', '/l'); // a symlink's size is not file bytes
    expect(quotaReport(store, getVault(store, 'default'))).toEqual({
      vault: 'default',
      quota: { max_bytes: null, max_files: null, max_file_size: null },
      usage: { bytes: 5, entries: 2, largest_file: 5 },
      exceeded: [],
    });
    setQuota(store, 'default', { max_bytes: 1000 }, actor);
    const r = setQuota(store, 'default', { max_files: 10, max_file_size: 100 }, actor);
    expect(r.quota).toEqual({ max_bytes: 1000, max_files: 10, max_file_size: 100 });
    expect(setQuota(store, 'default', { max_files: null }, actor).quota).toEqual({ max_bytes: 1000, max_files: null, max_file_size: 100 });
    expect(clearQuota(store, 'default', actor).quota).toEqual({ max_bytes: null, max_files: null, max_file_size: null });
    expect(queryAudit(store, { op: 'quota.*', limit: 10 }).records.map((a) => a.op)).toEqual(['quota.set', 'quota.set', 'quota.set', 'quota.clear']);
  });

  it('refuses negative or fractional limits and changes nothing', () => {
    setQuota(store, 'default', { max_bytes: 10 }, actor);
    expect(caught(() => setQuota(store, 'default', { max_bytes: -1 }, actor))?.code).toBe('INVALID_ARGUMENT');
    expect(caught(() => setQuota(store, 'default', { max_files: 1.5 }, actor))?.code).toBe('INVALID_ARGUMENT');
    expect(getVault(store, 'default').max_bytes).toBe(10);
  });

  it('a limit below current usage is accepted: growth is refused, shrinking and deleting still work', () => {
    fs.writeFile('/a', 'x'.repeat(100));
    fs.writeFile('/b', 'y'.repeat(100));
    const r = setQuota(store, 'default', { max_bytes: 150, max_file_size: 50 }, actor);
    expect(r.exceeded).toEqual(['max_bytes', 'max_file_size']);
    expectRefused(() => fs.writeFile('/c', 'z'), 'max_bytes');
    expectRefused(() => fs.writeFile('/a', 'x'.repeat(101)), 'max_file_size');
    fs.writeFile('/a', 'x'.repeat(40)); // smaller: allowed
    expect(quotaReport(store, getVault(store, 'default')).exceeded).toEqual(['max_file_size']);
    fs.rm('/b');
    expect(quotaReport(store, getVault(store, 'default')).exceeded).toEqual([]);
    fs.writeFile('/c', 'z');
  });

  it('forks start with their parent quota', () => {
    setQuota(store, 'default', { max_bytes: 10, max_files: 3 }, actor);
    forkVault(store, 'default', 'child', actor);
    expect(quotaReport(store, getVault(store, 'child')).quota).toEqual({ max_bytes: 10, max_files: 3, max_file_size: null });
    expectRefused(() => new VaultFs(store, 'child', actor).writeFile('/big', 'x'.repeat(11)), 'max_bytes', new VaultFs(store, 'child', actor));
  });
});

describe('quota enforcement on every path that adds data, changing nothing when refused', () => {
  beforeEach(() => {
    fs.mkdir('/d');
    fs.writeFile('/d/a.txt', 'a'.repeat(600));
  });

  it('write (bytes, and streamed from a file descriptor) and truncate', () => {
    setQuota(store, 'default', { max_bytes: 1000 }, actor);
    expectRefused(() => fs.writeFile('/b.txt', 'b'.repeat(401)), 'max_bytes');
    expectRefused(() => fs.writeFile('/d/a.txt', 'a'.repeat(1001)), 'max_bytes');
    const host = join(home.dir, 'host.bin');
    writeFileSync(host, Buffer.alloc(200_000, 1)); // chunked, streamed
    const fd = openSync(host, 'r');
    try {
      expectRefused(() => fs.writeFile('/streamed', { fd }), 'max_bytes');
    } finally {
      closeSync(fd);
    }
    expectRefused(() => fs.truncate('/d/a.txt', 1001), 'max_bytes');
    fs.writeFile('/b.txt', 'b'.repeat(400)); // exactly at the limit
    expect(quotaReport(store, getVault(store, 'default')).usage.bytes).toBe(1000);
  });

  it('max_file_size and max_files (files, directories and symlinks count)', () => {
    setQuota(store, 'default', { max_file_size: 1000, max_files: 4 }, actor);
    expectRefused(() => fs.writeFile('/big', 'x'.repeat(1001)), 'max_file_size');
    fs.writeFile('/b', 'b'); // entries: /d, /d/a.txt, /b
    fs.mkdir('/e'); // 4
    expectRefused(() => fs.mkdir('/f'), 'max_files');
    expectRefused(() => fs.symlink('/b', '/l'), 'max_files');
    expectRefused(() => fs.writeFile('/c', ''), 'max_files');
    fs.writeFile('/b', 'replaced'); // replacing adds no entry
  });

  it('import is all or nothing', () => {
    // Outside the home: nothing in it is imported (home-on-host.ts).
    const host = tempDir();
    onTestFinished(host.cleanup);
    const src = join(host.dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'one.txt'), 'x'.repeat(300));
    writeFileSync(join(src, 'sub', 'two.txt'), 'y'.repeat(300));
    setQuota(store, 'default', { max_bytes: 1000 }, actor);
    expectRefused(() => importTree(fs, src, '/imported'), 'max_bytes');
    expect(fs.exists('/imported')).toBe(false);
    setQuota(store, 'default', { max_bytes: 1200 }, actor);
    expect(importTree(fs, src, '/imported').files).toBe(2);
  });

  it('cp adds bytes and entries; mv adds neither, so it works at the limit', () => {
    setQuota(store, 'default', { max_bytes: 1000, max_files: 3 }, actor);
    expectRefused(() => fs.cp('/d/a.txt', '/copy.txt'), 'max_bytes');
    expectRefused(() => fs.cp('/d', '/d2', { recursive: true }), 'max_bytes');
    fs.writeFile('/small', 'x'); // 3 entries, 601 bytes
    expectRefused(() => fs.cp('/small', '/small2'), 'max_files');
    fs.mv('/d/a.txt', '/moved.txt');
    fs.mv('/d', '/d-renamed');
    expect(fs.readFile('/moved.txt').length).toBe(600);
  });
});

describe('usage: one rule for the counters, quotas, restores and stats', () => {
  /** What a vault shows, counted from its listing: every entry but the root, and the sizes of its files only. */
  const recount = (v: VaultFs) => {
    const all = v.walk('/');
    return { bytes: all.filter((e) => e.type === 'f').reduce((n, e) => n + e.size, 0), entries: all.length };
  };
  const usage = (v: VaultFs) => {
    const { bytes, entries } = quotaReport(store, getVault(store, v.name)).usage;
    return { bytes, entries };
  };

  it('the counters equal a recount of what the vault shows after every kind of change; a symlink target is never bytes', () => {
    const longTarget = '/' + 't'.repeat(300);
    const steps: Array<[string, () => unknown]> = [
      ['write', () => fs.writeFile('/a', '12345')],
      ['symlink', () => fs.symlink(longTarget, '/l')],
      ['mkdir', () => fs.mkdir('/d/e', { parents: true })],
      ['fifo', () => fs.mknod('/d/p', 'p', 0o644)],
      ['link', () => fs.link('/a', '/d/a2')],
      ['checkpoint', () => saveCheckpoint(fs, 'one')],
      ['retarget', () => (fs.rm('/l'), fs.symlink('/x', '/l'))],
      ['mv', () => fs.mv('/d', '/moved')],
      ['cp', () => fs.cp('/moved', '/copy', { recursive: true })],
      ['rm', () => fs.rm('/copy', { recursive: true })],
      ['restore', () => restoreCheckpoint(fs, 'one')],
    ];
    for (const [step, run] of steps) {
      run();
      expect({ step, ...usage(fs) }).toEqual({ step, ...recount(fs) });
    }
    expect(vaultStats(store, 'default')).toMatchObject({ logical_bytes: recount(fs).bytes });
    forkVault(store, 'default', 'fork', actor);
    const fork = new VaultFs(store, 'fork', actor);
    fork.symlink(longTarget, '/l2');
    fork.rm('/a');
    expect(usage(fork)).toEqual(recount(fork));
    expect(usage(fs)).toEqual(recount(fs));
  });

  it('a refused change leaves no trace in what this connection reads next (usage counters read back after the rollback)', () => {
    setQuota(store, 'default', { max_bytes: 100 }, actor);
    fs.writeFile('/a', 'x'.repeat(60));
    // The parents are created (and counted) inside the transaction before the file is refused.
    expectRefused(() => fs.writeFile('/d/e/f', 'y'.repeat(45), { parents: true }), 'max_bytes');
    expect(usage(fs)).toEqual(recount(fs));
    expect(usage(fs)).toEqual({ bytes: 60, entries: 1 });
  });

  it('a vault at max_bytes still takes symlinks and restores of them (their size is not file bytes)', () => {
    fs.writeFile('/a', 'x'.repeat(10));
    setQuota(store, 'default', { max_bytes: 10 }, actor);
    fs.symlink('/' + 'y'.repeat(200), '/l');
    saveCheckpoint(fs, 'with-link');
    fs.rm('/l');
    restoreCheckpoint(fs, 'with-link', { saveBefore: false });
    expect(fs.lstat('/l').type).toBe('l');
    expect(usage(fs)).toEqual({ bytes: 10, entries: 2 });
    expectRefused(() => fs.writeFile('/b', 'z'), 'max_bytes');
  });
});

describe('audit', () => {
  it('records mutations with source and exec id, and filters by time, op, prefix, exec and vault', () => {
    const agent = new VaultFs(store, 'default', { source: 'proxy', execId: 'exec-1' });
    fs.writeFile('/a', 'a');
    agent.writeFile('/b', 'b');
    agent.mkdir('/dir');
    store.db.prepare("UPDATE audit SET at = at - 7200000 WHERE op = 'write' AND exec_id IS NULL").run(); // the first write: 2 h ago
    audit(store, actor, 'vault.fork', 'other', { from: 'default' });
    audit(store, actor, 'vault_fork_lookalike', null);

    const all = queryAudit(store, { limit: 100 });
    expect(all.records.map((r) => r.op)).toEqual(['write', 'write', 'mkdir', 'vault.fork', 'vault_fork_lookalike']);
    expect(all.records[1]).toMatchObject({ vault: 'default', op: 'write', source: 'proxy', exec_id: 'exec-1', detail: { path: '/b', size: 1 } });
    expect(all.records[1]!.at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(all.truncated).toBe(false);
    expect(queryAudit(store, { since: Date.now() - 3_600_000, limit: 100 }).records).toHaveLength(4);
    expect(queryAudit(store, { op: 'write', limit: 100 }).records).toHaveLength(2);
    expect(queryAudit(store, { op: 'vault.*', limit: 100 }).records.map((r) => r.op)).toEqual(['vault.fork']);
    expect(queryAudit(store, { execId: 'exec-1', limit: 100 }).records.map((r) => r.op)).toEqual(['write', 'mkdir']);
    expect(queryAudit(store, { vault: 'other', limit: 100 }).records.map((r) => r.op)).toEqual(['vault.fork']);
    // --limit keeps the newest rows, still printed oldest first
    const last2 = queryAudit(store, { limit: 2 });
    expect(last2.records.map((r) => r.op)).toEqual(['vault.fork', 'vault_fork_lookalike']);
    expect(last2.truncated).toBe(true);
  });

  it('records what the mount and the proxy change too: rename(2), rmdir, chmod and chown (each a version); one that changes nothing records nothing', () => {
    const agent = new VaultFs(store, 'default', { source: 'proxy', execId: 'exec-2' });
    fs.writeFile('/a', 'a');
    fs.mkdir('/d');
    agent.rename('/a', '/b');
    agent.chmod('/b', 0o600);
    agent.chmod('/b', 0o600);
    agent.chown('/b', 1234, 5678);
    agent.chown('/b', 1234, null);
    agent.rmdir('/d');
    const mine = queryAudit(store, { execId: 'exec-2', limit: 100 }).records.map((r) => [r.op, r.detail]);
    expect(mine).toEqual([
      ['mv', { from: '/a', to: '/b', moved: 1 }],
      ['chmod', { path: '/b', mode: '0600' }],
      ['chown', { path: '/b', uid: 1234, gid: 5678, mode: '0600' }],
      ['rm', { path: '/d', removed: 1 }],
    ]);
  });

  it('clear --before deletes older rows and records that it did', () => {
    fs.writeFile('/a', 'a');
    fs.writeFile('/b', 'b');
    store.db.prepare("UPDATE audit SET at = at - 86400000 WHERE detail LIKE '%/a%'").run();
    expect(clearAudit(store, Date.now() - 3_600_000, actor)).toBe(1);
    expect(queryAudit(store, { limit: 10 }).records.map((r) => [r.op, r.detail?.path ?? r.detail?.deleted])).toEqual([
      ['write', '/b'],
      ['audit.clear', 1],
    ]);
  });

  it('retention: trims to the row and age bounds, automatically every AUDIT_TRIM_EVERY rows', () => {
    for (let i = 0; i < 50; i++) audit(store, actor, 'test', null, { i });
    expect(trimAudit(store, { maxRows: 20 })).toBe(30);
    expect(queryAudit(store, { limit: 100 }).records.map((r) => r.detail?.i)).toEqual(Array.from({ length: 20 }, (_, i) => i + 30));

    store.db.prepare('UPDATE audit SET at = ? WHERE id <= (SELECT min(id) + 4 FROM audit)').run(Date.now() - AUDIT_MAX_AGE_MS - 1000);
    const next = (store.db.prepare('SELECT max(id) AS id FROM audit').get() as { id: number }).id;
    // Rows up to the next multiple of AUDIT_TRIM_EVERY leave the expired ones; that row trims them.
    const untilTrim = AUDIT_TRIM_EVERY - (next % AUDIT_TRIM_EVERY);
    for (let i = 1; i < untilTrim; i++) audit(store, actor, 'filler', null);
    expect(count('audit')).toBe(20 + untilTrim - 1);
    audit(store, actor, 'filler', null);
    expect(count('audit')).toBe(20 + untilTrim - 5);
  });

  it('retention counts command rows apart: no number of file changes pushes out the decision that let a command run', () => {
    const proxy = { source: 'proxy', execId: 'e1' } as const;
    store.mutate(() => {
      audit(store, proxy, 'proxy.request', 'default', { exec_id: 'e1', approved: false });
      audit(store, actor, 'checkpoint.save', 'default', { checkpoint: 'before' });
      // One command closing more files than the row bound: the automatic trim runs on the way.
      for (let i = 0; i < AUDIT_MAX_ROWS + 2 * AUDIT_TRIM_EVERY; i++) audit(store, proxy, 'write', 'default', { path: `/f${i}` });
    });
    const ops = (op: string) => (store.db.prepare('SELECT count(*) AS n FROM audit WHERE op = ?').get(op) as { n: number }).n;
    expect([ops('proxy.request'), ops('checkpoint.save')]).toEqual([1, 1]);
    expect(ops('write')).toBeLessThan(AUDIT_MAX_ROWS + AUDIT_TRIM_EVERY);
    trimAudit(store);
    expect([ops('proxy.request'), ops('checkpoint.save'), ops('write')]).toEqual([1, 1, AUDIT_MAX_ROWS]);
    expect(queryAudit(store, { execId: 'e1', op: 'proxy*', limit: 10 }).records.map((r) => r.op)).toEqual(['proxy.request']);
    // Command rows have a bound of their own, applied by gc and compact.
    store.mutate(() => {
      for (let i = 0; i < 30; i++) audit(store, actor, 'vault.fork', `v${i}`);
    });
    // (The newest 20 rows are all forks: the row bound counts them, so no change is left.)
    expect(trimAudit(store, { maxRows: 20 })).toBe(12 + AUDIT_MAX_ROWS);
    expect([ops('proxy.request'), ops('checkpoint.save'), ops('vault.fork'), ops('write')]).toEqual([0, 0, 20, 0]);
  });
});
