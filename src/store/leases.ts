import { readFileSync } from 'node:fs';
import { now, type Store } from './store.js';
import { processStartTime } from './host-process.js';

/**
 * Content leases (schema migration 7; why they make gc safe: gc.ts). Content that a writer stores
 * in one transaction and links to an entry in a later one (a streamed `write --from`, `import`, a
 * mount persisting a large file) is referenced by nothing in between. The writer holds a lease:
 * in the same transaction that stores or reuses a chunk or blob, it pins that hash under the
 * lease; the transaction that links the content ends the lease (so does abandoning it). gc never
 * deletes a pinned hash. A lease names the process holding it, so gc can end the leases of a
 * writer that died (killed, crashed) without ever ending a live one.
 */

/** A writer's lease. Its row is written with its first pin, so a lease that pins nothing costs nothing. */
export interface Lease {
  id: number | null;
}

/** What a pin holds: a blob ('b') or a chunk ('c'). */
export type PinKind = 'b' | 'c';

const INSERT_LEASE = 'INSERT INTO content_leases (pid, holder, created_at) VALUES (?, ?, ?)';
// The first pin decides `stored`: a hash stored by this lease and then met again stays its own.
const INSERT_PIN = 'INSERT OR IGNORE INTO content_pins (lease_id, kind, hash, stored) VALUES (?, ?, ?, ?)';
const DELETE_PINS = 'DELETE FROM content_pins WHERE lease_id = ?';
const DELETE_LEASE = 'DELETE FROM content_leases WHERE id = ?';

/** Pins `hash` under `lease` (writing the lease row first if needed). Inside the transaction that stores or reuses it. */
export function pin(store: Store, lease: Lease, kind: PinKind, hash: string, stored: boolean): void {
  lease.id ??= Number(store.stmt(INSERT_LEASE).run(process.pid, self(), now()).lastInsertRowid);
  store.stmt(INSERT_PIN).run(lease.id, kind, hash, stored ? 1 : 0);
}

/**
 * Runs `fn`, a transaction that pins under `lease`. The lease's row is written by its first pin;
 * when that transaction rolls back the row goes with it, and its id may be given to another
 * writer's lease (content_leases ids are reused), so the lease forgets it: abandoning it would
 * end that other lease.
 */
export function pinning<T>(store: Store, lease: Lease, fn: () => T): T {
  const had = lease.id;
  try {
    return store.mutate(fn);
  } catch (err) {
    if (had === null && !store.db.inTransaction) lease.id = null;
    throw err;
  }
}

/** Ends a lease: its pins and its row go. Inside the caller's transaction; a lease already ended is a no-op. */
export function endLease(store: Store, id: number): void {
  store.stmt(DELETE_PINS).run(id);
  store.stmt(DELETE_LEASE).run(id);
}

/** The hashes a lease pinned that it stored itself (rather than found already stored). */
export function storedByLease(store: Store, id: number): Array<{ kind: PinKind; hash: string }> {
  return store.stmt<{ kind: PinKind; hash: string }>('SELECT kind, hash FROM content_pins WHERE lease_id = ? AND stored = 1').all(id);
}

/** Leases held by this process. */
export function ownLeases(store: Store): number[] {
  return store
    .stmt<{ id: number }>('SELECT id FROM content_leases WHERE pid = ? AND holder = ?')
    .all(process.pid, self())
    .map((r) => r.id);
}

/** Leases whose process is gone: what a writer that died left behind. */
export function staleLeases(store: Store): number[] {
  return store
    .stmt<{ id: number; pid: number; holder: string }>('SELECT id, pid, holder FROM content_leases')
    .all()
    .filter((l) => !holderAlive(l.pid, l.holder))
    .map((l) => l.id);
}

const bootId = readProc('/proc/sys/kernel/random/boot_id')?.trim() ?? null;
let selfHolder: string | undefined;
/** This process's holder string (computed once: it never changes while the process runs). */
const self = () => (selfHolder ??= processHolder(process.pid) ?? String(process.pid));

/**
 * Who a process is, beyond its pid (pids are reused): on Linux "<boot id>:<pid>:<start time>",
 * the start time being field 22 of /proc/<pid>/stat (clock ticks since boot); null when there is
 * no such process. Without /proc, the pid alone.
 */
function processHolder(pid: number): string | null {
  if (bootId === null) return String(pid);
  // A zombie (killed, not reaped yet: a mount server whose parent is gone, in a container whose
  // init does not reap) has exited for good, so it holds nothing.
  const start = processStartTime(pid);
  return start === null ? null : `${bootId}:${pid}:${start}`;
}

/**
 * Whether the process that took a lease is still running. A lease from another boot, or whose pid
 * now belongs to a process that started at another time, is dead. (Leases are per machine and
 * PID namespace, like the home's other state: avfs processes sharing a home share both.)
 */
function holderAlive(pid: number, holder: string): boolean {
  if (bootId !== null) return processHolder(pid) === holder;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readProc(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
