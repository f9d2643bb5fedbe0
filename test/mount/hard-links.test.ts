import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ATTR_TIMEOUT_S } from '../../src/mount/op-context.js';
import { describeMount, mountFixture, sh, shOk, stepScript, type MountFixture } from './helpers.js';

/**
 * libfuse 2's path-based API gives each name its own kernel inode, and the kernel does not ask
 * again for attributes it cached under one name when the file changes through another. A link is
 * the exception (the mount has the kernel drop the other names' attributes; tested below without
 * waiting); after other changes, what the other names show (link count, size) is current once the
 * attribute cache lifetime has passed: those tests wait that long before looking through another
 * name. ARCHITECTURE.md, "Hard links through the mount".
 */
const settle = () => new Promise((r) => setTimeout(r, ATTR_TIMEOUT_S * 1000 + 300));

/**
 * Hard links in a mounted vault (issue 13 item 16): `link` makes another name of one inode, which
 * every name reports (same st_ino, the link count), a change through one name is seen through the
 * others, and the tools that make links (`ln`, `cp -a`, `rsync -aH`, `tar x`) keep them.
 */

/** `inode links` of each path, as stat(1) reports them through the mount. */
const inodes = async (dir: string, ...names: string[]): Promise<Array<[number, number]>> =>
  (await shOk(`cd ${dir} && stat -c '%i %h' ${names.join(' ')}`)).trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]);

