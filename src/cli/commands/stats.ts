import { Command } from 'commander';
import { z } from 'zod/v3';
import { action, examples } from '../command.js';
import { formatBytes, table } from '../output.js';
import { homeStats, vaultStats, type HomeStats, type VaultStats } from '../../store/stats.js';

const bytes = (n: number | null) => (n === null ? '-' : `${formatBytes(n)} (${n})`);

/**
 * JSON result (`--json`), every size in bytes:
 *   scope ("vault" | "home"), vault (scope vault) | vaults, blobs, chunks, content_bytes (scope home),
 *   files, directories, symlinks, logical_bytes, stored_bytes, dedup_ratio (null when nothing is
 *   stored), distinct_contents, retained_bytes, versions, checkpoints, forks, index_bytes (null
 *   without a search index), database_bytes, file_bytes, wal_bytes, orphaned_blobs,
 *   orphaned_chunks, orphaned_bytes. Definitions: src/store/stats.ts.
 */
export const statsCommand = new Command('stats')
  .summary('space and history statistics (--all: the whole home)')
  .description('space and history statistics of the vault in use, or with --all of the whole home')
  .option('--all', 'the whole home: every vault and all stored content')
  .addHelpText(
    'after',
    `
logical = sum of current file sizes; stored = distinct content those files need (each content and
each chunk once); dedup ratio = logical / stored; retained = distinct content kept alive by the
tree plus its versions and checkpoints. Index size, database size (file + WAL) and orphaned content
(what \`gc --grace 0\` would free now) are home-wide.
` + examples(['avfs stats', 'avfs stats --vault agent-1 --json', 'avfs stats --all']),
  )
  .action(
    action({
      options: z.object({ all: z.boolean().optional() }),
      run: (_args, opts, ctx): (VaultStats | HomeStats) & Record<string, unknown> => {
        if (opts.all) ctx.refuseVaultOptionWith('--all', 'for one vault leave out --all');
        return opts.all ? { ...homeStats(ctx.store) } : { ...vaultStats(ctx.store, ctx.vaultName()) };
      },
      render: (r, out) => {
        const rows: string[][] = [];
        if (r.scope === 'vault') rows.push(['vault', r.vault]);
        else rows.push(['vaults', String(r.vaults)]);
        rows.push(
          ['files', String(r.files)],
          ['directories', String(r.directories)],
          ['symlinks', String(r.symlinks)],
          ['logical size', bytes(r.logical_bytes)],
          ['stored size', `${bytes(r.stored_bytes)}, ${r.distinct_contents} distinct contents`],
          ['dedup ratio', r.dedup_ratio === null ? '-' : `${r.dedup_ratio}×`],
          ['retained (with history)', bytes(r.retained_bytes)],
          ['versions', String(r.versions)],
          ['checkpoints', String(r.checkpoints)],
          ['forks', String(r.forks)],
        );
        if (r.scope === 'home') rows.push(['all content', `${bytes(r.content_bytes)} in ${r.blobs} blobs, ${r.chunks} chunks`]);
        rows.push(
          ['search index', bytes(r.index_bytes)],
          ['database', `${bytes(r.database_bytes)} (WAL ${formatBytes(r.wal_bytes)})`],
          ['orphaned (gc would free)', `${bytes(r.orphaned_bytes)} in ${r.orphaned_blobs} blobs, ${r.orphaned_chunks} chunks`],
        );
        out.data(table(rows));
      },
    }),
  );
