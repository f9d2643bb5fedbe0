import type { FuseOperations } from 'fuse-native';
import { attributeOps } from './attribute-ops.js';
import { directoryOps } from './directory-ops.js';
import { fileOps } from './file-ops.js';
import { namespaceOps } from './namespace-ops.js';
import { opContext, type MountContext } from './op-context.js';
import { refreshOtherNames } from './other-names.js';
import type { Store } from '../store/store.js';

export type { MountContext } from './op-context.js';

/**
 * The FUSE operations of a mounted vault, as fuse-native calls them: one JS thread serves every
 * request, so each handler is short and synchronous (better-sqlite3 is synchronous too) and
 * always answers. Paths from the kernel are canonical and already resolved (symlinks included),
 * so lookups read entries directly; every change of the tree goes through VaultFs (its `*Exact`
 * methods where the kernel's path must be taken as it is), so history is complete and only
 * store/ knows which tables a change touches. The operations are grouped by concern, each group
 * in its own module over one shared context (op-context.ts): attributes (attribute-ops.ts), file
 * I/O on open files (file-ops.ts), directories (directory-ops.ts) and names (namespace-ops.ts).
 *
 * Deliberate answers for what the store does not model:
 *  - link → VaultFs.link: one inode, several names, each reporting the inode's number (use_ino)
 *    and link count. libfuse 2's path-based API gives each name its own kernel inode, so what the
 *    kernel cached for one name (size, times, link count) would lag a change made through another
 *    name for up to the attribute timeout: a link, and the operations other-names.ts wraps, make
 *    the kernel drop it (ARCHITECTURE.md, "Hard links through the mount").
 *  - chown → VaultFs.chown: stored per entry; an entry never chowned reports the mounting user.
 *    `avfs mount` runs with default_permissions (server.ts), so the kernel has already decided
 *    who may chown, chmod, open or search, from what getattr reports; this code only stores. On a
 *    chown or write by someone without CAP_FSETID the kernel sends the mode without set-id bits
 *    (a chmod) itself, since libfuse 2 does not ask for handle_killpriv.
 *  - new entries belong to their creator: the caller's uid, and its gid or, under a set-group-ID
 *    directory, the directory's group (which a new directory inherits with the bit). fuse-native
 *    does not pass the caller; our patch reads libfuse's fuse_get_context() (fuse.ts callerReader).
 *    Ids equal to the mounting user's are stored as null ("whoever mounts"), as before.
 *  - xattrs → not implemented: the kernel answers ENOSYS once, then EOPNOTSUPP for every xattr
 *    call without asking again (cheaper than answering each; `cp -a` and `ls` treat it as "none").
 *  - mknod → VaultFs.mknod: FIFOs, sockets and devices are metadata-only entries (type, mode,
 *    rdev); the kernel serves a FIFO's data itself and never opens a device here (nodev).
 *  - names longer than 255 bytes, and new paths longer than MAX_NEW_PATH_BYTES → ENAMETOOLONG from
 *    getattr, which every creating call looks up first.
 *  - access → not implemented, on purpose: the kernel answers access()/chdir itself (existence
 *    through lookup, EROFS through the read-only mount flag) once the first call gets ENOSYS,
 *    which saves a round trip per call (git calls access() several times per command).
 *  - directories report nlink 2 + their subdirectories (entries.ts linkCount), as local file
 *    systems do.
 */

export function createOperations(ctx: MountContext): FuseOperations {
  const c = opContext(ctx);
  const ops = lingering({ ...attributeOps(c), ...directoryOps(c), ...fileOps(c), ...namespaceOps(c) }, c.store);
  return ctx.dropAttributes ? refreshOtherNames(ops, c, ctx.dropAttributes) : ops;
}

/**
 * How long a read transaction a request opened stays open for the requests after it, at most.
 * A reader holds back the WAL's checkpoints; requests keep it only while nothing is committed.
 */
export const LINGER_MS = 5;

/**
 * Every request runs in a read transaction that the requests after it join while no connection
 * commits (Store.lingerRead): a git status is thousands of getattrs of one statement each (or
 * none: an entry cache hit still asks SQLite whether another connection committed), and outside
 * a transaction each statement takes and drops SQLite's lock, most of such a request's time.
 * Each request checks first that nothing was committed since (else it reads anew: a write the
 * CLI made before a `cat` is what the cat reads), and a request that writes ends it (Store.mutate).
 */
function lingering(ops: FuseOperations, store: Store): FuseOperations {
  const out: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops)) {
    out[name] =
      typeof op === 'function'
        ? (...args: unknown[]) => {
            try {
              store.lingerRead(LINGER_MS);
            } catch {
              // (a closing connection): the request reads statement by statement, and answers
            }
            (op as (...a: unknown[]) => void)(...args);
          }
        : op;
  }
  return out as FuseOperations;
}
