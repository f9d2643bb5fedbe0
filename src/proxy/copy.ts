import {
  chmodSync,
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
  type BigIntStats,
  type Stats,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { dirname, isWithin, joinPath, MAX_NAME_BYTES, MAX_NEW_PATH_BYTES } from '../core/paths.js';
import type { SandboxLayout } from '../core/sandbox-layout.js';
import { KIND } from '../core/entry-types.js';
import { AvfsError } from '../errors.js';
import { abandonContent, contentStartsWith, isStored, putAppendedContent, putContentFromFd, readContent, type ContentRef } from '../store/blobs.js';
import { nonDirectoryAbove, type Entry } from '../store/entries.js';
import { exportTree } from '../store/transfer.js';
import { atHostPath } from '../store/deep-host-paths.js';
import { hashHostFile, readHostLink, walkHostTree, type HostWalk } from '../store/host-tree.js';
import { removeHostTree, runtimeDir, runtimeDirIn, runtimeParents } from '../store/host-dirs.js';
import { escapeBytes } from '../core/utf8.js';
import { currentSeq } from '../store/vaults.js';
import type { VaultFs } from '../store/vault-fs.js';
import { KEPT_DIR } from '../store/home.js';

/**
 * Copy mode: the vault materialised into a private temporary directory, the command run there,
 * and what it changed imported back. Used where FUSE is unavailable or with `--mode copy`.
 *
 * Where: on tmpfs (/dev/shm) when it has room for the vault plus 1 GiB to spare (creating files
 * there is 10-50× faster than on a disk filesystem), else in the system temporary directory;
 * `AVFS_PROXY_TMPDIR` chooses the parent directory explicitly.
 *
 * Detecting changes without reading every file: right after the export, each host file's
 * (inode, size, mtime, ctime) is recorded, and the command starts only once the clock has moved
 * past the newest of those ctimes by more than the kernel's timestamp granularity. ctime cannot
 * be set by a program and moves on every write, chmod, rename or link, so a file whose stat is
 * unchanged afterwards was not touched. Files whose stat changed are hashed and count as changed
 * only if their content, mode or type really differs (a rewrite with the same bytes is no change).
 *
 * The import stores new content first (content-addressed, so storing is invisible until an entry
 * points at it), then applies every tree change in ONE transaction, as the proxy actor: removals
 * (deepest first), then creations and modifications (parents first). Only changed paths are
 * touched, so writes made to the vault by others during the run survive unless the command
 * changed the same path (then the command's version wins, like a last writer). A removed directory
 * takes only the names the command saw: one made there by someone else during the run stays, with
 * its directories (a recursive removal there deleted a person's file the command never saw, and
 * reported it as the command's deletion). Special files are
 * entries too: FIFOs, sockets and devices the command makes, removes or changes are recorded like
 * any path; a vault socket (or a device, without root) that the export could not make on the host
 * is simply not in the copy, and its absence there is not a deletion. Directory mtimes are not
 * imported (the store sets them as it applies changes).
 *
 * Hard links: the export writes the names of one vault inode as host hard links, so an untouched
 * pair stays untouched. Afterwards, names whose partners changed (a link made, a name replaced by
 * a new file, a new name linked to an old one) are re-linked to match the host: a name that kept
 * its host inode keeps its vault inode; one that did not is removed and linked to a name of its
 * group that kept the inode, or, when none did, to the group's first name written as a new file.
 */

/**
 * More than the coarsest file timestamp granularity Linux uses (one jiffy: 10 ms at HZ=100), so a
 * write after this much time past the newest exported ctime always gets a larger ctime.
 */
const SETTLE_MS = 20;
/** Spare room tmpfs must keep beyond the vault's size to be used for the copy. */
const TMPFS_SPARE = 1024 ** 3;
/** statfs(2)'s f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

interface HostStat {
  type: 'f' | 'd' | 'l' | Special;
  mode: number;
  /** Device number (character and block devices). */
  rdev: number;
  size: number;
  /** A file's bytes no block holds (size less allocated blocks): holes, read as zeros. */
  holes: number;
  ino: bigint;
  /** How many names the host inode has (planRelinks looks only at files with more than one, before or after). */
  nlink: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  target?: string;
}

