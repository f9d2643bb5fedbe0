import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { openStore, type Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { INLINE_MAX, abandonContent, chunkList, putContentFromFd, putContentsFromFds, type ContentRef } from '../../src/store/blobs.js';
import { gc } from '../../src/store/gc.js';
import { homeStats } from '../../src/store/stats.js';
import { pin, pinning, type Lease } from '../../src/store/leases.js';
import { errorCode, expectContentIntact, openTempStore } from '../helpers.js';

/**
 * Content leases (src/store/leases.ts): what a streamed write stores is pinned until it is linked
 * or abandoned, and gc ends only the leases of writers that died.
 */

const actor = { source: 'sdk' as const };
// Two of these are more than INLINE_MAX, so the content is stored as chunks.
const C = Math.ceil((INLINE_MAX * 0.6) / 1024) * 1024;
const chunk = (fill: string) => Buffer.alloc(C, fill);
let home: { dir: string; cleanup: () => void };
let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ home, store, fs, close } = openTempStore()));
afterEach(() => close());

const count = (table: string, s = store) => (s.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

/** Streams `data` through a host file into the store, unlinked: what `write --from` does before its entry transaction. */
function stream(data: Buffer, s = store): ContentRef {
  const file = join(home.dir, `in-${Math.random()}.bin`);
  writeFileSync(file, data);
  const fd = openSync(file, 'r');
  try {
    return putContentFromFd(s, fd);
  } finally {
    closeSync(fd);
  }
}

describe('content leases', () => {
  it('linking content that lost a chunk fails with CONTENT_MISSING and links nothing', () => {
    const content = stream(Buffer.concat([chunk('a'), chunk('b'), chunk('c')]));
    // What an unpinned gc with a wrong count would have done (a chunk in use cannot be deleted otherwise).
    const lost = chunkList(store, content.hash).ids[1];
    store.db.prepare('UPDATE chunk_refs SET refs = 0 WHERE id = ?').run(lost);
    store.db.prepare('DELETE FROM chunks WHERE id = ?').run(lost);
    expect(errorCode(() => fs.writeContent('/f', content))).toBe('CONTENT_MISSING');
    expect(fs.exists('/f')).toBe(false);
  });

  it('gc ends the lease of a process that is gone (or whose pid now names another process), never a live one', async () => {
    const live = stream(Buffer.concat([chunk('l'), chunk('m')]));
    const exited = execa('true');
    await exited;
    const dead = exited.pid!; // its pid names no process now (or a later one)
    const insert = store.db.prepare("INSERT INTO content_leases (pid, holder, created_at) VALUES (?, ?, 0)");
    const gone = Number(insert.run(dead, `x:${dead}:1`).lastInsertRowid);
    const reused = Number(insert.run(process.pid, `x:${process.pid}:1`).lastInsertRowid); // this pid, another start time
    store.db.prepare("INSERT INTO content_pins (lease_id, kind, hash, stored) VALUES (?, 'c', ?, 1), (?, 'c', ?, 1)").run(gone, 'f'.repeat(64), reused, 'e'.repeat(64));
    const report = gc(store, { graceMs: 0, actor });
    expect(report.stale_leases).toBe(2);
    expect(store.db.prepare('SELECT id FROM content_leases').all()).toEqual([{ id: live.lease }]);
    expect(report.freed_chunks).toBe(0); // the live write's two chunks stay pinned
    fs.writeContent('/live', live);
    expect([count('content_pins'), count('content_leases')]).toEqual([0, 0]);
    expectContentIntact(store);
  });

  it("gc --dry-run counts what a dead writer's lease held, as gc then frees it, and changes nothing", async () => {
    stream(Buffer.concat([chunk('p'), chunk('q'), chunk('r')]));
    // The writer dies before linking (kill -9 of an import): its lease now names a gone process.
    const exited = execa('true');
    await exited;
    store.db.prepare('UPDATE content_leases SET pid = ?, holder = ?').run(exited.pid!, `x:${exited.pid!}:1`);
    const before = [count('content_leases'), count('content_pins'), count('chunks')];
    const plan = gc(store, { graceMs: 0, actor, dryRun: true });
    expect(plan).toMatchObject({ dry_run: true, stale_leases: 1, freed_chunks: before[2] });
    expect(plan.freed_bytes).toBeGreaterThan(0);
    expect([count('content_leases'), count('content_pins'), count('chunks')]).toEqual(before);
    // stats counts the same orphans (its plan runs before its own read transaction).
    expect(homeStats(store)).toMatchObject({ orphaned_chunks: plan.freed_chunks, orphaned_bytes: plan.freed_bytes });
    expect([count('content_leases'), count('content_pins'), count('chunks')]).toEqual(before);
    const done = gc(store, { graceMs: 0, actor });
    expect(done).toMatchObject({ stale_leases: 1, freed_chunks: plan.freed_chunks, freed_bytes: plan.freed_bytes });
    expect([count('content_leases'), count('chunks')]).toEqual([0, 0]);
  });

  it('abandoning removes what the write stored itself and nothing it reused', () => {
    fs.writeFile('/keep', Buffer.concat([chunk('p'), chunk('q')]));
    const before = [count('blobs'), count('chunks')];
    abandonContent(store, stream(Buffer.concat([chunk('p'), chunk('r')])));
    expect([count('blobs'), count('chunks'), count('content_pins'), count('content_leases')]).toEqual([...before, 0, 0]);
    expect(fs.readFile('/keep').equals(Buffer.concat([chunk('p'), chunk('q')]))).toBe(true);
    expectContentIntact(store);
  });

  it('closing a store abandons the leases it still holds (a failed import leaves nothing behind)', () => {
    const other = openStore(join(home.dir, 'other'));
    stream(Buffer.concat([chunk('s'), chunk('t')]), other);
    expect(count('content_leases', other)).toBe(1);
    other.release();
    const reopened = openStore(join(home.dir, 'other'));
    try {
      expect([count('blobs', reopened), count('chunks', reopened), count('content_leases', reopened)]).toEqual([0, 0, 0]);
    } finally {
      reopened.release();
    }
  });
});

describe('many files stored together (putContentsFromFds, what import uses)', () => {
  /** Host files: 600 small ones (three transactions of them), an empty one, and one larger than INLINE_MAX. */
  function hostFiles(): Map<string, Buffer> {
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 600; i++) files.set(join(home.dir, `s${i}`), Buffer.from(`small file ${i}\n`));
    files.set(join(home.dir, 'empty'), Buffer.alloc(0));
    files.set(join(home.dir, 'large'), Buffer.concat([chunk('u'), chunk('v')]));
    for (const [path, data] of files) writeFileSync(path, data);
    return files;
  }

  it('pins everything until it is linked in one transaction, past a gc without grace; then no lease is left', () => {
    const files = hostFiles();
    const refs = putContentsFromFds(store, files.keys(), (path) => openSync(path, 'r'));
    expect(refs.size).toBe(files.size);
    // The small files share one lease; the large one streamed under its own.
    expect(count('content_leases')).toBe(2);
    gc(store, { graceMs: 0, actor });
    const name = (path: string) => `/${path.split('/').pop()}`;
    store.mutate(() => {
      for (const [path, ref] of refs) fs.writeContent(name(path), ref);
    });
    expect([count('content_pins'), count('content_leases')]).toEqual([0, 0]);
    for (const [path, data] of files) expect(fs.readFile(name(path)).equals(data), path).toBe(true);
    expectContentIntact(store);
  });

  it('on a failure part way, nothing it stored remains and no lease is left', () => {
    const files = hostFiles();
    const before = [count('blobs'), count('chunks')];
    const paths = [...files.keys()];
    const failAt = paths[550]!; // after two transactions of small files and the large file
    paths.splice(400, 0, paths.pop()!); // the large file in the middle
    expect(() =>
      putContentsFromFds(store, paths, (path) => {
        if (path === failAt) throw new Error('unreadable');
        return openSync(path, 'r');
      }),
    ).toThrow('unreadable');
    expect([count('blobs'), count('chunks'), count('content_pins'), count('content_leases')]).toEqual([...before, 0, 0]);
  });
});

describe('a lease whose first transaction rolled back', () => {
  it('forgets its id (the row is gone and the id may be another writer\'s next), and keeps one its row survived', () => {
    const lease: Lease = { id: null };
    expect(() =>
      pinning(store, lease, () => {
        pin(store, lease, 'b', 'a'.repeat(64), false);
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(lease.id).toBeNull();
    expect(count('content_leases')).toBe(0);
    pinning(store, lease, () => pin(store, lease, 'b', 'b'.repeat(64), false));
    const id = lease.id;
    expect(id).not.toBeNull();
    expect(() =>
      pinning(store, lease, () => {
        pin(store, lease, 'b', 'c'.repeat(64), false);
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(lease.id).toBe(id);
    expect(store.db.prepare('SELECT lease_id, hash FROM content_pins').all()).toEqual([{ lease_id: id, hash: 'b'.repeat(64) }]);
  });
});
