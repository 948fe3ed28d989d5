/**
 * The aggregator against a real broker and a real ClickHouse: every row of
 * iot_minute_agg must equal the brute-force oracle for a dataset with real
 * device time (a wrong clock, offline buffering, late and far-late events),
 * through crashes (SIGKILL), a rebalance between two instances, and two
 * pipelines in one process (--workers 2) one of which is killed.
 */
import { randomInt } from 'node:crypto';
import {
  computeScenarioOracle,
  createScenario,
  dataset,
  expectMatchesOracle,
  produceRecords,
  waitFor,
  waitForTotals,
  windowsOfTopic,
  type Scenario,
} from './testing/scenario';
import { aggregatorMetric, childPids, startAggregator, stopAggregator } from '@stream-analytics/testing';

jest.setTimeout(300000);


describe('aggregator (real Kafka + ClickHouse)', () => {
  it('writes exactly the oracle for real device time: a clock years ahead, a device offline for 10 minutes, hour-late and days-late events', async () => {
    const s = await createScenario();
    const options = dataset(42);
    const produced = await produceRecords(s, options);
    expect(produced).toBe(60000);
    const oracle = await computeScenarioOracle(s);
    const base = s.baseTimeMs;
    // The dataset is what the test claims it is.
    const byReason = (r: string) => oracle.deadLetters.filter((d) => d.reason === r);
    expect(byReason('future_event_time').length).toBeGreaterThan(100);
    expect(byReason('late_event').length).toBeGreaterThan(20);
    expect(byReason('late_event').every((d) => d.windowStartMs < base - 48 * 3_600_000)).toBe(true);
    expect(oracle.windows.some((w) => w.windowStartMs < base - 50 * 60_000 && w.lateEvents > 0)).toBe(true);
    expect(oracle.windows.reduce((n, w) => n + w.lateEvents, 0)).toBeGreaterThan(500);
    expect(new Set(oracle.deadLetters.map((d) => d.reason)).size).toBeGreaterThanOrEqual(8);

    const aggregator = await startAggregator(s);
    await waitForTotals(s, oracle);
    await waitFor('all messages consumed', async () => (await aggregatorMetric(aggregator, 'aggregator_events_consumed_total')) >= produced);
    expect(await aggregatorMetric(aggregator, 'aggregator_events_future_total')).toBe(byReason('future_event_time').length);
    expect(await aggregatorMetric(aggregator, 'aggregator_events_late_total')).toBe(byReason('late_event').length);
    expect(await aggregatorMetric(aggregator, 'aggregator_events_late_folded_total')).toBe(oracle.windows.reduce((n, w) => n + w.lateEvents, 0));
    await stopAggregator(aggregator);
    expect((await windowsOfTopic(s)).every((w) => w < base + 24 * 3_600_000)).toBe(true);
    // Every other device counted exactly; no window years ahead; the offline device in its own minutes.
    await expectMatchesOracle(s, oracle);
  });

  it('stays exact when killed with SIGKILL three times mid-run', async () => {
    const s = await createScenario();
    const options = dataset(7);
    let aggregator = await startAggregator(s);
    // Data arrives in chunks while the aggregator is killed at random points.
    const chunks = 6;
    for (let i = 0; i < chunks; i++) {
      await produceRecords(s, options, { from: (i * options.count) / chunks, to: ((i + 1) * options.count) / chunks });
      if (i % 2 === 1) {
        await new Promise((r) => setTimeout(r, randomInt(300, 2500)));
        aggregator.run.child.kill('SIGKILL');
        await aggregator.run.exited;
        aggregator = await startAggregator(s);
      }
    }
    const oracle = await computeScenarioOracle(s);
    await waitForTotals(s, oracle);
    await stopAggregator(aggregator);
    await expectMatchesOracle(s, oracle);
  });

  it('stays exact when one of two instances in the group stops mid-run', async () => {
    const s: Scenario = await createScenario();
    const options = dataset(99);
    const first = await startAggregator(s);
    const second = await startAggregator(s);
    // Both members hold partitions before data arrives, so both consume some of it.
    await waitFor('both instances assigned', async () =>
      (await aggregatorMetric(first, 'aggregator_assigned_partitions')) > 0 && (await aggregatorMetric(second, 'aggregator_assigned_partitions')) > 0,
    );
    await produceRecords(s, options, { from: 0, to: options.count / 2 });
    await waitFor('both instances consuming', async () =>
      (await aggregatorMetric(first, 'aggregator_events_consumed_total')) > 0 && (await aggregatorMetric(second, 'aggregator_events_consumed_total')) > 0,
    );
    await stopAggregator(second);
    await produceRecords(s, options, { from: options.count / 2, to: options.count });
    const oracle = await computeScenarioOracle(s);
    await waitForTotals(s, oracle);
    await stopAggregator(first);
    await expectMatchesOracle(s, oracle);
  });

  it('with --workers 2 shares the partitions between two pipelines, exits when one dies and stays exact', async () => {
    const s = await createScenario();
    const options = dataset(23);
    await produceRecords(s, options, { from: 0, to: options.count / 2 });
    let aggregator = await startAggregator(s, { AGGREGATOR_WORKERS: '2' });
    // The process's /metrics sums both pipelines: all 6 partitions, split between two members.
    await waitFor('both pipelines assigned', async () =>
      /"worker":1,"partitions":\[[\d,]+\],"msg":"partitions assigned"/.test(aggregator.run.stdout()) &&
      /"worker":0,"partitions":\[[\d,]+\],"msg":"partitions assigned"/.test(aggregator.run.stdout()) &&
      (await aggregatorMetric(aggregator, 'aggregator_assigned_partitions')) === s.partitions,
    );
    await waitFor('consuming', async () => (await aggregatorMetric(aggregator, 'aggregator_events_consumed_total')) > 0);

    // A pipeline process killed outright takes the aggregator down with a
    // non-zero exit (to be restarted), rather than leaving its partitions stalled.
    const pipelineProcesses = childPids(aggregator.run.child.pid ?? -1);
    expect(pipelineProcesses).toHaveLength(1);
    const [pipelineProcess] = pipelineProcesses;
    process.kill(pipelineProcess, 'SIGKILL');
    const { code, stdout } = await aggregator.run.exited;
    expect(code).toBe(1);
    expect(stdout).toContain('pipeline ended unexpectedly; stopping the others');

    await produceRecords(s, options, { from: options.count / 2, to: options.count });
    aggregator = await startAggregator(s, { AGGREGATOR_WORKERS: '2' });
    const oracle = await computeScenarioOracle(s);
    await waitForTotals(s, oracle);
    await stopAggregator(aggregator);
    await expectMatchesOracle(s, oracle);
  });
});
