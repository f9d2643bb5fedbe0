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
import { decodeUtf8 } from '../core/utf8.js';
import { openStore, type Actor, type Store } from '../store/store.js';
import { holdPin, VaultFs, type VaultPin } from '../store/vault-fs.js';
import type { Entry } from '../store/entries.js';
import {
  createVault,
  findVault,
  forkVault,
  getVault,
  listVaults,
  namedVault,
  resolveVaultName,
  summarize,
  useVault,
  validateVaultName,
  type VaultSummary as StoreVaultSummary,
} from '../store/vaults.js';
import { checkoutVersion, pathLog, revertPath, vaultChanges, type CheckoutResult as StoreCheckoutResult, type RevertResult as StoreRevertResult, type VersionRecord as StoreVersionRecord } from '../store/history.js';
import {
  checkoutFromCheckpoint,
  deleteCheckpoint,
  listCheckpoints,
  restoreCheckpoint,
  saveCheckpoint,
  type CheckpointRow as StoreCheckpointRow,
  type RestoreResult as StoreRestoreResult,
} from '../store/checkpoints.js';
import { diffPaths, diffTreeSources, diffVersions, type PathsDiff as StorePathsDiff, type TreeDiff as StoreTreeDiff, type TreeSource, type VersionDiff as StoreVersionDiff } from '../store/compare.js';
import { addTags, deleteMeta, getMeta, getTags, removeTags, setMeta, tagCounts, validateMetaKey } from '../store/annotations.js';
import { clearQuota, quotaReport, setQuota, type QuotaLimits, type QuotaReport } from '../store/quota.js';
import { prune, type PruneReport } from '../store/prune.js';
import { compact, type CompactReport } from '../store/maintenance.js';
import { find, grep, search, type FindParams, type GrepParams, type GrepResult, type SearchHit, type SearchParams } from '../api/search.js';
import { vaultStats, homeStats, type HomeStats as StoreHomeStats, type VaultStats as StoreVaultStats } from '../store/stats.js';
import { queryAudit, type AuditQuery, type AuditRecord as StoreAuditRecord } from '../store/audit.js';
import { DEFAULT_GC_GRACE_MS, gc, type GcReport as StoreGcReport } from '../store/gc.js';
import { importTree, exportTree, type TransferSummary as StoreTransferSummary } from '../store/transfer.js';
import { mergeVaults, undoMerge, type MergeReport as StoreMergeReport, type UndoReport as StoreMergeUndoReport } from '../store/merge.js';
import type { Strategy } from '../core/merge-tree.js';
import { importTracked, syncTracked, type SyncReport as StoreSyncReport } from '../store/sync.js';
import { type Category, type CommandVerdict, type Decision, type Policy, type PolicyAction, type PolicyInput, type PolicySource } from '../proxy/policy.js';
import { savePolicy } from '../proxy/policy-source.js';
import type { AgentAsks, AgentBeyond } from '../proxy/run.js';
import { proxyExecJson, runExec, undoExec, undoJson, type ChangedFile, type ExecJson, type ExecResult, type ProxyExecJson, type SandboxReport, type UndoJson, type UndoResult, type Violation } from '../api/exec.js';
import { policyCheck, policyInfo, type PolicyCheckResult, type PolicyInfo } from '../api/policy.js';
import { KIND, type EntryKind, type EntryType } from '../core/entry-types.js';
import { AvfsError } from '../errors.js';
import { oneOfOption, shownValue, timeOption, wholeOption } from '../core/units.js';
import { camel, type Camel } from '../api/case.js';
import { checkpointDetails, type CheckpointDetails } from '../api/checkpoints.js';
import { deleteUnmountedVault } from '../api/vaults.js';

export { ConflictError, DeniedError, InvalidInputError, NotFoundError, QuotaExceededError, TimeoutError } from '../errors.js';
export type { ErrorCode, ReportedCode } from '../errors.js';
export type { Entry, SearchHit, GrepResult, TreeSource, Camel, CheckpointDetails };
export type { AgentAsks, AgentBeyond, FindParams, GrepParams, SearchParams, ChangedFile, ExecJson, ExecResult, ProxyExecJson, PolicyCheckResult, PolicyInfo, SandboxReport, UndoJson, UndoResult, Violation };
export type { Category, CommandVerdict, Decision, Policy, PolicyAction, PolicyInput, PolicySource, EntryKind };

// ---- result types: camelCase throughout (`raw` fields keep the CLI's snake_case JSON) -----------

/** A vault: its parent, when it was made (ISO 8601), its counts, and whether it is the one in use. */
export type VaultSummary = Camel<StoreVaultSummary>;
/** A checkpoint: `seq` is the change sequence it names, `createdAt` epoch ms, `execId` the exec it was saved before. */
export type CheckpointRow = Camel<StoreCheckpointRow>;
/** @deprecated the same as CheckpointRow. */
export type CheckpointInfo = CheckpointRow;
/** What a checkpoint restore changed; `savedBefore` is the checkpoint of the state it replaced. */
export type RestoreResult = Camel<StoreRestoreResult>;
/** One recorded change of a path (`id` is its place in the change sequence). */
export type VersionRecord = Camel<StoreVersionRecord>;
export type CheckoutResult = Camel<StoreCheckoutResult>;
/** What `checkout(path, { checkpoint })` did: like CheckoutResult, with the checkpoint in place of the version. */
export type CheckpointCheckoutResult = Camel<ReturnType<typeof checkoutFromCheckpoint>>;
export type RevertResult = Camel<StoreRevertResult>;
/** Two versions of one path (`avfs diff <path>`). */
export type VersionDiff = Camel<StoreVersionDiff>;
/** Two paths of the vault (`avfs diff a b`). */
export type PathsDiff = Camel<StorePathsDiff>;
/** Two whole trees: checkpoints, vaults or the current state. */
export type TreeDiff = Camel<StoreTreeDiff>;
/** A three-way merge's report (`avfs vault merge`). */
export type MergeReport = Camel<StoreMergeReport>;
/** What undoing a merge put back (`avfs vault merge --undo`). */
export type MergeUndoReport = Camel<StoreMergeUndoReport>;
/** A sync's report (`avfs sync`): changes are applied to the host (`hostPath`). */
export type SyncReport = Camel<StoreSyncReport>;
/** What an import or export wrote. */
export type TransferSummary = Camel<StoreTransferSummary>;
export type VaultStats = Camel<StoreVaultStats>;
export type HomeStats = Camel<StoreHomeStats>;
/** One audit row; `detail` keeps the recorded fields as they were written. */
export type AuditRecord = Camel<StoreAuditRecord>;
export type GcReport = Camel<StoreGcReport>;

