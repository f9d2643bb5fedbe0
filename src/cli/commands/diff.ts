import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { hunkHeader } from '../../core/diff.js';
import { listCheckpoints } from '../../store/checkpoints.js';
import { diffPaths, diffTreeSources, diffVersions, type TreeSource } from '../../store/compare.js';
import { pathsDiffJson, treeDiffJson, versionDiffJson, type DiffJson, type FileJson } from '../../api/diff.js';
import { resolveVaultName } from '../../store/vaults.js';
import { VaultFs } from '../../store/vault-fs.js';
import { action, examples, zInt } from '../command.js';
import { givenOnce } from '../given-once.js';
import type { CliContext, GlobalOptions } from '../context.js';
import { formatBytes, printable } from '../output.js';

const optionsSchema = z.object({
  from: zInt(1).optional(),
  to: z.string().optional(),
  checkpoint: z.string().optional(),
  vault: z.string().optional(),
  patch: z.boolean().optional(),
  context: zInt(0).optional(),
});

const usage = (message: string) => new AvfsError('USAGE', message);

/**
 * The vault being diffed. `diff --vault <other>` names the OTHER vault, and commander merges a
 * command's options under the global ones, so the selected vault is read from the program's own
 * options (`avfs --vault fork diff --vault main`), never from the merged set.
 */
function thisVault(ctx: CliContext): VaultFs {
  const selected = (diffCommand.parent?.opts() as GlobalOptions | undefined)?.vault;
  const fs = new VaultFs(ctx.store, resolveVaultName(ctx.store, selected), ctx.actor);
  fs.row();
  return fs;
}

export const diffCommand = new Command('diff')
  .summary('show what changed: versions, files, checkpoints, vaults')
  .description(
    'show what changed, as a line diff (unified format; structured hunks with --json). Binary files are reported as differing, never printed.\n' +
      '  diff <path> [--from N] [--to M]     two versions of a path (default: the previous one vs the current one)\n' +
      '  diff <pathA> <pathB>                two files, or two directories recursively\n' +
      '  diff --checkpoint <name> [--to <name>] [path]\n' +
      '                                      the vault now (or checkpoint --to) against a checkpoint: added/modified/deleted\n' +
      '  diff --vault <other> [path]         this vault against another (e.g. a fork against its parent)\n' +
      '  diff                                changes since the newest checkpoint',
  )
  .argument('[paths...]', 'one path (versions), two paths, or with --checkpoint/--vault a directory to limit the tree diff to')
  .option('--from <n>', 'old version number (default: the one before --to)')
  .option('--to <n|name>', 'new version number (default: the latest); with --checkpoint, a second checkpoint name')
  .option('--checkpoint <name>', 'compare against this checkpoint')
  .option('--vault <other>', 'compare against another vault (the other vault is the old side)', givenOnce)
  .option('-p, --patch', 'tree diffs: include per-file line hunks')
  .option('-U, --context <n>', 'lines of context around each change (default 3)')
  .addHelpText(
    'after',
    examples([
      'avfs diff /notes.md                       # the latest change',
      'avfs diff /notes.md --from 1 --to 3 --json',
      'avfs diff /a.txt /b.txt',
      'avfs diff --checkpoint before-exec --patch',
      'avfs diff --checkpoint v1 --to v2 /src',
      'avfs --vault experiment diff --vault main   # what the fork changed',
    ]),
  )
  .action(
    action({
      options: optionsSchema,
      run: (args, opts, ctx): DiffJson => {
        // A variadic argument arrives as one array among the processed arguments.
        const paths = (args as unknown as Array<string | string[]>).flat();
        const fs = thisVault(ctx);
        const patch = !!opts.patch;
        const treeMode = opts.checkpoint !== undefined || opts.vault !== undefined || paths.length === 0;
        if (treeMode) {
          if (opts.checkpoint !== undefined && opts.vault !== undefined) throw usage('give --checkpoint or --vault, not both');
          if (opts.from !== undefined) throw usage('--from is for versions of one path; use --checkpoint <name> [--to <name>]');
          if (opts.vault !== undefined && opts.to !== undefined) throw usage('--to names a checkpoint and only goes with --checkpoint');
          if (paths.length > 1) throw usage('a tree diff takes at most one path (the directory to compare)');
          let from: TreeSource;
          if (opts.vault !== undefined) from = { vault: opts.vault };
          else if (opts.checkpoint !== undefined) from = { checkpoint: opts.checkpoint };
          else {
            const newest = listCheckpoints(fs)[0];
            if (!newest) {
              throw new AvfsError('CHECKPOINT_NOT_FOUND', `vault ${fs.name} has no checkpoints: give a path, --checkpoint or --vault`, { vault: fs.name });
            }
            from = { checkpoint: newest.name };
          }
          const to: TreeSource = opts.to !== undefined ? { checkpoint: opts.to } : { current: true };
          return treeDiffJson(fs.name, diffTreeSources(fs, from, to, { under: paths[0], patch, context: opts.context }), patch);
        }
        if (paths.length > 2) throw usage('diff takes one path (versions) or two paths');
        if (paths.length === 2) {
          if (opts.from !== undefined || opts.to !== undefined) throw usage('--from/--to go with one path, not two');
          return pathsDiffJson(fs.name, diffPaths(fs, paths[0]!, paths[1]!, { patch: true, context: opts.context }));
        }
        let to: number | undefined;
        if (opts.to !== undefined) {
          const parsed = zInt(1).safeParse(opts.to);
          if (!parsed.success) throw usage(`--to must be a version number here, not ${JSON.stringify(opts.to)}`);
          to = parsed.data;
        }
        return versionDiffJson(fs.name, diffVersions(fs, paths[0]!, { from: opts.from, to, context: opts.context }));
      },
      render: (r, out) => {
        if (r.mode === 'tree' && !r.patch) {
          const mark = { added: chalk.green('A'), modified: chalk.yellow('M'), deleted: chalk.red('D'), unchanged: ' ' } as const;
          for (const f of r.files) {
            const size = (n: number | null) => formatBytes(n ?? 0);
            const sizes = f.kind === 'added' ? size(f.new_size) : f.kind === 'deleted' ? size(f.old_size) : f.content_changed ? `${size(f.old_size)} → ${size(f.new_size)}` : `mode ${f.old_mode} → ${f.new_mode}`;
            out.data(`${mark[f.kind]}  ${printable(f.path)}${f.type === 'directory' ? '/' : ''}  ${chalk.dim(`(${sizes})`)}\n`);
          }
        } else {
          for (const f of r.files) out.data(renderFile(f));
        }
        const s = r.summary;
        if (r.identical) out.info(`no differences (${r.from} → ${r.to})`);
        else out.info(`${r.from} → ${r.to}: ${s.added} added, ${s.modified} modified, ${s.deleted} deleted${s.additions !== null ? `; +${s.additions} -${s.deletions} lines` : ''}`);
      },
    }),
  );

