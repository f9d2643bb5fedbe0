import { fstatSync } from 'node:fs';
import { hashBytes } from '../core/hash.js';
import { AvfsError, alreadyExists, isADirectory, notADirectory, notFound } from '../errors.js';
import { isWellFormed } from '../core/utf8.js';
import { ancestors, basename, dirname, isWithin, joinPath, namesDirectory, normalizePath, rebase, resolvePath } from '../core/paths.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, KIND, copiedMode, formatMode } from '../core/entry-types.js';
import { audit } from './audit.js';
import { abandonContent, contentChunks, contentStartsWith, isStored, linkContent, putContent, putContentFromFd, putAppendedContent, putDigestedContentFromFd, putEditedContent, readContent, type Arrival, type ContentDigest, type ContentEdit, type ContentRef, type DigestedPut, type SizeLimit } from './blobs.js';
import {
  addName,
  copyBelow,
  getEntry,
  hasChildAfter,
  hasChildren,
  iterateDescendants,
  listChildren,
  listDescendants,
  lastVersion,
  moveBelow,
  putEntry,
  shareCtime,
  removeDescendants,
  removeEntry,
  reserveInos,
  setTimes,
  type ChangeOptions,
  type Entry,
  type EntryState,
  type MovePart,
} from './entries.js';
import { enforceQuota, enforceQuotaForAll, hasQuota, streamLimit } from './quota.js';
import { now, type Actor, type Store } from './store.js';
import { getVault, type VaultRow } from './vaults.js';
import { assertFileTarget, assertMovable, assertNamedOperand, assertNotRoot, requireEntry } from './guards.js';
import { pushAll } from '../core/arrays.js';
import { MinHeap } from '../core/heap.js';

/** Owner ids of a new entry; null is "whoever mounts or reads the vault" (the default). */
export interface Owner {
  uid: number | null;
  gid: number | null;
}

/** The mode and times of a file the mount stores (VaultFs.writeFileExact). */
export interface ExactAttributes {
  mode: number;
  atime: number;
  mtime: number;
  /** When the file changed, as the kernel saw it (it is stored only when it is closed). */
  ctime: number;
  /** When a file that is new to the store was created, which its directory shows. */
  createdAt?: number;
}

export interface WriteOptions {
  /** Create missing parent directories. */
  parents?: boolean;
  mode?: number;
  mtime?: number;
  /** Fail with ALREADY_EXISTS instead of replacing an existing file. */
  exclusive?: boolean;
  op?: string;
  /** Owner ids the file gets (import as root keeps the host's); absent keeps what it has. */
  owner?: Owner;
  /** Streamed writes: told how many bytes were read so far (a progress display). */
  progress?: (bytesSoFar: number) => void;
}

/**
 * The vault a name named when first read, which a VaultFs (or an SDK instance, across its calls)
 * works on from then on: its id and creation time. SQLite gives a new row the highest id again
 * once that row is deleted, so the id alone does not tell a vault made under the name since; both
 * together do, but for a delete and create within the millisecond the first vault was created in.
 */
export interface VaultPin {
  vault?: { id: number; createdAt: number };
}

/** `row`, pinned when nothing is yet; VAULT_NOT_FOUND (vault_replaced) when it is another vault than the one pinned. */
export function holdPin(pin: VaultPin, row: VaultRow): VaultRow {
  const pinned = (pin.vault ??= { id: row.id, createdAt: row.created_at });
  if (row.id !== pinned.id || row.created_at !== pinned.createdAt) {
    throw new AvfsError('VAULT_NOT_FOUND', `vault ${row.name} was deleted while this ran (a new vault has its name now, which is not changed)`, { vault: row.name, reason: 'vault_replaced' });
  }
  return row;
}

/** Up to this many levels, a depth-limited walk lists directory by directory (VaultFs.walk). */
const WALK_BY_LEVEL_MAX = 16;

/** How many levels below the root a path is ('/' 0, '/a' 1). */
const levels = (path: string) => (path === '/' ? 0 : path.split('/').length - 1);

/**
 * File operations on one vault, as one actor. Each public mutation is one IMMEDIATE transaction
 * that validates everything first, so a failed call changes nothing. Paths are user input here:
 * they are normalised and validated, and symlinks in them are followed like POSIX path lookup.
 * The mount's paths are canonical already (the kernel resolved them) and some of its calls must
 * not follow a symlink at the end or must keep times the kernel was shown: it uses the
 * `*Exact` methods (`writeFileExact`, `touchExact`), which take the path as it is. Either way,
 * only this module and entries.ts know which tables a change touches
 * (ARCHITECTURE.md, "The one door for changes").
 */
export class VaultFs {
  constructor(
    readonly store: Store,
    readonly name: string,
    readonly actor: Actor,
    /** Where the vault this instance works on is kept: its own, or one an SDK instance shares across its calls. */
    private readonly pin: VaultPin = {},
  ) {}

  /**
   * The vault row, read fresh (quotas and inode counters can change under other processes). Always
   * the same vault: once it is deleted, a vault made under its name since is someone else's, and a
   * long job (a streamed write, an import, a copy-mode run's import) must not finish in it.
   */
  row(): VaultRow {
    return holdPin(this.pin, getVault(this.store, this.name));
  }

  // ---- lookup ----------------------------------------------------------------------------

  /**
   * Resolves user input to the canonical path of the entry it names, following symlinks in every
   * component (and in the last one when `followLast`). A path with missing components resolves to
   * where it would be created.
   */
  resolve(input: string, followLast = true): string {
    return this.store.read(() => this.resolveIn(this.row(), normalizePath(input), followLast));
  }

  private resolveIn(vault: VaultRow, path: string, followLast: boolean): string {
    return this.resolveEntry(vault, path, followLast).path;
  }

  /**
   * resolveIn, with the entry found there when the lookup already read it (so callers need not
   * read it again). `creating` (a file to be written) marks a last name a link's target gives
   * with a trailing `/` as `slashed` (core/paths.ts PathEnd).
   */
  private resolveEntry(vault: VaultRow, path: string, followLast: boolean, creating = false): { path: string; entry?: Entry; slashed?: boolean } {
    const direct = getEntry(this.store, vault, path);
    // Entries are stored under real paths, so an existing row means every ancestor is a real directory.
    if (direct && (direct.type !== 'l' || !followLast)) return { path, entry: direct };
    // A name to create in a directory that exists (each file of an import, a write): found by the
    // same rule in one probe instead of one per component.
    if (!direct && path !== '/' && getEntry(this.store, vault, dirname(path))?.type === 'd') return { path };
    return this.resolveComponents(vault, path, followLast, creating);
  }

