import { AvfsError } from '../errors.js';
import { audit } from './audit.js';
import type { Store } from './store.js';
import type { VaultFs } from './vault-fs.js';

/**
 * Tags and key/value metadata on vault paths (the `annotations` table: kind 't' is a tag with an
 * empty value, kind 'm' a metadata key with its value). They belong to the path: vault-fs moves
 * them on mv, copies them on cp and drops them on rm; forks and checkpoints copy them.
 * The path is taken as given (a symlink is annotated itself, not its target).
 */

/** Tags: a letter, digit or `_`, then letters, digits and `_ . : / + -`, up to 128 characters. */
export const TAG_RE = /^[\p{L}\p{N}_][\p{L}\p{N}_.:/+-]{0,127}$/u;
/** Metadata keys: like identifiers, with `. -` allowed after the first character, up to 128. */
export const META_KEY_RE = /^[\p{L}_][\p{L}\p{N}_.-]{0,127}$/u;
export const MAX_META_VALUE_BYTES = 64 * 1024;

export function validateTag(tag: string): string {
  if (typeof tag !== 'string' || !TAG_RE.test(tag)) {
    throw new AvfsError('INVALID_NAME', `invalid tag ${JSON.stringify(tag)}: use 1-128 letters, digits, '_', '.', ':', '/', '+' or '-', starting with a letter, digit or '_'`, {
      tag,
    });
  }
  return tag;
}

export function validateMetaKey(key: string): string {
  if (typeof key !== 'string' || !META_KEY_RE.test(key)) {
    throw new AvfsError('INVALID_NAME', `invalid metadata key ${JSON.stringify(key)}: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or '_'`, {
      key,
    });
  }
  return key;
}

export function validateMetaValue(value: string): string {
  if (value.includes('\0')) throw new AvfsError('INVALID_ARGUMENT', 'metadata value contains a NUL byte', {});
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_META_VALUE_BYTES) {
    throw new AvfsError('INVALID_ARGUMENT', `metadata value too long: ${bytes} bytes (at most ${MAX_META_VALUE_BYTES})`, { bytes, max: MAX_META_VALUE_BYTES });
  }
  return value;
}

const LIST_KIND = 'SELECT key, value FROM annotations WHERE vault_id = ? AND path = ? AND kind = ? ORDER BY key';
const UPSERT = 'INSERT OR REPLACE INTO annotations (vault_id, path, kind, key, value) VALUES (?, ?, ?, ?, ?)';
const DELETE_ONE = 'DELETE FROM annotations WHERE vault_id = ? AND path = ? AND kind = ? AND key = ?';
const DELETE_KIND = 'DELETE FROM annotations WHERE vault_id = ? AND path = ? AND kind = ?';
const TAG_COUNTS = "SELECT key AS tag, count(*) AS count FROM annotations WHERE vault_id = ? AND kind = 't' GROUP BY key ORDER BY key";
const PATHS_WITH_KEY = 'SELECT path FROM annotations WHERE vault_id = ? AND kind = ? AND key = ?';
const PATHS_WITH_VALUE = 'SELECT path FROM annotations WHERE vault_id = ? AND kind = ? AND key = ? AND value = ?';

/** The canonical path of an existing entry (NOT_FOUND otherwise) and its vault id. */
function target(fs: VaultFs, input: string): { vaultId: number; path: string } {
  const entry = fs.lstat(input);
  return { vaultId: fs.row().id, path: entry.path };
}

function list(store: Store, vaultId: number, path: string, kind: 't' | 'm'): Array<{ key: string; value: string }> {
  return store.stmt<{ key: string; value: string }>(LIST_KIND).all(vaultId, path, kind);
}

export function getTags(fs: VaultFs, input: string): { path: string; tags: string[] } {
  return fs.store.read(() => {
    const { vaultId, path } = target(fs, input);
    return { path, tags: list(fs.store, vaultId, path, 't').map((r) => r.key) };
  });
}

/** Adds tags to a path; returns all its tags and the ones that were new. */
export function addTags(fs: VaultFs, input: string, tags: string[]): { path: string; tags: string[]; added: string[] } {
  tags.forEach(validateTag);
  return fs.store.mutate(() => {
    const { vaultId, path } = target(fs, input);
    const before = new Set(list(fs.store, vaultId, path, 't').map((r) => r.key));
    const added = [...new Set(tags)].filter((t) => !before.has(t));
    for (const tag of added) fs.store.stmt(UPSERT).run(vaultId, path, 't', tag, '');
    if (added.length > 0) audit(fs.store, fs.actor, 'tag', fs.name, { path, tags: added });
    return { path, tags: list(fs.store, vaultId, path, 't').map((r) => r.key), added };
  });
}

