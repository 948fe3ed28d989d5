/**
 * Expands the Grafana ClickHouse plugin's macros the way the plugin does
 * (grafana/clickhouse-datasource pkg/macros/macros.go), so tests can run a
 * panel's SQL exactly as Grafana would send it for a given time range.
 * Unknown macros and leftover template variables are errors: a query that
 * only Grafana could complete would not be tested for real.
 */
export interface QueryRange {
  fromMs: number;
  toMs: number;
  /** Grafana's computed interval for the panel (default 60 s); see {@link grafanaIntervalMs}. */
  intervalMs?: number;
}

/**
 * Grafana's rounding of range / max data points to a "nice" interval
 * (roundInterval in @grafana/data rangeutil), from 1 ms up to 1 year.
 */
const NICE_INTERVALS_MS: ReadonlyArray<readonly [below: number, interval: number]> = [
  [10, 1], [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500],
  [1500, 1000], [3500, 2000], [7500, 5000], [12500, 10000], [17500, 15000], [25000, 20000], [45000, 30000],
  [90000, 60000], [210000, 120000], [450000, 300000], [750000, 600000], [1050000, 900000], [1500000, 1200000],
  [2700000, 1800000], [5400000, 3600000], [9000000, 7200000], [16200000, 10800000], [32400000, 21600000],
  [86400000, 43200000], [604800000, 86400000], [1814400000, 604800000], [3628800000, 2592000000],
];
const ONE_YEAR_MS = 31536000000;

export function roundIntervalMs(ms: number): number {
  for (const [below, interval] of NICE_INTERVALS_MS) if (ms < below) return interval;
  return ONE_YEAR_MS;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, M: 2592000000, y: ONE_YEAR_MS };

/** A Grafana interval string ("1m", "30s", "2h") in milliseconds. */
export function intervalToMs(text: string): number {
  const m = /^(\d+)(ms|[smhdwMy])$/.exec(text);
  if (!m) throw new Error(`invalid interval ${JSON.stringify(text)} (expected e.g. 30s, 1m, 2h)`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/**
 * The interval Grafana gives a panel's query (calculateInterval): the range
 * divided by the panel's max data points, rounded to a nice value, and never
 * below the panel's minimum interval. $__interval_s is this in seconds.
 */
export function grafanaIntervalMs(range: { fromMs: number; toMs: number }, maxDataPoints: number, minInterval?: string): number {
  if (!(Number.isInteger(maxDataPoints) && maxDataPoints > 0)) throw new Error(`maxDataPoints must be a positive integer, got ${maxDataPoints}`);
  const rounded = roundIntervalMs((range.toMs - range.fromMs) / maxDataPoints);
  return Math.max(rounded, minInterval === undefined ? 1 : intervalToMs(minInterval));
}

const seconds = (ms: number) => Math.floor(ms / 1000);
const dateTime = (ms: number) => `toDateTime(${seconds(ms)})`;
const dateTime64 = (ms: number) => `fromUnixTimestamp64Milli(${Math.floor(ms)})`;
const date = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;

type Macro = (args: string[], r: Required<QueryRange>) => string;

function arity(name: string, n: number, args: string[]): void {
  if (args.length !== n) throw new Error(`$__${name} expects ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
}

export const MACROS: Record<string, Macro> = {
  fromTime: (_a, r) => dateTime(r.fromMs),
  toTime: (_a, r) => dateTime(r.toMs),
  fromTime_ms: (_a, r) => dateTime64(r.fromMs),
  toTime_ms: (_a, r) => dateTime64(r.toMs),
  timeFilter: (a, r) => (arity('timeFilter', 1, a), `${a[0]} >= ${dateTime(r.fromMs)} AND ${a[0]} <= ${dateTime(r.toMs)}`),
  timeFilter_ms: (a, r) => (arity('timeFilter_ms', 1, a), `${a[0]} >= ${dateTime64(r.fromMs)} AND ${a[0]} <= ${dateTime64(r.toMs)}`),
  dateFilter: (a, r) => (arity('dateFilter', 1, a), `${a[0]} >= ${date(r.fromMs)} AND ${a[0]} <= ${date(r.toMs)}`),
  dateTimeFilter: (a, r) => (
    arity('dateTimeFilter', 2, a),
    `(${a[0]} >= ${date(r.fromMs)} AND ${a[0]} <= ${date(r.toMs)}) AND (${a[1]} >= ${dateTime(r.fromMs)} AND ${a[1]} <= ${dateTime(r.toMs)})`
  ),
  timeInterval: (a, r) => (arity('timeInterval', 1, a), `toStartOfInterval(toDateTime(${a[0]}), INTERVAL ${Math.max(1, seconds(r.intervalMs))} second)`),
  timeInterval_ms: (a, r) => (arity('timeInterval_ms', 1, a), `toStartOfInterval(toDateTime64(${a[0]}, 3), INTERVAL ${Math.max(1, Math.floor(r.intervalMs))} millisecond)`),
  interval_s: (_a, r) => String(Math.max(1, seconds(r.intervalMs))),
};
MACROS['dt'] = MACROS['dateTimeFilter'];

/** Names of the macros a query uses. */
export function macrosIn(sql: string): string[] {
  return [...sql.matchAll(/\$__(\w+)/g)].map((m) => m[1]);
}

export function expandMacros(sql: string, range: QueryRange): string {
  const r = { intervalMs: 60000, ...range };
  if (!(r.fromMs <= r.toMs)) throw new Error(`invalid time range ${r.fromMs}..${r.toMs}`);
  const out = sql.replace(/\$__(\w+)(?:\(([^()]*)\))?/g, (_m, name: string, rawArgs: string | undefined) => {
    const macro = MACROS[name];
    if (!macro) throw new Error(`unknown macro $__${name} (the ClickHouse plugin knows ${Object.keys(MACROS).map((k) => `$__${k}`).join(', ')})`);
    const args = rawArgs === undefined || rawArgs.trim() === '' ? [] : rawArgs.split(',').map((s) => s.trim());
    return macro(args, r);
  });
  const leftover = /\$\{?\w+/.exec(out);
  if (leftover) throw new Error(`unexpanded template variable ${leftover[0]} in:\n${out}`);
  return out;
}
