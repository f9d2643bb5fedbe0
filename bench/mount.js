// Issues 5 and 17: the FUSE mount. Real tools on a mounted vault beside the same workload on the
// native disk and on a bare fuse-native passthrough (bench/passthrough.js: the same mount options
// over a native directory, no store: the ceiling the binding allows), all in the same run, medians
// of 3: sequential write and reads of a 256 MiB file, 2,000 file creates, tar x and c of the
// TypeScript package, a sqlite3 load, small writes into large files (a log's appends, a
// database's transactions), and per-phase git on a real repository (eslint, ≥ 2,000
// files: clone, status cold and warm, grep, edit 20 files, diff, commit, checkout old and back,
// log -p, rm -rf). Then the per-operation histograms (src/mount/op-stats.ts) of git status, git grep and tar x.
//
// Every mount is served by its own process (`avfs mount`, bench/passthrough.js), so this process
// may time tools on them with spawnSync. Runs alternate the targets so all see the same noise.
//
//   AVFS_BENCH_REPO=<git repository>   the repository to clone (default: the eslint mirror below)
//   AVFS_BENCH_BEFORE=<dir>            another checkout of avfs (built): its mount is measured too,
//                                      as "avfs before", for before/after figures in one run
//   AVFS_BENCH_WORKLOADS=<list>        only these, comma-separated, of: io (sequential write and
//                                      reads), files (creates and their rm -rf), tar, sqlite, edits
//                                      (appends to a log, transactions on a database), git
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { splitContent } from '../dist/core/cdc.js';
import { fuseAvailable } from '../dist/mount/index.js';
import { putContentFromFd, putDigestedContentFromFd } from '../dist/store/blobs.js';
import { openStore } from '../dist/store/store.js';
import { bytes, commitOf, dur, mark, median, num, ratio, spawnMs, target, timeMs } from './lib.js';

export const id = 'mount';
export const title = 'Mount: real tools on a FUSE-mounted vault beside the native disk and a bare passthrough (issues 5, 17)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'avfs.js');
const PASSTHROUGH = join(ROOT, 'bench', 'passthrough.js');
const TS_PACKAGE = join(ROOT, 'node_modules', 'typescript');
const DEFAULT_REPO = '/work/.mirror/eslint+eslint/repo';
const MiB = 1024 * 1024;
const PLAN = {
  full: { bigMiB: 256, runs: 3, files: 2000, statusRuns: 5, logBytes: 5_000_000, appends: 200, dbRows: 200_000, dbTransactions: 20 },
  quick: { bigMiB: 64, runs: 1, files: 500, statusRuns: 3, logBytes: 2_000_000, appends: 50, dbRows: 50_000, dbTransactions: 5 },
};
const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: '/nonexistent',
};

export function sh(cmd, opts = {}) {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`\`${cmd}\` exited ${r.status ?? r.signal}: ${String(r.stderr).slice(0, 500)}`);
  return r.stdout;
}
export const shMs = (cmd, opts) => spawnMs('bash', ['-c', cmd], { timeout: 600_000, ...opts });
export const sleepMs = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export function avfs(bin, home, args, env = process.env) {
  const r = spawnSync(process.execPath, [bin, '--json', '--home', home, ...args], { encoding: 'utf8', timeout: 120_000, env });
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`avfs ${args.join(' ')} printed no JSON: ${r.stdout} ${r.stderr}`);
  }
  if (!json.ok) throw new Error(`avfs ${args.join(' ')} failed: ${r.stdout}`);
  return json;
}

export const mountedAt = (dir) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

