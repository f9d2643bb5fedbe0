import { createCipheriv } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteRanges } from '../../src/core/byte-ranges.js';
import { hashBytes } from '../../src/core/hash.js';
import { chunkList, contentInfo, contentStartsWith, INLINE_MAX, linkContent, putContent, putEditedContent, readContent } from '../../src/store/blobs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { gc } from '../../src/store/gc.js';
import { prune } from '../../src/store/prune.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { searchText } from '../../src/store/search.js';
import { pathVersions } from '../../src/store/history.js';
import { expectContentIntact, letEventLoopRun, seededRandom, tempDir } from '../helpers.js';

// A large file edited in place (the mount's databases and logs) is stored by re-cutting only the
// chunks around its changed ranges: the result must be exactly what storing the whole new content
// gives (same hash, same chunk list), whatever the edits.

let tmp: ReturnType<typeof tempDir>;
let store: Store;

beforeAll(() => {
  tmp = tempDir('avfs-edited-content-');
  store = openStore(join(tmp.dir, 'home'));
});
afterAll(() => {
  store.release();
  tmp.cleanup();
});

/** Deterministic pseudo-random bytes (AES-CTR over zeros), so every case replays exactly. */
let stream = 0;
function randomBytes(n: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(++stream);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Applies edits to `base` as the mount would see them: writes, appends, truncates; returns the new bytes and the ranges written. */
function edit(base: Buffer, seed: number): { bytes: Buffer; changed: ByteRanges } {
  const rand = seededRandom(seed);
  let bytes = Buffer.from(base);
  const changed = new ByteRanges();
  const steps = 1 + rand(6);
  for (let i = 0; i < steps; i++) {
    const kind = rand(5);
    if (kind === 0 || kind === 1) {
      // Overwrite a few bytes or a page somewhere (a database page, a header counter).
      const len = 1 + rand(kind === 0 ? 8 : 4096);
      const at = rand(bytes.length + 1);
      const data = randomBytes(len);
      if (at + len > bytes.length) bytes = Buffer.concat([bytes, Buffer.alloc(at + len - bytes.length)]);
      data.copy(bytes, at);
      changed.add(at, at + len);
    } else if (kind === 2) {
      // Append (a log line, or a megabyte).
      const data = randomBytes(rand(2) ? 1 + rand(200) : INLINE_MAX);
      changed.add(bytes.length, bytes.length + data.length);
      bytes = Buffer.concat([bytes, data]);
    } else if (kind === 3) {
      // Truncate shorter (kept above INLINE_MAX half the time, so both paths run).
      const to = INLINE_MAX + rand(Math.max(1, bytes.length - INLINE_MAX));
      if (to < bytes.length) {
        bytes = bytes.subarray(0, to);
        changed.clip(to);
      }
    } else {
      // Extend with zeros.
      const more = 1 + rand(100_000);
      changed.add(bytes.length, bytes.length + more);
      bytes = Buffer.concat([bytes, Buffer.alloc(more)]);
    }
  }
  return { bytes, changed };
}

function stored(bytes: Buffer, changed: ByteRanges, baseHash: string) {
  const ref = store.mutate(() => {
    const r = putEditedContent(store, {
      base: baseHash,
      size: bytes.length,
      changed: changed.list(),
      read: (buf, length, position) => bytes.copy(buf, 0, position, Math.min(bytes.length, position + length)),
    });
    linkContent(store, r);
    return r;
  });
  return ref;
}

describe('putEditedContent', () => {
  it('stores exactly what storing the whole new content stores, for random edits of a chunked base', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      await letEventLoopRun(); // 20 s of synchronous work on a loaded machine otherwise
      const base = randomBytes(INLINE_MAX + 1 + seededRandom(seed * 7)(3 * INLINE_MAX));
      const baseRef = putContent(store, base);
      const { bytes, changed } = edit(base, seed);
      const ref = stored(bytes, changed, baseRef.hash);
      expect(ref.hash, `seed ${seed}`).toBe(hashBytes(bytes));
      expect(ref.size).toBe(bytes.length);
      expect(readContent(store, ref.hash).equals(bytes), `seed ${seed}`).toBe(true);
      if (bytes.length > INLINE_MAX) {
        // The same cuts as chunking the whole: compare with a fresh store of the same bytes elsewhere.
        const other = openStore(join(tmp.dir, `whole-${seed}`));
        try {
          const whole = putContent(other, bytes);
          expect(chunkList(store, ref.hash).sizes, `seed ${seed}`).toEqual(chunkList(other, whole.hash).sizes);
        } finally {
          other.release();
        }
      }
    }
  });

  it('a chain of edits, each on the last one\'s result (so the hash kept before a last chunk is used), truncations to a chunk start among them, names every result by its bytes', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rand = seededRandom(seed);
      let bytes = randomBytes(2 * INLINE_MAX + rand(INLINE_MAX));
      let hash = putContent(store, bytes).hash;
      for (let step = 0; step < 40; step++) {
        const changed = new ByteRanges();
        const kind = rand(4);
        if (kind === 0) {
          // Cut exactly where the last or the one-before-last chunk starts.
          const offsets = chunkList(store, hash).offsets;
          const to = offsets[Math.max(1, offsets.length - 2 - rand(2))]!;
          if (to > INLINE_MAX) bytes = bytes.subarray(0, to);
        } else if (kind === 1) {
          const at = Math.max(0, bytes.length - rand(100_000));
          const data = randomBytes(1 + rand(5000));
          if (at + data.length > bytes.length) bytes = Buffer.concat([bytes, Buffer.alloc(at + data.length - bytes.length)]);
          bytes = Buffer.from(bytes);
          data.copy(bytes, at);
          changed.add(at, at + data.length);
        } else {
          const data = randomBytes(1 + rand(kind === 2 ? 100 : 70_000));
          changed.add(bytes.length, bytes.length + data.length);
          bytes = Buffer.concat([bytes, data]);
        }
        hash = stored(bytes, changed, hash).hash;
        expect(hash, `seed ${seed} step ${step}`).toBe(hashBytes(bytes));
      }
      expect(readContent(store, hash).equals(bytes)).toBe(true);
    }
  });

  it('re-stores only the chunks around small edits: a page rewritten in each of two places of a 4 MiB file', () => {
    const base = randomBytes(4 * INLINE_MAX);
    const baseRef = putContent(store, base);
    const bytes = Buffer.from(base);
    const changed = new ByteRanges();
    for (const at of [100, 2 * INLINE_MAX]) {
      randomBytes(4096).copy(bytes, at);
      changed.add(at, at + 4096);
    }
    const ref = stored(bytes, changed, baseRef.hash);
    expect(ref.hash).toBe(hashBytes(bytes));
    const old = new Set(chunkList(store, baseRef.hash).ids);
    const fresh = chunkList(store, ref.hash).ids.filter((id) => !old.has(id));
    // Each edit re-cuts the chunk it falls in and, at most, the next few until the cuts agree again.
    expect(fresh.length).toBeGreaterThanOrEqual(2);
    expect(fresh.length).toBeLessThanOrEqual(8);
  });

  it('an append re-cuts only the base\'s last chunk', () => {
    const base = randomBytes(3 * INLINE_MAX);
    const baseRef = putContent(store, base);
    const baseChunks = chunkList(store, baseRef.hash).ids;
    const bytes = Buffer.concat([base, Buffer.from('one more line\n')]);
    const changed = new ByteRanges();
    changed.add(base.length, bytes.length);
    const ref = stored(bytes, changed, baseRef.hash);
    const ids = chunkList(store, ref.hash).ids;
    expect(ids.slice(0, baseChunks.length - 1)).toEqual(baseChunks.slice(0, -1));
    expect(readContent(store, ref.hash).equals(bytes)).toBe(true);
  });

  it('an inline base, or a result that fits inline, is stored whole', () => {
    const small = randomBytes(5000);
    const smallRef = putContent(store, small);
    const grown = Buffer.concat([small, randomBytes(2 * INLINE_MAX)]);
    const changed = new ByteRanges();
    changed.add(small.length, grown.length);
    expect(stored(grown, changed, smallRef.hash).hash).toBe(hashBytes(grown));
    const big = randomBytes(2 * INLINE_MAX);
    const bigRef = putContent(store, big);
    const cut = big.subarray(0, 1000);
    const none = new ByteRanges();
    expect(stored(cut, none, bigRef.hash).hash).toBe(hashBytes(cut));
  });
});

