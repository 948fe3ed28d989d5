/**
 * The same clickhouse/init/*.sql files (applied by the migration runner,
 * applyMigrations through sessionMigrationTarget), the writer's statements (users, state
 * rows, the rollup refresh) and the reader queries on current ClickHouse
 * (26.x, embedded through chdb), no server needed. The integration tests (*.int.spec.ts) prove the same on the
 * real 18.16 server, with the same scenarios (src/testing/history.ts).
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'chdb';
import type { ClickHouseSinkClient } from './client';
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
  legacyScenario,
  manyUsersScenario,
  materialise,
  newestStampedCounts,
  metricBits,
  MINUTE,
  readScenario,
  rollupOrderScenario,
  rollupTotals,
  rollupTotalsQuery,
  sortStates,
  stateRow,
  wantedOf,
  windowsOf,
  writeDeadLetterFlush,
  writeFlush,
  type WantedStates,
  type Writes,
} from '../testing/history';
import { deviceScenario, deviceScenarioDifferences, expectedDeviceMinutes, runDeviceScenario, silenceDifferences, statsDifferences } from '../testing/device';
import { readDeviceMinute } from './device-readers';
import { applyMigrations, findMigrationsDir, loadMigrationFiles, type MigrationFile } from './migrations';
import { profileStatement, type SchemaProfile } from './schema-profile';
import { rowBinaryStructure } from './row-binary';
import { expectedDeadLetterCounts, expectedMinuteAgg } from '../testing/oracle';
import {
  deadLetterCountsQuery,
  minuteAggQuery,
  minuteDeadLetterRollupSelect,
  MINUTE_DEAD_LETTER_ROLLUP_COLUMNS,
  minuteRollupSelect,
  parseDeadLetterCountRow,
  parseMinuteAggRow,
  readMinuteAggWindows,
  readWindowStates,
  windowStartList,
  type DeadLetterCountRow,
  type MinuteAggRow,
  type StoredWindowRow,
} from './readers';
import { DEVICE_COPY_SCHEMA, toDeadLetterRecord, toJsonEachRow, toWindowStateChunks, toWindowStateRecords, WINDOW_STATE_SCHEMA, type DeadLetterRow, type WindowPartitionRow, type WindowUsersRow } from './rows';
import { TABLES } from './schema';
import { sessionMigrationTarget } from './session-target';
import { WindowRowWriter } from './writer';

jest.setTimeout(120_000);

let dir: string;
let session: Session;
let files: MigrationFile[];

function rows<T = Record<string, unknown>>(sql: string): T[] {
  const text = session.query(sql, 'JSONEachRow');
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** clickhouse/init through the migration runner, as every server gets it. */
async function migrate(): Promise<string[]> {
  return (await applyMigrations(sessionMigrationTarget(session), findMigrationsDir(__dirname))).applied;
}

/** Init files through the runner, rewritten into another database (a folder of their own, bookkeeping in that database). */
async function migrateInto(db: string, only: (name: string) => boolean = () => true): Promise<string[]> {
  const folder = path.join(dir, `migrations-${db}`);
  mkdirSync(folder, { recursive: true });
  for (const f of files.filter((x) => only(x.name))) writeFileSync(path.join(folder, f.name), f.statements.map((st) => `${forDatabase(st, db)};\n`).join('\n'));
  return (await applyMigrations(sessionMigrationTarget(session), folder, { migrationsTable: { database: db, table: 'schema_migrations' } })).applied;
}

/**
 * Every statement of the files again, verbatim, bypassing the runner's
 * record: what a run that crashed before recording a file, or two instances
 * migrating at once, do. The files must stay idempotent for that.
 */
function reapplyVerbatim(db = 'stream_analytics'): void {
  for (const f of files) for (const st of f.statements) session.query(forDatabase(st, db));
}

async function insertDeadLetters(batch: readonly DeadLetterRow[], table: string = TABLES.deadLetters): Promise<void> {
  await session.insert({ table, values: toJsonEachRow(batch.map(toDeadLetterRecord)), format: 'JSONEachRow' });
}

