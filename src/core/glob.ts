import { AvfsError } from '../errors.js';

/**
 * Shell-style globs compiled to anchored regular expressions (pure; no filesystem access).
 *
 * Syntax:
 *  - `*`      any run of characters except `/`
 *  - `**`     any run of characters including `/`; as a whole segment (`a/**\/b`, `**\/x`, `x/**`)
 *             it also matches zero directories
 *  - `?`      one character except `/`
 *  - `[abc]`, `[a-z]`, `[!a-z]` / `[^a-z]`   one character from (or not from) a set, never `/`;
 *             inside a set, the POSIX classes `[:alpha:]` `[:digit:]` `[:alnum:]` `[:upper:]`
 *             `[:lower:]` `[:space:]` `[:blank:]` `[:punct:]` `[:xdigit:]` `[:cntrl:]` `[:print:]`
 *             `[:graph:]` (ASCII meanings) — `[[:alpha:]_]`
 *  - `{a,b}`  any of the comma-separated alternatives (which may themselves hold globs, and nest)
 *  - `\x`     the character x literally
 * An unclosed `[` or `{` is taken literally, as bash does. A reversed range (`[z-a]`) or an
 * unknown POSIX class (`[[:nope:]]`) is INVALID_PATTERN.
 *
 * With `words`, the subject is a word (a program name, an argument, a variable name), not a path:
 * `/` is an ordinary character, so `*`, `**` and `?` and classes match it too (the proxy policy's
 * patterns; ARCHITECTURE.md "Proxy").
 */
export interface GlobOptions {
  /** Case-insensitive match (find --iname). */
  nocase?: boolean;
  /** Match a word, not a path: `/` is an ordinary character (`*` is any run, `?` any character). */
  words?: boolean;
}

// `/` needs no escape in a RegExp built from a string; leaving it bare keeps it one character.
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|]/g;
const escapeRegex = (s: string) => s.replace(REGEX_SPECIAL, '\\$&');

/**
 * What is wrong with a pattern the RegExp engine rejected, in the pattern's own terms: V8 says
 * `Invalid regular expression: /<compiled source>/<flags>: Unterminated group`, and the source it
 * quotes is ours (a glob's translation, our flags), not what the user wrote; keep only the reason.
 */
export function regexProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/**
 * A RegExp, compiled now. V8 parses a pattern when the RegExp is constructed but compiles it on
 * first use, and only then rejects one too large for it ("Regular expression too large", from
 * about 32k plain characters): compiled here, that is an error of the pattern (caught where the
 * pattern is checked), never a failure halfway through the search that uses it.
 */
export function compileRegExp(source: string, flags: string): RegExp {
  const re = new RegExp(source, flags);
  re.test('');
  re.lastIndex = 0; // a `g` or `y` RegExp starts where the next caller expects
  return re;
}

/**
 * Whether `err` refused a pattern for its size alone: V8's "Regular expression too large"
 * (compileRegExp) or "Stack overflow" (groups nested too deep), or JS's own RangeError when
 * compiling nested braces ran out of stack.
 */
export const isRegexTooLarge = (err: unknown): boolean => err instanceof RangeError || (err instanceof Error && /(Regular expression too large|Stack overflow)$/.test(err.message));

/** A user's pattern quoted for a message: whole when short, else its start and its length (a message never echoes megabytes). */
export function quotePattern(pattern: string): string {
  const SHOWN = 80;
  return pattern.length <= SHOWN ? JSON.stringify(pattern) : `${JSON.stringify(pattern.slice(0, SHOWN))}… (${pattern.length} characters)`;
}

/**
 * INVALID_PATTERN for a pattern of `kind` (glob, regular expression, …) that the RegExp engine
 * rejected with `err`. A pattern rejected for its size alone carries `reason: 'too_large'` and its
 * length instead of itself.
 */
export function invalidPattern(kind: string, pattern: string, err: unknown, data: Record<string, unknown> = { pattern }): AvfsError {
  if (isRegexTooLarge(err)) {
    return new AvfsError('INVALID_PATTERN', `${kind} ${quotePattern(pattern)} is too large to compile (the limit is about 32,000 characters of plain text, less with nested groups)`, { reason: 'too_large', length: pattern.length });
  }
  return new AvfsError('INVALID_PATTERN', `invalid ${kind} ${quotePattern(pattern)}: ${regexProblem(err)}`, data);
}

export function globToRegExp(glob: string, options: GlobOptions = {}): RegExp {
  if (typeof glob !== 'string' || glob.length === 0) throw new AvfsError('INVALID_ARGUMENT', 'empty glob pattern', { pattern: glob });
  if (glob.includes('\0')) throw new AvfsError('INVALID_ARGUMENT', 'glob pattern contains a NUL byte', { pattern: glob });
  try {
    return compileRegExp(`^${compile(glob, 0, glob.length, options.words === true)}$`, options.nocase ? 'iu' : 'u');
  } catch (err) {
    // An unknown POSIX class (compile), or what compile leaves to the RegExp engine to reject: a
    // reversed range such as `[z-a]`, or a glob too large to compile.
    throw invalidPattern('glob pattern', glob, err);
  }
}

/** Escapes every glob character in `s`, so it matches only itself (e.g. a directory prefix). */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]{}\\,]/g, '\\$&');
}

