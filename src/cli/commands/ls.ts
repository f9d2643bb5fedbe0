import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';
import { colorName, entryJson, table } from '../output.js';

export const lsCommand = new Command('ls')
  .description('list a directory (or show a file)')
  .argument('[path]', 'vault path', '/')
  .option('-l, --long', 'long format: type, mode, size, modification time')
  .option('-a, --all', 'include names starting with "."')
  .addHelpText('after', examples(['avfs ls', 'avfs ls /src -l', 'avfs ls -a --json']))
  .action(
    action({
      options: z.object({ long: z.boolean().optional(), all: z.boolean().optional() }),
      run: ([path], opts, ctx) => {
        const fs = ctx.vault();
        const target = fs.stat(path!);
        const entries = fs.list(path!).map(entryJson);
        const shown = target.type === 'd' && !opts.all ? entries.filter((e) => !e.name.startsWith('.')) : entries;
        return { vault: fs.name, path: target.path, entries: shown, long: !!opts.long };
      },
      render: (r, out) => {
        if (!r.long) return out.data(r.entries.map((e) => colorName(e) + '\n').join(''));
        const kind = { file: '-', directory: 'd', symlink: 'l', fifo: 'p', socket: 's', char_device: 'c', block_device: 'b' } as const;
        const rows = r.entries.map((e) => [kind[e.type], e.mode, String(e.size), chalk.dim(e.mtime.replace('T', ' ').slice(0, 19)), colorName(e)]);
        out.data(table(rows));
      },
    }),
  );
