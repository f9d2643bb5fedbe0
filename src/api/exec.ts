import type { Store } from '../store/store.js';
import type { ChangedFile } from '../proxy/changes.js';
import type { ExecRequest, ExecResult } from '../proxy/run.js';
import type { SandboxReport } from '../proxy/sandbox.js';
import type { LimitReport, Violation } from '../proxy/launch.js';
import type { UndoOptions, UndoResult } from '../proxy/undo.js';

/**
 * `proxy exec` and `proxy undo` for every face: the runner's camelCase results as the SDK returns
 * them, and the functions that give the CLI's `--json` fields (snake_case, in the documented
 * order), which `avfs proxy exec --json`, MCP and the SDK's `raw` all report. The proxy is loaded
 * on use: a command that runs nothing does not load the runner and the mount client.
 */

export type { ChangedFile, ExecRequest, ExecResult, SandboxReport, UndoResult, Violation };

/** Runs a command through the proxy boundary (src/proxy/run.ts). */
export async function runExec(store: Store, vault: string, request: ExecRequest): Promise<ExecResult> {
  const { proxyExec } = await import('../proxy/run.js');
  return proxyExec(store, vault, request);
}

/** Puts back what an exec changed (src/proxy/undo.ts). */
export async function undoExec(store: Store, execId: string, options: UndoOptions = {}): Promise<UndoResult> {
  const { proxyUndo } = await import('../proxy/undo.js');
  return proxyUndo(store, execId, { force: !!options.force, vault: options.vault });
}

/** One changed path in the CLI's JSON. */
export function changedFileJson(c: ChangedFile) {
  return {
    path: c.path,
    kind: c.kind,
    type: c.type,
    size_before: c.sizeBefore,
    size_after: c.sizeAfter,
    hash_before: c.hashBefore,
    hash: c.hash,
    mode_before: c.modeBefore,
    mode_after: c.modeAfter,
    versions: c.versions,
    ...(c.typeBefore !== undefined ? { type_before: c.typeBefore } : {}),
    ...(c.targetBefore !== undefined ? { target_before: c.targetBefore } : {}),
    ...(c.target !== undefined ? { target: c.target } : {}),
  };
}
export type ChangedFileJson = ReturnType<typeof changedFileJson>;

/** The sandbox report in the CLI's JSON (limits keep the policy's names). */
export function sandboxJson(s: SandboxReport) {
  const limit = (l: LimitReport) => ({ value: l.value, enforced_by: l.enforcedBy, ...(l.reason !== undefined ? { reason: l.reason } : {}) });
  const limits = { timeout_ms: limit(s.limits.timeoutMs), max_processes: limit(s.limits.maxProcesses), max_file_size: limit(s.limits.maxFileSize), memory: limit(s.limits.memory) };
  return { enforced: s.enforced, reason: s.reason, network: s.network, binds: s.binds, masked: s.masked, reserved: s.reserved, read_only: s.readOnly, limits };
}

/** What a run reports in JSON (`avfs shell --json`; proxy exec's document adds proxyExecJson's fields). */
export function execJson(r: ExecResult) {
  return {
    vault: r.vault,
    exec_id: r.execId,
    command: r.command,
    argv: r.argv,
    shell: r.shell,
    cwd: r.cwd,
    mode: r.mode,
    mode_reason: r.modeReason,
    mountpoint: r.mountpoint,
    decision: r.decision,
    approved: r.approved,
    checkpoint: r.checkpoint,
    sandbox: sandboxJson(r.sandbox),
    violations: r.violations,
    exit_code: r.exitCode,
    signal: r.signal,
    timed_out: r.timedOut,
    duration_ms: r.durationMs,
    stdout: r.stdout,
    stderr: r.stderr,
    stdout_encoding: r.stdoutEncoding,
    stderr_encoding: r.stderrEncoding,
    stdout_bytes: r.stdoutBytes,
    stderr_bytes: r.stderrBytes,
    truncated: r.truncated,
    changed_files: r.changedFiles.map(changedFileJson),
    skipped: r.skipped,
    leftover_processes: r.leftoverProcesses,
    survivors: r.survivors,
  };
}

/**
 * `avfs proxy exec --json`'s document, which MCP's proxy_exec and the SDK's `raw` report too:
 * execJson's fields after schema_version, kind and success, agentvfs's names, so that an agent
 * written for it reads this result.
 */
export const proxyExecJson = (r: ExecResult) => ({ schema_version: 1 as const, kind: 'proxy_exec' as const, success: r.exitCode === 0 && !r.timedOut, ...execJson(r) });
export type ExecJson = ReturnType<typeof execJson>;
export type ProxyExecJson = ReturnType<typeof proxyExecJson>;

/** `avfs proxy undo --json`'s fields. */
export function undoJson(r: UndoResult) {
  return {
    vault: r.vault,
    exec_id: r.execId,
    checkpoint: r.checkpoint,
    discarded_changes: r.discardedChanges,
    already_undone: r.alreadyUndone,
    died: r.died,
    running: r.running,
    changed_files: r.changedFiles.map(changedFileJson),
  };
}
export type UndoJson = ReturnType<typeof undoJson>;