/** True when `s` holds any glob syntax (otherwise it can be compared as a plain string). */
export function hasGlobSyntax(s: string): boolean {
  return /[*?[{\\]/.test(s);
}

/** Compiles glob[start, end) to regex source; `words`: `/` is an ordinary character. */
function compile(glob: string, start: number, end: number, words: boolean): string {
  let out = '';
  let i = start;
  while (i < end) {
    const c = glob[i]!;
    if (c === '\\') {
      // A trailing backslash is a literal backslash.
      out += escapeRegex(i + 1 < end ? glob[i + 1]! : '\\');
      i += 2;
    } else if (c === '*') {
      let j = i;
      while (j < end && glob[j] === '*') j++;
      if (words) {
        out += '.*';
      } else if (j - i >= 2) {
        const segStart = i === start || glob[i - 1] === '/';
        const segEnd = j === end || glob[j] === '/';
        if (segStart && segEnd && j < end) {
          // `**/` : zero or more whole directories.
          out += '(?:[^/]*/)*';
          j++; // the slash is part of the group
        } else if (segStart && segEnd && i > start) {
          // trailing `/**`: the directory itself (drop the slash already emitted) or anything below.
          out = out.slice(0, -1) + '(?:/.*)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
      i = j;
    } else if (c === '?') {
      out += words ? '.' : '[^/]';
      i++;
    } else if (c === '[') {
      const close = classEnd(glob, i, end);
      if (close === -1) {
        out += '\\[';
        i++;
        continue;
      }
      out += compileClass(glob.slice(i + 1, close), words);
      i = close + 1;
    } else if (c === '{') {
      const close = braceEnd(glob, i, end);
      if (close === -1) {
        out += '\\{';
        i++;
        continue;
      }
      const alternatives = splitTopLevel(glob, i + 1, close).map(([s, e]) => compile(glob, s, e, words));
      out += `(?:${alternatives.join('|')})`;
      i = close + 1;
    } else {
      out += escapeRegex(c);
      i++;
    }
  }
  return out;
}

/** POSIX character classes (`[[:alpha:]]`) as RegExp class contents, ASCII meanings. */
const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: 'A-Za-z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  cntrl: '\\x00-\\x1f\\x7f',
  print: ' -~',
  graph: '!-~',
};

/** Length of the POSIX class `[:name:]` starting at glob[i], or 0 when there is none. */
function posixClassLength(glob: string, i: number, end: number): number {
  if (glob[i] !== '[' || glob[i + 1] !== ':') return 0;
  const m = /^\[:([a-z]*):\]/.exec(glob.slice(i, end));
  return m ? m[0].length : 0;
}

/** Index of the `]` closing the class opened at `open`, or -1. A `]` right after `[` or `[!` is literal. */
function classEnd(glob: string, open: number, end: number): number {
  let i = open + 1;
  if (glob[i] === '!' || glob[i] === '^') i++;
  if (glob[i] === ']') i++;
  for (; i < end; i++) {
    const posix = posixClassLength(glob, i, end);
    if (posix > 0) i += posix - 1;
    else if (glob[i] === '\\') i++;
    else if (glob[i] === ']') return i;
  }
  return -1;
}

function compileClass(body: string, words: boolean): string {
  let negate = false;
  let i = 0;
  if (body[0] === '!' || body[0] === '^') {
    negate = true;
    i = 1;
  }
  let set = '';
  let afterPosix = false; // `[[:digit:]-x]`: a `-` after a POSIX class starts no range
  for (; i < body.length; i++) {
    const c = body[i]!;
    const wasPosix = afterPosix;
    afterPosix = false;
    const posix = posixClassLength(body, i, body.length);
    if (posix > 0) {
      const name = body.slice(i + 2, i + posix - 2);
      const members = POSIX_CLASSES[name];
      if (members === undefined) throw new Error(`unknown character class [:${name}:] (known: ${Object.keys(POSIX_CLASSES).join(', ')})`);
      set += members;
      i += posix - 1;
      afterPosix = true;
    } else if (c === '\\' && i + 1 < body.length) {
      const next = body[++i]!;
      set += /[\\\]^[-]/.test(next) ? '\\' + next : next;
    } else if (c === '-' && set.length > 0 && i + 1 < body.length && !wasPosix) {
      set += '-';
    } else {
      set += /[\\\]^[-]/.test(c) ? '\\' + c : c;
    }
  }
  if (words) return negate ? `[^${set}]` : `[${set}]`;
  // In a path a class never matches the separator, negated or not.
  return negate ? `[^/${set}]` : `(?:(?!/)[${set}])`;
}

/** Index of the `}` closing the brace opened at `open` (nesting and escapes respected), or -1. */
function braceEnd(glob: string, open: number, end: number): number {
  let depth = 0;
  for (let i = open; i < end; i++) {
    const c = glob[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const close = classEnd(glob, i, end);
      if (close !== -1) i = close;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Splits glob[start, end) at commas that are not nested in braces or classes. */
function splitTopLevel(glob: string, start: number, end: number): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  let depth = 0;
  let from = start;
  for (let i = start; i < end; i++) {
    const c = glob[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const close = classEnd(glob, i, end);
      if (close !== -1) i = close;
    } else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push([from, i]);
      from = i + 1;
    }
  }
  parts.push([from, end]);
  return parts;
}
