import { connect, type Socket } from 'node:net';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { envMs } from '../core/units.js';
import type { LayoutNode } from '../core/sandbox-layout.js';
import { AvfsError } from '../errors.js';
import { runtimeDir } from '../store/host-dirs.js';
import { databaseIdentity } from '../store/home.js';
import { processAlive, thisProcess, type ProcessRef } from '../store/host-process.js';
import { cleanStaleSessions, mountVault } from './index.js';
import { isLive, mountsDir, readSession, type MountSessionInfo } from './session.js';

/**
 * The client side of the home's proxy views server (view-server.ts): a proxy exec opens a view of
 * its vault there, runs its command in it, and closes it. The server is started on first use (a
 * detached `avfs mount --views` process on a private temporary directory, with its control socket
 * beside it) and stays up while execs keep coming, so an exec pays a connection, not a mount.
 */

export interface ExecView {
  /** The host directory showing the vault for this exec (`<server mountpoint>/<exec_id>`). */
  root: string;
  /** The server's pid (never to be signalled by the exec's cleanup). */
  serverPid: number;
  /** Saves what is open through the view and removes it; resolves with how many files were saved. */
  close(): Promise<number>;
}

export interface OpenViewOptions {
  home: string;
  vault: string;
  execId: string;
  /** The exec's avfs process (recorded if the exec dies with it). */
  pid: number;
  /** The sandbox's reserved paths (empty: a plain view of the vault). */
  layout: readonly LayoutNode[];
}

/** How long opening a view waits for the server's answer (AVFS_VIEWS_REPLY_MS; tests shorten it). */
const REPLY_TIMEOUT_MS = envMs(process.env.AVFS_VIEWS_REPLY_MS, 30_000);

/** Where the home's current views server is named (its session id), so an exec reads one small file, not every session. */
const currentFile = (home: string) => join(mountsDir(home), 'views.current');

/** The home's running views server, if any. */
function runningServer(home: string): MountSessionInfo | undefined {
  let id: string;
  try {
    id = readFileSync(currentFile(home), 'utf8').trim();
  } catch {
    return undefined;
  }
  const s = readSession(home, id);
  return s && s.views && s.state === 'mounted' && isLive(s) ? s : undefined;
}

/** A views server that died (crash, kill -9) leaves a dead mount: clean it up before starting another. */
async function cleanDeadServer(home: string): Promise<void> {
  await cleanStaleSessions(home).catch(() => []);
}

/** Opens a view for an exec on the home's views server, starting one when none runs. */
export async function openExecView(options: OpenViewOptions): Promise<ExecView> {
  const running = runningServer(options.home);
  if (running) {
    try {
      return await openOn(running, options);
    } catch (err) {
      // A server that is stopping (idle) refuses or drops the connection: start a new one.
      if (!(err instanceof AvfsError && err.code === 'CONFLICT')) throw err;
    }
  }
  return openOn(await serverFor(options.home, running?.session_id), options);
}

/**
 * How long an exec waits for another's start of the server before starting one itself: longer
 * than a start may take (mountVault gives up after 20 s), so only a stuck starter is passed over.
 */
const START_WAIT_MS = 30_000;

/**
 * The home's server, started by this exec or by another starting it at the same time: starting is
 * exclusive (the README promises one server per home), so the execs that do not win the claim
 * wait for the winner's server and connect to it. `refused` is a server that just refused a view
 * (stopping): it does not count as running.
 */
async function serverFor(home: string, refused: string | undefined): Promise<MountSessionInfo> {
  const deadline = Date.now() + START_WAIT_MS;
  for (;;) {
    const running = runningServer(home);
    if (running && running.session_id !== refused) return running;
    const claimed = claimStart(home);
    if (claimed || Date.now() > deadline) {
      try {
        // A server started between the look above and the claim is the one.
        const started = runningServer(home);
        if (started && started.session_id !== refused) return started;
        await cleanDeadServer(home);
        return await startServer(home);
      } finally {
        if (claimed) releaseStart(home);
      }
    }
    await sleep(50);
  }
}

/** The claim to start the home's server: made with O_EXCL, naming the starter's process. */
const claimFile = (home: string) => join(mountsDir(home), 'views.starting');

