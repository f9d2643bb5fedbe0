import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Separate processes: native addons (better-sqlite3, fuse-native) and process-wide state
    // (the per-home Store cache, cwd, env) stay isolated per test file.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // Each test home that runs a sandboxed exec starts a resident views server; in tests they need
    // not wait the default two minutes for the next exec (a removed home ends them at once anyway).
    env: { AVFS_VIEWS_IDLE_MS: '10000' },
  },
});
