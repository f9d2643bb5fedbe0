import { AvfsError, type ErrorCode } from '../errors.js';

/** Thrown for NOT_FOUND, VAULT_NOT_FOUND, VERSION_NOT_FOUND and CHECKPOINT_NOT_FOUND. */
export class NotFoundError extends AvfsError {}
/** Thrown for ALREADY_EXISTS, NOT_EMPTY, HAS_FORKS, CONFLICT and SCHEMA_TOO_NEW. */
export class ConflictError extends AvfsError {}
/** Thrown for invalid input: USAGE, INVALID_PATH, INVALID_NAME, INVALID_ARGUMENT, NO_VAULT, NOT_A_DIRECTORY, IS_A_DIRECTORY, and query errors. */
export class InvalidInputError extends AvfsError {}
/** Thrown when a policy denies a command (DENIED) or a mount or the home is read-only (READ_ONLY). */
export class DeniedError extends AvfsError {}
/** Thrown for QUOTA_EXCEEDED. */
export class QuotaExceededError extends AvfsError {}
/** Thrown for TIMEOUT. */
export class TimeoutError extends AvfsError {}

const BY_EXIT: Record<number, new (code: ErrorCode, message: string, data?: Record<string, unknown>) => AvfsError> = {
  2: InvalidInputError,
  3: NotFoundError,
  4: ConflictError,
  5: DeniedError,
  6: QuotaExceededError,
  124: TimeoutError,
};

/**
 * Re-throws a store error as its typed class (same `code`, `data` and message), so SDK users can
 * `catch (e) { if (e instanceof NotFoundError) … }` or branch on `e.code` exactly as CLI users do.
 */
export function typed(err: unknown): unknown {
  if (!(err instanceof AvfsError) || err.constructor !== AvfsError) return err;
  const Class = BY_EXIT[err.exitCode];
  if (!Class) return err;
  const t = new Class(err.code, err.message, err.data);
  t.stack = err.stack;
  return t;
}

export { AvfsError };
