import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples, zMode } from '../command.js';
import { entryJson } from '../output.js';

export const mkdirCommand = new Command('mkdir')
  .description('create a directory')
  .argument('<path>', 'vault path')
  .option('-p, --parents', 'create missing parents; no error if it already exists')
  .option('--mode <mode>', 'permission bits in octal, e.g. 755')
  .addHelpText('after', examples(['avfs mkdir /src', 'avfs mkdir -p /src/lib/util --json']))
  .action(
    action({
      options: z.object({ parents: z.boolean().optional(), mode: zMode.optional() }),
      run: ([path], opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, ...entryJson(fs.mkdir(path!, { parents: !!opts.parents, mode: opts.mode })) };
      },
      render: (r, out) => out.info(`created ${r.path}/`),
    }),
  );
