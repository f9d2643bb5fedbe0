import { ByteRanges } from '../core/byte-ranges.js';
import type { Owner } from '../store/vault-fs.js';
import type { DigestStream } from './content-digests.js';
import type { Held } from './content-holds.js';

/**
 * One file open through the mount, shared by every handle on its path. Its life cycle, its
 * working copy and what the kernel is shown of it: the header of open-files.ts.
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
export const O_RDWR = 2;
export const O_APPEND = 0o2000;
export const O_TRUNC = 0o1000;

export class OpenFile {
  state: OpenFileState = 'open';
  /** Open handles (file descriptors in the kernel's sense) on this file. */
  refs = 0;
  /** Unlinked (or replaced) while open: still readable and writable through its handles, never persisted. */
  orphan = false;
  /**
   * Unlinked while open, but a hard link: the inode lives on under its other names, so its bytes
   * are stored there (OpenFiles.persist), while the kernel names it by the hidden name.
   */
  hiddenLink = false;
  /** Bytes were written since the last persist (flush persists only then; see OpenFiles.flush). */
  written = false;
  /** How many times it was stored since it was opened: a handle's changes are unsaved while they were made in the current count (Handle). */
  stores = 0;
  /** The store count in which the kernel last wrote back pages of a memory map of it (any writable handle's close stores them). */
  pagesWrittenIn: number | null = null;
  /** Each process's newest handle on it: an open(2) with O_TRUNC opens first and then cuts by path (file-ops truncate). */
  readonly openedBy = new Map<number, Handle>();
  /** Zeros added past the end (truncate up, writes past the end) since the last persist (OpenFiles.fillZeros). */
  zeroFill = 0;
  /** Stored content the file started from (while clean, reads come from it). */
  baseHash: string | null;
  /** Logical size: of the base while clean, of the working copy once materialised. */
  size: number;
  /** The size the store holds for it, as of its open, last persist or follow (0 while pending): the quota check counts the growth past it. */
  storedSize: number;
  /** In-memory working copy (capacity may exceed `size`; bytes past `size` are always zero). */
  mem: Buffer | null = null;
  /** On-disk working copy for large files. */
  spill: { path: string; fd: number } | null = null;
  /**
   * A large stored file written in place (a database's pages, a log's appends): the bytes written
   * since its last persist, at their offsets in a sparse spill file, and where they are; every
   * other byte is the base content's (`baseHash`), which `hold` keeps from gc meanwhile.
   */
  edits: { path: string; fd: number; written: ByteRanges; hold: Held } | null = null;
  /**
   * Keeps `baseHash` from gc while the file, clean, reads from it but lost its name (unlinked or
   * replaced, here or elsewhere): nothing else may reference that content once prune drops its
   * versions, and a local disk keeps such a file's bytes until its last close
   * (WorkingCopies.holdBase). Ended when the file is done with that content.
   */
  baseHold: Held | null = null;
  /** The spill file's bytes being hashed and chunked as they arrive (ContentDigests), until a write goes back over them. */
  digest: DigestStream | null = null;
  /** The inode number of the directory a file created through the mount was created in (OpenFiles.relocate). */
  dirIno: number | undefined;
  /** When a file created through the mount was created (its directory changed then, as the kernel saw it). */
  createdAt: number | undefined;
  /**
   * While every write since the last persist appended at the end of the stored content (`echo >>`,
   * a log): that content's size; else null. The persist then stores these bytes after whatever
   * the path holds by then, if someone else only appended to it meanwhile (VaultFs.writeFileExact's
   * `appended`), instead of writing over what they appended.
   */
  appendedFrom: number | null = null;
  /** The stored content changed under this open file: pages the kernel cached for it may be old. */
  pageCacheStale = false;
  /** When the file was opened (epoch ms): what history put back since did not move it (OpenFiles.continuedAt). */
  readonly openedAt = Date.now();
  /**
   * While pageCacheStale: the content those old pages came from (what the file held before it
   * followed the store). A page written back from a memory map is one of them, its bytes around
   * what the process wrote are that content's (OpenFiles.writtenBack).
   */
  pagesFrom: { hash: string | null; size: number } | null = null;
  /**
   * Bytes written by write(2) through each name of the file (its path when written) while it is
   * open. libfuse 2 gives every name its own kernel inode and page cache, so a name's cached
   * pages lack what was written through another name since: a page a memory map writes back
   * through it keeps those bytes as the other name wrote them (OpenFiles.writeBack), where a
   * whole stale page lost them.
   */
  readonly writtenThrough = new Map<string, ByteRanges>();
  /**
   * Bytes each name read (a read request fills that name's pages) since they were last written
   * through another name: its pages hold those as they are, so a page written back through it
   * keeps them too (OpenFiles.writeBack). A name that read nothing since the file was opened here
   * may hold pages from before: every byte another name wrote counts as not in them.
   */
  readonly readThrough = new Map<string, ByteRanges>();
  /** Owner of a file created through the mount (its creator), stored by its first persist. */
  owner: Owner = { uid: null, gid: null };
  /**
   * A chown or chmod of a file with unsaved bytes waits for the persist that stores them (one
   * version, not one per attribute change; OpenFiles.chown/chmod): `owner` and `mode` then hold
   * the new values, which the kernel is shown at once, over the stored entry's.
   */
  ownerChanged = false;
  modeChanged = false;

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
    this.storedSize = base.size;
  }

  get materialized(): boolean {
    return this.mem !== null || this.spill !== null || this.edits !== null;
  }

  /** Needs persisting: written since the last persist, or created and never stored. */
  get unsaved(): boolean {
    return !this.orphan && (this.state === 'dirty' || this.pending);
  }
}

/**
 * One open file description (what the kernel's open made; copies of its descriptor share it).
 * Its close stores only what was changed through it, so a reader's close, or a writer's that
 * changed nothing, never stores another process's unfinished writes.
 */
export interface Handle {
  file: OpenFile;
  flags: number;
  /** The file's store count when bytes were last written through it (flush stores them). */
  wroteIn?: number;
  /** The same for any change through it: bytes, a cut, the file's creation (its release stores them). */
  changedIn?: number;
  /** The process that opened it, when known. */
  pid?: number;
}
