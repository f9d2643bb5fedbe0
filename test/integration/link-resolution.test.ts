import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basename } from '../../src/core/paths.js';
import { AvfsError } from '../../src/errors.js';
import { findBwrap } from '../../src/proxy/sandbox.js';
import type { Store } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { createVault } from '../../src/store/vaults.js';
import { errorCode, openTempStore, seededSource, tempDir, thrownError } from '../helpers.js';
import { describeNeeding, SANDBOX } from '../requirements.js';

/**
 * Symbolic links are resolved as the kernel resolves them where the vault is the whole tree (the
 * sandbox; the mount, for relative targets): `..` in a link's target goes to the parent of the
 * directory the lookup has reached, never textually. A path the caller types is normalised first
 * (README "Notes on behaviour"), so its own `..` is textual: that is the contract, tested apart.
 */

let store: Store;
let fs: VaultFs;
let close: () => void;
beforeEach(() => ({ store, fs, close } = openTempStore()));
afterEach(() => close());

const read = (path: string) => fs.readFile(path).toString();

describe('`..` in a link target, as the kernel takes it', () => {
  // /sub -> /a/b: the kernel reads /sub/.. as /a (the parent of the link's target), not /.
  beforeEach(() => {
    fs.mkdir('/a/b', { parents: true });
    fs.writeFile('/a/x', 'a/x');
    fs.writeFile('/x', 'top x');
    fs.symlink('/a/b', '/sub');
  });

  it('a relative target `sub/../x` goes through the link sub: /a/x, not /x', () => {
    fs.symlink('sub/../x', '/t');
    expect(read('/t')).toBe('a/x');
    expect(fs.stat('/t').path).toBe('/a/x');
    expect(fs.resolve('/t')).toBe('/a/x');
  });

  it('an absolute target with `..` after a link, and a chain of such links', () => {
    fs.symlink('/sub/../x', '/abs');
    fs.symlink('abs', '/chain');
    fs.symlink('sub/..', '/up'); // a directory: /a
    expect(read('/abs')).toBe('a/x');
    expect(read('/chain')).toBe('a/x');
    expect(fs.stat('/up').path).toBe('/a');
    expect(read('/up/x')).toBe('a/x');
    expect(fs.list('/up').map((e) => e.path)).toEqual(['/a/b', '/a/x']);
  });

  it('a relative target is taken from the link\'s own directory, its `..` after links there too', () => {
    fs.mkdir('/d');
    fs.symlink('../sub/../x', '/d/t'); // /d/.. = /, then /sub/.. = /a
    fs.symlink('/a/b', '/d/s');
    fs.symlink('s/../../x', '/d/u'); // /a/b/.. = /a, /a/.. = /
    expect(read('/d/t')).toBe('a/x');
    expect(read('/d/u')).toBe('top x');
  });

  it('`..` at / stays at /; a target through a missing directory and back out of it is NOT_FOUND, as ENOENT', () => {
    fs.symlink('../../sub/../x', '/climb');
    expect(read('/climb')).toBe('a/x');
    fs.symlink('nowhere/../x', '/gone');
    expect(thrownError(() => fs.readFile('/gone'))?.data).toMatchObject({ path: '/gone', missing: '/nowhere' });
    expect(errorCode(() => fs.stat('/gone'))).toBe('NOT_FOUND');
    expect(fs.lstat('/gone').type).toBe('l');
    expect(fs.exists('/gone')).toBe(true);
    fs.symlink('x/../a', '/through-file');
    expect(errorCode(() => fs.stat('/through-file'))).toBe('NOT_A_DIRECTORY');
  });

  it('a target with a trailing slash must lead to a directory (ENOTDIR for a file)', () => {
    fs.symlink('a/x/', '/slash-file');
    fs.symlink('sub/', '/slash-dir');
    expect(errorCode(() => fs.stat('/slash-file'))).toBe('NOT_A_DIRECTORY');
    expect(fs.stat('/slash-dir').path).toBe('/a/b');
    // Leading nowhere, it names a directory to be: no file is written there (open(2): EISDIR).
    fs.symlink('new/', '/slash-new');
    expect(errorCode(() => fs.stat('/slash-new'))).toBe('NOT_FOUND');
    expect(errorCode(() => fs.writeFile('/slash-new', 'x'))).toBe('IS_A_DIRECTORY');
    expect(errorCode(() => fs.appendFile('/slash-new', 'x'))).toBe('IS_A_DIRECTORY');
    expect(fs.exists('/new')).toBe(false);
  });

  it('a loop is INVALID_PATH (cause ELOOP), after 40 links as the kernel', () => {
    fs.symlink('l2/../l1', '/l1');
    fs.symlink('l1', '/l2');
    const err = thrownError(() => fs.stat('/l1'));
    expect(err?.code).toBe('INVALID_PATH');
    expect((err?.data as { cause?: string }).cause).toBe('ELOOP');
    // 40 links in a chain resolve, a 41st is one too many.
    for (let i = 0; i < 41; i++) fs.symlink(`a/../c${i + 1}`, `/c${i}`);
    fs.writeFile('/c41', 'end');
    expect(errorCode(() => fs.readFile('/c0'))).toBe('INVALID_PATH');
    expect(read('/c1')).toBe('end');
  });
});

