import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { action, examples } from '../command.js';

/**
 * What a word on the command line is, for completion: v a vault path, h a host path, V a vault
 * name, c a host command (proxy exec), n anything else (a pattern, a message: nothing offered).
 */
type Kind = 'v' | 'h' | 'V' | 'c' | 'n';

/** Each command's words (subcommands, options), positional kinds and value options, read from the commander tree (never hand-kept). */
interface Level {
  words: string[];
  /** One kind per positional argument; a `*` after the last means it repeats. */
  args: string;
  /** Options that take a value, with the kind of that value. */
  values: Array<[string, Kind]>;
}

/** By argument name: vault paths and host paths; commands that take a vault name say so below. */
const ARGUMENT_KIND: Record<string, Kind> = { path: 'v', paths: 'v', src: 'v', dst: 'v', host: 'h', 'host-dir': 'h', dir: 'h', file: 'h', command: 'c' };

/** Commands whose first argument is a vault name. */
const VAULT_ARGUMENT = ['vault use', 'vault fork', 'vault delete', 'vault info', 'vault merge', 'shell'];

/** Options whose value is a vault name, a host path or a vault path; others take values nothing completes. */
const OPTION_KIND: Record<string, Kind> = { '--vault': 'V', '--into': 'V', '--from': 'h', '--home': 'h', '--scratch-dir': 'h', '--cwd': 'v', '--path': 'v' };

function commandTree(program: Command): Map<string, Level> {
  const tree = new Map<string, Level>();
  const walk = (cmd: Command, prefix: string) => {
    const subs = cmd.commands.filter((c) => c.name() !== 'help');
    // Hidden options (set by avfs for its own child processes) are not offered.
    const visible = cmd.options.filter((o) => !o.hidden);
    const options = visible.map((o) => o.long ?? o.short).filter((o): o is string => !!o);
    const values = cmd.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short].filter((f): f is string => !!f).map((f): [string, Kind] => [f, OPTION_KIND[o.long ?? ''] ?? 'n']));
    const args = cmd.registeredArguments.map((a, i) => (i === 0 && VAULT_ARGUMENT.includes(prefix) ? 'V' : (ARGUMENT_KIND[a.name()] ?? 'n')) + (a.variadic ? '*' : '')).join('');
    tree.set(prefix, { words: [...subs.map((c) => c.name()), ...options], args, values });
    for (const sub of subs) walk(sub, prefix ? `${prefix} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return tree;
}

function bash(tree: Map<string, Level>): string {
  const cases = [...tree].map(([path, l]) => `    "${path}") words="${l.words.join(' ')}" kinds="${l.args}" ;;`).join('\n');
  const known = [...tree.keys()].filter(Boolean).map((p) => `"${p}"`).join('|');
  // Value options by kind, over every command (an option name means the same everywhere).
  const byKind = new Map<Kind, Set<string>>();
  for (const l of tree.values()) for (const [flag, kind] of l.values) byKind.set(kind, (byKind.get(kind) ?? new Set()).add(flag));
  const flags = (kind: Kind) => [...(byKind.get(kind) ?? [])].join('|') || '""';
  // Which options take a value, per command: a letter means different things in different
  // commands (`log -n 5`, `prune -n` for --dry-run).
  const takesValue = [...tree].flatMap(([path, l]) => l.values.map(([flag]) => `"${path}|${flag}"`)).join('|') || '""';
  return `# avfs completion for bash: eval "$(avfs completion bash)"
