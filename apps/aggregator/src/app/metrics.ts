/**
 * Prometheus metrics of one aggregator pipeline. Each pipeline has its own
 * registry; the aggregator serves their sum (see pipeline-pool.ts), so gauges
 * say how they combine across pipelines.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** processMetrics: also the Node process metrics, for a pipeline in a process of its own. */
export function createAggregatorMetrics(options: { processMetrics: boolean }) {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    consumed: new Counter({ name: 'aggregator_events_consumed_total', help: 'Raw messages consumed.', registers: [registry] }),
    folded: new Counter({ name: 'aggregator_events_folded_total', help: 'Valid events folded into a window.', registers: [registry] }),
    invalid: new Counter({ name: 'aggregator_events_invalid_total', help: 'Invalid messages sent to the DLQ, by reason.', labelNames: ['reason'], registers: [registry] }),
    late: new Counter({ name: 'aggregator_events_late_total', help: 'Late events sent to the DLQ.', registers: [registry] }),
    skippedReplay: new Counter({ name: 'aggregator_events_replay_skipped_total', help: 'Events re-read after a restart that an already final window counted.', registers: [registry] }),
    rowsWritten: new Counter({ name: 'aggregator_rows_written_total', help: 'Window rows written to ClickHouse.', registers: [registry] }),
    flushes: new Counter({ name: 'aggregator_flushes_total', help: 'Flushes, by outcome.', labelNames: ['outcome'], registers: [registry] }),
    flushDuration: new Histogram({
      name: 'aggregator_flush_duration_seconds',
      help: 'Time to write a flush to ClickHouse, publish results and commit offsets.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    visibleLatency: new Histogram({
      name: 'aggregator_event_to_visible_seconds',
      help: 'Age (from the Kafka record timestamp) of the oldest event of a flush when that flush became visible in ClickHouse.',
      buckets: [0.5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 30, 60],
      registers: [registry],
    }),
    lag: new Gauge({ name: 'aggregator_consumer_lag', help: 'Messages behind the end of the partition.', labelNames: ['partition'], registers: [registry] }),
    watermark: new Gauge({
      name: 'aggregator_watermark_seconds',
      help: 'Event-time watermark per partition (unix seconds).',
      labelNames: ['partition'],
      aggregator: 'max',
      registers: [registry],
    }),
    openWindows: new Gauge({ name: 'aggregator_open_windows', help: 'Window states held in memory.', registers: [registry] }),
    assignedPartitions: new Gauge({ name: 'aggregator_assigned_partitions', help: 'Partitions assigned to this instance.', registers: [registry] }),
    clickhouseUp: new Gauge({
      name: 'aggregator_clickhouse_up',
      help: '1 when the last ClickHouse write of every pipeline succeeded.',
      aggregator: 'min',
      registers: [registry],
    }),
    clickhouseDegraded: new Gauge({
      name: 'aggregator_clickhouse_quorum_degraded',
      help: 'Replicated ClickHouse: 1 while some pipeline has inserts acknowledged without the insert quorum (a replica is down).',
      aggregator: 'max',
      registers: [registry],
    }),
  };
}

export type AggregatorMetrics = ReturnType<typeof createAggregatorMetrics>;
