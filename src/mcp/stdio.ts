import { isUtf8 } from 'node:buffer';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { ClientRequestSchema, JSONRPCMessageSchema, JSONRPCRequestSchema, type JSONRPCMessage, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { AVFS } from '../sdk/index.js';
import { createAvfsMcpServer, type McpServerOptions } from './server.js';
import { withErrorCode, withUsageCode } from './result.js';

/**
 * Serves the avfs MCP server on stdin/stdout until the client closes stdin (or SIGINT/SIGTERM).
 *
 * stdout is the protocol channel: one stray line there breaks the client. So the transport gets
 * the real stdout, and while serving `process.stdout.write` is pointed at stderr, so that nothing
 * else in the process (a warning, a console.log in a dependency) can write to the channel.
 */
export async function serveStdio(options: McpServerOptions & { log: (message: string) => void }): Promise<{ tools: string[]; signal: NodeJS.Signals | null }> {
  // Fail before serving when the named vault does not exist (VAULT_NOT_FOUND, exit 3).
  if (options.vault !== undefined) {
    const check = new AVFS({ home: options.home, vault: options.vault });
    try {
      check.vaultInfo();
    } finally {
      check.close();
    }
  }
  const { server, tools, vault, close } = createAvfsMcpServer(options);
  const stdout = process.stdout;
  const protocolWrite = stdout.write.bind(stdout);
  const channel = { write: (chunk: string) => protocolWrite(chunk), once: (event: string, fn: () => void) => stdout.once(event, fn) } as unknown as Writable;
  const originalWrite = stdout.write;
  stdout.write = ((...args: Parameters<typeof process.stderr.write>) => process.stderr.write(...args)) as typeof stdout.write;
  try {
    // Each request line reaches the SDK's transport whole, and only up to MAX_REQUEST_BYTES: its
    // own reader closes the whole session (every call in flight unanswered) on a line over 10 MiB.
    const refuse = (id: RequestId, bytes: number) =>
      protocolWrite(
        JSON.stringify({
          jsonrpc: '2.0',
          id,
          error: { code: INVALID_REQUEST, message: `request of ${bytes} bytes is larger than avfs mcp reads (${MAX_REQUEST_BYTES}); send large files in parts, or import them with the CLI`, data: { code: 'INVALID_ARGUMENT', reason: 'too_large', bytes, max: MAX_REQUEST_BYTES } },
        }) + '\n',
      );
    // A line that is not UTF-8, or JSON with an id but not a JSON-RPC message: answered here, with its id.
    const reject = (id: RequestId, error: LineError) => protocolWrite(JSON.stringify({ jsonrpc: '2.0', id, error }) + '\n');
    const input = process.stdin.pipe(new RequestLines(MAX_REQUEST_BYTES, refuse, reject));
    // How serving ends: the client closed stdin (it is gone, or a script has sent all it will),
    // or a signal asked the server to stop. The end of `input`, not of stdin: a line still
    // passing through it when stdin ends would reach the server after the cancelling below.
    const ended = new Promise<'eof' | NodeJS.Signals>((resolve) => {
      input.once('end', () => resolve('eof'));
      process.stdin.once('close', () => process.stdin.readableEnded || resolve('eof'));
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    const transport = answering(new StdioServerTransport(input, channel, { maxBufferSize: MAX_REQUEST_BYTES + 1 }));
    await server.connect(transport);
    options.log(`avfs mcp: serving ${tools.length} tools${options.readOnly ? ' (read-only)' : ''} on stdio, vault ${vault ?? '(none in use yet)'}${options.confine ? ' and its forks only (--confine)' : ''}`);
    // A command left running after its client is gone would go on changing the vault for no one
    // (with timeout_ms 0, for ever): stdin's end cancels every proxy_exec in flight, as
    // notifications/cancelled does. The calls served in line are short and each was sent to be
    // done, so they are still answered (a script may pipe its requests and close stdin); a
    // signal cancels those too.
    const how = await ended;
    transport.cancelRunning(how !== 'eof');
    await transport.answered();
    await server.close();
    if (how === 'eof') return { tools, signal: null };
    // stdin is still open (the client only signalled): stop reading it, or it alone keeps the
    // process alive, answering nothing, until the client closes it.
    process.stdin.unpipe();
    process.stdin.destroy();
    return { tools, signal: how };
  } finally {
    stdout.write = originalWrite;
    close();
  }
}

/**
 * The transport, counting requests received and answers sent: `answered()` resolves when every
 * request has its answer (or was cancelled), so a client that sends a call and closes stdin at
 * once (a script piping requests in) still gets the answer before the server closes;
 * `cancelRunning` cancels the calls that would keep it waiting. Tool errors made by the
 * MCP layer get our USAGE code on the way out (withUsageCode).
 *
 * Requests are served one at a time, in the order they arrive: the SDK starts each handler as
 * soon as its arguments are validated, and a large write validates longer than the read sent
 * after it, so a client that pipelined write, read, checkpoint saw the read miss the write and
 * the checkpoint miss both. proxy_exec runs beside later calls (it may take minutes; while it
 * runs, calls are served as a person's commands beside a running program are). A line that is
 * not JSON, or not a JSON-RPC message, gets JSON-RPC's error answer (with the line's id when it
 * has one, else id null), never silence; a request whose params do not fit its method, -32602.
 */
function answering(transport: StdioServerTransport): StdioServerTransport & { answered: () => Promise<void>; cancelRunning: (all: boolean) => void } {
  let pending = 0;
  const waiters: Array<() => void> = [];
  let handler: StdioServerTransport['onmessage'];
  let onError: StdioServerTransport['onerror'];
  /** The request being served (answered before the next one starts), or null. */
  let serving: RequestId | null = null;
  const queued: Array<[JSONRPCMessage, unknown]> = [];
  /** Requests running beside the line (proxy_exec), by id. */
  const beside = new Set<RequestId>();
  const isRequest = (m: JSONRPCMessage) => 'id' in m && 'method' in m;
  const isAnswer = (m: JSONRPCMessage) => 'id' in m && !('method' in m);
  const runsBeside = (m: JSONRPCMessage) => 'method' in m && m.method === 'tools/call' && (m.params as { name?: unknown } | undefined)?.name === 'proxy_exec';
  const answeredOne = () => {
    if (--pending <= 0) {
      pending = 0;
      for (const resolve of waiters.splice(0)) resolve();
    }
  };
  const deliver = (message: JSONRPCMessage, extra?: unknown) => {
    if (isRequest(message)) {
      if (runsBeside(message)) beside.add((message as { id: RequestId }).id);
      else serving = (message as { id: RequestId }).id;
    }
    (handler as (m: JSONRPCMessage, e?: unknown) => void)(message, extra);
  };
  const next = () => {
    serving = null;
    while (serving === null && queued.length > 0) deliver(...queued.shift()!);
  };
  // A cancelled request is never answered: it no longer holds the line, nor the close.
  const cancelled = (message: JSONRPCMessage) => {
    if (!('method' in message) || message.method !== 'notifications/cancelled') return;
    const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
    const waiting = queued.findIndex(([m]) => (m as { id?: RequestId }).id === id);
    if (waiting !== -1) {
      queued.splice(waiting, 1);
      answeredOne();
    } else if (id === serving) {
      answeredOne();
      next();
    } else if (id !== undefined && beside.delete(id)) {
      answeredOne(); // its command is ended (the SDK aborts the call), and it is not answered
    }
  };
  // The server installs its handlers on connect; wrap whatever it installs.
  Object.defineProperty(transport, 'onmessage', {
    get: () => (handler ? (message: JSONRPCMessage, extra?: unknown) => {
      if (isRequest(message)) pending++;
      const problem = isRequest(message) ? paramsProblem(message as JSONRPCRequest) : undefined;
      if (problem !== undefined) {
        // Answered here: the SDK would answer -32603 (internal error) with the schema's raw issue list.
        const id = (message as { id: RequestId }).id;
        transport.send({ jsonrpc: '2.0', id, error: { code: INVALID_PARAMS, message: problem, data: { code: 'USAGE' } } } as JSONRPCMessage).catch(() => {});
        return;
      }
      if (isRequest(message) && serving !== null) queued.push([message, extra]);
      else deliver(message, extra);
      cancelled(message);
    } : undefined),
    set: (fn: StdioServerTransport['onmessage']) => (handler = fn),
  });
  Object.defineProperty(transport, 'onerror', {
    // Undefined until the server sets its own: the server keeps what was there and calls it too.
    get: () => (onError ? (error: Error) => {
      const parse = error instanceof SyntaxError;
      const code = parse ? PARSE_ERROR : INVALID_REQUEST;
      const message = parse ? `not JSON: ${error.message}` : NOT_A_REQUEST;
      send({ jsonrpc: '2.0', id: null, error: { code, message } } as unknown as JSONRPCMessage).catch(() => {});
      onError?.(error);
    } : undefined),
    set: (fn: StdioServerTransport['onerror']) => (onError = fn),
  });
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    await send(
      'result' in message
        ? { ...message, result: withUsageCode(message.result) as typeof message.result }
        : 'error' in message
          ? { ...message, error: withErrorCode(message.error) }
          : message,
    );
    if (isAnswer(message)) {
      beside.delete((message as { id: RequestId }).id);
      answeredOne();
      if ((message as { id: RequestId }).id === serving) next();
    }
  };
  /** Cancels every proxy_exec in flight (and, with `all`, every other call too), as notifications/cancelled would. */
  const cancelRunning = (all: boolean) => {
    const ids = [...beside, ...queued.filter(([m]) => all || runsBeside(m)).map(([m]) => (m as { id: RequestId }).id), ...(all && serving !== null ? [serving] : [])];
    const reason = all ? 'the server was asked to stop' : 'the client closed stdin';
    for (const requestId of ids) transport.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } } as JSONRPCMessage);
  };
  return Object.assign(transport, {
    answered: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    cancelRunning,
  });
}

