#!/usr/bin/env node
// Aggregator catch-up throughput over a backlog, against Kafka's own
// ConsumerPerformance reading the same topic in the same run.
//
//   node tools/bench/aggregator-throughput.mjs [events]      (default 5,000,000)
//
// 1. fills a fresh 24-partition topic with the producer app (unthrottled);
// 2. ConsumerPerformance reads it all (the yardstick: a plain JVM consumer);
// 3. the aggregator, in a fresh group, folds the whole backlog and writes it to
//    ClickHouse; its rate is measured from its first consumed message to the
//    last, with its peak RSS sampled from /proc every 200 ms.
import { brokers, createTopic, deleteTopic, Kafka, log, rssBytes, runKafkaTool, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 5_000_000);
const partitions = 24;

const topic = await createTopic('bench.raw', partitions);
log(`topic ${topic}: producing ${events} events`);
// Event times in 2001: the benchmark's windows stay out of the dashboard's range.
const producer = startApp('producer', ['--topic', topic, '--count', String(events), '--rate', '0', '--seed', '1', '--start-time', '2001-01-01T00:00:00.000Z']);
const produceStarted = Date.now();
const producerCode = await producer.exited;
if (producerCode !== 0) throw new Error(`producer failed (${producerCode}):\n${producer.output().slice(-3000)}`);
log(`produced in ${((Date.now() - produceStarted) / 1000).toFixed(1)} s`);

log('yardstick: Kafka ConsumerPerformance');
const perf = runKafkaTool('org.apache.kafka.tools.ConsumerPerformance', [
  '--bootstrap-server', brokers, '--topic', topic, '--messages', String(events), '--group', `bench-cp-${Date.now()}`, '--timeout', '120000',
]);
// CSV: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
const line = perf.trim().split('\n').pop().split(',').map((s) => s.trim());
const yardstick = { messages: Number(line[4]), mbPerSec: Number(line[3]), eventsPerSec: Number(line[9]), eventsPerSecInclRebalance: Number(line[5]) };
log(`ConsumerPerformance: ${Math.round(yardstick.eventsPerSec)} msg/s (fetch), ${Math.round(yardstick.eventsPerSecInclRebalance)} msg/s incl. group join`);

// Second yardstick, in-process: the same librdkafka client and settings as
// the aggregator, in this Node process, only counting messages (no parsing,
// no windows, no ClickHouse). It bounds what any Node aggregator on this
// client can reach on this machine.
log('yardstick: in-process consume-only loop');
const ceiling = await consumeOnly(topic, partitions, events);
log(`consume-only: ${Math.round(ceiling)} msg/s`);

log('aggregator catch-up');
const aggregator = startApp('aggregator', [], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-agg-${Date.now()}`, FLUSH_INTERVAL_SECS: '5' });
const port = await aggregator.metricsPort;
let peakRss = 0;
let first;
let consumed = 0;
const deadline = Date.now() + 15 * 60_000;
while (Date.now() < deadline) {
  peakRss = Math.max(peakRss, rssBytes(aggregator.child.pid) || 0);
  consumed = await scrape(port, 'aggregator_events_consumed_total');
  if (first === undefined && consumed > 0) first = { at: Date.now(), consumed };
  if (consumed >= events) break;
  await sleep(200);
}
const done = Date.now();
const rows = await scrape(port, 'aggregator_rows_written_total');
aggregator.child.kill('SIGTERM');
await aggregator.exited;
await deleteTopic(topic);
if (consumed < events) throw new Error(`aggregator consumed only ${consumed} of ${events} events in 15 minutes`);

const seconds = (done - first.at) / 1000;
const eventsPerSec = (events - first.consumed) / seconds;
const result = {
  events,
  partitions,
  aggregator: { eventsPerSec: Math.round(eventsPerSec), seconds: Number(seconds.toFixed(2)), peakRssMB: Math.round(peakRss / 2 ** 20), rowsWritten: rows },
  yardstick: { tool: 'kafka ConsumerPerformance', ...yardstick, eventsPerSec: Math.round(yardstick.eventsPerSec) },
  ratio: Number((eventsPerSec / yardstick.eventsPerSec).toFixed(3)),
  inProcessCeiling: { tool: 'librdkafka consume-only loop in Node (same client settings)', eventsPerSec: Math.round(ceiling), ratio: Number((eventsPerSec / ceiling).toFixed(3)) },
  targets: { eventsPerSec: 150000, ratio: 0.5, peakRssMB: 300 },
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `aggregator ${result.aggregator.eventsPerSec} events/s, ConsumerPerformance ${result.yardstick.eventsPerSec} msg/s (ratio ${result.ratio}), consume-only Node loop ${result.inProcessCeiling.eventsPerSec} msg/s (ratio ${result.inProcessCeiling.ratio}), peak RSS ${result.aggregator.peakRssMB} MB`,
);
writeResult('aggregator-throughput', result);

async function consumeOnly(topic, partitions, expected) {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': brokers,
      'group.id': `bench-ceiling-${Date.now()}`,
      'enable.auto.commit': false,
      'isolation.level': 'read_committed',
      'queued.max.messages.kbytes': 16384,
      'fetch.wait.max.ms': 100,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  consumer.setDefaultConsumeTimeout(100);
  await new Promise((resolve, reject) => consumer.connect({}, (err) => (err ? reject(err) : resolve())));
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
  const next = () => new Promise((resolve, reject) => consumer.consume(5000, (err, m) => (err ? reject(err) : resolve(m))));
  let count = 0;
  let started;
  let pending = next();
  while (count < expected) {
    const batch = await pending;
    pending = next();
    if (batch.length > 0 && started === undefined) started = Date.now();
    count += batch.length;
  }
  const rate = count / ((Date.now() - started) / 1000);
  await pending.catch(() => undefined);
  await new Promise((resolve) => consumer.disconnect(() => resolve()));
  return rate;
}