export interface DeleteVaultResult {
  name: string;
  /** Forks of the deleted vault that now stand alone (only with force). */
  detachedForks: string[];
}

export interface TagsResult {
  path: string;
  /** All the path's tags, sorted. */
  tags: string[];
}

export interface MetaResult {
  path: string;
  /** Every key → value of the path (after the call). */
  meta: Record<string, string>;
}

export interface QuotaLimitsInfo {
  /** null: unlimited. */
  maxBytes: number | null;
  maxFiles: number | null;
  maxFileSize: number | null;
}

export interface QuotaInfo {
  vault: string;
  quota: QuotaLimitsInfo;
  usage: { bytes: number; entries: number; largestFile: number };
  /** Limits the vault is already over: changes that grow it are refused until usage drops. */
  exceeded: Array<keyof QuotaLimitsInfo>;
}

export interface PruneOptions {
  /** Only the history of this vault path and below (default `/`). */
  path?: string;
  /** Prune every vault of the home instead of the one in use. */
  all?: boolean;
  /** Keep the newest `keep` versions of each path. */
  keep?: number;
  /** Only versions older than this. */
  olderThanMs?: number;
  /** Also drop old checkpoints by the same rules. */
  checkpoints?: boolean;
  dryRun?: boolean;
}

export interface PruneResult {
  dryRun: boolean;
  path: string;
  keep: number | null;
  olderThanMs: number | null;
  /** ISO time; rows created before it were old enough (null without olderThanMs). */
  cutoff: string | null;
  prunedVersions: number;
  prunedCheckpoints: number;
  vaults: Array<{ vault: string; prunedVersions: number; remainingVersions: number; prunedCheckpoints: string[] }>;
}

export interface CompactResult {
  beforeBytes: number;
  afterBytes: number;
  freedBytes: number;
  walBytesBefore: number;
  walBytesAfter: number;
  freePagesBefore: number;
  pageSize: number;
  /** False when another process kept the WAL from being truncated (run again later). */
  walCheckpointed: boolean;
  auditRowsTrimmed: number;
  durationMs: number;
}

export interface MountInfo {
  sessionId: string;
  vault: string;
  dir: string;
  pid: number;
  state: 'mounting' | 'mounted' | 'unmounting' | 'unmounted' | 'failed';
  readOnly: boolean;
  /** ISO 8601. */
  since: string;
}

export interface UnmountInfo {
  dir: string;
  state: 'mounting' | 'mounted' | 'unmounting' | 'unmounted' | 'failed';
  /** False when nothing was mounted there. */
  wasMounted: boolean;
  /** True when the serving process had died and its dead mount was cleaned up. */
  stale: boolean;
  sessionId: string | null;
  vault: string | null;
}

/**
 * A text argument as JavaScript may pass it: a non-string reached string methods and failed with
 * an uncoded TypeError (paths are checked where they are parsed, INVALID_PATH).
 */
function textOption(option: string, value: unknown, optional = true): void {
  if ((value !== undefined || !optional) && typeof value !== 'string') {
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${option}: a string, not ${value === null ? 'null' : typeof value}`, { option });
  }
}

/**
 * Every option a method takes, by name: `'boolean'` for a yes/no option, `true` for the others
 * (whose values the method checks itself). The type makes the compiler check the list against the
 * options' type, a yes/no option included: none is left out, none is read as truthy or falsy.
 */
type OptionNames<T> = { [K in keyof Required<T>]: Required<T>[K] extends boolean ? 'boolean' : true };

/**
 * A method's options object as JavaScript may pass it: anything but an object, or a name the
 * method does not take, is INVALID_ARGUMENT before anything is done, as the constructor, the CLI
 * and MCP refuse them. A misspelt option was ignored: `rm(p, { recurse: true })` failed as
 * not-empty and `find('/', { nme: '*.md' })` returned every entry. A yes/no option that is not
 * true, false or absent is refused too: read as truthy or falsy, `{ recursive: 'false' }` removed
 * a whole tree and `{ approve: 'false' }` approved.
 */
function knownOptions<T extends object>(method: string, options: T, names: OptionNames<T>): T {
  const known = Object.keys(names);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new AvfsError('INVALID_ARGUMENT', `${method} options must be an object ({ ${known.map((k) => `${k}?`).join(', ')} })`, { option: 'options' });
  }
  const unknown = Object.keys(options).filter((k) => !Object.hasOwn(names, k));
  if (unknown.length > 0) {
    const listed = unknown.map((k) => JSON.stringify(k)).join(', ');
    throw new AvfsError('INVALID_ARGUMENT', `unknown ${method} option ${listed} (known: ${known.join(', ') || 'none'})`, { option: unknown[0], options: unknown });
  }
  for (const [option, kind] of Object.entries(names)) {
    const value: unknown = (options as Record<string, unknown>)[option];
    if (kind === 'boolean' && value !== undefined && typeof value !== 'boolean') {
      throw new AvfsError('INVALID_ARGUMENT', `invalid ${option}: true or false, not ${JSON.stringify(value) ?? typeof value}`, { option });
    }
  }
  return options;
}

/** A list of strings (find's tags), checked as textOption checks one. */
function textListOption(option: string, value: unknown): void {
  if (value !== undefined && (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${option}: an array of strings`, { option });
  }
}

