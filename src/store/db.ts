import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema.js';

export type Db = Database.Database;

/**
 * How long a writer waits for another process's transaction before giving up. Transactions here
 * are short (milliseconds), so a long wait only ever happens under heavy contention; surfacing
 * SQLITE_BUSY to an agent would be worse than waiting.
 */
export const BUSY_TIMEOUT_MS = 30_000;

/**
 * Opens (creating if needed) the database at `file`, applies pragmas and pending migrations.
 * `fresh` is true when this call created the schema; `seed` then ran inside the same transaction.
 */
export function openDatabase(file: string, seed: (db: Db) => void): { db: Db; fresh: boolean } {
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  // WAL: readers never block the writer and vice versa, which is what several agents (CLI, mount,
  // proxy) working on one home at once need. Checked, because a network filesystem may refuse it.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') db.pragma('journal_mode = DELETE');
  // NORMAL in WAL mode: a commit is durable against a crash of the process (what kill -9 tests)
  // and is fsynced at checkpoints, not on every commit; power loss can drop the last commits but
  // never corrupts. This is what makes a one-transaction 1 KB write cost tens of microseconds.
  db.pragma('synchronous = NORMAL');
  // Reads of large files go through the page cache; mapping the file avoids a copy per page.
  db.pragma('mmap_size = 268435456');
  db.pragma('cache_size = -32768'); // 32 MiB per connection
  db.pragma('temp_store = MEMORY');
  // Keep the WAL from growing without bound after a large import.
  db.pragma('journal_size_limit = 67108864');
  // Integrity is enforced by the store code inside each transaction, not by FK triggers, which
  // would add a lookup to every insert on the hot write path.
  db.pragma('foreign_keys = OFF');
  return { db, fresh: migrate(db, seed) };
}

/** Applies pending migrations; true when the database had no schema before. */
function migrate(db: Db, seed: (db: Db) => void): boolean {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current >= MIGRATIONS.length) return false;
  return db.transaction(() => {
    // Re-read inside the lock: another process may have migrated while we waited.
    const version = db.pragma('user_version', { simple: true }) as number;
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
