// Issue 7: maintenance. gc time and freed bytes on a home with 100 vaults and 100k versions,
// beside a scan of every content reference (the least a mark phase must read) and a `cp` of the
// database file; prune and compact on the same home.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../dist/store/store.js';
import { VaultFs } from '../dist/store/vault-fs.js';
import { createVault, deleteVault, forkVault } from '../dist/store/vaults.js';
import { gc } from '../dist/store/gc.js';
import { prune } from '../dist/store/prune.js';
import { compact } from '../dist/store/maintenance.js';
import { bytes, dur, median, num, ratio, sample, timeMs } from './lib.js';

const int = (n) => n.toLocaleString('en-US');

export const id = 'maintenance';
export const title = 'Maintenance: gc, prune and compact on a home with many vaults and versions (issue 7)';

const ACTOR = { source: 'sdk' };
const CHUNK = 64 * 1024;

/**
 * A home of `vaults` vaults: a base vault of `paths` files, forked (vaults - 1) times, then in
 * every vault each path rewritten until the vault has `versionsPerVault` versions of its own.
 * Every rewrite is new ~512-byte content, except every 200th, which is a three-chunk file whose
 * middle chunk changed (the other two chunks are shared with the base).
 */
const PLAN = {
  full: { vaults: 100, paths: 100, versionsPerVault: 1000, noopRuns: 5 },
  quick: { vaults: 20, paths: 50, versionsPerVault: 250, noopRuns: 3 },
};

export function buildHome(home, plan, log) {
  const store = openStore(home);
  const base = Buffer.concat([Buffer.alloc(CHUNK, 'a'), Buffer.alloc(CHUNK, 'b'), Buffer.alloc(CHUNK, 'c')]);
  const small = (v, p, i) => Buffer.from(`vault ${v} path ${p} version ${i} `.padEnd(512, '.'));
  createVault(store, 'v000', ACTOR);
  const fs0 = new VaultFs(store, 'v000', ACTOR);
  store.mutate(() => {
    for (let p = 0; p < plan.paths; p++) fs0.writeFile(`/dir${p % 10}/file${p}`, p % 10 === 0 ? base : small(0, p, 0), { parents: true });
  });
  for (let v = 1; v < plan.vaults; v++) forkVault(store, 'v000', `v${String(v).padStart(3, '0')}`, ACTOR);
  let written = 0;
  for (let v = 0; v < plan.vaults; v++) {
    const name = `v${String(v).padStart(3, '0')}`;
    const fs = new VaultFs(store, name, ACTOR);
    const own = v === 0 ? plan.paths : 0; // the base vault's first writes count too
    store.mutate(() => {
      for (let i = own; i < plan.versionsPerVault; i++) {
        const p = i % plan.paths;
        const data =
          i % 200 === 199
            ? Buffer.concat([Buffer.alloc(CHUNK, 'a'), Buffer.alloc(CHUNK, `${v}:${i}`), Buffer.alloc(CHUNK, 'c')])
            : small(v, p, i);
        fs.writeFile(`/dir${p % 10}/file${p}`, data);
        written++;
      }
    });
    if (v % 20 === 19) log(`  built ${v + 1}/${plan.vaults} vaults`);
  }
  const versions = store.db.prepare('SELECT count(*) AS n FROM versions').get().n;
  const blobs = store.db.prepare('SELECT count(*) AS n FROM blobs').get().n;
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  return { store, versions, blobs, written };
}

const dbBytes = (home) => {
  const size = (f) => {
    try {
      return statSync(f).size;
    } catch {
      return 0;
    }
  };
  return size(join(home, 'avfs.db')) + size(join(home, 'avfs.db-wal'));
};

/** Age all content so gc's cutoff (now - grace) is past it, as it would be hours later. */
const ageContent = (store) => {
  store.db.prepare('UPDATE blobs SET created_at = created_at - 7200000').run();
  store.db.prepare('UPDATE chunks SET created_at = created_at - 7200000').run();
};

