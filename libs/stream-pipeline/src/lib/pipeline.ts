/**
 * The aggregator's consume -> fold -> flush -> commit protocol.
 *
 * Exactly-once rests on four rules (libs/windowing/README.md, DESIGN.md):
 *  1. The engine's decisions for a partition depend only on the checkpoint it
 *     was restored from, the partition's records in offset order and the
 *     stored rows it is given, so a replay reproduces the same rows (same
 *     row version => same content).
 *  2. Rows are cumulative per (window, source topic, source partition) and
 *     ordered by rowVersion; ClickHouse keeps the newest, so writing a row
 *     twice, or an older one after a newer one, changes nothing. Those rows
 *     are the durable window state: a window not in memory is loaded back
 *     before an event is folded into it, and an event at or below the loaded
 *     row's last offset is already in it.
 *  3. The committed offset is the position reached at a durable flush, with
 *     the watermark in its metadata, committed only after every row and dead
 *     letter it covers is acknowledged by ClickHouse and the broker. A crash
 *     replays about one flush interval.
 *  4. On a rebalance (eager protocol) all partition state is dropped and
 *     rebuilt from the committed checkpoints and the stored rows (rule 1).
 *  5. A window's users are a set, written before the rows that count them;
 *     its result (what readers see) is recomputed from the stored rows after
 *     they are written and before the commit, for every window written and
 *     every window loaded with a row an uncommitted flush wrote (rule 3 would
 *     otherwise replay nothing that refreshes it). The newest result wins, so
 *     whichever writer refreshes last leaves the complete one.
 */