describe('appendFile on a large file', () => {
  it('stores exactly the whole new content, line after line, re-cutting only the end', () => {
    const fs = new VaultFs(store, 'default', { source: 'sdk' });
    let expected = randomBytes(2 * INLINE_MAX + 777);
    fs.writeFile('/app.log', expected);
    for (let i = 0; i < 30; i++) {
      const piece = i === 7 ? randomBytes(300_000) : Buffer.from(`step ${i} done\n`);
      fs.appendFile('/app.log', piece);
      expected = Buffer.concat([expected, piece]);
      expect(fs.stat('/app.log').hash, `append ${i}`).toBe(hashBytes(expected));
    }
    const other = openStore(join(tmp.dir, 'whole-log'));
    try {
      expect(chunkList(store, fs.stat('/app.log').hash!).sizes).toEqual(chunkList(other, putContent(other, expected).hash).sizes);
    } finally {
      other.release();
    }
    // Across the inline limit both ways: from a small file, and an empty append.
    fs.writeFile('/grow.log', 'x');
    fs.appendFile('/grow.log', randomBytes(INLINE_MAX + 10));
    fs.appendFile('/grow.log', '');
    expect(fs.stat('/grow.log').size).toBe(INLINE_MAX + 11);
    expectContentIntact(store);
  });

  it('counts each chunk\'s uses exactly when lists name runs of new chunks, one chunk many times, and chunks stored long before', () => {
    const fs = new VaultFs(store, 'default', { source: 'sdk' });
    const older = randomBytes(INLINE_MAX + 200_000);
    fs.writeFile('/older.bin', older);
    // Zeros cut into identical largest chunks (one id, named many times), between new random
    // runs and the older file's bytes (ids far below the new ones).
    const mixed = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000), older, randomBytes(150_000), Buffer.alloc(200_000)]);
    fs.writeFile('/mixed.bin', mixed);
    const ids = chunkList(store, fs.stat('/mixed.bin').hash!).ids;
    expect(new Set(ids).size).toBeLessThan(ids.length);
    expectContentIntact(store);
    for (let i = 0; i < 5; i++) {
      fs.appendFile('/mixed.bin', i === 2 ? Buffer.alloc(300_000) : Buffer.from(`line ${i}\n`));
      expectContentIntact(store);
    }
    fs.rm('/older.bin');
    prune(store, { scope: { vault: 'default' }, keep: 1, actor: { source: 'sdk' } });
    gc(store, { graceMs: 0, actor: { source: 'sdk' } });
    expectContentIntact(store);
    fs.rm('/mixed.bin');
    prune(store, { scope: { vault: 'default' }, keep: 1, actor: { source: 'sdk' } });
    gc(store, { graceMs: 0, actor: { source: 'sdk' } });
    expectContentIntact(store);
  });
});

