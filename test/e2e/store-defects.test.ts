import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { BIN, avfsBytes, expectError, expectOk, expectSameBytes, useTempHome } from '../helpers.js';

/**
 * Regression tests for the store and history defects of issue 13 (items 1-7), each through the
 * built `avfs` as a user runs it.
 */

const MiB = 1024 * 1024;
const h = useTempHome('each');
const run = h.run;
const cat = async (path: string, vault = 'default') => expectOk(await run(['--vault', vault, 'cat', path])).content as string;

/** Reads the home's database directly (read-only): row counts the CLI does not report. */
function dbQuery<T>(sql: string): T {
  const db = new Database(join(h.home, 'avfs.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).get() as T;
  } finally {
    db.close();
  }
}
const rows = (table: string) => dbQuery<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).n;
const pageBytes = () => dbQuery<{ b: number }>('SELECT page_count * page_size AS b FROM pragma_page_count, pragma_page_size').b;

/** Polls `condition` until it holds (a hang guard, not a timing assertion). */
async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `avfs write <path> --from <fifo>` with the FIFO's write end in the test's hands: the writer
 * stores what it has read and then waits for more, for as long as the test keeps the FIFO open.
 */
async function streamingWrite(path: string) {
  const fifo = join(h.dir, 'in.fifo');
  await execa('mkfifo', [fifo]);
  const writer = execa('node', [BIN, '--json', 'write', path, '--from', fifo], {
    reject: false,
    env: { AVFS_HOME: h.home, AVFS_VAULT: '', FORCE_COLOR: '0' },
    timeout: 120_000,
  });
  const sink = await open(fifo, 'w'); // resolves once the writer has opened its end
  const send = async (data: Buffer) => {
    for (let off = 0; off < data.length; ) off += (await sink.write(data, off)).bytesWritten;
  };
  return { writer, sink, send };
}

describe('1. gc and a streamed write in progress', () => {
  it('gc never frees the chunks of a write --from still streaming, whatever the grace (0 here)', async () => {
    expectOk(await run(['ls']));
    const data = randomBytes(3 * MiB);
    const { writer, sink, send } = await streamingWrite('/big.bin');
    await send(data.subarray(0, 2 * MiB));
    // The writer has stored part of the content and now waits on the FIFO for the rest.
    await waitFor(() => rows('chunks') >= 16, 'the first chunks to be stored');
    const report = expectOk(await run(['gc', '--grace', '0']));
    expect(report).toMatchObject({ freed_chunks: 0, stale_leases: 0 });
    await send(data.subarray(2 * MiB));
    await sink.close();
    const written = await writer;
    expect(written.exitCode, written.stdout + written.stderr).toBe(0);
    const out = await avfsBytes(h.home, ['cat', '/big.bin']);
    expect(out.code, out.stderr).toBe(0);
    expectSameBytes(out.stdout, data, `stderr: ${out.stderr}`);
    // The write's pins went with its last transaction.
    expect([rows('content_pins'), rows('content_leases')]).toEqual([0, 0]);
  });

  it('gc clears the pins of a streamed write whose process died, and then frees its chunks', async () => {
    expectOk(await run(['ls']));
    const { writer, sink, send } = await streamingWrite('/big.bin');
    await send(randomBytes(2 * MiB));
    await waitFor(() => rows('chunks') >= 16, 'the first chunks to be stored');
    writer.kill('SIGKILL');
    await writer;
    await sink.close();
    const stored = rows('chunks');
    const report = expectOk(await run(['gc', '--grace', '0']));
    expect(report.stale_leases).toBe(1);
    expect(report.freed_chunks).toBe(stored);
    expect([rows('chunks'), rows('content_pins'), rows('content_leases')]).toEqual([0, 0, 0]);
    expectError(await run(['cat', '/big.bin']), 'NOT_FOUND', 3);
  });
});

