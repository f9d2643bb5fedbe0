import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { incompleteTail } from '../core/text.js';
import { normalizePath } from '../core/paths.js';
import { AvfsError } from '../errors.js';
import { thisProcess } from '../mount/session.js';
import { audit } from '../store/audit.js';
import { saveCheckpoint } from '../store/checkpoints.js';
import { finishExec, insertExec } from '../store/execs.js';
import type { Store } from '../store/store.js';
import { currentSeq, getVault } from '../store/vaults.js';
import { VaultFs } from '../store/vault-fs.js';
import { changeReport, type ChangedFile } from './changes.js';
import { quoteArgv } from './command-line.js';
import { runCommand } from './exec.js';
import { reapDeadExecs } from './liveness.js';
import { childEnv, evaluatePolicy, type CommandVerdict, type Decision } from './policy.js';
import { loadPolicy } from './policy-source.js';
import { openWorkspace, type ModeChoice } from './workspace.js';

/**
 * `proxy exec`: the one execution surface. In order: resolve the vault and working directory →
 * evaluate the policy → audit the request → refuse (audited, exit 5) or go on → checkpoint when
 * the decision asks for one (or --checkpoint; --no-checkpoint skips it) → make the vault
 * available (mount, or a copy) → run the command in its own process group with the timeout →
 * import the copy's changes → compute the change report from the versions the run recorded →
 * audit the completion. The command never starts unless the policy allowed it.
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
}

export interface ExecResult {
  vault: string;
  exec_id: string;
  command: string;
  argv: string[] | null;
  shell: string | null;
  cwd: string;
  mode: 'mount' | 'copy';
  mode_reason: string | null;
  mountpoint: string;
  decision: Decision;
  approved: boolean;
  checkpoint: string | null;
  exit_code: number;
  signal: string | null;
  timed_out: boolean;
  duration_ms: number;
  stdout: string;
  stderr: string;
  stdout_encoding: 'utf8' | 'base64';
  stderr_encoding: 'utf8' | 'base64';
  stdout_bytes: number;
  stderr_bytes: number;
  truncated: boolean;
  changed_files: ChangedFile[];
  /** Copy mode: paths the command created that a vault cannot hold (sockets, FIFOs, devices) or could not list. */
  skipped: { path: string; reason: string }[];
  leftover_processes: number;
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
  if (!body.includes(0) && isUtf8(body)) return { text: body.toString('utf8'), encoding: 'utf8' };
  return { text: buf.toString('base64'), encoding: 'base64' };
}

/** The request as one line, for messages, the audit and the exec record. */
export function describeRequest(request: ExecRequest): string {
  return request.shell !== undefined ? request.shell : quoteArgv(request.argv ?? []);
}

/** Resolves and checks `--cwd`: an existing directory of the vault, as a canonical path. */
function resolveCwd(fs: VaultFs, input: string | undefined): string {
  const path = normalizePath(input ?? '/');
  const entry = fs.stat(path);
  if (entry.type !== 'd') throw new AvfsError('NOT_A_DIRECTORY', `--cwd is not a directory: ${path}`, { path });
  return entry.path;
}

