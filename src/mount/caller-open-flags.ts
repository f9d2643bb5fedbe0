import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Which argument of the open call holds the flags, by system call number, for the architectures
 * /proc/<pid>/syscall is read on: open(path, flags, mode), openat(dirfd, path, flags, mode).
 * creat(2) and openat2(2) (flags in memory) are not listed: their flags are not read (null).
 */
const FLAGS_ARGUMENT: Partial<Record<NodeJS.Architecture, Record<number, number>>> = {
  x64: { 2: 1, 257: 2 },
  arm64: { 56: 2 },
};

const buffer = Buffer.alloc(512);

/**
 * The flags of the open(2) call that process `pid` is blocked in, read from /proc/<pid>/syscall
 * while it waits for the reply. fuse-native passes create() no flags, so this is how a file made
 * by open(O_CREAT | O_APPEND) (`>>`, Python's open(p, 'a')) is known to append: its writes then
 * land at the current end, after what others wrote meanwhile, as on a local disk. null when they
 * cannot be read (another call such as io_uring's, openat2, another architecture, no access).
 */
export function callerOpenFlags(pid: number | undefined): number | null {
  const argument = FLAGS_ARGUMENT[process.arch];
  if (!argument || !pid) return null;
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
  // "<number> <arg0> … <arg5> <sp> <pc>", the arguments in hex.
  const fields = text.trim().split(' ');
  const at = argument[Number(fields[0])];
  const flags = at === undefined ? NaN : Number(fields[1 + at]);
  return Number.isSafeInteger(flags) ? flags : null;
}
