/**
 * The aggregator's consume -> fold -> flush -> commit loop.
 *
 * Exactly-once rests on three rules (see libs/windowing/README.md):
 *  1. The engine's decisions for a partition depend only on the checkpoint it
 *     was restored from and the partition's records in offset order, so a
 *     replay reproduces the same rows (same version => same content).
 *  2. Rows are cumulative per (window, source partition) and versioned by the
 *     last source offset folded in; ClickHouse keeps the newest, so writing a
 *     row twice, or an older one after a newer one, changes nothing.
 *  3. An offset (with the checkpoint in its metadata) is committed only after
 *     every row and dead letter it covers is acknowledged by ClickHouse and the
 *     broker. A crash at any point replays from a valid checkpoint.
 * On a rebalance (eager protocol) all partition state is dropped and rebuilt
 * from the committed checkpoints, which is rule 1 again.
 */
import type { ClickHouseSinkClient, DeadLetterRow, WindowPartitionRow, WindowRowWriter } from '@stream-analytics/clickhouse-sink';
import { readMinuteAgg } from '@stream-analytics/clickhouse-sink';
import { deadLetterHeaders, parseAndValidate, type DeadLetterEntry } from '@stream-analytics/event-schema';
import {
  committedOffsets,
  consumeBatch,
  DeliveryTracker,
  KafkaCodes,
  type KafkaMessage,
  type Logger,
  type NativeConsumer,
  type NativeProducer,
} from '@stream-analytics/runtime';
import { windowStartOf, type WindowingEngine, type WindowRow } from '@stream-analytics/windowing';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';

export interface PipelineDeps {
  config: AggregatorConfig;
  logger: Logger;
  metrics: AggregatorMetrics;
  consumer: NativeConsumer;
  producer: NativeProducer;
  clickhouse: ClickHouseSinkClient;
  writer: WindowRowWriter;
  /** Creates a fresh engine (after a rebalance all state is rebuilt). */
  createEngine: () => WindowingEngine;
  /** Called when clickhouseHealthy flips, so readiness follows it at once. */
  onHealthChange?: (clickhouseHealthy: boolean) => void;
  /** Called with every failed consume (e.g. a revoked permission), before it is retried. */
  onConsumeError?: (err: Error) => void;
  now?: () => number;
}

/** librdkafka's logical offset for the start of a partition. */
const KAFKA_OFFSET_BEGINNING = -2;

const rowKey = (partition: number, windowStart: number) => `${partition}:${windowStart}`;

export class AggregatorPipeline {
  private engine: WindowingEngine;
  private readonly deliveries: DeliveryTracker;
  private readonly now: () => number;
  /** Partitions assigned by the group, and those whose checkpoint is loaded. */
  private readonly assigned = new Set<number>();
  private readonly restored = new Set<number>();
  /** Bumped on every rebalance: a batch fetched across one is discarded. */
  private generation = 0;
  /** Generation whose assignment was last rewound to its committed checkpoints. */
  private rewoundGeneration = 0;
  /** Rows and dead letters collected but not yet acknowledged by ClickHouse. */
  private readonly pendingRows = new Map<string, WindowRow>();
  private pendingDeadLetters: DeadLetterRow[] = [];
  /** Processing time of the last record per partition, for idle detection. */
  private readonly lastRecordAt = new Map<number, number>();
  /** Oldest Kafka timestamp folded since the last successful flush (freshness metric). */
  private oldestUnflushedTs: number | undefined;
  private nextFlushAttemptAt: number;
  private failedFlushes = 0;
  private paused = false;
  private stopping = false;
  private lastLoopAt: number;
  /** The fetch of the next batch, started before the current one is processed. */
  private prefetch: Promise<KafkaMessage[]> | undefined;
  private healthy = false;

  constructor(private readonly deps: PipelineDeps) {
    this.engine = deps.createEngine();
    this.deliveries = new DeliveryTracker(deps.producer);
    this.now = deps.now ?? Date.now;
    this.nextFlushAttemptAt = this.now() + deps.config.flushIntervalSecs * 1000;
    this.lastLoopAt = this.now();
    deps.consumer.on('rebalance', (err, assignment) => this.onRebalance(err.code, assignment));
  }

