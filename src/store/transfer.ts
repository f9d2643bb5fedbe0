import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, lchownSync, fchmodSync, ftruncateSync, futimesSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AvfsError } from '../errors.js';
import { devMajor, devMinor } from '../core/entry-types.js';
import { writeFully } from './fd-io.js';
import { joinPath, namesDirectory, normalizePath } from '../core/paths.js';
import { decodeUtf8, escapeBytes } from '../core/utf8.js';
import { contentChunks, putContentsFromFds, type ContentRef } from './blobs.js';
import type { Entry } from './entries.js';
import { atHostPath } from './deep-host-paths.js';
import { PinnedDirs } from './pinned-dirs.js';
import { isDirectory, makeDirectories } from './host-dirs.js';
import { readHostLink, walkHostTree } from './host-tree.js';
import { homeOnHost, insideHome, namesHome, refuseInsideHome, type HomeOnHost } from './home-on-host.js';
import type { Owner, VaultFs } from './vault-fs.js';
import { hostSeconds } from '../core/units.js';
import { processAlive, processStartTime } from './host-process.js';
import { enforceQuotaForAll } from './quota.js';
import { KEPT_DIR } from './home.js';

export interface TransferSummary {
  /** Files written, counting each name of a hard-linked file. */
  files: number;
  directories: number;
  symlinks: number;
  /** File bytes written; a hard-linked file's bytes once. */
  bytes: number;
  /** Names made hard links to a name written before them in the same transfer (counted in `files`, `symlinks` or `special` too). */
  links: number;
  /** Export only: names that share an inode in the vault but were written as separate copies, because the host refused the link. */
  links_copied?: number;
  /** FIFOs, sockets and devices: imported as metadata; exported as FIFOs and (as root) device nodes. */
  special?: number;
  /** Entries left out, each with why: by export, those the host cannot be given (sockets; devices when not root); by import, the avfs home. */
  skipped?: Array<{ path: string; type: string; reason: string }>;
  /** Export only: files written without the set-user-ID / set-group-ID bits they have in the vault (hostMode). */
  set_id_cleared?: string[];
}

/**
 * The mode a vault entry gets on the host: its own, less the set-user-ID and set-group-ID bits on
 * anything but a directory. Vault files are written by commands avfs treats as untrusted (a
 * sandboxed one is root inside, and its files are owned by root on the host), so a set-id program
 * one made must not become a privileged program on the host when exported or synced as root. A
 * directory's set-group-ID only chooses the group of new files in it, and stays.
 */
export function hostMode(type: string, mode: number): number {
  return type === 'd' ? mode & 0o7777 : mode & 0o1777;
}

/** Told how far long work is; `phase` names the part of it when it has several (import: storing, then linking). */
export type Progress = (done: number, total: number, phase?: string) => void;

interface HostItem {
  /** The host path as bytes: a name that is not UTF-8 must reach lstat/open exactly as it is. */
  host: Buffer;
  vault: string;
  kind: 'f' | 'd' | 'l' | 'p' | 's' | 'c' | 'b';
  mode: number;
  /** A device's number. */
  rdev?: number;
  mtime: number;
  atime: number;
  target?: string;
  /** A file with other names on the host: its (device, inode), which those names share. */
  inode?: string;
  /** The host owner, kept when importing as root (like tar extracting as root); else absent. */
  owner?: Owner;
}

/** What a scan found: the items to import, and the host paths that cannot become vault paths. */
interface HostScan {
  items: HostItem[];
  /** Host paths whose last name (or, for a symlink, whose target) is not valid UTF-8. */
  invalid: Buffer[];
  /** The avfs home, passed over (home-on-host.ts); its vault path when the tree holds it. */
  home?: HomeOnHost;
  passedHome?: { path: string; type: 'directory' | 'symlink' };
}