import { BEYOND_RETENTION_REASON, isBeyondAggregateRetention, storedWindowOf, windowPartitionRowOf, type DeadLetterRow, type WindowUsersRow } from '@stream-analytics/clickhouse-sink';
import { deadLetterHeaders, parseAndValidate, type DeadLetterEntry, type ValidationResult } from '@stream-analytics/event-schema';
import { WindowingEngine, windowStartOf, type DeviceWindowRow, type ProcessOutcome, type StoredWindow, type WindowingConfig, type WindowRecord, type WindowRow } from '@stream-analytics/windowing';
import type { OutputSink, PipelineLogger, PipelineObserver, RecordSource, ResultPublisher, SourceRecord, WindowStore } from './ports';

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
  store: WindowStore;
  results: ResultPublisher;
  logger: PipelineLogger;
  observer?: PipelineObserver;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const rowKey = (partition: number, windowStart: number) => `${partition}:${windowStart}`;
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class StreamPipeline {
  private engine: WindowingEngine;
  private readonly o: PipelineOptions;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly observer: PipelineObserver;
  /** Partitions assigned by the group, and those restored from their checkpoint in this generation. */
  private readonly assigned = new Set<number>();
  private readonly restored = new Set<number>();
  /** Bumped on every rebalance (and to undo an uncommitted idle advance): records fetched across one are discarded. */
  private generation = 0;
  /** Generation whose assignment was last rewound to its committed checkpoints. */
  private rewoundGeneration = 0;
  /** Rows and dead letters collected but not yet acknowledged by ClickHouse. */
  private readonly pendingRows = new Map<string, WindowRow>();
  /** Windows whose results must be refreshed once the pending rows are written. */
  private pendingRefresh = new Set<number>();
  private pendingDeadLetters: DeadLetterRow[] = [];
  /** Records waiting for a state load that failed, in order; nothing else is processed before them. */
  private backlog: SourceRecord[] = [];
  private backlogRetryAt = 0;
  private failedLoads = 0;
  /** Processing time of the last record per partition, for idle detection. */
  private readonly lastRecordAt = new Map<number, number>();
  /** Oldest record timestamp folded since the last successful flush (freshness). */
  private oldestUnflushedTs: number | undefined;
  private nextFlushAttemptAt: number;
  private failedFlushes = 0;
  private failedCommits = 0;
  private paused = false;
  private stopping = false;
  private lastLoopAt: number;
  private prefetch: Promise<SourceRecord[]> | undefined;
  private healthy = false;
  private unhealthyReason: string | undefined = 'no successful flush yet';

  constructor(private readonly deps: PipelineDeps) {
    this.o = deps.options;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? defaultSleep;
    this.observer = deps.observer ?? {};
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
      if (this.paused) this.deps.source.pause([...this.assigned]);
      this.deps.logger.info({ partitions }, 'partitions assigned');
    } else {
      // Eager protocol: everything is revoked. Rows already collected stay
      // pending (they are correct and idempotent); window state is dropped and
      // rebuilt from the checkpoints and the stored rows on reassignment.
      this.assigned.clear();
      this.restored.clear();
      this.lastRecordAt.clear();
      this.backlog = [];
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
      let batch: SourceRecord[];
      try {
        // The next fetch runs in the client's thread while this batch is folded.
        batch = await (this.prefetch ?? source.consume(this.o.batchSize));
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
      if (this.backlog.length > 0 || batch.length > 0) {
        // Records behind a failed state load wait for it, in order.
        const records = this.backlog.length > 0 ? [...this.backlog, ...batch] : batch;
        this.backlog = [];
        if (this.now() < this.backlogRetryAt) this.backlog = records;
        else await this.processRecords(records, generation);
      }
      if (this.now() >= this.nextFlushAttemptAt) await this.flush();
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
  private async processRecords(records: SourceRecord[], generation: number): Promise<void> {
    const parsed: Array<ValidationResult | undefined> = new Array(records.length);
    const parseAt = (i: number): ValidationResult => (parsed[i] ??= parseAndValidate(records[i].value ?? Buffer.alloc(0)));
    const now = this.now();
    let folded = 0;
    for (let i = 0; i < records.length; i++) {
      const m = records[i];
      if (!this.restored.has(m.partition)) continue;
      this.lastRecordAt.set(m.partition, now);
      const result = parseAt(i);
      if (!result.ok) {
        this.engine.skip(m.partition, m.offset);
        this.observer.invalid?.(result.reason);
        this.deadLetter(m, result.reason, result.message, windowStartOf(recordTime(m, now), this.engine.config.windowSizeMs), undefined);
        continue;
      }
      const windowStartMs = windowStartOf(result.eventTimeMs, this.engine.config.windowSizeMs);
      if (this.o.aggregateRetentionDays !== undefined && isBeyondAggregateRetention(windowStartMs, recordTime(m, now), this.o.aggregateRetentionDays)) {
        this.engine.skip(m.partition, m.offset);
        this.observer.beyondRetention?.();
        const message = `event_time ${result.event.event_time} falls in window ${new Date(windowStartMs).toISOString()}, older than the aggregate retention of ${this.o.aggregateRetentionDays} days (AGGREGATE_RETENTION_DAYS): raise it before backfilling such history`;
        // Recorded in the minute it arrived: the dead-letter retention would drop its own (old) minute at once.
        this.deadLetter(m, BEYOND_RETENTION_REASON, message, windowStartOf(recordTime(m, now), this.engine.config.windowSizeMs), result.event.device_id);
        continue;
      }
      const rec: WindowRecord = {
        offset: m.offset,
        eventTimeMs: result.eventTimeMs,
        recordTimestampMs: m.timestamp,
        userId: result.event.user_id,
        deviceId: result.event.device_id,
        metricValue: result.event.metric_value,
        temperature: result.event.temperature,
        status: result.event.status,
        anomalyScore: result.event.anomaly_score,
      };
      let out = this.engine.process(m.partition, rec);
      if (out.kind === 'needs_state') {
        try {
          await this.loadStateFor(records, i, parseAt);
        } catch (err) {
          this.onLoadFailed(err as Error, records.slice(i));
          this.observer.folded?.(folded);
          return;
        }
        if (generation !== this.generation) return;
        out = this.engine.process(m.partition, rec);
        if (out.kind === 'needs_state') throw new Error(`window ${out.windowStart} of partition ${m.partition} still needs its stored state after loading it`);
      }
      if (out.kind === 'folded') folded++;
      this.onOutcome(m, out, result.event.event_time, result.event.device_id, now);
    }
    this.observer.folded?.(folded);
    if (this.failedLoads > 0) this.onLoadRecovered();
  }

  private onOutcome(m: SourceRecord, out: ProcessOutcome, eventTime: string, deviceId: string, now: number): void {
    switch (out.kind) {
      case 'folded': {
        const ts = recordTime(m, now);
        if (this.oldestUnflushedTs === undefined || ts < this.oldestUnflushedTs) this.oldestUnflushedTs = ts;
        if (out.lateByMs > 0) this.observer.lateFolded?.(out.lateByMs);
        return;
      }
      case 'too_late':
        this.observer.tooLate?.();
        this.deadLetter(
          m,
          out.reason,
          `event_time ${eventTime} falls in window ${new Date(out.windowStart).toISOString()}, which ended ${this.engine.config.allowedLatenessMs / 1000} s or more before the partition's watermark ${new Date(out.watermark).toISOString()} (ALLOWED_LATENESS_SECS)`,
          out.windowStart,
          deviceId,
        );
        return;
      case 'future':
        this.observer.future?.();
        // Counted in the minute of its record timestamp: a window years ahead must not appear anywhere.
        this.deadLetter(
          m,
          out.reason,
          `event_time ${eventTime} is ${Math.round(out.skewMs / 1000)} s ahead of the record timestamp ${new Date(recordTime(m, now)).toISOString()} (more than MAX_FUTURE_SKEW_SECS ${this.engine.config.maxFutureSkewMs / 1000})`,
          windowStartOf(recordTime(m, now), this.engine.config.windowSizeMs),
          deviceId,
        );
        return;
      case 'already_counted':
        this.observer.alreadyCounted?.();
        return;
      default:
        return;
    }
  }

  /** Loads, in one read, every stored window that records[from..] needs (as judged now). */
  private async loadStateFor(records: SourceRecord[], from: number, parseAt: (i: number) => ValidationResult): Promise<void> {
    const byPartition = new Map<number, Array<{ eventTimeMs: number; recordTimestampMs?: number }>>();
    for (let j = from; j < records.length; j++) {
      const m = records[j];
      if (!this.restored.has(m.partition)) continue;
      const r = parseAt(j);
      if (!r.ok) continue;
      const list = byPartition.get(m.partition) ?? [];
      list.push({ eventTimeMs: r.eventTimeMs, recordTimestampMs: m.timestamp });
      byPartition.set(m.partition, list);
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
    const rows = await this.deps.store.loadWindows(this.o.topic, wanted);
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

  private onLoadFailed(err: Error, remaining: SourceRecord[]): void {
    this.failedLoads++;
    this.backlog = remaining;
    const backoff = Math.min(10000, 250 * 2 ** Math.min(this.failedLoads - 1, 6));
    this.backlogRetryAt = this.now() + backoff;
    this.pauseAll();
    this.setHealth(false, `cannot read window state from ClickHouse: ${err.message}`);
    this.deps.logger.warn({ err: err.message, attempt: this.failedLoads, retryInMs: backoff, waiting: remaining.length }, 'window state load failed; consumption paused, retrying');
  }

  private onLoadRecovered(): void {
    this.deps.logger.info({ failedLoads: this.failedLoads }, 'window state loads work again');
    this.failedLoads = 0;
    this.backlogRetryAt = 0;
    if (this.failedFlushes === 0) this.resumeAll();
  }

  private deadLetter(m: SourceRecord, reason: string, message: string, windowStartMs: number, deviceId: string | undefined): void {
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
    this.deps.output.send(this.o.dlqTopic, m.value ?? Buffer.alloc(0), m.key, deadLetterHeaders(entry));
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

  /**
   * Idle partitions stop holding their windows open. Applied only at flush
   * time, right before the write and commit that record the advance; returns
   * whether any partition was advanced (see the engine's idle contract).
   */
  private advanceIdlePartitions(): boolean {
    if (!this.healthy) return false;
    const now = this.now();
    const active = [...this.restored].filter((p) => now - (this.lastRecordAt.get(p) ?? now) < this.o.idleTimeoutMs);
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
   * is retried with backoff until ClickHouse and the broker answer again.
   */
  async flush(): Promise<boolean> {
    const { store, output, source, logger } = this.deps;
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
    const changes = engine.collectChanges();
    for (const row of changes.rows) {
      const key = rowKey(row.partition, row.windowStart);
      const prev = this.pendingRows.get(key);
      // A newer row replaces a pending one, but the users and device rows the older one handed out must still be written.
      const newer = !prev || prev.rowVersion <= row.rowVersion ? row : prev;
      this.pendingRows.set(key, prev ? { ...newer, newUsers: mergeUsers(prev.newUsers, row.newUsers), devices: newestDeviceRows(prev.devices, row.devices) } : row);
      this.pendingRefresh.add(row.windowStart);
    }
    for (const w of changes.revisitedWindows) this.pendingRefresh.add(w);
    const rows = [...this.pendingRows.values()];
    const refresh = [...this.pendingRefresh].sort((a, b) => a - b);
    const deadLetters = this.pendingDeadLetters;
    const generation = this.generation;
    const oldestTs = this.oldestUnflushedTs;
    try {
      // Dead letters (and earlier results) acknowledged by the broker before anything is committed.
      await output.settled(15000);
      const updatedAtMs = this.now();
      // Users before the rows that count their events, results after both.
      await store.writeWindowUsers(usersByWindow(rows));
      await store.writeWindowRows(rows.map((r) => windowPartitionRowOf(r, this.o.topic, updatedAtMs)));
      await store.writeDeadLetters(deadLetters);
      // A dead letter has no stored state: a replay after a crash records it again, and refreshes its minute then.
      await store.refreshResults(refresh, [...new Set(deadLetters.map((d) => d.windowStartMs))]);
      this.pendingRows.clear();
      this.pendingRefresh = new Set();
      this.pendingDeadLetters = this.pendingDeadLetters.slice(deadLetters.length);
      if (engine === this.engine) engine.markDurable(changes.flushId);
      if (oldestTs !== undefined && rows.length > 0) this.observer.visible?.((this.now() - oldestTs) / 1000);
      this.oldestUnflushedTs = undefined;
      if (refresh.length > 0) await this.deps.results.publish(refresh);
      // Commit only the checkpoints of partitions still ours in this generation.
      if (generation === this.generation && engine === this.engine) {
        const commits = changes.commits.filter((c) => this.assigned.has(c.partition) && this.restored.has(c.partition));
        if (commits.length > 0) {
          try {
            await source.commit(commits);
            if (this.failedCommits > 0) logger.info({ failedCommits: this.failedCommits }, 'offset commits work again');
            this.failedCommits = 0;
          } catch (err) {
            // Typically a rebalance in progress: the next flush commits again.
            this.failedCommits++;
            this.observer.commitFailed?.();
            logger.warn({ err: (err as Error).message, attempt: this.failedCommits }, 'offset commit failed; will retry on the next flush');
            // An idle advance must not outlive a flush that failed to commit it.
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
    const now = this.now();
    this.observer.flushed?.('ok', now - started, rows);
    const commitLimit = this.o.commitFailuresUnhealthy ?? 3;
    if (this.failedCommits >= commitLimit) this.setHealth(false, `the last ${this.failedCommits} offset commits failed`);
    else if (this.failedLoads === 0) this.setHealth(true);
    if (this.paused && this.failedLoads === 0) {
      this.resumeAll();
      this.deps.logger.info({ failedFlushes: this.failedFlushes }, 'ClickHouse is back; consumption resumed');
    }
    this.failedFlushes = 0;
    this.nextFlushAttemptAt = now + this.o.flushIntervalMs;
    const stats = this.engine.stats();
    this.observer.engineStats?.(stats.openWindows, stats.cachedWindows);
    const lag = new Map((this.deps.source.lag?.([...this.assigned]) ?? []).map((l) => [l.partition, l.lag]));
    this.observer.partitionStats?.(stats.partitions.filter((p) => Number.isFinite(p.watermark)).map((p) => ({ partition: p.partition, watermarkMs: p.watermark, lag: lag.get(p.partition) })));
    this.deps.logger.info(
      { rows, deadLetters, flushMs: now - started, openWindows: stats.openWindows, cachedWindows: stats.cachedWindows, folded: stats.eventsFolded, lateFolded: stats.lateFolded, tooLate: stats.tooLate, future: stats.future, partitions: this.assigned.size },
      'flush',
    );
  }

  private onFlushFailed(err: Error): void {
    this.failedFlushes++;
    this.observer.flushed?.('error', 0, 0);
    this.setHealth(false, `flush failing: ${err.message}`);
    // Stop fetching: state stays bounded by what the client already queued.
    this.pauseAll();
    const backoff = Math.min(10000, 500 * 2 ** Math.min(this.failedFlushes - 1, 5));
    this.nextFlushAttemptAt = this.now() + backoff;
    this.deps.logger.warn({ err: err.message, attempt: this.failedFlushes, retryInMs: backoff, pendingRows: this.pendingRows.size }, 'flush failed; consumption paused, retrying');
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
        await this.processRecords(this.backlog.splice(0), this.generation);
      }
      if (this.backlog.length === 0 && (await this.flush())) return;
      await this.sleep(Math.max(10, Math.min(this.nextFlushAttemptAt, this.backlogRetryAt || Infinity, deadline) - this.now()));
    }
    this.deps.logger.error({ pendingRows: this.pendingRows.size, waiting: this.backlog.length }, 'could not flush before shutdown; the next start replays from the last commit');
  }
}

function mergeUsers(a: readonly string[], b: readonly string[]): string[] {
  return a.length === 0 ? [...b] : b.length === 0 ? [...a] : [...new Set([...a, ...b])].sort();
}

/** Device rows of two pending versions of a (window, partition) row: per device the newest. */
function newestDeviceRows(a: readonly DeviceWindowRow[], b: readonly DeviceWindowRow[]): DeviceWindowRow[] {
  if (a.length === 0) return [...b];
  const byDevice = new Map(a.map((d) => [d.deviceId, d]));
  for (const d of b) if ((byDevice.get(d.deviceId)?.rowVersion ?? -1) <= d.rowVersion) byDevice.set(d.deviceId, d);
  return [...byDevice.values()];
}

/** The rows' new users per window, each once (a user of several partitions is written once). */
function usersByWindow(rows: readonly WindowRow[]): WindowUsersRow[] {
  const byWindow = new Map<number, Set<string>>();
  for (const r of rows) {
    if (r.newUsers.length === 0) continue;
    const set = byWindow.get(r.windowStart) ?? new Set<string>();
    for (const u of r.newUsers) set.add(u);
    byWindow.set(r.windowStart, set);
  }
  return [...byWindow].map(([windowStartMs, users]) => ({ windowStartMs, userIds: [...users] }));
}

/** The record's Kafka timestamp, or the processing time when it has none. */
function recordTime(m: SourceRecord, now: number): number {
  return m.timestamp !== undefined && m.timestamp >= 0 ? m.timestamp : now;
}
