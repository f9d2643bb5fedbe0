import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { escapeGlob, compileGlob, hasGlobSyntax } from '../../src/core/glob.js';
import { incompleteTail, looksBinary, SNIFF_BYTES } from '../../src/core/text.js';
import { parseSize, parseTime } from '../../src/core/units.js';
import { AvfsError } from '../../src/errors.js';
import { errorCode, thrownError } from '../helpers.js';

const code = errorCode;
const matches = (glob: string, s: string, nocase = false) => compileGlob(glob, { nocase }).test(s);

describe('compileGlob', () => {
  it('* and ? stay within one name', () => {
    expect(matches('*.md', 'notes.md')).toBe(true);
    expect(matches('*.md', 'notes.mdx')).toBe(false);
    expect(matches('*.md', 'a/notes.md')).toBe(false);
    expect(matches('a?c', 'abc')).toBe(true);
    expect(matches('a?c', 'a/c')).toBe(false);
    expect(matches('a?c', 'ac')).toBe(false);
    expect(matches('*', '')).toBe(true);
  });

  it('regex characters are literal', () => {
    expect(matches('a.b+(c)|^$', 'a.b+(c)|^$')).toBe(true);
    expect(matches('a.b', 'axb')).toBe(false);
  });

  it('character classes, ranges and negation, never matching /', () => {
    expect(matches('file[0-9].txt', 'file7.txt')).toBe(true);
    expect(matches('file[0-9].txt', 'filex.txt')).toBe(false);
    expect(matches('file[!0-9].txt', 'filex.txt')).toBe(true);
    expect(matches('file[^0-9].txt', 'file7.txt')).toBe(false);
    expect(matches('a[!x]b', 'a/b')).toBe(false);
    expect(matches('a[/]b', 'a/b')).toBe(false);
    expect(matches('[]]', ']')).toBe(true);
    expect(matches('[a-]', '-')).toBe(true);
    expect(matches('[\\]x]', ']')).toBe(true);
  });

  it('unclosed [ and { are literal', () => {
    expect(matches('a[b', 'a[b')).toBe(true);
    expect(matches('a{b', 'a{b')).toBe(true);
  });

  it('brace alternatives, nested and with globs inside', () => {
    const re = compileGlob('*.{js,mjs,ts}');
    expect(['a.js', 'a.mjs', 'a.ts'].every((s) => re.test(s))).toBe(true);
    expect(re.test('a.cjs')).toBe(false);
    expect(matches('{a,b{c,d}}x', 'bdx')).toBe(true);
    expect(matches('{a,b{c,d}}x', 'bx')).toBe(false);
    expect(matches('{*.md,README}', 'README')).toBe(true);
    expect(matches('{a,}b', 'b')).toBe(true);
  });

  it('** crosses directories and matches zero of them as a whole segment', () => {
    const re = compileGlob('/src/**/*.ts');
    expect(re.test('/src/a.ts')).toBe(true);
    expect(re.test('/src/x/y/a.ts')).toBe(true);
    expect(re.test('/lib/a.ts')).toBe(false);
    expect(matches('**/test_*.py', 'test_a.py')).toBe(true);
    expect(matches('**/test_*.py', 'a/b/test_a.py')).toBe(true);
    expect(matches('/build/**', '/build')).toBe(true);
    expect(matches('/build/**', '/build/x/y')).toBe(true);
    expect(matches('/build/**', '/buildx')).toBe(false);
    expect(matches('a**b', 'a/x/b')).toBe(true);
  });

  it('backslash escapes', () => {
    expect(matches('\\*.md', '*.md')).toBe(true);
    expect(matches('\\*.md', 'x.md')).toBe(false);
    expect(matches('a\\', 'a\\')).toBe(true);
  });

  it('case folding and unicode', () => {
    expect(matches('*.MD', 'notes.md')).toBe(false);
    expect(matches('*.MD', 'notes.md', true)).toBe(true);
    expect(matches('caf?', 'café')).toBe(true);
    expect(matches('?.txt', '😀.txt')).toBe(true);
    expect(matches('東京*', '東京タワー.md')).toBe(true);
  });

  it('escapeGlob makes a string match only itself', () => {
    const s = '/dir [1]/{a,b}*?';
    expect(compileGlob(escapeGlob(s)).test(s)).toBe(true);
    expect(compileGlob(escapeGlob(s)).test('/dir 1/a')).toBe(false);
    expect(hasGlobSyntax('plain.txt')).toBe(false);
    expect(hasGlobSyntax('*.txt')).toBe(true);
  });

  it('words mode: / is an ordinary character for *, ?, classes and braces', () => {
    const word = (glob: string, s: string) => compileGlob(glob, { words: true }).test(s);
    expect(word('*', 'a/b')).toBe(true);
    expect(word('http*', 'https://x/y')).toBe(true);
    expect(word('a?c', 'a/c')).toBe(true);
    expect(word('a[/]c', 'a/c')).toBe(true);
    expect(word('a[!x]c', 'a/c')).toBe(true);
    expect(word('a[!/]c', 'a/c')).toBe(false);
    expect(word('{x,*/y}', 'a/b/y')).toBe(true);
    expect(word('**/x', 'x')).toBe(false); // no zero-directory rule: `**` is just `*`
    expect(word('\\*', '*')).toBe(true);
    expect(word('\\*', 'x')).toBe(false);
    expect(word('LC_*', 'LC_ALL')).toBe(true);
    expect(word('LC_*', 'XLC_ALL')).toBe(false);
    // A newline is a character like any other, as in bash (a RegExp's `.` skipped it, so a word
    // with a newline escaped `*--force*`).
    expect(word('*--force*', 'x\n--force')).toBe(true);
    expect(word('a?b', 'a\nb')).toBe(true);
  });

  it('rejects an empty pattern', () => {
    expect(code(() => compileGlob(''))).toBe('INVALID_ARGUMENT');
  });

  it('rejects a reversed range with INVALID_PATTERN (not a bare SyntaxError)', () => {
    for (const glob of ['[z-a]', 'x[9-0]y', '{a,[z-a]}']) {
      expect(() => compileGlob(glob)).toThrow(AvfsError);
      expect(code(() => compileGlob(glob))).toBe('INVALID_PATTERN');
      expect(code(() => compileGlob(glob, { words: true }))).toBe('INVALID_PATTERN');
    }
    // Said in the glob's terms: not the regular expression it was translated into.
    expect(() => compileGlob('x[9-0]y')).toThrow(/^invalid glob pattern "x\[9-0\]y": range out of order in character class$/);
  });

  it('a glob too large for the RegExp engine is INVALID_PATTERN (reason too_large) when compiled, not an error on first use', () => {
    // V8 builds such a RegExp and fails only when it first runs it ("Regular expression too large").
    for (const glob of ['x'.repeat(40_000), '[a]'.repeat(30_000), '{a,b}'.repeat(20_000)]) {
      const e = thrownError(() => compileGlob(glob));
      expect(e?.code).toBe('INVALID_PATTERN');
      expect(e?.data).toMatchObject({ reason: 'too_large', length: glob.length });
    }
    expect(compileGlob('x'.repeat(30_000)).test('x'.repeat(30_000))).toBe(true);
  });

  it('supports POSIX character classes inside a set', () => {
    const m = (glob: string, s: string, options = {}) => compileGlob(glob, options).test(s);
    expect(m('[[:alpha:]]', 'q')).toBe(true);
    expect(m('[[:alpha:]]', '1')).toBe(false);
    expect(m('[[:alpha:]]', ']')).toBe(false);
    expect(m('[[:digit:]][[:digit:]]', '42')).toBe(true);
    expect(m('[[:digit:]]', 'a')).toBe(false);
    expect(m('[[:alnum:]]*', 'a1-x')).toBe(true);
    expect(m('[[:alnum:]]', '_')).toBe(false);
    expect(m('[[:upper:]]', 'A')).toBe(true);
    expect(m('[[:upper:]]', 'a')).toBe(false);
    expect(m('[[:upper:]]', 'a', { nocase: true })).toBe(true);
    expect(m('[[:lower:]]', 'a')).toBe(true);
    expect(m('[[:lower:]]', 'A')).toBe(false);
    expect(m('a[[:space:]]b', 'a b')).toBe(true);
    expect(m('a[[:space:]]b', 'a\tb')).toBe(true);
    expect(m('a[[:space:]]b', 'a_b')).toBe(false);
    for (const p of ['!', '.', '[', '\\', '`', '~', '-', ']']) expect(m('[[:punct:]]', p), p).toBe(true);
    expect(m('[[:punct:]]', 'a')).toBe(false);
    expect(m('[[:punct:]]', '/')).toBe(false); // a path class never matches the separator
    expect(compileGlob('[[:punct:]]', { words: true }).test('/')).toBe(true);
    expect(m('[[:xdigit:]]', 'F')).toBe(true);
    expect(m('[[:xdigit:]]', 'g')).toBe(false);
    // negated, combined with other members, and a `-` after a class is literal
    expect(m('[![:digit:]]', 'a')).toBe(true);
    expect(m('[![:digit:]]', '5')).toBe(false);
    expect(m('[[:digit:]_]', '_')).toBe(true);
    expect(m('[[:digit:]-z]', '-')).toBe(true);
    expect(m('[[:digit:]-z]', 'm')).toBe(false);
    expect(m('*.[[:digit:]]', 'log.7')).toBe(true);
    expect(m('{[[:digit:]],x}', 'x')).toBe(true);
    expect(m('{[[:digit:]],x}', '3')).toBe(true);
  });

  it('rejects an unknown POSIX class with INVALID_PATTERN', () => {
    expect(code(() => compileGlob('[[:nope:]]'))).toBe('INVALID_PATTERN');
  });

  it('matches in time linear in the subject: stars that almost match do not backtrack', () => {
    // As RegExps these took time polynomial in the subject for each star (`*a*a*a*a*b` against
    // 250 characters: 17 s); a policy matches globs against arguments the agent writes (up to
    // 128 KiB each). None of these could finish here if the work were not linear.
    const long = 'a'.repeat(128 * 1024);
    expect(compileGlob('*a*a*a*a*b', { words: true }).test(long)).toBe(false);
    expect(compileGlob('*a*a*a*a*a', { words: true }).test(long)).toBe(true);
    expect(compileGlob('*a*a*a*a*b').test(long)).toBe(false);
    expect(compileGlob('**a**a**a**/b').test(`${'a/'.repeat(64 * 1024)}c`)).toBe(false);
    expect(compileGlob('{*a,*b}{*a,*b}{*a,*b}{*a,*b}c', { words: true }).test('ab'.repeat(64 * 1024))).toBe(false);
    expect(compileGlob('*[[:alpha:]]*[!b]*?*x', { words: true, nocase: true }).test(long)).toBe(false);
  });

  it('words mode agrees with bash case patterns on random globs and subjects', () => {
    // bash's `case` matches a word against a pattern with `/` as an ordinary character: the same
    // language as words mode (without braces, which are not patterns there).
    let seed = 20261205;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const tokens = ['a', 'b', '/', '-', '*', '**', '?', '[ab]', '[!a]', '[a-]', '[[:alpha:]]', '\\*', '\\a'];
    const letters = ['a', 'b', '/', '-', '*', 'A'];
    const pairs: Array<[string, string]> = [];
    for (let g = 0; g < 300; g++) {
      const glob = Array.from({ length: 1 + random(6) }, () => tokens[random(tokens.length)]).join('');
      for (let k = 0; k < 30; k++) pairs.push([glob, Array.from({ length: random(7) }, () => letters[random(letters.length)]).join('')]);
    }
    const input = pairs.map(([glob, subject]) => `${glob}\n${subject}\n`).join('');
    const bash = execFileSync('bash', ['-c', 'while IFS= read -r p && IFS= read -r s; do case $s in $p) echo 1;; *) echo 0;; esac; done'], { input, encoding: 'utf8' }).trim().split('\n');
    expect(bash.length).toBe(pairs.length);
    const ours = pairs.map(([glob, subject]) => (compileGlob(glob, { words: true }).test(subject) ? '1' : '0'));
    const disagreements = pairs.flatMap(([glob, subject], k) => (ours[k] === bash[k] ? [] : [{ glob, subject, ours: ours[k], bash: bash[k] }]));
    expect(disagreements).toEqual([]);
    expect(ours.filter((m) => m === '1').length).toBeGreaterThan(pairs.length / 20); // the sample matches often enough to mean something
  });
});

