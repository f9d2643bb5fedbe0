import { isUtf8 } from 'node:buffer';

/**
 * Text or binary, decided the way git and grep do: by looking at the first bytes only, so the
 * decision is cheap on the hot write path and identical for indexing (search) and scanning (grep).
 * Content is binary when its first SNIFF_BYTES hold a NUL byte or are not valid UTF-8 (a multi-byte
 * character cut by the end of the sample does not count).
 */
export const SNIFF_BYTES = 8192;

/** `data` is the content or at least its first SNIFF_BYTES; `size` the whole content's. */
export function looksBinary(data: Uint8Array, size = data.length): boolean {
  const sample = data.length > SNIFF_BYTES ? data.subarray(0, SNIFF_BYTES) : data;
  if (sample.includes(0)) return true;
  const complete = sample.length === size;
  return !isUtf8(complete ? sample : sample.subarray(0, sample.length - incompleteTail(sample)));
}

/**
 * How many bytes at the end of `buf` form the start of a UTF-8 sequence that continues past it
 * (0 when the buffer ends on a character boundary). Only the last three bytes can be such a start.
 */
export function incompleteTail(buf: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * A fixed string as a line test, without a RegExp (which cannot hold one of more than about 32k
 * characters): `test` says whether `subject` contains it, ignoring case by comparing lower case.
 */
export class LiteralText {
  private readonly needle: string;

  constructor(
    readonly text: string,
    private readonly ignoreCase = false,
  ) {
    this.needle = ignoreCase ? text.toLowerCase() : text;
  }

  test(subject: string): boolean {
    return (this.ignoreCase ? subject.toLowerCase() : subject).includes(this.needle);
  }
}
