import { FUTURE_EVENT_TIME, LATE_EVENT } from '@stream-analytics/event-schema';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, validateCheckpoint, type PartitionCheckpoint } from './checkpoint';
import { isFutureEvent, isTooLate, isWindowFinal, resolveWindowingConfig, rowVersionOf, windowStartOf, type WindowingConfig } from './config';
import { accumulatorFromState, accumulatorState, addToAccumulator, createAccumulator, type Accumulator } from './fold';
import type { Changes, DeviceWindowRow, EngineStats, PartitionCommit, PartitionStats, ProcessOutcome, StoredWindow, WindowRecord, WindowRow } from './types';

/** In-memory state of one device in one (window, partition). */
interface DeviceAgg {
  readonly acc: Accumulator;
  /** Offset of the device's last event folded in (or loaded); -1 without a row. */
  lastOffset: number;
  /** Folded into since its last row was handed out. */
  dirty: boolean;
}

/** In-memory state of one (window, partition): the durable row plus what was folded since. */
interface WindowAgg {
  readonly start: number;
  /** The fleet's accumulator (fold.ts). */
  acc: Accumulator;
  /** Per device, the same accumulator; loaded and evicted with the window. */
  readonly devices: Map<string, DeviceAgg>;
  /**
   * Users of events folded in by this engine (not loaded: stored users are a
   * set union, so writing one again is harmless), and those of them not yet
   * handed out in a row.
   */
  readonly users: Set<string>;
  newUsers: string[];
  /** Offset of the last event folded in; -1 for a window known to have no row. */
  lastOffset: number;
  /** The final flag of the newest row handed out (or loaded). */
  emittedFinal: boolean;
  /** Folded into since the last collectChanges. */
  dirty: boolean;
  /** flushId of the collectChanges that last handed out its row (0: loaded, nothing handed out). */
  emittedAt: number;
  /** flushId current when an event last touched it. */
  touchedAt: number;
}

interface PartitionState {
  readonly partition: number;
  /** Next offset to process (last processed + 1); undefined until a record or restore. */
  position: number | undefined;
  /** Max event time over accepted (neither invalid nor future) records. */
  maxEventTime: number;
  /** Idle-advance floor; part of the checkpoint. */
  floor: number;
  /** max(maxEventTime - ooo, floor). */
  watermark: number;
  readonly windows: Map<number, WindowAgg>;
  /**
   * After a restore: the windows that may be open in the store (their end is
   * past the restored watermark). They must be in memory before anything else
   * happens, so that the watermark passing them writes their final rows.
   */
  restoreLoads: number[];
  idle: boolean;
}

const DUPLICATE: ProcessOutcome = Object.freeze({ kind: 'duplicate' });
const FOLDED_ON_TIME: ProcessOutcome = Object.freeze({ kind: 'folded', lateByMs: 0 });

/**
 * Event-time tumbling-window engine for one consumer. Pure: no clocks, timers or
 * I/O. Every decision for a partition is a function of its restored checkpoint,
 * its records in offset order, the idle advances the caller applied, and the
 * stored rows the caller installs when asked (needs_state).
 *
 * Memory holds the windows that are open or recently touched; every other
 * window lives only in the store, as its newest row, and is loaded back when
 * an event needs it. So the lateness horizon costs neither memory nor replay.
 */
export class WindowingEngine {
  readonly config: WindowingConfig;
  private readonly parts = new Map<number, PartitionState>();
  private readonly size: number;
  private readonly ooo: number;
  private readonly threshold: number;
  /** Id of the next collectChanges (flush); starts at 1. */
  private flushSeq = 1;
  private eventsFolded = 0;
  private lateFolded = 0;
  private tooLate = 0;
  private future = 0;
  private alreadyCounted = 0;
  private duplicates = 0;
  private invalidRecords = 0;
  private windowsLoaded = 0;
  private windowsEvicted = 0;
  /** Windows loaded with a stored row this engine has not replayed past (see installWindows). */
  private revisited = new Set<number>();

  constructor(config: Partial<WindowingConfig> = {}) {
    this.config = resolveWindowingConfig(config);
    this.size = this.config.windowSizeMs;
    this.ooo = this.config.maxOutOfOrdernessMs;
    this.threshold = this.config.anomalyThreshold;
  }

