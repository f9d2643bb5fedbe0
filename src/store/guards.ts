import { AvfsError, alreadyExists, isADirectory, notFound } from '../errors.js';
import type { Entry } from './entries.js';

/**
 * Preconditions of tree changes, each a named check throwing the one AvfsError it has always
 * thrown, so vault-fs.ts, history.ts and the rest refuse the same thing the same way. Checks
 * that need the tree read it through entries.ts; these only look at what they are given.
 */

/** The vault root is never removed (rm, rmdir, a restore or checkout that would delete it): INVALID_PATH. */
export function assertNotRoot(path: string): void {
  if (path === '/') throw new AvfsError('INVALID_PATH', 'refusing to remove the vault root', { path });
}

/**
 * A removal names what it removes by its own name, never by a final `.` or `..` (rm(1) refuses
 * those too): `..` is taken textually, so `rm -r /keep/typo/..` would remove all of /keep even
 * though /keep/typo does not exist. INVALID_PATH.
 */
export function assertNamedOperand(input: string): void {
  const last = input.replace(/\/+$/, '').split('/').pop();
  if (last === '.' || last === '..') throw new AvfsError('INVALID_PATH', `refusing to remove a path ending in '${last}': name the directory itself (${input})`, { path: input });
}

/** The vault root never moves: INVALID_PATH. */
export function assertMovable(path: string): void {
  if (path === '/') throw new AvfsError('INVALID_PATH', 'cannot move the vault root', { path });
}

/** The entry a change needs, or NOT_FOUND naming the path and vault. */
export function requireEntry(entry: Entry | undefined, path: string, vault: string): Entry {
  if (!entry) throw notFound(path, vault);
  return entry;
}

/** A file may be written at `path` over `old`: not the root or a directory (IS_A_DIRECTORY), not an existing name when `exclusive` (ALREADY_EXISTS). */
export function assertFileTarget(path: string, old: Entry | undefined, exclusive: boolean | undefined): void {
  if (path === '/' || old?.type === 'd') throw isADirectory(path);
  if (old && exclusive) throw alreadyExists(path);
}
