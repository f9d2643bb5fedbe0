/**
 * What a GNU sed script runs: the shell command lines of its `e command` commands, and whether it
 * runs text known only when it runs (a bare `e`, which runs the pattern space, and the `e` flag of
 * `s///`, which runs the substitution's result). Everything else sed does reads and writes files
 * it names (`-i`, `w`), which the policy judges from the command line already.
 *
 * The script is read as GNU sed reads it (info sed, "sed scripts"): commands separated by
 * newlines or `;`, each after an optional address (`3`, `$`, `/re/I`, `\%re%`, `1~2`, `a,+3`)
 * and `!`. Text that ends at the line's end (`a text`, `r file`, `:label`) is skipped whole, so a
 * `;e` inside it is not read as a command. A script this reader cannot follow is taken as one
 * that runs computed text: the careful side.
 */
export interface SedRuns {
  commandLines: string[];
  computed: boolean;
}

/** Commands whose argument is the rest of the line (a file name, text, a command line). */
const TO_LINE_END = new Set(['a', 'i', 'c', 'r', 'R', 'w', 'W', '#', 'e']);
/** Commands whose argument (a label, a number, a version) ends at `;` or white space, as GNU sed 4 reads them (`:a;N;ba`). */
const TO_WORD_END = new Set([':', 'b', 't', 'T', 'q', 'Q', 'l', 'L', 'v']);
const NO_ARGUMENT = new Set(['{', '}', '=', 'd', 'D', 'F', 'g', 'G', 'h', 'H', 'n', 'N', 'p', 'P', 'x', 'z']);

export function sedScriptRuns(script: string): SedRuns {
  const out: SedRuns = { commandLines: [], computed: false };
  let i = 0;
  const at = () => script[i];
  /** Reads a delimited part (`/re/`, `s`'s two parts) from after its opening delimiter; false when it does not end. */
  const delimited = (delimiter: string): boolean => {
    for (; i < script.length; i++) {
      if (script[i] === '\\') i++;
      else if (script[i] === delimiter) {
        i++;
        return true;
      }
      // A newline ends a regex unescaped, as sed reads it (`unterminated address regex`).
      else if (script[i] === '\n' && delimiter !== '\n') return false;
    }
    return false;
  };
  const restOfLine = (): string => {
    const start = i;
    // a, i and c continue their text past an escaped newline.
    while (i < script.length && script[i] !== '\n') i += script[i] === '\\' ? 2 : 1;
    return script.slice(start, Math.min(i, script.length));
  };
  const address = (): boolean => {
    const c = at();
    if (c === '/') return (i++, delimited('/')) && (skipFlags(), true);
    if (c === '\\') return (i += 2, delimited(script[i - 1]!)) && (skipFlags(), true);
    if (c === '$') return (i++, true);
    if (c !== undefined && /[0-9]/.test(c)) {
      while (/[0-9~]/.test(at() ?? '')) i++;
      return true;
    }
    return true;
  };
  const skipFlags = () => {
    while (at() === 'I' || at() === 'M') i++;
  };
  const blanks = () => {
    while (/[ \t]/.test(at() ?? '')) i++;
  };
  while (i < script.length) {
    while (/[\s;]/.test(at() ?? '')) i++;
    if (i >= script.length) break;
    if (!address()) return { ...out, computed: true };
    blanks();
    if (at() === ',') {
      i++;
      blanks();
      if (at() === '+' || at() === '~') i++;
      if (!address()) return { ...out, computed: true };
    }
    blanks();
    while (at() === '!') (i++, blanks());
    const command = at();
    if (command === undefined) break;
    i++;
    if (command === 'e') {
      blanks();
      const line = restOfLine().trim();
      if (line === '') out.computed = true;
      else out.commandLines.push(line);
    } else if (TO_LINE_END.has(command)) restOfLine();
    else if (TO_WORD_END.has(command)) {
      blanks();
      while (i < script.length && !/[;\s}]/.test(at()!)) i++;
    } else if (command === 's' || command === 'y') {
      const delimiter = at();
      if (delimiter === undefined || delimiter === '\n' || delimiter === '\\') return { ...out, computed: true };
      i++;
      if (!delimited(delimiter) || !delimited(delimiter)) return { ...out, computed: true };
      if (command === 'y') continue;
      // Flags: g p i I m M e, a number, and w FILE (the rest of the line).
      while (i < script.length && /[gpiImMe0-9w]/.test(at()!)) {
        if (at() === 'e') out.computed = true;
        if (at() === 'w') {
          restOfLine();
          break;
        }
        i++;
      }
    } else if (!NO_ARGUMENT.has(command)) return { ...out, computed: true };
  }
  return out;
}
