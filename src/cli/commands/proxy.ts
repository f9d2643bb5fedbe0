import { Command } from 'commander';
import chalk from 'chalk';
import { closeSync, constants as fsConstants, fstatSync, openSync } from 'node:fs';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { readFully } from '../../store/fd-io.js';
import { namedVault } from '../../store/vaults.js';
import { DEFAULT_RULES } from '../../proxy/default-policy.js';
import { loadPolicy, savePolicy } from '../../proxy/policy-source.js';
import { proxyExecJson, runExec, undoExec, undoJson, type ExecRequest } from '../../api/exec.js';
import { policyCheck, policyCheckJson, policyInfo } from '../../api/policy.js';
import { action, examples, EXIT_CODE, zSize } from '../command.js';
import { BOUNDARY, renderChanges, renderRun, sandboxOptions, sandboxRequestOf, warnIfUnsandboxed, zMs, zSandboxOptions } from '../boundary.js';
import { printable, type Output } from '../output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--env KEY=VALUE`, repeatable. */
const zEnv = z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'expected KEY=VALUE (KEY: letters, digits and _, not starting with a digit)')).optional();
const envOf = (pairs: string[] | undefined): Record<string, string> => Object.fromEntries((pairs ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

/** The variadic `[command...]` argument arrives as one array; flatten it to the argv. */
const argvOf = (args: unknown[]): string[] => (args as (string | string[])[]).flat();

function requestOf(args: unknown[], opts: { shell?: string; cwd?: string }, command = 'proxy exec'): Pick<ExecRequest, 'argv' | 'shell' | 'cwd'> {
  const argv = argvOf(args);
  if (opts.shell !== undefined && argv.length > 0) throw new AvfsError('USAGE', 'give the command either after -- or with --shell, not both');
  if (opts.shell === undefined && argv.length === 0) {
    throw new AvfsError('USAGE', `no command: avfs ${command} [options] -- <cmd> [args…], or --shell "<string>"`);
  }
  return opts.shell !== undefined ? { shell: opts.shell, cwd: opts.cwd } : { argv, cwd: opts.cwd };
}

/** Mounts the vault on a host directory for the length of a run (--mountpoint), to watch from outside. */
async function watchMount(home: string, vault: string, dir: string): Promise<{ dir: string; unmount: () => Promise<void> }> {
  const { mountVault, unmountDir } = await import('../../mount/index.js');
  const session = await mountVault({ home, vault, dir });
  return { dir: session.dir, unmount: async () => void (await unmountDir({ home, dir: session.dir, lazy: true })) };
}

const exec = new Command('exec')
  .summary('run a command in the sandbox; report what it changed')
  .description('run a command in the sandbox where the vault is its root: policy check, optional checkpoint, limits, exact report of changed files')
  .usage('[options] -- <cmd> [args…]   |   [options] --shell "<string>"')
  .argument('[command...]', 'the command and its arguments, after --')
  .option('--shell <string>', 'run a shell command line with /bin/sh -c instead of an argv')
  .option('--cwd <path>', 'working directory inside the vault', '/')
  .option('--timeout <ms>', 'kill the command after this long (ms, or 30s/5m; 0 for no timeout; default from the policy, 300000)')
  .option('--kill-after <ms>', 'grace between the first signal (SIGTERM, or the SIGINT or SIGHUP avfs got, then SIGTERM halfway) and SIGKILL to the command\'s processes (default from the policy, 2000)')
  .option('--checkpoint', 'checkpoint the vault before running, whatever the policy says (makes it undoable)')
  .option('--no-checkpoint', 'do not checkpoint even when the policy asks for one')
  .option('--approve', 'run a command the policy marks require_approval')
  .option('--stdin', "pass avfs's stdin to the command (otherwise it reads /dev/null)")
  .option('--mode <mode>', 'auto (mount if possible, else copy), mount, or copy', 'auto')
  .option('--max-output <bytes>', 'keep at most this much of stdout and of stderr each (default from the policy, 1 MiB; at most 128 MiB, what one JSON document carries)')
  .option('--env <KEY=VALUE>', 'set an environment variable for the command (repeatable)', collect)
  .option('--readonly', 'the vault is read-only inside the sandbox: the command reads it and changes nothing (needs the sandbox)')
  .option('--mountpoint <dir>', 'also mount the vault on this empty host directory while the command runs, to watch it from outside')
  .option('--keep-mount', 'with --mountpoint: leave that mount in place afterwards (avfs unmount <dir> ends it)');
sandboxOptions(exec)
  .addHelpText(
    'after',
    `${BOUNDARY}

Flow: resolve vault → plan the sandbox → evaluate policy → audit → refuse (exit 5, DENIED) or
checkpoint if asked → a view of the vault (mount) or a copy → run in the sandbox (on timeout
SIGTERM to its processes, SIGKILL after --kill-after; exit 124) → nothing of it outlives the call
→ import the copy → change report → audit.

JSON fields: ok, vault, exec_id, command, argv, shell, cwd, mode ("mount"|"copy"), mode_reason,
mountpoint (the host directory that is the sandbox's /), decision {action, categories, rule,
reason}, approved, checkpoint, sandbox {enforced, reason, network, binds, masked, reserved,
limits {timeout_ms, max_processes, max_file_size, memory: {value, enforced_by, reason?}}},
violations [{kind "limit", limit, value, detail}], exit_code, signal,
timed_out, duration_ms, stdout, stderr, stdout_encoding/stderr_encoding ("utf8"|"base64": base64 for
output that is not UTF-8 text, or whose JSON escapes would be longer than its base64 at the cap),
stdout_bytes/stderr_bytes (total produced), truncated (either stream cut at the cap),
changed_files [{path, kind added|modified|deleted, type, size_before, size_after, hash_before,
hash, mode_before, mode_after, target_before?, target?, versions}], skipped (copy mode: paths the
copy could not read back, such as a directory the command made unlistable), leftover_processes
(killed after the command ended; in a sandbox the kernel also ends them with the command's PID
namespace, and one it ended before avfs looked is not counted), survivors (processes still alive after SIGKILL: always empty
unless one is stuck in the kernel).
A rename is reported as deleted (old path) + added (new path); times alone are not a change.
ok is true whenever the command ran, whatever its exit code: avfs exits with the command's exit
code (124 on timeout, 127 when the program is not found). ok is false when avfs refused or failed:
error.code DENIED (exit 5, nothing ran), USAGE, NOT_FOUND, FUSE_UNAVAILABLE (--mode mount),
SANDBOX_UNAVAILABLE (--sandbox required, or a sandbox that cannot start), …

Environment: what the policy passes (PATH, HOME, LANG, LC_*, … see \`proxy policy show\`), its
\`env.set\`, --env, and AVFS_VAULT, AVFS_MOUNTPOINT (/ in the sandbox), AVFS_EXEC_ID (and
AVFS_HOME when unsandboxed). In the sandbox HOME and TMPDIR are /tmp unless set. Copy mode copies
to /dev/shm when it has room (else the system temp directory); AVFS_PROXY_TMPDIR picks the place.
` +
      examples([
        'avfs proxy exec -- ls -la',
        'avfs proxy exec --json --cwd /src -- npm test',
        'avfs proxy exec --shell "make && make test" --timeout 10m',
        'avfs proxy exec --checkpoint -- python3 migrate.py',
        'avfs proxy exec --approve -- git push origin main',
        'avfs proxy exec -- python3 /src/main.py',
        'avfs proxy exec --network host --timeout 10m -- npm install',
        'avfs proxy exec --sandbox required --max-processes 256 --memory 2GiB -- make -j8',
      ]),
  )
  .action(
    action({
      options: z.object({
        shell: z.string().optional(),
        cwd: z.string().optional(),
        timeout: zMs.optional(),
        killAfter: zMs.optional(),
        checkpoint: z.boolean().optional(),
        approve: z.boolean().optional(),
        stdin: z.boolean().optional(),
        mode: z.enum(['auto', 'mount', 'copy']),
        maxOutput: zSize.optional(),
        env: zEnv,
        readonly: z.boolean().optional(),
        mountpoint: z.string().min(1).optional(),
        keepMount: z.boolean().optional(),
      }).merge(zSandboxOptions),
      run: async (args, opts, ctx) => {
        const env = envOf(opts.env);
        if (opts.keepMount && !opts.mountpoint) throw new AvfsError('USAGE', '--keep-mount needs --mountpoint <dir>');
        const watch = opts.mountpoint ? await watchMount(ctx.store.home, ctx.vaultName(), opts.mountpoint) : null;
        let result;
        try {
          result = await runExec(ctx.store, ctx.vaultName(), {
          ...requestOf(args, opts),
          timeoutMs: opts.timeout,
          killAfterMs: opts.killAfter,
          maxOutputBytes: opts.maxOutput,
          checkpoint: opts.checkpoint,
          approve: opts.approve,
          stdin: opts.stdin,
          mode: opts.mode,
          env,
          readOnly: opts.readonly,
          ...sandboxRequestOf(opts),
          });
        } catch (err) {
          // The views server was killed under the run: the command's output is in the error, which
          // --json prints whole; on the terminal it is shown as a run's is, before the error line.
          if (err instanceof AvfsError && err.data.reason === 'views_server_stopped' && !ctx.out.json) showOutput(err.data, ctx.out);
          throw err;
        } finally {
          if (watch && !opts.keepMount) await watch.unmount();
        }
        warnIfUnsandboxed(result, ctx.out);
        return {
          ...proxyExecJson(result),
          ...(watch ? { mountpoint: watch.dir, mount_kept: !!opts.keepMount } : {}),
          [EXIT_CODE]: result.exitCode,
        };
      },
      render: (r, out) => {
        const { stdout, stderr } = showOutput(r, out);
        // On a terminal, the summary starts on a line of its own even when the command's output
        // did not end one (printf without \n).
        const lastOnTerminal = stderr ?? (process.stdout.isTTY ? stdout : null);
        if (process.stderr.isTTY && lastOnTerminal && lastOnTerminal.at(-1) !== 0x0a) process.stderr.write('\n');
        renderRun(r, out);
      },
    }),
  );

const undo = new Command('undo')
  .summary('put back what an exec changed')
  .description(
    'put back what an exec changed, path by path, as it was before the exec (needs the checkpoint taken before it: --checkpoint, or a policy that asked for one). ' +
      'Nothing the exec did not change is touched. Refused with CONFLICT, naming the paths, when someone else changed one of those paths since, unless --force',
  )
  .argument('<exec_id>', 'the exec_id that proxy exec reported')
  .option('-f, --force', 'put the exec\'s paths back even if later changes by others to them are discarded')
  .addHelpText('after', examples(['avfs proxy undo ex-m3k2a9-1f2e3d4c', 'avfs proxy undo ex-m3k2a9-1f2e3d4c --force --json']))
  .action(
    action({
      options: z.object({ force: z.boolean().optional() }),
      run: async ([execId], opts, ctx) => {
        return undoJson(await undoExec(ctx.store, execId!, { force: !!opts.force, vault: namedVault(ctx.globals.vault) }));
      },
      render: (r, out) => {
        const discarded = r.discarded_changes ? `; discarded ${r.discarded_changes} later change(s) by others` : '';
        out.info(`undid exec ${r.exec_id} in ${r.vault}: ${r.changed_files.length} path(s) put back${discarded}`);
        if (r.running) out.warn(`exec ${r.exec_id} is still running: what it writes from now on stays until you undo it again once it ends`);
        renderChanges(r.changed_files, out);
      },
    }),
  );

// ---- policy ----------------------------------------------------------------------------------

const show = new Command('show')
  .summary('print the effective policy, defaults filled in')
  .description('print the effective policy of the vault (its own, else the home\'s policy.json, else the built-in default) with every default filled in')
  .option('--builtin', 'also list the built-in rules that run after the policy\'s own')
  .addHelpText('after', examples(['avfs proxy policy show', 'avfs proxy policy show --builtin --json']))
  .action(
    action({
      options: z.object({ builtin: z.boolean().optional() }),
      run: (_args, opts, ctx) => {
        const info = policyInfo(ctx.store, ctx.vaultName());
        return {
          ...info,
          ...(opts.builtin ? { builtin_rules: info.policy.extends === 'default' ? DEFAULT_RULES : [] } : {}),
        };
      },
      render: (r, out) => {
        out.info(`policy of vault ${r.vault}: ${r.source === 'default' ? 'the built-in default' : r.source === 'home' ? 'the home policy.json' : 'its own'}`);
        out.data(JSON.stringify(r.builtin_rules ? { ...r.policy, builtin_rules: r.builtin_rules } : r.policy, null, 2) + '\n');
      },
    }),
  );

const set = new Command('set')
  .summary('validate a policy JSON file and store it')
  .description('validate a policy JSON file (- for stdin) and store it for the vault (or with --scope home, as <home>/policy.json for every vault without its own)')
  .argument('<file>', 'policy JSON file, or - for stdin')
  .option('--scope <scope>', 'vault or home', 'vault')
  .addHelpText(
    'after',
    `
Policy format (every field optional):
  {"extends": "default", "default_action": "allow", "timeout_ms": 300000, "kill_after_ms": 2000,
   "max_output_bytes": 1048576, "auto_checkpoint": false,
   "host_paths": {"action": "deny", "allow": ["/dev/null"]},
   "env": {"pass": ["PATH", "HOME", "LC_*"], "set": {"CI": "1"}},
   "rules": [{"name": "no-publish", "program": "npm", "subcommand": "publish",
              "args_any": [], "args_all": [], "args_none": [],
              "action": "deny", "categories": ["networked"], "reason": "…"}]}
Actions: allow, allow_with_checkpoint, require_approval (needs --approve), deny.
Categories: read_only, mutating, destructive, networked, host_escape_risk, interactive.
Patterns are globs (*, ?, [ab], {a,b}) or /regex/flags. Your rules run before the built-in ones
(see \`proxy policy show --builtin\`) unless "extends": "none".` +
      examples(['avfs proxy policy set policy.json', 'cat policy.json | avfs proxy policy set - --scope home --json']),
  )
  .action(
    action({
      options: z.object({ scope: z.enum(['vault', 'home']) }),
      run: async ([file], opts, ctx) => {
        const text = file === '-' ? await policyFromStdin() : policyFromFile(file!);
        const vault = ctx.vaultName();
        const policy = savePolicy(ctx.store, opts.scope, vault, text, ctx.actor);
        return { vault, scope: opts.scope, policy };
      },
      render: (r, out) => out.info(r.scope === 'home' ? 'stored the home policy' : `stored the policy of vault ${r.vault}`),
    }),
  );

/** Far above any policy a person writes; what is larger is not one (a log, /dev/zero), and is never read whole. */
const MAX_POLICY_BYTES = 1024 * 1024;

const tooLarge = (what: string) =>
  new AvfsError('INVALID_ARGUMENT', `${what} is larger than a policy can be (${MAX_POLICY_BYTES} bytes)`, { reason: 'too_large', max: MAX_POLICY_BYTES });

async function policyFromStdin(): Promise<string> {
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin) {
    bytes += (chunk as Buffer).length;
    if (bytes > MAX_POLICY_BYTES) throw tooLarge('standard input');
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * A policy file's text: a regular file only (opened without blocking, so a FIFO is refused
 * rather than waited on for ever; a device like /dev/zero is refused rather than read until
 * memory runs out), of at most MAX_POLICY_BYTES.
 */
function policyFromFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new AvfsError('NOT_FOUND', `cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new AvfsError('INVALID_ARGUMENT', `policy file ${file} is not a regular file (pipe it in with \`avfs proxy policy set -\` instead)`, { file, reason: 'not_a_file' });
    }
    if (st.size > MAX_POLICY_BYTES) throw tooLarge(`policy file ${file}`);
    const data = Buffer.alloc(MAX_POLICY_BYTES + 1);
    const n = readFully(fd, data, 0);
    if (n > MAX_POLICY_BYTES) throw tooLarge(`policy file ${file}`);
    return data.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const reset = new Command('reset')
  .summary('remove the vault\'s (or home\'s) own policy')
  .description('remove the vault\'s own policy (or with --scope home, the home policy.json): it falls back to the home policy, then the built-in default')
  .option('--scope <scope>', 'vault or home', 'vault')
  .addHelpText('after', examples(['avfs proxy policy reset', 'avfs proxy policy reset --scope home']))
  .action(
    action({
      options: z.object({ scope: z.enum(['vault', 'home']) }),
      run: (_args, opts, ctx) => {
        const vault = ctx.vaultName();
        savePolicy(ctx.store, opts.scope, vault, null, ctx.actor);
        return { vault, scope: opts.scope, source: loadPolicy(ctx.store, vault).source };
      },
      render: (r, out) => out.info(`removed the ${r.scope} policy; vault ${r.vault} now uses ${r.source === 'default' ? 'the built-in default' : `the ${r.source} policy`}`),
    }),
  );

const check = new Command('check')
  .summary('explain what the policy decides for a command')
  .description('explain what the policy decides for a command, and which rule decided, as `proxy exec` would judge it here (sandboxed or not), without running anything')
  .usage('[options] -- <cmd> [args…]   |   [options] --shell "<string>"')
  .argument('[command...]', 'the command and its arguments, after --')
  .option('--shell <string>', 'judge a shell command line instead of an argv')
  .option('--cwd <path>', 'working directory inside the vault (for .. checks)', '/')
  .option('--approve', 'judge as if --approve were given')
  .option('--env <KEY=VALUE>', 'judge as if the run set this environment variable, as proxy exec --env does (repeatable)', collect)
  .addHelpText('after', examples(['avfs proxy policy check -- rm -rf build', 'avfs proxy policy check --shell "curl -s x | sh" --json', 'avfs proxy policy check --env PATH=:/usr/bin -- ls']))
  .action(
    action({
      options: z.object({ shell: z.string().optional(), cwd: z.string().optional(), approve: z.boolean().optional(), env: zEnv }),
      run: (args, opts, ctx) => policyCheckJson(policyCheck(ctx.store, ctx.vaultName(), { ...requestOf(args, opts, 'proxy policy check'), approve: opts.approve, env: envOf(opts.env) })),
      render: (r, out) => {
        const color = r.decision.action === 'deny' ? chalk.red : r.decision.action === 'require_approval' ? chalk.yellow : chalk.green;
        out.data(`${color(r.decision.action)}  rule ${r.decision.rule}  [${r.decision.categories.join(', ')}]\n${printable(r.decision.reason)}\n`);
        if (r.verdicts.length > 1) {
          for (const v of r.verdicts) out.data(chalk.dim(`  ${v.action.padEnd(21)} ${v.rule.padEnd(22)} ${printable(v.command)}${v.via ? ` (via ${printable(v.via)})` : ''}\n`));
        }
      },
    }),
  );

const policy = new Command('policy')
  .summary('show, set, reset or check the proxy policy')
  .description('show, set, reset or check the proxy policy (zod-validated JSON per vault or per home)')
  .addCommand(show)
  .addCommand(set)
  .addCommand(reset)
  .addCommand(check)
  .addHelpText(
    'after',
    [
      '\nThe policy judges the command line as written. What the shell computes as it runs (a program',
      'or path from a variable or a substitution: "$CMD", $(echo su)do, eval "$X") cannot be read',
      'there and gets the policy\'s default_action (allow in the built-in policy; set it to',
      'require_approval or deny for a strict one); a script piped into a shell is judged by the rule',
      'shell-from-input: a checkpoint under allow, the default_action under a stricter one. The',
      'sandbox, not the policy, is what holds such a command in: see',
      '`avfs proxy --help`.',
      examples(['avfs proxy policy show', 'avfs proxy policy set policy.json', 'avfs proxy policy check -- git push']),
    ].join('\n'),
  );

export const proxyCommand = new Command('proxy')
  .summary('run commands in a sandbox where the vault is /')
  .description('the execution boundary: run commands in a sandbox where the vault is /, with policy, checkpoints, limits and an exact change report')
  .addCommand(exec)
  .addCommand(undo)
  .addCommand(policy)
  .addHelpText('after', BOUNDARY + '\n' + examples(['avfs proxy exec -- make test', 'avfs proxy policy check -- rm -rf /', 'avfs proxy undo <exec_id>']));

/** Writes a run's captured output (a report, or the error of a run whose views server was killed) to stdout and stderr. */
function showOutput(r: { stdout?: unknown; stderr?: unknown; stdout_encoding?: unknown; stderr_encoding?: unknown }, out: Output): { stdout: Buffer | null; stderr: Buffer | null } {
  const bytes = (text: unknown, encoding: unknown) => (typeof text === 'string' && text !== '' ? Buffer.from(text, encoding === 'base64' ? 'base64' : 'utf8') : null);
  const stdout = bytes(r.stdout, r.stdout_encoding);
  const stderr = bytes(r.stderr, r.stderr_encoding);
  if (stdout) out.data(stdout);
  if (stderr) process.stderr.write(stderr);
  return { stdout, stderr };
}
