/**
 * The devices dashboard: one device's minutes (picked with the $device
 * variable), the fleet's status, temperature and metric percentiles, and the
 * device tables (top 10 by anomalies, errors, dead letters; the silent ones).
 * Same rules as panels.ts (18.16 and current releases, the time range only,
 * buckets of Grafana's interval); grafana/dashboards/iot-devices.json and
 * docs/dashboard_device_queries.sql are generated from this file.
 *
 * Percentiles over a bucket merge the minutes' DDSketch bins (sumMap) and read
 * the quantile from the merged bins with the same SQL the aggregator's refresh
 * uses (clickhouse-sink's sketchQuantileSql): within 1 % like the minutes.
 */
import { DEVICE_COMPLETENESS_COLUMNS, DEVICE_HOURS_NEWEST, deviceCompletenessSql, deviceIdLiteral, sketchQuantileSql } from '@stream-analytics/clickhouse-sink';
import { BUCKET_MINUTES, bucketOf, expandPanelSql, sql, TIME_SERIES, VIEW_SETTINGS, type PanelDef } from './panels';

export const DEVICE_VARIABLE = 'device';
/** How panels name the selected device (Grafana substitutes it; single value, ids match the event schema's ID pattern). */
const DEVICE = `'\${${DEVICE_VARIABLE}}'`;

/**
 * The $device variable's query: the devices heard from since the range start
 * (iot_device_last_seen: one row per device, so the picker stays quick at
 * 100,000 devices).
 */
export const DEVICE_VARIABLE_SQL =
  'SELECT device_id FROM stream_analytics.iot_device_last_seen GROUP BY device_id HAVING maxMerge(last_seen_state) >= toInt64(toUInt32($__fromTime)) * 1000 ORDER BY device_id';

const BUCKET_NOTE = "Each point is a bucket of Grafana's interval";

/** The hours (of iot_device_hour, by their start) overlapping the dashboard's range. */
const WHOLE_HOURS_OF_RANGE = 'window_start >= toStartOfHour($__fromTime) AND window_start <= $__toTime';

/** Statuses per minute over the buckets of `source` (optionally one device's rows). */
function statusSeries(source: string, filter: string): string {
  return sql([
    `SELECT ${bucketOf('window_start')} AS time,`,
    `    sum(status_ok) / (${BUCKET_MINUTES}) AS ok,`,
    `    sum(status_warning) / (${BUCKET_MINUTES}) AS warning,`,
    `    sum(status_error) / (${BUCKET_MINUTES}) AS error,`,
    `    sum(status_offline) / (${BUCKET_MINUTES}) AS offline`,
    `FROM ${source}`,
    `WHERE $__timeFilter(window_start)${filter}`,
    'GROUP BY time',
    'ORDER BY time',
    VIEW_SETTINGS,
  ]);
}

/** Mean temperature of the bucket's events with its exact min-max band. */
function temperatureSeries(source: string, filter: string): string {
  // Aggregates are named apart from the columns they read (18.16: "Cyclic aliases").
  return sql([
    'SELECT time, avg_temperature, bucket_min AS min_temperature, bucket_max AS max_temperature',
    'FROM',
    '(',
    `    SELECT ${bucketOf('window_start')} AS time,`,
    '        sum(temperature_sum) / sum(total_events) AS avg_temperature,',
    '        min(min_temperature) AS bucket_min,',
    '        max(max_temperature) AS bucket_max',
    `    FROM ${source}`,
    `    WHERE $__timeFilter(window_start)${filter} AND total_events > 0`,
    '    GROUP BY time',
    ')',
    'ORDER BY time',
    VIEW_SETTINGS,
  ]);
}

/** Metric percentiles of the bucket from its minutes' merged sketch bins (and the mean when asked). */
function percentileSeries(source: string, filter: string, withMean: boolean): string {
  const q = (p: number) => sketchQuantileSql('bucket_keys', 'bucket_counts', p, 'bucket_min', 'bucket_max');
  return sql([
    `SELECT time,${withMean ? ' avg_metric,' : ''} ${q(0.5)} AS p50_metric, ${q(0.95)} AS p95_metric, ${q(0.99)} AS p99_metric`,
    'FROM',
    '(',
    `    SELECT ${bucketOf('window_start')} AS time,`,
    '        sum(metric_sum) / sum(total_events) AS avg_metric,',
    '        min(min_metric) AS bucket_min,',
    '        max(max_metric) AS bucket_max,',
    '        tupleElement(sumMap(metric_sketch_keys, metric_sketch_counts), 1) AS bucket_keys,',
    '        tupleElement(sumMap(metric_sketch_keys, metric_sketch_counts), 2) AS bucket_counts',
    `    FROM ${source}`,
    `    WHERE $__timeFilter(window_start)${filter} AND total_events > 0`,
    '    GROUP BY time',
    ')',
    'ORDER BY time',
    VIEW_SETTINGS,
  ]);
}

