import { z } from 'zod/v3';
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { AvfsError } from '../errors.js';
import type { AVFS } from '../sdk/index.js';
import type { EntryType } from '../core/entry-types.js';
import { checkpointJson, checkpointSaveJson, contentJson, entryJson, forkJson, mergeJson, mkdirJson, restoreJson, rmJson, treeJson, vaultListJson, versionJson, writeJson, type CheckpointRow, type MergeReport, type RestoreResult, type TreeDiff, type VaultSummary, type VersionDiff, type VersionRecord } from '../api/json.js';
import { treeDiffJson, versionDiffJson } from '../api/diff.js';
import { grepJson, searchHitJson } from '../api/search.js';
import { snake } from '../api/case.js';
import { MAX_TIMER_MS } from '../core/units.js';
import { WITHIN_ROOT, type ExecTightening } from './confine.js';
import { normalizePath } from '../core/paths.js';
import { TEXT, type ToolData } from './result.js';

/**
 * The tools `avfs mcp` serves. Each is a thin call into the SDK (src/sdk/index.ts), with results
 * in the same snake_case shapes as the CLI's --json output (the api's entryJson, contentJson,
 * writeJson, mkdirJson, rmJson, versionJson, checkpointJson, checkpointSaveJson, restoreJson,
 * vaultListJson, forkJson, mergeJson, versionDiffJson, treeDiffJson, grepJson and the SDK
 * results' `raw`; `snake` gives a store record
 * the SDK passed through camelCased its CLI field names back), so an agent reads the same fields
 * whichever door it uses.
 */
export interface ToolSpec {
  name: string;
  title: string;
  description: string;
  input: z.ZodRawShape;
  /** Top-level fields of the structured result (besides `ok`); extra fields are allowed. */
  output: z.ZodRawShape;
  /** True when the tool changes a vault (left out by --read-only). */
  writes: boolean;
  /** True when it can remove or overwrite data (an MCP annotation hosts use to ask first). */
  destructive?: boolean;
  /** `avfs` works on the vault the call names, else the server's. */
  run(args: any, avfs: AVFS, signal?: AbortSignal): ToolData | Promise<ToolData>;
}

/** Files larger than this are not returned whole by `read` (an MCP message holds the whole content). */
export const READ_MAX_BYTES = 10 * 1024 * 1024;
/**
 * grep's and find's answers are bounded: one answer is held whole in memory and sent as one
 * message (twice: text and structured content), and the server answers nothing else while it
 * is built. Unbounded, a grep of a large vault answered 252 MB after 144 s, using 3.95 GB.
 * A line is cut at 4096 characters, so 1,000 lines stay under the 10 MiB a client takes.
 */
const GREP_LIMIT = 100;
const GREP_MAX_LIMIT = 1000;
const FIND_LIMIT = 1000;
const FIND_MAX_LIMIT = 10_000;
const TREE_LIMIT = 2000;
/**
 * A tree diff's files and the file text its patches read: a diff after an import of 60,000 files
 * answered one 107 MB message after 29 s, the server at 1.2 GB. The summary still counts them all.
 */
const DIFF_LIMIT = 500;
const DIFF_MAX_LIMIT = 5000;
const DIFF_PATCH_BYTES = 2 * 1024 * 1024;

const vault = z.string().optional().describe('vault to work on (default: the vault the server was started with, else the one in use)');
const path = (what = 'vault path') => z.string().describe(`${what}, absolute (e.g. /src/main.py)`);
const loose = (shape: z.ZodRawShape) => z.object(shape).passthrough();
const anyObject = z.object({}).passthrough();
const entry = loose({ path: z.string(), name: z.string(), type: z.string(), size: z.number(), mode: z.string(), mtime: z.string(), version: z.number() });
const vaultSummary = loose({
  name: z.string(),
  parent: z.string().nullable(),
  detached: z.boolean().describe('forked from a vault deleted since (parent is then null)'),
  ancestors: z.array(z.string()).describe('the live vaults it descends from, nearest first'),
  created_at: z.string(),
  files: z.number(),
  bytes: z.number(),
  forks: z.number(),
  current: z.boolean(),
});
const checkpoint = loose({ name: z.string(), created_at: z.string(), files: z.number(), bytes: z.number() });
const KIND_LETTER: Record<string, EntryType> = { file: 'f', directory: 'd', symlink: 'l' };
/**
 * A whole-number argument from `min` to `max` (at most the exact integer range): the input schema
 * refuses any other number (1e300, 2^53+1, a timer past setTimeout's), a USAGE error as the CLI's
 * option parsing gives, before the SDK sees it (which would say INVALID_ARGUMENT).
 */
