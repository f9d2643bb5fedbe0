import { Command } from 'commander';
import { z } from 'zod/v3';
import { statSync } from 'node:fs';
import { databaseFile } from '../../store/home.js';
import { compact } from '../../store/maintenance.js';
import { action, examples } from '../command.js';
import { formatBytes } from '../output.js';

/**
 * JSON result (`--json`):
 *   before_bytes, after_bytes, freed_bytes (database file + WAL; 0 when they grew), wal_bytes_before,
 *   wal_bytes_after, free_pages_before, page_size, wal_checkpointed, audit_rows_trimmed, duration_ms.
 */
export const compactCommand = new Command('compact')
  .summary('shrink the database (WAL checkpoint, VACUUM)')
  .description('shrink the database: checkpoint and truncate the WAL, VACUUM, PRAGMA optimize')
  .addHelpText(
    'after',
    `
VACUUM rewrites the whole database: it needs free disk space about its size and makes other
writers wait while it runs. Run it after gc (or prune + gc) to return the freed space.
` + examples(['avfs gc && avfs compact', 'avfs compact --json']),
  )
  .action(
    action({
      options: z.object({}).passthrough(),
      run: (_args, _opts, ctx) => {
        ctx.refuseVaultOptionWith('compact');
        // VACUUM is one statement with no progress to report: say up front what is being rewritten.
        const { size } = statSync(databaseFile(ctx.store.home));
        if (size > 64 * 1024 * 1024 && process.stderr.isTTY) ctx.out.info(`compacting a ${formatBytes(size)} database; this rewrites all of it…`);
        return { ...compact(ctx.store, ctx.actor) };
      },
      render: (r, out) =>
        out.info(
          `database ${formatBytes(r.before_bytes)} → ${formatBytes(r.after_bytes)} (freed ${formatBytes(r.freed_bytes)}) in ${r.duration_ms} ms` +
            (r.wal_checkpointed ? '' : '; another process kept the WAL from being truncated, run again later'),
        ),
    }),
  );
