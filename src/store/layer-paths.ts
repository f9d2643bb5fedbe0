import type { Statements, Store } from './store.js';

/**
 * Which layers of a fork chain can hold a path, so a read skips the ones that cannot
 * (ARCHITECTURE.md, "Forks are layers"). A path only the root has would otherwise cost one index
 * probe per layer; a fork's own layer is usually small (what it changed), so this connection
 * keeps the paths of each small layer in memory and probes only the layers that may have a row.
 *
 * A set may hold more paths than its layer (a skipped probe would show the wrong file, an extra
 * one only costs time), never fewer. What keeps it so:
 * - Other connections' commits: a set is read at one `PRAGMA data_version`, which changes when
 *   another connection commits; a read checks it in the same transaction as its query (once per
 *   transaction: none becomes visible inside one; or right after it, outside one: see
 *   readOutside) and drops every set when it moved.
 * - This connection's own writes: entries.ts reports each row it writes (`added`: the path joins
 *   the set, whether or not the transaction later commits) and each layer it deletes rows from
 *   (`removed`). A loaded set keeps a deleted path (it only costs a probe), so a rollback finds
 *   it still there; but while the deleting transaction lasts the layer's set is not read from the
 *   database, since a rollback would bring back rows such a set would lack.
 *   Own commits leave data_version unchanged, so nothing else is needed. entries.ts is the only
 *   writer of `entries` after migrations (the migrations run before a Store exists).
 * - Large layers (more than SMALL rows, a root vault) are always probed: remembering that a layer
 *   is large is safe at any time, so that survives other connections' commits.
 *
 * Reading a set costs about one probe per ROWS_PER_READ rows, so after another connection's commit
 * a layer's set is read again only once the reads since that commit would have paid for it
 * (judged by the layer's size when last read: the ski-rental rule, within 2× of knowing
 * the future). Where other processes commit between most reads, reads probe every layer as
 * before instead of reading sets over and over.
 */
const SMALL = 4096;
const ROWS_PER_READ = 8;
/** Sets kept per connection (the most recently read layers). */
const MAX_SETS = 64;

const LAYER_PATHS = `SELECT path FROM entries WHERE vault_id = ? LIMIT ${SMALL + 1}`;

class LayerPaths {
  private version: number | null = null;
  /** The transaction `version` was last confirmed in (Store.transactionNumber; 0: none). */
  private confirmedIn = 0;
  private readonly sets = new Map<number, Set<string>>();
  private readonly large = new Set<number>();
  /** Rows each layer had when its set was last read. */
  private readonly sizes = new Map<number, number>();
  /** Reads since the sets were last dropped. */
  private reads = 0;
  /** Layers this connection deleted rows from, with the transaction that did (null: not known). */
  private readonly tainted = new Map<number, object | null>();

  constructor(private readonly store: Store) {}

  /**
   * The layers of `layers` (nearest first) that may have a row for `path`, in the same order.
   * Must run inside the transaction of the read it serves.
   */
  candidates(layers: number[], path: string): number[] {
    this.validate();
    this.reads++;
    return this.pick(layers, path);
  }

  private pick(layers: number[], path: string): number[] {
    const out: number[] = [];
    for (const id of layers) {
      const set = this.large.has(id) ? undefined : (this.sets.get(id) ?? this.load(id));
      if (!set || set.has(path)) out.push(id);
    }
    return out;
  }

  /** Drops every set when another connection committed since they were read; true when none did. */
  private validate(): boolean {
    const tx = this.store.transactionNumber();
    if (tx !== 0 && tx === this.confirmedIn) return true;
    const version = this.store.dataVersion();
    this.confirmedIn = tx;
    if (version === this.version) return true;
    this.sets.clear();
    this.version = version;
    this.reads = 0;
    return false;
  }

  added(layer: number, path: string): void {
    const set = this.sets.get(layer);
    if (!set) return;
    set.add(path);
    if (set.size > 2 * SMALL) this.sets.delete(layer);
  }

  /**
   * A read outside any transaction: `read` runs on the candidate layers in a statement of its
   * own, then data_version confirms that no other connection committed since the sets were last
   * confirmed, so that statement saw the state they describe (two statements where opening a
   * transaction around the check and the read took four). Otherwise the sets are dropped and
   * `read` runs again on every layer.
   */
  readOutside<T>(layers: number[], path: string, read: (layers: number[]) => T): T {
    if (this.version === null) this.validate();
    this.reads++;
    const result = read(this.pick(layers, path));
    if (this.validate()) return result;
    return read(layers);
  }

  /** Whether the layer may have a row for `path` (false only when its set is loaded and lacks it). Inside a transaction. */
  mayHold(layer: number, path: string): boolean {
    this.validate();
    const set = this.sets.get(layer);
    return !set || set.has(path);
  }

  removed(layer: number): void {
    this.tainted.set(layer, this.store.currentChange());
  }

  /** Reads a layer's paths, or undefined when it is large or cannot be read safely now. */
  private load(id: number): Set<string> | undefined {
    if (this.reads * ROWS_PER_READ < (this.sizes.get(id) ?? 0)) return undefined;
    if (this.tainted.has(id)) {
      const tx = this.tainted.get(id) ?? null;
      // The deleting transaction may still be running (and could roll back): probe the layer.
      if (this.store.db.inTransaction && (tx === null || tx === this.store.currentChange())) return undefined;
      this.tainted.delete(id);
    }
    const paths = this.store.stmt(LAYER_PATHS).pluck().all(id) as string[];
    if (paths.length > SMALL) {
      this.large.add(id);
      return undefined;
    }
    this.sizes.set(id, paths.length);
    if (this.sets.size >= MAX_SETS) this.sets.delete(this.sets.keys().next().value!);
    const set = new Set(paths);
    this.sets.set(id, set);
    return set;
  }
}

const byStore = new WeakMap<Store, LayerPaths>();

/** This connection's record of which layers hold which paths. */
export function layerPaths(store: Store): LayerPaths {
  let index = byStore.get(store);
  if (!index) byStore.set(store, (index = new LayerPaths(store)));
  return index;
}

/** A row this connection wrote into `layer` (before a Store exists, as when a new home is seeded, there is nothing to update). */
export function noteWritten(store: Statements, layer: number, path: string): void {
  byStore.get(store as Store)?.added(layer, path);
}
