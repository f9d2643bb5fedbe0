import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';

export const rmCommand = new Command('rm')
  .description('remove a file, symlink or empty directory (with -r, a directory and everything in it); history keeps every removed version')
  .argument('<path>', 'vault path')
  .option('-r, --recursive', 'remove a directory with its contents')
  .addHelpText('after', examples(['avfs rm /old.txt', 'avfs rm -r /build --json']))
  .action(
    action({
      options: z.object({ recursive: z.boolean().optional() }),
      run: ([path], opts, ctx) => {
        const fs = ctx.vault();
        const removed = fs.rm(path!, { recursive: !!opts.recursive });
        return { vault: fs.name, path: removed[removed.length - 1]!, removed: removed.length };
      },
      render: (r, out) => out.info(`removed ${r.path}${r.removed > 1 ? ` (${r.removed} entries)` : ''}`),
    }),
  );
