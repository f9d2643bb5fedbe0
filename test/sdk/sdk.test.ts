import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { AVFS, AvfsError, ConflictError, InvalidInputError, NotFoundError, QuotaExceededError } from '../../src/sdk/index.js';
import { avfs as avfsCli, errorCode, expectError, expectOk, tempDir, thrownError } from '../helpers.js';

let tmp: { dir: string; cleanup: () => void };
let avfs: AVFS;

beforeEach(() => {
  tmp = tempDir();
  avfs = new AVFS({ home: join(tmp.dir, 'home') });
});
afterEach(() => {
  avfs.close();
  tmp.cleanup();
});

/** The error a call throws (fails the test if it does not throw). */
function thrown(fn: () => unknown): AvfsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AvfsError);
    return err as AvfsError;
  }
  throw new Error('expected the call to throw');
}

describe('SDK and CLI agree on bad numbers', () => {
  it('a version number no version can have, a count or a keep below 1: invalid input (exit 2) in both, never VERSION_NOT_FOUND', async () => {
    avfs.write('/v.txt', 'one\n');
    avfs.write('/v.txt', 'two\n');
    const cases: Array<[string[], () => unknown]> = [
      [['checkout', '/v.txt', '--version', '0'], () => avfs.checkout('/v.txt', 0)],
      [['checkout', '/v.txt', '--version', '-1'], () => avfs.checkout('/v.txt', -1)],
      [['diff', '/v.txt', '--from', '0'], () => avfs.diff('/v.txt', { from: 0 })],
      [['diff', '/v.txt', '--to', '0'], () => avfs.diff('/v.txt', { to: 0 })],
      [['log', '/v.txt', '-n', '0'], () => avfs.log('/v.txt', { limit: 0 })],
      [['prune', '/', '--keep', '0'], () => avfs.prune({ keep: 0 })],
    ];
    for (const [argv, call] of cases) {
      const cli = await avfsCli(avfs.home, ['--vault', avfs.vault, ...argv]);
      const e = thrown(call);
      // One class and exit code for the same input. The code names the door: the SDK's typed value
      // is INVALID_ARGUMENT; a command line whose option value cannot be taken is USAGE
      // (test/e2e/options.test.ts, history.test.ts and maintenance.test.ts pin that on purpose).
      expect([e.constructor, e.code, e.exitCode], argv.join(' ')).toEqual([InvalidInputError, 'INVALID_ARGUMENT', 2]);
      expect([cli.json?.error?.code, cli.code], argv.join(' ')).toEqual(['USAGE', e.exitCode]);
    }
    // A version that could exist but does not is VERSION_NOT_FOUND (exit 3) in both.
    expect(thrown(() => avfs.checkout('/v.txt', 9)).code).toBe('VERSION_NOT_FOUND');
    expectError(await avfsCli(avfs.home, ['--vault', avfs.vault, 'checkout', '/v.txt', '--version', '9']), 'VERSION_NOT_FOUND', 3);
    expect(avfs.read('/v.txt', 'utf8')).toBe('two\n');
  });
});

