/**
 * librdkafka settings shared by the apps. Values here are the ones every
 * client needs; each app adds its own (idempotence, isolation level, ...).
 */
import { KafkaSecurity } from './kafka-security';

export interface KafkaConnection {
  brokers: string;
  clientId: string;
  /** TLS / SASL settings (resolveKafkaSecurity); default PLAINTEXT. */
  security?: KafkaSecurity;
}

/** Where a client connects and how: what an app's resolved config holds. */
export interface KafkaTarget {
  brokers: string;
  kafkaSecurity?: KafkaSecurity;
}

/** Base librdkafka global config for a client. */
export function baseKafkaConfig(conn: KafkaConnection): Record<string, string | number | boolean> {
  return {
    'bootstrap.servers': conn.brokers,
    'client.id': conn.clientId,
    // Report an unreachable broker quickly and keep retrying with backoff
    // instead of failing hard: the apps surface these as log lines and metrics.
    'socket.connection.setup.timeout.ms': 10000,
    'reconnect.backoff.ms': 100,
    'reconnect.backoff.max.ms': 5000,
    'topic.metadata.refresh.interval.ms': 30000,
    'log.connection.close': false,
    // Connection failures (rejected credentials, bad certificates) arrive as 'event.log' lines.
    event_cb: true,
    ...(conn.security ?? KafkaSecurity.plaintext).librdkafkaConfig(),
  };
}

export interface IdempotentProducerOptions extends KafkaConnection {
  compression: string;
  lingerMs: number;
  /** librdkafka batch.size in bytes. */
  batchSize: number;
  /** Messages librdkafka may hold before produce() fails with QUEUE_FULL (the backpressure bound). */
  maxQueuedMessages: number;
  /** How long librdkafka retries one message (message.timeout.ms). */
  deliveryTimeoutMs: number;
}

/**
 * The one definition of how this platform writes events to the raw topic:
 * idempotent, acks=all, ordered per partition, compressed and batched, with
 * the Java clients' partitioner so every writer maps a device to the same
 * partition. The producer and the ingest gateway both build on it and add
 * only how they receive delivery reports.
 */
export function idempotentProducerConfig(opts: IdempotentProducerOptions): Record<string, string | number | boolean> {
  return {
    ...baseKafkaConfig(opts),
    dr_cb: true,
    'enable.idempotence': true,
    acks: 'all',
    'max.in.flight.requests.per.connection': 5,
    'compression.type': opts.compression,
    'linger.ms': opts.lingerMs,
    'batch.size': opts.batchSize,
    'batch.num.messages': 100000,
    'queue.buffering.max.messages': opts.maxQueuedMessages,
    'queue.buffering.max.kbytes': 2097151,
    'message.timeout.ms': opts.deliveryTimeoutMs,
    partitioner: 'murmur2_random',
  };
}

/** Validates a comma-separated broker list (host:port,...) for config parsing. */
export function validateBrokers(value: string): string | undefined {
  const parts = value.split(',').map((s) => s.trim());
  const bad = parts.find((p) => !/^[A-Za-z0-9_.\-[\]:]+:\d{1,5}$/.test(p));
  return bad === undefined ? undefined : `"${bad}" is not host:port (expected a comma-separated list such as 127.0.0.1:9092)`;
}
