import { EVENT_STATUSES } from '@stream-analytics/event-schema';
import type { AggregateState } from '@stream-analytics/windowing';
import type { ClickHouseSinkClient, RequestOptions } from './client';
import { epochMsArgument, RowValidationError } from './errors';
import { MINUTE_RESULT_COLUMNS, minuteResultsSelect } from './results-sql';
import { WINDOW_STATE_COLUMNS, type DeviceStateRow, type WindowPartitionRow } from './rows';
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
  /** Events counted after their partition's watermark had passed the window's end. */
  lateEvents: number;
}

export interface DeadLetterCountRow {
  windowStartMs: number;
  invalidEvents: number;
  /** Beyond the lateness horizon (late_event). */
  lateEvents: number;
  /** Too far ahead of their record timestamp (future_event_time). */
  futureEvents: number;
}

/**
 * The newest stored row of one (window, topic, partition) as loaded back: the
 * window's durable state, with the fleet's whole accumulator and the newest
 * row of each device (the topic is the one asked for).
 */
export type StoredWindowRow = Omit<WindowPartitionRow, 'sourceTopic' | 'updatedAtMs' | 'aggregate' | 'devices'> & {
  aggregate: AggregateState;
  devices: StoredDeviceRow[];
};

/** The newest stored row of one (window, device, topic, partition). */
export type StoredDeviceRow = DeviceStateRow;

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

/**
 * `toDateTime(s1), toDateTime(s2), ...` for an `IN (...)` over window_start.
 * Throws RowValidationError for a start that is not a whole epoch second.
 */
export function windowStartList(windowStartsMs: readonly number[]): string {
  return windowStartsMs
    .map((ms) => {
      if (!Number.isSafeInteger(ms) || ms < 0 || ms % 1000 !== 0) throw new RowValidationError(`window start must be a whole-second epoch millisecond value, got ${ms}`);
      return `toDateTime(${ms / 1000})`;
    })
    .join(', ');
}

const MINUTE_AGG_COLUMNS = `toUInt32(window_start) AS ws, total_events, avg_metric, unique_users, anomaly_events,
       updated_at_ms, metric_sum, source_partitions, is_final, late_events`;

/** The SELECT that readMinuteAgg runs (window_start in [fromMs, toMs)). */
export function minuteAggQuery(fromMs: number, toMs: number): string {
  const [from, to] = secondsRange(fromMs, toMs);
  return `SELECT ${MINUTE_AGG_COLUMNS}
FROM ${TABLES.minuteAgg}
WHERE window_start >= toDateTime(${from}) AND window_start < toDateTime(${to})
ORDER BY ws`;
}

/** Reader-contract rows of exactly these windows (those that have one), ordered by window: a key lookup, whatever the history. */
export async function readMinuteAggWindows(client: ClickHouseSinkClient, windowStartsMs: readonly number[], options: RequestOptions = {}): Promise<MinuteAggRow[]> {
  if (windowStartsMs.length === 0) return [];
  const sql = `SELECT ${MINUTE_AGG_COLUMNS}
FROM ${TABLES.minuteAgg}
WHERE window_start IN (${windowStartList([...new Set(windowStartsMs)])})
ORDER BY ws`;
  const rows = await client.queryRows<Record<string, unknown>>(sql, { ...options, settings: { ...VIEW_READ_SETTINGS, ...options.settings } });
  return rows.map(parseMinuteAggRow);
}

/** The columns of the fleet results table (TABLES.minuteRollup) that a refresh writes, in order. */
export const MINUTE_ROLLUP_COLUMNS = MINUTE_RESULT_COLUMNS;

/** The columns of stream_analytics.iot_minute_dead_letter_rollup that a refresh writes, in order. */
export const MINUTE_DEAD_LETTER_ROLLUP_COLUMNS = ['window_start', 'invalid_events', 'late_events', 'future_events', 'dead_letter_events', 'computed_at_ms'] as const;

/**
 * The SELECT of a refresh: the given windows of a `*_merged` view (the one
 * definition of their results), its columns but the last, stamped with
 * `computedAtMs` as the last (computed_at_ms). Run it as INSERT ... SELECT
 * (ClickHouseSinkClient.insertSelect) with VIEW_READ_SETTINGS, so that it
 * reads only these windows' rows.
 */
