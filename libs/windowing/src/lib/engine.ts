import { CheckpointError, decodeCheckpoint, encodeCheckpoint, validateCheckpoint, type PartitionCheckpoint } from './checkpoint';
import { resolveWindowingConfig, windowStartOf, type WindowingConfig } from './config';
import type { Changes, EngineStats, LateEvent, PartitionCommit, PartitionStats, ProcessOutcome, WindowRecord, WindowRow } from './types';

/** Mutable aggregate of one open (or just finalized, not yet emitted) window. */
interface WindowAgg {
  readonly start: number;
  totalEvents: number;
  metricSum: number;
  readonly users: Set<string>;
  anomalyEvents: number;
  /** Offset of the first event folded here: the commit offset can't pass it while open. */
  readonly firstOffset: number;
  /**
   * maxEventTime just before the firstOffset record was processed. When this window
   * has the smallest firstOffset, this is exactly the checkpoint's maxEventTimeBefore,
   * so we never need a per-offset history.
   */
  readonly maxEventTimeBeforeFirst: number;
  lastOffset: number;
  dirty: boolean;
}

interface PartitionState {
  readonly partition: number;
  /** Next offset to process (last processed + 1); undefined until a record or restore. */
  position: number | undefined;
  maxEventTime: number;
  /** Idle-advance floor; part of the checkpoint. */
  floor: number;
  /** Cached max(maxEventTime - ooo, floor): read on every event. */
  watermark: number;
  readonly open: Map<number, WindowAgg>;
  /** Starts of open windows, ascending; almost always appended at the end. */
  readonly openStarts: number[];
  /** openStarts[0] + size + lateness, so the per-event finality test is one compare. */
  nextFinalAt: number;
  /**
   * windowStart -> position at which it became final, for windows finalized at a
   * position > the last commit offset (restored ones included). Consulted before the
   * watermark so a replay can tell "already counted" from "late".
   */
  readonly finals: Map<number, number>;
  /** Finalized windows whose final row has not been handed out yet. */
  pendingFinal: WindowAgg[];
  idle: boolean;
}

const FOLDED: ProcessOutcome = Object.freeze({ kind: 'folded' });
const SKIPPED_FINAL: ProcessOutcome = Object.freeze({ kind: 'skipped_final' });
const DUPLICATE: ProcessOutcome = Object.freeze({ kind: 'duplicate' });

/**
 * Event-time tumbling-window engine for one consumer. Pure: no clocks, timers or
 * I/O; every decision for a partition is a function of its restored checkpoint,
 * its records in offset order, and the idle advances the caller applied.
 */
export class WindowingEngine {
  readonly config: WindowingConfig;
  private readonly parts = new Map<number, PartitionState>();
  private readonly size: number;
  private readonly ooo: number;
  /** size + allowedLateness: window w is final once watermark >= w + finalAfter. */
  private readonly finalAfter: number;
  private readonly threshold: number;
  private eventsFolded = 0;
  private lateEvents = 0;
  private skippedFinal = 0;
  private duplicates = 0;
  private invalidRecords = 0;

  constructor(config: Partial<WindowingConfig> = {}) {
    this.config = resolveWindowingConfig(config);
    this.size = this.config.windowSizeMs;
    this.ooo = this.config.maxOutOfOrdernessMs;
    this.finalAfter = this.config.windowSizeMs + this.config.allowedLatenessMs;
    this.threshold = this.config.anomalyThreshold;
  }

