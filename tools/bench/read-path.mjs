#!/usr/bin/env node
// Dashboard reads over a month of data, and the flush path with that month present.
//
//   node tools/bench/read-path.mjs [--loads default,spread,highcard] [--days 1,7,30] [--highcard-days 1,7]
//                                  [--samples 20] [--dead-letters-per-min 1] [--keep]
//
// For each load, ClickHouse is filled through the project's write path
// (WindowRowWriter of libs/clickhouse-sink, bundled on the fly with esbuild)
// with the rows the aggregator writes, up to 1, 7 and 30 days before the
// current minute, and at each of those sizes:
//   - every dashboard panel query (tools/dashboard panels.ts, macros expanded
//     as Grafana would for the range, interval included) is timed over the
//     last 1 h, 24 h, 7 d and 30 d: one warm-up, then --samples runs one at a
//     time (p50, p95 of the wall time over HTTP), and the whole dashboard as
//     Grafana refreshes it (all panels at once);
//   - the flush path is timed for live windows after the history (users, state
//     rows, dead letters, rollup refresh, as the aggregator calls them every
//     5 s): the yardstick is the same sequence with no history present, in the
//     same run.
//
// Loads (the producer's model: device i belongs to user i mod users; a
// device's events go to the partition of its key):
//   default   10,000 events/s, 2,000 devices, 500 users, 24 partitions (~84 users per partition row)
//   spread    the same with every user in every partition (500 users per partition row)
//   highcard  50,000 events/s, 100,000 devices, 100,000 users (each user on one partition, ~4,200 per row)
//
// What the fill writes per window: the users of each (window, partition)
// once, dead letters (--dead-letters-per-min, spread over the partitions),
// and cumulative state rows per partition with a rollup refresh after each
// version. The last day has the live shape: 13 state versions per
// (window, partition) (12 flushes while the minute fills and the final one)
// and 13 rollup refreshes per window. Older days have 2 versions (one partial,
// the final) and 2 refreshes per window: writing 13 versions of a month
// through the Values path takes longer than the benchmark should, and a day
// old partition has long been merged in production (ReplacingMergeTree keeps
// the newest version) so its shape is the merged one anyway. After each fill
// the benchmark waits for background merges to finish (at most
// --merge-wait-s) and reports rows and parts per table.
//
// The benchmark writes into the stream_analytics tables of the stack it talks
// to, in the days before now, and drops those day partitions at the end (and
// between loads): it refuses to start when those days already hold rows. Run
// it on a stack of its own.
import { statfsSync } from 'node:fs';
import { cpus, freemem, loadavg } from 'node:os';
import { bundledLibs, clickhouseQuery, timedClickhouseQuery, clickhouseUrl, log, percentile, repoRoot, sleep, writeResult } from './bench-kit.mjs';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const FLUSH_MS = 5000;
const FLUSHES_PER_MINUTE = MINUTE / FLUSH_MS;
/** A window's live versions: one per flush while it fills, then the final row. */
const LIVE_VERSIONS = FLUSHES_PER_MINUTE + 1;
const HISTORY_VERSIONS = 2;
const RAW_TOPIC = 'iot.telemetry.raw.v1';
const TABLES = ['iot_window_agg_state', 'iot_window_users', 'iot_minute_results', 'iot_device_partition_minute', 'dead_letters', 'iot_minute_dead_letter_rollup'];
const RANGES = [
  ['1h', HOUR],
  ['24h', DAY],
  ['7d', 7 * DAY],
  ['30d', 30 * DAY],
];
const TARGET_MS = { '7d': 200, '30d': 500 };
const HIGHCARD_USERS_TARGET_MS = 1000;
/** State rows per writeWindowRows call: bounds the text built at once (the writer splits it into INSERTs of at most 1 MB). */
const STATE_ROWS_PER_CALL = 10_000;
const USER_IDS_PER_CALL = 250_000;

const LOADS = {
  default: { eventsPerSec: 10_000, devices: 2_000, users: 500, partitions: 24, spread: false },
  spread: { eventsPerSec: 10_000, devices: 2_000, users: 500, partitions: 24, spread: true },
  highcard: { eventsPerSec: 50_000, devices: 100_000, users: 100_000, partitions: 24, spread: false },
};

