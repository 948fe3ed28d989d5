/**
 * The sink client's configuration: what the apps map CLICKHOUSE_* onto, its
 * defaults, and the resolved form every other module reads.
 */
import { ClickHouseLogLevel } from '@clickhouse/client';
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

export const LOG_LEVELS = {
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

/** Defaults of {@link ReplicationConfig}. */
export const DEFAULT_REPLICATION: Readonly<Required<ReplicationConfig>> = Object.freeze({
  insertQuorum: 2,
  insertQuorumTimeoutMs: 10_000,
  onQuorumLoss: 'degrade',
  catchUpTimeoutMs: 5000,
});

/** Fills in the defaults; throws a TypeError naming the problem for a config without a url. */
export function resolveClickHouseConfig(config: ClickHouseConfig): Readonly<ResolvedClickHouseConfig> {
  const urls = typeof config?.url === 'string' ? splitUrls(config.url) : [];
  if (urls.length === 0) {
    throw new TypeError('ClickHouse config needs a non-empty url, e.g. http://127.0.0.1:8123 (or several, comma-separated)');
  }
  const r = config.replication;
  return Object.freeze({
    url: urls[0],
    urls: Object.freeze(urls),
    replication: r
      ? Object.freeze({
          insertQuorum: r.insertQuorum ?? DEFAULT_REPLICATION.insertQuorum,
          insertQuorumTimeoutMs: r.insertQuorumTimeoutMs ?? DEFAULT_REPLICATION.insertQuorumTimeoutMs,
          onQuorumLoss: r.onQuorumLoss ?? DEFAULT_REPLICATION.onQuorumLoss,
          catchUpTimeoutMs: r.catchUpTimeoutMs ?? DEFAULT_REPLICATION.catchUpTimeoutMs,
        })
      : undefined,
    username: config.username ?? 'default',
    password: config.password ?? '',
    database: config.database ?? DATABASE,
    requestTimeoutMs: config.requestTimeoutMs ?? 30_000,
    maxOpenConnections: config.maxOpenConnections ?? 10,
    logLevel: config.logLevel ?? 'OFF',
    ...(config.caCert ? { caCert: config.caCert } : {}),
  });
}

/** `a, b,c` -> ['a', 'b', 'c'] (blanks dropped). */
export function splitUrls(value: string): string[] {
  return value
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

