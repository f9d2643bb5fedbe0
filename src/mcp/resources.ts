import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { AvfsError, toAvfsError } from '../errors.js';
import type { AVFS } from '../sdk/index.js';
import { READ_MAX_BYTES } from './tools.js';
import { isUtf8Text } from '../core/utf8.js';

/** The URI of a vault file: `avfs://<vault>/<path>`, each path segment percent-encoded. */
export const fileUri = (vault: string, path: string) => `avfs://${encodeURIComponent(vault)}${path.split('/').map(encodeURIComponent).join('/')}`;

/** At most this many files are listed by resources/list (a template still reads any path). */
const LIST_MAX = 1000;

/**
 * Vault files as MCP resources, through the template `avfs://{vault}/{+path}`: reading one returns
 * its text, or a base64 blob for binary content. resources/list offers the files of the server's
 * vault (at most LIST_MAX). A failure is a JSON-RPC error whose message starts with
 * our code and whose data carries it (`data.code`), like a tool error's structured content.
 */
export function registerFileResources(server: McpServer, avfsFor: (vault?: string) => AVFS, release: (avfs: AVFS) => void): void {
  const template = new ResourceTemplate('avfs://{vault}/{+path}', {
    list: () =>
      withAvfs(avfsFor, release, undefined, (avfs) => ({
        resources: avfs
          .find('/', { type: 'f', limit: LIST_MAX })
          .map((e) => ({ uri: fileUri(avfs.vault, e.path), name: e.path, size: e.size })),
      })),
  });
  server.registerResource(
    'vault-file',
    template,
    { title: 'A file in a vault', description: 'avfs://<vault>/<path>: the current content of a vault file (text, or a base64 blob for binary content)' },
    (uri, variables) => {
      let vault: string, path: string;
      try {
        vault = decodeSegment(String(variables.vault), 'INVALID_NAME', 'vault name');
        path = '/' + String(variables.path).split('/').map((s) => decodeSegment(s, 'INVALID_PATH', 'path segment')).join('/');
      } catch (err) {
        throw mcpError(err);
      }
      return withAvfs(avfsFor, release, vault, (avfs) => {
        const e = avfs.stat(path);
        if (e.type === 'f' && e.size > READ_MAX_BYTES) throw new AvfsError('INVALID_ARGUMENT', `${path} is ${e.size} bytes, more than a resource read returns (${READ_MAX_BYTES})`, { path, size: e.size, reason: 'too_large' });
        const data = avfs.read(path);
        const mimeType = isUtf8Text(data) ? 'text/plain' : 'application/octet-stream';
        return {
          contents: [mimeType === 'text/plain' ? { uri: uri.href, mimeType, text: data.toString('utf8') } : { uri: uri.href, mimeType, blob: data.toString('base64') }],
        };
      });
    },
  );
}

/** A percent-encoded part of a resource URI, decoded; `%ff` (not UTF-8) or `%zz` are invalid input, not an internal error. */
function decodeSegment(segment: string, code: 'INVALID_NAME' | 'INVALID_PATH', what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AvfsError(code, `${what} ${JSON.stringify(segment)} is not valid percent-encoded UTF-8`, { segment, reason: 'bad_percent_encoding' });
  }
}

function withAvfs<T>(avfsFor: (vault?: string) => AVFS, release: (avfs: AVFS) => void, vault: string | undefined, fn: (avfs: AVFS) => T): T {
  let avfs: AVFS | undefined;
  try {
    avfs = avfsFor(vault);
    return fn(avfs);
  } catch (err) {
    throw mcpError(err);
  } finally {
    if (avfs) release(avfs);
  }
}

/** A failure as the JSON-RPC error a resource read answers: -32002 (resource not found) or -32602 (invalid params), our code first in the message and in `data`. */
function mcpError(err: unknown): McpError {
  const error = toAvfsError(err);
  const mcp = new McpError(error.code.endsWith('NOT_FOUND') ? -32002 : ErrorCode.InvalidParams, '', error.toJSON());
  // The SDK's client puts "MCP error <code>: " before the message it receives: sent with it
  // already there (McpError's own message), a client showed it twice.
  mcp.message = `${error.code}: ${error.message}`;
  return mcp;
}