/** Removes tags from a path (absent ones are ignored); returns its remaining tags and the ones removed. */
export function removeTags(fs: VaultFs, input: string, tags: string[]): { path: string; tags: string[]; removed: string[] } {
  tags.forEach(validateTag);
  return fs.store.mutate(() => {
    const { vaultId, path } = target(fs, input);
    const removed: string[] = [];
    for (const tag of new Set(tags)) {
      if (fs.store.stmt(DELETE_ONE).run(vaultId, path, 't', tag).changes > 0) removed.push(tag);
    }
    if (removed.length > 0) audit(fs.store, fs.actor, 'untag', fs.name, { path, tags: removed });
    return { path, tags: list(fs.store, vaultId, path, 't').map((r) => r.key), removed };
  });
}

/** Every tag used in the vault with the number of paths carrying it. */
export function tagCounts(fs: VaultFs): Array<{ tag: string; count: number }> {
  return fs.store.stmt<{ tag: string; count: number }>(TAG_COUNTS).all(fs.row().id);
}

export function getMeta(fs: VaultFs, input: string): { path: string; meta: Record<string, string> } {
  return fs.store.read(() => {
    const { vaultId, path } = target(fs, input);
    return { path, meta: metaOf(fs.store, vaultId, path) };
  });
}

function metaOf(store: Store, vaultId: number, path: string): Record<string, string> {
  return Object.fromEntries(list(store, vaultId, path, 'm').map((r) => [r.key, r.value]));
}

export function setMeta(fs: VaultFs, input: string, key: string, value: string): { path: string; meta: Record<string, string> } {
  validateMetaKey(key);
  validateMetaValue(value);
  return fs.store.mutate(() => {
    const { vaultId, path } = target(fs, input);
    fs.store.stmt(UPSERT).run(vaultId, path, 'm', key, value);
    audit(fs.store, fs.actor, 'meta.set', fs.name, { path, key });
    return { path, meta: metaOf(fs.store, vaultId, path) };
  });
}

/** Deletes one metadata key, or every key of the path when `key` is undefined; returns the keys deleted. */
export function deleteMeta(fs: VaultFs, input: string, key?: string): { path: string; meta: Record<string, string>; deleted: string[] } {
  if (key !== undefined) validateMetaKey(key);
  return fs.store.mutate(() => {
    const { vaultId, path } = target(fs, input);
    const existing = Object.keys(metaOf(fs.store, vaultId, path));
    const deleted = key === undefined ? existing : existing.filter((k) => k === key);
    if (key === undefined) fs.store.stmt(DELETE_KIND).run(vaultId, path, 'm');
    else fs.store.stmt(DELETE_ONE).run(vaultId, path, 'm', key);
    if (deleted.length > 0) audit(fs.store, fs.actor, 'meta.delete', fs.name, { path, keys: deleted });
    return { path, meta: metaOf(fs.store, vaultId, path), deleted };
  });
}

/** Paths carrying a tag (an index lookup on annotations_key). */
export function pathsWithTag(store: Store, vaultId: number, tag: string): Set<string> {
  validateTag(tag);
  return new Set(store.stmt<{ path: string }>(PATHS_WITH_KEY).all(vaultId, 't', tag).map((r) => r.path));
}

/** Paths with a metadata key, or with that key set to `value`. */
export function pathsWithMeta(store: Store, vaultId: number, key: string, value?: string): Set<string> {
  validateMetaKey(key);
  const rows = value === undefined
    ? store.stmt<{ path: string }>(PATHS_WITH_KEY).all(vaultId, 'm', key)
    : store.stmt<{ path: string }>(PATHS_WITH_VALUE).all(vaultId, 'm', key, value);
  return new Set(rows.map((r) => r.path));
}

/** Whether a path carries any tag or metadata. */
export function hasAnnotations(store: Store, vaultId: number, path: string): boolean {
  return store.stmt('SELECT 1 FROM annotations WHERE vault_id = ? AND path = ? LIMIT 1').get(vaultId, path) !== undefined;
}

/** Tags and metadata of many paths at once (find output). */
export function annotationsOf(store: Store, vaultId: number, path: string): { tags: string[]; meta: Record<string, string> } {
  return { tags: list(store, vaultId, path, 't').map((r) => r.key), meta: metaOf(store, vaultId, path) };
}