  /** Readiness: the last flush reached ClickHouse. */
  get clickhouseHealthy(): boolean {
    return this.healthy;
  }

  private setHealthy(healthy: boolean): void {
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    this.deps.onHealthChange?.(healthy);
  }

  /** Liveness: the loop turned recently (a stuck loop should get the pod restarted). */
  isLive(maxStallMs = 120000): boolean {
    return this.now() - this.lastLoopAt < maxStallMs;
  }

  stop(): void {
    this.stopping = true;
  }

  private onRebalance(code: number, assignment: Array<{ partition: number }>): void {
    this.generation++;
    if (code === KafkaCodes.ERRORS.ERR__ASSIGN_PARTITIONS) {
      for (const { partition } of assignment) this.assigned.add(partition);
      if (this.paused) this.deps.consumer.pause(this.topicPartitions());
      this.deps.logger.info({ partitions: assignment.map((a) => a.partition) }, 'partitions assigned');
    } else {
      // Eager protocol: everything is revoked. Rows already collected stay
      // pending (they are correct and idempotent); open window state is
      // dropped and rebuilt from the committed checkpoints on reassignment.
      this.assigned.clear();
      this.restored.clear();
      this.lastRecordAt.clear();
      this.engine = this.deps.createEngine();
      // Per-partition gauges belong to the next owner, which may be another
      // pipeline of this aggregator whose values are combined with these.
      this.deps.metrics.lag.reset();
      this.deps.metrics.watermark.reset();
      this.deps.logger.info({ partitions: assignment.map((a) => a.partition) }, 'partitions revoked');
    }
    this.deps.metrics.assignedPartitions.set(this.assigned.size);
  }

  private topicPartitions() {
    return [...this.assigned].map((partition) => ({ topic: this.deps.config.topic, partition }));
  }

  /** Runs until stop(); then flushes and commits what it has. */
  async run(): Promise<void> {
    const { config, consumer } = this.deps;
    consumer.subscribe([config.topic]);
    while (!this.stopping) {
      this.lastLoopAt = this.now();
      if (this.rewoundGeneration !== this.generation) {
        await this.rewindAssigned();
        continue;
      }
      const generation = this.generation;
      let batch: KafkaMessage[];
      try {
        // The next fetch runs in librdkafka's worker while this batch is folded.
        batch = await (this.prefetch ?? consumeBatch(consumer, config.batchSize));
        this.prefetch = this.generation === generation && !this.stopping ? consumeBatch(consumer, config.batchSize) : undefined;
        this.prefetch?.catch(() => undefined);
      } catch (err) {
        this.prefetch = undefined;
        this.deps.logger.warn({ err: (err as Error).message }, 'consume failed; retrying');
        this.deps.onConsumeError?.(err as Error);
        await sleep(500);
        continue;
      }
      // A batch fetched across a rebalance may mix the old and the new
      // assignment: it is dropped and the loop rewinds to the checkpoints.
      if (generation !== this.generation) {
        this.prefetch = undefined;
        continue;
      }
      if (batch.length > 0) await this.processBatch(batch, generation);
      if (this.now() >= this.nextFlushAttemptAt) await this.flush();
    }
    await this.flushOnShutdown();
  }

