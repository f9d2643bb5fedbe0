// The in-process floor of the mount's large-file write path, without FUSE (issue 17): a file
// written through OpenFiles in 128 KiB writes as FUSE delivers them, then released (persisted),
// hashed at the persist ("old": no digest worker) or while the bytes arrive ("new":
// ContentDigests' worker). Medians of 3, fresh content each time. Needs `npm run build`.
//
//   node bench/write-floor.js [MiB]      (default 64)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const { OpenFiles } = await import(root + '/dist/mount/open-files.js');
const { openStore } = await import(root + '/dist/store/store.js');
const { VaultFs } = await import(root + '/dist/store/vault-fs.js');
const MiB = 1 << 20, size = (Number(process.argv[2]) || 64) * MiB;
const data = randomBytes(size);
const tmp = mkdtempSync(join(tmpdir(), 'avfs-write-floor-'));
const store = openStore(join(tmp, 'home'));
const fs = new VaultFs(store, 'default', { source: 'mount' });
const t = () => performance.now();
const out = {};
for (const mode of ['old', 'new']) {
  const files = new OpenFiles(fs, fs.row().id, { spillDir: join(tmp, 'spill'), ...(mode === 'old' ? { digestWorker: null } : {}) });
  const w = [], rel = [];
  for (let i = 0; i < 3; i++) {
    data[i + (mode === 'new' ? 8 : 0)] ^= 0xff;
    const t0 = t();
    const fh = files.create(`/${mode}${i}.bin`, 0o644, 0);
    const f = files.handle(fh).file;
    for (let off = 0; off < size; off += 131072) files.write(f, data.subarray(off, off + 131072), 131072, off);
    const t1 = t();
    files.release(fh);
    const t2 = t();
    w.push(t1 - t0); rel.push(t2 - t1);
  }
  const med = (a) => a.sort((x, y) => x - y)[1];
  out[mode] = `writes ${med(w).toFixed(0)} ms + release ${med(rel).toFixed(0)} ms = ${(size / MiB / ((med(w) + med(rel)) / 1000)).toFixed(1)} MiB/s`;
  files.closeAll();
}
console.log(`${size / MiB} MiB:`, JSON.stringify(out), 'load', (await import('node:os')).loadavg()[0].toFixed(1));
store.release();
rmSync(tmp, { recursive: true, force: true });
