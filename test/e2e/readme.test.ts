import { describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BIN, ROOT, useTempHome } from '../helpers.js';

/** Fenced blocks of a language in the README, in order. */
function blocks(lang: string): string[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

/**
 * The README is executable documentation: every ```bash block runs, in order, on one fresh home
 * with `avfs` on the PATH, and must succeed command by command; the policy example must be a
 * valid policy; the SDK example must run.
 */
describe('README code blocks', () => {
  const h = useTempHome('each');

  it('every bash block runs as written', async () => {
    const bin = join(h.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'avfs'), `#!/bin/sh\nexec node ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(join(bin, 'avfs'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}`, AVFS_HOME: h.home, AVFS_VAULT: '', FORCE_COLOR: '0' };
    const scripts = blocks('bash');
    expect(scripts.length).toBeGreaterThanOrEqual(5);
    for (const script of scripts) {
      const r = await execa('bash', ['-euo', 'pipefail', '-c', script], { env, reject: false, cwd: h.dir, timeout: 120_000 });
      expect(r.exitCode, `README block failed:\n${script}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
    }
    const cat = await execa('node', [BIN, '--json', '--vault', 'demo', 'cat', '/src/app.js'], { env });
    expect(JSON.parse(cat.stdout).content).toBe('console.log("v1")');
  });

  it('npm run demo prints commands that paste into a shell as they ran', async () => {
    const demo = await execa('node', [join(ROOT, 'scripts', 'demo.js')], { env: { FORCE_COLOR: '0' } });
    const commands = demo.stdout.split('\n').filter((l) => l.startsWith('$ avfs ')).map((l) => l.slice(2));
    expect(commands.length).toBeGreaterThanOrEqual(8);
    // Run again, pasted into bash on a fresh home: the files are the demo's, byte for byte.
    const script = [`avfs() { node ${JSON.stringify(BIN)} "$@"; }`, ...commands].join('\n');
    const env = { AVFS_HOME: h.home, AVFS_VAULT: '', FORCE_COLOR: '0' };
    const r = await execa('bash', ['-euo', 'pipefail', '-c', script], { env, reject: false, cwd: h.dir, timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const cat = (vault: string) => execa('node', [BIN, '--json', '--vault', vault, 'cat', '/src/lib/greet.js'], { env }).then((c) => JSON.parse(c.stdout).content);
    expect([await cat('project'), await cat('experiment')]).toEqual(['export const greet = (name) => `hello ${name}`;\n', 'export const greet = (name) => `hi ${name}!`;\n']);
  });

  it('the policy example is a valid policy', async () => {
    const [policy] = blocks('json');
    const file = join(h.dir, 'policy.json');
    writeFileSync(file, policy!);
    const env = { AVFS_HOME: h.home, AVFS_VAULT: '' };
    const set = await execa('node', [BIN, '--json', 'proxy', 'policy', 'set', file], { env, reject: false });
    expect(JSON.parse(set.stdout).ok, set.stdout).toBe(true);
    const check = await execa('node', [BIN, '--json', 'proxy', 'policy', 'check', '--', 'npm', 'publish'], { env, reject: false });
    expect(JSON.stringify(JSON.parse(check.stdout))).toContain('no-publish');
  });

  it('the SDK example runs', async () => {
    const [example] = blocks('ts');
    const script = join(h.dir, 'example.mjs');
    writeFileSync(script, example!.replace("from 'agentvfs'", `from ${JSON.stringify(join(ROOT, 'dist/sdk/index.js'))}`));
    const r = await execa('node', [script], { env: { AVFS_HOME: h.home, AVFS_VAULT: '' }, reject: false, timeout: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('/out.txt');
    expect(r.stdout).toContain('NOT_FOUND');
  });
});
