import pino from 'pino';
import { createAggregatorMetrics, type AggregatorMetrics } from './metrics';
import { PipelinePool, type PipelineHandle } from './pipeline-pool';
import type { FromWorker, ToWorker } from './pipeline-worker';

/** A pipeline stand-in: answers metric requests from its own registry, records what it was sent. */
class FakePipeline implements PipelineHandle {
  readonly received: ToWorker[] = [];
  readonly metrics: AggregatorMetrics = createAggregatorMetrics({ processMetrics: false });
  private toPool: Array<(m: FromWorker) => void> = [];
  private exitHandlers: Array<(code: number) => void> = [];
  /** When set, the pipeline ends with this code as soon as it is told to stop. */
  stopCode: number | undefined = 0;

  send(message: ToWorker): void {
    this.received.push(message);
    if (message.type === 'metrics') {
      void this.metrics.registry.getMetricsAsJSON().then((json) => this.report({ type: 'metrics', id: message.id, metrics: json }));
    } else if (this.stopCode !== undefined) {
      this.exit(this.stopCode);
    }
  }
  onMessage(handler: (message: FromWorker) => void): void {
    this.toPool.push(handler);
  }
  onExit(handler: (code: number) => void): void {
    this.exitHandlers.push(handler);
  }
  report(message: FromWorker): void {
    this.toPool.forEach((h) => h(message));
  }
  exit(code: number): void {
    this.exitHandlers.forEach((h) => h(code));
  }
}

const silent = pino({ level: 'silent' });

function poolOf(n: number) {
  const pipelines = Array.from({ length: n }, () => new FakePipeline());
  const pool = new PipelinePool(n, (i) => pipelines[i], silent);
  return { pool, pipelines };
}