/** Each request method a client may send, with the schema its params must fit. */
const REQUEST_SCHEMAS = new Map(ClientRequestSchema.options.map((schema) => [schema.shape.method.value as string, schema]));

/**
 * What is wrong with a request's params for its method, in words ("invalid params for tools/call:
 * params.arguments: expected record, received string"), or undefined when they fit, or when the
 * method is not one a client may send (the server answers that -32601).
 */
function paramsProblem(request: JSONRPCRequest): string | undefined {
  const schema = REQUEST_SCHEMAS.get(request.method);
  const checked = schema?.safeParse(request);
  if (!checked || checked.success) return undefined;
  return `invalid params for ${request.method}: ${issuesText(checked.error.issues)}`;
}

/** A schema's issues in words: `params.arguments: expected record, received string; …`. */
function issuesText(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues.map((issue) => `${issue.path.length ? issue.path.map(String).join('.') + ': ' : ''}${issue.message.replace(/^Invalid input: /, '')}`).join('; ');
}

/**
 * Why a line is refused before the SDK's reader sees it, with the id its error answer carries:
 * a line that is not UTF-8 (JSON text is UTF-8, and the reader would decode each bad byte as
 * U+FFFD, so that two different raw names became one path) is -32700, like any line that is not
 * JSON; a line that is JSON with an id (a string or a number) but not a JSON-RPC message (no
 * method, no "jsonrpc": "2.0") is -32600, and one whose only fault is its params (null, an array,
 * a `_meta` that is not an object) -32602 with code USAGE, as params that do not fit the method
 * are. Undefined for
 * anything else (valid, or not JSON at all, which the reader answers with id null). The id of a
 * line that is not UTF-8 is read as well as its text allows; lines over CHECK_MAX_BYTES are not
 * parsed twice (their id is read from their edges, and a malformed one is left to the reader).
 */
