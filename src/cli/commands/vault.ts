import { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { deleteUnmountedVault } from '../../api/vaults.js';
import { forkJson, mergeJson, vaultListJson } from '../../api/json.js';
import { action, examples } from '../command.js';
import { withProgressBar } from '../progress.js';
import { formatBytes, plural, table, type Output } from '../output.js';
import { mergeVaults, undoMerge, type MergeReport, type UndoReport } from '../../store/merge.js';
import { STRATEGIES } from '../../core/merge-tree.js';
import { countsLine, renderMergeLines } from '../merge-output.js';
import {
  createVault,
  DEFAULT_VAULT,
  forkVault,
  getVault,
  listVaults,
  summarize,
  useVault,
  type VaultSummary,
} from '../../store/vaults.js';

const noOptions = z.object({}).passthrough();

function renderSummary(v: VaultSummary): string {
  return table([
    ['name', v.name + (v.current ? chalk.green(' (in use)') : '')],
    ['parent', v.parent ?? (v.detached ? `- (detached: the vault it was forked from was deleted; ${v.ancestors.length > 0 ? `nearest live ancestor ${v.ancestors[0]}` : 'no ancestor left'})` : '-')],
    ['created', v.created_at],
    ['files', String(v.files)],
    ['directories', String(v.directories)],
    ['symlinks', String(v.symlinks)],
    ['bytes', `${v.bytes} (${formatBytes(v.bytes)})`],
    ['forks', String(v.forks)],
  ]);
}

const create = new Command('create')
  .description('create an empty vault')
  .argument('<name>', 'vault name: letters, digits, "-", "_", "."')
  .option('--use', 'also make it the vault in use')
  .addHelpText('after', examples(['avfs vault create scratch', 'avfs vault create agent-1 --use --json']))
  .action(
    action({
      options: z.object({ use: z.boolean().optional() }),
      run: ([name], opts, ctx) => {
        // `--vault default` keeps default in use (createVault), and `--vault x vault create x` names
        // the same vault; another would be ignored, where `--vault parent vault create child` reads as a fork.
        if (ctx.globals.vault !== DEFAULT_VAULT && ctx.globals.vault !== name) ctx.refuseVaultOptionWith('vault create', `to make it from ${ctx.globals.vault} give vault fork ${ctx.globals.vault} ${name}`, 'makes an empty vault named by <name>');
        const vault = createVault(ctx.store, name!, ctx.actor, { firstOfHome: true, named: ctx.globals.vault });
        return { vault: opts.use ? useVault(ctx.store, name!) : vault };
      },
      render: (r, out) => out.info(`created vault ${r.vault.name}${r.vault.current ? ' (now in use)' : ''}`),
    }),
  );

const list = new Command('list')
  .alias('ls')
  .description('list vaults with their size, parent and forks')
  .addHelpText('after', examples(['avfs vault list', 'avfs vault list --json']))
  .action(
    action({
      options: noOptions,
      run: (_args, _opts, ctx) => {
        ctx.refuseVaultOptionWith('vault list', undefined, 'lists every vault in the home');
        return vaultListJson(listVaults(ctx.store));
      },
      render: (r, out) => {
        const rows = [['', 'NAME', 'FILES', 'SIZE', 'PARENT', 'FORKS'].map((h) => chalk.dim(h))];
        for (const v of r.vaults) {
          rows.push([v.current ? chalk.green('*') : ' ', v.name, String(v.files), formatBytes(v.bytes), v.parent ?? '-', String(v.forks)]);
        }
        out.data(table(rows));
      },
    }),
  );

const use = new Command('use')
  .summary('choose the vault commands use by default')
  .description('choose the vault that commands use when --vault and $AVFS_VAULT are not given')
  .argument('<name>', 'vault name')
  .addHelpText('after', examples(['avfs vault use agent-1']))
  .action(
    action({
      options: noOptions,
      run: ([name], _opts, ctx) => {
        ctx.refuseVaultOptionWith('vault use', `to use it give vault use ${ctx.globals.vault}`, 'names its vault itself (<name>)');
        const vault = useVault(ctx.store, name!);
        // $AVFS_VAULT goes before the vault in use: with another one set, this changes nothing here yet.
        const env = process.env.AVFS_VAULT;
        return { vault, ...(env && env !== vault.name ? { shadowed_by_env: env } : {}) };
      },
      render: (r, out) => {
        out.info(`now using vault ${r.vault.name}`);
        if (r.shadowed_by_env) out.warn(`AVFS_VAULT=${r.shadowed_by_env} is set in this environment and goes first: commands run with it keep using ${r.shadowed_by_env}`);
      },
    }),
  );

const fork = new Command('fork')
  .summary('fork a vault in O(1): an independent copy sharing its files')
  .description('fork a vault: a new, independent vault with the same files, made in the same time at any vault size (nothing is copied: the fork is a layer over the source as it is now, and never sees its later changes)')
  .argument('<source>', 'vault to fork')
  .argument('<target>', 'name of the new vault')
  .option('--use', 'make the fork the vault in use')
  .addHelpText('after', examples(['avfs vault fork main experiment --use', 'avfs vault fork main try-2 --json']))
  .action(
    action({
      options: z.object({ use: z.boolean().optional() }),
      run: ([source, target], opts, ctx) => {
        ctx.refuseVaultOptionWith('vault fork', `to fork it give vault fork ${ctx.globals.vault} ${target}`, 'names its vaults itself (<source> and <target>)');
        const started = performance.now();
        const vault = forkVault(ctx.store, source!, target!, ctx.actor);
        const durationMs = performance.now() - started;
        return forkJson(opts.use ? useVault(ctx.store, target!) : vault, source!, durationMs);
      },
      render: (r, out) =>
        out.info(`forked ${r.from} → ${r.vault.name} (${plural(r.vault.files, 'file')}, ${r.duration_ms} ms)${r.vault.current ? ', now in use' : ''}`),
    }),
  );

/** Asks a yes/no question on the terminal (stderr, so stdout stays clean); true only for y/yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^(y|yes)$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

const del = new Command('delete')
  .alias('rm')
  .summary('delete a vault with its history and checkpoints')
  .description(
    'delete a vault with its history and checkpoints. A vault with forks is refused (HAS_FORKS) unless --force, which detaches the forks from it: they keep every file and all their history (the deleted vault stays, out of reach, while they read through it), have no parent to merge into, and still count as forks of the vaults above it (merge --into works). A mounted vault is refused (CONFLICT, reason mounted): unmount it first. One with a proxy exec running in it is refused (CONFLICT, reason exec_running) unless --force. Deleting the vault in use clears the selection. Content is freed by `avfs gc`.',
  )
  .argument('<name>', 'vault name')
  .option('-f, --force', 'delete even if the vault has forks (they are detached) or a command running in it; asks nothing')
  .option('-y, --yes', 'do not ask for confirmation (asked only on a terminal, without --json)')
  .addHelpText('after', examples(['avfs vault delete scratch', 'avfs vault delete scratch -y', 'avfs vault delete main --force --json']))
  .action(
    action({
      options: z.object({ force: z.boolean().optional(), yes: z.boolean().optional() }),
      run: async ([name], opts, ctx) => {
        ctx.refuseVaultOptionWith('vault delete', `to delete it give vault delete ${ctx.globals.vault}`, 'names its vault itself (<name>)');
        if (!opts.yes && !opts.force && !ctx.globals.json && process.stdin.isTTY && process.stderr.isTTY) {
          const vault = summarize(ctx.store, getVault(ctx.store, name!));
          const what = `${plural(vault.files, 'file')}, ${formatBytes(vault.bytes)}${vault.forks ? `, ${vault.forks} fork(s)` : ''}`;
          if (!(await confirm(`delete vault ${vault.name} (${what}) with its history and checkpoints? [y/N] `))) {
            throw new AvfsError('CONFLICT', `not deleted: ${vault.name} (not confirmed; pass -y to skip the question)`, { vault: vault.name, reason: 'not_confirmed' });
          }
        }
        const r = deleteUnmountedVault(ctx.store, name!, !!opts.force, ctx.actor);
        return { deleted: r.name, detached_forks: r.detached_forks };
      },
      render: (r, out) =>
        out.info(`deleted vault ${r.deleted}${r.detached_forks.length ? ` (detached forks: ${r.detached_forks.join(', ')})` : ''}`),
    }),
  );

const info = new Command('info')
  .description('show one vault: size, counts, parent, forks')
  .argument('[name]', 'vault name (default: the vault in use)')
  .addHelpText('after', examples(['avfs vault info', 'avfs vault info experiment --json']))
  .action(
    action({
      options: noOptions,
      run: ([name], _opts, ctx) => {
        if (name !== undefined) ctx.refuseVaultOptionWith('vault info', `for it give vault info ${ctx.globals.vault}`, 'names its vault itself (<name>)');
        return { vault: summarize(ctx.store, getVault(ctx.store, name ?? ctx.vaultName())) };
      },
      render: (r, out) => out.data(renderSummary(r.vault)),
    }),
  );

const merge = new Command('merge')
  .summary('merge a vault\'s work into its parent (three-way, by lines)')
  .description(
    "merge a vault's work into its parent (or --into another related vault), three-way: each path changed on one side since the base is taken, " +
      'text edits on both sides are merged by lines, and everything else changed differently on both sides is a conflict. ' +
      'With --strategy fail (the default) a conflict stops the merge and nothing is applied; ours/theirs take one side for each conflict; ' +
      'union keeps both (text with conflict markers). A merge runs in one transaction after an automatic checkpoint (before-merge-…), ' +
      'and the next merge of the same vaults starts where this one ended. See README "Merging".',
  )
  .argument('<source>', 'vault to merge from (its work is "theirs")')
  .option('--into <vault>', 'vault to merge into ("ours"; default: the parent of <source>)')
  .option('--strategy <name>', `how conflicts are resolved: ${STRATEGIES.join(', ')} (default fail)`)
  .option('-n, --dry-run', 'report exactly what the merge would do, change nothing')
  .option('--undo', 'undo the last merge of <source> into the vault (refused if merged paths changed since)')
  .option('-f, --force', 'with --undo: also put back merged paths that changed since (their later changes are lost; other later work stays)')
  .addHelpText(
    'after',
    examples([
      'avfs vault fork main try && avfs --vault try write /notes.md "idea"',
      'avfs vault merge try --dry-run            # what would change, and every conflict',
      'avfs vault merge try                      # into main; stops on conflicts (exit 4)',
      'avfs vault merge try --strategy theirs --json',
      'avfs vault merge main --into try          # bring main\'s new work into the fork',
      'avfs vault merge try --undo',
    ]),
  )
  .action(
    action({
      options: z.object({
        into: z.string().optional(),
        strategy: z.enum(STRATEGIES as [string, ...string[]]).optional(),
        dryRun: z.boolean().optional(),
        undo: z.boolean().optional(),
        force: z.boolean().optional(),
      }),
      run: ([source], opts, ctx): MergeResult => {
        ctx.refuseVaultOptionWith('vault merge', `to merge into it give --into ${ctx.globals.vault}`, 'names its vaults itself (<source>, and --into or its parent)');
        if (opts.undo) {
          if (opts.dryRun) throw new AvfsError('USAGE', '--undo and --dry-run do not go together');
          if (opts.strategy !== undefined) throw new AvfsError('USAGE', '--undo and --strategy do not go together: an undo puts back what the merge wrote');
          const undone = withProgressBar('undoing the merge', ctx.out, (bar) => undoMerge(ctx.store, source!, { into: opts.into, force: !!opts.force, actor: ctx.actor, progress: bar }));
          return { undo: true, ...undone };
        }
        if (opts.force) throw new AvfsError('USAGE', '--force goes with --undo');
        return mergeJson(withProgressBar('merging', ctx.out, (bar) => mergeVaults(ctx.store, source!, { into: opts.into, strategy: (opts.strategy ?? 'fail') as never, dryRun: !!opts.dryRun, actor: ctx.actor, progress: bar })));
      },
      render: (r, out) => (r.undo ? out.info(`undid merge ${r.merge_id} of ${r.source} into ${r.target}: ${r.restored} path(s) put back`) : renderMerge(r, out)),
    }),
  );

type MergeResult = ((MergeReport & { undo: false }) | (UndoReport & { undo: true })) & Record<string, unknown>;

function renderMerge(r: MergeReport, out: Output): void {
  renderMergeLines(r, out);
  const s = r.summary;
  if (r.status === 'up_to_date') out.info(`${r.target} already has everything from ${r.source}`);
  else if (r.dry_run) out.info(`dry run, nothing changed: merging ${r.source} into ${r.target} would ${r.status === 'conflicts' ? `stop on ${s.unresolved} unresolved conflict(s)` : `apply ${countsLine(s)}`}`);
  else out.info(`merged ${r.source} into ${r.target}: ${countsLine(s)}${r.checkpoint ? ` (undo: avfs vault merge ${r.source} --into ${r.target} --undo; restoring checkpoint ${r.checkpoint} instead leaves the merge recorded, so ${r.source}'s work would not merge again)` : ''}`);
}

export const vaultCommand = new Command('vault')
  .description('create, list, choose, fork, merge and delete vaults')
  .addCommand(create)
  .addCommand(list)
  .addCommand(use)
  .addCommand(fork)
  .addCommand(del)
  .addCommand(info)
  .addCommand(merge)
  .addHelpText('after', examples(['avfs vault create work --use', 'avfs vault fork work work-try --use', 'avfs vault merge work-try', 'avfs vault list']));
