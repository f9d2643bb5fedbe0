import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import type { FuseOperations } from 'fuse-native';
import { SandboxLayout, type LayoutNode } from '../core/sandbox-layout.js';
import { AvfsError, toAvfsError } from '../errors.js';
import { recordExecDied } from '../store/execs.js';
import type { Store } from '../store/store.js';
import { VaultFs } from '../store/vault-fs.js';
import { getVault, type VaultRow } from '../store/vaults.js';
import { errnoCode, type Fuse } from './fuse.js';
import type { DropAttributes } from './other-names.js';
import { OpenFiles } from './open-files.js';
import { statfsOf } from './attribute-ops.js';
import { createOperations } from './operations.js';
import { sandboxView } from './sandbox-view.js';
import { spillDir } from './session.js';
import { MAX_ZERO_FILL } from './zero-fill.js';
import { databaseIdentity } from '../store/home.js';

/**
 * A resident mount that serves the proxy execs of a home: one FUSE mount, one server process that
 * keeps the store open and the kernel's caches warm, and one view per running exec at
 * `<mountpoint>/<exec_id>`. A view is the exec's whole vault with its own actor (every version
 * written through it carries that exec's id), its own open files, and the exec's sandbox layout
 * (reserved names answered as synthetic entries, see sandbox-view.ts); the sandbox binds it as `/`.
 *
 * Views are opened and closed over a control socket (newline-delimited JSON, one connection per
 * exec), see src/mount/views.ts for the client:
 *   → {"open": {"exec_id", "vault", "pid", "layout": [LayoutNode…]}}   ← {"ok": true}   (root: <dir>/<exec_id>)
 *   → {"close": true}                                          ← {"ok": true, "saved": n}
 * Closing saves everything still open through the view before answering, so the change report
 * that follows is complete; the view then disappears (its paths answer ENOENT), so nothing can be
 * attributed to the exec afterwards. A connection that drops without closing (the exec's avfs was
 * killed) closes its view the same way and records the exec as died.
 */

export interface ViewHostOptions {
  fuse: Fuse;
  store: Store;
  home: string;
  sessionId: string;
  uid: number;
  gid: number;
  keepCache: boolean;
  nullPath?: boolean;
  /** As for a vault's mount (MountContext): O_APPEND through a file's second name, and refreshing its other names. */
  directAppend?: boolean;
  dropAttributes?: () => DropAttributes | null;
  log: (message: string) => void;
}

interface View {
  execId: string;
  vault: VaultRow;
  pid: number | null;
  files: OpenFiles;
  ops: FuseOperations;
}

const EXEC_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Operations whose second argument is a path too. */
const TWO_PATHS = new Set(['rename', 'link']);

export class ViewHost {
  private readonly views = new Map<string, View>();
  private server: Server | undefined;
  private stopping = false;
  private lastActive = Date.now();

  constructor(private readonly o: ViewHostOptions) {}

  /** How long no view has been open (0 while one is). */
  idleMs(): number {
    return this.views.size > 0 ? 0 : Date.now() - this.lastActive;
  }