/** Lists a host tree (not following symlinks), parents before children (host-tree.ts walks it). */
function scanHost(root: Buffer, rootPath: string, scan: HostScan): void {
  const lstat = (host: Buffer) => {
    try {
      return lstatSync(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENAMETOOLONG') {
        const text = host.toString();
        throw new AvfsError('INVALID_PATH', `host path too long to read (over the host's PATH_MAX, 4096 bytes on Linux): ${text.slice(0, 200)}…; nothing was imported`, {
          host: text,
          cause: code,
        });
      }
      if (code === 'EACCES' || code === 'EPERM') throw err; // unlessUnreadable names it
      throw hostNotFound(host);
    }
  };
  walkHostTree(root, rootPath, lstat(root), {
    lstat,
    invalidName: (host) => void scan.invalid.push(host),
    visit: ({ host, path, st, type: kind }) => {
      if (!kind) return false;
      if (namesHome(scan.home, host.toString(), st)) {
        scan.passedHome = { path, type: st.isSymbolicLink() ? 'symlink' : 'directory' };
        return false;
      }
      // FIFOs, sockets and devices are imported as what they are (metadata), never opened.
      const item: HostItem = { host, vault: path, kind, mode: st.mode & 0o7777, mtime: st.mtimeMs, atime: st.atimeMs, rdev: st.rdev };
      if (ROOT) item.owner = { uid: st.uid, gid: st.gid };
      if (kind !== 'd' && st.nlink > 1) item.inode = `${st.dev}:${st.ino}`;
      if (kind === 'l') {
        item.target = readHostLink(host);
        if (item.target === undefined) return void scan.invalid.push(host);
      }
      scan.items.push(item);
    },
  });
}

const SLASH = Buffer.from('/');

/**
 * NOT_FOUND for a missing host path, unless its last name is there as bytes that are not UTF-8:
 * a name given as an argument arrives decoded (each bad byte as U+FFFD), so it is not found as
 * typed, and the real reason is that it cannot be a vault path.
 */
function hostNotFound(host: Buffer): AvfsError {
  const text = host.toString();
  const parent = dirname(text);
  let siblings: Buffer[] = [];
  if (text.includes('\uFFFD')) {
    try {
      siblings = readdirSync(parent, { encoding: 'buffer' });
    } catch {
      // the parent is missing too
    }
  }
  const raw = siblings.filter((name) => decodeUtf8(name) === undefined && name.toString() === basename(text));
  if (raw.length > 0) return invalidNames(raw.map((name) => Buffer.concat([Buffer.from(parent), SLASH, name])));
  return new AvfsError('NOT_FOUND', `no such host file or directory: ${text}`, { host: text });
}

/**
 * Runs `read`; a host directory or file it may not read (EACCES, EPERM) is INVALID_ARGUMENT naming
 * it, not INTERNAL. Nothing is imported then: the reads all come before the one transaction.
 */
function unlessUnreadable<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'EACCES' && e.code !== 'EPERM') throw err;
    const host = String(e.path ?? '');
    throw new AvfsError('INVALID_ARGUMENT', `cannot read host path ${host}: permission denied; nothing was imported`, { host, cause: e.code });
  }
}

/** INVALID_PATH listing host paths whose names (or symlink targets) are not UTF-8, at most 100 of them. */
function invalidNames(hosts: Buffer[]): AvfsError {
  const names = hosts.map(escapeBytes);
  return new AvfsError(
    'INVALID_PATH',
    `${names.length} host name(s) are not valid UTF-8 and cannot be vault paths; rename them (e.g. with convmv) and import again. Nothing was imported: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`,
    { names: names.slice(0, 100), count: names.length },
  );
}

/**
 * A host path given to import, export or sync, checked before anything resolves it: an empty one
 * would resolve to the working directory (`avfs export / "$DEST"` with DEST unset wrote there),
 * and from JavaScript anything can arrive.
 */
export function checkHostPath(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new AvfsError('INVALID_ARGUMENT', `${what} must be a host path, a string (got ${value === null ? 'null' : typeof value})`, { option: what });
  if (value === '') throw new AvfsError('INVALID_ARGUMENT', `${what} is an empty path: name a host path (. for the working directory)`, { option: what });
  if (value.includes('\0')) throw new AvfsError('INVALID_ARGUMENT', `${what} holds a NUL byte, which no host path can`, { option: what });
  return value;
}

/**
 * `value` unless the host refuses it as given for going through something that is not a
 * directory (ENOTDIR: `file/`, `file/.`, `file/..`, `file/x`): NOT_A_DIRECTORY. Resolving a host
 * path drops those steps, and import then took the file (or, for `file/..`, its whole directory).
 */
export function refuseThroughFile(value: string): string {
  try {
    statSync(value);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new AvfsError('NOT_A_DIRECTORY', `${value} goes through something that is not a directory (as the host says for it: ENOTDIR)`, { host: value });
  }
  return value;
}

/**
 * Copies a host file or tree into the vault at `vaultPath`, keeping modes, mtimes, symlinks and
 * hard links (host names of one inode within the tree become names of one vault inode). File content is stored first, chunk by chunk (never a whole large file in memory); then every
 * entry is created in one transaction, so an import is all or nothing. `finish(root)` runs last
 * inside that transaction (a tracked import records itself there, see sync.ts). `path` in the
 * result is where the tree or file landed (a file imported onto a directory goes inside it).
 */
