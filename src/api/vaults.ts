import { AvfsError } from '../errors.js';
import { isLive, readSessions } from '../mount/session.js';
import { openExecs } from '../store/execs.js';
import { processAlive } from '../store/host-process.js';
import type { Actor, Store } from '../store/store.js';
import { deleteVault, getVault } from '../store/vaults.js';

/**
 * `vault delete` for the CLI and the SDK: deleteVault, refused with CONFLICT
 *  - (reason `mounted`, `dirs`) while a live mount serves the vault, whatever `force` says. A
 *    mount's server reads the vault's layers by id, fixed when it mounted: deleted under it, the
 *    mountpoint's own root answered ENOENT (`ls` of the directory failed) until someone found and
 *    unmounted it;
 *  - (reason `exec_running`, `execs`) while a `proxy exec` runs in it, unless `force`: deleted
 *    under it, the command's writes failed while it ran.
 */
export function deleteUnmountedVault(store: Store, name: string, force: boolean, actor: Actor): { name: string; detached_forks: string[] } {
  const dirs = readSessions(store.home)
    .filter((s) => s.vault === name && !s.views && isLive(s))
    .map((s) => s.dir);
  if (dirs.length > 0) {
    throw new AvfsError('CONFLICT', `vault ${name} is mounted on ${dirs.join(', ')}: unmount it first (avfs unmount <dir>)`, { vault: name, reason: 'mounted', dirs });
  }
  if (!force) {
    const vault = getVault(store, name);
    const execs = openExecs(store)
      .filter((e) => e.vault_id === vault.id && e.pid !== null && processAlive({ pid: e.pid, pid_start: e.pid_start }))
      .map((e) => e.id);
    if (execs.length > 0) {
      throw new AvfsError('CONFLICT', `vault ${name} has a command running in it (exec ${execs.join(', ')}); let it end, or pass --force`, {
        vault: name,
        reason: 'exec_running',
        execs,
      });
    }
  }
  return deleteVault(store, name, force, actor);
}
