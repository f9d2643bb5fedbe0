// Issue 19: merging a fork back. A fork with 1,000 changed paths (rewrites, additions, deletions
// and edits that need a line merge with the parent's own edits of the same files) merged into a
// 100,000-file vault, and a dry run of the same, beside what merging without change sets costs
// (listing and comparing both whole trees) and git merging the same change set in the same run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diffTrees } from '../dist/core/diff.js';
import { iterateDescendants } from '../dist/store/entries.js';
import { mergeVaults } from '../dist/store/merge.js';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { forkVault, getVault } from '../dist/store/vaults.js';
import { dur, mark, median, num, ratio, spawnMs, target, timeMs } from './lib.js';

export const id = 'merge';
export const title = 'Merge: a fork with 1,000 changed paths merged back into a 100k-file vault (issue 19)';

const ACTOR = { source: 'sdk' };
const PLAN = {
  full: { files: 100000, runs: 5, gitRuns: 3 },
  quick: { files: 10000, runs: 3, gitRuns: 2 },
};
const DIR_SIZE = 100;
const LINES = 8;

const pathOf = (i) => `/d${Math.floor(i / DIR_SIZE)}/f${i}.txt`;
const baseText = (i) => Array.from({ length: LINES }, (_, l) => `file ${i} line ${l}\n`).join('');
const editLine = (text, line, what) => text.split('\n').map((l, k) => (k === line ? what : l)).join('\n');

/**
 * The change set, the same for avfs and git: on the fork 700 rewritten files, 150 new ones (half in
 * new directories), 100 deleted, and 50 files whose first line it edits while the parent edits
 * their last line (50 line merges); on the parent, 100 other files rewritten.
 */
function changeSet(files) {
  const pick = (k, salt) => (k * 7919 + salt * 104729) % files;
  const used = new Set();
  const take = (count, salt) => {
    const out = [];
    for (let k = 0; out.length < count; k++) {
      const i = pick(k, salt);
      if (!used.has(i)) {
        used.add(i);
        out.push(i);
      }
    }
    return out;
  };
  const rewrite = take(700, 1);
  const remove = take(100, 2);
  const both = take(50, 3);
  const parentOnly = take(100, 4);
  const fork = [
    ...rewrite.map((i) => ({ path: pathOf(i), text: `rewritten on the fork ${i}\n` })),
    ...Array.from({ length: 150 }, (_, k) => ({ path: k % 2 ? `/new${k % 10}/n${k}.txt` : `/d${k}/added${k}.txt`, text: `added ${k}\n` })),
    ...remove.map((i) => ({ path: pathOf(i), text: null })),
    ...both.map((i) => ({ path: pathOf(i), text: editLine(baseText(i), 0, `fork edit ${i}`) })),
  ];
  const parent = [
    ...parentOnly.map((i) => ({ path: pathOf(i), text: `rewritten on the parent ${i}\n` })),
    ...both.map((i) => ({ path: pathOf(i), text: editLine(baseText(i), LINES - 1, `parent edit ${i}`) })),
  ];
  return { fork, parent };
}

function applyToVault(fs, changes) {
  fs.store.mutate(() => {
    for (const c of changes) {
      if (c.text === null) fs.rm(c.path);
      else fs.writeFile(c.path, c.text, { parents: true });
    }
  });
}

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const set = changeSet(plan.files);
  log(`avfs: ${num(plan.files)}-file vault`);
  const a = avfsBench(join(tmp, 'home'), plan, set);
  log('git: the same tree and change set');
  const g = gitBench(join(tmp, 'git'), plan, set);
  const big = plan.files === 100000;
  const targets = big
    ? [target('merge of 1,000 changed paths, 100k-file vault', '≤ 1 s', a.merge, '<=', 1000, 'ms'), target('dry run of the same', '≤ 1 s', a.dry, '<=', 1000, 'ms')]
    : [];
  const row = (what, value, scan, git, tgt) => [what, dur(value), dur(scan), ratio(value / scan), git === null ? '—' : dur(git), git === null ? '—' : ratio(value / git), tgt ? tgt.text : '—', tgt ? mark(tgt.met) : ''];
  return {
    tables: [
      {
        caption: `Merging a fork with ${num(a.forkPaths)} changed paths into a ${num(plan.files)}-file vault (medians of ${plan.runs} avfs runs, ${plan.gitRuns} git runs; each run a new parent and fork with the same changes)`,
        columns: ['Operation', 'avfs:', 'scan both trees:', 'avfs / scan:', 'git:', 'avfs / git:', 'Target', 'Met'],
        rows: [
          row('merge (one transaction, checkpoint first)', a.merge, a.scan, g?.merge ?? null, targets[0]),
          row('dry run (plan only, nothing stored)', a.dry, a.scan, g?.dry ?? null, targets[1]),
          row('merge again (nothing new)', a.again, a.scan, null, null),
        ],
      },
    ],
    notes: [
      `Vault: ${num(plan.files)} files of ${LINES} lines in ${DIR_SIZE}-file directories, written through the store API. Each run forks it into a parent, forks that into a fork, writes the change set (untimed), then times the dry run, the merge, and a second merge.`,
      `Change set on the fork: 700 files rewritten, 150 added (75 in new directories), 100 deleted, and 50 files whose first line it edits while the parent edits their last line, so 50 line-level merges; on the parent, 100 other files rewritten. The merge applied ${num(a.applied)} paths and examined ${num(a.examined)} (changed paths and their directories).`,
      '"scan both trees": listing every entry of the parent and of the fork (iterateDescendants) and comparing the two listings (diffTrees), in the same run: the least a merge that does not know what changed since the fork would do, before any content is read.',
      g
        ? `git ${g.version}: the same ${num(plan.files)} files committed, the same changes committed on a branch and on main; "merge" is \`git merge --no-edit\` (writes the merged files into the work tree), "dry run" is \`git merge-tree --write-tree\` (the merge computed without a work tree); the repository is reset between runs (untimed).`
        : 'git: not available on this machine, no git figures.',
    ],
    targets,
  };
}

