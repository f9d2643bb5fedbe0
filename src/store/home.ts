import { mkdirSync, readFileSync, renameSync, writeFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { AvfsError } from '../errors.js';

/** The home: `--home`, else `$AVFS_HOME`, else `~/.avfs`. */
export function resolveHome(flag?: string): string {
  const chosen = flag || process.env.AVFS_HOME || join(homedir(), '.avfs');
  return resolve(chosen);
}

/** Creates the home directory on first use; a path that exists but is not a directory is an error. */
export function ensureHome(home: string): void {
  try {
    const st = statSync(home);
    if (!st.isDirectory()) throw new AvfsError('INVALID_PATH', `home is not a directory: ${home}`, { home });
    return;
  } catch (err) {
    if (err instanceof AvfsError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new AvfsError('INVALID_PATH', `cannot create home ${home}: ${(err as Error).message}`, { home });
  }
}

export const databaseFile = (home: string) => join(home, 'avfs.db');

/**
 * Small JSON state beside the database (the vault chosen by `vault use`). Written atomically
 * (temp file + rename) so a crash never leaves half a file.
 */
export interface HomeState {
  current_vault?: string | null;
}

const stateFile = (home: string) => join(home, 'state.json');

export function readState(home: string): HomeState {
  try {
    return JSON.parse(readFileSync(stateFile(home), 'utf8')) as HomeState;
  } catch {
    return {};
  }
}

export function writeState(home: string, state: HomeState): void {
  const tmp = `${stateFile(home)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, stateFile(home));
}
