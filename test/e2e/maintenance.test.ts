import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AVFS } from '../../src/sdk/index.js';
import { avfs, expectError, expectOk, useTempHome } from '../helpers.js';

// Each test gets its own home, so counts are exact.
const h = useTempHome('each');
const run = h.run;

/** Everything observable about the vault's files and history, to prove a refused command changed nothing. */
async function snapshot(vault = 'default') {
  const tree = expectOk(await run(['--vault', vault, 'tree']));
  const stats = expectOk(await run(['--vault', vault, 'stats']));
  return JSON.stringify({ tree: tree.tree, versions: stats.versions, checkpoints: stats.checkpoints });
}

describe('maintenance commands: help and JSON contract', () => {
  it('every command has --help with examples', async () => {
    for (const cmd of [['stats'], ['audit'], ['audit', 'clear'], ['quota'], ['quota', 'set'], ['quota', 'clear'], ['gc'], ['prune'], ['compact']]) {
      const r = await avfs(h.home, [...cmd, '--help'], { raw: true });
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout, cmd.join(' ')).toContain('Examples:');
    }
  });

  it('stats, gc, prune, compact, quota and audit answer with their documented snake_case fields', async () => {
    expectOk(await run(['write', '/a.txt', 'hello']));
    const stats = expectOk(await run(['stats']));
    for (const key of [
      'scope', 'vault', 'files', 'directories', 'symlinks', 'logical_bytes', 'stored_bytes', 'dedup_ratio', 'distinct_contents',
      'retained_bytes', 'versions', 'checkpoints', 'forks', 'index_bytes', 'database_bytes', 'file_bytes', 'wal_bytes',
      'orphaned_blobs', 'orphaned_chunks', 'orphaned_bytes',
    ]) {
      expect(stats, key).toHaveProperty(key);
    }
    expect(expectOk(await run(['stats', '--all']))).toMatchObject({ scope: 'home', vaults: 1, blobs: 1, content_bytes: 5 });
    expect(Object.keys(expectOk(await run(['gc', '--dry-run'])))).toEqual(
      expect.arrayContaining(['dry_run', 'grace_ms', 'cutoff', 'freed_blobs', 'freed_chunks', 'freed_bytes', 'freed_index_entries', 'recent_blobs', 'reference_tables', 'duration_ms']),
    );
    expect(expectOk(await run(['gc', '--dry-run'])).grace_ms).toBe(3_600_000); // default 1h
    expect(Object.keys(expectOk(await run(['prune', '/', '--keep', '1'])))).toEqual(
      expect.arrayContaining(['dry_run', 'path', 'keep', 'older_than_ms', 'cutoff', 'pruned_versions', 'pruned_checkpoints', 'vaults']),
    );
    const compacted = expectOk(await run(['compact']));
    expect(Object.keys(compacted)).toEqual(expect.arrayContaining(['before_bytes', 'after_bytes', 'freed_bytes', 'duration_ms']));
    // A first compact of a small home leaves it a page larger: freed is 0 then, never negative.
    expect(compacted.freed_bytes).toBe(Math.max(0, compacted.before_bytes - compacted.after_bytes));
    expect(expectOk(await run(['quota']))).toMatchObject({
      vault: 'default',
      quota: { max_bytes: null, max_files: null, max_file_size: null },
      usage: { bytes: 5, entries: 1, largest_file: 5 },
      exceeded: [],
    });
    const audit = expectOk(await run(['audit']));
    expect(audit.records.map((r: { op: string }) => r.op)).toEqual(['write', 'prune', 'compact'].filter((op) => op !== 'prune')); // prune dropped nothing
    expect(audit.records[0]).toMatchObject({ vault: 'default', op: 'write', source: 'cli', exec_id: null, detail: { path: '/a.txt', size: 5 } });
  });

  it('human output goes to stdout (data) and stderr (messages)', async () => {
    await run(['write', '/a', 'x']);
    const stats = await avfs(h.home, ['stats'], { raw: true });
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/dedup ratio/);
    const gc = await avfs(h.home, ['gc', '--dry-run'], { raw: true });
    expect(gc.stdout).toBe('');
    expect(gc.stderr).toMatch(/would free/);
  });
});