export function importTree(fs: VaultFs, host: string, vaultInput: string, progress?: Progress, finish?: (root: string) => void): TransferSummary & { path: string } {
  refuseThroughFile(checkHostPath(host, 'host'));
  let root = normalizePath(vaultInput);
  // Like cp: a single file imported onto an existing directory goes inside it; given a name that
  // ends with '/' (a directory's) that is no directory, it is NOT_A_DIRECTORY, as cp refuses it.
  if (!lstatSafe(host)?.isDirectory()) {
    if (fs.exists(root) && fs.stat(root).type === 'd') root = joinPath(fs.stat(root).path, basename(host));
    else if (namesDirectory(vaultInput)) throw new AvfsError('NOT_A_DIRECTORY', `${vaultInput} ends with '/' but ${root} is not a directory: a file is imported into an existing directory, or under a name without the '/'`, { path: root, input: vaultInput });
  }
  const home = homeOnHost(fs.store.home);
  refuseInsideHome(home, host, `importing ${host}`, KEPT_DIR); // the home itself, or a path in it but a kept copy
  const scan: HostScan = { items: [], invalid: [], home };
  unlessUnreadable(() => scanHost(Buffer.from(host), root, scan));
  if (scan.invalid.length > 0) throw invalidNames(scan.invalid);
  const items = scan.items;
  const contents = new Map<string, ContentRef>();
  // The first name of each hard-linked host inode, by (device, inode); later names link to it.
  const firstName = new Map<string, string>();
  const linkTo = new Map<HostItem, string>();
  for (const item of items) {
    if (!item.inode) continue;
    const first = firstName.get(item.inode);
    if (first === undefined) firstName.set(item.inode, item.vault);
    else linkTo.set(item, first);
  }
  const files = items.filter((item) => item.kind === 'f' && !linkTo.has(item));
  let done = items.length - files.length;
  const stored = putContentsFromFds(fs.store, files, (item) => unlessUnreadable(() => openSync(item.host, 'r')), () => progress?.(++done, items.length, 'storing'));
  for (const [item, content] of stored) contents.set(item.vault, content);
  const summary: TransferSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0, links: 0 };
  if (scan.passedHome) summary.skipped = [{ ...scan.passedHome, reason: 'the avfs home (every vault\'s database) is never imported' }];
  fs.store.mutate(() => {
    enforceQuotaForAll(fs.store, fs.row(), root, () =>
      items.map((item) => {
        const size = item.kind === 'f' ? contents.get(linkTo.get(item) ?? item.vault)!.size : 0;
        // Where the entry lands: a symlinked directory above it is followed, as creating it does.
        return [fs.entryExact(fs.resolve(item.vault, false)), { type: item.kind, size }] as const;
      }),
    );
    // Creating the entries is about a third of a large import: it shows its own progress.
    let linked = 0;
    for (const item of items) {
      progress?.(++linked, items.length, 'linking');
      if (item.kind === 'd') {
        fs.mkdir(item.vault, { parents: true, mode: item.mode, owner: item.owner });
        fs.chmod(item.vault, item.mode);
        if (item.owner) fs.chown(item.vault, item.owner.uid, item.owner.gid); // an existing directory
        summary.directories++;
      } else if (linkTo.has(item)) {
        // A later host name of one inode (a file, a symlink, a FIFO or a device) links to the first.
        const existing = fs.exists(item.vault) ? fs.lstat(item.vault) : undefined;
        if (existing && existing.type !== 'd') fs.rm(item.vault, { recursive: false });
        fs.link(linkTo.get(item)!, item.vault);
        summary.links++;
        if (item.kind === 'f') summary.files++;
        else if (item.kind === 'l') summary.symlinks++;
        else summary.special = (summary.special ?? 0) + 1;
      } else if (item.kind === 'l') {
        if (fs.exists(item.vault)) fs.rm(item.vault, { recursive: false });
        // Its own times, given at creation: utimes would follow it.
        fs.symlink(item.target!, item.vault, { owner: item.owner, times: { atime: item.atime, mtime: item.mtime } });
        summary.symlinks++;
      } else if (item.kind === 'p' || item.kind === 's' || item.kind === 'c' || item.kind === 'b') {
        const existing = fs.exists(item.vault) ? fs.lstat(item.vault) : undefined;
        if (existing && existing.type !== 'd') fs.rm(item.vault, { recursive: false });
        fs.mknod(item.vault, item.kind, item.mode, item.rdev, { owner: item.owner });
        fs.utimes(item.vault, item.atime, item.mtime);
        summary.special = (summary.special ?? 0) + 1;
      } else {
        const content = contents.get(item.vault)!;
        fs.writeContent(item.vault, content, { parents: true, mode: item.mode, mtime: item.mtime, op: 'import', owner: item.owner });
        summary.files++;
        summary.bytes += content.size;
      }
    }
    // Directory times last: creating children touches their parent's mtime.
    for (const item of items.filter((i) => i.kind === 'd').reverse()) fs.utimes(item.vault, item.atime, item.mtime);
    finish?.(root);
  });
  return { ...summary, path: root };
}

