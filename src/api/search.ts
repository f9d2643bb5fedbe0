import { setFlagsFromString } from 'node:v8';
import { AvfsError } from '../errors.js';
import { compileGlob, compileRegExp, escapeGlob, invalidPattern, regexProblem } from '../core/glob.js';
import { LiteralText } from '../core/text.js';
import { basename, dirname, joinPath } from '../core/paths.js';
import { isoTime } from '../core/units.js';
import type { Entry } from '../store/entries.js';
import { findEntries, grepFiles, HIT_END, HIT_START, literalQuery, searchText, type FindFilter, type GrepFile, type GrepMatch } from '../store/search.js';
import { descendantFiles } from '../store/entries.js';
import type { VaultFs } from '../store/vault-fs.js';

/**
 * grep, search and find: parameters checked and patterns compiled once, for the CLI, MCP and the
 * SDK alike. Results are camelCase; `grepJson` and `searchJson` give the CLI's `--json` fields.
 */

// A user's regular expression can backtrack exponentially on a line: `(a+)+$` on 40 a's and a
// "!" runs for hours, and the thread with it (an MCP server stops answering, SIGTERM included).
// With this V8 flag, a match that backtracks too much is run again by V8's linear-time engine,
// with the same result. That engine takes no `i` or `u` flag, backreference, lookaround or large
// counted repetition: such patterns still backtrack (compilePattern drops `u` where it changes
// nothing; README "Limits"). Process-wide, but it changes only how long such a match takes.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

// ---- grep ------------------------------------------------------------------------------------

export interface PatternOptions {
  /** The pattern is a literal string, not a regular expression. */
  fixed?: boolean;
  ignoreCase?: boolean;
  /** Every match of a line (for highlighting), not only the first. */
  global?: boolean;
}

/**
 * Compiles a grep pattern. Regexes are JavaScript RegExp syntax, compiled with the `u` flag
 * (Unicode-aware `.` and classes) when they are valid under it, else without it, so patterns
 * written for other tools (`\-`, `\:`) still work. A RegExp is taken as it is (without `g`/`y`,
 * whose state would skip lines). Invalid, empty or too large to compile: INVALID_PATTERN (a pattern
 * rejected for its size alone has `reason: 'too_large'`).
 */
export function compilePattern(pattern: string | RegExp, options: PatternOptions = {}): RegExp {
  const global = options.global ? 'g' : '';
  if (pattern instanceof RegExp) {
    const ignoreCase = options.ignoreCase || pattern.ignoreCase ? 'i' : '';
    try {
      return compileRegExp(pattern.source, pattern.flags.replace(/[giy]/g, '') + ignoreCase + global);
    } catch (err) {
      throw invalidPattern('regular expression', String(pattern), err, { pattern: String(pattern), reason: regexProblem(err) });
    }
  }
  const extra = (options.ignoreCase ? 'i' : '') + global;
  if (typeof pattern !== 'string') throw new AvfsError('INVALID_ARGUMENT', `a pattern must be a string or a RegExp, not ${pattern === null ? 'null' : typeof pattern}`, { option: 'pattern' });
  if (pattern.length === 0) throw new AvfsError('INVALID_PATTERN', 'empty pattern', { pattern });
  const source = options.fixed ? pattern.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&') : pattern;
  let unicode: RegExp | undefined;
  try {
    unicode = compileRegExp(source, extra + 'u');
  } catch {
    // not valid under `u`: compiled without it below
  }
  if (unicode) {
    // Without `u` V8 can fall back to its linear-time engine (the flag above); for a pattern `u`
    // does not change, that is the same test of each line (not with `i`: `u` folds more cases).
    if (options.ignoreCase || !unicodeNeutral(source)) return unicode;
    try {
      return compileRegExp(source, extra);
    } catch {
      return unicode;
    }
  }
  try {
    return compileRegExp(source, extra);
  } catch (err) {
    throw invalidPattern('regular expression', pattern, err, { pattern, reason: regexProblem(err) });
  }
}

/**
 * Whether a pattern valid under the `u` flag matches exactly the same strings without it: ASCII
 * only, with nothing that consumes "any character" (`.`, `[^…]`, `\S`, `\W`, `\D`: without `u`
 * they take half of a character outside the BMP), no `\u` escape from U+D800 up (surrogates, and
 * ranges reaching past them) and no `u`-only syntax (`\u{…}`, `\p{…}`, `\k`).
 * Conservative: a `.` inside a class, or escaped twice over, also counts.
 */