export async function proxyExec(store: Store, vaultName: string, request: ExecRequest): Promise<ExecResult> {
  if ((request.argv === undefined) === (request.shell === undefined)) {
    throw new AvfsError('USAGE', 'give the command either after -- (argv form) or with --shell "<string>", not both');
  }
  if (request.argv !== undefined && request.argv.length === 0) throw new AvfsError('USAGE', 'no command: give it after --, e.g. avfs proxy exec -- ls -la');
  if (request.shell !== undefined && request.shell.trim() === '') throw new AvfsError('USAGE', 'empty --shell command');

  // An earlier exec whose avfs was killed is ended and closed first, so nothing of it can write
  // into this run's window.
  await reapDeadExecs(store);
  const execId = newExecId();
  const actor = { source: 'proxy' as const, execId };
  const fs = new VaultFs(store, vaultName, actor);
  const vault = getVault(store, vaultName);
  const cwd = resolveCwd(fs, request.cwd);
  const command = describeRequest(request);
  const { policy, source } = loadPolicy(store, vaultName);

  // Host paths are judged against the directory the command will see, a private mount or a copy
  // created only once the command is allowed: nobody can name it in advance.
  const { decision, verdicts } = evaluatePolicy(policy, request, { cwd });
  const approved = decision.action === 'require_approval' && !!request.approve;
  const base = { exec_id: execId, command, cwd, decision, policy: source };
  store.mutate(() => audit(store, actor, 'proxy.request', vaultName, { ...base, approved }));

  if (decision.action === 'deny' || (decision.action === 'require_approval' && !request.approve)) {
    const approval = decision.action === 'require_approval';
    store.mutate(() => audit(store, actor, 'proxy.denied', vaultName, { exec_id: execId, command, rule: decision.rule, approval_required: approval }));
    throw deniedError(vaultName, command, decision, verdicts, execId, approval);
  }

  const wantCheckpoint = request.checkpoint ?? (decision.action === 'allow_with_checkpoint' || policy.auto_checkpoint);
  const checkpoint = wantCheckpoint
    ? saveCheckpoint(fs, `proxy-${execId}`, `before proxy exec ${execId}: ${command}`.slice(0, 1000)).name
    : null;

  let workspace;
  try {
    workspace = await openWorkspace(store, fs, request.mode ?? 'auto', execId);
  } catch (error) {
    store.mutate(() =>
      audit(store, actor, 'proxy.failed', vaultName, { exec_id: execId, command, checkpoint, error: error instanceof AvfsError ? error.toJSON() : String(error) }),
    );
    throw error;
  }
  let finished = false;
  const owner = thisProcess();
  try {
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
      ...owner,
    });
    const hostCwd = cwd === '/' ? workspace.root : join(workspace.root, cwd.slice(1));
    const env = childEnv(policy, process.env, request.env ?? {}, {
      AVFS_VAULT: vaultName,
      AVFS_MOUNTPOINT: workspace.root,
      AVFS_EXEC_ID: execId,
      AVFS_HOME: store.home,
    });
    const outcome = await runCommand({
      file: request.shell !== undefined ? '/bin/sh' : request.argv![0]!,
      args: request.shell !== undefined ? ['-c', request.shell] : request.argv!.slice(1),
      cwd: hostCwd,
      env,
      stdin: !!request.stdin,
      timeoutMs: request.timeoutMs ?? policy.timeout_ms,
      killAfterMs: request.killAfterMs ?? policy.kill_after_ms,
      maxOutputBytes: request.maxOutputBytes ?? policy.max_output_bytes,
      execId,
      protect: workspace.protect,
    });
    finished = true;
    let sync;
    try {
      ({ sync } = await workspace.finish());
    } catch (err) {
      // The command ran but its changes could not be brought into the vault (copy mode: the copy
      // is kept, its path is in the error): say how the command itself ended.
      const e = err instanceof AvfsError ? err : new AvfsError('INTERNAL', String((err as Error).message ?? err));
      throw new AvfsError(e.code, e.message, { ...e.data, exec_id: execId, exit_code: outcome.exitCode, timed_out: outcome.timedOut });
    }
    const seqAfter = currentSeq(store);
    store.mutate(() =>
      finishExec(store, execId, { seqAfter, exitCode: outcome.exitCode, signal: outcome.signal, timedOut: outcome.timedOut }),
    );
    const changed = changeReport(store, vault, { after: workspace.seqBefore, upTo: seqAfter, execId });
    const out = encode(outcome.stdout, outcome.stdoutBytes > outcome.stdout.length);
    const err = encode(outcome.stderr, outcome.stderrBytes > outcome.stderr.length);
    store.mutate(() =>
      audit(store, actor, 'proxy.exec', vaultName, {
        exec_id: execId,
        command,
        mode: workspace.mode,
        exit_code: outcome.exitCode,
        signal: outcome.signal,
        timed_out: outcome.timedOut,
        duration_ms: outcome.durationMs,
        checkpoint,
        changed: changed.length,
        ...(sync?.skipped.length ? { skipped: sync.skipped } : {}),
        ...(outcome.survivors.length ? { survivors: outcome.survivors } : {}),
      }),
    );
    return {
      vault: vaultName,
      exec_id: execId,
      command,
      argv: request.argv ?? null,
      shell: request.shell ?? null,
      cwd,
      mode: workspace.mode,
      mode_reason: workspace.modeReason,
      mountpoint: workspace.root,
      decision,
      approved,
      checkpoint,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      timed_out: outcome.timedOut,
      duration_ms: outcome.durationMs,
      stdout: out.text,
      stderr: err.text,
      stdout_encoding: out.encoding,
      stderr_encoding: err.encoding,
      stdout_bytes: outcome.stdoutBytes,
      stderr_bytes: outcome.stderrBytes,
      truncated: outcome.truncated,
      changed_files: changed,
      skipped: sync?.skipped ?? [],
      leftover_processes: outcome.leftoverProcesses,
      survivors: outcome.survivors,
    };
  } catch (error) {
    if (!finished) await workspace.abort().catch(() => {});
    store.mutate(() =>
      audit(store, actor, 'proxy.failed', vaultName, { exec_id: execId, command, error: error instanceof AvfsError ? error.toJSON() : String(error) }),
    );
    throw error;
  }
}

function deniedError(vault: string, command: string, decision: Decision, verdicts: CommandVerdict[], execId: string, approval: boolean): AvfsError {
  const message = approval
    ? `needs approval (policy rule ${decision.rule}): ${decision.reason}; re-run with --approve to allow it`
    : `denied by policy rule ${decision.rule}: ${decision.reason}`;
  return new AvfsError('DENIED', message, { vault, command, decision, verdicts, exec_id: execId, approval_required: approval });
}
