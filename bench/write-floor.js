// The in-process floor of the mount's large-file write path, without FUSE (issue 17): a file
// written through OpenFiles in 128 KiB writes as FUSE delivers them, then released (persisted).
// Variants: hashed at the persist ("no worker"), or while the bytes arrive by ContentDigests'
// worker ("worker"); with a second build's root (e.g. a checkout of an older commit, built), its
// worker variant too ("base"), rounds interleaved. Medians of `rounds`, fresh content each time;
// wall time and process CPU time (all threads). Needs `npm run build`.
//
//   node bench/write-floor.js [MiB] [rounds] [base-root]      (default 64 MiB, 3 rounds)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
const here = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const MiB = 1 << 20;
const size = (Number(process.argv[2]) || 64) * MiB;
const rounds = Number(process.argv[3]) || 3;
const baseRoot = process.argv[4];
const load = async (root) => ({
  OpenFiles: (await import(root + '/dist/mount/open-files.js')).OpenFiles,
  openStore: (await import(root + '/dist/store/store.js')).openStore,
  VaultFs: (await import(root + '/dist/store/vault-fs.js')).VaultFs,
});
const variants = [
  { label: 'no worker', code: await load(here), worker: null },
  { label: 'worker', code: await load(here) },
  // What SQLite's automatic WAL checkpoints (every 10,000 pages, in the committing thread) cost the write.
  ...(process.env.NO_AUTOCHECKPOINT ? [{ label: 'worker, no autocheckpoint', code: await load(here), pragma: 'wal_autocheckpoint = 0' }] : []),
  ...(baseRoot ? [{ label: 'worker, base', code: await load(baseRoot) }] : []),
];
const data = randomBytes(size);
const tmp = mkdtempSync(join(tmpdir(), 'avfs-write-floor-'));
for (const [i, v] of variants.entries()) {
  v.store = v.code.openStore(join(tmp, `home${i}`));
  v.store.db.pragma(v.pragma ?? 'wal_autocheckpoint = 10000'); // as the mount sets it
  v.fs = new v.code.VaultFs(v.store, 'default', { source: 'mount' });
  v.files = new v.code.OpenFiles(v.fs, v.fs.row().id, { spillDir: join(tmp, `spill${i}`), ...(v.worker === null ? { digestWorker: null } : {}) });
  v.write = [];
  v.release = [];
  v.cpu = [];
}
const t = () => performance.now();
let stamp = 0;
for (let r = 0; r < rounds; r++) {
  for (const v of r % 2 ? [...variants].reverse() : variants) {
    data.writeUInt32LE(++stamp, 0);
    const c0 = process.cpuUsage();
    const t0 = t();
    const fh = v.files.create(`/f${r}.bin`, 0o644, 0);
    const f = v.files.handle(fh).file;
    for (let off = 0; off < size; off += 131072) v.files.write(f, data.subarray(off, off + 131072), 131072, off);
    const t1 = t();
    v.files.release(fh);
    const t2 = t();
    const c = process.cpuUsage(c0);
    v.write.push(t1 - t0);
    v.release.push(t2 - t1);
    v.cpu.push((c.user + c.system) / 1000);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const out = {};
for (const v of variants) {
  const w = med(v.write), rel = med(v.release), total = med(v.write.map((x, i) => x + v.release[i]));
  out[v.label] = `writes ${w.toFixed(0)} ms + release ${rel.toFixed(0)} ms: ${(size / MiB / (total / 1000)).toFixed(1)} MiB/s, CPU ${med(v.cpu).toFixed(0)} ms`;
  v.files.closeAll();
  v.store.release();
}
console.log(`${size / MiB} MiB, ${rounds} rounds, load ${loadavg()[0].toFixed(1)}:`, JSON.stringify(out, null, 1));
rmSync(tmp, { recursive: true, force: true });
