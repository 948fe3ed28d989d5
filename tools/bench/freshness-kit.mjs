// Event-to-visible latency of one aggregator run, and its flush durations.
//
// The aggregator runs on a fresh topic with the default 5 s flush while the
// producer sends at the given rate. Every 100 ms the script reads, per source
// partition, the highest offset folded into a row in ClickHouse (at `pollUrl`).
// An event (partition, offset, Kafka timestamp) is visible from the first poll
// whose highest offset for its partition is >= its offset; its latency is that
// poll time minus its Kafka timestamp. Flush durations come from the
// aggregator's aggregator_flush_duration_seconds histogram.
//
// What readers see is the reader contract, iot_minute_agg, which a flush
// refreshes after writing the state rows. So every poll also reads each
// window's total_events there, and the k-th event of a window (by Kafka
// timestamp) counts as visible to readers from the first poll whose total for
// the window is at least k. A flush counts every event consumed before it, so
// the counted events are, to within one fetch, the earliest ones. That view
// is not per topic: nothing else may write those minutes during the run.
// The per-device reader contract (iot_device_minute) is measured the same way
// per (window, device), over the devices whose id ends with `deviceSuffix`
// (all of them by default).
import { clickhouseQuery, createTopic, deleteTopic, log, percentile, readTopic, rssBytes, sleep, startApp, visibleOffsets } from './bench-kit.mjs';

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
  // Mean time per commit-protocol step, and the rows written.
  const stepMeanMs = {};
  const stepSums = new Map();
  for (const m of text.matchAll(/^aggregator_flush_step_duration_seconds_(sum|count)\{step="([^"]+)"\} (\S+)$/gm)) {
    const entry = stepSums.get(m[2]) ?? { sum: 0, count: 0 };
    entry[m[1]] += Number(m[3]);
    stepSums.set(m[2], entry);
  }
  for (const [step, e] of stepSums) stepMeanMs[step] = e.count ? Math.round((e.sum / e.count) * 1000) : NaN;
  const counter = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    flushes: count,
    meanMs: count ? Math.round((sum / count) * 1000) : NaN,
    p50Ms: ms(histogramQuantile(buckets, count, 0.5)),
    p99Ms: ms(histogramQuantile(buckets, count, 0.99)),
    stepMeanMs,
    rowsWritten: counter('aggregator_rows_written_total'),
    deviceRowsWritten: counter('aggregator_device_rows_written_total'),
  };
}

/**
 * One measured run: `env` configures the aggregator (e.g. the ClickHouse it
 * writes to), `pollUrl` is the ClickHouse endpoint whose rows count as visible.
 */
