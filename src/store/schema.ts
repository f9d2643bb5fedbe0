/**
 * Versioned migrations. `PRAGMA user_version` holds the number of migrations applied; each runs
 * once, in order, inside the same IMMEDIATE transaction that bumps the version, so two processes
 * opening a new home at the same moment cannot both apply it.
 *
 * Table guide:
 *  - blobs: one row per distinct content (sha256). Content up to one chunk is stored inline in
 *    `data` (one row per small file); larger content lists its chunks in blob_chunks and the
 *    chunk bytes live once each in chunks, shared by every blob that has them.
 *  - vaults / entries: the current tree of each vault, one row per path. `parent` makes directory
 *    listing an index range; `ino` is a per-vault stable inode number the mount passes through.
 *  - versions: every change to a path (the new state), per-vault history. Its id is the global
 *    change sequence; a fork records the sequence it forked at and inherits older history.
 *    change_id groups the versions one transaction recorded (the id of the first of them).
 *  - checkpoints / checkpoint_entries: whole-vault snapshots (metadata only, content shared).
 *  - annotations: tags (kind 't') and key/value metadata (kind 'm') on paths.
 *  - text_index / fts: full-text index keyed by content, not by path.
 *  - audit: who did what, when.
 *  - execs: one row per `proxy exec` run (what ran, the change window, the checkpoint before it).
 *  - content_leases / content_pins: content a writer has stored but not linked yet, kept from gc.
 *  - merges: one row per vault merge (lineage.ts): the base the next merge of the pair starts from.
 *  - tracked_imports: host directories imported with --track (sync.ts): where from, and the base.
 */
import type { Db } from './db.js';
import { packChunkLists } from './migrate-content.js';
import { layeredForks } from './migrate-layers.js';
import { rebuildTextIndex } from './migrate-index.js';

/** A migration: SQL run as one script, or a function for what SQL alone cannot express. */
export type Migration = string | ((db: Db) => void);

