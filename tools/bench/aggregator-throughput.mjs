#!/usr/bin/env node
// Aggregator catch-up throughput over a backlog, against Kafka's own
// ConsumerPerformance reading the same topic in the same run.
//
//   node tools/bench/aggregator-throughput.mjs [events]      (default 5,000,000)
//
// 1. fills a fresh 24-partition topic with the producer app (unthrottled);
// 2. ConsumerPerformance reads it all (the yardstick: a plain JVM consumer);
// 3. a consume-only loop on the aggregator's own Kafka client, in this process
//    (the ceiling of one consumer on this client);
// 4. the aggregator with --workers 1, then --workers 2 (BENCH_WORKERS=1,2), each
//    in a fresh group, folds the whole backlog and writes it to ClickHouse; its
//    rate is measured from its first consumed message to the last, with the
//    peak RSS (and PSS) of its process tree sampled from /proc every 200 ms.
//
// BENCH_WORKERS=1,2 chooses the aggregator runs; BENCH_BASELINE_AGGREGATOR=<main.js>
// also runs another build (e.g. the previous release) with --workers 1 on the
// same backlog right after ours; BENCH_CPU_PROF_DIR=<dir> writes
// a V8 CPU profile of the aggregator's main process (node --cpu-prof) there
// (profiling slows it down: its rate is not comparable to the others).
import { availableParallelism, loadavg } from 'node:os';
import { brokers, createTopic, deleteTopic, Kafka, kafkaSecuritySettings, log, runKafkaTool, scrape, sleep, startApp, treeMemoryBytes, writeResult } from './bench-kit.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 5_000_000);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const partitions = 24;
const loadAtStart = Number(loadavg()[0].toFixed(2));
/** --workers 1 events/s over the consume-only loop before issue 10 (docs/benchmarks.md, 2026-11-25). */
const PREVIOUS_CEILING_RATIO_WORKERS1 = 0.82;
/** BENCH_BASELINE_AGGREGATOR: main.js of another aggregator build, run with --workers 1 after ours (it does not migrate the schema). */
const baselineBundle = process.env.BENCH_BASELINE_AGGREGATOR;

const topic = await createTopic('bench.raw', partitions);
log(`topic ${topic}: producing ${events} events`);
// Event times in 2001: the benchmark's windows stay out of the dashboard's range.
const producer = startApp('producer', ['--topic', topic, '--count', String(events), '--rate', '0', '--seed', '1', '--start-time', '2001-01-01T00:00:00.000Z']);
const produceStarted = Date.now();
const producerCode = await producer.exited;
if (producerCode !== 0) throw new Error(`producer failed (${producerCode}):\n${producer.output().slice(-3000)}`);
log(`produced in ${((Date.now() - produceStarted) / 1000).toFixed(1)} s`);

const phaseLoad = {};
const noteLoad = (phase) => (phaseLoad[phase] = Number(loadavg()[0].toFixed(2)));
noteLoad('consumerPerformance');
log(`yardstick: Kafka ConsumerPerformance (load ${phaseLoad.consumerPerformance})`);
const perf = runKafkaTool('org.apache.kafka.tools.ConsumerPerformance', [
  '--bootstrap-server', brokers, '--topic', topic, '--messages', String(events), '--group', `bench-cp-${Date.now()}`, '--timeout', '120000',
]);
// CSV: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
const line = perf.trim().split('\n').pop().split(',').map((s) => s.trim());
const yardstick = { messages: Number(line[4]), mbPerSec: Number(line[3]), eventsPerSec: Number(line[9]), eventsPerSecInclRebalance: Number(line[5]) };
log(`ConsumerPerformance: ${Math.round(yardstick.eventsPerSec)} msg/s (fetch), ${Math.round(yardstick.eventsPerSecInclRebalance)} msg/s incl. group join`);

