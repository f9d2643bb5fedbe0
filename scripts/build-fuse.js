#!/usr/bin/env node
// postinstall: applies patches/fuse-native+2.2.6.patch (the utimens fix, DESIGN.md §4.1, and
// keep-cache: open may ask the kernel to keep a file's page cache; caller-context: JS may read the
// uid, gid and pid of the request being served, so new entries belong to their creator; nullpath: an open file
// whose directory was removed keeps working; link-inval: a link refreshes the attributes the kernel
// cached for the file's other names; inval-ino: JS may do the same for any inode; direct-append:
// open may ask for direct I/O; lookup-utf8: a lookup of a name that is not UTF-8 finds nothing;
// single-close: the device is closed once; fstat-fh: an fstat of an open file whose path libfuse
// lost reaches JS with its handle; stale-node: an open or readlink of a file that a rename
// just replaced is retried by the kernel under the name's new file, not failed ENOENT)
// to the installed fuse-native
// and rebuilds its addon from source with node-gyp, offline: against npm's nodedir or the Node headers installed beside this node, and the libfuse that
// fuse-shared-library-linux ships (no -dev package). node-gyp-build then loads
// build/Release/fuse.node in preference to the unpatched prebuild.
//
// Everything except mounting works without FUSE, so a problem here never fails `npm install`:
// it prints a warning to stderr and exits 0. With AVFS_REQUIRE_FUSE=1 (CI) any problem exits 1,
// so a broken install cannot pass green.
//
// Usage: node scripts/build-fuse.js [--force]   (--force rebuilds even when up to date)

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PATCH_FILE = path.join(ROOT, 'patches', 'fuse-native+2.2.6.patch');
const PATCH_NAME = path.relative(ROOT, PATCH_FILE);
const EXPECTED_VERSION = '2.2.6';
// Each fix the patch makes carries a marker comment; all present means "already patched". An
// install patched by an earlier version of the patch (fewer fixes) gets only the missing hunks.
// Fixes added later come as layers: a line `# layer: <marker>` in the patch starts hunks written
// against the source with every hunk above applied (a diff from pristine would merge them with
// the earlier hunks they touch, which an older install cannot match). A layer is applied when its
// marker is missing, the hunks above the first layer when any of their markers is.
const MARKERS = ['avfs-utimens-fix', 'avfs-keep-cache', 'avfs-caller-context', 'avfs-nullpath', 'avfs-link-inval', 'avfs-inval-ino', 'avfs-direct-append', 'avfs-lookup-utf8', 'avfs-single-close', 'avfs-fstat-fh', 'avfs-stale-node'];
// Written beside the built addon; the mount code checks it to know the fix is loaded.
const STAMP_NAME = 'avfs-fuse-build.json';
const STRICT = process.env.AVFS_REQUIRE_FUSE === '1';
const FORCE = process.argv.includes('--force');

function log(msg) {
  console.error(`avfs: ${msg}`);
}

// Every problem ends here: a warning, then exit 0 (exit 1 under AVFS_REQUIRE_FUSE=1).
function giveUp(msg) {
  console.error(`avfs: WARNING: ${msg}`);
  console.error('avfs: WARNING: `avfs mount` and mount-mode `proxy exec` are unavailable or ' +
    'unreliable until this is fixed; everything else works. Then run: node scripts/build-fuse.js');
  process.exit(STRICT ? 1 : 0);
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

function findFuseNative() {
  const req = createRequire(path.join(ROOT, 'package.json'));
  try {
    return path.dirname(req.resolve('fuse-native/package.json'));
  } catch {
    return null;
  }
}

// --- patch -----------------------------------------------------------------------------------

// Parses a unified diff (git / patch-package format) into [{ file, hunks }], file relative to
// the fuse-native package directory (which need not be <root>/node_modules/fuse-native when
// avfs is itself installed as a dependency and fuse-native is hoisted).
function parsePatch(text) {
  const lines = text.split('\n');
  const files = [];
  let current = null;
  let layer = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const layerLine = /^# layer: (\S+)/.exec(line);
    if (layerLine) {
      layer = layerLine[1];
      continue;
    }
    if (line.startsWith('+++ ')) {
      const target = line.slice(4).replace(/\t.*$/, '').trim();
      const m = /(?:^|\/)node_modules\/fuse-native\/(.+)$/.exec(target);
      if (!m) throw new Error(`patch names a file outside node_modules/fuse-native: ${target}`);
      current = { file: m[1], hunks: [] };
      files.push(current);
      continue;
    }
    const h = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (!h) continue;
    if (!current) throw new Error(`hunk before any file header at patch line ${i + 1}`);
    const oldCount = h[2] === undefined ? 1 : Number(h[2]);
    const newCount = h[4] === undefined ? 1 : Number(h[4]);
    const hunk = { oldStart: Number(h[1]), oldLines: [], newLines: [], layer };
    let seenOld = 0;
    let seenNew = 0;
    while (seenOld < oldCount || seenNew < newCount) {
      const body = lines[++i];
      if (body === undefined) throw new Error(`truncated hunk at patch line ${i}`);
      if (body.startsWith('\\')) continue; // "\ No newline at end of file"
      const content = body.slice(1);
      if (body === '' || body[0] === ' ') {
        hunk.oldLines.push(content);
        hunk.newLines.push(content);
        seenOld++;
        seenNew++;
      } else if (body[0] === '-') {
        hunk.oldLines.push(content);
        seenOld++;
      } else if (body[0] === '+') {
        hunk.newLines.push(content);
        seenNew++;
      } else {
        throw new Error(`bad hunk line ${i + 1}: ${JSON.stringify(body)}`);
      }
    }
    current.hunks.push(hunk);
  }
  if (!files.length) throw new Error('patch contains no file');
  return files;
}