/** One file as a git-style unified diff (colours only on a terminal; chalk is off for pipes and --no-color). */
function renderFile(f: FileJson): string {
  const a = f.old_path !== null ? `a${printable(f.old_path)}` : null;
  const b = f.new_path !== null ? `b${printable(f.new_path)}` : null;
  const lines = [chalk.bold(`diff avfs ${a ?? `a${printable(f.path)}`} ${b ?? `b${printable(f.path)}`}`)];
  if (f.kind === 'added') lines.push(chalk.bold(`new ${f.new_type}${f.new_mode && f.new_type !== 'symlink' ? ` mode ${f.new_mode}` : ''}`));
  if (f.kind === 'deleted') lines.push(chalk.bold(`deleted ${f.old_type}${f.old_mode && f.old_type !== 'symlink' ? ` mode ${f.old_mode}` : ''}`));
  if (f.type_changed) lines.push(chalk.bold(`type changed: ${f.old_type} → ${f.new_type}`));
  if (f.mode_changed) lines.push(chalk.bold(`old mode ${f.old_mode}`), chalk.bold(`new mode ${f.new_mode}`));
  if (f.binary) lines.push(`Binary files ${a ?? '/dev/null'} and ${b ?? '/dev/null'} differ`);
  else if (f.too_large) lines.push(`Files ${a ?? '/dev/null'} and ${b ?? '/dev/null'} differ (too large for a line diff)`);
  else if (f.hunks && f.hunks.length > 0) {
    lines.push(chalk.bold(`--- ${a ?? '/dev/null'}`), chalk.bold(`+++ ${b ?? '/dev/null'}`));
    for (const h of f.hunks) {
      lines.push(chalk.cyan(hunkHeader(h)));
      for (const l of h.lines) lines.push(l.startsWith('+') ? chalk.green(l) : l.startsWith('-') ? chalk.red(l) : l.startsWith('\\') ? chalk.dim(l) : l);
    }
  }
  return lines.join('\n') + '\n';
}
