import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { incompleteTail } from '../core/text.js';
import { holdSignals, type HeldSignals } from './held-signals.js';
import { MAX_TIMER_MS, oneOfOption, wholeOption } from '../core/units.js';
import { normalizePath, walkPath } from '../core/paths.js';
import { AvfsError } from '../errors.js';
import { audit } from '../store/audit.js';
import { saveCheckpoint } from '../store/checkpoints.js';
import { finishExec, insertExec, rejudgeExec } from '../store/execs.js';
import type { Store } from '../store/store.js';
import { currentSeq } from '../store/vaults.js';
import { VaultFs } from '../store/vault-fs.js';
import { changeReport, lastWrittenFiles, type ChangedFile } from './changes.js';
import { VIEWS_SERVER_CLOSED } from '../mount/views.js';
import { quoteArgv } from './command-line.js';
import { runCommand } from './exec.js';
import { outputPipes, releasePipes } from './fifo-pipes.js';
import { filesAtSizeLimit, prepareLaunch, sandboxField, violationsOf, type Launch, type Violation } from './launch.js';
import { reapDeadExecs } from './liveness.js';
import { childEnv, evaluatePolicy, MAX_OUTPUT_BYTES, type CommandVerdict, type Decision, type Policy } from './policy.js';
import { FILE_SIZE_BLOCK, namespacesWork, onlyHidingChanged, planSandbox, sandboxRequest, sandboxSearchPath, withoutSandbox, type NetworkMode, type SandboxReport } from './sandbox.js';
import type { SandboxLayout } from '../core/sandbox-layout.js';
import { loadPolicy } from './policy-source.js';
import { openWorkspace, type ModeChoice, type Workspace } from './workspace.js';
import { isWellFormed } from '../core/utf8.js';

/**
 * `proxy exec`: the one execution surface. In order: resolve the vault and working directory →
 * plan the sandbox → evaluate the policy → audit the request → refuse (audited, exit 5) or go on
 * → checkpoint when the decision asks for one (or --checkpoint; --no-checkpoint skips it) → make
 * the vault available (a view of the resident mount, a private mount, or a copy) → run the
 * command in the sandbox (or, unsandboxed, in its own process group) with its limits → import
 * the copy's changes → compute the change report from the versions the run recorded → audit
 * the completion. The command never starts unless the policy allowed it.
 */

export interface ExecRequest {
  /** argv form (`-- cmd args…`). Exactly one of argv and shell. */
  argv?: string[];
  /** shell form (`--shell "…"`), run with /bin/sh -c. */
  shell?: string;
  /** Working directory inside the vault (default `/`). */
  cwd?: string;
  timeoutMs?: number;
  killAfterMs?: number;
  maxOutputBytes?: number;
  /** true: always checkpoint; false: never; undefined: when the decision (or policy) asks. */
  checkpoint?: boolean;
  approve?: boolean;
  stdin?: boolean;
  mode?: ModeChoice;
  /** Extra environment variables (--env), on top of what the policy passes. */
  env?: Record<string, string>;
  /** --sandbox: makes the policy's sandbox mode stricter (auto → required), never looser. */
  sandbox?: 'auto' | 'required';
  /** --network: the sandbox's network (none, or the host's). */
  network?: NetworkMode;
  /** Limits (null: none), overriding the policy's. */
  maxProcesses?: number | null;
  maxFileSize?: number | null;
  memory?: number | null;
  /** An interactive shell on avfs's terminal (avfs shell): no capture, no policy judgement of the command. */
  interactive?: boolean;
  /** With interactive: the shell writes to avfs's stderr (the same terminal), so stdout holds only the --json document. */
  terminalOnStderr?: boolean;
  /** --readonly: the vault is bound read-only in the sandbox (needs the sandbox). */
  readOnly?: boolean;
  /** Ends the command as a SIGTERM to avfs would (an MCP call cancelled by its client). */
  signal?: AbortSignal;
  /**
   * Called as the command starts, with how it runs: `avfs shell` warns before the session, not
   * after it, when it is not in the sandbox.
   */
  onStart?: (run: { sandboxed: boolean; reason: string | null; mountpoint: string }) => void;
  /**
   * The caller is the agent the boundary holds (the MCP server's calls), not the person who set
   * the policy: it may not approve its own command, widen the network past the policy's, run
   * longer than the policy's timeout, raise a limit, or go without a checkpoint the policy asks
   * for (agentLimits).
   */
  agent?: boolean;
}

