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

type Headers = Array<Record<string, string | Buffer>>;

interface OutgoingMessage {
  topic: string;
  value: Buffer;
  key: Buffer | null;
  headers?: Headers;
}

/**
 * A fire-and-forget producer that never gives a message up: every message is
 * kept until the broker acknowledged it, a message the broker rejected is
 * sent again at the next settled(), and settled() resolves only once nothing
 * is unacknowledged. A caller that commits source offsets after settled()
 * therefore never commits past a lost message. Requires `dr_cb: true`.
 */
export class ReliableProducer {
  private nextId = 1;
  private readonly unacked = new Map<number, OutgoingMessage>();
  private readonly rejected = new Set<number>();
  private lastError: string | undefined;
  private waiters: Array<() => void> = [];
  acked = 0;
  failed = 0;

  constructor(private readonly producer: Kafka.Producer) {
    producer.on('delivery-report', (err, report) => {
      const id = Number((report as { opaque?: unknown } | undefined)?.opaque);
      if (!this.unacked.has(id)) return;
      if (err) {
        this.failed++;
        this.lastError = err.message;
        this.rejected.add(id);
      } else {
        this.acked++;
        this.unacked.delete(id);
      }
      if (this.unacked.size === this.rejected.size) for (const w of this.waiters.splice(0)) w();
    });
  }

  get inFlight(): number {
    return this.unacked.size;
  }

  send(topic: string, value: Buffer, key: Buffer | null, headers?: Headers): void {
    const id = this.nextId++;
    this.unacked.set(id, { topic, value, key, headers });
    this.produce(id);
  }

  /**
   * Sends the rejected messages again, then waits until every message is
   * acknowledged. Rejects when some are still unacknowledged (or rejected
   * again) after `timeoutMs`; they stay queued for the next call.
   */
  async settled(timeoutMs: number): Promise<void> {
    for (const id of [...this.rejected]) {
      this.rejected.delete(id);
      this.produce(id);
    }
    if (this.unacked.size > this.rejected.size) {
      this.producer.poll();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    if (this.unacked.size > 0) {
      const why = this.rejected.size > 0 ? `${this.rejected.size} rejected by the broker (${this.lastError}); sent again at the next attempt` : `no acknowledgement within ${timeoutMs} ms`;
      throw new Error(`${this.unacked.size} produced messages are not acknowledged: ${why}`);
    }
  }

  private produce(id: number): void {
    const m = this.unacked.get(id) as OutgoingMessage;
    for (;;) {
      try {
        this.producer.produce(m.topic, null, m.value, m.key, Date.now(), id, m.headers);
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== Kafka.CODES.ERRORS.ERR__QUEUE_FULL) {
          // Not queued (e.g. an unknown topic known locally): treated as a rejection, retried at settled().
          this.failed++;
          this.lastError = (err as Error).message;
          this.rejected.add(id);
          return;
        }
        this.producer.poll();
        // Queue full: the broker is slow or away. Blocking briefly is the
        // backpressure; these messages are rare enough that this does not starve.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
}
