// Issue 2: the vault store. Write/read throughput through the store API beside node:fs, fork
// latency beside `cp -r` of the same tree, and CLI cold start beside `node -e 0`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { createVault, deleteVault, forkVault } from '../dist/store/vaults.js';
import { exportTree } from '../dist/store/transfer.js';
import { bytes, clock, dur, mark, median, num, p95, ratio, sample, spawnMs, target } from './lib.js';

export const id = 'store';
export const title = 'Store: read/write throughput, fork, CLI cold start (issue 2)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'avfs.js');
const UNLINKED = join(ROOT, 'dist', 'cli', 'main.js');
const ACTOR = { source: 'sdk' };
const KB = 1024;
const MB = 1024 * 1024;
/** How many extra vaults of the largest size the "crowded home" fork row keeps around. */
const CROWD = 5;

/** Counts per mode. `rounds` alternate avfs and node:fs so both see the same machine noise. */
const PLAN = {
  full: {
    io: [
      { size: KB, count: 2000 },
      { size: 64 * KB, count: 500 },
      { size: MB, count: 50 },
    ],
    ioRounds: 7,
    forkSizes: [1000, 10000],
    forkRuns: 15,
    cpRuns: 7,
    cpWarmup: 1,
    coldRuns: 30,
  },
  quick: {
    io: [
      { size: KB, count: 1000 },
      { size: 64 * KB, count: 200 },
      { size: MB, count: 20 },
    ],
    ioRounds: 3,
    forkSizes: [1000, 10000],
    forkRuns: 5,
    cpRuns: 2,
    cpWarmup: 0,
    coldRuns: 10,
  },
};

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const targets = [];
  const tables = [];

  // ---- (1) throughput ---------------------------------------------------------------------
  const ioRows = [];
  let sqlite = {};
  for (const { size, count } of plan.io) {
    log(`read/write ${bytes(size)} × ${count}, ${plan.ioRounds} rounds`);
    const r = throughput(join(tmp, `io-${size}`), size, count, plan.ioRounds);
    sqlite = r.sqlite;
    for (const op of ['write', 'read']) {
      const a = r.avfs[op];
      const n = r.fs[op];
      const rel = a.opsPerSec / n.opsPerSec;
      let t = null;
      if (op === 'write' && size === KB) t = target('1 KB writes (one transaction each) vs node:fs', '≥ 0.5× node:fs', rel, '>=', 0.5);
      if (op === 'read' && size === MB) t = target('1 MB reads vs node:fs', '≥ 0.8× node:fs', rel, '>=', 0.8);
      if (t) targets.push(t);
      ioRows.push([
        `${bytes(size)} ${op}`,
        num(a.opsPerSec),
        num((a.opsPerSec * size) / MB),
        dur(a.p95),
        num(n.opsPerSec),
        num((n.opsPerSec * size) / MB),
        dur(n.p95),
        ratio(rel),
        t ? t.text : '—',
        t ? mark(t.met) : '',
      ]);
      if (op === 'read' && size === MB) {
        const w = r.row.read;
        ioRows.push([`${bytes(size)} read, the content row alone (SQLite, no avfs code)`, num(w.opsPerSec), num((w.opsPerSec * size) / MB), dur(w.p95), num(n.opsPerSec), num((n.opsPerSec * size) / MB), dur(n.p95), ratio(w.opsPerSec / n.opsPerSec), '—', '']);
      }
    }
  }
  tables.push({
    caption: `Write and read throughput through the store API vs node:fs (operations interleaved one by one; median of ${plan.ioRounds} rounds; p95 is per operation)`,
    columns: ['Workload', 'avfs ops/s:', 'avfs MB/s:', 'avfs p95:', 'node:fs ops/s:', 'node:fs MB/s:', 'node:fs p95:', 'avfs / node:fs:', 'Target', 'Met'],
    rows: ioRows,
  });

  // ---- (2) fork ---------------------------------------------------------------------------
  const forkRows = [];
  for (const files of plan.forkSizes) {
    log(`fork of a ${files}-file vault (${plan.forkRuns} runs) vs cp -r (${plan.cpRuns} runs)`);
    const largest = files === Math.max(...plan.forkSizes);
    const r = forkBench(join(tmp, `fork-${files}`), files, plan, largest ? CROWD : 0);
    const row = (label, fork, t) => [
      label,
      dur(fork.median),
      dur(fork.min),
      dur(fork.p95),
      dur(r.cp.median),
      dur(r.cp.p95),
      ratio(fork.median / r.cp.median),
      t ? t.text : '—',
      t ? mark(t.met) : '',
    ];
    const t = files === 10000 ? target('10k-file fork', '≤ 20 ms', r.fork.median, '<=', 20, 'ms') : null;
    if (t) targets.push(t);
    forkRows.push(row(`${num(files)} files (${num(r.entries)} entries, ${bytes(r.bytes)})`, r.fork, t));
    if (r.crowded) {
      // Same fork, but the home also holds CROWD other vaults of the same size (kept forks):
      // a fork's cost should depend on the vault it copies, not on everything else in the home.
      const tc = files === 10000 ? target(`10k-file fork, home with ${CROWD} more 10k-file vaults`, '≤ 20 ms', r.crowded.median, '<=', 20, 'ms') : null;
      if (tc) targets.push(tc);
      forkRows.push(row(`${num(files)} files, home also holding ${CROWD} more ${num(files)}-file vaults`, r.crowded, tc));
    }
  }
  tables.push({
    caption: `Fork latency (forkVault) vs \`cp -r\` of the same tree on disk (medians; ${plan.forkRuns} forks, ${plan.cpRuns} copies)`,
    columns: ['Vault', 'avfs fork:', 'fork min:', 'fork p95:', 'cp -r:', 'cp -r p95:', 'fork / cp -r:', 'Target', 'Met'],
    rows: forkRows,
  });

  // ---- (3) CLI cold start -----------------------------------------------------------------
  log(`CLI cold start, ${plan.coldRuns} runs each`);
  const c = coldStart(join(tmp, 'cli'), plan.coldRuns);
  const coldRel = c.ls.median / c.node.median;
  const coldTarget = target('CLI cold start (avfs ls)', '≤ 2.5× node -e 0', coldRel, '<=', 2.5);
  targets.push(coldTarget);
  tables.push({
    caption: `CLI cold start (process spawn to exit, ${plan.coldRuns} interleaved runs each)`,
    columns: ['Command', 'median:', 'p95:', 'min:', 'vs node -e 0:', 'Target', 'Met'],
    rows: [
      ['`node -e 0` (baseline)', dur(c.node.median), dur(c.node.p95), dur(c.node.min), ratio(1), '', ''],
      ['`avfs ls` (small vault)', dur(c.ls.median), dur(c.ls.p95), dur(c.ls.min), ratio(coldRel), coldTarget.text, mark(coldTarget.met)],
      ['`avfs ls` from the modules tsc emits, not linked (before scripts/bundle-cli.js)', dur(c.lsUnlinked.median), dur(c.lsUnlinked.p95), dur(c.lsUnlinked.min), ratio(c.lsUnlinked.median / c.node.median), '—', ''],
      ['`avfs --version` (no store)', dur(c.version.median), dur(c.version.p95), dur(c.version.min), ratio(c.version.median / c.node.median), '—', ''],
    ],
  });

  log('module census of avfs ls');
  const census = moduleCensus(join(tmp, 'cli', 'home'), quick ? 3 : 7);
  tables.push({
    caption: `What \`avfs ls\` loads before it runs: files the ESM loader resolves and modules linked into them (scripts/bundle-cli.js), by package avfs imports (with that package's own dependencies), and the package's import time alone, unlinked (median of ${quick ? 3 : 7} fresh processes; compare with \`node -e 0\` above)`,
    columns: ['Package', 'files:', 'modules linked in:', 'import alone:', 'first imported via'],
    rows: census.map((c) => [c.name, String(c.files), String(c.linked), c.ms === null ? '—' : dur(c.ms), c.from ? `\`${c.from}\`` : '']),
  });

  const notes = [
    `avfs writes go through \`VaultFs.writeFile\`, one \`BEGIN IMMEDIATE\` transaction per file (content row, entry, version, audit), each to a new path; reads through \`VaultFs.readFile\`. Every payload is distinct (fresh random bytes, stamped per round), so content addressing never deduplicates.`,
    `node:fs baseline: \`writeFileSync\` of the same buffers to new files in one directory of a temp dir on the same filesystem, **without fsync**, then \`readFileSync\` of each; the files are removed between rounds (untimed). avfs and node:fs operations alternate one by one, so both see the same noise. avfs runs with SQLite journal_mode=${sqlite.journal}, synchronous=${sqlite.synchronous} (no fsync per commit; WAL checkpoints fsync), so neither side forces data to disk per write. Reads on both sides are warm (page cache / SQLite cache).`,
    'The content row alone: `SELECT data FROM blobs WHERE hash = ?` of the same files, interleaved with the avfs and node:fs reads (the three take turns going first): the floor SQLite sets under avfs\'s 1 MB read. A 1 MiB file is one row spread over ~256 overflow pages of 4 KiB, each read with its own pread (from the WAL, or the database file: SQLite reads overflow pages past its page cache and mmap), then copied once more into a Node Buffer.',
    `Fork: a vault of N files of ~1 KB in directories of 100, built once; each timed \`forkVault\` creates a new vault from it (a metadata copy in one transaction, including the summary it returns) and is deleted again untimed. \`cp -r\`: the same tree exported once with \`exportTree\`, copied with \`cp -r\` via spawnSync (so process start is included, about a millisecond), and removed untimed. The "home also holding" row repeats the fork after ${CROWD} forks of the same vault were kept, so the home holds ${CROWD + 1}× the entries: a fork should cost what its own vault holds, not what the home holds.`,
    `Cold start: \`spawnSync(node, [bin/avfs.js, ...])\` on a home with a 10-file vault, interleaved with \`node -e 0\` so both see the same noise (NODE_OPTIONS cleared, 3 untimed warm-up runs each). \`avfs --version\` shows the cost of loading the CLI without opening the store.`,
    `SQLite ${sqlite.version}, better-sqlite3 from node_modules.`,
  ];
  return { tables, notes, targets };
}

