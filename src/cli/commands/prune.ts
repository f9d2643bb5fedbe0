import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { prune } from '../../store/prune.js';
import { action, examples, zDuration, zInt } from '../command.js';
import { table } from '../output.js';

/**
 * JSON result (`--json`):
 *   dry_run, path, keep (null when not given), older_than_ms (null when not given), cutoff (ISO or
 *   null), pruned_versions, pruned_checkpoints (counts), no_longer_undoable (exec ids: their
 *   checkpoint goes, so proxy undo refuses them), vaults: [{ vault, pruned_versions,
 *   remaining_versions, pruned_checkpoints: [names], no_longer_undoable }, plus deleted: true for a
 *   deleted vault whose history its forks still read].
 */
export const pruneCommand = new Command('prune')
  .summary('drop old versions (and checkpoints) by rule')
  .description('drop old versions (and with --checkpoints old checkpoints) by rule; never the current state')
  .argument('[path]', 'prune the history of this vault path and everything below it (/ for the whole vault)')
  .option('--all', 'every path of every vault in the home')
  .option('--keep <n>', 'keep the newest n versions of each path (n ≥ 1), and with --checkpoints the newest n checkpoints')
  .option('--older-than <duration>', 'drop only what is older than this: 30s, 10m, 2h, 7d')
  .option('--checkpoints', 'also prune checkpoints of the vault(s) by the same rule')
  .option('-n, --dry-run', 'report what would be dropped, change nothing')
  .addHelpText(
    'after',
    `
With both --keep and --older-than, a version goes only when both rules allow it. The newest version
of every path (its current state, or the deletion that removed it) and any version that is the
current state in a fork always stay. Content that only pruned versions used is freed by \`avfs gc\`.
Pruning a vault also shortens the history its forks inherit from it. A deleted vault whose forks
still read its history is pruned with --all, and with its only remaining fork.
` +
      examples([
        'avfs prune / --keep 10',
        'avfs prune /logs --older-than 7d --dry-run',
        'avfs prune --all --keep 5 --older-than 30d --checkpoints --json',
      ]),
  )
  .action(
    action({
      options: z.object({
        all: z.boolean().optional(),
        keep: zInt(1).optional(),
        olderThan: zDuration.optional(),
        checkpoints: z.boolean().optional(),
        dryRun: z.boolean().optional(),
      }),
      run: ([path], opts, ctx) => {
        if (opts.all && path !== undefined) throw new AvfsError('USAGE', 'give a path or --all, not both');
        if (!opts.all && path === undefined) throw new AvfsError('USAGE', 'say what to prune: a vault path (/ for the whole vault) or --all');
        if (opts.all) ctx.refuseVaultOptionWith('--all', 'to prune one vault give a path (/ for the whole vault)');
        const report = prune(ctx.store, {
          scope: opts.all ? { all: true } : { vault: ctx.vaultName() },
          path,
          keep: opts.keep,
          olderThanMs: opts.olderThan,
          checkpoints: !!opts.checkpoints,
          dryRun: !!opts.dryRun,
          actor: ctx.actor,
        });
        return { ...report };
      },
      render: (r, out) => {
        if (r.vaults.length > 1) {
          out.data(table([['VAULT', 'PRUNED', 'REMAINING', 'CHECKPOINTS'], ...r.vaults.map((v) => [v.deleted ? `${v.vault} (deleted)` : v.vault, String(v.pruned_versions), String(v.remaining_versions), String(v.pruned_checkpoints.length)])]));
        }
        const verb = r.dry_run ? 'would drop' : 'dropped';
        out.info(`${verb} ${r.pruned_versions} versions${r.pruned_checkpoints ? ` and ${r.pruned_checkpoints} checkpoints` : ''}${r.dry_run ? '' : '; run `avfs gc` to free their content'}`);
        const lost = r.no_longer_undoable;
        if (lost.length > 0) out.warn(`${r.dry_run ? 'would make' : 'made'} ${lost.length} proxy exec(s) no longer undoable (their checkpoint goes): ${lost.slice(0, 5).join(', ')}${lost.length > 5 ? ', …' : ''}`);
      },
    }),
  );
