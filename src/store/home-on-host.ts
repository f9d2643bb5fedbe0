import { realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AvfsError } from '../errors.js';

/**
 * The avfs home as the host trees that import, export and sync work on meet it. A home kept
 * inside a project (`AVFS_HOME=./.avfs`) lies in the tree those commands name: imported, its live
 * database was copied into the vault (a torn copy: it changes as it is read), and written, it was
 * overwritten or deleted with every vault in it (sync applying a vault that had deleted that
 * copy, export of a vault file at its path). So import passes over it, and export and sync refuse,
 * before writing anything, to write in it, to remove a directory holding it, or to replace the
 * name it is given by (a symlink to it in the project).
 *
 * The home is known by its directory's device and inode, not by its path: a bind mount shows it
 * at a path of its own, which no comparison of real paths finds (an export through one overwrote
 * the database).
 */
export interface HomeOnHost {
  /** The home as AVFS_HOME names it, made absolute (it may be a symlink to the directory). */
  given: string;
  /** The home's real path (symlinks resolved), for messages. */
  real: string;
  dev: number;
  ino: number;
}

/** The home directory as the host has it, or undefined when it cannot be resolved (then nothing it holds is in reach). */
export function homeOnHost(home: string): HomeOnHost | undefined {
  try {
    const real = realpathSync(home);
    const st = statSync(real);
    return { given: resolve(home), real, dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Whether a host directory (lstat'ed) is the home, however it was reached. */
export function isHome(home: HomeOnHost | undefined, st: Stats): boolean {
  return !!home && st.isDirectory() && st.dev === home.dev && st.ino === home.ino;
}

/** Whether host path `host` names the home: its directory, or the name AVFS_HOME gives it. */
export function namesHome(home: HomeOnHost | undefined, host: string, st: Stats | undefined): boolean {
  return !!home && (resolve(host) === home.given || (st !== undefined && isHome(home, st)));
}

/**
 * Refuses (CONFLICT, reason avfs_home) a host path that is the home or lies inside it, as the
 * kernel resolves it (its directories by device and inode, symlinks followed): nothing in there is
 * the user's to import, export or sync.
 */
export function refuseInsideHome(home: HomeOnHost | undefined, host: string, doing: string): void {
  if (!home) return;
  for (let p = resolve(host); ; p = dirname(p)) {
    let st: Stats | undefined;
    try {
      st = statSync(p);
    } catch {
      st = undefined; // not there (yet): an export makes it
    }
    if (namesHome(home, p, st)) throw insideHome(home, host, doing, p === resolve(host) ? 'is' : 'lies inside');
    if (p === dirname(p)) return;
  }
}

/** CONFLICT for a host path that is, lies inside or holds the home, which a command would write, remove or read. */
export function insideHome(home: HomeOnHost, host: string, doing: string, how: 'is' | 'lies inside' | 'holds' = 'holds'): AvfsError {
  return new AvfsError(
    'CONFLICT',
    `${doing} would touch ${host}, which ${how} the avfs home ${home.real} (the database of every vault): nothing was written. Keep the home outside the directory, or leave that path out`,
    { host, home: home.real, reason: 'avfs_home' },
  );
}
