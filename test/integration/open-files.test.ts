import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitContent } from '../../src/core/cdc.js';
import { OpenFiles, O_APPEND } from '../../src/mount/open-files.js';
import { chunkList } from '../../src/store/blobs.js';
import { getEntry } from '../../src/store/entries.js';
import { gc } from '../../src/store/gc.js';
import { prune } from '../../src/store/prune.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { expectContentIntact, openTempStore } from '../helpers.js';

// The mount's open-file layer on a real store, without FUSE: states, shared handles, spill,
// one version per persist.

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sizesOf = (store: Store, hash: string) => [...chunkList(store, hash).sizes];
let close: () => void;
let home: { dir: string };
let store: Store;
let fs: VaultFs;
let files: OpenFiles;
let spill: string;

beforeAll(() => {
  ({ home, store, close } = openTempStore());
  fs = new VaultFs(store, 'default', { source: 'mount' });
  spill = join(home.dir, 'spill');
  files = new OpenFiles(fs, fs.row().id, { spillDir: spill, memoryLimit: 256 * 1024, memoryBudget: 1024 * 1024 });
});
afterAll(() => close());

const versions = (path: string) =>
  store.db.prepare('SELECT version, op, size, source FROM versions WHERE path = ? ORDER BY version').all(path) as { version: number; op: string; size: number; source: string }[];
const read = (fh: number, length: number, position = 0) => {
  const buf = Buffer.alloc(length);
  const n = files.read(files.handle(fh)!.file, buf, length, position);
  return buf.subarray(0, n);
};
/** A write(2) through handle `fh`, as the mount's write handler makes it. */
const write = (fh: number, data: Buffer, position: number) => {
  const h = files.handle(fh)!;
  const n = files.write(h.file, data, data.length, position);
  files.wroteThrough(h, false);
  return n;
};

