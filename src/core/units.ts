import { AvfsError } from '../errors.js';

/**
 * Size and time arguments as people type them (find --min-size 10KB, --newer 2h).
 *
 * Sizes: a number of bytes with an optional unit. SI units are powers of 1000 (KB, MB, GB, TB);
 * IEC units (KiB, MiB, GiB, TiB) and single letters (K, M, G, T, as in find and du) are powers of
 * 1024; `B` is bytes. Case-insensitive, decimals allowed: `1.5MiB`, `10kb`, `512`.
 */
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$/i;
const POWERS: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };

export function parseSize(input: string): number {
  const m = SIZE_RE.exec(input);
  if (!m) throw new AvfsError('INVALID_ARGUMENT', `invalid size ${JSON.stringify(input)}: expected e.g. 512, 10KB, 4KiB, 1.5M`, { value: input });
  const unit = m[2]!.toLowerCase();
  const letter = unit.replace(/i?b$/, '').replace(/i$/, '');
  if (unit === 'i' || unit === 'ib' || (letter === '' && unit !== '' && unit !== 'b')) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid size unit in ${JSON.stringify(input)}`, { value: input });
  }
  // KB/MB… (a letter then B without i) are decimal; K/KiB/KIB… are binary.
  const decimal = unit.length === 2 && unit.endsWith('b');
  const value = Number(m[1]) * (decimal ? 1000 : 1024) ** POWERS[letter]!;
  if (!Number.isSafeInteger(Math.round(value))) throw new AvfsError('INVALID_ARGUMENT', `size too large: ${input}`, { value: input });
  // 0 means "no limit" to some callers: a positive size never becomes it.
  if (value > 0 && Math.round(value) === 0) throw new AvfsError('INVALID_ARGUMENT', `size ${JSON.stringify(input)} is less than one byte`, { value: input });
  return Math.round(value);
}

/**
 * A whole number as people type it for a count, a depth, a version or milliseconds: decimal
 * digits only, between `min` and `max`. `max` defaults to the largest integer a JS number holds
 * exactly, which SQLite also takes as an integer: larger input (99999999999999999999 reached
 * SQLite as a float and failed with SQLITE_MISMATCH) and forms Number() would accept (`1e3`,
 * `0x10`, `1.5`, an empty string as 0) are refused rather than rounded.
 */
export function parseWholeNumber(input: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\s*\d+\s*$/.test(input) ? Number(input) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid number ${JSON.stringify(input)}: expected a whole number from ${min} to ${max}`, { value: input, min, max });
  }
  return value;
}

/**
 * A point in time, as epoch milliseconds: an ISO 8601 date or date-time (`2024-05-01`,
 * `2024-05-01T12:00:00Z`), or a duration before `now`: a number with a unit `ms`, `s`, `m`
 * (minutes), `h`, `d`, `w` — `10m`, `2h`, `1d`, `1.5h`.
 */
const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseTime(input: string, now = Date.now()): number {
  const d = DURATION_RE.exec(input);
  if (d) return now - durationMs(d, input);
  // Only ISO-looking input: Date.parse accepts many loose forms whose meaning depends on the locale.
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(input.trim())) {
    const t = Date.parse(input.trim());
    if (Number.isFinite(t) && realDate(input.trim())) return t;
  }
  throw new AvfsError('INVALID_ARGUMENT', `invalid time ${JSON.stringify(input)}: expected an ISO date/time or a duration such as 10m, 2h, 1d`, {
    value: input,
  });
}

/** Whether the date an ISO input starts with is on the calendar: Date.parse rolls 2024-02-31 over to 2 March. */
function realDate(iso: string): boolean {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}

/**
 * A length of time in milliseconds (gc --grace, prune --older-than): a number with a unit `ms`,
 * `s`, `m` (minutes), `h`, `d`, `w` — `30s`, `10m`, `2h`, `7d`, `1.5h`. A bare `0` is accepted
 * (zero needs no unit); any other number without a unit is refused, because `--grace 60` could
 * mean seconds or minutes.
 */
