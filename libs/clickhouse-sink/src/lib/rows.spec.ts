import { RowValidationError } from './errors';
import { normaliseUsers, toDeadLetterRecord, toJsonEachRow, toWindowPartitionRecord, type WindowPartitionRow } from './rows';

const base: WindowPartitionRow = {
  windowStartMs: Date.UTC(2026, 10, 24, 9, 0, 0),
  sourcePartition: 7,
  totalEvents: 3,
  metricSum: 4.5,
  users: ['u2', 'u1', 'u2'],
  anomalyEvents: 1,
  version: 1234,
  isFinal: false,
  updatedAtMs: Date.UTC(2026, 10, 24, 9, 0, 5, 250),
};

describe('toWindowPartitionRecord', () => {
  it('maps to snake_case columns with epoch-second DateTimes and sorted distinct users', () => {
    expect(toWindowPartitionRecord(base)).toEqual({
      window_start: Date.UTC(2026, 10, 24, 9, 0, 0) / 1000,
      source_topic: '',
      source_partition: 7,
      total_events: 3,
      metric_sum: 4.5,
      users: ['u1', 'u2'],
      anomaly_events: 1,
      version: 1234,
      is_final: 0,
      updated_at: Date.UTC(2026, 10, 24, 9, 0, 5) / 1000,
      updated_at_ms: Date.UTC(2026, 10, 24, 9, 0, 5, 250),
    });
    expect(toWindowPartitionRecord({ ...base, isFinal: true, sourceTopic: 'raw' })).toMatchObject({ is_final: 1, source_topic: 'raw' });
  });

  it.each<[string, Partial<WindowPartitionRow>]>([
    ['sub-second window', { windowStartMs: base.windowStartMs + 1 }],
    ['negative count', { totalEvents: -1 }],
    ['fractional count', { anomalyEvents: 0.5 }],
    ['partition too big', { sourcePartition: 70000 }],
    ['NaN metric', { metricSum: Number.NaN }],
    ['infinite metric', { metricSum: Number.POSITIVE_INFINITY }],
    ['unsafe version', { version: 2 ** 60 }],
    ['non-string user', { users: ['a', 1 as unknown as string] }],
    ['non-boolean final', { isFinal: 1 as unknown as boolean }],
    ['beyond DateTime', { windowStartMs: 2 ** 32 * 1000 }],
  ])('rejects %s', (_, patch) => {
    expect(() => toWindowPartitionRecord({ ...base, ...patch })).toThrow(RowValidationError);
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
  it('normaliseUsers sorts and dedups without mutating', () => {
    const input = ['b', 'a', 'b', 'é', 'A'];
    expect(normaliseUsers(input)).toEqual(['A', 'a', 'b', 'é']);
    expect(input).toEqual(['b', 'a', 'b', 'é', 'A']);
  });

  it('toJsonEachRow writes one JSON object per line', () => {
    const text = toJsonEachRow([{ a: 1, s: 'x"\n' }, { a: 2, s: '' }]);
    expect(text).toBe('{"a":1,"s":"x\\"\\n"}\n{"a":2,"s":""}\n');
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual([{ a: 1, s: 'x"\n' }, { a: 2, s: '' }]);
  });
});
