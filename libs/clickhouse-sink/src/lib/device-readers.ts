/**
 * Reads of the device-level results (010, 011): the per-device reader contract
 * (iot_device_minute), the fleet minute's accumulator columns
 * (iot_minute_agg), and the completeness of a device's data.
 */
import type { ClickHouseSinkClient, RequestOptions } from './client';
import { RowValidationError } from './errors';
import { VIEW_READ_SETTINGS } from './readers';
import { QUANTILE_COLUMNS, selectWithQuantiles } from './results-sql';
import { BEYOND_RETENTION, FUTURE_EVENT_TIME, LATE_EVENT } from '@stream-analytics/event-schema';
import { TABLES } from './schema';

/** Statuses by column, in EVENT_STATUSES order. */
export interface StatusColumns {
  statusOk: number;
  statusWarning: number;
  statusError: number;
  statusOffline: number;
}

/** The columns an accumulator gives both the fleet and the device minute. */
export interface MinuteStats extends StatusColumns {
  windowStartMs: number;
  totalEvents: number;
  avgMetric: number;
  minMetric: number;
  maxMetric: number;
  avgTemperature: number;
  minTemperature: number;
  maxTemperature: number;
  anomalyEvents: number;
  lateEvents: number;
  p50Metric: number;
  p95Metric: number;
  p99Metric: number;
  p95Temperature: number;
}

