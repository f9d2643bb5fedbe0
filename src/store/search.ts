import { StringDecoder } from 'node:string_decoder';
import { SqliteError } from 'better-sqlite3';
import { AvfsError } from '../errors.js';
import { basename, descendantRange } from '../core/paths.js';
import { looksBinary } from '../core/text.js';
import { contentChunks } from './blobs.js';
import { pathsWithMeta, pathsWithTag } from './annotations.js';
import { getEntry, type Entry, type EntryType } from './entries.js';
import type { Store } from './store.js';
import type { VaultRow } from './vaults.js';

// ---- search (FTS5) -------------------------------------------------------------------------

/** Marks around matched terms in a raw snippet; control characters, so file text cannot fake them. */
export const HIT_START = '\u0002';
export const HIT_END = '\u0003';
/** Tokens of context a snippet shows around the best match. */
const SNIPPET_TOKENS = 16;

/**
 * The matching contents, ranked by bm25, joined with the vault's current file entries. The FTS
 * match runs once over the (home-wide) index; CROSS JOIN fixes the join order so SQLite walks
 * match → text_index → entries (by the entries_hash index) instead of probing the FTS table once
 * per entry of the vault. A content held by several paths yields one row per path.
 */
const SEARCH = `
  SELECT e.path AS path, e.size AS size, e.mtime AS mtime, e.hash AS hash, m.id AS id, m.rank AS rank
  FROM (SELECT rowid AS id, rank FROM fts WHERE fts MATCH ?) AS m
  CROSS JOIN text_index t ON t.id = m.id
  CROSS JOIN entries e ON e.hash = t.hash
  WHERE e.vault_id = ? AND e.type = 'f' AND (e.path = ? OR (e.path >= ? AND e.path < ?))
  ORDER BY m.rank, e.path
  LIMIT ?`;
const SNIPPET = `SELECT snippet(fts, 0, char(2), char(3), '…', ${SNIPPET_TOKENS}) AS snippet FROM fts WHERE fts MATCH ? AND rowid = ?`;

export interface SearchHit {
  path: string;
  size: number;
  mtime: number;
  hash: string;
  /** bm25 relevance, higher is better (FTS5's rank negated). */
  score: number;
  /** Text around the best match, whitespace collapsed, matched terms between HIT_START and HIT_END. */
  snippet: string;
}

export interface SearchOptions {
  limit: number;
  /** Only files at or below this canonical path. */
  under?: string;
}

/**
 * FTS5 query over the vault's current text files. `query` is FTS5 syntax (words, "phrases",
 * prefix*, AND/OR/NOT, NEAR(...)); a syntax error is INVALID_QUERY, never a crash.
 */
export function searchText(store: Store, vault: VaultRow, query: string, options: SearchOptions): { hits: SearchHit[]; truncated: boolean } {
  if (query.trim() === '') throw new AvfsError('INVALID_QUERY', 'empty search query', { query });
  const under = options.under ?? '/';
  const [lo, hi] = descendantRange(under);
  return store.read(() => {
    const rows = ftsCall(query, () =>
      store.stmt<{ path: string; size: number; mtime: number; hash: string; id: number; rank: number }>(SEARCH).all(query, vault.id, under, lo, hi, options.limit + 1),
    );
    const truncated = rows.length > options.limit;
    const snippets = new Map<number, string>();
    const hits = rows.slice(0, options.limit).map((r) => {
      let snippet = snippets.get(r.id);
      if (snippet === undefined) {
        const raw = store.stmt<{ snippet: string }>(SNIPPET).get(query, r.id)?.snippet ?? '';
        snippet = raw.replace(/\s+/g, ' ').trim();
        snippets.set(r.id, snippet);
      }
      return { path: r.path, size: r.size, mtime: r.mtime, hash: r.hash, score: Number((-r.rank).toPrecision(6)), snippet };
    });
    return { hits, truncated };
  });
}

/** Runs an FTS statement, turning SQLite's complaints about the query into INVALID_QUERY. */
function ftsCall<T>(query: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    // fts5 reports query errors as plain SQLITE_ERROR: "fts5: syntax error near …", "no such column: x"
    // (a `x:` column filter), "unknown special query", "fts5: phrase queries are not supported …".
    if (err instanceof SqliteError && err.code === 'SQLITE_ERROR') {
      throw new AvfsError('INVALID_QUERY', `invalid search query ${JSON.stringify(query)}: ${err.message}`, { query, reason: err.message });
    }
    throw err;
  }
}

/** Turns plain words into an FTS5 query that matches them all literally (search --literal). */
export function literalQuery(text: string): string {
  return text
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => `"${w.replace(/"/g, '""')}"`)
    .join(' ');
}

// ---- grep ----------------------------------------------------------------------------------

export interface GrepOptions {
  regex: RegExp;
  /** Stop a file after this many matching lines. */
  maxCount?: number;
  /** Only whether each file matches (stops at the first match). */
  filesOnly?: boolean;
}

export interface GrepMatch {
  path: string;
  line: number;
  text: string;
}

export interface GrepResult {
  matches: GrepMatch[];
  /** Paths with at least one match, in path order. */
  files: string[];
  files_scanned: number;
  binary_skipped: number;
}

/** Longest line text reported; the match itself is tested against the whole line (up to MAX_LINE_CHARS). */
export const MAX_REPORTED_LINE_CHARS = 4096;
/** A line longer than this is tested in pieces of this size, so one huge line never fills memory. */
export const MAX_LINE_CHARS = 1024 * 1024;

/**
 * Scans files line by line, streaming their content chunk by chunk (a large file is never held
 * whole). Binary files (looksBinary on their first 8 KiB) are skipped and counted. A content held
 * by several paths is scanned once.
 */
