import chalk from 'chalk';
import type { Command } from 'commander';
import { z } from 'zod/v3';
import { parseDuration, parseWholeNumber } from '../core/units.js';
import { AvfsError } from '../errors.js';
import { MAX_TIMER_MS, parsedBy, zSize } from './command.js';
import type { ChangedFileJson, ExecJson, ExecRequest } from '../api/exec.js';
import { printable, type Output } from './output.js';

/**
 * What `proxy exec` and `shell` share on the command line: the sandbox options, their parsing,
 * the boundary's description for --help, and how a run is shown to a person.
 */

/** parseDuration, whose message also names the bare milliseconds these options take (`--timeout 1e3` said only "a number with a unit"). */
function durationOrMs(v: string): number {
  try {
    return parseDuration(v);
  } catch (err) {
    if (err instanceof AvfsError && err.data.reason === 'not_a_duration') {
      throw new AvfsError('INVALID_ARGUMENT', `invalid duration ${JSON.stringify(v)}: expected milliseconds (30000) or a number with a unit (30s, 5m, 2h)`, { value: v });
    }
    throw err;
  }
}

/** `--timeout 5000` (milliseconds) or with a unit: `30s`, `5m`; at most what a timer can hold. */
export const zMs = parsedBy((v) => {
  const ms = /^\s*\d+\s*$/.test(v) ? parseWholeNumber(v) : durationOrMs(v);
  if (ms > MAX_TIMER_MS) throw new AvfsError('INVALID_ARGUMENT', `${v.trim()} is longer than the longest timer, ${MAX_TIMER_MS} ms (about 24.8 days)`);
  return ms;
});

/** A limit: a positive value, or `none`. */
const limit = (value: ReturnType<typeof parsedBy>) => z.union([z.literal('none').transform(() => null), value.pipe(z.number().min(1))]);

/**
 * The boundary in plain words (README "Boundary" says the same at length): what `proxy exec` and
 * `shell` enforce, and what they do not.
 */
export const BOUNDARY = `
Boundary: the command runs in a bubblewrap sandbox whose root directory / is the vault (vault
paths are the command's own paths: \`proxy exec -- python3 /src/main.py\` runs the vault's
/src/main.py). Enforced by the kernel, not by reading the command line:
  - it sees the vault and nothing else of the host: the host's /usr, /bin, /lib*, /sbin and /etc
    are there read-only (with /etc/shadow and other secrets hidden), /proc, a minimal /dev and /tmp
    are its own; not your home, not the avfs home (so no policy changes, no checkpoint deletion,
    no imports of host files from inside), not other mounts, not the host's /tmp;
  - every change it makes lands in the vault as a version tagged with its exec id (a symlink to a
    host path resolves inside the sandbox, so it cannot send writes to the host);
  - no network unless --network host (or the policy's sandbox.network);
  - nothing outlives the call: its own PID namespace ends with the command (background jobs,
    setsid, daemons included), and the sandbox dies with avfs (kill -9 of avfs takes it along);
  - no capabilities, no new privileges; limits on wall time, processes and memory (a cgroup of its
    own, where one can be created) and file size (RLIMIT_FSIZE); the JSON says which were enforced.
Reserved names: the vault's top-level /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc /proc /dev
/tmp (those the host has), the destinations of the policy's binds (and, with --network host, the
target of an /etc/resolv.conf symlink out of /etc) are the sandbox's: vault entries with those
names are not visible inside (they stay in the vault, untouched).
Not enforced: reads of the host's system directories; the kernel's attack surface (the seccomp
filter refuses only the keyring calls and new user namespaces); with --network host, anything
the network reaches (no egress allowlist); CPU time (only wall time); writes through a bind the
policy makes writable. The policy is a first, explainable gate that reads the command line
(advisory); the sandbox is the boundary. Where bubblewrap or user
namespaces are missing, --sandbox auto (the default) runs unsandboxed with sandbox.enforced false,
the reason, and a warning; --sandbox required refuses (SANDBOX_UNAVAILABLE).`;

