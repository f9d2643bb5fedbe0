import { dirname } from '../core/paths.js';
import type { Store } from '../store/store.js';
import { currentSeq, pathsChangedSince } from '../store/vaults.js';

/** Listings kept at most; past it the cache starts over. */
const MAX_LISTINGS = 1024;
/** Changed paths looked at one by one; more changes than this since the last look forget every listing. */
const MAX_CHANGES = 4096;

/**
 * The mount's directory listings (names and what readdir reports of each), each reused until a
 * change touches that directory. When the change sequence has moved (a version recorded, by this
 * process or another), the paths changed since are read once, and only the listings of their
 * parents and of themselves are dropped: a tool that writes in one directory (git's index.lock)
 * no longer makes every other directory be listed from the store again.
 */
export class ListingCache<T> {
  private readonly listings = new Map<string, T>();
  private validAt: number;

  constructor(
    private readonly store: Store,
    private readonly vaultId: number,
  ) {
    this.validAt = currentSeq(store);
  }

  /** The listing of `dir` if one is kept and no change since touched it. */
  get(dir: string): T | undefined {
    this.refresh();
    return this.listings.get(dir);
  }

  /** Keeps `listing` as `dir`'s, read after a `get` of it (so no later change is hidden). */
  set(dir: string, listing: T): void {
    if (this.listings.size >= MAX_LISTINGS) this.listings.clear();
    this.listings.set(dir, listing);
  }

  private refresh(): void {
    const seq = currentSeq(this.store);
    if (seq === this.validAt) return;
    // Read after seq: a change committed in between is seen here too, and at worst read again next time.
    const changed = this.listings.size === 0 ? [] : pathsChangedSince(this.store, this.vaultId, this.validAt, MAX_CHANGES);
    if (changed === null) this.listings.clear();
    else {
      for (const path of changed) {
        this.listings.delete(path);
        this.listings.delete(dirname(path));
      }
    }
    this.validAt = seq;
  }
}
