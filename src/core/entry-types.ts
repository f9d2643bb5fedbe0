/**
 * The kinds of entry a vault holds, each stored as one letter: regular file, directory, symbolic
 * link, FIFO (named pipe), Unix socket, character and block device. Only files have content;
 * FIFOs, sockets and devices are metadata (type, mode, owner, device number).
 */
export type EntryType = 'f' | 'd' | 'l' | 'p' | 's' | 'c' | 'b';

/** Modes of a new file and a new directory when none is given (and of the vault root). */
export const DEFAULT_FILE_MODE = 0o644;
export const DEFAULT_DIR_MODE = 0o755;

/**
 * The mode a copy gets (cp(1) without -p): a copy belongs to whoever made it, so the bits that
 * grant its owner's or group's rights to anyone who runs it go. A file loses set-user-ID,
 * set-group-ID and sticky; a directory keeps its sticky bit (mkdir(2) keeps only that one).
 * COPIED_MODE_SQL is the same rule over an entries row, for copies made set-wise.
 */
export const copiedMode = (type: EntryType, mode: number): number => mode & ~(type === 'd' ? 0o6000 : 0o7000);
export const COPIED_MODE_SQL = `(mode & ~(CASE type WHEN 'd' THEN ${0o6000} ELSE ${0o7000} END))`;

/** The name of each kind in JSON output and messages. */
export type EntryKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char_device' | 'block_device';

export const KIND: Record<EntryType, EntryKind> = {
  f: 'file',
  d: 'directory',
  l: 'symlink',
  p: 'fifo',
  s: 'socket',
  c: 'char_device',
  b: 'block_device',
};

/** What lstat(2) says a host path is, as the predicates of node's Stats answer it. */
export interface HostKind {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

/** The entry type of a host path from its lstat (null for a kind Linux does not have). */
export function hostEntryType(st: HostKind): EntryType | null {
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isFile()) return 'f';
  if (st.isFIFO()) return 'p';
  if (st.isSocket()) return 's';
  if (st.isCharacterDevice()) return 'c';
  return st.isBlockDevice() ? 'b' : null;
}

/** Linux's encoding of a device number (glibc gnu_dev_major/minor, the 32-bit part FUSE passes). */
export const devMajor = (rdev: number): number => (rdev >>> 8) & 0xfff;
export const devMinor = (rdev: number): number => ((rdev & 0xff) | ((rdev >>> 12) & 0xfff00)) >>> 0;

/** Permission bits as octal text, as every report shows them: `0644`. */
export const formatMode = (mode: number): string => '0' + (mode & 0o7777).toString(8).padStart(3, '0');
