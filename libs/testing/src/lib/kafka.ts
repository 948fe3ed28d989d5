/**
 * Kafka helpers for integration tests, on the same librdkafka client the apps
 * use: unique topics per test, reading a topic to its end, end offsets.
 */
import { randomUUID } from 'node:crypto';
import Kafka from '@confluentinc/kafka-javascript';

type Admin = ReturnType<typeof Kafka.AdminClient.create>;

function withAdmin<T>(brokers: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers, 'client.id': 'integration-tests' });
  return fn(admin).finally(() => admin.disconnect());
}

/** Creates a topic with a unique name (prefix + random suffix) and returns the name. */
export async function createTestTopic(brokers: string, opts: { prefix?: string; partitions?: number; config?: Record<string, string> } = {}): Promise<string> {
  const topic = `${opts.prefix ?? 'test'}.${randomUUID().slice(0, 8)}`;
  await withAdmin(brokers, (admin) =>
    new Promise<void>((resolve, reject) =>
      admin.createTopic({ topic, num_partitions: opts.partitions ?? 1, replication_factor: 1, config: opts.config ?? {} }, 30000, (err) => (err ? reject(err) : resolve())),
    ),
  );
  return topic;
}

export async function deleteTopic(brokers: string, topic: string): Promise<void> {
  await withAdmin(brokers, (admin) => new Promise<void>((resolve) => admin.deleteTopic(topic, 30000, () => resolve())));
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  timestamp: number | undefined;
  headers: Record<string, Buffer>;
}

/** The test-friendly shape of a native client message (headers flattened to Buffers). */
export function toConsumedMessage(m: Kafka.Message): ConsumedMessage {
  const headers: Record<string, Buffer> = {};
  for (const h of m.headers ?? []) for (const [k, v] of Object.entries(h)) headers[k] = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key == null ? null : m.key.toString(),
    value: m.value ?? null,
    timestamp: m.timestamp,
    headers,
  };
}

/** Low and high watermark per partition (high = offset of the next message). */
export async function endOffsets(brokers: string, topic: string, partitions: number): Promise<number[]> {
  const consumer = new Kafka.KafkaConsumer({ 'bootstrap.servers': brokers, 'group.id': `offsets-${randomUUID()}` }, {});
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30000 }, (err) => (err ? reject(err) : resolve())));
  try {
    const highs: number[] = [];
    for (let p = 0; p < partitions; p++) {
      highs.push(await new Promise<number>((resolve, reject) => consumer.queryWatermarkOffsets(topic, p, 30000, (err, o) => (err ? reject(err) : resolve(o.highOffset)))));
    }
    return highs;
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

/**
 * Reads every message of a topic from the beginning up to the end offsets
 * taken when the call starts. `isolation` read_committed hides aborted
 * transactional writes (and stops at the last stable offset).
 */
export async function readTopic(
  brokers: string,
  topic: string,
  opts: { partitions: number; isolation?: 'read_committed' | 'read_uncommitted'; timeoutMs?: number },
): Promise<ConsumedMessage[]> {
  const ends = await endOffsets(brokers, topic, opts.partitions);
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': brokers,
      'group.id': `reader-${randomUUID()}`,
      'enable.auto.commit': false,
      'isolation.level': opts.isolation ?? 'read_uncommitted',
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30000 }, (err) => (err ? reject(err) : resolve())));
  const out: ConsumedMessage[] = [];
  try {
    consumer.assign(ends.map((_, partition) => ({ topic, partition, offset: 0 })));
    const position = ends.map(() => -1);
    const done = () => ends.every((end, p) => end === 0 || position[p] >= end - 1);
    const deadline = Date.now() + (opts.timeoutMs ?? 60000);
    let idleRounds = 0;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`readTopic(${topic}): timed out with ${out.length} messages read`);
      const batch = await new Promise<Kafka.Message[]>((resolve, reject) => consumer.consume(5000, (err, msgs) => (err ? reject(err) : resolve(msgs))));
      // read_committed stops before transaction markers at the end: after a few
      // empty polls the visible messages are all there is.
      idleRounds = batch.length === 0 ? idleRounds + 1 : 0;
      if (idleRounds >= 20 && opts.isolation === 'read_committed') break;
      for (const m of batch) {
        position[m.partition] = Math.max(position[m.partition], m.offset);
        out.push(toConsumedMessage(m));
      }
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return out;
}

export interface TestProducer {
  /** produce() that waits out a full local queue instead of throwing. */
  produce(...args: Parameters<Kafka.Producer['produce']>): Promise<void>;
  /** Waits until all `sent` messages are acknowledged, disconnects, and fails on any loss. */
  settle(sent: number): Promise<void>;
}

/** An idempotent producer for writing test data, with delivery counted. */
export async function connectTestProducer(brokers: string): Promise<TestProducer> {
  const producer = new Kafka.Producer({ 'bootstrap.servers': brokers, dr_cb: true, 'enable.idempotence': true, 'linger.ms': 5 });
  await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
  let acked = 0;
  let failed = 0;
  producer.on('delivery-report', (err) => (err ? failed++ : acked++));
  producer.setPollInterval(20);
  return {
    produce: async (...args) => {
      for (;;) {
        try {
          producer.produce(...args);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    },
    settle: async (sent) => {
      await new Promise<void>((resolve, reject) => producer.flush(60000, (err) => (err ? reject(err) : resolve())));
      // flush() returns when librdkafka has the acks; their reports reach JS on poll.
      const deadline = Date.now() + 60000;
      while (acked + failed < sent && Date.now() < deadline) {
        producer.poll();
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
      if (failed > 0 || acked !== sent) throw new Error(`produced ${sent}, acked ${acked}, failed ${failed}`);
    },
  };
}
