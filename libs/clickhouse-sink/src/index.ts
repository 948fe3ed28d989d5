export { DATABASE, TABLES, LATE_EVENT_REASON, FUTURE_EVENT_REASON } from './lib/schema';
export {
  ClickHouseSinkClient,
  createClickHouseClient,
  parseServerVersion,
  splitUrls,
  isQuorumError,
  isFailoverError,
  type ClickHouseConfig,
  type ReplicationConfig,
  type ReplicationState,
  type ResolvedClickHouseConfig,
  type RequestOptions,
  type PingResult,
  type ServerVersion,
} from './lib/client';
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
  NON_RETRYABLE_CLICKHOUSE_CODES,
  clickHouseErrorCode,
  isConnectionError,
  isRetryableError,
} from './lib/errors';
export {
  retryWithBackoff,
  computeBackoffDelay,
  DEFAULT_RETRY,
  type RetryOptions,
  type RetryInfo,
  type RetryRuntime,
} from './lib/retry';
export {
  toWindowPartitionRecord,
  toDeadLetterRecord,
  toJsonEachRow,
  toWindowStateValues,
  toWindowUserRecords,
  WINDOW_STATE_COLUMNS,
  type WindowPartitionRow,
  type WindowUsersRow,
  type WindowUserRecord,
  type DeadLetterRow,
  type WindowPartitionRecord,
  type DeadLetterRecord,
} from './lib/rows';
export { WindowRowWriter, type WindowRowWriterOptions, type WriteCallOptions, type WriteResult } from './lib/writer';
export { splitSqlStatements } from './lib/sql-split';
export {
  profileStatement,
  validateSchemaProfile,
  SINGLE_SERVER_PROFILE,
  DEFAULT_REPLICA_PATH,
  type SchemaProfile,
  type TableEngineChange,
} from './lib/schema-profile';
export {
  applyMigrations,
  loadMigrationFiles,
  findMigrationsDir,
  schemaMigrationsDdl,
  sha256Hex,
  type MigrationFile,
  type ApplyMigrationsOptions,
  type ApplyMigrationsResult,
} from './lib/migrations';
export {
  readMinuteAgg,
  readDeadLetterCounts,
  readWindowStates,
  readMinuteAggWindows,
  windowStatesQuery,
  windowStartList,
  minuteRollupSelect,
  MINUTE_ROLLUP_COLUMNS,
  minuteAggQuery,
  deadLetterCountsQuery,
  parseMinuteAggRow,
  parseDeadLetterCountRow,
  VIEW_READ_SETTINGS,
  type MinuteAggRow,
  type DeadLetterCountRow,
  type StoredWindowRow,
} from './lib/readers';
export { expectedMinuteAgg, expectedDeadLetterCounts } from './lib/oracle';
