/**
 * What every match of a regular expression must contain, read from its source: for each of its
 * top-level alternatives (`a|b`), the runs of literal characters that stand in sequence at its top
 * level, each one required (no `?`, `*` or `{0,…}` after it). A match holds every run of one of
 * the alternatives. grep tests a line for them with `includes` before running the expression,
 * which V8 runs by backtracking: `.*needle` or `x+y` on a 300 KB line without the needle took
 * minutes (time quadratic in the line), and now a line without the literal costs one scan.
 *
 * Conservative: anything it does not read with certainty ends a run, or gives nothing at all (an
 * alternative without a literal, `v`, an escape such as `\x41` or `\p{…}`), so a line the
 * expression matches always holds every literal of some alternative returned. Nothing to look
 * for is `[]`.
 *
 * Under `i` the literals are lowercase, to be looked for in the lowercased text (literalTest), and
 * only ASCII characters other than k and s go into them: those match nothing but their own upper
 * and lower case, while `k` also matches the Kelvin sign and `s` the long s under `iu`.
 */
export function requiredLiterals(regex: RegExp): string[][] {
  // v-mode class syntax: not read.
  if (regex.flags.includes('v')) return [];
  const alternatives = topLevelAlternatives(regex.source);
  if (alternatives === null) return [];
  const each = alternatives.map((source) => alternativeLiterals(source, regex.flags.includes('i')));
  return each.every((runs) => runs.length > 0) ? each : [];
}

/** The runs of literals one top-level alternative needs (see requiredLiterals); [] for none known. */
function alternativeLiterals(source: string, caseless: boolean): string[] {
  /** The character a literal atom adds to a run, or null where it must end the run. */
  const literal = (c: string): string | null => (!caseless ? c : c.charCodeAt(0) < 128 && !/[ks]/i.test(c) ? c.toLowerCase() : null);
  const runs: string[] = [];
  let run = '';
  const end = () => {
    if (run.length > 0) runs.push(run);
    run = '';
  };
  let i = 0;
  while (i < source.length) {
    // One atom: the literal character it stands for, or null (a class, a group, an assertion…).
    let atom: string | null = null;
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined) return [];
      if (/[dDwWsSbBnrtfv]/.test(next)) i += 2;
      else if (/[1-9]/.test(next)) for (i += 2; /[0-9]/.test(source[i] ?? ''); i++); // a back-reference
      else if (/[A-Za-z0-9_]/.test(next)) return []; // \x41, \u{…}, \p{…}, \cX, \k<…>, \0: not read
      else {
        atom = next;
        i += 2;
      }
    } else if (c === '[') {
      i = afterClass(source, i);
    } else if (c === '(') {
      i = afterGroup(source, i);
    } else if (c === '.' || c === '^' || c === '$') {
      i++;
    } else if (c === '*' || c === '+' || c === '?' || c === '{' || c === ')') {
      return []; // a quantifier with nothing before it, or a lone `{`: not read
    } else {
      atom = c;
      i++;
    }
    if (i < 0) return [];
    // Its quantifier, if any.
    const quantifier = /^(?:[*+?]|\{(\d+)(?:,\d*)?\})\??/.exec(source.slice(i, i + 24));
    if (atom !== null) atom = literal(atom);
    if (!quantifier) {
      if (atom === null) end();
      else run += atom;
      continue;
    }
    const kind = quantifier[0][0];
    const min = kind === '{' ? Number(quantifier[1]) : kind === '+' ? 1 : 0;
    i += quantifier[0].length;
    // Required at least once: the run goes on up to its first repetition, and ends there.
    if (min > 0 && atom !== null) run += atom;
    end();
  }
  end();
  return runs;
}

/**
 * A test that a text holds every literal a match of `regex` must contain (requiredLiterals),
 * or null when there are none to look for. Under `i` it looks in the text lowercased: an ASCII
 * character keeps its place among its neighbours there, whatever the text's other characters
 * become.
 */
export function literalTest(regex: RegExp): ((text: string) => boolean) | null {
  const alternatives = requiredLiterals(regex);
  if (alternatives.length === 0) return null;
  const holds = (text: string) => alternatives.some((literals) => literals.every((l) => text.includes(l)));
  return regex.flags.includes('i') ? (text) => holds(text.toLowerCase()) : holds;
}

/** The source's top-level alternatives (split at each `|` outside groups and classes), or null when unreadable. */
function topLevelAlternatives(source: string): string[] | null {
  const out: string[] = [];
  let start = 0;
  for (let j = 0; j < source.length; j++) {
    const c = source[j];
    if (c === '\\') j++;
    else if (c === '[' || c === '(') {
      j = (c === '[' ? afterClass(source, j) : afterGroup(source, j)) - 1;
      if (j < 0) return null;
    } else if (c === '|') {
      out.push(source.slice(start, j));
      start = j + 1;
    }
  }
  out.push(source.slice(start));
  return out;
}

/** Where the character class opened at `start` ends (just past its `]`), or -1. */
function afterClass(source: string, start: number): number {
  let j = start + 1;
  if (source[j] === '^') j++;
  for (; j < source.length; j++) {
    if (source[j] === '\\') j++;
    else if (source[j] === ']') return j + 1;
  }
  return -1;
}

/** Where the group opened at `start` ends (just past its `)`), or -1. */
function afterGroup(source: string, start: number): number {
  let depth = 0;
  for (let j = start; j < source.length; j++) {
    const c = source[j];
    if (c === '\\') j++;
    else if (c === '[') {
      j = afterClass(source, j) - 1;
      if (j < 0) return -1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return j + 1;
  }
  return -1;
}
