import { accumulatorState, addToAccumulator, createAccumulator, rowVersionOf } from '@stream-analytics/windowing';
import { RowValidationError } from './errors';
import { AWKWARD_USERS, TRICKY_DOUBLES } from '../testing/history';
import {
  DEVICE_COPY_SCHEMA,
  toDeadLetterRecord,
  toDeviceCopyChunks,
  toJsonEachRow,
  toWindowPartitionRecord,
  toWindowStateChunks,
  toWindowStateRecords,
  toWindowUserRecords,
  WINDOW_STATE_COLUMNS,
  type WindowPartitionRow,
  type WindowUsersRow,
} from './rows';

const base: WindowPartitionRow = {
  windowStartMs: Date.UTC(2026, 10, 24, 9, 0, 0),
  sourceTopic: 'iot.telemetry.raw.v1',
  sourcePartition: 7,
  totalEvents: 3,
  metricSum: 4.5,
  anomalyEvents: 1,
  lateEvents: 2,
  lastOffset: 1234,
  isFinal: false,
  rowVersion: rowVersionOf(1234, false),
  updatedAtMs: Date.UTC(2026, 10, 24, 9, 0, 5, 250),
};

describe('toWindowPartitionRecord', () => {
  it('maps to snake_case columns with epoch-second DateTimes (no users: they are rows of their own)', () => {
    expect(toWindowPartitionRecord(base)).toEqual({
      window_start: Date.UTC(2026, 10, 24, 9, 0, 0) / 1000,
      device_id: '',
      source_topic: 'iot.telemetry.raw.v1',
      source_partition: 7,
      total_events: 3,
      metric_sum: 4.5,
      // without an aggregate (rows of earlier callers) the accumulator columns stay empty
      metric_min: 0,
      metric_max: 0,
      temperature_sum: 0,
      temperature_min: 0,
      temperature_max: 0,
      status_ok: 0,
      status_warning: 0,
      status_error: 0,
      status_offline: 0,
      metric_sketch_keys: [],
      metric_sketch_counts: [],
      temperature_sketch_keys: [],
      temperature_sketch_counts: [],
      last_event_time_ms: 0,
      first_seen_ms: 0,
      last_seen_ms: 0,
      last_status: '',
      last_temperature: 0,
      anomaly_events: 1,
      late_events: 2,
      last_offset: 1234,
      is_final: 0,
      row_version: 2468,
      updated_at: Date.UTC(2026, 10, 24, 9, 0, 5) / 1000,
      updated_at_ms: Date.UTC(2026, 10, 24, 9, 0, 5, 250),
    });
    expect(toWindowPartitionRecord({ ...base, isFinal: true, rowVersion: rowVersionOf(1234, true), sourceTopic: 'raw' })).toMatchObject({
      is_final: 1,
      source_topic: 'raw',
      last_offset: 1234,
      row_version: 2469,
    });
  });

  it('stores rowVersion as given (the engine defines the order, the writer does not re-derive it)', () => {
    expect(toWindowPartitionRecord({ ...base, rowVersion: 7 })).toMatchObject({ last_offset: 1234, row_version: 7 });
  });

  it.each<[string, Partial<WindowPartitionRow>]>([
    ['sub-second window', { windowStartMs: base.windowStartMs + 1 }],
    ['negative count', { totalEvents: -1 }],
    ['fractional count', { anomalyEvents: 0.5 }],
    ['partition too big', { sourcePartition: 70000 }],
    ['NaN metric', { metricSum: Number.NaN }],
    ['infinite metric', { metricSum: Number.POSITIVE_INFINITY }],
    ['unsafe row version', { rowVersion: 2 ** 60 }],
    ['negative last offset', { lastOffset: -1 }],
    ['fractional late count', { lateEvents: 1.5 }],
    ['missing late count', { lateEvents: undefined as unknown as number }],
    ['missing topic', { sourceTopic: undefined as unknown as string }],
    ['non-boolean final', { isFinal: 1 as unknown as boolean }],
    ['beyond DateTime', { windowStartMs: 2 ** 32 * 1000 }],
  ])('rejects %s', (_, patch) => {
    expect(() => toWindowPartitionRecord({ ...base, ...patch })).toThrow(RowValidationError);
  });
});

describe('toWindowStateChunks', () => {
  const bitsOf = (x: number): string => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x);
    return b.toString('hex');
  };

  it('lists the columns of the record in the order it writes them', () => {
    expect([...WINDOW_STATE_COLUMNS]).toEqual(Object.keys(toWindowPartitionRecord(base)));
  });

  it('encodes every record as RowBinary in column order: each double by its exact bits', () => {
    for (const x of TRICKY_DOUBLES) {
      const [{ body, rows }] = toWindowStateChunks([toWindowPartitionRecord({ ...base, metricSum: x })]);
      expect(rows).toBe(1);
      // window_start (4 bytes), device_id '' (1), source_topic (1 + length), source_partition (2), total_events (8), then metric_sum.
      const at = 4 + 1 + 1 + Buffer.byteLength(base.sourceTopic) + 2 + 8;
      expect(body.subarray(at, at + 8).toString('hex')).toBe(bitsOf(x));
    }
    expect(toWindowStateChunks([])).toEqual([]);
  });
});

