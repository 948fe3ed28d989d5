/**
 * The gateway's Kafka side: one idempotent producer (the platform's shared
 * settings from libs/runtime) with a delivery report per record, each report
 * settling the record's Ingest. It also tells whether Kafka is reachable, so
 * the HTTP ingress can answer 503 instead of queueing without end.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { KafkaHeaders } from '@stream-analytics/event-schema';
import { connectClient, disconnectClient, flushProducer, idempotentProducerConfig, type Logger, type NativeProducer } from '@stream-analytics/runtime';
import type { Ingest } from './acks';
import { InFlight } from './acks';
import type { GatewayConfig } from './config';

export class StartupError extends Error {}

/** How often the reachability probe asks for metadata while Kafka is away. */
const PROBE_INTERVAL_MS = 1000;
/** An event in flight longer than this means Kafka is not keeping up or away. */
const STALL_MS = 3000;

interface Pending {
  ingest: Ingest;
  bytes: number;
  sentAtMs: number;
}

export class EventSink {
  readonly inFlight: InFlight;
  private readonly producer: NativeProducer;
  private down: string | undefined;
  private probe: NodeJS.Timeout | undefined;
  private oldestSentAt = new Map<Pending, number>();
  fatal: string | undefined;
  onDeliveryFailed: (error: string) => void = () => undefined;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.inFlight = new InFlight({ maxEvents: cfg.maxInFlightEvents, maxBytes: cfg.maxInFlightBytes });
    this.producer = new Kafka.Producer(
      idempotentProducerConfig({
        brokers: cfg.brokers,
        clientId: 'stream-analytics-ingest-gateway',
        security: cfg.kafkaSecurity,
        compression: cfg.compression,
        lingerMs: cfg.lingerMs,
        batchSize: cfg.batchSize,
        // The gateway bounds what it holds itself (InFlight); librdkafka's queue never is the limit.
        maxQueuedMessages: Math.min(10_000_000, cfg.maxInFlightEvents * 2 + 100_000),
        deliveryTimeoutMs: Math.round(cfg.deliveryTimeout * 1000),
      }),
    );
    this.producer.on('delivery-report', (err, report) => {
      const p = report.opaque as Pending;
      this.oldestSentAt.delete(p);
      this.inFlight.release(p.bytes);
      if (err) {
        const message = err.message || String(err.code);
        this.onDeliveryFailed(message);
        p.ingest.settle(message);
      } else {
        if (this.down !== undefined) this.markUp();
        p.ingest.settle();
      }
    });
    this.producer.on('event.error', (err: Kafka.LibrdKafkaError) => {
      if (err.isFatal) {
        this.fatal = err.message;
        logger.error({ code: err.code, error: err.message }, 'fatal Kafka producer error');
        return;
      }
      if (err.code === Kafka.CODES.ERRORS.ERR__ALL_BROKERS_DOWN) this.markDown('all Kafka brokers are down');
      else logger.debug({ code: err.code, error: err.message }, 'Kafka client error (librdkafka retries)');
    });
  }

  async connect(): Promise<void> {
    const timeoutMs = Math.round(this.cfg.connectTimeout * 1000);
    try {
      await connectClient(this.producer, this.cfg.brokers, timeoutMs, this.cfg.kafkaSecurity);
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
    const metadata = await this.metadata(timeoutMs);
    for (const topic of [this.cfg.topic, this.cfg.dlqTopic]) {
      const t = metadata.topics.find((m) => m.name === topic);
      if (!t || t.partitions.length === 0) {
        throw new StartupError(`Topic "${topic}" does not exist on ${this.cfg.brokers}; create it first (the local stack creates the default topics) or choose another with --topic/--dlq-topic.`);
      }
    }
    this.producer.setPollInterval(5);
  }

  /** Kafka is reachable and keeping up (new HTTP requests are taken). */
  get available(): boolean {
    return this.down === undefined && this.fatal === undefined && !this.stalled();
  }

  get unavailableReason(): string | undefined {
    if (this.fatal !== undefined) return `fatal Kafka error: ${this.fatal}`;
    if (this.down !== undefined) return this.down;
    return this.stalled() ? `Kafka has not acknowledged events for ${STALL_MS / 1000} s` : undefined;
  }

  private stalled(): boolean {
    // Map iteration order is insertion order: the first entry is the oldest in flight.
    for (const sentAt of this.oldestSentAt.values()) return Date.now() - sentAt > STALL_MS;
    return false;
  }

  /** Hands one record to librdkafka for `ingest`; a record librdkafka refuses settles at once as failed. */
  send(topic: string, value: Buffer, key: string | Buffer | null, headers: KafkaHeaders | undefined, ingest: Ingest): void {
    const p: Pending = { ingest, bytes: value.length, sentAtMs: Date.now() };
    ingest.add();
    try {
      this.producer.produce(topic, null, value, key, null, p, headers);
    } catch (err) {
      const message = (err as Error).message;
      this.onDeliveryFailed(message);
      ingest.settle(message);
      return;
    }
    this.inFlight.take(p.bytes);
    this.oldestSentAt.set(p, p.sentAtMs);
  }

  private markDown(reason: string): void {
    if (this.down === undefined) this.logger.warn({ reason }, 'Kafka unavailable: MQTT acknowledgements wait, HTTP answers 503');
    this.down = reason;
    this.probe ??= setInterval(() => {
      this.metadata(PROBE_INTERVAL_MS).then(
        () => this.markUp(),
        () => undefined,
      );
    }, PROBE_INTERVAL_MS);
  }

  private markUp(): void {
    if (this.down !== undefined) this.logger.info('Kafka reachable again');
    this.down = undefined;
    clearInterval(this.probe);
    this.probe = undefined;
  }

  private metadata(timeoutMs: number): Promise<Kafka.Metadata> {
    return new Promise((resolve, reject) => this.producer.getMetadata({ timeout: timeoutMs }, (err, data) => (err ? reject(err) : resolve(data))));
  }

  /** Waits for every record in flight (bounded); true when nothing is left. */
  async drain(timeoutMs: number): Promise<boolean> {
    try {
      await flushProducer(this.producer, Math.max(1, timeoutMs));
    } catch {
      // reported below through what is still in flight
    }
    return this.inFlight.idle(Math.max(1, Math.min(5000, timeoutMs)));
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    await disconnectClient(this.producer, 5000);
  }
}
