-- Dead-letter counts per window for the dashboard. Each source message
-- (topic, partition, offset) counts once, however often it was recorded.
-- invalid_events: every reason except late_event. late_events: late_event.
CREATE VIEW IF NOT EXISTS stream_analytics.iot_minute_dead_letters AS
SELECT
    d_window_start AS window_start,
    countIf(d_reason != 'late_event') AS invalid_events,
    countIf(d_reason = 'late_event') AS late_events,
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
