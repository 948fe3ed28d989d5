-- SQL of every panel of the Grafana dashboard "IoT streaming overview"
-- (grafana/dashboards/iot-streaming-overview.json).
--
-- GENERATED from tools/dashboard/src/lib/panels.ts, like the dashboard itself:
-- edit panels.ts, then run `npx nx run dashboard:generate`. A test fails when
-- this file, the dashboard and panels.ts disagree.
--
-- $__timeFilter(col) is the Grafana ClickHouse plugin macro; Grafana expands it to
--   col >= toDateTime(<from, epoch s>) AND col <= toDateTime(<to, epoch s>)
-- To run a query by hand (clickhouse-client --multiquery), replace it, e.g. with
--   window_start >= now() - INTERVAL 30 MINUTE AND window_start <= now()
--
-- Every query runs on ClickHouse 18.16 and on current releases, and reads only
-- the time range: the SETTINGS clause pushes the time filter into the
-- iot_minute_agg view on 18.16 (the default on current releases; the read-only
-- grafana user may pass it because its profile has the same value).

-- ============================================================================
-- Panel 1: Data freshness [data_freshness] (stat)
-- How far behind real time the dashboard is: seconds from the start of the
-- newest window to now, and from the newest write by the aggregator to now.
-- The newest window keeps filling for up to a minute and is rewritten every
-- flush (5 s), so a healthy pipeline shows a window age below about 70 s and
-- a write age below about 10 s.
-- Columns: newest_window_age_s, last_write_age_s
SELECT
    toInt64(now()) - toInt64(max(window_start)) AS newest_window_age_s,
    round((toInt64(now()) * 1000 - toInt64(max(updated_at_ms))) / 1000, 1) AS last_write_age_s
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
HAVING count() > 0
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 2: Current minute (filling) [current_minute] (stat)
-- The newest window as it fills: events, unique users and anomalies counted
-- so far, seconds elapsed, and whether every partition has finalised it (1)
-- or it is still open (0).
-- Columns: window_start, total_events, unique_users, anomaly_events, avg_metric, elapsed_s, is_final
SELECT
    window_start,
    total_events,
    unique_users,
    anomaly_events,
    round(avg_metric, 3) AS avg_metric,
    least(60, greatest(0, toInt64(now()) - toInt64(window_start))) AS elapsed_s,
    is_final
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
ORDER BY window_start DESC
LIMIT 1
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 3: Events per minute [events_per_minute] (timeseries)
-- Valid events per 1-minute event-time window, late ones within the lateness
-- horizon included (too-late, future and invalid events are not counted; see
-- the late/invalid panel).
-- Columns: time, events
SELECT window_start AS time, total_events AS events
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 4: Average metric [average_metric] (timeseries)
-- Mean metric_value of the events in each window.
-- Columns: time, avg_metric
SELECT window_start AS time, avg_metric
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 5: Unique users per minute [unique_users] (timeseries)
-- Distinct user_id values per window, exact across all partitions.
-- Columns: time, unique_users
SELECT window_start AS time, unique_users
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 6: Anomaly events per minute [anomaly_events] (timeseries)
-- Events whose anomaly_score is at least the aggregator threshold (default
-- 0.9), per window.
-- Columns: time, anomaly_events
SELECT window_start AS time, anomaly_events
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 7: Late, future and invalid events per minute [late_and_invalid_events] (timeseries)
-- Per window: late events that were counted (their window was already final,
-- within ALLOWED_LATENESS_SECS; by event-time window), and dead letters: too
-- late (beyond the horizon; by event-time window), future (event_time too
-- far ahead of the Kafka timestamp; by Kafka timestamp minute) and invalid
-- (unparseable, schema violations, oversized; by Kafka timestamp minute).
-- Each source message counts once, as in the iot_minute_dead_letters view.
-- Columns: time, invalid_events, too_late_events, future_events, late_counted_events
SELECT time, sum(invalid) AS invalid_events, sum(too_late) AS too_late_events, sum(future) AS future_events, sum(counted_late) AS late_counted_events
FROM
(
    SELECT
        d_window_start AS time,
        countIf(d_reason NOT IN ('late_event', 'future_event_time')) AS invalid,
        countIf(d_reason = 'late_event') AS too_late,
        countIf(d_reason = 'future_event_time') AS future,
        toUInt64(0) AS counted_late
    FROM
    (
        SELECT
            argMax(window_start, (recorded_at, reason, window_start)) AS d_window_start,
            argMax(reason, (recorded_at, reason, window_start)) AS d_reason
        FROM stream_analytics.dead_letter_events
        WHERE $__timeFilter(window_start)
        GROUP BY source_topic, source_partition, source_offset
    )
    GROUP BY time
    UNION ALL
    SELECT window_start AS time, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(late_events)
    FROM stream_analytics.iot_minute_agg
    WHERE $__timeFilter(window_start) AND late_events > 0
)
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;
