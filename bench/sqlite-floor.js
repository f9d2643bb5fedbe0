// Prototype (issues 16, 17): what SQLite settings change the floor of avfs's large reads and
// writes. Homes with different page sizes (and mmap off) side by side in one process, rounds
// interleaved: 1 MiB whole-file reads (VaultFs.readFile, the content row alone, node:fs) while
// the rows are in the WAL and after a checkpoint, a chunked 64 MiB file read in 128 KiB requests
// as the mount reads it (readContentInto), 1 KB writes (one transaction each), and the insert of
// a digested 32 MiB file (putDigestedContentFromFd). MiB/s by wall time and by process CPU time.
// Needs `npm run build`.
//
//   node bench/sqlite-floor.js [rounds]          (default 5)
//   VARIANTS=4096,16384 node bench/sqlite-floor.js 15     (only these page sizes)
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
const root = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const { openStore } = await import(root + '/dist/store/store.js');
const { VaultFs } = await import(root + '/dist/store/vault-fs.js');
const { putDigestedContentFromFd, readContentInto } = await import(root + '/dist/store/blobs.js');
const { splitContent } = await import(root + '/dist/core/cdc.js');
const { hashBytes } = await import(root + '/dist/core/hash.js');

const KiB = 1024, MiB = 1024 * KiB;
const rounds = Number(process.argv[2]) || 5;
const tmp = mkdtempSync(join(tmpdir(), 'avfs-sqlite-floor-'));
const only = process.env.VARIANTS ? process.env.VARIANTS.split(',').map(Number) : null;
const allVariants = [
  { name: 'page 4 KiB (today)', page: 4096 },
  { name: 'page 4 KiB, mmap off', page: 4096, pragmas: ['mmap_size = 0'] },
  { name: 'page 8 KiB', page: 8192 },
  { name: 'page 16 KiB', page: 16384 },
  { name: 'page 64 KiB', page: 65536 },
];
const variants = only ? allVariants.filter((v) => only.includes(v.page) && !v.pragmas) : allVariants;
const ONE_MIB_FILES = 24;
const BIG = 64 * MiB;
const ACTOR = { source: 'sdk' };

for (const v of variants) {
  const home = join(tmp, v.name.replace(/\W+/g, '-'));
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const db = new Database(join(home, 'avfs.db'));
  db.pragma(`page_size = ${v.page}`);
  db.pragma('journal_mode = WAL');
  db.close();
  v.store = openStore(home);
  for (const p of v.pragmas ?? []) v.store.db.pragma(p);
  v.fs = new VaultFs(v.store, 'default', ACTOR);
  const big = randomBytes(BIG);
  v.fs.writeFile('/big', big);
  v.bigHash = hashBytes(big);
  v.store.db.pragma('wal_checkpoint(TRUNCATE)');
  v.row = v.store.db.prepare('SELECT data FROM blobs WHERE hash = ?');
  v.res = { walRead1m: [], walRow1m: [], read1m: [], row1m: [], seq128: [], write1k: [], insert32: [] };
  v.pageSize = v.store.db.pragma('page_size', { simple: true });
}
const fsDir = join(tmp, 'native');
mkdirSync(fsDir);
for (let i = 0; i < ONE_MIB_FILES; i++) writeFileSync(join(fsDir, `m${i}`), randomBytes(MiB));
const native = { read1m: [] };

// A digested 32 MiB spill file per variant per round (fresh bytes so nothing dedups).
function digestOf(data) {
  const chunks = splitContent(data).map((c) => ({ size: c.length, hash: hashBytes(c) }));
  return { hash: hashBytes(data), size: data.length, chunks };
}

