import type { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../errors.js';
import { parseDuration, parseSize, parseTime, parseWholeNumber } from '../core/units.js';
import { CliContext, globalOptions } from './context.js';
import { createOutput, printJson, type Output } from './output.js';

/** A command's result: plain data, printed as the JSON document or rendered for humans. */
export type Result = Record<string, unknown>;

/** Set on a result to make the process exit with a code other than 0 (e.g. a child's exit code). */
export const EXIT_CODE = Symbol('exitCode');

export interface Action<O, R extends Result> {
  /** Validates commander's parsed options (numbers, enums, ranges); a failure is a USAGE error. */
  options: z.ZodType<O, z.ZodTypeDef, unknown>;
  run(args: string[], options: O, ctx: CliContext): R | Promise<R>;
  /** Human rendering of the result: data to `out.data`, messages to `out.info`. */
  render(result: R, out: Output): void;
}

/** Turns an Action into a commander action handler: validate → run → print. Errors go to the one sink in main. */
export function action<O, R extends Result>(spec: Action<O, R>) {
  return async (...params: unknown[]): Promise<void> => {
    const cmd = params[params.length - 1] as Command;
    const globals = globalOptions(cmd);
    const parsed = spec.options.safeParse(cmd.opts());
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      // Named as the user typed it (--kill-after, not zod's key killAfter); a repeatable option's
      // value by its position and as given (--env value 2 "A-B=1": a bare number read as the value).
      const [key, ...rest] = issue.path;
      const flag = String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const given = (cmd.opts() as Record<string, unknown>)[String(key)];
      const at = rest.length > 0 && typeof rest[0] === 'number' ? rest[0] : null;
      const which = at === null ? '' : ` value ${at + 1}${Array.isArray(given) && typeof given[at] === 'string' ? ` ${JSON.stringify(given[at])}` : ''}`;
      throw new AvfsError('USAGE', `invalid option --${flag}${which}: ${issue.message}`, { option: flag });
    }
    const out = createOutput(!!globals.json, !!globals.quiet);
    const ctx = new CliContext(globals, out);
    try {
      const result = await spec.run(cmd.processedArgs.map((a) => a as string), parsed.data, ctx);
      if (out.json) printJson(result);
      else spec.render(result, out);
      const code = (result as { [EXIT_CODE]?: number })[EXIT_CODE];
      if (code !== undefined) process.exitCode = code;
    } finally {
      ctx.close();
    }
  };
}

/** `--help` epilogue with examples, the same shape on every command. */
export function examples(lines: string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  $ ${l}`).join('\n') + '\n';
}

/**
 * An option value (a string from commander) read by `parse`, which throws on bad input: its
 * message becomes the USAGE error (README "Exit codes": a value a command line refuses is USAGE,
 * whatever the parser's own code).
 */
export const parsedWith = <T>(parse: (value: string) => T) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parse(String(v));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** An option value made a non-negative integer by `parse`. Every numeric option goes through this. */
export const parsedBy = (parse: (value: string) => number) => parsedWith(parse).pipe(z.number().int().min(0));

/** A whole-number option (`-n`, `--depth`, `--version`, milliseconds): decimal digits in [min, max]. */
export const zInt = (min = 0, max = Number.MAX_SAFE_INTEGER) => parsedBy((v) => parseWholeNumber(v, min, max));

/** A size option in bytes: `512`, `10KB`, `4KiB`, `1.5M` (units.ts parseSize). */
export const zSize = parsedBy(parseSize);

/** A length-of-time option in milliseconds: `30s`, `10m`, `2h`, `7d`, or `0` (units.ts parseDuration). */
export const zDuration = parsedBy(parseDuration);

/** A point-in-time option in epoch milliseconds: an ISO date/time, or a duration meaning "ago" (units.ts parseTime; before 1970 is negative). */
export const zTime = parsedWith((v) => parseTime(v));

export { MAX_TIMER_MS } from '../core/units.js';

export const zMode = z
  .string()
  .regex(/^[0-7]{3,4}$/, 'expected an octal mode such as 644 or 0755')
  .transform((v) => parseInt(v, 8));
