import { encodeChunkList } from '../core/chunk-list.js';
import type { Db } from './db.js';

/**
 * The data half of schema migration 10 (see schema.ts; it runs as migration 11): each chunked
 * blob's blob_chunks rows become one packed list of chunk ids, each chunk's `refs` counts the lists
 * that name it, and the old tables go. Chunks nothing lists keep refs 0, which is what gc collects.
 */
export function packChunkLists(db: Db): void {
  const blobs = db.prepare('SELECT DISTINCT blob_hash AS hash FROM blob_chunks').pluck().all() as string[];
  const listOf = db.prepare('SELECT c.id AS id, c.size AS size FROM blob_chunks bc JOIN chunks_v10 c ON c.hash = bc.chunk_hash WHERE bc.blob_hash = ? ORDER BY bc.seq');
  const setList = db.prepare('UPDATE blobs SET chunk_list = ?, chunk_count = ? WHERE hash = ?');
  const refs = new Map<number, number>();
  for (const hash of blobs) {
    const chunks = listOf.all(hash) as Array<{ id: number; size: number }>;
    setList.run(
      encodeChunkList(
        chunks.map((c) => c.id),
        chunks.map((c) => c.size),
      ),
      chunks.length,
      hash,
    );
    for (const c of chunks) refs.set(c.id, (refs.get(c.id) ?? 0) + 1);
  }
  const setRefs = db.prepare('UPDATE chunks_v10 SET refs = ? WHERE id = ?');
  for (const [id, n] of refs) setRefs.run(n, id);
  db.exec(`
    DROP TABLE blob_chunks;
    DROP TABLE chunks;
    ALTER TABLE chunks_v10 RENAME TO chunks;
    CREATE INDEX chunks_loose ON chunks (id) WHERE refs = 0;`);
}
