import { createRequire } from 'node:module';

// The `diff` package is loaded on first use, not at start-up: every CLI command imports this
// module through its command file, and loading `diff` costs ~10 ms of a ~60 ms cold start.
type DiffLib = typeof import('diff');
let diffLib: DiffLib | undefined;
/** The `diff` package, loaded on first use (line diffs here, three-way merges in merge3.ts). */
export const diffLibrary = (): DiffLib => (diffLib ??= createRequire(import.meta.url)('diff') as DiffLib);

/**
 * Pure comparisons for history: a tree diff over two path-sorted listings, and a line diff of two
 * texts (Myers, from the `diff` package) returned as unified-diff hunks. No I/O here.
 */

import type { EntryType } from './entry-types.js';

export type ItemType = EntryType;

/** What a tree diff compares about one path. */
export interface TreeItem {
  path: string;
  type: ItemType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
}

export type ChangeKind = 'added' | 'deleted' | 'modified';

export interface TreeChange {
  path: string;
  kind: ChangeKind;
  old: TreeItem | null;
  new: TreeItem | null;
  /** Bytes, symlink target or type differ. */
  contentChanged: boolean;
  modeChanged: boolean;
  typeChanged: boolean;
}

const byPath = (a: TreeItem, b: TreeItem) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** True when two listings hold the same content for a path (type, bytes, symlink target). */
export function sameContent(a: TreeItem, b: TreeItem): boolean {
  return a.type === b.type && a.hash === b.hash && a.target === b.target && (a.type !== 'f' || a.size === b.size);
}

/**
 * Compares two listings in one merge pass. Inputs need not be sorted (a sorted copy is made, with
 * JS string order, so the caller's SQL collation does not matter). Times are ignored: a change is
 * a difference in type, content, symlink target or permission bits.
 */
export function diffTrees(from: readonly TreeItem[], to: readonly TreeItem[]): TreeChange[] {
  const a = [...from].sort(byPath);
  const b = [...to].sort(byPath);
  const out: TreeChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x.path < y.path)) {
      out.push({ path: x!.path, kind: 'deleted', old: x!, new: null, contentChanged: true, modeChanged: false, typeChanged: false });
      i++;
    } else if (x === undefined || y.path < x.path) {
      out.push({ path: y.path, kind: 'added', old: null, new: y, contentChanged: true, modeChanged: false, typeChanged: false });
      j++;
    } else {
      const contentChanged = !sameContent(x, y);
      // A symlink's mode carries no meaning (always 0777 here), so only compare it for files and directories.
      const modeChanged = x.type === y.type && x.type !== 'l' && (x.mode & 0o7777) !== (y.mode & 0o7777);
      if (contentChanged || modeChanged) {
        out.push({ path: x.path, kind: 'modified', old: x, new: y, contentChanged, modeChanged, typeChanged: x.type !== y.type });
      }
      i++;
      j++;
    }
  }
  return out;
}

/** Counts of a tree diff by kind. */
export function summarizeChanges(changes: readonly { kind: ChangeKind | 'unchanged' }[]): { added: number; modified: number; deleted: number } {
  const s = { added: 0, modified: 0, deleted: 0 };
  for (const c of changes) if (c.kind !== 'unchanged') s[c.kind]++;
  return s;
}

// ---- text ------------------------------------------------------------------------------------

/** How far into content to look for a NUL byte (git looks at the first 8,000 bytes too). */
const SNIFF_BYTES = 8000;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The content as text, or null when it is binary: a NUL byte near the start, or bytes that are not
 * valid UTF-8. Binary content is reported as differing, never line-diffed or printed.
 */
export function decodeText(data: Uint8Array): string | null {
  if (data.subarray(0, SNIFF_BYTES).includes(0)) return null;
  try {
    return utf8.decode(data);
  } catch {
    return null;
  }
}

/** One unified-diff hunk. Each line starts with ' ', '-', '+' or '\' ("\ No newline at end of file"). */
export interface Hunk {
  old_start: number;
  old_lines: number;
  new_start: number;
  new_lines: number;
  lines: string[];
}

export interface LineDiff {
  hunks: Hunk[];
  additions: number;
  deletions: number;
}

export interface LineDiffOptions {
  /** Unchanged lines shown around each change (default 3, like diff -u). */
  context?: number;
  /** Give up (return null) rather than spend longer than this on one pair of texts. */
  timeoutMs?: number;
}

/** A real line diff (Myers) of two texts as unified hunks; null if it exceeded its time budget. */
export function lineDiff(oldText: string, newText: string, options: LineDiffOptions = {}): LineDiff | null {
  if (oldText === newText) return { hunks: [], additions: 0, deletions: 0 };
  const patch = diffLibrary().structuredPatch('a', 'b', oldText, newText, undefined, undefined, {
    context: options.context ?? 3,
    timeout: options.timeoutMs ?? 5000,
  });
  if (!patch) return null;
  let additions = 0;
  let deletions = 0;
  const hunks = patch.hunks.map((h) => {
    for (const line of h.lines) {
      if (line.startsWith('+')) additions++;
      else if (line.startsWith('-')) deletions++;
    }
    // Unified format quirk: an empty side's start is the line before the hunk (`@@ -0,0 +1,2 @@`).
    return {
      old_start: h.oldLines === 0 ? h.oldStart - 1 : h.oldStart,
      old_lines: h.oldLines,
      new_start: h.newLines === 0 ? h.newStart - 1 : h.newStart,
      new_lines: h.newLines,
      lines: h.lines,
    };
  });
  return { hunks, additions, deletions };
}

/** The `@@ -a,b +c,d @@` header of a hunk, in the form diff(1) and git print. */
export function hunkHeader(h: Hunk): string {
  const range = (start: number, lines: number) => (lines === 1 ? `${start}` : `${start},${lines}`);
  return `@@ -${range(h.old_start, h.old_lines)} +${range(h.new_start, h.new_lines)} @@`;
}

/** Renders hunks as a unified diff with `---`/`+++` headers (null label = /dev/null). */
export function formatUnified(oldLabel: string | null, newLabel: string | null, hunks: readonly Hunk[]): string {
  const lines = [`--- ${oldLabel ?? '/dev/null'}`, `+++ ${newLabel ?? '/dev/null'}`];
  for (const h of hunks) lines.push(hunkHeader(h), ...h.lines);
  return lines.join('\n') + '\n';
}