function refreshSelect(view: string, columns: readonly string[], windowStartsMs: readonly number[], computedAtMs: number): string {
  epochMsArgument('computedAtMs', computedAtMs);
  return `SELECT ${columns.slice(0, -1).join(', ')}, toUInt64(${computedAtMs}) AS computed_at_ms
FROM ${view}
WHERE window_start IN (${windowStartList(windowStartsMs)})`;
}

/** The SELECT of a dead-letter rollup refresh: the minutes' counts as iot_minute_dead_letters_merged defines them now. */
export function minuteDeadLetterRollupSelect(windowStartsMs: readonly number[], computedAtMs: number): string {
  return refreshSelect(TABLES.minuteDeadLettersMerged, MINUTE_DEAD_LETTER_ROLLUP_COLUMNS, windowStartsMs, computedAtMs);
}

/** The SELECT of a rollup refresh: the windows' results as iot_minute_merged defines them now. */
export function minuteRollupSelect(windowStartsMs: readonly number[], computedAtMs: number): string {
  return minuteResultsSelect(windowStartList(windowStartsMs), computedAtMs);
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
    lateEvents: num(r['late_events']),
  };
}

/** The SELECT that readDeadLetterCounts runs (window_start in [fromMs, toMs)). */
export function deadLetterCountsQuery(fromMs: number, toMs: number): string {
  const [from, to] = secondsRange(fromMs, toMs);
  return `SELECT toUInt32(window_start) AS ws, invalid_events, late_events, future_events
FROM ${TABLES.minuteDeadLetters}
WHERE window_start >= toDateTime(${from}) AND window_start < toDateTime(${to})
ORDER BY ws`;
}

