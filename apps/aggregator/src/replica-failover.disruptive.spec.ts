/**
 * The aggregator on replicated ClickHouse (a private cluster: ZooKeeper + two
 * 18.16 replicas started by this test on free ports; the broker is the shared
 * one). The replica in use is killed with SIGKILL mid-run, the aggregator
 * itself is killed with SIGKILL during that outage, the replica comes back
 * later: both replicas must end equal to the oracle. Disruptive (it kills
 * servers and runs for about a minute), so it runs in the last phase, alone;
 * it touches no shared server.
 */
import { createClickHouseClient } from '@stream-analytics/clickhouse-sink';
import { aggregatorMetric, type ReplicatedClickHouse, startAggregator, startReplicatedClickHouse, stopAggregator } from '@stream-analytics/testing';
import {
  computeScenarioOracle,
  createScenario,
  dataset,
  expectMatchesOracle,
  produceRecords,
  waitFor,
  waitForTotals,
  type Scenario,
} from './testing/scenario';

jest.setTimeout(300000);

let cluster: ReplicatedClickHouse | undefined;
afterAll(async () => {
  await cluster?.stop();
});

const REPLICATED_ENV = { CLICKHOUSE_SCHEMA_PROFILE: 'replicated', CLICKHOUSE_INSERT_QUORUM_TIMEOUT_MS: '2000' };

/** The scenario read through one replica only. */
const onReplica = (s: Scenario, url: string): Scenario => ({ ...s, clickhouseUrl: url, clickhouse: createClickHouseClient({ url }) });

describe('aggregator on ZooKeeper + two ClickHouse 18.16 replicas', () => {
  it('stays exact through a SIGKILL of the replica in use and of the aggregator during that outage; the replica catches up by itself', async () => {
    cluster = await startReplicatedClickHouse();
    const [first, second] = cluster.replicas;
    const shared = await createScenario();
    await shared.clickhouse.close();
    const s: Scenario = { ...shared, clickhouseUrl: cluster.urls, clickhouse: createClickHouseClient({ url: second.url }) };
    const options = dataset(1313);
    const third = options.count / 3;

    let aggregator = await startAggregator(s, REPLICATED_ENV);
    await produceRecords(s, options, { from: 0, to: third });
    await waitFor('rows written with quorum', async () => (await aggregatorMetric(aggregator, 'aggregator_rows_written_total')) > 0, 60000);
    const readyBefore = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`);
    expect([readyBefore.status, await readyBefore.text()]).toEqual([200, 'ready\n']);

    await first.kill(); // the replica every request went to
    await produceRecords(s, options, { from: third, to: 2 * third });
    await waitFor('readiness says writes go through the other replica without quorum', async () => {
      const res = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`);
      const body = await res.text();
      return res.status === 200 && body.includes(`writes through ${second.url}`) && body.includes('degraded');
    }, 90000);

    expect(await aggregatorMetric(aggregator, 'aggregator_clickhouse_quorum_degraded')).toBe(1);
    aggregator.run.child.kill('SIGKILL');
    await aggregator.run.exited;
    // A new aggregator during the outage: it starts on the dead replica's URL,
    // moves to the surviving one (which holds every acknowledged insert) and
    // replays from the last committed offsets.
    aggregator = await startAggregator(s, REPLICATED_ENV);
    const sixth = options.count / 6;
    await produceRecords(s, options, { from: 2 * third, to: 2 * third + sixth });
    await waitFor('the restarted aggregator writes through the surviving replica', async () => (await aggregatorMetric(aggregator, 'aggregator_rows_written_total')) > 0, 90000);
    expect(await aggregatorMetric(aggregator, 'aggregator_clickhouse_quorum_degraded')).toBe(1);
    expect(first.running()).toBe(false);

    await first.start();
    await produceRecords(s, options, { from: 2 * third + sixth, to: options.count });
    const oracle = await computeScenarioOracle(s);
    await waitForTotals(s, oracle);
    await waitForTotals(onReplica(s, first.url), oracle, 180000); // the returned replica caught up by itself
    await waitFor('quorum inserts again', async () => (await aggregatorMetric(aggregator, 'aggregator_clickhouse_quorum_degraded')) === 0, 60000);
    const readyAfter = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`);
    expect([readyAfter.status, await readyAfter.text()]).toEqual([200, 'ready\n']);
    await stopAggregator(aggregator);
    await expectMatchesOracle(onReplica(s, first.url), oracle);
    await expectMatchesOracle(onReplica(s, second.url), oracle);
    await s.clickhouse.close();
  });
});
