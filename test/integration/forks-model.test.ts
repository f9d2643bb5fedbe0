import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addTags, getTags } from '../../src/store/annotations.js';
import { restoreCheckpoint, saveCheckpoint } from '../../src/store/checkpoints.js';
import { gc } from '../../src/store/gc.js';
import { prune } from '../../src/store/prune.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { deleteVault, forkVault, listVaults } from '../../src/store/vaults.js';
import { openTempStore, seededRandom } from '../helpers.js';

/**
 * Forks, checkpoints, restores, prune and gc against a model: every vault is a plain map of what
 * it should show, a fork copies its parent's map, a checkpoint copies its vault's map, a restore
 * puts that copy back, and prune or gc change no map. After every step every vault must show
 * exactly its map (content bytes included), however deep the chain of forks it reads through,
 * whichever vaults in the middle were deleted.
 */

type Item = { type: 'f' | 'd'; mode: number; data?: string; tags: string };
type Tree = Map<string, Item>;
const actor = { source: 'sdk' as const };

let store: Store;
let close: () => void;
beforeEach(() => ({ store, close } = openTempStore()));
afterEach(() => close());

function shown(name: string): Tree {
  const fs = new VaultFs(store, name, actor);
  const tree: Tree = new Map();
  for (const e of fs.walk('/')) {
    const item: Item = { type: e.type as 'f' | 'd', mode: e.mode, tags: getTags(fs, e.path).tags.join(',') };
    if (e.type === 'f') item.data = fs.readFile(e.path).toString('base64');
    tree.set(e.path, item);
  }
  return tree;
}

const sorted = (t: Tree) => [...t].sort(([a], [b]) => (a < b ? -1 : 1));

