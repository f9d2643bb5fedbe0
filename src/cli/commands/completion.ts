import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { action, examples } from '../command.js';

/** Command words at each level of the program, read from the commander tree (never hand-kept). */
function commandTree(program: Command): Map<string, string[]> {
  const tree = new Map<string, string[]>();
  const walk = (cmd: Command, prefix: string) => {
    const subs = cmd.commands.filter((c) => c.name() !== 'help');
    const options = cmd.options.map((o) => o.long ?? o.short).filter((o): o is string => !!o);
    tree.set(prefix, [...subs.map((c) => c.name()), ...options]);
    for (const sub of subs) walk(sub, prefix ? `${prefix} ${sub.name()}` : sub.name());
  };
  walk(program, '');
  return tree;
}

function bash(tree: Map<string, string[]>): string {
  const cases = [...tree].map(([path, words]) => `    "${path}") words="${words.join(' ')}" ;;`).join('\n');
  return `# avfs completion for bash: eval "$(avfs completion bash)"
_avfs() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) ;; *) if [ -z "$path" ]; then path="$w"; else path="$path $w"; fi ;; esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=( $(compgen -f -- "$cur") )
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
