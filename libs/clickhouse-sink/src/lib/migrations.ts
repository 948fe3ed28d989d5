import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ClickHouseSinkClient } from './client';
import { MigrationChecksumError, MigrationError } from './errors';
import { splitSqlStatements } from './sql-split';
import { DATABASE } from './schema';

export interface MigrationFile {
  /** File name, e.g. `002_iot_window_partition_state.sql`; the record key. */
  name: string;
  path: string;
  /** sha256 (hex) of the content with line endings normalised to LF. */
  checksum: string;
  statements: string[];
}

export interface ApplyMigrationsOptions {
  /** Bookkeeping table. Default stream_analytics.schema_migrations (tests use a scratch database). */
  migrationsTable?: { database: string; table: string };
  /** Progress callback, e.g. for logging. */
  onFile?: (event: { name: string; action: 'applied' | 'skipped' }) => void;
}

export interface ApplyMigrationsResult {
  applied: string[];
  skipped: string[];
}

export function sha256Hex(content: string): string {
  return createHash('sha256').update(content.replace(/\r\n?/g, '\n'), 'utf8').digest('hex');
}

/** Reads `dir/*.sql` in lexical order of file name. */
export async function loadMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const p = path.join(dir, name);
    const content = await fs.readFile(p, 'utf8');
    files.push({ name, path: p, checksum: sha256Hex(content), statements: splitSqlStatements(content) });
  }
  return files;
}

/** Finds `clickhouse/init` in `start` or one of its ancestors (e.g. from an app's dist folder or a test). */
export function findMigrationsDir(start: string = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    const candidate = path.join(dir, 'clickhouse', 'init');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no clickhouse/init folder in ${start} or any parent`);
    dir = parent;
  }
}

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function schemaMigrationsDdl(database: string = DATABASE, table = 'schema_migrations'): string[] {
  if (!IDENT_RE.test(database) || !IDENT_RE.test(table)) throw new Error(`invalid migrations table ${database}.${table}`);
  return [
    `CREATE DATABASE IF NOT EXISTS ${database}`,
    `CREATE TABLE IF NOT EXISTS ${database}.${table}
(
    name String,
    checksum String,
    applied_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY name`,
  ];
}

/**
 * Applies `dir/*.sql` in lexical order. Every file already recorded in the
 * migrations table (by name) is skipped; a recorded file whose checksum changed
 * raises MigrationChecksumError naming it (applied files are immutable: add a
 * new file). Each newly applied file is recorded after all its statements
 * succeeded. The files themselves are idempotent, so a crash half-way, or two
 * instances migrating at once, is harmless.
 */
export async function applyMigrations(
  client: ClickHouseSinkClient,
  dir: string,
  options: ApplyMigrationsOptions = {},
): Promise<ApplyMigrationsResult> {
  const { database, table } = options.migrationsTable ?? { database: DATABASE, table: 'schema_migrations' };
  const files = await loadMigrationFiles(dir);
  for (const ddl of schemaMigrationsDdl(database, table)) await client.command(ddl);

  const recorded = new Map<string, Set<string>>();
  const rows = await client.queryRows<{ name: string; checksum: string }>(
    `SELECT name, checksum FROM ${database}.${table} GROUP BY name, checksum`,
  );
  for (const r of rows) {
    const set = recorded.get(r.name) ?? new Set<string>();
    set.add(r.checksum);
    recorded.set(r.name, set);
  }

  // Verify everything first, so an edited file stops the run before any change.
  for (const f of files) {
    const checksums = recorded.get(f.name);
    if (!checksums) continue;
    for (const c of checksums) if (c !== f.checksum) throw new MigrationChecksumError(f.name, c, f.checksum);
  }

  const result: ApplyMigrationsResult = { applied: [], skipped: [] };
  for (const f of files) {
    if (recorded.has(f.name)) {
      result.skipped.push(f.name);
      options.onFile?.({ name: f.name, action: 'skipped' });
      continue;
    }
    for (let i = 0; i < f.statements.length; i++) {
      try {
        await client.command(f.statements[i]);
      } catch (err) {
        throw new MigrationError(f.name, i, err);
      }
    }
    await client.insertJsonEachRow(`${database}.${table}`, [
      { name: f.name, checksum: f.checksum, applied_at: Math.floor(Date.now() / 1000) },
    ]);
    result.applied.push(f.name);
    options.onFile?.({ name: f.name, action: 'applied' });
  }
  return result;
}