describe('`..` a caller types is textual (the documented contract): /sub/../x is /x', () => {
  it('reads, writes, lists and refuses above the root by the normalised path', () => {
    fs.mkdir('/a/b', { parents: true });
    fs.writeFile('/a/x', 'a/x');
    fs.writeFile('/x', 'top x');
    fs.symlink('/a/b', '/sub');
    expect(read('/sub/../x')).toBe('top x');
    expect(fs.writeFile('/sub/../new', 'n').path).toBe('/new');
    expect(fs.exists('/a/new')).toBe(false);
    expect(errorCode(() => fs.readFile('/sub/../../x'))).toBe('INVALID_PATH');
  });
});

describe('changes through links whose targets hold `..`', () => {
  beforeEach(() => {
    fs.mkdir('/a/b', { parents: true });
    fs.symlink('/a/b', '/sub');
    fs.symlink('sub/../c', '/cdir'); // /a/c, not there yet
  });

  it('write and append through a link create or change its POSIX target', () => {
    fs.mkdir('/a/c');
    expect(fs.writeFile('/cdir/f', 'one').path).toBe('/a/c/f');
    fs.symlink('cdir/../f2', '/lf'); // /a/c/.. = /a
    expect(fs.writeFile('/lf', 'two').path).toBe('/a/f2');
    expect(fs.appendFile('/lf', '+').path).toBe('/a/f2');
    expect(read('/a/f2')).toBe('two+');
    expect(fs.exists('/f2')).toBe(false);
    expect(fs.exists('/c')).toBe(false);
  });

  it('mkdir and mkdir -p go through the link to where it leads; -p refuses a link that leads nowhere', () => {
    expect(errorCode(() => fs.mkdir('/cdir'))).toBe('ALREADY_EXISTS');
    expect(errorCode(() => fs.mkdir('/cdir/d'))).toBe('NOT_FOUND');
    expect(errorCode(() => fs.mkdir('/cdir/d', { parents: true }))).toBe('NOT_A_DIRECTORY');
    fs.mkdir('/a/c');
    expect(fs.mkdir('/cdir/d/e', { parents: true }).path).toBe('/a/c/d/e');
    expect(fs.exists('/c')).toBe(false);
    fs.symlink('nowhere/../a', '/gone');
    // mkdir -p of the link itself: it leads to no directory (textually it would be /a), so it is in the way.
    expect(errorCode(() => fs.mkdir('/gone', { parents: true }))).toBe('ALREADY_EXISTS');
    expect(errorCode(() => fs.mkdir('/gone/x', { parents: true }))).toBe('NOT_A_DIRECTORY');
    expect(errorCode(() => fs.mkdir('/gone/x'))).toBe('NOT_FOUND');
    expect(errorCode(() => fs.writeFile('/gone/x', 'x', { parents: true }))).toBe('NOT_A_DIRECTORY');
    expect(fs.exists('/nowhere')).toBe(false);
  });

  it('rm and mv act on the link itself, never where it leads', () => {
    fs.mkdir('/a/c');
    fs.writeFile('/a/c/f', 'f');
    fs.symlink('nowhere/../a', '/gone');
    expect(fs.rm('/cdir')).toEqual(['/cdir']);
    expect(fs.exists('/a/c/f')).toBe(true);
    expect(fs.mv('/gone', '/moved').to).toBe('/moved');
    expect(fs.readlink('/moved')).toBe('nowhere/../a');
    // mv onto a link that leads nowhere replaces that link, as rename(2) does.
    fs.writeFile('/file', 'moved file');
    expect(fs.mv('/file', '/moved').to).toBe('/moved');
    expect(fs.lstat('/moved').type).toBe('f');
    // mv onto a link to a directory moves into that directory.
    fs.symlink('sub/../c', '/cdir');
    fs.writeFile('/g', 'g');
    expect(fs.mv('/g', '/cdir').to).toBe('/a/c/g');
  });

  it('cp follows a source link by its POSIX target, and will not write through a link that leads nowhere', () => {
    fs.mkdir('/a/c');
    fs.writeFile('/a/c/f', 'c/f');
    fs.writeFile('/c', 'wrong /c');
    fs.symlink('cdir/f', '/lf');
    expect(fs.cp('/lf', '/copy').to).toBe('/copy');
    expect(read('/copy')).toBe('c/f');
    expect(fs.cp('/copy', '/cdir').to).toBe('/a/c/copy');
    fs.symlink('nowhere/../copy', '/gone');
    expect(errorCode(() => fs.cp('/copy', '/gone'))).toBe('INVALID_ARGUMENT');
    expect(fs.readlink('/gone')).toBe('nowhere/../copy');
    // With -r a link copied onto such a link replaces that link.
    fs.cp('/lf', '/gone', { recursive: true });
    expect(fs.readlink('/gone')).toBe('cdir/f');
  });
});

