import { beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { avfs, BIN, expectError, expectOk, useTempHome } from '../helpers.js';

const h = useTempHome('each');
const run = h.run;

/** A host path whose last name is raw bytes (not necessarily UTF-8). */
const rawPath = (dir: string, name: number[]) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);
const bytes = (s: string) => [...Buffer.from(s, 'latin1')];
const vaultNames = async (path = '/') => (expectOk(await run(['ls', path])).entries as { name: string }[]).map((e) => e.name);

/** A host directory holding the given symlinks (name → target), to bring symlinks into a vault with import. */
function hostTree(links: Record<string, string>): string {
  const dir = join(h.dir, `links-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(dir, name));
  return dir;
}

describe('command-line arguments that are not UTF-8', () => {
  it('are refused (INVALID_ARGUMENT, named as \\x escapes) instead of becoming U+FFFD: two such names were one file; a real U+FFFD is fine', async () => {
    // Raw bytes reach argv only through a shell: Node encodes the strings it spawns with as UTF-8.
    const cli = (args: string) => spawnSync('sh', ['-c', `node ${BIN} --json ${args}`], { encoding: 'utf8', env: { ...process.env, AVFS_HOME: h.home, AVFS_VAULT: '' } });
    const first = cli(`write "$(printf '/bad\\377')" x`);
    expect(first.status).toBe(2);
    expect(JSON.parse(first.stdout).error).toMatchObject({ code: 'INVALID_ARGUMENT', arguments: ['/bad\\xff'] });
    const content = cli(`write /c.txt "$(printf 'caf\\351')"`);
    expect(JSON.parse(content.stdout).error.code).toBe('INVALID_ARGUMENT');
    expect(await vaultNames()).toEqual([]);
    expect(cli(`write "$(printf '/real\\357\\277\\275')" x`).status).toBe(0);
    expect(await vaultNames()).toEqual(['real\uFFFD']);
  });

  it('nor is an AVFS_HOME that is not UTF-8: home\\xff and home\\xfe were one directory, named with U+FFFD', () => {
    const cli = (home: string, args: string) => spawnSync('sh', ['-c', `AVFS_HOME="$(printf '${home}')" exec node ${BIN} --json ${args}`], { encoding: 'utf8', env: { ...process.env, AVFS_VAULT: '' } });
    for (const home of [`${h.dir}/home\\377`, `${h.dir}/home\\376`]) {
      const r = cli(home, 'write /x.txt x');
      expect(r.status).toBe(2);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'INVALID_ARGUMENT', variable: 'AVFS_HOME', value: `${h.dir}/home\\x${home.endsWith('377') ? 'ff' : 'fe'}` });
    }
    expect(readdirSync(h.dir).filter((n) => n.startsWith('home'))).toEqual([]);
    // A real U+FFFD in the name is UTF-8, and fine.
    expect(cli(`${h.dir}/home\\357\\277\\275`, 'write /x.txt x').status).toBe(0);
  });
});

describe('import of host names that are not UTF-8', () => {
  it('refuses the whole import with INVALID_PATH listing the names as \\x escapes; a real U+FFFD name is never merged with them', async () => {
    const src = join(h.dir, 'src');
    mkdirSync(src);
    writeFileSync(rawPath(src, [...bytes('a'), 0xff]), 'latin-1 bytes');
    writeFileSync(join(src, 'a\uFFFD'), 'a real replacement character');
    writeFileSync(join(src, 'ok.txt'), 'fine');
    mkdirSync(rawPath(src, bytes('d\xe9j\xe0')));
    writeFileSync(Buffer.concat([rawPath(src, bytes('d\xe9j\xe0')), Buffer.from('/inner.txt')]), 'inside');

    const err = expectError(await run(['import', src, '/proj']), 'INVALID_PATH', 2);
    expect(err.names).toEqual([`${src}/a\\xff`, `${src}/d\\xe9j\\xe0`]);
    expect(err.count).toBe(2);
    expect(await vaultNames()).toEqual([]); // all or nothing: not even ok.txt

    // The real U+FFFD name alone imports under its exact name and content.
    const alone = join(h.dir, 'alone');
    mkdirSync(alone);
    writeFileSync(join(alone, 'a\uFFFD'), 'a real replacement character');
    expectOk(await run(['import', alone, '/proj']));
    expect(expectOk(await run(['cat', '/proj/a\uFFFD'])).content).toBe('a real replacement character');
    expect(await vaultNames('/proj')).toEqual(['a\uFFFD']);
  });

  it('a lone caf\\xe9.txt (in a directory, or named directly) is INVALID_PATH, not NOT_FOUND', async () => {
    const src = join(h.dir, 'src');
    mkdirSync(src);
    writeFileSync(rawPath(src, bytes('caf\xe9.txt')), 'menu');
    const err = expectError(await run(['import', src, '/']), 'INVALID_PATH', 2);
    expect(err.names).toEqual([`${src}/caf\\xe9.txt`]);

    // Named on the command line, the bytes reach avfs only through the shell (argv is not UTF-8).
    const direct = await execa('bash', ['-c', `exec node "$0" --json import "$1"$'/caf\\xe9.txt' /`, BIN, src], {
      env: { AVFS_HOME: h.home, AVFS_VAULT: '' },
      reject: false,
    });
    const doc = JSON.parse(direct.stdout);
    expect(doc.error.code).toBe('INVALID_PATH');
    expect(doc.error.names).toEqual([`${src}/caf\\xe9.txt`]);
    expect(direct.exitCode).toBe(2);
    expect(await vaultNames()).toEqual([]);
  });

  it('a symlink whose target is not UTF-8 is refused the same way', async () => {
    const src = join(h.dir, 'src');
    mkdirSync(src);
    symlinkSync(Buffer.from([...bytes('t'), 0xe9]), join(src, 'link'));
    const err = expectError(await run(['import', src, '/']), 'INVALID_PATH', 2);
    expect(err.names).toEqual([`${src}/link`]);
  });
});

describe('export never writes outside its target', () => {
  let outside: string;
  let target: string;
  beforeEach(() => {
    outside = join(h.dir, 'outside');
    target = join(h.dir, 'target');
    mkdirSync(outside);
    chmodSync(outside, 0o755);
    writeFileSync(join(outside, 'keep.txt'), 'keep');
  });
  const outsideState = () => ({ names: readdirSync(outside).sort(), mode: statSync(outside).mode & 0o7777, keep: readFileSync(join(outside, 'keep.txt'), 'utf8') });

  it('a symlink left by an earlier export is not followed: refused without --overwrite, replaced (not followed) with it', async () => {
    const before = outsideState();
    expectOk(await run(['import', hostTree({ sub: outside }), '/'])); // the vault's /sub -> outside
    expectOk(await run(['export', '/', target]));
    expect(readlinkSync(join(target, 'sub'))).toBe(outside);

    expectOk(await run(['rm', '/sub']));
    expectOk(await run(['mkdir', '/sub', '--mode', '777']));
    expectOk(await run(['write', '/sub/evil.sh', '#!/bin/sh\necho pwned\n', '--mode', '777']));

    const refused = expectError(await run(['export', '/', target]), 'ALREADY_EXISTS', 4);
    expect(refused.host).toBe(join(target, 'sub'));
    expect(outsideState()).toEqual(before);
    expect(lstatSync(join(target, 'sub')).isSymbolicLink()).toBe(true); // nothing replaced

    expectOk(await run(['export', '/', target, '--overwrite']));
    expect(outsideState()).toEqual(before);
    expect(lstatSync(join(target, 'sub')).isDirectory()).toBe(true);
    expect(readFileSync(join(target, 'sub', 'evil.sh'), 'utf8')).toContain('pwned');
  });

  it('--overwrite replaces a host symlink or a hard-linked file by name, leaving what they point to untouched', async () => {
    mkdirSync(target);
    symlinkSync(join(outside, 'keep.txt'), join(target, 'via-symlink.txt'));
    linkSync(join(outside, 'keep.txt'), join(target, 'via-hardlink.txt'));
    const before = outsideState();
    expectOk(await run(['write', '/via-symlink.txt', 'new 1']));
    expectOk(await run(['write', '/via-hardlink.txt', 'new 2', '--mode', '600']));

    expectError(await run(['export', '/', target]), 'ALREADY_EXISTS', 4);
    expectOk(await run(['export', '/', target, '--overwrite']));
    expect(outsideState()).toEqual(before);
    expect(lstatSync(join(target, 'via-symlink.txt')).isFile()).toBe(true);
    expect(readFileSync(join(target, 'via-symlink.txt'), 'utf8')).toBe('new 1');
    expect(readFileSync(join(target, 'via-hardlink.txt'), 'utf8')).toBe('new 2');
    expect(statSync(join(outside, 'keep.txt')).mode & 0o777).not.toBe(0o600);
  });

  it('a host directory where the vault has a file is refused, even with --overwrite, and nothing is written', async () => {
    mkdirSync(join(target, 'clash'), { recursive: true });
    expectOk(await run(['write', '/a.txt', 'a']));
    expectOk(await run(['write', '/clash', 'file in the vault']));
    expectError(await run(['export', '/', target]), 'ALREADY_EXISTS', 4);
    expectError(await run(['export', '/', target, '--overwrite']), 'IS_A_DIRECTORY', 2);
    expect(readdirSync(target)).toEqual(['clash']);
  });

  it("import of a host file named with a trailing '/' is NOT_A_DIRECTORY (as the host refuses file/), and imports nothing; a directory's '/' is fine", async () => {
    const file = join(h.dir, 'host-data.txt');
    writeFileSync(file, 'data');
    // Also with a step after it that resolving the path would drop: file/.. was its whole directory.
    for (const through of [`${file}/`, `${file}/.`, `${file}/..`, `${file}/x/..`]) expectError(await run(['import', through, '/imp']), 'NOT_A_DIRECTORY', 2);
    expect(await vaultNames('/')).toEqual([]);
    const dir = join(h.dir, 'host-dir');
    mkdirSync(dir);
    writeFileSync(join(dir, 'in.txt'), 'in');
    expect(expectOk(await run(['import', `${dir}/`, '/hd'])).files).toBe(1);
  });

  it('a destination through a host file (file/sub, file/a/b) is NOT_A_DIRECTORY, as the file itself is, not INTERNAL', async () => {
    expectOk(await run(['write', '-p', '/d/f.txt', 'hi']));
    const file = join(h.dir, 'host-file');
    writeFileSync(file, 'x');
    for (const dest of [file, join(file, 'sub'), join(file, 'a', 'b')]) expectError(await run(['export', '/d', dest]), 'NOT_A_DIRECTORY', 2);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('exports a tree with modes, times and symlinks created in this run', async () => {
    expectOk(await run(['write', '-p', '/d/x.sh', 'x', '--mode', '755']));
    expectOk(await run(['write', '/d/y.txt', 'y', '--mode', '600']));
    expectOk(await run(['import', hostTree({ link: 'x.sh' }), '/d']));
    const r = expectOk(await run(['export', '/', target]));
    expect(r).toMatchObject({ files: 2, directories: 1, symlinks: 1 });
    expect(statSync(join(target, 'd', 'x.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(target, 'd', 'y.txt')).mode & 0o777).toBe(0o600);
    expect(readlinkSync(join(target, 'd', 'link'))).toBe('x.sh');
    expect(existsSync(join(target, 'd', 'link'))).toBe(true);
  });
});

describe('times through export and import', () => {
  it('land on the stored millisecond: an export is not a microsecond early, and its re-import keeps the time', async () => {
    const src = join(h.dir, 'times');
    mkdirSync(join(src, 'd'), { recursive: true });
    // Milliseconds whose seconds are not exact doubles: ms / 1000 truncated by libuv fell 1 µs short.
    const times = [1796201143942, 1700000000001, 1800000000999, 1234567890123];
    times.forEach((ms, i) => {
      writeFileSync(join(src, 'd', `f${i}`), `${i}`);
      // touch sets the exact nanoseconds (Node's utimes goes through the same double as export).
      execaSync('touch', ['-d', `@${(ms / 1000).toFixed(3)}`, join(src, 'd', `f${i}`)]);
    });
    expectOk(await run(['import', src, '/t']));
    const target = join(h.dir, 'times-out');
    expectOk(await run(['export', '/t', target]));
    times.forEach((ms, i) => expect(statSync(join(target, 'd', `f${i}`), { bigint: true }).mtimeNs, `f${i}`).toBe(BigInt(ms) * 1_000_000n));
    expectOk(await run(['import', target, '/again']));
    const listed = expectOk(await run(['ls', '-l', '/again/d'])).entries as { name: string; mtime: string }[];
    expect(listed.map((e) => Date.parse(e.mtime))).toEqual(times);
  });
});

describe('an export stopped part way (kill -9)', () => {
  it('leaves no truncated file under its real name: a file appears there only once complete', async () => {
    const src = join(h.dir, 'big.bin');
    execaSync('sh', ['-c', `head -c ${128 * 1024 * 1024} /dev/urandom > "$0"`, src]);
    expectOk(await run(['write', '/big.bin', '--from', src]));
    const out = join(h.dir, 'big-out');
    mkdirSync(out);
    const child = execa(process.execPath, [BIN, '--json', 'export', '/', out], { env: { AVFS_HOME: h.home }, reject: false });
    // Kill it as soon as bytes are on the host, whatever their name.
    const written = () => readdirSync(out).some((name) => lstatSync(join(out, name)).size > 0);
    while (!written() && child.exitCode === null) await new Promise((r) => setTimeout(r, 2));
    child.kill('SIGKILL');
    await child;
    const names = readdirSync(out);
    if (names.includes('big.bin')) expect(statSync(join(out, 'big.bin')).size).toBe(128 * 1024 * 1024); // it finished first
    else expect(names).toEqual([expect.stringMatching(new RegExp(`^\\.avfs-export-${child.pid}\\.\\d+-[0-9a-f]{12}-[0-9a-z]+$`))]);
    // Running it again completes it, and clears the temporary file the killed one left.
    expectOk(await run(['export', '/big.bin', out]));
    expect(statSync(join(out, 'big.bin')).size).toBe(128 * 1024 * 1024);
    expect(readdirSync(out)).toEqual(['big.bin']);
  }, 60_000);
});

describe('an export that runs out of room on the host', () => {
  it('fails with NO_SPACE (exit 6) and leaves no truncated file under a real name: a short write is not taken for the whole', async () => {
    // A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the kernel write part of a request,
    // then refuse the rest with EFBIG, as a disk that fills up part way does with ENOSPC.
    // One write request for the whole file (it is stored as one piece), so only its count shows the shortfall.
    const src = join(h.dir, 'half-mib.bin');
    execaSync('sh', ['-c', `head -c ${512 * 1024} /dev/urandom > "$0"`, src]);
    expectOk(await run(['write', '/a/big.bin', '--from', src, '-p']));
    const out = join(h.dir, 'limited-out');
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 256; exec node "$0" --json export /a "$1"`, BIN, out], {
      encoding: 'utf8',
      env: { ...process.env, AVFS_HOME: h.home, AVFS_VAULT: '' },
    });
    expect(r.status).toBe(6);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'NO_SPACE', cause: 'EFBIG' });
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('names as long as the host allows', () => {
  it('export and --overwrite write a file with a 255-byte name (the temporary name is short, not the name plus a suffix)', async () => {
    const name = 'z'.repeat(255);
    expectOk(await run(['write', '-p', `/n/${name}`, 'data']));
    const out = join(h.dir, 'long-names');
    expectOk(await run(['export', '/n', out]));
    expectOk(await run(['write', `/n/${name}`, 'again']));
    expectOk(await run(['export', '/n', out, '--overwrite']));
    expect(readFileSync(join(out, name), 'utf8')).toBe('again');
    expect(readdirSync(out)).toEqual([name]);
  });
});

