/**
 * UTC ISO-8601 instants: a strict, allocation-free parser (the validator's
 * `date-time` format and the aggregator's event-time extraction) and a fast
 * formatter (the generator's hot path).
 *
 * Accepted: `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, years 1970-2105 (the range of
 * ClickHouse `DateTime`), real calendar dates (no 2026-02-30), no leap seconds.
 * Offsets (`+01:00`), a space separator or a missing `Z` are rejected: they are
 * the "repairable" timestamp faults the DLQ replayer normalises.
 */

const MIN_YEAR = 1970;
const MAX_YEAR = 2105;
const ZERO = 48;

function digits(s: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const d = s.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses a UTC ISO-8601 instant and returns epoch milliseconds (fractional
 * digits beyond milliseconds are truncated), or NaN when the text is not one.
 */
export function parseUtcInstant(s: string): number {
  const len = s.length;
  if (len < 20 || len > 30) return NaN;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return NaN;
  if (s.charCodeAt(len - 1) !== 90) return NaN; // 'Z'
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return NaN;
  let ms = 0;
  if (len === 20) {
    // no fraction
  } else {
    if (s.charCodeAt(19) !== 46) return NaN; // '.'
    const fracDigits = len - 21;
    if (fracDigits < 1 || fracDigits > 9) return NaN;
    const frac = digits(s, 20, fracDigits);
    if (frac < 0) return NaN;
    ms = fracDigits >= 3 ? digits(s, 20, 3) : frac * (fracDigits === 1 ? 100 : 10);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

let cachedSecond = NaN;
const cachedPrefix = new Uint8Array(19);

/**
 * Writes epoch milliseconds as ASCII `YYYY-MM-DDTHH:MM:SS.mmmZ` (same text as
 * Date#toISOString for years 1970-9999) at out[pos..pos + 24) and returns
 * pos + 24, caching the per-second prefix. The one definition of a generated
 * event_time; the producer writes it straight into its payload buffer.
 */
export function writeUtcMillis(out: Uint8Array, pos: number, ms: number): number {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    const prefix = new Date(second * 1000).toISOString();
    for (let i = 0; i < 19; i++) cachedPrefix[i] = prefix.charCodeAt(i);
  }
  out.set(cachedPrefix, pos);
  const milli = ms - second * 1000;
  out[pos + 19] = 46;
  out[pos + 20] = 48 + Math.floor(milli / 100);
  out[pos + 21] = 48 + (Math.floor(milli / 10) % 10);
  out[pos + 22] = 48 + (milli % 10);
  out[pos + 23] = 90;
  return pos + 24;
}

const timeScratch = Buffer.allocUnsafe(24);

/** Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (see writeUtcMillis). */
export function formatUtcMillis(ms: number): string {
  writeUtcMillis(timeScratch, 0, ms);
  return timeScratch.toString('latin1', 0, 24);
}
