/**
 * The signals `proxy exec` passes on to its command (passedOn: SIGINT, SIGTERM, SIGHUP and the
 * others that would end Node; an interactive shell handles Ctrl-C and Ctrl-\ itself), held while
 * avfs prepares the run and reports it. Without a handler Node dies of them: one arriving while
 * the workspace opened (a second or more when the views server starts) ended avfs with no
 * document on stdout, its views server and pipes left behind. Held, the first one reaches the
 * command as soon as it starts (exec.ts runCommand), and the run ends and is reported as one the
 * signal stopped. A second one while held means it: the hold lets go and the signal is raised
 * again, as if there had been none.
 *
 * While the command runs, runCommand's own handlers pass signals on (`suspend`). One listener
 * per signal serves every run in the process (the SDK and the MCP server run several at once).
 */
export interface HeldSignals {
  /** The first signal received while held, if any. */
  readonly first: NodeJS.Signals | undefined;
  /** While the command runs: runCommand's handlers take the signals. */
  suspend(): void;
  resume(): void;
  release(): void;
}

interface Hold {
  readonly signals: readonly NodeJS.Signals[];
  suspended: boolean;
  first: NodeJS.Signals | undefined;
}

const holds = new Set<Hold>();
/**
 * Every signal that would end Node where it has no listener, but SIGUSR1 (bin/avfs.js) and
 * SIGPIPE (ignored): one that ended avfs left no document on stdout and, in copy mode, the
 * command's work not imported.
 */
const ALL: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM'];
/** The keyboard's signals (Ctrl-C, Ctrl-\): the terminal sends them to an interactive shell as well, which handles them itself, so an interactive run ignores them. */
export const KEYBOARD: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

/** The signals `proxy exec` passes on to its command: all of ALL, but the keyboard's for an interactive shell. */
export function passedOn(interactive: boolean): NodeJS.Signals[] {
  return ALL.filter((sig) => !interactive || !KEYBOARD.includes(sig));
}
const listening = new Set<NodeJS.Signals>();

function receive(sig: NodeJS.Signals): void {
  for (const hold of [...holds]) {
    if (hold.suspended || !hold.signals.includes(sig)) continue;
    if (hold.first === undefined) {
      hold.first = sig;
      continue;
    }
    // A second one: let every hold go and take the signal's own course.
    holds.clear();
    listen();
    process.kill(process.pid, sig);
    return;
  }
}

/** One listener for each signal some hold holds, none for the others. */
function listen(): void {
  for (const sig of ALL) {
    const wanted = [...holds].some((h) => h.signals.includes(sig));
    if (wanted && !listening.has(sig)) {
      process.on(sig, receive);
      listening.add(sig);
    } else if (!wanted && listening.has(sig)) {
      process.off(sig, receive);
      listening.delete(sig);
    }
  }
}

export function holdSignals(interactive: boolean): HeldSignals {
  const hold: Hold = { signals: passedOn(interactive), suspended: false, first: undefined };
  holds.add(hold);
  listen();
  return {
    get first() {
      return hold.first;
    },
    suspend: () => {
      hold.suspended = true;
    },
    resume: () => {
      hold.suspended = false;
    },
    release: () => {
      holds.delete(hold);
      listen();
    },
  };
}
