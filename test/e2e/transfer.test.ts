import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { avfs, BIN, expectError, expectOk, tempDir } from '../helpers.js';

let tmp: { dir: string; cleanup: () => void };
let home: string;
const run = (args: string[], opts: Parameters<typeof avfs>[2] = {}) => avfs(home, args, opts);
/** A host path whose last name is raw bytes (not necessarily UTF-8). */
const rawPath = (dir: string, name: number[]) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);
const bytes = (s: string) => [...Buffer.from(s, 'latin1')];
const vaultNames = async (path = '/') => (expectOk(await run(['ls', path])).entries as { name: string }[]).map((e) => e.name);

beforeEach(() => {
  tmp = tempDir();
  home = join(tmp.dir, 'home');
});
afterEach(() => tmp.cleanup());

describe('import of host names that are not UTF-8', () => {
  it('refuses the whole import with INVALID_PATH listing the names as \\x escapes; a real U+FFFD name is never merged with them', async () => {
    const src = join(tmp.dir, 'src');
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
    const alone = join(tmp.dir, 'alone');
    mkdirSync(alone);
    writeFileSync(join(alone, 'a\uFFFD'), 'a real replacement character');
    expectOk(await run(['import', alone, '/proj']));
    expect(expectOk(await run(['cat', '/proj/a\uFFFD'])).content).toBe('a real replacement character');
    expect(await vaultNames('/proj')).toEqual(['a\uFFFD']);
  });

  it('a lone caf\\xe9.txt (in a directory, or named directly) is INVALID_PATH, not NOT_FOUND', async () => {
    const src = join(tmp.dir, 'src');
    mkdirSync(src);
    writeFileSync(rawPath(src, bytes('caf\xe9.txt')), 'menu');
    const err = expectError(await run(['import', src, '/']), 'INVALID_PATH', 2);
    expect(err.names).toEqual([`${src}/caf\\xe9.txt`]);

    // Named on the command line, the bytes reach avfs only through the shell (argv is not UTF-8).
    const direct = await execa('bash', ['-c', `exec node "$0" --json import "$1"$'/caf\\xe9.txt' /`, BIN, src], {
      env: { AVFS_HOME: home, AVFS_VAULT: '' },
      reject: false,
    });
    const doc = JSON.parse(direct.stdout);
    expect(doc.error.code).toBe('INVALID_PATH');
    expect(doc.error.names).toEqual([`${src}/caf\\xe9.txt`]);
    expect(direct.exitCode).toBe(2);
    expect(await vaultNames()).toEqual([]);
  });

  it('a symlink whose target is not UTF-8 is refused the same way', async () => {
    const src = join(tmp.dir, 'src');
    mkdirSync(src);
    symlinkSync(Buffer.from([...bytes('t'), 0xe9]), join(src, 'link'));
    const err = expectError(await run(['import', src, '/']), 'INVALID_PATH', 2);
    expect(err.names).toEqual([`${src}/link`]);
  });
});