describe('open files', () => {
  it('a created file is pending until persisted, then exists as one version; states move open → dirty → flushed', () => {
    const fh = files.create('/new.txt', 0o640, 0);
    const file = files.handle(fh)!.file;
    expect(file.pending).toBe(true);
    expect(file.state).toBe('open');
    expect(getEntry(store, fs.row(), '/new.txt')).toBeUndefined();
    write(fh, Buffer.from('hello '), 0);
    write(fh, Buffer.from('world'), 6);
    expect(file.state).toBe('dirty');
    expect(read(fh, 100).toString()).toBe('hello world'); // own unsaved writes
    expect(getEntry(store, fs.row(), '/new.txt')).toBeUndefined();
    files.flush(files.handle(fh)!);
    expect(file.state).toBe('flushed');
    expect(fs.readFile('/new.txt').toString()).toBe('hello world');
    expect(fs.stat('/new.txt').mode).toBe(0o640);
    expect(fs.stat('/new.txt').ino).toBe(file.ino);
    files.release(fh);
    expect(versions('/new.txt')).toEqual([{ version: 1, op: 'create', size: 11, source: 'mount' }]);
    expect(files.get('/new.txt')).toBeUndefined();
  });

  it('handles on one path share the working copy; persisting is skipped when nothing changed', () => {
    fs.writeFile('/shared.txt', 'abcdef');
    const a = files.open(fs.stat('/shared.txt'), 2);
    const b = files.open(fs.stat('/shared.txt'), 2);
    expect(files.handle(a)!.file).toBe(files.handle(b)!.file);
    expect(read(b, 3, 2).toString()).toBe('cde'); // clean: read from the store
    write(a, Buffer.from('XY'), 1);
    expect(read(b, 10).toString()).toBe('aXYdef');
    files.flush(files.handle(b)!); // a reader's close: nothing of a's stored
    expect(fs.readFile('/shared.txt').toString()).toBe('abcdef');
    files.release(a); // the writer's last descriptor: its change is stored, b open or not
    expect(fs.readFile('/shared.txt').toString()).toBe('aXYdef');
    files.release(b);
    const c = files.open(fs.stat('/shared.txt'), 0);
    files.flush(files.handle(c)!);
    files.release(c);
    expect(versions('/shared.txt').map((v) => v.op)).toEqual(['create', 'write']);
  });

  it('truncate cuts and extends with zeros; truncation alone is persisted on release, not on flush', () => {
    fs.writeFile('/t.bin', Buffer.from('0123456789'));
    const fh = files.open(fs.stat('/t.bin'), 2);
    const file = files.handle(fh)!.file;
    files.truncate(file, 4);
    files.truncate(file, 8);
    expect(read(fh, 100)).toEqual(Buffer.from('0123\0\0\0\0'));
    files.flush(files.handle(fh)!); // a shell's dup2-then-close: nothing written yet
    expect(fs.readFile('/t.bin').toString()).toBe('0123456789');
    files.release(fh);
    expect(fs.readFile('/t.bin')).toEqual(Buffer.from('0123\0\0\0\0'));
  });

  it('O_APPEND handles append at the shared size', () => {
    fs.writeFile('/log.txt', 'a\n');
    const x = files.open(fs.stat('/log.txt'), 1 | O_APPEND);
    const file = files.handle(x)!.file;
    write(x, Buffer.from('b\n'), file.size);
    write(x, Buffer.from('c\n'), file.size);
    files.release(x);
    expect(fs.readFile('/log.txt').toString()).toBe('a\nb\nc\n');
  });

  it('a file past the in-memory limit spills to disk, reads back exactly, and the spill file goes on release', () => {
    const data = randomBytes(1_000_000);
    const fh = files.create('/big.bin', 0o644, 0);
    const file = files.handle(fh)!.file;
    for (let off = 0; off < data.length; off += 131072) write(fh, data.subarray(off, off + 131072), off);
    expect(file.spill).not.toBeNull();
    expect(file.mem).toBeNull();
    expect(sha(read(fh, data.length))).toBe(sha(data));
    files.flush(files.handle(fh)!);
    files.release(fh);
    expect(sha(fs.readFile('/big.bin'))).toBe(sha(data));
    expect(existsSync(spill) ? readdirSync(spill) : []).toEqual([]);
    // In-place edit of the stored large file: materialised from the store into a spill file.
    const e = files.open(fs.stat('/big.bin'), 2);
    write(e, Buffer.from('PATCH'), 500_000);
    files.release(e);
    const patched = Buffer.from(data);
    patched.write('PATCH', 500_000);
    expect(sha(fs.readFile('/big.bin'))).toBe(sha(patched));
  });

  it('a large stored file written in place is not copied: writes sit at their offsets, reads mix them with the stored bytes, the persist stores exactly the new bytes', () => {
    const MB = 1024 * 1024;
    const base = randomBytes(3 * MB);
    fs.writeFile('/db.bin', base);
    const baseHash = fs.stat('/db.bin').hash!;
    const pinsOn = (hash: string) => (store.db.prepare('SELECT count(*) AS n FROM content_pins WHERE hash = ?').get(hash) as { n: number }).n;
    const fh = files.open(fs.stat('/db.bin'), 2);
    const file = files.handle(fh)!.file;
    let expected = Buffer.from(base);
    const edit = (data: Buffer, at: number) => {
      write(fh, data, at);
      if (at + data.length > expected.length) expected = Buffer.concat([expected, Buffer.alloc(at + data.length - expected.length)]);
      data.copy(expected, at);
    };
    const resize = (size: number) => {
      files.truncate(file, size);
      expected = size <= expected.length ? expected.subarray(0, size) : Buffer.concat([expected, Buffer.alloc(size - expected.length)]);
    };
    const readsBack = () => {
      expect(file.size).toBe(expected.length);
      for (const [at, n] of [[0, expected.length], [4000, 9000], [expected.length - 300, 128 * 1024], [2 * MB - 5, 10]] as const) {
        expect(read(fh, n, at).equals(expected.subarray(at, at + n)), `read ${n} at ${at}`).toBe(true);
      }
    };
    edit(randomBytes(4096), 4096); // a database page
    edit(Buffer.from('header'), 24);
    edit(Buffer.from('appended line\n'), expected.length);
    edit(Buffer.from('after a hole'), expected.length + 5000); // the hole reads as zeros
    expect(file.spill).toBeNull();
    expect(file.mem).toBeNull();
    expect(file.edits).not.toBeNull();
    // Sparse: the written pages only, not a copy of 3 MiB.
    expect(statSync(file.edits!.path).blocks * 512).toBeLessThan(MB);
    // The base is held against gc while the file is written (a rm and a prune elsewhere would orphan it).
    expect(pinsOn(baseHash)).toBe(1);
    readsBack();
    resize(2 * MB + 7); // cut below the appends
    resize(2 * MB + 70_000); // and extended again: zeros, not the old bytes
    readsBack();
    files.flush(files.handle(fh)!);
    const stored = fs.stat('/db.bin');
    expect(stored.hash).toBe(sha(expected));
    expect(sizesOf(store, stored.hash!)).toEqual(splitContent(expected).map((c) => c.length));
    // The hold moved to what is now stored; nothing written since.
    expect(pinsOn(baseHash)).toBe(0);
    expect(pinsOn(stored.hash!)).toBe(1);
    expect(file.edits!.written.empty).toBe(true);
    readsBack();
    // Appends after the persist build on it.
    for (let i = 0; i < 3; i++) {
      edit(Buffer.from(`line ${i}\n`), expected.length);
      files.flush(files.handle(fh)!);
      expect(fs.stat('/db.bin').hash).toBe(sha(expected));
    }
    readsBack();
    const spillPath = file.edits!.path;
    const leases = () => (store.db.prepare('SELECT count(*) AS n FROM content_leases').get() as { n: number }).n;
    const leasesOpen = leases();
    files.release(fh);
    expect(existsSync(spillPath)).toBe(false);
    expect(sha(fs.readFile('/db.bin'))).toBe(sha(expected));
    // The hold let go is parked a moment (content-holds.ts): the next open of the same content
    // takes it back with no transaction, as a shell's `echo >> log` per line does.
    const storedHash = fs.stat('/db.bin').hash!;
    expect(pinsOn(storedHash)).toBe(1);
    const again = files.open(fs.stat('/db.bin'), 2);
    const line = Buffer.from('one more\n');
    write(again, line, expected.length);
    expected = Buffer.concat([expected, line]);
    expect(leases()).toBe(leasesOpen);
    files.flush(files.handle(again)!); // close(2): flush, then release
    files.release(again);
    expect(sha(fs.readFile('/db.bin'))).toBe(sha(expected));
    expect(pinsOn(storedHash)).toBe(0); // moved to the new version when stored, and parked there
    expect(pinsOn(fs.stat('/db.bin').hash!)).toBe(1);
    expect(leases()).toBe(leasesOpen);
    expectContentIntact(store);
  });

  it('a parked hold keeps its content from gc until it ends, within a second of the last close', async () => {
    const MB = 1024 * 1024;
    const actor = { source: 'sdk' as const };
    fs.writeFile('/parked.bin', randomBytes(2 * MB));
    const fh = files.open(fs.stat('/parked.bin'), 2);
    write(fh, Buffer.from('tail\n'), 2 * MB);
    files.flush(files.handle(fh)!);
    const held = fs.stat('/parked.bin').hash!;
    files.release(fh);
    const blobs = () => (store.db.prepare('SELECT count(*) AS n FROM blobs WHERE hash = ?').get(held) as { n: number }).n;
    // Removed with its history: only the parked hold references the content now.
    fs.rm('/parked.bin');
    prune(store, { scope: { vault: 'default' }, path: '/parked.bin', keep: 1, actor });
    gc(store, { graceMs: 0, actor });
    expect(blobs()).toBe(1);
    await new Promise((r) => setTimeout(r, 1500)); // the parked hold ends on a 1 s timer
    gc(store, { graceMs: 0, actor });
    expect(blobs()).toBe(0);
    expectContentIntact(store);
  });

  it('an orphan (unlinked while open) keeps working for its handles and is never stored', () => {
    const fh = files.create('/gone.txt', 0o644, 0);
    const file = files.handle(fh)!.file;
    write(fh, Buffer.from('bye'), 0);
    files.hide(file, '/.fuse_hidden0000000100000001');
    expect(read(fh, 10).toString()).toBe('bye');
    files.release(fh);
    expect(getEntry(store, fs.row(), '/gone.txt')).toBeUndefined();
    expect(getEntry(store, fs.row(), '/.fuse_hidden0000000100000001')).toBeUndefined();
  });

  it('a persist that fails (quota) leaves the file dirty and reports the error', () => {
    store.db.prepare('UPDATE vaults SET max_file_size = 10 WHERE id = ?').run(fs.row().id);
    try {
      const fh = files.create('/q.txt', 0o644, 0);
      const file = files.handle(fh)!.file;
      write(fh, Buffer.alloc(50, 1), 0);
      expect(() => files.flush(files.handle(fh)!)).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED', errno: 'EDQUOT' }));
      expect(file.state).toBe('dirty');
      files.truncate(file, 5);
      files.release(fh);
      expect(fs.readFile('/q.txt')).toEqual(Buffer.alloc(5, 1));
    } finally {
      store.db.prepare('UPDATE vaults SET max_file_size = NULL WHERE id = ?').run(fs.row().id);
    }
  });

  it('moving a directory moves the open files below it', () => {
    fs.mkdir('/dir');
    const fh = files.create('/dir/p.txt', 0o644, 0);
    write(fh, Buffer.from('moved'), 0);
    fs.rename('/dir', '/dir2');
    files.move('/dir', '/dir2', true);
    files.release(fh);
    expect(fs.readFile('/dir2/p.txt').toString()).toBe('moved');
  });

  it('a large file written front to back is hashed and chunked while it arrives (by the built worker); out-of-order writes fall back', () => {
    // The worker is the built module (dist/): `npm run build` comes before the tests that need it.
    const worker = join(import.meta.dirname, '..', '..', 'dist', 'mount', 'digest-worker.js');
    expect(existsSync(worker)).toBe(true);
    const digesting = new OpenFiles(fs, fs.row().id, { spillDir: spill, memoryLimit: 256 * 1024, memoryBudget: 1024 * 1024, digestWorker: worker });
    const sizesOf = (hash: string) => [...chunkList(store, hash).sizes];
    const writeAll = (path: string, data: Buffer, after?: (fh: number) => void) => {
      const fh = digesting.create(path, 0o644, 0);
      for (let off = 0; off < data.length; off += 131072) digesting.write(digesting.handle(fh)!.file, data.subarray(off, off + 131072), Math.min(131072, data.length - off), off);
      after?.(fh);
      digesting.release(fh);
    };
    try {
      const data = randomBytes(3 * 1024 * 1024 + 12345);
      writeAll('/digested.bin', data);
      expect(digesting.digestedPersists).toBe(1);
      expect(fs.stat('/digested.bin').hash).toBe(sha(data));
      expect(sha(fs.readFile('/digested.bin'))).toBe(sha(data));
      expect(sizesOf(sha(data))).toEqual(splitContent(data).map((c) => c.length));
      // The same bytes again: the content is stored already.
      writeAll('/again.bin', data);
      expect(digesting.digestedPersists).toBe(2);
      expect(fs.stat('/again.bin').hash).toBe(sha(data));
      // Most chunks shared with a stored content, a few new ones.
      const edited = Buffer.concat([data.subarray(0, 2_000_000), Buffer.from('inserted'), data.subarray(2_000_000)]);
      writeAll('/edited.bin', edited);
      expect(digesting.digestedPersists).toBe(3);
      expect(sha(fs.readFile('/edited.bin'))).toBe(sha(edited));
      expect(sizesOf(sha(edited))).toEqual(splitContent(edited).map((c) => c.length));
      // A write back over bytes already handed to the worker, and a truncation below them: hashed at persist.
      const rewritten = Buffer.from(data);
      rewritten.write('HEADER', 10);
      writeAll('/rewritten.bin', data, (fh) => digesting.write(digesting.handle(fh)!.file, Buffer.from('HEADER'), 6, 10));
      const cut = data.subarray(0, 1_500_000);
      writeAll('/cut.bin', data, (fh) => digesting.truncate(digesting.handle(fh)!.file, cut.length));
      expect(digesting.digestedPersists).toBe(3);
      expect(sha(fs.readFile('/rewritten.bin'))).toBe(sha(rewritten));
      expect(sha(fs.readFile('/cut.bin'))).toBe(sha(cut));
      expect(existsSync(spill) ? readdirSync(spill) : []).toEqual([]);
    } finally {
      digesting.closeAll();
    }
  });

  it('the chunks of a large file are stored while it is written, pinned until the persist links them; a truncation below them removes them again', () => {
    const worker = join(import.meta.dirname, '..', '..', 'dist', 'mount', 'digest-worker.js');
    const digesting = new OpenFiles(fs, fs.row().id, { spillDir: spill, memoryLimit: 256 * 1024, memoryBudget: 1024 * 1024, digestWorker: worker });
    const count = (sql: string) => (store.db.prepare(sql).get() as { n: number }).n;
    const pins = () => count("SELECT count(*) AS n FROM content_pins WHERE kind = 'c'");
    const chunks = () => count('SELECT count(*) AS n FROM chunks');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    /** Writes `data` in 128 KiB pieces, then waits (a hang guard, not a timing) until some of its chunks are stored. */
    const writeUntilStored = (path: string, data: Buffer) => {
      const fh = digesting.create(path, 0o644, 0);
      const file = digesting.handle(fh)!.file;
      for (let off = 0; off < data.length; off += 131072) digesting.write(file, data.subarray(off, off + 131072), Math.min(131072, data.length - off), off);
      // The worker answers in the background; a write (here of nothing, at the end) stores what it cut.
      for (const deadline = Date.now() + 30_000; pins() === 0 && Date.now() < deadline; ) {
        Atomics.wait(nap, 0, 0, 20);
        digesting.write(file, Buffer.alloc(0), 0, data.length);
      }
      return fh;
    };
    try {
      expect(pins()).toBe(0);
      const before = chunks();
      const data = randomBytes(4 * 1024 * 1024 + 777);
      const fh = writeUntilStored('/early.bin', data);
      // Stored before the file is closed, and pinned under a lease (gc leaves them alone).
      expect(pins()).toBeGreaterThan(0);
      expect(chunks()).toBeGreaterThan(before);
      expect(fs.exists('/early.bin')).toBe(false);
      digesting.release(fh);
      expect(digesting.digestedPersists).toBe(1);
      expect(fs.stat('/early.bin').hash).toBe(sha(data));
      expect(sha(fs.readFile('/early.bin'))).toBe(sha(data));
      expect(sizesOf(store, sha(data))).toEqual(splitContent(data).map((c) => c.length));
      expect(pins()).toBe(0);
      expect(count('SELECT count(*) AS n FROM content_leases')).toBe(0);
      const linked = chunks();

      // Cut below what was stored before the close: the early chunks go again, the shorter file is stored whole.
      const other = randomBytes(4 * 1024 * 1024);
      const fh2 = writeUntilStored('/cut-early.bin', other);
      expect(chunks()).toBeGreaterThan(linked);
      digesting.truncate(digesting.handle(fh2)!.file, 2_000_000);
      expect(pins()).toBe(0);
      expect(chunks()).toBe(linked);
      digesting.release(fh2);
      expect(sha(fs.readFile('/cut-early.bin'))).toBe(sha(other.subarray(0, 2_000_000)));
      expect(count('SELECT count(*) AS n FROM content_leases')).toBe(0);

      // A file unlinked while open is never stored: closing it removes what it stored early.
      const third = randomBytes(4 * 1024 * 1024);
      const fh3 = writeUntilStored('/gone.bin', third);
      const stored = chunks();
      expect(stored).toBeGreaterThan(linked);
      digesting.detach(digesting.handle(fh3)!.file);
      digesting.release(fh3);
      expect(pins()).toBe(0);
      expect(count('SELECT count(*) AS n FROM content_leases')).toBe(0);
      expect(chunks()).toBeLessThan(stored);
      expect(existsSync(spill) ? readdirSync(spill) : []).toEqual([]);
    } finally {
      digesting.closeAll();
    }
  });

  it('spill files open at once are bounded: past the bound a write that needs one fails with NO_SPACE and changes nothing, and a close frees one', () => {
    const dir = join(home.dir, 'bounded-spill');
    const bounded = new OpenFiles(fs, fs.row().id, { spillDir: dir, memoryLimit: 1024, memoryBudget: 1024, spillFiles: 3, digestWorker: null });
    const spilled = () => (existsSync(dir) ? readdirSync(dir).length : 0);
    try {
      const big = Buffer.alloc(100 * 1024, 'b'); // past the 64 KiB a working copy starts with, and past memoryLimit
      const fhs = [0, 1, 2].map((i) => bounded.create(`/spill-${i}.bin`, 0o644, 0));
      for (const fh of fhs) bounded.write(bounded.handle(fh)!.file, big, big.length, 0);
      expect(spilled()).toBe(3);
      const fourth = bounded.create('/spill-3.bin', 0o644, 0);
      const file = bounded.handle(fourth)!.file;
      expect(() => bounded.write(file, big, big.length, 0)).toThrow(expect.objectContaining({ code: 'NO_SPACE', data: expect.objectContaining({ reason: 'open_files' }) }));
      expect(file.size).toBe(0);
      expect(spilled()).toBe(3);
      bounded.flush(bounded.handle(fhs[0]!)!);
      bounded.release(fhs[0]!);
      expect(spilled()).toBe(2);
      expect(bounded.write(file, big, big.length, 0)).toBe(big.length);
      for (const fh of [fhs[1]!, fhs[2]!, fourth]) {
        bounded.flush(bounded.handle(fh)!);
        bounded.release(fh);
      }
      expect(spilled()).toBe(0);
      for (let i = 0; i < 4; i++) expect(fs.readFile(`/spill-${i}.bin`).equals(big)).toBe(true);
      // The count came back down with every close: three can be open again.
      const again = [0, 1, 2].map((i) => bounded.create(`/again-${i}.bin`, 0o644, 0));
      for (const fh of again) bounded.write(bounded.handle(fh)!.file, big, big.length, 0);
      expect(spilled()).toBe(3);
    } finally {
      bounded.closeAll();
    }
  });
});
