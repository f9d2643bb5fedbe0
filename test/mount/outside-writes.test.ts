import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { describeMount, mountFixture, sh, shOk, stepScript, type MountFixture } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Longer than the kernel's attribute cache (1 s), the documented bound for outside changes. */
const PAST_ATTR_CACHE_MS = 1500;
const CLI_VERSION = 'the CLI version, longer than the first one\n';

/**
 * A file open through the mount while someone else (here `avfs write` from another process)
 * rewrites it. Like two processes on one local file: an open file with no unsaved writes sees
 * the new content, and an append lands after it. A file with unsaved writes keeps them and its
 * close is the newer version; the other writer's version stays in history, named in the detail
 * of the version that replaced it. No byte nobody wrote ever appears.
 */
describeMount('a file open through the mount while the CLI rewrites it', () => {
  let fx: MountFixture;
  beforeAll(async () => {
    fx = await mountFixture();
  });
  afterAll(async () => fx?.cleanup());

  const cliWrite = async (path: string, content: string) => expect((await fx.run(['write', path, content])).json.ok).toBe(true);
  // execa strips one final newline from what it captures: compare the same way.
  const asCaptured = (content: string) => content.replace(/\n$/, '');
  const catVault = async (path: string, version?: number) =>
    (await fx.run(['cat', path, ...(version ? ['--version', String(version)] : [])], { raw: true })).stdout;
  const versions = async (path: string) => (await fx.run(['log', path])).json.versions as { version: number; source: string; detail: unknown }[];

  it('an append through a descriptor opened before the rewrite lands after the new content (O_APPEND)', async () => {
    await shOk(`printf 'first\\n' > ${fx.dir}/append.txt`);
    const script = stepScript(
      `
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
step('open')
os.write(fd, b'appended\\n')
os.close(fd)
`,
      [join(fx.dir, 'append.txt')],
    );
    expect(await script.next()).toBe('open');
    await cliWrite('/append.txt', CLI_VERSION);
    script.go();
    await script.done();
    expect(await catVault('/append.txt')).toBe(asCaptured(`${CLI_VERSION}appended\n`));
    expect(await shOk(`cat ${fx.dir}/append.txt`)).toBe(asCaptured(`${CLI_VERSION}appended\n`));
  });

  it('a file created in append mode through the mount (>>, open(p, "a")) appends after what the CLI added or cut meanwhile: nothing overwritten, no NUL gap', async () => {
    // The create request carries no open flags through fuse-native; an append must still append.
    const script = stepScript(
      `
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, b'server: started\\n')
os.fsync(fd)
step('created')
os.write(fd, b'server: request 1\\n')
os.fsync(fd)
step('grown')
os.write(fd, b'server: request 2\\n')
os.close(fd)
`,
      [join(fx.dir, 'created-append.log')],
    );
    expect(await script.next()).toBe('created');
    expect((await fx.run(['write', '-a', '/created-append.log', 'agent: ran tests\n'])).json.ok).toBe(true);
    script.go();
    expect(await script.next()).toBe('grown');
    expect(await catVault('/created-append.log')).toBe(asCaptured('server: started\nagent: ran tests\nserver: request 1\n'));
    await cliWrite('/created-append.log', 'short\n');
    script.go();
    await script.done();
    expect(await catVault('/created-append.log')).toBe(asCaptured('short\nserver: request 2\n'));
    expect(await shOk(`cat ${fx.dir}/created-append.log`)).toBe(asCaptured('short\nserver: request 2\n'));
  });

  it('a descriptor opened before the rewrite reads the new content and writes at its end without inventing bytes', async () => {
    await shOk(`printf 'first\\n' > ${fx.dir}/seek.txt`);
    const script = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDWR)
first = os.pread(fd, 1000, 0).decode()  # the kernel now caches the first version's pages
step('open')
size = os.fstat(fd).st_size
before = os.pread(fd, 1000, 0).decode()
os.lseek(fd, 0, os.SEEK_END)
os.write(fd, b'appended\\n')
after = os.pread(fd, 1000, 0).decode()
os.close(fd)
print(json.dumps([first, size, before, after]), flush=True)
`,
      [join(fx.dir, 'seek.txt')],
    );
    expect(await script.next()).toBe('open');
    await cliWrite('/seek.txt', CLI_VERSION);
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    const [first, size, before, after] = JSON.parse(await script.next());
    await script.done();
    expect(first).toBe('first\n');
    expect(size).toBe(CLI_VERSION.length);
    expect(before).toBe(CLI_VERSION);
    expect(after).toBe(`${CLI_VERSION}appended\n`);
    expect(await catVault('/seek.txt')).toBe(asCaptured(`${CLI_VERSION}appended\n`));
    expect((await versions('/seek.txt')).map((v) => v.source)).toEqual(['mount', 'cli', 'mount']);
  });

  it('a file with unsaved writes keeps them and its close wins; the CLI version stays in history, named by the version that replaced it', async () => {
    await shOk(`printf 'first line\\n' > ${fx.dir}/dirty.txt`);
    const script = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND)
os.write(fd, b'unsaved\\n')
step('written')
os.write(fd, b'more\\n')
data = os.pread(fd, 1000, 0).decode()
os.close(fd)
print(json.dumps(data), flush=True)
`,
      [join(fx.dir, 'dirty.txt')],
    );
    expect(await script.next()).toBe('written');
    await cliWrite('/dirty.txt', CLI_VERSION);
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    const data = JSON.parse(await script.next());
    await script.done();
    const own = 'first line\nunsaved\nmore\n';
    expect(data).toBe(own);
    expect(await catVault('/dirty.txt')).toBe(asCaptured(own));
    const log = await versions('/dirty.txt');
    expect(log.map((v) => v.source)).toEqual(['mount', 'cli', 'mount']);
    const [latest, cli] = log as [(typeof log)[number], (typeof log)[number]];
    expect(latest.detail).toEqual({ replaced: cli.version });
    expect(await catVault('/dirty.txt', cli.version)).toBe(asCaptured(CLI_VERSION));
  });

  // Appends from two sides (a tool in the mount, an agent's `avfs write -a`) are both kept, as two
  // appenders on one local file: a close that only appended stores its lines after the others'.
  const appendWhileOpen = (path: string) =>
    stepScript(
      `
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b'mount 1\\n')
step('written')
os.write(fd, b'mount 2\\n')
os.close(fd)
`,
      [path],
    );

  for (const [what, base] of [
    ['a small file', 'first line\n'],
    ['a large file written in place', `${'x'.repeat(99)}\n`.repeat(30_000)],
  ] as const) {
    it(`${what} appended to through the mount while the CLI appends too: the close stores its lines after the CLI's, and nothing is replaced`, async () => {
      const name = what.startsWith('a small') ? 'appended-small.log' : 'appended-large.log';
      expect((await fx.run(['write', `/${name}`, '-'], { input: base })).json.ok).toBe(true);
      await sleep(PAST_ATTR_CACHE_MS);
      const script = appendWhileOpen(join(fx.dir, name));
      expect(await script.next()).toBe('written');
      expect((await fx.run(['write', '-a', `/${name}`, 'cli 1\n'])).json.ok).toBe(true);
      script.go();
      await script.done();
      const expected = `${base}cli 1\nmount 1\nmount 2\n`;
      expect(await catVault(`/${name}`)).toBe(asCaptured(expected));
      expect((await versions(`/${name}`)).map((v) => v.detail ?? null)).not.toContainEqual(expect.objectContaining({ replaced: expect.anything() }));
      await sleep(PAST_ATTR_CACHE_MS);
      const shown = await shOk(`cat ${fx.dir}/${name}`);
      expect(shown.length).toBe(asCaptured(expected).length);
      expect(shown === asCaptured(expected)).toBe(true);
    });
  }

  it('a page written back from a memory map after the CLI rewrote the file stores what the mapping process saw and wrote, naming the version it replaced (no mix of both)', async () => {
    await shOk(`python3 -c 'open("${fx.dir}/mapped.bin", "w").write("B" * 8192)'`);
    await sleep(PAST_ATTR_CACHE_MS);
    const script = stepScript(
      `
import mmap
f = open(sys.argv[1], 'r+b')
m = mmap.mmap(f.fileno(), 0)
m[0:1]  # the kernel now caches the first page
step('mapped')
m[0:4] = b'MMAP'
m.flush()
m.close()
f.close()
`,
      [join(fx.dir, 'mapped.bin')],
    );
    expect(await script.next()).toBe('mapped');
    expect((await fx.run(['write', '/mapped.bin', '-'], { input: 'A'.repeat(9000) })).json.ok).toBe(true);
    script.go();
    await script.done();
    await sleep(PAST_ATTR_CACHE_MS);
    const stored = await catVault('/mapped.bin');
    // Before: MMAP and the rest of the old first page over the CLI's bytes (4092 B, then A).
    expect(stored === 'MMAP' + 'B'.repeat(8188), `${stored.slice(0, 12)}… ${stored.length} bytes`).toBe(true);
    const [latest, cli] = await versions('/mapped.bin');
    expect(latest!.detail).toEqual({ replaced: cli!.version });
    expect((await fx.run(['cat', '/mapped.bin', '--version', String(cli!.version)], { raw: true })).stdout).toBe('A'.repeat(9000));
  });

  it('appends merged after prune and gc (grace 0) collected the content the holder started from: nothing lost', async () => {
    expect((await fx.run(['write', '/collected.log', '-'], { input: 'base\n' })).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    const script = appendWhileOpen(join(fx.dir, 'collected.log'));
    expect(await script.next()).toBe('written');
    expect((await fx.run(['write', '-a', '/collected.log', 'cli 1\n'])).json.ok).toBe(true);
    expect((await fx.run(['prune', '/collected.log', '--keep', '1'])).json.ok).toBe(true);
    expect((await fx.run(['gc', '--grace', '0'])).json.ok).toBe(true);
    script.go();
    await script.done();
    expect(await catVault('/collected.log')).toBe(asCaptured('base\ncli 1\nmount 1\nmount 2\n'));
  });

  it('a file the CLI rewrote (not appended to) while the mount appended to it: the close still wins, and names the version it replaced', async () => {
    await shOk(`printf 'first line\\n' > ${fx.dir}/rewritten.log`);
    const script = appendWhileOpen(join(fx.dir, 'rewritten.log'));
    expect(await script.next()).toBe('written');
    await cliWrite('/rewritten.log', 'first LINE\nother\n');
    script.go();
    await script.done();
    expect(await catVault('/rewritten.log')).toBe(asCaptured('first line\nmount 1\nmount 2\n'));
    const log = await versions('/rewritten.log');
    const [latest, cli] = log as [(typeof log)[number], (typeof log)[number]];
    expect(latest.detail).toEqual({ replaced: cli.version });
  });

  it('three shell loops appending through the mount while another process appends through the store: every line is kept exactly once', async () => {
    const path = join(fx.dir, 'shared.log');
    await shOk(`printf 'start\\n' > ${path}`);
    const loops = ['a', 'b', 'c'].map((t) => execa('bash', ['-c', `for i in $(seq 60); do echo ${t}$i >> ${path}; done`], { reject: false, timeout: 60_000 }));
    const store = openStore(fx.home);
    try {
      const fs = new VaultFs(store, 'default', { source: 'sdk' });
      for (let i = 1; i <= 40; i++) {
        fs.appendFile('/shared.log', `s${i}\n`);
        await sleep(5);
      }
    } finally {
      store.release();
    }
    for (const r of await Promise.all(loops)) expect(r.exitCode, r.stderr).toBe(0);
    const lines = (await catVault('/shared.log')).split('\n');
    const expected = ['start', ...['a', 'b', 'c'].flatMap((t) => Array.from({ length: 60 }, (_, i) => `${t}${i + 1}`)), ...Array.from({ length: 40 }, (_, i) => `s${i + 1}`)];
    expect(lines.sort()).toEqual(expected.sort());
  });

  // A writer that keeps a file open (a log, an editor's buffer) while the CLI renames the file or
  // its directory: as for a local file, its bytes follow the file to its new name.
  const keepWriting = (path: string, flags = 'os.O_WRONLY | os.O_APPEND') =>
    stepScript(
      `
fd = os.open(sys.argv[1], ${flags}, 0o644)
os.write(fd, b'one\\n')
step('written')
os.write(fd, b'two\\n')
os.close(fd)
`,
      [path],
    );
  const names = async (dir: string) => ((await fx.run(['ls', dir])).json.entries as { name: string }[]).map((e) => e.name);
  const inodes = async (dir: string) => (await shOk(`stat -c %i ${dir}/*`)).split('\n');

  it('a file renamed by the CLI while written through the mount: its close stores under the new name, never back under the old one', async () => {
    await shOk(`mkdir ${fx.dir}/mv && printf 'zero\\n' > ${fx.dir}/mv/log.txt && printf 'other\\n' > ${fx.dir}/mv/other.txt`);
    const script = keepWriting(join(fx.dir, 'mv/log.txt'));
    expect(await script.next()).toBe('written');
    expect((await fx.run(['mv', '/mv/log.txt', '/mv/moved.txt'])).json.ok).toBe(true);
    script.go();
    await script.done();
    expect(await names('/mv')).toEqual(['moved.txt', 'other.txt']);
    expect(await catVault('/mv/moved.txt')).toBe(asCaptured('zero\none\ntwo\n'));
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await shOk(`ls ${fx.dir}/mv`)).toBe('moved.txt\nother.txt');
    const ino = await inodes(`${fx.dir}/mv`);
    expect(new Set(ino).size).toBe(2);
  });

  it('a file whose directory the CLI renamed while it was written through the mount (stored or just created) keeps every byte, in the moved directory', async () => {
    await shOk(`mkdir -p ${fx.dir}/mvdir/sub && printf 'zero\\n' > ${fx.dir}/mvdir/sub/stored.txt`);
    const stored = keepWriting(join(fx.dir, 'mvdir/sub/stored.txt'));
    const created = keepWriting(join(fx.dir, 'mvdir/sub/created.txt'), 'os.O_WRONLY | os.O_CREAT | os.O_EXCL');
    expect(await stored.next()).toBe('written');
    expect(await created.next()).toBe('written');
    expect((await fx.run(['mv', '/mvdir', '/moveddir'])).json.ok).toBe(true);
    stored.go();
    created.go();
    await stored.done();
    await created.done();
    expect((await fx.run(['ls', '/mvdir'])).json.error?.code).toBe('NOT_FOUND');
    expect(await names('/moveddir/sub')).toEqual(['created.txt', 'stored.txt']);
    expect(await catVault('/moveddir/sub/stored.txt')).toBe(asCaptured('zero\none\ntwo\n'));
    expect(await catVault('/moveddir/sub/created.txt')).toBe(asCaptured('one\ntwo\n'));
  });

  /**
   * For each name in `dir` (with os.open flags, a Python expression): a lookup, which fills the
   * kernel's 1 s cache found or not, then `between(name)` (what the CLI changes meanwhile), then
   * the open, writing `payload` unless it opens read-only. The errno name of each open ('OK').
   */
  const openAfterOutsideChange = async (dir: string, flags: Record<string, string>, payload: string, between: (name: string) => Promise<void>) => {
    const script = stepScript(
      `
import errno
flags = {${Object.entries(flags)
        .map(([name, f]) => `'${name}': ${f}`)
        .join(', ')}}
out = {}
for name, f in flags.items():
    path = os.path.join(sys.argv[1], name)
    try:
        os.stat(path)
    except FileNotFoundError:
        pass
    step(name)
    try:
        fd = os.open(path, f, 0o644)
        if f & os.O_ACCMODE != os.O_RDONLY:
            os.write(fd, sys.argv[2].encode())
        os.close(fd)
        out[name] = 'OK'
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
print(json.dumps(out), flush=True)
`,
      [dir, payload],
    );
    for (const name of Object.keys(flags)) {
      expect(await script.next()).toBe(name);
      await between(name);
      script.go();
    }
    const out = JSON.parse(await script.next()) as Record<string, string>;
    await script.done();
    return out;
  };

  it('open(O_CREAT) of a name the CLI created while the kernel still held its failed lookup opens that file (O_EXCL: EEXIST), as on a local disk', async () => {
    await shOk(`mkdir ${fx.dir}/created-elsewhere`);
    // Per name: a failed lookup (the kernel keeps it 1 s), the CLI creates the file, then the open.
    const flags = { trunc: 'os.O_WRONLY | os.O_CREAT | os.O_TRUNC', append: 'os.O_WRONLY | os.O_CREAT | os.O_APPEND', excl: 'os.O_WRONLY | os.O_CREAT | os.O_EXCL' };
    const out = await openAfterOutsideChange(join(fx.dir, 'created-elsewhere'), flags, '+mount', (name) => cliWrite(`/created-elsewhere/${name}`, 'cli'));
    expect(out).toEqual({ trunc: 'OK', append: 'OK', excl: 'EEXIST' });
    expect(await catVault('/created-elsewhere/trunc')).toBe('+mount');
    expect(await catVault('/created-elsewhere/append')).toBe('cli+mount');
    expect(await catVault('/created-elsewhere/excl')).toBe('cli');
  });

  it('open(O_CREAT) of a name the CLI removed while the kernel still held its lookup creates the file anew; a plain open fails ENOENT, as on a local disk', async () => {
    await shOk(`mkdir ${fx.dir}/removed-elsewhere && printf old > ${fx.dir}/removed-elsewhere/create && printf old > ${fx.dir}/removed-elsewhere/plain`);
    // Per name: a lookup that finds the file (the kernel keeps it 1 s), the CLI removes it, then the open.
    const flags = { create: 'os.O_WRONLY | os.O_CREAT | os.O_TRUNC', plain: 'os.O_RDONLY' };
    const out = await openAfterOutsideChange(join(fx.dir, 'removed-elsewhere'), flags, 'new', async (name) => {
      expect((await fx.run(['rm', `/removed-elsewhere/${name}`])).json.ok).toBe(true);
    });
    expect(out).toEqual({ create: 'OK', plain: 'ENOENT' });
    expect(await catVault('/removed-elsewhere/create')).toBe('new');
    expect(await names('/removed-elsewhere')).toEqual(['create']);
  });

  it('a file open through the mount that the CLI removed: another open of its name fails ENOENT (never ESTALE: Stale file handle), as on a local disk', async () => {
    await shOk(`printf kept > ${fx.dir}/open-removed`);
    const holder = execa('sh', ['-c', `exec 7>>${fx.dir}/open-removed; printf more >&7; echo ready; read line`], { reject: false });
    try {
      await new Promise<void>((resolve) => holder.stdout!.on('data', () => resolve()));
      expect((await fx.run(['rm', '/open-removed'])).json.ok).toBe(true);
      for (const wait of [0, PAST_ATTR_CACHE_MS]) {
        await sleep(wait);
        const cat = await execa('cat', [join(fx.dir, 'open-removed')], { reject: false });
        expect(cat.exitCode).not.toBe(0);
        expect(cat.stderr).toMatch(/No such file or directory/);
      }
    } finally {
      holder.stdin!.end('\n');
      await holder;
    }
  });

  it('a file open through the mount that the CLI removed: `echo x > name` creates a new file there while the holder keeps its descriptor, as on a local disk', async () => {
    await shOk(`printf 'old content' > ${fx.dir}/held-removed`);
    const holder = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.pread(fd, 100, 0).decode()
step('open')
size = os.fstat(fd).st_size
os.close(fd)
print(json.dumps([first, size]), flush=True)
`,
      [join(fx.dir, 'held-removed')],
    );
    expect(await holder.next()).toBe('open');
    expect((await fx.run(['rm', '/held-removed'])).json.ok).toBe(true);
    for (const wait of [0, PAST_ATTR_CACHE_MS]) {
      await sleep(wait);
      // Before and after the kernel's caches expire: the name shows nothing to a plain open.
      const cat = await execa('cat', [join(fx.dir, 'held-removed')], { reject: false });
      expect(cat.stderr).toMatch(/No such file or directory/);
    }
    // It failed ENOENT for as long as the file stayed open here (the holder's open claimed the name).
    await shOk(`echo new > ${fx.dir}/held-removed`);
    expect(await shOk(`cat ${fx.dir}/held-removed`)).toBe('new');
    expect(await catVault('/held-removed')).toBe('new');
    holder.go();
    const [first, size] = JSON.parse(await holder.next());
    await holder.done();
    expect(first).toBe('old content');
    expect(typeof size).toBe('number'); // fstat of the held descriptor still answers
    expect(await catVault('/held-removed')).toBe('new');
    expect(await names('/')).toContain('held-removed');
  });

  it('a file with unsaved writes open through the mount that the CLI removed: a new file made at its name stays when the writer closes (its bytes went with the removed file)', async () => {
    await shOk(`printf kept > ${fx.dir}/dirty-removed`);
    const holder = execa('sh', ['-c', `exec 7>>${fx.dir}/dirty-removed; printf more >&7; echo ready; read line; printf late >&7`], { reject: false });
    try {
      await new Promise<void>((resolve) => holder.stdout!.on('data', () => resolve()));
      expect((await fx.run(['rm', '/dirty-removed'])).json.ok).toBe(true);
      await shOk(`echo fresh > ${fx.dir}/dirty-removed`);
      expect(await catVault('/dirty-removed')).toBe('fresh');
    } finally {
      holder.stdin!.end('\n');
      await holder;
    }
    expect(await shOk(`cat ${fx.dir}/dirty-removed`)).toBe('fresh');
    expect(await catVault('/dirty-removed')).toBe('fresh');
  });

  /** A process holding `path` open read-write: at go, it reads it, writes `data` at offset 0 and closes; returns what it read. */
  const holdOpen = async (path: string, data: string) => {
    const holder = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDWR)
step('open')
seen = os.pread(fd, 100, 0).decode()
os.pwrite(fd, sys.argv[2].encode(), 0)
os.close(fd)
print(json.dumps(seen), flush=True)
`,
      [join(fx.dir, path), data],
    );
    expect(await holder.next()).toBe('open');
    return async () => {
      holder.go();
      const seen = JSON.parse(await holder.next()) as string;
      await holder.done();
      return seen;
    };
  };

  it('a file open through the mount that the CLI removed and wrote anew: the holder keeps the old file, and its writes never reach the new one, as on a local disk', async () => {
    await shOk(`printf 'orig\\n' > ${fx.dir}/replaced-new`);
    const finish = await holdOpen('replaced-new', 'HOLDER\n');
    expect((await fx.run(['rm', '/replaced-new'])).json.ok).toBe(true);
    await cliWrite('/replaced-new', 'NEWCONTENT');
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await finish()).toBe('orig\n');
    expect(await catVault('/replaced-new')).toBe('NEWCONTENT');
    expect(await shOk(`cat ${fx.dir}/replaced-new`)).toBe('NEWCONTENT');
    expect((await versions('/replaced-new')).filter((v) => v.source === 'mount')).toHaveLength(1); // its first write only
  });

  it('a file open through the mount that the CLI renamed, with a new file made at its old name: the holder writes into the renamed file only', async () => {
    await shOk(`printf 'orig\\n' > ${fx.dir}/moved-away`);
    const finish = await holdOpen('moved-away', 'HOLDER\n');
    expect((await fx.run(['mv', '/moved-away', '/moved-here'])).json.ok).toBe(true);
    await cliWrite('/moved-away', 'NEWCONTENT');
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await finish()).toBe('orig\n');
    expect(await catVault('/moved-here')).toBe(asCaptured('HOLDER\n'));
    expect(await catVault('/moved-away')).toBe('NEWCONTENT');
  });

  it('a file open through the mount that the CLI removed stays removed when the holder writes to it and closes, as on a local disk', async () => {
    await shOk(`printf 'orig\\n' > ${fx.dir}/stays-removed`);
    const finish = await holdOpen('stays-removed', 'W');
    expect((await fx.run(['rm', '/stays-removed'])).json.ok).toBe(true);
    expect(await finish()).toBe('orig\n');
    expect(await names('/')).not.toContain('stays-removed');
    expect((await versions('/stays-removed')).map((v) => v.source)).toEqual(['cli', 'mount']); // the rm, the first write
  });

  it('a file open through the mount whose name a checkpoint restore removed, bringing its inode back under the name it had before: the close stores nothing there (it overwrote the restored file)', async () => {
    expect((await fx.run(['write', '/restored-c', 'old-c'])).json.ok).toBe(true);
    expect((await fx.run(['checkpoint', 'save', 'before-mv'])).json.ok).toBe(true);
    expect((await fx.run(['mv', '/restored-c', '/restored-a'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    // Opens and writes `data`, then closes on go.
    const writeThenClose = async (path: string, data: string) => {
      const script = stepScript(`fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\nos.write(fd, sys.argv[2].encode())\nstep('written')\nos.close(fd)`, [join(fx.dir, path), data]);
      expect(await script.next()).toBe('written');
      return script;
    };
    const writer = await writeThenClose('restored-a', 'NEW-via-a');
    expect((await fx.run(['checkpoint', 'restore', 'before-mv'])).json.ok).toBe(true);
    writer.go();
    await writer.done();
    expect(await catVault('/restored-c')).toBe('old-c');
    expect(await names('/')).not.toContain('restored-a');
    // A rename by the CLI, which is not a restore, is still followed (its close stores under the new name).
    const follows = await writeThenClose('restored-c', 'moved on');
    expect((await fx.run(['mv', '/restored-c', '/restored-d'])).json.ok).toBe(true);
    follows.go();
    await follows.done();
    expect(await catVault('/restored-d')).toBe('moved on');
    // Moved by the CLI, then rewritten and reverted there (the name keeps the inode): still where the file went.
    const stays = await writeThenClose('restored-d', 'part one');
    expect((await fx.run(['mv', '/restored-d', '/restored-e'])).json.ok).toBe(true);
    expect((await fx.run(['write', '/restored-e', 'other'])).json.ok).toBe(true);
    expect((await fx.run(['revert', '/restored-e'])).json.ok).toBe(true);
    stays.go();
    await stays.done();
    expect(await catVault('/restored-e')).toBe('part one');
    // Two names of one file, one moved by the CLI and opened there; a restore from before the move
    // gives the inode both names back: what the file writes after it reaches neither.
    await shOk(`printf ORIG > ${fx.dir}/linked-c && ln ${fx.dir}/linked-c ${fx.dir}/linked-b`);
    expect((await fx.run(['checkpoint', 'save', 'linked'])).json.ok).toBe(true);
    expect((await fx.run(['mv', '/linked-c', '/linked-a'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    const linked = stepScript(`fd = os.open(sys.argv[1], os.O_RDWR)\nos.write(fd, b'W')\nstep('written')\nos.write(fd, b'X')\nos.close(fd)`, [join(fx.dir, 'linked-a')]);
    expect(await linked.next()).toBe('written');
    expect((await fx.run(['checkpoint', 'restore', 'linked'])).json.ok).toBe(true);
    linked.go();
    await linked.done();
    expect([await catVault('/linked-b'), await catVault('/linked-c')]).toEqual(['ORIG', 'ORIG']);
  });

  it('a file open through the mount that the CLI renamed, then another file renamed onto its old name in the mount: the holder still writes into the renamed file', async () => {
    await shOk(`printf 'orig\\n' > ${fx.dir}/over && printf 'other\\n' > ${fx.dir}/over-src`);
    const finish = await holdOpen('over', 'HOLDER\n');
    expect((await fx.run(['mv', '/over', '/over-moved'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    await shOk(`mv ${fx.dir}/over-src ${fx.dir}/over`);
    expect(await finish()).toBe('orig\n');
    expect(await catVault('/over-moved')).toBe(asCaptured('HOLDER\n'));
    expect(await catVault('/over')).toBe(asCaptured('other\n'));
  });

  it('names a held file lost to the CLI are free through the mount: mv of it fails ENOENT (the target stays), cp onto it creates, rm of a new file there leaves no hidden file behind', async () => {
    await shOk(`mkdir ${fx.dir}/lost && cd ${fx.dir}/lost && printf orig > f && printf precious > other && printf orig > g && printf src > src`);
    const holders = ['f', 'g'].map((n) => execa('sh', ['-c', `exec 3<>${fx.dir}/lost/${n}; echo ready; read line`], { reject: false }));
    try {
      await Promise.all(holders.map((h) => new Promise<void>((resolve) => h.stdout!.on('data', () => resolve()))));
      for (const n of ['f', 'g']) expect((await fx.run(['rm', `/lost/${n}`])).json.ok).toBe(true);
      await sleep(PAST_ATTR_CACHE_MS);
      const mv = await sh(`mv ${fx.dir}/lost/f ${fx.dir}/lost/other`);
      expect(mv.code).not.toBe(0);
      expect(mv.stderr).toMatch(/No such file or directory/);
      await shOk(`cp ${fx.dir}/lost/src ${fx.dir}/lost/f`);
      await shOk(`echo d020 > ${fx.dir}/lost/g && rm ${fx.dir}/lost/g`);
    } finally {
      for (const h of holders) h.stdin!.end('\n');
      await Promise.all(holders);
    }
    await sleep(100);
    expect(await catVault('/lost/other')).toBe('precious');
    expect(await catVault('/lost/f')).toBe('src');
    expect((await names('/lost')).sort()).toEqual(['f', 'other', 'src']);
    expect((await shOk(`ls -A ${fx.dir}/lost`)).split('\n').sort()).toEqual(['f', 'other', 'src']);
  });

  it('a held file renamed by the CLI, a new file made at its old name through the mount, then the holder reads: the mount shows the new file its own bytes', async () => {
    await shOk(`printf 8e9dbbac308d6a84ff7c4e4bfaa4e694 > ${fx.dir}/shown`);
    const holder = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b'PRE', 3)
step('written')
os.pwrite(fd, b'POST', 9)
step('again')
os.pread(fd, 100, 0)
os.close(fd)
`,
      [join(fx.dir, 'shown')],
    );
    expect(await holder.next()).toBe('written');
    expect((await fx.run(['mv', '/shown', '/shown-moved'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    holder.go();
    expect(await holder.next()).toBe('again');
    await shOk(`printf d1378e780afb633bdfa9d2 >> ${fx.dir}/shown`);
    holder.go();
    await holder.done();
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await shOk(`cat ${fx.dir}/shown`)).toBe('d1378e780afb633bdfa9d2');
    expect(await catVault('/shown')).toBe('d1378e780afb633bdfa9d2');
    expect(await catVault('/shown-moved')).toBe('8e9PREac3POSTa84ff7c4e4bfaa4e694');
  });

  it('a file with two descriptors whose directory the CLI renamed: after one writes and closes, the other still reads', async () => {
    await shOk(`mkdir -p ${fx.dir}/two-fds/x/y && printf 0123456789 > ${fx.dir}/two-fds/x/y/c`);
    const holder = stepScript(
      `
fd1 = os.open(sys.argv[1], os.O_RDWR)
fd2 = os.open(sys.argv[1], os.O_RDWR)
step('open')
os.pwrite(fd2, b'AB', 0)
os.close(fd2)
print(json.dumps(os.pread(fd1, 100, 0).decode()), flush=True)
os.close(fd1)
`,
      [join(fx.dir, 'two-fds/x/y/c')],
    );
    expect(await holder.next()).toBe('open');
    expect((await fx.run(['mv', '/two-fds/x/y', '/two-fds/d2'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    holder.go();
    expect(JSON.parse(await holder.next())).toBe('AB23456789');
    await holder.done();
    expect(await catVault('/two-fds/d2/c')).toBe('AB23456789');
  });

  it('a file the CLI replaced by a symlink while the kernel still held it as a file: an open follows the link, never reads the symlink as an empty file', async () => {
    await shOk(`printf target > ${fx.dir}/link-target && printf plain > ${fx.dir}/swapped && cat ${fx.dir}/swapped`);
    // Another writer of the home (the SDK here; the CLI has no symlink command) swaps it.
    const store = openStore(fx.home);
    try {
      const fs = new VaultFs(store, 'default', { source: 'sdk' });
      store.mutate(() => {
        fs.rm('/swapped');
        fs.symlink('link-target', '/swapped');
      });
    } finally {
      store.release();
    }
    expect(await shOk(`cat ${fx.dir}/swapped`)).toBe('target');
  });

  it('a file open through the mount that the CLI replaced by a directory: its descriptors keep reading and writing it (never EIO), the name is busy; it shows the directory after the last close', async () => {
    // Found by an adversarial run: once the name was looked up, read, fstat and close of the descriptor failed EIO.
    await shOk(`mkdir ${fx.dir}/typed && printf 'old content' > ${fx.dir}/typed/x`);
    const script = stepScript(
      `
import stat, errno
fd = os.open(sys.argv[1], os.O_RDWR)
reader = os.open(sys.argv[1], os.O_RDONLY)
step('open')
looked = stat.S_ISREG(os.stat(sys.argv[1]).st_mode)
# A write stored through one descriptor (fsync) must not give the name away from the others.
os.pwrite(fd, b'OLD', 0)
os.fsync(fd)
looked_after = stat.S_ISREG(os.stat(sys.argv[1]).st_mode)
def refused(call):
    try:
        call()
        return 'OK'
    except OSError as e:
        return errno.errorcode[e.errno]
# The name is busy while it shows the open file: a rename or unlink would move or remove the directory instead.
busy = [refused(lambda: os.rename(sys.argv[1], sys.argv[1] + '.moved')), refused(lambda: os.unlink(sys.argv[1]))]
print(json.dumps([looked, looked_after, os.pread(reader, 100, 0).decode(), os.fstat(reader).st_size, busy]), flush=True)
os.close(fd)
os.close(reader)
print('closed', flush=True)
`,
      [join(fx.dir, 'typed/x')],
    );
    expect(await script.next()).toBe('open');
    expect((await fx.run(['rm', '/typed/x'])).json.ok).toBe(true);
    expect((await fx.run(['mkdir', '/typed/x'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS); // the kernel asks for the name again
    script.go();
    expect(JSON.parse(await script.next())).toEqual([true, true, 'OLD content', 11, ['EBUSY', 'EBUSY']]);
    expect(await script.next()).toBe('closed');
    await script.done();
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await shOk(`stat -c %F ${fx.dir}/typed/x`)).toBe('directory');
    // The removed file's bytes went with it (README: a close of a file removed elsewhere stores nothing).
    expect((await fx.run(['ls', '/typed/x'])).json.entries).toEqual([]);
  });

  it('a file open through the mount that the CLI renamed, with a directory made at its old name: its descriptor keeps working and its writes land under the new name', async () => {
    await shOk(`mkdir ${fx.dir}/typed2 && printf 'content' > ${fx.dir}/typed2/a`);
    const script = stepScript(
      `
import stat
fd = os.open(sys.argv[1], os.O_RDWR)
step('open')
looked = stat.S_ISREG(os.stat(sys.argv[1]).st_mode)
os.pwrite(fd, b'C', 0)
os.fsync(fd)
print(json.dumps([looked, os.pread(fd, 100, 0).decode(), os.fstat(fd).st_size]), flush=True)
os.close(fd)
`,
      [join(fx.dir, 'typed2/a')],
    );
    expect(await script.next()).toBe('open');
    expect((await fx.run(['mv', '/typed2/a', '/typed2/b'])).json.ok).toBe(true);
    expect((await fx.run(['mkdir', '/typed2/a'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    expect(JSON.parse(await script.next())).toEqual([true, 'Content', 7]);
    await script.done();
    expect(await catVault('/typed2/b')).toBe('Content');
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await shOk(`stat -c %F ${fx.dir}/typed2/a`)).toBe('directory');
  });

  it('a file the CLI renamed while open through the mount, appended to through its old descriptor and by its new name: one file, every line kept', async () => {
    await shOk(`mkdir ${fx.dir}/two && printf 'old\\n' > ${fx.dir}/two/log`);
    const first = stepScript(
      `
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b'A1\\n')
step('written')
os.write(fd, b'A2\\n')
os.close(fd)
`,
      [join(fx.dir, 'two/log')],
    );
    expect(await first.next()).toBe('written');
    expect((await fx.run(['mv', '/two/log', '/two/renamed'])).json.ok).toBe(true);
    await sleep(PAST_ATTR_CACHE_MS);
    await shOk(`echo B >> ${fx.dir}/two/renamed`);
    first.go();
    await first.done();
    expect((await catVault('/two/renamed')).split('\n').sort()).toEqual(['A1', 'A2', 'B', 'old']);
    expect(await names('/two')).toEqual(['renamed']);
  });

  it('a writer appending line by line while the CLI renames the file again and again: every line lands exactly once, in the file its open found', async () => {
    const dir = join(fx.dir, 'renamed-often');
    await shOk(`mkdir ${dir}`);
    const stop = join(fx.scratch, 'stop-appending');
    // Like a log writer: each line opens the file by name (O_APPEND), writes and closes.
    const writer = execa('bash', ['-c', `i=0; while [ ! -e ${stop} ]; do i=$((i+1)); echo line$i >> ${dir}/log; sleep 0.01; done; echo $i`], { reject: false, timeout: 60_000 });
    let moved = 0;
    for (let k = 1; k <= 4; k++) {
      await sleep(300);
      if ((await fx.run(['mv', '/renamed-often/log', `/renamed-often/log.${k}`])).json.ok) moved++;
    }
    await shOk(`touch ${stop}`);
    const end = await writer;
    expect(end.exitCode, end.stderr).toBe(0);
    expect(end.stderr).toBe('');
    expect(moved).toBeGreaterThanOrEqual(2);
    const lines: string[] = [];
    for (const name of await names('/renamed-often')) lines.push(...(await catVault(`/renamed-often/${name}`)).split('\n'));
    const written = Number(end.stdout);
    expect(lines.sort()).toEqual(Array.from({ length: written }, (_, i) => `line${i + 1}`).sort());
  });

  it('a file the store made longer is read whole by the next open through the mount, right away (it read the old length of the new bytes until the change was noticed)', async () => {
    const store = openStore(fx.home);
    try {
      const writer = new VaultFs(store, 'default', { source: 'sdk' });
      const cut: string[] = [];
      for (let i = 0; i < 20; i++) {
        const path = `/grown${i % 3}.txt`;
        writer.writeFile(path, 'short');
        // The kernel caches the short file's attributes (its size) for the attribute timeout.
        expect(readFileSync(join(fx.dir, path), 'utf8')).toBe('short');
        statSync(join(fx.dir, path));
        const longer = `much longer content ${i}`;
        writer.writeFile(path, longer);
        const read = readFileSync(join(fx.dir, path), 'utf8');
        if (read !== longer) cut.push(read);
      }
      expect(cut).toEqual([]);
    } finally {
      store.release();
    }
  });

  it('a rewrite to shorter content: an open descriptor sees the new size, and nothing past it is invented', async () => {
    await shOk(`printf 'a much longer first version of the file\\n' > ${fx.dir}/shrink.txt`);
    const script = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDWR)
step('open')
size = os.fstat(fd).st_size
os.lseek(fd, 0, os.SEEK_END)
os.write(fd, b'+\\n')
os.close(fd)
print(json.dumps(size), flush=True)
`,
      [join(fx.dir, 'shrink.txt')],
    );
    expect(await script.next()).toBe('open');
    await cliWrite('/shrink.txt', 'short\n');
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    expect(JSON.parse(await script.next())).toBe(6);
    await script.done();
    expect(await catVault('/shrink.txt')).toBe(asCaptured('short\n+\n'));
  });

  it('a reader closing a file another process is still writing stores nothing: no version of the unfinished bytes, new file or rewrite', async () => {
    await cliWrite('/rewritten.txt', 'stored before\n');
    const script = stepScript(
      `
made = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
rewritten = os.open(sys.argv[2], os.O_WRONLY | os.O_TRUNC)
for fd in (made, rewritten):
    os.write(fd, b'first half\\n')
step('half')
for fd in (made, rewritten):
    os.write(fd, b'second half\\n')
    os.close(fd)
`,
      [join(fx.dir, 'made.txt'), join(fx.dir, 'rewritten.txt')],
    );
    expect(await script.next()).toBe('half');
    // Readers see the writer's bytes, as on a local disk, and their closes store nothing.
    for (const name of ['made.txt', 'rewritten.txt']) {
      expect(await shOk(`cat ${fx.dir}/${name}; head -c1 ${fx.dir}/${name} >/dev/null; tar cf /dev/null -C ${fx.dir} ${name}`)).toBe('first half');
    }
    expect((await fx.run(['cat', '/made.txt'])).json.error.code).toBe('NOT_FOUND');
    expect(await catVault('/rewritten.txt')).toBe('stored before');
    script.go();
    await script.done();
    expect(await catVault('/made.txt')).toBe('first half\nsecond half');
    expect((await versions('/made.txt')).length).toBe(1);
    expect(await catVault('/rewritten.txt')).toBe('first half\nsecond half');
    expect((await versions('/rewritten.txt')).length).toBe(2);
  });

  it('a cut or rewrite closed while another process holds the file open is stored at once; a descriptor that wrote nothing stores nothing (multi-descriptor round)', async () => {
    for (const [name, body] of [['cut.txt', 'cut me\n'], ['emptied.txt', 'empty me\n'], ['path-cut.txt', 'cut by path\n'], ['rewritten.txt', 'old\n'], ['half.txt', 'base\n']] as const) await cliWrite(`/${name}`, body);
    const count = async (path: string) => (await versions(path)).length;
    const before = Object.fromEntries(await Promise.all(['/cut.txt', '/emptied.txt', '/path-cut.txt', '/rewritten.txt', '/half.txt'].map(async (p) => [p, await count(p)])));
    // Another process holds every file open for reading (a `tail -f`), and a writer has unsaved bytes in half.txt.
    const holder = stepScript(
      `
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:]]
half = os.open(sys.argv[5], os.O_WRONLY | os.O_APPEND)
os.write(half, b'HALF-')
step('holding')
for fd in fds + [half]:
    os.close(fd)
`,
      ['cut.txt', 'emptied.txt', 'path-cut.txt', 'rewritten.txt', 'half.txt'].map((n) => join(fx.dir, n)),
    );
    expect(await holder.next()).toBe('holding');
    await shOk(`truncate -s 0 ${fx.dir}/cut.txt && : > ${fx.dir}/emptied.txt && python3 -c 'import os,sys; os.truncate(sys.argv[1], 3)' ${fx.dir}/path-cut.txt && echo new > ${fx.dir}/rewritten.txt`);
    // A descriptor opened for writing that wrote nothing, and readers, close: the writer's half stays unsaved.
    await shOk(`exec 3<>${fx.dir}/half.txt; exec 3>&-; cat ${fx.dir}/half.txt > /dev/null`);
    expect([await catVault('/cut.txt'), await catVault('/emptied.txt'), await catVault('/path-cut.txt'), await catVault('/rewritten.txt'), await catVault('/half.txt')]).toEqual(['', '', 'cut', 'new', 'base']);
    // One version each (an open with O_TRUNC and a write is one change, as `echo new >` is anywhere).
    for (const path of ['/cut.txt', '/emptied.txt', '/path-cut.txt', '/rewritten.txt']) expect([path, await count(path)]).toEqual([path, before[path] + 1]);
    expect(await count('/half.txt')).toBe(before['/half.txt']);
    // Later work by someone else stands when the holder finally closes (it changed nothing there).
    await cliWrite('/cut.txt', 'written later\n');
    holder.go();
    await holder.done();
    expect(await catVault('/cut.txt')).toBe('written later');
    expect(await catVault('/half.txt')).toBe('base\nHALF-');
  });

  it('a cut by path through another name of a file held open is stored at once; creat(2) over a file is one version (second multi-descriptor round)', async () => {
    await shOk(`cd ${fx.dir} && echo hello > k1 && ln k1 k2 && echo abc > c1`);
    const count = async (path: string) => (await versions(path)).length;
    const [k2Before, c1Before] = [await count('/k2'), await count('/c1')];
    const holder = stepScript(
      `
fd = os.open(sys.argv[1], os.O_RDONLY)
step('holding')
os.close(fd)
`,
      [join(fx.dir, 'k1')],
    );
    expect(await holder.next()).toBe('holding');
    // truncate(2) through the other name: no handle owns the cut.
    await shOk(`python3 -c 'import os,sys; os.truncate(sys.argv[1], 0)' ${fx.dir}/k2`);
    expect(await catVault('/k2')).toBe('');
    expect(await count('/k2')).toBe(k2Before + 1);
    // An open with O_TRUNC through it, then a write: one version (the cut is the open's).
    await shOk(`echo again > ${fx.dir}/k2`);
    expect([await catVault('/k1'), await count('/k2')]).toEqual(['again', k2Before + 2]);
    // creat(2) truncates as it opens: one version too.
    await shOk(`python3 -c 'import ctypes,os,sys; fd = ctypes.CDLL(None).creat(sys.argv[1].encode(), 0o644); os.write(fd, b"new\\n"); os.close(fd)' ${fx.dir}/c1`);
    expect([await catVault('/c1'), await count('/c1')]).toEqual(['new', c1Before + 1]);
    holder.go();
    await holder.done();
  });
});
