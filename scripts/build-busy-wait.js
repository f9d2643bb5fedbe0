#!/usr/bin/env node
// postinstall: compiles native/busy-wait.c, the SQLite extension holding the busy handler avfs
// waits for the write lock in, into build/avfs-busy-wait.so, against the SQLite headers that
// better-sqlite3 ships (the extension runs inside its SQLite; no library is linked).
//
// Without it everything works and SQLite's own busy handler waits, which many concurrent writer
// processes wait longer in (ARCHITECTURE.md, "Concurrent writers"), so a problem here never fails
// `npm install`: it prints a warning to stderr and exits 0. With AVFS_REQUIRE_BUSY_WAIT=1 (CI)
// any problem exits 1.
//
// Usage: node scripts/build-busy-wait.js        (CC names the compiler; cc by default)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = path.join(ROOT, 'native', 'busy-wait.c');
// src/store/db.ts loads it from here (build/ beside dist/).
const OUTPUT = path.join(ROOT, 'build', 'avfs-busy-wait.so');
const STRICT = process.env.AVFS_REQUIRE_BUSY_WAIT === '1';

function giveUp(msg) {
  console.error(`avfs: WARNING: ${msg}`);
  console.error('avfs: WARNING: concurrent writers wait in SQLite\'s own busy handler until this is fixed; everything works. Then run: node scripts/build-busy-wait.js');
  process.exit(STRICT ? 1 : 0);
}

let headers;
try {
  headers = path.join(path.dirname(createRequire(path.join(ROOT, 'package.json')).resolve('better-sqlite3/package.json')), 'deps', 'sqlite3');
} catch {
  giveUp('better-sqlite3 is not installed');
}
if (!fs.existsSync(path.join(headers, 'sqlite3ext.h'))) giveUp(`no sqlite3ext.h in ${headers}`);

fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
// Compiled beside the output and renamed over it: a process loading the old file never sees half of one.
const partial = `${OUTPUT}.${process.pid}.tmp`;
const shared = process.platform === 'darwin' ? ['-dynamiclib', '-undefined', 'dynamic_lookup'] : ['-shared'];
const cc = process.env.CC || 'cc';
const run = spawnSync(cc, ['-O2', '-fPIC', ...shared, '-I', headers, SOURCE, '-o', partial], { encoding: 'utf8' });
if (run.error || run.status !== 0) {
  fs.rmSync(partial, { force: true });
  giveUp(`could not compile ${path.relative(ROOT, SOURCE)} with ${cc}: ${run.error?.message ?? run.stderr.trim()}`);
}
fs.renameSync(partial, OUTPUT);
console.error(`avfs: built ${path.relative(ROOT, OUTPUT)}`);
