import { getEntry, layersOf, namesOfInode, watchRows, type Entry } from '../store/entries.js';
import type { Store } from '../store/store.js';
import type { VaultRow } from '../store/vaults.js';

/**
 * Entries kept at most, the oldest dropped first: enough for a repository's tree, so that a tool
 * walking it again (git status after the kernel's 1 s attribute cache ran out) finds every entry.
 * Measured on eslint's 2,743 paths, getattr in process: 19-25 µs each with 256 kept (every one a
 * miss), 6-8 µs with 4,096 (a data_version check and a map lookup); walks larger than the cache
 * cost the same 17-25 µs with 256, 1,024 or 2,048 kept, so the longer-lived entries cost no GC.
 */
const MAX_ENTRIES = 8192;


/**
 * The mount's reads of stored entries, each reused until its row may have changed. One tool call
 * is several requests on one path (a lookup, an open, the reads, each reading the entry; a
 * create looks up its directory twice), and a point query building a 17-field row costs several
 * times what asking whether it changed does. A kept entry is dropped when:
 *  - another connection commits (`PRAGMA data_version` moves): everything is dropped;
 *  - this connection writes or deletes a row at its path in one of the vault's layers
 *    (entries.ts watchRows: every write of `entries` goes through it), committed or not;
 *  - this connection rolls back (`Store.rollbacks`): everything, as the rolled-back
 *    transaction may have been read.
 * So a tool writing through the mount (one commit per file closed or removed) keeps every other
 * entry it looks up next. Entries are frozen: shared by every caller.
 */
export class StoredEntries {
  private readonly kept = new Map<string, Entry | undefined>();
  private version: number | null = null;
  private rollbacks = 0;
  private readonly layers: ReadonlySet<number>;
  private readonly unwatch: () => void;

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
  ) {
    this.layers = new Set(layersOf(vault));
    this.unwatch = watchRows(store, (layer, path) => {
      if (!this.layers.has(layer)) return;
      if (path === null) this.kept.clear();
      else this.kept.delete(path);
    });
  }

  /** The stored entry at a canonical path, or undefined. */
  get(path: string): Entry | undefined {
    const version = this.store.dataVersion();
    if (version !== this.version || this.store.rollbacks !== this.rollbacks) {
      this.kept.clear();
      this.version = version;
      this.rollbacks = this.store.rollbacks;
    } else {
      const e = this.kept.get(path);
      if (e !== undefined || this.kept.has(path)) return e;
    }
    const e = getEntry(this.store, this.vault, path);
    if (e) Object.freeze(e);
    if (this.kept.size >= MAX_ENTRIES) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(path, e);
    return e;
  }

  /** Every name the vault shows for inode `ino`, read fresh (a scan of the vault: for the rare OpenFiles.relocate only). */
  namesOf(ino: number): Entry[] {
    return namesOfInode(this.store, this.vault, ino, true);
  }

  /** Stops following this connection's writes (the mount or view ends). */
  close(): void {
    this.unwatch();
    this.kept.clear();
  }
}
