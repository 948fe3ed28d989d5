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

/** Validates a comma-separated broker list (host:port,...) for config parsing. */
export function validateBrokers(value: string): string | undefined {
  const parts = value.split(',').map((s) => s.trim());
  const bad = parts.find((p) => !/^[A-Za-z0-9_.\-[\]:]+:\d{1,5}$/.test(p));
  return bad === undefined ? undefined : `"${bad}" is not host:port (expected a comma-separated list such as 127.0.0.1:9092)`;
}
