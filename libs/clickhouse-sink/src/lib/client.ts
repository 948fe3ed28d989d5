import { createClient, ClickHouseLogLevel, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { clickHouseErrorCode, errorMessage, isConnectionError, QuorumNotReachedError, ReplicaNotCaughtUpError } from './errors';
import { DATABASE } from './schema';

/** Connection settings. The apps read them from CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE. */
export interface ClickHouseConfig {
  /**
   * HTTP(S) endpoint, e.g. `http://127.0.0.1:8123`, or several separated by
   * commas (replicas of one shard, or load-balanced endpoints): requests go to
   * one of them and move to the next when it stops answering.
   */
  url: string;
  /** Default `default`. */
  username?: string;
  /** Default empty. */
  password?: string;
  /**
   * Default database of the {@link ClickHouseSinkClient.raw} client (for
   * ad-hoc, unqualified queries). Default `stream_analytics`. The library's own
   * statements always use fully qualified names and never depend on it, so
   * migrations work before the database exists.
   */
  database?: string;
  /** Per-request timeout. Default 30000 ms. */
  requestTimeoutMs?: number;
  /** Default 10. */
  maxOpenConnections?: number;
  /** PEM CA certificate(s) trusted for an https:// url (default: the system trust store). */
  caCert?: Buffer;
  /** Log level of the official client's own logger. Default `OFF`: failures surface as errors and through `onRetry`. */
  logLevel?: keyof typeof LOG_LEVELS;
  /** Set for replicated ClickHouse (the `replicated` schema profile): quorum inserts and consistent reads. */
  replication?: ReplicationConfig;
  /** Called when the endpoint in use or the replication state changes (for logs). */
  onReplicationStateChange?: (state: ReplicationState) => void;
}

/**
 * Write durability and read consistency on replicated tables. See the README
 * ("Replicated ClickHouse") for why these rules keep the aggregator exact.
 */
export interface ReplicationConfig {
  /** Replicas that must have an insert before it is acknowledged (`insert_quorum`). Default 2; 0 or 1 disables quorum inserts. */
  insertQuorum?: number;
  /** `insert_quorum_timeout` in ms. Default 10000. */
  insertQuorumTimeoutMs?: number;
  /**
   * When fewer than insertQuorum replicas are alive:
   * - `degrade` (default): the insert is acknowledged by the replica in use
   *   alone; the state says so (readiness) until a quorum insert succeeds again;
   * - `fail`: the insert fails with QuorumNotReachedError (retryable: the
   *   writer waits until enough replicas are back).
   */
  onQuorumLoss?: 'degrade' | 'fail';
  /** How long a replica may take to show it holds every acknowledged insert before it is used. Default 5000 ms. */
  catchUpTimeoutMs?: number;
}

export interface ReplicationState {
  /** Endpoint every request goes to now. */
  endpoint: string;
  /**
   * Endpoints that failed their last request or catch-up check (until a
   * quorum insert covering every endpoint shows they are back).
   */
  unavailable: string[];
  /** Set while inserts are acknowledged without a quorum. */
  degraded?: { sinceMs: number; reason: string };
}

const LOG_LEVELS = {
  TRACE: ClickHouseLogLevel.TRACE,
  DEBUG: ClickHouseLogLevel.DEBUG,
  INFO: ClickHouseLogLevel.INFO,
  WARN: ClickHouseLogLevel.WARN,
  ERROR: ClickHouseLogLevel.ERROR,
  OFF: ClickHouseLogLevel.OFF,
} as const;

export interface ResolvedClickHouseConfig {
  /** The first of {@link urls}. */
  url: string;
  urls: readonly string[];
  replication: Readonly<Required<ReplicationConfig>> | undefined;
  username: string;
  password: string;
  database: string;
  requestTimeoutMs: number;
  maxOpenConnections: number;
  logLevel: keyof typeof LOG_LEVELS;
  caCert?: Buffer;
}

export interface RequestOptions {
  /** Extra ClickHouse settings; only ones that exist on every supported server version. */
  settings?: ClickHouseSettings;
  /** Cancels the HTTP request. */
  signal?: AbortSignal;
}

export type PingResult = { ok: true; latencyMs: number } | { ok: false; latencyMs: number; error: Error };

export interface ServerVersion {
  text: string;
  major: number;
  minor: number;
}

/**
 * Wraps the official `@clickhouse/client` (1.x) so that it works against
 * ClickHouse 18.16 as well as current servers:
 *
 * - no query parameters (`{x:UInt32}` binding needs 19.x); the library only
 *   inlines numbers it validated itself;
 * - JSONEachRow in and out (UInt64 arrives as a string on 18.16 because of
 *   output_format_json_quote_64bit_integers=1 there, as a number on current
 *   servers; readers convert with `Number`);
 * - settings that old servers reject (async_insert, ...) are sent only after
 *   checking the server version;
 * - the keep-alive idle TTL is kept well below the 3 s server keep-alive
 *   timeout of old servers;
 * - the internal client never sends a `database` URL parameter (the server
 *   rejects every request naming a database that does not exist yet).
 */
export class ClickHouseSinkClient {
  readonly config: Readonly<ResolvedClickHouseConfig>;
  private readonly endpoints: { url: string; client: ClickHouseClient }[];
  /** Index of the endpoint in use; `verified` once it passed the catch-up check (replicated only). */
  private active = 0;
  private activeVerified = false;
  private readonly unavailable = new Set<string>();
  private degraded: { sinceMs: number; reason: string } | undefined;
  private quorumFailingSinceMs: number | undefined;
  private lastQuorumAttemptMs = 0;
  /** Quorum inserts into one table one at a time (18.16 rejects a second before the first reached its quorum). */
  private readonly quorumInsertChains = new Map<string, Promise<unknown>>();
  private rawClient: ClickHouseClient | undefined;
  private versionPromise: Promise<ServerVersion> | undefined;
  private closed = false;

  constructor(private readonly options: ClickHouseConfig) {
    const config = options;
    const urls = typeof config?.url === 'string' ? splitUrls(config.url) : [];
    if (urls.length === 0) {
      throw new TypeError('ClickHouse config needs a non-empty url, e.g. http://127.0.0.1:8123 (or several, comma-separated)');
    }
    const r = config.replication;
    this.config = Object.freeze({
      url: urls[0],
      urls: Object.freeze(urls),
      replication: r
        ? Object.freeze({
            insertQuorum: r.insertQuorum ?? 2,
            insertQuorumTimeoutMs: r.insertQuorumTimeoutMs ?? 10_000,
            onQuorumLoss: r.onQuorumLoss ?? 'degrade',
            catchUpTimeoutMs: r.catchUpTimeoutMs ?? 5000,
          })
        : undefined,
      username: config.username ?? 'default',
      password: config.password ?? '',
      database: config.database ?? 'stream_analytics',
      requestTimeoutMs: config.requestTimeoutMs ?? 30_000,
      maxOpenConnections: config.maxOpenConnections ?? 10,
      logLevel: config.logLevel ?? 'OFF',
      ...(config.caCert ? { caCert: config.caCert } : {}),
    });
    this.endpoints = urls.map((url) => ({ url, client: this.makeClient('default', url) }));
  }

  /** Official client of the endpoint in use (user's default database; all names are qualified). */
  get internal(): ClickHouseClient {
    return this.endpoints[this.active].client;
  }

  /** A client of one endpoint only, with the same settings (per-node DDL, tests). Close it after use. */
  forEndpoint(url: string): ClickHouseSinkClient {
    return new ClickHouseSinkClient({ ...this.options, url, onReplicationStateChange: undefined });
  }

  /** Endpoint in use, unavailable endpoints, and whether inserts are acknowledged without quorum. */
  replicationState(): ReplicationState {
    return { endpoint: this.endpoints[this.active].url, unavailable: [...this.unavailable], ...(this.degraded ? { degraded: { ...this.degraded } } : {}) };
  }

  private makeClient(database: string, url = this.endpoints[this.active].url): ClickHouseClient {
    const c = this.config;
    return createClient({
      url,
      username: c.username,
      password: c.password,
      database,
      request_timeout: c.requestTimeoutMs,
      max_open_connections: c.maxOpenConnections,
      keep_alive: { enabled: true, idle_socket_ttl: 2000 },
      log: { level: LOG_LEVELS[c.logLevel] },
      application: 'stream-analytics-clickhouse-sink',
      ...(c.caCert ? { tls: { ca_cert: c.caCert } } : {}),
    });
  }

  /** Official client whose default database is `config.database` (created on first use). Ad-hoc queries only. */
  get raw(): ClickHouseClient {
    if (this.closed) throw new Error('ClickHouseSinkClient is closed');
    if (!this.rawClient) this.rawClient = this.makeClient(this.config.database);
    return this.rawClient;
  }

  /** Runs a statement that returns no rows (DDL, OPTIMIZE, ...), waiting for the server to finish it. */
  async command(sql: string, options: RequestOptions = {}): Promise<void> {
    await this.route(async (client) => {
      await client.command({
        query: sql,
        clickhouse_settings: { wait_end_of_query: 1, ...options.settings },
        abort_signal: options.signal,
      });
    });
  }

  /** Runs a SELECT and returns its rows (JSONEachRow). 64-bit integers may be strings (18.16) or numbers. */
  async queryRows<T = Record<string, unknown>>(sql: string, options: RequestOptions = {}): Promise<T[]> {
    return this.route((client) => selectRows<T>(client, sql, options));
  }

  /**
   * One synchronous INSERT ... FORMAT JSONEachRow. Resolves only after the
   * server answered 200 to a request sent with wait_end_of_query=1 (and with
   * async_insert=0 on servers that know async inserts), i.e. after the data is
   * in the table. No retries here; see WindowRowWriter.
   */
  async insertJsonEachRow(table: string, rows: readonly object[], options: RequestOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    const settings: ClickHouseSettings = { wait_end_of_query: 1, ...(await this.insertSettings()), ...options.settings };
    await this.insertWith(table, (client, extra = {}) =>
      client.insert({ table, values: rows as object[], format: 'JSONEachRow', clickhouse_settings: { ...settings, ...extra }, abort_signal: options.signal }),
    );
  }

  /** Every insert goes through here: the endpoint rule, and quorum (or its loss) when replicated. */
  private async insertWith(table: string, insert: (client: ClickHouseClient, extra?: ClickHouseSettings) => Promise<unknown>): Promise<void> {
    const quorum = this.config.replication?.insertQuorum ?? 0;
    if (quorum < 2) {
      await this.route((client) => insert(client));
      return;
    }
    await this.oneQuorumInsertAtATime(table, () => this.route((client) => this.quorumInsert(client, table, quorum, insert)));
  }

  /**
   * A quorum insert on `client`; when the quorum cannot be reached and the
   * configuration says `degrade`, the same rows without quorum on the same
   * replica (the one every read goes to). While degraded, a quorum insert is
   * tried again at most every insertQuorumTimeoutMs.
   */
  private async quorumInsert(
    client: ClickHouseClient,
    table: string,
    quorum: number,
    insert: (client: ClickHouseClient, extra?: ClickHouseSettings) => Promise<unknown>,
  ): Promise<void> {
    const r = this.replicationConfig();
    const now = Date.now();
    if (!this.degraded || now - this.lastQuorumAttemptMs >= r.insertQuorumTimeoutMs) {
      this.lastQuorumAttemptMs = now;
      try {
        await insert(client, this.quorumSettings(quorum));
        this.quorumFailingSinceMs = undefined;
        // A quorum of every endpoint proves they are all alive again.
        const allAlive = quorum >= this.endpoints.length && this.unavailable.size > 0;
        if (allAlive) this.unavailable.clear();
        if (this.degraded) this.setDegraded(undefined);
        else if (allAlive) this.options.onReplicationStateChange?.(this.replicationState());
        return;
      } catch (err) {
        if (!isQuorumError(err)) throw err;
        this.quorumFailingSinceMs ??= now;
        const quorumLost = r.onQuorumLoss === 'degrade' && (await this.aliveReplicas(client, table)) < quorum;
        const stuck = r.onQuorumLoss === 'degrade' && Date.now() - this.quorumFailingSinceMs >= r.insertQuorumTimeoutMs;
        if (!quorumLost && !stuck) throw new QuorumNotReachedError(table, quorum, err);
        this.setDegraded({ sinceMs: this.degraded?.sinceMs ?? now, reason: `insert quorum ${quorum} not reachable (${firstLine(errorMessage(err))})` });
      }
    }
    await insert(client);
  }

  private replicationConfig(): Readonly<Required<ReplicationConfig>> {
    if (!this.config.replication) throw new Error('this client has no replication settings');
    return this.config.replication;
  }

  private async oneQuorumInsertAtATime(table: string, run: () => Promise<void>): Promise<void> {
    const previous = this.quorumInsertChains.get(table) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(run);
    this.quorumInsertChains.set(table, next);
    try {
      await next;
    } finally {
      if (this.quorumInsertChains.get(table) === next) this.quorumInsertChains.delete(table);
    }
  }

  private quorumSettings(quorum: number): ClickHouseSettings {
    // insert_quorum_parallel (current releases, default on) is left as it is:
    // reads do not rely on select_sequential_consistency (see the README), so
    // concurrent quorum inserts need no linear order.
    return { insert_quorum: String(quorum), insert_quorum_timeout: this.replicationConfig().insertQuorumTimeoutMs };
  }

  /** Active replicas of a table as the replica in use sees them (0 when it cannot tell). */
  private async aliveReplicas(client: ClickHouseClient, table: string): Promise<number> {
    const [database, name] = table.includes('.') ? table.split('.', 2) : [DATABASE, table];
    try {
      const rows = await selectRows<{ n: number | string }>(
        client,
        `SELECT active_replicas AS n FROM system.replicas WHERE database = '${sqlString(database)}' AND table = '${sqlString(name)}'`,
        { settings: {} },
      );
      return rows.length === 0 ? 0 : Number(rows[0].n);
    } catch {
      return 0;
    }
  }

  private setDegraded(degraded: { sinceMs: number; reason: string } | undefined): void {
    const changed = (this.degraded === undefined) !== (degraded === undefined);
    this.degraded = degraded;
    if (changed) this.options.onReplicationStateChange?.(this.replicationState());
  }

  /**
   * Runs `request` on the endpoint in use; when that endpoint does not answer
   * (or its replica cannot serve: read-only, no ZooKeeper), on the next one,
   * which then stays in use. With replication, an endpoint is only used after
   * it showed it holds every insert acknowledged by any replica (see
   * {@link ensureCaughtUp}), so a read never sees less than the last
   * acknowledged write, whichever replica answers it.
   */
  private async route<T>(request: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('ClickHouseSinkClient is closed');
    if (this.endpoints.length === 1 && !this.config.replication) return request(this.endpoints[0].client);
    let lastError: unknown;
    for (let step = 0; step < this.endpoints.length; step++) {
      const index = (this.active + step) % this.endpoints.length;
      const endpoint = this.endpoints[index];
      try {
        if (this.config.replication && !(index === this.active && this.activeVerified)) await this.ensureCaughtUp(endpoint.url, endpoint.client);
        const result = await request(endpoint.client);
        this.use(index);
        return result;
      } catch (err) {
        if (!isFailoverError(err)) throw err;
        lastError = err;
        if (!this.unavailable.has(endpoint.url)) {
          this.unavailable.add(endpoint.url);
          if (index === this.active) this.activeVerified = false;
          this.options.onReplicationStateChange?.(this.replicationState());
        }
      }
    }
    throw lastError;
  }

  private use(index: number): void {
    const url = this.endpoints[index].url;
    const changed = index !== this.active || this.unavailable.has(url);
    this.active = index;
    this.activeVerified = true;
    this.unavailable.delete(url);
    if (changed) {
      this.rawClient?.close().catch(() => undefined);
      this.rawClient = undefined;
      this.options.onReplicationStateChange?.(this.replicationState());
    }
  }

  /**
   * Every replicated table of the database on this replica has pulled the
   * whole replication log and fetched every part it announces
   * (`SYSTEM SYNC REPLICA`, bounded by catchUpTimeoutMs). A replica that
   * returns after an outage, or that misses parts only a dead replica has,
   * fails this check (ReplicaNotCaughtUpError) and is not used yet.
   */
  private async ensureCaughtUp(url: string, client: ClickHouseClient): Promise<void> {
    const timeoutMs = this.replicationConfig().catchUpTimeoutMs;
    const tables = await selectRows<{ name: string }>(client, `SELECT name FROM system.tables WHERE database = '${DATABASE}' AND engine LIKE 'Replicated%' ORDER BY name`, {});
    const deadline = Date.now() + timeoutMs;
    for (const { name } of tables) {
      const left = deadline - Date.now();
      const signal = AbortSignal.timeout(Math.max(1, left));
      try {
        await client.command({
          query: `SYSTEM SYNC REPLICA ${DATABASE}.${name}`,
          clickhouse_settings: { receive_timeout: Math.max(1, Math.ceil(left / 1000)) },
          abort_signal: signal,
        });
      } catch (err) {
        if (isConnectionError(err) && !signal.aborted) throw err;
        throw new ReplicaNotCaughtUpError(url, `${DATABASE}.${name}`, err);
      }
    }
  }

  /**
   * One synchronous `INSERT INTO table (columns) VALUES ...` with the same
   * guarantees as {@link insertJsonEachRow}. `values` is Values-format text
   * the caller built from validated data (it may hold expressions, which is
   * what makes bit-exact floats possible on 18.16). The server streams the
   * data after VALUES, so max_query_size does not limit its length.
   */
  async insertValues(table: string, columns: readonly string[], values: string, options: RequestOptions = {}): Promise<void> {
    if (values.length === 0) return;
    await this.insertStatement(table, `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, options);
  }

  /**
   * `INSERT INTO table (columns) SELECT ...`, computed by the server, with the
   * same acknowledgement, endpoint and quorum rules as every other insert: the
   * SELECT reads on the endpoint the inserts go to, so it sees them.
   */
  async insertSelect(table: string, columns: readonly string[], select: string, options: RequestOptions = {}): Promise<void> {
    await this.insertStatement(table, `INSERT INTO ${table} (${columns.join(', ')}) ${select}`, options);
  }

  private async insertStatement(table: string, query: string, options: RequestOptions): Promise<void> {
    const settings: ClickHouseSettings = { wait_end_of_query: 1, ...(await this.insertSettings()), ...options.settings };
    await this.insertWith(table, (client, extra = {}) => client.command({ query, clickhouse_settings: { ...settings, ...extra }, abort_signal: options.signal }));
  }

  private async insertSettings(): Promise<ClickHouseSettings> {
    const v = await this.serverVersion();
    // async_insert exists since 21.11; older servers reject unknown settings.
    return v.major > 21 || (v.major === 21 && v.minor >= 11) ? { async_insert: 0 } : {};
  }

  /** Server version, fetched once (retried on the next call if it failed). */
  serverVersion(): Promise<ServerVersion> {
    if (!this.versionPromise) {
      const p = this.queryRows<{ v: string }>('SELECT version() AS v').then((rows) => parseServerVersion(rows[0]?.v ?? ''));
      this.versionPromise = p;
      p.catch(() => {
        if (this.versionPromise === p) this.versionPromise = undefined;
      });
    }
    return this.versionPromise;
  }

  /**
   * Readiness check: `SELECT 1` with credentials, aborted after `timeoutMs`
   * (default 2000). Never throws.
   */
  async ping(options: { timeoutMs?: number } = {}): Promise<PingResult> {
    const started = Date.now();
    const timeoutMs = options.timeoutMs ?? 2000;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const rows = await this.queryRows<{ ok: number | string }>('SELECT 1 AS ok', { signal: controller.signal });
      if (Number(rows[0]?.ok) !== 1) throw new Error(`unexpected ping answer ${JSON.stringify(rows)}`);
      return { ok: true, latencyMs: Date.now() - started };
    } catch (err) {
      const error = controller.signal.aborted
        ? new Error(`ClickHouse at ${this.endpoints[this.active].url} did not answer within ${timeoutMs} ms`, { cause: err })
        : err instanceof Error
          ? err
          : new Error(String(err));
      return { ok: false, latencyMs: Date.now() - started, error };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.endpoints.map((e) => e.client.close()), this.rawClient?.close()]);
  }
}

async function selectRows<T>(client: ClickHouseClient, sql: string, options: RequestOptions): Promise<T[]> {
  const rs = await client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: options.settings, abort_signal: options.signal });
  return rs.json<T>();
}

/** `a, b,c` -> ['a', 'b', 'c'] (blanks dropped). */
export function splitUrls(value: string): string[] {
  return value
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

const sqlString = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
const firstLine = (s: string) => s.split('\n')[0].slice(0, 300);

/**
 * Quorum not reachable: too few live replicas (285), the previous quorum
 * insert not yet on enough replicas (286), the quorum timeout (319 on 18.16,
 * 159 elsewhere), this replica not in the quorum (289).
 */
const QUORUM_ERROR_CODES: ReadonlySet<number> = new Set([285, 286, 289, 319, 159]);

export function isQuorumError(err: unknown): boolean {
  const code = clickHouseErrorCode(err);
  return code !== undefined && QUORUM_ERROR_CODES.has(code);
}

/**
 * The endpoint cannot serve, another one may: no connection, the replica is
 * read-only (242: it lost ZooKeeper), no ZooKeeper (225) or a coordination
 * error (999), or it has not caught up yet.
 */
const REPLICA_UNAVAILABLE_CODES: ReadonlySet<number> = new Set([242, 225, 999]);

export function isFailoverError(err: unknown): boolean {
  if (err instanceof ReplicaNotCaughtUpError) return true;
  if (isConnectionError(err)) return true;
  const code = clickHouseErrorCode(err);
  return code !== undefined && REPLICA_UNAVAILABLE_CODES.has(code);
}

export function parseServerVersion(text: string): ServerVersion {
  const m = /^(\d+)\.(\d+)/.exec(text.trim());
  if (!m) throw new Error(`cannot parse ClickHouse version ${JSON.stringify(text)}`);
  return { text: text.trim(), major: Number(m[1]), minor: Number(m[2]) };
}

/** Creates the sink's client from a plain config object (the apps map env variables onto it). */
export function createClickHouseClient(config: ClickHouseConfig): ClickHouseSinkClient {
  return new ClickHouseSinkClient(config);
}
