-- Cumulative aggregate of one 1-minute event-time window as seen by one source
-- partition of a raw topic. The aggregator rewrites the whole row on every flush, and
-- version is the last source offset folded into it, so a rewrite is
-- idempotent and an older snapshot can never replace a newer one.
--
-- users holds the exact distinct user_ids of this partition and window,
-- sorted. Unique users are merged across partitions in the view
-- iot_minute_agg, exactly.
--
-- updated_at is second precision because DateTime64 does not exist on
-- ClickHouse 18.16. updated_at_ms carries the epoch milliseconds.
CREATE TABLE IF NOT EXISTS stream_analytics.iot_window_partition_state
(
    window_start DateTime('UTC'),
    source_topic String DEFAULT '',
    source_partition UInt16,
    total_events UInt64,
    metric_sum Float64,
    users Array(String),
    anomaly_events UInt64,
    version UInt64,
    is_final UInt8,
    updated_at DateTime('UTC'),
    updated_at_ms UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (window_start, source_topic, source_partition);