export function unicodeNeutral(source: string): boolean {
  if (!/^[\x00-\x7f]*$/.test(source)) return false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '.') return false;
    if (c === '[' && source[i + 1] === '^') return false;
    if (c === '\\') {
      const next = source[++i];
      if (next !== undefined && 'SWDpPk'.includes(next)) return false;
      // `\u{…}`, and a surrogate written as `\uD83D`: under `u` a pair of them is one character
      // (and a range to `\uFFFF` spans every character outside the BMP); without, two halves.
      if (next === 'u' && (source[i + 1] === '{' || parseInt(source.slice(i + 1, i + 5), 16) >= 0xd800)) return false;
    }
  }
  return true;
}

/**
 * What grep tests each line with: the compiled pattern, or, for a fixed string too large for the
 * RegExp engine (-F has no syntax to compile), the string itself.
 */
function lineTest(pattern: string | RegExp, options: PatternOptions): RegExp | LiteralText {
  try {
    return compilePattern(pattern, options);
  } catch (err) {
    if (options.fixed && typeof pattern === 'string' && err instanceof AvfsError && err.data.reason === 'too_large') return new LiteralText(pattern, options.ignoreCase);
    throw err;
  }
}

export interface GrepParams extends Omit<PatternOptions, 'global'> {
  pattern: string | RegExp;
  /** A file, or a directory to search below (default `/`). */
  path?: string;
  /** Stop reading a file after this many matching lines. */
  maxCount?: number;
  /** Only files whose name matches this glob (e.g. `*.ts`). */
  include?: string;
  /** Only which files match (`files`); `matches` stays empty. */
  filesOnly?: boolean;
  /** At most this many matches in all (with filesOnly: files); `truncated` says whether there were more. */
  limit?: number;
  /** Takes each match as found, in path then line order; `matches` then stays empty (a grep of millions of lines holds none). */
  onMatch?: (match: GrepMatch) => void;
}

export interface GrepResult {
  vault: string;
  pattern: string;
  /** The scope searched (canonical). */
  path: string;
  /** Matching lines (with filesOnly: matching files). */
  count: number;
  /** Paths with a match, in path order. */
  files: string[];
  /** Text files read. */
  filesScanned: number;
  binarySkipped: number;
  /** Lines longer than 16 MiB characters, matched on their first 16 MiB characters only. */
  longLines: number;
  /** More matches (with filesOnly: files) exist beyond `limit`. */
  truncated: boolean;
  /** In path then line order (empty with onMatch, which took them). */
  matches: GrepMatch[];
}

/** Lines matching a pattern in the current text files at or below `path`. */
export function grep(fs: VaultFs, params: GrepParams): GrepResult {
  const regex = lineTest(params.pattern, params);
  const include = params.include === undefined ? undefined : compileGlob(params.include);
  // One read transaction (in WAL mode: Store.readLong): the files listed are the files read,
  // whatever is written meanwhile.
  const { root, r } = fs.store.readLong(() => {
    const root = fs.stat(params.path ?? '/');
    const all: GrepFile[] = root.type === 'd' ? descendantFiles(fs.store, fs.row(), root.path) : root.type === 'f' ? [[root.path, root.hash, root.size]] : [];
    const files = include ? all.filter(([path]) => include.test(basename(path))) : all;
    return { root, r: grepFiles(fs.store, files, { regex, maxCount: params.maxCount, filesOnly: params.filesOnly, limit: params.limit, onMatch: params.onMatch }) };
  });
  return {
    vault: fs.name,
    pattern: typeof params.pattern === 'string' ? params.pattern : String(params.pattern),
    path: root.path,
    count: params.filesOnly ? r.files.length : r.count,
    files: r.files,
    filesScanned: r.files_scanned,
    binarySkipped: r.binary_skipped,
    longLines: r.long_lines,
    truncated: r.truncated,
    matches: r.matches,
  };
}

/** `avfs grep --json`'s fields. */
export const grepJson = (r: GrepResult) => ({
  vault: r.vault,
  pattern: r.pattern,
  path: r.path,
  count: r.count,
  files: r.files,
  files_scanned: r.filesScanned,
  binary_skipped: r.binarySkipped,
  long_lines: r.longLines,
  truncated: r.truncated,
  matches: r.matches,
});

// ---- search ----------------------------------------------------------------------------------

