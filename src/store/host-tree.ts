import { closeSync, openSync, readdirSync, readlinkSync, readSync, type BigIntStats, type Stats } from 'node:fs';
import { createHasher } from '../core/hash.js';
import { hostEntryType, type EntryType } from '../core/entry-types.js';
import { joinPath } from '../core/paths.js';
import { decodeUtf8 } from '../core/utf8.js';
import { atHostPath } from './deep-host-paths.js';

/**
 * The one walk of a host tree, for import and sync (transfer.ts) and for copy mode's before and
 * after scans (proxy/copy.ts): lstat, never following symlinks; parents before children; names in
 * byte order. Host paths stay bytes (a name that is not UTF-8 must reach lstat as it is, and
 * cannot become a vault path: `invalidName` hears of it, and it is not entered). A directory
 * is listed however long its path (deep-host-paths.ts); `lstat` decides whether its names are.
 */

/** One name of the tree as the walk meets it. */
export interface HostNode<S> {
  /** The host path, as bytes. */
  host: Buffer;
  /** The vault path it corresponds to. */
  path: string;
  st: S;
  /** Its entry type, or null for a kind no vault entry has. */
  type: EntryType | null;
}

export interface HostWalk<S extends Stats | BigIntStats> {
  /** lstat of a name below the root (the caller decides bigint and what a failure throws). */
  lstat(host: Buffer): S;
  /** Called for each name, parents first; returning false does not enter a directory. */
  visit(node: HostNode<S>): boolean | void;
  /** A name that is not valid UTF-8: its host path, the vault path of its directory, the name. */
  invalidName(host: Buffer, parent: string, name: Buffer): void;
  /** Vault paths to pass over entirely (a sandbox's reserved names). */
  skip?(path: string): boolean;
  /** A directory that could not be listed; without this, the error is thrown. */
  unlisted?(path: string, err: NodeJS.ErrnoException): void;
}

const SLASH = Buffer.from('/');

/**
 * Walks the tree at `host` (already lstat'ed as `st`), which stands for vault path `path`. With
 * its own stack, not the JS one: a tree may be thousands of levels deep (the vault's 8 KiB paths
 * of one-letter names are 4,096 levels), past what recursion survives.
 */
export function walkHostTree<S extends Stats | BigIntStats>(host: Buffer, path: string, st: S, walk: HostWalk<S>): void {
  /** The directories entered and not finished, each with its names still to walk (last first). */
  const open: { host: Buffer; path: string; names: Buffer[] }[] = [];
  const enter = (node: HostNode<S>) => {
    if (walk.visit(node) === false || node.type !== 'd') return;
    try {
      const names = atHostPath(node.host, (at) => readdirSync(at, { encoding: 'buffer' }));
      open.push({ host: node.host, path: node.path, names: names.sort(Buffer.compare).reverse() });
    } catch (err) {
      if (!walk.unlisted) throw err;
      walk.unlisted(node.path, err as NodeJS.ErrnoException);
    }
  };
  enter({ host, path, st, type: hostEntryType(st) });
  while (open.length > 0) {
    const dir = open[open.length - 1]!;
    const name = dir.names.pop();
    if (name === undefined) {
      open.pop();
      continue;
    }
    const child = Buffer.concat([dir.host, SLASH, name]);
    const text = decodeUtf8(name);
    if (text === undefined) {
      walk.invalidName(child, dir.path, name);
      continue;
    }
    const childPath = joinPath(dir.path, text);
    if (walk.skip?.(childPath)) continue;
    const childSt = walk.lstat(child);
    enter({ host: child, path: childPath, st: childSt, type: hostEntryType(childSt) });
  }
}

/** SHA-256 of a host file (any path length), read in 1 MiB pieces (nothing stored): copy mode and sync compare host files with vault content by it. */
export function hashHostFile(host: string | Buffer): string {
  const fd = atHostPath(host, (at) => openSync(at, 'r'));
  try {
    const hasher = createHasher();
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hasher.update(buf.subarray(0, n));
    return hasher.digest();
  } finally {
    closeSync(fd);
  }
}

/**
 * The target of a host symlink as a vault link target, or undefined when it is not UTF-8:
 * decoded with U+FFFD, two different targets would be stored as one, so callers refuse it as
 * they refuse such a name.
 */
export function readHostLink(host: string | Buffer): string | undefined {
  return decodeUtf8(atHostPath(host, (at) => readlinkSync(at, { encoding: 'buffer' })));
}