/** Starts bench/passthrough.js over `source` on `mnt`; returns its pid once mounted. */
export function startPassthrough(source, mnt, env, logFile) {
  const child = spawn(process.execPath, [PASSTHROUGH, source, mnt], { env, detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
  child.unref();
  for (let i = 0; i < 200 && !mountedAt(mnt); i++) sleepMs(50);
  if (!mountedAt(mnt)) throw new Error(`the passthrough did not mount on ${mnt} (${logFile})`);
  return child.pid;
}

/** The histogram a mount server collected since its last dump (AVFS_MOUNT_STATS=<file>, SIGUSR2). */
export function takeStats(pid, file) {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200 && !existsSync(file); i++) sleepMs(10);
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** A node script that creates `count` files of 4 KB (distinct contents) under a directory. */
const CREATE_SCRIPT = `
const fs = require('fs'); const [dir, count] = process.argv.slice(2);
const block = Buffer.alloc(4096, 'abcdefghijklmnopqrstuvwxyz0123456789\\n');
for (let i = 0; i < Number(count); i++) {
  if (i % 200 === 0) fs.mkdirSync(dir + '/d' + (i / 200), { recursive: true });
  block.write(String(i).padStart(8, '0'), 0);
  fs.writeFileSync(dir + '/d' + Math.floor(i / 200) + '/f' + i + '.txt', block);
}`;

/** sqlite3 input: a table of 20,000 rows in one transaction, an index, a query. */
const SQL = [
  'PRAGMA journal_mode=WAL;',
  'CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, body TEXT);',
  'BEGIN;',
  'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO t SELECT i, printf("name%d", i), hex(randomblob(100)) FROM c;',
  'COMMIT;',
  'CREATE INDEX t_name ON t(name);',
  'SELECT count(*) FROM t WHERE name LIKE "name1%";',
].join('\n');

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const loadAtStart = loadavg()[0];
  const fuse = await fuseAvailable();
  if (!fuse.ok) {
    return { tables: [], notes: [`Not measured: FUSE is unavailable on this machine (${fuse.reason}).`], targets: [] };
  }
  const repo = process.env.AVFS_BENCH_REPO || DEFAULT_REPO;
  // A workload left out is run 0 times, and its rows are left out of the table.
  const only = process.env.AVFS_BENCH_WORKLOADS?.split(',');
  const runsOf = (workload) => (!only || only.includes(workload) ? plan.runs : 0);
  const before = process.env.AVFS_BENCH_BEFORE;
  const home = join(tmp, 'home');
  const homeBefore = join(tmp, 'home-before');
  const ptSource = join(tmp, 'pt-source');
  const T = {
    native: { name: 'native', dir: join(tmp, 'native') },
    passthrough: { name: 'passthrough', dir: join(tmp, 'pt'), stats: join(tmp, 'pt-stats.json') },
    avfs: { name: 'avfs', dir: join(tmp, 'mnt'), stats: join(tmp, 'avfs-stats.json') },
    ...(before ? { before: { name: 'avfs before', dir: join(tmp, 'mnt-before'), stats: join(tmp, 'before-stats.json') } } : {}),
  };
  const targetsList = Object.values(T);
  for (const t of targetsList) mkdirSync(t.dir);
  mkdirSync(ptSource);
  T.passthrough.pid = startPassthrough(ptSource, T.passthrough.dir, { ...process.env, AVFS_MOUNT_STATS: T.passthrough.stats }, tmp);
  T.avfs.pid = avfs(BIN, home, ['mount', T.avfs.dir], { ...process.env, AVFS_MOUNT_STATS: T.avfs.stats }).pid;
  if (before) T.before.pid = avfs(join(before, 'bin', 'avfs.js'), homeBefore, ['mount', T.before.dir], { ...process.env, AVFS_MOUNT_STATS: T.before.stats }).pid;
  log(`mounted: passthrough pid ${T.passthrough.pid}, avfs pid ${T.avfs.pid}${before ? `, avfs before pid ${T.before.pid}` : ''}`);

  const rows = [];
  const targets = [];
  const within = { met: 0, all: 0, missed: [] };
  /** samples: { native, passthrough, avfs, before? } arrays of ms (or rates when `rate`). */
  const row = (what, samples, { rate = false, fmt = dur, goal } = {}) => {
    if (Object.values(samples).every((v) => v.length === 0)) return;
    const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
    const vs = (a, b) => (rate ? m[b] / m[a] : m[a] / m[b]); // how many times slower a is than b
    const vsPt = vs('avfs', 'passthrough');
    within.all++;
    if (vsPt <= 1.3) within.met++;
    else within.missed.push(what);
    const t = goal?.(m, vs);
    if (t) targets.push(t);
    rows.push([
      what,
      fmt(m.native),
      fmt(m.passthrough),
      fmt(m.avfs),
      ...(before ? [fmt(m.before), ratio(vs('before', 'passthrough'))] : []),
      ratio(vs('passthrough', 'native')),
      ratio(vs('avfs', 'native')),
      ratio(vsPt),
      t ? `${t.text}: ${mark(t.met)}` : '',
    ]);
    log(`${what}: ${targetsList.map((x) => `${x.name} ${fmt(m[Object.keys(T).find((k) => T[k] === x)])}`).join(', ')}`);
  };
  const keys = Object.keys(T);
  const collect = () => Object.fromEntries(keys.map((k) => [k, []]));
  const histograms = [];
  let floor;
  try {
    // ---- sequential write and reads --------------------------------------------------------
    const size = plan.bigMiB * MiB;
    const source = join(tmp, 'source.bin');
    writeFileSync(source, randomBytes(size)); // random: content addressing cannot shortcut it
    const w = collect();
    const r = collect();
    const cold = collect();
    for (let i = 0; i < runsOf('io'); i++) {
      for (const k of keys) {
        const dir = T[k].dir;
        const stats = i === plan.runs - 1 && k !== 'native';
        rmSync(join(dir, 'big.bin'), { force: true });
        if (stats) takeStats(T[k].pid, T[k].stats);
        w[k].push(shMs(`dd if=${source} of=${dir}/big.bin bs=1M status=none`));
        if (stats) histograms.push({ workload: 'sequential write', target: k, h: takeStats(T[k].pid, T[k].stats), ms: w[k].at(-1) });
        for (let j = 0; j < 3; j++) r[k].push(shMs(`dd if=${dir}/big.bin of=/dev/null bs=1M status=none`));
        rmSync(join(dir, 'big.bin'), { force: true });
        // A first read through FUSE: the file is put there from outside the mount (the CLI for
        // avfs, the source directory for the passthrough), so the kernel has none of it cached
        // for the mount. Natively there is no such thing: the native figure is a page-cache read.
        const name = `cold${i}.bin`;
        if (k === 'avfs') avfs(BIN, home, ['write', `/${name}`, '--from', source]);
        else if (k === 'before') avfs(join(before, 'bin', 'avfs.js'), homeBefore, ['write', `/${name}`, '--from', source]);
        else if (k === 'passthrough') sh(`cp ${source} ${ptSource}/${name}`);
        else sh(`cp ${source} ${dir}/${name}`);
        if (k !== 'native') sleepMs(1100); // past the entry cache, so the mount sees the new name
        if (stats) takeStats(T[k].pid, T[k].stats);
        cold[k].push(shMs(`dd if=${dir}/${name} of=/dev/null bs=1M status=none`));
        if (stats) histograms.push({ workload: 'cold read', target: k, h: takeStats(T[k].pid, T[k].stats), ms: cold[k].at(-1) });
        rmSync(join(dir, name), { force: true });
      }
    }
    const mbps = (xs) => xs.map((ms) => size / MiB / (ms / 1000));
    const asRate = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, mbps(v)]));
    row(`sequential write, ${bytes(size)} (dd bs=1M, MiB/s)`, asRate(w), {
      rate: true,
      fmt: num,
      goal: (m) => target('sequential write', '≥ 0.8× passthrough', m.avfs / m.passthrough, '>=', 0.8),
    });
    row(`sequential read, page cache warm (MiB/s)`, asRate(r), {
      rate: true,
      fmt: num,
      goal: (m) => target('sequential read', '≥ 0.5× native', m.avfs / m.native, '>=', 0.5),
    });
    row(`sequential read, first read through FUSE (MiB/s)`, asRate(cold), {
      rate: true,
      fmt: num,
      goal: (m) => target('cold read', '≥ 0.8× passthrough', m.avfs / m.passthrough, '>=', 0.8),
    });

    // What storing those bytes costs in this process, without FUSE: the floor of avfs's write path
    // (SHA-256 of the whole content and of each chunk, content-defined chunking, chunk inserts).
    const data = readFileSync(source);
    const floorStore = openStore(join(tmp, 'floor-home'));
    const fl = { sha: [], cdc: [], store: [], digested: [] };
    try {
      for (let i = 0; i < runsOf('io'); i++) {
        fl.sha.push(timeMs(() => createHash('sha256').update(data).digest()));
        fl.cdc.push(timeMs(() => splitContent(data)));
        data[i] ^= 0xff; // new content each run: nothing deduplicated
        writeFileSync(source, data);
        const fd = openSync(source, 'r');
        try {
          fl.store.push(timeMs(() => putContentFromFd(floorStore, fd)));
          // What the mount's persist does when its digest worker hashed the bytes while they arrived: inserts only.
          data[i] ^= 0xff;
          data[size - 1 - i] ^= 0xff;
          writeFileSync(source, data);
          const chunks = splitContent(data).map((c) => ({ size: c.length, hash: createHash('sha256').update(c).digest('hex') }));
          const digest = { hash: createHash('sha256').update(data).digest('hex'), size, chunks };
          fl.digested.push(timeMs(() => putDigestedContentFromFd(floorStore, fd, digest)));
        } finally {
          closeSync(fd);
        }
      }
    } finally {
      floorStore.release();
    }
    if (fl.sha.length > 0) {
      floor = Object.fromEntries(Object.entries(fl).map(([k, v]) => [k, size / MiB / (median(v) / 1000)]));
      floor.passthrough = median(asRate(w).passthrough);
      log(`write floor: sha256 ${num(floor.sha)} MiB/s, cdc ${num(floor.cdc)} MiB/s, store ${num(floor.store)} MiB/s, store of digested content ${num(floor.digested)} MiB/s`);
    }

    // ---- creating small files ---------------------------------------------------------------
    writeFileSync(join(tmp, 'create.js'), CREATE_SCRIPT);
    const c = collect();
    const rmCreate = collect();
    for (let i = 0; i < runsOf('files'); i++) {
      for (const k of keys) {
        const dest = join(T[k].dir, `create${i}`);
        c[k].push(spawnMs(process.execPath, [join(tmp, 'create.js'), dest, String(plan.files)]));
        rmCreate[k].push(shMs(`rm -rf ${dest}`));
      }
    }
    const perSec = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.map((ms) => plan.files / (ms / 1000))]));
    row(`create ${num(plan.files)} files of 4 KB (files/s, one node process)`, perSec(c), {
      rate: true,
      fmt: num,
      goal: (m) => target('file creation', '≥ 0.2× native', m.avfs / m.native, '>=', 0.2),
    });
    row(`rm -rf of those ${num(plan.files)} files`, rmCreate);

    // ---- tar x and c of the TypeScript package ---------------------------------------------
    const tarball = join(tmp, 'typescript.tar');
    sh(`tar cf ${tarball} -C ${dirname(TS_PACKAGE)} typescript`);
    const tarFiles = Number(sh(`tar tf ${tarball} | wc -l`).trim());
    const tx = collect();
    const tc = collect();
    const trm = collect();
    const runTar = (k, i, stats) => {
      const dest = join(T[k].dir, `tar${i}`);
      mkdirSync(dest);
      if (stats) takeStats(T[k].pid, T[k].stats);
      tx[k].push(shMs(`tar xf ${tarball} -C ${dest}`));
      if (stats) histograms.push({ workload: 'tar x', target: k, h: takeStats(T[k].pid, T[k].stats), ms: tx[k].at(-1) });
      // `tar c` right after `tar x` (issue "Nothing lost"): must not report a file changed as read.
      tc[k].push(shMs(`tar cf /dev/null -C ${dest} typescript`));
      trm[k].push(shMs(`rm -rf ${dest}`));
    };
    for (let i = 0; i < runsOf('tar'); i++) for (const k of keys) runTar(k, i, i === plan.runs - 1 && k !== 'native');
    const tsSize = Number(sh(`du -sb ${TS_PACKAGE}`).split('\t')[0]);
    row(`tar x of the TypeScript package (${num(tarFiles)} entries, ${bytes(tsSize)})`, tx);
    row(`tar c of it, right after`, tc);
    row(`rm -rf of it`, trm);

    // ---- sqlite3 -----------------------------------------------------------------------------
    if (spawnSync('sqlite3', ['-version']).status === 0) {
      writeFileSync(join(tmp, 'load.sql'), SQL);
      const q = collect();
      for (let i = 0; i < runsOf('sqlite'); i++) {
        for (const k of keys) {
          const db = join(T[k].dir, `load${i}.db`);
          q[k].push(shMs(`sqlite3 ${db} < ${join(tmp, 'load.sql')} > /dev/null`));
          sh(`rm -f ${db} ${db}-wal ${db}-shm`);
        }
      }
      row('sqlite3: 20,000 inserts in one transaction, an index, a query', q);
    }

    // ---- large files written in place --------------------------------------------------------
    // An agent's log and a database: a few bytes written into a file of several MB, many times.
    const logBase = join(tmp, 'log-base.txt');
    sh(`head -c ${plan.logBytes} /dev/urandom | base64 > ${logBase}`);
    const appends = collect();
    const dbTx = collect();
    for (let i = 0; i < runsOf('edits'); i++) {
      for (const k of keys) {
        const log = join(T[k].dir, `agent${i}.log`);
        sh(`cp ${logBase} ${log}`);
        appends[k].push(shMs(`for i in $(seq ${plan.appends}); do echo "step $i done" >> ${log}; done`));
        sh(`rm -f ${log}`);
      }
    }
    row(`append a line to a ${bytes(statSync(logBase).size)} log, ${plan.appends} times (echo >>)`, appends);
    if (spawnSync('sqlite3', ['-version']).status === 0) {
      for (let i = 0; i < runsOf('edits'); i++) {
        for (const k of keys) {
          const db = join(T[k].dir, `big${i}.db`);
          sh(`sqlite3 ${db} "PRAGMA journal_mode=WAL; CREATE TABLE t(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<${plan.dbRows}) INSERT INTO t SELECT randomblob(200) FROM c;" > /dev/null`);
          dbTx[k].push(shMs(`for i in $(seq ${plan.dbTransactions}); do sqlite3 ${db} "INSERT INTO t VALUES(randomblob(100));"; done`));
          sh(`rm -f ${db} ${db}-wal ${db}-shm`);
        }
      }
      row(`sqlite3: ${plan.dbTransactions} one-row transactions on a ${bytes(plan.dbRows * 216)} database, a process each`, dbTx);
    }

    // ---- git on a real repository ------------------------------------------------------------
    // A labeled block: without the repository, the git rows are left out.
    git: {
      if (!existsSync(repo)) {
        log(`no repository at ${repo} (set AVFS_BENCH_REPO): git not measured`);
        break git;
      }
      const repoFiles = Number(sh(`git --git-dir=${repo} ls-tree -r HEAD | wc -l`).trim());
      const phases = ['clone', 'status, cold', 'status, warm', 'grep', 'edit 20 files', 'diff', 'commit', 'checkout of an old commit', 'checkout back', 'log -p', 'rm -rf'];
      const g = Object.fromEntries(phases.map((p) => [p, collect()]));
      for (let i = 0; i < runsOf('git'); i++) {
        for (const k of keys) {
          const dest = join(T[k].dir, `repo${i}`);
          const at = { cwd: dest, env: GIT_ENV };
          const last = i === plan.runs - 1 && k !== 'native';
          g.clone[k].push(shMs(`git clone -q --no-hardlinks ${repo} ${dest}`, { env: GIT_ENV }));
          sh('git status --porcelain', at); // the index refresh after a clone, untimed
          sleepMs(1100); // past the 1 s attribute and entry caches: every lstat crosses FUSE
          if (last) takeStats(T[k].pid, T[k].stats);
          g['status, cold'][k].push(shMs('git status --porcelain', at));
          if (last) histograms.push({ workload: 'git status, cold', target: k, h: takeStats(T[k].pid, T[k].stats), ms: g['status, cold'][k].at(-1) });
          const warm = [];
          for (let j = 0; j < plan.statusRuns; j++) {
            if (last && j === plan.statusRuns - 1) takeStats(T[k].pid, T[k].stats);
            warm.push(shMs('git status --porcelain', at));
            if (last && j === plan.statusRuns - 1) histograms.push({ workload: 'git status, warm', target: k, h: takeStats(T[k].pid, T[k].stats), ms: warm.at(-1) });
          }
          g['status, warm'][k].push(median(warm));
          if (last) takeStats(T[k].pid, T[k].stats);
          g.grep[k].push(shMs('git grep -c -e function -e const -- . > /dev/null', at));
          if (last) histograms.push({ workload: 'git grep', target: k, h: takeStats(T[k].pid, T[k].stats), ms: g.grep[k].at(-1) });
          g['edit 20 files'][k].push(shMs(`for f in $(git ls-files 'lib/rules/*.js' | head -20); do printf '\\n// edited\\n' >> "$f"; done`, at));
          g.diff[k].push(shMs('git diff > /dev/null', at));
          g.commit[k].push(shMs('git commit -qam edited', at));
          g['checkout of an old commit'][k].push(shMs('git checkout -q HEAD~2000', at));
          g['checkout back'][k].push(shMs('git checkout -q -', at));
          g['log -p'][k].push(shMs('git log -p -n 300 > /dev/null', at));
          g['rm -rf'][k].push(shMs(`rm -rf ${dest}`));
        }
      }
      const goals = {
        clone: (m, vs) => target('git clone', '≤ 3× native', vs('avfs', 'native'), '<=', 3),
        'status, warm': (m, vs) => target('git status, warm', '≤ 1.5× native', vs('avfs', 'native'), '<=', 1.5),
        grep: (m, vs) => target('git grep', '≤ 2× native', vs('avfs', 'native'), '<=', 2),
      };
      for (const p of phases) row(`git ${p} (${num(repoFiles)} files)`, g[p], { goal: goals[p] });
    }
  } finally {
    for (const k of ['avfs', 'before']) {
      if (!T[k]) continue;
      try {
        avfs(k === 'avfs' ? BIN : join(before, 'bin', 'avfs.js'), k === 'avfs' ? home : homeBefore, ['unmount', T[k].dir, '--lazy']);
      } catch (err) {
        log(`unmount: ${err.message}`);
        spawnSync('umount', ['-l', T[k].dir]);
      }
    }
    try {
      process.kill(T.passthrough.pid, 'SIGTERM');
      for (let i = 0; i < 100 && mountedAt(T.passthrough.dir); i++) sleepMs(50);
    } catch {
      // already gone
    }
    if (mountedAt(T.passthrough.dir)) spawnSync('umount', ['-l', T.passthrough.dir]);
  }
  const all = target('workloads within 1.3× the passthrough', 'all', within.met, '>=', within.all);
  all.reached = `${within.met} of ${within.all}`;
  targets.push(all);

  const cols = ['Workload', 'Native:', 'Passthrough:', 'avfs:', ...(before ? ['avfs before:', 'Before / passthrough:'] : []), 'Passthrough / native:', 'avfs / native:', 'avfs / passthrough:', 'Target'];
  return {
    tables: [
      {
        caption: `Each workload on the native disk, a bare fuse-native passthrough and a mounted vault in the same run (medians of ${plan.runs}; ratios are how many times slower, for rates too)`,
        columns: cols,
        rows,
      },
      histogramTable(histograms, before),
    ],
    notes: [
      `Both mounts use the options avfs mounts with: the patched fuse-native addon, big_writes and max_write=128 KiB, use_ino, default_permissions (and allow_other as root), 1 s attribute, entry and negative-lookup timeouts (the bound for CLI changes to show up in the mount), synchronous handlers and no per-request timer. The passthrough (bench/passthrough.js) forwards each request to a native directory with one synchronous fs call; avfs additionally keeps a file's page cache across opens while its stored content is the one the kernel last saw. The native baseline is the same workload in a directory on the disk holding the temp dir.`,
      ...(before ? [`"avfs before" is the build in AVFS_BENCH_BEFORE (${commitOf(before)}), mounted beside avfs and measured in the same runs.`] : []),
      `Ratios: times are divided (avfs / native), rates inverted (native / avfs), so every ratio reads "how many times slower"; the issue-17 goal is avfs / passthrough ≤ 1.3× for every row (${within.met} of ${within.all} met${within.missed.length ? `; missed: ${within.missed.join('; ')}` : ''}).`,
      `Small writes into large files: a log of base64 text (its size in the row) copied in, then ${plan.appends} lines appended by a shell loop, each \`echo >>\` an open, a write and a close (avfs stores a version per close); a sqlite3 database of ${num(plan.dbRows)} rows of 200 random bytes (WAL), then ${plan.dbTransactions} sqlite3 processes inserting one row each (each commits, checkpoints and syncs as it closes).`,
      `Sequential I/O: dd with 1 MiB blocks of a ${bytes(plan.bigMiB * MiB)} file of random bytes; the write includes close(), when avfs stores the last chunks and links the file (the others are stored as they arrive). The warm reads (3 per run) follow the write, so every side serves them from the page cache. The first read through FUSE reads a file put there from outside the mount (avfs: \`avfs write --from\`; passthrough: copied into its source directory), after the 1 s entry cache, so every byte crosses FUSE; natively it is a page-cache read.`,
      `Files: one node process writes ${num(plan.files)} files of 4 KB (open, write, close) into ${Math.ceil(plan.files / 200)} directories. tar: the TypeScript package from node_modules as a tarball on the native disk, extracted with \`tar xf\`, archived again right after with \`tar cf /dev/null\` (which would fail on a file that changed as read), removed with \`rm -rf\`. sqlite3: the sqlite3 CLI on a new database in the directory (WAL).`,
      `git: ${repo.includes('eslint') ? 'the eslint repository' : repo} (its mirror on this machine), per run: \`git clone -q --no-hardlinks\` from the local mirror (the pack is copied and ${'the work tree checked out'}), one untimed \`git status\` (the index refresh after a clone), 1.1 s of sleep so the kernel's 1 s caches expire, \`git status --porcelain\` (cold), ${plan.statusRuns} more (warm, their median), \`git grep -c -e function -e const\`, 20 files of lib/rules appended to, \`git diff\`, \`git commit -a\`, \`git checkout HEAD~2000\` and \`git checkout -\`, \`git log -p -n 300\`, \`rm -rf\`.`,
      ...(floor
        ? [
            `The floor of avfs's write path, measured in this process on the same ${bytes(plan.bigMiB * MiB)} of random bytes, without FUSE: SHA-256 alone ${num(floor.sha)} MiB/s (avfs hashes every byte twice: the content and each chunk), content-defined chunking alone ${num(floor.cdc)} MiB/s, the whole store (putContentFromFd: both hashes, chunking, inserts) ${num(floor.store)} MiB/s, the store of content already digested (putDigestedContentFromFd: the chunk inserts only) ${num(floor.digested)} MiB/s, against the passthrough's ${num(floor.passthrough)} MiB/s through FUSE. The mount hashes and chunks a large file on a worker thread while its bytes arrive (mount/content-digests.ts) and stores the chunks the worker cuts from its write handler, about 1 MiB per transaction (so the store shows in write, not flush, in the histogram), so its close only stores the tail and links them: a write through avfs goes no faster than the slower of the worker (both hashes and the chunking) and the JS thread (spill writes and inserts, with SQLite's WAL checkpoints), and both share the machine's cores with dd and the kernel; ≥ 0.8× the passthrough needs each at ≥ ${num(0.8 * floor.passthrough)} MiB/s with the cores to run them side by side.`,
          ]
        : []),
      ...profileNotes(histograms),
      `Load average (1 min) of this 2-core machine, shared with other work: ${loadAtStart.toFixed(1)} at the start of the run, ${loadavg()[0].toFixed(1)} at its end.`,
      `Histograms: AVFS_MOUNT_STATS=<file> (src/mount/op-stats.ts) counts each FUSE request a mount's handlers serve and the time they run on the JS thread; the same module instruments the passthrough. One run of each workload (the last), on both mounts. fuse-native serves the kernel's LOOKUP and GETATTR through one getattr handler, so lookups count as getattr. "Outside handlers" is the workload's wall time minus the handlers' total: the tool itself, the kernel and the FUSE round trips (which the JS thread does not see).`,
    ],
    targets,
  };
}

