import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { callerStdio, guardTerminals, relayInput, relayOutput } from './caller-stdio.js';
import { outputPipes, releasePipes, type OutputPipe } from './fifo-pipes.js';
import { KEYBOARD, passedOn } from './held-signals.js';
import { procPids, processesWithExecId } from '../mount/processes.js';
import { readProcStat } from '../store/host-process.js';

/**
 * Runs one command and guarantees that nothing it started outlives the call.
 *
 * In a sandbox (`spec.sandbox`), the child is bubblewrap and the command runs in a PID namespace
 * of its own: its processes are the members of that namespace (found through /proc), SIGTERM
 * goes to each of them, and SIGKILL to the namespace's init takes all of them down at once (the
 * kernel kills every process of a PID namespace whose init dies). bubblewrap's --json-status-fd
 * says the init's pid and the command's exit code; no exit code means the sandbox could not be
 * set up and the command never ran (`sandboxFailed`). The rest of this comment is the unsandboxed
 * case.
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
  /** The pipes for stdout and stderr, when made ahead (fifo-pipes.ts); otherwise made here. */
  outputPipes?: Promise<OutputPipe[] | undefined>;
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
  /** The child is bubblewrap, reporting on this file descriptor (its --json-status-fd). */
  /**
   * bubblewrap's descriptors: its status report, and what it reads at start-up (written here):
   * the seccomp filter, and the arguments that set the command's environment (launch.ts).
   */
  sandbox?: { statusFd: number; inputs: Array<{ fd: number; data: Buffer }> };
  /** The child shares avfs's terminal (stdin, stdout, stderr): nothing is captured. */
  interactive?: boolean;
  /** With interactive: the child's stdout is avfs's stderr, so avfs's stdout carries only its own document. */
  terminalOnStderr?: boolean;
  /** The cgroup.procs files of the run's own cgroup, which the child joins first: its processes, exactly. */
  cgroupProcs?: string[];
  /** Ends the run as a SIGTERM to avfs would (the MCP server passes a cancelled call's). */
  signal?: AbortSignal;
  /** A signal avfs received before the command started (held-signals.ts): passed on as soon as it has. */
  received?: NodeJS.Signals;
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
  /** In a sandbox: bubblewrap failed before the command started (its message is in stderr). */
  sandboxFailed: boolean;
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
    const stat = readProcStat(name);
    if (stat === null || stat.state === 'Z' || stat.state === 'X') continue; // exited while we looked, or a zombie
    out.push({ pid: Number(name), pgid: stat.pgrp });
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

/** What bubblewrap reports on its status descriptor: the sandbox's init, then the command's exit code. */
export interface SandboxStatus {
  childPid: number | null;
  /** The sandbox's PID namespace, read as soon as its init is known (it is gone once the command ends). */
  ns: string | null;
  exitCode: number | null;
}

function readStatus(stream: Readable | null | undefined): SandboxStatus {
  const status: SandboxStatus = { childPid: null, ns: null, exitCode: null };
  let buffered = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    buffered += chunk;
    // One JSON object per line ({ "child-pid": N, … } then { "exit-code": N }).
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      try {
        const doc = JSON.parse(line) as Record<string, unknown>;
        if (typeof doc['child-pid'] === 'number') {
          status.childPid = doc['child-pid'];
          status.ns = pidNamespace(status.childPid);
        }
        if (typeof doc['exit-code'] === 'number') status.exitCode = doc['exit-code'];
      } catch {
        // not a status line
      }
    }
  });
  return status;
}

/** The PID namespace of a process (the link text of /proc/<pid>/ns/pid), or null. */
function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Live processes in the PID namespace `ns` (zombies excluded). */
function namespaceMembers(ns: string): number[] {
  return scanProc()
    .map((p) => p.pid)
    .filter((pid) => pidNamespace(pid) === ns);
}

/** How the processes of a run are found and signalled. */
interface Members {
  list(): number[];
  /** The first, catchable signal: SIGTERM, or the one avfs received (Ctrl-C's SIGINT, SIGHUP). */
  term(sig: NodeJS.Signals): void;
  kill(): void;
}

