import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';
import { formatBytes } from '../output.js';
import { progressBar } from '../progress.js';
import { exportTree, importTree } from '../../store/transfer.js';
import { resolve } from 'node:path';

export const importCommand = new Command('import')
  .description('copy a host file or directory tree into the vault (modes, mtimes and symlinks kept; all or nothing)')
  .argument('<host>', 'host file or directory')
  .argument('[path]', 'vault path to create or merge into', '/')
  .addHelpText('after', examples(['avfs import ./my-project /project', 'avfs import ./notes.md /docs --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: ([host, path], _opts, ctx) => {
        const fs = ctx.vault();
        const bar = progressBar('importing', !ctx.out.json && !ctx.out.quiet);
        const summary = importTree(fs, resolve(host!), path!, bar);
        bar.end();
        return { vault: fs.name, source: resolve(host!), path: path!, ...summary };
      },
      render: (r, out) => out.info(`imported ${r.files} files, ${r.directories} directories, ${r.symlinks} symlinks (${formatBytes(r.bytes)}) into ${r.path}`),
    }),
  );

export const exportCommand = new Command('export')
  .description('write a vault file or tree to a host directory (modes, mtimes and symlinks kept); existing host files are refused unless --overwrite')
  .argument('<path>', 'vault path')
  .argument('<host-dir>', 'host directory (created if missing)')
  .option('--overwrite', 'replace existing host files')
  .addHelpText('after', examples(['avfs export /project ./out', 'avfs export / ./snapshot --overwrite --json']))
  .action(
    action({
      options: z.object({ overwrite: z.boolean().optional() }),
      run: ([path, hostDir], opts, ctx) => {
        const fs = ctx.vault();
        const bar = progressBar('exporting', !ctx.out.json && !ctx.out.quiet);
        const summary = exportTree(fs, path!, resolve(hostDir!), !!opts.overwrite, bar);
        bar.end();
        return { vault: fs.name, path: fs.stat(path!).path, destination: resolve(hostDir!), ...summary };
      },
      render: (r, out) => out.info(`exported ${r.files} files, ${r.directories} directories, ${r.symlinks} symlinks (${formatBytes(r.bytes)}) to ${r.destination}`),
    }),
  );
