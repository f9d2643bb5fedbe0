import { describe, expect, it } from 'vitest';
import { envMs, isoTime, MAX_TIMER_MS, parseDuration, parseSize, parseTime, parseWholeNumber } from '../../src/core/units.js';
import { AvfsError } from '../../src/errors.js';
import { errorCode } from '../helpers.js';

const code = errorCode;

describe('parseSize', () => {
  it('reads bytes, decimal SI units and binary IEC units', () => {
    expect(parseSize('0')).toBe(0);
    expect(parseSize('512')).toBe(512);
    expect(parseSize('512B')).toBe(512);
    expect(parseSize('10KB')).toBe(10_000);
    expect(parseSize('10MB')).toBe(10_000_000);
    expect(parseSize('2GB')).toBe(2_000_000_000);
    expect(parseSize('1TB')).toBe(1e12);
    expect(parseSize('4KiB')).toBe(4096);
    expect(parseSize('10MiB')).toBe(10 * 1024 ** 2);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('1TiB')).toBe(1024 ** 4);
  });
  it('treats single letters as binary (as find and du do), case-insensitively, with decimals and spaces', () => {
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('1M')).toBe(1024 ** 2);
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('10mb')).toBe(10_000_000);
    expect(parseSize('1gib')).toBe(1024 ** 3);
    expect(parseSize('1.5MiB')).toBe(1.5 * 1024 ** 2);
    expect(parseSize(' 10 MB ')).toBe(10_000_000);
  });
  it('refuses negative numbers, unknown units, empty and non-numeric input', () => {
    for (const bad of ['', '-1', '-10MB', 'MB', 'ten', '10XB', '10 MBs', '1e6', '10iB', '10i', '0x10', '10PB', 'Infinity', 'NaN']) {
      expect(code(() => parseSize(bad)), bad).toBe('INVALID_ARGUMENT');
    }
  });
  it('refuses sizes beyond a safe integer', () => {
    expect(code(() => parseSize('99999999999TiB'))).toBe('INVALID_ARGUMENT');
  });
  it('never turns a positive size into 0 (no limit, or a quota refusing everything): less than a byte is refused', () => {
    for (const bad of ['0.1', '0.4B', '0.0001K']) expect(code(() => parseSize(bad)), bad).toBe('INVALID_ARGUMENT');
    expect(parseSize('0.5B')).toBe(1);
    expect(parseSize('0.0')).toBe(0);
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m, h, d, w, with decimals', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2H')).toBe(7_200_000);
  });
  it('never turns a positive duration into 0 (no timeout): less than a millisecond is refused', () => {
    for (const bad of ['0.4ms', '0.0001s']) expect(code(() => parseDuration(bad)), bad).toBe('INVALID_ARGUMENT');
    expect(parseDuration('0.5ms')).toBe(1);
    expect(parseDuration('0ms')).toBe(0);
  });
  it('accepts a bare 0, and no other number without a unit', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
    expect(code(() => parseDuration('60'))).toBe('INVALID_ARGUMENT');
  });
  it('refuses negative, unknown and malformed durations', () => {
    for (const bad of ['', '-1h', '-0s', '1y', 'h', '1 hour', '1h30m', 'PT1H', 'soon']) {
      expect(code(() => parseDuration(bad)), bad).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('parseTime', () => {
  const now = Date.parse('2024-06-01T12:00:00Z');
  it('reads a duration as that long before now', () => {
    expect(parseTime('2h', now)).toBe(now - 7_200_000);
    expect(parseTime('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseTime('30s', now)).toBe(now - 30_000);
  });
  it('reads ISO dates and date-times', () => {
    expect(parseTime('2024-05-01T10:00:00Z', now)).toBe(Date.parse('2024-05-01T10:00:00Z'));
    expect(parseTime('2024-05-01T10:00:00.250+02:00', now)).toBe(Date.parse('2024-05-01T08:00:00.250Z'));
    expect(parseTime('2024-05-01', now)).toBe(Date.parse('2024-05-01'));
    expect(parseTime('2024-02-29', now)).toBe(Date.parse('2024-02-29'));
    expect(parseTime('2024-12-31T23:59:59Z', now)).toBe(Date.parse('2024-12-31T23:59:59Z'));
  });
  it('refuses anything else', () => {
    // Days the calendar lacks (Date.parse rolls them over into the next month) included.
    for (const bad of ['', 'yesterday', '-2h', '05/01/2024', '2024-13-45', 'May 1 2024', '1714550400000', '2024-02-31', '2023-02-29', '2024-04-31T10:00:00Z', '2024-02-30 10:00']) {
      expect(code(() => parseTime(bad, now)), bad).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('parseWholeNumber', () => {
  it('takes decimal digits within the bounds, and nothing Number() would round or reinterpret', () => {
    expect(parseWholeNumber('0')).toBe(0);
    expect(parseWholeNumber(' 42 ')).toBe(42);
    expect(parseWholeNumber('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseWholeNumber('100', 100, 100)).toBe(100);
    for (const bad of ['', ' ', '1e3', '0x10', '1.5', '-1', '+1', '9007199254740992', '99999999999999999999']) expect(code(() => parseWholeNumber(bad))).toBe('INVALID_ARGUMENT');
    expect(code(() => parseWholeNumber('0', 1))).toBe('INVALID_ARGUMENT');
    expect(code(() => parseWholeNumber('11', 0, 10))).toBe('INVALID_ARGUMENT');
  });
});

describe('envMs (the test-only AVFS_VIEWS_*_MS delays)', () => {
  it('takes a finite positive number of ms, at most what a timer holds; anything else is the fallback', () => {
    expect(envMs('500', 30_000)).toBe(500);
    expect(envMs('1.5', 30_000)).toBe(1.5);
    // 1e309 is Infinity: as a timer it fired at once, with a TimeoutOverflowWarning.
    for (const value of [undefined, '', ' ', 'soon', '0', '-5', '1e309', '-1e309', 'Infinity', 'NaN']) expect(envMs(value, 30_000), String(value)).toBe(30_000);
    expect(envMs('1e10', 30_000)).toBe(MAX_TIMER_MS);
  });
});

describe('isoTime (a file time as JSON shows it)', () => {
  it('shows a time stored past what a Date holds as the furthest one, never failing "Invalid time value"', () => {
    expect(isoTime(987654321987)).toBe('2001-04-19T04:25:21.987Z');
    expect(isoTime(8.64e15 + 1)).toBe('+275760-09-13T00:00:00.000Z');
    expect(isoTime(2 ** 60)).toBe('+275760-09-13T00:00:00.000Z');
    expect(isoTime(-(2 ** 60))).toBe('-271821-04-20T00:00:00.000Z');
  });
});
