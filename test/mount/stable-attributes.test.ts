import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeMount, mountFixture, sh, shOk, stepScript, type MountFixture } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Longer than the kernel's attribute cache (1 s): a stat after this asks the mount again. */
const PAST_ATTR_CACHE_MS = 1500;
/** Every attribute stat shows of each entry below `dir`, times to the nanosecond, one line each. */
const statAll = (dir: string) => shOk(`cd ${dir} && find . -exec stat -c '%n %F %s %a %i %y %z %x' {} + | sort`);

/**
 * What the kernel is shown of a file must not change unless the file changes. The mount stores
 * a file when it is closed (or released); the attributes the kernel saw before (times set by
 * utimens, the ctime of the last write or chmod) must be the ones stored, and storing it must not
 * move its directory's times either. Otherwise `tar c` right after `tar x` finds most files
 * "changed as we read it" (its lstat comes from the kernel's cache, its fstat after reading from
 * the store).
 */
describeMount('attributes do not move after a file is closed', () => {
  let fx: MountFixture;
  let archive: string;
  beforeAll(async () => {
    fx = await mountFixture();
    // A few hundred files of varied sizes (every seventh empty: those are stored on release, not
    // on close), in nested directories, with times from the past as an archive carries them.
    const src = join(fx.scratch, 'tree');
    await shOk(
      `mkdir -p ${src} && cd ${src} && for d in $(seq 0 7); do mkdir -p d$d/sub; for f in $(seq 0 39); do ` +
        `n=$(( (d * 40 + f) * 613 % 20000 )); [ $(( f % 7 )) = 0 ] && n=0; head -c $n /dev/urandom > d$d/sub/f$f; done; ` +
        `touch -d '2021-03-04 05:06:07.891' d$d/sub/*; touch -d '2020-01-02 03:04:05' d$d/sub d$d; done`,
      { timeout: 120_000 },
    );
    archive = join(fx.scratch, 'tree.tar');
    await shOk(`tar cf ${archive} -C ${src} .`);
  });
  afterAll(async () => fx?.cleanup());

  it('tar c right after tar x of the same tree reports no file changed as it read it', async () => {
    const x = join(fx.dir, 'x');
    const r = await sh(`mkdir ${x} && tar xf ${archive} -C ${x} && tar cf ${fx.scratch}/again.tar -C ${x} .`, { timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // What was extracted is what was archived: contents, sizes, modes, mtimes.
    await shOk(`tar df ${archive} -C ${x}`, { timeout: 120_000 });
  });

  it('stat of an extracted tree shows the same attributes before and after the attribute cache expires', async () => {
    const y = join(fx.dir, 'y');
    await shOk(`mkdir ${y} && tar xf ${archive} -C ${y}`, { timeout: 120_000 });
    const seen = await statAll(y);
    await sleep(PAST_ATTR_CACHE_MS);
    const stored = await statAll(y);
    expect(stored).toBe(seen);
    // Directories keep the times tar gave them, though their empty files were stored after that.
    expect(stored).toMatch(/^\.\/d3\/sub directory 4096 755 \d+ 2020-01-02 03:04:05\.000000000/m);
  });

  it('attributes a file showed while open (write, utimens, chmod, then a late close) are the ones stored', async () => {
    const p = join(fx.dir, 'late-close.bin');
    const script = stepScript(
      `
p = sys.argv[1]
def attrs():
    st = os.stat(p)
    return [st.st_size, st.st_mode, st.st_ino, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, b'x' * 1000)
os.utime(fd, ns=(1600000000123000000, 1500000000456000000))
os.fchmod(fd, 0o640)
time.sleep(0.3)  # the store keeps the file as the kernel saw it, whenever close comes
os.close(fd)
step(json.dumps(attrs()))
print(json.dumps(attrs()), flush=True)
`,
      [p],
    );
    const seen = JSON.parse(await script.next());
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    const stored = JSON.parse(await script.next());
    await script.done();
    expect(stored).toEqual(seen);
    expect(stored.slice(3, 5)).toEqual([1600000000123000000, 1500000000456000000]);
  });

  it('a file created and then removed or renamed away before it is stored moves its directory times forward, never back', async () => {
    const script = stepScript(
      `
root = sys.argv[1]
def dir_times(d):
    st = os.stat(d)
    return [st.st_mtime_ns, st.st_ctime_ns]
for d in ('gone', 'from', 'to'):
    os.mkdir(os.path.join(root, d))
time.sleep(0.05)
gone = os.open(os.path.join(root, 'gone', 'tmp'), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
moved = os.open(os.path.join(root, 'from', 'f'), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
created = [dir_times(os.path.join(root, d)) for d in ('gone', 'from')]
os.unlink(os.path.join(root, 'gone', 'tmp'))
os.rename(os.path.join(root, 'from', 'f'), os.path.join(root, 'to', 'f'))
os.close(gone)
os.close(moved)
step(json.dumps(created))
print(json.dumps([dir_times(os.path.join(root, d)) for d in ('gone', 'from')]), flush=True)
`,
      [fx.dir],
    );
    const created: number[][] = JSON.parse(await script.next());
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    const after: number[][] = JSON.parse(await script.next());
    await script.done();
    for (const [i, [mtime, ctime]] of after.entries()) {
      expect(mtime).toBeGreaterThanOrEqual(created[i]![0]!);
      expect(ctime).toBeGreaterThanOrEqual(created[i]![1]!);
    }
  });

  it('a directory moved while a file created in it is still open keeps the time of the create, in the mount and the store (mount round)', async () => {
    const script = stepScript(
      `
root = sys.argv[1]
for d in ('src', 'dst'):
    os.mkdir(os.path.join(root, d))
os.utime(os.path.join(root, 'src'), (1104537600, 1104537600))  # 2005-01-01
f = os.open(os.path.join(root, 'src', 'new'), os.O_WRONLY | os.O_CREAT, 0o644)
# Whole milliseconds, as the mount keeps them: nanoseconds since 1970 pass 2^53, and a JSON number
# of them parsed in JavaScript may round below the millisecond (…442000000 read as …441999872).
created = os.stat(os.path.join(root, 'src')).st_mtime_ns // 1_000_000
os.rename(os.path.join(root, 'src'), os.path.join(root, 'dst', 'moved'))
os.close(f)
step(json.dumps(created))
print(json.dumps(os.stat(os.path.join(root, 'dst', 'moved')).st_mtime_ns // 1_000_000), flush=True)
`,
      [fx.dir],
    );
    const created = JSON.parse(await script.next()) as number;
    await sleep(PAST_ATTR_CACHE_MS);
    script.go();
    const after = JSON.parse(await script.next()) as number;
    await script.done();
    expect(created).toBeGreaterThan(1104537600 * 1e3);
    expect(after).toBe(created);
    const ls = await fx.run(['ls', '/dst']);
    expect(Date.parse(ls.json.entries[0].mtime)).toBe(created);
  });

  it('truncating an empty file on open (: > f) keeps the times it showed after close', async () => {
    const p = join(fx.dir, 'empty.txt');
    await shOk(`touch -d '2020-01-02 03:04:05' ${p}`);
    await sleep(PAST_ATTR_CACHE_MS);
    const seen = await shOk(`: > ${p} && stat -c '%s %y %z' ${p}`);
    await sleep(PAST_ATTR_CACHE_MS);
    expect(await shOk(`stat -c '%s %y %z' ${p}`)).toBe(seen);
    expect(seen).not.toMatch(/2020-01-02/); // O_TRUNC marks the file modified, as on a local disk
  });
});
