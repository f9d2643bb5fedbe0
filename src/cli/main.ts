import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { AvfsError, toAvfsError } from '../errors.js';
import { decodeUtf8, escapeBytes, nulSeparated } from '../core/utf8.js';
import { decideColor, outputFailed, printError, printJson } from './output.js';
import { VERSION } from './version.js';
import type { Command as CommandType } from 'commander';
import { givenOnce, refuseRepeatedValues } from './given-once.js';

/**
 * Every command, by the names (and aliases) that invoke it, loaded on demand. Start-up is mostly
 * module loading, so a run imports only the module of the command it runs (`avfs ls` does not
 * load diff, search, the mount or the proxy). `--help`, `help`, `completion` and unknown names
 * load them all. Listed in `avfs --help` order.
 */
const COMMANDS: Array<{ names: string[]; load: () => Promise<CommandType[]> }> = [
  { names: ['vault'], load: async () => [(await import('./commands/vault.js')).vaultCommand] },
  { names: ['ls'], load: async () => [(await import('./commands/ls.js')).lsCommand] },
  { names: ['cat'], load: async () => [(await import('./commands/cat.js')).catCommand] },
  { names: ['write'], load: async () => [(await import('./commands/write.js')).writeCommand] },
  { names: ['mkdir'], load: async () => [(await import('./commands/mkdir.js')).mkdirCommand] },
  { names: ['rm'], load: async () => [(await import('./commands/rm.js')).rmCommand] },
  { names: ['mv'], load: async () => [(await import('./commands/mv.js')).mvCommand] },
  { names: ['cp'], load: async () => [(await import('./commands/cp.js')).cpCommand] },
  { names: ['tree'], load: async () => [(await import('./commands/tree.js')).treeCommand] },
  { names: ['import', 'export', 'sync'], load: async () => { const m = await import('./commands/transfer.js'); return [m.importCommand, m.exportCommand, m.syncCommand]; } },
  { names: ['grep'], load: async () => [(await import('./commands/grep.js')).grepCommand] },
  { names: ['find'], load: async () => [(await import('./commands/find.js')).findCommand] },
  { names: ['search'], load: async () => [(await import('./commands/search.js')).searchCommand] },
  { names: ['tag', 'untag', 'tags'], load: async () => { const m = await import('./commands/tag.js'); return [m.tagCommand, m.untagCommand, m.tagsCommand]; } },
  { names: ['meta'], load: async () => [(await import('./commands/meta.js')).metaCommand] },
  { names: ['log'], load: async () => [(await import('./commands/log.js')).logCommand] },
  { names: ['checkout'], load: async () => [(await import('./commands/checkout.js')).checkoutCommand] },
  { names: ['revert'], load: async () => [(await import('./commands/revert.js')).revertCommand] },
  { names: ['diff'], load: async () => [(await import('./commands/diff.js')).diffCommand] },
  { names: ['checkpoint'], load: async () => [(await import('./commands/checkpoint.js')).checkpointCommand] },
  { names: ['stats'], load: async () => [(await import('./commands/stats.js')).statsCommand] },
  { names: ['audit'], load: async () => [(await import('./commands/audit.js')).auditCommand] },
  { names: ['quota'], load: async () => [(await import('./commands/quota.js')).quotaCommand] },
  { names: ['gc'], load: async () => [(await import('./commands/gc.js')).gcCommand] },
  { names: ['prune'], load: async () => [(await import('./commands/prune.js')).pruneCommand] },
  { names: ['compact'], load: async () => [(await import('./commands/compact.js')).compactCommand] },
  {
    names: ['mount', 'unmount', 'umount', 'mounts'],
    load: async () => { const m = await import('./commands/mount.js'); return [m.mountCommand, m.unmountCommand, m.mountsCommand]; },
  },
  { names: ['proxy'], load: async () => [(await import('./commands/proxy.js')).proxyCommand] },
  { names: ['shell'], load: async () => [(await import('./commands/shell.js')).shellCommand] },
  { names: ['mcp'], load: async () => [(await import('./commands/mcp.js')).mcpCommand] },
];

