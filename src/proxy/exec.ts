import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { procPids, processesWithExecId } from '../mount/processes.js';

/**
 * Runs one command as a process group and guarantees that nothing it started outlives the call.
 *
 * The child is spawned detached, so it leads a new session and process group (pgid = its pid)
 * and every descendant that does not deliberately leave joins that group. On timeout (or when
 * avfs itself gets SIGINT/SIGTERM/SIGHUP) the whole group gets SIGTERM, then SIGKILL after the
 * grace period. When the main process exits by itself, whatever is left of its group (background
 * jobs, double-forked daemons) gets the same treatment, and /proc is scanned until no member of
 * the group remains. Processes that left the group with setsid() are found through the
 * AVFS_EXEC_ID variable the proxy puts in the child's environment (they inherit it) and are
 * ended the same way. What escapes all of that — a process that both calls setsid() and clears
 * its environment — is beyond a command boundary; that needs a cgroup or a container.
 *
 * Never uses a synchronous child process: the proxy's own JS thread stays free while it waits.
 */

export interface RunSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Pass avfs's stdin to the child; otherwise the child reads /dev/null. */
  stdin: boolean;
  timeoutMs: number;
  killAfterMs: number;
  /** Each of stdout and stderr keeps at most this many bytes; the rest is read and dropped. */
  maxOutputBytes: number;
  /** The AVFS_EXEC_ID value in the child's environment, used to find processes that left the group. */
  execId: string;
  /** Processes never to signal (a mount server that serves this run). */
  protect?: number[];
}

export interface RunOutcome {
  /** The child's exit code; 128+n when a signal ended it; 124 on timeout; 126/127 when it could not start. */
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  /** The signal avfs received and passed on to the group, if any. */
  interrupted: string | null;
  durationMs: number;
  stdout: Buffer;
  stderr: Buffer;
  stdoutBytes: number;
  stderrBytes: number;
  truncated: boolean;
  /** Processes still alive after the main process ended, which the cleanup ended. */
  leftoverProcesses: number;
  /** Processes found alive after the final SIGKILL (should always be empty). */
  survivors: number[];
  /** Why the command could not start (then exitCode is 126 or 127). */
  spawnError: string | null;
}

export const TIMEOUT_EXIT_CODE = 124;
const POLL_MS = 10;
/** How long to wait for SIGKILLed processes to disappear before reporting them as survivors. */
const KILL_WAIT_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** Live (non-zombie) processes from /proc, with their process group. */
function scanProc(): { pid: number; pgid: number }[] {
  const out: { pid: number; pgid: number }[] = [];
  for (const name of procPids()) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') continue;
    out.push({ pid: Number(name), pgid: Number(fields[2]) });
  }
  return out;
}

/** Members of a process group that are still running (zombies excluded). */
export function groupMembers(pgid: number): number[] {
  try {
    process.kill(-pgid, 0); // fast path: ESRCH means nothing at all is left, not even zombies
  } catch {
    return [];
  }
  return scanProc()
    .filter((p) => p.pgid === pgid)
    .map((p) => p.pid);
}

/** Keeps the first `cap` bytes of a stream and counts the rest, reading it to the end so the writer never blocks. */
function capture(stream: Readable | null | undefined, cap: number) {
  const parts: Buffer[] = [];
  let kept = 0;
  let total = 0;
  stream?.on('data', (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (kept < cap) {
      const take = buf.length <= cap - kept ? buf : buf.subarray(0, cap - kept);
      parts.push(take);
      kept += take.length;
    }
  });
  return () => ({ data: Buffer.concat(parts, kept), total });
}

/**
 * Ends every process in `pids()` (re-evaluated as it goes): SIGTERM unless already sent, SIGKILL
 * at `killAt`, then waits for them to disappear. Returns how many were seen and who survived.
 */
async function endAll(
  pids: () => number[],
  term: () => void,
  kill: () => void,
  killAt: () => number,
): Promise<{ seen: Set<number>; survivors: number[] }> {
  const seen = new Set<number>();
  let alive = pids();
  if (alive.length === 0) return { seen, survivors: [] };
  alive.forEach((p) => seen.add(p));
  term();
  while (alive.length > 0 && Date.now() < killAt()) {
    await sleep(POLL_MS);
    alive = pids();
    alive.forEach((p) => seen.add(p));
  }
  if (alive.length === 0) return { seen, survivors: [] };
  kill();
  const giveUp = Date.now() + KILL_WAIT_MS;
  while (alive.length > 0 && Date.now() < giveUp) {
    await sleep(POLL_MS);
    alive = pids();
    if (alive.length > 0) kill(); // a fork that raced the first SIGKILL
  }
  return { seen, survivors: alive };
}

