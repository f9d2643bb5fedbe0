import { AvfsError } from '../errors.js';
import type { AVFS } from '../sdk/index.js';
import { execNotFound } from '../store/execs.js';

/** What proxy_exec's arguments say about the command and its limits. */
export interface ExecArgs {
  argv?: string[];
  shell?: string;
  cwd?: string;
  timeout_ms?: number;
  network?: 'none' | 'host';
  checkpoint?: boolean;
}

/** Where a confined server passes a proxy_exec its ExecTightening (a symbol: no JSON argument can set it). */
export const WITHIN_ROOT = Symbol('within the confinement root');

/** proxyExec options that tighten a run to the confinement root's policy (all only ever tighten the fork's own). */
export interface ExecTightening {
  timeoutMs?: number;
  killAfterMs?: number;
  memory?: number | null;
  maxProcesses?: number | null;
  maxFileSize?: number | null;
  network?: 'none';
  checkpoint?: true;
}

/**
 * What a confined server (`avfs mcp --confine`) lets a call reach: its vault and the forks made
 * from it, at any depth. A fork inherits its parent's policy and quota (store/vaults.ts); a new
 * vault has neither, and any other vault is someone else's work, so a confined agent cannot leave
 * the limits a person set by creating a vault or naming another one. Everything else about the
 * calls is unchanged; the sandbox of proxy_exec already sees only the vault it runs in.
 */
export class Confinement {
  constructor(
    private readonly base: AVFS,
    /** The server's vault. */
    readonly root: string,
  ) {}

  /**
   * Whether `vault` is the root or descends from it (a vault that does not exist is not). The root
   * is the vault the server started on: one made under its name since it was deleted is not
   * (the base instance keeps that vault: `base.vault` says vault_replaced), nor its forks.
   */
  allows(vault: string): boolean {
    if (vault === this.root) return this.rootStands();
    try {
      // Through deleted vaults too: a fork whose parent was deleted (detached) is still the agent's work.
      return this.base.vaultInfo(vault).ancestors.includes(this.root) && this.rootStands();
    } catch {
      return false;
    }
  }

  /** Whether the vault named root is still the one the server started on. */
  private rootStands(): boolean {
    try {
      return this.base.vault === this.root;
    } catch {
      return false;
    }
  }

  /** DENIED unless the call may reach `vault`. Not found and out of bounds say the same: a confined agent learns no other vault's name. */
  require(vault: string, what = 'vault'): void {
    if (this.allows(vault)) return;
    throw new AvfsError('DENIED', `${what} ${JSON.stringify(vault)} is outside this server: avfs mcp --confine serves vault ${this.root} and the forks made from it`, { vault, reason: 'confined', root: this.root });
  }

  /**
   * Checks the vaults a call names besides its `vault` argument (that one is checked where the
   * call's SDK instance is made), and fills in what an omitted one would leave open. Returns the
   * arguments to run the call with.
   */
  admit(tool: string, args: Record<string, unknown>): Record<string, unknown> {
    const named = (key: string) => (typeof args[key] === 'string' ? (args[key] as string) : undefined);
    switch (tool) {
      case 'vault_create':
        throw new AvfsError('DENIED', `avfs mcp --confine creates no vaults: a new vault would have none of ${this.root}'s policy and quota; fork it instead (vault_fork)`, { reason: 'confined', root: this.root });
      case 'vault_fork':
        this.require(named('source') ?? this.root, 'source vault');
        return args;
      case 'vault_merge': {
        const source = named('source');
        if (source !== undefined) this.require(source, 'source vault');
        const into = named('into') ?? (source === undefined ? undefined : this.base.vaultInfo(source).parent ?? undefined);
        if (into !== undefined) this.require(into, 'vault to merge into');
        return args;
      }
      case 'diff': {
        const against = named('against_vault');
        if (against !== undefined) this.require(against);
        return args;
      }
      case 'proxy_undo':
        // Without a vault the SDK undoes an exec of any vault: name the root, so it refuses others'.
        return args.vault === undefined ? { ...args, vault: this.root } : args;
      default:
        return args;
    }
  }

  /**
   * The error a confined agent is given for `err`: proxy_undo of an exec that ran in a vault
   * outside the server says what it says of an exec id that does not exist, not which vault it ran in.
   */
  conceal(err: unknown): unknown {
    if (!(err instanceof AvfsError)) return err;
    const { exec_id: execId, vault } = err.data;
    if (typeof execId === 'string' && typeof vault === 'string' && !this.allows(vault)) return execNotFound(execId);
    return err;
  }

