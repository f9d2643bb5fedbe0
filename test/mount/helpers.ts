import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { expect } from 'vitest';
import { avfs, tempDir } from '../helpers.js';
import { describeNeeding, FUSE } from '../requirements.js';

/**
 * Mount tests run on the real FUSE mount. They skip only where FUSE is truly absent, saying why;
 * where AVFS_REQUIRE_FUSE=1 or CI is set that skip is a failure instead (test/requirements.ts).
 * The mount is served by its own detached process, so this (test) process may use the mounted
 * directory freely; every tool runs with a timeout, and cleanup kills the server and lazily
 * unmounts whatever is left.
 */
export function describeMount(name: string, fn: () => void): void {
  describeNeeding(FUSE, name, fn);
}

export interface MountFixture {
  home: string;
  dir: string;
  /** Scratch space beside the mount (native disk). */
  scratch: string;
  pid: number;
  sessionId: string;
  run: (args: string[], opts?: Parameters<typeof avfs>[2]) => ReturnType<typeof avfs>;
  cleanup: () => Promise<void>;
}

/**
 * Reads until `done` holds for what it read (or 20 s pass), and returns the last reading: for
 * what the mount stores asynchronously, such as a file created empty, stored at its release.
 */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A fresh home with its `default` vault mounted on an empty directory through `avfs mount`. */
export async function mountFixture(options: { args?: string[]; prepare?: (run: MountFixture['run']) => Promise<void> } = {}): Promise<MountFixture> {
  const tmp = tempDir('avfs-mount-');
  const home = join(tmp.dir, 'home');
  const dir = join(tmp.dir, 'mnt');
  const scratch = join(tmp.dir, 'scratch');
  mkdirSync(dir);
  mkdirSync(scratch);
  const run: MountFixture['run'] = (args, opts) => avfs(home, args, opts);
  await options.prepare?.(run);
  const r = await run(['mount', dir, ...(options.args ?? [])]);
  if (r.json?.ok !== true) throw new Error(`mount failed: ${r.stdout} ${r.stderr}`);
  const fixture: MountFixture = {
    home,
    dir,
    scratch,
    pid: r.json.pid,
    sessionId: r.json.session_id,
    run,
    cleanup: async () => {
      await run(['unmount', dir, '--lazy', '--timeout', '5000']);
      await forceCleanup(dir, fixture.pid);
      tmp.cleanup();
    },
  };
  return fixture;
}

/** Last resort: kill the server, detach anything still mounted (never rm -rf a live mount). */
export async function forceCleanup(dir: string, pid?: number): Promise<void> {
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (isMounted(dir)) await execa('umount', ['-l', dir], { reject: false, timeout: 10_000 });
}

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

/** Runs a bash command with a timeout; never rejects. */
export async function sh(cmd: string, opts: { cwd?: string; timeout?: number; env?: Record<string, string> } = {}) {
  const r = await execa('bash', ['-c', cmd], {
    cwd: opts.cwd,
    timeout: opts.timeout ?? 60_000,
    reject: false,
    env: { FORCE_COLOR: '0', ...opts.env },
    encoding: 'utf8',
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, timedOut: !!r.timedOut };
}

/** Runs a bash command and fails the test (with its output) unless it exits 0. */
export async function shOk(cmd: string, opts: Parameters<typeof sh>[1] = {}): Promise<string> {
  const r = await sh(cmd, opts);
  expect(r.code, `\`${cmd}\` exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/**
 * A python3 script that keeps files open while the test acts from other processes. Its `step(msg)`
 * prints `msg` and waits for `go()`; `next()` is the next line it prints. Python 3 code may use
 * os, sys, json and time, and `step`; it runs with a timeout.
 */
export function stepScript(code: string, args: string[] = []) {
  const script = `import os, sys, json, time\ndef step(msg):\n    print(msg, flush=True)\n    sys.stdin.readline()\n${code}`;
  const child = execa('python3', ['-c', script, ...args], { stdin: 'pipe', reject: false, timeout: 60_000, encoding: 'utf8' });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async next(): Promise<string> {
      const r = await lines.next();
      if (!r.done) return r.value as string;
      const end = await child;
      throw new Error(`script ended (exit ${end.exitCode}${end.timedOut ? ', timed out' : ''}): ${end.stderr}`);
    },
    go: () => void child.stdin!.write('go\n'),
    done: async () => {
      const end = await child;
      expect(end.exitCode, end.stderr).toBe(0);
    },
  };
}

export interface TreeItem {
  type: 'file' | 'dir' | 'symlink';
  mode: string;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Every entry below `root` (lstat, not following symlinks): type, permission bits, size, content hash, link target. */
export async function snapshot(root: string): Promise<Record<string, TreeItem>> {
  const out: Record<string, TreeItem> = {};
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', mode: '777', target: await readlink(p) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode };
        await walk(r);
      } else out[r] = { type: 'file', mode, size: st.size, sha256: createHash('sha256').update(await readFile(p)).digest('hex') };
    }
  };
  await walk('');
  return out;
}

export { avfs, tempDir, existsSync, rmSync };
