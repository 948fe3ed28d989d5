/**
 * What the pipeline drives, as interfaces: the app wires real clients (the
 * librdkafka consumer and producer, ClickHouse), the unit tests fakes. Nothing
 * here knows about processes, signals, ports or Prometheus.
 */
import type { FlushStep } from './commit-protocol';
import type { DeadLetterRow, StoredWindowRow, WindowPartitionRow, WindowUsersRow } from '@stream-analytics/clickhouse-sink';

export interface SourceRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** Kafka record timestamp (ms); undefined or negative when the broker has none. */
  readonly timestamp?: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/**
 * A consumed batch in columns (a packed batch): every value and key in one
 * buffer, the rest in typed arrays, so no object is built per record. Record
 * i's value is buffer[valueOffsets[i], valueOffsets[i] + valueLengths[i]), a
 * length of -1 meaning null; its key likewise; its topic topics[topicIndexes[i]];
 * a timestamp of -1 means none.
 */
export interface RecordColumns {
  readonly count: number;
  readonly topics: readonly string[];
  readonly topicIndexes: Int32Array;
  readonly partitions: Int32Array;
  readonly offsets: Float64Array;
  readonly timestamps: Float64Array;
  readonly buffer: Buffer;
  readonly valueOffsets: Int32Array;
  readonly valueLengths: Int32Array;
  readonly keyOffsets: Int32Array;
  readonly keyLengths: Int32Array;
}

export interface CommittedPosition {
  readonly partition: number;
  /** Next offset to read; negative when the group never committed. */
  readonly offset: number;
  readonly metadata?: string | null;
}

export interface OffsetCommit {
  readonly partition: number;
  readonly offset: number;
  readonly metadata: string;
}

export type RebalanceEvent = { kind: 'assigned' | 'revoked'; partitions: number[] };

/** The consumer-group member reading the raw topic. */
export interface RecordSource {
  subscribe(topic: string): void;
  /** Up to `max` records, as objects or in columns, waiting briefly; none when nothing is there. */
  consume(max: number): Promise<SourceRecord[] | RecordColumns>;
  committed(partitions: readonly number[]): Promise<CommittedPosition[]>;
  /** Seeks a partition; offset 'beginning' when the group has no commit. */
  seek(partition: number, offset: number | 'beginning'): Promise<void>;
  /** Synchronous commit of offsets with metadata; rejects (or throws) when the broker refused it. */
  commit(commits: readonly OffsetCommit[]): Promise<void> | void;
  pause(partitions: readonly number[]): void;
  resume(partitions: readonly number[]): void;
  onRebalance(handler: (event: RebalanceEvent) => void): void;
  /** Messages behind the end of each partition (informational). */
  lag?(partitions: readonly number[]): Array<{ partition: number; lag: number }>;
}

export type Headers = Array<Record<string, string | Buffer>>;

/**
 * The producer of dead letters and results. Nothing sent is ever given up on:
 * a rejected message is sent again, and settled() resolves only once every
 * message sent so far is acknowledged.
 */
export interface OutputSink {
  send(topic: string, value: Buffer, key: Buffer | null, headers?: Headers): void;
  /** Rejects when something sent is still unacknowledged after timeoutMs (it stays queued and is retried). */
  settled(timeoutMs: number): Promise<void>;
}

/**
 * The durable window state, a state store in Kafka Streams' sense: the
 * cumulative row of every (window, source topic, source partition) and the
 * windows' user sets (ClickHouse). It is what a window not in memory is loaded
 * back from, and it keeps its own consistency rule: users are durable no later
 * than the rows that count their events.
 */
export interface WindowStateStore {
  /** The newest stored rows of the requested (partition, window) pairs of `topic` that have one. */
  loadWindows(topic: string, wanted: ReadonlyArray<{ partition: number; windowStartsMs: readonly number[] }>): Promise<StoredWindowRow[]>;
  /**
   * Adds users to the windows' user sets (a union: writing one again changes
   * nothing) and upserts the rows (the highest row version wins). Resolves
   * once both are durable and readable by loadWindows.
   */
  writeWindows(users: readonly WindowUsersRow[], rows: readonly WindowPartitionRow[]): Promise<void>;
}

/**
 * What a flush derives for readers, apart from the state: dead-letter rows
 * and the reader-contract results recomputed from the stored state.
 */
export interface ResultSink {
  writeDeadLetters(rows: readonly DeadLetterRow[]): Promise<void>;
  /**
   * Recomputes, from everything written so far, the results (the reader
   * contract) of `windowStartsMs` and the dead-letter counts of the minutes
   * `deadLetterWindowStartsMs`; resolves once visible.
   */
  refreshResults(windowStartsMs: readonly number[], deadLetterWindowStartsMs: readonly number[]): Promise<void>;
}

/** Publishes the results of windows just refreshed (the aggregate topic). */
export interface ResultPublisher {
  publish(windowStartsMs: readonly number[]): Promise<void>;
}

export interface PipelineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What happened, for metrics. Every method is optional. */
export interface PipelineObserver {
  consumed?(n: number): void;
  /** A consume failed (e.g. a revoked permission); it is retried. */
  consumeFailed?(err: Error): void;
  folded?(n: number): void;
  invalid?(reason: string): void;
  /** A counted event whose window was already final, and by how much (ms). */
  lateFolded?(lateByMs: number): void;
  tooLate?(): void;
  /** A valid event whose window's day is already beyond the aggregate retention (dead-lettered). */
  beyondRetention?(): void;
  future?(): void;
  alreadyCounted?(): void;
  windowsLoaded?(windows: number, durationMs: number): void;
  /** A flush ended: its fleet rows (one per window and partition) and device rows written. */
  flushed?(outcome: 'ok' | 'error', durationMs: number, rows: number, deviceRows: number): void;
  /** How long a step of a successful flush's commit protocol took. */
  flushStep?(step: FlushStep, durationMs: number): void;
  /** Age of the oldest event of a flush when it became visible (s). */
  visible?(seconds: number): void;
  commitFailed?(): void;
  healthChanged?(healthy: boolean, reason: string | undefined): void;
  partitions?(assigned: number): void;
  /** Per-partition gauges (watermark in ms, lag in messages); reset() on revoke. */
  partitionStats?(stats: ReadonlyArray<{ partition: number; watermarkMs: number; lag?: number }>): void;
  partitionsReset?(): void;
  engineStats?(openWindows: number, cachedWindows: number): void;
}