/** Runs the command; never rejects for the child's own failures (they are in the outcome). */
export async function runCommand(spec: RunSpec): Promise<RunOutcome> {
  const started = performance.now();
  const child = execa(spec.file, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    extendEnv: false,
    stdin: spec.stdin ? 'inherit' : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    detached: true,
    cleanup: false,
    reject: false,
    stripFinalNewline: false,
  });
  const stdout = capture(child.stdout, spec.maxOutputBytes);
  const stderr = capture(child.stderr, spec.maxOutputBytes);
  const pid = child.pid;

  if (pid === undefined) {
    const result = await child;
    const code = (result as { code?: string }).code;
    const message = result.originalMessage || result.shortMessage || String(code);
    return {
      exitCode: code === 'ENOENT' ? 127 : 126,
      signal: null,
      timedOut: false,
      interrupted: null,
      durationMs: elapsed(started),
      stdout: Buffer.alloc(0),
      stderr: Buffer.from(`avfs: cannot run ${spec.file}: ${code === 'ENOENT' ? 'command not found' : message}\n`),
      stdoutBytes: 0,
      stderrBytes: 0,
      truncated: false,
      leftoverProcesses: 0,
      survivors: [],
      spawnError: code ?? message,
    };
  }

  let timedOut = false;
  let interrupted: NodeJS.Signals | null = null;
  let termSentAt: number | undefined;
  let killSent = false;
  let escalation: NodeJS.Timeout | undefined;
  const killGroup = () => {
    killSent = true;
    signalGroup(pid, 'SIGKILL');
  };
  const terminate = () => {
    if (termSentAt !== undefined) return;
    termSentAt = Date.now();
    signalGroup(pid, 'SIGTERM');
    escalation = setTimeout(killGroup, spec.killAfterMs);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    terminate();
  }, spec.timeoutMs);
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted ??= sig;
    terminate();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(timer);

    // Whatever is left of the group: the same SIGTERM → grace → SIGKILL, sharing the deadline of a
    // timeout already under way so a timeout never costs more than timeout + grace.
    const group = await endAll(
      () => groupMembers(pid),
      terminate,
      killGroup,
      () => (killSent ? 0 : (termSentAt ?? Date.now()) + spec.killAfterMs),
    );
    clearTimeout(escalation);

    // Processes that left the group (setsid) but still carry this exec's id.
    const protect = spec.protect ?? [];
    let escapedTermAt: number | undefined;
    const escaped = await endAll(
      () => processesWithExecId(spec.execId, protect),
      () => {
        escapedTermAt = Date.now();
        processesWithExecId(spec.execId, protect).forEach((p) => signalPid(p, 'SIGTERM'));
      },
      () => processesWithExecId(spec.execId, protect).forEach((p) => signalPid(p, 'SIGKILL')),
      () => (escapedTermAt ?? Date.now()) + spec.killAfterMs,
    );

    // The pipes close once every holder is gone; do not wait forever for a stray holder.
    let straggler: NodeJS.Timeout | undefined;
    await Promise.race([child, new Promise((resolve) => (straggler = setTimeout(resolve, 2_000)))]);
    clearTimeout(straggler);
    child.stdout?.destroy();
    child.stderr?.destroy();

    const out = stdout();
    const err = stderr();
    const signal = exit.signal;
    const exitCode = timedOut ? TIMEOUT_EXIT_CODE : exit.code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
    return {
      exitCode,
      signal,
      timedOut,
      interrupted,
      durationMs: elapsed(started),
      stdout: out.data,
      stderr: err.data,
      stdoutBytes: out.total,
      stderrBytes: err.total,
      truncated: out.total > out.data.length || err.total > err.data.length,
      leftoverProcesses: [...group.seen].filter((p) => p !== pid).length + escaped.seen.size,
      survivors: [...group.survivors, ...escaped.survivors],
      spawnError: null,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(escalation);
    for (const s of signals) process.off(s, onSignal);
  }
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 100) / 100;
