import { describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive, processStartTime, readProcStat, thisProcess } from '../../src/store/host-process.js';
import { tempDir } from '../helpers.js';

describe('host processes (/proc/<pid>/stat)', () => {
  it('names this process by pid and start time; a reused pid (another start time) is not it', () => {
    const me = thisProcess();
    expect(me.pid).toBe(process.pid);
    expect(me.pid_start).toBeGreaterThan(0);
    expect(processAlive(me)).toBe(true);
    expect(processAlive({ pid: process.pid })).toBe(true);
    expect(processAlive({ pid: process.pid, pid_start: me.pid_start! + 1 })).toBe(false);
  });

  it('a process that has exited, or no pid at all, is not alive', () => {
    const child = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
    const pid = Number(child.stdout.trim());
    expect(processStartTime(pid)).toBeNull();
    expect(processAlive({ pid })).toBe(false);
    expect(processAlive({ pid: 0 })).toBe(false);
    expect(readProcStat(pid)).toBeNull();
  });

  it('reads the state, process group and start time past a command name with spaces and parentheses', () => {
    const tmp = tempDir('avfs-proc-');
    const odd = join(tmp.dir, 'a) S 1 (b');
    symlinkSync(execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim(), odd);
    const child = spawn(odd, ['30'], { detached: true, stdio: 'ignore' });
    try {
      const stat = readProcStat(child.pid!)!;
      expect(readFileSync(`/proc/${child.pid}/stat`, 'latin1')).toContain('(a) S 1 (b)');
      expect(stat.state).toMatch(/^[RSD]$/);
      expect(stat.pgrp).toBe(child.pid); // detached: a group of its own
      expect(stat.start).toBeGreaterThanOrEqual(processStartTime(process.pid)!);
      expect(processAlive({ pid: child.pid!, pid_start: stat.start })).toBe(true);
    } finally {
      child.kill('SIGKILL');
      tmp.cleanup();
    }
  });
});
