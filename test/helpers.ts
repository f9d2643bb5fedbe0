import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { CDC_MAX_SIZE } from '../src/core/cdc.js';
import { AvfsError } from '../src/errors.js';
import { INLINE_MAX, chunkList } from '../src/store/blobs.js';
import { openStore, type Store } from '../src/store/store.js';
import { VaultFs } from '../src/store/vault-fs.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const BIN = join(ROOT, 'bin', 'avfs.js');

/**
 * Content with known chunks. A block is one byte repeated for exactly the largest chunk size: a
 * run of one byte value never meets the chunker's cut condition, so content made of blocks is cut
 * at the block borders, one chunk per block (test/unit/cdc.test.ts checks it). Content is stored
 * as chunks only past INLINE_MAX, so `chunked(...)` puts 1 MiB of blocks of its own first.
 */
export const BLOCK = CDC_MAX_SIZE;
export const block = (fill: string) => Buffer.alloc(BLOCK, fill, 'latin1');
export const PREFIX_BLOCKS = INLINE_MAX / BLOCK;
const PREFIX = Buffer.concat(Array.from({ length: PREFIX_BLOCKS }, (_, i) => block(String.fromCharCode(0xe0 + i))));
export const chunked = (...parts: Buffer[]) => Buffer.concat([PREFIX, ...parts]);

/** A fresh temporary directory (in `parent`, default the system's), removed by the returned cleanup. */
export function tempDir(prefix = 'avfs-test-', parent = tmpdir()): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(parent, prefix));
  const cleanup = () => {
    // A home's views server may still be writing in it (its session file) while it notices the
    // home is gone: rmSync's own retries repeat only the failed step, so the whole removal is
    // tried again, as the server exits within a few seconds.
    for (let attempt = 1; ; attempt++) {
      try {
        return rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || attempt === 10) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
      }
    }
  };
  return { dir, cleanup };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The parsed JSON document when --json was given (undefined if stdout was not exactly one document). */
  json: any;
}

/**
 * Runs the built `avfs` binary as a user would, with a private home. `--json` is added unless
 * `raw` is set. Never rejects: tests assert on the exit code and the error code.
 */
export async function avfs(home: string, args: string[], opts: CliOptions & { raw?: boolean } = {}): Promise<CliResult> {
  const argv = opts.raw ? args : ['--json', ...args];
  const r = await execa('node', [BIN, ...argv], { ...execaOptions(home, opts), encoding: 'utf8' });
  let json: any;
  if (!opts.raw) {
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
  }
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

export interface CliOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
}

const execaOptions = (home: string, opts: CliOptions) => ({
  reject: false,
  input: opts.input,
  stdin: opts.input === undefined ? ('ignore' as const) : undefined,
  env: { AVFS_HOME: home, FORCE_COLOR: '0', AVFS_VAULT: '', ...opts.env },
  cwd: opts.cwd,
  timeout: 60_000,
});

/**
 * Runs the built `avfs` without --json and returns stdout byte for byte. execa (and so `avfs`
 * above) drops a final "\n" or "\r\n" from stdout by default, which is harmless for messages but
 * cuts file content that happens to end with one (random bytes do in 1 run of 256).
 */
export async function avfsBytes(home: string, args: string[], opts: CliOptions = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const r = await execa('node', [BIN, ...args], { ...execaOptions(home, opts), encoding: 'buffer', stripFinalNewline: false });
  return { code: r.exitCode ?? -1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr).toString() };
}

/**
 * Asserts `actual` holds exactly the bytes of `expected`. A failure says both lengths, the first
 * offset where they differ with the bytes around it, and `context` (say, the command's stderr),
 * so a rare failure explains itself from the log alone.
 */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, context = ''): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(b)) return;
  let at = 0;
  while (at < a.length && at < b.length && a[at] === b[at]) at++;
  const from = Math.max(0, at - 4);
  const around = (buf: Buffer) => buf.subarray(from, at + 8).toString('hex') + (at >= buf.length ? ' and no more' : '');
  expect.fail(
    `bytes differ: got ${a.length}, expected ${b.length}; first difference at offset ${at} ` +
      `(from offset ${from}: got ${around(a)}, expected ${around(b)}); ` +
      `last bytes: got ${a.subarray(-8).toString('hex')}, expected ${b.subarray(-8).toString('hex')}` +
      (context ? `\n${context}` : ''),
  );
}

export interface TempHome {
  /** The temporary directory: the home is `home` inside it, the rest is scratch space. */
  readonly dir: string;
  /** The AVFS home (`<dir>/home`; the first command that needs it creates it). */
  readonly home: string;
  /** Runs the built avfs on this home, with --json unless `raw` (see avfs). */
  run(args: string[], opts?: Parameters<typeof avfs>[2]): Promise<CliResult>;
}

/**
 * The e2e fixture: a temporary AVFS home, made and removed by hooks this registers, fresh for
 * each test (`each`) or one for every test of the file or describe block (`all`). Call it at the
 * top level of a file or of a describe block:
 *
 *   const h = useTempHome('each');
 *   it('…', async () => expectOk(await h.run(['write', '/a.txt', 'x'])));
 */
export function useTempHome(scope: 'each' | 'all', prefix?: string): TempHome {
  let tmp: { dir: string; cleanup: () => void } | undefined;
  const current = () => {
    if (!tmp) throw new Error('useTempHome: the home exists only while a test (or a hook after it was set up) runs');
    return tmp;
  };
  const fixture: TempHome = {
    get dir() {
      return current().dir;
    },
    get home() {
      return join(current().dir, 'home');
    },
    run: (args, opts) => avfs(fixture.home, args, opts),
  };
  (scope === 'each' ? beforeEach : beforeAll)(() => {
    tmp = tempDir(prefix);
  });
  (scope === 'each' ? afterEach : afterAll)(() => {
    tmp?.cleanup();
    tmp = undefined;
  });
  return fixture;
}

