/**
 * applyRetention on replicated ClickHouse (a private ZooKeeper + two 18.16
 * replicas): the drops go through the replication log, so one run through
 * the client reaches both replicas, per node (no cluster name) and with
 * ON CLUSTER.
 */
import { startReplicatedClickHouse, waitFor, type ReplicatedClickHouse } from '@stream-analytics/testing';
import { randomBytes } from 'node:crypto';
import { applyRetention } from './apply-retention';
import { createClickHouseClient, type ClickHouseSinkClient } from './client';
import { findMigrationsDir, loadMigrationFiles } from './migrations';
import { countsOf, countsPerDaySql, dayId, insertRowsSql, retentionScenario, retentionTableStatements, scenarioInstants, TEST_POLICY } from '../testing/retention';
import { profileStatement, type SchemaProfile } from './schema-profile';

jest.setTimeout(180_000);

let cluster: ReplicatedClickHouse;
const clients: ClickHouseSinkClient[] = [];
const client = (url: string, replicated: boolean) => {
  const c = createClickHouseClient({ url, ...(replicated ? { replication: {} } : {}) });
  clients.push(c);
  return c;
};
const node = (i: number) => client(cluster.replicas[i].url, false);

beforeAll(async () => {
  // Returns once every replica answers and has its ZooKeeper session.
  cluster = await startReplicatedClickHouse();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

describe('applyRetention on two replicated 18.16 replicas', () => {
  it.each([
    ['per node (no cluster name): once, through the endpoint in use', false],
    ['ON CLUSTER', true],
  ])('%s: the expired days are gone on both replicas, every other row stays on both', async (_name, onCluster) => {
    const db = `retention_${randomBytes(4).toString('hex')}`;
    const profile: SchemaProfile = onCluster ? { kind: 'replicated', cluster: cluster.clusterName } : { kind: 'replicated' };
    const nodes = [node(0), node(1)];
    const files = await loadMigrationFiles(findMigrationsDir(__dirname));
    // The tables as the replicated profile creates them, on every node ({replica} macros differ).
    for (const n of nodes) {
      await n.command(`CREATE DATABASE IF NOT EXISTS ${db}`);
      for (const s of retentionTableStatements(files, db)) await n.command(profileStatement(s, { kind: 'replicated' }).sql);
    }
    try {
      const now = Date.UTC(1991, 2, 10);
      const scenario = retentionScenario(now, db);
      for (const t of scenario) await nodes[0].command(insertRowsSql(t, scenarioInstants(t)));
      const counts = async (n: ClickHouseSinkClient) => {
        const out: Record<string, Record<string, number>> = {};
        for (const t of scenario) out[t.table] = countsOf(await n.queryRows<{ day: string; n: string }>(countsPerDaySql(t.physical)));
        return out;
      };
      const before = await counts(nodes[0]);
      await waitFor('replica 2 to hold the inserted rows', async () => JSON.stringify(await counts(nodes[1])) === JSON.stringify(before), 30_000);

      const run = await applyRetention(client(cluster.urls, true), TEST_POLICY, now, { database: db, profile });
      expect(run.dropped.length).toBe(scenario.reduce((n, t) => n + t.expiredDayStarts.length, 0));
      const expected = Object.fromEntries(
        scenario.map((t) => [t.table, Object.fromEntries(Object.entries(before[t.table]).filter(([day]) => !t.expiredDayStarts.map(dayId).includes(day)))]),
      );
      for (const n of nodes) await waitFor('the drops on every replica', async () => JSON.stringify(await counts(n)) === JSON.stringify(expected), 30_000);
      expect([await counts(nodes[0]), await counts(nodes[1])]).toEqual([expected, expected]);
      expect((await applyRetention(client(cluster.urls, true), TEST_POLICY, now, { database: db, profile })).dropped).toEqual([]);
    } finally {
      for (const n of nodes) await n.command(`DROP DATABASE IF EXISTS ${db}`);
    }
  });
});