  private async processBatch(batch: KafkaMessage[], generation: number): Promise<void> {
    const { metrics } = this.deps;
    const fresh = new Set<number>();
    for (const m of batch) if (!this.restored.has(m.partition) && this.assigned.has(m.partition)) fresh.add(m.partition);
    if (fresh.size > 0) {
      await this.restore([...fresh]);
      if (generation !== this.generation) return;
    }
    const now = this.now();
    metrics.consumed.inc(batch.length);
    for (const m of batch) {
      if (!this.restored.has(m.partition)) continue;
      this.lastRecordAt.set(m.partition, now);
      const value = m.value ?? Buffer.alloc(0);
      const parsed = parseAndValidate(value);
      if (!parsed.ok) {
        this.engine.skip(m.partition, m.offset);
        metrics.invalid.inc({ reason: parsed.reason });
        this.deadLetter(m, parsed.reason, parsed.message, windowStartOf(m.timestamp ?? now, this.engine.config.windowSizeMs), undefined);
        continue;
      }
      const e = parsed.event;
      const eventTimeMs = parsed.eventTimeMs;
      const outcome = this.engine.process(m.partition, {
        offset: m.offset,
        eventTimeMs,
        userId: e.user_id,
        metricValue: e.metric_value,
        anomalyScore: e.anomaly_score,
      });
      if (outcome.kind === 'folded') {
        const ts = m.timestamp ?? now;
        if (this.oldestUnflushedTs === undefined || ts < this.oldestUnflushedTs) this.oldestUnflushedTs = ts;
      } else if (outcome.kind === 'late') {
        metrics.late.inc();
        this.deadLetter(
          m,
          'late_event',
          `event_time ${e.event_time} falls in window ${new Date(outcome.windowStart).toISOString()}, already final (watermark ${new Date(outcome.watermark).toISOString()})`,
          outcome.windowStart,
          e.device_id,
        );
      } else if (outcome.kind === 'skipped_final') {
        metrics.skippedReplay.inc();
      }
    }
  }

  /**
   * After a rebalance every assigned partition restarts at its committed
   * checkpoint: the engine state was dropped, and librdkafka may already have
   * handed out (now discarded) messages past it.
   */
  private async rewindAssigned(): Promise<void> {
    const { config, consumer, logger } = this.deps;
    // A fetch still in flight may hold messages from before the seek below.
    if (this.prefetch) {
      await this.prefetch.catch(() => undefined);
      this.prefetch = undefined;
    }
    const generation = this.generation;
    this.restored.clear();
    this.engine = this.deps.createEngine();
    const partitions = [...this.assigned];
    try {
      const committed = partitions.length === 0 ? [] : await committedOffsets(consumer, partitions.map((partition) => ({ topic: config.topic, partition })), 30000);
      for (const c of committed) {
        // No commit yet: the group starts at the beginning (auto.offset.reset=earliest).
        const offset = c.offset >= 0 ? c.offset : KAFKA_OFFSET_BEGINNING;
        await new Promise<void>((resolve, reject) =>
          consumer.seek({ topic: config.topic, partition: c.partition, offset }, 10000, (err) => (err ? reject(err) : resolve())),
        );
      }
      if (generation === this.generation) this.rewoundGeneration = generation;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not rewind partitions to their checkpoints yet; retrying');
      await sleep(500);
    }
  }

  private async restore(partitions: number[]): Promise<void> {
    const { config, consumer, logger } = this.deps;
    const committed = await committedOffsets(
      consumer,
      partitions.map((partition) => ({ topic: config.topic, partition })),
      30000,
    );
    for (const c of committed) {
      let position: number | undefined;
      try {
        position = this.engine.restorePartition(c.partition, c.metadata || undefined);
      } catch (err) {
        // A checkpoint this version cannot read (e.g. another window size):
        // start the partition fresh from the committed offset and say so.
        logger.error({ partition: c.partition, err: (err as Error).message }, 'unreadable checkpoint; partition restarts without it');
        position = this.engine.restorePartition(c.partition, undefined);
      }
      this.restored.add(c.partition);
      logger.info({ partition: c.partition, committedOffset: c.offset, position, hasCheckpoint: Boolean(c.metadata) }, 'partition restored');
    }
  }

  private deadLetter(m: KafkaMessage, reason: string, message: string, windowStartMs: number, deviceId: string | undefined): void {
    const { config } = this.deps;
    const entry: DeadLetterEntry = {
      reason,
      message,
      sourceTopic: m.topic,
      sourcePartition: m.partition,
      sourceOffset: m.offset,
      sourceTimestampMs: m.timestamp ?? 0,
      windowStartMs,
      recordedAtMs: this.now(),
    };
    this.produce(config.dlqTopic, m.value ?? Buffer.alloc(0), m.key == null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(String(m.key)), deadLetterHeaders(entry));
    this.pendingDeadLetters.push({
      sourceTopic: m.topic,
      sourcePartition: m.partition,
      sourceOffset: m.offset,
      windowStartMs,
      reason,
      deviceId: deviceId ?? '',
      recordedAtMs: entry.recordedAtMs,
    });
  }

