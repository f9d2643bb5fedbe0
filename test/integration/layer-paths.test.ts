import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getEntry, PROBE_ALL_LAYERS } from '../../src/store/entries.js';
import { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { avfs, openTempStore } from '../helpers.js';

/**
 * Reads through a fork chain skip the layers this connection knows cannot hold the path
 * (layer-paths.ts). These tests change layers behind the connection's back (another process, a
 * rolled-back transaction) between two reads and check that the second read sees the change.
 */

const actor = { source: 'sdk' as const };
let store: Store;
let home: { dir: string };
let close: () => void;
beforeEach(() => ({ store, home, close } = openTempStore()));
afterEach(() => close());

/**
 * How many forks `to` is below `from` in forkDeep. Past PROBE_ALL_LAYERS layers every read consults
 * the sets; in shorter chains only reads inside a transaction do (outside one they probe every layer).
 */
const DEPTHS: Array<[string, number]> = [
  ['past PROBE_ALL_LAYERS layers', PROBE_ALL_LAYERS],
  ['a direct fork', 1],
];
let depth = PROBE_ALL_LAYERS;

/** Forks `to` from `from` through forks in between, `depth` forks below it. */
function forkDeep(from: string, to: string): void {
  let parent = from;
  for (let i = 1; i < depth; i++) {
    forkVault(store, parent, `${to}-between-${i}`, actor);
    parent = `${to}-between-${i}`;
  }
  forkVault(store, parent, to, actor);
}

/** default → (forks between) → mid → leaf, each fork with files of its own, and /p.txt only in default. */
function chain(): { root: VaultFs; mid: VaultFs; leaf: VaultFs } {
  const root = new VaultFs(store, 'default', actor);
  root.writeFile('/p.txt', 'root 1');
  root.writeFile('/other.txt', 'x');
  forkDeep('default', 'mid');
  const mid = new VaultFs(store, 'mid', actor);
  mid.writeFile('/mid-own.txt', 'm');
  forkVault(store, 'mid', 'leaf', actor);
  const leaf = new VaultFs(store, 'leaf', actor);
  leaf.writeFile('/leaf-own.txt', 'l');
  return { root, mid, leaf };
}

const cat = (fs: VaultFs, path: string) => fs.readFile(path).toString();

describe.each(DEPTHS)('reads through fork layers see every change: %s', (_, forks) => {
  beforeEach(() => {
    depth = forks;
  });

  it('another process writes into a fork layer between two reads', async () => {
    const { mid, leaf } = chain();
    expect(cat(mid, '/p.txt')).toBe('root 1');
    expect(cat(leaf, '/p.txt')).toBe('root 1');
    expect(getEntry(store, leaf.row(), '/p.txt')?.size).toBe(6);
    // Another process writes into mid's own layer (and, first, the old state into leaf's: a fork
    // does not see its parent's later changes). A read that still skipped mid's layer would show
    // the root's row.
    let r = await avfs(home.dir, ['--vault', 'mid', 'write', '/p.txt', 'mid 2']);
    expect(r.code, r.stderr).toBe(0);
    // First outside a transaction (the mount's lookups), then inside one (VaultFs).
    expect(getEntry(store, mid.row(), '/p.txt')?.size).toBe(5);
    expect(cat(mid, '/p.txt')).toBe('mid 2');
    expect(cat(leaf, '/p.txt')).toBe('root 1');
    // And into leaf's own layer.
    r = await avfs(home.dir, ['--vault', 'leaf', 'write', '/other.txt', 'leaf 2']);
    expect(r.code, r.stderr).toBe(0);
    expect(cat(leaf, '/other.txt')).toBe('leaf 2');
    expect(getEntry(store, leaf.row(), '/other.txt')?.size).toBe(6);
  });

  it("another process's write in the root pushes the old state into the fork, which keeps showing it", async () => {
    const { root, mid, leaf } = chain();
    expect(cat(leaf, '/p.txt')).toBe('root 1');
    expect(cat(mid, '/p.txt')).toBe('root 1');
    // The root changes /p.txt: its direct fork (the first between it and mid) gets the old state in
    // its layer first. A read that still skipped that layer would find the root's new row.
    const r = await avfs(home.dir, ['--vault', 'default', 'write', '/p.txt', 'root 2']);
    expect(r.code, r.stderr).toBe(0);
    expect(getEntry(store, leaf.row(), '/p.txt')?.size).toBe(6);
    expect(cat(root, '/p.txt')).toBe('root 2');
    expect(cat(mid, '/p.txt')).toBe('root 1');
    expect(cat(leaf, '/p.txt')).toBe('root 1');
    expect(getEntry(store, leaf.row(), '/p.txt')?.size).toBe(6);
  });

  it('another process deletes in a fork: the read finds the whiteout', async () => {
    const { mid, leaf } = chain();
    expect(mid.exists('/other.txt')).toBe(true);
    const r = await avfs(home.dir, ['--vault', 'mid', 'rm', '/other.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(mid.exists('/other.txt')).toBe(false);
    expect(leaf.exists('/other.txt')).toBe(true);
  });

  it('a transaction reads one state throughout; the next one sees what another connection committed meanwhile', () => {
    const { mid, leaf } = chain();
    const other = Store.create(home.dir);
    try {
      const elsewhere = new VaultFs(other, 'mid', actor);
      store.read(() => {
        expect(cat(leaf, '/p.txt')).toBe('root 1'); // reads (and confirms) the layers' paths
        elsewhere.writeFile('/p.txt', 'mid 2'); // commits beside this reader (WAL)
        elsewhere.writeFile('/new.txt', 'n');
        expect(cat(mid, '/p.txt')).toBe('root 1');
        expect(mid.exists('/new.txt')).toBe(false);
      });
      // A transaction that trusted the paths confirmed in the last one would skip mid's layer.
      expect(store.read(() => cat(mid, '/new.txt'))).toBe('n');
      expect(cat(mid, '/p.txt')).toBe('mid 2');
      expect(cat(leaf, '/p.txt')).toBe('root 1');
      // The mount's lingering read: the first request after a commit elsewhere reads in a new transaction.
      store.lingerRead(60_000);
      expect(getEntry(store, mid.row(), '/new.txt')?.size).toBe(1);
      elsewhere.writeFile('/later.txt', 'nn');
      store.lingerRead(60_000);
      expect(getEntry(store, mid.row(), '/later.txt')?.size).toBe(2);
      store.endLinger();
    } finally {
      other.release();
    }
  });

  it("this connection's own writes and deletes in a fork are seen at once, in and after the transaction", () => {
    const { root, mid, leaf } = chain();
    expect(cat(mid, '/p.txt')).toBe('root 1');
    expect(cat(leaf, '/p.txt')).toBe('root 1');
    store.mutate(() => {
      mid.writeFile('/p.txt', 'mid 2');
      expect(cat(mid, '/p.txt')).toBe('mid 2');
      expect(cat(leaf, '/p.txt')).toBe('root 1');
    });
    expect(cat(mid, '/p.txt')).toBe('mid 2');
    mid.rm('/p.txt');
    expect(mid.exists('/p.txt')).toBe(false);
    expect(cat(leaf, '/p.txt')).toBe('root 1');
    root.writeFile('/p.txt', 'root 2');
    expect(mid.exists('/p.txt')).toBe(false);
    expect(cat(leaf, '/p.txt')).toBe('root 1');
  });

  it('a rolled-back transaction leaves no trace in what the forks show', async () => {
    const { root, mid } = chain();
    mid.writeFile('/m.txt', 'kept');
    expect(cat(mid, '/p.txt')).toBe('root 1');
    expect(cat(mid, '/m.txt')).toBe('kept');
    // Another process commits: what this connection knew of the layers is read again when next needed.
    const r = await avfs(home.dir, ['--vault', 'default', 'write', '/z.txt', 'z']);
    expect(r.code, r.stderr).toBe(0);
    expect(() =>
      store.mutate(() => {
        mid.rm('/m.txt'); // deletes the row in mid's own layer
        mid.writeFile('/p.txt', 'mid 2');
        // Reads inside the deleting transaction: must not record mid's layer without /m.txt.
        expect(mid.exists('/m.txt')).toBe(false);
        expect(cat(mid, '/p.txt')).toBe('mid 2');
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(cat(mid, '/m.txt')).toBe('kept');
    expect(cat(mid, '/p.txt')).toBe('root 1');
    // A rolled-back write in the root: its direct fork's layer (on mid's chain) got the old state
    // pushed down, then lost it.
    expect(() =>
      store.mutate(() => {
        root.writeFile('/other.txt', 'root 2');
        expect(cat(mid, '/other.txt')).toBe('x');
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(cat(mid, '/other.txt')).toBe('x');
    root.writeFile('/other.txt', 'root 3');
    expect(cat(mid, '/other.txt')).toBe('x');
    expect(cat(root, '/other.txt')).toBe('root 3');
  });

  it('a rolled-back delete in a layer read for the first time inside that transaction', async () => {
    const root = new VaultFs(store, 'default', actor);
    root.writeFile('/a.txt', 'a');
    root.writeFile('/b.txt', 'b');
    forkDeep('default', 'f');
    const f = new VaultFs(store, 'f', actor);
    expect(cat(f, '/a.txt')).toBe('a');
    const r = await avfs(home.dir, ['--vault', 'default', 'write', '/z.txt', 'z']);
    expect(r.code, r.stderr).toBe(0);
    expect(() =>
      store.mutate(() => {
        root.rm('/a.txt'); // the root's row goes; f gets it pushed down into its own layer
        // The first read through both layers since the other process's commit, after the delete.
        expect(cat(f, '/b.txt')).toBe('b');
        expect(cat(f, '/a.txt')).toBe('a');
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(cat(root, '/a.txt')).toBe('a');
    expect(cat(f, '/a.txt')).toBe('a');
  });
});
