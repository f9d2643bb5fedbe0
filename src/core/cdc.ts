import { AvfsError } from '../errors.js';

/**
 * Content-defined chunking (FastCDC, Xia et al., USENIX ATC 2016), so that an insertion or a
 * deletion in a large file changes only the chunks around it: boundaries follow the bytes, not
 * their offsets, and re-synchronise shortly after an edit.
 *
 * The algorithm. A gear rolling hash runs over the bytes: `h = (h << 1) + GEAR[byte]`. Each shift
 * pushes old bytes out of the top, so bit k of `h` depends only on the last k+1 bytes and the
 * 32-bit hash is a rolling hash over a 32-byte window at the cost of one shift and one add. A
 * chunk ends after a byte where the top bits of `h` are all zero. Testing the top bits (rather
 * than the bottom ones) is the paper's "enhanced hash judgement": the tested bits depend on the
 * widest window, so a cut depends on 17 to 32 bytes of content instead of a handful.
 * - Cut-point skipping: the first `minSize` bytes of a chunk are not hashed at all (no cut can fall
 *   there), which both bounds the chunk size below and skips a quarter of the work at the defaults.
 * - Normalized chunking (the paper's level 2): up to `avgSize` the test uses log2(avg) + 2 bits (a
 *   cut is 4× less likely), after it log2(avg) − 2 bits (4× more likely). Sizes bunch up around
 *   the average instead of spreading geometrically, which keeps the number of tiny chunks (row
 *   overhead) and of huge ones (re-stored bytes per edit) down.
 * - A chunk is cut unconditionally at `maxSize`.
 *
 * Parameters: min 4 KiB, average 16 KiB, max 64 KiB. An edit re-stores about one to two average
 * chunks, and each chunk costs a row and a few bytes in its content's chunk list, so the average
 * trades re-stored bytes per edit against per-chunk overhead; `bench/cdc.js` measures 8, 16 and
 * 32 KiB on the 10 MB insertion workload. The max keeps a range read's worst case to one 64 KiB
 * chunk, as with the fixed chunks before.
 *
 * The gear table and the parameters decide every boundary. Changing either does not corrupt
 * anything (a content's chunk list is what is stored), but new versions of existing files would
 * stop sharing chunks with old ones, so treat them as a format constant.
 */
export const CDC_MIN_SIZE = 4 * 1024;
export const CDC_AVG_SIZE = 16 * 1024;
export const CDC_MAX_SIZE = 64 * 1024;

export interface CdcOptions {
  minSize?: number;
  /** A power of two. */
  avgSize?: number;
  maxSize?: number;
}

/** Seed of the gear table: the ASCII bytes of "avfs". */
const GEAR_SEED = 0x61766673;

/**
 * The 256 gear values, from splitmix32 (a Weyl sequence stepping by 0x9e3779b9, the 32-bit golden
 * ratio, each step passed through MurmurHash3's 32-bit finalizer), seeded with GEAR_SEED.
 * Generated rather than written out so that the table is reproducible from this description.
 */
function gearTable(seed: number): Int32Array {
  const table = new Int32Array(256);
  let state = seed | 0;
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
}

const GEAR = gearTable(GEAR_SEED);

/** A 32-bit mask of the top `bits` bits, as a signed int so `h & mask` stays a small integer. */
const topBits = (bits: number): number => (-1 << (32 - bits)) | 0;

interface CdcParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
  strictMask: number;
  looseMask: number;
}

