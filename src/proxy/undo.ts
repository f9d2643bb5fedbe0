import { AvfsError } from '../errors.js';
import { audit } from '../store/audit.js';
import { getCheckpoint } from '../store/checkpoints.js';
import { ANNOTATION_OPS } from '../store/annotations.js';
import { getEntry, listDescendants, nonDirectoryAbove } from '../store/entries.js';
import { getExec, markExecUndone, pathVersionsAfter, type ExecRow } from '../store/execs.js';
import { applyState, leaveOtherFile, relink, sameState, stateOf, type PathState, type Writer } from '../store/history.js';
import type { Store } from '../store/store.js';
import { currentSeq, vaultById, type VaultRow } from '../store/vaults.js';
import { changeReport, netChanges, type ChangedFile, type NetChange } from './changes.js';
import { reapDeadExecs } from './liveness.js';

/**
 * `proxy undo <exec_id>`: puts back, for each path the exec changed, the state it had just before
 * the exec first changed it (from history), in one transaction, as versions tagged with the exec
 * id (op `undo`); an exec already undone is not undone again (see alreadyUndone). A path gets
 * back its earlier content, type, mode, target and owners; its tags and metadata stay as they are now (someone may have added them
 * since), and a path the exec deleted gets back those it had. Nothing else is touched: paths the
 * exec did not change keep every later change.
 *
 * Refused with CONFLICT (naming the paths) when undoing would drop someone else's change: a
 * version of a path the exec changed, after the exec first changed it, that is not the exec's (tag and metadata changes aside, which
 * undo keeps), an entry someone else made below a path where undo puts back no directory (one the
 * exec created, or turned from a file or symlink into a directory), or a tag or metadata on a path
 * the exec created (undo removes it). Later changes that left the path as the exec left it (a later exec
 * and its undo) drop nothing and do not count, so undos stack newest first. `force` puts the exec's paths back anyway and counts what it discarded.
 *
 * Needs the checkpoint taken before the exec (`--checkpoint`, or a policy that asks for one):
 * it keeps the content and annotations of that state safe from prune and gc, and while it exists
 * prune keeps every version recorded during the exec (execs.ts undoableExecWindows), which undo reads.
 */

export interface UndoResult {
  vault: string;
  execId: string;
  checkpoint: string;
  /** How many later changes by others were discarded (only with force). */
  discardedChanges: number;
  alreadyUndone: boolean;
  /** True when the exec's avfs died while it ran (its window closed when that was noticed). */
  died: boolean;
  /**
   * The exec was still running (a forced undo): what it did so far was put back, and it is not
   * marked undone, so undoing it again once it ends puts back what it wrote after this.
   */
  running: boolean;
  changedFiles: ChangedFile[];
}

/** Execs recorded by older avfs versions with mode `mount-shared` ran in a reused mount and recorded their writes untagged. */
const untagged = (exec: ExecRow) => exec.mode === 'mount-shared';

export interface UndoOptions {
  force?: boolean;
  /** The vault the caller named (--vault, $AVFS_VAULT, the SDK's vault): the exec must have run there. */
  vault?: string;
}