const whole = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/**
 * Runs a listing with one more than `limit` to tell whether it was cut off, as the CLI's `truncated`
 * says: the first `limit` items, and whether there were more. No limit: all, never truncated.
 */
function upTo<T>(limit: number | undefined, list: (limit: number | undefined) => T[]): { items: T[]; truncated: boolean } {
  // One more, within the exact integer range the SDK takes (no list is that long).
  const items = list(limit === undefined ? undefined : Math.min(limit + 1, Number.MAX_SAFE_INTEGER));
  return limit !== undefined && items.length > limit ? { items: items.slice(0, limit), truncated: true } : { items, truncated: false };
}

/**
 * A write's content: text as is, base64 as bytes. Node's base64 decoder skips what is not base64 and stops at
 * misplaced padding, so a garbled argument would be stored as other bytes: refuse it instead.
 * Line breaks and spaces (wrapped base64) and missing padding are accepted.
 */
function decodeContent(content: string, encoding: 'utf8' | 'base64'): Buffer | string {
  // Text is passed as text: the store refuses text that has no UTF-8 form (a lone surrogate) with
  // INVALID_ARGUMENT, where Buffer.from would have stored U+FFFD in its place.
  if (encoding === 'utf8') return content;
  const compact = content.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.replace(/=+$/, '').length % 4 === 1 || (compact.includes('=') && compact.length % 4 !== 0)) {
    throw new AvfsError('INVALID_ARGUMENT', 'content is not base64 (encoding base64): use A-Z a-z 0-9 + / (= padding and line breaks optional), or encoding utf8 for text', { reason: 'invalid_base64' });
  }
  return Buffer.from(compact, 'base64');
}

const read: ToolSpec = {
  name: 'read',
  title: 'Read a file',
  description: `Read a file of the vault: UTF-8 text as is, other content as base64 (encoding tells which). Files over ${READ_MAX_BYTES / 1024 / 1024} MiB are refused (INVALID_ARGUMENT, reason too_large).`,
  input: { path: path(), vault },
  output: { vault: z.string(), path: z.string(), size: z.number(), encoding: z.enum(['utf8', 'base64']), content: z.string() },
  writes: false,
  run: (args, avfs) => {
    const e = avfs.stat(args.path);
    if (e.type === 'f' && e.size > READ_MAX_BYTES) {
      throw new AvfsError('INVALID_ARGUMENT', `${e.path} is ${e.size} bytes, more than read returns (${READ_MAX_BYTES}); use proxy_exec with head/sed, or grep`, { path: e.path, size: e.size, reason: 'too_large' });
    }
    const r = contentJson(avfs.vault, e, avfs.read(args.path));
    return { ...r, [TEXT]: r.encoding === 'utf8' ? r.content : `(${e.size} bytes of binary content; base64 in the structured result)` };
  },
};

