import { UsageError } from '@stream-analytics/runtime';
import { clickhouseClientConfig, migrateWaitMs, MIGRATE_ONLY_WAIT_SECS, parseAggregatorConfig, schemaProfile } from './config';

describe('aggregator config', () => {
  it('uses the design defaults and the shared environment names', () => {
    const config = parseAggregatorConfig([], {});
    expect(config).toMatchObject({
      brokers: '127.0.0.1:9092',
      topic: 'iot.telemetry.raw.v1',
      aggTopic: 'iot.telemetry.minute-agg.v1',
      dlqTopic: 'iot.telemetry.dlq.v1',
      flushIntervalSecs: 5,
      windowSizeSecs: 60,
      anomalyThreshold: 0.9,
      clickhouseDatabase: 'stream_analytics',
      workers: 1,
      batchSize: 500,
    });
    const fromEnv = parseAggregatorConfig([], {
      KAFKA_BROKERS: 'redpanda:9092',
      RAW_TOPIC: 'raw',
      CONSUMER_GROUP: 'g',
      CLICKHOUSE_URL: 'http://ch:8123',
      FLUSH_INTERVAL_SECS: '2',
      METRICS_PORT: '9999',
      AGGREGATOR_WORKERS: '2',
    });
    expect(fromEnv).toMatchObject({ brokers: 'redpanda:9092', topic: 'raw', group: 'g', clickhouseUrl: 'http://ch:8123', flushIntervalSecs: 2, metricsPort: 9999, workers: 2 });
  });

  it('resolves Kafka and ClickHouse security once, from the shared options', () => {
    const config = parseAggregatorConfig([], {
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_SASL_USERNAME: 'aggregator',
      KAFKA_SASL_PASSWORD: 'pw',
      CLICKHOUSE_URL: 'https://ch:8443',
      CLICKHOUSE_USER: 'stream_writer',
      CLICKHOUSE_PASSWORD: 'chpw',
    });
    expect(config.kafkaSecurity.librdkafkaConfig()).toMatchObject({ 'security.protocol': 'sasl_ssl', 'sasl.username': 'aggregator' });
    expect(config.clickhouse).toMatchObject({ url: 'https://ch:8443', username: 'stream_writer', password: 'chpw' });
  });

  it('--migrate-only waits a bounded time for ClickHouse, a start waits until stopped', () => {
    expect(migrateWaitMs(parseAggregatorConfig([], {}))).toBeUndefined();
    const only = parseAggregatorConfig(['--migrate-only'], {});
    expect(only.migrateOnly).toBe(true);
    expect(migrateWaitMs(only)).toBe(MIGRATE_ONLY_WAIT_SECS * 1000);
    expect(migrateWaitMs(parseAggregatorConfig([], { CLICKHOUSE_MIGRATE_ONLY: 'true', CLICKHOUSE_MIGRATE_WAIT_SECS: '5' }))).toBe(5000);
    expect(migrateWaitMs(parseAggregatorConfig(['--migrate-wait-secs', '0.5'], {}))).toBe(500);
  });

  it.each([
    [['--migrate-only'], { CLICKHOUSE_MIGRATE: 'false' }, /cannot be combined with CLICKHOUSE_MIGRATE=false/],
    [['--migrate-wait-secs=-1'], {}, />= 0/],
    [[], { CLICKHOUSE_MIGRATE_ONLY: 'maybe' }, /CLICKHOUSE_MIGRATE_ONLY: expected true or false/],
  ])('rejects the migration options %j %j', (argv, env, message) => {
    expect(() => parseAggregatorConfig(argv, env)).toThrow(UsageError);
    expect(() => parseAggregatorConfig(argv, env)).toThrow(message);
  });

  it.each([
    [['--kafka-security-protocol', 'SASL_SSL', '--kafka-sasl-mechanism', 'PLAIN'], /needs a username/],
    [['--brokers', 'nohost'], /not host:port/],
    [['--clickhouse-url', 'ftp://x'], /must be an http\(s\) URL/],
    [['--flush-interval-secs', '0'], />= 0.1/],
    [['--anomaly-threshold', '1.5'], /<= 1/],
    [['--window-size-secs', '1.5'], /an integer/],
    [['--workers', '0'], />= 1/],
    [['--clickhouse-url', 'http://a:8123,ftp://b'], /"ftp:\/\/b" must be an http\(s\) URL/],
    [['--clickhouse-url', ' , '], /at least one URL/],
    [['--clickhouse-schema-profile', 'sharded'], /one of single, replicated/],
    [['--clickhouse-on-quorum-loss', 'ignore'], /one of degrade, fail/],
    [['--aggregate-retention-days', '0'], />= 1/],
    [['--dead-letter-retention-days', '1.5'], /an integer/],
    [['--retention-interval-secs=-1'], />= 0/],
    [['--aggregate-retention-days', '1'], /AGGREGATE_RETENTION_DAYS \(1\) must exceed the lateness horizon ALLOWED_LATENESS_SECS \(86400 s = 1 day\) by at least one day, so be at least 2/],
    [['--allowed-lateness-secs', String(30 * 86400)], /so be at least 31, or late events would be folded into windows whose state was already dropped/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseAggregatorConfig(argv, {})).toThrow(UsageError);
    expect(() => parseAggregatorConfig(argv, {})).toThrow(message);
  });

  it('retention: 30 days of aggregates and 14 of dead letters by default, hourly; every knob from the environment too', () => {
    expect(parseAggregatorConfig([], {})).toMatchObject({ retention: { aggregateDays: 30, deadLetterDays: 14 }, retentionIntervalSecs: 3600 });
    expect(
      parseAggregatorConfig([], { AGGREGATE_RETENTION_DAYS: '31', DEAD_LETTER_RETENTION_DAYS: '7', RETENTION_INTERVAL_SECS: '0', ALLOWED_LATENESS_SECS: String(30 * 86400) }),
    ).toMatchObject({ retention: { aggregateDays: 31, deadLetterDays: 7 }, retentionIntervalSecs: 0 });
    expect(parseAggregatorConfig(['--aggregate-retention-days', '2'], {}).retention).toEqual({ aggregateDays: 2, deadLetterDays: 14 });
  });

  it('single profile by default: one client setting without replication, schema verbatim', () => {
    const config = parseAggregatorConfig([], {});
    expect(schemaProfile(config)).toEqual({ kind: 'single' });
    expect(clickhouseClientConfig(config).replication).toBeUndefined();
  });

  it('replicated profile from the environment: several URLs, quorum settings, ON CLUSTER when a cluster is named', () => {
    const config = parseAggregatorConfig([], {
      CLICKHOUSE_URL: 'http://ch-0:8123, http://ch-1:8123',
      CLICKHOUSE_SCHEMA_PROFILE: 'replicated',
      CLICKHOUSE_CLUSTER: 'analytics',
      CLICKHOUSE_ON_QUORUM_LOSS: 'fail',
      CLICKHOUSE_INSERT_QUORUM_TIMEOUT_MS: '3000',
    });
    expect(schemaProfile(config)).toEqual({ kind: 'replicated', cluster: 'analytics' });
    expect(clickhouseClientConfig(config)).toMatchObject({
      url: 'http://ch-0:8123, http://ch-1:8123',
      replication: { insertQuorum: 2, insertQuorumTimeoutMs: 3000, onQuorumLoss: 'fail' },
    });
  });
});
