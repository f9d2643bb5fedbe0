import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';
import { printable } from '../output.js';

export const cpCommand = new Command('cp')
  .summary('copy a file, or with -r a tree (content is shared)')
  .description('copy a file, or with -r a directory tree (into <dst> when it is an existing directory, under the source\'s name). A symlink given as <src> is followed, as cp(1) does; with -r it is copied as a link. A <dst> that is a link to nothing is refused (cp(1) will not write through it). A new copy keeps the source\'s mode but for set-user-ID and set-group-ID (and a file\'s sticky bit), which a copy loses as with cp(1); a file already at <dst> is written over and keeps its own mode (less set-user-ID and set-group-ID) and its hard links, as with cp(1). Content is shared, not copied')
  .argument('<src>', 'vault path to copy')
  .argument('<dst>', 'new vault path, or an existing directory')
  .option('-r, --recursive', 'copy directories recursively')
  .addHelpText('after', examples(['avfs cp /a.txt /b.txt', 'avfs cp -r /src /src-backup --json']))
  .action(
    action({
      options: z.object({ recursive: z.boolean().optional() }),
      run: ([src, dst], opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, ...fs.cp(src!, dst!, { recursive: !!opts.recursive }) };
      },
      render: (r, out) => out.info(`copied ${printable(r.from)} → ${printable(r.to)}${r.copied > 1 ? ` (${r.copied} entries)` : ''}`),
    }),
  );
