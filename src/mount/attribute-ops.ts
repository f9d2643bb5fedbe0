import { statfsSync } from 'node:fs';
import type { FuseOperations, FuseStatfs } from 'fuse-native';
import { basename, MAX_NEW_PATH_BYTES } from '../core/paths.js';
import { representableTime } from '../core/units.js';
import type { Entry } from '../store/entries.js';
import type { VaultRow } from '../store/vaults.js';
import { NAME_MAX, type MountContext, type OpContext } from './op-context.js';
import type { OpenFile } from './open-file.js';

/** chown's "leave this id as it is": (uid_t)-1 as the binding passes it (unsigned). */
const NO_ID = 0xffffffff;

/**
 * Attribute operations: what getattr and statfs report, and the changes of mode, owner and times.
 */
export function attributeOps(c: OpContext): Pick<FuseOperations, 'getattr' | 'fgetattr' | 'statfs' | 'chmod' | 'chown' | 'utimens'> {
  const { ctx, fs, files, errno, entry, toStat, entryStat, quotaInfo, settleCreatesIn, uid, gid } = c;
  const { ENOENT, EROFS, ENAMETOOLONG } = c.err;
  // fchmod, fchown and futimens of a hard link unlinked while open change the inode under a name it still has.
  const storedName = (f: OpenFile | undefined, path: string) => (f?.hiddenLink ? (files.storedNameOf(f) ?? path) : path);
  /**
   * What an open file shows; `stored` is what its path stores (its own entry, or another file's
   * when it lost the name). One unlinked while open has no link left (the kernel's count after
   * the unlink, which an fchmod or ftruncate answered with 1 moved back up).
   */
  const openStat = (f: OpenFile, stored: Entry | undefined) => {
    const own = stored && !files.lostName(f, stored) ? stored : undefined;
    if (own) files.follow(f, own);
    const links = own?.type === 'f' ? own.nlink : f.orphan ? 0 : 1;
    return toStat('f', f.ino, files.shown(f, own), links, { ...files.ownerOf(f, own), rdev: own?.rdev ?? 0 });
  };
  const getattr: NonNullable<FuseOperations['getattr']> = (path, cb) => {
    try {
      const f = files.get(path);
      if (f) {
        // A hard link unlinked while open (libfuse's hidden name) shows its inode as the name it still has does.
        const e = f.pending || f.orphan ? undefined : entry(storedName(f, path));
        // A file open here that lost its name (OpenFiles.lostName) shows there only while nothing
        // else is stored there: libfuse asks this for a lookup of the name and for an fstat of
        // its descriptors alike (an open of the name makes it yield the name: file-ops open).
        // Nor while what is stored there is of another type (a directory made elsewhere): libfuse
        // gives the name the same node id whatever it holds, and the kernel fails every call on
        // the open descriptors (EIO) once that node changes type. Until their last close, the
        // name shows the open file (ARCHITECTURE.md, "Changes made outside the mount").
        if (!files.lostName(f, e) || !e || e.type !== 'f') return cb(0, openStat(f, e));
      }
      files.lookedUp(path);
      const e = entry(path);
      // Lookups of every creating call come here first, so a name or a path too long for a new
      // entry fails them all here (a file is stored only when closed, too late to refuse it).
      if (!e) return cb(Buffer.byteLength(basename(path)) > NAME_MAX || Buffer.byteLength(path) > MAX_NEW_PATH_BYTES ? ENAMETOOLONG : ENOENT);
      // A file open under this name that an outside change moved or removed, while another type is stored here (as above).
      const held = files.shownOver(path, e);
      if (held) return cb(0, openStat(held, undefined));
      // Another name of the inode, open here with unsaved writes, holds its content: this name
      // shows what that file's persist will store (its size, times), as an open of this name reads
      // it (OpenFiles.open stores it first). With the stored size, the kernel cached for this name,
      // a read after that open stopped there.
      const [writer] = files.unsavedLinksOf(e);
      cb(0, writer ? openStat(writer, e) : entryStat(e));
    } catch (err) {
      cb(errno(err, 'getattr', path));
    }
  };
  return {
    getattr,

    // Requests on an open file's descriptor (a read's size check): answered for that file, whatever its path now shows.
    fgetattr(path, fd, cb) {
      try {
        const h = files.handle(fd);
        if (!h) return getattr(path, cb);
        const f = h.file;
        cb(0, openStat(f, f.pending || f.orphan ? undefined : entry(storedName(f, f.path))));
      } catch (err) {
        cb(errno(err, 'fgetattr', path));
      }
    },

    statfs(path, cb) {
      try {
        cb(0, statfsOf({ home: ctx.home, readOnly: ctx.readOnly, fsid: ctx.vault.id }, quotaInfo()));
      } catch (err) {
        cb(errno(err, 'statfs', path));
      }
    },

    chmod(path, mode, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        const f = files.get(path);
        // fchmod of a file unlinked while open: its descriptors see the mode; nothing is stored.
        if (f?.orphan) return void (files.chmod(f, undefined, mode), cb(0));
        const at = storedName(f, path);
        const e = f?.pending ? undefined : entry(at);
        // A file with unsaved bytes takes the mode with them when they are stored (OpenFiles.attributesWait).
        if (f && files.attributesWait(f, e)) {
          files.chmod(f, e, mode);
          return cb(0);
        }
        if (!e) return cb(ENOENT);
        if (e.type === 'd') settleCreatesIn(e);
        // A stored file's mode lives in its entry, open or not (OpenFiles.shown).
        fs.chmod(at, mode & 0o7777);
        cb(0);
      } catch (err) {
        cb(errno(err, 'chmod', path));
      }
    },

    chown(path, newUid, newGid, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        // (uid_t)-1 leaves that id as it is. The kernel has checked who may do this
        // (default_permissions) and sends the mode without set-id bits in its own chmod first.
        // An id an entry has none of shows as the mounting user's, and a file that user creates
        // stores none (op-context creatorOf): chown to that id leaves it none, so root's `cp -a`,
        // `tar x` or `rsync -a` in root's mount changes nothing (a stored 0 made the same file
        // made on two forks a metadata conflict in a merge).
        const asked = (id: number, mounter: number, has: number | null) => (id === NO_ID || (id === mounter && has === null) ? null : id);
        const f = files.get(path);
        if (f?.orphan) {
          const was = files.ownerOf(f, undefined);
          return void (files.chown(f, undefined, asked(newUid, uid, was.uid), asked(newGid, gid, was.gid)), cb(0));
        }
        const at = storedName(f, path);
        const e = f?.pending ? undefined : entry(at);
        // A file with unsaved bytes (tar's fchown before close) takes its owner with them when
        // they are stored: one version, not one for the chown and another for the close.
        if (f && files.attributesWait(f, e)) {
          const was = files.ownerOf(f, e);
          files.chown(f, e, asked(newUid, uid, was.uid), asked(newGid, gid, was.gid));
          return cb(0);
        }
        if (!e) return cb(ENOENT);
        if (e.type === 'd') settleCreatesIn(e);
        fs.chown(at, asked(newUid, uid, e.uid), asked(newGid, gid, e.gid));
        cb(0);
      } catch (err) {
        cb(errno(err, 'chown', path));
      }
    },

    utimens(path, atime, mtime, cb) {
      try {
        if (ctx.readOnly) return cb(EROFS);
        // -1 is UTIME_OMIT (patched binding): keep that time as it is.
        const a = atime === -1 ? null : representableTime(atime);
        const m = mtime === -1 ? null : representableTime(mtime);
        const t = Date.now(); // one ctime for the open file and its entry (nothing moves on close)
        const f = files.get(path);
        const at = storedName(f, path);
        const e = f?.pending || f?.orphan ? undefined : entry(at);
        if (f) {
          if (a !== null) f.atime = a;
          if (m !== null) f.mtime = m;
          f.ctime = t;
          // Stored with the unsaved bytes (OpenFiles.attributesWait), or never (an orphan).
          if (f.orphan || files.attributesWait(f, e)) return cb(0);
        }
        if (!e) return cb(ENOENT);
        if (e.type === 'd') settleCreatesIn(e);
        // Files open under its other names take the times, hidden ones too (unlinked while open,
        // so the count no longer shows them): else their persist stored a write's time over these.
        if (e.type === 'f') files.setTimes(e.ino, a, m, t, f);
        // touchExact, not VaultFs.utimes: the path may be a symlink itself (touch -h), never followed here.
        fs.touchExact([at], a, m, t);
        cb(0);
      } catch (err) {
        cb(errno(err, 'utimens', path));
      }
    },
  };
}