/** One side of a tree diff: an object with exactly one of checkpoint, vault (names) or current: true; anything else was read as the vault in use. */
function treeSource(option: string, source: TreeSource): TreeSource {
  const keys = source !== null && typeof source === 'object' ? Object.keys(source) : [];
  const s = source as Record<string, unknown>;
  const ok = keys.length === 1 && (keys[0] === 'current' ? s.current === true : (keys[0] === 'checkpoint' || keys[0] === 'vault') && typeof s[keys[0]] === 'string');
  if (!ok) throw new AvfsError('INVALID_ARGUMENT', `invalid ${option}: { checkpoint: name }, { vault: name } or { current: true }, not ${JSON.stringify(source) ?? String(source)}`, { option });
  return source;
}

/** The permission bits a mode may hold (the CLI's --mode takes 3 or 4 octal digits). */
const MAX_MODE = 0o7777;

const quotaInfo = (r: QuotaReport): QuotaInfo => {
  const names = { max_bytes: 'maxBytes', max_files: 'maxFiles', max_file_size: 'maxFileSize' } as const;
  return {
    vault: r.vault,
    quota: { maxBytes: r.quota.max_bytes, maxFiles: r.quota.max_files, maxFileSize: r.quota.max_file_size },
    usage: { bytes: r.usage.bytes, entries: r.usage.entries, largestFile: r.usage.largest_file },
    exceeded: r.exceeded.map((k) => names[k]),
  };
};

export interface AVFSOptions {
  /** avfs home directory (default: $AVFS_HOME, else ~/.avfs). */
  home?: string;
  /**
   * Vault to work on (default: $AVFS_VAULT, else the vault chosen with `avfs vault use`, read at
   * the instance's first call that needs a vault and kept for its lifetime).
   */
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
  /**
   * Run `command` with /bin/sh -c instead of as a program with `args`. As with Node's
   * `spawn(…, { shell: true })`, `args` are joined to it with spaces, unquoted, so the shell reads
   * them: pass values you do not control as `args` without `shell`.
   */
  shell?: boolean;
  /** Make the policy's sandbox mode stricter: `required` refuses to run without the sandbox. */
  sandbox?: 'auto' | 'required';
  /** The sandbox's network: none (default) or the host's. */
  network?: 'none' | 'host';
  /** Limits (null: none), overriding the policy's. */
  maxProcesses?: number | null;
  maxFileSize?: number | null;
  memory?: number | null;
  /** Aborting it ends the command as a SIGTERM would (timeout-like: the sandbox is killed); the result reports `signal`. */
  signal?: AbortSignal;
  /**
   * The call is the agent's own, not the person's who set the policy (as the MCP server's are):
   * `approve` is ignored, and a wider `network`, a longer `timeoutMs` (or 0) or `killAfterMs`
   * than the policy's, a limit above the policy's or none (null), or `checkpoint: false` where the
   * policy takes one is DENIED (rule `agent-limits`).
   */
  agent?: boolean;
}

/** A run's result: what `avfs proxy exec` reports, camelCase, with `raw`, the CLI's `--json` object. */
export interface ProxyExecResult extends ExecResult {
  /** The full result, with the same snake_case fields as `avfs proxy exec --json`. */
  raw: ProxyExecJson;
}

/** An undo's result, camelCase, with `raw`, the CLI's `--json` object. */
export interface ProxyUndoResult extends UndoResult {
  /** The full result, with the same snake_case fields as `avfs proxy undo --json`. */
  raw: UndoJson;
}

export class AVFS {
  private readonly opened: Store;
  private closed = false;
  /** Asynchronous calls still running: a close waits for them before it releases the connection. */
  private inFlight = 0;
  private vaultName: string | undefined;
  /** The vault calls act on, once resolved (see `vault`). */
  private pinned: string | undefined;
  /** That vault itself, once read: one deleted and made again under its name is not this instance's (VAULT_NOT_FOUND vault_replaced). */
  private vaultPin: VaultPin = {};
  private readonly actor: Actor;

  /**
   * Opens the home (created if missing). Throws INVALID_ARGUMENT for options that are not an
   * object or a `home` that is not a non-empty string, INVALID_NAME for a `vault` that is not a
   * valid vault name (the vault itself need not exist yet).
   */
  constructor(options: AVFSOptions = {}, /** @internal the door calls come through, as history and the audit record it (the MCP server's are `mcp`) */ source: 'sdk' | 'mcp' = 'sdk') {
    knownOptions('AVFS', options, { home: true, vault: true });
    this.actor = { source };
    if (options.home !== undefined && (typeof options.home !== 'string' || options.home.trim() === '')) {
      throw new AvfsError('INVALID_ARGUMENT', `AVFS option home must be a non-empty string (a directory path), got ${JSON.stringify(options.home)}`, { option: 'home' });
    }
    if (options.vault !== undefined) validateVaultName(options.vault);
    this.opened = openStore(options.home);
    this.vaultName = options.vault;
  }

  /** The connection; after close, every call is USAGE (the connection may serve other instances still). */
  private get store(): Store {
    if (this.closed) throw new AvfsError('USAGE', 'this AVFS instance is closed: make a new one to go on');
    return this.opened;
  }

  /** The home directory this instance works on. */
  get home(): string {
    return this.store.home;
  }

  /**
   * The vault calls act on (see AVFSOptions.vault). Without one named, it is the vault in use
   * when first needed, and stays this instance's: another process's `avfs vault use` redirected
   * the calls that followed into its vault. `useVault` changes it.
   */
  get vault(): string {
    const name = this.vaultNameNow();
    // Once read, the vault itself stays this instance's too (vault_replaced); a missing one is for the call to say.
    const row = findVault(this.store, name);
    if (row) holdPin(this.vaultPin, row);
    return name;
  }

  /** The name `vault` answers, without reading its row (fs() reads it once, through VaultFs.row). */
  private vaultNameNow(): string {
    const store = this.store; // USAGE once closed, even when the name was resolved before
    this.pinned ??= resolveVaultName(store, this.vaultName);
    return this.pinned;
  }

  /** Makes `name` the vault calls act on, whichever vault it names when next read. */
  private pinTo(name: string): void {
    this.pinned = name;
    this.vaultPin = {};
  }

  private fs(): VaultFs {
    const fs = new VaultFs(this.store, this.vaultNameNow(), this.actor, this.vaultPin);
    fs.row(); // checks the pin, as the `vault` getter does
    return fs;
  }

