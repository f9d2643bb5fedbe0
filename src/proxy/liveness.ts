import { findExec, openExecs, recordExecDied, type ExecRow } from '../store/execs.js';
import { removeEndedCgroups } from './cgroup.js';
import type { Store } from '../store/store.js';
import { listMounts, unmountDir } from '../mount/index.js';
import { killExecProcesses } from '../mount/processes.js';
import { processAlive } from '../store/host-process.js';

/**
 * Execs whose avfs process died while they ran (kill -9, a crash, a power cut). Such an exec's
 * row stays open (no seq_after) until someone notices: `proxy exec` and `proxy undo` do, here.
 * Before its change window is closed, whatever could still write with its id is ended: its
 * private mount (whose server normally ends it by itself when the exec's avfs dies) and any
 * process still carrying its id. Then the row gets seq_after and died_at, and a `proxy.died`
 * audit row; from then on nothing is attributed to it and it can be undone. (A sandboxed run
 * dies with its avfs by itself, and the views server records it; only its cgroup, and in copy
 * mode its temporary copy, are left here.)
 */

const ownerGone = (exec: ExecRow) => exec.pid !== null && !processAlive({ pid: exec.pid, pid_start: exec.pid_start });

/** Finds execs of `store`'s home whose avfs died, ends what is left of them and marks them died. Returns their ids. */
export async function reapDeadExecs(store: Store): Promise<string[]> {
  const dead = openExecs(store).filter(ownerGone);
  for (const exec of dead) {
    // Its processes first (they may hold files open in its mount), then its mount, whose server
    // saves what is still open (tagged with the exec id: those writes were the exec's) and exits.
    const sessions = listMounts(store.home).filter((s) => s.exec_id === exec.id);
    await killExecProcesses(exec.id, sessions.map((s) => s.pid));
    for (const session of sessions) {
      await unmountDir({ home: store.home, dir: session.dir })
        .catch(() => unmountDir({ home: store.home, dir: session.dir, lazy: true }))
        .catch(() => undefined);
    }
    recordExecDied(store, exec);
  }
  if (dead.length > 0) {
    // A copy-mode run leaves its copy of the vault behind (its changes were never imported).
    const { disposeDeadCopies } = await import('./copy.js');
    for (const exec of dead) disposeDeadCopies(exec.id);
  }
  // A run whose avfs died could not remove its cgroup (its views server recorded it as died).
  removeEndedCgroups((id) => {
    const exec = findExec(store, id);
    return exec !== undefined && exec.seq_after !== null;
  });
  return dead.map((e) => e.id);
}
