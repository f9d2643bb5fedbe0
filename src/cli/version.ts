import { createRequire } from 'node:module';

/**
 * The package's version, read from package.json two directories up: from dist/cli/ and from
 * dist/cli-bundle/ (the linked CLI, scripts/bundle-cli.js) alike.
 */
export const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
