import { normalizePath } from '../core/paths.js';
import type { Store } from '../store/store.js';
import { quoteArgv } from '../proxy/command-line.js';
import { evaluatePolicy, needsApproval, type CommandVerdict, type Decision, type Policy, type PolicySource } from '../proxy/policy.js';
import { loadPolicy } from '../proxy/policy-source.js';
import { agentLimits, type AgentAsks, type AgentBeyond } from '../proxy/run.js';
import { sandboxAvailability, sandboxRequest } from '../proxy/sandbox.js';

/** `proxy policy show` and `proxy policy check` for the CLI, MCP and the SDK. */

export interface PolicyInfo {
  vault: string;
  /** Where the effective policy comes from: the vault's own, the home's policy.json, or the built-in default. */
  source: PolicySource;
  /** The effective policy, every default filled in (its fields are the policy document's). */
  policy: Policy;
  /** The stored document as written (null for the built-in default). */
  document: unknown;
}

/** The vault's effective policy and where it comes from. */
export function policyInfo(store: Store, vault: string): PolicyInfo {
  const { policy, source, document } = loadPolicy(store, vault);
  return { vault, source, policy, document };
}

export interface PolicyCheckRequest {
  /** argv form; exactly one of argv and shell. */
  argv?: string[];
  /** A /bin/sh -c command line. */
  shell?: string;
  /** Working directory inside the vault (for `..` checks; default `/`). */
  cwd?: string;
  /** Judge as if the run were approved. */
  approve?: boolean;
  /** Variables the run would set (`proxy exec --env`): judged as the command's environment (`PATH=:/usr/bin`, `GIT_SSH_COMMAND`). */
  env?: Record<string, string>;
  /** The options an agent asks for the run: checked as proxy exec checks an agent's (agentBeyond). */
  agent?: AgentAsks;
}

export interface PolicyCheckResult {
  vault: string;
  policySource: PolicySource;
  /** The request as one line. */
  command: string;
  /** Whether a run here would be sandboxed (what the policy judges against). */
  sandboxed: boolean;
  decision: Decision;
  /** The verdict on each simple command of the request. */
  verdicts: CommandVerdict[];
  wouldRun: boolean;
  wouldCheckpoint: boolean;
  timeoutMs: number;
  /** With request.agent: what those options ask beyond this policy (proxy exec refuses it as DENIED), else null. */
  agentBeyond: AgentBeyond | null;
}

/**
 * What the policy decides for a command, and which rule decided, as `proxy exec` would judge it
 * here (sandboxed or not: in the sandbox there are no host paths to name), without running anything.
 */
export function policyCheck(store: Store, vault: string, request: PolicyCheckRequest): PolicyCheckResult {
  const { policy, source } = loadPolicy(store, vault);
  const sandboxed = (() => {
    try {
      return sandboxAvailability(sandboxRequest(policy, {})).bwrap !== null;
    } catch {
      return false; // required, and unavailable: exec would refuse
    }
  })();
  const judged = { ...(request.shell !== undefined ? { shell: request.shell } : { argv: request.argv ?? [] }), env: request.env };
  const { decision, verdicts, checkpoint } = evaluatePolicy(policy, judged, { cwd: normalizePath(request.cwd ?? '/'), sandboxed, vault, home: store.home });
  const wouldRun = decision.action === 'allow' || decision.action === 'allow_with_checkpoint' || (needsApproval(decision.action) && !!request.approve);
  return {
    vault,
    policySource: source,
    command: request.shell ?? quoteArgv(request.argv ?? []),
    sandboxed,
    decision,
    verdicts,
    wouldRun,
    wouldCheckpoint: wouldRun && (decision.action === 'allow_with_checkpoint' || checkpoint || policy.auto_checkpoint),
    timeoutMs: policy.timeout_ms,
    agentBeyond: request.agent ? agentLimits(request.agent, policy, decision, sandboxed) : null,
  };
}

/** `avfs proxy policy check --json`'s fields. */
export const policyCheckJson = (r: PolicyCheckResult) => ({
  vault: r.vault,
  policy: r.policySource,
  command: r.command,
  sandboxed: r.sandboxed,
  decision: r.decision,
  verdicts: r.verdicts,
  would_run: r.wouldRun,
  would_checkpoint: r.wouldCheckpoint,
  timeout_ms: r.timeoutMs,
});