/** The arguments before `--` (after it, `--json` is an operand). */
const optionWords = (argv: string[]): string[] => {
  const end = argv.indexOf('--');
  return end === -1 ? argv : argv.slice(0, end);
};

/**
 * Whether this run asked for JSON, read before parsing so usage errors can be JSON too. A
 * `--json=…` asks for it as well: it is refused (jsonWithValue), but in the form the caller reads.
 */
function wantsJson(argv: string[]): boolean {
  return optionWords(argv).some((a) => a === '--json' || a.startsWith('--json='));
}

/**
 * `--json=true`, `--json=1`… where commander finds an option: --json takes no value (commander's
 * "unknown option" left stdout empty). The same words as an option's value (a checkpoint message)
 * are that value.
 */
function jsonWithValue(err: CommanderError): AvfsError | undefined {
  const given = err.code === 'commander.unknownOption' ? /'(--json=[^']*)'/.exec(err.message)?.[1] : undefined;
  if (given === undefined) return undefined;
  return new AvfsError('USAGE', `--json takes no value: write --json alone, not ${given}`, { reason: 'json_value', option: given });
}


/** An unknown "option" with a space in it is a value that starts with '-' (`write /todo.md "- buy milk"`): how to give one. */
function dashValueHint(message: string): string {
  return /unknown option '-[^']*\s[^']*'/.test(message) ? "; a value that starts with '-' goes after --, as in: avfs write /todo.md -- '- buy milk'" : '';
}