describe('a file revised under the inline limit', () => {
  const contentBytes = () =>
    (store.db.prepare("SELECT (SELECT coalesce(sum(size), 0) FROM blobs WHERE typeof(data) <> 'null') + (SELECT coalesce(sum(size), 0) FROM chunks) AS n").get() as { n: number }).n;

  it('is stored in chunks once over 64 KiB, so each append stores about a chunk, not the file again; every version reads back and the last is searchable', () => {
    const fs = new VaultFs(store, 'default', { source: 'sdk' });
    const rand = seededRandom(11);
    const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    let text = Array.from({ length: 30_000 }, () => words[rand(words.length)]).join(' ');
    fs.writeFile('/revised.log', text); // arrives new: one row
    expect(contentInfo(store, fs.stat('/revised.log').hash!).inline).toBe(true);
    const versions = [text];
    text += '\nthe first appended line';
    fs.appendFile('/revised.log', '\nthe first appended line'); // the first revision: cut in chunks
    versions.push(text);
    expect(contentInfo(store, fs.stat('/revised.log').hash!).inline).toBe(false);
    const before = contentBytes();
    for (let i = 0; i < 40; i++) {
      const line = `\nline ${i} quokka${i}`;
      if (i % 2 === 0) fs.appendFile('/revised.log', line);
      else fs.writeFile('/revised.log', text + line); // a whole rewrite of the file is a revision too
      text += line;
      versions.push(text);
      expect(fs.stat('/revised.log').hash, `version ${i}`).toBe(hashBytes(Buffer.from(text)));
    }
    // Each version re-stores its last chunk (at most 64 KiB), where a row each stored all ~200 KB.
    expect(contentBytes() - before).toBeLessThan(40 * (64 * 1024 + 100));
    const stored = pathVersions(store, fs.row(), '/revised.log', 1000).map((v) => readContent(store, v.hash!).toString());
    expect(new Set(stored)).toEqual(new Set(versions));
    expect(searchText(store, fs.row(), 'quokka39', { limit: 5 }).hits.map((h) => h.path)).toEqual(['/revised.log']);
    // A revision streamed from a descriptor (`write --from`, stdin) is cut in chunks too.
    const host = join(tmp.dir, 'revision.txt');
    writeFileSync(host, `${text}\nfrom a descriptor`);
    const fd = openSync(host, 'r');
    try {
      fs.writeFile('/revised.log', { fd });
    } finally {
      closeSync(fd);
    }
    expect(contentInfo(store, fs.stat('/revised.log').hash!).inline).toBe(false);
    // A new file of the same size still arrives as one row; a revision down to 64 KiB is one row too.
    fs.writeFile('/new.log', text.slice(0, 150_000));
    expect(contentInfo(store, fs.stat('/new.log').hash!).inline).toBe(true);
    fs.writeFile('/revised.log', text.slice(0, 64 * 1024));
    expect(contentInfo(store, fs.stat('/revised.log').hash!).inline).toBe(true);
    expectContentIntact(store);
  });
});

