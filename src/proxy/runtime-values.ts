/**
 * Values a script reads as it runs and then has bash evaluate again as code.
 *
 * Bash evaluates some expansions a second time: an arithmetic context (`$((x))`, `((x))`, `let x`,
 * `[[ x -eq 1 ]]`, an array subscript `${a[$x]}`, a substring offset `${s:x}`) evaluates a
 * variable's value as an expression, where an array subscript runs a command substitution
 * (`x='a[$(rm -rf /src)]'`); a prompt expansion (`${x@P}`) runs one directly. When the value is
 * written in the script, command-line.ts judges it as if it ran (environmentRuns, `stored`). When
 * it is read as the command runs (`read x < f`, `x=$(cat f)`, `mapfile`, `printf -v`, `getopts`,
 * `for x in $(…)`), nobody can see it beforehand: the command is then judged as computed (a
 * checkpoint first). `[ "$x" -eq 1 ]` and `test` do not evaluate, and are not counted.
 */

export interface ScriptCommand {
  argv: string[];
  assignments?: string[];
  /** `for` or `select` for a loop's header (parsed as `: NAME in words…`). */
  via?: string;
}

/** A variable read at run time that the script has bash evaluate again, and where. */
export interface ReEvaluated {
  name: string;
  context: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IDENTIFIERS = /[A-Za-z_][A-Za-z0-9_]*/g;
/** Options of read, mapfile and readarray that take a value (the next word, or the rest of the word). */
const READ_VALUED = 'dinNptu';
const MAPFILE_VALUED = 'dnOsuCc';
const ARITHMETIC_TEST = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);
/** An arithmetic expansion, `$((…))`, with parentheses nested one level inside: it makes a number. */
export const ARITHMETIC_EXPANSION = /\$\(\((?:[^()]|\([^()]*\))*\)\)/g;
/**
 * A substitution whose output is a number (`$(seq 1 10)`, `$(wc -l < f)`, `$(nproc)`, `$(date
 * +%s)`, `$(grep -c x f)`, `$(git rev-list --count HEAD)`), its words plain: a value that cannot
 * hold an array subscript. Counters and timers are the common case of arithmetic on a run-time value.
 */
