import { accessSync, chmodSync, closeSync, constants, existsSync, fchmodSync, fsyncSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { AvfsError } from '../errors.js';
import { fileSize, isSqliteFile } from './db.js';
import { makeDirectories } from './host-dirs.js';
import { decodeUtf8, escapeBytes, nulSeparated } from '../core/utf8.js';

/**
 * The home: one directory holding the database and small JSON state. Its files are the user's
 * alone whatever the umask: files 0600 (the database's -wal and -shm take its mode), directories
 * 0700.
 */
export const HOME_FILE_MODE = 0o600;
export const HOME_DIR_MODE = 0o700;

/**
 * The home: `--home`, else `$AVFS_HOME`, else `~/.avfs`. A leading `~` or `~/` is the user's home
 * directory, as a shell and the Python client read it: a quoted `~/…` (an MCP host's `env`) was
 * otherwise a directory named `~` in whatever directory the process started in.
 */
export function resolveHome(flag?: string): string {
  const chosen = flag || environmentHome() || join(homedir(), '.avfs');
  return resolve(chosen === '~' || chosen.startsWith('~/') ? join(homedir(), chosen.slice(1)) : chosen);
}

/**
 * $AVFS_HOME, refused when its bytes are not UTF-8 (as `--home` is, cli/main.ts): Node hands the
 * environment over decoded, one U+FFFD for each byte it cannot decode, so `home\xff` and
 * `home\xfe` would both open one directory that is neither.
 */
function environmentHome(): string | undefined {
  const value = process.env.AVFS_HOME;
  if (!value?.includes('\uFFFD')) return value;
  const raw = rawEnvironmentValue('AVFS_HOME');
  if (raw && decodeUtf8(raw) === undefined) {
    const shown = escapeBytes(raw);
    throw new AvfsError(
      'INVALID_ARGUMENT',
      `AVFS_HOME ${shown} is not valid UTF-8, and avfs would not receive its bytes exactly (Node reads the environment as UTF-8: two such homes would become one); name the home in UTF-8, or through a symlink to it`,
      { variable: 'AVFS_HOME', value: shown },
    );
  }
  return value;
}

/**
 * The bytes of environment variable `name` as this process received it (Linux: /proc/self/environ),
 * or undefined. process.env decodes them as UTF-8 with U+FFFD for each byte it cannot decode.
 */
function rawEnvironmentValue(name: string): Buffer | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/environ');
  } catch {
    return undefined;
  }
  const prefix = Buffer.from(`${name}=`);
  return nulSeparated(raw).find((entry) => entry.subarray(0, prefix.length).equals(prefix))?.subarray(prefix.length);
}

/**
 * Creates the home directory (and missing parents, 0700 whatever the umask) on first use; a path
 * that exists but is not a directory, or cannot be created (`/proc/nope`), is INVALID_PATH.
 */
export function ensureHome(home: string): void {
  let created: string[];
  try {
    created = makeDirectories(home, HOME_DIR_MODE);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOTDIR') throw new AvfsError('INVALID_PATH', `home is not a directory: ${home}`, { home });
    if (errno === 'EACCES' || errno === 'EPERM') throw homeDenied(home, 'reach');
    const target = errno === 'EEXIST' ? danglingLink(home) : undefined;
    if (target !== undefined) {
      throw new AvfsError('INVALID_PATH', `the avfs home ${home} is a symlink to ${target}, which does not exist: create that directory, or point the home elsewhere`, { home, target, errno });
    }
    throw new AvfsError('INVALID_PATH', `cannot use ${home} as the avfs home: ${(err as Error).message}`, { home, errno });
  }
  for (const dir of created) chmodSync(dir, HOME_DIR_MODE);
}

