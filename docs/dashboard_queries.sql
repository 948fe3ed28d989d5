-- SQL of every panel of the Grafana dashboard "IoT streaming overview"
-- (grafana/dashboards/iot-streaming-overview.json).
--
-- GENERATED from tools/dashboard/src/lib/panels.ts, like the dashboard itself:
-- edit panels.ts, then run `npx nx run dashboard:generate`. A test fails when
-- this file, the dashboard and panels.ts disagree.
--
-- $__timeFilter(col), $__fromTime, $__toTime and $__interval_s are Grafana ClickHouse
-- plugin macros; Grafana expands them to
--   col >= toDateTime(<from, epoch s>) AND col <= toDateTime(<to, epoch s>),
--   toDateTime(<from, epoch s>), toDateTime(<to, epoch s>), and the panel interval in
--   seconds (range / max data points rounded to a nice value, at least 60).
-- To run a query by hand (clickhouse-client --multiquery), replace them, e.g. with
--   window_start >= now() - INTERVAL 30 MINUTE AND window_start <= now(),
--   now() - INTERVAL 30 MINUTE, now() and 60.
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
-- a write age below about 10 s. Reads the windows of the last 15 minutes
-- before the range end only: with none there it shows "older than 15 min".
-- Columns: newest_window_age_s, last_write_age_s
SELECT
    toInt64(now()) - toInt64(max(window_start)) AS newest_window_age_s,
    round((toInt64(now()) * 1000 - toInt64(max(updated_at_ms))) / 1000, 1) AS last_write_age_s
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start) AND window_start >= $__toTime - 900
HAVING count() > 0
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 2: Current minute (filling) [current_minute] (stat)
-- The newest window as it fills: events, unique users and anomalies counted
-- so far, seconds elapsed, and whether every partition has finalised it (1)
-- or it is still open (0). Reads the windows of the last 15 minutes before
-- the range end only.
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
WHERE $__timeFilter(window_start) AND window_start >= $__toTime - 900
ORDER BY window_start DESC
LIMIT 1
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 3: Events per minute [events_per_minute] (timeseries)
-- Valid events per 1-minute event-time window, late ones within the lateness
-- horizon included (too-late, future and invalid events are not counted; see
-- the late/invalid panel). Each point is a bucket of Grafana's interval (one
-- minute up to a day, 10 minutes at 7 days, 30 at 30 days): its average
-- events per minute over the bucket's minutes in the time range (a minute
-- without data counts as 0).
-- Columns: time, events
SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time, sum(total_events) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS events
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 4: Average metric [average_metric] (timeseries)
-- Mean metric_value of the events in each window. Each point is a bucket of
-- Grafana's interval (one minute up to a day, 10 minutes at 7 days, 30 at 30
-- days): the mean over all the bucket's events (sum of metric_value /
-- events), so busy minutes weigh more.
-- Columns: time, avg_metric
SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time, if(sum(total_events) = 0, 0, sum(metric_sum) / sum(total_events)) AS avg_metric
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 5: Unique users per minute [unique_users] (timeseries)
-- Distinct user_id values per window, exact across all partitions. Each
-- point is a bucket of Grafana's interval (one minute up to a day, 10
-- minutes at 7 days, 30 at 30 days): the highest per-minute count in the
-- bucket (users are distinct per minute; they do not add up over minutes).
-- Columns: time, unique_users
SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time, max(unique_users) AS unique_users
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 6: Anomaly events per minute [anomaly_events] (timeseries)
-- Events whose anomaly_score is at least the aggregator threshold (default
-- 0.9), per window. Each point is a bucket of Grafana's interval (one minute
-- up to a day, 10 minutes at 7 days, 30 at 30 days): its average anomalies
-- per minute over the bucket's minutes in the time range.
-- Columns: time, anomaly_events
SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time, sum(anomaly_events) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS anomaly_events
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
GROUP BY time
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
-- Each point is a bucket of Grafana's interval (one minute up to a day, 10
-- minutes at 7 days, 30 at 30 days): its average per minute over the
-- bucket's minutes in the time range.
-- Columns: time, invalid_events, too_late_events, future_events, late_counted_events
SELECT toDateTime(intDiv(toUInt32(minute), $__interval_s) * $__interval_s, 'UTC') AS time,
    sum(invalid) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS invalid_events,
    sum(too_late) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS too_late_events,
    sum(future) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS future_events,
    sum(counted_late) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS late_counted_events
FROM
(
    SELECT window_start AS minute, invalid_events AS invalid, late_events AS too_late, future_events AS future, toUInt64(0) AS counted_late
    FROM stream_analytics.iot_minute_dead_letters
    WHERE $__timeFilter(window_start)
    UNION ALL
    SELECT window_start AS minute, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(late_events)
    FROM stream_analytics.iot_minute_agg
    WHERE $__timeFilter(window_start) AND late_events > 0
)
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;
