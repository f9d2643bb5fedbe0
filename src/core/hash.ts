import { createHash, type Hash } from 'node:crypto';

/** Content is addressed by SHA-256, hex-encoded (64 characters). */
export function hashBytes(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface Hasher {
  update(data: Uint8Array): void;
  digest(): string;
  /** A hasher that has seen what this one has so far, and goes on separately. */
  copy(): Hasher;
}

/** Incremental hasher for content that arrives in pieces (streams, chunked writes). */
export function createHasher(): Hasher {
  return wrap(createHash('sha256'));
}

function wrap(h: Hash): Hasher {
  return {
    update: (data) => void h.update(data),
    digest: () => h.digest('hex'),
    copy: () => wrap(h.copy()),
  };
}

export const EMPTY_HASH = hashBytes(new Uint8Array(0));
