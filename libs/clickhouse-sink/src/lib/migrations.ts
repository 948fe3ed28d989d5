import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { errorMessage, isConnectionError, isRetryableError, MigrationChecksumError, MigrationError, NonRetryableClickHouseError, RetriesExhaustedError } from './errors';
import { retryWithBackoff, type RetryInfo } from './retry';
import { splitSqlStatements } from './sql-split';
import { DATABASE } from './schema';
import { profileStatement, SINGLE_SERVER_PROFILE, validateSchemaProfile, type SchemaProfile } from './schema-profile';

/**
 * What the runner needs of a server: a ClickHouseSinkClient, or any
 * engine that answers the same calls (tests run the runner on an embedded
 * ClickHouse, see {@link sessionMigrationTarget}).
 */
export interface MigrationTarget {
  readonly config: { readonly url: string; readonly urls: readonly string[] };
  command(sql: string): Promise<void>;
  queryRows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  insertJsonEachRow(table: string, rows: readonly object[]): Promise<void>;
  /** One endpoint of several (replicated profile without a cluster, applied per node). */
  forEndpoint?(url: string): MigrationTarget & { close(): Promise<void> };
}

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
  onFile?: (event: { name: string; action: 'applied' | 'skipped'; endpoint: string }) => void;
  /**
   * How the files' statements are applied (default: the single-server
   * profile, verbatim). `replicated` without a cluster applies them on every
   * endpoint of the client (each node records its own migrations); with a
   * cluster, once, `ON CLUSTER`.
   */
  profile?: SchemaProfile;
}

export interface ApplyMigrationsResult {
  applied: string[];
  skipped: string[];
  /** Per-node replicated profile: endpoints that did not answer and were left out (they keep the schema they had). */
  unreachable: string[];
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
  client: MigrationTarget,
  dir: string,
  options: ApplyMigrationsOptions = {},
): Promise<ApplyMigrationsResult> {
  const profile = options.profile ?? SINGLE_SERVER_PROFILE;
  validateSchemaProfile(profile);
  const replicatedTables: string[] = [];
  const files = (await loadMigrationFiles(dir)).map((f) => ({
    ...f,
    statements: f.statements.map((s) => {
      const { sql, change } = profileStatement(s, profile);
      if (change) replicatedTables.push(change.table);
      return sql;
    }),
  }));
  if (profile.kind === 'single' || profile.cluster || client.config.urls.length === 1) {
    const result = await applyOnNode(client, files, options);
    if (profile.kind === 'replicated') await expectReplicatedTables(client, replicatedTables);
    return result;
  }
  // Per node: the same statements on every replica (the {shard}/{replica}
  // macros of each server make them one replicated table).
  const combined: ApplyMigrationsResult = { applied: [], skipped: [], unreachable: [] };
  let lastUnreachable: unknown;
  const forEndpoint = client.forEndpoint?.bind(client);
  if (!forEndpoint) throw new Error('applying migrations per node needs a client that can address each endpoint (forEndpoint)');
  for (const url of client.config.urls) {
    const node = forEndpoint(url);
    try {
      const r = await applyOnNode(node, files, options);
      await expectReplicatedTables(node, replicatedTables);
      for (const name of r.applied) if (!combined.applied.includes(name)) combined.applied.push(name);
      for (const name of r.skipped) if (!combined.skipped.includes(name) && !combined.applied.includes(name)) combined.skipped.push(name);
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      combined.unreachable.push(url);
      lastUnreachable = err;
    } finally {
      await node.close();
    }
  }
  if (combined.unreachable.length === client.config.urls.length) throw lastUnreachable;
  return combined;
}

/**
 * A table the replicated profile should have made Replicated* that exists
 * with a plain engine (created earlier by the single-server profile) is an
 * error: `IF NOT EXISTS` skipped it, and it would silently stay unreplicated.
 */
async function expectReplicatedTables(client: MigrationTarget, tables: readonly string[]): Promise<void> {
  if (tables.length === 0) return;
  const rows = await client.queryRows<{ t: string; engine: string }>(
    `SELECT concat(database, '.', name) AS t, engine FROM system.tables WHERE engine NOT LIKE 'Replicated%' AND concat(database, '.', name) IN (${tables.map((t) => `'${t}'`).join(', ')})`,
  );
  if (rows.length > 0) {
    throw new MigrationError(
      'replicated profile',
      0,
      new Error(
        `${rows.map((r) => `${r.t} (${r.engine})`).join(', ')} exist(s) without replication on this node; the replicated profile cannot convert an existing table ` +
          '(create the Replicated table under a new name and move the data, or start from an empty node)',
      ),
    );
  }
}

