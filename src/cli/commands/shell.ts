import { Command } from 'commander';
import { z } from 'zod/v3';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { SYSTEM_DIRS } from '../../proxy/sandbox.js';
import { execJson, runExec } from '../../api/exec.js';
import { action, examples, EXIT_CODE } from '../command.js';
import { BOUNDARY, renderRun, sandboxOptions, sandboxRequestOf, zMs, zSandboxOptions } from '../boundary.js';

/**
 * `avfs shell [vault]`: your shell inside the same sandbox `proxy exec` uses, on your terminal,
 * with the vault as `/`. Everything typed runs under the same rules (no host, no network unless
 * --network host, nothing outlives it, limits); when the shell exits, avfs prints what changed
 * (with --json, the same document as `proxy exec`, without captured output). The shell is
 * $SHELL when the sandbox can see it (a host system directory), else /bin/sh.
 */

/** $SHELL if it lives in a host system directory the sandbox shows, else /bin/sh. */
function shellProgram(): string {
  const shell = process.env.SHELL;
  if (shell && isAbsolute(shell) && SYSTEM_DIRS.some((d) => shell.startsWith(d + '/'))) return shell;
  return '/bin/sh';
}

/** util-linux `script`, which the sandbox sees in /usr/bin. */
const SCRIPT = '/usr/bin/script';

/**
 * The shell runs in the sandbox's own session (bubblewrap --new-session: nothing inside can push
 * keystrokes into your terminal), so it gets a terminal of its own there: `script` opens a pty
 * inside the sandbox, gives it to the shell as its controlling terminal (job control, Ctrl-C and
 * Ctrl-Z work) and relays it to yours. Without `script`, or without a terminal, the shell runs
 * on avfs's input directly, without job control.
 */
function shellArgv(): string[] {
  const shell = shellProgram();
  // Input that is no terminal (a pipe, a file, /dev/null) is read by the shell itself, which ends
  // at its end; `script` relays no end of input to its terminal, and the session never ended.
  return existsSync(SCRIPT) && process.stdin.isTTY ? [SCRIPT, '-qec', shell, '/dev/null'] : [shell];
}

export const shellCommand = sandboxOptions(
  new Command('shell')
    .summary('open your shell inside the proxy sandbox')
    .description('open your shell inside the proxy sandbox, with the vault as / (a terminal session; the change report is printed when it exits)')
    .argument('[vault]', 'the vault (default: --vault, $AVFS_VAULT, or the one in use)')
    .option('--cwd <path>', 'start in this vault directory', '/')
    .option('--timeout <ms>', 'end the shell after this long (ms, or 30m/8h; default: no limit)')
    .option('--checkpoint', 'checkpoint the vault first, so `proxy undo <exec_id>` can put back everything the session changed'),
)
  .addHelpText('after', `${BOUNDARY}\n` + examples(['avfs shell', 'avfs shell agent-1 --network host', 'avfs shell --checkpoint --cwd /src']))
  .action(
    action({
      options: z
        .object({ cwd: z.string().optional(), timeout: zMs.pipe(z.number().min(1)).optional(), checkpoint: z.boolean().optional() })
        .merge(zSandboxOptions),
      run: async ([vault], opts, ctx) => {
        if (vault !== undefined) ctx.refuseVaultOptionWith('shell', `to open it give shell ${ctx.globals.vault}`, 'names its vault itself ([vault])');
        const result = await runExec(ctx.store, vault ?? ctx.vaultName(), {
          argv: shellArgv(),
          cwd: opts.cwd,
          timeoutMs: opts.timeout,
          checkpoint: opts.checkpoint ?? false,
          interactive: true,
          // With --json, stdout is for the one document: the session goes to the terminal through stderr.
          terminalOnStderr: ctx.globals.json,
          ...sandboxRequestOf(opts),
          // Said before the session, where it still matters: this shell is on the host.
          onStart: ({ sandboxed, reason, mountpoint }) => {
            if (!sandboxed) ctx.out.warn(`this shell runs WITHOUT the sandbox (${reason}): the vault is ${mountpoint}, your working directory, and the rest of this machine is reachable as you`);
          },
        });
        return { ...execJson(result), [EXIT_CODE]: result.exitCode };
      },
      render: (r, out) => renderRun(r, out),
    }),
  );
