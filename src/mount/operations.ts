import { statfsSync } from 'node:fs';
import type { FuseOperations, FuseStat, FuseStatfs } from 'fuse-native';
import { AvfsError } from '../errors.js';
import { basename, dirname } from '../core/paths.js';
import { getEntry, listChildren, setTimes, type Entry } from '../store/entries.js';
import { vaultUsage } from '../store/usage.js';
import type { Owner, VaultFs } from '../store/vault-fs.js';
import { currentSeq, vaultById, type VaultRow } from '../store/vaults.js';
import { callerReader, errnoCode, type Caller, type Fuse } from './fuse.js';
import { O_ACCMODE, O_APPEND, O_RDONLY, type OpenFile, type OpenFiles, type ShownAttributes } from './open-files.js';

/**
 * The FUSE operations of a mounted vault, as fuse-native calls them: one JS thread serves every
 * request, so each handler is short and synchronous (better-sqlite3 is synchronous too) and
 * always answers. Paths from the kernel are canonical and already resolved (symlinks included),
 * so lookups read entries directly; every change of the tree goes through VaultFs or
 * putEntry/removeEntry, so history is complete.
 *
 * Deliberate answers for what the store does not model:
 *  - link → VaultFs.link: one inode, several names, each reporting the inode's number (use_ino)
 *    and link count. libfuse 2's path-based API gives each name its own kernel inode, so what the
 *    kernel cached for one name (size, times, link count) can lag a change made through another
 *    name for up to the attribute timeout, and a read through it in that window stops at the
 *    cached size (ARCHITECTURE.md, "Hard links through the mount").
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
 *  - names longer than 255 bytes → ENAMETOOLONG from getattr, which every creating call looks up first.
 *  - access → not implemented, on purpose: the kernel answers access()/chdir itself (existence
 *    through lookup, EROFS through the read-only mount flag) once the first call gets ENOSYS,
 *    which saves a round trip per call (git calls access() several times per command).
 *  - directories report nlink 1 ("not counted", as btrfs does), which turns off find's leaf
 *    optimisation instead of misleading it.
 */

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
  log: (message: string) => void;
  /** Who made the request being served (default: the patched addon's fuse_get_context, if built). */
  caller?: (() => Caller) | null;
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const TYPE_BITS: Record<Entry['type'], number> = { f: S_IFREG, d: S_IFDIR, l: S_IFLNK, p: 0o010000, s: 0o140000, c: 0o020000, b: 0o060000 };
const S_IFMT = 0o170000;
const S_ISGID = 0o2000;
/** Longest name (bytes) of one path component, as statfs reports it. */
const NAME_MAX = 255;
/** What mknod(2) may create, by its S_IF* bits (0 is a regular file, as in mknod(2)). */
const NODE_TYPES = new Map<number, 'f' | 'p' | 's' | 'c' | 'b'>([
  [0, 'f'],
  [S_IFREG, 'f'],
  [0o010000, 'p'],
  [0o140000, 's'],
  [0o020000, 'c'],
  [0o060000, 'b'],
]);
/** chown's "leave this id as it is": (uid_t)-1 as the binding passes it (unsigned). */
const NO_ID = 0xffffffff;
/** Reported st_blksize: stdio and cp size their buffers by it; matches max_write. */
const BLKSIZE = 128 * 1024;
const DIR_SIZE = 4096;
const HIDDEN = /\/\.fuse_hidden[0-9a-f]{16}$/;
/** Bit 30 of the handle open answers: keep the page cache (the avfs-keep-cache patch). */
const KEEP_CACHE = 0x40000000;

