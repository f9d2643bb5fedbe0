import { decodeChunkList } from '../core/chunk-list.js';
import type { Db } from './db.js';

/**
 * Schema migration 18 (see schema.ts): the full-text table made anew without a copy of the texts,
 * and every text in text_index indexed again in the same transaction. Left waiting for a later
 * search or writer instead, a home opened read-only after the upgrade (which cannot index) found
 * nothing until a writer came by. A text is read from its blob row, or from its chunks (content
 * stored in chunks is text-indexed up to 1 MiB).
 */
export function rebuildTextIndex(db: Db): void {
  db.exec(`
    DROP TABLE fts;
    CREATE VIRTUAL TABLE fts USING fts5(body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');`);
  // All rows first: better-sqlite3 runs no other statement while one iterates.
  const texts = db.prepare('SELECT t.id AS id, t.hash AS hash FROM text_index t ORDER BY t.id').all() as Array<{ id: number; hash: string }>;
  const blob = db.prepare('SELECT data, chunk_list AS list FROM blobs WHERE hash = ?');
  const chunk = db.prepare('SELECT data FROM chunks WHERE id = ?').pluck();
  const insert = db.prepare('INSERT INTO fts (rowid, body) VALUES (?, ?)');
  for (const { id, hash } of texts) {
    const row = blob.get(hash) as { data: Buffer | null; list: Buffer | null } | undefined;
    if (!row) continue;
    const parts = row.data ? [row.data] : row.list ? decodeChunkList(row.list).ids.map((c) => chunk.get(c) as Buffer | undefined) : [];
    // A chunk missing (damage elsewhere) leaves that text out of search rather than the home unopenable.
    if (parts.some((p) => !p)) continue;
    insert.run(id, Buffer.concat(parts as Buffer[]).toString('utf8'));
  }
}
