/**
 * WindowRowWriter + the reader-contract views against the real server at
 * CLICKHOUSE_URL (18.16 on the development machines). Every test writes to its
 * own random window range far in the past, so runs never interfere and nothing
 * is deleted.
 */
import fc from 'fast-check';
import { randomInt } from 'node:crypto';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import {
  AWKWARD_USERS,
  busyDayScenario,
  busyDeadLetterDayScenario,
  deadLetterReplayScenario,
  deadLetterRollupRowsQuery,
  deadLetterRollupSnapshot,
  deadLetterTotals,
  deadLetterScenario,
  expectedWindowStates,
  finalityScenario,
  finiteDoubleArb,
  floatScenario,
  forDatabase,
  historyArb,
  insertRollupsInOrder,
  lateRevisionScenario,
  rollupTotals,
  rollupTotalsQuery,
  manyUsersScenario,
  materialise,
  newestStampedCounts,
  metricBits,
  readScenario,
  rollupOrderScenario,
  sortStates,
  stateRow,
  TRICKY_DOUBLES,
  wantedOf,
  windowsOf,
  writeDeadLetterFlush,
  writeFlush,
  type WantedStates,
} from '../testing/history';
import { deviceScenarioDifferences, silenceDifferences } from '../testing/device';
import { applyMigrations, findMigrationsDir, loadMigrationFiles } from './migrations';
import { expectedDeadLetterCounts, expectedMinuteAgg } from '../testing/oracle';
import {
  minuteDeadLetterRollupSelect,
  MINUTE_DEAD_LETTER_ROLLUP_COLUMNS,
  minuteRollupSelect,
  readDeadLetterCounts,
  readMinuteAgg,
  readMinuteAggWindows,
  readWindowStates,
  VIEW_READ_SETTINGS,
  windowStartList,
  type MinuteAggRow,
  type StoredWindowRow,
} from './readers';
import { toWindowPartitionRecord, toWindowStateChunks, type WindowPartitionRow, type WindowUsersRow } from './rows';
import { TABLES } from './schema';
import { WindowRowWriter } from './writer';

const CLICKHOUSE_URL = process.env['CLICKHOUSE_URL'];
if (!CLICKHOUSE_URL) {
  throw new Error(
    'CLICKHOUSE_URL is not set: the ClickHouse integration tests (*.int.spec.ts) need a real server, ' +
      'e.g. CLICKHOUSE_URL=http://127.0.0.1:8123 npx nx integration clickhouse-sink',
  );
}

jest.setTimeout(180_000);

const MINUTE = 60_000;
const DAY = 86_400_000;

/** A random whole day between 1980 and 2000; each test takes its own day. */
function randomDay(): number {
  return Date.UTC(1980, 0, 1) + randomInt(0, 20 * 365) * DAY;
}
const yyyymmdd = (ms: number): string => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
/** A raw topic of its own: state rows are keyed by topic, so runs never see each other's rows. */
const randomTopic = (what: string): string => `test.${what}.${randomInt(0, 2 ** 40).toString(36)}`;

let client: ClickHouseSinkClient;
let writer: WindowRowWriter;
/** The writer's clock (the stamp of each refresh): a fixed instant that ticks a second at every reading. */
let refreshClockMs = Date.UTC(2026, 0, 1);
const refreshClock = () => (refreshClockMs += 1000);

beforeAll(async () => {
  client = createClickHouseClient({
    url: CLICKHOUSE_URL,
    username: process.env['CLICKHOUSE_USER'],
    password: process.env['CLICKHOUSE_PASSWORD'],
  });
  await applyMigrations(client, findMigrationsDir(__dirname));
  writer = new WindowRowWriter(client, { maxAttempts: 5, now: refreshClock });
});
afterAll(async () => {
  await client?.close();
});

/** Merges one day's partition (every table the tests write is partitioned by day). */
async function optimizeDay(table: string, dayMs: number): Promise<void> {
  await client.command(`OPTIMIZE TABLE ${table} PARTITION ${yyyymmdd(dayMs)} FINAL`);
}

async function readStates(topic: string, wanted: WantedStates): Promise<StoredWindowRow[]> {
  return sortStates(await readWindowStates(client, topic, wanted));
}

