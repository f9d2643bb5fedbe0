import { constants, createReadStream, fchmodSync, fchownSync, fstatSync, openSync, readlinkSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { isatty } from 'node:tty';

/**
 * The caller's stdin, stdout and stderr as a command in the sandbox gets them (`proxy exec
 * --stdin`, `avfs shell`). A descriptor is a way out of the sandbox whatever it was opened for:
 * the command reopens it through /proc/self/fd/N with flags of its own, so `< input.txt` becomes
 * the host file opened for writing (root inside owns it), `>> ci.log` a read of the whole log, and
 * `< /` every host path below it, and a pipe's read end its write end (`echo 'rm -rf ~' >
 * /proc/self/fd/0` put a line into the input of the host shell or agent harness feeding avfs,
 * which ran it after avfs exited). A terminal or a socket reopened gives nothing the descriptor
 * did not (a socket cannot be reopened at all), so those are handed over as they are (a terminal
 * must be: job control, window size); so is an output pipe (`avfs shell | less`): its read end
 * reopened reads what is written into that pipe, so a command can take what other writers of
 * the same pipe send its reader (give the shell a pipe of its own). Relayed, SIGPIPE no longer
 * reached a command whose reader had gone, a timeout waited for a reader that did not read, and
 * stdout and stderr into one pipe tore each other's lines. Anything else — an input pipe, a file, a
 * directory, a device, a named pipe — reaches the command as a pipe avfs relays: the bytes,
 * never the descriptor.
 *
 * A descriptor also changes its file's mode, owner and times (fchmod, fchown, futimens): a named
 * pipe is a host file, so it is relayed too. A terminal is the caller's own device: its mode and
 * owner are put back when the run ends (guardTerminals), which a command made 0666 so that any
 * local user could read its keystrokes.
 */

/** What the command's descriptor is: the caller's `fd` itself when that is safe to hand over, else a pipe to relay. */
export function callerStdio(fd: 0 | 1 | 2): number | 'pipe' {
  return handsOver(fd) ? fd : 'pipe';
}

function handsOver(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return isatty(fd) || st.isSocket() || (fd !== 0 && st.isFIFO() && anonymousPipe(fd));
  } catch {
    return false; // closed: the pipe gives the command an empty input, or output that goes nowhere
  }
}

/**
 * The caller's stdin, an anonymous pipe, opened again (through /proc/self/fd: a new open file
 * description of the same pipe, non-blocking for this process alone), as a stream libuv polls; or
 * undefined for anything else. Read only while the run lasts, and closed when it ends:
 * a blocking read of fd 0 left pending would keep avfs alive after the command, then swallow the
 * next line the caller wrote for someone else.
 */
function reopenedInput(): Socket | undefined {
  try {
    if (!fstatSync(0).isFIFO() || !anonymousPipe(0)) return undefined;
    // O_NONBLOCK: a blocking open of a pipe's read end waits for a writer that may be gone.
    const reopened = openSync('/proc/self/fd/0', constants.O_RDONLY | constants.O_NONBLOCK);
    return new Socket({ fd: reopened, readable: true, writable: false });
  } catch {
    return undefined; // no /proc: the plain relay below
  }
}

/** Whether a FIFO descriptor is an anonymous pipe (`pipe:[…]`), not a named one on the host's filesystem; relayed when unknown. */
function anonymousPipe(fd: number): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
  } catch {
    return false;
  }
}

/**
 * Remembers the mode and owner of the caller's terminals among `fds` (those handed over) and
 * returns what puts them back. Called when the run ends: a sandboxed command holds the terminal,
 * and fchmod through it (or through /proc/<pid>/fd of a process holding it) changes the host device.
 */
export function guardTerminals(fds: number[]): () => void {
  const kept = fds.filter((fd) => isatty(fd)).map((fd) => ({ fd, st: fstatSync(fd) }));
  return () => {
    for (const { fd, st } of kept) {
      try {
        const now = fstatSync(fd);
        if (now.uid !== st.uid || now.gid !== st.gid) fchownSync(fd, st.uid, st.gid);
        if ((now.mode & 0o7777) !== (st.mode & 0o7777)) fchmodSync(fd, st.mode & 0o7777);
      } catch {
        // The terminal went away (hung up), or may not be changed back by this user: nothing to keep.
      }
    }
  };
}

/**
 * Feeds what the caller's stdin holds into the command's `sink` until either ends. Returns the
 * stop to call when the run is over (the command may not have read it all), which leaves fd 0 open.
 */
export function relayInput(sink: Writable): () => void {
  const source = reopenedInput() ?? createReadStream('', { fd: 0, autoClose: false });
  // A directory (EISDIR) or a closed descriptor reads as an empty input; a command that exits
  // without reading it all ends the relay (EPIPE).
  source.on('error', () => sink.end());
  sink.on('error', () => source.destroy());
  source.pipe(sink);
  return () => {
    source.unpipe(sink);
    source.destroy();
  };
}

/** Writes what the command sends to `source` to the caller's descriptor `fd` (a file or device: written synchronously, in order). */
export function relayOutput(source: Readable, fd: number): void {
  let failed = false;
  source.on('data', (chunk: Buffer) => {
    if (failed) return;
    try {
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done);
    } catch {
      failed = true; // a full disk or a closed descriptor: the rest is read and dropped, as nobody can take it
    }
  });
}
