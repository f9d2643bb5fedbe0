import { closeSync, constants, existsSync, openSync } from 'node:fs';

/**
 * Host paths of any length. The kernel refuses a path string over PATH_MAX (4096 bytes,
 * ENAMETOOLONG), but a tree may be deeper than that: a command makes one with relative paths, and
 * a copy-mode run's copy holds the vault's deep trees (a vault path may have 8 KiB) below the
 * copy's own directory. Node has no openat(), so a long path is reached the way openat would
 * reach it: its directories are opened as descriptors, a piece of the path at a time, and the
 * call is given `/proc/self/fd/N/<rest>`, which the kernel resolves through descriptor N (a
 * symlink in a piece is followed as it would be in the whole path; the last name is the call's,
 * O_NOFOLLOW and all). No process-wide state changes (chdir would move every other use of the
 * working directory), and the descriptors are closed when the call returns, so a directory
 * renamed later is never reached through a stale one.
 */

/** Linux's O_PATH (Node's constants lack it): a descriptor that only names the directory, so one its owner made mode 000 can still be passed through. */
const O_PATH = 0o10000000;
/** Paths up to this long are used as they are; a longer one is cut into pieces this long at most, far below PATH_MAX with room for `/proc/self/fd/N/`. */
const DIRECT_BYTES = 3072;
const SLASH = 0x2f;

/** Whether /proc shows this process's descriptors (without it, a long path is used as it is and fails with ENAMETOOLONG as before). */
let procFds: boolean | undefined;

/**
 * Runs `use` with a path naming `host` that is short enough for any system call: `host` itself
 * when it is, else `/proc/self/fd/N/<rest>` (a string for a string, bytes for bytes). An error's
 * `path` names `host`, not the descriptor path. The path is valid only during `use`; a child
 * process must not be given it (`/proc/self` is the child there), but may be started with it as
 * its `cwd`, which it enters before the descriptors close on exec.
 */
export function atHostPath<P extends string | Buffer, T>(host: P, use: (path: P) => T): T {
  const bytes = typeof host === 'string' ? Buffer.from(host) : (host as Buffer);
  if (bytes.length <= DIRECT_BYTES || !(procFds ??= existsSync('/proc/self/fd'))) return use(host);
  const fds: number[] = [];
  try {
    let prefix = Buffer.alloc(0);
    let rest = bytes;
    while (prefix.length + rest.length > DIRECT_BYTES) {
      const cut = rest.lastIndexOf(SLASH, DIRECT_BYTES - prefix.length);
      if (cut <= 0) break; // no piece to open (a name over NAME_MAX): the call fails as it would have
      fds.push(openSync(Buffer.concat([prefix, rest.subarray(0, cut)]), O_PATH | constants.O_DIRECTORY));
      prefix = Buffer.from(`/proc/self/fd/${fds[fds.length - 1]}/`);
      rest = rest.subarray(cut + 1);
    }
    const path = Buffer.concat([prefix, rest]);
    return use((typeof host === 'string' ? path.toString() : path) as P);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.path === 'string' && e.path.startsWith('/proc/self/fd/')) e.path = bytes.toString();
    throw err;
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