  /**
   * Where a file is written for `path` (its last link followed). A link whose target ends in `/`
   * names a directory, where no file is made: open(2) with O_CREAT answers EISDIR, whatever is there.
   */
  private resolveFileTarget(vault: VaultRow, path: string): string {
    const resolved = this.resolveEntry(vault, path, true, true);
    if (resolved.slashed) throw isADirectory(resolved.path);
    return resolved.path;
  }

  /**
   * The kernel's lookup (core/paths.ts resolvePath) over the stored entries: `..` in a link's
   * target goes to the parent of where the walk got, never textually (ARCHITECTURE.md, "Paths
   * and symbolic links").
   */
  private resolveComponents(vault: VaultRow, path: string, followLast: boolean, creating: boolean): { path: string; slashed?: boolean } {
    const end = resolvePath(
      path,
      (next) => {
        const entry = getEntry(this.store, vault, next);
        return entry?.type === 'd' ? 'dir' : entry?.type === 'l' ? { link: entry.target! } : null;
      },
      { followLast, creating },
    );
    if ('loop' in end) throw new AvfsError('INVALID_PATH', `too many levels of symbolic links: ${path}`, { path, cause: 'ELOOP' });
    if ('reached' in end) return { path: end.reached, slashed: end.slashed };
    if (getEntry(this.store, vault, end.blocked)) throw notADirectory(end.blocked);
    // A missing directory: the names below it hold no links, so the path is where it would be
    // created (the caller reports NOT_FOUND, or creates parents with -p). A `..` among them (a
    // link to `missing/../x`) climbs out of a directory that is not there: ENOENT, as the kernel.
    if (end.rest.includes('..')) {
      throw new AvfsError('NOT_FOUND', `no such file or directory: ${path} (a link on the way leads through ${end.blocked}, which does not exist)`, { path, vault: this.name, missing: end.blocked });
    }
    return { path: [end.blocked, ...end.rest.filter((n) => n !== '.' && n !== '')].join('/') };
  }

  /**
   * Where `path` leads with a link at its end followed, or undefined when that link leads through
   * a missing directory or a file (stat's ENOENT, ENOTDIR): mv, cp and -p decide what such a
   * link is to them.
   */
  private resolveFollowed(vault: VaultRow, path: string): string | undefined {
    try {
      return this.resolveIn(vault, path, true);
    } catch (err) {
      if (err instanceof AvfsError && (err.code === 'NOT_FOUND' || err.code === 'NOT_A_DIRECTORY')) return undefined;
      throw err;
    }
  }

  /** Whether `path`, its last link followed, is a directory. */
  private leadsToDirectory(vault: VaultRow, path: string): boolean {
    const followed = this.resolveFollowed(vault, path);
    return followed !== undefined && getEntry(this.store, vault, followed)?.type === 'd';
  }

  /** The entry at a canonical path as it is (nothing followed), or undefined: the mount's lookup. */
  entryExact(path: string): Entry | undefined {
    return getEntry(this.store, this.row(), path);
  }

  /** Entry for user input, following symlinks; NOT_FOUND when missing. */
  stat(input: string): Entry {
    return this.lookup(input, true);
  }

  /** Entry for user input without following a symlink in the last component. */
  lstat(input: string): Entry {
    return this.lookup(input, false);
  }

  private lookup(input: string, followLast: boolean): Entry {
    const requested = normalizePath(input);
    return this.store.read(() => {
      const vault = this.row();
      // `link/` is the directory the link points to, for lstat too (POSIX resolves a trailing slash).
      const resolved = this.resolveEntry(vault, requested, followLast || namesDirectory(input));
      const entry = resolved.entry ?? getEntry(this.store, vault, resolved.path);
      if (!entry) throw notFound(requested, this.name);
      this.slashNamesDirectory(input, entry);
      return entry;
    });
  }

  /** Why a file cannot be written at a path that names a directory: IS_A_DIRECTORY if it is one, else NOT_A_DIRECTORY. */
  private notAFile(input: string, path: string): AvfsError {
    let isDir = false;
    try {
      isDir = this.stat(path).type === 'd';
    } catch (err) {
      if (!(err instanceof AvfsError && (err.code === 'NOT_FOUND' || err.code === 'NOT_A_DIRECTORY'))) throw err;
    }
    if (isDir) return isADirectory(path);
    return new AvfsError('NOT_A_DIRECTORY', `${input} ends with '/' but ${path} is not a directory: a file path cannot end with '/'`, { path, input });
  }

  /**
   * `f/` (or `f/.`) names a directory: given for anything else it is NOT_A_DIRECTORY, as POSIX
   * answers ENOTDIR, never the file itself (`rm f/` removed the file). A symlink there must lead
   * to a directory (NOT_FOUND when it leads nowhere); what the command then does with the link is
   * its own rule.
   */
  private slashNamesDirectory(input: string, entry: Entry): void {
    if (!namesDirectory(input) || entry.type === 'd') return;
    if (entry.type !== 'l') throw this.notAFile(input, entry.path);
    const vault = this.row();
    const target = getEntry(this.store, vault, this.resolveIn(vault, entry.path, true));
    if (!target) throw notFound(input, this.name);
    if (target.type !== 'd') throw this.notAFile(input, entry.path);
  }

  exists(input: string): boolean {
    try {
      this.lstat(input);
      return true;
    } catch (err) {
      if (err instanceof AvfsError && (err.code === 'NOT_FOUND' || err.code === 'NOT_A_DIRECTORY')) return false;
      throw err;
    }
  }

  /**
   * A directory's children in path order (the first `limit`, if given; with `after`, a name, those
   * that sort after it: where the last page ended), or the entry itself when it is not a directory.
   */
  list(input: string, limit?: number, after?: string): Entry[] {
    return this.store.read(() => {
      const entry = this.stat(input);
      if (entry.type !== 'd') return [entry];
      return listChildren(this.store, this.row(), entry.path, limit, after === undefined ? undefined : joinPath(entry.path, after));
    });
  }

  /**
   * Every entry below a directory, in path order; with `maxDepth`, only those at most that many
   * levels below it. A shallow look at a large tree (`tree --depth 1` of a 50,000-file vault)
   * lists the directories it shows, level by level, instead of reading every entry and dropping
   * the deep ones, then puts them in path order (which is not a depth-first order: `/a b` comes
   * between `/a` and `/a/x`), comparing UTF-8 bytes as the database does.
   */
  walk(input: string, maxDepth?: number): Entry[] {
    return this.store.read(() => {
      const entry = this.stat(input);
      if (entry.type !== 'd') return [entry];
      if (maxDepth === undefined) return listDescendants(this.store, this.row(), entry.path);
      if (maxDepth > WALK_BY_LEVEL_MAX) {
        // Deep enough to read most of a tree anyway: one scan, the deeper entries dropped.
        const base = levels(entry.path);
        return listDescendants(this.store, this.row(), entry.path).filter((e) => levels(e.path) - base <= maxDepth);
      }
      const out: Entry[] = [];
      const place = (dir: string, depth: number) => {
        for (const child of listChildren(this.store, this.row(), dir)) {
          out.push(child);
          if (child.type === 'd' && depth < maxDepth) place(child.path, depth + 1);
        }
      };
      place(entry.path, 1);
      return out
        .map((e) => ({ e, key: Buffer.from(e.path) }))
        .sort((x, y) => Buffer.compare(x.key, y.key))
        .map(({ e }) => e);
    });
  }

