import type { FuseStat } from 'fuse-native';
import { AvfsError } from '../errors.js';
import { basename, dirname } from '../core/paths.js';
import { linkCount, type Entry } from '../store/entries.js';
import { vaultUsage } from '../store/usage.js';
import type { Owner, VaultFs } from '../store/vault-fs.js';
import type { VaultRow } from '../store/vaults.js';
import { callerReader, errnoCode, type Caller, type Fuse } from './fuse.js';
import type { DropAttributes } from './other-names.js';
import { O_APPEND, type OpenFile, type OpenFiles, type ShownAttributes } from './open-files.js';
import { callerOpenFlags, callerOpensTruncating } from './caller-open-flags.js';

/**
 * Kernel attribute and entry cache lifetime in seconds: a change made outside the mount (the CLI,
 * another mount) shows up inside it within this bound. Lookup-heavy tools depend on it
 * (ARCHITECTURE.md "Mount options and caches").
 */
export const ATTR_TIMEOUT_S = 1;

/** What a mount serves (server.ts, view-server.ts build it; createOperations turns it into FUSE operations). */
export interface MountContext {
  fuse: Fuse;
  fs: VaultFs;
  vault: VaultRow;
  files: OpenFiles;
  readOnly: boolean;
  uid: number;
  gid: number;
  /** Host directory whose filesystem statfs reports when the vault has no byte quota. */
  home: string;
  /** The addon honours KEEP_CACHE in open's handle (see keepCacheSupported). */
  keepCache: boolean;
  /** The addon honours DIRECT_IO in open's handle (see directAppendSupported); default no. */
  directAppend?: boolean;
  /**
   * The addon passes "" as the path of an open file whose path libfuse lost (see nullPathSupported):
   * a directory whose only entries are files unlinked while open may then be removed.
   */
  nullPath?: boolean;
  log: (message: string) => void;
  /** Who made the request being served (default: the patched addon's fuse_get_context, if built). */
  caller?: (() => Caller) | null;
  /**
   * How to make the kernel drop an inode's cached attributes under all its names, once mounted
   * (other-names.ts); none, or null returned, leaves the other names of a hard link to catch up
   * within the attribute timeout.
   */
  dropAttributes?: () => DropAttributes | null;
}

export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
export const TYPE_BITS: Record<Entry['type'], number> = { f: S_IFREG, d: S_IFDIR, l: S_IFLNK, p: 0o010000, s: 0o140000, c: 0o020000, b: 0o060000 };
export const S_IFMT = 0o170000;
export const S_ISGID = 0o2000;
/** Longest name (bytes) of one path component, as statfs reports it. */
export const NAME_MAX = 255;
/** Reported st_blksize: stdio and cp size their buffers by it; matches max_write. */
const BLKSIZE = 128 * 1024;
const DIR_SIZE = 4096;
/** The name libfuse gives an open file that is unlinked or replaced (it unlinks it on the last release). */
export const HIDDEN = /\/\.fuse_hidden[0-9a-f]{16}$/;

/**
 * Whether the last name of a path the kernel gave is one that was not valid UTF-8: fuse-native
 * decodes the kernel's bytes into a JS string, each bad byte becoming U+FFFD, so the original
 * bytes are gone and two such names (a\xff, a\xfe) would become one. Operations that create a
 * name refuse it with EILSEQ, as Linux file systems with strict encoding do (ARCHITECTURE.md,
 * "Names that are not UTF-8"). A genuine U+FFFD in a name is refused too: the string cannot tell.
 */
export const undecodableName = (path: string): boolean => basename(path).includes('\uFFFD');

/** The errnos the operations answer with, as fuse-native's negative numbers. */
function errnos(fuse: Fuse) {
  const E = (name: string) => errnoCode(fuse, name);
  return {
    ENOENT: E('ENOENT'),
    EEXIST: E('EEXIST'),
    EBADF: E('EBADF'),
    EROFS: E('EROFS'),
    EISDIR: E('EISDIR'),
    ENOTDIR: E('ENOTDIR'),
    ENOTEMPTY: E('ENOTEMPTY'),
    EBUSY: E('EBUSY'),
    EINVAL: E('EINVAL'),
    EDQUOT: E('EDQUOT'),
    ENAMETOOLONG: E('ENAMETOOLONG'),
    EILSEQ: E('EILSEQ'),
    ESTALE: E('ESTALE'),
  };
}

