import type { Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { AVFS } from '../sdk/index.js';
import { createAvfsMcpServer, type McpServerOptions } from './server.js';
import { withUsageCode } from './result.js';

/**
 * Serves the avfs MCP server on stdin/stdout until the client closes stdin (or SIGINT/SIGTERM).
 *
 * stdout is the protocol channel: one stray line there breaks the client. So the transport gets
 * the real stdout, and while serving `process.stdout.write` is pointed at stderr, so that nothing
 * else in the process (a warning, a console.log in a dependency) can write to the channel.
 */
export async function serveStdio(options: McpServerOptions & { log: (message: string) => void }): Promise<{ tools: string[] }> {
  // Fail before serving when the named vault does not exist (VAULT_NOT_FOUND, exit 3).
  if (options.vault !== undefined) {
    const check = new AVFS({ home: options.home, vault: options.vault });
    try {
      check.vaultInfo();
    } finally {
      check.close();
    }
  }
  const { server, tools, close } = createAvfsMcpServer(options);
  const stdout = process.stdout;
  const protocolWrite = stdout.write.bind(stdout);
  const channel = { write: (chunk: string) => protocolWrite(chunk), once: (event: string, fn: () => void) => stdout.once(event, fn) } as unknown as Writable;
  const originalWrite = stdout.write;
  stdout.write = ((...args: Parameters<typeof process.stderr.write>) => process.stderr.write(...args)) as typeof stdout.write;
  try {
    const ended = new Promise<void>((resolve) => {
      process.stdin.once('end', resolve);
      process.stdin.once('close', resolve);
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const transport = answering(new StdioServerTransport(process.stdin, channel));
    await server.connect(transport);
    options.log(`avfs mcp: serving ${tools.length} tools${options.readOnly ? ' (read-only)' : ''} on stdio, vault ${options.vault ?? '(the one in use)'}`);
    await ended;
    await transport.answered();
    await server.close();
  } finally {
    stdout.write = originalWrite;
    close();
  }
  return { tools };
}

/**
 * The transport, counting requests received and answers sent: `answered()` resolves when every
 * request has its answer, so a client that sends a call and closes stdin at once (a script
 * piping requests in) still gets the answer before the server closes. Tool errors made by the
 * MCP layer get our USAGE code on the way out (withUsageCode).
 */
function answering(transport: StdioServerTransport): StdioServerTransport & { answered: () => Promise<void> } {
  let pending = 0;
  const waiters: Array<() => void> = [];
  let handler: StdioServerTransport['onmessage'];
  const isRequest = (m: JSONRPCMessage) => 'id' in m && 'method' in m;
  const isAnswer = (m: JSONRPCMessage) => 'id' in m && !('method' in m);
  // The server installs its handler on connect; wrap whatever it installs.
  Object.defineProperty(transport, 'onmessage', {
    get: () => (handler ? (message: JSONRPCMessage, extra?: unknown) => {
      if (isRequest(message)) pending++;
      (handler as (m: JSONRPCMessage, e?: unknown) => void)(message, extra);
    } : undefined),
    set: (fn: StdioServerTransport['onmessage']) => (handler = fn),
  });
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    await send('result' in message ? { ...message, result: withUsageCode(message.result) as typeof message.result } : message);
    if (isAnswer(message) && --pending <= 0) {
      pending = 0;
      for (const resolve of waiters.splice(0)) resolve();
    }
  };
  return Object.assign(transport, {
    answered: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  });
}
