/** Aggregator knobs: every one a flag and an environment variable, validated. */
import {
  CLICKHOUSE_CONNECTION_OPTIONS,
  clickHouseConnection,
  DEFAULT_SILENCE_RULE,
  RETENTION_OPTIONS,
  retentionPolicyOf,
  type ClickHouseConfig,
  type RetentionPolicy,
  type SchemaProfile,
} from '@stream-analytics/clickhouse-sink';
import {
  formatUsage,
  KAFKA_CONNECTION_OPTIONS,
  topicOption,
  parseConfig,
  parseKafkaSecurity,
  windowingOptions,
  type CommandSpec,
  type KafkaSecurity,
  type OptionSpecs,
  type ParsedConfig,
  UsageError,
} from '@stream-analytics/runtime';
import { registryConnection, SCHEMA_REGISTRY_OPTIONS, type RegistryConnection } from '@stream-analytics/schema-registry';

export const aggregatorCommand = {
  name: 'aggregator',
  summary:
    'Consumes raw telemetry, folds it into event-time tumbling windows and writes exact per-window aggregates to ClickHouse every flush interval. Late events within the lateness horizon are counted in their own windows; invalid, too-late and future events go to the dead-letter topic.',
  options: {
    ...KAFKA_CONNECTION_OPTIONS,
    topic: topicOption('raw', 'Raw telemetry topic to consume.'),
    aggTopic: topicOption('aggregate', 'Topic receiving window results (JSON, keyed by window start).'),
    dlqTopic: topicOption('deadLetter', 'Dead-letter topic for invalid and late events.'),
    ...SCHEMA_REGISTRY_OPTIONS,
    group: { type: 'string', env: 'CONSUMER_GROUP', default: 'iot-aggregator', description: 'Consumer group id; instances in one group share the partitions.' },
    groupInstanceId: { type: 'string', env: 'GROUP_INSTANCE_ID', description: 'Static group membership id (e.g. the pod name) so restarts do not rebalance.' },
    ...CLICKHOUSE_CONNECTION_OPTIONS,
    migrate: { type: 'boolean', env: 'CLICKHOUSE_MIGRATE', default: true, description: 'Apply clickhouse/init migrations at start (false: something else applies them, e.g. a --migrate-only job).' },
    migrateOnly: {
      type: 'boolean',
      env: 'CLICKHOUSE_MIGRATE_ONLY',
      default: false,
      description: 'Apply clickhouse/init migrations (the schema profile included), then exit: 0 when the schema is up to date, 1 on failure. Needs no Kafka.',
    },
    migrateWaitSecs: {
      type: 'number',
      env: 'CLICKHOUSE_MIGRATE_WAIT_SECS',
      min: 0,
      description: 'How long an unreachable ClickHouse is waited for before the migration fails (default: 60 with --migrate-only; until stopped at start).',
    },
    clickhouseSchemaProfile: {
      type: 'string',
      env: 'CLICKHOUSE_SCHEMA_PROFILE',
      default: 'single',
      choices: ['single', 'replicated'],
      description: 'single: the schema as written, on one server. replicated: Replicated* tables ({shard}/{replica} macros of the servers), quorum inserts, reads only from a replica holding every acknowledged insert.',
    },
    clickhouseCluster: { type: 'string', env: 'CLICKHOUSE_CLUSTER', description: 'Replicated profile: apply DDL ON CLUSTER this cluster (remote_servers) through one node; unset: on every CLICKHOUSE_URL node.' },
    clickhouseInsertQuorum: { type: 'integer', env: 'CLICKHOUSE_INSERT_QUORUM', default: 2, min: 0, max: 16, description: 'Replicated profile: replicas that must hold an insert before it counts as written (insert_quorum).' },
    clickhouseInsertQuorumTimeoutMs: { type: 'integer', env: 'CLICKHOUSE_INSERT_QUORUM_TIMEOUT_MS', default: 10000, min: 100, description: 'Replicated profile: insert_quorum_timeout.' },
    clickhouseOnQuorumLoss: {
      type: 'string',
      env: 'CLICKHOUSE_ON_QUORUM_LOSS',
      default: 'degrade',
      choices: ['degrade', 'fail'],
      description: 'Replicated profile, fewer live replicas than the quorum: degrade = the replica in use acknowledges alone (readiness says so); fail = writes wait for the quorum.',
    },
    migrationsDir: { type: 'string', env: 'CLICKHOUSE_MIGRATIONS_DIR', description: 'Folder of the *.sql migrations (default: clickhouse/init next to the app or in the repo).' },
    flushIntervalSecs: { type: 'number', env: 'FLUSH_INTERVAL_SECS', default: 5, min: 0.1, max: 300, description: 'Seconds between flushes to ClickHouse and offset commits (and a flush at once when a backlog has been folded).' },
    ...windowingOptions,
    ...RETENTION_OPTIONS,
    silentFactor: {
      type: 'number',
      env: 'SILENT_FACTOR',
      default: DEFAULT_SILENCE_RULE.silentFactor,
      min: 1,
      description: 'iot_device_health: a device is silent after this many of its typical sending intervals without an arrival (and at least SILENT_MIN_SECS).',
    },
    deviceRollupIntervalSecs: {
      type: 'integer',
      env: 'DEVICE_ROLLUP_INTERVAL_SECS',
      default: 60,
      min: 0,
      max: 3600,
      description:
        'How often the device rollup sums the changed hours of device minutes into iot_device_hour (top devices, device health); 0 turns it off. One pipeline of the group runs it (the holder of partition 0).',
    },
    silentMinSecs: { type: 'number', env: 'SILENT_MIN_SECS', default: DEFAULT_SILENCE_RULE.silentMinSecs, min: 0, description: 'iot_device_health: a device is never silent sooner than this many seconds after its last arrival.' },
    idleTimeoutSecs: { type: 'number', env: 'IDLE_PARTITION_TIMEOUT_SECS', default: 30, min: 1, description: 'A partition without events this long stops holding its windows open.' },
    workers: {
      type: 'integer',
      env: 'AGGREGATOR_WORKERS',
      default: 1,
      min: 1,
      max: 64,
      description:
        'Pipelines (consumer-group members) this aggregator runs: the first in its own process, the others in child processes. Each uses about one core, so match the cores it may use.',
    },
    // Small batches are as fast and much leaner: a batch's messages are live
    // while it is folded, and at 5000 they outlived V8's young generation
    // (about 45 MB more RSS per pipeline on a backlog, same events/s).
    batchSize: { type: 'integer', env: 'CONSUME_BATCH_SIZE', default: 500, min: 1, max: 100000, description: 'Messages taken from the consumer per poll.' },
    packedConsume: {
      type: 'boolean',
      env: 'KAFKA_PACKED_CONSUME',
      default: true,
      description:
        'Take each poll as one packed batch (values and keys in one buffer, no object per message) when the Kafka client has consumePacked (patches/ at install); false, or a client without it: one object per message.',
    },
    metricsPort: { type: 'integer', env: 'METRICS_PORT', default: 9465, min: 0, max: 65535, description: 'Port for /metrics, /healthz and /readyz (0 picks a free port).' },
  },
  epilogue: [
    'Examples:',
    '  aggregator                                   # local stack defaults',
    '  KAFKA_BROKERS=redpanda:9092 CLICKHOUSE_URL=http://clickhouse:8123 aggregator',
    '  aggregator --flush-interval-secs 1 --group demo',
    '  SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7 aggregator   # also read Avro and Protobuf (Confluent wire format)',
    '  aggregator --workers 2                      # two pipelines on a 2-core machine',
    '  aggregator --migrate-only                   # apply the schema and exit (deploy job, init container)',
    '  AGGREGATE_RETENTION_DAYS=90 ALLOWED_LATENESS_SECS=604800 aggregator   # a week of lateness, 90 days of aggregates',
    '  CLICKHOUSE_URL=http://ch-0:8123,http://ch-1:8123 CLICKHOUSE_SCHEMA_PROFILE=replicated aggregator   # two replicas, quorum inserts',
  ].join('\n'),
} satisfies CommandSpec<OptionSpecs>;