export interface ExportOptions {
  /**
   * Write host paths longer than PATH_MAX too, through descriptors of their directories
   * (deep-host-paths.ts): copy mode must reproduce the vault's deep trees, whose paths below the
   * copy's directory pass it. Without it, such a path is INVALID_PATH (cause ENAMETOOLONG).
   */
  pastPathMax?: boolean;
}

/** Runs `use` with a usable path for `host` (deep-host-paths.ts atHostPath, or `host` itself). */
type ReachHost = <T>(host: string, use: (path: string) => T) => T;

/**
 * Writes a vault file or tree to the host: a directory's contents go into `hostDir`, a file goes
 * to `hostDir/<name>`. Existing host files are refused (ALREADY_EXISTS, nothing written) unless
 * `overwrite`. Modes, mtimes and symlinks are kept; content streams chunk by chunk.
 *
 * Nothing outside `hostDir` changes. `hostDir` itself is taken as given (like cp's destination);
 * below it, export lstats every directory it descends into and never follows a symlink it did not
 * create in this run: a symlink (or file) where the vault has a directory is a clash, replaced
 * only with `overwrite` and then by unlinking the link itself. Files are created with O_EXCL and
 * O_NOFOLLOW; a replaced file or symlink is written beside it and renamed over it, so a hard link
 * or a symlink target outside is never written through; modes and times are set through a
 * descriptor opened with O_NOFOLLOW. Each host path is reached through its directory's descriptor
 * (PinnedDirs), so a directory swapped for a symlink while export runs is not written through.
 */
export function exportTree(fs: VaultFs, vaultInput: string, hostDir: string, overwrite: boolean, progress?: Progress, options: ExportOptions = {}): TransferSummary {
  // One read transaction (in WAL mode: Store.readLong): the export is one state of the vault,
  // whatever is written meanwhile, and its contents are read by the hashes of that state (a
  // file's lookup and read otherwise took four transactions of their own: a third of a
  // 50,000-file export).
  checkHostPath(hostDir, 'host_dir');
  return fs.store.readLong(() => exportSnapshot(fs, vaultInput, hostDir, overwrite, progress, options));
}

