import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

/**
 * The import graph of src/ keeps the layer rule (ARCHITECTURE.md "Layers"): dependencies point one
 * way, and each outside package that ties avfs to one technology is imported by one layer only.
 * Every import counts: static, `export … from`, `import type`, dynamic `import()` and `require()`.
 */

/** What each top-level directory of src/ may import besides itself (errors.ts is open to all). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  store: ['core'],
  mount: ['store', 'core'],
  proxy: ['mount', 'store', 'core'],
  api: ['proxy', 'mount', 'store', 'core'],
  sdk: ['api', 'proxy', 'store', 'core'],
  mcp: ['sdk', 'api', 'store', 'core'],
  cli: ['mcp', 'sdk', 'api', 'proxy', 'mount', 'store', 'core'],
  errors: ['core'],
};

/** Packages only one layer may import (a prefix matches subpaths: `@modelcontextprotocol/sdk/types.js`). */
const OWNED_PACKAGES: Record<string, string> = {
  'better-sqlite3': 'store',
  'fuse-native': 'mount',
  execa: 'proxy',
  '@modelcontextprotocol/sdk': 'mcp',
};

/** core/ is pure: no node: module that reaches the filesystem, processes, the network or the terminal. */
const IO_MODULES = new Set(['fs', 'fs/promises', 'child_process', 'net', 'dgram', 'dns', 'dns/promises', 'http', 'https', 'http2', 'tls', 'os', 'readline', 'readline/promises', 'worker_threads', 'cluster', 'tty', 'process', 'inspector', 'v8']);

/**
 * Imports that break the rule today, each as `file -> import`. They are reported, not hidden: the
 * test fails when a new one appears, and when one listed here is gone (delete its line then).
 */
const KNOWN_VIOLATIONS = new Set([
  // The MCP tools shape results with the CLI's JSON helpers; issue 15 item 3 moves the result
  // types under the CLI and the SDK, where mcp/ can reach them.
  'mcp/tools.ts -> ../cli/output.js',
  'mcp/tools.ts -> ../cli/commands/log.js',
  'mcp/tools.ts -> ../cli/commands/checkpoint.js',
  // AVFS.mount/unmount load the mount lazily (so consumers without FUSE never load it).
  'sdk/index.ts -> ../mount/index.js',
]);

/** The layer of a path relative to src/: its top-level directory, or `errors` for src/errors.ts. */
const layerOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : file.replace(/\.[jt]s$/, ''));

/** Every rule broken by `files` (path relative to src/ → source text), as `file -> import: why`. */
export function layerViolations(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
      const say = (why: string) => out.push(`${file} -> ${spec}: ${why}`);
      if (allowed === undefined) {
        say(`src/${from} is not in the layer table (add it to ALLOWED in test/unit/layers.test.ts and to ARCHITECTURE.md "Layers")`);
        continue;
      }
      if (spec.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(file), spec));
        if (target.startsWith('..')) {
          say('imports from outside src/');
          continue;
        }
        const to = layerOf(target);
        if (to !== from && to !== 'errors' && !allowed.includes(to)) say(`${from}/ may not import ${to}/`);
      } else if (spec.startsWith('node:') || IO_MODULES.has(spec)) {
        const name = spec.replace(/^node:/, '');
        if (from === 'core' && IO_MODULES.has(name)) say(`core/ is pure and may not import ${spec}`);
      } else {
        const owner = Object.entries(OWNED_PACKAGES).find(([pkg]) => spec === pkg || spec.startsWith(pkg + '/'));
        if (owner && owner[1] !== from) say(`only ${owner[1]}/ may import ${owner[0]}`);
      }
    }
  }
  return out;
}

function sourceFiles(): Map<string, string> {
  const src = join(ROOT, 'src');
  const files = new Map<string, string>();
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(src, path).split('\\').join('/'), readFileSync(path, 'utf8'));
  }
  return files;
}

describe('layers', () => {
  it('no file in src/ imports across the layer order, and each owned package stays in its layer', () => {
    const files = sourceFiles();
    expect(files.size).toBeGreaterThan(50);
    const found = layerViolations(files);
    const key = (v: string) => v.slice(0, v.indexOf(': '));
    expect(found.filter((v) => !KNOWN_VIOLATIONS.has(key(v)))).toEqual([]);
    const stale = [...KNOWN_VIOLATIONS].filter((k) => !found.some((v) => key(v) === k));
    expect(stale, 'these known violations are gone: delete them from KNOWN_VIOLATIONS').toEqual([]);
  });

  it('catches a planted bad import of every kind', () => {
    const planted = new Map([
      ['core/bad.ts', `import { openStore } from '../store/store.js';\nimport { readFileSync } from 'node:fs';\nimport os from 'os';`],
      ['store/bad.ts', `import type { MountSession } from '../mount/session.js';\nconst f = await import('fuse-native');`],
      ['mount/bad.ts', `export { runExec } from '../proxy/run.js';\nimport { execa } from 'execa';`],
      ['proxy/bad.ts', `import { program } from '../cli/main.js';\nconst db = require('better-sqlite3');`],
      ['sdk/bad.ts', `import { thing } from '../cli/output.js';`],
      ['mcp/bad.ts', `import { runExec } from '../proxy/run.js';`],
      ['cli/bad.ts', `import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';`],
      ['newlayer/x.ts', `import { a } from '../core/paths.js';`],
      ['core/ok.ts', `import { AvfsError } from '../errors.js';\nimport { createHash } from 'node:crypto';\nimport { x } from './paths.js';`],
      ['proxy/ok.ts', `import { mountVault } from '../mount/index.js';\nimport { execa } from 'execa';\nimport { z } from 'zod/v3';`],
      ['api/ok.ts', `import { runExec } from '../proxy/run.js';`],
      ['cli/ok.ts', `import { list } from '../api/list.js';\nimport { AVFS } from '../sdk/index.js';`],
    ]);
    expect(layerViolations(planted)).toEqual([
      'core/bad.ts -> ../store/store.js: core/ may not import store/',
      'core/bad.ts -> node:fs: core/ is pure and may not import node:fs',
      'core/bad.ts -> os: core/ is pure and may not import os',
      'store/bad.ts -> ../mount/session.js: store/ may not import mount/',
      'store/bad.ts -> fuse-native: only mount/ may import fuse-native',
      'mount/bad.ts -> ../proxy/run.js: mount/ may not import proxy/',
      'mount/bad.ts -> execa: only proxy/ may import execa',
      'proxy/bad.ts -> ../cli/main.js: proxy/ may not import cli/',
      'proxy/bad.ts -> better-sqlite3: only store/ may import better-sqlite3',
      'sdk/bad.ts -> ../cli/output.js: sdk/ may not import cli/',
      'mcp/bad.ts -> ../proxy/run.js: mcp/ may not import proxy/',
      'cli/bad.ts -> @modelcontextprotocol/sdk/server/mcp.js: only mcp/ may import @modelcontextprotocol/sdk',
      'newlayer/x.ts -> ../core/paths.js: src/newlayer is not in the layer table (add it to ALLOWED in test/unit/layers.test.ts and to ARCHITECTURE.md "Layers")',
    ]);
  });
});