export const DEFAULT_SEARCH_LIMIT = 20;

export interface SearchParams {
  /** An FTS5 query (words, "a phrase", prefix*, a OR b, NEAR(…)). */
  query: string;
  /** Match the words as typed: FTS5 operators and punctuation lose their meaning. */
  literal?: boolean;
  /** At most this many results (default 20). */
  limit?: number;
  /** Only files at or below this path. */
  path?: string;
}

export interface SearchHit {
  path: string;
  /** bm25 relevance, higher is better. */
  score: number;
  /** Text around the best match, the matched terms between « and ». */
  snippet: string;
  size: number;
  /** Epoch ms. */
  mtime: number;
  hash: string;
}

export interface SearchResult {
  vault: string;
  /** The FTS5 query that ran. */
  query: string;
  path: string;
  count: number;
  /** More results exist beyond the limit. */
  truncated: boolean;
  /** Best first; a content held by several paths yields one hit per path. */
  hits: SearchHit[];
}

/** Full-text search over the current text files. Invalid query: INVALID_QUERY. */
export function search(fs: VaultFs, params: SearchParams): SearchResult {
  const query = params.literal ? literalQuery(params.query) : params.query;
  const scope = params.path === undefined ? '/' : fs.stat(params.path).path;
  const { hits, truncated } = searchText(fs.store, fs.row(), query, { limit: params.limit ?? DEFAULT_SEARCH_LIMIT, under: scope });
  return {
    vault: fs.name,
    query,
    path: scope,
    count: hits.length,
    truncated,
    hits: hits.map((h) => ({ path: h.path, score: h.score, snippet: h.snippet.replaceAll(HIT_START, '«').replaceAll(HIT_END, '»'), size: h.size, mtime: h.mtime, hash: h.hash })),
  };
}

/** A hit in the CLI's JSON (mtime as ISO 8601). */
export const searchHitJson = (h: SearchHit) => ({ path: h.path, score: h.score, snippet: h.snippet, size: h.size, mtime: isoTime(h.mtime), hash: h.hash });

/** `avfs search --json`'s fields. */
export const searchJson = (r: SearchResult) => ({ vault: r.vault, query: r.query, path: r.path, count: r.count, truncated: r.truncated, results: r.hits.map(searchHitJson) });

// ---- find ------------------------------------------------------------------------------------

/** find's parameters: the store's filters (FindFilter), with globs as text where it takes compiled patterns. */
export interface FindParams extends Omit<FindFilter, 'name' | 'path'> {
  /** The directory to search below, or a file to test (default `/`). */
  path?: string;
  /** Glob matched against entry names (`*.md`); never contains `/`. */
  name?: string;
  /** Like name, ignoring case. */
  iname?: string;
  /** Glob matched against whole vault paths, `**` crossing directories; relative to `path` unless absolute. */
  glob?: string;
}

export interface FindResult {
  vault: string;
  /** The start (canonical). */
  path: string;
  count: number;
  /** More entries match beyond the limit. */
  truncated: boolean;
  /** In path order. */
  entries: Entry[];
}

/** Entries at or below `path` passing every filter. */
export function find(fs: VaultFs, params: FindParams): FindResult {
  if (params.name !== undefined && params.iname !== undefined) throw new AvfsError('USAGE', 'give --name or --iname, not both');
  const nameGlob = params.name ?? params.iname;
  if (nameGlob?.includes('/')) throw new AvfsError('INVALID_ARGUMENT', `--name matches names, which never contain '/': use --glob for paths`, { value: nameGlob });
  const name = nameGlob === undefined ? undefined : compileGlob(nameGlob, { nocase: params.iname !== undefined });
  const root = fs.stat(params.path ?? '/');
  // A relative glob is relative to the start directory.
  const glob = params.glob === undefined || params.glob.startsWith('/') ? params.glob : joinPath(escapeGlob(root.type === 'd' ? root.path : dirname(root.path)), params.glob);
  const { entries, truncated } = findEntries(fs.store, fs.row(), root, {
    type: params.type,
    name,
    path: glob === undefined ? undefined : compileGlob(glob),
    minSize: params.minSize,
    maxSize: params.maxSize,
    newerThan: params.newerThan,
    maxDepth: params.maxDepth,
    tags: params.tags,
    meta: params.meta,
    limit: params.limit,
  });
  return { vault: fs.name, path: root.path, count: entries.length, truncated, entries };
}
