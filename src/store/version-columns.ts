/**
 * The columns of a versions row (history.ts VersionRow), for every query that reads whole versions
 * (history.ts, execs.ts). A module of its own, importing nothing: entries.ts, which records
 * versions, asks execs.ts whether an exec may still write, and execs.ts's statements are built
 * from this at load time, before history.ts (which imports entries.ts) could provide it.
 */
export const VERSION_COLUMNS = 'id, vault_id, path, version, op, type, mode, size, hash, target, mtime, uid, gid, rdev, ino, nlink, annot, source, exec_id, detail, at, change_id';

/**
 * A version's detail column (JSON text, or null) as an object; {} when absent or unreadable. Here,
 * not in history.ts, so that api/json.ts (which every CLI run loads to print) does not load the store.
 */
export function parseDetail(row: { detail: string | null }): Record<string, unknown> {
  if (!row.detail) return {};
  try {
    return JSON.parse(row.detail) as Record<string, unknown>;
  } catch {
    return {};
  }
}
