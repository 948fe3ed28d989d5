/** applyMigrations against the real server at CLICKHOUSE_URL (18.16 on the development machines). */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import { MigrationChecksumError, MigrationError } from './errors';
import { applyMigrations, findMigrationsDir, loadMigrationFiles } from './migrations';

const CLICKHOUSE_URL = process.env['CLICKHOUSE_URL'];
if (!CLICKHOUSE_URL) {
  throw new Error(
    'CLICKHOUSE_URL is not set: the ClickHouse integration tests (*.int.spec.ts) need a real server, ' +
      'e.g. CLICKHOUSE_URL=http://127.0.0.1:8123 npx nx test clickhouse-sink',
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
    expect(names).toEqual(expect.arrayContaining(['iot_window_partition_state', 'iot_minute_agg', 'dead_letter_events', 'iot_minute_dead_letters', 'schema_migrations']));
  });

  describe('bookkeeping (scratch database, dropped afterwards)', () => {
    const db = `sink_test_${randomBytes(4).toString('hex')}`;
    const migrationsTable = { database: db, table: 'schema_migrations' };
    let dir: string;

    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'sink-migrations-'));
    });
    afterAll(async () => {
      rmSync(dir, { recursive: true, force: true });
      await client.command(`DROP DATABASE IF EXISTS ${db}`);
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
});