describe('2-5. revert', () => {
  it('2. revert of a directory deleted before a fork restores its files in the fork, as in the parent', async () => {
    expectOk(await run(['write', '-p', '/d/a.txt', 'A']));
    expectOk(await run(['write', '/d/b.txt', 'B']));
    expectOk(await run(['rm', '-r', '/d']));
    expectOk(await run(['vault', 'fork', 'default', 'f1']));
    const inFork = expectOk(await run(['--vault', 'f1', 'revert', '/d']));
    expect(inFork.changed_paths).toBe(3);
    expect([await cat('/d/a.txt', 'f1'), await cat('/d/b.txt', 'f1')]).toEqual(['A', 'B']);
    expectError(await run(['cat', '/d/a.txt']), 'NOT_FOUND', 3); // the parent is untouched
    expect(expectOk(await run(['revert', '/d'])).changed_paths).toBe(3);
    expect([await cat('/d/a.txt'), await cat('/d/b.txt')]).toEqual(['A', 'B']);
  });

  it('3. revert of rm -r brings back only what that rm removed, not a file removed earlier by another rm', async () => {
    expectOk(await run(['write', '-p', '/x/one.txt', '1']));
    expectOk(await run(['write', '/x/two.txt', '2']));
    expectOk(await run(['rm', '/x/one.txt']));
    expectOk(await run(['rm', '-r', '/x']));
    expect(expectOk(await run(['revert', '/x'])).changed_paths).toBe(2);
    expect(await cat('/x/two.txt')).toBe('2');
    expectError(await run(['cat', '/x/one.txt']), 'NOT_FOUND', 3);
  });

  it('4. revert refuses when the earlier version was pruned (a modified file, a deleted file) and changes nothing', async () => {
    expectOk(await run(['write', '/f.txt', 'A']));
    expectOk(await run(['write', '/f.txt', 'B']));
    expectOk(await run(['write', '/g.txt', 'G']));
    expectOk(await run(['rm', '/g.txt']));
    expect(expectOk(await run(['prune', '/', '--keep', '1'])).pruned_versions).toBe(2);
    const before = expectOk(await run(['log', '-n', '100'])).versions;
    expect(expectError(await run(['revert', '/f.txt']), 'VERSION_NOT_FOUND', 3)).toMatchObject({ path: '/f.txt', reason: 'version_pruned' });
    expect(expectError(await run(['revert', '/g.txt']), 'VERSION_NOT_FOUND', 3)).toMatchObject({ path: '/g.txt', reason: 'version_pruned' });
    expect(await cat('/f.txt')).toBe('B');
    expectError(await run(['cat', '/g.txt']), 'NOT_FOUND', 3);
    expect(expectOk(await run(['log', '-n', '100'])).versions).toEqual(before);
  });

  it('5. undoing a move moves the tree back as it is now: an edit made after the move travels with it', async () => {
    expectOk(await run(['write', '-p', '/d/x.txt', 'orig']));
    expectOk(await run(['write', '/d/y.txt', 'y']));
    expectOk(await run(['mv', '/d', '/e']));
    expectOk(await run(['write', '/e/x.txt', 'edited']));
    expectOk(await run(['write', '/e/new.txt', 'new']));
    const r = expectOk(await run(['revert', '/d']));
    expect(r).toMatchObject({ path: '/d', deleted: false, paired: '/e' });
    expect([await cat('/d/x.txt'), await cat('/d/y.txt'), await cat('/d/new.txt')]).toEqual(['edited', 'y', 'new']);
    expectError(await run(['ls', '/e']), 'NOT_FOUND', 3);
    // Reverting that revert moves it to /e again, still with the edit.
    expectOk(await run(['revert', '/d']));
    expect(await cat('/e/x.txt')).toBe('edited');
    expectError(await run(['ls', '/d']), 'NOT_FOUND', 3);
    // A moved file edited at its new place: the same.
    expectOk(await run(['write', '/a.txt', 'A']));
    expectOk(await run(['mv', '/a.txt', '/b.txt']));
    expectOk(await run(['write', '/b.txt', 'B edited']));
    expectOk(await run(['revert', '/a.txt']));
    expect(await cat('/a.txt')).toBe('B edited');
    expectError(await run(['cat', '/b.txt']), 'NOT_FOUND', 3);
  });

  it('5. undoing a move refuses with CONFLICT when the old place is taken or the moved tree is gone, changing nothing', async () => {
    expectOk(await run(['write', '-p', '/d/x.txt', 'x']));
    expectOk(await run(['mv', '/d', '/e']));
    expectOk(await run(['mkdir', '/d']));
    const before = expectOk(await run(['log', '-n', '100'])).versions;
    expect(expectError(await run(['revert', '/e']), 'CONFLICT', 4)).toMatchObject({ path: '/d' });
    expect(expectOk(await run(['log', '-n', '100'])).versions).toEqual(before);
    expect(await cat('/e/x.txt')).toBe('x');

    expectOk(await run(['write', '-p', '/m/z.txt', 'z']));
    expectOk(await run(['mv', '/m', '/n']));
    expectOk(await run(['rm', '-r', '/n']));
    expect(expectError(await run(['revert', '/m']), 'CONFLICT', 4)).toMatchObject({ path: '/n' });
    expectError(await run(['ls', '/m']), 'NOT_FOUND', 3);
  });
});