/** rows_read of a SELECT (with the view read settings), from the JSON format's statistics. */
async function rowsRead(sql: string): Promise<number> {
  const rs = await client.raw.query({ query: sql, format: 'JSON', clickhouse_settings: VIEW_READ_SETTINGS });
  const body = (await rs.json()) as unknown as { statistics: { rows_read: number | string } };
  return Number(body.statistics.rows_read);
}

describe('window rows -> iot_minute_agg on the real server', () => {
  it('is exact without FINAL: older versions lose, duplicates are harmless, users merge across partitions', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const w1 = w0 + MINUTE;
    const topic = randomTopic('exact');
    const p0v20 = stateRow({ sourceTopic: topic, windowStartMs: w0, lastOffset: 20, totalEvents: 4, metricSum: 10, anomalyEvents: 1, updatedAtMs: w0 + 10_000 });
    const p0v10 = stateRow({ sourceTopic: topic, windowStartMs: w0, lastOffset: 10, totalEvents: 2, metricSum: 3, updatedAtMs: w0 + 5_000 });
    const p1v7 = stateRow({ sourceTopic: topic, windowStartMs: w0, sourcePartition: 1, lastOffset: 7, totalEvents: 3, metricSum: 2, anomalyEvents: 2, lateEvents: 1, isFinal: true, updatedAtMs: w0 + 70_000 });
    const w1p2 = stateRow({ sourceTopic: topic, windowStartMs: w1, sourcePartition: 2, lastOffset: 3, totalEvents: 1, metricSum: -1.5, updatedAtMs: w1 + 1_000 });
    const users: WindowUsersRow[][] = [
      [
        { windowStartMs: w0, userIds: ['a', 'b', 'c'] },
        { windowStartMs: w0, userIds: ['d', 'c'] },
      ],
      [{ windowStartMs: w0, userIds: ['a'] }],
      [
        { windowStartMs: w0, userIds: ['c', 'b', 'a'] },
        { windowStartMs: w0, userIds: ['c', 'd', 'c'] }, // the same users again, other order, duplicates
        { windowStartMs: w1, userIds: ['z'] },
      ],
    ];

    expect(await writer.writeWindowUsers(users[0])).toMatchObject({ rows: 5, attempts: 1 });
    expect(await writer.writeWindowRows([p0v20, p1v7])).toMatchObject({ rows: 2, attempts: 1 });
    expect(await writer.refreshMinuteRollup([w0, w0])).toMatchObject({ rows: 1, attempts: 1 });
    await writer.writeWindowUsers(users[1]);
    await writer.writeWindowRows([p0v10]); // an older snapshot arrives after the newer one
    await writer.refreshMinuteRollup([w0]);
    await writer.writeWindowUsers(users[2]);
    await writer.writeWindowRows([p0v20, p1v7, w1p2]); // duplicates, e.g. a retried batch
    await writer.refreshMinuteRollup([w0, w1]);
    await writer.writeWindowRows([p0v10]);
    await writer.refreshMinuteRollup([w0]);
    expect(await writer.writeWindowRows([])).toEqual({ rows: 0, attempts: 0, elapsedMs: 0 });
    expect(await writer.writeWindowUsers([])).toEqual({ rows: 0, attempts: 0, elapsedMs: 0 });
    expect(await writer.refreshMinuteRollup([])).toEqual({ rows: 0, attempts: 0, elapsedMs: 0 });

    const expected: MinuteAggRow[] = [
      { windowStartMs: w0, totalEvents: 7, avgMetric: 12 / 7, uniqueUsers: 4, anomalyEvents: 3, updatedAtMs: w0 + 70_000, metricSum: 12, sourcePartitions: 2, isFinal: false, lateEvents: 1 },
      { windowStartMs: w1, totalEvents: 1, avgMetric: -1.5, uniqueUsers: 1, anomalyEvents: 0, updatedAtMs: w1 + 1_000, metricSum: -1.5, sourcePartitions: 1, isFinal: false, lateEvents: 0 },
    ];
    expect(expectedMinuteAgg([p0v20, p1v7, p0v10, p0v20, p1v7, w1p2, p0v10], users.flat())).toEqual(expected);
    expect(await readMinuteAgg(client, w0, w1 + MINUTE)).toEqual(expected);
    expect(await readMinuteAgg(client, w0 + 1, w1 + 1)).toEqual([expected[1]]); // [from, to) on window starts
    expect(await readMinuteAggWindows(client, [w1, w0, w1 + MINUTE])).toEqual(expected);

    // the reader contract query itself, verbatim, without FINAL
    const contract = await client.queryRows<Record<string, unknown>>(
      `SELECT window_start, total_events, avg_metric, unique_users, anomaly_events, updated_at FROM stream_analytics.iot_minute_agg
       WHERE window_start >= toDateTime(${w0 / 1000}) AND window_start < toDateTime(${(w1 + MINUTE) / 1000}) ORDER BY window_start`,
    );
    expect(contract.map((r) => ({ ...r, total_events: Number(r['total_events']), unique_users: Number(r['unique_users']), anomaly_events: Number(r['anomaly_events']) }))).toEqual([
      { window_start: fmt(w0), total_events: 7, avg_metric: 12 / 7, unique_users: 4, anomaly_events: 3, updated_at: fmt(w0 + 70_000) },
      { window_start: fmt(w1), total_events: 1, avg_metric: -1.5, unique_users: 1, anomaly_events: 0, updated_at: fmt(w1 + 1_000) },
    ]);

    for (const t of [TABLES.windowState, TABLES.windowUsers, TABLES.minuteRollup]) await optimizeDay(t, w0);
    expect(await readMinuteAgg(client, w0, w1 + MINUTE)).toEqual(expected);
    await writer.refreshMinuteRollup([w0, w1]); // recomputed from the merged tables: the same
    expect(await readMinuteAgg(client, w0, w1 + MINUTE)).toEqual(expected);
    const kept = await client.queryRows<{ p: number; o: string; v: string }>(
      `SELECT source_partition AS p, last_offset AS o, row_version AS v FROM ${TABLES.windowState}
       WHERE window_start = toDateTime(${w0 / 1000}) AND source_topic = '${topic}' ORDER BY p, v`,
    );
    expect(kept.map((r) => [Number(r.p), Number(r.o), Number(r.v)])).toEqual([
      [0, 20, 40],
      [1, 7, 15],
    ]);
  });

  it('view and readWindowStates equal the brute-force oracles for random histories, before and after OPTIMIZE FINAL (property)', async () => {
    const day = randomDay();
    const topic = randomTopic('history');
    let run = 0;
    const checked: { base: number; inserted: WindowPartitionRow[]; userRows: WindowUsersRow[]; wanted: WantedStates }[] = [];
    await fc.assert(
      fc.asyncProperty(historyArb, fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), async (history, pick) => {
        const base = day + run++ * 10 * MINUTE; // up to 5 windows per run, all inside one day
        const { inserted, userRows, flushes } = materialise(history, base, topic);
        for (const f of flushes) await writeFlush(writer, f);
        const wanted = wantedOf(base, pick);
        const expected = expectedMinuteAgg(inserted, userRows);
        expect(await readMinuteAgg(client, base, base + 10 * MINUTE)).toEqual(expected);
        expect(await readMinuteAggWindows(client, windowsOf(inserted))).toEqual(expected);
        expect(await readStates(topic, wanted)).toEqual(expectedWindowStates(inserted, topic, wanted));
        checked.push({ base, inserted, userRows, wanted });
      }),
      { numRuns: 15, endOnFailure: true },
    );
    for (const t of [TABLES.windowState, TABLES.windowUsers, TABLES.minuteRollup]) await optimizeDay(t, day);
    for (const { base, inserted, userRows, wanted } of checked) {
      expect(await readMinuteAgg(client, base, base + 10 * MINUTE)).toEqual(expectedMinuteAgg(inserted, userRows));
      expect(await readStates(topic, wanted)).toEqual(expectedWindowStates(inserted, topic, wanted));
    }
  });

  it('merges thousands of users across many partitions exactly: users rows in parts and again by replays, then the refresh', async () => {
    const w = randomDay() + randomInt(0, 1000) * MINUTE;
    const s = manyUsersScenario(randomTopic('users'), w);
    for (const f of s.flushes) await writeFlush(writer, f);
    const [agg] = await readMinuteAgg(client, w, w + MINUTE);
    expect(agg).toMatchObject({ uniqueUsers: s.uniqueUsers, totalEvents: 24_000, anomalyEvents: (23 * 24) / 2, isFinal: true, sourcePartitions: 24 });
    expect([agg]).toEqual(s.expected);
    const awkward = await client.queryRows<{ user_id: string }>(`SELECT DISTINCT user_id FROM ${TABLES.windowUsers} WHERE window_start = toDateTime(${w / 1000}) AND NOT startsWith(user_id, 'user-')`);
    expect(awkward.map((r) => r.user_id).sort()).toEqual([...AWKWARD_USERS].sort()); // stored as given
    await optimizeDay(TABLES.windowUsers, w);
    await writer.refreshMinuteRollup([w]);
    expect(await readMinuteAgg(client, w, w + MINUTE)).toEqual(s.expected);
  });
});

