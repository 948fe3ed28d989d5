/**
 * Names fixed by the schema in clickhouse/init/*.sql. The SQL files name the
 * database literally (the stack tool runs them verbatim), so it is a constant
 * here too rather than a configuration value.
 */
export const DATABASE = 'stream_analytics';

export const TABLES = {
  /** Durable window state, one row per (window, topic, partition) version (006_iot_window_state.sql). */
  windowState: `${DATABASE}.iot_window_state`,
  windowUsers: `${DATABASE}.iot_window_users`,
  minuteRollup: `${DATABASE}.iot_minute_rollup`,
  deadLetters: `${DATABASE}.dead_letters`,
  minuteMerged: `${DATABASE}.iot_minute_merged`,
  minuteAgg: `${DATABASE}.iot_minute_agg`,
  deadLetterEvents: `${DATABASE}.dead_letter_events`,
  minuteDeadLetters: `${DATABASE}.iot_minute_dead_letters`,
  schemaMigrations: `${DATABASE}.schema_migrations`,
} as const;

/** Dead-letter reasons the view counts apart from the invalid ones. */
export const LATE_EVENT_REASON = 'late_event';
export const FUTURE_EVENT_REASON = 'future_event_time';
