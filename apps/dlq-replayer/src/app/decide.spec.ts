import { compileWriterSchema, createEventEncoder, deadLetterHeaders, schemaTextFor, staticDecoder, type DeadLetterEntry, type TelemetryEvent } from '@stream-analytics/event-schema';
import { resolveWindowingConfig } from '@stream-analytics/windowing';
import { acceptedEventTime, decide, murmur2, targetPartition, watermarkEstimate, type DecisionContext } from './decide';
import { decodeDlqMessage, ledgerKey, type DlqRecord } from './dlq-record';
import { selects, type Selection } from './selection';

const RAW = 'iot.telemetry.raw.v1';
const T0 = Date.parse('2026-11-24T09:00:00.000Z');
const valid = {
  event_id: '2149f46c-57f3-4ddf-a16b-26b708ef9fc4',
  event_time: '2026-11-24T09:00:30.123Z',
  device_id: 'dev-000001',
  user_id: 'user-00001',
  temperature: 21.5,
  metric_value: 426.1,
  status: 'ok',
  anomaly_score: 0.1571,
};

function record(patch: Partial<DeadLetterEntry> = {}, value: unknown = valid, opts: { dlqOffset?: number; ts?: number; key?: string | null } = {}): DlqRecord {
  const entry: DeadLetterEntry = {
    reason: 'wrong_type',
    message: 'm',
    sourceTopic: RAW,
    sourcePartition: 3,
    sourceOffset: 100,
    sourceTimestampMs: T0,
    recordedAtMs: T0 + 1000,
    ...patch,
  };
  return decodeDlqMessage({
    topic: 'dlq',
    partition: 0,
    offset: opts.dlqOffset ?? 0,
    timestamp: opts.ts ?? T0 + 1000,
    key: opts.key === undefined ? Buffer.from(valid.device_id) : opts.key === null ? null : Buffer.from(opts.key),
    value: Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    headers: deadLetterHeaders(entry),
  });
}

const DAY = 86_400_000;
// The aggregator's defaults: 60 s windows, 10 s out-of-orderness, 24 h horizon, 300 s future skew.
const windowing = resolveWindowingConfig();
const context = (patch: Partial<DecisionContext> = {}): DecisionContext => ({
  selection: {},
  repairs: ['numeric-strings', 'timestamps'],
  targetTopic: RAW,
  targetPartitions: 6,
  windowing,
  seen: new Set(),
  ledger: new Set(),
  maxEventTime: () => -Infinity,
  replayTimestampMs: T0 + 3_600_000,
  ...patch,
});
let nextOffset = 1000;
/** A fresh source event (its own offset), so one context can decide several. */
const fresh = (patch: Partial<DeadLetterEntry> = {}, value: unknown = valid) => record({ sourceOffset: nextOffset++, ...patch }, value);

describe('the aggregator rules, as the replayer applies them', () => {
  it('estimates a partition watermark as its newest accepted event time minus the out-of-orderness bound', () => {
    expect(watermarkEstimate(T0 + 70_000, windowing)).toBe(T0 + 60_000);
    expect(watermarkEstimate(-Infinity, windowing)).toBe(-Infinity);
    expect(watermarkEstimate(undefined, windowing)).toBe(-Infinity);
    expect(watermarkEstimate(T0 + 70_000, resolveWindowingConfig({ maxOutOfOrdernessMs: 0 }))).toBe(T0 + 70_000);
  });

  it('lets only accepted events move a watermark: not invalid ones, not those in the future of their record timestamp', () => {
    const bytes = (patch: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ ...valid, ...patch }));
    const t = Date.parse(valid.event_time);
    expect(acceptedEventTime(bytes(), T0, windowing)).toBe(t);
    expect(acceptedEventTime(bytes({ temperature: 'hot' }), T0, windowing)).toBeUndefined();
    expect(acceptedEventTime(null, T0, windowing)).toBeUndefined();
    // 300 s of skew allowed, not one millisecond more.
    expect(acceptedEventTime(bytes(), t - 300_000, windowing)).toBe(t);
    expect(acceptedEventTime(bytes(), t - 300_001, windowing)).toBeUndefined();
    // A clock five years ahead never raises the estimate; without a record timestamp there is no judging.
    expect(acceptedEventTime(bytes({ event_time: '2031-11-24T09:00:30.123Z' }), T0, windowing)).toBeUndefined();
    expect(acceptedEventTime(bytes({ event_time: '2031-11-24T09:00:30.123Z' }), undefined, windowing)).toBe(Date.parse('2031-11-24T09:00:30.123Z'));
  });
});

