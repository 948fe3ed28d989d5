/**
 * The dead-letter producer against a real broker that rejects a message: the
 * message is kept and sent again, settled() keeps failing (so the aggregator
 * commits nothing past it), and nothing else is held up or lost.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { baseKafkaConfig, connectClient, disconnectClient, ReliableProducer } from '@stream-analytics/runtime';
import { createTestTopic, getTestEndpoints, readTopic } from '@stream-analytics/testing';

jest.setTimeout(120000);

describe('ReliableProducer (real Kafka)', () => {
  /**
   * A topic whose broker refuses records over 300 bytes (MESSAGE_TOO_LARGE, not retriable), and a
   * producer sending one message per batch to it, since the broker rejects a whole batch.
   */
  async function rejectingTopic(prefix: string): Promise<{ kafkaBrokers: string; topic: string; producer: Kafka.Producer }> {
    const { kafkaBrokers } = await getTestEndpoints();
    const topic = await createTestTopic(kafkaBrokers, { prefix, config: { 'max.message.bytes': '300' } });
    const producer = new Kafka.Producer({ ...baseKafkaConfig({ brokers: kafkaBrokers, clientId: `${prefix}-test` }), dr_cb: true, acks: 'all', 'message.timeout.ms': 0, 'batch.num.messages': 1 } as Kafka.ProducerGlobalConfig);
    producer.setPollInterval(20);
    await connectClient(producer, kafkaBrokers, 15000);
    return { kafkaBrokers, topic, producer };
  }

  it('keeps a message the broker rejects, re-sends it at every settle, and never reports it acknowledged', async () => {
    const { kafkaBrokers, topic, producer } = await rejectingTopic('reliable');
    try {
      const reliable = new ReliableProducer(producer);
      reliable.send(topic, Buffer.from('small one'), Buffer.from('k1'));
      await reliable.settled(10000);
      reliable.send(topic, Buffer.alloc(2000, 'x'), Buffer.from('k2'), [{ 'dlq.reason': 'too_large' }]);
      await expect(reliable.settled(10000)).rejects.toThrow(/1 produced messages are not acknowledged: 1 rejected by the broker \(Broker: Message size too large\)/);
      expect(reliable.inFlight).toBe(1);
      reliable.send(topic, Buffer.from('small two'), Buffer.from('k3'));
      const failedOnce = reliable.failed;
      // Sent again, rejected again: still held, never counted as acknowledged.
      await expect(reliable.settled(10000)).rejects.toThrow(/rejected by the broker/);
      expect(reliable.failed).toBeGreaterThan(failedOnce);
      expect(reliable.inFlight).toBe(1);
      expect(reliable.acked).toBe(2);
      const onTopic = await readTopic(kafkaBrokers, topic, { partitions: 1 });
      expect(onTopic.map((m) => m.value?.toString()).sort()).toEqual(['small one', 'small two']);
    } finally {
      await disconnectClient(producer);
    }
  });

  it('settles what was sent before the call, not what is sent while it waits (the pipeline folds during a flush)', async () => {
    const { topic, producer } = await rejectingTopic('reliable-mark');
    try {
      const reliable = new ReliableProducer(producer);
      reliable.send(topic, Buffer.from('before'), Buffer.from('k1'));
      const settling = reliable.settled(10000);
      // Sent after the call: a message the broker rejects does not fail (or hold) this settle...
      reliable.send(topic, Buffer.alloc(2000, 'x'), Buffer.from('k2'));
      await expect(settling).resolves.toBeUndefined();
      expect(reliable.acked).toBe(1);
      // ...but the next one waits for it, and fails while the broker rejects it.
      await expect(reliable.settled(10000)).rejects.toThrow(/1 produced messages are not acknowledged: 1 rejected by the broker \(Broker: Message size too large\)/);
      expect(reliable.inFlight).toBe(1);
    } finally {
      await disconnectClient(producer);
    }
  });
});
