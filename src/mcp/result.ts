import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { toAvfsError } from '../errors.js';
import { printable } from '../core/utf8.js';

/** A tool's data: what `structuredContent` carries (always with `ok`, like the CLI's --json). */
export type ToolData = Record<string, unknown> & { [TEXT]?: string };

/** Set on a tool's data to give its text block instead of the JSON (e.g. a file's content). */
export const TEXT = Symbol('text');

/**
 * A successful tool result: the data as structured content, and the same data as a JSON text
 * block for hosts that only show text (or the data's TEXT when a tool has a better one).
 */
export function toolOk(data: ToolData): CallToolResult {
  const { [TEXT]: text, ...rest } = data;
  const structured = { ok: true, ...rest };
  return { content: [{ type: 'text', text: text ?? JSON.stringify(structured, null, 2) }], structuredContent: structured };
}

/**
 * A failed tool call as an MCP tool error (isError), carrying our stable error code first in the
 * text and as `error.code` in the structured content, the same document the CLI prints for
 * `--json` failures. Anything that is not an AvfsError becomes INTERNAL. The text block shows
 * the message as the CLI's stderr does (printable): a name holding a newline or an escape cannot
 * forge a line (`…\nDENIED: …`) in what a host shows; the structured content keeps it exact.
 */
export function toolError(err: unknown): CallToolResult {
  const error = toAvfsError(err);
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${printable(error.message, { backslash: false })}` }],
    structuredContent: { ok: false, error: error.toJSON() },
  };
}

/**
 * A tool error the MCP layer made before avfs ran (arguments that fail the input schema, an
 * unknown tool) has no structured content; every error avfs makes has. Give those the same shape,
 * with code USAGE (READ_ONLY for a writing tool a read-only server disabled), so that every
 * failed call carries a code. Other messages pass unchanged but
 * for the SDK's "MCP error -32602: " in front (its McpError's message): the JSON-RPC code means
 * nothing in a tool result, and agents read "USAGE: MCP error -32602: Input validation error: …".
 */
export function withUsageCode(result: unknown): unknown {
  const r = result as { isError?: unknown; structuredContent?: unknown; content?: Array<{ type: string; text?: string }> } | null;
  if (!r || r.isError !== true || r.structuredContent !== undefined || !Array.isArray(r.content)) return result;
  const said = r.content.map((c) => (c.text ?? '').replace(/^MCP error -?\d+: /, '')).join('\n');
  // The only tools server.ts disables are the writing ones of a read-only server.
  const disabled = /^Tool (\S+) disabled$/.exec(said);
  const [code, message] = disabled
    ? ['READ_ONLY', `${disabled[1]} changes the vault, and this server is read-only (avfs mcp --read-only): it serves only the tools that read`]
    : ['USAGE', said];
  return { ...r, content: [{ type: 'text', text: `${code}: ${message}` }], structuredContent: { ok: false, error: { code, message } } };
}

/**
 * A JSON-RPC error the MCP SDK answers itself (a resource URI the server does not serve, a method
 * it does not know) gets our code in `data.code`, as every error avfs answers has: NOT_FOUND for
 * the resource, INTERNAL for -32603, USAGE otherwise. An agent branching on the code found none.
 */
export function withErrorCode<E extends { code: number; message: string; data?: unknown }>(error: E): E {
  const data = error.data;
  if (typeof data === 'object' && data !== null && typeof (data as { code?: unknown }).code === 'string') return error;
  const code = error.code === -32603 ? 'INTERNAL' : /^MCP error -32602: Resource .* not found$/s.test(error.message) ? 'NOT_FOUND' : 'USAGE';
  return { ...error, data: typeof data === 'object' && data !== null ? { ...data, code } : data === undefined ? { code } : { code, detail: data } };
}