const fileTools: ToolSpec[] = [
  {
    name: 'ls',
    title: 'List a directory',
    description: `List a directory of the vault (or show one file), names starting with "." included: name, type, size, mode, mtime, version of each entry; at most limit (default ${FIND_LIMIT}, at most ${FIND_MAX_LIMIT}) in name order, truncated says more are there: pass the last name as after for the next ones.`,
    input: {
      path: path().default('/'),
      limit: whole(1, FIND_MAX_LIMIT).default(FIND_LIMIT),
      after: z.string().min(1).refine((name) => !name.includes('/'), "an entry's name, without '/'").optional().describe('list only the names after this one (the last name of the previous page)'),
      vault,
    },
    output: { vault: z.string(), path: z.string(), count: z.number(), truncated: z.boolean().describe('more entries beyond limit'), entries: z.array(entry) },
    writes: false,
    // Bounded as find is: a directory of 100,000 files was one 58 MB message.
    run: (args, avfs) => {
      const { items, truncated } = upTo(args.limit, (limit) => avfs.ls(args.path, { limit, after: args.after }));
      return { vault: avfs.vault, path: avfs.stat(args.path).path, count: items.length, truncated, entries: items.map(entryJson) };
    },
  },
  read,
  {
    name: 'write',
    title: 'Write a file',
    description: 'Create or replace a file with the given content (a new version; the old one stays in the history). Missing parent directories are created unless parents is false.',
    input: {
      path: path(),
      content: z.string().describe('the new content'),
      encoding: z.enum(['utf8', 'base64']).default('utf8').describe('how content is encoded: utf8 text, or base64 for binary'),
      parents: z.boolean().default(true).describe('create missing parent directories'),
      vault,
    },
    output: { ...entry.shape, vault: z.string(), created: z.boolean().describe("the path's first version") },
    writes: true,
    destructive: true,
    run: (args, avfs) => writeJson(avfs.vault, avfs.write(args.path, decodeContent(args.content, args.encoding), { parents: args.parents })),
  },
  {
    name: 'edit',
    title: 'Edit a file',
    description:
      'Replace one exact string in a text file with another, in one transaction. old_string must occur exactly once (NOT_FOUND when absent; CONFLICT with the count when it occurs more often: add surrounding lines to make it unique, or set replace_all). When new_string equals old_string nothing is written: changed false, replacements 0.',
    input: {
      path: path(),
      old_string: z.string().min(1).describe('the exact text to replace, with enough context to be unique'),
      new_string: z.string().describe('the replacement text'),
      replace_all: z.boolean().default(false).describe('replace every occurrence instead of requiring one'),
      vault,
    },
    output: { vault: z.string(), path: z.string(), replacements: z.number(), changed: z.boolean(), entry },
    writes: true,
    destructive: true,
    run: (args, avfs) => {
      const r = avfs.edit(args.path, args.old_string, args.new_string, { replaceAll: args.replace_all });
      return { vault: avfs.vault, path: r.entry.path, replacements: r.replacements, changed: r.changed, entry: entryJson(r.entry) };
    },
  },
  {
    name: 'mkdir',
    title: 'Make a directory',
    description: 'Create a directory (with parents: also missing parents, and no error if it exists).',
    input: { path: path(), parents: z.boolean().default(false), vault },
    output: { ...entry.shape, vault: z.string(), entries: z.array(entry) },
    writes: true,
    run: (args, avfs) => mkdirJson(avfs.vault, [avfs.mkdir(args.path, { parents: args.parents })]),
  },
  {
    name: 'rm',
    title: 'Remove a path',
    description: 'Remove a file, symlink or directory (a non-empty directory needs recursive). History keeps the removed versions.',
    input: { path: path(), recursive: z.boolean().default(false), vault },
    output: { vault: z.string(), path: z.string(), removed: z.number().describe('entries removed (the path and everything below it)') },
    writes: true,
    destructive: true,
    run: (args, avfs) => rmJson(avfs.vault, avfs.rm(args.path, { recursive: args.recursive })),
  },
  {
    name: 'mv',
    title: 'Move or rename',
    description: 'Move or rename a path (a directory with everything below it).',
    input: { from: path('source path'), to: path('destination path'), vault },
    output: { vault: z.string(), from: z.string(), to: z.string(), moved: z.number() },
    writes: true,
    destructive: true,
    run: (args, avfs) => ({ vault: avfs.vault, ...avfs.mv(args.from, args.to) }),
  },
  {
    name: 'tree',
    title: 'Show a tree',
    description: `The tree below a directory, as \`avfs tree --json\`: tree is the directory's entry, each directory with its children in path order (depth 1 = its children only; a directory at the depth limit has no children but truncated: true, as its entries were not listed); files and directories count them. At most limit entries (default ${TREE_LIMIT}) in path order; truncated: true at the top says more were there, and on each directory that lost entries to it. For a flat list use find.`,
    input: {
      path: path().default('/'),
      depth: whole(1).optional().describe('levels below path to include'),
      limit: whole(1, FIND_MAX_LIMIT).default(TREE_LIMIT).describe('entries below path to include at most, in path order'),
      vault,
    },
    output: { vault: z.string(), path: z.string(), tree: anyObject, files: z.number(), directories: z.number(), truncated: z.literal(true).optional().describe('present when more entries were below path than limit: narrow path or depth, or raise limit') },
    writes: false,
    // Bounded as find is: 200k entries were one 125 MB message. The first `limit` in path order,
    // read without the rest of the tree (3 s and 300 MB for a 100k-file vault before).
    run: (args, avfs) => {
      const root = avfs.stat(args.path);
      const { entries, truncated } = root.type === 'd' ? avfs.treeUpTo(root.path, args.limit, args.depth) : { entries: [], truncated: [] };
      // The directories that lost entries to the limit say so (truncated), as one at the depth limit does.
      const cut = new Set(truncated);
      return { vault: avfs.vault, ...treeJson(root, entries, args.depth, 'depth', cut), ...(cut.size > 0 ? { truncated: true as const } : {}) };
    },
  },
];

