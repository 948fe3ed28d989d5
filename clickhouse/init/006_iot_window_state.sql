-- Durable window state: the newest cumulative row of each (window, source topic,
-- source partition). The aggregator folds late events into these rows (it reads a
-- row back when the window is no longer in its memory), so they must order
-- exactly as the windowing engine orders them: row_version = last_offset * 2 +
-- is_final (rowVersionOf in libs/windowing), i.e. a higher last offset wins and
-- at the same last offset the final row outranks the partial one. The table
-- keeps the row with the highest row_version, and the views below pick it with
-- argMax over the same column, so there is one order everywhere.
--
-- late_events: events folded in after the partition's watermark had passed the
-- window's end (counted late, within ALLOWED_LATENESS_SECS).
CREATE TABLE IF NOT EXISTS stream_analytics.iot_window_state
(
    window_start DateTime('UTC'),
    source_topic String,
    source_partition UInt16,
    total_events UInt64,
    metric_sum Float64,
    users Array(String),
    anomaly_events UInt64,
    late_events UInt64,
    last_offset UInt64,
    is_final UInt8,
    row_version UInt64,
    updated_at DateTime('UTC'),
    updated_at_ms UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, source_topic, source_partition);

-- Rows written by earlier releases become state rows with the same order
-- (once: only into an empty table, so re-applying the file copies nothing).
INSERT INTO stream_analytics.iot_window_state
SELECT window_start, source_topic, source_partition, total_events, metric_sum, users, anomaly_events,
       toUInt64(0) AS late_events, version AS last_offset, is_final, version * 2 + is_final AS row_version, updated_at, updated_at_ms
FROM stream_analytics.iot_window_partition_state
WHERE (SELECT count() FROM stream_analytics.iot_window_state) = 0;

-- DROP TABLE drops a view on every release (18.16 has no DROP VIEW).
DROP TABLE IF EXISTS stream_analytics.iot_minute_agg;

-- Reader contract: one exact row per window, no FINAL needed.
--
-- Inner query: the newest row per (window_start, source_topic, source_partition)
-- by argMax over row_version. Rows not yet collapsed by a background merge are
-- handled here, so the result is the same before and after OPTIMIZE ... FINAL.
-- Rows with the same row_version carry the same counts, so ties are harmless.
--
-- Outer query: sums the per-partition counts and merges the per-partition user
-- arrays into one exact distinct set. is_final: every contributing partition's
-- watermark has passed the window's end (late events may still revise it).
CREATE VIEW IF NOT EXISTS stream_analytics.iot_minute_agg AS
SELECT
    window_start,
    sum(p_total_events) AS total_events,
    if(sum(p_total_events) = 0, 0, sum(p_metric_sum) / sum(p_total_events)) AS avg_metric,
    length(groupUniqArrayArray(p_users)) AS unique_users,
    sum(p_anomaly_events) AS anomaly_events,
    max(p_updated_at) AS updated_at,
    max(p_updated_at_ms) AS updated_at_ms,
    sum(p_metric_sum) AS metric_sum,
    count() AS source_partitions,
    min(p_is_final) AS is_final,
    sum(p_late_events) AS late_events
FROM
(
    SELECT
        window_start,
        source_partition,
        argMax(total_events, row_version) AS p_total_events,
        argMax(metric_sum, row_version) AS p_metric_sum,
        argMax(users, row_version) AS p_users,
        argMax(anomaly_events, row_version) AS p_anomaly_events,
        argMax(late_events, row_version) AS p_late_events,
        argMax(is_final, row_version) AS p_is_final,
        argMax(updated_at, row_version) AS p_updated_at,
        argMax(updated_at_ms, row_version) AS p_updated_at_ms
    FROM stream_analytics.iot_window_state
    GROUP BY window_start, source_topic, source_partition
)
GROUP BY window_start;

DROP TABLE IF EXISTS stream_analytics.iot_minute_dead_letters;

-- Dead-letter counts per window for the dashboard. Each source message (topic,
-- partition, offset) counts once, however often it was recorded.
-- invalid_events: malformed or schema-violating messages; late_events: valid
-- events beyond the lateness horizon (late_event); future_events: valid events
-- too far ahead of their record timestamp (future_event_time). Late events
-- that were counted are in iot_minute_agg.late_events, not here.
CREATE VIEW IF NOT EXISTS stream_analytics.iot_minute_dead_letters AS
SELECT
    d_window_start AS window_start,
    countIf(d_reason NOT IN ('late_event', 'future_event_time')) AS invalid_events,
    countIf(d_reason = 'late_event') AS late_events,
    countIf(d_reason = 'future_event_time') AS future_events,
    count() AS dead_letter_events
FROM
(
    SELECT
        source_topic,
        source_partition,
        source_offset,
        argMax(window_start, (recorded_at, reason, window_start)) AS d_window_start,
        argMax(reason, (recorded_at, reason, window_start)) AS d_reason
    FROM stream_analytics.dead_letter_events
    GROUP BY source_topic, source_partition, source_offset
)
GROUP BY d_window_start;
