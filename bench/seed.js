// Issue 8: the seed's workloads. Write/read at 1 KB / 64 KB / 1 MB, listing directories of
// 10/100/1,000 entries, FTS over 100 documents, concurrent agents (1/4/16 worker threads, mixed
// workload), 100 vaults × (10 writes + 10 reads), and fork/checkpoint of a 1,000-file tree.
// Baselines in the same run: node:fs on the same disk, Turso's agentfs-sdk (where it has the
// operation), and `cp -r` / `git worktree add` for forks and checkpoints.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { createVault, deleteVault, forkVault } from '../dist/store/vaults.js';
import { searchText } from '../dist/store/search.js';
import { saveCheckpoint } from '../dist/store/checkpoints.js';
import { exportTree } from '../dist/store/transfer.js';
import { bytes, clock, dur, median, num, p95, ratio, sample, spawnMs, weighted } from './lib.js';

export const id = 'seed';
export const title = "Seed workloads: avfs vs node:fs vs agentfs-sdk, forks and checkpoints vs cp -r / git worktree (issue 8)";

const ACTOR = { source: 'sdk' };
const KB = 1024;
const MB = 1024 * 1024;
const PLAN = {
  full: { io: { [KB]: 200, [64 * KB]: 100, [MB]: 20 }, ioRounds: 3, listRuns: 51, ftsRuns: 41, agentMs: 3000, vaults: 100, forkRuns: 11, wtRuns: 7 },
  quick: { io: { [KB]: 40, [64 * KB]: 20, [MB]: 4 }, ioRounds: 1, listRuns: 11, ftsRuns: 11, agentMs: 500, vaults: 20, forkRuns: 3, wtRuns: 3 },
};
const MIX = [
  ['write', 0.3],
  ['read', 0.35],
  ['list', 0.15],
  ['search', 0.1],
  ['delete', 0.05],
  ['copy', 0.03],
  ['move', 0.02],
];

/** agentfs-sdk, or null with the reason it could not be loaded. */
async function loadAgentFs() {
  try {
    const mod = await import('agentfs-sdk');
    return { AgentFS: mod.AgentFS, why: null };
  } catch (err) {
    return { AgentFS: null, why: `agentfs-sdk could not be loaded: ${String(err?.message ?? err).split('\n')[0]}` };
  }
}

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

/** Text of `size` bytes made of words w0..w499, stamped with `tag` so contents never repeat. */
function text(size, tag, rnd) {
  let t = `doc ${tag} `;
  while (t.length < size) t += `w${Math.floor(rnd() * rnd() * 500)}${rnd() < 0.1 ? '.\n' : ' '}`;
  return Buffer.from(t.slice(0, size));
}

/** Milliseconds an awaited call took. */
async function timeAsync(fn) {
  const t = clock();
  await fn();
  return Number(clock() - t) / 1e6;
}

