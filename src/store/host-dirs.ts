import { chmodSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';

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

/** True for a directory (symlinks followed), false for nothing there; `other()` (by default ENOTDIR) for anything else. */
export function isDirectory(path: string, other = (): Error => Object.assign(new Error(`not a directory: ${path}`), { code: 'ENOTDIR' })): boolean {
  try {
    if (statSync(path).isDirectory()) return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
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
