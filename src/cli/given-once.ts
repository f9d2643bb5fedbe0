import { InvalidArgumentError, type Command } from 'commander';

/**
 * The value of an option that names one place (`--vault`, `--home`, diff's `--vault <other>`): given
 * twice it is refused, since taking the last one silently would act on a vault the caller may not
 * have meant. A module of its own: main.ts parses the global options with it before any command's
 * modules (and the store they open) load, so `avfs --version` stays quick.
 */
export function givenOnce(value: string, previous: string | undefined): string {
  if (previous !== undefined) throw new InvalidArgumentError(`given twice (${JSON.stringify(previous)}, then ${JSON.stringify(value)}): give it once`);
  return value;
}

/**
 * Every other option that takes a value and parses it no way of its own (a repeatable one, such as
 * `--env`, collects its values with a parser): given twice it is refused too, since the last one
 * silently won (`vault merge A --into B --into main` merged into main, `write --from a --from b`
 * wrote b). The first value a parser hears about is the option's default as `previous`; one given
 * equal to that default and then given again is let through, as before.
 */
export function refuseRepeatedValues(cmd: Command): void {
  for (const option of cmd.options) {
    if (!(option.required || option.optional) || option.variadic || option.parseArg) continue;
    const fallback = option.defaultValue as unknown;
    option.argParser((value: string, previous: unknown) => (previous === undefined || previous === fallback ? value : givenOnce(value, String(previous))));
  }
  for (const sub of cmd.commands) refuseRepeatedValues(sub);
}
