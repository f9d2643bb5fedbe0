/**
 * The signals `proxy exec` passes on to its command (SIGINT, SIGTERM, SIGHUP; an interactive
 * shell handles Ctrl-C itself), held while avfs prepares the run and reports it. Without a
 * handler Node dies of them: one arriving while the workspace opened (a second or more when the
 * views server starts) ended avfs with no document on stdout, its views server and pipes left
 * behind. Held, the first one reaches the command as soon as it starts (exec.ts runCommand),
 * and the run ends and is reported as one the signal stopped.
 */
export interface HeldSignals {
  /** The first signal received since holding began, if any. */
  readonly first: NodeJS.Signals | undefined;
  release(): void;
}

export function holdSignals(interactive: boolean): HeldSignals {
  const signals: NodeJS.Signals[] = interactive ? ['SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let first: NodeJS.Signals | undefined;
  const hold = (sig: NodeJS.Signals) => {
    first ??= sig;
  };
  for (const s of signals) process.on(s, hold);
  return {
    get first() {
      return first;
    },
    release: () => {
      for (const s of signals) process.off(s, hold);
    },
  };
}
