// Types for the parts of fuse-native 2.2.6 (CommonJS, no bundled types) that src/mount uses.
// Callback conventions: `cb(0, value)` on success, `cb(negativeErrno)` on failure; read/write
// answer `cb(byteCount)`. With the avfs patch, utimens times are epoch ms and -1 means UTIME_OMIT.
declare module 'fuse-native' {
  export type Errno = number;
  export type Cb = (code: number) => void;

  export interface FuseStat {
    mode: number;
    uid?: number;
    gid?: number;
    size?: number;
    dev?: number;
    nlink?: number;
    ino?: number;
    rdev?: number;
    blksize?: number;
    blocks?: number;
    atime?: Date | number;
    mtime?: Date | number;
    ctime?: Date | number;
  }

  export interface FuseStatfs {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid: number;
    flag: number;
    namemax: number;
  }

  export interface FuseOperations {
    init?(cb: Cb): void;
    access?(path: string, mode: number, cb: Cb): void;
    statfs?(path: string, cb: (code: number, statfs?: FuseStatfs) => void): void;
    getattr?(path: string, cb: (code: number, stat?: FuseStat) => void): void;
    fgetattr?(path: string, fd: number, cb: (code: number, stat?: FuseStat) => void): void;
    flush?(path: string, fd: number, cb: Cb): void;
    fsync?(path: string, datasync: number, fd: number, cb: Cb): void;
    fsyncdir?(path: string, datasync: number, fd: number, cb: Cb): void;
    readdir?(path: string, cb: (code: number, names?: string[], stats?: FuseStat[]) => void): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    utimens?(path: string, atime: number, mtime: number, cb: Cb): void;
    readlink?(path: string, cb: (code: number, target?: string) => void): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    mknod?(path: string, mode: number, dev: number, cb: Cb): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
    getxattr?(path: string, name: string, position: number, cb: (code: number, value?: Buffer | null) => void): void;
    listxattr?(path: string, cb: (code: number, list?: string[]) => void): void;
    removexattr?(path: string, name: string, cb: Cb): void;
    open?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
    opendir?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
    read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErrno: number) => void): void;
    write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytesOrErrno: number) => void): void;
    release?(path: string, fd: number, cb: Cb): void;
    releasedir?(path: string, fd: number, cb: Cb): void;
    create?(path: string, mode: number, cb: (code: number, fd?: number) => void): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    link?(src: string, dest: string, cb: Cb): void;
    /** `target` is the link's content, `path` the new link. */
    symlink?(target: string, path: string, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb): void;
    rmdir?(path: string, cb: Cb): void;
  }

  export interface FuseOptions {
    /** Per-operation timeout in ms (default 15 s; a handler that never answers gets ETIMEDOUT); false disables it. */
    timeout?: number | false;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    allowOther?: boolean;
    allowRoot?: boolean;
    autoUnmount?: boolean;
    defaultPermissions?: boolean;
    maxRead?: number;
    fsname?: string;
    subtype?: string;
    kernelCache?: boolean;
    autoCache?: boolean;
    umask?: number;
    uid?: number;
    gid?: number;
    entryTimeout?: number;
    attrTimeout?: number;
    acAttrTimeout?: number;
    noforget?: boolean;
  }

  class Fuse {
    constructor(mnt: string, ops: FuseOperations, opts?: FuseOptions);
    readonly mnt: string;
    readonly opts: FuseOptions;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    errno(code: string): number;
    /** Builds the `-o...` string passed to libfuse (overridden by avfs to add options). */
    protected _fuseOptions(): string;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }

  export default Fuse;
}