  /**
   * The first `limit` entries of walk(input, maxDepth), and `cut`: the directories among them (and
   * `input`) with children past the limit, without reading the rest of a large tree (MCP `tree`).
   * Without a depth, one scan in path order stops at the limit. With one, the entries come in path
   * order from a heap of listed children, a directory's children joining it when it is taken (each
   * sorts after its parent, so nothing smaller is still unlisted), at most as many per directory as
   * can still be shown. A directory listed has children past the last entry shown, `last`, only
   * when its subtree's range of paths holds `last`: it is `last` or a prefix of it, so those few
   * are asked for one child after `last`.
   */
  walkUpTo(input: string, limit: number, maxDepth?: number): { entries: Entry[]; cut: Set<string> } {
    return this.store.read(() => {
      const entry = this.stat(input);
      if (entry.type !== 'd') return { entries: [entry], cut: new Set<string>() };
      const row = this.row();
      const base = levels(entry.path);
      const entries: Entry[] = [];
      let more = false;
      if (maxDepth === undefined) {
        for (const e of iterateDescendants(this.store, row, entry.path)) {
          if (entries.length === limit) {
            more = true;
            break;
          }
          entries.push(e);
        }
      } else {
        const heap = new MinHeap<{ e: Entry; key: Buffer }>((a, b) => Buffer.compare(a.key, b.key));
        const list = (dir: string) => {
          for (const e of listChildren(this.store, row, dir, limit - entries.length + 1)) heap.push({ e, key: Buffer.from(e.path) });
        };
        list(entry.path);
        while (heap.size > 0 && entries.length < limit) {
          const { e } = heap.pop()!;
          entries.push(e);
          if (e.type === 'd' && levels(e.path) - base < maxDepth) list(e.path);
        }
        more = heap.size > 0;
      }
      const cut = new Set<string>();
      if (!more) return { entries, cut };
      const last = entries.length > 0 ? entries[entries.length - 1]!.path : entry.path;
      // `last` sorts inside a directory's subtree range [dir + '/', dir + '0') when it is the
      // directory or begins with it and a byte up to '/' ('a-b' sorts before 'a/').
      const holds = (dir: string) => dir === '/' || (last.startsWith(dir) && (last.length === dir.length || last.charCodeAt(dir.length) <= 0x2f));
      const listed = entries.filter((e) => e.type === 'd' && (maxDepth === undefined || levels(e.path) - base < maxDepth)).map((e) => e.path);
      for (const dir of [entry.path, ...listed]) if (holds(dir) && hasChildAfter(this.store, row, dir, last)) cut.add(dir);
      return { entries, cut };
    });
  }

  // ---- content ---------------------------------------------------------------------------

  readFile(input: string): Buffer {
    return this.store.read(() => {
      const entry = this.fileEntry(input);
      return entry.hash ? readContent(this.store, entry.hash) : Buffer.alloc(0);
    });
  }

  /** Reads a byte range, loading only the chunks that overlap it. */
  readRange(input: string, offset: number, length: number): Buffer {
    return this.store.read(() => {
      const entry = this.fileEntry(input);
      return entry.hash ? readContent(this.store, entry.hash, offset, length) : Buffer.alloc(0);
    });
  }

  /** The content of a file chunk by chunk, for streaming large files out. */
  *readChunks(input: string): Generator<Buffer> {
    const entry = this.fileEntry(input);
    if (entry.hash) yield* contentChunks(this.store, entry.hash);
  }

  /**
   * The file at `input` (symlinks followed) whose content a read returns. A FIFO, socket or device
   * is refused rather than read as empty: the vault keeps no bytes for it, and on a disk a read
   * would wait for a writer or read the device, never return nothing.
   */
  private fileEntry(input: string): Entry {
    const entry = this.stat(input);
    if (entry.type === 'd') throw isADirectory(entry.path);
    if (entry.type !== 'f') {
      throw new AvfsError('INVALID_ARGUMENT', `${entry.path} is a ${KIND[entry.type].replace('_', ' ')}, not a file: it has no content to read`, {
        path: entry.path,
        type: KIND[entry.type],
        reason: 'not_a_file',
      });
    }
    return entry;
  }

  /** Creates or replaces a file with `data` (bytes, a string, or an open host file descriptor to stream from). */
  writeFile(input: string, data: Uint8Array | string | { fd: number }, options: WriteOptions = {}): Entry {
    const path = normalizePath(input);
    if (path === '/' || namesDirectory(input)) throw this.notAFile(input, path);
    if (typeof data === 'object' && 'fd' in data) return this.writeStream(path, data.fd, options);
    const bytes = textBytes(data);
    const hash = hashBytes(bytes); // before the write lock is taken
    return this.store.mutate(() => this.writeContent(path, putContent(this.store, bytes, hash, this.arrivalAt(path)), options));
  }

  /**
   * Adds `data` at the end of a file (creating it when absent), as one new version. A large file
   * is not read whole into memory: its last chunk is cut again with the new bytes and the others
   * are reused (blobs.ts putAppendedContent); its hash still reads it, except after an earlier
   * append by this process.
   */
  appendFile(input: string, data: Uint8Array | string, options: WriteOptions = {}): Entry {
    const path = normalizePath(input);
    if (path === '/' || namesDirectory(input)) throw this.notAFile(input, path);
    const bytes = textBytes(data);
    return this.store.mutate(() => {
      const vault = this.row();
      const resolved = this.resolveFileTarget(vault, path);
      const old = getEntry(this.store, vault, resolved);
      if (old?.type === 'd') throw isADirectory(resolved);
      return this.writeContent(resolved, putAppendedContent(this.store, old?.hash ?? null, bytes), options);
    });
  }

  /** How content written to `path` arrives (blobs.ts REVISION_INLINE_MAX): over the file it holds, if any (a symlink there is not followed). */
  private arrivalAt(path: string): Arrival {
    return arrivalOver(getEntry(this.store, this.row(), path));
  }

  /**
   * Writes the content of a host file descriptor. It is stored chunk by chunk before the entry
   * transaction, so a large write never holds the write lock for long. A refused write changes
   * nothing: what can be checked before reading is (the path; the quota, for a regular file whose
   * size fstat knows), a pipe stops as soon as it passes the quota, and when the entry transaction
   * refuses anyway, what this write stored goes with it.
   */
  private writeStream(path: string, fd: number, options: WriteOptions): Entry {
    const { limit, arrival } = this.store.read(() => this.checkStream(path, fd, options));
    const content = putContentFromFd(this.store, fd, limit, options.progress, arrival);
    try {
      return this.writeContent(path, content, options);
    } catch (err) {
      abandonContent(this.store, content);
      throw err;
    }
  }

