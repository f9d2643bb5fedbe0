// Issue 3: history and rollback. Checkpoint save and restore beside git commit / git reset --hard
// of the same tree, `log` of a path with 1,000 versions beside `git log` of a file with 1,000
// commits, and the storage cost of 100 versions of a 10 MB file that each change one 4 KB block.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { exportTree } from '../dist/store/transfer.js';
import { deleteCheckpoint, listCheckpoints, restoreCheckpoint, saveCheckpoint } from '../dist/store/checkpoints.js';
import { pathVersions } from '../dist/store/history.js';
import { beforeBuild, bytes, dur, mark, median, num, p95, ratio, sample, spawnMs, target, timeMs } from './lib.js';
import { indexPending } from '../dist/store/text-index.js';

export const id = 'history';
export const title = 'History: checkpoints, log, version storage (issue 3)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'avfs.js');
const ACTOR = { source: 'sdk' };
const MB = 1024 * 1024;
// No background `gc --auto` / maintenance: it would keep writing into .git after a timed command.
const GIT = ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', '-c', 'commit.gpgsign=false', '-c', 'core.autocrlf=false', '-c', 'gc.auto=0', '-c', 'maintenance.auto=false'];

const PLAN = {
  full: { sizes: [1000, 10000], runs: 11, fullRuns: 3, gitRuns: 5, changes: 100, kept: 20, logVersions: 1000, logRuns: 21, cliRuns: 11, bigVersions: 100, appends: 300 },
  quick: { sizes: [1000, 10000], runs: 3, fullRuns: 1, gitRuns: 2, changes: 100, kept: 5, logVersions: 1000, logRuns: 5, cliRuns: 2, bigVersions: 20, appends: 60 },
};

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const tables = [];
  const targets = [];
  const hasGit = spawnSync('git', ['--version']).status === 0;

  // ---- (1) checkpoint save and restore ------------------------------------------------------
  const rows = [];
  for (const files of plan.sizes) {
    log(`checkpoints of a ${num(files)}-file vault (${plan.runs} runs)`);
    const r = checkpointBench(join(tmp, `cp-${files}`), files, plan, hasGit);
    const big = files === 10000;
    const ts = big ? target('checkpoint save, 10k files', '≤ 50 ms', r.save.median, '<=', 50, 'ms') : null;
    const tr = big ? target(`checkpoint restore, 10k files, ${plan.changes} paths changed`, '≤ 50 ms', r.restore.median, '<=', 50, 'ms') : null;
    if (ts) targets.push(ts, tr);
    const row = (what, s, base, t) => [
      `${num(files)} files: ${what}`,
      dur(s.median),
      dur(s.p95),
      base ? dur(base.median) : '—',
      base ? ratio(s.median / base.median) : '—',
      t ? t.text : '—',
      t ? mark(t.met) : '',
    ];
    rows.push(row('save', r.save, r.gitSave, ts));
    rows.push(row(`save, ${plan.kept} checkpoints already kept`, r.saveCrowded, r.gitSave, null));
    rows.push(row(`restore after ${plan.changes} changes`, r.restore, r.gitReset, tr));
    rows.push(row(`restore after every file changed (${num(r.fullChanged)} paths)`, r.restoreAll, null, null));
  }
  tables.push({
    caption: `Checkpoint save and restore (saveCheckpoint / restoreCheckpoint through the store API; medians of ${plan.runs} runs, ${plan.fullRuns} for the every-file row) vs git on the same tree (${plan.gitRuns} runs, process start included)`,
    columns: ['Vault and operation', 'avfs:', 'avfs p95:', 'git:', 'avfs / git:', 'Target', 'Met'],
    rows,
  });

  // ---- (2) log of a path with 1,000 versions -----------------------------------------------
  log(`log of a path with ${plan.logVersions} versions`);
  const l = logBench(join(tmp, 'log'), plan, hasGit);
  tables.push({
    caption: `\`log\` of one path with ${num(plan.logVersions)} versions (store API: median of ${plan.logRuns}; CLI and git: process spawn to exit, median of ${plan.cliRuns})`,
    columns: ['What', 'avfs:', 'avfs p95:', 'baseline', 'baseline time:', 'avfs / baseline:'],
    rows: [
      [`pathVersions, all ${num(plan.logVersions)}`, dur(l.api.median), dur(l.api.p95), '—', '—', '—'],
      ['pathVersions, newest 20', dur(l.api20.median), dur(l.api20.p95), '—', '—', '—'],
      [
        `\`avfs log /f -n ${plan.logVersions} --json\``,
        dur(l.cli.median),
        dur(l.cli.p95),
        l.git ? `\`git log -- f\` (${num(plan.logVersions)} commits)` : '`node -e 0`',
        dur((l.git ?? l.node).median),
        ratio(l.cli.median / (l.git ?? l.node).median),
      ],
      ...(l.git ? [['(process start alone)', '—', '—', '`node -e 0`', dur(l.node.median), ratio(l.cli.median / l.node.median)]] : []),
    ],
  });

  // ---- (3) storage of many versions of a large file ------------------------------------------
  log(`storage: ${plan.bigVersions} versions of a 10 MB file, one 4 KB block changed each`);
  const s = storageBench(join(tmp, 'storage'), plan.bigVersions);
  // The target is for 100 versions; a quick run writes fewer and reports without it.
  const ts = plan.bigVersions === 100 ? target('100 versions of a 10 MB file (one 4 KB block changed each)', '< 2× the file size', s.growth / s.size, '<=', 2) : null;
  if (ts) targets.push(ts);
  tables.push({
    caption: `Storage of ${plan.bigVersions} versions of a 10 MB file, each changing one 4 KB block at a random offset`,
    columns: ['What', 'bytes:', '× file size:', 'Target', 'Met'],
    rows: [
      ['avfs: growth of the database file (after a WAL checkpoint)', bytes(s.growth), ratio(s.growth / s.size), ts ? ts.text : '— (quick run)', ts ? mark(ts.met) : ''],
      ['avfs: content stored (chunk bytes)', bytes(s.chunkBytes), ratio(s.chunkBytes / s.size), '', ''],
      [`baseline: a full copy per version (${plan.bigVersions} × 10 MB)`, bytes(s.size * plan.bigVersions), ratio(plan.bigVersions), '', ''],
    ],
  });

  // ---- (4) a text log appended to line by line -----------------------------------------------
  log(`a 180 KB text log appended to ${plan.appends} times`);
  const a = await appendBench(join(tmp, 'appends'), plan.appends);
  const appendRow = (label, r) => [label, bytes(r.growth), bytes(r.content), bytes(r.index), ratio(r.growth / a.sumOfSizes), dur(r.perAppend)];
  tables.push({
    caption: `A 180 KB text log appended to ${plan.appends} times, ~100 bytes a line (VaultFs.appendFile, then every version indexed for search), beside the build in AVFS_BENCH_BEFORE when given (${a.beforeCommit ?? 'not given'}) and the sum of every version's size`,
    columns: ['Build', 'home growth:', 'content:', 'search index:', 'growth / sum of sizes:', 'per append (median):'],
    rows: [
      appendRow('this build', a.now),
      ...(a.before ? [appendRow(`before (${a.beforeCommit})`, a.before)] : []),
      ['baseline: every version whole', bytes(a.sumOfSizes), '—', '—', ratio(1), '—'],
    ],
  });

  const notes = [
    `Checkpoints: a vault of N files of ~1 KB in directories of 100. *save* times \`saveCheckpoint\` (one transaction copying the entry and annotation rows; no content is copied); each saved checkpoint is deleted again untimed, except in the "already kept" row, where ${plan.kept} checkpoints of the same vault exist (one is added per run). *restore after ${plan.changes} changes*: before each run, untimed, 60 files are rewritten, 20 deleted and 20 created; the timed \`restoreCheckpoint\` compares the vault with the checkpoint in SQL, saves the replaced state as a before-restore checkpoint (included in the time; deleted again untimed), rewrites only the differing paths and records one version each, all in one transaction. *every file changed*: all N files rewritten before the restore.`,
    `git baseline: the same tree exported to disk once and committed (untimed); then per run the same kind of ${plan.changes} changes are made on disk (untimed) and \`git add -A && git commit -q\` (save) or \`git reset -q --hard && git clean -fdq\` (restore) is timed through \`sh -c\`, so process start (a few ms) is included. git stores content compressed and must stat the working tree; avfs knows its changes from its own tables.`,
    `log: one file written ${num(plan.logVersions)} times (distinct content each). \`pathVersions\` is the store query behind \`avfs log\` (an index range over (vault, path, version)); the CLI row spawns \`bin/avfs.js\`, which includes Node start-up and loading the CLI. git baseline: a repository with ${num(plan.logVersions)} commits each changing one file (built with \`git fast-import\`), timed with \`git log --format=%H%x09%s -- f\`.`,
    `Appended log: a fresh home per build; a text of ~180 KB (random words) written once, then ${plan.appends} appends of one ~100-byte line, each its own version (VaultFs.appendFile, as \`avfs write -a\` does), and every text indexed (indexPending) before the home is measured. "home growth" is the database file after a TRUNCATE WAL checkpoint minus before; "content" the bytes of blob rows and chunks; "search index" the pages of the fts tables (dbstat). This build stores a revised file over 64 KiB in chunks and keeps no copy of the text in the index; "before" runs the same calls of the build in AVFS_BENCH_BEFORE, the two alternating append by append.`,
    `Storage: a fresh home; 10 MB of random bytes written once, then ${plan.bigVersions - 1} more versions each changing one 4 KB block at a random 4 KB-aligned offset. Content is stored in 64 KB chunks shared between versions, so each version adds one new chunk (plus its blob, chunk-list and version rows). "Growth" is the database file size after \`PRAGMA wal_checkpoint(TRUNCATE)\` minus its size before the first write.`,
  ];
  return { tables, notes, targets };
}

