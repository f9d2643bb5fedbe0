import { AvfsError } from '../errors.js';
import type { Store } from '../store/store.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fuseAvailable, mountVault, unmountDir } from '../mount/index.js';
import { runtimeDir } from '../store/host-dirs.js';
import { thisProcess, type ProcessRef } from '../store/host-process.js';
import { openExecView } from '../mount/views.js';
import { MAX_ZERO_FILL } from '../mount/zero-fill.js';
import type { SandboxLayout } from '../core/sandbox-layout.js';
import { currentSeq } from '../store/vaults.js';
import type { SyncSummary } from './copy.js';
import type { VaultFs } from '../store/vault-fs.js';

/**
 * Where a command runs: a host directory that shows the vault. This module is the proxy's one
 * seam to the mount (ARCHITECTURE.md, Layers): the runner (run.ts) sees only this interface.
 * Three kinds:
 *  - `sandbox`: a view of the vault for this run on the home's resident views server (sandboxed
 *    runs; the directory also presents the sandbox layout's reserved names, see
 *    src/core/sandbox-layout.ts, never recorded);
 *  - `mount`: a private FUSE mount (unsandboxed runs, whose command sees the host);
 *  - `copy`: a materialised temporary copy whose changes are imported back (as the exec) when
 *    the command ends, where no mount can be had.
 * Every write through a sandbox view or a mount carries the exec id. A live `avfs mount` of the
 * vault is never reused: its writes are a person's, and the run's report and undo must not
 * include them.
 */
export interface Workspace {
  kind: WorkspaceKind;
  /** What the result reports: `mount` for the sandbox and mount kinds. */
  mode: 'mount' | 'copy';
  /** Why this mode was chosen when it was not the first choice (e.g. FUSE unavailable), else null. */
  modeReason: string | null;
  /** The host directory showing the vault root. */
  root: string;
  /** Processes the cleanup must never signal (the mount server). */
  protect: number[];
  /** The change sequence the run starts from (for copy mode, the state that was materialised). */
  seqBefore: number;
  /** The process the workspace belongs to (this one): when it dies, the run is over (the exec row records it). */
  owner: Required<ProcessRef>;
  /** After the command: imports changes (copy mode) and releases the directory. */
  finish(): Promise<{ sync: SyncSummary | null }>;
  /** Releases the directory without importing anything (the command never ran). */
  abort(): Promise<void>;
}

export type ModeChoice = 'auto' | 'mount' | 'copy';
export type WorkspaceKind = 'sandbox' | 'mount' | 'copy';

export interface WorkspaceOptions {
  /** The sandbox's reserved names (null: an unsandboxed run). */
  layout: SandboxLayout | null;
}

/** A materialised copy of the vault in a private temporary directory. */
export async function copyWorkspace(fs: VaultFs, modeReason: string | null, layout: SandboxLayout | null, execId?: string): Promise<Workspace> {
  // Loaded on use: a mounted run does not need the export and import code.
  const { dispose, materialize, syncBack } = await import('./copy.js');
  const session = materialize(fs, undefined, layout, execId);
  // Until the clock has moved past the export's timestamps, a write might not move a ctime.
  const wait = session.readyAt - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  let released = false;
  return {
    kind: 'copy',
    mode: 'copy',
    modeReason,
    root: session.root,
    protect: [],
    seqBefore: session.seq,
    owner: thisProcess(),
    async finish() {
      // On failure the copy is kept (its path is in the error) so the command's work is not lost.
      const sync = syncBack(fs, session, { maxZeroFill: MAX_ZERO_FILL });
      released = true;
      try {
        dispose(session);
      } catch (err) {
        // The import has committed: the run is reported as it went, the leftover copy named.
        sync.skipped.push({ path: session.base, reason: `the temporary copy could not be removed (${(err as Error).message}); remove it yourself` });
      }
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
 * unmounting (kill -9), the server ends the run's processes, unmounts and removes the temporary
 * directory by itself.
 */
async function mountWorkspace(store: Store, fs: VaultFs, execId: string, layout: SandboxLayout | null): Promise<Workspace> {
  const base = mkdtempSync(join(runtimeDir(), 'proxy-mnt-'));
  const root = join(base, 'vault');
  mkdirSync(root);
  const seqBefore = currentSeq(store);
  const owner = thisProcess();
  let info;
  try {
    info = await mountVault({ home: store.home, vault: fs.name, dir: root, execId, owner, scratchDir: base, layout: layout?.all() });
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
  return mounted('mount', root, info.pid, seqBefore, owner, release);
}

/** A mounted workspace: `release` ends it, and its server (`serverPid`) is never signalled by the run's cleanup. */
function mounted(kind: 'sandbox' | 'mount', root: string, serverPid: number, seqBefore: number, owner: Required<ProcessRef>, release: () => Promise<void>): Workspace {
  return {
    kind,
    mode: 'mount',
    modeReason: null,
    root,
    protect: [serverPid],
    seqBefore,
    owner,
    async finish() {
      await release();
      return { sync: null };
    },
    abort: release,
  };
}

/**
 * A view of the vault for this run on the home's resident views server (started on first use):
 * no mount per run, only a connection. Closing the view saves what is still open through it.
 */
async function sandboxWorkspace(store: Store, fs: VaultFs, execId: string, layout: SandboxLayout | null): Promise<Workspace> {
  const seqBefore = currentSeq(store);
  const view = await openExecView({ home: store.home, vault: fs.name, execId, pid: process.pid, layout: layout?.all() ?? [] });
  return mounted('sandbox', view.root, view.serverPid, seqBefore, thisProcess(), async () => {
    await view.close();
  });
}

/**
 * Which mounted kind a run gets: sandboxed runs a view on the resident views server, unsandboxed
 * ones (whose command sees the host, so its mountpoint must be its own) a private mount.
 * AVFS_PROXY_MOUNT=private|resident overrides it (the benchmark measures both).
 */
function mountedKind(layout: SandboxLayout | null): 'sandbox' | 'mount' {
  const forced = process.env.AVFS_PROXY_MOUNT;
  if (forced === 'private') return 'mount';
  if (forced === 'resident') return 'sandbox';
  return layout ? 'sandbox' : 'mount';
}

/**
 * Opens the workspace a run uses. `auto` and `mount` mount; where FUSE is unavailable `mount`
 * fails (FUSE_UNAVAILABLE) and `auto` falls back to a copy, saying why in `modeReason`. `copy`
 * always copies.
 */
export async function openWorkspace(store: Store, fs: VaultFs, choice: ModeChoice, execId: string, options: WorkspaceOptions): Promise<Workspace> {
  const { layout } = options;
  if (choice === 'copy') return copyWorkspace(fs, 'requested with --mode copy', layout, execId);
  try {
    // A running views server needs no FUSE here (loading the addon costs ~40 ms); starting one checks it.
    if (mountedKind(layout) === 'sandbox') return await sandboxWorkspace(store, fs, execId, layout);
    const fuse = await fuseAvailable();
    if (!fuse.ok) throw new AvfsError('FUSE_UNAVAILABLE', `cannot run in a mount: ${fuse.reason}`, { reason: fuse.reason });
    return await mountWorkspace(store, fs, execId, layout);
  } catch (err) {
    if (choice === 'mount') throw err;
    // No mount came up: the command still runs, in a copy.
    const message = err instanceof Error ? err.message : String(err);
    const why = err instanceof AvfsError && err.code === 'FUSE_UNAVAILABLE' ? `FUSE unavailable (${message})` : `mounting failed (${message})`;
    return copyWorkspace(fs, `${why}; ran in a temporary copy`, layout, execId);
  }
}
