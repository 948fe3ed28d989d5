/**
 * librdkafka producer setup: idempotent, acks=all, compressed, batched; the
 * startup connection is bounded in time and checks that the topic exists.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { connectWithMetadata, idempotentProducerConfig, KafkaSecurityError } from '@stream-analytics/runtime';
import type { ProducerConfig } from './config';

export type NativeProducer = InstanceType<typeof Kafka.Producer>;

export function producerSettings(cfg: ProducerConfig): Record<string, string | number | boolean> {
  return {
    ...idempotentProducerConfig({
      brokers: cfg.brokers,
      clientId: 'stream-analytics-producer',
      security: cfg.kafkaSecurity,
      compression: cfg.compression,
      lingerMs: cfg.lingerMs,
      batchSize: cfg.batchSize,
      // The backpressure bound: produce() fails with QUEUE_FULL beyond it and the send loop waits.
      maxQueuedMessages: cfg.maxInFlight,
      deliveryTimeoutMs: Math.round(cfg.deliveryTimeout * 1000),
    }),
    // A JS callback per acknowledged message costs more CPU than generating the
    // event; in "errors" mode only failures are reported and acks are counted
    // from librdkafka's statistics (see run.ts).
    'delivery.report.only.error': cfg.deliveryReports === 'errors',
    'statistics.interval.ms': 1000,
  };
}

export class StartupError extends Error {}

/** Connects within `timeoutMs` and returns the topic's partition count. */
export async function connectProducer(producer: NativeProducer, cfg: ProducerConfig): Promise<number> {
  const timeoutMs = Math.round(cfg.connectTimeout * 1000);
  const unreachable = (detail?: string) =>
    new StartupError(`Cannot reach Kafka at ${cfg.brokers} within ${cfg.connectTimeout} s; check --brokers/KAFKA_BROKERS${detail ? ` (${detail})` : ''}.`);
  // librdkafka tells why through its log ("Connect to ipv4#127.0.0.1:1 failed: Connection refused").
  let lastClientError: string | undefined;
  const onError = (err: Kafka.LibrdKafkaError) => {
    lastClientError = err.message;
  };
  const onLog = (log: { severity: number; message: string }) => {
    if (log.severity <= 4 || /failed|refused|resolve/i.test(log.message)) {
      lastClientError = log.message.replace(/^\[thrd:[^\]]*\]: (?:\S+: )?/, '').replace(/ \(after \d+ms in state \w+.*\)$/, '');
    }
  };
  producer.on('event.error', onError);
  producer.on('event.log', onLog);
  try {
    let metadata: Kafka.Metadata;
    try {
      metadata = await connectWithMetadata(producer, cfg.brokers, timeoutMs, cfg.kafkaSecurity);
    } catch (err) {
      // Rejected credentials or an untrusted certificate: say which, in one sentence.
      throw err instanceof KafkaSecurityError ? new StartupError(err.message) : unreachable(lastClientError);
    }
    const topic = metadata.topics.find((t) => t.name === cfg.topic);
    if (!topic || topic.partitions.length === 0) {
      throw new StartupError(
        `Topic "${cfg.topic}" does not exist on ${cfg.brokers}${cfg.kafkaSecurity.sasl ? ` or user "${cfg.kafkaSecurity.username}" may not describe it (ACLs)` : ''}; create it first (the local stack creates the default topics) or choose another with --topic/RAW_TOPIC.`,
      );
    }
    return topic.partitions.length;
  } finally {
    producer.off('event.error', onError);
    producer.off('event.log', onLog);
  }
}