describe('device-level results on the real server', () => {
  it('iot_device_minute and the fleet columns of iot_minute_agg equal the brute-force oracle (devices on several partitions, late events); state round-trips bit for bit; completeness per device in one query', async () => {
    const diff = await deviceScenarioDifferences(client, writer, `devices.int.${randomInt(0, 2 ** 40).toString(36)}`, Date.UTC(2007, 2, 1, 8, 0) + randomInt(0, 100_000) * 3 * MINUTE);
    expect(diff).toEqual({ devices: [], fleet: [], states: [], completeness: [], hours: [] });
  });

  it('device health: devices sending every 1 s, 10 s and 5 min, some stopping, are silent exactly when the rule says, none too early', async () => {
    // Its own year: health reads every device of the 30 days before "now".
    const end = Date.UTC(1990, 0, 1) + randomInt(0, 300) * 86_400_000 * 31;
    expect(await silenceDifferences(client, writer, `rhythms.int.${randomInt(0, 2 ** 40).toString(36)}`, end, { silentFactor: 3, silentMinSecs: 120 })).toEqual([]);
  });
});

describe('iot_minute_rollup refreshes on the real server', () => {
  it('keeps the complete result whatever the order its incomplete ones arrive in, before and after OPTIMIZE FINAL', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const s = rollupOrderScenario(randomTopic('rollup'), w0);
    // each snapshot in a scratch database of its own, where the refresh's SELECT computes its result
    const dbs = ['a_new_b_old', 'a_old_b_new', 'complete'].map((name) => `sink_rollup_${name}_${randomInt(0, 2 ** 40).toString(36)}`);
    const statements = (await loadMigrationFiles(findMigrationsDir(__dirname))).flatMap((f) => f.statements);
    try {
      for (const [i, db] of dbs.entries()) {
        for (const st of statements) await client.command(forDatabase(st, db));
        const scratch = new WindowRowWriter(client, { windowTable: forDatabase(TABLES.windowState, db), usersTable: forDatabase(TABLES.windowUsers, db) });
        await scratch.writeWindowUsers(s.snapshots[i].users);
        await scratch.writeWindowRows(s.snapshots[i].rows);
      }
      // unmerged, each window's three results are rows of their own: the view picks the complete one
      await client.command(`SYSTEM STOP MERGES ${TABLES.minuteRollup}`);
      try {
        await insertRollupsInOrder(client, s, dbs, refreshClock());
        const totals = await client.queryRows<Record<string, unknown>>(rollupTotalsQuery(s.windows));
        expect(totals.map((r) => ({ totalEvents: Number(r['total_events']), rows: Number(r['c']) }))).toEqual(rollupTotals(s));
        expect(await readMinuteAggWindows(client, s.windows)).toEqual(s.complete);
      } finally {
        await client.command(`SYSTEM START MERGES ${TABLES.minuteRollup}`);
      }
      await optimizeDay(TABLES.minuteRollup, w0);
      expect(await readMinuteAggWindows(client, s.windows)).toEqual(s.complete);
    } finally {
      for (const db of dbs) await client.command(`DROP DATABASE IF EXISTS ${db}`);
    }
  });

  it('a window revised by a late row after its rollup: the view shows the old result until the refresh, then the revision', async () => {
    const w = randomDay() + randomInt(0, 1000) * MINUTE;
    const s = lateRevisionScenario(randomTopic('late'), w);
    await writeFlush(writer, s.first);
    expect(await readMinuteAggWindows(client, [w])).toEqual(s.before);
    await writer.writeWindowUsers(s.late.users);
    await writer.writeWindowRows(s.late.rows);
    expect(await readMinuteAggWindows(client, [w])).toEqual(s.before); // the protocol: a result changes with its refresh only
    await writer.refreshMinuteRollup([w]);
    expect(await readMinuteAggWindows(client, [w])).toEqual(s.after);
    expect(s.after[0]).toMatchObject({ totalEvents: s.before[0].totalEvents + 1, uniqueUsers: s.before[0].uniqueUsers + 1, lateEvents: 1 });
    await optimizeDay(TABLES.minuteRollup, w);
    expect(await readMinuteAggWindows(client, [w])).toEqual(s.after);
  });

  it('a refresh reads only the windows it asks for, however many others there are', async () => {
    const day = randomDay();
    const s = busyDayScenario(randomTopic('busy'), day);
    await writer.writeWindowUsers(s.users);
    await writer.writeWindowRows(s.rows);
    const list = windowStartList(s.asked);
    const lookups = (await rowsRead(`SELECT count() FROM ${TABLES.windowState} WHERE window_start IN (${list})`)) + (await rowsRead(`SELECT count() FROM ${TABLES.windowUsers} WHERE window_start IN (${list})`));
    const refreshRead = await rowsRead(minuteRollupSelect(s.asked, refreshClock()));
    expect(refreshRead).toBeLessThanOrEqual(lookups);
    expect(refreshRead).toBeLessThan(s.totalRows / 10);
    // the yardstick: the same view over the whole day reads every row of it
    const dayRead = await rowsRead(`SELECT count() FROM ${TABLES.minuteMerged} WHERE window_start >= toDateTime(${day / 1000}) AND window_start < toDateTime(${day / 1000 + 86_400})`);
    expect(dayRead).toBeGreaterThanOrEqual(s.totalRows);

    await writer.refreshMinuteRollup(s.asked);
    expect(await readMinuteAggWindows(client, [...s.asked, day])).toEqual(s.expected); // only the asked windows have a result
  });
});

