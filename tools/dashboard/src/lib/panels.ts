/**
 * The one source of the IoT streaming overview dashboard: every panel, its
 * SQL (with the Grafana ClickHouse plugin's macros), the columns it returns,
 * and its place on the grid. grafana/dashboards/iot-streaming-overview.json
 * and docs/dashboard_queries.sql are generated from this file
 * (`npx nx run dashboard:generate`); a test fails when they drift.
 *
 * SQL rules: runs on ClickHouse 18.16 and current releases; reads only the
 * dashboard time range, and reads it efficiently on both: queries over the
 * reader-contract view iot_minute_agg end with SETTINGS
 * enable_optimize_predicate_expression = 1 so the time filter is pushed into
 * the view on 18.16 too (current releases do it by default; a readonly=1 user
 * may pass it because the reader profile has the same value), and so do those
 * over iot_minute_dead_letters. Both views read per-window (per-minute)
 * results the aggregator materializes after every flush, so a month is tens of
 * thousands of small rows whatever the users and dead letters. A test checks on
 * the real server that each query reads only the table partitions of its time
 * range.
 *
 * Time series return a bounded number of points whatever the range: rows are
 * bucketed to Grafana's interval ($__interval_s: range / maxDataPoints,
 * rounded, at least the 1-minute window). 18.16 has no toStartOfInterval (the
 * plugin's $__timeInterval), so buckets are integer arithmetic on epoch
 * seconds. Every bucket keeps the y-axis "per minute" (see each description).
 * Panels that show "now" read only the windows of the last
 * {@link RECENT_MINUTES} minutes before the range end.
 */

import { expandMacros, grafanaIntervalMs } from './macros';

export const DATASOURCE = { type: 'grafana-clickhouse-datasource', uid: 'stream-analytics-clickhouse', name: 'ClickHouse (stream analytics)' } as const;

export const VIEW_SETTINGS = 'SETTINGS enable_optimize_predicate_expression = 1';

export type PanelType = 'timeseries' | 'stat' | 'table';

export interface PanelDef {
  /** Stable key (used in docs/dashboard_queries.sql and tests). */
  key: string;
  title: string;
  description: string;
  type: PanelType;
  /** The plugin's result shape: time series (first column DateTime) or a table. */
  queryType: 'timeseries' | 'table';
  sql: string;
  /** The columns the query returns, in order. */
  columns: string[];
  gridPos: { x: number; y: number; w: number; h: number };
  unit?: string;
  decimals?: number;
  /** Grafana draw style for time series. */
  drawStyle?: 'line' | 'bars';
  /** Minimum interval: the data has one point per minute, so a bucket is at least one window. */
  interval?: string;
  /** Grafana's max data points: bounds the points of a time series (the interval grows with the range). */
  maxDataPoints?: number;
}

/** Points per series Grafana asks for (the interval is range / this, rounded to a nice value). */
export const MAX_DATA_POINTS = 1000;

/** How far before the range end the "now" panels look for the newest window. */
export const RECENT_MINUTES = 15;

/** Expands a panel's macros as Grafana would for a time range: its interval from the range, max data points and minimum interval. */
export function expandPanelSql(p: PanelDef, range: { fromMs: number; toMs: number }): string {
  return expandMacros(p.sql, { ...range, intervalMs: grafanaIntervalMs(range, p.maxDataPoints ?? MAX_DATA_POINTS, p.interval) });
}

export const sql = (lines: string[]) => lines.join('\n');

/** A window's bucket: window_start floored to the interval (whole minutes: the minimum interval is 1m). */
export const bucketOf = (col: string) => `toDateTime(intDiv(toUInt32(${col}), $__interval_s) * $__interval_s, 'UTC')`;

/**
 * The number of windows the time range leaves in the bucket starting at `time`:
 * from the first window at or after the range start to the window holding the
 * range end. A count per bucket divided by this is the average per minute, also
 * in the partial buckets at both ends of the range.
 */
export const BUCKET_MINUTES =
  '(least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60';

const RECENT_FILTER = `$__timeFilter(window_start) AND window_start >= $__toTime - ${RECENT_MINUTES * 60}`;

export const TIME_SERIES = { type: 'timeseries', queryType: 'timeseries', interval: '1m', maxDataPoints: MAX_DATA_POINTS } as const;

const PER_MINUTE_NOTE = 'Each point is a bucket of Grafana\'s interval (one minute up to a day, 10 minutes at 7 days, 30 at 30 days)';