// ---- section ------------------------------------------------------------------------------

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const { AgentFS, why } = await loadAgentFs();
  const dash = '—';
  const tables = [];
  const notes = [];

  // ---- (1) write/read ---------------------------------------------------------------------
  const ioRows = [];
  for (const [sizeKey, count] of Object.entries(plan.io)) {
    const size = Number(sizeKey);
    log(`write/read ${bytes(size)} × ${count}, ${plan.ioRounds} round(s)`);
    const r = await writeRead(join(tmp, `io-${size}`), size, count, plan.ioRounds, AgentFS);
    for (const op of ['write', 'read']) {
      const a = r.avfs[op], f = r.fs[op], g = r.agentfs?.[op];
      ioRows.push([
        `${op} ${bytes(size)}`,
        num(a.opsPerSec), dur(a.p95),
        num(f.opsPerSec), dur(f.p95),
        g ? num(g.opsPerSec) : dash, g ? dur(g.p95) : dash,
        ratio(a.opsPerSec / f.opsPerSec), g ? ratio(a.opsPerSec / g.opsPerSec) : dash,
      ]);
    }
  }
  tables.push({
    caption: `Write and read, one file per operation (${Object.values(plan.io).join('/')} files per size, median ops/s of ${plan.ioRounds} round(s), p95 per operation; ratios are avfs ops/s ÷ baseline ops/s, higher is better for avfs)`,
    columns: ['Workload', 'avfs ops/s:', 'avfs p95:', 'node:fs ops/s:', 'node:fs p95:', 'agentfs ops/s:', 'agentfs p95:', 'avfs / node:fs:', 'avfs / agentfs:'],
    rows: ioRows,
  });

  // ---- (2) list -----------------------------------------------------------------------------
  log('listing 10/100/1,000 entries');
  const listRows = [];
  for (const n of [10, 100, 1000]) {
    const r = await listing(join(tmp, `ls-${n}`), n, plan.listRuns, AgentFS);
    listRows.push([
      `${n.toLocaleString('en-US')} entries`,
      dur(r.avfs), dur(r.fs), r.agentfs === null ? dash : dur(r.agentfs),
      ratio(r.avfs / r.fs), r.agentfs === null ? dash : ratio(r.avfs / r.agentfs),
    ]);
  }
  tables.push({
    caption: `Listing one directory with each entry's type and size (median of ${plan.listRuns} runs; ratios are avfs time ÷ baseline time, lower is better for avfs)`,
    columns: ['Directory', 'avfs:', 'node:fs:', 'agentfs:', 'avfs / node:fs:', 'avfs / agentfs:'],
    rows: listRows,
  });

  // ---- (3) FTS over 100 docs ----------------------------------------------------------------
  log('FTS over 100 docs');
  const fts = ftsBench(join(tmp, 'fts'), plan.ftsRuns);
  tables.push({
    caption: `Full-text search over 100 documents of 4 KB (median and p95 of ${plan.ftsRuns} queries of one word each; ratio is avfs ÷ baseline time)`,
    columns: ['Search', 'avfs median:', 'avfs p95:', 'node:fs scan median:', 'node:fs scan p95:', 'agentfs:', 'avfs / node:fs:'],
    rows: [['1 word, top 20', dur(fts.avfs.median), dur(fts.avfs.p95), dur(fts.fs.median), dur(fts.fs.p95), 'no search API', ratio(fts.avfs.median / fts.fs.median)]],
  });

  // ---- (4) concurrent agents ----------------------------------------------------------------
  const agentRows = [];
  for (const agents of [1, 4, 16]) {
    const res = {};
    for (const backend of ['avfs', 'fs', ...(AgentFS ? ['agentfs'] : [])]) {
      log(`concurrent agents: ${agents} × ${backend}, ${plan.agentMs} ms`);
      res[backend] = await concurrent(join(tmp, `agents-${agents}-${backend}`), backend, agents, plan.agentMs);
    }
    const g = res.agentfs;
    agentRows.push([
      String(agents),
      num(res.avfs.opsPerSec), dur(res.avfs.p95),
      num(res.fs.opsPerSec), dur(res.fs.p95),
      g ? num(g.opsPerSec) : dash, g ? dur(g.p95) : dash,
      ratio(res.avfs.opsPerSec / res.fs.opsPerSec), g ? ratio(res.avfs.opsPerSec / g.opsPerSec) : dash,
    ]);
  }
  tables.push({
    caption: `Concurrent agents, mixed workload (write .30, read .35, list .15, search .10, delete .05, copy .03, move .02; 1–64 KB files), each agent a worker thread running for ${plan.agentMs / 1000} s; total ops/s and p95 per operation; ratios are avfs ops/s ÷ baseline ops/s`,
    columns: ['Agents', 'avfs ops/s:', 'avfs p95:', 'node:fs ops/s:', 'node:fs p95:', 'agentfs ops/s:', 'agentfs p95:', 'avfs / node:fs:', 'avfs / agentfs:'],
    rows: agentRows,
  });

  // ---- (5) many vaults ----------------------------------------------------------------------
  log(`${plan.vaults} vaults × (10 writes + 10 reads)`);
  const mv = await manyVaults(join(tmp, 'vaults'), plan.vaults, AgentFS);
  const ops = plan.vaults * 20;
  tables.push({
    caption: `${plan.vaults} vaults × (10 writes + 10 reads of 1 KB), including creating each vault (one pass; ratio is avfs ÷ baseline time)`,
    columns: ['Backend', 'total:', 'ops/s:', 'avfs / baseline:'],
    rows: [
      ['avfs (createVault + VaultFs, one home)', dur(mv.avfs), num(ops / (mv.avfs / 1000)), ratio(1)],
      ['node:fs (mkdir + writeFileSync/readFileSync)', dur(mv.fs), num(ops / (mv.fs / 1000)), ratio(mv.avfs / mv.fs)],
      ['agentfs-sdk (AgentFS.open per vault, one database each)', mv.agentfs === null ? dash : dur(mv.agentfs), mv.agentfs === null ? dash : num(ops / (mv.agentfs / 1000)), mv.agentfs === null ? dash : ratio(mv.avfs / mv.agentfs)],
    ],
  });

  // ---- (6) fork and checkpoint vs cp -r and git worktree add -----------------------------------
  log('fork / checkpoint of a 1,000-file tree vs cp -r / git worktree add');
  const fk = forkCheckpoint(join(tmp, 'fork'), plan);
  tables.push({
    caption: `Fork and checkpoint of a 1,000-file tree (~1 KB files in 10 directories; medians of ${plan.forkRuns} runs, ${plan.wtRuns} for the spawned baselines; ratio is time ÷ \`cp -r\` time)`,
    columns: ['Operation', 'median:', 'p95:', 'vs cp -r:'],
    rows: [
      ['avfs `forkVault`', dur(fk.fork.median), dur(fk.fork.p95), ratio(fk.fork.median / fk.cp.median)],
      ['avfs `saveCheckpoint`', dur(fk.checkpoint.median), dur(fk.checkpoint.p95), ratio(fk.checkpoint.median / fk.cp.median)],
      ['`cp -r` (baseline)', dur(fk.cp.median), dur(fk.cp.p95), ratio(1)],
      ['`git worktree add --detach` (baseline)', dur(fk.wt.median), dur(fk.wt.p95), ratio(fk.wt.median / fk.cp.median)],
      ['agentfs-sdk', 'no fork or checkpoint API', '', ''],
    ],
  });

  notes.push(
    `avfs goes through the built store API (\`VaultFs\`, \`searchText\`, \`forkVault\`, \`saveCheckpoint\` from dist/), one transaction per operation. node:fs: synchronous calls on a temp dir on the same filesystem, without fsync. agentfs-sdk: ${AgentFS ? `\`AgentFS.open({ path })\` (version ${agentfsVersion()}), its async \`fs\` API (writeFile, readFile, readdirPlus, unlink, copyFile, rename), one database file per agent/vault on the same filesystem` : `not measured — ${why}`}.`,
    `Write/read: every payload is distinct random bytes; each operation writes a new path, then each file is read back; the three backends alternate per round (order rotates).`,
    `Listing: avfs \`VaultFs.list\` (entries with type and size), node:fs \`readdirSync(dir, { withFileTypes: true })\` (type only, no size: no stat per entry), agentfs \`readdirPlus\` (entries with stats).`,
    `FTS: avfs \`searchText\` (FTS5, bm25 ranking, top 20 with snippets) over 100 indexed 4 KB documents. agentfs-sdk has no search, so only node:fs is a baseline: a scan that reads every file and keeps those containing the word (what an agent without an index does).`,
    `Concurrent agents: N worker threads started together; each imports the store from dist/ (or node:fs, or agentfs-sdk) and opens it itself, works in its own vault of one shared home (node:fs: its own directory; agentfs-sdk: its own database, the way it is meant to be used), seeds 20 files, then runs the weighted random mix for the fixed time. "search" is \`searchText\` for avfs and the read-every-file scan for node:fs and agentfs-sdk; "list" lists the agent's directory; delete/copy/move act on a random existing file. ops/s is all agents' operations ÷ the wall time of the timed phase. The machine has ${cpus().length} logical cores, so 16 agents share them.`,
    `Many vaults: avfs creates ${plan.vaults} vaults in one home; node:fs creates ${plan.vaults} directories; agentfs-sdk opens (creates) ${plan.vaults} database files and closes each after its 20 operations.${quick ? ` Quick mode uses ${plan.vaults} vaults instead of 100.` : ''}`,
    `Fork/checkpoint: a vault of 1,000 files is built once; \`forkVault\` makes a new vault (deleted again untimed), \`saveCheckpoint\` saves a named checkpoint of it. \`cp -r\` copies the same tree exported to disk; \`git worktree add --detach\` checks out a new worktree of a repository holding the same tree in one commit (removed untimed); both are spawned, so process start (a millisecond or two) is included.`,
  );
  return { tables, notes };
}

