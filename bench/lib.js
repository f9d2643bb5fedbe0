// Helpers shared by the benchmark sections: timing, statistics, the machine description and
// markdown rendering. Plain Node ESM with no dependencies, so a section can be read on its own.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

// ---- timing -------------------------------------------------------------------------------

/** Monotonic clock in nanoseconds (bigint). */
export const clock = () => process.hrtime.bigint();

/** Milliseconds elapsed since a `clock()` reading, as a float. */
export const msSince = (start) => Number(clock() - start) / 1e6;

/** Runs `fn` once and returns how long it took in milliseconds (the result is discarded). */
export function timeMs(fn) {
  const start = clock();
  fn();
  return msSince(start);
}

/** Async variant of timeMs. */
export async function timeMsAsync(fn) {
  const start = clock();
  await fn();
  return msSince(start);
}

/**
 * Runs `fn(i)` `runs` times after `warmup` untimed calls and returns the samples in ms. Between
 * runs `between(i)` (untimed) may reset state, e.g. delete what the run created.
 */
export function sample(runs, fn, { warmup = 0, between } = {}) {
  for (let i = 0; i < warmup; i++) {
    fn(-1 - i);
    between?.(-1 - i);
  }
  const out = [];
  for (let i = 0; i < runs; i++) {
    out.push(timeMs(() => fn(i)));
    between?.(i);
  }
  return out;
}

/**
 * Wall time of a child process in ms (spawnSync; includes fork/exec and exit). Throws when the
 * child fails, so a benchmark never silently times an error path.
 */
export function spawnMs(cmd, args, options = {}) {
  const start = clock();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const ms = msSince(start);
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${String(r.stderr).slice(0, 500)}`);
  }
  return ms;
}

// ---- statistics ---------------------------------------------------------------------------

/** The q-quantile (0..1) of numbers, linear interpolation between closest ranks. */
export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (values) => quantile(values, 0.5);

/** One name from weighted choices `[[name, weight], …]` (weights summing to 1), drawn with `rnd()` in [0, 1). */
export function weighted(choices, rnd) {
  let x = rnd();
  for (const [name, w] of choices) if ((x -= w) < 0) return name;
  return choices[choices.length - 1][0];
}
export const p95 = (values) => quantile(values, 0.95);

/** Summary of samples: median, p95, min, max, n. */
export function stats(values) {
  return { median: median(values), p95: p95(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

// ---- formatting ---------------------------------------------------------------------------

/** A number with about three significant digits and thousands separators: 12,345 / 123 / 1.23 / 0.0123. */
export function num(x) {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A duration given in ms, shown in µs below 1 ms and in s above 10 s. */
export function dur(ms) {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1) return `${num(ms * 1000)} µs`;
  if (ms >= 10_000) return `${num(ms / 1000)} s`;
  return `${num(ms)} ms`;
}

/** A ratio as `0.53×`. */
export const ratio = (x) => (!Number.isFinite(x) ? String(x) : x >= 0.1 || x === 0 ? `${x.toFixed(2)}×` : `${x.toPrecision(2)}×`);

/** A byte count as 1 KB / 64 KB / 1 MB (binary units: the sizes benchmarks use). */
export function bytes(n) {
  const unit = (x, u) => `${Number.isInteger(x) ? x : num(x)} ${u}`;
  if (n >= 1 << 30) return unit(n / (1 << 30), 'GB');
  if (n >= 1 << 20) return unit(n / (1 << 20), 'MB');
  if (n >= 1 << 10) return unit(n / (1 << 10), 'KB');
  return `${n} B`;
}

/** The met/missed cell for a target. */
export const mark = (met) => (met ? '✅ met' : '❌ missed');

/**
 * A target: what the issue asks (`text`, e.g. "≥ 0.5× node:fs") and whether `value` meets it.
 * `cmp` is '>=' or '<='; `unit` is '×' (a ratio), 'ms', or a suffix shown after the number (' KB'). Sections put `target.text` and
 * `mark(target.met)` in their rows and return the targets too, for the summary at the top.
 */
export function target(name, text, value, cmp, limit, unit = '×') {
  const met = cmp === '>=' ? value >= limit : value <= limit;
  const reached = unit === 'ms' ? dur(value) : unit === '×' ? ratio(value) : `${num(value)}${unit}`;
  return { name, text, value, limit, cmp, met, reached };
}

// ---- markdown -----------------------------------------------------------------------------

/**
 * Renders `{ caption, columns, rows }` as a markdown table. `columns` are header strings; a
 * header ending in ':' is right-aligned (the colon is not shown). Cells are strings or numbers.
 */
export function markdownTable({ caption, columns, rows }) {
  const esc = (c) => String(c).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const heads = columns.map((c) => (c.endsWith(':') ? c.slice(0, -1) : c));
  const aligns = columns.map((c) => (c.endsWith(':') ? '---:' : ':---'));
  const lines = [];
  if (caption) lines.push(`**${caption}**`, '');
  lines.push(`| ${heads.map(esc).join(' | ')} |`, `| ${aligns.join(' | ')} |`);
  for (const row of rows) lines.push(`| ${row.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

// ---- the machine --------------------------------------------------------------------------

/**
 * The build in AVFS_BENCH_BEFORE (a built checkout of avfs), for a section that runs the same
 * calls beside this build: its commit, and the exports of the given dist modules (paths below
 * dist/) in one object; null when none is given.
 */
export async function beforeBuild(...modules) {
  const dir = process.env.AVFS_BENCH_BEFORE;
  if (!dir) return null;
  const loaded = await Promise.all(modules.map((m) => import(join(dir, 'dist', m))));
  return { commit: commitOf(dir), code: Object.assign({}, ...loaded) };
}

/** The short commit of the git checkout at `dir` (AVFS_BENCH_BEFORE), or `dir` itself when it has none. */
export function commitOf(dir) {
  return run('git', ['-C', dir, 'rev-parse', '--short', 'HEAD']) || dir;
}

function run(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '';
  } catch {
    return '';
  }
}

function osRelease() {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? '';
  } catch {
    return '';
  }
}

