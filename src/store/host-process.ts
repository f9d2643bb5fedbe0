import { readFileSync } from 'node:fs';

/**
 * Processes of this host as /proc shows them: the one reader of /proc/<pid>/stat, for the mount's
 * sessions, the proxy's process groups and content leases (the store is the lowest layer that
 * needs it; core stays free of I/O).
 */

/** The fields of /proc/<pid>/stat avfs uses. */
export interface ProcStat {
  /** R, S, D, T, Z (zombie), X (dead), … */
  state: string;
  /** The process group. */
  pgrp: number;
  /** Start time in clock ticks since boot (field 22): with the pid, it names one process (pids are reused). */
  start: number;
}

/** /proc/<pid>/stat, parsed; null when there is no such process (or no /proc). */
export function readProcStat(pid: number | string): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp …": comm may contain spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, pgrp: Number(fields[2]), start: Number(fields[19]) };
}

/** A zombie has exited and waits to be reaped; X is "dead", between the two. */
const exited = (stat: ProcStat) => stat.state === 'Z' || stat.state === 'X';

/** A process's start time in clock ticks since boot, or null (no such process, or it has exited). */
export function processStartTime(pid: number): number | null {
  const stat = readProcStat(pid);
  return stat === null || exited(stat) ? null : stat.start;
}

/** A process as avfs records it: its pid and start time (so a reused pid is not mistaken for it). */
export interface ProcessRef {
  pid: number;
  pid_start?: number | null;
}

/** This process as a ProcessRef. */
export const thisProcess = (): Required<ProcessRef> => ({ pid: process.pid, pid_start: processStartTime(process.pid) });

/** Whether a recorded process (a session's server, an exec's avfs) is alive, and is the same process, not a reused pid. */
export function processAlive(info: ProcessRef): boolean {
  if (!info.pid || info.pid <= 0) return false;
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readProcStat(info.pid);
  // No start time to compare: alive unless gone or a zombie (an X, "dead", counted alive as always).
  if (stat === null || exited(stat)) return stat !== null && stat.state !== 'Z';
  return info.pid_start == null || info.pid_start === stat.start;
}
