import { Command } from 'commander';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { action, examples, zMode } from '../command.js';
import { formatBytes, printable } from '../output.js';
import { writeJson } from '../../api/json.js';
import { progressBar } from '../progress.js';

/**
 * The content piped on stdin. A stdin that is a directory or cannot be read is refused. (A stdin
 * closed when avfs started, `<&-`, reads as empty: Node puts /dev/null on fd 0, opened read-write,
 * as Python's subprocess.DEVNULL and daemons open a real empty input, so the two look the same.)
 */
async function readStdin(): Promise<Buffer> {
  // Node reads a directory on stdin (`< /`) as empty, as it would have been written.
  if (fstatSync(0).isDirectory()) throw new AvfsError('IS_A_DIRECTORY', 'stdin is a directory (use avfs import): nothing was written', { reason: 'stdin_directory' });
  const parts: Buffer[] = [];
  try {
    for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  } catch (err) {
    throw new AvfsError('INVALID_ARGUMENT', `cannot read stdin: ${(err as Error).message}`, { reason: 'stdin_unreadable', errno: (err as NodeJS.ErrnoException).code });
  }
  return Buffer.concat(parts);
}

function openHostFile(file: string): number {
  // `--from -` reads as "stdin" to most tools; here stdin is the content argument `-` or --stdin.
  if (file === '-' || file === '') throw new AvfsError('USAGE', `--from names a host file, not ${file === '' ? 'an empty path' : 'stdin'}: to read stdin, give - as the content or use --stdin`, { option: 'from' });
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AvfsError('NOT_FOUND', `no such host file: ${file}`, { file });
    if (code === 'EISDIR') throw new AvfsError('IS_A_DIRECTORY', `host path is a directory (use avfs import): ${file}`, { file });
    throw new AvfsError('INVALID_ARGUMENT', `cannot read ${file}: ${(err as Error).message}`, { file });
  }
  // Linux opens a directory for reading without complaint; the EISDIR comes at the first read,
  // deep in the store, where it could only be INTERNAL.
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new AvfsError('IS_A_DIRECTORY', `host path is a directory (use avfs import): ${file}`, { file });
  }
  return fd;
}

export const writeCommand = new Command('write')
  .summary('write a file from an argument, stdin or a host file')
  .description('write a file: content from the argument, from stdin (- or --stdin, or piped), or from a host file (--from)')
  .argument('<path>', 'vault path')
  .argument('[content]', 'the content, or - to read stdin')
  .option('--stdin', 'read the content from stdin')
  .option('--from <file>', 'read the content from a host file (streamed, any size)')
  .option('-p, --parents', 'create missing parent directories')
  .option('--mode <mode>', 'permission bits in octal, e.g. 644 or 755')
  .option('-a, --append', 'add the content at the end of the file (created when absent)')
  .addHelpText(
    'after',
    examples([
      'avfs write /notes.md "hello"',
      'echo hello | avfs write /notes.md',
      'avfs write -p /src/app.js --from ./app.js',
      "avfs write -a /log.txt $'one more line\\n'   # bash's $'…' makes \\n a newline",
      'avfs write /run.sh "#!/bin/sh" --mode 755 --json',
      'avfs write -- /flags.txt "--help"   # after --, words that look like options are content',
    ]),
  )
  .action(
    action({
      options: z.object({
        stdin: z.boolean().optional(),
        from: z.string().optional(),
        parents: z.boolean().optional(),
        mode: zMode.optional(),
        append: z.boolean().optional(),
      }),
      run: async ([path, content], opts, ctx) => {
        const sources = [content !== undefined && content !== '-', !!opts.stdin || content === '-', opts.from !== undefined].filter(Boolean).length;
        if (sources > 1) throw new AvfsError('USAGE', 'give the content one way: an argument, --stdin (or -), or --from');
        const fs = ctx.vault();
        const options = { parents: !!opts.parents, mode: opts.mode };
        const write = (data: Uint8Array | string) => (opts.append ? fs.appendFile(path!, data, options) : fs.writeFile(path!, data, options));
        let entry;
        if (opts.from !== undefined) {
          const fd = openHostFile(opts.from);
          // A large host file is streamed, with a progress bar on a terminal (bytes read of its size).
          const host = fstatSync(fd);
          const total = host.isFile() ? host.size : 0;
          const bar = progressBar('writing', !ctx.out.json && !ctx.out.quiet && !opts.append, 16 * 1024 * 1024, formatBytes);
          try {
            entry = opts.append ? write(readFileSync(fd)) : fs.writeFile(path!, { fd }, { ...options, progress: (n) => bar(Math.min(n, total), total) });
          } finally {
            bar.end();
            closeSync(fd);
          }
        } else if (content !== undefined && content !== '-') {
          entry = write(content);
        } else if (opts.stdin || content === '-' || !process.stdin.isTTY) {
          entry = write(await readStdin());
        } else {
          throw new AvfsError('USAGE', 'no content: pass it as an argument, pipe it with --stdin, or use --from <file>');
        }
        return writeJson(fs.name, entry);
      },
      render: (r, out) => out.info(`wrote ${printable(r.path)} (${r.size} bytes, v${r.version})`),
    }),
  );
