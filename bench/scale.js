// Issue 16: the store at real-workspace scale. Checkpoint save, restore of 100 changed paths and
// fork on 1k/10k/100k-file vaults with the database growth each costs, beside what copying every
// entry row (how schema 5 saved a checkpoint and forked) costs on the same vault in the same run;
// reads through a chain of four forks beside the same reads in the root vault.
import { fork as forkProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, rmSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, Store } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { restoreCheckpoint, saveCheckpoint } from '../dist/store/checkpoints.js';
import { getEntry } from '../dist/store/entries.js';
import { exportTree, importTree } from '../dist/store/transfer.js';
import { grep } from '../dist/api/search.js';
import { createVault, forkVault } from '../dist/store/vaults.js';
import { beforeBuild, bytes, clock, dur, mark, median, msSince, num, p95, ratio, sample, spawnMs, target, timeMs, weighted } from './lib.js';

export const id = 'scale';
export const title = 'Scale: O(1) checkpoints and forks, restores by what changed, reads through fork chains (issue 16)';

const ACTOR = { source: 'sdk' };
const PLAN = {
  full: { linkGroups: [100, 400, 2000], treeFiles: 10000, treeRuns: 3, sizes: [1000, 10000, 100000], runs: 10, restoreRuns: 7, reads: 20000, readRounds: 5, editVersions: 100, agents: [1, 4, 16], agentMs: 3000, vaults: 100 },
  quick: { linkGroups: [100, 400], treeFiles: 2000, treeRuns: 1, sizes: [1000, 10000], runs: 5, restoreRuns: 3, reads: 5000, readRounds: 3, editVersions: 20, agents: [1, 4, 16], agentMs: 1000, vaults: 20 },
};
const KB = 1024;
const MB = 1024 * 1024;
/** The same vaults measured before this issue (schema 5, fresh build, median of 10), from the issue text. */
const BEFORE = {
  1000: { save: 14, saveGrowth: 164e3, fork: 34, forkGrowth: 319e3 },
  10000: { save: 46, saveGrowth: 1.64e6, fork: 133, forkGrowth: 3.17e6 },
  50000: { save: 292, saveGrowth: 8.22e6, fork: 776, forkGrowth: 15.85e6 },
};

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const loadBefore = loadavg()[0];
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
    rows.push(row(`restore, 100 paths changed, the vault having ${plan.runs} forks`, r.forkedRestore, dur, null, null, undefined));
    rows.push(row('fork', r.fork, dur, r.copyRows, t.fork, before?.fork));
    rows.push(row('db growth per fork', r.forkGrowth, bytes, r.copyGrowth, t.forkGrowth, before?.forkGrowth));
  }
  log('reads through a chain of four forks');
  const chain = chainBench(join(tmp, 'chain'), plan);
  const chainRows = chain.map((c) => [c.what, `${c.root.toFixed(2)} µs`, `${c.deep.toFixed(2)} µs`, ratio(c.deep / c.root), '≤ 1.2×', mark(c.deep / c.root <= 1.2)]);
  for (const c of chain) targets.push(target(`${c.what} in a fork of a fork of a fork of a fork`, '≤ 1.2× root', c.deep / c.root, '<=', 1.2));

  log(`${plan.editVersions} versions of a 10 MB file, 100-byte insertions`);
  const edit = editBench(join(tmp, 'edit'), plan.editVersions);
  const editRatio = edit.growth / edit.size;
  const editTarget = target(`${plan.editVersions} versions of a 10 MB file with 100-byte insertions: db growth / file size`, '≤ 1.3×', editRatio, '<=', 1.3);
  targets.push(editTarget);
  const editRows = [
    [`${plan.editVersions} versions, database growth`, bytes(edit.growth), bytes(edit.size * plan.editVersions), ratio(edit.growth / (edit.size * plan.editVersions)), ratio(editRatio), editTarget.text, mark(editTarget.met)],
    ['per version after the first', bytes(edit.perVersion), bytes(edit.size), ratio(edit.perVersion / edit.size), '—', '—', ''],
    ['write of one version (median)', dur(edit.write), '—', '—', '—', '—', ''],
  ];

  const agentRows = [];
  const agentRes = {};
  for (const agents of plan.agents) {
    const res = {};
    for (const backend of ['avfs', 'avfs-retry', 'avfs-before', 'fs']) {
      log(`${agents} concurrent agent processes × ${backend}, ${plan.agentMs} ms`);
      res[backend] = await concurrent(join(tmp, `agents-${agents}-${backend}`), backend, agents, plan.agentMs);
    }
    agentRes[agents] = res;
  }
  const top = Math.max(...plan.agents);
  const base4 = agentRes[4]?.avfs.opsPerSec;
  const scaleTarget = target(`${top} agent processes: total ops/s vs 4 agents`, '≥ 1× 4 agents', agentRes[top].avfs.opsPerSec / base4, '>=', 1);
  const p95Target = target(`${top} agent processes: p95 per operation`, '≤ 25 ms', agentRes[top].avfs.p95, '<=', 25, 'ms');
  targets.push(scaleTarget, p95Target);
  const old4 = agentRes[4]?.['avfs-before'].opsPerSec;
  for (const agents of plan.agents) {
    const { avfs, fs } = agentRes[agents];
    const old = agentRes[agents]['avfs-before'];
    const isTop = agents === top;
    agentRows.push([
      String(agents),
      num(avfs.opsPerSec),
      dur(avfs.median),
      dur(avfs.p95),
      num(old.opsPerSec),
      dur(old.p95),
      num(fs.opsPerSec),
      dur(fs.p95),
      ratio(avfs.opsPerSec / fs.opsPerSec),
      base4 ? ratio(avfs.opsPerSec / base4) : '—',
      old4 ? ratio(old.opsPerSec / old4) : '—',
      isTop ? `${scaleTarget.text}; p95 ${p95Target.text}` : '—',
      isTop ? `${mark(scaleTarget.met)}; ${mark(p95Target.met)}` : '',
    ]);
  }

  const splitRows = [];
  for (const agents of plan.agents) {
    for (const [label, key] of [['avfs (checkpoint every 10,000 pages)', 'avfs'], ['randomized retries instead of the busy handler (not kept)', 'avfs-retry'], ['before (checkpoint every 1,000 pages)', 'avfs-before'], ['node:fs', 'fs']]) {
      const r = agentRes[agents][key];
      const fsSide = key === 'fs';
      splitRows.push([`${agents}: ${label}`, num(r.opsPerSec), dur(r.median), dur(r.p95), dur(r.writeP95), dur(r.readP95), fsSide ? '—' : dur(r.wait), fsSide ? '—' : dur(r.work), fsSide ? '—' : dur(r.txCpu)]);
    }
  }

  log(`${plan.vaults} vaults in one home`);
  const mv = manyVaults(join(tmp, 'vaults'), plan.vaults);
  const mvOps = plan.vaults * 20;

  log(`import, export, grep, mv and rm -r of a ${num(plan.treeFiles)}-file tree`);
  const tree = await treeBench(join(tmp, 'tree'), plan.treeFiles, plan.treeRuns);
  const treeRow = (what, key, native) => {
    const now = tree.now[key];
    const before = tree.before?.[key];
    return [what, dur(now), before === undefined ? '—' : dur(before), before === undefined ? '—' : ratio(now / before), dur(native), ratio(now / native)];
  };
  const treeRows = [
    treeRow(`import of ${num(plan.treeFiles)} small host files`, 'import', tree.cp),
    treeRow('export of the imported tree to a new host directory', 'export', tree.cpExport),
    treeRow('grep -l of a word every file holds', 'grep', tree.grep),
    treeRow('mv of the imported tree to another name (native: one rename(2))', 'mv', tree.mv),
    treeRow(`rm -r of the imported tree (${num(tree.entries)} entries)`, 'rm', tree.rmrf),
  ];
  log(`hard links: one inode with up to ${num(Math.max(...plan.linkGroups))} names`);
  const links = await linkBench(join(tmp, 'links'), plan.linkGroups);
  const linkRows = links.rows.map(({ names, op, now, before, native }) => [
    `${op} at ${num(names)} names`,
    dur(now),
    before === undefined ? '—' : dur(before),
    before === undefined ? '—' : ratio(now / before),
    dur(native),
    ratio(now / native),
  ]);
  const vaultRows = [
    ['create + 10 writes + 10 reads of 1 KB, each vault', dur(mv.avfs), dur(mv.fs), ratio(mv.avfs / mv.fs), num(mvOps / (mv.avfs / 1000)), num(mvOps / (mv.fs / 1000))],
    [`stat of a random file in a random vault (${num(mv.lookups)} calls, median of rounds)`, `${mv.statAvfs.toFixed(2)} µs`, `${mv.statFs.toFixed(2)} µs`, ratio(mv.statAvfs / mv.statFs), '—', '—'],
  ];

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
      {
        caption: `Storage of an edited large file: ${plan.editVersions} versions of a 10 MB file, each with 100 bytes inserted at a random offset, written through VaultFs.writeFile (content-defined chunks), beside storing every version whole`,
        columns: ['Measure', 'avfs:', 'every version whole:', 'avfs / whole:', 'growth / file size:', 'Target', 'Met'],
        rows: editRows,
      },
      {
        caption: `Concurrent agents as separate processes in one home (each its own vault), mixed workload (write .30, read .35, stat .10, list .10, delete .05, copy .05, move .05; 1–16 KB files) for ${plan.agentMs / 1000} s; node:fs does the same operations on its own directory; p95 is per operation over all agents`,
        columns: ['Agents', 'avfs ops/s:', 'avfs median:', 'avfs p95:', 'before ops/s:', 'before p95:', 'node:fs ops/s:', 'node:fs p95:', 'avfs / node:fs:', 'avfs / 4 agents:', 'before / 4 agents:', 'Target', 'Met'],
        rows: agentRows,
      },
      {
        caption: 'Where a concurrent agent\'s time goes, by variant: all operations (ops/s, median, p95), p95 of writes and of reads, and per write transaction the mean wait for the write lock and the mean time from holding it to the end of the commit (statements, commit, and an automatic checkpoint when one runs), and the mean CPU time the process spent in a write transaction, waiting included (tx work above it is time the holder was not running)',
        columns: ['Agents: variant', 'ops/s:', 'median:', 'p95:', 'write p95:', 'read p95:', 'lock wait / tx:', 'tx work / tx:', 'CPU / tx:'],
        rows: splitRows,
      },
      {
        caption: `A workspace-sized tree: ${num(plan.treeFiles)} files of ~70 bytes in directories of 10 (store API, median of ${plan.treeRuns}), beside the build in AVFS_BENCH_BEFORE when given (${tree.before ? 'measured in this run, alternating' : 'not given'}) and the native tools on the same tree`,
        columns: ['Operation', 'avfs:', 'before:', 'avfs / before:', 'native:', 'avfs / native:'],
        rows: treeRows,
      },
      {
        caption: `Hard links: one file given more and more names (VaultFs.link, one transaction each, as \`ln\` through the mount does), the time per link and per unlink (rm) when the inode has that many names, beside the build in AVFS_BENCH_BEFORE when given (${links.beforeCommit ? `${links.beforeCommit}, measured in this run, alternating` : 'not given'}) and node:fs linkSync/unlinkSync`,
        columns: ['Operation', 'avfs:', 'before:', 'avfs / before:', 'native:', 'avfs / native:'],
        rows: linkRows,
      },
      {
        caption: `${plan.vaults} vaults in one home (one pass; node:fs makes ${plan.vaults} directories), then lookups across all of them`,
        columns: ['Workload', 'avfs:', 'node:fs:', 'avfs / node:fs:', 'avfs ops/s:', 'node:fs ops/s:'],
        rows: vaultRows,
      },
    ],
    notes: [
      `Machine load (1-minute load average, ${cpus().length} logical cores): ${loadBefore.toFixed(1)} when the section started, ${loadavg()[0].toFixed(1)} when it ended. Timings are wall-clock: under load they stretch, and avfs and its baselines are measured in turn so both see it.`,
      'Vaults hold files of ~40 bytes in 100-file directories, written in one transaction; the home is a fresh temp directory on the machine disk.',
      'Database growth is the size of avfs.db after a WAL checkpoint (TRUNCATE), before and after 10 saves (or forks), divided by 10.',
      'Restore: each run saves a checkpoint, rewrites 100 files spread over the vault (other files each run) in one transaction, then restores that checkpoint (saveBefore off); only the restore is timed. First on the vault alone (the target row), then again after the fork rows made its forks: each restored path then also probes every direct fork (push-down, ARCHITECTURE.md "Forks are layers").',
      '"copy every row" copies the vault\'s entry rows into a scratch table with one INSERT … SELECT and measures the time and growth; it is what a checkpoint or a fork cost when they were copies.',
      'Chain reads: stat (VaultFs.stat), cat (VaultFs.readFile of a small file), ls (VaultFs.list of a 100-entry directory) and the mount\'s lookup (getEntry, what the FUSE getattr/lookup handler calls, inside a read transaction as the mount\'s read requests run: operations.ts), of paths the forks did not change, so each read falls through all four layers to the root.',
      'Edited file: the 10 MB file is random bytes; each version inserts 100 random bytes at a random offset of the previous version and writes the whole file again (one transaction). Growth is the database size (after a TRUNCATE WAL checkpoint) after all versions minus before the first; "every version whole" is versions × file size.',
      `Concurrent agents: N processes (child_process.fork) start together; each opens the home itself (its own SQLite connection), works in its own vault, seeds 20 files, reports ready, and on "go" runs the weighted random mix for the fixed time, each operation its own transaction. avfs takes the write lock with BEGIN IMMEDIATE waiting in SQLite's busy handler (30 s busy timeout; it sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries) and checkpoints the WAL every 10,000 pages. "before" is the same agents with SQLite's default automatic checkpoint every 1,000 WAL pages (the store before this change); "randomized retries" (where-time-goes table) replaces the busy handler by BEGIN IMMEDIATE with busy_timeout 0 retried after a random sleep up to a cap doubling from 0.25 to 4 ms (Atomics.wait), the alternative measured and not kept. ops/s is all agents' operations ÷ the wall time of the timed phase. The files written are text, so the full-text index takes them: in batches, each write transaction that leaves 32 texts waiting indexes them (no search runs here; a search would first index what waits). The machine has ${cpus().length} logical cores, so 16 agents share them: node:fs shows what the same processes cost without the store.`,
      `Tree: the host tree is written once (files of ~70 bytes of JavaScript, 10 per directory, 25 directories per package). import is importTree into a fresh vault each run (each file read and hashed before the write lock, up to 2,048 small files (8 MiB) stored per transaction under one lease, then every entry in one transaction); export is exportTree of it to a new host directory (one read transaction; each file written under a temporary name, then linked to its own); grep is the API's grep with filesOnly (grep -l) of a word every file holds; mv is VaultFs.mv of the tree to another name and rm -r is VaultFs.rm of it: below the top directory both go set-wise (entries.ts moveBelow and removeDescendants: a few statements per layer over the subtree, each entry still recorded as versions), and rm -r touches only the top directory once. "before" runs the same calls of the build in AVFS_BENCH_BEFORE (${tree.beforeCommit ?? 'not given'} in this run), in a home of its own, the two builds alternating. Native: \`cp -r\` (for import and, a second copy, for export), \`grep -rl\`, \`mv\` (one rename(2), O(1)) and \`rm -rf\` of the same tree (spawned, process start included).`,
      `Hard links: each build links /h0 to /h1, /h2, … in its own home; at each group size the next ${LINK_WINDOW} links, then ${LINK_WINDOW} unlinks of the newest names (linked again after), are timed and averaged. Each name stores the inode's link count (so history and restores keep it exactly), so a link or an unlink rewrites every name's count: O(names) rows, now in three statements over the group; before, several statements per name and an O(names²) list of the names (before: ${links.beforeMax ? `measured up to ${num(links.beforeMax)} names, as it grew as the cube` : 'not given'}).`,
      'Many vaults: avfs createVault + 10 VaultFs.writeFile + 10 readFile per vault, in one home and process; node:fs mkdir + writeFileSync + readFileSync per directory. The stat row then looks up random files across all vaults (VaultFs.stat through a VaultFs per vault; node:fs statSync).',
    ],
    targets,
  };
}