const searchTools: ToolSpec[] = [
  {
    name: 'search',
    title: 'Full-text search',
    description: 'Full-text search (SQLite FTS5 syntax: words, "exact phrase", prefix*, AND/OR/NOT) over the current text files, best first, with a snippet around the match.',
    input: {
      query: z.string(),
      literal: z.boolean().default(false).describe('match the words as typed: FTS5 operators and punctuation (foo-bar, "a:b") lose their meaning'),
      path: path('only files below this path').optional(),
      limit: whole(1, 1000).default(20),
      vault,
    },
    output: {
      vault: z.string(),
      query: z.string(),
      path: z.string(),
      count: z.number(),
      truncated: z.boolean().describe('more hits exist beyond limit'),
      hits: z.array(loose({ path: z.string(), score: z.number(), snippet: z.string() })),
    },
    writes: false,
    run: (args, avfs) => {
      const scope = args.path === undefined ? '/' : avfs.stat(args.path).path;
      const { items, truncated } = upTo(args.limit, (limit) => avfs.search(args.query, { limit, path: scope, literal: args.literal }));
      return { vault: avfs.vault, query: args.query, path: scope, count: items.length, truncated, hits: items.map(searchHitJson) };
    },
  },
  {
    name: 'grep',
    title: 'Search lines',
    description: `Lines matching a regular expression (JavaScript syntax), or a fixed string, in the current text files below path: at most limit lines (default ${GREP_LIMIT}, at most ${GREP_MAX_LIMIT}), each cut at 4096 characters; truncated says more match (narrow path or include, or raise limit).`,
    input: {
      pattern: z.string(),
      path: path('file or directory to search').default('/'),
      ignore_case: z.boolean().default(false),
      fixed: z.boolean().default(false).describe('pattern is a literal string, not a regular expression'),
      include: z.string().optional().describe('only files whose name matches this glob, e.g. *.ts'),
      max_count: whole(1).optional().describe('at most this many matching lines per file'),
      limit: whole(1, GREP_MAX_LIMIT).default(GREP_LIMIT).describe('at most this many matching lines in all'),
      vault,
    },
    output: { vault: z.string(), pattern: z.string(), count: z.number(), truncated: z.boolean().describe('more lines match beyond limit'), matches: z.array(anyObject), files: z.array(z.string()), files_scanned: z.number() },
    writes: false,
    run: (args, avfs) => grepJson(avfs.grep(args.pattern, { path: args.path, ignoreCase: args.ignore_case, fixed: args.fixed, include: args.include, maxCount: args.max_count, limit: args.limit })),
  },
  {
    name: 'find',
    title: 'Find entries',
    description: `Entries below path by name glob (e.g. *.ts), type and depth: at most limit (default ${FIND_LIMIT}, at most ${FIND_MAX_LIMIT}); truncated says more match.`,
    input: {
      path: path('directory to search').default('/'),
      name: z.string().optional().describe('glob matched against the entry name, e.g. *.py'),
      type: z.enum(['file', 'directory', 'symlink']).optional(),
      // 0 tests the start itself (a file), as the CLI's --depth 0 and the SDK's maxDepth 0 do.
      max_depth: whole(0).optional(),
      limit: whole(1, FIND_MAX_LIMIT).default(FIND_LIMIT),
      vault,
    },
    output: { vault: z.string(), path: z.string(), count: z.number(), truncated: z.boolean().describe('more entries match beyond limit'), entries: z.array(entry) },
    writes: false,
    run: (args, avfs) => {
      const start = avfs.stat(args.path).path;
      const filter = { name: args.name, type: args.type ? KIND_LETTER[args.type] : undefined, maxDepth: args.max_depth };
      const { items, truncated } = upTo(args.limit, (limit) => avfs.find(start, { ...filter, limit }));
      return { vault: avfs.vault, path: start, count: items.length, truncated, entries: items.map(entryJson) };
    },
  },
];

