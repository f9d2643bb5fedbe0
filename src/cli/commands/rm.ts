import { Command } from 'commander';
import { z } from 'zod/v3';
import { normalizePath } from '../../core/paths.js';
import { AvfsError } from '../../errors.js';
import { action, examples } from '../command.js';
import { printable } from '../output.js';
import { rmJson } from '../../api/json.js';

export const rmCommand = new Command('rm')
  .summary('remove a file, symlink or directory (history keeps it)')
  .description('remove a file, symlink or empty directory (with -r, a directory and everything in it); history keeps every removed version')
  .argument('<path>', 'vault path')
  .option('-r, --recursive', 'remove a directory with its contents')
  .option('-f, --force', 'a path that does not exist is not an error (removed: 0), as with rm -f')
  .addHelpText('after', examples(['avfs rm /old.txt', 'avfs rm -r /build --json', 'avfs rm -rf /maybe-there']))
  .action(
    action({
      options: z.object({ recursive: z.boolean().optional(), force: z.boolean().optional() }),
      run: ([path], opts, ctx) => {
        const fs = ctx.vault();
        let removed: string[];
        try {
          removed = fs.rm(path!, { recursive: !!opts.recursive });
        } catch (err) {
          if (!opts.force || !(err instanceof AvfsError) || err.code !== 'NOT_FOUND') throw err;
          return { vault: fs.name, path: normalizePath(path!), removed: 0 };
        }
        return rmJson(fs.name, removed);
      },
      render: (r, out) => out.info(r.removed === 0 ? `nothing to remove at ${printable(r.path)}` : `removed ${printable(r.path)}${r.removed > 1 ? ` (${r.removed} entries)` : ''}`),
    }),
  );
