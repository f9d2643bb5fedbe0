import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeHomeFile } from '../store/home.js';
import { processAlive } from '../store/host-process.js';

/**
 * Mount sessions, recorded in the home as one JSON file per session (`<home>/mounts/<id>.json`,
 * written atomically: temp file + rename), beside the server's log (`<id>.log`) and its spill
 * directory for large open files (`<id>.spill/`).
 *
 *   mounting ──▶ mounted ──▶ unmounting ──▶ unmounted
 *       └──────────┴────────────┴──────────▶ failed
 *
 * The serving process owns its file and moves it along. A session whose process died (kill -9, a
 * crash) is stale: `unmount` (or a new mount of the same dir) cleans its kernel mount up and
 * records it as `unmounted` with `stale: true`.
 */

export type MountState = 'mounting' | 'mounted' | 'unmounting' | 'unmounted' | 'failed';

/** One mount session as recorded and as reported (`mount --list --json`); field names are stable. */
export interface MountSessionInfo {
  session_id: string;
  vault: string;
  /** Absolute host directory the vault is mounted on. */
  dir: string;
  /** The process serving the mount. */
  pid: number;
  state: MountState;
  /** When the session started (ISO 8601). */
  since: string;
  /** When the state last changed (ISO 8601). */
  updated_at: string;
  read_only: boolean;
  /** The proxy execution this mount serves (versions written through it record it), or null. */
  exec_id: string | null;
  /** Set on the home's proxy views server (view-server.ts): its control socket. */
  views?: { socket: string };
  /** The server's log file (stdout and stderr of a background mount). */
  log: string;
  /** uid/gid that every entry is reported with (the serving process's). */
  uid: number;
  gid: number;
  /** Set when the session ended because its process died and the stale mount was cleaned up. */
  stale?: boolean;
  /** Set while a lazily detached mount still serves files that were open through it. */
  detached?: boolean;
  /** Why the session failed, for state `failed`. */
  error?: { code: string; message: string };
  /** @internal process start time (clock ticks since boot), to tell a live pid from a reused one */
  pid_start?: number | null;
}

export const mountsDir = (home: string) => join(home, 'mounts');
export const sessionFile = (home: string, id: string) => join(mountsDir(home), `${id}.json`);
export const logFile = (home: string, id: string) => join(mountsDir(home), `${id}.log`);
export const spillDir = (home: string, id: string) => join(mountsDir(home), `${id}.spill`);

