/**
 * Turns what the agent asked to run into the simple commands a policy can judge.
 *
 * The proxy runs either an argv (`-- cmd args…`) or a shell string (`--shell "…"`). A shell string,
 * and the script of `sh -c "…"`, is split here into its simple commands (`a && b | c; d`), with
 * command substitutions (`$(…)`, backticks) parsed as commands of their own; wrappers that run
 * another command (`env`, `nice`, `timeout`, `xargs`, `find -exec`, `sudo`…) yield the wrapped
 * command too. This is a best-effort reading of POSIX shell syntax for policy decisions, not an
 * interpreter: variables are not expanded, `eval` of computed strings and functions are not
 * followed. That is one reason the proxy is a command boundary, not a sandbox.
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
}

type Token = { kind: 'word'; text: string } | { kind: 'op'; text: string };

const OPERATORS = ['&&', '||', ';;', '|&', '>>', '<<', '&>', '>&', '<>', '>|', ';', '&', '|', '(', ')', '<', '>', '\n'];
const REDIRECT_OPS = new Set(['>', '>>', '<', '<<', '&>', '>&', '<>', '>|']);
const SEPARATORS = new Set(['&&', '||', ';;', '|&', ';', '&', '|', '(', ')', '\n']);
/** Reserved words that may start a command position without being the program. */
const LEADING_KEYWORDS = new Set(['!', 'if', 'then', 'else', 'elif', 'do', 'while', 'until', 'time', 'coproc', '{', '}', 'fi', 'done', 'esac']);
/** Compound commands whose words are not a program invocation (their bodies are parsed as commands). */
const COMPOUND_HEADS = new Set(['for', 'case', 'select', 'function']);

/**
 * Splits a shell script into tokens. Quotes are removed from words as the shell would; the
 * scripts of `$(…)` and backticks are returned in `substitutions` to be parsed separately.
 */
function tokenize(script: string, substitutions: string[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let word = '';
  let inWord = false;
  const flush = () => {
    if (inWord) tokens.push({ kind: 'word', text: word });
    word = '';
    inWord = false;
  };
  /** Reads `$(…)` starting at script[i] === '$', returns the index after the closing paren. */
  const readDollarParen = (start: number): number => {
    let depth = 0;
    let j = start + 1;
    for (; j < script.length; j++) {
      const c = script[j];
      if (c === '\\') {
        j++;
        continue;
      }
      if (c === "'") {
        const end = script.indexOf("'", j + 1);
        j = end === -1 ? script.length : end;
        continue;
      }
      if (c === '(') depth++;
      else if (c === ')' && --depth === 0) break;
    }
    const inner = script.slice(start + 2, j);
    // `$((…))` is arithmetic, not a command.
    if (!(inner.startsWith('(') && inner.endsWith(')'))) substitutions.push(inner);
    return j + 1;
  };
  const readBacktick = (start: number): number => {
    let j = start + 1;
    while (j < script.length && script[j] !== '`') j += script[j] === '\\' ? 2 : 1;
    substitutions.push(script.slice(start + 1, j).replace(/\\(.)/g, '$1'));
    return j + 1;
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
      const end = script.indexOf("'", i + 1);
      word += script.slice(i + 1, end === -1 ? script.length : end);
      inWord = true;
      i = end === -1 ? script.length : end + 1;
      continue;
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
        } else if (script[i] === '`') {
          const end = readBacktick(i);
          word += script.slice(i, end);
          i = end;
        } else {
          word += script[i++];
        }
      }
      i++;
      continue;
    }
    if (c === '$' && script[i + 1] === '(') {
      const end = readDollarParen(i);
      word += script.slice(i, end);
      inWord = true;
      i = end;
      continue;
    }
    if (c === '`') {
      const end = readBacktick(i);
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
    const op = OPERATORS.find((o) => script.startsWith(o, i));
    if (op) {
      // A file descriptor number glued to a redirection (`2>`, `1>>`) belongs to the operator.
      if (REDIRECT_OPS.has(op) && inWord && /^\d+$/.test(word)) {
        word = '';
        inWord = false;
      }
      flush();
      tokens.push({ kind: 'op', text: op });
      i += op.length;
      continue;
    }
    word += c;
    inWord = true;
    i++;
  }
  flush();
  return tokens;
}

