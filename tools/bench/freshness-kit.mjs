// Event-to-visible latency of one aggregator run, and its flush durations.
//
// The aggregator runs on a fresh topic with the default 5 s flush while the
// producer sends at the given rate. Every 100 ms the script reads, per source
// partition, the highest offset folded into a row in ClickHouse (at `pollUrl`).
// An event (partition, offset, Kafka timestamp) is visible from the first poll
// whose highest offset for its partition is >= its offset; its latency is that
// poll time minus its Kafka timestamp. Flush durations come from the
// aggregator's aggregator_flush_duration_seconds histogram.
import { createTopic, deleteTopic, log, percentile, readTopic, sleep, startApp, visibleOffsets } from './bench-kit.mjs';

const partitions = 24;

/** Quantile from Prometheus histogram buckets (upper bound of the bucket that reaches it). */
function histogramQuantile(buckets, count, q) {
  const rank = q * count;
  for (const [le, n] of buckets) if (n >= rank) return le;
  return Infinity;
}

async function flushDurations(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const buckets = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const b = /^aggregator_flush_duration_seconds_bucket\{.*le="([^"]+)".*\} (\S+)$/.exec(line);
    if (b) buckets.push([b[1] === '+Inf' ? Infinity : Number(b[1]), Number(b[2])]);
    if (line.startsWith('aggregator_flush_duration_seconds_sum')) sum += Number(line.split(' ').at(-1));
    if (line.startsWith('aggregator_flush_duration_seconds_count')) count += Number(line.split(' ').at(-1));
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const ms = (s) => (Number.isFinite(s) ? Math.round(s * 1000) : s);
  return { flushes: count, meanMs: count ? Math.round((sum / count) * 1000) : NaN, p50Ms: ms(histogramQuantile(buckets, count, 0.5)), p99Ms: ms(histogramQuantile(buckets, count, 0.99)) };
}

/**
 * One measured run: `env` configures the aggregator (e.g. the ClickHouse it
 * writes to), `pollUrl` is the ClickHouse endpoint whose rows count as visible.
 */
export async function measureFreshness({ label, seconds, rate, env = {}, pollUrl }) {
  const topic = await createTopic('bench.fresh', partitions);
  const aggregator = startApp('aggregator', [], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-fresh-${Date.now()}`, FLUSH_INTERVAL_SECS: '5', ...env });
  const metricsPort = await aggregator.metricsPort;
  await sleep(3000); // group join

  const polls = []; // { at, versions: Map<partition, maxOffset> }
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const versions = await visibleOffsets(topic, pollUrl).catch(() => new Map());
      polls.push({ at: Date.now(), versions });
      await sleep(100);
    }
  })();

  log(`${label}: producing ${rate} events/s for ${seconds} s to ${topic}`);
  const producer = startApp('producer', ['--topic', topic, '--rate', String(rate), '--duration', String(seconds), '--seed', '3']);
  if ((await producer.exited) !== 0) throw new Error(`producer failed:\n${producer.output().slice(-3000)}`);
  await sleep(12000); // two more flushes
  polling = false;
  await poller;
  const flush = await flushDurations(metricsPort);
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
  return {
    label,
    rate,
    seconds,
    events: records.length,
    // Records never seen: invalid/late ones are not folded (none with default producer flags).
    notVisible: invisible,
    latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) },
    flush,
  };
}
