import { Command } from 'commander';
import { constants as osConstants } from 'node:os';
import { z } from 'zod/v3';
import { AvfsError } from '../../errors.js';
import { globalOptions } from '../context.js';
import { examples } from '../command.js';
import { VERSION } from '../version.js';

const options = z.object({ readOnly: z.boolean().optional(), confine: z.boolean().optional() });

/**
 * `avfs mcp`: the avfs MCP server on stdio, for agent hosts. It does not go through `action()`:
 * the command's output is the protocol on stdout for as long as it serves, never a JSON document.
 */
export const mcpCommand = new Command('mcp')
  .summary('serve avfs as an MCP server on stdin/stdout')
  .description('serve avfs to an agent host as an MCP server on stdin/stdout (tools for vaults, files, search, history, checkpoints and sandboxed exec; files as avfs://<vault>/<path> resources)')
  .option('--read-only', 'serve only the tools that read (ls, read, tree, search, grep, find, log, diff, checkpoint_list, vault_list, vault_info)')
  .option('--confine', "keep the agent to the server's vault and the forks made from it: a call naming another vault is DENIED, vault_create is DENIED, vault_list shows only those vaults")
  .addHelpText(
    'after',
    `
The vault: --vault (a global option) or $AVFS_VAULT, else the vault in use when the server
starts (kept while it serves); each tool call may name another with its "vault" argument
(with --confine, only a fork of it: forks inherit the vault's policy and quota, other vaults do
not). Messages go to stderr; stdout carries only the protocol.
Tools: vault_list vault_info vault_create vault_fork vault_merge ls read write edit mkdir rm mv
tree search grep find log diff checkpoint_save checkpoint_restore checkpoint_list proxy_exec
proxy_undo.
A failed call is an MCP tool error (isError) whose text starts with the avfs error code and
whose structured content is {"ok": false, "error": {"code": …, "message": …}}.

Register it with a host (e.g. in its mcpServers config):
  {"mcpServers": {"avfs": {"command": "avfs", "args": ["mcp", "--vault", "myproject"]}}}
` +
      examples(['avfs mcp --vault myproject', 'avfs mcp --vault myproject --confine', 'avfs mcp --vault myproject --read-only', 'AVFS_HOME=/srv/agents avfs mcp']),
  )
  .action(async (_opts: unknown, cmd: Command) => {
    const globals = globalOptions(cmd);
    const parsed = options.safeParse(cmd.opts());
    if (!parsed.success) throw new AvfsError('USAGE', parsed.error.issues[0]!.message);
    const { serveStdio } = await import('../../mcp/stdio.js');
    const { signal } = await serveStdio({
      home: globals.home,
      vault: globals.vault || undefined,
      readOnly: !!parsed.data.readOnly,
      confine: !!parsed.data.confine,
      version: VERSION,
      log: (message) => {
        if (!globals.quiet) process.stderr.write(message + '\n');
      },
    });
    // Stopped by a signal: the exit status a process killed by it has (128 + its number), as the
    // CLI's other commands; serveStdio's handler kept the signal from ending the process itself.
    if (signal) process.exitCode = 128 + osConstants.signals[signal];
  });
