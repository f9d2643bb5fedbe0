import Database from 'better-sqlite3';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { AvfsError, BUSY_TIMEOUT_MS } from '../errors.js';
import { MIGRATIONS } from './schema.js';

export type Db = Database.Database;

/**
 * How long a writer waits for another process's transaction before giving up (defined beside the
 * CONFLICT that ends such a wait). Surfacing SQLITE_BUSY to an agent at once would be worse than
 * waiting.
 */
export { BUSY_TIMEOUT_MS };

/**
 * Opens the database at `file` (which exists: see home.ts prepareDatabaseFile), refuses one
 * written by a newer avfs before anything could write to it, then applies pragmas and pending
 * migrations. `readOnly` (a read-only home) opens it for reading only; then nothing is migrated.
 * `fresh` is true when this call created the schema; `seed` then ran inside the same transaction.
 */
export function openDatabase(file: string, seed: (db: Db) => void, options: { readOnly: boolean }): { db: Db; fresh: boolean } {
  const db = options.readOnly ? openReadOnly(file) : newDatabase(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    // First statement on the connection, a read: a newer schema is refused before the journal
    // mode pragma below (which writes the header of a database in DELETE mode) or a migration.
    checkSchemaVersion(db, file);
    if (!options.readOnly) {
      // WAL: readers never block the writer and vice versa, which is what several agents (CLI,
      // mount, proxy) working on one home at once need. Checked, because a network filesystem may
      // refuse it.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') db.pragma('journal_mode = DELETE');
    }
    // NORMAL in WAL mode: a commit is durable against a crash of the process (what kill -9 tests)
    // and is fsynced at checkpoints, not on every commit; power loss can drop the last commits but
    // never corrupts. This is what makes a one-transaction 1 KB write cost tens of microseconds.
    db.pragma('synchronous = NORMAL');
    // Reads of large files go through the page cache; mapping the file avoids a copy per page.
    // Not more: mapping the whole file (up to SQLite's 2 GiB) read large files stored past 256 MiB
    // faster, but made the mount's metadata-heavy work slower (ARCHITECTURE.md, "Content").
    db.pragma('mmap_size = 268435456');
    db.pragma('cache_size = -32768'); // 32 MiB per connection
    db.pragma('temp_store = MEMORY');
    // Keep the WAL from growing without bound after a large import.
    db.pragma('journal_size_limit = 67108864');
    // SQLite checkpoints the WAL into the database after the commit that takes it past this many
    // pages, in the committing process, with an fsync of the database. At the default 1,000 pages
    // (4 MiB) that put a checkpoint into every few dozen small writes and was most of their mean
    // time (a one-process loop of 1–16 KB writes: mean 2.7–3.7 ms, p95 11–14 ms; at 10,000 pages
    // 1.3–2.5 ms and 5–9 ms), and with many agent processes a commit that checkpoints is also
    // CPU and I/O the lock holder competes with. 10,000 pages (40 MiB) makes checkpoints rarer
    // and each copies the many pages rewritten in between once; the mount sets the same.
    db.pragma('wal_autocheckpoint = 10000');
    // Integrity is enforced by the store code inside each transaction, not by FK triggers, which
    // would add a lookup to every insert on the hot write path.
    db.pragma('foreign_keys = OFF');
    return { db, fresh: migrate(db, file, seed, options.readOnly) };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** The schema version in `db`; SCHEMA_TOO_NEW when a newer avfs wrote it (this one would misread or damage it). */
function checkSchemaVersion(db: Db, file: string): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new AvfsError(
      'SCHEMA_TOO_NEW',
      `${file} has schema version ${version}, newer than the ${MIGRATIONS.length} this avfs knows: upgrade avfs to use this home (nothing was changed)`,
      { database: file, schema_version: version, supported_version: MIGRATIONS.length },
    );
  }
  return version;
}

