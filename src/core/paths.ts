import { AvfsError } from '../errors.js';
import { isWellFormed } from './utf8.js';

/**
 * A name is at most NAME_MAX bytes, as on Linux. A path is not held to PATH_MAX (4096): that limits
 * the path passed to one system call, and on a local disk a tree can be deeper than that (made
 * with relative paths below a working directory, as pjdfstest and deep `mkdir -p` runs do), so
 * the mount must store such paths too. MAX_PATH_BYTES only stops absurd input. (Exporting a
 * path longer than PATH_MAX to the host fails there with ENAMETOOLONG, as `cp -r` of it would.)
 */
export const MAX_PATH_BYTES = 65536;
export const MAX_NAME_BYTES = 255;
/**
 * A new entry's path is at most twice PATH_MAX. Every entry stores its whole path (in its row,
 * its versions and their indexes), so a tree n levels deep stores O(n²) bytes: 30,000 levels of
 * one-letter names took 8.4 GB under the 64 KiB bound; under this one the deepest tree stores
 * about 70 MB. Paths already stored beyond it (older avfs) stay readable, removable and restorable.
 */
export const MAX_NEW_PATH_BYTES = 8192;

/** Refuses a path for a new entry when it is longer than MAX_NEW_PATH_BYTES (ENAMETOOLONG in a mount). */
export function checkNewPathLength(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes <= MAX_NEW_PATH_BYTES) return;
  throw new AvfsError('INVALID_PATH', `invalid path ${JSON.stringify(path.slice(0, 120) + '…')}: ${bytes} bytes long, and a new entry's path is at most ${MAX_NEW_PATH_BYTES} bytes`, {
    path,
    reason: 'path_too_long',
    max_bytes: MAX_NEW_PATH_BYTES,
    cause: 'ENAMETOOLONG',
  });
}

/** INVALID_PATH saying `why`, with `reason` a stable token for programs (the text may change). */
const invalid = (input: string, reason: string, why: string) =>
  new AvfsError('INVALID_PATH', `invalid path ${JSON.stringify(input)}: ${why}`, { path: input, reason });

/**
 * Turns user input into the canonical vault path: absolute, `/`-separated, no `.` or `..`
 * segments, no trailing slash (except the root itself). A relative input is taken relative to
 * the vault root. `..` may move up inside the vault but never above its root.
 */
export function normalizePath(input: string): string {
  // From JavaScript anything can arrive: a number would otherwise be reported as an empty path.
  if (typeof input !== 'string') throw invalid(String(input), 'not_a_string', `a path must be a string, not ${input === null ? 'null' : typeof input}`);
  if (input.length === 0) throw invalid(input, 'empty', 'empty path');
  if (input.includes('\0')) throw invalid(input, 'nul_byte', 'contains a NUL byte');
  // Stored as UTF-8, a lone surrogate would become U+FFFD: a name no later call could give again.
  if (!isWellFormed(input)) throw invalid(input, 'not_unicode', 'is not valid Unicode (it holds a lone surrogate)');
  const parts: string[] = [];
  for (const segment of input.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) throw invalid(input, 'escapes_root', 'escapes the vault root');
      parts.pop();
      continue;
    }
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) throw invalid(input, 'name_too_long', `a name is longer than ${MAX_NAME_BYTES} bytes`);
    parts.push(segment);
  }
  const path = '/' + parts.join('/');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw invalid(input, 'path_too_long', `longer than ${MAX_PATH_BYTES} bytes`);
  return path;
}

/**
 * Whether a path as given names a directory by its form ("/d/", "/d/."), which normalizePath
 * drops: a file is never made there, as open(2) with O_CREAT refuses such a path (EISDIR/ENOTDIR).
 */
export const namesDirectory = (input: string): boolean => /\/\.?$/.test(input);

