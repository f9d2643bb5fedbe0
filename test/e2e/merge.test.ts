import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { avfs, expectError, expectOk, useTempHome } from '../helpers.js';

// `cat` output is compared without its final newline: execa drops it from stdout.
const h = useTempHome('each');

describe('avfs vault merge through the CLI', () => {
  it('fork, work on both sides, dry run, merge, merge again, undo', async () => {
    const home = h.home;
    const run = (args: string[], input?: string) => avfs(home, args, input === undefined ? {} : { input });
    expectOk(await run(['write', '/notes.md', '-'], 'one\ntwo\nthree\n'));
    expectOk(await run(['vault', 'fork', 'default', 'try']));
    expectOk(await run(['--vault', 'try', 'write', '/notes.md', '-'], 'ONE\ntwo\nthree\n'));
    expectOk(await run(['--vault', 'try', 'write', '/idea.md', 'idea']));
    expectOk(await run(['write', '/notes.md', '-'], 'one\ntwo\nTHREE\n'));

    const dry = expectOk(await run(['vault', 'merge', 'try', '--dry-run']));
    expect(dry).toMatchObject({ source: 'try', target: 'default', dry_run: true, status: 'merged', checkpoint: null, conflicts: [] });
    expect(dry.changes.map((c: any) => [c.path, c.action, c.class])).toEqual([
      ['/idea.md', 'added', 'theirs_only'],
      ['/notes.md', 'modified', 'merged'],
    ]);
    expect((await avfs(home, ['cat', '/notes.md'], { raw: true })).stdout).toBe('one\ntwo\nTHREE');

    const merged = expectOk(await run(['vault', 'merge', 'try']));
    expect(merged.changes).toEqual(dry.changes);
    expect(merged.checkpoint).toMatch(/^before-merge-/);
    expect((await avfs(home, ['cat', '/notes.md'], { raw: true })).stdout).toBe('ONE\ntwo\nTHREE');
    const log = expectOk(await run(['log', '/notes.md']));
    expect(log.versions[0].op).toBe('merge');

    expect(expectOk(await run(['vault', 'merge', 'try'])).status).toBe('up_to_date');

    const undo = expectOk(await run(['vault', 'merge', 'try', '--undo']));
    expect(undo).toMatchObject({ undo: true, source: 'try', target: 'default', merge_id: merged.merge_id });
    expect((await avfs(home, ['cat', '/notes.md'], { raw: true })).stdout).toBe('one\ntwo\nTHREE');
    expectError(await run(['ls', '/idea.md']), 'NOT_FOUND', 3);
    expectError(await run(['vault', 'merge', 'try', '--undo']), 'MERGE_NOT_FOUND', 3);
    // An undo takes no strategy (it was ignored) and no dry run.
    expectOk(await run(['vault', 'merge', 'try']));
    for (const extra of [['--strategy', 'theirs'], ['--strategy', 'fail'], ['--dry-run']]) {
      expectError(await run(['vault', 'merge', 'try', '--undo', ...extra]), 'USAGE', 2);
    }
    expect(expectOk(await run(['vault', 'merge', 'try', '--undo'])).undo).toBe(true);
  });

  it('undo of a merge from a vault since deleted says how to undo it: restore the checkpoint taken before it', async () => {
    const run = (args: string[]) => avfs(h.home, args);
    expectOk(await run(['write', '/a.txt', 'base']));
    expectOk(await run(['vault', 'fork', 'default', 'gone']));
    expectOk(await run(['--vault', 'gone', 'write', '/b.txt', 'theirs']));
    const merged = expectOk(await run(['vault', 'merge', 'gone']));
    expectOk(await run(['vault', 'delete', 'gone', '--force']));
    const err = expectError(await run(['vault', 'merge', 'gone', '--undo']), 'VAULT_NOT_FOUND', 3);
    expect(err.message).toContain('before-merge-');
    // As it says: the checkpoint puts the target back.
    expectOk(await run(['checkpoint', 'restore', merged.checkpoint]));
    expectError(await run(['cat', '/b.txt']), 'NOT_FOUND', 3);
  });

  it('a merge of siblings whose parent was deleted names the base as history does: the deleted vault by its name, vault_deleted', async () => {
    const run = (args: string[]) => avfs(h.home, args);
    expectOk(await run(['vault', 'create', 'P']));
    expectOk(await run(['--vault', 'P', 'write', '/a', '1']));
    expectOk(await run(['vault', 'fork', 'P', 'X']));
    expectOk(await run(['vault', 'fork', 'P', 'Y']));
    expectOk(await run(['vault', 'delete', 'P', '--force']));
    expectOk(await run(['--vault', 'X', 'write', '/c', '1']));
    const dry = expectOk(await run(['vault', 'merge', 'X', '--into', 'Y', '--dry-run']));
    expect(dry.base).toMatchObject({ vault: 'P', vault_deleted: true, from: 'fork_point' });
    expect(expectOk(await run(['--vault', 'X', 'log', '/a'])).versions[0]).toMatchObject({ vault: 'P', vault_deleted: true });
    expect(expectOk(await run(['vault', 'merge', 'X', '--into', 'Y'])).base).toMatchObject({ vault: 'P', vault_deleted: true });
    expect(expectOk(await run(['vault', 'merge', 'Y', '--into', 'X', '--dry-run'])).base).toMatchObject({ vault: 'X', vault_deleted: false, from: 'merge' });
  });

  it('a conflict is one JSON error document (exit 4) with base/ours/theirs hashes and hunks; a strategy resolves it', async () => {
    const home = h.home;
    const run = (args: string[], input?: string) => avfs(home, args, input === undefined ? {} : { input });
    expectOk(await run(['write', '/a.txt', '-'], 'a\nb\nc\n'));
    expectOk(await run(['vault', 'fork', 'default', 'try']));
    expectOk(await run(['--vault', 'try', 'write', '/a.txt', '-'], 'a\nTHEIRS\nc\n'));
    expectOk(await run(['write', '/a.txt', '-'], 'a\nOURS\nc\n'));
    const err = expectError(await run(['vault', 'merge', 'try']), 'MERGE_CONFLICT', 4);
    expect(err.status).toBe('conflicts');
    expect(err.conflicts).toHaveLength(1);
    const c = err.conflicts[0];
    expect(c).toMatchObject({ path: '/a.txt', kind: 'content', resolution: null, binary: false });
    expect([c.base.hash, c.ours.hash, c.theirs.hash].every((h: string) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
    expect(c.hunks).toEqual([{ base_start: 2, base_lines: 1, ours_start: 2, ours_lines: 1, theirs_start: 2, theirs_lines: 1, base: ['b'], ours: ['OURS'], theirs: ['THEIRS'] }]);
    expect((await avfs(home, ['cat', '/a.txt'], { raw: true })).stdout).toBe('a\nOURS\nc');

    const union = expectOk(await run(['vault', 'merge', 'try', '--strategy', 'union']));
    expect(union.conflicts[0].resolution).toBe('union');
    expect((await avfs(home, ['cat', '/a.txt'], { raw: true })).stdout).toBe('a\n<<<<<<< default\nOURS\n=======\nTHEIRS\n>>>>>>> try\nc');

    expectError(await run(['vault', 'merge', 'try', '--strategy', 'sideways']), 'USAGE', 2);
    expectError(await run(['vault', 'merge', 'default']), 'USAGE', 2);
    expectOk(await run(['vault', 'create', 'lonely']));
    expectError(await run(['vault', 'merge', 'lonely', '--into', 'default']), 'UNRELATED_VAULTS', 2);
  });

  it('--into: brings the parent’s new work into the fork', async () => {
    const home = h.home;
    const run = (args: string[]) => avfs(home, args);
    expectOk(await run(['write', '/a', 'a']));
    expectOk(await run(['vault', 'fork', 'default', 'try']));
    expectOk(await run(['write', '/from-main', 'm']));
    const r = expectOk(await run(['vault', 'merge', 'default', '--into', 'try']));
    expect(r.changes.map((c: any) => c.path)).toEqual(['/from-main']);
    expect((await avfs(home, ['--vault', 'try', 'cat', '/from-main'], { raw: true })).stdout).toBe('m');
  });

  it('--help shows examples', async () => {
    const r = await avfs(h.home, ['vault', 'merge', '--help'], { raw: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('--strategy');
  });
});

describe('avfs import --track and avfs sync through the CLI', () => {
  it('clean sync, then a concurrent host edit is a conflict that writes nothing', async () => {
    const home = h.home;
    const run = (args: string[], input?: string) => avfs(home, args, input === undefined ? {} : { input });
    const host = join(h.dir, 'project');
    mkdirSync(host);
    writeFileSync(join(host, 'main.txt'), 'a\nb\nc\n');
    writeFileSync(join(host, 'other.txt'), 'other\n');
    const imported = expectOk(await run(['import', '--track', host, '/p']));
    expect(imported).toMatchObject({ tracked: true, path: '/p', files: 2 });
    expectOk(await run(['write', '/p/main.txt', '-'], 'a\nVAULT\nc\n'));
    const clean = expectOk(await run(['sync', '/p']));
    expect(clean).toMatchObject({ status: 'synced', host, conflicts: [] });
    expect(clean.changes.map((c: any) => [c.host_path, c.action])).toEqual([[join(host, 'main.txt'), 'modified']]);
    expect(readFileSync(join(host, 'main.txt'), 'utf8')).toBe('a\nVAULT\nc\n');

    expectOk(await run(['write', '/p/other.txt', 'vault other\n']));
    writeFileSync(join(host, 'other.txt'), 'host other\n');
    const dry = expectOk(await run(['sync', '/p', '--dry-run']));
    expect(dry.status).toBe('conflicts');
    const err = expectError(await run(['sync', '/p']), 'MERGE_CONFLICT', 4);
    expect(err.conflicts.map((c: any) => [c.path, c.kind])).toEqual([['/p/other.txt', 'content']]);
    expect(readFileSync(join(host, 'other.txt'), 'utf8')).toBe('host other\n');
    expectOk(await run(['sync', '/p', '--strategy', 'theirs']));
    expect(readFileSync(join(host, 'other.txt'), 'utf8')).toBe('vault other\n');
    expectError(await run(['sync', '/elsewhere']), 'NOT_TRACKED', 3);
  });

  it('the text report names host paths, both ends of a move the host edit follows', async () => {
    const host = join(h.dir, 'moves');
    mkdirSync(join(host, 'sub'), { recursive: true });
    writeFileSync(join(host, 'sub', 'a.txt'), 'l1\nl2\n');
    expectOk(await avfs(h.home, ['import', '--track', host, '/m']));
    expectOk(await avfs(h.home, ['mv', '/m/sub/a.txt', '/m/b.txt']));
    writeFileSync(join(host, 'sub', 'a.txt'), 'HOST\nl2\n');
    const text = await avfs(h.home, ['sync', '/m'], { raw: true });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n').filter(Boolean).sort()).toEqual([
      `A  ${join(host, 'b.txt')} (moved from ${join(host, 'sub', 'a.txt')})`,
      `D  ${join(host, 'sub', 'a.txt')} (moved to ${join(host, 'b.txt')})`,
    ]);
    expect(readFileSync(join(host, 'b.txt'), 'utf8')).toBe('HOST\nl2\n');
  });
});
