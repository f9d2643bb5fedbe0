import { AvfsError } from '../errors.js';
import type { AVFS } from '../sdk/index.js';

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

  /** Whether `vault` is the root or descends from it (a vault that does not exist is not). */
  allows(vault: string): boolean {
    let name: string | null = vault;
    // A parent chain has no cycles; the bound only keeps a damaged home from looping forever.
    for (let depth = 0; name !== null && depth < 10_000; depth++) {
      if (name === this.root) return true;
      try {
        name = this.base.vaultInfo(name).parent;
      } catch {
        return false;
      }
    }
    return false;
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

  /** The part of a result the agent may see: vault_list lists only the vaults it may reach. */
  visible(tool: string, result: Record<string, unknown>): Record<string, unknown> {
    if (tool !== 'vault_list') return result;
    const vaults = (result.vaults as Array<{ name: string }>).filter((v) => this.allows(v.name));
    const current = typeof result.current === 'string' && this.allows(result.current) ? result.current : null;
    return { ...result, vaults, current };
  }
}