function exportSnapshot(fs: VaultFs, vaultInput: string, hostDir: string, overwrite: boolean, progress: Progress | undefined, options: ExportOptions): TransferSummary {
  const root = fs.stat(vaultInput);
  const entries = root.type === 'd' ? fs.walk(root.path) : [root];
  const base = root.type === 'd' ? root.path : root.parent;
  const hostPath = (p: string) => join(hostDir, base === '/' ? p.slice(1) : p.slice(base.length + 1));
  const at: ReachHost = options.pastPathMax ? atHostPath : (host, use) => use(host);
  const existed = destinationExists(hostDir);
  const steps = planExport(entries, base, hostPath, existed, at);
  refuseHome(steps, hostDir, homeOnHost(fs.store.home));
  refuseClashes(steps, overwrite);
  try {
    makeDirectories(hostDir);
  } catch (err) {
    throw new AvfsError('INVALID_PATH', `cannot create the export destination ${hostDir}: ${(err as Error).message}`, { host: hostDir });
  }
  const summary: TransferSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0, links: 0 };
  // The host path each hard-linked vault inode was first written to; its other names link to it.
  const written = new Map<number, string>();
  // Every host path is reached through its directory's descriptor: a directory another process
  // swaps for a symlink while the export runs is never written through.
  const dirs = new PinnedDirs(hostDir);
  let done = 0;
  try {
    writeSteps();
  } catch (err) {
    // A host place it may not write (permissions, a read-only filesystem) is the caller's input, not an internal failure.
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENAMETOOLONG') {
      throw new AvfsError('INVALID_PATH', `host path too long (over the host's PATH_MAX, 4096 bytes on Linux): ${String(e.path ?? hostDir).slice(0, 200)}…; ${done} of ${steps.length} entries were exported before it`, {
        cause: e.code,
        exported: done,
      });
    }
    if (e.code === 'EEXIST') {
      // Free when export looked (refuseClashes), taken when it wrote: another process (a second
      // export into the same directory) wrote there meanwhile, and export never replaces it.
      const host = String(e.path ?? hostDir);
      throw new AvfsError('CONFLICT', `host path ${host} appeared while exporting (another process wrote there); nothing was written over it; ${done} of ${steps.length} entries were exported before it`, {
        host,
        cause: e.code,
        exported: done,
      });
    }
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'ELOOP') {
      // A host directory export made or checked went away or became something else while it wrote
      // (another process moved it aside, or put a symlink in its place; export never follows one).
      const host = String(e.path ?? hostDir);
      throw new AvfsError('CONFLICT', `host path ${host} was moved, removed or replaced while exporting (another process changed the destination); ${done} of ${steps.length} entries were exported before it`, {
        host,
        cause: e.code,
        exported: done,
      });
    }
    if (e.code !== 'EACCES' && e.code !== 'EPERM' && e.code !== 'EROFS') throw err;
    const host = String(e.path ?? hostDir);
    throw new AvfsError('INVALID_ARGUMENT', `cannot write host path ${host}: ${e.code === 'EROFS' ? 'read-only file system' : 'permission denied'}; ${done} of ${steps.length} entries were exported before it`, {
      host,
      cause: e.code,
      exported: done,
    });
  }
  return summary;

  function writeSteps(): void {
    // What an export stopped part way left here (and in each existing directory below: writeStep).
    try {
      if (existed) sweepStaleTemporaries(dirs.dir(dirs.root));
      for (const step of steps) {
        dirs.trim();
        onHost(step.host, (host) => writeStep(step, host));
        progress?.(++done, steps.length);
      }
      // Directory modes and times last (deepest first), so writing children does not disturb them.
      for (const step of [...steps].reverse()) {
        dirs.trim();
        if (step.entry.type === 'd') onHost(step.host, (host) => settleHostDirectory(host, step.entry.mode, step.entry));
      }
      // A destination this export made is the vault directory's copy, as cp -a makes one: its mode
      // and times too (they were the export's). One that was there keeps its own.
      if (!existed && root.type === 'd') settleHostDirectory(dirs.path(dirs.root), root.mode, root);
    } finally {
      dirs.close();
    }
  }

  /** Runs `use` with `host` named through its directory's descriptor (PinnedDirs); an error names `host`. */
  function onHost<T>(host: string, use: (path: string) => T): T {
    // A path the host's own tools could not use is refused as the kernel refuses it, unless the caller reaches past PATH_MAX (copy mode).
    if (!options.pastPathMax && Buffer.byteLength(host) >= PATH_MAX) throw Object.assign(new Error(`ENAMETOOLONG: name too long, ${host}`), { code: 'ENAMETOOLONG', path: host });
    try {
      return use(dirs.path(host));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (typeof e.path === 'string' && e.path.startsWith('/proc/self/fd/')) e.path = host;
      throw err;
    }
  }

  /** Writes one entry at `host`: its host path, or one `at` made short enough to use. */
  function writeStep(step: ExportStep, host: string): void {
    const e = step.entry;
    if (e.type === 'd') {
      if (step.found === 'other') unlinkSync(host);
      if (step.found !== 'directory') mkdirSync(host, 0o700); // its own mode is set last
      else sweepStaleTemporaries(dirs.dir(step.host)); // by its own descriptor: a symlink there since is refused
      summary.directories++;
    } else if (e.type === 'l') {
      if (!linkToFirst(step, host)) {
        placeHostEntry(host, step.found !== 'absent', (path) => symlinkSync(e.target!, path));
        lutimesSync(host, hostSeconds(e.atime), hostSeconds(e.mtime));
        noteFirst(step);
      }
      summary.symlinks++;
    } else if (e.type === 's' || ((e.type === 'c' || e.type === 'b') && !ROOT)) {
      const reason = e.type === 's' ? 'a socket is made by the process that binds it, not by a copy' : 'only root can make device nodes';
      (summary.skipped ??= []).push({ path: e.path, type: e.type === 's' ? 'socket' : e.type === 'c' ? 'char_device' : 'block_device', reason });
      return;
    } else if (e.type === 'p' || e.type === 'c' || e.type === 'b') {
      if (!linkToFirst(step, host)) {
        placeHostEntry(host, step.found !== 'absent', (path) => makeHostNode(path, e));
        lutimesSync(host, hostSeconds(e.atime), hostSeconds(e.mtime)); // a symlink put there since is not followed
        noteFirst(step);
      }
      summary.special = (summary.special ?? 0) + 1;
    } else {
      // Every name of a set-id file is listed, a hard link's too (they share the cleared mode).
      if (hostMode(e.type, e.mode) !== (e.mode & 0o7777)) (summary.set_id_cleared ??= []).push(e.path);
      if (!linkToFirst(step, host)) {
        placeHostEntry(host, step.found !== 'absent', (path) => writeHostFile(path, e.hash ? contentChunks(fs.store, e.hash) : [], e.mode, e), true);
        noteFirst(step);
        summary.bytes += e.size;
      }
      summary.files++;
    }
    if (ROOT) applyOwner(host, e);
  }

  /**
   * A later name of a hard-linked vault inode (a file, a symlink, a FIFO or a device: tar and
   * cp -a keep all of them) becomes a host link to the name written first. False when it is the
   * first, or the host refuses the link (then it is written as a copy, counted in links_copied).
   */
  function linkToFirst(step: ExportStep, host: string): boolean {
    const first = step.entry.nlink > 1 ? written.get(step.entry.ino) : undefined;
    if (first === undefined) return false;
    if (placeHostLink(dirs.path(first), host, step.found !== 'absent')) {
      summary.links++;
      return true;
    }
    summary.links_copied = (summary.links_copied ?? 0) + 1;
    return false;
  }

  /** Remembers where a hard-linked inode was written first. */
  function noteFirst(step: ExportStep): void {
    if (step.entry.nlink > 1 && !written.has(step.entry.ino)) written.set(step.entry.ino, step.host);
  }
}

