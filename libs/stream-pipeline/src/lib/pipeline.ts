/**
 * The aggregator's consume -> fold -> flush -> commit loop: the stream
 * pipeline that drives the windowing engine over a consumer-group member.
 * One job per module: the flush's order is the commit protocol
 * (commit-protocol.ts), what a flush writes accumulates in PendingFlush, the
 * idle rule is idle-partitions.ts. This file consumes, rewinds on a
 * rebalance, folds, loads window state, and keeps health.
 *
 * Exactly-once rests on these rules (docs/architecture.md explains each):
 *  1. The engine's decisions for a partition depend only on the checkpoint it
 *     was restored from, the partition's records in offset order and the
 *     stored rows it is given, so a replay reproduces the same rows (same
 *     row version => same content).
 *  2. Rows are cumulative per (window, source topic, source partition) and
 *     ordered by rowVersion; the state store keeps the newest, so writing a
 *     row twice, or an older one after a newer one, changes nothing. Those
 *     rows are the durable window state: a window not in memory is loaded
 *     back before an event is folded into it, and an event at or below the
 *     loaded row's last offset is already in it.
 *  3. A flush follows the commit protocol: the offset committed is the
 *     position reached at a durable flush, with the watermark in its
 *     metadata, committed only after every row and dead letter it covers is
 *     acknowledged. A crash replays about one flush interval.
 *  4. On a rebalance (eager protocol) all partition state is dropped and
 *     rebuilt from the committed checkpoints and the stored rows (rule 1).
 *  5. A window's result (what readers see) is recomputed after its rows are
 *     written and before the commit, for every window written and every
 *     window loaded with a row an uncommitted flush wrote (rule 3 would
 *     otherwise replay nothing that refreshes it). The newest result wins, so
 *     whichever writer refreshes last leaves the complete one.
 */
import { BEYOND_RETENTION_REASON, isBeyondAggregateRetention, storedWindowOf, type WindowPartitionRow } from '@stream-analytics/clickhouse-sink';
import { backoffDelayMs, type BackoffPolicy } from '@stream-analytics/runtime';
import { deadLetterHeaders, JSON_ONLY_DECODER, type DeadLetterEntry, type EventDecoder, type ValidationResult } from '@stream-analytics/event-schema';
import { WindowingEngine, windowStartOf, type ProcessOutcome, type StoredWindow, type WindowingConfig, type WindowRecord } from '@stream-analytics/windowing';
import { runCommitProtocol } from './commit-protocol';
import { futureMessage, tooLateMessage } from './dead-letter-messages';
import { idleAdvances } from './idle-partitions';
import { PendingFlush } from './pending-flush';
import type { OutputSink, PipelineLogger, PipelineObserver, RecordColumns, RecordSource, ResultPublisher, ResultSink, SourceRecord, WindowStateStore } from './ports';
import { CatchUpEnd, nextFlushDueAt } from './flush-schedule';
import { recordBatch, type RecordBatch } from './record-batch';

export interface PipelineOptions {
  /** Raw topic consumed. */
  topic: string;
  dlqTopic: string;
  windowing: Partial<WindowingConfig>;
  flushIntervalMs: number;
  /** A partition without records this long (processing time) stops holding windows open. */
  idleTimeoutMs: number;
  batchSize: number;
  /** Consecutive failed commits after which the pipeline reports itself unhealthy. */
  commitFailuresUnhealthy?: number;
  /** Windows read ahead after the newest one a state load needs (per partition); default 30. */
  stateReadAheadWindows?: number;
  /**
   * AGGREGATE_RETENTION_DAYS: an event whose window's day the retention job
   * has dropped by its record timestamp is dead-lettered (beyond_retention),
   * not counted into rows that would vanish. Unset: no such check.
   */
  aggregateRetentionDays?: number;
}

