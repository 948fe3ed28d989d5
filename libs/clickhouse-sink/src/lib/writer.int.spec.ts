/**
 * WindowRowWriter + the reader-contract views against the real server at
 * CLICKHOUSE_URL (18.16 on the development machines). Every test writes to its
 * own random window range far in the past, so runs never interfere and nothing
 * is deleted.
 */
import fc from 'fast-check';
import { randomInt } from 'node:crypto';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import { countsOnly, historyArb, materialise } from './history.testkit';
import { applyMigrations, findMigrationsDir } from './migrations';
import { expectedDeadLetterCounts, expectedMinuteAgg } from './oracle';
import { readDeadLetterCounts, readMinuteAgg, type DeadLetterCountRow, type MinuteAggRow } from './readers';
import type { DeadLetterRow, WindowPartitionRow } from './rows';
import { TABLES } from './schema';
import { WindowRowWriter } from './writer';

const CLICKHOUSE_URL = process.env['CLICKHOUSE_URL'];
if (!CLICKHOUSE_URL) {
  throw new Error(
    'CLICKHOUSE_URL is not set: the ClickHouse integration tests (*.int.spec.ts) need a real server, ' +
      'e.g. CLICKHOUSE_URL=http://127.0.0.1:8123 npx nx test clickhouse-sink',
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

let client: ClickHouseSinkClient;
let writer: WindowRowWriter;

beforeAll(async () => {
  client = createClickHouseClient({
    url: CLICKHOUSE_URL,
    username: process.env['CLICKHOUSE_USER'],
    password: process.env['CLICKHOUSE_PASSWORD'],
  });
  await applyMigrations(client, findMigrationsDir(__dirname));
  writer = new WindowRowWriter(client, { maxAttempts: 5 });
});
afterAll(async () => {
  await client?.close();
});

async function optimizeDay(table: string, dayMs: number, byMonth = false): Promise<void> {
  const partition = byMonth ? yyyymmdd(dayMs).slice(0, 6) : yyyymmdd(dayMs);
  await client.command(`OPTIMIZE TABLE ${table} PARTITION ${partition} FINAL`);
}

describe('window rows -> iot_minute_agg on the real server', () => {
  it('is exact without FINAL: older versions lose, duplicates are harmless, users merge across partitions', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    const w1 = w0 + MINUTE;
    const row = (p: Partial<WindowPartitionRow>): WindowPartitionRow => ({
      windowStartMs: w0,
      sourcePartition: 0,
      totalEvents: 0,
      metricSum: 0,
      users: [],
      anomalyEvents: 0,
      version: 0,
      isFinal: false,
      updatedAtMs: w0 + 5_000,
      ...p,
    });
    const p0v20 = row({ sourcePartition: 0, version: 20, totalEvents: 4, metricSum: 10, users: ['a', 'b', 'c'], anomalyEvents: 1, updatedAtMs: w0 + 10_000 });
    const p0v10 = row({ sourcePartition: 0, version: 10, totalEvents: 2, metricSum: 3, users: ['a'], updatedAtMs: w0 + 5_000 });
    const p1v7 = row({ sourcePartition: 1, version: 7, totalEvents: 3, metricSum: 2, users: ['d', 'c'], anomalyEvents: 2, isFinal: true, updatedAtMs: w0 + 70_000 });
    const p1v7dup = { ...p1v7, users: ['c', 'd', 'c'] }; // same content, different user order/duplicates
    const w1p2 = row({ windowStartMs: w1, sourcePartition: 2, version: 3, totalEvents: 1, metricSum: -1.5, users: ['z'], updatedAtMs: w1 + 1_000 });

    expect(await writer.writeWindowRows([p0v20, p1v7])).toMatchObject({ rows: 2, attempts: 1 });
    await writer.writeWindowRows([p0v10]); // an older snapshot arrives after the newer one
    await writer.writeWindowRows([p0v20, p1v7dup, w1p2]); // duplicates, e.g. a retried batch
    await writer.writeWindowRows([p0v10]);
    expect(await writer.writeWindowRows([])).toEqual({ rows: 0, attempts: 0, elapsedMs: 0 });

    const expected: MinuteAggRow[] = [
      { windowStartMs: w0, totalEvents: 7, avgMetric: 12 / 7, uniqueUsers: 4, anomalyEvents: 3, updatedAtMs: w0 + 70_000, metricSum: 12, sourcePartitions: 2, isFinal: false },
      { windowStartMs: w1, totalEvents: 1, avgMetric: -1.5, uniqueUsers: 1, anomalyEvents: 0, updatedAtMs: w1 + 1_000, metricSum: -1.5, sourcePartitions: 1, isFinal: false },
    ];
    expect(expectedMinuteAgg([p0v20, p1v7, p0v10, p0v20, p1v7dup, w1p2, p0v10])).toEqual(expected);
    expect(await readMinuteAgg(client, w0, w1 + MINUTE)).toEqual(expected);
    expect(await readMinuteAgg(client, w0 + 1, w1 + 1)).toEqual([expected[1]]); // [from, to) on window starts

    // the reader contract query itself, verbatim, without FINAL
    const contract = await client.queryRows<Record<string, unknown>>(
      `SELECT window_start, total_events, avg_metric, unique_users, anomaly_events, updated_at FROM stream_analytics.iot_minute_agg
       WHERE window_start >= toDateTime(${w0 / 1000}) AND window_start < toDateTime(${(w1 + MINUTE) / 1000}) ORDER BY window_start`,
    );
    expect(contract.map((r) => ({ ...r, total_events: Number(r['total_events']), unique_users: Number(r['unique_users']), anomaly_events: Number(r['anomaly_events']) }))).toEqual([
      { window_start: fmt(w0), total_events: 7, avg_metric: 12 / 7, unique_users: 4, anomaly_events: 3, updated_at: fmt(w0 + 70_000) },
      { window_start: fmt(w1), total_events: 1, avg_metric: -1.5, unique_users: 1, anomaly_events: 0, updated_at: fmt(w1 + 1_000) },
    ]);

    await optimizeDay(TABLES.windowPartitionState, w0);
    expect(await readMinuteAgg(client, w0, w1 + MINUTE)).toEqual(expected);
    const kept = await client.queryRows<{ p: number; v: string }>(
      `SELECT source_partition AS p, version AS v FROM ${TABLES.windowPartitionState}
       WHERE window_start = toDateTime(${w0 / 1000}) ORDER BY p, v`,
    );
    if (yyyymmdd(w0) === yyyymmdd(w1)) {
      expect(kept.map((r) => [Number(r.p), Number(r.v)])).toEqual([
        [0, 20],
        [1, 7],
      ]);
    }
  });

  it('equals the brute-force oracle for random histories, before and after OPTIMIZE FINAL (property)', async () => {
    const day = randomDay();
    let run = 0;
    const checked: { base: number; inserted: WindowPartitionRow[] }[] = [];
    await fc.assert(
      fc.asyncProperty(historyArb, async (history) => {
        const base = day + run++ * 10 * MINUTE; // up to 4 windows per run, all inside one day
        const { inserted, batches } = materialise(history, base);
        for (const b of batches) await writer.writeWindowRows(b);
        expect((await readMinuteAgg(client, base, base + 10 * MINUTE)).map(countsOnly)).toEqual(expectedMinuteAgg(inserted).map(countsOnly));
        checked.push({ base, inserted });
      }),
      { numRuns: 15, endOnFailure: true },
    );
    await optimizeDay(TABLES.windowPartitionState, day);
    for (const { base, inserted } of checked) {
      expect((await readMinuteAgg(client, base, base + 10 * MINUTE)).map(countsOnly)).toEqual(expectedMinuteAgg(inserted).map(countsOnly));
    }
  });

  it('merges thousands of users across many partitions exactly', async () => {
    const w = randomDay() + randomInt(0, 1000) * MINUTE;
    const rows: WindowPartitionRow[] = [];
    for (let p = 0; p < 24; p++) {
      const users: string[] = [];
      for (let u = p * 300; u < p * 300 + 500; u++) users.push(`user-${u}`); // overlaps the next partition by 200
      rows.push({ windowStartMs: w, sourcePartition: p, totalEvents: 1000, metricSum: 250 * (p + 1), users, anomalyEvents: p, version: 1000 + p, isFinal: true, updatedAtMs: w + 65_000 });
    }
    await writer.writeWindowRows(rows);
    const [agg] = await readMinuteAgg(client, w, w + MINUTE);
    expect(agg.uniqueUsers).toBe(23 * 300 + 500);
    expect(agg.totalEvents).toBe(24_000);
    expect(agg.anomalyEvents).toBe((23 * 24) / 2);
    expect(agg.isFinal).toBe(true);
    expect(agg).toEqual(expectedMinuteAgg(rows)[0]);
  });
});

describe('dead letters -> iot_minute_dead_letters on the real server', () => {
  it('counts each source message once, invalid and late separately', async () => {
    const w0 = randomDay() + randomInt(0, 1000) * MINUTE;
    // a source message's identity is (topic, partition, offset): a topic of its own keeps runs apart
    const topic = `test.raw.${randomInt(0, 2 ** 40).toString(36)}`;
    const dl = (p: Partial<DeadLetterRow>): DeadLetterRow => ({
      sourceTopic: topic,
      sourcePartition: 0,
      sourceOffset: 0,
      windowStartMs: w0,
      reason: 'invalid_json',
      recordedAtMs: w0 + 1_000,
      ...p,
    });
    const batch = [
      dl({ sourceOffset: 1 }),
      dl({ sourceOffset: 2, reason: 'schema_violation', deviceId: 'dev-1' }),
      dl({ sourceOffset: 3, reason: 'late_event', deviceId: 'dev-2' }),
      dl({ sourceOffset: 3, reason: 'late_event', deviceId: 'dev-2' }),
      dl({ sourcePartition: 1, sourceOffset: 1, reason: 'late_event' }),
      dl({ sourceOffset: 4, windowStartMs: w0 + MINUTE + 59_999, reason: 'oversized' }), // floored to the second
    ];
    await writer.writeDeadLetters(batch);
    await writer.writeDeadLetters(batch.slice(0, 3)); // replayed
    const expected: DeadLetterCountRow[] = [
      { windowStartMs: w0, invalidEvents: 2, lateEvents: 2 },
      { windowStartMs: w0 + MINUTE + 59_000, invalidEvents: 1, lateEvents: 0 },
    ];
    expect(expectedDeadLetterCounts([...batch, ...batch.slice(0, 3)])).toEqual(expected);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(expected);
    await optimizeDay(TABLES.deadLetterEvents, w0, true);
    expect(await readDeadLetterCounts(client, w0, w0 + 2 * MINUTE)).toEqual(expected);
  });
});

function fmt(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