/** Parses a shell script into its simple commands (including those inside substitutions). */
export function parseShell(script: string, depth = 0): SimpleCommand[] {
  const substitutions: string[] = [];
  const tokens = tokenize(script, substitutions);
  type Draft = SimpleCommand & { assignments: string[]; coproc?: boolean };
  const fresh = (): Draft => ({ argv: [], redirects: [], writesRedirect: false, shell: true, assignments: [] });
  const drafts: Draft[] = [];
  let current = fresh();
  const finish = () => {
    if (current.argv.length > 0 || current.redirects.length > 0 || current.assignments.length > 0) drafts.push(current);
    current = fresh();
  };
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t]!;
    if (tok.kind === 'op') {
      if (REDIRECT_OPS.has(tok.text)) {
        const next = tokens[t + 1];
        if (next?.kind === 'word') {
          t++;
          // `>&2`, `2>&1`, `<&-`: a descriptor, not a file. A here-document's word is its delimiter.
          if (!/^(&?\d+|&?-)$/.test(next.text) && tok.text !== '<<') {
            current.redirects.push(next.text);
            if (tok.text.includes('>')) current.writesRedirect = true;
          }
        }
        continue;
      }
      if (SEPARATORS.has(tok.text)) finish();
      continue;
    }
    if (current.argv.length === 0) {
      if (LEADING_KEYWORDS.has(tok.text)) {
        if (tok.text === 'coproc') current.coproc = true;
        continue;
      }
      // Leading assignments (`FOO=bar cmd`) set the environment; their values are still checked.
      if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(tok.text)) {
        current.assignments.push(tok.text);
        continue;
      }
    }
    current.argv.push(tok.text);
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
  if (depth < 8) for (const sub of substitutions) out.push(...parseShell(sub, depth + 1).map((c) => ({ ...c, via: c.via ?? '$(…)' })));
  return out;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash']);

/** setpriv(1)'s options that take their value as the next word. */
const SETPRIV_VALUED = new Set(['--ruid', '--euid', '--reuid', '--rgid', '--egid', '--regid', '--groups', '--inh-caps', '--ambient-caps', '--bounding-set', '--securebits', '--pdeathsig', '--selinux-label', '--apparmor-profile']);

/** The words of a string split as env -S splits it (quotes group, no operators). */
function shellWords(text: string): string[] {
  return tokenize(text, []).filter((t) => t.kind === 'word').map((t) => t.text);
}

/** The program's name for rule matching: the last path component of argv[0]. */
export function programName(argv0: string): string {
  const i = argv0.lastIndexOf('/');
  return i === -1 ? argv0 : argv0.slice(i + 1);
}

/**
 * The first argument that is not an option, skipping the value of `-C <dir>` / `-c <key=value>`
 * (git) — what rules call the subcommand: `git -C x reset --hard` → `reset`.
 */
