import { closeSync, openSync } from 'node:fs';
import { AvfsError } from '../errors.js';
import { basename, dirname, isWithin, joinPath, rebase } from '../core/paths.js';
import { ByteRanges } from '../core/byte-ranges.js';
import type { Entry } from '../store/entries.js';
import type { Owner, VaultFs } from '../store/vault-fs.js';
import { now } from '../store/store.js';
import { pathVersions } from '../store/history.js';
import { ContentDigests } from './content-digests.js';
import { KernelCache } from './kernel-cache.js';
import { StoredEntries } from './stored-entries.js';
import { OpenFile, O_ACCMODE, O_RDONLY, O_RDWR, type Handle, type ShownAttributes } from './open-file.js';
import { WorkingCopies } from './working-copies.js';
import { MAX_ZERO_FILL } from './zero-fill.js';

/** Version ops that put back recorded states, inode numbers included (continuedAt). */
const PUTS_BACK = new Set(['restore', 'revert', 'checkout', 'merge', 'merge-undo', 'undo']);

export { OpenFile, O_ACCMODE, O_APPEND, O_RDONLY, type Handle, type OpenFileState, type ShownAttributes } from './open-file.js';

/**
 * Files open through the mount. All handles on one path share one OpenFile (so they see each
 * other's writes), which moves through
 *
 *   open ──write/truncate──▶ dirty ──flush/fsync/release──▶ persisting ──▶ flushed ──write──▶ dirty …
 *
 * While clean, reads go straight to the stored content (only the chunks a read overlaps are
 * loaded). The first write materialises a working copy: in memory up to `memoryLimit` bytes (and
 * while the process-wide `memoryBudget` allows), beyond that in a spill file on disk, so a 1 GiB
 * file is never held in memory. Persisting stores the working copy as content and points the
 * entry at it in one transaction, as one new version: once per flush of a dirty file, never per
 * write call. A file created through the mount is `pending` (not in the store) until its first
 * persist, so a create-write-close is one version, not two.
 *
 * What the kernel sees of an open file (`shown`) is exactly what persisting it stores, so no
 * attribute moves when the file is closed (tar c compares them before and after reading a file).
 *
 * Someone else (the CLI, another mount) may rewrite a stored file while it is open here. As with
 * two processes on one local file, a file with no unsaved writes follows the store (`follow`):
 * reads see the new content and an append lands after it. A file with unsaved writes keeps its
 * own content; persisting it then makes it the newer version, and that version's detail names
 * the one it replaced (`replaced`), which stays in history. No byte nobody wrote is ever made up.
 * Appends on both sides are the exception (`appendedFrom`): stored after the other writer's.
 */

export interface OpenFilesOptions {
  /** Largest working copy kept in memory per file (default 8 MiB). */
  memoryLimit?: number;
  /** Total memory for working copies in this process (default 256 MiB). */
  memoryBudget?: number;
  /** Directory for spill files (created on first use). */
  spillDir: string;
  /** Most spill files open at once for these files (default: half what the process may have, WorkingCopies). */
  spillFiles?: number;
  /**
   * Most zeros all these files together may gain past their ends while open (default: no bound
   * but each file's MAX_ZERO_FILL between two saves). A sandboxed run's view sets MAX_ZERO_FILL,
   * as copy mode bounds a run's files together: storing zeros occupies the one views server
   * thread, so a run saving 1 GiB of zeros again and again stalled every other vault's run.
   */
  zeroFillTotal?: number;
  /**
   * The digest worker's module (ContentDigests); default the built digest-worker.js beside this
   * module, null for none (large files are then hashed when persisted).
   */
  digestWorker?: string | null;
  /** Called when persisting on release fails (the data is then lost; flush already reported it). */
  onError?: (err: unknown, file: OpenFile) => void;
}

const MiB = 1024 * 1024;
const INO_BATCH = 256;
/** The largest file handle: bits 29 and 30 of what open answers are flags (addHandle). */
const MAX_FH = 0x1fffffff;
/** Appended bytes a persist reads into memory to store after someone else's appends; more are stored as written. */
const MAX_APPEND_REPLAYED = 64 * MiB;
/**
 * How often, while files are open, the mount looks for names they lost to someone else (the CLI,
 * the SDK, another mount) to hold what they read (WorkingCopies.holdBase). Its requests notice
 * that too (follow), but a reader may send none between an outside `rm` and the `prune` and `gc`
 * that would collect the bytes it still reads.
 */
const LOST_NAME_CHECK_MS = 100;

/** Hides remembered for a rename onto the hidden name (OpenFiles.takeJustHidden): libfuse makes one at a time per rename. */
const JUST_HIDDEN_KEPT = 64;

export class OpenFiles {
  private readonly byPath = new Map<string, OpenFile>();
  /** Open hard links unlinked or replaced while open (hide): the stored names of their inode may show a link count of 1. */
  private readonly hiddenLinks = new Set<OpenFile>();
  /** The inode of each hard-link name libfuse just hid (hidLink): a few at most, each gone at the next lookup of the name or rename onto it. */
  private readonly justHidden = new Map<string, number>();
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  private inoNext = 0;
  private inoEnd = 0;
  private readonly copies: WorkingCopies;
  private readonly kernel = new KernelCache();
  private storedEntries: StoredEntries | undefined;
  private lostNameCheck: NodeJS.Timeout | null = null;
  /**
   * Names the kernel still knows open files by after an outside change took the file away from
   * them (moveTo, detachLost), until the file's last release: libfuse 2 gives a name one node id
   * whatever it holds, and the kernel fails every call on a node whose type changes (EIO, on the
   * descriptors too). While what is stored at such a name is not a file, it shows the open file (shownOver).
   */
  private readonly kernelNames = new Map<string, OpenFile>();
  /** The store's data_version at the last look for lost names (null: look at the next tick). */
  private lostNamesSeen: number | null = null;
  /** Zeros these files gained past their ends so far (options.zeroFillTotal). */
  private zeroFilled = 0;