const LINK_WINDOW = 10;
/** The largest group the build before this change is grown to: its cost per link grew with the square of the names. */
const BEFORE_MAX_NAMES = 400;

/**
 * The time per link (and per unlink) of one inode as its names grow to each of `sizes`, for this
 * build, the one in AVFS_BENCH_BEFORE (when given) and node:fs, alternating group size by group size.
 */
export async function linkBench(dir, sizes) {
  const builds = [{ key: 'now', code: { openStore, VaultFs, createVault } }];
  const before = await beforeBuild('store/store.js', 'store/vault-fs.js', 'store/vaults.js');
  if (before) builds.push({ key: 'before', code: before.code, max: BEFORE_MAX_NAMES });
  const beforeCommit = before?.commit ?? null;
  const host = join(dir, 'host');
  mkdirSync(host, { recursive: true });
  const sides = [
    ...builds.map((b) => {
      const store = b.code.openStore(join(dir, `home-${b.key}`));
      b.code.createVault(store, 'links', ACTOR);
      const fs = new b.code.VaultFs(store, 'links', ACTOR);
      fs.writeFile('/h0', 'x');
      return { key: b.key, max: b.max ?? Infinity, store, link: (n) => fs.link('/h0', `/h${n}`), unlink: (n) => fs.rm(`/h${n}`) };
    }),
    (writeFileSync(join(host, 'h0'), 'x'), { key: 'native', max: Infinity, link: (n) => linkSync(join(host, 'h0'), join(host, `h${n}`)), unlink: (n) => unlinkSync(join(host, `h${n}`)) }),
  ];
  const rows = [];
  try {
    let names = 1;
    for (const size of sizes) {
      const row = { link: { names: size, op: 'link' }, rm: { names: size, op: 'unlink' } };
      for (const side of names % 2 ? [...sides].reverse() : sides) {
        if (size > side.max) continue;
        for (let n = names; n < size; n++) side.link(n);
        row.link[side.key] = timeMs(() => { for (let n = size; n < size + LINK_WINDOW; n++) side.link(n); }) / LINK_WINDOW;
        row.rm[side.key] = timeMs(() => { for (let n = size + LINK_WINDOW - 1; n >= size; n--) side.unlink(n); }) / LINK_WINDOW;
      }
      names = size;
      rows.push(row.link, row.rm);
    }
  } finally {
    for (const side of sides) side.store?.release();
    rmSync(host, { recursive: true, force: true });
  }
  return { rows, beforeCommit, beforeMax: before ? BEFORE_MAX_NAMES : null };
}