/** Applies pending migrations; true when the database had no schema before. */
function migrate(db: Db, file: string, seed: (db: Db) => void, readOnly: boolean): boolean {
  const current = checkSchemaVersion(db, file);
  if (current === MIGRATIONS.length) return false;
  if (readOnly) {
    throw new AvfsError('READ_ONLY', `${file} needs an upgrade (schema ${current} → ${MIGRATIONS.length}) but the avfs home is read-only`, { database: file });
  }
  return db.transaction(() => {
    // Re-read inside the lock: another process (maybe a newer avfs) may have migrated while we waited.
    const version = checkSchemaVersion(db, file);
    for (let i = version; i < MIGRATIONS.length; i++) {
      const migration = MIGRATIONS[i]!;
      if (typeof migration === 'string') db.exec(migration);
      else migration(db);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    // Seeding in the same transaction means no process can see a new home without its default vault.
    if (version === 0) seed(db);
    return version === 0;
  }).immediate();
}

/** True when `file` starts with the SQLite header ("SQLite format 3\0", in a 100-byte header). */
export function isSqliteFile(file: string): boolean {
  const header = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  try {
    // A directory opens for reading on Linux; its read fails (EISDIR): not a database either.
    if (fstatSync(fd).isDirectory()) return false;
    return readSync(fd, header, 0, 100, 0) === 100 && header.subarray(0, 16).toString('latin1') === 'SQLite format 3\0';
  } finally {
    closeSync(fd);
  }
}

/**
 * A read-only home (a read-only mount, or no write permission). SQLite reads a WAL database
 * through its shared index, the -shm file. Where the -shm exists (a writer is or was using the
 * home), a read-only connection shares it as usual. Where it does not and cannot be created, the
 * only way to read in place is `immutable=1` (no locks, no -shm), which sees the database file
 * alone: exact when the -wal is absent or empty (every commit checkpointed, as a clean close
 * leaves it), so then that is what is used. With commits still in the -wal it would show an old
 * state, so that case is refused. Copying the database somewhere writable was the alternative;
 * it costs the size of the database on every command, so reading in place was chosen.
 */
function openReadOnly(file: string): Db {
  let db: Db | undefined;
  try {
    db = newDatabase(file, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.pragma('user_version'); // the missing -shm shows up on the first read
    return db;
  } catch (err) {
    db?.close();
    // No -shm, and none can be made here: CANTOPEN, or READONLY_DIRECTORY in a directory the
    // user cannot write (another user's home, shared read-only).
    const code = (err as { code?: string }).code;
    if (code !== 'SQLITE_CANTOPEN' && code !== 'SQLITE_READONLY_DIRECTORY') throw err;
  }
  if ((fileSize(`${file}-wal`) ?? 0) > 0) {
    throw new AvfsError(
      'READ_ONLY',
      `the avfs home is read-only and its last commits are still in ${file}-wal without the -shm index needed to read them: open the home once where it is writable`,
      { database: file },
    );
  }
  try {
    return newDatabase(`file:${file.split('/').map(encodeURIComponent).join('/')}?immutable=1`, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new AvfsError('READ_ONLY', `cannot read ${file} in a read-only home: ${(err as Error).message}`, { database: file });
  }
}

/** The size of a file, undefined when it does not exist (or cannot be seen). */
export function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

let addonLoaded = false;

/**
 * better-sqlite3 offers URI filenames (needed for `immutable=1` above) only through the
 * SQLITE_USE_URI environment variable, read once when its native addon loads, at the first
 * `new Database` in the process. Set it for that moment only, so commands avfs runs never inherit
 * it. Plain absolute paths mean the same with URIs on. If something else in the process loaded the
 * addon first, URIs stay off and only the immutable fallback is lost (a READ_ONLY error instead).
 */
function newDatabase(filename: string, options: Database.Options): Db {
  if (addonLoaded) return new Database(filename, options);
  const previous = process.env.SQLITE_USE_URI;
  process.env.SQLITE_USE_URI = '1';
  try {
    return new Database(filename, options);
  } finally {
    addonLoaded = true;
    if (previous === undefined) delete process.env.SQLITE_USE_URI;
    else process.env.SQLITE_USE_URI = previous;
  }
}