describe('murmur2', () => {
  it('matches the Java client (Utils.murmur2 test vectors)', () => {
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);
  });
});

describe('targetPartition', () => {
  it('keeps the source partition when replaying into the source topic', () => {
    expect(targetPartition(record({ sourcePartition: 5 }), RAW, 6)).toBe(5);
  });
  it('uses the key`s murmur2 partition for another topic or a shrunken one', () => {
    const rec = record({ sourceTopic: 'other', sourcePartition: 5 });
    expect(targetPartition(rec, RAW, 6)).toBe((murmur2(Buffer.from('dev-000001')) & 0x7fffffff) % 6);
    expect(targetPartition(record({ sourcePartition: 9 }), RAW, 6)).toBe((murmur2(Buffer.from('dev-000001')) & 0x7fffffff) % 6);
    expect(targetPartition(record({ sourceTopic: 'other' }, valid, { key: null }), RAW, 6)).toBeUndefined();
  });
});

describe('selection', () => {
  const rec = record({ reason: 'bad_timestamp', sourcePartition: 2, sourceOffset: 50 }, valid, { ts: T0 + 5000 });
  it.each<[Selection, boolean]>([
    [{}, true],
    [{ reasons: new Set(['bad_timestamp']) }, true],
    [{ reasons: new Set(['wrong_type']) }, false],
    [{ fromMs: T0 + 5000 }, true],
    [{ fromMs: T0 + 5001 }, false],
    [{ toMs: T0 + 5000 }, false],
    [{ toMs: T0 + 5001 }, true],
    [{ partitions: new Set([2]), fromOffset: 50, toOffset: 50 }, true],
    [{ partitions: new Set([2]), fromOffset: 51 }, false],
    [{ partitions: new Set([2]), toOffset: 49 }, false],
    [{ partitions: new Set([1, 3]) }, false],
    [{ devices: new Set(['dev-000001']) }, true],
    [{ devices: new Set(['dev-000002']) }, false],
  ])('%p -> %p', (sel, expected) => expect(selects(sel, rec)).toBe(expected));

  it('takes the device from the payload when there is no key', () => {
    expect(record({}, valid, { key: null }).device).toBe('dev-000001');
    expect(record({}, 'garbage', { key: null }).device).toBeNull();
  });
});