/**
 * Import, export, grep -l, mv and rm -r of a tree of `files` small host files, beside cp -r (twice:
 * the import's and the export's baseline), grep -rl, mv and rm -rf, and (with AVFS_BENCH_BEFORE=<a
 * built checkout of avfs>) the same calls of that build, in a home of its own, alternating with
 * this one.
 */
export async function treeBench(dir, files, runs) {
  const host = join(dir, 'host');
  for (let i = 0; i < files; i++) {
    const d = join(host, `pkg${i % 40}`, `lib${Math.floor(i / 40) % 25}`);
    if (i < 1000) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `file${i}.js`), `module.exports = function f${i}() { return ${i * 7919}; };\n`);
  }
  const builds = [{ key: 'now', code: { openStore, VaultFs, createVault, importTree, exportTree, grep } }];
  const before = await beforeBuild('store/store.js', 'store/vault-fs.js', 'store/vaults.js', 'store/transfer.js', 'api/search.js');
  if (before) builds.push({ key: 'before', code: before.code });
  const beforeCommit = before?.commit ?? null;
  const res = { cp: [], cpExport: [], grep: [], mv: [], rmrf: [], entries: 0 };
  try {
    for (const b of builds) {
      b.store = b.code.openStore(join(dir, `home-${b.key}`));
      res[b.key] = { import: [], export: [], grep: [], mv: [], rm: [] };
    }
    for (let r = 0; r < runs; r++) {
      for (const b of r % 2 ? [...builds].reverse() : builds) {
        const name = `v${r}`;
        b.code.createVault(b.store, name, ACTOR);
        const fs = new b.code.VaultFs(b.store, name, ACTOR);
        res[b.key].import.push(timeMs(() => b.code.importTree(fs, host, '/src')));
        res.entries = fs.walk('/src').length + 1;
        const out = join(dir, `export-${b.key}`);
        res[b.key].export.push(timeMs(() => b.code.exportTree(fs, '/src', out, false)));
        rmSync(out, { recursive: true, force: true });
        res[b.key].grep.push(timeMs(() => b.code.grep(fs, { pattern: 'module', path: '/src', filesOnly: true })));
        res[b.key].mv.push(timeMs(() => fs.mv('/src', '/moved')));
        res[b.key].rm.push(timeMs(() => fs.rm('/moved', { recursive: true })));
      }
      const copy = join(dir, `copy${r}`);
      res.cp.push(spawnMs('cp', ['-r', host, copy]));
      res.grep.push(spawnMs('grep', ['-rl', 'module', copy]));
      res.mv.push(spawnMs('mv', [copy, `${copy}-moved`]));
      res.rmrf.push(spawnMs('rm', ['-rf', `${copy}-moved`]));
      res.cpExport.push(spawnMs('cp', ['-r', host, copy]));
      rmSync(copy, { recursive: true, force: true });
    }
  } finally {
    for (const b of builds) b.store?.release();
    rmSync(host, { recursive: true, force: true });
  }
  const side = (key) => (res[key] ? { import: median(res[key].import), export: median(res[key].export), grep: median(res[key].grep), mv: median(res[key].mv), rm: median(res[key].rm) } : null);
  return { now: side('now'), before: side('before'), cp: median(res.cp), cpExport: median(res.cpExport), grep: median(res.grep), mv: median(res.mv), rmrf: median(res.rmrf), entries: res.entries, beforeCommit };
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
    // Restore of 100 changed paths: each run saves a checkpoint, changes 100 files (untimed) and
    // restores it, so exactly 100 paths changed since the checkpoint it restores. Measured on the
    // vault alone, and again below once it has forks (each restored path then probes each fork).
    let round = 0;
    const change = () =>
      store.mutate(() => {
        round++;
        for (let k = 0; k < 100; k++) fs.writeFile(`/d${Math.floor(((k * 7919 + round * 104729) % files) / 100)}/f${(k * 7919 + round * 104729) % files}.txt`, `changed ${round} ${k}\n`);
      });
    const restoreRuns = () => {
      const out = [];
      for (let i = 0; i < plan.restoreRuns; i++) {
        saveCheckpoint(fs, `base${round}`);
        const name = `base${round}`;
        change();
        out.push(timeMs(() => restoreCheckpoint(fs, name, { saveBefore: false })));
      }
      return out;
    };
    const restores = restoreRuns();
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
    const forkedRestores = restoreRuns();
    return {
      save: median(saves),
      saveGrowth,
      fork: median(forks),
      forkGrowth,
      copyRows: median(copies),
      copyGrowth,
      restore: median(restores),
      forkedRestore: median(forkedRestores),
    };
  } finally {
    store.release();
  }
}