function lineProblem(line: Buffer): { id: RequestId; error: LineError } | undefined {
  if (!isUtf8(line)) {
    const error = { code: PARSE_ERROR, message: 'not JSON: the line is not valid UTF-8 (send text as UTF-8, binary content as base64)' };
    if (line.length > CHECK_MAX_BYTES) return { id: idOfEdges(line.subarray(0, EDGE).toString('utf8'), line.subarray(-EDGE).toString('utf8')), error };
    return { id: idOfValue(parseOrUndefined(line.toString('utf8'))) ?? null, error };
  }
  if (line.length > CHECK_MAX_BYTES) return undefined;
  const value = parseOrUndefined(line.toString('utf8'));
  if (value === undefined || JSONRPCMessageSchema.safeParse(value).success) return undefined;
  const id = idOfValue(value);
  if (id === undefined) return undefined;
  // jsonrpc, id and method as they should be, and only the params wrong (null, an array, `_meta: 5`).
  const { jsonrpc, method } = value as { jsonrpc?: unknown; method?: unknown };
  const checked = jsonrpc === '2.0' && typeof method === 'string' ? JSONRPCRequestSchema.safeParse(value) : undefined;
  if (checked && !checked.success && checked.error.issues.every((issue) => issue.path[0] === 'params')) return { id, error: { code: INVALID_PARAMS, message: `invalid params for ${method}: ${issuesText(checked.error.issues)}`, data: { code: 'USAGE' } } };
  return { id, error: { code: INVALID_REQUEST, message: NOT_A_REQUEST } };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function idOfValue(value: unknown): string | number | undefined {
  const id = (value as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

const CHECK_MAX_BYTES = 1024 * 1024;
const NOT_A_REQUEST = 'not a JSON-RPC 2.0 request (jsonrpc "2.0", an id and a method are required)';

/** The longest request line served: a write of about 45 MiB as base64, more as plain text. */
export const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** JSON-RPC's codes for a request that cannot be served as sent, and for a line that is not JSON. */
const INVALID_REQUEST = -32600;
const INVALID_PARAMS = -32602;
const PARSE_ERROR = -32700;
/** How much of an oversized line's start and end is kept to find its id. */
const EDGE = 256;

type RequestId = string | number | null;
/** The JSON-RPC error a refused line is answered with; `data.code` is ours where we know it. */
type LineError = { code: number; message: string; data?: { code: string } };

/**
 * The id of a request line too large to parse, from its edges: clients write it either right
 * after `"jsonrpc":"2.0"` at the start or as the last member at the end (the MCP SDK's order).
 * Null (JSON-RPC's "id not known") otherwise.
 */
function idOfEdges(head: string, tail: string): RequestId {
  const m = /^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")/.exec(head) ?? /[,{]\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")\s*\}\s*$/.exec(tail);
  return m ? (JSON.parse(m[1]!) as string | number) : null;
}

/**
 * Splits stdin into request lines, passing each on whole (one chunk each, so the SDK's reader
 * never holds more than one) and, for a line longer than `max`, not the line but `refuse(id,
 * bytes)`: that request gets an error answer and the session goes on. A line refused by
 * lineProblem (not UTF-8, or not a JSON-RPC message) goes to `reject(id, error)` instead.
 */
class RequestLines extends Transform {
  private parts: Buffer[] = [];
  private size = 0;
  private over: { head: Buffer; tail: Buffer } | null = null;

  constructor(
    private readonly max: number,
    private readonly refuse: (id: RequestId, bytes: number) => void,
    private readonly reject: (id: RequestId, error: LineError) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      this.add(chunk.subarray(start, nl === -1 ? chunk.length : nl));
      if (nl === -1) break;
      this.endLine();
      start = nl + 1;
    }
    done();
  }

  /** The last line ends at the end of stdin too, newline or not (`printf '%s' "$request" | avfs mcp` went unanswered). */
  override _flush(done: TransformCallback): void {
    if (this.size > 0 || this.over) this.endLine();
    done();
  }

  private add(part: Buffer): void {
    if (part.length === 0) return;
    this.size += part.length;
    if (this.over) {
      this.over.tail = Buffer.concat([this.over.tail, part]).subarray(-EDGE);
    } else if (this.size > this.max) {
      const line = Buffer.concat([...this.parts, part]);
      this.over = { head: line.subarray(0, EDGE), tail: line.subarray(-EDGE) };
      this.parts = [];
    } else {
      this.parts.push(part);
    }
  }

  private endLine(): void {
    if (this.over) this.refuse(idOfEdges(this.over.head.toString('utf8'), this.over.tail.toString('utf8')), this.size);
    else {
      const line = Buffer.concat(this.parts);
      // A blank line (spaces, tabs, a CR) is no message: skipped, as stdio JSON-RPC peers do (it got a -32700 answer).
      if (!isBlank(line)) {
        const problem = lineProblem(line);
        if (problem !== undefined) this.reject(problem.id, problem.error);
        else this.push(Buffer.concat([line, NEWLINE]));
      }
    }
    this.parts = [];
    this.size = 0;
    this.over = null;
  }
}

/** Only spaces, tabs and CRs (or nothing). */
const isBlank = (line: Buffer): boolean => line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);

const NEWLINE = Buffer.from('\n');