describe('a path longer than the host allows', () => {
  it('export: INVALID_PATH (cause ENAMETOOLONG), not INTERNAL', async () => {
    expectOk(await run(['write', '-p', `/${'abcdefgh/'.repeat(500)}f`, 'x']));
    const err = expectError(await run(['export', '/', join(h.dir, 'long-out')]), 'INVALID_PATH', 2);
    expect(err.cause).toBe('ENAMETOOLONG');
  });

  it('import of a host tree deeper than PATH_MAX: INVALID_PATH (cause ENAMETOOLONG), not "no such file"; nothing imported', async () => {
    const src = join(h.dir, 'deep-host');
    mkdirSync(src);
    // Made one level at a time (relative names), as only a tree below a working directory can be.
    const name = 'd'.repeat(250);
    try {
      await execa('bash', ['-c', `for i in $(seq 20); do mkdir ${name} && cd ${name}; done && echo deep > leaf`], { cwd: src });
      const before = expectOk(await run(['ls', '/'])).entries;
      const err = expectError(await run(['import', src, '/deep']), 'INVALID_PATH', 2);
      expect(err.cause).toBe('ENAMETOOLONG');
      expect(expectOk(await run(['ls', '/'])).entries).toEqual(before);
    } finally {
      await execa('rm', ['-rf', src]); // GNU rm descends a tree too deep for one path
    }
  });
});