export interface OpContext {
  ctx: MountContext;
  fuse: Fuse;
  fs: VaultFs;
  files: OpenFiles;
  store: VaultFs['store'];
  uid: number;
  gid: number;
  err: ReturnType<typeof errnos>;
  /** Maps anything thrown to a negative errno; unexpected failures are logged with their stack. */
  errno(thrown: unknown, op: string, path: string): number;
  /** The vault row for reading its tree (its layers): StoredEntries.vault. */
  vault(): VaultRow;
  /** The stored entry at a canonical path. */
  entry(path: string): Entry | undefined;
  creatorOf(path: string): { owner: Owner; setgid: boolean };
  pageWriteback(): boolean;
  createdAppending(): number;
  /** Whether the request being served is the cut by path an open(2) with O_TRUNC makes after it opens (null: cannot be told). */
  openingWithTruncate(): boolean | null;
  /** The process the request being served comes from (undefined when the addon cannot tell). */
  callerPid(): number | undefined;
  toStat(type: Entry['type'], ino: number, a: ShownAttributes, nlink?: number, e?: Pick<Entry, 'uid' | 'gid' | 'rdev'>): FuseStat;
  entryStat(e: Entry): FuseStat;
  openAt(path: string): OpenFile | undefined;
  holderOf(path: string): OpenFile | undefined;
  touchDirs(...dirs: string[]): void;
  settleCreatesIn(dir: Entry): void;
  parentError(path: string): number;
  quotaInfo(): { row: VaultRow; bytes: number; entries: number };
  overQuota(file: OpenFile, newSize: number): boolean;
}

/**
 * What every group of FUSE operations shares: the mount's context, fresh reads of the vault and
 * its entries, the errno mapping, and the few rules more than one operation needs (who creates
 * an entry, what getattr reports, the quota checks made before a write reaches the store).
 */
