import { StringDecoder } from 'node:string_decoder';
import { SqliteError } from 'better-sqlite3';
import { AvfsError } from '../errors.js';
import { basename, descendantRange, isWithin } from '../core/paths.js';
import { compileRegExp, type Matcher } from '../core/glob.js';
import { literalTest } from '../core/required-literals.js';
import { LiteralText, looksBinary, SNIFF_BYTES } from '../core/text.js';
import { contentChunks, readContent } from './blobs.js';
import { pathsWithMeta, pathsWithTag } from './annotations.js';
import { briefDescendants, entriesWithHash, getEntry, iterateDescendants, layersOf, type Entry, type EntryType } from './entries.js';
import type { Store } from './store.js';
import { FTS_TOKENIZER, hasPending, indexPending } from './text-index.js';
import type { VaultRow } from './vaults.js';

// ---- search (FTS5) -------------------------------------------------------------------------

/** Marks around matched terms in a raw snippet; control characters, so file text cannot fake them. */
export const HIT_START = '\u0002';
export const HIT_END = '\u0003';
/** Tokens of context a snippet shows around the best match. */
const SNIPPET_TOKENS = 16;

/**
 * Two plans for one ranked search; both end joining ranked contents with the vault's current file
 * entries (CROSS JOIN fixes the order: ranked → text_index → entries by the (vault_id, hash)
 * index, named with INDEXED BY because without statistics the planner prefers the primary key's
 * path range, a scan of the whole vault per match), one row per path holding a matching content.
 * bm25() is called directly: FTS5's `rank` column sorts every match itself and is slower.
 *
 * TOP_K: rank every match home-wide, keep the best k, join only those. Cheap when the vault holds
 * most matching contents (the usual case: one vault, or forks sharing their contents), because a
 * common word's thousands of matches are never joined.
 *
 * IN_VAULT: first collect the ids of the contents in the vault's scope, then walk the matches and
 * rank only those in that set (the unary + keeps SQLite from handing `rowid IN` to FTS5 as one
 * lookup per id, which re-runs the query per id). Cheap when the scope holds few of the matches:
 * a small vault, or a narrow --path, in a home whose other vaults match a lot.
 */
// Both plans end the same way: ranked contents `m` → the vault's file entries that hold them.
const RANKED_TO_ENTRIES = `
  SELECT e.path AS path, e.size AS size, e.mtime AS mtime, e.hash AS hash, m.id AS id, m.rank AS rank
  FROM m
  CROSS JOIN text_index t ON t.id = m.id
  CROSS JOIN entries e INDEXED BY entries_vault_hash ON e.hash = t.hash
  WHERE e.vault_id = ? AND e.type = 'f' AND (e.path = ? OR (e.path >= ? AND e.path < ?))
  ORDER BY m.rank, e.path
  LIMIT ?`;
const SEARCH_TOP_K = `
  WITH m AS MATERIALIZED (SELECT rowid AS id, bm25(fts) AS rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?)
  ${RANKED_TO_ENTRIES}`;
const SEARCH_IN_VAULT = `
  WITH v AS MATERIALIZED (
    SELECT DISTINCT t.id FROM entries e JOIN text_index t ON t.hash = e.hash
    WHERE e.vault_id = ? AND e.type = 'f' AND (e.path = ? OR (e.path >= ? AND e.path < ?))),
  m AS MATERIALIZED (SELECT rowid AS id, bm25(fts) AS rank FROM fts WHERE fts MATCH ? AND +rowid IN v ORDER BY rank LIMIT ?)
  ${RANKED_TO_ENTRIES}`;
const COUNT_SCOPE = "SELECT count(*) AS n FROM entries WHERE vault_id = ? AND (path = ? OR (path >= ? AND path < ?))";
const COUNT_MATCHES = 'SELECT count(*) AS n FROM fts WHERE fts MATCH ?';
// The index keeps no text (schema 18), so snippet() cannot run on it: the texts of a search's
// hits are put into a temporary FTS5 table with the same tokenizer (external content over a
// temporary table, so a text is tokenized once to index it and once for its snippet), where the
// query matches the same tokens, and one query asks snippet() for all of them. Temporary: per
// connection, outside the database file, so a read-only home shows snippets too. Each text in a
// table of its own, or removed one by one, cost 30 times the old snippet; batched, about 4.
const SNIPPET_TABLES = `
  CREATE TEMP TABLE IF NOT EXISTS snippet_text (id INTEGER PRIMARY KEY, body TEXT);
  CREATE VIRTUAL TABLE IF NOT EXISTS temp.snippet_source USING fts5(body, content = 'snippet_text', content_rowid = 'id', tokenize = '${FTS_TOKENIZER}');`;