const historyTools: ToolSpec[] = [
  {
    name: 'log',
    title: 'History',
    description: "A path's versions newest first, or without a path the vault's recent changes.",
    input: { path: path().optional(), limit: whole(1, 10000).default(100), vault },
    output: {
      vault: z.string(),
      path: z.string().nullable(),
      recursive: z.boolean(),
      current_version: z.number().nullable().describe("the path's version now (null: deleted, or no path)"),
      versions: z.array(anyObject),
      truncated: z.boolean().describe('older versions exist beyond limit'),
    },
    writes: false,
    run: (args, avfs) => {
      const { items, truncated } = upTo(args.limit, (limit) => avfs.log(args.path, { limit }));
      // The path history is kept under (a `link/` is the directory it leads to): its versions say it.
      const path = args.path === undefined ? null : (items[0]?.path ?? normalizePath(args.path));
      const current = path === null || !avfs.exists(path) ? null : avfs.lstat(path).version;
      return { vault: avfs.vault, path, recursive: false, current_version: current, versions: snake<VersionRecord[]>(items).map(versionJson), truncated };
    },
  },
  {
    name: 'diff',
    title: 'Diff',
    description:
      'With path: a line diff between two versions of that file (default: the latest change). Without path: the tree diff (with patches) between a checkpoint, or another vault, and the current state: the first `limit` changed files in path order (`truncated` when there are more; `summary` counts all of them, its additions and deletions only the lines of the files patched), with patches of up to 2 MiB of file text in all (files past it say too_large).',
    input: {
      path: path().optional(),
      from_version: whole(1).optional(),
      to_version: whole(1).optional(),
      checkpoint: z.string().optional().describe('compare the vault now against this checkpoint'),
      against_vault: z.string().optional().describe('compare the vault now against this vault (e.g. its parent)'),
      limit: whole(1, DIFF_MAX_LIMIT).default(DIFF_LIMIT).describe('tree diff: changed files listed at most'),
      vault,
    },
    output: {
      vault: z.string(),
      mode: z.enum(['versions', 'tree']),
      from: z.string(),
      to: z.string(),
      identical: z.boolean(),
      files: z.array(loose({ path: z.string(), kind: z.string(), type: z.string().nullable() })),
      summary: anyObject,
      patch: z.boolean(),
      truncated: z.boolean().describe('more files changed than listed (tree diff)'),
    },
    writes: false,
    run: (args, avfs) => {
      if (args.path !== undefined) {
        if (args.checkpoint !== undefined || args.against_vault !== undefined) throw new AvfsError('USAGE', 'give path (with versions) or checkpoint/against_vault, not both');
        return { ...versionDiffJson(avfs.vault, snake<VersionDiff>(avfs.diff(args.path, { from: args.from_version, to: args.to_version }))), truncated: false };
      }
      if ((args.checkpoint === undefined) === (args.against_vault === undefined)) throw new AvfsError('USAGE', 'give a path, or exactly one of checkpoint and against_vault');
      const from = args.checkpoint !== undefined ? { checkpoint: args.checkpoint as string } : { vault: args.against_vault as string };
      const all = treeDiffJson(avfs.vault, snake<TreeDiff>(avfs.diffTrees(from, { current: true }, { patch: true, patchBytes: DIFF_PATCH_BYTES })), true);
      return { ...all, files: all.files.slice(0, args.limit), truncated: all.files.length > args.limit };
    },
  },
  {
    name: 'checkpoint_save',
    title: 'Save a checkpoint',
    description: 'Name the current state of the whole vault, to restore later (O(1), copies nothing).',
    input: { name: z.string().optional().describe('default: a generated name'), message: z.string().optional(), vault },
    output: { vault: z.string(), checkpoint, duration_ms: z.number() },
    writes: true,
    run: (args, avfs) => {
      const started = performance.now();
      const c = snake<CheckpointRow>(avfs.checkpointSave(args.name, args.message));
      return checkpointSaveJson(avfs.vault, c, performance.now() - started);
    },
  },
  {
    name: 'checkpoint_restore',
    title: 'Restore a checkpoint',
    description: 'Make the vault hold exactly what it held at a checkpoint, in one transaction. The replaced state is saved as a checkpoint first (saved_before).',
    input: { name: z.string(), vault },
    output: { vault: z.string(), checkpoint: z.string(), added: z.number(), modified: z.number(), deleted: z.number(), changed: z.number(), duration_ms: z.number() },
    writes: true,
    destructive: true,
    run: (args, avfs) => {
      const started = performance.now();
      const r = snake<RestoreResult>(avfs.checkpointRestore(args.name));
      return restoreJson(avfs.vault, r, performance.now() - started);
    },
  },
  {
    name: 'checkpoint_list',
    title: 'List checkpoints',
    description: "The vault's checkpoints, newest first.",
    input: { vault },
    output: { vault: z.string(), checkpoints: z.array(checkpoint) },
    writes: false,
    run: (_args, avfs) => ({ vault: avfs.vault, checkpoints: snake<CheckpointRow[]>(avfs.checkpointList()).map(checkpointJson) }),
  },
];

