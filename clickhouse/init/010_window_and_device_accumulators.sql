-- Device-level reporting: the whole window accumulator (libs/windowing
-- fold.ts) for the fleet and for every device.
--
--   iot_window_agg_state        durable state: the newest cumulative row of each
--                               (window, device, source topic, source partition);
--                               device_id '' is the fleet's row of the (window,
--                               partition), which replaces iot_window_state
--                               (18.16 cannot add columns idempotently, so the
--                               new columns come as a new table)
--   iot_minute_results_merged   (view) the definition of a window's fleet result
--   iot_minute_results          that result materialized after every flush
--   iot_minute_agg              (re-created) reader contract, more columns
--   iot_device_minute_merged    (view) the definition of a (window, device) result,
--                               summed over the partitions the device's events came on
--   iot_device_minute_results   that result materialized after every flush,
--                               ordered by device first (a device's history is
--                               one index range)
--   iot_device_minute           per-device reader contract
--
-- Every state row carries its own last offset: an event is in a row exactly
-- when its offset is at or below the row's last_offset, so the fleet row and
-- the device rows of a window need not be written together. row_version is
-- rowVersionOf(last_offset, is_final) as in 006 (device rows are never final).
--
-- Quantiles come from DDSketch bins (windowing sketch.ts): one signed key per
-- bin, ordered as the values, with a count; partitions and devices merge by
-- adding counts (sumMap). The quantile values are computed from the merged
-- bins when a result is refreshed (clickhouse-sink readers.ts), which is where
-- the sketch's constants live; the bins stay in the results so that a
-- dashboard can merge minutes into longer buckets.

CREATE TABLE IF NOT EXISTS stream_analytics.iot_window_agg_state
(
    window_start DateTime('UTC'),
    device_id String,
    source_topic String,
    source_partition UInt16,
    total_events UInt64,
    metric_sum Float64,
    metric_min Float64,
    metric_max Float64,
    temperature_sum Float64,
    temperature_min Float64,
    temperature_max Float64,
    status_ok UInt64,
    status_warning UInt64,
    status_error UInt64,
    status_offline UInt64,
    anomaly_events UInt64,
    late_events UInt64,
    metric_sketch_keys Array(Int32),
    metric_sketch_counts Array(UInt64),
    temperature_sketch_keys Array(Int32),
    temperature_sketch_counts Array(UInt64),
    last_event_time_ms Int64,
    first_seen_ms Int64,
    last_seen_ms Int64,
    last_status String,
    last_temperature Float64,
    last_offset UInt64,
    is_final UInt8,
    row_version UInt64,
    updated_at DateTime('UTC'),
    updated_at_ms UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, device_id, source_topic, source_partition);

-- The fleet rows written before this file (once: only into an empty table).
-- They carry no extremes, temperatures, statuses or bins (those stay 0/empty
-- for the windows of earlier releases).
INSERT INTO stream_analytics.iot_window_agg_state
    (window_start, device_id, source_topic, source_partition, total_events, metric_sum, anomaly_events, late_events,
     last_offset, is_final, row_version, updated_at, updated_at_ms)
SELECT window_start, '' AS device_id, source_topic, source_partition, total_events, metric_sum, anomaly_events, late_events,
       last_offset, is_final, row_version, updated_at, updated_at_ms
FROM stream_analytics.iot_window_state
WHERE (SELECT count() FROM stream_analytics.iot_window_agg_state) = 0;