  /** The checks writeContent will make, made before any content is read; returns the quota's limit on a stream's size, and how its content arrives. */
  private checkStream(input: string, fd: number, options: WriteOptions): { limit: SizeLimit | undefined; arrival: Arrival } {
    const vault = this.row();
    const path = this.resolveFileTarget(vault, input);
    const parent = getEntry(this.store, vault, dirname(path));
    if (parent && parent.type !== 'd') throw notADirectory(parent.path);
    if (!parent && !options.parents) throw notFound(dirname(path), this.name);
    const old = getEntry(this.store, vault, path);
    assertFileTarget(path, old, options.exclusive);
    const host = fstatSync(fd);
    enforceQuota(this.store, vault, path, old, { type: 'f', mode: 0, size: host.isFile() ? host.size : 0, hash: null, target: null });
    return { limit: streamLimit(this.store, vault, path, old), arrival: arrivalOver(old) };
  }

  /**
   * Points a path at stored content (used by writeFile, import and proxy copy mode). Content
   * stored by an earlier transaction is checked to be complete and unpinned here (linkContent).
   */
  writeContent(input: string, content: ContentRef, options: WriteOptions = {}): Entry {
    return this.store.mutate(() => {
      linkContent(this.store, content);
      const vault = this.row();
      const requested = normalizePath(input);
      if (options.parents) this.refuseDanglingLinks(vault, requested);
      const path = this.resolveFileTarget(vault, requested);
      this.ensureParent(vault, path, options.parents ?? false);
      const old = getEntry(this.store, vault, path);
      assertFileTarget(path, old, options.exclusive);
      const entry = putEntry(
        this.store,
        vault,
        path,
        { type: 'f', mode: options.mode ?? old?.mode ?? DEFAULT_FILE_MODE, size: content.size, hash: content.hash, target: null, mtime: options.mtime, ...options.owner },
        { op: options.op ?? (old ? 'write' : 'create'), actor: this.actor },
      );
      audit(this.store, this.actor, options.op ?? 'write', this.name, { path, size: content.size });
      return entry;
    });
  }

  /**
   * The mount's write of a whole file at a canonical path (never following a symlink there):
   * `data` is the bytes or an edit of a stored content (stored in the entry's transaction), or a
   * host descriptor to stream them from (stored in transactions of their own before the entry's,
   * content-addressed, so harmless if the entry change then fails).
   * The entry, its version and audit row then change in one transaction. `attributes` decides the
   * entry's mode and times from what the path holds in that transaction (the mount shows the kernel
   * a stored file's mode, see OpenFiles.shown). `from` is the content the writer started from, for a
   * file it opened from the store (absent for a file it created): when the stored file changed
   * meanwhile, the new version's detail names the version it replaced. `ino` and `owner` apply
   * to a new entry only. `target` is the path, or a function asked for it inside that
   * transaction: the mount's open file follows a rename another writer commits up to the moment
   * it is stored (OpenFiles.relocate); asked before, a rename committed while this waited for the
   * write lock brought the file back under its old name. When the function answers undefined (the
   * file was removed meanwhile) nothing is stored and the result is undefined.
   */
  writeFileExact(
    target: string | (() => string | undefined),
    data: Buffer | { fd: number; digest?: ContentDigest; put?: DigestedPut } | { edit: ContentEdit },
    options: {
      from?: { hash: string | null };
      ino?: number;
      /** Owner of a new entry; of an existing one too when `ownerChanged` (a chown that waited for this write). */
      owner?: Owner;
      ownerChanged?: boolean;
      attributes: (old: Entry | undefined) => ExactAttributes;
      /**
       * The new content is `from`'s (its `size` bytes, which `head()` reads from the writer's
       * copy) followed by `bytes()`: the writer only appended (see appendedElsewhere).
       */
      appended?: { size: number; head: () => Uint8Array; bytes: () => Uint8Array };
    },
  ): Entry | undefined {
    // One transaction for the chunks too: per-chunk commits cost ~0.7 ms each (a 256 MiB file is
    // 4,096 chunks), while the lock is held only as long as hashing and inserting take (about
    // 0.3 s per 100 MiB).
    // A digest computed while the bytes arrived (the mount's ContentDigests) spares hashing them here.
    const streamed =
      Buffer.isBuffer(data) || 'edit' in data
        ? undefined
        : data.digest
          ? this.store.mutate(() => putDigestedContentFromFd(this.store, data.fd, data.digest!, data.put))
          : this.store.mutate(() => putContentFromFd(this.store, data.fd));
    return this.store.mutate(() => {
      const path = typeof target === 'string' ? target : target();
      if (path === undefined) return undefined; // streamed content stays unreferenced, for gc
      const vault = this.row();
      const parent = getEntry(this.store, vault, dirname(path));
      if (!parent) throw notFound(dirname(path), this.name);
      if (parent.type !== 'd') throw notADirectory(parent.path);
      const old = getEntry(this.store, vault, path);
      if (old?.type === 'd') throw isADirectory(path);
      const appendedTo = streamed ? undefined : this.appendedElsewhere(old, options);
      // A large file edited in place (the mount) re-stores only the chunks around its edits, in
      // this transaction: they are few, and the base is read under the write lock either way.
      const content = appendedTo
        ? putAppendedContent(this.store, appendedTo.hash, options.appended!.bytes())
        : (streamed ?? (Buffer.isBuffer(data) ? putContent(this.store, data, undefined, arrivalOver(old)) : putEditedContent(this.store, (data as { edit: ContentEdit }).edit)));
      linkContent(this.store, content);
      const a = options.attributes(old);
      const replaced = replacedVersion(this.store, vault, path, old, appendedTo ?? options.from);
      const entry = putEntry(
        this.store,
        vault,
        path,
        { type: 'f', mode: a.mode, size: content.size, hash: content.hash, target: null, mtime: a.mtime, atime: a.atime, ...(old ? (options.ownerChanged ? options.owner : undefined) : { ino: options.ino, ...options.owner }) },
        {
          op: old ? 'write' : 'create',
          actor: this.actor,
          at: { ctime: a.ctime, createdAt: a.createdAt },
          detail: replaced === undefined ? undefined : { replaced },
        },
      );
      audit(this.store, this.actor, 'write', this.name, { path, size: content.size });
      return entry;
    });
  }

