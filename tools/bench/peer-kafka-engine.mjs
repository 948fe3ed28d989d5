#!/usr/bin/env node
// The aggregator against the peer a user would pick instead of it: ClickHouse's own Kafka table
// engine with materialized views computing the same per-minute results, on the same backlog,
// the same broker and the same ClickHouse, in one run.
//
//   npx nx run-many -t build --projects=producer,aggregator,runtime
//   node tools/bench/peer-kafka-engine.mjs [events]      (default 8,000,000; BENCH_ROUNDS=3)
//
// Starts its own stack (tools/stack, a temporary STACK_DIR, free ports, Kafka and ClickHouse
// only) because ClickHouse 18.16's Kafka engine reads a new group from the start only with
// <kafka><auto_offset_reset>smallest</auto_offset_reset></kafka> in the server config; the
// shared stack is never touched. Then:
//  1. the producer fills one 24-partition topic with `events` valid events (2,000 devices);
//  2. each round runs, on that backlog, in alternating order:
//     - the engine: a Kafka table (JSONEachRow, kafka_num_consumers = 2, a fresh group) and two
//       materialized views into AggregatingMergeTree tables: the fleet minute (count, metric
//       sum/min/max, temperature sum/min/max, exact unique users, anomalies, status counts,
//       t-digest quantiles of the metric and temperature) and the per-device minute (the same
//       without users and quantiles, plus the last event time);
//     - the aggregator with --workers 1 and with --workers 2 (BENCH_WORKERS), each in a fresh
//       group over an emptied stream_analytics database;
//     events/s = events / (start -> every event visible in the result tables): the engine from
//     the CREATE of its views, the aggregator from its spawn, so both include their group join;
//  3. after each run, the per-window results (fleet minute and device minute, the exact
//     columns) are compared with the engine's: counts, minima and maxima equal, averages to
//     1e-9 relative (the sums are added in another order);
//  4. CPU per million events from /proc: the aggregator's threads (main, libuv pool
//     when its threads are named, librdkafka's rdk:* threads, the rest: on Node 20 the libuv
//     pool and V8's workers are unnamed and counted as "other"), the broker's and ClickHouse's processes;
//  5. medians over the rounds, the ratio aggregator / engine per round and of the medians,
//     load averages at every phase; JSON in tmp/bench/peer-kafka-engine-*.json.
//
// BENCH_BASELINE_AGGREGATOR=<main.js> also runs another aggregator build (e.g. main's) with
// --workers 2 in every round, BENCH_BASELINE_ENV="K=V ..." with that environment (of this build
// unless BENCH_BASELINE_AGGREGATOR names another; e.g. KAFKA_PACKED_CONSUME=false for the client's
// message objects instead of packed batches); BENCH_AGGREGATOR=<main.js> measures that build instead of
// dist/apps/aggregator; BENCH_CPU_PROF_DIR=<dir> writes V8 CPU profiles of the aggregator's
// main process there (not comparable rates); BENCH_KEEP_STACK=1 leaves the stack's directory.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../stack/ports.mjs';

