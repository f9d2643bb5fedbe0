#!/usr/bin/env node
/**
 * `npm run bench` — builds avfs, runs the benchmark sections and rewrites BENCHMARKS.md.
 *
 *   npm run bench                      every section, full counts (a few minutes)
 *   npm run bench -- --quick           every section, small counts (about 100 s on a 2-core VM; noisier)
 *   npm run bench -- --only store,fork only these section ids; their blocks in BENCHMARKS.md are
 *                                      replaced and every other block is kept as it was
 *   options: --no-build (use dist/ as it is), --no-write (print only), --out <file>,
 *            --keep (keep the temp dir and print where it is)
 *
 * Benchmarks are not tests: they measure and report, and every figure stands beside a
 * baseline measured in the same run on the same machine. A missed target is reported (in the
 * table and in the summary on stdout), it does not fail the run; only a section that throws does.
 *
 * ADDING A SECTION
 *  1. Create bench/<name>.js, plain Node ESM, importing the BUILT code from ../dist/ (run.js
 *     builds it first) and helpers from ./lib.js. It exports:
 *
 *       export const id = 'history';            // short, unique; used by --only and as the marker
 *       export const title = 'History: ...';    // the section heading in BENCHMARKS.md
 *       export async function run({ quick, tmp, log }) {
 *         // quick: boolean — use small counts; keep a section under ~15 s (the goal for all together is a minute; now ~100 s)
 *         // tmp:   an empty directory for this section (same filesystem as the rest), removed after
 *         // log:   (msg) => void, progress to stderr
 *         return {
 *           tables: [{ caption, columns, rows }],   // rows: arrays of strings (cells), one per row
 *           notes: ['what exactly was measured, what the baseline does', ...],
 *           targets: [target(...)],                 // optional, from lib.js: feeds the summary
 *         };
 *       }
 *
 *     Conventions: each row shows avfs beside its baseline measured in the same run, a ratio
 *     column (avfs / baseline), and where an issue sets one, the target (`target.text`) and
 *     `mark(target.met)`. Repeat, interleave avfs and baseline runs, and quote medians (p95 where
 *     the spread matters). A column header ending in ':' is right-aligned. Release what you open
 *     (store.release()), and do not touch anything outside `tmp`.
 *  2. Append its path to SECTIONS below. The order is the order in BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { clock, contention, describeMachine, dur, machineMarkdown, markdownTable, msSince } from './lib.js';

// In BENCHMARKS.md order. Append new sections here (see ADDING A SECTION above).
const SECTIONS = ['./store.js', './scale.js', './history.js', './search.js', './mount.js', './proxy.js', './maintenance.js', './seed.js', './merge.js', './glob.js'];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const opts = { quick: false, only: null, build: true, write: true, out: join(ROOT, 'BENCHMARKS.md'), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--only') opts.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--no-build') opts.build = false;
    else if (a === '--no-write') opts.write = false;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--out') opts.out = resolve(argv[++i] ?? '');
    else if (a === '--help' || a === '-h') {
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
      const end = lines.findIndex((l) => l.startsWith(' * Benchmarks are not tests'));
      process.stdout.write(lines.slice(2, end - 1).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown option ${a} (try --help)\n`);
      process.exit(2);
    }
  }
  return opts;
}

/** Compiles src/ to dist/. tsc emits even with type errors; then we warn and go on if dist exists. */
function build() {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  process.stderr.write('bench: building (tsc -p tsconfig.json, then the linked CLI)\n');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  // The CLI runs the linked bundle only when it is newer than what tsc emitted (bin/avfs.js): a
  // tsc alone left every CLI figure measuring the unlinked modules, about 30 ms slower to start.
  if (r.status === 0) {
    if (spawnSync(process.execPath, [join(ROOT, 'scripts', 'bundle-cli.js')], { cwd: ROOT, stdio: 'inherit' }).status !== 0) process.stderr.write('bench: linking the CLI failed; the CLI figures are of the unlinked modules\n');
    return;
  }
  const ok = existsSync(join(ROOT, 'dist', 'store', 'store.js'));
  process.stderr.write(`${r.stdout}${r.stderr}bench: tsc reported errors${ok ? '; benchmarking the emitted dist/ anyway' : ''}\n`);
  if (!ok) process.exit(1);
}

const MARK_START = (id, meta) => `<!-- bench:section ${id} ${JSON.stringify(meta)} -->`;
const MARK_END = (id) => `<!-- /bench:section ${id} -->`;
const BLOCK_RE = /<!-- bench:section (\S+) (\{.*?\}) -->\n[\s\S]*?<!-- \/bench:section \1 -->/g;

function renderSection(mod, result, meta) {
  const parts = [MARK_START(mod.id, meta), `## ${mod.title}`, '', `_${meta.mode} run, ${meta.date}, ${dur(meta.ms)}._`, ''];
  if (result.error) {
    parts.push('**This section failed:**', '', '```text', result.error, '```', '');
  } else {
    for (const table of result.tables ?? []) parts.push(markdownTable(table), '');
    if (result.notes?.length) parts.push('How it was measured:', '', ...result.notes.map((n) => `- ${n}`), '');
  }
  parts.push(MARK_END(mod.id));
  return parts.join('\n');
}

