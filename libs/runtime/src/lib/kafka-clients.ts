/**
 * Promise wrappers around the native (node-rdkafka style) client of
 * @confluentinc/kafka-javascript, which the hot paths use: it hands out
 * batches of messages and takes fire-and-forget produce() calls, unlike the
 * KafkaJS-compatible API that awaits one message at a time.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { describeKafkaSecurityError, KafkaSecurity, KafkaSecurityError, watchKafkaSecurity } from './kafka-security';

export type KafkaMessage = Kafka.Message;
export type NativeConsumer = Kafka.KafkaConsumer;
export type NativeProducer = Kafka.Producer;
export const KafkaCodes = Kafka.CODES;

/** librdkafka delivers a client's log lines only once a connect attempt ends: attempts stay short. */
const CONNECT_ATTEMPT_MS = 3000;

/**
 * Connects a client and returns the cluster metadata, failing with a readable
 * error after `timeoutMs`. A security failure (rejected credentials, untrusted
 * or mismatched certificate) rejects with a {@link KafkaSecurityError} as soon
 * as the attempt that saw it ends (a few seconds): waiting cannot fix it.
 */
export function connectWithMetadata(client: Kafka.KafkaConsumer | Kafka.Producer, brokers: string, timeoutMs: number, security: KafkaSecurity = KafkaSecurity.plaintext): Promise<Kafka.Metadata> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let securityFailure: string | undefined;
    const unwatch = watchKafkaSecurity(client, brokers, security, (sentence) => (securityFailure ??= sentence));
    const attempt = () => {
      client.connect({ timeout: Math.max(500, Math.min(CONNECT_ATTEMPT_MS, deadline - Date.now())) }, (err, metadata) => {
        if (!err) {
          unwatch();
          return resolve(metadata);
        }
        // The attempt's log lines (and a TLS diagnosis) arrive just after it ends.
        setTimeout(() => {
          securityFailure ??= describeKafkaSecurityError(err, brokers, security);
          if (!securityFailure && Date.now() < deadline) return attempt();
          unwatch();
          reject(
            securityFailure
              ? new KafkaSecurityError(securityFailure)
              : new Error(`Cannot reach Kafka at ${brokers} within ${Math.round(timeoutMs / 1000)} s (${err.message}); check --brokers / KAFKA_BROKERS and that the broker is running.`),
          );
        }, 200);
      });
    };
    attempt();
  });
}

/** {@link connectWithMetadata}, resolving with the client. */
export async function connectClient<C extends Kafka.KafkaConsumer | Kafka.Producer>(client: C, brokers: string, timeoutMs: number, security?: KafkaSecurity): Promise<C> {
  await connectWithMetadata(client, brokers, timeoutMs, security);
  return client;
}

export function disconnectClient(client: Kafka.KafkaConsumer | Kafka.Producer, timeoutMs = 10000): Promise<void> {
  return new Promise((resolve) => {
    if (!client.isConnected()) return resolve();
    const timer = setTimeout(resolve, timeoutMs);
    client.disconnect(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Up to `max` messages, waiting at most the consumer's consume timeout. */
export function consumeBatch(consumer: Kafka.KafkaConsumer, max: number): Promise<Kafka.Message[]> {
  return new Promise((resolve, reject) => consumer.consume(max, (err, messages) => (err ? reject(err) : resolve(messages))));
}

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** Next offset to read; negative (-1001) when the group never committed. */
  offset: number;
  metadata?: string | null;
}

export function committedOffsets(consumer: Kafka.KafkaConsumer, partitions: Array<{ topic: string; partition: number }>, timeoutMs: number): Promise<CommittedOffset[]> {
  return new Promise((resolve, reject) =>
    consumer.committed(partitions, timeoutMs, (err, result) => (err ? reject(err) : resolve(result as CommittedOffset[]))),
  );
}

/** Flushes the producer queue: resolves when every queued message got its delivery report. */
export function flushProducer(producer: Kafka.Producer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => producer.flush(timeoutMs, (err) => (err ? reject(err) : resolve())));
}

/**
 * Counts produced messages against delivery reports so a caller can wait
 * until everything it produced is acknowledged (or learn what failed),
 * without awaiting each message. Requires `dr_cb: true`.
 */
export class DeliveryTracker {
  private pending = 0;
  private failures: Error[] = [];
  private waiters: Array<() => void> = [];
  acked = 0;
  failed = 0;

  constructor(producer: Kafka.Producer) {
    producer.on('delivery-report', (err) => {
      this.pending--;
      if (err) {
        this.failed++;
        this.failures.push(new Error(err.message));
      } else this.acked++;
      if (this.pending === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Call after each successful produce(). */
  sent(): void {
    this.pending++;
  }

  get inFlight(): number {
    return this.pending;
  }

  /** Resolves once nothing is in flight; rejects if any delivery failed since the last call. */
  async settled(producer: Kafka.Producer, timeoutMs: number): Promise<void> {
    if (this.pending > 0) {
      producer.poll();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    if (this.pending > 0) throw new Error(`${this.pending} messages still unacknowledged after ${timeoutMs} ms`);
    const failures = this.failures.splice(0);
    if (failures.length > 0) throw new Error(`${failures.length} deliveries failed: ${failures[0].message}`);
  }
}
