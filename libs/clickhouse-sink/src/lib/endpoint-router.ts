/**
 * Which ClickHouse endpoint a request goes to, and the replication rules that
 * keep reads and writes exact on replicated ClickHouse: failover to the next
 * endpoint, the catch-up check before an endpoint is used, and quorum inserts
 * with their degrade/fail policy. The client (client.ts) sends every request
 * through here; with one endpoint and no replication it is a pass-through.
 */
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import type { ReplicationConfig, ReplicationState } from './client-config';
import { errorMessage, isConnectionError, isFailoverError, isQuorumError, QuorumNotReachedError, ReplicaNotCaughtUpError } from './errors';
import { DATABASE } from './schema';

export interface Endpoint {
  readonly url: string;
  readonly client: ClickHouseClient;
}

export interface EndpointRouterOptions {
  readonly replication: Readonly<Required<ReplicationConfig>> | undefined;
  /** The endpoint in use or the replication state changed (for logs). */
  readonly onStateChange?: (state: ReplicationState) => void;
  /** Another endpoint is now in use (clients bound to the old one are dropped). */
  readonly onEndpointChange?: () => void;
  readonly now?: () => number;
}

/** An insert run on one endpoint; `extra` carries the quorum settings when they apply. */
export type InsertOn = (client: ClickHouseClient, extra?: ClickHouseSettings) => Promise<unknown>;

export class EndpointRouter {
  /** Index of the endpoint in use; `verified` once it passed the catch-up check (replicated only). */
  private active = 0;
  private activeVerified = false;
  private readonly unavailable = new Set<string>();
  private degraded: { sinceMs: number; reason: string } | undefined;
  private quorumFailingSinceMs: number | undefined;
  private lastQuorumAttemptMs = 0;
  /** Quorum inserts into one table one at a time (18.16 rejects a second before the first reached its quorum). */
  private readonly quorumInsertChains = new Map<string, Promise<unknown>>();
  private readonly now: () => number;

  constructor(
    readonly endpoints: readonly Endpoint[],
    private readonly options: EndpointRouterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  get activeEndpoint(): Endpoint {
    return this.endpoints[this.active];
  }

  /** Endpoint in use, unavailable endpoints, and whether inserts are acknowledged without quorum. */
  state(): ReplicationState {
    return { endpoint: this.activeEndpoint.url, unavailable: [...this.unavailable], ...(this.degraded ? { degraded: { ...this.degraded } } : {}) };
  }

  /**
   * Runs `request` on the endpoint in use; when that endpoint does not answer
   * (or its replica cannot serve: read-only, no ZooKeeper), on the next one,
   * which then stays in use. With replication, an endpoint is only used after
   * it showed it holds every insert acknowledged by any replica (see
   * {@link ensureCaughtUp}), so a read never sees less than the last
   * acknowledged write, whichever replica answers it.
   */
  async route<T>(request: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    if (this.endpoints.length === 1 && !this.options.replication) return request(this.endpoints[0].client);
    let lastError: unknown;
    for (let step = 0; step < this.endpoints.length; step++) {
      const index = (this.active + step) % this.endpoints.length;
      const endpoint = this.endpoints[index];
      try {
        if (this.options.replication && !(index === this.active && this.activeVerified)) await this.ensureCaughtUp(endpoint.url, endpoint.client);
        const result = await request(endpoint.client);
        this.use(index);
        return result;
      } catch (err) {
        if (!isFailoverError(err)) throw err;
        lastError = err;
        if (!this.unavailable.has(endpoint.url)) {
          this.unavailable.add(endpoint.url);
          if (index === this.active) this.activeVerified = false;
          this.options.onStateChange?.(this.state());
        }
      }
    }
    throw lastError;
  }

  /** Every insert goes through here: the endpoint rule, and quorum (or its loss) when replicated. */
  async insert(table: string, insert: InsertOn): Promise<void> {
    const quorum = this.options.replication?.insertQuorum ?? 0;
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
  private async quorumInsert(client: ClickHouseClient, table: string, quorum: number, insert: InsertOn): Promise<void> {
    const r = this.replication();
    const now = this.now();
    if (!this.degraded || now - this.lastQuorumAttemptMs >= r.insertQuorumTimeoutMs) {
      this.lastQuorumAttemptMs = now;
      try {
        await insert(client, this.quorumSettings(quorum));
        this.quorumFailingSinceMs = undefined;
        // A quorum of every endpoint proves they are all alive again.
        const allAlive = quorum >= this.endpoints.length && this.unavailable.size > 0;
        if (allAlive) this.unavailable.clear();
        if (this.degraded) this.setDegraded(undefined);
        else if (allAlive) this.options.onStateChange?.(this.state());
        return;
      } catch (err) {
        if (!isQuorumError(err)) throw err;
        this.quorumFailingSinceMs ??= now;
        const quorumLost = r.onQuorumLoss === 'degrade' && (await this.aliveReplicas(client, table)) < quorum;
        const stuck = r.onQuorumLoss === 'degrade' && this.now() - this.quorumFailingSinceMs >= r.insertQuorumTimeoutMs;
        if (!quorumLost && !stuck) throw new QuorumNotReachedError(table, quorum, err);
        this.setDegraded({ sinceMs: this.degraded?.sinceMs ?? now, reason: `insert quorum ${quorum} not reachable (${firstLine(errorMessage(err))})` });
      }
    }
    await insert(client);
  }

  private replication(): Readonly<Required<ReplicationConfig>> {
    if (!this.options.replication) throw new Error('this client has no replication settings');
    return this.options.replication;
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
    return { insert_quorum: String(quorum), insert_quorum_timeout: this.replication().insertQuorumTimeoutMs };
  }

  /** Active replicas of a table as the replica in use sees them (0 when it cannot tell). */
  private async aliveReplicas(client: ClickHouseClient, table: string): Promise<number> {
    const [database, name] = table.includes('.') ? table.split('.', 2) : [DATABASE, table];
    try {
      const rows = await selectRows<{ n: number | string }>(
        client,
        `SELECT active_replicas AS n FROM system.replicas WHERE database = '${sqlString(database)}' AND table = '${sqlString(name)}'`,
        {},
      );
      return rows.length === 0 ? 0 : Number(rows[0].n);
    } catch {
      return 0;
    }
  }

  private setDegraded(degraded: { sinceMs: number; reason: string } | undefined): void {
    const changed = (this.degraded === undefined) !== (degraded === undefined);
    this.degraded = degraded;
    if (changed) this.options.onStateChange?.(this.state());
  }

  private use(index: number): void {
    const url = this.endpoints[index].url;
    const changed = index !== this.active || this.unavailable.has(url);
    this.active = index;
    this.activeVerified = true;
    this.unavailable.delete(url);
    if (changed) {
      this.options.onEndpointChange?.();
      this.options.onStateChange?.(this.state());
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
    const timeoutMs = this.replication().catchUpTimeoutMs;
    const tables = await selectRows<{ name: string }>(client, `SELECT name FROM system.tables WHERE database = '${DATABASE}' AND engine LIKE 'Replicated%' ORDER BY name`, {});
    const deadline = this.now() + timeoutMs;
    for (const { name } of tables) {
      const left = deadline - this.now();
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
}

/** A SELECT as JSONEachRow rows. */
export async function selectRows<T>(client: ClickHouseClient, sql: string, options: { settings?: ClickHouseSettings; signal?: AbortSignal }): Promise<T[]> {
  const rs = await client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: options.settings, abort_signal: options.signal });
  return rs.json<T>();
}

const sqlString = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
const firstLine = (s: string) => s.split('\n')[0].slice(0, 300);
