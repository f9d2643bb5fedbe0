import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { AUDIT_MAX_AGE_MS, AUDIT_MAX_ROWS, clearAudit, queryAudit } from '../../store/audit.js';
import { action, examples, zInt, zTime } from '../command.js';
import { table } from '../output.js';

const TIME_HELP = 'an ISO date/time (2024-05-01, 2024-05-01T12:00:00Z) or a duration ago: 30s, 10m, 2h, 7d';

/**
 * JSON result (`--json`):
 *   count, truncated (older rows matched too; raise --limit or narrow --since),
 *   records: [{ id, at (ISO), vault (null for home-wide operations), op, source (cli | mount |
 *   proxy | sdk | mcp), exec_id, detail (object or null) }], oldest first.
 * `audit clear`: deleted, before (ISO).
 */
const clear = new Command('clear')
  .description('delete audit rows older than a time')
  .requiredOption('--before <time>', `delete rows before this: ${TIME_HELP}`)
  .addHelpText('after', examples(['avfs audit clear --before 30d', 'avfs audit clear --before 2024-05-01 --json']))
  .action(
    action({
      options: z.object({ before: zTime }),
      run: (_args, opts, ctx) => {
        ctx.refuseVaultOptionWith('audit clear', undefined, "clears the whole home's audit");
        const before = opts.before;
        return { deleted: clearAudit(ctx.store, before, ctx.actor), before: new Date(before).toISOString() };
      },
      render: (r, out) => out.info(`deleted ${r.deleted} audit rows before ${r.before}`),
    }),
  );

export const auditCommand = new Command('audit')
  .summary('who did what, when: every mutation')
  .description('who did what, when: every mutation from the CLI, the mount, the proxy, checkpoints, gc')
  .option('--since <time>', `only rows at or after this time: ${TIME_HELP}`)
  .option('-n, --limit <n>', 'the newest n matching rows (default 100)')
  .option('--op <name>', 'only this operation (e.g. write, vault.fork), or a prefix ending in * (vault.*)')
  .option('--exec <id>', 'only rows of this proxy execution id')
  .addCommand(clear)
  .addHelpText(
    'after',
    `
Covers the whole home; the global --vault option, when given, narrows it to one vault. Rows are
printed oldest first. Retention: ${AUDIT_MAX_AGE_MS / 86_400_000} days, and at most ${AUDIT_MAX_ROWS.toLocaleString('en-US')} file changes plus as many
command rows (proxy decisions, vault, checkpoint and maintenance commands), counted apart; older
rows are dropped automatically (command rows by gc and compact); \`audit clear\` drops them sooner.
` + examples(['avfs audit --since 1h', 'avfs audit --op "vault.*" --limit 20', 'avfs audit --exec ex-mxdby896-21f0a208 --json   # a whole exec id, as proxy exec reports it', 'avfs audit clear --before 30d']),
  )
  .action(
    action({
      options: z.object({ since: zTime.optional(), limit: zInt(1).optional(), op: z.string().min(1).optional(), exec: z.string().min(1).optional() }),
      run: (_args, opts, ctx) => {
        const { records, truncated } = queryAudit(ctx.store, {
          since: opts.since,
          limit: opts.limit ?? 100,
          op: opts.op,
          execId: opts.exec,
          vault: ctx.globals.vault || undefined,
        });
        return { count: records.length, truncated, records };
      },
      render: (r, out) => {
        const rows = r.records.map((a) => [
          chalk.dim(a.at.replace('T', ' ').slice(0, 23)),
          a.source,
          a.vault ?? '-',
          a.op,
          a.exec_id ?? '',
          a.detail ? JSON.stringify(a.detail) : '',
        ]);
        out.data(table([['TIME', 'SOURCE', 'VAULT', 'OP', 'EXEC', 'DETAIL'].map((h) => chalk.dim(h)), ...rows]));
        if (r.truncated) out.info(`(showing the newest ${r.count}; use --limit or --since for more)`);
      },
    }),
  );