// ---- checkpoints ----------------------------------------------------------------------------

function checkpointBench(dir, files, plan, hasGit) {
  const home = join(dir, 'home');
  const store = openStore(home);
  let n = 0;
  try {
    const vfs = new VaultFs(store, 'default', ACTOR);
    const paths = [];
    store.mutate(() => {
      for (let i = 0; i < files; i++) {
        const p = `/d${Math.floor(i / 100)}/f${i}.txt`;
        paths.push(p);
        vfs.writeFile(p, `// file ${i}\n${'x'.repeat(1000 + (i % 48))}\n`, { parents: true });
      }
    });
    // The same kind of change for every run: 60 rewrites, 20 deletions, 20 creations (for 100 changes).
    const change = (k) =>
      store.mutate(() => {
        const rewrite = Math.round(plan.changes * 0.6);
        const del = Math.round(plan.changes * 0.2);
        for (let j = 0; j < rewrite; j++) vfs.writeFile(paths[(k * 131 + j * 97) % files], `rewritten ${k} ${j}\n`);
        for (let j = 0; j < del; j++) {
          const p = paths[(k * 71 + j * 89 + 7) % files];
          if (vfs.exists(p)) vfs.rm(p);
        }
        for (let j = 0; j < plan.changes - rewrite - del; j++) vfs.writeFile(`/new/r${k}-${j}.txt`, `new ${k} ${j}\n`, { parents: true });
      });
    const dropBefore = () => {
      for (const c of listCheckpoints(vfs)) if (c.name.startsWith('before-restore-')) deleteCheckpoint(vfs, c.name);
    };

    const save = sample(plan.runs, () => saveCheckpoint(vfs, `s${n}`), { warmup: 1, between: () => deleteCheckpoint(vfs, `s${n++}`) });
    saveCheckpoint(vfs, 'base');
    change(0);
    const restore = sample(plan.runs, () => restoreCheckpoint(vfs, 'base'), {
      warmup: 1,
      between: (i) => {
        dropBefore();
        change(i + 10);
      },
    });
    restoreCheckpoint(vfs, 'base');
    dropBefore();
    let fullChanged = 0;
    const restoreAll = [];
    for (let r = 0; r < plan.fullRuns; r++) {
      store.mutate(() => paths.forEach((p, i) => vfs.writeFile(p, `all changed ${r} ${i}\n`)));
      restoreAll.push(timeMs(() => (fullChanged = sumChanges(restoreCheckpoint(vfs, 'base')))));
      dropBefore();
    }
    for (let k = 0; k < plan.kept - 1; k++) saveCheckpoint(vfs, `kept${k}`);
    const saveCrowded = sample(plan.runs, () => saveCheckpoint(vfs, `crowd${n++}`), { warmup: 1 });

    let gitSave = null;
    let gitReset = null;
    if (hasGit) {
      const tree = join(dir, 'git');
      exportTree(vfs, '/', tree, false);
      const git = (...args) => spawnMs('git', [...GIT, '-C', tree, ...args]);
      git('init', '-q');
      git('add', '-A');
      git('commit', '-q', '-m', 'base');
      const diskChange = (k) => {
        for (let j = 0; j < 60; j++) writeFileSync(join(tree, paths[(k * 131 + j * 97) % files]), `rewritten ${k} ${j}\n`);
        for (let j = 0; j < 20; j++) rmSync(join(tree, paths[(k * 71 + j * 89 + 7) % files]), { force: true });
        mkdirSync(join(tree, 'new'), { recursive: true });
        for (let j = 0; j < 20; j++) writeFileSync(join(tree, 'new', `r${k}-${j}.txt`), `new ${k} ${j}\n`);
      };
      const sh = (script) => spawnMs('sh', ['-c', script], { cwd: tree });
      const g = GIT.map((a) => `'${a}'`).join(' ');
      const saves = [];
      const resets = [];
      for (let r = 0; r < plan.gitRuns; r++) {
        diskChange(r + 1000);
        saves.push(sh(`git ${g} add -A && git ${g} commit -q -m run${r}`));
        diskChange(r + 2000);
        resets.push(sh(`git ${g} reset -q --hard && git ${g} clean -fdq`));
      }
      gitSave = { median: median(saves) };
      gitReset = { median: median(resets) };
      rmSync(tree, { recursive: true, force: true, maxRetries: 5 });
    }
    return {
      save: summary(save),
      saveCrowded: summary(saveCrowded),
      restore: summary(restore),
      restoreAll: summary(restoreAll),
      fullChanged,
      gitSave,
      gitReset,
    };
  } finally {
    store.release();
  }
}