  /**
   * For a writer that only appended to the content it started from (`appended`): the stored
   * file it appends to instead, when someone else changed the file meanwhile only by appending
   * to it too (its content still begins with the writer's base). The writer's bytes then go
   * after theirs, as two appends to one local file would, instead of writing over them: an
   * agent's `avfs write -a` to a log that a tool in the mount also appends to keeps every line.
   * Undefined otherwise; then the writer's content replaces what is stored (the last writer wins).
   */
  private appendedElsewhere(old: Entry | undefined, options: { from?: { hash: string | null }; appended?: { size: number; head: () => Uint8Array } }): { hash: string } | undefined {
    const { from, appended } = options;
    if (!from || !appended || old?.type !== 'f' || !old.hash || old.hash === from.hash || old.size < appended.size) return undefined;
    // The base may be gone: a prune and gc elsewhere collect content only an open file still
    // started from. The writer's own copy of those bytes (its first `size`) then decides.
    const extended =
      from.hash === null || isStored(this.store, from.hash)
        ? contentStartsWith(this.store, old.hash, from.hash, appended.size)
        : readContent(this.store, old.hash, 0, appended.size).equals(appended.head());
    return extended ? { hash: old.hash } : undefined;
  }

  /**
   * Sets the times of the entries at canonical `paths` (never following a symlink: `touch -h`),
   * all in one transaction; `null` keeps a time as it is, and `ctime` is when the change happened
   * (the mount gives the one it showed the kernel). No history version (entries.ts setTimes).
   */
  touchExact(paths: readonly string[], atime: number | null, mtime: number | null, ctime = Date.now()): void {
    this.store.mutate(() => {
      const vault = this.row();
      for (const path of new Set(paths)) setTimes(this.store, vault, path, atime, mtime, { op: 'touch', actor: this.actor }, ctime);
    });
  }

  /** Reserves `count` consecutive inode numbers for entries made later (the mount's files, stored on first close); returns the first. */
  reserveInos(count: number): number {
    return reserveInos(this.store, this.row().id, count);
  }

  // ---- directories -----------------------------------------------------------------------

  mkdir(input: string, options: { parents?: boolean; mode?: number; owner?: Owner } = {}): Entry {
    const requested = normalizePath(input);
    return this.store.mutate(() => {
      const vault = this.row();
      if (options.parents) this.refuseDanglingLinks(vault, requested);
      // Symlinks above the new directory are followed, as mkdir(2) does (`mkdir link/sub`).
      const path = this.resolveIn(vault, requested, false);
      const existing = getEntry(this.store, vault, path);
      if (existing) {
        if (options.parents && existing.type === 'd') return existing;
        if (options.parents && existing.type === 'l' && this.leadsToDirectory(vault, path)) return existing;
        throw alreadyExists(path);
      }
      this.ensureParent(vault, path, options.parents ?? false);
      const entry = this.createDir(vault, path, options.mode ?? DEFAULT_DIR_MODE, options.owner);
      audit(this.store, this.actor, 'mkdir', this.name, { path });
      return entry;
    });
  }

  private createDir(vault: VaultRow, path: string, mode: number, owner?: Owner): Entry {
    return putEntry(this.store, vault, path, { type: 'd', mode, size: 0, hash: null, target: null, ...owner }, { op: 'mkdir', actor: this.actor });
  }

  /**
   * Creating parents (mkdir -p, write -p) never goes through a symlink that points to no
   * directory: mkdir -p fails there (EEXIST), where following it would create the link's target
   * somewhere else. NOT_A_DIRECTORY names the link. Links to directories are followed.
   */
  private refuseDanglingLinks(vault: VaultRow, path: string): void {
    // A directory stored at the parent is a real path, with no link above it: one probe where an
    // import of a 2,000-deep chain made one per level for each directory (O(depth²)).
    if (path !== '/' && getEntry(this.store, vault, dirname(path))?.type === 'd') return;
    let current = '/';
    for (const name of path === '/' ? [] : path.slice(1).split('/').slice(0, -1)) {
      const next = joinPath(current, name);
      const entry = getEntry(this.store, vault, next);
      if (entry?.type !== 'l') {
        if (entry?.type !== 'd') return; // missing (created as a directory) or a file (refused later)
        current = next;
        continue;
      }
      const target = this.resolveFollowed(vault, next);
      if (target === undefined || getEntry(this.store, vault, target)?.type !== 'd') throw notADirectory(next);
      current = target;
    }
  }

  /** Checks (or with `parents`, creates as mkdir) every ancestor directory of `path`. */
  private ensureParent(vault: VaultRow, path: string, parents: boolean): void {
    ensureParents(this.store, vault, path, parents ? { op: 'mkdir', actor: this.actor } : null);
  }

  // ---- removal ---------------------------------------------------------------------------

  /** Removes a file, symlink or (empty, or with `recursive` any) directory; returns the paths removed. */
  rm(input: string, options: { recursive?: boolean } = {}): string[] {
    assertNamedOperand(input);
    return this.store.mutate(() => {
      const vault = this.row();
      const resolved = this.resolveEntry(vault, normalizePath(input), false);
      const path = resolved.path;
      assertNotRoot(path);
      const entry = requireEntry(resolved.entry ?? getEntry(this.store, vault, path), path, this.name);
      this.slashNamesDirectory(input, entry);
      // `link/` names the directory the symlink leads to, which rm does not remove by the link's
      // name: without -r it is a directory (as rm(1) says); with -r it is refused, not the link
      // removed in its place (nor, as GNU rm -r does, the directory's contents).
      if (entry.type === 'l' && namesDirectory(input)) {
        if (!options.recursive) throw isADirectory(input);
        throw new AvfsError('NOT_A_DIRECTORY', `${input} names the directory symlink ${path} leads to: remove the symlink as ${path}, or the directory by its own path`, { path, input });
      }
      const removed: string[] = [];
      if (entry.type === 'd' && !options.recursive && hasChildren(this.store, vault, path)) {
        throw new AvfsError('NOT_EMPTY', `directory not empty: ${path} (remove it with its contents recursively: rm -r, or recursive: true in the SDK and MCP)`, { path });
      }
      if (entry.type === 'd') pushAll(removed, removeDescendants(this.store, vault, path, { op: 'delete', actor: this.actor }));
      // The entry read above is still current unless names below it went (which changed its times).
      removeEntry(this.store, vault, path, { op: 'delete', actor: this.actor }, { current: removed.length === 0 ? entry : undefined });
      removed.push(path);
      audit(this.store, this.actor, 'rm', this.name, { path, removed: removed.length });
      return removed;
    });
  }

  /** POSIX rmdir: only an empty directory. */
  rmdir(input: string): void {
    assertNamedOperand(input);
    this.store.mutate(() => {
      const vault = this.row();
      const path = normalizePath(input);
      const entry = requireEntry(getEntry(this.store, vault, path), path, this.name);
      if (entry.type !== 'd') throw notADirectory(path);
      assertNotRoot(path);
      if (hasChildren(this.store, vault, path)) throw new AvfsError('NOT_EMPTY', `directory not empty: ${path}`, { path });
      removeEntry(this.store, vault, path, { op: 'delete', actor: this.actor }, { current: entry });
      audit(this.store, this.actor, 'rm', this.name, { path, removed: 1 });
    });
  }

