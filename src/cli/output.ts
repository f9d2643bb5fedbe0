import chalk, { supportsColor, supportsColorStderr } from 'chalk';
import { AvfsError } from '../errors.js';
import { printable } from '../core/utf8.js';
import { writeSync } from 'node:fs';

/**
 * Where output goes. With --json, stdout carries exactly one JSON document (success or error)
 * and nothing else; human text, progress and warnings go to stderr either way.
 */
export interface Output {
  json: boolean;
  quiet: boolean;
  /** Writes data meant for stdout (ignored with --json, where the document is the data). */
  data(text: string | Uint8Array): void;
  /**
   * Writes data meant for stdout before this returns: for output written while a command still
   * runs synchronously (a grep's matches as found), which process.stdout would only report a
   * closed or failed stdout for once the command yields. Either then ends the process at once,
   * as for any output (outputFailed).
   */
  dataNow(text: string): void;
  /** Writes a human message to stderr (suppressed by --quiet). */
  info(text: string): void;
  /** Writes a warning to stderr (suppressed by --quiet too: "only data and errors"). */
  warn(text: string): void;
}

/**
 * Colour is decided per stream: none with --json, --no-color or a non-empty NO_COLOR
 * (no-color.org); otherwise a stream gets colour only when it is a colour terminal (or
 * FORCE_COLOR says so). Text is coloured as stdout allows (data written there, file content
 * included, is never rewritten), and messages for stderr lose their escape codes when stderr
 * cannot show them, so `avfs write … 2>log` leaves none in log.
 */
export function decideColor(options: { json: boolean; noColorFlag: boolean }): void {
  const off = options.json || options.noColorFlag || (process.env.NO_COLOR ?? '') !== '';
  chalk.level = off || !supportsColor ? 0 : supportsColor.level;
  stderrColor = !off && supportsColorStderr !== false;
}

let stderrColor = true;
const ANSI_SGR = /\x1b\[[0-9;]*m/g;
/** Text for stderr: as is where it shows colour, else without escape codes. */
const forStderr = (text: string) => (stderrColor ? text : text.replace(ANSI_SGR, ''));

export function createOutput(json: boolean, quiet: boolean): Output {
  return {
    json,
    quiet,
    data: (text) => {
      if (!json) process.stdout.write(text);
    },
    dataNow: (text) => {
      if (!json) writeNow(text);
    },
    info: (text) => {
      if (!quiet) process.stderr.write(forStderr(text.endsWith('\n') ? text : text + '\n'));
    },
    warn: (text) => {
      if (!quiet) process.stderr.write(forStderr(chalk.yellow(`warning: ${text}`)) + '\n');
    },
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

function writeNow(text: string): void {
  const bytes = Buffer.from(text);
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(1, bytes, done);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking stdout (set so by whoever shares it) that is full: wait for the reader.
      if (code === 'EAGAIN') Atomics.wait(pause, 0, 0, 1);
      else outputFailed(process.stdout, err as NodeJS.ErrnoException);
    }
  }
}

/**
 * A write to stdout or stderr failed. A reader that stops early (`avfs --help | head`) closes the
 * pipe: that ends the output, it is not an error worth a stack trace. Any other failure to write
 * (stdout on a full disk or /dev/full) lost the output: say so in one line and exit 1, whatever
 * the command did, since nobody got its answer.
 */
export function outputFailed(stream: NodeJS.WriteStream, err: NodeJS.ErrnoException): never {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  if (stream === process.stdout) {
    process.stderr.write(`avfs: the output could not be written to stdout (${err.code ?? err.message}) and is lost; what the command did, if anything, stands\n`);
  }
  process.exit(1);
}

/**
 * Prints the one JSON document of a successful command. Written in pieces, as JSON.stringify
 * would write it whole: the document of a grep of millions of lines is longer than the longest
 * string V8 makes (about 512 Mi characters), so its top-level arrays go out element by element.
 */
export function printJson(data: object): void {
  for (const piece of jsonPieces({ ok: true, ...data })) process.stdout.write(piece);
  process.stdout.write('\n');
}

/** JSON.stringify(doc) of a plain object, as strings of about a MiB (one element of a top-level array may be longer). */
export function* jsonPieces(doc: Record<string, unknown>): Generator<string> {
  const PIECE = 1 << 20;
  let piece = '{';
  let first = true;
  for (const key of Object.keys(doc)) {
    const value = doc[key];
    const name = `${first ? '' : ','}${JSON.stringify(key)}:`;
    if (Array.isArray(value)) {
      piece += name + '[';
      for (let i = 0; i < value.length; i++) {
        piece += (i === 0 ? '' : ',') + (JSON.stringify(value[i]) ?? 'null');
        if (piece.length >= PIECE) {
          yield piece;
          piece = '';
        }
      }
      piece += ']';
    } else {
      const text = JSON.stringify(value);
      if (text === undefined) continue; // left out, as JSON.stringify leaves out undefined and functions
      piece += name + text;
    }
    first = false;
  }
  yield piece + '}';
}

/** Prints a failure: one JSON document on stdout with --json, else a message on stderr. */
export function printError(err: AvfsError, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ok: false, error: err.toJSON() }) + '\n');
  } else {
    // A message may quote names from the vault: their control characters are escaped (see printable).
    process.stderr.write(forStderr(`${chalk.red('error')} ${chalk.dim(`[${err.code}]`)} ${printable(err.message, { backslash: false })}\n`));
  }
}

export { KIND, formatMode, type EntryKind } from '../core/entry-types.js';
/** Every human printer of a path or name goes through printable (never JSON, which is exact). */
export { printable } from '../core/utf8.js';
import type { EntryJson } from '../api/json.js';
export { entryJson, type EntryJson } from '../api/json.js';

/** `1 file`, `2 files`: a count with its noun. */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[u]}`;
}

/** Renders rows as aligned columns (plain text; colour is applied per cell by the caller). */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
  // A reduce, not Math.max(...): a spread of 120,000+ rows overflows the stack (core/arrays.ts).
  const widths = rows[0]!.map((_, i) => rows.reduce((w, r) => Math.max(w, strip(r[i] ?? '').length), 0));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - strip(cell).length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n') + '\n';
}


/** An entry's name (or `name`) for a person: coloured by type, escaped as printable says. */
export function colorName(e: EntryJson, name = e.name): string {
  const shown = printable(name);
  if (e.type === 'directory') return chalk.blue.bold(shown) + '/';
  if (e.type === 'symlink') return chalk.cyan(shown) + ' -> ' + printable(e.target ?? '');
  if (parseInt(e.mode, 8) & 0o111) return chalk.green(shown);
  return shown;
}
