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
 * may pass it because the reader profile has the same value); the dead-letter
 * panel filters inside its subquery (see there). A test checks on the real
 * server that each query reads only the table partitions of its time range.
 */

export const DATASOURCE = { type: 'grafana-clickhouse-datasource', uid: 'stream-analytics-clickhouse', name: 'ClickHouse (stream analytics)' } as const;

export const VIEW_SETTINGS = 'SETTINGS enable_optimize_predicate_expression = 1';

export type PanelType = 'timeseries' | 'stat';

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
  /** Minimum interval: the data has one point per minute. */
  interval?: string;
}

const sql = (lines: string[]) => lines.join('\n');

export const PANELS: PanelDef[] = [
  {
    key: 'data_freshness',
    title: 'Data freshness',
    description:
      'How far behind real time the dashboard is: seconds from the start of the newest window to now, and from the newest write by the aggregator to now. The newest window keeps filling for up to a minute and is rewritten every flush (5 s), so a healthy pipeline shows a window age below about 70 s and a write age below about 10 s.',
    type: 'stat',
    queryType: 'table',
    sql: sql([
      'SELECT',
      '    toInt64(now()) - toInt64(max(window_start)) AS newest_window_age_s,',
      '    round((toInt64(now()) * 1000 - toInt64(max(updated_at_ms))) / 1000, 1) AS last_write_age_s',
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
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
    description:
      'The newest window as it fills: events, unique users and anomalies counted so far, seconds elapsed, and whether every partition has finalised it (1) or it is still open (0).',
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
      'WHERE $__timeFilter(window_start)',
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
    description: 'Valid events per 1-minute event-time window, late ones within the lateness horizon included (too-late, future and invalid events are not counted; see the late/invalid panel).',
    type: 'timeseries',
    queryType: 'timeseries',
    sql: sql([
      'SELECT window_start AS time, total_events AS events',
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'events'],
    gridPos: { x: 0, y: 5, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
    interval: '1m',
  },
  {
    key: 'average_metric',
    title: 'Average metric',
    description: 'Mean metric_value of the events in each window.',
    type: 'timeseries',
    queryType: 'timeseries',
    sql: sql([
      'SELECT window_start AS time, avg_metric',
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'avg_metric'],
    gridPos: { x: 12, y: 5, w: 12, h: 8 },
    unit: 'none',
    decimals: 3,
    drawStyle: 'line',
    interval: '1m',
  },
  {
    key: 'unique_users',
    title: 'Unique users per minute',
    description: 'Distinct user_id values per window, exact across all partitions.',
    type: 'timeseries',
    queryType: 'timeseries',
    sql: sql([
      'SELECT window_start AS time, unique_users',
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'unique_users'],
    gridPos: { x: 0, y: 13, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'line',
    interval: '1m',
  },
  {
    key: 'anomaly_events',
    title: 'Anomaly events per minute',
    description: 'Events whose anomaly_score is at least the aggregator threshold (default 0.9), per window.',
    type: 'timeseries',
    queryType: 'timeseries',
    sql: sql([
      'SELECT window_start AS time, anomaly_events',
      'FROM stream_analytics.iot_minute_agg',
      'WHERE $__timeFilter(window_start)',
      'ORDER BY time',
      VIEW_SETTINGS,
    ]),
    columns: ['time', 'anomaly_events'],
    gridPos: { x: 12, y: 13, w: 12, h: 8 },
    unit: 'short',
    drawStyle: 'bars',
    interval: '1m',
  },
  {
    key: 'late_and_invalid_events',
    title: 'Late, future and invalid events per minute',
    description:
      'Per window: late events that were counted (their window was already final, within ALLOWED_LATENESS_SECS; by event-time window), and dead letters: too late (beyond the horizon; by event-time window), future (event_time too far ahead of the Kafka timestamp; by Kafka timestamp minute) and invalid (unparseable, schema violations, oversized; by Kafka timestamp minute). Each source message counts once, as in the iot_minute_dead_letters view.',
    type: 'timeseries',
    queryType: 'timeseries',
    // The iot_minute_dead_letters view's window_start is an argMax result, which
    // no ClickHouse version pushes a filter into, so this query spells the view
    // out with the time filter inside (on the table's partition key): same
    // counts, since every record of one source message has the same window.
    sql: sql([
      'SELECT time, sum(invalid) AS invalid_events, sum(too_late) AS too_late_events, sum(future) AS future_events, sum(counted_late) AS late_counted_events',
      'FROM',
      '(',
      '    SELECT',
      '        d_window_start AS time,',
      "        countIf(d_reason NOT IN ('late_event', 'future_event_time')) AS invalid,",
      "        countIf(d_reason = 'late_event') AS too_late,",
      "        countIf(d_reason = 'future_event_time') AS future,",
      '        toUInt64(0) AS counted_late',
      '    FROM',
      '    (',
      '        SELECT',
      '            argMax(window_start, (recorded_at, reason, window_start)) AS d_window_start,',
      '            argMax(reason, (recorded_at, reason, window_start)) AS d_reason',
      '        FROM stream_analytics.dead_letter_events',
      '        WHERE $__timeFilter(window_start)',
      '        GROUP BY source_topic, source_partition, source_offset',
      '    )',
      '    GROUP BY time',
      '    UNION ALL',
      '    SELECT window_start AS time, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(late_events)',
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
    interval: '1m',
  },
];
