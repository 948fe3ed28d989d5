/**
 * The producer's flags and environment variables, declared once. Shared names
 * (KAFKA_BROKERS, RAW_TOPIC, METRICS_PORT) come from the design contract; the
 * rest are PRODUCER_*.
 */
import { randomInt } from 'node:crypto';
import {
  formatUsage,
  KAFKA_CONNECTION_OPTIONS,
  topicOption,
  MQTT_CONNECTION_OPTIONS,
  parseConfig,
  parseKafkaSecurity,
  UsageError,
  validateMqttUrl,
  type CommandSpec,
  type KafkaSecurity,
  type OptionSpecs,
  type ParsedConfig,
} from '@stream-analytics/runtime';
import { EVENT_FORMAT_OPTION, registryConnection, SCHEMA_REGISTRY_OPTIONS, type RegistryConnection } from '@stream-analytics/schema-registry';
import { GENERATOR_DEFAULTS, MALFORMED_KINDS, parseUtcInstant, type WireFormat, type GeneratorOptions, type MalformedKind } from '@stream-analytics/event-schema';

const fractionOption = (env: string, description: string) => ({ type: 'number', env, default: 0, min: 0, max: 1, description }) as const;

export const PRODUCER_SPEC = {
  name: 'producer',
  summary:
    'Generates simulated IoT telemetry (deterministic from --seed) and produces it to Kafka, keyed by device_id, with an idempotent acks=all producer.',
  options: {
    ...KAFKA_CONNECTION_OPTIONS,
    topic: topicOption('raw', 'Topic to produce to (must exist).'),
    ...EVENT_FORMAT_OPTION,
    schemaVersion: {
      type: 'integer',
      env: 'PRODUCER_SCHEMA_VERSION',
      default: 1,
      min: 1,
      max: 2,
      description: 'With avro or protobuf: the event schema version written (2 adds battery_level and firmware_version, as a newer firmware would); registered under the topic\u2019s subject if needed.',
    },
    ...SCHEMA_REGISTRY_OPTIONS,
    rate: { type: 'integer', env: 'PRODUCER_RATE', default: 10000, min: 0, description: 'Target events per second; 0 = as fast as possible.' },
    devices: { type: 'integer', env: 'PRODUCER_DEVICES', default: GENERATOR_DEFAULTS.devices, min: 1, max: 1_000_000, description: 'Number of simulated devices.' },
    users: { type: 'integer', env: 'PRODUCER_USERS', default: GENERATOR_DEFAULTS.users, min: 1, max: 1_000_000, description: 'Number of users owning the devices (device i belongs to user i mod users).' },
    count: { type: 'integer', env: 'PRODUCER_COUNT', min: 1, description: 'Send exactly this many events, then exit (0 only if all were acknowledged).' },
    duration: { type: 'number', env: 'PRODUCER_DURATION', min: 0.001, description: 'Send for this many seconds, then exit. Default: run until SIGINT/SIGTERM.' },
    seed: { type: 'integer', env: 'PRODUCER_SEED', min: 0, max: 0xffffffff, description: 'PRNG seed: same seed and options, same events. Default: random (logged).' },
    startTime: {
      type: 'string',
      env: 'PRODUCER_START_TIME',
      default: 'now',
      validate: (v: string) => (v === 'now' || /^\d+$/.test(v) || !Number.isNaN(parseUtcInstant(v)) ? undefined : 'expected "now", epoch milliseconds or a UTC instant like 2026-11-24T09:00:00Z'),
      description: 'Event time of the first event: now, epoch ms or UTC ISO-8601.',
    },
    eventRate: { type: 'number', env: 'PRODUCER_EVENT_RATE', min: 0.001, description: 'Events per second of simulated event time. Default: --rate, or 10000 with --rate 0.' },
    anomalyFraction: { type: 'number', env: 'PRODUCER_ANOMALY_FRACTION', default: GENERATOR_DEFAULTS.anomalyFraction, min: 0, max: 1, description: 'Fraction of readings that are anomalies (anomaly_score 0.9-1).' },
    invalidFraction: fractionOption('PRODUCER_INVALID_FRACTION', 'Fraction of events replaced by malformed payloads (fault injection).'),
    invalidKinds: {
      type: 'string',
      env: 'PRODUCER_INVALID_KINDS',
      default: 'all',
      validate: (v: string) => {
        const bad = v === 'all' ? [] : v.split(',').filter((k) => !MALFORMED_KINDS.includes(k.trim() as MalformedKind));
        return bad.length ? `unknown kind(s) ${bad.join(', ')}; expected "all" or a comma-separated list of ${MALFORMED_KINDS.join(', ')}` : undefined;
      },
      description: `Malformed kinds to inject, "all" or a comma-separated list of: ${MALFORMED_KINDS.join(', ')}.`,
    },
    outOfOrderFraction: fractionOption('PRODUCER_OUT_OF_ORDER_FRACTION', 'Fraction of events whose event time is moved back by up to --max-out-of-order-ms.'),
    maxOutOfOrderMs: { type: 'integer', env: 'PRODUCER_MAX_OUT_OF_ORDER_MS', default: GENERATOR_DEFAULTS.maxOutOfOrderMs, min: 1, description: 'Largest out-of-order shift; keep it below the aggregator\u2019s bounded out-of-orderness (10 s).' },
    lateFraction: fractionOption('PRODUCER_LATE_FRACTION', 'Fraction of events that are 2-5 minutes old (late: counted in their already final windows).'),
    deliveryReports: {
      type: 'string',
      env: 'PRODUCER_DELIVERY_REPORTS',
      default: 'errors',
      choices: ['errors', 'all'],
      description:
        'errors: librdkafka reports only failed messages and acked counts come from its statistics (exact at exit; fastest). all: one delivery report per message (exact counts at every moment; ~2.5 us more CPU per event).',
    },
    compression: { type: 'string', env: 'PRODUCER_COMPRESSION', default: 'lz4', choices: ['none', 'gzip', 'snappy', 'lz4', 'zstd'], description: 'Compression codec.' },
    lingerMs: { type: 'integer', env: 'PRODUCER_LINGER_MS', default: 10, min: 0, max: 1000, description: 'librdkafka linger.ms: how long to wait to fill a batch.' },
    batchSize: { type: 'integer', env: 'PRODUCER_BATCH_SIZE', default: 1_000_000, min: 1024, max: 100_000_000, description: 'librdkafka batch.size in bytes (per partition batch).' },
    maxInFlight: { type: 'integer', env: 'PRODUCER_MAX_IN_FLIGHT', default: 200_000, min: 1, max: 10_000_000, description: 'Events handed to librdkafka but not yet acknowledged before generation pauses (backpressure).' },
    connectTimeout: { type: 'number', env: 'PRODUCER_CONNECT_TIMEOUT', default: 15, min: 0.1, description: 'Seconds to reach the brokers at startup before giving up (exit 1).' },
    deliveryTimeout: { type: 'number', env: 'PRODUCER_DELIVERY_TIMEOUT', default: 120, min: 1, description: 'Seconds librdkafka retries one message (message.timeout.ms) before it counts as failed.' },
    shutdownTimeout: { type: 'number', env: 'PRODUCER_SHUTDOWN_TIMEOUT', default: 30, min: 0, description: 'Seconds to wait for in-flight messages on exit.' },
    statusInterval: { type: 'number', env: 'PRODUCER_STATUS_INTERVAL', default: 5, min: 0.1, description: 'Seconds between status log lines.' },
    mqttUrl: {
      type: 'string',
      env: 'PRODUCER_MQTT_URL',
      default: '',
      validate: validateMqttUrl,
      description: 'Publish over MQTT to this broker (QoS 1, the device path through the ingest gateway) instead of producing to Kafka.',
    },
    mqttTopicPrefix: {
      type: 'string',
      env: 'PRODUCER_MQTT_TOPIC_PREFIX',
      default: 'devices',
      validate: (v: string) => (/[+#]/.test(v) || !v.trim() ? 'must be a non-empty topic level without + or #' : undefined),
      description: 'With --mqtt-url: each device publishes to <prefix>/<device_id>/telemetry.',
    },
    ...MQTT_CONNECTION_OPTIONS,
    print: { type: 'boolean', env: 'PRODUCER_PRINT', default: false, description: 'Write the payloads to stdout, one per line, instead of producing (no Kafka; needs --count).' },
    metricsPort: { type: 'integer', env: 'METRICS_PORT', default: 9464, min: 0, max: 65535, description: 'Port of /metrics, /healthz, /readyz (0 = ephemeral).' },
  },
  epilogue: [
    'Examples:',
    '  producer                                        # 10000 events/s from 2000 devices until Ctrl-C',
    '  producer --count 100000 --rate 0 --seed 42      # exactly 100k events, unthrottled, reproducible',
    '  producer --duration 60 --invalid-fraction 0.01 --out-of-order-fraction 0.05 --late-fraction 0.001',
    '',
    'Exit codes: 0 all sent events acknowledged (and exactly --count of them); 1 delivery failures, unreachable broker or',
    'missing topic; 2 invalid flags; 130 second signal during shutdown.',
  ].join('\n'),
} as const satisfies CommandSpec<OptionSpecs>;

export type ProducerOptions = ParsedConfig<typeof PRODUCER_SPEC.options>;

export interface ProducerConfig extends Omit<ProducerOptions, 'seed' | 'startTime' | 'invalidKinds' | 'eventRate'> {
  seed: number;
  startTimeMs: number;
  eventRate: number;
  invalidKinds: MalformedKind[];
  /** Resolved once at start (password file read). */
  kafkaSecurity: KafkaSecurity;
  /** The schema registry (avro and protobuf only). */
  registry: RegistryConnection | undefined;
}

/** Parses argv/env into a complete config; throws UsageError / HelpRequested. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, nowMs = Date.now()): ProducerConfig {
  const { config: c } = parseConfig(PRODUCER_SPEC, argv, env);
  const usage = formatUsage(PRODUCER_SPEC);
  if (c.count !== undefined && c.duration !== undefined) throw new UsageError('--count and --duration are mutually exclusive.', usage);
  if (c.print && c.count === undefined) throw new UsageError('--print needs --count.', usage);
  if (c.invalidFraction + c.outOfOrderFraction + c.lateFraction > 1) {
    throw new UsageError('--invalid-fraction + --out-of-order-fraction + --late-fraction must not exceed 1.', usage);
  }
  const startTimeMs = c.startTime === 'now' ? nowMs : /^\d+$/.test(c.startTime) ? Number(c.startTime) : parseUtcInstant(c.startTime);
  return {
    ...c,
    seed: c.seed ?? randomInt(0, 0xffffffff),
    startTimeMs,
    eventRate: c.eventRate ?? (c.rate > 0 ? c.rate : GENERATOR_DEFAULTS.ratePerSec),
    invalidKinds: c.invalidKinds === 'all' ? [...MALFORMED_KINDS] : (c.invalidKinds.split(',').map((k) => k.trim()) as MalformedKind[]),
    kafkaSecurity: parseKafkaSecurity(c, PRODUCER_SPEC),
    registry: registryConnection(c, PRODUCER_SPEC, c.format as WireFormat),
  };
}

/** The dataset a configuration describes: the same for --print and for Kafka. */
export function generatorOptions(cfg: ProducerConfig): GeneratorOptions {
  return {
    seed: cfg.seed,
    devices: cfg.devices,
    users: cfg.users,
    startTimeMs: cfg.startTimeMs,
    ratePerSec: cfg.eventRate,
    anomalyFraction: cfg.anomalyFraction,
    faults: {
      invalidFraction: cfg.invalidFraction,
      invalidKinds: cfg.invalidKinds,
      outOfOrderFraction: cfg.outOfOrderFraction,
      maxOutOfOrderMs: cfg.maxOutOfOrderMs,
      lateFraction: cfg.lateFraction,
    },
  };
}
