import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
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

  /**
   * Every avfs command pays for the modules it loads (Node 20 has no compile cache): a constant
   * imported from the mount's open-file layer once put that layer, worker_threads included, into
   * every proxy exec (~30 ms of its start-up). A loader hook records what a run resolves.
   */
  async function loadedBy(args: string[]): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), 'avfs-modules-'));
    try {
      const log = join(dir, 'loaded.txt');
      const hook = `import { appendFileSync } from 'node:fs'; export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`;
      const register = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;
      await execa('node', ['--import', 'data:text/javascript,' + encodeURIComponent(register), join(ROOT, 'bin/avfs.js'), ...args], {
        env: { AVFS_HOME: join(dir, 'home') },
        reject: false,
        input: '',
      });
      const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      const files = urls.map((url) => (url.startsWith('file:') ? relative(ROOT, new URL(url).pathname) : url));
      expect(files).toContain('dist/cli-bundle/main.js'); // bin/avfs.js runs the linked CLI
      return [...new Set(files.flatMap(linkedModules))];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * The modules a file of the linked CLI (dist/cli-bundle/, scripts/bundle-cli.js) holds, named as
   * tsc emits them (src/proxy/workspace.ts as dist/proxy/workspace.js): its source map lists them.
   */
  function linkedModules(file: string): string[] {
    if (!file.startsWith('dist/cli-bundle/')) return [file];
    const map = JSON.parse(readFileSync(join(ROOT, file + '.map'), 'utf8')) as { sources: string[] };
    return map.sources.map((source) => relative(ROOT, resolve(ROOT, dirname(file), source)).replace(/^src\/(.*)\.ts$/, 'dist/$1.js'));
  }

  it('a proxy exec does not load the mount\'s open-file layer, file commands load neither the mount nor the proxy, --version no store', async () => {
    // Copy mode: no views server outlives the test's home. The modules are loaded before any mode runs.
    const exec = await loadedBy(['--json', 'proxy', 'exec', '--mode', 'copy', '--', 'true']);
    expect(exec).toContain('dist/proxy/workspace.js');
    expect(exec.filter((m) => /^dist\/mount\/(open-files|working-copies|content-digests)\.js$/.test(m) || m === 'node:worker_threads')).toEqual([]);
    // Nothing opens the store for the version (what tools probe first).
    expect((await loadedBy(['--version'])).filter((m) => m.startsWith('dist/store/'))).toEqual(['dist/store/version-columns.js']);
    for (const command of [['write', '/x', 'hi'], ['ls', '/'], ['cat', '/x']]) {
      const loaded = await loadedBy(['--json', ...command]);
      expect(loaded).toContain('dist/store/store.js');
      expect(loaded.filter((m) => /^dist\/(mount|proxy)\//.test(m))).toEqual([]);
    }
  }, 120_000);
});
