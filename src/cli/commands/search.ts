import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { action, examples, zInt } from '../command.js';
import { DEFAULT_SEARCH_LIMIT, search, searchJson } from '../../api/search.js';
import { TEXT_INDEX_MAX_BYTES } from '../../store/text-index.js';
import { formatBytes, printable } from '../output.js';

/**
 * JSON result (`--json`):
 *   vault, query (the FTS5 query that ran), path (the scope), count, truncated (more results
 *   exist beyond --limit), results: [{ path, score (bm25, higher is better), snippet (matched
 *   terms between « and »), size, mtime (ISO), hash }], best first; a content held by several
 *   paths yields one result per path.
 */
export const searchCommand = new Command('search')
  .summary('full-text search over the vault\'s text files (FTS5)')
  .description('full-text search (SQLite FTS5, ranked by bm25) over the text files of the vault, with highlighted snippets')
  .argument('<query...>', 'FTS5 query: words (all must match), "a phrase", prefix*, a OR b, a NOT b, NEAR(a b, 5); several arguments are joined with spaces')
  .option('-n, --limit <n>', `at most n results (default ${DEFAULT_SEARCH_LIMIT})`)
  .option('--path <dir>', 'only files at or below this vault path')
  .option('--literal', 'match the words as typed: FTS5 operators and punctuation lose their meaning')
  .addHelpText(
    'after',
    `
What is indexed: the current content of every text file up to ${formatBytes(TEXT_INDEX_MAX_BYTES)}.
Binary files (a NUL byte or invalid UTF-8 in the first 8 KiB) and larger files are not indexed;
use \`avfs grep\` for those. The index is updated in the same transaction as each write, so a
search sees every change as soon as the writing command returns.
Matching ignores case and diacritics ("cafe" finds "café"). Words are split at spaces and
punctuation (Unicode-aware); a run of CJK characters without spaces is one word, so use a
prefix query (東京*) to find it inside a longer run. No stemming: "run" does not find "running"
(use run*). An invalid query fails with code INVALID_QUERY (exit 2).
` +
      examples([
        'avfs search "retry budget"',
        'avfs search \'"connection reset" NOT test\' -n 5',
        'avfs search config* --path /src --json',
        'avfs search --literal "user-id: 42"',
      ]),
  )
  .action(
    action({
      options: z.object({ limit: zInt(1).optional(), path: z.string().optional(), literal: z.boolean().optional() }),
      run: (args, opts, ctx) => {
        const words = ([] as unknown[]).concat(args[0]).map(String).join(' ');
        return searchJson(search(ctx.vault(), { query: words, literal: opts.literal, limit: opts.limit, path: opts.path }));
      },
      render: (r, out) => {
        if (r.results.length === 0) return out.info('no matches');
        const lines = r.results.map((h) => {
          const snippet = h.snippet.replace(/«([^»]*)»/g, (_, m: string) => chalk.red.bold(m));
          return `${chalk.magenta(printable(h.path))} ${chalk.dim(`(${h.score})`)}\n  ${snippet}\n`;
        });
        out.data(lines.join(''));
        if (r.truncated) out.info(chalk.dim(`(first ${r.count} results; use -n for more)`));
      },
    }),
  );