/** Groups of names that share an inode below `dir` (files only), as sorted lists of relative paths. */
async function linkGroups(dir: string): Promise<string[][]> {
  const out = await shOk(`cd ${dir} && find . -type f -printf '%i %P\\n'`);
  const byIno = new Map<string, string[]>();
  for (const line of out.trim().split('\n')) {
    const [ino, path] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
    byIno.set(ino, [...(byIno.get(ino) ?? []), path]);
  }
  return [...byIno.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A host tree with hard links: a.txt = d/b.txt = d/e/c.txt, x.bin = y.bin, and a lone file. */
function hostTreeWithLinks(root: string): void {
  mkdirSync(join(root, 'd', 'e'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'three names\n');
  writeFileSync(join(root, 'x.bin'), Buffer.alloc(300_000, 7));
  writeFileSync(join(root, 'lone.txt'), 'alone\n');
}
const LINKS = 'ln a.txt d/b.txt && ln a.txt d/e/c.txt && ln x.bin y.bin';
const GROUPS = [['a.txt', 'd/b.txt', 'd/e/c.txt'], ['lone.txt'], ['x.bin', 'y.bin']];

describeMount('hard links in a mounted vault', () => {
  let fx: MountFixture;
  beforeAll(async () => {
    fx = await mountFixture();
  });
  afterAll(async () => fx?.cleanup());

  it('ln: both names report one inode with 2 links, and a write through either name is read through the other', async () => {
    const dir = join(fx.dir, 'ln');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'one\n');
    await shOk(`cd ${dir} && ln a b`);
    expect((await inodes(dir, 'b'))[0]![1]).toBe(2);
    await settle();
    const [a, b] = await inodes(dir, 'a', 'b');
    expect(a).toEqual([b![0], 2]);
    expect(b![1]).toBe(2);
    await shOk(`cd ${dir} && printf 'second version\\n' > b`);
    await settle();
    expect(await shOk(`cat ${dir}/a`)).toBe('second version'); // execa strips the last newline
    // An open descriptor on a: written and closed, then read through b.
    const script = stepScript(`fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\nos.write(fd, b'appended through a\\n')\nstep('written')\nos.close(fd)\nstep('closed')`, [join(dir, 'a')]);
    expect(await script.next()).toBe('written');
    script.go();
    expect(await script.next()).toBe('closed');
    script.go();
    await script.done();
    await settle();
    expect(await shOk(`cat ${dir}/b`)).toBe('second version\nappended through a');
    expect(await shOk(`stat -c %s ${dir}/b`)).toBe(String('second version\nappended through a\n'.length));
    // A name linked to a file open with unsaved writes shows them.
    const open = stepScript(`fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\nos.write(fd, b'not closed yet\\n')\nstep('written')\nos.close(fd)`, [join(dir, 'new')]);
    expect(await open.next()).toBe('written');
    await shOk(`cd ${dir} && ln new new2`);
    expect(await shOk(`cat ${dir}/new2`)).toBe('not closed yet');
    open.go();
    await open.done();
    await settle();
    expect((await inodes(dir, 'new', 'new2')).map(([, n]) => n)).toEqual([2, 2]);
  });

  it('a link shows the new link count through every name at once, so cp -a and tar c straight after tar x keep the links', async () => {
    // The kernel caches each name's attributes for the attribute timeout (from the create, the
    // stat): the mount has it drop them on every name of the inode when a link is made. Nothing
    // here waits for that cache to expire.
    const dir = join(fx.dir, 'fresh-links');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'one\n');
    const ino = (await inodes(dir, 'a'))[0]![0];
    await shOk(`cd ${dir} && ln a b && ln a c`);
    expect(await inodes(dir, 'a', 'b', 'c')).toEqual([[ino, 3], [ino, 3], [ino, 3]]);
    await shOk(`cd ${dir} && ln b d`);
    expect(await inodes(dir, 'a', 'b', 'c', 'd')).toEqual([[ino, 4], [ino, 4], [ino, 4], [ino, 4]]);

    const src = join(fx.scratch, 'fresh-src');
    hostTreeWithLinks(src);
    await shOk(`cd ${src} && ${LINKS}`);
    await shOk(`tar cf ${fx.scratch}/fresh.tar -C ${src} .`);
    mkdirSync(join(fx.dir, 'fresh-x'));
    await shOk(`tar xf ${fx.scratch}/fresh.tar -C ${fx.dir}/fresh-x && cp -a ${fx.dir}/fresh-x ${fx.dir}/fresh-cp && tar cf ${fx.scratch}/fresh-out.tar -C ${fx.dir}/fresh-x .`);
    expect(await linkGroups(join(fx.dir, 'fresh-cp'))).toEqual(GROUPS);
    mkdirSync(join(fx.scratch, 'fresh-back'));
    await shOk(`tar xf ${fx.scratch}/fresh-out.tar -C ${fx.scratch}/fresh-back`);
    expect(await linkGroups(join(fx.scratch, 'fresh-back'))).toEqual(GROUPS);
  });

  it('a change through one name shows through every other name at once: a write once closed, chmod, chown, touch, truncate, unlink, rename over', async () => {
    // Each check stats every name right after the change, in one process: nothing waits for the
    // kernel's attribute cache (1 s) to let go of what it cached for the other names.
    const dir = join(fx.dir, 'other-names');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'one\n');
    await shOk(`cd ${dir} && ln a b && ln a c && ln a d`);
    const show = (...names: string[]) => shOk(`cd ${dir} && stat -c '%n %s %a %u %Y %h' ${names.join(' ')}`).then((o) => o.trim().split('\n'));
    // Cached: every name stat'ed once.
    expect(await show('a', 'b', 'c', 'd')).toHaveLength(4);
    await shOk(`cd ${dir} && printf 'more bytes\n' >> a && cat b`);
    expect((await show('b', 'c')).map((l) => l.split(' ')[1])).toEqual(['15', '15']);
    expect(await shOk(`cat ${dir}/c`)).toBe('one\nmore bytes');
    await shOk(`cd ${dir} && chmod 600 b && stat a c d >/dev/null && chown 4242 c && stat a b d >/dev/null && truncate -s 3 a && stat b c d >/dev/null && touch -d @1000000000 d`);
    expect((await show('a', 'b', 'c', 'd')).map((l) => l.split(' ').slice(1, 5).join(' '))).toEqual(Array(4).fill('3 600 4242 1000000000'));
    // rename(2) moves the inode's ctime, which every name shows (stored so: after a remount too).
    await shOk(`cd ${dir} && stat a b c d >/dev/null && mv b b2`);
    expect(new Set((await shOk(`cd ${dir} && stat -c %z a b2 c d`)).trim().split('\n')).size).toBe(1);
    const db = new Database(join(fx.home, 'avfs.db'), { readonly: true });
    try {
      expect(db.prepare("SELECT DISTINCT ctime FROM entries WHERE path LIKE '/other-names/%' AND nlink > 1").all()).toHaveLength(1);
    } finally {
      db.close();
    }
    await shOk(`cd ${dir} && mv b2 b && rm d && echo x > other && mv other c`);
    expect((await show('a', 'b')).map((l) => l.split(' ')[5])).toEqual(['2', '2']);
  });

  it('a write through one name is seen through the others while it is still open, fsync or not', async () => {
    const dir = join(fx.dir, 'open-names-size');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'hello');
    await shOk(`cd ${dir} && ln a b && stat a b >/dev/null`);
    const out = await shOk(
      `python3 -c "
import os
fd = os.open('a', os.O_WRONLY | os.O_APPEND)
os.stat('b')
os.write(fd, b' world')
print(os.stat('b').st_size, open('b').read())
os.write(fd, b'!')
os.fsync(fd)
print(os.stat('b').st_size, open('b').read())
os.close(fd)
"`,
      { cwd: dir },
    );
    expect(out.trim().split('\n')).toEqual(['11 hello world', '12 hello world!']);
  });

  it('a descriptor held on one name reads, and seeks to the end, past a write closed through another name at once (the release after that close made the kernel drop the fresh size)', async () => {
    const dir = join(fx.dir, 'held-name');
    mkdirSync(dir);
    // close(2) returns after the flush; the release follows on its own, and a refresh sent with it
    // raced with the next request through the other name: the kernel dropped that reply and read
    // (or appended at) the old end. Repeated, as it needs the race (most runs lost it before).
    const out = await shOk(
      `python3 -c "
import os
stale = corrupt = 0
for i in range(20):
    for f in ('a', 'b'):
        if os.path.lexists(f): os.unlink(f)
    open('a', 'wb').write(b'x' * 6000)
    os.link('a', 'b')
    held = os.open('b', os.O_RDWR)
    fd = os.open('a', os.O_WRONLY)
    os.pwrite(fd, b'z' * 200, 6000)
    os.close(fd)
    if len(os.pread(held, 100000, 0)) != 6200: stale += 1
    os.lseek(held, 0, os.SEEK_END)
    os.write(held, b'END')
    os.close(held)
    if open('a', 'rb').read() != b'x' * 6000 + b'z' * 200 + b'END': corrupt += 1
print(stale, corrupt)
"`,
      { cwd: dir },
    );
    expect(out.trim()).toBe('0 0');
    expect((await fx.run(['cat', '/held-name/b'], { raw: true })).stdout).toBe('x'.repeat(6000) + 'z'.repeat(200) + 'END');
  });

  it('two processes appending at once through two names of one file never split a line (each append is one request)', async () => {
    // 15-byte lines: about one in 270 crosses a page boundary. Cached writes sent such a line as
    // two requests, and the other name's appends could land between them (6 and 22 broken lines
    // of 2 × 2,000 in two of three runs); on a local disk, as here now, none is ever split.
    const dir = join(fx.dir, 'appends');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), '');
    await shOk(`cd ${dir} && ln a b`);
    const lines = 4000;
    const out = await shOk(
      `python3 -c "
import os, sys
def append(name, tag):
    fd = os.open(name, os.O_WRONLY | os.O_APPEND)
    for i in range(${lines}):
        os.write(fd, b'%s%012d-\\n' % (tag, i))
    os.close(fd)
pids = []
for name, tag in (('a', b'A'), ('b', b'B')):
    pid = os.fork()
    if pid == 0:
        append(name, tag)
        os._exit(0)
    pids.append(pid)
for pid in pids: os.waitpid(pid, 0)
data = open('a', 'rb').read().split(b'\\n')[:-1]
bad = [l for l in data if len(l) != 14 or l[:1] not in b'AB' or not l[-1:] == b'-']
mine = lambda t: [int(l[1:13]) for l in data if l[:1] == t and l not in bad]
print(len(data), len(bad), mine(b'A') == list(range(${lines})), mine(b'B') == list(range(${lines})))
"`,
      { cwd: dir },
    );
    expect(out.trim()).toBe(`${2 * lines} 0 True True`);
  });

  it('a write through one name, its descriptor still open, is read through the other name when that is opened (one inode, as on a local disk)', async () => {
    const dir = join(fx.dir, 'open-write');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'x'.repeat(10));
    await shOk(`cd ${dir} && ln a b`);
    await settle();
    // Opening a stores what b holds unsaved first, so a's read (and the kernel's pages) show it.
    const script = stepScript(
      [
        `fd = os.open(os.path.join(sys.argv[1], 'b'), os.O_WRONLY)`,
        `os.write(fd, b'hello')`,
        `print(open(os.path.join(sys.argv[1], 'a'), 'rb').read().decode(), flush=True)`,
        `step('written')`,
        `os.write(fd, b'-more')`,
        `print(open(os.path.join(sys.argv[1], 'a'), 'rb').read().decode(), flush=True)`,
        `os.close(fd)`,
      ].join('\n'),
      [dir],
    );
    expect(await script.next()).toBe('helloxxxxx');
    expect(await script.next()).toBe('written');
    expect(await shOk(`cat ${dir}/a`)).toBe('helloxxxxx');
    script.go();
    expect(await script.next()).toBe('hello-more');
    await script.done();
    expect(await shOk(`cat ${dir}/a ${dir}/b`)).toBe('hello-morehello-more');
  });

  it('two names open at once, each written: both writes are stored and read through either name, as one inode on a local disk (the last close dropped the other)', async () => {
    const dir = join(fx.dir, 'both-open');
    mkdirSync(dir);
    const out = await shOk(
      `python3 -c "
import os
open('a', 'wb').write(b'0123456789')
os.link('a', 'b')
fa = os.open('a', os.O_RDWR)
fb = os.open('b', os.O_RDWR)
os.pwrite(fa, b'AA', 0)
seen = os.pread(fb, 10, 0)
os.pwrite(fb, b'BB', 5)
print(seen.decode(), os.pread(fa, 10, 0).decode())
os.close(fa)
os.close(fb)
"`,
      { cwd: dir },
    );
    expect(out).toBe('AA23456789 AA234BB789');
    await settle();
    expect(await shOk(`cat ${dir}/a; echo; cat ${dir}/b`)).toBe('AA234BB789\nAA234BB789');
    for (const name of ['a', 'b']) expect((await fx.run(['cat', `/both-open/${name}`], { raw: true })).stdout).toBe('AA234BB789');
  });

  it('a memory map written back through one name keeps the bytes written through another name since that name cached the page (the stale page wrote them over)', async () => {
    const dir = join(fx.dir, 'mapped-links');
    mkdirSync(dir);
    const out = await shOk(
      `python3 -c "
import os, mmap
open('a', 'wb').write(b'.' * 8192)
os.link('a', 'b')
fa = os.open('a', os.O_RDWR)
fb = os.open('b', os.O_RDWR)
os.pread(fb, 100, 0)          # b's page cache holds page 0 as it is now
os.pwrite(fa, b'A', 100)      # written through a: b's page 0 lacks it
os.pwrite(fa, b'Z', 5000)     # and on b's second page, never cached
m = mmap.mmap(fb, 8192)
m[200:201] = b'B'             # b's stale page 0, dirtied
m[300:301] = b'C'
m.flush(); m.close()
os.close(fa); os.close(fb)
d = open('a', 'rb').read()
print(d[100:101].decode(), d[200:201].decode(), d[300:301].decode(), d[5000:5001].decode(), d.count(b'.'))
"`,
      { cwd: dir },
    );
    expect(out.trim()).toBe('A B C Z 8188');
    const stored = (await fx.run(['cat', '/mapped-links/b'], { raw: true })).stdout;
    expect([stored.length, stored[100]! + stored[200]! + stored[300]! + stored[5000]!]).toEqual([8192, 'ABCZ']);
    // A name's own writes are its own under a new name too: a map of it changes them.
    const renamed = await shOk(
      `python3 -c "
import os, mmap
open('r1', 'wb').write(b'.' * 8192)
fd = os.open('r1', os.O_RDWR)
os.pwrite(fd, b'X' * 100, 0)
os.rename('r1', 'r2')
m = mmap.mmap(fd, 8192); m[0:100] = b'M' * 100; m.flush(); m.close(); os.close(fd)
print(open('r2', 'rb').read().count(b'M'))
"`,
      { cwd: dir },
    );
    expect(renamed.trim()).toBe('100');
    expect((await fx.run(['cat', '/mapped-links/r2'], { raw: true })).stdout.slice(0, 100)).toBe('M'.repeat(100));
  });

  it('a memory map through one name changes bytes written through another before the map read them: the change is kept (a review round saw it dropped while any descriptor stayed open)', async () => {
    const dir = join(fx.dir, 'mapped-after-write');
    mkdirSync(dir);
    const out = await shOk(
      `printf 0123456789 > a && ln a b && exec 3<a && printf abcdefghij > b && python3 -c "
import mmap, os
fd = os.open('a', os.O_RDWR)
m = mmap.mmap(fd, 10); m[0:3] = b'XYZ'; m.flush(); m.close(); os.close(fd)
" && exec 3<&- && echo "$(cat a) $(cat b)"`,
      { cwd: dir },
    );
    expect(out.trim()).toBe('XYZdefghij XYZdefghij');
    for (const name of ['a', 'b']) expect((await fx.run(['cat', `/mapped-after-write/${name}`], { raw: true })).stdout).toBe('XYZdefghij');
  });

  it('a name opened after a write through another, that descriptor still open, shows and reads the written size (its stat too)', async () => {
    const dir = join(fx.dir, 'open-write-size');
    mkdirSync(dir);
    // The kernel caches attributes per name: once its 1 s cache of a has passed, a's stat and the
    // open after it must show the bytes written through b (else a read of a stops at the old size).
    const out = await shOk(
      `python3 -c "
import os, time
open('a', 'wb').write(b'0123456789')
os.link('a', 'b')
fd = os.open('b', os.O_RDWR)
os.pwrite(fd, b'HELLO', 10)
time.sleep(${ATTR_TIMEOUT_S} + 0.5)
size = os.stat('a').st_size
r = os.open('a', os.O_RDONLY)
print(size, os.fstat(r).st_size, os.read(r, 100).decode())
os.close(r)
os.close(fd)
"`,
      { cwd: dir },
    );
    expect(out).toBe('15 15 0123456789HELLO');
    expect((await fx.run(['cat', '/open-write-size/a'], { raw: true })).stdout).toBe('0123456789HELLO');
  });

  it('a truncate by path through one name does not make the kernel keep pages that name cached before a write through another (the stale bytes were written back)', async () => {
    const dir = join(fx.dir, 'truncate-pages');
    mkdirSync(dir);
    // Y's kernel inode caches 100 a's; ZZ is then written through X. The second truncate(Y) (same
    // size) stored nothing, but its release told the kernel cache Y held the current content, so
    // the next open of Y kept the old pages and its in-place edit stored them over the ZZ.
    const out = await shOk(
      `python3 -c "
import os, time
open('X', 'wb').write(b'a' * 5000)
os.link('X', 'Y')
os.truncate('Y', 100)
open('Y', 'rb').read()
with open('X', 'r+b') as f: f.write(b'ZZ')
os.truncate('Y', 100)
time.sleep(${ATTR_TIMEOUT_S} + 0.5)
with open('Y', 'r+b') as f:
    d = f.read(); f.seek(0); f.write(d.upper())
time.sleep(${ATTR_TIMEOUT_S} + 0.5)
print(open('X', 'rb').read().decode())
"`,
      { cwd: dir },
    );
    const edited = 'ZZ' + 'A'.repeat(98);
    expect(out).toBe(edited);
    expect((await fx.run(['cat', '/truncate-pages/X'], { raw: true })).stdout).toBe(edited);
  });

  it('unlink of one name keeps the other, with 1 link; rename over a linked name drops one link', async () => {
    const dir = join(fx.dir, 'unlink');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'kept\n');
    await shOk(`cd ${dir} && ln a b && ln a c`);
    await settle();
    expect((await inodes(dir, 'a', 'b', 'c')).map(([, n]) => n)).toEqual([3, 3, 3]);
    await shOk(`rm ${dir}/b`);
    await settle();
    expect((await inodes(dir, 'a', 'c')).map(([, n]) => n)).toEqual([2, 2]);
    expect(await shOk(`cat ${dir}/c`)).toBe('kept');
    writeFileSync(join(dir, 'other'), 'other\n');
    await shOk(`mv ${dir}/other ${dir}/c`);
    await settle();
    const [[aIno, aLinks], [cIno, cLinks]] = (await inodes(dir, 'a', 'c')) as [[number, number], [number, number]];
    expect([aLinks, cLinks]).toEqual([1, 1]);
    expect(aIno).not.toBe(cIno);
    expect(await shOk(`cat ${dir}/a ${dir}/c`)).toBe('kept\nother');
    // Renaming one name of a linked pair keeps the link.
    await shOk(`cd ${dir} && ln a p && mv p q`);
    await settle();
    const [[ai, an], [qi, qn]] = (await inodes(dir, 'a', 'q')) as [[number, number], [number, number]];
    expect([qi, an, qn]).toEqual([ai, 2, 2]);
  });

  it('a name unlinked while open, with another name left: writes before and after the unlink reach the inode, as on a local disk; with no name left, nothing is stored', async () => {
    for (const [size, tag] of [[20, 'small'], [3 * 1024 * 1024, 'large']] as const) {
      const [one, two] = [join(fx.dir, `open-${tag}-1`), join(fx.dir, `open-${tag}-2`)];
      writeFileSync(one, Buffer.alloc(size, 'a'));
      await shOk(`ln ${one} ${two}`);
      const out = await shOk(`python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b'before', 0)
os.unlink(sys.argv[1])
os.pwrite(fd, b'after', 6)
os.fchmod(fd, 0o640)
os.close(fd)
print(open(sys.argv[2], 'rb').read(11).decode())
" ${one} ${two}`);
      expect(out.trim(), tag).toBe('beforeafter');
      const cat = await fx.run(['cat', `/open-${tag}-2`], { raw: true });
      expect(cat.stdout.slice(0, 11), tag).toBe('beforeafter');
      expect(cat.stdout.length).toBe(size);
      expect((await fx.run(['ls', '-l', `/open-${tag}-2`])).json.entries[0].mode, tag).toBe('0640'); // fchmod after the unlink changed the inode
      expect((await fx.run(['ls', '/'])).json.entries.map((e: { name: string }) => e.name).filter((n: string) => n.startsWith('.fuse_hidden'))).toEqual([]);
    }
    // Every name gone while one is open: the bytes go with the inode.
    const [a, b] = [join(fx.dir, 'gone-1'), join(fx.dir, 'gone-2')];
    writeFileSync(a, 'old');
    await shOk(`ln ${a} ${b}`);
    await shOk(`python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.unlink(sys.argv[2])
os.unlink(sys.argv[1])
os.pwrite(fd, b'lost', 0)
os.close(fd)
" ${a} ${b}`);
    const names = (await fx.run(['ls', '/'])).json.entries.map((e: { name: string }) => e.name);
    expect(names.filter((n: string) => n.startsWith('gone-') || n.startsWith('.fuse_hidden'))).toEqual([]);
  });

  it('a name opened while another was open, then unlinked or replaced and closed: writes and truncates through the other descriptor are stored (they were dropped once libfuse removed the hidden name)', async () => {
    for (const how of ['unlink', 'replace', 'truncate']) {
      const dir = join(fx.dir, `shared-${how}`);
      mkdirSync(dir);
      const out = await shOk(`cd ${dir} && python3 -c "
import os, sys
how = sys.argv[1]
open('c', 'wb').write(b'orig\\n')
os.link('c', 'b')
rb = os.open('b', os.O_RDONLY)
wc = os.open('c', os.O_WRONLY | os.O_APPEND)
os.write(wc, b'before\\n')
if how == 'replace':
    open('x', 'wb').write(b'X'); os.rename('x', 'b')
else:
    os.unlink('b')
os.close(rb)
if how == 'truncate': os.ftruncate(wc, 83)
else: os.write(wc, b'after\\n')
os.close(wc)
print(os.stat('c').st_size, open('c', 'rb').read()[:19])
" ${how}`);
      const expected = how === 'truncate' ? "83 b'orig\\nbefore\\n\\x00\\x00\\x00\\x00\\x00\\x00\\x00'" : "18 b'orig\\nbefore\\nafter\\n'";
      expect(out.trim(), how).toBe(expected);
      const stored = await fx.run(['cat', `/shared-${how}/c`], { raw: true });
      expect(stored.stdout.length, how).toBe(how === 'truncate' ? 83 : 17); // execa drops the final newline
      expect(stored.stdout.startsWith('orig\nbefore\n'), how).toBe(true);
    }
    // Three names: the hidden one dropped while another name, never opened, is later replaced; the
    // descriptor's name still gets its writes (they went with the replaced name).
    const dir = join(fx.dir, 'shared-three');
    mkdirSync(dir);
    const three = await shOk(`cd ${dir} && printf 0123456789 > z && ln z x && ln z y && bash -c 'exec 3<>x 4<>z; rm x; printf A >&3; exec 3>&-; printf new > n; mv n y; printf BC >&4; exec 4>&-' && cat z`);
    expect(three).toBe('BC23456789');
    expect((await fx.run(['cat', '/shared-three/z'], { raw: true })).stdout).toBe('BC23456789');
    expect((await fx.run(['cat', '/shared-three/y'], { raw: true })).stdout).toBe('new');
  });

  it('fstat of a name unlinked while open keeps answering once another name of the file is opened (which takes over the hidden name libfuse kept)', async () => {
    const dir = join(fx.dir, 'fstat-other-open');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x'), 'data');
    await shOk(`cd ${dir} && ln x y`);
    const out = await shOk(`cd ${dir} && python3 -c '
import os
fd = os.open("x", os.O_RDWR)
os.unlink("x")
y = os.open("y", os.O_RDONLY)
seen = [[os.fstat(fd).st_size, os.fstat(fd).st_nlink]]
os.pwrite(fd, b"more", 4)
seen += [[os.fstat(fd).st_size, os.fstat(fd).st_nlink], os.pread(y, 10, 0).decode()]
os.close(fd); os.close(y)
print(seen)'`);
    // 0 links: the kernel's count for the unlinked name (README, hard links), where a local disk says 1.
    expect(out.trim()).toBe("[[4, 0], [8, 0], 'datamore']");
  });

  it('writes through a name unlinked or replaced while open show in the other name at once, before and right after the close', async () => {
    for (const how of ['unlink', 'rename']) {
      const dir = join(fx.dir, `hidden-${how}`);
      mkdirSync(dir);
      const out = await shOk(`cd ${dir} && python3 -c "
import os, sys
open('f', 'wb').write(b'abc' * 10)
open('g', 'wb').write(b'GGG')
os.link('f', 'h')
fd = os.open('h', os.O_RDWR | os.O_APPEND)
os.stat('f')  # the kernel caches f's attributes
if sys.argv[1] == 'unlink': os.unlink('h')
else: os.rename('g', 'h')
os.write(fd, b'W' * 100)
seen = [os.stat('f').st_size, len(open('f', 'rb').read())]
os.close(fd)
seen += [os.stat('f').st_size, len(open('f', 'rb').read())]
print(*seen)
" ${how}`);
      expect(out.trim(), how).toBe('130 130 130 130');
    }
  });

  it('fchmod, fchown and futimens through a name unlinked while open show on the descriptor and on the other name at once', async () => {
    const dir = join(fx.dir, 'hidden-attrs');
    mkdirSync(dir);
    const out = await shOk(`cd ${dir} && python3 -c "
import os
open('b', 'w').write('data'); os.chmod('b', 0o600); os.utime('b', (1000000000, 1000000000))
os.link('b', 'c')
fd = os.open('c', os.O_RDONLY)
os.unlink('c')
os.stat('b')  # the kernel caches b's attributes
os.fchmod(fd, 0o755)
os.fchown(fd, 1234, 5678)
os.utime(fd, (1500000000, 1500000000))
mine = os.fstat(fd)
b = os.stat('b')
os.close(fd)
print(oct(mine.st_mode & 0o7777), mine.st_uid, mine.st_gid, int(mine.st_mtime), oct(b.st_mode & 0o7777), b.st_uid, b.st_gid, int(b.st_mtime))
"`);
    expect(out.trim()).toBe('0o755 1234 5678 1500000000 0o755 1234 5678 1500000000');
  });

  it('times set through the surviving name of a file whose other name was unlinked while open with unsaved writes are kept, shown and stored (adversarial round)', async () => {
    const dir = join(fx.dir, 'hidden-utime');
    mkdirSync(dir);
    const out = await shOk(`cd ${dir} && python3 -c "
import os, time
fd = os.open('d', os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.link('d', 'a')
os.unlink('d')
os.write(fd, b'hello')
os.utime('a', (1800000000, 1800000000))
shown = os.stat('a').st_mtime
os.close(fd)
time.sleep(1.3)
print(int(shown), int(os.stat('a').st_mtime), open('a').read())
"`);
    expect(out.trim()).toBe('1800000000 1800000000 hello');
    await settle();
    const [stored] = (await fx.run(['ls', '-l', '/hidden-utime/a', '--json'])).json.entries;
    expect([stored.mtime, stored.size]).toEqual([new Date(1800000000 * 1000).toISOString(), 5]);
  });

  it('rename(2) of a name onto another name of the same file does nothing and succeeds, as POSIX says', async () => {
    const dir = join(fx.dir, 'rename-same');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'both\n');
    await shOk(`cd ${dir} && ln a b`);
    await shOk(`cd ${dir} && python3 -c 'import os; os.rename("a", "b")'`);
    expect((await shOk(`ls ${dir}`)).trim().split('\n')).toEqual(['a', 'b']);
    expect((await fx.run(['ls', '/rename-same', '--json'])).json.entries.map((e: { name: string }) => e.name)).toEqual(['a', 'b']);
    await settle();
    const [[ai, an], [bi, bn]] = (await inodes(dir, 'a', 'b')) as [[number, number], [number, number]];
    expect([bi, an, bn]).toEqual([ai, 2, 2]);
  });

  it('rename(2) onto another name of the same file that is open (libfuse hides an open target first) still does nothing: both names stay', async () => {
    const dir = join(fx.dir, 'rename-same-open');
    mkdirSync(dir);
    const out = await shOk(`cd ${dir} && python3 -c "
import os
for mode, both in ((os.O_RDONLY, False), (os.O_RDWR, False), (os.O_RDWR, True)):
    open('b', 'w').write('important'); os.link('b', 'd')
    fd = os.open('b', mode)
    other = os.open('d', os.O_RDWR) if both else None
    os.rename('d', 'b')
    print(sorted(os.listdir('.')), os.stat('b').st_nlink, os.stat('d').st_nlink, os.stat('b').st_ino == os.stat('d').st_ino, os.read(fd, 20).decode())
    os.close(fd)
    if other is not None: os.close(other)
    os.unlink('b'); os.unlink('d')
# Three names, two of them open: renaming one open name onto the other keeps all three.
open('a', 'w').write('three'); os.link('a', 'b'); os.link('a', 'c')
fb = os.open('b', os.O_RDWR); fc = os.open('c', os.O_RDWR)
os.rename('b', 'c')
print(sorted(os.listdir('.')), os.stat('a').st_nlink)
os.close(fb); os.close(fc)
for n in ('a', 'b', 'c'): os.unlink(n)
"`);
    expect(out.trim().split('\n')).toEqual([...Array(3).fill("['b', 'd'] 2 2 True important"), "['a', 'b', 'c'] 3"]);
    await fx.run(['write', '/rename-same-open/b', 'stored']);
    await shOk(`cd ${dir} && ln b d && exec 5<b && python3 -c 'import os; os.rename("d", "b")'`);
    expect((await fx.run(['ls', '/rename-same-open', '--json'])).json.entries.map((e: { name: string }) => e.name)).toEqual(['b', 'd']);
    await settle();
    const [[bi, bn], [di, dn]] = (await inodes(dir, 'b', 'd')) as [[number, number], [number, number]];
    expect([di, bn, dn]).toEqual([bi, 2, 2]);
    // A name unlinked while open, then another name of its file renamed onto it, is a plain rename: the source name goes.
    const moved = await shOk(`cd ${dir} && python3 -c "
import os
fd = os.open('b', os.O_RDONLY)
os.unlink('b')
os.rename('d', 'b')
print(sorted(os.listdir('.')), os.stat('b').st_nlink, os.read(fd, 20).decode())
os.close(fd)
"`);
    expect(moved.trim()).toBe("['b'] 1 stored");
    expect((await fx.run(['ls', '/rename-same-open', '--json'])).json.entries.map((e: { name: string }) => e.name)).toEqual(['b']);
  });

  it('ftruncate to the same size through a name another file took over (its inode keeps a name) changes the times only, without ENOENT', async () => {
    const dir = join(fx.dir, 'ftruncate-same');
    mkdirSync(dir);
    const out = await shOk(`cd ${dir} && python3 -c "
import os
open('e', 'w').close()
fa = os.open('d', os.O_RDWR | os.O_CREAT, 0o644); os.write(fa, b'xxxxx')
os.link('d', 'c'); fb = os.open('d', os.O_RDWR)
os.rename('e', 'd')
os.ftruncate(fb, 5)
os.ftruncate(fb, 5)
os.utime('c', (1000000000, 1000000000))
os.ftruncate(fb, 5)
print(os.fstat(fb).st_size, os.stat('c').st_size, os.stat('c').st_mtime > 1000000000, os.stat('d').st_size)
os.close(fa); os.close(fb)
"`);
    expect(out.trim()).toBe('5 5 True 0');
  });

  it('a name opened while another name was open goes on under its name when the other is closed and removed: its later writes are stored', async () => {
    const dir = join(fx.dir, 'unlink-shared');
    mkdirSync(dir);
    // The open through `a` shares the working copy opened through `b`; `b`'s kernel name is
    // closed, so its unlink is a plain unlink (not libfuse's hidden rename).
    await shOk(`cd ${dir} && bash -c 'exec 3>b; ln b a; exec 4<>a; exec 3>&-; rm b; echo "important data" >&4; exec 4>&-'`);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('important data\n');
    expect((await fx.run(['cat', '/unlink-shared/a'])).json.content).toBe('important data\n');
    // Written through the name unlinked while open (libfuse's hidden name), the other name shows
    // the new size at once: its kernel inode had cached the old one, though one name is left.
    const out = await shOk(`cd ${dir} && python3 -c '
import os
a = os.open("c", os.O_RDWR | os.O_CREAT, 0o644)
os.link("c", "e")
e = os.open("e", os.O_RDWR)
os.read(a, 10); os.read(e, 10); os.stat("c")
os.unlink("e"); os.stat("c")
os.pwrite(e, b"written through e", 0)
os.close(e); os.close(a)
print(os.stat("c").st_size, open("c").read())'`);
    expect(out).toBe('17 written through e');
  });

  it('a name replaced by a rename while another name of its file is open, that name closed or moved away by a same-file rename: the writes through the open name are stored (they were lost)', async () => {
    const dir = join(fx.dir, 'rename-over-shared');
    mkdirSync(dir);
    // `c` opened first (the working copy is kept under it), then `a`; `c` closed, so libfuse hides
    // nothing when `s` is renamed over it.
    await shOk(`cd ${dir} && bash -c ': > a; ln a b; ln a c; exec 3<c 4<>a; exec 3<&-; : > s; mv s c; printf hello >&4; exec 4>&-'`);
    expect([readFileSync(join(dir, 'a'), 'utf8'), readFileSync(join(dir, 'b'), 'utf8'), readFileSync(join(dir, 'c'), 'utf8')]).toEqual(['hello', 'hello', '']);
    expect((await fx.run(['cat', '/rename-over-shared/b'])).json.content).toBe('hello');
    // rename(2) onto another name of the same file does nothing, but libfuse moves its open node
    // to the target name; a rename over the source name then met the open file there.
    const out = await shOk(`cd ${dir} && python3 -c '
import os
f = os.open("x", os.O_RDWR | os.O_CREAT, 0o644); os.link("x", "y")
os.rename("x", "y")
os.write(f, b"hello"); open("g", "w").close()
os.rename("g", "x")
os.close(f); print(open("y").read(), os.stat("x").st_size)'`);
    expect(out).toBe('hello 0');
    expect((await fx.run(['cat', '/rename-over-shared/y'])).json.content).toBe('hello');
  });

  it('a name unlinked while another name of its file is open takes a new entry of any type at once (mkdir, mkfifo, symlink, rename onto it)', async () => {
    const dir = join(fx.dir, 'reuse-name');
    mkdirSync(dir);
    // `b` is opened first (the working copy is named by it), then `d`; `b` is closed and removed
    // while `d` stays open, and the name is taken by an entry of another type.
    const out = await shOk(`cd ${dir} && python3 -c '
import os, stat
def kind(p):
    m = os.lstat(p).st_mode
    return "dir" if stat.S_ISDIR(m) else "fifo" if stat.S_ISFIFO(m) else "link" if stat.S_ISLNK(m) else "file"
for make in ("mkdir", "mkfifo", "symlink", "rename"):
    b = os.open("b", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.link("b", "d")
    d = os.open("d", os.O_RDWR)
    os.close(b)
    os.unlink("b")
    if make == "rename": os.mkdir("src"); os.rename("src", "b")
    else: getattr(os, make)(*(("d", "b") if make == "symlink" else ("b",)))
    print(make, kind("b"), os.fstat(d).st_nlink, flush=True)
    os.write(d, b"still the file")
    os.close(d)
    (os.rmdir if kind("b") == "dir" else os.unlink)("b"); os.unlink("d")
'`);
    expect(out.trim()).toBe('mkdir dir 1\nmkfifo fifo 1\nsymlink link 1\nrename dir 1');
  });

  it('a write through one name reaches the next open of another name that had the old bytes cached: no stale pages, which an mmap write had stored back', async () => {
    const dir = join(fx.dir, 'stale-names');
    mkdirSync(dir);
    writeFileSync(join(dir, 'c'), 'zzzzzzzz');
    await shOk(`cd ${dir} && ln c b`);
    // c open and its pages cached while b is written (same size: nothing tells the kernel).
    expect(await shOk(`cd ${dir} && bash -c 'exec 5<c; cat c >/dev/null; printf HELLO | dd of=b conv=notrunc status=none; exec 5<&-; cat c'`)).toBe('HELLOzzz');
    await shOk(`cd ${dir} && python3 -c 'import mmap, os; fd = os.open("c", os.O_RDWR); m = mmap.mmap(fd, 8); m[7:8] = b"!"; m.flush(); m.close(); os.close(fd)'`);
    expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('HELLOzz!');
    expect((await fx.run(['cat', '/stale-names/c'])).json.content).toBe('HELLOzz!');
    // The same after rename(2) of a name onto another name of the file (which does nothing): the
    // descriptor opened as d writes under the kernel's name e.
    const out = await shOk(`cd ${dir} && python3 -c '
import os
fd = os.open("d", os.O_RDWR | os.O_CREAT, 0o644); os.write(fd, b"old\\n")
os.link("d", "e"); os.rename("d", "e")
open("d", "rb").read()
os.pwrite(fd, b"NEW\\n", 0); os.close(fd)
print(open("d").read() + open("e").read(), end="")'`);
    expect(out).toBe('NEW\nNEW'); // the last newline is stripped
  });

  it('times set through one name after a write through another, before that one is closed, are the times kept (as on a local disk)', async () => {
    const dir = join(fx.dir, 'utime-other-name');
    mkdirSync(dir);
    await shOk(
      `python3 -c "
import os
open('p', 'w').write('x')
os.link('p', 'q')
fd = os.open('p', os.O_RDWR)
os.write(fd, b'y')
os.utime('q', (1000000000, 1200000000))
os.close(fd)
"`,
      { cwd: dir },
    );
    const stored = (await fx.run(['ls', '/utime-other-name', '--json'])).json.entries.map((e: { name: string; mtime: string }) => [e.name, Date.parse(e.mtime)]);
    expect(stored).toEqual([
      ['p', 1_200_000_000_000],
      ['q', 1_200_000_000_000],
    ]);
    expect((await fx.run(['cat', '/utime-other-name/q'], { raw: true })).stdout).toBe('y');
    await settle();
    expect(await shOk(`stat -c '%n %Y' p q`, { cwd: dir })).toBe('p 1200000000\nq 1200000000');
  });

  it('history: each name has its own log, and a write through one name is a version of both', async () => {
    const dir = join(fx.dir, 'hist');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'v1\n');
    await shOk(`cd ${dir} && ln a b`);
    writeFileSync(join(dir, 'b'), 'v2\n');
    const ops = async (p: string) => (await fx.run(['log', p])).json.versions.map((v: any) => v.op);
    expect(await ops('/hist/a')).toEqual(['write', 'create']);
    expect(await ops('/hist/b')).toEqual(['write', 'link']);
    expect((await fx.run(['cat', '/hist/a'], { raw: true })).stdout).toBe('v2');
  });

  it('cp -a of a host tree with hard links into the mount keeps the links', async () => {
    const src = join(fx.scratch, 'cp-src');
    hostTreeWithLinks(src);
    await shOk(`cd ${src} && ${LINKS}`);
    await shOk(`cp -a ${src} ${fx.dir}/cp-copy`);
    await settle();
    expect(await linkGroups(join(fx.dir, 'cp-copy'))).toEqual(GROUPS);
    expect(await shOk(`cd ${fx.dir}/cp-copy && sha256sum a.txt d/e/c.txt y.bin lone.txt`)).toBe(await shOk(`cd ${src} && sha256sum a.txt d/e/c.txt y.bin lone.txt`));
    // And back out: a copy from the mount to the host keeps them too.
    await shOk(`cp -a ${fx.dir}/cp-copy ${fx.scratch}/cp-out`);
    expect(await linkGroups(join(fx.scratch, 'cp-out'))).toEqual(GROUPS);
  });

  it('rsync -aH of a host tree with hard links into the mount keeps the links', async () => {
    const rsync = await sh('command -v rsync');
    if (rsync.code !== 0) {
      // Installed by .ci/run; a machine without it cannot run this one.
      process.stderr.write('[mount tests] rsync is not installed (apt-get install -y rsync): the rsync -aH case is not run\n');
      return;
    }
    const src = join(fx.scratch, 'rsync-src');
    hostTreeWithLinks(src);
    await shOk(`cd ${src} && ${LINKS}`);
    await shOk(`rsync -aH ${src}/ ${fx.dir}/rsync-copy/`);
    await settle();
    expect(await linkGroups(join(fx.dir, 'rsync-copy'))).toEqual(GROUPS);
    // A second run finds nothing to do (sizes, times and links agree).
    expect((await shOk(`rsync -aHi ${src}/ ${fx.dir}/rsync-copy/`)).trim()).toBe('');
  });

  it('tar c straight after tar x of an archive with hard links never finds a file "changed as we read it"', async () => {
    // Each name has its own kernel inode (see above), and link(2) moves the ctime: unless the link
    // refreshed the first name too, its cached lstat would show the old ctime and tar's fstat the
    // new one.
    const src = join(fx.scratch, 'tar-again-src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    await shOk(`cd ${src} && for i in 1 2 3 4 5; do echo "file $i" > a$i && ln a$i b$i; done && echo x > sub/c && ln sub/c sub/d`);
    await shOk(`tar cf ${fx.scratch}/again.tar -C ${src} .`);
    for (let i = 0; i < 5; i++) {
      const dir = join(fx.dir, `tar-again-${i}`);
      mkdirSync(dir);
      const r = await sh(`set -o pipefail; cd ${dir} && tar xf ${fx.scratch}/again.tar && tar cf - . | cat > /dev/null`);
      expect([i, r.code, r.stderr]).toEqual([i, 0, '']);
    }
  });

  it('tar x of an archive with hard links, then tar c of the result, keeps the links', async () => {
    const src = join(fx.scratch, 'tar-src');
    hostTreeWithLinks(src);
    await shOk(`cd ${src} && ${LINKS}`);
    await shOk(`tar cf ${fx.scratch}/in.tar -C ${src} .`);
    mkdirSync(join(fx.dir, 'tar-x'));
    await shOk(`tar xf ${fx.scratch}/in.tar -C ${fx.dir}/tar-x`);
    await settle();
    expect(await linkGroups(join(fx.dir, 'tar-x'))).toEqual(GROUPS);
    const out = await sh(`tar cf ${fx.scratch}/out.tar -C ${fx.dir}/tar-x .`);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toBe('');
    mkdirSync(join(fx.scratch, 'tar-back'));
    await shOk(`tar xf ${fx.scratch}/out.tar -C ${fx.scratch}/tar-back`);
    expect(await linkGroups(join(fx.scratch, 'tar-back'))).toEqual(GROUPS);
  });
});
