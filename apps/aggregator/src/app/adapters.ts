/**
 * The real clients behind the stream pipeline's ports: the librdkafka consumer
 * and producer, ClickHouse, and Prometheus metrics. Wiring only; the protocol
 * is in libs/stream-pipeline.
 */
import { readMinuteAggWindows, readWindowStates, type ClickHouseSinkClient, type WindowRowWriter } from '@stream-analytics/clickhouse-sink';
import { committedOffsets, consumeBatch, KafkaCodes, type NativeConsumer } from '@stream-analytics/runtime';
import type { OutputSink, PipelineObserver, RecordColumns, RecordSource, ResultPublisher, ResultSink, SourceRecord, WindowStateStore } from '@stream-analytics/stream-pipeline';
import type { AggregatorMetrics } from './metrics';

/** librdkafka's logical offset for the start of a partition. */
const KAFKA_OFFSET_BEGINNING = -2;

/**
 * consumePacked(max, cb): the Kafka client's packed-batch read, added by the
 * patch in patches/ that the install applies; a prebuilt or unpatched client
 * does not have it.
 */
type PackedConsumer = NativeConsumer & { consumePacked(max: number, cb: (err: Error | null, batch: RecordColumns) => void): void };

/** How a record source reads the consumer: packed batches, or the client's message objects. */
export type ConsumeMode = 'packed' | 'messages';

/** 'packed' when the client has consumePacked and it is wanted, else 'messages'. */
export function consumeModeOf(consumer: NativeConsumer, wantPacked = true): ConsumeMode {
  return wantPacked && typeof (consumer as Partial<PackedConsumer>).consumePacked === 'function' ? 'packed' : 'messages';
}

async function consumeMessages(consumer: NativeConsumer, max: number): Promise<SourceRecord[]> {
  // The client's messages already have a SourceRecord's fields: they are handed on as they
  // are (no second object per record), with a key or value that is not a Buffer made one.
  const messages = await consumeBatch(consumer, max);
  for (const m of messages) {
    if (m.key != null && !Buffer.isBuffer(m.key)) m.key = Buffer.from(String(m.key));
    if (m.value === undefined) m.value = null;
  }
  return messages as SourceRecord[];
}

function consumePacked(consumer: PackedConsumer, max: number): Promise<RecordColumns> {
  return new Promise((resolve, reject) => consumer.consumePacked(max, (err, batch) => (err ? reject(err) : resolve(batch))));
}

export function kafkaRecordSource(consumer: NativeConsumer, topic: string, mode: ConsumeMode = consumeModeOf(consumer)): RecordSource {
  const tp = (partitions: readonly number[]) => partitions.map((partition) => ({ topic, partition }));
  return {
    subscribe: (t) => void consumer.subscribe([t]),
    consume: mode === 'packed' ? (max) => consumePacked(consumer as PackedConsumer, max) : (max) => consumeMessages(consumer, max),
    committed: async (partitions) => (await committedOffsets(consumer, tp(partitions), 30000)).map((c) => ({ partition: c.partition, offset: c.offset, metadata: c.metadata })),
    seek: (partition, offset) =>
      new Promise<void>((resolve, reject) =>
        consumer.seek({ topic, partition, offset: offset === 'beginning' ? KAFKA_OFFSET_BEGINNING : offset }, 10000, (err) => (err ? reject(err) : resolve())),
      ),
    commit: (commits) => void consumer.commitSync(commits.map((c) => ({ topic, partition: c.partition, offset: c.offset, metadata: c.metadata }))),
    pause: (partitions) => consumer.pause(tp(partitions)),
    resume: (partitions) => consumer.resume(tp(partitions)),
    onRebalance: (handler) =>
      consumer.on('rebalance', (err, assignment) =>
        handler({ kind: err.code === KafkaCodes.ERRORS.ERR__ASSIGN_PARTITIONS ? 'assigned' : 'revoked', partitions: assignment.map((a) => a.partition) }),
      ),
    lag: (partitions) => {
      try {
        const out: Array<{ partition: number; lag: number }> = [];
        for (const p of consumer.position(tp(partitions))) {
          if (p.offset < 0) continue;
          const { highOffset } = consumer.getWatermarkOffsets(topic, p.partition);
          if (highOffset >= 0) out.push({ partition: p.partition, lag: Math.max(0, highOffset - p.offset) });
        }
        return out;
      } catch {
        // Watermarks are unknown until the first fetch; lag is informational.
        return [];
      }
    },
  };
}

