import type { RetentionRunResult } from '@stream-analytics/clickhouse-sink';
import pino from 'pino';
import { Writable } from 'node:stream';
import { parseAggregatorConfig } from './config';
import { createAggregatorMetrics } from './metrics';
import { RetentionJob, startRetentionJob } from './retention-job';

/** A pino logger whose lines are kept, parsed. */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const result = (over: Partial<RetentionRunResult> = {}): RetentionRunResult => ({ nowMs: 0, server: '18.16.1', dropped: [], ttlSupported: false, ttlSet: [], ...over });
const metricValue = async (metrics: ReturnType<typeof createAggregatorMetrics>, name: string, labels: Record<string, string> = {}) => {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
};

function setup(over: { owner?: () => boolean; run?: (nowMs: number) => Promise<RetentionRunResult> } = {}) {
  const metrics = createAggregatorMetrics({ processMetrics: false });
  const { logger, lines } = recordingLogger();
  const calls: number[] = [];
  let owner = true;
  const job = new RetentionJob({
    intervalMs: 3_600_000,
    isOwner: over.owner ?? (() => owner),
    run:
      over.run ??
      (async (nowMs) => {
        calls.push(nowMs);
        return result({ nowMs });
      }),
    logger,
    metrics,
    now: () => 1_764_590_400_000,
  });
  return { job, metrics, lines, calls, setOwner: (v: boolean) => (owner = v) };
}

afterEach(() => jest.useRealTimers());

describe('RetentionJob', () => {
  it('runs only while this pipeline holds partition 0, and counts what it dropped', async () => {
    const dropped = [
      { table: 'stream_analytics.iot_window_state', cls: 'aggregate' as const, partitionId: '20261030', day: '2026-10-30', rows: 120 },
      { table: 'stream_analytics.iot_window_users', cls: 'aggregate' as const, partitionId: '20261030', day: '2026-10-30', rows: 5 },
      { table: 'stream_analytics.dead_letters', cls: 'deadLetter' as const, partitionId: '20261116', day: '2026-11-16', rows: 7 },
    ];
    let owner = false;
    const calls: number[] = [];
    const { job, metrics, lines } = setup({
      owner: () => owner,
      run: async (nowMs) => {
        calls.push(nowMs);
        return result({ nowMs, dropped });
      },
    });
    expect(await job.runOnce()).toEqual({ kind: 'not-owner' });
    expect(calls).toEqual([]);
    expect(await metricValue(metrics, 'aggregator_retention_runs_total', { outcome: 'ok' })).toBeUndefined();

    owner = true;
    expect(await job.runOnce()).toMatchObject({ kind: 'done' });
    expect(calls).toEqual([1_764_590_400_000]);
    expect(await metricValue(metrics, 'aggregator_retention_partitions_dropped_total', { class: 'aggregate' })).toBe(2);
    expect(await metricValue(metrics, 'aggregator_retention_partitions_dropped_total', { class: 'deadLetter' })).toBe(1);
    expect(await metricValue(metrics, 'aggregator_retention_rows_dropped_total', { class: 'aggregate' })).toBe(125);
    expect(await metricValue(metrics, 'aggregator_retention_runs_total', { outcome: 'ok' })).toBe(1);
    expect(await metricValue(metrics, 'aggregator_retention_last_run_timestamp_seconds')).toBe(1_764_590_400);
    const info = lines.find((l) => l['msg'] === 'retention: dropped 3 expired day partition(s)');
    expect(info?.['dropped']).toEqual(dropped.map((d) => ({ table: d.table, day: d.day, rows: d.rows })));
  });

  it('a failed run is logged and counted, never thrown, and the next run goes ahead', async () => {
    let fail = true;
    const { job, metrics, lines } = setup({
      run: async (nowMs) => {
        if (fail) throw new Error('Code: 999, ZooKeeper session expired');
        return result({ nowMs });
      },
    });
    const outcome = await job.runOnce();
    expect(outcome.kind).toBe('failed');
    expect(lines.find((l) => l['level'] === 50)).toMatchObject({ msg: 'retention run failed; retrying at the next interval', err: 'Code: 999, ZooKeeper session expired' });
    expect(await metricValue(metrics, 'aggregator_retention_runs_total', { outcome: 'failed' })).toBe(1);
    expect(await metricValue(metrics, 'aggregator_retention_last_run_timestamp_seconds')).toBe(0);
    fail = false;
    expect((await job.runOnce()).kind).toBe('done');
    expect(await metricValue(metrics, 'aggregator_retention_runs_total', { outcome: 'ok' })).toBe(1);
  });

  it('an owner check that throws is a failed run too', async () => {
    const { job } = setup({
      owner: () => {
        throw new Error('no assignment yet');
      },
    });
    expect(await job.runOnce()).toMatchObject({ kind: 'failed' });
  });

  it('checks first after a short delay, then every interval, one run at a time, and not after stop', async () => {
    jest.useFakeTimers();
    let release: () => void = () => undefined;
    let started = 0;
    const { job, setOwner } = setup({
      run: (nowMs) => {
        started++;
        return new Promise((resolve) => (release = () => resolve(result({ nowMs }))));
      },
    });
    setOwner(true);
    job.start();
    job.start(); // a second start changes nothing
    await jest.advanceTimersByTimeAsync(59_999);
    expect(started).toBe(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(started).toBe(1);
    // A run still in progress is not started again; the next interval counts from its end.
    const same = job.runOnce();
    await jest.advanceTimersByTimeAsync(3 * 3_600_000);
    expect(started).toBe(1);
    release();
    await same;
    await jest.advanceTimersByTimeAsync(3_600_000 - 1);
    expect(started).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(started).toBe(2);
    release();
    const stopping = job.stop();
    await stopping;
    await jest.advanceTimersByTimeAsync(10 * 3_600_000);
    expect(started).toBe(2);
  });

  it('from the configuration: disabled by RETENTION_INTERVAL_SECS=0, else every interval with the configured policy', async () => {
    const metrics = createAggregatorMetrics({ processMetrics: false });
    const { logger } = recordingLogger();
    const clickhouse = {} as never;
    expect(startRetentionJob(parseAggregatorConfig([], { RETENTION_INTERVAL_SECS: '0' }), { clickhouse, isOwner: () => true, logger, metrics })).toBeUndefined();
    const job = startRetentionJob(parseAggregatorConfig([], { RETENTION_INTERVAL_SECS: '60' }), { clickhouse, isOwner: () => false, logger, metrics });
    expect(job).toBeInstanceOf(RetentionJob);
    await job?.stop();
  });
});
