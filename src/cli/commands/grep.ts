import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { compilePattern, grep, grepJson, type PatternOptions } from '../../api/search.js';
import { MAX_LINE_CHARS, MAX_REPORTED_LINE_CHARS, type GrepMatch } from '../../store/search.js';
import { action, examples, zInt } from '../command.js';
import { printable, type Output } from '../output.js';

const VIEW = Symbol('view');

/** Lines for stdout as a command finds them, written in batches of about 64 KiB rather than one write each. */
class BatchedPrinter {
  private pending: string[] = [];
  private size = 0;

  constructor(private readonly out: Output) {}

  print(line: string): void {
    this.pending.push(line);
    this.size += line.length;
    if (this.size >= 64 * 1024) this.flush();
  }

  flush(): void {
    if (this.pending.length > 0) this.out.dataNow(this.pending.join(''));
    this.pending = [];
    this.size = 0;
  }
}

/** What the human rendering colours in a matched line; none for a fixed string too large for a RegExp (grep matched it without one). */
function highlighter(pattern: string, options: PatternOptions): RegExp | undefined {
  try {
    return compilePattern(pattern, { ...options, global: true });
  } catch {
    return undefined;
  }
}

/**
 * JSON result (`--json`):
 *   vault, pattern, path (the scope), count (matching lines; with -l, matching files), files (paths with a match, in
 *   path order), files_scanned (text files read), binary_skipped, long_lines (lines over 16 MiB
 *   characters, matched on their start), truncated (more beyond --limit), matches: [{ path, line
 *   (1-based), text (the line without its newline, cut at 4096 characters) }] in path then line order.
 *   With -l, matches is empty and files is the answer. Finding nothing is success (count 0).
 */
export const grepCommand = new Command('grep')
  .summary('search text files line by line for a pattern')
  .description('search the current text files line by line for a regular expression (or a fixed string); binary files are skipped')
  .argument('<pattern>', 'JavaScript regular expression (or, with -F, a literal string)')
  .argument('[path]', 'file or directory to search (/: the whole vault)', '/')
  .option('-i, --ignore-case', 'ignore case')
  .option('-n, --line-number', 'show line numbers (JSON output always has them)')
  .option('-l, --files-with-matches', 'list only the paths of files that match')
  .option('-F, --fixed-strings', 'the pattern is a literal string, not a regex')
  .option('-m, --max-count <n>', 'stop reading a file after n matching lines')
  .option('--limit <n>', 'stop after n matching lines in all (with -l: n files); truncated says whether there were more')
  .option('--include <glob>', 'only files whose name matches the glob (e.g. "*.ts", "*.{js,mjs}")')
  .addHelpText(
    'after',
    `
Files are streamed chunk by chunk (any size). A file is binary, and skipped, when its first
8 KiB hold a NUL byte or are not valid UTF-8. Symlinks are not followed while walking a directory.
Reported line text is cut at ${MAX_REPORTED_LINE_CHARS} characters. A line is matched whole, whatever its
length, up to ${MAX_LINE_CHARS / 1024 / 1024} MiB characters; a longer one is matched on its first ${MAX_LINE_CHARS / 1024 / 1024} MiB characters
and counted in long_lines. An invalid regex, or one too large
to compile (about 32,000 characters), fails with code INVALID_PATTERN (exit 2); a -F string may be
of any length. No match is success with count 0.
` +
      examples(['avfs grep TODO', 'avfs grep -n "fetch\\(" /src --include "*.ts"', 'avfs grep -il "api key" --json', 'avfs grep -F "a.b[0]" /notes.md']),
  )
  .action(
    action({
      options: z.object({
        ignoreCase: z.boolean().optional(),
        lineNumber: z.boolean().optional(),
        filesWithMatches: z.boolean().optional(),
        fixedStrings: z.boolean().optional(),
        maxCount: zInt(1).optional(),
        limit: zInt(1).optional(),
        include: z.string().optional(),
      }),
      run: ([pattern, path], opts, ctx) => {
        const highlight = highlighter(pattern!, { fixed: opts.fixedStrings, ignoreCase: opts.ignoreCase });
        const lineOf = (m: GrepMatch) => {
          const text = highlight ? m.text.replace(highlight, (s) => (s ? chalk.red.bold(s) : s)) : m.text;
          return `${chalk.magenta(printable(m.path))}:${opts.lineNumber ? chalk.green(String(m.line)) + ':' : ''}${text}\n`;
        };
        // On the terminal or a pipe, each match is printed as found (in batches), as grep does:
        // the lines of a grep of millions of them are never held, nor joined into one string
        // (past V8's limit of about 512 Mi characters that failed). --json collects them for its document.
        const printer = ctx.out.json || opts.filesWithMatches ? undefined : new BatchedPrinter(ctx.out);
        const r = grep(ctx.vault(), {
          pattern: pattern!,
          path: path!,
          fixed: opts.fixedStrings,
          ignoreCase: opts.ignoreCase,
          maxCount: opts.maxCount,
          limit: opts.limit,
          include: opts.include,
          filesOnly: opts.filesWithMatches,
          onMatch: printer && ((m) => printer.print(lineOf(m))),
        });
        printer?.flush();
        // For the human rendering only: symbol keys never reach the JSON document.
        return { ...grepJson(r), [VIEW]: { filesOnly: !!opts.filesWithMatches } };
      },
      render: (r, out) => {
        const view = r[VIEW];
        if (view.filesOnly) out.data(r.files.map((f) => chalk.magenta(printable(f)) + '\n').join(''));
        if (r.long_lines > 0) out.info(`${r.long_lines} line(s) longer than ${MAX_LINE_CHARS / 1024 / 1024} MiB characters were matched on their start only`);
        if (r.truncated) out.info(`stopped at --limit: more ${view.filesOnly ? 'files match' : 'lines match'} (a narrower path or --include, or a larger --limit, shows them)`);
      },
    }),
  );