export async function measureFreshness({ label, seconds, rate, env = {}, pollUrl, producerArgs = [], deviceSuffix = '' }) {
  const topic = await createTopic('bench.fresh', partitions);
  const aggregator = startApp('aggregator', [], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-fresh-${Date.now()}`, FLUSH_INTERVAL_SECS: '5', ...env });
  const metricsPort = await aggregator.metricsPort;
  await sleep(3000); // group join
  const runStartSec = Math.floor(Date.now() / 1000) - 120;

  const polls = []; // { at, versions: Map<partition, maxOffset>, totals: Map<windowStartMs, total_events> }
  let polling = true;
  let maxRss = 0;
  const poller = (async () => {
    while (polling) {
      const [versions, totals, deviceTotals] = await Promise.all([
        visibleOffsets(topic, pollUrl).catch(() => new Map()),
        windowTotals(runStartSec, pollUrl).catch(() => new Map()),
        deviceWindowTotals(runStartSec, pollUrl, deviceSuffix).catch(() => new Map()),
      ]);
      polls.push({ at: Date.now(), versions, totals, deviceTotals });
      maxRss = Math.max(maxRss, rssBytes(aggregator.child.pid) || 0);
      await sleep(100);
    }
  })();

  log(`${label}: producing ${rate} events/s for ${seconds} s to ${topic}${producerArgs.length ? ` (${producerArgs.join(' ')})` : ''}`);
  const producer = startApp('producer', ['--topic', topic, '--rate', String(rate), '--duration', String(seconds), '--seed', '3', ...producerArgs]);
  if ((await producer.exited) !== 0) throw new Error(`producer failed:\n${producer.output().slice(-3000)}`);
  await sleep(12000); // two more flushes
  polling = false;
  await poller;
  const flush = await flushDurations(metricsPort);
  aggregator.child.kill('SIGTERM');
  await aggregator.exited;

  // Every produced record: partition, offset, Kafka (producer create) timestamp.
  const records = [];
  const byWindow = new Map(); // windowStartMs -> Kafka timestamps
  const byDeviceWindow = new Map(); // `${windowStartMs}|${device}` -> Kafka timestamps
  await readTopic(topic, partitions, (m) => {
    records.push([m.partition, m.offset, m.timestamp]);
    const event = JSON.parse(m.value.toString());
    const w = Math.floor(Date.parse(event.event_time) / 60000) * 60000;
    const groups = event.device_id.endsWith(deviceSuffix) ? [[byWindow, w], [byDeviceWindow, `${w}|${event.device_id}`]] : [[byWindow, w]];
    for (const [map, key] of groups) {
      const list = map.get(key) ?? [];
      list.push(m.timestamp);
      map.set(key, list);
    }
  });
  await deleteTopic(topic);

  /** The k-th event of a group (by Kafka timestamp) is visible from the first poll whose total for the group is at least k. */
  const readerLatency = (groups, totalOf) => {
    const out = [];
    let notVisible = 0;
    for (const [key, stamps] of groups) {
      stamps.sort((a, b) => a - b);
      let poll = 0;
      for (let k = 1; k <= stamps.length; k++) {
        while (poll < polls.length && (totalOf(polls[poll], key) ?? 0) < k) poll++;
        if (poll === polls.length) {
          notVisible += stamps.length - k + 1;
          break;
        }
        out.push(polls[poll].at - stamps[k - 1]);
      }
    }
    return { latencies: out.sort((a, b) => a - b), notVisible };
  };
  const fleetReader = readerLatency(byWindow, (p, w) => p.totals.get(w));
  const readerLatencies = fleetReader.latencies;
  const readerInvisible = fleetReader.notVisible;
  const deviceReader = readerLatency(byDeviceWindow, (p, key) => p.deviceTotals.get(key));

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
    /** Visible in the reader contract (iot_minute_agg), after the flush's result refresh. */
    readerLatencyMs: { p50: percentile(readerLatencies, 50), p90: percentile(readerLatencies, 90), p99: percentile(readerLatencies, 99), max: readerLatencies.at(-1) },
    readerNotVisible: readerInvisible,
    /** Visible in the per-device reader contract (iot_device_minute), per (window, device). */
    deviceReaderLatencyMs: { p50: percentile(deviceReader.latencies, 50), p90: percentile(deviceReader.latencies, 90), p99: percentile(deviceReader.latencies, 99), max: deviceReader.latencies.at(-1) },
    deviceReaderNotVisible: deviceReader.notVisible,
    aggregatorMaxRssMb: Math.round(maxRss / 1048576),
    flush,
  };
}

/** total_events per window of iot_minute_agg since `fromSec`. */
async function windowTotals(fromSec, url) {
  const text = await clickhouseQuery(
    `SELECT toUInt32(window_start) * 1000, total_events FROM stream_analytics.iot_minute_agg WHERE window_start >= toDateTime(${fromSec}) SETTINGS enable_optimize_predicate_expression = 1 FORMAT TabSeparated`,
    url,
  );
  return new Map(text.trim().split('\n').filter(Boolean).map((l) => l.split('\t').map(Number)));
}

/**
 * total_events per (window, device) of iot_device_minute since `fromSec`, keyed `${windowStartMs}|${device}`,
 * of the devices whose id ends with `suffix` (all with ''): at 100,000 devices, polling every device
 * every 100 ms would load the server more than the aggregator does, so a sample is followed, as a
 * dashboard follows one device.
 */
async function deviceWindowTotals(fromSec, url, suffix) {
  if (!/^[0-9A-Za-z-]*$/.test(suffix)) throw new Error(`device sample suffix ${JSON.stringify(suffix)}: letters, digits and '-' only`);
  const text = await clickhouseQuery(
    `SELECT toUInt32(window_start) * 1000, device_id, total_events FROM stream_analytics.iot_device_minute WHERE window_start >= toDateTime(${fromSec}) AND endsWith(device_id, '${suffix}') SETTINGS enable_optimize_predicate_expression = 1 FORMAT TabSeparated`,
    url,
  );
  return new Map(
    text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [w, device, total] = l.split('\t');
        return [`${w}|${device}`, Number(total)];
      }),
  );
}
