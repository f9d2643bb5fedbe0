import type { FuseOperations } from 'fuse-native';
import { dirname, MAX_NEW_PATH_BYTES } from '../core/paths.js';
import { HIDDEN, S_IFMT, S_IFREG, undecodableName, type OpContext } from './op-context.js';

/** What mknod(2) may create, by its S_IF* bits (0 is a regular file, as in mknod(2)). */
const NODE_TYPES = new Map<number, 'f' | 'p' | 's' | 'c' | 'b'>([
  [0, 'f'],
  [S_IFREG, 'f'],
  [0o010000, 'p'],
  [0o140000, 's'],
  [0o020000, 'c'],
  [0o060000, 'b'],
]);

/**
 * Namespace operations: names appearing, moving and going (unlink, rename, link, symlink, mknod),
 * and readlink. An open file keeps working when its name goes or moves (OpenFiles.detach, hide, move).
 */
export function namespaceOps(c: OpContext): Pick<FuseOperations, 'unlink' | 'rename' | 'link' | 'symlink' | 'readlink' | 'mknod'> {
  const { ctx, fs, files, errno, entry, creatorOf, holderOf, touchDirs, parentError } = c;
  const { ENOENT, EEXIST, EROFS, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL, EBUSY } = c.err;
  /**
   * A name that shows an open file in place of an entry of another type made there elsewhere
   * (OpenFiles.shownOver) is busy until that file's last close: a rename or unlink through it would
   * move or remove the stored entry while the kernel moves the open file, whose descriptors then fail EIO.
   */
  const busy = (path: string) => files.shownOver(path, entry(path)) !== undefined;
  return {
    unlink(path, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const f = files.get(path);
        if (HIDDEN.test(path) && (!f || f.orphan)) return cb(0); // libfuse removing a hidden orphan
        if (busy(path)) return cb(EBUSY);
        // One that lost its name elsewhere (renamed, removed, replaced) is not the one unlinked here.
        const held = holderOf(path);
        const e = entry(path);
        if (!e) {
          // libfuse dropping the hidden name of a hard link unlinked while open: handles opened
          // through another name of the inode share the file, which goes on as it is (a hidden
          // link stores under a name its inode has when it persists: OpenFiles.persist).
          // Detached, its later writes through those names were never stored.
          if (held && !held.hiddenLink) files.detach(held);
          return cb(held ? 0 : ENOENT); // held: a file created here and not stored yet, or a hidden name libfuse drops
        }
        if (e.type === 'd') return cb(EISDIR);
        fs.rm(path);
        // The open file may be the inode's under another name too (opened through it while this
        // one was open: one working copy per inode), which the kernel still writes through: it
        // goes on under that name. Detached, its later writes were never stored.
        if (held && !(held.ino === e.ino && e.nlink > 1 && files.followInode(held, false))) files.detach(held);
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
        if (busy(src) || (!HIDDEN.test(dst) && busy(dst))) return cb(EBUSY);
        // An open file here that lost its name elsewhere is not the one at src (or dst) any more.
        const srcFile = holderOf(src);
        if (HIDDEN.test(dst)) {
          // libfuse hides a name it has open (the name is being unlinked or replaced): it leaves
          // the tree now. The open file may be one that lost the name (libfuse gives a name one
          // node): then what src stores is only unlinked, never stored under the hidden name.
          const e = srcFile?.pending ? undefined : entry(src);
          // A rename onto this name of the same inode may come next (its request is hiding the name): it gives the name back.
          if (e?.type === 'f' && e.nlink > 1) files.hidLink(src, e.ino);
          if (!srcFile) {
            if (e?.type === 'd') return cb(EISDIR);
            if (e) fs.rm(src);
            files.forgetCache(src);
            return cb(0);
          }
          if (srcFile.pending) touchDirs(dirname(src));
          else if (e) fs.rm(src);
          files.hide(srcFile, dst, e?.type === 'f' && e.ino === srcFile.ino && e.nlink > 1);
          return cb(0);
        }
        const justHidden = files.takeJustHidden(dst);
        if (undecodableName(dst)) return cb(c.err.EILSEQ);
        const srcEntry = srcFile?.pending ? undefined : entry(src);
        if (!srcEntry && !srcFile) return cb(ENOENT);
        const dstFile = holderOf(dst);
        if (!srcEntry) {
          // A file that so far exists only here: move it in memory, replacing what dst was.
          const bad = parentError(dst);
          if (bad) return cb(bad);
          const dstEntry = entry(dst);
          if (dstEntry?.type === 'd') return cb(EISDIR);
          if (dstEntry) fs.rm(dst);
          if (dstFile) files.detach(dstFile);
          files.move(src, dst, false);
          touchDirs(dirname(src), dirname(dst));
          return cb(0);
        }
        // Two names of one file: rename(2) does nothing and succeeds (POSIX), both names stay. An
        // open dst was hidden by libfuse just before this, in this rename's request (its own rename
        // of dst to a hidden name, above), which took the name away: it is given back.
        if (srcEntry.type !== 'd') {
          const dstEntry = entry(dst);
          if (dstEntry?.ino === srcEntry.ino) return cb(0);
          if (!dstEntry && justHidden === srcEntry.ino) {
            fs.link(src, dst);
            return cb(0);
          }
        }
        if (srcEntry.type === 'd') {
          if (dstFile) return cb(ENOTDIR);
          if (files.hasUnstoredBelow(dst, !ctx.nullPath)) return cb(ENOTEMPTY); // as rmdir
          // Stored entries below are checked by the store; files not stored yet are moved here.
          const pending = files.longestPendingBelow(src);
          if (pending > 0 && pending - Buffer.byteLength(src) + Buffer.byteLength(dst) > MAX_NEW_PATH_BYTES) return cb(c.err.ENAMETOOLONG);
          c.settleCreatesIn(srcEntry);
        } else if (dstFile && !entry(dst)) {
          files.detach(dstFile); // a pending file at dst is replaced
        }
        const replaced = dstFile && !dstFile.orphan ? entry(dst) : undefined;
        fs.rename(src, dst);
        // As for unlink: the open file may be the inode's under another name too, still open there
        // (it is kept under the name opened first, and dst's own descriptor may be closed, so
        // libfuse hid nothing), which goes on under that name. Detached, the writes through it
        // since, and after, were lost.
        if (dstFile && !dstFile.orphan && !(replaced?.ino === dstFile.ino && replaced.nlink > 1 && files.followInode(dstFile, false))) files.detach(dstFile);
        files.move(src, dst, srcEntry.type === 'd');
        cb(0);
      } catch (err) {
        cb(errno(err, 'rename', `${src} -> ${dst}`));
      }
    },

    link(src, dst, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (undecodableName(dst)) return cb(c.err.EILSEQ);
        if (holderOf(dst) || entry(dst)) return cb(EEXIST);
        // A file open here with unsaved writes (or created and not stored yet) is stored first:
        // the new name shows the inode's content, which is what the kernel has been shown.
        const f = holderOf(src);
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

    symlink(target, path, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        // A target that was not UTF-8 arrives with U+FFFD in it, as a name does: refused the same way.
        if (undecodableName(path) || target.includes('\uFFFD')) return cb(c.err.EILSEQ);
        if (holderOf(path)) return cb(EEXIST);
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

    mknod(path, mode, dev, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const type = NODE_TYPES.get(mode & S_IFMT);
        if (!type) return cb(EINVAL);
        if (undecodableName(path)) return cb(c.err.EILSEQ);
        if (holderOf(path)) return cb(EEXIST);
        fs.mknod(path, type, mode & 0o7777, dev, { owner: creatorOf(path).owner });
        cb(0);
      } catch (err) {
        cb(errno(err, 'mknod', path));
      }
    },
  };
}
