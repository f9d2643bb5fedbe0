import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';
import { printable } from '../output.js';

export const mvCommand = new Command('mv')
  .summary('move or rename a file or directory')
  .description('move or rename a file or a whole directory (into <dst> when it is an existing directory); replaces an existing file')
  .argument('<src>', 'vault path to move')
  .argument('<dst>', 'new vault path, or an existing directory')
  .addHelpText('after', examples(['avfs mv /draft.md /final.md', 'avfs mv /src /lib/src --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: ([src, dst], _opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, ...fs.mv(src!, dst!) };
      },
      render: (r, out) => out.info(`moved ${printable(r.from)} → ${printable(r.to)}${r.moved > 1 ? ` (${r.moved} entries)` : ''}`),
    }),
  );