_avfs_vaults() {
  avfs "\${_avfs_globals[@]}" vault list --json 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4
}
# The vault's entries in the directory part of $1 (a directory with a trailing /).
_avfs_vault_paths() {
  local dir="/" name
  case "$1" in */*) dir="\${1%/*}/" ;; esac
  avfs "\${_avfs_globals[@]}" ls -a --json "$dir" 2>/dev/null | grep -o '"name":"[^"]*","type":"[a-z]*"' |
    sed -e 's/^"name":"\\(.*\\)","type":"directory"$/\\1\\//' -e 's/^"name":"\\(.*\\)","type":"[a-z]*"$/\\1/' |
    while IFS= read -r name; do printf '%s\\n' "$dir$name"; done
}
_avfs_complete_kind() {
  local cur="$1"
  case "$2" in
    V) COMPREPLY=( $(compgen -W "$(_avfs_vaults)" -- "$cur") ) ;;
    v) # Line by line, so a name with a space stays one completion.
       local line; COMPREPLY=()
       while IFS= read -r line; do [[ "$line" == "$cur"* ]] && COMPREPLY+=("$line"); done < <(_avfs_vault_paths "$cur")
       # A directory is completed to its slash, ready for what is in it.
       [ \${#COMPREPLY[@]} -eq 1 ] && [[ "\${COMPREPLY[0]}" == */ ]] && compopt -o nospace 2>/dev/null ;;
    h) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
    c) COMPREPLY=( $(compgen -c -- "$cur") ) ;;
    *) COMPREPLY=() ;;
  esac
}
_avfs() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w next args=0 value="" operands=""
  # --vault and --home on the line apply to the lists completion asks avfs for.
  _avfs_globals=()
  # The command words typed so far (vault use, proxy exec …); the first word that is not one is an
  # argument. An option's value is not an argument; after -- every word is one.
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    if [ -n "$value" ]; then
      case "$value" in --vault|--home) _avfs_globals+=("$value" "$w") ;; esac
      value=""; continue
    fi
    if [ -z "$operands" ]; then
      case "$w" in
        --) operands=1; continue ;;
        -*=*) continue ;;
        -*) case "|$w" in "|--vault"|"|--home") value="$w" ;; *) case "$path|$w" in ${takesValue}) value="$w" ;; esac ;; esac; continue ;;
      esac
    fi
    if [ -z "$path" ]; then next="$w"; else next="$path $w"; fi
    case "$next" in ${known || '""'}) [ "$args" -eq 0 ] && [ -z "$operands" ] && path="$next" ;; *) args=$((args + 1)) ;; esac
  done
  # The word is an option's value.
  if [ -n "$value" ]; then
    case "$value" in
      ${flags('V')}) _avfs_complete_kind "$cur" V ;;
      ${flags('h')}) _avfs_complete_kind "$cur" h ;;
      ${flags('v')}) _avfs_complete_kind "$cur" v ;;
      *) COMPREPLY=() ;;
    esac
    return
  fi
  local words="" kinds=""
  case "$path" in
${cases}
  esac
  local w2="" x
  if [[ "$cur" == -* ]] && [ -z "$operands" ]; then
    for x in $words; do case "$x" in -*) w2="$w2 $x" ;; esac; done
    COMPREPLY=( $(compgen -W "$w2" -- "$cur") ); return
  fi
  # A subcommand where one is expected.
  for x in $words; do case "$x" in -*) ;; *) w2="$w2 $x" ;; esac; done
  if [ -n "$w2" ] && [ "$args" -eq 0 ]; then COMPREPLY=( $(compgen -W "$w2" -- "$cur") ); return; fi
  # Else what the command takes at this position (the last kind repeats when it ends with *).
  local kind="" i=0 k
  while [ -n "$kinds" ]; do
    k="\${kinds:0:1}"; kinds="\${kinds:1}"
    if [ "\${kinds:0:1}" = "*" ]; then kind="$k"; break; fi
    if [ "$i" -eq "$args" ]; then kind="$k"; break; fi
    i=$((i + 1))
  done
  # The command's own arguments are host files (proxy exec -- cmd args…).
  if [ "$kind" = c ] && [ "$args" -gt 0 ]; then kind=h; fi
  _avfs_complete_kind "$cur" "\${kind:-n}"
}
complete -F _avfs avfs
`;
}

function zsh(tree: Map<string, Level>): string {
  return `#compdef avfs
# avfs completion for zsh: eval "$(avfs completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bash(tree)}`;
}

function fish(tree: Map<string, Level>): string {
  const lines = ['# avfs completion for fish: avfs completion fish | source', 'complete -c avfs -f'];
  for (const [path, { words }] of tree) {
    const parts = path ? path.split(' ') : [];
    const cond = parts.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${parts[parts.length - 1]}`;
    for (const w of words) {
      lines.push(w.startsWith('--') ? `complete -c avfs -n '${cond}' -l ${w.slice(2)}` : `complete -c avfs -n '${cond}' -a ${w}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function completionCommand(program: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText('after', examples(['eval "$(avfs completion bash)"', 'avfs completion zsh > ~/.zfunc/_avfs', 'avfs completion fish | source']))
    .action(
      action({
        options: z.object({}).passthrough(),
        run: ([shell]) => {
          const tree = commandTree(program());
          const render = { bash, zsh, fish }[shell as 'bash' | 'zsh' | 'fish'];
          if (!render) throw new AvfsError('INVALID_ARGUMENT', `unknown shell ${JSON.stringify(shell)}: use bash, zsh or fish`, { shell });
          return { shell: shell!, script: render(tree) };
        },
        render: (r, out) => out.data(r.script),
      }),
    );
}
