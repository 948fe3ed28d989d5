import { deadLetterHeaders, type DeadLetterEntry } from '@stream-analytics/event-schema';
import { decide, isWindowFinal, LATE_REFUSAL, murmur2, targetPartition, type DecisionContext } from './decide';
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

const rules = { windowSizeMs: 60000, maxOutOfOrderMs: 10000, allowedLatenessMs: 0 };
const context = (patch: Partial<DecisionContext> = {}): DecisionContext => ({
  selection: {},
  repairs: ['numeric-strings', 'timestamps'],
  targetTopic: RAW,
  targetPartitions: 6,
  rules,
  seen: new Set(),
  ledger: new Set(),
  maxEventTime: () => -Infinity,
  closedWindows: 'refuse',
  ...patch,
});

describe('isWindowFinal (the aggregator rule)', () => {
  it('closes window w once max event time - 10 s reaches w + 60 s', () => {
    const t = T0 + 30000; // window T0
    expect(isWindowFinal(-Infinity, t, rules)).toBe(false);
    expect(isWindowFinal(T0 + 69999, t, rules)).toBe(false);
    expect(isWindowFinal(T0 + 70000, t, rules)).toBe(true);
    expect(isWindowFinal(T0 + 70000, t, { ...rules, allowedLatenessMs: 5000 })).toBe(false);
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

  it('never replays late events', () => {
    expect(decide(record({ reason: 'late_event' }), context())).toEqual({ kind: 'refused', code: 'late_event', message: LATE_REFUSAL, applied: [] });
  });

  it('refuses (--closed-windows refuse) or flags (publish) an event whose window is already final on the target partition', () => {
    const rec = () => record({ sourceOffset: Math.floor(Math.random() * 1e9) }, { ...valid, event_time: '2026-11-24 09:00:30.123' });
    expect(decide(rec(), context({ maxEventTime: () => T0 + 69000 }))).toMatchObject({ kind: 'replay', intoClosedWindow: false });
    expect(decide(rec(), context({ maxEventTime: () => T0 + 70000 }))).toMatchObject({ kind: 'refused', code: 'window_final', applied: ['timestamps'] });
    expect(decide(rec(), context({ maxEventTime: () => T0 + 70000, closedWindows: 'publish' }))).toMatchObject({ kind: 'replay', intoClosedWindow: true, applied: ['timestamps'] });
    expect(decide(rec(), context({ maxEventTime: () => undefined }))).toMatchObject({ kind: 'replay', intoClosedWindow: false });
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
