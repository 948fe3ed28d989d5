#!/usr/bin/env node
// Late data folded into old, final windows that must be read back from
// ClickHouse, against the same aggregator folding on-time data in the same run.
//
//   node tools/bench/aggregator-late-data.mjs [late events] [late windows]   (default 1,000,000 into 120)
//
// 1. On-time part: a fresh 24-partition topic gets BENCH_ON_TIME_EVENTS
//    (default 1,000,000) events spread evenly over 2 × [late windows] minutes
//    of event time [T, T + 4 h) (the producer, unthrottled); the aggregator
//    (fresh group) folds them (the yardstick: its on-time rate in this run),
//    and is stopped (SIGTERM: final flush and commit) once all is visible.
//    Every partition's watermark is then about T + 4 h, so the windows of
//    [T, T + 2 h) ended 2 to 4 h before it: final, written, out of memory.
// 2. Late part: [late events] events spread evenly over [T, T + 2 h) (the
//    120 old windows), produced as a backlog; the aggregator is started again
//    in the same group (restored from its checkpoint) and folds them. With the
//    default ALLOWED_LATENESS_SECS (24 h) all are counted, each window read
//    back from iot_window_agg_state before its first late event is folded in.
//    Fold rate: late events / (first late event consumed -> the late windows'
//    totals in iot_minute_agg include all of them).
// 3. Exactness: the topic is read back and every window of [T, T + 4 h)
//    (total_events, anomaly_events, unique_users, metric sum) is compared
//    with iot_minute_agg.
//
// T is a whole hour in 2002 picked from the clock, so runs (and the other
// benchmarks' 2001 windows) do not share windows in the reader view.
import { loadavg } from 'node:os';
import { clickhouseQuery, createTopic, deleteTopic, log, readTopic, scrape, sleep, startApp, writeResult } from './bench-kit.mjs';

const lateEvents = Number(process.argv[2] ?? 1_000_000);
const lateWindows = Number(process.argv[3] ?? 120);
const onTimeEvents = Number(process.env.BENCH_ON_TIME_EVENTS ?? 1_000_000);
const partitions = 24;
const WINDOW_MS = 60_000;
const HOUR_MS = 3_600_000;
const TARGET_EVENTS_PER_SEC = 50_000;
const loadAtStart = Number(loadavg()[0].toFixed(2));
const phaseLoad = {};

const lateSpanMs = lateWindows * WINDOW_MS;
const onTimeSpanMs = 2 * lateSpanMs;
const base = pickBase();
const lateRange = [base, base + lateSpanMs];
const allRange = [base, base + onTimeSpanMs];
if ((await windowStateRows(allRange)) > 0) throw new Error(`windows of ${iso(allRange[0])}..${iso(allRange[1])} already hold rows; run again in a few seconds`);

const topic = await createTopic('bench.late', partitions);
const group = `bench-late-${Date.now()}`;
const aggregatorEnv = { RAW_TOPIC: topic, CONSUMER_GROUP: group, FLUSH_INTERVAL_SECS: '5' };
log(`topic ${topic}, group ${group}; on-time ${iso(allRange[0])}..${iso(allRange[1])}, late windows ${iso(lateRange[0])}..${iso(lateRange[1])}`);

// 1. On-time part.
await produce(onTimeEvents, base, onTimeSpanMs, 21);
phaseLoad.onTime = Number(loadavg()[0].toFixed(2));
log(`on-time part: aggregator folds ${onTimeEvents} events (load ${phaseLoad.onTime})`);
const onTime = await foldBacklog(onTimeEvents, allRange, onTimeEvents);
log(`on-time: ${onTime.consumedPerSec} events/s consumed, ${onTime.visiblePerSec} events/s to visible`);
const lateRangeBefore = await minuteAggTotal(lateRange);

// 2. Late part.
await produce(lateEvents, base, lateSpanMs, 22);
phaseLoad.late = Number(loadavg()[0].toFixed(2));
log(`late part: aggregator folds ${lateEvents} events into ${lateWindows} final windows (load ${phaseLoad.late})`);
const late = await foldBacklog(lateEvents, lateRange, lateRangeBefore + lateEvents);
log(`late: ${late.consumedPerSec} events/s consumed, ${late.visiblePerSec} events/s to visible`);

// 3. Exactness against the topic itself.
log('reading the topic back for the offline computation');
const expected = await offlineWindows(topic);
const actual = await minuteAggWindows(allRange);
const mismatches = compareWindows(expected, actual);
await deleteTopic(topic);

