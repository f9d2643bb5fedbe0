import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { openStore } from '../../src/store/store.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { avfs, tempDir } from '../helpers.js';
import { describeModes, seedHome, setVaultPolicy } from './helpers.js';

/**
 * Hard links through `proxy exec` (issue 13 item 16): copy mode exports the vault into a host
 * directory and imports what the command changed, so a linked pair must come back linked and
 * unchanged when the command did not touch it; mount mode runs the command on the mount itself.
 */

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => (tmp = tempDir('avfs-links-proxy-')));
afterAll(() => tmp.cleanup());

let homes = 0;
/** A home whose vault holds /a and /d/b, two names of one inode, and a lone /c. */
function linkedHome(): string {
  const home = seedHome(join(tmp.dir, `home-${++homes}`), { '/a': 'shared\n', '/c': 'lone\n', '/d/': '' }, (fs) => fs.link('/a', '/d/b'));
  setVaultPolicy(home, { extends: 'none' });
  return home;
}

/** path → [ino, nlink, content] of every file in the vault. */
function vaultFiles(home: string): Record<string, [number, number, string]> {
  const store = openStore(home);
  try {
    const fs = new VaultFs(store, 'default', { source: 'cli' });
    return Object.fromEntries(fs.walk('/').filter((e) => e.type === 'f').map((e) => [e.path, [e.ino, e.nlink, fs.readFile(e.path).toString()]]));
  } finally {
    store.release();
  }
}

async function exec(home: string, mode: string, shell: string) {
  const r = await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', shell]);
  expect(r.json?.ok, `${r.stdout}\n${r.stderr}`).toBe(true);
  return { changed: (r.json.changed_files as { path: string; kind: string }[]).map((c) => `${c.kind} ${c.path}`).sort(), json: r.json };
}

