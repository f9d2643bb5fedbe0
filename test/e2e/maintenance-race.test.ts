import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { ROOT, avfs, expectContentIntact, useTempHome } from '../helpers.js';
import { openStore } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { gc } from '../../src/store/gc.js';

/**
 * gc with a zero grace period, in a loop, while another process writes: overwrites with content
 * that gc is deleting at that moment (the writer's pool was orphaned on purpose), new content,
 * large chunked files, copies and deletes. Nothing is pruned during the race, so a version that
 * ever pointed at content gc took would still show it.
 * Afterwards every file must read back exactly as the writer last wrote it, and every version and
 * checkpoint must still have all of its content.
 */
const WRITER = `
import { createHash } from 'node:crypto';
import { openStore } from ${JSON.stringify(join(ROOT, 'dist/store/store.js'))};
import { VaultFs } from ${JSON.stringify(join(ROOT, 'dist/store/vault-fs.js'))};
import { createVault, deleteVault } from ${JSON.stringify(join(ROOT, 'dist/store/vaults.js'))};
const [home, phase] = process.argv.slice(2);
const CHUNK = 64 * 1024;
// The pool: 1,500 small texts and 10 three-chunk files whose middle chunk differs. Many orphans
// make each gc pass long (many small batches), so the writer re-references content between
// gc's candidate scan and its deletes.
const pool = [];
for (let i = 0; i < 1500; i++) pool.push(Buffer.from('pool text ' + i + '\\n'.repeat(i % 40)));
for (let i = 0; i < 10; i++) pool.push(Buffer.concat([Buffer.alloc(CHUNK, 'A'), Buffer.alloc(CHUNK, 65 + i), Buffer.alloc(1000, 'Z')]));
const store = openStore(home);
const sha = (b) => createHash('sha256').update(b).digest('hex');
if (phase === 'seed') {
  // Store the pool, then orphan it: gc may delete any of it as soon as the race starts.
  createVault(store, 'seed', { source: 'sdk' });
  const seed = new VaultFs(store, 'seed', { source: 'sdk' });
  pool.forEach((b, i) => seed.writeFile('/p' + i, b));
  deleteVault(store, 'seed', false, { source: 'sdk' });
} else {
  const fs = new VaultFs(store, 'default', { source: 'sdk' });
  const expected = new Map();
  // Wait until the parent's gc loop runs, so the writes overlap it from the first one.
  process.stderr.write('ready\\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  for (let i = 0; i < 800; i++) {
    const path = '/f' + (i % 50);
    if (i % 97 === 0 && expected.has(path)) { fs.rm(path); expected.delete(path); continue; }
    if (i % 31 === 0 && expected.has('/f0')) { fs.cp('/f0', path); expected.set(path, expected.get('/f0')); continue; }
    const data = i % 3 === 0 ? Buffer.from('unique ' + i) : i % 5 === 0 ? pool[1500 + (i % 10)] : pool[(i * 37) % 1500];
    fs.writeFile(path, data);
    expected.set(path, sha(data));
  }
  process.stdout.write(JSON.stringify(Object.fromEntries(expected)));
}
store.release();
`;

describe('gc racing a writer process', () => {
  const h = useTempHome('each');

  it('loses nothing: every file reads back as last written, all content of every version is intact', async () => {
    const home = h.home;
    const script = join(h.dir, 'writer.mjs');
    writeFileSync(script, WRITER);
    await avfs(home, ['ls']); // create the home as a user would
    const seed = await execa('node', [script, home, 'seed'], { reject: false });
    expect(seed.exitCode, seed.stderr).toBe(0);

    const store = openStore(home);
    try {
      const actor = { source: 'sdk' as const };
      const writer = execa('node', [script, home, 'write'], { reject: false, stdin: 'pipe' });
      let done = false;
      void writer.finally(() => (done = true));
      await Promise.race([new Promise<void>((resolve) => writer.stderr!.once('data', () => resolve())), writer]);
      writer.stdin!.end('go\n');
      let rounds = 0;
      let freedBlobs = 0;
      while (!done) {
        freedBlobs += gc(store, { graceMs: 0, actor, batchSize: 3 }).freed_blobs;
        rounds++;
        await sleep(2);
      }
      const result = await writer;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).not.toMatch(/BUSY|locked/i);
      // The race was real: the writes began before the first gc pass and outlasted it, and gc deleted content as it went.
      expect(rounds).toBeGreaterThanOrEqual(2);
      expect(freedBlobs).toBeGreaterThan(0);
      freedBlobs += gc(store, { graceMs: 0, actor }).freed_blobs;

      const expected = JSON.parse(result.stdout) as Record<string, string>;
      const fs = new VaultFs(store, 'default', actor);
      const files = fs.walk('/').filter((e) => e.type === 'f');
      expect(files.map((e) => e.path).sort()).toEqual(Object.keys(expected).sort());
      for (const [path, hash] of Object.entries(expected)) {
        expect(createHash('sha256').update(fs.readFile(path)).digest('hex'), path).toBe(hash);
      }
      expectContentIntact(store);
      // And gc left nothing behind that it should have taken.
      expect(gc(store, { graceMs: 0, actor, dryRun: true })).toMatchObject({ freed_blobs: 0, freed_chunks: 0 });
    } finally {
      store.release();
    }
  });
});