describe('window rows in the RowBinary format on the real server', () => {
  it('writes a batch far larger than max_query_size (the rows are the request body, not part of the query)', async () => {
    const w0 = randomDay();
    const topic = randomTopic('large');
    const rows = Array.from({ length: 24 * 300 }, (_, i) =>
      stateRow({ sourceTopic: topic, windowStartMs: w0 + Math.floor(i / 24) * MINUTE, sourcePartition: i % 24, lastOffset: i, totalEvents: 10, metricSum: i / 7 }),
    );
    const [{ max }] = await client.queryRows<{ max: string }>(`SELECT value AS max FROM system.settings WHERE name = 'max_query_size'`);
    expect(toWindowStateChunks(rows.map(toWindowPartitionRecord))[0].body.length).toBeGreaterThan(3 * Number(max));
    expect(await writer.writeWindowRows(rows)).toMatchObject({ rows: rows.length, attempts: 1 });
    const wanted = Array.from({ length: 24 }, (_, p) => ({ partition: p, windowStartsMs: Array.from({ length: 300 }, (_, w) => w0 + w * MINUTE) }));
    const states = await readStates(topic, wanted);
    expect(states).toHaveLength(rows.length);
    expect(states).toEqual(expectedWindowStates(rows, topic, wanted));
  });

  it('writes a catch-up batch as several INSERTs of at most maxStateInsertBytes, every row exact', async () => {
    const w0 = randomDay();
    const topic = randomTopic('huge');
    const rows = Array.from({ length: 24 * 1250 }, (_, i) =>
      stateRow({ sourceTopic: topic, windowStartMs: w0 + Math.floor(i / 24) * MINUTE, sourcePartition: i % 24, lastOffset: i, totalEvents: 3, metricSum: Math.sqrt(i) }),
    );
    const maxStateInsertBytes = 256 * 1024;
    expect(toWindowStateChunks(rows.map(toWindowPartitionRecord), maxStateInsertBytes).length).toBeGreaterThan(4);
    expect(await new WindowRowWriter(client, { maxAttempts: 5, now: refreshClock, maxStateInsertBytes }).writeWindowRows(rows)).toMatchObject({ rows: rows.length });
    const wanted = Array.from({ length: 24 }, (_, p) => ({ partition: p, windowStartsMs: Array.from({ length: 1250 }, (_, w) => w0 + w * MINUTE) }));
    const states = await readStates(topic, wanted);
    expect(states).toHaveLength(rows.length);
    expect(states).toEqual(expectedWindowStates(rows, topic, wanted));
  });
});

