// Issue 6: the proxy boundary. `avfs proxy exec -- true` on a 1,000-file vault beside running
// `true` directly (target: at most 250 ms overhead), and `git status` through the proxy beside
// native git on the same repository, in each way the proxy can make the vault available: a
// temporary copy, and a private FUSE mount for the run.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { createVault } from '../dist/store/vaults.js';
import { exportTree, importTree } from '../dist/store/transfer.js';
import { fuseAvailable } from '../dist/mount/index.js';
import { dur, mark, median, p95, ratio, spawnMs, target } from './lib.js';

export const id = 'proxy';
export const title = 'Proxy: proxy exec overhead and git status through the boundary (issue 6)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'avfs.js');
const ACTOR = { source: 'sdk' };
const FILES = 1000;
const OVERHEAD_TARGET_MS = 250;
const PLAN = { full: { runs: 15 }, quick: { runs: 5 } };
const GIT_ENV = { GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };

/** A small project: 10 directories of 100 source-like files of 1-4 KB. */
function fill(vfs) {
  vfs.store.mutate(() => {
    for (let i = 0; i < FILES; i++) {
      const line = `export const value${i} = ${i}; // ${'x'.repeat(40)}\n`;
      vfs.writeFile(`/src/m${Math.floor(i / 100)}/f${i}.js`, line.repeat(20 + (i % 60)), { parents: true });
    }
  });
}

function avfsMs(env, args) {
  return spawnMs(process.execPath, [BIN, ...args], { env });
}

