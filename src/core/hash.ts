import { createHash } from 'node:crypto';

/** Content is addressed by SHA-256, hex-encoded (64 characters). */
export function hashBytes(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Incremental hasher for content that arrives in pieces (streams, chunked writes). */
export function createHasher(): { update(data: Uint8Array): void; digest(): string } {
  const h = createHash('sha256');
  return {
    update: (data) => void h.update(data),
    digest: () => h.digest('hex'),
  };
}

export const EMPTY_HASH = hashBytes(new Uint8Array(0));
