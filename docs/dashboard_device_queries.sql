-- SQL of every panel of the Grafana dashboard "IoT devices"
-- (grafana/dashboards/iot-devices.json).
--
-- GENERATED from tools/dashboard/src/lib/device-panels.ts, like the dashboard itself:
-- edit device-panels.ts, then run `npx nx run dashboard:generate`. A test fails when
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
-- ${device} is the dashboard variable $device: one device id, quoted.

-- ============================================================================
-- Panel 1: Temperature of $device [device_temperature] (timeseries)
-- Mean temperature of the device's events per window, with the lowest and
-- highest reading (exact). Each point is a bucket of Grafana's interval: the
-- mean over the bucket's events and the extremes of its minutes.
-- Columns: time, avg_temperature, min_temperature, max_temperature
SELECT time, avg_temperature, bucket_min AS min_temperature, bucket_max AS max_temperature
FROM
(
    SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time,
        sum(temperature_sum) / sum(total_events) AS avg_temperature,
        min(min_temperature) AS bucket_min,
        max(max_temperature) AS bucket_max
    FROM stream_analytics.iot_device_minute
    WHERE $__timeFilter(window_start) AND device_id = '${device}' AND total_events > 0
    GROUP BY time
)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 2: Metric of $device: mean and percentiles [device_metric] (timeseries)
-- Mean metric_value and its 50th, 95th and 99th percentile (DDSketch, within
-- 1 %, merged over the bucket's minutes). Each point is a bucket of
-- Grafana's interval.
-- Columns: time, avg_metric, p50_metric, p95_metric, p99_metric
SELECT time, avg_metric, least(greatest(if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.5 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) = 0, 0, if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.5 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) < 0, -1, 1) * (2 * pow(1.01999798000202, toFloat64(abs(arrayFirst((sketch_key, running_count) -> running_count > floor(0.5 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)))) - 2000) / 2.01999798000202)), bucket_min), bucket_max) AS p50_metric, least(greatest(if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.95 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) = 0, 0, if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.95 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) < 0, -1, 1) * (2 * pow(1.01999798000202, toFloat64(abs(arrayFirst((sketch_key, running_count) -> running_count > floor(0.95 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)))) - 2000) / 2.01999798000202)), bucket_min), bucket_max) AS p95_metric, least(greatest(if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.99 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) = 0, 0, if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.99 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) < 0, -1, 1) * (2 * pow(1.01999798000202, toFloat64(abs(arrayFirst((sketch_key, running_count) -> running_count > floor(0.99 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)))) - 2000) / 2.01999798000202)), bucket_min), bucket_max) AS p99_metric
FROM
(
    SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time,
        sum(metric_sum) / sum(total_events) AS avg_metric,
        min(min_metric) AS bucket_min,
        max(max_metric) AS bucket_max,
        tupleElement(sumMap(metric_sketch_keys, metric_sketch_counts), 1) AS bucket_keys,
        tupleElement(sumMap(metric_sketch_keys, metric_sketch_counts), 2) AS bucket_counts
    FROM stream_analytics.iot_device_minute
    WHERE $__timeFilter(window_start) AND device_id = '${device}' AND total_events > 0
    GROUP BY time
)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 3: Status of $device per minute [device_status] (timeseries)
-- Events per status (ok, warning, error, offline) per window; they add up to
-- the device's events. Each point is a bucket of Grafana's interval: average
-- per minute over the bucket's minutes in the range.
-- Columns: time, ok, warning, error, offline
SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time,
    sum(status_ok) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS ok,
    sum(status_warning) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS warning,
    sum(status_error) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS error,
    sum(status_offline) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS offline
