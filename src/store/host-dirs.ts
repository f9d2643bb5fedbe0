import { chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AvfsError } from '../errors.js';

/**
 * `mkdir -p`: creates `path` and its missing parents with `mode` (less the umask, as mkdir does)
 * and returns the directories it created, outermost first. One level at a time, not with Node's
 * recursive mkdir, which loops forever at 100% CPU where mkdir answers ENOENT under a parent that
 * exists (`/proc/nope`). Throws the failing step's errno error (ENOTDIR for a non-directory in the way).
 */
export function makeDirectories(path: string, mode = 0o777): string[] {
  const missing: string[] = [];
  for (let dir = path; !isDirectory(dir); dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(dir)) continue; // another process made it
      throw err;
    }
  }
  return missing;
}

/**
 * True for a directory (symlinks followed), false for nothing there; `other()` (by default
 * ENOTDIR) for anything else, a path through a file (`file/sub`) included.
 */
export function isDirectory(path: string, other = (): Error => Object.assign(new Error(`not a directory: ${path}`), { code: 'ENOTDIR' })): boolean {
  try {
    if (statSync(path).isDirectory()) return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ENOTDIR') throw other();
    throw err;
  }
  throw other();
}

/** Paths longer than this are moved up before being entered, so every path used stays far below PATH_MAX (4096) plus one name (255). */
const REMOVE_DEPTH_BYTES = 2048;

/**
 * `rm -rf`: removes `top` and everything below it (nothing there is no error), symlinks never
 * followed. Not Node's recursive rmSync, which recurses on the JS stack (overflowing on a tree
 * about 2,000 levels deep, which a command can make) and names every path whole (failing past
 * PATH_MAX, which a command reaches with relative paths). This walks with its own stack, and a
 * directory whose path grows past REMOVE_DEPTH_BYTES is first renamed into `top` under a short
 * name, so the removal works at any depth. A directory it may not list or change (mode 000 or
 * 555, as a non-root owner) is made 0700 and tried again.
 */
export function removeHostTree(top: string): void {
  const root = Buffer.from(top);
  try {
    if (!lstatSync(root).isDirectory()) return unlinkSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const frames: { dir: Buffer; parent: Buffer | null; names: Buffer[] }[] = [{ dir: root, parent: null, names: listForRemoval(root) }];
  let moved = 0;
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    const name = frame.names.pop();
    if (name === undefined) {
      frames.pop();
      if (frame.parent) writable(frame.parent, () => rmdirSync(frame.dir));
      else rmdirSync(frame.dir);
      continue;
    }
    let path = Buffer.concat([frame.dir, SLASH, name]);
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (!st.isDirectory()) {
      writable(frame.dir, () => unlinkSync(path));
      continue;
    }
    let parent = frame.dir;
    if (path.length > REMOVE_DEPTH_BYTES) {
      // Moving a directory elsewhere rewrites its `..`: both it and its parent must be writable.
      const from = path;
      const short = Buffer.concat([root, SLASH, Buffer.from(`.avfs-rm-${process.pid}-${moved++}`)]);
      writable(frame.dir, () => writable(from, () => renameSync(from, short)));
      path = short;
      parent = root;
    }
    frames.push({ dir: path, parent, names: listForRemoval(path) });
  }
}

const SLASH = Buffer.from('/');

/** A directory's names, making it readable first where it is not (a non-root owner's mode 000). */
function listForRemoval(dir: Buffer): Buffer[] {
  return writable(dir, () => readdirSync(dir, { encoding: 'buffer' }));
}

/** Runs `change` on `dir`; refused for permissions, makes `dir` 0700 (its owner may) and runs it again. */
function writable<T>(dir: Buffer, change: () => T): T {
  try {
    return change();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    chmodSync(dir, 0o700);
    return change();
  }
}

/**
 * Where avfs keeps its runtime directories (the views server's mount and control socket, private
 * mounts, proxy copies): one directory per user in each of these parents, so that the sandbox
 * can hide them all wherever a policy bind would show them (sandbox.ts `hidden`): a command that
 * saw them could open other vaults through the views server's socket and mount.
 */
export function runtimeParents(): string[] {
  return [...new Set([process.env.AVFS_PROXY_TMPDIR, '/dev/shm', tmpdir()].filter((p): p is string => !!p))];
}

/** The runtime directory's path in `parent` (runtimeParents), made or not. */
export function runtimeDirIn(parent: string): string {
  return join(parent, `avfs-run-${process.getuid?.() ?? 'user'}`);
}

/**
 * The runtime directory in `parent` (default the system temp directory), made 0700 on first use.
 * Its name is known in advance, so in a shared /tmp someone else may have made it first: one that
 * is not this user's own private directory is refused.
 */
export function runtimeDir(parent = tmpdir()): string {
  const dir = runtimeDirIn(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const chosen = parent === process.env.AVFS_PROXY_TMPDIR ? ' (AVFS_PROXY_TMPDIR names it)' : '';
      throw new AvfsError('INVALID_PATH', `${parent} is not a directory${chosen}: avfs keeps its runtime files (proxy copies, mounts, sockets) there`, { path: parent, reason: 'runtime_parent' });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new AvfsError('DENIED', `cannot make ${dir}: permission denied in ${parent}; point TMPDIR or AVFS_PROXY_TMPDIR at a directory of yours`, { path: parent, reason: 'permission' });
    }
    if (code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new AvfsError('DENIED', `${dir} is not this user's private directory (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}): remove it (avfs makes it again), or point AVFS_PROXY_TMPDIR at a directory of yours`, { path: dir, reason: 'not_private' });
  }
  return dir;
}
