import { AvfsError } from '../errors.js';
import { isWellFormed } from '../core/utf8.js';
import { audit } from './audit.js';
import { annotatedEntries, getEntry, putEntry } from './entries.js';
import type { Store } from './store.js';
import type { VaultRow } from './vaults.js';
import type { VaultFs } from './vault-fs.js';

/**
 * Tags and key/value metadata on vault paths. They are part of the entry (its `annot` column, the
 * format below), so they move with mv, are copied by cp, go with rm, and history, forks and
 * checkpoints carry them like any other state: a change is a version (op `tag`, `untag`, `meta`)
 * that revert and restore undo. The path is taken as given (a symlink is annotated itself).
 */

/** The version ops that change only a path's tags or metadata. */
export const ANNOTATION_OPS: ReadonlySet<string> = new Set(['tag', 'untag', 'meta']);

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
  if (typeof value !== 'string') throw new AvfsError('INVALID_ARGUMENT', `metadata value must be a string, got ${typeof value}`, {});
  if (value.includes('\0')) throw new AvfsError('INVALID_ARGUMENT', 'metadata value contains a NUL byte', {});
  if (!isWellFormed(value)) throw new AvfsError('INVALID_ARGUMENT', 'metadata value holds a lone surrogate (not valid Unicode)', {});
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_META_VALUE_BYTES) {
    throw new AvfsError('INVALID_ARGUMENT', `metadata value too long: ${bytes} bytes (at most ${MAX_META_VALUE_BYTES})`, { bytes, max: MAX_META_VALUE_BYTES });
  }
  return value;
}

/** The tags and metadata of one entry, as its `annot` column stores them (JSON; null when both are empty). */
export interface Annotations {
  tags: string[];
  meta: Record<string, string>;
}

export function parseAnnotations(annot: string | null): Annotations {
  if (!annot) return { tags: [], meta: {} };
  const parsed = JSON.parse(annot) as Partial<Annotations>;
  return { tags: parsed.tags ?? [], meta: parsed.meta ?? {} };
}

export function formatAnnotations(a: Annotations): string | null {
  const tags = [...new Set(a.tags)].sort();
  const keys = Object.keys(a.meta).sort();
  if (tags.length === 0 && keys.length === 0) return null;
  return JSON.stringify({ ...(tags.length ? { tags } : {}), ...(keys.length ? { meta: Object.fromEntries(keys.map((k) => [k, a.meta[k]!])) } : {}) });
}

/**
 * Changes the annotations of an existing entry (NOT_FOUND otherwise; a symlink is annotated
 * itself, not its target) as one history version with op `op`, unless nothing changes.
 */
function annotate(fs: VaultFs, input: string, op: string, change: (a: Annotations) => void): { path: string; before: Annotations; after: Annotations } {
  return fs.store.mutate(() => {
    const vault = fs.row();
    const entry = getEntry(fs.store, vault, fs.lstat(input).path)!;
    const before = parseAnnotations(entry.annot);
    const after: Annotations = { tags: [...before.tags], meta: { ...before.meta } };
    change(after);
    const annot = formatAnnotations(after);
    if (annot !== entry.annot) putEntry(fs.store, vault, entry.path, { ...entry, annot }, { op, actor: fs.actor });
    return { path: entry.path, before, after: parseAnnotations(annot) };
  });
}

function current(fs: VaultFs, input: string): { path: string; annotations: Annotations } {
  return fs.store.read(() => {
    const entry = fs.lstat(input);
    return { path: entry.path, annotations: parseAnnotations(entry.annot) };
  });
}

export function getTags(fs: VaultFs, input: string): { path: string; tags: string[] } {
  const { path, annotations } = current(fs, input);
  return { path, tags: annotations.tags };
}