  // ---- move and copy ---------------------------------------------------------------------

  /**
   * mv(1): moves `src` to `dst`, or into `dst` when it is an existing directory (or a symlink to
   * one). Files and whole directories move in one transaction; an existing file or symlink at the
   * target is replaced itself, never the file a symlink points to.
   */
  mv(srcInput: string, dstInput: string): { from: string; to: string; moved: number } {
    return this.store.mutate(() => {
      const vault = this.row();
      const src = this.resolveIn(vault, normalizePath(srcInput), false);
      const moving = requireEntry(getEntry(this.store, vault, src), src, this.name);
      assertMovable(src);
      this.slashNamesDirectory(srcInput, moving);
      let dst = this.resolveIn(vault, normalizePath(dstInput), false);
      const target = getEntry(this.store, vault, dst);
      // A link that leads nowhere is replaced itself, as rename(2) replaces it.
      const dir = (target?.type === 'l' ? this.resolveFollowed(vault, dst) : dst) ?? dst;
      const intoDir = getEntry(this.store, vault, dir)?.type === 'd';
      if (!intoDir && namesDirectory(dstInput) && getEntry(this.store, vault, src)?.type !== 'd') throw this.notAFile(dstInput, dst);
      if (intoDir && src !== dir) dst = joinPath(dir, basename(src));
      // mv(1) refuses one name given twice and two names of one file ("are the same file"), where
      // rename(2) would do nothing.
      if (src === dst) throw new AvfsError('INVALID_ARGUMENT', `${src} and ${dst} are the same file: nothing moved`, { from: src, to: dst });
      const replaced = getEntry(this.store, vault, dst);
      if (moving.type !== 'd' && replaced && replaced.type !== 'd') {
        if (replaced.ino === moving.ino) {
          throw new AvfsError('INVALID_ARGUMENT', `${src} and ${dst} are the same file (hard links of one inode): nothing moved`, { from: src, to: dst });
        }
        // A link moved onto the only name of the file it leads to would leave the file's bytes
        // reachable only in history; mv(1) refuses it too.
        const leadsTo = moving.type === 'l' && replaced.type !== 'l' && replaced.nlink <= 1 ? this.resolveFollowed(vault, src) : undefined;
        if (leadsTo !== undefined && getEntry(this.store, vault, leadsTo)?.ino === replaced.ino) {
          throw new AvfsError('INVALID_ARGUMENT', `${src} and ${dst} are the same file (${src} is a symlink to it): nothing moved`, { from: src, to: dst });
        }
      }
      const moved = this.renameIn(vault, src, dst);
      audit(this.store, this.actor, 'mv', this.name, { from: src, to: dst, moved });
      return { from: src, to: dst, moved };
    });
  }

  /**
   * rename(2) on canonical paths: replaces a file target, or an empty directory target when the
   * source is a directory; refuses to move a directory into itself.
   */
  rename(srcInput: string, dstInput: string): void {
    this.store.mutate(() => {
      const vault = this.row();
      const [src, dst] = [normalizePath(srcInput), normalizePath(dstInput)];
      const moved = this.renameIn(vault, src, dst);
      if (moved > 0) audit(this.store, this.actor, 'mv', this.name, { from: src, to: dst, moved });
    });
  }

  private renameIn(vault: VaultRow, src: string, dst: string): number {
    const entry = requireEntry(getEntry(this.store, vault, src), src, this.name);
    assertMovable(src);
    if (src === dst) return 0;
    if (isWithin(dst, src)) throw new AvfsError('INVALID_ARGUMENT', `cannot move ${src} into itself (${dst})`, { from: src, to: dst });
    this.ensureParent(vault, dst, false);
    const existing = getEntry(this.store, vault, dst);
    if (existing) {
      if (entry.type === 'd') {
        if (existing.type !== 'd') throw notADirectory(dst);
        if (hasChildren(this.store, vault, dst)) throw new AvfsError('NOT_EMPTY', `directory not empty: ${dst}`, { path: dst });
      } else if (existing.type === 'd') {
        throw isADirectory(dst);
      }
      removeEntry(this.store, vault, dst, { op: 'delete', actor: this.actor, detail: { replaced_by: src } });
    }
    return moveTree(this.store, vault, src, dst, { op: 'move', actor: this.actor });
  }

  /**
   * cp(1): copies a file (or with `recursive` a directory tree) to `dst`, or into `dst` when it
   * is an existing directory, under the source's name as given. As cp(1) does, a symlink named
   * as the source is followed (its target's bytes are copied), except with `recursive`, which
   * copies the link itself, like every symlink inside the tree. Content is shared by hash, never
   * duplicated.
   */
  cp(srcInput: string, dstInput: string, options: { recursive?: boolean } = {}): { from: string; to: string; copied: number } {
    return this.store.mutate(() => {
      const vault = this.row();
      const given = normalizePath(srcInput);
      // `link/` names the directory the link points to, with -r too (as for cp(1)).
      const src = this.resolveIn(vault, given, !options.recursive || namesDirectory(srcInput));
      const entry = requireEntry(getEntry(this.store, vault, src), given, this.name);
      this.slashNamesDirectory(srcInput, entry);
      const dstGiven = normalizePath(dstInput);
      // The destination's own name (a link there not followed), and where it leads.
      const dstSelf = this.resolveIn(vault, dstGiven, false);
      const followed = this.resolveFollowed(vault, dstGiven);
      let dst = followed ?? dstSelf;
      const target = followed === undefined ? undefined : getEntry(this.store, vault, followed);
      if (target?.type !== 'd' && namesDirectory(dstInput) && entry.type !== 'd') throw this.notAFile(dstInput, dst);
      // Named after the source as given: a link's copy is named after the link, not its target.
      if (target?.type === 'd') dst = joinPath(dst, basename(given));
      // A link copied onto a link replaces that link, never the file it points to.
      else if (entry.type === 'l') dst = dstSelf;
      // cp(1) will not create a file through a link to nothing (it would appear at the link's target).
      else if (!target && getEntry(this.store, vault, dstSelf)?.type === 'l') {
        const pointsTo = followed ?? getEntry(this.store, vault, dstSelf)!.target!;
        throw new AvfsError('INVALID_ARGUMENT', `not writing through dangling symlink ${dstGiven} (it points to ${pointsTo}, which does not exist)`, { path: dstGiven, target: pointsTo });
      }
      if (entry.type === 'd' && !options.recursive) {
        throw new AvfsError('IS_A_DIRECTORY', `${src} is a directory (use -r to copy it)`, { path: src });
      }
      if (entry.type === 'd' && isWithin(dst, src)) throw new AvfsError('INVALID_ARGUMENT', `cannot copy ${src} into itself`, { from: src, to: dst });
      if (src === dst) throw new AvfsError('INVALID_ARGUMENT', `${given} and ${dstGiven} are the same file`, { from: src, to: dst });
      this.ensureParent(vault, dst, false);
      // A fresh copy of a directory in a vault without quotas copies what lies below it set-wise.
      if (entry.type === 'd' && !getEntry(this.store, vault, dst) && !hasQuota(vault)) {
        putEntry(this.store, vault, dst, copiedState(entry), { op: 'copy', actor: this.actor, detail: { from: src } });
        const copied = 1 + copyBelow(this.store, vault, src, dst, { op: 'copy', actor: this.actor });
        audit(this.store, this.actor, 'cp', this.name, { from: src, to: dst, copied });
        return { from: src, to: dst, copied };
      }
      const copying = [entry, ...(entry.type === 'd' ? listDescendants(this.store, vault, src) : [])];
      enforceQuotaForAll(this.store, vault, dst, () => copying.map((e) => [getEntry(this.store, vault, rebase(e.path, src, dst)), e] as const));
      for (const e of copying) {
        const to = rebase(e.path, src, dst);
        const existing = getEntry(this.store, vault, to);
        if (existing) {
          if (e.type === 'd' && existing.type === 'd') continue; // merge into an existing directory
          if (existing.type === 'd') throw isADirectory(to);
          if (e.type === 'd') throw notADirectory(to);
        }
        // cp(1) (without -p) writes into a file already there: its content changes, and its mode,
        // which every name of it shares, stays (without set-user-ID and set-group-ID, which a
        // write clears).
        const state = existing?.type === 'f' && e.type === 'f' ? { ...copiedState(e), mode: existing.mode & ~0o6000 } : copiedState(e);
        putEntry(this.store, vault, to, state, { op: 'copy', actor: this.actor, detail: { from: e.path } });
      }
      audit(this.store, this.actor, 'cp', this.name, { from: src, to: dst, copied: copying.length });
      return { from: src, to: dst, copied: copying.length };
    });
  }

