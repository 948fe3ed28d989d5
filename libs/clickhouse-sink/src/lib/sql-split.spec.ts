import path from 'node:path';
import { loadMigrationFiles, sha256Hex } from './migrations';
import { splitSqlStatements } from './sql-split';

describe('splitSqlStatements', () => {
  it('splits on ; at line end and drops -- comment lines', () => {
    const sql = [
      '-- header comment',
      'CREATE DATABASE IF NOT EXISTS x;',
      '',
      '  -- indented comment',
      'CREATE TABLE IF NOT EXISTS x.t',
      '(',
      '    a UInt8 -- trailing comments stay (the server ignores them)',
      ')',
      'ENGINE = MergeTree ORDER BY a;   ',
      '',
    ].join('\n');
    expect(splitSqlStatements(sql)).toEqual([
      'CREATE DATABASE IF NOT EXISTS x',
      'CREATE TABLE IF NOT EXISTS x.t\n(\n    a UInt8 -- trailing comments stay (the server ignores them)\n)\nENGINE = MergeTree ORDER BY a',
    ]);
  });

  it('keeps ; that is not at a line end inside the statement', () => {
    expect(splitSqlStatements("SELECT ';' AS a,\n 2;\n")).toEqual(["SELECT ';' AS a,\n 2"]);
  });

  it('returns trailing text without ; as a last statement, and nothing for blank input', () => {
    expect(splitSqlStatements('SELECT 1;\nSELECT 2\n')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(splitSqlStatements('\n-- only a comment\n  \n')).toEqual([]);
  });

  it('handles CRLF line endings', () => {
    expect(splitSqlStatements('SELECT 1;\r\n-- c\r\nSELECT 2;\r\n')).toEqual(['SELECT 1', 'SELECT 2']);
  });
});

describe('sha256Hex', () => {
  it('is the hex sha256 of the LF-normalised text', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('a\r\nb')).toBe(sha256Hex('a\nb'));
  });
});

describe('clickhouse/init files', () => {
  const dir = path.resolve(__dirname, '../../../../clickhouse/init');

  it('are named NNN_name.sql and each holds well-formed, idempotent statements', async () => {
    const files = await loadMigrationFiles(dir);
    expect(files.map((f) => f.name)).toEqual([
      '001_database.sql',
      '002_iot_window_partition_state.sql',
      '003_iot_minute_agg.sql',
      '004_dead_letter_events.sql',
      '005_iot_minute_dead_letters.sql',
      '006_iot_window_state.sql',
      '007_window_users_and_minute_rollup.sql',
      '008_minute_dead_letter_rollup.sql',
      '009_drop_legacy_tables.sql',
      '010_window_and_device_accumulators.sql',
      '011_device_minute_from_state.sql',
      '012_device_hours_and_last_seen.sql',
      '013_device_copy_written_by_client.sql',
      '014_device_hourly_final_and_recent.sql',
    ]);
    for (const f of files) {
      expect(f.name).toMatch(/^\d{3}_[a-z0-9_]+\.sql$/);
      expect(f.statements.length).toBeGreaterThan(0);
      for (const s of f.statements) {
        // one statement per block, and every CREATE is idempotent
        expect(s).not.toMatch(/;\s*$/m);
        if (/^CREATE/i.test(s)) expect(s).toMatch(/^CREATE (DATABASE|TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS /);
        expect(s).not.toMatch(/\bFINAL\b/);
      }
    }
  });
});