function agentfsVersion() {
  try {
    return JSON.parse(readFileSync(new URL('../node_modules/agentfs-sdk/package.json', import.meta.url), 'utf8')).version;
  } catch {
    return '?';
  }
}

// ---- write/read ---------------------------------------------------------------------------

async function writeRead(dir, size, count, rounds, AgentFS) {
  const store = openStore(join(dir, 'home'));
  const afs = AgentFS ? await AgentFS.open({ path: join(dir, 'agentfs.db') }) : null;
  try {
    createVault(store, 'bench', ACTOR);
    const vfs = new VaultFs(store, 'bench', ACTOR);
    const payloads = Array.from({ length: count }, () => randomBytes(size));
    const sides = {
      avfs: { write: (p, b) => vfs.writeFile(p, b, { parents: true }), read: (p) => vfs.readFile(p) },
      fs: {
        write: (p, b) => writeFileSync(join(dir, 'fs', p), b),
        read: (p) => readFileSync(join(dir, 'fs', p)),
        mkdir: (p) => mkdirSync(join(dir, 'fs', p), { recursive: true }),
      },
      ...(afs ? { agentfs: { write: (p, b) => afs.fs.writeFile(p, b), read: (p) => afs.fs.readFile(p) } } : {}),
    };
    const names = Object.keys(sides);
    const res = Object.fromEntries(names.map((n) => [n, { write: { rates: [], lat: [] }, read: { rates: [], lat: [] } }]));
    for (let r = 0; r <= rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]);
      for (const side of order) {
        for (const p of payloads) p.writeUInt32LE(r * 7 + names.indexOf(side), 0);
        sides[side].mkdir?.(`/r${r}`);
        for (const op of ['write', 'read']) {
          const lat = [];
          for (let i = 0; i < count; i++) {
            const path = `/r${r}/f${i}`;
            lat.push(await timeAsync(() => (op === 'write' ? sides[side].write(path, payloads[i]) : sides[side].read(path))));
          }
          if (r === 0) continue; // warm-up round
          res[side][op].rates.push(count / (lat.reduce((a, b) => a + b, 0) / 1000));
          res[side][op].lat.push(...lat);
        }
      }
    }
    const out = {};
    for (const n of names) out[n] = Object.fromEntries(['write', 'read'].map((op) => [op, { opsPerSec: median(res[n][op].rates), p95: p95(res[n][op].lat) }]));
    return out;
  } finally {
    store.release();
    await afs?.close();
  }
}

