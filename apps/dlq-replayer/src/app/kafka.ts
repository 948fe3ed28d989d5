/**
 * Kafka plumbing of the replayer on the native (node-rdkafka style) client:
 * topic metadata, start/end offsets, reading a set of partition ranges to
 * their end, the ledger topic and the tail of raw partitions.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { baseKafkaConfig, connectClient, consumeBatch, disconnectClient, type KafkaMessage, type KafkaTarget } from '@stream-analytics/runtime';
import { randomUUID } from 'node:crypto';
import type { WindowingConfig } from '@stream-analytics/windowing';
import { JSON_ONLY_DECODER, type EventDecoder } from '@stream-analytics/event-schema';
import type { StartPosition } from './cli';
import { acceptedEventTime } from './decide';
import type { PartitionRange } from './summary';

export type Consumer = Kafka.KafkaConsumer;

const cb2p = <T>(f: (cb: (err: Kafka.LibrdKafkaError | null | undefined, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function createConsumer(kafka: KafkaTarget, clientId: string, groupId: string | undefined, timeoutMs: number, extra: Record<string, unknown> = {}): Promise<Consumer> {
  const consumer = new Kafka.KafkaConsumer(
    {
      ...baseKafkaConfig({ brokers: kafka.brokers, clientId, security: kafka.kafkaSecurity }),
      'group.id': groupId ?? `dlq-replayer-reader-${randomUUID()}`,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'enable.partition.eof': true,
      'isolation.level': 'read_committed',
      ...extra,
    } as Kafka.ConsumerGlobalConfig,
    { 'auto.offset.reset': 'earliest' },
  );
  consumer.setDefaultConsumeTimeout(200);
  return connectClient(consumer, kafka.brokers, timeoutMs, kafka.kafkaSecurity);
}

/** Number of partitions of a topic, or undefined when it does not exist. */
export async function partitionCount(client: Consumer | Kafka.Producer, topic: string, timeoutMs: number): Promise<number | undefined> {
  const md = await cb2p<Kafka.Metadata>((cb) => client.getMetadata({ topic, timeout: timeoutMs }, cb));
  const t = md.topics.find((x) => x.name === topic);
  if (!t || t.partitions.length === 0) return undefined;
  return t.partitions.length;
}

export async function watermarks(consumer: Consumer, topic: string, partition: number, timeoutMs: number): Promise<{ low: number; high: number }> {
  const w = await cb2p<Kafka.WatermarkOffsets>((cb) => consumer.queryWatermarkOffsets(topic, partition, timeoutMs, cb));
  return { low: w.lowOffset, high: w.highOffset };
}

async function committed(consumer: Consumer, topic: string, partitions: number[], timeoutMs: number): Promise<Map<number, number>> {
  const list = await cb2p<Kafka.TopicPartitionOffsetAndMetadata[]>((cb) => consumer.committed(partitions.map((partition) => ({ topic, partition })), timeoutMs, cb));
  return new Map(list.map((c) => [c.partition, c.offset]));
}

async function offsetsForTime(consumer: Consumer, topic: string, partitions: number[], ms: number, timeoutMs: number): Promise<Map<number, number>> {
  const list = await cb2p<Kafka.TopicPartitionOffset[]>((cb) => consumer.offsetsForTimes(partitions.map((partition) => ({ topic, partition, offset: ms })), timeoutMs, cb));
  return new Map(list.map((c) => [c.partition, c.offset]));
}

/**
 * The offset range [start, end) of every DLQ partition to read: end is the
 * high watermark now (the run reads what is there when it starts), start
 * comes from the start position, clamped to what the partition still holds.
 */
