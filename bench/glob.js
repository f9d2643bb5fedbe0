// Issue 15: one glob compiler. core/glob.ts (ours: `find --name`, `grep --include`, the SDK's
// find, every proxy policy pattern) beside picomatch, the usual npm choice, on what avfs needs:
// the same answers as our glob tests, compile time (policies and find compile each pattern once
// per process), match throughput over realistic workspace paths, and what each costs to load.
//
//   node bench/glob.js [--quick]     after `npm run build`; prints markdown tables
//   npm run bench -- --only glob     the same, written into BENCHMARKS.md
//
// picomatch is not a dependency of avfs: the copy measured is the one vitest brings into
// node_modules. Where it is absent the section measures ours alone and says so.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileGlob } from '../dist/core/glob.js';
import { DEFAULT_RULES } from '../dist/proxy/default-policy.js';
import { DEFAULT_ENV_PASS, DEFAULT_HOST_ALLOW } from '../dist/proxy/policy.js';
import { bytes, dur, markdownTable, median, num, ratio } from './lib.js';

export const id = 'glob';
export const title = 'Globs: core/glob beside picomatch (issue 15)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** picomatch options closest to our syntax: dotfiles are ordinary names, `!`/`+(…)` are literal. */
const PM_BASE = { dot: true, noextglob: true, nonegate: true };

// [glob, subject, expected, mode]: mode 'path' (default), 'nocase', or 'words' (policy words: `/`
// is an ordinary character). The path cases are test/unit/glob.test.ts's, the word cases what the
// proxy policy relies on (test/proxy/policy.test.ts and the default policy).
const CASES = [
  ['*.md', 'notes.md', true], ['*.md', 'notes.mdx', false], ['*.md', 'a/notes.md', false],
  ['a?c', 'abc', true], ['a?c', 'a/c', false], ['a?c', 'ac', false], ['*', '', true],
  ['a.b+(c)|^$', 'a.b+(c)|^$', true], ['a.b', 'axb', false],
  ['file[0-9].txt', 'file7.txt', true], ['file[0-9].txt', 'filex.txt', false], ['file[!0-9].txt', 'filex.txt', true],
  ['file[^0-9].txt', 'file7.txt', false], ['a[!x]b', 'a/b', false], ['a[/]b', 'a/b', false],
  ['[]]', ']', true], ['[a-]', '-', true], ['[\\]x]', ']', true],
  ['a[b', 'a[b', true], ['a{b', 'a{b', true],
  ['*.{js,mjs,ts}', 'a.mjs', true], ['*.{js,mjs,ts}', 'a.cjs', false], ['{a,b{c,d}}x', 'bdx', true], ['{a,b{c,d}}x', 'bx', false],
  ['{*.md,README}', 'README', true], ['{a,}b', 'b', true],
  ['/src/**/*.ts', '/src/a.ts', true], ['/src/**/*.ts', '/src/x/y/a.ts', true], ['/src/**/*.ts', '/lib/a.ts', false],
  ['**/test_*.py', 'test_a.py', true], ['**/test_*.py', 'a/b/test_a.py', true],
  ['/build/**', '/build', true], ['/build/**', '/build/x/y', true], ['/build/**', '/buildx', false], ['a**b', 'a/x/b', true],
  ['\\*.md', '*.md', true], ['\\*.md', 'x.md', false], ['a\\', 'a\\', true],
  ['*.MD', 'notes.md', false], ['*.MD', 'notes.md', true, 'nocase'],
  ['caf?', 'café', true], ['?.txt', '😀.txt', true], ['東京*', '東京タワー.md', true],
  ['.*', '.env', true], ['*', '.gitignore', true],
  ['*', 'a/b', true, 'words'], ['http*', 'https://x/y', true, 'words'], ['a?c', 'a/c', true, 'words'],
  ['a[/]c', 'a/c', true, 'words'], ['{x,*/y}', 'a/b/y', true, 'words'], ['scripts/*', 'scripts/a/b.sh', true, 'words'],
  ['LC_*', 'LC_ALL', true, 'words'], ['--{fast,mode={a,b}}', '--mode=b', true, 'words'], ['\\*', '*', true, 'words'],
];

const ours = (glob, mode) => compileGlob(glob, { nocase: mode === 'nocase', words: mode === 'words' });
// picomatch has no words mode; `bash: true` (a single `*` crosses `/`) is the nearest it has.
const theirs = (pm, glob, mode) => pm.makeRe(glob, { ...PM_BASE, nocase: mode === 'nocase', bash: mode === 'words' });

function correctness(compile) {
  const wrong = { path: [], words: [] };
  for (const [glob, subject, expected, mode] of CASES) {
    let got;
    try {
      got = compile(glob, mode).test(subject);
    } catch {
      got = 'throws';
    }
    if (got !== expected) wrong[mode === 'words' ? 'words' : 'path'].push(`\`${glob}\` on \`${subject}\``);
  }
  return wrong;
}