/** What a run did (camelCase; src/api/exec.ts `execJson` gives the CLI's `--json` fields). */
export interface ExecResult {
  vault: string;
  execId: string;
  /** The request as one line. */
  command: string;
  argv: string[] | null;
  shell: string | null;
  cwd: string;
  mode: 'mount' | 'copy';
  /** Why this mode when it was not the first choice (e.g. FUSE unavailable), else null. */
  modeReason: string | null;
  /** The host directory the run saw the vault in. */
  mountpoint: string;
  decision: Decision;
  approved: boolean;
  checkpoint: string | null;
  /** What the sandbox enforced (README "Boundary"). */
  sandbox: SandboxReport;
  /** Limits the run hit. */
  violations: Violation[];
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** Output as text: UTF-8, or base64 when it is not UTF-8 text (the encodings say which). */
  stdout: string;
  stderr: string;
  stdoutEncoding: 'utf8' | 'base64';
  stderrEncoding: 'utf8' | 'base64';
  /** Bytes the command wrote (more than kept when truncated). */
  stdoutBytes: number;
  stderrBytes: number;
  truncated: boolean;
  /** Exactly what the run changed in the vault, one net change per path. */
  changedFiles: ChangedFile[];
  /** Copy mode: paths the command created that a vault cannot hold (sockets, FIFOs, devices) or could not list. */
  skipped: { path: string; reason: string }[];
  leftoverProcesses: number;
  /** Processes of the run still alive after the final SIGKILL (always empty unless one is stuck in the kernel). */
  survivors: number[];
}



