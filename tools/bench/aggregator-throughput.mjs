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
import { brokers, createTopic, deleteTopic, log, rssBytes, runKafkaTool, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 5_000_000);
const partitions = 24;

const topic = await createTopic('bench.raw', partitions);
log(`topic ${topic}: producing ${events} events`);
const producer = startApp('producer', ['--topic', topic, '--count', String(events), '--rate', '0', '--seed', '1']);
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
  targets: { eventsPerSec: 150000, ratio: 0.5, peakRssMB: 300 },
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `aggregator ${result.aggregator.eventsPerSec} events/s, ConsumerPerformance ${result.yardstick.eventsPerSec} msg/s, ratio ${result.ratio}, peak RSS ${result.aggregator.peakRssMB} MB`,
);
writeResult('aggregator-throughput', result);