describe('looksBinary', () => {
  it('text, including multi-byte UTF-8, is text', () => {
    expect(looksBinary(Buffer.from('hello\nworld'))).toBe(false);
    expect(looksBinary(Buffer.from('naïve café 東京 😀'))).toBe(false);
    expect(looksBinary(Buffer.alloc(0))).toBe(false);
  });

  it('a NUL byte or invalid UTF-8 in the sample makes it binary', () => {
    expect(looksBinary(Buffer.from([0x61, 0x00, 0x62]))).toBe(true);
    expect(looksBinary(Buffer.from([0x61, 0xff, 0x62]))).toBe(true);
    expect(looksBinary(Buffer.from('caf\xe9', 'latin1'))).toBe(true);
  });

  it('only the first SNIFF_BYTES count', () => {
    const late = Buffer.concat([Buffer.alloc(SNIFF_BYTES, 'a'), Buffer.from([0])]);
    expect(looksBinary(late)).toBe(false);
    const early = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 1, 'a'), Buffer.from([0])]);
    expect(looksBinary(early)).toBe(true);
  });

  it('a character cut at the sample boundary is not invalid, but a truncated whole content is', () => {
    const euro = Buffer.from('€'); // 3 bytes
    const cut = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 1, 'a'), euro, Buffer.from('tail')]);
    expect(looksBinary(cut)).toBe(false);
    expect(looksBinary(Buffer.concat([Buffer.from('ab'), euro.subarray(0, 2)]))).toBe(true);
    expect(incompleteTail(Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)]))).toBe(2);
    expect(incompleteTail(Buffer.from('a€'))).toBe(0);
    expect(incompleteTail(Buffer.from([0xf0, 0x9f, 0x98]))).toBe(3);
  });
});

