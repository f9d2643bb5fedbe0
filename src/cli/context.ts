import { openStore, type Actor, type Store } from '../store/store.js';
import type { Command } from 'commander';
import { AvfsError } from '../errors.js';
import { resolveVaultName, validateVaultName } from '../store/vaults.js';
import { VaultFs } from '../store/vault-fs.js';
import type { Output } from './output.js';

export interface GlobalOptions {
  json?: boolean;
  vault?: string;
  home?: string;
  quiet?: boolean;
  color?: boolean;
}

/**
 * The global options of a run, checked as the SDK checks its own: `--vault ''` is an invalid vault
 * name (INVALID_NAME) and `--home ''` an invalid argument, not "the default one".
 */
export function globalOptions(cmd: Command): GlobalOptions {
  const globals = cmd.optsWithGlobals() as GlobalOptions;
  if (globals.vault !== undefined) validateVaultName(globals.vault);
  if (globals.home !== undefined && globals.home.trim() === '') {
    throw new AvfsError('INVALID_ARGUMENT', `--home must be a directory path, got ${JSON.stringify(globals.home)}`, { option: 'home' });
  }
  return globals;
}

/** What a command's run function gets: lazy access to the store, so commands that need none stay fast. */
export class CliContext {
  private opened: Store | undefined;
  readonly actor: Actor = { source: 'cli', execId: process.env.AVFS_EXEC_ID || null };

  constructor(
    readonly globals: GlobalOptions,
    readonly out: Output,
  ) {}

  get store(): Store {
    this.opened ??= openStore(this.globals.home);
    return this.opened;
  }

  /** The vault this command works on (`--vault`, `$AVFS_VAULT`, or the one in use). */
  vaultName(): string {
    return resolveVaultName(this.store, this.globals.vault);
  }

  /**
   * For an option or a command that covers every vault in the home (`prune --all`, `stats --all`,
   * `gc`, `compact`, `audit clear`) or names its vaults itself (`vault merge`): a `--vault` given
   * with it would be silently ignored, and `prune --all --vault scratch` would prune every vault's
   * history, `--vault sib vault merge try` merge into try's parent, so the two together are
   * refused. $AVFS_VAULT is not: agents have it set. `oneVault` says how to work on one vault,
   * where that can be done; `covers` what the command works on instead.
   */
  refuseVaultOptionWith(option: string, oneVault?: string, covers = 'covers every vault in the home'): void {
    if (this.globals.vault === undefined) return;
    throw new AvfsError('USAGE', `${option} ${covers}, so --vault ${this.globals.vault} would be ignored: ${oneVault ? `${oneVault}, or ` : ''}drop --vault`, { ...(option.startsWith('--') ? { option } : { command: option }), reason: 'vault_ignored' });
  }

  /** File operations on the selected vault, checked to exist. */
  vault(): VaultFs {
    const fs = new VaultFs(this.store, this.vaultName(), this.actor);
    fs.row();
    return fs;
  }

  close(): void {
    this.opened?.release();
    this.opened = undefined;
  }
}
