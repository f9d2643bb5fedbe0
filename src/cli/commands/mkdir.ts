import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples, zMode } from '../command.js';
import { printable } from '../output.js';
import { mkdirJson } from '../../api/json.js';

/**
 * JSON result (`--json`): `vault` and `entries`, the directories named, in order (each an entry:
 * path, name, type, mode, …). With one path, that entry's fields are also at the top level.
 */
export const mkdirCommand = new Command('mkdir')
  .summary('create directories (all or none)')
  .description('create directories, all or none (one transaction: if one fails, nothing is created)')
  .argument('<paths...>', 'vault paths')
  .option('-p, --parents', 'create missing parents; no error if a directory already exists')
  .option('--mode <mode>', 'permission bits in octal, e.g. 755')
  .addHelpText('after', examples(['avfs mkdir /src', 'avfs mkdir -p /src/lib/util /docs --json']))
  .action(
    action({
      options: z.object({ parents: z.boolean().optional(), mode: zMode.optional() }),
      run: (args, opts, ctx) => {
        const paths = ([] as unknown[]).concat(args[0]).map(String); // a variadic argument arrives as one array
        const fs = ctx.vault();
        return mkdirJson(fs.name, ctx.store.mutate(() => paths.map((path) => fs.mkdir(path, { parents: !!opts.parents, mode: opts.mode }))));
      },
      render: (r, out) => {
        for (const e of r.entries) out.info(`created ${printable(e.path)}/`);
      },
    }),
  );
