import { createClient, ClickHouseLogLevel, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';

/** Connection settings. The apps read them from CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE. */
export interface ClickHouseConfig {
  /** HTTP(S) endpoint, e.g. `http://127.0.0.1:8123`. */
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
  url: string;
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
  /** Official client used by this library (user's default database; all names are qualified). */
  readonly internal: ClickHouseClient;
  private rawClient: ClickHouseClient | undefined;
  private versionPromise: Promise<ServerVersion> | undefined;
  private closed = false;

  constructor(config: ClickHouseConfig) {
    if (!config || typeof config.url !== 'string' || config.url.length === 0) {
      throw new TypeError('ClickHouse config needs a non-empty url, e.g. http://127.0.0.1:8123');
    }
    this.config = Object.freeze({
      url: config.url,
      username: config.username ?? 'default',
      password: config.password ?? '',
      database: config.database ?? 'stream_analytics',
      requestTimeoutMs: config.requestTimeoutMs ?? 30_000,
      maxOpenConnections: config.maxOpenConnections ?? 10,
      logLevel: config.logLevel ?? 'OFF',
      ...(config.caCert ? { caCert: config.caCert } : {}),
    });
    this.internal = this.makeClient('default');
  }

  private makeClient(database: string): ClickHouseClient {
    const c = this.config;
    return createClient({
      url: c.url,
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
    await this.internal.command({
      query: sql,
      clickhouse_settings: { wait_end_of_query: 1, ...options.settings },
      abort_signal: options.signal,
    });
  }

  /** Runs a SELECT and returns its rows (JSONEachRow). 64-bit integers may be strings (18.16) or numbers. */
  async queryRows<T = Record<string, unknown>>(sql: string, options: RequestOptions = {}): Promise<T[]> {
    const rs = await this.internal.query({
      query: sql,
      format: 'JSONEachRow',
      clickhouse_settings: options.settings,
      abort_signal: options.signal,
    });
    return rs.json<T>();
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
    await this.internal.insert({
      table,
      values: rows as object[],
      format: 'JSONEachRow',
      clickhouse_settings: settings,
      abort_signal: options.signal,
    });
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
        ? new Error(`ClickHouse at ${this.config.url} did not answer within ${timeoutMs} ms`, { cause: err })
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
    await Promise.all([this.internal.close(), this.rawClient?.close()]);
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