  /** Releases the database connection (shared with other users of the same home in this process). */
  close(): void {
    // Once only: the connection is counted per instance, and a second release would close it
    // under the other instances of this home in the process. A command still running (proxyExec)
    // keeps it until it is imported and reported: released by the last call to end.
    if (this.closed) return;
    this.closed = true;
    if (this.inFlight === 0) this.opened.release();
  }

  /** Runs an asynchronous call on the connection, which a close meanwhile leaves open until it ends. */
  private async holding<T>(work: (store: Store) => Promise<T>): Promise<T> {
    const store = this.store;
    this.inFlight++;
    try {
      return await work(store);
    } finally {
      if (--this.inFlight === 0 && this.closed) this.opened.release();
    }
  }

  // ---- vaults --------------------------------------------------------------------------------

  /** Creates an empty vault; the first one of a new home replaces its unused `default` and is in use (this instance's too, unless it named one). */
  createVault(name: string): VaultSummary {
    const v = createVault(this.store, name, this.actor, { firstOfHome: true, named: this.vaultName });
    // It took the place of the vault in use this instance may have kept (the unused default, now gone, or none).
    if (v.current && namedVault(this.vaultName) === undefined) this.pinTo(v.name);
    return camel(v);
  }

  listVaults(): VaultSummary[] {
    return camel(listVaults(this.store));
  }

  /** Makes `name` the vault this instance (and, like `avfs vault use`, the home) uses. */
  useVault(name: string): VaultSummary {
    const v = useVault(this.store, name);
    this.vaultName = name;
    this.pinTo(name);
    return camel(v);
  }

  forkVault(source: string, target: string): VaultSummary {
    return camel(forkVault(this.store, source, target, this.actor));
  }

  /** Deletes a vault; one with forks or a command running in it needs `force` (forks are detached and keep their files); a mounted one is refused (CONFLICT). */
  deleteVault(name: string, options: { force?: boolean } = {}): DeleteVaultResult {
    knownOptions('deleteVault', options, { force: 'boolean' });
    const r = deleteUnmountedVault(this.store, name, !!options.force, this.actor);
    return { name: r.name, detachedForks: r.detached_forks };
  }

  vaultInfo(name?: string): VaultSummary {
    return camel(summarize(this.store, getVault(this.store, name ?? this.vault)));
  }

  // ---- files ---------------------------------------------------------------------------------

  write(path: string, content: string | Uint8Array, options: { parents?: boolean; mode?: number } = {}): Entry {
    knownOptions('write', options, { parents: 'boolean', mode: true });
    // From JavaScript anything can arrive: say so with a code rather than Node's TypeError.
    if (typeof content !== 'string' && !(content instanceof Uint8Array)) {
      throw new AvfsError('INVALID_ARGUMENT', `invalid content for ${path}: a string or bytes (Buffer, Uint8Array), not ${content === null ? 'null' : typeof content}`, { option: 'content' });
    }
    wholeOption('mode', options.mode, 0, { max: MAX_MODE });
    return this.fs().writeFile(path, content, options);
  }

  /** File content as bytes; with `encoding`, as a string. */
  read(path: string): Buffer;
  read(path: string, encoding: BufferEncoding): string;
  read(path: string, encoding?: BufferEncoding): Buffer | string {
    // Node's toString throws an uncoded TypeError for an unknown encoding (or an options object).
    if (encoding !== undefined && (typeof encoding !== 'string' || !Buffer.isEncoding(encoding))) {
      throw new AvfsError('INVALID_ARGUMENT', `invalid encoding ${JSON.stringify(encoding) ?? String(encoding)}: a Buffer encoding such as 'utf8', or none for bytes (an old version: checkout, diff)`, { option: 'encoding' });
    }
    const data = this.fs().readFile(path);
    return encoding ? data.toString(encoding) : data;
  }

  /** The entry at `path`, following symlinks to what they name (as `fs.stat`, and `cat`, `ls`, `tree` do). */
  stat(path: string): Entry {
    return this.fs().stat(path);
  }

  /** The entry at `path` itself: a symlink in the last component is shown, not followed (as `fs.lstat`). */
  lstat(path: string): Entry {
    return this.fs().lstat(path);
  }

  exists(path: string): boolean {
    return this.fs().exists(path);
  }

  /**
   * A directory's entries in name order, or the entry of a file. With `limit`, the first that many
   * (the rest is not read); with `after` (a name), those after it: the next page after an entry.
   */
  ls(path = '/', options: { limit?: number; after?: string } = {}): Entry[] {
    knownOptions('ls', options, { limit: true, after: true });
    textOption('after', options.after);
    if (options.after !== undefined && (options.after === '' || options.after.includes('/'))) {
      throw new AvfsError('INVALID_ARGUMENT', `after is an entry's name, without '/' (got ${JSON.stringify(options.after)})`, { option: 'after' });
    }
    return this.fs().list(path, wholeOption('limit', options.limit, 1), options.after);
  }

  /**
   * Replaces `oldString` with `newString` in a text file, in one transaction: the file must hold
   * `oldString` exactly once (or, with `replaceAll`, at least once). Absent → NOT_FOUND with
   * `reason: "no_match"`; more than once without `replaceAll` → CONFLICT with the count. An edit
   * that leaves the text as it was (`newString` equal to `oldString`) records no version:
   * `changed` false, `replacements` 0.
   */
  edit(path: string, oldString: string, newString: string, options: { replaceAll?: boolean } = {}): { entry: Entry; replacements: number; changed: boolean } {
    knownOptions('edit', options, { replaceAll: 'boolean' });
    return this.store.mutate(() => {
      const fs = this.fs();
      textOption('oldString', oldString, false);
      textOption('newString', newString, false);
      if (oldString === '') throw new AvfsError('INVALID_ARGUMENT', 'the string to replace is empty', { path });
      const text = decodeUtf8(fs.readFile(path));
      if (text === undefined) throw new AvfsError('INVALID_ARGUMENT', `${path} is not UTF-8 text`, { path, reason: 'not_text' });
      const count = text.split(oldString).length - 1;
      if (count === 0) throw new AvfsError('NOT_FOUND', `the string to replace does not occur in ${path}`, { path, reason: 'no_match' });
      if (count > 1 && !options.replaceAll) {
        throw new AvfsError('CONFLICT', `the string to replace occurs ${count} times in ${path}: give more context to make it unique, or replace all`, { path, reason: 'not_unique', occurrences: count });
      }
      const edited = options.replaceAll ? text.split(oldString).join(newString) : text.replace(oldString, () => newString);
      if (edited === text) return { entry: fs.stat(path), replacements: 0, changed: false };
      return { entry: fs.writeFile(path, edited), replacements: options.replaceAll ? count : 1, changed: true };
    });
  }

  mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Entry {
    knownOptions('mkdir', options, { parents: 'boolean', mode: true });
    wholeOption('mode', options.mode, 0, { max: MAX_MODE });
    return this.fs().mkdir(path, options);
  }

  /** Removes a path (a non-empty directory needs `recursive`); returns the removed paths. */
  rm(path: string, options: { recursive?: boolean } = {}): string[] {
    knownOptions('rm', options, { recursive: 'boolean' });
    return this.fs().rm(path, options);
  }

  cp(src: string, dst: string, options: { recursive?: boolean } = {}): { from: string; to: string; copied: number } {
    knownOptions('cp', options, { recursive: 'boolean' });
    return this.fs().cp(src, dst, options);
  }

  mv(src: string, dst: string): { from: string; to: string; moved: number } {
    return this.fs().mv(src, dst);
  }

  symlink(target: string, path: string): Entry {
    return this.fs().symlink(target, path);
  }

  /** Every entry below `path`, in path order (a flat tree); with `maxDepth`, at most that many levels below it. */
  tree(path = '/', maxDepth?: number): Entry[] {
    if (maxDepth !== undefined && !(Number.isSafeInteger(maxDepth) && maxDepth >= 1)) {
      throw new AvfsError('INVALID_ARGUMENT', `maxDepth must be a whole number of levels, 1 or more (got ${shownValue(maxDepth)})`, { option: 'maxDepth' });
    }
    return this.fs().walk(path, maxDepth);
  }

  /**
   * The first `limit` entries of tree(path, maxDepth), without reading the rest of a large tree,
   * and `truncated`: the directories (`path` included) with children past the limit.
   */
  treeUpTo(path: string, limit: number, maxDepth?: number): { entries: Entry[]; truncated: string[] } {
    wholeOption('limit', limit, 1);
    if (maxDepth !== undefined && !(Number.isSafeInteger(maxDepth) && maxDepth >= 1)) {
      throw new AvfsError('INVALID_ARGUMENT', `maxDepth must be a whole number of levels, 1 or more (got ${shownValue(maxDepth)})`, { option: 'maxDepth' });
    }
    const { entries, cut } = this.fs().walkUpTo(path, limit, maxDepth);
    return { entries, truncated: [...cut] };
  }

  importFrom(hostPath: string, vaultPath = '/'): TransferSummary {
    return camel(importTree(this.fs(), hostPath, vaultPath));
  }

  exportTo(vaultPath: string, hostDir: string, options: { overwrite?: boolean } = {}): TransferSummary {
    knownOptions('exportTo', options, { overwrite: 'boolean' });
    return camel(exportTree(this.fs(), vaultPath, hostDir, !!options.overwrite));
  }

  /**
   * Imports a host directory and records it (`avfs import --track`), so that `sync` can later
   * apply the vault's changes below `vaultPath` back to the host, three-way.
   */
  importTracked(hostPath: string, vaultPath: string): TransferSummary & { path: string } {
    return camel(importTracked(this.fs(), hostPath, vaultPath));
  }

  /** Applies the vault's changes since a tracked import back to its host directory (`avfs sync`). */
  sync(vaultPath: string, options: { strategy?: Strategy; dryRun?: boolean } = {}): SyncReport {
    knownOptions('sync', options, { strategy: true, dryRun: 'boolean' });
    return camel(syncTracked(this.fs(), vaultPath, options));
  }

  // ---- merge ---------------------------------------------------------------------------------

  /**
   * Merges `source`'s work into `into` (default: its parent), three-way (`avfs vault merge`).
   * With the default strategy `fail`, conflicts apply nothing and throw MERGE_CONFLICT carrying
   * the report; `dryRun` returns the plan and stores nothing.
   */
  merge(source: string, options: { into?: string; strategy?: Strategy; dryRun?: boolean } = {}): MergeReport {
    knownOptions('merge', options, { into: true, strategy: true, dryRun: 'boolean' });
    return camel(mergeVaults(this.store, source, { ...options, actor: this.actor }));
  }

  /** Reverses the last merge of `source` into `into` (`avfs vault merge --undo`). */
  undoMerge(source: string, options: { into?: string; force?: boolean } = {}): MergeUndoReport {
    knownOptions('undoMerge', options, { into: true, force: 'boolean' });
    return camel(undoMerge(this.store, source, { ...options, actor: this.actor }));
  }

  // ---- search --------------------------------------------------------------------------------

  /** Full-text search (FTS5 syntax; `literal`: the words as typed) over current text files, best first. */
  search(query: string, options: Omit<SearchParams, 'query'> = {}): SearchHit[] {
    knownOptions('search', options, { literal: 'boolean', limit: true, path: true });
    // A count SQLite cannot take as a LIMIT failed uncoded; one below 1 returned nothing.
    textOption('query', query, false);
    wholeOption('limit', options.limit, 1);
    return search(this.fs(), { ...options, query }).hits;
  }

  /**
   * Lines matching a regular expression (or, with `fixed`, a literal string) in the current text
   * files at or below `path`. An invalid pattern throws INVALID_PATTERN, as `avfs grep` fails.
   */
  grep(pattern: string | RegExp, options: Omit<GrepParams, 'pattern' | 'onMatch'> = {}): GrepResult {
    knownOptions('grep', options, { path: true, maxCount: true, include: true, filesOnly: 'boolean', fixed: 'boolean', ignoreCase: 'boolean', limit: true });
    textOption('include', options.include);
    wholeOption('maxCount', options.maxCount, 1);
    wholeOption('limit', options.limit, 1);
    return grep(this.fs(), { ...options, pattern });
  }