describe('window state reads (readWindowStates) on the real server', () => {
  it('returns the newest row of exactly the pairs asked for, of that topic only, before and after OPTIMIZE FINAL', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const topic = randomTopic('reads');
    const s = readScenario(topic, `${topic}.other`, w0);
    for (const b of s.batches) await writer.writeWindowRows(b);
    expect(await readStates(topic, s.wanted)).toEqual(s.expected);
    expect(await readWindowStates(client, topic, [{ partition: 0, windowStartsMs: [] }])).toEqual([]);
    expect(await readWindowStates(client, randomTopic('nothing'), s.wanted)).toEqual([]);
    await optimizeDay(TABLES.windowState, w0);
    expect(await readStates(topic, s.wanted)).toEqual(s.expected);
  });

  it('round-trips metric_sum bit for bit (the aggregator keeps summing from the loaded value)', async () => {
    const w0 = randomDay();
    const topic = randomTopic('floats');
    const s = floatScenario(topic, w0, fc.sample(finiteDoubleArb, 400));
    await writer.writeWindowRows(s.rows);
    const states = await readStates(topic, s.wanted);
    expect(metricBits(states)).toEqual(metricBits(s.expected));
    expect(states).toEqual(s.expected);
  });

  it('documents why window rows are not sent as JSONEachRow: 18.16 parses text floats inexactly', async () => {
    const v = await client.serverVersion();
    const topic = randomTopic('json-floats');
    const w0 = randomDay();
    const values = [...TRICKY_DOUBLES, ...fc.sample(finiteDoubleArb, 400)];
    const rows = values.map((metricSum, i) => stateRow({ sourceTopic: topic, windowStartMs: w0 + Math.floor(i / 16) * MINUTE, sourcePartition: i % 16, lastOffset: i, metricSum }));
    await client.insertJsonEachRow(TABLES.windowState, rows.map(toWindowPartitionRecord));
    const back = await client.queryRows<{ o: string | number; m: number }>(
      `SELECT last_offset AS o, metric_sum AS m FROM ${TABLES.windowState} WHERE source_topic = '${topic}' ORDER BY o`,
    );
    const off = back.filter((r) => !Object.is(r.m, values[Number(r.o)])).length;
    expect(back).toHaveLength(values.length);
    // 18.16: roughly one random double in five comes back one unit in the last place off
    if (v.major < 20) expect(off).toBeGreaterThan(0);
  });

  it('is_final after merges: final outranks partial at the same offset in either insert order; a higher offset beats both', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const topic = randomTopic('finality');
    const s = finalityScenario(topic, w0);
    for (const b of s.batches) await writer.writeWindowRows(b);
    await writer.refreshMinuteRollup(s.ws);
    const check = async (): Promise<void> => {
      expect(await readStates(topic, s.wanted)).toEqual(s.expectedStates);
      const agg = await readMinuteAgg(client, s.ws[0], s.ws[4] + MINUTE);
      expect(agg.map((r) => ({ windowStartMs: r.windowStartMs, isFinal: r.isFinal, totalEvents: r.totalEvents, lateEvents: r.lateEvents, updatedAtMs: r.updatedAtMs }))).toEqual(s.expectedAgg);
    };
    await check();
    for (const day of new Set(s.ws.map(yyyymmdd))) await client.command(`OPTIMIZE TABLE ${TABLES.windowState} PARTITION ${day} FINAL`);
    await check();
    await writer.refreshMinuteRollup(s.ws); // recomputed from the merged rows: the same
    await check();
    // the table itself kept exactly the winning row per key
    const kept = await client.queryRows<{ ws: string | number; f: string | number; o: string | number }>(
      `SELECT toUInt32(window_start) AS ws, is_final AS f, last_offset AS o FROM ${TABLES.windowState} WHERE source_topic = '${topic}' ORDER BY ws`,
    );
    expect(kept.map((r) => [Number(r.ws) * 1000, Number(r.f) === 1, Number(r.o)])).toEqual(s.expectedStates.map((x) => [x.windowStartMs, x.isFinal, x.lastOffset]));
  });
});

