import { statSync } from 'node:fs';
import { AvfsError } from '../errors.js';
import { audit, trimAudit } from './audit.js';
import { databaseFile } from './home.js';
import type { Actor, Store } from './store.js';

/** The database's size on disk: the main file plus its write-ahead log (where recent commits live until a checkpoint). */
export interface DatabaseSize {
  database_bytes: number;
  file_bytes: number;
  wal_bytes: number;
}

const fileSize = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

export function databaseSize(store: Store): DatabaseSize {
  const file = databaseFile(store.home);
  const file_bytes = fileSize(file);
  const wal_bytes = fileSize(`${file}-wal`);
  return { database_bytes: file_bytes + wal_bytes, file_bytes, wal_bytes };
}

export interface CompactReport {
  before_bytes: number;
  after_bytes: number;
  freed_bytes: number;
  wal_bytes_before: number;
  wal_bytes_after: number;
  /** Free pages (space left by deleted rows) before VACUUM rebuilt the file. */
  free_pages_before: number;
  page_size: number;
  /** False when another process's open read kept the final WAL checkpoint from finishing (run again later). */
  wal_checkpointed: boolean;
  audit_rows_trimmed: number;
  duration_ms: number;
}

/**
 * Makes the database small again: checkpoints the WAL into the main file and truncates it,
 * rebuilds the file with VACUUM (the space of deleted rows, e.g. after gc, goes back to the
 * filesystem), and lets SQLite refresh its query statistics (PRAGMA optimize).
 *
 * VACUUM writes a full copy of the database: it needs free disk space about the size of the
 * database and holds the write lock while it runs (other writers wait, up to the busy timeout).
 * The copy goes to a temporary file, not memory, whatever temp_store the connection uses.
 */
export function compact(store: Store, actor: Actor): CompactReport {
  const started = performance.now();
  if (store.db.inTransaction) throw new AvfsError('CONFLICT', 'compact cannot run inside a transaction');
  const trimmed = trimAudit(store);
  const before = databaseSize(store);
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  const freePages = store.db.pragma('freelist_count', { simple: true }) as number;
  const checkpoint = () => (store.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>)[0]?.busy === 0;
  checkpoint();
  const tempStore = store.db.pragma('temp_store', { simple: true }) as number;
  store.db.pragma('temp_store = FILE');
  store.tempGeneration++;
  try {
    store.db.exec('VACUUM');
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new AvfsError('CONFLICT', 'the database is busy (another process holds a lock); try compact again later', { cause: 'SQLITE_BUSY' });
    }
    throw err;
  } finally {
    store.db.pragma(`temp_store = ${tempStore}`);
  }
  store.db.pragma('optimize');
  // In WAL mode VACUUM (and optimize's ANALYZE) write to the WAL; the file shrinks when those
  // pages are checkpointed, and TRUNCATE then empties the WAL file.
  const walCheckpointed = checkpoint();
  const after = databaseSize(store);
  audit(store, actor, 'compact', null, { before_bytes: before.database_bytes, after_bytes: after.database_bytes });
  return {
    before_bytes: before.database_bytes,
    after_bytes: after.database_bytes,
    // Never negative: a compact that found nothing to free can leave the files a page larger (before and after say so).
    freed_bytes: Math.max(0, before.database_bytes - after.database_bytes),
    wal_bytes_before: before.wal_bytes,
    wal_bytes_after: after.wal_bytes,
    free_pages_before: freePages,
    page_size: pageSize,
    wal_checkpointed: walCheckpointed,
    audit_rows_trimmed: trimmed,
    duration_ms: Math.round((performance.now() - started) * 100) / 100,
  };
}