const sumChanges = (r) => r.added + r.modified + r.deleted;
const summary = (xs) => ({ median: median(xs), p95: p95(xs) });

// ---- log --------------------------------------------------------------------------------------

function logBench(dir, plan, hasGit) {
  const home = join(dir, 'home');
  const store = openStore(home);
  let api;
  let api20;
  try {
    const vfs = new VaultFs(store, 'default', ACTOR);
    for (let i = 0; i < plan.logVersions; i++) vfs.writeFile('/f', `version ${i}\n`);
    for (let i = 0; i < 200; i++) vfs.writeFile(`/other${i}`, 'noise'); // other paths' history around it
    const row = vfs.row();
    const check = (rows, want) => {
      if (rows.length !== want) throw new Error(`log returned ${rows.length} versions, expected ${want}`);
    };
    api = summary(sample(plan.logRuns, () => check(pathVersions(store, row, '/f', plan.logVersions), plan.logVersions), { warmup: 2 }));
    api20 = summary(sample(plan.logRuns, () => check(pathVersions(store, row, '/f', 20), 20), { warmup: 2 }));
  } finally {
    store.release();
  }
  const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '', FORCE_COLOR: '0', NODE_OPTIONS: '' };
  let git = null;
  let repo = null;
  if (hasGit) {
    repo = join(dir, 'repo');
    mkdirSync(repo, { recursive: true });
    spawnMs('git', [...GIT, '-C', repo, 'init', '-q']);
    // Consecutive commits to one branch in a fast-import stream chain onto each other.
    let stream = '';
    for (let i = 0; i < plan.logVersions; i++) {
      const body = `version ${i}\n`;
      stream += `commit refs/heads/master\ncommitter bench <bench@example.invalid> ${1700000000 + i} +0000\ndata 3\nv${String(i % 10)}\n`;
      stream += `M 100644 inline f\ndata ${Buffer.byteLength(body)}\n${body}\n`;
    }
    const fi = spawnSync('git', [...GIT, '-C', repo, 'fast-import', '--quiet'], { input: stream });
    if (fi.status !== 0) throw new Error(`git fast-import failed: ${fi.stderr}`);
    spawnMs('git', [...GIT, '-C', repo, 'checkout', '-q', 'master']);
  }
  const cli = [];
  const node = [];
  const gits = [];
  for (let r = -1; r < plan.cliRuns; r++) {
    const a = spawnMs(process.execPath, [BIN, '--json', 'log', '/f', '-n', String(plan.logVersions)], { env, maxBuffer: 64 * MB });
    const b = spawnMs(process.execPath, ['-e', '0'], { env });
    const c = repo ? spawnMs('git', ['-C', repo, 'log', '--format=%H%x09%s', '--', 'f'], { maxBuffer: 64 * MB }) : 0;
    if (r < 0) continue; // warm-up
    cli.push(a);
    node.push(b);
    gits.push(c);
  }
  if (repo) git = summary(gits);
  return { api, api20, cli: summary(cli), node: summary(node), git };
}

