-- The fleet-wide device tables within half a second at 100,000 devices:
--
--   iot_device_hourly    (view) dropped. It picked the newest rollup row per
--                        (hour, device) with argMax: 2.4 million groups for a
--                        day at 100,000 devices, 5-10 s on 18.16 whatever the
--                        columns read. Readers now read iot_device_hour FINAL
--                        (0.25 s for an hour's devices, 0.3-0.6 s for a day):
--                        18.16 does not push a filter into a view that reads
--                        FINAL, so a view would merge the whole table.
--   iot_device_recent    per device, its traffic over the last day as of a
--                        run of the aggregator's device rollup job (as_of_ms,
--                        that run's clock): events in the last hour and 24 h
--                        (minutes by event time starting within them) and its
--                        typical interval (the rule is device-health.ts's).
--                        Each run writes every device with rollup rows in the
--                        last 48 h as one block; readers take the newest run
--                        at or before their now
--                        (a device absent from it sent nothing for 48 h). One
--                        row per device once merged: device health reads 100,000
--                        rows instead of 4.8 million device hours and their
--                        minute arrays (seconds on 18.16).

DROP TABLE IF EXISTS stream_analytics.iot_device_hourly;

CREATE TABLE IF NOT EXISTS stream_analytics.iot_device_recent
(
    device_id String,
    events_last_hour UInt64,
    events_last_24h UInt64,
    typical_interval_ms Float64,
    as_of_ms UInt64
)
ENGINE = ReplacingMergeTree(as_of_ms)
ORDER BY device_id;
