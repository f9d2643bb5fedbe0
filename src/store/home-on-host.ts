import { realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { AvfsError } from '../errors.js';

/**
 * The avfs home as the host trees that import, export and sync work on meet it. A home kept
 * inside a project (`AVFS_HOME=./.avfs`) lies in the tree those commands name: imported, its live
 * database was copied into the vault (a torn copy: it changes as it is read), and written, it was
 * overwritten or deleted with every vault in it (sync applying a vault that had deleted that
 * copy, export of a vault file at its path). So import passes over it, and export and sync refuse,
 * before writing anything, to write in it or to remove a directory holding it.
 */
export interface HomeOnHost {
  /** The home's real path (symlinks resolved). */
  real: string;
  dev: number;
  ino: number;
}

/** The home directory as the host has it, or undefined when it cannot be resolved (then nothing it holds is in reach). */
export function homeOnHost(home: string): HomeOnHost | undefined {
  try {
    const real = realpathSync(home);
    const st = statSync(real);
    return { real, dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Whether a host directory (lstat'ed) is the home: by device and inode, however it was reached. */
export function isHome(home: HomeOnHost | undefined, st: Stats): boolean {
  return !!home && st.isDirectory() && st.dev === home.dev && st.ino === home.ino;
}

/** `inner` relative to `outer` when it is `outer` or below it ('' for `outer` itself), else undefined. */
function within(outer: string, inner: string): string | undefined {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)) ? rel : undefined;
}

/** The real path of `path`, which may not exist yet: its nearest existing ancestor's real path, the rest appended. */
function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPathOf(parent), basename(path));
  }
}

/**
 * Where the home lies in the host tree at `dir`, as a path relative to `dir` ('' when `dir` is
 * the home), or undefined when it is not in that tree. Throws CONFLICT (reason avfs_home) when
 * `dir` is inside the home: nothing in there is the user's to import, export or sync.
 */
export function homeInTree(home: HomeOnHost | undefined, dir: string, doing: string): string | undefined {
  if (!home) return undefined;
  const real = realPathOf(dir);
  const rel = within(real, home.real);
  if (rel === '' || (rel === undefined && within(home.real, real) !== undefined)) throw insideHome(home, dir, doing);
  return rel;
}

/** CONFLICT for a host path in the home (or a directory holding it) that a command would write, remove or read. */
export function insideHome(home: HomeOnHost, host: string, doing: string): AvfsError {
  return new AvfsError(
    'CONFLICT',
    `${doing} would touch ${host}, which is or holds the avfs home ${home.real} (the database of every vault): nothing was written. Keep the home outside the directory, or leave that path out`,
    { host, home: home.real, reason: 'avfs_home' },
  );
}
