import { beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';

import { BIN, expectError, expectOk, useTempHome } from '../helpers.js';
import { openStore } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';

const h = useTempHome('all');
const run = h.run;

const searchPaths = async (query: string[], extra: string[] = []) => (expectOk(await run(['search', ...query, ...extra])).results as Array<{ path: string }>).map((h) => h.path).sort();

describe('search through the CLI', () => {
  it('sees a write as soon as the command returns, and forgets it on rewrite and rm', async () => {
    expectOk(await run(['write', '/notes.md', 'the capybara sleeps']));
    const doc = expectOk(await run(['search', 'capybara']));
    expect(doc).toMatchObject({ vault: 'default', query: 'capybara', path: '/', count: 1, truncated: false });
    const [hit] = doc.results;
    expect(Object.keys(hit).sort()).toEqual(['hash', 'mtime', 'path', 'score', 'size', 'snippet']);
    expect(hit).toMatchObject({ path: '/notes.md', size: 19, snippet: 'the «capybara» sleeps' });
    expect(typeof hit.score).toBe('number');
    expect(Number.isNaN(Date.parse(hit.mtime))).toBe(false);

    expectOk(await run(['write', '/notes.md', 'the tapir sleeps']));
    expect(await searchPaths(['capybara'])).toEqual([]);
    expect(await searchPaths(['tapir'])).toEqual(['/notes.md']);
    expectOk(await run(['rm', '/notes.md']));
    expect(await searchPaths(['tapir'])).toEqual([]);
  });

  it('a checkpoint restore brings the hits back', async () => {
    expectOk(await run(['write', '/cp.md', 'an armadillo digs']));
    expectOk(await run(['checkpoint', 'save', 'armadillo']));
    expectOk(await run(['write', '/cp.md', 'a pangolin digs']));
    expect(await searchPaths(['armadillo'])).toEqual([]);
    expectOk(await run(['checkpoint', 'restore', 'armadillo']));
    expect(await searchPaths(['armadillo'])).toEqual(['/cp.md']);
    expect(await searchPaths(['pangolin'])).toEqual([]);
    expectOk(await run(['rm', '/cp.md']));
  });

  it('lists every path of an identical content; a fork sees the hits and then diverges', async () => {
    expectOk(await run(['write', '-p', '/d/one.txt', 'shared text about lemurs']));
    expectOk(await run(['write', '/d/two.txt', 'shared text about lemurs']));
    expect(await searchPaths(['lemurs'])).toEqual(['/d/one.txt', '/d/two.txt']);

    expectOk(await run(['vault', 'fork', 'default', 'child']));
    expect(await searchPaths(['lemurs'], ['--vault', 'child'])).toEqual(['/d/one.txt', '/d/two.txt']);
    expectOk(await run(['write', '/d/one.txt', 'the child now writes about okapis', '--vault', 'child']));
    expect(await searchPaths(['lemurs'], ['--vault', 'child'])).toEqual(['/d/two.txt']);
    expect(await searchPaths(['okapis'], ['--vault', 'child'])).toEqual(['/d/one.txt']);
    expect(await searchPaths(['lemurs'])).toEqual(['/d/one.txt', '/d/two.txt']);
    expect(await searchPaths(['okapis'])).toEqual([]);
  });

  it('unicode, several words, --path, --literal, -n and truncated', async () => {
    expectOk(await run(['write', '-p', '/u/jp.md', 'A naïve café near 東京 station']));
    expect(await searchPaths(['cafe', 'naive'])).toEqual(['/u/jp.md']);
    expect(await searchPaths(['東京'])).toEqual(['/u/jp.md']);
    expect(await searchPaths(['lemurs'], ['--path', '/d'])).toEqual(['/d/one.txt', '/d/two.txt']);
    expect(await searchPaths(['lemurs'], ['--path', '/u'])).toEqual([]);
    expectError(await run(['search', 'lemurs', '--path', '/missing']), 'NOT_FOUND', 3);
    expectOk(await run(['write', '/u/id.txt', 'ticket user-id: 42 (closed)']));
    expect(await searchPaths(['user-id: 42 (closed)'], ['--literal'])).toEqual(['/u/id.txt']);
    const limited = expectOk(await run(['search', 'shared', '-n', '1']));
    expect(limited.count).toBe(1);
    expect(limited.truncated).toBe(true);
    expectError(await run(['search', 'shared', '-n', '0']), 'USAGE', 2);
  });

  it('bad FTS syntax is INVALID_QUERY with exit 2, in JSON and in human mode', async () => {
    for (const q of ['foo AND', '"open', 'x:y', 'user-id: 42']) expectError(await run(['search', q]), 'INVALID_QUERY', 2);
    const human = await run(['search', 'foo AND'], { raw: true });
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain('INVALID_QUERY');
    // A path is the usual cause: the error says how to search for it, and that way finds it.
    expect(expectError(await run(['search', 'lemurs/x']), 'INVALID_QUERY', 2).message).toContain('--literal');
    expect((await run(['search', '"lemurs/x"'])).code).toBe(0);
    expect((await run(['search', '--literal', 'lemurs/x'])).code).toBe(0);
  });

  it('human output shows the path and the snippet; --help documents the cap and binary exclusion', async () => {
    const r = await run(['search', 'lemurs'], { raw: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('/d/two.txt');
    expect(r.stdout).toContain('lemurs');
    const help = await run(['search', '--help'], { raw: true });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/1\.0 MiB/);
    expect(help.stdout).toMatch(/[Bb]inary/);
  });
});

describe('grep through the CLI', () => {
  beforeAll(async () => {
    expectOk(await run(['write', '-p', '/g/a.ts', 'const x = 1;\n// TODO fix\nfetch(url)\n// todo: later\n']));
    expectOk(await run(['write', '/g/b.md', 'TODO: docs\n']));
    expectOk(await run(['write', '/g/bin.dat', '-'], { input: Buffer.from([0x54, 0x4f, 0x44, 0x4f, 0, 1]) }));
  });

  it('a pattern that backtracks exponentially on a line, (a+)+$ on 5,000 a and a "!", ends with the right answer (V8 falls back to its linear engine; a hang fails at the 60 s limit)', async () => {
    expectOk(await run(['write', '/redos.txt', '-'], { input: 'a'.repeat(5000) + '!\n' + 'a'.repeat(5000) + '\n' }));
    expect(expectOk(await run(['grep', '(a+)+$', '/redos.txt'])).matches.map((m: { line: number }) => m.line)).toEqual([2]);
    expect(expectOk(await run(['grep', '(\\w+\\s?)*!$', '/redos.txt'])).matches.map((m: { line: number }) => m.line)).toEqual([1]);
    expectOk(await run(['rm', '/redos.txt']));
  });

  it('matches with path and line, skipping binaries', async () => {
    const r = expectOk(await run(['grep', 'TODO', '/g']));
    expect(r.matches).toEqual([
      { path: '/g/a.ts', line: 2, text: '// TODO fix' },
      { path: '/g/b.md', line: 1, text: 'TODO: docs' },
    ]);
    expect(r).toMatchObject({ pattern: 'TODO', path: '/g', count: 2, files: ['/g/a.ts', '/g/b.md'], files_scanned: 2, binary_skipped: 1 });
  });

  it('-i -l -F --max-count --include', async () => {
    expect(expectOk(await run(['grep', '-i', 'todo', '/g'])).count).toBe(3);
    expect(expectOk(await run(['grep', '-il', 'todo', '/g']))).toMatchObject({ files: ['/g/a.ts', '/g/b.md'], matches: [], count: 2 });
    expect(expectOk(await run(['grep', '-F', 'fetch(url)', '/g'])).matches).toEqual([{ path: '/g/a.ts', line: 3, text: 'fetch(url)' }]);
    expect(expectOk(await run(['grep', '-i', '--max-count', '1', 'todo', '/g/a.ts'])).matches).toEqual([{ path: '/g/a.ts', line: 2, text: '// TODO fix' }]);
    expect(expectOk(await run(['grep', 'TODO', '/g', '--include', '*.md'])).files).toEqual(['/g/b.md']);
    expect(expectOk(await run(['grep', 'no-such-text-anywhere'])).count).toBe(0);
  });

  it('invalid regex is INVALID_PATTERN (exit 2); missing path NOT_FOUND (exit 3)', async () => {
    // The message names the pattern as given and what is wrong, not JavaScript's RegExp text.
    expect(expectError(await run(['grep', '(unclosed']), 'INVALID_PATTERN', 2)).toMatchObject({
      message: 'invalid regular expression "(unclosed": unterminated group',
      pattern: '(unclosed',
      reason: 'unterminated group',
    });
    expectError(await run(['grep', 'x', '/nope']), 'NOT_FOUND', 3);
    expectError(await run(['grep', 'x', '--max-count', 'lots']), 'USAGE', 2);
    expect(expectError(await run(['grep', '--include', '[z-a]', 'hi', '/']), 'INVALID_PATTERN', 2).message).toBe(
      'invalid glob pattern "[z-a]": range out of order in character class',
    );
  });

  it('a pattern too large for the RegExp engine is INVALID_PATTERN (exit 2, reason too_large); -F takes a fixed string of any length', async () => {
    // V8 parses a RegExp when it is built and compiles it on first use, where one of more than
    // about 32k characters fails: that used to surface mid-search as INTERNAL.
    const long = 'x'.repeat(40_000);
    expectOk(await run(['write', '-p', '/long/a.txt', `before\na${long}b\nafter\n`]));
    expect(expectError(await run(['grep', long]), 'INVALID_PATTERN', 2)).toMatchObject({ reason: 'too_large', length: 40_000 });
    expect(expectOk(await run(['grep', '-F', long, '/long']))).toMatchObject({ count: 1, files: ['/long/a.txt'], matches: [{ path: '/long/a.txt', line: 2 }] });
    expect(expectOk(await run(['grep', '-iF', long.toUpperCase(), '/long'])).files).toEqual(['/long/a.txt']);
    expect(expectOk(await run(['grep', '-F', `${long}x`, '/long'])).count).toBe(0);
    const human = await run(['grep', '-F', long, '/long'], { raw: true });
    expect(human.code).toBe(0);
    expect(human.stdout.startsWith('/long/a.txt:axxx')).toBe(true); // the line, cut at 4096 characters
    // Globs compile to RegExps too: --include here, --name and --glob in find.
    expectError(await run(['grep', 'x', '/long', '--include', long]), 'INVALID_PATTERN', 2);
    expect(expectError(await run(['find', '/long', '--name', long]), 'INVALID_PATTERN', 2)).toMatchObject({ reason: 'too_large' });
    expect(expectError(await run(['find', '/long', '--glob', '{a,b}'.repeat(20_000)]), 'INVALID_PATTERN', 2)).toMatchObject({ reason: 'too_large' });
  });

  it('prints a grep longer than the longest string V8 makes (2^29 - 24 characters) as it goes, in path then line order; --limit stops it', async () => {
    // 530 names of one content of 256 lines of 4,096 characters: 560 M characters of output. It
    // was joined into one string, which failed INTERNAL "Invalid string length" with no output.
    const line = (i: number) => `match ${String(i).padStart(3, '0')} `.padEnd(4096, 'x');
    const content = Array.from({ length: 256 }, (_, i) => line(i) + '\n').join('');
    const names = Array.from({ length: 530 }, (_, i) => `/big/f${String(i).padStart(3, '0')}.txt`);
    const store = openStore(h.home);
    try {
      const fs = new VaultFs(store, 'default', { source: 'sdk' });
      store.mutate(() => {
        fs.writeFile(names[0]!, content, { parents: true });
        for (const name of names.slice(1)) fs.cp(names[0]!, name);
      });
    } finally {
      store.release();
    }
    // Each line printed: name:number:text (all ASCII).
    const expected = names.flatMap((name) => Array.from({ length: 256 }, (_, i) => `${name}:${i + 1}:`.length + 4096 + 1)).reduce((a, b) => a + b);
    expect(expected).toBeGreaterThan(2 ** 29);
    // What reaches the reader, read as it comes: its size and every line's name and number, in order.
    const child = execa('node', [BIN, 'grep', '-n', '^match', '/big'], { env: { AVFS_HOME: h.home }, buffer: false, reject: false });
    let bytes = 0;
    let partial = '';
    const seen: string[] = [];
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      bytes += Buffer.byteLength(text);
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        const [name, number, rest] = l.split(':', 3);
        expect(rest).toBe(line(Number(number) - 1));
        seen.push(`${name}:${number}`);
      }
    });
    let stderr = '';
    child.stderr!.on('data', (text: Buffer) => (stderr += text));
    const done = await child;
    expect(stderr).toBe('');
    expect(done.exitCode).toBe(0);
    expect(partial).toBe('');
    expect(bytes).toBe(expected);
    expect(seen).toEqual(names.flatMap((name) => Array.from({ length: 256 }, (_, i) => `${name}:${i + 1}`)));
    const limited = await run(['grep', '-n', '^match', '/big', '--limit', '300'], { raw: true });
    expect(limited.code).toBe(0);
    expect(limited.stdout.split('\n').map((l) => l.slice(0, l.indexOf(':', l.indexOf(':') + 1)))).toEqual([
      ...Array.from({ length: 256 }, (_, i) => `${names[0]}:${i + 1}`),
      ...Array.from({ length: 44 }, (_, i) => `${names[1]}:${i + 1}`),
    ]);
    expect(limited.stderr).toContain('stopped at --limit');
    expect(expectOk(await run(['grep', '^match', '/big', '--limit', '300']))).toMatchObject({ count: 300, truncated: true, files: [names[0], names[1]] });
    expectOk(await run(['rm', '-r', '/big']));
  });

  it('human output: path:line:text with -n', async () => {
    const r = await run(['grep', '-n', 'TODO', '/g/b.md'], { raw: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('/g/b.md:1:TODO: docs'); // execa strips the final newline
  });
});

describe('find, tags and metadata through the CLI', () => {
  beforeAll(async () => {
    expectOk(await run(['vault', 'create', 'f']));
    const w = (path: string, content: string) => run(['--vault', 'f', 'write', '-p', path, content]).then(expectOk);
    await w('/src/app.ts', 'x'.repeat(3000));
    await w('/src/lib/util.ts', 'small');
    await w('/README.md', 'readme');
  });
  const f = (args: string[]) => run(['--vault', 'f', ...args]);
  const found = async (args: string[]) => (expectOk(await f(['find', ...args])).entries as Array<{ path: string }>).map((e) => e.path);

  it('filters by name, glob, type, size, time and depth, with a limit', async () => {
    expect(await found(['--name', '*.ts'])).toEqual(['/src/app.ts', '/src/lib/util.ts']);
    expect(await found(['--iname', 'readme.MD'])).toEqual(['/README.md']);
    expect(await found(['--glob', '/src/**/*.ts', '--type', 'f'])).toEqual(['/src/app.ts', '/src/lib/util.ts']);
    expect(await found(['/src', '--glob', 'lib/*'])).toEqual(['/src/lib/util.ts']);
    expect(await found(['--type', 'd'])).toEqual(['/src', '/src/lib']);
    // The names entries carry in the JSON (and MCP's find takes) work too.
    expect(await found(['--type', 'directory'])).toEqual(['/src', '/src/lib']);
    expect(await found(['--glob', '/src/**/*.ts', '--type', 'file'])).toEqual(['/src/app.ts', '/src/lib/util.ts']);
    expect(await found(['--type', 'f', '--min-size', '1KB'])).toEqual(['/src/app.ts']);
    expect(await found(['--type', 'f', '--max-size', '1KiB'])).toEqual(['/README.md', '/src/lib/util.ts']);
    expect(await found(['--newer', '1h', '--type', 'f'])).toHaveLength(3);
    expect(await found(['--newer', '2999-01-01'])).toEqual([]);
    expect(await found(['--depth', '1'])).toEqual(['/README.md', '/src']);
    const limited = expectOk(await f(['find', '-n', '2']));
    expect(limited).toMatchObject({ vault: 'f', path: '/', count: 2, truncated: true });
    expect(limited.entries[0]).toMatchObject({ path: '/README.md', name: 'README.md', type: 'file', size: 6 });
  });

  it('rejects bad filter values with exit 2 (a size, time or --meta the option cannot take is USAGE, as other option values)', async () => {
    expect(expectError(await f(['find', '--min-size', 'huge']), 'USAGE', 2).option).toBe('min-size');
    expect(expectError(await f(['find', '--max-size', '-1K']), 'USAGE', 2).option).toBe('max-size');
    expect(expectError(await f(['find', '--newer', 'yesterday']), 'USAGE', 2).option).toBe('newer');
    expect(expectError(await f(['find', '--meta', 'k=v', '--meta', '=v']), 'USAGE', 2).message).toMatch(/^invalid option --meta value 2 "=v": /);
    expectError(await f(['find', '--type', 'x']), 'USAGE', 2);
    expectError(await f(['find', '--name', 'a/b']), 'INVALID_ARGUMENT', 2);
    expectError(await f(['find', '--name', '[z-a]']), 'INVALID_PATTERN', 2);
    expect(await found(['--name', '[[:lower:]]*.[[:alpha:]][[:alpha:]]'])).toEqual(['/src/app.ts', '/src/lib/util.ts']);
    expectError(await f(['find', '--tag', 'bad tag']), 'INVALID_NAME', 2);
  });

  it('tags and metadata: set, query with find, follow mv, copied by cp, kept by forks', async () => {
    expect(expectOk(await f(['tag', '/src/app.ts', 'todo', 'area:api']))).toEqual({ ok: true, vault: 'f', path: '/src/app.ts', tags: ['area:api', 'todo'], added: ['todo', 'area:api'] });
    expectOk(await f(['tag', '/src/lib', 'todo']));
    expect(expectOk(await f(['meta', '/src/app.ts', 'owner', 'alice']))).toMatchObject({ action: 'set', key: 'owner', value: 'alice', meta: { owner: 'alice' } });
    expect(expectOk(await f(['meta', '/src/app.ts', 'owner']))).toMatchObject({ action: 'get', value: 'alice' });
    expect(expectOk(await f(['meta', '/src/app.ts', 'missing']))).toMatchObject({ action: 'get', value: null });
    expect(await found(['--tag', 'todo'])).toEqual(['/src/app.ts', '/src/lib']);
    expect(await found(['--tag', 'todo', '--type', 'f', '--meta', 'owner=alice'])).toEqual(['/src/app.ts']);
    expect(await found(['--meta', 'owner=bob'])).toEqual([]);
    expect(expectOk(await f(['tags']))).toEqual({ ok: true, vault: 'f', path: null, tags: ['area:api', 'todo'], counts: { 'area:api': 1, todo: 2 } });

    expectOk(await f(['mv', '/src', '/code']));
    expect(expectOk(await f(['tags', '/code/app.ts'])).tags).toEqual(['area:api', 'todo']);
    expect(expectOk(await f(['meta', '/code/app.ts'])).meta).toEqual({ owner: 'alice' });
    expect(await found(['--tag', 'todo'])).toEqual(['/code/app.ts', '/code/lib']);
    expectOk(await f(['cp', '/code/app.ts', '/copy.ts']));
    expect(expectOk(await f(['tags', '/copy.ts'])).tags).toEqual(['area:api', 'todo']);

    expectOk(await run(['vault', 'fork', 'f', 'f2']));
    expect(expectOk(await run(['--vault', 'f2', 'tags', '/code/app.ts'])).tags).toEqual(['area:api', 'todo']);
    expect(expectOk(await run(['--vault', 'f2', 'untag', '/code/app.ts', 'todo']))).toMatchObject({ tags: ['area:api'], removed: ['todo'] });
    expect(expectOk(await f(['tags', '/code/app.ts'])).tags).toEqual(['area:api', 'todo']);

    expect(expectOk(await f(['meta', '/code/app.ts', '--delete']))).toMatchObject({ action: 'delete', deleted: ['owner'], meta: {} });
  });

  it('errors: missing path NOT_FOUND, bad names INVALID_NAME, --delete with a value USAGE', async () => {
    expectError(await f(['tag', '/nope', 'x']), 'NOT_FOUND', 3);
    expectError(await f(['tags', '/nope']), 'NOT_FOUND', 3);
    expectError(await f(['meta', '/nope', 'k', 'v']), 'NOT_FOUND', 3);
    expectError(await f(['tag', '/README.md', '-bad']), 'USAGE', 2); // commander: unknown option
    expectError(await f(['tag', '/README.md', 'has space']), 'INVALID_NAME', 2);
    expectError(await f(['meta', '/README.md', '9key', 'v']), 'INVALID_NAME', 2);
    expectError(await f(['meta', '/README.md', 'k', 'v', '--delete']), 'USAGE', 2);
  });
});
