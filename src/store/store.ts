import { openSync, readSync, statSync } from 'node:fs';
import type { Statement } from 'better-sqlite3';
import { AvfsError, machineError } from '../errors.js';
import { databaseFile, databaseIdentity, ensureHome, homeWritable, prepareDatabaseFile, resolveHome, restrictDatabaseModes } from './home.js';
import { openDatabase, type Db } from './db.js';
import { DEFAULT_VAULT, insertVault } from './vaults.js';

/** Who made a change: recorded on every version and audit row. */
export interface Actor {
  source: 'cli' | 'mount' | 'proxy' | 'sdk' | 'mcp';
  execId?: string | null;
}

/**
 * The change a write transaction records (recordVersion in entries.ts): `id` is its first
 * version's id, null until that is written; `grouped` once a second version joined it, when the
 * first one was given the id too.
 */
export interface Change {
  id: number | null;
  grouped: boolean;
}

/** What a function that only runs statements needs of a Store (the seed of a new home runs before a Store exists). */
export interface Statements {
  stmt<R = unknown>(sql: string): Statement<unknown[], R>;
}

/**
 * One open home: its database connection and the statements prepared on it. A process holds at
 * most one Store per home (see `openStore`), so the CLI, a mount and the SDK in one process share
 * a connection, and every statement is prepared once per connection.
 */
export class Store implements Statements {
  readonly home: string;
  readonly db: Db;
  /** True when this open created the database (and seeded the `default` vault). */
  readonly fresh: boolean;
  /** True for a read-only home: reads work, every mutation is refused with READ_ONLY. */
  readonly readOnly: boolean;
  private readonly statements = new Map<string, Statement>();
  private refs = 0;
  /** The change the running write transaction records; null outside one. */
  private txChange: Change | null = null;
  /**
   * How many write transactions of this connection were rolled back. Caches keyed on what SQLite
   * says changed (data_version, total_changes()) include it: a rollback moves neither back, so a
   * row read inside the rolled-back transaction would otherwise outlive it.
   */
  rollbacks = 0;
  /**
   * Moves each time this connection's temporary tables were dropped: changing temp_store drops
   * them all (compact does, for its VACUUM). Owners that make one once per connection check it.
   */
  tempGeneration = 0;
  private readonly closing: Array<() => void> = [];
  /** Set once the database file this connection opened is no longer the home's (see `replaced`). */
  private fileGone = false;
  /** The database file this connection opened, as stat names it (null when it could not be stat'ed). */
  private readonly opened: { ino: number; dev: number } | null;

  private constructor(home: string, db: Db, fresh: boolean, readOnly: boolean) {
    this.home = home;
    this.db = db;
    this.fresh = fresh;
    this.readOnly = readOnly;
    this.opened = databaseIdentity(home);
  }

  /**
   * SQLite's data_version: it moves when another connection commits, never for this one's own
   * writes. What the caches of rows read from the database check before reusing one (with
   * `rollbacks`, and what they know of this connection's own writes).
   */
  dataVersion(): number {
    return this.stmt('PRAGMA data_version').pluck(true).get() as number;
  }

  /** The prepared statement for `sql`, prepared on first use and then reused. */
  stmt<R = unknown>(sql: string): Statement<unknown[], R> {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s as Statement<unknown[], R>;
  }

  /**
   * Runs `fn` as one write transaction started with BEGIN IMMEDIATE, so it takes the write lock
   * up front (see `begin`) instead of failing with SQLITE_BUSY on upgrade. Nested calls join the
   * outer transaction. `fn` must be synchronous: no await inside.
   */
  mutate<T>(fn: () => T): T {
    if (this.readOnly) throw new AvfsError('READ_ONLY', `the avfs home ${this.home} is read-only: reading works, changes are refused`, { home: this.home });
    if (this.fileGone) throw this.goneError();
    this.endLinger();
    if (this.db.inTransaction) return fn();
    this.begin();
    this.txChange = { id: null, grouped: false };
    try {
      const result = fn();
      if (this.replaced()) throw this.goneError();
      this.stmt('COMMIT').run();
      return result;
    } catch (err) {
      // SQLite may have rolled back already (e.g. SQLITE_FULL); otherwise nothing of fn stays.
      if (this.db.inTransaction) this.stmt('ROLLBACK').run();
      this.rollbacks++;
      throw machineError(err) ?? err;
    } finally {
      this.txChange = null;
      this.openTx = 0;
    }
  }

