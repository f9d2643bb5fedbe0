import { AvfsError } from '../errors.js';
import { isLive, readSessions } from '../mount/session.js';
import { openExecs } from '../store/execs.js';
import { processAlive } from '../store/host-process.js';
import type { Actor, Store } from '../store/store.js';
import { deleteVault, getVault } from '../store/vaults.js';

/**
 * `vault delete` for the CLI and the SDK. A vault that is mounted, or that a command run by
 * `proxy exec` is working in, is refused (CONFLICT, reason in_use, naming the mount directories
 * and exec ids) unless `force`: deleted under them, the mount served a root that no longer
 * exists (`ls` said "No such file or directory" for the mountpoint itself) and the command's
 * writes failed while it ran.
 */
export function deleteVaultUnlessInUse(store: Store, name: string, force: boolean, actor: Actor): ReturnType<typeof deleteVault> {
  if (!force) {
    const vault = getVault(store, name);
    const mounts = readSessions(store.home)
      .filter((s) => !s.views && s.vault === vault.name && isLive(s))
      .map((s) => s.dir);
    const execs = openExecs(store)
      .filter((e) => e.vault_id === vault.id && e.pid !== null && processAlive({ pid: e.pid, pid_start: e.pid_start }))
      .map((e) => e.id);
    if (mounts.length > 0 || execs.length > 0) {
      const users = [...mounts.map((d) => `mounted on ${d}`), ...execs.map((id) => `exec ${id} running`)];
      throw new AvfsError('CONFLICT', `vault ${vault.name} is in use (${users.join(', ')}); unmount it or let the command end, or pass --force`, {
        vault: vault.name,
        reason: 'in_use',
        mounts,
        execs,
      });
    }
  }
  return deleteVault(store, name, force, actor);
}