/** Takes the claim (true), or says another starter holds it (false), first removing a claim whose starter died. */
function claimStart(home: string): boolean {
  mkdirSync(mountsDir(home), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(claimFile(home), JSON.stringify(thisProcess()), { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  removeStaleClaim(home);
  return false;
}

/** The claim's text, or undefined when there is none. */
function readClaim(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * A claim is stale when its starter is gone (killed while starting), or when it names none for
 * over a few seconds (its starter died between making and writing it). It is renamed away, not
 * unlinked, so that of several waiters only one removes it; one that took a fresh claim by then
 * (made after the look) puts it back.
 */
function removeStaleClaim(home: string): void {
  const file = claimFile(home);
  const text = readClaim(file);
  if (text === undefined || !claimIsStale(file, text)) return;
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch {
    return; // another waiter removed it
  }
  if (readClaim(aside) !== text) {
    try {
      linkSync(aside, file);
    } catch {
      // a new claim was made meanwhile: it stands
    }
  }
  rmSync(aside, { force: true });
}

function claimIsStale(file: string, text: string): boolean {
  let holder: ProcessRef | undefined;
  try {
    holder = JSON.parse(text) as ProcessRef;
  } catch {
    holder = undefined;
  }
  if (holder && typeof holder.pid === 'number') return !processAlive(holder);
  try {
    return Date.now() - statSync(file).mtimeMs > 5_000;
  } catch {
    return false;
  }
}

/** Gives the claim up, if it is still this process's. */
function releaseStart(home: string): void {
  const file = claimFile(home);
  if (readClaim(file) !== JSON.stringify(thisProcess())) return;
  try {
    unlinkSync(file);
  } catch {
    // gone
  }
}

async function startServer(home: string): Promise<MountSessionInfo> {
  const base = mkdtempSync(join(runtimeDir(), 'views-'));
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  try {
    const server = await mountVault({ home, vault: '', dir, views: { socket: join(base, 'ctl.sock') } });
    writeFileSync(currentFile(home), server.session_id + '\n');
    return server;
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
}

async function openOn(server: MountSessionInfo, options: OpenViewOptions): Promise<ExecView> {
  const socket = await connectTo(server.views!.socket);
  const replies = lines(socket);
  try {
    send(socket, { open: { exec_id: options.execId, vault: options.vault, pid: options.pid, layout: options.layout, database: databaseIdentity(options.home) } });
    await expectOk(replies);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  let closed: Promise<number> | undefined;
  return {
    root: join(server.dir, options.execId),
    serverPid: server.pid,
    close() {
      closed ??= (async () => {
        send(socket, { close: true });
        // No time limit while the server lives (its death closes the socket): it answers once it
        // has stored what the run wrote, and a run that wrote gigabytes is stored for as long as
        // that takes. Giving up early reported the run as failed, without its changes, while its
        // files were still stored afterwards, past the end that `proxy undo` reverts to.
        const reply = await expectOk(() => replies(null));
        socket.end();
        return Number(reply.saved ?? 0);
      })();
      return closed;
    },
  };
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      reject(new AvfsError('CONFLICT', `the proxy views server is not answering (${err.code ?? err.message})`, { socket: path })),
    );
  });
}

function send(socket: Socket, doc: unknown): void {
  socket.write(JSON.stringify(doc) + '\n');
}

/** The server's replies, one JSON document per line, in order. */
function lines(socket: Socket): (timeoutMs?: number | null) => Promise<Record<string, unknown>> {
  const queue: Record<string, unknown>[] = [];
  const waiting: ((doc: Record<string, unknown> | null) => void)[] = [];
  let buffered = '';
  let ended = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const doc = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(doc);
      else queue.push(doc);
    }
  });
  const end = () => {
    ended = true;
    for (const w of waiting.splice(0)) w(null);
  };
  socket.on('close', end);
  socket.on('error', end);
  return (timeoutMs = REPLY_TIMEOUT_MS) => {
    const ready = queue.shift();
    if (ready) return Promise.resolve(ready);
    if (ended) return Promise.reject(new AvfsError('CONFLICT', 'the proxy views server closed the connection', { reason: VIEWS_SERVER_CLOSED }));
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === null ? undefined : setTimeout(() => reject(new AvfsError('TIMEOUT', `the proxy views server did not answer within ${timeoutMs} ms`)), timeoutMs);
      waiting.push((doc) => {
        clearTimeout(timer);
        if (doc) resolve(doc);
        else reject(new AvfsError('CONFLICT', 'the proxy views server closed the connection', { reason: VIEWS_SERVER_CLOSED }));
      });
    });
  };
}

/** The reason of the error a request gets when the views server went away (stopping when idle, or killed). */
export const VIEWS_SERVER_CLOSED = 'views_server_closed';

async function expectOk(next: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const reply = await next();
  if (reply.ok === true) return reply;
  throw AvfsError.fromJSON({ message: 'the proxy views server refused', ...(reply.error as Record<string, unknown> | undefined) });
}
