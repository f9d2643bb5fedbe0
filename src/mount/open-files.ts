import { closeSync, ftruncateSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AvfsError, isADirectory, notADirectory, notFound } from '../errors.js';
import { dirname, isWithin, rebase } from '../core/paths.js';
import { audit } from '../store/audit.js';
import { contentChunks, linkContent, putContent, putContentFromFd, readContent, type ContentRef } from '../store/blobs.js';
import { getEntry, lastVersion, putEntry, reserveInos, setTimes, type Entry } from '../store/entries.js';
import type { Owner, VaultFs } from '../store/vault-fs.js';
import type { VaultRow } from '../store/vaults.js';
import { now, type Store } from '../store/store.js';

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
 */

export type OpenFileState = 'open' | 'dirty' | 'persisting' | 'flushed';

/** The attributes of an open file that the kernel sees and a persist stores. */
export interface ShownAttributes {
  mode: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
}

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0;
export const O_APPEND = 0o2000;

export class OpenFile {
  state: OpenFileState = 'open';
  /** Open handles (file descriptors in the kernel's sense) on this file. */
  refs = 0;
  /** Unlinked (or replaced) while open: still readable and writable through its handles, never persisted. */
  orphan = false;
  /** Bytes were written since the last persist (flush persists only then; see OpenFiles.flush). */
  written = false;
  /** Stored content the file started from (while clean, reads come from it). */
  baseHash: string | null;
  /** Logical size: of the base while clean, of the working copy once materialised. */
  size: number;
  /** In-memory working copy (capacity may exceed `size`; bytes past `size` are always zero). */
  mem: Buffer | null = null;
  /** On-disk working copy for large files. */
  spill: { path: string; fd: number } | null = null;
  /** When a file created through the mount was created (its directory changed then, as the kernel saw it). */
  createdAt: number | undefined;
  /** The stored content changed under this open file: pages the kernel cached for it may be old. */
  pageCacheStale = false;
  /** Owner of a file created through the mount (its creator), stored by its first persist. */
  owner: Owner = { uid: null, gid: null };

  constructor(
    public path: string,
    public ino: number,
    public mode: number,
    /** Created through the mount and not stored yet. */
    public pending: boolean,
    base: { hash: string | null; size: number },
    public atime: number,
    public mtime: number,
    public ctime: number,
  ) {
    this.baseHash = base.hash;
    this.size = base.size;
  }

  get materialized(): boolean {
    return this.mem !== null || this.spill !== null;
  }

  /** Needs persisting: written since the last persist, or created and never stored. */
  get unsaved(): boolean {
    return !this.orphan && (this.state === 'dirty' || this.pending);
  }
}

export interface Handle {
  file: OpenFile;
  flags: number;
}

export interface OpenFilesOptions {
  /** Largest working copy kept in memory per file (default 8 MiB). */
  memoryLimit?: number;
  /** Total memory for working copies in this process (default 256 MiB). */
  memoryBudget?: number;
  /** Directory for spill files (created on first use). */
  spillDir: string;
  /** Called when persisting on release fails (the data is then lost; flush already reported it). */
  onError?: (err: unknown, file: OpenFile) => void;
}

const MiB = 1024 * 1024;
const MIN_CAPACITY = 64 * 1024;
const INO_BATCH = 256;

export class OpenFiles {
  private readonly byPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  private inoNext = 0;
  private inoEnd = 0;
  private spillSeq = 0;
  private memoryInUse = 0;
  /**
   * The content the kernel's page cache holds for a path (what it read or had written through
   * the mount), recorded when the last handle closes. An open whose stored content is still that
   * one can keep the page cache; anything changed outside the mount (the CLI, another process)
   * has another hash, and the kernel drops its pages on that open.
   */
  private readonly kernelContent = new Map<string, string | null>();
  readonly memoryLimit: number;
  readonly memoryBudget: number;

  constructor(
    readonly fs: VaultFs,
    readonly vaultId: number,
    private readonly options: OpenFilesOptions,
  ) {
    this.memoryLimit = options.memoryLimit ?? 8 * MiB;
    this.memoryBudget = options.memoryBudget ?? 256 * MiB;
  }

