import { spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { runtimeDir } from '../store/host-dirs.js';

/**
 * Real pipes for a command's captured output. Node makes a child's 'pipe' a UNIX socket pair,
 * and a socket cannot be opened again by path: `echo x > /dev/stdout` and `tee /dev/stderr`
 * failed with ENXIO under proxy exec, where a shell's pipes take them. Node has no pipe(2); a
 * FIFO is one: made with mkfifo(1) in a private directory, opened at both ends and unlinked at
 * once, it is a pipe without a name from then on. Reopening it through /proc/self/fd reaches the
 * pipe and nothing else (the directory it was made in is gone).
 *
 * Not for input: a FIFO opened again for reading waits for a writer (an anonymous pipe does
 * not), so `cat /dev/stdin` after avfs wrote all of the input and closed its end would hang.
 */
export interface OutputPipe {
  /** The command's end: give it in `stdio`, then close it (closeChildEnd) once the child has its copy. */
  childFd: number;
  /** avfs's end, readable; it ends when every holder of the command's end has closed it. */
  stream: Socket;
  closeChildEnd(): void;
}

/**
 * `count` pipes, or undefined when no FIFO can be made here (no mkfifo): the caller then uses
 * Node's socket pairs. Running mkfifo costs a process (10-20 ms here): proxy exec starts it while
 * the workspace opens, so that the run does not wait for it.
 */
export async function outputPipes(count: number): Promise<OutputPipe[] | undefined> {
  let dir: string;
  try {
    dir = mkdtempSync(join(runtimeDir(), 'pipes-'));
  } catch {
    return undefined;
  }
  const ends: Array<{ ours: number; child: number }> = [];
  try {
    const names = Array.from({ length: count }, (_, i) => join(dir, String(i)));
    const made = await new Promise<boolean>((resolve) => {
      const mkfifo = spawn('mkfifo', ['-m', '600', ...names], { stdio: 'ignore' });
      mkfifo.once('error', () => resolve(false));
      mkfifo.once('exit', (code) => resolve(code === 0));
    });
    if (!made) return undefined;
    for (const name of names) {
      // A FIFO opened for writing without a reader fails (or waits): the reader first. avfs's end
      // is non-blocking (its event loop reads it); the command's blocks, as a shell's pipe does.
      // Listed as soon as each end is open, so that a failure closes what was opened.
      const end = { ours: openSync(name, constants.O_RDONLY | constants.O_NONBLOCK), child: -1 };
      ends.push(end);
      end.child = openSync(name, constants.O_WRONLY);
    }
  } catch {
    for (const { ours, child } of ends) [ours, child].filter((fd) => fd >= 0).forEach((fd) => closeSync(fd));
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return ends.map(({ ours, child }): OutputPipe => {
    let childOpen = true;
    return {
      childFd: child,
      stream: new Socket({ fd: ours, readable: true, writable: false }),
      closeChildEnd: () => {
        if (childOpen) closeSync(child);
        childOpen = false;
      },
    };
  });
}

/** Closes pipes made but not used (a run refused or failed before its command started). */
export function releasePipes(pipes: OutputPipe[] | undefined): void {
  for (const pipe of pipes ?? []) {
    pipe.closeChildEnd();
    pipe.stream.destroy();
  }
}
