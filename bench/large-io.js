// Issue 17, large files only: a 256 MiB sequential write through the mount (dd bs=1M, close
// included) and a first read through FUSE of a file stored from outside, on a bare passthrough,
// on avfs, and on a second avfs build (`before`: the root of another checkout, built) when given,
// rounds interleaved, medians. Quicker than the whole mount section for A/B of the large-file
// path; the same workload and mount options as its sequential rows (bench/mount.js).
//
//   node bench/large-io.js [MiB] [rounds] [before-root]      (default 256 MiB, 3 rounds)
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { avfs, mountedAt, sh, shMs, sleepMs, startPassthrough, takeStats } from './mount.js';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const MiB = 1024 * 1024;
const size = (Number(process.argv[2]) || 256) * MiB;
const rounds = Number(process.argv[3]) || 3;
const before = process.argv[4];
const tmp = mkdtempSync(join(tmpdir(), 'avfs-large-io-'));
const source = join(tmp, 'source.bin');
writeFileSync(source, randomBytes(size));
const ptSource = join(tmp, 'pt-source');
mkdirSync(ptSource);
const T = {
  passthrough: { dir: join(tmp, 'pt') },
  avfs: { dir: join(tmp, 'mnt'), bin: join(ROOT, 'bin', 'avfs.js'), home: join(tmp, 'home') },
  ...(before ? { before: { dir: join(tmp, 'mnt-before'), bin: join(resolve(before), 'bin', 'avfs.js'), home: join(tmp, 'home-before') } } : {}),
};
for (const t of Object.values(T)) mkdirSync(t.dir);
T.passthrough.pid = startPassthrough(ptSource, T.passthrough.dir, process.env, tmp);
for (const k of ['avfs', 'before']) {
  if (!T[k]) continue;
  T[k].stats = join(tmp, `${k}-stats.json`);
  T[k].pid = avfs(T[k].bin, T[k].home, ['mount', T[k].dir], { ...process.env, AVFS_MOUNT_STATS: T[k].stats }).pid;
}
const res = Object.fromEntries(Object.keys(T).map((k) => [k, { write: [], cold: [], profile: {} }]));
/** The busiest handlers on the mount's JS thread in the last run of an operation (AVFS_MOUNT_STATS), most time first. */
const profile = (k, what) => {
  if (!T[k].stats) return;
  const h = takeStats(T[k].pid, T[k].stats);
  res[k].profile[what] = Object.entries(h)
    .slice(0, 4)
    .map(([op, v]) => `${op} ${v.count} × ${(v.ns / v.count / 1000).toFixed(1)} µs = ${(v.ns / 1e6).toFixed(0)} ms`)
    .join(', ');
};
const loads = [loadavg()[0]];
try {
  for (let i = 0; i < rounds; i++) {
    const keys = Object.keys(T);
    for (const k of i % 2 ? keys.reverse() : keys) {
      const { dir } = T[k];
      if (T[k].stats) takeStats(T[k].pid, T[k].stats); // start counting here
      res[k].write.push(shMs(`dd if=${source} of=${dir}/big.bin bs=1M status=none`));
      profile(k, 'write');
      rmSync(join(dir, 'big.bin'), { force: true });
      const name = `cold${i}.bin`;
      if (k === 'passthrough') sh(`cp ${source} ${ptSource}/${name}`);
      else avfs(T[k].bin, T[k].home, ['write', `/${name}`, '--from', source]);
      sleepMs(1100); // past the entry cache, so the mount sees the new name
      if (T[k].stats) takeStats(T[k].pid, T[k].stats);
      res[k].cold.push(shMs(`dd if=${dir}/${name} of=/dev/null bs=1M status=none`));
      profile(k, 'cold read');
      rmSync(join(dir, name), { force: true });
    }
    loads.push(loadavg()[0]);
  }
} finally {
  for (const k of Object.keys(T)) {
    if (k === 'passthrough') process.kill(T[k].pid, 'SIGTERM');
    else avfs(T[k].bin, T[k].home, ['unmount', T[k].dir]);
  }
  for (const t of Object.values(T)) for (let i = 0; i < 100 && mountedAt(t.dir); i++) sleepMs(50);
  for (const t of Object.values(T)) if (mountedAt(t.dir)) spawnSync('umount', ['-l', t.dir]);
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const rate = (ms) => size / MiB / (ms / 1000);
const pt = { write: rate(med(res.passthrough.write)), cold: rate(med(res.passthrough.cold)) };
console.log(`${size / MiB} MiB, ${rounds} rounds, 1-min load ${loads.map((l) => l.toFixed(1)).join(' → ')}`);
for (const [k, r] of Object.entries(res)) {
  const w = rate(med(r.write)), c = rate(med(r.cold));
  console.log(`${k.padEnd(12)} write ${w.toFixed(0)} MiB/s (${(w / pt.write).toFixed(2)}× passthrough), cold read ${c.toFixed(0)} MiB/s (${(c / pt.cold).toFixed(2)}× passthrough)`);
  for (const [what, p] of Object.entries(r.profile)) console.log(`  handlers, last ${what}: ${p}`);
}
rmSync(tmp, { recursive: true, force: true });
