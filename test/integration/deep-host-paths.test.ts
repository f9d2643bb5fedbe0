import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { atHostPath } from '../../src/store/deep-host-paths.js';
import { removeHostTree } from '../../src/store/host-dirs.js';
import { tempDir } from '../helpers.js';

/** deep-host-paths.ts: a host path of any length, reached through descriptors of its directories. */
let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  removeHostTree(tmp.dir); // deeper than rmSync can name
  tmp.cleanup();
});

/** 40 names of 250 bytes below `dir` (over 10,000 bytes: more than one piece past PATH_MAX). */
const deepDir = (dir: string) => {
  execFileSync('python3', ['-c', 'import os, sys\nos.chdir(sys.argv[1])\nfor i in range(40):\n  os.mkdir("d" * 250); os.chdir("d" * 250)', dir]);
  return dir + `/${'d'.repeat(250)}`.repeat(40);
};

describe('atHostPath', () => {
  it('writes, reads and lstats a file whose path is far past PATH_MAX, as a string or as bytes', () => {
    const file = join(deepDir(tmp.dir), 'f');
    expect(() => writeFileSync(file, 'x')).toThrow(/ENAMETOOLONG/);
    atHostPath(file, (at) => writeFileSync(at, 'deep'));
    expect(atHostPath(Buffer.from(file), (at) => readFileSync(at, 'utf8'))).toBe('deep');
    expect(atHostPath(file, (at) => lstatSync(at).size)).toBe(4);
  });

  it('passes a short path through as it is, and names the long path in an error, not the descriptor path', () => {
    const short = join(tmp.dir, 'short');
    expect(atHostPath(short, (at) => at)).toBe(short);
    const missing = join(deepDir(tmp.dir), 'missing');
    let err: NodeJS.ErrnoException | undefined;
    try {
      atHostPath(missing, (at) => lstatSync(at));
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toMatchObject({ code: 'ENOENT', path: missing });
  });
});