const lateFoldedOk = late.metrics.lateFolded === lateEvents && late.metrics.tooLate === 0;
const result = {
  lateEvents,
  lateWindows,
  onTimeEvents,
  partitions,
  eventTime: { onTime: allRange.map(iso), late: lateRange.map(iso) },
  onTime,
  late: { ...late, ratioToOnTimeVisible: Number((late.visiblePerSec / onTime.visiblePerSec).toFixed(3)) },
  exactness: { windowsExpected: expected.size, windowsInView: actual.size, mismatches: mismatches.length, firstMismatches: mismatches.slice(0, 5), totalExpected: onTimeEvents + lateEvents, totalInView: [...actual.values()].reduce((s, w) => s + w.total, 0) },
  machine: { loadAverageAtStart: loadAtStart, loadAverageAtPhaseStart: phaseLoad, loadAverageAtEnd: Number(loadavg()[0].toFixed(2)) },
  target: { lateFoldEventsPerSec: TARGET_EVENTS_PER_SEC },
};
console.log(JSON.stringify(result, null, 2));
const met = (ok) => (ok ? 'met' : 'NOT met');
console.log(
  `late data: ${lateEvents} events into ${lateWindows} final windows folded at ${late.visiblePerSec} events/s to visible (consumed ${late.consumedPerSec}/s; ${late.metrics.windowsLoaded} window states loaded in ${late.metrics.stateLoads} reads, ${late.metrics.stateLoadSeconds} s); on-time yardstick ${onTime.visiblePerSec} events/s: ratio ${result.late.ratioToOnTimeVisible}`,
);
console.log(`target fold rate >= ${TARGET_EVENTS_PER_SEC} events/s: ${met(late.visiblePerSec >= TARGET_EVENTS_PER_SEC)}`);
console.log(`all late events counted late (${late.metrics.lateFolded} folded late, ${late.metrics.tooLate} dead-lettered too late): ${met(lateFoldedOk)}`);
console.log(
  `iot_minute_agg equals the offline computation of the topic (${expected.size} windows, ${result.exactness.totalExpected} events; view holds ${result.exactness.totalInView}): ${met(mismatches.length === 0 && result.exactness.totalInView === result.exactness.totalExpected)}`,
);
console.log(`load average: ${loadAtStart} at start (on-time ${phaseLoad.onTime}, late ${phaseLoad.late}), ${result.machine.loadAverageAtEnd} at end`);
writeResult('aggregator-late-data', result);
if (mismatches.length > 0) for (const m of mismatches.slice(0, 5)) log(`mismatch ${JSON.stringify(m)}`);

function pickBase() {
  const hours = Math.floor(Date.now() / 1000) % (300 * 24);
  return Date.UTC(2002, 0, 1) + hours * HOUR_MS;
}

function iso(ms) {
  return new Date(ms).toISOString();
}

function between([from, to]) {
  return `window_start >= toDateTime(${from / 1000}) AND window_start < toDateTime(${to / 1000})`;
}

async function windowStateRows(range) {
  return Number((await clickhouseQuery(`SELECT count() FROM stream_analytics.iot_window_agg_state WHERE device_id = '' AND ${between(range)} FORMAT TabSeparated`)).trim());
}

async function minuteAggTotal(range) {
  const text = await clickhouseQuery(`SELECT sum(total_events) FROM stream_analytics.iot_minute_agg WHERE ${between(range)} SETTINGS enable_optimize_predicate_expression = 1 FORMAT TabSeparated`);
  return Number(text.trim() || 0);
}

async function minuteAggWindows(range) {
  const text = await clickhouseQuery(
    `SELECT toUInt32(window_start) * 1000, total_events, anomaly_events, unique_users, metric_sum FROM stream_analytics.iot_minute_agg WHERE ${between(range)} SETTINGS enable_optimize_predicate_expression = 1 FORMAT TabSeparated`,
  );
  const out = new Map();
  for (const line of text.trim().split('\n').filter(Boolean)) {
    const [ws, total, anomalies, users, metricSum] = line.split('\t').map(Number);
    out.set(ws, { total, anomalies, users, metricSum });
  }
  return out;
}