/** A new exec id: time-ordered, unique, usable in checkpoint names. */
export function newExecId(): string {
  return `ex-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

function encode(buf: Buffer, truncated: boolean): { text: string; encoding: 'utf8' | 'base64' } {
  // A cut output may end inside a multi-byte character; that alone does not make it binary.
  const body = truncated ? buf.subarray(0, buf.length - incompleteTail(buf)) : buf;
  if (!body.includes(0) && isUtf8(body) && (body.length * 6 <= MAX_TEXT_JSON || jsonLength(body) <= MAX_TEXT_JSON)) return { text: body.toString('utf8'), encoding: 'utf8' };
  return { text: buf.toString('base64'), encoding: 'base64' };
}

/**
 * The longest text output sent as text: as long as the base64 of the most a run keeps. JSON
 * writes a control character as \u00XX (six characters), so 90 MiB of them made a document longer
 * than a JavaScript string holds; such output goes as base64 (ANSI colours in ordinary output
 * stay far below this and stay text).
 */
const MAX_TEXT_JSON = 4 * Math.ceil(MAX_OUTPUT_BYTES / 3);

/** How long UTF-8 text is as a JSON string (in bytes of UTF-8, at least its length in characters). */
function jsonLength(text: Buffer): number {
  let length = text.length;
  for (const byte of text) {
    if (byte === 0x22 || byte === 0x5c || byte === 0x08 || byte === 0x0c || byte === 0x0a || byte === 0x0d || byte === 0x09) length += 1;
    else if (byte < 0x20) length += 5;
  }
  return length;
}

/** The request as one line, for messages, the audit and the exec record. */
export function describeRequest(request: ExecRequest): string {
  return request.shell !== undefined ? request.shell : quoteArgv(request.argv ?? []);
}

/**
 * Resolves and checks `--cwd`: an existing directory of the vault, as a canonical path. In the
 * sandbox the vault is `/`, so its symlinks are followed as the kernel follows them there (`..` at
 * `/` stays at `/`: a link to `../../etc` from `/` is `/etc`), and a reserved name (`/tmp`,
 * `/usr`…) is the sandbox's, not the vault's: refused as such, whether or not the vault holds it.
 */
function resolveCwd(fs: VaultFs, input: string | undefined, layout: SandboxLayout | null): string {
  if (!layout) {
    const path = normalizePath(input ?? '/');
    const entry = fs.stat(path);
    if (entry.type !== 'd') throw new AvfsError('NOT_A_DIRECTORY', `--cwd is not a directory: ${path}`, { path });
    return entry.path;
  }
  // `..` is taken as the kernel takes it inside, after the links before it (`/link/..` is the
  // link's parent, not `/`) and at `/` staying there: normalizing first read `/link/..` as `/`.
  // The names are checked as any path is, `..` aside.
  const raw = input ?? '/';
  normalizePath(raw.split('/').map((n) => (n === '..' ? '.' : n)).join('/'));
  const path = raw.startsWith('/') ? raw : `/${raw}`;
  const at = walkPath(path, (next) => {
    if (layout.covers(next)) {
      const top = next.split('/')[1]!;
      throw new AvfsError('INVALID_PATH', `--cwd ${path}: /${top} is reserved in the sandbox (the sandbox's own, not the vault's); use a directory of the vault`, { path, reserved: layout.topNames.map((n) => `/${n}`) });
    }
    const entry = fs.lstat(next);
    if (entry.type === 'l') return { link: entry.target! };
    if (entry.type !== 'd') throw new AvfsError('NOT_A_DIRECTORY', `--cwd is not a directory: ${path}`, { path });
    return 'dir';
  });
  if (at === null) throw new AvfsError('INVALID_PATH', `--cwd ${path}: too many levels of symbolic links`, { path });
  return at;
}

/** The option an agent asked beyond the policy, and why it is refused. */
export interface AgentBeyond {
  option: string;
  message: string;
}

/** What of an ExecRequest agentLimits judges. */
export type AgentAsks = Pick<ExecRequest, 'network' | 'timeoutMs' | 'killAfterMs' | 'maxOutputBytes' | 'maxProcesses' | 'maxFileSize' | 'memory' | 'checkpoint' | 'env'>;

/**
 * What an agent's request (ExecRequest.agent) asks beyond the policy, or null: a network wider
 * than the policy's, a timeout or a SIGTERM-to-SIGKILL grace longer than the policy's (a timeout
 * of 0 is none), more output kept, a sandbox limit raised or removed (null), or no checkpoint
 * where the decision or the policy takes one. The policy is the person's word; an agent only
 * tightens it.
 */
export function agentLimits(request: AgentAsks, policy: Policy, decision: Decision, sandboxed: boolean): AgentBeyond | null {
  if (request.network === 'host' && policy.sandbox.network !== 'host') {
    return { option: 'network', message: `an agent cannot widen the sandbox's network: the policy says "${policy.sandbox.network}" (a person sets sandbox.network in the policy, or runs avfs proxy exec --network host)` };
  }
  if (request.timeoutMs !== undefined && (request.timeoutMs === 0 || request.timeoutMs > policy.timeout_ms)) {
    return { option: 'timeout_ms', message: `an agent cannot run a command longer than the policy's timeout_ms (${policy.timeout_ms} ms; asked ${request.timeoutMs === 0 ? 'no timeout' : `${request.timeoutMs} ms`})` };
  }
  if (request.killAfterMs !== undefined && request.killAfterMs > policy.kill_after_ms) {
    return { option: 'kill_after_ms', message: `an agent cannot give a command longer than the policy's kill_after_ms (${policy.kill_after_ms} ms) between SIGTERM and SIGKILL (asked ${request.killAfterMs} ms)` };
  }
  if (request.maxOutputBytes !== undefined && request.maxOutputBytes > policy.max_output_bytes) {
    return { option: 'max_output_bytes', message: `an agent cannot keep more output than the policy's max_output_bytes (${policy.max_output_bytes}; asked ${request.maxOutputBytes})` };
  }
  const limits = policy.sandbox.limits;
  for (const [option, asked, allowed] of [
    ['max_processes', request.maxProcesses, limits.max_processes],
    ['max_file_size', request.maxFileSize, limits.max_file_size],
    ['memory', request.memory, limits.memory],
  ] as const) {
    // undefined: the policy's limit applies; null: none.
    if (asked !== undefined && allowed !== null && (asked === null || asked > allowed)) {
      return { option, message: `an agent cannot raise the sandbox's ${option} limit: the policy says ${allowed}, asked ${asked === null ? 'no limit' : asked} (a person sets sandbox.limits in the policy, or runs avfs proxy exec with the option)` };
    }
  }
  if (request.checkpoint === false && (decision.action === 'allow_with_checkpoint' || policy.auto_checkpoint)) {
    return { option: 'checkpoint', message: `an agent cannot skip the checkpoint the policy takes before this command (rule ${decision.rule})` };
  }
  // Unsandboxed, the policy's verdict on the command line is the only boundary, and the
  // environment decides what a judged program does (LD_PRELOAD, PATH, HOME, GIT_*, NODE_OPTIONS…).
  const names = Object.keys(request.env ?? {});
  if (!sandboxed && names.length > 0) {
    return { option: 'env', message: `an agent cannot set environment variables (${names.join(', ')}) for a command that runs without the sandbox: they change what the judged program does (a person sets them with --env, or in the policy's env.set)` };
  }
  return null;
}

/** How many times a run is planned again when what the host hides changed before bubblewrap set up (see runExec). */
const SANDBOX_REPLANS = 4;

