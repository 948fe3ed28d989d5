/** Aggregator knobs: every one a flag and an environment variable, validated. */
import { CLICKHOUSE_CONNECTION_OPTIONS, clickHouseConnection, type ClickHouseConfig } from '@stream-analytics/clickhouse-sink';
import {
  DEFAULT_BROKERS,
  DEFAULT_TOPICS,
  KAFKA_SECURITY_OPTIONS,
  parseConfig,
  parseKafkaSecurity,
  validateBrokers,
  type CommandSpec,
  type KafkaSecurity,
  type OptionSpecs,
  type ParsedConfig,
} from '@stream-analytics/runtime';

export const aggregatorCommand = {
  name: 'aggregator',
  summary:
    'Consumes raw telemetry, folds it into event-time tumbling windows and writes exact per-window aggregates to ClickHouse every flush interval. Invalid and late events go to the dead-letter topic.',
  options: {
    brokers: { type: 'string', env: 'KAFKA_BROKERS', default: DEFAULT_BROKERS, validate: validateBrokers, description: 'Kafka bootstrap servers.' },
    ...KAFKA_SECURITY_OPTIONS,
    topic: { type: 'string', env: 'RAW_TOPIC', default: DEFAULT_TOPICS.raw, description: 'Raw telemetry topic to consume.' },
    aggTopic: { type: 'string', env: 'AGG_TOPIC', default: DEFAULT_TOPICS.aggregate, description: 'Topic receiving window results (JSON, keyed by window start).' },
    dlqTopic: { type: 'string', env: 'DLQ_TOPIC', default: DEFAULT_TOPICS.deadLetter, description: 'Dead-letter topic for invalid and late events.' },
    group: { type: 'string', env: 'CONSUMER_GROUP', default: 'iot-aggregator', description: 'Consumer group id; instances in one group share the partitions.' },
    groupInstanceId: { type: 'string', env: 'GROUP_INSTANCE_ID', description: 'Static group membership id (e.g. the pod name) so restarts do not rebalance.' },
    ...CLICKHOUSE_CONNECTION_OPTIONS,
    migrate: { type: 'boolean', env: 'CLICKHOUSE_MIGRATE', default: true, description: 'Apply clickhouse/init migrations at start.' },
    migrationsDir: { type: 'string', env: 'CLICKHOUSE_MIGRATIONS_DIR', description: 'Folder of the *.sql migrations (default: clickhouse/init next to the app or in the repo).' },
    flushIntervalSecs: { type: 'number', env: 'FLUSH_INTERVAL_SECS', default: 5, min: 0.1, max: 300, description: 'Seconds between flushes to ClickHouse and offset commits.' },
    windowSizeSecs: { type: 'integer', env: 'WINDOW_SIZE_SECS', default: 60, min: 1, max: 86400, description: 'Tumbling window size in seconds.' },
    maxOutOfOrderSecs: { type: 'number', env: 'MAX_OUT_OF_ORDER_SECS', default: 10, min: 0, max: 3600, description: 'Bounded out-of-orderness: the watermark trails the newest event time by this much.' },
    allowedLatenessSecs: { type: 'number', env: 'ALLOWED_LATENESS_SECS', default: 0, min: 0, max: 86400, description: 'Extra time a window stays open after the watermark passes its end.' },
    idleTimeoutSecs: { type: 'number', env: 'IDLE_PARTITION_TIMEOUT_SECS', default: 30, min: 1, description: 'A partition without events this long stops holding its windows open.' },
    anomalyThreshold: { type: 'number', env: 'ANOMALY_THRESHOLD', default: 0.9, min: 0, max: 1, description: 'An event is an anomaly when anomaly_score >= this.' },
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
    metricsPort: { type: 'integer', env: 'METRICS_PORT', default: 9465, min: 0, max: 65535, description: 'Port for /metrics, /healthz and /readyz (0 picks a free port).' },
  },
  epilogue: [
    'Examples:',
    '  aggregator                                   # local stack defaults',
    '  KAFKA_BROKERS=redpanda:9092 CLICKHOUSE_URL=http://clickhouse:8123 aggregator',
    '  aggregator --flush-interval-secs 1 --group demo',
    '  aggregator --workers 2                      # two pipelines on a 2-core machine',
  ].join('\n'),
} satisfies CommandSpec<OptionSpecs>;

export type AggregatorConfig = ParsedConfig<typeof aggregatorCommand.options> & {
  /** Resolved once at start (password files read). */
  kafkaSecurity: KafkaSecurity;
  clickhouse: ClickHouseConfig;
};

export function parseAggregatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const { config } = parseConfig(aggregatorCommand, argv, env);
  return { ...config, kafkaSecurity: parseKafkaSecurity(config, aggregatorCommand), clickhouse: clickHouseConnection(config, aggregatorCommand) };
}
