#!/usr/bin/env node
// The ceiling the FUSE binding allows (issue 17): a bare fuse-native filesystem that forwards every
// operation to a native directory, mounted with the options avfs mounts with (the patched addon,
// so utimens carries epoch ms and -1 for UTIME_OMIT; big_writes, max_write=128 KiB, use_ino,
// 1 s attribute, entry and negative-lookup timeouts, synchronous handlers, no request timer).
// No store, no open-file layer: what is left between it and native is FUSE and one JS call per request.
//
//   node bench/passthrough.js <native source dir> <mountpoint>
// prints "mounted" on stdout once mounted; unmounts and exits on SIGTERM/SIGINT.
import fs from 'node:fs';
import { join } from 'node:path';
import { loadFuse } from '../dist/mount/fuse.js';
import { ATTR_TIMEOUT_S } from '../dist/mount/op-context.js';
import { MAX_WRITE } from '../dist/mount/server.js';
import { instrumentFromEnv } from '../dist/mount/op-stats.js';

const [source, mnt] = process.argv.slice(2);
if (!source || !mnt) {
  console.error('usage: node bench/passthrough.js <native source dir> <mountpoint>');
  process.exit(2);
}
const Fuse = await loadFuse();
const at = (p) => join(source, p);
const code = (err) => (err && typeof err.errno === 'number' ? err.errno : -5); // node's errno is negative
const stat = (s) => ({ mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, dev: s.dev, nlink: s.nlink, ino: s.ino, rdev: s.rdev, blksize: s.blksize, blocks: s.blocks, atime: s.atimeMs, mtime: s.mtimeMs, ctime: s.ctimeMs });
/** Runs `fn`, answering cb(0, value) or cb(errno). */
const call = (cb, fn) => {
  let value;
  try {
    value = fn();
  } catch (err) {
    return cb(code(err));
  }
  return cb(0, value);
};
const ops = {
  getattr: (p, cb) => call(cb, () => stat(fs.lstatSync(at(p)))),
  fgetattr: (p, fd, cb) => call(cb, () => stat(fs.fstatSync(fd))),
  access: (p, mode, cb) => call(cb, () => fs.accessSync(at(p), mode)),
  statfs: (p, cb) => call(cb, () => { const s = fs.statfsSync(at(p)); return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: 0, namemax: 255 }; }),
  readdir: (p, cb) => call(cb, () => fs.readdirSync(at(p))),
  readlink: (p, cb) => call(cb, () => fs.readlinkSync(at(p))),
  open: (p, flags, cb) => call(cb, () => fs.openSync(at(p), flags)),
  create: (p, mode, cb) => call(cb, () => fs.openSync(at(p), fs.constants.O_CREAT | fs.constants.O_RDWR | fs.constants.O_TRUNC, mode)),
  read: (p, fd, buf, len, pos, cb) => { try { cb(fs.readSync(fd, buf, 0, len, pos)); } catch (err) { cb(code(err)); } },
  write: (p, fd, buf, len, pos, cb) => { try { cb(fs.writeSync(fd, buf, 0, len, pos)); } catch (err) { cb(code(err)); } },
  release: (p, fd, cb) => call(cb, () => fs.closeSync(fd)),
  flush: (p, fd, cb) => cb(0),
  fsync: (p, datasync, fd, cb) => call(cb, () => fs.fsyncSync(fd)),
  truncate: (p, size, cb) => call(cb, () => fs.truncateSync(at(p), size)),
  ftruncate: (p, fd, size, cb) => call(cb, () => fs.ftruncateSync(fd, size)),
  utimens: (p, atime, mtime, cb) => call(cb, () => {
    const s = fs.lstatSync(at(p));
    // -1 is UTIME_OMIT through the avfs patch: keep that time.
    fs.lutimesSync(at(p), atime === -1 ? s.atime : new Date(atime), mtime === -1 ? s.mtime : new Date(mtime));
  }),
  chmod: (p, mode, cb) => call(cb, () => fs.chmodSync(at(p), mode)),
  chown: (p, uid, gid, cb) => call(cb, () => fs.lchownSync(at(p), uid, gid)),
  unlink: (p, cb) => call(cb, () => fs.unlinkSync(at(p))),
  rename: (a, b, cb) => call(cb, () => fs.renameSync(at(a), at(b))),
  link: (a, b, cb) => call(cb, () => fs.linkSync(at(a), at(b))),
  symlink: (target, p, cb) => call(cb, () => fs.symlinkSync(target, at(p))),
  mkdir: (p, mode, cb) => call(cb, () => fs.mkdirSync(at(p), mode)),
  rmdir: (p, cb) => call(cb, () => fs.rmdirSync(at(p))),
};

// The same per-operation histogram as avfs (AVFS_MOUNT_STATS, src/mount/op-stats.ts).
instrumentFromEnv(ops, process.env.AVFS_MOUNT_STATS, (m) => process.stderr.write(`passthrough: ${m}\n`));

class PassthroughFuse extends Fuse {
  _fuseOptions() {
    const base = super._fuseOptions();
    const more = ['big_writes', `max_write=${MAX_WRITE}`, 'use_ino', `negative_timeout=${ATTR_TIMEOUT_S}`, 'default_permissions', ...(process.getuid?.() === 0 ? ['allow_other'] : [])].join(',');
    return base ? `${base},${more}` : `-o${more}`;
  }
}
const fuse = new PassthroughFuse(mnt, ops, { fsname: 'passthrough', subtype: 'passthrough', attrTimeout: ATTR_TIMEOUT_S, entryTimeout: ATTR_TIMEOUT_S, timeout: false });
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`passthrough: mount failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('mounted\n');
});
const stop = () => fuse.unmount(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