export function createOperations(ctx: MountContext): FuseOperations {
  const { fuse, fs, files, uid, gid } = ctx;
  const store = fs.store;
  const vaultId = ctx.vault.id;
  const E = (name: string) => errnoCode(fuse, name);
  const ENOENT = E('ENOENT');
  const EEXIST = E('EEXIST');
  const EBADF = E('EBADF');
  const EROFS = E('EROFS');
  const EISDIR = E('EISDIR');
  const ENOTDIR = E('ENOTDIR');
  const ENOTEMPTY = E('ENOTEMPTY');
  const EINVAL = E('EINVAL');
  const EDQUOT = E('EDQUOT');
  const ENAMETOOLONG = E('ENAMETOOLONG');

  /** Maps anything thrown to a negative errno; unexpected failures are logged with their stack. */
  function errno(err: unknown, op: string, path: string): number {
    if (err instanceof AvfsError) {
      if (err.code === 'INTERNAL') ctx.log(`${op} ${path}: ${err.message}`);
      return E(err.errno);
    }
    const code = (err as { code?: unknown })?.code;
    if (typeof code === 'string') {
      if (/^E[A-Z0-9]+$/.test(code)) return E(code);
      if (code === 'SQLITE_FULL') return E('ENOSPC');
      if (code === 'SQLITE_READONLY') return EROFS;
    }
    ctx.log(`${op} ${path}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return E('EIO');
  }

  // Read fresh per request: another process may fork, delete or re-parent vaults (entries.ts layers).
  const vault = () => vaultById(store, vaultId) ?? ctx.vault;
  const entry = (path: string) => getEntry(store, vault(), path);
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

  function toStat(type: Entry['type'], ino: number, a: ShownAttributes, nlink = 1, e?: Pick<Entry, 'uid' | 'gid' | 'rdev'>): FuseStat {
    return {
      mode: TYPE_BITS[type] | a.mode,
      // An owner never set (null) is whoever mounts the vault.
      uid: e?.uid ?? uid,
      gid: e?.gid ?? gid,
      rdev: e?.rdev ?? 0,
      size: a.size,
      nlink,
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
    const changed = created > e.ctime ? { mtime: created, ctime: created } : undefined;
    return toStat('d', e.ino, { ...e, size: DIR_SIZE, ...changed }, 1, e);
  }

  /** The live (not orphaned) open file at a path. */
  function openAt(path: string): OpenFile | undefined {
    const f = files.get(path);
    return f && !f.orphan ? f : undefined;
  }

  /**
   * A name that exists only here (a file created and not stored yet) left these directories:
   * their times change now, as on a local disk, since no store change will record it (while the
   * file was there they showed its creation time, see entryStat).
   */
  function touchDirs(...dirs: string[]): void {
    const t = Date.now();
    store.mutate(() => {
      for (const dir of new Set(dirs)) setTimes(store, vault(), dir, null, t, { op: 'touch', actor: fs.actor }, t);
    });
  }

  /** Checks that `path`'s parent is an existing directory (for creating ops). */
  function parentError(path: string): number {
    const parent = entry(dirname(path));
    if (!parent) return ENOENT;
    if (parent.type !== 'd') return ENOTDIR;
    return 0;
  }

  // Vault quota and usage for statfs and early write checks, re-read at most once a second.
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

  /** Refuses a write early (EDQUOT) when it would take the file or the vault over its quota. */
  function overQuota(file: OpenFile, newSize: number): boolean {
    if (newSize <= file.size) return false;
    const { row, bytes } = quotaInfo();
    if (row.max_file_size !== null && newSize > row.max_file_size) return true;
    if (row.max_bytes !== null) {
      const stored = file.pending ? 0 : (entry(file.path)?.size ?? 0);
      if (bytes - stored + newSize > row.max_bytes) return true;
    }
    return false;
  }

  // Directory listings, reused while the vault's change sequence (the newest version id) is the
  // same: every change to names, types or inodes records a version, in this process or another.
  const listings = new Map<string, { seq: number; names: string[]; stats: FuseStat[] }>();

  const ops: FuseOperations = {
    getattr(path, cb) {
      try {
        const f = files.get(path);
        if (f) {
          const e = f.pending || f.orphan ? undefined : entry(path);
          if (e) files.follow(f, e);
          return cb(0, toStat('f', f.ino, files.shown(f, e), e?.type === 'f' ? e.nlink : 1, e ?? { ...f.owner, rdev: 0 }));
        }
        const e = entry(path);
        // Lookups of every creating call come here first, so a name too long fails them all here.
        if (!e) return cb(Buffer.byteLength(basename(path)) > NAME_MAX ? ENAMETOOLONG : ENOENT);
        cb(0, entryStat(e));
      } catch (err) {
        cb(errno(err, 'getattr', path));
      }
    },

    readdir(path, cb) {
      try {
        const seq = currentSeq(store);
        let listing = listings.get(path);
        if (!listing || listing.seq !== seq) {
          const dir = entry(path);
          if (!dir) return cb(ENOENT);
          if (dir.type !== 'd') return cb(ENOTDIR);
          // libfuse takes only the type and inode number from these (for d_type and d_ino).
          const self = { mode: S_IFDIR, ino: dir.ino, atime: 0, mtime: 0, ctime: 0 };
          listing = { seq, names: ['.', '..'], stats: [self, self] };
          for (const child of listChildren(store, vault(), path)) {
            listing.names.push(basename(child.path));
            listing.stats.push({ mode: TYPE_BITS[child.type], ino: child.ino, atime: 0, mtime: 0, ctime: 0 });
          }
          if (listings.size >= 1024) listings.clear();
          listings.set(path, listing);
        }
        const pending = files.pendingIn(path);
        if (pending.length === 0) return cb(0, listing.names, listing.stats);
        cb(
          0,
          [...listing.names, ...pending.map((f) => basename(f.path))],
          [...listing.stats, ...pending.map((f) => ({ mode: S_IFREG, ino: f.ino, atime: 0, mtime: 0, ctime: 0 }))],
        );
      } catch (err) {
        cb(errno(err, 'readdir', path));
      }
    },

    statfs(path, cb) {
      try {
        cb(0, statfs(ctx, quotaInfo()));
      } catch (err) {
        cb(errno(err, 'statfs', path));
      }
    },

    open(path, flags, cb) {
      try {
        if (ctx.readOnly && (flags & O_ACCMODE) !== O_RDONLY) return cb(EROFS);
        const f = openAt(path);
        if (f && f.pending) return cb(0, files.reopen(f, flags) | (ctx.keepCache ? KEEP_CACHE : 0));
        const e = entry(path);
        if (!e) return cb(ENOENT);
        if (e.type === 'd') return cb(EISDIR);
        const fh = files.open(e, flags);
        const keep = ctx.keepCache && files.keepCache(files.handle(fh)!.file, e.hash);
        cb(0, keep ? fh | KEEP_CACHE : fh);
      } catch (err) {
        cb(errno(err, 'open', path));
      }
    },

    create(path, mode, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (openAt(path) || entry(path)) return cb(EEXIST);
        const bad = parentError(path);
        if (bad) return cb(bad);
        // A new file is stored only when it is first closed, and tools ignore errors at close
        // (touch, shell redirections), so max_files is checked here, where create(2) can fail.
        const quota = fs.row();
        if (quota.max_files !== null && vaultUsage(quota).entries + files.pendingCount + 1 > quota.max_files) return cb(EDQUOT);
        cb(0, files.create(path, mode, 0, creatorOf(path).owner));
      } catch (err) {
        cb(errno(err, 'create', path));
      }
    },

    read(path, fd, buf, len, pos, cb) {
      try {
        const h = files.handle(fd);
        if (!h) return cb(EBADF);
        files.follow(h.file);
        cb(files.read(h.file, buf, len, pos));
      } catch (err) {
        cb(errno(err, 'read', path));
      }
    },

    write(path, fd, buf, len, pos, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const h = files.handle(fd);
        if (!h) return cb(EBADF);
        files.follow(h.file);
        // O_APPEND: append at the end of the current content, which other handles (or, for a file
        // with no unsaved writes, other writers) may have moved; the kernel's size may be older.
        const at = h.flags & O_APPEND ? h.file.size : pos;
        if (overQuota(h.file, at + len)) return cb(EDQUOT);
        cb(files.write(h.file, buf, len, at));
      } catch (err) {
        cb(errno(err, 'write', path));
      }
    },

    truncate(path, size, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const f = openAt(path);
        if (f) {
          files.follow(f);
          if (overQuota(f, size)) return cb(EDQUOT);
          files.truncate(f, size);
          // truncate(2) by path: no flush follows from this caller, so persist now unless a handle is open.
          if (f.refs === 0) files.persist(f);
          return cb(0);
        }
        const e = entry(path);
        if (!e) return cb(ENOENT);
        if (e.type === 'd') return cb(EISDIR);
        // A short-lived OpenFile gives this the spill machinery (truncating a large file up or down).
        const fh = files.open(e, 0);
        const file = files.handle(fh)!.file;
        try {
          if (overQuota(file, size)) return cb(EDQUOT);
          files.truncate(file, size);
        } finally {
          files.release(fh);
        }
        cb(0);
      } catch (err) {
        cb(errno(err, 'truncate', path));
      }
    },

    ftruncate(path, fd, size, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const h = files.handle(fd);
        if (!h) return cb(EBADF);
        files.follow(h.file);
        if (overQuota(h.file, size)) return cb(EDQUOT);
        files.truncate(h.file, size);
        cb(0);
      } catch (err) {
        cb(errno(err, 'ftruncate', path));
      }
    },

    flush(path, fd, cb) {
      try {
        const h = files.handle(fd);
        if (!h) return cb(0);
        files.flush(h.file);
        cb(0);
      } catch (err) {
        cb(errno(err, 'flush', path));
      }
    },

    fsync(path, _datasync, fd, cb) {
      try {
        const h = files.handle(fd);
        if (h) files.persist(h.file);
        cb(0);
      } catch (err) {
        cb(errno(err, 'fsync', path));
      }
    },

    release(path, fd, cb) {
      try {
        files.release(fd);
        cb(0);
      } catch (err) {
        cb(errno(err, 'release', path));
      }
    },

    mkdir(path, mode, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (openAt(path)) return cb(EEXIST);
        const { owner, setgid } = creatorOf(path);
        fs.mkdir(path, { mode: (mode & 0o7777) | (setgid ? S_ISGID : 0), owner });
        cb(0);
      } catch (err) {
        cb(errno(err, 'mkdir', path));
      }
    },

    rmdir(path, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const e = entry(path);
        if (!e) return cb(ENOENT);
        if (e.type !== 'd') return cb(ENOTDIR);
        // Files open only here (created, or unlinked while open) keep their directory non-empty.
        if (files.hasUnstoredBelow(path)) return cb(ENOTEMPTY);
        fs.rmdir(path);
        cb(0);
      } catch (err) {
        cb(errno(err, 'rmdir', path));
      }
    },

    unlink(path, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const f = files.get(path);
        if (HIDDEN.test(path) && (!f || f.orphan)) return cb(0); // libfuse removing a hidden orphan
        if (f && !f.orphan) files.detach(f);
        const e = entry(path);
        if (!e) return cb(f ? 0 : ENOENT);
        if (e.type === 'd') return cb(EISDIR);
        fs.rm(path);
        files.forgetCache(path);
        cb(0);
      } catch (err) {
        cb(errno(err, 'unlink', path));
      }
    },

    rename(src, dst, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (src === dst) return cb(0);
        const srcFile = openAt(src);
        if (srcFile && HIDDEN.test(dst)) {
          // libfuse hides an open file that is being unlinked or replaced: it leaves the tree now.
          if (srcFile.pending) touchDirs(dirname(src));
          else if (entry(src)) fs.rm(src);
          files.hide(srcFile, dst);
          return cb(0);
        }
        const srcEntry = srcFile?.pending ? undefined : entry(src);
        if (!srcEntry && !srcFile) return cb(ENOENT);
        const dstFile = openAt(dst);
        if (!srcEntry) {
          // A file that so far exists only here: move it in memory, replacing what dst was.
          const bad = parentError(dst);
          if (bad) return cb(bad);
          const dstEntry = entry(dst);
          if (dstEntry?.type === 'd') return cb(EISDIR);
          if (dstEntry) fs.rm(dst);
          if (dstFile) files.detach(dstFile);
          files.move(src, dst);
          touchDirs(dirname(src), dirname(dst));
          return cb(0);
        }
        if (srcEntry.type === 'd') {
          if (dstFile) return cb(ENOTDIR);
          if (files.hasUnstoredBelow(dst)) return cb(ENOTEMPTY);
        } else if (dstFile && !entry(dst)) {
          files.detach(dstFile); // a pending file at dst is replaced
        }
        fs.rename(src, dst);
        if (dstFile && !dstFile.orphan) files.detach(dstFile);
        files.move(src, dst);
        cb(0);
      } catch (err) {
        cb(errno(err, 'rename', `${src} -> ${dst}`));
      }
    },

    symlink(target, path, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (openAt(path)) return cb(EEXIST);
        fs.symlink(target, path, { owner: creatorOf(path).owner });
        cb(0);
      } catch (err) {
        cb(errno(err, 'symlink', path));
      }
    },

    readlink(path, cb) {
      try {
        const e = entry(path);
        if (!e) return cb(ENOENT);
        if (e.type !== 'l') return cb(EINVAL);
        cb(0, e.target!);
      } catch (err) {
        cb(errno(err, 'readlink', path));
      }
    },

    chmod(path, mode, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const f = openAt(path);
        if (f?.pending) {
          f.mode = mode & 0o7777;
          f.ctime = Date.now();
          return cb(0);
        }
        if (!entry(path)) return cb(ENOENT);
        // A stored file's mode lives in its entry, open or not (OpenFiles.shown).
        fs.chmod(path, mode & 0o7777);
        cb(0);
      } catch (err) {
        cb(errno(err, 'chmod', path));
      }
    },

    chown(path, newUid, newGid, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        // A file created here and not stored yet is stored first, so its owner has an entry to live in.
        const f = openAt(path);
        if (f) {
          files.follow(f);
          if (f.pending) files.persist(f);
        }
        if (!entry(path)) return cb(ENOENT);
        // (uid_t)-1 leaves that id as it is. The kernel has checked who may do this
        // (default_permissions) and sends the mode without set-id bits in its own chmod first.
        fs.chown(path, newUid === NO_ID ? null : newUid, newGid === NO_ID ? null : newGid);
        cb(0);
      } catch (err) {
        cb(errno(err, 'chown', path));
      }
    },

    utimens(path, atime, mtime, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        // -1 is UTIME_OMIT (patched binding): keep that time as it is.
        const a = atime === -1 ? null : atime;
        const m = mtime === -1 ? null : mtime;
        const t = Date.now(); // one ctime for the open file and its entry (nothing moves on close)
        const f = files.get(path);
        if (f) {
          if (a !== null) f.atime = a;
          if (m !== null) f.mtime = m;
          f.ctime = t;
          if (f.pending || f.orphan) return cb(0);
        }
        if (!entry(path)) return cb(ENOENT);
        // setTimes, not VaultFs.utimes: the path may be a symlink itself (touch -h), never followed here.
        store.mutate(() => setTimes(store, vault(), path, a, m, { op: 'touch', actor: fs.actor }, t));
        cb(0);
      } catch (err) {
        cb(errno(err, 'utimens', path));
      }
    },

    link(src, dst, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (openAt(dst) || entry(dst)) return cb(EEXIST);
        // A file open here with unsaved writes (or created and not stored yet) is stored first:
        // the new name shows the inode's content, which is what the kernel has been shown.
        const f = openAt(src);
        if (f) {
          files.follow(f);
          files.persist(f);
        }
        fs.link(src, dst);
        cb(0);
      } catch (err) {
        cb(errno(err, 'link', `${src} -> ${dst}`));
      }
    },

    mknod(path, mode, dev, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const type = NODE_TYPES.get(mode & S_IFMT);
        if (!type) return cb(EINVAL);
        if (openAt(path)) return cb(EEXIST);
        fs.mknod(path, type, mode & 0o7777, dev, { owner: creatorOf(path).owner });
        cb(0);
      } catch (err) {
        cb(errno(err, 'mknod', path));
      }
    },
  };
  return ops;
}

/** Times reach the kernel as unsigned ms: clamp anything before the epoch to it. */
function clampTime(ms: number): number {
  return ms > 0 ? ms : 0;
}

const U32 = 0xffffffff;

/**
 * statfs: the vault's byte and entry quotas when set, else the filesystem holding the home (where
 * the content really goes). fuse-native passes 32-bit fields, so the block size grows until the
 * block counts fit.
 */
function statfs(ctx: MountContext, q: { row: VaultRow; bytes: number; entries: number }): FuseStatfs {
  let totalBytes: number;
  let freeBytes: number;
  let availBytes: number;
  if (q.row.max_bytes !== null) {
    totalBytes = q.row.max_bytes;
    freeBytes = availBytes = Math.max(0, q.row.max_bytes - q.bytes);
  } else {
    const host = statfsSync(ctx.home);
    totalBytes = host.blocks * host.bsize;
    freeBytes = host.bfree * host.bsize;
    availBytes = host.bavail * host.bsize;
  }
  let bsize = 4096;
  while (totalBytes / bsize > U32 && bsize < 2 ** 30) bsize *= 2;
  const files = q.row.max_files !== null ? Math.min(q.row.max_files, U32) : U32 >>> 1;
  const ffree = q.row.max_files !== null ? Math.max(0, Math.min(q.row.max_files - q.entries, U32)) : files;
  return {
    bsize,
    frsize: bsize,
    blocks: Math.floor(totalBytes / bsize),
    bfree: Math.floor(freeBytes / bsize),
    bavail: Math.floor(availBytes / bsize),
    files,
    ffree,
    favail: ffree,
    fsid: ctx.vault.id,
    flag: ctx.readOnly ? 1 : 0,
    namemax: NAME_MAX,
  };
}