/** The per-operation histogram table: one row per (workload, op), passthrough beside avfs. */
function histogramTable(histograms, before) {
  const ks = ['passthrough', 'avfs', ...(before ? ['before'] : [])];
  const cell = (s) => (s ? `${s.count.toLocaleString('en-US')} × ${(s.ns / s.count / 1000).toFixed(1)} µs = ${dur(s.ns / 1e6)}` : '');
  const rows = [];
  for (const workload of [...new Set(histograms.map((h) => h.workload))]) {
    const by = Object.fromEntries(histograms.filter((h) => h.workload === workload).map((h) => [h.target, h]));
    const ops = [...new Set(ks.flatMap((k) => Object.keys(by[k]?.h ?? {})))];
    const total = (k) => Object.values(by[k]?.h ?? {}).reduce((a, s) => a + s.ns, 0) / 1e6;
    ops.sort((a, b) => (by.avfs?.h[b]?.ns ?? 0) - (by.avfs?.h[a]?.ns ?? 0));
    for (const op of ops) rows.push([workload, op, ...ks.map((k) => cell(by[k]?.h[op]))]);
    rows.push([workload, '**all handlers**', ...ks.map((k) => (by[k] ? `${Object.values(by[k].h).reduce((a, s) => a + s.count, 0).toLocaleString('en-US')} requests, ${dur(total(k))}` : ''))]);
    rows.push([workload, '**outside handlers** (wall − handlers)', ...ks.map((k) => (by[k] ? `${dur(by[k].ms - total(k))} of ${dur(by[k].ms)}` : ''))]);
  }
  return {
    caption: 'Per-operation histogram (count × mean handler time = total), one run of each workload',
    columns: ['Workload', 'Operation', 'Passthrough', 'avfs', ...(before ? ['avfs before'] : [])],
    rows,
  };
}