/** A process group led by the child (unsandboxed). */
function groupOf(pgid: number): Members {
  return { list: () => groupMembers(pgid), term: (sig) => signalGroup(pgid, sig), kill: () => signalGroup(pgid, 'SIGKILL') };
}

/** The processes in the run's cgroup (every process of the run, whatever it did to its group or session). */
function cgroupMembers(procs: string[]): number[] {
  const out = new Set<number>();
  for (const file of procs) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line) out.add(Number(line));
    } catch {
      // removed
    }
  }
  return [...out];
}

/** The run's own cgroup (unsandboxed): each member is signalled. */
function cgroupOf(procs: string[]): Members {
  const each = (sig: NodeJS.Signals) => cgroupMembers(procs).forEach((p) => signalPid(p, sig));
  return { list: () => cgroupMembers(procs), term: each, kill: () => each('SIGKILL') };
}

/**
 * The sandbox's PID namespace, once bubblewrap has said its init's pid (until then, bubblewrap
 * itself): listed through the run's cgroup when it has one (one file read), else by comparing
 * every process's PID namespace.
 */
function sandboxOf(bwrapPid: number, status: SandboxStatus, procs: string[]): Members {
  const members = () => (status.ns === null ? groupMembers(bwrapPid) : procs.length > 0 ? cgroupMembers(procs) : namespaceMembers(status.ns));
  return {
    list: members,
    // To the command's processes only: bubblewrap (outside) or the namespace's init dying would
    // end everything at once, with no grace.
    term: (sig) =>
      status.childPid === null
        ? signalGroup(bwrapPid, sig)
        : members()
            .filter((p) => p !== bwrapPid && p !== status.childPid)
            .forEach((p) => signalPid(p, sig)),
    // The init's death ends the whole namespace; bubblewrap dies with it (or is killed with its group).
    kill: () => {
      if (status.childPid !== null) signalPid(status.childPid, 'SIGKILL');
      signalGroup(bwrapPid, 'SIGKILL');
    },
  };
}

/** O_CLOEXEC as /proc/<pid>/fdinfo prints a descriptor's flags (octal). */
const O_CLOEXEC = 0o2000000;

/**
 * The descriptors above `from` that this process holds without close-on-exec: ones avfs inherited
 * from whoever started it (a harness's pipe, a shell's `exec 9</`). A child inherits them across
 * exec, and bubblewrap passes them into the sandbox untouched, where a directory descriptor is a
 * way out (`/proc/self/fd/9/etc/…` is the host's). Node cannot set FD_CLOEXEC, so the child gets
 * /dev/null in their place (see runCommand). Empty where /proc is not there to say.
 */
function inheritedDescriptors(from: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc/self/fdinfo');
  } catch {
    return out;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!(fd >= from)) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${name}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) out.push(fd);
    } catch {
      // closed meanwhile (the directory listing's own descriptor, for one)
    }
  }
  return out;
}

