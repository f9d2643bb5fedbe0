import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type FuseClass from 'fuse-native';
import type { FuseOperations } from 'fuse-native';
import { AvfsError } from '../errors.js';

/**
 * The one place that loads fuse-native. It is imported lazily, only on code paths that mount, so
 * every other command works on a machine without libfuse (ARCHITECTURE.md "One process per mount").
 */

export type Fuse = typeof FuseClass;

const INSTALL_HINT = 'install the FUSE runtime: apt-get update && apt-get install -y libfuse2 fuse3';
// Written by scripts/build-fuse.js beside the addon it rebuilt with the utimens fix.
const STAMP = 'avfs-fuse-build.json';

let loaded: Promise<Fuse> | undefined;

/** fuse-native's package directory, or undefined when it is not installed. */
function fuseNativeDir(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('fuse-native/package.json'));
  } catch {
    return undefined;
  }
}

/**
 * Loads fuse-native, checking first that `/dev/fuse` exists and that the patched addon was built
 * (a silent fallback to the unpatched prebuild would lose every mtime set through the mount).
 * Throws FUSE_UNAVAILABLE with what to do. `AVFS_ALLOW_UNPATCHED_FUSE=1` accepts the prebuild.
 */
export function loadFuse(): Promise<Fuse> {
  loaded ??= (async () => {
    if (process.platform !== 'linux') throw unavailable(`FUSE mounts are supported on Linux only (this is ${process.platform})`);
    if (!existsSync('/dev/fuse')) throw unavailable(`/dev/fuse is missing (load the fuse kernel module, or run the container with --device /dev/fuse); ${INSTALL_HINT}`);
    const dir = fuseNativeDir();
    if (!dir) throw unavailable('the fuse-native package is not installed (run npm install)');
    if (!existsSync(join(dir, 'build', 'Release', STAMP)) && process.env.AVFS_ALLOW_UNPATCHED_FUSE !== '1') {
      throw unavailable(
        'fuse-native was not rebuilt with the avfs utimens patch (mtimes would be lost); run `node scripts/build-fuse.js`, ' +
          `or set AVFS_ALLOW_UNPATCHED_FUSE=1 to mount anyway. If it fails: ${INSTALL_HINT} (and python3 make g++)`,
      );
    }
    try {
      const mod = (await import('fuse-native')) as unknown as { default: Fuse };
      passDescriptorToFgetattr(mod.default);
      return mod.default;
    } catch (err) {
      throw unavailable(`fuse-native cannot load (${firstLine(err)}); ${INSTALL_HINT}`);
    }
  })();
  // A failed load is not cached, so installing the library fixes the next attempt in a long-lived process.
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

// The addon's mark on a descriptor it added to a getattr (handles stay below bit 29: open-files.ts).
const BY_NODE = 0x80000000;

/**
 * fuse-native 2.2.6 answers the kernel's getattr of an open descriptor (a read checking the size)
 * with the `getattr` handler of its path, dropping the descriptor: a file open here whose path no
 * longer names it (renamed or removed elsewhere) failed such reads with ENOENT. This hands the
 * request to the `fgetattr` handler, with the descriptor, through the conversion `getattr` uses.
 *
 * A descriptor with bit 31 set (BY_NODE) was added by the addon (the avfs-fstat-fh hunk) to a
 * getattr the kernel sent without one: an fstat, or a stat of a name, of a node with a file open
 * through it. It is answered as `getattr` of the path, as before, unless the path names nothing
 * (libfuse lost it: "" once the file's directory was removed; or no entry is there any more):
 * then as `fgetattr` of the file open on that node, as a local disk answers an fstat.
 */
function passDescriptorToFgetattr(fuse: Fuse): void {
  type Handler = (this: { ops: FuseOperations }, signal: unknown, path: string, fd?: number) => void;
  type Getattr = NonNullable<FuseOperations['getattr']>;
  const proto = (fuse as unknown as { prototype: { _op_getattr: Handler; _op_fgetattr: Handler } }).prototype;
  const getattr = proto._op_getattr;
  const ENOENT = errnoCode(fuse, 'ENOENT');
  proto._op_fgetattr = function (signal, path, fd) {
    const { fgetattr, getattr: byPath } = this.ops;
    if (!fgetattr || fd === undefined) return getattr.call(this, signal, path);
    let answer: Getattr = (p, cb) => fgetattr(p, fd, cb);
    if (fd >= BY_NODE) {
      const own = fd - BY_NODE;
      answer = (p, cb) => {
        if (p === '' || !byPath) return fgetattr(p, own, cb);
        byPath(p, (code, stat) => (code === ENOENT ? fgetattr(p, own, cb) : cb(code, stat)));
      };
    }
    return getattr.call({ ops: { getattr: answer } }, signal, path);
  };
}

/** Whether the loaded addon was built from exactly a source that has the patch hunk marked `marker`. */
function builtWith(marker: string): boolean {
  const dir = fuseNativeDir();
  if (!dir) return false;
  try {
    const source = readFileSync(join(dir, 'fuse-native.c'));
    const stamp = JSON.parse(readFileSync(join(dir, 'build', 'Release', STAMP), 'utf8')) as { sourceSha256?: string };
    return source.includes(marker) && stamp.sourceSha256 === createHash('sha256').update(source).digest('hex');
  } catch {
    return false;
  }
}

/**
 * Whether the loaded addon honours the keep-cache bit in open's handle (the avfs-keep-cache hunk
 * of the patch). Without it the bit must never be set.
 */
export function keepCacheSupported(): boolean {
  return builtWith('avfs-keep-cache');
}

/**
 * Whether the loaded addon honours the direct-I/O bit in open's handle (the avfs-direct-append
 * hunk of the patch). Without it the bit must never be set.
 */
export function directAppendSupported(): boolean {
  return builtWith('avfs-direct-append');
}

/**
 * Whether operations on an open file keep working once libfuse lost its path (the avfs-nullpath
 * hunk: a directory above it removed). Without it such a directory must stay non-empty.
 */
export function nullPathSupported(): boolean {
  return builtWith('avfs-nullpath');
}

/** Who made the FUSE request being served: its uid, gid and pid. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

let callerFn: (() => Caller) | null | undefined;

/** The loaded addon's own functions (the module fuse-native loaded: node-gyp-build requires it by path); null when absent. */
function addon(): Record<string, unknown> | null {
  const dir = fuseNativeDir();
  if (!dir) return null;
  try {
    const require = createRequire(join(dir, 'package.json'));
    return (require('node-gyp-build') as (d: string) => Record<string, unknown>)(dir);
  } catch {
    return null;
  }
}

/**
 * The caller of the request whose handler is running, read from libfuse's fuse_get_context()
 * through the avfs-caller-context hunk of the patch (fuse-native itself does not pass it). Valid
 * only synchronously inside an operation handler. Returns null when the loaded addon lacks the
 * hunk (an older build): new entries then belong to the mounting user, as before.
 */
export function callerReader(): (() => Caller) | null {
  if (callerFn !== undefined) return callerFn;
  callerFn = null;
  const get = addon()?.fuse_native_get_context;
  if (typeof get === 'function') {
    callerFn = () => {
      const [uid, gid, pid] = (get as () => number[])();
      return { uid: uid!, gid: gid!, pid: pid! };
    };
  }
  return callerFn;
}

/**
 * For a mounted `fuse`: drops the attributes the kernel caches for inode `ino` under every name
 * it has (the avfs-inval-ino hunk of the patch; ARCHITECTURE.md "Hard links through the mount").
 * Callable from any handler: attributes only, so the kernel takes no inode lock while the
 * request waits. Null when the loaded addon lacks the hunk (an older build): names of a hard link
 * then catch up within the attribute timeout, as before.
 */
export function attributeInvalidator(fuse: InstanceType<Fuse>): ((ino: number) => void) | null {
  const invalidate = builtWith('avfs-inval-ino') ? addon()?.fuse_native_invalidate_inode : undefined;
  if (typeof invalidate !== 'function') return null;
  return (ino) => {
    // fuse-native's per-mount state, which the addon reads the channel from (set by mount()).
    const thread = (fuse as unknown as { _thread: Buffer | null })._thread;
    if (thread) (invalidate as (thread: Buffer, ino: number) => number)(thread, ino);
  };
}

/** Whether mounting can work here, and if not, why (never throws). */
export async function fuseAvailable(): Promise<{ ok: boolean; reason?: string }> {
  try {
    await loadFuse();
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  // libfuse 2 opens /dev/fuse itself before it would ask fusermount, and gives up when it may not:
  // as a user, where the device is root's alone (0600; most systems make it 0666).
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? `/dev/fuse is missing (no FUSE in this kernel or container); ${INSTALL_HINT}` : `this user may not open /dev/fuse (${code}): ask for read-write access to it (mode 0666, as most systems have it), or mount as root` };
  }
  for (const tool of ['/bin/fusermount', '/usr/bin/fusermount', '/bin/fusermount3', '/usr/bin/fusermount3']) {
    if (existsSync(tool)) return { ok: true };
  }
  return { ok: false, reason: `fusermount is missing; ${INSTALL_HINT}` };
}

function unavailable(message: string): AvfsError {
  return new AvfsError('FUSE_UNAVAILABLE', `cannot mount: ${message}`);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** The negative errno fuse-native expects for an errno name; EIO for names it does not know. */
export function errnoCode(fuse: Fuse, name: string): number {
  const n = (fuse as unknown as Record<string, unknown>)[name];
  return typeof n === 'number' ? n : -5;
}
