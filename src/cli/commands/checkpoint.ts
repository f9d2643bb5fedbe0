import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import {
  deleteCheckpoint,
  listCheckpoints,
  restoreCheckpoint,
  saveCheckpoint,
} from '../../store/checkpoints.js';
import { AvfsError } from '../../errors.js';
import { action, examples } from '../command.js';
import { formatBytes, plural, printable, table } from '../output.js';
import { withProgressBar } from '../progress.js';
import { checkpointJson, checkpointSaveJson, restoreJson } from '../../api/json.js';
import { checkpointDetails, checkpointDetailsJson } from '../../api/checkpoints.js';

const noOptions = z.object({}).passthrough();

const save = new Command('save')
  .summary('save the whole vault\'s state under a name (O(1))')
  .description('save the whole vault\'s current state under a name (an automatic, unique name when omitted). Copies no file content.')
  .argument('[name]', 'checkpoint name: letters, digits, "-", "_", "."')
  .option('-m, --message <text>', 'a note about this state')
  .option('-d, --description <text>', 'the same as --message (as agentvfs spells it)')
  .addHelpText('after', examples(['avfs checkpoint save', 'avfs checkpoint save before-refactor -m "tests green"', 'avfs checkpoint save --json']))
  .action(
    action({
      options: z.object({ message: z.string().optional(), description: z.string().optional() }),
      run: ([name], opts, ctx) => {
        if (opts.message !== undefined && opts.description !== undefined) throw new AvfsError('USAGE', 'give the note once: --message or --description');
        const fs = ctx.vault();
        const started = performance.now();
        const cp = saveCheckpoint(fs, name ?? null, opts.message ?? opts.description ?? null);
        return checkpointSaveJson(fs.name, cp, performance.now() - started);
      },
      render: (r, out) => out.info(`saved checkpoint ${r.checkpoint.name} (${plural(r.checkpoint.files, 'file')}, ${formatBytes(r.checkpoint.bytes)}, ${r.duration_ms} ms)`),
    }),
  );

const list = new Command('list')
  .alias('ls')
  .description('list the vault\'s checkpoints, newest first')
  .addHelpText('after', examples(['avfs checkpoint list', 'avfs checkpoint list --json']))
  .action(
    action({
      options: noOptions,
      run: (_args, _opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, checkpoints: listCheckpoints(fs).map(checkpointJson) };
      },
      render: (r, out) => {
        if (r.checkpoints.length === 0) return out.info(`no checkpoints in vault ${r.vault}`);
        const rows = [['NAME', 'CREATED', 'FILES', 'SIZE', 'MESSAGE'].map((h) => chalk.dim(h))];
        for (const c of r.checkpoints) rows.push([c.name, c.created_at.replace('T', ' ').slice(0, 19), String(c.files), formatBytes(c.bytes), printable(c.message ?? '')]);
        out.data(table(rows));
      },
    }),
  );

const restore = new Command('restore')
  .summary('make the whole vault a checkpoint\'s state again')
  .description(
    'make the whole vault exactly the checkpoint\'s state, in one transaction. Only paths that differ are touched, each recorded as a version (op "restore"). The replaced state is saved first as checkpoint before-restore-…, so restoring that undoes this.',
  )
  .argument('<name>', 'checkpoint name')
  .addHelpText('after', examples(['avfs checkpoint restore before-refactor', 'avfs checkpoint restore before-refactor --json']))
  .action(
    action({
      options: noOptions,
      run: ([name], _opts, ctx) => {
        const fs = ctx.vault();
        const started = performance.now();
        // A long restore (thousands of paths) shows a bar on a terminal; it is one transaction.
        const r = withProgressBar('restoring', ctx.out, (bar) => restoreCheckpoint(fs, name!, { progress: bar }));
        return restoreJson(fs.name, r, performance.now() - started);
      },
      render: (r, out) => {
        if (r.saved_before === null) return out.info(`vault ${r.vault} already matches checkpoint ${r.checkpoint}; nothing changed`);
        out.info(
          `restored ${r.checkpoint}: ${r.added} re-created, ${r.modified} changed, ${r.deleted} removed (${r.duration_ms} ms); ` +
            `the replaced state is checkpoint ${r.saved_before}`,
        );
      },
    }),
  );

const del = new Command('delete')
  .alias('rm')
  .summary('delete a checkpoint')
  .description('delete a checkpoint (content it alone referenced is freed by `avfs gc`)')
  .argument('<name>', 'checkpoint name')
  .addHelpText('after', examples(['avfs checkpoint delete before-refactor', 'avfs checkpoint delete cp-20250101-120000-000 --json']))
  .action(
    action({
      options: noOptions,
      run: ([name], _opts, ctx) => {
        const fs = ctx.vault();
        const row = deleteCheckpoint(fs, name!);
        return { vault: fs.name, deleted: row.name };
      },
      render: (r, out) => out.info(`deleted checkpoint ${r.deleted}`),
    }),
  );

const info = new Command('info')
  .summary('show a checkpoint and what changed since')
  .description('show one checkpoint: when, what it holds, and how the vault has changed since')
  .argument('<name>', 'checkpoint name')
  .addHelpText('after', examples(['avfs checkpoint info before-refactor', 'avfs checkpoint info before-refactor --json']))
  .action(
    action({
      options: noOptions,
      run: ([name], _opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, checkpoint: checkpointDetailsJson(checkpointDetails(fs, name!)) };
      },
      render: (r, out) => {
        const c = r.checkpoint;
        const s = c.changes_since;
        out.data(
          table([
            ['name', c.name],
            ['message', c.message === null ? '-' : printable(c.message)],
            ['created', c.created_at],
            ['source', c.source + (c.exec_id ? ` (exec ${c.exec_id})` : '')],
            ['files', String(c.files)],
            ['directories', String(c.directories)],
            ['symlinks', String(c.symlinks)],
            ['bytes', `${c.bytes} (${formatBytes(c.bytes)})`],
            ['since then', `${s.added} added, ${s.modified} modified, ${s.deleted} deleted`],
          ]),
        );
      },
    }),
  );

export const checkpointCommand = new Command('checkpoint')
  .alias('snapshot')
  .summary('save, list, restore and delete named states of the vault')
  .description('save, list, restore and delete named states of the whole vault (alias: snapshot)')
  .addCommand(save)
  .addCommand(list)
  .addCommand(restore)
  .addCommand(del)
  .addCommand(info)
  .addHelpText(
    'after',
    examples(['avfs checkpoint save before-refactor', 'avfs checkpoint list', 'avfs diff --checkpoint before-refactor', 'avfs checkpoint restore before-refactor']),
  );