const vaultTools: ToolSpec[] = [
  {
    name: 'vault_list',
    title: 'List vaults',
    description: 'Every vault of the avfs home, with its parent (for forks) and size.',
    input: {},
    output: { vaults: z.array(vaultSummary), current: z.string().nullable().describe('the vault in use in the home (`avfs vault use`), which is not always the server\'s') },
    writes: false,
    run: (_args, avfs) => vaultListJson(snake<VaultSummary[]>(avfs.listVaults())),
  },
  {
    name: 'vault_info',
    title: 'Vault info',
    description: 'One vault: parent, creation time, number of files, directories and bytes, forks.',
    input: { vault },
    output: { vault: vaultSummary },
    writes: false,
    run: (_args, avfs) => ({ vault: snake<VaultSummary>(avfs.vaultInfo()) }),
  },
  {
    name: 'vault_create',
    title: 'Create a vault',
    description: 'Create a new, empty vault.',
    input: { name: z.string().describe('the new vault\'s name') },
    output: { vault: vaultSummary },
    writes: true,
    run: (args, avfs) => ({ vault: snake<VaultSummary>(avfs.createVault(args.name)) }),
  },
  {
    name: 'vault_fork',
    title: 'Fork a vault',
    description: 'Fork a vault into a new one (O(1), copies nothing; the two are independent afterwards). Work on the fork by passing vault: <target> to other tools.',
    input: { target: z.string().describe('the new vault\'s name'), source: z.string().optional().describe('vault to fork (default: the server\'s vault)') },
    output: { vault: vaultSummary, from: z.string().describe('the vault forked'), duration_ms: z.number() },
    writes: true,
    run: (args, avfs) => {
      const source = args.source ?? avfs.vault;
      const started = performance.now();
      const fork = snake<VaultSummary>(avfs.forkVault(source, args.target));
      return forkJson(fork, source, performance.now() - started);
    },
  },
  {
    name: 'vault_merge',
    title: 'Merge a fork back',
    description:
      "Three-way merge of a vault's work into another (default: into its parent), exactly like `avfs vault merge`. With strategy fail (default) conflicts apply nothing and the error MERGE_CONFLICT carries every conflict (base/ours/theirs hashes, text hunks); ours/theirs pick a side per conflicting path; union writes conflict markers. dry_run reports what would happen and changes nothing. Returns `avfs vault merge --json`'s report: status (merged, up_to_date, conflicts), summary, changes, conflicts, checkpoint.",
    input: {
      source: z.string().describe('the vault whose work is merged (usually a fork)'),
      into: z.string().optional().describe('the vault to merge into (default: the parent of source)'),
      strategy: z.enum(['fail', 'ours', 'theirs', 'union']).optional(),
      dry_run: z.boolean().optional(),
    },
    output: {
      undo: z.boolean(),
      source: z.string(),
      target: z.string(),
      strategy: z.string(),
      dry_run: z.boolean(),
      status: z.enum(['merged', 'up_to_date', 'conflicts']),
      base: anyObject,
      checkpoint: z.string().nullable(),
      merge_id: z.number().nullable(),
      summary: anyObject,
      changes: z.array(anyObject),
      conflicts: z.array(anyObject),
    },
    writes: true,
    run: (args, avfs) => mergeJson(snake<MergeReport>(avfs.merge(args.source, { into: args.into, strategy: args.strategy, dryRun: args.dry_run }))),
  },
];

