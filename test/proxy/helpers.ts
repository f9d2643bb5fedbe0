import type { EntryType } from '../../src/core/entry-types.js';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { fuseAvailable } from '../../src/mount/index.js';
import { findBwrap } from '../../src/proxy/sandbox.js';
import { openStore } from '../../src/store/store.js';
import { savePolicy } from '../../src/proxy/policy-source.js';
import { VaultFs } from '../../src/store/vault-fs.js';

/**
 * Proxy tests run real processes through the built binary, in copy mode always and in mount mode
 * where FUSE works. Mount mode skips only where FUSE is truly absent, saying why; with
 * AVFS_REQUIRE_FUSE=1 (CI) that skip is a failure instead.
 */
export const fuse = await fuseAvailable();
/** bubblewrap, which every sandboxed run needs (CI installs it: AVFS_REQUIRE_FUSE=1 requires it too). */
export const bwrap = findBwrap();
const REQUIRED = process.env.AVFS_REQUIRE_FUSE === '1';

export type Mode = 'copy' | 'mount';

/**
 * For `describe.skipIf` / `it.skipIf`: true (skip, saying why) only where FUSE is absent and
 * AVFS_REQUIRE_FUSE is not set; with it set the tests run and fail on the missing FUSE.
 */
export function skipMountTests(name: string): boolean {
  if (fuse.ok || REQUIRED) return false;
  process.stderr.write(`[proxy tests] SKIPPED "${name}": FUSE is unavailable here: ${fuse.reason}\n`);
  return true;
}

/**
 * A describe block that needs the sandbox (bubblewrap): skipped only where bwrap is missing and
 * AVFS_REQUIRE_FUSE is not set (saying why); in CI a missing bwrap is a failing test.
 */
export function describeSandbox(name: string, fn: () => void): void {
  if (bwrap) {
    describe(name, fn);
  } else if (REQUIRED) {
    describe(name, () => {
      it('has bubblewrap (AVFS_REQUIRE_FUSE=1 forbids skipping)', () => {
        throw new Error('bwrap is not installed: apt-get install -y bubblewrap');
      });
    });
  } else {
    process.stderr.write(`[proxy tests] SKIPPED "${name}": bubblewrap (bwrap) is not installed here\n`);
    describe.skip(name, fn);
  }
}

/** Runs `fn` once per mode that can run here, in the sandbox (see describeSandbox). */
export function describeModes(name: string, fn: (mode: Mode) => void): void {
  if (!bwrap) return describeSandbox(name, () => fn('copy'));
  describe(`${name} [copy mode]`, () => fn('copy'));
  if (fuse.ok) {
    describe(`${name} [mount mode]`, () => fn('mount'));
  } else if (REQUIRED) {
    describe(`${name} [mount mode]`, () => {
      it('has FUSE (AVFS_REQUIRE_FUSE=1 forbids skipping)', () => {
        throw new Error(`FUSE is unavailable: ${fuse.reason}`);
      });
    });
  } else {
    process.stderr.write(`[proxy tests] SKIPPED "${name}" in mount mode: FUSE is unavailable here: ${fuse.reason}\n`);
    describe.skip(`${name} [mount mode]`, () => fn('mount'));
  }
}

/**
 * Creates `home` with its `default` vault holding `files` (path → content; a path ending in / is
 * a directory), then runs `setup` on it. Returns the home.
 */
export function seedHome(home: string, files: Record<string, string> = {}, setup?: (fs: VaultFs) => void): string {
  const store = openStore(home);
  try {
    const fs = new VaultFs(store, 'default', { source: 'cli' });
    for (const [path, content] of Object.entries(files)) {
      if (path.endsWith('/')) fs.mkdir(path, { parents: true });
      else fs.writeFile(path, content, { parents: true });
    }
    setup?.(fs);
  } finally {
    store.release();
  }
  return home;
}

/** Stores a vault policy for `home` (e.g. `{ sandbox: { mode: 'off' } }` for an unsandboxed run). */
export function setVaultPolicy(home: string, policy: unknown, vault = 'default'): void {
  const store = openStore(home);
  try {
    savePolicy(store, 'vault', vault, JSON.stringify(policy), { source: 'cli' });
  } finally {
    store.release();
  }
}

export interface VaultItem {
  type: EntryType;
  mode: number;
  size: number;
  hash: string | null;
  target: string | null;
}

/** The exact tree of a vault as the store holds it: path → type, mode, size, hash, target. */
export function vaultTree(home: string, vault = 'default'): Record<string, VaultItem> {
  const store = openStore(home);
  try {
    const fs = new VaultFs(store, vault, { source: 'cli' });
    const out: Record<string, VaultItem> = {};
    for (const e of [fs.stat('/'), ...fs.walk('/')]) out[e.path] = { type: e.type, mode: e.mode, size: e.size, hash: e.hash, target: e.target };
    return out;
  } finally {
    store.release();
  }
}

/** Audit rows of a home with an op starting with `prefix`. */
export function auditRows(home: string, prefix: string): { op: string; exec_id: string | null; detail: Record<string, unknown> }[] {
  const store = openStore(home);
  try {
    return store
      .stmt<{ op: string; exec_id: string | null; detail: string | null }>('SELECT op, exec_id, detail FROM audit WHERE op LIKE ? ORDER BY id')
      .all(`${prefix}%`)
      .map((r) => ({ op: r.op, exec_id: r.exec_id, detail: r.detail ? JSON.parse(r.detail) : {} }));
  } finally {
    store.release();
  }
}

/** Live processes (not zombies) with their process group, command line and environment. */
export function processes(): { pid: number; pgid: number; cmdline: string[]; env: string[] }[] {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[0] === 'X') continue;
      out.push({
        pid: Number(name),
        pgid: Number(fields[2]),
        cmdline: readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').filter(Boolean),
        env: readFileSync(`/proc/${name}/environ`, 'latin1').split('\0'),
      });
    } catch {
      // exited while we looked
    }
  }
  return out;
}
