/**
 * Names fixed by the schema in clickhouse/init/*.sql. The SQL files name the
 * database literally (the stack tool runs them verbatim), so it is a constant
 * here too rather than a configuration value.
 */
export const DATABASE = 'stream_analytics';

export const TABLES = {
  /**
   * Durable window state, one row per (window, device, topic, partition)
   * version; device_id '' is the fleet's row of the (window, partition) (010).
   */
  windowState: `${DATABASE}.iot_window_agg_state`,
  /** The fleet state rows of earlier releases (006); copied into windowState by 010, no longer written. */
  legacyWindowState: `${DATABASE}.iot_window_state`,
  /** The users of each window, one row per (window, user) once merged (007). */
  windowUsers: `${DATABASE}.iot_window_users`,
  /** View: a window's result computed from the fleet state rows and the users rows (010). */
  minuteMerged: `${DATABASE}.iot_minute_results_merged`,
  /** That result materialized after every flush, one row per window version (010). */
  minuteRollup: `${DATABASE}.iot_minute_results`,
  /** The results of earlier releases (007); copied into minuteRollup by 010, no longer written. */
  legacyMinuteRollup: `${DATABASE}.iot_minute_rollup`,
  /** The device rows of windowState, ordered by device first (011), inserted by the writer before the state rows (013). */
  devicePartitionMinute: `${DATABASE}.iot_device_partition_minute`,
  /** Per-device reader contract: per (window, device), the newest row of each partition summed (011). */
  deviceMinute: `${DATABASE}.iot_device_minute`,
  /** Per device: last arrival and its status and temperature (012), kept by a materialized view on devicePartitionMinute (013). */
  deviceLastSeen: `${DATABASE}.iot_device_last_seen`,
  /** Per (hour, device): the device's minutes summed, written by the device rollup (012); read as DEVICE_HOURS_NEWEST. */
  deviceHour: `${DATABASE}.iot_device_hour`,
  /** Per device: events in the last hour and 24 h and typical interval, as of a device rollup run (014). */
  deviceRecent: `${DATABASE}.iot_device_recent`,
  /** View: per device, last seen (by arrival), typical interval, silent (created by ensureDeviceHealthView). */
  deviceHealth: `${DATABASE}.iot_device_health`,
  /** Reader contract: the newest rollup row per window. */
  minuteAgg: `${DATABASE}.iot_minute_agg`,
  /** Dead letters, partitioned by day (007; replaces dead_letter_events). */
  deadLetters: `${DATABASE}.dead_letters`,
  /** Dead letters of earlier releases, partitioned by month (004); dropped by 009. */
  deadLetterEvents: `${DATABASE}.dead_letter_events`,
  /** View: a minute's dead-letter counts computed from dead_letters (008). */
  minuteDeadLettersMerged: `${DATABASE}.iot_minute_dead_letters_merged`,
  /** Those counts materialized after every flush that wrote dead letters (008). */
  minuteDeadLetterRollup: `${DATABASE}.iot_minute_dead_letter_rollup`,
  /** Dead-letter counts per minute for readers: the newest rollup row per minute. */
  minuteDeadLetters: `${DATABASE}.iot_minute_dead_letters`,
  schemaMigrations: `${DATABASE}.schema_migrations`,
} as const;

/**
 * How iot_device_hour is read: the newest rollup row per (hour, device), by
 * FINAL (every rollup of an hour is complete, so the newest wins). Filter by
 * window_start, the first column of the key: FINAL then merges only that
 * range. (Not a view: 18.16 pushes no filter into a view that reads FINAL.)
 */
export const DEVICE_HOURS_NEWEST = `${TABLES.deviceHour} FINAL`;