const cpu = (f) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const c = process.cpuUsage(c0);
  return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
};
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
let stamp = 0;
const target = Buffer.allocUnsafe(128 * KiB);
for (let r = 0; r < rounds; r++) {
  const spillData = randomBytes(32 * MiB);
  const order = r % 2 ? [...variants].reverse() : variants;
  native.read1m.push(cpu(() => { for (let i = 0; i < ONE_MIB_FILES; i++) readFileSync(join(fsDir, `m${i}`)); }));
  for (const v of order) {
    // Fresh 1 MiB files: read while their pages are in the WAL, then again after a checkpoint.
    v.small = [];
    for (let i = 0; i < ONE_MIB_FILES; i++) {
      const data = randomBytes(MiB);
      v.fs.writeFile(`/m${i}`, data);
      v.small.push(hashBytes(data));
    }
    v.res.walRead1m.push(cpu(() => { for (let i = 0; i < ONE_MIB_FILES; i++) v.fs.readFile(`/m${i}`); }));
    v.res.walRow1m.push(cpu(() => { for (const h of v.small) v.row.get(h); }));
    v.store.db.pragma('wal_checkpoint(TRUNCATE)');
    v.res.read1m.push(cpu(() => { for (let i = 0; i < ONE_MIB_FILES; i++) v.fs.readFile(`/m${i}`); }));
    v.res.row1m.push(cpu(() => { for (const h of v.small) v.row.get(h); }));
    v.res.seq128.push(cpu(() => { for (let off = 0; off < BIG; off += 128 * KiB) readContentInto(v.store, v.bigHash, off, 128 * KiB, target); }));
    v.res.write1k.push(cpu(() => { for (let i = 0; i < 500; i++) v.fs.writeFile(`/w${r}-${i}`, randomBytes(KiB)); }));
    spillData.writeUInt32LE(++stamp, 0);
    const spill = join(tmp, `spill-${stamp}`);
    writeFileSync(spill, spillData);
    const digest = digestOf(spillData);
    const fd = openSync(spill, 'r');
    v.res.insert32.push(cpu(() => v.store.mutate(() => putDigestedContentFromFd(v.store, fd, digest))));
    closeSync(fd);
    rmSync(spill);
  }
}
const fmt = (x) => x.toFixed(1);
const rate = (mib, ms) => fmt(mib / (ms / 1000));
console.log(`rounds ${rounds}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}; MiB/s by wall (cpu)`);
const n = { wall: med(native.read1m.map((x) => x.wall)), cpu: med(native.read1m.map((x) => x.cpu)) };
console.log(`node:fs 1 MiB readFileSync: ${rate(ONE_MIB_FILES, n.wall)} (${rate(ONE_MIB_FILES, n.cpu)})`);
for (const v of variants) {
  const m = (k) => ({ wall: med(v.res[k].map((x) => x.wall)), cpu: med(v.res[k].map((x) => x.cpu)) });
  const wread = m('walRead1m'), wrow = m('walRow1m'), read = m('read1m'), row = m('row1m'), seq = m('seq128'), w = m('write1k'), ins = m('insert32');
  console.log(
    `${v.name} [${v.pageSize}]: in WAL: 1MiB readFile ${rate(ONE_MIB_FILES, wread.wall)} (${rate(ONE_MIB_FILES, wread.cpu)}) = ${(n.wall / wread.wall).toFixed(2)}x fs;` +
      ` row ${rate(ONE_MIB_FILES, wrow.wall)} (${rate(ONE_MIB_FILES, wrow.cpu)}); checkpointed: 1MiB readFile ${rate(ONE_MIB_FILES, read.wall)} (${rate(ONE_MIB_FILES, read.cpu)}) = ${(n.wall / read.wall).toFixed(2)}x fs;` +
      ` row ${rate(ONE_MIB_FILES, row.wall)} (${rate(ONE_MIB_FILES, row.cpu)}) = ${(n.wall / row.wall).toFixed(2)}x;` +
      ` chunked 128K reads ${rate(BIG / MiB, seq.wall)} (${rate(BIG / MiB, seq.cpu)});` +
      ` 1KB write ${fmt((w.wall * 1000) / 500)} µs (${fmt((w.cpu * 1000) / 500)});` +
      ` insert 32MiB ${rate(32, ins.wall)} (${rate(32, ins.cpu)})`,
  );
}
for (const v of variants) v.store.release();
rmSync(tmp, { recursive: true, force: true });
