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
  /** Grafana's computed interval for the panel (default 60 s). */
  intervalMs?: number;
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