describe('set-id bits through export', () => {
  it('export clears set-user-ID and set-group-ID on files (listed in set_id_cleared, kept in the vault) and keeps a directory\'s set-group-ID', async () => {
    const src = join(h.dir, 'setid');
    mkdirSync(join(src, 'shared'), { recursive: true });
    writeFileSync(join(src, 'tool'), '#!/bin/sh\nid\n');
    writeFileSync(join(src, 'grouptool'), '#!/bin/sh\nid\n');
    linkSync(join(src, 'tool'), join(src, 'tool-link'));
    chmodSync(join(src, 'tool'), 0o4755);
    chmodSync(join(src, 'grouptool'), 0o2711);
    chmodSync(join(src, 'shared'), 0o2775);
    expectOk(await run(['import', src, '/setid']));
    const out = join(h.dir, 'setid-out');
    const r = expectOk(await run(['export', '/setid', out]));
    // Every name is listed, the hard link's too.
    expect(r.set_id_cleared.sort()).toEqual(['/setid/grouptool', '/setid/tool', '/setid/tool-link']);
    expect(statSync(join(out, 'tool')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(out, 'tool-link')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(out, 'grouptool')).mode & 0o7777).toBe(0o711);
    expect(statSync(join(out, 'shared')).mode & 0o7777).toBe(0o2775);
    // The vault keeps what it was given.
    const modes = Object.fromEntries((expectOk(await run(['ls', '-l', '/setid'])).entries as { name: string; mode: string }[]).map((e) => [e.name, e.mode]));
    expect(modes).toMatchObject({ tool: '04755', grouptool: '02711', shared: '02775' });
  });
});

