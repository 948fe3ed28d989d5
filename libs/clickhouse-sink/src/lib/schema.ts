/**
 * Names fixed by the schema in clickhouse/init/*.sql. The SQL files name the
 * database literally (the stack tool runs them verbatim), so it is a constant
 * here too rather than a configuration value.
 */
export const DATABASE = 'stream_analytics';

export const TABLES = {
  /** Durable window state, one row per (window, topic, partition) version (006_iot_window_state.sql). */
  windowState: `${DATABASE}.iot_window_state`,
  /** The users of each window, one row per (window, user) once merged (007). */
  windowUsers: `${DATABASE}.iot_window_users`,
  /** View: a window's result computed from the state and users rows (007). */
  minuteMerged: `${DATABASE}.iot_minute_merged`,
  /** That result materialized after every flush, one row per window version (007). */
  minuteRollup: `${DATABASE}.iot_minute_rollup`,
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
