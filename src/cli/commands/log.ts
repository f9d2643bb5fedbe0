import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { pathLog, vaultChanges, type VersionRecord } from '../../store/history.js';
import { action, examples, zInt } from '../command.js';
import { formatBytes, printable, table } from '../output.js';
import { versionJson, type VersionJson } from '../../api/json.js';

export { versionJson, type VersionJson };

/** "file 12 B", "directory", "symlink → x", "deleted": what a version made of the path. */
export function describeState(v: Pick<VersionJson, 'type' | 'size' | 'target'>): string {
  if (v.type === null) return chalk.red('deleted');
  if (v.type === 'file') return `file ${formatBytes(v.size ?? 0)}`;
  if (v.type === 'symlink') return `symlink → ${printable(v.target ?? '')}`;
  return 'directory';
}

const DEFAULT_LIMIT = 100;

export const logCommand = new Command('log')
  .summary('history: a path\'s versions, or the vault\'s recent changes')
  .description(
    'history, newest first: a path\'s versions (each the state the path took by that change), or with no path the vault\'s recent changes. A fork\'s history includes its parent\'s from before the fork.',
  )
  .argument('[path]', 'vault path (a deleted path too); omit for the whole vault')
  .option('-n, --limit <n>', `at most this many versions (default ${DEFAULT_LIMIT})`)
  .option('-r, --recursive', 'with a directory path: changes to it and everything below it')
  .addHelpText(
    'after',
    examples(['avfs log /notes.md', 'avfs log /notes.md -n 5 --json', 'avfs log                      # recent changes in the vault', 'avfs log /src -r -n 20']),
  )
  .action(
    action({
      options: z.object({ limit: zInt(1).optional(), recursive: z.boolean().optional() }),
      run: ([input], opts, ctx) => {
        const fs = ctx.vault();
        const limit = opts.limit ?? DEFAULT_LIMIT;
        return ctx.store.read(() => {
          const vault = fs.row();
          let path: string | null = null;
          let rows: VersionRecord[];
          let current: number | null = null;
          if (input === undefined) {
            rows = vaultChanges(ctx.store, vault, limit + 1);
          } else {
            ({ path, current, rows } = pathLog(fs, vault, input, limit + 1, opts.recursive));
          }
          const truncated = rows.length > limit;
          return {
            vault: fs.name,
            path,
            recursive: !!opts.recursive,
            current_version: opts.recursive ? null : current,
            versions: rows.slice(0, limit).map(versionJson),
            truncated,
          };
        });
      },
      render: (r, out) => {
        const showPath = r.path === null || r.recursive;
        const rows = r.versions.map((v) => [
          chalk.yellow(`v${v.version}`) + (!showPath && v.version === r.current_version ? chalk.green('*') : ''),
          chalk.dim(v.at.replace('T', ' ').slice(0, 19)),
          v.op,
          describeState(v),
          v.source + (v.exec_id ? `:${v.exec_id}` : '') + (v.vault !== r.vault || v.vault_deleted ? chalk.dim(` (${v.vault}${v.vault_deleted ? ', deleted' : ''})`) : ''),
          ...(showPath ? [printable(v.path)] : []),
        ]);
        out.data(table(rows));
        if (r.versions.length === 0) out.info('no history');
        if (r.truncated) out.info(`(showing the newest ${r.versions.length}; use -n for more)`);
      },
    }),
  );