const SNIPPET_TEXT = 'INSERT INTO temp.snippet_text (id, body) VALUES (?, ?)';
const SNIPPET_SOURCE = 'INSERT INTO temp.snippet_source (rowid, body) VALUES (?, ?)';
const SNIPPETS = `SELECT rowid AS id, snippet(snippet_source, 0, char(2), char(3), '…', ${SNIPPET_TOKENS}) AS snippet FROM temp.snippet_source WHERE snippet_source MATCH ?`;
const SNIPPETS_CLEAR = ["INSERT INTO temp.snippet_source (snippet_source) VALUES ('delete-all')", 'DELETE FROM temp.snippet_text'];
/** The temp-table generation (Store.tempGeneration) each connection's snippet tables were made in. */
const snippetTables = new WeakMap<Store, number>();
const MARKS = /[\u0002\u0003]/g;

export interface SearchHit {
  path: string;
  size: number;
  mtime: number;
  hash: string;
  /** bm25 relevance, higher is better (SQLite's bm25() negated). */
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
  indexWaiting(store);
  return store.read(() => {
    // The index is home-wide: the best matches may belong to other vaults or lie outside the scope.
    type Row = { path: string; size: number; mtime: number; hash: string; id: number; rank: number };
    const want = options.limit + 1;
    const total = ftsCall(query, () => store.stmt<{ n: number }>(COUNT_MATCHES).get(query)!.n);
    if (total === 0) return { hits: [], truncated: false };
    if (layersOf(vault).length > 1) return hitsOf(store, query, options.limit, layeredMatches(store, vault, query, under, want, total));
    const topK = (k: number) => ftsCall(query, () => store.stmt<Row>(SEARCH_TOP_K).all(query, k, vault.id, under, lo, hi, want));
    const scope = [vault.id, under, lo, hi];
    const inVault = () => ftsCall(query, () => store.stmt<Row>(SEARCH_IN_VAULT).all(...scope, query, want, ...scope, want));
    const candidates = Math.max(64, 4 * want);
    let rows: Row[];
    if (total <= candidates) {
      rows = topK(-1); // every match: one pass, nothing to choose
    } else if (store.stmt<{ n: number }>(COUNT_SCOPE).get(...scope)!.n * 2 < total) {
      rows = inVault(); // the scope can hold at most a small share of the matches
    } else {
      rows = topK(candidates);
      if (rows.length < want) rows = inVault(); // the best candidates were mostly elsewhere
    }
    return hitsOf(store, query, options.limit, rows);
  });
}

/**
 * Indexes the texts written since the last batch (text-index.ts), so the search sees every write
 * that returned. A read-only home cannot write the index: its search sees what writers indexed.
 * Inside a caller's read transaction the flush would have to upgrade it to a write; search is
 * not called in one (checked, so a future caller learns it here rather than by SQLITE_BUSY).
 */
function indexWaiting(store: Store): void {
  if (store.readOnly || !hasPending(store)) return;
  store.endLinger();
  if (store.db.inTransaction && !store.currentChange()) throw new AvfsError('INTERNAL', 'search inside a read transaction cannot index pending texts');
  indexPending(store);
}

type RankedEntry = { path: string; size: number; mtime: number; hash: string; id: number; rank: number };

/** The first `limit` ranked rows as hits with snippets (one snippet per content). */
function hitsOf(store: Store, query: string, limit: number, rows: RankedEntry[]): { hits: SearchHit[]; truncated: boolean } {
  const shown = rows.slice(0, limit);
  const snippets = snippetsOf(store, query, shown.map((r) => r.hash));
  const hits = shown.map((r) => {
    const snippet = snippets.get(r.hash) ?? '';
    return { path: r.path, size: r.size, mtime: r.mtime, hash: r.hash, score: Number((-r.rank).toPrecision(6)), snippet };
  });
  return { hits, truncated: rows.length > limit };
}

