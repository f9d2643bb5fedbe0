// Issue 5: the FUSE mount. Real tools on a mounted vault beside the same workload on the native
// disk, in the same run: sequential write and read of a 256 MiB file (dd, 1 MiB blocks), creating
// 2,000 files of 4 KB, `git clone` of a local 1,000-file repository, `git status` on it, `rm -rf`
// of it. Targets: sequential read ≥ 0.5× native, git status ≤ 3× native, file creation ≥ 0.2×.
//
// The mount is served by its own process (`avfs mount`), so this process may time tools on it with
// spawnSync. Runs alternate native and mount so both see the same machine noise.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuseAvailable } from '../dist/mount/index.js';
import { bytes, dur, mark, median, num, ratio, spawnMs, target } from './lib.js';

export const id = 'mount';
export const title = 'Mount: real tools on a FUSE-mounted vault beside the native disk (issue 5)';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'avfs.js');
const MiB = 1024 * 1024;
const PLAN = {
  full: { bigMiB: 256, ioRuns: 3, files: 2000, createRuns: 3, repoFiles: 1000, cloneRuns: 3, statusRuns: 15 },
  quick: { bigMiB: 64, ioRuns: 1, files: 500, createRuns: 1, repoFiles: 1000, cloneRuns: 1, statusRuns: 5 },
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

function sh(cmd, opts = {}) {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`\`${cmd}\` exited ${r.status ?? r.signal}: ${String(r.stderr).slice(0, 500)}`);
  return r.stdout;
}
const shMs = (cmd, opts) => spawnMs('bash', ['-c', cmd], { timeout: 600_000, ...opts });

function avfs(home, args) {
  const r = spawnSync(process.execPath, [BIN, '--json', '--home', home, ...args], { encoding: 'utf8', timeout: 120_000 });
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    throw new Error(`avfs ${args.join(' ')} printed no JSON: ${r.stdout} ${r.stderr}`);
  }
  if (!json.ok) throw new Error(`avfs ${args.join(' ')} failed: ${r.stdout}`);
  return json;
}

/** A node script that creates `count` files of 4 KB (distinct contents) under a directory. */
const CREATE_SCRIPT = `
const fs = require('fs'); const [dir, count] = process.argv.slice(1);
const block = Buffer.alloc(4096, 'abcdefghijklmnopqrstuvwxyz0123456789\\n');
for (let i = 0; i < Number(count); i++) {
  if (i % 200 === 0) fs.mkdirSync(dir + '/d' + (i / 200), { recursive: true });
  block.write(String(i).padStart(8, '0'), 0);
  fs.writeFileSync(dir + '/d' + Math.floor(i / 200) + '/f' + i + '.txt', block);
}`;

