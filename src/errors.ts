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
  NO_SPACE: { exit: ExitCode.quota, errno: 'ENOSPC' },
  TIMEOUT: { exit: ExitCode.timeout, errno: 'ETIMEDOUT' },
  FUSE_UNAVAILABLE: { exit: ExitCode.internal, errno: 'ENOSYS' },
  DATABASE_DAMAGED: { exit: ExitCode.internal, errno: 'EIO' },
  SCHEMA_TOO_NEW: { exit: ExitCode.conflict, errno: 'EIO' },
  SANDBOX_UNAVAILABLE: { exit: ExitCode.internal, errno: 'ENOSYS' },
} as const;

export type ErrorCode = keyof typeof CODES;
/**
 * The code of an error read back from elsewhere (AvfsError.fromJSON): one of ours, or a code this
 * version does not know (a newer avfs's), kept as given. `string & {}` keeps our codes' names
 * offered by editors while admitting any string.
 */
export type ReportedCode = ErrorCode | (string & {});

/** Whether `code` (e.g. read back from another process) is one of avfs's error codes. */
export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(CODES, code);

/**
 * The base of every error avfs throws on purpose. Errors are typed where they arise: constructing
 * an AvfsError with a code gives an instance of that code's class (`new AvfsError('NOT_FOUND', …)`
 * is a NotFoundError; see CLASSES below), so the SDK, the CLI and MCP all see the same class
 * without re-wrapping, and `instanceof AvfsError` holds for each. Codes whose exit code is 1
 * (internal failures) stay plain AvfsError.
 */
export class AvfsError extends Error {
  /** The codes an error of this class carries (empty for the base: it carries any). */
  static readonly codes: readonly ErrorCode[] = [];
  /** One of ours (ErrorCode) for every error avfs raises; any string only for one fromJSON revived from a newer avfs. */
  readonly code: ReportedCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'AvfsError';
    this.code = code;
    this.data = data;
    // Typed where it arises: the base constructor picks the code's class (a subclass's own
    // constructor is already that class).
    if (new.target === AvfsError) {
      const Class = classOf(code);
      if (Class !== AvfsError) Object.setPrototypeOf(this, Class.prototype);
    }
  }

  /** The code's exit code; an unknown code (see fromJSON) exits like INTERNAL. */
  get exitCode(): number {
    return CODES[isErrorCode(this.code) ? this.code : 'INTERNAL'].exit;
  }

  /** The errno name a FUSE callback should answer with for this error: its cause when that is an errno (ENAMETOOLONG), else its code's. */
  get errno(): string {
    const cause = this.data.cause;
    if (typeof cause === 'string' && /^E[A-Z0-9]+$/.test(cause)) return cause;
    return CODES[isErrorCode(this.code) ? this.code : 'INTERNAL'].errno;
  }

  /** The error as the CLI's `--json` reports it: `{ code, message, ...data }`. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.data };
  }

  /**
   * The error `toJSON` described (read back from another process), as its code's class. A code
   * this version does not know (a newer avfs's) stays visible as the code of a plain AvfsError,
   * with INTERNAL's exit code and errno; a missing code is INTERNAL.
   */
  static fromJSON(json: { code?: unknown; message?: unknown; [key: string]: unknown }): AvfsError {
    const { code, message, ...data } = json;
    const text = typeof message === 'string' ? message : 'unknown error';
    if (isErrorCode(code)) return new AvfsError(code, text, data);
    const error = new AvfsError('INTERNAL', text, data);
    // The constructor takes only our codes (a typo in avfs's own code is a compile error); this is
    // the one place an error carries another.
    if (typeof code === 'string' && code !== '') (error as { code: ReportedCode }).code = code;
    return error;
  }
}

const codesExiting = (exit: number): ErrorCode[] => (Object.keys(CODES) as ErrorCode[]).filter((c) => CODES[c].exit === exit);

/** Not there: NOT_FOUND, VAULT_NOT_FOUND, VERSION_NOT_FOUND, CHECKPOINT_NOT_FOUND, MERGE_NOT_FOUND, NOT_TRACKED (exit 3). */
export class NotFoundError extends AvfsError {
  static override readonly codes = codesExiting(ExitCode.notFound);
}
/** In the way: ALREADY_EXISTS, NOT_EMPTY, HAS_FORKS, CONFLICT, MERGE_CONFLICT, SCHEMA_TOO_NEW (exit 4). */
export class ConflictError extends AvfsError {
  static override readonly codes = codesExiting(ExitCode.conflict);
}
/** Invalid input: USAGE, INVALID_PATH, INVALID_NAME, INVALID_ARGUMENT, INVALID_QUERY, INVALID_PATTERN, NO_VAULT, NOT_A_DIRECTORY, IS_A_DIRECTORY, UNRELATED_VAULTS (exit 2). */
export class InvalidInputError extends AvfsError {
  static override readonly codes = codesExiting(ExitCode.usage);
}
/** Refused: a policy denied a command (DENIED), or a mount or the home is read-only (READ_ONLY) (exit 5). */
export class DeniedError extends AvfsError {
  static override readonly codes = codesExiting(ExitCode.denied);
}
/** Out of room: QUOTA_EXCEEDED, NO_SPACE (exit 6). */
export class QuotaExceededError extends AvfsError {
  static override readonly codes = codesExiting(ExitCode.quota);
}
/** TIMEOUT (exit 124). */
export class TimeoutError extends AvfsError {
  static override readonly codes = codesExiting(ExitCode.timeout);
}

