import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers.js';

/**
 * The store's modules import each other in cycles (entries.ts ↔ vaults.ts, store.ts → vaults.ts for
 * the new home's default vault, …). A cycle is harmless while no module reads another's binding
 * while loading (a constant computed from an imported constant, a class extending an imported
 * class); which module loads first decides whether it is. So each built module is loaded on its
 * own, as the first one, in a fresh process (the store's: the layers above import it one way).
 */
const modules = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.js')).map((name) => join(dir, name));

describe('module loading', () => {
  it('every module of dist/store loads first without reading an import before it is initialized', async () => {
    const files = modules(join(ROOT, 'dist/store'));
    expect(files.length).toBeGreaterThan(25);
    const failures: string[] = [];
    for (let i = 0; i < files.length; i += 8) {
      await Promise.all(
        files.slice(i, i + 8).map(async (file) => {
          const r = await execa('node', ['--input-type=module', '-e', `await import(${JSON.stringify(file)})`], { reject: false });
          if (r.exitCode !== 0) failures.push(`${relative(ROOT, file)}: ${r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr}`);
        }),
      );
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