export async function run({ quick, tmp, log }) {
  const plan = quick ? PLAN.quick : PLAN.full;
  const home = join(tmp, 'home');
  log(`building ${plan.vaults} vaults × ${plan.versionsPerVault} versions`);
  const started = performance.now();
  const { store, versions, blobs } = buildHome(home, plan, log);
  const built = performance.now() - started;
  ageContent(store);
  const size0 = dbBytes(home);

  // Baselines: a scan of every hash reference (what any mark phase must at least read), and a
  // copy of the database file on the same disk.
  const scan = sample(plan.noopRuns, () =>
    store.db.prepare('SELECT count(*) AS n FROM (SELECT hash FROM entries UNION SELECT hash FROM versions UNION SELECT hash FROM checkpoint_entries)').get(),
  );
  const cp = sample(plan.noopRuns, (i) => {
    const r = spawnSync('cp', [join(home, 'avfs.db'), join(tmp, `copy-${i}.db`)]);
    if (r.status !== 0) throw new Error(`cp failed: ${r.stderr}`);
  }, { between: (i) => spawnSync('rm', ['-f', join(tmp, `copy-${i}.db`)]) });

  // (1) nothing to free: the cost of deciding that.
  log('gc with nothing to free');
  const noop = sample(plan.noopRuns, () => gc(store, { graceMs: 0, actor: ACTOR }));
  const dryNoop = sample(plan.noopRuns, () => gc(store, { graceMs: 0, dryRun: true, actor: ACTOR }));

  // (2) half the vaults deleted.
  log('deleting half the vaults, then gc');
  for (let v = 1; v < plan.vaults; v += 2) deleteVault(store, `v${String(v).padStart(3, '0')}`, false, ACTOR);
  ageContent(store);
  const dryDelete = gc(store, { graceMs: 0, dryRun: true, actor: ACTOR });
  const afterDelete = gc(store, { graceMs: 0, actor: ACTOR });

  // (3) prune every vault to its current state, then gc.
  log('prune --all --keep 1, then gc');
  let pruned;
  const pruneMs = timeMs(() => {
    pruned = prune(store, { scope: { all: true }, keep: 1, actor: ACTOR });
  });
  ageContent(store);
  const afterPrune = gc(store, { graceMs: 0, actor: ACTOR });

  // (4) compact gives the space back.
  log('compact');
  const c = compact(store, ACTOR);
  store.release();

  const scanMs = median(scan);
  const row = (label, ms, freed, note) => [label, dur(ms), freed ? int(freed.freed_blobs) : '—', freed ? int(freed.freed_chunks) : '—', freed ? bytes(freed.freed_bytes) : '—',
    freed && ms > 0 ? `${int(Math.round(freed.freed_blobs / (ms / 1000)))}/s` : '—', ratio(ms / scanMs), note];
  return {
    tables: [
      {
        caption: `gc on a home of ${plan.vaults} vaults and ${int(versions)} versions (${int(blobs)} distinct contents, ${bytes(size0)} database); grace 0, content aged past the cutoff`,
        columns: ['Run', 'time:', 'blobs freed:', 'chunks freed:', 'bytes freed:', 'blobs/s:', 'vs reference scan:', 'Notes'],
        rows: [
          ['reference scan (baseline)', dur(scanMs), '—', '—', '—', '—', ratio(1), 'SELECT of every distinct hash in entries ∪ versions ∪ checkpoint_entries'],
          ['`cp` of the database file (baseline)', dur(median(cp)), '—', '—', bytes(size0), '—', ratio(median(cp) / scanMs), 'same disk, page cache warm'],
          row('gc, nothing to free', median(noop), null, `median of ${plan.noopRuns}`),
          row('gc --dry-run, nothing to free', median(dryNoop), null, `median of ${plan.noopRuns}`),
          row('gc --dry-run after deleting half the vaults', dryDelete.duration_ms, dryDelete, 'plan only, nothing deleted'),
          row(`gc after deleting ${Math.floor(plan.vaults / 2)} vaults`, afterDelete.duration_ms, afterDelete, `${int(afterDelete.transactions)} transactions`),
          row(`prune --all --keep 1 (${int(pruned.pruned_versions)} versions dropped)`, pruneMs, null, 'one transaction per vault'),
          row('gc after the prune', afterPrune.duration_ms, afterPrune, `${int(afterPrune.transactions)} transactions`),
          ['compact (checkpoint, VACUUM, optimize)', dur(c.duration_ms), '—', '—', `${bytes(c.before_bytes)} → ${bytes(c.after_bytes)}`, '—', ratio(c.duration_ms / scanMs), `freed ${bytes(c.freed_bytes)} of file`],
        ],
      },
    ],
    notes: [
      `The home: vault v000 with ${plan.paths} files (every tenth a 192 KB three-chunk file, the rest 512 bytes), forked ${plan.vaults - 1} times; then every vault rewrote its paths until it had ${plan.versionsPerVault} versions of its own (fresh 512-byte content each time; every 200th write a three-chunk file sharing two chunks with the base). Built in ${dur(built)}, writes batched into one transaction per vault.`,
      'Before each gc the content is aged two hours (an UPDATE of created_at), so the grace-0 cutoff covers everything, as a real gc hours after the writes would see it. gc runs through the store API (what `avfs gc` calls), in IMMEDIATE transactions (500 blobs each; when a reference table has no hash index, as checkpoint_entries since schema migration 4, at most 8 larger ones, since each scans that table once), re-checking every reference table under the write lock; the freeing runs are single runs (they destroy their input).',
      'Baselines, measured in the same run: a query reading every distinct content hash referenced by entries, versions and checkpoint_entries (the least any mark phase must read), and `cp` of the database file (spawnSync, page cache warm). "vs reference scan" is time / scan time.',
      `bytes freed counts content bytes (inline blob data and chunk data), not pages; compact then returned ${bytes(c.freed_bytes)} of file to the filesystem.`,
    ],
    targets: [],
  };
}
