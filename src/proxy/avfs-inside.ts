import { programName, type SimpleCommand } from './command-line.js';

/**
 * What avfs itself may do inside the boundary (ARCHITECTURE.md "Proxy"). An unsandboxed exec gets
 * AVFS_HOME, AVFS_VAULT and AVFS_EXEC_ID, so a command can call avfs on the vault it runs in.
 * The rule: inside, avfs does the vault-content operations on the exec's own vault, and nothing
 * else. The boundary's own controls are not the command's to change: the policy, quotas,
 * checkpoint deletion and pruning (undo needs the checkpoint the exec took), undo of other runs,
 * other vaults and homes, vault creation/deletion/forks/merges, gc and compaction of the home,
 * mounts, nested proxy runs and shells, the MCP server. A command that names one is denied before
 * anything starts. The policy reads the command line only (a script that runs avfs is not seen),
 * so this is the explainable gate of an unsandboxed run, not enforcement: in the sandbox the avfs
 * home is not there at all.
 */

/** Commands that read or change the vault's content or history, and nothing else. */
const CONTENT = new Set([
  'ls', 'cat', 'write', 'mkdir', 'rm', 'mv', 'cp', 'tree', 'import', 'export', 'sync', 'grep', 'find', 'search',
  'tag', 'untag', 'tags', 'meta', 'log', 'checkout', 'revert', 'diff', 'stats', 'audit', 'help', 'completion',
]);
/** Groups of which only some subcommands are content operations (`undefined`: the group alone, e.g. `avfs quota` shows). */
const CONTENT_SUBCOMMANDS: Record<string, Set<string | undefined>> = {
  checkpoint: new Set(['save', 'list', 'ls', 'restore', 'info']),
  snapshot: new Set(['save', 'list', 'ls', 'restore', 'info']),
  quota: new Set([undefined]),
};

/**
 * Options of avfs whose value names a place: the global --vault and --home, and --from (a host
 * file that `write` reads). The only valued options that can stand before the command words
 * (commander refuses a subcommand's options ahead of its name), so the words are read right.
 */
const PLACE_OPTIONS = new Set(['--vault', '--home', '--from']);

/** An avfs command line as avfs's parser reads it (indexes into the argv given, program word at 0). */
export interface AvfsWords {
  /** The words that are not options or option values: the command, its subcommand, their operands. */
  operands: number[];
  /** Each place option: its name, the index of its word, and its value (inline `--home=x`, else the next word). */
  places: Array<{ name: string; at: number; value: string | undefined; valueAt: number | undefined }>;
}

/** The one reading of an avfs argv that the rule below and the policy's host-path check share. */
export function avfsWords(argv: string[]): AvfsWords {
  const words: AvfsWords = { operands: [], places: [] };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq === -1 ? a : a.slice(0, eq);
    if (PLACE_OPTIONS.has(name)) {
      const valueAt = eq === -1 && i + 1 < argv.length ? i + 1 : undefined;
      words.places.push({ name, at: i, value: eq === -1 ? argv[i + 1] : a.slice(eq + 1), valueAt });
      if (eq === -1) i++;
    } else if (!a.startsWith('-') || a === '-') {
      words.operands.push(i);
    }
  }
  return words;
}

/**
 * The avfs command line a command runs (`avfs …`, or `node …/avfs.js …` as in a checkout), from
 * the program word on; undefined when it runs something else.
 */
export function avfsArgv(cmd: SimpleCommand): string[] | undefined {
  const isAvfs = (word: string | undefined) => word !== undefined && ['avfs', 'avfs.js'].includes(programName(word));
  if (isAvfs(cmd.argv[0])) return cmd.argv;
  if (['node', 'nodejs'].includes(programName(cmd.argv[0]!)) && isAvfs(cmd.argv[1])) return cmd.argv.slice(1);
  return undefined;
}

/** Where the exec runs: the vault and home a nested avfs gets from its environment. */
export interface OwnPlace {
  vault?: string;
  home?: string;
}

/** Why this avfs command goes beyond the vault's content on the exec's own vault, or undefined. */
export function avfsBeyondContent(argv: string[], own: OwnPlace): string | undefined {
  const { operands, places } = avfsWords(argv);
  for (const { name, value } of places) {
    if (name === '--from') continue; // a content command's input file: the host-path check judges it
    const mine = name === '--vault' ? own.vault : own.home;
    if (value !== mine) return `${name} ${value ?? ''} names another ${name.slice(2)} than the one this exec runs in (${mine ?? 'unknown'}): avfs inside the boundary works on its own vault only`;
  }
  const [command, sub] = operands.map((i) => argv[i]!);
  if (command === undefined || CONTENT.has(command)) return undefined;
  if (CONTENT_SUBCOMMANDS[command]?.has(sub)) return undefined;
  const what = sub !== undefined && CONTENT_SUBCOMMANDS[command] ? `avfs ${command} ${sub}` : `avfs ${command}`;
  return `${what} is one of the boundary's own controls (policy, quotas, checkpoint deletion, undo, vaults, gc, mounts, proxy, mcp), not the command's to use: avfs inside the boundary may only read and change its own vault's content`;
}

/** Builtins and wrappers that set, export or unset variables by name. */
const SETTERS = new Set(['export', 'unset', 'declare', 'typeset', 'readonly', 'local']);
const AVFS_VARIABLE = /^AVFS_[A-Za-z0-9_]*(=|$)/;

/**
 * Why a command changes the environment through which the proxy tells a nested avfs where it runs
 * (AVFS_HOME, AVFS_VAULT, AVFS_EXEC_ID, …), or undefined. `callsAvfs`: whether the request runs
 * avfs anywhere (then `env -i`, which would leave avfs the default home, counts too).
 */
export function changesAvfsEnvironment(cmd: SimpleCommand, callsAvfs: boolean): string | undefined {
  const named = (cmd.assignments ?? []).find((w) => AVFS_VARIABLE.test(w));
  if (named) return `${named.split('=')[0]} is set by the proxy for the avfs inside the boundary; a command may not change it`;
  const name = programName(cmd.argv[0]!);
  const args = cmd.argv.slice(1);
  if (SETTERS.has(name)) {
    const word = args.find((w) => AVFS_VARIABLE.test(w));
    if (word) return `${name} ${word.split('=')[0]}: AVFS_* variables are set by the proxy for the avfs inside the boundary; a command may not change them`;
  }
  if (name === 'env') {
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const unset = a === '-u' || a === '--unset' ? args[++i] : /^(?:-u|--unset=)(.+)$/.exec(a)?.[1];
      const variable = unset ?? (/^[A-Za-z_][A-Za-z0-9_]*=/.test(a) ? a : undefined);
      if (variable !== undefined && AVFS_VARIABLE.test(variable)) return `env ${unset !== undefined ? 'unsets' : 'sets'} ${variable.split('=')[0]}: AVFS_* variables are set by the proxy for the avfs inside the boundary; a command may not change them`;
      if (callsAvfs && (a === '-' || a === '-i' || a === '--ignore-environment')) {
        return `env ${a} clears AVFS_HOME and AVFS_VAULT, which would point avfs at another home and vault than this exec's`;
      }
      if (!a.startsWith('-') && !a.includes('=')) break; // the wrapped program
    }
  }
  return undefined;
}
