import { devMajor, devMinor, formatMode, KIND } from '../core/entry-types.js';
import { isUtf8Text } from '../core/utf8.js';
import { isoTime } from '../core/units.js';
import { AvfsError } from '../errors.js';
import type { Entry } from '../store/entries.js';
import type { VersionRecord } from '../store/history.js';
import { parseDetail } from '../store/version-columns.js';
import type { CheckpointRow, RestoreResult } from '../store/checkpoints.js';
import type { VaultSummary } from '../store/vaults.js';
import type { TreeDiff, VersionDiff } from '../store/compare.js';
import type { MergeReport } from '../store/merge.js';

/**
 * The CLI/JSON contract's shapes of the store's records (README "The JSON contract"): snake_case
 * fields, times as ISO 8601. The CLI prints them with --json, and MCP reports the same (it holds
 * the SDK's camelCase results: `snake` from ./case.js gives back a store record's own fields, and
 * these types name them).
 */

export type { CheckpointRow, Entry, MergeReport, RestoreResult, TreeDiff, VaultSummary, VersionDiff, VersionRecord };

/** The JSON shape of an entry, shared by every command that reports one. */
export function entryJson(e: Entry) {
  return {
    path: e.path,
    name: e.path === '/' ? '/' : e.path.slice(e.path.lastIndexOf('/') + 1),
    type: KIND[e.type],
    size: e.size,
    mode: formatMode(e.mode),
    mtime: isoTime(e.mtime),
    ...(e.hash ? { hash: e.hash } : {}),
    ...(e.target !== null ? { target: e.target } : {}),
    // Owner ids only when set (chown through a mount, import as root); unset means the user reading or mounting.
    ...(e.uid !== null && e.uid !== undefined ? { uid: e.uid } : {}),
    ...(e.gid !== null && e.gid !== undefined ? { gid: e.gid } : {}),
    ...(e.type === 'c' || e.type === 'b' ? { rdev: e.rdev, major: devMajor(e.rdev), minor: devMinor(e.rdev) } : {}),
    version: e.version,
  };
}
export type EntryJson = ReturnType<typeof entryJson>;

/** `avfs write --json` (and MCP's write): the entry written, `created` when it is the path's first version. */
export const writeJson = (vault: string, e: Entry) => ({ vault, ...entryJson(e), created: e.version === 1 });

/** `avfs mkdir --json` (and MCP's mkdir): the directories named, in order; with one, its fields also at the top level. */
export function mkdirJson(vault: string, made: Entry[]) {
  const entries = made.map(entryJson);
  return { vault, ...(entries.length === 1 ? entries[0] : {}), entries };
}

/** `avfs rm --json` (and MCP's rm): the path removed and how many entries went with it (`removed`, the paths below it first). */
export const rmJson = (vault: string, removed: string[]) => ({ vault, path: removed[removed.length - 1]!, removed: removed.length });

/** An entry of `tree`'s document: a directory with `children`. */
export interface TreeNode extends EntryJson {
  /** A directory's entries (empty: it has none, unless truncated); absent on files and on directories at the depth limit. */
  children?: TreeNode[];
  /** A directory not all of whose entries are listed: at the depth limit (none listed; it may hold some), or cut by a limit on entries (MCP's). */
  truncated?: true;
}

/** The deepest level tree nests: JSON.stringify (and the text rendering) recurse once per level. */
export const TREE_MAX_DEPTH = 1000;

/**
 * `avfs tree --json`'s fields (MCP's `tree` reports the same): `root` and, nested under it as
 * `children`, the entries below it (`below`: a flat walk in path order) down to `maxDepth`
 * levels, with the count of files (every non-directory) and directories. A tree deeper than
 * TREE_MAX_DEPTH without a depth that bounds it is INVALID_ARGUMENT, naming `depthOption`, the
 * caller's spelling of the depth.
 */