describe('content stored again after gc', () => {
  it('a long-lived connection reads and edits it by its new chunk ids, not the ones it saw before (which gc freed and other chunks took)', () => {
    const home = join(tmp.dir, 'two-connections');
    const mountSide = openStore(home);
    const cliSide = openStore(home);
    try {
      const actor = { source: 'sdk' as const };
      const a = new VaultFs(mountSide, 'default', actor);
      const b = new VaultFs(cliSide, 'default', actor);
      const log = randomBytes(3 * INLINE_MAX);
      a.writeFile('/keep.txt', 'hello');
      a.writeFile('/L', log);
      a.appendFile('/L', 'one\n'); // the long-lived side keeps the layout (and a hash state) of these
      const appended = Buffer.concat([log, Buffer.from('one\n')]);
      expect(a.readFile('/L').equals(appended)).toBe(true);
      // Elsewhere: the file goes, its content is collected, other bytes take the freed ids, and
      // the same bytes come back under the same hash with new ids.
      b.rm('/L');
      prune(cliSide, { scope: { all: true }, keep: 1, actor });
      gc(cliSide, { graceMs: 0, actor });
      b.writeFile('/other', randomBytes(3 * INLINE_MAX));
      b.writeFile('/L', appended);
      expect(a.readFile('/L').equals(appended)).toBe(true);
      a.appendFile('/L', 'two\n');
      const twice = Buffer.concat([appended, Buffer.from('two\n')]);
      expect(a.stat('/L').hash).toBe(hashBytes(twice));
      expect(b.readFile('/L').equals(twice)).toBe(true);
      expectContentIntact(cliSide);
    } finally {
      mountSide.release();
      cliSide.release();
    }
  });
});

