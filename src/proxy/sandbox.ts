import { accessSync, constants, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { ancestors, normalizePath, isWithin, rebase, walkPath } from '../core/paths.js';
import { SandboxLayout, type LayoutNode } from '../core/sandbox-layout.js';
import { spawn } from 'node:child_process';
import { AvfsError } from '../errors.js';
import { runtimeDir, runtimeDirIn, runtimeParents } from '../store/host-dirs.js';
import type { Policy } from './policy.js';
import type { LimitsReport } from './launch.js';

/**
 * The sandbox every `proxy exec` runs in (bubblewrap): the vault — a view of the mount, or the
 * copy — is the command's `/`; the host's system directories are bound read-only over it; /proc,
 * a minimal /dev and /tmp are fresh; nothing else of the host is visible (not $HOME, not the avfs
 * home, not other mounts). New PID, IPC, UTS, cgroup and (unless network is `host`) network
 * namespaces; all capabilities dropped; a new session; the sandbox dies with the avfs that runs
 * it (--die-with-parent), and its PID namespace ends with the command, so nothing outlives the
 * call. What it cannot do is in README "Boundary".
 *
 * This module decides the sandbox (`planSandbox`) and builds bubblewrap's arguments; running it
 * is exec.ts, presenting the reserved names is the mount's sandbox view or copy mode.
 */

export type SandboxMode = 'auto' | 'required' | 'off';
export type NetworkMode = 'none' | 'host';

export interface Bind {
  /** Host path. */
  source: string;
  /** Path inside the sandbox (default: the same as source). */
  dest: string;
  writable: boolean;
  /** One of the host's system directories (bound first, before anything is mounted inside them). */
  system?: boolean;
}

/** A file size limit is set in 512-byte blocks (RLIMIT_FSIZE through `ulimit -f`, launch.ts): at least one, rounded down to whole ones. */
export const FILE_SIZE_BLOCK = 512;

export interface Limits {
  timeout_ms: number;
  max_processes: number | null;
  max_file_size: number | null;
  memory: number | null;
}

export interface SandboxPlan {
  enforced: boolean;
  /** Why the sandbox is not enforced (null when it is). */
  reason: string | null;
  bwrap: string | null;
  network: NetworkMode;
  /** The host paths visible inside, as bound (system directories and the policy's binds). */
  binds: Bind[];
  /** Host files hidden behind an empty file inside (secrets in /etc). */
  masked: string[];
  /** Directories inside covered by an empty tmpfs: avfs's own (privateDirs) where a bind would show them, and host secrets. */
  hidden: string[];
  layout: SandboxLayout | null;
  limits: Limits;
  readOnly: boolean;
}

/** Host system directories bound read-only (those that exist; a symlink among them is recreated as the same symlink). */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];
/** Fresh inside every sandbox. */
export const FRESH_DIRS = ['/proc', '/dev', '/tmp'];
/** Readable by root on most systems, never needed by a build: hidden behind /dev/null. */
const SECRETS = ['/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/sudoers'];
/** Host directories of secrets, hidden whole. */
const SECRET_DIRS = ['/etc/sudoers.d'];

/**
 * The host's secrets that exist: files (SECRETS, every SSH host private key, `ssh_host_*_key`
 * whatever its type, and /etc's private files) and directories (SECRET_DIRS and /etc's private ones).
 */
function hostSecrets(): { files: string[]; dirs: string[] } {
  let keys: string[] = [];
  try {
    keys = readdirSync('/etc/ssh').filter((n) => /^ssh_host_.*_key$/.test(n)).map((n) => `/etc/ssh/${n}`);
  } catch {
    // no /etc/ssh
  }
  const etc = privateEtc();
  return {
    files: [...new Set([...SECRETS.filter((f) => existsSync(f)), ...keys, ...etc.files])],
    dirs: [...new Set([...SECRET_DIRS.filter((d) => isDirectoryQuietly(d)), ...etc.dirs])],
  };
}

/** Entries of /etc looked at, at most: a larger /etc is hidden only as far as that (SECRETS are always hidden). */
const ETC_WALK_LIMIT = 50_000;