  /**
   * A proxy_exec in a fork, kept within the server vault's policy as it is now. A fork took its
   * parent's policy when it was made, so a policy a person set on the root since (a rule, a shorter
   * timeout, lower limits) did not reach forks made before, and an agent could fork first and run
   * there under the old one. The request is judged by the root's policy too (denied or needing
   * approval there: DENIED), and runs with the stricter of both policies' limits and the root's
   * checkpoint. Returns the options to add to the call's (the fork's own policy still applies).
   */
  execWithinRoot(vault: string, own: AVFS, args: ExecArgs): ExecTightening {
    // Neither or both of argv and shell: proxy_exec refuses the call itself (USAGE).
    if (vault === this.root || (args.argv === undefined) === (args.shell === undefined)) return {};
    const mine = own.policyShow().policy;
    const root = this.base.policyShow().policy;
    const asks = { timeoutMs: args.timeout_ms, network: args.network, checkpoint: args.checkpoint };
    const check = this.base.policyCheck(args.shell ?? args.argv![0]!, args.shell !== undefined ? [] : args.argv!.slice(1), { shell: args.shell !== undefined, cwd: args.cwd, agent: asks });
    const refuse = (why: string, data: Record<string, unknown>) => {
      throw new AvfsError('DENIED', `${why}: ${vault} is a fork of ${this.root}, whose policy applies as it is now (avfs mcp --confine)`, { vault, root: this.root, reason: 'confined', ...data });
    };
    const { action, rule, reason } = check.decision;
    if (action === 'deny' || action === 'require_approval') refuse(`the policy of ${this.root} ${action === 'deny' ? 'denies this command' : 'needs a person\'s approval for this command'} (rule ${rule}: ${reason})`, { rule });
    // What the call asks beyond the root's policy: the checks proxy_exec makes against the fork's own.
    if (check.agentBeyond) refuse(`${this.root}'s policy refuses it: ${check.agentBeyond.message}`, { option: check.agentBeyond.option });
    /** The stricter of two limits (null: none). */
    const tighter = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
    return {
      timeoutMs: Math.min(args.timeout_ms ?? mine.timeout_ms, root.timeout_ms),
      killAfterMs: Math.min(mine.kill_after_ms, root.kill_after_ms),
      memory: tighter(mine.sandbox.limits.memory, root.sandbox.limits.memory),
      maxProcesses: tighter(mine.sandbox.limits.max_processes, root.sandbox.limits.max_processes),
      maxFileSize: tighter(mine.sandbox.limits.max_file_size, root.sandbox.limits.max_file_size),
      ...(root.sandbox.network === 'none' ? { network: 'none' as const } : {}),
      ...(check.wouldCheckpoint ? { checkpoint: true } : {}),
    };
  }

  /**
   * The part of a result the agent may see: vault_list lists only the vaults it may reach, no
   * summary names another as parent or ancestor, and log names no other vault (the history a fork
   * shows from before it was made is its ancestors': their versions show vault null, and a merge
   * into one of them from a vault outside, merged_from null).
   */
  visible(tool: string, result: Record<string, unknown>): Record<string, unknown> {
    if (tool === 'log') {
      const allowed = new Map<string, boolean>(); // the same few names, on up to thousands of versions
      const hidden = (name: unknown) => typeof name === 'string' && !(allowed.get(name) ?? allowed.set(name, this.allows(name)).get(name));
      return { ...result, versions: (result.versions as Array<Record<string, unknown>>).map((v) => versionSeen(v, hidden)) };
    }
    // A vault's summary names its parent and ancestors: the root's are someone else's vaults.
    const summary = (v: Record<string, unknown>) => ({
      ...v,
      ...('parent' in v ? { parent: typeof v.parent === 'string' && this.allows(v.parent) ? v.parent : null } : {}),
      ...(Array.isArray(v.ancestors) ? { ancestors: (v.ancestors as string[]).filter((a) => this.allows(a)) } : {}),
    });
    if (tool === 'vault_list') {
      const vaults = (result.vaults as Array<Record<string, unknown> & { name: string }>).filter((v) => this.allows(v.name)).map(summary);
      const current = typeof result.current === 'string' && this.allows(result.current) ? result.current : null;
      return { ...result, vaults, current };
    }
    const vault = result.vault;
    return vault !== null && typeof vault === 'object' && !Array.isArray(vault) ? { ...result, vault: summary(vault as Record<string, unknown>) } : result;
  }
}

/** A log version as a confined agent sees it: the names `hidden` says are outside replaced by null. */
function versionSeen(v: Record<string, unknown>, hidden: (name: unknown) => boolean): Record<string, unknown> {
  const detail = v.detail as Record<string, unknown> | null | undefined;
  return {
    ...v,
    ...(hidden(v.vault) ? { vault: null } : {}),
    ...(detail && hidden(detail.merged_from) ? { detail: { ...detail, merged_from: null } } : {}),
  };
}
