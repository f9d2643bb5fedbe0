import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayoutNode } from '../core/sandbox-layout.js';
import { AvfsError } from '../errors.js';
import { HOME_FILE_MODE, resolveHome } from '../store/home.js';
import { openStore } from '../store/store.js';
import { getVault } from '../store/vaults.js';
import { fuseAvailable } from './fuse.js';
import { canonicalDir, cleanStaleSessions, mountAnswers, prepareMountpoint } from './mountpoint.js';
import {
  isAvfsMount,
  isLive,
  kernelMountAt,
  kernelUnmount,
  logFile,
  mountsDir,
  newSessionId,
  pruneFinishedSessions,
  readSession,
  readSessions,
  setSessionState,
  type MountSessionInfo,
  type MountState,
} from './session.js';
import { processAlive, type ProcessRef } from '../store/host-process.js';

/**
 * The mount API (used by the CLI and by `proxy exec`). A mount is always served by its own detached
 * process (`avfs mount <dir> --foreground`), never by the caller: a process must not touch a mount
 * it serves synchronously (ARCHITECTURE.md "One process per mount"), and a caller that exits or
 * crashes must not take the mount down with it. Nothing here imports fuse-native except through
 * `fuseAvailable`.
 */

export type { MountSessionInfo, MountState, ProcessRef };
export { fuseAvailable, cleanStaleSessions };

export interface MountVaultOptions {
  /** avfs home (default: $AVFS_HOME, else ~/.avfs). */
  home?: string;
  vault: string;
  /** An existing, empty host directory. */
  dir: string;
  readOnly?: boolean;
  /** Open the mount to other users (allow_other; a non-root user needs user_allow_other in /etc/fuse.conf). */
  allowOther?: boolean;
  /** A proxy execution id: versions written through this mount record it (actor source 'proxy'). */
  execId?: string;
  /** How long to wait for the mount to answer (default 20 s). */
  timeoutMs?: number;
  /**
   * The process this mount serves (a proxy exec's avfs): when it dies without unmounting, the
   * server ends the processes carrying `execId` and unmounts, so nothing outlives it.
   */
  owner?: ProcessRef;
  /** The temporary directory holding `dir`, made for this mount: the server removes both if the owner dies (ServeOptions.scratchDir). */
  scratchDir?: string;
  /** Serve proxy views (view-server.ts) with this control socket instead of the vault. */
  views?: { socket: string };
  /** Present a sandbox's reserved names (sandbox-view.ts): the mount is a sandbox's root. */
  layout?: LayoutNode[];
}

export interface UnmountOptions {
  home?: string;
  dir: string;
  /** Detach now even if files are open in it (they keep working until closed). */
  lazy?: boolean;
  /** How long to wait for the server to save and exit (default 20 s). */
  timeoutMs?: number;
}

export interface UnmountResult {
  dir: string;
  /** `unmounted`, or `unmounting` when a lazily detached mount still serves open files. */
  state: MountState;
  /** False when nothing was mounted there (a second unmount is harmless). */
  was_mounted: boolean;
  /** True when the session's process had died and its dead mount was cleaned up. */
  stale: boolean;
  session_id: string | null;
  vault: string | null;
}

const BIN = fileURLToPath(new URL('../../bin/avfs.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Mounts a vault on `dir` in a detached server process and resolves once the mount answers: the
 * session says `mounted` and `dir` reports a different device than its parent. Throws NOT_FOUND,
 * NOT_A_DIRECTORY, NOT_EMPTY, ALREADY_EXISTS, VAULT_NOT_FOUND, FUSE_UNAVAILABLE or TIMEOUT.
 */
export async function mountVault(options: MountVaultOptions): Promise<MountSessionInfo> {
  const home = resolveHome(options.home);
  const store = openStore(home);
  try {
    if (!options.views) getVault(store, options.vault);
  } finally {
    store.release();
  }
  const fuse = await fuseAvailable();
  if (!fuse.ok) throw new AvfsError('FUSE_UNAVAILABLE', fuse.reason ?? 'FUSE is not available');
  pruneFinishedSessions(home);
  const dir = await prepareMountpoint(home, options.dir);

  const id = newSessionId();
  mkdirSync(mountsDir(home), { recursive: true, mode: 0o700 });
  const log = openSync(logFile(home, id), 'a', HOME_FILE_MODE);
  // A views server serves every vault of the home: it is given none.
  const args = [BIN, '--home', home, ...(options.views ? [] : ['--vault', options.vault]), 'mount', dir, '--foreground', '--session-id', id];
  if (options.readOnly) args.push('--read-only');
  if (options.allowOther) args.push('--allow-other');
  if (options.owner) args.push('--owner', `${options.owner.pid}:${options.owner.pid_start ?? ''}`);
  if (options.scratchDir) args.push('--scratch-dir', options.scratchDir);
  if (options.views) args.push('--views', options.views.socket);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, AVFS_EXEC_ID: options.execId ?? '', AVFS_VAULT: '', AVFS_SANDBOX_LAYOUT: options.layout ? JSON.stringify(options.layout) : '' },
  });
  closeSync(log);
  child.on('exit', (code, signal) => (exited = { code, signal }));
  child.on('error', () => (exited = { code: -1, signal: null }));
  child.unref();

  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = readSession(home, id);
    if (s?.state === 'failed') throw sessionError(s);
    if (s?.state === 'mounted' && (await answers(dir))) return s;
    if (exited) {
      const again = readSession(home, id);
      if (again?.state === 'failed') throw sessionError(again);
      throw new AvfsError('INTERNAL', `the mount server exited (${exited.signal ?? `code ${exited.code}`}) before mounting: ${logTail(home, id)}`, {
        dir,
        session_id: id,
        log: logFile(home, id),
      });
    }
    await sleep(20);
  }
  // Not ready in time: stop the server and leave nothing mounted.
  if (child.pid && !exited) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (kernelMountAt(dir)) await kernelUnmount(dir, true);
  const s = readSession(home, id);
  if (s) setSessionState(home, s, 'failed', { error: { code: 'TIMEOUT', message: `not mounted within ${timeoutMs} ms` } });
  throw new AvfsError('TIMEOUT', `mounting ${dir} did not complete within ${timeoutMs} ms: ${logTail(home, id)}`, { dir, session_id: id });
}