/** A local git repository of `files` source-like files in 10 directories, one commit. */
function makeRepo(dir, files) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) {
    const d = join(dir, `src/m${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}.js`), `export const value${i} = ${i}; // ${'x'.repeat(40)}\n`.repeat(10 + (i % 50)));
  }
  sh('git init -q -b main && git add -A && git commit -q -m initial', { cwd: dir, env: GIT_ENV });
}

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const fuse = await fuseAvailable();
  if (!fuse.ok) {
    return { tables: [], notes: [`Not measured: FUSE is unavailable on this machine (${fuse.reason}).`], targets: [] };
  }
  const home = join(tmp, 'home');
  const mnt = join(tmp, 'mnt');
  const native = join(tmp, 'native');
  mkdirSync(mnt);
  mkdirSync(native);
  const mounted = avfs(home, ['mount', mnt]);
  log(`mounted on ${mnt} (pid ${mounted.pid})`);
  const rows = [];
  const targets = [];
  const row = (what, nativeCell, avfsCell, r, t) => rows.push([what, nativeCell, avfsCell, ratio(r), t ? t.text : '', t ? mark(t.met) : '']);
  try {
    // ---- sequential write and read ----------------------------------------------------------
    const size = plan.bigMiB * MiB;
    const source = join(tmp, 'source.bin');
    writeFileSync(source, randomBytes(size)); // random: content addressing cannot shortcut it
    const w = { native: [], avfs: [] };
    const r = { native: [], avfs: [] };
    for (let i = 0; i < plan.ioRuns; i++) {
      for (const [k, dir] of [['native', native], ['avfs', mnt]]) {
        rmSync(join(dir, 'big.bin'), { force: true });
        w[k].push(shMs(`dd if=${source} of=${dir}/big.bin bs=1M status=none`));
        // Reads are short and the machine is shared: three per write, for a steadier median.
        for (let j = 0; j < 3; j++) r[k].push(shMs(`dd if=${dir}/big.bin of=/dev/null bs=1M status=none`));
      }
    }
    // A first read through FUSE: the file is written with the CLI (not through the mount), so the
    // kernel has none of it cached and every byte comes from avfs.
    const cold = [];
    for (let i = 0; i < plan.ioRuns; i++) {
      avfs(home, ['write', `/cold${i}.bin`, '--from', source]);
      cold.push(shMs(`dd if=${mnt}/cold${i}.bin of=/dev/null bs=1M status=none`));
      avfs(home, ['rm', `/cold${i}.bin`]);
    }
    const mbps = (ms) => size / MiB / (ms / 1000);
    const wN = mbps(median(w.native));
    const wA = mbps(median(w.avfs));
    const rN = mbps(median(r.native));
    const rA = mbps(median(r.avfs));
    const rC = mbps(median(cold));
    row(`sequential write, ${bytes(size)} (dd bs=1M, MiB/s)`, num(wN), num(wA), wA / wN);
    const readTarget = target('sequential read', '≥ 0.5× native', rA / rN, '>=', 0.5);
    targets.push(readTarget);
    row(`sequential read, ${bytes(size)} (MiB/s)`, num(rN), num(rA), rA / rN, readTarget);
    row(`sequential read, first read through FUSE (MiB/s)`, num(rN), num(rC), rC / rN);
    rmSync(join(native, 'big.bin'), { force: true });
    rmSync(join(mnt, 'big.bin'), { force: true });
    log(`io: write ${num(wN)} vs ${num(wA)} MiB/s, read ${num(rN)} vs ${num(rA)} (cold ${num(rC)})`);

    // ---- creating small files ---------------------------------------------------------------
    writeFileSync(join(tmp, 'create.js'), CREATE_SCRIPT);
    const c = { native: [], avfs: [] };
    for (let i = 0; i < plan.createRuns; i++) {
      for (const [k, dir] of [['native', native], ['avfs', mnt]]) {
        const target = join(dir, `create${i}`);
        c[k].push(spawnMs(process.execPath, [join(tmp, 'create.js'), target, String(plan.files)]));
        sh(`rm -rf ${target}`);
      }
    }
    const perSec = (ms) => plan.files / (ms / 1000);
    const cN = perSec(median(c.native));
    const cA = perSec(median(c.avfs));
    const createTarget = target('file creation', '≥ 0.2× native', cA / cN, '>=', 0.2);
    targets.push(createTarget);
    row(`create ${num(plan.files)} files of 4 KB (files/s, one node process)`, num(cN), num(cA), cA / cN, createTarget);
    log(`create: ${num(cN)} vs ${num(cA)} files/s`);

    // ---- git clone, status, rm -rf ----------------------------------------------------------
    const repo = join(tmp, 'repo');
    makeRepo(repo, plan.repoFiles);
    const clone = { native: [], avfs: [] };
    const rm = { native: [], avfs: [] };
    for (let i = 0; i < plan.cloneRuns; i++) {
      for (const [k, dir] of [['native', native], ['avfs', mnt]]) {
        const dest = join(dir, `clone${i}`);
        clone[k].push(shMs(`git clone -q --no-hardlinks ${repo} ${dest}`, { env: GIT_ENV }));
        if (i < plan.cloneRuns - 1) rm[k].push(shMs(`rm -rf ${dest}`));
      }
    }
    const last = plan.cloneRuns - 1;
    const status = { native: [], avfs: [] };
    for (const k of ['native', 'avfs']) sh('git status --porcelain', { cwd: join(k === 'native' ? native : mnt, `clone${last}`), env: GIT_ENV }); // warm-up, index refresh
    for (let i = 0; i < plan.statusRuns; i++) {
      for (const [k, dir] of [['native', native], ['avfs', mnt]]) {
        status[k].push(shMs('git status --porcelain', { cwd: join(dir, `clone${last}`), env: GIT_ENV }));
      }
    }
    // git status with the kernel's attribute cache expired (more than its 1 s bound since the last run).
    const coldStatus = [];
    for (let i = 0; i < Math.min(3, plan.statusRuns); i++) {
      await new Promise((res) => setTimeout(res, 1100));
      coldStatus.push(shMs('git status --porcelain', { cwd: join(mnt, `clone${last}`), env: GIT_ENV }));
    }
    for (const [k, dir] of [['native', native], ['avfs', mnt]]) rm[k].push(shMs(`rm -rf ${join(dir, `clone${last}`)}`));
    const ms = (xs) => median(xs);
    row(`git clone of a local ${num(plan.repoFiles)}-file repository (ms)`, dur(ms(clone.native)), dur(ms(clone.avfs)), ms(clone.avfs) / ms(clone.native));
    const statusTarget = target('git status', '≤ 3× native', ms(status.avfs) / ms(status.native), '<=', 3);
    targets.push(statusTarget);
    row(`git status, ${num(plan.repoFiles)} files (ms)`, dur(ms(status.native)), dur(ms(status.avfs)), ms(status.avfs) / ms(status.native), statusTarget);
    row(`git status, attribute cache expired (ms)`, dur(ms(status.native)), dur(ms(coldStatus)), ms(coldStatus) / ms(status.native));
    row(`rm -rf of the clone (ms)`, dur(ms(rm.native)), dur(ms(rm.avfs)), ms(rm.avfs) / ms(rm.native));
    log(`git: clone ${dur(ms(clone.native))} vs ${dur(ms(clone.avfs))}, status ${dur(ms(status.native))} vs ${dur(ms(status.avfs))}`);
  } finally {
    try {
      avfs(home, ['unmount', mnt, '--lazy']);
    } catch (err) {
      log(`unmount: ${err.message}`);
      spawnSync('umount', ['-l', mnt]);
    }
  }
  return {
    tables: [
      {
        caption: 'Each workload on the native disk and on a mounted vault in the same run (medians; ratio = avfs / native for times, avfs / native for rates)',
        columns: ['Workload', 'Native:', 'avfs mount:', 'Ratio:', 'Target', 'Met'],
        rows,
      },
    ],
    notes: [
      `The mount runs with big_writes and max_write=128 KiB, use_ino, 1 s attribute, entry and negative-lookup timeouts (the bound for CLI changes to show up in the mount), and keeps a file's page cache across opens while its stored content is the one the kernel last saw; the native baseline is the same workload in a directory on the disk holding the temp dir.`,
      `Sequential I/O: dd with 1 MiB blocks of a ${bytes(plan.bigMiB * MiB)} file of random bytes, ${plan.ioRuns} write(s) each, alternating native and mount, each followed by three reads. The write includes close(), which is when the mount stores the file (hashing it and inserting its 64 KiB chunks in one transaction). The reads follow the write, so both the native disk and the mount serve them from the page cache; the "first read through FUSE" row reads a file written with the CLI, so every byte crosses FUSE and comes from SQLite.`,
      `File creation: one node process writes ${num(plan.files)} files of 4 KB (writeFileSync: open, write, close) into ${Math.ceil(plan.files / 200)} directories; each close through the mount stores one version (one transaction).`,
      `git: \`git clone -q --no-hardlinks\` of a local repository with ${num(plan.repoFiles)} files (both sides copy objects), then \`git status --porcelain\` ${plan.statusRuns} times after one warm-up run (within the 1 s attribute cache), and 3 more times after waiting 1.1 s so every lstat crosses FUSE again; then \`rm -rf\`.`,
    ],
    targets,
  };
}