/** What the histograms say, in words: where each workload's handler time goes on avfs. */
function profileNotes(histograms) {
  const out = [];
  for (const { workload, h, ms } of histograms.filter((x) => x.target === 'avfs')) {
    const total = Object.values(h).reduce((a, s) => a + s.ns, 0) / 1e6;
    const top = Object.entries(h).sort((a, b) => b[1].ns - a[1].ns).slice(0, 3);
    const pt = histograms.find((x) => x.target === 'passthrough' && x.workload === workload);
    const ptTotal = pt ? Object.values(pt.h).reduce((a, s) => a + s.ns, 0) / 1e6 : NaN;
    out.push(
      `Profile of ${workload} on avfs: handlers ${dur(total)} of ${dur(ms)} wall (the passthrough's ${dur(ptTotal)} of ${dur(pt?.ms ?? NaN)}); ` +
        top.map(([op, s]) => `${op} ${Math.round((100 * s.ns) / 1e6 / total)}% (${s.count.toLocaleString('en-US')} × ${num(s.ns / s.count / 1000)} µs)`).join(', ') +
        (workload === 'tar x' ? '. tar fchowns, fchmods and futimens each file before closing it; on a file with unsaved bytes these wait for the persist at close (one store and one version per file), so the store is in flush.' : '.'),
    );
  }
  return out;
}