  /**
   * Folds one valid record of `partition`. Records must come in offset order;
   * an offset below the partition's position is a redelivery and is ignored.
   */
  process(partition: number, r: WindowRecord): ProcessOutcome {
    const st = this.stateFor(partition);
    const o = r.offset;
    if (!Number.isSafeInteger(o) || o < 0) throw new RangeError(`offset must be an integer >= 0, got ${o}`);
    if (st.position !== undefined && o < st.position) {
      this.duplicates++;
      return DUPLICATE;
    }
    const t = r.eventTimeMs;
    if (!Number.isFinite(t)) throw new RangeError(`eventTimeMs must be finite (partition ${partition}, offset ${o}), got ${t}`);
    if (!Number.isFinite(r.metricValue)) throw new RangeError(`metricValue must be finite (partition ${partition}, offset ${o})`);
    const w = windowStartOf(t, this.size);

    let outcome: ProcessOutcome;
    const finalizedAt = st.finals.size === 0 ? undefined : st.finals.get(w);
    if (finalizedAt !== undefined) {
      if (o < finalizedAt) {
        this.skippedFinal++;
        outcome = SKIPPED_FINAL;
      } else {
        outcome = this.late(partition, o, t, w, st.watermark);
      }
    } else if (st.watermark >= w + this.finalAfter) {
      outcome = this.late(partition, o, t, w, st.watermark);
    } else {
      this.fold(st, w, r);
      outcome = FOLDED;
    }

    st.position = o + 1;
    st.idle = false;
    // Every valid record moves maxEventTime, whatever its outcome, exactly as in the
    // run that wrote the checkpoint. (For late and skipped_final records this is
    // provably a no-op, but the replay argument is simpler if nothing depends on it.)
    if (t > st.maxEventTime) {
      st.maxEventTime = t;
      const wm = t - this.ooo;
      if (wm > st.watermark) {
        st.watermark = wm;
        if (wm >= st.nextFinalAt) this.finalizeUpTo(st, o + 1);
      }
    }
    return outcome;
  }