CREATE TABLE IF NOT EXISTS stream_analytics.iot_minute_results
(
    window_start DateTime('UTC'),
    total_events UInt64,
    metric_sum Float64,
    min_metric Float64,
    max_metric Float64,
    temperature_sum Float64,
    min_temperature Float64,
    max_temperature Float64,
    status_ok UInt64,
    status_warning UInt64,
    status_error UInt64,
    status_offline UInt64,
    unique_users UInt64,
    anomaly_events UInt64,
    late_events UInt64,
    metric_sketch_keys Array(Int32),
    metric_sketch_counts Array(UInt64),
    temperature_sketch_keys Array(Int32),
    temperature_sketch_counts Array(UInt64),
    p50_metric Float64,
    p95_metric Float64,
    p99_metric Float64,
    p95_temperature Float64,
    source_partitions UInt64,
    is_final UInt8,
    updated_at DateTime('UTC'),
    updated_at_ms UInt64,
    state_version UInt64,
    computed_at_ms UInt64
)
ENGINE = ReplacingMergeTree(state_version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY window_start;

-- The results of earlier releases (same state_version as the copied state rows give).
INSERT INTO stream_analytics.iot_minute_results
    (window_start, total_events, metric_sum, unique_users, anomaly_events, late_events, source_partitions, is_final,
     updated_at, updated_at_ms, state_version, computed_at_ms)
SELECT window_start, total_events, metric_sum, unique_users, anomaly_events, late_events, source_partitions, is_final,
       updated_at, updated_at_ms, state_version, computed_at_ms
FROM stream_analytics.iot_minute_rollup
WHERE (SELECT count() FROM stream_analytics.iot_minute_results) = 0;

DROP TABLE IF EXISTS stream_analytics.iot_minute_results_merged;

-- A window's fleet result, as 007's iot_minute_merged but over the fleet rows
-- of iot_window_agg_state: the newest row per (window, topic, partition) by
-- argMax over row_version, the users rows beside them (kind = 1, empty bins),
-- summed per window. Read it with a window_start filter.
CREATE VIEW IF NOT EXISTS stream_analytics.iot_minute_results_merged AS
SELECT
    window_start,
    sumIf(p_total_events, kind = 0) AS total_events,
    sumIf(p_metric_sum, kind = 0) AS metric_sum,
    minIf(p_metric_min, kind = 0 AND p_total_events > 0) AS min_metric,
    maxIf(p_metric_max, kind = 0 AND p_total_events > 0) AS max_metric,
    sumIf(p_temperature_sum, kind = 0) AS temperature_sum,
    minIf(p_temperature_min, kind = 0 AND p_total_events > 0) AS min_temperature,
    maxIf(p_temperature_max, kind = 0 AND p_total_events > 0) AS max_temperature,
    sumIf(p_status_ok, kind = 0) AS status_ok,
    sumIf(p_status_warning, kind = 0) AS status_warning,
    sumIf(p_status_error, kind = 0) AS status_error,
    sumIf(p_status_offline, kind = 0) AS status_offline,
    uniqExactIf(user_id, kind = 1) AS unique_users,
    sumIf(p_anomaly_events, kind = 0) AS anomaly_events,
    sumIf(p_late_events, kind = 0) AS late_events,
    tupleElement(sumMap(p_metric_sketch_keys, p_metric_sketch_counts), 1) AS metric_sketch_keys,
    tupleElement(sumMap(p_metric_sketch_keys, p_metric_sketch_counts), 2) AS metric_sketch_counts,
    tupleElement(sumMap(p_temperature_sketch_keys, p_temperature_sketch_counts), 1) AS temperature_sketch_keys,
    tupleElement(sumMap(p_temperature_sketch_keys, p_temperature_sketch_counts), 2) AS temperature_sketch_counts,
    countIf(kind = 0) AS source_partitions,
    minIf(p_is_final, kind = 0) AS is_final,
    maxIf(p_updated_at, kind = 0) AS updated_at,
    maxIf(p_updated_at_ms, kind = 0) AS updated_at_ms,
    sumIf(p_newest_version + 1, kind = 0) AS state_version
FROM
(
    SELECT
        window_start,
        toUInt8(0) AS kind,
        argMax(total_events, row_version) AS p_total_events,
        argMax(metric_sum, row_version) AS p_metric_sum,
        argMax(metric_min, row_version) AS p_metric_min,
        argMax(metric_max, row_version) AS p_metric_max,
        argMax(temperature_sum, row_version) AS p_temperature_sum,
        argMax(temperature_min, row_version) AS p_temperature_min,
        argMax(temperature_max, row_version) AS p_temperature_max,
        argMax(status_ok, row_version) AS p_status_ok,
        argMax(status_warning, row_version) AS p_status_warning,
        argMax(status_error, row_version) AS p_status_error,
        argMax(status_offline, row_version) AS p_status_offline,
        argMax(anomaly_events, row_version) AS p_anomaly_events,
        argMax(late_events, row_version) AS p_late_events,
        argMax(metric_sketch_keys, row_version) AS p_metric_sketch_keys,
        argMax(metric_sketch_counts, row_version) AS p_metric_sketch_counts,
        argMax(temperature_sketch_keys, row_version) AS p_temperature_sketch_keys,
        argMax(temperature_sketch_counts, row_version) AS p_temperature_sketch_counts,
        argMax(is_final, row_version) AS p_is_final,
        argMax(updated_at, row_version) AS p_updated_at,
        argMax(updated_at_ms, row_version) AS p_updated_at_ms,
        max(row_version) AS p_newest_version,
        '' AS user_id
    FROM stream_analytics.iot_window_agg_state
    WHERE device_id = ''
    GROUP BY window_start, source_topic, source_partition
    UNION ALL
    SELECT
        window_start,
        toUInt8(1) AS kind,
        toUInt64(0) AS p_total_events,
        toFloat64(0) AS p_metric_sum,
        toFloat64(0) AS p_metric_min,
        toFloat64(0) AS p_metric_max,
        toFloat64(0) AS p_temperature_sum,
        toFloat64(0) AS p_temperature_min,
        toFloat64(0) AS p_temperature_max,
        toUInt64(0) AS p_status_ok,
        toUInt64(0) AS p_status_warning,
        toUInt64(0) AS p_status_error,
        toUInt64(0) AS p_status_offline,
        toUInt64(0) AS p_anomaly_events,
        toUInt64(0) AS p_late_events,
        emptyArrayInt32() AS p_metric_sketch_keys,
        emptyArrayUInt64() AS p_metric_sketch_counts,
        emptyArrayInt32() AS p_temperature_sketch_keys,
        emptyArrayUInt64() AS p_temperature_sketch_counts,
        toUInt8(0) AS p_is_final,
        toDateTime(0, 'UTC') AS p_updated_at,
        toUInt64(0) AS p_updated_at_ms,
        toUInt64(0) AS p_newest_version,
        user_id
    FROM stream_analytics.iot_window_users
)
GROUP BY window_start
HAVING source_partitions > 0;

-- DROP TABLE drops a view on every release (18.16 has no DROP VIEW).
DROP TABLE IF EXISTS stream_analytics.iot_minute_agg;

-- Reader contract: one exact row per window, no FINAL needed; the newest
-- result per window by (state_version, computed_at_ms) as in 007, with the
-- columns of this file after the original ones.
CREATE VIEW IF NOT EXISTS stream_analytics.iot_minute_agg AS
SELECT
    window_start,
    total_events,
    if(total_events = 0, 0, metric_sum / total_events) AS avg_metric,
    unique_users,
    anomaly_events,
    updated_at,
    updated_at_ms,
    metric_sum,
    source_partitions,
    is_final,
    late_events,
    min_metric,
    max_metric,
    if(total_events = 0, 0, temperature_sum / total_events) AS avg_temperature,
    min_temperature,
    max_temperature,
    status_ok,
    status_warning,
    status_error,
    status_offline,
    temperature_sum,
    p50_metric,
    p95_metric,
    p99_metric,
    p95_temperature,
    metric_sketch_keys,
    metric_sketch_counts,
    temperature_sketch_keys,
    temperature_sketch_counts
FROM
(
    SELECT
        window_start,
        argMax(total_events, (state_version, computed_at_ms)) AS total_events,
        argMax(metric_sum, (state_version, computed_at_ms)) AS metric_sum,
        argMax(unique_users, (state_version, computed_at_ms)) AS unique_users,
        argMax(anomaly_events, (state_version, computed_at_ms)) AS anomaly_events,
        argMax(updated_at, (state_version, computed_at_ms)) AS updated_at,
        argMax(updated_at_ms, (state_version, computed_at_ms)) AS updated_at_ms,
        argMax(source_partitions, (state_version, computed_at_ms)) AS source_partitions,
        argMax(is_final, (state_version, computed_at_ms)) AS is_final,
        argMax(late_events, (state_version, computed_at_ms)) AS late_events,
        argMax(min_metric, (state_version, computed_at_ms)) AS min_metric,
        argMax(max_metric, (state_version, computed_at_ms)) AS max_metric,
        argMax(temperature_sum, (state_version, computed_at_ms)) AS temperature_sum,
        argMax(min_temperature, (state_version, computed_at_ms)) AS min_temperature,
        argMax(max_temperature, (state_version, computed_at_ms)) AS max_temperature,
        argMax(status_ok, (state_version, computed_at_ms)) AS status_ok,
        argMax(status_warning, (state_version, computed_at_ms)) AS status_warning,
        argMax(status_error, (state_version, computed_at_ms)) AS status_error,
        argMax(status_offline, (state_version, computed_at_ms)) AS status_offline,
        argMax(p50_metric, (state_version, computed_at_ms)) AS p50_metric,
        argMax(p95_metric, (state_version, computed_at_ms)) AS p95_metric,
        argMax(p99_metric, (state_version, computed_at_ms)) AS p99_metric,
        argMax(p95_temperature, (state_version, computed_at_ms)) AS p95_temperature,
        argMax(metric_sketch_keys, (state_version, computed_at_ms)) AS metric_sketch_keys,
        argMax(metric_sketch_counts, (state_version, computed_at_ms)) AS metric_sketch_counts,
        argMax(temperature_sketch_keys, (state_version, computed_at_ms)) AS temperature_sketch_keys,
        argMax(temperature_sketch_counts, (state_version, computed_at_ms)) AS temperature_sketch_counts
    FROM stream_analytics.iot_minute_results
    GROUP BY window_start
);

CREATE TABLE IF NOT EXISTS stream_analytics.iot_device_minute_results
(
    window_start DateTime('UTC'),
    device_id String,
    total_events UInt64,
    metric_sum Float64,
    min_metric Float64,
    max_metric Float64,
    temperature_sum Float64,
    min_temperature Float64,
    max_temperature Float64,
    status_ok UInt64,
    status_warning UInt64,
    status_error UInt64,
    status_offline UInt64,
    anomaly_events UInt64,
    late_events UInt64,
    metric_sketch_keys Array(Int32),
    metric_sketch_counts Array(UInt64),
    temperature_sketch_keys Array(Int32),
    temperature_sketch_counts Array(UInt64),
    p50_metric Float64,
    p95_metric Float64,
    p99_metric Float64,
    p95_temperature Float64,
    last_event_time_ms Int64,
    first_seen_ms Int64,
    last_seen_ms Int64,
    last_status String,
    last_temperature Float64,
    source_partitions UInt64,
    updated_at_ms UInt64,
    state_version UInt64,
    computed_at_ms UInt64
)
ENGINE = ReplacingMergeTree(state_version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (device_id, window_start);

DROP TABLE IF EXISTS stream_analytics.iot_device_minute_merged;

-- A (window, device) result: the newest row of each (topic, partition) the
-- device's events came on, summed. state_version as in 007: the sum over
-- those rows of (newest row_version + 1). The last reading is the one that
-- arrived last (ties: by status order, then temperature, as fold.ts merges).
CREATE VIEW IF NOT EXISTS stream_analytics.iot_device_minute_merged AS
SELECT
    window_start,
    device_id,
    sum(p_total_events) AS total_events,
    sum(p_metric_sum) AS metric_sum,
    min(p_metric_min) AS min_metric,
    max(p_metric_max) AS max_metric,
    sum(p_temperature_sum) AS temperature_sum,
    min(p_temperature_min) AS min_temperature,
    max(p_temperature_max) AS max_temperature,
    sum(p_status_ok) AS status_ok,
    sum(p_status_warning) AS status_warning,
    sum(p_status_error) AS status_error,
    sum(p_status_offline) AS status_offline,
    sum(p_anomaly_events) AS anomaly_events,
    sum(p_late_events) AS late_events,
    tupleElement(sumMap(p_metric_sketch_keys, p_metric_sketch_counts), 1) AS metric_sketch_keys,
    tupleElement(sumMap(p_metric_sketch_keys, p_metric_sketch_counts), 2) AS metric_sketch_counts,
    tupleElement(sumMap(p_temperature_sketch_keys, p_temperature_sketch_counts), 1) AS temperature_sketch_keys,
    tupleElement(sumMap(p_temperature_sketch_keys, p_temperature_sketch_counts), 2) AS temperature_sketch_counts,
    max(p_last_event_time_ms) AS last_event_time_ms,
    min(p_first_seen_ms) AS first_seen_ms,
    max(p_last_seen_ms) AS last_seen_ms,
    argMax(p_last_status, (p_last_seen_ms, indexOf(['ok', 'warning', 'error', 'offline'], p_last_status), p_last_temperature)) AS last_status,
    argMax(p_last_temperature, (p_last_seen_ms, indexOf(['ok', 'warning', 'error', 'offline'], p_last_status), p_last_temperature)) AS last_temperature,
    count() AS source_partitions,
    max(p_updated_at_ms) AS updated_at_ms,
    sum(p_newest_version + 1) AS state_version
FROM
(
    SELECT
        window_start,
        device_id,
        argMax(total_events, row_version) AS p_total_events,
        argMax(metric_sum, row_version) AS p_metric_sum,
        argMax(metric_min, row_version) AS p_metric_min,
        argMax(metric_max, row_version) AS p_metric_max,
        argMax(temperature_sum, row_version) AS p_temperature_sum,
        argMax(temperature_min, row_version) AS p_temperature_min,
        argMax(temperature_max, row_version) AS p_temperature_max,
        argMax(status_ok, row_version) AS p_status_ok,
        argMax(status_warning, row_version) AS p_status_warning,
        argMax(status_error, row_version) AS p_status_error,
        argMax(status_offline, row_version) AS p_status_offline,
        argMax(anomaly_events, row_version) AS p_anomaly_events,
        argMax(late_events, row_version) AS p_late_events,
        argMax(metric_sketch_keys, row_version) AS p_metric_sketch_keys,
        argMax(metric_sketch_counts, row_version) AS p_metric_sketch_counts,
        argMax(temperature_sketch_keys, row_version) AS p_temperature_sketch_keys,
        argMax(temperature_sketch_counts, row_version) AS p_temperature_sketch_counts,
        argMax(last_event_time_ms, row_version) AS p_last_event_time_ms,
        argMax(first_seen_ms, row_version) AS p_first_seen_ms,
        argMax(last_seen_ms, row_version) AS p_last_seen_ms,
        argMax(last_status, row_version) AS p_last_status,
        argMax(last_temperature, row_version) AS p_last_temperature,
        argMax(updated_at_ms, row_version) AS p_updated_at_ms,
        max(row_version) AS p_newest_version
    FROM stream_analytics.iot_window_agg_state
    WHERE device_id != ''
    GROUP BY window_start, device_id, source_topic, source_partition
)
GROUP BY window_start, device_id;

DROP TABLE IF EXISTS stream_analytics.iot_device_minute;

-- Per-device reader contract: one exact row per (window, device), no FINAL
-- needed: the newest result by (state_version, computed_at_ms). Filter by
-- device_id (the results' key starts with it) and window_start.
CREATE VIEW IF NOT EXISTS stream_analytics.iot_device_minute AS
SELECT
    window_start,
    device_id,
    total_events,
    if(total_events = 0, 0, metric_sum / total_events) AS avg_metric,
    min_metric,
    max_metric,
    if(total_events = 0, 0, temperature_sum / total_events) AS avg_temperature,
    min_temperature,
    max_temperature,
    status_ok,
    status_warning,
    status_error,
    status_offline,
    anomaly_events,
    late_events,
    toDateTime(intDiv(last_event_time_ms, 1000), 'UTC') AS last_event_time,
    last_event_time_ms,
    metric_sum,
    temperature_sum,
    p50_metric,
    p95_metric,
    p99_metric,
    p95_temperature,
    first_seen_ms,
    last_seen_ms,
    last_status,
    last_temperature,
    source_partitions,
    updated_at_ms,
    metric_sketch_keys,
    metric_sketch_counts,
    temperature_sketch_keys,
    temperature_sketch_counts
FROM
(
    SELECT
        window_start,
        device_id,
        argMax(total_events, (state_version, computed_at_ms)) AS total_events,
        argMax(metric_sum, (state_version, computed_at_ms)) AS metric_sum,
        argMax(min_metric, (state_version, computed_at_ms)) AS min_metric,
        argMax(max_metric, (state_version, computed_at_ms)) AS max_metric,
        argMax(temperature_sum, (state_version, computed_at_ms)) AS temperature_sum,
        argMax(min_temperature, (state_version, computed_at_ms)) AS min_temperature,
        argMax(max_temperature, (state_version, computed_at_ms)) AS max_temperature,
        argMax(status_ok, (state_version, computed_at_ms)) AS status_ok,
        argMax(status_warning, (state_version, computed_at_ms)) AS status_warning,
        argMax(status_error, (state_version, computed_at_ms)) AS status_error,
        argMax(status_offline, (state_version, computed_at_ms)) AS status_offline,
        argMax(anomaly_events, (state_version, computed_at_ms)) AS anomaly_events,
        argMax(late_events, (state_version, computed_at_ms)) AS late_events,
        argMax(last_event_time_ms, (state_version, computed_at_ms)) AS last_event_time_ms,
        argMax(p50_metric, (state_version, computed_at_ms)) AS p50_metric,
        argMax(p95_metric, (state_version, computed_at_ms)) AS p95_metric,
        argMax(p99_metric, (state_version, computed_at_ms)) AS p99_metric,
        argMax(p95_temperature, (state_version, computed_at_ms)) AS p95_temperature,
        argMax(first_seen_ms, (state_version, computed_at_ms)) AS first_seen_ms,
        argMax(last_seen_ms, (state_version, computed_at_ms)) AS last_seen_ms,
        argMax(last_status, (state_version, computed_at_ms)) AS last_status,
        argMax(last_temperature, (state_version, computed_at_ms)) AS last_temperature,
        argMax(source_partitions, (state_version, computed_at_ms)) AS source_partitions,
        argMax(updated_at_ms, (state_version, computed_at_ms)) AS updated_at_ms,
        argMax(metric_sketch_keys, (state_version, computed_at_ms)) AS metric_sketch_keys,
        argMax(metric_sketch_counts, (state_version, computed_at_ms)) AS metric_sketch_counts,
        argMax(temperature_sketch_keys, (state_version, computed_at_ms)) AS temperature_sketch_keys,
        argMax(temperature_sketch_counts, (state_version, computed_at_ms)) AS temperature_sketch_counts
    FROM stream_analytics.iot_device_minute_results
    GROUP BY window_start, device_id
);