describe('owners through import and export', () => {
  const asRoot = process.getuid?.() === 0;
  it.runIf(asRoot)('as root, import keeps each host entry owner (files, directories, symlinks, FIFOs, hard links) and export gives them back', async () => {
    const src = join(h.dir, 'owned');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'a.txt'), 'a');
    linkSync(join(src, 'sub', 'a.txt'), join(src, 'b.txt'));
    symlinkSync('sub/a.txt', join(src, 'link'));
    await execa('mkfifo', [join(src, 'pipe')]);
    writeFileSync(join(src, 'mine.txt'), 'root-owned');
    lchownSync(join(src, 'sub'), 1201, 1202);
    lchownSync(join(src, 'sub', 'a.txt'), 1203, 1204);
    lchownSync(join(src, 'link'), 1205, 1206);
    lchownSync(join(src, 'pipe'), 1207, 1208);
    expectOk(await run(['import', src, '/owned']));
    const owner = async (path: string) => {
      const parent = path.slice(0, path.lastIndexOf('/')) || '/';
      const e = (expectOk(await run(['ls', parent])).entries as { path: string; uid?: number; gid?: number }[]).find((x) => x.path === path)!;
      return [e.uid, e.gid];
    };
    expect(await owner('/owned/sub')).toEqual([1201, 1202]);
    expect(await owner('/owned/sub/a.txt')).toEqual([1203, 1204]);
    expect(await owner('/owned/b.txt')).toEqual([1203, 1204]);
    expect(await owner('/owned/link')).toEqual([1205, 1206]);
    expect(await owner('/owned/pipe')).toEqual([1207, 1208]);
    expect(await owner('/owned/mine.txt')).toEqual([0, 0]);
    const out = join(h.dir, 'out');
    expectOk(await run(['export', '/owned', out]));
    for (const [name, uid, gid] of [['sub', 1201, 1202], ['sub/a.txt', 1203, 1204], ['b.txt', 1203, 1204], ['link', 1205, 1206], ['pipe', 1207, 1208], ['mine.txt', 0, 0]] as const) {
      const st = lstatSync(join(out, name));
      expect([name, st.uid, st.gid]).toEqual([name, uid, gid]);
    }
  });
});

