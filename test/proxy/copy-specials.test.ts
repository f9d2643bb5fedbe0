import { afterEach, beforeEach, expect, it } from 'vitest';
import { join } from 'node:path';
import { avfs, tempDir } from '../helpers.js';
import { describeSandbox, seedHome, vaultTree } from './helpers.js';

/**
 * Special files (FIFOs, sockets, devices) through a copy-mode exec: the copy holds what the host
 * can (FIFOs; devices as root), the command sees them, and what it does not touch comes back
 * unchanged and unreported. A socket cannot be exported, so its absence from the copy is not a
 * deletion.
 */

let tmp: { dir: string; cleanup: () => void };
let home: string;
beforeEach(() => {
  tmp = tempDir();
  home = seedHome(join(tmp.dir, 'home'), { '/a.txt': 'a\n' }, (fs) => {
    fs.mknod('/fifo', 'p', 0o644);
    fs.mknod('/sock', 's', 0o755);
    if (process.getuid?.() === 0) fs.mknod('/null', 'c', 0o666, (1 << 8) | 3);
  });
});
afterEach(() => tmp.cleanup());

const exec = async (shell: string) => {
  const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--shell', shell]);
  expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
  return r.json;
};
const changes = (r: { changed_files: { path: string; kind: string }[] }) => r.changed_files.map((c) => [c.path, c.kind]);

describeSandbox('special files through a copy-mode exec', () => {
  it('are left as they are by a command that does not touch them, and the command sees the FIFO', async () => {
    const before = vaultTree(home);
    const r = await exec('test -p fifo && echo fifo-seen; echo b > b.txt');
    expect(r.stdout).toBe('fifo-seen\n');
    expect(changes(r)).toEqual([['/b.txt', 'added']]);
    const after = vaultTree(home);
    delete after['/b.txt'];
    delete after['/'];
    delete before['/'];
    expect(after).toEqual(before);
  });

  it('a FIFO the command removes is deleted; one it makes is added as a FIFO', async () => {
    const r = await exec('rm fifo; mkfifo made');
    expect(changes(r)).toEqual([['/fifo', 'deleted'], ['/made', 'added']]);
    const tree = vaultTree(home);
    expect(tree['/fifo']).toBeUndefined();
    expect(tree['/made']?.type).toBe('p');
    expect(tree['/sock']?.type).toBe('s');
  });
});