export interface CopySession {
  /** Reserved names of a sandbox root (created in the copy as the layout says, never imported), or null. */
  layout: SandboxLayout | null;
  /** The private temporary directory (removed by `dispose`). */
  base: string;
  /** Where the vault root is materialised. */
  root: string;
  /** The change sequence the materialised state corresponds to. */
  seq: number;
  /** The vault's entries as exported, by path: what syncBack compares the copy with. */
  entries: Map<string, ExportedEntry>;
  /** Host stat of every exported path, right after the export. */
  baseline: Scan;
  /** The layout's symlinks (`/lib -> usr/lib`) by host inode: moved or linked elsewhere by the command, they are still the sandbox's, not the vault's. */
  layoutLinks: LayoutLinks;
  /** The command may start at this time (ms since the epoch): see SETTLE_MS. */
  readyAt: number;
}

export interface SyncSummary {
  added: number;
  modified: number;
  deleted: number;
  /** Files read and hashed to decide whether they changed. */
  hashed: number;
  skipped: { path: string; reason: string }[];
}

type Special = 'p' | 's' | 'c' | 'b';

/**
 * A layout symlink's host inode, with its birth time and target: a symlink the command makes after
 * removing one of the layout's may get the freed inode number, and is the vault's to import. Where
 * the filesystem keeps no birth time (libuv then reports the change time, which a move changes),
 * the target tells them apart instead.
 */
type LayoutLinks = Map<bigint, { birth: bigint; target: string }>;
const isSpecial = (type: string): type is Special => type === 'p' || type === 's' || type === 'c' || type === 'b';