/** The target of `path` when it is a symlink that leads nowhere (mkdir then fails EEXIST). */
function danglingLink(path: string): string | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink() || existsSync(path)) return undefined;
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** False when the home cannot be written (a read-only mount, no permission): it is then opened read-only. */
export function homeWritable(home: string): boolean {
  try {
    accessSync(home, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export const databaseFile = (home: string) => join(home, 'avfs.db');

/** The home's directory of copies a refused copy-mode run left (proxy/copy.ts keptOnDisk): the user's work, which import may read. */
export const KEPT_DIR = 'kept';

/** The home's database file as stat names it (null when missing): which home a request is for, however its path is spelled. */
export function databaseIdentity(home: string): { dev: number; ino: number } | null {
  const st = statSync(databaseFile(home), { throwIfNoEntry: false });
  return st ? { dev: st.dev, ino: st.ino } : null;
}

/**
 * What only a home that has been used holds beside its database: the `vault use` state, the
 * home policy (proxy/policy-source.ts), mount sessions (mount/session.ts), a WAL with commits.
 */
function stateFiles(home: string): string[] {
  const found: string[] = [];
  for (const name of ['state.json', 'policy.json']) if (fileSize(join(home, name)) !== undefined) found.push(name);
  if (listOrEmpty(join(home, 'mounts')).length > 0) found.push('mounts/');
  if ((fileSize(`${databaseFile(home)}-wal`) ?? 0) > 0) found.push('avfs.db-wal');
  return found;
}

/**
 * Checks the database file before SQLite opens it, because SQLite silently makes a new database
 * of a missing or empty file: in a home that has state, that would hide the loss of every vault
 * behind an empty `default`. For a new home, creates the file 0600 (its WAL files inherit that)
 * and, when avfs is the directory's only user, makes the directory 0700.
 * Throws DATABASE_DAMAGED (reason `missing`, `empty` or `not_a_database`) or READ_ONLY.
 */
export function prepareDatabaseFile(home: string, writable: boolean): void {
  const file = databaseFile(home);
  // A home this user may not enter, or a database it may not read (another user's home): said
  // so, before a stat that fails EACCES reads as "no database" (then READ_ONLY, "has no database").
  mayAccess(home, constants.X_OK, 'enter');
  mayAccess(file, constants.R_OK, 'read');
  let size = fileSize(file);
  if (!size) {
    const state = stateFiles(home);
    // Read again after the state: a process creating this home writes the database header before
    // any WAL frame, so an empty database seen after a non-empty WAL is damage, not that race.
    size = fileSize(file);
    if (!size) return prepareNewDatabase(home, size, state, writable);
  }
  if (!isSqliteFile(file)) {
    throw damaged('not_a_database', `${file} is not an avfs database (overwritten or damaged). Restore it from a backup, or move ${home} aside to start a new home.`, home);
  }
}

/** DENIED when `path` exists and this user lacks `mode` on it (a missing path is for the caller to judge). */
function mayAccess(path: string, mode: number, verb: string): void {
  try {
    accessSync(path, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') return;
    throw homeDenied(path, verb);
  }
}

function homeDenied(path: string, verb: string): AvfsError {
  return new AvfsError('DENIED', `cannot ${verb} ${path}: permission denied (an avfs home belongs to one user: use your own with --home or AVFS_HOME)`, { path, reason: 'permission' });
}

/** A missing or empty database: a new home, unless the home holds state (then it is damage). */
function prepareNewDatabase(home: string, size: number | undefined, state: string[], writable: boolean): void {
  if (state.length > 0) {
    const what = size === undefined ? 'has no avfs.db' : 'has an empty avfs.db';
    throw damaged(
      size === undefined ? 'missing' : 'empty',
      `${home} ${what} but holds state (${state.join(', ')}): the database was lost or truncated. Restore avfs.db from a backup; to start an empty home here instead, remove avfs.db and ${state.join(', ')}.`,
      home,
      { state },
    );
  }
  if (!writable) throw new AvfsError('READ_ONLY', `the avfs home ${home} is read-only and has no database to read`, { home });
  // The directory is made private first: one avfs may not (another user's, world-writable) is
  // refused before anything is made in it, rather than left holding an empty avfs.db.
  if (listOrEmpty(home).every((name) => name.startsWith('avfs.db'))) {
    try {
      chmodSync(home, HOME_DIR_MODE);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw code === 'EPERM' || code === 'EACCES' ? homeDenied(home, 'make a home in') : err;
    }
  }
  if (size === undefined) createPrivateFile(databaseFile(home));
}

/**
 * Gives the database files the home's file mode before they are opened for writing: takes group
 * and other access away from ones an older avfs left readable, and gives the -wal and -shm back
 * their owner's write access. SQLite creates those with the database's mode, so a database its
 * owner had made read-only (0400) for a while left a read-only -shm behind, and every later write
 * failed READ_ONLY though the database was writable again.
 */
export function restrictDatabaseModes(home: string): void {
  const file = databaseFile(home);
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      const mode = statSync(path).mode & 0o777;
      if (mode & 0o077 || (path !== file && mode !== HOME_FILE_MODE)) chmodSync(path, HOME_FILE_MODE);
    } catch {
      // absent, or not ours to change: nothing to tighten
    }
  }
}

const damaged = (reason: string, message: string, home: string, extra: Record<string, unknown> = {}) =>
  new AvfsError('DATABASE_DAMAGED', message, { reason, home, database: databaseFile(home), ...extra });

/** Creates an empty 0600 file unless it exists (another process may be creating the same home). */
function createPrivateFile(file: string): void {
  try {
    closeSync(openSync(file, 'wx', HOME_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Small JSON state beside the database (the vault chosen by `vault use`). Written atomically
 * (temp file + rename) so a crash never leaves half a file.
 */
export interface HomeState {
  current_vault?: string | null;
}

const stateFile = (home: string) => join(home, 'state.json');

/**
 * The home's state; none yet (no state.json) is a new home. A state.json that cannot be read or
 * is not the object avfs writes (emptied, truncated, edited) is DATABASE_DAMAGED, reason
 * `state_damaged`: read as none, it silently put every command in the vault `default`.
 */
export function readState(home: string): HomeState {
  const file = stateFile(home);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    // Another user's state.json (`sudo avfs vault use …` on this home): not damage.
    if (code === 'EACCES' || code === 'EPERM') throw homeDenied(file, 'read');
    throw stateDamaged(home, (err as Error).message);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (err) {
    throw stateDamaged(home, text.trim() === '' ? 'it is empty' : (err as Error).message);
  }
  // avfs always writes the field (null when no vault is in use): `{}` or a renamed key is an edit.
  const current = (state as HomeState | null)?.current_vault;
  if (state === null || typeof state !== 'object' || Array.isArray(state) || !Object.hasOwn(state, 'current_vault') || (current !== null && typeof current !== 'string')) {
    throw stateDamaged(home, 'it is not an object with current_vault');
  }
  return state as HomeState;
}

const stateDamaged = (home: string, problem: string) =>
  damaged(
    'state_damaged',
    `${stateFile(home)}, which records the vault in use, is damaged (${problem}): run \`avfs vault use <name>\` to choose the vault again (it rewrites the file), or pass --vault <name>`,
    home,
    { file: stateFile(home) },
  );

/**
 * The state for what it only informs (which vault a listing marks as in use, whether a new home's
 * unused `default` may be replaced): undefined while state.json is damaged, so `vault list` still
 * shows the names `vault use` needs to repair it. Choosing the vault a command works on reads
 * readState, which refuses.
 */
export function readStateIfSound(home: string): HomeState | undefined {
  try {
    return readState(home);
  } catch (err) {
    if (err instanceof AvfsError && err.data.reason === 'state_damaged') return undefined;
    throw err;
  }
}

/**
 * Changes fields of the state. A damaged state.json is replaced rather than refused: this is how
 * `vault use` repairs it (the vault in use is its only field that matters).
 */
export function updateState(home: string, change: HomeState): void {
  const state = readStateIfSound(home) ?? {};
  writeHomeFile(stateFile(home), JSON.stringify({ ...state, ...change }, null, 2) + '\n');
}

/**
 * Writes a file in the home atomically (temp file + rename, so a crash never leaves half a file),
 * mode 0600 even if a stale temp file was left with another mode. The temp file is synced before
 * the rename (else a power loss can leave the new name on empty data) and removed when the write
 * fails (a full disk leaves the old file as it was). A read-only home is READ_ONLY.
 */
export function writeHomeFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', HOME_FILE_MODE);
    try {
      fchmodSync(fd, HOME_FILE_MODE);
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
      throw new AvfsError('READ_ONLY', `cannot write ${file}: the avfs home is read-only (${code})`, { file });
    }
    throw err;
  }
}

function listOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