/** `count` events spread evenly over [start, start + spanMs) of event time, produced as fast as the producer can. */
async function produce(count, start, spanMs, seed) {
  const eventRate = (count * 1000) / spanMs;
  const started = Date.now();
  const producer = startApp('producer', ['--topic', topic, '--count', String(count), '--rate', '0', '--seed', String(seed), '--start-time', iso(start), '--event-rate', String(eventRate)]);
  const code = await producer.exited;
  if (code !== 0) throw new Error(`producer failed (${code}):\n${producer.output().slice(-3000)}`);
  log(`produced ${count} events (event rate ${eventRate.toFixed(2)}/s from ${iso(start)}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Starts the aggregator in the run's group, waits until it has consumed
 * `count` messages and `range` of iot_minute_agg totals `visibleTotal`, then
 * stops it (SIGTERM: it flushes and commits). Rates run from the first poll
 * that shows a consumed message.
 */
async function foldBacklog(count, range, visibleTotal) {
  const aggregator = startApp('aggregator', [], aggregatorEnv);
  const port = await aggregator.metricsPort;
  let first;
  let consumedAt;
  let visibleAt;
  let lastStatus = Date.now();
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline) {
    const consumed = await scrape(port, 'aggregator_events_consumed_total');
    const now = Date.now();
    if (first === undefined && consumed > 0) first = { at: now, consumed };
    if (consumedAt === undefined && consumed >= count) consumedAt = now;
    if (first !== undefined && (await minuteAggTotal(range)) >= visibleTotal) {
      visibleAt = Date.now();
      break;
    }
    if (now - lastStatus >= 5000) {
      log(`  ${consumed} of ${count} consumed`);
      lastStatus = now;
    }
    await sleep(100);
  }
  const metrics = {
    consumed: await scrape(port, 'aggregator_events_consumed_total'),
    folded: await scrape(port, 'aggregator_events_folded_total'),
    lateFolded: await scrape(port, 'aggregator_events_late_folded_total'),
    tooLate: await scrape(port, 'aggregator_events_late_total'),
    future: await scrape(port, 'aggregator_events_future_total'),
    windowsLoaded: await scrape(port, 'aggregator_window_states_loaded_total'),
    stateLoads: await scrape(port, 'aggregator_window_state_load_seconds_count'),
    stateLoadSeconds: Number((await scrape(port, 'aggregator_window_state_load_seconds_sum')).toFixed(3)),
    flushes: await scrape(port, 'aggregator_flushes_total'),
    flushSeconds: Number((await scrape(port, 'aggregator_flush_duration_seconds_sum')).toFixed(3)),
    rowsWritten: await scrape(port, 'aggregator_rows_written_total'),
  };
  aggregator.child.kill('SIGTERM');
  const code = await aggregator.exited;
  if (visibleAt === undefined) throw new Error(`not all visible within 10 minutes (${metrics.consumed} of ${count} consumed):\n${aggregator.output().slice(-3000)}`);
  if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${aggregator.output().slice(-3000)}`);
  consumedAt ??= visibleAt;
  const perSec = (until) => Math.round((count - first.consumed) / ((until - first.at) / 1000));
  return {
    consumedPerSec: perSec(consumedAt),
    visiblePerSec: perSec(visibleAt),
    secondsToConsumed: Number(((consumedAt - first.at) / 1000).toFixed(2)),
    secondsToVisible: Number(((visibleAt - first.at) / 1000).toFixed(2)),
    metrics,
  };
}

/** Every window of the topic computed offline from its records (all valid with the producer's defaults). */
async function offlineWindows(t) {
  const windows = new Map();
  await readTopic(t, partitions, (m) => {
    const e = JSON.parse(m.value.toString());
    const ws = Math.floor(Date.parse(e.event_time) / WINDOW_MS) * WINDOW_MS;
    let w = windows.get(ws);
    if (!w) windows.set(ws, (w = { total: 0, anomalies: 0, users: new Set(), metricSum: 0 }));
    w.total++;
    if (e.anomaly_score >= 0.9) w.anomalies++;
    w.users.add(e.user_id);
    w.metricSum += e.metric_value;
  });
  return windows;
}

function compareWindows(expected, actual) {
  const out = [];
  for (const [ws, e] of expected) {
    const a = actual.get(ws);
    const want = { total: e.total, anomalies: e.anomalies, users: e.users.size };
    if (!a || a.total !== want.total || a.anomalies !== want.anomalies || a.users !== want.users || Math.abs(a.metricSum - e.metricSum) > 1e-6 * Math.max(1, Math.abs(e.metricSum))) {
      out.push({ window: iso(ws), expected: { ...want, metricSum: e.metricSum }, actual: a ?? null });
    }
  }
  for (const ws of actual.keys()) if (!expected.has(ws)) out.push({ window: iso(ws), expected: null, actual: actual.get(ws) });
  return out;
}
