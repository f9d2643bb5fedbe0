// Issues 6 and 14: the proxy boundary. `avfs proxy exec -- true` on a 1,000-file vault, sandboxed
// (bubblewrap, the vault as `/`), beside running `true` directly and beside the bare sandbox
// (`bwrap … true` with the same arguments on a plain directory), in each way the proxy can make
// the vault the sandbox's root: a view on the home's resident views server (the default; warm,
// and cold = the first exec after the server stopped), a private FUSE mount per run, and a
// temporary copy. Target: at most 250 ms over `true`. Also `git status` through each.
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { createVault, forkVault } from '../dist/store/vaults.js';
import { exportTree, importTree } from '../dist/store/transfer.js';
import { fuseAvailable } from '../dist/mount/index.js';
import { bwrapArgs, planSandbox, sandboxRequest } from '../dist/proxy/sandbox.js';
import { DEFAULT_POLICY } from '../dist/proxy/policy.js';
import { dur, mark, median, p95, ratio, spawnMs, target } from './lib.js';

export const id = 'proxy';
export const title = 'Proxy: proxy exec overhead in the sandbox, and git status through the boundary (issues 6, 14)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'avfs.js');
const UNLINKED = join(ROOT, 'dist', 'cli', 'main.js');
const ACTOR = { source: 'sdk' };
const FILES = 1000;
const OVERHEAD_TARGET_MS = 250;
const PLAN = { full: { runs: 15, cold: 5 }, quick: { runs: 5, cold: 3 } };
const GIT_ENV = { GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };

/** A small project: 10 directories of 100 source-like files of 1-4 KB, under `dir`. */
function fill(vfs, dir) {
  vfs.store.mutate(() => {
    for (let i = 0; i < FILES; i++) {
      const line = `export const value${i} = ${i}; // ${'x'.repeat(40)}\n`;
      vfs.writeFile(`${dir}/src/m${Math.floor(i / 100)}/f${i}.js`, line.repeat(20 + (i % 60)), { parents: true });
    }
  });
}