  // ---- links and metadata ----------------------------------------------------------------

  /**
   * link(2): gives the entry at `existingInput` (not following a symlink there) another name. Both
   * names are one inode: same number, shared content, mode, owner and times, and a link count on
   * each; a change through either name changes both (entries.ts). Directories cannot be linked.
   */
  link(existingInput: string, newInput: string): Entry {
    return this.store.mutate(() => {
      const vault = this.row();
      const src = this.resolveIn(vault, normalizePath(existingInput), false);
      const dst = this.resolveIn(vault, normalizePath(newInput), false);
      const entry = requireEntry(getEntry(this.store, vault, src), src, this.name);
      if (entry.type === 'd') throw new AvfsError('DENIED', `cannot hard-link a directory: ${src}`, { path: src });
      this.ensureParent(vault, dst, false);
      if (getEntry(this.store, vault, dst)) throw alreadyExists(dst);
      // The inode's ctime moves, on every name alike (POSIX). Through the mount the kernel is told
      // to drop what it cached for the other names (ARCHITECTURE.md, "Hard links through the mount").
      const at = { ctime: now() };
      const linked = addName(this.store, vault, entry, dst, { op: 'link', actor: this.actor, detail: { from: src }, at }, { op: 'link', actor: this.actor, detail: { to: dst }, at });
      audit(this.store, this.actor, 'link', this.name, { from: src, to: dst });
      return linked;
    });
  }

  symlink(target: string, input: string, options: { owner?: Owner; times?: { atime: number; mtime: number } } = {}): Entry {
    if (typeof target !== 'string' || target.length === 0 || target.includes('\0') || !isWellFormed(target)) {
      throw new AvfsError('INVALID_PATH', 'invalid symlink target', { target });
    }
    const state = { type: 'l', mode: 0o777, size: Buffer.byteLength(target), hash: null, target, ...options.owner, ...options.times } as const;
    return this.createNode(input, state, 'symlink', 'symlink', { target });
  }

  /**
   * Creates a new entry at a canonical path, not following a symlink there: its parent must be a
   * directory and its name free. `op` is the version's op, `auditOp` the audit row's.
   */
  private createNode(input: string, state: EntryState, op: string, auditOp: string, detail: Record<string, unknown>): Entry {
    return this.store.mutate(() => {
      const vault = this.row();
      const path = this.resolveIn(vault, normalizePath(input), false);
      if (path === '/') throw alreadyExists(path);
      this.ensureParent(vault, path, false);
      if (getEntry(this.store, vault, path)) throw alreadyExists(path);
      const entry = putEntry(this.store, vault, path, state, { op, actor: this.actor });
      audit(this.store, this.actor, auditOp, this.name, { path, ...detail });
      return entry;
    });
  }

  readlink(input: string): string {
    const entry = this.lstat(input);
    if (entry.type !== 'l') throw new AvfsError('INVALID_ARGUMENT', `not a symlink: ${entry.path}`, { path: entry.path });
    return entry.target!;
  }

  chmod(input: string, mode: number): Entry {
    return this.store.mutate(() => {
      const vault = this.row();
      const path = this.resolveIn(vault, normalizePath(input), true);
      const entry = requireEntry(getEntry(this.store, vault, path), path, this.name);
      if ((entry.mode & 0o7777) === (mode & 0o7777)) return entry;
      audit(this.store, this.actor, 'chmod', this.name, { path, mode: formatMode(mode) });
      return putEntry(this.store, vault, path, { ...entry, mode, mtime: entry.mtime, atime: entry.atime }, { op: 'chmod', actor: this.actor });
    });
  }

  /**
   * mknod(2) on a canonical path, not following a symlink there: a FIFO, a Unix socket, a
   * character or block device (with its device number) or an empty regular file. Special files
   * are metadata only (type, mode, owner, rdev): the kernel serves a FIFO's or a device's I/O
   * itself once the node exists, and a socket's name only marks where a process bound it.
   */
  mknod(input: string, type: 'f' | 'p' | 's' | 'c' | 'b', mode: number, rdev = 0, options: { owner?: Owner } = {}): Entry {
    const state = { type, mode, size: 0, hash: null, target: null, rdev: type === 'c' || type === 'b' ? rdev : 0, ...options.owner };
    return this.createNode(input, state, type === 'f' ? 'create' : 'mknod', 'mknod', { type });
  }

