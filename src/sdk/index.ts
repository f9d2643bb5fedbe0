/**
 * The avfs SDK: the same store the CLI uses, in-process (no shelling out), for agents written in
 * Node. Errors are typed subclasses of AvfsError with the same stable `code` as the CLI's JSON.
 *
 * @example
 * ```ts
 * import { AVFS } from 'agentvfs';
 * const avfs = new AVFS({ vault: 'agent-1' });
 * avfs.createVault('agent-1');
 * avfs.write('/notes.md', 'hello');
 * const cp = avfs.checkpointSave('before-refactor');
 * const run = await avfs.proxyExec('sh', ['-c', 'echo hi > out.txt']);
 * console.log(run.exitCode, run.changedFiles);
 * avfs.close();
 * ```
 */
import { normalizePath } from '../core/paths.js';
import { globToRegExp } from '../core/glob.js';
import { decodeUtf8 } from '../core/utf8.js';
import { openStore, type Actor, type Store } from '../store/store.js';
import { VaultFs } from '../store/vault-fs.js';
import type { Entry } from '../store/entries.js';
import {
  createVault,
  deleteVault,
  forkVault,
  getVault,
  listVaults,
  resolveVaultName,
  summarize,
  useVault,
  type VaultSummary,
} from '../store/vaults.js';
import { checkoutVersion, pathVersions, revertPath, vaultChanges, type VersionRecord } from '../store/history.js';
import { listCheckpoints, restoreCheckpoint, saveCheckpoint, type CheckpointInfo, type CheckpointRow, type RestoreResult } from '../store/checkpoints.js';
import { diffPaths, diffTreeSources, diffVersions, type TreeSource } from '../store/compare.js';
import { findEntries, grepFiles, searchText, type FindFilter, type GrepResult, type SearchHit } from '../store/search.js';
import { vaultStats, homeStats } from '../store/stats.js';
import { queryAudit, type AuditQuery } from '../store/audit.js';
import { gc, type GcOptions } from '../store/gc.js';
import { DEFAULT_GC_GRACE_MS } from '../store/gc.js';
import { importTree, exportTree } from '../store/transfer.js';
import { mergeVaults, undoMerge, type MergeReport, type UndoReport } from '../store/merge.js';
import type { Strategy } from '../core/merge-tree.js';
import { importTracked, syncTracked, type SyncReport } from '../store/sync.js';
import { AvfsError } from '../errors.js';
import { typed } from './errors.js';

export * from './errors.js';
export type { Entry, VaultSummary, VersionRecord, CheckpointInfo, CheckpointRow, RestoreResult, SearchHit, GrepResult };

export interface AVFSOptions {
  /** avfs home directory (default: $AVFS_HOME, else ~/.avfs). */
  home?: string;
  /** Vault to work on (default: $AVFS_VAULT, else the vault chosen with `avfs vault use`). */
  vault?: string;
}

export interface ProxyExecOptions {
  cwd?: string;
  timeoutMs?: number;
  killAfterMs?: number;
  /** true: always checkpoint first; false: never; default: when the policy asks. */
  checkpoint?: boolean;
  approve?: boolean;
  mode?: 'auto' | 'mount' | 'copy';
  env?: Record<string, string>;
  /** Run `command` with /bin/sh -c instead of as a program with `args`. */
  shell?: boolean;
  /** Make the policy's sandbox mode stricter: `required` refuses to run without the sandbox. */
  sandbox?: 'auto' | 'required';
  /** The sandbox's network: none (default) or the host's. */
  network?: 'none' | 'host';
  /** Limits (null: none), overriding the policy's. */
  maxProcesses?: number | null;
  maxFileSize?: number | null;
  memory?: number | null;
}

export interface ProxyExecResult {
  execId: string;
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
  mode: 'mount' | 'copy';
  checkpoint: string | null;
  /** What the sandbox enforced (`enforced`, `network`, `binds`, `limits`, …). */
  sandbox: Record<string, unknown>;
  /** Limits the run hit. */
  violations: Array<Record<string, unknown>>;
  changedFiles: Array<Record<string, unknown>>;
  decision: Record<string, unknown>;
  /** The full result, with the same snake_case fields as `avfs proxy exec --json`. */
  raw: Record<string, unknown>;
}

