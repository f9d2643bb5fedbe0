import { readdir, readlink } from 'node:fs/promises';
import { AvfsError, toAvfsError } from '../errors.js';
import { openStore, type Actor, type Store } from '../store/store.js';
import { VaultFs } from '../store/vault-fs.js';
import { attributeInvalidator, directAppendSupported, keepCacheSupported, loadFuse, nullPathSupported, type Fuse } from './fuse.js';
import type { DropAttributes } from './other-names.js';
import { prepareMountpoint } from './mountpoint.js';
import { OpenFiles } from './open-files.js';
import { instrumentFromEnv } from './op-stats.js';
import { createOperations } from './operations.js';
import {
  kernelMountAt,
  kernelUnmount,
  newSessionId,
  setSessionState,
  removeSpillDirs,
  spillDir,
  logFile,
  writeSession,
  type MountSessionInfo,
} from './session.js';
import { processAlive, processStartTime, type ProcessRef } from '../store/host-process.js';
import { killExecProcesses } from './processes.js';
import { recordExecDied } from '../store/execs.js';
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { databaseFile } from '../store/home.js';
import { deferIndexing, indexSomePending } from '../store/text-index.js';
import { ViewHost } from './view-server.js';
import { sandboxView } from './sandbox-view.js';
import { SandboxLayout, type LayoutNode } from '../core/sandbox-layout.js';
import { ATTR_TIMEOUT_S } from './op-context.js';

/**
 * Serving a mount, in the foreground of this process (the background mount is this, run by a
 * detached child). This process must never touch its own mount synchronously: everything here
 * that looks at the mount's state reads /proc, never the mounted directory.
 */

export interface ServeOptions {
  home: string;
  vault: string;
  dir: string;
  readOnly?: boolean;
  /** allow_other even when not root (`mount --allow-other`). */
  allowOther?: boolean;
  /** Reuse a session id chosen by the parent that spawned this server. */
  sessionId?: string;
  /** Versions written through the mount record this proxy execution (actor source 'proxy'). */
  execId?: string | null;
  /** The process this mount serves (a proxy exec's avfs): see ownerWatch. */
  owner?: ProcessRef;
  /**
   * The temporary directory the owner made to hold the mountpoint: when the owner dies, the
   * server removes the mountpoint and it (both empty by then, never recursively), as the owner
   * would have.
   */
  scratchDir?: string;
  /**
   * Serve proxy execs' views of the home's vaults instead of one vault (view-server.ts), opened
   * and closed over a control socket at this path; the server exits after `idleMs` without views.
   */
  views?: { socket: string; idleMs: number };
  /** The mount is a sandbox's root: present these reserved names (sandbox-view.ts). */
  layout?: LayoutNode[];
  /** Human progress messages (stderr). */
  info?: (message: string) => void;
}

/** Largest FUSE write request (bytes): with big_writes, 32× fewer round trips than the 4 KiB default. */
export const MAX_WRITE = 128 * 1024;
/** How often the server checks the kernel mount table and its FUSE connection. */
const WATCH_MS = 250;
/** A mount that has written and then seen no request for this long indexes what it stored and checkpoints the WAL. */
const IDLE_MS = 500;
/**
 * Texts a mount lets wait for the search index while it is busy (text-index.ts deferIndexing):
 * a clone or checkout of a few thousand files closes them without indexing any, and a `search`
 * that comes before the mount was idle indexes at most this many first (about 0.6 ms each).
 */
const MOUNT_INDEX_LAG = 2048;
/** After unmounting, how long files still open through a lazily detached mount may keep it alive. */
const DRAIN_MS = 5000;

/**
 * fuse-native has no option for these, so they are appended to the `-o` string it builds
 * (ARCHITECTURE.md "Mount options and caches"): big writes, stable inode numbers and a
 * negative-lookup cache as long as the attribute cache. The page cache is kept per open by content
 * hash (OpenFiles.keepCache), which is exact where libfuse's auto_cache compares mtimes and drops a
 * file's pages after every write.
 */
function fuseClass(Base: Fuse, extra: string[]): Fuse {
  class AvfsFuse extends Base {
    protected override _fuseOptions(): string {
      const base = super._fuseOptions();
      const more = extra.join(',');
      return base ? `${base},${more}` : `-o${more}`;
    }
  }
  return AvfsFuse;
}

/**
 * A vault mounted with `avfs mount` has its permissions checked by the kernel from the mode,
 * owner and group each entry reports (default_permissions: mode bits, the sticky bit, search
 * permission on every component, who may chown). As root the mount is also open to other users
 * (allow_other), which is what makes those checks mean anything for them; a non-root mount stays
 * private to its user unless `--allow-other` asks (which needs user_allow_other in /etc/fuse.conf). Proxy execs'
 * mounts keep the sandbox as their boundary and are served as before.
 */