/** An interactive shell is not judged command by command: the person types; the sandbox enforces. */
const SHELL_DECISION: Decision = { action: 'allow', categories: ['interactive'], rule: 'shell', reason: 'an interactive shell (avfs shell): what is typed is not judged; the sandbox is the boundary' };

/** The command line as argv. */
// `--` ends sh's options: a command string starting with `-` is the command, not an option of sh.
const argvOf = (request: ExecRequest): string[] => (request.shell !== undefined ? ['/bin/sh', '-c', '--', request.shell] : request.argv!);

/** An --env name, as the CLI takes it: a name with `=` would set another variable, an empty one none. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The request's options, checked here for every door (the CLI's parsing checks the same; the SDK
 * and MCP pass values as they come): a timer longer than Node holds fires at once, and a value
 * Node's spawn refuses would surface as an uncoded error after the policy and audit ran.
 */
function checkOptions(r: ExecRequest): void {
  const bad = (option: string, value: unknown, expected: string) => {
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${option} ${JSON.stringify(value) ?? String(value)}: expected ${expected}`, { option });
  };
  wholeOption('timeoutMs', r.timeoutMs, 0, { max: MAX_TIMER_MS });
  wholeOption('killAfterMs', r.killAfterMs, 0, { max: MAX_TIMER_MS });
  wholeOption('maxOutputBytes', r.maxOutputBytes, 0, { max: MAX_OUTPUT_BYTES });
  wholeOption('maxProcesses', r.maxProcesses, 1, { nullable: true });
  // RLIMIT_FSIZE is set in 512-byte blocks (launch.ts): a smaller limit would be raised to one.
  wholeOption('maxFileSize', r.maxFileSize, FILE_SIZE_BLOCK, { nullable: true });
  wholeOption('memory', r.memory, 1, { nullable: true });
  oneOfOption('mode', r.mode, ['auto', 'mount', 'copy']);
  oneOfOption('sandbox', r.sandbox, ['auto', 'required']);
  oneOfOption('network', r.network, ['none', 'host']);
  for (const [name, value] of Object.entries(r.env ?? {})) {
    if (!ENV_NAME.test(name)) bad('env name', name, 'letters, digits and _, not starting with a digit');
    if (typeof value !== 'string' || value.includes('\0')) bad(`env ${name}`, value, 'a string without NUL');
  }
}

/** Linux's limit on one argument or environment string, its NUL included (MAX_ARG_STRLEN: 32 pages). */
const MAX_ARG_STRLEN = 32 * 4096;
/** Room left in ARG_MAX for what the launch adds to the request: the sandbox's own arguments. */
const LAUNCH_RESERVE = 64 * 1024;

/**
 * Linux's limit on an exec's argv and environment together (ARG_MAX): the strings with their NULs
 * and one pointer each, at most a quarter of the stack limit and 6 MiB (fs/exec.c), 128 KiB at
 * the least. Read from this process's stack limit, which a child inherits.
 */
function argMax(): number {
  let stack = 8 * 1024 * 1024;
  try {
    const m = /^Max stack size\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) stack = m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    // not Linux, or no /proc: assume the usual 8 MiB stack
  }
  return Math.max(128 * 1024, Math.min(stack / 4, 6 * 1024 * 1024));
}

/**
 * The command line checked as the kernel will check it, before anything is recorded: a NUL byte
 * cannot be passed (Node refuses it), and an argument over MAX_ARG_STRLEN, or an argument list
 * and environment over ARG_MAX, fail the exec with E2BIG. Either was refused only once the policy
 * was judged, the request audited and a checkpoint taken.
 */
function checkCommandLine(r: ExecRequest): void {
  const words = r.shell !== undefined ? [r.shell] : r.argv!;
  const name = (i: number) => (r.shell !== undefined ? 'the --shell command' : `argv[${i}]`);
  let total = 0;
  for (const [i, word] of words.entries()) {
    if (typeof word !== 'string') throw new AvfsError('INVALID_ARGUMENT', `${name(i)} is not a string`, { option: 'argv', index: i });
    if (word.includes('\0')) throw new AvfsError('INVALID_ARGUMENT', `${name(i)} contains a NUL byte, which no command line can carry`, { option: 'argv', index: i, reason: 'nul_byte' });
    if (!isWellFormed(word)) throw new AvfsError('INVALID_ARGUMENT', `${name(i)} holds a lone surrogate (not valid Unicode), which has no bytes to pass`, { option: 'argv', index: i, reason: 'not_unicode' });
    const bytes = Buffer.byteLength(word) + 1;
    if (bytes > MAX_ARG_STRLEN) {
      throw new AvfsError('INVALID_ARGUMENT', `the argument list is too long: ${name(i)} is ${bytes - 1} bytes, more than the ${MAX_ARG_STRLEN - 1} Linux passes in one argument; write the data to a file in the vault and pass its path`, {
        option: 'argv',
        index: i,
        reason: 'too_long',
        bytes: bytes - 1,
        limit: MAX_ARG_STRLEN - 1,
      });
    }
    total += bytes + 8;
  }
  for (const [k, v] of Object.entries(r.env ?? {})) {
    if (!isWellFormed(k) || !isWellFormed(v)) throw new AvfsError('INVALID_ARGUMENT', `environment variable ${JSON.stringify(k)} holds a lone surrogate (not valid Unicode)`, { option: 'env', name: k, reason: 'not_unicode' });
    const bytes = Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
    if (bytes > MAX_ARG_STRLEN) {
      throw new AvfsError('INVALID_ARGUMENT', `the environment is too long: ${k} is ${bytes - 1} bytes with its name, more than the ${MAX_ARG_STRLEN - 1} Linux passes in one string; write the data to a file in the vault and pass its path`, {
        option: 'env',
        name: k,
        reason: 'too_long',
        bytes: bytes - 1,
        limit: MAX_ARG_STRLEN - 1,
      });
    }
  }
  const env = { ...process.env, ...r.env };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) total += Buffer.byteLength(k) + Buffer.byteLength(v) + 2 + 8;
  const limit = argMax() - LAUNCH_RESERVE;
  if (total > limit) {
    throw new AvfsError('INVALID_ARGUMENT', `the argument list is too long: the command and its environment come to ${total} bytes, more than the ${limit} Linux passes to a command (ARG_MAX, less room for the sandbox's own arguments); write the data to a file in the vault and pass its path`, {
      option: 'argv',
      reason: 'too_long',
      bytes: total,
      limit,
    });
  }
}

