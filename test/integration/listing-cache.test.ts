import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListingCache } from '../../src/mount/listing-cache.js';
import { openStore, type Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault } from '../../src/store/vaults.js';
import { tempDir } from '../helpers.js';

// The mount's directory listings on a real store: a change drops the listings of the directories
// it touched (and of a changed directory itself), and keeps every other one.

let tmp: ReturnType<typeof tempDir>;
let store: Store;
let fs: VaultFs;
let other: VaultFs;

beforeAll(() => {
  tmp = tempDir('avfs-listing-cache-');
  store = openStore(join(tmp.dir, 'home'));
  fs = new VaultFs(store, 'default', { source: 'mount' });
  for (const d of ['/a/sub', '/b', '/c']) fs.mkdir(d, { parents: true });
  fs.writeFile('/a/sub/f', 'x');
  fs.writeFile('/b/g', 'y');
  createVault(store, 'other', { source: 'cli' });
  other = new VaultFs(store, 'other', { source: 'cli' });
});
afterAll(() => {
  store.release();
  tmp.cleanup();
});

function cacheOf(...dirs: string[]) {
  const cache = new ListingCache<string>(store, fs.row().id);
  for (const d of dirs) {
    expect(cache.get(d)).toBeUndefined();
    cache.set(d, `listing of ${d}`);
  }
  return cache;
}
const kept = (cache: ListingCache<string>, dirs: string[]) => dirs.filter((d) => cache.get(d) !== undefined);

describe('ListingCache', () => {
  it('a new file drops only its directory listing', () => {
    const cache = cacheOf('/', '/a', '/a/sub', '/b', '/c');
    fs.writeFile('/b/new', 'z');
    expect(kept(cache, ['/', '/a', '/a/sub', '/b', '/c'])).toEqual(['/', '/a', '/a/sub', '/c']);
  });

  it('times-only changes keep every listing; a change in another vault too', () => {
    const cache = cacheOf('/', '/a', '/b');
    fs.utimes('/b/g', 1000, 2000);
    other.writeFile('/elsewhere', 'w');
    expect(kept(cache, ['/', '/a', '/b'])).toEqual(['/', '/a', '/b']);
  });

  it('removing and renaming drop the listings on both sides and of everything moved', () => {
    const cache = cacheOf('/', '/a', '/a/sub', '/b', '/c');
    fs.rename('/a', '/c/a2');
    expect(kept(cache, ['/', '/a', '/a/sub', '/b', '/c'])).toEqual(['/b']);
    const again = cacheOf('/', '/b', '/c', '/c/a2', '/c/a2/sub');
    fs.rm('/c/a2', { recursive: true });
    expect(kept(again, ['/', '/b', '/c', '/c/a2', '/c/a2/sub'])).toEqual(['/', '/b']);
  });

  it('a listing set after a get is not dropped by changes the get already saw', () => {
    const cache = new ListingCache<string>(store, fs.row().id);
    fs.writeFile('/b/later', 'l');
    expect(cache.get('/b')).toBeUndefined();
    cache.set('/b', 'fresh');
    expect(cache.get('/b')).toBe('fresh');
  });
});
