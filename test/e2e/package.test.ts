import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, tempDir } from '../helpers.js';

/**
 * What users install: `npm pack` gives a tarball with only built files that installs globally
 * (native addons built from source) and provides a working `avfs`.
 */
describe('the npm package', () => {
  it('packs, installs into a fresh prefix and runs a short scenario', { timeout: 600_000 }, async () => {
    const tmp = tempDir();
    try {
      // dist/ is already built by `npm test`; --ignore-scripts keeps pack from rebuilding it under other running tests.
      const pack = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.dir], { cwd: ROOT });
      const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
      const files = info.files.map((f) => f.path);
      expect(files).toContain('dist/cli/main.js');
      expect(files).toContain('bin/avfs.js');
      expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);

      const prefix = join(tmp.dir, 'prefix');
      const install = await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(tmp.dir, info.filename)], {
        reject: false,
        env: { AVFS_REQUIRE_FUSE: '' },
      });
      expect(install.exitCode, install.stderr).toBe(0);
      const avfs = join(prefix, 'bin', 'avfs');
      const env = { AVFS_HOME: join(tmp.dir, 'home'), AVFS_VAULT: '' };
      const version = await execa(avfs, ['--version'], { env });
      expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
      expect((await execa(avfs, ['--help'], { env })).stdout).toContain('Examples:');
      expect((await execa(avfs, ['mcp', '--help'], { env })).stdout).toContain('mcpServers');
      await execa(avfs, ['write', '-p', '/a/b.txt', 'packaged'], { env });
      await execa(avfs, ['vault', 'fork', 'default', 'copy'], { env });
      const cat = await execa(avfs, ['--json', '--vault', 'copy', 'cat', '/a/b.txt'], { env });
      expect(JSON.parse(cat.stdout).content).toBe('packaged');
      expect(readdirSync(join(prefix, 'lib', 'node_modules', 'agentvfs'))).not.toContain('src');
    } finally {
      tmp.cleanup();
    }
  });

  it('prints shell completions', async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await execa('node', [join(ROOT, 'bin', 'avfs.js'), 'completion', shell]);
      expect(r.stdout).toContain('checkpoint');
    }
    const bad = await execa('node', [join(ROOT, 'bin', 'avfs.js'), '--json', 'completion', 'tcsh'], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(JSON.parse(bad.stdout).error.code).toBe('INVALID_ARGUMENT');
  });
});
