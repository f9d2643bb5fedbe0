import { formatMode, KIND, type EntryKind } from '../core/entry-types.js';
import { versionBeforeSeq, windowVersions, type VersionRow } from '../store/execs.js';
import { ROOT_STATE, sameState, stateOf as versionState, type PathState } from '../store/history.js';
import type { Store } from '../store/store.js';
import type { VaultRow } from '../store/vaults.js';

/**
 * The change report of a run, computed from the store's own history, never from watching the
 * command: every write through the mount and every path the copy-mode import changes records a
 * version (tagged with the exec id), so the versions recorded during the run are exactly what the
 * command did to the vault.
 *
 * For each path the run touched, the state before (the path's newest version before the run's
 * first write to it, following the fork chain) is compared with its state after (the run's last
 * version of it). Several writes to one path collapse into one net change, and a path that ends
 * as it began (a temp file created and removed, a file rewritten with the same bytes and mode) is
 * not reported. A rename is reported as `deleted` (old path) + `added` (new path), with the same
 * hash on both; a directory rename lists every entry below it the same way.
 *
 * Exact for content, type, mode and symlink target changes, creations and removals of files,
 * directories and symlinks. Not reported: time-only changes (touch of an existing file: times are
 * metadata without a version), and extended attributes. Owner and tag changes count as modifications
 * (an unset owner counting as the user avfs runs as: sameShownState).
 */

export type ChangeKind = 'added' | 'modified' | 'deleted';

export interface ChangedFile {
  path: string;
  kind: ChangeKind;
  /** The type after the change (before it, for a deletion). */
  type: EntryKind;
  /** Set when a modification changed the type (e.g. a file replaced by a symlink). */
  typeBefore?: EntryKind;
  sizeBefore: number | null;
  sizeAfter: number | null;
  hashBefore: string | null;
  /** Content hash after the change (sha256; null for deletions, directories and symlinks). */
  hash: string | null;
  /** Permission bits as octal text (`0644`), before and after. */
  modeBefore: string | null;
  modeAfter: string | null;
  targetBefore?: string | null;
  target?: string | null;
  /** How many versions the run recorded for this path (collapsed into this one change). */
  versions: number;
}

/** A version's full state (owners and annotations included, so undo puts those back too). */
const stateOf = (row: VersionRow | undefined): PathState | null => (row ? versionState(row) : null);

/**
 * sameState, with an unset owner read as the user avfs runs as, which is how the mount shows it
 * and an export makes it: a file removed and made again through the mount (unset owner) beside
 * the imported one it replaced (that user's owner, stored) is the same file to the command. Hard
 * links of a file count: a name linked to another file of the same content (`ln -f x y`), or a
 * linked name replaced by a copy, changed, although a new inode alone (a file written anew) did not.
 */
function sameShownState(a: PathState, b: PathState): boolean {
  const uid = process.getuid?.() ?? null;
  const gid = process.getgid?.() ?? null;
  const shown = (s: PathState): PathState => ({ ...s, uid: s.uid ?? uid, gid: s.gid ?? gid });
  // A directory's link count is its subdirectories', not names of it.
  const sameLinks = a.type !== 'f' || a.ino === b.ino || ((a.nlink ?? 1) <= 1 && (b.nlink ?? 1) <= 1);
  return sameLinks && sameState(shown(a), shown(b));
}

/** Versions of a path by anyone but the exec between two of its own (ids exclusive): a write its later one overwrote. */
const OTHERS_BETWEEN = `SELECT 1 FROM versions WHERE vault_id = ? AND path = ? AND id > ? AND id < ? AND (exec_id IS NULL OR exec_id <> ?) LIMIT 1`;


/** One path's net change over a run, with the states it went between and the run's versions of it. */
export interface NetChange {
  path: string;
  /** Its state just before the run first changed it (null: absent). */
  before: PathState | null;
  after: PathState | null;
  /** The run's versions of the path, oldest first. */
  rows: VersionRow[];
  /** True when the state before could not be found (its versions were pruned). */
  beforeUnknown: boolean;
}

/**
 * Net changes recorded in the vault's versions with ids in (after, upTo], sorted by path. With
 * `execId`, only versions tagged with it count (writes by anyone else during the run are not the
 * command's); without, every version in the window does (a run recorded before versions were
 * tagged). Paths that end as they began are left out, unless someone else changed them between
 * the command's first and last change: the command then overwrote that (and undo must say so).
 */
export function netChanges(store: Store, vault: VaultRow, window: { after: number; upTo: number; execId: string | null }): NetChange[] {
  return store.read(() => {
    const byPath = new Map<string, VersionRow[]>();
    for (const row of windowVersions(store, vault.id, window.after, window.upTo, window.execId)) {
      const list = byPath.get(row.path);
      if (list) list.push(row);
      else byPath.set(row.path, [row]);
    }
    const out: NetChange[] = [];
    for (const [path, rows] of byPath) {
      const first = rows[0]!;
      const prior = versionBeforeSeq(store, vault, path, first.id);
      const before = prior ? stateOf(prior) : path === '/' ? ROOT_STATE : null;
      const last = rows[rows.length - 1]!;
      const after = stateOf(last);
      if (before === null && after === null) continue;
      const overwroteOthers = window.execId !== null && rows.length > 1 && store.stmt(OTHERS_BETWEEN).get(vault.id, path, first.id, last.id, window.execId) !== undefined;
      if (before && after && sameShownState(before, after) && !overwroteOthers) continue;
      // Version numbers continue across deletions, so a first change numbered above 1 had a predecessor.
      out.push({ path, before, after, rows, beforeUnknown: !prior && first.version > 1 });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  });
}

/**
 * The files a run left, with the size its last version of each gave it, whether or not the path
 * ended as it began (a file rewritten to the same bytes, cut short at the size limit again): a
 * superset of the files its change report lists as added or modified.
 */
export function lastWrittenFiles(store: Store, vault: VaultRow, window: { after: number; upTo: number; execId: string }): Array<{ path: string; size: number | null }> {
  const last = new Map<string, VersionRow>();
  for (const row of windowVersions(store, vault.id, window.after, window.upTo, window.execId)) last.set(row.path, row);
  return [...last.values()].filter((row) => row.type === 'f').map((row) => ({ path: row.path, size: row.size }));
}

/** The change report of a run (see netChanges). */
export function changeReport(store: Store, vault: VaultRow, window: { after: number; upTo: number; execId: string | null }): ChangedFile[] {
  return netChanges(store, vault, window).map(describeChange);
}

function describeChange({ path, before, after, rows }: NetChange): ChangedFile {
  const kind: ChangeKind = before === null ? 'added' : after === null ? 'deleted' : 'modified';
  const shown = (after ?? before)!;
  const change: ChangedFile = {
    path,
    kind,
    type: KIND[shown.type],
    sizeBefore: before?.size ?? null,
    sizeAfter: after?.size ?? null,
    hashBefore: before?.hash ?? null,
    hash: after?.hash ?? null,
    modeBefore: before ? formatMode(before.mode) : null,
    modeAfter: after ? formatMode(after.mode) : null,
    versions: rows.length,
  };
  if (before && after && before.type !== after.type) change.typeBefore = KIND[before.type];
  if (before?.type === 'l' || after?.type === 'l') {
    change.targetBefore = before?.target ?? null;
    change.target = after?.target ?? null;
  }
  return change;
}
