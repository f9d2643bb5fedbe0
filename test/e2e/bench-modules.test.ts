import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

/**
 * `npm run bench` loads every section module before it runs any: one that no longer loads (an
 * export of dist/ renamed under it, as globToRegExp once was) broke the whole command, and only a
 * benchmark run would have said so. Loaded by Node itself, whose linker refuses a missing export
 * (the test runner's own module loader would let it through as undefined); not run: that is
 * `npm run bench`'s job.
 */
describe('benchmark sections', () => {
  it('every section bench/run.js lists loads against the built code and exports id, title and run', async () => {
    const runJs = readFileSync(join(ROOT, 'bench', 'run.js'), 'utf8');
    const list = /const SECTIONS = \[([^\]]*)\]/.exec(runJs)?.[1];
    const sections = [...(list ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]!);
    expect(sections.length).toBeGreaterThan(5);
    const urls = sections.map((s) => pathToFileURL(join(ROOT, 'bench', s)).href);
    const script = `const out = []; for (const u of ${JSON.stringify(urls)}) { const m = await import(u); out.push([typeof m.id, typeof m.title, typeof m.run]); } console.log(JSON.stringify(out));`;
    const r = await execa('node', ['--input-type=module', '-e', script], { reject: false, cwd: ROOT });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(sections.map(() => ['string', 'string', 'function']));
  });

  it('the passthrough the mount section starts links against the built code (run without arguments it only says its usage)', async () => {
    const r = await execa('node', [join(ROOT, 'bench', 'passthrough.js')], { reject: false, cwd: ROOT });
    expect([r.exitCode, r.stderr]).toEqual([2, 'usage: node bench/passthrough.js <native source dir> <mountpoint>']);
  });
});