  /**
   * Judges and folds one valid record of `partition`. Records must come in
   * offset order; an offset below the partition's position is a redelivery and
   * is ignored. On `needs_state` nothing changed: install the window and call
   * again with the same record.
   */
  process(partition: number, r: WindowRecord): ProcessOutcome {
    const st = this.stateFor(partition);
    const o = r.offset;
    if (!Number.isSafeInteger(o) || o < 0) throw new RangeError(`offset must be an integer >= 0, got ${o}`);
    if (st.position !== undefined && o < st.position) {
      this.duplicates++;
      return DUPLICATE;
    }
    if (st.restoreLoads.length > 0) return { kind: 'needs_state', windowStart: st.restoreLoads[0] };
    const t = r.eventTimeMs;
    if (!Number.isFinite(t)) throw new RangeError(`eventTimeMs must be finite (partition ${partition}, offset ${o}), got ${t}`);
    if (!Number.isFinite(r.metricValue)) throw new RangeError(`metricValue must be finite (partition ${partition}, offset ${o})`);

    const w = windowStartOf(t, this.size);
    let outcome: ProcessOutcome;
    if (isFutureEvent(this.config, t, r.recordTimestampMs)) {
      // Never moves the watermark: one device's wrong clock cannot make others late.
      this.future++;
      st.position = o + 1;
      st.idle = false;
      return { kind: 'future', windowStart: w, skewMs: t - (r.recordTimestampMs as number), reason: FUTURE_EVENT_TIME };
    }
    if (isTooLate(this.config, w, st.watermark)) {
      this.tooLate++;
      outcome = { kind: 'too_late', windowStart: w, watermark: st.watermark, reason: LATE_EVENT };
    } else {
      let win = st.windows.get(w);
      if (!win) {
        // Every window with an event before this one starts at or before the
        // window of maxEventTime: a later window has no stored row.
        if (st.maxEventTime !== -Infinity && w <= windowStartOf(st.maxEventTime, this.size)) return { kind: 'needs_state', windowStart: w };
        win = this.emptyWindow(w);
        st.windows.set(w, win);
      }
      // The window's row and its device's row each say which events they
      // hold (their last offsets); an event goes into each that lacks it.
      const device = win.devices.get(r.deviceId);
      const intoWindow = o > win.lastOffset;
      const intoDevice = device === undefined || o > device.lastOffset;
      const late = isWindowFinal(w, this.size, st.watermark);
      if (intoDevice) this.foldDevice(win, device, r, late);
      if (!intoWindow) {
        this.alreadyCounted++;
        outcome = { kind: 'already_counted', windowStart: w };
      } else {
        this.fold(win, r, late);
        if (late) {
          this.lateFolded++;
          outcome = { kind: 'folded', lateByMs: st.watermark - (w + this.size) };
        } else outcome = FOLDED_ON_TIME;
      }
    }
    st.position = o + 1;
    st.idle = false;
    if (t > st.maxEventTime) {
      st.maxEventTime = t;
      const wm = t - this.ooo;
      if (wm > st.watermark) st.watermark = wm;
    }
    return outcome;
  }

  /**
   * The stored windows `records` would need before they can be processed, as
   * judged now (later records may raise the watermark and need fewer). For
   * loading several windows in one read.
   */
  windowsToLoad(partition: number, records: Iterable<Pick<WindowRecord, 'eventTimeMs' | 'recordTimestampMs'>>): number[] {
    const st = this.stateFor(partition);
    if (st.maxEventTime === -Infinity) return [];
    const newest = windowStartOf(st.maxEventTime, this.size);
    const out = new Set<number>(st.restoreLoads);
    for (const r of records) {
      if (isFutureEvent(this.config, r.eventTimeMs, r.recordTimestampMs)) continue;
      const w = windowStartOf(r.eventTimeMs, this.size);
      if (w <= newest && !isTooLate(this.config, w, st.watermark) && !st.windows.has(w)) out.add(w);
    }
    return [...out].sort((a, b) => a - b);
  }

  /**
   * Windows after `afterWindowStart`, up to `count` of them, that may be stored
   * and are not in memory: a late stream (a backlog of an offline device, a
   * replay) usually moves forward through old windows, so loading the next
   * ones with the one asked for saves a read per window. Loading a window that
   * is not needed costs only memory until it is evicted.
   */
  windowsAfter(partition: number, afterWindowStart: number, count: number): number[] {
    const st = this.stateFor(partition);
    if (st.maxEventTime === -Infinity) return [];
    const newest = windowStartOf(st.maxEventTime, this.size);
    const out: number[] = [];
    for (let w = afterWindowStart + this.size; w <= newest && out.length < count; w += this.size) if (!st.windows.has(w)) out.push(w);
    return out;
  }