export function parseDuration(input: string): number {
  if (/^\s*0+(\.0+)?\s*$/.test(input)) return 0;
  const d = DURATION_RE.exec(input);
  if (!d) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid duration ${JSON.stringify(input)}: expected a number with a unit, e.g. 30s, 10m, 2h, 7d`, {
      value: input,
      reason: 'not_a_duration',
    });
  }
  return durationMs(d, input);
}

/** The milliseconds a DURATION_RE match stands for; refused when too large to be exact. */
function durationMs(match: RegExpExecArray, input: string): number {
  const exact = Number(match[1]) * UNIT_MS[match[2]!.toLowerCase()]!;
  const ms = Math.round(exact);
  if (!Number.isSafeInteger(ms)) throw new AvfsError('INVALID_ARGUMENT', `duration too large: ${input}`, { value: input });
  // 0 means "no timeout" to proxy exec: a positive duration never becomes it.
  if (exact > 0 && ms === 0) throw new AvfsError('INVALID_ARGUMENT', `duration ${JSON.stringify(input)} is less than a millisecond`, { value: input });
  return ms;
}

/** The longest delay a Node timer holds (about 24.8 days); a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay in milliseconds from an environment variable (the test-only AVFS_VIEWS_IDLE_MS and
 * AVFS_VIEWS_REPLY_MS): a finite number above 0, at most MAX_TIMER_MS (a longer delay would make
 * setTimeout fire at once, with a TimeoutOverflowWarning); anything else (unset, empty, not a
 * number, 0, negative, `1e309`, which is Infinity) gives `fallback`.
 */
export function envMs(value: string | undefined, fallback: number): number {
  const ms = Number(value);
  return value !== undefined && value.trim() !== '' && Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_TIMER_MS) : fallback;
}

/**
 * A stored time (epoch ms) as the seconds Node's utimes/futimes take, landing on that very
 * millisecond: libuv splits the double into seconds and nanoseconds and truncates to the
 * microsecond, so 1796201143.942 (stored as …43.94199991) became …43.941999. Half a microsecond
 * more is above every rounding error of a double at today's epoch (about 0.12 µs) and below the
 * next microsecond, so the truncation lands on .942000. Exports re-imported kept the millisecond
 * below, and tools comparing times exactly (make, cp -u, rsync) saw a change. (Node sets a
 * negative time to now, so only times after 1970 reach libuv.)
 */
export const hostSeconds = (ms: number): number => ms / 1000 + 5e-7;

/** The furthest time a JavaScript Date holds, either side of 1970 (about year 275760). */
export const MAX_TIME_MS = 8.64e15;

/**
 * A file time as avfs keeps it: within the range a Date can show, as ext4 keeps its own range
 * (it clamps to the year 2446). `touch -d @8640000000001` through a mount was stored as given,
 * and every listing of its directory then failed on "Invalid time value".
 */
export const representableTime = (ms: number): number => Math.min(MAX_TIME_MS, Math.max(-MAX_TIME_MS, ms));

/** An epoch-milliseconds time as ISO 8601, clamped (a time stored before the clamp still shows). */
export const isoTime = (ms: number): string => new Date(Number.isFinite(ms) ? representableTime(ms) : 0).toISOString();

/**
 * A point in time as the SDK passes it (epoch milliseconds, as Date.now() or fs.Stats' mtimeMs,
 * fractions included): `value` unless it is not a finite number of at least 0 (INVALID_ARGUMENT);
 * undefined passes.
 */
export function timeOption(option: string, value: number | undefined): number | undefined {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${option}: ${shownValue(value)} (expected a time in epoch milliseconds, at least 0)`, { option, value });
  }
  return value;
}

/** A value a caller passed, for a message: objects and arrays as JSON (`String` made them `[object Object]`). */
export function shownValue(value: unknown): string {
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value); // a cycle
  }
}

/**
 * A whole-number option as the SDK and MCP pass it (the CLI's parsing checks the same): `value`
 * unless it is not a whole number from `min` to `max` (INVALID_ARGUMENT naming the option);
 * undefined passes, and null too where `nullable` (no limit).
 */
export function wholeOption<T extends number | null | undefined>(option: string, value: T, min: number, options: { max?: number; nullable?: boolean } = {}): T {
  const { max = Number.MAX_SAFE_INTEGER, nullable = false } = options;
  if (value === undefined || (value === null && nullable)) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${option}: ${shownValue(value)} (expected a whole number ${range}${nullable ? ', or null for none' : ''})`, { option, value });
  }
  return value;
}

/**
 * An option that takes one of a few names, as the SDK passes it (the CLI's parsing and MCP's
 * input schema check the same): `value` unless it is none of `values` (INVALID_ARGUMENT naming
 * the option and the choices); undefined passes.
 */
export function oneOfOption<T extends string>(option: string, value: T | undefined, values: readonly T[]): T | undefined {
  if (value !== undefined && !values.includes(value)) {
    throw new AvfsError('INVALID_ARGUMENT', `invalid ${option} ${JSON.stringify(value) ?? String(value)}: expected ${values.join(', ')}`, { option, value });
  }
  return value;
}
