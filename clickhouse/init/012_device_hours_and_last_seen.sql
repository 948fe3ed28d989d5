-- What the fleet-wide device views read at 100,000 devices without scanning
-- every device minute:
--
--   iot_device_last_seen        per device, its last arrival (Kafka record
--                               timestamp) and the status and temperature of
--                               that event (one row per device ever seen: the
--                               readers keep those within the retention); kept
--                               by the materialized view
--                               below from every device row inserted into
--                               iot_window_agg_state. max and argMax are
--                               idempotent, so rows written again (a replay,
--                               a retried flush, a newer version) change
--                               nothing: exact with no versions to pick.
--   iot_device_last_seen_copy   (materialized view) that aggregation
--   iot_device_hour             per (hour, device), window_start the hour's start
--                               (the column every table under retention expires
--                               by): the device's minutes of
--                               that hour summed (events, anomalies, statuses,
--                               late events, first and last arrival) and its
--                               events per minute of the hour; written by the
--                               aggregator's device rollup job from
--                               iot_device_minute for every hour whose
--                               results changed, versioned by computed_at_ms
--   iot_device_hourly           (view) the newest row per (hour, device)
--
-- The tie rule of the last reading is fold.ts's, as in iot_device_minute:
-- the later arrival, then the status order, then the temperature.

CREATE TABLE IF NOT EXISTS stream_analytics.iot_device_last_seen
(
    device_id String,
    last_seen_state AggregateFunction(max, Int64),
    last_status_state AggregateFunction(argMax, String, Tuple(Int64, UInt64, Float64)),
    last_temperature_state AggregateFunction(argMax, Float64, Tuple(Int64, UInt64, Float64))
)
ENGINE = AggregatingMergeTree()
ORDER BY device_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_analytics.iot_device_last_seen_copy
TO stream_analytics.iot_device_last_seen
AS SELECT
    device_id,
    maxState(last_seen_ms) AS last_seen_state,
    argMaxState(last_status, (last_seen_ms, toUInt64(indexOf(['ok', 'warning', 'error', 'offline'], last_status)), last_temperature)) AS last_status_state,
    argMaxState(last_temperature, (last_seen_ms, toUInt64(indexOf(['ok', 'warning', 'error', 'offline'], last_status)), last_temperature)) AS last_temperature_state
FROM stream_analytics.iot_window_agg_state
WHERE device_id != ''
GROUP BY device_id;

-- The devices of the rows written before this file (rows the view folded
-- meanwhile change nothing: max and argMax are idempotent).
INSERT INTO stream_analytics.iot_device_last_seen
SELECT
    device_id,
    maxState(last_seen_ms),
    argMaxState(last_status, (last_seen_ms, toUInt64(indexOf(['ok', 'warning', 'error', 'offline'], last_status)), last_temperature)),
    argMaxState(last_temperature, (last_seen_ms, toUInt64(indexOf(['ok', 'warning', 'error', 'offline'], last_status)), last_temperature))
FROM stream_analytics.iot_window_agg_state
WHERE device_id != ''
GROUP BY device_id;

CREATE TABLE IF NOT EXISTS stream_analytics.iot_device_hour
(
    window_start DateTime('UTC'),
    device_id String,
    total_events UInt64,
    anomaly_events UInt64,
    status_ok UInt64,
    status_warning UInt64,
    status_error UInt64,
    status_offline UInt64,
    late_events UInt64,
    first_seen_ms Int64,
    last_seen_ms Int64,
    minute_events Array(UInt64),
    computed_at_ms UInt64
)
ENGINE = ReplacingMergeTree(computed_at_ms)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, device_id);

-- Per (hour, device): the newest rollup. Filter by window_start (the key starts with it).
CREATE VIEW IF NOT EXISTS stream_analytics.iot_device_hourly AS
SELECT
    window_start,
    device_id,
    argMax(total_events, computed_at_ms) AS total_events,
    argMax(anomaly_events, computed_at_ms) AS anomaly_events,
    argMax(status_ok, computed_at_ms) AS status_ok,
    argMax(status_warning, computed_at_ms) AS status_warning,
    argMax(status_error, computed_at_ms) AS status_error,
    argMax(status_offline, computed_at_ms) AS status_offline,
    argMax(late_events, computed_at_ms) AS late_events,
    argMax(first_seen_ms, computed_at_ms) AS first_seen_ms,
    argMax(last_seen_ms, computed_at_ms) AS last_seen_ms,
    argMax(minute_events, computed_at_ms) AS minute_events,
    max(computed_at_ms) AS newest_computed_at_ms
FROM stream_analytics.iot_device_hour
GROUP BY window_start, device_id;
