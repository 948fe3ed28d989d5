/**
 * Names fixed by the schema in clickhouse/init/*.sql. The SQL files name the
 * database literally (the stack tool runs them verbatim), so it is a constant
 * here too rather than a configuration value.
 */
export const DATABASE = 'stream_analytics';

export const TABLES = {
  windowPartitionState: `${DATABASE}.iot_window_partition_state`,
  minuteAgg: `${DATABASE}.iot_minute_agg`,
  deadLetterEvents: `${DATABASE}.dead_letter_events`,
  minuteDeadLetters: `${DATABASE}.iot_minute_dead_letters`,
  schemaMigrations: `${DATABASE}.schema_migrations`,
} as const;

/** The dead-letter reason that the view counts as late (everything else is invalid). */
export const LATE_EVENT_REASON = 'late_event';