  /** Entries below `path` passing every filter; `name` is a glob such as `*.ts`, `glob` one over whole paths; `type` a letter (`f`) or the name entries carry (`file`), as the CLI takes. */
  find(path = '/', filter: Omit<FindParams, 'path' | 'type'> & { type?: EntryType | EntryKind } = {}): Entry[] {
    knownOptions('find', filter, { name: true, iname: true, glob: true, type: true, minSize: true, maxSize: true, newerThan: true, maxDepth: true, tags: true, meta: true, limit: true });
    // Out-of-range numbers (NaN, -1) and unknown types would otherwise filter out everything, or nothing.
    for (const option of ['name', 'iname', 'glob'] as const) textOption(option, filter[option]);
    textListOption('tags', filter.tags);
    if (filter.meta !== undefined && (!Array.isArray(filter.meta) || filter.meta.some((m) => m === null || typeof m !== 'object' || typeof m.key !== 'string' || (m.value !== undefined && typeof m.value !== 'string')))) {
      throw new AvfsError('INVALID_ARGUMENT', 'invalid meta: an array of { key, value? } with string fields', { option: 'meta' });
    }
    oneOfOption('type', filter.type, [...Object.keys(KIND), ...Object.values(KIND)] as Array<EntryType | EntryKind>);
    const type = (Object.keys(KIND) as EntryType[]).find((t) => t === filter.type || KIND[t] === filter.type);
    wholeOption('minSize', filter.minSize, 0);
    wholeOption('maxSize', filter.maxSize, 0);
    timeOption('newerThan', filter.newerThan);
    wholeOption('maxDepth', filter.maxDepth, 0);
    wholeOption('limit', filter.limit, 1);
    return find(this.fs(), { ...filter, type, path }).entries;
  }

  // ---- history -------------------------------------------------------------------------------

  /** A path's versions newest first (NOT_FOUND for a path with no entry and no history), or without a path the vault's recent changes. */
  log(path?: string, options: { limit?: number } = {}): VersionRecord[] {
    knownOptions('log', options, { limit: true });
    const fs = this.fs();
    // SQLite reads a negative LIMIT as none: -1 would return the whole history.
    const limit = wholeOption('limit', options.limit ?? 100, 1);
    if (path === undefined) return camel(vaultChanges(this.store, fs.row(), limit));
    return camel(this.store.read(() => pathLog(fs, fs.row(), path, limit).rows));
  }

  /** Makes `path` hold version `version` again (as a new version). */
  checkout(path: string, version: number, options?: { recursive?: boolean }): CheckoutResult;
  /** The path as checkpoint `checkpoint` held it (`avfs checkout <path> --checkpoint <name>`). */
  checkout(path: string, from: { checkpoint: string }, options?: { recursive?: boolean }): CheckpointCheckoutResult;
  checkout(path: string, from: number | { checkpoint: string }, options: { recursive?: boolean } = {}): CheckoutResult | CheckpointCheckoutResult {
    knownOptions('checkout', options, { recursive: 'boolean' });
    if (typeof from === 'object' && from !== null && !Array.isArray(from) && 'checkpoint' in from) {
      // As `avfs checkout <path> --checkpoint <name>`: the path as the checkpoint held it.
      knownOptions('checkout', from, { checkpoint: true });
      textOption('checkpoint', from.checkpoint, false);
      return camel(checkoutFromCheckpoint(this.fs(), path, from.checkpoint, options));
    }
    return camel(checkoutVersion(this.fs(), path, from as number, options)); // anything else is an invalid version there
  }

  /** Undoes the latest change to `path`. */
  revert(path: string): RevertResult {
    return camel(revertPath(this.fs(), path));
  }

  /** A line diff of one path between versions (default: previous vs current). */
  diff(path: string, options: { from?: number; to?: number } = {}): VersionDiff {
    knownOptions('diff', options, { from: true, to: true });
    return camel(diffVersions(this.fs(), path, { ...options, patch: true }));
  }

  /** A line diff between two paths of this vault. */
  diffPaths(a: string, b: string): PathsDiff {
    return camel(diffPaths(this.fs(), a, b, { patch: true }));
  }

  /** A tree diff between checkpoints, vaults or the current state. */
  /** `patchBytes`: file text the patches read at most (default 32 MiB); files past it are `tooLarge`. */
  diffTrees(from: TreeSource, to: TreeSource = { current: true }, options: { patch?: boolean; patchBytes?: number } = {}): TreeDiff {
    knownOptions('diffTrees', options, { patch: 'boolean', patchBytes: true });
    const { patchBytes, ...rest } = options;
    if (patchBytes !== undefined && !(Number.isSafeInteger(patchBytes) && patchBytes >= 0)) {
      throw new AvfsError('INVALID_ARGUMENT', `patchBytes must be a whole number of bytes, 0 or more (got ${shownValue(patchBytes)})`, { option: 'patchBytes' });
    }
    return camel(diffTreeSources(this.fs(), treeSource('from', from), treeSource('to', to), { ...rest, ...(patchBytes === undefined ? {} : { budget: { left: patchBytes } }) }));
  }

  checkpointSave(name?: string, message?: string): CheckpointInfo {
    return camel(saveCheckpoint(this.fs(), name ?? null, message ?? null));
  }

  checkpointRestore(name: string): RestoreResult {
    return camel(restoreCheckpoint(this.fs(), name));
  }

  checkpointList(): CheckpointRow[] {
    return camel(listCheckpoints(this.fs()));
  }

  /** Deletes a checkpoint (content it alone referenced is freed by `gc`); returns its name. */
  checkpointDelete(name: string): { deleted: string } {
    return { deleted: deleteCheckpoint(this.fs(), name).name };
  }

  /** One checkpoint: when, what it holds, and how the vault has changed since (`avfs checkpoint info`). */
  checkpointInfo(name: string): CheckpointDetails {
    return checkpointDetails(this.fs(), name);
  }