/** The code → class table: each code belongs to the class that lists it; the rest are plain AvfsError. */
const CLASSES = new Map<ErrorCode, typeof AvfsError>(
  [NotFoundError, ConflictError, InvalidInputError, DeniedError, QuotaExceededError, TimeoutError].flatMap((Class) => Class.codes.map((code) => [code, Class] as const)),
);

/** The class an error with `code` is. */
export const classOf = (code: ErrorCode): typeof AvfsError => CLASSES.get(code) ?? AvfsError;

/**
 * The AvfsError for a failure of the machine rather than of avfs (fromCause: a full disk, a
 * damaged or read-only database, a write lock held too long), or undefined. The store throws these
 * as AvfsErrors itself, so every door (the SDK too) sees the same code.
 */
export function machineError(err: unknown): AvfsError | undefined {
  const code = err instanceof Error && !(err instanceof AvfsError) ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? fromCause(err as Error, code) : undefined;
}

/** Wraps anything thrown into an AvfsError, keeping unknown failures visible as INTERNAL. */
export function toAvfsError(err: unknown): AvfsError {
  if (err instanceof AvfsError) return err;
  if (err instanceof Error) {
    const causeCode = (err as { code?: unknown }).code;
    if (typeof causeCode === 'string') return fromCause(err, causeCode) ?? new AvfsError('INTERNAL', err.message, { cause: causeCode });
    return new AvfsError('INTERNAL', err.message);
  }
  return new AvfsError('INTERNAL', String(err));
}

/**
 * How long a writer waits for another process's transaction before giving up (SQLite's busy
 * timeout, set on every connection in store/db.ts). Transactions here are short (milliseconds),
 * so a long wait only ever happens under heavy contention, or when another program holds the
 * database's write lock; then the wait ends in CONFLICT (fromCause).
 */
export const BUSY_TIMEOUT_MS = 30_000;

/**
 * Errors that describe the machine rather than a bug: a full disk (the home's, SQLITE_FULL, or a
 * host place export writes, ENOSPC/EDQUOT/EFBIG: NO_SPACE, exit 6), damage found by a query (a database
 * truncated or overwritten after it was opened), a database SQLite could only open read-only, and
 * a write lock another process held for the whole busy timeout (SQLITE_BUSY: CONFLICT, exit 4,
 * which a caller may retry; nothing was changed).
 */
function fromCause(err: Error, code: string): AvfsError | undefined {
  if (code === 'SQLITE_FULL') {
    return new AvfsError('NO_SPACE', `the disk holding the avfs home is full (${err.message}): nothing was changed; free space on that disk and try again (avfs gc and avfs compact free space in the home, but need some room to run)`, { cause: code });
  }
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return new AvfsError('NO_SPACE', `no room on the host: ${err.message}`, { cause: code });
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    const reason = code === 'SQLITE_NOTADB' ? 'not_a_database' : 'corrupt';
    return new AvfsError(
      'DATABASE_DAMAGED',
      `the avfs database (avfs.db in the home) is damaged: ${err.message}. Restore it from a backup, or salvage what is left with \`sqlite3 avfs.db .recover\` into a new file; move the home aside to start a new one.`,
      { reason, cause: code },
    );
  }
  // The working directory was removed under the process: a relative host path names nothing.
  if (code === 'ENOENT' && (err as { syscall?: unknown }).syscall === 'uv_cwd') {
    return new AvfsError('NOT_FOUND', 'the current directory no longer exists, so a relative path names nothing: cd to a directory that exists, or give absolute paths', { reason: 'cwd_removed', cause: code });
  }
  if (code.startsWith('SQLITE_READONLY')) return new AvfsError('READ_ONLY', `the avfs database is read-only here: ${err.message}`, { cause: code });
  if (code.startsWith('SQLITE_BUSY')) {
    return new AvfsError(
      'CONFLICT',
      `the avfs database is locked: another process held its write lock for the whole ${BUSY_TIMEOUT_MS / 1000} s avfs waits for it; nothing was changed, try again`,
      { reason: 'locked', cause: code },
    );
  }
  return undefined;
}

export const notFound = (path: string, vault?: string) =>
  new AvfsError('NOT_FOUND', `no such file or directory: ${path}`, vault ? { path, vault } : { path });
export const alreadyExists = (path: string) => new AvfsError('ALREADY_EXISTS', `already exists: ${path}`, { path });
export const notADirectory = (path: string) => new AvfsError('NOT_A_DIRECTORY', `not a directory: ${path}`, { path });
export const isADirectory = (path: string) => new AvfsError('IS_A_DIRECTORY', `is a directory: ${path}`, { path });
