import { diffLibrary } from './diff.js';
import { pushAll } from './arrays.js';

/**
 * Line-level three-way merge (diff3), pure. Both sides are diffed against the base (Myers, from
 * the `diff` package, on interned line numbers), and the two lists of changed base ranges are
 * walked together: a stretch of the base that only one side changed takes that side's lines; one
 * that both changed takes them once when the two sides wrote the same lines, and is a conflict
 * otherwise. Changes that overlap or touch (one ends on the line where the other starts, or two
 * insertions at one place) are one stretch, as in git: two edits on neighbouring lines are a
 * conflict rather than silently interleaved.
 *
 * Lines keep their end-of-line bytes, so a missing newline at the end, CRLF endings and text
 * without any newline merge byte for byte.
 */

export interface Merge3Hunk {
  /** First line (1-based) of the conflicting stretch in each text, and its length in lines. */
  base_start: number;
  base_lines: number;
  ours_start: number;
  ours_lines: number;
  theirs_start: number;
  theirs_lines: number;
  /** The stretch's lines in each text, without their line ends. */
  base: string[];
  ours: string[];
  theirs: string[];
}

export interface Merge3Result {
  /** True when no stretch conflicts: `text` is then the merged text. */
  clean: boolean;
  /** The merged text; conflicting stretches are written with git-style markers. */
  text: string;
  conflicts: Merge3Hunk[];
}

export interface Merge3Options {
  /** Names written on the conflict markers (`<<<<<<< ours`, `>>>>>>> theirs`). */
  oursLabel?: string;
  theirsLabel?: string;
  /** Give up (return null) rather than spend longer than this on one side's diff. */
  timeoutMs?: number;
}

/** A changed stretch of one side: base lines [bStart, bEnd) became side lines [sStart, sEnd). */
interface Change {
  bStart: number;
  bEnd: number;
  sStart: number;
  sEnd: number;
}

/** Splits text into lines that keep their '\n' (the last one may have none). */
export function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

const stripEol = (line: string) => line.replace(/\r?\n$/, '');

/** The changed stretches turning `base` into `side` (both as interned line ids), in base order. */
function changes(base: number[], side: number[], timeoutMs: number): Change[] | null {
  const parts = diffLibrary().diffArrays(base, side, { timeout: timeoutMs });
  if (!parts) return null;
  const out: Change[] = [];
  let b = 0;
  let s = 0;
  for (const part of parts) {
    if (!part.added && !part.removed) {
      b += part.count;
      s += part.count;
      continue;
    }
    const last = out[out.length - 1];
    // A removal followed by an insertion (or the reverse) is one replaced stretch.
    const change = last && last.bEnd === b && last.sEnd === s ? last : { bStart: b, bEnd: b, sStart: s, sEnd: s };
    if (change !== last) out.push(change);
    if (part.removed) b = change.bEnd = b + part.count;
    else s = change.sEnd = s + part.count;
  }
  return out;
}

/** Three-way merge of `base` with the edits of `ours` and `theirs`; null when a diff ran out of time. */
export function merge3(base: string, ours: string, theirs: string, options: Merge3Options = {}): Merge3Result | null {
  if (ours === theirs || base === theirs) return { clean: true, text: ours, conflicts: [] };
  if (base === ours) return { clean: true, text: theirs, conflicts: [] };
  const ids = new Map<string, number>();
  const intern = (lines: string[]) => lines.map((l) => ids.get(l) ?? (ids.set(l, ids.size), ids.size - 1));
  const texts = { base: splitLines(base), ours: splitLines(ours), theirs: splitLines(theirs) };
  const timeout = options.timeoutMs ?? 5000;
  const baseIds = intern(texts.base);
  const oursChanges = changes(baseIds, intern(texts.ours), timeout);
  const theirsChanges = changes(baseIds, intern(texts.theirs), timeout);
  if (!oursChanges || !theirsChanges) return null;
  return walk(texts, oursChanges, theirsChanges, options);
}

type Side = 'ours' | 'theirs';

function walk(texts: Record<'base' | Side, string[]>, oursChanges: Change[], theirsChanges: Change[], options: Merge3Options): Merge3Result {
  const all = [...oursChanges.map((c) => ({ side: 'ours' as const, c })), ...theirsChanges.map((c) => ({ side: 'theirs' as const, c }))].sort(
    (x, y) => x.c.bStart - y.c.bStart || x.c.bEnd - y.c.bEnd,
  );
  const out: string[] = [];
  const conflicts: Merge3Hunk[] = [];
  // Per side, how far its line numbers have drifted from the base's after the changes passed so far.
  const delta = { ours: 0, theirs: 0 };
  let copied = 0; // base lines [0, copied) are in `out`
  for (let i = 0; i < all.length; ) {
    let lo = all[i]!.c.bStart;
    let hi = all[i]!.c.bEnd;
    const group = { ours: [] as Change[], theirs: [] as Change[] };
    for (; i < all.length && (group.ours.length + group.theirs.length === 0 || all[i]!.c.bStart <= hi); i++) {
      group[all[i]!.side].push(all[i]!.c);
      hi = Math.max(hi, all[i]!.c.bEnd);
      lo = Math.min(lo, all[i]!.c.bStart);
    }
    pushAll(out, texts.base.slice(copied, lo));
    copied = hi;
    const range = (side: Side): [number, number] => {
      const start = lo + delta[side];
      const last = group[side][group[side].length - 1];
      if (last) delta[side] = last.sEnd - last.bEnd;
      return [start, hi + delta[side]];
    };
    const [oLo, oHi] = range('ours');
    const [tLo, tHi] = range('theirs');
    const oursLines = texts.ours.slice(oLo, oHi);
    const theirsLines = texts.theirs.slice(tLo, tHi);
    if (group.theirs.length === 0 || (group.ours.length > 0 && sameLines(oursLines, theirsLines))) {
      pushAll(out, oursLines);
    } else if (group.ours.length === 0) {
      pushAll(out, theirsLines);
    } else {
      const baseLines = texts.base.slice(lo, hi);
      conflicts.push({
        base_start: lo + 1,
        base_lines: hi - lo,
        ours_start: oLo + 1,
        ours_lines: oHi - oLo,
        theirs_start: tLo + 1,
        theirs_lines: tHi - tLo,
        base: baseLines.map(stripEol),
        ours: oursLines.map(stripEol),
        theirs: theirsLines.map(stripEol),
      });
      pushAll(out, markers(oursLines, theirsLines, options));
    }
  }
  pushAll(out, texts.base.slice(copied));
  return { clean: conflicts.length === 0, text: out.join(''), conflicts };
}

const sameLines = (a: string[], b: string[]) => a.length === b.length && a.every((l, i) => l === b[i]);

/** A conflicting stretch written with git's markers; a side whose last line has no newline gets one, so markers start lines. */
function markers(ours: string[], theirs: string[], options: Merge3Options): string[] {
  const terminated = (lines: string[]) => lines.map((l, i) => (i === lines.length - 1 && !l.endsWith('\n') ? l + '\n' : l));
  return [
    `<<<<<<< ${options.oursLabel ?? 'ours'}\n`,
    ...terminated(ours),
    '=======\n',
    ...terminated(theirs),
    `>>>>>>> ${options.theirsLabel ?? 'theirs'}\n`,
  ];
}