function usage(message) {
  process.stderr.write(`read-path: ${message}\nusage: node tools/bench/read-path.mjs [--loads default,spread,highcard] [--days 1,7,30] [--highcard-days 1,7] [--samples 20] [--dead-letters-per-min 1] [--merge-wait-s 300] [--keep]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { loads: ['default', 'spread', 'highcard'], days: [1, 7, 30], highcardDays: [1, 7], samples: 20, deadLettersPerMin: 1, mergeWaitS: 300, keep: false };
  const list = (name, v, check) => {
    const items = String(v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0 || !items.every(check)) usage(`${name} must be a comma-separated list, got ${JSON.stringify(v)}`);
    return items;
  };
  const days = (name, v) => [...new Set(list(name, v, (s) => /^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 30).map(Number))].sort((a, b) => a - b);
  const int = (name, v, min) => {
    if (!/^\d+$/.test(String(v)) || Number(v) < min) usage(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === '--loads') opts.loads = list(a, next(), (s) => s in LOADS);
    else if (a === '--days') opts.days = days(a, next());
    else if (a === '--highcard-days') opts.highcardDays = days(a, next());
    else if (a === '--samples') opts.samples = int(a, next(), 1);
    else if (a === '--dead-letters-per-min') opts.deadLettersPerMin = int(a, next(), 0);
    else if (a === '--merge-wait-s') opts.mergeWaitS = int(a, next(), 0);
    else if (a === '--keep') opts.keep = true;
    else usage(`unknown argument ${JSON.stringify(a)}`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const lib = bundledLibs(
  'read-path-libs',
  [
    "export { WindowRowWriter, createClickHouseClient } from '@stream-analytics/clickhouse-sink';",
    "export { PANELS, expandPanelSql } from '@stream-analytics/dashboard';",
    "export { rowVersionOf } from '@stream-analytics/windowing';",
  ].join('\n'),
);
const { PANELS, expandPanelSql, rowVersionOf, WindowRowWriter, createClickHouseClient } = lib;
for (const fn of ['writeWindowUsers', 'writeWindowRows', 'writeDeadLetters', 'refreshMinuteRollup', 'refreshDeadLetterRollup']) {
  if (typeof WindowRowWriter.prototype[fn] !== 'function') usage(`libs/clickhouse-sink's WindowRowWriter has no ${fn} (this benchmark needs the window-users write path)`);
}

// ---------------------------------------------------------------------------
// The load model

/** FNV-1a of the key: a stand-in for the broker's partitioner (any uniform hash gives the same shapes). */
function partitionOf(key, partitions) {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h % partitions;
}

const deviceId = (d) => `dev-${String(d).padStart(6, '0')}`;
const userId = (u) => `user-${String(u).padStart(5, '0')}`;

/**
 * Per partition, its users with the flush (1-based) of a minute in which each
 * is first seen: a device sends eventsPerSec / devices events a second, so its
 * first event of a minute arrives after an exponential wait (deterministic
 * per device).
 */
function modelOf(name) {
  const load = LOADS[name];
  const perDeviceFlush = (load.eventsPerSec * (FLUSH_MS / 1000)) / load.devices;
  const firstFlushOf = (d) => {
    const u = (partitionOf(`arrival-${d}`, 1 << 30) + 0.5) / (1 << 30);
    return Math.min(FLUSHES_PER_MINUTE, 1 + Math.floor(-Math.log(1 - u) / perDeviceFlush));
  };
  const users = Array.from({ length: load.partitions }, () => new Map());
  for (let d = 0; d < load.devices; d++) {
    const p = partitionOf(deviceId(d), load.partitions);
    const u = userId(d % load.users);
    users[p].set(u, Math.min(users[p].get(u) ?? Infinity, firstFlushOf(d)));
  }
  if (load.spread) {
    for (const m of users) for (let u = 0; u < load.users; u++) if (!m.has(userId(u))) m.set(userId(u), 1);
  }
  const byFlush = users.map((m) => {
    const out = Array.from({ length: FLUSHES_PER_MINUTE + 1 }, () => []);
    for (const [u, f] of m) out[f].push(u);
    return out;
  });
  const eventsPerPartitionMinute = Math.round((load.eventsPerSec * 60) / load.partitions);
  return {
    name,
    load,
    byFlush,
    usersOf: (p) => [...users[p].keys()],
    userRowsPerWindow: users.reduce((a, m) => a + m.size, 0),
    eventsPerPartitionMinute,
  };
}

/** Epoch of the offsets: every window's rows have offsets above the previous window's. */
let offsetEpochMs;

/** The cumulative row of (window, partition) after `fraction` of its minute, as the aggregator writes it. */
function stateRow(model, windowStartMs, partition, fraction, final) {
  const E = model.eventsPerPartitionMinute;
  const events = Math.max(1, Math.round(E * fraction));
  const lastOffset = ((windowStartMs - offsetEpochMs) / MINUTE) * E + events - 1;
  return {
    windowStartMs,
    sourcePartition: partition,
    sourceTopic: RAW_TOPIC,
    totalEvents: events,
    metricSum: events * 50 + ((windowStartMs / MINUTE + partition) % 97) / 7,
    anomalyEvents: Math.round(events * 0.01),
    lateEvents: 0,
    lastOffset,
    isFinal: final,
    rowVersion: rowVersionOf(lastOffset, final),
    updatedAtMs: windowStartMs + Math.min(MINUTE, Math.round(fraction * MINUTE)) + (final ? 15_000 : 0),
  };
}

const DEAD_LETTER_REASONS = ['invalid_json', 'invalid_json', 'missing_field', 'out_of_range', 'late_event', 'future_event_time'];

function deadLetterRows(model, windowStartMs, count) {
  const rows = [];
  const E = model.eventsPerPartitionMinute;
  for (let i = 0; i < count; i++) {
    const partition = i % model.load.partitions;
    rows.push({
      sourceTopic: RAW_TOPIC,
      sourcePartition: partition,
      // Offsets of the minute's messages on that partition, away from the state rows' last offsets.
      sourceOffset: ((windowStartMs - offsetEpochMs) / MINUTE) * E + Math.floor(E / 2) + Math.floor(i / model.load.partitions),
      windowStartMs,
      reason: DEAD_LETTER_REASONS[i % DEAD_LETTER_REASONS.length],
      deviceId: deviceId(i),
      recordedAtMs: windowStartMs + 30_000,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------
// Writing, as the aggregator does

const client = createClickHouseClient({ url: clickhouseUrl, requestTimeoutMs: 600_000 });
const writer = new WindowRowWriter(client);

async function writeUsers(rows) {
  // Calls of at most USER_IDS_PER_CALL ids (one flush of the high-cardinality load writes ~10^5).
  let batch = [];
  let n = 0;
  for (const r of rows) {
    batch.push(r);
    n += r.userIds.length;
    if (n >= USER_IDS_PER_CALL) {
      await writer.writeWindowUsers(batch);
      batch = [];
      n = 0;
    }
  }
  if (batch.length) await writer.writeWindowUsers(batch);
}

async function writeState(rows) {
  for (let i = 0; i < rows.length; i += STATE_ROWS_PER_CALL) await writer.writeWindowRows(rows.slice(i, i + STATE_ROWS_PER_CALL));
}

/** Fills the windows of [fromMs, toMs) with `versions` state versions and rollup refreshes per window, an hour at a time. */
async function fill(model, fromMs, toMs, versions) {
  const started = Date.now();
  const written = { stateRows: 0, userIds: 0, deadLetters: 0, rollupRefreshes: 0, windows: 0 };
  const chunks = [];
  for (let t = fromMs; t < toMs; t += HOUR) chunks.push([t, Math.min(toMs, t + HOUR)]);
  let lastLog = Date.now();
  const fillChunk = async ([from, to]) => {
    const windows = [];
    for (let w = from; w < to; w += MINUTE) windows.push(w);
    const users = [];
    for (const w of windows) for (let p = 0; p < model.load.partitions; p++) users.push({ windowStartMs: w, userIds: model.usersOf(p) });
    await writeUsers(users);
    written.userIds += users.reduce((a, r) => a + r.userIds.length, 0);
    const dead = windows.flatMap((w) => deadLetterRows(model, w, opts.deadLettersPerMin));
    if (dead.length) {
      await writer.writeDeadLetters(dead);
      await writer.refreshDeadLetterRollup([...new Set(dead.map((d) => d.windowStartMs))]);
    }
    written.deadLetters += dead.length;
    for (let v = 1; v <= versions; v++) {
      const rows = [];
      for (const w of windows) for (let p = 0; p < model.load.partitions; p++) rows.push(stateRow(model, w, p, v / versions, v === versions));
      await writeState(rows);
      await writer.refreshMinuteRollup(windows);
      written.stateRows += rows.length;
      written.rollupRefreshes++;
    }
    written.windows += windows.length;
    if (Date.now() - lastLog > 30_000) {
      lastLog = Date.now();
      log(`  ${model.name}: ${written.windows} of ${(toMs - fromMs) / MINUTE} windows filled (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  };
  // Two chunks at a time: the server parses one insert while the next is built.
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < chunks.length) await fillChunk(chunks[next++]);
    }),
  );
  return { ...written, versionsPerWindow: versions, seconds: Number(((Date.now() - started) / 1000).toFixed(1)) };
}

/**
 * Live flushes of `minutes` consecutive windows from startMs, one after the
 * other: every 5 s the new users of each (window, partition), the state rows
 * of the windows that changed (the filling one; the previous one's final row
 * 15 s into the next minute, when the watermark passes its end), that
 * minute's dead letters with the first flush, and the rollup refresh of the
 * windows written. Returns the duration of each flush's sequence.
 */
async function liveFlushes(model, startMs, minutes) {
  const durations = [];
  const steps = { users: [], state: [], deadLetters: [], rollup: [] };
  const P = model.load.partitions;
  for (let m = 0; m < minutes; m++) {
    const w = startMs + m * MINUTE;
    for (let k = 1; k <= FLUSHES_PER_MINUTE; k++) {
      const users = [];
      for (let p = 0; p < P; p++) if (model.byFlush[p][k].length) users.push({ windowStartMs: w, userIds: model.byFlush[p][k] });
      const rows = [];
      for (let p = 0; p < P; p++) rows.push(stateRow(model, w, p, k / FLUSHES_PER_MINUTE, false));
      const windows = [w];
      if (k === 3 && m > 0) {
        for (let p = 0; p < P; p++) rows.push(stateRow(model, w - MINUTE, p, 1, true));
        windows.unshift(w - MINUTE);
      }
      const dead = k === 1 ? deadLetterRows(model, w, opts.deadLettersPerMin) : [];
      const t0 = performance.now();
      await writer.writeWindowUsers(users);
      const t1 = performance.now();
      await writer.writeWindowRows(rows);
      const t2 = performance.now();
      await writer.writeDeadLetters(dead);
      const t3 = performance.now();
      await writer.refreshMinuteRollup(windows);
      await writer.refreshDeadLetterRollup([...new Set(dead.map((d) => d.windowStartMs))]);
      const t4 = performance.now();
      durations.push(t4 - t0);
      steps.users.push(t1 - t0);
      steps.state.push(t2 - t1);
      steps.deadLetters.push(t3 - t2);
      steps.rollup.push(t4 - t3);
      // Flushes are 5 s apart in production; a short pause lets the server's background work run as it would.
      await sleep(100);
    }
  }
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), max: round(s[s.length - 1]) };
  };
  return { flushes: durations.length, ms: stats(durations), steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, stats(v)])) };
}

// ---------------------------------------------------------------------------
// Reading, as Grafana does

async function timePanels(endMs) {
  const out = [];
  for (const [label, span] of RANGES) {
    const range = { fromMs: endMs - span, toMs: endMs };
    for (const p of PANELS) {
      const sql = expandPanelSql(p, range);
      await timedClickhouseQuery(sql);
      const runs = [];
      for (let i = 0; i < opts.samples; i++) runs.push(await timedClickhouseQuery(sql));
      const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
      out.push({ range: label, panel: p.key, p50: round(percentile(ms, 50)), p95: round(percentile(ms, 95)), points: runs[0].rows, rowsRead: runs[0].rowsRead });
    }
    // The whole dashboard as one refresh: every panel's query at once.
    const refreshes = [];
    for (let i = 0; i < opts.samples; i++) {
      const t0 = performance.now();
      await Promise.all(PANELS.map((p) => timedClickhouseQuery(expandPanelSql(p, range))));
      refreshes.push(performance.now() - t0);
    }
    refreshes.sort((a, b) => a - b);
    out.push({ range: label, panel: 'dashboard refresh (all at once)', p50: round(percentile(refreshes, 50)), p95: round(percentile(refreshes, 95)), points: NaN, rowsRead: NaN });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Housekeeping

const round = (x) => Number(x.toFixed(1));
const ymd = (ms) => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
const q = async (sql) => (await clickhouseQuery(`${sql} FORMAT TabSeparated`)).trim();

function dayPartitions(fromMs, toMs) {
  const out = [];
  for (let t = Math.floor(fromMs / DAY) * DAY; t < toMs; t += DAY) out.push(ymd(t));
  return out;
}

async function tableShapes(fromMs, toMs) {
  const out = {};
  const parts = dayPartitions(fromMs, toMs).join(',');
  for (const t of TABLES) {
    const [rows, partsCount, bytes] = (
      await q(`SELECT sum(rows), count(), sum(bytes_on_disk) FROM system.parts WHERE database = 'stream_analytics' AND table = '${t}' AND active AND toUInt32(partition) IN (${parts})`)
    ).split('\t');
    out[t] = { rows: Number(rows), parts: Number(partsCount), mb: round(Number(bytes) / 1e6) };
  }
  const [windows, versions] = (await q(`SELECT uniqExact(window_start), count() FROM stream_analytics.iot_minute_results WHERE window_start >= toDateTime(${fromMs / 1000}) AND window_start < toDateTime(${toMs / 1000})`)).split('\t');
  out.rollupRowsPerWindow = round(Number(versions) / Math.max(1, Number(windows)));
  return out;
}

async function waitForMerges() {
  const started = Date.now();
  let running = 0;
  while (Date.now() - started < opts.mergeWaitS * 1000) {
    running = Number(await q(`SELECT count() FROM system.merges WHERE database = 'stream_analytics'`));
    if (running === 0) break;
    await sleep(2000);
  }
  return { waitedS: round((Date.now() - started) / 1000), mergesStillRunning: running };
}

async function dropDays(days) {
  for (const t of TABLES) for (const d of days) await clickhouseQuery(`ALTER TABLE stream_analytics.${t} DROP PARTITION ${d}`);
}

/** Free disk where the repository (and a local stack's data) lives; 18.16 has no system.disks. */
function diskFreeGb() {
  const s = statfsSync(repoRoot);
  return round((s.bavail * s.bsize) / 1e9);
}

// ---------------------------------------------------------------------------
// The run

const endMs = Math.floor(Date.now() / MINUTE) * MINUTE;
const maxDays = Math.max(...opts.days, ...(opts.loads.includes('highcard') ? opts.highcardDays : []));
offsetEpochMs = endMs - (maxDays + 1) * DAY;
// Live flushes go after the history, three minutes per size, so no two measurements share a window.
const FLUSH_MINUTES = 3;
const touchedDays = dayPartitions(endMs - maxDays * DAY, endMs + 40 * FLUSH_MINUTES * MINUTE);
const occupied = [];
for (const t of TABLES) {
  const n = Number(await q(`SELECT count() FROM stream_analytics.${t} WHERE toYYYYMMDD(window_start) IN (${touchedDays.join(',')})`));
  if (n > 0) occupied.push(`${t} (${n} rows)`);
}
if (occupied.length) usage(`the days ${touchedDays[0]}..${touchedDays[touchedDays.length - 1]} already hold rows in ${occupied.join(', ')}; run this benchmark on a stack of its own`);

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAverageAtStart: round(loadavg()[0]), freeMemGb: round(freemem() / 1e9), diskFreeGbAtStart: diskFreeGb(), serverVersion: await q('SELECT version()') };
log(`read path: loads ${opts.loads.join(', ')}; days ${opts.days.join(', ')} (highcard ${opts.highcardDays.join(', ')}); ${opts.samples} samples; history ends ${new Date(endMs).toISOString()}; ClickHouse ${machine.serverVersion} at ${clickhouseUrl}`);

const results = { startedAt: new Date().toISOString(), endMs, opts, machine, loads: {} };
let flushSlot = 0;
try {
  for (const name of opts.loads) {
    const model = modelOf(name);
    const sizes = name === 'highcard' ? opts.highcardDays : opts.days;
    const run = { model: { ...model.load, userRowsPerWindow: model.userRowsPerWindow, eventsPerPartitionMinute: model.eventsPerPartitionMinute }, sizes: [] };
    results.loads[name] = run;
    log(`${name}: ${model.userRowsPerWindow} user rows per window (${(model.userRowsPerWindow / model.load.partitions).toFixed(0)} per partition row)`);
    const flushAt = async () => liveFlushes(model, endMs + flushSlot++ * FLUSH_MINUTES * MINUTE, FLUSH_MINUTES);
    const baseline = await flushAt();
    run.sizes.push({ days: 0, flush: baseline, loadAverage: round(loadavg()[0]) });
    log(`${name}, no history: flush p50 ${baseline.ms.p50} ms, p95 ${baseline.ms.p95} ms`);
    let filledFrom = endMs;
    for (const days of sizes) {
      const fromMs = endMs - days * DAY;
      // The last day has the live shape; everything before it the history shape.
      const parts = [];
      if (filledFrom === endMs) {
        parts.push(await fill(model, endMs - DAY, endMs, LIVE_VERSIONS));
        filledFrom = endMs - DAY;
      }
      if (fromMs < filledFrom) parts.push(await fill(model, fromMs, filledFrom, HISTORY_VERSIONS));
      filledFrom = fromMs;
      const merges = await waitForMerges();
      const shapes = await tableShapes(fromMs, endMs);
      log(`${name}, ${days} d: filled (${parts.map((p) => `${p.windows} windows x ${p.versionsPerWindow} versions in ${p.seconds} s`).join(' + ')}); merges ${JSON.stringify(merges)}; ${JSON.stringify(shapes)}`);
      const loadBefore = round(loadavg()[0]);
      const panels = await timePanels(endMs);
      const flush = await flushAt();
      log(`${name}, ${days} d: flush p50 ${flush.ms.p50} ms, p95 ${flush.ms.p95} ms (no history: ${baseline.ms.p50} / ${baseline.ms.p95})`);
      run.sizes.push({ days, fill: parts, merges, shapes, panels, flush, loadAverage: loadBefore, diskFreeGb: diskFreeGb() });
      printPanels(name, days, panels);
    }
    if (!opts.keep) await dropDays(touchedDays);
  }
} finally {
  await client.close();
}

// ---------------------------------------------------------------------------
// Report

function printPanels(name, days, panels) {
  console.log(`\n${name} load, ${days} day(s) present: wall time per query over HTTP, ms (p50 / p95), points returned`);
  const keys = [...new Set(panels.map((r) => r.panel))];
  console.log(`| panel | ${RANGES.map(([l]) => l).join(' | ')} |`);
  console.log(`| --- | ${RANGES.map(() => '---:').join(' | ')} |`);
  for (const k of keys) {
    const cells = RANGES.map(([l]) => {
      const r = panels.find((x) => x.panel === k && x.range === l);
      return `${r.p50} / ${r.p95}${Number.isNaN(r.points) ? '' : ` (${r.points})`}`;
    });
    console.log(`| ${k} | ${cells.join(' | ')} |`);
  }
}

const met = (ok) => (ok ? 'met' : 'NOT met');
const verdicts = [];
for (const [name, run] of Object.entries(results.loads)) {
  const baseline = run.sizes[0].flush;
  for (const s of run.sizes.slice(1)) {
    const ratio = s.flush.ms.p50 / baseline.ms.p50;
    console.log(`${name}, ${s.days} d present: flush p50 ${s.flush.ms.p50} ms / ${baseline.ms.p50} ms with none = ratio ${ratio.toFixed(2)} (p95 ${s.flush.ms.p95} / ${baseline.ms.p95})`);
    s.flushRatioP50 = Number(ratio.toFixed(2));
    if (name === 'highcard') {
      const r = s.panels.find((x) => x.panel === 'unique_users' && x.range === '24h');
      verdicts.push([`highcard, ${s.days} d present: unique_users over 24 h p95 ${r.p95} ms <= ${HIGHCARD_USERS_TARGET_MS} ms`, r.p95 <= HIGHCARD_USERS_TARGET_MS]);
      continue;
    }
    for (const [range, target] of Object.entries(TARGET_MS)) {
      if (Number(range.replace('d', '')) > s.days) continue;
      const slow = s.panels.filter((x) => x.range === range && PANELS.some((p) => p.key === x.panel) && x.p95 > target);
      const worst = s.panels.filter((x) => x.range === range && PANELS.some((p) => p.key === x.panel)).sort((a, b) => b.p95 - a.p95)[0];
      verdicts.push([`${name}, ${s.days} d present: every panel over ${range} p95 <= ${target} ms (slowest ${worst.panel} ${worst.p95} ms${slow.length ? `; over: ${slow.map((x) => x.panel).join(', ')}` : ''})`, slow.length === 0]);
    }
  }
}
results.machine.loadAverageAtEnd = round(loadavg()[0]);
for (const [text, ok] of verdicts) console.log(`${text}: ${met(ok)}`);
console.log(`load average: ${results.machine.loadAverageAtStart} at start, ${results.machine.loadAverageAtEnd} at end; ${results.machine.cpus} CPUs (${results.machine.cpuModel}); ClickHouse ${results.machine.serverVersion}`);
results.verdicts = verdicts.map(([text, ok]) => ({ text, met: ok }));
writeResult('read-path', results);
