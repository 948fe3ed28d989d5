import { RowValidationError } from './errors';

/**
 * Cumulative aggregate of one window as seen by one source partition: a
 * version of its durable state. rowVersion orders the versions (the windowing
 * engine's rowVersionOf); the writer stores it as given.
 */
export interface WindowPartitionRow {
  /** Window start, epoch milliseconds, a whole second (the aggregator uses whole minutes). */
  windowStartMs: number;
  /** Kafka partition of the raw topic, 0..65535. */
  sourcePartition: number;
  /** Raw topic name; part of the key (rows of different topics never replace each other). */
  sourceTopic: string;
  totalEvents: number;
  /** Sum of metric_value over the window's events of this partition. */
  metricSum: number;
  anomalyEvents: number;
  /** Events folded in after the partition's watermark had passed the window's end. */
  lateEvents: number;
  /** Last source offset folded into this row: a replayed event at or below it is already in it. */
  lastOffset: number;
  /** The partition's watermark had passed the window's end. */
  isFinal: boolean;
  /** The version column: the row with the highest rowVersion is the state. */
  rowVersion: number;
  /** Epoch milliseconds. */
  updatedAtMs: number;
}

/**
 * Users of a window's events, to add to the window's user set (a set union:
 * writing a user again changes nothing). Written before the state rows that
 * count their events, so a window's unique users never miss a counted event.
 */
export interface WindowUsersRow {
  windowStartMs: number;
  userIds: readonly string[];
}

/** JSONEachRow record of stream_analytics.iot_window_users. */
export interface WindowUserRecord {
  window_start: number;
  user_id: string;
}

/** One dead-lettered source message. */
export interface DeadLetterRow {
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  /** Event-time window for late events, the Kafka-timestamp minute for malformed ones; epoch ms (floored to the second). */
  windowStartMs: number;
  /** Machine-readable reason, e.g. `late_event`, `invalid_json`, `schema_violation`, `oversized`. */
  reason: string;
  /** Empty when unknown. */
  deviceId?: string;
  /** Epoch milliseconds. */
  recordedAtMs: number;
}

/** JSONEachRow record of stream_analytics.iot_window_state (DateTime columns as epoch seconds). */
export interface WindowPartitionRecord {
  window_start: number;
  source_topic: string;
  source_partition: number;
  total_events: number;
  metric_sum: number;
  anomaly_events: number;
  late_events: number;
  last_offset: number;
  is_final: 0 | 1;
  row_version: number;
  updated_at: number;
  updated_at_ms: number;
}

/** JSONEachRow record of stream_analytics.dead_letters. */
export interface DeadLetterRecord {
  source_topic: string;
  source_partition: number;
  source_offset: number;
  window_start: number;
  reason: string;
  device_id: string;
  recorded_at: number;
}

/** Largest value of a ClickHouse DateTime (UInt32 seconds). */
const MAX_DATETIME_SECONDS = 0xffffffff;

function fail(what: string, field: string, value: unknown, rule: string): never {
  throw new RowValidationError(`${what}: ${field} must be ${rule}, got ${JSON.stringify(value)}`);
}

function uint(what: string, field: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    fail(what, field, value, `an integer in [0, ${max}]`);
  }
  return value;
}

function epochMs(what: string, field: string, value: unknown): number {
  uint(what, field, value);
  if ((value as number) / 1000 > MAX_DATETIME_SECONDS) fail(what, field, value, 'an epoch millisecond value within DateTime range');
  return value as number;
}

function str(what: string, field: string, value: unknown): string {
  if (typeof value !== 'string') fail(what, field, value, 'a string');
  return value;
}

function windowStartSeconds(what: string, windowStartMs: unknown): number {
  const ms = epochMs(what, 'windowStartMs', windowStartMs);
  if (ms % 1000 !== 0) fail(what, 'windowStartMs', ms, 'a whole second (DateTime has second precision)');
  return ms / 1000;
}

/** Validates users rows and maps them to table records, one per distinct (window, user). Throws RowValidationError. */
export function toWindowUserRecords(rows: readonly WindowUsersRow[]): WindowUserRecord[] {
  const out: WindowUserRecord[] = [];
  for (const row of rows) {
    const what = `window users (window ${String(row?.windowStartMs)})`;
    const windowStart = windowStartSeconds(what, row.windowStartMs);
    if (!Array.isArray(row.userIds)) fail(what, 'userIds', row.userIds, 'an array of strings');
    for (const u of new Set(row.userIds)) out.push({ window_start: windowStart, user_id: str(what, 'userIds[]', u) });
  }
  return out;
}

/** Validates a window row and maps it to its table record. Throws RowValidationError. */
export function toWindowPartitionRecord(row: WindowPartitionRow): WindowPartitionRecord {
  const what = `window row (partition ${String(row?.sourcePartition)}, window ${String(row?.windowStartMs)})`;
  const windowStart = windowStartSeconds(what, row.windowStartMs);
  if (!Number.isFinite(row.metricSum)) fail(what, 'metricSum', row.metricSum, 'a finite number');
  if (typeof row.isFinal !== 'boolean') fail(what, 'isFinal', row.isFinal, 'a boolean');
  const updatedAtMs = epochMs(what, 'updatedAtMs', row.updatedAtMs);
  return {
    window_start: windowStart,
    source_topic: str(what, 'sourceTopic', row.sourceTopic),
    source_partition: uint(what, 'sourcePartition', row.sourcePartition, 0xffff),
    total_events: uint(what, 'totalEvents', row.totalEvents),
    metric_sum: row.metricSum,
    anomaly_events: uint(what, 'anomalyEvents', row.anomalyEvents),
    late_events: uint(what, 'lateEvents', row.lateEvents),
    last_offset: uint(what, 'lastOffset', row.lastOffset),
    is_final: row.isFinal ? 1 : 0,
    row_version: uint(what, 'rowVersion', row.rowVersion),
    updated_at: Math.floor(updatedAtMs / 1000),
    updated_at_ms: updatedAtMs,
  };
}

