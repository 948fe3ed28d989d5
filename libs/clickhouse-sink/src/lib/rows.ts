import { EVENT_STATUSES } from '@stream-analytics/event-schema';
import type { AggregateState } from '@stream-analytics/windowing';
import { RowValidationError } from './errors';
import { toRowBinaryChunks, type RowBinaryType } from './row-binary';

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
  /**
   * The fleet's whole accumulator (windowing fold.ts); its counts must equal
   * the fields above. Without it only those counts are stored (extremes,
   * temperatures, statuses and bins stay empty).
   */
  aggregate?: AggregateState;
  /** Device rows of the (window, partition) to write with it (each its own durable state). */
  devices?: readonly DeviceStateRow[];
}

/** Cumulative aggregate of one (window, device, source partition): a version of its durable state. */
export interface DeviceStateRow {
  deviceId: string;
  aggregate: AggregateState;
  /** Offset of the device's last event folded into this row. */
  lastOffset: number;
  /** The version column (rowVersionOf(lastOffset, false)). */
  rowVersion: number;
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

/** Record of stream_analytics.iot_window_agg_state (DateTime columns as epoch seconds); device_id '' for the fleet's row. */
export interface WindowPartitionRecord {
  window_start: number;
  device_id: string;
  source_topic: string;
  source_partition: number;
  total_events: number;
  metric_sum: number;
  metric_min: number;
  metric_max: number;
  temperature_sum: number;
  temperature_min: number;
  temperature_max: number;
  status_ok: number;
  status_warning: number;
  status_error: number;
  status_offline: number;
  anomaly_events: number;
  late_events: number;
  metric_sketch_keys: readonly number[];
  metric_sketch_counts: readonly number[];
  temperature_sketch_keys: readonly number[];
  temperature_sketch_counts: readonly number[];
  last_event_time_ms: number;
  first_seen_ms: number;
  last_seen_ms: number;
  last_status: string;
  last_temperature: number;
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

/** A finite number, or 0 for the +/-Infinity of an empty extreme (never in a stored row with events). */
function finiteOr0(what: string, field: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) fail(what, field, value, 'a number');
  return Number.isFinite(value) ? value : 0;
}

function sketchColumns(what: string, field: string, bins: AggregateState['metricSketch'] | undefined): [number[], number[]] {
  if (bins === undefined) return [[], []];
  if (!Array.isArray(bins.keys) || !Array.isArray(bins.counts) || bins.keys.length !== bins.counts.length) fail(what, field, bins, 'sketch bins (keys and counts of one length)');
  const keys = bins.keys.map((k) => {
    if (!Number.isSafeInteger(k) || Math.abs(k) > 0x7fffffff) fail(what, `${field}.keys[]`, k, 'an Int32');
    return k;
  });
  return [keys, bins.counts.map((c) => uint(what, `${field}.counts[]`, c))];
}

/** The accumulator columns of a state record (all of them empty without an aggregate). */
function aggregateColumns(what: string, a: AggregateState | undefined) {
  const [metricKeys, metricCounts] = sketchColumns(what, 'metricSketch', a?.metricSketch);
  const [temperatureKeys, temperatureCounts] = sketchColumns(what, 'temperatureSketch', a?.temperatureSketch);
  const status = (s: (typeof EVENT_STATUSES)[number]) => uint(what, `statusCounts.${s}`, a?.statusCounts[s] ?? 0);
  if (a && a.lastStatus !== '' && !EVENT_STATUSES.includes(a.lastStatus)) fail(what, 'lastStatus', a.lastStatus, `one of ${EVENT_STATUSES.join(', ')}`);
  const time = (field: string, v: number | undefined) => {
    if (v === undefined || !Number.isFinite(v)) return 0;
    if (!Number.isSafeInteger(v)) fail(what, field, v, 'an integer epoch millisecond value');
    return v;
  };
  return {
    metric_min: finiteOr0(what, 'metricMin', a?.metricMin ?? 0),
    metric_max: finiteOr0(what, 'metricMax', a?.metricMax ?? 0),
    temperature_sum: finiteOr0(what, 'temperatureSum', a?.temperatureSum ?? 0),
    temperature_min: finiteOr0(what, 'temperatureMin', a?.temperatureMin ?? 0),
    temperature_max: finiteOr0(what, 'temperatureMax', a?.temperatureMax ?? 0),
    status_ok: status('ok'),
    status_warning: status('warning'),
    status_error: status('error'),
    status_offline: status('offline'),
    metric_sketch_keys: metricKeys,
    metric_sketch_counts: metricCounts,
    temperature_sketch_keys: temperatureKeys,
    temperature_sketch_counts: temperatureCounts,
    last_event_time_ms: time('lastEventTimeMs', a?.lastEventTimeMs),
    first_seen_ms: time('firstSeenMs', a?.firstSeenMs),
    last_seen_ms: time('lastSeenMs', a?.lastSeenMs),
    last_status: a?.lastStatus ?? '',
    last_temperature: finiteOr0(what, 'lastTemperature', a?.lastTemperature ?? 0),
  };
}

/** Validates a window row and maps it to its (fleet) table record. Throws RowValidationError. */
export function toWindowPartitionRecord(row: WindowPartitionRow): WindowPartitionRecord {
  const what = `window row (partition ${String(row?.sourcePartition)}, window ${String(row?.windowStartMs)})`;
  const windowStart = windowStartSeconds(what, row.windowStartMs);
  if (!Number.isFinite(row.metricSum)) fail(what, 'metricSum', row.metricSum, 'a finite number');
  if (typeof row.isFinal !== 'boolean') fail(what, 'isFinal', row.isFinal, 'a boolean');
  const updatedAtMs = epochMs(what, 'updatedAtMs', row.updatedAtMs);
  const a = row.aggregate;
  if (a && (a.totalEvents !== row.totalEvents || !Object.is(a.metricSum, row.metricSum) || a.anomalyEvents !== row.anomalyEvents || a.lateEvents !== row.lateEvents)) {
    fail(what, 'aggregate', 'counts', 'consistent with totalEvents, metricSum, anomalyEvents and lateEvents');
  }
  return {
    window_start: windowStart,
    device_id: '',
    source_topic: str(what, 'sourceTopic', row.sourceTopic),
    source_partition: uint(what, 'sourcePartition', row.sourcePartition, 0xffff),
    total_events: uint(what, 'totalEvents', row.totalEvents),
    metric_sum: row.metricSum,
    ...aggregateColumns(what, a),
    anomaly_events: uint(what, 'anomalyEvents', row.anomalyEvents),
    late_events: uint(what, 'lateEvents', row.lateEvents),
    last_offset: uint(what, 'lastOffset', row.lastOffset),
    is_final: row.isFinal ? 1 : 0,
    row_version: uint(what, 'rowVersion', row.rowVersion),
    updated_at: Math.floor(updatedAtMs / 1000),
    updated_at_ms: updatedAtMs,
  };
}

/** Validates a device row of a window row and maps it to its table record. Throws RowValidationError. */
export function toDeviceStateRecord(row: WindowPartitionRow, d: DeviceStateRow): WindowPartitionRecord {
  const what = `device row (${String(d?.deviceId)}, partition ${String(row?.sourcePartition)}, window ${String(row?.windowStartMs)})`;
  const deviceId = str(what, 'deviceId', d.deviceId);
  if (deviceId === '') fail(what, 'deviceId', deviceId, 'a non-empty string');
  const a = d.aggregate;
  if (!a || !Number.isFinite(a.metricSum)) fail(what, 'aggregate.metricSum', a?.metricSum, 'a finite number');
  const updatedAtMs = epochMs(what, 'updatedAtMs', row.updatedAtMs);
  return {
    window_start: windowStartSeconds(what, row.windowStartMs),
    device_id: deviceId,
    source_topic: str(what, 'sourceTopic', row.sourceTopic),
    source_partition: uint(what, 'sourcePartition', row.sourcePartition, 0xffff),
    total_events: uint(what, 'aggregate.totalEvents', a.totalEvents),
    metric_sum: a.metricSum,
    ...aggregateColumns(what, a),
    anomaly_events: uint(what, 'aggregate.anomalyEvents', a.anomalyEvents),
    late_events: uint(what, 'aggregate.lateEvents', a.lateEvents),
    last_offset: uint(what, 'lastOffset', d.lastOffset),
    is_final: 0,
    row_version: uint(what, 'rowVersion', d.rowVersion),
    updated_at: Math.floor(updatedAtMs / 1000),
    updated_at_ms: updatedAtMs,
  };
}

/** The fleet record of a window row followed by the records of its device rows. */
export function toWindowStateRecords(row: WindowPartitionRow): WindowPartitionRecord[] {
  return [toWindowPartitionRecord(row), ...(row.devices ?? []).map((d) => toDeviceStateRecord(row, d))];
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

/** The columns of stream_analytics.iot_window_agg_state with their types, in the order {@link toWindowStateChunks} writes them. */
export const WINDOW_STATE_SCHEMA = [
  ['window_start', 'DateTime'],
  ['device_id', 'String'],
  ['source_topic', 'String'],
  ['source_partition', 'UInt16'],
  ['total_events', 'UInt64'],
  ['metric_sum', 'Float64'],
  ['metric_min', 'Float64'],
  ['metric_max', 'Float64'],
  ['temperature_sum', 'Float64'],
  ['temperature_min', 'Float64'],
  ['temperature_max', 'Float64'],
  ['status_ok', 'UInt64'],
  ['status_warning', 'UInt64'],
  ['status_error', 'UInt64'],
  ['status_offline', 'UInt64'],
  ['metric_sketch_keys', 'Array(Int32)'],
  ['metric_sketch_counts', 'Array(UInt64)'],
  ['temperature_sketch_keys', 'Array(Int32)'],
  ['temperature_sketch_counts', 'Array(UInt64)'],
  ['last_event_time_ms', 'Int64'],
  ['first_seen_ms', 'Int64'],
  ['last_seen_ms', 'Int64'],
  ['last_status', 'String'],
  ['last_temperature', 'Float64'],
  ['anomaly_events', 'UInt64'],
  ['late_events', 'UInt64'],
  ['last_offset', 'UInt64'],
  ['is_final', 'UInt8'],
  ['row_version', 'UInt64'],
  ['updated_at', 'DateTime'],
  ['updated_at_ms', 'UInt64'],
] as const satisfies ReadonlyArray<readonly [keyof WindowPartitionRecord, RowBinaryType]>;

/** The column names of {@link WINDOW_STATE_SCHEMA}. */
export const WINDOW_STATE_COLUMNS = WINDOW_STATE_SCHEMA.map(([column]) => column);

/** Columns of the state table that the device copy (iot_device_partition_minute) does not have. */
const STATE_ONLY_COLUMNS: ReadonlySet<string> = new Set(['last_offset', 'is_final', 'updated_at']);

/**
 * The columns of stream_analytics.iot_device_partition_minute with their types: those of
 * {@link WINDOW_STATE_SCHEMA} but the state's own bookkeeping, in the same order.
 */
export const DEVICE_COPY_SCHEMA = WINDOW_STATE_SCHEMA.filter(([column]) => !STATE_ONLY_COLUMNS.has(column));

/** The most RowBinary bytes one INSERT of window-state records carries (a catch-up flush goes as several). */
export const MAX_STATE_INSERT_BYTES = 8 * 1024 * 1024;

/**
 * RowBinary of window-state records (every Float64 with its exact bits, see
 * row-binary.ts), in INSERTs of at most `maxBytes`, with the rows of each.
 */
export function toWindowStateChunks(records: readonly WindowPartitionRecord[], maxBytes = MAX_STATE_INSERT_BYTES): Array<{ body: Buffer; rows: number }> {
  return toRowBinaryChunks(WINDOW_STATE_SCHEMA, records, maxBytes);
}

/**
 * RowBinary of the device records among `records` (device_id != '') for the
 * device copy, in INSERTs of at most `maxBytes`, with the rows of each.
 */
export function toDeviceCopyChunks(records: readonly WindowPartitionRecord[], maxBytes = MAX_STATE_INSERT_BYTES): Array<{ body: Buffer; rows: number }> {
  return toRowBinaryChunks(
    DEVICE_COPY_SCHEMA,
    records.filter((r) => r.device_id !== ''),
    maxBytes,
  );
}

/** JSONEachRow text (one JSON object per line, trailing newline) of records. */
export function toJsonEachRow(records: readonly object[]): string {
  let out = '';
  for (const r of records) out += JSON.stringify(r) + '\n';
  return out;
}