/** The snippet of each stored text in `hashes` for `query`, by hash (HIT_START/HIT_END around matched terms, white space folded). */
function snippetsOf(store: Store, query: string, hashes: readonly string[]): Map<string, string> {
  const distinct = [...new Set(hashes)];
  const out = new Map<string, string>();
  if (distinct.length === 0) return out;
  if (snippetTables.get(store) !== store.tempGeneration) {
    store.db.exec(SNIPPET_TABLES);
    snippetTables.set(store, store.tempGeneration);
  }
  const make = () => {
    try {
      distinct.forEach((hash, i) => {
        // The marks are control characters so that file text cannot fake them: its own become
        // U+FFFD, a separator to the tokenizer as they are, so the same tokens match.
        const text = readContent(store, hash).toString('utf8').replace(MARKS, '\ufffd');
        store.stmt(SNIPPET_TEXT).run(i + 1, text);
        store.stmt(SNIPPET_SOURCE).run(i + 1, text);
      });
      for (const r of store.stmt<{ id: number; snippet: string }>(SNIPPETS).all(query)) {
        out.set(distinct[r.id - 1]!, (r.snippet ?? '').replace(/\s+/g, ' ').trim());
      }
    } finally {
      for (const sql of SNIPPETS_CLEAR) store.stmt(sql).run();
    }
  };
  // One transaction (the caller's read, or one of its own) rather than one per statement.
  store.read(make);
  return out;
}

const RANKED = 'SELECT f.rowid AS id, bm25(fts) AS rank, t.hash AS hash FROM fts f JOIN text_index t ON t.id = f.rowid WHERE fts MATCH ? ORDER BY rank LIMIT ? OFFSET ?';

/**
 * Ranked matches in a fork (a vault shown through layers, where the SQL join from contents to
 * entries cannot use one index): contents in rank order, a page at a time, each mapped to the
 * files the vault shows with it, until `want` hits are found or every match was seen.
 */
function layeredMatches(store: Store, vault: VaultRow, query: string, under: string, want: number, total: number): RankedEntry[] {
  const out: RankedEntry[] = [];
  for (let offset = 0, page = Math.max(64, want * 4); offset < total && out.length < want; offset += page, page *= 2) {
    for (const { id, rank, hash } of ftsCall(query, () => store.stmt<{ id: number; rank: number; hash: string }>(RANKED).all(query, page, offset))) {
      for (const e of entriesWithHash(store, vault, hash)) {
        if (e.type === 'f' && (e.path === under || isWithin(e.path, under))) out.push({ path: e.path, size: e.size, mtime: e.mtime, hash, id, rank });
      }
    }
  }
  return out.sort((a, b) => a.rank - b.rank || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).slice(0, want);
}

