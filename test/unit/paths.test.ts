import { describe, expect, it } from 'vitest';
import { ancestors, basename, descendantRange, dirname, isWithin, MAX_SYMLINK_HOPS, normalizePath, rebase, resolvePath, walkPath, type PathStep } from '../../src/core/paths.js';
import { AvfsError } from '../../src/errors.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as AvfsError).code;
  }
  return 'no error';
};

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['a', '/a'],
    ['/a/b/', '/a/b'],
    ['//a///b', '/a/b'],
    ['/a/./b/.', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['a/..', '/'],
    ['/ünï/コード', '/ünï/コード'],
    ['/emoji-😀', '/emoji-😀'], // a surrogate pair is one character
  ])('%s → %s', (input, expected) => expect(normalizePath(input)).toBe(expected));

  it.each([
    ['', 'empty'],
    ['..', 'escape'],
    ['/../etc/passwd', 'escape'],
    ['/a/../../b', 'escape'],
    ['/a\0b', 'NUL'],
    ['/s\ud800x', 'lone high surrogate'],
    ['/x\udc00', 'lone low surrogate'],
    ['/\udc00\ud800', 'surrogates in the wrong order'],
    ['/' + 'x'.repeat(256), 'long name'],
    ['/' + Array(14000).fill('abcd').join('/'), 'path over 64 KiB'],
  ])('rejects %j (%s) with INVALID_PATH', (input) => expect(codeOf(() => normalizePath(input))).toBe('INVALID_PATH'));

  it('says why a path is refused with a stable token in reason (the message may change)', () => {
    const reason = (input: unknown) => {
      try {
        normalizePath(input as string);
      } catch (err) {
        expect(err).toBeInstanceOf(AvfsError);
        expect((err as AvfsError).code).toBe('INVALID_PATH');
        return (err as AvfsError).data.reason;
      }
      throw new Error(`${String(input)} was accepted`);
    };
    expect(reason(7)).toBe('not_a_string');
    expect(reason('')).toBe('empty');
    expect(reason('/a\0b')).toBe('nul_byte');
    expect(reason('/a\ud800')).toBe('not_unicode');
    expect(reason('/../x')).toBe('escapes_root');
    expect(reason(`/${'n'.repeat(256)}`)).toBe('name_too_long');
    expect(reason(`/${'d/'.repeat(40_000)}`)).toBe('path_too_long');
  });

  it('accepts a path longer than PATH_MAX (a deep tree, made with relative paths)', () => {
    const deep = '/' + Array(2000).fill('abcd').join('/'); // 10,000 bytes
    expect(normalizePath(deep)).toBe(deep);
  });

  it('counts name length in bytes, not characters', () => {
    expect(normalizePath('/' + 'é'.repeat(127))).toBe('/' + 'é'.repeat(127)); // 254 bytes
    expect(codeOf(() => normalizePath('/' + 'é'.repeat(128)))).toBe('INVALID_PATH'); // 256 bytes
  });
});

describe('path helpers', () => {
  it('dirname and basename', () => {
    expect(dirname('/a/b/c')).toBe('/a/b');
    expect(dirname('/a')).toBe('/');
    expect(dirname('/')).toBe('/');
    expect(basename('/a/b')).toBe('b');
    expect(basename('/')).toBe('');
  });
  it('isWithin does not confuse prefixes with ancestors', () => {
    expect(isWithin('/a/b', '/a')).toBe(true);
    expect(isWithin('/a', '/a')).toBe(true);
    expect(isWithin('/ab', '/a')).toBe(false);
    expect(isWithin('/x', '/')).toBe(true);
  });
  it('ancestors lists root first', () => {
    expect(ancestors('/a/b/c')).toEqual(['/', '/a', '/a/b']);
    expect(ancestors('/a')).toEqual(['/']);
    expect(ancestors('/')).toEqual([]);
  });
  it('rebase moves a path between roots', () => {
    expect(rebase('/a/b/c', '/a', '/x/y')).toBe('/x/y/b/c');
    expect(rebase('/a', '/a', '/z')).toBe('/z');
  });
  it('descendantRange brackets exactly the descendants in byte order', () => {
    const [lo, hi] = descendantRange('/a');
    const inRange = (p: string) => p >= lo && p < hi;
    expect(['/a/b', '/a/b/c', '/a/-', '/a/~', '/a/é'].every(inRange)).toBe(true);
    expect(['/a', '/a-b', '/a.b', '/ab', '/b', '/a0'].some(inRange)).toBe(false);
  });
});

