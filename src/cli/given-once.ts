import { InvalidArgumentError } from 'commander';

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