  /** A tree diff from a checkpoint to another checkpoint (or to the current state, by default). */
  checkpointDiff(from: string, to?: string, options: { patch?: boolean } = {}): TreeDiff {
    knownOptions('checkpointDiff', options, { patch: 'boolean' });
    return this.diffTrees({ checkpoint: from }, to === undefined ? { current: true } : { checkpoint: to }, options);
  }

  // ---- tags and metadata ---------------------------------------------------------------------

  /** Adds tags to a path (`avfs tag`); `added` lists the ones that were new. */
  tag(path: string, tags: string | string[]): TagsResult & { added: string[] } {
    return addTags(this.fs(), path, ([] as string[]).concat(tags));
  }

  /** Removes tags from a path (`avfs untag`; tags it does not have are ignored). */
  untag(path: string, tags: string | string[]): TagsResult & { removed: string[] } {
    return removeTags(this.fs(), path, ([] as string[]).concat(tags));
  }

  /** A path's tags, sorted (`avfs tags <path>`). */
  tags(path: string): TagsResult {
    return getTags(this.fs(), path);
  }

  /** Every tag used in the vault with how many paths carry it (`avfs tags`). */
  tagCounts(): Record<string, number> {
    return Object.fromEntries(tagCounts(this.fs()).map((c) => [c.tag, c.count]));
  }

  /** All metadata of a path (`avfs meta <path>`). */
  metaList(path: string): MetaResult {
    return getMeta(this.fs(), path);
  }

  /** One metadata value, or null when the key is not set (`avfs meta <path> <key>`). */
  metaGet(path: string, key: string): string | null {
    validateMetaKey(key);
    const { meta } = getMeta(this.fs(), path);
    return Object.hasOwn(meta, key) ? meta[key]! : null;
  }

  /** Sets a metadata key (`avfs meta <path> <key> <value>`; values up to 64 KiB of text). */
  metaSet(path: string, key: string, value: string): MetaResult {
    return setMeta(this.fs(), path, key, value);
  }

  /** Deletes a key, or without one all metadata of the path; `deleted` lists the keys removed. */
  metaDelete(path: string, key?: string): MetaResult & { deleted: string[] } {
    return deleteMeta(this.fs(), path, key);
  }

  // ---- runtime -------------------------------------------------------------------------------

  /**
   * Runs a command through the proxy boundary: policy check, optional checkpoint, execution in
   * a mounted (or copied) view of the vault with a timeout, and the exact list of changed files.
   */
  async proxyExec(command: string, args: string[] = [], options: ProxyExecOptions = {}): Promise<ProxyExecResult> {
    knownOptions('proxyExec', options, { cwd: true, timeoutMs: true, killAfterMs: true, checkpoint: 'boolean', approve: 'boolean', mode: true, env: true, shell: 'boolean', sandbox: true, network: true, maxProcesses: true, maxFileSize: true, memory: true, signal: true, agent: 'boolean' });
    textOption('command', command, false);
    textListOption('args', args);
    const { shell, ...rest } = options;
    const vault = this.vault;
    const r = await this.holding((store) =>
      runExec(store, vault, {
        ...(shell ? { shell: [command, ...args].join(' ') } : { argv: [command, ...args] }),
        ...rest,
      }),
    );
    return { ...r, raw: proxyExecJson(r) };
  }

  /**
   * Puts back what an exec changed, as it was before it (the exec needs a checkpoint). Refused
   * with CONFLICT when someone else changed one of its paths since, unless `force`.
   */
  async proxyUndo(execId: string, options: { force?: boolean } = {}): Promise<ProxyUndoResult> {
    knownOptions('proxyUndo', options, { force: 'boolean' });
    // A vault this client was given (or $AVFS_VAULT) must be the exec's: never undo in another one.
    const r = await this.holding((store) => undoExec(store, execId, { force: options.force, vault: namedVault(this.vaultName) }));
    return { ...r, raw: undoJson(r) };
  }

  /** The vault's effective policy and where it comes from (`avfs proxy policy show`). */
  policyShow(): PolicyInfo {
    return policyInfo(this.store, this.vault);
  }

  /**
   * Validates and stores a policy (`avfs proxy policy set`): for the vault in use, or with
   * `scope: 'home'` for every vault without its own; `null` removes it (`proxy policy reset`).
   * Returns the effective policy afterwards. Invalid documents throw INVALID_ARGUMENT.
   */
  policySet(policy: PolicyInput | string | null, options: { scope?: 'vault' | 'home' } = {}): PolicyInfo {
    knownOptions('policySet', options, { scope: true });
    const scope = options.scope ?? 'vault';
    if (scope !== 'vault' && scope !== 'home') throw new AvfsError('INVALID_ARGUMENT', `invalid scope ${JSON.stringify(scope)}: vault or home`, { option: 'scope' });
    savePolicy(this.store, scope, this.vault, policy === null ? null : typeof policy === 'string' ? policy : JSON.stringify(policy), this.actor);
    return policyInfo(this.store, this.vault);
  }

  /**
   * What the policy decides for a command, and which rule decided, as `proxyExec` would judge it
   * here (sandboxed or not), without running anything (`avfs proxy policy check`).
   */
  policyCheck(command: string, args: string[] = [], options: { shell?: boolean; cwd?: string; approve?: boolean; agent?: AgentAsks; env?: Record<string, string> } = {}): PolicyCheckResult {
    knownOptions('policyCheck', options, { shell: 'boolean', cwd: true, approve: 'boolean', agent: true, env: true });
    textOption('command', command, false);
    textListOption('args', args);
    const request = options.shell ? { shell: [command, ...args].join(' ') } : { argv: [command, ...args] };
    return policyCheck(this.store, this.vault, { ...request, cwd: options.cwd, approve: options.approve, agent: options.agent, env: options.env });
  }

  /** Mounts the vault on an empty host directory (served by a background process). */
  async mount(dir: string, options: { readOnly?: boolean } = {}): Promise<MountInfo> {
    knownOptions('mount', options, { readOnly: 'boolean' });
    textOption('dir', dir, false);
    const { mountVault } = await import('../mount/index.js');
    const m = await mountVault({ home: this.home, vault: this.vault, dir, readOnly: options.readOnly });
    return { sessionId: m.session_id, vault: m.vault, dir: m.dir, pid: m.pid, state: m.state, readOnly: m.read_only, since: m.since };
  }

