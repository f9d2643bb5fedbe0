#!/usr/bin/env node
// `npm run demo`: the basic workflow end to end on a fresh temporary home, through the built
// `avfs` binary exactly as a user or an agent would run it. Prints each command and its output.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'avfs.js');
const home = mkdtempSync(join(tmpdir(), 'avfs-demo-'));
const env = { ...process.env, AVFS_HOME: home, AVFS_VAULT: '' };

/** An argument as bash reads it back: bare, in single quotes, or as $'…' when it holds a newline. */
function shellQuoted(arg) {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  if (!/[\n\t\\]/.test(arg)) return `'${arg.replaceAll("'", "'\\''")}'`;
  return `$'${arg.replace(/[\\']/g, '\\$&').replaceAll('\n', '\\n').replaceAll('\t', '\\t')}'`;
}

function avfs(...args) {
  // Quoted so that each line pastes into a shell as it ran (backquotes and $ stay text).
  process.stdout.write(`\n$ avfs ${args.map(shellQuoted).join(' ')}\n`);
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
  if (r.status !== 0) {
    process.stderr.write(`demo failed: avfs ${args.join(' ')} exited with ${r.status}\n`);
    process.exit(1);
  }
  return r.stdout;
}

console.log(`avfs demo on a fresh home: ${home}`);
try {
  avfs('vault', 'create', 'project', '--use');
  avfs('mkdir', '-p', '/src/lib');
  avfs('write', '/README.md', '# Project\nAn agent keeps its work here.\n');
  avfs('write', '/src/lib/greet.js', 'export const greet = (name) => `hello ${name}`;\n');
  avfs('tree');
  avfs('vault', 'fork', 'project', 'experiment', '--use');
  avfs('write', '/src/lib/greet.js', 'export const greet = (name) => `hi ${name}!`;\n');
  avfs('vault', 'list');
  avfs('cat', '/src/lib/greet.js');
  avfs('--vault', 'project', 'cat', '/src/lib/greet.js');
  avfs('ls', '-l', '/src/lib', '--json');
  console.log('\nThe fork changed independently of its parent. Done.');
} finally {
  rmSync(home, { recursive: true, force: true });
}