export function buildProgram(): Command {
  const program = new Command('avfs')
    .description('Versioned workspaces (vaults) for AI agents: files, history, forks, checkpoints, mounts and a proxy boundary.')
    .version(VERSION, '-V, --version')
    .option('--json', 'print exactly one JSON document on stdout (errors too)')
    .option('--vault <name>', 'vault to use (default: $AVFS_VAULT, else the vault chosen with `vault use`)', givenOnce)
    .option('--home <dir>', 'avfs home (default: $AVFS_HOME, else ~/.avfs)', givenOnce)
    .option('-q, --quiet', 'no messages on stderr, only data and errors')
    .option('--no-color', 'plain output without colours')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 internal, 2 usage/invalid input, 3 not found, 4 exists/conflict,
5 denied by policy, 6 quota exceeded, 124 timeout.

Examples:
  $ avfs write /notes.md "hello"          # write into the vault in use (a new home has 'default')
  $ avfs vault fork default experiment --use
  $ avfs ls -l --json`,
    );
  return program;
}

/** Adds the commands a run needs: only the named one when it is known, else every command. */
async function addCommands(program: Command, name: string | undefined): Promise<void> {
  const entry = name === undefined ? undefined : COMMANDS.find((c) => c.names.includes(name));
  const entries = entry ? [entry] : COMMANDS;
  for (const cmds of await Promise.all(entries.map((e) => e.load()))) for (const cmd of cmds) program.addCommand(cmd);
  if (!entry) {
    const { completionCommand } = await import('./commands/completion.js');
    program.addCommand(completionCommand(() => program));
  }
}

/**
 * `avfs --version` (no command, no help): commander answers it from the program alone, so the
 * commands are not loaded (loading all of them takes longer than the rest of start-up).
 */
function versionOnly(name: string | undefined, args: string[]): boolean {
  const words = optionWords(args);
  return name === undefined && words.some((a) => a === '-V' || a === '--version') && !words.some((a) => a === '-h' || a === '--help');
}

/** The command name in argv: the first argument that is not a global option or its value. */
function commandName(program: Command, args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (!arg.startsWith('-')) return arg;
    const option = program.options.find((o) => o.long === arg.split('=')[0] || o.short === arg);
    if (option?.required && !arg.includes('=')) i++;
  }
  return undefined;
}

/**
 * Commander lets a program option win wherever it appears, so a command's own option that shares
 * a global option's name (`cat --version N`, `checkout --version N`, `diff --vault <other>`)
 * would never reach the command. For a command that declares such an option, program options are
 * parsed positionally (before the command name only) and the other global options typed after
 * the command name are moved in front of it, so `avfs cat /a --version 2 --json` still works.
 */
function routeShadowedOptions(program: Command, args: string[]): string[] {
  const globalOption = (arg: string) => program.options.find((o) => o.long === arg.split('=')[0] || o.short === arg);
  let i = 0;
  for (; i < args.length && args[i] !== '--' && args[i]!.startsWith('-'); i++) {
    if (globalOption(args[i]!)?.required && !args[i]!.includes('=')) i++;
  }
  const name = args[i];
  const cmd = name === undefined ? undefined : program.commands.find((c) => c.name() === name || c.aliases().includes(name));
  const shadowed = new Set(cmd?.options.filter((o) => o.long && program.options.some((p) => p.long === o.long)).map((o) => o.long));
  if (!cmd || shadowed.size === 0) return args;
  program.enablePositionalOptions();
  const hoisted = args.slice(0, i);
  const rest: string[] = [];
  for (let k = i + 1; k < args.length; k++) {
    const arg = args[k]!;
    if (arg === '--') {
      rest.push(...args.slice(k));
      break;
    }
    const g = arg.startsWith('-') ? globalOption(arg) : undefined;
    if (!g || shadowed.has(g.long)) {
      rest.push(arg);
      continue;
    }
    hoisted.push(arg);
    if (g.required && !arg.includes('=') && k + 1 < args.length) hoisted.push(args[++k]!);
  }
  return [...hoisted, name!, ...rest];
}

/** The command words at the start of `args` (`proxy exec` of `proxy exec --timeout 5 -- true`), options skipped. */
function commandWords(program: Command, args: string[]): string[] {
  const words: string[] = [];
  let at = program;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      // An option's value (`--vault v`) is not a command word.
      const option = [...at.options, ...program.options].find((o) => o.long === arg.split('=')[0] || o.short === arg);
      if (option?.required && !arg.includes('=')) i++;
      continue;
    }
    const sub = at.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    words.push(sub.name());
    at = sub;
  }
  return words;
}

/** `proxy exec` for the exec subcommand of proxy: the words after `avfs`. */
function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** Applies `fn` to a command and every subcommand (commander does not inherit these settings through addCommand). */
function eachCommand(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) eachCommand(sub, fn);
}

/**
 * The arguments (as \x escapes) that are not valid UTF-8. Node decodes argv with U+FFFD for
 * every byte it cannot decode, so `/bad\xff` and `/bad\xfe` arrive as one name; only the raw
 * command line (/proc/self/cmdline, Linux) tells them apart, and it is read only when an argument
 * holds U+FFFD at all.
 */
function argumentsNotUtf8(argv: string[]): string[] {
  if (!argv.some((a) => a.includes('\uFFFD'))) return [];
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return [];
  }
  return nulSeparated(raw).filter((a) => decodeUtf8(a) === undefined).map((a) => escapeBytes(a));
}

export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv.slice(2));
  decideColor({ json, noColorFlag: argv.includes('--no-color') });
  const program = buildProgram();
  // `avfs help proxy exec` is `avfs proxy exec --help` (commander's help command takes one word).
  const words = argv.slice(2);
  const [first, ...topics] = words.filter((w) => w !== '--json');
  if (first === 'help' && topics.length > 1 && topics.every((w) => !w.startsWith('-'))) argv = [...argv.slice(0, 2), ...topics, '--help', ...(json ? ['--json'] : [])];
  const name = commandName(program, argv.slice(2));
  // import matches a host name it is given against the host's own bytes (transfer.ts), and says which.
  const garbled = name === 'import' ? [] : argumentsNotUtf8(argv);
  if (garbled.length > 0) {
    const error = new AvfsError(
      'INVALID_ARGUMENT',
      `argument${garbled.length > 1 ? 's' : ''} ${garbled.join(', ')} ${garbled.length > 1 ? 'are' : 'is'} not valid UTF-8, and avfs would not receive its bytes exactly (Node reads arguments as UTF-8: two such names would become one); vault paths are UTF-8, content can come on stdin (avfs write <path> -), and a host directory with such a name can be reached through a symlink to it`,
      { arguments: garbled },
    );
    printError(error, json);
    return error.exitCode;
  }
  if (!versionOnly(name, argv.slice(2))) await addCommands(program, name);
  refuseRepeatedValues(program);
  // `avfs help <word>` of a word that names no command: commander showed the whole help and said
  // "a command is needed".
  if (first === 'help' && topics.length === 1 && !topics[0]!.startsWith('-') && !program.commands.some((c) => c.name() === topics[0] || c.aliases().includes(topics[0]!))) {
    const unknown = new AvfsError('USAGE', `unknown command '${topics[0]!}' (avfs --help lists them)`, { reason: 'unknown_command', commands: program.commands.map((c) => c.name()) });
    printError(unknown, json);
    return unknown.exitCode;
  }
  // With --json, commander's own text (help, version, usage messages) must not reach stdout/stderr
  // as free text: help and version are kept here and printed as the one JSON document below, usage
  // errors by the error sink.
  let shown = '';
  eachCommand(program, (c) => {
    c.exitOverride();
    // A command list names each command and gives its one-line summary; its arguments and the
    // whole description are in its own --help (the full descriptions made `avfs --help` 190 lines).
    c.configureHelp({ subcommandTerm: (sub) => [sub.name(), ...sub.aliases()].join('|') });
    if (json) c.configureOutput({ writeOut: (text) => (shown += text), writeErr: () => {}, outputError: () => {} });
    else {
      c.showHelpAfterError(`(${c.parent ? `avfs ${commandPath(c)} --help` : 'avfs --help'} shows usage)`);
      // Tagged with its code as every other error is (error [USAGE] …; --json gives the same code).
      c.configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'error [USAGE] ').replace(/\n$/, `${dashValueHint(text)}\n`)) });
    }
  });
  try {
    await program.parseAsync([...argv.slice(0, 2), ...routeShadowedOptions(program, argv.slice(2))]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) {
        // --help, --version (commander printed them, or kept them for JSON)
        if (json) printJson(err.code === 'commander.version' ? { version: VERSION } : { help: shown });
        return 0;
      }
      if (err.code === 'commander.help') {
        // No subcommand: commander showed the help (to stderr) and gave up.
        // The innermost group named (`avfs proxy policy` lists show, set, reset and check, not proxy's).
        let group = program;
        for (const word of commandWords(program, argv.slice(2))) group = group.commands.find((c) => c.name() === word) ?? group;
        const prefix = commandPath(group) ? `avfs ${commandPath(group)}` : 'avfs';
        const usage = new AvfsError('USAGE', `a command is needed: ${prefix} <command> [options] (${prefix} --help lists them)`, {
          reason: 'missing_command',
          commands: group.commands.map((c) => c.name()),
        });
        if (json) printError(usage, true);
        return usage.exitCode;
      }
      const hint = `avfs ${[...commandWords(program, argv.slice(2)), '--help'].join(' ')}`;
      const reason = err.code === 'commander.invalidArgument' && err.message.includes('given twice') ? 'given_twice' : err.code;
      const usage = jsonWithValue(err) ?? new AvfsError('USAGE', `${err.message.replace(/^error: /, '')}${dashValueHint(err.message)} (${hint} shows usage)`, { reason });
      if (json) printError(usage, true);
      return usage.exitCode;
    }
    const error = toAvfsError(err);
    printError(error, json);
    if (error.code === 'INTERNAL' && process.env.AVFS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return error.exitCode;
  }
}

for (const stream of [process.stdout, process.stderr]) stream.on('error', (err: NodeJS.ErrnoException) => outputFailed(stream, err));

// Flush stdout before exiting: a piped stdout is asynchronous, and process.exit would cut it.
main(process.argv).then((code) => {
  process.exitCode = code;
});
