/**
 * Enforces the retention rules (retention.ts) on a server: drops the expired
 * whole-day partitions, and on servers with table TTL also sets the TTL, so
 * the server itself expires rows even while no job runs.
 *
 * - ClickHouse 18.16 has no TTL: the dropped partitions are the whole
 *   enforcement. `ALTER TABLE t DROP PARTITION ID '20261101'` names the
 *   partition by the id system.parts lists, which works on every release
 *   (18.16 also takes the unquoted `DROP PARTITION 20261101`, but rejects the
 *   quoted literal for the UInt32 key: "Type mismatch"). Dropping a partition
 *   that is gone already is a no-op, so two runs at once are harmless.
 * - Servers with TTL (19.6 and later): the same drops, then
 *   `MODIFY TTL window_start + INTERVAL N DAY` on each table whose TTL
 *   differs. TTL removes rows whose window started N days ago or earlier,
 *   which never reaches into the retention either. Setting the same TTL again
 *   is never sent (idempotent in effect anyway).
 * - Replicated profile: DROP PARTITION and MODIFY TTL on a Replicated* table
 *   go through its replication log, so one statement on one replica reaches
 *   every replica of the shard. Without a cluster name they are sent once,
 *   through the client's endpoint in use; with one, `ON CLUSTER` is added as
 *   for every other DDL of the profile (profileStatement), and the server runs
 *   an ALTER of a replicated table once per shard.
 */
import type { ClickHouseSettings } from '@clickhouse/client';
import type { RequestOptions, ServerVersion } from './client';
import { expiredPartitions, retentionPolicyProblem, retentionTables, tableTtlOf, ttlExpression, RETENTION_TIME_COLUMN, type RetentionClass, type RetentionPolicy } from './retention';
import { DATABASE } from './schema';
import { profileStatement, SINGLE_SERVER_PROFILE, validateSchemaProfile, type SchemaProfile } from './schema-profile';

/** What applyRetention needs of a client (ClickHouseSinkClient has it; tests adapt other engines). */
export interface RetentionClient {
  queryRows<T = Record<string, unknown>>(sql: string, options?: RequestOptions): Promise<T[]>;
  command(sql: string, options?: RequestOptions): Promise<void>;
  serverVersion(): Promise<ServerVersion>;
}

export interface ApplyRetentionOptions {
  /** How DDL is applied (ON CLUSTER with a cluster name); default the single-server profile. */
  profile?: SchemaProfile;
  /** Database holding the tables; default stream_analytics (tests use a scratch database). */
  database?: string;
}

export interface DroppedPartition {
  /** `database.table` as named in the schema (TABLES). */
  table: string;
  cls: RetentionClass;
  partitionId: string;
  /** The partition's UTC day, `YYYY-MM-DD`. */
  day: string;
  /** Rows of its active parts when it was listed. */
  rows: number;
}

export interface TtlChange {
  table: string;
  days: number;
  /** The TTL the table had (undefined: none). */
  previous?: string;
}

export interface RetentionRunResult {
  nowMs: number;
  server: string;
  dropped: DroppedPartition[];
  /** Whether the server has table TTL; when false, `ttlSet` is empty. */
  ttlSupported: boolean;
  ttlSet: TtlChange[];
}

/** Table TTL (and ALTER ... MODIFY TTL) exists since ClickHouse 19.6. */
export function supportsTableTtl(v: ServerVersion): boolean {
  return v.major > 19 || (v.major === 19 && v.minor >= 6);
}

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const nameOf = (table: string) => table.slice(table.indexOf('.') + 1);
const quoteList = (names: readonly string[]) => names.map((n) => `'${n}'`).join(', ');

/**
 * One retention run at `nowMs`: lists the active parts of the tables under
 * retention, drops the partitions whose whole day expired, then (servers with
 * TTL) sets each table's TTL where it differs. Throws on the first failure;
 * everything it does is idempotent, so the next run simply retries.
 */
export async function applyRetention(
  client: RetentionClient,
  policy: RetentionPolicy,
  nowMs: number = Date.now(),
  options: ApplyRetentionOptions = {},
): Promise<RetentionRunResult> {
  const problem = retentionPolicyProblem(policy);
  if (problem) throw new RangeError(problem);
  const profile = options.profile ?? SINGLE_SERVER_PROFILE;
  validateSchemaProfile(profile);
  const database = options.database ?? DATABASE;
  if (!IDENT_RE.test(database)) throw new Error(`invalid database name ${JSON.stringify(database)}`);
  const tables = retentionTables(policy);
  const logical = new Map(tables.map((t) => [nameOf(t.table), t.table]));
  const physical = (table: string) => `${database}.${nameOf(table)}`;
  const ddl = (sql: string) => profileStatement(sql, profile).sql;

  const version = await client.serverVersion();
  const parts = await client.queryRows<{ table: string; partition_id: string; rows: number | string }>(
    `SELECT table, partition_id, sum(rows) AS rows FROM system.parts
     WHERE active AND database = '${database}' AND table IN (${quoteList([...logical.keys()])})
     GROUP BY table, partition_id ORDER BY table, partition_id`,
  );
  const present = parts.map((p) => ({ table: logical.get(p.table) ?? p.table, partitionId: p.partition_id, rows: Number(p.rows) }));
  const rowsOf = new Map(present.map((p) => [`${p.table}\u0000${p.partitionId}`, p.rows]));

  const dropped: DroppedPartition[] = [];
  for (const e of expiredPartitions(present, nowMs, policy)) {
    // partitionId is eight digits (expiredPartitions only returns calendar days), safe to inline.
    await client.command(ddl(`ALTER TABLE ${physical(e.table)} DROP PARTITION ID '${e.partitionId}'`));
    dropped.push({
      table: e.table,
      cls: e.cls,
      partitionId: e.partitionId,
      day: new Date(e.dayStartMs).toISOString().slice(0, 10),
      rows: rowsOf.get(`${e.table}\u0000${e.partitionId}`) ?? 0,
    });
  }

  const ttlSupported = supportsTableTtl(version);
  const ttlSet: TtlChange[] = [];
  if (ttlSupported) {
    const existing = await client.queryRows<{ name: string; engine_full: string }>(
      `SELECT name, engine_full FROM system.tables WHERE database = '${database}' AND name IN (${quoteList([...logical.keys()])})`,
    );
    const engineOf = new Map(existing.map((t) => [t.name, t.engine_full]));
    // MODIFY TTL would by default rewrite every existing part to apply the
    // TTL at once; the dropped partitions already did that work, so skip it
    // where the server has the setting.
    const [{ n }] = await client.queryRows<{ n: number | string }>(`SELECT count() AS n FROM system.settings WHERE name = 'materialize_ttl_after_modify'`);
    const settings: ClickHouseSettings = Number(n) > 0 ? { materialize_ttl_after_modify: 0 } : {};
    for (const t of tables) {
      const engineFull = engineOf.get(nameOf(t.table));
      if (engineFull === undefined) continue; // not created yet: nothing to expire
      const previous = tableTtlOf(engineFull);
      if (previous === ttlExpression(t.days)) continue;
      await client.command(ddl(`ALTER TABLE ${physical(t.table)} MODIFY TTL ${RETENTION_TIME_COLUMN} + INTERVAL ${t.days} DAY`), { settings });
      ttlSet.push({ table: t.table, days: t.days, ...(previous !== undefined ? { previous } : {}) });
    }
  }
  return { nowMs, server: version.text, dropped, ttlSupported, ttlSet };
}

