#!/usr/bin/env node
// Build step after tsc: links the compiled CLI (dist/cli/main.js and every module it imports, its
// JavaScript dependencies included) into a few files under dist/cli-bundle/, which bin/avfs.js
// runs. On Node 20 a CLI run is mostly the ESM loader resolving and compiling ~60 modules one by
// one; linked, `avfs ls` and `avfs proxy exec` start ~40 ms sooner (BENCHMARKS.md, store: CLI
// cold start). tsc stays the compiler and type checker: this step only links its output.
//
// - Commands stay lazy: every `import()` of a command module becomes its own chunk, so `avfs ls`
//   still loads neither the mount, the proxy nor the MCP server.
// - The native addons (better-sqlite3, fuse-native) are not linked: they load from node_modules.
// - dist/cli-bundle/ sits at the same depth as dist/cli/, so paths the code builds from
//   import.meta.url (../../package.json, ../../bin/avfs.js, ../mount/digest-worker.js) resolve to
//   the same files from either.
//
// Usage: node scripts/bundle-cli.js
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'dist', 'cli-bundle');

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: [path.join(ROOT, 'dist', 'cli', 'main.js')],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', 'fuse-native'],
  // CommonJS dependencies (commander) call require() for Node's built-ins; ESM has none to give them.
  banner: { js: "import { createRequire as avfsCreateRequire } from 'node:module'; const require = avfsCreateRequire(import.meta.url);" },
  // Error and class names stay as written (linking renames clashing top-level names otherwise).
  keepNames: true,
  // Maps name the TypeScript sources (tsc's maps are followed) without copying them in: a third of the size.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