// ---- throughput -----------------------------------------------------------------------------

function throughput(dir, size, count, rounds) {
  const home = join(dir, 'home');
  const fsDir = join(dir, 'fs');
  mkdirSync(fsDir, { recursive: true });
  const store = openStore(home);
  try {
    createVault(store, 'bench', ACTOR);
    const vfs = new VaultFs(store, 'bench', ACTOR);
    const payloads = Array.from({ length: count }, () => randomBytes(size));
    const res = { avfs: { write: [], read: [] }, fs: { write: [], read: [] }, row: { read: [] } };
    const lat = { avfs: { write: [], read: [] }, fs: { write: [], read: [] }, row: { read: [] } };
    // The floor under avfs's read: SQLite returning the content row alone (no entry lookup, no avfs code).
    const rowRead = store.db.prepare('SELECT data FROM blobs WHERE hash = ?');

    // avfs and node:fs alternate operation by operation (which one goes first alternates too),
    // so both run under the same machine noise and the same process memory state; a phase's
    // throughput is count / the summed time of its operations. Round 0 is an untimed warm-up
    // (JIT, statement cache, first directory).
    for (let r = 0; r <= rounds; r++) {
      for (const p of payloads) p.writeUInt32LE(r, 0); // distinct content every round
      vfs.mkdir(`/r${r}`);
      const dir = join(fsDir, `r${r}`);
      mkdirSync(dir);
      const vpaths = payloads.map((_, i) => `/r${r}/f${i}`);
      const hpaths = payloads.map((_, i) => join(dir, `f${i}`));
      const ops = {
        write: {
          avfs: (i) => vfs.writeFile(vpaths[i], payloads[i]),
          fs: (i) => writeFileSync(hpaths[i], payloads[i]),
        },
        read: {
          avfs: (i) => {
            if (vfs.readFile(vpaths[i]).length !== size) throw new Error('short read');
          },
          fs: (i) => {
            if (readFileSync(hpaths[i]).length !== size) throw new Error('short read');
          },
          row: (i) => {
            if (rowRead.get(hashes[i]).data.length !== size) throw new Error('short read');
          },
        },
      };
      let hashes = [];
      for (const op of ['write', 'read']) {
        const spent = { avfs: [], fs: [], row: [] };
        const sides = op === 'read' ? ['avfs', 'fs', 'row'] : ['avfs', 'fs'];
        if (op === 'read') hashes = vpaths.map((p) => vfs.stat(p).hash);
        for (let i = 0; i < count; i++) {
          const order = sides.map((_, k) => sides[(i + r + k) % sides.length]);
          for (const side of order) {
            const t = clock();
            ops[op][side](i);
            spent[side].push(Number(clock() - t) / 1e6);
          }
        }
        if (r === 0) continue;
        for (const side of sides) {
          res[side][op].push(count / (spent[side].reduce((x, y) => x + y, 0) / 1000));
          lat[side][op].push(...spent[side]);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }

    const summary = (side, op) => ({ opsPerSec: median(res[side][op]), p95: p95(lat[side][op]) });
    return {
      avfs: { write: summary('avfs', 'write'), read: summary('avfs', 'read') },
      fs: { write: summary('fs', 'write'), read: summary('fs', 'read') },
      row: { read: summary('row', 'read') },
      sqlite: {
        version: store.db.prepare('select sqlite_version() as v').get().v,
        journal: store.db.pragma('journal_mode', { simple: true }),
        synchronous: ['OFF', 'NORMAL', 'FULL', 'EXTRA'][store.db.pragma('synchronous', { simple: true })] ?? '?',
      },
    };
  } finally {
    store.release();
  }
}

// ---- fork ---------------------------------------------------------------------------------

function forkBench(dir, files, { forkRuns, cpRuns, cpWarmup }, crowd) {
  const home = join(dir, 'home');
  const store = openStore(home);
  try {
    createVault(store, 'src', ACTOR);
    const vfs = new VaultFs(store, 'src', ACTOR);
    let total = 0;
    store.mutate(() => {
      for (let i = 0; i < files; i++) {
        const body = `// file ${i}\n${'x'.repeat(1000 + (i % 48))}\n`;
        total += body.length;
        vfs.writeFile(`/d${Math.floor(i / 100)}/f${i}.txt`, body, { parents: true });
      }
    });
    const entries = vfs.walk('/').length;

    const forks = sample(forkRuns, (i) => forkVault(store, 'src', `fork${i + 100}`, ACTOR), {
      warmup: 2,
      between: (i) => deleteVault(store, `fork${i + 100}`, false, ACTOR),
    });

    let crowded = null;
    if (crowd > 0) {
      for (let k = 0; k < crowd; k++) forkVault(store, 'src', `kept${k}`, ACTOR);
      const more = sample(forkRuns, (i) => forkVault(store, 'src', `fork${i + 1000}`, ACTOR), {
        warmup: 1,
        between: (i) => deleteVault(store, `fork${i + 1000}`, false, ACTOR),
      });
      crowded = { median: median(more), min: Math.min(...more), p95: p95(more) };
    }

    const tree = join(dir, 'tree');
    exportTree(vfs, '/', tree, false);
    const copy = join(dir, 'copy');
    const cps = sample(cpRuns, () => spawnMs('cp', ['-r', tree, copy]), {
      warmup: cpWarmup,
      between: () => rmSync(copy, { recursive: true, force: true }),
    });
    rmSync(tree, { recursive: true, force: true });
    return { entries, bytes: total, fork: { median: median(forks), min: Math.min(...forks), p95: p95(forks) }, crowded, cp: { median: median(cps), p95: p95(cps) } };
  } finally {
    store.release();
  }
}

// ---- CLI cold start -----------------------------------------------------------------------

function coldStart(dir, runs) {
  const home = join(dir, 'home');
  const store = openStore(home);
  try {
    const vfs = new VaultFs(store, 'default', ACTOR);
    for (let i = 0; i < 10; i++) vfs.writeFile(`/file-${i}.txt`, `hello ${i}\n`);
  } finally {
    store.release();
  }
  const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '', FORCE_COLOR: '0', NODE_OPTIONS: '' };
  const node = process.execPath;
  const cmds = {
    node: () => spawnMs(node, ['-e', '0'], { env }),
    ls: () => spawnMs(node, [BIN, 'ls'], { env }),
    // The same command from the modules tsc emits, as bin/avfs.js ran it before the linked CLI.
    lsUnlinked: () => spawnMs(node, [UNLINKED, 'ls'], { env }),
    version: () => spawnMs(node, [BIN, '--version'], { env }),
  };
  const out = { node: [], ls: [], lsUnlinked: [], version: [] };
  for (let i = -3; i < runs; i++) {
    for (const [name, fn] of Object.entries(cmds)) {
      const ms = fn();
      if (i >= 0) out[name].push(ms);
    }
  }
  const s = (v) => ({ median: median(v), p95: p95(v), min: Math.min(...v) });
  return { node: s(out.node), ls: s(out.ls), lsUnlinked: s(out.lsUnlinked), version: s(out.version) };
}

/**
 * Which modules `avfs ls` loads: a resolve hook (registered from a data: URL, so no file is
 * needed) reports every URL it resolves and who imported it. Files are attributed to the npm
 * package that avfs code imports directly (a package's own dependencies count under it), with
 * the avfs module that first imports it; then each such package is imported alone in a fresh
 * process to show what it costs. This is the table to read when the cold start misses its
 * target: every file is resolved, read, parsed and linked by the ESM loader before `ls` runs.
 */
function moduleCensus(home, runs) {
  const hooks = `export async function resolve(s, c, n) { const r = await n(s, c); process._rawDebug('@@module ' + r.url + ' ' + (c.parentURL ?? '')); return r; }`;
  const reg = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hooks))});`;
  const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '', FORCE_COLOR: '0', NODE_OPTIONS: '' };
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(reg)}`, BIN, 'ls'], { env, encoding: 'utf8' });
  const parentOf = new Map();
  for (const line of r.stderr.split('\n')) {
    if (!line.startsWith('@@module ')) continue;
    const [url, parent] = line.slice(9).split(' ');
    if (!url.startsWith('node:') && !parentOf.has(url)) parentOf.set(url, parent ?? '');
  }
  const AVFS = 'avfs (bin/, dist/)';
  const pkgOf = (url) => /.*node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? AVFS;
  const local = (url) => url.replace(pathToFileURL(ROOT).href + '/', '');
  // The import chain inside avfs that leads to `url`: dist/cli/main.js → … → url.
  const chain = (url) => {
    const names = [];
    for (let u = url; u && pkgOf(u) === AVFS && names.length < 30; u = parentOf.get(u)) {
      if (!u.endsWith('/bin/avfs.js')) names.unshift(local(u));
    }
    return names.join(' → ');
  };
  // The package avfs imported directly that (transitively) pulled `url` in, and from where.
  const root = (url, depth = 0) => {
    const parent = parentOf.get(url) ?? '';
    if (pkgOf(url) === AVFS) return { name: AVFS, from: '' };
    if (!parent || pkgOf(parent) === AVFS || depth > 50) return { name: pkgOf(url), from: chain(parent) };
    return root(parent, depth + 1);
  };
  const groups = new Map();
  const group = (name, from) => groups.get(name) ?? groups.set(name, { name, files: 0, linked: 0, from }).get(name);
  for (const url of parentOf.keys()) {
    const { name, from } = root(url);
    group(name, from).files++;
    // A file of the linked CLI holds many modules: its source map names them (src/… for avfs's own).
    if (!url.includes('/dist/cli-bundle/')) continue;
    const file = new URL(url).pathname;
    const { sources } = JSON.parse(readFileSync(file + '.map', 'utf8'));
    for (const source of sources) {
      const pkg = pkgOf(pathToFileURL(resolve(dirname(file), source)).href);
      group(pkg, '').linked++;
    }
  }
  const rows = [...groups.values()].sort((a, b) => b.files - a.files);
  for (const row of rows) {
    row.ms = null;
    if (row.name === AVFS) continue;
    const code = `const t = performance.now(); await import(${JSON.stringify(row.name)}); console.log(performance.now() - t);`;
    const times = [];
    for (let i = 0; i < runs; i++) {
      const out = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, env, encoding: 'utf8' });
      if (out.status === 0) times.push(Number(out.stdout.trim()));
    }
    row.ms = times.length ? median(times) : null;
  }
  rows.push({ name: '**total**', files: rows.reduce((n, x) => n + x.files, 0), linked: rows.reduce((n, x) => n + x.linked, 0), ms: null, from: '' });
  return rows;
}
