/**
 * The replicated profile, quorum inserts, failover and the catch-up rule on a
 * private cluster (ZooKeeper + two ClickHouse 18.16 replicas started here, on
 * free ports; replicas are killed with SIGKILL). Independent of the shared
 * local stack.
 */
import { startReplicatedClickHouse, waitFor, type ReplicatedClickHouse } from '@stream-analytics/testing';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClickHouseClient, type ClickHouseConfig, type ClickHouseSinkClient, type ReplicationState } from './client';
import { QuorumNotReachedError, ReplicaNotCaughtUpError } from './errors';
import { applyMigrations, findMigrationsDir, loadMigrationFiles } from './migrations';
import { deadLetterScenario, writeDeadLetterFlush } from '../testing/history';
import { deviceScenario, expectedDeviceMinutes, runDeviceScenario, statsDifferences, type PartitionedRecord } from '../testing/device';
import { readDeviceMinute, type DeviceMinuteRow } from './device-readers';
import { readDeadLetterCounts, readMinuteAgg } from './readers';
import { TABLES } from './schema';
import { rowVersionOf } from '@stream-analytics/windowing';
import type { WindowPartitionRow, WindowUsersRow } from './rows';
import { WindowRowWriter } from './writer';

jest.setTimeout(180_000);

let cluster: ReplicatedClickHouse;
const clients: ClickHouseSinkClient[] = [];
const client = (config: Partial<ClickHouseConfig> = {}) => {
  const c = createClickHouseClient({ url: cluster.urls, replication: {}, ...config });
  clients.push(c);
  return c;
};
/** Short quorum and catch-up timeouts for the tests that take replicas down. */
const OUTAGE = { insertQuorumTimeoutMs: 2000, catchUpTimeoutMs: 2000 };
const node = (i: number) => client({ url: cluster.replicas[i].url, replication: undefined });