  /** Unmounts a directory mounted with `mount` (or `avfs mount`); harmless when nothing is mounted. */
  async unmount(dir: string, options: { lazy?: boolean } = {}): Promise<UnmountInfo> {
    knownOptions('unmount', options, { lazy: 'boolean' });
    textOption('dir', dir, false);
    const { unmountDir } = await import('../mount/index.js');
    const u = await unmountDir({ home: this.home, dir, lazy: options.lazy });
    return { dir: u.dir, state: u.state, wasMounted: u.was_mounted, stale: u.stale, sessionId: u.session_id, vault: u.vault };
  }

  // ---- maintenance ---------------------------------------------------------------------------

  /** Numbers for the vault in use, or with `all` for the whole home. */
  stats(options: { all: true }): HomeStats;
  stats(options?: { all?: false }): VaultStats;
  stats(options: { all?: boolean } = {}): VaultStats | HomeStats {
    knownOptions('stats', options, { all: 'boolean' });
    return camel(options.all ? homeStats(this.store) : vaultStats(this.store, this.vault));
  }

  /** Audit rows, newest first (default: the last 100). */
  audit(query: Partial<AuditQuery> = {}): AuditRecord[] {
    knownOptions('audit', query, { since: true, op: true, execId: true, vault: true, limit: true });
    timeOption('since', query.since);
    for (const option of ['op', 'execId', 'vault'] as const) textOption(option, query[option]);
    return camel(queryAudit(this.store, { ...query, limit: wholeOption('limit', query.limit ?? 100, 1) }).records);
  }

  /** The vault's limits (null: unlimited) and current usage (`avfs quota`). */
  quota(): QuotaInfo {
    return quotaInfo(quotaReport(this.store, getVault(this.store, this.vault)));
  }

  /**
   * Sets the vault's limits (`avfs quota set`): only the ones given change; null removes one.
   * A limit below current usage is accepted; growth is then refused with QUOTA_EXCEEDED.
   */
  setQuota(limits: Partial<QuotaLimitsInfo>): QuotaInfo {
    knownOptions('setQuota', limits, { maxBytes: true, maxFiles: true, maxFileSize: true });
    const next: Partial<QuotaLimits> = {};
    const maxBytes = wholeOption('maxBytes', limits.maxBytes, 0, { nullable: true });
    const maxFiles = wholeOption('maxFiles', limits.maxFiles, 0, { nullable: true });
    const maxFileSize = wholeOption('maxFileSize', limits.maxFileSize, 0, { nullable: true });
    if (maxBytes !== undefined) next.max_bytes = maxBytes;
    if (maxFiles !== undefined) next.max_files = maxFiles;
    if (maxFileSize !== undefined) next.max_file_size = maxFileSize;
    if (Object.keys(next).length === 0) throw new AvfsError('INVALID_ARGUMENT', 'give at least one of maxBytes, maxFiles, maxFileSize');
    return quotaInfo(setQuota(this.store, this.vault, next, this.actor));
  }

  /** Removes every limit of the vault (`avfs quota clear`). */
  clearQuota(): QuotaInfo {
    return quotaInfo(clearQuota(this.store, this.vault, this.actor));
  }

  /**
   * Drops old versions (and with `checkpoints`, old checkpoints) by rule, never the current state
   * (`avfs prune`): give `keep`, `olderThanMs` or both. Content they alone used is freed by `gc`.
   */
  prune(options: PruneOptions): PruneResult {
    knownOptions('prune', options, { path: true, all: 'boolean', keep: true, olderThanMs: true, checkpoints: 'boolean', dryRun: 'boolean' });
    if (options.all && options.path !== undefined) throw new AvfsError('INVALID_ARGUMENT', 'give a path or all, not both');
    const r: PruneReport = prune(this.store, {
      names: { keep: 'keep', olderThan: 'olderThanMs', all: 'all: true' },
      scope: options.all ? { all: true } : { vault: this.vault },
      path: options.all ? undefined : (options.path ?? '/'),
      keep: options.keep,
      olderThanMs: options.olderThanMs,
      checkpoints: !!options.checkpoints,
      dryRun: !!options.dryRun,
      actor: this.actor,
    });
    return {
      dryRun: r.dry_run,
      path: r.path,
      keep: r.keep,
      olderThanMs: r.older_than_ms,
      cutoff: r.cutoff,
      prunedVersions: r.pruned_versions,
      prunedCheckpoints: r.pruned_checkpoints,
      vaults: r.vaults.map((v) => ({ vault: v.vault, prunedVersions: v.pruned_versions, remainingVersions: v.remaining_versions, prunedCheckpoints: v.pruned_checkpoints })),
    };
  }

  /** Shrinks the database file: WAL checkpoint and truncate, VACUUM, optimize (`avfs compact`). */
  compact(): CompactResult {
    const r: CompactReport = compact(this.store, this.actor);
    return {
      beforeBytes: r.before_bytes,
      afterBytes: r.after_bytes,
      freedBytes: r.freed_bytes,
      walBytesBefore: r.wal_bytes_before,
      walBytesAfter: r.wal_bytes_after,
      freePagesBefore: r.free_pages_before,
      pageSize: r.page_size,
      walCheckpointed: r.wal_checkpointed,
      auditRowsTrimmed: r.audit_rows_trimmed,
      durationMs: r.duration_ms,
    };
  }

  /** Deletes content nothing references (older than the grace period, default 1 h). */
  gc(options: { graceMs?: number; dryRun?: boolean } = {}): GcReport {
    knownOptions('gc', options, { graceMs: true, dryRun: 'boolean' });
    return camel(gc(this.store, { graceMs: wholeOption('graceMs', options.graceMs ?? DEFAULT_GC_GRACE_MS, 0), dryRun: !!options.dryRun, actor: this.actor }));
  }
}

export { AvfsError };
export default AVFS;
