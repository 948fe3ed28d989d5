/**
 * The Kafka client's consumePacked (added by patches/ at install) against its
 * stock consume on one topic of a real broker: the same messages, byte for
 * byte (values, keys, partitions, offsets, timestamps, topic), whatever the
 * key and value (null, empty, binary, large, with headers). And the record
 * source the aggregator builds from either gives the pipeline the same records.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { randomBytes } from 'node:crypto';
import { recordBatch, type RecordColumns, type SourceRecord } from '@stream-analytics/stream-pipeline';
import { connectTestProducer, createTestTopic, endOffsets, getTestEndpoints } from '@stream-analytics/testing';
import { consumeModeOf, kafkaRecordSource } from './app/adapters';

jest.setTimeout(180000);

const PARTITIONS = 3;

interface Plain {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number | undefined;
  key: string | null;
  value: string | null;
}

const hex = (b: Buffer | null | undefined) => (b == null ? null : b.toString('hex'));
const plain = (r: SourceRecord): Plain => ({ topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: hex(r.key), value: hex(r.value) });
const byPosition = (a: Plain, b: Plain) => a.partition - b.partition || a.offset - b.offset;

/** A consumer of every partition of `topic` from the start, in a group of its own. */
async function assignedConsumer(brokers: string, topic: string): Promise<Kafka.KafkaConsumer> {
  const consumer = new Kafka.KafkaConsumer({ 'bootstrap.servers': brokers, 'group.id': `packed-${randomBytes(4).toString('hex')}`, 'enable.auto.commit': false }, { 'auto.offset.reset': 'earliest' });
  consumer.setDefaultConsumeTimeout(500);
  // In the client's JS API but not in its type declarations (as in pipeline-worker.ts).
  (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30000 }, (err) => (err ? reject(err) : resolve())));
  consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 0 })));
  return consumer;
}

/** Polls `read` until `total` records came back; also returns every batch's size. */
async function readAll<T>(total: number, read: () => Promise<T[]>): Promise<{ records: T[]; batches: number[] }> {
  const records: T[] = [];
  const batches: number[] = [];
  for (let polls = 0; records.length < total; polls++) {
    if (polls > 2000) throw new Error(`read ${records.length} of ${total} records`);
    const got = await read();
    batches.push(got.length);
    records.push(...got);
  }
  return { records, batches };
}

describe('consumePacked (real Kafka)', () => {
  let brokers: string;
  let topic: string;
  let total: number;

  beforeAll(async () => {
    ({ kafkaBrokers: brokers } = await getTestEndpoints());
    topic = await createTestTopic(brokers, { prefix: 'packed', partitions: PARTITIONS });
    const producer = await connectTestProducer(brokers);
    const keys: Array<Buffer | null> = [null, Buffer.alloc(0), Buffer.from('dev-0001'), Buffer.from([0, 255, 34, 10, 0])];
    const values: Array<Buffer | null> = [
      Buffer.from('{"event_id":"2149f46c-57f3-4ddf-a16b-26b708ef9fc4","status":"ok"}'),
      null,
      Buffer.alloc(0),
      Buffer.from([0, 0, 0, 0, 7, 0xff]),
      Buffer.from('dé'),
    ];
    let sent = 0;
    for (let i = 0; i < 3000; i++) {
      const value = i % 500 === 7 ? randomBytes(200_000) : i % 11 === 0 ? randomBytes(i % 300) : values[i % values.length];
      // A few explicit (old) timestamps, the rest the producer's.
      const timestamp = i % 13 === 0 ? Date.UTC(2001, 0, 1) + i : undefined;
      const headers: Kafka.MessageHeader[] | undefined = i % 7 === 0 ? [{ 'h.one': Buffer.from('x') }, { 'h.two': 'y' }] : undefined;
      await producer.produce(topic, i % PARTITIONS, value, keys[i % keys.length], timestamp, undefined, headers);
      sent++;
    }
    await producer.settle(sent);
    total = (await endOffsets(brokers, topic, PARTITIONS)).reduce((a, b) => a + b, 0);
    expect(total).toBe(3000);
  });

  it('returns exactly the messages consume returns: values, keys, partitions, offsets, timestamps, topic', async () => {
    const stock = await assignedConsumer(brokers, topic);
    const packed = await assignedConsumer(brokers, topic);
    try {
      expect(typeof (packed as unknown as { consumePacked?: unknown }).consumePacked).toBe('function');
      const fromStock = await readAll(total, () => new Promise<Kafka.Message[]>((resolve, reject) => stock.consume(400, (err, m) => (err ? reject(err) : resolve(m)))));
      const fromPacked = await readAll(total, async () => {
        const c = await new Promise<RecordColumns>((resolve, reject) =>
          (packed as unknown as { consumePacked(n: number, cb: (err: Error | null, b: RecordColumns) => void): void }).consumePacked(400, (err, b) => (err ? reject(err) : resolve(b))),
        );
        // The columns read by hand here (the pipeline's reader is checked below).
        expect(c.count).toBeLessThanOrEqual(400);
        const slice = (start: number, length: number) => (length < 0 ? null : c.buffer.subarray(start, start + length).toString('hex'));
        return Array.from({ length: c.count }, (_, i) => ({
          topic: c.topics[c.topicIndexes[i]],
          partition: c.partitions[i],
          offset: c.offsets[i],
          timestamp: c.timestamps[i],
          key: slice(c.keyOffsets[i], c.keyLengths[i]),
          value: slice(c.valueOffsets[i], c.valueLengths[i]),
        }));
      });
      const expected = fromStock.records.map((m) => ({ topic: m.topic, partition: m.partition, offset: m.offset, timestamp: m.timestamp, key: hex(m.key as Buffer | null), value: hex(m.value) }));
      expect(expected.filter((m) => m.value === null).length).toBeGreaterThan(0);
      expect(expected.filter((m) => m.key === null).length).toBeGreaterThan(0);
      expect(fromPacked.records.sort(byPosition)).toEqual(expected.sort(byPosition));
      // Batches of more than one message, never more than asked for.
      expect(Math.max(...fromPacked.batches)).toBeGreaterThan(1);
    } finally {
      await new Promise<void>((resolve) => stock.disconnect(() => resolve()));
      await new Promise<void>((resolve) => packed.disconnect(() => resolve()));
    }
  });

  it("gives the pipeline the same records from the aggregator's record source, packed or not, and falls back to message objects without consumePacked", async () => {
    const stock = await assignedConsumer(brokers, topic);
    const packed = await assignedConsumer(brokers, topic);
    try {
      expect(consumeModeOf(packed)).toBe('packed');
      expect(consumeModeOf(packed, false)).toBe('messages');
      // A client without the patch (a prebuilt binary): the method is not there.
      Object.defineProperty(stock, 'consumePacked', { value: undefined });
      expect(consumeModeOf(stock)).toBe('messages');
      const read = (source: ReturnType<typeof kafkaRecordSource>) => readAll(total, async () => recordBatch(await source.consume(400)).records(0).map(plain));
      const fromMessages = await read(kafkaRecordSource(stock, topic));
      const fromPacked = await read(kafkaRecordSource(packed, topic));
      expect(fromPacked.records.sort(byPosition)).toEqual(fromMessages.records.sort(byPosition));
    } finally {
      await new Promise<void>((resolve) => stock.disconnect(() => resolve()));
      await new Promise<void>((resolve) => packed.disconnect(() => resolve()));
    }
  });
});