describe('walkPath (a lookup as the kernel makes it)', () => {
  // A small tree: /a/b is a directory, /l -> a/b (relative), /abs -> /a, /f a file, /loop -> loop.
  const tree: Record<string, PathStep> = { '/a': 'dir', '/a/b': 'dir', '/a/b/c': 'dir', '/l': { link: 'a/b' }, '/abs': { link: '/a' }, '/loop': { link: 'loop' }, '/up': { link: '../../a' } };
  const walk = (path: string) => walkPath(path, (next) => tree[next] ?? null);

  it('follows links in place of their names, relative ones from their directory, absolute ones from /', () => {
    expect(walk('/l/c')).toBe('/a/b/c');
    expect(walk('/abs/b')).toBe('/a/b');
    expect(walk('/up/b')).toBe('/a/b'); // .. above / stays at /
  });

  it('takes .. after the link before it, not textually', () => {
    expect(walk('/l/..')).toBe('/a');
    expect(walk('/l/../..')).toBe('/');
    expect(walk('/a/./b/.')).toBe('/a/b');
  });

  it('stops (null) where look stops or after more links than the kernel follows', () => {
    expect(walk('/f/x')).toBeNull();
    expect(walk('/loop')).toBeNull();
    let hops = 0;
    const chain = (n: number) => walkPath('/0', (next) => (Number(next.slice(1)) < n ? (hops++, { link: `/${Number(next.slice(1)) + 1}` }) : 'dir'));
    expect(chain(MAX_SYMLINK_HOPS)).toBe(`/${MAX_SYMLINK_HOPS}`);
    expect(hops).toBe(MAX_SYMLINK_HOPS);
    expect(chain(MAX_SYMLINK_HOPS + 1)).toBeNull();
  });
});

describe('resolvePath (the one walker: every name, the last one too)', () => {
  // /a/b a directory, /a/x and /x files, /sub -> /a/b, /t -> sub/../x, /gone -> nowhere/../x, /loop -> loop/.
  const tree: Record<string, PathStep | 'file'> = { '/a': 'dir', '/a/b': 'dir', '/a/x': 'file', '/x': 'file', '/sub': { link: '/a/b' }, '/t': { link: 'sub/../x' }, '/gone': { link: 'nowhere/../x' }, '/loop': { link: 'loop/' }, '/slash': { link: 'new/' }, '/dot': { link: 'loop/.' } };
  const look = (next: string): PathStep => {
    const step = tree[next];
    return step === undefined || step === 'file' ? null : step;
  };
  const resolve = (path: string, options: { followLast?: boolean; creating?: boolean } = {}) => resolvePath(path, look, options);

  it('takes `..` in a link target after the links before it: sub/../x is /a/x', () => {
    expect(resolve('/t')).toEqual({ reached: '/a/x', leaf: true });
    expect(resolve('/sub/..')).toEqual({ reached: '/a', leaf: false });
  });

  it('leaves the last link alone when asked (lstat), follows the ones before it', () => {
    expect(resolve('/t', { followLast: false })).toEqual({ reached: '/t', leaf: true });
    expect(resolve('/sub/y', { followLast: false })).toEqual({ reached: '/a/b/y', leaf: true });
  });

  it('stops at a name that is no directory, with the names left below it', () => {
    expect(resolve('/gone')).toEqual({ blocked: '/nowhere', rest: ['..', 'x'] });
    expect(resolve('/x/y/z')).toEqual({ blocked: '/x', rest: ['y', 'z'] });
    expect(resolve('/slash')).toEqual({ blocked: '/new', rest: [''] });
  });

  it('a target\'s trailing `/` makes its last name one a file is never written at (creating), unlike an explicit `.`', () => {
    expect(resolve('/slash', { creating: true })).toEqual({ reached: '/new', leaf: true, slashed: true });
    expect(resolve('/loop', { creating: true })).toEqual({ reached: '/loop', leaf: true, slashed: true });
    expect(resolve('/dot', { creating: true })).toEqual({ loop: true });
    expect(resolve('/loop')).toEqual({ loop: true });
  });
});