describeModes('hard links through proxy exec', (mode) => {
  it('a linked pair the command does not touch comes back unchanged, linked, and unreported', async () => {
    const home = linkedHome();
    const before = vaultFiles(home);
    expect(before['/a']![1]).toBe(2);
    // The command sees the two names as one inode too.
    const r = await exec(home, mode, `stat -c '%h' /a /d/b && [ "$(stat -c %i /a)" = "$(stat -c %i /d/b)" ] && echo same && echo new > /new.txt`);
    expect(r.json.stdout).toBe('2\n2\nsame\n');
    expect(r.changed).toEqual(['added /new.txt']);
    const after = vaultFiles(home);
    expect({ a: after['/a'], b: after['/d/b'], c: after['/c'] }).toEqual({ a: before['/a'], b: before['/d/b'], c: before['/c'] });
  });

  it('a write through one name changes both names, which stay one inode', async () => {
    const home = linkedHome();
    const ino = vaultFiles(home)['/a']![0];
    const r = await exec(home, mode, `printf 'through b\\n' >> /d/b && cat /a`);
    expect(r.json.stdout).toBe('shared\nthrough b\n');
    expect(r.changed).toEqual(['modified /a', 'modified /d/b']);
    const after = vaultFiles(home);
    expect(after['/a']).toEqual([ino, 2, 'shared\nthrough b\n']);
    expect(after['/d/b']).toEqual([ino, 2, 'shared\nthrough b\n']);
    // The other name read (its size cached) before the write shows the write at once, as on a disk;
    // two appenders through the two names keep every line whole.
    const again = await exec(home, mode, `cat /a > /dev/null; echo W >> /d/b; tail -n 1 /a; stat -c %s /a`);
    expect(again.json.stdout).toBe('W\n19\n');
    const lines = await exec(home, mode, `for i in $(seq 300); do echo "a-line-$i-aaaaaaaaaaaaaaaa"; done >> /a & for i in $(seq 300); do echo "b-line-$i-bbbbbbbbbbbbbbbb"; done >> /d/b; wait; grep -cvE '^(shared|through b|W|[ab]-line-[0-9]+-(a|b){16})$' /a || true`);
    expect(lines.json.stdout).toBe('0\n');
  });

  it('links made and broken by the command are the vault\'s links afterwards', async () => {
    const home = linkedHome();
    const ino = vaultFiles(home)['/a']![0];
    // A new name for the pair; the lone file gets a partner; b leaves the pair (same bytes, new
    // inode), which is a change of b's (sandbox round: it went unreported, and undo left it out).
    const r = await exec(home, mode, `ln /a /e && ln /c /c2 && cp /d/b /t && mv /t /d/b`);
    expect(r.changed).toEqual(['added /c2', 'added /e', 'modified /d/b']);
    const after = vaultFiles(home);
    expect(after['/a']).toEqual([ino, 2, 'shared\n']);
    expect(after['/e']).toEqual([ino, 2, 'shared\n']);
    expect(after['/d/b']![1]).toBe(1);
    expect(after['/d/b']![0]).not.toBe(ino);
    expect(after['/c2']![0]).toBe(after['/c']![0]);
    expect([after['/c']![1], after['/c2']![1]]).toEqual([2, 2]);
  });

  it('proxy undo of a rename or removal of one name of a linked pair puts the name back, linked again', async () => {
    const home = linkedHome();
    const before = vaultFiles(home);
    // The last three point a name at another file (a lone one, or the pair), which must keep its own bytes.
    for (const shell of ['mv /a /a2', 'rm /d/b', 'mv /d/b /b2 && rm /a', 'mv /d/b /c', 'ln -f /c /a', 'mv /c /a']) {
      const run = await avfs(home, ['proxy', 'exec', '--mode', mode, '--checkpoint', '--shell', shell]);
      expect(run.json?.ok, run.stdout).toBe(true);
      // Its undo records versions for the exec after it ended, the other name's link count among them.
      const undo = await avfs(home, ['proxy', 'undo', run.json.exec_id]);
      expect([shell, undo.json?.ok, undo.stdout]).toEqual([shell, true, expect.any(String)]);
      const after = vaultFiles(home);
      expect([shell, Object.keys(after).sort()]).toEqual([shell, Object.keys(before).sort()]);
      // One inode again (the original one where a name still held it), two names, the same bytes.
      expect([shell, after['/a']![0] === after['/d/b']![0], after['/a']![1], after['/d/b']![1], after['/a']![2]]).toEqual([shell, true, 2, 2, 'shared\n']);
      expect([shell, after['/c']![1], after['/c']![2]]).toEqual([shell, 1, 'lone\n']);
    }
  });

  it('a name linked to another file of the same bytes, or taken out of its pair by a copy, is reported and undone (sandbox round)', async () => {
    const home = seedHome(join(tmp.dir, `home-${++homes}`), { '/x': 'same\n', '/y': 'same\n' });
    setVaultPolicy(home, { extends: 'none' });
    const linked = (files: Record<string, [number, number, string]>) => files['/x']![0] === files['/y']![0];
    for (const [shell, wasLinked] of [['ln -f /x /y', false], ['cp /y /t && mv /t /y', true]] as const) {
      expect([shell, linked(vaultFiles(home))]).toEqual([shell, wasLinked]);
      const run = await avfs(home, ['proxy', 'exec', '--mode', mode, '--checkpoint', '--shell', shell]);
      expect(run.json?.ok, run.stdout).toBe(true);
      expect([shell, run.json.changed_files.map((c: { path: string; kind: string }) => `${c.kind} ${c.path}`)]).toEqual([shell, ['modified /y']]);
      expect([shell, linked(vaultFiles(home))]).toEqual([shell, !wasLinked]);
      const undo = await avfs(home, ['proxy', 'undo', run.json.exec_id]);
      expect([shell, undo.json?.ok, undo.json?.changed_files?.length]).toEqual([shell, true, 1]);
      expect([shell, linked(vaultFiles(home))]).toEqual([shell, wasLinked]);
      // Linked the way it was: the first run's undo made the pair the second run breaks.
      if (!wasLinked) expect((await avfs(home, ['proxy', 'exec', '--mode', mode, '--shell', 'ln -f /x /y'])).json?.ok).toBe(true);
    }
  });
});
