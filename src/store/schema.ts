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
 *  - checkpoints / checkpoint_entries: whole-vault snapshots (metadata only, content shared).
 *  - annotations: tags (kind 't') and key/value metadata (kind 'm') on paths.
 *  - text_index / fts: full-text index keyed by content, not by path.
 *  - audit: who did what, when.
 *  - execs: one row per `proxy exec` run (what ran, the change window, the checkpoint before it).
 */
export const MIGRATIONS: readonly string[] = [
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
  // 6: who runs an exec (src/store/execs.ts). `pid` and `pid_start` (start time in clock ticks,
  // so a reused pid is not mistaken for it) name the avfs process that runs it; an exec still
  // open (seq_after NULL) whose process is gone died with it (kill -9, a crash): the next avfs
  // that notices closes its change window and sets `died_at`, after which it can be undone.
  `
  ALTER TABLE execs ADD COLUMN pid INTEGER;
  ALTER TABLE execs ADD COLUMN pid_start INTEGER;
  ALTER TABLE execs ADD COLUMN died_at INTEGER;
  CREATE INDEX execs_open ON execs (vault_id) WHERE seq_after IS NULL;
  `,
];