  /**
   * An invalid record (sent to the DLQ by the app) at `offset`: no window changes,
   * but the position advances so the commit offset can move past it.
   */
  skip(partition: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be an integer >= 0, got ${offset}`);
    const st = this.stateFor(partition);
    if (st.position !== undefined && offset < st.position) {
      this.duplicates++;
      return;
    }
    this.invalidRecords++;
    st.position = offset + 1;
    st.idle = false;
  }

  /**
   * Raises the partition's watermark to at least `watermarkMs` (never lowers it)
   * because the app judged the partition idle. Contract: call only at flush time,
   * immediately before collectChanges() + write + commit, and process no further
   * record of the partition until that commit succeeded (see README). Ignored for
   * a partition with no position yet: it has no windows, and a floor that cannot
   * be checkpointed would make later late/not-late decisions unreproducible.
   */
  advanceIdlePartition(partition: number, watermarkMs: number): void {
    if (!Number.isFinite(watermarkMs)) throw new RangeError(`idle watermark must be finite, got ${watermarkMs}`);
    const st = this.stateFor(partition);
    st.idle = true;
    if (st.position === undefined || watermarkMs <= st.floor) return;
    st.floor = watermarkMs;
    if (watermarkMs > st.watermark) {
      st.watermark = watermarkMs;
      if (watermarkMs >= st.nextFinalAt) this.finalizeUpTo(st, st.position);
    }
  }

  /**
   * (Re)initialises a partition on assignment. With a checkpoint (the metadata
   * string committed with the offset, or its decoded form) the partition resumes
   * exactly where that checkpoint was taken; returns the offset to seek to.
   * Without one the partition starts empty. Throws CheckpointError for metadata
   * that is malformed or was written with another window size; the caller
   * decides whether to start fresh (documented consequences in README).
   */
  restorePartition(partition: number, checkpoint?: string | PartitionCheckpoint): number | undefined {
    let cp: PartitionCheckpoint | undefined;
    if (checkpoint !== undefined) {
      cp = typeof checkpoint === 'string' ? decodeCheckpoint(checkpoint) : checkpoint;
      validateCheckpoint(cp);
      if (cp.windowSizeMs !== this.size) {
        throw new CheckpointError(`written with window size ${cp.windowSizeMs} ms, engine uses ${this.size} ms`);
      }
    }
    const st = this.newState(partition);
    this.parts.set(partition, st);
    if (!cp) return undefined;
    st.position = cp.commitOffset;
    st.maxEventTime = cp.maxEventTimeBefore;
    st.floor = cp.watermarkFloor;
    st.watermark = Math.max(cp.maxEventTimeBefore - this.ooo, cp.watermarkFloor);
    for (const [ws, at] of cp.finals) st.finals.set(ws, at);
    return cp.commitOffset;
  }

  /** Drops all state of a partition (rebalance). Uncollected rows are lost: collect first. */
  revokePartition(partition: number): boolean {
    return this.parts.delete(partition);
  }

  /**
   * Hands out every row that changed since the last call (dirty open windows as
   * partial rows, newly final windows as final rows) and, per partition, the
   * offset + metadata that may be committed once these rows (and all earlier
   * ones) are durable. Clears dirty flags: if the write fails the caller must
   * keep and retry these rows, since they will not be produced again.
   */
  collectChanges(): Changes {
    const rows: WindowRow[] = [];
    const commits: PartitionCommit[] = [];
    for (const st of this.parts.values()) {
      // Final rows go out even when the window did not change since its last partial
      // row: only then does the newest row of every finished window say final=true.
      for (const win of st.pendingFinal) rows.push(this.row(st.partition, win, true));
      st.pendingFinal = [];
      let oldest: WindowAgg | undefined;
      for (const win of st.open.values()) {
        if (win.dirty) {
          rows.push(this.row(st.partition, win, false));
          win.dirty = false;
        }
        if (!oldest || win.firstOffset < oldest.firstOffset) oldest = win;
      }
      if (st.position === undefined) continue;
      commits.push({ partition: st.partition, offset: this.commitOffsetOf(st, oldest), metadata: encodeCheckpoint(this.checkpointOf(st, oldest)) });
    }
    return { rows, commits };
  }

  /**
   * The checkpoint collectChanges() would emit for the partition now, without
   * handing out rows (for inspection; only commit metadata that came with rows).
   */
  checkpoint(partition: number): PartitionCheckpoint | undefined {
    const st = this.parts.get(partition);
    if (!st || st.position === undefined) return undefined;
    return this.checkpointOf(st, this.oldestOpen(st));
  }

  watermark(partition: number): number {
    return this.parts.get(partition)?.watermark ?? -Infinity;
  }

  /**
   * Overall watermark for dashboards/metrics: min over partitions not marked idle;
   * if every partition is idle, min over all; -Infinity with no partitions.
   */
  globalWatermark(): number {
    let active = Infinity;
    let all = Infinity;
    for (const st of this.parts.values()) {
      if (st.watermark < all) all = st.watermark;
      if (!st.idle && st.watermark < active) active = st.watermark;
    }
    if (active !== Infinity) return active;
    return all === Infinity ? -Infinity : all;
  }

  partitions(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  stats(): EngineStats {
    let openWindows = 0;
    const partitions: PartitionStats[] = [];
    for (const p of this.partitions()) {
      const st = this.parts.get(p) as PartitionState;
      openWindows += st.open.size;
      partitions.push({
        partition: p,
        watermark: st.watermark,
        maxEventTime: st.maxEventTime,
        watermarkFloor: st.floor,
        openWindows: st.open.size,
        idle: st.idle,
        position: st.position,
      });
    }
    return {
      openWindows,
      eventsFolded: this.eventsFolded,
      lateEvents: this.lateEvents,
      skippedFinal: this.skippedFinal,
      duplicates: this.duplicates,
      invalidRecords: this.invalidRecords,
      partitions,
    };
  }

  // ---- internals -----------------------------------------------------------

  private stateFor(partition: number): PartitionState {
    let st = this.parts.get(partition);
    if (!st) {
      if (!Number.isSafeInteger(partition) || partition < 0) throw new RangeError(`partition must be an integer >= 0, got ${partition}`);
      st = this.newState(partition);
      this.parts.set(partition, st);
    }
    return st;
  }

  private newState(partition: number): PartitionState {
    return {
      partition,
      position: undefined,
      maxEventTime: -Infinity,
      floor: -Infinity,
      watermark: -Infinity,
      open: new Map(),
      openStarts: [],
      nextFinalAt: Infinity,
      finals: new Map(),
      pendingFinal: [],
      idle: false,
    };
  }

  private fold(st: PartitionState, w: number, r: WindowRecord): void {
    let win = st.open.get(w);
    if (!win) {
      win = {
        start: w,
        totalEvents: 0,
        metricSum: 0,
        users: new Set(),
        anomalyEvents: 0,
        firstOffset: r.offset,
        maxEventTimeBeforeFirst: st.maxEventTime,
        lastOffset: r.offset,
        dirty: true,
      };
      st.open.set(w, win);
      // Sorted insert scanning from the end: new windows are nearly always the newest.
      const starts = st.openStarts;
      let i = starts.length;
      while (i > 0 && starts[i - 1] > w) i--;
      starts.splice(i, 0, w);
      if (i === 0) st.nextFinalAt = w + this.finalAfter;
    }
    win.totalEvents++;
    win.metricSum += r.metricValue;
    win.users.add(r.userId);
    if (r.anomalyScore >= this.threshold) win.anomalyEvents++;
    win.lastOffset = r.offset;
    win.dirty = true;
    this.eventsFolded++;
  }

  /** Finalizes every open window the current watermark has passed; `at` = position now. */
  private finalizeUpTo(st: PartitionState, at: number): void {
    const starts = st.openStarts;
    let n = 0;
    while (n < starts.length && starts[n] + this.finalAfter <= st.watermark) {
      const w = starts[n++];
      const win = st.open.get(w) as WindowAgg;
      st.open.delete(w);
      st.pendingFinal.push(win);
      st.finals.set(w, at);
    }
    starts.splice(0, n);
    st.nextFinalAt = starts.length > 0 ? starts[0] + this.finalAfter : Infinity;
  }

  private late(partition: number, offset: number, eventTimeMs: number, windowStart: number, watermark: number): LateEvent {
    this.lateEvents++;
    return { kind: 'late', partition, offset, eventTimeMs, windowStart, reason: 'late_event', watermark };
  }

  private oldestOpen(st: PartitionState): WindowAgg | undefined {
    let oldest: WindowAgg | undefined;
    for (const win of st.open.values()) if (!oldest || win.firstOffset < oldest.firstOffset) oldest = win;
    return oldest;
  }

  /**
   * Replay must rebuild every open window completely, so the commit can't pass
   * the first event of any open window; with none open, everything up to the
   * position is settled.
   */
  private commitOffsetOf(st: PartitionState, oldest: WindowAgg | undefined): number {
    return oldest ? oldest.firstOffset : (st.position as number);
  }

  private checkpointOf(st: PartitionState, oldest: WindowAgg | undefined): PartitionCheckpoint {
    const commitOffset = this.commitOffsetOf(st, oldest);
    // A finalization at position <= commitOffset needs no entry: a replay starting at
    // commitOffset already has a watermark that finalizes it (it includes every record
    // before that position and the current floor). Pruning here keeps the map bounded.
    const finals: Array<[number, number]> = [];
    for (const [ws, at] of st.finals) {
      if (at <= commitOffset) st.finals.delete(ws);
      else finals.push([ws, at]);
    }
    finals.sort((a, b) => a[0] - b[0]);
    return {
      commitOffset,
      windowSizeMs: this.size,
      maxEventTimeBefore: oldest ? oldest.maxEventTimeBeforeFirst : st.maxEventTime,
      watermarkFloor: st.floor,
      finals,
    };
  }

  private row(partition: number, win: WindowAgg, final: boolean): WindowRow {
    const users = [...win.users].sort();
    return {
      partition,
      windowStart: win.start,
      totalEvents: win.totalEvents,
      metricSum: win.metricSum,
      avgMetric: win.metricSum / win.totalEvents,
      users,
      uniqueUsers: users.length,
      anomalyEvents: win.anomalyEvents,
      version: win.lastOffset,
      final,
      rowVersion: win.lastOffset * 2 + (final ? 1 : 0),
    };
  }
}