/**
 * The files under /etc other users may not read and the directories they may not search (the
 * database's pg_hba.conf, ssl/private, polkit rules, /etc/default/cacerts). The sandbox's root is
 * the host's uid 0 (there is no user namespace), so it would read what only root (or a group) may:
 * they are hidden as the named SECRETS are. Symbolic links are left alone: what they point to
 * outside /etc is not shown, and inside it is judged by its own mode. Walked for every plan (about
 * 1,200 entries here: see the closing note's timing), so a file made or removed since counts.
 */
function privateEtc(): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const pending = ['/etc'];
  let seen = 0;
  while (pending.length > 0 && seen < ETC_WALK_LIMIT) {
    const dir = pending.pop()!;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (++seen > ETC_WALK_LIMIT) break;
      const path = `${dir}/${name}`;
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st || st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        if (st.mode & 0o001) pending.push(path);
        else dirs.push(path);
      } else if (st.isFile() && !(st.mode & 0o004)) {
        files.push(path);
      }
    }
  }
  return { files, dirs };
}

/**
 * avfs's own host directories: the home (every vault's database) and the runtime directories
 * (host-dirs.ts runtimeDir: the views server's mount and socket, private mounts, copies), each
 * made now if missing so that one made during the run is hidden too. A bind covering one would
 * show the command other vaults; inside, each is hidden under an empty tmpfs (`hidden`), and a
 * bind of something inside one is refused (checkBind).
 */
function privateDirs(home: string | undefined): string[] {
  const dirs = home ? [home] : [];
  for (const parent of runtimeParents()) {
    try {
      dirs.push(runtimeDir(parent));
    } catch {
      dirs.push(runtimeDirIn(parent)); // a parent that is missing or refuses it: nothing of avfs is there
    }
  }
  // By real path, as bind sources are compared (checkBind).
  return [...new Set(dirs.map(realOrSelf))];
}

/**
 * Every avfs mount, whoever made it and wherever its TMPDIR put it: a views server's or a private
 * mount's whole directory (its control socket is beside the mount point), a person's mount
 * itself; by real path, resolved through its parent (a look at a mount point waits on its server).
 */
function avfsMountDirs(): string[] {
  return avfsMounts().map((mount) => {
    const dir = /^(views|proxy-mnt)-/.test(basename(dirname(mount))) ? dirname(mount) : mount;
    return join(realOrSelf(dirname(dir)), basename(dir));
  });
}

