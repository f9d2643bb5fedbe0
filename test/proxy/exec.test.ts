import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupMembers, programNotStarted, runCommand, type RunSpec } from '../../src/proxy/exec.js';
import { tempDir } from '../helpers.js';

const base = (over: Partial<RunSpec>): RunSpec => ({
  file: 'true',
  args: [],
  cwd: process.cwd(),
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  stdin: false,
  timeoutMs: 10_000,
  killAfterMs: 500,
  maxOutputBytes: 1024 * 1024,
  execId: `test-${process.pid}-${Math.random().toString(36).slice(2)}`,
  ...over,
});

/** Every live process whose environment carries this exec id (what must be empty after a run). */
function withExecId(execId: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`AVFS_EXEC_ID=${execId}`)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

describe('runCommand', () => {
  it('captures stdout, stderr and the exit code', async () => {
    const r = await runCommand(base({ file: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'] }));
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, truncated: false });
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
  });

  it('the command reopens its captured stdout and stderr by path (/dev/stdout, /dev/stderr, tee), as under a shell', async () => {
    const r = await runCommand(base({ file: 'sh', args: ['-c', 'echo x > /dev/stdout; echo y > /dev/stderr; echo z | tee /dev/stderr; echo w >> /proc/self/fd/1'] }));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe('x\nz\nw\n');
    expect(r.stderr.toString()).toBe('y\nz\n');
  });

  it('cuts output at the cap, counts the rest, and never blocks the writer', async () => {
    const r = await runCommand(base({ file: 'sh', args: ['-c', 'head -c 3000000 /dev/zero; echo done >&2'], maxOutputBytes: 1000 }));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(1000);
    expect(r.stdoutBytes).toBe(3_000_000);
    expect(r.truncated).toBe(true);
    expect(r.stderr.toString()).toBe('done\n');
  });

  it('takes bubblewrap\'s execvp error for a program that never started only when bubblewrap itself exited 1 with nothing else said', () => {
    const none = { childPid: 7, ns: null, exitCode: null };
    const line = Buffer.from('bwrap: execvp innocent-tool: No such file or directory\n');
    expect(programNotStarted({ code: 1, signal: null }, none, line)?.[1]).toBe('innocent-tool');
    expect(programNotStarted({ code: 1, signal: null }, none, Buffer.from('bwrap: execvp /x: Permission denied\n'))?.[2]).toBe('Permission denied');
    // A program that printed the line itself, then had bubblewrap killed (the OOM killer), ran.
    expect(programNotStarted({ code: null, signal: 'SIGKILL' }, none, line)).toBeNull();
    // One that printed it among its own output, or exited with a code bubblewrap reported.
    expect(programNotStarted({ code: 1, signal: null }, none, Buffer.concat([line, Buffer.from('more\n')]))).toBeNull();
    expect(programNotStarted({ code: 1, signal: null }, { ...none, exitCode: 1 }, line)).toBeNull();
  });

  it('reports a missing program as 127', async () => {
    const r = await runCommand(base({ file: 'no-such-program-avfs' }));
    expect(r.exitCode).toBe(127);
    expect(r.spawnError).toBe('ENOENT');
  });

  it('reports death by signal as 128+n', async () => {
    const r = await runCommand(base({ file: 'sh', args: ['-c', 'kill -9 $$'] }));
    expect(r).toMatchObject({ exitCode: 137, signal: 'SIGKILL', timedOut: false });
  });

  it('times out a group that ignores SIGTERM: SIGKILL only after timeout + grace, exit 124, nothing of the group left', async () => {
    const spec = base({ file: 'sh', args: ['-c', 'trap "" TERM; sleep 100 & sleep 100'], timeoutMs: 3000, killAfterMs: 500 });
    spec.env.AVFS_EXEC_ID = spec.execId;
    const started = Date.now();
    const r = await runCommand(spec);
    const took = Date.now() - started;
    expect(r).toMatchObject({ exitCode: 124, timedOut: true, signal: 'SIGKILL', survivors: [] });
    // SIGKILL comes after the grace period, never before (the timeout leaves the shell time to set
    // its trap on a busy machine). How close to timeout + grace it lands is for `npm run bench`.
    expect(took).toBeGreaterThanOrEqual(3500);
    expect(withExecId(spec.execId)).toEqual([]);
  });

  it('ends background jobs and double-forked daemons left behind when the main process exits', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const marker = join(dir, 'late');
      const spec = base({
        file: 'sh',
        // A TERM-ignoring background job, a double fork (reparented to init, same group), and a
        // setsid escapee that leaves the group; all would write the marker after 2 s.
        args: ['-c', `trap "" TERM; (sleep 2; touch ${marker}) & sh -c '(sleep 2; touch ${marker}) &' ; setsid sh -c 'sleep 2; touch ${marker}' & echo started`],
        killAfterMs: 300,
      });
      spec.env.AVFS_EXEC_ID = spec.execId;
      const r = await runCommand(spec);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString()).toBe('started\n');
      expect(r.leftoverProcesses).toBeGreaterThanOrEqual(3);
      expect(r.survivors).toEqual([]);
      expect(withExecId(spec.execId)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(existsSync(marker)).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('groupMembers sees nothing of a finished group', async () => {
    const r = await runCommand(base({ file: 'sh', args: ['-c', 'echo $$'] }));
    expect(groupMembers(Number(r.stdout.toString()))).toEqual([]);
  });
});