// ---- storage ---------------------------------------------------------------------------------

function storageBench(dir, versions) {
  const home = join(dir, 'home');
  const store = openStore(home);
  try {
    const vfs = new VaultFs(store, 'default', ACTOR);
    const dbFile = join(home, 'avfs.db');
    const fileSize = () => {
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      return statSync(dbFile).size;
    };
    const before = fileSize();
    const size = 10 * MB;
    const data = randomBytes(size);
    vfs.writeFile('/big.bin', data);
    for (let v = 1; v < versions; v++) {
      const off = Math.floor(Math.random() * (size / 4096)) * 4096;
      randomBytes(4096).copy(data, off);
      vfs.writeFile('/big.bin', data);
    }
    const growth = fileSize() - before;
    const chunkBytes = store.db.prepare('SELECT coalesce(sum(size), 0) AS n FROM chunks').get().n;
    return { size, growth, chunkBytes };
  } finally {
    store.release();
    try {
      unlinkSync(join(dir, 'home', 'avfs.db-wal'));
    } catch {
      // already gone
    }
  }
}

// ---- an appended log -------------------------------------------------------------------------

/**
 * A text log appended to line by line, in a fresh home per build (this one, and the one in
 * AVFS_BENCH_BEFORE when given, alternating append by append): what the home, its content and
 * its search index grow by, and the time of one append.
 */