export const PANELS: PanelDef[] = [
  {
    key: 'data_freshness',
    title: 'Data freshness',
    description: `How far behind real time the dashboard is: seconds from the start of the newest window to now, and from the newest write by the aggregator to now. The newest window keeps filling for up to a minute and is rewritten every flush (5 s), so a healthy pipeline shows a window age below about 70 s and a write age below about 10 s. Reads the windows of the last ${RECENT_MINUTES} minutes before the range end only: with none there it shows "older than ${RECENT_MINUTES} min".`,
    type: 'stat',
    queryType: 'table',
    sql: sql([
      'SELECT',
      '    toInt64(now()) - toInt64(max(window_start)) AS newest_window_age_s,',
      '    round((toInt64(now()) * 1000 - toInt64(max(updated_at_ms))) / 1000, 1) AS last_write_age_s',
      'FROM stream_analytics.iot_minute_agg',
      `WHERE ${RECENT_FILTER}`,
      'HAVING count() > 0',
      VIEW_SETTINGS,
    ]),
    columns: ['newest_window_age_s', 'last_write_age_s'],
    gridPos: { x: 0, y: 0, w: 8, h: 5 },
    unit: 's',
    decimals: 0,
  },
  {
    key: 'current_minute',
    title: 'Current minute (filling)',
    description: `The newest window as it fills: events, unique users and anomalies counted so far, seconds elapsed, and whether every partition has finalised it (1) or it is still open (0). Reads the windows of the last ${RECENT_MINUTES} minutes before the range end only.`,
    type: 'stat',
    queryType: 'table',
    sql: sql([
      'SELECT',
      '    window_start,',
      '    total_events,',
      '    unique_users,',
      '    anomaly_events,',
      '    round(avg_metric, 3) AS avg_metric,',
      '    least(60, greatest(0, toInt64(now()) - toInt64(window_start))) AS elapsed_s,',
      '    is_final',
      'FROM stream_analytics.iot_minute_agg',
      `WHERE ${RECENT_FILTER}`,
      'ORDER BY window_start DESC',
      'LIMIT 1',
      VIEW_SETTINGS,
    ]),
    columns: ['window_start', 'total_events', 'unique_users', 'anomaly_events', 'avg_metric', 'elapsed_s', 'is_final'],
    gridPos: { x: 8, y: 0, w: 16, h: 5 },
  },
  {
    key: 'events_per_minute',
    title: 'Events per minute',
    description: `Valid events per 1-minute event-time window, late ones within the lateness horizon included (too-late, future and invalid events are not counted; see the late/invalid panel). ${PER_MINUTE_NOTE}: its average events per minute over the bucket's minutes in the time range (a minute without data counts as 0).`,
    ...TIME_SERIES,
    sql: sql([
      `SELECT ${bucketOf('window_start')} AS time, sum(total_events) / (${BUCKET_MINUTES}) AS events`,
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'GROUP BY time',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'events'],
    gridPos: { x: 0, y: 5, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
  },
  {
    key: 'average_metric',
    title: 'Average metric',
    description: `Mean metric_value of the events in each window. ${PER_MINUTE_NOTE}: the mean over all the bucket's events (sum of metric_value / events), so busy minutes weigh more.`,
    ...TIME_SERIES,
    sql: sql([
      `SELECT ${bucketOf('window_start')} AS time, if(sum(total_events) = 0, 0, sum(metric_sum) / sum(total_events)) AS avg_metric`,
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'GROUP BY time',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'avg_metric'],
    gridPos: { x: 12, y: 5, w: 12, h: 8 },
    unit: 'none',
    decimals: 3,
    drawStyle: 'line',
  },
  {
    key: 'unique_users',
    title: 'Unique users per minute',
    description: `Distinct user_id values per window, exact across all partitions. ${PER_MINUTE_NOTE}: the highest per-minute count in the bucket (users are distinct per minute; they do not add up over minutes).`,
    ...TIME_SERIES,
    sql: sql([
      `SELECT ${bucketOf('window_start')} AS time, max(unique_users) AS unique_users`,
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'GROUP BY time',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'unique_users'],
    gridPos: { x: 0, y: 13, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'line',
  },
  {
    key: 'anomaly_events',
    title: 'Anomaly events per minute',
    description: `Events whose anomaly_score is at least the aggregator threshold (default 0.9), per window. ${PER_MINUTE_NOTE}: its average anomalies per minute over the bucket's minutes in the time range.`,
    ...TIME_SERIES,
    sql: sql([
      `SELECT ${bucketOf('window_start')} AS time, sum(anomaly_events) / (${BUCKET_MINUTES}) AS anomaly_events`,
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'GROUP BY time',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'anomaly_events'],
    gridPos: { x: 12, y: 13, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
  },
  {
    key: 'late_and_invalid_events',
    title: 'Late, future and invalid events per minute',
    description: `Per window: late events that were counted (their window was already final, within ALLOWED_LATENESS_SECS; by event-time window), and dead letters: too late (beyond the horizon; by event-time window), future (event_time too far ahead of the Kafka timestamp; by Kafka timestamp minute) and invalid (unparseable, schema violations, oversized; by Kafka timestamp minute). Each source message counts once, as in the iot_minute_dead_letters view. ${PER_MINUTE_NOTE}: its average per minute over the bucket's minutes in the time range.`,
    ...TIME_SERIES,
    // Dead letters from iot_minute_dead_letters: per-minute counts the
    // aggregator refreshes after every flush (each source message once), one
    // small row per minute version however many dead letters there are.
    sql: sql([
      `SELECT ${bucketOf('minute')} AS time,`,
      `    sum(invalid) / (${BUCKET_MINUTES}) AS invalid_events,`,
      `    sum(too_late) / (${BUCKET_MINUTES}) AS too_late_events,`,
      `    sum(future) / (${BUCKET_MINUTES}) AS future_events,`,
      `    sum(counted_late) / (${BUCKET_MINUTES}) AS late_counted_events`,
      'FROM',
      '(',
      '    SELECT window_start AS minute, invalid_events AS invalid, late_events AS too_late, future_events AS future, toUInt64(0) AS counted_late',
      '    FROM stream_analytics.iot_minute_dead_letters',
      '    WHERE $__timeFilter(window_start)',
      '    UNION ALL',
      '    SELECT window_start AS minute, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(late_events)',
      '    FROM stream_analytics.iot_minute_agg',
      '    WHERE $__timeFilter(window_start) AND late_events > 0',
      ')',
      'GROUP BY time',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'invalid_events', 'too_late_events', 'future_events', 'late_counted_events'],
    gridPos: { x: 0, y: 21, w: 24, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
  },
];
