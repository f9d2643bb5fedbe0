import { AvfsError } from '../errors.js';

/**
 * Shell-style globs, compiled to automata matched in linear time (pure; no filesystem access).
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

/** What a compiled glob answers: whether a whole name, path or word matches it. */
export interface Matcher {
  test(subject: string): boolean;
}

/**
 * The longest glob compiled. A glob is matched in time proportional to its length times the
 * subject's, so this bounds the work of one test; no real name, path or policy word needs more.
 */
export const MAX_GLOB_LENGTH = 32_768;

/**
 * Compiles a glob to a Matcher. It is not translated to a RegExp: a backtracking engine takes
 * time exponential in the number of stars on a subject that almost matches (`*a*a*a*a*b` against
 * 250 characters took 17 s), and the proxy policy matches globs against words the agent writes.
 * The glob is compiled to a nondeterministic automaton instead (Thompson's construction) and run
 * over the subject once, keeping every state it could be in: O(glob length × subject length).
 */
export function compileGlob(glob: string, options: GlobOptions = {}): Matcher {
  if (typeof glob !== 'string' || glob.length === 0) throw new AvfsError('INVALID_ARGUMENT', 'empty glob pattern', { pattern: glob });
  if (glob.includes('\0')) throw new AvfsError('INVALID_ARGUMENT', 'glob pattern contains a NUL byte', { pattern: glob });
  if (glob.length > MAX_GLOB_LENGTH) {
    throw new AvfsError('INVALID_PATTERN', `glob pattern ${quotePattern(glob)} is too large (the limit is ${MAX_GLOB_LENGTH.toLocaleString('en-US')} characters)`, { reason: 'too_large', length: glob.length });
  }
  const chars = Array.from(glob); // code points: a character outside the BMP is one, as a subject's is
  const words = options.words === true;
  let pattern: Item[];
  try {
    pattern = parse(chars, 0, chars.length, words);
  } catch (err) {
    if (err instanceof RangeError) throw new AvfsError('INVALID_PATTERN', `glob pattern ${quotePattern(glob)} nests braces too deeply`, { reason: 'too_large', length: glob.length });
    throw new AvfsError('INVALID_PATTERN', `invalid glob pattern ${quotePattern(glob)}: ${err instanceof Error ? err.message : String(err)}`, { pattern: glob });
  }
  return new Automaton(pattern, options.nocase === true);
}

/** Escapes every glob character in `s`, so it matches only itself (e.g. a directory prefix). */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]{}\\,]/g, '\\$&');
}

