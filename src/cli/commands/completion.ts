import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { action, examples } from '../command.js';

/** Command words at each level of the program, read from the commander tree (never hand-kept). */
function commandTree(program: Command): Map<string, string[]> {
  const tree = new Map<string, string[]>();
  const walk = (cmd: Command, prefix: string) => {
    const subs = cmd.commands.filter((c) => c.name() !== 'help');
    // Hidden options (set by avfs for its own child processes) are not offered.
    const options = cmd.options.filter((o) => !o.hidden).map((o) => o.long ?? o.short).filter((o): o is string => !!o);
    tree.set(prefix, [...subs.map((c) => c.name()), ...options]);
    for (const sub of subs) walk(sub, prefix ? `${prefix} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return tree;
}

/** Commands whose first argument is a vault name. */
const VAULT_ARGUMENT = ['vault use', 'vault fork', 'vault delete', 'vault info', 'vault merge'];

function bash(tree: Map<string, string[]>): string {
  const cases = [...tree].map(([path, words]) => `    "${path}") words="${words.join(' ')}" ;;`).join('\n');
  const known = [...tree.keys()].filter(Boolean).map((p) => `"${p}"`).join('|');
  return `# avfs completion for bash: eval "$(avfs completion bash)"
_avfs_vaults() {
  avfs vault list --json 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4
}
_avfs() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" w next args=0
  # The command words typed so far (vault use, proxy exec …); the first word that is not one is an argument.
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) continue ;; esac
    if [ -z "$path" ]; then next="$w"; else next="$path $w"; fi
    case "$next" in ${known || '""'}) [ "$args" -eq 0 ] && path="$next" ;; *) args=$((args + 1)) ;; esac
  done
  if [ "$prev" = "--vault" ] || [ "$prev" = "--into" ]; then
    COMPREPLY=( $(compgen -W "$(_avfs_vaults)" -- "$cur") ); return
  fi
  local words=""
  case "$path" in
${cases}
  esac
  case "$path" in ${VAULT_ARGUMENT.map((p) => `"${p}"`).join('|')}) if [ "$args" -eq 0 ] && [[ "$cur" != -* ]]; then words="$(_avfs_vaults)"; fi ;; esac
  # Options when the word starts with -, else subcommands (or vault names), else host paths.
  local w2="" x
  for x in $words; do case "$x" in -*) [[ "$cur" == -* ]] && w2="$w2 $x" ;; *) [[ "$cur" != -* ]] && w2="$w2 $x" ;; esac; done
  COMPREPLY=( $(compgen -W "$w2" -- "$cur") )
  [ \${#COMPREPLY[@]} -eq 0 ] && [[ "$cur" != -* ]] && COMPREPLY=( $(compgen -f -- "$cur") )
}
complete -F _avfs avfs
`;
}

function zsh(tree: Map<string, string[]>): string {
  return `#compdef avfs
# avfs completion for zsh: eval "$(avfs completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bash(tree)}`;
}

function fish(tree: Map<string, string[]>): string {
  const lines = ['# avfs completion for fish: avfs completion fish | source', 'complete -c avfs -f'];
  for (const [path, words] of tree) {
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
