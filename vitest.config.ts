import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Separate processes: native addons (better-sqlite3, fuse-native) and process-wide state
    // (the per-home Store cache, cwd, env) stay isolated per test file.
    pool: 'forks',
    // Three files at a time on a 2-core machine: most tests wait on processes, FUSE round trips and
    // the kernel's 1 s caches rather than on the CPU. Measured on this 2-core VM: 2 forks 932 s at
    // 70% CPU, 3 forks 818 s (while other work also ran). The timeouts leave room for that load.
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Each test home that runs a sandboxed exec starts a resident views server; in tests they need
    // not wait the default two minutes for the next exec (a removed home ends them at once anyway).
    env: { AVFS_VIEWS_IDLE_MS: '10000' },
  },
});
