import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { openTempStore } from '../helpers.js';

/**
 * VaultFs.walkUpTo (MCP `tree`'s limit) stops reading at the limit and finds the directories
 * with children past it by asking only a few of them. Checked against the whole walk, cut after
 * the fact, on trees whose names sort around '/' ('a-b' and 'a b' come before 'a/x', 'a0' after),
 * through forks that delete and add (their whiteouts must not count as children).
 */

const actor = { source: 'sdk' as const };
let store: Store;
let close: () => void;
beforeEach(() => ({ store, close } = openTempStore()));
afterEach(() => close());

const NAMES = ['a', 'a-b', 'a b', 'a0', 'a.x', 'b', 'é', 'z'];

function randomTree(fs: VaultFs, rnd: () => number, files: number): void {
  for (let i = 0; i < files; i++) {
    const depth = 1 + Math.floor(rnd() * 4);
    const parts = Array.from({ length: depth }, () => NAMES[Math.floor(rnd() * NAMES.length)]!);
    const path = `/${parts.join('/')}`;
    try {
      if (rnd() < 0.3) fs.mkdir(path, { parents: true });
      else fs.writeFile(path, `${i}`, { parents: true });
    } catch {
      // a file already where a directory would go, or the other way round: skip that one
    }
  }
}

/** The walk cut after the fact: what the tree shows, and which of its directories (the top one included) lost children. */
function expected(fs: VaultFs, path: string, limit: number, depth?: number) {
  const all = fs.walk(path, depth);
  const shown = all.slice(0, limit).map((e) => e.path);
  const listed = new Set([fs.stat(path).path, ...shown]);
  return { entries: shown, cut: [...new Set(all.slice(limit).map((e) => e.parent))].filter((dir) => listed.has(dir)).sort() };
}

function actual(fs: VaultFs, path: string, limit: number, depth?: number) {
  const { entries, cut } = fs.walkUpTo(path, limit, depth);
  return { entries: entries.map((e) => e.path), cut: [...cut].sort() };
}

describe('walkUpTo', () => {
  it('gives the first entries of the walk and the directories that lost children to the limit, at every limit and depth', () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const root = new VaultFs(store, 'default', actor);
    randomTree(root, rnd, 120);
    forkVault(store, 'default', 'f', actor);
    const fork = new VaultFs(store, 'f', actor);
    // The fork deletes some of what it inherited (whiteouts over the root's rows) and adds its own.
    for (const e of fork.walk('/').filter(() => rnd() < 0.15)) {
      try {
        fork.rm(e.path, { recursive: true });
      } catch {
        // already gone with a directory removed before it
      }
    }
    randomTree(fork, rnd, 40);
    let checked = 0;
    for (const fs of [root, fork]) {
      const dirs = ['/', ...fs.walk('/').filter((e) => e.type === 'd').map((e) => e.path)].slice(0, 12);
      for (const dir of dirs) {
        const total = fs.walk(dir).length;
        for (const depth of [undefined, 1, 2, 3, 17]) {
          for (let limit = 1; limit <= total + 1; limit++) {
            expect(actual(fs, dir, limit, depth), `${fs.name} ${dir} limit ${limit} depth ${depth}`).toEqual(expected(fs, dir, limit, depth));
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('a file answers itself; a limit past the tree cuts nothing', () => {
    const fs = new VaultFs(store, 'default', actor);
    fs.writeFile('/d/x', '1', { parents: true });
    expect(actual(fs, '/d/x', 5)).toEqual({ entries: ['/d/x'], cut: [] });
    expect(actual(fs, '/', 5)).toEqual({ entries: ['/d', '/d/x'], cut: [] });
    expect(actual(fs, '/', 1)).toEqual({ entries: ['/d'], cut: ['/d'] });
  });
});

const nameOf = (e: { path: string }) => e.path.slice(e.path.lastIndexOf('/') + 1);

describe('VaultFs.list pages', () => {
  it('after a name, in a fork with whiteouts: the pages together are the whole listing, in order, once each', () => {
    const root = new VaultFs(store, 'default', actor);
    const names = ['a', 'a b', 'a-b', 'a.b', 'a0', 'b', 'é', 'z', '🙂', '中'];
    for (const n of names) root.writeFile(`/d/${n}`, n, { parents: true });
    forkVault(store, 'default', 'f', actor);
    const fork = new VaultFs(store, 'f', actor);
    fork.rm('/d/a-b');
    fork.rm('/d/z');
    fork.writeFile('/d/a.c', 'own');
    for (const fs of [root, fork]) {
      const whole = fs.list('/d').map(nameOf);
      for (const size of [1, 2, 3, 20]) {
        const seen: string[] = [];
        let after: string | undefined;
        for (let pages = 0; pages <= whole.length; pages++) {
          const page = fs.list('/d', size, after);
          seen.push(...page.map(nameOf));
          if (page.length < size) break;
          after = nameOf(page[page.length - 1]!);
        }
        expect(seen, `${fs.name} pages of ${size}`).toEqual(whole);
      }
    }
    expect(fork.list('/d').map(nameOf)).not.toContain('z');
  });
});