describe('toDeviceCopyChunks', () => {
  const device = (deviceId: string, metricValue: number) => {
    const acc = createAccumulator();
    addToAccumulator(acc, { eventTimeMs: base.windowStartMs + 1000, metricValue, temperature: 21.5, status: 'ok', anomalyScore: 0.1 }, 0.9, false);
    return { deviceId, aggregate: accumulatorState(acc), lastOffset: 1200, rowVersion: rowVersionOf(1200, false) };
  };

  it('carries the device records only, with every column of the state record but last_offset, is_final and updated_at', () => {
    const records = toWindowStateRecords({ ...base, devices: [device('dev-a', 1.25), device('dev-b', -3)] });
    expect(records.map((r) => r.device_id)).toEqual(['', 'dev-a', 'dev-b']);
    expect(DEVICE_COPY_SCHEMA.map(([c]) => c)).toEqual(WINDOW_STATE_COLUMNS.filter((c) => !['last_offset', 'is_final', 'updated_at'].includes(c)));
    const [copy] = toDeviceCopyChunks(records);
    const [state] = toWindowStateChunks(records.slice(1));
    expect(copy.rows).toBe(2);
    // the same bytes less UInt64 last_offset, UInt8 is_final and DateTime updated_at of each row
    expect(state.body.length - copy.body.length).toBe(2 * (8 + 1 + 4));
    expect(toDeviceCopyChunks(records.slice(0, 1))).toEqual([]);
  });
});

describe('toWindowUserRecords', () => {
  const w = Date.UTC(2026, 10, 24, 9, 0);

  it('maps each distinct user of a row to a (window, user) record with the window in epoch seconds, strings as they are', () => {
    const rows: WindowUsersRow[] = [
      { windowStartMs: w, userIds: ['u2', 'u1', 'u2'] },
      { windowStartMs: w + 60_000, userIds: [...AWKWARD_USERS] },
      { windowStartMs: w, userIds: [] },
    ];
    expect(toWindowUserRecords(rows)).toEqual([
      { window_start: w / 1000, user_id: 'u2' },
      { window_start: w / 1000, user_id: 'u1' },
      ...AWKWARD_USERS.map((user_id) => ({ window_start: w / 1000 + 60, user_id })),
    ]);
    // across rows a user may come again (replays): the table is a set, so nothing is deduplicated there
    expect(toWindowUserRecords([rows[0], rows[0]])).toHaveLength(4);
    expect(toWindowUserRecords([])).toEqual([]);
  });

  it('writes JSONEachRow that keeps awkward user ids exactly', () => {
    const text = toJsonEachRow(toWindowUserRecords([{ windowStartMs: w, userIds: [...AWKWARD_USERS] }]));
    expect(text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { user_id: string }).user_id)).toEqual([...AWKWARD_USERS]);
  });

  it.each<[string, WindowUsersRow]>([
    ['sub-second window', { windowStartMs: w + 1, userIds: ['a'] }],
    ['negative window', { windowStartMs: -60_000, userIds: ['a'] }],
    ['beyond DateTime', { windowStartMs: 2 ** 32 * 1000, userIds: ['a'] }],
    ['non-string user', { windowStartMs: w, userIds: ['a', 1 as unknown as string] }],
    ['users not an array', { windowStartMs: w, userIds: 'a' as unknown as string[] }],
  ])('rejects %s', (_, row) => {
    expect(() => toWindowUserRecords([{ windowStartMs: w, userIds: ['ok'] }, row])).toThrow(RowValidationError);
  });
});

describe('toDeadLetterRecord', () => {
  it('maps and floors timestamps to seconds', () => {
    expect(
      toDeadLetterRecord({
        sourceTopic: 'iot.telemetry.raw.v1',
        sourcePartition: 3,
        sourceOffset: 99,
        windowStartMs: 60_000,
        reason: 'invalid_json',
        recordedAtMs: 123_999,
      }),
    ).toEqual({
      source_topic: 'iot.telemetry.raw.v1',
      source_partition: 3,
      source_offset: 99,
      window_start: 60,
      reason: 'invalid_json',
      device_id: '',
      recorded_at: 123,
    });
  });

  it('rejects an empty reason and a bad offset', () => {
    const ok = { sourceTopic: 't', sourcePartition: 0, sourceOffset: 1, windowStartMs: 0, reason: 'x', recordedAtMs: 0 };
    expect(() => toDeadLetterRecord({ ...ok, reason: '' })).toThrow(RowValidationError);
    expect(() => toDeadLetterRecord({ ...ok, sourceOffset: -1 })).toThrow(RowValidationError);
  });
});

describe('serialisation helpers', () => {
  it('toJsonEachRow writes one JSON object per line', () => {
    const text = toJsonEachRow([{ a: 1, s: 'x"\n' }, { a: 2, s: '' }]);
    expect(text).toBe('{"a":1,"s":"x\\"\\n"}\n{"a":2,"s":""}\n');
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual([{ a: 1, s: 'x"\n' }, { a: 2, s: '' }]);
  });
});