/** `avfs proxy exec` once, checking it ran in the mode asked for (a silent fallback would time the wrong thing). */
function proxyMs(env, vault, mode, cmd, expectMode) {
  const args = ['--json', '--vault', vault, 'proxy', 'exec', ...(mode ? ['--mode', mode] : []), '--', ...cmd];
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`proxy exec printed no JSON: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
  if (!json.ok || json.exit_code !== 0) throw new Error(`proxy exec failed: ${r.stdout.slice(0, 500)}`);
  if (json.mode !== expectMode) throw new Error(`proxy exec ran in ${json.mode} mode, expected ${expectMode}: ${json.mode_reason}`);
  return ms;
}

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const home = join(tmp, 'home');
  const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '', FORCE_COLOR: '0', ...GIT_ENV };
  const store = openStore(home);
  const repoHost = join(tmp, 'repo');
  try {
    log(`building a ${FILES}-file vault and a git repository of the same files`);
    createVault(store, 'plain', ACTOR);
    fill(new VaultFs(store, 'plain', ACTOR));
    // The repository is made natively (git init/add/commit of the exported tree), then imported as
    // vault `repo`, so native git and git through the proxy see the same repository.
    exportTree(new VaultFs(store, 'plain', ACTOR), '/', repoHost, false);
    for (const args of [['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'init']]) spawnMs('git', ['-C', repoHost, ...args], { env });
    createVault(store, 'repo', ACTOR);
    importTree(new VaultFs(store, 'repo', ACTOR), repoHost, '/');
    spawnMs('git', ['-C', repoHost, 'status', '--porcelain'], { env }); // refresh the native index once, as the vault's copy will be
  } finally {
    store.release();
  }

  const fuse = await fuseAvailable();
  const modes = [{ name: 'copy', flag: 'copy', expect: 'copy', label: 'temporary copy (--mode copy)' }];
  if (fuse.ok) modes.push({ name: 'mount', flag: 'mount', expect: 'mount', label: 'private FUSE mount per run (default with FUSE)' });
  const notes = [];
  if (!fuse.ok) notes.push(`FUSE unavailable here (${fuse.reason}): only copy mode was measured.`);

  // Warm up every path once (page cache, first git index refresh in each vault).
  spawnMs('true', []);
  avfsMs(env, ['--json', 'vault', 'list']);
  for (const m of modes) {
    proxyMs(env, 'plain', m.flag, ['true'], m.expect);
    proxyMs(env, 'repo', m.flag, ['git', 'status', '--porcelain'], m.expect);
  }

  log(`timing proxy exec -- true (${plan.runs} interleaved rounds)`);
  const t = { native: [], cli: [] };
  for (const m of modes) t[m.name] = [];
  for (let i = 0; i < plan.runs; i++) {
    t.native.push(spawnMs('true', []));
    t.cli.push(avfsMs(env, ['--json', 'vault', 'list']));
    for (const m of modes) t[m.name].push(proxyMs(env, 'plain', m.flag, ['true'], m.expect));
  }
  log(`timing git status (${plan.runs} interleaved rounds)`);
  const g = { native: [] };
  for (const m of modes) g[m.name] = [];
  for (let i = 0; i < plan.runs; i++) {
    g.native.push(spawnMs('git', ['-C', repoHost, 'status', '--porcelain'], { env }));
    for (const m of modes) g[m.name].push(proxyMs(env, 'repo', m.flag, ['git', 'status', '--porcelain'], m.expect));
  }

  const targets = [];
  const base = median(t.native);
  const cli = median(t.cli);
  const rowsTrue = [
    ['`true`, run directly', dur(base), dur(p95(t.native)), '—', '—', '', ''],
    ['`avfs --json vault list` (Node + CLI start-up, for reference)', dur(cli), dur(p95(t.cli)), `+${dur(cli - base)}`, '—', '', ''],
  ];
  for (const m of modes) {
    const over = median(t[m.name]) - base;
    const tg = target(`proxy exec -- true overhead, ${m.name}`, `≤ ${OVERHEAD_TARGET_MS} ms`, over, '<=', OVERHEAD_TARGET_MS, 'ms');
    targets.push(tg);
    const own = median(t[m.name]) - cli;
    rowsTrue.push([`\`avfs proxy exec -- true\`: ${m.label}`, dur(median(t[m.name])), dur(p95(t[m.name])), `+${dur(over)}`, `${own >= 0 ? '+' : ''}${dur(own)}`, tg.text, mark(tg.met)]);
  }
  const gbase = median(g.native);
  const rowsGit = [['native `git status --porcelain`', dur(gbase), dur(p95(g.native)), '1.00×', '—']];
  for (const m of modes) {
    rowsGit.push([`through \`proxy exec\`: ${m.label}`, dur(median(g[m.name])), dur(p95(g[m.name])), ratio(median(g[m.name]) / gbase), `+${dur(median(g[m.name]) - gbase)}`]);
  }
  notes.push(
    `Vault: ${FILES} files of 1-4 KB in 10 directories. Every row is the wall time of a child process (spawnSync), median of ${plan.runs} interleaved rounds; the overhead is the median minus the median of running \`true\` directly.`,
    '"Beyond CLI start-up" is the proxy median minus the median of `avfs --json vault list` (a command that opens the store and does almost nothing): what the boundary itself costs, as opposed to starting Node and loading the CLI, which every avfs command pays.',
    'The proxy rows include everything `proxy exec` does: Node start-up and loading the CLI (see the reference row), policy evaluation, audit rows, the exec record, making the vault available (copy: export to tmpfs when it has room, then import of the changes; private mount: start a mount server process, unmount and wait for it to save and exit), the process-group cleanup scan of /proc, and the change report.',
    'git status: the repository was made natively (git init/add/commit) and imported into the vault, so both sides have the same index and objects; the native side runs in the host repository directory.',
  );
  return {
    tables: [
      { caption: `proxy exec -- true on a ${FILES}-file vault`, columns: ['What', 'Median:', 'p95:', 'Overhead:', 'Beyond CLI start-up:', 'Target', 'Met'], rows: rowsTrue },
      { caption: `git status on a ${FILES}-file repository`, columns: ['What', 'Median:', 'p95:', 'Ratio:', 'Overhead:'], rows: rowsGit },
    ],
    notes,
    targets,
  };
}
