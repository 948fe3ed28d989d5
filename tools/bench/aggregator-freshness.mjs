#!/usr/bin/env node
// Event-to-visible latency: how long after an event is produced does its
// window row in ClickHouse reflect it?
//
//   node tools/bench/aggregator-freshness.mjs [seconds] [rate]     (default 60 s at 10000 events/s)
//
// The aggregator runs on a fresh topic with the default 5 s flush while the
// producer sends at the given rate. Every 100 ms the script reads, per source
// partition, the highest offset folded into a row in ClickHouse
// (iot_window_state.last_offset). An event
// (partition, offset, Kafka timestamp) is visible from the first poll whose
// highest offset for its partition is >= its offset; its latency is that poll
// time minus its Kafka timestamp. The yardstick is the flush interval itself.
import { loadavg } from 'node:os';
import { createTopic, deleteTopic, log, percentile, readTopic, sleep, startApp, visibleOffsets, writeResult } from './bench-kit.mjs';

const seconds = Number(process.argv[2] ?? 60);
const rate = Number(process.argv[3] ?? 10000);
const partitions = 24;
const loadAtStart = Number(loadavg()[0].toFixed(2));

const topic = await createTopic('bench.fresh', partitions);
const aggregator = startApp('aggregator', [], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-fresh-${Date.now()}`, FLUSH_INTERVAL_SECS: '5' });
await aggregator.metricsPort;
await sleep(3000); // group join

const polls = []; // { at, versions: Map<partition, maxOffset> }
let polling = true;
const poller = (async () => {
  while (polling) {
    const versions = await visibleOffsets(topic);
    const at = Date.now();
    polls.push({ at, versions });
    await sleep(100);
  }
})();

log(`producing ${rate} events/s for ${seconds} s to ${topic}`);
const producer = startApp('producer', ['--topic', topic, '--rate', String(rate), '--duration', String(seconds), '--seed', '3']);
if ((await producer.exited) !== 0) throw new Error(`producer failed:\n${producer.output().slice(-3000)}`);
await sleep(12000); // two more flushes
log(`${polls.length} polls; last: ${JSON.stringify([...(polls.at(-1)?.versions ?? new Map())].slice(0, 4))}`);
polling = false;
await poller;
aggregator.child.kill('SIGTERM');
await aggregator.exited;

// Every produced record: partition, offset, Kafka (producer create) timestamp.
const records = [];
await readTopic(topic, partitions, (m) => records.push([m.partition, m.offset, m.timestamp]));
await deleteTopic(topic);

const latencies = [];
let invisible = 0;
for (const [partition, offset, ts] of records) {
  // First poll (binary search over time-ordered polls) that shows the offset.
  let lo = 0;
  let hi = polls.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((polls[mid].versions.get(partition) ?? -1) >= offset) hi = mid;
    else lo = mid + 1;
  }
  if (lo === polls.length) invisible++;
  else latencies.push(polls[lo].at - ts);
}
latencies.sort((a, b) => a - b);
const result = {
  rate,
  seconds,
  events: records.length,
  // Records never seen: invalid/late ones are not folded (none with default producer flags).
  notVisible: invisible,
  latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) },
  yardstick: { flushIntervalMs: 5000, note: 'an event waits on average half a flush interval, at worst a whole one, plus the write' },
  target: { p99Ms: 6000 },
  machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: Number(loadavg()[0].toFixed(2)) },
};
console.log(JSON.stringify(result, null, 2));
console.log(`freshness at ${rate}/s: p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${invisible} not visible (target p99 <= 6000 ms with a 5000 ms flush): ${result.latencyMs.p99 <= 6000 && invisible === 0 ? 'met' : 'NOT met'}`);
console.log(`load average: ${loadAtStart} at start, ${result.machine.loadAverageAtEnd} at end`);
writeResult('aggregator-freshness', result);
