-- Reader contract: one exact row per window, no FINAL needed.
--
-- Inner query: the newest row per (window_start, source_topic, source_partition) by
-- argMax over (version, is_final, updated_at_ms). Rows not yet collapsed by a
-- background merge are handled here, so the result is the same before and
-- after OPTIMIZE ... FINAL. Duplicate rows with the same version carry the
-- same content, so ties are harmless. An older version never wins.
--
-- Outer query: sums the per-partition counts and merges the per-partition
-- user arrays into one exact distinct set.
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
    min(p_is_final) AS is_final
FROM
(
    SELECT
        window_start,
        source_partition,
        argMax(total_events, (version, is_final, updated_at_ms)) AS p_total_events,
        argMax(metric_sum, (version, is_final, updated_at_ms)) AS p_metric_sum,
        argMax(users, (version, is_final, updated_at_ms)) AS p_users,
        argMax(anomaly_events, (version, is_final, updated_at_ms)) AS p_anomaly_events,
        argMax(is_final, (version, is_final, updated_at_ms)) AS p_is_final,
        argMax(updated_at, (version, is_final, updated_at_ms)) AS p_updated_at,
        argMax(updated_at_ms, (version, is_final, updated_at_ms)) AS p_updated_at_ms
    FROM stream_analytics.iot_window_partition_state
    GROUP BY window_start, source_topic, source_partition
)
GROUP BY window_start;
