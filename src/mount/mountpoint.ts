import { readdir, realpath, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AvfsError } from '../errors.js';
import {
  isAvfsMount,
  isLive,
  isStale,
  kernelMountAt,
  kernelUnmount,
  readSessions,
  removeSpillDirs,
  setSessionState,
  type MountSessionInfo,
} from './session.js';
import { processAlive } from '../store/host-process.js';
import { lstatSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runtimeDirIn } from '../store/host-dirs.js';

/**
 * The absolute, symlink-free form of a host directory, even when it is a dead FUSE mount (whose
 * own stat fails with ENOTCONN): the parent is resolved and the name kept.
 */
export async function canonicalDir(input: string): Promise<string> {
  const abs = resolve(input);
  try {
    return await realpath(abs);
  } catch {
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/** Live sessions on `dir`. */
export function liveSessionsAt(home: string, dir: string): MountSessionInfo[] {
  return readSessions(home).filter((s) => s.dir === dir && isLive(s));
}

/**
 * Cleans up after sessions whose process died: detaches their kernel mount if it is still there
 * (a dead FUSE mount answers ENOTCONN), removes their spill files and records them as
 * `unmounted` with `stale: true`. Returns the sessions cleaned.
 */
export async function cleanStaleSessions(home: string, dir?: string): Promise<MountSessionInfo[]> {
  const cleaned: MountSessionInfo[] = [];
  for (const s of readSessions(home)) {
    if (dir !== undefined && s.dir !== dir) continue;
    // A server that failed recorded so but could not remove its spill files (its views' either).
    if (s.state === 'failed' && !processAlive(s)) removeSpillDirs(home, s.session_id);
    if (!isStale(s)) continue;
    const km = kernelMountAt(s.dir);
    // Only detach when no live session has remounted the dir meanwhile.
    if (km && isAvfsMount(km) && !liveSessionsAt(home, s.dir).some((l) => l.state !== 'mounting')) await kernelUnmount(s.dir, true);
    removeSpillDirs(home, s.session_id);
    if (s.views) removeViewsDir(s.dir, s.views.socket);
    setSessionState(home, s, 'unmounted', { stale: true });
    cleaned.push(s);
  }
  return cleaned;
}

/**
 * The runtime directory of a views server that died (views.ts startServer makes
 * <runtime dir>/views-…/mnt and its ctl.sock, and only the server removed them as it stopped: a
 * killed one's stayed for good). Only that layout in the runtime directory, the socket only if it
 * is one, and entry by entry, never recursively, so a mount still on it keeps it.
 */
function removeViewsDir(mnt: string, socket: string): void {
  const base = dirname(mnt);
  if (basename(mnt) !== 'mnt' || !basename(base).startsWith('views-') || dirname(base) !== runtimeDirIn(tmpdir()) || socket !== join(base, 'ctl.sock')) return;
  const removals = [() => lstatSync(socket).isSocket() && rmSync(socket), () => rmdirSync(mnt), () => rmdirSync(base)];
  for (const remove of removals) {
    try {
      remove();
    } catch {
      // left as it is: still mounted, or holding something else
    }
  }
}

/**
 * Whether the FUSE mount on `dir` is served: a mount whose server died fails with ENOTCONN
 * (ECONNABORTED once aborted). It asks with statfs, which always reaches the server, where stat
 * may be answered from the kernel's attribute cache for up to attr_timeout after the server died.
 * Any other outcome, including no answer within a few seconds (a busy server), counts as served,
 * so a live mount is never detached by mistake. The call runs on libuv's thread pool, so a mount
 * served by this process cannot block the JS thread.
 */
export async function mountAnswers(dir: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const noAnswer = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 5000)));
  try {
    const outcome = await Promise.race([statfs(dir).then(() => 'ok' as const, (err: NodeJS.ErrnoException) => err.code ?? 'error'), noAnswer]);
    return outcome !== 'ENOTCONN' && outcome !== 'ECONNABORTED';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks that `input` can be mounted on and returns its canonical path: it exists (NOT_FOUND), is
 * a directory (NOT_A_DIRECTORY), is empty (NOT_EMPTY) and is not already mounted (ALREADY_EXISTS).
 * A dead avfs mount left there by a crashed session is cleaned up first.
 */
export async function prepareMountpoint(home: string, input: string, ownSession?: string): Promise<string> {
  const dir = await canonicalDir(input);
  const live = liveSessionsAt(home, dir).filter((s) => s.session_id !== ownSession);
  if (live.length > 0) {
    const s = live[0]!;
    throw new AvfsError('ALREADY_EXISTS', `${dir} is already mounted (vault ${s.vault}, session ${s.session_id}, pid ${s.pid})`, {
      dir,
      vault: s.vault,
      session_id: s.session_id,
      pid: s.pid,
    });
  }
  const km = kernelMountAt(dir);
  if (km) {
    if (!isAvfsMount(km)) throw new AvfsError('ALREADY_EXISTS', `${dir} is already a mount point (${km.fstype})`, { dir, fstype: km.fstype });
    // An avfs mount with no live session in this home: either its server died (the kernel then
    // answers ENOTCONN), or another home's server is serving it, which must not be touched.
    if (await mountAnswers(dir)) {
      throw new AvfsError('ALREADY_EXISTS', `${dir} is already mounted and served by another avfs process (not a session of this home ${home})`, {
        dir,
        fstype: km.fstype,
      });
    }
    await cleanStaleSessions(home, dir);
    if (kernelMountAt(dir)) {
      const r = await kernelUnmount(dir, true);
      if (!r.ok) throw new AvfsError('ALREADY_EXISTS', `${dir} holds a dead avfs mount that could not be removed: ${r.message}`, { dir });
    }
  }
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AvfsError('NOT_FOUND', `no such directory: ${dir}`, { dir });
    if (code === 'ENOTDIR') throw new AvfsError('NOT_A_DIRECTORY', `not a directory: ${dir}`, { dir });
    throw new AvfsError('INVALID_ARGUMENT', `cannot use ${dir} as a mount point: ${(err as Error).message}`, { dir });
  }
  if (!st.isDirectory()) throw new AvfsError('NOT_A_DIRECTORY', `not a directory: ${dir}`, { dir });
  const names = await readdir(dir);
  if (names.length > 0) {
    throw new AvfsError('NOT_EMPTY', `${dir} is not empty (${names.length} entries): mount on an empty directory`, { dir, entries: names.length });
  }
  return dir;
}