beforeAll(async () => {
  cluster = await startReplicatedClickHouse();
  const first = await applyMigrations(client(), findMigrationsDir(__dirname), { profile: { kind: 'replicated' } });
  expect(first.unreachable).toEqual([]);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

async function snapshot(c: ClickHouseSinkClient, database: string): Promise<unknown> {
  return c.queryRows(
    `SELECT name, engine, toString(metadata_modification_time) AS mtime, create_table_query FROM system.tables WHERE database = '${database}' ORDER BY name`,
  );
}

const MINUTE = 60_000;
function windowRows(windowStartMs: number, version: number): WindowPartitionRow[] {
  return [0, 1].map((p) => ({
    windowStartMs,
    sourcePartition: p,
    totalEvents: version + p,
    metricSum: version * 1.5,
    anomalyEvents: p,
    lateEvents: 0,
    sourceTopic: 'replicated.test',
    lastOffset: version,
    isFinal: false,
    rowVersion: rowVersionOf(version, false),
    updatedAtMs: windowStartMs + version,
  }));
}
function windowUsers(windowStartMs: number, version: number): WindowUsersRow[] {
  return [0, 1].map((p) => ({ windowStartMs, userIds: [`u${p}`, `u${version}`] }));
}
/** A flush of both partitions at `version` through `writer`: users, state rows, the refresh (each a quorum insert). */
async function writeFlush(writer: WindowRowWriter, windowStartMs: number, versions: readonly number[]): Promise<void> {
  await writer.writeWindowUsers(versions.flatMap((v) => windowUsers(windowStartMs, v)));
  await writer.writeWindowRows(versions.flatMap((v) => windowRows(windowStartMs, v)));
  await writer.refreshMinuteRollup([windowStartMs]);
}

describe('replicated profile on ZooKeeper + two 18.16 replicas', () => {
  it('applies the init files per node as Replicated tables, idempotently; views unchanged; the reader contract is the same on both replicas', async () => {
    const ch = client();
    const dir = findMigrationsDir(__dirname);
    const before = [await snapshot(node(0), 'stream_analytics'), await snapshot(node(1), 'stream_analytics')];
    const second = await applyMigrations(ch, dir, { profile: { kind: 'replicated' } });
    expect(second.applied).toEqual([]);
    expect(second.skipped).toEqual((await loadMigrationFiles(dir)).map((f) => f.name));
    expect([await snapshot(node(0), 'stream_analytics'), await snapshot(node(1), 'stream_analytics')]).toEqual(before);

    const engines = await node(1).queryRows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = 'stream_analytics' ORDER BY name`);
    expect(engines).toEqual([
      { name: 'dead_letters', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_device_hour', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_device_last_seen', engine: 'ReplicatedAggregatingMergeTree' },
      { name: 'iot_device_last_seen_from_copy', engine: 'MaterializedView' },
      { name: 'iot_device_minute', engine: 'View' },
      { name: 'iot_device_partition_minute', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_device_recent', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_minute_agg', engine: 'View' },
      { name: 'iot_minute_dead_letter_rollup', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_minute_dead_letters', engine: 'View' },
      { name: 'iot_minute_dead_letters_merged', engine: 'View' },
      { name: 'iot_minute_merged', engine: 'View' },
      { name: 'iot_minute_results', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_minute_results_merged', engine: 'View' },
      { name: 'iot_minute_rollup', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_window_agg_state', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_window_state', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'iot_window_users', engine: 'ReplicatedReplacingMergeTree' },
      { name: 'schema_migrations', engine: 'ReplacingMergeTree' },
    ]);
    const replicas = await node(0).queryRows<{ table: string; zookeeper_path: string; replica_name: string; total_replicas: number | string }>(
      `SELECT table, zookeeper_path, replica_name, total_replicas FROM system.replicas WHERE database = 'stream_analytics' ORDER BY table`,
    );
    expect(replicas.map((r) => [r.table, r.zookeeper_path, r.replica_name, Number(r.total_replicas)])).toEqual(
      [
        'dead_letters',
        'iot_device_hour',
        'iot_device_last_seen',
        'iot_device_partition_minute',
        'iot_device_recent',
        'iot_minute_dead_letter_rollup',
        'iot_minute_results',
        'iot_minute_rollup',
        'iot_window_agg_state',
        'iot_window_state',
        'iot_window_users',
      ].map((t) => [
        t,
        `/clickhouse/tables/01/stream_analytics/${t}`,
        'replica1',
        2,
      ]),
    );

    const w = Date.UTC(1990, 0, 1) + randomInt(0, 1_000_000) * MINUTE;
    await writeFlush(new WindowRowWriter(ch), w, [5, 3]);
    const [a, b] = [await readMinuteAgg(node(0), w, w + MINUTE), await readMinuteAgg(node(1), w, w + MINUTE)];
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ totalEvents: 11, uniqueUsers: 4, sourcePartitions: 2 });
    expect(b).toEqual(a); // quorum 2: acknowledged means on both, the rollup too

    const dlq = deadLetterScenario(`test.replicated.dlq.${randomInt(1e9)}`, w);
    for (const batch of dlq.batches) await writeDeadLetterFlush(new WindowRowWriter(ch), batch);
    const counts = [await readDeadLetterCounts(node(0), w, w + 2 * MINUTE), await readDeadLetterCounts(node(1), w, w + 2 * MINUTE)];
    expect(counts).toEqual([dlq.expected, dlq.expected]); // the dead-letter rollup too
  });

  it('applies ON CLUSTER through one node when a cluster is configured, including tables only a new file defines', async () => {
    const db = `scratch_${randomInt(1e9)}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'replicated-profile-'));
    try {
      for (const f of await loadMigrationFiles(findMigrationsDir(__dirname))) writeFileSync(path.join(dir, f.name), readFileSync(f.path, 'utf8').replace(/stream_analytics/g, db));
      writeFileSync(path.join(dir, '900_later.sql'), `CREATE TABLE IF NOT EXISTS ${db}.added_later\n(\n    k UInt64,\n    v UInt64\n)\nENGINE = ReplacingMergeTree(v)\nORDER BY k;\n`);
      const options = { profile: { kind: 'replicated', cluster: cluster.clusterName } as const, migrationsTable: { database: db, table: 'schema_migrations' } };
      await applyMigrations(node(0), dir, options);
      const before = await snapshot(node(1), db);
      await applyMigrations(node(0), dir, options);
      expect(await snapshot(node(1), db)).toEqual(before);
      const engines = await node(1).queryRows<{ name: string; engine: string }>(`SELECT name, engine FROM system.tables WHERE database = '${db}' AND name != 'schema_migrations' ORDER BY name`);
      expect(engines.map((e) => e.engine)).toEqual([
        'ReplicatedReplacingMergeTree', // added_later
        'ReplicatedReplacingMergeTree', // dead_letters
        'ReplicatedReplacingMergeTree', // iot_device_hour
        'ReplicatedAggregatingMergeTree', // iot_device_last_seen
        'MaterializedView', // iot_device_last_seen_from_copy
        'View', // iot_device_minute
        'ReplicatedReplacingMergeTree', // iot_device_partition_minute
        'ReplicatedReplacingMergeTree', // iot_device_recent
        'View', // iot_minute_agg
        'ReplicatedReplacingMergeTree', // iot_minute_dead_letter_rollup
        'View', // iot_minute_dead_letters
        'View', // iot_minute_dead_letters_merged
        'View', // iot_minute_merged
        'ReplicatedReplacingMergeTree', // iot_minute_results
        'View', // iot_minute_results_merged
        'ReplicatedReplacingMergeTree', // iot_minute_rollup
        'ReplicatedReplacingMergeTree', // iot_window_agg_state
        'ReplicatedReplacingMergeTree', // iot_window_state
        'ReplicatedReplacingMergeTree', // iot_window_users
      ]);
      expect(engines[0].name).toBe('added_later');
    } finally {
      await node(0).command(`DROP DATABASE IF EXISTS ${db} ON CLUSTER ${cluster.clusterName}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to treat a table created without replication as replicated', async () => {
    const db = `scratch_${randomInt(1e9)}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'replicated-profile-'));
    try {
      writeFileSync(path.join(dir, '001.sql'), `CREATE DATABASE IF NOT EXISTS ${db};\nCREATE TABLE IF NOT EXISTS ${db}.t (k UInt64) ENGINE = MergeTree ORDER BY k;\n`);
      const migrationsTable = { database: db, table: 'schema_migrations' };
      await applyMigrations(node(0), dir, { migrationsTable });
      await expect(applyMigrations(node(0), path.join(dir), { migrationsTable, profile: { kind: 'replicated' } })).rejects.toThrow(/exist\(s\) without replication/);
    } finally {
      await node(0).command(`DROP DATABASE IF EXISTS ${db}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a replica down: a quorum-only client fails clearly, a degrading one writes through the other and says so; the replica catches up by itself', async () => {
    const w = Date.UTC(1991, 0, 1) + randomInt(0, 1_000_000) * MINUTE;
    await cluster.replicas[1].kill();
    try {
      const strict = client({ url: cluster.replicas[0].url, replication: { onQuorumLoss: 'fail', insertQuorumTimeoutMs: 2000 } });
      const err = await strict.insertJsonEachRow('stream_analytics.iot_window_state', [{ window_start: w / 1000, source_topic: 'replicated.test', source_partition: 9, last_offset: 1, row_version: 2 }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QuorumNotReachedError);
      expect((err as Error).message).toMatch(/not acknowledged by 2 replicas/);

      const states: unknown[] = [];
      const ch = client({ replication: OUTAGE, onReplicationStateChange: (s) => states.push(s) });
      await writeFlush(new WindowRowWriter(ch), w, [7]);
      expect(ch.replicationState()).toMatchObject({ endpoint: cluster.replicas[0].url, degraded: { reason: expect.stringMatching(/insert quorum 2 not reachable/) } });
      expect(states.length).toBeGreaterThan(0);
      expect((await readMinuteAgg(ch, w, w + MINUTE))[0]).toMatchObject({ totalEvents: 15 });
    } finally {
      await cluster.replicas[1].start();
    }
    const back = node(1);
    await waitFor('the restarted replica has the rows written while it was down', async () => (await readMinuteAgg(back, w, w + MINUTE))[0]?.totalEvents === 15, 60_000);
  });

  it('never reads from a replica that misses an acknowledged insert: it waits until the replica caught up', async () => {
    const w = Date.UTC(1992, 0, 1) + randomInt(0, 1_000_000) * MINUTE;
    const [r1, r2] = cluster.replicas;
    await r2.kill();
    const writer = client({ replication: OUTAGE });
    await writeFlush(new WindowRowWriter(writer), w, [9]); // degraded: on replica1 only
    await r1.kill();
    await r2.start();
    const reader = client({ url: `${r2.url},${r1.url}`, replication: OUTAGE });
    try {
      const states: string[][] = [];
      const probe = client({ url: r2.url, replication: OUTAGE, onReplicationStateChange: (st) => states.push(st.unavailable) });
      await expect(readMinuteAgg(probe, w, w + MINUTE)).rejects.toBeInstanceOf(ReplicaNotCaughtUpError);
      expect(states).toEqual([[r2.url]]);
      // r2 answers but is behind (the parts are only on r1), r1 does not answer: no read at all.
      await expect(readMinuteAgg(reader, w, w + MINUTE)).rejects.toThrow();
      expect(reader.replicationState().unavailable.sort()).toEqual([r1.url, r2.url].sort());
      expect(await node(1).queryRows(`SELECT count() AS n FROM stream_analytics.iot_window_state WHERE window_start = toDateTime(${w / 1000})`)).toEqual([{ n: '0' }]);
    } finally {
      await r1.start();
    }
    await waitFor('a replica that holds every acknowledged insert serves the rows', async () => (await readMinuteAgg(reader, w, w + MINUTE).catch(() => []))[0]?.totalEvents === 19, 60_000);
  });

  it('a device row in the state table is in the device copy and the last-seen table, on both replicas, even when the state insert that holds it timed out and was never written again', async () => {
    // On 18.16 a quorum insert whose quorum wait times out answers "unknown status" (319) with its
    // part committed. The writer's repeat may never come (the aggregator is killed; the one that
    // replaces it loads that state and does not write it again): the copy must not depend on it.
    const [w0, topic, first, want] = deviceFlush(1993);
    // No quorum still pending from the tests before (it would refuse the insert before writing it).
    await node(1).command(`SYSTEM SYNC REPLICA ${TABLES.windowState}`);
    await node(1).command(`SYSTEM STOP FETCHES ${TABLES.windowState}`);
    try {
      const once = new WindowRowWriter(client({ url: cluster.replicas[0].url, replication: { ...OUTAGE, onQuorumLoss: 'fail' } }), { maxAttempts: 1 });
      let failed: unknown;
      await runDeviceScenario(topic, first, async (rows) => void (await once.writeWindowRows(rows).catch((e: unknown) => (failed = e))), async () => undefined);
      expect(String(failed)).toMatch(/not acknowledged by 2 replicas/);
      expect(await stateDevicesNotInCopy(node(0), topic)).toEqual([]);
      expect(await node(0).queryRows(`SELECT count() AS n FROM ${TABLES.windowState} WHERE source_topic = '${topic}' AND device_id != ''`)).not.toEqual([{ n: '0' }]);
      expect(statsDifferences(await readDeviceMinute(node(0), w0, w0 + 3 * MINUTE), want)).toEqual([]);
      expect(await lastSeen(node(0), want)).toEqual(wantedLastSeen(want));
    } finally {
      await node(1).command(`SYSTEM START FETCHES ${TABLES.windowState}`);
    }
    await expectOtherReplicaCatchesUp(w0, want);
  });

  it('an insert into the device copy that timed out after its part was committed is written again, not deduplicated: the last-seen table holds its rows on both replicas', async () => {
    // 18.16 throws the 319 before the block reaches the materialized view (the last-seen table), and
    // skips the views of a block it deduplicated: the repeat without quorum must be stored again.
    const [w0, topic, first, want] = deviceFlush(1994);
    await node(1).command(`SYSTEM SYNC REPLICA ${TABLES.devicePartitionMinute}`);
    await node(1).command(`SYSTEM STOP FETCHES ${TABLES.devicePartitionMinute}`);
    try {
      const states: ReplicationState[] = [];
      const ch = client({ url: cluster.replicas[0].url, replication: OUTAGE, onReplicationStateChange: (st) => states.push(st) });
      const writer = new WindowRowWriter(ch);
      await runDeviceScenario(topic, first, async (rows) => void (await writer.writeWindowRows(rows)), async (windows) => void (await writer.refreshMinuteRollup(windows)));
      // The copy was acknowledged by replica1 alone.
      expect(states[0]?.degraded?.reason).toMatch(/insert quorum 2 not reachable/);
      expect(statsDifferences(await readDeviceMinute(node(0), w0, w0 + 3 * MINUTE), want)).toEqual([]);
      expect(await lastSeen(node(0), want)).toEqual(wantedLastSeen(want));
    } finally {
      await node(1).command(`SYSTEM START FETCHES ${TABLES.devicePartitionMinute}`);
    }
    await expectOtherReplicaCatchesUp(w0, want);
  });
});

/** Replica2, fetching again, ends with the device minutes and last-seen rows replica1 acknowledged. */
async function expectOtherReplicaCatchesUp(w0: number, want: DeviceMinuteRow[]): Promise<void> {
  await waitFor('the other replica holds the same device rows', async () => statsDifferences(await readDeviceMinute(node(1), w0, w0 + 3 * MINUTE), want).length === 0, 60_000);
  expect(await lastSeen(node(1), want)).toEqual(wantedLastSeen(want));
}

/** The first flush of the device scenario in a random window of `year`: [w0, topic, flushes, expected device minutes]. */
function deviceFlush(year: number): [number, string, PartitionedRecord[][], DeviceMinuteRow[]] {
  const w0 = Date.UTC(year, 0, 1) + randomInt(0, 100_000) * 3 * MINUTE;
  const first = deviceScenario(w0).flushes.slice(0, 1);
  return [w0, `replicated.devices.${randomInt(1e9)}`, first, expectedDeviceMinutes(first)];
}

/** Per device of `want`: the last arrival in iot_device_last_seen. */
async function lastSeen(c: ClickHouseSinkClient, want: readonly DeviceMinuteRow[]): Promise<Array<[string, number]>> {
  const devices = [...new Set(want.map((d) => `'${d.deviceId}'`))].join(', ');
  const rows = await c.queryRows<{ device_id: string; seen: number | string }>(
    `SELECT device_id, maxMerge(last_seen_state) AS seen FROM ${TABLES.deviceLastSeen} WHERE device_id IN (${devices}) GROUP BY device_id ORDER BY device_id`,
  );
  return rows.map((r) => [r.device_id, Number(r.seen)]);
}

/** Per device of `want`: its newest arrival (each test here writes these devices later in event and arrival time than the one before). */
function wantedLastSeen(want: readonly DeviceMinuteRow[]): Array<[string, number]> {
  return [...new Set(want.map((d) => d.deviceId))].sort().map((d) => [d, Math.max(...want.filter((m) => m.deviceId === d).map((m) => m.lastSeenMs))]);
}

/** Device rows (key and version) of this topic in the state table that the device copy lacks. */
async function stateDevicesNotInCopy(c: ClickHouseSinkClient, topic: string): Promise<unknown[]> {
  const key = 'window_start, device_id, source_topic, source_partition, row_version';
  return c.queryRows(
    `SELECT ${key} FROM ${TABLES.windowState} WHERE source_topic = '${topic}' AND device_id != '' AND (${key}) NOT IN (SELECT ${key} FROM ${TABLES.devicePartitionMinute} WHERE source_topic = '${topic}')`,
  );
}
