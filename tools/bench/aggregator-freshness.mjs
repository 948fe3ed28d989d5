#!/usr/bin/env node
// Event-to-visible latency: how long after an event is produced does its
// window row in ClickHouse reflect it?
//
//   node tools/bench/aggregator-freshness.mjs [seconds] [rate] [producer flags...]   (default 60 s at 10000 events/s)
//   node tools/bench/aggregator-freshness.mjs 60 50000 --devices 100000 --users 100000   (high cardinality)
//
// The aggregator runs on a fresh topic with the default 5 s flush while the
// producer sends at the given rate. Every 100 ms the script reads, per source
// partition, the highest offset folded into a row in ClickHouse
// (iot_window_agg_state.last_offset). An event
// (partition, offset, Kafka timestamp) is visible from the first poll whose
// highest offset for its partition is >= its offset; its latency is that poll
// time minus its Kafka timestamp; and, for readers, when iot_minute_agg counts
// it (see freshness-kit.mjs). The yardstick is the flush interval itself. The
// aggregator's peak RSS is sampled with every poll.
import { loadavg } from 'node:os';
import { clickhouseUrl, writeResult } from './bench-kit.mjs';
import { measureFreshness } from './freshness-kit.mjs';

const seconds = Number(process.argv[2] ?? 60);
const rate = Number(process.argv[3] ?? 10000);
const producerArgs = process.argv.slice(4);
const devicesArg = producerArgs.indexOf('--devices');
const devices = devicesArg >= 0 ? Number(producerArgs[devicesArg + 1]) : 2000;
// Above 10,000 devices the device table is followed for the devices whose id ends in 00 (1 in 100).
const deviceSuffix = devices > 10_000 ? '00' : '';

const loadAtStart = Number(loadavg()[0].toFixed(2));
const run = await measureFreshness({ label: 'single server', seconds, rate, pollUrl: clickhouseUrl, producerArgs, deviceSuffix });
const result = {
  ...run,
  devices,
  deviceSample: deviceSuffix ? `device ids ending in ${deviceSuffix}` : 'every device',
  yardstick: { flushIntervalMs: 5000, note: 'an event waits on average half a flush interval, at worst a whole one, plus the write' },
  target: { p99Ms: 6000 },
  machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: Number(loadavg()[0].toFixed(2)) },
};
console.log(JSON.stringify(result, null, 2));
console.log(`freshness at ${rate}/s, state rows: p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${result.notVisible} not visible`);
console.log(
  `freshness at ${rate}/s, reader contract (iot_minute_agg): p50 ${result.readerLatencyMs.p50} ms, p99 ${result.readerLatencyMs.p99} ms, ${result.readerNotVisible} not visible ` +
    `(target p99 <= 6000 ms with a 5000 ms flush): ${result.readerLatencyMs.p99 <= 6000 && result.readerNotVisible === 0 ? 'met' : 'NOT met'}`,
);
console.log(
  `freshness at ${rate}/s, per-device reader contract (iot_device_minute, ${result.deviceSample}): p50 ${result.deviceReaderLatencyMs.p50} ms, p99 ${result.deviceReaderLatencyMs.p99} ms, ${result.deviceReaderNotVisible} not visible ` +
    `(target p99 <= 6000 ms): ${result.deviceReaderLatencyMs.p99 <= 6000 && result.deviceReaderNotVisible === 0 ? 'met' : 'NOT met'}`,
);
console.log(`aggregator: peak RSS ${result.aggregatorMaxRssMb} MiB; flushes ${result.flush.flushes}, mean ${result.flush.meanMs} ms, p99 ${result.flush.p99Ms} ms`);
console.log(`flush steps, mean ms: ${Object.entries(result.flush.stepMeanMs).map(([step, ms]) => `${step} ${ms}`).join(', ')}`);
const perMinute = (n) => Math.round((n / (seconds + 12)) * 60); // the run and the two flushes after it
console.log(`rows written: ${result.flush.rowsWritten} fleet (${perMinute(result.flush.rowsWritten)}/min), ${result.flush.deviceRowsWritten} device (${perMinute(result.flush.deviceRowsWritten)}/min)`);
console.log(`load average: ${loadAtStart} at start, ${result.machine.loadAverageAtEnd} at end`);
writeResult('aggregator-freshness', result);