const events = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 8_000_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
/** The aggregator measured: dist/apps/aggregator by default, or another build's main.js. */
const ourBundle = process.env.BENCH_AGGREGATOR || 'aggregator';
/** BENCH_BASELINE_ENV="K=V ...": the baseline run's extra environment (our build unless BENCH_BASELINE_AGGREGATOR says another). */
const baselineEnv = Object.fromEntries((process.env.BENCH_BASELINE_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const baselineBundle = process.env.BENCH_BASELINE_AGGREGATOR || (Object.keys(baselineEnv).length > 0 ? ourBundle : undefined);
const partitions = 24;
const devices = 2000;
const ANOMALY_THRESHOLD = 0.9; // the aggregator's default ANOMALY_THRESHOLD
const CLK_TCK = 100;

// A private stack: its own directory and ports, Kafka and ClickHouse only.
const stackDir = mkdtempSync(join(tmpdir(), 'peer-bench-'));
const names = ['KAFKA_PORT', 'KAFKA_CONTROLLER_PORT', 'CLICKHOUSE_HTTP_PORT', 'CLICKHOUSE_TCP_PORT'];
const ports = [];
while (ports.length < names.length) {
  const p = await freePort();
  if (!ports.includes(p)) ports.push(p);
}
Object.assign(process.env, { STACK_DIR: stackDir, ...Object.fromEntries(names.map((n, i) => [n, String(ports[i])])) });
delete process.env.KAFKA_BROKERS;
delete process.env.CLICKHOUSE_URL;
// The Kafka engine of 18.16 reads a group without committed offsets from the start only with this.
mkdirSync(join(stackDir, 'clickhouse', 'config.d'), { recursive: true });
writeFileSync(join(stackDir, 'clickhouse', 'config.d', 'kafka.xml'), '<?xml version="1.0"?>\n<yandex><kafka><auto_offset_reset>smallest</auto_offset_reset></kafka></yandex>\n');

const { brokers, clickhouseQuery, createTopic, log, processTree, repoRoot, scrape, sleep, startApp, treeMemoryBytes, writeResult } = await import('./bench-kit.mjs');
const stack = (...args) => execFileSync(process.execPath, [join(repoRoot, 'tools/stack/stack.mjs'), ...args], { env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const pidOf = (server) => JSON.parse(readFileSync(join(stackDir, server, `${server}.pid`), 'utf8')).pid;

log(`starting a private Kafka + ClickHouse in ${stackDir}`);
stack('up', '--only', 'kafka,clickhouse');
let stopped = false;
const stopStack = () => {
  if (stopped) return;
  stopped = true;
  log('stopping the private stack');
  try {
    stack('down', ...(process.env.BENCH_KEEP_STACK ? [] : ['--purge']));
  } catch (err) {
    log(`stack down failed: ${err.message}`);
  }
  if (!process.env.BENCH_KEEP_STACK) rmSync(stackDir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  stopStack();
  process.exit(130);
});

/** The engine's results of the last engine run, which every aggregator run is compared with. */
let engineResults;
const q = (sql) => clickhouseQuery(sql);
const rowsOf = async (sql) => JSON.parse(await q(`${sql} FORMAT JSONCompact`)).data;
const load = () => Number(loadavg()[0].toFixed(2));

try {
  const brokerPid = pidOf('kafka');
  const clickhousePid = pidOf('clickhouse');
  const topic = await createTopic('bench.peer', partitions);
  log(`topic ${topic}: producing ${events} events`);
  const producer = startApp('producer', ['--topic', topic, '--count', String(events), '--rate', '0', '--seed', '1', '--devices', String(devices), '--start-time', '2001-01-01T00:00:00.000Z']);
  if ((await producer.exited) !== 0) throw new Error(`producer failed:\n${producer.output().slice(-3000)}`);

  const runners = [
    { name: 'engine', run: (round) => engineRun(round) },
    ...workerCounts.map((w) => ({ name: `aggregator --workers ${w}`, run: () => aggregatorRun(w, ourBundle) })),
    ...(baselineBundle ? [{ name: 'baseline --workers 2', run: () => aggregatorRun(2, baselineBundle, baselineEnv) }] : []),
  ];
  const results = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? runners : [...runners].reverse();
    const r = { round, runs: {} };
    for (const runner of order) {
      const loadAtStart = load();
      log(`round ${round}: ${runner.name} (load ${loadAtStart})`);
      const res = await runner.run(round);
      res.loadAtStart = loadAtStart;
      res.loadAtEnd = load();
      r.runs[runner.name] = res;
      log(`round ${round}: ${runner.name}: ${res.eventsPerSec} events/s (${res.seconds} s)${res.flushes ? `, ${res.flushes} flushes taking ${res.flushSeconds} s` : ''}${res.startupSeconds === undefined ? '' : `, first event consumed after ${res.startupSeconds} s, all visible ${res.tailSeconds} s after the last`}, peak RSS ${res.peakRssMB ?? '-'} MB, CPU ${JSON.stringify(res.cpuSecondsPerMillion)} s per 1M events${res.identical === undefined ? '' : `, results ${res.identical ? 'identical' : 'DIFFERENT'}`}`);
    }
    for (const name of Object.keys(r.runs)) if (name !== 'engine') r.runs[name].ratioToEngine = Number((r.runs[name].eventsPerSec / r.runs.engine.eventsPerSec).toFixed(3));
    results.push(r);
  }

  const names = runners.map((r) => r.name);
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const summary = Object.fromEntries(
    names.map((n) => {
      const runs = results.map((r) => r.runs[n]);
      const cpuKeys = Object.keys(runs[0].cpuSecondsPerMillion);
      return [
        n,
        {
          medianEventsPerSec: Math.round(median(runs.map((x) => x.eventsPerSec))),
          perRound: runs.map((x) => x.eventsPerSec),
          ratioToEnginePerRound: n === 'engine' ? undefined : runs.map((x) => x.ratioToEngine),
          medianCpuSecondsPerMillion: Object.fromEntries(cpuKeys.map((k) => [k, Number(median(runs.map((x) => x.cpuSecondsPerMillion[k])).toFixed(2))])),
          peakRssMB: Math.max(...runs.map((x) => x.peakRssMB ?? 0)) || undefined,
          allIdentical: n === 'engine' ? undefined : runs.every((x) => x.identical),
        },
      ];
    }),
  );
  for (const n of names) if (n !== 'engine') summary[n].ratioOfMedians = Number((summary[n].medianEventsPerSec / summary.engine.medianEventsPerSec).toFixed(3));
  const result = { events, partitions, devices, rounds, machine: { cpus: availableParallelism() }, summary, results, loadAverageAtEnd: load() };
  console.log(JSON.stringify(result, null, 2));
  for (const n of names) {
    const s = summary[n];
    console.log(
      `${n}: median ${s.medianEventsPerSec} events/s (rounds ${s.perRound.join(', ')})${s.ratioOfMedians ? `, ratio to the engine ${s.ratioOfMedians} (per round ${s.ratioToEnginePerRound.join(', ')}), results identical in every round: ${s.allIdentical}` : ''}; CPU s per 1M events ${JSON.stringify(s.medianCpuSecondsPerMillion)}`,
    );
  }
  console.log(`load average per run: ${results.map((r) => names.map((n) => `${r.round}/${n}: ${r.runs[n].loadAtStart}-${r.runs[n].loadAtEnd}`).join('; ')).join('; ')}`);
  writeResult('peer-kafka-engine', result);

  // ---------------------------------------------------------------------------------------------

  async function engineRun(round) {
    const db = 'peer_engine';
    await q(`DROP DATABASE IF EXISTS ${db}`);
    await q(`CREATE DATABASE ${db}`);
    await q(`CREATE TABLE ${db}.raw (event_id String, event_time String, device_id String, user_id String, temperature Float64, metric_value Float64, status String, anomaly_score Float64)
      ENGINE = Kafka('${brokers}', '${topic}', 'bench-peer-engine-${round}-${Date.now()}', 'JSONEachRow', '', '', 2)`);
    const exact = (cols) => cols.map(([name, fn, type]) => `${name} AggregateFunction(${fn}${type ? `, ${type}` : ''})`).join(', ');
    const statusCols = ['ok', 'warning', 'error', 'offline'].map((s) => [`status_${s}`, 'sum', 'UInt64']);
    const common = [['total_events', 'count', ''], ['metric_sum', 'sum', 'Float64'], ['min_metric', 'min', 'Float64'], ['max_metric', 'max', 'Float64'], ['temperature_sum', 'sum', 'Float64'], ['min_temperature', 'min', 'Float64'], ['max_temperature', 'max', 'Float64'], ['anomaly_events', 'sum', 'UInt64'], ...statusCols];
    await q(`CREATE TABLE ${db}.fleet (window_start DateTime, ${exact(common)}, users AggregateFunction(uniqExact, String),
      metric_quantiles AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64), temperature_p95 AggregateFunction(quantileTDigest(0.95), Float64))
      ENGINE = AggregatingMergeTree() ORDER BY window_start`);
    await q(`CREATE TABLE ${db}.device (window_start DateTime, device_id String, ${exact(common)}, last_event_time_ms AggregateFunction(max, UInt64))
      ENGINE = AggregatingMergeTree() ORDER BY (window_start, device_id)`);
    const windowStart = `toStartOfMinute(toDateTime(substring(event_time, 1, 19), 'UTC'))`;
    const states = `countState() AS total_events, sumState(metric_value) AS metric_sum, minState(metric_value) AS min_metric, maxState(metric_value) AS max_metric,
      sumState(temperature) AS temperature_sum, minState(temperature) AS min_temperature, maxState(temperature) AS max_temperature,
      sumState(toUInt64(anomaly_score >= ${ANOMALY_THRESHOLD})) AS anomaly_events,
      ${['ok', 'warning', 'error', 'offline'].map((s) => `sumState(toUInt64(status = '${s}')) AS status_${s}`).join(', ')}`;
    const started = Date.now();
    const cpu = cpuTracker([]);
    await q(`CREATE MATERIALIZED VIEW ${db}.fleet_mv TO ${db}.fleet AS SELECT ${windowStart} AS window_start, ${states}, uniqExactState(user_id) AS users,
      quantilesTDigestState(0.5, 0.95, 0.99)(metric_value) AS metric_quantiles, quantileTDigestState(0.95)(temperature) AS temperature_p95
      FROM ${db}.raw GROUP BY window_start`);
    await q(`CREATE MATERIALIZED VIEW ${db}.device_mv TO ${db}.device AS SELECT ${windowStart} AS window_start, device_id, ${states},
      maxState(toUInt64(toUInt32(toDateTime(substring(event_time, 1, 19), 'UTC'))) * 1000 + toUInt64(substring(event_time, 21, 3))) AS last_event_time_ms
      FROM ${db}.raw GROUP BY window_start, device_id`);
    const done = await waitVisible(`SELECT countMerge(total_events) FROM ${db}.fleet`, `SELECT countMerge(total_events) FROM ${db}.device`, started, cpu);
    // Stop consuming before the next run: the views go first, then the Kafka table.
    await q(`DROP TABLE ${db}.fleet_mv`);
    await q(`DROP TABLE ${db}.device_mv`);
    await q(`DROP TABLE ${db}.raw`);
    // Kept for the aggregator runs' comparison (exact columns, as the reader contract names them),
    // unless this run counted events twice (then the last exact run's results stay the reference).
    const results = {
      fleet: await rowsOf(`SELECT toUInt32(window_start), countMerge(total_events) AS t, sumMerge(metric_sum) / t, uniqExactMerge(users), sumMerge(anomaly_events),
        minMerge(min_metric), maxMerge(max_metric), sumMerge(temperature_sum) / t, minMerge(min_temperature), maxMerge(max_temperature),
        sumMerge(status_ok), sumMerge(status_warning), sumMerge(status_error), sumMerge(status_offline)
        FROM ${db}.fleet GROUP BY window_start ORDER BY window_start`),
      device: await rowsOf(`SELECT toUInt32(window_start), device_id, countMerge(total_events) AS t, sumMerge(metric_sum) / t, minMerge(min_metric), maxMerge(max_metric),
        sumMerge(temperature_sum) / t, minMerge(min_temperature), maxMerge(max_temperature),
        sumMerge(status_ok), sumMerge(status_warning), sumMerge(status_error), sumMerge(status_offline), sumMerge(anomaly_events), maxMerge(last_event_time_ms)
        FROM ${db}.device GROUP BY window_start, device_id ORDER BY window_start, device_id`),
    };
    if (done.countedTwice === 0) engineResults = results;
    else log(`the engine counted ${done.countedTwice} events twice (at-least-once): its results of this round are not the reference`);
    return { ...done, windows: results.fleet.length, deviceRows: results.device.length, cpuSecondsPerMillion: cpu.perMillion({ brokerPid, clickhousePid }) };
  }

  async function aggregatorRun(workers, bundle = 'aggregator', env = {}) {
    // An empty stream_analytics: the same windows are computed again from the same backlog.
    for (const [name] of await rowsOf(`SELECT name FROM system.tables WHERE database = 'stream_analytics' AND engine NOT LIKE '%View' AND name != 'schema_migrations'`)) {
      await q(`TRUNCATE TABLE stream_analytics.\`${name}\``);
    }
    const started = Date.now();
    // BENCH_CPU_PROF_DIR: a V8 CPU profile of the first pipeline's process (it slows it down).
    const profile = process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
    const app = startApp(bundle, ['--workers', String(workers)], { RAW_TOPIC: topic, CONSUMER_GROUP: `bench-peer-${workers}-${Date.now()}`, FLUSH_INTERVAL_SECS: '5', CLICKHOUSE_MIGRATE: 'false', ...env }, profile);
    const cpu = cpuTracker([app.child.pid]);
    const port = await app.metricsPort;
    let peakRss = 0;
    let firstConsumed;
    let lastConsumed;
    const sampleMemory = async () => {
      const m = treeMemoryBytes(app.child.pid);
      peakRss = Math.max(peakRss, m.rss);
      const consumed = (await scrape(port, 'aggregator_events_consumed_total').catch(() => NaN)) || 0;
      if (firstConsumed === undefined && consumed > 0) firstConsumed = { at: Date.now(), consumed };
      if (lastConsumed === undefined && consumed >= events) lastConsumed = Date.now();
    };
    const done = await waitVisible(
      `SELECT sum(total_events) FROM stream_analytics.iot_minute_agg`,
      `SELECT sum(total_events) FROM stream_analytics.iot_device_minute`,
      started,
      cpu,
      sampleMemory,
    );
    // Time the pipelines spent in flushes (consumption waits for each one), summed over them.
    const flushSeconds = await scrape(port, 'aggregator_flush_duration_seconds_sum').catch(() => NaN);
    const flushes = await scrape(port, 'aggregator_flush_duration_seconds_count').catch(() => NaN);
    app.child.kill('SIGTERM');
    const code = await app.exited;
    if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${app.output().slice(-3000)}`);
    const ours = {
      fleet: await rowsOf(`SELECT toUInt32(window_start), total_events, avg_metric, unique_users, anomaly_events, min_metric, max_metric, avg_temperature, min_temperature, max_temperature,
        status_ok, status_warning, status_error, status_offline FROM stream_analytics.iot_minute_agg ORDER BY window_start`),
      device: await rowsOf(`SELECT toUInt32(window_start), device_id, total_events, avg_metric, min_metric, max_metric, avg_temperature, min_temperature, max_temperature,
        status_ok, status_warning, status_error, status_offline, anomaly_events, last_event_time_ms FROM stream_analytics.iot_device_minute ORDER BY window_start, device_id`),
    };
    if (done.countedTwice !== 0) throw new Error(`the aggregator counted ${done.countedTwice} events more than were produced`);
    const diff = engineResults ? compareResults(ours, engineResults) : 'no exact engine run to compare with yet';
    if (diff) log(`results differ from the engine's: ${diff}`);
    return {
      ...done,
      consumedEventsPerSec: firstConsumed && lastConsumed ? Math.round((events - firstConsumed.consumed) / ((lastConsumed - firstConsumed.at) / 1000)) : undefined,
      // Where the wall time goes: from the spawn to the first event consumed (start-up, group join), and
      // from the last event consumed to every event visible (the last flushes); sampled every ~200 ms.
      startupSeconds: firstConsumed ? Number(((firstConsumed.at - started) / 1000).toFixed(2)) : undefined,
      tailSeconds: lastConsumed ? Number(((started + done.seconds * 1000 - lastConsumed) / 1000).toFixed(2)) : undefined,
      peakRssMB: Math.round(peakRss / 2 ** 20),
      flushes,
      flushSeconds: Number(flushSeconds.toFixed(2)),
      identical: diff === undefined,
      difference: diff,
      cpuSecondsPerMillion: cpu.perMillion({ brokerPid, clickhousePid }),
    };
  }

  /** Polls until both result tables count every event; events/s from `started`. */
  async function waitVisible(fleetSql, deviceSql, started, cpu, onPoll = async () => {}) {
    cpu.start(brokerPid, clickhousePid);
    const deadline = Date.now() + 20 * 60_000;
    let first;
    let visible = 0;
    while (Date.now() < deadline) {
      await onPoll();
      cpu.sample();
      visible = Number((await rowsOf(fleetSql))[0][0]);
      if (first === undefined && visible > 0) first = { at: Date.now(), visible };
      if (visible >= events && Number((await rowsOf(deviceSql))[0][0]) >= events) break;
      await sleep(200);
    }
    const at = Date.now();
    cpu.sample();
    cpu.stop(brokerPid, clickhousePid);
    // More than were produced: the engine is at-least-once and counts a re-read batch again.
    if (visible < events) throw new Error(`${visible} of ${events} events visible after 20 minutes`);
    const seconds = (at - started) / 1000;
    return {
      eventsPerSec: Math.round(events / seconds),
      seconds: Number(seconds.toFixed(2)),
      firstVisibleToAllEventsPerSec: first ? Math.round((events - first.visible) / ((at - first.at) / 1000)) : undefined,
      countedTwice: visible - events,
    };
  }
} finally {
  stopStack();
}

/** results[window][...] equal: counts, minima, maxima exactly; averages to 1e-9 relative. */
function compareResults(ours, theirs) {
  for (const table of ['fleet', 'device']) {
    const a = ours[table];
    const b = theirs[table];
    if (a.length !== b.length) return `${table}: ${a.length} rows, the engine ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      for (let j = 0; j < a[i].length; j++) {
        const x = a[i][j];
        const y = b[i][j];
        if (x === y || String(x) === String(y)) continue;
        const nx = Number(x);
        const ny = Number(y);
        if (Number.isFinite(nx) && Number.isFinite(ny) && !Number.isInteger(nx) && Math.abs(nx - ny) <= 1e-9 * Math.max(Math.abs(nx), Math.abs(ny))) continue;
        return `${table} row ${i} column ${j}: ${JSON.stringify(a[i])} vs the engine's ${JSON.stringify(b[i])}`;
      }
    }
  }
  return undefined;
}

/** CPU time from /proc: per thread of the given process trees (kept at their highest), and of the broker and ClickHouse. */
function cpuTracker(rootPids) {
  const threads = new Map(); // `${pid}/${tid}` -> { kind, ticks }
  const startTicks = {};
  const endTicks = {};
  const procTicks = (path) => {
    try {
      const stat = readFileSync(path, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime
    } catch {
      return NaN;
    }
  };
  const kindOf = (pid, tid, comm) => (Number(tid) === pid ? 'main' : comm.startsWith('libuv-worker') ? 'libuv' : comm.startsWith('rdk:') ? 'librdkafka' : 'other');
  return {
    start(brokerPid, clickhousePid) {
      startTicks.broker = procTicks(`/proc/${brokerPid}/stat`);
      startTicks.clickhouse = procTicks(`/proc/${clickhousePid}/stat`);
    },
    stop(brokerPid, clickhousePid) {
      endTicks.broker = procTicks(`/proc/${brokerPid}/stat`);
      endTicks.clickhouse = procTicks(`/proc/${clickhousePid}/stat`);
    },
    sample() {
      for (const root of rootPids) {
        for (const pid of processTree(root)) {
          let tids = [];
          try {
            tids = readdirSync(`/proc/${pid}/task`);
          } catch {
            continue;
          }
          for (const tid of tids) {
            const ticks = procTicks(`/proc/${pid}/task/${tid}/stat`);
            if (Number.isNaN(ticks)) continue;
            const key = `${pid}/${tid}`;
            const prev = threads.get(key);
            if (prev) prev.ticks = Math.max(prev.ticks, ticks);
            else {
              let comm = '';
              try {
                comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
              } catch {
                // gone
              }
              threads.set(key, { kind: kindOf(pid, tid, comm), ticks });
            }
          }
        }
      }
    },
    perMillion() {
      const perM = (ticks) => Number(((ticks / CLK_TCK) * (1e6 / events)).toFixed(2));
      const out = {};
      if (rootPids.length > 0) {
        const byKind = { main: 0, libuv: 0, librdkafka: 0, other: 0 };
        for (const t of threads.values()) byKind[t.kind] += t.ticks;
        for (const [k, v] of Object.entries(byKind)) out[`aggregator_${k}`] = perM(v);
        out.aggregator = perM(Object.values(byKind).reduce((a, b) => a + b, 0));
      }
      out.broker = perM(endTicks.broker - startTicks.broker);
      out.clickhouse = perM(endTicks.clickhouse - startTicks.clickhouse);
      return out;
    },
  };
}

