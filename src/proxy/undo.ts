import { AvfsError } from '../errors.js';
import { audit } from '../store/audit.js';
import { getCheckpoint, restoreCheckpoint } from '../store/checkpoints.js';
import { changesByOthers, getExec, markExecUndone } from '../store/execs.js';
import type { Store } from '../store/store.js';
import { currentSeq, getVault } from '../store/vaults.js';
import { VaultFs } from '../store/vault-fs.js';
import { changeReport, type ChangedFile } from './changes.js';

/**
 * `proxy undo <exec_id>`: restores the checkpoint taken before that exec, bringing the whole
 * vault back to the state the command started from. Changes made after that checkpoint by anyone
 * but the exec itself (other commands, other agents, a later exec) would be lost with it, so they
 * are a CONFLICT unless `force`. The restore is itself undoable: it first saves the state it
 * replaces as a `before-restore-…` checkpoint (`saved_before`). Its versions are tagged with the
 * exec id, so undoing twice is harmless.
 */

export interface UndoResult {
  vault: string;
  exec_id: string;
  checkpoint: string;
  /** The checkpoint of the state the undo replaced (restore it to redo), or null when nothing changed. */
  saved_before: string | null;
  /** How many changes by others were discarded (only with force). */
  discarded_changes: number;
  already_undone: boolean;
  changed_files: ChangedFile[];
}

const SAMPLE = 20;

/** Whether an exec's own writes carry its id (a reused live mount records them untagged). */
export const taggedMode = (mode: string) => mode !== 'mount-shared';

export function proxyUndo(store: Store, execId: string, options: { force?: boolean } = {}): UndoResult {
  const exec = getExec(store, execId);
  if (exec.checkpoint === null) {
    throw new AvfsError(
      'CHECKPOINT_NOT_FOUND',
      `exec ${execId} ran without a checkpoint, so it cannot be undone as a whole (use \`avfs log\` and \`avfs revert\` per file; pass --checkpoint to proxy exec next time)`,
      { exec_id: execId, vault: exec.vault },
    );
  }
  const vault = getVault(store, exec.vault);
  const cp = getCheckpoint(store, vault, exec.checkpoint);
  if (exec.seq_after === null && !options.force) {
    throw new AvfsError('CONFLICT', `exec ${execId} has not finished (or avfs died while it ran); pass --force to restore anyway`, {
      exec_id: execId,
      vault: exec.vault,
    });
  }
  const fs = new VaultFs(store, exec.vault, { source: 'proxy', execId });
  return store.mutate(() => {
    const others = changesByOthers(store, vault.id, cp.seq, execId, taggedMode(exec.mode) ? null : exec.seq_after, SAMPLE);
    if (others.count > 0 && !options.force) {
      const paths = [...new Set(others.sample.map((r) => r.path))];
      throw new AvfsError(
        'CONFLICT',
        `undoing ${execId} would discard ${others.count} later change(s) not made by it (${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', …' : ''}); pass --force to discard them`,
        { exec_id: execId, vault: exec.vault, checkpoint: cp.name, later_changes: others.count, paths },
      );
    }
    const seqBefore = currentSeq(store);
    const restored = restoreCheckpoint(fs, cp.name);
    const seqAfter = currentSeq(store);
    markExecUndone(store, execId);
    const changed = changeReport(store, vault, { after: seqBefore, upTo: seqAfter, execId });
    audit(store, fs.actor, 'proxy.undo', exec.vault, {
      exec_id: execId,
      checkpoint: cp.name,
      saved_before: restored.saved_before,
      forced: !!options.force,
      discarded_changes: options.force ? others.count : 0,
      changed: changed.length,
    });
    return {
      vault: exec.vault,
      exec_id: execId,
      checkpoint: cp.name,
      saved_before: restored.saved_before,
      discarded_changes: options.force ? others.count : 0,
      already_undone: exec.undone_at !== null,
      changed_files: changed,
    };
  });
}
