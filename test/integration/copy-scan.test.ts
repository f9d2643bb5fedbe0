import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { VaultFs } from '../../src/store/vault-fs.js';
import { copyParent, dispose, materialize, syncBack } from '../../src/proxy/copy.js';
import { openTempStore, tempDir } from '../helpers.js';

/** Copy mode's scan of the copy (store/host-tree.ts, the walk import uses too), seen through syncBack. */
let fs: VaultFs;
let close: () => void;
let parent: { dir: string; cleanup: () => void };
beforeEach(() => {
  ({ fs, close } = openTempStore());
  parent = tempDir();
});
afterEach(() => {
  close();
  parent.cleanup();
});

describe('copy mode scan', () => {
  it('imports what the command changed, parents first, and leaves a name that is not UTF-8 out (reported), not failing the run', () => {
    fs.writeFile('/a', 'a');
    fs.mkdir('/d');
    const session = materialize(fs, parent.dir);
    try {
      writeFileSync(Buffer.concat([Buffer.from(join(session.root, 'bad-')), Buffer.from([0xff])]), 'x');
      mkdirSync(join(session.root, 'd', 'e'));
      writeFileSync(join(session.root, 'd', 'e', 'f'), 'f');
      const summary = syncBack(fs, session);
      expect(summary.skipped).toEqual([{ path: '/bad-\\xff', reason: 'name is not valid UTF-8' }]);
      expect(summary.added).toBe(2);
      expect(fs.walk('/').map((e) => e.path)).toEqual(['/a', '/d', '/d/e', '/d/e/f']);
    } finally {
      dispose(session);
    }
  });

  it('removes a copy deeper than the JS stack and than PATH_MAX (a command can make one with relative paths)', () => {
    fs.writeFile('/a', 'a');
    // On tmpfs where there is one: removing thousands of levels from a disk takes seconds (rm -rf too).
    const shm = tempDir('avfs-copy-deep-', copyParent(0));
    const session = materialize(fs, shm.dir);
    onTestFinished(shm.cleanup);
    // 1,900 levels (paths under PATH_MAX) overflowed Node's recursive rmSync; 17 names of 250 bytes pass PATH_MAX.
    const make = 'import os, sys\nfor name, n in (("d", 1900), ("l" * 250, 17)):\n  os.chdir(sys.argv[1])\n  for i in range(n):\n    os.mkdir(name); os.chdir(name)\n  open("f", "w").write("x")';
    execFileSync('python3', ['-c', make, session.root]);
    dispose(session);
    expect(existsSync(session.base)).toBe(false);
  });

  it('imports a tree whose host paths pass PATH_MAX, down to its last file', () => {
    const session = materialize(fs, parent.dir);
    try {
      // 17 names of 250 bytes: the last one's path is over 4,096 bytes (it was left out, reported).
      execFileSync('python3', ['-c', 'import os, sys\nos.chdir(sys.argv[1])\nfor i in range(17):\n  os.mkdir("d" * 250); os.chdir("d" * 250)\nopen("f", "w").write("x")', session.root]);
      writeFileSync(join(session.root, 'b'), 'b');
      const summary = syncBack(fs, session);
      expect(summary.skipped).toEqual([]);
      expect(fs.readFile(`${`/${'d'.repeat(250)}`.repeat(17)}/f`).toString()).toBe('x');
      expect(fs.readFile('/b').toString()).toBe('b');
    } finally {
      dispose(session);
    }
  });

  it('leaves out a directory whose entries\' vault paths would pass the longest a new entry may have, reported, and imports the rest', () => {
    const session = materialize(fs, parent.dir);
    try {
      // 33 names of 250 bytes: the last one's vault path is 8,283 bytes, over MAX_NEW_PATH_BYTES.
      execFileSync('python3', ['-c', 'import os, sys\nos.chdir(sys.argv[1])\nfor i in range(33):\n  os.mkdir("d" * 250); os.chdir("d" * 250)\nopen("f", "w").write("x")', session.root]);
      writeFileSync(join(session.root, 'b'), 'b');
      const summary = syncBack(fs, session);
      const level32 = `/${'d'.repeat(250)}`.repeat(32);
      expect(summary.skipped).toEqual([{ path: level32, reason: expect.stringMatching(/over 8192 bytes/) }]);
      expect(fs.stat(level32).type).toBe('d');
      expect(fs.readFile('/b').toString()).toBe('b');
    } finally {
      dispose(session);
    }
  });

  it('removes only what the command saw: a name someone else put in a directory it removed or moved stays, with the directory', () => {
    fs.mkdir('/d');
    fs.writeFile('/d/a', 'old');
    fs.mkdir('/r');
    fs.writeFile('/r/a', 'old');
    fs.writeFile('/r/b', 'old');
    const session = materialize(fs, parent.dir);
    try {
      // Meanwhile, someone else writes into both directories (and changes a file the command removes).
      fs.writeFile('/d/new', "person's work");
      fs.mkdir('/r/sub');
      fs.writeFile('/r/sub/new', "person's work");
      fs.writeFile('/r/b', 'changed meanwhile');
      renameSync(join(session.root, 'd'), join(session.root, 'e'));
      rmSync(join(session.root, 'r'), { recursive: true });
      const summary = syncBack(fs, session);
      expect(fs.readFile('/d/new').toString()).toBe("person's work");
      expect(fs.readFile('/r/sub/new').toString()).toBe("person's work");
      expect(fs.walk('/').map((e) => e.path)).toEqual(['/d', '/d/new', '/e', '/e/a', '/r', '/r/sub', '/r/sub/new']);
      // The command's removal of a file it saw wins over a change made meanwhile, as its writes do.
      expect(summary.deleted).toBe(3);
    } finally {
      dispose(session);
    }
  });

  it('keeps a directory someone else filled where the command put a file, and says so', () => {
    fs.mkdir('/d');
    fs.writeFile('/d/a', 'old');
    const session = materialize(fs, parent.dir);
    try {
      fs.writeFile('/d/new', "person's work");
      rmSync(join(session.root, 'd'), { recursive: true });
      writeFileSync(join(session.root, 'd'), 'a file now');
      const summary = syncBack(fs, session);
      expect(fs.readFile('/d/new').toString()).toBe("person's work");
      expect(fs.exists('/d/a')).toBe(false);
      expect(summary.skipped.map((s) => s.path)).toEqual(['/d']);
    } finally {
      dispose(session);
    }
  });

  it('leaves out a file that gained more holes than the bound since the export, before reading it', () => {
    fs.writeFile('/small', 'x');
    const session = materialize(fs, parent.dir);
    try {
      truncateSync(join(session.root, 'small'), 64 * 1024 * 1024);
      writeFileSync(join(session.root, 'new'), '');
      truncateSync(join(session.root, 'new'), 64 * 1024 * 1024);
      writeFileSync(join(session.root, 'ok'), 'ok');
      const summary = syncBack(fs, session, { maxZeroFill: 1024 * 1024 });
      expect(summary.skipped.map((s) => s.path)).toEqual(['/small', '/new']);
      expect(summary.skipped[0]!.reason).toMatch(/holes/);
      expect(summary.hashed).toBe(1);
      expect(fs.readFile('/small').toString()).toBe('x');
      expect(fs.exists('/new')).toBe(false);
      expect(fs.readFile('/ok').toString()).toBe('ok');
    } finally {
      dispose(session);
    }
  });

  it('exports a mostly-zero file with holes, byte for byte', () => {
    const data = Buffer.alloc(16 * 1024 * 1024);
    data.write('head', 0);
    data.write('tail', data.length - 4);
    fs.writeFile('/sparse', data);
    const session = materialize(fs, parent.dir);
    try {
      const st = lstatSync(join(session.root, 'sparse'));
      expect(st.size).toBe(data.length);
      expect(st.blocks * 512).toBeLessThan(4 * 1024 * 1024);
      expect(syncBack(fs, session).hashed).toBe(0);
      expect(execFileSync('cmp', [join(session.root, 'sparse'), '-'], { input: data }).toString()).toBe('');
    } finally {
      dispose(session);
    }
  });
});
