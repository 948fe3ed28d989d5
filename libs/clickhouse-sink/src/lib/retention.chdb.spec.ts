/**
 * applyRetention on current ClickHouse (26.x, embedded through chdb): the
 * same day drops as on 18.16 (retention.int.spec.ts), plus the table TTL.
 *
 * applyRetention takes its instant as an argument. The table TTL, though, is
 * applied by the engine's merges against the engine's own clock, and chdb runs
 * inside this process, so the TTL scenario is built around this process's
 * clock (`engineNowMs`), with a 12 h margin on either side of every cutoff: the
 * outcome does not depend on the hour or the day it runs (checked under
 * faketime at 00:30, 23:59:30 and a month's last second; see tools/run/test.sh).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'chdb';
import { applyRetention, type RetentionClient } from './apply-retention';
import { parseServerVersion } from './client';
import { findMigrationsDir, loadMigrationFiles } from './migrations';
import { DAY_MS, retentionTables, tableTtlOf, ttlExpression } from './retention';
import { countsOf, countsPerDaySql, dayId, insertRowsSql, retentionScenario, retentionTableStatements, scenarioInstants, TEST_POLICY, type ScenarioTable } from '../testing/retention';

jest.setTimeout(120_000);

const db = 'sink_retention';
/** Fresh tables for the TTL change, so that it sees nothing the first scenario left behind. */
const ttlChangeDb = 'sink_retention_ttl_change';
/** The clock the engine's TTL merges read: chdb runs in this process, on its wall clock. */
// eslint-disable-next-line no-restricted-syntax -- TTL has no clock option: the test must use the engine's
const engineNowMs = () => Date.now();
/** Distance of the TTL scenario's rows from each cutoff: whole-day errors in the TTL show, the hour does not matter. */
const TTL_MARGIN_MS = 12 * 3_600_000;
let dir: string;
let session: Session;