/** What the host has at `host`; null for a kind a vault cannot hold, undefined for a link whose target is not UTF-8. */
function hostStat(st: BigIntStats, type: HostStat['type'] | null, host: Buffer): HostStat | null | undefined {
  if (!type) return null;
  const rdev = type === 'c' || type === 'b' ? Number(st.rdev) : 0;
  const size = isSpecial(type) ? 0 : Number(st.size);
  const holes = type === 'f' ? Math.max(0, size - Number(st.blocks) * 512) : 0;
  const out: HostStat = { type, mode: Number(st.mode & 0o7777n), rdev, size, holes, ino: st.ino, nlink: Number(st.nlink), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
  if (type === 'l') {
    out.target = readHostLink(host);
    if (out.target === undefined) return undefined;
  }
  return out;
}

interface Scan {
  stats: Map<string, HostStat>;
  /** Directories that could not be listed (mode 000 for a non-root user): their contents are unknown. */
  unlisted: string[];
}

/**
 * Whether host directory `host` (vault path `path`) holds a name whose vault path would be longer
 * than a new entry's may be (MAX_NEW_PATH_BYTES): one the import could not create, and one that
 * would refuse the whole import. An unreadable directory is left to the walk.
 */
function holdsPastVaultLimit(host: Buffer, path: string): boolean {
  const bytes = path === '/' ? 0 : Buffer.byteLength(path);
  if (bytes + 1 + MAX_NAME_BYTES <= MAX_NEW_PATH_BYTES) return false;
  try {
    return atHostPath(host, (at) => readdirSync(at, { encoding: 'buffer' })).some((name) => bytes + 1 + name.length > MAX_NEW_PATH_BYTES);
  } catch {
    return false;
  }
}

/** Every path below `root` on the host (lstat, symlinks not followed), as vault paths; a sandbox's reserved names are not looked at. */
function scan(root: string, skipped: SyncSummary['skipped'], layout: SandboxLayout | null, layoutLinks: LayoutLinks = new Map()): Scan {
  const stats = new Map<string, HostStat>();
  const unlisted: string[] = [];
  // However deep: the export reproduces the vault's deep trees, whose host paths pass PATH_MAX.
  const lstat = (host: Buffer) => atHostPath(host, (at) => lstatSync(at, { bigint: true }));
  const top = Buffer.from(root);
  walkHostTree(top, '/', lstat(top), {
    lstat,
    skip: (path) => !!layout?.covers(path),
    // A name that is not UTF-8 cannot be a vault path: left in the copy, not imported.
    invalidName: (_host, parent, name) => void skipped.push({ path: joinPath(parent, escapeBytes(name)), reason: 'name is not valid UTF-8' }),
    unlisted: (path, err) => {
      // A directory the command made unreadable (chmod 000): nothing below it can be imported.
      skipped.push({ path, reason: `cannot list: ${err.code ?? err.message}` });
      unlisted.push(path);
    },
    visit: ({ host, path, st, type }) => {
      const stat = hostStat(st, type, host);
      if (stat === undefined) return void skipped.push({ path, reason: 'symlink target is not valid UTF-8' });
      if (!stat) return void skipped.push({ path, reason: 'not a regular file, directory or symlink' });
      // A whiteout, character device 0:0, is what rename(RENAME_WHITEOUT) leaves at the old name
      // (tmpfs makes one without CAP_MKNOD): "nothing here", as overlayfs reads it. Imported as a
      // device, an export as root made it on the host; the mount refuses that rename.
      if (stat.type === 'c' && stat.rdev === 0) return;
      // The sandbox's own symlink under another name (`mv /lib /mylib`): never the vault's to import, as at its own name.
      const layoutLink = stat.type === 'l' ? layoutLinks.get(stat.ino) : undefined;
      if (layoutLink && (layoutLink.birth === st.birthtimeNs || layoutLink.target === stat.target)) return void skipped.push({ path, reason: "the sandbox's own symlink, moved or linked here by the command: not imported" });
      stats.set(path, stat);
      // A tree made with relative paths can be deeper than the vault's paths may be.
      if (type === 'd' && holdsPastVaultLimit(host, path)) {
        skipped.push({ path, reason: `not imported: its entries' vault paths would be over ${MAX_NEW_PATH_BYTES} bytes, the longest a new entry may have` });
        unlisted.push(path);
        return false;
      }
    },
  });
  return { stats, unlisted };
}

const COPY_PREFIX = 'avfs-proxy-';

/**
 * The runtime directory the copy goes in: in `parent` when given, else copyParent's choice. In
 * /dev/shm, which every user shares, another user may have made this user's directory first (it
 * is then refused as not private, and only they may remove it): the system temp directory instead.
 */
function copyRuntimeDir(parent: string | undefined, bytes: number): string {
  const chosen = parent ?? copyParent(bytes);
  try {
    return runtimeDir(chosen);
  } catch (err) {
    const squatted = err instanceof AvfsError && err.data.reason === 'not_private';
    if (parent !== undefined || chosen !== '/dev/shm' || process.env.AVFS_PROXY_TMPDIR || !squatted) throw err;
    try {
      return runtimeDir(tmpdir());
    } catch (fallback) {
      // Both failed: the first cause is the one to fix (another user took /dev/shm's name).
      if (fallback instanceof AvfsError) fallback.message = `${(err as AvfsError).message}; the system temp directory was tried instead: ${fallback.message}`;
      throw fallback;
    }
  }
}

/** Where to put the copy: AVFS_PROXY_TMPDIR, else tmpfs when it has room, else the system temp directory. */
export function copyParent(bytes: number): string {
  if (process.env.AVFS_PROXY_TMPDIR) return process.env.AVFS_PROXY_TMPDIR;
  try {
    const st = statfsSync('/dev/shm');
    if (st.type === TMPFS_MAGIC && st.bavail * st.bsize >= bytes + TMPFS_SPARE) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return tmpdir();
}

/** The vault's entries by path (not those a sandbox's reserved names hide), and the change sequence they correspond to (call inside a read transaction). */
/** What syncBack needs of an exported entry: a whole Entry per path held ~450 bytes more at 100k entries. */
type ExportedEntry = Pick<Entry, 'type' | 'mode' | 'size' | 'hash' | 'target' | 'rdev' | 'ino' | 'nlink'>;

function snapshotEntries(fs: VaultFs, layout: SandboxLayout | null): { seq: number; entries: Map<string, ExportedEntry> } {
  const entries = new Map<string, ExportedEntry>();
  for (const e of [fs.stat('/'), ...fs.walk('/')]) {
    if (!layout?.covers(e.path)) entries.set(e.path, { type: e.type, mode: e.mode, size: e.size, hash: e.hash, target: e.target, rdev: e.rdev, ino: e.ino, nlink: e.nlink });
  }
  return { seq: currentSeq(fs.store), entries };
}

/**
 * The layout's entries in the copy, in place of anything the vault has under those names. Its
 * directories are read-only (0555): one nothing is mounted on (`/opt` above a bind at
 * `/opt/tool`) is no vault path, so a file written there was neither imported nor reported; now
 * the write fails (EACCES: the command has no capability past permission bits), as in mount mode
 * (EROFS).
 */
function createLayout(root: string, layout: SandboxLayout): LayoutLinks {
  for (const name of layout.topNames) removeHostTree(join(root, name));
  const dirs: string[] = [];
  const links: LayoutLinks = new Map();
  for (const node of layout.all()) {
    const host = join(root, node.path.slice(1));
    if (node.kind === 'dir') {
      mkdirSync(host);
      dirs.push(host);
    } else if (node.kind === 'symlink') {
      symlinkSync(node.target!, host);
      const st = lstatSync(host, { bigint: true });
      links.set(st.ino, { birth: st.birthtimeNs, target: node.target! });
    } else writeFileSync(host, '', { mode: 0o444 });
  }
  for (const dir of dirs) chmodSync(dir, 0o555);
  return links;
}

/**
 * Exports the vault (as one consistent snapshot) into a new private temporary directory; with a
 * sandbox `layout`, its reserved names hold the layout instead of the vault's entries.
 */
export function materialize(fs: VaultFs, parent?: string, layout: SandboxLayout | null = null, execId?: string): CopySession {
  // A first look decides where the copy fits; the export below re-reads if anything changed since.
  let snap = fs.store.read(() => snapshotEntries(fs, layout));
  let bytes = 0;
  for (const e of snap.entries.values()) bytes += e.size;
  // Named after the exec, so the copy of one whose avfs was killed can be found and removed.
  const base = mkdtempSync(join(copyRuntimeDir(parent, bytes), execId ? `${COPY_PREFIX}${execId}-` : COPY_PREFIX));
  const root = join(base, 'vault');
  try {
    mkdirSync(root);
    // One read transaction: the sequence number, the entry list and the content exported all
    // belong to the same state, whatever other writers do meanwhile.
    fs.store.read(() => {
      if (currentSeq(fs.store) !== snap.seq) snap = snapshotEntries(fs, layout);
      exportTree(fs, '/', root, true, undefined, { pastPathMax: true });
    });
    const layoutLinks = layout ? createLayout(root, layout) : new Map();
    chmodSync(root, snap.entries.get('/')!.mode);
    const baseline = scan(root, [], layout);
    let newest = 0n;
    for (const st of baseline.stats.values()) if (st.ctimeNs > newest) newest = st.ctimeNs;
    return { layout, base, root, seq: snap.seq, entries: snap.entries, baseline, layoutLinks, readyAt: Number(newest / 1_000_000n) + SETTLE_MS };
  } catch (err) {
    removeHostTree(base);
    throw err;
  }
}

function readHostFile(fs: VaultFs, host: string): ContentRef {
  const fd = atHostPath(host, (at) => openSync(at, 'r'));
  try {
    return putContentFromFd(fs.store, fd);
  } finally {
    closeSync(fd);
  }
}

export interface SyncOptions {
  /**
   * Holes (zeros never written: `truncate -s 1T`) a file may gain since the export and still be
   * imported, and all the files of the run together; a file over it (alone, or with the files
   * imported before it) is left out and listed in `skipped`, before anything reads it. The
   * mount's bound (mount/zero-fill.ts MAX_ZERO_FILL) is passed here: reading and hashing zeros
   * costs about 7 s per GiB, after the command's timeout, so twenty files just under the bound
   * took 129 s after a 3 s timeout before the run had a bound of its own.
   */
  maxZeroFill?: number;
}

/** Imports what changed in the copy since `materialize`, as `fs`'s actor. */
export function syncBack(fs: VaultFs, session: CopySession, options: SyncOptions = {}): SyncSummary {
  const summary: SyncSummary = { added: 0, modified: 0, deleted: 0, hashed: 0, skipped: [] };
  const after = scan(session.root, summary.skipped, session.layout, session.layoutLinks);
  const now = after.stats;
  // Below a directory that could not be listed (before or after), nothing is known: change nothing there.
  const blind = [...session.baseline.unlisted, ...after.unlisted];
  const unknown = (p: string) => blind.some((d) => p !== d && isWithin(p, d));
  const hostPath = (p: string) => (p === '/' ? session.root : join(session.root, p.slice(1)));

  const removals: string[] = [];
  const creations: string[] = [];
  /** Files whose content or mode may have changed, with the new content when read. */
  const contents = new Map<string, ContentRef>();
  const chmods: { path: string; mode: number }[] = [];
  const times: { path: string; mtime: number }[] = [];
  /** Files left out for their holes (SyncOptions.maxZeroFill). */
  const refused = new Set<string>();
  /** Holes the files imported so far gained. */
  let holesImported = 0;
  const tooSparse = (path: string): boolean => {
    const limit = options.maxZeroFill;
    if (limit === undefined) return false;
    const host = now.get(path)!;
    const base = session.baseline.stats.get(path);
    const grew = Math.max(0, host.holes - (base?.type === 'f' ? base.holes : 0));
    if (grew <= limit && holesImported + grew <= limit) {
      holesImported += grew;
      return false;
    }
    refused.add(path);
    const beyond = grew > limit ? `more than the ${limit} a file may gain between two saves` : `with the files imported before it, more than the ${limit} a run may gain`;
    summary.skipped.push({ path, reason: `gained ${grew} bytes of holes (zeros never written) since the export, ${beyond}; not imported` });
    return true;
  };

  const mtimeOf = (host: HostStat) => Number(host.mtimeNs / 1_000_000n);
  /** A directory's, symlink's or special file's time, when the command set it or changed what the directory holds. */
  const timeMoved = (path: string, host: HostStat) => {
    if (session.baseline.stats.get(path)?.mtimeNs !== host.mtimeNs) times.push({ path, mtime: mtimeOf(host) });
  };
  const relink = planRelinks(session.baseline.stats, now, unknown);
  // A file the command replaced (another host inode at its name: sed -i, mv over it, rm and
  // create) is a new vault inode too when the vault's has names the copy did not show (under a
  // sandbox's reserved names): planRelinks sees only the names exported, so the new bytes went
  // into the hidden names as well. As in mount mode, they keep the old file.
  for (const [path, entry] of session.entries) {
    const before = session.baseline.stats.get(path);
    const host = now.get(path);
    if (entry.type === 'f' && (entry.nlink ?? 1) > 1 && before && host?.type === 'f' && host.ino !== before.ino && !relink.has(path) && !unknown(path)) relink.set(path, null);
  }
  for (const [path, entry] of session.entries) {
    if (unknown(path) || relink.has(path)) continue;
    const host = now.get(path);
    if (isSpecial(entry.type)) {
      // A special file carries no content. One the export could not make on the host (a socket;
      // a device without root) is not in the copy at all: its absence is not a deletion.
      if (!host) {
        if (session.baseline.stats.has(path)) removals.push(path);
      } else if (host.type !== entry.type || host.rdev !== entry.rdev) {
        removals.push(path);
        creations.push(path);
      } else {
        if (host.mode !== (entry.mode & 0o7777)) chmods.push({ path, mode: host.mode });
        timeMoved(path, host);
      }
      continue;
    }
    if (!host) {
      if (path !== '/') removals.push(path);
      continue;
    }
    if (host.type !== entry.type || (host.type === 'l' && host.target !== entry.target)) {
      removals.push(path);
      creations.push(path);
      continue;
    }
    if (host.type === 'l') {
      timeMoved(path, host);
      continue;
    }
    if (host.type === 'd') {
      if (host.mode !== (entry.mode & 0o7777)) chmods.push({ path, mode: host.mode });
      timeMoved(path, host);
      continue;
    }
    const base = session.baseline.stats.get(path);
    const untouched = base && base.ino === host.ino && base.size === host.size && base.mtimeNs === host.mtimeNs && base.ctimeNs === host.ctimeNs;
    if (untouched || tooSparse(path)) continue;
    summary.hashed++;
    if (host.size !== entry.size || hashHostFile(hostPath(path)) !== entry.hash) {
      contents.set(path, readHostFile(fs, hostPath(path)));
      continue;
    }
    if (host.mode !== (entry.mode & 0o7777)) chmods.push({ path, mode: host.mode });
    // Times only (touch): imported without a version, like the mount's utimens.
    if (!base || base.mtimeNs !== host.mtimeNs) times.push({ path, mtime: mtimeOf(host) });
  }
  for (const path of now.keys()) {
    if (session.entries.has(path) || unknown(path) || relink.has(path)) continue;
    creations.push(path);
  }
  for (const [path, to] of relink) {
    if (to !== null || tooSparse(path)) continue;
    contents.set(path, readHostFile(fs, hostPath(path)));
    summary.hashed++;
  }
  for (const [path, to] of relink) {
    if (to === null || !refused.has(to)) continue;
    relink.delete(path);
    summary.skipped.push({ path, reason: `a hard link to ${to}, which was not imported` });
  }
  for (const [path, to] of relink) if (to === null && refused.has(path)) relink.delete(path);
  for (const path of creations) {
    const host = now.get(path)!;
    if (host.type === 'f' && !tooSparse(path)) {
      contents.set(path, readHostFile(fs, hostPath(path)));
      summary.hashed++;
    }
  }

  // Removals deepest first, each with the topmost removed path above it: a removed directory the
  // vault now holds just as the command saw it goes in one recursive removal.
  const removed = new Set(removals);
  const topOf = (p: string) => {
    while (p !== '/' && removed.has(dirname(p))) p = dirname(p);
    return p;
  };
  removals.sort().reverse();
  const kept = creations.filter((p) => !refused.has(p)).sort();
  const created = new Set(kept);

  try {
    fs.store.mutate(() => {
      // Others may have changed the vault while the command ran. The command's changes are applied
      // over whatever is there now (its state of a path wins), and a path someone else already
      // removed or created is not an error.
      // Only what the command saw is removed: a name someone else made meanwhile in a directory
      // it removed stays, with the directories above it.
      /**
       * The entry above `path` that is, in the vault now, not a directory: a symlink or file
       * someone else put in place of a directory while the command ran. The vault's lookups follow
       * a symlink there, so the command's entry would land somewhere it never wrote (and be
       * recorded as its change); such paths are left alone. Directories found are remembered:
       * one the import removes later (clear) is forgotten; one below a tree the command removed
       * (rm -r above) may stay remembered, as no path the command kept lies below it.
       */
      const directories = new Set<string>();
      const blockedAbove = (path: string): Entry | undefined => nonDirectoryAbove(fs.store, fs.row(), path, directories);
      const leftOut = (path: string, blocker: Entry) =>
        summary.skipped.push({ path, reason: `${blocker.path} above it became a ${KIND[blocker.type].replace('_', ' ')} in the vault while the command ran; not imported through it` });
      const exact = new Map<string, boolean>();
      const seenOnly = (top: string) => {
        if (!exact.has(top)) {
          const entry = fs.exists(top) ? fs.lstat(top) : undefined;
          exact.set(top, !!entry && (entry.type !== 'd' || fs.walk(top).every((e) => removed.has(e.path))));
        }
        return exact.get(top)!;
      };
      for (const path of removals) {
        if (blockedAbove(path)) continue; // what the command removed is not there any more
        const top = topOf(path);
        if (seenOnly(top)) {
          if (path === top) summary.deleted += fs.rm(path, { recursive: true }).length;
          continue;
        }
        if (!fs.exists(path)) continue;
        if (fs.lstat(path).type === 'd' && fs.list(path).length > 0) continue; // holds someone else's
        fs.rm(path);
        summary.deleted++;
      }
      /**
       * Makes way at `path` for the command's entry of type `keep` (null: a new inode, whatever is
       * there goes); an entry of that type, not a symlink, is written over. A directory that still
       * holds names (someone else's, made during the run: the command's were removed above)
       * stays, and the command's entry there is left out, reported.
       */
      const clear = (path: string, keep: HostStat['type'] | null): boolean => {
        const blocker = blockedAbove(path);
        if (blocker) {
          leftOut(path, blocker);
          return false;
        }
        if (!fs.exists(path)) return true;
        const existing = fs.lstat(path);
        if (existing.type === keep && keep !== 'l') return true;
        if (existing.type === 'd' && fs.list(path).length > 0) {
          summary.skipped.push({ path, reason: 'someone else made it a directory and put entries in it during the run; theirs is kept, the command\'s is not imported' });
          return false;
        }
        fs.rm(path);
        directories.delete(path);
        return true;
      };
      for (const path of kept) {
        const host = now.get(path)!;
        if (!clear(path, host.type)) continue;
        if (host.type === 'd') {
          fs.mkdir(path, { mode: host.mode, parents: true });
          fs.chmod(path, host.mode);
          times.push({ path, mtime: mtimeOf(host) });
        } else if (host.type === 'l') {
          fs.symlink(host.target!, path, { times: { atime: mtimeOf(host), mtime: mtimeOf(host) } });
        } else if (isSpecial(host.type)) {
          fs.mknod(path, host.type, host.mode, host.rdev);
          times.push({ path, mtime: mtimeOf(host) });
        } else {
          fs.writeContent(path, contents.get(path)!, { parents: true, mode: host.mode, mtime: mtimeOf(host) });
        }
        summary.added++;
      }
      /**
       * When the command only appended to a file that someone else (another run, a mount) also
       * only appended to during the run, as two writers of one log do: theirs, then the command's
       * bytes, as two appends to one local file. Otherwise undefined: the command's state wins.
       */
      const appendedAfterOthers = (path: string, content: ContentRef): ContentRef | undefined => {
        const base = session.entries.get(path);
        const current = fs.exists(path) ? fs.lstat(path) : undefined;
        if (base?.type !== 'f' || !base.hash || current?.type !== 'f' || !current.hash || current.hash === base.hash) return undefined;
        const tail = content.size - base.size;
        if (tail <= 0 || tail > MAX_APPEND_MERGED || current.size < base.size || !isStored(fs.store, base.hash)) return undefined;
        if (!contentStartsWith(fs.store, content.hash, base.hash, base.size) || !contentStartsWith(fs.store, current.hash, base.hash, base.size)) return undefined;
        return putAppendedContent(fs.store, current.hash, readContent(fs.store, content.hash, base.size, tail));
      };
      // Names of one vault inode changed together on the host: written once, through the first.
      const written = new Map<number, string>();
      for (const [path, commands] of contents) {
        if (created.has(path) || relink.has(path)) continue;
        const host = now.get(path)!;
        if (!clear(path, 'f')) continue;
        const ino = fs.exists(path) ? fs.lstat(path).ino : undefined;
        if (ino !== undefined && written.get(ino) === commands.hash) {
          summary.modified++;
          continue;
        }
        // (Not after a name of the same inode this loop wrote: that change is the command's own.)
        const merged = ino !== undefined && written.has(ino) ? undefined : appendedAfterOthers(path, commands);
        const entry = fs.writeContent(path, merged ?? commands, { parents: true, mode: host.mode, mtime: mtimeOf(host) });
        written.set(entry.ino, commands.hash);
        if (merged) abandonContent(fs.store, commands); // stored from the copy, not linked: what only it used goes
        summary.modified++;
      }
      // Then the names whose links changed: fresh inodes first, then the names linking to them.
      for (const [path, to] of relink) {
        if (to !== null) continue;
        const host = now.get(path)!;
        if (!clear(path, null)) continue;
        fs.writeContent(path, contents.get(path)!, { parents: true, mode: host.mode, mtime: mtimeOf(host) });
        if (session.entries.has(path)) summary.modified++;
        else summary.added++;
      }
      for (const [path, to] of relink) {
        if (to === null) continue;
        const blocker = blockedAbove(to);
        if (blocker) {
          summary.skipped.push({ path, reason: `a hard link to ${to}, which was not imported` });
          continue;
        }
        if (!clear(path, null)) continue;
        if (!fs.exists(path)) fs.mkdir(dirname(path), { parents: true });
        fs.link(to, path);
        if (session.entries.has(path)) summary.modified++;
        else summary.added++;
      }
      for (const { path, mode } of chmods) {
        // Only onto the file the command changed the mode of: one moved, removed or replaced in
        // the vault while the command ran (a new file, a directory, a symlink, which chmod would
        // follow) is someone else's, and the chmod is said to be left out, not dropped in silence.
        // (The same file with new content from someone else takes the mode: the two changes meet.)
        const base = session.entries.get(path)!;
        const blocker = blockedAbove(path);
        if (blocker) {
          leftOut(path, blocker);
          continue;
        }
        const current = fs.entryExact(path);
        if (current?.type !== base.type || current.ino !== base.ino) {
          const what = current ? `replaced in the vault while the command ran (now a ${KIND[current.type].replace('_', ' ')})` : 'removed from the vault while the command ran';
          summary.skipped.push({ path, reason: `${what}: its chmod to ${mode.toString(8).padStart(4, '0')} was not applied` });
          continue;
        }
        fs.chmod(path, mode);
        summary.modified++;
      }
      // Last: a directory's time is what the command left after its entries changed. Never
      // through a symlink (touch -h).
      for (const { path, mtime } of times) if (!blockedAbove(path) && fs.entryExact(path)) fs.touchExact([path], null, mtime);
    });
  } catch (err) {
    const error = err instanceof AvfsError ? err : new AvfsError('INTERNAL', (err as Error).message);
    // The copy is kept for its owner to take the command's work from: without the layout's empty,
    // read-only mountpoints (createLayout), which are none of it and would stop a plain `rm -r`.
    try {
      for (const name of session.layout?.topNames ?? []) removeHostTree(join(session.root, name));
      clearSetIdBits(session.root);
    } catch {
      // kept as it is: the import's error is the one to report
    }
    const kept = keptOnDisk(session, fs.store.home);
    throw AvfsError.fromJSON({ ...error.toJSON(), message: `the command's changes could not be imported into the vault: ${error.message}`, kept_dir: kept });
  }
  return summary;
}

/**
 * Where a copy whose import was refused is kept. A copy on tmpfs is memory: left there, every
 * refused run would pin what its command wrote (up to its memory limit) until someone removed it,
 * and a command can get itself refused on purpose, run after run. So it moves to the home's
 * `kept/` directory on disk (`cp -a`: hard links, modes, symlinks and names that are not UTF-8
 * as they are; its owner's read and write bits added), under the same `avfs-proxy-<exec_id>-*`
 * name. Where the disk has no room for it (1 GiB to spare) or the move fails, the copy stays where
 * it is rather than be lost.
 */
function keptOnDisk(session: CopySession, home: string): string {
  const target = join(home, KEPT_DIR, basename(session.base));
  try {
    const disk = statfsSync(home);
    if (statfsSync(session.root).type !== TMPFS_MAGIC || disk.type === TMPFS_MAGIC) return session.root;
    // What its owner cannot read (a directory the command made 0000) du and cp could not read:
    // the owner gets read and write (and search on directories) first, not being root.
    execFileSync('chmod', ['-R', 'u+rwX', '--', session.root], { stdio: 'ignore' });
    // Not onto a disk it would fill: the home's database lives there too.
    const bytes = Number(execFileSync('du', ['-sxB1', '--', session.root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\t')[0]);
    if (!(bytes + TMPFS_SPARE <= disk.bavail * disk.bsize)) return session.root;
    mkdirSync(target, { recursive: true, mode: 0o700 });
    execFileSync('cp', ['-a', '--', session.root, target], { stdio: 'ignore' });
  } catch {
    removeHostTree(target);
    return session.root;
  }
  removeHostTree(session.base);
  return join(target, 'vault');
}

/**
 * Clears the set-user-ID and set-group-ID bits of the files under `root`, as export does
 * (store/transfer.ts hostMode): a kept copy is for its owner to take the command's work from
 * (`cp -a` carries the bits along), and no program a command made becomes privileged on the host.
 * Names that are not UTF-8 too: they are walked by bytes.
 */
function clearSetIdBits(root: string): void {
  const host = Buffer.from(root);
  const walk: HostWalk<Stats> = {
    lstat: (at) => atHostPath(at, (p) => lstatSync(p)),
    visit: ({ host: at, st }) => {
      if (st.isFile() && st.mode & 0o6000) atHostPath(at, (p) => chmodSync(p, st.mode & 0o1777));
    },
    invalidName: (at, parent) => walkHostTree(at, parent, walk.lstat(at), walk),
  };
  walkHostTree(host, '/', walk.lstat(host), walk);
}

/** The most a command's appends to a file others appended to meanwhile may be for them to go after theirs (read into memory). */
const MAX_APPEND_MERGED = 64 * 1024 * 1024;

/**
 * The files whose hard links changed between the export (`before`) and now: every member of a
 * host inode's group of names that differs from the group the name had before. Each maps to the
 * name it is to be linked to, or to null when it becomes a new inode, written from its content.
 * A name that kept its host inode keeps its vault inode and is not listed.
 */
function planRelinks(before: Map<string, HostStat>, after: Map<string, HostStat>, unknown: (p: string) => boolean): Map<string, string | null> {
  // A file with one name before and after is alone in its group both times, so never relinked:
  // only names with more on either side are grouped (at 100k files, grouping every file held
  // two maps and an array per file on each side).
  const linked = (path: string) => (before.get(path)?.nlink ?? 0) > 1 || (after.get(path)?.nlink ?? 0) > 1;
  const groups = (stats: Map<string, HostStat>) => {
    const byIno = new Map<bigint, string[]>();
    for (const [path, st] of stats) {
      if (st.type !== 'f' || unknown(path) || !linked(path)) continue;
      const names = byIno.get(st.ino);
      if (names) names.push(path);
      else byIno.set(st.ino, [path]);
    }
    const partners = new Map<string, string>();
    for (const names of byIno.values()) {
      const key = names.sort().join('\0');
      for (const name of names) partners.set(name, key);
    }
    return { byIno, partners };
  };
  const old = groups(before);
  const now = groups(after);
  const relink = new Map<string, string | null>();
  for (const names of now.byIno.values()) {
    if (names.every((n) => old.partners.get(n) === now.partners.get(n))) continue;
    const ino = after.get(names[0]!)!.ino;
    const keeper = names.find((n) => before.get(n)?.type === 'f' && before.get(n)!.ino === ino);
    const target = keeper ?? names[0]!;
    for (const name of names) {
      if (name === keeper) continue;
      relink.set(name, name === target ? null : target);
    }
  }
  // A name that kept its inode while partners left it needs nothing itself: each partner that
  // left has another host inode now, so it is listed in its own group.
  return relink;
}

/** Removes the temporary copy, however deep the command made it (host-dirs.ts removeHostTree). */
export function dispose(session: CopySession): void {
  removeHostTree(session.base);
}

/**
 * Removes the copies left by an exec whose avfs died (kill -9) before it could: wherever a copy
 * may have been put. Returns the directories removed.
 */
export function disposeDeadCopies(execId: string): string[] {
  const removed: string[] = [];
  // Copies made before they moved into the runtime directory lie in the parents themselves.
  for (const parent of runtimeParents().flatMap((p) => [runtimeDirIn(p), p])) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(`${COPY_PREFIX}${execId}-`)) continue;
      removeHostTree(join(parent, name));
      removed.push(join(parent, name));
    }
  }
  return removed;
}