  constructor(
    readonly fs: VaultFs,
    readonly vaultId: number,
    private readonly options: OpenFilesOptions,
  ) {
    const digests = new ContentDigests(options.digestWorker === undefined ? ContentDigests.defaultWorker() : options.digestWorker);
    this.copies = new WorkingCopies(fs.store, options.memoryLimit ?? 8 * MiB, options.memoryBudget ?? 256 * MiB, options.spillDir, digests, options.spillFiles);
  }

  /**
   * The stored entries of the vault, as this mount reads them (cached while the store is
   * unchanged). Made on first use: building a mount's operations reads nothing (the views server
   * builds one set on no vault to learn which handlers exist).
   */
  get stored(): StoredEntries {
    return (this.storedEntries ??= new StoredEntries(this.fs.store, this.fs.row()));
  }

  get memoryLimit(): number {
    return this.copies.memoryLimit;
  }

  get memoryBudget(): number {
    return this.copies.memoryBudget;
  }

  /** How many persists stored a large file from the digest made while it was written (ContentDigests). */
  get digestedPersists(): number {
    return this.copies.digestedPersists;
  }

  // ---- lookup ------------------------------------------------------------------------------

  /** The open file at `path` (orphans are found under the hidden name libfuse gave them). */
  get(path: string): OpenFile | undefined {
    return this.byPath.get(path);
  }

  handle(fh: number): Handle | undefined {
    return this.handles.get(fh);
  }

  /** Files created through the mount and not stored yet, directly in `dir` (readdir lists them). */
  pendingIn(dir: string): OpenFile[] {
    const out: OpenFile[] = [];
    for (const f of this.byPath.values()) if (f.pending && !f.orphan && dirname(f.path) === dir) out.push(f);
    return out;
  }

  /** When the newest file created directly in `dir` and not stored yet was created (0 if none). */
  lastCreatedIn(dir: string): number {
    let last = 0;
    for (const f of this.byPath.values()) {
      const created = f.createdAt ?? 0;
      if (f.pending && !f.orphan && created > last && dirname(f.path) === dir) last = created;
    }
    return last;
  }

  /** The files open here whose bytes are not stored yet: written since their last persist, or created and never stored. */
  *unsavedFiles(): Iterable<OpenFile> {
    for (const f of this.byPath.values()) if (f.unsaved) yield f;
  }

  /** How many files were created through the mount and are not stored yet (they count against max_files). */
  get pendingCount(): number {
    let n = 0;
    for (const f of this.byPath.values()) if (f.pending && !f.orphan) n++;
    return n;
  }

  /**
   * The longest path, in bytes, of a file below `dir` created here and not stored yet (0: none).
   * A rename of `dir` moves such files along without the store seeing them, so the bound on new
   * paths is checked against this (namespace-ops rename): stored later, past it, they were lost.
   */
  longestPendingBelow(dir: string): number {
    let longest = 0;
    for (const f of this.byPath.values()) if (f.pending && isWithin(f.path, dir)) longest = Math.max(longest, Buffer.byteLength(f.path));
    return longest;
  }

  /**
   * Whether a file open here that is not in the store lies below `dir`: one created here and not
   * stored yet, or, with `unlinked`, one unlinked while open (under libfuse's hidden name).
   */
  hasUnstoredBelow(dir: string, unlinked: boolean): boolean {
    for (const f of this.byPath.values()) {
      const gone = f.orphan || f.hiddenLink;
      if ((gone ? unlinked : f.pending) && f.path !== dir && isWithin(f.path, dir)) return true;
    }
    return false;
  }

  get openCount(): number {
    return this.byPath.size;
  }

  get handleCount(): number {
    return this.handles.size;
  }

  // ---- open and release --------------------------------------------------------------------

  /**
   * Opens an existing stored file; shares the OpenFile of any handle already open on the path, or
   * of a file open under another name of its inode (openUnderOtherName).
   */
  open(entry: Entry, flags: number): number {
    entry = this.storeOtherNames(entry);
    let file = this.byPath.get(entry.path);
    // The file open here under this name lost it to the one stored there now.
    if (file && this.lostName(file, entry)) {
      this.yieldName(file);
      file = undefined;
    }
    file ??= this.openUnderOtherName(entry);
    if (!file) {
      file = new OpenFile(entry.path, entry.ino, entry.mode, false, { hash: entry.hash, size: entry.size }, entry.atime, entry.mtime, entry.ctime);
      file.owner = { uid: entry.uid, gid: entry.gid };
      this.byPath.set(entry.path, file);
    } else {
      this.follow(file, entry);
    }
    return this.addHandle(file, flags);
  }

  /**
   * Before a name of a hard link is opened, stores the unsaved bytes of its other names open here
   * (an OpenFile is per name): else a file written through one name, still open, read as it was
   * through the other, where a local disk has one inode. Returns the entry as it is now.
   */
  private storeOtherNames(entry: Entry): Entry {
    let stored = false;
    for (const f of [...this.unsavedLinksOf(entry)]) {
      try {
        this.persist(f);
        stored = true;
      } catch {
        // It stays unsaved (persist's contract); its own flush or close reports the error.
      }
    }
    return stored ? (this.stored.get(entry.path) ?? entry) : entry;
  }

