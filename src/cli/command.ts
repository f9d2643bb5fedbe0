import type { Command } from 'commander';
import { z } from 'zod/v3';
import { AvfsError } from '../errors.js';
import { CliContext, type GlobalOptions } from './context.js';
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
    const globals = cmd.optsWithGlobals() as GlobalOptions;
    const parsed = spec.options.safeParse(cmd.opts());
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new AvfsError('USAGE', `invalid option --${issue.path.join('.')}: ${issue.message}`, { option: issue.path.join('.') });
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

/** Shared zod helpers for option values that arrive from commander as strings. */
export const zInt = (min = 0) =>
  z
    .union([z.string(), z.number()])
    .transform((v) => Number(v))
    .pipe(z.number().int().min(min));

export const zMode = z
  .string()
  .regex(/^[0-7]{3,4}$/, 'expected an octal mode such as 644 or 0755')
  .transform((v) => parseInt(v, 8));