/** Runs a store call and re-throws its errors as typed classes. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw typed(err);
  }
}

async function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw typed(err);
  }
}

export class AVFS {
  private readonly store: Store;
  private vaultName: string | undefined;
  private readonly actor: Actor = { source: 'sdk' };

  constructor(options: AVFSOptions = {}) {
    this.store = call(() => openStore(options.home));
    this.vaultName = options.vault;
  }

  /** The home directory this instance works on. */
  get home(): string {
    return this.store.home;
  }

  /** The vault calls act on (see AVFSOptions.vault). */
  get vault(): string {
    return call(() => resolveVaultName(this.store, this.vaultName));
  }

  private fs(): VaultFs {
    const fs = new VaultFs(this.store, this.vault, this.actor);
    fs.row();
    return fs;
  }

  /** Releases the database connection (shared with other users of the same home in this process). */
  close(): void {
    this.store.release();
  }

  // ---- vaults --------------------------------------------------------------------------------

  createVault(name: string): VaultSummary {
    return call(() => createVault(this.store, name, this.actor, { firstOfHome: true }));
  }

  listVaults(): VaultSummary[] {
    return call(() => listVaults(this.store));
  }

  /** Makes `name` the vault this instance (and, like `avfs vault use`, the home) uses. */
  useVault(name: string): VaultSummary {
    return call(() => {
      const v = useVault(this.store, name);
      this.vaultName = name;
      return v;
    });
  }

  forkVault(source: string, target: string): VaultSummary {
    return call(() => forkVault(this.store, source, target, this.actor));
  }

  deleteVault(name: string, options: { force?: boolean } = {}): { name: string; detached_forks: string[] } {
    return call(() => deleteVault(this.store, name, !!options.force, this.actor));
  }

  vaultInfo(name?: string): VaultSummary {
    return call(() => summarize(this.store, getVault(this.store, name ?? this.vault)));
  }

  // ---- files ---------------------------------------------------------------------------------

  write(path: string, content: string | Uint8Array, options: { parents?: boolean; mode?: number } = {}): Entry {
    return call(() => this.fs().writeFile(path, content, options));
  }

  /** File content as bytes; with `encoding`, as a string. */
  read(path: string): Buffer;
  read(path: string, encoding: BufferEncoding): string;
  read(path: string, encoding?: BufferEncoding): Buffer | string {
    return call(() => {
      const data = this.fs().readFile(path);
      return encoding ? data.toString(encoding) : data;
    });
  }

  stat(path: string): Entry {
    return call(() => this.fs().lstat(path));
  }

  exists(path: string): boolean {
    return call(() => this.fs().exists(path));
  }

  ls(path = '/'): Entry[] {
    return call(() => this.fs().list(path));
  }

  /**
   * Replaces `oldString` with `newString` in a text file, in one transaction: the file must hold
   * `oldString` exactly once (or, with `replaceAll`, at least once). Absent → NOT_FOUND with
   * `reason: "no_match"`; more than once without `replaceAll` → CONFLICT with the count.
   */
  edit(path: string, oldString: string, newString: string, options: { replaceAll?: boolean } = {}): { entry: Entry; replacements: number } {
    return call(() =>
      this.store.mutate(() => {
        const fs = this.fs();
        if (oldString === '') throw new AvfsError('INVALID_ARGUMENT', 'the string to replace is empty', { path });
        const text = decodeUtf8(fs.readFile(path));
        if (text === undefined) throw new AvfsError('INVALID_ARGUMENT', `${path} is not UTF-8 text`, { path, reason: 'not_text' });
        const count = text.split(oldString).length - 1;
        if (count === 0) throw new AvfsError('NOT_FOUND', `the string to replace does not occur in ${path}`, { path, reason: 'no_match' });
        if (count > 1 && !options.replaceAll) {
          throw new AvfsError('CONFLICT', `the string to replace occurs ${count} times in ${path}: give more context to make it unique, or replace all`, { path, reason: 'not_unique', occurrences: count });
        }
        const entry = fs.writeFile(path, options.replaceAll ? text.split(oldString).join(newString) : text.replace(oldString, () => newString));
        return { entry, replacements: options.replaceAll ? count : 1 };
      }),
    );
  }

  mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Entry {
    return call(() => this.fs().mkdir(path, options));
  }

  /** Removes a path (a non-empty directory needs `recursive`); returns the removed paths. */
  rm(path: string, options: { recursive?: boolean } = {}): string[] {
    return call(() => this.fs().rm(path, options));
  }

  cp(src: string, dst: string, options: { recursive?: boolean } = {}) {
    return call(() => this.fs().cp(src, dst, options));
  }

  mv(src: string, dst: string) {
    return call(() => this.fs().mv(src, dst));
  }

  symlink(target: string, path: string): Entry {
    return call(() => this.fs().symlink(target, path));
  }

  /** Every entry below `path`, in path order (a flat tree). */
  tree(path = '/'): Entry[] {
    return call(() => this.fs().walk(path));
  }

  importFrom(hostPath: string, vaultPath = '/') {
    return call(() => importTree(this.fs(), hostPath, vaultPath));
  }

  exportTo(vaultPath: string, hostDir: string, options: { overwrite?: boolean } = {}) {
    return call(() => exportTree(this.fs(), vaultPath, hostDir, !!options.overwrite));
  }

  /**
   * Imports a host directory and records it (`avfs import --track`), so that `sync` can later
   * apply the vault's changes below `vaultPath` back to the host, three-way.
   */
  importTracked(hostPath: string, vaultPath: string) {
    return call(() => importTracked(this.fs(), hostPath, vaultPath));
  }

  /** Applies the vault's changes since a tracked import back to its host directory (`avfs sync`). */
  sync(vaultPath: string, options: { strategy?: Strategy; dryRun?: boolean } = {}): SyncReport {
    return call(() => syncTracked(this.fs(), vaultPath, options));
  }

  // ---- merge ---------------------------------------------------------------------------------

  /**
   * Merges `source`'s work into `into` (default: its parent), three-way (`avfs vault merge`).
   * With the default strategy `fail`, conflicts apply nothing and throw MERGE_CONFLICT carrying
   * the report; `dryRun` returns the plan and stores nothing.
   */
  merge(source: string, options: { into?: string; strategy?: Strategy; dryRun?: boolean } = {}): MergeReport {
    return call(() => mergeVaults(this.store, source, { ...options, actor: this.actor }));
  }

  /** Reverses the last merge of `source` into `into` (`avfs vault merge --undo`). */
  undoMerge(source: string, options: { into?: string; force?: boolean } = {}): UndoReport {
    return call(() => undoMerge(this.store, source, { ...options, actor: this.actor }));
  }

  // ---- search --------------------------------------------------------------------------------

  /** Full-text search (FTS5 syntax) over current text files, best first. */
  search(query: string, options: { limit?: number; path?: string } = {}): SearchHit[] {
    return call(() => {
      const fs = this.fs();
      const under = options.path ? fs.stat(options.path).path : undefined;
      return searchText(this.store, fs.row(), query, { limit: options.limit ?? 20, under }).hits;
    });
  }

  /** Lines matching a regular expression (or a fixed string) in current text files. */
  grep(pattern: string | RegExp, options: { path?: string; ignoreCase?: boolean; fixed?: boolean; maxCount?: number } = {}): GrepResult {
    return call(() => {
      const fs = this.fs();
      const source = typeof pattern === 'string' ? (options.fixed ? pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : pattern) : pattern.source;
      let regex: RegExp;
      try {
        regex = new RegExp(source, options.ignoreCase ? 'i' : typeof pattern === 'string' ? '' : pattern.flags.replace(/[gy]/g, ''));
      } catch (err) {
        throw new AvfsError('INVALID_ARGUMENT', `invalid regular expression: ${(err as Error).message}`, { pattern: String(pattern) });
      }
      const files = fs.walk(options.path ?? '/').filter((e) => e.type === 'f');
      return grepFiles(this.store, files, { regex, maxCount: options.maxCount });
    });
  }

  /** Entries below `path` matching a filter; `name` is a glob such as `*.ts`. */
  find(path = '/', filter: Omit<FindFilter, 'name'> & { name?: string } = {}): Entry[] {
    return call(() => {
      const fs = this.fs();
      const { name, ...rest } = filter;
      return findEntries(this.store, fs.row(), fs.stat(path), { ...rest, ...(name ? { name: globToRegExp(name) } : {}) }).entries;
    });
  }

  // ---- history -------------------------------------------------------------------------------

  /** A path's versions newest first, or without a path the vault's recent changes. */
  log(path?: string, options: { limit?: number } = {}): VersionRecord[] {
    return call(() => {
      const fs = this.fs();
      const limit = options.limit ?? 100;
      if (path === undefined) return vaultChanges(this.store, fs.row(), limit);
      return pathVersions(this.store, fs.row(), normalizePath(path), limit);
    });
  }

  /** Makes `path` hold version `version` again (as a new version). */
  checkout(path: string, version: number, options: { recursive?: boolean } = {}) {
    return call(() => checkoutVersion(this.fs(), path, version, options));
  }

  /** Undoes the latest change to `path`. */
  revert(path: string) {
    return call(() => revertPath(this.fs(), path));
  }

  /** A line diff of one path between versions (default: previous vs current). */
  diff(path: string, options: { from?: number; to?: number } = {}) {
    return call(() => diffVersions(this.fs(), path, { ...options, patch: true }));
  }

  /** A line diff between two paths of this vault. */
  diffPaths(a: string, b: string) {
    return call(() => diffPaths(this.fs(), a, b, { patch: true }));
  }

  /** A tree diff between checkpoints, vaults or the current state. */
  diffTrees(from: TreeSource, to: TreeSource = { current: true }, options: { patch?: boolean } = {}) {
    return call(() => diffTreeSources(this.fs(), from, to, options));
  }

  checkpointSave(name?: string, message?: string): CheckpointInfo {
    return call(() => saveCheckpoint(this.fs(), name ?? null, message ?? null));
  }

  checkpointRestore(name: string): RestoreResult {
    return call(() => restoreCheckpoint(this.fs(), name));
  }

  checkpointList(): CheckpointRow[] {
    return call(() => listCheckpoints(this.fs()));
  }

  // ---- runtime -------------------------------------------------------------------------------

  /**
   * Runs a command through the proxy boundary: policy check, optional checkpoint, execution in
   * a mounted (or copied) view of the vault with a timeout, and the exact list of changed files.
   */
  async proxyExec(command: string, args: string[] = [], options: ProxyExecOptions = {}): Promise<ProxyExecResult> {
    return callAsync(async () => {
      const { proxyExec } = await import('../proxy/run.js');
      const { shell, ...rest } = options;
      const r = await proxyExec(this.store, this.vault, {
        ...(shell ? { shell: [command, ...args].join(' ') } : { argv: [command, ...args] }),
        ...rest,
      });
      return {
        execId: r.exec_id,
        exitCode: r.exit_code,
        signal: r.signal,
        timedOut: r.timed_out,
        durationMs: r.duration_ms,
        stdout: r.stdout,
        stderr: r.stderr,
        truncated: r.truncated,
        mode: r.mode,
        checkpoint: r.checkpoint,
        sandbox: r.sandbox as unknown as Record<string, unknown>,
        violations: r.violations as unknown as Array<Record<string, unknown>>,
        changedFiles: r.changed_files as unknown as Array<Record<string, unknown>>,
        decision: r.decision as unknown as Record<string, unknown>,
        raw: r as unknown as Record<string, unknown>,
      };
    });
  }

  /**
   * Puts back what an exec changed, as it was before it (the exec needs a checkpoint). Refused
   * with CONFLICT when someone else changed one of its paths since, unless `force`.
   */
  async proxyUndo(execId: string, options: { force?: boolean } = {}) {
    return callAsync(async () => {
      const { proxyUndo } = await import('../proxy/undo.js');
      return proxyUndo(this.store, execId, { force: !!options.force });
    });
  }

  /** Mounts the vault on an empty host directory (served by a background process). */
  async mount(dir: string, options: { readOnly?: boolean } = {}) {
    return callAsync(async () => {
      const { mountVault } = await import('../mount/index.js');
      return mountVault({ home: this.home, vault: this.vault, dir, readOnly: options.readOnly });
    });
  }

  async unmount(dir: string, options: { lazy?: boolean } = {}) {
    return callAsync(async () => {
      const { unmountDir } = await import('../mount/index.js');
      return unmountDir({ home: this.home, dir, lazy: options.lazy });
    });
  }

  // ---- maintenance ---------------------------------------------------------------------------

  /** Numbers for the vault in use, or with `all` for the whole home. */
  stats(options: { all?: boolean } = {}) {
    return call(() => (options.all ? homeStats(this.store) : vaultStats(this.store, this.vault)));
  }

  audit(query: Partial<AuditQuery> = {}) {
    return call(() => queryAudit(this.store, { limit: 100, ...query } as AuditQuery).records);
  }

  /** Deletes content nothing references (older than the grace period, default 1 h). */
  gc(options: Partial<GcOptions> = {}) {
    return call(() => gc(this.store, { graceMs: DEFAULT_GC_GRACE_MS, dryRun: false, actor: this.actor, ...options } as GcOptions));
  }
}

export { AvfsError };
export default AVFS;
