import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault, deleteVault, forkVault, getVault } from '../../src/store/vaults.js';
import { putContent, putContentFromFd } from '../../src/store/blobs.js';
import { gc, planGc } from '../../src/store/gc.js';
import { prune } from '../../src/store/prune.js';
import { homeStats, vaultStats } from '../../src/store/stats.js';
import { compact } from '../../src/store/maintenance.js';
import { hashBytes } from '../../src/core/hash.js';
import { BLOCK, PREFIX_BLOCKS, block, chunked, expectContentIntact, openTempStore } from '../helpers.js';

const actor = { source: 'sdk' as const };
const C = BLOCK;
const P = PREFIX_BLOCKS * BLOCK; // the 1 MiB of blocks chunked() puts first, so content is stored as chunks
let home: { dir: string; cleanup: () => void };
let store: Store;
let fs: VaultFs;

const count = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const hasTable = (name: string) => store.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
const chunk = block;
/** Makes all stored content look `ms` older, so a gc cutoff of "now" is strictly after it. */
const age = (ms = 60_000) => {
  store.db.prepare('UPDATE blobs SET created_at = created_at - ?').run(ms);
  store.db.prepare('UPDATE chunks SET created_at = created_at - ?').run(ms);
};
const gc0 = (dryRun = false) => gc(store, { graceMs: 0, dryRun, actor });

/**
 * A checkpoint as checkpoint_entries rows: gc and stats depend on the table contract (the rows
 * and their hash column), so the test writes them directly, the way `checkpoint save` does.
 */
function checkpointOf(vault: string, name: string, createdAt = Date.now()): number {
  const v = getVault(store, vault);
  const id = Number(
    store.db
      .prepare("INSERT INTO checkpoints (vault_id, name, seq, files, bytes, source, created_at) VALUES (?, ?, 0, 0, 0, 'sdk', ?)")
      .run(v.id, name, createdAt).lastInsertRowid,
  );
  store.db
    .prepare(
      `INSERT INTO checkpoint_entries (checkpoint_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
       SELECT ?, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version FROM entries WHERE vault_id = ?`,
    )
    .run(id, v.id);
  return id;
}

const expectIntact = () => expectContentIntact(store);

/** Reads every file of every vault back and compares it with what the test wrote. */
function expectFiles(expected: Record<string, Record<string, Buffer | string>>): void {
  for (const [vault, files] of Object.entries(expected)) {
    const v = new VaultFs(store, vault, actor);
    for (const [path, data] of Object.entries(files)) expect(v.readFile(path).equals(Buffer.from(data)), `${vault}:${path}`).toBe(true);
  }
}

let close: () => void;
beforeEach(() => ({ home, store, fs, close } = openTempStore()));
afterEach(() => close());

