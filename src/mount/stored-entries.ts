import { getEntry, type Entry } from '../store/entries.js';
import type { Store } from '../store/store.js';
import { changeToken, type VaultRow } from '../store/vaults.js';

/** Entries kept at most; past it the cache starts over. */
const MAX_ENTRIES = 4096;

/**
 * The mount's reads of stored entries, each reused until anything in the database changes. One
 * tool call is several requests on one path (git grep: a lookup, an open, a read, each reading
 * the entry), and a point query building a 17-field row costs several times what asking whether
 * the database changed does (`changeToken`: another process's commit, a write or a rollback of
 * this one all give a new token). Entries are frozen: shared by every caller.
 */
export class StoredEntries {
  private readonly kept = new Map<string, Entry | undefined>();
  private keptUnder: object | undefined;

  constructor(
    private readonly store: Store,
    /**
     * The vault as its tree is read: only its id and its ancestors (its layers, entries.ts
     * layersOf) matter there, and neither changes while the vault exists (a fork gets its
     * ancestors when it is made; a vault deleted under its forks is retired, not re-parented).
     * So it is read once, not per request: after every write the row changes (its usage
     * counters), and reading it again was a third of a lookup's time. Usage and quotas are read
     * fresh where they matter (VaultFs.row).
     */
    readonly vault: VaultRow,
  ) {}

  /** The stored entry at a canonical path, or undefined. */
  get(path: string): Entry | undefined {
    const token = changeToken(this.store);
    if (token !== this.keptUnder) {
      this.kept.clear();
      this.keptUnder = token;
    } else {
      const e = this.kept.get(path);
      if (e !== undefined || this.kept.has(path)) return e;
    }
    const e = getEntry(this.store, this.vault, path);
    if (e) Object.freeze(e);
    if (this.kept.size >= MAX_ENTRIES) this.kept.clear();
    this.kept.set(path, e);
    return e;
  }
}