function json(env, args) {
  const r = spawnSync(process.execPath, [BIN, '--json', ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`avfs ${args.join(' ')} printed no JSON: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
}

/** `avfs proxy exec` once, checking it ran as asked (sandboxed, in that mode): a silent fallback would time the wrong thing. */
function proxyMs(env, vault, mode, cmd, cwd = '/', bin = BIN) {
  const args = ['--json', '--vault', vault, 'proxy', 'exec', '--mode', mode.flag, '--cwd', cwd, '--', ...cmd];
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...env, ...mode.env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`proxy exec printed no JSON: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
  if (!out.ok || out.exit_code !== 0) throw new Error(`proxy exec failed: ${r.stdout.slice(0, 500)}`);
  if (out.mode !== mode.flag) throw new Error(`proxy exec ran in ${out.mode} mode, expected ${mode.flag}: ${out.mode_reason}`);
  if (out.sandbox.enforced !== mode.sandboxed) throw new Error(`proxy exec sandbox.enforced is ${out.sandbox.enforced}: ${out.sandbox.reason}`);
  return ms;
}

/** Stops the home's resident views server (for the cold rows). */
function stopViewsServer(env) {
  for (const m of json(env, ['mounts']).mounts ?? []) if (m.views) json(env, ['unmount', m.dir]);
}

/** The bare sandbox: bubblewrap with the proxy's own arguments on a plain directory holding the reserved names. */
function bareSandbox(tmp) {
  const plan = planSandbox(sandboxRequest(DEFAULT_POLICY, {}));
  if (!plan.enforced) return null;
  const root = join(tmp, 'bare-root');
  mkdirSync(root);
  for (const node of plan.layout.all()) {
    const host = join(root, node.path.slice(1));
    if (node.kind === 'dir') mkdirSync(host);
    else if (node.kind === 'symlink') symlinkSync(node.target, host);
    else writeFileSync(host, '');
  }
  return [plan.bwrap, ...bwrapArgs(plan, { root, cwd: '/', statusFd: null }), 'true'];
}

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const home = join(tmp, 'home');
  const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '', FORCE_COLOR: '0', AVFS_VIEWS_IDLE_MS: '600000', ...GIT_ENV };
  const store = openStore(home);
  const repoHost = join(tmp, 'repo');
  try {
    log(`building a ${FILES}-file vault and a git repository of the same files`);
    createVault(store, 'plain', ACTOR);
    fill(new VaultFs(store, 'plain', ACTOR), '');
    // The repository is made natively (git init/add/commit of the exported tree), then imported as
    // vault `repo` at /repo (the vault is the sandbox's `/`, beside the system directories), so
    // native git and git through the proxy see the same repository.
    exportTree(new VaultFs(store, 'plain', ACTOR), '/', repoHost, false);
    for (const args of [['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'init']]) spawnMs('git', ['-C', repoHost, ...args], { env });
    createVault(store, 'repo', ACTOR);
    importTree(new VaultFs(store, 'repo', ACTOR), repoHost, '/repo');
    spawnMs('git', ['-C', repoHost, 'status', '--porcelain'], { env }); // refresh the native index once, as the vault's copy will be
    // One fork of the repository per way of running: git keeps each file's stat data in its index,
    // and a mount, a view and a copy each show other device numbers, so sharing one vault would
    // make every run rewrite the index.
    for (const name of ['resident', 'private', 'copy']) forkVault(store, 'repo', `repo-${name}`, ACTOR);
  } finally {
    store.release();
  }

  const notes = [];
  const bare = bareSandbox(tmp);
  if (!bare) throw new Error('bubblewrap is not available here: the proxy section measures the sandboxed boundary (apt-get install -y bubblewrap)');
  const fuse = await fuseAvailable();
  const modes = [];
  if (fuse.ok) {
    modes.push({ name: 'resident', flag: 'mount', env: {}, sandboxed: true, label: 'sandboxed, view on the resident views server (default)' });
    modes.push({ name: 'private', flag: 'mount', env: { AVFS_PROXY_MOUNT: 'private' }, sandboxed: true, label: 'sandboxed, private FUSE mount per run' });
  } else {
    notes.push(`FUSE unavailable here (${fuse.reason}): only copy mode was measured.`);
  }
  modes.push({ name: 'copy', flag: 'copy', env: {}, sandboxed: true, label: 'sandboxed, temporary copy (--mode copy)' });

  // Warm up every path once (page cache, first git index refresh in each vault, the views server).
  spawnMs('true', []);
  spawnMs(bare[0], bare.slice(1));
  json(env, ['vault', 'list']);
  for (const m of modes) {
    proxyMs(env, 'plain', m, ['true']);
    proxyMs(env, `repo-${m.name}`, m, ['git', 'status', '--porcelain'], '/repo');
  }

  log(`timing proxy exec -- true (${plan.runs} interleaved rounds)`);
  const t = { native: [], bwrap: [], cli: [], unlinked: [] };
  for (const m of modes) t[m.name] = [];
  for (let i = 0; i < plan.runs; i++) {
    t.native.push(spawnMs('true', []));
    t.bwrap.push(spawnMs(bare[0], bare.slice(1)));
    t.cli.push(spawnMs(process.execPath, [BIN, '--json', 'vault', 'list'], { env }));
    for (const m of modes) t[m.name].push(proxyMs(env, 'plain', m, ['true']));
    // The default mode from the modules tsc emits, as bin/avfs.js ran it before the linked CLI.
    t.unlinked.push(proxyMs(env, 'plain', modes[0], ['true'], '/', UNLINKED));
  }
  const cold = [];
  if (fuse.ok) {
    log(`timing the first exec after the views server stopped (${plan.cold} runs)`);
    for (let i = 0; i < plan.cold; i++) {
      stopViewsServer(env);
      cold.push(proxyMs(env, 'plain', modes[0], ['true']));
    }
  }
  log(`timing git status (${plan.runs} interleaved rounds)`);
  const g = { native: [] };
  for (const m of modes) g[m.name] = [];
  for (let i = 0; i < plan.runs; i++) {
    g.native.push(spawnMs('git', ['-C', repoHost, 'status', '--porcelain'], { env }));
    for (const m of modes) g[m.name].push(proxyMs(env, `repo-${m.name}`, m, ['git', 'status', '--porcelain'], '/repo'));
  }
  stopViewsServer(env);

  const targets = [];
  const base = median(t.native);
  const cli = median(t.cli);
  const row = (what, samples, withTarget) => {
    const over = median(samples) - base;
    const own = median(samples) - cli;
    const tg = withTarget ? target(`proxy exec -- true overhead, ${withTarget}`, `≤ ${OVERHEAD_TARGET_MS} ms`, over, '<=', OVERHEAD_TARGET_MS, 'ms') : null;
    if (tg) targets.push(tg);
    return [what, dur(median(samples)), dur(p95(samples)), `+${dur(over)}`, `${own >= 0 ? '+' : ''}${dur(own)}`, tg ? tg.text : '', tg ? mark(tg.met) : ''];
  };
  const rowsTrue = [
    ['`true`, run directly', dur(base), dur(p95(t.native)), '—', '—', '', ''],
    ['`bwrap … true`: the bare sandbox, same arguments, on a plain directory', dur(median(t.bwrap)), dur(p95(t.bwrap)), `+${dur(median(t.bwrap) - base)}`, '—', '', ''],
    ['`avfs --json vault list` (Node + CLI start-up, for reference)', dur(cli), dur(p95(t.cli)), `+${dur(cli - base)}`, '—', '', ''],
  ];
  for (const m of modes) rowsTrue.push(row(`\`avfs proxy exec -- true\`: ${m.label}`, t[m.name], m.name));
  rowsTrue.push(row(`\`avfs proxy exec -- true\`: ${modes[0].label}, from the modules tsc emits, not linked (before scripts/bundle-cli.js)`, t.unlinked, null));
  if (cold.length) rowsTrue.push(row('`avfs proxy exec -- true`: the first exec after the views server stopped (starts it)', cold, null));
  const gbase = median(g.native);
  const rowsGit = [['native `git status --porcelain`', dur(gbase), dur(p95(g.native)), '1.00×', '—']];
  for (const m of modes) {
    rowsGit.push([`through \`proxy exec\`: ${m.label}`, dur(median(g[m.name])), dur(p95(g[m.name])), ratio(median(g[m.name]) / gbase), `+${dur(median(g[m.name]) - gbase)}`]);
  }
  notes.push(
    `Vault: ${FILES} files of 1-4 KB in 10 directories. Every row is the wall time of a child process (spawnSync), median of ${plan.runs} interleaved rounds (the cold row: ${plan.cold} runs, each after stopping the views server); the overhead is the median minus the median of running \`true\` directly.`,
    '"Beyond CLI start-up" is the proxy median minus the median of `avfs --json vault list` (a command that opens the store and does almost nothing): what the boundary itself costs, as opposed to starting Node and loading the CLI, which every avfs command pays.',
    'Every proxy row is sandboxed (bubblewrap: new PID, IPC, UTS, network and cgroup namespaces, the vault as `/`, the host system directories read-only, a pids cgroup for the process limit) and includes everything `proxy exec` does: Node start-up and loading the CLI, policy evaluation, audit rows, the exec record, making the vault the sandbox root (resident: a connection to the home\'s views server and one view opened and closed; private mount: start a mount server process, unmount and wait for it to save and exit; copy: export to tmpfs, then import of the changes), the run, and the change report.',
    'The resident views server is started by the first exec that needs one and stays up while execs keep coming (AVFS_VIEWS_IDLE_MS, default 2 minutes); the cold row is what an exec pays when it has to start it.',
    `Which way is the default was picked by these numbers: beyond CLI start-up, ${modes.map((m) => `${m.name} +${dur(median(t[m.name]) - cli)}`).join(', ')} in this run. The target counts Node start-up too, which no mode can avoid: on a busy machine (see the contention lines) that alone takes most of it.`,
    'git status: the repository was made natively (git init/add/commit) and imported into the vault at /repo, so both sides have the same index and objects (each way of running gets its own fork of that vault, warmed up once: git keeps stat data in its index, and a view, a private mount and a copy show different device numbers); the proxy runs it with --cwd /repo, the native side in the host repository directory.',
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
