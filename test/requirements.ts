import { describe, it } from 'vitest';
import { fuseAvailable } from '../src/mount/index.js';
import { findBwrap } from '../src/proxy/sandbox.js';

/**
 * What mount and sandbox tests need from the machine, and the one rule for when it is missing:
 * such tests skip, printing why, only where the piece is truly absent; where AVFS_REQUIRE_FUSE=1
 * or CI is set (.ci/run sets both), the missing piece is a failing test instead, so a broken
 * install never passes green. test/mount and test/proxy build their describe helpers on this.
 */

export interface Requirement {
  ok: boolean;
  /** What is missing, for the failing test's name and the skip message. */
  what: string;
  /** Why it is missing (and how to install it). */
  reason: string;
}

const fuseCheck = await fuseAvailable();
/** The FUSE runtime (fuse-native's libfuse and fusermount). */
export const FUSE: Requirement = { ok: fuseCheck.ok, what: 'FUSE', reason: fuseCheck.reason ?? '' };
const bwrapPath = findBwrap();
/** bubblewrap, which every sandboxed run needs. */
export const SANDBOX: Requirement = { ok: !!bwrapPath, what: 'bubblewrap', reason: 'bwrap is not installed: apt-get install -y bubblewrap' };

/** Whether skipping for a missing requirement is a failure under `env`: AVFS_REQUIRE_FUSE=1, or CI set (not empty, 0 or false). */
export function skipForbidden(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI;
  return env.AVFS_REQUIRE_FUSE === '1' || (ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false');
}

/** What a test that needs `need` does: run, fail for the missing piece, or skip. */
export function onMissing(need: Requirement, forbidden: boolean): 'run' | 'fail' | 'skip' {
  return need.ok ? 'run' : forbidden ? 'fail' : 'skip';
}

/** Skipping for a missing requirement is a failure in this process. */
export const SKIP_FORBIDDEN = skipForbidden(process.env);

function reportSkip(name: string, need: Requirement): void {
  process.stderr.write(`[tests] SKIPPED "${name}": ${need.what} is unavailable here: ${need.reason}\n`);
}

/**
 * A describe block that needs `need`: it runs where `need.ok`; elsewhere it is skipped with the
 * reason printed, or, where skipping is forbidden, replaced by one test that fails with the reason.
 */
export function describeNeeding(need: Requirement, name: string, fn: () => void): void {
  const action = onMissing(need, SKIP_FORBIDDEN);
  if (action === 'run') {
    describe(name, fn);
  } else if (action === 'fail') {
    describe(name, () => {
      it(`has ${need.what} (AVFS_REQUIRE_FUSE=1 or CI forbids skipping)`, () => {
        throw new Error(`${need.what} is unavailable: ${need.reason}`);
      });
    });
  } else {
    reportSkip(name, need);
    describe.skip(name, fn);
  }
}

/**
 * For `describe.skipIf` / `it.skipIf`: true (skip, printing why) only where `need` is missing and
 * skipping is allowed. Where it is forbidden this is false, so the tests run and fail on it.
 */
export function skipWithout(need: Requirement, name: string): boolean {
  if (onMissing(need, SKIP_FORBIDDEN) !== 'skip') return false;
  reportSkip(name, need);
  return true;
}