export function subcommandOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (a === '-C' || a === '-c') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * The commands a command runs in turn: itself, plus what a wrapper starts (`env X=1 make` →
 * `make`; `timeout 5 rm -rf x` → `rm -rf x`; `find . -exec rm {} ;` → `rm {}`; `sh -c "…"` → the
 * script's commands). Used so `nice rm -rf /x` is judged as `rm -rf /x` too.
 */
export function expandCommand(cmd: SimpleCommand, depth = 0): SimpleCommand[] {
  const out = [cmd];
  if (depth > 8 || cmd.argv.length === 0) return out;
  const name = programName(cmd.argv[0]!);
  const args = cmd.argv.slice(1);
  const inner = (argv: string[], via: string) => {
    if (argv.length > 0) out.push(...expandCommand({ argv, redirects: [], writesRedirect: false, shell: cmd.shell, via }, depth + 1));
  };
  const shellInner = (script: string, via: string) => {
    for (const sub of parseShell(script, depth + 1)) out.push(...expandCommand({ ...sub, via: sub.via ?? via }, depth + 1));
  };
  const skipOptions = (from: number, withValue: Set<string>) => {
    let i = from;
    while (i < args.length && args[i]!.startsWith('-') && args[i] !== '-') {
      if (args[i] === '--') return i + 1;
      if (withValue.has(args[i]!)) i++;
      i++;
    }
    return i;
  };
  if (SHELLS.has(name)) {
    // sh -c 'script' [name args…]; options such as -e/-x/-l may precede -c or be combined (-ec).
    // The shell itself adds nothing to judge: its script's commands are the request.
    const c = args.findIndex((a) => /^-[a-z]*c[a-z]*$/.test(a));
    if (c !== -1 && args[c + 1] !== undefined) {
      const inner = parseShell(args[c + 1]!).flatMap((sub) => expandCommand({ ...sub, via: sub.via ?? name + ' -c' }, depth + 1));
      if (inner.length > 0) return inner;
    }
    return out;
  }
  switch (name) {
    case 'env': {
      let rest = args;
      let i = 0;
      while (i < rest.length && (rest[i]!.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[i]!))) {
        const a = rest[i]!;
        // -S 'prog args' (also -Sprog…, --split-string[=]…): the string is split into the words that
        // follow, the program among them, so its words take its place.
        const spaced = a === '--split-string' || /^-[a-zA-Z]*S$/.test(a); // -S 'x', -vS 'x'
        const split = spaced ? rest[i + 1] : /^-[a-zA-Z]*S./.test(a) ? a.slice(a.indexOf('S') + 1) : a.startsWith('--split-string=') ? a.slice(15) : undefined;
        if (split !== undefined) {
          rest = [...shellWords(split), ...rest.slice(i + (spaced ? 2 : 1))];
          i = 0;
          continue;
        }
        if (a === '-u' || a === '-C') i++;
        i++;
      }
      inner(rest.slice(i), 'env');
      break;
    }
    case 'busybox':
    case 'toybox':
      // A multi-call binary: its first word names the program it runs (busybox sh -c …, busybox mount).
      if (args[0] !== undefined && !args[0].startsWith('-')) inner(args, name);
      break;
    case 'flock': {
      // flock [options] <file> <program…> | flock [options] <file> -c '<script>'
      const i = skipOptions(0, new Set(['-w', '--timeout', '-E', '--conflict-exit-code']));
      const c = args.indexOf('-c', i + 1);
      if (c !== -1 && args[c + 1] !== undefined) shellInner(args[c + 1]!, 'flock -c');
      else inner(args.slice(i + 1), 'flock');
      break;
    }
    case 'script': {
      // script -c '<script>' [file] (also -qc …, -qec …, --command[=]…): the script runs in a shell.
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        if (a.startsWith('--command=')) shellInner(a.slice(10), 'script -c');
        else if ((a === '--command' || /^-[a-z]*c$/.test(a)) && args[i + 1] !== undefined) shellInner(args[++i]!, 'script -c');
      }
      break;
    }
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
    case 'nice':
    case 'ionice':
    case 'nohup':
    case 'setsid':
    case 'stdbuf':
    case 'command':
    case 'exec':
    case 'builtin':
    case 'time':
    case 'chrt':
    case 'taskset':
    case 'unbuffer':
    case 'setpriv':
    case 'sudo':
    case 'doas': {
      const valued = new Set(['-n', '-c', '-u', '-g', '-p', '-o', '-e', '-i', '-C', '-U', '-h', '-D', '-r']);
      // chrt's and taskset's options are flags; the priority or mask follows them.
      const flagsOnly = name === 'nohup' || name === 'command' || name === 'time' || name === 'chrt' || name === 'taskset';
      const own = name === 'exec' ? new Set(['-a']) : name === 'setpriv' ? SETPRIV_VALUED : flagsOnly ? new Set<string>() : valued;
      let i = skipOptions(0, own);
      if (name === 'taskset' || name === 'chrt') i++; // mask / priority
      inner(args.slice(i), name);
      break;
    }
    case 'timeout': {
      const i = skipOptions(0, new Set(['-s', '--signal', '-k', '--kill-after']));
      inner(args.slice(i + 1), 'timeout');
      break;
    }
    case 'xargs': {
      const i = skipOptions(0, new Set(['-I', '-L', '-n', '-P', '-s', '-d', '-E', '-a', '--arg-file', '--delimiter', '--max-args', '--max-procs']));
      inner(args.slice(i).length ? args.slice(i) : ['echo'], 'xargs');
      break;
    }
    case 'find': {
      for (let i = 0; i < args.length; i++) {
        if (['-exec', '-execdir', '-ok', '-okdir'].includes(args[i]!)) {
          let end = i + 1;
          while (end < args.length && args[end] !== ';' && args[end] !== '+') end++;
          inner(args.slice(i + 1, end), 'find ' + args[i]);
          i = end;
        }
      }
      break;
    }
    case 'eval': {
      for (const sub of parseShell(args.join(' '))) out.push(...expandCommand({ ...sub, via: 'eval' }, depth + 1));
      break;
    }
  }
  return out;
}

/** Every simple command a request runs: from an argv, or from a shell string. */
export function commandsOf(request: { argv?: string[]; shell?: string }): SimpleCommand[] {
  const top: SimpleCommand[] =
    request.shell !== undefined ? parseShell(request.shell) : [{ argv: request.argv ?? [], redirects: [], writesRedirect: false, shell: false }];
  return top.flatMap((c) => expandCommand(c));
}

/** Renders an argv as one shell-quoted line (for messages and audit rows). */
export function quoteArgv(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
