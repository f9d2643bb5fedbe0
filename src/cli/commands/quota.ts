import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { clearQuota, quotaReport, setQuota, type QuotaLimits, type QuotaReport } from '../../store/quota.js';
import { getVault } from '../../store/vaults.js';
import { action, examples, zInt, zSize } from '../command.js';
import { formatBytes, table } from '../output.js';

/**
 * JSON result (`--json`), for `quota`, `quota set` and `quota clear` alike:
 *   vault, quota: { max_bytes, max_files, max_file_size } (null = unlimited),
 *   usage: { bytes, entries, largest_file }, exceeded: [limit names the vault is already over].
 */
/** A limit option: `none`/`unlimited` (null), else a value `value` reads (a size or a count). */
const limitOption = (value: typeof zSize) => z.union([z.string().regex(/^(none|unlimited)$/i).transform(() => null), value]);

function render(r: QuotaReport, out: { data(text: string): void; warn(text: string): void }): void {
  const show = (max: number | null, used: number, fmt: (n: number) => string) =>
    `${fmt(used)} of ${max === null ? chalk.dim('unlimited') : fmt(max)}`;
  out.data(
    table([
      ['vault', r.vault],
      ['bytes', show(r.quota.max_bytes, r.usage.bytes, formatBytes)],
      ['entries', show(r.quota.max_files, r.usage.entries, String)],
      ['largest file', show(r.quota.max_file_size, r.usage.largest_file, formatBytes)],
    ]),
  );
  if (r.exceeded.length) out.warn(`vault ${r.vault} is over ${r.exceeded.join(', ')}: changes that grow it are refused until usage drops`);
}

const HELP = `
Sizes: bytes, or with a unit: KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB and K/M/G/T are
powers of 1024 (10MB = 10,000,000; 1GiB = 1,073,741,824). max-files counts entries: files,
directories and symlinks. "none" removes one limit. A limit below current usage is accepted:
nothing is deleted, and changes that would grow the vault past it fail with QUOTA_EXCEEDED (exit 6)
until usage is back under it. Forks start with their parent's quota.
`;

const set = new Command('set')
  .summary('set limits for the vault in use')
  .description('set limits for the vault in use (only the limits given change)')
  .option('--max-bytes <size>', 'total size of all files')
  .option('--max-files <n>', 'number of entries (files, directories, symlinks)')
  .option('--max-file-size <size>', 'size of any one file')
  .addHelpText('after', HELP + examples(['avfs quota set --max-bytes 1GiB --max-files 100000', 'avfs quota set --max-file-size 10MB --json', 'avfs quota set --max-files none']))
  .action(
    action({
      options: z.object({ maxBytes: limitOption(zSize).optional(), maxFiles: limitOption(zInt()).optional(), maxFileSize: limitOption(zSize).optional() }),
      run: (_args, opts, ctx) => {
        const limits: Partial<QuotaLimits> = {};
        if (opts.maxBytes !== undefined) limits.max_bytes = opts.maxBytes;
        if (opts.maxFiles !== undefined) limits.max_files = opts.maxFiles;
        if (opts.maxFileSize !== undefined) limits.max_file_size = opts.maxFileSize;
        if (Object.keys(limits).length === 0) throw new AvfsError('USAGE', 'give at least one of --max-bytes, --max-files, --max-file-size');
        return { ...setQuota(ctx.store, ctx.vaultName(), limits, ctx.actor) };
      },
      render: (r, out) => render(r, out),
    }),
  );

const clear = new Command('clear')
  .description('remove every limit of the vault in use')
  .addHelpText('after', examples(['avfs quota clear', 'avfs quota clear --vault agent-1 --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: (_args, _opts, ctx) => ({ ...clearQuota(ctx.store, ctx.vaultName(), ctx.actor) }),
      render: (r, out) => render(r, out),
    }),
  );

export const quotaCommand = new Command('quota')
  .summary('show, set or clear the vault\'s limits')
  .description("show the vault's quota and current usage; set or clear limits")
  .addCommand(set)
  .addCommand(clear)
  .addHelpText('after', HELP + examples(['avfs quota', 'avfs quota set --max-bytes 10MB', 'avfs quota clear', 'avfs quota --vault agent-1 --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: (_args, _opts, ctx) => ({ ...quotaReport(ctx.store, getVault(ctx.store, ctx.vaultName())) }),
      render: (r, out) => render(r, out),
    }),
  );
