import { describe, expect, it } from 'vitest';
import { onMissing, skipForbidden } from '../requirements.js';

describe('skip unless FUSE', () => {
  it('a missing FUSE or bubblewrap fails the tests under AVFS_REQUIRE_FUSE=1 or CI, and only skips elsewhere', () => {
    expect(skipForbidden({ AVFS_REQUIRE_FUSE: '1' })).toBe(true);
    expect(skipForbidden({ CI: 'true' })).toBe(true);
    expect(skipForbidden({ CI: '1' })).toBe(true);
    expect(skipForbidden({})).toBe(false);
    expect(skipForbidden({ CI: '', AVFS_REQUIRE_FUSE: '' })).toBe(false);
    expect(skipForbidden({ CI: 'false' })).toBe(false);
    expect(skipForbidden({ CI: '0', AVFS_REQUIRE_FUSE: '0' })).toBe(false);
    const missing = { ok: false, what: 'FUSE', reason: 'libfuse.so.2: cannot open shared object file' };
    expect(onMissing(missing, skipForbidden({ CI: 'true' }))).toBe('fail');
    expect(onMissing(missing, skipForbidden({}))).toBe('skip');
    expect(onMissing({ ...missing, ok: true }, true)).toBe('run');
  });
});