const U32 = 0xffffffff;

/**
 * statfs: the vault's byte and entry quotas when set, else the filesystem holding the home (where
 * the content really goes). fuse-native passes 32-bit fields, so the block size grows until the
 * block counts fit. Without a vault (the root of an idle views mount) the home's filesystem.
 */
export function statfsOf(
  where: { home: string; readOnly: boolean; fsid: number },
  q?: { row: VaultRow; bytes: number; entries: number },
): FuseStatfs {
  let totalBytes: number;
  let freeBytes: number;
  let availBytes: number;
  const maxBytes = q?.row.max_bytes ?? null;
  const maxFiles = q?.row.max_files ?? null;
  if (q && maxBytes !== null) {
    totalBytes = maxBytes;
    freeBytes = availBytes = Math.max(0, maxBytes - q.bytes);
  } else {
    const host = statfsSync(where.home);
    totalBytes = host.blocks * host.bsize;
    freeBytes = host.bfree * host.bsize;
    availBytes = host.bavail * host.bsize;
  }
  let bsize = 4096;
  while (totalBytes / bsize > U32 && bsize < 2 ** 30) bsize *= 2;
  const files = q && maxFiles !== null ? Math.min(maxFiles, U32) : U32 >>> 1;
  const ffree = q && maxFiles !== null ? Math.max(0, Math.min(maxFiles - q.entries, U32)) : files;
  return {
    bsize,
    frsize: bsize,
    blocks: Math.floor(totalBytes / bsize),
    bfree: Math.floor(freeBytes / bsize),
    bavail: Math.floor(availBytes / bsize),
    files,
    ffree,
    favail: ffree,
    fsid: where.fsid,
    flag: where.readOnly ? 1 : 0,
    namemax: NAME_MAX,
  };
}
