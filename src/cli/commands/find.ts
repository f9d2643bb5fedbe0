import { Command } from 'commander';
import { z } from 'zod/v3';
import { find } from '../../api/search.js';
import { action, examples, parsedWith, zInt, zSize, zTime } from '../command.js';
import { colorName, entryJson } from '../output.js';
import { givenOnce } from '../given-once.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `k=v` (key with that value) or `k` (key present). */
function parseMetaFilter(spec: string): { key: string; value?: string } {
  const eq = spec.indexOf('=');
  if (eq === 0) throw new Error(`expected key=value or key, not ${JSON.stringify(spec)}`);
  return eq === -1 ? { key: spec } : { key: spec.slice(0, eq), value: spec.slice(eq + 1) };
}

/**
 * JSON result (`--json`):
 *   vault, path (the start), count, truncated (more entries match beyond --limit),
 *   entries: [{ path, name, type (file|directory|symlink), size, mode, mtime (ISO), hash?, target?,
 *   version }] in path order (the same entry shape as `ls`).
 */
export const findCommand = new Command('find')
  .summary('find entries by name, type, size, time, tags, metadata')
  .description('find entries by name, type, size, modification time, depth, tags and metadata')
  .argument('[path]', 'directory to search below (/: the whole vault), or a file to test', '/')
  .option('--name <glob>', 'name matches the glob: * ? [a-z] [!a] {a,b} (e.g. "*.md")', givenOnce)
  .option('--iname <glob>', 'like --name, ignoring case', givenOnce)
  .option('--glob <glob>', 'vault path matches the glob, ** crossing directories (e.g. "/src/**/test_*.py"; relative globs are relative to path)', givenOnce)
  .option('--type <t>', 'f (file), d (directory) or l (symlink); the long names, as in the JSON, too', givenOnce)
  .option('--min-size <size>', 'size at least this: bytes, or 10KB (1000s), 4KiB or 4K (1024s), 1.5MiB…', givenOnce)
  .option('--max-size <size>', 'size at most this (same units)', givenOnce)
  .option('--newer <time>', 'modified after: an ISO date/time (2024-05-01, 2024-05-01T12:00Z) or a duration ago: 30s, 10m, 2h, 1d, 1w', givenOnce)
  .option('--depth <n>', 'at most n levels below path (1 = direct children)', givenOnce)
  .option('--tag <tag>', 'has this tag (repeat for several: all must be present)', collect)
  .option('--meta <key=value>', 'has metadata key=value, or just the key with --meta key (repeatable)', collect)
  .option('-n, --limit <n>', 'at most n entries', givenOnce)
  .addHelpText(
    'after',
    `
The start directory itself is not listed; entries come in path order. A symlink is matched as
itself (its target is not followed).
` +
      examples([
        'avfs find --name "*.md"',
        'avfs find /src --type f --min-size 10KB --newer 2h',
        'avfs find --tag todo --meta owner=alice --json',
        'avfs find --glob "/src/**/*.test.ts" -n 50',
      ]),
  )
  .action(
    action({
      options: z.object({
        name: z.string().optional(),
        iname: z.string().optional(),
        glob: z.string().optional(),
        // The short letters of find(1), or the names entries carry in the JSON (and MCP's find takes).
        type: z
          .enum(['f', 'd', 'l', 'file', 'directory', 'symlink'])
          .transform((t) => (t.length === 1 ? t : t[0]) as 'f' | 'd' | 'l')
          .optional(),
        minSize: zSize.optional(),
        maxSize: zSize.optional(),
        newer: zTime.optional(),
        depth: zInt(0).optional(),
        tag: z.array(z.string()).optional(),
        meta: z.array(parsedWith(parseMetaFilter)).optional(),
        limit: zInt(1).optional(),
      }),
      run: ([path], opts, ctx) => {
        const r = find(ctx.vault(), {
          path: path!,
          name: opts.name,
          iname: opts.iname,
          glob: opts.glob,
          type: opts.type,
          minSize: opts.minSize,
          maxSize: opts.maxSize,
          newerThan: opts.newer,
          maxDepth: opts.depth,
          tags: opts.tag,
          meta: opts.meta,
          limit: opts.limit,
        });
        return { vault: r.vault, path: r.path, count: r.count, truncated: r.truncated, entries: r.entries.map(entryJson) };
      },
      render: (r, out) => {
        out.data(r.entries.map((e) => colorName(e, e.path) + '\n').join(''));
        if (r.truncated) out.info(`(first ${r.count} entries; raise -n for more)`);
      },
    }),
  );
