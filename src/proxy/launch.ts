import { join } from 'node:path';
import { AvfsError } from '../errors.js';
import { createExecCgroup, type ExecCgroup } from './cgroup.js';
import type { RunOutcome, RunSpec } from './exec.js';
import { sandboxFilter } from './seccomp.js';
import { bwrapArgs, describeSandbox, FILE_SIZE_BLOCK, type Limits, type SandboxPlan } from './sandbox.js';

/**
 * How a run's command is started: inside bubblewrap when the plan enforces the sandbox, with its
 * limits applied on the way in. A process limit or memory limit needs a cgroup of the run's own
 * (cgroup.ts), and a file size limit RLIMIT_FSIZE; both must hold before the first process of the
 * run starts anything, so a small /bin/sh prologue joins the cgroup and sets `ulimit -f`, then
 * execs bubblewrap (or, unsandboxed, the command itself). Without limits there is no prologue.
 */

export interface LaunchRequest {
  plan: SandboxPlan;
  /** The host directory showing the vault (the sandbox's `/`, or the unsandboxed command's root). */
  root: string;
  /** Working directory, a vault path. */
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  execId: string;
  interactive: boolean;
  /** See ExecRequest.terminalOnStderr. */
  terminalOnStderr: boolean;
  stdin: boolean;
  killAfterMs: number;
  maxOutputBytes: number;
  protect: number[];
}

export interface LimitReport {
  value: number | null;
  /** What enforces it (e.g. "cgroup v1 pids.max"), or null when nothing does. */
  enforcedBy: string | null;
  /** Why a requested limit is not enforced. */
  reason?: string;
}

/** Each limit of the run: the policy's timeout_ms, max_processes, max_file_size and memory. */
export interface LimitsReport {
  timeoutMs: LimitReport;
  maxProcesses: LimitReport;
  maxFileSize: LimitReport;
  memory: LimitReport;
}

/** A limit the run hit, or another boundary event the result reports. */
export interface Violation {
  kind: 'limit';
  limit: keyof Limits;
  value: number | null;
  detail: string;
}

export interface Launch {
  spec: RunSpec;
  cgroup: ExecCgroup | null;
  limits: LimitsReport;
}

/** The descriptor bubblewrap reports on (--json-status-fd): the first after stdin, stdout, stderr. */
const STATUS_FD = 3;
/** The descriptor bubblewrap reads the seccomp filter from (--seccomp): the next one. */
const SECCOMP_FD = 4;
/** The descriptor bubblewrap reads the arguments that set the command's environment from (--args). */
const ENV_ARGS_FD = 5;

/**
 * The environment of what runs on the host side of a sandboxed run: the limits prologue and
 * bubblewrap itself, both as the caller (root, in CI). The command's environment is the caller's
 * choice (--env, MCP `env`): given to them, LD_PRELOAD or LD_AUDIT would run the caller's code on
 * the host, outside the sandbox. Bubblewrap clears its environment and sets the command's from
 * arguments it reads on a descriptor (not its command line, which every user can read), once its
 * own start-up is over; it execs nothing else on the host. AVFS_EXEC_ID names the run's processes.
 */
const hostSideEnv = (execId: string): Record<string, string> => ({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', AVFS_EXEC_ID: execId });

/** bubblewrap's --clearenv and one --setenv per variable, as --args reads them (NUL-separated). */
function envWords(env: Record<string, string>): string[] {
  const words = ['--clearenv', ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value])];
  // A NUL would end a word early and start another: an argument of bubblewrap's, not a value.
  // Every source refuses one (--env, MCP, the policy's env.set); this is the last line.
  const bad = words.find((w) => w.includes('\0'));
  if (bad !== undefined) throw new AvfsError('INVALID_ARGUMENT', `an environment variable holds a NUL byte: ${JSON.stringify(bad)}`, { option: 'env', reason: 'nul_byte' });
  return words;
}

/** bubblewrap 0.8 refuses more arguments than this, those read through --args included. */
const BWRAP_MAX_ARGS = 9000;

/** Processes the sandbox itself keeps in the exec's cgroup: bubblewrap and the init of its PID namespace. */
const SANDBOX_PROCESSES = 2;

/** Joins each cgroup named before `--`, sets the file size limit if given ($1 after them), then execs the rest. */
const PROLOGUE = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; if [ -n "$1" ]; then ulimit -f "$1" || exit 126; fi; shift; exec "$@"';