async function appendBench(dir, appends) {
  const builds = [{ key: 'now', code: { openStore, VaultFs, indexPending } }];
  const before = await beforeBuild('store/store.js', 'store/vault-fs.js', 'store/text-index.js');
  if (before) builds.push({ key: 'before', code: before.code });
  const beforeCommit = before?.commit ?? null;
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'theta', 'kappa', 'lambda', 'sigma'];
  let seed = 7;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  const base = Array.from({ length: 28_000 }, () => words[rand(words.length)]).join(' ');
  const lines = Array.from({ length: appends }, (_, i) => `\n${String(i).padStart(5, '0')} ${Array.from({ length: 14 }, () => words[rand(words.length)]).join(' ')}`);
  let size = Buffer.byteLength(base);
  let sumOfSizes = size;
  for (const line of lines) sumOfSizes += size += Buffer.byteLength(line);
  const sides = builds.map((b) => {
    const home = join(dir, `home-${b.key}`);
    const store = b.code.openStore(home);
    const dbSize = () => {
      store.db.pragma('wal_checkpoint(TRUNCATE)');
      return statSync(join(home, 'avfs.db')).size;
    };
    return { b, store, fs: new b.code.VaultFs(store, 'default', ACTOR), dbSize, start: dbSize(), times: [] };
  });
  const result = { beforeCommit, sumOfSizes };
  try {
    for (const side of sides) side.fs.writeFile('/app.log', base);
    lines.forEach((line, i) => {
      for (const side of i % 2 ? [...sides].reverse() : sides) side.times.push(timeMs(() => side.fs.appendFile('/app.log', line)));
    });
    for (const side of sides) {
      side.b.code.indexPending(side.store);
      const one = (sql) => side.store.db.prepare(sql).get().n;
      result[side.b.key] = {
        growth: side.dbSize() - side.start,
        content: one("SELECT (SELECT coalesce(sum(size), 0) FROM blobs WHERE typeof(data) <> 'null') + (SELECT coalesce(sum(size), 0) FROM chunks) AS n"),
        index: one("SELECT coalesce(sum(pgsize), 0) AS n FROM dbstat WHERE name LIKE 'fts%'"),
        perAppend: median(side.times),
      };
    }
  } finally {
    for (const side of sides) side.store.release();
  }
  return result;
}