export async function resolveRanges(consumer: Consumer, topic: string, partitions: number, start: StartPosition, timeoutMs: number): Promise<PartitionRange[]> {
  const all = Array.from({ length: partitions }, (_, p) => p);
  const wanted = start.kind === 'offsets' && start.perPartition ? all.filter((p) => start.perPartition!.has(p)) : all;
  const marks = new Map<number, { low: number; high: number }>();
  for (const p of wanted) marks.set(p, await watermarks(consumer, topic, p, timeoutMs));
  let starts = new Map<number, number>();
  if (start.kind === 'committed') starts = await committed(consumer, topic, wanted, timeoutMs);
  else if (start.kind === 'time') starts = await offsetsForTime(consumer, topic, wanted, start.ms, timeoutMs);
  else if (start.kind === 'offsets') for (const p of wanted) starts.set(p, start.perPartition ? start.perPartition.get(p)! : start.all!);
  return wanted.map((partition) => {
    const { low, high } = marks.get(partition)!;
    const s = starts.get(partition);
    // No committed offset (negative) starts at the beginning; no record at/after the time starts at the end.
    const from = s === undefined || (s < 0 && start.kind !== 'time') ? low : s < 0 ? high : s;
    return { partition, startOffset: Math.min(Math.max(from, low), high), endOffset: high };
  });
}

/**
 * Reads a set of partition ranges in batches. A partition is finished when
 * its last offset before `end` was delivered, when the consumer reports the
 * end of the partition at or past `end`, or when finish() is called (e.g. at
 * the --to time).
 */
export class RangeReader {
  private readonly ranges = new Map<number, PartitionRange>();
  private readonly finished = new Set<number>();
  /** Next offset to process per partition (after the last delivered message). */
  readonly position = new Map<number, number>();
  /**
   * Partitions whose end was reported. The client emits EOF events before the
   * batch holding the partition's last messages is handed over, so they are
   * finished only once that batch was processed (the next next()/done()).
   */
  private readonly eofSeen = new Set<number>();
  private readonly onEof = (eof: Kafka.EofEvent) => {
    if (eof.topic === this.topic && eof.offset >= (this.ranges.get(eof.partition)?.endOffset ?? Infinity)) this.eofSeen.add(eof.partition);
  };

  private promoteEofs(): void {
    for (const p of this.eofSeen) this.finish(p);
    this.eofSeen.clear();
  }

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    ranges: PartitionRange[],
  ) {
    for (const r of ranges) {
      this.ranges.set(r.partition, r);
      this.position.set(r.partition, r.startOffset);
      if (r.startOffset >= r.endOffset) this.finished.add(r.partition);
    }
    consumer.on('partition.eof', this.onEof);
    const active = ranges.filter((r) => !this.finished.has(r.partition));
    if (active.length > 0) consumer.assign(active.map((r) => ({ topic, partition: r.partition, offset: r.startOffset })));
  }

  /** True when every partition is finished; call between batches (after processing the last one). */
  done(): boolean {
    this.promoteEofs();
    return this.finished.size === this.ranges.size;
  }

  isFinished(partition: number): boolean {
    return this.finished.has(partition);
  }

  finish(partition: number): void {
    if (this.finished.has(partition) || !this.ranges.has(partition)) return;
    this.finished.add(partition);
    try {
      this.consumer.pause([{ topic: this.topic, partition }]);
    } catch {
      // not assigned: nothing to pause
    }
  }

  /** Up to `max` messages inside the ranges of unfinished partitions (possibly none). */
  async next(max: number): Promise<KafkaMessage[]> {
    if (this.done()) return [];
    const batch = await consumeBatch(this.consumer, max);
    const out: KafkaMessage[] = [];
    for (const m of batch) {
      const r = this.ranges.get(m.partition);
      if (!r || this.finished.has(m.partition) || m.offset >= r.endOffset || m.offset < (this.position.get(m.partition) ?? 0)) continue;
      out.push(m);
    }
    return out;
  }

  /** Marks a message processed: the partition's position moves past it. */
  processed(m: KafkaMessage): void {
    this.position.set(m.partition, m.offset + 1);
    if (m.offset >= this.ranges.get(m.partition)!.endOffset - 1) this.finish(m.partition);
  }

  unassign(): void {
    this.consumer.removeListener('partition.eof', this.onEof);
    try {
      this.consumer.unassign();
    } catch {
      // already gone
    }
  }
}