/** Adds tags to a path; returns all its tags and the ones that were new. */
export function addTags(fs: VaultFs, input: string, tags: string[]): { path: string; tags: string[]; added: string[] } {
  atLeastOneTag(tags);
  tags.forEach(validateTag);
  const r = annotate(fs, input, 'tag', (a) => a.tags.push(...tags));
  const added = [...new Set(tags)].filter((t) => !r.before.tags.includes(t));
  if (added.length > 0) fs.store.mutate(() => audit(fs.store, fs.actor, 'tag', fs.name, { path: r.path, tags: added }));
  return { path: r.path, tags: r.after.tags, added };
}

/** A tag call names a tag, as the CLI's required argument says; an empty list would change nothing and say so with success. */
function atLeastOneTag(tags: string[]): void {
  if (tags.length === 0) throw new AvfsError('INVALID_ARGUMENT', 'give at least one tag', { option: 'tags' });
}

/** Removes tags from a path (absent ones are ignored); returns its remaining tags and the ones removed. */
export function removeTags(fs: VaultFs, input: string, tags: string[]): { path: string; tags: string[]; removed: string[] } {
  atLeastOneTag(tags);
  tags.forEach(validateTag);
  const r = annotate(fs, input, 'untag', (a) => (a.tags = a.tags.filter((t) => !tags.includes(t))));
  const removed = [...new Set(tags)].filter((t) => r.before.tags.includes(t));
  if (removed.length > 0) fs.store.mutate(() => audit(fs.store, fs.actor, 'untag', fs.name, { path: r.path, tags: removed }));
  return { path: r.path, tags: r.after.tags, removed };
}

/** Every tag used in the vault with the number of paths carrying it. */
export function tagCounts(fs: VaultFs): Array<{ tag: string; count: number }> {
  const counts = new Map<string, number>();
  for (const e of fs.store.read(() => annotatedEntries(fs.store, fs.row()))) {
    for (const tag of parseAnnotations(e.annot).tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([tag, count]) => ({ tag, count }));
}

export function getMeta(fs: VaultFs, input: string): { path: string; meta: Record<string, string> } {
  const { path, annotations } = current(fs, input);
  return { path, meta: annotations.meta };
}

export function setMeta(fs: VaultFs, input: string, key: string, value: string): { path: string; meta: Record<string, string> } {
  validateMetaKey(key);
  validateMetaValue(value);
  const r = annotate(fs, input, 'meta', (a) => (a.meta[key] = value));
  fs.store.mutate(() => audit(fs.store, fs.actor, 'meta.set', fs.name, { path: r.path, key }));
  return { path: r.path, meta: r.after.meta };
}

/** Deletes one metadata key, or every key of the path when `key` is undefined; returns the keys deleted. */
export function deleteMeta(fs: VaultFs, input: string, key?: string): { path: string; meta: Record<string, string>; deleted: string[] } {
  if (key !== undefined) validateMetaKey(key);
  const r = annotate(fs, input, 'meta', (a) => {
    for (const k of Object.keys(a.meta)) if (key === undefined || k === key) delete a.meta[k];
  });
  const deleted = Object.keys(r.before.meta).filter((k) => !(k in r.after.meta));
  if (deleted.length > 0) fs.store.mutate(() => audit(fs.store, fs.actor, 'meta.delete', fs.name, { path: r.path, keys: deleted }));
  return { path: r.path, meta: r.after.meta, deleted };
}

/** Paths carrying a tag. */
export function pathsWithTag(store: Store, vault: VaultRow, tag: string): Set<string> {
  validateTag(tag);
  return new Set(annotatedEntries(store, vault).filter((e) => parseAnnotations(e.annot).tags.includes(tag)).map((e) => e.path));
}

/** Paths with a metadata key, or with that key set to `value`. */
export function pathsWithMeta(store: Store, vault: VaultRow, key: string, value?: string): Set<string> {
  validateMetaKey(key);
  return new Set(
    annotatedEntries(store, vault)
      .filter((e) => {
        const meta = parseAnnotations(e.annot).meta;
        return key in meta && (value === undefined || meta[key] === value);
      })
      .map((e) => e.path),
  );
}
