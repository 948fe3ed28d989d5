import type { EventStatus, FUTURE_EVENT_TIME, LATE_EVENT } from '@stream-analytics/event-schema';
import type { AggregateState } from './fold';

/** One valid, already-parsed event of a source partition. The engine never parses JSON. */
export interface WindowRecord {
  /** Kafka offset; a JS number is exact up to 2^53, far beyond any real offset. */
  readonly offset: number;
  readonly eventTimeMs: number;
  /** Kafka record timestamp (ms); the future guard compares with it, never with a clock. */
  readonly recordTimestampMs?: number;
  readonly userId: string;
  readonly deviceId: string;
  readonly metricValue: number;
  readonly temperature: number;
  readonly status: EventStatus;
  readonly anomalyScore: number;
}

/**
 * The durable state of one (window, source partition) as the store holds it:
 * the newest row written for it. The engine folds later events into it.
 */
export interface StoredWindow {
  readonly windowStart: number;
  /** The fleet's accumulator of the (window, partition) (see fold.ts). */
  readonly aggregate: AggregateState;
  /** Offset of the last event folded into the row: events at or below it are in it. */
  readonly lastOffset: number;
  readonly final: boolean;
  /** The newest stored row of each device of the (window, partition); each has its own last offset. */
  readonly devices?: readonly StoredDeviceWindow[];
}

/** The durable state of one (window, device, source partition): the newest row written for it. */
export interface StoredDeviceWindow {
  readonly deviceId: string;
  readonly aggregate: AggregateState;
  /** Offset of the device's last event folded into the row: its events at or below it are in it. */
  readonly lastOffset: number;
}

/**
 * Cumulative aggregate of one (window, device, source partition). Versioned
 * by the offset of the device's last event in it: the same version always
 * carries the same content, so rewriting it is idempotent.
 */
export interface DeviceWindowRow {
  readonly deviceId: string;
  readonly aggregate: AggregateState;
  /** Offset of the device's last event folded into this row. */
  readonly version: number;
  /** rowVersionOf(version, false): device rows have no final state of their own. */
  readonly rowVersion: number;
}

export type ProcessOutcome =
  /** Counted into its window. lateByMs > 0: its window was already final (watermark - window end). */
  | { readonly kind: 'folded'; readonly lateByMs: number }
  /**
   * Replay after a restart: the event is already inside the window's durable
   * row (offset <= the stored row's last offset). Not counted again.
   */
  | { readonly kind: 'already_counted'; readonly windowStart: number }
  /** Offset below the partition's position (redelivery after a seek): ignored entirely. */
  | { readonly kind: 'duplicate' }
  /**
   * The window is neither in memory nor provably new: load its stored row
   * (installWindows) and process the same record again. Nothing changed.
   */
  | { readonly kind: 'needs_state'; readonly windowStart: number }
  /** Beyond the lateness horizon: dead-letter as late_event. */
  | { readonly kind: 'too_late'; readonly windowStart: number; readonly watermark: number; readonly reason: typeof LATE_EVENT }
  /** Ahead of its record timestamp by more than the skew bound: dead-letter as future_event_time. */
  | { readonly kind: 'future'; readonly windowStart: number; readonly skewMs: number; readonly reason: typeof FUTURE_EVENT_TIME };

/**
 * Cumulative aggregate of one (window, source partition), to upsert into a
 * ReplacingMergeTree. All fields are a pure function of (partition, windowStart,
 * version): the same version always carries the same aggregates.
 */
export interface WindowRow {
  readonly partition: number;
  readonly windowStart: number;
  readonly totalEvents: number;
  /** Sum in offset order, so it is bit-identical across replays. */
  readonly metricSum: number;
  readonly avgMetric: number;
  /**
   * User ids of this row's events that no earlier row of this engine handed
   * out for the (window, partition), sorted (UTF-16 code unit order). The
   * window's users are the union over all rows ever written for it (a set:
   * a user written twice, after a replay or by another owner, counts once),
   * so they must be durable no later than the row itself.
   */
  readonly newUsers: string[];
  readonly anomalyEvents: number;
  /** Events folded in after the partition's watermark had passed the window's end. */
  readonly lateEvents: number;
  /** Offset of the last event folded into this row. */
  readonly version: number;
  /** The partition's watermark had passed the window's end. */
  readonly final: boolean;
  /** rowVersionOf(version, final): the one order of rows (see config.ts). */
  readonly rowVersion: number;
  /** Everything the fleet's accumulator holds (the fields above are part of it). */
  readonly aggregate: AggregateState;
  /**
   * The devices of the window whose state changed since this engine's last
   * row of the (window, partition), sorted by device id. Each is durable
   * state of its own (loaded back with the window, its own version decides
   * which events it holds), so it may be written before or after the row.
   */
  readonly devices: DeviceWindowRow[];
}

export interface PartitionCommit {
  readonly partition: number;
  /** Offset to commit (the next offset a restarted consumer must read). */
  readonly offset: number;
  /** Checkpoint metadata to store with the commit (see encodeCheckpoint). */
  readonly metadata: string;
}

export interface Changes {
  /** Pass to markDurable once `rows` (and all earlier ones) are durable. */
  readonly flushId: number;
  readonly rows: WindowRow[];
  /** One entry per partition whose position is known. Commit only after `rows` are durable. */
  readonly commits: PartitionCommit[];
  /**
   * Windows whose stored row was written by a flush this engine has not
   * replayed past (see installWindows): refresh their per-window results with
   * this flush, as for the windows of `rows`.
   */
  readonly revisitedWindows: number[];
}

export interface PartitionStats {
  readonly partition: number;
  readonly watermark: number;
  readonly maxEventTime: number;
  readonly watermarkFloor: number;
  /** Windows in memory whose end the watermark has not passed. */
  readonly openWindows: number;
  /** All windows in memory (open ones and recently touched final ones). */
  readonly cachedWindows: number;
  /** Last call for this partition was advanceIdlePartition (no record since). */
  readonly idle: boolean;
  /** Next offset expected (last processed + 1), undefined before any record/restore. */
  readonly position: number | undefined;
}

export interface EngineStats {
  readonly openWindows: number;
  readonly cachedWindows: number;
  readonly eventsFolded: number;
  /** Folded events whose window was already final. */
  readonly lateFolded: number;
  readonly tooLate: number;
  readonly future: number;
  readonly alreadyCounted: number;
  readonly duplicates: number;
  readonly invalidRecords: number;
  /** Windows installed from the store (loaded rows and confirmed absences). */
  readonly windowsLoaded: number;
  readonly windowsEvicted: number;
  readonly partitions: PartitionStats[];
}
