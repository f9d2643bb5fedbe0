import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { toAvfsError } from '../errors.js';

/** A tool's data: what `structuredContent` carries (always with `ok`, like the CLI's --json). */
export type ToolData = Record<string, unknown>;

/**
 * A successful tool result: the data as structured content, and the same data as a JSON text
 * block for hosts that only show text (or `text` when a tool has a better one, such as a file's
 * content).
 */
export function toolOk(data: ToolData, text?: string): CallToolResult {
  const structured = { ok: true, ...data };
  return { content: [{ type: 'text', text: text ?? JSON.stringify(structured, null, 2) }], structuredContent: structured };
}

/**
 * A failed tool call as an MCP tool error (isError), carrying our stable error code first in the
 * text and as `error.code` in the structured content, the same document the CLI prints for
 * `--json` failures. Anything that is not an AvfsError becomes INTERNAL.
 */
export function toolError(err: unknown): CallToolResult {
  const error = toAvfsError(err);
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    structuredContent: { ok: false, error: error.toJSON() },
  };
}