describe('stats through the CLI', () => {
  it('dedup ratio after copies and forks', async () => {
    const data = join(h.dir, 'blob');
    writeFileSync(data, Buffer.alloc(100_000, 'z'));
    expectOk(await run(['write', '/one', '--from', data]));
    expectOk(await run(['cp', '/one', '/two']));
    expectOk(await run(['cp', '/one', '/three']));
    expectOk(await run(['write', '/small', 'small']));
    const s = expectOk(await run(['stats']));
    expect(s).toMatchObject({ files: 4, logical_bytes: 300_005, stored_bytes: 100_005, dedup_ratio: 3, distinct_contents: 2 });
    expectOk(await run(['vault', 'fork', 'default', 'copy']));
    expect(expectOk(await run(['stats', '--all']))).toMatchObject({ vaults: 2, forks: 1, logical_bytes: 600_010, stored_bytes: 100_005, dedup_ratio: 6 });
    expect(expectOk(await run(['stats'])).forks).toBe(1);
  });
});

describe('gc and prune through the CLI', () => {
  it('frees what a deleted vault alone used; a dry run reports the same and deletes nothing; files read back', async () => {
    expectOk(await run(['write', '/keep.txt', 'kept']));
    expectOk(await run(['vault', 'create', 'scratch']));
    expectOk(await run(['--vault', 'scratch', 'write', '/keep.txt', 'kept']));
    expectOk(await run(['--vault', 'scratch', 'write', '/gone.txt', 'only in scratch']));
    expectOk(await run(['vault', 'delete', 'scratch']));
    const dry = expectOk(await run(['gc', '--dry-run', '--grace', '0']));
    expect(dry).toMatchObject({ dry_run: true, freed_blobs: 1, freed_bytes: 15 });
    expect(expectOk(await run(['stats', '--all']))).toMatchObject({ orphaned_blobs: 1, orphaned_bytes: 15 });
    const real = expectOk(await run(['gc', '--grace', '0']));
    expect(real).toMatchObject({ dry_run: false, freed_blobs: 1, freed_chunks: 0, freed_bytes: 15 });
    expect(expectOk(await run(['stats', '--all']))).toMatchObject({ orphaned_blobs: 0, blobs: 1 });
    expect(expectOk(await run(['cat', '/keep.txt'])).content).toBe('kept');
    // With the default grace, fresh orphans are kept.
    expectOk(await run(['vault', 'create', 'scratch2']));
    expectOk(await run(['--vault', 'scratch2', 'write', '/x', 'fresh orphan']));
    expectOk(await run(['vault', 'delete', 'scratch2']));
    expect(expectOk(await run(['gc']))).toMatchObject({ freed_blobs: 0, recent_blobs: 1 });
  });

  it('prune keeps the newest N per path; gc then frees the dropped content; log shows what is left', async () => {
    for (let i = 1; i <= 5; i++) expectOk(await run(['write', '/notes.md', `draft ${i}`]));
    expect(expectOk(await run(['prune', '/', '--keep', '2', '--dry-run']))).toMatchObject({ dry_run: true, pruned_versions: 3 });
    expect(expectOk(await run(['prune', '/', '--keep', '2']))).toMatchObject({ pruned_versions: 3 });
    const log = expectOk(await run(['log', '/notes.md']));
    expect(log.versions.map((v: { version: number }) => v.version)).toEqual([5, 4]);
    expect(expectOk(await run(['gc', '--grace', '0']))).toMatchObject({ freed_blobs: 3, freed_bytes: 21 });
    expect(expectOk(await run(['cat', '/notes.md'])).content).toBe('draft 5');
    expect(expectOk(await run(['checkout', '/notes.md', '--version', '4'])).entry.size).toBe(7);
    expect(expectOk(await run(['cat', '/notes.md'])).content).toBe('draft 4');
  });

  it('prune --checkpoints --all drops old checkpoints; restore of a kept one still works after gc', async () => {
    expectOk(await run(['write', '/a', 'v1']));
    expectOk(await run(['checkpoint', 'save', 'first']));
    expectOk(await run(['write', '/a', 'v2']));
    expectOk(await run(['checkpoint', 'save', 'second']));
    expectOk(await run(['write', '/a', 'v3']));
    const r = expectOk(await run(['prune', '--all', '--keep', '1', '--checkpoints']));
    // v1 goes (with checkpoint "first" that pinned it); v2 stays: checkpoint "second" points at it.
    expect(r).toMatchObject({ pruned_versions: 1, pruned_checkpoints: 1 });
    expect(r.vaults[0].pruned_checkpoints).toEqual(['first']);
    expect(expectOk(await run(['gc', '--grace', '0']))).toMatchObject({ freed_blobs: 1 }); // v1
    expectOk(await run(['checkpoint', 'restore', 'second']));
    expect(expectOk(await run(['cat', '/a'])).content).toBe('v2');
  });
});

