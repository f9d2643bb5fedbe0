/**
 * A set of byte ranges [start, end), kept sorted, disjoint and with touching ranges merged: which
 * bytes of an edited large file were written since it was stored (mount/working-copies.ts), so a
 * read knows where to look and a persist re-stores only the chunks around them (blobs.ts
 * putEditedContent). A database rewrites a few scattered pages per transaction, a log appends at
 * the end: a handful of ranges either way.
 */
export class ByteRanges {
  /** start0, end0, start1, end1, … in order. */
  #bounds: number[] = [];

  /** Adds [start, end), merging it with every range it overlaps or touches. */
  add(start: number, end: number): void {
    if (end <= start) return;
    const b = this.#bounds;
    // First range whose end reaches start, then every range whose start is at most end.
    let i = 0;
    while (i < b.length && b[i + 1]! < start) i += 2;
    let j = i;
    while (j < b.length && b[j]! <= end) j += 2;
    const merged = j > i ? [Math.min(start, b[i]!), Math.max(end, b[j - 1]!)] : [start, end];
    b.splice(i, j - i, ...merged);
  }

  /** Takes [start, end) out of the ranges (cutting those that straddle it). */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const kept: number[] = [];
    const b = this.#bounds;
    for (let i = 0; i < b.length; i += 2) {
      const [s, e] = [b[i]!, b[i + 1]!];
      if (e <= start || s >= end) kept.push(s, e);
      else {
        if (s < start) kept.push(s, start);
        if (e > end) kept.push(end, e);
      }
    }
    this.#bounds = kept;
  }

  /** Drops everything at or past `size`. */
  clip(size: number): void {
    const b = this.#bounds;
    let keep = 0;
    while (keep < b.length && b[keep]! < size) keep += 2;
    b.length = keep;
    if (keep > 0 && b[keep - 1]! > size) b[keep - 1] = size;
  }

  clear(): void {
    this.#bounds = [];
  }

  get empty(): boolean {
    return this.#bounds.length === 0;
  }

  /** The ranges, in order. */
  list(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.#bounds.length; i += 2) out.push([this.#bounds[i]!, this.#bounds[i + 1]!]);
    return out;
  }

  /**
   * [from, to) cut where ranges begin and end: each piece [start, end) with whether it lies in a
   * range. A binary search finds the first range, so a small read of a file with many costs little.
   */
  pieces(from: number, to: number): Array<{ start: number; end: number; inRange: boolean }> {
    const b = this.#bounds;
    const out: Array<{ start: number; end: number; inRange: boolean }> = [];
    let lo = 0;
    let hi = b.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[2 * mid + 1]! <= from) lo = mid + 1;
      else hi = mid;
    }
    let at = from;
    for (let i = 2 * lo; at < to; i += 2) {
      const start = i < b.length ? b[i]! : Infinity;
      if (at < start) {
        const end = Math.min(start, to);
        out.push({ start: at, end, inRange: false });
        at = end;
        if (at >= to) break;
      }
      const end = Math.min(b[i + 1]!, to);
      out.push({ start: at, end, inRange: true });
      at = end;
    }
    return out;
  }
}
