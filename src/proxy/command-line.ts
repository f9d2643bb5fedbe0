import { pushAll } from '../core/arrays.js';
import { inFull } from './full-commands.js';
import { basename } from '../core/paths.js';
import { sedScriptRuns } from './sed-script.js';
import { loopVariable, reEvaluated, runtimeNames } from './runtime-values.js';

/**
 * Turns what the agent asked to run into the simple commands a policy can judge.
 *
 * The proxy runs either an argv (`-- cmd args…`) or a shell string (`--shell "…"`). A shell string,
 * and the script of `sh -c "…"`, is split here into its simple commands (`a && b | c; d`), with
 * command substitutions (`$(…)`, backticks) parsed as commands of their own; wrappers that run
 * another command (`env`, `nice`, `timeout`, `xargs`, `find -exec`, `sudo`…) yield the wrapped
 * command too, and a command line a program takes abbreviated (`ip l s`, `npm pub`) in full
 * (full-commands.ts). This is a reading of POSIX shell syntax for policy decisions, not an interpreter:
 * what is static is read as the shell reads it (quotes, `$'…'`, brace expansion, a wrapper's
 * options by its getopt table, git's global options); variables are not expanded, `eval` of
 * computed strings and functions are not followed. What it cannot read with certainty (an option
 * a wrapper's table does not know, an operand that is not what the wrapper expects, a shell
 * option it does not know) is read every way it could run, and each reading is judged. The policy
 * is advisory; the sandbox is the boundary.
 */

/** One command as a policy sees it: the program, its arguments and any redirection targets. */
export interface SimpleCommand {
  argv: string[];
  /** Files named by redirections (`> out.txt`, `< in`, `2>> log`); `&1`-style targets excluded. */
  redirects: string[];
  /** True when the command writes to a file through `>` or `>>`. */
  writesRedirect: boolean;
  /** Whether the words came from shell syntax (then `~` and `$HOME` mean the host's home). */
  shell: boolean;
  /** The wrapper this command was found inside, e.g. `env` or `find -exec`. */
  via?: string;
  /** Leading assignments (`FOO=bar cmd`), whole words: what the command changes in its environment. */
  assignments?: string[];
  /** Words of argv holding an unquoted expansion, which the shell splits into words as it runs (`rm x$R`): any of them may be an option. */
  splits?: string[];
  /** An interpreter given its code in the command line or on its input (`python3 -c …`, inlineCode): why, no rule naming the program, it may do what any program may. */
  code?: string;
  /** Words of a substitution's text kept in a variable, which run only if bash expands the value again: judged, but a checkpoint at most. */
  stored?: boolean;
}

type Token = { kind: 'word'; text: string; splits?: boolean } | { kind: 'op'; text: string };

// Not `&>`: bash's redirection of both outputs is `&` then `>` to dash (/bin/sh, what --shell runs), which runs
// what follows as a command of its own (`echo &>/dev/null rm -rf x`); read so, every command is judged.
const OPERATORS = ['&&', '||', ';;', '|&', '>>', '<<', '>&', '<>', '>|', ';', '&', '|', '(', ')', '<', '>', '\n'];
const REDIRECT_OPS = new Set(['>', '>>', '<', '<<', '&>', '>&', '<>', '>|']);
const SEPARATORS = new Set(['&&', '||', ';;', '|&', ';', '&', '|', '(', ')', '\n']);
/** A parameter expansion's start whose operator supplies a default (`x:-`, `x+`, `a[1]=`, `#?`): in double quotes dash reads a single quote after it as a plain character. */
const DEFAULT_VALUE_OPERATOR = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])(?:\[[^\]]*\])?:?[-+=?]/;
/** Redirection targets that are the process's own output streams or the null device: writing there writes no file. */
const OUTPUT_STREAMS = /^\/dev\/(null|stdout|stderr|tty|fd\/\d+)$/;
/** Operators that are words inside `[[ … ]]` (tokenize). */
const TEST_OPERATORS = new Set(['&&', '||', '(', ')', '<', '>']);
/**
 * Reserved words that may start a command position without being the program. Not `time`: it is
 * read as the program time(1) (a wrapper), which covers bash's keyword (`time -p mount`) and
 * dash's /usr/bin/time (`time -f %e mount`) alike.
 */
const LEADING_KEYWORDS = new Set(['!', 'if', 'then', 'else', 'elif', 'do', 'while', 'until', 'coproc', '{', '}', 'fi', 'done', 'esac']);
/** A leading assignment (`FOO=bar cmd`): it sets the command's environment. */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
/** Whether a word before a command's program is not the program: a keyword or an assignment (parseShell, and programAt for here-documents). */
const precedesProgram = (word: string) => LEADING_KEYWORDS.has(word) || ASSIGNMENT.test(word);
/** Compound commands whose words are not a program invocation (their bodies are parsed as commands). */
const COMPOUND_HEADS = new Set(['for', 'case', 'select', 'function']);

/** Unquoted `{`, `,` and `}` stand as these private-use characters in a word until its brace expansion. */
const BRACE_MARK: Record<string, string> = { '{': '\uE000', ',': '\uE001', '}': '\uE002' };
const BRACE_CHARS: Record<string, string> = { '\uE000': '{', '\uE001': ',', '\uE002': '}' };
const BRACE_MARKS = /[\uE000-\uE002]/g;
/** At most this many words from one word's brace expansion (`{a,b}{a,b}…` doubles each time). */
const MAX_BRACE_WORDS = 256;
/** Stands for the words xargs appends from its input: computed (EXPANSION), so it may be any option. */
const XARGS_INPUT = '${xargs_input}';
/** Stands for the names `find -exec` puts where `{}` is: computed, so `-exec {} …` runs any program, and `-exec rm {} +` may remove a whole tree. */
const FIND_MATCH = '${find_match}';
/** At most this many readings of one command whose start is not known (expandCommand everyReading); then it needs approval. */
const MAX_READINGS = 64;
/** Brace expansions nested deeper than this are not expanded (each level is a recursion). */
const MAX_BRACE_DEPTH = 64;
/**
 * Stands, as a word of its own, for a brace expansion too large to list: the words it would make
 * cannot all be judged, so the command needs approval (policy.ts). Never run: only judged.
 */
export const UNLISTED_EXPANSION = '\uE003';
/**
 * Stands, as a command of its own, for a script with a quote, substitution or here-document that
 * never ends. A shell refuses the first two and reads the third to the end; this reading may have
 * closed one early or late and hidden commands in it, so the request needs approval (policy.ts).
 */
export const UNREADABLE_LINE = '\uE004';

/** The first brace of a word that expands (unquoted braces and commas marked): where it is and its alternatives. */
function firstBrace(word: string): { start: number; end: number; parts: string[] } | undefined {
  for (let s = word.indexOf('\uE000'); s !== -1; s = word.indexOf('\uE000', s + 1)) {
    let depth = 0;
    let end = -1;
    const commas: number[] = [];
    for (let j = s; j < word.length && end === -1; j++) {
      if (word[j] === '\uE000') depth++;
      else if (word[j] === '\uE002' && --depth === 0) end = j;
      else if (word[j] === '\uE001' && depth === 1) commas.push(j);
    }
    if (end === -1) continue;
    const parts = commas.length > 0 ? [s, ...commas].map((from, k) => word.slice(from + 1, k < commas.length ? commas[k] : end)) : braceSequence(word.slice(s + 1, end));
    if (parts) return { start: s, end, parts };
  }
  return undefined;
}

/**
 * Brace expansion as bash does it, on a word whose unquoted braces and commas are marked:
 * `a{b,c}d` → `abd acd`, nested and `{1..3}`/`{a..c}` sequences included. An expansion of more
 * than MAX_BRACE_WORDS words is not listed: the word stays as written, followed by
 * UNLISTED_EXPANSION (a cut list hid what came last: `rm {{1..256},-rf} /d` was judged without its
 * `-rf`, and every way of picking a few of the words can be beaten by another arrangement).
 */
function expandBraces(word: string, depth = 0): string[] {
  const brace = firstBrace(word);
  if (!brace) return [word];
  const unlisted = [word, UNLISTED_EXPANSION];
  if (depth > MAX_BRACE_DEPTH || brace.parts.length > MAX_BRACE_WORDS) return unlisted;
  const out: string[] = [];
  for (const part of brace.parts) {
    const words = expandBraces(word.slice(0, brace.start) + part + word.slice(brace.end + 1), depth + 1);
    if (words[words.length - 1] === UNLISTED_EXPANSION || out.length + words.length > MAX_BRACE_WORDS) return unlisted;
    pushAll(out, words);
  }
  return out;
}

/** The words of a sequence expression (`1..5`, `a..e`, `0..10..2`), or undefined when it is not one. */
function braceSequence(body: string): string[] | undefined {
  const m = /^(?:(-?\d+)\.\.(-?\d+)|([A-Za-z])\.\.([A-Za-z]))(?:\.\.(-?\d+))?$/.exec(body);
  if (!m) return undefined;
  const [from, to] = m[1] !== undefined ? [Number(m[1]), Number(m[2])] : [m[3]!.charCodeAt(0), m[4]!.charCodeAt(0)];
  const step = Math.abs(Number(m[5] ?? 1)) || 1;
  // bash pads each number to the wider end when either end has a leading zero (`{08..10}`: 08 09 10).
  const width = m[1] !== undefined && (/^-?0\d/.test(m[1]) || /^-?0\d/.test(m[2]!)) ? Math.max(m[1].length, m[2]!.length) : 0;
  const numeral = (v: number) => (v < 0 ? '-' + String(-v).padStart(width - 1, '0') : String(v).padStart(width, '0'));
  const out: string[] = [];
  for (let v = from; (from <= to ? v <= to : v >= to) && out.length <= MAX_BRACE_WORDS; v += from <= to ? step : -step) {
    out.push(m[1] !== undefined ? numeral(v) : String.fromCharCode(v));
  }
  return out;
}

