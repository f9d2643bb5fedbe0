import { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { checkoutFromCheckpoint } from '../../store/checkpoints.js';
import { checkoutVersion } from '../../store/history.js';
import { action, examples, zInt } from '../command.js';
import { entryJson, printable } from '../output.js';

export const checkoutCommand = new Command('checkout')
  .summary('make a path hold an old version (or a checkpoint\'s) again')
  .description(
    'make a path hold an old version again (recorded as a new version, so it can be reverted): works for deleted paths (missing directories are recreated), directories (mode) and symlinks. With --checkpoint, take the path from a checkpoint instead (with -r, a whole directory).',
  )
  .argument('<path>', 'vault path (a deleted path too)')
  .option('--version <n>', 'the version to bring back (see avfs log <path>)')
  .option('--checkpoint <name>', 'take the path as it is in this checkpoint')
  .option('-r, --recursive', 'allow replacing a non-empty directory; with --checkpoint, restore everything below the path too')
  .addHelpText(
    'after',
    examples([
      'avfs checkout /notes.md --version 2',
      'avfs checkout /deleted.txt --version 3 --json',
      'avfs checkout /src --checkpoint before-refactor -r',
    ]),
  )
  .action(
    action({
      options: z.object({ version: zInt(1).optional(), checkpoint: z.string().optional(), recursive: z.boolean().optional() }),
      run: ([path], opts, ctx) => {
        if ((opts.version === undefined) === (opts.checkpoint === undefined)) {
          throw new AvfsError('USAGE', 'give exactly one of --version <n> or --checkpoint <name>');
        }
        const fs = ctx.vault();
        const r =
          opts.version !== undefined
            ? checkoutVersion(fs, path!, opts.version, { recursive: !!opts.recursive })
            : checkoutFromCheckpoint(fs, path!, opts.checkpoint!, { recursive: !!opts.recursive });
        return {
          vault: fs.name,
          path: r.path,
          version: opts.version ?? null,
          checkpoint: opts.checkpoint ?? null,
          changed: r.changed,
          changed_paths: r.changed_paths,
          deleted: r.entry === null,
          new_version: r.entry?.version ?? null,
          entry: r.entry ? entryJson(r.entry) : null,
        };
      },
      render: (r, out) => {
        const from = r.version !== null ? `version ${r.version}` : `checkpoint ${r.checkpoint}`;
        if (!r.changed) return out.info(`${printable(r.path)} already matches ${from}; nothing changed`);
        const what = r.deleted ? 'removed (absent in' : `now v${r.new_version} (=`;
        out.info(`${printable(r.path)} ${what} ${from})${r.changed_paths > 1 ? `, ${r.changed_paths} entries changed` : ''}`);
      },
    }),
  );