describe('decide', () => {
  it('replays a repairable entry with the repaired payload to its source partition', () => {
    const d = decide(record({ reason: 'wrong_type' }, { ...valid, temperature: '21.5' }), context());
    expect(d).toMatchObject({ kind: 'replay', applied: ['numeric-strings'], partition: 3, windowStartMs: T0 });
    if (d.kind === 'replay') expect(JSON.parse(d.payload.toString())).toEqual(valid);
  });

  it('replays an entry that is valid with the current schema as it is (same bytes)', () => {
    const bytes = Buffer.from(JSON.stringify(valid));
    const d = decide(record({ reason: 'unknown_field' }, bytes), context({ repairs: [] }));
    expect(d).toMatchObject({ kind: 'replay', applied: [] });
    if (d.kind === 'replay') expect(d.payload.equals(bytes)).toBe(true);
  });

  it('refuses what the chosen repairs do not fix, with the reason it still fails for', () => {
    expect(decide(record({}, { ...valid, temperature: '21.5' }), context({ repairs: ['timestamps'] }))).toMatchObject({ kind: 'refused', code: 'wrong_type' });
    expect(decide(record({}, { ...valid, temperature: 'hot' }), context())).toMatchObject({ kind: 'refused', code: 'wrong_type' });
    expect(decide(record({ reason: 'invalid_json' }, '{"event_id":'), context())).toMatchObject({ kind: 'refused', code: 'invalid_json' });
    expect(decide(record({}, { ...valid, temperature: '999' }), context())).toMatchObject({ kind: 'refused', code: 'out_of_range', applied: ['numeric-strings'] });
  });

  it('replays a late_event entry within the lateness horizon as it is, flagged when its window is already final', () => {
    // Window T0 ends at T0 + 60 s; the watermark is the newest event time - 10 s.
    const onTime = decide(fresh({ reason: 'late_event' }), context({ maxEventTime: () => T0 + 69_999 }));
    expect(onTime).toMatchObject({ kind: 'replay', applied: [], partition: 3, windowStartMs: T0, intoFinalWindow: false, recordTimestampMs: T0 + 3_600_000 });
    const final = decide(fresh({ reason: 'late_event' }), context({ maxEventTime: () => T0 + 70_000 }));
    expect(final).toMatchObject({ kind: 'replay', intoFinalWindow: true });
    // The last millisecond inside the horizon: the window ended less than 24 h before the watermark.
    expect(decide(fresh({ reason: 'late_event' }), context({ maxEventTime: () => T0 + 69_999 + DAY }))).toMatchObject({ kind: 'replay', intoFinalWindow: true });
  });

  it('refuses an entry whose window is beyond the aggregate retention at the replay time as beyond_retention', () => {
    // Window T0 (2026-11-24); the replay runs 40 days later.
    const later = T0 + 40 * DAY;
    const d = decide(fresh({ reason: 'late_event' }), context({ replayTimestampMs: later, aggregateRetentionDays: 30 }));
    expect(d).toMatchObject({ kind: 'refused', code: 'beyond_retention' });
    if (d.kind === 'refused') expect(d.message).toMatch(/AGGREGATE_RETENTION_DAYS.*raise the retention first/);
    // With the retention raised (or within it) the same entry is replayed.
    expect(decide(fresh({ reason: 'late_event' }), context({ replayTimestampMs: later, aggregateRetentionDays: 60 }))).toMatchObject({ kind: 'replay' });
  });

  it('refuses an entry beyond the horizon as late_event, with the watermark it was judged by', () => {
    const d = decide(fresh({ reason: 'late_event' }), context({ maxEventTime: () => T0 + 70_000 + DAY }));
    expect(d).toMatchObject({ kind: 'refused', code: 'late_event', applied: [] });
    if (d.kind === 'refused') {
      expect(d.message).toMatch(/beyond the lateness horizon/);
      expect(d.message).toContain(`window ${new Date(T0).toISOString()}`);
      expect(d.message).toContain(`${RAW}[3]`);
      expect(d.message).toContain(new Date(T0 + 60_000 + DAY).toISOString());
      expect(d.message).toMatch(/dead-letter it again as late_event/);
    }
    // A smaller horizon (the aggregator's ALLOWED_LATENESS_SECS) refuses sooner.
    const hour = resolveWindowingConfig({ allowedLatenessMs: 3_600_000 });
    expect(decide(fresh({ reason: 'late_event' }), context({ windowing: hour, maxEventTime: () => T0 + 70_000 + 3_600_000 }))).toMatchObject({ kind: 'refused', code: 'late_event' });
    expect(decide(fresh({ reason: 'late_event' }), context({ windowing: hour, maxEventTime: () => T0 + 69_999 + 3_600_000 }))).toMatchObject({ kind: 'replay' });
  });

  it('judges repaired entries by their repaired event time, into final windows too', () => {
    // 10:00:30+01:00 is 09:00:30Z: window T0, final once the newest event is past T0 + 70 s.
    const rec = () => fresh({ reason: 'bad_timestamp' }, { ...valid, event_time: '2026-11-24T10:00:30.123+01:00' });
    expect(decide(rec(), context({ maxEventTime: () => T0 + 3_600_000 }))).toMatchObject({ kind: 'replay', applied: ['timestamps'], windowStartMs: T0, intoFinalWindow: true });
    expect(decide(rec(), context({ maxEventTime: () => T0 + 70_000 + DAY }))).toMatchObject({ kind: 'refused', code: 'late_event', applied: ['timestamps'] });
    expect(decide(rec(), context({ repairs: [] }))).toMatchObject({ kind: 'refused', code: 'bad_timestamp' });
  });

  it('does not judge lateness when the target partition or its newest event time is unknown', () => {
    const unknownTail = decide(fresh({ reason: 'late_event' }), context({ maxEventTime: () => undefined }));
    expect(unknownTail).toMatchObject({ kind: 'replay', intoFinalWindow: false });
    const noKey = record({ sourceTopic: 'elsewhere', reason: 'late_event', sourceOffset: nextOffset++ }, valid, { key: null });
    expect(decide(noKey, context({ maxEventTime: () => T0 + 70_000 + DAY }))).toMatchObject({ kind: 'replay', partition: undefined, intoFinalWindow: false });
  });

  it("refuses an entry too far ahead of the replayed record's timestamp (what the aggregator judges by)", () => {
    const t = Date.parse(valid.event_time);
    const future = () => fresh({ reason: 'future_event_time' });
    const ahead = decide(future(), context({ replayTimestampMs: t - 300_001 }));
    expect(ahead).toMatchObject({ kind: 'refused', code: 'future_event_time', applied: [] });
    if (ahead.kind === 'refused') expect(ahead.message).toMatch(/300\.001 s ahead of the replayed record's timestamp .*MAX_FUTURE_SKEW_SECS = 300 s.*again as future_event_time/);
    expect(decide(future(), context({ replayTimestampMs: t - 300_000 }))).toMatchObject({ kind: 'replay', recordTimestampMs: t - 300_000 });
    // The skew bound is the aggregator's MAX_FUTURE_SKEW_SECS.
    expect(decide(future(), context({ replayTimestampMs: t - 300_000, windowing: resolveWindowingConfig({ maxFutureSkewMs: 60_000 }) }))).toMatchObject({ kind: 'refused', code: 'future_event_time' });
    // The future guard needs no partition: it is judged even without a key.
    const noKey = record({ sourceTopic: 'elsewhere', reason: 'future_event_time', sourceOffset: nextOffset++ }, valid, { key: null });
    expect(decide(noKey, context({ replayTimestampMs: t - 400_000 }))).toMatchObject({ kind: 'refused', code: 'future_event_time' });
  });

  it('refuses an entry that was too far ahead of its original record timestamp, however late the replay (a wrong clock stays wrong)', () => {
    const t = Date.parse(valid.event_time);
    // Sent 300.001 s before its event time: a clock ahead. An hour later it is in the past of the replay, and still refused.
    const wrongClock = decide(fresh({ reason: 'future_event_time', sourceTimestampMs: t - 300_001 }), context());
    expect(wrongClock).toMatchObject({ kind: 'refused', code: 'future_event_time' });
    if (wrongClock.kind === 'refused') expect(wrongClock.message).toMatch(/300\.001 s ahead of its original record timestamp/);
    expect(decide(fresh({ reason: 'future_event_time', sourceTimestampMs: t - 300_000 }), context())).toMatchObject({ kind: 'replay' });
    // A five-years-ahead clock in simulated time long past.
    const years = fresh({ reason: 'future_event_time', sourceTimestampMs: T0 }, { ...valid, event_time: '2031-11-24T09:00:30.123Z' });
    expect(decide(years, context({ replayTimestampMs: Date.parse('2040-01-01T00:00:00Z') }))).toMatchObject({ kind: 'refused', code: 'future_event_time' });
    // A repair that moves event_time back within the skew fixes it: judged on the repaired time.
    const offsetClock = fresh({ reason: 'bad_timestamp', sourceTimestampMs: T0 + 30_123 - 300_000 }, { ...valid, event_time: '2026-11-24T10:00:30.123+01:00' });
    expect(decide(offsetClock, context())).toMatchObject({ kind: 'replay', applied: ['timestamps'] });
    // No original timestamp (0, negative or missing in the envelope): only the replay's is judged.
    for (const sourceTimestampMs of [0, -1, NaN]) expect(decide(fresh({ reason: 'future_event_time', sourceTimestampMs }), context())).toMatchObject({ kind: 'replay' });
  });

  it('decides each source event once per run, and skips what the ledger has', () => {
    const ctx = context();
    const first = record({ sourceOffset: 7 }, { ...valid, temperature: '21.5' }, { dlqOffset: 1 });
    const repeat = record({ sourceOffset: 7 }, { ...valid, temperature: '21.5' }, { dlqOffset: 9 });
    expect(decide(first, ctx).kind).toBe('replay');
    expect(decide(repeat, ctx).kind).toBe('duplicate');
    const ctx2 = context({ ledger: new Set([ledgerKey(RAW, first.entry!)]) });
    expect(decide(repeat, ctx2).kind).toBe('already_replayed');
    // the ledger is per target topic
    expect(decide(repeat, context({ ledger: new Set([ledgerKey('elsewhere', first.entry!)]) })).kind).toBe('replay');
  });

  it('reports entries without a readable envelope', () => {
    const rec = decodeDlqMessage({ topic: 'dlq', partition: 1, offset: 4, timestamp: T0, key: null, value: Buffer.from('x'), headers: [{ 'dlq.reason': 'wrong_type' }] });
    expect(decide(rec, context())).toEqual({ kind: 'unreadable', problem: 'missing headers: dlq.source.topic, dlq.source.partition, dlq.source.offset' });
    const bad = decodeDlqMessage({
      topic: 'dlq',
      partition: 1,
      offset: 5,
      timestamp: T0,
      value: null,
      headers: [{ 'dlq.reason': 'x' }, { 'dlq.source.topic': RAW }, { 'dlq.source.partition': 'one' }, { 'dlq.source.offset': '1' }],
    });
    expect(decide(bad, context())).toMatchObject({ kind: 'unreadable', problem: expect.stringMatching(/not integers/) });
    expect(decide(decodeDlqMessage({ topic: 'dlq', partition: 1, offset: 6, value: null }), context()).kind).toBe('unreadable');
  });

  it('does not consider unselected entries at all', () => {
    const ctx = context({ selection: { reasons: new Set(['bad_timestamp']) } });
    expect(decide(record({ reason: 'wrong_type' }), ctx).kind).toBe('not_selected');
    expect(ctx.seen.size).toBe(0);
  });
});

describe('binary (Confluent wire format) entries', () => {
  const avro = createEventEncoder('avro', 42);
  const bytes = avro.encode(valid as TelemetryEvent);
  const decoder = staticDecoder([compileWriterSchema(42, { schema: schemaTextFor('avro') })]);

  it('are judged by the decoder and replayed as their original bytes (no JSON repair applies)', () => {
    const d = decide(fresh({ reason: 'unknown_schema' }, bytes), context({ decoder }));
    expect(d).toMatchObject({ kind: 'replay', payload: bytes, applied: [], event: valid });
    expect(acceptedEventTime(bytes, T0, windowing, decoder)).toBe(Date.parse(valid.event_time));
  });

  it('are refused with the decoder\u2019s reason: unknown_schema without a registry, undecodable when cut short', () => {
    expect(decide(fresh({ reason: 'unknown_schema' }, bytes), context())).toMatchObject({ kind: 'refused', code: 'unknown_schema' });
    expect(decide(fresh({ reason: 'undecodable' }, bytes.subarray(0, 9)), context({ decoder }))).toMatchObject({ kind: 'refused', code: 'undecodable' });
  });
});
