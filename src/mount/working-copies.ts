import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ByteRanges } from '../core/byte-ranges.js';
import { readFully, writeFully } from '../store/fd-io.js';
import {
  abandonDigestedPut,
  contentChunks,
  contentInfo,
  INLINE_MAX,
  readContent,
  readContentInto,
  startDigestedPut,
  storeDigestedChunks,
  type ContentDigest,
  type ContentEdit,
  type DigestedPut,
} from '../store/blobs.js';
import { AvfsError } from '../errors.js';
import type { Entry } from '../store/entries.js';
import type { Store } from '../store/store.js';
import { ContentHolds, type Held } from './content-holds.js';
import { ContentDigests, type DigestStream } from './content-digests.js';
import type { OpenFile } from './open-file.js';

/**
 * The working copies of open files: the bytes a file holds between its first write and its
 * persist. In memory up to `memoryLimit` bytes per file while the process-wide `memoryBudget`
 * allows, beyond that in a spill file on disk, so a 1 GiB file is never held in memory. A clean
 * file has none: its reads go straight to the stored content, loading only the chunks they overlap.
 * A spill file's bytes are hashed and chunked by a worker thread as sequential writes make them
 * final (ContentDigests), and the chunks it cuts are stored while the file is still being written
 * (about 1 MiB per transaction, pinned under a lease until the persist links them: gc.ts), so
 * persisting a large file written front to back only stores its last chunks and links them.
 * A large stored file written in place instead (a database's pages, a log's appends) is not copied
 * at all: its written bytes go to a sparse spill file at their offsets, the rest is read from its
 * stored content, and its persist re-stores only the chunks around what was written
 * (putEditedContent), so appending a line to a 40 MB log costs a hash of the log, not a copy,
 * a re-chunking and a re-hash of every chunk.
 */
export class WorkingCopies {
  private spillSeq = 0;
  private memoryInUse = 0;
  /** Spill files open for this mount or exec view (see SPILLS_MAX). */
  private spills = 0;
  private readonly holds: ContentHolds;

  constructor(
    private readonly store: Store,
    readonly memoryLimit: number,
    readonly memoryBudget: number,
    private readonly spillDir: string,
    private readonly digests: ContentDigests = new ContentDigests(null),
    private readonly spillFiles = SPILLS_MAX / 2,
  ) {
    this.holds = new ContentHolds(store);
  }

  /** How many persists used a digest made while the bytes arrived (tests and the bench look). */
  digestedPersists = 0;

  /** Reads into `buf`; returns the byte count (0 at end of file). Sees unsaved writes. */
  read(file: OpenFile, buf: Buffer, length: number, position: number): number {
    if (position >= file.size) return 0;
    const n = Math.min(length, file.size - position);
    if (file.mem) return file.mem.copy(buf, 0, position, position + n);
    if (file.spill) return readFully(file.spill.fd, buf, position, n);
    if (file.edits) return this.readEdited(file, buf, n, position);
    if (!file.baseHash) return 0;
    return readContentInto(this.store, file.baseHash, position, n, buf);
  }

  /** Writes `length` bytes of `buf` at `position` (copying them: `buf` is only lent); grows `file.size`. */
  write(file: OpenFile, buf: Buffer, length: number, position: number): void {
    const end = position + length;
    this.materialize(file, file.size);
    if (file.edits) {
      const { fd, written } = file.edits;
      writeFully(fd, buf, position, length);
      // A write past the end leaves a hole, which reads as zeros: the spill file's, not the base's bytes.
      written.add(Math.min(position, file.size), end);
      if (end > file.size) file.size = end;
      return;
    }
    if (file.mem && end > file.mem.length) this.grow(file, end);
    if (file.mem) {
      // A write past the end leaves a hole, which reads as zeros (the buffer past `size` is not zeroed).
      if (position > file.size) file.mem.fill(0, file.size, position);
      buf.copy(file.mem, position, 0, length);
    } else {
      if (file.digest && !this.digests.canChange(file.digest, position)) this.endDigest(file);
      writeFully(file.spill!.fd, buf, position, length);
    }
    if (end > file.size) file.size = end;
    if (file.digest) {
      this.digests.advance(file.digest, file.size);
      if (!this.storeCut(file.digest, file.spill!.fd)) this.endDigest(file);
    }
  }

  /**
   * Stores the chunks the worker has cut (once about STORE_STEP of them are there), in a
   * transaction of their own, under the stream's DigestedPut. Only an early start on the persist:
   * when it fails (a busy or full home), what it stored is abandoned, it stops (false), and the
   * persist stores the whole file.
   */
  private storeCut(stream: DigestStream, fd: number): boolean {
    if (stream.put === null) return false;
    const cut = this.digests.take(stream, STORE_STEP);
    if (cut.length === 0) return true;
    try {
      stream.put ??= startDigestedPut(this.store);
      storeDigestedChunks(this.store, stream.put, fd, cut);
      return true;
    } catch {
      this.abandon(stream);
      stream.put = null;
      return false;
    }
  }

