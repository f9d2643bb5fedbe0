import type { FuseOperations, FuseStat } from 'fuse-native';
import { basename } from '../core/paths.js';
import { briefChildren } from '../store/entries.js';
import { ListingCache } from './listing-cache.js';
import { S_IFDIR, S_IFREG, S_ISGID, TYPE_BITS, undecodableName, type OpContext } from './op-context.js';

/**
 * Directory operations: listing (with files created here and not stored yet), mkdir and rmdir.
 */
export function directoryOps(c: OpContext): Pick<FuseOperations, 'readdir' | 'mkdir' | 'rmdir'> {
  const { ctx, fs, files, store, errno, vault, entry, creatorOf, holderOf, parentError } = c;
  const { ENOENT, EEXIST, EROFS, ENOTDIR, ENOTEMPTY } = c.err;
  // Directory listings, each reused until a change touches its directory: every change to names,
  // types or inodes records a version of the path, in this process or another (listing-cache.ts).
  const listings = new ListingCache<{ names: string[]; stats: FuseStat[] }>(store, ctx.vault.id);

  return {
    readdir(path, cb) {
      try {
        let listing = listings.get(path);
        if (!listing) {
          const dir = entry(path);
          if (!dir) return cb(ENOENT);
          if (dir.type !== 'd') return cb(ENOTDIR);
          // libfuse takes only the type and inode number from these (for d_type and d_ino).
          const self = { mode: S_IFDIR, ino: dir.ino, atime: 0, mtime: 0, ctime: 0 };
          listing = { names: ['.', '..'], stats: [self, self] };
          for (const [child, type, ino] of briefChildren(store, vault(), path)) {
            listing.names.push(basename(child));
            listing.stats.push({ mode: TYPE_BITS[type], ino, atime: 0, mtime: 0, ctime: 0 });
          }
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

    mkdir(path, mode, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        if (undecodableName(path)) return cb(c.err.EILSEQ);
        if (holderOf(path)) return cb(EEXIST);
        // The kernel resolved the path: a parent that is no directory now (replaced elsewhere,
        // by a symlink too) is ENOTDIR, never followed as VaultFs.mkdir follows user paths.
        const bad = parentError(path);
        if (bad) return cb(bad);
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
        // Files created here and not stored yet keep their directory non-empty. So do files
        // unlinked while open (a local disk lists them nowhere) unless the addon passes their
        // operations on once libfuse loses their path with the directory (MountContext.nullPath).
        if (files.hasUnstoredBelow(path, !ctx.nullPath)) return cb(ENOTEMPTY);
        fs.rmdir(path);
        cb(0);
      } catch (err) {
        cb(errno(err, 'rmdir', path));
      }
    },
  };
}