function run(seed: number, steps: number) {
  const next = seededRandom(seed);
  const rand = () => next(1_000_000) / 1_000_000;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const models = new Map<string, Tree>([['default', new Map()]]);
  const checkpoints = new Map<string, Tree>(); // "vault/name" → the tree it names
  let forks = 0;
  let saves = 0;
  const log: string[] = [];

  for (let step = 0; step < steps; step++) {
    const vault = pick([...models.keys()]);
    const model = models.get(vault)!;
    const fs = new VaultFs(store, vault, actor);
    const dirs = [...model].filter(([, i]) => i.type === 'd').map(([p]) => p);
    const files = [...model].filter(([, i]) => i.type === 'f').map(([p]) => p);
    const r = rand();
    if (r < 0.3) {
      const dir = `/d${Math.floor(rand() * 4)}`;
      const path = `${dir}/f${Math.floor(rand() * 6)}`;
      const data = rand() < 0.1 ? randomBytes(70_000 + Math.floor(rand() * 100_000)) : Buffer.from(`${vault} ${step} ${rand()}`);
      fs.writeFile(path, data, { parents: true });
      if (!model.has(dir)) model.set(dir, { type: 'd', mode: 0o755, tags: '' });
      const old = model.get(path);
      model.set(path, { type: 'f', mode: old?.mode ?? 0o644, data: data.toString('base64'), tags: old?.tags ?? '' });
      log.push(`${vault}: write ${path}`);
    } else if (r < 0.38 && dirs.length) {
      const dir = pick(dirs);
      fs.rm(dir, { recursive: true });
      for (const p of [...model.keys()]) if (p === dir || p.startsWith(dir + '/')) model.delete(p);
      log.push(`${vault}: rm -r ${dir}`);
    } else if (r < 0.46 && files.length) {
      const path = pick(files);
      fs.rm(path);
      model.delete(path);
      log.push(`${vault}: rm ${path}`);
    } else if (r < 0.54 && files.length && dirs.length) {
      const from = pick(files);
      const to = `${pick(dirs)}/m${Math.floor(rand() * 4)}`;
      if (from === to) continue;
      fs.mv(from, to);
      model.set(to, model.get(from)!);
      model.delete(from);
      log.push(`${vault}: mv ${from} ${to}`);
    } else if (r < 0.57 && dirs.length && rand() < 0.4) {
      // A copy of a whole directory at a new top-level name (entries.ts copyBelow).
      const from = pick(dirs);
      const to = `/c${Math.floor(rand() * 3)}`;
      if (model.has(to)) continue;
      fs.cp(from, to, { recursive: true });
      for (const [p, item] of [...model]) if (p === from || p.startsWith(from + '/')) model.set(to + p.slice(from.length), { ...item });
      log.push(`${vault}: cp -r ${from} ${to}`);
    } else if (r < 0.57 && dirs.length) {
      // A whole directory, to a new top-level name or into another directory (entries.ts moveBelow).
      const from = pick(dirs);
      const to = rand() < 0.5 ? `/e${Math.floor(rand() * 3)}` : `${pick(dirs)}/s${Math.floor(rand() * 2)}`;
      if (model.has(to) || to === from || to.startsWith(from + '/')) continue;
      fs.mv(from, to);
      for (const [p, item] of [...model]) {
        if (p !== from && !p.startsWith(from + '/')) continue;
        model.delete(p);
        model.set(to + p.slice(from.length), item);
      }
      log.push(`${vault}: mv ${from} ${to}`);
    } else if (r < 0.6 && files.length) {
      const path = pick(files);
      const mode = pick([0o600, 0o644, 0o755]);
      fs.chmod(path, mode);
      model.get(path)!.mode = mode;
      log.push(`${vault}: chmod ${path}`);
    } else if (r < 0.65 && files.length) {
      const path = pick(files);
      const tag = pick(['a', 'b']);
      addTags(fs, path, [tag]);
      const item = model.get(path)!;
      item.tags = [...new Set([...item.tags.split(',').filter(Boolean), tag])].sort().join(',');
      log.push(`${vault}: tag ${path}`);
    } else if (r < 0.73 && models.size < 8) {
      const name = `v${++forks}`;
      forkVault(store, vault, name, actor);
      models.set(name, new Map([...model].map(([p, i]) => [p, { ...i }])));
      log.push(`${vault}: fork ${name}`);
    } else if (r < 0.81) {
      const name = `c${++saves}`;
      saveCheckpoint(fs, name);
      checkpoints.set(`${vault}/${name}`, new Map([...model].map(([p, i]) => [p, { ...i }])));
      log.push(`${vault}: checkpoint ${name}`);
    } else if (r < 0.89) {
      const mine = [...checkpoints.keys()].filter((k) => k.startsWith(vault + '/'));
      if (!mine.length) continue;
      const key = pick(mine);
      const { saved_before } = restoreCheckpoint(fs, key.slice(vault.length + 1));
      models.set(vault, new Map([...checkpoints.get(key)!].map(([p, i]) => [p, { ...i }])));
      // The restore saved what it replaced; it is a checkpoint of this vault like any other.
      if (saved_before) checkpoints.set(`${vault}/${saved_before}`, new Map([...model].map(([p, i]) => [p, { ...i }])));
      log.push(`${vault}: restore ${key}`);
    } else if (r < 0.93 && vault !== 'default') {
      deleteVault(store, vault, true, actor);
      models.delete(vault);
      for (const k of [...checkpoints.keys()]) if (k.startsWith(vault + '/')) checkpoints.delete(k);
      log.push(`delete ${vault}`);
    } else if (r < 0.97) {
      prune(store, { scope: { vault }, keep: 1, actor });
      log.push(`${vault}: prune --keep 1`);
    } else {
      gc(store, { graceMs: 0, actor });
      log.push('gc --grace 0');
    }
    for (const [name, tree] of models) {
      expect(sorted(shown(name)), `seed ${seed} step ${step} vault ${name}\n${log.slice(-12).join('\n')}`).toEqual(sorted(tree));
    }
  }
  // Every checkpoint still restores exactly, after all that pruning and collecting.
  gc(store, { graceMs: 0, actor });
  for (const [key, tree] of checkpoints) {
    const [vault, name] = key.split('/') as [string, string];
    restoreCheckpoint(new VaultFs(store, vault, actor), name);
    expect(sorted(shown(vault)), `seed ${seed}: restore ${key}`).toEqual(sorted(tree));
  }
  expect(listVaults(store).map((v) => v.name).sort()).toEqual([...models.keys()].sort());
}

describe('forks, checkpoints, prune and gc against a model', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: every vault always shows its model`, () => run(seed, 300));
  }
});