  /** The FUSE operations of the whole mount: the root lists nothing, `/<exec_id>/…` is that exec's view. */
  operations(): FuseOperations {
    const ENOENT = errnoCode(this.o.fuse, 'ENOENT');
    const EXDEV = errnoCode(this.o.fuse, 'EXDEV');
    const EROFS = errnoCode(this.o.fuse, 'EROFS');
    const at = Date.now();
    const rootStat = { mode: 0o040755, uid: this.o.uid, gid: this.o.gid, size: 4096, nlink: 1, ino: 1, atime: at, mtime: at, ctime: at };
    const route = (path: string): [View | undefined, string] => {
      const slash = path.indexOf('/', 1);
      const id = slash === -1 ? path.slice(1) : path.slice(1, slash);
      return [this.views.get(id), slash === -1 ? '/' : path.slice(slash)];
    };
    // Which operations a vault mount has (fuse-native registers only the handlers that exist): an
    // instance on no vault, never called (building the operations reads nothing).
    const probe = this.vaultOperations({ id: -1, name: '' } as VaultRow, { source: 'proxy', execId: null }, '-').ops;
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(probe)) {
      out[name] = (...args: unknown[]) => {
        const cb = args[args.length - 1] as (...r: unknown[]) => void;
        // symlink(target, path): the link's own path is the second argument.
        const pathArg = name === 'symlink' ? 1 : 0;
        const path = args[pathArg] as string;
        if (path === '/') {
          if (name === 'getattr') return cb(0, rootStat);
          if (name === 'readdir') return cb(0, ['.', '..'], [rootStat, rootStat]);
          if (name === 'statfs') {
            const any = this.views.values().next().value as View | undefined;
            return any ? any.ops.statfs!('/', cb as never) : cb(0, statfsOf({ home: this.o.home, readOnly: false, fsid: 0 }));
          }
          return cb(EROFS);
        }
        const [view, rest] = route(path);
        if (!view) return cb(ENOENT);
        const routed = [...args];
        routed[pathArg] = rest;
        if (TWO_PATHS.has(name)) {
          const [other, rest2] = route(args[1] as string);
          if (other !== view) return cb(EXDEV);
          routed[1] = rest2;
        }
        (view.ops as Record<string, (...a: unknown[]) => void>)[name]!(...routed);
      };
    }
    return out as FuseOperations;
  }

  /** The vault's operations as one actor, with its own open files (spilling under `spillKey`). */
  private vaultOperations(vault: VaultRow, actor: { source: 'proxy'; execId: string | null }, spillKey: string): { ops: FuseOperations; files: OpenFiles } {
    const fs = new VaultFs(this.o.store, vault.name, actor);
    const files = new OpenFiles(fs, vault.id, {
      spillDir: spillDir(this.o.home, `${this.o.sessionId}-${spillKey}`),
      zeroFillTotal: MAX_ZERO_FILL,
      onError: (err, file) => this.o.log(`could not save ${file.path} on close (exec ${actor.execId}): ${toAvfsError(err).message}`),
    });
    const { fuse, uid, gid, home, keepCache, nullPath, directAppend, dropAttributes, log } = this.o;
    return { ops: createOperations({ fuse, fs, vault, files, readOnly: false, uid, gid, home, keepCache, nullPath, directAppend, dropAttributes, log }), files };
  }

  /**
   * Refuses an exec of another home, as a stopping server refuses: CONFLICT makes the exec start
   * its home's own. A home copied with `cp -a` holds the original's session files, naming the
   * original's live server: the run wrote in the original's vault and reported nothing changed.
   */
  private admit(database: { dev: number; ino: number } | null | undefined): void {
    const own = databaseIdentity(this.o.home);
    if (database && own && (database.dev !== own.dev || database.ino !== own.ino)) throw new AvfsError('CONFLICT', 'this views server serves another home');
  }

  /** Opens a view of `vault` for an exec (its actor tags every version written through it). */
  open(execId: string, vaultName: string, pid: number | null, layout: readonly LayoutNode[]): void {
    if (this.stopping) throw new AvfsError('CONFLICT', 'this views server is stopping');
    if (!EXEC_ID_RE.test(execId)) throw new AvfsError('INVALID_ARGUMENT', `invalid exec id ${JSON.stringify(execId)}`);
    if (this.views.has(execId)) throw new AvfsError('ALREADY_EXISTS', `exec ${execId} already has a view`);
    const vault = getVault(this.o.store, vaultName);
    const { ops: plain, files } = this.vaultOperations(vault, { source: 'proxy', execId }, execId);
    const ops = layout.length > 0 ? sandboxView(plain, new SandboxLayout(layout), this.o.fuse, this.o) : plain;
    this.views.set(execId, { execId, vault, pid, files, ops });
    this.lastActive = Date.now();
  }

  /** Saves what is still open through a view and removes it. Returns how many files were saved. */
  close(execId: string, died: boolean): number {
    const view = this.views.get(execId);
    if (!view) return 0;
    const open = view.files.openCount;
    for (const f of view.files.persistAll()) this.o.log(`could not save ${f.path} (exec ${execId}): ${toAvfsError(f.error).message}`);
    view.files.closeAll();
    this.views.delete(execId);
    rmSync(spillDir(this.o.home, `${this.o.sessionId}-${execId}`), { recursive: true, force: true });
    this.lastActive = Date.now();
    if (died) recordExecDied(this.o.store, { id: execId, vault: view.vault.name, pid: view.pid });
    return open;
  }

  /** Persists everything open in every view (shutdown); the failures. */
  persistAll(): { path: string; error: unknown }[] {
    return [...this.views.values()].flatMap((v) => v.files.persistAll());
  }

  closeAll(): void {
    for (const v of this.views.values()) v.files.closeAll();
  }

  /** Listens on the control socket. */
  listen(socketPath: string): Promise<void> {
    rmSync(socketPath, { force: true });
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  }

  /** Accepts no more connections or views (the server is stopping); open views keep working until closed. */
  stopListening(): void {
    this.stopping = true;
    this.server?.close();
  }

  /** One exec's connection: an open, then a close (or a drop, which closes it as died). */
  private serve(socket: Socket): void {
    let execId: string | undefined;
    let closed = false;
    let buffered = '';
    const reply = (doc: unknown) => socket.write(JSON.stringify(doc) + '\n');
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          // A request from an exec reads what is committed now (a vault made just before it), not
          // the snapshot the FUSE requests before it share (Store.lingerRead).
          this.o.store.endLinger();
          const msg = JSON.parse(line) as { open?: { exec_id: string; vault: string; pid?: number; layout?: LayoutNode[]; database?: { dev: number; ino: number } | null }; close?: boolean };
          if (msg.open && execId === undefined) {
            this.admit(msg.open.database);
            this.open(msg.open.exec_id, msg.open.vault, msg.open.pid ?? null, msg.open.layout ?? []);
            execId = msg.open.exec_id;
            reply({ ok: true });
          } else if (msg.close && execId !== undefined && !closed) {
            closed = true;
            reply({ ok: true, saved: this.close(execId, false) });
            socket.end();
          } else {
            reply({ ok: false, error: { code: 'USAGE', message: 'expected one open, then one close' } });
          }
        } catch (err) {
          reply({ ok: false, error: toAvfsError(err).toJSON() });
        }
      }
    });
    const drop = () => {
      if (execId === undefined || closed) return;
      closed = true;
      this.o.log(`exec ${execId} disconnected without closing its view (its avfs died): closing it`);
      this.close(execId, true);
    };
    socket.on('close', drop);
    socket.on('error', drop);
  }
}