/** The mount points of the FUSE mounts avfs serves (fsname `avfs`), from /proc/self/mountinfo. */
function avfsMounts(): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  // Fields: id parent major:minor root mount-point options [optional…] - fstype source super-options.
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return text.split('\n').flatMap((line) => {
    const [before, after] = line.split(' - ');
    const [fstype, source] = (after ?? '').split(' ');
    return fstype?.startsWith('fuse') && source === 'avfs' ? [unescape(before!.split(' ')[4]!)] : [];
  });
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** stat(2), or undefined for a path that cannot be looked at (missing, or a dead FUSE mount: ENOTCONN). */
function statQuietly(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

const isDirectoryQuietly = (path: string): boolean => statQuietly(path)?.isDirectory() === true;

/** bubblewrap: $AVFS_BWRAP when set (a path), else `bwrap` on PATH (no process started); null when there is none. */
export function findBwrap(path = process.env.PATH ?? ''): string | null {
  const chosen = process.env.AVFS_BWRAP;
  const candidates = chosen ? [chosen] : [...path.split(delimiter), '/usr/bin', '/bin'].filter(Boolean).map((dir) => join(dir, 'bwrap'));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

export interface SandboxRequest {
  /** From the policy, made stricter (never looser) by --sandbox. */
  mode: SandboxMode;
  network: NetworkMode;
  binds: { source: string; dest?: string; writable?: boolean; optional?: boolean }[];
  limits: Limits;
  /** The vault is bound read-only (--readonly): the command can read it and change nothing. */
  readOnly: boolean;
  /** The home the run's vault lives in: hidden inside wherever a bind would show it (privateDirs). */
  home?: string;
}

/** What a run asks of the sandbox on top of its policy (the --sandbox, --network and limit options). */
export interface SandboxOverrides {
  sandbox?: 'auto' | 'required';
  network?: NetworkMode;
  timeoutMs?: number;
  maxProcesses?: number | null;
  maxFileSize?: number | null;
  memory?: number | null;
  interactive?: boolean;
  readOnly?: boolean;
}

/** An interactive shell ends when the person leaves it, unless --timeout says otherwise: a week. */
const INTERACTIVE_TIMEOUT_MS = 7 * 24 * 3600_000;

/** The sandbox a run asks for: the policy's, made stricter (never looser) by --sandbox, with the run's network and limits. */
export function sandboxRequest(policy: Policy, o: SandboxOverrides): SandboxRequest {
  const order: SandboxMode[] = ['off', 'auto', 'required'];
  // Only the sandbox can hold a command to reading: --readonly requires it.
  const asked = o.readOnly ? 'required' : o.sandbox;
  const mode = asked && order.indexOf(asked) > order.indexOf(policy.sandbox.mode) ? asked : policy.sandbox.mode;
  const limits = policy.sandbox.limits;
  return {
    mode,
    network: o.network ?? policy.sandbox.network,
    binds: policy.sandbox.binds,
    readOnly: !!o.readOnly,
    limits: {
      timeout_ms: o.timeoutMs ?? (o.interactive ? INTERACTIVE_TIMEOUT_MS : policy.timeout_ms),
      max_processes: o.maxProcesses !== undefined ? o.maxProcesses : limits.max_processes,
      max_file_size: o.maxFileSize !== undefined ? o.maxFileSize : limits.max_file_size,
      memory: o.memory !== undefined ? o.memory : limits.memory,
    },
  };
}

/**
 * Whether a run can be sandboxed (the bubblewrap to run it with) or why not, without planning the
 * sandbox: `policy check` asks only this, and planning looks at the host (runtime directories,
 * mounts, binds). `required` (or --readonly) without a sandbox is SANDBOX_UNAVAILABLE.
 */
export function sandboxAvailability(req: Pick<SandboxRequest, 'mode' | 'readOnly'>): { bwrap: string; reason: null } | { bwrap: null; reason: string } {
  if (req.readOnly && req.mode === 'off') {
    throw new AvfsError('SANDBOX_UNAVAILABLE', '--readonly needs the sandbox, and the policy turns it off (sandbox.mode "off")', { reason: 'policy_off' });
  }
  if (req.mode === 'off') return { bwrap: null, reason: 'the policy turns the sandbox off (sandbox.mode "off")' };
  const why = unavailableReason();
  const bwrap = why ? null : findBwrap();
  if (why || !bwrap) {
    const reason = why ?? (process.env.AVFS_BWRAP ? `AVFS_BWRAP=${process.env.AVFS_BWRAP} is not an executable` : 'bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap');
    if (req.mode === 'required') throw new AvfsError('SANDBOX_UNAVAILABLE', `cannot sandbox the command: ${reason}`, { reason });
    return { bwrap: null, reason };
  }
  return { bwrap, reason: null };
}

/** Decides whether and how the run is sandboxed. `required` without bubblewrap is SANDBOX_UNAVAILABLE. */
export function planSandbox(req: SandboxRequest): SandboxPlan {
  const base = { bwrap: null, network: req.network, binds: [], masked: [], hidden: [], layout: null, limits: req.limits, readOnly: req.readOnly };
  const available = sandboxAvailability(req);
  if (available.bwrap === null) return { ...base, enforced: false, reason: available.reason };
  const bwrap = available.bwrap;
  const nodes: LayoutNode[] = FRESH_DIRS.map((path) => ({ path, kind: 'dir' as const }));
  const binds: Bind[] = [];
  for (const dir of SYSTEM_DIRS) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) nodes.push({ path: dir, kind: 'symlink', target: readlinkSync(dir) });
    else if (st.isDirectory()) {
      nodes.push({ path: dir, kind: 'dir' });
      binds.push({ source: dir, dest: dir, writable: false, system: true });
    }
  }
  const mounts = avfsMountDirs();
  const own = [...privateDirs(req.home), ...mounts];
  const extra = [...(req.network === 'host' ? resolverBinds() : []), ...req.binds.map((b) => checkBind(b, own)).filter((b): b is Bind => b !== null)];
  const unmountable = bindMountpointProblem(extra);
  if (unmountable) throw new AvfsError('INVALID_ARGUMENT', unmountable.problem, { dest: unmountable.dest });
  for (const bind of extra) {
    binds.push(bind);
    // Its mountpoint is reserved, unless it lies inside a host system directory (which has it already).
    if (!SYSTEM_DIRS.some((d) => isWithin(bind.dest, d))) nodes.push({ path: bind.dest, kind: statSync(bind.source).isDirectory() ? 'dir' : 'file' });
  }
  const secrets = hostSecrets();
  // A host secret's own path is covered only where the sandbox shows the host's file there: a
  // policy bind over it (a directory of one's own at /etc) shows another, and covering that path
  // made bubblewrap create it in the bind's source on the host (or fail on a read-only one).
  const shownAtOwnPath = (path: string) => !extra.some((bind) => isWithin(path, bind.dest));
  const hiddenDirs = secrets.dirs;
  const covered = hiddenDirs.filter(shownAtOwnPath);
  // Every bind, the system directories' too: a home in /usr/local or /etc (a system-wide install)
  // is shown by the read-only bind of /usr or /etc as much as by a policy's.
  for (const bind of binds) {
    for (const dir of [...own, ...hiddenDirs]) {
      if (!isWithin(dir, bind.source) || !(mounts.includes(dir) || isDirectoryQuietly(dir))) continue;
      const at = rebase(dir, bind.source, bind.dest);
      // A system directory's bind (/etc at /etc) shows nothing where a policy's bind lies over it.
      if (!bind.system || shownAtOwnPath(at)) covered.push(at);
    }
  }
  // One inside another is hidden with it (covered after, it would show as an empty directory there).
  const hidden = [...new Set(covered)].filter((dir, _, all) => !all.some((other) => other !== dir && isWithin(dir, other)));
  // The host's secrets wherever a bind shows them again (a bind of / at /host shows /host/etc/shadow).
  const masked = secrets.files.filter(shownAtOwnPath);
  for (const bind of extra) for (const file of secrets.files) if (isWithin(file, bind.source)) masked.push(rebase(file, bind.source, bind.dest));
  return { ...base, enforced: true, reason: null, bwrap, binds, masked, hidden, layout: new SandboxLayout(nodes) };
}