/** One vault entry to export, with what its host path held before: nothing, a real directory, or anything else. */
interface ExportStep {
  entry: Entry;
  host: string;
  found: 'absent' | 'directory' | 'other';
}

/**
 * What each entry's host path holds, found with lstat, parents first. Below a path that is not a
 * real directory (absent, or replaced in this run) nothing is looked at: the directory export
 * makes there is new and empty, and looking would follow whatever symlink is there now.
 */
function planExport(entries: Entry[], base: string, hostPath: (p: string) => string, destination: boolean, at: ReachHost): ExportStep[] {
  const found = new Map<string, ExportStep['found']>([[base, destination ? 'directory' : 'absent']]);
  return entries.map((entry) => {
    const host = hostPath(entry.path);
    const step: ExportStep = { entry, host, found: found.get(entry.parent) === 'directory' ? at(host, hostKind) : 'absent' };
    found.set(entry.path, step.found);
    return step;
  });
}

/**
 * Refuses before anything is written: a destination in the avfs home, or a step that is the home
 * (an existing directory, known by device and inode) or the name AVFS_HOME gives it
 * (home-on-host.ts). What would go inside the home has the home as a step before it.
 */
function refuseHome(steps: ExportStep[], hostDir: string, home: HomeOnHost | undefined): void {
  if (!home) return;
  refuseInsideHome(home, hostDir, `exporting to ${hostDir}`);
  const hit = steps.find((s) => namesHome(home, s.host, s.found === 'directory' ? lstatSafe(s.host) : undefined));
  if (hit) throw insideHome(home, hit.host, `exporting to ${hostDir}`, 'is');
}

/** Refuses before anything is written: any existing host path in the way without `overwrite`, and a host directory where the vault has a file even with it. */
function refuseClashes(steps: ExportStep[], overwrite: boolean): void {
  const inWay = (s: ExportStep) => s.found === 'other' || (s.found === 'directory' && s.entry.type !== 'd');
  const dirInWay = steps.find((s) => s.found === 'directory' && s.entry.type !== 'd');
  const clash = steps.find(inWay);
  if (clash && !overwrite) throw new AvfsError('ALREADY_EXISTS', `host path exists: ${clash.host} (use --overwrite)`, { host: clash.host });
  if (dirInWay) {
    throw new AvfsError('IS_A_DIRECTORY', `host path is a directory where the vault has a ${dirInWay.entry.type === 'l' ? 'symlink' : 'file'}: ${dirInWay.host} (remove it first)`, {
      host: dirInWay.host,
    });
  }
}

