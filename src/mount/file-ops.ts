import type { FuseOperations } from 'fuse-native';
import { dirname } from '../core/paths.js';
import { vaultUsage } from '../store/usage.js';
import { ATTR_TIMEOUT_S, undecodableName, type OpContext } from './op-context.js';
import type { OpenFile } from './open-file.js';
import { O_ACCMODE, O_APPEND, O_RDONLY } from './open-files.js';

/** Bit 30 of the handle open answers: keep the page cache (the avfs-keep-cache patch). */
const KEEP_CACHE = 0x40000000;
/** Bit 29: direct I/O for this open, each write(2) one request (the avfs-direct-append patch). */
const DIRECT_IO = 0x20000000;
/** Beyond the attribute timeout, for clocks of other processes and the time a request waits: a change this recent may still be unseen by the kernel. */
const RECENT_SLACK_MS = 500;

/**
 * File I/O operations: open and create hand out handles on OpenFiles, reads and writes go to the
 * open file's working copy, and flush, fsync and release persist it (open-files.ts).
 */
export function fileOps(c: OpContext): Pick<FuseOperations, 'open' | 'create' | 'read' | 'write' | 'truncate' | 'ftruncate' | 'flush' | 'fsync' | 'release'> {
  const { ctx, fs, files, errno, entry, creatorOf, openAt, holderOf, parentError, overQuota, pageWriteback, createdAppending, openingWithTruncate, callerPid } = c;
  const { ENOENT, EBADF, EROFS, EISDIR, EDQUOT } = c.err;
  /**
   * An open(O_TRUNC) opens, then cuts by path: the cut is the change of the handle that caller
   * just made, stored at its close (with what it writes: `echo x > f` is one version). Returns
   * false for a truncate(2), which no handle owns: it is stored at once, not when the descriptors
   * others hold (a `tail -f`) are closed at last. When the caller's call cannot be read, a handle
   * it holds takes the cut, as an open's.
   */
  const cutByOpen = (file: OpenFile): boolean => {
    const pid = callerPid();
    const opener = pid === undefined ? undefined : file.openedBy.get(pid);
    if (!opener || openingWithTruncate() === false) return false;
    files.changedThrough(opener);
    return true;
  };
  /**
   * libfuse names an open file by the path it had when opened, and gives that name one kernel
   * inode: a file open here that has since moved or lost its name (followed its inode, unlinked)
   * fills the page cache of whatever the path shows now. The next open of the path drops it.
   */
  const forgetIfElsewhere = (file: OpenFile, path: string) => {
    if (files.get(path) !== file) files.forgetCache(path);
  };
  return {
    open(path, flags, cb) {
      try {
        if (ctx.readOnly && (flags & O_ACCMODE) !== O_RDONLY) return cb(EROFS);
        const f = openAt(path);
        if (f && f.pending) {
          const again = files.reopen(f, flags);
          files.openedBy(again, callerPid());
          return cb(0, again | (ctx.keepCache ? KEEP_CACHE : 0));
        }
        const e = entry(path);
        // The kernel opens a name its (cached, 1 s) lookup found: gone now, it was removed
        // elsewhere (the CLI, another mount). ESTALE makes the kernel look it up again and repeat
        // the open once: open(O_CREAT), `echo x > f`, then creates the file, a plain open fails
        // ENOENT, as on a local disk (ENOENT here failed both). A file open here under the name
        // (which getattr reports while nothing else is stored there) yields it first (holderOf),
        // so that second lookup finds nothing; one that keeps it is a hard link unlinked while
        // open, opened by its hidden name.
        if (!e) return cb(holderOf(path) ? ENOENT : c.err.ESTALE);
        if (e.type === 'd') return cb(EISDIR);
        // The kernel follows a symlink itself and never opens one: this name was a file when it
        // was looked up and was replaced by a symlink elsewhere. Opened as a file it read empty;
        // looked up again, the kernel follows the link.
        if (e.type === 'l') return cb(c.err.ESTALE);
        const fh = files.open(e, flags);
        files.openedBy(fh, callerPid());
        // Appending through one name of a file that has others: the kernel locks each name's inode
        // apart, and a cached write crossing a page boundary goes out as two requests, between
        // which another name's append could land (interleaved lines). Direct I/O sends each
        // write(2) as one request, appended whole (the end is read here, at each write).
        if (ctx.directAppend && flags & O_APPEND && e.type === 'f' && e.nlink > 1) return cb(0, fh | DIRECT_IO);
        // The content as opened (storing a hard link's other open names may have changed it).
        const file = files.handle(fh)!.file;
        // Opened through another name of a hard link open here (one working copy for the inode):
        // the kernel caches pages per name, and this name's may predate writes through the other.
        const keep = ctx.keepCache && file.path === e.path && files.keepCache(file, file.baseHash);
        // Changed within the attribute timeout (elsewhere, perhaps: the CLI, the SDK), the file's
        // size the kernel holds may be the old one, and a read stops there: `cat` right after
        // the CLI made a file longer read its old length of the new bytes, every time, until the
        // change was noticed (0.1 s). Its attributes are dropped before the reply, so a read
        // past the old end asks for them.
        if (!keep && Math.abs(Date.now() - e.ctime) < ATTR_TIMEOUT_S * 1000 + RECENT_SLACK_MS) ctx.dropAttributes?.()?.(e.ino);
        cb(0, keep ? fh | KEEP_CACHE : fh);
      } catch (err) {
        cb(errno(err, 'open', path));
      }
    },

    create(path, mode, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        // The kernel asks to create only a name its lookup found missing, and with O_EXCL it looks
        // up afresh first. So a file here was made elsewhere (the CLI, another mount) while the
        // kernel still held its failed lookup (1 s): EEXIST would fail a plain `echo x > f` or
        // open(O_CREAT). ESTALE makes the kernel look the name up again and repeat the open once,
        // which then opens the file (or, with O_EXCL, fails EEXIST), as on a local disk.
        // A name that was not UTF-8 first: a stored name holding U+FFFD there is another name.
        if (undecodableName(path)) return cb(c.err.EILSEQ);
        if (holderOf(path) || entry(path)) return cb(c.err.ESTALE);
        const bad = parentError(path);
        if (bad) return cb(bad);
        // A new file is stored only when it is first closed, and tools ignore errors at close
        // (touch, shell redirections), so max_files is checked here, where create(2) can fail.
        const quota = fs.row();
        if (quota.max_files !== null && vaultUsage(quota).entries + files.pendingCount + 1 > quota.max_files) return cb(EDQUOT);
        // An append-mode create (`>>`) must append like an append-mode open: fuse-native passes no
        // flags here, so they are read from the caller (caller-open-flags.ts).
        const made = files.create(path, mode, createdAppending(), creatorOf(path).owner, entry(dirname(path))?.ino);
        files.openedBy(made, callerPid());
        cb(0, made);
      } catch (err) {
        cb(errno(err, 'create', path));
      }
    },

    read(path, fd, buf, len, pos, cb) {
      try {
        const h = files.handle(fd);
        if (!h) return cb(EBADF);
        forgetIfElsewhere(h.file, path);
        files.follow(h.file);
        cb(files.read(h.file, buf, len, pos, path));
      } catch (err) {
        cb(errno(err, 'read', path));
      }
    },

    write(path, fd, buf, len, pos, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const h = files.handle(fd);
        if (!h) return cb(EBADF);
        // Written through another name of a hard link (the inode's one working copy is open under
        // another), or under a name the file lost: the kernel caches pages per name, so the pages
        // of the file's own name lack this write, and their next open must not keep them.
        if (files.get(path) !== h.file) h.file.pageCacheStale = true;
        forgetIfElsewhere(h.file, path);
        files.follow(h.file);
        // O_APPEND: append at the end of the current content, which other handles (or, for a file
        // with no unsaved writes, other writers) may have moved; the kernel's size may be older.
        // Pages of a memory-mapped file written back through an O_APPEND handle are no append:
        // they go where they were mapped, as on a local disk.
        const writeback = pageWriteback();
        if (writeback) files.writtenBack(h.file);
        const at = h.flags & O_APPEND && !writeback ? h.file.size : pos;
        if (overQuota(h.file, at + len)) return cb(EDQUOT);
        const written = writeback ? files.writeBack(h.file, path, buf, len, at) : files.write(h.file, buf, len, at, path);
        files.wroteThrough(h, writeback);
        cb(written);
      } catch (err) {
        cb(errno(err, 'write', path));
      }
    },

    truncate(path, size, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const f = holderOf(path);
        if (f) {
          files.follow(f);
          if (overQuota(f, size)) return cb(EDQUOT);
          files.truncate(f, size);
          if (!cutByOpen(f)) files.persist(f);
          return cb(0);
        }
        const e = entry(path);
        if (!e) return cb(ENOENT);
        if (e.type === 'd') return cb(EISDIR);
        // A short-lived OpenFile gives this the spill machinery (truncating a large file up or down).
        // It may share the OpenFile of another name of the file held open here (a hard link, a name
        // it had before a move): then the cut is stored by this handle's release, or by the open's.
        const fh = files.openByPath(e);
        const file = files.handle(fh)!.file;
        try {
          if (overQuota(file, size)) return cb(EDQUOT);
          files.truncate(file, size);
          if (!cutByOpen(file)) files.changedThrough(files.handle(fh)!);
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
        files.changedThrough(h);
        cb(0);
      } catch (err) {
        cb(errno(err, 'ftruncate', path));
      }
    },

    flush(path, fd, cb) {
      try {
        const h = files.handle(fd);
        if (!h) return cb(0);
        files.flush(h);
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
  };
}
