#!/usr/bin/env node
// Catch-up after a kill -9 at a steady rate, once per lateness horizon: the
// restart must replay about one flush interval whatever ALLOWED_LATENESS_SECS is.
//
//   node tools/bench/aggregator-restart.mjs [seconds before the kill] [rate]   (default 60 s at 10000 events/s)
//   BENCH_LATENESS=3600,86400 (the horizons, one run each)   BENCH_AFTER_SECS=45 (traffic after the kill)
//   BENCH_STATIC_MEMBERSHIP=1 (GROUP_INSTANCE_ID set: the restarted member takes its partitions back at once)
//
// Per horizon, on a fresh topic and group: the aggregator (5 s flush) runs
// while the producer sends at the rate (event time = now); after the given
// seconds it gets SIGKILL and is started again at once in the same group.
// Meanwhile, every 100 ms:
//  - the aggregator's aggregator_events_consumed_total and the topic's end
//    offsets: lag = end offsets - (committed offsets at the kill + messages
//    consumed since the restart); caught up = lag at most half a second of
//    traffic (the lag before the kill is reported for comparison);
//  - per partition, the highest offset folded into a row in ClickHouse
//    (iot_window_agg_state.last_offset), as in aggregator-freshness.mjs. After the
//    run the records' Kafka timestamps give the staleness at each poll: the
//    age of the oldest record not yet visible. Fresh again = from the first
//    poll after which staleness stays within 6 s to the end of the run.
// Re-read: messages the killed aggregator had consumed (its last scrape) minus
// the offsets it had committed; the restarted one reads them again.
import { loadavg } from 'node:os';
import { brokers, createTopic, deleteTopic, Kafka, log, percentile, readTopic, scrape, sleep, startApp, visibleOffsets, writeResult } from './bench-kit.mjs';

const secondsBeforeKill = Number(process.argv[2] ?? 60);
const rate = Number(process.argv[3] ?? 10000);
const horizons = (process.env.BENCH_LATENESS ?? '3600,86400').split(',').map(Number);
const secondsAfterKill = Number(process.env.BENCH_AFTER_SECS ?? 45);
const staticMembership = process.env.BENCH_STATIC_MEMBERSHIP === '1';
const partitions = 24;
const FRESH_MS = 6000;
const FLUSH_SECS = 5;
const caughtUpLag = rate / 2;
const loadAtStart = Number(loadavg()[0].toFixed(2));

const runs = [];
for (const lateness of horizons) {
  const load = Number(loadavg()[0].toFixed(2));
  log(`ALLOWED_LATENESS_SECS=${lateness}: ${rate} events/s, kill -9 after ${secondsBeforeKill} s (load ${load})`);
  runs.push({ allowedLatenessSecs: lateness, loadAverageAtStart: load, ...(await killAndRestart(lateness)) });
  const r = runs.at(-1);
  log(`  re-read ${r.reRead} (${r.reReadSeconds} s of traffic), caught up ${r.caughtUpSecondsAfterRestart} s after the restart, fresh again ${r.freshAgainSecondsAfterKill} s after the kill`);
}

