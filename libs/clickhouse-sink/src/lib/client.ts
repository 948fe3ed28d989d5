import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { LOG_LEVELS, resolveClickHouseConfig, type ClickHouseConfig, type ReplicationState, type ResolvedClickHouseConfig } from './client-config';
import { EndpointRouter, selectRows } from './endpoint-router';
import type { RowBinarySchema } from './row-binary';

export type { ClickHouseConfig, ReplicationConfig, ReplicationState, ResolvedClickHouseConfig } from './client-config';
export { splitUrls } from './client-config';

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
  private readonly router: EndpointRouter;
  private rawClient: ClickHouseClient | undefined;
  private versionPromise: Promise<ServerVersion> | undefined;
  private closed = false;

  constructor(private readonly options: ClickHouseConfig) {
    this.config = resolveClickHouseConfig(options);
    this.router = new EndpointRouter(
      this.config.urls.map((url) => ({ url, client: this.makeClient('default', url) })),
      {
        replication: this.config.replication,
        onStateChange: options.onReplicationStateChange,
        onEndpointChange: () => {
          this.rawClient?.close().catch(() => undefined);
          this.rawClient = undefined;
        },
      },
    );
  }

  /** Official client of the endpoint in use (user's default database; all names are qualified). */
  get internal(): ClickHouseClient {
    return this.router.activeEndpoint.client;
  }

  /** A client of one endpoint only, with the same settings (per-node DDL, tests). Close it after use. */
  forEndpoint(url: string): ClickHouseSinkClient {
    return new ClickHouseSinkClient({ ...this.options, url, onReplicationStateChange: undefined });
  }

  /** Endpoint in use, unavailable endpoints, and whether inserts are acknowledged without quorum. */
  replicationState(): ReplicationState {
    return this.router.state();
  }

  private makeClient(database: string, url = this.router.activeEndpoint.url): ClickHouseClient {
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

  private route<T>(request: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('ClickHouseSinkClient is closed'));
    return this.router.route(request);
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
    await this.insertOnRouter(table, (client, extra = {}) =>
      client.insert({ table, values: rows as object[], format: 'JSONEachRow', clickhouse_settings: { ...settings, ...extra }, abort_signal: options.signal }),
    );
  }

  private insertOnRouter(table: string, insert: (client: ClickHouseClient, extra?: ClickHouseSettings) => Promise<unknown>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('ClickHouseSinkClient is closed'));
    return this.router.insert(table, insert);
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
   * One synchronous `INSERT INTO table (columns) FORMAT RowBinary` of `body`
   * (rows encoded by row-binary.ts for `schema`), with the same guarantees as
   * {@link insertJsonEachRow}: the only text-free path, so floats arrive with
   * their exact bits.
   */
  async insertRowBinary(table: string, schema: RowBinarySchema, body: Buffer, options: RequestOptions = {}): Promise<void> {
    if (body.length === 0) return;
    const settings: ClickHouseSettings = { wait_end_of_query: 1, ...(await this.insertSettings()), ...options.settings };
    const query = `INSERT INTO ${table} (${schema.map(([column]) => column).join(', ')}) FORMAT RowBinary`;
    await this.insertOnRouter(table, async (client, extra = {}) => {
      const result = await client.exec({ query, values: Readable.from([body]), clickhouse_settings: { ...settings, ...extra }, abort_signal: options.signal });
      // The answer is empty; reading it to the end frees the connection.
      for await (const chunk of result.stream) void chunk;
    });
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
    await this.insertOnRouter(table, (client, extra = {}) => client.command({ query, clickhouse_settings: { ...settings, ...extra }, abort_signal: options.signal }));
  }

  private async insertSettings(): Promise<ClickHouseSettings> {
    const v = await this.serverVersion();
    // insert_deduplicate=0: a repeated insert is stored again, never skipped as a duplicate of
    // an earlier block (every row the sink writes is idempotent: versioned, a set member or a
    // max/argMax state, so a second copy changes no result). On replicated tables 18.16's block
    // deduplication loses rows: a quorum insert that timed out (319) has committed its part but
    // not yet pushed it to the materialized views (the last-seen table, folded from the device
    // copy), and a deduplicated repeat skips them; a repeat deduplicated against a part whose
    // quorum later fails (its replica died) is acknowledged, and that part is then detached everywhere.
    const settings: ClickHouseSettings = { insert_deduplicate: 0 };
    // async_insert exists since 21.11; older servers reject unknown settings.
    return v.major > 21 || (v.major === 21 && v.minor >= 11) ? { ...settings, async_insert: 0 } : settings;
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
        ? new Error(`ClickHouse at ${this.router.activeEndpoint.url} did not answer within ${timeoutMs} ms`, { cause: err })
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
    await Promise.all([...this.router.endpoints.map((e) => e.client.close()), this.rawClient?.close()]);
  }
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
