/**
 * Host names are bytes; vault paths are text. These tell the two apart: a name that is not valid
 * UTF-8 has no exact vault path (decoding it would turn each bad byte into U+FFFD and merge it
 * with a name that really holds U+FFFD), so it is shown escaped instead.
 */
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of `raw` when it is valid UTF-8, else undefined. */
export function decodeUtf8(raw: Uint8Array): string | undefined {
  try {
    return strict.decode(raw);
  } catch {
    return undefined;
  }
}

/** `raw` as readable text: valid UTF-8 as is, every other byte as `\xNN`, a backslash as `\\`. */
export function escapeBytes(raw: Uint8Array): string {
  let out = '';
  for (let i = 0; i < raw.length; ) {
    const length = sequenceLength(raw, i);
    if (length === 0) {
      out += `\\x${raw[i]!.toString(16).padStart(2, '0')}`;
      i++;
      continue;
    }
    const text = strict.decode(raw.subarray(i, i + length));
    out += text === '\\' ? '\\\\' : text;
    i += length;
  }
  return out;
}

/** The length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function sequenceLength(raw: Uint8Array, i: number): number {
  const lead = raw[i]!;
  const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
  if (length <= 1 || i + length > raw.length) return length <= 1 ? length : 0;
  return decodeUtf8(raw.subarray(i, i + length)) === undefined ? 0 : length;
}

/** A surrogate code unit without its pair: a JS string holding one has no UTF-8 form (encoding writes U+FFFD). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` is well-formed Unicode, so that it survives being stored as UTF-8 unchanged. */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