/** PATH where the host has none. */
const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The command's PATH inside the sandbox: the host's PATH (in its order) without the directories
 * that would be vault paths there. Inside, `/` is the vault: a host PATH entry such as
 * /root/.cargo/bin names a vault directory, where a program the command wrote earlier would run
 * in place of the one the policy judged (`ls`). Kept are the directories the sandbox binds
 * read-only from the host at their own path (/usr/bin, /usr/local/bin, /bin…), followed through
 * symlinks as the kernel will inside (merged /bin → usr/bin is kept; a link from /usr out to a
 * vault path is not).
 */
export function sandboxSearchPath(plan: SandboxPlan, hostPath = process.env.PATH ?? ''): string {
  const keep = (entries: string[]) => [...new Set(entries.filter((dir) => dir.startsWith('/') && readOnlyInside(plan, dir)))];
  const kept = keep(hostPath.split(delimiter));
  return (kept.length > 0 ? kept : keep(DEFAULT_SEARCH_PATH.split(delimiter))).join(delimiter);
}

/** Whether `path` resolves, inside the sandbox, to a directory bound read-only from the host, through nothing the command can change. */
function readOnlyInside(plan: SandboxPlan, path: string): boolean {
  const at = walkPath(path, (next) => {
    // The innermost bind over `next` decides what it is inside; a system directory that is a host symlink is recreated as the same symlink.
    const bind = plan.binds.filter((b) => isWithin(next, b.dest)).sort((a, b) => b.dest.length - a.dest.length)[0];
    const systemLink = SYSTEM_DIRS.includes(next) && plan.layout?.get(next)?.kind === 'symlink';
    if (!systemLink && (!bind || bind.writable || bind.source !== bind.dest)) return null;
    const st = lstatSync(next, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) return { link: readlinkSync(next) };
    return st?.isDirectory() ? 'dir' : null;
  });
  return at !== null && at !== '/';
}