async function applyOnNode(client: MigrationTarget, files: readonly MigrationFile[], options: ApplyMigrationsOptions): Promise<ApplyMigrationsResult> {
  const { database, table } = options.migrationsTable ?? { database: DATABASE, table: 'schema_migrations' };
  const endpoint = client.config.url;
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

  const result: ApplyMigrationsResult = { applied: [], skipped: [], unreachable: [] };
  for (const f of files) {
    if (recorded.has(f.name)) {
      result.skipped.push(f.name);
      options.onFile?.({ name: f.name, action: 'skipped', endpoint });
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
    options.onFile?.({ name: f.name, action: 'applied', endpoint });
  }
  return result;
}

export interface MigrateSchemaOptions extends ApplyMigrationsOptions {
  /**
   * Give up when the server has not answered (or kept failing transiently) for this long (ms) and throw
   * {@link SchemaServerUnreachableError}. Default: wait until `signal` fires.
   */
  waitMs?: number;
  /** Called before each retry (for a log line). */
  onRetry?: (info: RetryInfo) => void;
  /** Stops waiting (shutdown); the call then rejects with WriteAbortedError. */
  signal?: AbortSignal;
  /**
   * A failure retrying cannot fix although it looks transient (e.g. an
   * untrusted TLS certificate): return the sentence to fail with, else undefined.
   */
  fatal?: (err: unknown) => string | undefined;
  /** Backoff between attempts. Default 1000 ms, growing to 5000 ms. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Statement failures that pass by themselves: ZooKeeper (Keeper) away or a
 * replica read-only meanwhile, distributed DDL slower than its timeout, and
 * another instance creating the same object at the same moment (several
 * aggregators starting at once; IF NOT EXISTS is not atomic across replicas),
 * which the next attempt finds in place. Any other error the server reports
 * for a migration statement is the statement's own (bad SQL, an unknown
 * engine) and repeating it cannot help.
 */
const TRANSIENT_STATEMENT_CODES: ReadonlySet<number> = new Set([
  57, // TABLE_ALREADY_EXISTS
  82, // DATABASE_ALREADY_EXISTS
  159, // TIMEOUT_EXCEEDED
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  225, // NO_ZOOKEEPER
  242, // TABLE_IS_READ_ONLY
  253, // REPLICA_IS_ALREADY_EXIST
  999, // KEEPER_EXCEPTION
]);

function isRetryableMigrationFailure(err: unknown): boolean {
  if (err instanceof MigrationError) return isConnectionError(err) || TRANSIENT_STATEMENT_CODES.has(err.clickhouseCode ?? -1);
  return isRetryableError(err);
}

/** The server did not answer, or kept failing transiently, for MigrateSchemaOptions.waitMs. */
export class SchemaServerUnreachableError extends NonRetryableClickHouseError {}

/**
 * {@link applyMigrations} as the one way the schema is applied (the
 * aggregator at start and with --migrate-only, the local stack, compose and
 * Kubernetes through those): an unreachable or overloaded server is waited
 * for, with a retry callback per attempt; an edited applied file, a statement
 * the server rejects, or bad credentials fail at once.
 */
export async function migrateSchema(client: MigrationTarget, dir: string, options: MigrateSchemaOptions = {}): Promise<ApplyMigrationsResult> {
  const { waitMs, onRetry, signal, fatal, initialDelayMs = 1000, maxDelayMs = 5000, ...apply } = options;
  try {
    return await retryWithBackoff(
      `migrate ${client.config.urls.join(',')}`,
      async () => {
        try {
          return await applyMigrations(client, dir, apply);
        } catch (err) {
          const sentence = fatal?.(err);
          if (sentence) throw new NonRetryableClickHouseError(sentence, { cause: err });
          throw err;
        }
      },
      { initialDelayMs, maxDelayMs, deadlineMs: waitMs, onRetry, signal, isRetryable: isRetryableMigrationFailure },
    );
  } catch (err) {
    if (err instanceof RetriesExhaustedError) {
      const at = `ClickHouse at ${client.config.urls.join(', ')}`;
      const secs = Math.round((waitMs ?? 0) / 1000);
      const last = errorMessage(err.lastError).split('\n')[0];
      throw new SchemaServerUnreachableError(
        isConnectionError(err.lastError)
          ? `${at} did not answer within ${secs} s (${last}); start it or correct CLICKHOUSE_URL, then run the migration again.`
          : `${at} kept failing the migration for ${secs} s: ${last}`,
        { cause: err.lastError },
      );
    }
    throw err;
  }
}
