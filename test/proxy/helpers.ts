import type { EntryType } from '../../src/core/entry-types.js';
import { readdirSync, readFileSync } from 'node:fs';
import { describe } from 'vitest';
import { openStore } from '../../src/store/store.js';
import { savePolicy } from '../../src/proxy/policy-source.js';
import { getVault, setVaultPolicy as setStoredVaultPolicy } from '../../src/store/vaults.js';
import { VaultFs } from '../../src/store/vault-fs.js';
import { describeNeeding, FUSE, SANDBOX, skipWithout } from '../requirements.js';

/**
 * Proxy tests run real processes through the built binary, in copy mode always and in mount mode
 * where FUSE works, in the sandbox where bubblewrap is installed. Missing pieces skip, saying why,
 * except where AVFS_REQUIRE_FUSE=1 or CI is set: there they fail (test/requirements.ts).
 */
export const fuse = FUSE;
/** Whether bubblewrap, which every sandboxed run needs, is installed. */
export const bwrap = SANDBOX.ok;

export type Mode = 'copy' | 'mount';

/** For `describe.skipIf` / `it.skipIf` on mount mode (see skipWithout). */
export function skipMountTests(name: string): boolean {
  return skipWithout(FUSE, name);
}

/** A describe block that needs the sandbox (bubblewrap); see describeNeeding. */
export function describeSandbox(name: string, fn: () => void): void {
  describeNeeding(SANDBOX, name, fn);
}

/** Runs `fn` once per mode (copy, and mount where FUSE is required or present), in the sandbox. */
export function describeModes(name: string, fn: (mode: Mode) => void): void {
  if (!SANDBOX.ok) return describeSandbox(name, () => fn('copy'));
  describe(`${name} [copy mode]`, () => fn('copy'));
  describeNeeding(FUSE, `${name} [mount mode]`, () => fn('mount'));
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

/** Stores a vault policy without `proxy policy set`'s checks of this host (one stored on a host that had its bind destinations). */
export function storeVaultPolicyAsIs(home: string, policy: unknown, vault = 'default'): void {
  const store = openStore(home);
  try {
    store.mutate(() => setStoredVaultPolicy(store, getVault(store, vault), JSON.stringify(policy)));
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