/** Adds the sandbox options to a command. */
export function sandboxOptions(cmd: Command): Command {
  return cmd
    .option('--sandbox <mode>', 'auto (sandbox where bubblewrap works, else run unsandboxed and say so) or required (refuse without it); the policy may require it already')
    .option('--network <mode>', 'none (the default: no network inside) or host (the host network)')
    .option('--max-processes <n>', 'at most this many processes of the command at once (a cgroup pids.max, the sandbox\'s own two on top; default from the policy, 4096; none for no limit)')
    .option('--max-file-size <bytes>', 'no file written larger than this (RLIMIT_FSIZE, e.g. 100MiB; none for no limit)')
    .option('--memory <bytes>', "memory limit for all its processes, the sandbox's /tmp included (a cgroup, e.g. 2GiB; default from the policy, half the machine's memory; none for no limit)");
}

export const zSandboxOptions = z.object({
  sandbox: z.enum(['auto', 'required']).optional(),
  network: z.enum(['none', 'host']).optional(),
  maxProcesses: limit(parsedBy((v) => parseWholeNumber(v))).optional(),
  maxFileSize: limit(zSize).optional(),
  memory: limit(zSize).optional(),
});

export function sandboxRequestOf(opts: z.output<typeof zSandboxOptions>): Pick<ExecRequest, 'sandbox' | 'network' | 'maxProcesses' | 'maxFileSize' | 'memory'> {
  return { sandbox: opts.sandbox, network: opts.network, maxProcesses: opts.maxProcesses, maxFileSize: opts.maxFileSize, memory: opts.memory };
}

/** Says on stderr (for people) when a run was not sandboxed; the JSON says it too. */
export function warnIfUnsandboxed(r: { sandbox: { enforced: boolean; reason: string | null } }, out: Output): void {
  if (!r.sandbox.enforced) out.warn(`the command ran WITHOUT the sandbox: ${r.sandbox.reason}`);
}

export function renderChanges(changes: ChangedFileJson[], out: Output): void {
  const mark = { added: chalk.green('+'), modified: chalk.yellow('~'), deleted: chalk.red('-') };
  for (const c of changes) {
    const extra =
      c.kind === 'modified' && c.mode_before !== c.mode_after && c.hash === c.hash_before && !c.type_before
        ? ` (mode ${c.mode_before} → ${c.mode_after})`
        : c.type === 'symlink' && c.target
          ? ` -> ${printable(c.target)}`
          : '';
    out.info(`  ${mark[c.kind]} ${printable(c.path)}${c.type === 'directory' ? '/' : ''}${extra}`);
  }
}

/** The summary line of a run, its limits hit, and its changes (stderr). */
export function renderRun(r: ExecJson, out: Output): void {
  const status = r.timed_out ? chalk.red(`timed out (exit ${r.exit_code})`) : r.exit_code === 0 ? chalk.green('exit 0') : chalk.red(`exit ${r.exit_code}`);
  const bits = [status, `${Math.round(r.duration_ms)} ms`, `${r.mode} mode${r.mode_reason ? ` (${r.mode_reason})` : ''}`];
  bits.push(r.sandbox.enforced ? `sandboxed (network ${r.sandbox.network})` : chalk.yellow('not sandboxed'));
  if (r.checkpoint) bits.push(`checkpoint ${r.checkpoint}`);
  if (r.truncated) bits.push('output truncated');
  bits.push(`${r.changed_files.length} changed`, `exec ${r.exec_id}`);
  // The command's own output came first and may have left colours set (a red line never reset):
  // reset them, so the summary reads as ours. Plain stderr drops it with every other colour code.
  // It may also have left the terminal inside an escape string (an OSC title never ended) that
  // would swallow the summary and the changes, and show a forged line instead: on a terminal, with
  // colour or not, a string terminator (ST, shown as nothing) ends any such string first.
  const terminator = process.stderr.isTTY ? '\x1b\\' : '';
  out.info(terminator + '\x1b[0m' + chalk.dim('avfs: ') + bits.join(chalk.dim(' · ')));
  for (const v of r.violations) out.info(chalk.red(`  limit ${v.limit} (${v.value ?? 'none'}): ${v.detail}`));
  renderChanges(r.changed_files, out);
}