/**
 * Puts a new file or symlink at `host` with `create(path)`: directly when nothing was there
 * (create fails rather than follow or replace anything that appeared since), else (`replacing`)
 * beside it under a temporary name and renamed over it, which replaces the name, never what it
 * links to. Export and sync write the host through this. With `whole` (a file's content), the
 * name appears only once the content is complete: written under the temporary name, then linked
 * to the free name (which fails as O_EXCL would if something appeared there), so an export
 * stopped part way (kill -9) leaves a temporary file, never a truncated one under its real name.
 */
export function placeHostEntry(host: string, replacing: boolean, create: (path: string) => void, whole = false): void {
  if (!replacing && !whole) return create(host);
  // A short name of its own, not the real one with a suffix: a 250-byte name plus one is past NAME_MAX.
  const tmp = join(dirname(host), temporaryName());
  try {
    create(tmp);
    if (replacing) renameSync(tmp, host);
    else linkInPlace(tmp, host);
  } catch (err) {
    rmSync(tmp, { force: true });
    // Reported by the name the caller knows (a host place it may not write, ENOSPC, …).
    const e = err as NodeJS.ErrnoException;
    if (e.path === tmp) e.path = host;
    throw err;
  }
}

/**
 * `.avfs-export-`, the writing process (pid and start time, so that a later export or sync can
 * tell a name left by a process that died from one in use: sweepStaleTemporaries) and a name no
 * other process picks: a random part drawn once per process and a counter (a random draw per
 * file was 6% of a 50,000-file export). O_EXCL and link(2) refuse a name that exists anyway, so
 * it only needs to be unlikely to collide, not unguessable.
 */
function temporaryName(): string {
  temporaryPrefix ??= `${TEMPORARY}${process.pid}.${processStartTime(process.pid) ?? 0}-${randomBytes(6).toString('hex')}-`;
  return `${temporaryPrefix}${(temporaryCount++).toString(36)}`;
}
let temporaryPrefix: string | undefined;
let temporaryCount = 0;
const TEMPORARY = '.avfs-export-';
const TEMPORARY_NAME = /^\.avfs-export-(\d+)\.(\d+)-[0-9a-f]{12}-[0-9a-z]+$/;

/** Whether a host name is one of placeHostEntry's temporary names (another export's or sync's, in use or left behind). */
export const isTemporaryName = (name: string): boolean => TEMPORARY_NAME.test(name);

/**
 * Removes from host directory `dir` the temporary names (see temporaryName) of exports and syncs
 * whose process is gone: one stopped part way (Ctrl-C, kill -9) leaves the file it was writing
 * under such a name, and nothing else would ever remove it. A name of a live process, and
 * anything that is a directory, are left alone. Returns how many were removed.
 */
export function sweepStaleTemporaries(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMPORARY_NAME.exec(name);
    if (!m || processAlive({ pid: Number(m[1]), pid_start: Number(m[2]) || null })) continue;
    const path = join(dir, name);
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() !== false) continue;
    try {
      unlinkSync(path);
      removed++;
    } catch {
      // gone meanwhile (another sweep), or not ours to remove: left as it was
    }
  }
  return removed;
}

/**
 * Gives the complete file `tmp` the free name `host` and drops `tmp`. Where the host cannot make
 * the link (no hard links: EPERM, ENOSYS from a FUSE filesystem without link, ENOTSUP, EXDEV…),
 * renames it after checking the name is free; a name taken meanwhile is EEXIST, as O_EXCL.
 */
function linkInPlace(tmp: string, host: string): void {
  try {
    linkSync(tmp, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOENT' || code === 'EACCES' || code === 'EROFS' || code === 'ENOSPC' || code === 'EDQUOT') throw err;
    if (existsOnHost(host)) throw Object.assign(new Error(`EEXIST: file already exists, ${host}`), { code: 'EEXIST', path: host });
    renameSync(tmp, host);
    return;
  }
  unlinkSync(tmp);
}

const existsOnHost = (path: string) => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

/**
 * Makes `host` another name of the host file `first` (written earlier in this export), replacing
 * what was at `host` by name. False when the host filesystem refuses hard links (the caller then
 * writes a copy); other failures are thrown.
 */
export function placeHostLink(first: string, host: string, replacing: boolean): boolean {
  try {
    placeHostEntry(host, replacing, (path) => linkSync(first, path));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EMLINK' || code === 'EXDEV' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return false;
    throw err;
  }
}

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;
/** Linux's longest path string, its terminating NUL included. */
const PATH_MAX = 4096;

/** Times to give a host file or directory (ms); none: left as the write makes them. */
type Times = { atime: number; mtime: number } | null;

/**
 * Writes content to a new host file, then its mode (and times) through the same descriptor.
 * All-zero stretches are left as holes and the size set at the end, so a stored sparse file
 * (`truncate -s 2G`, kept with every zero) does not fill the host's disk, or a copy-mode run's
 * tmpfs, with zeros each time it is exported.
 */
export function writeHostFile(path: string, chunks: Iterable<Uint8Array>, mode: number, times: Times): void {
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    let size = 0;
    for (const chunk of chunks) {
      writeLeavingHoles(fd, chunk, size);
      size += chunk.length;
    }
    ftruncateSync(fd, size);
    fchmodSync(fd, hostMode('f', mode));
    if (times) futimesSync(fd, hostSeconds(times.atime), hostSeconds(times.mtime));
  } finally {
    closeSync(fd);
  }
}

