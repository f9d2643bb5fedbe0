import { lstatSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync, symlinkSync, unlinkSync, mkdirSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { AvfsError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { hashHostFile, readHostLink } from './host-tree.js';
import { hostEntryType } from '../core/entry-types.js';
import { planMerge, type Content, type ContentMerger, type MergeState, type PathMerge, type Strategy } from '../core/merge-tree.js';
import { descendantRange, isWithin, joinPath, normalizePath } from '../core/paths.js';
import { decodeUtf8, escapeBytes } from '../core/utf8.js';
import { audit } from './audit.js';
import { contentChunks, isStored, readContent } from './blobs.js';
import { entriesWithHash, getEntry, hasChildren, iterateDescendants } from './entries.js';
import { stateAt } from './history.js';
import { collectTriples, mergeState, pathsChangedAfter, type TripleSource } from './lineage.js';
import { conflictJson, nothingNew, planSummary, sideJson, textMerger, validateStrategy, type ChangeJson, type ConflictJson, type MergeSummary } from './merge.js';
import { now, type Store } from './store.js';
import { PinnedDirs } from './pinned-dirs.js';
import { homeOnHost, insideHome, namesHome, refuseInsideHome, type HomeOnHost } from './home-on-host.js';
import { checkHostPath, hostKind, importTree, placeHostLink, isTemporaryName, placeHostEntry, sweepStaleTemporaries, settleHostDirectory, writeHostFile, type Progress, type TransferSummary } from './transfer.js';
import { currentSeq, type VaultRow } from './vaults.js';
import type { VaultFs } from './vault-fs.js';

/**
 * Tracked imports and `sync`: the vault's work back to the host directory it was imported from,
 * with the three-way rules of `vault merge` (core/merge-tree.ts). The host directory is "ours"
 * (the side written to), the vault "theirs", and the base is the vault's state when the host and
 * the vault last agreed: the tracked import, then each sync (table `tracked_imports`, owned here;
 * prune keeps its point's versions). Only paths the vault changed since are looked at, so a host
 * file changed since the import is a conflict when the vault changed it too and is left alone
 * otherwise: a host change is never silently overwritten.
 *
 * The host is read with lstat and written as export writes it (transfer.ts): never through a
 * symlink, a new file created with O_EXCL|O_NOFOLLOW or written beside the old one and renamed
 * over it, modes set through descriptors that refuse symlinks. A path below a host symlink (or
 * below anything that is not a real directory) counts as absent on the host and is never opened.
 * Renames are followed when the vault made them; the host side is not searched for moved files.
 */

export interface TrackedImport {
  id: number;
  vault_id: number;
  /** The vault directory the host directory was imported into. */
  path: string;
  /** The host directory (absolute). */
  host: string;
  /** The change sequence at which the vault below `path` and the host last agreed (the base). */
  seq: number;
  created_at: number;
  synced_at: number | null;
}

const TRACKED = 'SELECT * FROM tracked_imports WHERE vault_id = ? AND path = ?';

/**
 * `import --track`: imports a host directory into an absent or empty vault directory (so the base
 * is exactly what the host held) and records where it came from, in the import's transaction.
 */
export function importTracked(fs: VaultFs, host: string, vaultInput: string, progress?: Progress): TransferSummary & { path: string } {
  checkHostPath(host, 'host');
  let st: Stats | undefined;
  try {
    // A symlink to the project (`~/proj` → `/data/proj`) tracks the directory it names: sync
    // writes nothing through a symlink, and importing the link itself left a root that never syncs.
    host = realpathSync(host);
    st = statSync(host);
  } catch {
    throw new AvfsError('NOT_FOUND', `no such host directory: ${host}`, { host });
  }
  if (!st.isDirectory()) throw new AvfsError('NOT_A_DIRECTORY', `--track imports a directory, and ${host} is not one`, { host });
  // Not even a kept copy (which a plain import reads): sync would never write there.
  refuseInsideHome(homeOnHost(fs.store.home), host, `tracking ${host}`);
  const path = normalizePath(vaultInput);
  if (fs.exists(path) && (fs.lstat(path).type !== 'd' || fs.list(path).length > 0)) {
    throw new AvfsError('ALREADY_EXISTS', `--track imports into a new or empty vault directory, and ${path} is not empty`, { path });
  }
  let root = path;
  const summary = importTree(fs, host, path, progress, (r) => {
    root = r;
    fs.store.stmt('INSERT OR REPLACE INTO tracked_imports (vault_id, path, host, seq, created_at) VALUES (?, ?, ?, ?, ?)').run(fs.row().id, r, host, currentSeq(fs.store), now());
    audit(fs.store, fs.actor, 'import.track', fs.name, { path: r, host });
  });
  return { ...summary, path: root };
}

/** The tracked imports of a vault. */
export function listTracked(fs: VaultFs): TrackedImport[] {
  return fs.store.read(() => fs.store.stmt<TrackedImport>('SELECT * FROM tracked_imports WHERE vault_id = ? ORDER BY path').all(fs.row().id));
}

// ---- the host side -------------------------------------------------------------------------

/** Enough of a host entry to tell it was changed: a directory by its inode (sync's own writes change its times), anything else by inode, size and mtime. */
interface HostIdentity {
  ino: number;
  directory: boolean;
  size: number;
  mtimeMs: number;
}

const hostIdentity = (st: Stats): HostIdentity => ({ ino: st.ino, directory: st.isDirectory(), size: st.size, mtimeMs: st.mtimeMs });

function sameHostEntry(was: HostIdentity | null, st: Stats | undefined): boolean {
  if (!was || !st) return !was && !st;
  if (was.directory) return st.isDirectory() && st.ino === was.ino;
  return !st.isDirectory() && st.ino === was.ino && st.size === was.size && st.mtimeMs === was.mtimeMs;
}

/** The host directory as the merge's "ours": states by lstat, content hashed when asked for. */
class HostSide {
  /** Host file of each content hash seen, to read "ours" text for a line merge. */
  readonly files = new Map<string, string>();
  private readonly states = new Map<string, MergeState | null>();

  /** The vault path at which the avfs home was met in this tree, if it was: read as absent, never listed (home-on-host.ts). */
  home: string | undefined;

  /**
   * What each host path read was (null: absent), to check just before sync writes or removes it
   * that nobody changed it since the plan was made (writeHost).
   */
  readonly seen = new Map<string, HostIdentity | null>();

  constructor(
    readonly root: string,
    readonly hostRoot: string,
    private readonly homeDir: HomeOnHost | undefined,
  ) {}

  hostPath(path: string): string {
    return path === this.root ? this.hostRoot : join(this.hostRoot, path.slice(this.root === '/' ? 1 : this.root.length + 1));
  }

  /**
   * The host's state at a vault path: null when absent or below something that is not a real
   * directory. A host file has no owner or tags in the vault's sense: it takes those of `like`
   * (the vault's), so they never conflict.
   */
  state(path: string, like: MergeState | null): MergeState | null {
    let state = this.states.get(path);
    if (state === undefined) {
      const parent = path === this.root ? null : path.slice(0, path.lastIndexOf('/')) || '/';
      state = parent === null || this.state(parent, null)?.type === 'd' ? this.read(path) : null;
      this.states.set(path, state);
    }
    return state && { ...state, uid: like?.uid ?? null, gid: like?.gid ?? null, annot: like?.annot ?? null };
  }

  private read(path: string): MergeState | null {
    const host = this.hostPath(path);
    let st: Stats;
    try {
      st = lstatSync(host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        this.seen.set(path, null);
        return null;
      }
      throw err;
    }
    this.seen.set(path, hostIdentity(st));
    if (namesHome(this.homeDir, host, st)) {
      this.home = path;
      return null;
    }
    const meta = { uid: null, gid: null, annot: null };
    const mode = st.mode & 0o7777;
    if (st.isDirectory()) return { type: 'd', mode, size: 0, hash: null, target: null, ...meta };
    if (st.isSymbolicLink()) {
      const target = readHostLink(host) ?? '\uFFFD';
      return { type: 'l', mode: 0o777, size: Buffer.byteLength(target), hash: null, target, ...meta };
    }
    if (st.isFile()) {
      const hash = hashHostFile(host);
      this.files.set(hash, host);
      return { type: 'f', mode, size: st.size, hash, target: null, ...meta };
    }
    return { type: hostEntryType(st) ?? 'b', mode, size: 0, hash: null, target: null, ...meta };
  }

  /** The names in a host directory that are not UTF-8 (below leaves them out), escaped (escapeBytes). */
  unlistedNames(dir: string): string[] {
    let names: Buffer[];
    try {
      names = readdirSync(this.hostPath(dir), { encoding: 'buffer' });
    } catch {
      return [];
    }
    return names.filter((raw) => decodeUtf8(raw) === undefined).map(escapeBytes);
  }

  /** Vault paths of everything below a host directory (not following symlinks; names that are not UTF-8 cannot be vault paths and are left out). */
  *below(dir: string): Generator<string> {
    let names: Buffer[];
    try {
      names = readdirSync(this.hostPath(dir), { encoding: 'buffer' });
    } catch {
      return;
    }
    for (const raw of names.sort(Buffer.compare)) {
      const name = decodeUtf8(raw);
      // A name export or sync writes under before renaming it into place is not the host's work.
      if (name === undefined || isTemporaryName(name)) continue;
      const path = joinPath(dir, name);
      const state = this.state(path, null);
      if (path === this.home) continue;
      yield path;
      if (state?.type === 'd') yield* this.below(path);
    }
  }
}


// ---- sync ----------------------------------------------------------------------------------

export interface SyncOptions {
  strategy?: Strategy;
  dryRun?: boolean;
  /** Hears the phases "comparing" (paths read on both sides) and "writing" (host changes made). */
  progress?: Progress;
}

export interface SyncReport {
  vault: string;
  path: string;
  host: string;
  strategy: Strategy;
  dry_run: boolean;
  /** synced: applied (or would be); up_to_date: the vault changed nothing since; conflicts: refused (dry run only; otherwise MERGE_CONFLICT). */
  status: 'synced' | 'up_to_date' | 'conflicts';
  /** The vault's change sequence the host last agreed with, and the one it agrees with after this sync. */
  base_seq: number;
  synced_seq: number;
  summary: MergeSummary;
  /** What changes on the host (paths are vault paths; `host_path` is where). */
  changes: Array<ChangeJson & { host_path: string }>;
  conflicts: ConflictJson[];
  /** Vault entries the host cannot hold (FIFOs, sockets, devices), left out. */
  skipped: string[];
}

/** Applies the vault's changes below a tracked directory to its host directory (see the header). */
export function syncTracked(fs: VaultFs, vaultInput: string, options: SyncOptions = {}): SyncReport {
  const strategy = validateStrategy(options.strategy ?? 'fail');
  const store = fs.store;
  const home = homeOnHost(store.home);
  const path = normalizePath(vaultInput);
  // Plan in one read transaction: every vault state is read at one change sequence.
  const planned = store.read(() => {
    const vault = fs.row();
    const tracked = store.stmt<TrackedImport>(TRACKED).get(vault.id, path);
    if (!tracked) throw new AvfsError('NOT_TRACKED', `${path} in vault ${vault.name} was not imported with --track`, { path, vault: vault.name });
    const rootStat = lstatSafe(tracked.host);
    if (rootStat?.isSymbolicLink()) {
      // Moved away with a link left in its place: writing through it would write (and delete) in another directory.
      throw new AvfsError('CONFLICT', `the tracked host directory ${tracked.host} is now a symlink; sync writes nothing through a symlink, so nothing was written. Put the directory back, or import the one it names with --track`, { host: tracked.host, reason: 'tracked_root_replaced' });
    }
    if (!rootStat?.isDirectory()) {
      throw new AvfsError('NOT_FOUND', `the tracked host directory ${tracked.host} is gone`, { host: tracked.host });
    }
    const seq = currentSeq(store);
    refuseInsideHome(home, tracked.host, `syncing ${path} to ${tracked.host}`);
    const host = new HostSide(path, tracked.host, home);
    const triples = collectTriples(hostTriples(store, vault, tracked, host), pathsChangedAfter(store, vault, tracked.seq, path), path, options.progress);
    const merged = new Map<string, Buffer>();
    const plan = planMerge(triples, strategy, hostMerger(store, host, merged, vault.name));
    const root = getEntry(store, vault, path);
    return { vault, tracked, seq, host, triples, plan, merged, vaultRootGone: root?.type !== 'd', emptied: root?.type === 'd' && !hasChildren(store, vault, path) };
  });
  const { vault, tracked, seq, host, triples, plan, merged, vaultRootGone, emptied } = planned;
  const actions = plan.paths.filter((p) => !sameOnHost(p.current, p.result));
  // The vault no longer has the tracked directory, or has it empty (removed, or a restore went
  // back to before the import): mirroring that would delete the host project (or replace it with
  // a file or a link), most likely not what was meant. Checked before conflicts: with host edits
  // inside, the plan keeps the root for them, and the advice was to pick a --strategy.
  const root = plan.paths.find((p) => p.path === path);
  const gone = vaultRootGone || (!!root?.current && root.result?.type !== 'd');
  if (gone || (emptied && actions.some((a) => a.current && !a.result))) {
    throw new AvfsError(
      'CONFLICT',
      `${path} is ${gone ? 'gone from' : 'empty in'} vault ${vault.name} (removed, or restored to before its import), so sync would ${gone ? 'delete the host directory' : 'empty the host directory'} ${tracked.host}; nothing was written. Bring ${path}'s files back in the vault (checkout, revert, checkpoint restore), or delete them on the host yourself`,
      { path, host: tracked.host, reason: 'tracked_root_gone' },
    );
  }
  // A host directory sync would remove that holds names a vault path cannot be (not UTF-8): they
  // are not in the plan, so rmdir would fail halfway through the writes. Refused before any.
  for (const a of actions) {
    if (a.current?.type !== 'd' || a.result?.type === 'd') continue;
    const unlisted = host.unlistedNames(a.path);
    if (unlisted.length > 0) {
      throw new AvfsError(
        'CONFLICT',
        `sync would remove the host directory ${host.hostPath(a.path)}, which holds ${unlisted.length} name(s) that are not UTF-8 (${unlisted.slice(0, 3).join(', ')}) and cannot be in a vault; nothing was written. Rename or remove them on the host, then sync again`,
        { host: host.hostPath(a.path), path: a.path, names: unlisted, reason: 'names_not_utf8' },
      );
    }
  }
  // The avfs home is read as absent (HostSide), so the vault's paths there (a copy an import made
  // before imports passed over it) and the removal of a directory holding it are refused.
  const inHome = host.home && actions.find((a) => isWithin(a.path, host.home!) || (isWithin(host.home!, a.path) && a.current?.type === 'd' && a.result?.type !== 'd'));
  if (inHome) throw insideHome(home!, host.hostPath(inHome.path), `syncing ${path} to ${tracked.host}`, inHome.path === host.home ? 'is' : isWithin(inHome.path, host.home!) ? 'lies inside' : 'holds');
  const skipped = actions.filter((a) => a.result && !['f', 'd', 'l'].includes(a.result.type)).map((a) => a.path);
  const changes = hostChanges(actions, host, skipped);
  const byPath = new Map(plan.paths.map((p) => [p.path, p]));
  const report: SyncReport = {
    vault: vault.name,
    path,
    host: tracked.host,
    strategy,
    dry_run: !!options.dryRun,
    status: nothingNew(triples) ? 'up_to_date' : plan.unresolved.length > 0 ? 'conflicts' : 'synced',
    base_seq: tracked.seq,
    synced_seq: tracked.seq,
    summary: planSummary(triples, plan, changes),
    changes,
    conflicts: plan.conflicts.map((c) => conflictJson(c, byPath.get(c.path)!)),
    skipped,
  };
  if (report.status === 'up_to_date' || options.dryRun) return report;
  if (plan.unresolved.length > 0) {
    const list = plan.unresolved.slice(0, 5).map((c) => `${c.path} (${c.kind})`).join(', ');
    throw new AvfsError(
      'MERGE_CONFLICT',
      `syncing ${path} to ${tracked.host} stopped on ${plan.unresolved.length} conflict(s) with host changes, nothing was written: ${list}. See them with --dry-run --json, or pick a --strategy (dryRun and strategy in the SDK)`,
      { ...report },
    );
  }
  // A file the vault keeps under several names of one inode (import and export keep host hard
  // links) is written once and linked under its other names, as export does: written name by name,
  // the host copies stopped sharing an inode (an edit of one no longer showed in the others). The
  // names share what they are written with (a line merge of host edits makes the same new content
  // for each name the host edited through its link), so that is part of the key.
  const sharedInode = (p: string, r: MergeState) => {
    const e = getEntry(store, vault, p);
    return e?.type === 'f' && e.nlink > 1 ? `${e.ino} ${r.hash} ${r.mode}` : undefined;
  };
  writeHost(store, host, actions.filter((a) => !skipped.includes(a.path)), merged, sharedInode, options.progress);
  store.mutate(() => {
    // Never back: a sync that ran meanwhile may have agreed on a later point already.
    store.stmt('UPDATE tracked_imports SET seq = max(seq, ?), synced_at = ? WHERE id = ?').run(seq, now(), tracked.id);
    audit(store, fs.actor, 'sync', vault.name, { path, host: tracked.host, changed: actions.length, conflicts: plan.conflicts.length });
  });
  report.synced_seq = seq;
  return report;
}

function lstatSafe(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** base: the vault at the tracked point; ours: the host; theirs: the vault now. */
function hostTriples(store: Store, vault: VaultRow, tracked: TrackedImport, host: HostSide): TripleSource {
  const base = (p: string) => mergeState(stateAt(store, vault, p, tracked.seq));
  const [lo, hi] = descendantRange(tracked.path);
  return {
    base,
    ours: (p) => host.state(p, base(p) ?? mergeState(getEntry(store, vault, p))),
    theirs: (p) => mergeState(getEntry(store, vault, p)),
    below: (side, dir) => (side === 'ours' ? host.below(dir) : [...iterateDescendants(store, vault, dir)].map((e) => e.path)),
    withHash: (side, hash) => (side === 'ours' ? [] : entriesWithHash(store, vault, hash).map((e) => e.path).filter((p) => p >= lo && p < hi)),
  };
}

/** Contents merged by lines with "ours" read from the host file; results kept in memory for writing to the host. */
function hostMerger(store: Store, host: HostSide, merged: Map<string, Buffer>, vaultName: string): ContentMerger {
  const keep = (text: string): Content => {
    const data = Buffer.from(text);
    const hash = hashBytes(data);
    merged.set(hash, data);
    return { hash, size: data.length };
  };
  const read = (s: MergeState, side: string) => (side === 'ours' ? readFileSync(host.files.get(s.hash!)!) : readContent(store, s.hash!));
  return textMerger(read, keep, { oursLabel: 'host', theirsLabel: `vault ${vaultName}` });
}

/** What the host would need to change: type, content or mode (owners and tags have no place there). */
function sameOnHost(a: MergeState | null, b: MergeState | null): boolean {
  if (!a || !b) return a === b;
  return a.type === b.type && a.hash === b.hash && a.target === b.target && (a.type === 'l' || a.mode === b.mode);
}

function hostChanges(actions: PathMerge[], host: HostSide, skipped: string[]): SyncReport['changes'] {
  return actions
    .filter((p) => !skipped.includes(p.path))
    .map((p) => ({
      path: p.path,
      host_path: host.hostPath(p.path),
      action: !p.current ? 'added' : !p.result ? 'deleted' : 'modified',
      class: p.class,
      renamed_from: p.renamed_from ?? null,
      renamed_to: p.renamed_to ?? null,
      link_of: null,
      before: sideJson(p.current),
      after: sideJson(p.result),
    }));
}

/**
 * Writes the plan to the host: removals deepest first, then the rest parents first. Before each
 * step every directory between the host root and the path is checked (lstat) to still be a real
 * directory, so nothing is ever written through a symlink that appeared since the plan was made.
 */
function writeHost(store: Store, host: HostSide, actions: PathMerge[], merged: Map<string, Buffer>, sharedInode: (path: string, r: MergeState) => string | undefined, progress?: Progress): void {
  const isDir = (s: MergeState | null) => s?.type === 'd';
  const checkParents = (path: string) => {
    for (let dir = path.slice(0, path.lastIndexOf('/')) || '/'; isWithin(dir, host.root) && dir !== host.root; dir = dir.slice(0, dir.lastIndexOf('/')) || '/') {
      if (hostKind(host.hostPath(dir)) !== 'directory') {
        throw new AvfsError('CONFLICT', `host path ${host.hostPath(dir)} is no longer a directory; sync stopped (run it again)`, { host: host.hostPath(dir) });
      }
    }
  };
  // A result holding content only the host has (its edit of a file the vault moved: the edit
  // follows the move) is read now, before the removals below take its old place away.
  for (const a of actions) {
    const hash = a.result?.type === 'f' ? a.result.hash : null;
    const from = hash ? host.files.get(hash) : undefined;
    if (!hash || !from || merged.has(hash) || isStored(store, hash)) continue;
    // Read by its path: what is there now must still be the bytes the plan saw (another process
    // may have changed the file, or swapped a directory above it for a symlink, since).
    const bytes = readFileSync(from);
    if (hashBytes(bytes) !== hash) throw new AvfsError('CONFLICT', `host file ${from} changed while syncing; sync stopped before writing anything (run it again)`, { host: from });
    merged.set(hash, bytes);
  }
  // A sync stopped part way (Ctrl-C, kill -9) left the file it was writing under a temporary
  // name; the next one writes the same paths again, and clears what it left in the directories it
  // writes in or removes.
  const swept = new Set<string>();
  /** Sweeps host directory `dir` (reached as `at`) once per sync. */
  const sweepOnce = (dir: string, at: string) => {
    if (swept.has(dir)) return;
    swept.add(dir);
    sweepStaleTemporaries(at);
  };
  // Each change is made through the descriptor of its directory (PinnedDirs): a directory swapped
  // for a symlink after checkParents looked is not written through either.
  const dirs = new PinnedDirs(host.hostRoot);
  // The host path each shared vault inode, with what it is written with, was first written to in this sync (sharedInode).
  const writtenInodes = new Map<string, string>();
  const removals = actions.filter((x) => x.current && (!x.result || isDir(x.current) !== isDir(x.result)));
  const total = removals.length + actions.filter((a) => a.result).length;
  let done = 0;
  const step = (a: PathMerge, change: (target: string, pinned: (host: string) => string) => void) => {
    progress?.(done++, total, 'writing');
    checkParents(a.path);
    const target = host.hostPath(a.path);
    dirs.trim();
    try {
      // Someone may have written, made or removed it on the host since the plan read it: their
      // work is never written over or deleted (the plan did not see it to merge or refuse it).
      if (!sameHostEntry(host.seen.get(a.path) ?? null, lstatSafe(dirs.path(target)))) {
        throw new AvfsError('CONFLICT', `host path ${target} changed while syncing; sync stopped before touching it, and what it wrote so far stays (run it again to merge the change)`, { host: target, path: a.path, reason: 'host_changed' });
      }
      change(target, (p) => dirs.path(p));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (typeof e.path !== 'string' || !e.path.startsWith('/proc/self/fd/')) throw err;
      if (e.code === 'ENOTEMPTY' || e.code === 'EEXIST') {
        throw new AvfsError('CONFLICT', `host directory ${target} gained entries while syncing; sync stopped before removing it (run it again)`, { host: target, path: a.path, reason: 'host_changed' });
      }
      if (e.code !== 'ENOTDIR' && e.code !== 'ELOOP' && e.code !== 'ENOENT') throw Object.assign(err as Error, { path: target });
      throw new AvfsError('CONFLICT', `a host directory above ${target} was moved, removed or replaced while syncing; sync stopped (run it again)`, { host: target, cause: e.code });
    }
  };
  try {
    for (const a of removals.reverse()) {
      step(a, (target, pinned) => {
        const kind = hostKind(pinned(target));
        if (kind === 'directory') {
          sweepOnce(target, dirs.dir(target));
          rmdirSync(pinned(target));
        } else if (kind === 'other') unlinkSync(pinned(target));
        host.seen.set(a.path, null); // absent now, as the result's step below expects
      });
    }
    for (const a of actions) {
      const r = a.result;
      if (!r) continue;
      step(a, (target, pinned) => {
        const at = pinned(target);
        const found = hostKind(at);
        if (r.type !== 'd') sweepOnce(dirname(target), dirs.dir(dirname(target)));
        if (r.type === 'd') {
          if (found === 'absent') mkdirSync(at, 0o700);
          settleHostDirectory(at, r.mode, null);
        } else if (r.type === 'l') {
          placeHostEntry(at, found !== 'absent', (p) => symlinkSync(r.target!, p));
        } else {
          const ino = sharedInode(a.path, r);
          const first = ino === undefined ? undefined : writtenInodes.get(ino);
          // Where the host refuses the link (another filesystem below, vfat, the link limit), a copy, as export writes.
          if (first !== undefined && placeHostLink(pinned(first), at, found !== 'absent')) return;
          const bytes = merged.get(r.hash ?? '');
          const chunks = bytes ? [bytes] : r.hash ? contentChunks(store, r.hash) : [];
          placeHostEntry(at, found !== 'absent', (p) => writeHostFile(p, chunks, r.mode, null), true);
          if (ino !== undefined) writtenInodes.set(ino, target);
        }
      });
    }
    progress?.(done, total, 'writing');
  } finally {
    dirs.close();
  }
}
