/**
 * The gateway's flags and environment variables, declared once. Shared names
 * (KAFKA_BROKERS, RAW_TOPIC, DLQ_TOPIC, METRICS_PORT, MQTT_URL, MQTT_TOPIC,
 * INGEST_HTTP_PORT) come from the design contract; the rest are INGEST_* and
 * MQTT_*.
 */
import type { WireFormat } from '@stream-analytics/event-schema';
import { EVENT_FORMAT_OPTION, registryConnection, SCHEMA_REGISTRY_OPTIONS, type RegistryConnection } from '@stream-analytics/schema-registry';
import os from 'node:os';
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

const nonEmpty = (v: string) => (v.trim() ? undefined : 'must not be empty');

export const GATEWAY_SPEC = {
  name: 'ingest-gateway',
  summary:
    'Brings device events into Kafka over MQTT (QoS 1 subscription) and HTTP (POST /v1/events). Every event is validated; valid ones go to the raw topic keyed by device_id, invalid ones to the DLQ. A message is acknowledged (PUBACK, HTTP 2xx) only after Kafka acknowledged all its events.',
  options: {
    ...KAFKA_CONNECTION_OPTIONS,
    topic: topicOption('raw', 'Raw topic for valid events (must exist).'),
    dlqTopic: topicOption('deadLetter', 'Dead-letter topic for invalid events (must exist).'),
    ...EVENT_FORMAT_OPTION,
    ...SCHEMA_REGISTRY_OPTIONS,
    mqttUrl: { type: 'string', env: 'MQTT_URL', default: 'mqtt://127.0.0.1:1883', validate: validateMqttUrl, description: 'MQTT broker URL (mqtt://, mqtts://, ws://, wss://); empty disables MQTT ingress.' },
    mqttTopic: { type: 'string', env: 'MQTT_TOPIC', default: 'devices/+/telemetry', validate: nonEmpty, description: 'Topic filter to subscribe to with QoS 1.' },
    mqttShareGroup: {
      type: 'string',
      env: 'MQTT_SHARE_GROUP',
      default: '',
      validate: (v: string) => (/[/+#]/.test(v) ? 'must not contain /, + or #' : undefined),
      description: 'Shared-subscription group: subscribe to $share/<group>/<topic> so the instances of one group split the messages.',
    },
    mqttClientId: { type: 'string', env: 'MQTT_CLIENT_ID', default: `ingest-gateway-${os.hostname()}`, validate: nonEmpty, description: 'MQTT client id; stable across restarts so the broker redelivers what was not acknowledged.' },
    mqttProtocolVersion: { type: 'integer', env: 'MQTT_PROTOCOL_VERSION', default: 5, min: 4, max: 5, description: 'MQTT protocol: 5 (MQTT 5) or 4 (MQTT 3.1.1).' },
    mqttReceiveMaximum: {
      type: 'integer',
      env: 'MQTT_RECEIVE_MAXIMUM',
      default: 2000,
      min: 1,
      max: 65535,
      description: 'MQTT messages waiting for Kafka at most: sent as the MQTT 5 Receive Maximum, and enforced by pausing reading (the MQTT memory bound).',
    },
    mqttKeepalive: { type: 'integer', env: 'MQTT_KEEPALIVE', default: 60, min: 5, max: 65535, description: 'MQTT keepalive seconds (also how long reading may pause for Kafka before the client reconnects).' },
    mqttSessionExpiry: { type: 'integer', env: 'MQTT_SESSION_EXPIRY', default: 3600, min: 0, description: 'Seconds the broker keeps the session (and queues messages) while the gateway is away (MQTT 5).' },
    ...MQTT_CONNECTION_OPTIONS,
    httpPort: { type: 'integer', env: 'INGEST_HTTP_PORT', default: 8088, min: 0, max: 65535, description: 'Port of POST /v1/events (0 = ephemeral).' },
    httpHost: { type: 'string', env: 'INGEST_HTTP_HOST', default: '0.0.0.0', validate: nonEmpty, description: 'Address the HTTP ingress listens on.' },
    httpAuth: { type: 'string', env: 'INGEST_HTTP_AUTH', default: 'tokens', choices: ['tokens', 'none'], description: 'tokens: bearer tokens from --tokens-file; none: no authentication (local use only).' },
    tokensFile: { type: 'string', env: 'INGEST_TOKENS_FILE', description: 'Bearer tokens, one "<token> <client-name> [<device-id-prefix>]" per line.' },
    maxBodyBytes: { type: 'integer', env: 'INGEST_MAX_BODY_BYTES', default: 4 * 1024 * 1024, min: 1024, description: 'Largest HTTP body, compressed and decompressed (413 beyond).' },
    maxBatchEvents: { type: 'integer', env: 'INGEST_MAX_BATCH_EVENTS', default: 10000, min: 1, description: 'Most events in one HTTP request (413 beyond).' },
    maxInFlightEvents: { type: 'integer', env: 'INGEST_MAX_IN_FLIGHT_EVENTS', default: 100000, min: 1, description: 'Events handed to Kafka and not yet acknowledged; HTTP answers 503 beyond (memory bound).' },
    maxInFlightBytes: { type: 'integer', env: 'INGEST_MAX_IN_FLIGHT_BYTES', default: 128 * 1024 * 1024, min: 1024, description: 'Bytes handed to Kafka and not yet acknowledged; HTTP answers 503 beyond.' },
    httpAckTimeout: { type: 'number', env: 'INGEST_HTTP_ACK_TIMEOUT', default: 10, min: 0.1, description: 'Seconds an HTTP request waits for Kafka before it is answered 503 (its events may still be delivered: clients retry, duplicates possible).' },
    retryAfter: { type: 'integer', env: 'INGEST_RETRY_AFTER', default: 5, min: 1, description: 'Retry-After seconds of a 503.' },
    compression: { type: 'string', env: 'INGEST_COMPRESSION', default: 'lz4', choices: ['none', 'gzip', 'snappy', 'lz4', 'zstd'], description: 'Kafka compression codec.' },
    lingerMs: { type: 'integer', env: 'INGEST_LINGER_MS', default: 2, min: 0, max: 1000, description: 'librdkafka linger.ms (acknowledgement latency vs batching).' },
    batchSize: { type: 'integer', env: 'INGEST_BATCH_SIZE', default: 1_000_000, min: 1024, max: 100_000_000, description: 'librdkafka batch.size in bytes.' },
    deliveryTimeout: { type: 'number', env: 'INGEST_DELIVERY_TIMEOUT', default: 300, min: 1, description: 'Seconds librdkafka retries one record (message.timeout.ms); an MQTT message whose record failed is redelivered by the broker.' },
    connectTimeout: { type: 'number', env: 'INGEST_CONNECT_TIMEOUT', default: 15, min: 0.1, description: 'Seconds to reach Kafka at startup before giving up (exit 1).' },
    shutdownTimeout: { type: 'number', env: 'INGEST_SHUTDOWN_TIMEOUT', default: 30, min: 0, description: 'Seconds to drain in-flight events on SIGTERM.' },
    statusInterval: { type: 'number', env: 'INGEST_STATUS_INTERVAL', default: 10, min: 0.1, description: 'Seconds between status log lines.' },
    metricsPort: { type: 'integer', env: 'METRICS_PORT', default: 9467, min: 0, max: 65535, description: 'Port of /metrics, /healthz, /readyz (0 = ephemeral).' },
  },
  epilogue: [
    'Examples:',
    '  ingest-gateway --tokens-file /etc/ingest/tokens',
    '  ingest-gateway --mqtt-url mqtts://broker:8883 --mqtt-username gw --mqtt-password-file /run/secrets/mqtt --mqtt-share-group ingest',
    '  curl -H "Authorization: Bearer $TOKEN" --data-binary @events.ndjson http://127.0.0.1:8088/v1/events',
    '',
    'Exit codes: 0 stopped and drained; 1 unreachable broker, missing topic or undrained events at shutdown; 2 invalid flags.',
  ].join('\n'),
} as const satisfies CommandSpec<OptionSpecs>;

export type GatewayConfig = ParsedConfig<typeof GATEWAY_SPEC.options> & {
  /** Resolved once at start (password files read). */
  kafkaSecurity: KafkaSecurity;
  /** The schema registry (--format avro or protobuf only). */
  registry: RegistryConnection | undefined;
};

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): GatewayConfig {
  const { config } = parseConfig(GATEWAY_SPEC, argv, env);
  if (config.httpAuth === 'tokens' && !config.tokensFile) {
    throw new UsageError('--tokens-file (INGEST_TOKENS_FILE) is required with --http-auth tokens; use --http-auth none only on a trusted network.', formatUsage(GATEWAY_SPEC));
  }
  return { ...config, kafkaSecurity: parseKafkaSecurity(config, GATEWAY_SPEC), registry: registryConnection(config, GATEWAY_SPEC, config.format as WireFormat) };
}