/** Every byte as a \xNN escape of an SQL string literal. */
const escapedBytes = (b: Buffer) => Array.from(b, (x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');

/**
 * The library's client calls the writer and the readers make, answered by the
 * embedded engine (optionally in another database): WindowRowWriter and the
 * readers run unchanged, with the statements they build.
 */
function engineClient(db = 'stream_analytics'): ClickHouseSinkClient {
  const sql = (s: string) => forDatabase(s, db);
  const engine: Pick<ClickHouseSinkClient, 'queryRows' | 'insertValues' | 'insertRowBinary' | 'insertJsonEachRow' | 'insertSelect'> = {
    queryRows: async <T>(query: string) => rows<T>(sql(query)),
    // The embedded engine takes text formats only: the same bytes go through the format() table function, every byte escaped.
    insertRowBinary: async (table, schema, body) => {
      const columns = schema.map(([c]) => c).join(', ');
      if (body.length === 0) return;
      session.query('SET max_query_size = 1073741824'); // the query carries the data (about 4 characters a byte)
      session.query(sql(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM format(RowBinary, '${rowBinaryStructure(schema)}', '${escapedBytes(body)}')`));
    },
    insertValues: async (table, columns, values) => {
      if (values.length > 0) session.query(sql(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`));
    },
    insertJsonEachRow: async (table, records) => {
      if (records.length > 0) await session.insert({ table: sql(table), values: toJsonEachRow(records), format: 'JSONEachRow' });
    },
    insertSelect: async (table, columns, select) => {
      session.query(sql(`INSERT INTO ${table} (${columns.join(', ')}) ${select}`));
    },
  };
  return engine as ClickHouseSinkClient;
}
/**
 * The writers' clock (the stamp of each refresh): a fixed instant that ticks a
 * second at every reading, so each refresh is stamped after the one before and
 * nothing depends on when the suite runs.
 */
let refreshClockMs = Date.UTC(2026, 0, 1);
const refreshClock = () => (refreshClockMs += 1000);
const writerOptions = { maxAttempts: 1, now: refreshClock };
const writer = new WindowRowWriter(engineClient(), writerOptions);


const readAgg = (fromMs: number, toMs: number, db = 'stream_analytics'): MinuteAggRow[] => rows(forDatabase(minuteAggQuery(fromMs, toMs), db)).map(parseMinuteAggRow);
const readDlq = (fromMs: number, toMs: number, db = 'stream_analytics'): DeadLetterCountRow[] => rows(forDatabase(deadLetterCountsQuery(fromMs, toMs), db)).map(parseDeadLetterCountRow);

/** readWindowStates itself, its queries answered by the embedded engine (optionally in another database). */
async function readStates(topic: string, wanted: WantedStates, db = 'stream_analytics'): Promise<StoredWindowRow[]> {
  return sortStates(await readWindowStates(engineClient(db), topic, wanted));
}

/** rows_read of a SELECT, from the JSON format's statistics. */
function rowsRead(sql: string): number {
  return Number((JSON.parse(session.query(sql, 'JSON')) as { statistics: { rows_read: number } }).statistics.rows_read);
}

function schemaSnapshot(db = 'stream_analytics'): { tables: Record<string, unknown>[]; columns: unknown[] } {
  return {
    tables: rows(
      `SELECT name, engine, toString(metadata_modification_time) AS mtime, create_table_query
       FROM system.tables WHERE database = '${db}' ORDER BY name`,
    ),
    columns: rows(
      `SELECT table, name, type, default_kind, default_expression
       FROM system.columns WHERE database = '${db}' ORDER BY table, name`,
    ),
  };
}

/** Views are dropped and re-created by 006 on every verbatim run: only their definition must stay. */
function withoutViewTimes(s: ReturnType<typeof schemaSnapshot>): unknown {
  return { ...s, tables: s.tables.map((t) => (t['engine'] === 'View' ? { ...t, mtime: undefined } : t)) };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'clickhouse-sink-chdb-'));
  session = new Session(dir);
  files = await loadMigrationFiles(findMigrationsDir(__dirname));
  await migrate();
});

