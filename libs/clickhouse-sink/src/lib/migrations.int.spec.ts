/** applyMigrations and migrateSchema against the real server at CLICKHOUSE_URL (18.16 on the development machines). */
import { freePort } from '@stream-analytics/testing';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import { MigrationChecksumError, MigrationError } from './errors';
import { deadLetterReplayScenario, deadLetterScenario, forDatabase, legacyScenario, MINUTE, sortStates } from '../testing/history';
import { applyMigrations, findMigrationsDir, loadMigrationFiles, migrateSchema, SchemaServerUnreachableError } from './migrations';
import { deadLetterCountsQuery, minuteAggQuery, parseDeadLetterCountRow, parseMinuteAggRow, readMinuteAggWindows, readWindowStates, VIEW_READ_SETTINGS } from './readers';
import { expectedDeadLetterCounts, expectedMinuteAgg } from '../testing/oracle';
import type { RetryInfo } from './retry';
import { toDeadLetterRecord } from './rows';
import { WindowRowWriter } from './writer';

const CLICKHOUSE_URL = process.env['CLICKHOUSE_URL'];
if (!CLICKHOUSE_URL) {
  throw new Error(
    'CLICKHOUSE_URL is not set: the ClickHouse integration tests (*.int.spec.ts) need a real server, ' +
      'e.g. CLICKHOUSE_URL=http://127.0.0.1:8123 npx nx integration clickhouse-sink',
  );
}

jest.setTimeout(120_000);

let client: ClickHouseSinkClient;

beforeAll(() => {
  client = createClickHouseClient({
    url: CLICKHOUSE_URL,
    username: process.env['CLICKHOUSE_USER'],
    password: process.env['CLICKHOUSE_PASSWORD'],
  });
});
afterAll(async () => {
  await client?.close();
});

/** A scratch database and migrations folder for one describe block, both removed afterwards. */
function scratchDatabase(prefix: string): { db: string; migrationsTable: { database: string; table: string }; dir: () => string } {
  const db = `${prefix}_${randomBytes(4).toString('hex')}`;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  });
  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await client.command(`DROP DATABASE IF EXISTS ${db}`);
  });
  return { db, migrationsTable: { database: db, table: 'schema_migrations' }, dir: () => dir };
}

async function snapshot(): Promise<unknown> {
  return {
    tables: await client.queryRows(
      `SELECT name, engine, toString(metadata_modification_time) AS mtime, create_table_query
       FROM system.tables WHERE database = 'stream_analytics' ORDER BY name`,
    ),
    columns: await client.queryRows(
      `SELECT table, name, type, default_kind, default_expression
       FROM system.columns WHERE database = 'stream_analytics' ORDER BY table, name`,
    ),
    migrations: await client.queryRows(
      `SELECT name, checksum FROM stream_analytics.schema_migrations GROUP BY name, checksum ORDER BY name`,
    ),
  };
}