  /** Fire-and-forget produce with backpressure on a full local queue. */
  private produce(topic: string, value: Buffer, key: Buffer | null, headers?: Array<Record<string, string | Buffer>>): void {
    for (;;) {
      try {
        this.deps.producer.produce(topic, null, value, key, Date.now(), undefined, headers);
        this.deliveries.sent();
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== KafkaCodes.ERRORS.ERR__QUEUE_FULL) throw err;
        this.deps.producer.poll();
        // Queue full: the broker is slow or away. Blocking briefly is the
        // backpressure; dead letters are rare enough that this does not starve.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }

  /**
   * Idle partitions stop holding their windows open. Applied only at flush
   * time, right before the write and commit that record the advance; returns
   * whether any partition was advanced (see the engine's idle contract).
   */
  private advanceIdlePartitions(): boolean {
    if (!this.healthy) return false;
    const idleMs = this.deps.config.idleTimeoutSecs * 1000;
    const now = this.now();
    const active = [...this.restored].filter((p) => now - (this.lastRecordAt.get(p) ?? now) < idleMs);
    if (active.length === 0 || active.length === this.restored.size) return false;
    const activeWatermark = Math.min(...active.map((p) => this.engine.watermark(p)));
    if (!Number.isFinite(activeWatermark)) return false;
    let advanced = false;
    for (const p of this.restored) {
      if (!active.includes(p) && this.engine.watermark(p) < activeWatermark) {
        this.engine.advanceIdlePartition(p, activeWatermark);
        advanced = true;
      }
    }
    return advanced;
  }

  /**
   * Writes everything changed since the last flush, then commits. On failure
   * the rows stay pending, consumption pauses (bounded memory) and the flush
   * is retried with backoff until ClickHouse answers again.
   */
  async flush(): Promise<boolean> {
    const { config, metrics, logger, writer, consumer } = this.deps;
    const started = this.now();
    const advancedIdle = this.advanceIdlePartitions();
    const changes = this.engine.collectChanges();
    for (const row of changes.rows) {
      const key = rowKey(row.partition, row.windowStart);
      const prev = this.pendingRows.get(key);
      if (!prev || prev.rowVersion <= row.rowVersion) this.pendingRows.set(key, row);
    }
    const rows = [...this.pendingRows.values()];
    const deadLetters = this.pendingDeadLetters;
    const generation = this.generation;
    const oldestTs = this.oldestUnflushedTs;
    try {
      await this.deliveries.settled(this.deps.producer, 15000);
      const updatedAtMs = this.now();
      const windowRows: WindowPartitionRow[] = rows.map((r) => ({
        windowStartMs: r.windowStart,
        sourcePartition: r.partition,
        sourceTopic: config.topic,
        totalEvents: r.totalEvents,
        metricSum: r.metricSum,
        users: r.users,
        anomalyEvents: r.anomalyEvents,
        version: r.version,
        isFinal: r.final,
        updatedAtMs,
      }));
      await writer.writeWindowRows(windowRows);
      await writer.writeDeadLetters(deadLetters);
      this.pendingRows.clear();
      this.pendingDeadLetters = this.pendingDeadLetters.slice(deadLetters.length);
      if (oldestTs !== undefined && rows.length > 0) metrics.visibleLatency.observe((this.now() - oldestTs) / 1000);
      this.oldestUnflushedTs = undefined;
      metrics.rowsWritten.inc(rows.length);
      await this.publishResults(rows);
      // Commit only the checkpoints of partitions still ours in this generation.
      if (generation === this.generation) {
        const commits = changes.commits
          .filter((c) => this.assigned.has(c.partition) && this.restored.has(c.partition))
          .map((c) => ({ topic: config.topic, partition: c.partition, offset: c.offset, metadata: c.metadata }));
        if (commits.length > 0) {
          try {
            consumer.commitSync(commits);
          } catch (err) {
            // Typically a rebalance in progress: the next flush commits again.
            logger.warn({ err: (err as Error).message }, 'offset commit failed; will retry on the next flush');
            if (advancedIdle) this.generation++;
          }
        }
      }
      this.onFlushSucceeded(started, rows.length, deadLetters.length);
      return true;
    } catch (err) {
      // An idle advance must not outlive a flush that failed to commit it:
      // later records would be judged against a watermark a crash would not
      // reproduce. Rewinding to the checkpoints undoes it.
      if (advancedIdle) this.generation++;
      this.onFlushFailed(err as Error);
      return false;
    }
  }

  private onFlushSucceeded(started: number, rows: number, deadLetters: number): void {
    const { metrics, logger, consumer } = this.deps;
    const now = this.now();
    metrics.flushes.inc({ outcome: 'ok' });
    metrics.flushDuration.observe((now - started) / 1000);
    metrics.clickhouseUp.set(1);
    this.setHealthy(true);
    if (this.paused) {
      consumer.resume(this.topicPartitions());
      this.paused = false;
      logger.info({ failedFlushes: this.failedFlushes }, 'ClickHouse is back; consumption resumed');
    }
    this.failedFlushes = 0;
    this.nextFlushAttemptAt = now + this.deps.config.flushIntervalSecs * 1000;
    const stats = this.engine.stats();
    metrics.openWindows.set(stats.openWindows);
    for (const p of stats.partitions) if (Number.isFinite(p.watermark)) metrics.watermark.set({ partition: String(p.partition) }, p.watermark / 1000);
    this.updateLag();
    logger.info(
      { rows, deadLetters, flushMs: now - started, openWindows: stats.openWindows, folded: stats.eventsFolded, late: stats.lateEvents, partitions: this.assigned.size },
      'flush',
    );
  }

  private onFlushFailed(err: Error): void {
    const { metrics, logger, consumer } = this.deps;
    this.failedFlushes++;
    metrics.flushes.inc({ outcome: 'error' });
    metrics.clickhouseUp.set(0);
    this.setHealthy(false);
    if (!this.paused && this.assigned.size > 0) {
      // Stop fetching: state stays bounded by what librdkafka already queued.
      consumer.pause(this.topicPartitions());
      this.paused = true;
    }
    const backoff = Math.min(10000, 500 * 2 ** Math.min(this.failedFlushes - 1, 5));
    this.nextFlushAttemptAt = this.now() + backoff;
    logger.warn({ err: err.message, attempt: this.failedFlushes, retryInMs: backoff, pendingRows: this.pendingRows.size }, 'flush failed; consumption paused, retrying');
  }

  /** Publishes the merged (reader-contract) rows of the windows just written. */
  private async publishResults(rows: WindowRow[]): Promise<void> {
    if (rows.length === 0) return;
    const { config, clickhouse } = this.deps;
    const windows = new Set(rows.map((r) => r.windowStart));
    const from = Math.min(...windows);
    const to = Math.max(...windows) + this.engine.config.windowSizeMs;
    const merged = await readMinuteAgg(clickhouse, from, to);
    for (const w of merged) {
      if (!windows.has(w.windowStartMs)) continue;
      const key = new Date(w.windowStartMs).toISOString();
      const value = JSON.stringify({
        window_start: key,
        total_events: w.totalEvents,
        avg_metric: w.avgMetric,
        unique_users: w.uniqueUsers,
        anomaly_events: w.anomalyEvents,
        updated_at: new Date(w.updatedAtMs).toISOString(),
      });
      this.produce(config.aggTopic, Buffer.from(value), Buffer.from(key));
    }
  }

  private updateLag(): void {
    const { consumer, config, metrics } = this.deps;
    try {
      const positions = consumer.position(this.topicPartitions());
      for (const p of positions) {
        if (p.offset < 0) continue;
        const { highOffset } = consumer.getWatermarkOffsets(config.topic, p.partition);
        if (highOffset >= 0) metrics.lag.set({ partition: String(p.partition) }, Math.max(0, highOffset - p.offset));
      }
    } catch {
      // Watermarks are unknown until the first fetch; lag is informational.
    }
  }

  private async flushOnShutdown(): Promise<void> {
    const deadline = this.now() + 30000;
    while (this.now() < deadline) {
      if (await this.flush()) return;
      await sleep(Math.max(0, Math.min(this.nextFlushAttemptAt, deadline) - this.now()));
    }
    this.deps.logger.error({ pendingRows: this.pendingRows.size }, 'could not flush before shutdown; the next start replays from the last commit');
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