  /**
   * lchown(2): sets the owner and group of the entry at `input` (never following a symlink there);
   * `null` keeps one as it is. The stored ids are plain numbers; an entry that never had an owner
   * set shows whoever mounts or reads the vault. A change that changes nothing records nothing.
   */
  chown(input: string, uid: number | null, gid: number | null, options: { mode?: number } = {}): Entry {
    return this.store.mutate(() => {
      const vault = this.row();
      const path = this.resolveIn(vault, normalizePath(input), false);
      const entry = requireEntry(getEntry(this.store, vault, path), path, this.name);
      const next = { uid: uid ?? entry.uid, gid: gid ?? entry.gid, mode: options.mode ?? entry.mode };
      if (next.uid === entry.uid && next.gid === entry.gid && (next.mode & 0o7777) === (entry.mode & 0o7777)) return entry;
      audit(this.store, this.actor, 'chown', this.name, { path, uid: next.uid, gid: next.gid, mode: formatMode(next.mode) });
      return putEntry(this.store, vault, path, { ...entry, ...next, mtime: entry.mtime, atime: entry.atime }, { op: 'chown', actor: this.actor });
    });
  }

  /** Sets access and modification times (ms); `null` keeps a time as it is. No history version. */
  utimes(input: string, atime: number | null, mtime: number | null): void {
    this.store.mutate(() => {
      const vault = this.row();
      const path = this.resolveIn(vault, normalizePath(input), true);
      requireEntry(getEntry(this.store, vault, path), path, this.name);
      setTimes(this.store, vault, path, atime, mtime, { op: 'touch', actor: this.actor });
    });
  }

  /** Cuts or extends a file to `size` bytes (zero-filled), as one new version. */
  truncate(input: string, size: number): Entry {
    if (!Number.isSafeInteger(size) || size < 0) throw new AvfsError('INVALID_ARGUMENT', `invalid size: ${size}`, { size });
    return this.store.mutate(() => {
      const entry = this.fileEntry(input);
      if (entry.size === size) return entry;
      const old = entry.hash ? readContent(this.store, entry.hash, 0, size) : Buffer.alloc(0);
      const data = old.length === size ? old : Buffer.concat([old, Buffer.alloc(size - old.length)]);
      return this.writeContent(entry.path, putContent(this.store, data), { op: 'truncate' });
    });
  }
}

/**
 * Moves the entry at `src`, with everything below it, to the free path `dst` (its parent exists),
 * keeping inode numbers (a move keeps identity), annotations, link counts and times as rename(2)
 * does: only the two parents and the moved entry's ctime take the time of the move (MovePart).
 * Each removal records detail.to and each creation detail.from, which is how history pairs the
 * two ends of a move (history.ts). What lies below a directory moves set-wise (entries.ts
 * moveBelow). Returns how many entries moved. Runs inside the caller's transaction.
 */
export function moveTree(store: Store, vault: VaultRow, src: string, dst: string, change: ChangeOptions): number {
  const entry = requireEntry(getEntry(store, vault, src), src, vault.name);
  if (entry.type !== 'd') return moveEntries(store, vault, src, dst, change);
  removeEntry(store, vault, src, { ...change, detail: { ...change.detail, to: dst } }, { moving: 'top', current: entry });
  putEntry(store, vault, dst, { ...entry }, { ...change, detail: { ...change.detail, from: src } }, 'top');
  return 1 + moveBelow(store, vault, src, dst, change);
}

/**
 * moveTree one entry at a time through putEntry and removeEntry: how a file moves, and the
 * reference the set-wise move of a directory's contents is compared with (setwise-move.test.ts).
 */
export function moveEntries(store: Store, vault: VaultRow, src: string, dst: string, change: ChangeOptions): number {
  const entry = requireEntry(getEntry(store, vault, src), src, vault.name);
  const moving = [entry, ...(entry.type === 'd' ? listDescendants(store, vault, src) : [])];
  const part = (e: Entry): MovePart => (e === entry ? 'top' : 'below');
  // Remove deepest first, then recreate top-down with the same inode numbers (and tags: they are part of the entry).
  for (const e of [...moving].reverse()) {
    removeEntry(store, vault, e.path, { ...change, detail: { ...change.detail, to: rebase(e.path, src, dst) } }, { moving: part(e) });
  }
  for (const e of moving) {
    const arrival = { ...change, detail: { ...change.detail, from: e.path }, ...(part(e) === 'below' ? { at: { ctime: e.ctime } } : {}) };
    const moved = putEntry(store, vault, rebase(e.path, src, dst), { ...e, ino: e.ino }, arrival, part(e));
    // The top's new ctime is its inode's: a hard link's other names show it too.
    if (e === entry && e.type !== 'd' && e.nlink > 1) shareCtime(store, vault, moved, change);
  }
  return moving.length;
}

/** What a copy of `e` keeps of it (cp(1) without -p): type, mode (copiedMode), content, target, device number and tags. */
function copiedState(e: Entry): EntryState {
  return { type: e.type, mode: copiedMode(e.type, e.mode), size: e.size, hash: e.hash, target: e.target, rdev: e.rdev, annot: e.annot };
}

/**
 * The version of someone else's that a mount write replaces, if any: the stored file was created,
 * rewritten or removed outside the writer since it took its content from the store (`from`), or
 * a file it created (no `from`) replaces one stored meanwhile.
 */
function replacedVersion(store: Store, vault: VaultRow, path: string, old: Entry | undefined, from: { hash: string | null } | undefined): number | undefined {
  if (!from) return old?.version;
  if (!old) return lastVersion(store, vault, path);
  return old.hash === from.hash ? undefined : old.version;
}

/**
 * Checks every ancestor directory of `path`: a non-directory in the way is NOT_A_DIRECTORY; a
 * missing one is created (mode 0755) as part of `create`, or is NOT_FOUND when `create` is null.
 * Returns how many directories it created. Runs inside the caller's transaction.
 */
export function ensureParents(store: Store, vault: VaultRow, path: string, create: ChangeOptions | null): number {
  const parent = getEntry(store, vault, dirname(path));
  if (parent?.type === 'd') return 0;
  if (parent) throw notADirectory(parent.path);
  let created = 0;
  for (const dir of ancestors(path)) {
    const entry = getEntry(store, vault, dir);
    if (entry?.type === 'd') continue;
    if (entry) throw notADirectory(dir);
    if (!create) throw notFound(dir, vault.name);
    putEntry(store, vault, dir, { type: 'd', mode: DEFAULT_DIR_MODE, size: 0, hash: null, target: null }, create);
    created++;
  }
  return created;
}

/** Content given as text, as UTF-8 bytes; text that is not well-formed Unicode has no exact bytes and is refused. */
function textBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data !== 'string') return data;
  if (!isWellFormed(data)) {
    throw new AvfsError('INVALID_ARGUMENT', 'content given as text holds a lone surrogate (not valid Unicode), which has no UTF-8 form; pass bytes instead', { reason: 'not_unicode' });
  }
  return Buffer.from(data);
}

/** Content written over `old` is a revision when `old` is a file that holds bytes (blobs.ts REVISION_INLINE_MAX). */
function arrivalOver(old: Entry | undefined): Arrival {
  return old?.type === 'f' && old.size > 0 ? 'revision' : 'new';
}
