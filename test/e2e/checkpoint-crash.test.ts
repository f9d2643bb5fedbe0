import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { ROOT, useTempHome } from '../helpers.js';

/**
 * kill -9 in the middle of restoring a large checkpoint: the restore is one transaction, so after
 * the crash the vault must be either exactly as it was or exactly the checkpoint, never a mix, and
 * the database must pass `PRAGMA integrity_check`. A child process (the built store, no CLI) does
 * the restore; the parent kills it at several delays after it reports that it is starting.
 */

const FILES = 20_000;
const h = useTempHome('all', 'avfs-crash-');
let worker: string;
let saved: string;

const dist = (p: string) => JSON.stringify(join(ROOT, 'dist', p));

beforeAll(async () => {
  worker = join(h.dir, 'worker.mjs');
  writeFileSync(
    worker,
    `import { openStore } from ${dist('store/store.js')};
     import { VaultFs } from ${dist('store/vault-fs.js')};
     import { listCheckpoints, restoreCheckpoint, saveCheckpoint } from ${dist('store/checkpoints.js')};
     const [home, mode, files] = process.argv.slice(2);
     const store = openStore(home);
     const fs = new VaultFs(store, 'default', { source: 'sdk' });
     if (mode === 'setup') {
       const n = Number(files);
       store.mutate(() => {
         for (let i = 0; i < n; i++) fs.writeFile('/d' + (i % 200) + '/f' + i + '.txt', 'original ' + i + '\\n', { parents: true });
       });
       saveCheckpoint(fs, 'base');
     } else if (mode === 'diverge') {
       const n = Number(files);
       // Diverge everywhere, so the restore rewrites, re-creates and removes thousands of paths.
       store.mutate(() => {
         for (let i = 0; i < n; i += 2) fs.writeFile('/d' + (i % 200) + '/f' + i + '.txt', 'changed ' + i);
         for (let i = 1; i < n; i += 6) fs.rm('/d' + (i % 200) + '/f' + i + '.txt');
         for (let i = 0; i < n / 4; i++) fs.writeFile('/extra/e' + i, 'extra ' + i, { parents: true });
         fs.chmod('/d7', 0o700);
       });
     } else if (mode === 'restore') {
       process.stdout.write('restoring\\n');
       const r = restoreCheckpoint(fs, 'base');
       process.stdout.write('done ' + JSON.stringify(r) + '\\n');
     } else if (mode === 'undo') {
       // Put the pre-restore state back, from the checkpoint the restore saved of it.
       const before = listCheckpoints(fs).find((c) => c.name.startsWith('before-restore-'));
       restoreCheckpoint(fs, before.name, { saveBefore: false });
     }
     store.release();`,
  );
  const setup = await execa('node', [worker, h.home, 'setup', String(FILES)], { reject: false });
  expect(setup.exitCode, setup.stderr).toBe(0);
  // What the checkpoint names: the tree as it was saved (a checkpoint is a pointer, not a copy).
  saved = inspect().tree;
  const diverge = await execa('node', [worker, h.home, 'diverge', String(FILES)], { reject: false });
  expect(diverge.exitCode, diverge.stderr).toBe(0);
}, 180_000);

/** A digest of the whole tree (every column a listing shows) and the counts that must move together. */
function inspect() {
  const db = new Database(join(h.home, 'avfs.db'));
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    const digest = (sql: string) => {
      const h = createHash('sha256');
      for (const row of db.prepare(sql).iterate()) h.update(JSON.stringify(row) + '\n');
      return h.digest('hex');
    };
    const cols = 'path, type, mode, size, hash, target, mtime';
    return {
      integrity,
      tree: digest(`SELECT ${cols} FROM entries WHERE vault_id = 1 ORDER BY path`),
      restoreVersions: (db.prepare("SELECT count(*) AS n FROM versions WHERE op = 'restore'").get() as { n: number }).n,
      checkpoints: (db.prepare('SELECT count(*) AS n FROM checkpoints').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

/** Runs a restore and kills it `delayMs` after it starts restoring, or lets it finish when `delayMs` is null. */
async function restoreAndKill(delayMs: number | null): Promise<{ finished: boolean; signal: string | undefined }> {
  const child = execa('node', [worker, h.home, 'restore'], { reject: false, buffer: false });
  let finished = false;
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('done')) finished = true;
      if (delayMs !== null && out.startsWith('restoring\n') && !(child as unknown as { armed?: boolean }).armed) {
        (child as unknown as { armed?: boolean }).armed = true;
        setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, delayMs);
      }
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
  const r = await child;
  return { finished, signal: r.signal ?? undefined };
}

describe('kill -9 during checkpoint restore', () => {
  it(`leaves a ${FILES.toLocaleString('en')}-file vault fully old or fully restored, with integrity_check ok`, async () => {
    const initial = inspect();
    expect(initial.integrity).toBe('ok');
    expect(initial.tree).not.toBe(saved);
    const outcomes: string[] = [];
    for (const delay of [0, 15, 40, 80, 150, 300, 600, 1200, null]) {
      const { finished, signal } = await restoreAndKill(delay);
      const after = inspect();
      expect(after.integrity, `delay ${delay}`).toBe('ok');
      if (after.tree === initial.tree) {
        // Fully old: nothing of the restore survived, not even its versions or its saved checkpoint.
        expect(after.restoreVersions, `delay ${delay}`).toBe(initial.restoreVersions);
        expect(after.checkpoints, `delay ${delay}`).toBe(initial.checkpoints);
        expect(finished, `delay ${delay}: reported done but nothing was committed`).toBe(false);
        outcomes.push(`${delay ?? 'never'}ms:old${signal === 'SIGKILL' ? '(killed)' : ''}`);
      } else {
        // Fully restored: exactly the checkpoint, with every restore version and the saved pre-restore state.
        expect(after.tree, `delay ${delay}: neither the old state nor the checkpoint`).toBe(saved);
        expect(after.restoreVersions).toBeGreaterThan(initial.restoreVersions + FILES / 2);
        expect(after.checkpoints).toBe(initial.checkpoints + 1);
        outcomes.push(`${delay ?? 'never'}ms:restored${finished ? '' : '(killed after commit)'}`);
        // Back to the old state for the next round (a restore of the saved pre-restore checkpoint).
        const undo = await execa('node', [worker, h.home, 'undo'], { reject: false });
        expect(undo.exitCode, undo.stderr).toBe(0);
        const back = inspect();
        expect(back.tree).toBe(initial.tree);
        const db = new Database(join(h.home, 'avfs.db'));
        db.prepare("DELETE FROM checkpoints WHERE name LIKE 'before-restore-%'").run();
        db.close();
        Object.assign(initial, { restoreVersions: inspect().restoreVersions });
      }
    }
    // The point of the test: some kills must have landed inside the restore transaction.
    const killedMidway = outcomes.filter((o) => o.includes('old(killed)')).length;
    expect(killedMidway, outcomes.join(' ')).toBeGreaterThanOrEqual(2);
    // And the last run, never killed, finished: the committed branch was checked too (however
    // long a 20k-file restore takes on a loaded machine).
    expect(outcomes.at(-1), outcomes.join(' ')).toMatch(/restored/);
    console.log(`crash outcomes: ${outcomes.join(' ')}`);
  }, 300_000);
});