describe('stats', () => {
  // The fixture, by hand (C = 65,536, one chunk; P = 16 C = 1 MiB, the prefix that makes content chunked):
  //   /a.txt "hello" (5), /dir/b.txt "hello" (same content), /c.bin 100 bytes, /link -> /a.txt,
  //   /big written twice: [P, a, b, c, tail10] then [P, a, B, c, tail10] (P + 3C + 10 bytes each;
  //   only chunk b changed), /big2 a copy of /big.
  const bigV1 = chunked(chunk('a'), chunk('b'), chunk('c'), Buffer.from('0123456789'));
  const bigV2 = chunked(chunk('a'), chunk('B'), chunk('c'), Buffer.from('0123456789'));
  function fixture(): void {
    fs.mkdir('/dir');
    fs.writeFile('/a.txt', 'hello');
    fs.writeFile('/dir/b.txt', 'hello');
    fs.writeFile('/c.bin', Buffer.alloc(100, 7));
    fs.symlink('/a.txt', '/link');
    fs.writeFile('/big', bigV1);
    fs.writeFile('/big', bigV2);
    fs.cp('/big', '/big2');
  }
  const logical = 5 + 5 + 100 + 2 * (P + 3 * C + 10); // 2,490,498
  const stored = 5 + 100 + (P + 3 * C + 10); // "hello" once, c.bin, bigV2's 20 chunks: 1,245,299
  const retained = stored + C; // plus chunk b, which only the first version of /big used: 1,310,835

  it('match a hand-computed fixture for a vault', () => {
    fixture();
    checkpointOf('default', 'cp1');
    const s = vaultStats(store, 'default');
    expect(s).toMatchObject({
      scope: 'vault',
      vault: 'default',
      files: 5,
      directories: 1,
      symlinks: 1,
      logical_bytes: 2_490_498,
      stored_bytes: 1_245_299,
      distinct_contents: 3,
      dedup_ratio: 2, // 2,490,498 / 1,245,299 = 1.99992
      retained_bytes: 1_310_835,
      versions: 8, // mkdir, 3 creates, symlink, 2 writes of /big, the copy
      checkpoints: 1,
      forks: 0,
      orphaned_blobs: 0,
      orphaned_chunks: 0,
      orphaned_bytes: 0,
    });
    expect([logical, stored, retained]).toEqual([2_490_498, 1_245_299, 1_310_835]);
    expect(s.database_bytes).toBe(s.file_bytes + s.wal_bytes);
    expect(s.database_bytes).toBeGreaterThan(retained);
    if (hasTable('text_index')) expect(s.index_bytes).toBeGreaterThan(0);
  });

  it('dedup ratio counts forks and copies; the home totals and orphans match by hand', () => {
    fixture();
    checkpointOf('default', 'cp1');
    forkVault(store, 'default', 'f1', actor);
    createVault(store, 'tmp', actor);
    new VaultFs(store, 'tmp', actor).writeFile('/o.txt', 'orphan!');
    deleteVault(store, 'tmp', false, actor);

    expect(vaultStats(store, 'default')).toMatchObject({ forks: 1, dedup_ratio: 2, orphaned_blobs: 1, orphaned_chunks: 0, orphaned_bytes: 7 });
    // A fork shares every content: same logical and stored size, no history of its own.
    expect(vaultStats(store, 'f1')).toMatchObject({
      files: 5,
      logical_bytes: logical,
      stored_bytes: stored,
      retained_bytes: stored,
      versions: 0,
      checkpoints: 0,
      forks: 0,
    });
    expect(homeStats(store)).toMatchObject({
      scope: 'home',
      vaults: 2,
      files: 10,
      directories: 2,
      symlinks: 2,
      logical_bytes: 2 * logical, // 4,980,996
      stored_bytes: stored,
      dedup_ratio: 4, // 4,980,996 / 1,245,299 = 3.99984
      distinct_contents: 3,
      retained_bytes: retained,
      versions: 8,
      checkpoints: 1,
      forks: 1,
      blobs: 5, // hello, c.bin, big v1, big v2, orphan!
      chunks: PREFIX_BLOCKS + 5, // the prefix's 16, a, b, B, c, tail
      content_bytes: retained + 7,
      orphaned_blobs: 1,
      orphaned_chunks: 0,
      orphaned_bytes: 7,
    });
    // What the fork hides of its parent's layer is not its content; what it writes over is.
    const f1 = new VaultFs(store, 'f1', actor);
    f1.rm('/big');
    f1.rm('/big2');
    f1.writeFile('/c.bin', 'now seven');
    expect(vaultStats(store, 'f1')).toMatchObject({ files: 3, stored_bytes: 5 + 9, distinct_contents: 2, logical_bytes: 5 + 5 + 9 });
    expect(vaultStats(store, 'default')).toMatchObject({ files: 5, stored_bytes: stored });
  });

  it('an empty vault has a null dedup ratio', () => {
    expect(vaultStats(store, 'default')).toMatchObject({ files: 0, logical_bytes: 0, stored_bytes: 0, dedup_ratio: null, versions: 0 });
  });
});