describe('quota through the CLI: exit 6, QUOTA_EXCEEDED, nothing changed', () => {
  it('set with units, show, clear; a limit below usage is accepted and reported', async () => {
    expect(expectOk(await run(['quota', 'set', '--max-bytes', '10MB', '--max-files', '100', '--max-file-size', '1GiB'])).quota).toEqual({
      max_bytes: 10_000_000,
      max_files: 100,
      max_file_size: 1024 ** 3,
    });
    expect(expectOk(await run(['quota', 'set', '--max-bytes', '512k'])).quota.max_bytes).toBe(512 * 1024);
    expect(expectOk(await run(['quota', 'set', '--max-files', 'none'])).quota.max_files).toBe(null);
    expectOk(await run(['write', '/a', 'x'.repeat(50)]));
    const below = await run(['quota', 'set', '--max-bytes', '10']);
    expect(expectOk(below).exceeded).toEqual(['max_bytes']);
    const human = await avfs(h.home, ['quota'], { raw: true });
    expect(human.stderr).toMatch(/over max_bytes/);
    expectError(await run(['write', '/b', 'y']), 'QUOTA_EXCEEDED', 6);
    expect(expectOk(await run(['quota', 'clear'])).quota).toEqual({ max_bytes: null, max_files: null, max_file_size: null });
    expectOk(await run(['write', '/b', 'y']));
  });

  it('write (argument, stdin, --from), import, cp are refused over the limit; mv is not growth', async () => {
    expectOk(await run(['write', '/seed.txt', 'x'.repeat(600)]));
    expectOk(await run(['quota', 'set', '--max-bytes', '1KB']));
    const host = join(h.dir, 'h');
    mkdirSync(join(host, 'tree'), { recursive: true });
    writeFileSync(join(host, 'big.bin'), Buffer.alloc(200_000, 1));
    writeFileSync(join(host, 'tree', 'one.txt'), 'o'.repeat(300));
    writeFileSync(join(host, 'tree', 'two.txt'), 't'.repeat(300));
    const before = await snapshot();
    const refused = [
      await run(['write', '/b.txt', 'b'.repeat(401)]),
      await run(['write', '/b.txt', '--stdin'], { input: 'b'.repeat(500) }),
      await run(['write', '/b.bin', '--from', join(host, 'big.bin')]),
      await run(['import', join(host, 'tree'), '/tree']),
      await run(['cp', '/seed.txt', '/copy.txt']),
    ];
    for (const r of refused) {
      const error = expectError(r, 'QUOTA_EXCEEDED', 6);
      expect(error).toMatchObject({ vault: 'default', limit: 'max_bytes', max: 1000 });
    }
    expect(await snapshot()).toBe(before);
    expectOk(await run(['mv', '/seed.txt', '/moved.txt']));
    expectOk(await run(['write', '/b.txt', 'b'.repeat(400)])); // exactly 1000
  });

  it('checkout of a larger version and checkpoint restore are refused over the limit and change nothing', async () => {
    expectOk(await run(['write', '/doc', 'd'.repeat(800)]));
    expectOk(await run(['write', '/other', 'o'.repeat(300)]));
    expectOk(await run(['checkpoint', 'save', 'big'])); // 1,100 bytes
    expectOk(await run(['write', '/doc', 'small'])); // now 305
    expectOk(await run(['quota', 'set', '--max-bytes', '1000']));
    const before = await snapshot();
    expectError(await run(['checkout', '/doc', '--version', '1']), 'QUOTA_EXCEEDED', 6);
    expectError(await run(['checkout', '/doc', '--checkpoint', 'big']), 'QUOTA_EXCEEDED', 6);
    expectError(await run(['checkpoint', 'restore', 'big']), 'QUOTA_EXCEEDED', 6);
    expect(await snapshot()).toBe(before);
    // max_file_size applies to the same paths
    expectOk(await run(['quota', 'set', '--max-bytes', 'none', '--max-file-size', '500']));
    expectError(await run(['checkout', '/doc', '--version', '1']), 'QUOTA_EXCEEDED', 6);
    expect(await snapshot()).toBe(before);
  });

  it('max_files counts entries through mkdir and write', async () => {
    expectOk(await run(['quota', 'set', '--max-files', '2']));
    expectOk(await run(['mkdir', '/d']));
    expectOk(await run(['write', '/d/a', 'a']));
    const before = await snapshot();
    expectError(await run(['write', '/d/b', 'b']), 'QUOTA_EXCEEDED', 6);
    expectError(await run(['mkdir', '/e']), 'QUOTA_EXCEEDED', 6);
    expect(await snapshot()).toBe(before);
  });
});