// ---- list ---------------------------------------------------------------------------------

async function listing(dir, n, runs, AgentFS) {
  const store = openStore(join(dir, 'home'));
  const afs = AgentFS ? await AgentFS.open({ path: join(dir, 'agentfs.db') }) : null;
  try {
    createVault(store, 'bench', ACTOR);
    const vfs = new VaultFs(store, 'bench', ACTOR);
    const fsDir = join(dir, 'fs', 'd');
    mkdirSync(fsDir, { recursive: true });
    store.mutate(() => {
      for (let i = 0; i < n; i++) vfs.writeFile(`/d/f${i}.txt`, `file ${i}\n`, { parents: true });
    });
    for (let i = 0; i < n; i++) writeFileSync(join(fsDir, `f${i}.txt`), `file ${i}\n`);
    if (afs) for (let i = 0; i < n; i++) await afs.fs.writeFile(`/d/f${i}.txt`, `file ${i}\n`);
    const t = { avfs: [], fs: [], agentfs: [] };
    for (let i = -3; i < runs; i++) {
      const a = await timeAsync(() => {
        if (vfs.list('/d').length !== n) throw new Error('short list');
      });
      const f = await timeAsync(() => {
        if (readdirSync(fsDir, { withFileTypes: true }).length !== n) throw new Error('short list');
      });
      const g = afs
        ? await timeAsync(async () => {
            if ((await afs.fs.readdirPlus('/d')).length !== n) throw new Error('short list');
          })
        : 0;
      if (i < 0) continue;
      t.avfs.push(a);
      t.fs.push(f);
      t.agentfs.push(g);
    }
    return { avfs: median(t.avfs), fs: median(t.fs), agentfs: afs ? median(t.agentfs) : null };
  } finally {
    store.release();
    await afs?.close();
  }
}

