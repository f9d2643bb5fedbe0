import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeMount, mountFixture, sh, shOk, type MountFixture } from '../mount/helpers.js';

/**
 * Quota through a real FUSE mount: a tool writing into the mounted vault gets EDQUOT ("Disk
 * quota exceeded") and the vault (files and history, as the CLI sees them) is unchanged. A write
 * request that is refused changes nothing; requests the kernel already completed before it stand,
 * as on any filesystem (so the over-quota writes below are single requests). max_bytes through the
 * mount is covered in test/mount/lifecycle.test.ts.
 */
describeMount('quota through the mount', () => {
  let m: MountFixture;
  const state = async () => {
    const tree = await m.run(['tree']);
    const stats = await m.run(['stats']);
    expect(tree.json?.ok, tree.stdout + tree.stderr).toBe(true);
    return JSON.stringify({ tree: tree.json.tree, versions: stats.json.versions });
  };

  beforeAll(async () => {
    m = await mountFixture({
      prepare: async (run) => {
        expect((await run(['write', '/a.txt', 'original'])).json.ok).toBe(true);
        expect((await run(['mkdir', '/d1'])).json.ok).toBe(true);
        expect((await run(['quota', 'set', '--max-files', '3', '--max-file-size', '100KB'])).json.ok).toBe(true);
      },
    });
  });
  afterAll(async () => {
    await m?.cleanup();
  });

  it('max_file_size: a write past 100 KB fails with EDQUOT and changes nothing', async () => {
    const before = await state();
    const r = await sh(`dd if=/dev/zero bs=131072 count=1 conv=notrunc of=${m.dir}/a.txt`); // one 128 KiB request
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/quota exceeded/i);
    expect((await m.run(['cat', '/a.txt'])).json.content).toBe('original');
    expect(await state()).toBe(before);
    await shOk(`dd if=/dev/zero bs=65536 count=1 conv=notrunc of=${m.dir}/a.txt`); // under the limit: fine
    expect((await m.run(['ls', '-l', '/a.txt'])).json.entries[0].size).toBe(65_536);
  });

  it('max_files: mkdir and symlink past the limit fail with EDQUOT and change nothing', async () => {
    await shOk(`mkdir ${m.dir}/d2`); // 3 entries: a.txt, d1, d2
    const before = await state();
    for (const cmd of [`mkdir ${m.dir}/d3`, `mkdir ${m.dir}/d1/sub`, `ln -s a.txt ${m.dir}/link`]) {
      const r = await sh(cmd);
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(/quota exceeded/i);
    }
    expect(await state()).toBe(before);
  });

  // A new file is stored on close, whose errors `touch` and shell redirections ignore, so the
  // mount must refuse the create itself (EDQUOT at open) or the file would silently vanish.
  it('max_files: creating a new file past the limit fails with EDQUOT at create', async () => {
    const before = await state();
    for (const cmd of [`touch ${m.dir}/d1/new`, `echo hi > ${m.dir}/new.txt`]) {
      const r = await sh(cmd);
      expect(r.code, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(/quota exceeded/i);
    }
    expect(await state()).toBe(before);
  });
});
