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
    late: new Counter({ name: 'aggregator_events_late_total', help: 'Events beyond the lateness horizon sent to the DLQ (late_event).', registers: [registry] }),
    beyondRetention: new Counter({
      name: 'aggregator_events_beyond_retention_total',
      help: 'Valid events whose window is older than AGGREGATE_RETENTION_DAYS, sent to the DLQ (beyond_retention) instead of being counted into rows the retention job drops.',
      registers: [registry],
    }),
    future: new Counter({ name: 'aggregator_events_future_total', help: 'Events too far ahead of their record timestamp sent to the DLQ (future_event_time).', registers: [registry] }),
    lateFolded: new Counter({ name: 'aggregator_events_late_folded_total', help: 'Events counted after their partition watermark had passed their window (late, within the horizon).', registers: [registry] }),
    lateness: new Histogram({
      name: 'aggregator_late_event_lateness_seconds',
      help: 'How far the partition watermark was past the window end when a late event was counted.',
      buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400],
      registers: [registry],
    }),
    windowsLoaded: new Counter({ name: 'aggregator_window_states_loaded_total', help: 'Window states read back from ClickHouse (windows not in memory that an event needed).', registers: [registry] }),
    stateLoadDuration: new Histogram({
      name: 'aggregator_window_state_load_seconds',
      help: 'Time to read window states back from ClickHouse.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    commitFailures: new Counter({ name: 'aggregator_commit_failures_total', help: 'Offset commits the broker refused (retried at the next flush; three in a row flip readiness).', registers: [registry] }),
    skippedReplay: new Counter({ name: 'aggregator_events_replay_skipped_total', help: 'Events re-read after a restart that the stored window state already counted.', registers: [registry] }),
    rowsWritten: new Counter({ name: 'aggregator_rows_written_total', help: 'Window rows (one per window and partition, the fleet accumulator) written to ClickHouse.', registers: [registry] }),
    deviceRowsWritten: new Counter({ name: 'aggregator_device_rows_written_total', help: 'Device rows (one per window, partition and device a flush changed) written to ClickHouse.', registers: [registry] }),
    flushes: new Counter({ name: 'aggregator_flushes_total', help: 'Flushes, by outcome.', labelNames: ['outcome'], registers: [registry] }),
    flushDuration: new Histogram({
      name: 'aggregator_flush_duration_seconds',
      help: 'Time to write a flush to ClickHouse, publish results and commit offsets.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    flushStepDuration: new Histogram({
      name: 'aggregator_flush_step_duration_seconds',
      help: 'Time a successful flush spent in each step of the commit protocol (settle, state, dead_letters, refresh, publish, commit).',
      labelNames: ['step'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    deviceRollupRuns: new Counter({ name: 'aggregator_device_rollup_runs_total', help: 'Device rollup runs (iot_device_hour), by outcome.', labelNames: ['outcome'], registers: [registry] }),
    deviceRollupHours: new Counter({ name: 'aggregator_device_rollup_hours_total', help: 'Hours of device minutes summed into iot_device_hour.', registers: [registry] }),
    deviceRollupLastRun: new Gauge({ name: 'aggregator_device_rollup_last_run_timestamp_seconds', help: 'When the last successful device rollup run ended (unix seconds).', registers: [registry] }),
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
    openWindows: new Gauge({ name: 'aggregator_open_windows', help: 'Windows in memory whose end the partition watermark has not passed.', registers: [registry] }),
    cachedWindows: new Gauge({ name: 'aggregator_cached_windows', help: 'Window states held in memory (open and recently touched final ones).', registers: [registry] }),
    packedConsume: new Gauge({
      name: 'aggregator_consume_packed',
      help: '1 when every pipeline reads packed batches from the Kafka client (consumePacked), 0 when one reads message objects (a client without the patch, or KAFKA_PACKED_CONSUME=false).',
      aggregator: 'min',
      registers: [registry],
    }),
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
    retentionRuns: new Counter({
      name: 'aggregator_retention_runs_total',
      help: 'Retention runs of the pipeline holding partition 0 of the raw topic, by outcome (ok, failed: retried at the next interval).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    retentionPartitionsDropped: new Counter({
      name: 'aggregator_retention_partitions_dropped_total',
      help: 'Whole-day ClickHouse partitions dropped by retention, by class (aggregate, deadLetter).',
      labelNames: ['class'],
      registers: [registry],
    }),
    retentionRowsDropped: new Counter({ name: 'aggregator_retention_rows_dropped_total', help: 'Rows in the partitions retention dropped.', labelNames: ['class'], registers: [registry] }),
    retentionLastRun: new Gauge({
      name: 'aggregator_retention_last_run_timestamp_seconds',
      help: 'When the last successful retention run finished (unix seconds; 0: none yet in this process).',
      aggregator: 'max',
      registers: [registry],
    }),
  };
}

export type AggregatorMetrics = ReturnType<typeof createAggregatorMetrics>;