  private get store() {
    return this.fs.store;
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

  /** How many files were created through the mount and are not stored yet (they count against max_files). */
  get pendingCount(): number {
    let n = 0;
    for (const f of this.byPath.values()) if (f.pending && !f.orphan) n++;
    return n;
  }

  /** Whether any open file that is not in the store (pending or orphaned) lies below `dir`. */
  hasUnstoredBelow(dir: string): boolean {
    for (const f of this.byPath.values()) if ((f.pending || f.orphan) && f.path !== dir && isWithin(f.path, dir)) return true;
    return false;
  }

  get openCount(): number {
    return this.byPath.size;
  }

  get handleCount(): number {
    return this.handles.size;
  }

  // ---- open and release --------------------------------------------------------------------

  /** Opens an existing stored file; shares the OpenFile of any handle already open on the path. */
  open(entry: Entry, flags: number): number {
    let file = this.byPath.get(entry.path);
    if (!file) {
      file = new OpenFile(entry.path, entry.ino, entry.mode, false, { hash: entry.hash, size: entry.size }, entry.atime, entry.mtime, entry.ctime);
      file.owner = { uid: entry.uid, gid: entry.gid };
      this.byPath.set(entry.path, file);
    } else {
      this.follow(file, entry);
    }
    return this.addHandle(file, flags);
  }

  /** Opens another handle on a file that is already open (e.g. one not stored yet). */
  reopen(file: OpenFile, flags: number): number {
    return this.addHandle(file, flags);
  }

  /** Creates a file that exists only here until its first persist, owned by `owner`. */
  create(path: string, mode: number, flags: number, owner?: Owner): number {
    const t = now();
    const file = new OpenFile(path, this.allocIno(), mode & 0o7777, true, { hash: null, size: 0 }, t, t, t);
    file.createdAt = t;
    if (owner) file.owner = owner;
    this.byPath.set(path, file);
    return this.addHandle(file, flags);
  }

  private addHandle(file: OpenFile, flags: number): number {
    file.refs++;
    // Handle numbers are 32-bit and 0 is not stored by fuse-native: cycle through 1..2^31-1.
    let fh = this.nextFh;
    while (this.handles.has(fh)) fh = fh >= 0x7fffffff ? 1 : fh + 1;
    this.nextFh = fh >= 0x7fffffff ? 1 : fh + 1;
    this.handles.set(fh, { file, flags });
    return fh;
  }

  /** Closes a handle; the last one persists unsaved changes and frees the working copy. */
  release(fh: number): void {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    const file = h.file;
    if (--file.refs > 0) return;
    try {
      this.persist(file);
      if (file.orphan || file.pageCacheStale) this.kernelContent.delete(file.path);
      else this.remember(file.path, file.baseHash);
    } catch (err) {
      this.kernelContent.delete(file.path); // the kernel saw writes the store refused
      this.options.onError?.(err, file);
      throw err;
    } finally {
      this.dispose(file);
    }
  }

  /**
   * Whether an open of `file` (whose stored content is `hash`) may keep the kernel's page cache:
   * yes when another handle is open (the pages are the shared working state) or when the kernel
   * last saw exactly this content; never when the content changed under the open file (an open
   * that does not keep the cache drops every cached page of the file).
   */
  keepCache(file: OpenFile, hash: string | null): boolean {
    if (file.pageCacheStale) {
      file.pageCacheStale = false;
      this.remember(file.path, hash);
      return false;
    }
    if (file.refs > 1) return true;
    const keep = this.kernelContent.has(file.path) && this.kernelContent.get(file.path) === hash;
    this.remember(file.path, hash);
    return keep;
  }

  /** Forgets what the kernel may cache for `path` (removed, replaced). */
  forgetCache(path: string): void {
    this.kernelContent.delete(path);
  }

  private remember(path: string, hash: string | null): void {
    if (this.kernelContent.size >= 100_000) this.kernelContent.clear(); // only costs re-reads
    this.kernelContent.set(path, hash);
  }

  private dispose(file: OpenFile): void {
    if (this.byPath.get(file.path) === file) this.byPath.delete(file.path);
    this.dropWorkingCopy(file);
  }

  private dropWorkingCopy(file: OpenFile): void {
    if (file.mem) {
      this.memoryInUse -= file.mem.length;
      file.mem = null;
    }
    if (file.spill) {
      try {
        closeSync(file.spill.fd);
      } catch {
        // already closed
      }
      rmSync(file.spill.path, { force: true });
      file.spill = null;
    }
  }

  // ---- content -----------------------------------------------------------------------------

  /** Reads into `buf`; returns the byte count (0 at end of file). Sees unsaved writes. */
  read(file: OpenFile, buf: Buffer, length: number, position: number): number {
    if (position >= file.size) return 0;
    const n = Math.min(length, file.size - position);
    if (file.mem) return file.mem.copy(buf, 0, position, position + n);
    if (file.spill) return readFully(file.spill.fd, buf, n, position);
    if (!file.baseHash) return 0;
    return readContent(this.store, file.baseHash, position, n).copy(buf, 0);
  }

  /** Writes `length` bytes of `buf` at `position` into the working copy (copying them: `buf` is only lent). */
  write(file: OpenFile, buf: Buffer, length: number, position: number): number {
    const end = position + length;
    this.materialize(file, file.size);
    if (file.mem && end > file.mem.length) this.grow(file, end);
    if (file.mem) {
      buf.copy(file.mem, position, 0, length);
    } else {
      writeFully(file.spill!.fd, buf, length, position);
    }
    if (end > file.size) file.size = end;
    file.mtime = file.ctime = now();
    file.state = 'dirty';
    file.written = true;
    return length;
  }

  /** Cuts or extends (with zeros) the working copy to `size` bytes. */
  truncate(file: OpenFile, size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new AvfsError('INVALID_ARGUMENT', `invalid size: ${size}`, { size });
    const t = now();
    if (size === file.size) {
      // Same size (O_TRUNC of an empty file, ftruncate to the current length): times only, no new
      // version. A stored file with nothing unsaved will not be persisted, so they are stored now.
      file.mtime = file.ctime = t;
      if (!file.unsaved && !file.orphan) this.store.mutate(() => setTimes(this.store, this.fs.row(), file.path, null, t, { op: 'touch', actor: this.fs.actor }, t));
      return;
    }
    this.materialize(file, size);
    if (file.mem) {
      if (size > file.mem.length) this.grow(file, size);
      else if (size < file.size) file.mem.fill(0, size, file.size);
    }
    if (file.spill) ftruncateSync(file.spill.fd, size);
    file.size = size;
    file.mtime = file.ctime = t;
    file.state = 'dirty';
  }

  /**
   * Gives a clean file a working copy holding its first `keep` bytes of stored content (the rest
   * is about to be cut off or overwritten). Large files go to a spill file, streamed chunk by chunk.
   */
  private materialize(file: OpenFile, keep: number): void {
    if (file.materialized) return;
    const copy = Math.min(file.size, keep);
    if (copy > this.memoryLimit || this.memoryInUse + copy > this.memoryBudget) {
      const spill = this.openSpill(file);
      if (copy > 0 && file.baseHash) {
        let pos = 0;
        for (const chunk of contentChunks(this.store, file.baseHash)) {
          const n = Math.min(chunk.length, copy - pos);
          writeFully(spill.fd, chunk, n, pos);
          pos += n;
          if (pos >= copy) break;
        }
      }
      ftruncateSync(spill.fd, copy);
    } else {
      const mem = Buffer.alloc(Math.max(copy, MIN_CAPACITY));
      if (copy > 0 && file.baseHash) readContent(this.store, file.baseHash, 0, copy).copy(mem, 0);
      file.mem = mem;
      this.memoryInUse += mem.length;
    }
    file.size = copy;
  }

  /** Grows the in-memory copy to hold `needed` bytes, or moves it to a spill file past the limits. */
  private grow(file: OpenFile, needed: number): void {
    const old = file.mem!;
    const capacity = Math.max(needed, Math.min(old.length * 2, this.memoryLimit), MIN_CAPACITY);
    if (needed > this.memoryLimit || this.memoryInUse - old.length + capacity > this.memoryBudget) {
      const spill = this.openSpill(file);
      writeFully(spill.fd, old, file.size, 0);
      this.memoryInUse -= old.length;
      file.mem = null;
      return;
    }
    const mem = Buffer.alloc(capacity);
    old.copy(mem, 0, 0, file.size);
    this.memoryInUse += capacity - old.length;
    file.mem = mem;
  }

  private openSpill(file: OpenFile): { path: string; fd: number } {
    mkdirSync(this.options.spillDir, { recursive: true, mode: 0o700 });
    const path = join(this.options.spillDir, `${file.ino}-${++this.spillSeq}`);
    const fd = openSync(path, 'w+', 0o600);
    file.spill = { path, fd };
    return file.spill;
  }

  // ---- what the kernel sees, and outside changes --------------------------------------------

  /**
   * What the kernel is shown for an open file, and exactly what persisting it stores: the working
   * state's size and times, the mode of the stored entry (chmod of a stored file changes the
   * entry) and the later ctime of the two (a rename or chmod changes the entry's). `entry` is the
   * stored entry at the file's path; a file not stored (pending, orphaned) shows its own state.
   */
  shown(file: OpenFile, entry: Entry | undefined): ShownAttributes {
    const stored = file.pending || file.orphan || entry?.type !== 'f' ? undefined : entry;
    return {
      mode: stored ? stored.mode : file.mode,
      size: file.size,
      atime: file.atime,
      mtime: file.mtime,
      ctime: stored ? Math.max(file.ctime, stored.ctime) : file.ctime,
    };
  }

  /**
   * Brings an open file with no unsaved writes up to date with its stored entry, which someone
   * else may have rewritten since (see the header): its reads, size and appends then follow the
   * new content. A clean working copy is dropped; the next write starts from the new content.
   * `stored` is the entry when the caller has just read it.
   */
  follow(file: OpenFile, stored?: Entry): void {
    if (file.unsaved || file.orphan) return;
    const entry = stored ?? getEntry(this.store, this.fs.row(), file.path);
    if (entry?.type !== 'f') return;
    if (entry.hash !== file.baseHash) {
      this.dropWorkingCopy(file);
      file.baseHash = entry.hash;
      file.pageCacheStale = true;
    }
    file.size = entry.size;
    file.mode = entry.mode;
    file.atime = entry.atime;
    file.mtime = entry.mtime;
    file.ctime = entry.ctime;
  }

  // ---- persisting --------------------------------------------------------------------------

  /**
   * Stores an unsaved file as one new version (a no-op when there is nothing to save), with the
   * attributes the kernel was shown (`shown`). Content first (content-addressed, harmless if the
   * entry change then fails), then the entry and its version in one transaction. On failure
   * (quota, a parent removed meanwhile) the file stays dirty and the error is thrown, so
   * flush/close report it to the tool.
   */
  persist(file: OpenFile): void {
    if (!file.unsaved) return;
    const previous = file.state;
    file.state = 'persisting';
    try {
      let content: ContentRef | undefined;
      if (file.spill) {
        // A second descriptor reads from offset 0 (putContentFromFd streams from the current position).
        const fd = openSync(file.spill.path, 'r');
        try {
          // One transaction for the chunks too: per-chunk commits cost ~0.7 ms each (a 256 MiB
          // file is 4,096 chunks), while the lock is held here only as long as hashing and
          // inserting take (about 0.3 s per 100 MiB).
          content = this.store.mutate(() => putContentFromFd(this.store, fd));
        } finally {
          closeSync(fd);
        }
      }
      const store = this.store;
      const fs = this.fs;
      let shown: ShownAttributes | undefined;
      store.mutate(() => {
        if (!content) {
          const data = file.mem ? file.mem.subarray(0, file.size) : file.size === 0 ? Buffer.alloc(0) : undefined;
          if (!data) throw new AvfsError('INTERNAL', `no working copy for ${file.path}`, { path: file.path });
          content = putContent(store, data);
        }
        linkContent(store, content); // a spilled file's content was stored by the transaction above
        const vault = fs.row();
        const parent = getEntry(store, vault, dirname(file.path));
        if (!parent) throw notFound(dirname(file.path), fs.name);
        if (parent.type !== 'd') throw notADirectory(parent.path);
        const old = getEntry(store, vault, file.path);
        if (old?.type === 'd') throw isADirectory(file.path);
        shown = this.shown(file, old);
        const replaced = replacedVersion(store, vault, file, old);
        putEntry(
          store,
          vault,
          file.path,
          {
            type: 'f',
            mode: shown.mode,
            size: content.size,
            hash: content.hash,
            target: null,
            mtime: shown.mtime,
            atime: shown.atime,
            ino: old ? undefined : file.ino,
            ...(old ? undefined : file.owner),
          },
          {
            op: old ? 'write' : 'create',
            actor: fs.actor,
            at: { ctime: shown.ctime, createdAt: file.createdAt },
            detail: replaced === undefined ? undefined : { replaced },
          },
        );
        audit(store, fs.actor, 'write', fs.name, { path: file.path, size: content.size });
      });
      file.mode = shown!.mode;
      file.ctime = shown!.ctime;
      file.baseHash = content!.hash;
      file.pending = false;
      file.written = false;
      file.state = 'flushed';
    } catch (err) {
      file.state = previous;
      throw err;
    }
  }

  /**
   * close(2) of one descriptor. Persists when bytes were written since the last persist. A file
   * only created or truncated is persisted on release instead: a shell's `echo x > f` opens f
   * (creating or truncating it), dup2()s and closes the descriptor (a flush) before writing, and
   * persisting then would record an empty version before the real one.
   */
  flush(file: OpenFile): void {
    if (file.written) this.persist(file);
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
    for (const file of [...this.byPath.values()]) this.dispose(file);
    this.handles.clear();
  }

  // ---- namespace changes -------------------------------------------------------------------

  /** The file at `path` was unlinked or replaced while open: keep it for its handles, never store it. */
  detach(file: OpenFile): void {
    file.orphan = true;
    this.kernelContent.delete(file.path);
    if (this.byPath.get(file.path) === file) this.byPath.delete(file.path);
  }

  /**
   * libfuse renames an open file that is unlinked (or replaced by a rename) to a hidden name and
   * unlinks that on the last release; the file is gone from the tree but its handles still work.
   */
  hide(file: OpenFile, hiddenPath: string): void {
    this.detach(file);
    file.path = hiddenPath;
    this.byPath.set(hiddenPath, file);
  }

  /** Moves open files at or below `src` to the same place below `dst` (after a rename). */
  move(src: string, dst: string): void {
    // The kernel moves the inode (and its page cache) with the name.
    const cached = [...this.kernelContent].filter(([p]) => isWithin(p, src));
    for (const [p] of cached) this.kernelContent.delete(p);
    this.kernelContent.delete(dst);
    for (const [p, h] of cached) this.kernelContent.set(rebase(p, src, dst), h);
    const moving: OpenFile[] = [];
    for (const [p, f] of this.byPath) if (isWithin(p, src)) moving.push(f);
    for (const f of moving) this.byPath.delete(f.path);
    for (const f of moving) {
      f.path = rebase(f.path, src, dst);
      this.byPath.set(f.path, f);
    }
  }

  private allocIno(): number {
    if (this.inoNext >= this.inoEnd) {
      this.inoNext = reserveInos(this.store, this.vaultId, INO_BATCH);
      this.inoEnd = this.inoNext + INO_BATCH;
    }
    return this.inoNext++;
  }
}

/**
 * The version of someone else's that persisting `file` replaces, if any: the stored file was
 * created, rewritten or removed outside this open file since its content was taken from the store.
 */
function replacedVersion(store: Store, vault: VaultRow, file: OpenFile, old: Entry | undefined): number | undefined {
  if (file.pending) return old?.version;
  if (!old) return lastVersion(store, vault, file.path);
  return old.hash === file.baseHash ? undefined : old.version;
}

function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeFully(fd: number, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, buf, done, length - done, position + done);
}
