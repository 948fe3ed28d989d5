/**
 * The ClickHouse sink: the client (18.16 to current, replicated or not), the
 * state store's writer and readers, the schema migrations and retention.
 * Test kits live in `@stream-analytics/clickhouse-sink/testing`.
 */
export { DATABASE, DEVICE_HOURS_NEWEST, TABLES } from './lib/schema';
export { ClickHouseSinkClient, createClickHouseClient, parseServerVersion, type RequestOptions, type PingResult, type ServerVersion } from './lib/client';
export { splitUrls, type ClickHouseConfig, type ReplicationConfig, type ReplicationState, type ResolvedClickHouseConfig } from './lib/client-config';
export {
  CLICKHOUSE_CONNECTION_OPTIONS,
  clickHouseConnection,
  resolveClickHouseConnection,
  describeClickHouseSecurityError,
  type ClickHouseConnectionOptions,
} from './lib/connection';
export {
  ClickHouseSinkError,
  NonRetryableClickHouseError,
  RetriesExhaustedError,
  WriteAbortedError,
  RowValidationError,
  MigrationChecksumError,
  MigrationError,
  QuorumNotReachedError,
  ReplicaNotCaughtUpError,
  clickHouseErrorCode,
  isConnectionError,
  isRetryableError,
} from './lib/errors';
export { retryWithBackoff, computeBackoffDelay, type RetryOptions, type RetryInfo } from './lib/retry';
export type { WindowPartitionRow, DeviceStateRow, WindowUsersRow, DeadLetterRow } from './lib/rows';
export { WindowRowWriter, type WindowRowWriterOptions, type WriteCallOptions, type WriteResult } from './lib/writer';
export { SINGLE_SERVER_PROFILE, type SchemaProfile } from './lib/schema-profile';
export {
  applyMigrations,
  migrateSchema,
  SchemaServerUnreachableError,
  findMigrationsDir,
  type ApplyMigrationsOptions,
  type ApplyMigrationsResult,
  type MigrateSchemaOptions,
  type MigrationTarget,
} from './lib/migrations';
export { sessionMigrationTarget, type SqlSession } from './lib/session-target';
export {
  readMinuteAgg,
  readDeadLetterCounts,
  readWindowStates,
  readMinuteAggWindows,
  type MinuteAggRow,
  type DeadLetterCountRow,
  type StoredWindowRow,
  type StoredDeviceRow,
  aggregateOfStateRow,
} from './lib/readers';
export { DAY_MS, DEFAULT_RETENTION_POLICY, retentionPolicyProblem, BEYOND_RETENTION_REASON, isBeyondAggregateRetention, type RetentionPolicy } from './lib/retention';
export { applyRetention, type ApplyRetentionOptions, type RetentionRunResult } from './lib/apply-retention';
export { RETENTION_OPTIONS, retentionPolicyOf, type RetentionOptions } from './lib/retention-options';
export { windowPartitionRowOf, storedWindowOf } from './lib/engine-rows';
export { sketchQuantileSql } from './lib/results-sql';
export {
  readDeviceMinute,
  readMinuteStats,
  readDeviceCompleteness,
  deviceMinuteQuery,
  minuteStatsQuery,
  deviceCompletenessSql,
  DEVICE_COMPLETENESS_COLUMNS,
  parseDeviceMinuteRow,
  deviceIdLiteral,
  type DeviceMinuteRow,
  type MinuteStats,
  type StatusColumns,
  type DeviceCompleteness,
} from './lib/device-readers';
export {
  deviceHealthQuery,
  readDeviceHealth,
  ensureDeviceHealthView,
  deviceRecentSelect,
  writeDeviceRecent,
  DEVICE_RECENT_COLUMNS,
  silentAfterMs,
  isSilent,
  silenceRuleProblem,
  DEFAULT_SILENCE_RULE,
  TYPICAL_INTERVAL_LOOKBACK_MS,
  type SilenceRule,
  type DeviceHealthOptions,
  type DeviceHealthRow,
} from './lib/device-health';
export { changedHoursQuery, deviceHourRollupSelect, MAX_HOURS_PER_RUN, rollupDeviceHours, rollupHours, rollupResumePointMs, ROLLUP_OVERLAP_MS, type DeviceRollupRun } from './lib/device-rollup';
