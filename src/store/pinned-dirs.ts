import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { atHostPath } from './deep-host-paths.js';

/** Linux's O_PATH (Node's constants lack it): a descriptor that only names the directory. */
const O_PATH = 0o10000000;
/** Descriptors kept between steps (trim): the directories an export is filling are few (a path's ancestors); others are opened again when needed. */
const KEPT = 64;

/**
 * The directories of a host tree being written (an export), each held by a descriptor opened
 * through its parent's with O_NOFOLLOW, from the tree's root down. `path(host)` names `host`
 * as `/proc/self/fd/N/<name>`, N its directory's descriptor, so a call given it acts in that
 * directory even if another process renames it, or puts a symlink in its place or in place of a
 * directory above it, while the tree is written: Node has no openat(), and this is what openat
 * would do. A directory that is no longer one when it is first reached is ENOTDIR (a symlink
 * there is never followed). The root's descriptor is held until close; others past KEPT are
 * closed between steps and opened again through their parents. Without /proc, paths are used as
 * they are (the race stays open).
 */
export class PinnedDirs {
  private readonly fds = new Map<string, number>();
  private readonly pinned = existsSync('/proc/self/fd');

  readonly root: string;

  /** `root`: the tree's top directory, which the caller chose (opened following symlinks). */
  constructor(root: string) {
    this.root = resolve(root); // `a/b/`, `a//b` and `./a/b` name one directory
  }

  /** A path naming `host` (the root or a path below it) through its directory's descriptor. */
  path(host: string): string {
    host = this.within(host);
    if (!this.pinned || host === this.root) return host;
    return `/proc/self/fd/${this.fd(dirname(host))}/${basename(host)}`;
  }

  /** A path naming directory `dir` itself (the root or one below it) by its own descriptor: for listing it, or removing names in it. */
  dir(dir: string): string {
    dir = this.within(dir);
    return this.pinned ? `/proc/self/fd/${this.fd(dir)}` : dir;
  }

  /** `host` spelled as the root's paths are; a path outside the root is a programming error. */
  private within(host: string): string {
    const path = resolve(host);
    if (path !== this.root && !path.startsWith(this.root === '/' ? '/' : `${this.root}/`)) throw new Error(`${host} is not within ${this.root}`);
    return path;
  }

  /**
   * Closes the least recently used descriptors past KEPT. Called between steps, never inside one:
   * a path `path` gave stays valid until then (a closed number may be given to the next open).
   */
  trim(): void {
    for (const [dir, fd] of this.fds) {
      if (this.fds.size <= KEPT) return;
      // The root's stays: opened again, it would be by its path, following what is there by then.
      if (dir === this.root) continue;
      this.fds.delete(dir);
      closeSync(fd);
    }
  }

  /** Closes every descriptor; the object may be used again (they are opened anew). */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private fd(dir: string): number {
    const known = this.fds.get(dir);
    if (known !== undefined) {
      // Most recently used last: the least recently used goes first when the map is full.
      this.fds.delete(dir);
      this.fds.set(dir, known);
      return known;
    }
    const fd =
      dir === this.root
        ? atHostPath(dir, (path) => openSync(path, O_PATH | constants.O_DIRECTORY))
        : openSync(this.path(dir), O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    this.fds.set(dir, fd);
    return fd;
  }
}
