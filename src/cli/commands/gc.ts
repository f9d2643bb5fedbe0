import { Command } from 'commander';
import { z } from 'zod/v3';
import { DEFAULT_GC_GRACE_MS, gc } from '../../store/gc.js';
import { action, examples, zDuration } from '../command.js';
import { formatBytes } from '../output.js';
import { withProgressBar } from '../progress.js';

/**
 * JSON result (`--json`):
 *   dry_run, grace_ms, cutoff (ISO: content created before it was eligible), freed_blobs,
 *   freed_chunks, freed_bytes (content bytes), freed_index_entries, recent_blobs (unreferenced but
 *   within the grace period, kept), reference_tables, stale_leases (leases of streamed writes
 *   whose process had died, ended first), transactions, duration_ms.
 */
export const gcCommand = new Command('gc')
  .summary('delete stored content nothing references')
  .description('delete stored content that no file, version or checkpoint of any vault references')
  .option('-n, --dry-run', 'report what would be freed, delete nothing')
  .option('--grace <duration>', 'keep unreferenced content younger than this: 30s, 10m, 2h, 7d, or 0', '1h')
  .addHelpText(
    'after',
    `
Runs over the whole home, in short IMMEDIATE transactions, so other processes keep working.
Content a write is using is never deleted, whatever the grace (0 included): a streamed write
(write --from, import, a large file through a mount) pins what it stores until it links it, and gc
ends the pins of a writer whose process died. The grace period only keeps unreferenced content
that was stored recently. Run \`avfs compact\` afterwards to give the freed space back to the filesystem.
` + examples(['avfs gc --dry-run', 'avfs gc', 'avfs gc --grace 0 --json']),
  )
  .action(
    action({
      options: z.object({ dryRun: z.boolean().optional(), grace: zDuration.optional() }),
      run: (_args, opts, ctx) => {
        ctx.refuseVaultOptionWith('gc');
        const graceMs = opts.grace ?? DEFAULT_GC_GRACE_MS;
        return { ...withProgressBar('collecting', ctx.out, (bar) => gc(ctx.store, { graceMs, dryRun: !!opts.dryRun, actor: ctx.actor, progress: bar })) };
      },
      render: (r, out) => {
        const verb = r.dry_run ? 'would free' : 'freed';
        out.info(
          `${verb} ${formatBytes(r.freed_bytes)} (${r.freed_blobs} blobs, ${r.freed_chunks} chunks, ${r.freed_index_entries} index entries) in ${r.duration_ms} ms` +
            (r.recent_blobs ? `; kept ${r.recent_blobs} unreferenced blobs younger than the grace period` : ''),
        );
      },
    }),
  );
