import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { ROOT, avfs, useTempHome } from '../helpers.js';

/**
 * Several processes writing to one vault at once: every write is its own IMMEDIATE transaction,
 * so all must land with the right content and none may surface SQLITE_BUSY.
 */
describe('concurrent writers', () => {
  const h = useTempHome('each');

  it('4 processes × 250 files each: all 1,000 present with the right content', async () => {
    const home = h.home;
    const script = join(h.dir, 'writer.mjs');
    writeFileSync(
      script,
      `import { openStore } from ${JSON.stringify(join(ROOT, 'dist/store/store.js'))};
       import { VaultFs } from ${JSON.stringify(join(ROOT, 'dist/store/vault-fs.js'))};
       const [home, worker] = process.argv.slice(2);
       const store = openStore(home);
       const fs = new VaultFs(store, 'default', { source: 'sdk' });
       for (let i = 0; i < 250; i++) fs.writeFile('/w' + worker + '/f' + i + '.txt', 'worker ' + worker + ' file ' + i + '\\n'.repeat(i % 7), { parents: true });
       store.release();`,
    );
    await avfs(home, ['ls']); // create the home first, as a user would
    const runs = await Promise.all([0, 1, 2, 3].map((w) => execa('node', [script, home, String(w)], { reject: false })));
    for (const r of runs) {
      expect(r.stderr).not.toMatch(/BUSY|locked/i);
      expect(r.exitCode).toBe(0);
    }
    const tree = (await avfs(home, ['tree'])).json;
    expect(tree.files).toBe(1000);
    for (const w of [0, 1, 2, 3]) {
      for (const i of [0, 1, 123, 249]) {
        const cat = (await avfs(home, ['cat', `/w${w}/f${i}.txt`])).json;
        expect(cat.content).toBe(`worker ${w} file ${i}` + '\n'.repeat(i % 7));
      }
    }
  });

  it('concurrent CLI processes on a brand-new home all succeed', async () => {
    const home = h.home;
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => avfs(home, ['write', `/p${i}`, `v${i}`])));
    for (const r of runs) expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
    expect((await avfs(home, ['tree'])).json.files).toBe(8);
    expect((await avfs(home, ['vault', 'list'])).json.vaults).toHaveLength(1);
  });

  it('of first vaults created at once in a new home, one is chosen, and only its creator is told it is in use', { timeout: 300_000 }, async () => {
    // Each racer passed the "default is still replaceable" check before any had chosen itself: several were told `current`.
    for (let trial = 0; trial < 12; trial++) {
      const home = join(h.dir, `race${trial}`);
      await avfs(home, ['vault', 'list']);
      const created = await Promise.all(['a', 'b', 'c', 'd'].map((v) => avfs(home, ['vault', 'create', v])));
      for (const r of created) expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
      const told = created.filter((r) => r.json.vault.current).map((r) => r.json.vault.name);
      const list = (await avfs(home, ['vault', 'list'])).json;
      expect([told, list.vaults.map((v: { name: string }) => v.name).sort()], `trial ${trial}`).toEqual([[list.current], ['a', 'b', 'c', 'd']]);
    }
  });
});