export async function proxyExec(store: Store, vaultName: string, request: ExecRequest): Promise<ExecResult> {
  const held = holdSignals(!!request.interactive);
  try {
    return await execHoldingSignals(store, vaultName, request, held);
  } finally {
    held.release();
  }
}

async function execHoldingSignals(store: Store, vaultName: string, request: ExecRequest, held: HeldSignals): Promise<ExecResult> {
  if ((request.argv === undefined) === (request.shell === undefined)) {
    throw new AvfsError('USAGE', 'give the command either after -- (argv form) or with --shell "<string>", not both');
  }
  if (request.argv !== undefined && request.argv.length === 0) throw new AvfsError('USAGE', 'no command: give it after --, e.g. avfs proxy exec -- ls -la');
  if (request.shell !== undefined && request.shell.trim() === '') throw new AvfsError('USAGE', 'empty --shell command');
  checkOptions(request);
  checkCommandLine(request);

  // An earlier exec whose avfs was killed is ended and closed first, so nothing of it can write
  // into this run's window.
  await reapDeadExecs(store);
  const execId = newExecId();
  const actor = { source: 'proxy' as const, execId };
  const fs = new VaultFs(store, vaultName, actor);
  // Read through fs, which keeps this vault from now on (VaultFs.row: vault_replaced).
  const vault = fs.row();
  const command = describeRequest(request);
  const { policy, source } = loadPolicy(store, vaultName);
  const wanted = { ...sandboxRequest(policy, request), home: store.home };
  let plan = planSandbox(wanted);
  const cwd = resolveCwd(fs, request.cwd, plan.layout);

  // In the sandbox every path the command names is the vault's; unsandboxed, host paths are
  // judged against a private mount or copy that is created only once the command is allowed.
  let { decision, verdicts, checkpoint: ruleCheckpoint } = request.interactive ? { decision: SHELL_DECISION, verdicts: [] as CommandVerdict[], checkpoint: false } : evaluatePolicy(policy, request, { cwd, sandboxed: plan.enforced, vault: vaultName, home: store.home });
  let approved = decision.action === 'require_approval' && !!request.approve && !request.agent;
  const base = { exec_id: execId, command, cwd, decision, policy: source, sandboxed: plan.enforced };
  store.mutate(() => audit(store, actor, 'proxy.request', vaultName, { ...base, approved }));

  if (decision.action === 'deny' || (decision.action === 'require_approval' && !approved)) {
    const approval = decision.action === 'require_approval';
    store.mutate(() => audit(store, actor, 'proxy.denied', vaultName, { exec_id: execId, command, rule: decision.rule, approval_required: approval }));
    throw deniedError(vaultName, command, decision, verdicts, execId, approval, request.agent);
  }
  const beyond = request.agent ? agentLimits(request, policy, decision, plan.enforced) : null;
  if (beyond) {
    store.mutate(() => audit(store, actor, 'proxy.denied', vaultName, { exec_id: execId, command, rule: 'agent-limits', option: beyond.option }));
    throw new AvfsError('DENIED', beyond.message, { vault: vaultName, command, exec_id: execId, option: beyond.option, rule: 'agent-limits' });
  }

  const wantCheckpoint = (d: Decision) => request.checkpoint ?? (d.action === 'allow_with_checkpoint' || ruleCheckpoint || policy.auto_checkpoint);
  const takeCheckpoint = () => saveCheckpoint(fs, `proxy-${execId}`, `before proxy exec ${execId}: ${command}`.slice(0, 1000)).name;
  let checkpoint: string | null = null;
  const failed = (error: unknown) =>
    store.mutate(() =>
      audit(store, actor, 'proxy.failed', vaultName, { exec_id: execId, command, checkpoint, error: error instanceof AvfsError ? error.toJSON() : String(error) }),
    );

  const open = () => openWorkspace(store, fs, request.mode ?? 'auto', execId, { layout: plan.layout });
  // The command's output pipes are made while the workspace opens (mkfifo is a process of its
  // own); the first start takes them, a second one makes its own.
  let pipesAhead = request.interactive ? undefined : outputPipes(2);
  const takePipes = () => {
    const pipes = pipesAhead;
    pipesAhead = undefined;
    return pipes;
  };
  let workspace: Workspace;
  try {
    workspace = await open();
  } catch (error) {
    void takePipes()?.then(releasePipes);
    failed(error);
    throw error;
  }
  let finished = false;
  let launch: Launch | undefined;
  try {
    // The checkpoint and the exec that names it are stored together: avfs killed in between would
    // leave a proxy-<id> checkpoint no exec owns (nothing to undo with, nothing to clean it up).
    store.mutate(() => {
      checkpoint = wantCheckpoint(decision) ? takeCheckpoint() : null;
      insertExec(store, {
        id: execId,
        vault_id: vault.id,
        vault: vaultName,
        command: JSON.stringify(request.shell !== undefined ? { shell: request.shell } : { argv: request.argv }),
        cwd,
        mode: workspace.mode,
        decision: JSON.stringify(decision),
        checkpoint,
        seq_before: workspace.seqBefore,
        ...workspace.owner,
      });
    });
    const seqBefore = workspace.seqBefore;
    const start = async () => {
      const ws = workspace!;
      const inside = plan.enforced;
      const env = childEnv(
        policy,
        process.env,
        request.env ?? {},
        { AVFS_VAULT: vaultName, AVFS_EXEC_ID: execId, AVFS_MOUNTPOINT: inside ? '/' : ws.root, ...(inside ? {} : { AVFS_HOME: store.home }) },
        // Inside, the host's home and temporary directory do not exist; /tmp is the sandbox's own.
        // PATH keeps only the host directories bound read-only: the others are vault paths there,
        // where a program the command placed would run instead of the one judged.
        inside ? { HOME: '/tmp', TMPDIR: '/tmp', PATH: sandboxSearchPath(plan) } : {},
        // Without the sandbox the command has the host's network, whatever the plan says.
        inside ? plan.network : 'host',
      );
      launch = prepareLaunch({
        plan,
        root: ws.root,
        cwd,
        argv: argvOf(request),
        env,
        execId,
        interactive: !!request.interactive,
        terminalOnStderr: !!request.terminalOnStderr,
        stdin: !!request.stdin,
        killAfterMs: request.killAfterMs ?? policy.kill_after_ms,
        maxOutputBytes: request.maxOutputBytes ?? policy.max_output_bytes,
        protect: ws.protect,
      });
      request.onStart?.({ sandboxed: plan.enforced, reason: plan.reason, mountpoint: ws.root });
      held.suspend();
      try {
        return await runCommand({ ...launch.spec, signal: request.signal, received: held.first, outputPipes: takePipes() });
      } finally {
        held.resume();
      }
    };
    let outcome = await start();
    // A host file or directory the plan hides (an SSH host key, a views server's mount) that went
    // away before bubblewrap set up makes it fail ("Can't create file at …"): nothing ran. Planned
    // again, with the same binds, the run starts once more, and again while what the host hides
    // keeps changing under it (CI's tests add and remove such files: a second one went away while
    // the first retry started), a few times at most.
    for (let retries = 0; retries < SANDBOX_REPLANS && outcome.sandboxFailed && !launch!.cgroup?.hits().oomKills; retries++) {
      const fresh = planSandbox(wanted);
      if (!onlyHidingChanged(plan, fresh)) break;
      await launch!.cgroup?.remove();
      plan = { ...fresh, layout: plan.layout };
      outcome = await start();
    }
    // Killed for the memory the run used (the sandbox's /tmp is charged to it), bubblewrap ran the
    // command, whatever its last words on stderr (which the command can print too).
    if (outcome.sandboxFailed && !launch!.cgroup?.hits().oomKills) {
      // bubblewrap gave up before the command started: nothing ran. Where this machine cannot
      // create the namespaces at all, `auto` runs without the sandbox, saying so; otherwise (a
      // bad bind, or `required`) the run is refused.
      const said = outcome.stderr.toString('utf8').trim().split('\n').pop() ?? '';
      const reason = `bubblewrap could not set up the sandbox: ${said || `exit ${outcome.exitCode}`}`;
      await launch!.cgroup?.remove();
      // The vault's own modes, not the machine: copy mode gives the host copy the vault's modes,
      // and bubblewrap enters the working directory with every capability dropped (a command that
      // ran `chmod 644 /` made every later copy-mode run fail here, named a sandbox failure).
      const unsearchable = /^bwrap: Can't chdir to (.+): Permission denied$/.exec(said);
      if (unsearchable) {
        const dir = unsearchable[1]!;
        throw new AvfsError(
          'DENIED',
          `the command cannot start in ${dir}: its mode, or a directory's above it, lets no one search it, and the sandbox has no capability past permission bits (copy mode gives the copy the vault's modes). Give the search bit back, e.g. avfs proxy exec --mode mount -- chmod u+x ${dir}`,
          { reason: 'not_searchable', path: dir, exec_id: execId },
        );
      }
      // The machine could sandbox when the run was planned: an agent's run, or a person's shell
      // (which would open on the host where they expect the vault as /), is refused rather than
      // run without it (what else runs on the machine, another exec included, could have made
      // bubblewrap fail: a limit of the host's namespaces it used up).
      if (wanted.mode === 'required' || request.agent || request.interactive || (await namespacesWork(plan))) {
        throw new AvfsError('SANDBOX_UNAVAILABLE', reason, { reason, exec_id: execId });
      }
      plan = withoutSandbox(plan, reason);
      // Judged again as it now runs (its absolute paths are the host's), as a run planned
      // without the sandbox is: refused, or with the checkpoint that judgement takes.
      ({ decision, verdicts, checkpoint: ruleCheckpoint } = evaluatePolicy(policy, request, { cwd, sandboxed: false, vault: vaultName, home: store.home }));
      if (decision.action === 'deny' || (decision.action === 'require_approval' && !request.approve)) {
        const approval = decision.action === 'require_approval';
        store.mutate(() => audit(store, actor, 'proxy.denied', vaultName, { exec_id: execId, command, rule: decision.rule, approval_required: approval, sandboxed: false }));
        throw deniedError(vaultName, command, decision, verdicts, execId, approval);
      }
      approved = decision.action === 'require_approval';
      store.mutate(() => {
        if (checkpoint === null && wantCheckpoint(decision)) checkpoint = takeCheckpoint();
        rejudgeExec(store, execId, { decision: JSON.stringify(decision), checkpoint });
      });
      await workspace.abort();
      workspace = await open();
      outcome = await start();
    }
    finished = true;
    const violations = violationsOf(launch!, outcome);
    await launch!.cgroup?.remove();
    // The command's output as the report (or the error of a run whose views server died) carries it.
    const out = encode(outcome.stdout, outcome.stdoutBytes > outcome.stdout.length);
    const err = encode(outcome.stderr, outcome.stderrBytes > outcome.stderr.length);
    let sync;
    try {
      ({ sync } = await workspace.finish());
      // A vault deleted while the command ran (made again under its name or not) has no report to
      // give: its view went with it, and the new one is not the one the command worked in.
      fs.row();
    } catch (error) {
      // The command ran but its changes could not be brought into the vault (copy mode: the copy
      // is kept, its path is in the error): say how the command itself ended.
      const e = error instanceof AvfsError ? error : new AvfsError('INTERNAL', String((error as Error).message ?? error));
      const seqAfter = currentSeq(store);
      store.mutate(() => finishExec(store, execId, { seqAfter, exitCode: outcome.exitCode, signal: outcome.signal, timedOut: outcome.timedOut }));
      const ended = { exec_id: execId, exit_code: outcome.exitCode, signal: outcome.signal, timed_out: outcome.timedOut };
      if (e.data.reason !== VIEWS_SERVER_CLOSED) throw AvfsError.fromJSON({ ...e.toJSON(), ...ended });
      // The views server stopped under the run (killed): what it stored before is in the vault,
      // tagged with the exec, and the output was captured here; the command's writes after it
      // failed in the sandbox. All of it is said, not a bare CONFLICT.
      const changed = changeReport(store, vault, { after: seqBefore, upTo: seqAfter, execId });
      throw new AvfsError(
        'INTERNAL',
        `the proxy views server stopped while the command ran (was it killed?): the command's writes after that failed; ${changed.length} change(s) it made before are in the vault (changed_files: path and kind; proxy undo ${execId} puts them back if a checkpoint was taken)`,
        { ...ended, reason: 'views_server_stopped', checkpoint, changed_files: changed.map((c) => ({ path: c.path, kind: c.kind })), stdout: out.text, stderr: err.text, stdout_encoding: out.encoding, stderr_encoding: err.encoding },
      );
    }
    const seqAfter = currentSeq(store);
    store.mutate(() =>
      finishExec(store, execId, { seqAfter, exitCode: outcome.exitCode, signal: outcome.signal, timedOut: outcome.timedOut }),
    );
    const changed = changeReport(store, vault, { after: seqBefore, upTo: seqAfter, execId });
    // Files it wrote that stopped at the limit, also those that ended as they began (cut short
    // at the limit again): where its versions record them (the mount; a copy imports only changes).
    violations.push(...filesAtSizeLimit(launch!, () => lastWrittenFiles(store, vault, { after: seqBefore, upTo: seqAfter, execId }), violations));
    const sandbox = sandboxField(plan, launch!);
    const ws = workspace;
    store.mutate(() =>
      audit(store, actor, 'proxy.exec', vaultName, {
        exec_id: execId,
        command,
        mode: ws.mode,
        sandboxed: plan.enforced,
        exit_code: outcome.exitCode,
        signal: outcome.signal,
        timed_out: outcome.timedOut,
        duration_ms: outcome.durationMs,
        checkpoint,
        changed: changed.length,
        ...(violations.length ? { violations } : {}),
        ...(sync?.skipped.length ? { skipped: sync.skipped } : {}),
        ...(outcome.survivors.length ? { survivors: outcome.survivors } : {}),
      }),
    );
    return {
      vault: vaultName,
      execId,
      command,
      argv: request.argv ?? null,
      shell: request.shell ?? null,
      cwd,
      mode: ws.mode,
      modeReason: ws.modeReason,
      mountpoint: ws.root,
      decision,
      approved,
      checkpoint,
      sandbox,
      violations,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      timedOut: outcome.timedOut,
      durationMs: outcome.durationMs,
      stdout: out.text,
      stderr: err.text,
      stdoutEncoding: out.encoding,
      stderrEncoding: err.encoding,
      stdoutBytes: outcome.stdoutBytes,
      stderrBytes: outcome.stderrBytes,
      truncated: outcome.truncated,
      changedFiles: changed,
      skipped: sync?.skipped ?? [],
      leftoverProcesses: outcome.leftoverProcesses,
      survivors: outcome.survivors,
    };
  } catch (error) {
    void takePipes()?.then(releasePipes);
    if (!finished) {
      await workspace.abort().catch(() => {});
      await launch?.cgroup?.remove().catch(() => {});
      // Nothing ran (or the sandbox refused): the exec is over.
      store.mutate(() => finishExec(store, execId, { seqAfter: currentSeq(store), exitCode: null, signal: null, timedOut: false }));
    }
    // The kernel's own count (checkCommandLine estimates the launch's share): still the request's fault.
    const e = (error as NodeJS.ErrnoException)?.code === 'E2BIG' ? new AvfsError('INVALID_ARGUMENT', 'the argument list is too long for Linux to start the command (E2BIG); write the data to a file in the vault and pass its path', { option: 'argv', reason: 'too_long', cause: 'E2BIG', exec_id: execId }) : error;
    failed(e);
    throw e;
  }
}

function deniedError(vault: string, command: string, decision: Decision, verdicts: CommandVerdict[], execId: string, approval: boolean, agent = false): AvfsError {
  const message = !approval
    ? `denied by policy rule ${decision.rule}: ${decision.reason}`
    : agent
      ? `needs a person's approval (policy rule ${decision.rule}): ${decision.reason}; an agent cannot approve its own command: a person runs it with avfs proxy exec --approve`
      : `needs approval (policy rule ${decision.rule}): ${decision.reason}; re-run with --approve to allow it`;
  return new AvfsError('DENIED', message, { vault, command, decision, verdicts, exec_id: execId, approval_required: approval });
}