export function prepareLaunch(r: LaunchRequest): Launch {
  const { plan } = r;
  const filter = plan.enforced ? sandboxFilter() : null;
  const inner = plan.enforced
    ? // `--` ends bubblewrap's options: without it a command whose first word is one (`--bind / /host
      // cat …`, `--cap-add ALL`, `--share-net`) was read as bubblewrap's own, after every option set here.
      [plan.bwrap!, ...bwrapArgs(plan, { root: r.root, cwd: r.cwd, statusFd: STATUS_FD, seccompFd: filter ? SECCOMP_FD : null, argsFd: ENV_ARGS_FD }), '--', ...r.argv]
    : r.argv;
  const env = plan.enforced ? envWords(r.env) : [];
  if (plan.enforced && inner.length - 1 + env.length > BWRAP_MAX_ARGS) {
    const count = Object.keys(r.env).length;
    throw new AvfsError('INVALID_ARGUMENT', `too many environment variables for the sandbox: ${count} (bubblewrap takes ${BWRAP_MAX_ARGS} arguments in all, three per variable, with the command's): pass fewer (--env, the policy's env.pass)`, { option: 'env', reason: 'too_many', count });
  }
  // Made once nothing can refuse the launch: the caller removes the cgroup of a launch it got.
  // The limit is the command's: bubblewrap's own two processes (it, and the init of the PID
  // namespace) count in the cgroup too, so they come on top (--max-processes 2 failed to start).
  const pidsMax = plan.limits.max_processes === null ? null : plan.limits.max_processes + (plan.enforced ? SANDBOX_PROCESSES : 0);
  const cgroup = createExecCgroup(r.execId, { maxProcesses: pidsMax, memory: plan.limits.memory });
  const blocks = plan.limits.max_file_size === null ? null : Math.max(1, Math.floor(plan.limits.max_file_size / FILE_SIZE_BLOCK));
  const wrapped = cgroup || blocks !== null ? ['/bin/sh', '-c', PROLOGUE, 'avfs-limits', ...(cgroup?.procs ?? []), '--', blocks === null ? '' : String(blocks), ...inner] : inner;
  const limits: LimitsReport = {
    timeoutMs:
      plan.limits.timeout_ms > 0
        ? { value: plan.limits.timeout_ms, enforcedBy: `avfs (SIGTERM, then SIGKILL after ${r.killAfterMs} ms)` }
        : { value: null, enforcedBy: null, reason: 'no timeout (--timeout 0)' },
    maxProcesses: report(plan.limits.max_processes, cgroup?.enforcedBy.pids ?? null, cgroup?.reasons.pids ?? noCgroup(plan.limits.max_processes)),
    maxFileSize: report(blocks === null ? null : blocks * FILE_SIZE_BLOCK, blocks === null ? null : 'RLIMIT_FSIZE', undefined),
    memory: report(plan.limits.memory, cgroup?.enforcedBy.memory ?? null, cgroup?.reasons.memory ?? noCgroup(plan.limits.memory)),
  };
  return {
    cgroup,
    limits,
    spec: {
      file: wrapped[0]!,
      args: wrapped.slice(1),
      // The sandbox starts its command in --chdir; unsandboxed, cwd is the directory in the vault's mount or copy.
      cwd: plan.enforced ? '/' : r.cwd === '/' ? r.root : join(r.root, r.cwd.slice(1)),
      env: plan.enforced ? hostSideEnv(r.execId) : r.env,
      stdin: r.stdin,
      timeoutMs: plan.limits.timeout_ms,
      killAfterMs: r.killAfterMs,
      maxOutputBytes: r.maxOutputBytes,
      execId: r.execId,
      protect: r.protect,
      interactive: r.interactive,
      terminalOnStderr: r.terminalOnStderr,
      cgroupProcs: cgroup?.procs ?? [],
      ...(plan.enforced
        ? { sandbox: { statusFd: STATUS_FD, inputs: [...(filter ? [{ fd: SECCOMP_FD, data: filter }] : []), { fd: ENV_ARGS_FD, data: Buffer.from(env.map((w) => `${w}\0`).join(''), 'utf8') }] } }
        : {}),
    },
  };
}

function report(value: number | null, by: string | null, reason: string | undefined): LimitReport {
  if (value === null) return { value: null, enforcedBy: null };
  return by ? { value, enforcedBy: by } : { value, enforcedBy: null, reason: reason ?? 'not enforced' };
}

const noCgroup = (value: number | null) => (value === null ? undefined : 'no cgroup could be created for the run');

/** The limits the run hit, read after it ended. */
export function violationsOf(launch: Launch, outcome: RunOutcome): Violation[] {
  const out: Violation[] = [];
  const { limits } = launch;
  if (outcome.timedOut) out.push({ kind: 'limit', limit: 'timeout_ms', value: limits.timeoutMs.value, detail: 'the command ran out of time and was ended' });
  const hits = launch.cgroup?.hits();
  if (hits?.pidsMax) out.push({ kind: 'limit', limit: 'max_processes', value: limits.maxProcesses.value, detail: `${hits.pidsMax} fork(s) refused at the process limit` });
  if (hits?.oomKills) out.push({ kind: 'limit', limit: 'memory', value: limits.memory.value, detail: `${hits.oomKills} process(es) killed for exceeding the memory limit` });
  // Only our limit: a status of 153 (a shell's for a child killed by SIGXFSZ) reads as that signal too.
  if (outcome.signal === 'SIGXFSZ' && limits.maxFileSize.value !== null) out.push({ kind: 'limit', limit: 'max_file_size', value: limits.maxFileSize.value, detail: 'the command was killed for writing past the file size limit' });
  return out;
}

/**
 * The file size limit as the files the run wrote show it: a command that ignores SIGXFSZ is not killed,
 * its write past the limit fails with EFBIG instead (the kernel refuses it before the mount or the
 * copy sees it), so the limit leaves no other trace than files that stopped exactly at it.
 */
export function filesAtSizeLimit(launch: Launch, written: () => ReadonlyArray<{ path: string; size: number | null }>, found: Violation[]): Violation[] {
  const limit = launch.limits.maxFileSize.value;
  if (limit === null || found.some((v) => v.limit === 'max_file_size')) return [];
  const stopped = written().filter((f) => f.size === limit).map((f) => f.path);
  if (stopped.length === 0) return [];
  const named = stopped.slice(0, 3).join(', ') + (stopped.length > 3 ? `, and ${stopped.length - 3} more` : '');
  return [{ kind: 'limit', limit: 'max_file_size', value: limit, detail: `${stopped.length} file(s) stopped exactly at the file size limit (${named}): a write past it fails (EFBIG), so they may have been cut short` }];
}

/** The result's `sandbox` field. */
export function sandboxField(plan: SandboxPlan, launch: Launch) {
  return describeSandbox(plan, launch.limits);
}
