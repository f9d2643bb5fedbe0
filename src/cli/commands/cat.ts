import { Command } from 'commander';
import { z } from 'zod/v3';
import { getFileVersion, readVersion, versionChunks } from '../../store/history.js';
import { contentJson } from '../../api/json.js';
import { action, examples, zInt } from '../command.js';
import { AvfsError } from '../../errors.js';
import { isUtf8Text } from '../../core/utf8.js';

/**
 * The largest file `cat --json` puts in its document: a JavaScript string holds at most about
 * 512 M characters, which base64 of 384 MiB fills (and the document is one string). Raw `cat`
 * streams any size.
 */
export const JSON_CONTENT_MAX = 256 * 1024 * 1024;

/** The most characters a JSON document may take (V8's string limit, less room for the other fields). */
const JSON_STRING_MAX = 0x1fffffe8 - 64 * 1024;

function tooLarge(file: { path: string; size: number | null }, why: string): AvfsError {
  return new AvfsError('INVALID_ARGUMENT', `${file.path} is ${file.size} bytes, ${why}; use avfs cat without --json (raw bytes, streamed) or avfs export`, {
    path: file.path,
    size: file.size,
    reason: 'too_large',
  });
}

/** Before reading: a file over JSON_CONTENT_MAX. */
function refuseLarge(file: { path: string; size: number | null }): void {
  if ((file.size ?? 0) > JSON_CONTENT_MAX) throw tooLarge(file, `more than cat --json returns (${JSON_CONTENT_MAX})`);
}

/**
 * After reading: text whose JSON escapes would pass the string limit (a control character is
 * six characters, `\u0001`; a quote or backslash two), which base64 never does below the size cap.
 */
function refuseUnencodable(file: { path: string; size: number | null }, data: Buffer): Buffer {
  if (data.length * 6 <= JSON_STRING_MAX) return data;
  let length = data.length;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b < 0x20) length += 5;
    else if (b === 0x22 || b === 0x5c) length += 1;
  }
  if (length > JSON_STRING_MAX && isUtf8Text(data)) throw tooLarge(file, `and its text with JSON's escapes is more than a JSON document can hold`);
  return data;
}

export const catCommand = new Command('cat')
  .summary('print a file\'s bytes to stdout')
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
          return contentJson(fs.name, v, refuseUnencodable(v, readVersion(fs.store, v)));
        }
        const entry = fs.stat(path!);
        if (!ctx.out.json) {
          // Stream raw bytes chunk by chunk: a large file is never loaded whole.
          for (const chunk of fs.readChunks(path!)) process.stdout.write(chunk);
          return { path: entry.path, size: entry.size };
        }
        refuseLarge(entry);
        return contentJson(fs.name, entry, refuseUnencodable(entry, fs.readFile(path!)));
      },
      render: () => {},
    }),
  );