  /**
   * Opens a stored file for a request that names it by path, with no descriptor (truncate(2)), to
   * give it the working-copy machinery. No open reaches the kernel, so the pages it cached for the
   * name stay as they are: they are this file's only if the kernel last saw its content. Else the
   * release forgets the name rather than remember this content as the kernel's: remembered, the
   * next open kept pages from before a write through another name of a hard link, and an edit in
   * place stored them back over that write.
   */
  openByPath(entry: Entry): number {
    const fh = this.open(entry, 0);
    const file = this.handles.get(fh)!.file;
    if (file.refs === 1 && !this.kernel.holds(file.path, file.baseHash)) file.pageCacheStale = true;
    return fh;
  }

  /**
   * The files open here under other names of `entry`'s inode (a hard link) with unsaved writes.
   * Their working copy is the inode's content until they are closed: an open of `entry` stores
   * them first (storeOtherNames), and getattr shows what they will store.
   */
  *unsavedLinksOf(entry: Entry): Iterable<OpenFile> {
    if (entry.type !== 'f' || (entry.nlink <= 1 && this.hiddenLinks.size === 0)) return;
    for (const f of this.byPath.values()) if (f.ino === entry.ino && f.path !== entry.path && f.unsaved && !f.pending) yield f;
  }

  /** Opens another handle on a file that is already open (e.g. one not stored yet). */
  reopen(file: OpenFile, flags: number): number {
    return this.addHandle(file, flags);
  }

  /** Creates a file that exists only here until its first persist, owned by `owner`, in the directory whose inode is `dirIno`. */
  create(path: string, mode: number, flags: number, owner?: Owner, dirIno?: number): number {
    const t = now();
    const file = new OpenFile(path, this.allocIno(), mode & 0o7777, true, { hash: null, size: 0 }, t, t, t);
    file.createdAt = t;
    file.dirIno = dirIno;
    if (owner) file.owner = owner;
    this.byPath.set(path, file);
    // The handle that made the file is writable whatever its open asked for (create() gets no access
    // mode from fuse-native, only the O_APPEND read from the caller), and the file is its change.
    const fh = this.addHandle(file, flags | O_RDWR);
    this.changedThrough(this.handles.get(fh)!);
    return fh;
  }

  private addHandle(file: OpenFile, flags: number): number {
    file.refs++;
    this.watchLostNames();
    // Handle numbers are 32-bit and 0 is not stored by fuse-native: cycle through 1..2^31-1.
    // Bits 29 and 30 of the handle open answers are flags for the addon (file-ops.ts KEEP_CACHE,
    // DIRECT_IO): handles stay below them.
    let fh = this.nextFh;
    while (this.handles.has(fh)) fh = fh >= MAX_FH ? 1 : fh + 1;
    this.nextFh = fh >= MAX_FH ? 1 : fh + 1;
    this.handles.set(fh, { file, flags });
    return fh;
  }

  /** Records which process opened `fh` (the cut an open(O_TRUNC) makes next by path is that handle's). */
  openedBy(fh: number, pid: number | undefined): void {
    const h = this.handles.get(fh);
    if (!h || pid === undefined) return;
    h.pid = pid;
    h.file.openedBy.set(pid, h);
  }

  /** Bytes were written through `h` (a write(2), or pages a memory map wrote back through it). */
  wroteThrough(h: Handle, pageWriteback: boolean): void {
    h.wroteIn = h.changedIn = h.file.stores;
    if (pageWriteback) h.file.pagesWrittenIn = h.file.stores;
  }

  /** `h` changed the file without writing bytes (ftruncate). */
  changedThrough(h: Handle): void {
    h.changedIn = h.file.stores;
  }

  /** Closes a handle; the last one persists unsaved changes and frees the working copy. */
  release(fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    const file = h.file;
    if (h.pid !== undefined && file.openedBy.get(h.pid) === h) file.openedBy.delete(h.pid);
    if (--file.refs > 0) {
      // A change made through it and not stored yet (a cut, a file it created and never wrote):
      // stored now, not when some other process's descriptor (a `tail -f`) is closed at last.
      if (h.changedIn !== file.stores || !file.unsaved) return;
      try {
        this.persist(file);
      } catch (err) {
        this.options.onError?.(err, file);
        throw err;
      }
      return;
    }
    try {
      this.persist(file);
      if (file.orphan || file.pageCacheStale) this.kernel.forget(file.path);
      else this.kernel.remember(file.path, file.baseHash);
    } catch (err) {
      this.kernel.forget(file.path); // the kernel saw writes the store refused
      this.options.onError?.(err, file);
      throw err;
    } finally {
      this.dispose(file);
    }
  }

  /** Whether an open of `file` (stored content `hash`) may keep the kernel's page cache (KernelCache.keep). */
  keepCache(file: OpenFile, hash: string | null): boolean {
    return this.kernel.keep(file, hash);
  }

  /** Forgets what the kernel may cache for `path` (removed, replaced). */
  forgetCache(path: string): void {
    this.kernel.forget(path);
  }

  private dispose(file: OpenFile): void {
    if (this.byPath.get(file.path) === file) this.byPath.delete(file.path);
    for (const [name, held] of this.kernelNames) if (held === file) this.kernelNames.delete(name);
    this.hiddenLinks.delete(file);
    this.copies.drop(file);
  }