const sample = (text: string, line: string) => {
  const m = new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

describe('PipelinePool', () => {
  it('is ready only when every pipeline is, and says which one is not', () => {
    const { pool, pipelines } = poolOf(2);
    expect(pool.ready()).toEqual({ ready: false, reason: 'pipeline 0: starting' });
    pipelines[0].report({ type: 'status', live: true, ready: true });
    expect(pool.ready()).toEqual({ ready: false, reason: 'pipeline 1: starting' });
    pipelines[1].report({ type: 'status', live: true, ready: false, reason: 'ClickHouse writes are failing' });
    expect(pool.ready()).toEqual({ ready: false, reason: 'pipeline 1: ClickHouse writes are failing' });
    pipelines[1].report({ type: 'status', live: true, ready: true });
    expect(pool.ready()).toEqual({ ready: true });
    // Ready, with a note worth showing (writes without quorum on replicated ClickHouse).
    pipelines[1].report({ type: 'status', live: true, ready: true, reason: 'ClickHouse writes through http://b:8123; degraded' });
    expect(pool.ready()).toEqual({ ready: true, reason: 'pipeline 1: ClickHouse writes through http://b:8123; degraded' });
    pipelines[1].report({ type: 'status', live: true, ready: true });
    expect(pool.ready()).toEqual({ ready: true });
  });

  it('one pipeline reports no pipeline number', () => {
    const { pool, pipelines } = poolOf(1);
    pipelines[0].report({ type: 'status', live: true, ready: false, reason: 'connecting to Kafka' });
    expect(pool.ready()).toEqual({ ready: false, reason: 'connecting to Kafka' });
  });

  it('is not live when a pipeline says so, has stopped reporting, or has ended', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const { pool, pipelines } = poolOf(2);
      expect(pool.live()).toBe(true);
      pipelines[0].report({ type: 'status', live: false, ready: true });
      expect(pool.live()).toBe(false);
      pipelines[0].report({ type: 'status', live: true, ready: true });
      expect(pool.live()).toBe(true);
      // Pipeline 1 goes quiet (a stuck loop) while pipeline 0 keeps reporting.
      jest.setSystemTime(1_000_000 + 119_000);
      pipelines[0].report({ type: 'status', live: true, ready: true });
      expect(pool.live()).toBe(true);
      jest.setSystemTime(1_000_000 + 121_000);
      pipelines[0].report({ type: 'status', live: true, ready: true });
      expect(pool.live()).toBe(false);
      pipelines[1].report({ type: 'status', live: true, ready: true });
      expect(pool.live()).toBe(true);
      pipelines[1].exit(0);
      expect(pool.live()).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });

  it('serves the sum of the pipelines: counters and lag add up, ClickHouse is up only if up everywhere', async () => {
    const { pool, pipelines } = poolOf(2);
    pipelines[0].metrics.consumed.inc(1000);
    pipelines[1].metrics.consumed.inc(234);
    pipelines[0].metrics.invalid.inc({ reason: 'invalid_json' }, 3);
    pipelines[1].metrics.invalid.inc({ reason: 'invalid_json' }, 4);
    pipelines[1].metrics.invalid.inc({ reason: 'out_of_range' }, 1);
    pipelines[0].metrics.lag.set({ partition: '0' }, 10);
    pipelines[1].metrics.lag.set({ partition: '1' }, 5);
    pipelines[0].metrics.assignedPartitions.set(3);
    pipelines[1].metrics.assignedPartitions.set(3);
    pipelines[0].metrics.clickhouseUp.set(1);
    pipelines[1].metrics.clickhouseUp.set(0);
    pipelines[0].metrics.flushDuration.observe(0.02);
    pipelines[1].metrics.flushDuration.observe(0.3);

    const text = await pool.metrics();
    expect(sample(text, 'aggregator_events_consumed_total')).toBe(1234);
    expect(sample(text, 'aggregator_events_invalid_total{reason="invalid_json"}')).toBe(7);
    expect(sample(text, 'aggregator_events_invalid_total{reason="out_of_range"}')).toBe(1);
    expect(sample(text, 'aggregator_consumer_lag{partition="0"}')).toBe(10);
    expect(sample(text, 'aggregator_consumer_lag{partition="1"}')).toBe(5);
    expect(sample(text, 'aggregator_assigned_partitions')).toBe(6);
    expect(sample(text, 'aggregator_clickhouse_up')).toBe(0);
    expect(sample(text, 'aggregator_flush_duration_seconds_count')).toBe(2);
    expect(sample(text, 'aggregator_flush_duration_seconds_bucket{le="0.025"}')).toBe(1);
    // The process's own metrics are there once.
    expect(text.match(/^process_cpu_user_seconds_total /gm)).toHaveLength(1);

    pipelines[1].metrics.clickhouseUp.set(1);
    expect(sample(await pool.metrics(), 'aggregator_clickhouse_up')).toBe(1);
  });

  it('leaves out a pipeline that does not answer rather than hang the scrape', async () => {
    jest.useFakeTimers();
    try {
      const { pool, pipelines } = poolOf(2);
      pipelines[0].metrics.consumed.inc(5);
      pipelines[1].metrics.consumed.inc(7);
      pipelines[1].send = (m) => void m; // never answers
      const scrape = pool.metrics();
      await jest.advanceTimersByTimeAsync(5000);
      expect(sample(await scrape, 'aggregator_events_consumed_total')).toBe(5);
    } finally {
      jest.useRealTimers();
    }
  });

  it('stops every pipeline on stop() and exits 0 when all stopped cleanly', async () => {
    const { pool, pipelines } = poolOf(3);
    pool.stop();
    expect(pipelines.map((p) => p.received)).toEqual([[{ type: 'stop' }], [{ type: 'stop' }], [{ type: 'stop' }]]);
    await expect(pool.exited).resolves.toBe(0);
  });

  it('stops the others when one pipeline ends unexpectedly, and exits non-zero', async () => {
    const { pool, pipelines } = poolOf(3);
    pipelines[1].exit(1);
    expect(pipelines[0].received).toEqual([{ type: 'stop' }]);
    expect(pipelines[2].received).toEqual([{ type: 'stop' }]);
    expect(pipelines[1].received).toEqual([]);
    await expect(pool.exited).resolves.toBe(1);
  });

  it('exits non-zero when a pipeline fails its final flush even though the stop was requested', async () => {
    const { pool, pipelines } = poolOf(2);
    pipelines[1].stopCode = 1;
    pool.stop();
    await expect(pool.exited).resolves.toBe(1);
  });
});