/**
 * Whether a plan made again differs from `plan` only in what it hides: a host secret or one of
 * avfs's directories came or went since (the same binds, so the same layout inside).
 */
export function onlyHidingChanged(plan: SandboxPlan, fresh: SandboxPlan): boolean {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return plan.enforced && fresh.enforced && same(plan.binds, fresh.binds) && !same([plan.masked, plan.hidden], [fresh.masked, fresh.hidden]);
}

/** The same plan, unsandboxed, for `reason` (auto mode on a machine that cannot sandbox). */
export function withoutSandbox(plan: SandboxPlan, reason: string): SandboxPlan {
  return { ...plan, enforced: false, reason, bwrap: null, binds: [], masked: [], hidden: [], layout: null };
}

/** Why bubblewrap cannot work here at all (not Linux), else null. */
function unavailableReason(): string | null {
  if (process.platform !== 'linux') return `bubblewrap sandboxes need Linux namespaces (this is ${process.platform})`;
  return null;
}

/** With the host network, name resolution must work: /etc/resolv.conf may point outside /etc (systemd-resolved). */
function resolverBinds(): Bind[] {
  try {
    if (!lstatSync('/etc/resolv.conf').isSymbolicLink()) return [];
    const real = realpathSync('/etc/resolv.conf');
    return SYSTEM_DIRS.some((d) => isWithin(real, d)) ? [] : [{ source: real, dest: real, writable: false }];
  } catch {
    return [];
  }
}

/**
 * What is wrong with a bind destination, or null: a path escaping the root, the root itself, or
 * the sandbox's own /proc and /dev. The policy schema asks this when a policy is stored, so
 * `proxy policy set` refuses what every run would refuse.
 */
export function bindDestinationProblem(dest: string): string | null {
  let path: string;
  try {
    path = normalizePath(dest);
  } catch (err) {
    return err instanceof AvfsError ? err.message : String(err);
  }
  return path === '/' || FRESH_DIRS.some((d) => d !== '/tmp' && isWithin(path, d)) ? `sandbox bind destination ${path} is reserved (/, /proc, /dev)` : null;
}

/**
 * The first bind (of those to be made) whose destination lies inside a host system directory at
 * a path this host does not have, and why: that directory is bound read-only first, so
 * bubblewrap cannot make the mountpoint, and every run failed SANDBOX_UNAVAILABLE. A destination
 * inside another of the binds is judged by that bind's source instead (it holds the mountpoint,
 * or bubblewrap cannot make it there either). A fact of this host, not of the policy (another host
 * may have the paths): asked by `proxy policy set` and by each run (planSandbox) of the binds whose
 * sources exist, not by the schema, so a stored policy stays readable where a path is missing.
 */
export function bindMountpointProblem(binds: ReadonlyArray<{ source: string; dest: string }>): { dest: string; problem: string } | null {
  for (const { dest } of binds) {
    const system = SYSTEM_DIRS.find((d) => dest !== d && isWithin(dest, d));
    if (!system) continue;
    // The innermost other bind holding it, else the host.
    const holder = binds.filter((b) => b.dest !== dest && isWithin(dest, b.dest)).sort((a, b) => b.dest.length - a.dest.length)[0];
    const onHost = holder ? rebase(dest, holder.dest, holder.source) : dest;
    if (existsSync(onHost)) continue;
    const where = holder ? `the bind at ${holder.dest} shows ${holder.source}, which has no ${onHost}` : `this host has no ${dest}`;
    return { dest, problem: `sandbox bind destination ${dest} is inside the host's ${system}, which the sandbox shows read-only, and ${where} to mount on: choose a destination outside the system directories (e.g. /opt/…) or one that exists` };
  }
  return null;
}

