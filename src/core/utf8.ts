/**
 * Host names are bytes; vault paths are text. These tell the two apart: a name that is not valid
 * UTF-8 has no exact vault path (decoding it would turn each bad byte into U+FFFD and merge it
 * with a name that really holds U+FFFD), so it is shown escaped instead.
 */
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether `data` survives a JSON round trip as text: valid UTF-8 with no NUL (else it is sent as base64). */
export function isUtf8Text(data: Uint8Array): boolean {
  return !data.includes(0) && decodeUtf8(data) !== undefined;
}

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
      out += hexByte(raw[i]!);
      i++;
      continue;
    }
    const text = strict.decode(raw.subarray(i, i + length));
    out += text === '\\' ? '\\\\' : text;
    i += length;
  }
  return out;
}

const hexByte = (byte: number) => `\\x${byte.toString(16).padStart(2, '0')}`;

/**
 * Characters a terminal acts on instead of showing, so that a name holding them could forge
 * lines of a report or send the terminal commands: C0 controls (newline, carriage return, escape),
 * DEL, C1 controls (U+009B starts a command on some terminals), the line and paragraph separators,
 * and the bidirectional controls that reorder the text around them. And characters that show as
 * nothing, so that two different names look the same (`a.txt` and `a\u200b.txt`) or a name hides
 * text: soft hyphen, Hangul fillers, Mongolian vowel separator, zero-width space, word joiner and
 * the invisible operators, zero-width no-break space (BOM), interlinear annotation marks and the
 * tag characters. Zero-width joiner and non-joiner stay: scripts and emoji sequences need them.
 * And the backslash, which starts an escape.
 */
const CONTROL_CHARS = String.raw`\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\u00ad\u115f\u1160\u180e\u200b\u2060-\u2064\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}`;
const CONTROLS = new RegExp(`[${CONTROL_CHARS}]`, 'gu');
const UNSHOWABLE = new RegExp(String.raw`[\\${CONTROL_CHARS}]`, 'gu');
const utf8 = new TextEncoder();

/**
 * A name (or any text from the vault) as a person's terminal should show it: those characters as
 * `\xNN`, one per UTF-8 byte (the form escapeBytes gives a byte that is not UTF-8), a backslash as
 * `\\`, everything else as is. Every human printer of a path uses it; JSON never does (it is exact).
 * `backslash: false` leaves backslashes alone, for a message whose names are already escaped
 * (escapeBytes) or that quotes a pattern.
 */
export function printable(text: string, options: { backslash?: boolean } = {}): string {
  const pattern = options.backslash === false ? CONTROLS : UNSHOWABLE;
  return text.replace(pattern, (ch) => (ch === '\\' ? '\\\\' : [...utf8.encode(ch)].map(hexByte).join('')));
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

/** The NUL-terminated strings of `raw` (/proc/self/cmdline, /proc/self/environ), as bytes. */
export function nulSeparated(raw: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let start = 0; start < raw.length; ) {
    const end = raw.indexOf(0, start);
    parts.push(raw.subarray(start, end === -1 ? raw.length : end));
    start = end === -1 ? raw.length : end + 1;
  }
  return parts;
}
