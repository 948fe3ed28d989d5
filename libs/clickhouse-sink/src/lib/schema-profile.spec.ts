import { findMigrationsDir, loadMigrationFiles } from './migrations';
import { profileStatement, validateSchemaProfile, type SchemaProfile } from './schema-profile';

const replicated: SchemaProfile = { kind: 'replicated' };
const onCluster: SchemaProfile = { kind: 'replicated', cluster: 'analytics' };

const table = (engine: string) => `CREATE TABLE IF NOT EXISTS stream_analytics.t
(
    k UInt64
)
ENGINE = ${engine}
ORDER BY k`;

describe('profileStatement', () => {
  it('leaves every statement unchanged in the single-server profile', () => {
    const sql = table('ReplacingMergeTree(version)');
    expect(profileStatement(sql, { kind: 'single' })).toEqual({ sql });
  });

  it.each([
    ['ReplacingMergeTree(version)', "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}', version)"],
    ['ReplacingMergeTree', "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}')"],
    ['ReplacingMergeTree()', "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}')"],
    ['MergeTree', "ReplicatedMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}')"],
    ['SummingMergeTree((a, b))', "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}', (a, b))"],
    ['CollapsingMergeTree(sign)', "ReplicatedCollapsingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}', sign)"],
    ['VersionedCollapsingMergeTree(sign, ver)', "ReplicatedVersionedCollapsingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}', sign, ver)"],
    ['AggregatingMergeTree', "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}')"],
  ])('%s becomes its Replicated form with the same arguments', (engine, expected) => {
    const { sql, change } = profileStatement(table(engine), replicated);
    expect(sql).toBe(table(expected));
    expect(change).toEqual({ table: 'stream_analytics.t', engine: engine.replace(/\(.*$/, ''), replicatedEngine: expected });
  });

  it('keeps everything around the engine (PARTITION BY, ORDER BY, SETTINGS) and the IF NOT EXISTS', () => {
    const sql = `CREATE TABLE IF NOT EXISTS db.x (a UInt8) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY (a, b) SETTINGS index_granularity = 8192`;
    expect(profileStatement(sql, replicated).sql).toBe(
      `CREATE TABLE IF NOT EXISTS db.x (a UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/x', '{replica}') PARTITION BY toYYYYMM(d) ORDER BY (a, b) SETTINGS index_granularity = 8192`,
    );
  });

  it('adds ON CLUSTER after the object name of every DDL statement when a cluster is configured', () => {
    expect(profileStatement('CREATE DATABASE IF NOT EXISTS stream_analytics', onCluster).sql).toBe('CREATE DATABASE IF NOT EXISTS stream_analytics ON CLUSTER analytics');
    expect(profileStatement('CREATE VIEW IF NOT EXISTS db.v AS\nSELECT 1', onCluster).sql).toBe('CREATE VIEW IF NOT EXISTS db.v ON CLUSTER analytics AS\nSELECT 1');
    expect(profileStatement('DROP VIEW IF EXISTS db.v', onCluster).sql).toBe('DROP VIEW IF EXISTS db.v ON CLUSTER analytics');
    expect(profileStatement('ALTER TABLE db.t ADD COLUMN IF NOT EXISTS c UInt8', onCluster).sql).toBe('ALTER TABLE db.t ON CLUSTER analytics ADD COLUMN IF NOT EXISTS c UInt8');
    expect(profileStatement(table('MergeTree'), onCluster).sql).toBe(
      table("ReplicatedMergeTree('/clickhouse/tables/{shard}/stream_analytics/t', '{replica}')").replace('stream_analytics.t\n', 'stream_analytics.t ON CLUSTER analytics\n'),
    );
  });

  it('leaves views (without a cluster), already replicated tables, other engines and non-DDL alone', () => {
    const view = 'CREATE VIEW IF NOT EXISTS db.v AS SELECT * FROM db.t WHERE x = 1';
    expect(profileStatement(view, replicated)).toEqual({ sql: view });
    const already = table("ReplicatedReplacingMergeTree('/p/{shard}/t', '{replica}', version)");
    expect(profileStatement(already, replicated)).toEqual({ sql: already });
    for (const engine of ['Memory', 'Log', "Distributed(c, db, t, rand())"]) expect(profileStatement(table(engine), replicated)).toEqual({ sql: table(engine) });
    expect(profileStatement('OPTIMIZE TABLE db.t FINAL', onCluster)).toEqual({ sql: 'OPTIMIZE TABLE db.t FINAL' });
  });

  it('uses a configured ZooKeeper path, the default database for unqualified names, and a configured replica name', () => {
    const profile: SchemaProfile = { kind: 'replicated', zooKeeperPath: '/ch/{shard}/{database}.{table}/v1', replicaName: '{host}' };
    expect(profileStatement('CREATE TABLE t (k UInt8) ENGINE = MergeTree ORDER BY k', profile, 'stream_analytics').sql).toBe(
      "CREATE TABLE t (k UInt8) ENGINE = ReplicatedMergeTree('/ch/{shard}/stream_analytics.t/v1', '{host}') ORDER BY k",
    );
  });

  it('rejects profiles that would produce broken SQL', () => {
    expect(() => validateSchemaProfile({ kind: 'replicated', cluster: "x'; DROP" })).toThrow(/cluster name/);
    expect(() => validateSchemaProfile({ kind: 'replicated', zooKeeperPath: 'relative/{table}' })).toThrow(/absolute/);
    expect(() => validateSchemaProfile({ kind: 'replicated', zooKeeperPath: '/same/path/for/every/table' })).toThrow(/\{table\}/);
    expect(() => validateSchemaProfile({ kind: 'replicated', cluster: 'ok_name-1' })).not.toThrow();
  });

  it('replicates every table of clickhouse/init and nothing else', async () => {
    const files = await loadMigrationFiles(findMigrationsDir(__dirname));
    for (const f of files) {
      for (const s of f.statements) {
        const { sql, change } = profileStatement(s, replicated);
        const isMergeTreeTable = /^CREATE TABLE/i.test(s) && /ENGINE\s*=\s*\w*MergeTree/i.test(s);
        expect(change !== undefined).toBe(isMergeTreeTable);
        if (change) expect(sql).toMatch(new RegExp(`ENGINE = Replicated${change.engine}\\('/clickhouse/tables/\\{shard\\}/${change.table.replace('.', '/')}', '\\{replica\\}'`));
        else expect(sql).toBe(s);
      }
    }
  });
});
