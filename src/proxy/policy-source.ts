import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AvfsError } from '../errors.js';
import { normalizePath } from '../core/paths.js';
import { audit } from '../store/audit.js';
import { writeHomeFile } from '../store/home.js';
import type { Actor, Store } from '../store/store.js';
import { getVault, getVaultPolicy, setVaultPolicy } from '../store/vaults.js';
import { DEFAULT_POLICY, parsePolicyText, type Policy, type PolicySource } from './policy.js';
import { bindMountpointProblem } from './sandbox.js';

/**
 * Where a vault's proxy policy comes from, first found wins: the vault's own (stored in the
 * database, `proxy policy set <file>`), the home's `<home>/policy.json` (`--scope home`), else
 * the built-in default.
 */

export const homePolicyFile = (home: string) => join(home, 'policy.json');

export interface LoadedPolicy {
  policy: Policy;
  source: PolicySource;
  /** The stored document as written (null for the built-in default). */
  document: unknown;
}

export function loadPolicy(store: Store, vaultName: string): LoadedPolicy {
  const own = getVaultPolicy(store, getVault(store, vaultName));
  if (own !== null) return { policy: parsePolicyText(own, `policy of vault ${vaultName}`), source: 'vault', document: JSON.parse(own) };
  let text: string | undefined;
  try {
    text = readFileSync(homePolicyFile(store.home), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new AvfsError('INVALID_ARGUMENT', `cannot read ${homePolicyFile(store.home)}: ${(err as Error).message}`);
  }
  if (text !== undefined) return { policy: parsePolicyText(text, homePolicyFile(store.home)), source: 'home', document: JSON.parse(text) };
  return { policy: DEFAULT_POLICY, source: 'default', document: null };
}

/**
 * Refuses a bind this host could not mount (sandbox.ts bindMountpointProblem), as every run here
 * would. Only binds whose sources exist here count: a run skips an optional one that is missing
 * and refuses another (NOT_FOUND) for its source.
 */
function refuseUnmountableBinds(policy: Policy): void {
  const made = policy.sandbox.binds.flatMap((b, index) => (existsSync(b.source) ? [{ index, source: normalizePath(b.source), dest: normalizePath(b.dest ?? b.source) }] : []));
  const found = bindMountpointProblem(made);
  if (!found) return;
  const path = `sandbox.binds.${made.find((b) => b.dest === found.dest)!.index}.dest`;
  throw new AvfsError('INVALID_ARGUMENT', `invalid policy: ${path}: ${found.problem}`, { issues: [{ path, message: found.problem }] });
}

/**
 * Validates and stores a policy document for a vault or the home; `null` removes it (the vault
 * then falls back to the home policy, the home to the default). Returns the validated policy.
 */
export function savePolicy(store: Store, scope: 'vault' | 'home', vaultName: string, text: string | null, actor: Actor): Policy | null {
  const policy = text === null ? null : parsePolicyText(text, 'policy');
  if (policy) refuseUnmountableBinds(policy);
  // Stored as given (not with defaults filled in), so later built-in defaults still apply to it.
  const canonical = text === null ? null : JSON.stringify(JSON.parse(text));
  if (scope === 'vault') {
    store.mutate(() => {
      setVaultPolicy(store, getVault(store, vaultName), canonical);
      audit(store, actor, text === null ? 'proxy.policy.clear' : 'proxy.policy.set', vaultName, { scope });
    });
  } else {
    const file = homePolicyFile(store.home);
    if (canonical === null) rmSync(file, { force: true });
    else writeHomeFile(file, JSON.stringify(JSON.parse(canonical), null, 2) + '\n');
    store.mutate(() => audit(store, actor, text === null ? 'proxy.policy.clear' : 'proxy.policy.set', null, { scope }));
  }
  return policy;
}