/** A policy bind, checked: absolute paths, a source that exists (or `optional`), a destination bubblewrap can mount on. */
function checkBind(b: SandboxRequest['binds'][number], own: string[]): Bind | null {
  if (!b.source.startsWith('/')) throw new AvfsError('INVALID_ARGUMENT', `sandbox bind source must be an absolute host path: ${b.source}`, { source: b.source });
  const given = normalizePath(b.source);
  const dest = normalizePath(b.dest ?? b.source);
  const problem = bindDestinationProblem(dest);
  if (problem) throw new AvfsError('INVALID_ARGUMENT', problem, { dest });
  if (!existsSync(given)) {
    if (b.optional) return null;
    throw new AvfsError('NOT_FOUND', `sandbox bind source does not exist on the host: ${given} (mark it "optional": true to skip it)`, { source: given });
  }
  // Checked and bound by its real path: bubblewrap follows symlinks, so a source through a link
  // (one a command may have planted under a writable bind) would reach what the check never saw.
  const source = realpathSync(given);
  const inside = own.find((dir) => isWithin(source, dir)) ?? ownByIdentity(source, own);
  if (inside) throw new AvfsError('INVALID_ARGUMENT', `sandbox bind source ${given} is avfs's own state (${inside}): it would show the command other vaults`, { source: given });
  return { source, dest, writable: !!b.writable };
}

/**
 * The directory of `own` that `source` or one of its parents is by identity (device and inode)
 * under another path: a bind mount of the home elsewhere (`mount --bind ~/.avfs /srv/x`) names
 * the same directory, which a comparison of paths does not see.
 */
function ownByIdentity(source: string, own: string[]): string | undefined {
  const ids = new Map<string, string>();
  for (const dir of own) {
    // A mount whose server died answers ENOTCONN: it has no identity to compare, and `source`,
    // whose real path was found, lies under no such directory.
    const st = statQuietly(dir);
    if (st) ids.set(`${st.dev}:${st.ino}`, dir);
  }
  for (let path = source; ; path = dirname(path)) {
    const st = statSync(path, { throwIfNoEntry: false });
    const dir = st && ids.get(`${st.dev}:${st.ino}`);
    if (dir) return dir;
    if (path === '/') return undefined;
  }
}

export interface BwrapOptions {
  /** The host directory that becomes `/`. */
  root: string;
  /** Working directory inside the sandbox (a vault path). */
  cwd: string;
  /** File descriptor bwrap reports the child's pid and exit code on (null: none). */
  statusFd: number | null;
  /** File descriptor bwrap reads the seccomp filter from (seccomp.ts; null: none). */
  seccompFd?: number | null;
  /** File descriptor bwrap reads more arguments from (the command's environment: launch.ts; null: none). */
  argsFd?: number | null;
}

/** Host kernel controls under /proc that the sandbox's /proc shows read-only. */
const PROC_READ_ONLY = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'];
/**
 * Host kernel state under /proc that the sandbox's /proc shows empty: the kernel lists there the
 * keyrings and keys of the caller's user on the host (names such as `_uid.0`, and what programs
 * named their keys), whatever namespaces the sandbox has. The key calls themselves are refused by
 * the seccomp filter (seccomp.ts).
 */
const PROC_EMPTIED = ['/proc/keys', '/proc/key-users'];

/**
 * The memory of bubblewrap's init (pid 1 inside, which sets the sandbox up and then waits for the
 * command), shown read-only and empty. It runs as the command's user and holds the descriptor
 * through which it reports the exit status outside: a process that wrote code into it through
 * /proc/1/mem made it report a status of its choosing (the seccomp filter refuses ptrace,
 * process_vm_writev and pidfd_getfd, the other ways in; seccomp.ts).
 */
const INIT_MEMORY = ['/proc/1/mem', '/proc/1/task/1/mem'];

/**
 * The directories the layout makes only to hold a bind's mountpoint (`/opt` above a bind at
 * `/opt/tool`), parents first: no vault path, so each is bound onto itself read-only, as the
 * mount's view already answers it (EROFS). In copy mode they are directories of the copy, and root
 * inside owns them: it could chmod one and write there (what it wrote was never imported nor
 * reported, a file moved there was gone from the vault) or rename it (imported as a new tree).
 */
function bindHolders(binds: readonly Bind[]): string[] {
  const mounted = [...FRESH_DIRS, ...binds.map((b) => b.dest)];
  const holders = new Set<string>();
  for (const bind of binds) {
    if (bind.system) continue;
    for (const dir of ancestors(bind.dest)) if (dir !== '/' && !mounted.some((m) => isWithin(dir, m))) holders.add(dir);
  }
  return [...holders].sort();
}