export type AggregatorConfig = ParsedConfig<typeof aggregatorCommand.options> & {
  /** Resolved once at start (password files read). */
  kafkaSecurity: KafkaSecurity;
  clickhouse: ClickHouseConfig;
  /** Days each class of rows is kept, checked against the lateness horizon. */
  retention: RetentionPolicy;
  /** Where Avro and Protobuf writer schemas are read (JSON needs none); undefined without SCHEMA_REGISTRY_URL. */
  registry: RegistryConnection | undefined;
};

/** The sink client's settings for this configuration (one rule for the migrations and every pipeline). */
export function clickhouseClientConfig(config: AggregatorConfig, onReplicationStateChange?: ClickHouseConfig['onReplicationStateChange']): ClickHouseConfig {
  return {
    ...config.clickhouse,
    onReplicationStateChange,
    replication:
      config.clickhouseSchemaProfile === 'replicated'
        ? {
            insertQuorum: config.clickhouseInsertQuorum,
            insertQuorumTimeoutMs: config.clickhouseInsertQuorumTimeoutMs,
            onQuorumLoss: config.clickhouseOnQuorumLoss === 'fail' ? 'fail' : 'degrade',
          }
        : undefined,
  };
}

/** How long the migration waits for an unreachable ClickHouse, in ms (undefined: until stopped). */
export function migrateWaitMs(config: AggregatorConfig): number | undefined {
  const secs = config.migrateWaitSecs ?? (config.migrateOnly ? MIGRATE_ONLY_WAIT_SECS : undefined);
  return secs === undefined ? undefined : secs * 1000;
}

export function schemaProfile(config: AggregatorConfig): SchemaProfile {
  return config.clickhouseSchemaProfile === 'replicated' ? { kind: 'replicated', cluster: config.clickhouseCluster } : { kind: 'single' };
}

/** With --migrate-only an unreachable ClickHouse fails the job after this long (a start waits until stopped). */
export const MIGRATE_ONLY_WAIT_SECS = 60;

export function parseAggregatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const { config } = parseConfig(aggregatorCommand, argv, env);
  if (config.migrateOnly && !config.migrate) {
    throw new UsageError('--migrate-only (CLICKHOUSE_MIGRATE_ONLY) cannot be combined with CLICKHOUSE_MIGRATE=false: it does nothing but migrate.', formatUsage(aggregatorCommand));
  }
  return {
    ...config,
    kafkaSecurity: parseKafkaSecurity(config, aggregatorCommand),
    clickhouse: clickHouseConnection(config, aggregatorCommand),
    retention: retentionPolicyOf(config, config.allowedLatenessSecs, aggregatorCommand),
    registry: registryConnection(config, aggregatorCommand),
  };
}
