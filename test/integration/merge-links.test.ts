import { afterEach, expect, it } from 'vitest';
import { AvfsError } from '../../src/errors.js';
import { restoreCheckpoint } from '../../src/store/checkpoints.js';
import { mergeVaults, undoMerge, type MergeReport } from '../../src/store/merge.js';
import { hashBytes } from '../../src/core/hash.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { forkVault } from '../../src/store/vaults.js';
import { openTempStore, seededRandom } from '../helpers.js';

/**
 * Merges of vaults whose files have hard links, under random edits on both sides (links made,
 * names removed, renamed or replaced by new files, edits through one name). The merge rules know
 * names, not inodes (merge-model.test.ts checks them); this checks what the store must add:
 *  - the link groups stay consistent: every name of an inode shows its state and its count;
 *  - a name neither side changed keeps its content (a write through a link the source no longer
 *    has must not reach it);
 *  - undo, or restoring the merge's checkpoint, gives back exactly the tree before the merge, link
 *    groups and counts included.
 */

const actor = { source: 'sdk' as const };
let store: Store;
let close: (() => void) | undefined;
afterEach(() => close?.());

type Snapshot = { text: Map<string, string>; groups: string[][] };

function snapshot(fs: VaultFs): Snapshot {
  const text = new Map<string, string>();
  const byIno = new Map<number, string[]>();
  for (const e of fs.walk('/d')) {
    if (e.type !== 'f') continue;
    text.set(e.path, fs.readFile(e.path).toString());
    byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), e.path]);
  }
  const groups = [...byIno.values()].map((g) => g.sort()).filter((g) => g.length > 1).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
  return { text, groups };
}

/** Every name of an inode shows one state, and the count of its names. */
function expectConsistent(fs: VaultFs, context: string): void {
  const byIno = new Map<number, { path: string; hash: string | null; mode: number; nlink: number }[]>();
  for (const e of fs.walk('/d')) if (e.type === 'f') byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), { path: e.path, hash: e.hash, mode: e.mode, nlink: e.nlink }]);
  for (const names of byIno.values()) {
    for (const n of names) {
      expect(n.nlink, `${context}: ${n.path} nlink`).toBe(names.length);
      expect([n.hash, n.mode], `${context}: ${n.path} state`).toEqual([names[0]!.hash, names[0]!.mode]);
    }
  }
}

function edits(fs: VaultFs, rand: (n: number) => number, count: number, log: string[], tag: string): void {
  const names = () => fs.walk('/d').filter((e) => e.type === 'f').map((e) => e.path);
  const fresh = () => `/d/${tag}${rand(1000)}`;
  for (let done = 0; done < count; ) {
    const list = names();
    const pick = () => list[rand(list.length)]!;
    const r = rand(6);
    const to = fresh();
    if (fs.exists(to)) continue;
    if (r === 0 || list.length === 0) {
      fs.writeFile(to, `${to} by ${tag}\n`);
      log.push(`${tag}: create ${to}`);
    } else if (r === 1) {
      const from = pick();
      fs.link(from, to);
      log.push(`${tag}: ln ${from} ${to}`);
    } else if (r === 2) {
      const path = pick();
      fs.rm(path);
      log.push(`${tag}: rm ${path}`);
    } else if (r === 3) {
      const path = pick();
      fs.writeFile(path, `${fs.readFile(path).toString()}${tag} edit\n`);
      log.push(`${tag}: edit ${path}`);
    } else if (r === 4) {
      const path = pick();
      fs.rm(path);
      fs.writeFile(path, `${path} replaced by ${tag}\n`);
      log.push(`${tag}: replace ${path}`);
    } else {
      const path = pick();
      fs.mv(path, to);
      log.push(`${tag}: mv ${path} ${to}`);
    }
    done++;
  }
}

it('random edits with hard links on both sides: consistent link groups, untouched names keep their content, undo restores links', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = seededRandom(seed);
    const log: string[] = [];
    close?.();
    ({ store, close } = openTempStore()); // a home per seed: forks and history do not pile up
    const main = new VaultFs(store, 'default', actor);
    main.mkdir('/d');
    edits(main, rand, 10, log, 'm');
    const source = `s${seed}`;
    forkVault(store, 'default', source, actor);
    const theirs = new VaultFs(store, source, actor);
    const base = snapshot(main);
    edits(main, rand, 1 + rand(6), log, 'o');
    edits(theirs, rand, 1 + rand(6), log, 't');
    const before = snapshot(main);
    const after = snapshot(theirs);
    const context = `seed ${seed}:\n${log.join('\n')}`;
    const strategy = (['ours', 'theirs', 'union'] as const)[rand(3)]!;
    let report: MergeReport;
    try {
      report = mergeVaults(store, source, { actor, strategy });
      if (report.status === 'up_to_date') continue;
    } catch (err) {
      if (err instanceof AvfsError && err.code === 'MERGE_CONFLICT') continue; // union of a non-text: the rules' business
      throw err;
    }
    const checkpoint = report.checkpoint;
    expectConsistent(main, `${context}\nafter merge (${strategy})`);
    const merged = snapshot(main);
    // The report is what happened: each name it lists holds its `after`, every other name is as before.
    expectReported(report, before, merged, context);
    for (const [path, text] of base.text) {
      if (before.text.get(path) === text && after.text.get(path) === text) expect(merged.text.get(path), `${context}\n${path} untouched by both`).toBe(text);
    }
    // Back as before: by undo, or (every other seed) by restoring the merge's own checkpoint.
    if (seed % 2 === 0 && checkpoint) restoreCheckpoint(main, checkpoint);
    else undoMerge(store, source, { actor, force: true });
    expectConsistent(main, `${context}\nafter going back`);
    expect(snapshot(main), `${context}\nafter going back`).toEqual(before);
    // Merged again after more work, each way: the source's names are read against its state at the
    // last merge (the base a merge record gives), and against the target's side of it.
    for (const [from, into, fs] of [
      [source, 'default', main],
      ['default', source, theirs],
    ] as const) {
      edits(main, rand, 1 + rand(4), log, 'o2');
      edits(theirs, rand, 1 + rand(4), log, 't2');
      const was = snapshot(fs);
      const again = `seed ${seed}:\n${log.join('\n')}\nmerge ${from} into ${into}`;
      try {
        const second = mergeVaults(store, from, { actor, strategy, into });
        expectConsistent(fs, again);
        expectReported(second, was, snapshot(fs), again);
      } catch (err) {
        if (!(err instanceof AvfsError && err.code === 'MERGE_CONFLICT')) throw err;
      }
    }
  }
});

/** The report is what happened: each name it lists holds its `after`, every other name is as before. */
function expectReported(report: MergeReport, before: Snapshot, after: Snapshot, context: string): void {
  const listed = new Map(report.changes.map((c) => [c.path, c.after]));
  for (const path of new Set([...before.text.keys(), ...after.text.keys()])) {
    const now = after.text.get(path);
    if (listed.has(path)) expect(listed.get(path)?.hash ?? null, `${context}\n${path} as reported`).toBe(now === undefined ? null : hashBytes(Buffer.from(now)));
    else expect(now, `${context}\n${path} not in the report`).toBe(before.text.get(path));
  }
}
