-- One row per dead-lettered source message, keyed by its source position, so
-- re-recording the same message (replays, retries after a lost response)
-- collapses to one row and the view below counts it once.
--
-- window_start: the event-time window for late events, the minute of the
-- Kafka timestamp for malformed ones.
-- reason: machine-readable code such as late_event or invalid_json. It is a
-- plain String because LowCardinality is experimental (disabled) on 18.16.
-- device_id is empty when it could not be read from the message.
CREATE TABLE IF NOT EXISTS stream_analytics.dead_letter_events
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
PARTITION BY toYYYYMM(window_start)
ORDER BY (source_topic, source_partition, source_offset);