function renderFile({ machine, date, command, blocks }) {
  const summary = [];
  for (const b of blocks) {
    for (const t of b.meta.targets ?? []) summary.push([b.meta.title.split(':')[0], t.name, t.text, t.reached, t.met ? '✅ met' : '❌ missed']);
  }
  return [
    '# avfs benchmarks',
    '',
    `Generated by \`${command}\` (bench/run.js) on ${date}. Do not edit by hand: rerun it. Every`,
    'figure stands beside a baseline measured in the same run on the same machine; figures are',
    'medians of repeated, interleaved runs on a shared (noisy) machine, so compare ratios more than',
    'absolute numbers, and read the contention lines below before comparing two runs.\n`npm run bench -- --quick` runs everything with small counts (about 100 s on this 2-core VM, against a goal of one minute).',
    '',
    '## Machine',
    '',
    machineMarkdown(machine),
    '',
    '## Targets',
    '',
    summary.length
      ? markdownTable({ columns: ['Section', 'What', 'Target', 'Reached', 'Met'], rows: summary })
      : '_No targets measured._',
    '',
    ...blocks.map((b) => b.text + '\n'),
  ].join('\n');
}

/** Blocks of an existing BENCHMARKS.md, by section id, so --only can keep the others. */
function existingBlocks(file) {
  const out = new Map();
  if (!existsSync(file)) return out;
  for (const m of readFileSync(file, 'utf8').matchAll(BLOCK_RE)) {
    try {
      out.set(m[1], { text: m[0], meta: JSON.parse(m[2]) });
    } catch {
      // a hand-edited marker: drop that block, the next full run regenerates it
    }
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build) build();
  const mods = [];
  for (const path of SECTIONS) {
    const mod = await import(pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), path)).href);
    if (!mod.id || !mod.title || typeof mod.run !== 'function') throw new Error(`bench section ${path} must export id, title and run`);
    mods.push(mod);
  }
  if (opts.only) {
    const unknown = opts.only.filter((id) => !mods.some((m) => m.id === id));
    if (unknown.length) {
      process.stderr.write(`bench: unknown section ${unknown.join(', ')} (known: ${mods.map((m) => m.id).join(', ')})\n`);
      process.exit(2);
    }
  }

  const tmp = mkdtempSync(join(tmpdir(), 'avfs-bench-'));
  const machine = describeMachine(tmpdir()); // the temp dirs live there: same filesystem
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const mode = opts.quick ? 'quick' : 'full';
  const command = `npm run bench${opts.quick || opts.only ? ' --' : ''}${opts.quick ? ' --quick' : ''}${opts.only ? ` --only ${opts.only.join(',')}` : ''}`;
  const fresh = new Map();
  let failed = 0;
  const started = clock();
  try {
    for (const mod of mods) {
      if (opts.only && !opts.only.includes(mod.id)) continue;
      const dir = join(tmp, mod.id);
      mkdirSync(dir, { recursive: true });
      const log = (msg) => process.stderr.write(`[${mod.id}] ${msg}\n`);
      const t0 = clock();
      let result;
      try {
        result = await mod.run({ quick: opts.quick, tmp: dir, log });
      } catch (err) {
        failed++;
        process.stderr.write(`[${mod.id}] FAILED: ${err?.stack ?? err}\n`);
        result = { error: String(err?.stack ?? err) };
      }
      const targets = (result.targets ?? []).map((t) => ({ name: t.name, text: t.text, reached: t.reached ?? String(t.value), met: t.met }));
      const meta = { title: mod.title, mode, date, ms: msSince(t0), node: machine.node, cpu: machine.cpu, targets };
      fresh.set(mod.id, { text: renderSection(mod, result, meta), meta });
      log(`done in ${dur(meta.ms)}`);
    }
  } finally {
    if (opts.keep) process.stderr.write(`bench: temp dir kept at ${tmp}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  }

  machine.atEnd = contention();
  // With --only, sections not run keep their previous block (and say when they were measured).
  const previous = opts.only ? existingBlocks(opts.out) : new Map();
  const blocks = mods.map((m) => fresh.get(m.id) ?? previous.get(m.id)).filter(Boolean);
  const text = renderFile({ machine, date, command, blocks });
  if (opts.write) {
    writeFileSync(opts.out, text);
    process.stderr.write(`bench: wrote ${opts.out} in ${dur(msSince(started))}\n`);
  } else {
    process.stdout.write(text);
  }

  for (const [id, b] of fresh) {
    for (const t of b.meta.targets) process.stdout.write(`${t.met ? 'met   ' : 'MISSED'}  [${id}] ${t.name}: ${t.reached} (target ${t.text})\n`);
  }
  if (failed) process.exitCode = 1;
}

await main();