// ---- FTS ----------------------------------------------------------------------------------

function ftsBench(dir, runs) {
  const store = openStore(join(dir, 'home'));
  try {
    createVault(store, 'bench', ACTOR);
    const vfs = new VaultFs(store, 'bench', ACTOR);
    const fsDir = join(dir, 'fs');
    mkdirSync(fsDir, { recursive: true });
    const rnd = rng(8);
    store.mutate(() => {
      for (let i = 0; i < 100; i++) {
        const body = text(4096, i, rnd);
        vfs.writeFile(`/docs/d${i}.md`, body, { parents: true });
        writeFileSync(join(fsDir, `d${i}.md`), body);
      }
    });
    const vault = vfs.row();
    const words = Array.from({ length: runs + 3 }, (_, i) => `w${50 + ((i * 37) % 400)}`);
    const scan = (w) => {
      const re = new RegExp(`\\b${w}\\b`);
      return readdirSync(fsDir).filter((f) => re.test(readFileSync(join(fsDir, f), 'utf8'))).slice(0, 20);
    };
    const a = [], f = [];
    for (let i = 0; i < words.length; i++) {
      const ta = clock();
      searchText(store, vault, words[i], { limit: 20 });
      const ma = Number(clock() - ta) / 1e6;
      const tf = clock();
      scan(words[i]);
      const mf = Number(clock() - tf) / 1e6;
      if (i < 3) continue;
      a.push(ma);
      f.push(mf);
    }
    return { avfs: { median: median(a), p95: p95(a) }, fs: { median: median(f), p95: p95(f) } };
  } finally {
    store.release();
  }
}

// ---- concurrent agents --------------------------------------------------------------------

