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
  it('keeps a message the broker rejects, re-sends it at every settle, and never reports it acknowledged', async () => {
    const { kafkaBrokers } = await getTestEndpoints();
    // The broker refuses records over 300 bytes on this topic (MESSAGE_TOO_LARGE, not retriable);
    // one message per batch, since the broker rejects a whole batch.
    const topic = await createTestTopic(kafkaBrokers, { prefix: 'reliable', config: { 'max.message.bytes': '300' } });
    const producer = new Kafka.Producer({ ...baseKafkaConfig({ brokers: kafkaBrokers, clientId: 'reliable-test' }), dr_cb: true, acks: 'all', 'message.timeout.ms': 0, 'batch.num.messages': 1 } as Kafka.ProducerGlobalConfig);
    producer.setPollInterval(20);
    await connectClient(producer, kafkaBrokers, 15000);
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
});