export async function proxyUndo(store: Store, execId: string, options: UndoOptions = {}): Promise<UndoResult> {
  await reapDeadExecs(store);
  const exec = getExec(store, execId);
  if (options.vault !== undefined && options.vault !== exec.vault) {
    // An agent working in a fork names its fork: undoing in the vault the exec ran in would change another vault.
    throw new AvfsError('INVALID_ARGUMENT', `exec ${execId} ran in vault ${exec.vault}, not ${options.vault}: nothing was undone (name its vault, or no vault, to undo it)`, {
      exec_id: execId,
      vault: exec.vault,
      named_vault: options.vault,
    });
  }
  if (exec.undone_at !== null) return alreadyUndone(store, exec);
  if (exec.checkpoint === null) {
    throw new AvfsError(
      'CHECKPOINT_NOT_FOUND',
      `exec ${execId} ran without a checkpoint, so it cannot be undone as a whole (use \`avfs log\` and \`avfs revert\` per file; pass --checkpoint to proxy exec next time)`,
      { exec_id: execId, vault: exec.vault },
    );
  }
  if (exec.seq_after === null && !options.force) {
    throw new AvfsError('CONFLICT', `exec ${execId} is still running; wait for it to end (or pass --force to undo what it did so far)`, {
      exec_id: execId,
      vault: exec.vault,
    });
  }
  const actor = { source: 'proxy' as const, execId };
  return store.mutate(() => {
    const vault = execVault(store, exec);
    const cp = getCheckpoint(store, vault, exec.checkpoint!);
    const upTo = exec.seq_after ?? currentSeq(store);
    const changes = netChanges(store, vault, { after: exec.seq_before, upTo, execId: untagged(exec) ? null : execId });
    const pruned = changes.find((c) => c.beforeUnknown);
    if (pruned) {
      throw new AvfsError('VERSION_NOT_FOUND', `cannot undo ${execId}: the state of ${pruned.path} before it was pruned from history`, {
        exec_id: execId,
        path: pruned.path,
        reason: 'history_pruned',
      });
    }
    const blockers = blockersAbove(store, vault, changes);
    const others = [...new Set([...laterChangesByOthers(store, vault, exec, changes), ...blockers])].sort();
    if (others.length > 0 && !options.force) {
      throw new AvfsError(
        'CONFLICT',
        `undoing ${execId} would discard ${others.length} later change(s) not made by it (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}); pass --force to discard them`,
        { exec_id: execId, vault: exec.vault, later_changes: others.length, paths: others },
      );
    }
    const seqBefore = currentSeq(store);
    putBack({ store, vault, actor }, changes, execId, blockers);
    const seqAfter = currentSeq(store);
    // Marked undone only once it has ended: a running exec's later writes are its own too, and a
    // second undo must still reach them (its earlier ones are back as they were: nothing to do there).
    const running = exec.seq_after === null;
    if (!running) markExecUndone(store, execId);
    const changed = changeReport(store, vault, { after: seqBefore, upTo: seqAfter, execId });
    const discarded = options.force ? others.length : 0;
    audit(store, actor, 'proxy.undo', exec.vault, { exec_id: execId, checkpoint: cp.name, forced: !!options.force, discarded_changes: discarded, changed: changed.length });
    return {
      vault: exec.vault,
      execId,
      checkpoint: cp.name,
      discardedChanges: discarded,
      alreadyUndone: false,
      died: exec.died_at !== null,
      running,
      changedFiles: changed,
    };
  });
}

/**
 * The vault the exec ran in, by id: a vault made later under the same name (after the exec's was
 * deleted) is another vault, and undoing there would change what the exec never touched.
 */
function execVault(store: Store, exec: ExecRow): VaultRow {
  const vault = vaultById(store, exec.vault_id);
  if (!vault || vault.retired_at !== null) {
    throw new AvfsError('VAULT_NOT_FOUND', `cannot undo ${exec.id}: vault ${exec.vault}, where it ran, was deleted`, { exec_id: exec.id, vault: exec.vault, reason: 'vault_deleted' });
  }
  return vault;
}

/**
 * A second undo of an exec changes nothing, with or without force: its paths were put back once,
 * and whatever was written there since is someone's later work (a retrying agent must not wipe it).
 */
function alreadyUndone(store: Store, exec: ExecRow): UndoResult {
  return {
    vault: exec.vault,
    execId: exec.id,
    checkpoint: exec.checkpoint!,
    discardedChanges: 0,
    alreadyUndone: true,
    died: exec.died_at !== null,
    running: false,
    changedFiles: [],
  };
}

/**
 * Paths where undoing would drop a change that is not the exec's, sorted: a version of a path it
 * changed made after its first change there, entries it did not make below a path where undo puts
 * back no directory (removed, or a file or symlink again), and tags or metadata on paths undo removes.
 */
