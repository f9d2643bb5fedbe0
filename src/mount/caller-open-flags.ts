import { closeSync, openSync, readSync } from 'node:fs';
import { O_TRUNC } from './open-file.js';

/**
 * Which argument of the open call holds the flags, by system call number, for the architectures
 * /proc/<pid>/syscall is read on: open(path, flags, mode), openat(dirfd, path, flags, mode).
 * creat(2) and openat2(2) (flags in memory) are not listed: their flags are not read (null).
 */
const FLAGS_ARGUMENT: Partial<Record<NodeJS.Architecture, Record<number, number>>> = {
  x64: { 2: 1, 257: 2 },
  arm64: { 56: 2 },
};

/** Calls that open with their flags out of reach: creat(2) (always O_TRUNC) and openat2(2) (flags in memory). */
const OTHER_OPENS: Partial<Record<NodeJS.Architecture, Record<number, 'creat' | 'openat2'>>> = {
  x64: { 85: 'creat', 437: 'openat2' },
  arm64: { 437: 'openat2' },
};

const buffer = Buffer.alloc(512);

/** The fields of /proc/<pid>/syscall ("<number> <arg0> … <arg5> <sp> <pc>", arguments in hex), or null. */
function callerSyscall(pid: number | undefined): string[] | null {
  if (!pid) return null;
  let text: string;
  try {
    const fd = openSync(`/proc/${pid}/syscall`, 'r');
    try {
      text = buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  const fields = text.trim().split(' ');
  return /^\d+$/.test(fields[0] ?? '') ? fields : null;
}

/**
 * Whether process `pid` is inside an open that truncates (O_TRUNC, creat): a cut by path it asks
 * for is that open's (FUSE 2 opens, then truncates by path). false when it is in another call (a
 * truncate(2)), null when that cannot be told (openat2, an unreadable process, another architecture).
 */
export function callerOpensTruncating(pid: number | undefined): boolean | null {
  const argument = FLAGS_ARGUMENT[process.arch];
  const fields = argument ? callerSyscall(pid) : null;
  if (!argument || !fields) return null;
  const number = Number(fields[0]);
  const other = OTHER_OPENS[process.arch]?.[number];
  if (other) return other === 'creat' ? true : null;
  const at = argument[number];
  if (at === undefined) return false;
  const flags = Number(fields[1 + at]);
  return Number.isSafeInteger(flags) ? (flags & O_TRUNC) !== 0 : null;
}

/**
 * The flags of the open(2) call that process `pid` is blocked in, read from /proc/<pid>/syscall
 * while it waits for the reply. fuse-native passes create() no flags, so this is how a file made
 * by open(O_CREAT | O_APPEND) (`>>`, Python's open(p, 'a')) is known to append: its writes then
 * land at the current end, after what others wrote meanwhile, as on a local disk. null when they
 * cannot be read (another call such as io_uring's, openat2, another architecture, no access).
 */
export function callerOpenFlags(pid: number | undefined): number | null {
  const argument = FLAGS_ARGUMENT[process.arch];
  const fields = argument ? callerSyscall(pid) : null;
  if (!argument || !fields) return null;
  const at = argument[Number(fields[0])];
  const flags = at === undefined ? NaN : Number(fields[1 + at]);
  return Number.isSafeInteger(flags) ? flags : null;
}