export function chainBench(home, plan) {
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
      // The mount's read requests run inside a read transaction (operations.ts, Store.lingerRead).
      ['mount lookup', (v) => { const row = v.row(); store.read(() => { for (const p of paths) getEntry(store, row, p); }); }, paths.length],
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

export function editBench(home, versions) {
  const store = openStore(home);
  try {
    const fs = new VaultFs(store, 'default', ACTOR);
    let data = randomBytes(10 * MB);
    const size = data.length;
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const before = dbSize(store);
    fs.writeFile('/big.bin', data);
    const first = dbSize(store);
    const writes = [];
    for (let v = 1; v < versions; v++) {
      const at = Math.floor(rnd() * data.length);
      data = Buffer.concat([data.subarray(0, at), randomBytes(100), data.subarray(at)]);
      writes.push(timeMs(() => fs.writeFile('/big.bin', data)));
    }
    const after = dbSize(store);
    return { size, growth: after - before, perVersion: (after - first) / (versions - 1), write: median(writes) };
  } finally {
    store.release();
  }
}

// ---- concurrent agents (separate processes) -------------------------------------------------

const MIX = [['write', 0.3], ['read', 0.35], ['stat', 0.1], ['list', 0.1], ['delete', 0.05], ['copy', 0.05], ['move', 0.05]];

export async function concurrent(dir, backend, agents, ms) {
  mkdirSync(dir, { recursive: true });
  if (backend !== 'fs') {
    const store = openStore(join(dir, 'home'));
    for (let i = 0; i < agents; i++) createVault(store, `agent${i}`, ACTOR);
    store.release();
  }
  const children = Array.from({ length: agents }, (_, i) =>
    forkProcess(fileURLToPath(import.meta.url), ['--scale-agent', JSON.stringify({ dir, backend, index: i, ms })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }),
  );
  const message = (c) =>
    new Promise((resolve, reject) => {
      c.once('message', resolve);
      c.once('error', reject);
      c.once('exit', (code) => code !== 0 && reject(new Error(`agent process exited ${code} before reporting`)));
    });
  try {
    await Promise.all(children.map(message));
    const results = Promise.all(children.map(message));
    const start = clock();
    for (const c of children) c.send('go');
    const out = await results;
    const wall = msSince(start);
    const lat = out.flatMap((r) => r.lat);
    const ops = (op) => out.flatMap((r) => r.byOp[op] ?? []);
    const sum = (k) => out.reduce((n, r) => n + r.split[k], 0);
    const count = sum('count');
    return {
      opsPerSec: lat.length / (wall / 1000),
      median: median(lat),
      p95: p95(lat),
      writeP95: p95(ops('write')),
      readP95: p95(ops('read')),
      wait: count ? sum('wait') / count : NaN,
      work: count ? (sum('tx') - sum('wait')) / count : NaN,
      txCpu: count ? sum('cpu') / count : NaN,
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

const split = { wait: 0, tx: 0, count: 0, cpu: 0 };
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function retryingBegin() {
  const deadline = Date.now() + 30_000;
  this.stmt('PRAGMA busy_timeout = 0').get();
  try {
    for (let cap = 0.25; ; cap = Math.min(cap * 2, 4)) {
      try {
        this.stmt('BEGIN IMMEDIATE').run();
        return;
      } catch (err) {
        if (err.code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      }
      Atomics.wait(sleeper, 0, 0, Math.random() * cap);
    }
  } finally {
    this.stmt('PRAGMA busy_timeout = 30000').get();
  }
}

async function agentMain({ dir, backend, index, ms }) {
  let seed = 1000 + index;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const base = `/a${index}`;
  let io;
  let done = () => {};
  if (backend !== 'fs') {
    // The alternative measured and not kept: BEGIN IMMEDIATE with busy_timeout 0, retried after a
    // random sleep up to a cap doubling from 0.25 to 4 ms, instead of SQLite's busy handler.
    if (backend === 'avfs-retry') Store.prototype.begin = retryingBegin;
    // Where a write's time goes: waiting for the lock (begin) and the rest of the transaction.
    const begin = Store.prototype.begin;
    const mutate = Store.prototype.mutate;
    Store.prototype.begin = function () {
      const t = clock();
      try {
        return begin.call(this);
      } finally {
        split.wait += msSince(t);
      }
    };
    Store.prototype.mutate = function (fn) {
      if (this.db.inTransaction) return mutate.call(this, fn);
      const t = clock();
      const c = cpuMs();
      try {
        return mutate.call(this, fn);
      } finally {
        split.tx += msSince(t);
        split.cpu += cpuMs() - c;
        split.count++;
      }
    };
    const store = openStore(join(dir, 'home'));
    if (backend === 'avfs-before') store.db.pragma('wal_autocheckpoint = 1000');
    const vfs = new VaultFs(store, `agent${index}`, ACTOR);
    vfs.mkdir(base);
    io = {
      write: (p, b) => vfs.writeFile(p, b),
      read: (p) => vfs.readFile(p),
      stat: (p) => vfs.stat(p),
      list: () => vfs.list(base),
      delete: (p) => vfs.rm(p),
      copy: (a, b) => vfs.cp(a, b),
      move: (a, b) => vfs.mv(a, b),
    };
    done = () => store.release();
  } else {
    const root = join(dir, 'fs');
    mkdirSync(join(root, base), { recursive: true });
    const h = (p) => join(root, p);
    io = {
      write: (p, b) => writeFileSync(h(p), b),
      read: (p) => readFileSync(h(p)),
      stat: (p) => statSync(h(p)),
      list: () => readdirSync(h(base), { withFileTypes: true }),
      delete: (p) => unlinkSync(h(p)),
      copy: (a, b) => copyFileSync(h(a), h(b)),
      move: (a, b) => renameSync(h(a), h(b)),
    };
  }
  const files = [];
  let n = 0;
  const fresh = () => `${base}/f${n++}.txt`;
  const body = () => {
    const b = Buffer.alloc(KB + Math.floor(rnd() * 15 * KB), 97 + (n % 26));
    b.write(`${index}-${n}-${rnd()}`);
    return b;
  };
  for (let i = 0; i < 20; i++) {
    const p = fresh();
    io.write(p, body());
    files.push(p);
  }
  const pick = () => files[Math.floor(rnd() * files.length)];
  process.send('ready');
  await new Promise((resolve) => process.once('message', resolve));
  Object.assign(split, { wait: 0, tx: 0, count: 0, cpu: 0 });
  const lat = [];
  const byOp = {};
  const end = Date.now() + ms;
  while (Date.now() < end) {
    let op = weighted(MIX, rnd);
    if (files.length < 5 && (op === 'delete' || op === 'move')) op = 'write';
    const b = op === 'write' ? body() : null;
    const t = clock();
    if (op === 'write') {
      const p = rnd() < 0.5 ? fresh() : pick();
      io.write(p, b);
      if (!files.includes(p)) files.push(p);
    } else if (op === 'read') io.read(pick());
    else if (op === 'stat') io.stat(pick());
    else if (op === 'list') io.list();
    else if (op === 'delete') {
      const i = Math.floor(rnd() * files.length);
      io.delete(files[i]);
      files.splice(i, 1);
    } else if (op === 'copy') {
      const p = fresh();
      io.copy(pick(), p);
      files.push(p);
    } else {
      const i = Math.floor(rnd() * files.length);
      const p = fresh();
      io.move(files[i], p);
      files[i] = p;
    }
    const ms = msSince(t);
    lat.push(ms);
    (byOp[op] ??= []).push(ms);
  }
  done();
  process.send({ lat, byOp, split }, () => process.disconnect());
}

// ---- many vaults ----------------------------------------------------------------------------

export function manyVaults(dir, count) {
  const body = (v, i) => Buffer.from(`vault ${v} file ${i} `.padEnd(KB, 'x'));
  const store = openStore(join(dir, 'home'));
  try {
    let t = clock();
    const vfss = [];
    for (let v = 0; v < count; v++) {
      createVault(store, `v${v}`, ACTOR);
      const vfs = new VaultFs(store, `v${v}`, ACTOR);
      vfss.push(vfs);
      for (let i = 0; i < 10; i++) vfs.writeFile(`/f${i}.txt`, body(v, i));
      for (let i = 0; i < 10; i++) vfs.readFile(`/f${i}.txt`);
    }
    const avfs = msSince(t);
    t = clock();
    const dirs = [];
    for (let v = 0; v < count; v++) {
      const d = join(dir, 'fs', `v${v}`);
      dirs.push(d);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < 10; i++) writeFileSync(join(d, `f${i}.txt`), body(v, i));
      for (let i = 0; i < 10; i++) readFileSync(join(d, `f${i}.txt`));
    }
    const fs = msSince(t);
    const lookups = 5000;
    const picks = Array.from({ length: lookups }, (_, k) => [(k * 7919) % count, (k * 31) % 10]);
    const a = [];
    const f = [];
    for (let r = 0; r < 6; r++) {
      const ta = timeMs(() => { for (const [v, i] of picks) vfss[v].stat(`/f${i}.txt`); });
      const tf = timeMs(() => { for (const [v, i] of picks) statSync(join(dirs[v], `f${i}.txt`)); });
      if (r > 0) (a.push(ta), f.push(tf));
    }
    return { avfs, fs, lookups, statAvfs: (median(a) * 1000) / lookups, statFs: (median(f) * 1000) / lookups };
  } finally {
    store.release();
  }
}

if (process.argv[2] === '--scale-agent' && process.argv[1] === fileURLToPath(import.meta.url)) await agentMain(JSON.parse(process.argv[3]));