/** Runs the command; never rejects for the child's own failures (they are in the outcome). */
export async function runCommand(spec: RunSpec): Promise<RunOutcome> {
  const started = performance.now();
  const interactive = !!spec.interactive;
  // The caller's own descriptors go to the command only when that is safe; otherwise their bytes
  // are relayed through a pipe (caller-stdio.ts).
  const stdin = interactive || spec.stdin ? callerStdio(0) : 'ignore';
  // Where the command's stdout and stderr go when they are not captured: the caller's descriptor.
  const outTarget = interactive && spec.terminalOnStderr ? 2 : 1;
  const childOut = interactive ? callerStdio(outTarget) : 'pipe';
  const childErr = interactive ? callerStdio(2) : 'pipe';
  const restoreTerminals = guardTerminals([stdin, childOut, childErr].filter((fd): fd is number => typeof fd === 'number'));
  // Output captured, or relayed to the caller's file, goes through real pipes, which the command
  // can open again as /dev/stdout and /dev/stderr (fifo-pipes.ts); Node's own are socket pairs,
  // kept where no FIFO can be made.
  const fifos = childOut === 'pipe' || childErr === 'pipe' ? await (spec.outputPipes ?? outputPipes(2)) : undefined;
  const outPipe = childOut === 'pipe' ? fifos?.[0] : undefined;
  const errPipe = childErr === 'pipe' ? fifos?.[1] : undefined;
  // node:child_process, not execa: importing execa costs ~150 ms of start-up, more than half of
  // the overhead a run may add to its command (BENCHMARKS.md, proxy).
  const base = [stdin, outPipe?.childFd ?? childOut, errPipe?.childFd ?? childErr];
  const stdio: (string | number | undefined)[] = spec.sandbox ? [...base, 'pipe'] : base;
  for (const input of spec.sandbox?.inputs ?? []) stdio[input.fd] = 'pipe';
  // Every descriptor avfs inherited without close-on-exec becomes /dev/null in the child, so
  // nothing of the caller's reaches the command (a directory descriptor would lead out of the
  // sandbox).
  const leaked = inheritedDescriptors(stdio.length);
  const devNull = leaked.length > 0 ? openSync('/dev/null', 'r') : undefined;
  for (const fd of leaked) stdio[fd] = devNull;
  // Filled, not sparse: node skips the holes of a sparse array, which would shift every later fd.
  for (let fd = 0; fd < stdio.length; fd++) stdio[fd] ??= 'ignore';
  let child;
  try {
    child = spawn(spec.file, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: stdio as Parameters<typeof spawn>[2]['stdio'],
      // Its own session and group, except for an interactive shell, which keeps the terminal.
      detached: !interactive,
    });
  } finally {
    if (devNull !== undefined) closeSync(devNull);
    // The child has its own copies: the pipes end when it and its children close theirs.
    for (const pipe of fifos ?? []) pipe.closeChildEnd();
  }
  const spawnFailure = new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
  const streamClosed = (stream: NodeJS.ReadableStream | undefined) => (stream ? new Promise<void>((resolve) => stream.once('close', () => resolve())) : undefined);
  const closed = Promise.all([new Promise<void>((resolve) => child.once('close', () => resolve())), streamClosed(outPipe?.stream), streamClosed(errPipe?.stream)]);
  const output = outPipe?.stream ?? child.stdout;
  const errors = errPipe?.stream ?? child.stderr;
  // Interactive output is the caller's, never captured: a pipe here is one relayed to it.
  if (interactive && output) relayOutput(output, outTarget);
  if (interactive && errors) relayOutput(errors, 2);
  const stopInput = stdin === 'pipe' && child.stdin ? relayInput(child.stdin) : undefined;
  const stdout = capture(interactive ? null : output, spec.maxOutputBytes);
  const stderr = capture(interactive ? null : errors, spec.maxOutputBytes);

  const status = spec.sandbox ? readStatus(child.stdio[3] as Readable) : undefined;
  // bubblewrap reads each to its end before it starts the command.
  for (const input of spec.sandbox?.inputs ?? []) {
    const sink = child.stdio[input.fd] as Writable;
    sink.on('error', () => {}); // bubblewrap gone before reading it: its exit says why
    sink.end(input.data);
  }
  const pid = child.pid;

  if (pid === undefined) {
    const err = await spawnFailure;
    stopInput?.();
    restoreTerminals();
    releasePipes(fifos);
    const code = err.code;
    const message = err.message || String(code);
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
      sandboxFailed: false,
    };
  }

  const procs = spec.cgroupProcs ?? [];
  const members = status ? sandboxOf(pid, status, procs) : procs.length > 0 ? cgroupOf(procs) : groupOf(pid);
  let timedOut = false;
  let interrupted: NodeJS.Signals | null = null;
  let termSentAt: number | undefined;
  let killSent = false;
  let escalation: NodeJS.Timeout | undefined;
  const killAll = () => {
    killSent = true;
    members.kill();
  };
  let sigtermStep: NodeJS.Timeout | undefined;
  const terminate = (sig: NodeJS.Signals = 'SIGTERM') => {
    if (termSentAt !== undefined) return;
    termSentAt = Date.now();
    members.term(sig);
    // A process that ignores the signal passed on (a background job ignores SIGINT, nohup SIGHUP)
    // still gets SIGTERM to clean up, halfway through the grace, before SIGKILL ends it.
    if (sig !== 'SIGTERM') sigtermStep = setTimeout(() => members.term('SIGTERM'), spec.killAfterMs / 2);
    escalation = setTimeout(killAll, spec.killAfterMs);
  };
  // A timeout of 0 is none (`--timeout 0`): the command runs until it ends or avfs is signalled.
  const timer =
    spec.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          terminate();
        }, spec.timeoutMs)
      : undefined;
  // The command gets the signal avfs got (a Ctrl-C handler runs, `trap … INT` too), then SIGKILL after the grace.
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted ??= sig;
    terminate(sig);
  };
  // An interactive shell handles Ctrl-C and Ctrl-\ itself (the terminal sends them to avfs too): avfs ignores them.
  const signals = passedOn(interactive);
  const ignoreInt = () => {};
  if (interactive) for (const s of KEYBOARD) process.on(s, ignoreInt);
  for (const s of signals) process.on(s, onSignal);
  const onAbort = () => onSignal('SIGTERM');
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  if (spec.signal?.aborted) onAbort();
  if (spec.received) onSignal(spec.received);

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(timer);

    // Whatever is left: the same SIGTERM → grace → SIGKILL, sharing the deadline of a timeout
    // already under way so a timeout never costs more than timeout + grace. (In a sandbox the
    // namespace ended with the command, so this finds nothing.)
    const group = await endAll(
      () => members.list(),
      terminate,
      killAll,
      () => (killSent ? 0 : (termSentAt ?? Date.now()) + spec.killAfterMs),
    );
    clearTimeout(escalation);
    clearTimeout(sigtermStep);

    // Processes that left the group (setsid) but still carry this exec's id (a PID namespace has no such escape).
    const protect = spec.protect ?? [];
    let escapedTermAt: number | undefined;
    const escaped = status
      ? { seen: new Set<number>(), survivors: [] as number[] }
      : await endAll(
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
    await Promise.race([closed, new Promise((resolve) => (straggler = setTimeout(resolve, 2_000)))]);
    clearTimeout(straggler);
    child.stdout?.destroy();
    child.stderr?.destroy();
    releasePipes(fifos);

    const outData = stdout();
    const errData = stderr();
    const { exitCode, signal } = outcomeOf(exit, status, timedOut, killSent, interrupted);
    const notStarted = status && !timedOut && !interrupted ? programNotStarted(exit, status, errData.data) : null;
    if (notStarted) {
      const missing = notStarted[2] === 'No such file or directory';
      const message = Buffer.from(`avfs: cannot run ${notStarted[1]}: ${missing ? 'command not found' : 'permission denied'}\n`);
      return {
        exitCode: missing ? 127 : 126,
        signal: null,
        timedOut: false,
        interrupted,
        durationMs: elapsed(started),
        stdout: outData.data,
        stderr: message,
        stdoutBytes: outData.total,
        stderrBytes: message.length,
        truncated: false,
        leftoverProcesses: 0,
        survivors: [],
        spawnError: missing ? 'ENOENT' : 'EACCES',
        sandboxFailed: false,
      };
    }
    return {
      exitCode,
      signal,
      timedOut,
      interrupted,
      durationMs: elapsed(started),
      stdout: outData.data,
      stderr: errData.data,
      stdoutBytes: outData.total,
      stderrBytes: errData.total,
      truncated: outData.total > outData.data.length || errData.total > errData.data.length,
      // Neither bubblewrap nor the sandbox's init (still exiting when bubblewrap reports) is a leftover of the command.
      leftoverProcesses: [...group.seen].filter((p) => p !== pid && p !== status?.childPid).length + escaped.seen.size,
      survivors: [...group.survivors, ...escaped.survivors],
      spawnError: null,
      // No exit code from bubblewrap: it gave up setting up (saying why, last, on stderr; a child
      // pid may have been reported before), or it was killed after the command started (the
      // memory limit's OOM killer, charged for the sandbox's /tmp), which is a run, not a failure.
      sandboxFailed:
        !!status &&
        status.exitCode === null &&
        !timedOut &&
        interrupted === null &&
        (status.childPid === null || /(^|\n)bwrap: [^\n]*\n?$/.test(errData.data.toString('utf8'))),
    };
  } finally {
    stopInput?.();
    restoreTerminals();
    releasePipes(fifos);
    clearTimeout(timer);
    clearTimeout(escalation);
    for (const s of signals) process.off(s, onSignal);
    spec.signal?.removeEventListener('abort', onAbort);
    if (interactive) for (const s of KEYBOARD) process.off(s, ignoreInt);
  }
}

