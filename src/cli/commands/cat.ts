import { Command } from 'commander';
import { z } from 'zod';
import { action, examples } from '../command.js';

/** Text that survives a JSON round trip as UTF-8; anything else is sent as base64. */
function isUtf8Text(data: Buffer): boolean {
  if (data.includes(0)) return false;
  return Buffer.from(data.toString('utf8'), 'utf8').equals(data);
}

export const catCommand = new Command('cat')
  .description('print a file\'s bytes to stdout (binary-safe). With --json: content as UTF-8 text, or base64 for binary content')
  .argument('<path>', 'vault path')
  .addHelpText('after', examples(['avfs cat /notes.md', 'avfs cat /logo.png > logo.png', 'avfs cat /notes.md --json']))
  .action(
    action({
      options: z.object({}).passthrough(),
      run: ([path], _opts, ctx) => {
        const fs = ctx.vault();
        const entry = fs.stat(path!);
        if (!ctx.out.json) {
          // Stream raw bytes chunk by chunk: a large file is never loaded whole.
          for (const chunk of fs.readChunks(path!)) process.stdout.write(chunk);
          return { path: entry.path, size: entry.size };
        }
        const data = fs.readFile(path!);
        const text = isUtf8Text(data);
        return { vault: fs.name, path: entry.path, size: entry.size, hash: entry.hash, encoding: text ? 'utf8' : 'base64', content: data.toString(text ? 'utf8' : 'base64') };
      },
      render: () => {},
    }),
  );
