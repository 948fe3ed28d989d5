/**
 * Every dashboard panel query, with its Grafana macros expanded for a real
 * time range, against the real ClickHouse holding real aggregator output: a
 * seeded dataset (with out-of-order, late and malformed events) goes through
 * Kafka and the built aggregator (dist/apps/aggregator/main.js), and each
 * panel must return its columns, rows, and the values the brute-force oracle
 * expects. The same rows are then copied into current ClickHouse (chdb, 26.x)
 * and every query must give the same answer there.
 */
import { applyMigrations, findMigrationsDir, sessionMigrationTarget } from '@stream-analytics/clickhouse-sink';
import type { OracleResult } from '@stream-analytics/testing';
import { Session } from 'chdb';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// The aggregator's own test scenario (topics, seeded data, aggregator runs): imported by path on purpose.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { computeScenarioOracle, createScenario, produceRecords, startAggregator, stopAggregator, waitForTotals, type Scenario } from '../../../apps/aggregator/src/testing/scenario';
import { expandMacros } from './lib/macros';
import { PANELS, type PanelDef } from './lib/panels';
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
let range: { fromMs: number; toMs: number };
const results = new Map<string, QueryResult>();

const num = (v: unknown) => Number(v);
const byKey = (key: string): PanelDef => PANELS.find((p) => p.key === key)!;
const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

beforeAll(async () => {
  scenario = await createScenario(4);
  target = httpTarget(scenario.clickhouseUrl);
  const produced = await produceRecords(scenario, DATASET);
  expect(produced).toBe(DATASET.count);
  oracle = await computeScenarioOracle(scenario);
  const aggregator = await startAggregator(scenario);
  try {
    await waitForTotals(scenario, oracle);
  } finally {
    // A graceful stop flushes every window and dead letter and commits.
    await stopAggregator(aggregator);
  }
  await scenario.clickhouse.close();
  const starts = [...oracle.windows.map((w) => w.windowStartMs), ...oracle.deadLetterCounts.map((c) => c.windowStartMs)];
  // A dashboard time range covering the scenario, as Grafana would send it (ms precision).
  range = { fromMs: Math.min(...starts) - 1234, toMs: Math.max(...starts) + MINUTE - 1 };
  for (const p of PANELS) results.set(p.key, await clickhouseQuery(target, expandMacros(p.sql, range)));
}, 240_000);

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

  it('events, users, anomalies and average metric per minute equal the oracle', () => {
    const expected = oracle.windows.map((w) => [ts(w.windowStartMs), w.totalEvents, w.uniqueUsers, w.anomalyEvents, w.avgMetric]);
    const col = (key: string) => results.get(key)!.rows;
    const events = col('events_per_minute');
    expect(events.map((r) => [r[0], num(r[1])])).toEqual(expected.map((e) => [e[0], e[1]]));
    expect(col('unique_users').map((r) => [r[0], num(r[1])])).toEqual(expected.map((e) => [e[0], e[2]]));
    expect(col('anomaly_events').map((r) => [r[0], num(r[1])])).toEqual(expected.map((e) => [e[0], e[3]]));
    const avg = col('average_metric');
    expect(avg.map((r) => r[0])).toEqual(expected.map((e) => e[0]));
    avg.forEach((r, i) => expect(Math.abs(num(r[1]) - (expected[i][4] as number))).toBeLessThan(1e-9 * Math.max(1, Math.abs(expected[i][4] as number))));
  });

  it('late (counted), too-late, future and invalid events per minute equal the oracle', () => {
    const rows = results.get('late_and_invalid_events')!.rows.map((r) => ({ t: r[0], invalid: num(r[1]), tooLate: num(r[2]), future: num(r[3]), countedLate: num(r[4]) }));
    const expected = new Map<string, { t: string; invalid: number; tooLate: number; future: number; countedLate: number }>();
    const at = (ms: number) => expected.get(ts(ms)) ?? expected.set(ts(ms), { t: ts(ms), invalid: 0, tooLate: 0, future: 0, countedLate: 0 }).get(ts(ms))!;
    for (const c of oracle.deadLetterCounts) Object.assign(at(c.windowStartMs), { invalid: c.invalidEvents, tooLate: c.lateEvents, future: c.futureEvents });
    for (const w of oracle.windows) if (w.lateEvents > 0) at(w.windowStartMs).countedLate = w.lateEvents;
    expect(rows.filter((r) => r.invalid + r.tooLate + r.future + r.countedLate > 0)).toEqual([...expected.values()].sort((a, b) => a.t.localeCompare(b.t)));
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
    for (const p of PANELS) expect((await clickhouseQuery(target, expandMacros(p.sql, empty))).rows).toEqual([]);
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
    const aggRows = await inRange('iot_window_state', 'toYYYYMMDD');
    const dlqRows = await inRange('dead_letter_events', 'toYYYYMM');
    for (const p of PANELS) {
      const limit = p.key === 'late_and_invalid_events' ? dlqRows + aggRows : aggRows;
      expect({ panel: p.key, rowsRead: results.get(p.key)!.rowsRead <= limit ? 'within range partitions' : results.get(p.key)!.rowsRead }).toEqual({
        panel: p.key,
        rowsRead: 'within range partitions',
      });
    }
  });

  it('current ClickHouse (chdb 26.x) gives the same answers on the same rows', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-chdb-'));
    const session = new Session(dir);
    try {
      await applyMigrations(sessionMigrationTarget(session), findMigrationsDir(__dirname));
      const from = Math.floor(range.fromMs / 1000) - 3600;
      const to = Math.floor(range.toMs / 1000) + 3600;
      for (const table of ['iot_window_state', 'dead_letter_events']) {
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
      for (const p of PANELS) {
        const json = JSON.parse(session.query(expandMacros(p.sql, range), 'JSONCompact')) as { meta: Array<{ name: string }>; data: unknown[][] };
        expect(json.meta.map((m) => m.name)).toEqual(p.columns);
        // Sums of floats may differ in the last bits (summation order); now() moves.
        const value = (v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(12)) : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(Number(v).toPrecision(12)) : v);
        const normalise = (rows: unknown[][]) =>
          rows.map((r) => r.map((v, i) => (p.key === 'data_freshness' || p.columns[i] === 'elapsed_s' ? 'now-dependent' : value(v))));
        expect({ panel: p.key, rows: normalise(json.data) }).toEqual({ panel: p.key, rows: normalise(results.get(p.key)!.rows) });
      }
    } finally {
      session.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
