import type { FuseOperations, FuseStat } from 'fuse-native';
import type { SandboxLayout } from '../core/sandbox-layout.js';
import { errnoCode, type Fuse } from './fuse.js';

/**
 * A vault mount as a sandbox's root: the vault's operations, with the layout's reserved
 * top-level names answered from the layout (src/core/sandbox-layout.ts) instead of the vault.
 * Those entries are synthetic: they exist only in this view, are never recorded, and refuse every
 * change with EROFS (the sandbox mounts the host's directories over them before the command
 * runs, so the command itself never reaches them). The root's listing shows the layout's names
 * in place of any vault entries of the same names.
 */

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/** Inode numbers for synthetic entries, counting down from the top of the 32-bit range fuse-native passes. */
const SYNTHETIC_INO = 0xffffff00;

/** Operations that change the tree at their path (every path argument is checked). */
const CHANGING = ['create', 'mkdir', 'rmdir', 'unlink', 'truncate', 'ftruncate', 'write', 'chmod', 'chown', 'utimens', 'mknod', 'setxattr', 'removexattr'] as const;
/** Operations on an open file of a synthetic path: nothing to do. */
const QUIET = ['flush', 'fsync', 'release'] as const;

export function sandboxView(ops: FuseOperations, layout: SandboxLayout, fuse: Fuse, owner: { uid: number; gid: number }): FuseOperations {
  const ENOENT = errnoCode(fuse, 'ENOENT');
  const EROFS = errnoCode(fuse, 'EROFS');
  const EINVAL = errnoCode(fuse, 'EINVAL');
  const ENOTDIR = errnoCode(fuse, 'ENOTDIR');
  const inos = new Map(layout.all().map((n, i) => [n.path, SYNTHETIC_INO - i]));
  const at = Date.now();

  function stat(path: string): FuseStat | undefined {
    const node = layout.get(path);
    if (!node) return undefined;
    const bits = node.kind === 'dir' ? S_IFDIR | 0o755 : node.kind === 'file' ? S_IFREG | 0o444 : S_IFLNK | 0o777;
    const size = node.kind === 'dir' ? 4096 : node.kind === 'file' ? 0 : Buffer.byteLength(node.target!);
    return { mode: bits, uid: owner.uid, gid: owner.gid, size, nlink: 1, ino: inos.get(path)!, blksize: 4096, blocks: 0, atime: at, mtime: at, ctime: at };
  }

  const view: FuseOperations = { ...ops };
  const any = view as Record<string, unknown>;
  const base = ops as Record<string, (...args: unknown[]) => void>;

  for (const name of CHANGING) {
    if (!base[name]) continue;
    any[name] = (path: string, ...rest: unknown[]) => {
      const cb = rest[rest.length - 1] as (code: number) => void;
      if (layout.covers(path)) return cb(EROFS);
      base[name]!(path, ...rest);
    };
  }
  for (const name of QUIET) {
    if (!base[name]) continue;
    any[name] = (path: string, ...rest: unknown[]) => {
      const cb = rest[rest.length - 1] as (code: number) => void;
      if (layout.covers(path)) return cb(0);
      base[name]!(path, ...rest);
    };
  }
  // Two paths: refused when either side is reserved.
  for (const name of ['rename', 'link'] as const) {
    if (!base[name]) continue;
    any[name] = (src: string, dst: string, cb: (code: number) => void) =>
      layout.covers(src) || layout.covers(dst) ? cb(EROFS) : base[name]!(src, dst, cb);
  }
  if (ops.symlink) {
    view.symlink = (target, path, cb) => (layout.covers(path) ? cb(EROFS) : ops.symlink!(target, path, cb));
  }

  view.getattr = (path, cb) => {
    if (!layout.covers(path)) return ops.getattr!(path, cb);
    const st = stat(path);
    return st ? cb(0, st) : cb(ENOENT);
  };
  if (ops.fgetattr) view.fgetattr = (path, fd, cb) => (layout.covers(path) ? view.getattr!(path, cb) : ops.fgetattr!(path, fd, cb));
  view.readlink = (path, cb) => {
    if (!layout.covers(path)) return ops.readlink!(path, cb);
    const node = layout.get(path);
    if (!node) return cb(ENOENT);
    return node.kind === 'symlink' ? cb(0, node.target) : cb(EINVAL);
  };
  view.open = (path, flags, cb) => {
    if (!layout.covers(path)) return ops.open!(path, flags, cb);
    const node = layout.get(path);
    if (!node) return cb(ENOENT);
    // An empty, read-only file (a mountpoint for a file bind); reads answer end of file.
    return (flags & 0o3) !== 0 ? cb(EROFS) : cb(0, 0);
  };
  view.read = (path, fd, buffer, length, position, cb) => (layout.covers(path) ? cb(0) : ops.read!(path, fd, buffer, length, position, cb));
  view.readdir = (path, cb) => {
    if (layout.covers(path)) {
      const node = layout.get(path);
      if (!node) return cb(ENOENT);
      if (node.kind !== 'dir') return cb(ENOTDIR);
      const names = layout.children(path);
      const dir = stat(path)!;
      return cb(0, ['.', '..', ...names], [dir, dir, ...names.map((n) => stat(`${path}/${n}`)!)]);
    }
    if (path !== '/') return ops.readdir!(path, cb);
    ops.readdir!(path, (code, names = [], stats = []) => {
      if (code !== 0) return cb(code);
      const keep = names.map((n, i) => [n, stats[i]!] as const).filter(([n]) => !layout.covers(`/${n}`));
      const top = layout.topNames;
      cb(0, [...keep.map(([n]) => n), ...top], [...keep.map(([, s]) => s), ...top.map((n) => stat(`/${n}`)!)]);
    });
  };
  return view;
}
