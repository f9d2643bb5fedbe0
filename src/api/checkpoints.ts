import { checkpointInfo } from '../store/checkpoints.js';
import { diffTreeSources } from '../store/compare.js';
import type { VaultFs } from '../store/vault-fs.js';
import { camel, snake } from './case.js';
import { checkpointJson } from './json.js';

/** `checkpoint info` for the CLI and the SDK: one checkpoint, and how the vault has changed since. */

export interface CheckpointDetails {
  name: string;
  message: string | null;
  /** ISO 8601. */
  createdAt: string;
  /** The change sequence it names. */
  seq: number;
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  source: string;
  execId: string | null;
  /** How the vault has changed since the checkpoint. */
  changesSince: { added: number; modified: number; deleted: number };
}

/** One checkpoint, read with the vault's current state in one read transaction. */
export function checkpointDetails(fs: VaultFs, name: string): CheckpointDetails {
  return fs.store.read(() => {
    const c = checkpointInfo(fs, name);
    const { added, modified, deleted } = diffTreeSources(fs, { checkpoint: c.name }, { current: true }).summary;
    return { ...camel(checkpointJson(c)), changesSince: { added, modified, deleted } };
  });
}

/** `avfs checkpoint info --json`'s `checkpoint`: checkpointJson's fields and `changes_since`. */
export const checkpointDetailsJson = (d: CheckpointDetails) => snake<ReturnType<typeof checkpointJson> & { changes_since: CheckpointDetails['changesSince'] }>(d);
