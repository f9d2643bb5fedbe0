import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

/**
 * `npm run bench` loads every section module before it runs any: one that no longer loads (an
 * export of dist/ renamed under it, as globToRegExp once was) broke the whole command, and only a
 * benchmark run would have said so. Loading is cheap; running them is `npm run bench`'s job.
 */
describe('benchmark sections', () => {
  it('every section bench/run.js lists loads against the built code and exports id, title and run', async () => {
    const runJs = readFileSync(join(ROOT, 'bench', 'run.js'), 'utf8');
    const list = /const SECTIONS = \[([^\]]*)\]/.exec(runJs)?.[1];
    const sections = [...(list ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]!);
    expect(sections.length).toBeGreaterThan(5);
    for (const section of sections) {
      const mod = await import(pathToFileURL(join(ROOT, 'bench', section)).href);
      expect([section, typeof mod.id, typeof mod.title, typeof mod.run]).toEqual([section, 'string', 'string', 'function']);
    }
  });
});
