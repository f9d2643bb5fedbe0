import type Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';

/**
 * How a connection waits for a lock another process holds: in the busy handler of
 * native/busy-wait.c (a SQLite extension built at install, scripts/build-busy-wait.js), which
 * tries again every millisecond however long it has waited, or, where it was not built or does
 * not load, in SQLite's own, which sleeps longer the longer it has waited (ARCHITECTURE.md,
 * "Concurrent writers", has the numbers). The wait is the same either way; only its steps differ.
 */

// build/ at the package root: the same two levels up from dist/store/, dist/cli-bundle/ and src/store/.
const LIBRARY = fileURLToPath(new URL('../../build/avfs-busy-wait.so', import.meta.url));

const timeouts = new WeakMap<Database.Database, number>();
const withExtension = new WeakSet<Database.Database>();
let unavailable = false;

/** Makes `db` wait up to `ms` for a lock (0: fail at once), in the extension's handler when it loads. */
export function setBusyTimeout(db: Database.Database, ms: number): void {
  if (!withExtension.has(db) && !unavailable) {
    try {
      db.loadExtension(LIBRARY); // entry point sqlite3_avfsbusywait_init, which SQLite derives from the file name
      withExtension.add(db);
    } catch {
      unavailable = true; // not built here (or not loadable): SQLite's handler, for every connection of this process
    }
  }
  if (withExtension.has(db)) db.prepare('SELECT avfs_busy_wait(?)').get(ms);
  else db.pragma(`busy_timeout = ${Math.trunc(ms)}`);
  timeouts.set(db, ms);
}

/** The wait setBusyTimeout gave `db` (PRAGMA busy_timeout reads 0 under the extension's handler). */
export const busyTimeoutOf = (db: Database.Database): number | undefined => timeouts.get(db);

/** Whether `db` waits in the extension's handler. */
export const waitsInExtension = (db: Database.Database): boolean => withExtension.has(db);
