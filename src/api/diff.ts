import type { TreeItem } from '../core/diff.js';
import { KIND, formatMode } from '../core/entry-types.js';
import type { FileDiff, PathsDiff, TreeDiff, VersionDiff } from '../store/compare.js';

/**
 * `avfs diff --json`'s document, for the CLI and MCP's `diff` alike: one owner of the shape, so
 * that neither reports the store's records (type letters, decimal modes) in its place.
 */

/** The JSON shape of one changed path (all diff modes). Line fields appear when a line diff was computed. */
export function fileDiffJson(f: FileDiff) {
  const side = (i: TreeItem | null) => ({
    type: i ? KIND[i.type] : null,
    size: i ? (i.type === 'd' ? 0 : i.size) : null,
    mode: i ? formatMode(i.mode) : null,
    hash: i?.hash ?? null,
    target: i?.target ?? null,
  });
  const o = side(f.old);
  const n = side(f.new);
  return {
    path: f.path,
    kind: f.kind,
    type: n.type ?? o.type,
    old_path: f.old_path,
    new_path: f.new_path,
    old_type: o.type,
    new_type: n.type,
    old_size: o.size,
    new_size: n.size,
    old_mode: o.mode,
    new_mode: n.mode,
    old_hash: o.hash,
    new_hash: n.hash,
    ...(o.target !== null || n.target !== null ? { old_target: o.target, new_target: n.target } : {}),
    content_changed: f.content_changed,
    mode_changed: f.mode_changed,
    type_changed: f.type_changed,
    ...(f.hunks !== undefined
      ? { binary: f.binary!, too_large: f.too_large!, additions: f.additions!, deletions: f.deletions!, hunks: f.hunks }
      : {}),
  };
}

export type FileJson = ReturnType<typeof fileDiffJson>;

export interface DiffJson {
  [key: string]: unknown;
  vault: string;
  mode: 'versions' | 'paths' | 'tree';
  from: string;
  to: string;
  identical: boolean;
  files: FileJson[];
  summary: { added: number; modified: number; deleted: number; additions: number | null; deletions: number | null };
  patch: boolean;
}

function summarize(files: FileJson[], patch: boolean): DiffJson['summary'] {
  const s = { added: 0, modified: 0, deleted: 0, additions: patch ? 0 : null, deletions: patch ? 0 : null } as DiffJson['summary'];
  for (const f of files) {
    if (f.kind !== 'unchanged') s[f.kind]++;
    if (patch) {
      s.additions! += f.additions ?? 0;
      s.deletions! += f.deletions ?? 0;
    }
  }
  return s;
}

/** `avfs diff --checkpoint/--vault` (a tree diff); `patch`: it was computed with line hunks. */
export function treeDiffJson(vault: string, r: TreeDiff, patch: boolean): DiffJson {
  const files = r.files.map(fileDiffJson);
  return { vault, mode: 'tree', from: r.from, to: r.to, under: r.under, identical: files.length === 0, files, summary: summarize(files, patch), patch };
}

/** `avfs diff <a> <b>` (two paths, always with line hunks). */
export function pathsDiffJson(vault: string, r: PathsDiff): DiffJson {
  const files = r.files.map(fileDiffJson);
  return { vault, mode: 'paths', from: r.from, to: r.to, directories: r.directories, identical: files.length === 0, files, summary: summarize(files, true), patch: true };
}

/** `avfs diff <path>` (two versions of a path, always with line hunks). */
export function versionDiffJson(vault: string, r: VersionDiff): DiffJson {
  const files = r.file.kind === 'unchanged' ? [] : [fileDiffJson(r.file)];
  return {
    vault,
    mode: 'versions',
    path: r.path,
    from: r.from_version === null ? '(none)' : `v${r.from_version}`,
    to: `v${r.to_version}`,
    from_version: r.from_version,
    to_version: r.to_version,
    identical: files.length === 0,
    files,
    summary: summarize(files, true),
    patch: true,
  };
}
