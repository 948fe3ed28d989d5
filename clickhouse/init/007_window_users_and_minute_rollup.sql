-- Reads that stay fast over a month, and unique users at high cardinality.
--
-- Before this file every flush rewrote each open window's whole user array in
-- iot_window_state (about 13 versions a minute), and every read of
-- iot_minute_agg merged those arrays again for the whole range it covered. Now:
--
--   iot_window_users   the exact set of user_ids of each window, as rows. The
--                      aggregator writes only the users it has not written for
--                      the (window, partition) yet; a set union is idempotent,
--                      so replays and rebalances may write a user again.
--   iot_minute_merged  (view) the definition of a window's result, computed
--                      from the state rows and the users rows.
--   iot_minute_rollup  that result materialized, one row per window version:
--                      after writing a flush, the aggregator inserts the
--                      merged rows of the windows it wrote (before committing).
--   iot_minute_agg     (reader contract) the newest rollup row per window.
--
-- users in iot_window_state is no longer written (it defaults to []); the
-- column stays because 18.16 cannot drop a column idempotently.

CREATE TABLE IF NOT EXISTS stream_analytics.iot_window_users
(
    window_start DateTime('UTC'),
    user_id String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, user_id);

-- The users of rows written before this file (cumulative arrays: the union over
-- all versions is the newest version's set).
INSERT INTO stream_analytics.iot_window_users
SELECT window_start, user_id
FROM stream_analytics.iot_window_state
ARRAY JOIN users AS user_id
GROUP BY window_start, user_id;

-- state_version orders a window's results: the sum over its (topic, partition)
-- rows of (newest row_version + 1). Every new state row raises it, and a result
-- computed after the newest row of every partition was written has a strictly
-- greater state_version than any result computed from an older row of one of
-- them, so the complete result wins (the + 1 makes a present partition count
-- even at row_version 0).
CREATE TABLE IF NOT EXISTS stream_analytics.iot_minute_rollup
(
    window_start DateTime('UTC'),
    total_events UInt64,
    metric_sum Float64,
    unique_users UInt64,
    anomaly_events UInt64,
    late_events UInt64,
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

-- The one definition of a window's result. Inner query: the newest row per
-- (window_start, source_topic, source_partition) by argMax over row_version,
-- and the window's users rows beside them (UNION ALL, told apart by `kind`);
-- outer: summed per window, with the exact distinct count of the window's
-- users; a window with users but no state row yet has no result. Read it with
-- a window_start filter (and enable_optimize_predicate_expression = 1 on
-- 18.16) so both tables are read for those windows only. Not a JOIN: current
-- releases require aliases on joined subqueries, and with aliases 18.16 no
-- longer pushes the filter into the joined side (it would read every user of
-- every window on each refresh).
CREATE VIEW IF NOT EXISTS stream_analytics.iot_minute_merged AS
SELECT
    window_start,
    sumIf(p_total_events, kind = 0) AS total_events,
    sumIf(p_metric_sum, kind = 0) AS metric_sum,
    uniqExactIf(user_id, kind = 1) AS unique_users,
    sumIf(p_anomaly_events, kind = 0) AS anomaly_events,
    sumIf(p_late_events, kind = 0) AS late_events,
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
        argMax(anomaly_events, row_version) AS p_anomaly_events,
        argMax(late_events, row_version) AS p_late_events,
        argMax(is_final, row_version) AS p_is_final,
        argMax(updated_at, row_version) AS p_updated_at,
        argMax(updated_at_ms, row_version) AS p_updated_at_ms,
        max(row_version) AS p_newest_version,
        '' AS user_id
    FROM stream_analytics.iot_window_state
    GROUP BY window_start, source_topic, source_partition
    UNION ALL
    SELECT
        window_start,
        toUInt8(1) AS kind,
        toUInt64(0) AS p_total_events,
        toFloat64(0) AS p_metric_sum,
        toUInt64(0) AS p_anomaly_events,
        toUInt64(0) AS p_late_events,
        toUInt8(0) AS p_is_final,
        toDateTime(0, 'UTC') AS p_updated_at,
        toUInt64(0) AS p_updated_at_ms,
        toUInt64(0) AS p_newest_version,
        user_id
    FROM stream_analytics.iot_window_users
)
GROUP BY window_start
HAVING source_partitions > 0;

-- Results of the windows written before this file.
INSERT INTO stream_analytics.iot_minute_rollup
SELECT window_start, total_events, metric_sum, unique_users, anomaly_events, late_events, source_partitions, is_final,
       updated_at, updated_at_ms, state_version, toUInt64(0) AS computed_at_ms
FROM stream_analytics.iot_minute_merged;

-- DROP TABLE drops a view on every release (18.16 has no DROP VIEW).
DROP TABLE IF EXISTS stream_analytics.iot_minute_agg;

-- Reader contract: one exact row per window, no FINAL needed. The newest
-- result per window by state_version (then by when it was computed: a result
-- computed later saw at least the users of an earlier one). Rows not yet
-- collapsed by a background merge are handled here, so the result is the same
-- before and after OPTIMIZE ... FINAL. One row per window version, so a month
-- of windows is tens of thousands of rows whatever the number of users.
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
    late_events
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
        argMax(late_events, (state_version, computed_at_ms)) AS late_events
    FROM stream_analytics.iot_minute_rollup
    GROUP BY window_start
);

-- Dead letters partitioned by day, so that retention drops whole days, and
-- ordered by window_start first, so that counting a few minutes reads only
-- their rows. Every record of one source message has the same window_start
-- (the minute the aggregator judged it in), so the records of a message still
-- collapse into one.
CREATE TABLE IF NOT EXISTS stream_analytics.dead_letters
(
    source_topic String,
    source_partition UInt16,
    source_offset UInt64,
    window_start DateTime('UTC'),
    reason String,
    device_id String,
    recorded_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(recorded_at)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, source_topic, source_partition, source_offset);

-- Rows recorded before this file (re-recording a message collapses, so a copy
-- made twice counts once).
INSERT INTO stream_analytics.dead_letters
SELECT source_topic, source_partition, source_offset, window_start, reason, device_id, recorded_at
FROM stream_analytics.dead_letter_events;

DROP TABLE IF EXISTS stream_analytics.iot_minute_dead_letters;

-- Dead-letter counts per window, as in 006, over the daily table.
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
    FROM stream_analytics.dead_letters
    GROUP BY source_topic, source_partition, source_offset
)
GROUP BY d_window_start;
