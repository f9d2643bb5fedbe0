import { describe, expect, it } from 'vitest';
import { EMPTY_HASH, createHasher, hashBytes } from '../../src/core/hash.js';

describe('hashing', () => {
  it('is sha256 hex and incremental hashing matches one-shot', () => {
    expect(EMPTY_HASH).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const h = createHasher();
    h.update(Buffer.from('hello '));
    h.update(Buffer.from('world'));
    expect(h.digest()).toBe(hashBytes(Buffer.from('hello world')));
  });
});
