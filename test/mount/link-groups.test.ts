import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ATTR_TIMEOUT_S } from '../../src/mount/op-context.js';
import { describeMount, mountFixture, shOk, type MountFixture } from './helpers.js';

/**
 * One file with hundreds of names made through the mount (a loop of `ln`, as a tester ran it
 * through proxy exec): every name reports the inode, the count and the content, before and after
 * half of them are removed. Counts through another name are current once the kernel's attribute
 * cache has expired (ARCHITECTURE.md, "Hard links through the mount"), so the test waits that long.
 */
const settle = () => new Promise((r) => setTimeout(r, ATTR_TIMEOUT_S * 1000 + 300));

/** `inode links content` of each name below `dir`, one line each, counted: {line: how many names}. */
async function namesByState(dir: string): Promise<Record<string, number>> {
  const out = await shOk(`cd ${dir} && for f in h*; do printf '%s %s\\n' "$(stat -c '%i %h' "$f")" "$(cat "$f")"; done`, { timeout: 120_000 });
  const counts: Record<string, number> = {};
  for (const line of out.trim().split('\n')) counts[line] = (counts[line] ?? 0) + 1;
  return counts;
}

describeMount('an inode with hundreds of names in a mounted vault', () => {
  let fx: MountFixture;
  beforeAll(async () => {
    fx = await mountFixture();
  });
  afterAll(async () => fx?.cleanup());

  it('300 links by ln, then 150 of them removed: every name shows the inode, the count and the content', async () => {
    const dir = join(fx.dir, 'group');
    mkdirSync(dir);
    await shOk(`cd ${dir} && echo x > h0 && for i in $(seq 300); do ln h0 h$i; done`, { timeout: 300_000 });
    await settle();
    const ino = (await shOk(`stat -c %i ${dir}/h0`)).trim();
    expect(await namesByState(dir)).toEqual({ [`${ino} 301 x`]: 301 });
    await shOk(`cd ${dir} && for i in $(seq 150); do rm h$i; done`, { timeout: 300_000 });
    await settle();
    expect(await namesByState(dir)).toEqual({ [`${ino} 151 x`]: 151 });
  }, 600_000);
});
