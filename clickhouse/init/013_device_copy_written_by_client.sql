-- The device copy (iot_device_partition_minute) is written by the writer
-- itself, before the state rows, instead of by a materialized view on
-- iot_window_agg_state; iot_device_last_seen is folded from the copy.
--
-- Why: a view runs inside the INSERT into its source, after the source's part
-- is committed. When that INSERT fails afterwards (on 18.16 a quorum insert
-- that times out waiting for its quorum answers 319 "unknown status" with its
-- part committed; a server killed mid-insert), the state rows are in
-- iot_window_agg_state but not in the copy. Written again, they would reach
-- it, but nothing writes them again: a repeat that 18.16 deduplicated skips
-- the views, and a restarted aggregator loads the state it finds and does not
-- write it again. Seen on the replicated profile: stale device minutes on
-- every replica after the replica in use was killed.
--
-- Now the writer inserts the device rows into the copy first and the state
-- rows after (clickhouse-sink writer.ts), each INSERT acknowledged with the
-- same retry, quorum and failover, all before the offsets are committed: a
-- device row in the state table is always in the copy. Inserts are never
-- deduplicated (insert_deduplicate=0), so an INSERT into the copy that failed
-- after its part was committed is stored again, through the view below.
--
--   iot_device_last_seen_from_copy  (materialized view) per device, max and
--                                   argMax states of every row inserted into
--                                   the copy (idempotent, as before)
--
-- Deploy with the aggregator release that writes the copy: an older
-- aggregator still running writes no copy once the view is gone.

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_analytics.iot_device_last_seen_from_copy
TO stream_analytics.iot_device_last_seen
AS SELECT
    device_id,
    maxState(last_seen_ms) AS last_seen_state,
    argMaxState(last_status, (last_seen_ms, toUInt64(indexOf(['ok', 'warning', 'error', 'offline'], last_status)), last_temperature)) AS last_status_state,
    argMaxState(last_temperature, (last_seen_ms, toUInt64(indexOf(['ok', 'warning', 'error', 'offline'], last_status)), last_temperature)) AS last_temperature_state
FROM stream_analytics.iot_device_partition_minute
GROUP BY device_id;

DROP TABLE IF EXISTS stream_analytics.iot_device_last_seen_copy;

DROP TABLE IF EXISTS stream_analytics.iot_device_partition_minute_copy;

-- The device rows the view missed before this file, copied once (rows the
-- copy holds already come again with the same version: one of each
-- survives); through the view above they reach iot_device_last_seen too.
INSERT INTO stream_analytics.iot_device_partition_minute
SELECT
    window_start, device_id, source_topic, source_partition, total_events, metric_sum, metric_min, metric_max,
    temperature_sum, temperature_min, temperature_max, status_ok, status_warning, status_error, status_offline,
    anomaly_events, late_events, metric_sketch_keys, metric_sketch_counts, temperature_sketch_keys, temperature_sketch_counts,
    last_event_time_ms, first_seen_ms, last_seen_ms, last_status, last_temperature, row_version, updated_at_ms
FROM stream_analytics.iot_window_agg_state
WHERE device_id != '';
