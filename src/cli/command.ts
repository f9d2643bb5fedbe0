import type { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../errors.js';
import { parseWholeNumber } from '../core/units.js';
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
      // value by its position (--env value 2).
      const [key, ...rest] = issue.path;
      const flag = String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const which = rest.length > 0 && typeof rest[0] === 'number' ? ` value ${rest[0] + 1}` : '';
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
 * An option value (a string from commander) made a non-negative integer by `parse`, which throws
 * on bad input; its message becomes the USAGE error. Every numeric option goes through this.
 */
export const parsedBy = (parse: (value: string) => number) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      try {
        return parse(String(v));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .pipe(z.number().int().min(0));

/** A whole-number option (`-n`, `--depth`, `--version`, milliseconds): decimal digits in [min, max]. */
export const zInt = (min = 0, max = Number.MAX_SAFE_INTEGER) => parsedBy((v) => parseWholeNumber(v, min, max));

export { MAX_TIMER_MS } from '../core/units.js';

export const zMode = z
  .string()
  .regex(/^[0-7]{3,4}$/, 'expected an octal mode such as 644 or 0755')
  .transform((v) => parseInt(v, 8));
