// Issue 16: the store at real-workspace scale. Checkpoint save, restore of 100 changed paths and
// fork on 1k/10k/100k-file vaults with the database growth each costs, beside what copying every
// entry row (how schema 5 saved a checkpoint and forked) costs on the same vault in the same run;
// reads through a chain of four forks beside the same reads in the root vault.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { restoreCheckpoint, saveCheckpoint } from '../dist/store/checkpoints.js';
import { forkVault } from '../dist/store/vaults.js';
import { bytes, dur, mark, median, num, ratio, sample, target, timeMs } from './lib.js';

export const id = 'scale';
export const title = 'Scale: O(1) checkpoints and forks, restores by what changed, reads through fork chains (issue 16)';

const ACTOR = { source: 'sdk' };
const PLAN = {
  full: { sizes: [1000, 10000, 100000], runs: 10, restoreRuns: 7, reads: 20000, readRounds: 5 },
  quick: { sizes: [1000, 10000], runs: 5, restoreRuns: 3, reads: 5000, readRounds: 3 },
};
/** The same vaults measured before this issue (schema 5, fresh build, median of 10), from the issue text. */
const BEFORE = {
  1000: { save: 14, saveGrowth: 164e3, fork: 34, forkGrowth: 319e3 },
  10000: { save: 46, saveGrowth: 1.64e6, fork: 133, forkGrowth: 3.17e6 },
  50000: { save: 292, saveGrowth: 8.22e6, fork: 776, forkGrowth: 15.85e6 },
};

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const rows = [];
  const targets = [];
  for (const files of plan.sizes) {
    log(`${num(files)}-file vault`);
    const r = vaultBench(join(tmp, `v${files}`), files, plan);
    const big = files === 100000;
    const t = big
      ? {
          save: target('checkpoint save, 100k files', '≤ 5 ms', r.save, '<=', 5, 'ms'),
          saveGrowth: target('db growth per checkpoint, 100k files', '≤ 8 KB', r.saveGrowth / 1000, '<=', 8, ' KB'),
          restore: target('restore of 100 changed paths, 100k files', '≤ 50 ms', r.restore, '<=', 50, 'ms'),
          fork: target('fork, 100k files', '≤ 20 ms', r.fork, '<=', 20, 'ms'),
          forkGrowth: target('db growth per fork, 100k files', '≤ 256 KB', r.forkGrowth / 1000, '<=', 256, ' KB'),
        }
      : {};
    targets.push(...Object.values(t));
    const before = BEFORE[files];
    const row = (what, value, fmt, copy, tgt, old) => [
      `${num(files)} files: ${what}`,
      fmt(value),
      copy === null ? '—' : fmt(copy),
      copy === null ? '—' : ratio(value / copy),
      old === undefined ? '—' : fmt(old),
      tgt ? tgt.text : '—',
      tgt ? mark(tgt.met) : '',
    ];
    rows.push(row('checkpoint save', r.save, dur, r.copyRows, t.save, before?.save));
    rows.push(row('db growth per checkpoint', r.saveGrowth, bytes, r.copyGrowth, t.saveGrowth, before?.saveGrowth));
    rows.push(row('restore, 100 paths changed', r.restore, dur, null, t.restore, undefined));
    rows.push(row('fork', r.fork, dur, r.copyRows, t.fork, before?.fork));
    rows.push(row('db growth per fork', r.forkGrowth, bytes, r.copyGrowth, t.forkGrowth, before?.forkGrowth));
  }
  log('reads through a chain of four forks');
  const chain = chainBench(join(tmp, 'chain'), plan);
  const chainRows = chain.map((c) => [c.what, `${c.root.toFixed(2)} µs`, `${c.deep.toFixed(2)} µs`, ratio(c.deep / c.root), '≤ 1.2×', mark(c.deep / c.root <= 1.2)]);
  for (const c of chain) targets.push(target(`${c.what} in a fork of a fork of a fork of a fork`, '≤ 1.2× root', c.deep / c.root, '<=', 1.2));
  return {
    tables: [
      {
        caption: `Checkpoints, restores and forks by vault size (store API; medians of ${plan.runs} saves and forks, ${plan.restoreRuns} restores), beside copying every entry row of the same vault (INSERT … SELECT, how schema 5 saved a checkpoint and forked: measured in this run) and the figures measured before this change (from the issue; its largest vault had 50k files)`,
        columns: ['Vault and operation', 'avfs:', 'copy every row:', 'avfs / copy:', 'before (schema 5):', 'Target', 'Met'],
        rows,
      },
      {
        caption: `Reads in a fork of a fork of a fork of a fork (each fork with its own changes) beside the same reads in the root vault (µs per call; ${num(plan.reads)} random paths, median of ${plan.readRounds} rounds, interleaved)`,
        columns: ['Read', 'root:', '4 forks deep:', 'deep / root:', 'Target', 'Met'],
        rows: chainRows,
      },
    ],
    notes: [
      'Vaults hold files of ~40 bytes in 100-file directories, written in one transaction; the home is a fresh temp directory on the machine disk.',
      'Database growth is the size of avfs.db after a WAL checkpoint (TRUNCATE), before and after 10 saves (or forks), divided by 10.',
      'Restore: 100 random files are rewritten, then the checkpoint taken before is restored; each run rewrites them again first (not timed).',
      '"copy every row" copies the vault\'s entry rows into a scratch table with one INSERT … SELECT and measures the time and growth; it is what a checkpoint or a fork cost when they were copies.',
      'Chain reads: stat (VaultFs.stat), cat (VaultFs.readFile of a small file) and ls (VaultFs.list of a 100-entry directory), of paths the forks did not change, so each read falls through all four layers to the root.',
    ],
    targets,
  };
}

