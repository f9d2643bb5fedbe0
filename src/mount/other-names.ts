import type { FuseOperations } from 'fuse-native';
import type { Entry } from '../store/entries.js';
import type { OpContext } from './op-context.js';
import type { OpenFile } from './open-file.js';

/** Drops what the kernel caches of an inode's attributes under every name it has (fuse.ts attributeInvalidator). */
export type DropAttributes = (ino: number) => void;

/**
 * libfuse 2 gives each name of a hard link its own kernel inode, so a change through one name left
 * the others' cached size, times and link count as they were for the attribute timeout (1 s): a
 * read through another name stopped at the old size, and vim, saving through one name right
 * after a write through another, saw a changed mtime and (in batch mode) did not write at all.
 * A link already refreshes every name (the avfs-link-inval hunk, in C). This wraps the other
 * operations that change an inode with more than one name: once one succeeds, the kernel drops
 * the attributes it cached for every name of that inode, before the reply. Names of files with
 * one link (nearly all) cost one stored-entry read per wrapped request, no call into the addon.
 *
 * Covered: unlink (the others' link count), rename (the replaced file's link count, the moved
 * one's ctime), chmod, chown, utimens and truncate (by a name, or by libfuse's hidden name of a
 * link unlinked while open: fchmod of its descriptor), ftruncate, write (size, times), and flush,
 * fsync and release of a file written here since the last of them (what the writes stored).
 * Writes ask whether their file has other names once per open file (`linkedWrites`), not per
 * write, and closes only look there: a name added elsewhere to a file open here shows its writes
 * within the attribute timeout.
 *
 * A refresh races with a request for another name that the kernel made before it arrived: the
 * kernel drops that request's reply, as possibly older than what the refresh announced, and
 * keeps what it had. A release comes after close(2) has returned, so it races with whatever the
 * program does next: a read through another name, past the size that name cached, asked for
 * the size, got the new one and had it dropped, and read (or a seek to the end wrote) at the
 * old end. So a release refreshes only writes no flush has published yet (mmap's, written back
 * as the mapping goes), and a flush or fsync only writes made since the last refresh.
 */
export function refreshOtherNames(ops: FuseOperations, c: OpContext, drop: () => DropAttributes | null): FuseOperations {
  /** The inode behind `e`, when it has other names to refresh (a FIFO, socket or device may have them too). */
  const linked = (e: Entry | undefined): number | null => (e && e.type !== 'd' && (e.nlink ?? 1) > 1 ? e.ino : null);
  const atPath = (path: string): number | null => {
    try {
      return linked(c.entry(path));
    } catch {
      return null; // the operation itself reports what failed
    }
  };
  /**
   * The inode an open file's changes refresh: a hard link unlinked or replaced while open (named
   * by libfuse's hidden name, which is stored nowhere) still has its other names.
   */
  const ofFile = (file: OpenFile): number | null => (file.orphan ? null : file.hiddenLink ? file.ino : atPath(file.path));
  /** The inode a change by path refreshes: an open file's when the path is one (a hidden name stored nowhere), else the stored entry's. */
  const atName = (path: string): number | null => {
    const file = c.files.get(path);
    return file?.hiddenLink ? ofFile(file) : atPath(path);
  };
  const atHandle = (path: string, fd: number): number | null => {
    const file = c.files.handle(fd)?.file;
    return file ? ofFile(file) : atPath(path);
  };
  /** `cb`, refreshing `inos` first when the operation succeeded. */
  const after = (inos: Array<number | null>, cb: (err: number) => void) => (err: number) => {
    try {
      const fn = err === 0 ? drop() : null;
      if (fn) for (const ino of new Set(inos)) if (ino !== null) fn(ino);
    } catch {
      // Only the kernel's caches go unrefreshed (they end within the attribute timeout); the
      // request must still be answered, or its caller waits forever.
    }
    cb(err);
  };

  /** Per open file: the inode its writes refresh (null when it has one name), asked at its first write. */
  let linkedWrites = new WeakMap<object, number | null>();
  /** Open files with other names written since their last refresh by a flush, fsync or release. */
  const unpublished = new WeakSet<object>();
  /** Names come and go: ask again. */
  const namesChanged = () => (linkedWrites = new WeakMap());

  const wrapped: FuseOperations = { ...ops };
  const { unlink, rename, link, chmod, chown, utimens, truncate, ftruncate, write, flush, fsync, release } = ops;
  if (unlink) wrapped.unlink = (path, cb) => (namesChanged(), unlink(path, after([atPath(path)], cb)));
  if (rename) wrapped.rename = (src, dst, cb) => (namesChanged(), rename(src, dst, after([atPath(src), atPath(dst)], cb)));
  if (link) wrapped.link = (src, dst, cb) => (namesChanged(), link(src, dst, cb));
  if (write) {
    wrapped.write = (path, fd, buf, len, pos, cb) => {
      const file = c.files.handle(fd)?.file;
      if (!file) return write(path, fd, buf, len, pos, cb);
      let ino = linkedWrites.get(file);
      if (ino === undefined) linkedWrites.set(file, (ino = ofFile(file)));
      // Written through a kernel name that is not the file's own (a name of its inode since
      // unlinked, the name a rename of one name onto another left): the kernel inode of the
      // file's own name cached attributes too, though the file has one name now.
      if (ino === null && !file.orphan && c.files.get(path) !== file) linkedWrites.set(file, (ino = file.ino));
      if (ino === null) return write(path, fd, buf, len, pos, cb);
      const refreshed = ino;
      write(path, fd, buf, len, pos, (n) => {
        if (n >= 0) unpublished.add(file);
        after([n >= 0 ? refreshed : null], () => cb(n))(0);
      });
    };
  }
  /**
   * The inode to refresh for a file written through `fd` since its last refresh (null when it
   * was not, or has one name), and the end of that wait: no read of the store.
   */
  const written = (fd: number): { ino: number | null; published: () => void } => {
    const file = c.files.handle(fd)?.file;
    const ino = file && unpublished.has(file) ? (linkedWrites.get(file) ?? null) : null;
    return { ino, published: () => file && unpublished.delete(file) };
  };
  /** `cb` of a flush, fsync or release: on success, refreshes what `pending` names and marks it published. */
  const publishing = (pending: ReturnType<typeof written>, cb: (err: number) => void) => (err: number) => {
    if (err === 0) pending.published();
    after([err === 0 ? pending.ino : null], cb)(err);
  };
  if (fsync) wrapped.fsync = (path, datasync, fd, cb) => fsync(path, datasync, fd, publishing(written(fd), cb));
  if (chmod) wrapped.chmod = (path, mode, cb) => chmod(path, mode, after([atName(path)], cb));
  if (chown) wrapped.chown = (path, uid, gid, cb) => chown(path, uid, gid, after([atName(path)], cb));
  if (utimens) wrapped.utimens = (path, atime, mtime, cb) => utimens(path, atime, mtime, after([atName(path)], cb));
  if (truncate) wrapped.truncate = (path, size, cb) => truncate(path, size, after([atName(path)], cb));
  // After the operation: a file's first name may be stored by it (nothing to refresh before).
  if (ftruncate) wrapped.ftruncate = (path, fd, size, cb) => ftruncate(path, fd, size, (err) => after([err === 0 ? atHandle(path, fd) : null], cb)(err));
  if (flush) wrapped.flush = (path, fd, cb) => flush(path, fd, publishing(written(fd), cb));
  // Asked before: the handle is gone once released.
  if (release) wrapped.release = (path, fd, cb) => release(path, fd, publishing(written(fd), cb));
  return wrapped;
}