function permissionOptions(options: ServeOptions): string[] {
  if (options.views || options.execId) return [];
  return ['default_permissions', ...(process.getuid?.() === 0 || options.allowOther ? ['allow_other'] : [])];
}

/** Whether this process still holds a /dev/fuse descriptor (the kernel connection is alive). */
async function fuseConnectionOpen(): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir('/proc/self/fd');
  } catch {
    return true;
  }
  for (const fd of fds) {
    try {
      if ((await readlink(`/proc/self/fd/${fd}`)) === '/dev/fuse') return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Mounts the vault on `dir` and serves it until SIGINT/SIGTERM or until the mount is removed from
 * outside (`avfs unmount`, `fusermount -u`), then persists what is still open and resolves with
 * the final session record. Every state change is written to the session file.
 */
export async function serveMount(options: ServeOptions): Promise<MountSessionInfo> {
  const { home, vault } = options;
  const info = options.info ?? ((m: string) => process.stderr.write(`avfs mount: ${m}\n`));
  const sessionId = options.sessionId ?? newSessionId();
  const at = new Date().toISOString();
  const session: MountSessionInfo = {
    session_id: sessionId,
    vault,
    dir: options.dir,
    pid: process.pid,
    pid_start: processStartTime(process.pid),
    state: 'mounting',
    since: at,
    updated_at: at,
    read_only: !!options.readOnly,
    exec_id: options.execId || null,
    ...(options.views ? { views: { socket: options.views.socket } } : {}),
    log: logFile(home, sessionId),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  };
  writeSession(home, session);

  let store: Store | undefined;
  let files: Pick<OpenFiles, 'persistAll' | 'closeAll'> | undefined;
  let host: ViewHost | undefined;
  const activity = { last: 0, writes: 0 };
  let fuse: InstanceType<Fuse> | undefined;
  /** Set once mounted (other-names.ts): the kernel's inodes exist only then. */
  let dropAttributes: DropAttributes | null = null;
  try {
    const Fuse = await loadFuse();
    const dir = await prepareMountpoint(home, options.dir, sessionId);
    session.dir = dir;
    store = openStore(home);
    const ops = options.views
      ? (host = new ViewHost({
          fuse: Fuse,
          store,
          home,
          sessionId,
          uid: session.uid,
          gid: session.gid,
          keepCache: keepCacheSupported(),
          nullPath: nullPathSupported(),
          directAppend: directAppendSupported(),
          dropAttributes: () => dropAttributes,
          log: info,
        })).operations()
      : vaultOperations(Fuse, store, options, session, (f) => (files = f), info, () => dropAttributes);
    files ??= host;
    trackActivity(ops as unknown as Record<string, unknown>, activity);
    // Commits through a mount come in bursts (a clone, an install: one per file closed), and
    // SQLite's automatic checkpoint every 1,000 WAL pages puts a checkpoint with fsyncs into
    // every few dozen of them. Here the WAL may grow to 10,000 pages (40 MiB) and is
    // checkpointed when the mount has been idle for a moment instead (see watch below).
    store.db.pragma('wal_autocheckpoint = 10000');
    // Likewise the search index: texts closed in a burst wait (up to MOUNT_INDEX_LAG) and are
    // indexed when the mount is idle (idleWork below), not in the handlers that close them.
    deferIndexing(store, MOUNT_INDEX_LAG);
    instrumentFromEnv(ops as unknown as Record<string, unknown>, process.env.AVFS_MOUNT_STATS, info);
    const extra = [
      'big_writes',
      `max_write=${MAX_WRITE}`,
      'use_ino',
      // A failed lookup is remembered for the same bound as attributes: tools probe many names
      // that do not exist (.gitignore in every directory, MERGE_HEAD, …).
      `negative_timeout=${ATTR_TIMEOUT_S}`,
      ...(options.readOnly ? ['ro'] : []),
      ...permissionOptions(options),
    ];
    const AvfsFuse = fuseClass(Fuse, extra);
    fuse = new AvfsFuse(dir, ops, {
      fsname: 'avfs',
      subtype: 'avfs',
      attrTimeout: ATTR_TIMEOUT_S,
      entryTimeout: ATTR_TIMEOUT_S,
      // Every handler is synchronous and answers on every path (try/catch), so fuse-native's
      // per-request timer (a setTimeout and clearTimeout per request) buys nothing here.
      timeout: false,
    });
    await mountWithTimeout(fuse, 20_000);
    dropAttributes = attributeInvalidator(fuse);
    if (host) await host.listen(options.views!.socket);
  } catch (err) {
    const e = err instanceof Error && /fuse failed|Mountpoint/.test(err.message) && !(err instanceof AvfsError)
      ? new AvfsError('INTERNAL', `libfuse could not mount ${session.dir}: ${err.message}`, { dir: session.dir })
      : toAvfsError(err);
    setSessionState(home, session, 'failed', { error: { code: e.code, message: e.message } });
    files?.closeAll();
    store?.release();
    removeSpillDirs(home, sessionId);
    throw e;
  }

  setSessionState(home, session, 'mounted');
  info(`mounted vault ${vault} on ${session.dir} (session ${sessionId}, pid ${process.pid}${options.readOnly ? ', read-only' : ''})`);

  const openFiles = files!;
  const openStoreRef = store!;
  return new Promise<MountSessionInfo>((resolvePromise) => {
    let stopping = false;
    let timer: NodeJS.Timeout | undefined;

    let ownerDied = false;
    // A views server whose home was removed leaves nothing in it (writing a session file would recreate it).
    let homeGone = false;

    const finish = (reason: string) => {
      const failed = openFiles.persistAll();
      for (const f of failed) info(`could not save ${f.path}: ${toAvfsError(f.error).message}`);
      openFiles.closeAll();
      // Everything the dead exec wrote is saved: its change window can close.
      if (ownerDied && options.execId) recordExecDied(openStoreRef, { id: options.execId, vault, pid: options.owner!.pid });
      openStoreRef.release();
      if (!homeGone) {
        removeSpillDirs(home, sessionId);
        setSessionState(home, session, 'unmounted');
      }
      if (options.views) removePrivateDirs(session.dir, dirname(session.dir), options.views.socket);
      else if (ownerDied && options.scratchDir) removePrivateDirs(session.dir, options.scratchDir);
      info(`unmounted ${session.dir} (${reason})`);
      // The signal handlers stay: a SIGTERM arriving now (avfs unmount sends one) must not kill
      // the process before it has printed its result and exited.
      process.off('uncaughtException', onFatal);
      process.off('unhandledRejection', onFatal);
      resolvePromise(session);
    };

    const stop = async (reason: string) => {
      if (stopping) return;
      stopping = true;
      host?.stopListening();
      if (timer) clearTimeout(timer);
      if (session.state !== 'unmounting' && !homeGone) setSessionState(home, session, 'unmounting');
      // Save what is open first: a lazy detach keeps serving open files, but this process is about to end.
      for (const f of openFiles.persistAll()) info(`could not save ${f.path}: ${toAvfsError(f.error).message}`);
      if (kernelMountAt(session.dir)) {
        const r = await kernelUnmount(session.dir, true);
        if (!r.ok) info(`could not detach ${session.dir}: ${r.message}`);
      }
      const deadline = Date.now() + DRAIN_MS;
      while (Date.now() < deadline && (await fuseConnectionOpen())) await sleep(25);
      finish(reason);
    };

    const onSignal = (sig: NodeJS.Signals) => void stop(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

    // A bug must not leave a dead mount behind: save what can be saved, detach, record, exit.
    const onFatal = (err: unknown) => {
      info(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      try {
        for (const f of openFiles.persistAll()) info(`could not save ${f.path}: ${toAvfsError(f.error).message}`);
        const e = toAvfsError(err);
        setSessionState(home, session, 'failed', { error: { code: e.code, message: e.message } });
      } finally {
        void kernelUnmount(session.dir, true).finally(() => process.exit(1));
      }
    };
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);

    // A proxy exec's private mount lives as long as that exec's avfs: when it died without
    // unmounting (kill -9), end the processes it started (they may still write with its id), then
    // unmount as if asked to, and record the exec as died.
    const ownerWatch = async (): Promise<boolean> => {
      if (!options.owner || processAlive(options.owner)) return false;
      ownerDied = true;
      info(`the avfs process ${options.owner.pid} this mount serves is gone; ending its exec and unmounting`);
      if (options.execId) await killExecProcesses(options.execId);
      void stop('its exec died');
      return true;
    };

    /**
     * What a mount that wrote defers until it sees no request for IDLE_MS: indexing the texts it
     * stored, one batch at a time with the event loop free in between (a request arriving ends
     * the idle period, and the next one goes on), then a WAL checkpoint.
     */
    const idleWork = () => {
      if (stopping || Date.now() - activity.last <= IDLE_MS) return;
      try {
        if (indexSomePending(openStoreRef) > 0) return void setImmediate(idleWork);
      } catch (err) {
        info(`indexing: ${toAvfsError(err).message}`); // left waiting: search or the next idle period indexes it
      }
      activity.writes = 0;
      try {
        openStoreRef.db.pragma('wal_checkpoint(PASSIVE)');
      } catch (err) {
        info(`checkpoint: ${toAvfsError(err).message}`);
      }
    };

    // Notice an unmount done from outside (avfs unmount, fusermount -u, umount -l).
    const watch = async () => {
      if (stopping || (await ownerWatch())) return;
      // A views server ends when no exec has used it for a while, or when its home is gone.
      if (host && !existsSync(databaseFile(home))) {
        homeGone = true;
        return void stop('its home was removed');
      }
      if (host && host.idleMs() > options.views!.idleMs) return void stop('idle');
      if (activity.writes > 0 && Date.now() - activity.last > IDLE_MS) idleWork();
      const mounted = kernelMountAt(session.dir) !== undefined;
      const connected = await fuseConnectionOpen();
      if (stopping) return;
      if (!connected) return void stop('unmounted from outside');
      if (!mounted && session.state === 'mounted') {
        // Lazily detached: keep serving the files still open through it until they close.
        setSessionState(home, session, 'unmounting', { detached: true });
        info(`${session.dir} was detached; serving files still open through it`);
      }
      timer = setTimeout(() => void watchSafely(), WATCH_MS);
    };
    // A failed look (a descriptor limit reached for a moment: EMFILE) is tried again, not fatal:
    // the mount serves requests without it, and its end would end every exec it serves.
    const watchSafely = () =>
      watch().catch((err: unknown) => {
        info(`could not check the mount's state: ${err instanceof Error ? err.message : String(err)}`);
        if (!stopping) timer = setTimeout(() => void watchSafely(), WATCH_MS);
      });
    timer = setTimeout(() => void watchSafely(), WATCH_MS);
  });
}

/**
 * A mountpoint made for this server alone and the temporary directory holding it (with a views
 * server's socket), once unmounted: never recursively, so a directory that is not empty stays.
 */
function removePrivateDirs(mountpoint: string, parent: string, socket?: string): void {
  if (kernelMountAt(mountpoint)) return;
  const removals = [() => socket && rmSync(socket, { force: true }), () => rmdirSync(mountpoint), () => rmdirSync(parent)];
  for (const remove of removals) {
    try {
      remove();
    } catch {
      // not empty, or already gone: leave it
    }
  }
}

/** The operations of a mount of one vault as one actor, with its open files (handed to `setFiles`). */
function vaultOperations(
  Fuse: Fuse,
  store: Store,
  options: ServeOptions,
  session: MountSessionInfo,
  setFiles: (files: OpenFiles) => void,
  info: (m: string) => void,
  dropAttributes: () => DropAttributes | null,
) {
  const actor: Actor = { source: options.execId ? 'proxy' : 'mount', execId: options.execId || null };
  const fs = new VaultFs(store, options.vault, actor);
  const vaultRow = fs.row();
  const files = new OpenFiles(fs, vaultRow.id, {
    spillDir: spillDir(options.home, session.session_id),
    onError: (err, file) => info(`could not save ${file.path} on close: ${toAvfsError(err).message}`),
  });
  setFiles(files);
  const ops = createOperations({
    fuse: Fuse,
    fs,
    vault: vaultRow,
    files,
    readOnly: !!options.readOnly,
    uid: session.uid,
    gid: session.gid,
    home: options.home,
    keepCache: keepCacheSupported(),
    directAppend: directAppendSupported(),
    nullPath: nullPathSupported(),
    log: (m) => info(m),
    dropAttributes,
  });
  return options.layout ? sandboxView(ops, new SandboxLayout(options.layout), Fuse, session) : ops;
}

function mountWithTimeout(fuse: InstanceType<Fuse>, ms: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const t = setTimeout(() => reject(new AvfsError('TIMEOUT', `mount did not complete within ${ms} ms`)), ms);
    fuse.mount((err) => {
      clearTimeout(t);
      if (err) reject(err);
      else resolvePromise();
    });
  });
}

const WRITING_OPS = new Set(['create', 'write', 'flush', 'fsync', 'release', 'truncate', 'ftruncate', 'mkdir', 'rmdir', 'unlink', 'rename', 'symlink', 'chmod', 'utimens']);

/** Records when the last request came and whether any could have written (for idle checkpoints). */
function trackActivity(ops: Record<string, unknown>, activity: { last: number; writes: number }): void {
  for (const [name, fn] of Object.entries(ops)) {
    if (typeof fn !== 'function') continue;
    const writes = WRITING_OPS.has(name);
    ops[name] = function (this: unknown, ...args: unknown[]) {
      activity.last = Date.now();
      if (writes) activity.writes++;
      return (fn as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
}