/** bubblewrap's arguments (everything before the command). */
export function bwrapArgs(plan: SandboxPlan, o: BwrapOptions): string[] {
  // A new session always: nothing inside may push input into the caller's terminal (TIOCSTI).
  const args = ['--die-with-parent', '--new-session', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--hostname', 'avfs'];
  if (plan.network === 'none') args.push('--unshare-net');
  // As root bubblewrap keeps every capability unless told. A user namespace of its own too (where
  // the kernel allows one), so that root inside shares nothing keyed by the host's user namespace
  // (root's keyrings); elsewhere bubblewrap needs one to run at all.
  if (process.getuid?.() === 0) args.push('--unshare-user-try', '--cap-drop', 'ALL');
  else args.push('--unshare-user');
  args.push(plan.readOnly ? '--ro-bind' : '--bind', o.root, '/');
  for (const b of plan.binds.filter((b) => b.system)) args.push('--ro-bind', b.source, b.dest);
  args.push('--proc', '/proc');
  // Root without capabilities still passes the owner-write check of the kernel's settings under
  // /proc/sys (core_pattern runs a program as host root) and of /proc/sysrq-trigger; bubblewrap
  // covers them only when its own check says they are writable, which it does not as capless
  // root. Cover them read-only here, always (ARCHITECTURE.md, "The sandbox").
  for (const p of PROC_READ_ONLY) args.push('--ro-bind-try', p, p);
  for (const p of PROC_EMPTIED) if (existsSync(p)) args.push('--ro-bind', '/dev/null', p);
  for (const p of INIT_MEMORY) args.push('--ro-bind', '/dev/null', p);
  args.push('--dev', '/dev', '--tmpfs', '/tmp');
  for (const dir of bindHolders(plan.binds)) args.push('--ro-bind', join(o.root, dir), dir);
  for (const b of plan.binds.filter((b) => !b.system)) args.push(b.writable ? '--bind' : '--ro-bind', b.source, b.dest);
  // After every bind, so that what a bind shows again is covered too.
  for (const f of plan.masked) args.push('--ro-bind', '/dev/null', f);
  for (const d of plan.hidden) args.push('--tmpfs', d);
  args.push('--chdir', o.cwd);
  if (o.statusFd !== null) args.push('--json-status-fd', String(o.statusFd));
  if (o.seccompFd != null) args.push('--seccomp', String(o.seccompFd));
  if (o.argsFd != null) args.push('--args', String(o.argsFd));
  return args;
}

/**
 * Whether bubblewrap can create this plan's namespaces here at all (a locked-down container may
 * forbid them): a sandbox of the host's root that runs `true`. Used only after a sandbox failed to
 * start, to tell "this machine cannot sandbox" from "this sandbox is wrong" (a bad bind).
 */
export async function namespacesWork(plan: SandboxPlan): Promise<boolean> {
  if (!plan.bwrap) return false;
  const args = bwrapArgs({ ...plan, binds: [], masked: [], hidden: [] }, { root: '/', cwd: '/', statusFd: null });
  return new Promise((resolve) => {
    const child = spawn(plan.bwrap!, [...args, 'true'], { stdio: 'ignore', timeout: 10_000 });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** The `sandbox` field of a result: what was enforced, and how. */
/** What a run's sandbox enforced (README "Boundary"); `limits` is keyed by the policy's limit names. */
export interface SandboxReport {
  enforced: boolean;
  /** Why the sandbox is not enforced (null when it is). */
  reason: string | null;
  network: NetworkMode;
  binds: Array<{ source: string; dest: string; writable: boolean }>;
  masked: string[];
  /** Vault top-level names the sandbox layout takes over. */
  reserved: string[];
  readOnly: boolean;
  limits: LimitsReport;
}

export function describeSandbox(plan: SandboxPlan, limits: SandboxReport['limits']): SandboxReport {
  return {
    enforced: plan.enforced,
    reason: plan.reason,
    network: plan.enforced ? plan.network : 'host',
    binds: plan.binds.map((b) => ({ source: b.source, dest: b.dest, writable: b.writable })),
    masked: [...plan.masked, ...plan.hidden],
    reserved: plan.layout?.topNames.map((n) => `/${n}`) ?? [],
    readOnly: plan.readOnly,
    limits,
  };
}
