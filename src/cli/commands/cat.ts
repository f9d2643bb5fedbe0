import { Command } from 'commander';
import { z } from 'zod/v3';
import { getFileVersion, readVersion, versionChunks } from '../../store/history.js';
import { contentJson } from '../../api/json.js';
import { action, examples, zInt } from '../command.js';
import { AvfsError } from '../../errors.js';

/**
 * The largest file `cat --json` puts in its document: a JavaScript string holds at most about
 * 512 M characters, which base64 of 384 MiB fills (and the document is one string). Raw `cat`
 * streams any size.
 */
export const JSON_CONTENT_MAX = 256 * 1024 * 1024;

function refuseLarge(file: { path: string; size: number | null }): void {
  if ((file.size ?? 0) <= JSON_CONTENT_MAX) return;
  throw new AvfsError('INVALID_ARGUMENT', `${file.path} is ${file.size} bytes, more than cat --json returns (${JSON_CONTENT_MAX}); use avfs cat without --json (raw bytes, streamed) or avfs export`, {
    path: file.path,
    size: file.size,
    reason: 'too_large',
  });
}

export const catCommand = new Command('cat')
  .description('print a file\'s bytes to stdout (binary-safe). With --json: content as UTF-8 text, or base64 for binary content')
  .argument('<path>', 'vault path')
  .option('--version <n>', 'print version N of the file instead (see avfs log <path>); works for deleted files too')
  .addHelpText('after', examples(['avfs cat /notes.md', 'avfs cat /logo.png > logo.png', 'avfs cat /notes.md --json', 'avfs cat /notes.md --version 2']))
  .action(
    action({
      options: z.object({ version: zInt(1).optional() }),
      run: ([path], opts, ctx) => {
        const fs = ctx.vault();
        if (opts.version !== undefined) {
          const v = getFileVersion(fs, path!, opts.version);
          if (!ctx.out.json) {
            for (const chunk of versionChunks(fs.store, v)) process.stdout.write(chunk);
            return { path: v.path, size: v.size, version: v.version };
          }
          refuseLarge(v);
          return contentJson(fs.name, v, readVersion(fs.store, v));
        }
        const entry = fs.stat(path!);
        if (!ctx.out.json) {
          // Stream raw bytes chunk by chunk: a large file is never loaded whole.
          for (const chunk of fs.readChunks(path!)) process.stdout.write(chunk);
          return { path: entry.path, size: entry.size };
        }
        refuseLarge(entry);
        return contentJson(fs.name, entry, fs.readFile(path!));
      },
      render: () => {},
    }),
  );