/** True when `s` holds any glob syntax (otherwise it can be compared as a plain string). */
export function hasGlobSyntax(s: string): boolean {
  return /[*?[{\\]/.test(s);
}

/** One code point's test: a literal, `?`, a class. */
type CharTest = (cp: number) => boolean;

/** A parsed glob: a sequence of these, each matching a run of the subject. */
type Item =
  | { kind: 'char'; test: CharTest } // one character passing the test
  | { kind: 'star'; test: CharTest } // any run of characters passing the test (`*`, `**`)
  | { kind: 'dirs' } // `**/`: zero or more whole directories
  | { kind: 'below' } // a trailing `/**`: nothing, or `/` and anything (the directory itself or what is below it)
  | { kind: 'alt'; alternatives: Item[][] }; // `{a,b}`

const SLASH = 0x2f;
const anyChar: CharTest = () => true;
const notSlash: CharTest = (cp) => cp !== SLASH;
const literal = (c: number): CharTest => (cp) => cp === c;

/** Parses glob[start, end) (code points); `words`: `/` is an ordinary character. */
function parse(glob: readonly string[], start: number, end: number, words: boolean): Item[] {
  const items: Item[] = [];
  const char = (test: CharTest) => items.push({ kind: 'char', test });
  let i = start;
  while (i < end) {
    const c = glob[i]!;
    if (c === '\\') {
      // A trailing backslash is a literal backslash.
      char(literal((i + 1 < end ? glob[i + 1]! : '\\').codePointAt(0)!));
      i += 2;
    } else if (c === '*') {
      let j = i;
      while (j < end && glob[j] === '*') j++;
      const segStart = i === start || glob[i - 1] === '/';
      const segEnd = j === end || glob[j] === '/';
      if (words) {
        items.push({ kind: 'star', test: anyChar });
      } else if (j - i < 2) {
        items.push({ kind: 'star', test: notSlash });
      } else if (segStart && segEnd && j < end) {
        items.push({ kind: 'dirs' });
        j++; // the slash is part of it
      } else if (segStart && segEnd && i > start) {
        items.pop(); // the slash before it: `/build/**` matches /build itself
        items.push({ kind: 'below' });
      } else {
        items.push({ kind: 'star', test: anyChar });
      }
      i = j;
    } else if (c === '?') {
      char(words ? anyChar : notSlash);
      i++;
    } else if (c === '[') {
      const close = classEnd(glob, i, end);
      if (close === -1) {
        char(literal(0x5b));
        i++;
        continue;
      }
      char(parseClass(glob.slice(i + 1, close), words));
      i = close + 1;
    } else if (c === '{') {
      const close = braceEnd(glob, i, end);
      if (close === -1) {
        char(literal(0x7b));
        i++;
        continue;
      }
      items.push({ kind: 'alt', alternatives: splitTopLevel(glob, i + 1, close).map(([s, e]) => parse(glob, s, e, words)) });
      i = close + 1;
    } else {
      char(literal(c.codePointAt(0)!));
      i++;
    }
  }
  return items;
}

/** POSIX character classes (`[[:alpha:]]`) as code point ranges, ASCII meanings. */
const POSIX_CLASSES: Record<string, Array<[number, number]>> = {
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  digit: [[0x30, 0x39]],
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  upper: [[0x41, 0x5a]],
  lower: [[0x61, 0x7a]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  print: [[0x20, 0x7e]],
  graph: [[0x21, 0x7e]],
};

/** Length of the POSIX class `[:name:]` starting at glob[i], or 0 when there is none. */
function posixClassLength(glob: readonly string[], i: number, end: number): number {
  if (glob[i] !== '[' || glob[i + 1] !== ':') return 0;
  let j = i + 2;
  while (j < end && /^[a-z]$/.test(glob[j]!)) j++;
  return glob[j] === ':' && glob[j + 1] === ']' && j + 1 < end ? j + 2 - i : 0;
}

/** The test of a class's body (what is between `[` and `]`). */
function parseClass(body: readonly string[], words: boolean): CharTest {
  let negate = false;
  let i = 0;
  if (body[0] === '!' || body[0] === '^') {
    negate = true;
    i = 1;
  }
  const ranges: Array<[number, number]> = [];
  // A member that may start a range: the last single character, unless a range or a POSIX class came after it.
  let rangeStart: number | undefined;
  for (; i < body.length; i++) {
    const posix = posixClassLength(body, i, body.length);
    if (posix > 0) {
      const name = body.slice(i + 2, i + posix - 2).join('');
      const members = POSIX_CLASSES[name];
      if (members === undefined) throw new Error(`unknown character class [:${name}:] (known: ${Object.keys(POSIX_CLASSES).join(', ')})`);
      ranges.push(...members);
      i += posix - 1;
      rangeStart = undefined; // `[[:digit:]-z]`: a `-` after a POSIX class starts no range
      continue;
    }
    if (body[i] === '-' && rangeStart !== undefined && i + 1 < body.length && posixClassLength(body, i + 1, body.length) === 0) {
      const escaped = body[i + 1] === '\\' && i + 2 < body.length;
      const last = body[escaped ? i + 2 : i + 1]!.codePointAt(0)!;
      if (last < rangeStart) throw new Error('range out of order in character class');
      ranges[ranges.length - 1] = [rangeStart, last];
      i += escaped ? 2 : 1;
      rangeStart = undefined; // `[a-c-e]`: the second `-` is literal
      continue;
    }
    if (body[i] === '\\' && i + 1 < body.length) i++;
    const cp = body[i]!.codePointAt(0)!;
    ranges.push([cp, cp]);
    rangeStart = cp;
  }
  const inSet = (cp: number) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
  if (words) return negate ? (cp) => !inSet(cp) : inSet;
  // In a path a class never matches the separator, negated or not.
  return negate ? (cp) => cp !== SLASH && !inSet(cp) : (cp) => cp !== SLASH && inSet(cp);
}

/** Index of the `]` closing the class opened at `open`, or -1. A `]` right after `[` or `[!` is literal. */
function classEnd(glob: readonly string[], open: number, end: number): number {
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

/** Index of the `}` closing the brace opened at `open` (nesting and escapes respected), or -1. */
function braceEnd(glob: readonly string[], open: number, end: number): number {
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
function splitTopLevel(glob: readonly string[], start: number, end: number): Array<[number, number]> {
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

// ---- matching ---------------------------------------------------------------------------------

const CHAR = 0;
const SPLIT = 1;
const MATCH = 2;

/** A code point's other case, when it has one of a single code point (what a case-insensitive match also accepts). */
function otherCases(cp: number): [number, number] {
  const c = String.fromCodePoint(cp);
  const lower = c.toLowerCase().codePointAt(0)!;
  const upper = c.toUpperCase().codePointAt(0)!;
  return [String.fromCodePoint(lower) === c.toLowerCase() ? lower : cp, String.fromCodePoint(upper) === c.toUpperCase() ? upper : cp];
}

/** A set of automaton states the subject can be in, with the sets it moves to, by code point, once computed. */
interface StateSet {
  readonly states: Int32Array;
  readonly accepts: boolean;
  readonly next: Map<number, StateSet>;
}

/**
 * A glob as a nondeterministic automaton: CHAR states consume one code point passing their test,
 * SPLIT states lead to two states without consuming, MATCH accepts. `test` follows the set of
 * states the subject can be in, one code point at a time, so no state is visited twice per step.
 * The sets met and their moves are kept (a deterministic automaton built as it is used, as RE2
 * does): a name is then one map lookup per character, as fast as a RegExp on the usual globs.
 */
class Automaton implements Matcher {
  private readonly kind: number[] = [];
  private readonly tests: CharTest[] = [];
  private readonly out1: number[] = [];
  private readonly out2: number[] = [];
  private readonly nocase: boolean;
  private startSet: StateSet;
  private readonly sets = new Map<string, StateSet>();
  // Scratch space of a move: the step each state was last added at, and the states pending.
  private readonly addedAt: Float64Array;
  private readonly pending: Int32Array;
  private step = 0;

  constructor(pattern: Item[], nocase: boolean) {
    this.nocase = nocase;
    const start = this.sequence(pattern, this.state(MATCH, anyChar, -1, -1));
    this.addedAt = new Float64Array(this.kind.length).fill(-1);
    this.pending = new Int32Array(2 * this.kind.length + 1); // each SPLIT pushes two: no state is pushed more often than it is led to
    const first: number[] = [];
    this.add(first, start, ++this.step);
    this.startSet = this.intern(first);
  }

  test(subject: string): boolean {
    let set = this.startSet;
    for (let i = 0; i < subject.length && set.states.length > 0; i++) {
      const cp = subject.codePointAt(i)!;
      if (cp > 0xffff) i++;
      set = set.next.get(cp) ?? this.move(set, cp);
    }
    return set.accepts;
  }

  private state(kind: number, test: CharTest, out1: number, out2: number): number {
    this.kind.push(kind);
    this.tests.push(test);
    this.out1.push(out1);
    this.out2.push(out2);
    return this.kind.length - 1;
  }

  /** The states of `items` followed by `next`, built back to front; returns the first. */
  private sequence(items: Item[], next: number): number {
    for (let k = items.length - 1; k >= 0; k--) next = this.item(items[k]!, next);
    return next;
  }

  private item(item: Item, next: number): number {
    switch (item.kind) {
      case 'char':
        return this.state(CHAR, item.test, next, -1);
      case 'star':
        return this.loop(item.test, next);
      case 'dirs': {
        // ([^/]*/)*
        const again = this.state(SPLIT, anyChar, -1, next);
        this.out1[again] = this.loop(notSlash, this.state(CHAR, literal(SLASH), again, -1));
        return again;
      }
      case 'below':
        // (/.*)?
        return this.state(SPLIT, anyChar, next, this.state(CHAR, literal(SLASH), this.loop(anyChar, next), -1));
      case 'alt': {
        let first = this.sequence(item.alternatives[item.alternatives.length - 1]!, next);
        for (let k = item.alternatives.length - 2; k >= 0; k--) first = this.state(SPLIT, anyChar, this.sequence(item.alternatives[k]!, next), first);
        return first;
      }
    }
  }

  /** Any run of characters passing `test`, then `next`. */
  private loop(test: CharTest, next: number): number {
    const again = this.state(SPLIT, anyChar, -1, next);
    this.out1[again] = this.state(CHAR, test, again, -1);
    return again;
  }

  /** The set `set` moves to on `cp`, computed and remembered. */
  private move(set: StateSet, cp: number): StateSet {
    const step = ++this.step;
    const reached: number[] = [];
    for (const s of set.states) if (this.kind[s] === CHAR && this.passes(s, cp)) this.add(reached, this.out1[s]!, step);
    // A subject of many distinct characters against a glob of many states could remember without
    // bound: past a few thousand sets, start over (the sets are found again as they are needed).
    if (this.sets.size >= MAX_REMEMBERED_SETS) {
      this.sets.clear();
      this.startSet = this.intern([...this.startSet.states]);
    }
    const target = this.intern(reached);
    set.next.set(cp, target);
    return target;
  }

  private passes(state: number, cp: number): boolean {
    const test = this.tests[state]!;
    if (test(cp)) return true;
    if (!this.nocase) return false;
    const [lower, upper] = otherCases(cp);
    return test(lower) || test(upper);
  }

  /** Adds `state` and every state it leads to without consuming to `set`, once per `step`. */
  private add(set: number[], state: number, step: number): void {
    const pending = this.pending;
    let top = 0;
    pending[top++] = state;
    while (top > 0) {
      const s = pending[--top]!;
      if (this.addedAt[s] === step) continue;
      this.addedAt[s] = step;
      if (this.kind[s] === SPLIT) {
        pending[top++] = this.out2[s]!;
        pending[top++] = this.out1[s]!;
      } else {
        set.push(s);
      }
    }
  }

  /** The one StateSet of these states. */
  private intern(states: number[]): StateSet {
    states.sort((x, y) => x - y);
    const key = states.join(',');
    let set = this.sets.get(key);
    if (set === undefined) {
      set = { states: Int32Array.from(states), accepts: states.some((s) => this.kind[s] === MATCH), next: new Map() };
      this.sets.set(key, set);
    }
    return set;
  }
}

const MAX_REMEMBERED_SETS = 4096;
