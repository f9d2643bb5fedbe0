import { AvfsError } from '../errors.js';
import type { Store } from '../store/store.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuseAvailable, mountVault, unmountDir } from '../mount/index.js';
import { thisProcess } from '../mount/session.js';
import { currentSeq } from '../store/vaults.js';
import { dispose, materialize, syncBack, type SyncSummary } from './copy.js';
import type { VaultFs } from '../store/vault-fs.js';

/**
 * Where a command runs: a host directory that shows the vault. `mount` is a private FUSE mount
 * for this run whose writes all carry the exec id; `copy` is a materialised temporary copy whose
 * changes are imported back (as the exec) when the command ends. A live `avfs mount` of the vault
 * is never reused: its writes are a person's, and the run's report and undo must not include them.
 */
export interface Workspace {
  mode: 'mount' | 'copy';
  /** Why this mode was chosen when it was not the first choice (e.g. FUSE unavailable), else null. */
  modeReason: string | null;
  /** The host directory showing the vault root. */
  root: string;
  /** Processes the cleanup must never signal (the mount server). */
  protect: number[];
  /** The change sequence the run starts from (for copy mode, the state that was materialised). */
  seqBefore: number;
  /** After the command: imports changes (copy mode) and releases the directory. */
  finish(): Promise<{ sync: SyncSummary | null }>;
  /** Releases the directory without importing anything (the command never ran). */
  abort(): Promise<void>;
}

export type ModeChoice = 'auto' | 'mount' | 'copy';

/** A materialised copy of the vault in a private temporary directory. */
export async function copyWorkspace(fs: VaultFs, modeReason: string | null): Promise<Workspace> {
  const session = materialize(fs);
  // Until the clock has moved past the export's timestamps, a write might not move a ctime.
  const wait = session.readyAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  let released = false;
  return {
    mode: 'copy',
    modeReason,
    root: session.root,
    protect: [],
    seqBefore: session.seq,
    async finish() {
      // On failure the copy is kept (its path is in the error) so the command's work is not lost.
      const sync = syncBack(fs, session);
      released = true;
      dispose(session);
      return { sync };
    },
    async abort() {
      if (!released) dispose(session);
      released = true;
    },
  };
}

/**
 * A private FUSE mount of the vault in a temporary directory for this run, served by its own
 * process with the exec id (so every version written through it is tagged), unmounted when the
 * command ends. Unmounting waits for the server to save everything still open, so the change
 * report that follows is complete. The server watches this process: if it dies without
 * unmounting (kill -9), the server ends the run's processes and unmounts by itself.
 */
async function mountWorkspace(store: Store, fs: VaultFs, execId: string): Promise<Workspace> {
  const base = mkdtempSync(join(tmpdir(), 'avfs-proxy-mnt-'));
  const root = join(base, 'vault');
  mkdirSync(root);
  const seqBefore = currentSeq(store);
  let info;
  try {
    info = await mountVault({ home: store.home, vault: fs.name, dir: root, execId, owner: thisProcess() });
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      await unmountDir({ home: store.home, dir: root });
    } catch (err) {
      // Busy only if something still holds a file open, which the process cleanup rules out; a
      // lazy detach still lets the server save those files before it exits.
      if (!(err instanceof AvfsError && err.code === 'CONFLICT')) throw err;
      await unmountDir({ home: store.home, dir: root, lazy: true });
    }
    rmSync(base, { recursive: true, force: true });
  };
  return {
    mode: 'mount',
    modeReason: null,
    root,
    protect: [info.pid],
    seqBefore,
    async finish() {
      await release();
      return { sync: null };
    },
    abort: release,
  };
}

/**
 * Opens the workspace a run uses. `auto` and `mount` mount privately; where FUSE is unavailable
 * `mount` fails (FUSE_UNAVAILABLE) and `auto` falls back to a copy, saying why in `modeReason`.
 * `copy` always copies.
 */
export async function openWorkspace(store: Store, fs: VaultFs, choice: ModeChoice, execId: string): Promise<Workspace> {
  if (choice === 'copy') return copyWorkspace(fs, 'requested with --mode copy');
  const fuse = await fuseAvailable();
  if (!fuse.ok) {
    const reason = fuse.reason ?? 'FUSE is not available';
    if (choice === 'mount') throw new AvfsError('FUSE_UNAVAILABLE', `cannot run in a mount: ${reason}`, { reason });
    return copyWorkspace(fs, `FUSE unavailable (${reason}); ran in a temporary copy`);
  }
  try {
    return await mountWorkspace(store, fs, execId);
  } catch (err) {
    if (choice === 'mount') throw err;
    // FUSE looked usable but this mount did not come up: the command still runs, in a copy.
    const message = err instanceof Error ? err.message : String(err);
    return copyWorkspace(fs, `mounting failed (${message}); ran in a temporary copy`);
  }
}