// Second yardstick, in-process: the same librdkafka client and settings as
// the aggregator, in this Node process, only counting messages (no parsing,
// no windows, no ClickHouse). It bounds what one pipeline (one consumer) on
// this client can reach on this machine.
noteLoad('consumeOnly');
log(`yardstick: in-process consume-only loop (load ${phaseLoad.consumeOnly})`);
const ceiling = await consumeOnly(topic, partitions, events);
log(`consume-only: ${Math.round(ceiling)} msg/s`);

// The aggregator as shipped, once with one pipeline and once with two (one
// per core of this machine), each in a fresh consumer group over the whole
// backlog. Memory is that of the whole process tree.
const runs = {};
let baseline;
for (const workers of workerCounts) {
  noteLoad(`workers${workers}`);
  log(`aggregator catch-up, --workers ${workers} (load ${phaseLoad[`workers${workers}`]})`);
  runs[workers] = await catchUp(workers);
  log(`--workers ${workers}: ${runs[workers].eventsPerSec} events/s, peak RSS ${runs[workers].peakRssMB} MB (PSS ${runs[workers].peakPssMB} MB)`);
  if (baselineBundle && workers === 1) {
    // Another build of the aggregator (e.g. the previous release) on the same backlog, right after.
    noteLoad('baselineWorkers1');
    log(`baseline ${baselineBundle} catch-up, --workers 1 (load ${phaseLoad.baselineWorkers1})`);
    baseline = await catchUp(1, baselineBundle);
    log(`baseline --workers 1: ${baseline.eventsPerSec} events/s, peak RSS ${baseline.peakRssMB} MB`);
  }
}
await deleteTopic(topic);

const best = runs[Math.max(...workerCounts)];
const result = {
  events,
  partitions,
  machine: { cpus: availableParallelism(), loadAverageAtStart: loadAtStart },
  aggregator: Object.fromEntries(
    Object.entries(runs).map(([w, r]) => [
      `workers${w}`,
      { ...r, ratioToYardstick: Number((r.eventsPerSec / yardstick.eventsPerSec).toFixed(3)), ratioToInProcessCeiling: Number((r.eventsPerSec / ceiling).toFixed(3)) },
    ]),
  ),
  yardstick: { tool: 'kafka ConsumerPerformance', ...yardstick, eventsPerSec: Math.round(yardstick.eventsPerSec) },
  ...(baseline
    ? { baseline: { bundle: baselineBundle, ...baseline, ratioToInProcessCeiling: Number((baseline.eventsPerSec / ceiling).toFixed(3)), ratioOfOursWorkers1: runs[1] ? Number((runs[1].eventsPerSec / baseline.eventsPerSec).toFixed(3)) : undefined } }
    : {}),
  inProcessCeiling: { tool: 'librdkafka consume-only loop in Node, one consumer (same client settings)', eventsPerSec: Math.round(ceiling) },
  loadAverageAtPhaseStart: phaseLoad,
  loadAverageAtEnd: Number(loadavg()[0].toFixed(2)),
  // ratioToInProcessCeiling: at most 5 % below the ratio of the previous release (0.82 with --workers 1, docs/benchmarks.md).
  targets: { eventsPerSec: 150000, ratio: 0.5, peakRssMB: 300, ratioToInProcessCeilingWorkers1: PREVIOUS_CEILING_RATIO_WORKERS1 * 0.95 },
};
console.log(JSON.stringify(result, null, 2));
for (const [w, r] of Object.entries(result.aggregator)) {
  console.log(
    `aggregator ${w.replace('workers', '--workers ')}: ${r.eventsPerSec} events/s (ConsumerPerformance ${result.yardstick.eventsPerSec} msg/s: ratio ${r.ratioToYardstick}; one-consumer Node loop ${result.inProcessCeiling.eventsPerSec} msg/s: ratio ${r.ratioToInProcessCeiling}), peak RSS ${r.peakRssMB} MB, PSS ${r.peakPssMB} MB`,
  );
}
const met = (ok) => (ok ? 'met' : 'NOT met');
console.log(
  `targets with --workers ${Math.max(...workerCounts)}: >= 150000 events/s ${met(best.eventsPerSec >= 150000)}, >= 50% of ConsumerPerformance ${met(best.eventsPerSec >= 0.5 * yardstick.eventsPerSec)}, RSS < 300 MB ${met(best.peakRssMB < 300)}`,
);
if (result.aggregator.workers1) {
  const r = result.aggregator.workers1.ratioToInProcessCeiling;
  const floor = Number(result.targets.ratioToInProcessCeilingWorkers1.toFixed(3));
  console.log(`target with --workers 1: ratio to the consume-only loop >= ${floor} (previous ${PREVIOUS_CEILING_RATIO_WORKERS1} - 5 %): ${r} ${met(r >= floor)}`);
}
if (result.baseline) {
  console.log(
    `baseline ${baselineBundle} --workers 1: ${result.baseline.eventsPerSec} events/s (ratio to the consume-only loop ${result.baseline.ratioToInProcessCeiling}); ours / baseline ${result.baseline.ratioOfOursWorkers1}`,
  );
}
console.log(`load average: ${loadAtStart} at start, ${result.loadAverageAtEnd} at end`);
writeResult('aggregator-throughput', result);