/**
 * A top-10 table of the devices by a column summed over the range, read from
 * the hourly device rollup (iot_device_hour, its newest row per device and hour):
 * the whole hours overlapping the range, the current one as of the rollup's
 * last run.
 */
function topDevices(column: string, alias: string): string {
  return sql([
    `SELECT device_id, sum(${column}) AS ${alias}, sum(total_events) AS events`,
    `FROM ${DEVICE_HOURS_NEWEST}`,
    `WHERE ${WHOLE_HOURS_OF_RANGE}`,
    'GROUP BY device_id',
    `HAVING ${alias} > 0`,
    `ORDER BY ${alias} DESC, device_id`,
    'LIMIT 10',
    VIEW_SETTINGS,
  ]);
}

const ONE_DEVICE = ` AND device_id = ${DEVICE}`;
const TABLE = { type: 'table', queryType: 'table' } as const;

export const DEVICE_PANELS: PanelDef[] = [
  {
    key: 'device_temperature',
    title: 'Temperature of $device',
    description: `Mean temperature of the device's events per window, with the lowest and highest reading (exact). ${BUCKET_NOTE}: the mean over the bucket's events and the extremes of its minutes.`,
    ...TIME_SERIES,
    sql: temperatureSeries('stream_analytics.iot_device_minute', ONE_DEVICE),
    columns: ['time', 'avg_temperature', 'min_temperature', 'max_temperature'],
    gridPos: { x: 0, y: 0, w: 12, h: 8 },
    unit: 'celsius',
    decimals: 1,
    drawStyle: 'line',
  },
  {
    key: 'device_metric',
    title: 'Metric of $device: mean and percentiles',
    description: `Mean metric_value and its 50th, 95th and 99th percentile (DDSketch, within 1 %, merged over the bucket's minutes). ${BUCKET_NOTE}.`,
    ...TIME_SERIES,
    sql: percentileSeries('stream_analytics.iot_device_minute', ONE_DEVICE, true),
    columns: ['time', 'avg_metric', 'p50_metric', 'p95_metric', 'p99_metric'],
    gridPos: { x: 12, y: 0, w: 12, h: 8 },
    unit: 'none',
    decimals: 3,
    drawStyle: 'line',
  },
  {
    key: 'device_status',
    title: 'Status of $device per minute',
    description: `Events per status (ok, warning, error, offline) per window; they add up to the device's events. ${BUCKET_NOTE}: average per minute over the bucket's minutes in the range.`,
    ...TIME_SERIES,
    sql: statusSeries('stream_analytics.iot_device_minute', ONE_DEVICE),
    columns: ['time', 'ok', 'warning', 'error', 'offline'],
    gridPos: { x: 0, y: 8, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
  },
  {
    key: 'device_completeness',
    title: 'Completeness of $device',
    description:
      "What happened to the device's events in the range: counted (late ones within ALLOWED_LATENESS_SECS among them) and dead-lettered by reason: too late (late_event), future clock (future_event_time), beyond the aggregate retention (beyond_retention), invalid (schema violations of a parseable event; unparseable messages carry no device id). Each source message counts once.",
    ...TABLE,
    sql: `${deviceCompletenessSql(DEVICE, '$__timeFilter(window_start)')}\n${VIEW_SETTINGS}`,
    columns: [...DEVICE_COMPLETENESS_COLUMNS],
    gridPos: { x: 12, y: 8, w: 12, h: 8 },
  },
  {
    key: 'fleet_status',
    title: 'Fleet status per minute (stacked)',
    description: `Events per status per window over all devices. ${BUCKET_NOTE}: average per minute over the bucket's minutes in the range.`,
    ...TIME_SERIES,
    sql: statusSeries('stream_analytics.iot_minute_agg', ''),
    columns: ['time', 'ok', 'warning', 'error', 'offline'],
    gridPos: { x: 0, y: 16, w: 8, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
  },
  {
    key: 'fleet_temperature',
    title: 'Fleet temperature (mean, min-max band)',
    description: `Mean temperature of all events per window, with the fleet's lowest and highest reading (exact). ${BUCKET_NOTE}.`,
    ...TIME_SERIES,
    sql: temperatureSeries('stream_analytics.iot_minute_agg', ''),
    columns: ['time', 'avg_temperature', 'min_temperature', 'max_temperature'],
    gridPos: { x: 8, y: 16, w: 8, h: 8 },
    unit: 'celsius',
    decimals: 1,
    drawStyle: 'line',
  },
  {
    key: 'fleet_metric_percentiles',
    title: 'Fleet metric percentiles',
    description: `50th, 95th and 99th percentile of metric_value over all devices (DDSketch, within 1 %, merged over the bucket's minutes). ${BUCKET_NOTE}.`,
    ...TIME_SERIES,
    sql: percentileSeries('stream_analytics.iot_minute_agg', '', false),
    columns: ['time', 'p50_metric', 'p95_metric', 'p99_metric'],
    gridPos: { x: 16, y: 16, w: 8, h: 8 },
    unit: 'none',
    decimals: 3,
    drawStyle: 'line',
  },
  {
    key: 'top_anomalies',
    title: 'Top 10 devices by anomalies',
    description:
      'Devices with the most anomaly events (anomaly_score at or above the threshold) over the whole hours overlapping the range (the hourly device rollup, refreshed every DEVICE_ROLLUP_INTERVAL_SECS), with their events.',
    ...TABLE,
    sql: topDevices('anomaly_events', 'anomalies'),
    columns: ['device_id', 'anomalies', 'events'],
    gridPos: { x: 0, y: 24, w: 8, h: 9 },
  },
  {
    key: 'top_errors',
    title: 'Top 10 devices by errors',
    description: "Devices with the most events of status 'error' over the whole hours overlapping the range (the hourly device rollup, refreshed every DEVICE_ROLLUP_INTERVAL_SECS), with their events.",
    ...TABLE,
    sql: topDevices('status_error', 'errors'),
    columns: ['device_id', 'errors', 'events'],
    gridPos: { x: 8, y: 24, w: 8, h: 9 },
  },
  {
    key: 'top_dead_letters',
    title: 'Top 10 devices by dead letters',
    description: 'Devices with the most dead-lettered events over the range (each source message once; unparseable messages carry no device id and are not here).',
    ...TABLE,
    sql: sql([
      'SELECT message_device AS device_id, count() AS dead_letters',
      'FROM',
      '(',
      '    SELECT any(device_id) AS message_device',
      '    FROM stream_analytics.dead_letters',
      "    WHERE $__timeFilter(window_start) AND device_id != ''",
      '    GROUP BY source_topic, source_partition, source_offset',
      ')',
      'GROUP BY message_device',
      'ORDER BY dead_letters DESC, device_id',
      'LIMIT 10',
    ]),
    columns: ['device_id', 'dead_letters'],
    gridPos: { x: 16, y: 24, w: 8, h: 9 },
  },
  {
    key: 'silent_devices',
    title: 'Silent devices now',
    description:
      'Devices heard from within the aggregate retention that sent nothing for longer than SILENT_FACTOR x their usual interval (learned from their own traffic) and at least SILENT_MIN_SECS, as iot_device_health defines it: how long they have been quiet, their usual interval and their last status. Independent of the time range (it is about now).',
    ...TABLE,
    sql: sql([
      'SELECT device_id, last_seen, round(quiet_ms / 1000) AS silent_for_s, round(typical_interval_ms / 1000, 1) AS usual_interval_s, last_status',
      'FROM stream_analytics.iot_device_health',
      'WHERE silent = 1',
      'ORDER BY silent_for_s DESC, device_id',
      'LIMIT 100',
      VIEW_SETTINGS,
    ]),
    columns: ['device_id', 'last_seen', 'silent_for_s', 'usual_interval_s', 'last_status'],
    gridPos: { x: 0, y: 33, w: 24, h: 9 },
  },
];

/** A device panel's SQL as Grafana sends it for a range and a selected device. */
export function expandDevicePanelSql(p: PanelDef, range: { fromMs: number; toMs: number }, deviceId: string): string {
  return expandPanelSql({ ...p, sql: p.sql.split(DEVICE).join(deviceIdLiteral(deviceId)) }, range);
}