describe('ByteRanges', () => {
  it('merges overlapping and touching ranges, clips, and cuts a span into pieces in and out of ranges', () => {
    const r = new ByteRanges();
    r.add(10, 20);
    r.add(30, 40);
    r.add(20, 25); // touches the first
    r.add(5, 5); // empty
    expect(r.list()).toEqual([[10, 25], [30, 40]]);
    r.add(24, 31); // bridges both
    expect(r.list()).toEqual([[10, 40]]);
    r.add(50, 60);
    r.add(0, 2);
    expect(r.list()).toEqual([[0, 2], [10, 40], [50, 60]]);
    expect(r.pieces(1, 55)).toEqual([
      { start: 1, end: 2, inRange: true },
      { start: 2, end: 10, inRange: false },
      { start: 10, end: 40, inRange: true },
      { start: 40, end: 50, inRange: false },
      { start: 50, end: 55, inRange: true },
    ]);
    expect(r.pieces(41, 45)).toEqual([{ start: 41, end: 45, inRange: false }]);
    expect(r.pieces(60, 70)).toEqual([{ start: 60, end: 70, inRange: false }]);
    r.clip(35);
    expect(r.list()).toEqual([[0, 2], [10, 35]]);
    r.clip(10);
    expect(r.list()).toEqual([[0, 2]]);
  });

  it('agrees with a byte map under random adds and clips', () => {
    const rand = seededRandom(99);
    for (let round = 0; round < 200; round++) {
      const r = new ByteRanges();
      const map = new Uint8Array(200);
      let size = 200;
      for (let i = 0; i < 12; i++) {
        if (rand(5) === 0) {
          size = rand(200);
          r.clip(size);
          map.fill(0, size);
        } else {
          const a = rand(200);
          const b = a + rand(30);
          r.add(a, Math.min(b, 200));
          map.fill(1, a, Math.min(b, 200));
        }
      }
      const from = rand(200);
      const to = from + rand(200 - from);
      const pieces = r.pieces(from, to);
      let at = from;
      for (const p of pieces) {
        expect(p.start).toBe(at);
        for (let x = p.start; x < p.end; x++) expect(map[x]).toBe(p.inRange ? 1 : 0);
        at = p.end;
      }
      expect(at).toBe(to);
    }
  });
});

describe('contentStartsWith', () => {
  it('tells whether a content begins with another, inline or chunked, however the longer one was stored', () => {
    const fs = new VaultFs(store, 'default', { source: 'sdk' });
    const cases: Array<[string, Buffer]> = [
      ['small', randomBytes(5000)],
      ['at the inline limit', randomBytes(INLINE_MAX)],
      ['chunked', randomBytes(2 * INLINE_MAX + 123)],
    ];
    for (const [what, base] of cases) {
      const baseRef = putContent(store, base);
      fs.writeFile(`/prefix-${what}`, base);
      fs.appendFile(`/prefix-${what}`, randomBytes(300_000));
      const grown = fs.stat(`/prefix-${what}`).hash!;
      const whole = putContent(store, Buffer.concat([base, randomBytes(10)])).hash;
      expect(contentStartsWith(store, grown, baseRef.hash, base.length), what).toBe(true);
      expect(contentStartsWith(store, whole, baseRef.hash, base.length), what).toBe(true);
      expect(contentStartsWith(store, baseRef.hash, baseRef.hash, base.length), what).toBe(true);
      // One byte changed anywhere in the base's range (the first, the last) is not a prefix.
      for (const at of [0, base.length - 1]) {
        const changed = Buffer.from(base);
        changed[at] = changed[at]! ^ 1;
        const other = putContent(store, Buffer.concat([changed, randomBytes(10)])).hash;
        expect(contentStartsWith(store, other, baseRef.hash, base.length), `${what}, byte ${at}`).toBe(false);
      }
      // A shorter content cannot begin with a longer one; a wrong size is no prefix; empty always is.
      expect(contentStartsWith(store, putContent(store, base.subarray(0, 100)).hash, baseRef.hash, base.length), what).toBe(false);
      expect(contentStartsWith(store, grown, baseRef.hash, base.length - 1), what).toBe(false);
      expect(contentStartsWith(store, grown, null, 0), what).toBe(true);
    }
  });
});