/** The AvfsError code a call throws, or 'no error' (anything else thrown is re-thrown). */
export function errorCode(fn: () => unknown): string {
  return thrownError(fn)?.code ?? 'no error';
}

/** The AvfsError `fn` throws (its code, message and fields), or undefined when it throws none. */
export function thrownError(fn: () => unknown): AvfsError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof AvfsError) return err;
    throw err;
  }
  return undefined;
}

/** The data of the MERGE_CONFLICT error a merge or sync throws (its report); fails the test when it does not throw one. */
export function mergeConflict<R>(fn: () => unknown): R {
  try {
    fn();
  } catch (err) {
    if (err instanceof AvfsError && err.code === 'MERGE_CONFLICT') return err.data as R;
    throw err;
  }
  throw new Error('expected MERGE_CONFLICT, but it did not conflict');
}

/**
 * Lets the test worker's event loop run. A long synchronous test gives it a turn between steps:
 * vitest's worker fails the whole run (an unhandled error, every test passed) when a message to
 * its main process waits 60 s for an answer, which one synchronous minute on a loaded machine did.
 */
export const letEventLoopRun = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A deterministic generator (xorshift32) of integers in [0, n), so a randomized test replays the same cases every run. */
export function seededRandom(seed: number): (n: number) => number {
  let x = seed | 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Asserts the --json contract for success: one JSON document, ok true, exit 0. Returns the document. */
export function expectOk(r: CliResult): any {
  expect(r.json, `stdout was: ${r.stdout}\nstderr: ${r.stderr}`).toBeDefined();
  expect(r.json.ok).toBe(true);
  expect(r.code).toBe(0);
  return r.json;
}

/** Asserts the --json contract for failure: one JSON document with the error code and the exit code. Returns the error. */
export function expectError(r: CliResult, code: string, exit: number): any {
  expect(r.json, `stdout was: ${r.stdout}`).toBeDefined();
  expect(r.json.ok).toBe(false);
  expect(r.json.error.code).toBe(code);
  expect(typeof r.json.error.message).toBe('string');
  expect(r.code).toBe(exit);
  return r.json.error;
}

/**
 * The integration preamble: a Store on a fresh temporary home and the `default` vault as the sdk
 * actor: `beforeEach(() => ({ home, store, fs, close } = openTempStore()))`, `afterEach(() => close())`.
 * `prepare` runs on the empty home directory before the store opens it (e.g. to put an old
 * database there).
 */
export function openTempStore(options: { prepare?: (home: string) => void } = {}): { home: { dir: string; cleanup: () => void }; store: Store; fs: VaultFs; close: () => void } {
  const home = tempDir();
  options.prepare?.(home.dir);
  const store = openStore(home.dir);
  const fs = new VaultFs(store, 'default', { source: 'sdk' });
  return {
    home,
    store,
    fs,
    close: () => {
      store.release();
      home.cleanup();
    },
  };
}

/** Every hash an entry, version or checkpoint references has its blob, and every chunked blob has all its chunks. */
/** Writes `content` at the first of `paths` and links the others to it: one inode with every name. */
export function writeLinked(fs: VaultFs, content: string, first: string, ...others: string[]): void {
  fs.writeFile(first, content);
  for (const name of others) fs.link(first, name);
}

export function expectContentIntact(store: Store): void {
  const missing = store.db
    .prepare(
      `SELECT hash FROM (SELECT hash FROM entries UNION SELECT hash FROM versions UNION SELECT hash FROM checkpoint_entries)
       WHERE hash IS NOT NULL AND hash NOT IN (SELECT hash FROM blobs)`,
    )
    .all();
  expect(missing).toEqual([]);
  // Every chunk a list names is stored, and each chunk's refs is how often the lists name it.
  const uses = new Map<number, number>();
  for (const { hash } of store.db.prepare('SELECT hash FROM blobs WHERE chunk_list IS NOT NULL').all() as Array<{ hash: string }>) {
    for (const id of chunkList(store, hash).ids) uses.set(id, (uses.get(id) ?? 0) + 1);
  }
  const refs = new Map((store.db.prepare('SELECT c.id AS id, r.refs AS refs FROM chunks c JOIN chunk_refs r ON r.id = c.id').all() as Array<{ id: number; refs: number }>).map((c) => [c.id, c.refs]));
  // Every chunk has its count, and only chunks have one.
  expect(store.db.prepare('SELECT (SELECT count(*) FROM chunks) AS chunks, (SELECT count(*) FROM chunk_refs) AS counts').get()).toEqual(
    store.db.prepare('SELECT count(*) AS chunks, count(*) AS counts FROM chunks c JOIN chunk_refs r ON r.id = c.id').get(),
  );
  const wrong = [...new Set([...uses.keys(), ...refs.keys()])].filter((id) => (uses.get(id) ?? 0) !== (refs.get(id) ?? -1) && !(refs.get(id) === 0 && !uses.has(id)));
  expect(wrong).toEqual([]);
}

/** seededRandom with what a randomized sequence of operations draws: fractions, picks and bytes. */
export function seededSource(seed: number) {
  const int = seededRandom(seed);
  return {
    int,
    next: () => int(2 ** 32) / 2 ** 32,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
    bytes: (n: number) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}
