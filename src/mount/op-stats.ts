import { renameSync, writeFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';

/**
 * A per-operation histogram of a mount: how many requests of each FUSE operation its handlers
 * served and how long they ran on the JS thread (the profile a mount workload starts from, issue 17).
 * Enabled by AVFS_MOUNT_STATS; when it is unset nothing is wrapped, so it costs nothing.
 *
 *   AVFS_MOUNT_STATS=1            the counters go to the mount's log on SIGUSR2 and at exit
 *   AVFS_MOUNT_STATS=trace        the same, and every request is logged with its path
 *   AVFS_MOUNT_STATS=/abs/f.json  on SIGUSR2 and at exit, the counters since the last dump are
 *                                 written to that file as JSON (replaced atomically), then reset
 *
 * fuse-native serves FUSE_LOOKUP and FUSE_GETATTR through one handler, so both count as getattr.
 * All avfs handlers answer synchronously: the time measured is the whole of their work.
 */

export interface OpCounter {
  count: number;
  /** Total handler time, nanoseconds. */
  ns: number;
}

export type OpHistogram = Record<string, OpCounter>;

/** Wraps every function of `ops` in place with a counter and a timer; returns the live histogram. */
export function countOperations(ops: Record<string, unknown>, trace?: (op: string, path: unknown) => void): OpHistogram {
  const stats: OpHistogram = {};
  for (const [name, fn] of Object.entries(ops)) {
    if (typeof fn !== 'function') continue;
    const s: OpCounter = { count: 0, ns: 0 };
    stats[name] = s;
    ops[name] = function (this: unknown, ...args: unknown[]) {
      if (trace) trace(name, args[0]);
      const t = process.hrtime.bigint();
      try {
        return (fn as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        s.count++;
        s.ns += Number(process.hrtime.bigint() - t);
      }
    };
  }
  return stats;
}

/** The non-zero counters, most total time first, and resets them. */
export function takeHistogram(stats: OpHistogram): OpHistogram {
  const out: OpHistogram = {};
  const rows = Object.entries(stats).filter(([, s]) => s.count > 0).sort((a, b) => b[1].ns - a[1].ns);
  for (const [name, s] of rows) {
    out[name] = { count: s.count, ns: s.ns };
    s.count = 0;
    s.ns = 0;
  }
  return out;
}

/** One line: `getattr 1,204 × 31 µs = 37.3 ms, …`. */
export function formatHistogram(h: OpHistogram): string {
  const parts = Object.entries(h).map(([n, s]) => `${n} ${s.count} × ${(s.ns / s.count / 1000).toFixed(1)} µs = ${(s.ns / 1e6).toFixed(1)} ms`);
  return parts.length ? parts.join(', ') : 'no requests';
}

/**
 * Instruments `ops` as AVFS_MOUNT_STATS asks (see above); does nothing when `setting` is empty.
 * Call it on the operations object right before it is handed to fuse-native.
 */
export function instrumentFromEnv(ops: Record<string, unknown>, setting: string | undefined, info: (m: string) => void): void {
  if (!setting) return;
  const stats = countOperations(ops, setting === 'trace' ? (op, path) => info(`op ${op} ${String(path)}`) : undefined);
  const file = isAbsolute(setting) ? setting : undefined;
  const dump = () => {
    const h = takeHistogram(stats);
    if (!file) return info(`op stats: ${formatHistogram(h)}`);
    writeFileSync(`${file}.tmp`, JSON.stringify(h));
    renameSync(`${file}.tmp`, file);
  };
  process.on('SIGUSR2', dump);
  process.on('exit', dump);
}