/** True when `dir` is served by a filesystem other than its parent's (checked with a time limit). */
async function answers(dir: string): Promise<boolean> {
  const probe = Promise.all([stat(dir), stat(dirname(dir))]).then(
    ([a, b]) => a.dev !== b.dev,
    () => false,
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)));
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sessionError(s: MountSessionInfo): AvfsError {
  return AvfsError.fromJSON({ code: s.error?.code ?? 'INTERNAL', message: s.error?.message ?? 'mount failed', dir: s.dir, session_id: s.session_id });
}

function logTail(home: string, id: string): string {
  try {
    const lines = readFileSync(logFile(home, id), 'utf8').trim().split('\n');
    return lines.slice(-5).join(' | ') || '(empty log)';
  } catch {
    return '(no log)';
  }
}

/**
 * Unmounts `dir`: detaches the kernel mount (refused with CONFLICT while files are open in it,
 * unless `lazy`), then lets the server save anything still open and exit. A session whose process
 * died is cleaned up (its dead mount detached). Unmounting what is not mounted is harmless.
 */
export async function unmountDir(options: UnmountOptions): Promise<UnmountResult> {
  const home = resolveHome(options.home);
  const dir = await canonicalDir(options.dir);
  const timeoutMs = options.timeoutMs ?? 20_000;
  const sessions = readSessions(home).filter((s) => s.dir === dir);
  const live = sessions.find(isLive);
  const result: UnmountResult = { dir, state: 'unmounted', was_mounted: false, stale: false, session_id: null, vault: null };

  if (live) {
    result.was_mounted = true;
    result.session_id = live.session_id;
    result.vault = live.vault;
    if (kernelMountAt(dir)) {
      let r = await kernelUnmount(dir, !!options.lazy);
      // A descriptor closed just now (a tool that has exited, on a loaded machine) can keep the
      // mount busy for a moment: asked again for up to about 1.5 s before it counts as in use.
      for (let wait = 100; !r.ok && r.busy && wait <= 500; wait += 100) {
        await sleep(wait);
        r = await kernelUnmount(dir, !!options.lazy);
      }
      if (!r.ok && r.busy) {
        throw new AvfsError('CONFLICT', `${dir} is busy: a process has files open or its working directory in it (close them, or unmount with --lazy)`, {
          dir,
        });
      }
      if (!r.ok) throw new AvfsError('INTERNAL', `could not unmount ${dir}: ${r.message}`, { dir });
    }
    if (options.lazy) {
      // The server exits by itself once files still open through the detached mount are closed.
      await waitForExit(live, 2000);
      const s = readSession(home, live.session_id) ?? live;
      result.state = processAlive(s) ? 'unmounting' : 'unmounted';
      return result;
    }
    try {
      process.kill(live.pid, 'SIGTERM');
    } catch {
      // exited meanwhile
    }
    if (!(await waitForExit(live, timeoutMs))) {
      try {
        process.kill(live.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitForExit(live, 2000);
      if (kernelMountAt(dir)) await kernelUnmount(dir, true);
      const s = readSession(home, live.session_id);
      if (s && s.state !== 'unmounted') setSessionState(home, s, 'failed', { error: { code: 'TIMEOUT', message: 'server did not exit; killed' } });
    }
    const s = readSession(home, live.session_id);
    if (s && s.state !== 'unmounted' && s.state !== 'failed') setSessionState(home, s, 'unmounted', { stale: true });
    return result;
  }

  const cleaned = await cleanStaleSessions(home, dir);
  if (cleaned.length > 0) {
    result.was_mounted = true;
    result.stale = true;
    result.session_id = cleaned[0]!.session_id;
    result.vault = cleaned[0]!.vault;
  }
  const km = kernelMountAt(dir);
  if (km) {
    if (!isAvfsMount(km)) throw new AvfsError('INVALID_ARGUMENT', `${dir} is a ${km.fstype} mount, not an avfs mount`, { dir, fstype: km.fstype });
    // An avfs mount this home has no session for. A live server of another home keeps its mount;
    // a dead one's (its server killed, its home deleted) is detached.
    if (await mountAnswers(dir)) {
      throw new AvfsError(
        'CONFLICT',
        `${dir} is served by an avfs mount of another home: unmount it from that home (avfs unmount --home <dir>), or with \`fusermount -u ${dir}\``,
        { dir },
      );
    }
    const r = await kernelUnmount(dir, true);
    if (!r.ok) throw new AvfsError('INTERNAL', `could not unmount ${dir}: ${r.message}`, { dir });
    result.was_mounted = true;
    result.stale = true;
  }
  return result;
}

async function waitForExit(s: MountSessionInfo, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(s)) return true;
    await sleep(20);
  }
  return !processAlive(s);
}

/** Live mount sessions of a home (their server process runs), newest first. Reads files only. */
export function listMounts(home?: string): MountSessionInfo[] {
  return readSessions(resolveHome(home)).filter(isLive);
}

/** The live, mounted session of `vault` in `home` that shows the vault itself (not a proxy views server), if any. */
export function findLiveMount(home: string | undefined, vault: string): MountSessionInfo | undefined {
  return listMounts(home).find((s) => s.vault === vault && s.state === 'mounted' && !s.views);
}
