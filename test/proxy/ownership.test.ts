import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { avfs, BIN, tempDir } from '../helpers.js';
import { auditRows, describeSandbox, processes, seedHome, setVaultPolicy, skipMountTests, vaultTree } from './helpers.js';
import { readSessions } from '../../src/mount/session.js';
import { runtimeDirIn } from '../../src/store/host-dirs.js';

/**
 * An exec's report and its undo cover that exec's own changes only (issue 13, items 17-19):
 * writes by anyone else during or after it are theirs, undo never drops them silently (it puts
 * back only the paths the exec changed, and refuses with CONFLICT when someone changed one of
 * them since), and an exec whose avfs was killed leaves nothing running and nothing mounted.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('avfs-proxy-own-');
});
afterAll(() => tmp.cleanup());

let homes = 0;
const newHome = (files: Record<string, string>) => seedHome(join(tmp.dir, `home-${++homes}`), files);

/** Polls `check` until it is true (generous bound: only catches a hang). */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const paths = (changes: { path: string }[]) => changes.map((c) => c.path);
const sessionsOf = (home: string) => readSessions(home);
const mounted = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

describe('proxy undo puts back only what the exec changed', () => {
  it('keeps tags and metadata added after the exec, and refuses to drop a tag on a path it would remove', async () => {
    const home = newHome({ '/other.txt': 'other\n', '/edit.txt': 'v1\n' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--shell', 'echo v2 > edit.txt; echo new > new.txt']);
    expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
    expect(paths(r.json.changed_files)).toEqual(['/edit.txt', '/new.txt']);
    // After the exec, someone annotates a path it did not change and a path it modified.
    for (const args of [['tag', '/other.txt', 'keep'], ['meta', '/other.txt', 'owner', 'ann'], ['tag', '/edit.txt', 'reviewed']]) {
      expect((await avfs(home, args)).code, args.join(' ')).toBe(0);
    }
    // Undo puts back content, type, mode and owners; tags and metadata stay as they are now.
    const undo = await avfs(home, ['proxy', 'undo', r.json.exec_id]);
    expect(undo.json, undo.stdout).toMatchObject({ ok: true, discarded_changes: 0 });
    expect(paths(undo.json.changed_files)).toEqual(['/edit.txt', '/new.txt']);
    expect((await avfs(home, ['tags', '/other.txt'])).json.tags).toEqual(['keep']);
    expect((await avfs(home, ['meta', '/other.txt'])).json.meta).toEqual({ owner: 'ann' });
    expect((await avfs(home, ['tags', '/edit.txt'])).json.tags).toEqual(['reviewed']);
    expect((await avfs(home, ['cat', '/edit.txt'])).json.content).toBe('v1\n');
    expect(vaultTree(home)['/new.txt']).toBeUndefined();

    // A tag added to a file the exec created: undoing would remove the file and the tag with it.
    const r2 = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--', 'touch', 'made.txt']);
    expect((await avfs(home, ['tag', '/made.txt', 'important'])).code).toBe(0);
    const refused = await avfs(home, ['proxy', 'undo', r2.json.exec_id]);
    expect(refused.code).toBe(4);
    expect(refused.json.error).toMatchObject({ code: 'CONFLICT', paths: ['/made.txt'] });
    expect((await avfs(home, ['tags', '/made.txt'])).json.tags).toEqual(['important']);
  });

  it('refuses with CONFLICT naming the path when someone changed a path the exec changed, and leaves everything as it was', async () => {
    const home = newHome({ '/a.txt': 'a\n', '/b.txt': 'b\n' });
    const r = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--checkpoint', '--shell', 'echo exec > a.txt; echo exec > b.txt']);
    expect(r.json?.ok, r.stdout).toBe(true);
    expect((await avfs(home, ['write', '/b.txt', 'person'])).code).toBe(0);
    expect((await avfs(home, ['write', '/c.txt', 'unrelated'])).code).toBe(0);
    const before = vaultTree(home);
    const refused = await avfs(home, ['proxy', 'undo', r.json.exec_id]);
    expect(refused.code).toBe(4);
    expect(refused.json.error).toMatchObject({ code: 'CONFLICT', paths: ['/b.txt'] });
    expect(vaultTree(home)).toEqual(before);
    // --force puts back the exec's paths only: the unrelated write stays.
    const forced = await avfs(home, ['proxy', 'undo', '--force', r.json.exec_id]);
    expect(forced.json, forced.stdout).toMatchObject({ ok: true, discarded_changes: 1 });
    expect((await avfs(home, ['cat', '/a.txt'])).json.content).toBe('a\n');
    expect((await avfs(home, ['cat', '/b.txt'])).json.content).toBe('b\n');
    expect((await avfs(home, ['cat', '/c.txt'])).json.content).toBe('unrelated');
  });
});

describe.skipIf(skipMountTests('exec ownership with mounts'))('exec ownership with mounts', () => {
  it("leaves a person's write during the exec out of its report and its undo, with a live avfs mount of the vault", async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    const dir = join(tmp.dir, `live-${homes}`);
    mkdirSync(dir);
    expect((await avfs(home, ['mount', dir])).code).toBe(0);
    try {
      // The command writes, waits for the person's go, then writes again.
      const pending = avfs(home, ['proxy', 'exec', '--mode', 'mount', '--checkpoint', '--timeout', '60s', '--shell',
        'echo mine > own.txt; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo mine > own2.txt']);
      await until('the exec to write own.txt', () => vaultTree(home)['/own.txt'] !== undefined);
      expect((await avfs(home, ['write', '/person.txt', 'written by a person during the exec'])).code).toBe(0);
      expect((await avfs(home, ['write', '/go', ''])).code).toBe(0);
      const r = await pending;
      expect(r.json?.ok, r.stdout + r.stderr).toBe(true);
      expect(paths(r.json.changed_files)).toEqual(['/own.txt', '/own2.txt']);
      const undo = await avfs(home, ['proxy', 'undo', r.json.exec_id]);
      expect(undo.json, undo.stdout).toMatchObject({ ok: true, discarded_changes: 0 });
      const tree = vaultTree(home);
      expect(tree['/person.txt']).toBeDefined();
      expect(tree['/go']).toBeDefined();
      expect(tree['/own.txt']).toBeUndefined();
      expect(tree['/own2.txt']).toBeUndefined();
    } finally {
      await avfs(home, ['unmount', dir, '--lazy']);
      if (mounted(dir)) await execa('umount', ['-l', dir], { reject: false });
    }
  });

  /**
   * Starts `proxy exec --mode mount --checkpoint` of a command that writes /dead.txt and then waits,
   * kills its avfs with SIGKILL once the write is in the vault, and returns the exec id.
   */
  async function killMidRun(home: string): Promise<{ execId: string; reap: () => void }> {
    const child = execa(process.execPath, [BIN, '--json', 'proxy', 'exec', '--mode', 'mount', '--checkpoint', '--shell', 'echo dead > dead.txt; sleep 1000'], {
      env: { AVFS_HOME: home, AVFS_VAULT: '' },
      reject: false,
    });
    await until('the exec to write dead.txt', () => vaultTree(home)['/dead.txt'] !== undefined);
    const execId = auditRows(home, 'proxy.request')[0]!.exec_id!;
    child.kill('SIGKILL');
    await child;
    // On unfixed code the command survives: the test ends it so it leaves nothing behind.
    const reap = () => {
      for (const p of processes()) {
        if (!p.env.includes(`AVFS_EXEC_ID=${execId}`)) continue;
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    };
    return { execId, reap };
  }

  /** After a killed exec: the next exec's writes carry its own id, the dead one is audited as died and its undo removes its own change only. */
  async function expectDeadExecHandled(home: string, execId: string): Promise<void> {
    const next = await avfs(home, ['proxy', 'exec', '--mode', 'mount', '--', 'sh', '-c', 'echo next > next.txt']);
    expect(next.json?.ok, next.stdout + next.stderr).toBe(true);
    expect(paths(next.json.changed_files)).toEqual(['/next.txt']);
    const log = await avfs(home, ['log', '/next.txt']);
    expect(log.json.versions.map((v: any) => v.exec_id)).toEqual([next.json.exec_id]);
    expect(auditRows(home, 'proxy.died').map((a) => a.exec_id)).toEqual([execId]);
    const undo = await avfs(home, ['proxy', 'undo', execId]);
    expect(undo.json, undo.stdout).toMatchObject({ ok: true, discarded_changes: 0, died: true });
    expect(paths(undo.json.changed_files)).toEqual(['/dead.txt']);
    expect(vaultTree(home)['/next.txt']).toBeDefined();
  }

  it('kill -9 of an unsandboxed proxy exec --mode mount takes its processes and private mount with it; the dead exec is marked and can be undone', async () => {
    const home = newHome({ '/a.txt': 'a\n' });
    setVaultPolicy(home, { sandbox: { mode: 'off' } });
    const { execId, reap } = await killMidRun(home);
    try {
      const session = sessionsOf(home).find((s) => s.exec_id === execId);
      expect(session, 'the private mount session of the exec').toBeDefined();
      // Nothing of the dead exec keeps running, and its private mount goes away.
      await until("the exec's processes to end", () => processes().every((p) => !p.env.includes(`AVFS_EXEC_ID=${execId}`)));
      await until('the private mount to go', () => !mounted(session!.dir));
      // The temporary directory avfs made for the mount goes with it.
      await until('its temporary directory to be removed', () => !existsSync(dirname(session!.dir)));
      await expectDeadExecHandled(home, execId);
    } finally {
      reap();
    }
  });

  describeSandbox('in the sandbox', () => {
    it('kill -9 of a sandboxed proxy exec takes the sandbox with it; its view closes and the dead exec is marked and can be undone', async () => {
      const home = newHome({ '/a.txt': 'a\n' });
      const { execId, reap } = await killMidRun(home);
      try {
        const server = sessionsOf(home).find((s) => s.views);
        expect(server, 'the views server').toBeDefined();
        await until("the sandbox's processes to end", () => processes().every((p) => !p.env.includes(`AVFS_EXEC_ID=${execId}`)));
        await until('the view to close', () => !existsSync(join(server!.dir, execId)));
        // The server, now without a view, still answers statfs (df) at its root: the home's filesystem.
        expect(statfsSync(server!.dir).blocks).toBeGreaterThan(0);
        await expectDeadExecHandled(home, execId);
      } finally {
        reap();
      }
    });

    it('kill -9 of a sandboxed proxy exec --mode copy takes the sandbox with it; the next avfs command removes its copy and marks it died', async () => {
      const home = newHome({ '/a.txt': 'a\n' });
      const copies = join(tmp.dir, `copies-${homes}`);
      mkdirSync(copies);
      const env = { AVFS_PROXY_TMPDIR: copies };
      const child = execa(process.execPath, [BIN, '--json', 'proxy', 'exec', '--mode', 'copy', '--checkpoint', '--shell', 'echo dead > dead.txt; exec sleep 1000'], {
        env: { ...env, AVFS_HOME: home, AVFS_VAULT: '' },
        reject: false,
      });
      await until('the exec to be recorded', () => auditRows(home, 'proxy.request').length > 0);
      const execId = auditRows(home, 'proxy.request')[0]!.exec_id!;
      const mine = (p: { env: string[] }) => p.env.includes(`AVFS_EXEC_ID=${execId}`);
      const reap = () => {
        for (const p of processes().filter(mine)) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      };
      try {
        await until('its command to run', () => processes().some((p) => mine(p) && p.cmdline[0] === 'sleep'));
        const copy = readdirSync(runtimeDirIn(copies));
        expect(copy).toEqual([expect.stringMatching(new RegExp(`^avfs-proxy-${execId}-`))]);
        child.kill('SIGKILL');
        await child;
        await until("the sandbox's processes to end", () => !processes().some(mine));
        // The copy stays until an avfs command notices the dead exec: the next one does.
        expect(readdirSync(runtimeDirIn(copies))).toEqual(copy);
        const next = await avfs(home, ['proxy', 'exec', '--mode', 'copy', '--', 'sh', '-c', 'echo next > next.txt'], { env });
        expect(next.json?.ok, next.stdout + next.stderr).toBe(true);
        expect(paths(next.json.changed_files)).toEqual(['/next.txt']);
        expect(readdirSync(runtimeDirIn(copies))).toEqual([]);
        expect(auditRows(home, 'proxy.died').map((a) => a.exec_id)).toEqual([execId]);
        // Its write was in the copy, never imported.
        expect(vaultTree(home)['/dead.txt']).toBeUndefined();
        const undo = await avfs(home, ['proxy', 'undo', execId]);
        expect(undo.json, undo.stdout).toMatchObject({ ok: true, died: true, changed_files: [] });
      } finally {
        reap();
      }
    });
  });
});
