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
 * wrote b). Given twice is told by where the value it replaces came from: the command line, not
 * the option's default (`gc --grace 1h --grace 0`, whose first value is the default, ran with 0).
 */
export function refuseRepeatedValues(cmd: Command): void {
  for (const option of cmd.options) {
    if (!(option.required || option.optional) || option.variadic || option.parseArg) continue;
    const name = option.attributeName();
    option.argParser((value: string, previous: unknown) => (cmd.getOptionValueSource(name) === 'cli' ? givenOnce(value, String(previous)) : value));
  }
  for (const sub of cmd.commands) refuseRepeatedValues(sub);
}
