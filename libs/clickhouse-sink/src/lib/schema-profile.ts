/**
 * Schema profiles: how the statements of clickhouse/init/*.sql are applied.
 *
 * - `single` (default): verbatim, on one server.
 * - `replicated`: every `CREATE TABLE` whose engine is of the MergeTree family
 *   gets the Replicated form of that engine, with the ZooKeeper path built from
 *   the server's `{shard}` macro and the table's own name, the `{replica}`
 *   macro, and the engine's own arguments after them (so
 *   `ReplacingMergeTree(version)` keeps its version column). With a cluster
 *   name every DDL statement also gets `ON CLUSTER <name>` (run once, executed
 *   by every node through the distributed DDL queue); without one the runner
 *   applies the statements on every node itself. Views and other statements
 *   are unchanged.
 *
 * The transformation works on the text of whatever files exist (including
 * ones added later); the files stay the single source of the schema and their
 * checksums do not depend on the profile. Pure functions, no I/O.
 */

export type SchemaProfile =
  | { kind: 'single' }
  | {
      kind: 'replicated';
      /** `ON CLUSTER <cluster>` on every DDL statement; omitted: the runner applies them per node. */
      cluster?: string;
      /**
       * ZooKeeper path of a table. `{database}` and `{table}` are filled in here
       * (literally: 18.16 has no such macros); `{shard}` and any other macro are
       * left for the server. Default {@link DEFAULT_REPLICA_PATH}.
       */
      zooKeeperPath?: string;
      /** Replica name argument, a server macro. Default `{replica}`. */
      replicaName?: string;
    };

export const SINGLE_SERVER_PROFILE: SchemaProfile = { kind: 'single' };
export const DEFAULT_REPLICA_PATH = '/clickhouse/tables/{shard}/{database}/{table}';

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const CLUSTER_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** MergeTree family engines that have a Replicated form. */
const MERGE_TREE_ENGINE_RE =
  /(\bENGINE\s*=\s*)((?:Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite)?MergeTree)\b(\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\))?/i;
const CREATE_TABLE_RE = new RegExp(`^(\\s*CREATE\\s+TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?)(?:(${IDENT})\\.)?(${IDENT})\\b`, 'i');
/** DDL statements that take ON CLUSTER right after the object name. */
const DDL_OBJECT_RE = new RegExp(
  `^(\\s*(?:CREATE\\s+(?:TABLE|(?:MATERIALIZED\\s+)?VIEW|DATABASE)(?:\\s+IF\\s+NOT\\s+EXISTS)?|DROP\\s+(?:TABLE|VIEW|DATABASE)(?:\\s+IF\\s+EXISTS)?|ALTER\\s+TABLE|RENAME\\s+TABLE)\\s+)((?:${IDENT}\\.)?${IDENT})(?=\\s|\\(|$)`,
  'i',
);

export interface TableEngineChange {
  /** `database.table` */
  table: string;
  engine: string;
  replicatedEngine: string;
}

export function validateSchemaProfile(profile: SchemaProfile): void {
  if (profile.kind === 'single') return;
  if (profile.cluster !== undefined && !CLUSTER_RE.test(profile.cluster)) {
    throw new Error(`cluster name ${JSON.stringify(profile.cluster)} must be an identifier (letters, digits, _ and -)`);
  }
  const zkPath = profile.zooKeeperPath ?? DEFAULT_REPLICA_PATH;
  if (!zkPath.startsWith('/') || /['\\]/.test(zkPath) || !zkPath.includes('{table}')) {
    throw new Error(`ZooKeeper path ${JSON.stringify(zkPath)} must be absolute, contain {table} and no quotes`);
  }
  if (profile.replicaName !== undefined && /['\\]/.test(profile.replicaName)) throw new Error('replica name must not contain quotes');
}

/** The statement as the profile applies it, plus the engine change it made (if any). */
export function profileStatement(sql: string, profile: SchemaProfile, defaultDatabase = 'default'): { sql: string; change?: TableEngineChange } {
  if (profile.kind === 'single') return { sql };
  let out = sql;
  let change: TableEngineChange | undefined;
  const create = CREATE_TABLE_RE.exec(out);
  const engine = create ? MERGE_TREE_ENGINE_RE.exec(out) : null;
  if (create && engine) {
    const database = create[2] ?? defaultDatabase;
    const table = create[3];
    const zkPath = (profile.zooKeeperPath ?? DEFAULT_REPLICA_PATH).replace(/\{database\}/g, database).replace(/\{table\}/g, table);
    const args = [`'${zkPath}'`, `'${profile.replicaName ?? '{replica}'}'`];
    const own = engine[4]?.trim();
    if (own) args.push(own);
    const replicatedEngine = `Replicated${engine[2]}(${args.join(', ')})`;
    out = out.slice(0, engine.index) + engine[1] + replicatedEngine + out.slice(engine.index + engine[0].length);
    change = { table: `${database}.${table}`, engine: engine[2], replicatedEngine };
  }
  if (profile.cluster) {
    const ddl = DDL_OBJECT_RE.exec(out);
    if (ddl && !/\bON\s+CLUSTER\b/i.test(out)) {
      const at = ddl.index + ddl[0].length;
      out = `${out.slice(0, at)} ON CLUSTER ${profile.cluster}${out.slice(at)}`;
    }
  }
  return { sql: out, change };
}