function avfsBench(home, plan, set) {
  const store = openStore(home);
  try {
    const base = new VaultFs(store, 'default', ACTOR);
    for (let start = 0; start < plan.files; start += 20000) {
      store.mutate(() => {
        for (let i = start; i < Math.min(plan.files, start + 20000); i++) base.writeFile(pathOf(i), baseText(i), { parents: true });
      });
    }
    const dry = [];
    const merge = [];
    const again = [];
    const scan = [];
    let last;
    for (let r = 0; r < plan.runs; r++) {
      forkVault(store, 'default', `p${r}`, ACTOR);
      forkVault(store, `p${r}`, `f${r}`, ACTOR);
      applyToVault(new VaultFs(store, `f${r}`, ACTOR), set.fork);
      applyToVault(new VaultFs(store, `p${r}`, ACTOR), set.parent);
      scan.push(timeMs(() => scanBoth(store, `p${r}`, `f${r}`)));
      dry.push(timeMs(() => mergeVaults(store, `f${r}`, { actor: ACTOR, dryRun: true })));
      merge.push(timeMs(() => (last = mergeVaults(store, `f${r}`, { actor: ACTOR }))));
      if (last.status !== 'merged' || last.conflicts.length > 0) throw new Error(`the benchmark merge did not merge cleanly: ${last.status}, ${last.conflicts.length} conflicts`);
      again.push(timeMs(() => mergeVaults(store, `f${r}`, { actor: ACTOR })));
    }
    return {
      dry: median(dry),
      merge: median(merge),
      again: median(again),
      scan: median(scan),
      applied: last.changes.length,
      examined: last.summary.examined,
      forkPaths: set.fork.length,
    };
  } finally {
    store.release();
  }
}

/** Lists both trees whole and compares them: what a merge without change sets starts with. */
function scanBoth(store, a, b) {
  const items = (name) => [...iterateDescendants(store, getVault(store, name), '/')].map((e) => ({ path: e.path, type: e.type, mode: e.mode, size: e.size, hash: e.hash, target: e.target }));
  return store.read(() => diffTrees(items(a), items(b)).length);
}

function gitBench(dir, plan, set) {
  const version = spawnSync('git', ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return null;
  const env = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.invalid', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.invalid' };
  const git = (...args) => {
    const r = spawnSync('git', args, { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const write = (changes) => {
    for (const c of changes) {
      const p = join(dir, c.path);
      if (c.text === null) rmSync(p);
      else {
        mkdirSync(join(p, '..'), { recursive: true });
        writeFileSync(p, c.text);
      }
    }
  };
  mkdirSync(dir, { recursive: true });
  git('init', '-q', '-b', 'main');
  // No automatic gc: with 100k loose objects git starts one in the background after a merge, which
  // competes with the timed runs and was still writing in .git when the section removed its dir.
  git('config', 'gc.auto', '0');
  git('config', 'maintenance.auto', 'false');
  for (let i = 0; i < plan.files; i++) {
    if (i % DIR_SIZE === 0) mkdirSync(join(dir, `d${i / DIR_SIZE}`));
    writeFileSync(join(dir, pathOf(i)), baseText(i));
  }
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
  git('checkout', '-q', '-b', 'fork');
  write(set.fork);
  git('add', '-A');
  git('commit', '-q', '-m', 'fork');
  git('checkout', '-q', 'main');
  write(set.parent);
  git('add', '-A');
  git('commit', '-q', '-m', 'parent');
  const before = git('rev-parse', 'HEAD');
  const merge = [];
  const dry = [];
  for (let r = 0; r < plan.gitRuns; r++) {
    dry.push(spawnMs('git', ['merge-tree', '--write-tree', 'main', 'fork'], { cwd: dir, env }));
    merge.push(spawnMs('git', ['merge', '-q', '--no-edit', 'fork'], { cwd: dir, env }));
    git('reset', '-q', '--hard', before);
  }
  return { version: version.stdout.trim().replace(/^git version /, ''), merge: median(merge), dry: median(dry) };
}