/** Validates a dead-letter row and maps it to its table record. Throws RowValidationError. */
export function toDeadLetterRecord(row: DeadLetterRow): DeadLetterRecord {
  const what = `dead letter (${String(row?.sourceTopic)}/${String(row?.sourcePartition)}@${String(row?.sourceOffset)})`;
  const reason = str(what, 'reason', row.reason);
  if (reason.length === 0) fail(what, 'reason', reason, 'a non-empty string');
  return {
    source_topic: str(what, 'sourceTopic', row.sourceTopic),
    source_partition: uint(what, 'sourcePartition', row.sourcePartition, 0xffff),
    source_offset: uint(what, 'sourceOffset', row.sourceOffset),
    window_start: Math.floor(epochMs(what, 'windowStartMs', row.windowStartMs) / 1000),
    reason,
    device_id: row.deviceId === undefined ? '' : str(what, 'deviceId', row.deviceId),
    recorded_at: Math.floor(epochMs(what, 'recordedAtMs', row.recordedAtMs) / 1000),
  };
}

/** The columns of stream_analytics.iot_window_state in the order {@link toWindowStateValues} writes them. */
export const WINDOW_STATE_COLUMNS = [
  'window_start',
  'source_topic',
  'source_partition',
  'total_events',
  'metric_sum',
  'anomaly_events',
  'late_events',
  'last_offset',
  'is_final',
  'row_version',
  'updated_at',
  'updated_at_ms',
] as const satisfies readonly (keyof WindowPartitionRecord)[];

/** A quoted string literal of the Values format (backslash escapes, as ClickHouse reads them). */
function quoted(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A UTC DateTime literal ('YYYY-MM-DD hh:mm:ss'); the columns are DateTime('UTC'). */
function dateTimeLiteral(epochSeconds: number): string {
  return quoted(new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' '));
}

/**
 * The exact bits of a Float64 as an expression. ClickHouse 18.16 parses
 * floats in text formats (JSONEachRow, Values, TSV) with a fast, inexact
 * routine: about one random double in five is stored one unit in the last
 * place off. metric_sum is window state the aggregator keeps summing from, so
 * it is sent as its IEEE-754 bytes (little-endian) instead, on every version.
 */
function float64Literal(x: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return `reinterpretAsFloat64(unhex('${b.toString('hex')}'))`;
}

function windowStateTuple(r: WindowPartitionRecord): string {
  return (
    `(${dateTimeLiteral(r.window_start)},${quoted(r.source_topic)},${r.source_partition},${r.total_events},${float64Literal(r.metric_sum)},` +
    `${r.anomaly_events},${r.late_events},${r.last_offset},${r.is_final},${r.row_version},` +
    `${dateTimeLiteral(r.updated_at)},${r.updated_at_ms})`
  );
}

/**
 * Values-format text (`(...),(...)`) of window-state records, columns in
 * {@link WINDOW_STATE_COLUMNS} order, metric_sum bit-exact (see float64Literal).
 */
export function toWindowStateValues(records: readonly WindowPartitionRecord[]): string {
  return records.map(windowStateTuple).join(',');
}

/**
 * The most Values text one INSERT of window-state records may carry. 18.16
 * evaluates the metric_sum expressions from its read buffer: from about 2 MiB
 * of Values text on, an expression cut by a buffer boundary fails the whole
 * INSERT ("Unknown identifier: reinterpret", measured at 2.15 MB, never at
 * 2.0 MB), so batches are split well below that.
 */
export const MAX_VALUES_CHARS = 1_000_000;

/** {@link toWindowStateValues} in pieces of at most `maxChars` characters, with their row counts (a tuple is never split). */
export function toWindowStateValueChunks(records: readonly WindowPartitionRecord[], maxChars = MAX_VALUES_CHARS): Array<{ values: string; rows: number }> {
  const chunks: Array<{ values: string; rows: number }> = [];
  let current: string[] = [];
  let length = 0;
  for (const r of records) {
    const tuple = windowStateTuple(r);
    if (current.length > 0 && length + 1 + tuple.length > maxChars) {
      chunks.push({ values: current.join(','), rows: current.length });
      current = [];
      length = 0;
    }
    length += (current.length > 0 ? 1 : 0) + tuple.length;
    current.push(tuple);
  }
  if (current.length > 0) chunks.push({ values: current.join(','), rows: current.length });
  return chunks;
}

/** JSONEachRow text (one JSON object per line, trailing newline) of records. */
export function toJsonEachRow(records: readonly object[]): string {
  let out = '';
  for (const r of records) out += JSON.stringify(r) + '\n';
  return out;
}