/**
 * The exit code and signal to report. Unsandboxed, the child's own. In a sandbox, the command's
 * exit code as bubblewrap reported it (128+n for a signal, which is the only trace of which one);
 * a sandbox ended by avfs (timeout, SIGKILL of its init) has no exit code: the signal avfs sent,
 * and one killed otherwise (the OOM killer) the signal that ended bubblewrap.
 */
function outcomeOf(
  exit: { code: number | null; signal: NodeJS.Signals | null },
  status: SandboxStatus | undefined,
  timedOut: boolean,
  killSent: boolean,
  interrupted: NodeJS.Signals | null,
): { exitCode: number; signal: string | null } {
  let code = exit.code;
  let signal: string | null = exit.signal;
  if (status) {
    code = status.exitCode ?? exit.code;
    signal = null;
    if (status.exitCode !== null && status.exitCode > 128 && status.exitCode <= 128 + 64) signal = signalName(status.exitCode - 128);
    // No exit code from bubblewrap: the signal avfs sent, else the one that ended bubblewrap (the
    // OOM killer's, for memory the run used).
    if (status.exitCode === null) signal = timedOut || killSent ? (killSent ? 'SIGKILL' : 'SIGTERM') : exit.signal;
  }
  if (timedOut) return { exitCode: TIMEOUT_EXIT_CODE, signal };
  // avfs was stopped (SIGTERM, SIGHUP, Ctrl-C) and passed it on: a command that caught it and
  // exited normally (a shell under `script` exits 0) still ended because of it, and avfs exits as
  // a stopped command does, 128 + the signal's number. One that ignored it until the grace period
  // ended was killed: SIGKILL says so, as after a timeout (not when only a process it left behind was).
  if (interrupted && signal !== 'SIGKILL' && (code === null || code < 128)) return { exitCode: 128 + (constants.signals[interrupted] ?? 0), signal: interrupted };
  return { exitCode: code ?? 128 + (signal ? (constants.signals[signal as NodeJS.Signals] ?? 0) : 0), signal };
}

/**
 * bubblewrap set up the sandbox but could not start the program (a command not found, like a
 * shell's): it reported no exit code, exited 1 itself, and its execvp error is all of stderr, which
 * it shares with the program. Each condition matters: a program that prints that line, then
 * makes the OOM killer end bubblewrap (no exit code either, but a signal), was reported as never
 * having run, its own stderr and its SIGKILL replaced.
 */
export function programNotStarted(exit: { code: number | null; signal: NodeJS.Signals | null }, status: SandboxStatus, stderr: Buffer): RegExpExecArray | null {
  if (status.exitCode !== null || exit.code !== 1 || exit.signal !== null) return null;
  return /^bwrap: execvp (.*): (No such file or directory|Permission denied)\n?$/.exec(stderr.toString('utf8'));
}

function signalName(n: number): string | null {
  return (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] as string | undefined) ?? null;
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 100) / 100;
