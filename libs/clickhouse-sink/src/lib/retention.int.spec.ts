/**
 * applyRetention against the real server of the test harness (18.16 on the
 * development machines, which has no TTL: whole-day partitions are dropped),
 * in a scratch database dropped afterwards.
 */
import { getTestEndpoints } from '@stream-analytics/testing';
import { randomBytes } from 'node:crypto';
import { applyRetention, supportsTableTtl } from './apply-retention';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import { findMigrationsDir, loadMigrationFiles } from './migrations';
import { forDatabase } from '../testing/history';
import { DAY_MS } from './retention';
import { TABLES } from './schema';
import { countsOf, countsPerDaySql, dayId, insertRowsSql, retentionScenario, retentionTableStatements, scenarioInstants, TEST_POLICY, type ScenarioTable } from '../testing/retention';

jest.setTimeout(120_000);

const db = `sink_retention_${randomBytes(4).toString('hex')}`;
let client: ClickHouseSinkClient;

beforeAll(async () => {
  client = createClickHouseClient({ url: (await getTestEndpoints()).clickhouseUrl, username: process.env['CLICKHOUSE_USER'], password: process.env['CLICKHOUSE_PASSWORD'] });
  await client.command(`CREATE DATABASE IF NOT EXISTS ${db}`);
  const files = await loadMigrationFiles(findMigrationsDir(__dirname));
  for (const s of retentionTableStatements(files, db)) await client.command(s);
  // A legacy table (no longer written, not under retention) beside them.
  const legacy = files.flatMap((f) => f.statements).find((s) => s.includes(`CREATE TABLE IF NOT EXISTS ${TABLES.deadLetterEvents}`));
  if (!legacy) throw new Error(`no CREATE TABLE of ${TABLES.deadLetterEvents} in clickhouse/init`);
  await client.command(forDatabase(legacy, db));
});
afterAll(async () => {
  await client?.command(`DROP DATABASE IF EXISTS ${db}`);
  await client?.close();
});

async function countsPerDay(tables: readonly ScenarioTable[]): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const t of tables) out[t.table] = countsOf(await client.queryRows<{ day: string; n: string }>(countsPerDaySql(t.physical)));
  return out;
}

const without = (counts: Record<string, Record<string, number>>, gone: (table: string, day: string) => boolean) =>
  Object.fromEntries(Object.entries(counts).map(([table, days]) => [table, Object.fromEntries(Object.entries(days).filter(([day]) => !gone(table, day)))]));

describe('applyRetention on the real server', () => {
  it('drops exactly the days that ended at or before now - retention, per class, touches nothing inside, and a second run does nothing; the legacy table is left alone', async () => {
    // Midnight: each class's cutoff is a day boundary, so one day of each table ends exactly at it.
    const now = Date.UTC(1990, 5, 15);
    const scenario = retentionScenario(now, db);
    for (const t of scenario) await client.command(insertRowsSql(t, scenarioInstants(t)));
    const legacy = `${db}.dead_letter_events`;
    await client.command(`INSERT INTO ${legacy} (window_start, source_offset) VALUES ('1980-01-02 00:00:00', 1), ('1980-02-03 00:00:00', 2)`);
    const before = await countsPerDay(scenario);
    for (const t of scenario) expect(Object.keys(before[t.table])).toEqual(t.dayStarts.map(dayId));
    const version = await client.serverVersion();

    // One second before, the day ending exactly at the cutoff is one second inside: only the older day goes.
    const early = await applyRetention(client, TEST_POLICY, now - 1000, { database: db });
    const earlyGone = scenario.map((t) => ({ table: t.table, day: t.expiredDayStarts[0] })).sort((a, b) => a.table.localeCompare(b.table));
    expect(early.dropped.map((d) => [d.table, d.partitionId, d.rows])).toEqual(earlyGone.map((g) => [g.table, dayId(g.day), 3]));
    expect(early.ttlSupported).toBe(supportsTableTtl(version));
    const afterEarly = await countsPerDay(scenario);
    expect(afterEarly).toEqual(without(before, (table, day) => earlyGone.some((g) => g.table === table && dayId(g.day) === day)));

    // At the cutoff itself that day goes too; everything inside the retention stays, row for row.
    const run = await applyRetention(client, TEST_POLICY, now, { database: db });
    expect(run.dropped.map((d) => [d.table, d.partitionId])).toEqual(
      scenario.map((t) => [t.table, dayId(t.expiredDayStarts[1])]).sort((a, b) => a[0].localeCompare(b[0])),
    );
    for (const t of scenario) expect(t.expiredDayStarts[1] + DAY_MS).toBe(now - t.days * DAY_MS);
    const after = await countsPerDay(scenario);
    const expired = (table: string, day: string) => scenario.some((t) => t.table === table && t.expiredDayStarts.map(dayId).includes(day));
    expect(after).toEqual(without(before, expired));
    for (const t of scenario) {
      expect(Object.keys(after[t.table])).toEqual(t.dayStarts.filter((d) => !t.expiredDayStarts.includes(d)).map(dayId));
      expect(Object.values(after[t.table]).every((n) => n === 3)).toBe(true);
    }
    const partitions = await client.queryRows<{ table: string; p: string }>(
      `SELECT table, partition_id AS p FROM system.parts WHERE active AND database = '${db}' AND table != 'dead_letter_events' GROUP BY table, p ORDER BY table, p`,
    );
    expect(partitions.length).toBe(scenario.reduce((n, t) => n + t.dayStarts.length - t.expiredDayStarts.length, 0));

    const again = await applyRetention(client, TEST_POLICY, now, { database: db });
    expect(again.dropped).toEqual([]);
    expect(again.ttlSet).toEqual([]);
    expect(await countsPerDay(scenario)).toEqual(after);
    expect(countsOf(await client.queryRows<{ day: string; n: string }>(countsPerDaySql(legacy)))).toEqual({ '19800102': 1, '19800203': 1 });
  });
});
