import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { deleteMeta, getMeta, setMeta, validateMetaKey } from '../../store/annotations.js';
import { action, examples } from '../command.js';
import { printable, table } from '../output.js';

/**
 * JSON: always vault, action (list|get|set|delete), path and meta (every key → value of the path
 * after the command). Plus:
 *  - `meta <path> <key>`: key, value (null when the key is not set);
 *  - `meta <path> <key> <value>`: key, value (as set);
 *  - `--delete [key]`: deleted (the keys that existed and were removed).
 */
export const metaCommand = new Command('meta')
  .summary('read, set or delete key/value metadata on a path')
  .description('read, set or delete key/value metadata on a file or directory (follows it through mv, copied by cp, kept by forks and checkpoints)')
  .argument('<path>', 'vault path')
  .argument('[key]', "metadata key: 1-128 letters, digits, '_', '.' or '-', starting with a letter or '_'")
  .argument('[value]', 'value to set (any text up to 64 KiB)')
  .option('--delete', 'delete the key (or, without a key, all metadata of the path)')
  .addHelpText(
    'after',
    examples(['avfs meta /report.md status draft', 'avfs meta /report.md status', 'avfs meta /report.md --json', 'avfs meta /report.md status --delete', 'avfs find --meta status=draft']),
  )
  .action(
    action({
      options: z.object({ delete: z.boolean().optional() }),
      run: ([path, key, value], opts, ctx) => {
        const fs = ctx.vault();
        if (opts.delete) {
          if (value !== undefined) throw new AvfsError('USAGE', '--delete takes a key, not a value');
          return { vault: fs.name, action: 'delete' as const, ...deleteMeta(fs, path!, key) };
        }
        if (key === undefined) return { vault: fs.name, action: 'list' as const, ...getMeta(fs, path!) };
        validateMetaKey(key);
        if (value === undefined) {
          const { path: p, meta } = getMeta(fs, path!);
          return { vault: fs.name, action: 'get' as const, path: p, key, value: Object.hasOwn(meta, key) ? meta[key]! : null, meta };
        }
        return { vault: fs.name, action: 'set' as const, ...setMeta(fs, path!, key, value), key, value };
      },
      render: (r, out) => {
        switch (r.action) {
          case 'delete':
            return out.info(r.deleted.length ? `deleted ${r.deleted.map((k: string) => printable(k)).join(', ')} from ${printable(r.path)}` : `nothing to delete on ${printable(r.path)}`);
          case 'set':
            return out.info(`${printable(r.path)}: ${printable(r.key)} = ${printable(r.value)}`);
          case 'get':
            return r.value === null ? out.info(`${printable(r.path)}: ${printable(r.key)} is not set`) : out.data(r.value + '\n');
          default:
            return out.data(table(Object.entries(r.meta).map(([k, v]) => [chalk.cyan(printable(k)), printable(v)])));
        }
      },
    }),
  );