export function grepFiles(store: Store, files: Entry[], options: GrepOptions): GrepResult {
  const result: GrepResult = { matches: [], files: [], files_scanned: 0, binary_skipped: 0 };
  const byHash = new Map<string, Array<{ line: number; text: string }> | 'binary'>();
  store.read(() => {
    for (const file of files) {
      if (file.type !== 'f' || !file.hash) continue;
      let found = byHash.get(file.hash);
      if (found === undefined) {
        found = scanContent(store, file.hash, options);
        byHash.set(file.hash, found);
      }
      if (found === 'binary') {
        result.binary_skipped++;
        continue;
      }
      result.files_scanned++;
      if (found.length === 0) continue;
      result.files.push(file.path);
      if (!options.filesOnly) for (const m of found) result.matches.push({ path: file.path, line: m.line, text: m.text });
    }
  });
  return result;
}

function scanContent(store: Store, hash: string, options: GrepOptions): Array<{ line: number; text: string }> | 'binary' {
  const found: Array<{ line: number; text: string }> = [];
  const limit = options.filesOnly ? 1 : (options.maxCount ?? Infinity);
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  let first = true;
  const test = (line: string): boolean => {
    lineNo++;
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (!options.regex.test(text)) return false;
    found.push({ line: lineNo, text: text.length > MAX_REPORTED_LINE_CHARS ? text.slice(0, MAX_REPORTED_LINE_CHARS) : text });
    return found.length >= limit;
  };
  for (const chunk of contentChunks(store, hash)) {
    if (first) {
      first = false;
      if (looksBinary(chunk)) return 'binary'; // the same rule (first 8 KiB) the index applies
    }
    pending += decoder.write(chunk);
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
      if (test(pending.slice(start, nl))) return found;
      start = nl + 1;
    }
    pending = pending.slice(start);
    if (pending.length > MAX_LINE_CHARS) {
      // A giant line is tested in pieces; the pieces share its line number.
      if (test(pending)) return found;
      lineNo--;
      pending = '';
    }
  }
  pending += decoder.end();
  if (pending.length > 0) test(pending);
  return found;
}

// ---- find ----------------------------------------------------------------------------------

export interface FindFilter {
  type?: EntryType;
  /** Matched against the entry's name (find -name). */
  name?: RegExp;
  /** Matched against the entry's whole vault path (find -path). */
  path?: RegExp;
  minSize?: number;
  maxSize?: number;
  /** Only entries modified after this time (epoch ms). */
  newerThan?: number;
  /** Only entries at most this many levels below the start directory (1 = its children). */
  maxDepth?: number;
  /** Every tag must be present. */
  tags?: string[];
  /** Every key must be present, with the given value when one is given. */
  meta?: Array<{ key: string; value?: string }>;
  limit?: number;
}

const DESCENDANTS = `SELECT path, parent, type, mode, size, hash, target, mtime, atime, ctime, ino, version
  FROM entries WHERE vault_id = ? AND path >= ? AND path < ? ORDER BY path`;

/**
 * Entries at or below `root` that pass every filter, in path order. A directory root yields its
 * descendants (not itself); a file root yields itself when it passes. With tag or metadata
 * filters the candidates come from the annotations index instead of a scan of the subtree.
 */
export function findEntries(store: Store, vault: VaultRow, root: Entry, filter: FindFilter): { entries: Entry[]; truncated: boolean } {
  return store.read(() => {
    const limit = filter.limit ?? Infinity;
    const rootDepth = root.path === '/' ? 0 : root.path.split('/').length - 1;
    const passes = (e: Entry): boolean => {
      if (filter.type && e.type !== filter.type) return false;
      if (filter.minSize !== undefined && e.size < filter.minSize) return false;
      if (filter.maxSize !== undefined && e.size > filter.maxSize) return false;
      if (filter.newerThan !== undefined && e.mtime <= filter.newerThan) return false;
      if (filter.maxDepth !== undefined && e.path.split('/').length - 1 - rootDepth > filter.maxDepth) return false;
      if (filter.name && !filter.name.test(basename(e.path))) return false;
      if (filter.path && !filter.path.test(e.path)) return false;
      return true;
    };
    const annotated = annotatedPaths(store, vault.id, filter);
    const entries: Entry[] = [];
    let truncated = false;
    const take = (e: Entry): boolean => {
      if (!passes(e) || (annotated && !annotated.has(e.path))) return true;
      if (entries.length >= limit) {
        truncated = true;
        return false;
      }
      entries.push(e);
      return true;
    };
    if (root.type !== 'd') {
      take(root);
    } else if (annotated) {
      const [lo, hi] = descendantRange(root.path);
      for (const path of [...annotated].sort()) {
        if (path < lo || path >= hi) continue;
        const e = getEntry(store, vault.id, path);
        if (e && !take(e)) break;
      }
    } else {
      const [lo, hi] = descendantRange(root.path);
      for (const e of store.stmt<Entry>(DESCENDANTS).iterate(vault.id, lo, hi)) {
        if (e.path === '/') continue;
        if (!take(e)) break;
      }
    }
    return { entries, truncated };
  });
}

/** The intersection of the paths selected by tag and metadata filters; undefined without such filters. */
function annotatedPaths(store: Store, vaultId: number, filter: FindFilter): Set<string> | undefined {
  const sets = [
    ...(filter.tags ?? []).map((t) => pathsWithTag(store, vaultId, t)),
    ...(filter.meta ?? []).map((m) => pathsWithMeta(store, vaultId, m.key, m.value)),
  ];
  if (sets.length === 0) return undefined;
  sets.sort((a, b) => a.size - b.size);
  return new Set([...sets[0]!].filter((p) => sets.every((s) => s.has(p))));
}
