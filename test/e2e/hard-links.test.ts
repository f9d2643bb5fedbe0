import { describe, expect, it } from 'vitest';
import { lstatSync, linkSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { AVFS } from '../../src/sdk/index.js';
import { avfs, expectOk, useTempHome } from '../helpers.js';

/**
 * Hard links through `avfs import` and `avfs export` (issue 13 item 16): host names of one inode
 * become names of one vault inode, and back.
 */

const h = useTempHome('each');
const run = h.run;

/** [ino, nlink] of vault paths (a symlink's own), through the SDK. */
function vaultInodes(...paths: string[]): [number, number][] {
  const sdk = new AVFS({ home: h.home, vault: 'default' });
  try {
    return paths.map((p) => {
      const e = sdk.lstat(p);
      return [e.ino, e.nlink];
    });
  } finally {
    sdk.close();
  }
}

describe('hard links through import and export', () => {
  it('import makes host names of one inode one vault inode; export writes them back as host hard links', async () => {
    const src = join(h.dir, 'src');
    mkdirSync(join(src, 'd'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'shared\n');
    linkSync(join(src, 'a.txt'), join(src, 'd', 'b.txt'));
    linkSync(join(src, 'a.txt'), join(src, 'd', 'c.txt'));
    writeFileSync(join(src, 'lone.txt'), 'alone\n');
    // A link to a file outside the imported tree is just a file inside it.
    writeFileSync(join(h.dir, 'outside.txt'), 'outside\n');
    linkSync(join(h.dir, 'outside.txt'), join(src, 'from-outside.txt'));

    const imported = expectOk(await run(['import', src, '/p']));
    expect(imported).toMatchObject({ files: 5, links: 2, bytes: 'shared\n'.length + 'alone\n'.length + 'outside\n'.length });
    const [a, b, c, lone, outside] = vaultInodes('/p/a.txt', '/p/d/b.txt', '/p/d/c.txt', '/p/lone.txt', '/p/from-outside.txt');
    expect([a![1], b![1], c![1], lone![1], outside![1]]).toEqual([3, 3, 3, 1, 1]);
    expect(new Set([a![0], b![0], c![0]]).size).toBe(1);
    expect(lone![0]).not.toBe(a![0]);

    expectOk(await run(['write', '/p/d/c.txt', 'changed through c\n']));
    expect((await avfs(h.home, ['cat', '/p/a.txt'], { raw: true })).stdout).toBe('changed through c'); // execa strips the last newline

    const out = join(h.dir, 'out');
    const exported = expectOk(await run(['export', '/p', out]));
    expect(exported).toMatchObject({ files: 5, links: 2 });
    const ino = (p: string) => statSync(join(out, p)).ino;
    expect(ino('d/b.txt')).toBe(ino('a.txt'));
    expect(ino('d/c.txt')).toBe(ino('a.txt'));
    expect(statSync(join(out, 'a.txt')).nlink).toBe(3);
    expect(ino('lone.txt')).not.toBe(ino('a.txt'));
    expect(readFileSync(join(out, 'd', 'b.txt'), 'utf8')).toBe('changed through c\n');

    // Exported again over itself: the links are kept, not written through into one another.
    expectOk(await run(['export', '/p', out, '--overwrite']));
    expect(ino('d/b.txt')).toBe(ino('a.txt'));
    expect(statSync(join(out, 'a.txt')).nlink).toBe(3);
  });

  it('keeps hard links between symlinks, FIFOs and (as root) devices too, as tar and cp -a do', async () => {
    const asRoot = process.getuid?.() === 0;
    const src = join(h.dir, 'special');
    mkdirSync(join(src, 'd'), { recursive: true });
    symlinkSync('target', join(src, 'sl'));
    linkSync(join(src, 'sl'), join(src, 'd', 'sl2')); // link(2) does not follow the symlink
    await execa('mkfifo', [join(src, 'ff')]);
    linkSync(join(src, 'ff'), join(src, 'd', 'ff2'));
    if (asRoot) {
      await execa('mknod', [join(src, 'null'), 'c', '1', '3']);
      linkSync(join(src, 'null'), join(src, 'd', 'null2'));
    }
    const pairs: [string, string][] = [['sl', 'd/sl2'], ['ff', 'd/ff2'], ...(asRoot ? [['null', 'd/null2'] as [string, string]] : [])];

    const imported = expectOk(await run(['import', src, '/s']));
    expect(imported).toMatchObject({ symlinks: 2, special: asRoot ? 4 : 2, links: pairs.length });
    for (const [first, second] of pairs) {
      const [a, b] = vaultInodes(`/s/${first}`, `/s/${second}`);
      expect([first, a![0], a![1], b![1]]).toEqual([first, b![0], 2, 2]);
    }

    const out = join(h.dir, 'special-out');
    const exported = expectOk(await run(['export', '/s', out]));
    expect(exported).toMatchObject({ symlinks: 2, links: pairs.length });
    expect(exported.links_copied).toBeUndefined();
    for (const [first, second] of pairs) {
      const [a, b] = [lstatSync(join(out, first)), lstatSync(join(out, second))];
      expect([first, a.ino, a.nlink]).toEqual([first, b.ino, 2]);
    }
    expect(readlinkSync(join(out, 'd', 'sl2'))).toBe('target');
    expect(lstatSync(join(out, 'd', 'ff2')).isFIFO()).toBe(true);

    // Over itself: still one inode per pair, not two.
    expectOk(await run(['export', '/s', out, '--overwrite']));
    for (const [first, second] of pairs) expect(lstatSync(join(out, second)).ino).toBe(lstatSync(join(out, first)).ino);
  });
});

describe('history of a hard-linked file', () => {
  it('checkout and revert of one name count every name they give a new version (they counted one)', async () => {
    const host = join(h.dir, 'linked');
    mkdirSync(host);
    writeFileSync(join(host, 'P1'), 'base\n');
    linkSync(join(host, 'P1'), join(host, 'P2'));
    expectOk(await run(['import', host, '/']));
    expectOk(await run(['write', '/P2', 'add\n']));
    expect(expectOk(await run(['checkout', '/P2', '--version', '1'])).changed_paths).toBe(2);
    expect(expectOk(await run(['cat', '/P1'])).content).toBe('base\n');
    expect(expectOk(await run(['revert', '/P2'])).changed_paths).toBe(2);
    expect(expectOk(await run(['cat', '/P1'])).content).toBe('add\n');
  });
});
