import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod/v3';
import { AVFS } from '../sdk/index.js';
import { AvfsError } from '../errors.js';
import { Confinement, WITHIN_ROOT } from './confine.js';
import { registerFileResources } from './resources.js';
import { toolError, toolOk } from './result.js';
import { TOOLS, annotationsOf } from './tools.js';

export interface McpServerOptions {
  /** avfs home (default: $AVFS_HOME, else ~/.avfs). */
  home?: string;
  /** The vault tools work on when a call names none (default: $AVFS_VAULT, else the one in use when the server starts). */
  vault?: string;
  /** Serve only the tools that read (no write, edit, rm, checkpoint, exec, …). */
  readOnly?: boolean;
  /** Reach only the server's vault and its forks (confine.ts); the vault must exist. */
  confine?: boolean;
  version: string;
}

/**
 * Builds the avfs MCP server: the tools of tools.ts and the file resources of resources.ts, all
 * calling the SDK. One AVFS instance holds the home's store for the server's lifetime and serves
 * the calls that name no vault: its vault, the one in use when the server starts (unless one is
 * given), stays the server's, as an SDK instance keeps its own; another process's `avfs vault use`
 * redirected an agent's writes mid-session. A call that names a vault gets its own instance (they
 * share the store's connection). Returns the server and `close`, which releases the store.
 */
export function createAvfsMcpServer(options: McpServerOptions): { server: McpServer; tools: string[]; vault: string | undefined; close: () => void } {
  const base = new AVFS({ home: options.home, vault: options.vault }, 'mcp');
  let vault: string | undefined;
  try {
    vault = base.vault; // resolved now and kept
  } catch {
    // None in use yet (or $AVFS_VAULT is invalid): the first call that needs one says so, and the
    // vault resolved then (or made by vault_create) is kept.
  }
  let confinement: Confinement | undefined;
  if (options.confine) {
    if (vault === undefined) {
      base.close();
      throw new AvfsError('USAGE', 'avfs mcp --confine needs a vault to confine the agent to: give --vault (or $AVFS_VAULT, or choose one with avfs vault use)');
    }
    confinement = new Confinement(base, vault);
  }
  const avfsFor = (vault?: string) => {
    if (vault === undefined) return base;
    confinement?.require(vault);
    return new AVFS({ home: base.home, vault }, 'mcp');
  };
  const release = (avfs: AVFS) => {
    if (avfs !== base) avfs.close();
  };

  const server = new McpServer(
    { name: 'avfs', title: 'avfs: versioned vaults for agents', version: options.version },
    {
      instructions:
        'avfs keeps files in vaults: versioned virtual filesystems with history, forks and checkpoints. Paths are absolute vault paths (/src/main.py). ' +
        'Tools work on the server\'s vault unless a call passes `vault`. Save a checkpoint (or fork) before risky changes; run programs with proxy_exec, which sandboxes them with the vault as their /. ' +
        'Failed calls return isError with our error code (NOT_FOUND, DENIED, CONFLICT, …) as error.code.',
    },
  );
  const served = TOOLS.filter((t) => !(options.readOnly && t.writes));
  for (const tool of TOOLS) {
    const registered = server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        // Strict, as the listed schema says (additionalProperties false): a misspelt option
        // (`parent` for `parents`, `timeout` for `timeout_ms`) is refused, not silently dropped.
        inputSchema: z.object(tool.input).strict(),
        outputSchema: outputSchemaOf(tool.output),
        annotations: annotationsOf(tool),
      },
      (async (args: Record<string, unknown>, extra: { signal?: AbortSignal }) => {
        let avfs: AVFS | undefined;
        try {
          if (confinement) args = confinement.admit(tool.name, args);
          avfs = avfsFor(typeof args.vault === 'string' ? args.vault : undefined);
          if (confinement && tool.name === 'proxy_exec') args = { ...args, [WITHIN_ROOT]: confinement.execWithinRoot(avfs.vault, avfs, args) };
          const result = await tool.run(args, avfs, extra.signal);
          return toolOk(confinement ? confinement.visible(tool.name, result) : result);
        } catch (err) {
          return toolError(confinement ? confinement.conceal(err) : err);
        } finally {
          if (avfs) release(avfs);
        }
      }) as never,
    );
    // Read-only: a writing tool is registered disabled, not left out, so that a call to it is
    // refused as read-only (result.ts withUsageCode) rather than as a tool that does not exist.
    if (!served.includes(tool)) registered.disable();
  }
  registerFileResources(server, avfsFor, release);
  return { server, tools: served.map((t) => t.name), vault, close: () => base.close() };
}

/**
 * A tool's output schema: its result fields, or the error document `{ok: false, error: {code,
 * message, …}}` that a failed call carries as structured content. The MCP SDK's client checks
 * structured content against the listed schema even on an error result, so a schema with only
 * the success fields turned every failed call of a host that had listed the tools into a
 * client-side "does not match the tool's output schema" error, losing our code. Hence the
 * result fields are optional here.
 */
function outputSchemaOf(fields: z.ZodRawShape) {
  const optional = Object.fromEntries(Object.entries(fields).map(([name, schema]) => [name, schema.optional()]));
  const error = z.object({ code: z.string(), message: z.string() }).passthrough();
  return z.object({ ok: z.boolean(), error: error.optional(), ...optional }).passthrough();
}
