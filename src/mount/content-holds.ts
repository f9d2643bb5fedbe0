import { endLease, type Lease } from '../store/leases.js';
import { holdContent } from '../store/blobs.js';
import type { Store } from '../store/store.js';

/** A hold on one stored content (blobs.ts holdContent) and the hash it holds. */
export interface Held {
  hash: string;
  lease: Lease;
}

/**
 * The mount's holds on stored content that open files read from (a large file written in place,
 * a file that lost its name), with their ends put off: a hold let go is parked for PARK_MS, and
 * a file opened on the same content meanwhile takes it back without a transaction. A shell
 * appending to a log line by line (`echo >> log`: open, write, close) otherwise paid three
 * commits per line beside the one that stores it: take the hold at the first write, move it to
 * the stored version, end it at the close. Now the move shares the store's transaction
 * (`moveWithin`) and the next open takes the parked hold. A hold kept a moment longer only keeps
 * gc from that content a moment longer; holds left at a crash are ended by gc (leases.ts).
 */
export class ContentHolds {
  private readonly parked = new Map<string, Lease[]>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly store: Store) {}

  /** A hold on `hash`: a parked one if there is one, else a new one (CONTENT_MISSING when gc took it already). */
  take(hash: string): Held {
    const leases = this.parked.get(hash);
    const lease = leases?.pop();
    if (leases?.length === 0) this.parked.delete(hash);
    return { hash, lease: lease ?? holdContent(this.store, hash) };
  }

  /**
   * Moves `previous` to `hash`, inside the caller's write transaction (the one that stores `hash`,
   * so no gc runs between). If that transaction rolls back, the caller calls `undo` on the result:
   * its lease row went with it, and `previous` still holds.
   */
  moveWithin(hash: string, previous: Held): Held {
    if (!this.store.db.inTransaction) throw new Error('ContentHolds.moveWithin needs the caller’s transaction');
    return { hash, lease: holdContent(this.store, hash, previous.lease) };
  }

  /** Forgets a hold made by moveWithin in a transaction that rolled back. */
  static undo(held: Held): void {
    held.lease.id = null;
  }

  /** Lets go of a hold: parked, ended with the others parked within PARK_MS. */
  letGo(held: Held): void {
    if (held.lease.id === null) return;
    const leases = this.parked.get(held.hash);
    if (leases) leases.push(held.lease);
    else this.parked.set(held.hash, [held.lease]);
    this.timer ??= setTimeout(() => this.endParked(), PARK_MS).unref();
  }

  /** Ends every parked hold in one transaction (on the timer, and at unmount). A busy home is tried again later. */
  endParked(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.parked.size === 0) return;
    try {
      this.store.mutate(() => {
        for (const leases of this.parked.values()) for (const lease of leases) if (lease.id !== null) endLease(this.store, lease.id);
      });
      this.parked.clear();
    } catch {
      // Kept parked: a later try ends them, and the store's close abandons its own leases anyway.
      if (this.store.db.open) this.timer = setTimeout(() => this.endParked(), PARK_MS).unref();
    }
  }
}

/** How long a hold let go stays parked: past the gap between one line of a shell loop and the next. */
const PARK_MS = 1000;