const result = {
  rate,
  secondsBeforeKill,
  secondsAfterKill,
  staticMembership,
  flushIntervalSecs: FLUSH_SECS,
  caughtUpLag,
  freshMs: FRESH_MS,
  runs,
  machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: Number(loadavg()[0].toFixed(2)) },
};
console.log(JSON.stringify(result, null, 2));
const met = (ok) => (ok ? 'met' : 'NOT met');
for (const r of runs) {
  console.log(
    `ALLOWED_LATENESS_SECS=${r.allowedLatenessSecs}: re-read ${r.reRead} records (${r.reReadSeconds} s at ${rate}/s; produced since the last commit at the kill: ${r.producedSinceCommit}), ` +
      `consumed ${r.consumedUntilCaughtUp} until caught up; lag back to <= ${caughtUpLag} ${r.caughtUpSecondsAfterRestart} s after the restart (${r.caughtUpSecondsAfterKill} s after the kill; first message ${r.firstConsumedSecondsAfterRestart} s after the restart); ` +
      `staleness within ${FRESH_MS} ms again ${r.freshAgainSecondsAfterKill} s after the kill (max ${r.maxStalenessMs} ms); before the kill p99 lag ${r.lagBeforeKill.p99}, p99 staleness ${r.stalenessBeforeKillMs.p99} ms (load ${r.loadAverageAtStart})`,
  );
}
for (const r of runs) {
  console.log(`ALLOWED_LATENESS_SECS=${r.allowedLatenessSecs}: re-read at most about one flush interval of traffic (<= ${2 * FLUSH_SECS} s): ${met(r.reReadSeconds <= 2 * FLUSH_SECS)}; fresh (<= 6 s) again before the end of the run: ${met(r.freshAgainSecondsAfterKill !== null)}`);
}
if (runs.length >= 2) {
  const [a, b] = [runs[0], runs.at(-1)];
  const close = (x, y, slack) => x !== null && y !== null && Math.abs(x - y) <= slack;
  console.log(
    `horizons ${a.allowedLatenessSecs} s vs ${b.allowedLatenessSecs} s about the same (re-read within one flush interval of traffic, catch-up within 5 s): ${met(close(a.reRead, b.reRead, rate * FLUSH_SECS) && close(a.caughtUpSecondsAfterKill, b.caughtUpSecondsAfterKill, 5))}`,
  );
}
console.log(`load average: ${loadAtStart} at start, ${result.machine.loadAverageAtEnd} at end`);
writeResult('aggregator-restart', result);