describe('parseSize', () => {
  it('bytes, SI and binary units', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('0')).toBe(0);
    expect(parseSize('10B')).toBe(10);
    expect(parseSize('10KB')).toBe(10_000);
    expect(parseSize('10kb')).toBe(10_000);
    expect(parseSize('10K')).toBe(10_240);
    expect(parseSize('10KiB')).toBe(10_240);
    expect(parseSize('1MiB')).toBe(1 << 20);
    expect(parseSize('1.5M')).toBe(1.5 * (1 << 20));
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize(' 3 MB ')).toBe(3e6);
  });

  it('rejects nonsense', () => {
    for (const bad of ['', 'abc', '10 XB', '-1', 'KB', '10iB', '1e3']) expect(code(() => parseSize(bad)), bad).toBe('INVALID_ARGUMENT');
  });
});

describe('parseTime', () => {
  const now = Date.UTC(2024, 4, 1, 12, 0, 0);
  it('durations before now', () => {
    expect(parseTime('10m', now)).toBe(now - 600_000);
    expect(parseTime('2h', now)).toBe(now - 7_200_000);
    expect(parseTime('1d', now)).toBe(now - 86_400_000);
    expect(parseTime('1w', now)).toBe(now - 604_800_000);
    expect(parseTime('30s', now)).toBe(now - 30_000);
    expect(parseTime('1.5h', now)).toBe(now - 5_400_000);
    expect(parseTime('250ms', now)).toBe(now - 250);
  });

  it('ISO dates and times', () => {
    expect(parseTime('2024-05-01T10:00:00Z', now)).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseTime('2024-05-01T10:00Z', now)).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseTime('2024-05-01', now)).toBe(Date.UTC(2024, 4, 1));
  });

  it('rejects nonsense', () => {
    for (const bad of ['', 'yesterday', '10', '10y', '2024-13-45', 'May 1 2024']) expect(code(() => parseTime(bad, now)), bad).toBe('INVALID_ARGUMENT');
  });
});
