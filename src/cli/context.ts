import { openStore, type Actor, type Store } from '../store/store.js';
import { resolveVaultName } from '../store/vaults.js';
import { VaultFs } from '../store/vault-fs.js';
import type { Output } from './output.js';

export interface GlobalOptions {
  json?: boolean;
  vault?: string;
  home?: string;
  quiet?: boolean;
  color?: boolean;
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
