import { devMajor, devMinor, formatMode, KIND } from '../core/entry-types.js';
import type { Entry } from '../store/entries.js';
import { parseDetail, type VersionRecord } from '../store/history.js';
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
    mtime: new Date(e.mtime).toISOString(),
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
    mtime: v.mtime === null ? null : new Date(v.mtime).toISOString(),
    at: new Date(v.at).toISOString(),
    source: v.source,
    exec_id: v.exec_id,
    detail: v.detail ? parseDetail(v) : null,
    vault: v.vault,
  };
}

export type VersionJson = ReturnType<typeof versionJson>;

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