/** Parent directory of a canonical path; the root is its own parent. */
export function dirname(path: string): string {
  if (path === '/') return '/';
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Last name of a canonical path; '' for the root. */
export function basename(path: string): string {
  return path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** True when `path` is `ancestor` itself or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  if (ancestor === '/') return true;
  return path === ancestor || path.startsWith(ancestor + '/');
}

/** Every proper ancestor of a path, root first: /a/b/c → ['/', '/a', '/a/b']. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  let p = dirname(path);
  while (true) {
    out.unshift(p);
    if (p === '/') break;
    p = dirname(p);
  }
  return path === '/' ? [] : out;
}

/** Symbolic links one lookup may pass through: the kernel's limit (ELOOP beyond it). */
export const MAX_SYMLINK_HOPS = 40;

/** What a name is to a walk: a directory to go on in, a symbolic link (its target), or null: neither (a file, a missing name) or where the caller stops. */
export type PathStep = 'dir' | { link: string } | null;

/** Where resolvePath ended. */
export type PathEnd =
  /**
   * Every name walked: `reached` is what the last one names, a directory gone into, or with `leaf`
   * a name that is not (a file, a missing name, a link left unfollowed). With `creating`, a last
   * name written with a trailing `/` (in the path or a link's target) ends the walk unlooked-at,
   * as `slashed`: open(2) with O_CREAT answers EISDIR there before it looks the name up.
   */
  | { reached: string; leaf: boolean; slashed?: true }
  /** `blocked` is no directory (a file or a missing name, as `look` said) and `rest` are the names still to walk below it. */
  | { blocked: string; rest: string[] }
  /** More than MAX_SYMLINK_HOPS links: the kernel's ELOOP. */
  | { loop: true };

/**
 * A path's names for a walk. A trailing `/` stays as a last empty name, so the name before it is
 * not the last one: it must be a directory (or lead to one), as the kernel takes `file/` (ENOTDIR).
 */
function walkNames(path: string): string[] {
  const names = path.split('/').filter((n) => n !== '');
  if (path.endsWith('/') && names.length > 0) names.push('');
  return names;
}

/**
 * Resolves an absolute `path` from `/` name by name, as the kernel does (path_resolution(7)): `.`
 * is skipped, `..` goes to the parent of the directory the walk has RESOLVED so far (at `/` it
 * stays there), and a symbolic link's target takes its name's place, a relative one from the
 * link's directory and an absolute one from `/`. So `..` is never taken textually: with
 * `/l -> a/b`, `/l/..` is `/a`, and a link to `l/../x` is `/a/x`. `look` says what each name is
 * (or throws). A link as the last name is followed unless `followLast` is false (lstat, rm, mv);
 * `creating` is a walk for a file to be written (see PathEnd). This is the one walker: the
 * store's lookups (VaultFs), the sandbox's checks and `--cwd` use it.
 */
export function resolvePath(path: string, look: (next: string) => PathStep, options: { followLast?: boolean; creating?: boolean } = {}): PathEnd {
  const names = walkNames(path);
  let at = '/';
  for (let hops = 0; names.length > 0; ) {
    const name = names.shift()!;
    if (name === '.' || name === '') continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const next = joinPath(at, name);
    const last = names.length === 0;
    if (options.creating && !last && names.every((n) => n === '')) return { reached: next, leaf: true, slashed: true };
    const step = look(next);
    if (step === 'dir') {
      at = next;
      continue;
    }
    if (step === null || (last && options.followLast === false)) return last ? { reached: next, leaf: true } : { blocked: next, rest: names };
    if (++hops > MAX_SYMLINK_HOPS) return { loop: true };
    names.unshift(...walkNames(step.link));
    if (step.link.startsWith('/')) at = '/';
  }
  return { reached: at, leaf: false };
}

/**
 * The directory an absolute `path` resolves to (resolvePath, following every link), or null when
 * it names no directory, `look` stopped the walk, or it passed more than MAX_SYMLINK_HOPS links.
 */
export function walkPath(path: string, look: (next: string) => PathStep): string | null {
  const end = resolvePath(path, look);
  return 'reached' in end && !end.leaf ? end.reached : null;
}

/** Re-roots `path` from under `from` to under `to` (used by mv and cp of directories). */
export function rebase(path: string, from: string, to: string): string {
  if (path === from) return to;
  return joinPath(to, path.slice(from === '/' ? 1 : from.length + 1));
}

/**
 * Upper bound for a range scan over every descendant of `dir`: paths below `dir` start with
 * `dir + '/'`, and '0' is the character right after '/', so `[dir/, dir0)` holds them all.
 */
export function descendantRange(dir: string): [string, string] {
  return dir === '/' ? ['/', '0'] : [dir + '/', dir + '0'];
}
