import { AvfsError } from '../../errors.js';
import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';
import { formatBytes, plural, printable } from '../output.js';
import { withProgressBar } from '../progress.js';
import { checkHostPath, refuseThroughFile, exportTree, importTree } from '../../store/transfer.js';
import { importTracked, syncTracked } from '../../store/sync.js';
import { STRATEGIES } from '../../core/merge-tree.js';
import { countsLine, renderMergeLines } from '../merge-output.js';
import { resolve } from 'node:path';

export const importCommand = new Command('import')
  .summary('copy a host file or tree into the vault')
  .description(
    'copy a host file or directory tree into the vault (modes, mtimes and symlinks kept; all or nothing). ' +
      'With --track, a host directory is imported into a new or empty vault directory and remembered, so `avfs sync <path>` can later apply the vault\'s work back to it',
  )
  .argument('<host>', 'host file or directory')
  .argument('[path]', 'vault path to create or merge into', '/')
  .option('--track', 'remember the host directory and its state, for `avfs sync`')
  .addHelpText('after', examples(['avfs import ./my-project /project', 'avfs import ./notes.md /docs/notes.md --json', 'avfs import --track ./my-project /project']))
  .action(
    action({
      options: z.object({ track: z.boolean().optional() }),
      run: ([hostInput, path], opts, ctx) => {
        const host = resolve(refuseThroughFile(checkHostPath(hostInput, 'host')));
        const fs = ctx.vault();
        const summary = withProgressBar('importing', ctx.out, (bar) => (opts.track ? importTracked(fs, host, path!, bar) : importTree(fs, host, path!, bar)));
        return { vault: fs.name, source: host, tracked: !!opts.track, ...summary };
      },
      render: (r, out) => {
        out.info(`imported ${plural(r.files, 'file')}, ${plural(r.directories, 'directory', 'directories')}, ${plural(r.symlinks, 'symlink')} (${formatBytes(r.bytes)}) into ${printable(r.path)}`);
        for (const s of r.skipped ?? []) out.warn(`left out ${printable(s.path)}: ${s.reason}`);
      },
    }),
  );

export const exportCommand = new Command('export')
  .summary('write a vault file or tree to a host directory')
  .description('write a vault file or tree to a host directory (modes, mtimes and symlinks kept, except set-user-ID and set-group-ID bits on files, which are cleared and listed in set_id_cleared: vault files come from commands avfs does not trust); existing host files are refused unless --overwrite')
  .argument('<path>', 'vault path')
  .argument('<host-dir>', 'host directory (created if missing)')
  .option('--overwrite', 'replace existing host files')
  .addHelpText('after', examples(['avfs export /project ./out', 'avfs export / ./snapshot --overwrite --json']))
  .action(
    action({
      options: z.object({ overwrite: z.boolean().optional() }),
      run: ([path, hostInput], opts, ctx) => {
        // `-` reads as stdout elsewhere; a tree has no stream form here, and a directory named `-` is a surprise.
        if (hostInput === '-') throw new AvfsError('USAGE', 'export writes to a host directory, not to stdout (`-`): name a directory (./- for one called "-"), or use `avfs cat` for one file');
        const hostDir = resolve(checkHostPath(hostInput, 'host_dir'));
        const fs = ctx.vault();
        const summary = withProgressBar('exporting', ctx.out, (bar) => exportTree(fs, path!, hostDir, !!opts.overwrite, bar));
        return { vault: fs.name, path: fs.stat(path!).path, destination: hostDir, ...summary };
      },
      render: (r, out) => {
        out.info(`exported ${plural(r.files, 'file')}, ${plural(r.directories, 'directory', 'directories')}, ${plural(r.symlinks, 'symlink')} (${formatBytes(r.bytes)}) to ${printable(r.destination)}`);
        if (r.set_id_cleared?.length) out.warn(`cleared the set-user-ID/set-group-ID bits of ${plural(r.set_id_cleared.length, 'file')}: ${r.set_id_cleared.map((p) => printable(p)).join(', ')}`);
      },
    }),
  );

export const syncCommand = new Command('sync')
  .summary('apply vault changes back to a tracked host directory')
  .description(
    'apply the vault\'s changes below a tracked directory (see import --track) to the host directory it came from, three-way: ' +
      'the base is the state at the import (then at the last sync), the host is "ours", the vault "theirs". A host file changed since is never overwritten: ' +
      'if the vault changed it too, that is a conflict, and with --strategy fail (the default) nothing is written. Host symlinks are never followed. See README "Merging"',
  )
  .argument('<path>', 'the tracked vault directory')
  .option('--strategy <name>', `how conflicts are resolved: ${STRATEGIES.join(', ')} (ours = the host)`, 'fail')
  .option('-n, --dry-run', 'report exactly what would be written, write nothing')
  .addHelpText('after', examples(['avfs import --track ./my-project /project', 'avfs sync /project --dry-run', 'avfs sync /project --json', 'avfs sync /project --strategy ours   # keep host edits where both changed']))
  .action(
    action({
      options: z.object({ strategy: z.enum(STRATEGIES as [string, ...string[]]), dryRun: z.boolean().optional() }),
      run: ([path], opts, ctx) => {
        return { ...withProgressBar('syncing', ctx.out, (bar) => syncTracked(ctx.vault(), path!, { strategy: opts.strategy as never, dryRun: !!opts.dryRun, progress: bar })) };
      },
      render: (r, out) => {
        renderMergeLines(r, out);
        if (r.status === 'up_to_date') out.info(`${printable(r.host)} already has everything from ${printable(r.path)}`);
        else if (r.dry_run) out.info(`dry run, nothing written: syncing ${printable(r.path)} to ${printable(r.host)} would ${r.status === 'conflicts' ? `stop on ${r.summary.unresolved} unresolved conflict(s)` : `apply ${countsLine(r.summary)}`}`);
        else out.info(`synced ${printable(r.path)} to ${printable(r.host)}: ${countsLine(r.summary)}`);
        if (r.skipped.length) out.warn(`left out ${r.skipped.length} special file(s) a host directory cannot hold: ${r.skipped.map((p) => printable(p)).join(', ')}`);
      },
    }),
  );
