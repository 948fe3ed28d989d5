import { getTestEndpoints } from './endpoints';
import { createTestTopic, readTopic } from './kafka';
import Kafka from '@confluentinc/kafka-javascript';

// Proves the harness hands out endpoints of real servers: a round trip through
// the broker and a query answered by ClickHouse.
describe('integration endpoints', () => {
  jest.setTimeout(120000);

  it('reach a real Kafka broker: produce then read back', async () => {
    const { kafkaBrokers } = await getTestEndpoints();
    const topic = await createTestTopic(kafkaBrokers, { prefix: 'harness', partitions: 2 });
    const producer = new Kafka.Producer({ 'bootstrap.servers': kafkaBrokers, dr_cb: true });
    await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
    let delivered = 0;
    producer.on('delivery-report', (err) => { if (!err) delivered++; });
    producer.setPollInterval(10);
    for (let i = 0; i < 10; i++) producer.produce(topic, i % 2, Buffer.from(`m${i}`), `k${i}`);
    await new Promise<void>((resolve, reject) => producer.flush(30000, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
    expect(delivered).toBe(10);
    const messages = await readTopic(kafkaBrokers, topic, { partitions: 2 });
    expect(messages.map((m) => m.value?.toString()).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
  });

  it('reach a real ClickHouse server', async () => {
    const { clickhouseUrl } = await getTestEndpoints();
    const res = await fetch(`${clickhouseUrl}/?query=${encodeURIComponent('SELECT 40 + 2')}`);
    expect(res.status).toBe(200);
    expect((await res.text()).trim()).toBe('42');
  });
});