/** Reads ANSI-C quoted text (`$'…'`) from `start` (after the quote): its decoded text and the index after the closing quote. */
function readAnsiC(script: string, start: number): { text: string; next: number } {
  const simple: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
  let text = '';
  let i = start;
  while (i < script.length && script[i] !== "'") {
    if (script[i] !== '\\' || i + 1 >= script.length) {
      text += script[i++];
      continue;
    }
    const e = script[i + 1]!;
    const code = (re: RegExp, base: number) => {
      const m = re.exec(script.slice(i + 2));
      if (!m) return false;
      text += String.fromCodePoint(Math.min(Number.parseInt(m[0], base), 0x10ffff));
      i += 2 + m[0].length;
      return true;
    };
    if (e in simple) {
      text += simple[e];
      i += 2;
    } else if (/[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(script.slice(i + 1))!;
      text += String.fromCharCode(Number.parseInt(m[0], 8) & 0xff);
      i += 1 + m[0].length;
    } else if (e === 'x' && code(/^[0-9A-Fa-f]{1,2}/, 16)) {
      // \xHH
    } else if (e === 'u' && code(/^[0-9A-Fa-f]{1,4}/, 16)) {
      // \uHHHH
    } else if (e === 'U' && code(/^[0-9A-Fa-f]{1,8}/, 16)) {
      // \UHHHHHHHH
    } else if (e === 'c' && i + 2 < script.length && script[i + 2] !== "'") {
      text += String.fromCharCode(script.charCodeAt(i + 2) & 0x1f);
      i += 3;
    } else {
      text += '\\' + e;
      i += 2;
    }
  }
  return { text, next: i + 1 };
}

/** A here-document as its `<<` word declares it: the delimiter line, whether `<<-` strips leading tabs, whether quoting makes the body literal. */
interface HereDocument {
  delimiter: string;
  stripTabs: boolean;
  quoted: boolean;
}

/**
 * Reads a here-document's word after `<<` (at `from`, past a `-`), as the shell reads it: quote
 * removal (`'E'`, `"E"`, `\E`, bash's `$'E'` and `$"E"`) makes the body literal; a line
 * continuation goes on on the next line (`<<EO\⏎F` is EOF). Returns it and the index after the word.
 */
function readHereWord(script: string, from: number, posix: boolean): HereDocument & { next: number } {
  const stripTabs = script[from] === '-';
  let j = stripTabs ? from + 1 : from;
  while (script[j] === ' ' || script[j] === '\t') j++;
  let delimiter = '';
  let quoted = false;
  for (let quote = ''; j < script.length; j++) {
    const ch = script[j]!;
    if (quote === '"' && ch === '\\' && '"\\$`\n'.includes(script[j + 1] ?? '')) {
      if (script[++j] !== '\n') delimiter += script[j];
    } else if (quote) {
      if (ch === quote) quote = '';
      else delimiter += ch;
    } else if (ch === '\\' && script[j + 1] === '\n') {
      j++;
    } else if (!posix && ch === '$' && script[j + 1] === "'") {
      const ansi = readAnsiC(script, j + 2);
      delimiter += ansi.text;
      quoted = true;
      j = ansi.next - 1;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      quoted = true;
    } else if (!posix && ch === '$' && script[j + 1] === '"') {
      quote = '"';
      quoted = true;
      j++;
    } else if (ch === '\\' && j + 1 < script.length) {
      delimiter += script[++j];
      quoted = true;
    } else if (/[ \t\n;&|<>()]/.test(ch)) break;
    else delimiter += ch;
  }
  return { delimiter, stripTabs, quoted, next: j };
}

/**
 * Where a here-document's body that starts at `from` ends: `end` at its delimiter line (-1 when no
 * line ends it, and the shell reads it to the end of the script), `next` after that line. Both
 * bash and dash join a line ending in an unescaped backslash to the next in an unquoted body
 * before comparing it with the delimiter (`EO\⏎F` ends it, `x\⏎EOF` does not).
 */
function hereDocumentEnd(script: string, from: number, doc: HereDocument): { end: number; next: number } {
  let at = from;
  let joined = '';
  while (at < script.length) {
    const newline = script.indexOf('\n', at);
    const lineEnd = newline === -1 ? script.length : newline;
    const line = doc.stripTabs ? script.slice(at, lineEnd).replace(/^\t+/, '') : script.slice(at, lineEnd);
    const next = newline === -1 ? script.length : newline + 1;
    if (joined + line === doc.delimiter) return { end: at, next };
    joined = !doc.quoted && /(^|[^\\])(\\\\)*\\$/.test(line) ? joined + line.slice(0, -1) : '';
    at = next;
  }
  return { end: -1, next: script.length };
}

/**
 * Splits a shell script into tokens. Quotes are removed from words as the shell would; the
 * scripts of `$(…)` and backticks are returned in `substitutions` to be parsed separately.
 */
function tokenize(script: string, substitutions: string[], tests = true, posix = false, bashParameterQuotes = false): Token[] {
  const substitutionsBefore = substitutions.length;
  const tokens: Token[] = [];
  let i = 0;
  let word = '';
  let inWord = false;
  /** The word holds an unquoted expansion (Token.splits). */
  let splits = false;
  /**
   * Inside `[[ … ]]` opened where a command starts: `&&`, `||`, `<`, `>` and parentheses are the
   * test's own operators, words of that one command (`[[ -f a && -d b ]]` was read as two
   * commands, `-d b ]]` one whose program was `-d`).
   */
  let inTest = false;
  const flush = () => {
    // An empty word that brace expansion made is dropped, as bash drops it (`{sudo,} id` is `sudo id`).
    const words = word.includes('\uE000') ? expandBraces(word).filter((w, _, all) => w !== '' || all.length === 1) : [word];
    if (tests && inWord && words.length === 1) {
      // A keyword only as written plainly (`"[["`, `\[[` are commands named `[[`), where a command starts, after keywords alone (`a=1 [[` runs a command too).
      const plain = script.slice(i - 2, i) === '[[' && (i === 2 || /[ \t\n;&|()]/.test(script[i - 3]!));
      if (words[0] === '[[' && plain && tokens.slice(commandStart).every((t) => t.kind === 'word' && LEADING_KEYWORDS.has(t.text))) inTest = true;
      else if (words[0] === ']]') inTest = false;
    }
    if (inWord) for (const text of words) tokens.push({ kind: 'word', text: text.replace(BRACE_MARKS, (m) => BRACE_CHARS[m]!), ...(splits ? { splits } : {}) });
    word = '';
    inWord = false;
    splits = false;
  };
  /** Set when a quote, substitution or here-document never ends (UNREADABLE_LINE). */
  let unreadable = false;
  /** The index of `close` ending text that started at `from` (after its opening), a backslash escaping the next character; script.length when none does. */
  const escapedEnd = (from: number, close: string): number => {
    let j = from;
    while (j < script.length && script[j] !== close) j += script[j] === '\\' ? 2 : 1;
    if (j >= script.length) unreadable = true;
    return Math.min(j, script.length);
  };
  /** The index of the `'` closing a single-quoted string that started at `from`; script.length when none does. */
  const singleQuoteEnd = (from: number): number => {
    const end = script.indexOf("'", from);
    if (end !== -1) return end;
    unreadable = true;
    return script.length;
  };
  /**
   * The index of the `}` closing a parameter expansion whose `${` ends before `from`: its words are
   * one (`${x:- #}` holds no comment), and quotes in it are quotes; script.length when none closes
   * it. In double quotes a single quote is one after `#`, `%` and `/` (`"${x#'"'}"` closes no
   * string); after `-`, `+`, `=` and `?` it is a plain character to dash (`"${msg:-it's}"`) and a
   * quote to bash: read as dash reads it, and as bash does in the second reading (parseShell).
   */
  const parameterEnd = (from: number, inDouble = false): number => {
    let j = from;
    const quotes = !inDouble || bashParameterQuotes || !DEFAULT_VALUE_OPERATOR.test(script.slice(from, from + 256));
    for (; j < script.length && script[j] !== '}'; j++) {
      if (script[j] === '\\') j++;
      else if (script[j] === "'" && !quotes) continue;
      else if (script[j] === "'") j = singleQuoteEnd(j + 1);
      else if (script[j] === '"') j = doubleQuoteEnd(j + 1);
      else if (script[j] === '$' && script[j + 1] === '{') j = parameterEnd(j + 2, inDouble);
      else if (script[j] === '$' && script[j + 1] === '(') j = closingParen(j + 1);
      else if (script[j] === '`') j = escapedEnd(j + 1, '`');
    }
    if (j >= script.length) unreadable = true;
    return Math.min(j, script.length);
  };
  /** The index of the `"` closing a double-quoted string that started at `from`, its substitutions passed over whole. */
  const doubleQuoteEnd = (from: number): number => {
    let j = from;
    for (; j < script.length && script[j] !== '"'; j++) {
      if (script[j] === '\\') j++;
      else if (script[j] === '$' && script[j + 1] === '(') j = closingParen(j + 1);
      else if (script[j] === '$' && script[j + 1] === '{') j = parameterEnd(j + 2, true);
      else if (script[j] === '`') j = escapedEnd(j + 1, '`');
    }
    if (j >= script.length) unreadable = true;
    return Math.min(j, script.length);
  };
  /** Reads the substitutions in script[from, to) (a parameter expansion read whole): they run. */
  const substitutionsIn = (from: number, to: number): void => {
    for (let j = from; j < to; j++) {
      if (script[j] === '\\') j++;
      else if (script[j] === '$' && script[j + 1] === '(') j = readDollarParen(j) - 1;
      else if (script[j] === '`') j = readBacktick(j) - 1;
    }
  };
  /**
   * The index of the `)` closing the `(` at `open` of a substitution, its script read as the shell
   * reads it: quotes (a `)` in `")"` closes nothing), escapes, comments (`# )`), backticks and
   * nested parentheses; script.length when none closes it.
   */
  const closingParen = (open: number): number => {
    let depth = 1;
    let atWordStart = true;
    // Here-documents opened on the current line (`$(cat <<'EOF'` … `EOF` `)`): their bodies are
    // data, where a `)` or an apostrophe is no syntax. Not inside `$((…))`, where `<<` shifts.
    const arithmeticExpansion = script[open + 1] === '(';
    const bodies: HereDocument[] = [];
    // Open `case … esac`: a pattern's `)` (`x) cmd;;`) closes nothing.
    let cases = 0;
    for (let j = open + 1; j < script.length; j++) {
      const c = script[j]!;
      const startsWord: boolean = atWordStart;
      atWordStart = /[ \t\n;&|()<>]/.test(c);
      if (startsWord && /^case[ \t\n]/.test(script.slice(j, j + 5)) && startsCommand(open, j)) cases++;
      else if (startsWord && cases > 0 && /^esac($|[ \t\n;&|)])/.test(script.slice(j, j + 5)) && startsCommand(open, j)) cases--;
      if (c === '\n' && bodies.length > 0) {
        let at = j + 1;
        for (const doc of bodies.splice(0)) {
          const found = hereDocumentEnd(script, at, doc);
          if (found.end === -1) {
            unreadable = true;
            return script.length;
          }
          at = found.next;
        }
        j = at - 1;
        atWordStart = true;
      } else if (c === '<' && script[j + 1] === '<' && script[j + 2] !== '<' && depth === 1 && !arithmeticExpansion) {
        const { next, ...doc } = readHereWord(script, j + 2, posix);
        bodies.push(doc);
        j = next - 1;
      } else if (c === '\\' && script[j + 1] === '\n') {
        j++;
        atWordStart = startsWord; // a line continuation is no character: `\⏎#` starts a comment
      } else if (c === '$' && script[j + 1] === '(') {
        j = closingParen(j + 1); // a word of its own kind: `$(true)#` holds no comment
      } else if (c === '\\') j++;
      else if (c === "'") j = singleQuoteEnd(j + 1);
      else if (c === '$' && script[j + 1] === "'") j = escapedEnd(j + 2, "'");
      else if (c === '"') j = doubleQuoteEnd(j + 1);
      else if (c === '`') j = escapedEnd(j + 1, '`');
      else if (c === '#' && startsWord) {
        const newline = script.indexOf('\n', j);
        j = newline === -1 ? script.length : newline - 1;
      } else if (c === '$' && script[j + 1] === '{') {
        j = parameterEnd(j + 2);
      } else if (c === '(') depth++;
      else if (c === ')' && !(depth === 1 && cases > 0) && --depth === 0) return j;
    }
    unreadable = true;
    return script.length;
  };
  /**
   * Whether the word at `at` stands where a command starts in the script after `open`: first, after
   * a separator, or after a keyword (`then case`); `echo case x` has an argument named case.
   */
  const startsCommand = (open: number, at: number): boolean => {
    let k = at - 1;
    while (k > open && (script[k] === ' ' || script[k] === '\t')) k--;
    // After a case pattern's `)` or `in`, `esac` may stand too.
    if (k <= open || ';&|()\n'.includes(script[k]!)) return true;
    let w = k;
    while (w > open && !/[ \t\n;&|()]/.test(script[w - 1]!)) w--;
    const before = script.slice(w, k + 1);
    return LEADING_KEYWORDS.has(before) || before === 'in';
  };
  /** Reads `$(…)` (or `<(…)`, `>(…)`) starting at script[i] === '$', returns the index after the closing paren. */
  const readDollarParen = (start: number): number => {
    const j = closingParen(start + 1);
    const inner = script.slice(start + 2, j);
    // `$((…))` is arithmetic, not a command; the substitutions inside it are (`$(( $(mount) ))`).
    // bash reads `$((a);(b))` as a command substitution when it is no arithmetic: one holding a
    // separator or a pipe is read as both.
    const arithmeticText = inner.startsWith('(') && inner.endsWith(')');
    if (arithmeticText) tokenize(inner.slice(1, -1), substitutions);
    if (!arithmeticText || /[;\n]|(^|[^|])\|([^|]|$)|(^|[^&])&([^&]|$)/.test(inner)) substitutions.push(inner);
    return j + 1;
  };
  const readBacktick = (start: number, inDouble = false): number => {
    const j = escapedEnd(start + 1, '`');
    // Inside backticks a backslash quotes only `$`, `` ` `` and `\\` (and `"` in double quotes) and
    // goes with them; before anything else it stays.
    substitutions.push(script.slice(start + 1, j).replace(inDouble ? /\\([$`\\"])/g : /\\([$`\\])/g, '$1'));
    return j + 1;
  };
  /**
   * Arithmetic commands (`(( x << 2 ))`, `for ((…))`) open on the current line, where `<<` is a
   * shift, not a here-document: counted from the operators the line has, so a quoted `'(('` opens none.
   */
  let arithmetic = 0;
  /** Where the current simple command's tokens start (after the last separator): its program is the first word there. */
  let commandStart = 0;
  /** Here-documents whose bodies start after the current line, in order. */
  const pendingBodies: { delimiter: string; stripTabs: boolean; quoted: boolean; commandStart: number }[] = [];
  /** The program of the command whose tokens start at `start` (redirections before or after it passed over), once per command. */
  const programs = new Map<number, string | undefined>();
  const programAt = (start: number): string | undefined => {
    if (!programs.has(start)) {
      let program: string | undefined;
      for (let t = start; t < tokens.length && program === undefined; t++) {
        const tok = tokens[t]!;
        if (tok.kind === 'op') {
          if (SEPARATORS.has(tok.text)) break;
          if (REDIRECT_OPS.has(tok.text)) t++; // its file, descriptor or delimiter
        } else if (!precedesProgram(tok.text)) program = tok.text;
      }
      programs.set(start, program);
    }
    return programs.get(start);
  };
  /**
   * After `<<` (at `from`): a here-string `<<<` (its word is data), or a here-document's
   * delimiter, read as the shell reads it (`<<-` strips leading tabs; a quoted delimiter makes the
   * body literal). Its body is read at the end of the line (hereDocumentBodies). Returns where to go on.
   */
  const hereDocument = (from: number): number => {
    if (script[from] === '<') return from + 1;
    const { next, ...doc } = readHereWord(script, from, posix);
    tokens.push({ kind: 'word', text: doc.delimiter });
    pendingBodies.push({ ...doc, commandStart });
    // A here-document never ended at the end of the script (no newline after its word) hides nothing, but is read as unreadable too.
    if (script.indexOf('\n', next) === -1) unreadable = true;
    return next;
  };
  /**
   * The bodies of the line's here-documents, from `from` (after its newline): data to the command
   * that reads them, never commands of the script (`echo it's` in a body opened a quote that hid the
   * lines after it). A shell reads its body as its script; an unquoted delimiter lets the shell
   * expand `$(…)` and backticks in the body, which run. Returns the index after the last delimiter line.
   */
  const hereDocumentBodies = (from: number): number => {
    let at = from;
    for (const body of pendingBodies.splice(0)) {
      const start = at;
      const found = hereDocumentEnd(script, at, body);
      // Read to the end of the script: a shell takes it so (with a warning), but a delimiter this
      // reading missed would hide the commands after it.
      if (found.end === -1) unreadable = true;
      const end = found.end === -1 ? script.length : found.end;
      at = found.next;
      const program = programAt(body.commandStart);
      if (program !== undefined && SHELLS.has(basename(program))) substitutions.push(script.slice(start, end));
      else if (!body.quoted) {
        for (let j = start; j < end; j++) {
          if (script[j] === '\\') j++;
          else if (script[j] === '$' && script[j + 1] === '(') j = readDollarParen(j) - 1;
          else if (script[j] === '`') j = readBacktick(j) - 1;
        }
      }
    }
    commandStart = tokens.length;
    return at;
  };
  while (i < script.length) {
    const c = script[i]!;
    if (c === '\\') {
      if (script[i + 1] === '\n') {
        i += 2; // line continuation
        continue;
      }
      word += script[i + 1] ?? '';
      inWord = true;
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = singleQuoteEnd(i + 1);
      word += script.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (!posix && c === '$' && script[i + 1] === '[') {
      // bash's old arithmetic `$[…]`: a number, where `<<` is a shift, not a here-document. One
      // holding what no arithmetic does (`$[ ; rm x ; ]`) is read as the words and commands it is
      // to dash, which knows no `$[`.
      let depth = 0;
      let j = i + 1;
      for (; j < script.length; j++) {
        if (script[j] === '[') depth++;
        else if (script[j] === ']' && --depth === 0) break;
      }
      if (j >= script.length) unreadable = true;
      if (!/[;&|\n'"`]/.test(script.slice(i + 2, j))) {
        word += script.slice(i, j + 1);
        inWord = true;
        i = j + 1;
        continue;
      }
    }
    if (c === '"') {
      inWord = true;
      i++;
      while (i < script.length && script[i] !== '"') {
        if (script[i] === '\\' && i + 1 < script.length && '"\\$`\n'.includes(script[i + 1]!)) {
          if (script[i + 1] !== '\n') word += script[i + 1];
          i += 2;
        } else if (script[i] === '$' && script[i + 1] === '(') {
          const end = readDollarParen(i);
          word += script.slice(i, end);
          i = end;
        } else if (script[i] === '$' && script[i + 1] === '{') {
          const end = parameterEnd(i + 2, true) + 1;
          substitutionsIn(i + 2, end - 1);
          word += script.slice(i, end);
          i = end;
        } else if (script[i] === '`') {
          const end = readBacktick(i, true);
          word += script.slice(i, end);
          i = end;
        } else {
          word += script[i++];
        }
      }
      if (i >= script.length) unreadable = true;
      i++;
      continue;
    }
    if (!posix && c === '$' && script[i + 1] === "'") {
      // ANSI-C quoting: `$'sudo'` is sudo, `$'\x73udo'` too.
      const end = readAnsiC(script, i + 2);
      if (end.next > script.length) unreadable = true;
      word += end.text;
      inWord = true;
      i = end.next;
      continue;
    }
    if (!posix && c === '$' && script[i + 1] === '"') {
      i++; // `$"…"` (a translated string) is a double-quoted string
      continue;
    }
    if (c === '$' && script[i + 1] === '{') {
      // A parameter expansion is read whole: its spaces, quotes and braces are its own (`${x:- #}`).
      const end = parameterEnd(i + 2) + 1;
      substitutionsIn(i + 2, end - 1);
      splits = true;
      word += script.slice(i, end);
      inWord = true;
      i = end;
      continue;
    }
    if (c === '{' || c === ',' || c === '}') {
      // Unquoted, these may be brace expansion (`{sudo,id}` is two words): marked for expandBraces.
      word += BRACE_MARK[c];
      inWord = true;
      i++;
      continue;
    }
    if (c === '$' && script[i + 1] === '(') {
      const end = readDollarParen(i);
      word += script.slice(i, end);
      inWord = true;
      splits ||= script[i + 2] !== '('; // an arithmetic $((…)) makes a number
      i = end;
      continue;
    }
    if (c === '`') {
      const end = readBacktick(i);
      word += script.slice(i, end);
      inWord = true;
      splits = true;
      i = end;
      continue;
    }
    if ((c === '<' || c === '>') && script[i + 1] === '(') {
      // Process substitution: `<(cmd)` is a word (a /dev/fd path) naming cmd's output, not a redirection.
      const end = readDollarParen(i);
      word += script.slice(i, end);
      inWord = true;
      i = end;
      continue;
    }
    if (c === '#' && !inWord) {
      while (i < script.length && script[i] !== '\n') i++;
      continue;
    }
    if (c === ' ' || c === '\t') {
      flush();
      i++;
      continue;
    }
    // `!(…)` where a command starts is `!` and a subshell to both shells, not a pattern (`ls !(x)` is one).
    const negation = word === '!' && tokens.slice(commandStart).every((t) => t.kind === 'word' && (LEADING_KEYWORDS.has(t.text) || t.text === 'time' || t.text === '-p'));
    if (c === '(' && inWord && /[@+!*?]$/.test(word) && !negation) {
      // bash's extended pattern (`@(rm)`, `-+(r)f`): part of the word, not a subshell. Its end is
      // found as a substitution's is (quotes hold no `)`), and its substitutions run.
      const j = closingParen(i);
      substitutionsIn(i + 1, j);
      word += script.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const op = OPERATORS.find((o) => script.startsWith(o, i));
    // `]]&&`: the test ends at its `]]`, and the operator after it is the script's.
    if (op && inTest && inWord && word === ']]') flush();
    if (op && inTest && TEST_OPERATORS.has(op)) {
      flush();
      tokens.push({ kind: 'word', text: op });
      i += op.length;
      continue;
    }
    if (op) {
      // A file descriptor number glued to a redirection (`2>`, `1>>`) belongs to the operator.
      // bash's `{fd}>` names a variable to hold the descriptor: part of the operator too.
      if (REDIRECT_OPS.has(op) && inWord && /^(\d+|\uE000[A-Za-z_][A-Za-z0-9_]*\uE002)$/.test(word)) {
        word = '';
        inWord = false;
      }
      flush();
      tokens.push({ kind: 'op', text: op });
      i += op.length;
      if (op === '(' && script[i - 2] === '(') arithmetic++;
      else if (op === ')' && script[i - 2] === ')') arithmetic = Math.max(0, arithmetic - 1);
      if (op === '<<' && arithmetic === 0) i = hereDocument(i);
      else if (op === '\n' && pendingBodies.length > 0) i = hereDocumentBodies(i);
      else if (SEPARATORS.has(op)) commandStart = tokens.length;
      if (op === '\n') arithmetic = 0;
      continue;
    }
    if (c === '$' && /[A-Za-z_0-9@*#?!$-]/.test(script[i + 1] ?? '')) splits = true;
    word += c;
    inWord = true;
    i++;
  }
  flush();
  // A `[[` never closed is a syntax error to bash; read the line without tests, the careful side
  // (nothing after such a `[[` hides among its words).
  if (inTest) {
    substitutions.length = substitutionsBefore;
    return tokenize(script, substitutions, false, posix, bashParameterQuotes);
  }
  // The second reading of a line with bash's quotings (parseShell) only adds commands: where dash
  // finds a quote that never ends it refuses the rest, having run what came before (judged).
  if (unreadable && !posix && !bashParameterQuotes) tokens.push({ kind: 'op', text: '\n' }, { kind: 'word', text: UNREADABLE_LINE });
  return tokens;
}

/** Parses a shell script into its simple commands (including those inside substitutions). */
export function parseShell(script: string, depth = 0): SimpleCommand[] {
  const substitutions: string[] = [];
  const tokens = tokenize(script, substitutions);
  // bash's `$'…'`, `$"…"` and `$[…]` are a `$` and what follows to dash, the /bin/sh `--shell`
  // runs on Debian: such a line is read both ways, and every command of either reading is judged.
  if (/\$['"[]/.test(script)) tokens.push({ kind: 'op', text: '\n' }, ...tokenize(script, substitutions, true, true));
  // A single quote in a double-quoted `${x:-…}`: read as dash reads it above, as bash does here.
  if (script.includes('${') && script.includes("'") && script.includes('"')) tokens.push({ kind: 'op', text: '\n' }, ...tokenize(script, substitutions, true, false, true));
  type Draft = SimpleCommand & { assignments: string[]; coproc?: boolean };
  const fresh = (): Draft => ({ argv: [], redirects: [], writesRedirect: false, shell: true, assignments: [] });
  const drafts: Draft[] = [];
  let current = fresh();
  const finish = () => {
    if (current.argv.length > 0 || current.redirects.length > 0 || current.assignments.length > 0) drafts.push(current);
    current = fresh();
  };
  // Inside `case … in`: how many are open, and whether the words up to the next `)` are a pattern
  // (after `in` or `;;`), no command (`*) wc -l "$f";;` was judged as a program `*`).
  let cases = 0;
  let pattern = false;
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t]!;
    if (pattern) {
      if (tok.kind === 'word' && tok.text === 'esac') {
        cases--;
        pattern = false;
      } else if (tok.kind === 'op' && tok.text === ')') pattern = false;
      continue;
    }
    if (tok.kind === 'op' && tok.text === ';;' && cases > 0) {
      finish();
      pattern = true;
      continue;
    }
    if (tok.kind === 'word' && current.argv.length === 2 && current.argv[0] === 'case' && tok.text === 'in') {
      current.argv.push(tok.text);
      finish();
      cases++;
      pattern = true;
      continue;
    }
    // `for NAME do …` (no `;` before `do`): the loop's body starts there.
    if (tok.kind === 'word' && tok.text === 'do' && current.argv.length === 2 && (current.argv[0] === 'for' || current.argv[0] === 'select')) {
      finish();
      continue;
    }
    if (tok.kind === 'op') {
      if (REDIRECT_OPS.has(tok.text)) {
        const next = tokens[t + 1];
        if (next?.kind === 'word') {
          t++;
          // `>&2`, `2>&1`, `<&-`: a descriptor, not a file. A here-document's word is its delimiter.
          if (!/^(&?\d+|&?-)$/.test(next.text) && tok.text !== '<<') {
            current.redirects.push(next.text);
            if (tok.text.includes('>') && !OUTPUT_STREAMS.test(next.text)) current.writesRedirect = true;
          }
        }
        continue;
      }
      if (SEPARATORS.has(tok.text)) finish();
      continue;
    }
    if (current.argv.length === 0 && precedesProgram(tok.text)) {
      if (tok.text === 'coproc') current.coproc = true;
      // Leading assignments set the environment; their values are still checked.
      else if (ASSIGNMENT.test(tok.text)) current.assignments.push(tok.text);
      continue;
    }
    current.argv.push(tok.text);
    if (tok.splits) (current.splits ??= []).push(tok.text);
  }
  finish();
  // `function f { body; }` and `coproc NAME { body; }`: the brace opens a body whose first words
  // are a command of its own (the name before it is not a program).
  for (let d = 0; d < drafts.length; d++) {
    const { argv } = drafts[d]!;
    const brace = argv[0] === 'function' ? argv.indexOf('{', 2) : drafts[d]!.coproc ? argv.indexOf('{', 1) : -1;
    if (brace !== -1) {
      const body = drafts[d]!.argv.slice(brace + 1);
      drafts[d]!.argv = [':', ...drafts[d]!.argv.slice(0, brace)];
      if (body.length > 0) drafts.splice(d + 1, 0, { argv: body, redirects: [], writesRedirect: false, shell: true, assignments: [] });
    }
  }
  const out: SimpleCommand[] = drafts.map(({ assignments, coproc: _coproc, ...cmd }) => {
    // Assignment values are paths too (`OUT=/etc/x make`); `:` stands for "no program".
    const values = assignments.map((a) => a.slice(a.indexOf('=') + 1));
    const checked = { ...cmd, redirects: [...cmd.redirects, ...values], ...(assignments.length ? { assignments } : {}) };
    if (checked.argv.length === 0) return { ...checked, argv: [':'] };
    // `for x in a b; do …` — the loop header is not a program; its words are still path-checked.
    if (COMPOUND_HEADS.has(checked.argv[0]!)) return { ...checked, argv: [':', ...checked.argv.slice(1)], via: checked.argv[0] };
    return checked;
  });
  // A value read as the script runs that bash evaluates again as code (runtime-values.ts): the
  // program is then that variable, computed when the command runs.
  for (const { name, context } of reEvaluated(script, out, runtimeNames(out, computedAtRunTime))) {
    const code = `${name} holds a value read when the command runs, and bash evaluates it again (${context}), where a command substitution in it runs, so it may do what any program may`;
    out.push({ argv: ['$' + name], redirects: [], writesRedirect: false, shell: true, via: context, code });
  }
  // A variable that decides which programs run or what they load (PATH, HOME, LD_PRELOAD, GIT_DIR …)
  // given its value by read, getopts, a `for` or `select` loop and the like rather than an
  // assignment the line shows (which environmentRuns judges): the program is that variable.
  const setByCommands = runtimeNames(out.filter((c) => !DECLARING.has(c.argv[0]!)).map((c) => ({ ...c, assignments: [] })), computedAtRunTime);
  for (const c of out) {
    const name = loopVariable(c);
    if (name !== undefined) setByCommands.add(name);
  }
  for (const name of setByCommands) {
    if (!decidesPrograms(name)) continue;
    const code = `${name} is set as the script runs (read, for, select …) and decides which programs run or what they load, so it may do what any program may`;
    out.push({ argv: ['$' + name], redirects: [], writesRedirect: false, shell: true, via: `${name}, set as the script runs`, code });
  }
  if (depth < 8) for (const sub of substitutions) out.push(...parseShell(sub, depth + 1).map((c) => ({ ...c, via: c.via ?? '$(…)' })));
  // Substitutions nested deeper are not read: what they run is not known.
  else if (substitutions.length > 0) out.push({ argv: [UNREADABLE_LINE], redirects: [], writesRedirect: false, shell: true });
  return out;
}

// rbash is bash restricted by its name (Debian links it to bash): it runs -c scripts all the same.
const SHELLS = new Set(['sh', 'bash', 'rbash', 'dash', 'zsh', 'ksh', 'ksh93', 'mksh', 'lksh', 'oksh', 'pdksh', 'posh', 'yash', 'ash', 'fish']);

/**
 * Whether a script operand is another command's output or the shell's own input: a process
 * substitution (`bash <(curl …)`, `source <(curl …)`) or the input's device (`source /dev/stdin`).
 */
const readsCommandOutput = (word: string) => /^<\(.*\)$/s.test(word) || /^\/dev\/(stdin|fd\/\d+)$|^\/proc\/(self|thread-self|\d+)\/fd\/\d+$/.test(word);

/**
 * The shell `argv` runs (itself, or wrapped: `env sh -c`, `timeout 5 sh -c`) whose script has
 * `placeholder` (words computed as it runs) inside it, not as an argument of its own (`word`, the
 * whole word the placeholder makes: `sh -c 'cat "$1"' _ {}`); undefined when there is none.
 */
const shellWithPlaceholder = (argv: string[], placeholder: string, word = placeholder): string | undefined =>
  argv.find((w, i) => SHELLS.has(programName(w)) && argv.slice(i + 1).some((a) => a.includes(placeholder) && a !== word));

/** The bare shell, standing for one that runs a script it reads from input it cannot see (rule shell-from-input judges it). */
const shellReadingInput = (shell: string, cmd: SimpleCommand, via: string): SimpleCommand => ({ argv: [shell], redirects: [], writesRedirect: false, shell: cmd.shell, via });

/**
 * How a program reads its options, as getopt does: `short` is getopt's optstring (`n:` takes a
 * value, in the same word or the next; `e::` an optional value, in the same word only; letters
 * cluster: `-xn5`), `long` maps each long name (GNU getopt also takes any unambiguous prefix) to
 * the short option it stands for, or to `:` (takes a value: `--name=v` or `--name v`), `::`
 * (`--name=v` only), `:2`/`:3` (that many values in the next words, as bwrap's `--bind SRC DEST`) or
 * `` (a flag) when it has none.
 */
interface OptionTable {
  short: string;
  long: Record<string, string>;
  /** `-5`, nice's old form of `-n 5`. */
  numeric?: boolean;
  /** Every long option is one word (`--name` or `--name=value`), as valgrind and firejail read them. */
  oneWordLong?: boolean;
}

const HELP = { help: '', version: '' };

const START_STOP_DAEMON_OPTIONS: OptionTable = {
  short: 'SKTHVp:x:n:u:g:s:R:a:N:P:I:k:bCO:mvoqtc:r:d:',
  long: {
    start: 'S', stop: 'K', status: 'T', help: 'H', version: 'V', pidfile: 'p', exec: 'x', name: 'n', user: 'u', group: 'g', signal: 's', retry: 'R', startas: 'a',
    nicelevel: 'N', procsched: 'P', iosched: 'I', umask: 'k', background: 'b', 'no-close': 'C', output: 'O', 'make-pidfile': 'm', 'remove-pidfile': '', verbose: 'v',
    oknodo: 'o', quiet: 'q', test: 't', chuid: 'c', chroot: 'r', chdir: 'd', ppid: ':', 'notify-await': '', 'notify-timeout': ':',
  },
};

/** GNU parallel's options (it also reads `-j4` and `--jobs=4`). */
const PARALLEL_OPTIONS: OptionTable = {
  short: '0a:C:d:D::E:gI:i::j:J:kl::L:mMn:N:P:qrs:S:tTuvVXx',
  long: {
    ...Object.fromEntries(['arg-file', 'colsep', 'delimiter', 'eof', 'jobs', 'max-args', 'max-replace-args', 'max-procs', 'sshlogin', 'sshloginfile', 'slf', 'joblog', 'results', 'res', 'timeout', 'delay', 'halt', 'halt-on-error', 'retries', 'memfree', 'load', 'nice', 'tmpdir', 'workdir', 'wd', 'basefile', 'bf', 'transferfile', 'tf', 'return', 'env', 'tagstring', 'block', 'block-size', 'header', 'max-line-length-allowed', 'max-chars', 'profile', 'id', 'semaphorename', 'ssh', 'shellquote-command', 'recstart', 'recend', 'blocktimeout', 'limit', 'rpl', 'sqlandworker', 'sqlmaster', 'sqlworker', 'filter', 'resume-failed-from', 'cat-output', 'shard', 'bin', 'group-by', 'memsuspend', 'ssh-delay', 'termseq', 'arg-sep', 'arg-file-sep', 'csv', 'sql'].map((n) => [n, ':'])),
    ...Object.fromEntries(['null', 'keep-order', 'keep', 'tag', 'pipe', 'pipepart', 'dry-run', 'dryrun', 'bar', 'eta', 'progress', 'verbose', 'version', 'help', 'will-cite', 'citation', 'ungroup', 'line-buffer', 'linebuffer', 'group', 'quote', 'xargs', 'shuf', 'plus', 'trim', 'no-notice', 'silent', 'fg', 'bg', 'semaphore', 'cleanup', 'trc', 'transfer', 'onall', 'nonall', 'round-robin', 'round', 'tty', 'lb', 'files', 'files0', 'fifo', 'cat', 'compress', 'ctag', 'noswap', 'resume', 'resume-failed', 'retry-failed', 'number-of-cpus', 'number-of-cores', 'number-of-sockets', 'number-of-threads', 'show-limits', 'use-cpus-instead-of-cores', 'use-cores-instead-of-threads', 'use-sockets-instead-of-threads', 'exit', 'open-tty', 'interactive', 'skip-first-line', 'no-run-if-empty'].map((n) => [n, ''])),
  },
};

const SETARCH_OPTIONS: OptionTable = {
  short: 'v3BFILRSTXZhV',
  long: { verbose: 'v', '3gb': '3', '32bit': 'B', 'fdpic-funcptrs': 'F', 'short-inode': 'I', 'addr-compat-layout': 'L', 'addr-no-randomize': 'R', 'whole-seconds': 'S', 'sticky-timeouts': 'T', 'read-implies-exec': 'X', 'mmap-page-zero': 'Z', 'uname-2.6': '', list: '', help: 'h', version: 'V' },
};

/** Compiler drivers of gcc and clang, versioned or cross (`gcc-12`, `x86_64-linux-gnu-g++`, `clang++-16`, `gfortran`). */
const C_COMPILER = /^([\w.]+-)*(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|gfortran|gccgo)(-\d+(\.\d+)*)?$/;
/** The dynamic loader run as a program (glibc's ld-linux*.so.N and ld.so, musl's ld-musl-*.so.1). */
const DYNAMIC_LOADER = /^ld(-linux[\w.-]*|-musl-[\w.-]+|-lsb[\w.-]*|64|-\d+(\.\d+)*)?\.so(\.\d+)*$/;
/** The loader's options that take the next word (ld.so --help). */
const LOADER_VALUED = new Set(['--library-path', '--inhibit-rpath', '--audit', '--preload', '--argv0', '--glibc-hwcaps-prepend', '--glibc-hwcaps-mask']);

/**
 * The options of the programs that run another command, and the operands that stand between
 * them and it (timeout's duration, chrt's priority, taskset's mask). Each stops reading options
 * at its first operand, as they all do (getopt's `+`).
 */
const WRAPPERS: Record<string, { options: OptionTable; operands?: RegExp[] }> = {
  nice: { options: { short: 'n:', long: { adjustment: 'n', ...HELP }, numeric: true } },
  ionice: { options: { short: 'c:n:p:P:u:thV', long: { class: 'c', classdata: 'n', pid: 'p', pgid: 'P', uid: 'u', ignore: 't', help: 'h', version: 'V' } } },
  nohup: { options: { short: '', long: HELP } },
  setsid: { options: { short: 'cfwhV', long: { ctty: 'c', fork: 'f', wait: 'w', help: 'h', version: 'V' } } },
  stdbuf: { options: { short: 'i:o:e:', long: { input: 'i', output: 'o', error: 'e', ...HELP } } },
  command: { options: { short: 'pvV', long: {} } },
  exec: { options: { short: 'a:cl', long: {} } },
  builtin: { options: { short: '', long: {} } },
  time: { options: { short: 'af:o:pqvV', long: { append: 'a', format: 'f', output: 'o', portability: 'p', quiet: 'q', verbose: 'v', help: '', version: 'V' } } },
  chrt: {
    options: {
      short: 'abdfiorRT:P:D:pmvhV',
      long: { 'all-tasks': 'a', batch: 'b', deadline: 'd', fifo: 'f', idle: 'i', other: 'o', rr: 'r', 'reset-on-fork': 'R', 'sched-runtime': 'T', 'sched-period': 'P', 'sched-deadline': 'D', pid: 'p', max: 'm', verbose: 'v', help: 'h', version: 'V' },
    },
    operands: [/^\d+$/],
  },
  taskset: { options: { short: 'acphV', long: { 'all-tasks': 'a', 'cpu-list': 'c', pid: 'p', help: 'h', version: 'V' } }, operands: [/^(0x)?[0-9a-f]+$|^[0-9,:-]+$/i] },
  timeout: {
    options: { short: 'k:s:v', long: { 'kill-after': 'k', signal: 's', foreground: '', 'preserve-status': '', verbose: 'v', ...HELP } },
    operands: [/^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?[smhd]?$|^inf(inity)?$/i],
  },
  unbuffer: { options: { short: 'p', long: {} } },
  setpriv: {
    options: {
      short: 'dhV',
      long: {
        ...Object.fromEntries(['ruid', 'euid', 'reuid', 'rgid', 'egid', 'regid', 'groups', 'inh-caps', 'ambient-caps', 'bounding-set', 'securebits', 'pdeathsig', 'selinux-label', 'apparmor-profile', 'landlock-access', 'landlock-rule', 'seccomp-filter'].map((n) => [n, ':'])),
        ...Object.fromEntries(['nnp', 'no-new-privs', 'clear-groups', 'keep-groups', 'init-groups', 'reset-env'].map((n) => [n, ''])),
        dump: 'd',
        help: 'h',
        version: 'V',
      },
    },
  },
  sudo: {
    options: {
      short: 'AbC:D:Eeg:Hh::iKklnPp:R:r:SsT:t:U:u:Vv',
      long: {
        askpass: 'A', background: 'b', 'close-from': 'C', chdir: 'D', 'preserve-env': '::', edit: 'e', group: 'g', 'set-home': 'H', help: '', host: ':', login: 'i',
        'remove-timestamp': 'K', 'reset-timestamp': 'k', list: 'l', 'non-interactive': 'n', 'preserve-groups': 'P', prompt: 'p', chroot: 'R', role: 'r', stdin: 'S',
        shell: 's', type: 't', 'command-timeout': 'T', 'other-user': 'U', user: 'u', version: 'V', validate: 'v',
      },
    },
  },
  doas: { options: { short: 'a:C:Lnsu:', long: {} } },
  // Tracers, debuggers and limiters run the command under them (strace -o FILE, valgrind --tool=x).
  strace: {
    options: {
      short: 'a:Ab:cCdDe:E:fFhiI:kno:O:p:P:qrs:S:tTu:U:vVwxX:yYzZ',
      long: {
        ...Object.fromEntries(['abbrev', 'verbose', 'raw', 'read', 'write', 'signal', 'status', 'trace', 'fault', 'inject', 'kvm', 'decode-pids'].map((n) => [n, ':'])),
        ...Object.fromEntries(['daemonize', 'absolute-timestamps', 'relative-timestamps', 'syscall-times', 'strings-in-hex', 'decode-fds', 'tips', 'quiet', 'timestamps'].map((n) => [n, '::'])),
        attach: 'p', columns: 'a', 'detach-on': 'b', env: 'E', interruptible: 'I', output: 'o', 'trace-path': 'P', user: 'u', 'string-limit': 's', 'summary-columns': 'U',
        'summary-sort-by': 'S', 'summary-syscall-overhead': 'O', 'const-print-style': 'X', 'follow-forks': 'f', 'output-separately': '', 'failed-only': 'Z', 'successful-only': 'z',
        'seccomp-bpf': '', summary: 'C', 'summary-only': 'c', 'summary-wall-clock': 'w', 'instruction-pointer': 'i', 'stack-traces': 'k', 'syscall-number': 'n', 'no-abbrev': 'v',
        debug: 'd', 'output-append-mode': 'A', help: 'h', version: 'V',
      },
    },
  },
  ltrace: {
    options: {
      short: 'a:A:bcCD:e:fF:hiLl:n:o:p:rs:StTu:vVw:x:X:',
      long: { align: 'a', config: 'F', debug: 'D', demangle: 'C', help: 'h', indent: 'n', library: 'l', output: 'o', version: 'V', where: 'w', 'no-signals': 'b' },
    },
  },
  valgrind: { options: { short: 'qvhd', long: {}, oneWordLong: true } },
  catchsegv: { options: { short: '', long: {} } },
  prlimit: {
    options: {
      short: 'c::d::e::f::i::l::m::n::q::r::s::t::u::v::x::y::p:o:hV',
      long: {
        core: 'c', data: 'd', nice: 'e', fsize: 'f', sigpending: 'i', memlock: 'l', rss: 'm', nofile: 'n', msgqueue: 'q', rtprio: 'r', stack: 's', cpu: 't', nproc: 'u', as: 'v',
        locks: 'x', rttime: 'y', pid: 'p', output: 'o', noheadings: '', raw: '', verbose: '', help: 'h', version: 'V',
      },
    },
  },
  numactl: {
    options: {
      short: 'ai:p:P:c:N:C:m:w:slHbS:f:o:L:tM:dDI:uTV',
      long: {
        all: 'a', interleave: 'i', preferred: 'p', 'preferred-many': 'P', cpubind: 'c', cpunodebind: 'N', physcpubind: 'C', membind: 'm', 'weighted-interleave': 'w', show: 's', localalloc: 'l',
        hardware: 'H', balancing: 'b', shm: 'S', file: 'f', offset: 'o', length: 'L', strict: 't', shmmode: 'M', dump: 'd', 'dump-nodes': 'D', shmid: 'I', huge: 'u', touch: 'T', verify: 'V',
      },
    },
  },
  // faketime [options] <timestamp> <program…>
  faketime: { options: { short: 'fhmpv', long: { 'exclude-monotonic': '', 'disable-shm': '', 'date-prog': ':', help: 'h', version: 'v' } }, operands: [/./] },
  fakeroot: { options: { short: 'l:f:i:s:ub:hv', long: { lib: 'l', faked: 'f', 'unknown-is-real': 'u', 'fd-base': 'b', help: 'h', version: 'v' } } },
  // runit's chpst, and its other names (each reads the user, directory or lock file before the program).
  chpst: { options: { short: 'u:U:b:e:/:C:n:l:L:m:d:o:p:f:c:r:t:vP012', long: {} } },
  setuidgid: { options: { short: '', long: {} }, operands: [/./] },
  envuidgid: { options: { short: '', long: {} }, operands: [/./] },
  envdir: { options: { short: '', long: {} }, operands: [/./] },
  setlock: { options: { short: 'nNxX', long: {} }, operands: [/./] },
  softlimit: { options: { short: 'a:c:d:f:l:m:o:p:r:s:t:', long: {} } },
  pgrphack: { options: { short: '', long: {} } },
  proot: {
    options: {
      short: 'r:b:m:q:w:v:Vhk:0i:R:S:lLp:',
      long: { rootfs: 'r', bind: 'b', mount: 'm', qemu: 'q', cwd: 'w', pwd: 'w', verbose: 'v', version: 'V', about: 'V', help: 'h', 'kernel-release': 'k', 'root-id': '0', 'change-id': 'i', 'kill-on-exit': '', 'link2symlink': 'l' },
    },
  },
  firejail: { options: { short: '', long: {}, oneWordLong: true } },
  bwrap: {
    options: {
      short: '',
      long: {
        ...Object.fromEntries(['unshare-all', 'share-net', 'unshare-user', 'unshare-user-try', 'unshare-ipc', 'unshare-pid', 'unshare-net', 'unshare-uts', 'unshare-cgroup', 'unshare-cgroup-try', 'disable-userns', 'assert-userns-disabled', 'clearenv', 'new-session', 'die-with-parent', 'as-pid-1', 'help', 'version'].map((n) => [n, ''])),
        ...Object.fromEntries(['args', 'argv0', 'userns', 'userns2', 'pidns', 'uid', 'gid', 'hostname', 'chdir', 'unsetenv', 'lock-file', 'sync-fd', 'remount-ro', 'exec-label', 'file-label', 'proc', 'dev', 'tmpfs', 'mqueue', 'dir', 'seccomp', 'add-seccomp-fd', 'block-fd', 'userns-block-fd', 'info-fd', 'json-status-fd', 'cap-add', 'cap-drop', 'perms', 'size', 'overlay-src', 'tmp-overlay', 'ro-overlay'].map((n) => [n, ':'])),
        ...Object.fromEntries(['setenv', 'bind', 'bind-try', 'dev-bind', 'dev-bind-try', 'ro-bind', 'ro-bind-try', 'bind-fd', 'ro-bind-fd', 'file', 'bind-data', 'ro-bind-data', 'symlink', 'chmod'].map((n) => [n, ':2'])),
        overlay: ':3',
      },
    },
  },
  'ssh-agent': { options: { short: 'cDdksE:a:O:P:t:', long: {} } },
  'dbus-run-session': { options: { short: '', long: { 'config-file': ':', 'dbus-daemon': ':', session: '', ...HELP } } },
  'xvfb-run': {
    options: {
      short: 'ade:f:hn:lp:s:w:',
      long: { 'auto-servernum': 'a', 'auto-display': 'd', 'error-file': 'e', 'auth-file': 'f', help: 'h', 'server-num': 'n', 'listen-tcp': 'l', 'xauth-protocol': 'p', 'server-args': 's', wait: 'w' },
    },
  },
  'systemd-run': {
    options: {
      short: 'p:u:E:M:H:C:tPGqdrS',
      long: {
        ...Object.fromEntries(['unit', 'property', 'description', 'slice', 'setenv', 'uid', 'gid', 'nice', 'working-directory', 'machine', 'host', 'capsule', 'service-type', 'on-active', 'on-boot', 'on-startup', 'on-unit-active', 'on-unit-inactive', 'on-calendar', 'on-clock-change', 'on-timezone-change', 'timer-property', 'path-property', 'socket-property', 'json', 'shell-prompt-prefix', 'background'].map((n) => [n, ':'])),
        ...Object.fromEntries(['user', 'system', 'scope', 'no-block', 'wait', 'collect', 'send-sighup', 'quiet', 'verbose', 'no-ask-password', 'same-dir', 'slice-inherit', 'expand-environment', 'pty', 'pipe', 'remain-after-exit', 'shell', 'ignore-failure', 'help', 'version'].map((n) => [n, ''])),
      },
    },
  },
  daemonize: { options: { short: 'ac:e:o:p:l:u:vE:', long: {} } },
  sshpass: { options: { short: 'f:d:p:e::hVP:v', long: {} } },
  // fish's `and`, `or`, `not` and `begin` run the command after them.
  and: { options: { short: '', long: {} } },
  or: { options: { short: '', long: {} } },
  not: { options: { short: '', long: {} } },
  begin: { options: { short: '', long: {} } },
  // util-linux's personality aliases (setarch <arch> itself is read every way: its options follow the arch).
  ...Object.fromEntries(['linux32', 'linux64', 'i386', 'i686', 'x86_64', 'uname26'].map((n) => [n, { options: SETARCH_OPTIONS }])),
  // logsave <logfile> <cmd…>, choom -n <adj> <cmd…>, cgexec -g <ctl:path> <cmd…>, lckdo <lockfile> <cmd…>.
  logsave: { options: { short: 'asv', long: {} }, operands: [/./] },
  choom: { options: { short: 'n:p:hV', long: { adjust: 'n', pid: 'p', help: 'h', version: 'V' } } },
  cgexec: { options: { short: 'g:h', long: { sticky: '' } } },
  lckdo: { options: { short: 'qwW:', long: {} }, operands: [/./] },
  eatmydata: { options: { short: '', long: {} } },
  chronic: { options: { short: 'ev', long: {} } },
  ifne: { options: { short: 'n', long: {} } },
  'systemd-cat': { options: { short: 't:p:', long: { identifier: 't', priority: 'p', 'stderr-priority': ':', 'level-prefix': ':', namespace: ':', ...HELP } } },
  xargs: {
    options: {
      short: '0a:d:E:e::I:i::L:l::n:opP:rs:tx',
      long: {
        null: '0', 'arg-file': 'a', delimiter: 'd', eof: '::', replace: '::', 'max-lines': '::', 'max-args': 'n', 'open-tty': 'o', interactive: 'p', 'max-procs': 'P',
        'process-slot-var': ':', 'no-run-if-empty': 'r', 'max-chars': 's', 'show-limits': '', verbose: 't', exit: 'x', ...HELP,
      },
    },
  },
};

const ENV_OPTIONS: OptionTable = {
  short: '0a:C:iP:S:u:v',
  long: {
    null: '0', argv0: 'a', chdir: 'C', 'ignore-environment': 'i', 'split-string': 'S', unset: 'u', debug: 'v',
    'block-signal': '::', 'default-signal': '::', 'ignore-signal': '::', 'list-signal-handling': '', ...HELP,
  },
};

const FLOCK_OPTIONS: OptionTable = {
  short: 'sexnoFuw:E:c:hV',
  long: { shared: 's', exclusive: 'x', unlock: 'u', nonblock: 'n', nb: 'n', close: 'o', 'no-fork': 'F', wait: 'w', timeout: 'w', 'conflict-exit-code': 'E', command: 'c', verbose: '', help: 'h', version: 'V' },
};

/** A shell's options: letters cluster, `-o name`/`+O name` take a value; the long ones of bash and zsh. */
const SHELL_VALUED: Record<string, string> = { sh: 'oO', bash: 'oO', rbash: 'oO', dash: 'o', ash: 'o', zsh: 'o', ksh: 'oR', mksh: 'oT', fish: 'CdDfop' };
const SHELL_LONG: Record<string, string> = {
  ...Object.fromEntries(['debugger', 'dump-po-strings', 'dump-strings', 'help', 'login', 'noediting', 'noprofile', 'norc', 'posix', 'pretty-print', 'restricted', 'verbose', 'version'].map((n) => [n, ''])),
  rcfile: ':',
  'init-file': ':',
  emulate: ':',
  // fish: --command and --init-command take the script (shellRuns), the others a value.
  command: ':',
  'init-command': ':',
  ...Object.fromEntries(['debug', 'debug-output', 'features', 'profile', 'profile-startup', 'debug-stack-frames'].map((n) => [n, ':'])),
  ...Object.fromEntries(['interactive', 'no-execute', 'no-config', 'private', 'print-rusage-self', 'print-debug-categories'].map((n) => [n, ''])),
};

/** One option read at args[i]: what it was, and where the next word is; `unknown` when the table does not know it. */
interface OptionRead {
  next: number;
  options: { name: string; value?: string }[];
  unknown?: boolean;
}

/** Reads the option word at args[i] (one word, or two with a separate value) by the table. */
function readOption(args: string[], i: number, table: OptionTable): OptionRead {
  const a = args[i]!;
  const kindOf = (letter: string) => {
    const at = table.short.indexOf(letter);
    return at === -1 || letter === ':' ? undefined : table.short.startsWith('::', at + 1) ? '::' : table.short[at + 1] === ':' ? ':' : '';
  };
  if (a.startsWith('--') && table.oneWordLong) return { next: i + 1, options: [{ name: a.slice(2).split('=')[0]! }] };
  if (a.startsWith('--')) {
    const eq = a.indexOf('=');
    const given = a.slice(2, eq === -1 ? undefined : eq);
    const names = Object.keys(table.long);
    const matches = names.includes(given) ? [given] : names.filter((n) => n.startsWith(given));
    // A prefix of several names is one option only when they all stand for the same letter (flock --n: --nb, --nonblock).
    const letters = new Set(matches.map((n) => table.long[n]));
    if (matches.length === 0 || (matches.length > 1 && (letters.size > 1 || !/^[A-Za-z0-9]$/.test([...letters][0]!)))) {
      return { next: i + 1, options: [], unknown: true };
    }
    const spec = table.long[matches[0]!]!;
    const name = spec.length === 1 && spec !== ':' ? spec : matches[0]!;
    const kind = spec.length === 1 && spec !== ':' ? kindOf(spec) : spec;
    if (eq !== -1) return { next: i + 1, options: [{ name, value: a.slice(eq + 1) }] };
    if (kind === ':') return { next: i + 2, options: [{ name, value: args[i + 1] }] };
    if (/^:\d$/.test(kind!)) return { next: i + 1 + Number(kind!.slice(1)), options: [{ name, value: args[i + 1] }] };
    return { next: i + 1, options: [{ name }] };
  }
  if (table.numeric && /^-\d+$/.test(a)) return { next: i + 1, options: [{ name: 'n', value: a.slice(1) }] };
  const options: OptionRead['options'] = [];
  for (let k = 1; k < a.length; k++) {
    const letter = a[k]!;
    const kind = kindOf(letter);
    if (kind === undefined) return { next: i + 1, options, unknown: true };
    if (kind === '') {
      options.push({ name: letter });
      continue;
    }
    const rest = a.slice(k + 1);
    if (rest !== '' || kind === '::') return { next: i + 1, options: [...options, { name: letter, ...(rest !== '' ? { value: rest } : {}) }] };
    return { next: i + 2, options: [...options, { name: letter, value: args[i + 1] }] };
  }
  return { next: i + 1, options };
}

/** Whether args[i] is an option word (`--` and a lone `-` are not). */
const isOption = (word: string | undefined) => word !== undefined && word.startsWith('-') && word !== '-' && word !== '--';

/**
 * What a shell's arguments run: the `-c` script (options may come before and after -c, and be
 * clustered: `bash -Ec`, `sh -c -- '…'`), a script file, or its input. After an option it does not
 * know, any word may be an option's value or the script, so every word is read as a script.
 */
function shellRuns(name: string, args: string[]): { scripts: string[]; input: boolean; startup: ShellStartup } {
  const valued = SHELL_VALUED[name] ?? 'oO';
  let command = false;
  let input = false;
  let unsure = false;
  const startup: ShellStartup = { rcfile: undefined, interactive: false, login: false };
  /** Scripts given as an option's value: fish's `-C`, `--command`, `--init-command`. */
  const given: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || a === '-') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const long = a.slice(2).split('=')[0]!;
      const spec = SHELL_LONG[long];
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[i + 1];
      if (name === 'fish' && (long === 'command' || long === 'init-command') && value !== undefined) given.push(value);
      if ((long === 'rcfile' || long === 'init-file') && value !== undefined) startup.rcfile = value;
      startup.login ||= long === 'login';
      startup.interactive ||= long === 'interactive';
      if (spec === undefined) unsure = true;
      else if (spec === ':' && !a.includes('=')) i++;
      continue;
    }
    if (!/^[-+][A-Za-z]+$/.test(a)) {
      if (/^[-+]./.test(a)) unsure = true;
      // After an unknown option, a word may be its value, and options may follow it.
      else if (!unsure) break;
      continue;
    }
    for (const letter of a.slice(1)) {
      if (letter === 'c') command = true;
      else if (letter === 's') input = true;
      else if (letter === 'i' && a.startsWith('-')) startup.interactive = true;
      else if (letter === 'l' && a.startsWith('-')) startup.login = true;
      else if (valued.includes(letter)) {
        if (name === 'fish' && letter === 'C' && args[i + 1] !== undefined) given.push(args[i + 1]!);
        i++;
      }
    }
  }
  if (command) return { scripts: [...given, ...(unsure ? args.filter((a) => !/^[-+]./.test(a)) : args.slice(i, i + 1))], input: false, startup };
  // `bash --version` prints and exits: it reads no script.
  const prints = args.slice(0, i).some((a) => a === '--version' || a === '--help');
  return { scripts: given, input: !prints && (input || i >= args.length || readsCommandOutput(args[i]!)), startup };
}

/** What a shell reads before its script: `--rcfile`/`--init-file`, and whether it is interactive (`-i`) or a login shell (`-l`, `--login`). */
interface ShellStartup {
  rcfile: string | undefined;
  interactive: boolean;
  login: boolean;
}

/**
 * Why a shell runs code from startup files before the script the line shows, if it does: the
 * file `--rcfile`/`--init-file` names, or an interactive or login shell (and zsh and fish, which
 * always read `.zshenv` and `config.fish`) whose HOME (fish: or XDG_CONFIG_HOME) the command sets (`HOME=/w bash -lc …`, `--env HOME=…`), where its
 * `.bashrc`, `.profile` or `.zshenv` may be the vault's. With the sandbox's own HOME (a private
 * /tmp, empty at the start of each run) those files are not the vault's.
 */
function startupCode(name: string, startup: ShellStartup, assignments: string[] = []): string | undefined {
  if (startup.rcfile !== undefined) return `${name} runs ${startup.rcfile} (--rcfile/--init-file) before its script, code the policy does not read, so it may do what any program may`;
  // fish reads config.fish always, from $XDG_CONFIG_HOME/fish (else $HOME/.config/fish).
  const home = assignments.some((a) => a.startsWith('HOME=') || (name === 'fish' && a.startsWith('XDG_CONFIG_HOME=')));
  if (home && (startup.interactive || startup.login || name === 'zsh' || name === 'fish')) {
    const file = name === 'fish' ? '$XDG_CONFIG_HOME/fish/config.fish' : `$HOME/${name === 'zsh' ? '.zshenv' : startup.login ? '.profile' : '.bashrc'}`;
    return `${name} ${startup.login ? 'as a login shell ' : startup.interactive ? 'when interactive ' : ''}runs its startup files (${file}) from the HOME the command sets before its script, code the policy does not read, so it may do what any program may`;
  }
  return undefined;
}

/** The words of a string split as env -S splits it (quotes group, no operators). */
function shellWords(text: string): string[] {
  return tokenize(text, []).filter((t) => t.kind === 'word').map((t) => t.text);
}

/** Numbers the word lists expandCommand reads, so a tail of one is known by its length. */
let origins = 0;

/** The program's name for rule matching: the last path component of argv[0]. */
export function programName(argv0: string): string {
  const i = argv0.lastIndexOf('/');
  return i === -1 ? argv0 : argv0.slice(i + 1);
}

/** git's options before its command (git.c handle_options) that take the next word as their value. */
const GIT_VALUED = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--config-env', '--super-prefix', '--attr-source']);

/**
 * The options of package managers that may stand before their command, as their parsers read
 * them (`npm --registry <url> publish`, `pnpm -C <dir> publish`, `yarn --cwd <dir> publish`). npm's
 * and pnpm's nopt reads an option it does not know as a flag; which of them take a value is
 * not certain from here, so expandCommand also judges the reading where it takes one.
 */
const PACKAGE_MANAGER_OPTIONS: Record<string, OptionTable> = {
  npm: {
    short: 'C:w:L:m:c:aBDEgHlnNOpPqsSyfvd',
    long: {
      ...Object.fromEntries(['registry', 'otp', 'tag', 'access', 'userconfig', 'globalconfig', 'prefix', 'cache', 'loglevel', 'workspace', 'scope', 'auth-type', 'cafile', 'ca', 'cert', 'key', 'proxy', 'https-proxy', 'noproxy', 'location', 'before', 'fetch-retries', 'fetch-timeout', 'node-options', 'script-shell', 'shell', 'umask', 'user-agent', 'editor', 'git', 'heading', 'message', 'omit', 'include', 'install-strategy', 'provenance-file', 'replace-registry-host', 'viewer', 'call', 'logs-dir', 'logs-max', 'maxsockets', 'preid', 'tag-version-prefix', 'local-address', 'npm-version'].map((n) => [n, ':'])),
      ...Object.fromEntries(['global', 'json', 'silent', 'force', 'dry-run', 'yes', 'quiet', 'verbose', 'workspaces', 'include-workspace-root', 'ignore-scripts', 'legacy-peer-deps', 'offline', 'prefer-offline', 'prefer-online', 'production', 'save', 'save-dev', 'save-exact', 'foreground-scripts', 'parseable', 'long', 'provenance', 'strict-ssl', 'audit', 'fund', 'progress', 'color', 'usage', ...Object.keys(HELP)].map((n) => [n, ''])),
    },
  },
  pnpm: {
    short: 'C:F:wrgDPOSs',
    long: {
      ...Object.fromEntries(['dir', 'filter', 'filter-prod', 'test-pattern', 'changed-files-ignore-pattern', 'reporter', 'loglevel', 'workspace-concurrency', 'registry', 'store-dir', 'virtual-store-dir', 'modules-dir', 'resume-from', 'otp', 'tag', 'access'].map((n) => [n, ':'])),
      ...Object.fromEntries(['recursive', 'workspace-root', 'global', 'silent', 'aggregate-output', 'stream', 'parallel', 'use-stderr', 'dev', 'prod', 'fail-if-no-match', 'report-summary', 'sort', 'reverse', 'json', 'dry-run', 'no-git-checks', ...Object.keys(HELP)].map((n) => [n, ''])),
    },
  },
  yarn: {
    short: 'sv',
    long: {
      ...Object.fromEntries(['cwd', 'modules-folder', 'cache-folder', 'mutex', 'network-timeout', 'global-folder', 'link-folder', 'preferred-cache-folder', 'network-concurrency', 'otp', 'use-yarnrc', 'registry'].map((n) => [n, ':'])),
      ...Object.fromEntries(['silent', 'verbose', 'offline', 'prefer-offline', 'json', 'no-progress', 'non-interactive', 'frozen-lockfile', 'ignore-engines', 'ignore-scripts', 'production', 'no-lockfile', 'pure-lockfile', 'force', 'flat', ...Object.keys(HELP)].map((n) => [n, ''])),
    },
  },
  bun: {
    short: 'c:r:d:l:b',
    long: {
      ...Object.fromEntries(['cwd', 'config', 'env-file', 'preload', 'tsconfig-override', 'define', 'loader', 'main-fields', 'conditions'].map((n) => [n, ':'])),
      ...Object.fromEntries(['silent', 'bun', 'watch', 'hot', 'smol', 'revision', ...Object.keys(HELP)].map((n) => [n, ''])),
    },
  },
  // cargo's global options (`cargo --color never publish`, `cargo -Z flag publish`); a leading
  // `+toolchain` (rustup's proxy) is skipped where the subcommand is looked for.
  cargo: {
    short: 'C:Z:vqVh',
    long: {
      ...Object.fromEntries(['color', 'config', 'explain'].map((n) => [n, ':'])),
      ...Object.fromEntries(['locked', 'offline', 'frozen', 'verbose', 'quiet', 'list', ...Object.keys(HELP)].map((n) => [n, ''])),
    },
  },
};

/**
 * Package runners, which run a package's command: the package managers' subcommands that do
 * (`npm exec`, `npm x`, `pnpm dlx`…) and the programs (`npx`, `bunx`, `pnpx`). `npx npm publish`
 * runs `npm publish`; `-c`/`--call` gives a shell command line.
 */
const PACKAGE_RUNNER_SUBCOMMANDS: Record<string, string[]> = { npm: ['exec', 'x'], pnpm: ['dlx', 'exec'], yarn: ['dlx', 'exec'], bun: ['x'] };
const PACKAGE_RUNNER_OPTIONS: OptionTable = { short: 'p:c:yq', long: { package: 'p', call: 'c', yes: 'y', no: '', quiet: 'q', 'ignore-existing': '', silent: '', bun: '', ...HELP } };

/** cmake -E commands that remove or move files, as the commands they amount to. */
const CMAKE_FILE_COMMANDS: Record<string, string[]> = { rm: ['rm'], remove: ['rm'], remove_directory: ['rm', '-r'], rename: ['mv'] };

/** Where the words after an environment runner's `run` (`uv tool run`) may start in its arguments (its global options read as runnerStarts reads them). */
function environmentRunIndexes(name: string, args: string[]): number[] {
  return runnerStarts(args, 0).flatMap((at) => {
    if (args[at] === 'run') return [at + 1];
    return name === 'uv' && args[at] === 'tool' && args[at + 1] === 'run' ? [at + 2] : [];
  });
}

/**
 * The environment runners' options that take the next word (uv, conda, pdm, pixi, poetry, pipx):
 * any other option is read as a flag, so the first word after the options is the command.
 */
const RUNNER_VALUED = new Set([
  '--with', '--with-editable', '--with-requirements', '-p', '--python', '--env-file', '--extra', '--group', '--only-group', '--package', '--index', '--index-url',
  '--extra-index-url', '-f', '--find-links', '--directory', '--project', '--config-file', '--cache-dir', '--color', '--python-preference', '-C', '--config-setting',
  '-n', '--name', '--prefix', '--cwd', '-e', '--environment', '--manifest-path', '--venv', '--spec', '--from', '-P', '--exclude-newer', '--index-strategy', '--link-mode',
]);

/** Where the command starts in a runner's words from `from` on: after its options, and the values of those in RUNNER_VALUED. */
function runnerStarts(words: string[], from: number): number[] {
  for (let i = from; i < words.length; i++) {
    if (words[i] === '--') return i + 1 < words.length ? [i + 1] : [];
    if (!isOption(words[i])) return [i];
    if (RUNNER_VALUED.has(words[i]!)) i++;
  }
  return [];
}

/** What a package runner's arguments (after its name or subcommand) run: the words after its options, or its -c line. */
function packageRunnerCommand(args: string[]): { argv: string[] } | { script: string } | undefined {
  let i = 0;
  while (i < args.length && (args[i] === '--' || isOption(args[i]!))) {
    if (args[i] === '--') {
      i++;
      break;
    }
    const read = readOption(args, i, PACKAGE_RUNNER_OPTIONS);
    const call = read.options.find((o) => o.name === 'c' && o.value !== undefined);
    if (call) return { script: call.value! };
    i = read.unknown ? i + 1 : read.next; // an option it does not know: read as a flag
  }
  return i < args.length ? { argv: args.slice(i) } : undefined;
}

/**
 * The first argument that is not an option — what rules call the subcommand. For git, the values
 * of its global options are skipped (`git -C x reset --hard` → `reset`, `git --git-dir /r push` →
 * `push`); for package managers, those of theirs (PACKAGE_MANAGER_OPTIONS: `npm --otp 1 publish`
 * → `publish`); for other programs, those of `-C <dir>` and `-c <value>`.
 */
export function subcommandOf(args: string[], program?: string): string | undefined {
  const at = subcommandIndex(args, program);
  return at === undefined ? undefined : args[at];
}

/** Where subcommandOf's word is in args. */
function subcommandIndex(args: string[], program?: string): number | undefined {
  return subcommandIndexes(args, program)[0];
}

/**
 * Where the subcommand may be in args: first where it is when every option a package manager's
 * table does not know is a flag (as nopt reads one), then each other place it is when some of
 * those options take the next word as their value.
 */
function subcommandIndexes(args: string[], program?: string): number[] {
  const table = program === undefined ? undefined : PACKAGE_MANAGER_OPTIONS[program];
  const valued = program === 'git' ? GIT_VALUED : new Set(['-C', '-c']);
  const found: number[] = [];
  const starts = [0];
  const walked = new Set<number>();
  for (let s = 0; s < starts.length; s++) {
    for (let i = starts[s]!; i < args.length && !walked.has(i); i++) {
      walked.add(i);
      const a = args[i]!;
      if (a === '--') {
        if (i + 1 < args.length) found.push(i + 1);
        break;
      }
      if (program === 'cargo' && i === 0 && a.startsWith('+')) continue;
      if (table && isOption(a)) {
        const read = readOption(args, i, table);
        if (read.unknown && !a.includes('=') && args[i + 1] !== undefined && !isOption(args[i + 1])) starts.push(i + 2);
        i = (read.unknown ? i + 1 : read.next) - 1;
        continue;
      }
      if (!table && valued.has(a)) {
        i++;
        continue;
      }
      if (!a.startsWith('-')) {
        found.push(i);
        break;
      }
    }
  }
  return found;
}

/** What git runs on its own: a command (argv) or a shell command line (script). */
type GitRun = { argv?: string[]; script?: string; via: string };

/**
 * The alias git's option at args[i] defines: `-c alias.<name>=<expansion>`, or
 * `--config-env[=]alias.<name>=<VARIABLE>` (the expansion is the variable's value, known only when
 * the command line assigns it: `V=push git --config-env=alias.p=V p`).
 */
function gitAlias(args: string[], i: number, assignments: string[]): { name: string; expansion?: string; variable?: string } | undefined {
  const a = args[i]!;
  if (a === '-c') {
    const m = /^alias\.([^=]*)=(.*)$/is.exec(args[i + 1] ?? '');
    return m ? { name: m[1]!, expansion: m[2]! } : undefined;
  }
  const spec = a === '--config-env' ? args[i + 1] : a.startsWith('--config-env=') ? a.slice(13) : undefined;
  // git splits the spec at its last `=`: the variable's name has none.
  const m = spec === undefined ? null : /^alias\.(.*)=([^=]*)$/is.exec(spec);
  if (!m) return undefined;
  const assigned = assignments.findLast((w) => w.startsWith(m[2]! + '='));
  return { name: m[1]!, variable: m[2]!, ...(assigned !== undefined ? { expansion: assigned.slice(m[2]!.length + 1) } : {}) };
}

/**
 * Config keys whose value git runs as a shell command line (lower case; `.+` is a subsection, as
 * in `diff.<driver>.command`). core.fsmonitor holds a hook command when it is not a boolean; a
 * credential helper is a command when it starts with `!` or is a path (else git's own helper).
 */
const GIT_COMMAND_KEYS = [
  /^core\.(sshcommand|editor|pager|askpass|fsmonitor|alternaterefscommand|gitproxy)$/,
  /^sequence\.editor$/,
  /^diff\.external$/,
  /^diff\..+\.(command|textconv)$/,
  /^merge\..+\.driver$/,
  /^filter\..+\.(clean|smudge|process)$/,
  /^pager\..+$/,
  /^gpg(\..+)?\.program$/,
  /^credential(\..+)?\.helper$/,
  /^(uploadpack\.packobjectshook|remote\..+\.(uploadpack|receivepack))$/,
  /^(difftool|mergetool|browser|man)\..+\.cmd$/,
  /^instaweb\.httpd$/,
];
/** Config keys whose value is a program git runs by its path (`git help` runs man.<viewer>.path and browser.<tool>.path). */
const GIT_PROGRAM_KEYS = /^(man|browser)\..+\.path$/;
/** Config keys that make git read more config, or run hooks, from a file the line does not show: any program may then run. */
const GIT_FILE_KEYS = /^(include\.path|includeif\..+\.path|core\.hookspath)$/;
/** Environment variables whose value git runs (GIT_SSH is a program, the rest shell command lines). */
const GIT_COMMAND_VARIABLES = ['GIT_SSH_COMMAND', 'GIT_SSH', 'GIT_PROXY_COMMAND', 'GIT_EDITOR', 'GIT_SEQUENCE_EDITOR', 'GIT_PAGER', 'GIT_EXTERNAL_DIFF', 'GIT_ASKPASS', 'EDITOR', 'VISUAL', 'PAGER'];
/** Environment variables that point git at a config file the line does not show (`HOME` holds `.gitconfig`), as `-c include.path=` does. */
const GIT_CONFIG_FILE_VARIABLES = ['GIT_CONFIG_GLOBAL', 'GIT_CONFIG_SYSTEM', 'GIT_CONFIG', 'XDG_CONFIG_HOME', 'HOME'];
const GIT_BOOLEAN = /^(true|false|yes|no|on|off|1|0|)$/i;
/**
 * Programs git runs on its own for these settings (an ssh for a remote, an editor for a message, a
 * pager for output), as rsync runs an ssh: naming one changes nothing the policy judges. Judged, an editor read as
 * interactive refused `EDITOR=vim git status`, and ssh as a remote shell `git fetch` over ssh.
 */
const ORDINARY_RUNNERS = new Set(['ssh', 'vi', 'vim', 'nvim', 'nano', 'emacs', 'emacsclient', 'micro', 'ed', 'code', 'subl', 'less', 'more', 'most', 'cat', 'true', 'delta', 'bat', 'diff-so-fancy']);

/** The command a config setting (`key`, `value`) has git run, if its key is one that runs its value. */
function gitSettingCommand(key: string, value: string, via: string): GitRun | undefined {
  const lower = key.toLowerCase();
  if (GIT_FILE_KEYS.test(lower) && value !== '') return { script: '$' + lower.replace(/[^a-z0-9_]/g, '_'), via: `${via} (a file of config or hooks)` };
  if (GIT_PROGRAM_KEYS.test(lower)) return value === '' ? undefined : { argv: [value], via };
  // submodule.<name>.update=!<command>: `git submodule update` runs the command in the submodule.
  if (/^submodule\..+\.update$/.test(lower)) return value.startsWith('!') ? commandLineRun(value.slice(1), via) : undefined;
  if (!GIT_COMMAND_KEYS.some((k) => k.test(lower))) return undefined;
  if ((lower === 'core.fsmonitor' || lower.startsWith('pager.')) && GIT_BOOLEAN.test(value)) return undefined;
  // A helper by name is git's own `git credential-<name>`; `!…` is a shell line, a path a program.
  if (/^credential(\..+)?\.helper$/.test(lower)) return value.startsWith('!') ? commandLineRun(value.slice(1), via) : value.startsWith('/') ? commandLineRun(value, via) : undefined;
  return commandLineRun(value, via);
}

/** A shell command line a program runs (git's settings, tar's and rsync's options), unless it is empty or only names a program it would run there anyway. */
function commandLineRun(script: string, via: string): GitRun | undefined {
  const words = shellWords(script);
  if (words.length === 0) return undefined;
  if (ORDINARY_RUNNERS.has(basename(words[0]!)) && !/[;&|`$<>()]/.test(script)) return undefined;
  return { script, via };
}

/** The command a `-c <key>=<value>` (or `--config-env` with an assigned variable) at args[i] has git run. */
function gitConfigCommand(args: string[], i: number, assignments: string[]): GitRun | undefined {
  const a = args[i]!;
  if (a === '-c') {
    const m = /^([^=]*)=(.*)$/s.exec(args[i + 1] ?? '');
    return m ? gitSettingCommand(m[1]!, m[2]!, `git -c ${m[1]!}`) : undefined;
  }
  const spec = a === '--config-env' ? args[i + 1] : a.startsWith('--config-env=') ? a.slice(13) : undefined;
  const m = spec === undefined ? null : /^(.*)=([^=]*)$/s.exec(spec);
  if (!m) return undefined;
  const value = assignments.findLast((w) => w.startsWith(m[2]! + '='))?.slice(m[2]!.length + 1) ?? '$' + m[2]!;
  return gitSettingCommand(m[1]!, value, `git --config-env ${m[1]!}`);
}

/**
 * Settings git takes from its environment as if given with -c: GIT_CONFIG_COUNT with
 * GIT_CONFIG_KEY_<n> and GIT_CONFIG_VALUE_<n>, and GIT_CONFIG_PARAMETERS (`'key'='value' …`).
 */
function gitEnvironmentSettings(assignments: string[]): Array<[string, string]> {
  const value = (name: string) => assignments.findLast((w) => w.startsWith(name + '='))?.slice(name.length + 1);
  const out: Array<[string, string]> = [];
  const count = Number(value('GIT_CONFIG_COUNT') ?? 0);
  for (let n = 0; Number.isInteger(count) && n < Math.min(count, 1000); n++) {
    const key = value(`GIT_CONFIG_KEY_${n}`);
    if (key !== undefined) out.push([key, value(`GIT_CONFIG_VALUE_${n}`) ?? '']);
  }
  for (const word of shellWords(value('GIT_CONFIG_PARAMETERS') ?? '')) {
    const at = word.indexOf('=');
    if (at > 0) out.push([word.slice(0, at), word.slice(at + 1)]);
  }
  return out;
}

/**
 * The commands a git command line runs besides git's own work: an alias it defines itself
 * (`git -c alias.p=push p` runs `git push`; a `!…` alias is a shell command), `bisect run <cmd…>`,
 * `submodule foreach <cmd>` (one word is a shell command line, several a command) and
 * `rebase --exec <cmd>` (a shell command line). Aliases from config files are not on the command
 * line, so not seen. An alias taken from a variable the command line does not assign
 * (`--config-env=alias.p=V`) runs what the variable holds: a target computed at run time, judged
 * as `git $V …` and `$V …` are.
 */
function gitRuns(args: string[], assignments: string[]): GitRun[] {
  const at = subcommandIndex(args, 'git');
  if (at === undefined) return [];
  const sub = args[at]!;
  const rest = args.slice(at + 1);
  const runs: GitRun[] = [];
  // Config keys are case-insensitive in their section and name (alias.P defines p).
  for (let i = 0; i < at; i++) {
    const alias = gitAlias(args, i, assignments);
    if (!alias || alias.name.toLowerCase() !== sub.toLowerCase()) continue;
    const via = `git alias ${sub}`;
    const expansions = alias.expansion !== undefined ? [alias.expansion] : ['$' + alias.variable, '!$' + alias.variable];
    for (const expansion of expansions) {
      if (expansion.startsWith('!')) runs.push({ script: [expansion.slice(1), ...rest.map((a) => quoteArgv([a]))].join(' '), via });
      else runs.push({ argv: ['git', ...args.slice(0, at), ...shellWords(expansion), ...rest], via });
    }
  }
  // Commands in config given on the line (`-c core.sshCommand=…`, `-c core.fsmonitor=…`) and in
  // variables the line assigns (`GIT_SSH_COMMAND=… git fetch`): git runs them as it works.
  for (let i = 0; i < at; i++) {
    const run = gitConfigCommand(args, i, assignments);
    if (run) runs.push(run);
  }
  for (const [key, value] of gitEnvironmentSettings(assignments)) {
    const run = gitSettingCommand(key, value, `git config from the environment (${key})`);
    if (run) runs.push(run);
  }
  for (const name of GIT_COMMAND_VARIABLES) {
    const value = assignments.findLast((w) => w.startsWith(name + '='))?.slice(name.length + 1);
    const run = value === undefined ? undefined : name === 'GIT_SSH' ? (value && basename(value) !== 'ssh' ? { argv: [value], via: name } : undefined) : commandLineRun(value, name);
    if (run) runs.push(run);
  }
  // --exec-path=<dir> is GIT_EXEC_PATH: git runs its helpers (git-web--browse, git-<command>) from there.
  for (const a of args.slice(0, at)) {
    const dir = /^--exec-path=(.*)$/s.exec(a)?.[1];
    if (dir !== undefined && environmentRuns(`GIT_EXEC_PATH=${dir}`).length > 0) runs.push({ script: '$git_exec_path', via: 'git --exec-path (a directory of programs git runs)' });
  }
  for (const name of GIT_CONFIG_FILE_VARIABLES) {
    const value = assignments.findLast((w) => w.startsWith(name + '='))?.slice(name.length + 1);
    if (value && value !== '/dev/null') runs.push({ script: '$' + name.toLowerCase(), via: `${name} (a file of config git reads)` });
  }
  // A setting git config writes runs later, in this command or another: judged as it would run.
  const setting = sub === 'config' ? gitConfigSetting(rest) : undefined;
  if (setting) {
    const [key, value] = setting;
    const alias = /^alias\.(.+)$/i.exec(key);
    const run = alias ? (value.startsWith('!') ? commandLineRun(value.slice(1), `git alias ${alias[1]!}`) : { argv: ['git', ...shellWords(value)], via: `git alias ${alias[1]!}` }) : gitSettingCommand(key, value, `git config ${key}`);
    if (run) runs.push(run);
    // `git config <key> <value>` is `git config set <key> <value>` in full (git 2.46): it writes the config.
    if (rest[0] !== 'set') runs.push({ argv: ['git', 'config', 'set', key, value], via: 'git config, read in full' });
  }
  if (sub === 'bisect' && rest[0] === 'run') runs.push({ argv: rest.slice(1), via: 'git bisect run' });
  const foreach = sub === 'submodule' ? rest.indexOf('foreach') : -1;
  if (foreach !== -1) {
    let i = foreach + 1;
    while (i < rest.length && ['--recursive', '--quiet', '-q'].includes(rest[i]!)) i++;
    if (rest[i] === '--') i++;
    const words = rest.slice(i);
    if (words.length === 1) runs.push({ script: words[0]!, via: 'git submodule foreach' });
    else if (words.length > 1) runs.push({ argv: words, via: 'git submodule foreach' });
  }
  for (const [subs, long, short] of GIT_COMMAND_OPTIONS) {
    if (!subs.includes(sub)) continue;
    for (const value of optionValues(rest, long, short)) {
      const run = commandLineRun(value, `git ${sub} option`);
      if (run) runs.push(run);
    }
  }
  // A remote helper URL `ext::<command>` (with protocol.ext.allow) runs the command, split at
  // spaces: `% ` is a space inside a word, `%%` a `%`, and %S, %s and %G stand for git's words.
  for (const word of rest) {
    if (!/^ext::/i.test(word)) continue;
    const argv = word.slice(5).replace(/%%/g, '\uE003').replace(/%[SsG]/g, 'x').split(/(?<!%) +/).map((w) => w.replace(/% /g, ' ').replace(/\uE003/g, '%')).filter((w) => w !== '');
    if (argv.length > 0) runs.push({ argv, via: 'git ext:: remote' });
  }
  if (sub === 'rebase') {
    for (let i = 0; i < rest.length && rest[i] !== '--'; i++) {
      const a = rest[i]!;
      // --exec by any abbreviation git takes (--ex, --exe).
      const glued = /^--ex(ec?)?=(.*)$/s.exec(a)?.[2] ?? /^-[A-Za-z]*?x(.+)$/s.exec(a)?.[1];
      if (glued !== undefined) runs.push({ script: glued, via: 'git rebase --exec' });
      else if ((/^--ex(ec?)?$/.test(a) || /^-[A-Za-z]*x$/.test(a)) && rest[i + 1] !== undefined) runs.push({ script: rest[++i]!, via: 'git rebase --exec' });
    }
  }
  if (sub === 'clone' || sub === 'init') {
    // Its own -c/--config settings are the new repository's before its checkout runs (core.hooksPath,
    // a filter …); --template (as GIT_TEMPLATE_DIR) copies hooks in from a directory.
    for (const setting of optionValues(rest, ['config'], sub === 'clone' ? ['c'] : [])) {
      const m = /^([^=]*)=(.*)$/s.exec(setting);
      const run = m ? gitSettingCommand(m[1]!, m[2]!, `git ${sub} --config ${m[1]!}`) : undefined;
      if (run) runs.push(run);
    }
    if (optionValues(rest, ['template'], []).some((dir) => dir !== '')) runs.push({ script: '$git_template', via: `git ${sub} --template (hooks from a directory)` });
  }
  return runs;
}

/**
 * The key and value a `git config` command line sets (`git config <key> <value>`, `git config set
 * <key> <value>`, with --add or --replace-all too), or undefined when it reads, unsets or edits.
 */
function gitConfigSetting(rest: string[]): [string, string] | undefined {
  const words: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') {
      words.push(...rest.slice(i + 1));
      break;
    }
    if (/^(-f|--(file|blob|type|default|comment|value))$/.test(a)) i++;
    else if (/^--(get|list|unset|rename|remove|edit)|^-[a-zA-Z]*[le]/.test(a)) return undefined;
    else if (!a.startsWith('-')) words.push(a);
  }
  if (words[0] === 'set') words.shift();
  else if (['get', 'list', 'unset', 'rename-section', 'remove-section', 'edit'].includes(words[0]!)) return undefined;
  return words.length >= 2 ? [words[0]!, words[1]!] : undefined;
}

/** git subcommands' options whose value git runs as a shell command line: [subcommands, long names, short letters]. */
const GIT_COMMAND_OPTIONS: Array<[string[], string[], string[]]> = [
  [['archive'], ['exec'], []],
  [['clone'], ['upload-pack'], ['u']],
  // ls-remote's --exec is an older name of --upload-pack.
  [['fetch', 'pull'], ['upload-pack'], []],
  [['ls-remote'], ['upload-pack', 'exec'], []],
  // filter-branch runs each filter as a shell line.
  [['filter-branch'], ['tree-filter', 'index-filter', 'env-filter', 'msg-filter', 'commit-filter', 'parent-filter', 'tag-name-filter', 'setup'], []],
  [['push', 'send-pack'], ['receive-pack', 'exec'], []],
  [['difftool'], ['extcmd'], ['x']],
  // -O takes its value only in the same word (`-Oless`), as --open-files-in-pager only after `=`.
  [['grep'], ['open-files-in-pager='], ['O=']],
  [['instaweb'], ['httpd'], ['d']],
];

/**
 * Options whose value a program runs as a shell command line (`tar --to-command`, `-I` for its
 * compressor, `--checkpoint-action=exec=…`; `zip -TT`; `rsync -e`), as [long names, short
 * options]. A compressor or a remote shell named alone (`-I zstd`, `-e ssh`) is judged as that
 * program, except an ssh, which rsync runs anyway.
 */
const COMMAND_OPTIONS: Record<string, [string[], string[]]> = {
  tar: [['to-command', 'use-compress-program', 'info-script', 'new-volume-script', 'rsh-command'], ['I', 'F']],
  zip: [['unzip-command'], ['TT']],
  // script -c '<script>' [file] (also -qc …, --comm[=]…): the script runs in a shell.
  script: [['command'], ['c']],
  rsync: [['rsh', 'rsync-path'], ['e']],
  perf: [['pre', 'post'], []],
  make: [['eval'], ['E']],
};

/** Programs with an option that runs a program: COMMAND_OPTIONS's, and those expandCommand reads itself. */
const OPTIONS_RUN_PROGRAMS = new Set([...Object.keys(COMMAND_OPTIONS), 'find', 'sort', 'rg', 'git', 'watch', 'gdb', 'cgdb', 'parallel', 'sem', 'flock', 'start-stop-daemon', 'hash', 'script']);

/** The command lines `name`'s options make it run (COMMAND_OPTIONS). */
function optionCommands(name: string, args: string[]): Array<{ script: string; via: string }> {
  const table = COMMAND_OPTIONS[name];
  if (!table) return [];
  if (name === 'tar') args = tarArgs(args);
  const scripts = optionValues(args, table[0], table[1]);
  // tar's --checkpoint-action runs a command only as exec=…; its other actions print.
  if (name === 'tar') scripts.push(...optionValues(args, ['checkpoint-action'], []).flatMap((v) => (v.startsWith('exec=') ? [v.slice(5)] : [])));
  return scripts.flatMap((script) => {
    const run = commandLineRun(script, `${name} option`);
    return run?.script !== undefined ? [{ script: run.script, via: run.via }] : [];
  });
}

/**
 * The values given to the options `long` (`--name=value`, `--name value`, and any abbreviation,
 * as getopt_long takes a unique prefix: `--use-compress`) and `short` (`-x value`, `-xvalue`, and
 * in a cluster, `-yx value`; a two-letter short such as zip's `-TT` as `-TT value`, `-TTvalue` or
 * `-TT=value`) in `args`, up to `--`. Read loosely, not by the program's whole option table: a
 * word taken for a value that is not one is only judged as a command line too, the careful side.
 */
function optionValues(args: string[], long: string[], short: string[]): string[] {
  const out: string[] = [];
  // A name ending in `=` takes its value only in the same word (an optional value, as git's -O[<pager>]).
  const bare = (name: string) => name.replace(/=$/, '');
  const named = (name: string, separate: boolean) => name.length > 0 && long.some((l) => bare(l).startsWith(name) && !(separate && l.endsWith('=')));
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    const a = args[i]!;
    const eq = /^--([^=]+)=(.*)$/s.exec(a);
    if (eq) {
      if (named(eq[1]!, false)) out.push(eq[2]!);
    } else if (a.startsWith('--')) {
      if (named(a.slice(2), true) && args[i + 1] !== undefined) out.push(args[++i]!);
    } else if (a.startsWith('-')) {
      for (const option of short) {
        const s = bare(option);
        const at = s.length === 1 ? a.indexOf(s, 1) : a.startsWith(`-${s}`) ? 1 : -1;
        if (at < 1) continue;
        const glued = a.slice(at + s.length).replace(s.length > 1 ? /^=/ : /^$/, '');
        if (glued !== '') out.push(glued);
        else if (!option.endsWith('=') && args[i + 1] !== undefined) out.push(args[++i]!);
      }
    }
  }
  return out;
}

/** tar's old-style first word (`tar cfI a.tar 'cmd' x`): its letters as options, each taking the next words its letter takes. */
function tarArgs(args: string[]): string[] {
  const first = args[0];
  if (first === undefined || first.startsWith('-') || !/^[A-Za-z]+$/.test(first)) return args;
  const rest = args.slice(1);
  const options = [...first].flatMap((letter) => ('bCfFgHIKLNTVX'.includes(letter) && rest.length > 0 ? [`-${letter}`, rest.shift()!] : [`-${letter}`]));
  return [...options, ...rest];
}

/** procps watch's options (it stops at its first operand: the command). */
const WATCH_OPTIONS: OptionTable = {
  short: 'bcCd::egn:pq:rtwxhv',
  long: { beep: 'b', color: 'c', 'no-color': 'C', differences: 'd', errexit: 'e', chgexit: 'g', interval: 'n', precise: 'p', equexit: 'q', 'no-rerun': 'r', 'no-title': 't', 'no-wrap': 'w', exec: 'x', help: 'h', version: 'v' },
};

/** GNU sed's options. */
const SED_OPTIONS: OptionTable = {
  short: 'nrsuzEe:f:i::l:',
  long: {
    quiet: 'n', silent: 'n', 'regexp-extended': 'r', separate: 's', unbuffered: 'u', 'null-data': 'z', expression: 'e', file: 'f', 'in-place': 'i', 'line-length': 'l',
    debug: '', posix: '', sandbox: '', 'follow-symlinks': '', binary: '', ...HELP,
  },
};

/**
 * The scripts sed runs from its command line: each -e (--expression) value, else its first
 * operand (options may follow operands, as getopt permutes them). A script in a file (-f) is not
 * read, as a shell script's file is not. With --sandbox, sed refuses `e`, so it runs none. After
 * an option this table does not know, every operand may be the script.
 */
function sedScripts(args: string[]): string[] {
  const given: string[] = [];
  const operands: string[] = [];
  let file = false;
  let sandbox = false;
  let unsure = false;
  for (let i = 0; i < args.length; ) {
    if (args[i] === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (!isOption(args[i])) {
      operands.push(args[i++]!);
      continue;
    }
    const read = readOption(args, i, SED_OPTIONS);
    for (const o of read.options) {
      if (o.name === 'e' && o.value !== undefined) given.push(o.value);
      if (o.name === 'f') file = true;
      if (o.name === 'sandbox') sandbox = true;
    }
    unsure ||= read.unknown === true;
    i = read.next;
  }
  if (sandbox) return [];
  if (unsure) return [...given, ...operands];
  return given.length > 0 || file ? given : operands.slice(0, 1);
}

/**
 * Interpreters given their program in the command line (`python3 -c`, `node -e`, `perl -pi -e`,
 * `vim -es -c '!…'`) or on their input (`python3 <<EOF`, `echo … | node`): code in another
 * language, which the policy does not read, so it may do anything a computed program may. By
 * program name: the short options that take the code (found anywhere in a cluster: `-pe`, `-Bc`)
 * and the long ones (`long1dash`: also written with one dash, as `pwsh -Command`, `erl -eval`;
 * `plus`: `+<command>` words, as vim's).
 * Every word before `--` is looked at, not only those before the script: a script's own `-c`
 * reads as code too, which costs a checkpoint.
 */
const INLINE_CODE: Array<{ program: RegExp; short: string; long: string[]; long1dash?: boolean; stdin?: boolean; plus?: boolean }> = [
  { program: /^(i?python|pypy)[0-9.]*$/, short: 'c', long: [], stdin: true },
  { program: /^(node|nodejs|bun|tsx|ts-node)$/, short: 'ep', long: ['eval', 'print'], stdin: true },
  { program: /^(perl|raku|perl6)[0-9.]*$/, short: 'eE', long: [], stdin: true },
  { program: /^j?ruby[0-9.]*$/, short: 'e', long: [], stdin: true },
  { program: /^php[0-9.]*$/, short: 'rBRFE', long: ['run', 'process-begin', 'process-code', 'process-end'], stdin: true },
  { program: /^(lua|luajit)[0-9.]*$/, short: 'e', long: [], stdin: true },
  { program: /^(Rscript|R)$/, short: 'e', long: [] },
  { program: /^(pwsh|powershell)$/, short: 'c', long: ['command', 'encodedcommand', 'file'], long1dash: true },
  { program: /^(osascript|tclsh[0-9.]*|wish[0-9.]*|guile[0-9.]*|racket|sbcl|clisp|gst|julia|groovy|elixir|scala)$/, short: 'ce', long: ['eval', 'script'], stdin: true },
  { program: /^expect$/, short: 'c', long: [], stdin: true },
  { program: /^erl$/, short: '', long: ['eval', 's', 'run'], long1dash: true },
  { program: /^gdb$/, short: 'x', long: ['ex', 'eval-command', 'command', 'init-eval-command'], long1dash: true },
  { program: /^(vim?|nvim|ex|view|gvim|vimdiff)$/, short: 'cS', long: ['cmd'], plus: true },
  { program: /^emacs[0-9.-]*$/, short: 'lf', long: ['eval', 'load', 'funcall', 'script', 'exec'], long1dash: true },
];

/** sqlite3's dot commands that run a command line: .shell and .system, and .read, .once, .output, .import and .excel of a `|command`. */
const SQLITE_RUNS = /(^|\n)\s*\.(shell|system\b|(read|once|output|import|excel)\s+(-\S+\s+)*['"]?\|)/;

/** sqlite3's options that take the next word. */
const SQLITE_VALUED = /^--?(cmd|separator|newline|nullvalue|init|vfs|maxsize|mmap|pagecache|lookaside|heap|escape)$/;

/** sqlite3's operands: the database, then SQL (without it, statements come from the input). */
function sqliteOperands(words: string[]): string[] {
  return words.filter((w, i) => !w.startsWith('-') && !SQLITE_VALUED.test(words[i - 1] ?? ''));
}

/** The option by which `name` is given its program in the command line (INLINE_CODE), or another description for awk, deno, sqlite3 and code on the input; undefined when there is none. */
function inlineCode(name: string, args: string[]): string | undefined {
  const dashes = args.indexOf('--');
  const end = dashes < 0 ? args.length : dashes;
  const words = args.slice(0, end);
  if (name === 'deno' && words.find((w) => !w.startsWith('-')) === 'eval') return 'eval';
  // `ed --version`, `sqlite3 -help`: they print and exit.
  if (words.some((w) => /^--?(version|help)$/.test(w))) return undefined;
  const fromInput = 'reading its program from its input';
  // ed reads its commands (`!rm -rf src`) from the input.
  if (/^r?ed$/.test(name)) return 'reading its commands from its input';
  // script without -c runs a shell reading what comes on the input.
  if (name === 'script' && optionValues(args, ['command'], ['c']).length === 0) return 'running a shell reading its input';
  // make's makefile from the input (`-f -`, `-f /dev/stdin`, `-f <(…)`): its recipes are a script.
  if (/^g?make$/.test(name) && optionValues(args, ['file', 'makefile'], ['f']).some((f) => f === '-' || readsCommandOutput(f))) return fromInput;
  if (/^sqlite3?$/.test(name)) {
    // With no SQL operand it reads its statements and dot commands (.shell) from the input.
    if (sqliteOperands(words).length <= 1 && !args.slice(end + 1).length) return fromInput;
    // Its dot commands .shell and .system, and a `|command` read or written, run a command line.
    if (args.some((w) => SQLITE_RUNS.test(w))) return '.shell';
  }
  // awk's program is its first operand (without -f), after `--` too: it runs commands with system() and pipes, and writes files with `>`.
  if (/^[gmn]?awk$/.test(name)) {
    if (optionValues(words, ['file', 'exec', 'include'], ['f', 'E', 'i']).some((f) => f === '-' || readsCommandOutput(f))) return fromInput;
    if (words.some((w) => /^-f/.test(w) || w.startsWith('--file') || w.startsWith('--exec') || w.startsWith('--include'))) return undefined;
    const operands = [...words.filter((w, i) => !w.startsWith('-') && !/^-[vF]$/.test(words[i - 1] ?? '')), ...args.slice(end + 1)];
    return operands[0] !== undefined && /system|[|>]/.test(operands[0]) ? 'program' : undefined;
  }
  const table = INLINE_CODE.find((t) => t.program.test(name));
  if (!table) return undefined;
  for (const w of words) {
    // vim runs `+<command>`.
    if (table.plus && /^\+./.test(w)) return w.slice(0, 2);
    const long = /^--?([a-zA-Z-]+)(=|$)/.exec(w);
    if (long && table.long.includes(long[1]!.toLowerCase()) && (w.startsWith('--') || table.long1dash)) return `--${long[1]!.toLowerCase()}`;
    if (/^-[^-]/.test(w)) {
      const letter = [...w.slice(1)].find((c) => table.short.includes(c));
      if (letter !== undefined) return `-${letter}`;
    }
  }
  // ex, and vi or vim in Ex mode, read their commands from the input.
  if (name === 'ex' || (table.plus && words.some((w) => /^-(s?[eE]|[eE]s)$/.test(w)))) return 'reading its commands from its input';
  // No script named (or `-`, the input's device, another command's output): the interpreter reads its program from its input, a heredoc or a pipe.
  if (table.stdin && (args.every((w) => w.startsWith('-') && w !== '-') || args.includes('-') || args.some(readsCommandOutput))) return fromInput;
  return undefined;
}

/** Python's options before its script (`python -B -m twine upload` → -m runs the module twine). */
const PYTHON_OPTIONS: OptionTable = { short: 'bBdEhiIOPqsSuvVxc:m:W:X:', long: { 'check-hash-based-pycs': ':', 'help-env': '', 'help-xoptions': '', 'help-all': '', ...HELP } };

/** The command `python … -m <module> <args…>` amounts to: the module run as a program (`twine upload`), or undefined. */
function pythonModule(args: string[]): string[] | undefined {
  for (let i = 0; i < args.length && isOption(args[i]); ) {
    const read = readOption(args, i, PYTHON_OPTIONS);
    const module = read.options.find((o) => o.name === 'm')?.value;
    if (module !== undefined) return [module, ...args.slice(read.next)];
    // -c runs a script: what follows are its arguments, not options.
    if (read.unknown || read.options.some((o) => o.name === 'c')) return undefined;
    i = read.next;
  }
  return undefined;
}

/** GNU parallel's replacement strings: `{}`, `{.}`, `{/}`, `{//}`, `{/.}`, `{#}`, `{%}`, their positional `{1}`…, and `{= perl =}`. */
const PARALLEL_REPLACEMENT = /\{(\d+)?(?:\.|\/|\/\/|\/\.|#|%)?\}|\{=.*?=\}/gs;

/**
 * The command lines GNU parallel runs: its command with each combination of the arguments of its
 * `:::` sources put in place of its replacement strings (or `-I`'s), or after it when it has none,
 * quoted as parallel quotes them. The arguments of a `::::` source are in files, unknown here.
 * Past MAX_BRACE_WORDS combinations the lines are not listed (the command needs approval).
 */
function withParallelArguments(line: string, sources: string[], replace: string | undefined): string[] {
  const groups: { files: boolean; args: string[] }[] = [];
  for (const word of sources) {
    if (/^::::?\+?$/.test(word)) groups.push({ files: word.startsWith('::::'), args: [] });
    else groups[groups.length - 1]?.args.push(word);
  }
  const known = groups.filter((g) => !g.files && g.args.length > 0).map((g) => g.args);
  if (known.length === 0) return [];
  if (known.reduce((n, g) => n * g.length, 1) > MAX_BRACE_WORDS) return [`${line} ${UNLISTED_EXPANSION}`];
  let tuples: string[][] = [[]];
  for (const group of known) tuples = tuples.flatMap((t) => group.map((a) => [...t, a]));
  return tuples.map((tuple) => {
    const quoted = tuple.map((a) => quoteArgv([a]));
    if (replace !== undefined && replace !== '' && line.includes(replace)) return line.split(replace).join(quoted.join(' '));
    const replaced = line.replace(PARALLEL_REPLACEMENT, (_m, n?: string) => (n !== undefined ? (quoted[Number(n) - 1] ?? '') : quoted.join(' ')));
    return replaced !== line ? replaced : `${line} ${quoted.join(' ')}`;
  });
}

/**
 * The commands a command runs in turn: itself, plus what a wrapper starts (`env X=1 make` →
 * `make`; `timeout 5 rm -rf x` → `rm -rf x`; `find . -exec rm {} ;` → `rm {}`; `sh -c "…"` → the
 * script's commands). Used so `nice rm -rf /x` is judged as `rm -rf /x` too.
 *
 * What cannot be read with certainty is read every way it could run: after an option a wrapper's
 * table does not know (it may take a value or not), or an operand that is not what the wrapper
 * expects there, each later word that is not an option is judged as the start of the command
 * (`nice --new-option 5 sudo id` → `5 sudo id`, `sudo id`, `id`); after an option a shell does not
 * know, each later word as its script. `seen` keeps those readings from being judged twice.
 */
export function expandCommand(cmd: SimpleCommand, depth = 0, seen = new Set<string>(), origin = ++origins): SimpleCommand[] {
  const out = [cmd];
  if (depth > 8 || cmd.argv.length === 0) return out;
  const name = programName(cmd.argv[0]!);
  const args = cmd.argv.slice(1);
  /** The command in argv, which is a tail of this one's words (`suffix`) or words of its own. */
  // What a command runs gets its environment: its own assignments and what was exported before it.
  const inherited = cmd.assignments ?? [];
  const inner = (argv: string[], via: string, suffix = true, assignments = inherited) => {
    const splits = cmd.splits ? { splits: cmd.splits } : {};
    if (argv.length > 0) out.push(...expandCommand({ argv, redirects: [], writesRedirect: false, shell: cmd.shell, via, ...(assignments.length > 0 ? { assignments } : {}), ...splits }, depth + 1, seen, suffix ? origin : ++origins));
  };
  const shellInner = (script: string, via: string) => {
    for (const sub of withAliases(withExports(parseShell(script, depth + 1), inherited))) out.push(...expandCommand({ ...sub, via: sub.via ?? via }, depth + 1, seen));
  };
  /** Every reading from args[from] on: each word that is not an option may be where the command starts. */
  const everyReading = (from: number, via: string, words = args, suffix = true) => {
    for (let j = from; j < words.length; j++) {
      if (isOption(words[j]) || words[j] === '--') continue;
      // A tail of the words the expansion started from is named by its length.
      const key = `${origin}:${words.length - j}`;
      if (suffix && seen.has(key)) continue;
      // Each reading is a tail of the words: past MAX_READINGS, judging them all would take time
      // and output growing with the square of the line (`timeout $X $X …`). The rest is unlisted.
      if (seen.size >= MAX_READINGS) {
        inner([words[j]!, UNLISTED_EXPANSION], `${via}, more ways it could run than are judged one by one`, false);
        return;
      }
      if (suffix) seen.add(key);
      inner(words.slice(j), `${via}, read every way it could run`, suffix);
    }
  };
  /** Reads a wrapper's options: the index after them, or undefined when one was not understood (then every reading is judged). */
  const afterOptions = (table: OptionTable, onOption?: (o: { name: string; value?: string }) => void): number | undefined => {
    let i = 0;
    while (i < args.length && isOption(args[i])) {
      const read = readOption(args, i, table);
      read.options.forEach((o) => onOption?.(o));
      if (read.unknown) {
        everyReading(read.next, name);
        return undefined;
      }
      i = read.next;
    }
    return args[i] === '--' ? i + 1 : i;
  };
  if (SHELLS.has(name)) {
    // The shell itself adds nothing to judge when it runs a -c script: its script's commands are the request.
    const { scripts, input, startup } = shellRuns(name, args);
    // The script's commands run in the shell's environment (commandsOf reads what that runs).
    const commands = scripts.flatMap((script) => withAliases(withExports(parseShell(script, depth + 1), inherited)).flatMap((sub) => expandCommand({ ...sub, via: sub.via ?? name + ' -c' }, depth + 1, seen)));
    // The startup files stand as a program of their own, computed (as environmentRuns' markers).
    const loads = startupCode(name, startup, cmd.assignments);
    if (loads) (commands.length > 0 ? commands : out).push({ ...cmd, argv: [`$${name}_startup`], via: `${name}, its startup files`, code: loads });
    if (commands.length > 0) return commands;
    // A shell reading its script from its input (`curl … | bash -o pipefail`) is judged as the bare shell too, as rules describe it.
    if (input && args.length > 0) out.push(shellReadingInput(cmd.argv[0]!, cmd, `${name}, reading its script from its input`));
    return out;
  }
  if (DYNAMIC_LOADER.test(name)) {
    // `/lib64/ld-linux-x86-64.so.2 /usr/bin/git push`: the loader runs the program it is given,
    // after its options; --preload, --audit and --library-path load code besides.
    let i = 0;
    let loads: string | undefined;
    while (i < args.length && args[i]!.startsWith('--')) {
      if (args[i] === '--') {
        i++;
        break;
      }
      const [option, inline] = args[i]!.split(/=(.*)/s);
      if (/^--(preload|audit|library-path)$/.test(option!)) loads = option;
      i += LOADER_VALUED.has(option!) && inline === undefined ? 2 : 1;
    }
    if (loads) out[0] = { ...cmd, code: `${name} ${loads} loads code the policy does not read, so it may do what any program may` };
    inner(args.slice(i), name);
    return out;
  }
  const wrapper = WRAPPERS[name];
  if (wrapper) {
    let prints = false;
    let replaces: string | undefined;
    let i = afterOptions(wrapper.options, (o) => {
      prints ||= name === 'command' && (o.name === 'v' || o.name === 'V');
      if (o.name === 'I' || o.name === 'i' || o.name === 'replace') replaces = o.value || '{}';
    });
    // `command -v name` only says what name is.
    if (prints) return out;
    if (i === undefined) return out;
    for (const operand of wrapper.operands ?? []) {
      if (args[i] !== undefined && !operand.test(args[i]!)) {
        everyReading(i, name);
        return out;
      }
      i++;
    }
    if (name === 'xargs' && i >= args.length) inner(['echo'], name, false);
    // The words xargs appends from its input may be any option (`echo -rf src | xargs rm`): a computed word (mayBeAnyOption).
    else if (name === 'xargs' && replaces === undefined) inner([...args.slice(i), XARGS_INPUT], name, false);
    // What -I replaces is the input's (`xargs -I{} sh -c {}` runs each line as a script): computed.
    else if (name === 'xargs') {
      const argv = args.slice(i).map((w) => w.split(replaces!).join(XARGS_INPUT));
      inner(argv, name, false);
      // Its input inside a shell's script (`xargs -I{} sh -c "echo {} | wc -c"`): a line read may be any command.
      const shell = shellWithPlaceholder(argv, XARGS_INPUT);
      if (shell) out.push(shellReadingInput(shell, cmd, 'xargs -I, its input inside the script'));
    }
    else inner(args.slice(i), name);
    return out;
  }
  for (const run of optionCommands(name, args)) shellInner(run.script, run.via);
  // A word computed where an option may stand may be the option that runs a program
  // (`rg ${X:---pre=./x.sh}`, `find . $(echo -exec) rm {} +`): judged as that program, computed.
  const optionWord = cmd.shell && OPTIONS_RUN_PROGRAMS.has(name) ? computedOptionWord(name, args, cmd.splits) : undefined;
  if (optionWord !== undefined) inner([optionWord], `${name}, ${optionWord} may be an option that runs a program`, false);
  const code = inlineCode(name, args);
  if (code !== undefined) out[0] = { ...cmd, code: `${name} ${code} runs code in another language, which the policy does not read, so it may do what any program may` };
  if (C_COMPILER.test(name)) {
    // -wrapper <prog>,<arg>…: gcc runs each of its tools (cc1, as, ld) under that command, its words split at commas.
    for (const [i, a] of args.entries()) if (a === '-wrapper' && args[i + 1]) inner(args[i + 1]!.split(','), `${name} -wrapper`, false);
    // -B looks for those tools in a directory of its own; a plugin or a specs file (which may %(run) programs) is code too.
    const loads = args.find((a) => /^(-B|-fplugin(=|$)|--?specs(=|$))/.test(a));
    if (loads !== undefined && out[0]!.code === undefined) out[0] = { ...cmd, code: `${name} ${loads.replace(/=.*$/s, '')} loads tools or code the command line does not show, so it may do what any program may` };
  }
  switch (name) {
    // setarch <arch> [options] <cmd…>, perf <stat|record|trace…> [options] <cmd…>, runcon [<context>|options] <cmd…>:
    // options after an operand, or a subcommand's own: each later word that may start the command is judged as its start.
    case 'setarch':
    case 'perf':
      everyReading(1, name);
      break;
    case 'runcon':
      everyReading(0, name);
      break;
    case 'env': {
      let rest = args;
      let i = 0;
      // Every word with a `=` before the program is a setting, whatever its name (`BASH_FUNC_f%%=() {…}`, an exported function).
      while (i < rest.length && (rest[i]!.startsWith('-') || SETTING.test(rest[i]!))) {
        if (rest[i] === '--') {
          i++;
          continue;
        }
        if (!rest[i]!.startsWith('-') || rest[i] === '-') {
          i++; // an assignment, or `-` (the old -i)
          continue;
        }
        const read = readOption(rest, i, ENV_OPTIONS);
        // -S 'prog args' (also -Sprog…, --split-string[=]…): the string is split into the words that
        // follow, the program among them, so its words take its place.
        const split = read.options.find((o) => o.name === 'S' && o.value !== undefined);
        if (split) {
          rest = [...shellWords(split.value!), ...rest.slice(read.next)];
          i = 0;
          continue;
        }
        if (read.unknown) {
          everyReading(read.next, 'env', rest, rest === args);
          return out;
        }
        i = read.next;
      }
      // Its assignments are the command's environment (`env GIT_SSH_COMMAND=… git fetch`).
      const assigned = rest.slice(0, i).filter((w) => SETTING.test(w));
      inner(rest.slice(i), 'env', rest === args, [...(cmd.assignments ?? []), ...assigned]);
      break;
    }
    case 'busybox':
    case 'toybox':
      // A multi-call binary: its first word names the program it runs (busybox sh -c …, busybox mount).
      if (args[0] !== undefined && !args[0].startsWith('-')) inner(args, name);
      break;
    case 'flock': {
      // flock [options] <file> <program…> | flock [options] <file> -c '<script>'; -c among the options too.
      let script: string | undefined;
      const i = afterOptions(FLOCK_OPTIONS, (o) => {
        if (o.name === 'c' && o.value !== undefined) shellInner(o.value, 'flock -c');
        if (o.name === 'c') script = o.value;
      });
      if (i === undefined || script !== undefined) break;
      const after = args[i + 1];
      if ((after === '-c' || after === '--command') && args[i + 2] !== undefined) shellInner(args[i + 2]!, 'flock -c');
      else if (after?.startsWith('--command=')) shellInner(after.slice(10), 'flock -c');
      else inner(args.slice(i + 1), 'flock');
      break;
    }
    case 'watch': {
      // watch [options] <command…>: the words joined are a shell command line, or with -x the program and its arguments.
      let exec = false;
      const i = afterOptions(WATCH_OPTIONS, (o) => (exec ||= o.name === 'x'));
      if (i === undefined) break;
      if (exec) inner(args.slice(i), 'watch -x');
      else if (i < args.length) shellInner(args.slice(i).join(' '), 'watch');
      break;
    }
    case 'sed':
      // A script read from its input or another command's output (`sed -f -`, `sed -f <(…)`) is one the policy cannot see, as `curl … | sh`.
      if (optionValues(args, ['file'], ['f']).some((f) => f === '-' || readsCommandOutput(f))) out.push(shellReadingInput('sh', cmd, 'sed -f, reading its script from its input'));
      for (const script of sedScripts(args)) {
        const runs = sedScriptRuns(script);
        for (const line of runs.commandLines) shellInner(line, 'sed e');
        // `e` alone and `s///e` run text sed makes as it runs: a program computed at run time.
        if (runs.computed) out.push({ argv: ['$sed_pattern_space'], redirects: [], writesRedirect: false, shell: true, via: 'sed, running its pattern space (e)' });
      }
      break;
    case 'trap': {
      // trap [--] '<script>' SIGNAL…: the script runs when the signal (or EXIT) comes.
      const rest = args[0] === '--' ? args.slice(1) : args;
      if (rest.length > 1 && rest[0] !== '-' && !rest[0]!.startsWith('-')) shellInner(rest[0]!, 'trap');
      break;
    }
    case 'alias':
      // alias name='<script>': what the name will run.
      for (const a of args) if (a.includes('=')) shellInner(a.slice(a.indexOf('=') + 1), 'alias');
      break;
    case 'find': {
      // Every name find gives starts with one of its starting points (`.` when none), and none
      // of those may start with `-` (find would read it as an expression): with literal starting
      // points a name is never an option (`-exec rm {} +` is rm of names, not `rm -rf`).
      const expression = args.findIndex((a) => /^[-(!]/.test(a));
      const starts = expression === -1 ? args : args.slice(0, expression);
      const match = starts.every((s) => !computedAtRunTime(s) && !globbed(s)) ? `${(starts[0] ?? '.').replace(/\/+$/, '')}/${FIND_MATCH}` : FIND_MATCH;
      for (let i = 0; i < args.length; i++) {
        if (['-exec', '-execdir', '-ok', '-okdir'].includes(args[i]!)) {
          let end = i + 1;
          while (end < args.length && args[end] !== ';' && args[end] !== '+') end++;
          // -execdir gives names as `./name`.
          const name = args[i]!.endsWith('dir') ? `./${FIND_MATCH}` : match;
          const argv = args.slice(i + 1, end).map((w) => w.replaceAll('{}', name));
          inner(argv, 'find ' + args[i], false);
          // A file name inside a shell's script (`-exec sh -c 'cat {}' \;`): a name may be any command.
          const shell = shellWithPlaceholder(argv, FIND_MATCH, name);
          if (shell) out.push(shellReadingInput(shell, cmd, `find ${args[i]}, a file name inside the script`));
          i = end;
        }
      }
      break;
    }
    case 'gdb':
    case 'cgdb': {
      // gdb [options] --args <program> <args…>: the words after --args are the program it runs.
      const at = args.findIndex((a) => a === '--args' || a === '-args');
      if (at !== -1) inner(args.slice(at + 1), name + ' --args');
      break;
    }
    case 'start-stop-daemon': {
      // start-stop-daemon --start --exec <program> [--startas <program>] [-- <args…>]: the program
      // started is --startas (else --exec), with the words after `--` as its arguments.
      let exec: string | undefined;
      let startas: string | undefined;
      let i = 0;
      for (; i < args.length && args[i] !== '--'; ) {
        if (!isOption(args[i])) {
          i++;
          continue;
        }
        const read = readOption(args, i, START_STOP_DAEMON_OPTIONS);
        for (const o of read.options) {
          if (o.name === 'x') exec = o.value;
          if (o.name === 'a') startas = o.value;
        }
        if (read.unknown) {
          everyReading(read.next, name);
          return out;
        }
        i = read.next;
      }
      const program = startas ?? exec;
      if (program !== undefined) inner([program, ...args.slice(i + 1)], name, false);
      break;
    }
    case 'parallel':
    case 'sem': {
      // GNU parallel [options] [command…] [::: args…]: the command words are a shell command line
      // (`{}` stands for each argument); without them, each argument is a command line of its own.
      const source = args.findIndex((a) => /^::::?\+?$/.test(a));
      const words = source === -1 ? args : args.slice(0, source);
      let i = 0;
      let replace: string | undefined;
      while (i < words.length && isOption(words[i])) {
        const read = readOption(words, i, PARALLEL_OPTIONS);
        replace = read.options.find((o) => o.name === 'I')?.value ?? replace;
        if (read.unknown) {
          everyReading(read.next, name, words, false);
          i = words.length;
          break;
        }
        i = read.next;
      }
      if (words[i] === '--') i++;
      if (i < words.length) {
        const line = words.slice(i).join(' ');
        shellInner(line, name);
        // The command with each of its arguments is what runs (`parallel git ::: push` runs `git push`).
        if (source !== -1) for (const composed of withParallelArguments(line, args.slice(source), replace)) shellInner(composed, `${name}, with its arguments`);
      } else if (source !== -1) for (const a of args.slice(source + 1)) if (!/^::::?\+?$/.test(a)) shellInner(a, name);
      break;
    }
    case 'rg':
      // rg --pre COMMAND runs COMMAND (no shell) on each file it searches.
      for (const program of optionValues(args, ['pre'], [])) inner([program], 'rg --pre', false);
      break;
    case 'hash':
      // hash -p PATH NAME: NAME then runs PATH.
      for (const program of optionValues(args, [], ['p'])) inner([program], 'hash -p', false);
      break;
    case 'script': {
      // script runs its -c line with $SHELL -c (sh when unset): another program named there runs it.
      const shell = inherited.findLast((a) => a.startsWith('SHELL='))?.slice(6);
      if (shell && !SHELLS.has(basename(shell))) for (const line of optionValues(args, ['command'], ['c'])) inner([shell, '-c', line], 'script, with $SHELL', false);
      break;
    }
    case 'sort':
      // sort --compress-program=PROG runs PROG (no shell, no words; -d to read back) on its temporary files.
      for (const program of optionValues(args, ['compress-program'], [])) inner([program], 'sort --compress-program', false);
      break;
    case 'source':
    case '.':
      // `source <(curl …)` runs what another command prints, like `curl … | sh`.
      if (args[0] !== undefined && readsCommandOutput(args[0])) out.push(shellReadingInput('sh', cmd, `${name} ${args[0].slice(0, 2)}…)`));
      break;
    case 'mapfile':
    case 'readarray':
    case 'compgen':
    case 'complete':
      // -C runs a command line for each chunk read (mapfile) or to list completions (compgen).
      for (const line of optionValues(args, [], ['C'])) shellInner(line, `${name} -C`);
      break;
    case 'fc':
      // fc -e runs its editor as a command line, with the file of history after it.
      for (const editor of optionValues(args, [], ['e'])) shellInner(`${editor} file`, 'fc -e');
      break;
    case 'enable':
      // enable -f loads a builtin from a shared object: code the policy does not read.
      if (optionValues(args, [], ['f']).length > 0) out[0] = { ...cmd, code: 'enable -f loads a builtin from a shared object, which the policy does not read, so it may do what any program may' };
      break;
    case 'corepack':
      // `corepack npm publish` runs the package manager it names.
      if (args[0] !== undefined && !isOption(args[0])) inner(args, name);
      break;
    case 'cmake': {
      // cmake -E <command>: its file commands act as the tools they are named after.
      const at = args.indexOf('-E');
      const [command, ...rest] = at === -1 ? [] : args.slice(at + 1);
      const as = command === undefined ? undefined : CMAKE_FILE_COMMANDS[command];
      if (as) inner([...as, ...rest], 'cmake -E', false);
      // cmake -E time <cmd…>, chdir <dir> <cmd…>, env [NAME=VALUE|--unset=NAME|--modify …]… [--] <cmd…> run a command.
      if (command === 'time') inner(rest, 'cmake -E time', false);
      if (command === 'chdir') inner(rest.slice(1), 'cmake -E chdir', false);
      if (command === 'env') {
        let i = 0;
        while (i < rest.length && (SETTING.test(rest[i]!) || /^--(unset|modify)(=|$)/.test(rest[i]!))) i += rest[i] === '--modify' ? 2 : 1;
        inner(rest.slice(rest[i] === '--' ? i + 1 : i), 'cmake -E env', false);
      }
      break;
    }
    case 'uv':
    case 'uvx':
    case 'poetry':
    case 'pipenv':
    case 'pdm':
    case 'hatch':
    case 'rye':
    case 'pixi':
    case 'conda':
    case 'mamba':
    case 'micromamba':
    case 'pipx': {
      // `uv run rm -rf /src`, `poetry run …`, `conda run -n env …`: the environment runner runs the
      // words after `run` (after `uv tool run`, and after `uvx` itself) and its options.
      const after = name === 'uvx' ? [0] : environmentRunIndexes(name, args);
      for (const start of after.flatMap((at) => runnerStarts(args, at))) {
        // `hatch run test:pytest` runs `pytest` in the environment `test`.
        const words = name === 'hatch' ? [args[start]!.replace(/^[\w.-]+:(?=.)/, ''), ...args.slice(start + 1)] : args.slice(start);
        inner(words, `${name} run`, false);
      }
      break;
    }
    case 'npx':
    case 'pnpx':
    case 'bunx': {
      const run = packageRunnerCommand(args);
      if (run && 'script' in run) shellInner(run.script, name);
      else if (run) inner(run.argv, name, false);
      break;
    }
    case 'git':
      for (const run of gitRuns(args, cmd.assignments ?? [])) {
        if (run.script !== undefined) shellInner(run.script, run.via);
        else inner(run.argv!, run.via, false);
      }
      break;
    default: {
      // `git-push …` (git's dashed form, as in /usr/lib/git-core) is `git push …`.
      if (/^git-[a-z][a-z0-9-]*$/.test(name)) inner(['git', name.slice(4), ...args], name, false);
      // `python -m twine upload` is `twine upload`.
      const module = /^(python|pypy)[0-9.]*$/.test(name) ? pythonModule(args) : undefined;
      if (module) inner(module, `${name} -m`, false);
      // `ip l s` is `ip link set`, `npm pub` is `npm publish` (full-commands.ts); an option a package
      // manager's table does not know may take the next word, and then its command is after it.
      const [at, ...unsure] = subcommandIndexes(args, name);
      if (at !== undefined && PACKAGE_RUNNER_SUBCOMMANDS[name]?.includes(args[at]!)) {
        const run = packageRunnerCommand(args.slice(at + 1));
        if (run && 'script' in run) shellInner(run.script, `${name} ${args[at]}`);
        else if (run) inner(run.argv, `${name} ${args[at]}`, false);
      }
      const full = inFull(name, args, at);
      if (full) inner(full, `${name}, read in full`, false);
      for (const j of unsure) inner([name, ...args.slice(j)], `${name}, with an option it may read taking a value`, false);
      break;
    }
    case 'eval': {
      // bash's eval takes `--` before its words.
      for (const sub of parseShell((args[0] === '--' ? args.slice(1) : args).join(' '))) out.push(...expandCommand({ ...sub, via: 'eval' }, depth + 1));
      // `eval "$(curl …)"` runs what another command prints, like `curl … | sh`.
      if (args.some((a) => /\$\((?!\()|`/.test(a))) out.push(shellReadingInput('sh', cmd, 'eval $(…)'));
      break;
    }
  }
  return out;
}

/** The expansions the shell computes as it runs: a command substitution (`$(…)`, backticks) or a parameter (`$F`, `${F}`, `$1`, `$@`). */
const EXPANSION = /\$\(|`|\$\{|\$[A-Za-z_0-9@*#?!$-]/;

/**
 * Whether the shell computes `word` as it runs (EXPANSION; `$HOME` is the host's home, judged as
 * such before this). A `$` that is not an expansion (`a$`, `$'…'` quoting already resolved) is not one.
 */
export function computedAtRunTime(word: string): boolean {
  return EXPANSION.test(word);
}

/**
 * Whether `word` is a pattern the shell matches against file names (`r[m]`, `-*`, `./r?`, bash's
 * extended `@(rm)`); `[` alone is the test program. The words here have lost their quotes, so a quoted one counts too.
 */
export function globbed(word: string): boolean {
  // A bracket expression holds no other `[` here, so each `[` is scanned past once (linear time).
  return /[*?]|\[[^[\]]+\]|[@+!]\(/.test(word);
}

/**
 * Whether `word` may be any option once the shell has computed it: the shell splits it into words
 * (it is among `splits`, SimpleCommand.splits), or it starts with an expansion
 * (`${R:--rf}`, `"$@"`, `$(echo -delete)`), or it is an option whose name is computed or matched
 * against file names (`-${R}f`, `-[r]` with a file `-r` in the directory). A computed value of a
 * named option (`--output=$F`) leaves it that option. A word that starts with a pattern (`rm *`
 * where a file is named `-rf`) is not counted: quoted patterns (`find -name '*.js'`) look the same here.
 */
export function mayBeAnyOption(word: string, splits?: string[]): boolean {
  if (splits?.includes(word)) return true; // the shell splits it into words (SimpleCommand.splits)
  const name = word.split('=')[0]!;
  const expansion = name.search(EXPANSION);
  // `~-` and `~+` are bash's $OLDPWD and $PWD.
  return expansion === 0 || /^~[-+]/.test(name) || (name.startsWith('-') && (expansion > 0 || globbed(name)));
}

/** find's primaries that take the next word as their value (a name, a type, a time): that word is never a primary (`-newerXY` too). */
const FIND_VALUED = new Set(['-name', '-iname', '-path', '-ipath', '-wholename', '-iwholename', '-regex', '-iregex', '-lname', '-ilname', '-type', '-xtype',
  '-newer', '-anewer', '-cnewer', '-mtime', '-mmin', '-atime', '-amin', '-ctime', '-cmin', '-size', '-perm', '-user', '-group', '-uid', '-gid',
  '-links', '-inum', '-samefile', '-maxdepth', '-mindepth', '-fstype', '-used', '-context', '-regextype', '-printf', '-fprint', '-fprintf', '-fls']);

/**
 * The first word of `args` that may be any option once the shell computes it (mayBeAnyOption),
 * before a `--` (after it, words are operands), leaving out what find takes as a primary's value (`-name "$P"`).
 */
export function computedOptionWord(program: string, args: string[], splits?: string[]): string | undefined {
  const end = args.indexOf('--');
  const valued = (i: number) => program === 'find' && i > 0 && (FIND_VALUED.has(args[i - 1]!) || /^-newer[aBcmt][aBcmt]$/.test(args[i - 1]!));
  return (end === -1 ? args : args.slice(0, end)).find((w, i) => mayBeAnyOption(w, splits) && !valued(i));
}

/** Every simple command a request runs: from an argv, or from a shell string. */
export function commandsOf(request: { argv?: string[]; shell?: string; env?: Record<string, string> }): SimpleCommand[] {
  const top: SimpleCommand[] =
    request.shell !== undefined ? parseShell(request.shell) : [{ argv: request.argv ?? [], redirects: [], writesRedirect: false, shell: false }];
  // The run's environment (--env, the policy's env.set) is every command's, before its own assignments.
  const environment = Object.entries(request.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const withEnvironment = withAliases(withExports(top)).map((c) => (environment.length ? { ...c, assignments: [...environment, ...(c.assignments ?? [])] } : c));
  const commands = withEnvironment.flatMap((c) => expandCommand(c));
  // What the variables set on the way run (each once, wherever it was set: a shell replaced by its
  // script's commands keeps none). An `export NAME=value` is among them through withExports, which
  // gives it to every later command; one with no command after it runs nothing.
  const assigned = new Set([...withEnvironment, ...commands].flatMap((c) => c.assignments ?? []));
  return [...commands, ...[...assigned].flatMap(environmentRuns)];
}

/**
 * The commands of one script with the aliases it defines (`alias g=rm`, then `g -rf /src` on a
 * later line, where a shell expands it) read as what they run. A shell expands an alias as text:
 * the alias's text, then the rest of the command (`rm -rf /src`, via `alias g`), so a text ending
 * in a separator (`alias x='echo hi; '`) makes the command's words a command of their own, and a
 * first word that is another alias is expanded in turn. Read in order, whatever the control flow,
 * as withExports does: the careful side. Not followed: aliases used inside an eval'd string.
 */
function withAliases(commands: SimpleCommand[]): SimpleCommand[] {
  const aliases = new Map<string, string>();
  const expand = (c: SimpleCommand, used: Set<string>): SimpleCommand[] => {
    const name = c.shell && c.argv.length > 0 ? c.argv[0]! : undefined;
    const text = name === undefined || used.has(name) ? undefined : aliases.get(name);
    if (text === undefined) return [c];
    const via = `alias ${name!}`;
    const parsed = parseShell(`${text} ${quoteArgv(c.argv.slice(1))}`);
    const withOwn = parsed.map((p, i) => ({ ...p, via, ...(c.assignments ? { assignments: [...c.assignments, ...(p.assignments ?? [])] } : {}), ...(i === parsed.length - 1 ? { redirects: [...p.redirects, ...c.redirects], writesRedirect: p.writesRedirect || c.writesRedirect } : {}) }));
    return withOwn.flatMap((p) => expand(p, new Set([...used, name!])));
  };
  return commands.flatMap((c) => {
    if (c.shell && c.argv[0] === 'alias') {
      for (const a of c.argv.slice(1)) if (a.includes('=')) aliases.set(a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
      return [c];
    }
    return expand(c, new Set());
  });
}

/**
 * The commands of one script, each with the settings `export NAME=value` (and its kin) made
 * before it as its own: git, tar and the shells read them as the command runs
 * (`export GIT_EXTERNAL_DIFF=…; git diff`). Read in order, whatever the control flow: the careful side.
 */
function withExports(commands: SimpleCommand[], inherited: string[] = []): SimpleCommand[] {
  let exported = inherited;
  /** Variables set by a bare `NAME=value` (exported later by `export NAME`, or at once after `set -a`). */
  const set = new Map<string, string>();
  let allExport = false;
  return commands.map((c) => {
    const withThem = exported.length > 0 ? { ...c, assignments: [...exported, ...(c.assignments ?? [])] } : c;
    // A line of assignments alone is parsed as `:` with them.
    if (c.argv.length === 0 || (c.argv.length === 1 && c.argv[0] === ':' && c.assignments !== undefined)) {
      for (const a of c.assignments ?? []) set.set(a.slice(0, a.indexOf('=')), a);
      if (allExport) exported = [...exported, ...(c.assignments ?? [])];
    } else if (c.shell && EXPORTING.has(c.argv[0]!)) {
      // `export NAME=value`, and `export NAME` of a variable set before (else its value is the environment's: computed).
      const words = c.argv.slice(1).filter((w) => !w.startsWith('-'));
      exported = [...exported, ...words.map((w) => (SETTING.test(w) ? w : /^[A-Za-z_][A-Za-z0-9_]*$/.test(w) ? (set.get(w) ?? `${w}=$${w}`) : undefined)).filter((w) => w !== undefined)];
    } else if (c.shell && c.argv[0] === 'set') {
      allExport = c.argv.slice(1).some((w) => /^-[A-Za-z]*a/.test(w)) || (c.argv.includes('-o') && c.argv.includes('allexport')) || allExport;
    }
    return withThem;
  });
}

/** A `NAME=value` word where env and export read a setting: any name without `=` (`BASH_FUNC_f%%` too). */
const SETTING = /^[^=-][^=]*=/;

/** Builtins whose `NAME=value` words set variables the script's later commands get. */
const EXPORTING = new Set(['export', 'declare', 'typeset', 'readonly', 'local']);

/** The directories a PATH may name without making the program it finds unknown: the system's own, and PATH itself. */
const SYSTEM_PATH = /^(\/usr\/local\/sbin|\/usr\/local\/bin|\/usr\/sbin|\/usr\/bin|\/sbin|\/bin|\$PATH|\$\{PATH\})$/;

/**
 * Variables whose value programs run as a shell command line: less's input preprocessor and
 * postprocessor (a leading `|` or `-` only says how its output is read), bash's prompt command.
 */
const COMMAND_LINE_VARIABLES = new Set(['LESSOPEN', 'LESSCLOSE', 'PROMPT_COMMAND']);
/**
 * Variables a shell expands as it starts or prompts, running what their substitutions hold
 * (`BASH_ENV='$(rm -rf src)' bash -c true`), and for BASH_ENV and ENV then sources the file named.
 */
const EXPANDED_VARIABLES = new Set(['BASH_ENV', 'ENV', 'PS0', 'PS1', 'PS2', 'PS4']);
/** Variables that load code the command line does not show into the programs run: any program may then run. */
const CODE_VARIABLES: Record<string, RegExp> = {
  // wget's config (use_askpass runs a program); the hooks of every repository git clone or init makes.
  WGETRC: /./,
  GIT_TEMPLATE_DIR: /./,
  LD_PRELOAD: /./,
  LD_AUDIT: /./,
  BASH_ENV: /./,
  ENV: /./,
  PYTHONSTARTUP: /./,
  SHELLOPTS: /xtrace/,
  NODE_OPTIONS: /(^|\s)(-r|--require|--import|--loader|--experimental-loader)\b/,
  PERL5OPT: /(^|\s)-[A-Za-z]*[Mmd]/,
  RUBYOPT: /(^|\s)-[A-Za-z]*r/,
  MAKEFLAGS: /--eval|(^|\s)-[A-Za-z]*E/,
  // Libraries, gconv modules, zsh's startup files, ripgrep's options (--pre), less's key bindings
  // (which may set LESSOPEN): from a directory of the vault's, code any program may load.
  GCONV_PATH: /./,
  ZDOTDIR: /./,
  RIPGREP_CONFIG_PATH: /./,
  LESSKEYIN: /./,
  LESSKEY: /./,
  JAVA_TOOL_OPTIONS: /-(javaagent|agentpath|agentlib)|@/,
  JDK_JAVA_OPTIONS: /-(javaagent|agentpath|agentlib)|@/,
};

/** Builtins that assign their `NAME=value` words, as an assignment does (environmentRuns judges those). */
const DECLARING = new Set(['declare', 'typeset', 'local', 'export', 'readonly']);

/** Whether a variable's value can decide which programs run or what they load: some value of it makes environmentRuns mark code, or git reads it. */
function decidesPrograms(name: string): boolean {
  return name === 'PATH' || name === 'HOME' || name.startsWith('GIT_') || GIT_COMMAND_VARIABLES.includes(name) || GIT_CONFIG_FILE_VARIABLES.includes(name) || environmentRuns(`${name}=/vault/dir`).length > 0;
}

/** Search paths of libraries and modules: code they load when a directory is not the system's. */
const LOAD_PATH_VARIABLES = new Set(['LD_LIBRARY_PATH', 'PYTHONPATH', 'NODE_PATH', 'PERL5LIB', 'PERLLIB', 'RUBYLIB', 'LUA_PATH', 'LUA_CPATH', 'GIT_EXEC_PATH']);
const SYSTEM_LIBRARY_DIR = /^\/(usr\/(local\/)?)?lib(64|32)?(\/|$)/;

/**
 * What an assignment (`NAME=value`, from the command line, `env`, --env or the policy's env.set)
 * makes the programs of the request run besides what the line shows: a command line in its value
 * (judged as a script: LESSOPEN, PROMPT_COMMAND, the substitutions of BASH_ENV and the prompts, an
 * exported bash function `BASH_FUNC_name%%`), or code it loads (LD_PRELOAD, a sourced BASH_ENV,
 * NODE_OPTIONS=--require…): then the program is `$NAME`, computed when the command runs, and it
 * is judged as such a program is (policy.ts computedProgram). GIT_* variables are git's (gitRuns).
 */
function environmentRuns(assignment: string): SimpleCommand[] {
  const at = assignment.indexOf('=');
  const name = assignment.slice(0, at);
  const value = assignment.slice(at + 1);
  if (value === '') return [];
  const out: SimpleCommand[] = [];
  const script = (line: string, via: string, stored = false) => {
    for (const sub of parseShell(line, 1)) for (const c of expandCommand({ ...sub, via: sub.via ?? via }, 1)) out.push(stored ? { ...c, stored } : c);
  };
  // The value as one word the shell expands (its substitutions run): `: "<value>"`, its newlines
  // kept (a here-document in a substitution needs its lines).
  const expanded = `: "${value}"`;
  if (COMMAND_LINE_VARIABLES.has(name)) script(value.replace(/^[|-]+/, '').replaceAll('%s', 'file'), name);
  if (EXPANDED_VARIABLES.has(name)) script(expanded, `${name}, expanded`);
  const fn = /^BASH_FUNC_(.+?)(%%|\(\))?$/.exec(name);
  if (fn) script(value.replace(/^\(\)\s*/, ''), `${name}, an exported function`);
  // tar reads its options from TAR_OPTIONS first: judged as a tar command of those words.
  if (name === 'TAR_OPTIONS') out.push(...expandCommand({ argv: ['tar', ...shellWords(value)], redirects: [], writesRedirect: false, shell: true, via: name }, 1));
  // A PATH with a directory of its own first finds programs there: any program may run under a
  // name the line shows. An empty entry (`:/usr/bin`, `a::b`, a trailing `:`) is the working directory.
  const ownPath =
    (name === 'PATH' && value.split(':').some((dir) => !SYSTEM_PATH.test(dir))) ||
    (LOAD_PATH_VARIABLES.has(name) && value.split(/[:;]/).some((dir) => !SYSTEM_LIBRARY_DIR.test(dir) || dir.split('/').includes('..')));
  const marker = (code: string) => out.push({ argv: ['$' + name.replace(/[^A-Za-z0-9_]/g, '_')], redirects: [], writesRedirect: false, shell: true, via: `${name}, code it loads`, code });
  if (CODE_VARIABLES[name]?.test(value) || fn) marker(`${name} loads code the command line does not show, so it may do what any program may`);
  else if (ownPath) marker(`${name} names a directory of its own, where the programs run may find code the command line does not show`);
  // A substitution's text kept in a variable (`x='$(rm -rf src)'`) runs if bash expands the value
  // again (`${x@P}`, PS4 under `set -x`, an array subscript in `$((x))`): judged as if it ran, but
  // `stored` (policy.ts: a checkpoint at most, since a commit message quoting `sudo make install`
  // in backticks is no request for sudo).
  if (!EXPANDED_VARIABLES.has(name) && /\$\((?!\()|`/.test(value)) script(expanded, `${name}, a substitution's text it holds`, true);
  return out;
}

/** Renders an argv as one shell-quoted line (for messages and audit rows). */
export function quoteArgv(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