export function treeJson(root: Entry, below: Entry[], maxDepth: number | undefined, depthOption: string, cut: ReadonlySet<string> = new Set()): { path: string; tree: TreeNode; files: number; directories: number } {
  // A directory within the depth lists its entries (children: [] is an empty one); one at the
  // limit was not listed, which `truncated` says instead, and a file has none.
  // `cut`: directories some of whose entries were left out (MCP's limit), which say so too.
  const nodeOf = (e: Entry, depth: number): TreeNode =>
    e.type !== 'd' ? entryJson(e) : maxDepth !== undefined && depth >= maxDepth ? { ...entryJson(e), truncated: true } : { ...entryJson(e), children: [], ...(cut.has(e.path) ? { truncated: true as const } : {}) };
  const rootNode = nodeOf(root, 0);
  const nodes = new Map<string, TreeNode>([[root.path, rootNode]]);
  const baseDepth = root.path === '/' ? 0 : root.path.split('/').length - 1;
  let files = 0;
  let directories = 0;
  for (const e of below) {
    const depth = e.path.split('/').length - 1 - baseDepth;
    if (maxDepth !== undefined && depth > maxDepth) continue;
    if (depth > TREE_MAX_DEPTH) {
      throw new AvfsError('INVALID_ARGUMENT', `${root.path} is more than ${TREE_MAX_DEPTH} levels deep, more than tree shows (its nesting is the document's); pass ${depthOption} ${TREE_MAX_DEPTH} or less, or list it flat with find`, {
        path: root.path,
        max_depth: TREE_MAX_DEPTH,
      });
    }
    const node = nodeOf(e, depth);
    nodes.get(e.parent)?.children?.push(node);
    nodes.set(e.path, node);
    if (e.type === 'd') directories++;
    else files++;
  }
  return { path: root.path, tree: rootNode, files, directories };
}

/**
 * The JSON shape of one version (shared by log, revert and checkout). A version is the state the
 * path took by that change: `deleted` (and `type: null`) when the change removed it.
 */
export function versionJson(v: VersionRecord) {
  return {
    seq: v.id,
    version: v.version,
    path: v.path,
    op: v.op,
    type: v.type ? KIND[v.type] : null,
    deleted: v.type === null,
    size: v.size,
    mode: v.mode === null ? null : formatMode(v.mode),
    hash: v.hash,
    target: v.target,
    mtime: v.mtime === null ? null : isoTime(v.mtime),
    at: new Date(v.at).toISOString(),
    source: v.source,
    exec_id: v.exec_id,
    detail: v.detail ? parseDetail(v) : null,
    vault: v.vault,
    vault_deleted: v.vault_deleted,
  };
}

export type VersionJson = ReturnType<typeof versionJson>;

/** A `duration_ms` field: milliseconds to two decimals. */
const roundMs = (durationMs: number) => Math.round(durationMs * 100) / 100;

/** `avfs checkpoint restore --json` (and MCP's checkpoint_restore): the restore, how many paths it changed, and how long it took. */
export function restoreJson(vault: string, r: RestoreResult, durationMs: number) {
  return { vault, ...r, changed: r.added + r.modified + r.deleted, duration_ms: roundMs(durationMs) };
}

/** `avfs checkpoint save --json` (and MCP's checkpoint_save): the checkpoint saved, and how long it took. */
export const checkpointSaveJson = (vault: string, c: CheckpointRow, durationMs: number) => ({ vault, checkpoint: checkpointJson(c), duration_ms: roundMs(durationMs) });

/** `avfs vault list --json` (and MCP's vault_list): every vault, and the name of the one in use (the one listed `current`; null for none). */
export const vaultListJson = (vaults: VaultSummary[]) => ({ vaults, current: vaults.find((v) => v.current)?.name ?? null });

/** `avfs vault fork --json` (and MCP's vault_fork): the new vault, the vault it was forked `from`, and how long the fork took. */
export const forkJson = (vault: VaultSummary, from: string, durationMs: number) => ({ vault, from, duration_ms: roundMs(durationMs) });

/** `avfs vault merge --json` (and MCP's vault_merge): the merge report's fields at the top level (`undo` false: `--undo` reports an undo instead). */
export const mergeJson = (r: MergeReport) => ({ undo: false as const, ...r });

/**
 * `avfs cat --json` (and MCP's read): a file's content, as UTF-8 text when it survives a JSON
 * round trip as such, else base64 (`encoding` says which), with the version it is.
 */
export function contentJson(vault: string, file: { path: string; version: number; size: number | null; hash: string | null }, data: Buffer) {
  const text = isUtf8Text(data);
  return { vault, path: file.path, version: file.version, size: file.size, hash: file.hash, encoding: text ? ('utf8' as const) : ('base64' as const), content: data.toString(text ? 'utf8' : 'base64') };
}

/** The JSON shape of a checkpoint. `files`/`bytes` count regular files and their logical size. */
export function checkpointJson(c: CheckpointRow) {
  return {
    name: c.name,
    message: c.message,
    created_at: new Date(c.created_at).toISOString(),
    seq: c.seq,
    files: c.files,
    directories: c.directories,
    symlinks: c.symlinks,
    bytes: c.bytes,
    source: c.source,
    exec_id: c.exec_id,
  };
}
