import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getTags } from '../../src/store/annotations.js';
import { listCheckpoints, restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { pathVersions } from '../../src/store/history.js';
import { gc } from '../../src/store/gc.js';
import { prune } from '../../src/store/prune.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { HIT_END, HIT_START, searchText } from '../../src/store/search.js';
import { openStore, type Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault, deleteVault, forkVault, getVault, listVaults } from '../../src/store/vaults.js';
import { mergeVaults, undoMerge } from '../../src/store/merge.js';
import { ROOT, expectContentIntact, openTempStore } from '../helpers.js';

/**
 * A home written by avfs before forks became layers (schema 5: every fork a full copy of its
 * parent's rows, tags in their own table, checkpoints as copied rows), made by
 * test/fixtures/home-schema5.sh, opened with today's code.
 */
const FIXTURE = join(ROOT, 'test', 'fixtures', 'home-schema5.db');
const actor = { source: 'sdk' as const };

type Shown = Record<string, string>;

/** Each vault's tree as schema 5 stored it (one full set of rows per vault), with its tags. */
function oldTrees(file: string): Record<string, Shown> {
  const db = new Database(file, { readonly: true });
  try {
    const out: Record<string, Shown> = {};
    const vaults = db.prepare('SELECT id, name FROM vaults').all() as Array<{ id: number; name: string }>;
    for (const v of vaults) {
      const tree: Shown = {};
      for (const e of db.prepare('SELECT path, type, mode, size, hash, target FROM entries WHERE vault_id = ? ORDER BY path').all(v.id) as Array<Record<string, unknown>>) {
        const tags = (db.prepare("SELECT key FROM annotations WHERE vault_id = ? AND path = ? AND kind = 't' ORDER BY key").all(v.id, e.path) as Array<{ key: string }>).map((r) => r.key);
        tree[e.path as string] = [e.type, e.mode, e.size, e.hash, e.target, tags.join(',')].join('|');
      }
      out[v.name] = tree;
    }
    return out;
  } finally {
    db.close();
  }
}

function shown(store: Store, vault: string): Shown {
  const fs = new VaultFs(store, vault, actor);
  const tree: Shown = {};
  for (const e of [fs.stat('/'), ...fs.walk('/')]) tree[e.path] = [e.type, e.mode, e.size, e.hash, e.target, getTags(fs, e.path).tags.join(',')].join('|');
  return tree;
}

let home: { dir: string; cleanup: () => void };
let store: Store;
let before: Record<string, Shown>;

beforeEach(() => {
  ({ home, store } = openTempStore({
    prepare: (dir) => {
      copyFileSync(FIXTURE, join(dir, 'avfs.db'));
      before = oldTrees(join(dir, 'avfs.db'));
    },
  }));
});
// Not openTempStore's close: a test here releases the store and opens the home again.
afterEach(() => {
  store.release();
  home.cleanup();
});

describe('migrating a schema 5 home', () => {
  it('every vault shows exactly the tree and tags it had, and the schema is current', () => {
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(Object.keys(before).sort()).toEqual(['deeper', 'default', 'feature', 'other']);
    for (const name of Object.keys(before)) expect(shown(store, name), name).toEqual(before[name]);
    expect(store.db.prepare("SELECT name FROM sqlite_master WHERE name IN ('annotations', 'checkpoint_annotations')").all()).toEqual([]);
  });

  it('forks became layers: they keep only rows that differ from their parent, counters match', () => {
    const layer = (name: string) =>
      Object.fromEntries(
        (store.db.prepare('SELECT path, type FROM entries WHERE vault_id = ? ORDER BY path').all(getVault(store, name).id) as Array<{ path: string; type: string }>).map((r) => [
          r.path,
          r.type,
        ]),
      );
    // feature: unchanged /src/lib falls through to the parent; what the parent gained after the fork, or
    // what the fork removed, is hidden by whiteouts ('x'); what the fork changed is its own.
    expect(layer('feature')).toEqual({
      '/': 'd',
      '/data': 'x',
      '/data/big.bin': 'x',
      '/src': 'd',
      '/src/after-fork.txt': 'x',
      '/src/feature.py': 'f',
      '/src/lib/util.py': 'f',
      '/src/main.py': 'f',
    });
    // deeper changed one thing since it forked from feature.
    expect(Object.keys(layer('deeper'))).toEqual(['/', '/deep.txt']);
    for (const name of Object.keys(before)) {
      const v = getVault(store, name);
      const files = Object.values(before[name]!).filter((s) => s.startsWith('f|'));
      expect({ files: v.files, bytes: v.bytes }, name).toEqual({ files: files.length, bytes: files.reduce((n, s) => n + Number(s.split('|')[2]), 0) });
    }
  });

  it('forks stay independent after the migration, both ways', () => {
    const parent = new VaultFs(store, 'default', actor);
    const feature = new VaultFs(store, 'feature', actor);
    parent.writeFile('/src/main.py', 'changed in the parent');
    parent.writeFile('/new-in-parent', 'p');
    parent.rm('/src/lib', { recursive: true });
    expect(shown(store, 'feature')).toEqual(before.feature);
    expect(shown(store, 'deeper')).toEqual(before.deeper);
    feature.writeFile('/src/feature.py', 'changed in the fork');
    expect(shown(store, 'deeper')).toEqual(before.deeper);
    expect(new VaultFs(store, 'deeper', actor).readFile('/src/feature.py').toString()).toBe('FEATURE = True');
  });

  it('inherited history is read through the fork chain', () => {
    const deeper = new VaultFs(store, 'deeper', actor);
    const log = pathVersions(store, deeper.row(), '/src/main.py', 10).map((r) => [r.version, r.vault]);
    expect(log).toEqual([
      [3, 'feature'],
      [2, 'default'],
      [1, 'default'],
    ]);
  });

  it('a checkpoint saved before the migration still restores exactly, and new ones are pointers', () => {
    const fs = new VaultFs(store, 'default', actor);
    const legacy = listCheckpoints(fs).find((c) => c.name === 'v1')!;
    expect(legacy.materialized).toBe(1);
    const db = new Database(FIXTURE, { readonly: true });
    const atV1 = Object.fromEntries(
      (db.prepare("SELECT path, hash FROM checkpoint_entries WHERE checkpoint_id = (SELECT id FROM checkpoints WHERE name = 'v1') ORDER BY path").all() as Array<{
        path: string;
        hash: string | null;
      }>).map((r) => [r.path, r.hash]),
    );
    db.close();
    restoreCheckpoint(fs, 'v1');
    expect(Object.fromEntries([fs.stat('/'), ...fs.walk('/')].map((e) => [e.path, e.hash]))).toEqual(atV1);
    expect(getTags(fs, '/src/main.py').tags).toEqual(['entry', 'python']);
    const pointer = saveCheckpoint(fs, 'after');
    expect(pointer.materialized).toBe(0);
  });

  it('deleting the middle of a fork chain keeps what the forks below show', () => {
    deleteVault(store, 'feature', true, actor);
    expect(shown(store, 'deeper')).toEqual(before.deeper);
    expect(listVaults(store).map((v) => v.name)).toEqual(['deeper', 'default', 'other']);
    forkVault(store, 'deeper', 'deepest', actor);
    expect(shown(store, 'deepest')).toEqual(before.deeper);
    // The name is free again; the history deeper inherited through it is not lost.
    createVault(store, 'feature', actor);
    expect(pathVersions(store, getVault(store, 'deeper'), '/src/main.py', 10)).toHaveLength(3);
  });

  it('opening again changes nothing', () => {
    const v = store.db.pragma('user_version', { simple: true });
    store.release();
    store = openStore(home.dir);
    expect(store.db.pragma('user_version', { simple: true })).toBe(v);
    for (const name of Object.keys(before)) expect(shown(store, name), name).toEqual(before[name]);
  });
});

/**
 * A home written by avfs with chunk reference counts in the chunks rows (schema 16), made by
 * test/fixtures/home-schema16.sh: migration 17 moves the counts into chunk_refs.
 */
describe('migrating a schema 16 home', () => {
  const fsOf = (s: Store) => new VaultFs(s, 'default', actor);
  const FIXTURE16 = join(ROOT, 'test', 'fixtures', 'home-schema16.db');
  let home16: { dir: string; cleanup: () => void };
  let store16: Store;
  let oldRefs: Array<{ id: number; refs: number }>;

  beforeEach(() => {
    ({ home: home16, store: store16 } = openTempStore({
      prepare: (dir) => {
        copyFileSync(FIXTURE16, join(dir, 'avfs.db'));
        const db = new Database(join(dir, 'avfs.db'), { readonly: true });
        oldRefs = db.prepare('SELECT id, refs FROM chunks ORDER BY id').all() as Array<{ id: number; refs: number }>;
        db.close();
      },
    }));
  });
  afterEach(() => {
    store16.release();
    home16.cleanup();
  });

  it('every chunk keeps its count, now in chunk_refs, and the content reads back whole', () => {
    expect(store16.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(new Set(oldRefs.map((r) => r.refs))).toEqual(new Set([1, 2, 3]));
    expect(store16.db.prepare('SELECT id, refs FROM chunk_refs ORDER BY id').all()).toEqual(oldRefs);
    expectContentIntact(store16);
    const fs = new VaultFs(store16, 'default', actor);
    const feature = new VaultFs(store16, 'feature', actor);
    const a = fs.readFile('/data/a.bin');
    const b = fs.readFile('/data/b.bin');
    expect(a.length).toBe(1153434);
    expect(b.subarray(600000, 600006).toString()).toBe('EDITED');
    expect(Buffer.concat([a.subarray(0, 600000), Buffer.from('EDITED'), a.subarray(600006)]).equals(b)).toBe(true);
    expect(feature.readFile('/data/b.bin').equals(Buffer.concat([b, Buffer.from('one more line\n')]))).toBe(true);
  });

  it('an avfs from before schema 17 still running on the migrated home (its statements, on a second connection) keeps the counts right, and its gc cannot delete a chunk in use', () => {
    const old = new Database(join(home16.dir, 'avfs.db'));
    try {
      // What schema 16 code did when it stored a content reusing a chunk and adding one.
      const reused = oldRefs[0]!.id;
      old.prepare('INSERT INTO chunks (hash, size, refs, created_at, data) VALUES (?, ?, 0, ?, ?)').run('e'.repeat(64), 3, Date.now() - 60_000, Buffer.from('abc'));
      const added = (old.prepare('SELECT id FROM chunks WHERE hash = ?').get('e'.repeat(64)) as { id: number }).id;
      old.prepare('UPDATE chunks SET refs = refs + ? WHERE id = ?').run(1, reused);
      old.prepare('UPDATE chunks SET refs = refs + ? WHERE id = ?').run(1, added);
      const counts = () => new Map((store16.db.prepare('SELECT id, refs FROM chunk_refs').all() as Array<{ id: number; refs: number }>).map((r) => [r.id, r.refs]));
      expect(counts().get(reused)).toBe(oldRefs[0]!.refs + 1);
      expect(counts().get(added)).toBe(1);
      // Its gc judged by chunks.refs, which schema 17 no longer keeps: a chunk stored since shows 0 there.
      fsOf(store16).writeFile('/new.bin', Buffer.concat([fsOf(store16).readFile('/data/a.bin'), Buffer.from('new tail')]));
      const fresh = (store16.db.prepare("SELECT c.id AS id FROM chunks c JOIN chunk_refs r ON r.id = c.id WHERE c.refs = 0 AND r.refs > 0").all() as Array<{ id: number }>).map((r) => r.id);
      expect(fresh.length).toBeGreaterThan(0);
      expect(() => old.prepare('DELETE FROM chunks WHERE id IN (SELECT value FROM json_each(?)) AND refs = 0').run(JSON.stringify(fresh))).toThrow(/still in use/);
      // Its decrements carry over too, and a chunk no list names goes (with its count row).
      old.prepare('UPDATE chunks SET refs = refs - ? WHERE id = ?').run(1, added);
      old.prepare('DELETE FROM chunks WHERE id = ? AND refs = 0').run(added);
      expect(counts().has(added)).toBe(false);
      const before = counts().get(reused)!;
      old.prepare('UPDATE chunks SET refs = refs - ? WHERE id = ?').run(1, reused);
      expect(counts().get(reused)).toBe(before - 1);
    } finally {
      old.close();
    }
    expectContentIntact(store16);
    expect(fsOf(store16).readFile('/new.bin').subarray(-8).toString()).toBe('new tail');
  });

  it('the full-text index is made anew without a copy of the text (schema 18), every text indexed by the upgrade itself: a text stored before is found, with its snippet', () => {
    const sql = (store16.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'fts'").get() as { sql: string }).sql;
    expect(sql).toMatch(/content = ''/);
    expect(store16.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'fts_content'").get()).toBeUndefined();
    // Nothing waits: a reader that cannot write (a read-only home) finds every text.
    const count = (table: string) => (store16.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    expect(count('text_index')).toBeGreaterThan(0);
    expect(count('fts')).toBe(count('text_index'));
    expect((store16.db.prepare("SELECT count(*) AS n FROM fts WHERE fts MATCH 'small'").get() as { n: number }).n).toBe(1);
    const hits = searchText(store16, fsOf(store16).row(), 'small', { limit: 10 }).hits;
    expect(hits.map((h) => [h.path, h.snippet])).toEqual([['/small.txt', `${HIT_START}small${HIT_END}`]]);
  });

  it('new writes count references in chunk_refs, and gc frees by them: a content shares its chunks, then both go', () => {
    const fs = new VaultFs(store16, 'default', actor);
    const a = fs.readFile('/data/a.bin');
    const c = Buffer.concat([a, Buffer.from('appended')]);
    fs.writeFile('/data/c.bin', c);
    expectContentIntact(store16);
    const chunksBefore = (store16.db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
    for (const p of ['/data/a.bin', '/data/b.bin', '/data/c.bin']) fs.rm(p);
    deleteVault(store16, 'feature', true, actor);
    prune(store16, { scope: { all: true }, keep: 1, actor });
    gc(store16, { graceMs: 0, actor });
    expectContentIntact(store16);
    const left = (store16.db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
    expect(left).toBeLessThan(chunksBefore);
    expect(left).toBe(0);
    expect((store16.db.prepare('SELECT count(*) AS n FROM chunk_refs').get() as { n: number }).n).toBe(0);
  });
});

/**
 * A home with merges undone before schema 19, made by today's code and taken back to schema 18
 * (the column dropped): migration 19 dates each undo by its last version.
 */
describe('migrating a schema 18 home with undone merges', () => {
  it('an undone merge gets the sequence of its undo, and a merge that passed its work on stops being a base', () => {
    const { home, store } = openTempStore();
    const main = new VaultFs(store, 'default', actor);
    main.writeFile('/a', 'a');
    forkVault(store, 'default', 'exp', actor);
    const exp = new VaultFs(store, 'exp', actor);
    exp.writeFile('/b', 'fork work');
    mergeVaults(store, 'exp', { actor });
    main.writeFile('/m', 'main work');
    mergeVaults(store, 'default', { actor, into: 'exp' });
    undoMerge(store, 'exp', { actor });
    const undoneSeq = store.db.prepare('SELECT undone_seq FROM merges WHERE undone_at IS NOT NULL').pluck().get() as number;
    expect(undoneSeq).toBeGreaterThan(0);
    store.db.exec('ALTER TABLE merges DROP COLUMN undone_seq; PRAGMA user_version = 18;');
    store.release();
    const again = openStore(home.dir);
    try {
      expect(again.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(again.db.prepare('SELECT undone_seq FROM merges WHERE undone_at IS NOT NULL').pluck().get()).toBe(undoneSeq);
      expect(mergeVaults(again, 'exp', { actor, dryRun: true }).changes.map((c) => [c.path, c.action])).toEqual([['/b', 'added']]);
    } finally {
      again.release();
      home.cleanup();
    }
  });
});