export const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE blobs (
    hash        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    data        BLOB,
    created_at  INTEGER NOT NULL
  );
  CREATE TABLE chunks (
    hash       TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE blob_chunks (
    blob_hash  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    chunk_hash TEXT NOT NULL,
    PRIMARY KEY (blob_hash, seq)
  ) WITHOUT ROWID;
  CREATE INDEX blob_chunks_chunk ON blob_chunks (chunk_hash);

  CREATE TABLE vaults (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    parent_id   INTEGER,
    fork_seq    INTEGER,
    created_at  INTEGER NOT NULL,
    next_ino    INTEGER NOT NULL DEFAULT 2,
    max_bytes   INTEGER,
    max_files   INTEGER,
    max_file_size INTEGER,
    policy      TEXT
  );

  CREATE TABLE entries (
    vault_id INTEGER NOT NULL,
    path     TEXT NOT NULL,
    parent   TEXT NOT NULL,
    type     TEXT NOT NULL CHECK (type IN ('f', 'd', 'l')),
    mode     INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    hash     TEXT,
    target   TEXT,
    mtime    INTEGER NOT NULL,
    atime    INTEGER NOT NULL,
    ctime    INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (vault_id, path)
  ) WITHOUT ROWID;
  CREATE INDEX entries_parent ON entries (vault_id, parent, path);
  CREATE INDEX entries_hash ON entries (hash) WHERE hash IS NOT NULL;

  CREATE TABLE versions (
    -- AUTOINCREMENT: ids are the global change sequence that forks record as their fork point,
    -- so an id must never be reused after the newest rows are deleted (vault delete, prune).
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    vault_id INTEGER NOT NULL,
    path     TEXT NOT NULL,
    version  INTEGER NOT NULL,
    op       TEXT NOT NULL,
    type     TEXT,
    mode     INTEGER,
    size     INTEGER,
    hash     TEXT,
    target   TEXT,
    mtime    INTEGER,
    source   TEXT NOT NULL,
    exec_id  TEXT,
    detail   TEXT,
    at       INTEGER NOT NULL
  );
  CREATE INDEX versions_path ON versions (vault_id, path, version);
  CREATE INDEX versions_vault ON versions (vault_id, id);
  CREATE INDEX versions_hash ON versions (hash) WHERE hash IS NOT NULL;

  CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    vault_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    message    TEXT,
    seq        INTEGER NOT NULL,
    files      INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    source     TEXT NOT NULL,
    exec_id    TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (vault_id, name)
  );
  CREATE TABLE checkpoint_entries (
    checkpoint_id INTEGER NOT NULL,
    path   TEXT NOT NULL,
    parent TEXT NOT NULL,
    type   TEXT NOT NULL,
    mode   INTEGER NOT NULL,
    size   INTEGER NOT NULL,
    hash   TEXT,
    target TEXT,
    mtime  INTEGER NOT NULL,
    atime  INTEGER NOT NULL,
    ctime  INTEGER NOT NULL,
    ino    INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (checkpoint_id, path)
  ) WITHOUT ROWID;
  CREATE INDEX checkpoint_entries_hash ON checkpoint_entries (hash) WHERE hash IS NOT NULL;

  CREATE TABLE annotations (
    vault_id INTEGER NOT NULL,
    path     TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('t', 'm')),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (vault_id, path, kind, key)
  ) WITHOUT ROWID;
  CREATE INDEX annotations_key ON annotations (vault_id, kind, key, value);
  CREATE TABLE checkpoint_annotations (
    checkpoint_id INTEGER NOT NULL,
    path  TEXT NOT NULL,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (checkpoint_id, path, kind, key)
  ) WITHOUT ROWID;

  CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    vault   TEXT,
    op      TEXT NOT NULL,
    source  TEXT NOT NULL,
    exec_id TEXT,
    detail  TEXT
  );
  CREATE INDEX audit_at ON audit (at);
  CREATE INDEX audit_exec ON audit (exec_id) WHERE exec_id IS NOT NULL;
  `,
  // 2: full-text search (src/store/text-index.ts, search.ts). One text_index row per distinct
  // text content, never per path: forks, copies, versions and checkpoints share it. fts keeps its
  // own copy of the text (a regular FTS5 table, not contentless) because snippet() needs the
  // text and blob content may be split across chunk rows, which an external-content table
  // cannot read. remove_diacritics 2 makes "cafe" find "café". When gc deletes a blob, the
  // trigger drops its index rows, so gc needs to know nothing about search.
  // The backfill indexes content stored before this migration with the same rules as new writes
  // (non-empty, at most 1 MiB, no NUL in the first 8 KiB), except that the UTF-8 check runs in JS
  // only for new writes.
  `
  CREATE TABLE text_index (
    id   INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE
  );
  CREATE VIRTUAL TABLE fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
  CREATE TRIGGER blobs_unindex AFTER DELETE ON blobs BEGIN
    DELETE FROM fts WHERE rowid = (SELECT id FROM text_index WHERE hash = old.hash);
    DELETE FROM text_index WHERE hash = old.hash;
  END;
  INSERT INTO text_index (hash)
    SELECT b.hash FROM blobs b
    WHERE b.size BETWEEN 1 AND 1048576
      AND instr(substr(CASE WHEN b.chunk_count = 1 THEN b.data ELSE
            (SELECT c.data FROM blob_chunks bc JOIN chunks c ON c.hash = bc.chunk_hash WHERE bc.blob_hash = b.hash AND bc.seq = 0)
          END, 1, 8192), x'00') = 0;
  INSERT INTO fts (rowid, body)
    SELECT t.id, CAST(CASE WHEN b.chunk_count = 1 THEN b.data ELSE
        (SELECT group_concat(c.data, '' ORDER BY bc.seq) FROM blob_chunks bc JOIN chunks c ON c.hash = bc.chunk_hash WHERE bc.blob_hash = b.hash)
      END AS TEXT)
    FROM text_index t JOIN blobs b ON b.hash = t.hash;
  `,
  // 3: proxy executions (src/store/execs.ts). One row per `proxy exec` that started (denials are
  // only audited): the versions after seq_before and up to seq_after tagged with the exec id are
  // what the command changed; `checkpoint` names the checkpoint taken before it, which
  // `proxy undo` restores. seq_after and the outcome stay NULL while it runs (or if avfs died).
  `
  CREATE TABLE execs (
    id          TEXT PRIMARY KEY,
    vault_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    command     TEXT NOT NULL,
    cwd         TEXT NOT NULL,
    mode        TEXT NOT NULL,
    decision    TEXT NOT NULL,
    checkpoint  TEXT,
    seq_before  INTEGER NOT NULL,
    seq_after   INTEGER,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    exit_code   INTEGER,
    signal      TEXT,
    timed_out   INTEGER,
    undone_at   INTEGER
  );
  CREATE INDEX execs_vault ON execs (vault_id, started_at);
  CREATE INDEX versions_exec ON versions (exec_id, id) WHERE exec_id IS NOT NULL;
  `,
  // 4: no hash index on checkpoint_entries (src/store/checkpoints.ts). A checkpoint save copies
  // every entry row of the vault; an index over the hashes of every checkpoint's rows took those
  // inserts at random places in an index that grows with each checkpoint, so a save of a
  // 10,000-file vault went from ~20 ms to ~200 ms after twenty checkpoints (and `proxy exec`
  // saves one per command). gc still sees checkpoint references: it checks an unindexed
  // reference table with one set scan (NOT IN) instead of a probe per blob.
  `
  DROP INDEX IF EXISTS checkpoint_entries_hash;
  `,
  // 5: the entries hash index leads with vault_id. A fork inserts every entry row of a vault; in
  // an index on hash alone those land at random places among every vault's rows, so a 10,000-file
  // fork took 29 ms in a home with one vault and 76 ms with five more. Keyed (vault_id, hash), a
  // fork appends one contiguous run. Search joins entries by vault and hash, which this serves;
  // gc checks entries with the set scan it uses for unindexed reference tables.
  `
  DROP INDEX IF EXISTS entries_hash;
  CREATE INDEX entries_vault_hash ON entries (vault_id, hash) WHERE hash IS NOT NULL;
  `,
  // 6: change ids (src/store/entries.ts, history.ts). A change is what one write transaction
  // recorded (an rm -r, a mv, an import, a revert): each of its versions carries the id of its
  // first version, so `revert` undoes exactly one change's versions instead of guessing them from
  // neighbouring rows. Versions recorded before this migration keep NULL: each is its own change.
  // The index only ever grows at its right edge (ids increase), so it costs writers little.
  `
  ALTER TABLE versions ADD COLUMN change_id INTEGER;
  CREATE INDEX versions_change ON versions (change_id) WHERE change_id IS NOT NULL;
  `,
  // 7: content leases (src/store/leases.ts; the argument is in gc.ts). A writer that stores content
  // in one transaction and links it in a later one pins each chunk and blob it stores or reuses,
  // in the transaction that does so; gc never deletes a pinned hash. A lease records its process
  // (pid, and a holder string with the boot id and the process start time) so gc can end the
  // leases of a writer that died. `stored` marks hashes the lease stored itself: abandoning the
  // lease (a write refused by quota) removes those if nothing else references them. content_pins
  // has a hash column with an index on it, so gc also counts it as a reference table for blobs.
  `
  CREATE TABLE content_leases (
    id         INTEGER PRIMARY KEY,
    pid        INTEGER NOT NULL,
    holder     TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE content_pins (
    lease_id INTEGER NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('b', 'c')),
    hash     TEXT NOT NULL,
    stored   INTEGER NOT NULL,
    PRIMARY KEY (lease_id, kind, hash)
  ) WITHOUT ROWID;
  CREATE INDEX content_pins_hash ON content_pins (hash);
  `,
  // 8: the store at scale (ARCHITECTURE.md, "Forks are layers", "Checkpoints are pointers").
  //  - entries becomes each vault's own layer: a fork holds only what differs from its parent (type
  //    'x' is a whiteout: absent here, present above). New entry types for special files (p fifo,
  //    s socket, c/b devices, with rdev), owners (uid/gid; NULL = whoever mounts or reads the
  //    vault), hard links (nlink; names of one inode share ino), and annotations as part of the
  //    entry (annot: JSON {"tags": [...], "meta": {...}}, NULL when none) so history, forks and
  //    checkpoints carry them like any other state.
  //  - versions record the full state a restore needs (ino, owners, rdev, annotations).
  //  - vaults keep usage counters (quota and listings in O(1)) and their ancestors.
  //  - checkpoints become pointers into the change sequence; the rows of checkpoints saved before
  //    this migration stay as they are (materialized = 1) and are restored from them.
  // The data half (annotations folded into entries, forks turned into layers, counters) is in
  // migrate-layers.ts.
  `
  CREATE TABLE entries_v6 (
    vault_id INTEGER NOT NULL,
    path     TEXT NOT NULL,
    parent   TEXT NOT NULL,
    type     TEXT NOT NULL CHECK (type IN ('f', 'd', 'l', 'p', 's', 'c', 'b', 'x')),
    mode     INTEGER NOT NULL,
    uid      INTEGER,
    gid      INTEGER,
    size     INTEGER NOT NULL,
    hash     TEXT,
    target   TEXT,
    rdev     INTEGER NOT NULL DEFAULT 0,
    nlink    INTEGER NOT NULL DEFAULT 1,
    mtime    INTEGER NOT NULL,
    atime    INTEGER NOT NULL,
    ctime    INTEGER NOT NULL,
    ino      INTEGER NOT NULL,
    version  INTEGER NOT NULL,
    annot    TEXT,
    PRIMARY KEY (vault_id, path)
  ) WITHOUT ROWID;
  INSERT INTO entries_v6 (vault_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version)
    SELECT vault_id, path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version FROM entries;
  DROP TABLE entries;
  ALTER TABLE entries_v6 RENAME TO entries;
  -- Earlier versions could list the root under itself after a chmod of /.
  UPDATE entries SET parent = '' WHERE path = '/';
  CREATE INDEX entries_parent ON entries (vault_id, parent, path);
  CREATE INDEX entries_vault_hash ON entries (vault_id, hash) WHERE hash IS NOT NULL;
  CREATE INDEX entries_links ON entries (vault_id, ino) WHERE nlink > 1;
  CREATE INDEX entries_annotated ON entries (vault_id, path) WHERE annot IS NOT NULL;

  ALTER TABLE versions ADD COLUMN uid INTEGER;
  ALTER TABLE versions ADD COLUMN gid INTEGER;
  ALTER TABLE versions ADD COLUMN rdev INTEGER;
  ALTER TABLE versions ADD COLUMN ino INTEGER;
  ALTER TABLE versions ADD COLUMN nlink INTEGER;
  ALTER TABLE versions ADD COLUMN annot TEXT;

  ALTER TABLE vaults ADD COLUMN ancestors TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE vaults ADD COLUMN files INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE vaults ADD COLUMN directories INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE vaults ADD COLUMN symlinks INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE vaults ADD COLUMN specials INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE vaults ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE vaults ADD COLUMN retired_at INTEGER;
  CREATE INDEX vaults_parent ON vaults (parent_id) WHERE parent_id IS NOT NULL;
  CREATE INDEX checkpoints_seq ON checkpoints (vault_id, seq);
  CREATE INDEX execs_seq ON execs (vault_id, seq_before);

  ALTER TABLE checkpoints ADD COLUMN materialized INTEGER NOT NULL DEFAULT 0;
  UPDATE checkpoints SET materialized = 1;
  ALTER TABLE checkpoint_entries ADD COLUMN annot TEXT;
  ALTER TABLE checkpoints ADD COLUMN directories INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE checkpoints ADD COLUMN symlinks INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE checkpoints ADD COLUMN specials INTEGER NOT NULL DEFAULT 0;
  UPDATE checkpoints SET
    directories = (SELECT count(*) FROM checkpoint_entries c WHERE c.checkpoint_id = checkpoints.id AND c.type = 'd' AND c.path <> '/'),
    symlinks = (SELECT count(*) FROM checkpoint_entries c WHERE c.checkpoint_id = checkpoints.id AND c.type = 'l');
  `,
  // 9: the data half of migration 8.
  layeredForks,
  // 10: content at scale (blobs.ts, ARCHITECTURE.md "Content"). Chunks get an integer id and a
  // count of the blob lists that name them (refs), small columns first (gc reads them without
  // walking a chunk's overflow pages); a chunked blob keeps its chunk list packed in one BLOB
  // (core/chunk-list.ts) instead of one blob_chunks row per chunk (about 140 bytes each). The data
  // half (packing the lists, counting refs) is migrate-content.ts.
  `
  CREATE TABLE chunks_v10 (
    id         INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    size       INTEGER NOT NULL,
    refs       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL
  );
  INSERT INTO chunks_v10 (hash, size, created_at, data) SELECT hash, size, created_at, data FROM chunks ORDER BY rowid;
  ALTER TABLE blobs ADD COLUMN chunk_list BLOB;
  `,
  packChunkLists,
  // 12: merges and tracked imports (issue 19). A merge row says "target's state after end_seq
  // contains source's state at seq": source@seq is the base of the pair's next merge, and the
  // target's versions in (seq, end_seq] are the merge's own (what `merge --undo` reverses). A tracked
  // import says the vault's state at seq below `path` is what the host directory held then.
  // prune pins both seqs (prune.ts pinSeqs), so the base states stay readable.
  `
  CREATE TABLE merges (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL,
    target_id     INTEGER NOT NULL,
    base_vault_id INTEGER NOT NULL,
    base_seq      INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    end_seq       INTEGER NOT NULL,
    checkpoint    TEXT,
    strategy      TEXT NOT NULL,
    changed       INTEGER NOT NULL,
    conflicts     INTEGER NOT NULL,
    source        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    undone_at     INTEGER
  );
  CREATE INDEX merges_target ON merges (target_id, id);
  CREATE INDEX merges_source ON merges (source_id, id);
  CREATE TABLE tracked_imports (
    id         INTEGER PRIMARY KEY,
    vault_id   INTEGER NOT NULL,
    path       TEXT NOT NULL,
    host       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    synced_at  INTEGER,
    UNIQUE (vault_id, path)
  );
  `,
  // 13: who runs an exec (src/store/execs.ts). `pid` and `pid_start` (start time in clock ticks,
  // so a reused pid is not mistaken for it) name the avfs process that runs it; an exec still
  // open (seq_after NULL) whose process is gone died with it (kill -9, a crash): the next avfs
  // that notices closes its change window and sets `died_at`, after which it can be undone.
  `
  ALTER TABLE execs ADD COLUMN pid INTEGER;
  ALTER TABLE execs ADD COLUMN pid_start INTEGER;
  ALTER TABLE execs ADD COLUMN died_at INTEGER;
  CREATE INDEX execs_open ON execs (vault_id) WHERE seq_after IS NULL;
  `,
  // 14: the directories of each layer by parent. A directory's link count is now 2 plus its
  // subdirectories, kept by entries.ts touchDir; directories stored before carry 1, and theirs is
  // counted from this index (entries.ts subdirCount) without visiting their files.
  `
  CREATE INDEX entries_subdirs ON entries (vault_id, parent, path) WHERE type = 'd';
  `,
  // 15: chunk lists of version 2 (core/chunk-list.ts: two-byte sizes). No table changes; the
  // number makes an avfs that reads only version 1 lists refuse this home (SCHEMA_TOO_NEW) instead
  // of failing on the first large file it reads. Lists written before stay version 1 and are read.
  `SELECT 1;`,
  // 16: batched text indexing (text-index.ts): text_index rows above the highest fts rowid are
  // texts waiting for the index. No table changes; the number makes an older avfs, which would
  // index a new text above them and so leave them out of search for good, refuse this home.
  `SELECT 1;`,
  // 17: chunk reference counts in a table of their own (blobs.ts). SQLite rewrites a whole row to
  // change one column, so counting one more list for a chunk rewrote its data too: about 9 µs a
  // chunk, which made storing a new version of a large file cost a pass over all its unchanged
  // chunks (an appended log line: 3 of its 4 ms; here 0.9). chunks.refs stays, unused: dropping
  // a column rewrites every row of the table, every chunk's data with it.
  // The triggers keep a chunk's count row with the chunk, whoever inserts or deletes it, and keep
  // an avfs from before this migration that is still running (a mount, an SDK process: it checked
  // the schema when it opened) from breaking the counts: its count changes carry over, and its gc,
  // which would judge by the stale chunks.refs, cannot delete a chunk a list still names.
  `
  CREATE TABLE chunk_refs (
    id   INTEGER PRIMARY KEY,
    refs INTEGER NOT NULL
  );
  INSERT INTO chunk_refs (id, refs) SELECT id, refs FROM chunks;
  DROP INDEX chunks_loose;
  CREATE INDEX chunk_refs_loose ON chunk_refs (id) WHERE refs = 0;
  CREATE TRIGGER chunk_refs_add AFTER INSERT ON chunks
    BEGIN INSERT OR IGNORE INTO chunk_refs (id, refs) VALUES (NEW.id, 0); END;
  CREATE TRIGGER chunk_refs_drop AFTER DELETE ON chunks
    BEGIN DELETE FROM chunk_refs WHERE id = OLD.id; END;
  CREATE TRIGGER chunk_refs_legacy_count AFTER UPDATE OF refs ON chunks
    BEGIN UPDATE chunk_refs SET refs = refs + NEW.refs - OLD.refs WHERE id = NEW.id; END;
  CREATE TRIGGER chunk_refs_legacy_gc BEFORE DELETE ON chunks
    WHEN (SELECT refs FROM chunk_refs WHERE id = OLD.id) > 0
    BEGIN SELECT RAISE(ABORT, 'a chunk still in use cannot be deleted: this home counts chunk uses in chunk_refs (schema 17); upgrade this avfs'); END;
  `,
  // 18: the full-text index keeps no copy of the text (FTS5 contentless with deletes, SQLite
  // 3.43+). Migration 2's table held every indexed text a second time, about half of the index's
  // size: each version of a log appended to line by line was there whole (3,000 appends to a
  // 614 KB log: 949 MB). Snippets now come from the content itself (search.ts snippetsOf), and
  // gc's row deletes (the trigger, text-index.ts dropIndexOf) need no text. The table is made
  // anew and every text indexed again in this transaction (migrate-index.ts).
  rebuildTextIndex,
  // 19: when a merge was undone, as a point of the change sequence (merges.undone_seq: the last
  // change its undo wrote). lineage.ts tells by it whether a later merge passed the undone merge's
  // work on before the undo, and whether a side sees the undo at all (a vault forked before it
  // does not); undone_at, a wall-clock time, could tell neither. A merge undone before this
  // migration gets its undo's last version, where history still holds one.
  `
  ALTER TABLE merges ADD COLUMN undone_seq INTEGER;
  UPDATE merges SET undone_seq = (SELECT max(v.id) FROM versions v WHERE v.vault_id = merges.target_id AND v.op = 'merge-undo' AND json_extract(v.detail, '$.merge_id') = merges.id)
    WHERE undone_at IS NOT NULL;
  `,
];