export interface PipelineDeps {
  options: PipelineOptions;
  source: RecordSource;
  output: OutputSink;
  /** Durable window state (load before fold, write at flush). */
  state: WindowStateStore;
  /** Dead-letter rows and the readers' results. */
  results: ResultSink;
  /** The aggregate topic. */
  publisher: ResultPublisher;
  logger: PipelineLogger;
  /**
   * Turns a record's value into an event (JSON, Avro or Protobuf: the record
   * says which). Default: JSON only. Its prepare() runs before a batch is
   * folded; while it rejects (schema registry unreachable for an id not yet
   * known) the batch waits like a failed state load, nothing is dead-lettered.
   */
  decoder?: EventDecoder;
  observer?: PipelineObserver;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Retry delays while ClickHouse cannot be read (state loads) or written (flushes). */
const STATE_LOAD_BACKOFF: BackoffPolicy = { initialDelayMs: 250, maxDelayMs: 10_000 };
const FLUSH_BACKOFF: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 10_000 };
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class StreamPipeline {
  private engine: WindowingEngine;
  private readonly o: PipelineOptions;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly observer: PipelineObserver;
  private readonly decoder: EventDecoder;
  /** Partitions assigned by the group, and those restored from their checkpoint in this generation. */
  private readonly assigned = new Set<number>();
  private readonly restored = new Set<number>();
  /** Bumped on every rebalance (and to undo an uncommitted idle advance): records fetched across one are discarded. */
  private generation = 0;
  /** Generation whose assignment was last rewound to its committed checkpoints. */
  private rewoundGeneration = 0;
  /** Rows, refreshes and dead letters collected but not yet acknowledged by ClickHouse. */
  private readonly pending = new PendingFlush();
  /** Records waiting for a state load that failed, in order; nothing else is processed before them. */
  private backlog: SourceRecord[] = [];
  private backlogRetryAt = 0;
  private failedLoads = 0;
  /** Processing time of the last record per partition, for idle detection. */
  private readonly lastRecordAt = new Map<number, number>();
  /** Oldest record timestamp folded since the last successful flush (freshness). */
  private oldestUnflushedTs: number | undefined;
  private nextFlushAttemptAt: number;
  private readonly catchUpEnd = new CatchUpEnd();
  private failedFlushes = 0;
  private failedCommits = 0;
  private paused = false;
  private stopping = false;
  private lastLoopAt: number;
  private prefetch: Promise<SourceRecord[] | RecordColumns> | undefined;
  private healthy = false;
  private unhealthyReason: string | undefined = 'no successful flush yet';

  constructor(private readonly deps: PipelineDeps) {
    this.o = deps.options;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? defaultSleep;
    this.observer = deps.observer ?? {};
    this.decoder = deps.decoder ?? JSON_ONLY_DECODER;
    this.engine = new WindowingEngine(this.o.windowing);
    this.nextFlushAttemptAt = this.now() + this.o.flushIntervalMs;
    this.lastLoopAt = this.now();
    deps.source.onRebalance((e) => this.onRebalance(e.kind, e.partitions));
  }

  /** Readiness: the last flush reached ClickHouse and commits are going through. */
  get isHealthy(): boolean {
    return this.healthy;
  }

  get healthReason(): string | undefined {
    return this.unhealthyReason;
  }

  /** Liveness: the loop turned recently (a stuck loop should get the pod restarted). */
  isLive(maxStallMs = 120000): boolean {
    return this.now() - this.lastLoopAt < maxStallMs;
  }

  /**
   * The group currently assigns `partition` of the raw topic to this pipeline.
   * A partition has one owner in a consumer group, so "holds partition 0" picks
   * one instance for cluster-wide chores (retention) without another election.
   */
  holdsPartition(partition: number): boolean {
    return this.assigned.has(partition);
  }

  get windowingConfig(): WindowingConfig {
    return this.engine.config;
  }

  stop(): void {
    this.stopping = true;
  }

  private setHealth(healthy: boolean, reason?: string): void {
    const r = healthy ? undefined : reason;
    if (healthy === this.healthy && r === this.unhealthyReason) return;
    this.healthy = healthy;
    this.unhealthyReason = r;
    this.observer.healthChanged?.(healthy, r);
  }

  private onRebalance(kind: 'assigned' | 'revoked', partitions: number[]): void {
    this.generation++;
    if (kind === 'assigned') {
      for (const p of partitions) this.assigned.add(p);
      // The client keeps a partition's pause across a rebalance: set it as this pipeline wants it.
      if (this.paused) this.deps.source.pause([...this.assigned]);
      else this.deps.source.resume(partitions);
      this.deps.logger.info({ partitions }, 'partitions assigned');
    } else {
      // Eager protocol: everything is revoked. Rows already collected stay
      // pending (they are correct and idempotent); window state is dropped and
      // rebuilt from the checkpoints and the stored rows on reassignment.
      this.assigned.clear();
      this.restored.clear();
      this.lastRecordAt.clear();
      this.backlog = [];
      // The records that waited for a failed state load are read again from
      // the checkpoints; nothing is waiting now, so nothing may stay paused for
      // them (the new assignment would never be resumed: only folding a record
      // again shows the loads work).
      this.failedLoads = 0;
      this.backlogRetryAt = 0;
      if (this.failedFlushes === 0) this.paused = false;
      this.engine = new WindowingEngine(this.o.windowing);
      this.observer.partitionsReset?.();
      this.deps.logger.info({ partitions }, 'partitions revoked');
    }
    this.observer.partitions?.(this.assigned.size);
  }

  /** Runs until stop(); then flushes and commits what it has. */
  async run(): Promise<void> {
    const { source } = this.deps;
    source.subscribe(this.o.topic);
    while (!this.stopping) {
      this.lastLoopAt = this.now();
      if (this.rewoundGeneration !== this.generation) {
        await this.rewindAssigned();
        continue;
      }
      const generation = this.generation;
      let batch: RecordBatch;
      try {
        // The next fetch runs in the client's thread while this batch is folded.
        batch = recordBatch(await (this.prefetch ?? source.consume(this.o.batchSize)));
        this.prefetch = this.generation === generation && !this.stopping ? source.consume(this.o.batchSize) : undefined;
        this.prefetch?.catch(() => undefined);
      } catch (err) {
        this.prefetch = undefined;
        this.deps.logger.warn({ err: (err as Error).message }, 'consume failed; retrying');
        this.observer.consumeFailed?.(err as Error);
        await this.sleep(500);
        continue;
      }
      // Records fetched across a rebalance may mix the old and the new
      // assignment: they are dropped and the loop rewinds to the checkpoints.
      if (generation !== this.generation) {
        this.prefetch = undefined;
        continue;
      }
      if (batch.length > 0) this.observer.consumed?.(batch.length);
      const caughtUp = this.catchUpEnd.observe(batch.length, this.o.batchSize);
      if (this.backlog.length > 0 || batch.length > 0) {
        // Records behind a failed state load wait for it, in order.
        const records = this.backlog.length > 0 ? recordBatch([...this.backlog, ...batch.records(0)]) : batch;
        this.backlog = [];
        if (this.now() < this.backlogRetryAt) this.backlog = records.records(0);
        else await this.processRecords(records, generation);
      }
      if (this.now() >= this.nextFlushAttemptAt || (caughtUp && this.failedFlushes === 0)) await this.flush();
    }
    await this.flushOnShutdown();
  }

  /**
   * After a rebalance every assigned partition restarts at its committed
   * checkpoint: the engine state was dropped, and the client may already have
   * handed out (now discarded) records past it.
   */
  private async rewindAssigned(): Promise<void> {
    const { source, logger } = this.deps;
    if (this.prefetch) {
      await this.prefetch.catch(() => undefined);
      this.prefetch = undefined;
    }
    const generation = this.generation;
    this.restored.clear();
    this.backlog = [];
    this.engine = new WindowingEngine(this.o.windowing);
    const partitions = [...this.assigned];
    try {
      const committed = partitions.length === 0 ? [] : await source.committed(partitions);
      for (const c of committed) {
        if (generation !== this.generation) return;
        let position: number | undefined;
        try {
          position = this.engine.restorePartition(c.partition, c.metadata || undefined);
        } catch (err) {
          // A checkpoint this version cannot read (e.g. another window size):
          // start the partition from the committed offset without it and say so.
          logger.error({ partition: c.partition, err: (err as Error).message }, 'unreadable checkpoint; partition restarts without it');
          position = this.engine.restorePartition(c.partition, undefined);
        }
        // No commit yet: the group starts at the beginning.
        await source.seek(c.partition, c.offset >= 0 ? c.offset : 'beginning');
        this.restored.add(c.partition);
        logger.info({ partition: c.partition, committedOffset: c.offset, position, hasCheckpoint: Boolean(c.metadata) }, 'partition restored');
      }
      if (generation === this.generation) this.rewoundGeneration = generation;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not rewind partitions to their checkpoints yet; retrying');
      await this.sleep(500);
    }
  }

  /**
   * Folds records in order. When the engine needs the stored state of windows,
   * everything the rest of the records need is loaded in one read. If that
   * read fails, the remaining records wait (in order) and are retried with
   * backoff; consumption pauses meanwhile.
   */
  private async processRecords(records: RecordBatch, generation: number): Promise<void> {
    try {
      await this.decoder.prepare(records.valuesToPrepare());
    } catch (err) {
      this.onLoadFailed(err as Error, records.records(0), 'waiting for the schema registry', 'schema lookup failed');
      return;
    }
    if (generation !== this.generation) return;
    const parsed: Array<ValidationResult | undefined> = new Array(records.length);
    const parseAt = (i: number): ValidationResult => (parsed[i] ??= records.decode(i, this.decoder));
    const now = this.now();
    let folded = 0;
    for (let i = 0; i < records.length; i++) {
      const partition = records.partition(i);
      if (!this.restored.has(partition)) continue;
      this.lastRecordAt.set(partition, now);
      const offset = records.offset(i);
      const timestamp = records.timestamp(i);
      const result = parseAt(i);
      if (!result.ok) {
        this.engine.skip(partition, offset);
        this.observer.invalid?.(result.reason);
        this.deadLetter(records.record(i), result.reason, result.message, windowStartOf(recordTime(timestamp, now), this.engine.config.windowSizeMs), undefined, result.schemaId);
        continue;
      }
      const windowStartMs = windowStartOf(result.eventTimeMs, this.engine.config.windowSizeMs);
      if (this.o.aggregateRetentionDays !== undefined && isBeyondAggregateRetention(windowStartMs, recordTime(timestamp, now), this.o.aggregateRetentionDays)) {
        this.engine.skip(partition, offset);
        this.observer.beyondRetention?.();
        const message = `event_time ${result.event.event_time} falls in window ${new Date(windowStartMs).toISOString()}, older than the aggregate retention of ${this.o.aggregateRetentionDays} days (AGGREGATE_RETENTION_DAYS): raise it before backfilling such history`;
        // Recorded in the minute it arrived: the dead-letter retention would drop its own (old) minute at once.
        this.deadLetter(records.record(i), BEYOND_RETENTION_REASON, message, windowStartOf(recordTime(timestamp, now), this.engine.config.windowSizeMs), result.event.device_id);
        continue;
      }
      const rec: WindowRecord = {
        offset,
        eventTimeMs: result.eventTimeMs,
        recordTimestampMs: timestamp,
        userId: result.event.user_id,
        deviceId: result.event.device_id,
        metricValue: result.event.metric_value,
        temperature: result.event.temperature,
        status: result.event.status,
        anomalyScore: result.event.anomaly_score,
      };
      let out = this.engine.process(partition, rec);
      if (out.kind === 'needs_state') {
        try {
          await this.loadStateFor(records, i, parseAt);
        } catch (err) {
          this.onLoadFailed(err as Error, records.records(i));
          this.observer.folded?.(folded);
          return;
        }
        if (generation !== this.generation) return;
        out = this.engine.process(partition, rec);
        if (out.kind === 'needs_state') throw new Error(`window ${out.windowStart} of partition ${partition} still needs its stored state after loading it`);
      }
      if (out.kind === 'folded') folded++;
      this.onOutcome(records, i, out, result.event.event_time, result.event.device_id, now);
    }
    this.observer.folded?.(folded);
    if (this.failedLoads > 0) this.onLoadRecovered();
  }

  private onOutcome(records: RecordBatch, i: number, out: ProcessOutcome, eventTime: string, deviceId: string, now: number): void {
    const recordTs = recordTime(records.timestamp(i), now);
    switch (out.kind) {
      case 'folded':
        if (this.oldestUnflushedTs === undefined || recordTs < this.oldestUnflushedTs) this.oldestUnflushedTs = recordTs;
        if (out.lateByMs > 0) this.observer.lateFolded?.(out.lateByMs);
        return;
      case 'too_late':
        this.observer.tooLate?.();
        this.deadLetter(records.record(i), out.reason, tooLateMessage(eventTime, out.windowStart, out.watermark, this.engine.config), out.windowStart, deviceId);
        return;
      case 'future':
        this.observer.future?.();
        // Counted in the minute of its record timestamp: a window years ahead must not appear anywhere.
        this.deadLetter(records.record(i), out.reason, futureMessage(eventTime, out.skewMs, recordTs, this.engine.config), windowStartOf(recordTs, this.engine.config.windowSizeMs), deviceId);
        return;
      case 'already_counted':
        this.observer.alreadyCounted?.();
        return;
      default:
        return;
    }
  }

  /** Loads, in one read, every stored window that records[from..] needs (as judged now). */
  private async loadStateFor(records: RecordBatch, from: number, parseAt: (i: number) => ValidationResult): Promise<void> {
    const byPartition = new Map<number, Array<{ eventTimeMs: number; recordTimestampMs?: number }>>();
    for (let j = from; j < records.length; j++) {
      const partition = records.partition(j);
      if (!this.restored.has(partition)) continue;
      const r = parseAt(j);
      if (!r.ok) continue;
      const list = byPartition.get(partition) ?? [];
      list.push({ eventTimeMs: r.eventTimeMs, recordTimestampMs: records.timestamp(j) });
      byPartition.set(partition, list);
    }
    const readAhead = this.o.stateReadAheadWindows ?? 30;
    const wanted = [...byPartition]
      .map(([partition, recs]) => {
        const needed = this.engine.windowsToLoad(partition, recs);
        // A late stream moves forward through old windows: read the next ones in the same query.
        const ahead = needed.length > 0 && readAhead > 0 ? this.engine.windowsAfter(partition, needed[needed.length - 1], readAhead) : [];
        return { partition, windowStartsMs: [...new Set([...needed, ...ahead])] };
      })
      .filter((w) => w.windowStartsMs.length > 0);
    await this.loadWindows(wanted);
  }

  /** Reads the stored rows of `wanted` and installs them (absent ones as empty). */
  private async loadWindows(wanted: Array<{ partition: number; windowStartsMs: number[] }>): Promise<void> {
    if (wanted.length === 0) return;
    const started = this.now();
    const engine = this.engine;
    const rows = await this.deps.state.loadWindows(this.o.topic, wanted);
    if (engine !== this.engine) return; // a rebalance replaced the engine meanwhile
    const byPartition = new Map<number, StoredWindow[]>();
    for (const r of rows) {
      const list = byPartition.get(r.sourcePartition) ?? [];
      list.push(storedWindowOf(r));
      byPartition.set(r.sourcePartition, list);
    }
    let n = 0;
    for (const w of wanted) {
      engine.installWindows(w.partition, w.windowStartsMs, byPartition.get(w.partition) ?? []);
      n += w.windowStartsMs.length;
    }
    this.observer.windowsLoaded?.(n, this.now() - started);
  }

  /** The windows restored partitions may still have open, before a flush can judge them. */
  private async loadRestoredWindows(): Promise<void> {
    const wanted = [...this.restored].map((partition) => ({ partition, windowStartsMs: this.engine.windowsToLoad(partition, []) })).filter((w) => w.windowStartsMs.length > 0);
    await this.loadWindows(wanted);
  }

  private onLoadFailed(err: Error, remaining: SourceRecord[], what = 'cannot read window state from ClickHouse', event = 'window state load failed'): void {
    this.failedLoads++;
    this.backlog = remaining;
    const backoff = backoffDelayMs(this.failedLoads, STATE_LOAD_BACKOFF);
    this.backlogRetryAt = this.now() + backoff;
    this.pauseAll();
    this.setHealth(false, `${what}: ${err.message}`);
    this.deps.logger.warn({ err: err.message, attempt: this.failedLoads, retryInMs: backoff, waiting: remaining.length }, `${event}; consumption paused, retrying`);
  }

  private onLoadRecovered(): void {
    this.deps.logger.info({ failedLoads: this.failedLoads }, 'window state loads and schema lookups work again');
    this.failedLoads = 0;
    this.backlogRetryAt = 0;
    if (this.failedFlushes === 0) this.resumeAll();
  }

  private deadLetter(m: SourceRecord, reason: string, message: string, windowStartMs: number, deviceId: string | undefined, schemaId?: number): void {
    const entry: DeadLetterEntry = {
      ...(schemaId === undefined ? {} : { schemaId }),
      reason,
      message,
      sourceTopic: m.topic,
      sourcePartition: m.partition,
      sourceOffset: m.offset,
      sourceTimestampMs: m.timestamp ?? 0,
      windowStartMs,
      recordedAtMs: this.now(),
    };
    this.deps.output.send(this.o.dlqTopic, m.value ?? Buffer.alloc(0), m.key, deadLetterHeaders(entry));
    this.pending.addDeadLetter({
      sourceTopic: m.topic,
      sourcePartition: m.partition,
      sourceOffset: m.offset,
      windowStartMs,
      reason,
      deviceId: deviceId ?? '',
      recordedAtMs: entry.recordedAtMs,
    });
  }

  /** Applies the idle rule (idle-partitions.ts); returns whether any partition was advanced. */
  private advanceIdlePartitions(): boolean {
    if (!this.healthy) return false;
    const advances = idleAdvances(this.restored, this.lastRecordAt, this.now(), this.o.idleTimeoutMs, (p) => this.engine.watermark(p));
    for (const a of advances) this.engine.advanceIdlePartition(a.partition, a.watermark);
    return advances.length > 0;
  }

  /**
   * Writes everything changed since the last flush, then commits, following
   * the commit protocol. On failure the rows stay pending, consumption pauses
   * (bounded memory) and the flush is retried with backoff until ClickHouse
   * and the broker answer again.
   */
  async flush(): Promise<boolean> {
    const { logger } = this.deps;
    const started = this.now();
    let advancedIdle = false;
    try {
      await this.loadRestoredWindows();
      advancedIdle = this.advanceIdlePartitions();
    } catch (err) {
      this.onFlushFailed(err as Error);
      return false;
    }
    const engine = this.engine;
    const generation = this.generation;
    this.catchUpEnd.flushTaken();
    const changes = engine.collectChanges();
    this.pending.addChanges(changes);
    const oldestTs = this.oldestUnflushedTs;
    const batch = this.pending.batch(this.o.topic, this.now(), changes.commits);
    const owner = () => generation === this.generation && engine === this.engine;
    try {
      const outcome = await runCommitProtocol({ output: this.deps.output, state: this.deps.state, results: this.deps.results, publisher: this.deps.publisher, source: this.deps.source }, batch, {
        durable: () => {
          this.pending.written(batch);
          if (engine === this.engine) engine.markDurable(changes.flushId);
          if (oldestTs !== undefined && batch.rows.length > 0) this.observer.visible?.((this.now() - oldestTs) / 1000);
          this.oldestUnflushedTs = undefined;
        },
        // Only the checkpoints of partitions still ours in this generation.
        stillOwned: (c) => owner() && this.assigned.has(c.partition) && this.restored.has(c.partition),
        timing: this.observer.flushStep && { now: () => this.now(), stepDone: (step, ms) => this.observer.flushStep?.(step, ms) },
      });
      if (outcome.kind === 'committed') {
        if (this.failedCommits > 0) logger.info({ failedCommits: this.failedCommits }, 'offset commits work again');
        this.failedCommits = 0;
      } else if (outcome.kind === 'commit_failed') {
        // Typically a rebalance in progress: the next flush commits again.
        this.failedCommits++;
        this.observer.commitFailed?.();
        logger.warn({ err: outcome.error.message, attempt: this.failedCommits }, 'offset commit failed; will retry on the next flush');
        // An idle advance must not outlive a flush that failed to commit it.
        if (advancedIdle) this.generation++;
      }
      this.onFlushSucceeded(started, batch.rows, batch.deadLetters.length);
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

  private onFlushSucceeded(started: number, written: readonly WindowPartitionRow[], deadLetters: number): void {
    const now = this.now();
    const rows = written.length;
    const deviceRows = written.reduce((n, r) => n + (r.devices?.length ?? 0), 0);
    this.observer.flushed?.('ok', now - started, rows, deviceRows);
    const commitLimit = this.o.commitFailuresUnhealthy ?? 3;
    if (this.failedCommits >= commitLimit) this.setHealth(false, `the last ${this.failedCommits} offset commits failed`);
    else if (this.failedLoads === 0) this.setHealth(true);
    if (this.paused && this.failedLoads === 0) {
      this.resumeAll();
      this.deps.logger.info({ failedFlushes: this.failedFlushes }, 'ClickHouse is back; consumption resumed');
    }
    this.failedFlushes = 0;
    this.nextFlushAttemptAt = nextFlushDueAt(started, now, this.o.flushIntervalMs);
    const stats = this.engine.stats();
    this.observer.engineStats?.(stats.openWindows, stats.cachedWindows);
    const lag = new Map((this.deps.source.lag?.([...this.assigned]) ?? []).map((l) => [l.partition, l.lag]));
    this.observer.partitionStats?.(stats.partitions.filter((p) => Number.isFinite(p.watermark)).map((p) => ({ partition: p.partition, watermarkMs: p.watermark, lag: lag.get(p.partition) })));
    this.deps.logger.info(
      { rows, deviceRows, deadLetters, flushMs: now - started, openWindows: stats.openWindows, cachedWindows: stats.cachedWindows, folded: stats.eventsFolded, lateFolded: stats.lateFolded, tooLate: stats.tooLate, future: stats.future, partitions: this.assigned.size },
      'flush',
    );
  }

  private onFlushFailed(err: Error): void {
    this.failedFlushes++;
    this.observer.flushed?.('error', 0, 0, 0);
    this.setHealth(false, `flush failing: ${err.message}`);
    // Stop fetching: state stays bounded by what the client already queued.
    this.pauseAll();
    const backoff = backoffDelayMs(this.failedFlushes, FLUSH_BACKOFF);
    this.nextFlushAttemptAt = this.now() + backoff;
    this.deps.logger.warn({ err: err.message, attempt: this.failedFlushes, retryInMs: backoff, pendingRows: this.pending.rowCount }, 'flush failed; consumption paused, retrying');
  }

  private pauseAll(): void {
    if (this.paused || this.assigned.size === 0) return;
    this.deps.source.pause([...this.assigned]);
    this.paused = true;
  }

  private resumeAll(): void {
    if (!this.paused) return;
    this.deps.source.resume([...this.assigned]);
    this.paused = false;
  }

  private async flushOnShutdown(): Promise<void> {
    const deadline = this.now() + 30000;
    while (this.now() < deadline) {
      if (this.backlog.length > 0 && this.rewoundGeneration === this.generation) {
        await this.processRecords(recordBatch(this.backlog.splice(0)), this.generation);
      }
      if (this.backlog.length === 0 && (await this.flush())) return;
      await this.sleep(Math.max(10, Math.min(this.nextFlushAttemptAt, this.backlogRetryAt || Infinity, deadline) - this.now()));
    }
    this.deps.logger.error({ pendingRows: this.pending.rowCount, waiting: this.backlog.length }, 'could not flush before shutdown; the next start replays from the last commit');
  }
}

/** The record's Kafka timestamp, or the processing time when it has none. */
function recordTime(timestamp: number | undefined, now: number): number {
  return timestamp !== undefined && timestamp >= 0 ? timestamp : now;
}
