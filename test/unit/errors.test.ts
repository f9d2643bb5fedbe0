import { describe, expect, it } from 'vitest';
import { AvfsError, ConflictError, DeniedError, InvalidInputError, NotFoundError, QuotaExceededError, TimeoutError, classOf, toAvfsError } from '../../src/errors.js';

describe('typed errors', () => {
  it('an AvfsError is its code\'s class where it is thrown', () => {
    const cases = [
      ['NOT_FOUND', NotFoundError],
      ['CHECKPOINT_NOT_FOUND', NotFoundError],
      ['ALREADY_EXISTS', ConflictError],
      ['MERGE_CONFLICT', ConflictError],
      ['INVALID_PATTERN', InvalidInputError],
      ['NOT_A_DIRECTORY', InvalidInputError],
      ['DENIED', DeniedError],
      ['READ_ONLY', DeniedError],
      ['QUOTA_EXCEEDED', QuotaExceededError],
      ['TIMEOUT', TimeoutError],
    ] as const;
    for (const [code, Class] of cases) {
      const err = new AvfsError(code, 'm', { path: '/x' });
      expect(err).toBeInstanceOf(Class);
      expect(err).toBeInstanceOf(AvfsError);
      expect(err).toBeInstanceOf(Error);
      expect([err.code, err.message, err.data, err.name]).toEqual([code, 'm', { path: '/x' }, 'AvfsError']);
      expect(classOf(code)).toBe(Class);
      expect(Class.codes).toContain(code);
    }
  });

  it('internal failures stay plain AvfsError, and a subclass built directly is itself', () => {
    for (const code of ['INTERNAL', 'SANDBOX_UNAVAILABLE', 'DATABASE_DAMAGED'] as const) {
      const err = new AvfsError(code, 'm');
      expect(Object.getPrototypeOf(err)).toBe(AvfsError.prototype);
    }
    const direct = new NotFoundError('VAULT_NOT_FOUND', 'no vault');
    expect(direct).toBeInstanceOf(NotFoundError);
    expect(direct.exitCode).toBe(3);
  });

  it('every code belongs to exactly one class, with one exit code per class', () => {
    const classes = [NotFoundError, ConflictError, InvalidInputError, DeniedError, QuotaExceededError, TimeoutError];
    const all = classes.flatMap((C) => C.codes);
    expect(new Set(all).size).toBe(all.length);
    for (const C of classes) expect(new Set(C.codes.map((code) => new AvfsError(code, '').exitCode)).size).toBe(1);
  });

  it('toJSON and fromJSON round-trip, keeping the class', () => {
    const err = new AvfsError('CONFLICT', 'busy', { path: '/a', reason: 'not_unique' });
    const json = JSON.parse(JSON.stringify(err)) as Record<string, unknown>;
    expect(json).toEqual({ code: 'CONFLICT', message: 'busy', path: '/a', reason: 'not_unique' });
    const back = AvfsError.fromJSON(json);
    expect(back).toBeInstanceOf(ConflictError);
    expect(back.toJSON()).toEqual(json);
  });

  it('fromJSON keeps a code it does not know (a newer avfs\'s) as the code of a plain AvfsError exiting like INTERNAL', () => {
    const json = { code: 'NO_SUCH_CODE', message: 'from the future', path: '/a' };
    const unknown = AvfsError.fromJSON(json);
    expect(unknown.constructor).toBe(AvfsError);
    expect([unknown.code, unknown.message, unknown.data]).toEqual(['NO_SUCH_CODE', 'from the future', { path: '/a' }]);
    expect([unknown.exitCode, unknown.errno]).toEqual([1, 'EIO']);
    expect(unknown.toJSON()).toEqual(json);
    // No code at all: INTERNAL.
    expect(AvfsError.fromJSON({ message: 'x' }).code).toBe('INTERNAL');
  });

  it('SQLITE_BUSY (a write lock held by another process for the whole busy timeout) is CONFLICT, exit 4: retryable, not INTERNAL', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT']) {
      const e = toAvfsError(Object.assign(new Error('database is locked'), { code }));
      expect([e.code, e.exitCode, e.errno, e.data]).toEqual(['CONFLICT', 4, 'EBUSY', { reason: 'locked', cause: code }]);
    }
  });

  it('a full disk (the home: SQLITE_FULL; a host place: ENOSPC, EDQUOT, EFBIG) is NO_SPACE, exit 6, errno its cause: not INTERNAL', () => {
    for (const [code, errno] of [['SQLITE_FULL', 'ENOSPC'], ['ENOSPC', 'ENOSPC'], ['EDQUOT', 'EDQUOT'], ['EFBIG', 'EFBIG']]) {
      const e = toAvfsError(Object.assign(new Error('no space left on device'), { code }));
      expect([e.code, e.exitCode, e.errno, e.data]).toEqual(['NO_SPACE', 6, errno, { cause: code }]);
      expect(e).toBeInstanceOf(QuotaExceededError);
    }
  });

  it("a FUSE callback answers with the error's cause when that is an errno, else with its code's errno", () => {
    expect(new AvfsError('INVALID_PATH', 'too long', { cause: 'ENAMETOOLONG' }).errno).toBe('ENAMETOOLONG');
    expect(new AvfsError('INVALID_PATH', 'bad').errno).toBe('EINVAL');
    expect(new AvfsError('CONFLICT', 'busy', { cause: 'SQLITE_BUSY' }).errno).toBe('EBUSY');
  });
});