describe('SDK: the CLI scenarios in-process', () => {
  it('files: write, read, ls, mkdir, cp, mv, rm, tree', () => {
    expect(avfs.vault).toBe('default');
    avfs.write('/a.txt', 'hello');
    expect(avfs.read('/a.txt', 'utf8')).toBe('hello');
    expect(avfs.read('/a.txt').equals(Buffer.from('hello'))).toBe(true);
    avfs.mkdir('/p/q', { parents: true });
    avfs.cp('/a.txt', '/p/q');
    avfs.mv('/p', '/moved');
    expect(avfs.tree().map((e) => e.path)).toEqual(['/a.txt', '/moved', '/moved/q', '/moved/q/a.txt']);
    expect(avfs.tree('/', 2).map((e) => e.path)).toEqual(['/a.txt', '/moved', '/moved/q']);
    for (const bad of [0, 1.5, -1, NaN]) expect(errorCode(() => avfs.tree('/', bad))).toBe('INVALID_ARGUMENT');
    // An object where a number goes is shown as JSON in the message, not as [object Object].
    expect(thrownError(() => avfs.tree('/', { depth: 0 } as never))?.message).toContain('(got {"depth":0})');
    expect(thrownError(() => avfs.checkout('/a.txt', { version: 9 } as never))?.message).toContain('invalid version: {"version":9}');
    expect(avfs.ls('/moved/q').map((e) => e.path)).toEqual(['/moved/q/a.txt']);
    expect(avfs.rm('/moved', { recursive: true })).toHaveLength(3);
    expect(avfs.exists('/moved')).toBe(false);
  });

  it('stat follows a symlink to what it names, lstat shows the link itself', () => {
    avfs.write('/dir/f.txt', 'hello', { parents: true });
    avfs.symlink('/dir/f.txt', '/to-file');
    avfs.symlink('dir', '/to-dir');
    expect(avfs.stat('/to-file')).toMatchObject({ path: '/dir/f.txt', type: 'f', size: 5 });
    expect(avfs.lstat('/to-file')).toMatchObject({ path: '/to-file', type: 'l', target: '/dir/f.txt' });
    expect(avfs.stat('/to-dir')).toMatchObject({ path: '/dir', type: 'd' });
    expect(avfs.lstat('/to-dir')).toMatchObject({ path: '/to-dir', type: 'l' });
    avfs.symlink('/nowhere', '/dangling');
    expect(thrown(() => avfs.stat('/dangling')).code).toBe('NOT_FOUND');
    expect(avfs.lstat('/dangling').type).toBe('l');
  });

  it('close is once per instance: closing one twice leaves the others on the same home working; a closed one refuses calls with USAGE', () => {
    const a = new AVFS({ home: avfs.home });
    const b = new AVFS({ home: avfs.home });
    b.write('/y', 'still here');
    a.close();
    a.close();
    expect(b.read('/y', 'utf8')).toBe('still here');
    expect(avfs.read('/y', 'utf8')).toBe('still here');
    expect(thrown(() => a.read('/y')).code).toBe('USAGE');
    expect(thrown(() => a.vault).code).toBe('USAGE');
    expect(b.vault).toBe('default');
    b.close();
    expect(thrown(() => b.vault).code).toBe('USAGE'); // resolved before the close: refused all the same
  });

  it('a close while proxyExec runs waits for it: the command is imported and reported, the connection released after', async () => {
    // A home of its own: the only instance on it, so its close is the connection's last release.
    const home = join(tmp.dir, 'alone');
    const a = new AVFS({ home });
    const running = a.proxyExec('sh', ['-c', 'sleep 1; echo hi > out.txt']);
    a.close();
    expect(thrown(() => a.read('/out.txt')).code).toBe('USAGE');
    const r = await running;
    expect(r.changedFiles.map((c) => c.path)).toEqual(['/out.txt']);
    const b = new AVFS({ home });
    expect(b.read('/out.txt', 'utf8')).toBe('hi\n');
    b.close();
  });

  it('errors are typed and carry the CLI codes', () => {
    expect(thrown(() => avfs.read('/missing'))).toBeInstanceOf(NotFoundError);
    expect(thrown(() => avfs.read('/missing')).code).toBe('NOT_FOUND');
    expect(thrown(() => avfs.write('../escape', 'x'))).toBeInstanceOf(InvalidInputError);
    expect(thrown(() => avfs.write('../escape', 'x')).code).toBe('INVALID_PATH');
    avfs.createVault('v1');
    expect(thrown(() => avfs.createVault('v1'))).toBeInstanceOf(ConflictError);
    expect(thrown(() => avfs.createVault('bad name')).code).toBe('INVALID_NAME');
    expect(thrown(() => avfs.useVault('ghost')).code).toBe('VAULT_NOT_FOUND');
  });

  it('vaults: create, use, fork, list, delete', () => {
    // The first vault created in a new home replaces its unused `default` and is in use.
    expect(avfs.createVault('work')).toMatchObject({ name: 'work', current: true });
    expect(avfs.vault).toBe('work');
    avfs.write('/f', 'in work');
    avfs.forkVault('work', 'work-2');
    avfs.useVault('work-2');
    avfs.write('/f', 'in fork');
    expect(new AVFS({ home: avfs.home, vault: 'work' }).read('/f', 'utf8')).toBe('in work');
    expect(avfs.listVaults().map((v) => [v.name, v.parent])).toEqual([
      ['work', null],
      ['work-2', 'work'],
    ]);
    expect(thrown(() => avfs.deleteVault('work')).code).toBe('HAS_FORKS');
    expect(avfs.deleteVault('work', { force: true }).detachedForks).toEqual(['work-2']);
  });

  it("without a vault, an instance keeps the vault in use at its first call: another process's `vault use` does not redirect it", async () => {
    avfs.createVault('mine');
    avfs.createVault('other');
    const a = new AVFS({ home: avfs.home });
    try {
      a.write('/a.txt', 'one');
      expectOk(await avfsCli(avfs.home, ['vault', 'use', 'other']));
      a.write('/b.txt', 'two');
      expect(a.vault).toBe('mine');
      expect(a.ls('/').map((e) => e.path)).toEqual(['/a.txt', '/b.txt']);
      expect(new AVFS({ home: avfs.home, vault: 'other' }).ls('/')).toEqual([]);
      // useVault changes it.
      a.useVault('other');
      expect([a.vault, a.ls('/')]).toEqual(['other', []]);
    } finally {
      a.close();
    }
    // Its vault is the one it first read: deleted and made again under the name, it is another.
    const pinned = new AVFS({ home: avfs.home, vault: 'mine' });
    try {
      expect(pinned.ls('/').length).toBe(2);
      expectOk(await avfsCli(avfs.home, ['vault', 'delete', 'mine', '--force']));
      expectOk(await avfsCli(avfs.home, ['vault', 'create', 'mine']));
      for (const call of [() => pinned.write('/c.txt', 'x'), () => pinned.ls('/'), () => pinned.checkpointSave('cp')]) {
        const err = thrown(call);
        expect([err.code, (err.data as { reason?: string }).reason]).toEqual(['VAULT_NOT_FOUND', 'vault_replaced']);
      }
      expect(await pinned.proxyExec('sh', ['-c', 'echo x > /d.txt']).then(() => 'ran', (e: AvfsError) => `${e.code} ${(e.data as { reason?: string }).reason}`)).toBe('VAULT_NOT_FOUND vault_replaced');
      expect(new AVFS({ home: avfs.home, vault: 'mine' }).ls('/')).toEqual([]);
      // useVault takes the vault the name names now.
      pinned.useVault('mine');
      pinned.write('/e.txt', 'e');
      expect(pinned.ls('/').map((e) => e.path)).toEqual(['/e.txt']);
    } finally {
      pinned.close();
    }
    // In a new home, the first vault created replaces the unused default this instance was on.
    const fresh = new AVFS({ home: join(tmp.dir, 'fresh') });
    try {
      expect(fresh.vault).toBe('default');
      fresh.createVault('work');
      expect(fresh.vault).toBe('work');
      fresh.write('/w.txt', 'w');
      expect(fresh.vaultInfo('work').files).toBe(1);
    } finally {
      fresh.close();
    }
    // One that named `default` keeps it: its next write would have found it gone (adversarial round).
    const named = new AVFS({ home: join(tmp.dir, 'fresh-named'), vault: 'default' });
    try {
      expect(named.ls('/')).toEqual([]);
      expect(named.createVault('scratch')).toMatchObject({ name: 'scratch', current: false });
      named.write('/w.txt', 'w');
      expect([named.vault, named.listVaults().map((v) => v.name)]).toEqual(['default', ['default', 'scratch']]);
    } finally {
      named.close();
    }
    // The CLI likewise, with --vault default or $AVFS_VAULT=default.
    for (const [i, how] of [[1, ['--vault', 'default']], [2, []]] as const) {
      const home = join(tmp.dir, `fresh-cli-${i}`);
      const env: Record<string, string> = how.length === 0 ? { AVFS_VAULT: 'default' } : {};
      expectOk(await avfsCli(home, [...how, 'ls', '/'], { env }));
      expect((await avfsCli(home, [...how, 'vault', 'create', 'other'], { env })).json).toMatchObject({ ok: true, vault: { name: 'other', current: false } });
      expectOk(await avfsCli(home, [...how, 'write', '/a', 'x'], { env }));
    }
  });

  it('history and checkpoints: log, checkout, revert, diff, save/restore', async () => {
    avfs.write('/doc.md', 'one\n');
    avfs.write('/doc.md', 'two\n');
    expect(avfs.log('/doc.md').map((v) => v.version)).toEqual([2, 1]);
    // As the CLI's log: a file's path with '/' names no directory.
    expect(thrown(() => avfs.log('/doc.md/')).code).toBe('NOT_A_DIRECTORY');
    // A path that never existed, or one below a file, has no history: NOT_FOUND, as the CLI says.
    for (const never of ['/never.md', '/doc.md/sub']) {
      expect(thrown(() => avfs.log(never)).code, never).toBe('NOT_FOUND');
      expectError(await avfsCli(avfs.home, ['--vault', avfs.vault, 'log', never]), 'NOT_FOUND', 3);
    }
    avfs.checkout('/doc.md', 1);
    expect(avfs.read('/doc.md', 'utf8')).toBe('one\n');
    avfs.rm('/doc.md');
    avfs.revert('/doc.md');
    expect(avfs.read('/doc.md', 'utf8')).toBe('one\n');
    const d = avfs.diff('/doc.md', { from: 2, to: 3 });
    expect(d.file.hunks?.length).toBeGreaterThan(0);
    avfs.checkpointSave('base');
    avfs.write('/new.txt', 'later');
    avfs.checkpointRestore('base');
    expect(avfs.exists('/new.txt')).toBe(false);
    expect(avfs.checkpointList().map((c) => c.name)).toContain('base');
    // checkout of a path as a checkpoint held it, as `avfs checkout <path> --checkpoint <name> [-r]`.
    avfs.write('/doc.md', 'changed after base\n');
    avfs.write('/dir/a.txt', 'a', { parents: true });
    avfs.checkpointSave('with-dir');
    avfs.write('/dir/b.txt', 'b');
    avfs.write('/dir/a.txt', 'A');
    const back = avfs.checkout('/doc.md', { checkpoint: 'base' });
    expect(back).toMatchObject({ path: '/doc.md', checkpoint: 'base', changed: true });
    expect(avfs.read('/doc.md', 'utf8')).toBe('one\n');
    expect(avfs.checkout('/dir', { checkpoint: 'with-dir' }, { recursive: true }).changedPaths).toBe(2);
    expect(avfs.ls('/dir').map((e) => e.path)).toEqual(['/dir/a.txt']);
    expect(avfs.read('/dir/a.txt', 'utf8')).toBe('a');
    expect(thrown(() => avfs.checkout('/doc.md', { checkpoint: 'nope' })).code).toBe('CHECKPOINT_NOT_FOUND');
    for (const bad of [{ checkpoint: 3 }, { checkpont: 'base' }, 'base', null]) {
      expect(thrown(() => avfs.checkout('/doc.md', bad as never)).code, JSON.stringify(bad)).toBe('INVALID_ARGUMENT');
    }
  });

  it('search, grep and find', () => {
    avfs.write('/src/app.ts', 'const greeting = "hello world";\n', { parents: true });
    avfs.write('/notes.md', 'nothing here\n');
    expect(avfs.search('greeting').map((h) => h.path)).toEqual(['/src/app.ts']);
    expect(avfs.grep('hello\\s+world').matches.map((m) => [m.path, m.line])).toEqual([['/src/app.ts', 1]]);
    // The same pattern rules and error code as `avfs grep` (one compiler, src/api/search.ts).
    const bad = thrown(() => avfs.grep('(unclosed'));
    expect([bad.code, bad]).toEqual(['INVALID_PATTERN', expect.any(InvalidInputError)]);
    expect(thrown(() => avfs.grep('')).code).toBe('INVALID_PATTERN');
    // A pattern that is no string (JavaScript allows it) is a wrong argument, not an "empty pattern".
    const numeric = thrown(() => avfs.grep(5 as unknown as string));
    expect([numeric.code, numeric.message]).toEqual(['INVALID_ARGUMENT', 'a pattern must be a string or a RegExp, not number']);
    expect(avfs.grep('\\-').count).toBe(0); // valid only without the u flag, as in the CLI
    const r = avfs.grep(/HELLO/i, { path: '/src/app.ts', include: '*.ts' });
    expect([r.path, r.count, r.filesScanned, r.binarySkipped, r.files]).toEqual(['/src/app.ts', 1, 1, 0, ['/src/app.ts']]);
    expect(avfs.grep('a.b', { fixed: true }).count).toBe(0);
    expect(avfs.search('greeting')[0]!.snippet).toContain('«greeting»');
    expect(avfs.find('/', { name: '*.ts' }).map((e) => e.path)).toEqual(['/src/app.ts']);
    expect(avfs.find('/', { glob: 'src/*.ts' }).map((e) => e.path)).toEqual(['/src/app.ts']);
    expect(thrown(() => avfs.find('/', { name: 'src/*.ts' })).code).toBe('INVALID_ARGUMENT');
  });

  it('import and export round trip', () => {
    const src = join(tmp.dir, 'src');
    mkdirSync(join(src, 'd'), { recursive: true });
    writeFileSync(join(src, 'd', 'f.txt'), 'content');
    avfs.importFrom(src, '/imported');
    avfs.exportTo('/imported', join(tmp.dir, 'out'));
    expect(readFileSync(join(tmp.dir, 'out', 'd', 'f.txt'), 'utf8')).toBe('content');
  });

  it('a host path that is not a non-empty string without NUL is INVALID_ARGUMENT for import and export, here and in the CLI (an empty one meant the working directory there; a number was a TypeError here)', async () => {
    const any = avfs as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const [method, args] of [['importFrom', [5]], ['importFrom', [null]], ['importFrom', ['']], ['importFrom', ['/tmp/a\0b']], ['exportTo', ['/', 5]], ['exportTo', ['/', '']], ['importTracked', [5, '/t']], ['importTracked', ['', '/t']]] as const) {
      const e = thrown(() => any[method]!.apply(avfs, [...args]));
      expect([method, e instanceof InvalidInputError, e.code], String(args[0])).toEqual([method, true, 'INVALID_ARGUMENT']);
    }
    const home = join(tmp.dir, 'home');
    const cwd = join(tmp.dir, 'cwd');
    mkdirSync(cwd);
    expectError(await avfsCli(home, ['export', '/', ''], { cwd }), 'INVALID_ARGUMENT', 2);
    expectError(await avfsCli(home, ['import', '', '/imp'], { cwd }), 'INVALID_ARGUMENT', 2);
    expectError(await avfsCli(home, ['import', '--track', '', '/imp'], { cwd }), 'INVALID_ARGUMENT', 2);
    expect(expectOk(await avfsCli(home, ['ls', '/'])).entries).toEqual([]);
  });

  it('stats, audit and gc', () => {
    avfs.write('/a', 'x'.repeat(100));
    avfs.write('/a', 'y'.repeat(100));
    expect(avfs.stats()).toMatchObject({ files: 1, logicalBytes: 100 });
    expect(avfs.audit().some((r) => r.op === 'write')).toBe(true);
    avfs.gc({ graceMs: 0 }); // nothing is unreferenced yet: versions keep both contents
    expect(avfs.read('/a', 'utf8')).toBe('y'.repeat(100));
  });

  it('quota errors are QuotaExceededError', async () => {
    const { openStore } = await import('../../src/store/store.js');
    const store = openStore(avfs.home);
    store.db.prepare("UPDATE vaults SET max_bytes = 5 WHERE name = 'default'").run();
    store.release();
    expect(thrown(() => avfs.write('/big', '123456'))).toBeInstanceOf(QuotaExceededError);
  });

  it('proxyExec runs a command and reports exactly what changed', async () => {
    avfs.write('/keep.txt', 'k');
    avfs.write('/edit.txt', 'before');
    const r = await avfs.proxyExec('sh', ['-c', 'echo new > new.txt && echo after > edit.txt && rm keep.txt'], { mode: 'copy' });
    expect(r.exitCode).toBe(0);
    expect(r.mode).toBe('copy');
    const changes = r.changedFiles.map((c) => [c.path, c.kind]).sort();
    expect(changes).toEqual([
      ['/edit.txt', 'modified'],
      ['/keep.txt', 'deleted'],
      ['/new.txt', 'added'],
    ]);
    expect(avfs.read('/edit.txt', 'utf8')).toBe('after\n');
  });

  it('merge and sync: the work of a fork back into its parent, and of a vault back to the host', () => {
    avfs.write('/notes.txt', 'one\ntwo\nthree\n');
    avfs.forkVault('default', 'task');
    const task = new AVFS({ home: avfs.home, vault: 'task' });
    try {
      task.write('/notes.txt', 'one\ntwo\nthree\nfour\n');
      task.write('/new.txt', 'made in the fork');
      avfs.write('/notes.txt', 'zero\none\ntwo\nthree\n');
      const preview = avfs.merge('task', { dryRun: true });
      expect(preview).toMatchObject({ status: 'merged', dryRun: true, target: 'default' });
      expect(avfs.exists('/new.txt')).toBe(false);
      const merged = avfs.merge('task');
      expect(merged.status).toBe('merged');
      expect(avfs.read('/notes.txt', 'utf8')).toBe('zero\none\ntwo\nthree\nfour\n');
      expect(avfs.read('/new.txt', 'utf8')).toBe('made in the fork');
      expect(avfs.merge('task').status).toBe('up_to_date');
      const undone = avfs.undoMerge('task');
      expect(undone.paths).toEqual(['/new.txt', '/notes.txt']);
      expect(avfs.exists('/new.txt')).toBe(false);
      // Both sides change the same line differently: a coded conflict, and nothing is applied.
      task.write('/notes.txt', 'ONE\n');
      avfs.write('/notes.txt', 'uno\n');
      expect(thrown(() => avfs.merge('task')).code).toBe('MERGE_CONFLICT');
      expect(avfs.read('/notes.txt', 'utf8')).toBe('uno\n');
    } finally {
      task.close();
    }

    const host = join(tmp.dir, 'host');
    mkdirSync(host);
    writeFileSync(join(host, 'a.txt'), 'host a\n');
    avfs.importTracked(host, '/proj');
    avfs.write('/proj/a.txt', 'vault a\n');
    avfs.write('/proj/b.txt', 'vault b\n');
    expect(avfs.sync('/proj', { dryRun: true }).status).toBe('synced');
    expect(readFileSync(join(host, 'a.txt'), 'utf8')).toBe('host a\n');
    expect(avfs.sync('/proj').status).toBe('synced');
    expect(readFileSync(join(host, 'a.txt'), 'utf8')).toBe('vault a\n');
    expect(readFileSync(join(host, 'b.txt'), 'utf8')).toBe('vault b\n');
    expect(thrown(() => avfs.sync('/elsewhere')).code).toBe('NOT_TRACKED');
  });

  it('results are camelCase throughout: no snake_case field anywhere in what the SDK returns', async () => {
    /** Field names of a result, all the way down (an audit row's `detail` holds recorded data, not fields). */
    const snakeFields = (value: unknown, at = ''): string[] => {
      if (Array.isArray(value)) return value.flatMap((v, i) => snakeFields(v, `${at}[${i}]`));
      if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return [];
      return Object.entries(value).flatMap(([k, v]) => [...(k.includes('_') ? [`${at}.${k}`] : []), ...(k === 'detail' || k === 'raw' ? [] : snakeFields(v, `${at}.${k}`))]);
    };
    avfs.write('/notes.txt', 'one\n');
    const cp = avfs.checkpointSave('before', 'a message');
    expect([typeof cp.createdAt, cp.execId, cp.vaultId > 0]).toEqual(['number', null, true]);
    avfs.write('/notes.txt', 'two\n');
    avfs.forkVault('default', 'task');
    const task = new AVFS({ home: avfs.home, vault: 'task' });
    task.write('/task.txt', 'from the fork\n');
    const host = join(tmp.dir, 'tracked');
    mkdirSync(host);
    writeFileSync(join(host, 'h.txt'), 'host\n');
    const results: Record<string, unknown> = {
      vaults: avfs.listVaults(),
      info: avfs.vaultInfo(),
      checkpoints: avfs.checkpointList(),
      log: avfs.log('/notes.txt'),
      diff: avfs.diff('/notes.txt'),
      treeDiff: avfs.checkpointDiff('before', undefined, { patch: true }),
      pathsDiff: avfs.diffPaths('/notes.txt', '/notes.txt'),
      preview: avfs.merge('task', { dryRun: true }),
      merge: avfs.merge('task'),
      undoMerge: avfs.undoMerge('task'),
      imported: avfs.importTracked(host, '/tracked'),
      sync: (avfs.write('/tracked/v.txt', 'vault\n'), avfs.sync('/tracked')),
      exported: avfs.exportTo('/tracked', join(tmp.dir, 'out')),
      revert: avfs.revert('/notes.txt'),
      checkout: avfs.checkout('/notes.txt', 1),
      restore: avfs.checkpointRestore('before'),
      stats: avfs.stats(),
      homeStats: avfs.stats({ all: true }),
      audit: avfs.audit({ limit: 5 }),
      gc: avfs.gc({ dryRun: true }),
      grep: avfs.grep('one'),
      exec: await avfs.proxyExec('sh', ['-c', 'echo x > /made.txt'], { checkpoint: true }),
    };
    task.close();
    for (const [name, r] of Object.entries(results)) expect(snakeFields(r), name).toEqual([]);
    const v = results.info as ReturnType<AVFS['vaultInfo']>;
    expect(typeof v.createdAt).toBe('string');
    expect((results.restore as ReturnType<AVFS['checkpointRestore']>).savedBefore).toMatch(/./);
    expect((results.preview as ReturnType<AVFS['merge']>).dryRun).toBe(true);
    expect((results.sync as ReturnType<AVFS['sync']>).changes.map((c) => c.hostPath)).toEqual([join(host, 'v.txt')]);
    expect((results.log as ReturnType<AVFS['log']>)[0]!.vaultId).toBeGreaterThan(0);
    expect((results.diff as ReturnType<AVFS['diff']>).file.contentChanged).toBe(true);
    // The CLI's own field names stay in `raw` (and in the CLI, MCP and the Python client).
    expect(Object.keys((results.exec as { raw: object }).raw)).toContain('changed_files');
  });

  it('edit replaces a unique string in one step, and refuses an absent or repeated one', () => {
    avfs.write('/e.txt', 'alpha beta alpha\n');
    expect(thrown(() => avfs.edit('/e.txt', 'gamma', 'x'))).toMatchObject({ code: 'NOT_FOUND', data: { reason: 'no_match' } });
    const repeated = thrown(() => avfs.edit('/e.txt', 'alpha', 'x'));
    expect(repeated).toBeInstanceOf(ConflictError);
    expect(repeated.data).toMatchObject({ reason: 'not_unique', occurrences: 2 });
    expect(avfs.read('/e.txt', 'utf8')).toBe('alpha beta alpha\n');
    expect(avfs.edit('/e.txt', 'beta', '$& $1').replacements).toBe(1);
    expect(avfs.read('/e.txt', 'utf8')).toBe('alpha $& $1 alpha\n');
    expect(avfs.edit('/e.txt', 'alpha', 'omega', { replaceAll: true }).replacements).toBe(2);
    expect(avfs.read('/e.txt', 'utf8')).toBe('omega $& $1 omega\n');
    expect(avfs.log('/e.txt').map((v) => v.version)).toEqual([3, 2, 1]);
    avfs.write('/bin', Buffer.from([0xff, 0xfe, 0x41]));
    expect(thrown(() => avfs.edit('/bin', 'A', 'B')).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.edit('/e.txt', '', 'B')).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.edit('/none', 'a', 'b')).code).toBe('NOT_FOUND');
  });

  it('proxyUndo puts back what an exec changed', async () => {
    avfs.write('/u.txt', 'before');
    const r = await avfs.proxyExec('sh', ['-c', 'echo after > u.txt'], { mode: 'copy', checkpoint: true });
    expect(avfs.read('/u.txt', 'utf8')).toBe('after\n');
    const undo = await avfs.proxyUndo(r.execId);
    expect(undo.changedFiles.map((c) => c.path)).toEqual(['/u.txt']);
    expect(avfs.read('/u.txt', 'utf8')).toBe('before');
    await expect(avfs.proxyUndo('ex-nope')).rejects.toBeInstanceOf(AvfsError);
  });

  it('tags and metadata', () => {
    avfs.write('/r.md', 'report');
    expect(avfs.tag('/r.md', ['todo', 'area:api'])).toEqual({ path: '/r.md', tags: ['area:api', 'todo'], added: ['todo', 'area:api'] });
    expect(avfs.tag('/r.md', 'todo').added).toEqual([]);
    expect(avfs.tagCounts()).toEqual({ 'area:api': 1, todo: 1 });
    expect(avfs.untag('/r.md', ['todo', 'absent'])).toEqual({ path: '/r.md', tags: ['area:api'], removed: ['todo'] });
    expect(avfs.tags('/r.md').tags).toEqual(['area:api']);
    expect(thrown(() => avfs.tag('/r.md', '-bad')).code).toBe('INVALID_NAME');
    // No tag at all is refused, as the CLI's required argument is, rather than a success that did nothing.
    for (const call of [() => avfs.tag('/r.md', []), () => avfs.untag('/r.md', [])]) expect(thrown(call).code).toBe('INVALID_ARGUMENT');
    expect(avfs.metaSet('/r.md', 'status', 'draft').meta).toEqual({ status: 'draft' });
    expect(avfs.metaGet('/r.md', 'status')).toBe('draft');
    expect(avfs.metaGet('/r.md', 'owner')).toBeNull();
    avfs.metaSet('/r.md', 'owner', 'me');
    expect(avfs.metaList('/r.md')).toEqual({ path: '/r.md', meta: { owner: 'me', status: 'draft' } });
    expect(avfs.metaDelete('/r.md', 'status')).toEqual({ path: '/r.md', meta: { owner: 'me' }, deleted: ['status'] });
    expect(avfs.metaDelete('/r.md').deleted).toEqual(['owner']);
    expect(thrown(() => avfs.metaGet('/r.md', '1bad')).code).toBe('INVALID_NAME');
    // A value that is not a string (JavaScript allows it) is refused with a code, not a TypeError.
    expect(thrown(() => avfs.metaSet('/r.md', 'n', 5 as unknown as string)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.metaSet('/r.md', 'n', 'a\ud800')).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.tags('/nope')).code).toBe('NOT_FOUND');
  });

  it('quota: show, set, clear, in camelCase', () => {
    avfs.write('/q', '12345');
    expect(avfs.quota()).toEqual({ vault: 'default', quota: { maxBytes: null, maxFiles: null, maxFileSize: null }, usage: { bytes: 5, entries: 1, largestFile: 5 }, exceeded: [] });
    expect(avfs.setQuota({ maxBytes: 4, maxFiles: 10 })).toMatchObject({ quota: { maxBytes: 4, maxFiles: 10, maxFileSize: null }, exceeded: ['maxBytes'] });
    expect(thrown(() => avfs.write('/more', 'x'))).toBeInstanceOf(QuotaExceededError);
    expect(avfs.setQuota({ maxBytes: null }).quota.maxBytes).toBeNull();
    expect(thrown(() => avfs.setQuota({})).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.setQuota({ maxFiles: -1 })).code).toBe('INVALID_ARGUMENT');
    expect(avfs.clearQuota().quota).toEqual({ maxBytes: null, maxFiles: null, maxFileSize: null });
  });

  it('prune and compact', () => {
    for (const n of [1, 2, 3, 4]) avfs.write('/p.txt', `v${n}`);
    const dry = avfs.prune({ keep: 1, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, path: '/', keep: 1, prunedVersions: 3 });
    expect(avfs.log('/p.txt')).toHaveLength(4);
    const done = avfs.prune({ keep: 2 });
    expect(done.prunedVersions).toBe(2);
    expect(done.vaults).toEqual([{ vault: 'default', prunedVersions: 2, remainingVersions: 2, prunedCheckpoints: [] }]);
    expect(avfs.log('/p.txt').map((v) => v.version)).toEqual([4, 3]);
    expect(thrown(() => avfs.prune({ keep: 0 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.prune({ all: true, path: '/' })).code).toBe('INVALID_ARGUMENT');
    // Errors name the SDK's options, not the CLI's flags.
    const messages = [
      thrown(() => avfs.prune({})),
      thrown(() => avfs.prune({ keep: 0 })),
      thrown(() => avfs.prune({ olderThanMs: -1 })),
      thrown(() => avfs.prune({ keep: 1, checkpoints: true, path: '/sub' })),
    ].map((e) => e.message);
    expect(messages[0]).toContain('keep, olderThanMs');
    expect(messages[1]).toMatch(/^keep must be/);
    expect(messages[2]).toMatch(/^olderThanMs must be/);
    expect(messages[3]).toContain('all: true');
    for (const m of messages) expect(m).not.toContain('--');
    const c = avfs.compact();
    expect(c.afterBytes).toBeGreaterThan(0);
    expect(c.freedBytes).toBe(c.beforeBytes - c.afterBytes);
    expect(typeof c.walCheckpointed).toBe('boolean');
    expect(avfs.read('/p.txt', 'utf8')).toBe('v4');
  });

  it('checkpoint delete, info and diff', () => {
    avfs.write('/a', 'one');
    avfs.checkpointSave('first', 'the start');
    avfs.write('/a', 'two');
    avfs.write('/b', 'new');
    const info = avfs.checkpointInfo('first');
    expect(info).toMatchObject({ name: 'first', message: 'the start', files: 1, bytes: 3, execId: null, changesSince: { added: 1, modified: 1, deleted: 0 } });
    expect(new Date(info.createdAt).toISOString()).toBe(info.createdAt);
    // Exactly these fields, in this order (no store-internal ones such as id or vault_id).
    expect(Object.keys(info)).toEqual(['name', 'message', 'createdAt', 'seq', 'files', 'directories', 'symlinks', 'bytes', 'source', 'execId', 'changesSince']);
    expect(info).toMatchObject({ directories: 0, symlinks: 0, source: 'sdk', seq: expect.any(Number) });
    avfs.checkpointSave('second');
    expect(avfs.checkpointDiff('first', 'second').files.map((f) => [f.path, f.kind])).toEqual([
      ['/a', 'modified'],
      ['/b', 'added'],
    ]);
    expect(avfs.checkpointDiff('second').summary).toMatchObject({ added: 0, modified: 0, deleted: 0 });
    expect(avfs.checkpointDelete('first')).toEqual({ deleted: 'first' });
    expect(avfs.checkpointList().map((c) => c.name)).toEqual(['second']);
    expect(thrown(() => avfs.checkpointInfo('first')).code).toBe('CHECKPOINT_NOT_FOUND');
  });

  it('policy show, set, check and reset', () => {
    expect(avfs.policyShow()).toMatchObject({ vault: 'default', source: 'default', document: null });
    const check = avfs.policyCheck('sudo', ['touch', '/x']);
    expect(check.decision.action).toBe('deny');
    expect(check).toMatchObject({ vault: 'default', policySource: 'default', command: 'sudo touch /x', wouldRun: false, wouldCheckpoint: false });
    expect(avfs.policyCheck('rm', ['-rf', 'build'])).toMatchObject({ decision: { action: 'allow_with_checkpoint' }, wouldRun: true, wouldCheckpoint: true });
    expect(check.verdicts.length).toBeGreaterThan(0);
    expect(avfs.policyCheck('ls').wouldRun).toBe(true);
    // An agent's options are checked as proxyExec checks them (what mcp --confine asks of a root's policy).
    expect(avfs.policyCheck('ls').agentBeyond).toBeNull();
    expect(avfs.policyCheck('ls', [], { agent: { timeoutMs: 1000 } }).agentBeyond).toBeNull();
    expect(avfs.policyCheck('ls', [], { agent: { timeoutMs: 0 } }).agentBeyond).toMatchObject({ option: 'timeout_ms' });
    expect(avfs.policyCheck('ls', [], { agent: { network: 'host' } }).agentBeyond).toMatchObject({ option: 'network' });
    expect(avfs.policyCheck('rm', ['-rf', 'build'], { agent: { checkpoint: false } }).agentBeyond).toMatchObject({ option: 'checkpoint' });
    expect(avfs.policyCheck('ls', [], { agent: { checkpoint: false } }).agentBeyond).toBeNull();
    const set = avfs.policySet({ rules: [{ name: 'no-ls', program: 'ls', action: 'deny', reason: 'no listing here' }] });
    expect(set.source).toBe('vault');
    const denied = avfs.policyCheck('ls', ['-l']);
    expect(denied.decision).toEqual({ action: 'deny', categories: expect.any(Array), rule: 'no-ls', reason: 'no listing here' });
    expect(avfs.policyCheck('echo hi && ls', [], { shell: true }).decision.rule).toBe('no-ls');
    expect(thrown(() => avfs.policySet('{"default_action": "maybe"}')).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.policySet('{}', { scope: 'world' as 'home' })).code).toBe('INVALID_ARGUMENT');
    expect(avfs.policySet(null).source).toBe('default');
    expect(avfs.policyCheck('ls').wouldRun).toBe(true);
  });

  it('proxyExec: the command opens its stdout and stderr by path (/dev/stdout, tee /dev/stderr), as under a shell', async () => {
    const r = await avfs.proxyExec('sh', ['-c', 'echo x > /dev/stdout; echo y | tee /dev/stderr'], { mode: 'copy' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('x\ny\n');
    expect(r.stderr).toBe('y\n');
  });

  it('proxyExec results are typed camelCase: changedFiles, decision, violations', async () => {
    avfs.write('/m.txt', 'before');
    const r = await avfs.proxyExec('sh', ['-c', 'echo after > m.txt && echo x > n.txt'], { mode: 'copy' });
    const m = r.changedFiles.find((c) => c.path === '/m.txt')!;
    expect(m).toMatchObject({ kind: 'modified', type: 'file', sizeBefore: 6, sizeAfter: 6, modeBefore: '0644', versions: 1 });
    expect(m.hashBefore).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(m).every((k) => !k.includes('_'))).toBe(true);
    expect(r.decision.action).toBe('allow');
    expect(typeof r.decision.rule).toBe('string');
    expect(r.violations).toEqual([]);
    expect((r.raw as { changed_files: unknown[] }).changed_files).toHaveLength(2);
  });

  it('proxyExec refuses bad options with INVALID_ARGUMENT before anything runs', async () => {
    const bad: Parameters<AVFS['proxyExec']>[2][] = [
      { timeoutMs: 1e20 }, // longer than a Node timer: it fired after 1 ms and killed the command at once
      { timeoutMs: -1 },
      { timeoutMs: Number.NaN },
      { killAfterMs: -5 },
      { maxProcesses: -3 },
      { memory: 1.5 },
      { mode: 'bogus' as 'auto' },
      { network: 'all' as 'host' },
      { env: { 'A=B': 'c' } }, // would set A to "B=c"
      { env: { '': 'x' } },
      { env: { X: 'a\0b' } }, // Node's own ERR_INVALID_ARG_VALUE, not a coded error
    ];
    for (const options of bad) {
      const err = await avfs.proxyExec('sh', ['-c', 'echo ran > /ran.txt'], options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(options)).toBeInstanceOf(AvfsError);
      expect((err as AvfsError).code, JSON.stringify(options)).toBe('INVALID_ARGUMENT');
    }
    expect(avfs.exists('/ran.txt')).toBe(false);
    expect(avfs.audit().filter((r) => r.op.startsWith('proxy.'))).toEqual([]);
  });

  it("proxyExec with agent: true cannot raise or remove the policy's limits (DENIED, agent-limits); within them it runs", async () => {
    avfs.policySet({ kill_after_ms: 1000, sandbox: { limits: { max_processes: 64, max_file_size: 1 << 20, memory: 256 << 20 } } });
    const beyond: Array<[Parameters<AVFS['proxyExec']>[2], string]> = [
      [{ killAfterMs: 1001 }, 'kill_after_ms'],
      [{ maxProcesses: 65 }, 'max_processes'],
      [{ maxProcesses: null }, 'max_processes'],
      [{ maxFileSize: (1 << 20) + 1 }, 'max_file_size'],
      [{ maxFileSize: null }, 'max_file_size'],
      [{ memory: 512 << 20 }, 'memory'],
      [{ memory: null }, 'memory'],
    ];
    for (const [options, option] of beyond) {
      const err = await avfs.proxyExec('sh', ['-c', 'echo ran > /ran.txt'], { ...options, agent: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(options)).toBeInstanceOf(AvfsError);
      expect([(err as AvfsError).code, (err as AvfsError).data], JSON.stringify(options)).toEqual(['DENIED', expect.objectContaining({ option, rule: 'agent-limits' })]);
    }
    expect(avfs.exists('/ran.txt')).toBe(false);
    // A person (no agent flag) may; an agent may tighten them.
    const tighter = await avfs.proxyExec('sh', ['-c', 'echo ran > /ran.txt'], { killAfterMs: 500, maxProcesses: 32, maxFileSize: 1 << 19, memory: 128 << 20, mode: 'copy', agent: true });
    expect(tighter.exitCode).toBe(0);
    expect(avfs.read('/ran.txt', 'utf8')).toBe('ran\n');
  });

  it('a home removed under an open instance refuses its writes (NOT_FOUND, home_removed) instead of losing them; a new instance makes the home again', async () => {
    const home = join(tmp.dir, 'home');
    avfs.write('/before.txt', 'one');
    rmSync(home, { recursive: true, force: true });
    // SQLite would go on writing the unlinked file, each write "succeeding" and lost at exit. The
    // removal is noticed by an inotify event, which arrives between calls: wait for it.
    await vi.waitFor(() => expect(thrown(() => avfs.write('/after.txt', 'lost?'))).toMatchObject({ code: 'NOT_FOUND', data: { reason: 'home_removed', home } }), { timeout: 20_000, interval: 20 });
    const again = new AVFS({ home });
    try {
      again.write('/new.txt', 'two');
      expect(again.ls('/').map((e) => e.path)).toEqual(['/new.txt']);
    } finally {
      again.close();
    }
  });

  it('bad arguments from JavaScript are coded errors: write content, log limit, gc grace', () => {
    avfs.write('/a.txt', 'one');
    avfs.write('/a.txt', 'two');
    for (const content of [123, { a: 1 }, undefined, null]) {
      expect(thrown(() => avfs.write('/bad.txt', content as unknown as string)).code, String(content)).toBe('INVALID_ARGUMENT');
    }
    expect(avfs.exists('/bad.txt')).toBe(false);
    // A negative limit was SQLite's "no limit".
    expect(thrown(() => avfs.log('/a.txt', { limit: -1 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.log('/a.txt', { limit: 0 })).code).toBe('INVALID_ARGUMENT');
    expect(avfs.log('/a.txt', { limit: 1 })).toHaveLength(1);
    expect(thrown(() => avfs.gc({ graceMs: -5 })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.gc({ graceMs: Number.NaN })).code).toBe('INVALID_ARGUMENT');
  });

  it('every numeric, enum and text option of every method is checked: INVALID_ARGUMENT, never SQLite, Node or an empty result', async () => {
    avfs.write('/hello.txt', 'hello\nhello\n');
    avfs.mkdir('/d');
    avfs.write('/d/x.txt', 'hello x');
    const bad = <T>(v: unknown) => v as T;
    // A type by its letter or by the name entries carry, as the CLI and MCP take it (adversarial round).
    expect(avfs.find('/', { type: 'file' }).map((e) => e.path)).toEqual(['/d/x.txt', '/hello.txt']);
    expect(avfs.find('/', { type: 'directory' })).toEqual(avfs.find('/', { type: 'd' }));
    const cases: Array<[string, () => unknown]> = [
      // Inexact numbers reached SQLite (SQLITE_MISMATCH); counts below 1 returned [] or were ignored.
      ['search limit 1.5', () => avfs.search('hello', { limit: 1.5 })],
      ['search limit -1', () => avfs.search('hello', { limit: -1 })],
      ['search limit 0', () => avfs.search('hello', { limit: 0 })],
      ['search query 5', () => avfs.search(bad(5))],
      ['audit limit NaN', () => avfs.audit({ limit: Number.NaN })],
      ['audit limit 0', () => avfs.audit({ limit: 0 })],
      ['audit since NaN', () => avfs.audit({ since: Number.NaN })],
      ['audit op {}', () => avfs.audit({ op: bad({}) })],
      ['find limit -1', () => avfs.find('/', { limit: -1 })],
      ['find limit 0', () => avfs.find('/', { limit: 0 })],
      ['find maxDepth -1', () => avfs.find('/', { maxDepth: -1 })],
      ['find minSize NaN', () => avfs.find('/', { minSize: Number.NaN })],
      ['find maxSize 1.5', () => avfs.find('/', { maxSize: 1.5 })],
      ['find newerThan NaN', () => avfs.find('/', { newerThan: Number.NaN })],
      ['find type x', () => avfs.find('/', { type: bad('x') })],
      ['find type files', () => avfs.find('/', { type: bad('files') })],
      ['find name 5', () => avfs.find('/', { name: bad(5) })],
      ['find tags "a"', () => avfs.find('/', { tags: bad('a') })],
      ['find meta "a"', () => avfs.find('/', { meta: bad('a') })],
      ['grep maxCount 0', () => avfs.grep('hello', { maxCount: 0 })],
      ['grep maxCount 1.5', () => avfs.grep('hello', { maxCount: 1.5 })],
      ['grep include 5', () => avfs.grep('hello', { include: bad(5) })],
      ['write mode NaN', () => avfs.write('/m.txt', 'x', { mode: Number.NaN })],
      ['write mode -1', () => avfs.write('/m.txt', 'x', { mode: -1 })],
      ['write mode 0o17777', () => avfs.write('/m.txt', 'x', { mode: 0o17777 })],
      ['mkdir mode "755"', () => avfs.mkdir('/m', { mode: bad('755') })],
      // Node's toString threw an uncoded TypeError (Unknown encoding).
      ['read {version}', () => avfs.read('/hello.txt', bad({ version: 1 }))],
      ['read encoding bogus', () => avfs.read('/hello.txt', bad('bogus'))],
      ['edit oldString 5', () => avfs.edit('/hello.txt', bad(5), 'x')],
      ['diffTrees {bogus}', () => avfs.diffTrees(bad({ bogus: 1 }))],
      ['policyCheck 5', () => avfs.policyCheck(bad(5))],
    ];
    for (const [name, call] of cases) {
      const e = thrown(call);
      expect([e.constructor, e.code], name).toEqual([InvalidInputError, 'INVALID_ARGUMENT']);
    }
    for (const call of [() => avfs.mount(bad(5)), () => avfs.proxyExec(bad(5))]) {
      await expect(call()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(avfs.exists('/m.txt') || avfs.exists('/m')).toBe(false);
    // What the CLI accepts still works (a depth of 0 tests a file itself, as --depth 0).
    expect(avfs.find('/hello.txt', { maxDepth: 0, type: 'f', minSize: 0, newerThan: 0, limit: 1 }).map((e) => e.path)).toEqual(['/hello.txt']);
    expect(avfs.grep('hello', { maxCount: 1 }).count).toBe(2);
    expect(avfs.search('hello', { limit: 1 })).toHaveLength(1);
    // A time may have a fraction (fs.Stats' mtimeMs, performance.timeOrigin + now()).
    expect(avfs.find('/hello.txt', { newerThan: 1.5 }).map((e) => e.path)).toEqual(['/hello.txt']);
    expect(avfs.audit({ since: 0.25, limit: 1 })).toHaveLength(1);
    expect(avfs.read('/d/x.txt', 'utf8')).toBe('hello x');
  });

  it('every boolean option is true, false or absent: a string or number is INVALID_ARGUMENT naming it, and nothing is done', async () => {
    // { recursive: 'false' } is truthy: it removed the whole tree; { approve: 'false' } approved.
    avfs.write('/proj/a/b.txt', 'b', { parents: true });
    avfs.checkpointSave('cp');
    const bad = <T>(v: unknown) => v as T;
    const cases: Array<[string, () => unknown]> = [
      ['recursive', () => avfs.rm('/proj', { recursive: bad('false') })],
      ['parents', () => avfs.write('/new/dir/f.txt', 'x', { parents: bad('no') })],
      ['parents', () => avfs.mkdir('/new/dir', { parents: bad(1) })],
      ['dryRun', () => avfs.gc({ dryRun: bad('true') })],
      ['recursive', () => avfs.cp('/proj', '/copy', { recursive: bad('yes') })],
      ['replaceAll', () => avfs.edit('/proj/a/b.txt', 'b', 'c', { replaceAll: bad('true') })],
      ['force', () => avfs.deleteVault('default', { force: bad('false') })],
      ['literal', () => avfs.search('b', { literal: bad('1') })],
      ['ignoreCase', () => avfs.grep('b', { ignoreCase: bad('true') })],
      ['recursive', () => avfs.checkout('/proj/a/b.txt', 1, { recursive: bad(0) })],
      ['patch', () => avfs.checkpointDiff('cp', undefined, { patch: bad('no') })],
      ['approve', () => avfs.policyCheck('ls', [], { approve: bad('false') })],
      ['all', () => avfs.stats({ all: bad('true') })],
      ['dryRun', () => avfs.prune({ keep: 1, dryRun: bad('false') })],
      ['dryRun', () => avfs.merge('default', { into: 'default', dryRun: bad('yes') })],
    ];
    for (const [option, call] of cases) {
      const e = thrown(call);
      expect([e.constructor, e.code, e.data.option], option).toEqual([InvalidInputError, 'INVALID_ARGUMENT', option]);
    }
    const asyncCases: Array<[string, () => Promise<unknown>]> = [
      ['approve', () => avfs.proxyExec('sh', ['-c', 'echo ran > /ran.txt'], { approve: bad('false') })],
      ['checkpoint', () => avfs.proxyExec('sh', ['-c', 'echo ran > /ran.txt'], { checkpoint: bad('true') })],
      ['shell', () => avfs.proxyExec('echo ran > /ran.txt', [], { shell: bad('yes') })],
      ['force', () => avfs.proxyUndo('x', { force: bad('true') })],
      ['readOnly', () => avfs.mount('/nonexistent-dir', { readOnly: bad('true') })],
    ];
    for (const [option, call] of asyncCases) {
      await expect(call(), option).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', data: { option } });
    }
    expect(avfs.ls('/proj/a').map((e) => e.path)).toEqual(['/proj/a/b.txt']);
    expect(avfs.read('/proj/a/b.txt', 'utf8')).toBe('b');
    expect(avfs.exists('/new') || avfs.exists('/copy') || avfs.exists('/ran.txt')).toBe(false);
    expect(avfs.audit().filter((r) => r.op.startsWith('proxy.'))).toEqual([]);
    // Booleans still work.
    expect(avfs.rm('/proj', { recursive: true })).toContain('/proj/a/b.txt');
  });

  it('an option name a method does not take (a typo) is INVALID_ARGUMENT naming it, for every method with options, and nothing is done', async () => {
    // { recurse: true } was ignored: rm failed as not-empty; find('/', { nme }) returned every entry.
    avfs.write('/proj/a/b.txt', 'b', { parents: true });
    avfs.checkpointSave('cp');
    const typo = <T>(key: string) => ({ [key]: true }) as T;
    const cases: Array<[string, () => unknown]> = [
      ['parent', () => avfs.write('/new/dir/f.txt', 'x', typo('parent'))],
      ['parent', () => avfs.mkdir('/new/dir', typo('parent'))],
      ['recurse', () => avfs.rm('/proj', typo('recurse'))],
      ['recurse', () => avfs.cp('/proj', '/copy', typo('recurse'))],
      ['replace_all', () => avfs.edit('/proj/a/b.txt', 'b', 'c', typo('replace_all'))],
      ['forced', () => avfs.deleteVault('default', typo('forced'))],
      ['overwite', () => avfs.exportTo('/proj', '/nonexistent-host-dir', typo('overwite'))],
      ['dry_run', () => avfs.sync('/proj', typo('dry_run'))],
      ['dry_run', () => avfs.merge('default', { into: 'default', ...typo<object>('dry_run') })],
      ['forced', () => avfs.undoMerge('default', typo('forced'))],
      ['limt', () => avfs.search('b', typo('limt'))],
      ['ignore_case', () => avfs.grep('b', typo('ignore_case'))],
      ['nme', () => avfs.find('/', typo('nme'))],
      ['limt', () => avfs.log('/proj/a/b.txt', typo('limt'))],
      ['recurse', () => avfs.checkout('/proj/a/b.txt', 1, typo('recurse'))],
      ['form', () => avfs.diff('/proj/a/b.txt', typo('form'))],
      ['patches', () => avfs.diffTrees({ checkpoint: 'cp' }, { current: true }, typo('patches'))],
      ['patches', () => avfs.checkpointDiff('cp', undefined, typo('patches'))],
      ['scop', () => avfs.policySet(null, typo('scop'))],
      ['approved', () => avfs.policyCheck('ls', [], typo('approved'))],
      ['every', () => avfs.stats(typo('every'))],
      ['exec_id', () => avfs.audit(typo('exec_id'))],
      ['max_files', () => avfs.setQuota({ maxBytes: 100, ...typo<object>('max_files') })],
      ['dry_run', () => avfs.prune({ keep: 1, ...typo<object>('dry_run') })],
      ['dry_run', () => avfs.gc(typo('dry_run'))],
    ];
    for (const [option, call] of cases) {
      const e = thrown(call);
      expect([e.constructor, e.code, e.data.option], option).toEqual([InvalidInputError, 'INVALID_ARGUMENT', option]);
      expect(e.message, option).toContain('known:');
    }
    // Not an object at all: the same code, before anything runs.
    expect(thrown(() => avfs.rm('/proj', 'recursive' as unknown as object)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => avfs.prune(null as unknown as { keep: number })).code).toBe('INVALID_ARGUMENT');
    const asyncCases: Array<[string, () => Promise<unknown>]> = [
      ['timeout', () => avfs.proxyExec('sh', ['-c', 'echo ran > /ran.txt'], typo('timeout'))],
      ['forced', () => avfs.proxyUndo('x', typo('forced'))],
      ['read_only', () => avfs.mount('/nonexistent-dir', typo('read_only'))],
      ['lazily', () => avfs.unmount('/nonexistent-dir', typo('lazily'))],
    ];
    for (const [option, call] of asyncCases) {
      await expect(call(), option).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', data: { option } });
    }
    expect(avfs.tree().map((e) => e.path)).toEqual(['/proj', '/proj/a', '/proj/a/b.txt']);
    expect(avfs.read('/proj/a/b.txt', 'utf8')).toBe('b');
    expect(avfs.quota().quota.maxBytes).toBe(null);
    expect(avfs.audit().filter((r) => r.op.startsWith('proxy.') || r.op.startsWith('gc') || r.op.startsWith('prune'))).toEqual([]);
    expect(avfs.listVaults().map((v) => v.name)).toContain('default');
  });

  it('a path that is not a string says so (it was reported as an empty path)', () => {
    const e = thrown(() => avfs.write(5 as unknown as string, 'x'));
    expect(e.code).toBe('INVALID_PATH');
    expect(e.message).toMatch(/must be a string, not number/);
    expect(thrown(() => avfs.read(null as unknown as string)).message).toMatch(/must be a string, not null/);
  });

  it('the constructor validates its options with coded errors', () => {
    const home = avfs.home;
    expect(thrown(() => new AVFS({ home: '' })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => new AVFS({ home: 42 as unknown as string })).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => new AVFS({ home, vault: 'bad name' })).code).toBe('INVALID_NAME');
    expect(thrown(() => new AVFS({ home, vault: '' })).code).toBe('INVALID_NAME');
    expect(thrown(() => new AVFS({ home, valut: 'x' } as unknown as { home: string }))).toBeInstanceOf(InvalidInputError);
    expect(thrown(() => new AVFS('x' as unknown as { home: string })).code).toBe('INVALID_ARGUMENT');
    const ok = new AVFS({ home, vault: 'not-yet' });
    expect(ok.vault).toBe('not-yet');
    ok.close();
  });
});