/** Maps a JSONEachRow row of {@link deadLetterCountsQuery}. */
export function parseDeadLetterCountRow(r: Record<string, unknown>): DeadLetterCountRow {
  return { windowStartMs: num(r['ws']) * 1000, invalidEvents: num(r['invalid_events']), lateEvents: num(r['late_events']), futureEvents: num(r['future_events']) };
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

/** Kafka topic names are [a-zA-Z0-9._-]; anything else is refused rather than quoted. */
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;

/** The columns a state read returns (every stored column but the key, the version and the write time). */
const STATE_READ_COLUMNS = WINDOW_STATE_COLUMNS.filter(
  (c): c is Exclude<(typeof WINDOW_STATE_COLUMNS)[number], 'window_start' | 'device_id' | 'source_topic' | 'source_partition' | 'row_version' | 'updated_at' | 'updated_at_ms'> =>
    !['window_start', 'device_id', 'source_topic', 'source_partition', 'row_version', 'updated_at', 'updated_at_ms'].includes(c),
);

/**
 * The SELECT that readWindowStates runs: per requested (partition, window)
 * the newest row by row_version of the fleet (device_id '') and of every
 * device, the same order the table and the views use. Partitions and windows
 * are filtered separately (the key's prefix is window_start, so the IN list
 * uses the index) and paired by the caller. The aliases must not be column
 * names: an alias shadows the column inside the other aggregates
 * (ILLEGAL_AGGREGATION on current servers).
 */
export function windowStatesQuery(topic: string, partitions: readonly number[], windowStartsMs: readonly number[]): string {
  if (!TOPIC_RE.test(topic)) throw new RowValidationError(`topic must match ${TOPIC_RE}, got ${JSON.stringify(topic)}`);
  for (const p of partitions) if (!Number.isInteger(p) || p < 0 || p > 0xffff) throw new RowValidationError(`partition must be an integer in [0, 65535], got ${p}`);
  return `SELECT toUInt32(window_start) AS ws, source_partition AS p, device_id AS d,
       ${STATE_READ_COLUMNS.map((c) => `argMax(${c}, row_version) AS s_${c}`).join(', ')},
       max(row_version) AS newest_row_version
FROM ${TABLES.windowState}
WHERE window_start IN (${windowStartList(windowStartsMs)}) AND source_topic = '${topic}' AND source_partition IN (${partitions.join(', ')})
GROUP BY window_start, source_partition, device_id`;
}

const numbers = (v: unknown): number[] => (Array.isArray(v) ? v.map(num) : []);

/** The accumulator of a state row as readWindowStates reads it (columns prefixed s_). */
export function aggregateOfStateRow(r: Record<string, unknown>): AggregateState {
  const c = (name: (typeof STATE_READ_COLUMNS)[number]) => r[`s_${name}`];
  const statusCounts = Object.fromEntries(EVENT_STATUSES.map((s) => [s, num(c(`status_${s}` as (typeof STATE_READ_COLUMNS)[number]))])) as AggregateState['statusCounts'];
  const total = num(c('total_events'));
  const lastStatus = String(c('last_status') ?? '');
  return {
    totalEvents: total,
    metricSum: num(c('metric_sum')),
    metricMin: num(c('metric_min')),
    metricMax: num(c('metric_max')),
    temperatureSum: num(c('temperature_sum')),
    temperatureMin: num(c('temperature_min')),
    temperatureMax: num(c('temperature_max')),
    statusCounts,
    anomalyEvents: num(c('anomaly_events')),
    lateEvents: num(c('late_events')),
    metricSketch: { keys: numbers(c('metric_sketch_keys')), counts: numbers(c('metric_sketch_counts')) },
    temperatureSketch: { keys: numbers(c('temperature_sketch_keys')), counts: numbers(c('temperature_sketch_counts')) },
    lastEventTimeMs: num(c('last_event_time_ms')),
    firstSeenMs: num(c('first_seen_ms')),
    lastSeenMs: num(c('last_seen_ms')),
    lastStatus: lastStatus as AggregateState['lastStatus'],
    lastTemperature: num(c('last_temperature')),
  };
}

/**
 * The durable state of the requested windows of `topic`, for the partitions
 * given: only the pairs asked for, and only those that have a row, each with
 * its device rows. The read must see the newest acknowledged insert: true on
 * one server; on a replicated cluster only with quorum inserts and
 * sequentially consistent reads (pass them in `options.settings`; nothing is
 * sent by default). Device rows come with their window's fleet row: device
 * rows without one (a first write of the window cut short) hold only events
 * past every commit, which the engine folds again from an empty window into
 * the same rows (same versions, same content).
 */
export async function readWindowStates(
  client: ClickHouseSinkClient,
  topic: string,
  wanted: ReadonlyArray<{ partition: number; windowStartsMs: readonly number[] }>,
  options: RequestOptions = {},
): Promise<StoredWindowRow[]> {
  const pairs = new Set<string>();
  for (const w of wanted) for (const ws of w.windowStartsMs) pairs.add(`${w.partition}:${ws}`);
  if (pairs.size === 0) return [];
  const partitions = [...new Set(wanted.filter((w) => w.windowStartsMs.length > 0).map((w) => w.partition))];
  const starts = [...new Set(wanted.flatMap((w) => w.windowStartsMs))];
  const rows = await client.queryRows<Record<string, unknown>>(windowStatesQuery(topic, partitions, starts), options);
  const fleet = new Map<string, StoredWindowRow>();
  const devices = new Map<string, StoredDeviceRow[]>();
  for (const r of rows) {
    const windowStartMs = num(r['ws']) * 1000;
    const sourcePartition = num(r['p']);
    const key = `${sourcePartition}:${windowStartMs}`;
    if (!pairs.has(key)) continue;
    const aggregate = aggregateOfStateRow(r);
    const deviceId = String(r['d']);
    if (deviceId !== '') {
      const list = devices.get(key) ?? [];
      list.push({ deviceId, aggregate, lastOffset: num(r['s_last_offset']), rowVersion: num(r['newest_row_version']) });
      devices.set(key, list);
      continue;
    }
    fleet.set(key, {
      windowStartMs,
      sourcePartition,
      totalEvents: aggregate.totalEvents,
      metricSum: aggregate.metricSum,
      anomalyEvents: aggregate.anomalyEvents,
      lateEvents: aggregate.lateEvents,
      lastOffset: num(r['s_last_offset']),
      isFinal: num(r['s_is_final']) === 1,
      rowVersion: num(r['newest_row_version']),
      aggregate,
      devices: [],
    });
  }
  return [...fleet].map(([key, row]) => ({ ...row, devices: (devices.get(key) ?? []).sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0)) }));
}