  // ---- content -----------------------------------------------------------------------------

  /**
   * Reads into `buf`; returns the byte count (0 at end of file). Sees unsaved writes. `name`: the
   * name a read request came through (OpenFile.readThrough).
   */
  read(file: OpenFile, buf: Buffer, length: number, position: number, name?: string): number {
    const n = this.copies.read(file, buf, length, position);
    if (name !== undefined && length > 0) rangesOf(file.readThrough, name).add(position, position + length);
    return n;
  }

  /** `length` bytes of an open file at `position`, unsaved writes included. */
  private readBytes(file: OpenFile, position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length); // filled below, or the read throws
    for (let done = 0; done < length; ) {
      const n = this.copies.read(file, buf.subarray(done), length - done, position + done);
      if (n === 0) throw new AvfsError('INTERNAL', `${file.path} ended at ${position + done} of ${position + length} bytes`, { path: file.path });
      done += n;
    }
    return buf;
  }

  /**
   * Writes `length` bytes of `buf` at `position` into the working copy (copying them: `buf` is
   * only lent). `name`: the name a write(2) came through (OpenFile.writtenThrough).
   */
  write(file: OpenFile, buf: Buffer, length: number, position: number, name?: string): number {
    if (name !== undefined && length > 0) {
      for (const [other, ranges] of file.writtenThrough) if (other !== name) ranges.remove(position, position + length);
      // Other names' pages of these bytes are now stale, whatever they read before.
      for (const [other, read] of file.readThrough) if (other !== name) read.remove(position, position + length);
      rangesOf(file.writtenThrough, name).add(position, position + length);
    }
    this.fillZeros(file, position);
    if (!file.unsaved) file.appendedFrom = file.pending || position !== file.size ? null : file.size;
    else if (position !== file.size) file.appendedFrom = null;
    this.copies.write(file, buf, length, position);
    file.mtime = file.ctime = now();
    file.state = 'dirty';
    file.written = true;
    return length;
  }

  /**
   * A memory map's dirty pages written back through `name`: every byte but those written through
   * another name of the file (write(2), OpenFile.writtenThrough) since this name's pages read them
   * (OpenFile.readThrough), which its pages hold as they were before; those keep what the other
   * name wrote. Bytes this name read after that write are its pages' own: a change the map made
   * to them is kept.
   */
  writeBack(file: OpenFile, name: string, buf: Buffer, length: number, position: number): number {
    const others = new ByteRanges();
    for (const [other, ranges] of file.writtenThrough) {
      if (other === name) continue;
      for (const piece of ranges.pieces(position, position + length)) if (piece.inRange) others.add(piece.start, piece.end);
    }
    for (const [start, end] of file.readThrough.get(name)?.list() ?? []) others.remove(start, end);
    if (others.empty) return this.write(file, buf, length, position);
    for (const piece of others.pieces(position, position + length)) {
      if (!piece.inRange) this.write(file, buf.subarray(piece.start - position, piece.end - position), piece.end - piece.start, piece.start);
    }
    return length;
  }

  /**
   * Before a write the kernel makes from a memory map's dirty page (page writeback): a clean file
   * whose stored content changed since the kernel cached its pages (follow) is put back on the
   * content those pages came from (pagesFrom). The page holds that content's bytes around what the
   * process wrote, so written over the new content it made a mix nobody wrote; this way the close
   * stores what the mapping process saw and wrote, as the newer version, naming the one it
   * replaced (`replaced`), as any file with unsaved writes does (the header).
   */
  writtenBack(file: OpenFile): void {
    const from = file.pagesFrom;
    if (!from || file.unsaved || file.orphan || from.hash === file.baseHash) return;
    this.copies.drop(file);
    file.baseHash = from.hash;
    file.size = from.size;
    file.pagesFrom = null;
  }

  /** Counts the zeros that growing `file` to `end` adds (MAX_ZERO_FILL, options.zeroFillTotal), refusing more with EFBIG. */
  private fillZeros(file: OpenFile, end: number): void {
    if (end <= file.size) return;
    const zeros = file.zeroFill + (end - file.size);
    if (zeros > MAX_ZERO_FILL) {
      throw new AvfsError('QUOTA_EXCEEDED', `${file.path}: a file may gain at most ${MAX_ZERO_FILL} bytes of zeros past its end between two saves`, {
        path: file.path,
        cause: 'EFBIG',
      });
    }
    const total = this.zeroFilled + (end - file.size);
    if (this.options.zeroFillTotal !== undefined && total > this.options.zeroFillTotal) {
      throw new AvfsError('QUOTA_EXCEEDED', `${file.path}: this run's files may gain at most ${this.options.zeroFillTotal} bytes of zeros past their ends in all`, {
        path: file.path,
        cause: 'EFBIG',
      });
    }
    file.zeroFill = zeros;
    this.zeroFilled = total;
  }

  /** Cuts or extends (with zeros) the working copy to `size` bytes. */
  truncate(file: OpenFile, size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new AvfsError('INVALID_ARGUMENT', `invalid size: ${size}`, { size });
    const t = now();
    if (size === file.size) {
      // Same size (O_TRUNC of an empty file, ftruncate to the current length): times only, no new
      // version. A stored file with nothing unsaved will not be persisted, so they are stored now.
      file.mtime = file.ctime = t;
      if (file.unsaved || file.orphan) return;
      // Stored under its name, the one it moved to, or (unlinked while open) a name its inode still has.
      const name = file.hiddenLink ? this.storedNameOf(file) : this.relocate(file);
      if (name !== undefined) this.fs.touchExact([name], null, t, t);
      return;
    }
    this.fillZeros(file, size);
    // A cut file holds no more zeros than its new size (a write inside it changes nothing).
    if (size < file.size) file.zeroFill = Math.min(file.zeroFill, size);
    this.copies.resize(file, size);
    file.mtime = file.ctime = t;
    file.state = 'dirty';
    file.appendedFrom = null;
  }

  // ---- what the kernel sees, and outside changes --------------------------------------------

  /**
   * What the kernel is shown for an open file, and exactly what persisting it stores: the working
   * state's size and times, the mode of the stored entry (chmod of a stored file changes the
   * entry) unless a chmod waits for the persist (`attributesWait`), and the later ctime of the two
   * (a rename or chmod changes the entry's). `entry` is the stored entry at the file's path; a
   * file not stored (pending, orphaned) shows its own state.
   */
  shown(file: OpenFile, entry: Entry | undefined): ShownAttributes {
    const stored = file.pending || file.orphan || entry?.type !== 'f' ? undefined : entry;
    return {
      mode: stored && !file.modeChanged ? stored.mode : file.mode,
      size: file.size,
      atime: file.atime,
      mtime: file.mtime,
      ctime: stored ? Math.max(file.ctime, stored.ctime) : file.ctime,
    };
  }

  /** The owner the kernel is shown for an open file: its own when not stored or when a chown waits for the persist. */
  ownerOf(file: OpenFile, entry: Entry | undefined): Owner {
    const stored = file.pending || file.orphan || file.ownerChanged || entry?.type !== 'f' ? undefined : entry;
    return stored ? { uid: stored.uid, gid: stored.gid } : file.owner;
  }

  /**
   * Whether a chown, chmod or utimens of an open file waits for the persist that stores its
   * unsaved bytes, so that `tar x` (write, then fchown, fchmod, futimens, close) stores a file
   * once, as one version, instead of once per call. It waits when the file has unsaved bytes
   * (created and not stored, or written since its last persist) and no other name: the other
   * names of a hard link show their stored entry, so a change there is stored at once, as for a
   * file with nothing unsaved. A crash before the persist loses the change with the bytes.
   */
  attributesWait(file: OpenFile, entry: Entry | undefined): boolean {
    if (file.pending) return true;
    return file.unsaved && entry?.type === 'f' && entry.nlink <= 1;
  }

  /** chown of a file whose attributes wait (attributesWait); `null` keeps an id. A change that changes nothing changes no time. */
  chown(file: OpenFile, entry: Entry | undefined, uid: number | null, gid: number | null): void {
    const was = this.ownerOf(file, entry);
    const next = { uid: uid ?? was.uid, gid: gid ?? was.gid };
    if (next.uid === was.uid && next.gid === was.gid) return;
    file.owner = next;
    file.ownerChanged = true;
    file.ctime = now();
  }

  /**
   * utimens of an inode through one of its names: its times are the inode's, so the files open
   * under its other names take them too (`null` keeps a time). Else the persist of one with
   * unsaved writes would store over them the time of a write made before (a local disk keeps
   * the times set last).
   */
  setTimes(ino: number, atime: number | null, mtime: number | null, ctime: number, except?: OpenFile): void {
    for (const f of this.byPath.values()) {
      if (f === except || f.ino !== ino || f.pending || f.orphan) continue;
      if (atime !== null) f.atime = atime;
      if (mtime !== null) f.mtime = mtime;
      f.ctime = ctime;
    }
  }

  /** chmod of a file whose attributes wait (attributesWait). A change that changes nothing changes no time. */
  chmod(file: OpenFile, entry: Entry | undefined, mode: number): void {
    if ((mode & 0o7777) === this.shown(file, entry).mode) return;
    file.mode = mode & 0o7777;
    file.modeChanged = true;
    file.ctime = now();
  }

  /**
   * Brings an open file with no unsaved writes up to date with its stored entry, which someone
   * else may have rewritten since (see the header): its reads, size and appends then follow the
   * new content. A clean working copy is dropped; the next write starts from the new content.
   * `stored` is the entry when the caller has just read it.
   */
  follow(file: OpenFile, stored?: Entry): void {
    if (file.unsaved || file.orphan) return;
    const entry = stored ?? this.stored.get(file.path);
    if (entry?.type !== 'f' || entry.ino !== file.ino) {
      this.copies.holdBase(file); // another file now has the name (lostName): prune may drop what referenced its bytes
      return;
    }
    if (entry.hash !== file.baseHash) {
      this.copies.drop(file);
      file.pagesFrom ??= { hash: file.baseHash, size: file.size };
      file.baseHash = entry.hash;
      file.pageCacheStale = true;
    }
    file.size = file.storedSize = entry.size;
    file.mode = entry.mode;
    file.atime = entry.atime;
    file.mtime = entry.mtime;
    file.ctime = entry.ctime;
  }

  // ---- persisting --------------------------------------------------------------------------

  /**
   * Stores an unsaved file as one new version (a no-op when there is nothing to save), with the
   * attributes the kernel was shown (`shown`), through VaultFs.writeFileExact. On failure (quota,
   * a parent removed meanwhile) the file stays dirty and the error is thrown, so flush/close
   * report it to the tool.
   */
  persist(file: OpenFile): void {
    if (!file.unsaved) return;
    let target = (): string | undefined => this.relocate(file);
    if (file.hiddenLink) {
      // A hard link unlinked while open: stored under a name the inode still has. With none left,
      // the bytes go with the inode, as on a local disk.
      const survivor = this.storedNameOf(file);
      if (survivor === undefined) {
        file.orphan = true;
        return;
      }
      target = () => survivor;
    }
    const previous = file.state;
    file.state = 'persisting';
    try {
      let shown: ShownAttributes | undefined;
      const appendedFrom = file.appendedFrom;
      const write = {
        from: file.pending ? undefined : { hash: file.baseHash },
        appended:
          appendedFrom === null || file.size - appendedFrom > MAX_APPEND_REPLAYED
            ? undefined
            : {
                size: appendedFrom,
                head: () => this.readBytes(file, 0, appendedFrom),
                bytes: () => this.readBytes(file, appendedFrom, file.size - appendedFrom),
              },
        ino: file.ino,
        owner: file.owner,
        ownerChanged: file.ownerChanged,
        attributes: (old: Entry | undefined) => {
          shown = this.shown(file, old);
          return { ...shown, createdAt: file.createdAt };
        },
      };
      let entry: Entry | undefined;
      if (this.copies.writtenInPlace(file)) {
        entry = this.copies.persistEdit(file, (edit) => this.fs.writeFileExact(target, { edit }, write));
      } else if (file.spill) {
        // A second descriptor reads from offset 0 (the content is streamed from the current position).
        const fd = openSync(file.spill.path, 'r');
        try {
          entry = this.fs.writeFileExact(target, { fd, ...this.copies.digestOf(file) }, write);
        } finally {
          closeSync(fd);
        }
      } else {
        const data = this.copies.bytes(file);
        if (!data) throw new AvfsError('INTERNAL', `no working copy for ${file.path}`, { path: file.path });
        entry = this.fs.writeFileExact(target, data, write);
      }
      if (!entry) {
        // Removed elsewhere (relocate): its bytes go with it, as with a local file unlinked while open.
        file.state = previous;
        this.detachLost(file);
        return;
      }
      file.mode = shown!.mode;
      file.ctime = shown!.ctime;
      file.baseHash = entry.hash;
      file.storedSize = entry.size;
      file.appendedFrom = null;
      file.zeroFill = 0;
      if (entry.size !== file.size) {
        // Stored after what someone else appended meanwhile (`appended`): the working copy lacks
        // their bytes, so reads go to the stored content again, as for a file that follows it.
        this.copies.drop(file);
        file.size = entry.size;
        file.pageCacheStale = true;
      }
      file.pending = false;
      file.written = false;
      file.stores++;
      file.ownerChanged = file.modeChanged = false;
      file.pagesFrom = null; // what is stored now is the file's own content
      file.state = 'flushed';
    } catch (err) {
      file.state = previous;
      throw err;
    }
  }

  /**
   * Whether `file`, open here, lost its name to someone else (the CLI, another mount removed or
   * renamed it, or put another file there): `stored` is what its path shows now. It no longer
   * follows what is stored there (follow), and a new name takes the path from it (yieldName).
   * Until then, with nothing stored at the path, getattr still reports it there: it cannot tell a
   * lookup of the name from a getattr of the open file, which must go on answering for its
   * descriptors.
   */
  lostName(file: OpenFile, stored: Entry | undefined): boolean {
    return !file.pending && !file.orphan && !file.hiddenLink && stored?.ino !== file.ino;
  }

  /**
   * A new name takes the path of a file that lost it (lostName): the file follows its inode to
   * the name it was renamed to, or goes on for its descriptors as a file unlinked while open,
   * whose bytes, unsaved ones included, go with it at its last close, as on a local disk.
   */
  yieldName(file: OpenFile): void {
    if (!this.followInode(file)) this.detachLost(file);
  }

  /**
   * The open file `path` shows instead of `stored`, an entry of another type made there elsewhere
   * (a directory, a symlink), while the kernel holds that file open under the name (kernelNames).
   */
  shownOver(path: string, stored: Entry | undefined): OpenFile | undefined {
    if (stored === undefined || stored.type === 'f') return undefined;
    const live = this.byPath.get(path);
    if (live && !live.pending && !live.orphan && !live.hiddenLink) return live;
    return this.kernelNames.get(path);
  }

  /**
   * Moves a file that lost its name to the name its inode has now, if another one; true when it
   * did. `kernelKeepsName`: the name went elsewhere (lostName), so the kernel still shows the file
   * there; not after the kernel's own unlink of it, when a new entry made at the name must show.
   */
  followInode(file: OpenFile, kernelKeepsName = true): boolean {
    const to = kernelKeepsName ? this.continuedAt(file) : this.storedNameOf(file);
    if (to === undefined || to === file.path) return false;
    const from = file.path;
    this.moveTo(file, to);
    if (!kernelKeepsName) this.kernelNames.delete(from);
    return true;
  }

  /**
   * Where a file whose name someone else took went on: a stored name of its inode, which it was
   * moved or linked to. Unless the name was taken by history putting back another state since the
   * file was opened (a restore, revert, checkout, merge or undo, which may also give the inode
   * back to names it had then, a checkpoint taken before an mv): as a tool writing its files anew
   * would, that removed the file, and its close stores nothing, as README says ("removed
   * elsewhere"). Followed, it overwrote what was put back, under every name of its inode. What
   * happens at the names it was moved to later (a rewrite and revert there) does not matter.
   */
  private continuedAt(file: OpenFile): string | undefined {
    const [taken] = pathVersions(this.fs.store, this.fs.row(), file.path, 1);
    if (taken !== undefined && taken.at >= file.openedAt && PUTS_BACK.has(taken.op)) return undefined;
    return this.storedNameOf(file);
  }

  /** A stored name of the file's inode, if it has one (after an outside rename; for a hard link unlinked while open, OpenFile.hiddenLink). */
  storedNameOf(file: OpenFile): string | undefined {
    return this.stored.namesOf(file.ino).find((e) => e.type === 'f')?.path;
  }

  /**
   * Someone else (the CLI, the SDK, another mount) renamed a file open here, or a directory above
   * it, since it was opened or created; the kernel still names it by its old path. As for a local
   * file, its bytes follow the file: a stored file by its inode number, a file not stored yet by
   * its directory's. Stored under the old path instead, the file came back there beside the moved
   * one, sharing its inode number, or failed (its directory gone) and lost its bytes. A file whose
   * inode (or directory) no name holds any more was removed: undefined, nothing is stored, and its
   * bytes go with it as with a local file unlinked while open (stored again, it came back after
   * the rm, or over a new file made at its name). Only an outside change leads here (the mount's
   * own renames and unlinks move or detach open files), so the scan for the inode is rare. Asked
   * inside the persist's write transaction (VaultFs.writeFileExact), so no rename commits in
   * between. Returns the path to store the file at.
   */
  private relocate(file: OpenFile): string | undefined {
    let to: string | undefined;
    if (file.pending) {
      if (file.dirIno === undefined || this.stored.get(dirname(file.path))?.ino === file.dirIno) return file.path;
      const dir = this.stored.namesOf(file.dirIno).find((e) => e.type === 'd');
      to = dir && joinPath(dir.path, basename(file.path));
    } else {
      if (this.stored.get(file.path)?.ino === file.ino) return file.path;
      to = this.continuedAt(file);
    }
    if (to === undefined) return undefined;
    if (to !== file.path) this.moveTo(file, to);
    return to;
  }

  /**
   * The file open here under another name of `entry`'s inode, shared: one inode, one working copy,
   * as on a local disk, where two would make the last close drop the other's writes. A name that
   * no longer shows the inode was renamed by someone else to `entry.path`: the file moves to it.
   * One that still does is a hard link: the file keeps its name, and what it stores there is the
   * inode's content under every name.
   */
  private openUnderOtherName(entry: Entry): OpenFile | undefined {
    if (entry.type !== 'f') return undefined;
    for (const file of this.byPath.values()) {
      if (file.ino !== entry.ino || file.pending || file.orphan || file.path === entry.path) continue;
      if (this.stored.get(file.path)?.ino !== file.ino) this.moveTo(file, entry.path);
      return file;
    }
    return undefined;
  }

  /** Takes a file that lost its name to an outside change off its path (an outside rename: moveTo). */
  private moveTo(file: OpenFile, to: string): void {
    // The kernel may hold pages of what the new name stored before: they are not this file's.
    file.pageCacheStale = true;
    this.kernelNames.set(file.path, file);
    this.leavePath(file);
    file.path = to;
    if (!this.byPath.has(to)) this.byPath.set(to, file);
  }

  /**
   * close(2) of one descriptor. Persists when bytes were written since the last persist. A file
   * only created or truncated is persisted on release instead: a shell's `echo x > f` opens f
   * (creating or truncating it), dup2()s and closes the descriptor (a flush) before writing, and
   * persisting then would record an empty version before the real one. Only a descriptor that
   * wrote since the last store stores: a `cat` or `tar c` of a file another process is still
   * writing, or a descriptor opened for writing that wrote nothing, would store that writer's
   * unfinished bytes as a version of their own. Pages a memory map wrote back may come through any
   * writable descriptor of the file, so any writable one's close stores those.
   */
  flush(h: Handle): void {
    const file = h.file;
    const pages = file.pagesWrittenIn === file.stores && (h.flags & O_ACCMODE) !== O_RDONLY;
    if (file.written && (h.wroteIn === file.stores || pages)) this.persist(file);
  }

  /** Persists every unsaved file (unmount, shutdown). Returns the failures; never throws. */
  persistAll(): { path: string; error: unknown }[] {
    const failed: { path: string; error: unknown }[] = [];
    for (const file of [...this.byPath.values()]) {
      try {
        this.persist(file);
      } catch (error) {
        failed.push({ path: file.path, error });
      }
    }
    return failed;
  }

  /** Frees every working copy (after persistAll, at exit). */
  closeAll(): void {
    this.stopWatchingLostNames();
    this.storedEntries?.close();
    for (const file of [...this.byPath.values()]) this.dispose(file);
    this.handles.clear();
    this.copies.stop();
  }

  // ---- namespace changes -------------------------------------------------------------------

  /** The file at `path` was unlinked or replaced while open: keep it for its handles, never store it. */
  detach(file: OpenFile): void {
    this.copies.holdBase(file);
    file.orphan = true;
    this.leavePath(file);
  }

  /** detach for a file removed by an outside change: the kernel still knows it by its name (kernelNames). */
  private detachLost(file: OpenFile): void {
    this.kernelNames.set(file.path, file);
    this.detach(file);
  }

  /** Takes a file off its path: the kernel's pages of it and the lookup by path (detach, hide, moveTo). */
  private leavePath(file: OpenFile): void {
    this.kernel.forget(file.path);
    if (this.byPath.get(file.path) === file) this.byPath.delete(file.path);
  }

  /** libfuse hid `name`, a name of hard-linked inode `ino` open here (namespace-ops rename): takeJustHidden. */
  hidLink(name: string, ino: number): void {
    this.justHidden.delete(name);
    this.justHidden.set(name, ino);
    if (this.justHidden.size > JUST_HIDDEN_KEPT) this.justHidden.delete(this.justHidden.keys().next().value!);
  }

  /**
   * The inode of the hard link libfuse just hid from `path`, when nothing has looked the name up
   * since: libfuse hides an open rename target within the rename's own request (the kernel has
   * not looked up the name since, and that rename comes next), while a name unlinked by an
   * earlier request is looked up again before anything is renamed onto it. A rename onto the name
   * takes it (namespace-ops).
   */
  takeJustHidden(path: string): number | undefined {
    const ino = this.justHidden.get(path);
    this.justHidden.delete(path);
    return ino;
  }

  /** A lookup of `path` (getattr): a hide of that name is no longer part of a rename (takeJustHidden). */
  lookedUp(path: string): void {
    if (this.justHidden.size > 0) this.justHidden.delete(path);
  }

  /**
   * libfuse renames an open file that is unlinked (or replaced by a rename) to a hidden name and
   * unlinks that on the last release; the file is gone from the tree but its handles still work.
   * A file with `otherNames` (hard links) is not gone: its later writes are stored under them.
   */
  hide(file: OpenFile, hiddenPath: string, otherNames = false): void {
    if (otherNames) {
      file.hiddenLink = true;
      this.hiddenLinks.add(file);
      this.leavePath(file);
    } else {
      this.detach(file);
    }
    file.path = hiddenPath;
    this.byPath.set(hiddenPath, file);
  }

  /**
   * Moves open files at or below `src` to the same place below `dst` (after a rename through the
   * mount). A file renamed itself changes directory: a file not stored yet takes the inode of its
   * new one (dirIno), else its persist took the old directory's for a rename made elsewhere and
   * stored it back there (relocate), or nowhere once that directory was removed. Files below a
   * renamed directory keep theirs: their directory moved, its inode did not.
   */
  move(src: string, dst: string, directory: boolean): void {
    this.kernel.move(src, dst, directory);
    const moving: OpenFile[] = [];
    for (const [p, f] of this.byPath) if (isWithin(p, src)) moving.push(f);
    for (const f of moving) this.byPath.delete(f.path);
    for (const f of moving) {
      if (f.path === src && f.dirIno !== undefined) f.dirIno = this.stored.get(dirname(dst))?.ino;
      f.path = rebase(f.path, src, dst);
      this.byPath.set(f.path, f);
    }
    // The kernel inode of a name moves with it, and so do its pages: so do the ranges written
    // through it, or a map written back through its new name would keep them from itself.
    for (const f of this.byPath.values()) {
      moveRanges(f.writtenThrough, src, dst, (into, from) => {
        for (const [start, end] of from.list()) into.add(start, end);
      });
      // Two names' reads: what both read is what the name now holds, at most.
      moveRanges(f.readThrough, src, dst, (into, from) => {
        for (const gap of from.pieces(0, Number.MAX_SAFE_INTEGER)) if (!gap.inRange) into.remove(gap.start, gap.end);
      });
    }
  }

  /** Starts the look for lost names (LOST_NAME_CHECK_MS) while files are open. */
  private watchLostNames(): void {
    if (this.lostNameCheck) return;
    this.lostNamesSeen = null;
    this.lostNameCheck = setInterval(() => this.holdLostBases(), LOST_NAME_CHECK_MS);
    this.lostNameCheck.unref();
  }

  private stopWatchingLostNames(): void {
    if (this.lostNameCheck) clearInterval(this.lostNameCheck);
    this.lostNameCheck = null;
  }

  /**
   * Holds what each clean open file reads from once it lost its name to someone else, when
   * another connection committed since the last look (a data_version read otherwise).
   */
  holdLostBases(): void {
    if (this.byPath.size === 0) return this.stopWatchingLostNames();
    // On a timer: nothing may escape it (it would end the server).
    try {
      const version = this.fs.store.dataVersion();
      if (version === this.lostNamesSeen) return;
      this.lostNamesSeen = version;
      for (const file of this.byPath.values()) {
        if (!file.baseHold && this.lostName(file, this.stored.get(file.path))) this.copies.holdBase(file);
      }
    } catch {
      this.lostNamesSeen = null; // a read failed (a busy home): look again at the next tick
    }
  }

  private allocIno(): number {
    if (this.inoNext >= this.inoEnd) {
      this.inoNext = this.fs.reserveInos(INO_BATCH);
      this.inoEnd = this.inoNext + INO_BATCH;
    }
    return this.inoNext++;
  }
}

/** The ranges `byName` keeps for `name` (OpenFile.writtenThrough, readThrough), made empty when it has none. */
function rangesOf(byName: Map<string, ByteRanges>, name: string): ByteRanges {
  let ranges = byName.get(name);
  if (!ranges) byName.set(name, (ranges = new ByteRanges()));
  return ranges;
}

/**
 * Re-keys per-name ranges (OpenFile.writtenThrough, readThrough) from names within `src` to the
 * same names within `dst`; where the name they move to has ranges already, `join` folds them in.
 */
function moveRanges(byName: Map<string, ByteRanges>, src: string, dst: string, join: (into: ByteRanges, from: ByteRanges) => void): void {
  for (const [name, ranges] of [...byName]) {
    if (!isWithin(name, src)) continue;
    byName.delete(name);
    const to = rebase(name, src, dst);
    const there = byName.get(to);
    if (there) join(there, ranges);
    else byName.set(to, ranges);
  }
}
