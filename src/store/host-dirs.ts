import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p`: creates `path` and its missing parents with `mode` (less the umask, as mkdir does)
 * and returns the directories it created, outermost first. One level at a time, not with Node's
 * recursive mkdir, which loops forever at 100% CPU where mkdir answers ENOENT under a parent that
 * exists (`/proc/nope`). Throws the failing step's errno error (ENOTDIR for a non-directory in the way).
 */
export function makeDirectories(path: string, mode = 0o777): string[] {
  const missing: string[] = [];
  for (let dir = path; !isDirectory(dir); dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(dir)) continue; // another process made it
      throw err;
    }
  }
  return missing;
}

/** True for a directory (symlinks followed), false for nothing there; `other()` (by default ENOTDIR) for anything else. */
export function isDirectory(path: string, other = (): Error => Object.assign(new Error(`not a directory: ${path}`), { code: 'ENOTDIR' })): boolean {
  try {
    if (statSync(path).isDirectory()) return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  throw other();
}
