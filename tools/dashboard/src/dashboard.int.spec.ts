/**
 * Every dashboard panel query, with its Grafana macros expanded for a real
 * time range, against the real ClickHouse holding real aggregator output: a
 * seeded dataset (with out-of-order, late and malformed events) goes through
 * Kafka and the built aggregator (dist/apps/aggregator/main.js), and each
 * panel must return its columns, rows, and the values the brute-force oracle
 * expects, over two ranges: the counted windows only (Grafana's interval is
 * the 1-minute minimum, one point per window) and everything the scenario
 * wrote (three days: buckets of several minutes). The same rows are then
 * copied into current ClickHouse (chdb, 26.x) and every query must give the
 * same answers there.
 */
import { applyMigrations, ensureDeviceHealthView, findMigrationsDir, rollupDeviceHours, sessionMigrationTarget } from '@stream-analytics/clickhouse-sink';
import type { OracleDeviceWindow, OracleResult, OracleWindow } from '@stream-analytics/testing';
import { SKETCH_RELATIVE_ACCURACY } from '@stream-analytics/windowing';
import { Session } from 'chdb';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAggregator, stopAggregator } from '@stream-analytics/testing';
// The aggregator's own test scenario (topics, seeded data): imported by path on purpose.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { computeScenarioOracle, createScenario, produceRecords, waitForTotals, type Scenario } from '../../../apps/aggregator/src/testing/scenario';
import { DEVICE_PANELS, expandDevicePanelSql } from './lib/device-panels';
import { grafanaIntervalMs } from './lib/macros';
import { expandPanelSql, MAX_DATA_POINTS, PANELS, type PanelDef } from './lib/panels';
import { clickhouseExec, clickhouseQuery, httpTarget, type HttpTarget, type QueryResult } from './testing/clickhouse-http';

jest.setTimeout(240_000);

const MINUTE = 60_000;

// 100 simulated events/s for 5 minutes: five windows per partition, 1 %
// malformed payloads, 1 % late events (2-5 min old, counted), 5 % out of
// order, a device whose clock is years ahead and events three days late.
const DATASET = {
  seed: 20261125,
  devices: 200,
  users: 80,
  count: 30_000,
  ratePerSec: 100,
  faults: { invalidFraction: 0.01, outOfOrderFraction: 0.05, lateFraction: 0.01 },
  eventTime: { futureClockDevice: 'dev-000003', daysLateFraction: 0.002 },
};

let scenario: Scenario;
let oracle: OracleResult;
let target: HttpTarget;
type Range = { fromMs: number; toMs: number };
/** Everything the scenario wrote, late dead letters three days back included. */
let range: Range;
/** The counted windows only: one point per window. */
let minuteRange: Range;
const results = new Map<string, QueryResult>();
const minuteResults = new Map<string, QueryResult>();
/** The devices dashboard for the device with the most events. */
let device: string;
let deviceMinutes: OracleDeviceWindow[];
const deviceResults = new Map<string, QueryResult>();
const deviceMinuteResults = new Map<string, QueryResult>();

const num = (v: unknown) => Number(v);
const byKey = (key: string): PanelDef => PANELS.find((p) => p.key === key)!;
const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

beforeAll(async () => {
  scenario = await createScenario(4);
  target = httpTarget(scenario.clickhouseUrl);
  const produced = await produceRecords(scenario, DATASET);
  expect(produced).toBe(DATASET.count);
  oracle = await computeScenarioOracle(scenario);
  const started = Date.now();
  const aggregator = await startAggregator(scenario);
  try {
    await waitForTotals(scenario, oracle);
  } finally {
    // A graceful stop flushes every window and dead letter and commits.
    await stopAggregator(aggregator);
  }
  // The device rollup over everything the run refreshed (stamped by the aggregator's clock, after `started`), as its job runs it: the top-device tables read it.
  for (let since = started, deferred = 1; deferred > 0; ) ({ nextSinceMs: since, deferred } = await rollupDeviceHours(scenario.clickhouse, since, Date.now()));
  await scenario.clickhouse.close();
  const starts = [...oracle.windows.map((w) => w.windowStartMs), ...oracle.deadLetterCounts.map((c) => c.windowStartMs)];
  // A dashboard time range covering the scenario, as Grafana would send it (ms precision).
  range = { fromMs: Math.min(...starts) - 1234, toMs: Math.max(...starts) + MINUTE - 1 };
  const counted = oracle.windows.map((w) => w.windowStartMs);
  minuteRange = { fromMs: Math.min(...counted) - 1234, toMs: Math.max(...counted) + MINUTE - 1 };
  for (const p of PANELS) {
    results.set(p.key, await clickhouseQuery(target, expandPanelSql(p, range)));
    minuteResults.set(p.key, await clickhouseQuery(target, expandPanelSql(p, minuteRange)));
  }
  const eventsOf = (id: string) => oracle.devices.filter((d) => d.deviceId === id).reduce((n, d) => n + d.totalEvents, 0);
  device = [...new Set(oracle.devices.map((d) => d.deviceId))].sort((a, b) => eventsOf(b) - eventsOf(a) || (a < b ? -1 : 1))[0];
  deviceMinutes = oracle.devices.filter((d) => d.deviceId === device);
  for (const p of DEVICE_PANELS) {
    deviceResults.set(p.key, await clickhouseQuery(target, expandDevicePanelSql(p, range, device)));
    deviceMinuteResults.set(p.key, await clickhouseQuery(target, expandDevicePanelSql(p, minuteRange, device)));
  }
}, 240_000);