function matchesAt(lines, block, at) {
  if (at < 0 || at + block.length > lines.length) return false;
  for (let j = 0; j < block.length; j++) if (lines[at + j] !== block[j]) return false;
  return true;
}

// Where `block` occurs, searching outward from line `want` (a hunk may have moved); -1 if nowhere.
function findBlock(lines, block, want) {
  for (let d = 0; d <= lines.length; d++) {
    if (matchesAt(lines, block, want - d)) return want - d;
    if (matchesAt(lines, block, want + d)) return want + d;
  }
  return -1;
}

// Exact context, no fuzz. A hunk whose result is already there (applied by an earlier version
// of the patch) is skipped, so patching is idempotent hunk by hunk.
function applyHunks(text, hunks, file) {
  const lines = text.split('\n');
  let delta = 0;
  for (const [n, hunk] of hunks.entries()) {
    const want = hunk.oldStart - 1 + delta;
    delta += hunk.newLines.length - hunk.oldLines.length;
    if (findBlock(lines, hunk.newLines, want) >= 0) continue;
    const at = findBlock(lines, hunk.oldLines, want);
    if (at < 0) throw new Error(`hunk ${n + 1} of ${file} does not match the installed source`);
    lines.splice(at, hunk.oldLines.length, ...hunk.newLines);
  }
  return lines.join('\n');
}

// Returns 'patched' or 'already'; throws with the reason. Every file is patched in memory
// before any is written, and each is replaced by rename, so a failure leaves the package as
// it was.
function applyPatch(pkgDir) {
  const files = parsePatch(fs.readFileSync(PATCH_FILE, 'utf8'));
  const sources = files.map(({ file }) => fs.readFileSync(path.join(pkgDir, file), 'utf8'));
  const complete = (s) => MARKERS.every((m) => s.includes(m));
  if (sources.every(complete)) return 'already';
  const layers = new Set(files.flatMap(({ hunks }) => hunks.map((h) => h.layer)).filter(Boolean));
  const base = MARKERS.filter((m) => !layers.has(m));
  const applied = (layer, s) => (layer === null ? base.every((m) => s.includes(m)) : s.includes(layer));
  const results = files.map(({ file, hunks }, i) => applyHunks(sources[i], hunks.filter((h) => !applied(h.layer, sources[i])), file));
  if (!results.every(complete)) {
    throw new Error(`the patch does not add every marker (${MARKERS.join(', ')}) to every file`);
  }
  files.forEach(({ file }, i) => {
    const dest = path.join(pkgDir, file);
    const tmp = `${dest}.avfs-tmp-${process.pid}`;
    fs.writeFileSync(tmp, results[i], { mode: fs.statSync(dest).mode });
    fs.renameSync(tmp, dest);
  });
  return 'patched';
}

// --- build -----------------------------------------------------------------------------------