describe('6. mv onto a symlink', () => {
  it('replaces the symlink itself (a link to a file), and moves into the directory a link points to, like mv(1)', async () => {
    const host = join(h.dir, 'host');
    mkdirSync(join(host, 'dir'), { recursive: true });
    writeFileSync(join(host, 'target.txt'), 'T');
    writeFileSync(join(host, 'a.txt'), 'A');
    writeFileSync(join(host, 'b.txt'), 'B');
    symlinkSync('/target.txt', join(host, 'link'));
    symlinkSync('/dir', join(host, 'dlink'));
    expectOk(await run(['import', host, '/']));
    expect(expectOk(await run(['mv', '/a.txt', '/link']))).toMatchObject({ from: '/a.txt', to: '/link' });
    expect(await cat('/target.txt')).toBe('T');
    const link = expectOk(await run(['ls', '/link'])).entries[0];
    expect(link).toMatchObject({ path: '/link', type: 'file', size: 1 });
    expect(await cat('/link')).toBe('A');
    expect(expectOk(await run(['mv', '/b.txt', '/dlink']))).toMatchObject({ to: '/dir/b.txt' });
    expect(await cat('/dir/b.txt')).toBe('B');
    expect(expectOk(await run(['ls', '/dlink'])).entries.map((e: any) => e.name)).toEqual(['b.txt']);
  });
});

/** `cat <host file> | avfs write <path> --from /dev/stdin`: a real pipe (execa's stdin is a socket, which /dev/stdin cannot reopen). */
async function pipedWrite(hostFile: string, path: string) {
  const r = await execa('sh', ['-c', 'cat "$1" | node "$2" --json write "$3" --from /dev/stdin', 'sh', hostFile, BIN, path], {
    reject: false,
    env: { AVFS_HOME: h.home, AVFS_VAULT: '', FORCE_COLOR: '0' },
    timeout: 60_000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json: JSON.parse(r.stdout) };
}

describe('7. a write refused by quota', () => {
  it('stores nothing: a host file, a pipe (--from /dev/stdin) and stdin, three times each; gc has nothing to free', async () => {
    expectOk(await run(['write', '/small.txt', 'small']));
    expectOk(await run(['quota', 'set', '--max-bytes', '100KB']));
    const counts = () => [rows('blobs'), rows('chunks')];
    const before = counts();
    const bytesBefore = pageBytes();
    for (let i = 0; i < 3; i++) {
      const file = join(h.dir, `big-${i}.bin`);
      const data = randomBytes(3 * MiB);
      writeFileSync(file, data);
      expectError(await run(['write', `/big${i}.bin`, '--from', file]), 'QUOTA_EXCEEDED', 6);
      expectError(await pipedWrite(file, `/pipe${i}.bin`), 'QUOTA_EXCEEDED', 6);
      expectError(await run(['write', `/stdin${i}.bin`], { input: data }), 'QUOTA_EXCEEDED', 6);
    }
    expect(counts()).toEqual(before);
    expect(pageBytes() - bytesBefore).toBeLessThan(MiB);
    expect(expectOk(await run(['gc', '--grace', '0']))).toMatchObject({ freed_blobs: 0, freed_chunks: 0 });
    expect(expectOk(await run(['ls', '/'])).entries.map((e: any) => e.name)).toEqual(['small.txt']);
  });
});
