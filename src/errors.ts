/**
 * Every failure avfs reports on purpose is an AvfsError: a stable `code` that agents branch on,
 * a human `message`, structured `data`, and the process exit code the CLI uses for it.
 * Messages may change between releases; codes and exit codes do not.
 */

/**
 * Stable exit codes (ARCHITECTURE.md "Errors"; README "The JSON contract"). `proxy exec` otherwise
 * returns the child's own exit code.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  denied: 5,
  quota: 6,
  timeout: 124,
} as const;

/** Every error code avfs emits, with its exit code and the errno a FUSE callback answers with. */
const CODES = {
  INTERNAL: { exit: ExitCode.internal, errno: 'EIO' },
  CONTENT_MISSING: { exit: ExitCode.internal, errno: 'EIO' },
  USAGE: { exit: ExitCode.usage, errno: 'EINVAL' },
  INVALID_PATH: { exit: ExitCode.usage, errno: 'EINVAL' },
  INVALID_NAME: { exit: ExitCode.usage, errno: 'EINVAL' },
  INVALID_ARGUMENT: { exit: ExitCode.usage, errno: 'EINVAL' },
  INVALID_QUERY: { exit: ExitCode.usage, errno: 'EINVAL' },
  INVALID_PATTERN: { exit: ExitCode.usage, errno: 'EINVAL' },
  NO_VAULT: { exit: ExitCode.usage, errno: 'EINVAL' },
  NOT_FOUND: { exit: ExitCode.notFound, errno: 'ENOENT' },
  VAULT_NOT_FOUND: { exit: ExitCode.notFound, errno: 'ENOENT' },
  VERSION_NOT_FOUND: { exit: ExitCode.notFound, errno: 'ENOENT' },
  CHECKPOINT_NOT_FOUND: { exit: ExitCode.notFound, errno: 'ENOENT' },
  ALREADY_EXISTS: { exit: ExitCode.conflict, errno: 'EEXIST' },
  NOT_A_DIRECTORY: { exit: ExitCode.usage, errno: 'ENOTDIR' },
  IS_A_DIRECTORY: { exit: ExitCode.usage, errno: 'EISDIR' },
  NOT_EMPTY: { exit: ExitCode.conflict, errno: 'ENOTEMPTY' },
  HAS_FORKS: { exit: ExitCode.conflict, errno: 'EBUSY' },
  CONFLICT: { exit: ExitCode.conflict, errno: 'EBUSY' },
  MERGE_CONFLICT: { exit: ExitCode.conflict, errno: 'EBUSY' },
  UNRELATED_VAULTS: { exit: ExitCode.usage, errno: 'EINVAL' },
  MERGE_NOT_FOUND: { exit: ExitCode.notFound, errno: 'ENOENT' },
  NOT_TRACKED: { exit: ExitCode.notFound, errno: 'ENOENT' },
  DENIED: { exit: ExitCode.denied, errno: 'EACCES' },
  READ_ONLY: { exit: ExitCode.denied, errno: 'EROFS' },
  QUOTA_EXCEEDED: { exit: ExitCode.quota, errno: 'EDQUOT' },
  TIMEOUT: { exit: ExitCode.timeout, errno: 'ETIMEDOUT' },
  FUSE_UNAVAILABLE: { exit: ExitCode.internal, errno: 'ENOSYS' },
  DATABASE_DAMAGED: { exit: ExitCode.internal, errno: 'EIO' },
  SCHEMA_TOO_NEW: { exit: ExitCode.conflict, errno: 'EIO' },
  SANDBOX_UNAVAILABLE: { exit: ExitCode.internal, errno: 'ENOSYS' },
} as const;

export type ErrorCode = keyof typeof CODES;

/** Whether `code` (e.g. read back from another process) is one of avfs's error codes. */
export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(CODES, code);

export class AvfsError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'AvfsError';
    this.code = code;
    this.data = data;
  }

  get exitCode(): number {
    return CODES[this.code].exit;
  }

  /** The errno name a FUSE callback should answer with for this error. */
  get errno(): string {
    return CODES[this.code].errno;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.data };
  }
}

/** Wraps anything thrown into an AvfsError, keeping unknown failures visible as INTERNAL. */
export function toAvfsError(err: unknown): AvfsError {
  if (err instanceof AvfsError) return err;
  if (err instanceof Error) {
    const sqliteCode = (err as { code?: unknown }).code;
    if (typeof sqliteCode === 'string') return fromSqlite(err, sqliteCode) ?? new AvfsError('INTERNAL', err.message, { cause: sqliteCode });
    return new AvfsError('INTERNAL', err.message);
  }
  return new AvfsError('INTERNAL', String(err));
}

/**
 * SQLite errors that describe the home rather than a bug: damage found by a query (a database
 * truncated or overwritten after it was opened) and a database SQLite could only open read-only.
 */
function fromSqlite(err: Error, code: string): AvfsError | undefined {
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    const reason = code === 'SQLITE_NOTADB' ? 'not_a_database' : 'corrupt';
    return new AvfsError(
      'DATABASE_DAMAGED',
      `the avfs database (avfs.db in the home) is damaged: ${err.message}. Restore it from a backup, or salvage what is left with \`sqlite3 avfs.db .recover\` into a new file; move the home aside to start a new one.`,
      { reason, cause: code },
    );
  }
  if (code.startsWith('SQLITE_READONLY')) return new AvfsError('READ_ONLY', `the avfs database is read-only here: ${err.message}`, { cause: code });
  return undefined;
}

export const notFound = (path: string, vault?: string) =>
  new AvfsError('NOT_FOUND', `no such file or directory: ${path}`, vault ? { path, vault } : { path });
export const alreadyExists = (path: string) => new AvfsError('ALREADY_EXISTS', `already exists: ${path}`, { path });
export const notADirectory = (path: string) => new AvfsError('NOT_A_DIRECTORY', `not a directory: ${path}`, { path });
export const isADirectory = (path: string) => new AvfsError('IS_A_DIRECTORY', `is a directory: ${path}`, { path });
