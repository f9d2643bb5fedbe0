import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Process-count and memory limits for one exec through a cgroup of its own, created below the
 * cgroup avfs runs in: cgroup v2 (pids.max, memory.max) where the pids/memory controllers are
 * available to it, else the v1 `pids` and `memory` hierarchies (pids.max,
 * memory.limit_in_bytes). The sandbox's first process joins it before it starts anything, so
 * every process of the run counts. Where neither can be created (no permission, no controller)
 * the limit is reported as not enforced, with the reason; RLIMIT_NPROC is no substitute (it
 * counts every process of the user, and root ignores it).
 *
 * After the run, `hits()` reads what the kernel counted: forks refused at pids.max, OOM kills.
 */

export interface CgroupLimits {
  maxProcesses: number | null;
  memory: number | null;
}

export type Controller = 'pids' | 'memory';

export interface ExecCgroup {
  /** The cgroup.procs files the first process writes its pid to (one per hierarchy). */
  procs: string[];
  /** How each requested limit is enforced (e.g. "cgroup v1 pids.max"), or why not. */
  enforcedBy: Record<Controller, string | null>;
  reasons: Partial<Record<Controller, string>>;
  /** Forks refused at the process limit and processes the kernel killed for memory, so far. */
  hits(): { pidsMax: number; oomKills: number };
  /** Removes the cgroup(s) once its processes are gone (retries briefly while they are reaped). */
  remove(): Promise<void>;
}

interface Mount {
  dir: string;
  version: 1 | 2;
  controllers: string[];
}

const CGROUP_NAME = (execId: string) => `avfs-${execId}`;

function mounts(): Mount[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    const dir = left.split(' ')[4] ?? '';
    if (fstype === 'cgroup2') out.push({ dir, version: 2, controllers: [] });
    else if (fstype === 'cgroup') out.push({ dir, version: 1, controllers: superOptions.split(',') });
  }
  return out;
}

/** This process's cgroup path per hierarchy: '' for v2, the controller list for v1. */
function ownPaths(): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
      const [, controllers = '', path = ''] = line.split(':');
      out.set(controllers, path);
    }
  } catch {
    // no cgroups
  }
  return out;
}

const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** A `key value` line of a cgroup events/stat file, as a number (0 when absent). */
function field(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Made {
  dir: string;
  controller: Controller;
  version: 1 | 2;
}

/** Creates the exec's cgroup(s) with the limits asked for; null when no limit needs one. */
export function createExecCgroup(execId: string, limits: CgroupLimits): ExecCgroup | null {
  const wanted: Controller[] = [];
  if (limits.maxProcesses !== null) wanted.push('pids');
  if (limits.memory !== null) wanted.push('memory');
  if (wanted.length === 0) return null;
  const made: Made[] = [];
  const reasons: Partial<Record<Controller, string>> = {};
  const all = mounts();
  const own = ownPaths();
  const v2 = all.find((m) => m.version === 2);
  const v2Path = own.get('');
  const v2Dir = v2 && v2Path !== undefined ? join(v2.dir, v2Path) : undefined;
  const v2Controllers = v2Dir ? read(join(v2Dir, 'cgroup.subtree_control')).trim().split(/\s+/) : [];
  let v2Made: string | undefined;

  for (const controller of wanted) {
    try {
      if (v2Dir && v2Controllers.includes(controller)) {
        v2Made ??= mkdirCgroup(join(v2Dir, CGROUP_NAME(execId)));
        made.push({ dir: v2Made, controller, version: 2 });
        continue;
      }
      const v1 = all.find((m) => m.version === 1 && m.controllers.includes(controller));
      const path = [...own].find(([list]) => list.split(',').includes(controller))?.[1];
      if (!v1 || path === undefined) {
        reasons[controller] = `no ${controller} cgroup controller is available to avfs (cgroup v2 without it delegated, and no v1 ${controller} hierarchy)`;
        continue;
      }
      made.push({ dir: mkdirCgroup(join(v1.dir, path, CGROUP_NAME(execId))), controller, version: 1 });
    } catch (err) {
      reasons[controller] = `cannot create a ${controller} cgroup: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }

  const enforcedBy: Record<Controller, string | null> = { pids: null, memory: null };
  for (const m of made) {
    try {
      if (m.controller === 'pids') {
        writeFileSync(join(m.dir, 'pids.max'), String(limits.maxProcesses));
        enforcedBy.pids = `cgroup v${m.version} pids.max`;
      } else {
        const file = m.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
        writeFileSync(join(m.dir, file), String(limits.memory));
        if (m.version === 2) writeFileSync(join(m.dir, 'memory.swap.max'), '0');
        enforcedBy.memory = `cgroup v${m.version} ${file}`;
      }
    } catch (err) {
      // memory.swap.max is missing without swap accounting; the limit itself is set by then.
      if (m.controller === 'memory' && enforcedBy.memory) continue;
      reasons[m.controller] = `cannot set the ${m.controller} limit: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
  const dirs = [...new Set(made.map((m) => m.dir))];
  return {
    procs: dirs.map((d) => join(d, 'cgroup.procs')),
    enforcedBy,
    reasons,
    hits() {
      let pidsMax = 0;
      let oomKills = 0;
      for (const m of made) {
        if (m.controller === 'pids') pidsMax = Math.max(pidsMax, field(read(join(m.dir, 'pids.events')), 'max'));
        else oomKills = Math.max(oomKills, field(read(join(m.dir, m.version === 2 ? 'memory.events' : 'memory.oom_control')), 'oom_kill'));
      }
      return { pidsMax, oomKills };
    },
    async remove() {
      for (const dir of dirs) await removeCgroupDir(dir);
    },
  };
}

function mkdirCgroup(dir: string): string {
  mkdirSync(dir);
  return dir;
}

/** rmdir of a cgroup succeeds once its last process is reaped; a killed sandbox takes a moment. */
async function removeCgroupDir(dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The directories below which avfs creates exec cgroups: this process's cgroup in each hierarchy. */
function parentDirs(): string[] {
  const own = ownPaths();
  const out: string[] = [];
  for (const m of mounts()) {
    const path = m.version === 2 ? own.get('') : [...own].find(([list]) => list.split(',').some((c) => m.controllers.includes(c)))?.[1];
    if (path !== undefined) out.push(join(m.dir, path));
  }
  return out;
}

/**
 * Removes the cgroups of execs that `ended` says are over (their avfs died before removing
 * them). Only empty cgroups can be removed, and only those of this home's ended execs are
 * tried: another run's cgroup may be empty for a moment before its first process joins it.
 */
export function removeEndedCgroups(ended: (execId: string) => boolean): void {
  for (const parent of parentDirs()) {
    let names: string[];
    try {
      names = readdirSync(parent).filter((n) => n.startsWith('avfs-'));
    } catch {
      continue;
    }
    for (const name of names) {
      if (!ended(name.slice('avfs-'.length))) continue;
      try {
        rmdirSync(join(parent, name));
      } catch {
        // still busy
      }
    }
  }
}