/**
 * The CLI on a fresh home `name`, run as nobody (65534) when the tests run as root: root reads
 * and writes everywhere, so only another user meets the host's permission bits.
 */
function cliWithoutRootPowers(name: string): (args: string[]) => { code: number; json: any } {
  const root = process.getuid?.() === 0;
  chmodSync(h.dir, 0o755);
  const home = join(h.dir, name);
  mkdirSync(home, { mode: 0o700 });
  if (root) chownSync(home, 65534, 65534);
  return (args) => {
    const r = spawnSync('node', [BIN, '--json', ...args], {
      encoding: 'utf8',
      env: { ...process.env, AVFS_HOME: home, AVFS_VAULT: '' },
      ...(root ? { uid: 65534, gid: 65534 } : {}),
    });
    return { code: r.status ?? -1, json: JSON.parse(r.stdout) };
  };
}

describe('import of a host path it may not read', () => {
  it('is INVALID_ARGUMENT naming the path (a directory, then a file), not INTERNAL, and imports nothing', () => {
    const run = cliWithoutRootPowers('home-reader');
    const src = join(h.dir, 'src');
    mkdirSync(join(src, 'closed'), { recursive: true });
    writeFileSync(join(src, 'ok.txt'), 'ok');
    writeFileSync(join(src, 'closed', 'in.txt'), 'in');
    try {
      chmodSync(join(src, 'closed'), 0);
      const dir = run(['import', src, '/src']);
      expect(dir.code, JSON.stringify(dir.json)).toBe(2);
      expect(dir.json.error).toMatchObject({ code: 'INVALID_ARGUMENT', host: join(src, 'closed'), cause: 'EACCES' });
      chmodSync(join(src, 'closed'), 0o755);
      chmodSync(join(src, 'ok.txt'), 0);
      const file = run(['import', src, '/src']);
      expect(file.code, JSON.stringify(file.json)).toBe(2);
      expect(file.json.error).toMatchObject({ code: 'INVALID_ARGUMENT', host: join(src, 'ok.txt'), cause: 'EACCES' });
      expect(run(['ls', '/']).json.entries).toEqual([]);
    } finally {
      chmodSync(join(src, 'closed'), 0o755);
      chmodSync(join(src, 'ok.txt'), 0o644);
    }
  });
});