  /**
   * The digest of a spilled file's content, made while its bytes arrived, and the chunks of it
   * stored meanwhile (for putDigestedContentFromFd, which then owns them); undefined when there is
   * none (the file was written out of order, or is small enough to be stored inline). Ends the
   * stream: later writes are hashed by the persist that stores them.
   */
  digestOf(file: OpenFile): { digest: ContentDigest; put?: DigestedPut } | undefined {
    const stream = file.digest;
    if (!stream || !file.spill) return undefined;
    if (file.size <= INLINE_MAX) {
      this.endDigest(file);
      return undefined;
    }
    file.digest = null;
    const fd = file.spill.fd;
    const digest = this.digests.finish(stream, file.size, () => void this.storeCut(stream, fd));
    if (!digest) {
      this.abandon(stream);
      return undefined;
    }
    this.digestedPersists++;
    return { digest, put: stream.put ?? undefined };
  }

  private endDigest(file: OpenFile): void {
    const stream = file.digest;
    if (!stream) return;
    file.digest = null;
    this.digests.drop(stream);
    this.abandon(stream);
  }

  /** Removes what a stream stored early (unless something references it now). */
  private abandon(stream: DigestStream): void {
    if (!stream.put) return;
    try {
      abandonDigestedPut(this.store, stream.put);
    } catch {
      // Best effort: the lease is abandoned when the store closes, or ended by gc after a crash.
    }
    stream.put = undefined;
  }

  /**
   * Holds the stored content a clean file reads from (OpenFile.baseHold), once it lost its name.
   * A no-op when it needs none: no stored base, a working copy of its own, or held already.
   * Content gc took already stays missing (its reads fail EIO); a busy home is tried again on
   * the next call.
   */
  holdBase(file: OpenFile): void {
    if (file.baseHold || !file.baseHash || file.pending || file.materialized) return;
    try {
      file.baseHold = this.holds.take(file.baseHash);
    } catch (err) {
      if (err instanceof AvfsError && err.code === 'CONTENT_MISSING') file.baseHold = { hash: file.baseHash, lease: { id: null } };
    }
  }

  /** Whether the file is a large stored file written in place (see the header): persistEdit stores it. */
  writtenInPlace(file: OpenFile): boolean {
    return file.edits !== null && file.baseHash !== null;
  }

  /**
   * Persists a file written in place (`writtenInPlace`): `write` stores `edit` (VaultFs.writeFileExact) and returns
   * the entry. The hold moves to the stored content in that same transaction (no gc between),
   * unless the entry is not the working copy (someone else appended meanwhile: the copy is dropped
   * next) or no handle is left (dropped next, the hold with it). Then nothing is written since.
   */
  persistEdit(file: OpenFile, write: (edit: ContentEdit) => Entry | undefined): Entry | undefined {
    const edits = file.edits;
    if (!edits || !file.baseHash) throw new AvfsError('INTERNAL', `${file.path} is not written in place`, { path: file.path });
    const edit: ContentEdit = { base: file.baseHash, size: file.size, changed: edits.written.list(), read: (buf, length, position) => this.read(file, buf, length, position) };
    let moved: Held | undefined;
    let entry: Entry | undefined;
    try {
      entry = this.store.mutate(() => {
        const stored = write(edit);
        if (stored?.hash && stored.size === file.size && file.refs > 0) moved = this.holds.moveWithin(stored.hash, edits.hold);
        return stored;
      });
    } catch (err) {
      if (moved) ContentHolds.undo(moved);
      throw err;
    }
    if (moved) edits.hold = moved;
    if (entry?.size === file.size) edits.written.clear();
    return entry;
  }

  private readEdited(file: OpenFile, buf: Buffer, n: number, position: number): number {
    const { fd, written } = file.edits!;
    let filled = 0;
    for (const piece of written.pieces(position, position + n)) {
      const target = buf.subarray(filled, filled + piece.end - piece.start);
      const got = piece.inRange ? readFully(fd, target, piece.start) : readContentInto(this.store, file.baseHash!, piece.start, target.length, target);
      // A short spill read is a hole at its end (zeros); the base always holds the bytes outside the ranges.
      if (got < target.length) target.fill(0, got);
      filled += target.length;
    }
    return filled;
  }

  /** Ends the digest worker and the holds let go (unmount). */
  stop(): void {
    this.digests.stop();
    this.holds.endParked();
  }

  /** Cuts or extends (with zeros) the file's bytes to `size`. */
  resize(file: OpenFile, size: number): void {
    if (file.digest && !this.digests.canChange(file.digest, size)) this.endDigest(file);
    this.materialize(file, size);
    if (file.edits) {
      ftruncateSync(file.edits.fd, size);
      if (size < file.size) file.edits.written.clip(size);
      else file.edits.written.add(file.size, size);
      file.size = size;
      return;
    }
    if (file.mem) {
      if (size > file.mem.length) this.grow(file, size);
      if (file.mem && size > file.size) file.mem.fill(0, file.size, size);
    }
    if (file.spill) ftruncateSync(file.spill.fd, size);
    file.size = size;
  }

