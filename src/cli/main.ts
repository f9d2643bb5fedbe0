import { Command, CommanderError } from 'commander';
import chalk from 'chalk';
import { createRequire } from 'node:module';
import { AvfsError, toAvfsError } from '../errors.js';
import { printError } from './output.js';
import { completionCommand } from './commands/completion.js';
import { vaultCommand } from './commands/vault.js';
import { lsCommand } from './commands/ls.js';
import { catCommand } from './commands/cat.js';
import { writeCommand } from './commands/write.js';
import { mkdirCommand } from './commands/mkdir.js';
import { rmCommand } from './commands/rm.js';
import { mvCommand } from './commands/mv.js';
import { cpCommand } from './commands/cp.js';
import { treeCommand } from './commands/tree.js';
import { exportCommand, importCommand } from './commands/transfer.js';
import { searchCommand } from './commands/search.js';
import { grepCommand } from './commands/grep.js';
import { findCommand } from './commands/find.js';
import { tagCommand, tagsCommand, untagCommand } from './commands/tag.js';
import { metaCommand } from './commands/meta.js';
import { logCommand } from './commands/log.js';
import { checkoutCommand } from './commands/checkout.js';
import { revertCommand } from './commands/revert.js';
import { diffCommand } from './commands/diff.js';
import { checkpointCommand } from './commands/checkpoint.js';
import { statsCommand } from './commands/stats.js';
import { auditCommand } from './commands/audit.js';
import { quotaCommand } from './commands/quota.js';
import { gcCommand } from './commands/gc.js';
import { pruneCommand } from './commands/prune.js';
import { compactCommand } from './commands/compact.js';
import { proxyCommand } from './commands/proxy.js';
import { mountCommand, mountsCommand, unmountCommand } from './commands/mount.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Whether this run asked for JSON, read before parsing so usage errors can be JSON too. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

export function buildProgram(): Command {
  const program = new Command('avfs')
    .description('Versioned workspaces (vaults) for AI agents: files, history, forks, checkpoints, mounts and a proxy boundary.')
    .version(pkg.version, '-V, --version')
    .option('--json', 'print exactly one JSON document on stdout (errors too)')
    .option('--vault <name>', 'vault to use (default: $AVFS_VAULT, else the vault chosen with `vault use`)')
    .option('--home <dir>', 'avfs home (default: $AVFS_HOME, else ~/.avfs)')
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
  for (const cmd of [vaultCommand, lsCommand, catCommand, writeCommand, mkdirCommand, rmCommand, mvCommand, cpCommand, treeCommand, importCommand, exportCommand, grepCommand, findCommand, searchCommand, tagCommand, untagCommand, tagsCommand, metaCommand, logCommand, checkoutCommand, revertCommand, diffCommand, checkpointCommand]) {
    program.addCommand(cmd);
  }
  // maintenance (issue 7)
  for (const cmd of [statsCommand, auditCommand, quotaCommand, gcCommand, pruneCommand, compactCommand]) program.addCommand(cmd);
  // runtime (issue 5): mount, unmount, mounts
  for (const cmd of [mountCommand, unmountCommand, mountsCommand]) program.addCommand(cmd);
  // proxy boundary (issue 6)
  program.addCommand(proxyCommand);
  program.addCommand(completionCommand(() => program));
  return program;
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

/** Applies `fn` to a command and every subcommand (commander does not inherit these settings through addCommand). */
function eachCommand(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  for (const sub of cmd.commands) eachCommand(sub, fn);
}

export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv.slice(2));
  if (argv.includes('--no-color') || json) chalk.level = 0;
  const program = buildProgram();
  eachCommand(program, (c) => {
    c.exitOverride();
    // With --json, commander's own usage messages must not reach stdout/stderr as free text:
    // the error sink below turns them into the one JSON document.
    if (json) c.configureOutput({ writeErr: () => {}, outputError: () => {} });
  });
  try {
    await program.parseAsync([...argv.slice(0, 2), ...routeShadowedOptions(program, argv.slice(2))]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      const usage = new AvfsError('USAGE', err.message.replace(/^error: /, ''), { reason: err.code });
      if (json) printError(usage, true);
      return usage.exitCode;
    }
    const error = toAvfsError(err);
    printError(error, json);
    if (error.code === 'INTERNAL' && process.env.AVFS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return error.exitCode;
  }
}

// A reader that stops early (`avfs --help | head`) closes the pipe: that ends the output, it is not
// an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// Flush stdout before exiting: a piped stdout is asynchronous, and process.exit would cut it.
main(process.argv).then((code) => {
  process.exitCode = code;
});
