/**
 * A one-line progress bar on stderr, shown only when stderr is a terminal (never in pipes, CI
 * logs or --json runs) and only for work large enough to notice. Redraws at most every 100 ms.
 * Work in phases passes each phase's name, which replaces the label: a new phase starts a new line.
 */
export function progressBar(
  label: string,
  enabled: boolean,
  minTotal = 200,
  show: (n: number) => string = String,
): ((done: number, total: number, phase?: string) => void) & { end(): void } {
  const active = enabled && process.stderr.isTTY === true;
  let last = 0;
  let drawn = false;
  let shown: string | undefined;
  const update = (done: number, total: number, phase?: string) => {
    if (!active || total < minTotal) return;
    const name = phase === undefined ? label : `${label} (${phase})`;
    if (drawn && name !== shown) {
      process.stderr.write('\n');
      last = 0;
    }
    const t = Date.now();
    if (t - last < 100 && done < total) return;
    last = t;
    shown = name;
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r${name} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${show(done)}/${show(total)}`);
    drawn = true;
  };
  return Object.assign(update, {
    end: () => {
      if (drawn) process.stderr.write('\n');
    },
  });
}

/**
 * Runs `run` with a progress bar (see progressBar), shown unless the output is --json or --quiet,
 * whose line is ended however `run` ends.
 */
export function withProgressBar<T>(label: string, out: { json: boolean; quiet: boolean }, run: (bar: ReturnType<typeof progressBar>) => T): T {
  const bar = progressBar(label, !out.json && !out.quiet);
  try {
    return run(bar);
  } finally {
    bar.end();
  }
}