/** The durable window state in ClickHouse (iot_window_agg_state and iot_window_users). */
export function clickhouseWindowStateStore(clickhouse: ClickHouseSinkClient, writer: WindowRowWriter): WindowStateStore {
  return {
    loadWindows: (topic, wanted) => readWindowStates(clickhouse, topic, wanted),
    writeWindows: async (users, rows) => void (await writer.writeWindowState(users, rows)),
  };
}

/** Dead-letter rows and the reader-contract results in ClickHouse. */
export function clickhouseResultSink(writer: WindowRowWriter): ResultSink {
  return {
    writeDeadLetters: async (rows) => void (await writer.writeDeadLetters(rows)),
    refreshResults: (windows, deadLetterWindows) => writer.refreshResults(windows, deadLetterWindows),
  };
}

/**
 * Publishes the reader-contract rows of the windows just refreshed to the
 * aggregate topic: a key lookup of those windows, whatever the history.
 */
export function aggregateTopicPublisher(clickhouse: ClickHouseSinkClient, output: OutputSink, aggTopic: string): ResultPublisher {
  return {
    publish: async (windows) => {
      for (const w of await readMinuteAggWindows(clickhouse, windows)) {
        const key = new Date(w.windowStartMs).toISOString();
        const value = JSON.stringify({
          window_start: key,
          total_events: w.totalEvents,
          avg_metric: w.avgMetric,
          unique_users: w.uniqueUsers,
          anomaly_events: w.anomalyEvents,
          updated_at: new Date(w.updatedAtMs).toISOString(),
        });
        output.send(aggTopic, Buffer.from(value), Buffer.from(key));
      }
    },
  };
}

export function metricsObserver(metrics: AggregatorMetrics, onHealthChange?: (healthy: boolean) => void): PipelineObserver {
  return {
    consumed: (n) => metrics.consumed.inc(n),
    folded: (n) => metrics.folded.inc(n),
    invalid: (reason) => metrics.invalid.inc({ reason }),
    lateFolded: (lateByMs) => {
      metrics.lateFolded.inc();
      metrics.lateness.observe(lateByMs / 1000);
    },
    tooLate: () => metrics.late.inc(),
    beyondRetention: () => metrics.beyondRetention.inc(),
    future: () => metrics.future.inc(),
    alreadyCounted: () => metrics.skippedReplay.inc(),
    windowsLoaded: (n, ms) => {
      metrics.windowsLoaded.inc(n);
      metrics.stateLoadDuration.observe(ms / 1000);
    },
    flushed: (outcome, ms, rows, deviceRows) => {
      metrics.flushes.inc({ outcome });
      if (outcome === 'ok') {
        metrics.flushDuration.observe(ms / 1000);
        metrics.rowsWritten.inc(rows);
        metrics.deviceRowsWritten.inc(deviceRows);
      }
      metrics.clickhouseUp.set(outcome === 'ok' ? 1 : 0);
    },
    flushStep: (step, ms) => metrics.flushStepDuration.observe({ step }, ms / 1000),
    visible: (s) => metrics.visibleLatency.observe(s),
    commitFailed: () => metrics.commitFailures.inc(),
    healthChanged: (healthy) => onHealthChange?.(healthy),
    partitions: (n) => metrics.assignedPartitions.set(n),
    partitionsReset: () => {
      // Per-partition gauges belong to the next owner, which may be another
      // pipeline of this aggregator whose values are combined with these.
      metrics.lag.reset();
      metrics.watermark.reset();
    },
    partitionStats: (stats) => {
      for (const s of stats) {
        metrics.watermark.set({ partition: String(s.partition) }, s.watermarkMs / 1000);
        if (s.lag !== undefined) metrics.lag.set({ partition: String(s.partition) }, s.lag);
      }
    },
    engineStats: (open, cached) => {
      metrics.openWindows.set(open);
      metrics.cachedWindows.set(cached);
    },
  };
}