export function opContext(ctx: MountContext): OpContext {
  const { fuse, fs, files, uid, gid } = ctx;
  const store = fs.store;
  const E = (name: string) => errnoCode(fuse, name);
  const err = errnos(fuse);

  /** Maps anything thrown to a negative errno; unexpected failures are logged with their stack. */
  function errno(thrown: unknown, op: string, path: string): number {
    if (thrown instanceof AvfsError) {
      if (thrown.code === 'INTERNAL') ctx.log(`${op} ${path}: ${thrown.message}`);
      return E(thrown.errno);
    }
    const code = (thrown as { code?: unknown })?.code;
    if (typeof code === 'string') {
      if (/^E[A-Z0-9]+$/.test(code)) return E(code);
      if (code === 'SQLITE_FULL') return E('ENOSPC');
      if (code === 'SQLITE_READONLY') return err.EROFS;
    }
    ctx.log(`${op} ${path}: ${thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown)}`);
    return E('EIO');
  }

  // Entries are kept while the store is unchanged; the vault's layers never change (stored-entries.ts).
  const vault = () => files.stored.vault;
  const entry = (path: string) => files.stored.get(path);
  const caller = ctx.caller === undefined ? callerReader() : ctx.caller;

  /**
   * Owner of an entry the current request creates at `path`: the caller, with the group of a
   * set-group-ID parent directory (POSIX "BSD group semantics" on request, as Linux does), and
   * whether a new directory inherits the set-group-ID bit.
   */
  function creatorOf(path: string): { owner: Owner; setgid: boolean } {
    const parent = entry(dirname(path));
    const setgid = parent !== undefined && (parent.mode & S_ISGID) !== 0;
    const c = caller?.();
    const u = c?.uid ?? uid;
    const g = setgid ? (parent!.gid ?? gid) : (c?.gid ?? gid);
    return { owner: { uid: u === uid ? null : u, gid: g === gid ? null : g }, setgid };
  }

  /**
   * Whether the request being served is the kernel writing back pages of a memory-mapped file
   * (msync, munmap, close): those carry no caller (pid 0, measured on Linux 6.18), where a
   * write(2) carries its process's. False when the addon cannot tell (no caller context).
   */
  function pageWriteback(): boolean {
    return caller?.().pid === 0;
  }

  /** The O_APPEND bit of the open(2) the current create() request serves (0 when it cannot be read). */
  function createdAppending(): number {
    return (callerOpenFlags(caller?.().pid) ?? 0) & O_APPEND;
  }

  function openingWithTruncate(): boolean | null {
    return callerOpensTruncating(caller?.().pid);
  }

  function callerPid(): number | undefined {
    return caller?.().pid || undefined;
  }

  function toStat(type: Entry['type'], ino: number, a: ShownAttributes, nlink = 1, e?: Pick<Entry, 'uid' | 'gid' | 'rdev'>): FuseStat {
    return {
      mode: TYPE_BITS[type] | a.mode,
      // An owner never set (null) is whoever mounts the vault.
      uid: e?.uid ?? uid,
      gid: e?.gid ?? gid,
      rdev: e?.rdev ?? 0,
      size: a.size,
      // fuse-native turns a falsy nlink into 1 (index.js getStatArray, `|| 1`): 2^32 is truthy and
      // wraps to 0 in the Uint32Array it is stored in (a file unlinked while open has no link).
      nlink: nlink === 0 ? 2 ** 32 : nlink,
      ino,
      blksize: BLKSIZE,
      blocks: Math.ceil(a.size / 512),
      atime: clampTime(a.atime),
      mtime: clampTime(a.mtime),
      ctime: clampTime(a.ctime),
    };
  }

  function entryStat(e: Entry): FuseStat {
    if (e.type !== 'd') return toStat(e.type, e.ino, e, e.nlink, e);
    // Directories report 4096 like most local filesystems (tools copying a "file" of size 0 skip
    // reading it). A file created in one but not stored yet changed it when it was created: show
    // the time persisting it will give the directory (putEntry's createdAt), unless it changed since.
    const created = files.lastCreatedIn(e.path);
    // A tie in the millisecond goes to the create: a change of the directory here after it settles it first (attribute-ops).
    const changed = created > 0 && created >= e.ctime ? { mtime: created, ctime: created } : undefined;
    // Link count 2 + subdirectories, as POSIX file systems keep it (find's leaf optimisation relies on it).
    return toStat('d', e.ino, { ...e, size: DIR_SIZE, ...changed }, linkCount(store, vault(), e), e);
  }

  /** The live (not orphaned) open file at a path. */
  function openAt(path: string): OpenFile | undefined {
    const f = files.get(path);
    return f && !f.orphan ? f : undefined;
  }

  /**
   * The live open file holding `path`, for a call that makes, opens, moves or removes the name
   * there. One that lost its name to someone else (OpenFiles.lostName) yields it: the call is
   * about what is stored at the path, as on a local disk.
   */
  function holderOf(path: string): OpenFile | undefined {
    const f = openAt(path);
    if (f && files.lostName(f, entry(path))) {
      files.yieldName(f);
      return undefined;
    }
    return f;
  }

  /**
   * A name that exists only here (a file created and not stored yet) left these directories:
   * their times change now, as on a local disk, since no store change will record it (while the
   * file was there they showed its creation time, see entryStat).
   */
  function touchDirs(...dirs: string[]): void {
    const t = Date.now();
    fs.touchExact(dirs, null, t, t);
  }

  /** Checks that `path`'s parent is an existing directory (for creating ops). */
  function parentError(path: string): number {
    const parent = entry(dirname(path));
    if (!parent) return err.ENOENT;
    if (parent.type !== 'd') return err.ENOTDIR;
    return 0;
  }

  // Vault quota and usage for statfs, re-read at most once a second (`df` polls it).
  let quotaAt = 0;
  let quota: { row: VaultRow; bytes: number; entries: number } | undefined;
  function quotaInfo() {
    const t = Date.now();
    if (!quota || t - quotaAt > 1000) {
      const row = fs.row();
      quota = { row, ...vaultUsage(row) };
      quotaAt = t;
    }
    return quota;
  }

  /**
   * Refuses a write early (EDQUOT) when it would take the file or the vault over its quota, as a
   * full disk fails write(2). The close that stores the bytes checks the quota again, but fails
   * them all (a new file is then gone), and tools ignore errors at close, so this check counts
   * what that one will: the vault's usage now (not a second-old figure: a file stored a moment
   * ago, here or by another writer, counts) and the bytes other files open here hold unsaved.
   */
  function overQuota(file: OpenFile, newSize: number): boolean {
    if (newSize <= file.size) return false;
    const row = fs.row();
    if (row.max_file_size !== null && newSize > row.max_file_size) return true;
    if (row.max_bytes !== null) {
      // The other files by the sizes they carry, not a lookup each (this runs on every write that
      // grows a file); this one by what its path stores now, which another writer may have changed.
      let unsaved = 0;
      for (const other of files.unsavedFiles()) if (other !== file) unsaved += Math.max(0, other.size - other.storedSize);
      const stored = file.pending ? 0 : (entry(file.path)?.size ?? 0);
      if (vaultUsage(row).bytes + unsaved - stored + newSize > row.max_bytes) return true;
    }
    return false;
  }

  /**
   * Before a directory's mode, owner or times change here, or it is moved: files created in it and
   * not stored yet changed its times when they were created, so it takes those times now, and
   * their later store leaves it alone (createdAt 0, entries.ts touchDir). The order of the two
   * decides, not a comparison of their times, which tie within a millisecond (`utime(d); create
   * d/f` kept d's old mtime). A move left the times to the store, which no longer found the
   * directory where the file was created: it kept its old mtime.
   */
  function settleCreatesIn(dir: Entry): void {
    const created = files.lastCreatedIn(dir.path);
    if (created === 0) return;
    if (created >= dir.ctime) fs.touchExact([dir.path], null, created, created);
    for (const f of files.pendingIn(dir.path)) f.createdAt = 0;
  }

  return { ctx, fuse, fs, files, store, uid, gid, err, errno, vault, entry, creatorOf, pageWriteback, createdAppending, openingWithTruncate, callerPid, toStat, entryStat, openAt, holderOf, touchDirs, settleCreatesIn, parentError, quotaInfo, overQuota };
}

/** Times reach the kernel as unsigned ms: clamp anything before the epoch to it. */
function clampTime(ms: number): number {
  return ms > 0 ? ms : 0;
}