describe('gc', () => {
  it('after a vault delete frees exactly the content only that vault used, and nothing else', () => {
    const defaultBig = chunked(chunk('a'), chunk('b'));
    const xBig = chunked(chunk('a'), chunk('x')); // shares the prefix and chunk a with default's /big
    fs.writeFile('/shared.txt', 'shared content');
    fs.writeFile('/big', defaultBig);
    createVault(store, 'x', actor);
    const x = new VaultFs(store, 'x', actor);
    x.writeFile('/shared.txt', 'shared content');
    x.writeFile('/unique.txt', 'unique to x');
    x.writeFile('/big', xBig);
    x.cp('/unique.txt', '/unique-copy.txt');
    deleteVault(store, 'x', false, actor);
    age();

    const plan = gc0(true);
    const before = { blobs: count('blobs'), chunks: count('chunks') };
    expect(plan).toMatchObject({ dry_run: true, freed_blobs: 2, freed_chunks: 1, freed_bytes: 'unique to x'.length + C });
    expect({ blobs: count('blobs'), chunks: count('chunks') }).toEqual(before); // a dry run deletes nothing

    const report = gc0();
    expect(report).toMatchObject({ dry_run: false, freed_blobs: 2, freed_chunks: 1, freed_bytes: 11 + C });
    expect(report.reference_tables).toEqual(expect.arrayContaining(['entries', 'versions', 'checkpoint_entries']));
    if (hasTable('text_index')) expect(report.freed_index_entries).toBe(1); // unique.txt (the large one was never indexed)
    expect(count('blobs')).toBe(before.blobs - 2);
    expect(count('chunks')).toBe(before.chunks - 1);
    expectIntact();
    expectFiles({ default: { '/shared.txt': 'shared content', '/big': defaultBig } });
    expect(gc0()).toMatchObject({ freed_blobs: 0, freed_chunks: 0, freed_bytes: 0 });
  });

  it('an overwrite frees nothing (history keeps it); after prune exactly the pruned-only content goes', () => {
    fs.writeFile('/f', 'one');
    fs.writeFile('/g', 'one'); // the first content stays in use at another path
    fs.writeFile('/f', 'two');
    fs.writeFile('/f', chunked(chunk('3'), chunk('x')));
    fs.writeFile('/f', 'four');
    age();
    expect(gc0()).toMatchObject({ freed_blobs: 0, freed_chunks: 0 });

    prune(store, { scope: { vault: 'default' }, keep: 1, actor });
    age();
    const plan = gc0(true);
    const report = gc0();
    // "two" and the chunked version (with all its chunks) go; "one" (/g) and "four" (current) stay.
    expect(report).toMatchObject({ freed_blobs: 2, freed_chunks: PREFIX_BLOCKS + 2, freed_bytes: 3 + P + 2 * C });
    expect({ ...plan, dry_run: false, duration_ms: 0, cutoff: '' }).toEqual({ ...report, duration_ms: 0, cutoff: '', transactions: 0 });
    expectIntact();
    expectFiles({ default: { '/f': 'four', '/g': 'one' } });
  });

  it('keeps content that only a checkpoint references, until the checkpoint is pruned', () => {
    fs.writeFile('/kept.txt', 'only in the checkpoint');
    checkpointOf('default', 'cp', Date.now() - 10_000);
    fs.rm('/kept.txt');
    prune(store, { scope: { vault: 'default' }, keep: 1, actor }); // drops the create version
    age();
    expect(gc0()).toMatchObject({ freed_blobs: 0 });
    const hash = hashBytes(Buffer.from('only in the checkpoint'));
    expect(store.db.prepare('SELECT 1 FROM blobs WHERE hash = ?').get(hash)).toBeDefined();

    expect(prune(store, { scope: { vault: 'default' }, olderThanMs: 0, checkpoints: true, actor }).pruned_checkpoints).toBe(1);
    expect(count('checkpoint_entries')).toBe(0);
    expect(gc0()).toMatchObject({ freed_blobs: 1, freed_bytes: 22 });
  });

  it('treats a hash column in any other table as a reference (tables added later keep their content)', () => {
    const { hash } = putContent(store, Buffer.from('referenced elsewhere'));
    store.db.exec('CREATE TABLE extra_refs (hash TEXT)');
    store.db.prepare('INSERT INTO extra_refs (hash) VALUES (?)').run(hash);
    age();
    const report = gc0();
    expect(report.reference_tables).toContain('extra_refs');
    expect(report.freed_blobs).toBe(0);
    store.db.exec('DELETE FROM extra_refs');
    expect(gc0().freed_blobs).toBe(1);
  });

  it('keeps unreferenced content younger than the grace period', () => {
    const old = putContent(store, Buffer.from('old orphan'));
    putContent(store, Buffer.from('fresh orphan'));
    store.db.prepare('UPDATE blobs SET created_at = ? WHERE hash = ?').run(Date.now() - 2 * 3_600_000, old.hash);
    const report = gc(store, { graceMs: 3_600_000, actor });
    expect(report).toMatchObject({ freed_blobs: 1, freed_bytes: 10, recent_blobs: 1 });
    expect(store.db.prepare('SELECT 1 FROM blobs WHERE hash = ?').get(old.hash)).toBeUndefined();
    expect(count('blobs')).toBe(1);
  });

  it('frees loose chunks (a streamed write that never wrote its blob row)', () => {
    store.db.prepare('INSERT INTO chunks (hash, size, data, created_at) VALUES (?, ?, ?, ?)').run('f'.repeat(64), C, chunk('z'), Date.now() - 60_000);
    expect(gc0(true)).toMatchObject({ freed_blobs: 0, freed_chunks: 1, freed_bytes: C });
    expect(gc0()).toMatchObject({ freed_blobs: 0, freed_chunks: 1, freed_bytes: C });
    expect(count('chunks')).toBe(0);
    expect(count('chunk_refs')).toBe(0);
  });

  it('a streamed write pins the old orphaned chunk it reuses and what it stores, so even gc with grace 0 keeps them until it links', () => {
    createVault(store, 'tmp', actor);
    new VaultFs(store, 'tmp', actor).writeFile('/big', chunked(chunk('p'), chunk('q')));
    deleteVault(store, 'tmp', false, actor);
    age(2 * 3_600_000);
    const file = join(home.dir, 'pr.bin');
    const pr = chunked(chunk('p'), chunk('r'));
    writeFileSync(file, pr);
    const fd = openSync(file, 'r');
    let content;
    try {
      content = putContentFromFd(store, fd); // stored, not yet linked to any entry
    } finally {
      closeSync(fd);
    }
    // The old blob [prefix, p, q] and its chunk q go; the prefix and p (reused), r, and the new blob are pinned.
    expect(gc(store, { graceMs: 0, actor })).toMatchObject({ freed_blobs: 1, freed_chunks: 1, freed_bytes: C, recent_blobs: 0 });
    fs.writeContent('/pr', content);
    expect(fs.readFile('/pr').equals(pr)).toBe(true);
    expect([count('content_pins'), count('content_leases')]).toEqual([0, 0]);
    expectIntact();
  });

  it('batches: many orphans over several transactions free the same as one', () => {
    for (let i = 0; i < 25; i++) putContent(store, Buffer.from(`orphan ${i}`));
    age();
    const report = gc(store, { graceMs: 0, actor, batchSize: 10 });
    expect(report).toMatchObject({ freed_blobs: 25, transactions: 3 });
    expect(count('blobs')).toBe(0);
  });

  it('checkpoint_entries (no hash index since migration 4) is checked in every batch', () => {
    const hashes = Array.from({ length: 20 }, (_, i) => putContent(store, Buffer.from(`content ${i}`)).hash);
    const cp = checkpointOf('default', 'cp');
    const insert = store.db.prepare(
      "INSERT INTO checkpoint_entries (checkpoint_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version) VALUES (?, ?, '/', 'f', 420, 9, ?, NULL, 0, 0, 0, 2, 1)",
    );
    hashes.forEach((hash, i) => i % 3 === 0 && insert.run(cp, `/kept${i}`, hash)); // 7 of the 20 stay referenced
    age();
    const report = gc(store, { graceMs: 0, actor, batchSize: 3 });
    expect(report).toMatchObject({ freed_blobs: 13 });
    expect(report.reference_tables).toContain('checkpoint_entries');
    expectIntact();
  });

  it('stats orphans equal what gc --grace 0 then frees', () => {
    fs.writeFile('/keep', 'keep');
    createVault(store, 'tmp', actor);
    const tmp = new VaultFs(store, 'tmp', actor);
    tmp.writeFile('/a', randomBytes(3 * C + 5));
    tmp.writeFile('/b', 'bye');
    deleteVault(store, 'tmp', false, actor);
    age();
    const s = homeStats(store);
    const plan = planGc(store, Infinity);
    const report = gc0();
    expect([s.orphaned_blobs, s.orphaned_chunks, s.orphaned_bytes]).toEqual([report.freed_blobs, report.freed_chunks, report.freed_bytes]);
    expect(plan.bytes).toBe(3 * C + 5 + 3);
    expect(homeStats(store)).toMatchObject({ orphaned_blobs: 0, orphaned_bytes: 0, content_bytes: 4 });
  });

  it('is audited', () => {
    putContent(store, Buffer.from('x'));
    age();
    gc0();
    const row = store.db.prepare("SELECT source, detail FROM audit WHERE op = 'gc'").get() as { source: string; detail: string };
    expect(row.source).toBe('sdk');
    expect(JSON.parse(row.detail)).toMatchObject({ freed_blobs: 1, freed_bytes: 1, grace_ms: 0 });
  });
});

describe('compact', () => {
  it('returns the space gc freed to the filesystem and keeps every file', () => {
    fs.writeFile('/keep.bin', Buffer.alloc(10_000, 3));
    createVault(store, 'tmp', actor);
    new VaultFs(store, 'tmp', actor).writeFile('/big', randomBytes(4 * 1024 * 1024));
    deleteVault(store, 'tmp', false, actor);
    age();
    gc0();
    const r = compact(store, actor);
    expect(r.before_bytes - r.after_bytes).toBeGreaterThan(3.5 * 1024 * 1024);
    expect(r.freed_bytes).toBe(r.before_bytes - r.after_bytes);
    expect(r.free_pages_before).toBeGreaterThan(800); // ~4 MiB of freed pages at 4 KiB
    expect(r.wal_checkpointed).toBe(true);
    expect(r.wal_bytes_after).toBe(0);
    expect(fs.readFile('/keep.bin').equals(Buffer.alloc(10_000, 3))).toBe(true);
    expect(store.db.prepare("SELECT count(*) AS n FROM audit WHERE op = 'compact'").get()).toEqual({ n: 1 });
  });
});