describe('applyMigrations on the real server', () => {
  it('applies clickhouse/init and a second run changes nothing', async () => {
    const dir = findMigrationsDir(__dirname);
    const files = await loadMigrationFiles(dir);
    await applyMigrations(client, dir); // may apply or skip, depending on the server's history

    const before = await snapshot();
    const countBefore = await client.queryRows<{ c: string }>('SELECT count() AS c FROM stream_analytics.schema_migrations');
    const second = await applyMigrations(client, dir);
    const after = await snapshot();
    const countAfter = await client.queryRows<{ c: string }>('SELECT count() AS c FROM stream_analytics.schema_migrations');

    expect(second.applied).toEqual([]);
    expect(second.skipped).toEqual(files.map((f) => f.name));
    expect(after).toEqual(before);
    expect(countAfter).toEqual(countBefore);
    expect((after as { migrations: unknown[] }).migrations).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
    const names = ((after as { tables: { name: string }[] }).tables).map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'iot_window_state',
        'iot_window_users',
        'iot_minute_merged',
        'iot_minute_rollup',
        'iot_minute_agg',
        'dead_letters',
        'iot_minute_dead_letters',
        'schema_migrations',
      ]),
    );
    // 009 dropped the tables no release reads any more
    expect(names).not.toEqual(expect.arrayContaining(['iot_window_partition_state']));
    expect(names).not.toEqual(expect.arrayContaining(['dead_letter_events']));
    const state = (after as { tables: { name: string; engine: string; create_table_query: string }[] }).tables.find((t) => t.name === 'iot_window_state');
    expect(state?.engine).toBe('ReplacingMergeTree');
    expect(state?.create_table_query).toMatch(/ReplacingMergeTree\(row_version\)/);
  });

  describe('006, 007, 008 and 010 on a database that holds rows of the old tables (scratch database, dropped afterwards)', () => {
    const { db, migrationsTable, dir: scratchDir } = scratchDatabase('sink_legacy');
    let dir: string;
    beforeAll(() => {
      dir = scratchDir();
    });

    /** The init files, rewritten for the scratch database (they name stream_analytics literally). */
    async function writeFiles(only: (name: string) => boolean): Promise<void> {
      for (const f of await loadMigrationFiles(findMigrationsDir(__dirname))) {
        if (only(f.name)) writeFileSync(path.join(dir, f.name), f.statements.map((s) => `${forDatabase(s, db)};\n`).join('\n'));
      }
    }
    /** The library's own reads, aimed at the scratch database. */
    const scratch = {
      queryRows: (sql: string, options?: Parameters<ClickHouseSinkClient['queryRows']>[1]) => client.queryRows(forDatabase(sql, db), options),
    } as unknown as ClickHouseSinkClient;

    it('006 copies the old rows with row_version = version * 2 + is_final; 007 keeps every result and dead-letter count; 008 materializes the same dead-letter counts; a second run changes nothing', async () => {
      const w0 = Date.UTC(1985, 5, 1, 12, 0);
      const topic = 'legacy.raw';
      const legacy = legacyScenario(topic, w0);
      await writeFiles((name) => name < '006');
      expect((await applyMigrations(client, dir, { migrationsTable })).applied).toEqual(['001_database.sql', '002_iot_window_partition_state.sql', '003_iot_minute_agg.sql', '004_dead_letter_events.sql', '005_iot_minute_dead_letters.sql']);
      // rows of separate flushes, not merged yet
      await client.command(`SYSTEM STOP MERGES ${db}.iot_window_partition_state`);
      for (const r of legacy.rows) await client.insertJsonEachRow(`${db}.iot_window_partition_state`, [r]);
      expect(Number((await client.queryRows<{ c: string }>(`SELECT count() AS c FROM ${db}.iot_window_partition_state`))[0].c)).toBe(legacy.rows.length);

      await writeFiles((name) => name.startsWith('006'));
      expect(await applyMigrations(client, dir, { migrationsTable })).toMatchObject({ applied: ['006_iot_window_state.sql'] });

      const copiedRows = async (final: string): Promise<unknown[][]> =>
        (
          await client.queryRows<Record<string, unknown>>(
            `SELECT toUInt32(window_start) AS ws, source_topic, source_partition, total_events, late_events, last_offset, is_final, row_version, updated_at_ms
             FROM ${db}.iot_window_state ${final} ORDER BY source_topic, ws, source_partition, row_version`,
          )
        ).map((r) => Object.values(r).map((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v)));
      const asColumns = (r: (typeof legacy.copied)[number]) => [r.windowStartMs / 1000, r.sourceTopic, r.sourcePartition, r.totalEvents, 0, r.lastOffset, r.isFinal ? 1 : 0, r.rowVersion, r.updatedAtMs];
      const copied = await copiedRows('');
      expect(legacy.copied.map(asColumns)).toEqual(expect.arrayContaining(copied));
      expect(copied.length).toBeGreaterThanOrEqual(legacy.newestPerKey.length);
      expect(await copiedRows('FINAL')).toEqual(legacy.newestPerKey.map(asColumns));

      const readAgg = async () =>
        (await client.queryRows<Record<string, unknown>>(forDatabase(minuteAggQuery(w0, w0 + 2 * MINUTE), db), { settings: VIEW_READ_SETTINGS })).map(parseMinuteAggRow);
      const agg = await readAgg();
      expect(agg).toEqual(expectedMinuteAgg(legacy.copied, legacy.users));
      expect(agg.map((a) => a.uniqueUsers)).toEqual([56, 1]);

      // dead letters recorded by the previous schema (monthly table dead_letter_events)
      const dlq = deadLetterScenario(topic, w0);
      for (const b of dlq.batches) await client.insertJsonEachRow(`${db}.dead_letter_events`, b.map(toDeadLetterRecord));
      const readDlq = async (toMs = w0 + 2 * MINUTE) =>
        (await client.queryRows<Record<string, unknown>>(forDatabase(deadLetterCountsQuery(w0, toMs), db), { settings: VIEW_READ_SETTINGS })).map(parseDeadLetterCountRow);
      expect(await readDlq()).toEqual(dlq.expected);
      expect(dlq.expected).toEqual(expectedDeadLetterCounts(dlq.batches.flat()));

      // 007 over those rows: users rows from the state rows' arrays, the results in the rollup, dead letters by day
      await writeFiles((name) => name.startsWith('007'));
      expect(await applyMigrations(client, dir, { migrationsTable })).toMatchObject({ applied: ['007_window_users_and_minute_rollup.sql'] });
      expect(await readAgg()).toEqual(agg);
      expect(await readMinuteAggWindows(scratch, [w0, w0 + MINUTE])).toEqual(agg);
      expect(await readDlq()).toEqual(dlq.expected);
      expect(Number((await client.queryRows<{ c: string }>(`SELECT count() AS c FROM ${db}.iot_window_users FINAL`))[0].c)).toBe(56 + 1);

      // dead letters recorded under 007 (daily table, no rollup yet), replays included, then 008 over all of
      // them: the materialized counts equal what the 007 view counted from the same rows
      const w2 = w0 + 10 * MINUTE;
      const replays = deadLetterReplayScenario(topic, w2);
      const writer007 = new WindowRowWriter(client, { deadLetterTable: `${db}.dead_letters` });
      for (const f of replays.flushes) await writer007.writeDeadLetters(f);
      const counts007 = await readDlq(w2 + 2 * MINUTE);
      expect(counts007).toEqual([...dlq.expected, ...replays.expected[2]]);
      await writeFiles((name) => name.startsWith('008'));
      expect(await applyMigrations(client, dir, { migrationsTable })).toMatchObject({ applied: ['008_minute_dead_letter_rollup.sql'] });
      expect(await readDlq(w2 + 2 * MINUTE)).toEqual(counts007);
      expect(Number((await client.queryRows<{ c: string }>(`SELECT count() AS c FROM ${db}.iot_minute_dead_letter_rollup`))[0].c)).toBe(counts007.length);
      expect(await readAgg()).toEqual(agg);

      // 009 and later: the legacy tables go, nothing readers see changes
      await writeFiles((name) => name >= '009');
      const later = (await applyMigrations(client, dir, { migrationsTable })).applied;
      expect(later[0]).toBe('009_drop_legacy_tables.sql');
      expect(await client.queryRows(`SELECT name FROM system.tables WHERE database = '${db}' AND name IN ('iot_window_partition_state', 'dead_letter_events')`)).toEqual([]);
      expect(await readAgg()).toEqual(agg);
      expect(await readDlq(w2 + 2 * MINUTE)).toEqual(counts007);

      // 010 and later: the fleet state rows and the results move to the accumulator tables, the same counts
      expect(later).toEqual(expect.arrayContaining(['010_window_and_device_accumulators.sql']));
      const states = sortStates(await readWindowStates(scratch, topic, legacy.wanted));
      expect(states).toEqual(legacy.expected);
      expect(states.find((s) => s.sourcePartition === 0 && s.windowStartMs === w0)).toMatchObject({ isFinal: true, lastOffset: 10, rowVersion: 21, totalEvents: 6 });
      expect(await readAgg()).toEqual(agg);

      // all files again: applyMigrations skips them; run verbatim (a run that crashed before recording a
      // file, or two instances migrating at once, applies it again), the data stays the same
      await writeFiles(() => true);
      expect(await applyMigrations(client, dir, { migrationsTable })).toMatchObject({ applied: [] });
      for (const f of await loadMigrationFiles(dir)) for (const s of f.statements) await client.command(s);
      expect(sortStates(await readWindowStates(scratch, topic, legacy.wanted))).toEqual(legacy.expected);
      expect(await readAgg()).toEqual(agg);
      expect(await readDlq(w2 + 2 * MINUTE)).toEqual(counts007);
      expect(await copiedRows('FINAL')).toEqual(legacy.newestPerKey.map(asColumns));
    });
  });

  describe('bookkeeping (scratch database, dropped afterwards)', () => {
    const { db, migrationsTable, dir: scratchDir } = scratchDatabase('sink_test');
    let dir: string;
    beforeAll(() => {
      dir = scratchDir();
    });

    it('records files, skips recorded ones, names an edited file, and stops at a failing statement', async () => {
      writeFileSync(path.join(dir, '001_a.sql'), `-- first\nCREATE TABLE IF NOT EXISTS ${db}.a (x UInt8)\nENGINE = MergeTree ORDER BY x;\n`);
      const first = await applyMigrations(client, dir, { migrationsTable });
      expect(first).toEqual({ applied: ['001_a.sql'], skipped: [], unreachable: [] });

      writeFileSync(path.join(dir, '002_b.sql'), `CREATE TABLE IF NOT EXISTS ${db}.b (x UInt8) ENGINE = MergeTree ORDER BY x;\nINSERT INTO ${db}.b VALUES (1);\n`);
      const events: string[] = [];
      const second = await applyMigrations(client, dir, { migrationsTable, onFile: (e) => events.push(`${e.action}:${e.name}`) });
      expect(second).toEqual({ applied: ['002_b.sql'], skipped: ['001_a.sql'], unreachable: [] });
      expect(events).toEqual(['skipped:001_a.sql', 'applied:002_b.sql']);
      // 002 ran exactly once
      expect(Number((await client.queryRows<{ c: string }>(`SELECT count() AS c FROM ${db}.b`))[0].c)).toBe(1);

      writeFileSync(path.join(dir, '001_a.sql'), `CREATE TABLE IF NOT EXISTS ${db}.a (x UInt16)\nENGINE = MergeTree ORDER BY x;\n`);
      const err = await applyMigrations(client, dir, { migrationsTable }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationChecksumError);
      expect((err as MigrationChecksumError).file).toBe('001_a.sql');
      expect((err as Error).message).toMatch(/001_a\.sql.*immutable/s);

      // restore, then a broken new file: error names it, it is not recorded, later files do not run
      writeFileSync(path.join(dir, '001_a.sql'), `-- first\nCREATE TABLE IF NOT EXISTS ${db}.a (x UInt8)\nENGINE = MergeTree ORDER BY x;\n`);
      writeFileSync(path.join(dir, '003_broken.sql'), `CREATE TABLE IF NOT EXISTS ${db}.c (x UInt8) ENGINE = NoSuchEngine;\n`);
      writeFileSync(path.join(dir, '004_after.sql'), `CREATE TABLE IF NOT EXISTS ${db}.d (x UInt8) ENGINE = MergeTree ORDER BY x;\n`);
      const broken = await applyMigrations(client, dir, { migrationsTable }).catch((e: unknown) => e);
      expect(broken).toBeInstanceOf(MigrationError);
      expect((broken as MigrationError).file).toBe('003_broken.sql');
      const recorded = await client.queryRows<{ name: string }>(`SELECT name FROM ${db}.schema_migrations GROUP BY name ORDER BY name`);
      expect(recorded.map((r) => r.name)).toEqual(['001_a.sql', '002_b.sql']);
      expect(await client.queryRows(`SELECT name FROM system.tables WHERE database = '${db}' AND name = 'd'`)).toEqual([]);
    });
  });

  describe('migrateSchema: what is waited for and what fails at once (scratch database, dropped afterwards)', () => {
    const { db, migrationsTable, dir: scratchDir } = scratchDatabase('sink_migrate');

    it('an edited applied file and a rejected statement fail at the first attempt, with the runner\'s sentence', async () => {
      const dir = scratchDir();
      const retries: RetryInfo[] = [];
      const options = { migrationsTable, waitMs: 60_000, onRetry: (i: RetryInfo) => retries.push(i) };
      writeFileSync(path.join(dir, '001_a.sql'), `CREATE TABLE IF NOT EXISTS ${db}.a (x UInt8) ENGINE = MergeTree ORDER BY x;\n`);
      expect(await migrateSchema(client, dir, options)).toEqual({ applied: ['001_a.sql'], skipped: [], unreachable: [] });
      expect(await migrateSchema(client, dir, options)).toEqual({ applied: [], skipped: ['001_a.sql'], unreachable: [] });

      writeFileSync(path.join(dir, '001_a.sql'), `CREATE TABLE IF NOT EXISTS ${db}.a (x UInt16) ENGINE = MergeTree ORDER BY x;\n`);
      const edited = await migrateSchema(client, dir, options).catch((e: unknown) => e);
      expect(edited).toBeInstanceOf(MigrationChecksumError);
      expect((edited as Error).message).toMatch(/^Migration 001_a\.sql was already applied with checksum [0-9a-f]{64}, but the file now has checksum [0-9a-f]{64}\. Applied migration files are immutable/);

      writeFileSync(path.join(dir, '001_a.sql'), `CREATE TABLE IF NOT EXISTS ${db}.a (x UInt8) ENGINE = MergeTree ORDER BY x;\n`);
      writeFileSync(path.join(dir, '002_broken.sql'), `CREATE TABLE IF NOT EXISTS ${db}.b (x UInt8) ENGINE = NoSuchEngine;\n`);
      const broken = await migrateSchema(client, dir, options).catch((e: unknown) => e);
      expect(broken).toBeInstanceOf(MigrationError);
      expect((broken as MigrationError).file).toBe('002_broken.sql');
      expect(retries).toEqual([]);
    });

    it('an unreachable server is retried with a callback per attempt, then fails with one sentence naming it', async () => {
      const closed = await freePort(); // nothing listens there
      const unreachable = createClickHouseClient({ url: `http://127.0.0.1:${closed}` });
      const retries: RetryInfo[] = [];
      try {
        const err = await migrateSchema(unreachable, findMigrationsDir(__dirname), { waitMs: 1500, initialDelayMs: 100, maxDelayMs: 200, onRetry: (i) => retries.push(i) }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SchemaServerUnreachableError);
        expect((err as Error).message).toMatch(new RegExp(`^ClickHouse at http://127\\.0\\.0\\.1:${closed} did not answer within 2 s \\(.*ECONNREFUSED.*\\); start it or correct CLICKHOUSE_URL, then run the migration again\\.$`));
        expect(retries.length).toBeGreaterThanOrEqual(2);
        expect(retries.map((r) => r.attempt)).toEqual(retries.map((_, i) => i + 1));
      } finally {
        await unreachable.close();
      }
    });

    it('stops waiting when its signal fires', async () => {
      const unreachable = createClickHouseClient({ url: `http://127.0.0.1:${await freePort()}` });
      const stop = new AbortController();
      try {
        const pending = migrateSchema(unreachable, findMigrationsDir(__dirname), { initialDelayMs: 100, maxDelayMs: 100, signal: stop.signal, onRetry: () => stop.abort() });
        await expect(pending).rejects.toThrow(/aborted after 1 attempt/);
      } finally {
        await unreachable.close();
      }
    });
  });
});