const proxyTools: ToolSpec[] = [
  {
    name: 'proxy_exec',
    title: 'Run a command in the sandbox',
    description:
      "Run a command through avfs's proxy boundary, exactly like `avfs proxy exec`: policy check (denied, or needing a person's approval → DENIED, nothing runs), optional checkpoint, then the command runs in a sandbox where the vault is its / (host system read-only, no network unless the policy allows host), with a timeout (exit_code 124, timed_out true). The policy is the person's: network, timeout_ms and checkpoint may only tighten it (asking more is DENIED). Returns stdout, stderr, exit_code, signal, timed_out, duration_ms, checkpoint, exec_id and changed_files. Give argv (a program and its arguments) or shell (a /bin/sh -c command line).",
    input: {
      argv: z.array(z.string()).min(1).optional().describe('the program and its arguments, e.g. ["python3", "/src/main.py"]'),
      shell: z.string().min(1).optional().describe('a shell command line run with /bin/sh -c, e.g. "make && make test"'),
      cwd: path('working directory inside the vault').optional(),
      timeout_ms: whole(1, MAX_TIMER_MS).optional().describe("kill the command after this many milliseconds, at most the policy's timeout_ms (default: the policy's, 300000)"),
      checkpoint: z.boolean().optional().describe('true: checkpoint before running even when the policy would not (makes proxy_undo possible); default: as the policy says'),
      env: z.record(z.string()).optional().describe('extra environment variables'),
      network: z.enum(['none', 'host']).optional().describe("the sandbox's network: none, or host when the policy allows it (default: the policy's, none)"),
      vault,
    },
    output: { exec_id: z.string(), exit_code: z.number(), timed_out: z.boolean(), stdout: z.string(), stderr: z.string(), changed_files: z.array(anyObject) },
    writes: true,
    destructive: true,
    // A cancelled call (notifications/cancelled) ends its command: the sandbox is killed.
    run: async (args, avfs, signal) => {
      if ((args.argv === undefined) === (args.shell === undefined)) throw new AvfsError('USAGE', 'give argv or shell (exactly one)');
      // The agent calls: it cannot approve its own command or loosen the policy (ExecRequest.agent).
      // A confined server's fork also keeps to its root's policy as it is now (confine.ts).
      const within = (args as { [WITHIN_ROOT]?: ExecTightening })[WITHIN_ROOT] ?? {};
      const options = { cwd: args.cwd, timeoutMs: args.timeout_ms, checkpoint: args.checkpoint, env: args.env, network: args.network, signal, agent: true, ...within };
      const r = args.shell !== undefined ? await avfs.proxyExec(args.shell, [], { ...options, shell: true }) : await avfs.proxyExec(args.argv[0], args.argv.slice(1), options);
      return r.raw;
    },
  },
  {
    name: 'proxy_undo',
    title: 'Undo an exec',
    description:
      "Put back what one proxy_exec changed, path by path (the exec needs the checkpoint taken before it). Refused with CONFLICT when someone else changed one of those paths since, unless force.",
    input: { exec_id: z.string().describe('the exec_id proxy_exec returned'), force: z.boolean().default(false), vault: vault.describe("the vault the exec ran in (default: the server's vault)") },
    output: { exec_id: z.string(), vault: z.string(), changed_files: z.array(anyObject) },
    writes: true,
    destructive: true,
    run: async (args, avfs) => (await avfs.proxyUndo(args.exec_id, { force: args.force })).raw,
  },
];

/** Every tool, in the order hosts list them. */
export const TOOLS: ToolSpec[] = [...vaultTools, ...fileTools, ...searchTools, ...historyTools, ...proxyTools];

export const annotationsOf = (t: ToolSpec): ToolAnnotations => ({
  title: t.title,
  readOnlyHint: !t.writes,
  destructiveHint: t.writes ? !!t.destructive : undefined,
  openWorldHint: t.name === 'proxy_exec',
});