describe('quota: a change of many entries reports what all of it needs', () => {
  it('import and cp -r over max_files or max_bytes name the whole change, not the entry that met the limit', async () => {
    const host = join(h.dir, 'h', 'tree');
    mkdirSync(join(host, 'sub'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(host, i < 20 ? '' : 'sub', `f${i}.txt`), 'x'.repeat(100));
    expectOk(await run(['write', '/seed', 'y'.repeat(50)]));
    expectOk(await run(['quota', 'set', '--max-files', '30']));
    const before = await snapshot();
    // 1 entry now; /tree, /tree/sub and 40 files would make 43.
    expect(expectError(await run(['import', host, '/tree']), 'QUOTA_EXCEEDED', 6)).toMatchObject({ limit: 'max_files', max: 30, wanted: 43, path: '/tree' });
    expect(await snapshot()).toBe(before);
    expectOk(await run(['quota', 'set', '--max-files', '100', '--max-bytes', '3KB']));
    // 50 bytes now; 4,000 more would make 4,050.
    expect(expectError(await run(['import', host, '/tree']), 'QUOTA_EXCEEDED', 6)).toMatchObject({ limit: 'max_bytes', wanted: 4_050 });
    expect(await snapshot()).toBe(before);
    expectOk(await run(['quota', 'set', '--max-bytes', '10KB']));
    expectOk(await run(['import', host, '/tree']));
    // Imported again through a symlink to its parent: nothing new, so not refused at the limit.
    const sdk = new AVFS({ home: h.home });
    sdk.symlink('/', '/root-link');
    sdk.close();
    expectOk(await run(['quota', 'set', '--max-files', '44']));
    expect(expectOk(await run(['import', host, '/root-link/tree']))).toMatchObject({ files: 40 });
    expectOk(await run(['rm', '/root-link']));
    expectOk(await run(['quota', 'set', '--max-files', '60']));
    const imported = await snapshot();
    // 43 entries now; a copy of /tree adds 42 (85), one over the limit at its 18th entry.
    expect(expectError(await run(['cp', '-r', '/tree', '/copy']), 'QUOTA_EXCEEDED', 6)).toMatchObject({ limit: 'max_files', max: 60, wanted: 85, path: '/copy' });
    expect(await snapshot()).toBe(imported);
  });
});

describe('audit through the CLI', () => {
  it('filters by op, exec id (AVFS_EXEC_ID) and --vault; clear --before', async () => {
    expectOk(await run(['write', '/a', 'a']));
    expectOk(await run(['write', '/b', 'b'], { env: { AVFS_EXEC_ID: 'exec-42' } }));
    expectOk(await run(['vault', 'create', 'other']));
    expectOk(await run(['--vault', 'other', 'mkdir', '/x']));
    expect(expectOk(await run(['audit', '--exec', 'exec-42'])).records).toMatchObject([{ op: 'write', exec_id: 'exec-42', detail: { path: '/b' } }]);
    expect(expectOk(await run(['audit', '--op', 'vault.*'])).records.map((r: { op: string }) => r.op)).toEqual(['vault.create']);
    expect(expectOk(await run(['--vault', 'other', 'audit'])).records.map((r: { op: string }) => r.op)).toEqual(['vault.create', 'mkdir']);
    const limited = expectOk(await run(['audit', '--limit', '2']));
    expect(limited).toMatchObject({ count: 2, truncated: true });
    expect(expectOk(await run(['audit', '--since', '1h'])).count).toBe(4);
    expect(expectOk(await run(['audit', '--since', '2000-01-01'])).count).toBe(4);
    expect(expectOk(await run(['audit', 'clear', '--before', '2000-01-01']))).toMatchObject({ deleted: 0 });
    expect(expectOk(await run(['audit', 'clear', '--before', new Date(Date.now() + 60_000).toISOString()])).deleted).toBe(5); // 4 + the first clear
    expect(expectOk(await run(['audit'])).records.map((r: { op: string }) => r.op)).toEqual(['audit.clear']);
  });
});

describe('bad input: exit 2, and nothing changes', () => {
  it('bad sizes, durations, times and numbers (a value an option cannot take is USAGE, as every option value the command line refuses)', async () => {
    for (let i = 1; i <= 3; i++) expectOk(await run(['write', '/p', `p${i}`]));
    expectOk(await run(['quota', 'set', '--max-bytes', '1MB']));
    const before = await snapshot();
    const auditBefore = expectOk(await run(['audit'])).count;
    const bad: Array<[string[], string]> = [
      [['gc', '--grace', '10'], 'USAGE'],
      [['gc', '--grace', '-1h'], 'USAGE'],
      [['gc', '--grace', 'soon'], 'USAGE'],
      [['prune', '/', '--keep', '0'], 'USAGE'],
      [['prune', '/', '--keep', '-1'], 'USAGE'],
      [['prune', '/', '--keep', 'two'], 'USAGE'],
      [['prune', '/', '--older-than', '1y'], 'USAGE'],
      [['prune', '/'], 'USAGE'],
      [['prune', '--keep', '1'], 'USAGE'],
      [['prune', '/p', '--keep', '1', '--checkpoints'], 'INVALID_ARGUMENT'],
      [['quota', 'set', '--max-bytes', '10XB'], 'USAGE'],
      [['quota', 'set', '--max-bytes', '-5MB'], 'USAGE'],
      [['quota', 'set', '--max-files', '-1'], 'USAGE'],
      [['quota', 'set', '--max-files', '1.5'], 'USAGE'],
      [['quota', 'set', '--max-files', '10k'], 'USAGE'],
      [['quota', 'set', '--max-file-size', 'big'], 'USAGE'],
      [['quota', 'set', '--max-bytes', 'unlimited!'], 'USAGE'],
      [['quota', 'set'], 'USAGE'],
      [['audit', '--since', 'yesterday'], 'USAGE'],
      [['audit', '--limit', '0'], 'USAGE'],
      [['audit', 'clear'], 'USAGE'],
      [['audit', 'clear', '--before', 'nope'], 'USAGE'],
      [['stats', 'extra'], 'USAGE'],
      // --all covers every vault; a --vault beside it would be ignored (prune would prune them all).
      [['--vault', 'default', 'prune', '--all', '--keep', '1'], 'USAGE'],
      [['prune', '--all', '--keep', '1', '--vault', 'default'], 'USAGE'],
      [['--vault', 'default', 'stats', '--all'], 'USAGE'],
      // gc and compact cover the home whatever is given: a --vault (even one that does not exist) was ignored.
      [['--vault', 'default', 'gc', '--dry-run'], 'USAGE'],
      [['gc', '--vault', 'nope'], 'USAGE'],
      [['compact', '--vault', 'default'], 'USAGE'],
      // audit clear clears every vault's rows; vault merge names its own vaults (it merged into the source's parent).
      [['--vault', 'default', 'audit', 'clear', '--before', '0s'], 'USAGE'],
      [['--vault', 'default', 'vault', 'merge', 'default', '--dry-run'], 'USAGE'],
      [['--vault', 'default', 'vault', 'fork', 'default', 'copy'], 'USAGE'],
      [['--vault', 'default', 'vault', 'delete', 'default'], 'USAGE'],
      // The same for every command that names its vault itself or lists every vault (they ran on the named one).
      [['--vault', 'default', 'vault', 'info', 'default'], 'USAGE'],
      [['--vault', 'default', 'vault', 'use', 'default'], 'USAGE'],
      [['--vault', 'default', 'vault', 'list'], 'USAGE'],
      // vault create makes an empty vault: --vault other would be ignored where it reads as a fork (--vault default keeps default in use).
      [['--vault', 'no-such', 'vault', 'create', 'fresh'], 'USAGE'],
      [['--vault', 'default', 'shell', 'default'], 'USAGE'],
      [['--vault', 'default', 'mounts'], 'USAGE'],
      [['--vault', 'default', 'mount', '--list'], 'USAGE'],
      [['--vault', 'default', 'unmount', '/nowhere'], 'USAGE'],
      // A value option given twice: the last one silently won.
      [['write', '/g.txt', '--from', '/etc/hostname', '--from', '/etc/hosts'], 'USAGE'],
      [['checkpoint', 'save', 'twice', '-m', 'a', '--message', 'b'], 'USAGE'],
      [['tree', '--depth', '1', '--depth', '2'], 'USAGE'],
      [['quota', 'set', '--max-files', '5', '--max-files', '6'], 'USAGE'],
      // Also when the first equals the option's default (it was let through).
      [['gc', '--dry-run', '--grace', '1h', '--grace', '0'], 'USAGE'],
    ];
    for (const [args, code] of bad) {
      const r = await run(args);
      expect(r.json?.error?.code, args.join(' ')).toBe(code);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect(await snapshot()).toBe(before);
    expect(expectOk(await run(['quota'])).quota.max_bytes).toBe(1_000_000);
    expect(expectOk(await run(['audit'])).count).toBe(auditBefore);    // --vault naming the vault being created ignores nothing: a script passing --vault $V on every call.
    expect(expectOk(await run(['--vault', 'same', 'vault', 'create', 'same'])).vault.name).toBe('same');
  });
});