/** The piece of a chunk written or, when all zeros, skipped as a whole. */
const HOLE_PIECE = 64 * 1024;
const ZEROS = new Uint8Array(HOLE_PIECE);

/** Writes `chunk` at `at` in `fd`, leaving its all-zero pieces unwritten (holes in a new file). */
function writeLeavingHoles(fd: number, chunk: Uint8Array, at: number): void {
  let from = 0; // the start of the bytes not yet written
  for (let off = 0; off < chunk.length; off += HOLE_PIECE) {
    const end = Math.min(off + HOLE_PIECE, chunk.length);
    if (Buffer.compare(chunk.subarray(off, end), ZEROS.subarray(0, end - off)) !== 0) continue;
    if (off > from) writeFully(fd, chunk.subarray(from, off), at + from);
    from = end;
  }
  if (chunk.length > from) writeFully(fd, chunk.subarray(from), at + from);
}

/** Sets a host directory's mode (and times) through a descriptor that refuses a symlink. */
export function settleHostDirectory(host: string, mode: number, times: Times): void {
  const fd = openSync(host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    fchmodSync(fd, mode);
    if (times) futimesSync(fd, hostSeconds(times.atime), hostSeconds(times.mtime));
  } finally {
    closeSync(fd);
  }
}

/** Whether this process may give host entries any owner and make device nodes. */
const ROOT = process.getuid?.() === 0;

/**
 * Makes a FIFO or a device node with the entry's mode (Node has no mkfifo/mknod: the coreutils
 * tools do it; this runs in the CLI, never in a process serving a mount). The tool runs in the
 * node's directory and is given its name: a descriptor path (deep-host-paths.ts) means nothing
 * to another process, but it can enter one as its working directory.
 */
function makeHostNode(path: string, e: Entry): void {
  const mode = hostMode(e.type, e.mode).toString(8);
  const name = `./${basename(path)}`;
  const args = e.type === 'p' ? ['-m', mode, name] : ['-m', mode, name, e.type, String(devMajor(e.rdev)), String(devMinor(e.rdev))];
  const r = spawnSync(e.type === 'p' ? 'mkfifo' : 'mknod', args, { encoding: 'utf8', cwd: dirname(path) });
  if (r.status !== 0) throw new AvfsError('INTERNAL', `cannot make ${path}: ${(r.stderr || r.error?.message || '').trim()}`, { host: path });
}

/**
 * Gives a host entry the vault entry's owner (as root; an unset owner stays the exporting user).
 * chown clears set-id bits, so a mode that has them is set again after it.
 */
function applyOwner(host: string, e: Entry): void {
  if (e.uid === null && e.gid === null) return;
  lchownSync(host, e.uid ?? -1, e.gid ?? -1);
  // Through a descriptor that refuses a symlink (put there since, it would be followed by chmod).
  // A directory's mode is set last anyway (settleHostDirectory); other kinds' set-id bits mean nothing.
  if (e.type !== 'f' || !(hostMode(e.type, e.mode) & 0o6000)) return;
  const fd = openSync(host, O_RDONLY | O_NOFOLLOW);
  try {
    fchmodSync(fd, hostMode(e.type, e.mode));
  } finally {
    closeSync(fd);
  }
}

/** What a host path holds, by lstat (a symlink is never followed): nothing, a real directory, or anything else. */
export function hostKind(path: string): ExportStep['found'] {
  try {
    return lstatSync(path).isDirectory() ? 'directory' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}

/** Whether the export destination exists (followed: the caller chose it); NOT_A_DIRECTORY when it is something else. */
function destinationExists(hostDir: string): boolean {
  return isDirectory(hostDir, () => new AvfsError('NOT_A_DIRECTORY', `export destination is not a directory: ${hostDir}`, { host: hostDir }));
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
