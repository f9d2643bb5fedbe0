import type { Db } from './db.js';

/**
 * The data half of schema migration 8 (see schema.ts; it runs as migration 9): runs inside the migration transaction on
 * a home written by an earlier avfs, where every fork is a full copy of its parent's rows.
 *
 * 1. Tags and metadata move from the annotations tables into the `annot` column of the entry (and
 *    of legacy checkpoint rows); the old tables go.
 * 2. Every vault gets its usage counters and its list of ancestors.
 * 3. Every fork becomes a layer: a whiteout for each path its parent has and it does not, and no
 *    row where it holds exactly what its parent holds. Children are compacted before their
 *    parents, so each comparison is against a parent that still holds its whole tree; compacting
 *    the parent afterwards does not change what it shows (its own parent shows the same rows).
 */
export function layeredForks(db: Db): void {
  const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
  if (tables.has('annotations')) {
    db.exec(`
      UPDATE entries SET annot = (
        SELECT json_object('tags', json_group_array(a.key ORDER BY a.key) FILTER (WHERE a.kind = 't'),
                           'meta', json_group_object(a.key, a.value) FILTER (WHERE a.kind = 'm'))
        FROM annotations a WHERE a.vault_id = entries.vault_id AND a.path = entries.path)
      WHERE EXISTS (SELECT 1 FROM annotations a WHERE a.vault_id = entries.vault_id AND a.path = entries.path);
      DROP TABLE annotations;`);
  }
  if (tables.has('checkpoint_annotations')) {
    db.exec(`
      UPDATE checkpoint_entries SET annot = (
        SELECT json_object('tags', json_group_array(a.key ORDER BY a.key) FILTER (WHERE a.kind = 't'),
                           'meta', json_group_object(a.key, a.value) FILTER (WHERE a.kind = 'm'))
        FROM checkpoint_annotations a WHERE a.checkpoint_id = checkpoint_entries.checkpoint_id AND a.path = checkpoint_entries.path)
      WHERE EXISTS (SELECT 1 FROM checkpoint_annotations a WHERE a.checkpoint_id = checkpoint_entries.checkpoint_id AND a.path = checkpoint_entries.path);
      DROP TABLE checkpoint_annotations;`);
  }
  // An empty tag list or metadata object is stored as absent, as annotations.ts writes them.
  for (const table of ['entries', 'checkpoint_entries']) {
    db.exec(`
      UPDATE ${table} SET annot = json_remove(annot, '$.tags') WHERE annot IS NOT NULL AND json_array_length(annot, '$.tags') = 0;
      UPDATE ${table} SET annot = json_remove(annot, '$.meta') WHERE annot IS NOT NULL AND annot ->> '$.meta' = '{}';
      UPDATE ${table} SET annot = NULL WHERE annot = '{}';`);
  }

  db.exec(`
    UPDATE vaults SET
      files = (SELECT count(*) FROM entries e WHERE e.vault_id = vaults.id AND e.type = 'f'),
      directories = (SELECT count(*) FROM entries e WHERE e.vault_id = vaults.id AND e.type = 'd' AND e.path <> '/'),
      symlinks = (SELECT count(*) FROM entries e WHERE e.vault_id = vaults.id AND e.type = 'l'),
      bytes = (SELECT coalesce(sum(size), 0) FROM entries e WHERE e.vault_id = vaults.id AND e.type = 'f');`);

  const vaults = db.prepare('SELECT id, parent_id FROM vaults').all() as Array<{ id: number; parent_id: number | null }>;
  const parentOf = new Map(vaults.map((v) => [v.id, v.parent_id]));
  const ancestorsOf = (id: number): number[] => {
    const out: number[] = [];
    for (let p = parentOf.get(id) ?? null; p !== null && !out.includes(p) && parentOf.has(p); p = parentOf.get(p) ?? null) out.push(p);
    return out;
  };
  const setAncestors = db.prepare('UPDATE vaults SET ancestors = ? WHERE id = ?');
  const whiteouts = db.prepare(`
    INSERT INTO entries (vault_id, path, parent, type, mode, size, mtime, atime, ctime, ino, version)
    SELECT @fork, p.path, p.parent, 'x', 0, 0, 0, 0, 0, 0, 0 FROM entries p
    WHERE p.vault_id = @parent AND p.type <> 'x'
      AND NOT EXISTS (SELECT 1 FROM entries f WHERE f.vault_id = @fork AND f.path = p.path)`);
  const compact = db.prepare(`
    DELETE FROM entries WHERE vault_id = @fork AND type <> 'x' AND EXISTS (
      SELECT 1 FROM entries p WHERE p.vault_id = @parent AND p.path = entries.path AND p.type = entries.type
        AND p.mode = entries.mode AND p.size = entries.size AND p.hash IS entries.hash AND p.target IS entries.target
        AND p.mtime = entries.mtime AND p.atime = entries.atime AND p.ctime = entries.ctime AND p.ino = entries.ino
        AND p.version = entries.version AND p.annot IS entries.annot)`);
  const byDepth = vaults.map((v) => ({ ...v, ancestors: ancestorsOf(v.id) })).sort((a, b) => b.ancestors.length - a.ancestors.length);
  for (const v of byDepth) {
    setAncestors.run(JSON.stringify(v.ancestors), v.id);
    // A parent that no longer exists (deleted before this version detached forks properly) leaves a root.
    if (v.ancestors.length === 0) {
      if (v.parent_id !== null) db.prepare('UPDATE vaults SET parent_id = NULL, fork_seq = NULL WHERE id = ?').run(v.id);
      continue;
    }
    const params = { fork: v.id, parent: v.ancestors[0]! };
    whiteouts.run(params);
    compact.run(params);
  }
}
