/** One valid, already-parsed event of a source partition. The engine never parses JSON. */
export interface WindowRecord {
  /** Kafka offset; a JS number is exact up to 2^53, far beyond any real offset. */
  readonly offset: number;
  readonly eventTimeMs: number;
  readonly userId: string;
  readonly metricValue: number;
  readonly anomalyScore: number;
}

/** Side output for an event whose window was already final: route it to the DLQ. */
export interface LateEvent {
  readonly kind: 'late';
  readonly partition: number;
  readonly offset: number;
  readonly eventTimeMs: number;
  readonly windowStart: number;
  readonly reason: 'late_event';
  /** Partition watermark when the event was judged (informational; may differ on replay). */
  readonly watermark: number;
}

export type ProcessOutcome =
  /** Counted into its window. */
  | { readonly kind: 'folded' }
  /**
   * Replay after restore: the event belongs to a window that a checkpoint lists
   * as final and it was already inside that window's final row. Not counted, not late.
   */
  | { readonly kind: 'skipped_final' }
  /** offset below the partition's position (redelivery after a seek): ignored entirely. */
  | { readonly kind: 'duplicate' }
  | LateEvent;

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
  /** Distinct user ids, sorted (UTF-16 code unit order). */
  readonly users: string[];
  readonly uniqueUsers: number;
  readonly anomalyEvents: number;
  /** Offset of the last event folded into this row. */
  readonly version: number;
  /** The window will never change again for this partition. */
  readonly final: boolean;
  /**
   * version * 2 + (final ? 1 : 0): a version column under which the final row of
   * a given lastOffset outranks a non-final row with the same lastOffset,
   * whatever order they were inserted in. Exact while offsets < 2^52.
   */
  readonly rowVersion: number;
}

export interface PartitionCommit {
  readonly partition: number;
  /** Offset to commit (the next offset a restarted consumer must read). */
  readonly offset: number;
  /** Checkpoint metadata to store with the commit (see encodeCheckpoint). */
  readonly metadata: string;
}

export interface Changes {
  readonly rows: WindowRow[];
  /** One entry per partition whose position is known. Commit only after `rows` are durable. */
  readonly commits: PartitionCommit[];
}

export interface PartitionStats {
  readonly partition: number;
  readonly watermark: number;
  readonly maxEventTime: number;
  readonly watermarkFloor: number;
  readonly openWindows: number;
  /** Last call for this partition was advanceIdlePartition (no record since). */
  readonly idle: boolean;
  /** Next offset expected (last processed + 1), undefined before any record/restore. */
  readonly position: number | undefined;
}

export interface EngineStats {
  readonly openWindows: number;
  readonly eventsFolded: number;
  readonly lateEvents: number;
  readonly skippedFinal: number;
  readonly duplicates: number;
  readonly invalidRecords: number;
  readonly partitions: PartitionStats[];
}