/** A workspace's paths: a node project with sources, tests, dotfiles, build output and node_modules. */
function workspacePaths(n) {
  let s = 7;
  // The high bits of the LCG: its low bits repeat with a short period.
  const rnd = (k) => Math.floor(((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000) * k);
  const dirs = ['/src', '/src/core', '/src/store', '/src/cli/commands', '/test/unit', '/test/e2e', '/dist/core', '/docs', '/node_modules/zod/lib', '/node_modules/chalk/source', '/.git/objects/ab', '/scripts'];
  const exts = ['ts', 'js', 'mjs', 'json', 'md', 'py', 'txt', 'd.ts', 'test.ts', 'lock'];
  const names = ['index', 'main', 'util', 'paths', 'store', 'README', 'notes', 'package', '.eslintrc', 'test_main', 'vault-fs', 'glob'];
  return Array.from({ length: n }, () => `${dirs[rnd(dirs.length)]}/${names[rnd(names.length)]}${rnd(3) === 0 ? rnd(100) : ''}.${exts[rnd(exts.length)]}`);
}

/** What users pass to find --name / grep --include, and host-path allow lists. */
const PATH_PATTERNS = ['*.ts', '**/*.test.ts', '/src/**/*.{js,ts}', 'README*', '/node_modules/**', '*.[jt]s', 'test_*.py', '/src/*/index.ts'];
/** Every glob of the default policy (words) and its host-path allow list (paths). */
const list = (p) => (p === undefined ? [] : Array.isArray(p) ? p : [p]);
const POLICY_WORDS = [
  ...DEFAULT_RULES.flatMap((r) => [...list(r.program), ...list(r.subcommand), ...(r.args_any ?? []), ...(r.args_all ?? []), ...(r.args_none ?? [])]),
  ...DEFAULT_ENV_PASS,
].filter((p) => !/^\/(.+)\/([dgimsuy]*)$/.test(p));

/** ns per call of fn(i) for i in [0, n), median of `rounds`, the two sides interleaved by the caller. */
function nsPer(n, fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / n;
}

/** Files and bytes of a package directory, and its import time alone in fresh processes. */
function loadCost(spec, dir, rounds) {
  let files = 0;
  let size = 0;
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (/\.(c|m)?js$/.test(name)) {
        files++;
        size += st.size;
      }
    }
  };
  if (statSync(dir).isDirectory()) walk(dir);
  else {
    files = 1;
    size = statSync(dir).size;
  }
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(spec)}); console.log(performance.now() - t)`], { encoding: 'utf8', cwd: ROOT });
    if (r.status !== 0) throw new Error(r.stderr);
    times.push(Number(r.stdout.trim()));
  }
  return { files, size, ms: median(times) };
}

export async function run({ quick = false, log = () => {} } = {}) {
  let pm;
  let pmVersion = 'not installed';
  try {
    pm = require('picomatch');
    pmVersion = JSON.parse(readFileSync(require.resolve('picomatch/package.json'), 'utf8')).version;
  } catch {
    pm = undefined;
  }
  const rounds = quick ? 5 : 15;
  const paths = workspacePaths(quick ? 2000 : 10000);
  const tables = [];

  log('correctness');
  const ourWrong = correctness(ours);
  const pmWrong = pm ? correctness((g, m) => theirs(pm, g, m)) : undefined;
  const paths_ = CASES.filter((c) => c[3] !== 'words').length;
  const words_ = CASES.length - paths_;
  const cell = (w, k, total) => (w ? `${total - w[k].length} / ${total}` : 'n/a');
  tables.push({
    caption: `Correctness: the glob unit tests' cases and the policy's word cases (picomatch ${pmVersion}, options dot, noextglob, nonegate; words with bash)`,
    columns: ['Cases', 'core/glob:', 'picomatch:', 'picomatch gets wrong'],
    rows: [
      ['paths (test/unit/glob.test.ts)', cell(ourWrong, 'path', paths_), cell(pmWrong, 'path', paths_), pmWrong ? pmWrong.path.join(', ') || 'none' : ''],
      ['words (proxy policy)', cell(ourWrong, 'words', words_), cell(pmWrong, 'words', words_), pmWrong ? pmWrong.words.join(', ') || 'none' : ''],
    ],
  });

  log('compile and match');
  const compileSets = [
    ['find/grep patterns (8), path mode', PATH_PATTERNS, undefined],
    [`default policy globs (${POLICY_WORDS.length}), words mode`, POLICY_WORDS, 'words'],
    [`host-path allow list (${DEFAULT_HOST_ALLOW.length}), path mode`, DEFAULT_HOST_ALLOW, undefined],
  ];
  const rows = [];
  for (const [name, patterns, mode] of compileSets) {
    const a = [];
    const b = [];
    for (let r = 0; r < rounds; r++) {
      a.push(nsPer(patterns.length * 20, (i) => ours(patterns[i % patterns.length], mode)));
      if (pm) b.push(nsPer(patterns.length * 20, (i) => theirs(pm, patterns[i % patterns.length], mode)));
    }
    rows.push([`compile: ${name}`, dur(median(a) / 1e6), pm ? dur(median(b) / 1e6) : 'n/a', pm ? ratio(median(a) / median(b)) : '']);
  }
  for (const pattern of ['*.ts', '**/*.test.ts', '/src/**/*.{js,ts}', '/node_modules/**']) {
    const re = ours(pattern);
    const pre = pm && theirs(pm, pattern);
    const isMatch = pm && pm(pattern, PM_BASE);
    const a = [];
    const b = [];
    const c = [];
    let hitsA = 0;
    let hitsB = 0;
    for (let r = 0; r < rounds; r++) {
      a.push(nsPer(paths.length, (i) => (hitsA += re.test(paths[i]) ? 1 : 0)));
      if (pm) {
        b.push(nsPer(paths.length, (i) => (hitsB += pre.test(paths[i]) ? 1 : 0)));
        c.push(nsPer(paths.length, (i) => isMatch(paths[i])));
      }
    }
    const agree = !pm || hitsA === hitsB ? '' : ` (matched ${hitsA / rounds} vs ${hitsB / rounds})`;
    rows.push([`match \`${pattern}\` over ${num(paths.length)} paths, per path`, dur(median(a) / 1e6), pm ? `${dur(median(b) / 1e6)} (matcher fn: ${dur(median(c) / 1e6)})` : 'n/a', pm ? ratio(median(a) / median(b)) + agree : '']);
  }
  tables.push({ caption: `Compile and match (median of ${rounds} interleaved rounds; per pattern or per path)`, columns: ['Workload', 'core/glob:', 'picomatch:', 'core/glob / picomatch:'], rows });

  log('load cost');
  const loadRounds = quick ? 3 : 7;
  const ourLoad = loadCost(pathToFileURL(join(ROOT, 'dist/core/glob.js')).href, join(ROOT, 'dist/core/glob.js'), loadRounds);
  const pmLoad = pm ? loadCost('picomatch', dirname(require.resolve('picomatch/package.json')), loadRounds) : undefined;
  const emptyLoad = loadCost('data:text/javascript,', join(ROOT, 'package.json'), loadRounds);
  tables.push({
    caption: `What each costs to ship and load (import alone in a fresh process, median of ${loadRounds}; core/glob.js includes errors.js, which avfs loads anyway)`,
    columns: ['Module', 'JS files:', 'JS bytes:', 'import time:', 'dependency'],
    rows: [
      ['an empty module (baseline: the loader alone)', 0, '0 B', dur(emptyLoad.ms), ''],
      ['core/glob (dist/core/glob.js)', ourLoad.files, bytes(ourLoad.size), dur(ourLoad.ms), 'none (our code)'],
      ['picomatch', pmLoad?.files ?? 'n/a', pmLoad ? bytes(pmLoad.size) : 'n/a', pmLoad ? dur(pmLoad.ms) : 'n/a', pm ? 'a new runtime dependency (today only a dev one, through vitest)' : 'not installed'],
    ],
  });

  return {
    tables,
    notes: [
      'Correctness cases: every assertion of test/unit/glob.test.ts on path globs, plus the word cases the proxy policy relies on (a `*` or `?` that crosses `/`, nested braces, an escaped `*`). picomatch runs with `dot: true` (our `*` matches dotfiles, as `find -name` does), `noextglob` and `nonegate` (in our syntax `+(a)` and a leading `!` are literal characters); for words it has no mode where `/` is an ordinary character, and `bash: true` (single `*` crosses `/`) is the nearest.',
      'Compile: each pattern compiled (`compileGlob`, to an automaton, vs `picomatch.makeRe`, to a RegExp), 20 passes over the set per round. Match: the compiled matcher\'s `test` on each of a seeded set of workspace-like paths (sources, tests, dotfiles, dist, node_modules, .git); the picomatch cell also gives its matcher function (`picomatch(glob)(path)`), what its users usually call.',
      'The two sides alternate round by round, in one process, so both see the same noise on this shared machine.',
    ],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await run({ quick: process.argv.includes('--quick'), log: (msg) => process.stderr.write(`glob: ${msg}\n`) });
  process.stdout.write(`${result.tables.map(markdownTable).join('\n\n')}\n\n${result.notes.map((n) => `- ${n}`).join('\n')}\n`);
}