FROM stream_analytics.iot_device_minute
WHERE $__timeFilter(window_start) AND device_id = '${device}'
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 4: Completeness of $device [device_completeness] (table)
-- What happened to the device's events in the range: counted (late ones
-- within ALLOWED_LATENESS_SECS among them) and dead-lettered by reason: too
-- late (late_event), future clock (future_event_time), beyond the aggregate
-- retention (beyond_retention), invalid (schema violations of a parseable
-- event; unparseable messages carry no device id). Each source message
-- counts once.
-- Columns: counted_events, counted_late, too_late, future_clock, beyond_retention, invalid
SELECT
    sumIf(n, kind = 'counted') AS counted_events,
    sumIf(n, kind = 'late') AS counted_late,
    sumIf(n, kind = 'dead_letter' AND reason = 'late_event') AS too_late,
    sumIf(n, kind = 'dead_letter' AND reason = 'future_event_time') AS future_clock,
    sumIf(n, kind = 'dead_letter' AND reason = 'beyond_retention') AS beyond_retention,
    sumIf(n, kind = 'dead_letter' AND reason NOT IN ('late_event', 'future_event_time', 'beyond_retention')) AS invalid
FROM
(
    SELECT 'counted' AS kind, '' AS reason, total_events AS n FROM stream_analytics.iot_device_minute
    WHERE $__timeFilter(window_start) AND device_id = '${device}'
    UNION ALL
    SELECT 'late' AS kind, '' AS reason, late_events AS n FROM stream_analytics.iot_device_minute
    WHERE $__timeFilter(window_start) AND device_id = '${device}'
    UNION ALL
    SELECT 'dead_letter' AS kind, d_reason AS reason, toUInt64(1) AS n
    FROM
    (
        SELECT argMax(reason, recorded_at) AS d_reason
        FROM stream_analytics.dead_letters
        WHERE $__timeFilter(window_start) AND device_id = '${device}'
        GROUP BY source_topic, source_partition, source_offset
    )
)
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 5: Fleet status per minute (stacked) [fleet_status] (timeseries)
-- Events per status per window over all devices. Each point is a bucket of
-- Grafana's interval: average per minute over the bucket's minutes in the
-- range.
-- Columns: time, ok, warning, error, offline
SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time,
    sum(status_ok) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS ok,
    sum(status_warning) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS warning,
    sum(status_error) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS error,
    sum(status_offline) / ((least(toInt64(time) + $__interval_s, intDiv(toInt64(toUInt32($__toTime)), 60) * 60 + 60) - greatest(toInt64(time), intDiv(toInt64(toUInt32($__fromTime)) + 59, 60) * 60)) / 60) AS offline