/** Runs an FTS statement, turning SQLite's complaints about the query into INVALID_QUERY. */
function ftsCall<T>(query: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    // fts5 reports query errors as plain SQLITE_ERROR: "fts5: syntax error near …", "no such column: x"
    // (a `x:` column filter), "unknown special query", "fts5: phrase queries are not supported …".
    if (err instanceof SqliteError && err.code === 'SQLITE_ERROR') {
      // A path or a version number (`src/app.ts`, `1.2.3`) is the usual cause: say how to search for it.
      const hint = 'put text with punctuation in double quotes, or search with --literal (SDK and MCP: literal: true) to match the words as written';
      throw new AvfsError('INVALID_QUERY', `invalid search query ${JSON.stringify(query)}: ${err.message} (${hint})`, { query, reason: err.message });
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
  /** Tests one line (without its newline): a RegExp, or a fixed string too large for one. */
  regex: RegExp | LiteralText;
  /** Stop a file after this many matching lines. */
  maxCount?: number;
  /** Only whether each file matches (stops at the first match). */
  filesOnly?: boolean;
  /** Stop after this many matches in all (with filesOnly: matching files); `truncated` says whether there were more. */
  limit?: number;
  /**
   * Takes each match as it is found, in path then line order, instead of `matches` (which stays
   * empty): a grep of millions of lines then holds none of them (the CLI prints them as they come).
   */
  onMatch?: (match: GrepMatch) => void;
}

export interface GrepMatch {
  path: string;
  line: number;
  text: string;
}

export interface GrepResult {
  /** Empty with onMatch, which took them. */
  matches: GrepMatch[];
  /** Matching lines kept (given to onMatch or in `matches`); with filesOnly, 0. */
  count: number;
  /** Paths with at least one match, in path order. */
  files: string[];
  files_scanned: number;
  binary_skipped: number;
  /** Lines longer than MAX_LINE_CHARS, matched on their first MAX_LINE_CHARS characters only. */
  long_lines: number;
  /** More matches (or files) exist beyond `limit`. */
  truncated: boolean;
}

/** Longest line text reported; the match itself is tested against the whole line (up to MAX_LINE_CHARS). */
export const MAX_REPORTED_LINE_CHARS = 4096;
/**
 * The longest line tested whole: a line is held in memory to be tested, so one longer than this
 * (no real text has one; a minified bundle's line is a few MiB) is tested on its first
 * MAX_LINE_CHARS characters, once, and the rest of it skipped and counted in `long_lines`.
 */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;

/** A file to scan: its path, its content's hash (null: empty) and size, as descendantFiles lists them. */
export type GrepFile = readonly [path: string, hash: string | null, size: number];

/**
 * A copy of `s` that holds nothing of the string it was cut from. V8 keeps a slice's parent
 * alive, so each reported line held the whole chunk it was read from (64 KiB or more): 800
 * matching lines of 110 characters, one per 64 KiB, held 50.9 MB; copied, 0.2 MB. Decoded text
 * has no lone surrogates: the copy is exact.
 */
const detached = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/** What scanning one content found: its matching lines, and how many lines were too long to test whole. */
interface Scan {
  lines: Array<{ line: number; text: string }>;
  longLines: number;
}

/**
 * Characters of matched lines grepFiles keeps for contents other paths may hold too. Past it, a
 * content seen again is scanned again: the cache must not hold what streaming a grep's output
 * (onMatch) spares.
 */
const SCAN_CACHE_CHARS = 32 * 1024 * 1024;

/**
 * Scans files line by line, streaming their content chunk by chunk (a large file is never held
 * whole). Binary files (looksBinary on their first 8 KiB) are skipped and counted. A content held
 * by several paths is scanned once (within SCAN_CACHE_CHARS). With a limit, scanning stops at one
 * match past it.
 */
export function grepFiles(store: Store, files: Iterable<GrepFile>, options: GrepOptions): GrepResult {
  const result: GrepResult = { matches: [], count: 0, files: [], files_scanned: 0, binary_skipped: 0, long_lines: 0, truncated: false };
  const byHash = new Map<string, Scan | 'binary'>();
  let cachedChars = 0;
  const holdsLiterals = options.regex instanceof RegExp ? literalTest(options.regex) : null;
  const line = guarded(options.regex, holdsLiterals);
  const prefilter = guarded(wholeTextFilter(options.regex), holdsLiterals);
  const limit = options.limit ?? Infinity;
  const emit = options.onMatch ?? ((m: GrepMatch) => result.matches.push(m));
  store.read(() => {
    for (const [path, hash, size] of files) {
      if (!hash) continue;
      let found = byHash.get(hash);
      if (found === undefined) {
        // A content scanned for the last few matches the limit leaves is never scanned again
        // for more: once those are found, the whole grep stops.
        const wanted = options.filesOnly ? 1 : Math.min(options.maxCount ?? Infinity, limit + 1 - result.count);
        found = scanContent(store, hash, size, line, wanted, prefilter);
        const chars = found === 'binary' ? 0 : found.lines.reduce((n, l) => n + l.text.length, 0);
        if (cachedChars + chars <= SCAN_CACHE_CHARS) {
          byHash.set(hash, found);
          cachedChars += chars;
        }
      }
      if (found === 'binary') {
        result.binary_skipped++;
        continue;
      }
      result.files_scanned++;
      result.long_lines += found.longLines;
      if (found.lines.length === 0) continue;
      // A file is listed only with a match kept: the limit stops the grep before the one past it.
      if ((options.filesOnly ? result.files.length : result.count) === limit) {
        result.truncated = true;
        return;
      }
      result.files.push(path);
      if (options.filesOnly) continue;
      for (const m of found.lines) {
        if (result.count === limit) {
          result.truncated = true;
          return;
        }
        emit({ path, line: m.line, text: m.text });
        result.count++;
      }
    }
  });
  return result;
}

/**
 * `test` run only on text holding every literal the regex's matches must contain (core/required-
 * literals.ts): a line without them costs one `includes` each instead of a backtracking search,
 * which took time quadratic in the line's length for `.*needle` or `x+y`.
 */
function guarded<T extends RegExp | LiteralText | undefined>(test: T, holdsLiterals: ((text: string) => boolean) | null): Matcher | T {
  if (holdsLiterals === null || !(test instanceof RegExp)) return test;
  return { test: (text) => holdsLiterals(text) && test.test(text) };
}

/**
 * A regex that, run once over a block of whole lines, tells whether any of them can match: the
 * same pattern in multiline mode, so ^ and $ hold at line boundaries. Most files do not match,
 * and one search over a block costs far less than one per line. Lookarounds can see past a line
 * end in a block (and so reject what a lone line accepts); patterns with them get no prefilter.
 */
function wholeTextFilter(regex: RegExp | LiteralText): RegExp | LiteralText | undefined {
  // A block holds a fixed string whenever one of its lines does.
  if (regex instanceof LiteralText) return regex;
  if (/\(\?<?[=!]/.test(regex.source)) return undefined;
  try {
    return compileRegExp(regex.source, regex.flags.replace(/[gym]/g, '') + 'm');
  } catch {
    return undefined; // a prefilter only saves time: without one, every line is tested
  }
}

/**
 * The lines of one content that `regex` matches, up to `wanted` of them. Each line is tested
 * whole: the part of a line that a chunk ends in waits, as pieces (joined once the line ends, so
 * a long line costs its length, not its length times its chunks), for the chunk with its end.
 */
function scanContent(store: Store, hash: string, size: number, regex: Matcher, wanted: number, prefilter: Matcher | undefined): Scan | 'binary' {
  const scan: Scan = { lines: [], longLines: 0 };
  const decoder = new StringDecoder('utf8');
  let lineNo = 0;
  let first = true;
  // The line begun in earlier chunks, in pieces; `skipping` once it grew past MAX_LINE_CHARS and was tested.
  let pieces: string[] = [];
  let held = 0;
  let skipping = false;
  const test = (line: string): boolean => {
    lineNo++;
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (!regex.test(text)) return false;
    scan.lines.push({ line: lineNo, text: detached(text.length > MAX_REPORTED_LINE_CHARS ? text.slice(0, MAX_REPORTED_LINE_CHARS) : text) });
    return scan.lines.length >= wanted;
  };
  /** Holds `part` of the unfinished line; true when the grep of this content is done. */
  const hold = (part: string): boolean => {
    if (skipping || part.length === 0) return false;
    if (held + part.length <= MAX_LINE_CHARS) {
      pieces.push(part);
      held += part.length;
      return false;
    }
    pieces.push(part.slice(0, MAX_LINE_CHARS - held));
    const done = test(pieces.join(''));
    scan.longLines++;
    pieces = [];
    held = 0;
    skipping = true;
    return done;
  };
  /** The unfinished line, ended by `tail`; true when done. */
  const finish = (tail: string): boolean => {
    if (skipping) {
      skipping = false;
      return false;
    }
    const line = pieces.length === 0 ? tail : pieces.join('') + tail;
    pieces = [];
    held = 0;
    return test(line);
  };
  for (const chunk of contentChunks(store, hash)) {
    if (first) {
      first = false;
      // The rule the index applies, to the same first 8 KiB: a first chunk may be shorter.
      const head = chunk.length >= SNIFF_BYTES || chunk.length === size ? chunk : readContent(store, hash, 0, SNIFF_BYTES);
      if (looksBinary(head, size)) return 'binary';
    }
    const text = decoder.write(chunk);
    const firstNl = text.indexOf('\n');
    if (firstNl === -1) {
      if (hold(text)) return scan;
      continue;
    }
    if (finish(text.slice(0, firstNl))) return scan;
    const lastNl = text.lastIndexOf('\n');
    let start = firstNl + 1;
    if (lastNl > firstNl && prefilter && !prefilter.test(text.slice(start, lastNl))) {
      // No line of this block can match: only count its lines.
      for (let nl = text.indexOf('\n', start); nl !== -1 && nl <= lastNl; nl = text.indexOf('\n', nl + 1)) lineNo++;
    } else {
      for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
        if (test(text.slice(start, nl))) return scan;
        start = nl + 1;
      }
    }
    if (hold(text.slice(lastNl + 1))) return scan;
  }
  hold(decoder.end());
  if (!skipping && pieces.length > 0) test(pieces.join(''));
  return scan;
}

// ---- find ----------------------------------------------------------------------------------

export interface FindFilter {
  type?: EntryType;
  /** Matched against the entry's name (find -name). */
  name?: Matcher;
  /** Matched against the entry's whole vault path (find -path). */
  path?: Matcher;
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

/**
 * Entries at or below `root` that pass every filter, in path order. A directory root yields its
 * descendants (not itself); a file root yields itself when it passes. With tag or metadata
 * filters the candidates come from the annotations index instead of a scan of the subtree.
 */
export function findEntries(store: Store, vault: VaultRow, root: Entry, filter: FindFilter): { entries: Entry[]; truncated: boolean } {
  return store.read(() => {
    const limit = filter.limit ?? Infinity;
    const rootDepth = root.path === '/' ? 0 : root.path.split('/').length - 1;
    const passes = (path: string, type: EntryType, size: number, mtime: number): boolean => {
      if (filter.type && type !== filter.type) return false;
      if (filter.minSize !== undefined && size < filter.minSize) return false;
      if (filter.maxSize !== undefined && size > filter.maxSize) return false;
      if (filter.newerThan !== undefined && mtime <= filter.newerThan) return false;
      if (filter.maxDepth !== undefined && depthBelow(path, rootDepth) > filter.maxDepth) return false;
      if (filter.name && !filter.name.test(basename(path))) return false;
      if (filter.path && !filter.path.test(path)) return false;
      return true;
    };
    if (root.type !== 'd') return { entries: passes(root.path, root.type, root.size, root.mtime) ? [root] : [], truncated: false };
    const [lo, hi] = descendantRange(root.path);
    const annotated = annotatedPaths(store, vault, filter);
    const matched: string[] = [];
    let truncated = false;
    let scanned = 0;
    const take = (path: string, type: EntryType, size: number, mtime: number): boolean => {
      if (!passes(path, type, size, mtime)) return true;
      if (matched.length >= limit) {
        truncated = true;
        return false;
      }
      matched.push(path);
      return true;
    };
    if (annotated) {
      const entries: Entry[] = [];
      for (const path of [...annotated].sort()) {
        if (path < lo || path >= hi) continue;
        const e = getEntry(store, vault, path);
        if (!e || !passes(e.path, e.type, e.size, e.mtime)) continue;
        if (entries.length >= limit) {
          truncated = true;
          break;
        }
        entries.push(e);
      }
      return { entries, truncated };
    }
    for (const [path, type, size, mtime] of briefDescendants(store, vault, root.path)) {
      scanned++;
      if (!take(path, type, size, mtime)) break;
    }
    // Few matches: read them one by one (an index lookup each). Many: one more range scan is cheaper.
    if (matched.length * 4 <= scanned) return { entries: matched.map((p) => getEntry(store, vault, p)!), truncated };
    const wanted = new Set(matched);
    const entries: Entry[] = [];
    for (const e of iterateDescendants(store, vault, root.path)) if (wanted.has(e.path)) entries.push(e);
    return { entries, truncated };
  });
}

/** Levels below the directory at `rootDepth` (its children are at 1). */
function depthBelow(path: string, rootDepth: number): number {
  let slashes = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) slashes++;
  return slashes - rootDepth;
}

/** The intersection of the paths selected by tag and metadata filters; undefined without such filters. */
function annotatedPaths(store: Store, vault: VaultRow, filter: FindFilter): Set<string> | undefined {
  const sets = [
    ...(filter.tags ?? []).map((t) => pathsWithTag(store, vault, t)),
    ...(filter.meta ?? []).map((m) => pathsWithMeta(store, vault, m.key, m.value)),
  ];
  if (sets.length === 0) return undefined;
  sets.sort((a, b) => a.size - b.size);
  return new Set([...sets[0]!].filter((p) => sets.every((s) => s.has(p))));
}