export function newSessionId(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function writeSession(home: string, info: MountSessionInfo): void {
  mkdirSync(mountsDir(home), { recursive: true, mode: 0o700 });
  writeHomeFile(sessionFile(home, info.session_id), JSON.stringify(info, null, 2) + '\n');
}

/** Moves a session to `state` (and merges `patch`), stamping updated_at. */
export function setSessionState(home: string, info: MountSessionInfo, state: MountState, patch: Partial<MountSessionInfo> = {}): MountSessionInfo {
  Object.assign(info, patch, { state, updated_at: new Date().toISOString() });
  writeSession(home, info);
  return info;
}

export function readSession(home: string, id: string): MountSessionInfo | undefined {
  try {
    return JSON.parse(readFileSync(sessionFile(home, id), 'utf8')) as MountSessionInfo;
  } catch {
    return undefined;
  }
}

/** Every recorded session, newest first. */
export function readSessions(home: string): MountSessionInfo[] {
  let names: string[];
  try {
    names = readdirSync(mountsDir(home));
  } catch {
    return [];
  }
  const out: MountSessionInfo[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const s = readSession(home, name.slice(0, -5));
    if (s) out.push(s);
  }
  return out.sort((a, b) => b.since.localeCompare(a.since));
}

/** Removes a finished session's files (record, log, spill directories). */
export function removeSessionFiles(home: string, id: string): void {
  for (const p of [sessionFile(home, id), logFile(home, id)]) rmSync(p, { recursive: true, force: true });
  removeSpillDirs(home, id);
}

/** Removes a session's spill directories: its own, and a views server's one per exec (`<id>-<exec id>.spill`). */
export function removeSpillDirs(home: string, id: string): void {
  let names: string[];
  try {
    names = readdirSync(mountsDir(home));
  } catch {
    return;
  }
  for (const name of names) {
    if (name === `${id}.spill` || (name.startsWith(`${id}-`) && name.endsWith('.spill'))) rmSync(join(mountsDir(home), name), { recursive: true, force: true });
  }
}

/** Finished sessions are kept this long (their logs help explain a failure), then removed. */
const KEEP_FINISHED_MS = 24 * 60 * 60 * 1000;

export function pruneFinishedSessions(home: string): void {
  const cutoff = Date.now() - KEEP_FINISHED_MS;
  for (const s of readSessions(home)) {
    if ((s.state === 'unmounted' || s.state === 'failed') && Date.parse(s.updated_at) < cutoff) removeSessionFiles(home, s.session_id);
  }
}

const ACTIVE: ReadonlySet<MountState> = new Set(['mounting', 'mounted', 'unmounting']);

/** True for a session in an active state whose server still runs. */
export function isLive(info: MountSessionInfo): boolean {
  return ACTIVE.has(info.state) && processAlive(info);
}

/** True for a session that claims to be active but whose process is gone. */
export function isStale(info: MountSessionInfo): boolean {
  return ACTIVE.has(info.state) && !processAlive(info);
}

// ---- the kernel's mount table ------------------------------------------------------------

export interface KernelMount {
  dir: string;
  fstype: string;
  source: string;
  /** "major:minor" of the mounted filesystem. */
  dev: string;
}

/** The mount table of this process's namespace (/proc/self/mountinfo). */
export function kernelMounts(text = readMountinfo()): KernelMount[] {
  const out: KernelMount[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({ dir: unescapeMountPath(f[4] ?? ''), dev: f[2] ?? '', fstype: r[0] ?? '', source: unescapeMountPath(r[1] ?? '') });
  }
  return out;
}

function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 …). */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The topmost kernel mount on `dir`, if any. */
export function kernelMountAt(dir: string, mounts = kernelMounts()): KernelMount | undefined {
  let found: KernelMount | undefined;
  for (const m of mounts) if (m.dir === dir) found = m;
  return found;
}

export const isAvfsMount = (m: KernelMount) => m.fstype === 'fuse.avfs' || (m.fstype.startsWith('fuse') && m.source === 'avfs');

/**
 * Detaches a mount: `fusermount -u` (with `lazy`, `-uz`), falling back to `umount` (`-l`). Async
 * child processes only: the caller may serve a mount. Resolves { ok, busy, message }.
 */
export async function kernelUnmount(dir: string, lazy: boolean): Promise<{ ok: boolean; busy: boolean; notMounted: boolean; message: string }> {
  const attempts: [string, string[]][] = [
    ['fusermount', [lazy ? '-uz' : '-u', '--', dir]],
    ['fusermount3', [lazy ? '-uz' : '-u', '--', dir]],
    ['umount', lazy ? ['-l', dir] : [dir]],
  ];
  let last = { ok: false, busy: false, notMounted: false, message: 'no unmount tool found' };
  for (const [cmd, args] of attempts) {
    const r = await run(cmd, args);
    if (r.missing) continue;
    if (r.code === 0) return { ok: true, busy: false, notMounted: false, message: '' };
    const message = r.stderr.trim();
    last = { ok: false, busy: /busy/i.test(message), notMounted: /not mounted|not found in|no mount point|entry for .* not found/i.test(message), message };
    if (last.busy) return last;
    if (kernelMountAt(dir) === undefined) return { ok: true, busy: false, notMounted: true, message };
  }
  return last;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    // A child whose exit is never reported must not hold its caller forever. Seen in a views
    // server whose home a test removed: its `fusermount -uz` had exited (a zombie, the mount
    // gone), the exit never reached the event loop (its main thread had every signal blocked),
    // and stop() waited for it for hours. After execFile's own timeout and a grace period, the
    // run counts as failed; the caller then looks at the kernel's mount table itself.
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 1, stderr: `${cmd} did not report its exit`, missing: false });
    }, 20_000);
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, _stdout, stderr) => {
      clearTimeout(guard);
      if (!err) return resolve({ code: 0, stderr: String(stderr), missing: false });
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      if (e.code === 'ENOENT') return resolve({ code: 127, stderr: '', missing: true });
      resolve({ code: typeof e.code === 'number' ? e.code : 1, stderr: String(stderr || e.message), missing: false });
    });
  });
}