/** One row of the per-device reader contract (stream_analytics.iot_device_minute). */
export interface DeviceMinuteRow extends MinuteStats {
  deviceId: string;
  lastEventTimeMs: number;
  /** Arrival (Kafka record timestamp) of the window's first and last event of the device. */
  firstSeenMs: number;
  lastSeenMs: number;
  lastStatus: string;
  lastTemperature: number;
  /** Source partitions the device's events of this window came on. */
  sourcePartitions: number;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** Device ids are the event schema's ID_PATTERN; anything else is refused rather than quoted. */
const DEVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

export function deviceIdLiteral(deviceId: string): string {
  if (!DEVICE_RE.test(deviceId)) throw new RowValidationError(`device id must match ${DEVICE_RE}, got ${JSON.stringify(deviceId)}`);
  return `'${deviceId}'`;
}

function secondsOf(name: string, ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RowValidationError(`${name} must be a non-negative epoch millisecond value, got ${ms}`);
  return Math.ceil(ms / 1000);
}

/** The accumulator columns both readers return; the quantiles are stored for the fleet and computed for devices. */
const STATS_COLUMNS = [
  'toUInt32(window_start) AS ws',
  'total_events',
  'avg_metric',
  'min_metric',
  'max_metric',
  'avg_temperature',
  'min_temperature',
  'max_temperature',
  'status_ok',
  'status_warning',
  'status_error',
  'status_offline',
  'anomaly_events',
  'late_events',
  ...Object.values(QUANTILE_COLUMNS),
];

function parseStats(r: Record<string, unknown>): MinuteStats {
  return {
    windowStartMs: num(r['ws']) * 1000,
    totalEvents: num(r['total_events']),
    avgMetric: num(r['avg_metric']),
    minMetric: num(r['min_metric']),
    maxMetric: num(r['max_metric']),
    avgTemperature: num(r['avg_temperature']),
    minTemperature: num(r['min_temperature']),
    maxTemperature: num(r['max_temperature']),
    statusOk: num(r['status_ok']),
    statusWarning: num(r['status_warning']),
    statusError: num(r['status_error']),
    statusOffline: num(r['status_offline']),
    anomalyEvents: num(r['anomaly_events']),
    lateEvents: num(r['late_events']),
    p50Metric: num(r['p50_metric']),
    p95Metric: num(r['p95_metric']),
    p99Metric: num(r['p99_metric']),
    p95Temperature: num(r['p95_temperature']),
  };
}

/** The fleet minute's accumulator columns, window_start in [fromMs, toMs). */
export function minuteStatsQuery(fromMs: number, toMs: number): string {
  return `SELECT ${STATS_COLUMNS.join(', ')}
FROM ${TABLES.minuteAgg}
WHERE window_start >= toDateTime(${secondsOf('fromMs', fromMs)}) AND window_start < toDateTime(${secondsOf('toMs', toMs)})
ORDER BY ws`;
}

export async function readMinuteStats(client: ClickHouseSinkClient, fromMs: number, toMs: number, options: RequestOptions = {}): Promise<MinuteStats[]> {
  const rows = await client.queryRows<Record<string, unknown>>(minuteStatsQuery(fromMs, toMs), { ...options, settings: { ...VIEW_READ_SETTINGS, ...options.settings } });
  return rows.map(parseStats);
}

/** Per-device reader contract rows, window_start in [fromMs, toMs), of one device or all; ordered by device, then window. */
export function deviceMinuteQuery(fromMs: number, toMs: number, deviceId?: string): string {
  const device = deviceId === undefined ? '' : ` AND device_id = ${deviceIdLiteral(deviceId)}`;
  const columns = ['device_id', ...STATS_COLUMNS, 'last_event_time_ms', 'first_seen_ms', 'last_seen_ms', 'last_status', 'last_temperature', 'source_partitions'];
  const where = `window_start >= toDateTime(${secondsOf('fromMs', fromMs)}) AND window_start < toDateTime(${secondsOf('toMs', toMs)})${device}`;
  return `${selectWithQuantiles(columns, TABLES.deviceMinute, where)}
ORDER BY device_id, ws`;
}

export function parseDeviceMinuteRow(r: Record<string, unknown>): DeviceMinuteRow {
  return {
    deviceId: String(r['device_id']),
    ...parseStats(r),
    lastEventTimeMs: num(r['last_event_time_ms']),
    firstSeenMs: num(r['first_seen_ms']),
    lastSeenMs: num(r['last_seen_ms']),
    lastStatus: String(r['last_status']),
    lastTemperature: num(r['last_temperature']),
    sourcePartitions: num(r['source_partitions']),
  };
}

export async function readDeviceMinute(client: ClickHouseSinkClient, fromMs: number, toMs: number, deviceId?: string, options: RequestOptions = {}): Promise<DeviceMinuteRow[]> {
  const rows = await client.queryRows<Record<string, unknown>>(deviceMinuteQuery(fromMs, toMs, deviceId), { ...options, settings: { ...VIEW_READ_SETTINGS, ...options.settings } });
  return rows.map(parseDeviceMinuteRow);
}

/** What happened to a device's events over a range: counted (late ones among them) and dead-lettered, by reason. */
export interface DeviceCompleteness {
  countedEvents: number;
  /** Counted after their window was final (within ALLOWED_LATENESS_SECS). */
  countedLate: number;
  /** Dead letters: beyond the lateness horizon (late_event). */
  tooLate: number;
  /** Dead letters: event time too far ahead of the record timestamp (future_event_time). */
  futureClock: number;
  /** Dead letters: window older than the aggregate retention (beyond_retention). */
  beyondRetention: number;
  /** Dead letters for any other reason (a parseable event breaking the schema; unparseable messages carry no device id). */
  invalid: number;
}

/** The columns of deviceCompletenessSql, in order. */
export const DEVICE_COMPLETENESS_COLUMNS = ['counted_events', 'counted_late', 'too_late', 'future_clock', 'beyond_retention', 'invalid'] as const;

/**
 * The one definition of a device's completeness, as one query returning one
 * row: its counted and late-counted events from iot_device_minute and its
 * dead letters by reason (each source message once, by its newest record),
 * for the minutes `windowFilter` selects (a condition on window_start).
 * `device` is an SQL expression: a quoted literal (deviceIdLiteral), or the
 * dashboard's '${device}'.
 */
export function deviceCompletenessSql(device: string, windowFilter: string): string {
  const aside = [LATE_EVENT, FUTURE_EVENT_TIME, BEYOND_RETENTION].map((r) => `'${r}'`).join(', ');
  return `SELECT
    sumIf(n, kind = 'counted') AS counted_events,
    sumIf(n, kind = 'late') AS counted_late,
    sumIf(n, kind = 'dead_letter' AND reason = '${LATE_EVENT}') AS too_late,
    sumIf(n, kind = 'dead_letter' AND reason = '${FUTURE_EVENT_TIME}') AS future_clock,
    sumIf(n, kind = 'dead_letter' AND reason = '${BEYOND_RETENTION}') AS beyond_retention,
    sumIf(n, kind = 'dead_letter' AND reason NOT IN (${aside})) AS invalid
FROM
(
    SELECT 'counted' AS kind, '' AS reason, total_events AS n FROM ${TABLES.deviceMinute}
    WHERE ${windowFilter} AND device_id = ${device}
    UNION ALL
    SELECT 'late' AS kind, '' AS reason, late_events AS n FROM ${TABLES.deviceMinute}
    WHERE ${windowFilter} AND device_id = ${device}
    UNION ALL
    SELECT 'dead_letter' AS kind, d_reason AS reason, toUInt64(1) AS n
    FROM
    (
        SELECT argMax(reason, recorded_at) AS d_reason
        FROM ${TABLES.deadLetters}
        WHERE ${windowFilter} AND device_id = ${device}
        GROUP BY source_topic, source_partition, source_offset
    )
)`;
}

/** A device's completeness over window_start in [fromMs, toMs). */
export async function readDeviceCompleteness(client: ClickHouseSinkClient, deviceId: string, fromMs: number, toMs: number, options: RequestOptions = {}): Promise<DeviceCompleteness> {
  const filter = `window_start >= toDateTime(${secondsOf('fromMs', fromMs)}) AND window_start < toDateTime(${secondsOf('toMs', toMs)})`;
  const [r] = await client.queryRows<Record<string, unknown>>(deviceCompletenessSql(deviceIdLiteral(deviceId), filter), { ...options, settings: { ...VIEW_READ_SETTINGS, ...options.settings } });
  return {
    countedEvents: num(r?.['counted_events'] ?? 0),
    countedLate: num(r?.['counted_late'] ?? 0),
    tooLate: num(r?.['too_late'] ?? 0),
    futureClock: num(r?.['future_clock'] ?? 0),
    beyondRetention: num(r?.['beyond_retention'] ?? 0),
    invalid: num(r?.['invalid'] ?? 0),
  };
}