const NUMERIC_OUTPUT = /^\$\(\s*(seq|nproc|wc|date \+%s|grep -c|git rev-list --count)(\s[^$`'"()[\]{};|&>]*)?\)$/;
/** `"${!a[@]}"`: an indexed array's indexes, numbers. */
const ARRAY_INDEXES = /^\$\{![A-Za-z_][A-Za-z0-9_]*\[[@*]\]\}$/;
/** Prefixes that run the builtin after them as itself (`builtin read x`, `command read x`). */
const BUILTIN_PREFIXES = new Set(['builtin', 'command']);

/** The variable a `for` or `select` loop sets (the parser gives its header as `: NAME in words…`), if `command` is such a header. */
export function loopVariable({ argv, via }: Pick<ScriptCommand, 'argv' | 'via'>): string | undefined {
  const [program, name] = argv;
  return (via === 'for' || via === 'select') && program === ':' && name !== undefined && NAME.test(name) ? name : undefined;
}

/**
 * The variables `commands` (one script's, in order) give a value known only at run time.
 * `computed` tells whether a word holds an expansion (`$(…)`, `$x`, a backtick).
 */
export function runtimeNames(commands: readonly ScriptCommand[], computed: (word: string) => boolean): Set<string> {
  const names = new Set<string>();
  const operands = (words: string[], fallback: string) => {
    for (const n of words.length > 0 ? words : [fallback]) if (NAME.test(n)) names.add(n);
  };
  // `x=$((1+2))` only makes a number: unsafe only through a variable of its own, counted where that is evaluated.
  const runtime = (value: string) => !NUMERIC_OUTPUT.test(value) && !ARRAY_INDEXES.test(value) && computed(value.replace(ARITHMETIC_EXPANSION, '0'));
  const settings = (words: readonly string[]) => {
    for (const w of words) {
      const at = w.indexOf('=');
      const name = w.slice(0, at).replace(/\+$/, '');
      if (at > 0 && NAME.test(name) && runtime(w.slice(at + 1))) names.add(name);
    }
  };
  for (const { argv, assignments, via } of commands) {
    settings(assignments ?? []);
    let [program, ...args] = argv;
    while (program !== undefined && BUILTIN_PREFIXES.has(program) && args.length > 0) [program, ...args] = args;
    if (program === 'read') operands(optionOperands(args, READ_VALUED, 'a'), 'REPLY');
    else if (program === 'mapfile' || program === 'readarray') operands(optionOperands(args, MAPFILE_VALUED), 'MAPFILE');
    else if (program === 'printf') {
      // `-v NAME` or `-vNAME`.
      const v = args.findIndex((a) => a.startsWith('-v'));
      const name = v === -1 ? undefined : args[v] === '-v' ? args[v + 1] : args[v]!.slice(2);
      if (name && NAME.test(name)) names.add(name);
    } else if (program === 'getopts' && args[1]) names.add(args[1]);
    else if (program === 'declare' || program === 'typeset' || program === 'local' || program === 'export' || program === 'readonly') settings(args);
    // `for x in words`: run-time words, file names a pattern matches (`for f in *`: any name a
    // file in the vault has), or none (the positional parameters) make x one.
    else if (loopVariable({ argv, via }) !== undefined && (args[1] !== 'in' || args.slice(2).some((w) => !ARRAY_INDEXES.test(w) && (runtime(w) || /[*?[]/.test(w))))) names.add(args[0]!);
  }
  return names;
}

/** The non-option words of a getopt-style command line, and the values of `named` options (read -a NAME). */
function optionOperands(args: string[], valued: string, named = ''): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const letter = a[j]!;
      if (!valued.includes(letter) && !named.includes(letter)) continue;
      const value = j + 1 < a.length ? a.slice(j + 1) : args[++i];
      if (named.includes(letter) && value !== undefined) out.push(value);
      break;
    }
  }
  return out;
}

/**
 * Where `script` has bash evaluate one of `names` again: the contexts above, each found by its
 * text (quotes are not followed, the careful side). Scans are linear in the script's length.
 */
export function reEvaluated(script: string, commands: readonly ScriptCommand[], names: ReadonlySet<string>): ReEvaluated[] {
  if (names.size === 0) return [];
  const found: ReEvaluated[] = [];
  const check = (text: string, context: string) => {
    // `${#x}` is x's length: a number, whatever x holds. A command substitution inside is a
    // command (judged as one), its words no part of the expression: `$((n + $(wc -l < "$f")))`.
    for (const id of withoutSubstitutions(text).replace(/\$\{#[A-Za-z_][A-Za-z0-9_]*\}/g, '').match(IDENTIFIERS) ?? []) if (names.has(id) && !found.some((f) => f.name === id && f.context === context)) found.push({ name: id, context });
  };
  for (const body of doubleParenBodies(script)) check(body, 'an arithmetic expression');
  // `$[…]` (the old arithmetic form), `${a[i]}`, `${s:i:n}` and `${a[@]:i}` (not `${x:-default}`
  // and its kin), `${x@P}`. Bodies are bounded, so a script of many unclosed `${a[` is still
  // scanned in linear time.
  for (const m of script.matchAll(/\$\[([^\]]{0,256})\]/g)) check(m[1]!, 'an arithmetic expression');
  for (const m of script.matchAll(/\$\{[#!]?[A-Za-z_][A-Za-z0-9_]*\[([^\]]{0,256})\]/g)) check(m[1]!, 'an array subscript');
  for (const m of script.matchAll(/\$\{[A-Za-z_][A-Za-z0-9_]*(?:\[[@*]\])?:(?![-=?+])([^}]{0,256})\}/g)) check(m[1]!, 'a substring offset');
  for (const m of script.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]{0,256}\])?@P\}/g)) check(m[1]!, 'a prompt expansion');
  for (const { argv } of commands) {
    if (argv[0] === 'let') check(argv.slice(1).join(' '), 'let');
    // The operands of -eq and its kin: `[[ $name == x && $n -eq 1 ]]` evaluates n, not name.
    else if (argv[0] === '[[') argv.forEach((w, k) => ARITHMETIC_TEST.has(w) && check(`${argv[k - 1]} ${argv[k + 1]}`, 'an arithmetic test in [[ ]]'));
    else if ((argv[0] === 'declare' || argv[0] === 'typeset' || argv[0] === 'local') && argv.some((w) => /^-[A-Za-z]*i/.test(w))) check(argv.slice(1).join(' '), 'an integer variable');
    // A subscript of the array `[[ -v a[…] ]]` tests and `unset` removes is arithmetic too.
    if ((argv[0] === '[[' && argv.includes('-v')) || argv[0] === 'unset') for (const w of argv.slice(1)) for (const m of w.matchAll(/\[([^\]]{0,256})\]/g)) check(m[1]!, 'an array subscript');
  }
  return found;
}

/** `text` without the bodies of its command substitutions (`$(…)`, not `$((…))`), in one pass. */
function withoutSubstitutions(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$' || text[i + 1] !== '(' || text[i + 2] === '(') {
      out += text[i];
      continue;
    }
    let depth = 0;
    let j = i + 1;
    for (; j < text.length; j++) {
      if (text[j] === '(') depth++;
      else if (text[j] === ')' && --depth === 0) break;
    }
    out += ' ';
    i = j;
  }
  return out;
}

/** The text inside each `((…))` and `$((…))` (nested parentheses counted), in one pass. */
function doubleParenBodies(script: string): string[] {
  const bodies: string[] = [];
  for (let i = script.indexOf('(('); i !== -1; i = script.indexOf('((', i)) {
    let depth = 0;
    let j = i;
    for (; j < script.length; j++) {
      if (script[j] === '(') depth++;
      else if (script[j] === ')' && --depth === 0) break;
    }
    bodies.push(script.slice(i + 2, Math.max(i + 2, j - 1)));
    i = j + 1;
  }
  return bodies;
}