/** Reads whole ranges to their end, calling onMessage for each message; returns false on timeout. */
export async function readRanges(consumer: Consumer, topic: string, ranges: PartitionRange[], onMessage: (m: KafkaMessage) => void, timeoutMs: number): Promise<boolean> {
  const reader = new RangeReader(consumer, topic, ranges);
  const deadline = Date.now() + timeoutMs;
  try {
    while (!reader.done()) {
      if (Date.now() > deadline) return false;
      for (const m of await reader.next(1000)) {
        onMessage(m);
        reader.processed(m);
      }
    }
    return true;
  } finally {
    reader.unassign();
  }
}

// ---------------------------------------------------------------- ledger

export interface LedgerRecord {
  targetTopic: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  eventId: string;
  targetPartition: number | null;
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: number;
  reason: string;
  repairs: string[];
  group: string;
  replayedAtMs: number;
}

/** Creates the compacted, single-partition ledger topic when it is missing. */
export async function ensureLedgerTopic(kafka: KafkaTarget, topic: string, timeoutMs: number): Promise<'created' | 'exists'> {
  const admin = Kafka.AdminClient.create({ ...baseKafkaConfig({ brokers: kafka.brokers, clientId: 'dlq-replayer-admin', security: kafka.kafkaSecurity }) } as Kafka.GlobalConfig);
  try {
    return await new Promise<'created' | 'exists'>((resolve, reject) =>
      admin.createTopic(
        {
          topic,
          num_partitions: 1,
          // -1: the broker's default.replication.factor (3 in production).
          replication_factor: -1,
          config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'retention.ms': '-1' },
        },
        timeoutMs,
        (err) => (!err ? resolve('created') : err.code === Kafka.CODES.ERRORS.ERR_TOPIC_ALREADY_EXISTS ? resolve('exists') : reject(err)),
      ),
    );
  } finally {
    admin.disconnect();
  }
}

/**
 * Keys of the ledger (read_committed, to its end). `complete` is false when
 * the end was not reached in time (e.g. a transaction of a running replayer
 * is still open) or the topic does not exist.
 */
export async function loadLedger(kafka: KafkaTarget, topic: string, timeoutMs: number): Promise<{ keys: Set<string>; complete: boolean; exists: boolean }> {
  const consumer = await createConsumer(kafka, 'dlq-replayer-ledger', undefined, timeoutMs);
  const keys = new Set<string>();
  try {
    const partitions = await partitionCount(consumer, topic, timeoutMs);
    if (partitions === undefined) return { keys, complete: true, exists: false };
    const ranges = await resolveRanges(consumer, topic, partitions, { kind: 'beginning' }, timeoutMs);
    const complete = await readRanges(
      consumer,
      topic,
      ranges,
      (m) => {
        if (m.key != null) keys.add(m.key.toString());
      },
      timeoutMs,
    );
    return { keys, complete, exists: true };
  } finally {
    await disconnectClient(consumer);
  }
}

// ---------------------------------------------------------------- tail of raw partitions

/**
 * The newest accepted event time (acceptedEventTime: valid and not in the
 * future of its record timestamp) among the last `records` committed records
 * of a raw partition (-Infinity when there are none): the partition's
 * watermark is at least this minus the out-of-orderness bound, whatever the
 * aggregator's progress, because it reads every one of them before a
 * replayed record.
 */
export async function tailMaxEventTime(
  consumer: Consumer,
  topic: string,
  partition: number,
  records: number,
  windowing: WindowingConfig,
  timeoutMs: number,
  decoder: EventDecoder = JSON_ONLY_DECODER,
  prepare: (values: ReadonlyArray<Buffer | null>) => Promise<void> = (v) => decoder.prepare(v),
): Promise<{ max: number; complete: boolean }> {
  const { low, high } = await watermarks(consumer, topic, partition, timeoutMs);
  const tail: Array<{ value: Buffer | null; timestamp: number | undefined }> = [];
  const complete = await readRanges(
    consumer,
    topic,
    [{ partition, startOffset: Math.max(low, high - records), endOffset: high }],
    (m) => void tail.push({ value: m.value ?? null, timestamp: m.timestamp }),
    timeoutMs,
  );
  await prepare(tail.map((m) => m.value));
  let max = -Infinity;
  for (const m of tail) {
    const t = acceptedEventTime(m.value, m.timestamp, windowing, decoder);
    if (t !== undefined && t > max) max = t;
  }
  return { max, complete };
}
