import { readdirSync, readFileSync } from 'node:fs';

/**
 * The processes of a `proxy exec`, found through /proc: every process the proxy starts carries
 * AVFS_EXEC_ID=<id> in its environment and its descendants inherit it. The proxy uses this to
 * end what is left of a run; a private mount's server uses it to end the run's processes when
 * the avfs that started them died (kill -9) and nobody else will.
 */

/** The numeric entries of /proc (one per process); empty where /proc cannot be read. */
export function procPids(): string[] {
  try {
    return readdirSync('/proc').filter((name) => {
      const c = name.charCodeAt(0);
      return c >= 48 && c <= 57;
    });
  } catch {
    return [];
  }
}

/** Processes whose environment carries AVFS_EXEC_ID=<execId>, except this one, its parent and `protect`. */
export function processesWithExecId(execId: string, protect: number[] = []): number[] {
  const needle = Buffer.from(`\0AVFS_EXEC_ID=${execId}\0`);
  const own = new Set([process.pid, process.ppid, ...protect]);
  const out: number[] = [];
  // environ is read directly (a zombie's is empty, so it never matches): one read per process.
  for (const name of procPids()) {
    if (own.has(Number(name))) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`), Buffer.from([0])]);
      if (env.includes(needle)) out.push(Number(name));
    } catch {
      // exited, or not ours to read
    }
  }
  return out;
}

/** SIGKILLs every process of an exec but `protect` until none is left (or `ms` passed); returns how many were seen. */
export async function killExecProcesses(execId: string, protect: number[] = [], ms = 5_000): Promise<number> {
  const seen = new Set<number>();
  const deadline = Date.now() + ms;
  for (let pids = processesWithExecId(execId, protect); pids.length > 0 && Date.now() < deadline; pids = processesWithExecId(execId, protect)) {
    for (const pid of pids) {
      seen.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return seen.size;
}
