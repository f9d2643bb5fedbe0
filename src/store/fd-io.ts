import { readSync, writeSync } from 'node:fs';

/**
 * Whole reads and writes on a descriptor. readSync and writeSync may do less than asked: a read
 * stops short on a pipe, and a write that fills the disk returns the bytes it wrote instead of
 * failing (libuv reports ENOSPC only when nothing was written), so a caller that takes one call
 * for the whole request truncates a file and reports success. These loop until done; the call
 * after a short write then fails with the real errno.
 */

/**
 * Reads `length` bytes into `buf` at `position`, or from the current offset when null (fewer only
 * at end of file); returns how many.
 */
export function readFully(fd: number, buf: Uint8Array, position: number | null, length = buf.length): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position === null ? null : position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes the first `length` bytes of `buf` at `position`, or at the current offset when null. */
export function writeFully(fd: number, buf: Uint8Array, position: number | null, length = buf.length): void {
  let done = 0;
  while (done < length) done += writeSync(fd, buf, done, length - done, position === null ? null : position + done);
}