FROM stream_analytics.iot_minute_agg
WHERE $__timeFilter(window_start)
GROUP BY time
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 6: Fleet temperature (mean, min-max band) [fleet_temperature] (timeseries)
-- Mean temperature of all events per window, with the fleet's lowest and
-- highest reading (exact). Each point is a bucket of Grafana's interval.
-- Columns: time, avg_temperature, min_temperature, max_temperature
SELECT time, avg_temperature, bucket_min AS min_temperature, bucket_max AS max_temperature
FROM
(
    SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time,
        sum(temperature_sum) / sum(total_events) AS avg_temperature,
        min(min_temperature) AS bucket_min,
        max(max_temperature) AS bucket_max
    FROM stream_analytics.iot_minute_agg
    WHERE $__timeFilter(window_start) AND total_events > 0
    GROUP BY time
)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 7: Fleet metric percentiles [fleet_metric_percentiles] (timeseries)
-- 50th, 95th and 99th percentile of metric_value over all devices (DDSketch,
-- within 1 %, merged over the bucket's minutes). Each point is a bucket of
-- Grafana's interval.
-- Columns: time, p50_metric, p95_metric, p99_metric
SELECT time, least(greatest(if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.5 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) = 0, 0, if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.5 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) < 0, -1, 1) * (2 * pow(1.01999798000202, toFloat64(abs(arrayFirst((sketch_key, running_count) -> running_count > floor(0.5 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)))) - 2000) / 2.01999798000202)), bucket_min), bucket_max) AS p50_metric, least(greatest(if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.95 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) = 0, 0, if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.95 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) < 0, -1, 1) * (2 * pow(1.01999798000202, toFloat64(abs(arrayFirst((sketch_key, running_count) -> running_count > floor(0.95 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)))) - 2000) / 2.01999798000202)), bucket_min), bucket_max) AS p95_metric, least(greatest(if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.99 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) = 0, 0, if(arrayFirst((sketch_key, running_count) -> running_count > floor(0.99 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)) < 0, -1, 1) * (2 * pow(1.01999798000202, toFloat64(abs(arrayFirst((sketch_key, running_count) -> running_count > floor(0.99 * (toInt64(arraySum(bucket_counts)) - 1)), bucket_keys, arrayCumSum(bucket_counts)))) - 2000) / 2.01999798000202)), bucket_min), bucket_max) AS p99_metric
FROM
(
    SELECT toDateTime(intDiv(toUInt32(window_start), $__interval_s) * $__interval_s, 'UTC') AS time,
        sum(metric_sum) / sum(total_events) AS avg_metric,
        min(min_metric) AS bucket_min,
        max(max_metric) AS bucket_max,
        tupleElement(sumMap(metric_sketch_keys, metric_sketch_counts), 1) AS bucket_keys,
        tupleElement(sumMap(metric_sketch_keys, metric_sketch_counts), 2) AS bucket_counts
    FROM stream_analytics.iot_minute_agg
    WHERE $__timeFilter(window_start) AND total_events > 0
    GROUP BY time
)
ORDER BY time
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 8: Top 10 devices by anomalies [top_anomalies] (table)
-- Devices with the most anomaly events (anomaly_score at or above the
-- threshold) over the whole hours overlapping the range (the hourly device
-- rollup, refreshed every DEVICE_ROLLUP_INTERVAL_SECS), with their events.
-- Columns: device_id, anomalies, events
SELECT device_id, sum(anomaly_events) AS anomalies, sum(total_events) AS events
FROM stream_analytics.iot_device_hour FINAL
WHERE window_start >= toStartOfHour($__fromTime) AND window_start <= $__toTime
GROUP BY device_id
HAVING anomalies > 0
ORDER BY anomalies DESC, device_id
LIMIT 10
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 9: Top 10 devices by errors [top_errors] (table)
-- Devices with the most events of status 'error' over the whole hours
-- overlapping the range (the hourly device rollup, refreshed every
-- DEVICE_ROLLUP_INTERVAL_SECS), with their events.
-- Columns: device_id, errors, events
SELECT device_id, sum(status_error) AS errors, sum(total_events) AS events
FROM stream_analytics.iot_device_hour FINAL
WHERE window_start >= toStartOfHour($__fromTime) AND window_start <= $__toTime
GROUP BY device_id
HAVING errors > 0
ORDER BY errors DESC, device_id
LIMIT 10
SETTINGS enable_optimize_predicate_expression = 1;

-- ============================================================================
-- Panel 10: Top 10 devices by dead letters [top_dead_letters] (table)
-- Devices with the most dead-lettered events over the range (each source
-- message once; unparseable messages carry no device id and are not here).
-- Columns: device_id, dead_letters
SELECT message_device AS device_id, count() AS dead_letters
FROM
(
    SELECT any(device_id) AS message_device
    FROM stream_analytics.dead_letters
    WHERE $__timeFilter(window_start) AND device_id != ''
    GROUP BY source_topic, source_partition, source_offset
)
GROUP BY message_device
ORDER BY dead_letters DESC, device_id
LIMIT 10;

-- ============================================================================
-- Panel 11: Silent devices now [silent_devices] (table)
-- Devices heard from within the aggregate retention that sent nothing for
-- longer than SILENT_FACTOR x their usual interval (learned from their own
-- traffic) and at least SILENT_MIN_SECS, as iot_device_health defines it:
-- how long they have been quiet, their usual interval and their last status.
-- Independent of the time range (it is about now).
-- Columns: device_id, last_seen, silent_for_s, usual_interval_s, last_status
SELECT device_id, last_seen, round(quiet_ms / 1000) AS silent_for_s, round(typical_interval_ms / 1000, 1) AS usual_interval_s, last_status
FROM stream_analytics.iot_device_health
WHERE silent = 1
ORDER BY silent_for_s DESC, device_id
LIMIT 100
SETTINGS enable_optimize_predicate_expression = 1;
