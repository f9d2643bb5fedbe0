import { isWithin, rebase } from '../core/paths.js';
import type { OpenFile } from './open-file.js';

/**
 * The content the kernel's page cache holds for a path (what it read or had written through the
 * mount), recorded when the last handle closes. An open whose stored content is still that one
 * can keep the page cache; anything changed outside the mount (the CLI, another process) has
 * another hash, and the kernel drops its pages on that open.
 */
export class KernelCache {
  private readonly content = new Map<string, string | null>();

  /**
   * Whether an open of `file` (whose stored content is `hash`) may keep the kernel's page cache:
   * yes when another handle is open (the pages are the shared working state) or when the kernel
   * last saw exactly this content; never when the content changed under the open file (an open
   * that does not keep the cache drops every cached page of the file).
   */
  keep(file: OpenFile, hash: string | null): boolean {
    if (file.pageCacheStale) {
      file.pageCacheStale = false;
      file.pagesFrom = null;
      this.remember(file.path, hash);
      return false;
    }
    if (file.refs > 1) return true;
    const keep = this.holds(file.path, hash);
    this.remember(file.path, hash);
    return keep;
  }

  /** Whether the kernel was last known to hold `hash` for `path` (what its pages of the name came from). */
  holds(path: string, hash: string | null): boolean {
    return this.content.has(path) && this.content.get(path) === hash;
  }

  /** The kernel holds `hash` for `path` (its last handle closed after reading or writing it). */
  remember(path: string, hash: string | null): void {
    if (this.content.size >= 100_000) this.content.clear(); // only costs re-reads
    this.content.set(path, hash);
  }

  /** Forgets what the kernel may cache for `path` (removed, replaced, or written and refused). */
  forget(path: string): void {
    this.content.delete(path);
  }

  /**
   * A rename moved `src` (and what is below it, for a directory) to `dst`: the kernel moves the
   * inodes and their page cache with the names. A file's is one key: scanning every path the
   * kernel may cache (up to 100,000) on each rename made `git add` of 100k files in a long-lived
   * mount take 55 ms a rename.
   */
  move(src: string, dst: string, directory: boolean): void {
    if (!directory) {
      const had = this.content.has(src);
      const hash = this.content.get(src);
      this.content.delete(src);
      this.content.delete(dst);
      if (had) this.content.set(dst, hash ?? null);
      return;
    }
    const cached = [...this.content].filter(([p]) => isWithin(p, src));
    for (const [p] of cached) this.content.delete(p);
    this.content.delete(dst);
    for (const [p, h] of cached) this.content.set(rebase(p, src, dst), h);
  }
}