/** Filesystem type, device and free space of the filesystem holding `dir`. */
export function diskOf(dir) {
  // df -PT: "Filesystem Type 1024-blocks Used Available Capacity Mounted-on"
  const line = run('df', ['-PTk', dir]).split('\n')[1] ?? '';
  const [device, type, , , avail, , mount] = line.split(/\s+/);
  let rotational = '';
  const dev = /^\/dev\/([a-z]+)/.exec(device ?? '')?.[1];
  if (dev) {
    try {
      rotational = readFileSync(`/sys/block/${dev}/queue/rotational`, 'utf8').trim() === '1' ? 'reported as rotational' : 'reported as non-rotational';
    } catch {
      // not a plain block device (overlay, tmpfs, device-mapper): nothing to say
    }
  }
  return { device: device ?? '?', type: type ?? '?', mount: mount ?? '?', free: avail ? Number(avail) * 1024 : NaN, rotational };
}

/**
 * How contended the machine is right now: load average and, where the kernel has PSI, the share
 * of the last 60 s in which some task waited for CPU or I/O. On a shared VM this is what explains
 * a run that is slower across the board.
 */
export function contention() {
  const psi = (kind) => {
    try {
      return Number(/^some avg10=[\d.]+ avg60=([\d.]+)/m.exec(readFileSync(`/proc/pressure/${kind}`, 'utf8'))?.[1]);
    } catch {
      return NaN;
    }
  };
  const [cpu, io] = [psi('cpu'), psi('io')];
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  return `load ${load}${Number.isFinite(cpu) ? `, CPU pressure ${cpu.toFixed(0)}%, I/O pressure ${io.toFixed(0)}% (PSI some, 60 s)` : ''}`;
}

/** True when DAMON (kdamond) runs: the kernel may then evict page cache proactively. */
function damonActive() {
  try {
    return readdirSync('/proc').some((pid) => /^\d+$/.test(pid) && safeRead(`/proc/${pid}/comm`).startsWith('kdamond'));
  } catch {
    return false;
  }
}

function safeRead(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A description of this machine, enough to compare two BENCHMARKS.md runs. */
export function describeMachine(tmpDir) {
  const cpus = os.cpus();
  const disk = diskOf(tmpDir);
  const virt = run('systemd-detect-virt', []);
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memory: os.totalmem(),
    node: process.version,
    os: `${osRelease() || os.type()} (${os.type()} ${os.release()}, ${os.arch()})`,
    virtualization: virt && virt !== 'none' ? virt : '',
    disk: `${disk.type} on ${disk.device}${disk.rotational ? `, ${disk.rotational}` : ''} (temp dir ${tmpDir}, ${bytes(disk.free)} free)`,
    damon: damonActive(),
    atStart: contention(),
    atEnd: '',
  };
}

/** The machine description as markdown bullet lines. */
export function machineMarkdown(m) {
  return [
    `- CPU: ${m.cpu}, ${m.cores} logical cores${m.virtualization ? ` (virtualised: ${m.virtualization})` : ''}`,
    `- Memory: ${bytes(m.memory)}`,
    `- OS: ${m.os}`,
    `- Node.js: ${m.node}`,
    `- Disk: ${m.disk}`,
    ...(m.damon ? ['- Kernel: DAMON (kdamond) is active, so page cache can be reclaimed proactively and I/O timings vary between runs'] : []),
    `- Contention at start: ${m.atStart}`,
    ...(m.atEnd ? [`- Contention at end: ${m.atEnd}`] : []),
  ].join('\n');
}