  /**
   * BEGIN IMMEDIATE: waits for the write lock in SQLite's busy handler, up to BUSY_TIMEOUT_MS. The
   * handler sleeps 1, 2, 5, 10, 15, 20, 25, … ms between tries. A loop of short randomized sleeps
   * (0.25 ms doubling to 4 ms) was measured against it and not kept: with 16 agent processes on 2
   * cores the retries took the CPU the lock holder and readers needed, and the median and p95 over
   * all operations rose several times (ARCHITECTURE.md, "Concurrent writers"). A separate method so
   * the benchmark can time the wait for the lock apart from the transaction.
   */
  private begin(): void {
    try {
      this.stmt('BEGIN IMMEDIATE').run();
      this.openTx = ++this.transactions;
    } catch (err) {
      // The lock stayed taken for the whole busy timeout: CONFLICT for every door (the SDK too), not a bare SqliteError.
      throw machineError(err) ?? err;
    }
  }

  /**
   * Which of this Store's transactions is open (each BEGIN it runs takes the next number), or 0
   * outside one and inside one begun elsewhere. No other connection's commit becomes visible
   * inside a transaction, so a cache checked against them (layer-paths.ts) checks once per number.
   */
  transactionNumber(): number {
    return this.db.inTransaction ? this.openTx : 0;
  }
  private openTx = 0;
  private transactions = 0;

  /** The change of the running write transaction (every version it records belongs to it), or null outside one. */
  currentChange(): Change | null {
    return this.txChange;
  }

  /**
   * Runs `fn` in a write transaction that is always rolled back: reads of a state as it would be
   * after some change (gc's plan once dead writers' leases are gone), with nothing kept.
   */
  rolledBack<T>(fn: () => T): T {
    this.endLinger();
    if (this.db.inTransaction) throw new AvfsError('INTERNAL', 'rolledBack() cannot run inside another transaction');
    this.begin();
    try {
      return fn();
    } finally {
      if (this.db.inTransaction) this.stmt('ROLLBACK').run();
      this.rollbacks++;
      this.openTx = 0;
    }
  }