/** The panels' bucket rule, written out: bucket start, and the windows of the range in it. */
function bucketing(r: Range) {
  const intervalS = grafanaIntervalMs(r, MAX_DATA_POINTS, '1m') / 1000;
  const firstWindowS = Math.ceil(r.fromMs / 1000 / 60) * 60;
  const lastWindowS = Math.floor(r.toMs / 1000 / 60) * 60;
  const bucketS = (ms: number) => Math.floor(ms / 1000 / intervalS) * intervalS;
  const minutes = (startS: number) => (Math.min(startS + intervalS, lastWindowS + 60) - Math.max(startS, firstWindowS)) / 60;
  return { intervalS, bucketS, minutes };
}

/** Rows of the oracle windows grouped into the range's buckets, in time order. */
function bucketed<I extends { windowStartMs: number }, T>(r: Range, items: readonly I[], reduce: (group: I[], minutes: number) => T): Array<[string, T]> {
  const { bucketS, minutes } = bucketing(r);
  const groups = new Map<number, I[]>();
  for (const it of items) groups.set(bucketS(it.windowStartMs), [...(groups.get(bucketS(it.windowStartMs)) ?? []), it]);
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([s, g]) => [ts(s * 1000), reduce(g, minutes(s))]);
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

describe('dashboard panels on real aggregator output', () => {
  it('the dataset has what every panel needs to show', () => {
    expect(oracle.windows.length).toBeGreaterThanOrEqual(5);
    expect(oracle.windows.some((w) => w.anomalyEvents > 0)).toBe(true);
    expect(oracle.deadLetterCounts.some((c) => c.lateEvents > 0)).toBe(true);
    expect(oracle.deadLetterCounts.some((c) => c.futureEvents > 0)).toBe(true);
    expect(oracle.deadLetterCounts.some((c) => c.invalidEvents > 0)).toBe(true);
    expect(oracle.windows.some((w) => w.lateEvents > 0)).toBe(true);
  });

  it.each(PANELS.map((p) => [p.key, p] as const))('%s returns its columns and rows', (_key, panel) => {
    const r = results.get(panel.key)!;
    expect(r.columns).toEqual(panel.columns);
    expect(r.rows.length).toBeGreaterThan(0);
    if (panel.queryType === 'timeseries') expect(r.types[0]).toMatch(/^DateTime/);
  });

  it('over the counted windows every series has one point per window, equal to the oracle', () => {
    expect(bucketing(minuteRange).intervalS).toBe(60);
    const expected = oracle.windows.map((w) => [ts(w.windowStartMs), w.totalEvents, w.uniqueUsers, w.anomalyEvents, w.avgMetric]);
    const col = (key: string) => minuteResults.get(key)!.rows;
    expect(col('events_per_minute').map((r) => [r[0], num(r[1])])).toEqual(expected.map((e) => [e[0], e[1]]));
    expect(col('unique_users').map((r) => [r[0], num(r[1])])).toEqual(expected.map((e) => [e[0], e[2]]));
    expect(col('anomaly_events').map((r) => [r[0], num(r[1])])).toEqual(expected.map((e) => [e[0], e[3]]));
    const avg = col('average_metric');
    expect(avg.map((r) => r[0])).toEqual(expected.map((e) => e[0]));
    avg.forEach((r, i) => expect(close(num(r[1]), expected[i][4] as number)).toBe(true));
  });

  it('over three days the series are buckets of the interval: average events and anomalies per minute, weighted metric, peak users', () => {
    const { intervalS } = bucketing(range);
    expect(intervalS).toBeGreaterThan(60);
    expect(intervalS % 60).toBe(0);
    for (const p of PANELS.filter((q) => q.queryType === 'timeseries')) {
      expect(results.get(p.key)!.rows.length).toBeLessThanOrEqual(Math.ceil((range.toMs - range.fromMs) / 1000 / intervalS) + 1);
    }
    const col = (key: string) => results.get(key)!.rows.map((r) => [r[0], num(r[1])] as [string, number]);
    const sumOf = (g: OracleWindow[], f: 'totalEvents' | 'anomalyEvents' | 'metricSum') => g.reduce((a, w) => a + w[f], 0);
    const events = bucketed(range, oracle.windows, (g, minutes) => sumOf(g, 'totalEvents') / minutes);
    const anomalies = bucketed(range, oracle.windows, (g, minutes) => sumOf(g, 'anomalyEvents') / minutes);
    const users = bucketed(range, oracle.windows, (g) => Math.max(...g.map((w) => w.uniqueUsers)));
    const metric = bucketed(range, oracle.windows, (g) => sumOf(g, 'metricSum') / sumOf(g, 'totalEvents'));
    expect(events.length).toBeLessThan(oracle.windows.length);
    for (const [key, want] of [
      ['events_per_minute', events],
      ['anomaly_events', anomalies],
      ['unique_users', users],
      ['average_metric', metric],
    ] as const) {
      const got = col(key);
      expect({ key, times: got.map((r) => r[0]) }).toEqual({ key, times: want.map((r) => r[0]) });
      got.forEach((r, i) => expect({ key, t: r[0], close: close(r[1], want[i][1]) }).toEqual({ key, t: r[0], close: true }));
    }
  });

  it.each([
    ['the counted windows', () => [minuteRange, minuteResults] as const],
    ['three days', () => [range, results] as const],
  ])('late (counted), too-late, future and invalid events per minute equal the oracle over %s', (_name, which) => {
    const [r, res] = which();
    type Counts = { invalid: number; tooLate: number; future: number; countedLate: number };
    const perMinute: Array<{ windowStartMs: number } & Counts> = [];
    for (const c of oracle.deadLetterCounts) perMinute.push({ windowStartMs: c.windowStartMs, invalid: c.invalidEvents, tooLate: c.lateEvents, future: c.futureEvents, countedLate: 0 });
    for (const w of oracle.windows) if (w.lateEvents > 0) perMinute.push({ windowStartMs: w.windowStartMs, invalid: 0, tooLate: 0, future: 0, countedLate: w.lateEvents });
    const inRange = perMinute.filter((m) => m.windowStartMs >= r.fromMs && m.windowStartMs <= r.toMs);
    const expected = bucketed(r, inRange, (g, minutes) => {
      const total = (f: keyof Counts) => g.reduce((a, m) => a + m[f], 0) / minutes;
      return [total('invalid'), total('tooLate'), total('future'), total('countedLate')];
    });
    const rows = res.get('late_and_invalid_events')!.rows.filter((row) => row.slice(1).some((v) => num(v) > 0));
    expect(rows.map((row) => row[0])).toEqual(expected.map((e) => e[0]));
    rows.forEach((row, i) => row.slice(1).forEach((v, j) => expect({ t: row[0], j, close: close(num(v), expected[i][1][j]) }).toEqual({ t: row[0], j, close: true })));
    expect(expected.some((e) => e[1][3] > 0)).toBe(true);
  });

  it('the current minute is the newest window, and it is final after a full run', () => {
    const newest = oracle.windows[oracle.windows.length - 1];
    const [row] = results.get('current_minute')!.rows;
    const r = Object.fromEntries(byKey('current_minute').columns.map((c, i) => [c, row[i]]));
    expect(r['window_start']).toBe(ts(newest.windowStartMs));
    expect(num(r['total_events'])).toBe(newest.totalEvents);
    expect(num(r['unique_users'])).toBe(newest.uniqueUsers);
    expect(num(r['anomaly_events'])).toBe(newest.anomalyEvents);
    expect(num(r['elapsed_s'])).toBe(60);
  });

  it('data freshness measures the newest window and the newest write against now', () => {
    const newest = oracle.windows[oracle.windows.length - 1];
    const [[windowAge, writeAge]] = results.get('data_freshness')!.rows;
    expect(Math.abs(num(windowAge) - (Date.now() - newest.windowStartMs) / 1000)).toBeLessThan(120);
    // The aggregator wrote moments ago, in this test.
    expect(num(writeAge)).toBeGreaterThanOrEqual(-5);
    expect(num(writeAge)).toBeLessThan(240);
  });

  it('an empty time range gives no rows (Grafana shows "No data"), not zeros', async () => {
    const empty = { fromMs: Date.UTC(1990, 0, 1), toMs: Date.UTC(1990, 0, 1, 0, 30) };
    for (const p of PANELS) expect((await clickhouseQuery(target, expandPanelSql(p, empty))).rows).toEqual([]);
  });

  it('every query reads only the table partitions of its time range (filters reach the tables on this server)', async () => {
    const from = Math.floor(range.fromMs / 1000);
    const to = Math.floor(range.toMs / 1000);
    const inRange = async (table: string, partitionExpr: string) =>
      num(
        (
          await clickhouseQuery(
            target,
            `SELECT count() FROM stream_analytics.${table} WHERE ${partitionExpr}(window_start) BETWEEN ${partitionExpr}(toDateTime(${from})) AND ${partitionExpr}(toDateTime(${to}))`,
          )
        ).rows[0][0],
      );
    const aggRows = await inRange('iot_minute_results', 'toYYYYMMDD');
    const dlqRows = await inRange('iot_minute_dead_letter_rollup', 'toYYYYMMDD');
    for (const p of PANELS) {
      const limit = p.key === 'late_and_invalid_events' ? dlqRows + aggRows : aggRows;
      expect({ panel: p.key, rowsRead: results.get(p.key)!.rowsRead <= limit ? 'within range partitions' : results.get(p.key)!.rowsRead }).toEqual({
        panel: p.key,
        rowsRead: 'within range partitions',
      });
    }
  });

  it.each(DEVICE_PANELS.map((p) => [p.key, p] as const))('devices dashboard: %s returns its columns and rows', (_key, panel) => {
    const r = deviceResults.get(panel.key)!;
    expect(r.columns).toEqual(panel.columns);
    // Silent devices are about now; the scenario's devices sent years ago, beyond the retention.
    if (panel.key !== 'silent_devices') expect(r.rows.length).toBeGreaterThan(0);
    if (panel.queryType === 'timeseries') expect(r.types[0]).toMatch(/^DateTime/);
  });

  it("devices dashboard over the counted windows: the device's temperature band, statuses, percentiles and completeness equal the oracle", () => {
    const rows = (key: string) => deviceMinuteResults.get(key)!.rows;
    const minutes = deviceMinutes.filter((d) => d.windowStartMs >= minuteRange.fromMs);
    expect(rows('device_temperature').map((r) => [r[0], num(r[2]), num(r[3])])).toEqual(minutes.map((d) => [ts(d.windowStartMs), d.minTemperature, d.maxTemperature]));
    rows('device_temperature').forEach((r, i) => expect(close(num(r[1]), minutes[i].avgTemperature)).toBe(true));
    expect(rows('device_status').map((r) => [r[0], ...r.slice(1).map(num)])).toEqual(minutes.map((d) => [ts(d.windowStartMs), d.statusOk, d.statusWarning, d.statusError, d.statusOffline]));
    const within = (got: unknown, want: number) => Math.abs(num(got) - want) <= SKETCH_RELATIVE_ACCURACY * Math.abs(want) + 1e-9;
    rows('device_metric').forEach((r, i) => expect([r[0], within(r[2], minutes[i].p50Metric), within(r[3], minutes[i].p95Metric), within(r[4], minutes[i].p99Metric)]).toEqual([ts(minutes[i].windowStartMs), true, true, true]));
    const fleet = oracle.windows;
    expect(minuteResults.size).toBeGreaterThan(0);
    expect(deviceMinuteResults.get('fleet_status')!.rows.map((r) => [r[0], ...r.slice(1).map(num)])).toEqual(fleet.map((w) => [ts(w.windowStartMs), w.statusOk, w.statusWarning, w.statusError, w.statusOffline]));
    expect(deviceMinuteResults.get('fleet_temperature')!.rows.map((r) => [r[0], num(r[2]), num(r[3])])).toEqual(fleet.map((w) => [ts(w.windowStartMs), w.minTemperature, w.maxTemperature]));
    deviceMinuteResults.get('fleet_metric_percentiles')!.rows.forEach((r, i) => expect([within(r[1], fleet[i].p50Metric), within(r[2], fleet[i].p95Metric), within(r[3], fleet[i].p99Metric)]).toEqual([true, true, true]));
    const [completeness] = deviceResults.get('device_completeness')!.rows;
    expect([num(completeness[0]), num(completeness[1])]).toEqual([deviceMinutes.reduce((n, d) => n + d.totalEvents, 0), deviceMinutes.reduce((n, d) => n + d.lateEvents, 0)]);
    const [top] = deviceResults.get('top_anomalies')!.rows;
    const anomaliesOf = (id: string) => oracle.devices.filter((d) => d.deviceId === id).reduce((n, d) => n + d.anomalyEvents, 0);
    expect(num(top[1])).toBe(Math.max(...[...new Set(oracle.devices.map((d) => d.deviceId))].map(anomaliesOf)));
  });

  it('current ClickHouse (chdb 26.x) gives the same answers on the same rows', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-chdb-'));
    const session = new Session(dir);
    try {
      await applyMigrations(sessionMigrationTarget(session), findMigrationsDir(__dirname));
      const from = Math.floor(range.fromMs / 1000) - 3600;
      const to = Math.floor(range.toMs / 1000) + 3600;
      await ensureDeviceHealthView(sessionMigrationTarget(session), { retentionDays: 30 });
      for (const table of ['iot_window_agg_state', 'iot_window_users', 'iot_minute_results', 'iot_device_partition_minute', 'iot_device_hour', 'dead_letters', 'iot_minute_dead_letter_rollup']) {
        const columns = (await clickhouseQuery(target, `SELECT * FROM stream_analytics.${table} LIMIT 0`)).columns;
        const tsv = await clickhouseExec(
          target,
          `SELECT * FROM stream_analytics.${table} WHERE window_start >= toDateTime(${from}) AND window_start <= toDateTime(${to}) FORMAT TabSeparated`,
        );
        expect(tsv.length).toBeGreaterThan(0);
        await session.insert({ table: `stream_analytics.${table}`, values: tsv, format: 'TabSeparated', columns });
      }
      const version = session.query('SELECT version()', 'TabSeparated').trim();
      expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(24);
      for (const [p, r, expected] of PANELS.flatMap((q) => [[q, range, results], [q, minuteRange, minuteResults]] as const)) {
        const json = JSON.parse(session.query(expandPanelSql(p, r), 'JSONCompact')) as { meta: Array<{ name: string }>; data: unknown[][] };
        expect(json.meta.map((m) => m.name)).toEqual(p.columns);
        // Sums of floats may differ in the last bits (summation order); now() moves.
        const value = (v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(12)) : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(Number(v).toPrecision(12)) : v);
        const normalise = (rows: unknown[][]) =>
          rows.map((r) => r.map((v, i) => (p.key === 'data_freshness' || p.columns[i] === 'elapsed_s' ? 'now-dependent' : value(v))));
        expect({ panel: p.key, rows: normalise(json.data) }).toEqual({ panel: p.key, rows: normalise(expected.get(p.key)!.rows) });
      }
      for (const [p, r, expected] of DEVICE_PANELS.flatMap((q) => [[q, range, deviceResults], [q, minuteRange, deviceMinuteResults]] as const)) {
        const json = JSON.parse(session.query(expandDevicePanelSql(p, r, device), 'JSONCompact')) as { meta: Array<{ name: string }>; data: unknown[][] };
        expect(json.meta.map((m) => m.name)).toEqual(p.columns);
        // Silent devices are every device heard from within the retention of now: on the shared server that
        // includes other suites' devices, which the copy above does not carry. Its columns are checked.
        if (p.key === 'silent_devices') continue;
        const value = (v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(9)) : typeof v === 'string' && /^-?\d+(\.\d+)?(e-?\d+)?$/.test(v) ? Number(Number(v).toPrecision(9)) : v);
        expect({ panel: p.key, rows: json.data.map((row) => row.map(value)) }).toEqual({ panel: p.key, rows: expected.get(p.key)!.rows.map((row) => row.map(value)) });
      }
    } finally {
      session.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
