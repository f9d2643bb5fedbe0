import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { avfs, tempDir } from '../helpers.js';
import { describeSandbox, seedHome, skipMountTests, vaultTree } from './helpers.js';

/**
 * A vault tree deeper than PATH_MAX below the copy's directory, through copy mode. Inside the
 * sandbox the vault is the root, so a path of ~4,074 bytes is legal there; below the host copy's
 * directory it is past PATH_MAX. The export failed (INVALID_PATH, "0 of N entries were
 * exported"), so one run that made such a tree ended copy mode for the vault.
 */

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** 194 names of 20 bytes: a vault path of 4,074 bytes, as the tester's `mkdir -p` made it. */
const NAME = 'a'.repeat(20);
const DEEP = `/${NAME}`.repeat(194);
const MAKE_DEEP = `d=.; for i in $(seq 194); do d=$d/${NAME}; done; mkdir -p $d`;

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('avfs-proxy-deep-');
});
afterAll(() => tmp.cleanup());
let homes = 0;

const copyExec = async (home: string, shell: string) => {
  const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', shell]);
  expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
  expect(r.json.exit_code, r.json.stderr).toBe(0);
  return r.json;
};

describeSandbox('a vault tree deeper than PATH_MAX below the copy, in copy mode', () => {
  it.skipIf(skipMountTests('a deep tree made in mount mode'))('a deep tree made by a mount-mode run does not stop copy-mode runs (the tester\'s repro)', async () => {
    const home = seedHome(join(tmp.dir, `home-${++homes}`), { '/a.txt': 'a\n' });
    const made = await avfs(home, ['proxy', 'exec', '--', 'sh', '-c', MAKE_DEEP]);
    expect(made.json?.ok, made.stdout + made.stderr).toBe(true);
    expect(made.json.mode).toBe('mount');
    expect(vaultTree(home)[DEEP]?.type).toBe('d');

    const r = await copyExec(home, 'true');
    expect(r.changed_files).toEqual([]);
    expect(r.skipped).toEqual([]);
    expect(vaultTree(home)[DEEP]?.type).toBe('d');
  });

  it('the command sees the deep tree as the vault holds it, and what it changes there is imported; the rest of the tree stays', async () => {
    const home = seedHome(join(tmp.dir, `home-${++homes}`), { [`${DEEP}/old.txt`]: 'old\n', [`${DEEP}/gone.txt`]: 'gone\n' }, (fs) => {
      fs.symlink('old.txt', `${DEEP}/link`);
      fs.link(`${DEEP}/old.txt`, `${DEEP}/twin.txt`);
      fs.mknod(`${DEEP}/fifo`, 'p', 0o600);
    });
    const before = vaultTree(home);
    // The absolute path inside the sandbox is under PATH_MAX: the command reaches it directly.
    const r = await copyExec(home, `cd .${DEEP} && cat old.txt && readlink link && test -p fifo && echo fifo && echo new > new.txt && echo changed > twin.txt && rm gone.txt`);
    expect(r.stdout).toBe('old\nold.txt\nfifo\n');
    expect(r.skipped).toEqual([]);
    expect(r.changed_files.map((c: any) => [c.path, c.kind])).toEqual([
      [`${DEEP}/gone.txt`, 'deleted'],
      [`${DEEP}/new.txt`, 'added'],
      [`${DEEP}/old.txt`, 'modified'],
      [`${DEEP}/twin.txt`, 'modified'],
    ]);
    const after = vaultTree(home);
    expect(after[`${DEEP}/new.txt`]).toMatchObject({ type: 'f', hash: sha('new\n') });
    // The export made the two names one host inode: the change through one name shows in the other.
    expect(after[`${DEEP}/old.txt`]).toMatchObject({ type: 'f', hash: sha('changed\n') });
    expect(after[`${DEEP}/twin.txt`]).toMatchObject({ type: 'f', hash: sha('changed\n') });
    expect(after[`${DEEP}/gone.txt`]).toBeUndefined();
    // Every directory above it, the link and the FIFO are as they were.
    for (const path of Object.keys(before)) {
      if (path === '/' || /\/(gone|old|twin)\.txt$/.test(path)) continue;
      expect(after[path], path).toEqual(before[path]);
    }
  });
});