describe('export to a host place it may not write', () => {
  it('is INVALID_ARGUMENT naming the path and its cause, not INTERNAL', () => {
    const run = cliWithoutRootPowers('home-writer');
    const closed = join(h.dir, 'closed');
    mkdirSync(closed, { mode: 0o555 });
    expect(run(['write', '--parents', '/d/a.txt', 'a']).code).toBe(0);
    for (const [what, dest] of [['a file', closed], ['a tree', join(closed, 'sub')]] as const) {
      const r = run(['export', what === 'a file' ? '/d/a.txt' : '/d', dest]);
      expect(r.code, JSON.stringify(r.json)).toBe(2);
      // A destination it cannot create is INVALID_PATH; a file it cannot write there, INVALID_ARGUMENT.
      const expected = what === 'a file' ? { code: 'INVALID_ARGUMENT', host: join(closed, 'a.txt'), cause: 'EACCES', exported: 0 } : { code: 'INVALID_PATH', host: join(closed, 'sub') };
      expect(r.json.error, what).toMatchObject(expected);
    }
    expect(readdirSync(closed)).toEqual([]);
  });
});

describe('an avfs home inside the host tree import, export and sync work on', () => {
  /** A project directory holding its own home (AVFS_HOME=./.avfs), a file beside it, and a vault with work in it. */
  async function projectWithHome() {
    const project = join(h.dir, 'project');
    const home = join(project, '.avfs');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'main.py'), 'v1\n');
    const cli = (args: string[]) => avfs(home, args);
    expectOk(await cli(['vault', 'create', 'keep']));
    expectOk(await cli(['--vault', 'keep', 'write', '/precious.txt', 'vault work']));
    const homeState = () => ({ names: readdirSync(home).sort(), vaults: readFileSync(join(home, 'avfs.db')).length > 0 });
    return { project, home, cli, homeState };
  }

  it('import (and --track) passes over the home, saying so, and refuses the home itself or a file in it', async () => {
    const { project, home, cli } = await projectWithHome();
    const imported = expectOk(await cli(['import', '--track', project, '/p']));
    expect(imported.skipped).toEqual([{ path: '/p/.avfs', type: 'directory', reason: expect.stringContaining('avfs home') }]);
    expect((expectOk(await cli(['ls', '/p'])).entries as { name: string }[]).map((e) => e.name)).toEqual(['src']);
    const text = await avfs(home, ['import', project, '/q'], { raw: true });
    expect(text.stderr).toContain('left out /q/.avfs');
    for (const inside of [home, join(home, 'avfs.db'), join(home, 'mounts'), join(home, 'kept', '..', 'avfs.db')]) {
      expect(expectError(await cli(['import', inside, '/x']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
    }
    expectError(await cli(['ls', '/x']), 'NOT_FOUND', 3);
    // A refused copy-mode run's work, kept in the home's kept/ (on a tmpfs copy it is moved there),
    // is the user's to import: recovering it was refused as "inside the home".
    const kept = join(home, 'kept', 'avfs-proxy-x', 'vault');
    mkdirSync(kept, { recursive: true });
    writeFileSync(join(kept, 'work.txt'), 'recovered\n');
    expectOk(await cli(['import', kept, '/recovered']));
    expect(expectOk(await cli(['cat', '/recovered/work.txt'])).content).toBe('recovered\n');
    // Not to track it: sync writes nothing in the home, so it could never sync.
    expect(expectError(await cli(['import', '--track', kept, '/tracked']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
  });

  it('sync refuses to write in the home or remove a directory holding it, even with --strategy theirs, and writes nothing', async () => {
    const { project, home, cli, homeState } = await projectWithHome();
    expectOk(await cli(['import', '--track', project, '/p']));
    const before = homeState();
    // The vault's own path there (as an import before this check copied the home in), then an edit beside it.
    expectOk(await cli(['write', '-p', '/p/.avfs/avfs.db', 'not a database']));
    expectOk(await cli(['write', '/p/src/main.py', 'v2\n']));
    for (const args of [['sync', '/p', '--strategy', 'theirs'], ['sync', '/p', '--dry-run']]) {
      expect(expectError(await cli(args), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home', host: join(project, '.avfs') });
    }
    expect(readFileSync(join(project, 'src', 'main.py'), 'utf8')).toBe('v1\n');
    expect(homeState()).toEqual(before);
    // Without a path there, the home is no host change to the vault: the edit syncs, the home stays.
    expectOk(await cli(['rm', '-r', '/p/.avfs']));
    expectOk(await cli(['sync', '/p', '--strategy', 'theirs']));
    expect(readFileSync(join(project, 'src', 'main.py'), 'utf8')).toBe('v2\n');
    expect(expectOk(await cli(['--vault', 'keep', 'cat', '/precious.txt'])).content).toBe('vault work');
  });

  it('sync refuses to remove a directory that holds the home', async () => {
    const project = join(h.dir, 'project2');
    const home = join(project, 'sub', '.avfs');
    mkdirSync(join(project, 'sub'), { recursive: true });
    writeFileSync(join(project, 'sub', 'a.txt'), 'a');
    writeFileSync(join(project, 'b.txt'), 'b');
    const cli = (args: string[]) => avfs(home, args);
    expectOk(await cli(['import', '--track', project, '/p']));
    expectOk(await cli(['rm', '-r', '/p/sub']));
    expect(expectError(await cli(['sync', '/p', '--strategy', 'theirs']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home', host: join(project, 'sub') });
    expect(readdirSync(join(project, 'sub')).sort()).toEqual(['.avfs', 'a.txt']);
  });

  it('export refuses a vault path that lands in the home, or a destination inside it, before writing anything', async () => {
    const { project, home, cli, homeState } = await projectWithHome();
    const before = homeState();
    expectOk(await cli(['write', '-p', '/e/.avfs/avfs.db', 'not a database']));
    expectOk(await cli(['write', '/e/readme.md', 'hi']));
    expect(expectError(await cli(['export', '/e', project, '--overwrite']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home', host: home });
    expect(existsSync(join(project, 'readme.md'))).toBe(false);
    expect(expectError(await cli(['export', '/e', join(home, 'inner')]), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
    expect(homeState()).toEqual(before);
    expect(expectOk(await cli(['--vault', 'keep', 'cat', '/precious.txt'])).content).toBe('vault work');
    // Beside the home, export works as ever.
    expectOk(await cli(['rm', '-r', '/e/.avfs']));
    expectOk(await cli(['export', '/e', project]));
    expect(readFileSync(join(project, 'readme.md'), 'utf8')).toBe('hi');
  });
});

describe("a vault path ending with '/' names a directory", () => {
  it('import of a file there, and prune there, are NOT_A_DIRECTORY unless it is one (they made a file /newdir, replaced /f.txt, pruned its history)', async () => {
    const file = join(h.dir, 'hi.txt');
    writeFileSync(file, 'hi');
    expectOk(await run(['write', '/f.txt', 'orig']));
    expectOk(await run(['write', '/f.txt', 'edit']));
    expectError(await run(['import', file, '/newdir/']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['import', file, '/f.txt/']), 'NOT_A_DIRECTORY', 2);
    expectError(await run(['prune', '/f.txt/', '--keep', '1']), 'NOT_A_DIRECTORY', 2);
    expect(await vaultNames()).toEqual(['f.txt']);
    expect(expectOk(await run(['cat', '/f.txt'])).content).toBe('edit');
    expect(expectOk(await run(['log', '/f.txt'])).versions).toHaveLength(2);
    // A directory there takes the file, and its history is pruned.
    expectOk(await run(['mkdir', '/d']));
    expect(expectOk(await run(['import', file, '/d/'])).path).toBe('/d/hi.txt');
    expectOk(await run(['prune', '/d/', '--keep', '1']));
  });

  it('prune of a deleted file named with a trailing slash is NOT_A_DIRECTORY too; of a deleted directory it prunes', async () => {
    expectOk(await run(['write', '/gone.txt', 'one']));
    expectOk(await run(['write', '/gone.txt', 'two']));
    expectOk(await run(['rm', '/gone.txt']));
    expectError(await run(['prune', '/gone.txt/', '--keep', '1']), 'NOT_A_DIRECTORY', 2);
    expect(expectOk(await run(['log', '/gone.txt'])).versions).toHaveLength(3);
    expectOk(await run(['mkdir', '/was-dir']));
    expectOk(await run(['rm', '-r', '/was-dir']));
    expectOk(await run(['prune', '/was-dir/', '--keep', '1']));
    expectOk(await run(['write', '/tree/a.txt', 'a', '--parents']));
    expectOk(await run(['rm', '-r', '/tree']));
    expectOk(await run(['prune', '/tree/', '--keep', '1']));
  });
});

describe('the directory an export makes', () => {
  it('takes the vault directory\'s mode and times, as cp -a makes it; a destination that was there keeps its own', async () => {
    expectOk(await run(['mkdir', '--mode', '750', '/t']));
    expectOk(await run(['write', '/t/a', 'x']));
    await new Promise((r) => setTimeout(r, 20)); // the export's own time differs from the directory's
    const vaultDir = (expectOk(await run(['ls', '/'])).entries as { name: string; mtime: string }[]).find((e) => e.name === 't')!;
    const made = join(h.dir, 'made');
    expectOk(await run(['export', '/t', made]));
    expect(statSync(made).mode & 0o777).toBe(0o750);
    expect(statSync(made).mtimeMs).toBe(Date.parse(vaultDir.mtime));
    const there = join(h.dir, 'there');
    mkdirSync(there, 0o711);
    const before = statSync(there);
    expectOk(await run(['export', '/t', there]));
    expect(statSync(there).mode & 0o777).toBe(before.mode & 0o777);
  });
});

describe('the avfs home reached another way than its path', () => {
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) console.log('skipping the bind-mount case: mount --bind needs root (CI runs as root)');

  it.runIf(asRoot)('through a bind mount (found by device and inode): export and sync refuse to write it; import passes over it', async () => {
    const proj = join(h.dir, 'proj');
    const view = join(h.dir, 'view');
    mkdirSync(proj);
    mkdirSync(view);
    writeFileSync(join(proj, 'a.txt'), 'hi');
    await execa('mount', ['--bind', proj, view]);
    try {
      const home = join(view, '.avfs');
      const cli = (args: string[]) => avfs(home, args);
      expectOk(await cli(['vault', 'create', 'v', '--use']));
      expectOk(await cli(['write', '-p', '/.avfs/avfs.db', 'not a database']));
      expect(expectError(await cli(['export', '/', proj, '--overwrite']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home', host: join(proj, '.avfs') });
      expect(expectOk(await cli(['import', '--track', proj, '/p'])).skipped).toEqual([expect.objectContaining({ path: '/p/.avfs', type: 'directory' })]);
      expectOk(await cli(['write', '-p', '/p/.avfs/avfs.db', 'junk']));
      expect(expectError(await cli(['sync', '/p', '--strategy', 'theirs']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
      expect(expectOk(await cli(['vault', 'list'])).vaults.map((v: { name: string }) => v.name)).toContain('v');
    } finally {
      await execa('umount', [view]);
    }
  });

  it('through a symlink in the project that AVFS_HOME names: import passes over it, sync and export refuse to remove or replace it', async () => {
    const proj = join(h.dir, 'proj');
    mkdirSync(proj);
    mkdirSync(join(h.dir, 'store'));
    writeFileSync(join(proj, 'a.txt'), 'hi');
    symlinkSync('../store', join(proj, '.avfs'));
    const cli = (args: string[]) => avfs(join(proj, '.avfs'), args);
    expectOk(await cli(['vault', 'create', 'v', '--use']));
    expect(expectOk(await cli(['import', '--track', proj, '/p'])).skipped).toEqual([expect.objectContaining({ path: '/p/.avfs', type: 'symlink' })]);
    expectOk(await cli(['write', '/p/.avfs', 'a file where the link is']));
    expect(expectError(await cli(['sync', '/p', '--strategy', 'theirs']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
    expectOk(await cli(['write', '-p', '/e/.avfs/notes.txt', 'hi']));
    expect(expectError(await cli(['export', '/e', proj, '--overwrite']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
    expect(lstatSync(join(proj, '.avfs')).isSymbolicLink()).toBe(true);
    expect(expectOk(await cli(['vault', 'list'])).vaults.map((v: { name: string }) => v.name)).toContain('v');
    // The same through a symlink above the name (AVFS_HOME and the destination spelled differently).
    symlinkSync(proj, join(h.dir, 'L'));
    expect(expectError(await cli(['export', '/e', join(h.dir, 'L'), '--overwrite']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
    const viaLink = (args: string[]) => avfs(join(h.dir, 'L', '.avfs'), args);
    expect(expectError(await viaLink(['sync', '/p', '--strategy', 'theirs']), 'CONFLICT', 4)).toMatchObject({ reason: 'avfs_home' });
    expect(lstatSync(join(proj, '.avfs')).isSymbolicLink()).toBe(true);
  });
});