// The node-gyp npm bundles: npm sets npm_config_node_gyp for lifecycle scripts.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  try {
    return createRequire(path.join(ROOT, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

// Local headers so node-gyp never downloads: npm's nodedir if configured, else the headers
// installed beside this node (<prefix>/include/node, as Debian's nodejs and the official
// tarballs lay them out).
function findNodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return null;
}

function stampPath(pkgDir) {
  return path.join(pkgDir, 'build', 'Release', STAMP_NAME);
}

function upToDate(pkgDir, sourceSha) {
  try {
    const stamp = JSON.parse(fs.readFileSync(stampPath(pkgDir), 'utf8'));
    return stamp.sourceSha256 === sourceSha &&
      fs.existsSync(path.join(pkgDir, 'build', 'Release', 'fuse.node'));
  } catch {
    return false;
  }
}

// Returns the build time in seconds; throws with node-gyp's last lines on failure.
function rebuild(pkgDir) {
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) throw new Error("node-gyp not found (npm_config_node_gyp unset, npm's bundled copy missing)");
  const args = [nodeGyp, 'rebuild', '--release'];
  const nodeDir = findNodeDir();
  if (nodeDir) args.push(`--nodedir=${nodeDir}`);
  const started = process.hrtime.bigint();
  const res = spawnSync(process.execPath, args, {
    cwd: pkgDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // binding.gyp runs `node -e "require(...)"`: make that this node.
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` },
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (res.error || res.status !== 0) {
    const tail = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`node-gyp rebuild failed (${res.error ? res.error.message : `exit ${res.status}`}) ` +
      `after ${seconds.toFixed(1)} s. It needs python3, make and a C compiler ` +
      `(apt-get install -y python3 make g++)${nodeDir ? '' : ' and local Node headers (npm config nodedir)'}:\n${tail}`);
  }
  return seconds;
}

// The file node-gyp-build will load for fuse-native (build/Release wins over prebuilds/).
function resolvedBinary(pkgDir) {
  return createRequire(path.join(pkgDir, 'package.json'))('node-gyp-build').path(pkgDir);
}

// Loads fuse-native in a child process, so a missing libfuse.so.2 is reported, not fatal.
function loadError(pkgDir) {
  const res = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(pkgDir)})`], { encoding: 'utf8' });
  if (res.status === 0) return null;
  return `${res.stderr ?? ''}`.split('\n').find((l) => /Error/.test(l)) ?? `exit ${res.status}`;
}

// --- main ------------------------------------------------------------------------------------

function main() {
  const pkgDir = findFuseNative();
  if (!pkgDir) {
    if (STRICT) giveUp('fuse-native is not installed');
    return;
  }
  const { version } = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  if (version !== EXPECTED_VERSION) {
    giveUp(`fuse-native ${version} is installed but ${PATCH_NAME} is for ${EXPECTED_VERSION}; ` +
      `not patching. Pin "fuse-native": "${EXPECTED_VERSION}".`);
  }

  let state;
  try {
    state = applyPatch(pkgDir);
  } catch (err) {
    giveUp(`could not apply ${PATCH_NAME} to ${pkgDir}: ${err.message}. ` +
      'fuse-native is left unpatched (utimens loses mtime).');
  }

  const sourceSha = sha256(fs.readFileSync(path.join(pkgDir, 'fuse-native.c')));
  if (!FORCE && upToDate(pkgDir, sourceSha)) {
    log(`fuse-native already patched and built (${pkgDir})`);
  } else {
    let seconds;
    try {
      seconds = rebuild(pkgDir);
    } catch (err) {
      giveUp(`${err.message}\nfuse-native falls back to its unpatched prebuild (utimens loses mtime).`);
    }
    const built = path.join(pkgDir, 'build', 'Release', 'fuse.node');
    if (!fs.existsSync(built)) giveUp(`node-gyp reported success but ${built} is missing`);
    fs.writeFileSync(stampPath(pkgDir), `${JSON.stringify({
      patch: path.basename(PATCH_FILE),
      sourceSha256: sourceSha,
      node: process.version,
      builtAt: new Date().toISOString(),
      seconds: Math.round(seconds * 10) / 10,
    }, null, 2)}\n`);
    log(`fuse-native ${state === 'patched' ? 'patched and ' : ''}rebuilt from source in ${seconds.toFixed(1)} s`);
  }

  let chosen;
  try {
    chosen = resolvedBinary(pkgDir);
  } catch (err) {
    giveUp(`node-gyp-build cannot resolve the fuse-native addon: ${err.message}`);
  }
  if (path.resolve(chosen) !== path.join(pkgDir, 'build', 'Release', 'fuse.node')) {
    giveUp(`fuse-native would load ${chosen}, not the patched build/Release/fuse.node ` +
      '(is PREBUILDS_ONLY or FUSE_NATIVE_PREBUILD set?)');
  }

  const err = loadError(pkgDir);
  if (err) {
    giveUp(`the patched fuse-native is built but does not load: ${err}\n` +
      'Install the FUSE runtime: apt-get update && apt-get install -y libfuse2 fuse3');
  }
}

main();