function rows<T = Record<string, unknown>>(sql: string): T[] {
  return session
    .query(sql, 'JSONEachRow')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** The embedded engine behind the client interface; request settings go into the statement's SETTINGS clause. */
const engine: RetentionClient = {
  queryRows: async <T>(sql: string) => rows<T>(sql),
  command: async (sql, options) => {
    const settings = Object.entries(options?.settings ?? {});
    session.query(settings.length ? `${sql} SETTINGS ${settings.map(([k, v]) => `${k} = ${v}`).join(', ')}` : sql);
  },
  serverVersion: async () => parseServerVersion(rows<{ v: string }>('SELECT version() AS v')[0].v),
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clickhouse-sink-retention-'));
  session = new Session(dir);
  const files = await loadMigrationFiles(findMigrationsDir(__dirname));
  for (const d of [db, ttlChangeDb]) {
    session.query(`CREATE DATABASE IF NOT EXISTS ${d}`);
    for (const s of retentionTableStatements(files, d)) session.query(s);
  }
});
afterAll(() => {
  session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const countsPerDay = (tables: readonly ScenarioTable[]) => Object.fromEntries(tables.map((t) => [t.table, countsOf(rows<{ day: string; n: number }>(countsPerDaySql(t.physical)))]));
const ttlOf = (table: string, database = db) =>
  tableTtlOf(rows<{ e: string }>(`SELECT engine_full AS e FROM system.tables WHERE database = '${database}' AND name = '${table.split('.')[1]}'`)[0].e);

describe('applyRetention on current ClickHouse (chdb)', () => {
  it('drops the expired days, keeps every row inside, sets the TTL once, and TTL then expires rows by the configured days', async () => {
    const now = Math.floor(engineNowMs() / 1000) * 1000; // DateTime holds whole seconds
    const scenario = retentionScenario(now, db);
    for (const t of scenario) session.query(insertRowsSql(t, scenarioInstants(t)));
    const before = countsPerDay(scenario);
    for (const t of scenario) expect(ttlOf(t.table)).toBeUndefined();

    const run = await applyRetention(engine, TEST_POLICY, now, { database: db });
    expect(run.ttlSupported).toBe(true);
    expect(run.dropped.map((d) => [d.table, d.day, d.rows])).toEqual(
      scenario
        .flatMap((t) => t.expiredDayStarts.map((d) => [t.table, new Date(d).toISOString().slice(0, 10), 3]))
        .sort((a, b) => (a[0] === b[0] ? String(a[1]).localeCompare(String(b[1])) : String(a[0]).localeCompare(String(b[0])))),
    );
    const after = countsPerDay(scenario);
    for (const t of scenario) {
      const kept = Object.fromEntries(Object.entries(before[t.table]).filter(([day]) => !t.expiredDayStarts.map(dayId).includes(day)));
      expect({ table: t.table, counts: after[t.table] }).toEqual({ table: t.table, counts: kept });
      expect(Object.keys(kept).length).toBe(t.dayStarts.length - 2);
    }
    // The TTL of each table is its class's days, read back from the server.
    expect(run.ttlSet).toEqual(retentionTables(TEST_POLICY).map((t) => ({ table: t.table, days: t.days })));
    for (const t of retentionTables(TEST_POLICY)) expect(ttlOf(t.table)).toBe(ttlExpression(t.days));
    const shown = rows<{ statement: string }>(`SHOW CREATE TABLE ${db}.iot_window_state`)[0].statement;
    expect(shown).toMatch(/TTL window_start \+ toIntervalDay\(5\)/);

    const again = await applyRetention(engine, TEST_POLICY, now, { database: db });
    expect(again).toMatchObject({ dropped: [], ttlSet: [] });
    expect(countsPerDay(scenario)).toEqual(after);

    // TTL by itself: fresh rows 12 h on either side of each cutoff; a forced merge removes
    // exactly the ones older than the table's days (a TTL a day too long or too short fails),
    // and none of the rows kept above that are inside the retention by more than the margin.
    const tagged = scenario.map((t) => ({ t, old: now - t.days * DAY_MS - TTL_MARGIN_MS, young: now - t.days * DAY_MS + TTL_MARGIN_MS }));
    for (const { t, old, young } of tagged) session.query(insertRowsSql(t, [old, young], 7));
    for (const t of scenario) session.query(`OPTIMIZE TABLE ${t.physical} FINAL`);
    for (const { t, old, young } of tagged) {
      const instants = rows<{ s: number }>(`SELECT toUInt32(window_start) AS s FROM ${t.physical} ORDER BY s`).map((r) => r.s * 1000);
      expect({ table: t.table, old: instants.includes(old), young: instants.includes(young) }).toEqual({ table: t.table, old: false, young: true });
      const kept = scenarioInstants(t).filter((ms) => ms > now - t.days * DAY_MS + TTL_MARGIN_MS && !t.expiredDayStarts.includes(Math.floor(ms / DAY_MS) * DAY_MS));
      expect(kept.filter((ms) => !instants.includes(ms))).toEqual([]);
    }
  });

  it('changes a TTL that differs from the policy, naming the previous one', async () => {
    // Tables of their own, without rows: only the TTL change is under test, at any instant.
    const now = Date.UTC(2026, 11, 6, 0, 30);
    const options = { database: ttlChangeDb };
    expect(await applyRetention(engine, TEST_POLICY, now, options)).toMatchObject({ dropped: [], ttlSet: retentionTables(TEST_POLICY).map((t) => ({ table: t.table, days: t.days })) });
    const longer = { aggregateDays: TEST_POLICY.aggregateDays + 2, deadLetterDays: TEST_POLICY.deadLetterDays };
    const run = await applyRetention(engine, longer, now + DAY_MS, options);
    expect(run.dropped).toEqual([]);
    expect(run.ttlSet).toEqual(
      retentionTables(longer)
        .filter((t) => t.cls === 'aggregate')
        .map((t) => ({ table: t.table, days: t.days, previous: ttlExpression(TEST_POLICY.aggregateDays) })),
    );
    for (const t of retentionTables(longer)) expect(ttlOf(t.table, ttlChangeDb)).toBe(ttlExpression(t.days));
  });
});