async function concurrent(dir, backend, agents, ms) {
  mkdirSync(dir, { recursive: true });
  if (backend === 'avfs') {
    const store = openStore(join(dir, 'home'));
    for (let i = 0; i < agents; i++) createVault(store, `agent${i}`, ACTOR);
    store.release();
  }
  const workers = Array.from({ length: agents }, (_, i) => new Worker(new URL(import.meta.url), { workerData: { seedAgent: true, dir, backend, index: i, ms } }));
  const message = (w) =>
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  try {
    await Promise.all(workers.map(message)); // every worker is set up
    const start = clock();
    const results = Promise.all(workers.map(message));
    for (const w of workers) w.postMessage('go');
    const out = await results;
    const wall = Number(clock() - start) / 1e6;
    const total = out.reduce((n, r) => n + r.ops, 0);
    return { opsPerSec: total / (wall / 1000), p95: p95(out.flatMap((r) => r.lat)) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** One agent in a worker thread: opens its backend, seeds files, waits for 'go', runs the mix. */
async function agentMain({ dir, backend, index, ms }) {
  const rnd = rng(1000 + index);
  const base = `/a${index}`;
  let io, done;
  if (backend === 'avfs') {
    const store = openStore(join(dir, 'home'));
    const vfs = new VaultFs(store, `agent${index}`, ACTOR);
    const vault = vfs.row();
    io = {
      write: (p, b) => vfs.writeFile(p, b, { parents: true }),
      read: (p) => vfs.readFile(p),
      list: () => vfs.list(base).map((e) => e.name),
      search: (w) => searchText(store, vault, w, { limit: 20 }),
      delete: (p) => vfs.rm(p),
      copy: (a, b) => vfs.cp(a, b),
      move: (a, b) => vfs.mv(a, b),
    };
    done = () => store.release();
  } else if (backend === 'fs') {
    const root = join(dir, 'fs');
    mkdirSync(join(root, base), { recursive: true });
    const h = (p) => join(root, p);
    io = {
      write: (p, b) => writeFileSync(h(p), b),
      read: (p) => readFileSync(h(p)),
      list: () => readdirSync(h(base)),
      search: (w) => readdirSync(h(base)).filter((f) => readFileSync(h(`${base}/${f}`), 'utf8').includes(w)),
      delete: (p) => unlinkSync(h(p)),
      copy: (a, b) => copyFileSync(h(a), h(b)),
      move: (a, b) => renameSync(h(a), h(b)),
    };
    done = () => {};
  } else {
    const { AgentFS } = await import('agentfs-sdk');
    const afs = await AgentFS.open({ path: join(dir, `agent${index}.db`) });
    io = {
      write: (p, b) => afs.fs.writeFile(p, b),
      read: (p) => afs.fs.readFile(p),
      list: () => afs.fs.readdir(base),
      search: async (w) => {
        const hits = [];
        for (const f of await afs.fs.readdir(base)) if ((await afs.fs.readFile(`${base}/${f}`, 'utf8')).includes(w)) hits.push(f);
        return hits;
      },
      delete: (p) => afs.fs.unlink(p),
      copy: (a, b) => afs.fs.copyFile(a, b),
      move: (a, b) => afs.fs.rename(a, b),
    };
    done = () => afs.close();
  }
  const files = [];
  let seq = 0;
  const fresh = () => `${base}/f${seq++}.txt`;
  const body = () => text(KB + Math.floor(rnd() * 63 * KB), `${index}-${seq}`, rnd);
  for (let i = 0; i < 20; i++) {
    const p = fresh();
    await io.write(p, body());
    files.push(p);
  }
  const pick = () => files[Math.floor(rnd() * files.length)];
  parentPort.postMessage('ready');
  await new Promise((resolve) => parentPort.once('message', resolve));
  const lat = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    let op = weighted(MIX, rnd);
    if (files.length < 5 && (op === 'delete' || op === 'move')) op = 'write';
    const t = clock();
    if (op === 'write') {
      const p = rnd() < 0.5 ? fresh() : pick();
      const b = body();
      await io.write(p, b);
      if (!files.includes(p)) files.push(p);
    } else if (op === 'read') await io.read(pick());
    else if (op === 'list') await io.list();
    else if (op === 'search') await io.search(`w${Math.floor(rnd() * 200)}`);
    else if (op === 'delete') {
      const i = Math.floor(rnd() * files.length);
      await io.delete(files[i]);
      files.splice(i, 1);
    } else if (op === 'copy') {
      const p = fresh();
      await io.copy(pick(), p);
      files.push(p);
    } else {
      const i = Math.floor(rnd() * files.length);
      const p = fresh();
      await io.move(files[i], p);
      files[i] = p;
    }
    lat.push(Number(clock() - t) / 1e6);
  }
  await done();
  parentPort.postMessage({ ops: lat.length, lat });
}

// ---- many vaults --------------------------------------------------------------------------

async function manyVaults(dir, count, AgentFS) {
  const body = (v, i) => Buffer.from(`vault ${v} file ${i} `.padEnd(KB, 'x'));
  const store = openStore(join(dir, 'home'));
  let avfs, fs, agentfs = null;
  try {
    let t = clock();
    for (let v = 0; v < count; v++) {
      createVault(store, `v${v}`, ACTOR);
      const vfs = new VaultFs(store, `v${v}`, ACTOR);
      for (let i = 0; i < 10; i++) vfs.writeFile(`/f${i}.txt`, body(v, i));
      for (let i = 0; i < 10; i++) vfs.readFile(`/f${i}.txt`);
    }
    avfs = Number(clock() - t) / 1e6;
  } finally {
    store.release();
  }
  let t = clock();
  for (let v = 0; v < count; v++) {
    const d = join(dir, 'fs', `v${v}`);
    mkdirSync(d, { recursive: true });
    for (let i = 0; i < 10; i++) writeFileSync(join(d, `f${i}.txt`), body(v, i));
    for (let i = 0; i < 10; i++) readFileSync(join(d, `f${i}.txt`));
  }
  fs = Number(clock() - t) / 1e6;
  if (AgentFS) {
    mkdirSync(join(dir, 'agentfs'));
    t = clock();
    for (let v = 0; v < count; v++) {
      const afs = await AgentFS.open({ path: join(dir, 'agentfs', `v${v}.db`) });
      for (let i = 0; i < 10; i++) await afs.fs.writeFile(`/f${i}.txt`, body(v, i));
      for (let i = 0; i < 10; i++) await afs.fs.readFile(`/f${i}.txt`);
      await afs.close();
    }
    agentfs = Number(clock() - t) / 1e6;
  }
  return { avfs, fs, agentfs };
}

// ---- fork / checkpoint --------------------------------------------------------------------

function forkCheckpoint(dir, plan) {
  const store = openStore(join(dir, 'home'));
  try {
    createVault(store, 'src', ACTOR);
    const vfs = new VaultFs(store, 'src', ACTOR);
    store.mutate(() => {
      for (let i = 0; i < 1000; i++) vfs.writeFile(`/d${Math.floor(i / 100)}/f${i}.txt`, `// file ${i}\n${'x'.repeat(1000 + (i % 48))}\n`, { parents: true });
    });
    const s = (v) => ({ median: median(v), p95: p95(v) });
    const fork = sample(plan.forkRuns, (i) => forkVault(store, 'src', `fork${i + 10}`, ACTOR), {
      warmup: 2,
      between: (i) => deleteVault(store, `fork${i + 10}`, false, ACTOR),
    });
    const checkpoint = sample(plan.forkRuns, (i) => saveCheckpoint(vfs, `cp${i + 10}`), { warmup: 2 });

    const tree = join(dir, 'tree');
    exportTree(vfs, '/', tree, false);
    const copy = join(dir, 'copy');
    const cp = sample(plan.wtRuns, () => spawnMs('cp', ['-r', tree, copy]), { warmup: 1, between: () => rmSync(copy, { recursive: true, force: true }) });

    const git = (...args) => {
      const r = spawnSync('git', ['-C', tree, ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@b' } });
      if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    };
    git('init', '-q');
    git('add', '.');
    git('commit', '-q', '-m', 'tree');
    const wt = join(dir, 'wt');
    const wts = sample(plan.wtRuns, () => spawnMs('git', ['-C', tree, 'worktree', 'add', '-q', '--detach', wt, 'HEAD']), {
      warmup: 1,
      between: () => {
        rmSync(wt, { recursive: true, force: true });
        git('worktree', 'prune');
      },
    });
    return { fork: s(fork), checkpoint: s(checkpoint), cp: s(cp), wt: s(wts) };
  } finally {
    store.release();
  }
}

// ---- worker entry -------------------------------------------------------------------------

if (!isMainThread && workerData?.seedAgent) await agentMain(workerData);