describe('dead letters -> iot_minute_dead_letters on the real server', () => {
  it('counts each source message once: invalid, late_event and future_event_time apart', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    // a source message's identity is (topic, partition, offset): a topic of its own keeps runs apart
    const s = deadLetterScenario(randomTopic('dlq'), w0);
    for (const b of s.batches) await writer.writeDeadLetters(b);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual([]); // counts change with their refresh only
    await writer.refreshDeadLetterRollup([w0, w0 + MINUTE + 59_000]);
    expect(expectedDeadLetterCounts(s.batches.flat())).toEqual(s.expected);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected);
    await optimizeDay(TABLES.deadLetters, w0);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected);
    await writer.refreshDeadLetterRollup([w0, w0 + MINUTE + 59_000]); // recomputed from the merged table: the same
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected);
  });

  it('re-recorded messages (replays) count once, across refreshes, before and after OPTIMIZE FINAL', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const s = deadLetterReplayScenario(randomTopic('dlq-replays'), w0);
    for (const [i, f] of s.flushes.entries()) {
      await writeDeadLetterFlush(writer, f);
      expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected[i]);
    }
    expect(s.expected.map(deadLetterTotals)).toEqual([
      [3, 1],
      [4, 2],
      [4, 3],
    ]);
    for (const t of [TABLES.deadLetters, TABLES.minuteDeadLetterRollup]) await optimizeDay(t, w0);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
    await writer.refreshDeadLetterRollup(s.windows);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
  });

  it('an older refresh (fewer messages) inserted after a newer one does not win, before and after OPTIMIZE FINAL', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const s = deadLetterReplayScenario(randomTopic('dlq-order'), w0);
    await writeDeadLetterFlush(writer, s.flushes[0]);
    // computed now, from the first flush only, stamped after every refresh below (another writer's clock)
    const older = await deadLetterRollupSnapshot(client, s.windows, refreshClockMs + 3_600_000);
    for (const f of s.flushes.slice(1)) await writeDeadLetterFlush(writer, f);
    await client.command(`SYSTEM STOP MERGES ${TABLES.minuteDeadLetterRollup}`);
    try {
      await client.insertValues(TABLES.minuteDeadLetterRollup, MINUTE_DEAD_LETTER_ROLLUP_COLUMNS, older);
      // unmerged, each minute's newest stamped row is the older result
      const stored = newestStampedCounts(s.windows, await client.queryRows<Record<string, unknown>>(deadLetterRollupRowsQuery(s.windows)));
      expect(stored.map((c) => c.newestStamped)).toEqual(deadLetterTotals(s.expected[0]));
      expect(stored.map((c) => c.most)).toEqual(deadLetterTotals(s.expected[2]));
      expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
    } finally {
      await client.command(`SYSTEM START MERGES ${TABLES.minuteDeadLetterRollup}`);
    }
    await optimizeDay(TABLES.minuteDeadLetterRollup, w0);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
    expect(await client.queryRows(deadLetterRollupRowsQuery(s.windows))).toHaveLength(s.windows.length);
  });

  describe('a refresh over a busy day and its neighbours', () => {
    const day = randomDay();
    const s = busyDeadLetterDayScenario(randomTopic('dlq-busy'), day);
    const lookup = () => rowsRead(`SELECT count() FROM ${TABLES.deadLetters} WHERE window_start IN (${windowStartList(s.asked)})`);
    const refreshRead = () => rowsRead(minuteDeadLetterRollupSelect(s.asked, refreshClock()));
    beforeAll(async () => {
      await writer.writeDeadLetters(s.rows);
    });

    it('reads no more than a lookup of its minutes in dead_letters, and no other day', async () => {
      const [{ c: dayStored }] = await client.queryRows<{ c: string }>(
        `SELECT count() AS c FROM ${TABLES.deadLetters} WHERE window_start >= toDateTime(${day / 1000}) AND window_start < toDateTime(${day / 1000 + 86_400})`,
      );
      expect(await refreshRead()).toBeLessThanOrEqual(await lookup());
      expect(await refreshRead()).toBeLessThanOrEqual(Number(dayStored));
      // the yardstick: the same view over the three days reads every row of them
      const threeDays = `window_start >= toDateTime(${day / 1000 - 86_400}) AND window_start < toDateTime(${day / 1000 + 2 * 86_400})`;
      expect(await rowsRead(`SELECT count() FROM ${TABLES.minuteDeadLettersMerged} WHERE ${threeDays}`)).toBeGreaterThanOrEqual(s.totalRows);

      await writer.refreshDeadLetterRollup(s.asked);
      expect(await readDeadLetterCounts(client, day - DAY, day + 2 * DAY)).toEqual(s.expected); // only the asked minutes have counts
    });

    // dead_letters is ordered by window_start first: a refresh reads the index granules of its minutes, not their day.
    it('reads only about the rows of the minutes it asks for, not their whole day', async () => {
      // Index granules of 8192 rows: the three minutes touch two of the day's four.
      expect(await refreshRead()).toBeLessThan(s.dayRows);
    });
  });
});

function fmt(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
