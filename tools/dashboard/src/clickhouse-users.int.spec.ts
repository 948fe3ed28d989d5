/**
 * clickhouse/users.d/stream-analytics.xml on a real server (a private
 * clickhouse-server started here with that file in its users.d): the real
 * aggregator applies the schema and writes as `aggregator`; the dashboard's
 * queries run as `grafana`, which can read but not write, create, drop or
 * change settings.
 */
import { createClickHouseClient } from '@stream-analytics/clickhouse-sink';
import path from 'node:path';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { computeScenarioOracle, createScenario, produceRecords, waitForTotals } from '../../../apps/aggregator/src/testing/scenario';
import { expandMacros } from './lib/macros';
import { PANELS } from './lib/panels';
import { clickhouseExec, clickhouseQuery, type HttpTarget } from './testing/clickhouse-http';
import { clickhouseServerBinary, startAggregator, stopAggregator } from '@stream-analytics/testing';
import { startPrivateClickHouse, type PrivateClickHouse } from './testing/clickhouse-server';

jest.setTimeout(180_000);

const root = path.resolve(__dirname, '../../..');
const PASSWORDS = { aggregator: 'writer-secret-1', grafana: 'reader-secret-2' };
const binary = clickhouseServerBinary();

if (!binary) {
  // eslint-disable-next-line no-console
  console.warn('clickhouse-users.int.spec: no clickhouse-server binary on this machine; the users.d checks are skipped');
}

(binary ? describe : describe.skip)('ClickHouse users (clickhouse/users.d/stream-analytics.xml)', () => {
  let server: PrivateClickHouse;
  let grafana: HttpTarget;
  let aggregatorUser: HttpTarget;
  let range: { fromMs: number; toMs: number };

  beforeAll(async () => {
    server = await startPrivateClickHouse({
      usersD: [path.join(root, 'clickhouse/users.d/stream-analytics.xml')],
      env: { CLICKHOUSE_AGGREGATOR_PASSWORD: PASSWORDS.aggregator, CLICKHOUSE_GRAFANA_PASSWORD: PASSWORDS.grafana },
    });
    grafana = { url: server.url, user: 'grafana', password: PASSWORDS.grafana };
    aggregatorUser = { url: server.url, user: 'aggregator', password: PASSWORDS.aggregator };

    // The real aggregator, writing as `aggregator` (it applies the migrations too).
    const base = await createScenario(2);
    await base.clickhouse.close();
    const s = { ...base, clickhouseUrl: server.url, clickhouse: createClickHouseClient({ url: server.url, username: 'grafana', password: PASSWORDS.grafana }) };
    await produceRecords(s, { seed: 7, devices: 50, users: 20, count: 6000, ratePerSec: 50, faults: { invalidFraction: 0.02, lateFraction: 0.02 } });
    const oracle = await computeScenarioOracle(s);
    const aggregator = await startAggregator(s, { CLICKHOUSE_URL: server.url, CLICKHOUSE_USER: 'aggregator', CLICKHOUSE_PASSWORD: PASSWORDS.aggregator });
    try {
      await aggregator.run.waitForOutput(/ClickHouse schema up to date/, 60_000);
      // Read back through the grafana user: the reader contract works for it.
      await waitForTotals(s, oracle, 120_000);
    } finally {
      await stopAggregator(aggregator);
      await s.clickhouse.close();
    }
    const starts = oracle.windows.map((w) => w.windowStartMs);
    range = { fromMs: Math.min(...starts), toMs: Math.max(...starts) + 59_000 };
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
  });

  const failure = async (target: HttpTarget, sql: string, params: Record<string, string> = {}) => {
    try {
      await clickhouseExec(target, sql, params);
      return 'succeeded';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('grafana runs every dashboard query', async () => {
    for (const p of PANELS) {
      const r = await clickhouseQuery(grafana, expandMacros(p.sql, range));
      expect({ panel: p.key, columns: r.columns, nonEmpty: r.rows.length > 0 }).toEqual({ panel: p.key, columns: p.columns, nonEmpty: true });
    }
  });

  it('grafana cannot insert, create, drop, alter or change settings', async () => {
    expect(await failure(grafana, "INSERT INTO stream_analytics.dead_letters (source_topic, reason) VALUES ('x', 'y')")).toMatch(/Code: 164.*readonly/i);
    expect(await failure(grafana, 'CREATE TABLE stream_analytics.evil (x UInt8) ENGINE = Memory')).toMatch(/Code: 164.*readonly/i);
    expect(await failure(grafana, 'DROP TABLE stream_analytics.dead_letters')).toMatch(/Code: 164.*readonly/i);
    expect(await failure(grafana, 'TRUNCATE TABLE stream_analytics.dead_letters')).toMatch(/Code: 164.*readonly/i);
    expect(await failure(grafana, 'SELECT 1 SETTINGS readonly = 0')).toMatch(/Code: 164/);
    expect(await failure(grafana, 'SELECT 1', { max_memory_usage: '100000000000' })).toMatch(/Code: 164/);
    // The same value as the profile is fine (the dashboard queries pass it).
    expect(await failure(grafana, 'SELECT 1 SETTINGS enable_optimize_predicate_expression = 1')).toBe('succeeded');
  });

  it('each user only sees the stream_analytics database, and passwords are checked', async () => {
    await clickhouseExec({ url: server.url }, 'CREATE TABLE default.private (x UInt8) ENGINE = Memory');
    expect(await failure(grafana, 'SELECT * FROM default.private')).toMatch(/Code: 291/);
    expect(await failure(aggregatorUser, 'SELECT * FROM default.private')).toMatch(/Code: 291/);
    expect(await failure({ ...grafana, password: 'wrong' }, 'SELECT 1')).toMatch(/Code: (193|516)/);
    expect(await failure({ ...aggregatorUser, password: '' }, 'SELECT 1')).toMatch(/Code: (193|194|516)/);
  });

  it('the aggregator user wrote the rows the dashboard reads', async () => {
    const r = await clickhouseQuery(aggregatorUser, 'SELECT count() FROM stream_analytics.iot_window_agg_state');
    expect(Number(r.rows[0][0])).toBeGreaterThan(0);
    const migrations = await clickhouseQuery(grafana, 'SELECT count() FROM stream_analytics.schema_migrations');
    expect(Number(migrations.rows[0][0])).toBeGreaterThanOrEqual(6);
  });
});
