-- Per-device minutes read from the device state rows themselves, so a flush's
-- cost grows with the devices it changed, not with the devices a window holds.
--
-- Until this file every flush recomputed the result of every device of each
-- window it touched (iot_device_minute_merged into iot_device_minute_results):
-- at 100,000 devices that re-read every version of every device row of the
-- window and re-wrote 100,000 result rows every 5 s, and a flush took longer
-- than the flush interval. Now:
--
--   iot_device_partition_minute      the device rows of iot_window_agg_state
--                                    (device_id != ''), copied on insert by the
--                                    materialized view below, ordered by device
--                                    first: a device's history is one index range
--   iot_device_partition_minute_copy (materialized view) that copy
--   iot_device_minute                (re-created) per-device reader contract: the
--                                    newest row of each (topic, partition) the
--                                    device's events came on, summed, at read time
--
-- The copy is part of the state write: the INSERT into iot_window_agg_state is
-- acknowledged after the view's INSERT, and a write that fails is written again
-- (rows are idempotent: ReplacingMergeTree keeps one row per key and version).
-- Quantiles are no longer stored per device: readers compute them from the
-- merged bins (clickhouse-sink results-sql.ts, the one definition of the SQL).

CREATE TABLE IF NOT EXISTS stream_analytics.iot_device_partition_minute
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
    row_version UInt64,
    updated_at_ms UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (device_id, window_start, source_topic, source_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_analytics.iot_device_partition_minute_copy
TO stream_analytics.iot_device_partition_minute
AS SELECT
    window_start, device_id, source_topic, source_partition, total_events, metric_sum, metric_min, metric_max,
    temperature_sum, temperature_min, temperature_max, status_ok, status_warning, status_error, status_offline,
    anomaly_events, late_events, metric_sketch_keys, metric_sketch_counts, temperature_sketch_keys, temperature_sketch_counts,
    last_event_time_ms, first_seen_ms, last_seen_ms, last_status, last_temperature, row_version, updated_at_ms
FROM stream_analytics.iot_window_agg_state
WHERE device_id != '';

-- The device rows written before this file. Rows the view copied meanwhile
-- come again with the same version: one of each survives.
INSERT INTO stream_analytics.iot_device_partition_minute
SELECT
    window_start, device_id, source_topic, source_partition, total_events, metric_sum, metric_min, metric_max,
    temperature_sum, temperature_min, temperature_max, status_ok, status_warning, status_error, status_offline,
    anomaly_events, late_events, metric_sketch_keys, metric_sketch_counts, temperature_sketch_keys, temperature_sketch_counts,
    last_event_time_ms, first_seen_ms, last_seen_ms, last_status, last_temperature, row_version, updated_at_ms
FROM stream_analytics.iot_window_agg_state
WHERE device_id != '';

DROP TABLE IF EXISTS stream_analytics.iot_device_minute;

-- Per-device reader contract: one exact row per (window, device), no FINAL
-- needed. Filter by device_id and window_start (the table's key starts with
-- them). The last reading is the one that arrived last (ties: by status order,
-- then temperature, as fold.ts merges).
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
        max(p_updated_at_ms) AS updated_at_ms
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
            argMax(updated_at_ms, row_version) AS p_updated_at_ms
        FROM stream_analytics.iot_device_partition_minute
        GROUP BY window_start, device_id, source_topic, source_partition
    )
    GROUP BY window_start, device_id
);

-- What every flush used to recompute; nothing reads them now.
DROP TABLE IF EXISTS stream_analytics.iot_device_minute_results;
DROP TABLE IF EXISTS stream_analytics.iot_device_minute_merged;