  /** The whole working copy of a file kept in memory (an empty file needs none); undefined when it is spilled or missing. */
  bytes(file: OpenFile): Buffer | undefined {
    return file.mem ? file.mem.subarray(0, file.size) : file.size === 0 ? Buffer.alloc(0) : undefined;
  }

  /** Frees a file's working copy (its memory, or its spill file), and its hold on the content it read from. */
  drop(file: OpenFile): void {
    this.endDigest(file);
    if (file.baseHold) {
      this.holds.letGo(file.baseHold);
      file.baseHold = null;
    }
    if (file.mem) {
      this.memoryInUse -= file.mem.length;
      file.mem = null;
    }
    if (file.spill) {
      this.removeSpill(file.spill);
      file.spill = null;
    }
    if (file.edits) {
      const { path, fd, hold } = file.edits;
      file.edits = null;
      this.removeSpill({ path, fd });
      this.holds.letGo(hold);
    }
  }

  /**
   * Gives a clean file a working copy holding its first `keep` bytes of stored content (the rest
   * is about to be cut off or overwritten). Large files go to a spill file, streamed chunk by chunk.
   */
  private materialize(file: OpenFile, keep: number): void {
    if (file.materialized) return;
    const copy = Math.min(file.size, keep);
    if (copy > 0 && file.baseHash && !contentInfo(this.store, file.baseHash).inline) {
      // A large stored file written in place: nothing is copied (see the header).
      const spill = this.spillFile(file);
      let hold: Held;
      try {
        hold = this.holds.take(file.baseHash);
      } catch (err) {
        this.removeSpill(spill);
        throw err;
      }
      file.edits = { ...spill, written: new ByteRanges(), hold };
      return;
    }
    if (copy > this.memoryLimit || this.memoryInUse + copy > this.memoryBudget) {
      const spill = this.openSpill(file);
      if (copy > 0 && file.baseHash) {
        let pos = 0;
        for (const chunk of contentChunks(this.store, file.baseHash)) {
          const n = Math.min(chunk.length, copy - pos);
          writeFully(spill.fd, chunk, pos, n);
          pos += n;
          if (pos >= copy) break;
        }
      }
      ftruncateSync(spill.fd, copy);
    } else {
      const mem = Buffer.allocUnsafe(Math.max(copy, MIN_CAPACITY));
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
      writeFully(spill.fd, old, 0, file.size);
      this.memoryInUse -= old.length;
      file.mem = null;
      return;
    }
    const mem = Buffer.allocUnsafe(capacity);
    old.copy(mem, 0, 0, file.size);
    this.memoryInUse += capacity - old.length;
    file.mem = mem;
  }

  private openSpill(file: OpenFile): { path: string; fd: number } {
    file.spill = this.spillFile(file);
    file.digest = this.digests.start(file.spill.path);
    return file.spill;
  }

  private spillFile(file: OpenFile): { path: string; fd: number } {
    if (this.spills >= this.spillFiles || spillsOpen >= SPILLS_MAX) {
      throw new AvfsError('NO_SPACE', `${this.spills} files written through this mount are open in spill files, the most it keeps (${spillsOpen} in this process, at most ${SPILLS_MAX}): close some`, {
        path: file.path,
        reason: 'open_files',
      });
    }
    mkdirSync(this.spillDir, { recursive: true, mode: 0o700 });
    const path = join(this.spillDir, `${file.ino}-${++this.spillSeq}`);
    const fd = openSync(path, 'w+', 0o600);
    this.spills++;
    spillsOpen++;
    return { path, fd };
  }

  private removeSpill(spill: { path: string; fd: number }): void {
    closeQuietly(spill.fd);
    rmSync(spill.path, { force: true });
    this.spills--;
    spillsOpen--;
  }
}

/**
 * Spill files open in this process, and the most there may be: each holds a descriptor here and
 * one in the digest worker, and a command in a sandbox can keep thousands of written files open
 * (each one a spill file once the memory budget is spent). Without a bound that ran the home's
 * views server out of descriptors (EMFILE), and it failed, and every exec of the home with it.
 * Past the bound a write that needs one fails with ENOSPC; one mount or exec view takes at most
 * half, so one exec cannot take them all.
 */
let spillsOpen = 0;
const SPILLS_MAX = spillBound();

/** Two descriptors a spill file, within the soft RLIMIT_NOFILE (Node raises it to the hard one), 1,024 kept for the rest. */
function spillBound(): number {
  let nofile = 4096;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) nofile = Number(m[1]);
  } catch {
    // no /proc: the default above
  }
  return Math.max(64, Math.min(16_384, Math.floor((nofile - 1024) / 2)));
}

/**
 * A working copy's buffer holds at least this much, so appends rarely reallocate. Allocated
 * unzeroed: only the bytes below the file's size are ever read, and a write or truncate past the
 * end zeroes the gap it opens. Zeroing it all touched every page at once, a page fault each: on
 * these VMs, 64 KiB cost ~170 µs, most of a small file's edit (write handler 270 µs).
 */
const MIN_CAPACITY = 64 * 1024;
/** Chunks stored per transaction while a large file is written (few commits, a short write lock). */
const STORE_STEP = 1024 * 1024;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