function cdcParams(options: CdcOptions): CdcParams {
  const { minSize = CDC_MIN_SIZE, avgSize = CDC_AVG_SIZE, maxSize = CDC_MAX_SIZE } = options;
  const bits = Math.log2(avgSize);
  const ok =
    [minSize, avgSize, maxSize].every(Number.isSafeInteger) && minSize >= 1 && minSize < avgSize && avgSize < maxSize && maxSize <= 2 ** 30 && Number.isInteger(bits) && bits >= 6 && bits <= 28;
  if (!ok) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid chunk sizes: need 1 <= min < avg < max <= 1 GiB with avg a power of two from 64 B to 256 MiB (got ${minSize}/${avgSize}/${maxSize})`, {
      minSize,
      avgSize,
      maxSize,
    });
  }
  return { minSize, avgSize, maxSize, strictMask: topBits(bits + 2), looseMask: topBits(bits - 2) };
}

/** The gear hash where the last findCut reached its end without a cut. */
let rolledHash = 0;

/**
 * Rolls the gear hash `h` over data[from..end): returns the index just after the first cut (a hash
 * with no bit of `mask` set), or -1 at `end`, leaving the hash in rolledHash. One loop for both
 * masks, so that both of its exits are taken all the time while large contents are split and V8
 * optimizes it with type feedback for each. The two loops this replaced each had an exit that
 * splitting rarely takes; optimized code that meets one without feedback deoptimizes, and every
 * short push (an append re-cutting a file's last chunk) did, scanning at ~50 MiB/s instead of ~600.
 */
function findCut(data: Uint8Array, from: number, end: number, h: number, mask: number): number {
  for (let i = from; i < end; i++) {
    h = ((h << 1) + GEAR[data[i]!]!) | 0;
    if ((h & mask) === 0) return i + 1;
  }
  rolledHash = h;
  return -1;
}

/**
 * A streaming content-defined chunker: `push` buffers as they arrive, of any size, and get back
 * the chunks they complete; `finish` returns the tail. The boundaries do not depend on how the
 * content was split into buffers. A returned chunk is either a view of the buffer just pushed
 * (valid as long as that buffer is) or a new buffer; bytes kept between pushes are copied, so the
 * caller may reuse its buffer (FUSE does) as soon as `push` returns.
 */
export class ContentChunker {
  readonly #p: CdcParams;
  /** Gear hash of the current chunk's bytes from offset minSize on (0 before that). */
  #hash = 0;
  /** Bytes of the current chunk seen so far, including the pending ones. */
  #length = 0;
  /** Copies of the current chunk's bytes that arrived in earlier pushes. */
  #pending: Uint8Array[] = [];

  constructor(options: CdcOptions = {}) {
    this.#p = cdcParams(options);
  }

  /** Feeds the next bytes of the content; returns the chunks completed by them, in order. */
  push(data: Uint8Array): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    let start = 0;
    for (let cut = this.#scan(data, 0); cut >= 0; cut = this.#scan(data, cut)) {
      chunks.push(this.#withPending(data.subarray(start, cut)));
      start = cut;
    }
    if (start < data.length) this.#pending.push(new Uint8Array(data.subarray(start)));
    return chunks;
  }

  /** Ends the content: returns the last chunk (null when there is none) and resets the chunker. */
  finish(): Uint8Array | null {
    const tail = this.#pending.length > 0 ? this.#withPending(new Uint8Array(0)) : null;
    this.#hash = 0;
    this.#length = 0;
    return tail;
  }

  /** The current chunk: the pending bytes followed by `last`; empties the pending list. */
  #withPending(last: Uint8Array): Uint8Array {
    if (this.#pending.length === 0) return last;
    const parts = [...this.#pending, last];
    this.#pending = [];
    return Buffer.concat(parts);
  }

  /**
   * Continues the current chunk through data[from..]: returns the index just after the cut that
   * ends it (and starts a new chunk there), or -1 when data ends first (the state is kept).
   */
  #scan(data: Uint8Array, from: number): number {
    const { minSize, avgSize, maxSize, strictMask, looseMask } = this.#p;
    const end = data.length;
    const chunkStart = from - this.#length; // negative when the chunk began in an earlier push
    const maxEnd = chunkStart + maxSize;
    let i = Math.max(from, chunkStart + minSize);
    const strictEnd = Math.min(end, chunkStart + avgSize);
    if (i < strictEnd) {
      const cut = findCut(data, i, strictEnd, this.#hash, strictMask);
      if (cut >= 0) return this.#cutAt(cut);
      this.#hash = rolledHash;
      i = strictEnd;
    }
    const looseEnd = Math.min(end, maxEnd);
    if (i < looseEnd) {
      const cut = findCut(data, i, looseEnd, this.#hash, looseMask);
      if (cut >= 0) return this.#cutAt(cut);
      this.#hash = rolledHash;
      i = looseEnd;
    }
    if (i === maxEnd) return this.#cutAt(i);
    this.#length = end - chunkStart;
    return -1;
  }

  #cutAt(index: number): number {
    this.#hash = 0;
    this.#length = 0;
    return index;
  }
}

/**
 * Splits a whole content into content-defined chunks (views of `data`, except a copied last
 * chunk); the same boundaries as a ContentChunker fed the same bytes in any pieces.
 */
export function splitContent(data: Uint8Array, options: CdcOptions = {}): Uint8Array[] {
  const chunker = new ContentChunker(options);
  const chunks = chunker.push(data);
  const tail = chunker.finish();
  if (tail) chunks.push(tail);
  return chunks;
}