async function catchUp(workers, bundle = 'aggregator') {
  // BENCH_CPU_PROF_DIR: V8 CPU profiles of the aggregator's processes (written when they exit).
  // (The first pipeline only: it runs in this process; --workers N starts the others as plain children.)
  const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
  const migrate = bundle === 'aggregator' ? {} : { CLICKHOUSE_MIGRATE: 'false' };
  const aggregator = startApp(bundle, ['--workers', String(workers)], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-agg-${workers}-${Date.now()}`, FLUSH_INTERVAL_SECS: '5', ...migrate }, profile);
  const port = await aggregator.metricsPort;
  let peakRss = 0;
  let peakPss = 0;
  let first;
  let consumed = 0;
  let lastStatus = Date.now();
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    const memory = treeMemoryBytes(aggregator.child.pid);
    peakRss = Math.max(peakRss, memory.rss);
    peakPss = Math.max(peakPss, memory.pss);
    consumed = await scrape(port, 'aggregator_events_consumed_total');
    if (first === undefined && consumed > 0) first = { at: Date.now(), consumed };
    if (consumed >= events) break;
    if (Date.now() - lastStatus >= 5000) {
      log(`  ${consumed} of ${events} consumed`);
      lastStatus = Date.now();
    }
    await sleep(200);
  }
  const done = Date.now();
  const rows = await scrape(port, 'aggregator_rows_written_total');
  aggregator.child.kill('SIGTERM');
  const code = await aggregator.exited;
  if (consumed < events) throw new Error(`aggregator consumed only ${consumed} of ${events} events in 15 minutes`);
  if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${aggregator.output().slice(-3000)}`);
  const seconds = (done - first.at) / 1000;
  return {
    workers,
    eventsPerSec: Math.round((events - first.consumed) / seconds),
    seconds: Number(seconds.toFixed(2)),
    peakRssMB: Math.round(peakRss / 2 ** 20),
    peakPssMB: Math.round(peakPss / 2 ** 20),
    rowsWritten: rows,
  };
}

async function consumeOnly(topic, partitions, expected) {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': brokers,
      ...kafkaSecuritySettings(),
      'group.id': `bench-ceiling-${Date.now()}`,
      'enable.auto.commit': false,
      'isolation.level': 'read_committed',
      // As the aggregator's consumerConfig (apps/aggregator/src/app/pipeline-worker.ts).
      'queued.max.messages.kbytes': 1024,
      'fetch.queue.backoff.ms': 10,
      'max.partition.fetch.bytes': 65536,
      'fetch.max.bytes': 1048576,
      'fetch.wait.max.ms': 100,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  consumer.setDefaultConsumeTimeout(100);
  consumer.setDefaultIsTimeoutOnlyForFirstMessage(true);
  await new Promise((resolve, reject) => consumer.connect({}, (err) => (err ? reject(err) : resolve())));
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
  // The aggregator's default CONSUME_BATCH_SIZE.
  const next = () => new Promise((resolve, reject) => consumer.consume(500, (err, m) => (err ? reject(err) : resolve(m))));
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
