import { beforeAll, describe, expect, it } from 'vitest';

import { expectError, expectOk, useTempHome } from '../helpers.js';

const h = useTempHome('all');
const run = h.run;

beforeAll(async () => {
  expectOk(await run(['write', '/a.txt', 'hello one']));
  expectOk(await run(['write', '/a.txt', 'hello two']));
});

/** What a refused option must leave untouched: the history and the audit trail. */
async function snapshot(): Promise<unknown> {
  return { log: expectOk(await run(['log', '/', '-r'])).versions, audit: expectOk(await run(['audit'])).records };
}

// Every option that takes a whole number, as `[args before the value, args after it]`.
const NUMERIC_OPTIONS: [string[], string[]][] = [
  [['log', '/a.txt', '-n'], []],
  [['search', 'hello', '-n'], []],
  [['audit', '-n'], []],
  [['find', '/', '-n'], []],
  [['find', '/', '--depth'], []],
  [['tree', '--depth'], []],
  [['cat', '/a.txt', '--version'], []],
  [['checkout', '/a.txt', '--version'], []],
  [['diff', '/a.txt', '--from'], []],
  [['diff', '/a.txt', '--to'], []],
  [['diff', '/a.txt', '-U'], []],
  [['grep', 'hello', '/', '-m'], []],
  [['prune', '/', '--keep'], ['--dry-run']],
  [['mount', '/nonexistent-avfs-mountpoint', '--timeout'], []],
  [['unmount', '/nonexistent-avfs-mountpoint', '--timeout'], []],
  [['proxy', 'exec', '--mode', 'copy', '--timeout'], ['--', 'true']],
  [['proxy', 'exec', '--mode', 'copy', '--kill-after'], ['--', 'true']],
];

describe('numeric options', () => {
  // 99999999999999999999 does not fit a 64-bit integer (SQLite answered SQLITE_MISMATCH), and
  // 9007199254740993 is not exactly representable (it silently became …992).
  let state: unknown;
  it('(the state before the refused commands)', async () => {
    state = await snapshot();
  });

  it.each(NUMERIC_OPTIONS)('%j: out-of-range and inexact numbers are usage errors', async (before, after) => {
    for (const value of ['99999999999999999999', '9007199254740993']) {
      const r = await run([...before, value, ...after]);
      expectError(r, 'USAGE', 2);
    }
  });

  it('none of the refused commands changed anything', async () => {
    expect(await snapshot()).toEqual(state);
  });

  it('only plain decimal digits are numbers: 1e3, 0x10, 1.5 and an empty value are usage errors', async () => {
    for (const value of ['1e3', '0x10', '1.5', '', ' ']) expectError(await run(['log', '/a.txt', '-n', value]), 'USAGE', 2);
    expect(expectOk(await run(['log', '/a.txt', '-n', '1'])).versions).toHaveLength(1);
  });

  it('a timeout longer than a timer can hold is refused instead of firing at once', async () => {
    // Node turns a delay over 2^31-1 ms (~24.8 days) into 1 ms: the command was killed at once.
    expectError(await run(['proxy', 'exec', '--mode', 'copy', '--timeout', '30d', '--', 'true']), 'USAGE', 2);
    expectError(await run(['proxy', 'exec', '--mode', 'copy', '--timeout', '2147483648', '--', 'true']), 'USAGE', 2);
    const ok = expectOk(await run(['proxy', 'exec', '--mode', 'copy', '--timeout', '2147483647', '--', 'true']));
    expect(ok).toMatchObject({ exit_code: 0, timed_out: false });
  });

  it('the largest exact number is accepted where a count is asked for', async () => {
    expect(expectOk(await run(['log', '/a.txt', '-n', '9007199254740991'])).versions).toHaveLength(2);
    expect(expectOk(await run(['audit', '-n', '9007199254740991'])).records.length).toBeGreaterThan(0);
  });

  it('quota counts share the parser: out of range is USAGE and changes nothing', async () => {
    const before = expectOk(await run(['quota'])).quota;
    expectError(await run(['quota', 'set', '--max-files', '99999999999999999999']), 'USAGE', 2);
    expectError(await run(['quota', 'set', '--max-files', '1e3']), 'USAGE', 2);
    expect(expectOk(await run(['quota'])).quota).toEqual(before);
  });

  it('times given as a duration ago must be representable', async () => {
    expectError(await run(['audit', '--since', '99999999999999999999d']), 'USAGE', 2);
    expectError(await run(['find', '/', '--newer', '99999999999999999999d']), 'USAGE', 2);
  });
});

describe('a refused option', () => {
  it('is named as it is typed (--kill-after, not killAfter), a repeated one with the value at fault', async () => {
    const after = expectError(await run(['proxy', 'exec', '--kill-after', 'soon', '--', 'true']), 'USAGE', 2);
    expect(after.message).toMatch(/^invalid option --kill-after: /);
    expect(after.option).toBe('kill-after');
    const env = expectError(await run(['proxy', 'exec', '--env', 'A=1', '--env', 'NOEQ', '--', 'true']), 'USAGE', 2);
    expect(env.message).toMatch(/^invalid option --env value 2 "NOEQ": /);
    expect(env.option).toBe('env');
  });
});