function laterChangesByOthers(store: Store, vault: VaultRow, exec: ExecRow, changes: NetChange[]): string[] {
  const mine = (row: { id: number; exec_id: string | null }) =>
    row.exec_id === exec.id || (untagged(exec) && row.id > exec.seq_before && row.id <= (exec.seq_after ?? row.id));
  const touched = new Set(changes.map((c) => c.path));
  const out = new Set<string>();
  for (const c of changes) {
    // From the exec's first change of the path, not its last: a write by someone else between two
    // of the exec's (a mount or the CLI while a mounted run works) is put back too.
    const versions = pathVersionsAfter(store, vault.id, c.path, c.rows[0]!.id);
    const last = c.rows[c.rows.length - 1]!.id;
    const others = versions.filter((row) => !mine(row) && !ANNOTATION_OPS.has(row.op));
    // Writes after the exec's last one drop nothing when, together, they left the path as the exec
    // left it (a later exec and its undo: undos stack, newest first) or already as undo would
    // leave it (someone reverted it by hand).
    const current = versions.length > 0 ? stateOf(versions[versions.length - 1]!) : c.after;
    const nothingLost = sameIgnoringAnnotations(current, c.after) || sameIgnoringAnnotations(current, c.before);
    if (others.some((row) => row.id < last || !nothingLost)) out.add(c.path);
    // Undo removes this path (tags and metadata on it go too), or puts back a file or symlink
    // where the exec made a directory: either way whatever is below it now goes, and what the
    // exec did not make there is someone else's.
    if (c.before === null && getEntry(store, vault, c.path)?.annot) out.add(c.path);
    if (c.before?.type === 'd') continue;
    for (const e of listDescendants(store, vault, c.path)) if (!touched.has(e.path)) out.add(e.path);
  }
  return [...out].sort();
}

/**
 * Symlinks and files someone put in place of a directory above a path undo puts back (one the
 * exec did not change), sorted: nothing can be put there while one is in the way.
 */
function blockersAbove(store: Store, vault: VaultRow, changes: NetChange[]): string[] {
  const touched = new Set(changes.map((c) => c.path));
  const directories = new Set<string>();
  const out = new Set<string>();
  for (const c of changes) {
    const blocker = c.before === null ? undefined : nonDirectoryAbove(store, vault, c.path, directories);
    if (blocker && !touched.has(blocker.path)) out.add(blocker.path);
  }
  return [...out].sort();
}

/** Whether two states are the same entry, tags and metadata aside (undo keeps those as they are). */
function sameIgnoringAnnotations(a: PathState | null, b: PathState | null): boolean {
  if (a === null || b === null) return a === b;
  return sameState({ ...a, annot: null }, { ...b, annot: null });
}

/**
 * Gives every changed path its state from before the exec: removals deepest first, then the rest
 * parents first. A name that comes back as a new file is linked again with the names it shared
 * its inode with (`rm` or `mv` of one name of a hard-linked file), where they still hold it.
 */
function putBack(w: Writer, changes: NetChange[], execId: string, blockers: string[]): void {
  const change = { op: 'undo', actor: w.actor, detail: { exec_id: execId }, undoesExec: true };
  // Forced (the CONFLICT named them): what stands in place of a directory above the exec's paths goes first.
  for (const path of blockers) if (getEntry(w.store, w.vault, path)) applyState(w, path, null, change, true);
  const removals = changes.filter((c) => c.before === null).reverse();
  for (const c of removals) {
    if (getEntry(w.store, w.vault, c.path)) applyState(w, c.path, null, change, true);
  }
  for (const c of changes) {
    if (c.before === null) continue;
    // Replacing a directory clears what is below it; everything there is either the exec's (put back
    // next, parents first) or someone else's (a CONFLICT unless forced).
    // Tags and metadata are kept as they are now; a path the exec deleted gets back its own.
    const current = getEntry(w.store, w.vault, c.path);
    leaveOtherFile(w, c.path, c.before, change);
    applyState(w, c.path, current ? { ...c.before, annot: current.annot } : c.before, change, true);
  }
  const returned = changes.filter((c) => c.before !== null && c.before.type !== 'd' && c.before.ino !== undefined && getEntry(w.store, w.vault, c.path)?.ino !== c.before.ino);
  relink(w, returned.map((c) => ({ path: c.path, ino: c.before!.ino!, links: c.before!.nlink ?? 1 })), change);
}