  /**
   * Runs `fn` in one read transaction, so multi-statement reads see one consistent state. Also
   * cheaper than the same statements one by one: outside a transaction each statement takes and
   * drops SQLite's shared lock on the database file (fcntl calls and an fstat, about 12 µs here),
   * inside one only the first does. better-sqlite3's `transaction()` builds a wrapper per call,
   * which cost more than that lock; these are two cached statements.
   */
  read<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.endLinger(); // one SQLite ended (an error rolls back): so that no mutate inside ends this one
    this.stmt('BEGIN').run();
    this.openTx = ++this.transactions;
    let result: T;
    try {
      result = fn();
      this.stmt('COMMIT').run();
    } catch (err) {
      // SQLite may have ended it already (an error that rolls back).
      if (this.db.inTransaction) this.stmt('ROLLBACK').run();
      throw err;
    } finally {
      this.openTx = 0;
    }
    return result;
  }

  /**
   * Opens a read transaction that later reads join, for a server answering many small requests
   * (the mount: a getattr is one statement, plus the data_version check of its entry cache), each
   * of which would otherwise take and drop SQLite's lock on its own (see `read`): two fcntl calls
   * and an fstat, most of such a request's time. Each call checks that no connection committed
   * since the transaction began, by the WAL index's header (walChanged), one pread: when one did,
   * the transaction ends and a new one begins, so a read never sees an older state than a read
   * outside one would (the CLI's write, then a `cat` through the mount). It also ends after `ms`
   * (a reader holds back the WAL's checkpoints) and as soon as this connection writes (mutate
   * ends it first). No-op inside another transaction, or where there is no WAL index to watch.
   */
  lingerRead(ms: number): void {
    if (this.lingering !== null) {
      if (this.db.inTransaction && !this.walChanged()) return;
      this.endLinger();
    }
    if (this.db.inTransaction) return;
    if (!this.readWalHeader(this.lingerHeader)) return;
    this.stmt('BEGIN').run();
    this.openTx = ++this.transactions;
    this.lingering = setTimeout(() => this.endLinger(), ms);
    this.lingering.unref();
  }
  private lingering: NodeJS.Timeout | null = null;
  /** The WAL index header as it was when the lingering transaction began (read before its BEGIN). */
  private readonly lingerHeader = Buffer.alloc(WAL_HEADER_BYTES);
  private readonly walHeaderNow = Buffer.alloc(WAL_HEADER_BYTES);
  /** A descriptor of the WAL index (`avfs.db-shm`), opened by the first lingerRead; -1: none. */
  private shmFd: number | undefined;

  /** Whether any connection committed since the lingering transaction began (or the header cannot be read). */
  private walChanged(): boolean {
    return !this.readWalHeader(this.walHeaderNow) || !this.walHeaderNow.equals(this.lingerHeader);
  }

  /**
   * Reads the WAL index header into `into`: its first 48 bytes, which every commit changes (the
   * change counter, the last frame, the salts after a WAL reset; sqlite.org/walformat.html, "The
   * WAL-Index Header"). Read before the BEGIN, so the snapshot is never older than the header
   * kept: a commit in between only makes the next call start over. The descriptor is never
   * closed while the process lives: closing any descriptor of a file drops every POSIX lock the
   * process holds on it, SQLite's read locks in the WAL index included.
   */
  private readWalHeader(into: Buffer): boolean {
    if (this.shmFd === undefined) {
      try {
        this.shmFd = openSync(`${databaseFile(this.home)}-shm`, 'r');
      } catch {
        this.shmFd = -1;
      }
    }
    if (this.shmFd < 0) return false;
    try {
      return readSync(this.shmFd, into, 0, WAL_HEADER_BYTES, 0) === WAL_HEADER_BYTES;
    } catch {
      return false;
    }
  }

  /** Ends the read transaction lingerRead opened, if it is still open. */
  endLinger(): void {
    if (this.lingering === null) return;
    clearTimeout(this.lingering);
    this.lingering = null;
    this.openTx = 0;
    if (this.db.open && this.db.inTransaction) this.stmt('COMMIT').run();
  }

  /**
   * `read` for a long scan (export, grep): one state throughout where readers do not block
   * writers (WAL). Where the filesystem refused WAL (db.ts), a reader holds off every writer until
   * it ends, a mount of the home included: there each statement reads on its own.
   */
  readLong<T>(fn: () => T): T {
    this.walMode ??= this.db.pragma('journal_mode', { simple: true }) === 'wal';
    return this.walMode ? this.read(fn) : fn();
  }
  private walMode: boolean | undefined;

  /** @internal used by openStore */
  static create(home: string): Store {
    const readOnly = !homeWritable(home);
    prepareDatabaseFile(home, !readOnly);
    const seed = (db: Db) => {
      // The schema was just created in this transaction, before any Store exists: statements unprepared.
      insertVault({ stmt: <R>(sql: string) => db.prepare<unknown[], R>(sql) }, DEFAULT_VAULT, now());
    };
    if (!readOnly) restrictDatabaseModes(home);
    const { db, fresh } = openDatabase(databaseFile(home), seed, { readOnly });
    return new Store(home, db, fresh, readOnly);
  }

  /**
   * Whether the database file this connection opened was removed or replaced since (the home
   * deleted under a running MCP server, SDK program, mount or long import, or moved away). SQLite
   * goes on writing the unlinked file, so every later commit would report success and vanish at
   * exit. Asked before every commit (a stat, about a microsecond beside the commit's own writes)
   * rather than told by an inotify event, which a synchronous import or restore never lets run
   * before it commits. Once true it stays true: every later write is refused (NOT_FOUND, reason
   * home_removed), and openStore opens the home anew for new callers.
   */
  private replaced(): boolean {
    if (this.fileGone) return true;
    if (!this.opened) return false;
    let current;
    try {
      current = statSync(databaseFile(this.home), { throwIfNoEntry: false });
    } catch {
      return false; // not readable just now (EACCES, ELOOP…): not evidence of a removal
    }
    this.fileGone = !current || current.ino !== this.opened.ino || current.dev !== this.opened.dev;
    return this.fileGone;
  }

  /** Whether the database file this connection opened is no longer the home's (see `replaced`). */
  get gone(): boolean {
    return this.replaced();
  }

  private goneError(): AvfsError {
    return new AvfsError('NOT_FOUND', `the avfs home ${this.home} was removed or replaced while this process had it open: nothing was written (open the home again)`, { home: this.home, reason: 'home_removed' });
  }

  /** Runs `fn` when the last reference is released, just before the connection closes. */
  atClose(fn: () => void): void {
    this.closing.push(fn);
  }

  /** @internal reference counting for the per-process cache */
  retain(): this {
    this.refs++;
    return this;
  }

  /** Releases this reference; the connection closes when the last one is released. */
  release(): void {
    if (--this.refs > 0) return;
    this.endLinger();
    if (openStores.get(this.home) === this) openStores.delete(this.home);
    try {
      // The closing work (indexing what waits, …) writes: pointless, and refused, in a removed file.
      if (this.db.open && !this.replaced()) for (const fn of this.closing.splice(0)) fn();
    } finally {
      if (this.db.open) this.db.close();
    }
  }
}

/** The WAL index header's size: every commit changes it (Store.readWalHeader). */
const WAL_HEADER_BYTES = 48;

const openStores = new Map<string, Store>();

/** The process-wide Store for a home (resolved like `--home`), opened on first use. */
export function openStore(homeFlag?: string): Store {
  const home = resolveHome(homeFlag);
  let store = openStores.get(home);
  // A home removed under an open connection is opened anew (made again if missing); the old
  // connection stays with those holding it, whose writes are refused.
  if (store?.gone) {
    openStores.delete(home);
    store = undefined;
  }
  if (!store) {
    ensureHome(home);
    store = Store.create(home);
    openStores.set(home, store);
  }
  return store.retain();
}

export const now = () => Date.now();
