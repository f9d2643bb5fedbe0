import { checkpointInfo } from '../store/checkpoints.js';
import { diffTreeSources } from '../store/compare.js';
import type { VaultFs } from '../store/vault-fs.js';

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
    const s = diffTreeSources(fs, { checkpoint: c.name }, { current: true }).summary;
    return {
      name: c.name,
      message: c.message,
      createdAt: new Date(c.created_at).toISOString(),
      seq: c.seq,
      files: c.files,
      directories: c.directories,
      symlinks: c.symlinks,
      bytes: c.bytes,
      source: c.source,
      execId: c.exec_id,
      changesSince: { added: s.added, modified: s.modified, deleted: s.deleted },
    };
  });
}

/** `avfs checkpoint info --json`'s `checkpoint`: checkpointJson's fields and `changes_since`. */
export const checkpointDetailsJson = (d: CheckpointDetails) => ({
  name: d.name,
  message: d.message,
  created_at: d.createdAt,
  seq: d.seq,
  files: d.files,
  directories: d.directories,
  symlinks: d.symlinks,
  bytes: d.bytes,
  source: d.source,
  exec_id: d.execId,
  changes_since: d.changesSince,
});
