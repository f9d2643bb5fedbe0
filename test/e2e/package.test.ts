import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, useTempHome } from '../helpers.js';

/** A consumer of the SDK, written against the published types only. */
const CONSUMER = `import AVFSDefault, { AVFS, AvfsError, NotFoundError, type ChangedFile, type Decision, type PolicyCheckResult, type ProxyExecResult, type QuotaInfo } from 'agentvfs';

export async function main(): Promise<void> {
  const avfs = new AVFS({ home: '/tmp/avfs-consumer-home', vault: 'agent-1' });
  const same: typeof AVFS = AVFSDefault;
  avfs.createVault('agent-1');
  avfs.write('/notes.md', 'hello');
  const text: string = avfs.read('/notes.md', 'utf8');
  const bytes: Buffer = avfs.read('/notes.md');
  avfs.tag('/notes.md', ['todo']);
  const meta: Record<string, string> = avfs.metaSet('/notes.md', 'status', 'draft').meta;
  const value: string | null = avfs.metaGet('/notes.md', 'status');
  const quota: QuotaInfo = avfs.setQuota({ maxBytes: 1024, maxFiles: null });
  const cp = avfs.checkpointSave('before');
  const info = avfs.checkpointInfo(cp.name);
  const added: number = info.changesSince.added;
  // Results are camelCase throughout, store records included.
  const createdAt: string = avfs.listVaults()[0]!.createdAt;
  const savedAt: number = cp.createdAt;
  const vaultId: number = avfs.log('/notes.md')[0]!.vaultId;
  const logical: number = avfs.stats().logicalBytes;
  const scanned: number = avfs.grep('hello', { include: '*.md' }).filesScanned;
  const check: PolicyCheckResult = avfs.policyCheck('rm', ['-rf', '/']);
  const decision: Decision = check.decision;
  const run: ProxyExecResult = await avfs.proxyExec('sh', ['-c', 'echo hi > out.txt'], { checkpoint: true });
  const changed: ChangedFile[] = run.changedFiles;
  const sizes: Array<number | null> = changed.map((c) => c.sizeAfter);
  const rawExit: number = run.raw.exit_code;
  const savedBefore: string | null = avfs.checkpointRestore(cp.name).savedBefore;
  const undo = await avfs.proxyUndo(run.execId);
  const undone: string[] = undo.changedFiles.map((c) => c.path);
  const pruned: number = avfs.prune({ keep: 1 }).prunedVersions;
  const freed: number = avfs.compact().freedBytes;
  try {
    avfs.read('/missing');
  } catch (err) {
    if (err instanceof NotFoundError) console.log(err.code);
    else if (err instanceof AvfsError) console.log(err.code, err.data);
  }
  console.log(createdAt, savedAt, vaultId, logical, scanned, rawExit, savedBefore);
  console.log(same, text, bytes, meta, value, quota, added, decision.action, decision.categories, sizes, undone, pruned, freed);
  avfs.close();
}
`;

/**
 * What users install: `npm pack` gives a tarball with only built files that installs globally
 * (native addons built from source) and provides a working `avfs`.
 */
describe('the npm package', () => {
  const h = useTempHome('each');

  it('packs, installs into a fresh prefix and runs a short scenario', { timeout: 300_000 }, async () => {
    // dist/ is already built by `npm test`; --ignore-scripts keeps pack from rebuilding it under other running tests.
    const pack = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', h.dir], { cwd: ROOT });
    const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
    const files = info.files.map((f) => f.path);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('bin/avfs.js');
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);

    // Installed as `npm install -g` does, in two steps so that SQLite is not compiled a second time
    // in this run: `npm ci` built better-sqlite3 from source already (about 70 s of CPU on a 2-core
    // machine, most of this test's time). First the package and its dependencies without scripts;
    // then avfs's own install script (the fuse-native patch and build) as npm runs it, and the
    // better-sqlite3 addon of the same version taken from the build that `npm ci` made.
    const prefix = join(h.dir, 'prefix');
    const install = await execa('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', join(h.dir, info.filename)], {
      reject: false,
    });
    expect(install.exitCode, install.stderr).toBe(0);
    const installed = join(prefix, 'lib', 'node_modules', 'agentvfs');
    const rebuild = await execa('npm', ['rebuild', '-g', '--prefix', prefix, 'agentvfs'], { reject: false, env: { AVFS_REQUIRE_FUSE: '1' } });
    expect(rebuild.exitCode, rebuild.stderr).toBe(0);
    expect(existsSync(join(installed, 'node_modules', 'fuse-native', 'build', 'Release', 'avfs-fuse-build.json'))).toBe(true);
    const sqlite = (root: string) => join(root, 'node_modules', 'better-sqlite3');
    const version = (dir: string) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    expect(version(sqlite(installed))).toBe(version(sqlite(ROOT)));
    mkdirSync(join(sqlite(installed), 'build', 'Release'), { recursive: true });
    copyFileSync(join(sqlite(ROOT), 'build', 'Release', 'better_sqlite3.node'), join(sqlite(installed), 'build', 'Release', 'better_sqlite3.node'));
    const avfs = join(prefix, 'bin', 'avfs');
    const env = { AVFS_HOME: h.home, AVFS_VAULT: '' };
    const printed = await execa(avfs, ['--version'], { env });
    expect(printed.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect((await execa(avfs, ['--help'], { env })).stdout).toContain('Examples:');
    expect((await execa(avfs, ['mcp', '--help'], { env })).stdout).toContain('mcpServers');
    await execa(avfs, ['write', '-p', '/a/b.txt', 'packaged'], { env });
    await execa(avfs, ['vault', 'fork', 'default', 'copy'], { env });
    const cat = await execa(avfs, ['--json', '--vault', 'copy', 'cat', '/a/b.txt'], { env });
    expect(JSON.parse(cat.stdout).content).toBe('packaged');
    expect(readdirSync(join(prefix, 'lib', 'node_modules', 'agentvfs'))).not.toContain('src');
    // The installed package mounts with the fuse-native its install script patched and built.
    const dir = join(h.dir, 'mnt');
    mkdirSync(dir);
    await execa(avfs, ['mount', dir], { env });
    try {
      expect(readFileSync(join(dir, 'a', 'b.txt'), 'utf8')).toBe('packaged');
    } finally {
      await execa(avfs, ['unmount', dir], { env });
    }

    // The SDK's published declarations compile in a strict consumer that checks them (no
    // skipLibCheck): the installed package, with the dependencies it brought, is its `agentvfs`.
    const consumer = join(h.dir, 'consumer');
    mkdirSync(join(consumer, 'node_modules', '@types'), { recursive: true });
    symlinkSync(join(prefix, 'lib', 'node_modules', 'agentvfs'), join(consumer, 'node_modules', 'agentvfs'), 'dir');
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true }, files: ['main.ts'] }),
    );
    writeFileSync(join(consumer, 'main.ts'), CONSUMER);
    const tsc = await execa('node', [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], { reject: false });
    expect(tsc.exitCode, tsc.stdout + tsc.stderr).toBe(0);
    // The check can fail: a type error in the consumer is reported.
    writeFileSync(
      join(consumer, 'main.ts'),
      CONSUMER + "\nconst wrong: string = new AVFS().quota().usage.bytes;\nconst snake = new AVFS().vaultInfo().created_at;\nexport { wrong, snake };\n",
    );
    const bad = await execa('node', [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], { reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stdout).toContain('main.ts');
    expect(bad.stdout).toContain("'created_at' does not exist");
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
