import { realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
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
  /** That name's last part, and the device and inode of the directory holding it (symlinks followed), however it is reached. */
  name: string;
  nameDir: { dev: number; ino: number } | undefined;
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
    const given = resolve(home);
    return { given, name: basename(given), nameDir: statOrUndefined(dirname(given)), real, dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** Whether a host directory (lstat'ed) is the home, however it was reached. */
function isHome(home: HomeOnHost | undefined, st: Stats): boolean {
  return !!home && st.isDirectory() && st.dev === home.dev && st.ino === home.ino;
}

/**
 * Whether host path `host` names the home: its directory (`st`, lstat'ed, by device and inode), or
 * the name AVFS_HOME gives it (a symlink in the project), reached by any path: the same last part
 * in the same directory, that directory known by device and inode (a symlink above it, or a bind
 * mount, spells it otherwise).
 */
export function namesHome(home: HomeOnHost | undefined, host: string, st: Stats | undefined): boolean {
  if (!home) return false;
  if (st !== undefined && isHome(home, st)) return true;
  const path = resolve(host);
  if (path === home.given) return true;
  if (basename(path) !== home.name || !home.nameDir) return false;
  const dir = statOrUndefined(dirname(path));
  return dir !== undefined && dir.dev === home.nameDir.dev && dir.ino === home.nameDir.ino;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Refuses (CONFLICT, reason avfs_home) a host path that is the home or lies inside it, as the
 * kernel resolves it (its directories by device and inode, symlinks followed): nothing in there is
 * the user's to import, export or sync.
 */
export function refuseInsideHome(home: HomeOnHost | undefined, host: string, doing: string, readable?: string): void {
  if (!home) return;
  for (let p = resolve(host), below: string | undefined; ; below = p, p = dirname(p)) {
    const st = statOrUndefined(p); // undefined: not there (yet), an export makes it
    if (namesHome(home, p, st)) {
      // `readable`: a directory of the home whose contents are the user's (an import may read `kept/`, where a refused run's copy waits).
      if (readable !== undefined && below !== undefined && basename(below) === readable) return;
      throw insideHome(home, host, doing, p === resolve(host) ? 'is' : 'lies inside');
    }
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