async function killAndRestart(lateness) {
  const topic = await createTopic('bench.restart', partitions);
  const group = `bench-restart-${lateness}-${Date.now()}`;
  const env = {
    RAW_TOPIC: topic,
    CONSUMER_GROUP: group,
    FLUSH_INTERVAL_SECS: String(FLUSH_SECS),
    ALLOWED_LATENESS_SECS: String(lateness),
    ...(staticMembership ? { GROUP_INSTANCE_ID: `bench-restart-${process.pid}` } : {}),
  };
  let aggregator = startApp('aggregator', [], env);
  let port = await aggregator.metricsPort;
  await sleep(3000); // group join

  const admin = new Kafka.KafkaConsumer({ 'bootstrap.servers': brokers, 'group.id': group, 'enable.auto.commit': false }, {});
  await new Promise((resolve, reject) => admin.connect({}, (err) => (err ? reject(err) : resolve())));
  const endOffsets = async () => {
    let sum = 0;
    await Promise.all(
      Array.from({ length: partitions }, (_, p) =>
        new Promise((resolve, reject) => admin.queryWatermarkOffsets(topic, p, 10000, (err, o) => (err ? reject(err) : resolve(o.highOffset)))).then((h) => (sum += h)),
      ),
    );
    return sum;
  };
  // Committed offsets of the group (this consumer has the group's id but never joins it).
  const committedSum = () =>
    new Promise((resolve, reject) =>
      admin.committed(
        Array.from({ length: partitions }, (_, partition) => ({ topic, partition })),
        10000,
        (err, tps) => (err ? reject(err) : resolve(tps.reduce((s, tp) => s + Math.max(0, tp.offset), 0))),
      ),
    );

  const polls = []; // { at, versions }
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const versions = await visibleOffsets(topic);
      polls.push({ at: Date.now(), versions });
      await sleep(100);
    }
  })();

  const producer = startApp('producer', ['--topic', topic, '--rate', String(rate), '--duration', String(secondsBeforeKill + secondsAfterKill), '--seed', '5']);
  const producedAt = Date.now();
  const lagBeforeKill = [];
  let consumedBeforeKill = 0;
  while (Date.now() - producedAt < secondsBeforeKill * 1000) {
    consumedBeforeKill = await scrape(port, 'aggregator_events_consumed_total');
    if (Date.now() - producedAt > 15000) lagBeforeKill.push(Math.max(0, (await endOffsets()) - consumedBeforeKill));
    await sleep(100);
  }
  consumedBeforeKill = await scrape(port, 'aggregator_events_consumed_total');
  aggregator.child.kill('SIGKILL');
  const killedAt = Date.now();
  await aggregator.exited;
  aggregator = startApp('aggregator', [], env);
  const restartedAt = Date.now();
  const [committedAtKill, endAtKill] = await Promise.all([committedSum(), endOffsets()]);
  port = await aggregator.metricsPort;

  let firstConsumedAt;
  let caughtUp;
  let consumed = 0;
  while ((await producerRunning(producer)) || caughtUp === undefined) {
    consumed = await scrape(port, 'aggregator_events_consumed_total');
    const now = Date.now();
    if (firstConsumedAt === undefined && consumed > 0) firstConsumedAt = now;
    const lag = (await endOffsets()) - (committedAtKill + consumed);
    if (caughtUp === undefined && consumed > 0 && lag <= caughtUpLag) caughtUp = { at: now, consumed, lag };
    if (now - killedAt > (secondsAfterKill + 120) * 1000) break;
    await sleep(100);
  }
  if ((await producer.exited) !== 0) throw new Error(`producer failed:\n${producer.output().slice(-3000)}`);
  await sleep(2 * FLUSH_SECS * 1000 + 2000); // the last events become visible
  polling = false;
  await poller;
  const skipped = await scrape(port, 'aggregator_events_replay_skipped_total');
  aggregator.child.kill('SIGTERM');
  await aggregator.exited;
  admin.disconnect();

  const { staleness, notVisible } = await stalenessPerPoll(topic, polls);
  await deleteTopic(topic);
  const before = staleness.filter((s) => s.at > producedAt + 15000 && s.at < killedAt).map((s) => s.ms).sort((a, b) => a - b);
  const after = staleness.filter((s) => s.at >= killedAt);
  let freshFrom = null;
  for (let i = after.length - 1; i >= 0 && after[i].ms <= FRESH_MS; i--) freshFrom = after[i].at;
  const sortedLag = [...lagBeforeKill].sort((a, b) => a - b);
  const secs = (ms) => (ms === null || ms === undefined ? null : Number((ms / 1000).toFixed(2)));
  const reRead = consumedBeforeKill - committedAtKill;
  return {
    topic,
    consumedBeforeKill,
    committedAtKill,
    endOffsetsAtKill: endAtKill,
    reRead,
    reReadSeconds: Number((reRead / rate).toFixed(2)),
    producedSinceCommit: endAtKill - committedAtKill,
    consumedUntilCaughtUp: caughtUp?.consumed ?? null,
    replaySkippedAsCounted: skipped,
    firstConsumedSecondsAfterRestart: secs(firstConsumedAt === undefined ? null : firstConsumedAt - restartedAt),
    caughtUpSecondsAfterRestart: secs(caughtUp ? caughtUp.at - restartedAt : null),
    caughtUpSecondsAfterKill: secs(caughtUp ? caughtUp.at - killedAt : null),
    freshAgainSecondsAfterKill: secs(freshFrom === null ? null : freshFrom - killedAt),
    maxStalenessMs: Math.max(0, ...after.map((s) => s.ms)),
    lagBeforeKill: { p50: percentile(sortedLag, 50), p99: percentile(sortedLag, 99), max: sortedLag.at(-1) },
    stalenessBeforeKillMs: { p50: percentile(before, 50), p99: percentile(before, 99), max: before.at(-1) },
    notVisibleAtEnd: notVisible,
  };
}

async function producerRunning(producer) {
  return (await Promise.race([producer.exited.then(() => false), sleep(0).then(() => true)])) === true;
}

/**
 * Reads the topic's (partition, offset, timestamp) and gives, per poll, the
 * age of the oldest record produced by then that the poll does not show yet.
 */
async function stalenessPerPoll(topic, polls) {
  const records = [];
  const ends = await readTopic(topic, partitions, (m) => records.push(m.partition, m.offset, m.timestamp));
  const timestamps = ends.map((n) => new Float64Array(n));
  for (let i = 0; i < records.length; i += 3) timestamps[records[i]][records[i + 1]] = records[i + 2];
  const staleness = polls.map(({ at, versions }) => {
    let ms = 0;
    for (let p = 0; p < partitions; p++) {
      const next = (versions.get(p) ?? -1) + 1;
      if (next < ends[p] && timestamps[p][next] <= at) ms = Math.max(ms, at - timestamps[p][next]);
    }
    return { at, ms };
  });
  const last = polls.at(-1)?.versions ?? new Map();
  const notVisible = ends.reduce((s, n, p) => s + Math.max(0, n - 1 - (last.get(p) ?? -1)), 0);
  return { staleness, notVisible };
}
