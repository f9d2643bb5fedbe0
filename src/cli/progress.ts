/**
 * A one-line progress bar on stderr, shown only when stderr is a terminal (never in pipes, CI
 * logs or --json runs) and only for work large enough to notice. Redraws at most every 100 ms.
 */
export function progressBar(
  label: string,
  enabled: boolean,
  minTotal = 200,
  show: (n: number) => string = String,
): ((done: number, total: number) => void) & { end(): void } {
  const active = enabled && process.stderr.isTTY === true;
  let last = 0;
  let drawn = false;
  const update = (done: number, total: number) => {
    if (!active || total < minTotal) return;
    const t = Date.now();
    if (t - last < 100 && done < total) return;
    last = t;
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${show(done)}/${show(total)}`);
    drawn = true;
  };
  return Object.assign(update, {
    end: () => {
      if (drawn) process.stderr.write('\n');
    },
  });
}