function dbSize(store) {
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  return statSync(join(store.home, 'avfs.db')).size;
}

function fill(fs, files) {
  const store = fs.store;
  const batch = 20000;
  for (let start = 0; start < files; start += batch) {
    store.mutate(() => {
      for (let i = start; i < Math.min(files, start + batch); i++) fs.writeFile(`/d${Math.floor(i / 100)}/f${i}.txt`, `file ${i} of the scale benchmark\n`, { parents: true });
    });
  }
}

function vaultBench(home, files, plan) {
  const store = openStore(home);
  try {
    const fs = new VaultFs(store, 'default', ACTOR);
    fill(fs, files);
    const vaultId = fs.row().id;
    // Saves: time each, growth over all of them.
    let n = 0;
    const sizeBefore = dbSize(store);
    const saves = sample(plan.runs, () => saveCheckpoint(fs, `s${n++}`));
    const saveGrowth = (dbSize(store) - sizeBefore) / plan.runs;
    // Forks.
    const forkBefore = dbSize(store);
    const forks = sample(plan.runs, () => forkVault(store, 'default', `f${n++}`, ACTOR));
    const forkGrowth = (dbSize(store) - forkBefore) / plan.runs;
    // What copying every entry row costs on this vault (schema 5's checkpoint and fork).
    store.db.exec('CREATE TABLE scratch AS SELECT * FROM entries WHERE 0');
    const copyBefore = dbSize(store);
    const copies = sample(plan.runs, () => store.mutate(() => store.db.prepare('INSERT INTO scratch SELECT * FROM entries WHERE vault_id = ?').run(vaultId)));
    const copyGrowth = (dbSize(store) - copyBefore) / plan.runs;
    store.db.exec('DROP TABLE scratch');
    // Restore of 100 changed paths.
    saveCheckpoint(fs, 'base');
    let round = 0;
    const change = () =>
      store.mutate(() => {
        round++;
        for (let k = 0; k < 100; k++) fs.writeFile(`/d${Math.floor(((k * 7919 + round * 104729) % files) / 100)}/f${(k * 7919 + round * 104729) % files}.txt`, `changed ${round} ${k}\n`);
      });
    const restores = [];
    for (let i = 0; i < plan.restoreRuns; i++) {
      change();
      restores.push(timeMs(() => restoreCheckpoint(fs, 'base', { saveBefore: false })));
    }
    return {
      save: median(saves),
      saveGrowth,
      fork: median(forks),
      forkGrowth,
      copyRows: median(copies),
      copyGrowth,
      restore: median(restores),
    };
  } finally {
    store.release();
  }
}

function chainBench(home, plan) {
  const store = openStore(home);
  try {
    const root = new VaultFs(store, 'default', ACTOR);
    const files = 10000;
    fill(root, files);
    let name = 'default';
    for (let depth = 1; depth <= 4; depth++) {
      forkVault(store, name, `chain${depth}`, ACTOR);
      name = `chain${depth}`;
      // Each fork changes something of its own (not the paths read below).
      const fork = new VaultFs(store, name, ACTOR);
      store.mutate(() => {
        for (let i = 0; i < 200; i++) fork.writeFile(`/own${depth}/g${i}.txt`, `fork ${depth} file ${i}\n`, { parents: true });
      });
    }
    const deep = new VaultFs(store, name, ACTOR);
    const paths = Array.from({ length: plan.reads }, (_, i) => {
      const f = (i * 7919) % files;
      return `/d${Math.floor(f / 100)}/f${f}.txt`;
    });
    const dirs = Array.from({ length: Math.ceil(plan.reads / 50) }, (_, i) => `/d${(i * 13) % (files / 100)}`);
    const reads = [
      ['stat', (v) => { for (const p of paths) v.stat(p); }, paths.length],
      ['cat', (v) => { for (const p of paths) v.readFile(p); }, paths.length],
      ['ls', (v) => { for (const d of dirs) v.list(d); }, dirs.length],
    ];
    return reads.map(([what, fn, calls]) => {
      const rootTimes = [];
      const deepTimes = [];
      fn(root);
      fn(deep);
      for (let r = 0; r < plan.readRounds; r++) {
        rootTimes.push(timeMs(() => fn(root)));
        deepTimes.push(timeMs(() => fn(deep)));
      }
      return { what, root: (median(rootTimes) * 1000) / calls, deep: (median(deepTimes) * 1000) / calls };
    });
  } finally {
    store.release();
  }
}