/**
 * The same random tree, with links of every kind (absolute and relative targets, `..` in them, a
 * trailing slash, chains, dangling links, loops), on the local disk and in a vault. On the disk
 * the kernel resolves it inside bubblewrap with the tree as `/`, as the sandbox shows a vault:
 * there an absolute target is a path in the tree and `..` at `/` stays at `/`. Every answer for
 * random paths (stat, lstat, read, readlink, ls, or the error) must agree, and so must the tree
 * after random writes, mkdirs, removals and new links through those paths.
 */
describeNeeding(SANDBOX, 'links resolve as the kernel resolves them (differential, against the local disk)', () => {
  const NAMES = ['a', 'b', 'c', 'd'];
  /** What bwrap adds at the root for node to run; never a name the trees use. */
  const SYSTEM = new Set(['bin', 'dev', 'lib', 'lib64', 'proc', 'usr']);
  type Answer = string | (string | string[])[];
  const OPS = ['stat', 'lstat', 'read', 'readlink', 'ls'] as const;
  type Change = { op: 'write' | 'mkdir' | 'rm'; path: string } | { op: 'symlink'; path: string; target: string };

  /** Runs inside the sandbox: the kernel's answers for each path and change, errors as errno names. */
  const KERNEL_SIDE = String.raw`
    const fs = require('fs');
    const { paths, changes } = JSON.parse(fs.readFileSync(0, 'utf8'));
    const SYSTEM = new Set(${JSON.stringify([...SYSTEM])});
    const kind = (s) => (s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : 'f');
    const answer = (f) => { try { return f(); } catch (e) { return e.code; } };
    // Where the kernel took the path (node's realpath takes .. after a link textually).
    const where = (p) => { const fd = fs.openSync(p, 'r'); try { return fs.readlinkSync('/proc/self/fd/' + fd); } finally { fs.closeSync(fd); } };
    const ls = (p) => { if (!fs.statSync(p).isDirectory()) return '-'; const root = where(p) === '/'; return fs.readdirSync(p).filter((n) => !(root && SYSTEM.has(n))).sort(); };
    const queries = paths.map((p) => [
      answer(() => [kind(fs.statSync(p)), where(p)]),
      answer(() => kind(fs.lstatSync(p))),
      answer(() => fs.readFileSync(p, 'utf8')),
      answer(() => fs.readlinkSync(p)),
      answer(() => ls(p)),
    ]);
    const changed = changes.map((c, i) => answer(() => {
      if (c.op === 'write') fs.writeFileSync(c.path, 'w' + i);
      else if (c.op === 'mkdir') fs.mkdirSync(c.path);
      else if (c.op === 'symlink') fs.symlinkSync(c.target, c.path);
      else if (fs.lstatSync(c.path).isDirectory()) fs.rmdirSync(c.path);
      else fs.unlinkSync(c.path);
      return 'ok';
    }));
    process.stdout.write(JSON.stringify({ queries, changed }));
  `;

  function kernelAnswers(root: string, paths: string[], changes: Change[]): { queries: Answer[][]; changed: Answer[] } {
    const bwrap = findBwrap()!;
    const args = ['--bind', root, '/', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin', '--proc', '/proc', '--dev', '/dev'];
    const run = spawnSync(bwrap, [...args, process.execPath, '-e', KERNEL_SIDE], { input: JSON.stringify({ paths, changes }), encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    if (run.status !== 0) throw new Error(`the kernel side failed (${run.status}): ${run.stderr}`);
    return JSON.parse(run.stdout);
  }

  /** The errno the kernel answers where the vault throws `err`. */
  function errno(err: unknown): string {
    if (!(err instanceof AvfsError)) throw err;
    if ((err.data as { cause?: string }).cause === 'ELOOP') return 'ELOOP';
    const codes: Record<string, string> = { NOT_FOUND: 'ENOENT', NOT_A_DIRECTORY: 'ENOTDIR', IS_A_DIRECTORY: 'EISDIR', INVALID_ARGUMENT: 'EINVAL', ALREADY_EXISTS: 'EEXIST', NOT_EMPTY: 'ENOTEMPTY' };
    return codes[err.code] ?? err.code;
  }

  const vaultAnswer = (f: () => Answer): Answer => {
    try {
      return f();
    } catch (err) {
      return errno(err);
    }
  };

  function vaultAnswers(v: VaultFs, paths: string[], changes: Change[]): { queries: Answer[][]; changed: Answer[] } {
    const queries = paths.map((p) => [
      vaultAnswer(() => {
        const e = v.stat(p);
        return [e.type, e.path];
      }),
      vaultAnswer(() => v.lstat(p).type),
      vaultAnswer(() => v.readFile(p).toString()),
      vaultAnswer(() => v.readlink(p)),
      vaultAnswer(() => (v.stat(p).type === 'd' ? v.list(p).map((e) => basename(e.path)).sort() : '-')),
    ]);
    const changed = changes.map((c, i) =>
      vaultAnswer(() => {
        if (c.op === 'write') v.writeFile(c.path, `w${i}`);
        else if (c.op === 'mkdir') v.mkdir(c.path);
        else if (c.op === 'symlink') v.symlink(c.target, c.path);
        else v.rm(c.path);
        return 'ok';
      }),
    );
    return { queries, changed };
  }

  /** Every entry below `/` as `path type content-or-target`, without following links. */
  function diskTree(root: string, dir = '/'): string[] {
    return readdirSync(join(root, dir))
      .filter((n) => !(dir === '/' && SYSTEM.has(n)))
      .sort()
      .flatMap((n) => {
        const path = dir === '/' ? `/${n}` : `${dir}/${n}`;
        const st = lstatSync(join(root, path));
        if (st.isDirectory()) return [`${path} d`, ...diskTree(root, path)];
        return [st.isSymbolicLink() ? `${path} l ${readlinkSync(join(root, path))}` : `${path} f ${readFileSync(join(root, path), 'utf8')}`];
      });
  }

  const vaultTree = (v: VaultFs) =>
    v
      .walk('/')
      .map((e) => (e.type === 'd' ? `${e.path} d` : e.type === 'l' ? `${e.path} l ${e.target}` : `${e.path} f ${v.readFile(e.path).toString()}`))
      .sort();

  /** A random tree: directories, files holding their own path, and links with random targets. */
  function buildTree(seed: number, root: string, v: VaultFs): string[] {
    const r = seededSource(seed);
    const dirs = ['/'];
    const taken = new Set<string>();
    const at = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
    const randomTarget = () => {
      const parts = Array.from({ length: 1 + r.int(4) }, () => r.pick([...NAMES, ...NAMES, '..', '..', '.']));
      return (r.int(3) === 0 ? '/' : '') + parts.join('/') + (r.int(6) === 0 ? '/' : '');
    };
    for (let i = 0; i < 8 + r.int(12); i++) {
      const path = at(r.pick(dirs), r.pick(NAMES));
      if (taken.has(path)) continue;
      taken.add(path);
      const kind = r.int(10);
      if (kind < 3) {
        mkdirSync(join(root, path));
        v.mkdir(path);
        dirs.push(path);
      } else if (kind < 5) {
        writeFileSync(join(root, path), path);
        v.writeFile(path, path);
      } else {
        const target = randomTarget();
        symlinkSync(target, join(root, path));
        v.symlink(target, path);
      }
    }
    return [...taken];
  }

  const randomPath = (r: ReturnType<typeof seededSource>) => '/' + Array.from({ length: 1 + r.int(4) }, () => r.pick(NAMES)).join('/');

  it('50 random trees: every lookup and every change agrees with the kernel', { timeout: 300_000 }, async () => {
    const mismatches: string[] = [];
    for (let seed = 1; seed <= 50 && mismatches.length < 5; seed++) {
      const disk = tempDir('avfs-links-');
      // A vault per tree in the one store (opened by beforeEach).
      createVault(store, `t${seed}`, { source: 'sdk' });
      const vault = new VaultFs(store, `t${seed}`, { source: 'sdk' });
      try {
        const made = buildTree(seed, disk.dir, vault);
        const r = seededSource(seed * 7919);
        const paths = [...made, ...Array.from({ length: 40 }, () => randomPath(r))].flatMap((p) => (r.int(5) === 0 ? [p, `${p}/`] : [p]));
        const changes: Change[] = Array.from({ length: 12 }, () => {
          const op = r.pick(['write', 'write', 'mkdir', 'rm', 'symlink'] as const);
          const path = randomPath(r);
          return op === 'symlink' ? { op, path, target: r.pick(NAMES) + '/../' + r.pick(NAMES) } : { op, path };
        });
        const tree = diskTree(disk.dir).join('\n');
        const kernel = kernelAnswers(disk.dir, paths, changes);
        const answers = vaultAnswers(vault, paths, changes);
        paths.forEach((p, i) =>
          OPS.forEach((op, j) => {
            const [k, got] = [JSON.stringify(kernel.queries[i]![j]), JSON.stringify(answers.queries[i]![j])];
            if (k !== got) mismatches.push(`seed ${seed}: ${op} ${p}: kernel ${k}, vault ${got}\n${tree}`);
          }),
        );
        changes.forEach((c, i) => {
          const [k, got] = [JSON.stringify(kernel.changed[i]), JSON.stringify(answers.changed[i])];
          if (k !== got) mismatches.push(`seed ${seed}: change ${i} ${JSON.stringify(c)}: kernel ${k}, vault ${got}\n${tree}`);
        });
        if (mismatches.length === 0) expect(vaultTree(vault), `seed ${seed}`).toEqual(diskTree(disk.dir).sort());
      } finally {
        disk.cleanup();
      }
      await new Promise(setImmediate); // let the test runner's messages through between trees
    }
    expect(mismatches.slice(0, 5).join('\n\n')).toBe('');
  });
});
