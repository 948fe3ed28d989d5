import type { ClickHouseSinkClient, RequestOptions } from './client';
import { RowValidationError } from './errors';
import { TABLES } from './schema';

/** One row of the reader contract (stream_analytics.iot_minute_agg) plus the view's extra columns. */
export interface MinuteAggRow {
  windowStartMs: number;
  totalEvents: number;
  avgMetric: number;
  uniqueUsers: number;
  anomalyEvents: number;
  /** max(updated_at_ms) over the window's partitions. */
  updatedAtMs: number;
  metricSum: number;
  /** Source partitions that contributed to the window. */
  sourcePartitions: number;
  /** True when every contributing partition marked the window final. */
  isFinal: boolean;
}

export interface DeadLetterCountRow {
  windowStartMs: number;
  invalidEvents: number;
  lateEvents: number;
}

/**
 * Settings for reads through the views. On 18.16 predicate push-down into
 * subqueries is off by default, so a `WHERE window_start ...` on the view
 * would scan the whole table; this turns it on (default on current servers).
 * Dashboards reading the views should set it too (or the server profile).
 */
export const VIEW_READ_SETTINGS = { enable_optimize_predicate_expression: 1 } as const;

function secondsRange(fromMs: number, toMs: number): [number, number] {
  for (const [n, v] of [
    ['fromMs', fromMs],
    ['toMs', toMs],
  ] as const) {
    if (!Number.isFinite(v) || v < 0) throw new RowValidationError(`${n} must be a non-negative epoch millisecond value, got ${v}`);
  }
  // window_start (whole seconds) in [fromMs, toMs)
  return [Math.ceil(fromMs / 1000), Math.ceil(toMs / 1000)];
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** The SELECT that readMinuteAgg runs (window_start in [fromMs, toMs)). */
export function minuteAggQuery(fromMs: number, toMs: number): string {
  const [from, to] = secondsRange(fromMs, toMs);
  return `SELECT toUInt32(window_start) AS ws, total_events, avg_metric, unique_users, anomaly_events,
       updated_at_ms, metric_sum, source_partitions, is_final
FROM ${TABLES.minuteAgg}
WHERE window_start >= toDateTime(${from}) AND window_start < toDateTime(${to})
ORDER BY ws`;
}

/** Maps a JSONEachRow row of {@link minuteAggQuery} (64-bit integers as strings or numbers). */
export function parseMinuteAggRow(r: Record<string, unknown>): MinuteAggRow {
  return {
    windowStartMs: num(r['ws']) * 1000,
    totalEvents: num(r['total_events']),
    avgMetric: num(r['avg_metric']),
    uniqueUsers: num(r['unique_users']),
    anomalyEvents: num(r['anomaly_events']),
    updatedAtMs: num(r['updated_at_ms']),
    metricSum: num(r['metric_sum']),
    sourcePartitions: num(r['source_partitions']),
    isFinal: num(r['is_final']) === 1,
  };
}

/** The SELECT that readDeadLetterCounts runs (window_start in [fromMs, toMs)). */
export function deadLetterCountsQuery(fromMs: number, toMs: number): string {
  const [from, to] = secondsRange(fromMs, toMs);
  return `SELECT toUInt32(window_start) AS ws, invalid_events, late_events
FROM ${TABLES.minuteDeadLetters}
WHERE window_start >= toDateTime(${from}) AND window_start < toDateTime(${to})
ORDER BY ws`;
}

/** Maps a JSONEachRow row of {@link deadLetterCountsQuery}. */
export function parseDeadLetterCountRow(r: Record<string, unknown>): DeadLetterCountRow {
  return { windowStartMs: num(r['ws']) * 1000, invalidEvents: num(r['invalid_events']), lateEvents: num(r['late_events']) };
}

/** Reader-contract rows with window_start in [fromMs, toMs), ordered by window. */
export async function readMinuteAgg(
  client: ClickHouseSinkClient,
  fromMs: number,
  toMs: number,
  options: RequestOptions = {},
): Promise<MinuteAggRow[]> {
  const rows = await client.queryRows<Record<string, unknown>>(minuteAggQuery(fromMs, toMs), {
    ...options,
    settings: { ...VIEW_READ_SETTINGS, ...options.settings },
  });
  return rows.map(parseMinuteAggRow);
}

/** Dead-letter counts (distinct source messages) per window with window_start in [fromMs, toMs). */
export async function readDeadLetterCounts(
  client: ClickHouseSinkClient,
  fromMs: number,
  toMs: number,
  options: RequestOptions = {},
): Promise<DeadLetterCountRow[]> {
  const rows = await client.queryRows<Record<string, unknown>>(deadLetterCountsQuery(fromMs, toMs), {
    ...options,
    settings: { ...VIEW_READ_SETTINGS, ...options.settings },
  });
  return rows.map(parseDeadLetterCountRow);
}
