import { Command } from 'commander';
import chalk from 'chalk';
import { z } from 'zod/v3';
import { addTags, getTags, removeTags, tagCounts } from '../../store/annotations.js';
import { action, examples } from '../command.js';
import { printable, table } from '../output.js';

const TAG_RULES = "tags: 1-128 letters, digits, '_', '.', ':', '/', '+' or '-', starting with a letter, digit or '_'";
const noOptions = z.object({}).passthrough();
const tagList = (v: unknown) => ([] as unknown[]).concat(v).map(String);

/** JSON: vault, path, tags (all its tags, sorted), added (the tags that were new). */
export const tagCommand = new Command('tag')
  .summary('add tags to a file or directory')
  .description('add tags to a file or directory (tags follow it through mv, are copied by cp, kept by forks and checkpoints)')
  .argument('<path>', 'vault path')
  .argument('<tags...>', TAG_RULES)
  .addHelpText('after', examples(['avfs tag /notes.md todo', 'avfs tag /src/app.ts needs-review area:api --json', 'avfs find --tag todo']))
  .action(
    action({
      options: noOptions,
      run: ([path, tags], _opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, ...addTags(fs, path!, tagList(tags)) };
      },
      render: (r, out) => out.info(`${printable(r.path)}: ${r.tags.map((t) => chalk.cyan(t)).join(' ') || '(no tags)'}`),
    }),
  );

/** JSON: vault, path, tags (the remaining tags), removed (the tags that were there and are gone). */
export const untagCommand = new Command('untag')
  .summary('remove tags from a file or directory')
  .description('remove tags from a file or directory (tags it does not have are ignored)')
  .argument('<path>', 'vault path')
  .argument('<tags...>', 'tags to remove')
  .addHelpText('after', examples(['avfs untag /notes.md todo', 'avfs untag /src/app.ts needs-review --json']))
  .action(
    action({
      options: noOptions,
      run: ([path, tags], _opts, ctx) => {
        const fs = ctx.vault();
        return { vault: fs.name, ...removeTags(fs, path!, tagList(tags)) };
      },
      render: (r, out) => out.info(`${printable(r.path)}: ${r.tags.map((t) => chalk.cyan(t)).join(' ') || '(no tags)'}`),
    }),
  );

/**
 * JSON with a path: vault, path, tags (sorted).
 * Without: vault, path (null), tags (every tag used in the vault, sorted), counts ({ tag: number of paths }).
 */
export const tagsCommand = new Command('tags')
  .summary('list a path\'s tags, or every tag in the vault')
  .description("list a path's tags, or every tag in the vault with how many paths carry it")
  .argument('[path]', 'vault path (default: list all tags of the vault)')
  .addHelpText('after', examples(['avfs tags', 'avfs tags /notes.md --json']))
  .action(
    action({
      options: noOptions,
      run: ([path], _opts, ctx) => {
        const fs = ctx.vault();
        if (path !== undefined) return { vault: fs.name, ...getTags(fs, path), counts: undefined };
        const counts = tagCounts(fs);
        return { vault: fs.name, path: null, tags: counts.map((c) => c.tag), counts: Object.fromEntries(counts.map((c) => [c.tag, c.count])) };
      },
      render: (r, out) => {
        if (r.counts) return out.data(table(Object.entries(r.counts).map(([t, n]) => [chalk.cyan(t), String(n)])));
        out.data(r.tags.map((t) => chalk.cyan(t) + '\n').join(''));
      },
    }),
  );