  /**
   * Installs the stored state of windows asked for by needs_state /
   * windowsToLoad: `stored` holds the newest stored row of those that have one;
   * every other start in `windowStarts` is known to have none. A window already
   * in memory is left as it is (memory is never older than the store).
   *
   * A stored row at or past the partition's position, or final while the
   * partition's watermark has not passed its end, was written by a flush
   * this engine has not replayed past (a crash or rebalance after the write,
   * before the commit): what was derived from it after that write (the
   * per-window result) may be missing, so the window is handed out in
   * collectChanges().revisitedWindows even if no event changes it.
   */
  installWindows(partition: number, windowStarts: readonly number[], stored: readonly StoredWindow[]): void {
    const st = this.stateFor(partition);
    if (st.restoreLoads.length > 0) st.restoreLoads = st.restoreLoads.filter((w) => !windowStarts.includes(w));
    const byStart = new Map(stored.map((s) => [s.windowStart, s]));
    for (const s of stored) if (!windowStarts.includes(s.windowStart)) throw new RangeError(`stored window ${s.windowStart} was not asked for`);
    for (const w of windowStarts) {
      if (st.windows.has(w)) continue;
      if (windowStartOf(w, this.size) !== w) throw new RangeError(`window start ${w} is not a multiple of the window size ${this.size}`);
      const s = byStart.get(w);
      const win = this.emptyWindow(w);
      if (s) {
        if (!Number.isSafeInteger(s.lastOffset) || s.lastOffset < 0) throw new RangeError(`stored window ${w}: lastOffset must be an integer >= 0, got ${s.lastOffset}`);
        win.acc = accumulatorFromState(s.aggregate);
        win.lastOffset = s.lastOffset;
        win.emittedFinal = s.final;
        // Ahead of this engine: an offset it has not reached, or final before its watermark says so.
        const ahead = st.position === undefined || s.lastOffset >= st.position || (s.final && !isWindowFinal(w, this.size, st.watermark));
        if (ahead) this.revisited.add(w);
      }
      for (const d of s?.devices ?? []) {
        if (!Number.isSafeInteger(d.lastOffset) || d.lastOffset < 0) throw new RangeError(`stored window ${w}, device ${d.deviceId}: lastOffset must be an integer >= 0, got ${d.lastOffset}`);
        win.devices.set(d.deviceId, { acc: accumulatorFromState(d.aggregate), lastOffset: d.lastOffset, dirty: false });
      }
      win.dirty = false;
      win.touchedAt = this.flushSeq;
      st.windows.set(w, win);
      this.windowsLoaded++;
    }
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
   * a partition with no position yet: a floor that cannot be checkpointed would
   * make later decisions unreproducible.
   */
  advanceIdlePartition(partition: number, watermarkMs: number): void {
    if (!Number.isFinite(watermarkMs)) throw new RangeError(`idle watermark must be finite, got ${watermarkMs}`);
    const st = this.stateFor(partition);
    st.idle = true;
    if (st.position === undefined || watermarkMs <= st.floor) return;
    st.floor = watermarkMs;
    if (watermarkMs > st.watermark) st.watermark = watermarkMs;
  }

  /**
   * (Re)initialises a partition on assignment. With a checkpoint (the metadata
   * string committed with the offset, or its decoded form) the partition resumes
   * exactly where that checkpoint was taken; returns the offset to seek to.
   * Without one the partition starts empty. Throws CheckpointError for metadata
   * that is malformed or was written with another window size. Then install
   * windowsToLoad(partition, []) (the windows that may still be open) before
   * processing or flushing the partition.
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
    if (cp.maxEventTimeBefore !== -Infinity) {
      // Windows whose end is past the watermark, up to the newest one: a few with
      // the defaults (outOfOrderness / size + 1), whatever the lateness horizon.
      for (let w = windowStartOf(cp.maxEventTimeBefore, this.size); !isWindowFinal(w, this.size, st.watermark); w -= this.size) st.restoreLoads.push(w);
      st.restoreLoads.reverse();
    }
    return cp.commitOffset;
  }

  /** Drops all state of a partition (rebalance). Uncollected rows are lost: collect first. */
  revokePartition(partition: number): boolean {
    return this.parts.delete(partition);
  }

  /**
   * Hands out every row that changed since the last call (windows folded into,
   * and windows the watermark has made final since their last row) and, per
   * partition, the position + metadata that may be committed once these rows
   * (and all earlier ones) are durable. Clears dirty flags: if the write fails
   * the caller must keep and retry these rows, since they will not be produced
   * again.
   */
  collectChanges(): Changes {
    const flushId = this.flushSeq++;
    const revisitedWindows = [...this.revisited].sort((a, b) => a - b);
    this.revisited = new Set();
    const rows: WindowRow[] = [];
    const commits: PartitionCommit[] = [];
    for (const st of this.parts.values()) {
      for (const win of st.windows.values()) {
        if (win.lastOffset < 0) continue;
        const final = isWindowFinal(win.start, this.size, st.watermark);
        if (!win.dirty && (!final || win.emittedFinal)) continue;
        rows.push(this.row(st.partition, win, final));
        win.dirty = false;
        win.emittedFinal = final;
        win.emittedAt = flushId;
      }
      if (st.position === undefined) continue;
      commits.push({ partition: st.partition, offset: st.position, metadata: encodeCheckpoint(this.checkpointOf(st)) });
    }
    return { flushId, rows, commits, revisitedWindows };
  }

  /**
   * The rows of collectChanges(flushId) and of every earlier call are durable
   * (and readable): final windows no event touched for
   * retainFinalWindowsForFlushes flushes leave memory.
   */
  markDurable(flushId: number): void {
    const keep = this.config.retainFinalWindowsForFlushes;
    for (const st of this.parts.values()) {
      for (const [w, win] of st.windows) {
        if (win.dirty || win.emittedAt > flushId) continue;
        if (!isWindowFinal(w, this.size, st.watermark) || (win.lastOffset >= 0 && !win.emittedFinal)) continue;
        if (this.flushSeq - win.touchedAt <= keep) continue;
        st.windows.delete(w);
        this.windowsEvicted++;
      }
    }
  }

  /** The checkpoint collectChanges() would emit for the partition now. */
  checkpoint(partition: number): PartitionCheckpoint | undefined {
    const st = this.parts.get(partition);
    if (!st || st.position === undefined) return undefined;
    return this.checkpointOf(st);
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
    let cachedWindows = 0;
    const partitions: PartitionStats[] = [];
    for (const p of this.partitions()) {
      const st = this.parts.get(p) as PartitionState;
      let open = 0;
      for (const w of st.windows.keys()) if (!isWindowFinal(w, this.size, st.watermark)) open++;
      openWindows += open;
      cachedWindows += st.windows.size;
      partitions.push({
        partition: p,
        watermark: st.watermark,
        maxEventTime: st.maxEventTime,
        watermarkFloor: st.floor,
        openWindows: open,
        cachedWindows: st.windows.size,
        idle: st.idle,
        position: st.position,
      });
    }
    return {
      openWindows,
      cachedWindows,
      eventsFolded: this.eventsFolded,
      lateFolded: this.lateFolded,
      tooLate: this.tooLate,
      future: this.future,
      alreadyCounted: this.alreadyCounted,
      duplicates: this.duplicates,
      invalidRecords: this.invalidRecords,
      windowsLoaded: this.windowsLoaded,
      windowsEvicted: this.windowsEvicted,
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
    return { partition, position: undefined, maxEventTime: -Infinity, floor: -Infinity, watermark: -Infinity, windows: new Map(), restoreLoads: [], idle: false };
  }

  private emptyWindow(start: number): WindowAgg {
    return { start, acc: createAccumulator(), devices: new Map(), users: new Set(), newUsers: [], lastOffset: -1, emittedFinal: false, dirty: false, emittedAt: 0, touchedAt: this.flushSeq };
  }

  private fold(win: WindowAgg, r: WindowRecord, late: boolean): void {
    addToAccumulator(win.acc, r, this.threshold, late);
    if (!win.users.has(r.userId)) {
      win.users.add(r.userId);
      win.newUsers.push(r.userId);
    }
    win.lastOffset = r.offset;
    win.dirty = true;
    win.touchedAt = this.flushSeq;
    this.eventsFolded++;
  }

  private foldDevice(win: WindowAgg, device: DeviceAgg | undefined, r: WindowRecord, late: boolean): void {
    let d = device;
    if (!d) {
      d = { acc: createAccumulator(), lastOffset: -1, dirty: false };
      win.devices.set(r.deviceId, d);
    }
    addToAccumulator(d.acc, r, this.threshold, late);
    d.lastOffset = r.offset;
    d.dirty = true;
    win.dirty = true;
    win.touchedAt = this.flushSeq;
  }

  private checkpointOf(st: PartitionState): PartitionCheckpoint {
    return { commitOffset: st.position as number, windowSizeMs: this.size, maxEventTimeBefore: st.maxEventTime, watermarkFloor: st.floor };
  }

  private row(partition: number, win: WindowAgg, final: boolean): WindowRow {
    const newUsers = win.newUsers.sort();
    win.newUsers = [];
    const devices: DeviceWindowRow[] = [];
    for (const [deviceId, d] of win.devices) {
      if (!d.dirty) continue;
      d.dirty = false;
      devices.push({ deviceId, aggregate: accumulatorState(d.acc), version: d.lastOffset, rowVersion: rowVersionOf(d.lastOffset, false) });
    }
    devices.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    const acc = win.acc;
    return {
      partition,
      windowStart: win.start,
      totalEvents: acc.totalEvents,
      metricSum: acc.metricSum,
      avgMetric: acc.metricSum / acc.totalEvents,
      newUsers,
      anomalyEvents: acc.anomalyEvents,
      lateEvents: acc.lateEvents,
      version: win.lastOffset,
      final,
      rowVersion: rowVersionOf(win.lastOffset, final),
      aggregate: accumulatorState(acc),
      devices,
    };
  }
}