afterAll(() => {
  session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('init SQL on current ClickHouse (chdb)', () => {
  it('runs on ClickHouse 2x', () => {
    const [{ v }] = rows<{ v: string }>('SELECT version() AS v');
    expect(Number(v.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('the runner applied every file once and recorded it; a second run applies nothing', async () => {
    const recorded = rows<{ name: string; checksum: string }>('SELECT name, checksum FROM stream_analytics.schema_migrations ORDER BY name');
    expect(recorded).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
    expect(await migrate()).toEqual([]);
    expect(rows('SELECT name FROM stream_analytics.schema_migrations')).toHaveLength(files.length);
  });

  it('is idempotent: applying the files again verbatim changes neither the schema nor what the views return', async () => {
    const w0 = Date.UTC(2004, 0, 1);
    await writeFlush(writer, { users: [{ windowStartMs: w0, userIds: ['a', 'b'] }], rows: [stateRow({ sourceTopic: 'idem', windowStartMs: w0, lastOffset: 3, totalEvents: 2, metricSum: 1.5 })] });
    const before = schemaSnapshot();
    const aggBefore = readAgg(w0, w0 + MINUTE);
    reapplyVerbatim();
    expect(withoutViewTimes(schemaSnapshot())).toEqual(withoutViewTimes(before));
    expect(before.tables.filter((t) => t['engine'] !== 'View')).toEqual(schemaSnapshot().tables.filter((t) => t['engine'] !== 'View'));
    expect(readAgg(w0, w0 + MINUTE)).toEqual(aggBefore);
    expect(aggBefore).toMatchObject([{ totalEvents: 2, metricSum: 1.5, uniqueUsers: 2 }]);
    expect(before.tables.map((t) => [t['name'], t['engine']])).toEqual([
      ['dead_letters', 'ReplacingMergeTree'],
      ['iot_device_hour', 'ReplacingMergeTree'],
      ['iot_device_last_seen', 'AggregatingMergeTree'],
      ['iot_device_last_seen_from_copy', 'MaterializedView'],
      ['iot_device_minute', 'View'],
      ['iot_device_partition_minute', 'ReplacingMergeTree'],
      ['iot_device_recent', 'ReplacingMergeTree'],
      ['iot_minute_agg', 'View'],
      ['iot_minute_dead_letter_rollup', 'ReplacingMergeTree'],
      ['iot_minute_dead_letters', 'View'],
      ['iot_minute_dead_letters_merged', 'View'],
      ['iot_minute_merged', 'View'],
      ['iot_minute_results', 'ReplacingMergeTree'],
      ['iot_minute_results_merged', 'View'],
      ['iot_minute_rollup', 'ReplacingMergeTree'],
      ['iot_window_agg_state', 'ReplacingMergeTree'],
      ['iot_window_state', 'ReplacingMergeTree'],
      ['iot_window_users', 'ReplacingMergeTree'],
      ['schema_migrations', 'ReplacingMergeTree'],
    ]);
    const createOf = (name: string) => String(before.tables.find((t) => t['name'] === name)?.['create_table_query']);
    expect(createOf('iot_window_state')).toMatch(/ReplacingMergeTree\(row_version\)/);
    expect(createOf('iot_minute_rollup')).toMatch(/ReplacingMergeTree\(state_version\)/);
    expect(createOf('dead_letters')).toMatch(/PARTITION BY toYYYYMMDD\(window_start\)/);
    expect(createOf('iot_minute_dead_letter_rollup')).toMatch(/ReplacingMergeTree\(dead_letter_events\)/);
  });

  it('006 copies the rows of iot_window_partition_state with row_version = version * 2 + is_final; 007 keeps every result; a second run keeps them', async () => {
    const db = 'sink_legacy_chdb';
    const w0 = Date.UTC(2005, 0, 1);
    const topic = 'legacy.raw';
    expect(await migrateInto(db, (name) => name < '006')).toHaveLength(5);
    const legacy = legacyScenario(topic, w0);
    // rows of separate flushes, not merged yet (a merge or optimize_on_insert would keep only one row per key)
    session.query(`SYSTEM STOP MERGES ${db}.iot_window_partition_state`);
    for (const r of legacy.rows) await session.insert({ table: `${db}.iot_window_partition_state`, values: toJsonEachRow([r]), format: 'JSONEachRow' });
    expect(rows(`SELECT count() AS c FROM ${db}.iot_window_partition_state`)).toEqual([{ c: legacy.rows.length }]);
    expect(await migrateInto(db, (name) => name < '007')).toEqual(['006_iot_window_state.sql']);

    // every copied row is an old row with row_version = version * 2 + is_final (current servers may collapse
    // equal keys within the copying insert, keeping the highest row_version), and FINAL keeps each key's newest
    const copiedRows = (final: string) =>
      rows<Record<string, unknown>>(
        `SELECT toUInt32(window_start) AS ws, source_topic, source_partition, total_events, late_events, last_offset, is_final, row_version, updated_at_ms
         FROM ${db}.iot_window_state ${final} ORDER BY source_topic, ws, source_partition, row_version`,
      ).map((r) => Object.values(r).map((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v)));
    const asColumns = (r: WindowPartitionRow) => [r.windowStartMs / 1000, r.sourceTopic, r.sourcePartition, r.totalEvents, 0, r.lastOffset, r.isFinal ? 1 : 0, r.rowVersion, r.updatedAtMs];
    expect(legacy.copied.map(asColumns)).toEqual(expect.arrayContaining(copiedRows('')));
    expect(copiedRows('FINAL')).toEqual(legacy.newestPerKey.map(asColumns));
    const agg = readAgg(w0, w0 + 2 * MINUTE, db);
    expect(agg).toEqual(expectedMinuteAgg(legacy.copied, legacy.users));
    expect(agg.map((a) => a.uniqueUsers)).toEqual([56, 1]);

    // dead letters recorded by the previous schema (monthly table dead_letter_events)
    const dlq = deadLetterScenario(topic, w0);
    for (const b of dlq.batches) await insertDeadLetters(b, `${db}.dead_letter_events`);
    expect(readDlq(w0, w0 + 2 * MINUTE, db)).toEqual(dlq.expected);

    // 007 over those rows: users rows from the state rows' arrays, results in the rollup, dead letters by day
    const schema006 = schemaSnapshot(db);
    expect(await migrateInto(db, (name) => name < '008')).toEqual(['007_window_users_and_minute_rollup.sql']);
    expect(readAgg(w0, w0 + 2 * MINUTE, db)).toEqual(agg);
    expect(readDlq(w0, w0 + 2 * MINUTE, db)).toEqual(dlq.expected);
    expect(await readMinuteAggWindows(engineClient(db), [w0, w0 + MINUTE])).toEqual(agg);
    expect(rows(`SELECT count() AS c FROM ${db}.iot_window_users FINAL`)).toEqual([{ c: 56 + 1 }]);
    // the state rows keep their (now unused) users column: 18.16 cannot drop a column idempotently
    expect(schemaSnapshot(db).columns).toEqual(expect.arrayContaining(schema006.columns.filter((c) => (c as { table: string }).table === 'iot_window_state')));

    // dead letters recorded under 007 (daily table, no rollup yet), replays included, then 008 over all of them:
    // the materialized counts equal what the 007 view counted from the same rows
    const w2 = w0 + 10 * MINUTE;
    const replays = deadLetterReplayScenario(topic, w2);
    const writer007 = new WindowRowWriter(engineClient(db), writerOptions);
    for (const f of replays.flushes) await writer007.writeDeadLetters(f);
    const counts007 = readDlq(w0, w2 + 2 * MINUTE, db);
    expect(counts007).toEqual([...dlq.expected, ...replays.expected[2]]);
    expect(await migrateInto(db, (name) => name < '009')).toEqual(['008_minute_dead_letter_rollup.sql']);
    expect(readDlq(w0, w2 + 2 * MINUTE, db)).toEqual(counts007);
    expect(rows(`SELECT count() AS c FROM ${db}.iot_minute_dead_letter_rollup`)).toEqual([{ c: counts007.length }]);
    expect(readAgg(w0, w0 + 2 * MINUTE, db)).toEqual(agg);

    // 009 drops the tables the copies above emptied of meaning; results, states and dead letters stay
    expect(await migrateInto(db, (name) => name < '010')).toEqual(['009_drop_legacy_tables.sql']);
    expect(rows(`SELECT name FROM system.tables WHERE database = '${db}' AND name IN ('iot_window_partition_state', 'dead_letter_events')`)).toEqual([]);
    expect(readAgg(w0, w0 + 2 * MINUTE, db)).toEqual(agg);
    expect(readDlq(w0, w2 + 2 * MINUTE, db)).toEqual(counts007);

    // 010 and later: the fleet state rows and the results move to the accumulator tables, the same counts
    expect(await migrateInto(db)).toEqual(expect.arrayContaining(['010_window_and_device_accumulators.sql']));
    const states = await readStates(topic, legacy.wanted, db);
    expect(states).toEqual(legacy.expected);
    expect(states.find((s) => s.sourcePartition === 0 && s.windowStartMs === w0)).toMatchObject({ isFinal: true, lastOffset: 10, rowVersion: 21, totalEvents: 6 });
    expect(readAgg(w0, w0 + 2 * MINUTE, db)).toEqual(agg);

    // all files again, verbatim: same schema, same state, same views
    const schema = schemaSnapshot(db);
    reapplyVerbatim(db);
    expect(withoutViewTimes(schemaSnapshot(db))).toEqual(withoutViewTimes(schema));
    expect(await readStates(topic, legacy.wanted, db)).toEqual(legacy.expected);
    expect(readAgg(w0, w0 + 2 * MINUTE, db)).toEqual(agg);
    expect(readDlq(w0, w2 + 2 * MINUTE, db)).toEqual(counts007);
    session.query(`DROP DATABASE ${db}`);
  });

  it('iot_minute_agg is exact without FINAL: older versions lose, duplicates are harmless, users merge exactly', async () => {
    const w0 = Date.UTC(2001, 0, 1, 0, 0, 0);
    const w1 = w0 + MINUTE;
    const topic = 'exact';
    const p0v20 = stateRow({ sourceTopic: topic, windowStartMs: w0, lastOffset: 20, totalEvents: 4, metricSum: 10, anomalyEvents: 1, updatedAtMs: w0 + 10_000 });
    const p0v10 = stateRow({ sourceTopic: topic, windowStartMs: w0, lastOffset: 10, totalEvents: 2, metricSum: 3, updatedAtMs: w0 + 5_000 });
    const p1v7 = stateRow({ sourceTopic: topic, windowStartMs: w0, sourcePartition: 1, lastOffset: 7, totalEvents: 3, metricSum: 2, anomalyEvents: 2, lateEvents: 1, isFinal: true, updatedAtMs: w0 + 70_000 });
    const w1p2 = stateRow({ sourceTopic: topic, windowStartMs: w1, sourcePartition: 2, lastOffset: 3, totalEvents: 1, metricSum: -1.5, updatedAtMs: w1 + 1_000 });
    const flushes: Writes[] = [
      { users: [{ windowStartMs: w0, userIds: ['a', 'b', 'c'] }, { windowStartMs: w0, userIds: ['c', 'd'] }], rows: [p0v20, p1v7] },
      { users: [{ windowStartMs: w0, userIds: ['a'] }], rows: [p0v10] }, // an older snapshot arrives after the newer one
      { users: [{ windowStartMs: w0, userIds: ['c', 'b', 'a'] }, { windowStartMs: w0, userIds: ['d', 'c', 'd'] }, { windowStartMs: w1, userIds: ['z'] }], rows: [p0v20, p1v7, w1p2] }, // duplicates (a retried flush)
      { users: [], rows: [p0v10] },
    ];
    for (const f of flushes) await writeFlush(writer, f);

    const expected: MinuteAggRow[] = [
      { windowStartMs: w0, totalEvents: 7, avgMetric: 12 / 7, uniqueUsers: 4, anomalyEvents: 3, updatedAtMs: w0 + 70_000, metricSum: 12, sourcePartitions: 2, isFinal: false, lateEvents: 1 },
      { windowStartMs: w1, totalEvents: 1, avgMetric: -1.5, uniqueUsers: 1, anomalyEvents: 0, updatedAtMs: w1 + 1_000, metricSum: -1.5, sourcePartitions: 1, isFinal: false, lateEvents: 0 },
    ];
    expect(expectedMinuteAgg(flushes.flatMap((f) => f.rows), flushes.flatMap((f) => f.users))).toEqual(expected);
    expect(readAgg(w0, w1 + MINUTE)).toEqual(expected);
    expect(await readMinuteAggWindows(engineClient(), [w1, w0, w1])).toEqual(expected);
    // the reader contract query itself, verbatim
    expect(
      rows(
        `SELECT window_start, total_events, avg_metric, unique_users, anomaly_events, updated_at FROM stream_analytics.iot_minute_agg
         WHERE window_start >= toDateTime(${w0 / 1000}) AND window_start < toDateTime(${(w1 + MINUTE) / 1000}) ORDER BY window_start`,
      ),
    ).toEqual([
      { window_start: '2001-01-01 00:00:00', total_events: 7, avg_metric: 12 / 7, unique_users: 4, anomaly_events: 3, updated_at: '2001-01-01 00:01:10' },
      { window_start: '2001-01-01 00:01:00', total_events: 1, avg_metric: -1.5, unique_users: 1, anomaly_events: 0, updated_at: '2001-01-01 00:01:01' },
    ]);

    for (const t of [TABLES.windowState, TABLES.windowUsers, TABLES.minuteRollup]) session.query(`OPTIMIZE TABLE ${t} FINAL`);
    expect(readAgg(w0, w1 + MINUTE)).toEqual(expected);
    await writer.refreshMinuteRollup([w0, w1]); // recomputed from the merged tables: the same
    expect(readAgg(w0, w1 + MINUTE)).toEqual(expected);
    expect(rows(`SELECT user_id FROM ${TABLES.windowUsers} WHERE window_start = toDateTime(${w0 / 1000}) ORDER BY user_id`)).toEqual(['a', 'b', 'c', 'd'].map((user_id) => ({ user_id })));
    // the merge kept one row per key: the newest
    expect(
      rows(`SELECT source_partition, last_offset, row_version FROM ${TABLES.windowState}
            WHERE window_start = toDateTime(${w0 / 1000}) AND source_topic = '${topic}' ORDER BY source_partition, row_version`),
    ).toEqual([
      { source_partition: 0, last_offset: 20, row_version: 40 },
      { source_partition: 1, last_offset: 7, row_version: 15 },
    ]);
  });

  it('unique users are exact across partitions: users rows written in parts and again by replays, then the refresh', async () => {
    const w = Date.UTC(2009, 0, 1, 12, 0);
    const s = manyUsersScenario('users', w);
    for (const f of s.flushes) await writeFlush(writer, f);
    const [agg] = readAgg(w, w + MINUTE);
    expect(agg).toMatchObject({ uniqueUsers: s.uniqueUsers, totalEvents: 24_000, anomalyEvents: (23 * 24) / 2, isFinal: true, sourcePartitions: 24 });
    expect([agg]).toEqual(s.expected);
    const awkward = rows<{ user_id: string }>(`SELECT DISTINCT user_id FROM ${TABLES.windowUsers} WHERE window_start = toDateTime(${w / 1000}) AND NOT startsWith(user_id, 'user-')`);
    expect(awkward.map((r) => r.user_id).sort()).toEqual([...AWKWARD_USERS].sort()); // stored as given
    session.query(`OPTIMIZE TABLE ${TABLES.windowUsers} FINAL`);
    await writer.refreshMinuteRollup([w]);
    expect(readAgg(w, w + MINUTE)).toEqual(s.expected);
  });

  it('the rollup keeps the complete result whatever the order its incomplete ones arrive in, before and after OPTIMIZE FINAL', async () => {
    const w0 = Date.UTC(2010, 0, 1);
    const s = rollupOrderScenario('rollup.order', w0);
    const dbs = ['rollup_a_new_b_old', 'rollup_a_old_b_new', 'rollup_complete'];
    for (const db of dbs) await migrateInto(db);
    const snapshotWriters = dbs.map((db) => new WindowRowWriter(engineClient(db), writerOptions));
    for (const [i, w] of snapshotWriters.entries()) await writeFlush(w, s.snapshots[i]);
    // each snapshot's own result, as its refresh computed it
    expect(readAgg(w0, w0 + 6 * MINUTE, dbs[0])).toEqual(s.incomplete[0]);
    expect(readAgg(w0, w0 + 6 * MINUTE, dbs[1])).toEqual(s.incomplete[1]);
    expect(s.incomplete.every((r) => r[0].totalEvents !== s.complete[0].totalEvents)).toBe(true);

    // unmerged, each window's three results are rows of their own: the view picks the complete one
    session.query(`SYSTEM STOP MERGES ${TABLES.minuteRollup}`);
    await insertRollupsInOrder(engineClient(), s, dbs, refreshClock());
    expect(rows<Record<string, unknown>>(rollupTotalsQuery(s.windows)).map((r) => ({ totalEvents: Number(r['total_events']), rows: Number(r['c']) }))).toEqual(rollupTotals(s));
    expect(readAgg(w0, w0 + 6 * MINUTE)).toEqual(s.complete);
    session.query(`SYSTEM START MERGES ${TABLES.minuteRollup}`);
    session.query(`OPTIMIZE TABLE ${TABLES.minuteRollup} FINAL`);
    expect(readAgg(w0, w0 + 6 * MINUTE)).toEqual(s.complete);
    for (const db of dbs) session.query(`DROP DATABASE ${db}`);
  });

  it('a window revised by a late row after its rollup: the view shows the old result until the refresh, then the revision', async () => {
    const w = Date.UTC(2011, 0, 1);
    const s = lateRevisionScenario('late.revision', w);
    await writeFlush(writer, s.first);
    expect(readAgg(w, w + MINUTE)).toEqual(s.before);
    await writer.writeWindowUsers(s.late.users);
    await writer.writeWindowRows(s.late.rows);
    expect(readAgg(w, w + MINUTE)).toEqual(s.before); // the protocol: a result changes with its refresh only
    await writer.refreshMinuteRollup([w]);
    expect(readAgg(w, w + MINUTE)).toEqual(s.after);
    expect(s.after[0]).toMatchObject({ totalEvents: s.before[0].totalEvents + 1, uniqueUsers: s.before[0].uniqueUsers + 1, lateEvents: 1 });
    session.query(`OPTIMIZE TABLE ${TABLES.minuteRollup} FINAL`);
    expect(readAgg(w, w + MINUTE)).toEqual(s.after);
  });

  it('a refresh reads only the windows it asks for, however many others there are', async () => {
    const day = Date.UTC(2012, 0, 1);
    const s = busyDayScenario('busy.day', day);
    await writer.writeWindowUsers(s.users);
    await writer.writeWindowRows(s.rows);
    const list = windowStartList(s.asked);
    const lookups =
      rowsRead(`SELECT count() FROM ${TABLES.windowState} WHERE window_start IN (${list})`) + rowsRead(`SELECT count() FROM ${TABLES.windowUsers} WHERE window_start IN (${list})`);
    const refreshRead = rowsRead(minuteRollupSelect(s.asked, refreshClock()));
    expect(refreshRead).toBeLessThanOrEqual(lookups);
    expect(refreshRead).toBeLessThan(s.totalRows / 10);
    // the yardstick: the same view over the whole day reads every row of it
    expect(rowsRead(`SELECT count() FROM ${TABLES.minuteMerged} WHERE window_start >= toDateTime(${day / 1000}) AND window_start < toDateTime(${day / 1000 + 86_400})`)).toBeGreaterThanOrEqual(s.totalRows);

    await writer.refreshMinuteRollup(s.asked);
    expect(await readMinuteAggWindows(engineClient(), [...s.asked, day])).toEqual(s.expected); // only the asked windows have a result
  });

  it('iot_minute_agg and readWindowStates equal the brute-force oracles for random histories, before and after OPTIMIZE FINAL (property)', async () => {
    let run = 0;
    const checked: { base: number; topic: string; inserted: WindowPartitionRow[]; userRows: WindowUsersRow[]; wanted: WantedStates }[] = [];
    await fc.assert(
      fc.asyncProperty(historyArb, fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), async (history, pick) => {
        const base = Date.UTC(2002, 0, 1) + run * 3_600_000;
        const topic = `history.${run++}`;
        const { inserted, userRows, flushes } = materialise(history, base, topic);
        for (const f of flushes) await writeFlush(writer, f);
        const wanted = wantedOf(base, pick);
        const expected = expectedMinuteAgg(inserted, userRows);
        expect(readAgg(base, base + 3_600_000)).toEqual(expected);
        expect(await readMinuteAggWindows(engineClient(), windowsOf(inserted))).toEqual(expected);
        expect(await readStates(topic, wanted)).toEqual(expectedWindowStates(inserted, topic, wanted));
        checked.push({ base, topic, inserted, userRows, wanted });
      }),
      { numRuns: 40 },
    );
    for (const t of [TABLES.windowState, TABLES.windowUsers, TABLES.minuteRollup]) session.query(`OPTIMIZE TABLE ${t} FINAL`);
    for (const { base, topic, inserted, userRows, wanted } of checked) {
      expect(readAgg(base, base + 3_600_000)).toEqual(expectedMinuteAgg(inserted, userRows));
      expect(await readStates(topic, wanted)).toEqual(expectedWindowStates(inserted, topic, wanted));
    }
  });

  it('readWindowStates returns the newest row of exactly the pairs asked for, of that topic only', async () => {
    const w0 = Date.UTC(2006, 0, 1);
    const s = readScenario('reads.a', 'reads.b', w0);
    for (const b of s.batches) await writer.writeWindowRows(b);
    expect(await readStates('reads.a', s.wanted)).toEqual(s.expected);
    expect(await readStates('reads.a', [{ partition: 0, windowStartsMs: [] }])).toEqual([]);
    session.query(`OPTIMIZE TABLE ${TABLES.windowState} FINAL`);
    expect(await readStates('reads.a', s.wanted)).toEqual(s.expected);
  });

  it('metric_sum round-trips bit for bit through the writer text and readWindowStates', async () => {
    const w0 = Date.UTC(2007, 0, 1);
    const randoms = fc.sample(finiteDoubleArb, { numRuns: 400, seed: 20261201 });
    const s = floatScenario('floats', w0, randoms);
    await writer.writeWindowRows(s.rows);
    const states = await readStates('floats', s.wanted);
    expect(metricBits(states)).toEqual(metricBits(s.expected));
    expect(states).toEqual(s.expected);
  });

  it('is_final after merges: the final row outranks the partial one at the same offset in either insert order; a higher offset beats both', async () => {
    const w0 = Date.UTC(2008, 0, 1);
    const s = finalityScenario('finality', w0);
    for (const b of s.batches) await writer.writeWindowRows(b);
    await writer.refreshMinuteRollup(s.ws);
    const check = async (): Promise<void> => {
      expect(await readStates('finality', s.wanted)).toEqual(s.expectedStates);
      expect(readAgg(s.ws[0], s.ws[4] + MINUTE).map((r) => ({ windowStartMs: r.windowStartMs, isFinal: r.isFinal, totalEvents: r.totalEvents, lateEvents: r.lateEvents, updatedAtMs: r.updatedAtMs }))).toEqual(s.expectedAgg);
    };
    await check();
    session.query(`OPTIMIZE TABLE ${TABLES.windowState} FINAL`);
    await check();
    await writer.refreshMinuteRollup(s.ws); // recomputed from the merged rows: the same
    await check();
    // the table itself keeps exactly the winning row per key
    expect(
      rows<{ ws: number; is_final: number; last_offset: number }>(
        `SELECT toUInt32(window_start) AS ws, is_final, last_offset FROM ${TABLES.windowState} WHERE source_topic = 'finality' ORDER BY ws`,
      ),
    ).toEqual(s.expectedStates.map((x) => ({ ws: x.windowStartMs / 1000, is_final: x.isFinal ? 1 : 0, last_offset: x.lastOffset })));
  });

  it('iot_minute_dead_letters counts each source message once: invalid, late_event and future_event_time apart', async () => {
    const w0 = Date.UTC(2003, 0, 1);
    const s = deadLetterScenario('iot.telemetry.raw.v1', w0);
    for (const b of s.batches) await insertDeadLetters(b);
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual([]); // counts change with their refresh only
    await writer.refreshDeadLetterRollup([w0, w0 + MINUTE + 59_000]);
    expect(expectedDeadLetterCounts(s.batches.flat())).toEqual(s.expected);
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected);
    session.query(`OPTIMIZE TABLE ${TABLES.deadLetters} FINAL`);
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected);
    await writer.refreshDeadLetterRollup([w0, w0 + MINUTE + 59_000]); // recomputed from the merged table: the same
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected);
  });

  it('dead-letter counts: re-recorded messages (replays) count once, across refreshes, before and after OPTIMIZE FINAL', async () => {
    const w0 = Date.UTC(2013, 0, 1);
    const s = deadLetterReplayScenario('dlq.replays', w0);
    for (const [i, f] of s.flushes.entries()) {
      await writeDeadLetterFlush(writer, f);
      expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected[i]);
    }
    expect(s.expected.map(deadLetterTotals)).toEqual([
      [3, 1],
      [4, 2],
      [4, 3],
    ]);
    expect(s.expected[2][0]).toMatchObject({ invalidEvents: 2, lateEvents: 1 }); // the re-judged message counts by its newest record
    // one message recorded twice in one second with different reasons: the view may count either (argMax
    // over recorded_at; a merge keeps the last inserted), so the oracle has no answer for it
    const tied = { ...s.flushes[0][0], reason: 'late_event' };
    expect(() => expectedDeadLetterCounts([s.flushes[0][0], tied])).toThrow(/different reasons/);
    for (const t of [TABLES.deadLetters, TABLES.minuteDeadLetterRollup]) session.query(`OPTIMIZE TABLE ${t} FINAL`);
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
    await writer.refreshDeadLetterRollup(s.windows);
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
  });

  it('dead-letter rollup: an older refresh (fewer messages) inserted after a newer one does not win, before and after OPTIMIZE FINAL', async () => {
    const w0 = Date.UTC(2014, 0, 1);
    const s = deadLetterReplayScenario('dlq.order', w0);
    await writeDeadLetterFlush(writer, s.flushes[0]);
    // computed now, from the first flush only, stamped after every refresh below (another writer's clock)
    const older = await deadLetterRollupSnapshot(engineClient(), s.windows, refreshClockMs + 3_600_000);
    for (const f of s.flushes.slice(1)) await writeDeadLetterFlush(writer, f);
    session.query(`SYSTEM STOP MERGES ${TABLES.minuteDeadLetterRollup}`);
    await engineClient().insertValues(TABLES.minuteDeadLetterRollup, MINUTE_DEAD_LETTER_ROLLUP_COLUMNS, older);
    // unmerged, each minute's newest stamped row is the older result
    const stored = newestStampedCounts(s.windows, rows(deadLetterRollupRowsQuery(s.windows)));
    expect(stored.map((c) => c.newestStamped)).toEqual(deadLetterTotals(s.expected[0]));
    expect(stored.map((c) => c.most)).toEqual(deadLetterTotals(s.expected[2]));
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
    session.query(`SYSTEM START MERGES ${TABLES.minuteDeadLetterRollup}`);
    session.query(`OPTIMIZE TABLE ${TABLES.minuteDeadLetterRollup} FINAL`);
    expect(readDlq(w0, w0 + 2 * MINUTE)).toEqual(s.expected[2]);
    expect(rows(deadLetterRollupRowsQuery(s.windows))).toHaveLength(s.windows.length);
  });

  describe('a dead-letter refresh over a busy day and its neighbours', () => {
    const day = Date.UTC(2015, 0, 2);
    const s = busyDeadLetterDayScenario('dlq.busy', day);
    const lookup = () => rowsRead(`SELECT count() FROM ${TABLES.deadLetters} WHERE window_start IN (${windowStartList(s.asked)})`);
    const refreshRead = () => rowsRead(minuteDeadLetterRollupSelect(s.asked, refreshClock()));
    beforeAll(async () => {
      await writer.writeDeadLetters(s.rows);
    });

    it('reads no more than a lookup of its minutes in dead_letters, and no other day', async () => {
      expect(refreshRead()).toBeLessThanOrEqual(lookup());
      expect(refreshRead()).toBeLessThanOrEqual(s.dayRows);
      // the yardstick: the same view over the three days reads every row of them
      expect(rowsRead(`SELECT count() FROM ${TABLES.minuteDeadLettersMerged} WHERE window_start >= toDateTime(${day / 1000 - 86_400}) AND window_start < toDateTime(${day / 1000 + 2 * 86_400})`)).toBeGreaterThanOrEqual(s.totalRows);

      await writer.refreshDeadLetterRollup(s.asked);
      expect(readDlq(day - 86_400_000, day + 2 * 86_400_000)).toEqual(s.expected); // only the asked minutes have counts
    });

    // dead_letters is ordered by window_start first: a refresh reads the index granules of its minutes, not their day.
    it('reads only about the rows of the minutes it asks for, not their whole day', () => {
      // Index granules of 8192 rows: the three minutes touch two of the day's four.
      expect(refreshRead()).toBeLessThan(s.dayRows);
    });
  });
});

describe('device-level results on current ClickHouse (chdb)', () => {
  it('iot_device_minute and the fleet columns of iot_minute_agg equal the brute-force oracle (devices on several partitions, late events); state round-trips bit for bit; completeness per device in one query', async () => {
    const diff = await deviceScenarioDifferences(engineClient(), writer, 'devices.chdb', Date.UTC(2007, 2, 1, 8, 0));
    expect(diff).toEqual({ devices: [], fleet: [], states: [], completeness: [], hours: [] });
  });

  it('013: the device rows the view of 011 never saw reach the copy and iot_device_last_seen; then the writer writes the copy itself', async () => {
    const db = 'sink_device_copy_chdb';
    const ch = engineClient(db);
    expect(await migrateInto(db, (name) => name < '013')).toHaveLength(12);
    // State rows committed without their views running (what an insert that failed after its
    // part was committed, and was never repeated, left behind): written with the views gone.
    session.query(`DROP TABLE ${db}.iot_device_partition_minute_copy`);
    session.query(`DROP TABLE ${db}.iot_device_last_seen_copy`);
    const w0 = Date.UTC(2009, 3, 1, 8, 0);
    const { flushes } = deviceScenario(w0);
    const copied = new WindowRowWriter(ch, writerOptions);
    let n = 0;
    await runDeviceScenario(
      'device-copy.chdb',
      flushes,
      async (rows) => {
        if (n++ < 2) {
          for (const c of toWindowStateChunks(rows.flatMap(toWindowStateRecords))) await ch.insertRowBinary(TABLES.windowState, WINDOW_STATE_SCHEMA, c.body);
          return;
        }
        if (n === 3) {
          expect(await readDeviceMinute(ch, w0, w0 + 3 * MINUTE)).toEqual([]);
          expect(await migrateInto(db, (name) => name < '014')).toEqual(['013_device_copy_written_by_client.sql']);
        }
        await copied.writeWindowRows(rows);
      },
      async () => undefined,
    );
    const want = expectedDeviceMinutes(flushes);
    expect(statsDifferences(await readDeviceMinute(ch, w0, w0 + 3 * MINUTE), want)).toEqual([]);
    const lastSeen = rows<{ device_id: string; seen: string | number }>(`SELECT device_id, maxMerge(last_seen_state) AS seen FROM ${db}.iot_device_last_seen GROUP BY device_id ORDER BY device_id`);
    const devices = [...new Set(want.map((d) => d.deviceId))].sort();
    expect(lastSeen.map((r) => [r.device_id, Number(r.seen)])).toEqual(devices.map((d) => [d, Math.max(...want.filter((m) => m.deviceId === d).map((m) => m.lastSeenMs))]));
    expect(rows(`SELECT name FROM system.tables WHERE database = '${db}' AND engine = 'MaterializedView'`)).toEqual([{ name: 'iot_device_last_seen_from_copy' }]);
    // the writer names every column of the copy (the INSERT lists them, so their order is free)
    expect(rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${db}' AND table = 'iot_device_partition_minute' ORDER BY name`).map((c) => c.name)).toEqual(DEVICE_COPY_SCHEMA.map(([c]) => c).sort());
    session.query(`DROP DATABASE ${db}`);
  });

  it('device health: devices sending every 1 s, 10 s and 5 min, some stopping, are silent exactly when the rule says, none too early (default and other knobs)', async () => {
    expect(await silenceDifferences(engineClient(), writer, 'rhythms.chdb', Date.UTC(2008, 5, 1, 12, 0), { silentFactor: 3, silentMinSecs: 120 })).toEqual([]);
    expect(await silenceDifferences(engineClient(), writer, 'rhythms.chdb.b', Date.UTC(2008, 7, 1, 12, 0), { silentFactor: 5, silentMinSecs: 30 })).toEqual([]);
  });
});

describe('replicated profile of the init SQL on current ClickHouse (chdb)', () => {
  // chdb has no ZooKeeper/Keeper, so Replicated tables cannot be created here;
  // the current parser still checks every transformed statement.
  it.each<[string, SchemaProfile & { kind: 'replicated' }]>([
    ['per node', { kind: 'replicated' }],
    ['ON CLUSTER', { kind: 'replicated', cluster: 'analytics' }],
  ])('every statement parses (%s) and keeps its engine arguments', async (_name, profile) => {
    const formatted: string[] = [];
    for (const f of await loadMigrationFiles(findMigrationsDir(__dirname))) {
      for (const s of f.statements) {
        const { sql } = profileStatement(s, profile);
        const [{ q }] = rows<{ q: string }>(`SELECT formatQuery('${sql.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}') AS q`);
        formatted.push(q);
      }
    }
    const engines = formatted.map((q) => /ENGINE = (\w+\([^)]*\))/.exec(q)?.[1]).filter((e) => e);
    expect(engines).toEqual([
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_window_partition_state', '{replica}', version)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/dead_letter_events', '{replica}', recorded_at)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_window_state', '{replica}', row_version)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_window_users', '{replica}')",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_minute_rollup', '{replica}', state_version)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/dead_letters', '{replica}', recorded_at)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_minute_dead_letter_rollup', '{replica}', dead_letter_events)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_window_agg_state', '{replica}', row_version)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_minute_results', '{replica}', state_version)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_device_minute_results', '{replica}', state_version)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_device_partition_minute', '{replica}', row_version)",
      "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_device_last_seen', '{replica}')",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_device_hour', '{replica}', computed_at_ms)",
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/iot_device_recent', '{replica}', as_of_ms)",
    ]);
    // Every DDL statement, not the data copy of 006 (an INSERT runs once and replicates).
    const ddl = formatted.filter((q) => !/^\s*INSERT\b/i.test(q));
    expect(ddl.length).toBeGreaterThan(0);
    expect(ddl.every((q) => q.includes('ON CLUSTER analytics'))).toBe(profile.cluster !== undefined);
  });
});
