import { deadLetterHeaders, type DeadLetterEntry } from '@stream-analytics/event-schema';
import { resolveWindowingConfig } from '@stream-analytics/windowing';
import { decide, type DecisionContext } from './decide';
import { decodeDlqMessage, ledgerKey } from './dlq-record';
import { InspectSummary, renderInspect, renderReplay, ReplayTally, type ReplayReport } from './summary';

const RAW = 'raw';
const T0 = Date.parse('2026-11-24T09:00:00.000Z');
const event = (i: number, patch: Record<string, unknown> = {}) =>
  JSON.stringify({
    event_id: `2149f46c-57f3-4ddf-a16b-${String(i).padStart(12, '0')}`,
    event_time: '2026-11-24T09:00:30.123Z',
    device_id: `dev-${i % 3}`,
    user_id: 'user-1',
    temperature: 21.5,
    metric_value: 1,
    status: 'ok',
    anomaly_score: 0.1,
    ...patch,
  });

let dlqOffset = 0;
function msg(reason: string, sourcePartition: number, sourceOffset: number, value: string, ts = T0) {
  const entry: DeadLetterEntry = { reason, message: `${reason} message`, sourceTopic: RAW, sourcePartition, sourceOffset, sourceTimestampMs: ts - 500, recordedAtMs: ts };
  return decodeDlqMessage({ topic: 'dlq', partition: 0, offset: dlqOffset++, timestamp: ts, key: Buffer.from(`dev-${sourceOffset % 3}`), value: Buffer.from(value), headers: deadLetterHeaders(entry) });
}

const dataset = () => {
  dlqOffset = 0;
  return [
    msg('wrong_type', 0, 1, event(1, { temperature: '21.5' }), T0 + 1000),
    msg('wrong_type', 0, 1, event(1, { temperature: '21.5' }), T0 + 9000), // repeat of the same source event
    msg('wrong_type', 1, 2, event(2, { temperature: 'hot' }), T0 + 2000),
    msg('bad_timestamp', 1, 3, event(3, { event_time: '2026-11-24 09:00:30.123' }), T0 + 3000),
    msg('bad_timestamp', 2, 4, event(4, { event_time: '24/11/2026' }), T0 + 4000),
    msg('late_event', 2, 5, event(5), T0 + 5000),
    msg('unknown_field', 2, 6, event(6), T0 + 6000), // valid now (e.g. a schema fix)
    msg('invalid_json', 0, 7, '{"a":', T0 + 7000),
    msg('future_event_time', 1, 8, event(8, { event_time: '2031-11-24T09:00:30.123Z' }), T0 + 7500), // a clock five years ahead
    decodeDlqMessage({ topic: 'dlq', partition: 0, offset: dlqOffset++, timestamp: T0 + 8000, key: null, value: Buffer.from('x'), headers: [] }),
  ];
};

describe('InspectSummary', () => {
  it('counts distinct source events by reason, partition and device, with duplicates and unreadable entries apart', () => {
    const recs = dataset();
    const s = new InspectSummary({ dlqTopic: 'dlq', targetTopic: RAW, selection: {}, samplesPerReason: 1, ledger: new Set([ledgerKey(RAW, recs[3].entry!)]) });
    for (const r of recs) s.add(r);
    const report = s.report([{ partition: 0, startOffset: 0, endOffset: recs.length }], {});
    expect(report.messages).toBe(10);
    expect(report.entries).toBe(8);
    expect(report.duplicates).toBe(1);
    expect(report.unreadable).toEqual({ count: 1, entries: [{ dlqPartition: 0, dlqOffset: 9, problem: expect.stringMatching(/missing headers/) }] });
    expect(report.byReason).toEqual({ bad_timestamp: 2, wrong_type: 2, future_event_time: 1, invalid_json: 1, late_event: 1, unknown_field: 1 });
    expect(report.bySourcePartition).toEqual({ '0': 2, '1': 3, '2': 3 });
    expect(Object.values(report.byDevice).reduce((a, b) => a + b, 0)).toBe(8);
    expect(report.deadLetteredAt).toEqual({ first: new Date(T0 + 1000).toISOString(), last: new Date(T0 + 7500).toISOString() });
    expect(report.sourceTimestamps.first).toBe(new Date(T0 + 500).toISOString());
    // Late and future entries are valid: whether a replay counts them is judged by event time then.
    expect(report.outlook).toEqual({ late: 1, future: 1, validNow: 1, repairable: { 'numeric-strings': 1, timestamps: 1 }, unrepairable: 3, alreadyReplayed: 1 });
    expect(report.samples['wrong_type']).toHaveLength(1);
    expect(report.samples['wrong_type'][0]).toMatchObject({ sourcePartition: 0, sourceOffset: 1, device: 'dev-1', message: 'wrong_type message' });
    const text = renderInspect(report, 10);
    expect(text).toContain('10 messages read, 8 distinct entries, 1 duplicates, 1 unreadable');
    expect(text).toMatch(/repairable with numeric-strings\s+1/);
    expect(text).toMatch(/late_event \(counted if within the horizon; see --dry-run\)\s+1/);
    expect(text).toMatch(/future_event_time \(counted if no longer ahead; see --dry-run\)\s+1/);
  });

  it('applies the selection', () => {
    const s = new InspectSummary({ dlqTopic: 'dlq', targetTopic: RAW, selection: { reasons: new Set(['bad_timestamp']), toMs: T0 + 3500 }, samplesPerReason: 3, ledger: new Set() });
    for (const r of dataset()) s.add(r);
    const report = s.report([], {});
    expect(report.byReason).toEqual({ bad_timestamp: 1 });
    expect(report.unreadable.count).toBe(0); // dead-lettered after --to
  });
});

describe('ReplayTally', () => {
  const context = (maxEventTime: number): DecisionContext => ({
    selection: {},
    repairs: ['numeric-strings', 'timestamps'],
    targetTopic: RAW,
    targetPartitions: 3,
    windowing: resolveWindowingConfig(),
    seen: new Set(),
    ledger: new Set(),
    maxEventTime: () => maxEventTime,
    replayTimestampMs: T0 + 10_000,
  });
  const reportOf = (tally: ReplayTally, repairs: string[]): ReplayReport => ({
    mode: 'dry-run',
    dlqTopic: 'dlq',
    targetTopic: RAW,
    ledgerTopic: 'l',
    group: 'g',
    repairs,
    selection: {},
    ranges: [],
    stoppedBy: 'end',
    durationMs: 1,
    transactions: 0,
    ...tally.outcome(),
  });

  it('accounts every decision once and keeps the dry-run plan', () => {
    const ctx = context(-Infinity);
    const tally = new ReplayTally(true);
    for (const r of dataset()) tally.add(r, decide(r, ctx));
    expect(tally.counts).toEqual({ read: 10, replayed: 4, intoFinalWindow: 0, refused: 4, duplicate: 1, alreadyReplayed: 0, notSelected: 0, unreadable: 1 });
    expect(tally.refusedByCode).toEqual({ wrong_type: 1, bad_timestamp: 1, invalid_json: 1, future_event_time: 1 });
    expect(tally.repairsApplied).toEqual({ 'numeric-strings': 1, timestamps: 1 });
    expect(tally.replayedByReason).toEqual({ wrong_type: 1, bad_timestamp: 1, late_event: 1, unknown_field: 1 });
    expect(tally.plan.map((p) => p.action)).toEqual(['replay', 'skip', 'refuse', 'replay', 'refuse', 'replay', 'replay', 'refuse', 'refuse']);
    expect(tally.progressLine(2000, true)).toMatch(/read 10, would replay 4, refused 4, skipped-duplicate 1/);
    const text = renderReplay(reportOf(tally, ctx.repairs as string[]));
    expect(text).toContain('DRY RUN');
    expect(text).toMatch(/future_event_time: event_time 2031-11-24T09:00:30.123Z is .* ahead of its original record timestamp .*clock was ahead when it was sent/);
    expect(text).toMatch(/of which into a final window \(counted late\)\s+0/);
  });

  it('counts entries into final windows as replayed (late, counted), and refuses those beyond the horizon', () => {
    // Newest event an hour after the entries' window: final, well within the 24 h horizon.
    const final = new ReplayTally(true);
    const ctx = context(T0 + 3_600_000);
    for (const r of dataset()) final.add(r, decide(r, ctx));
    expect(final.counts).toMatchObject({ replayed: 4, intoFinalWindow: 4, refused: 4 });
    expect(final.plan.filter((p) => p.action === 'replay').every((p) => p.why.endsWith('window 2026-11-24T09:00:00.000Z is already final: counted as a late event (the window is revised)'))).toBe(true);
    const text = renderReplay(reportOf(final, []));
    expect(text).toMatch(/of which into a final window \(counted late\)\s+4/);
    expect(text).not.toMatch(/WARNING|again as late_event/);

    // Two days later every valid entry is beyond the horizon: refused as late_event, the future one still as future.
    const beyond = new ReplayTally(false);
    const later = context(T0 + 2 * 86_400_000);
    for (const r of dataset()) beyond.add(r, decide(r, later));
    expect(beyond.counts).toMatchObject({ replayed: 0, intoFinalWindow: 0, refused: 8 });
    expect(beyond.refusedByCode).toEqual({ late_event: 4, wrong_type: 1, bad_timestamp: 1, invalid_json: 1, future_event_time: 1 });
    expect(beyond.refused.filter((p) => p.code === 'late_event').map((p) => p.reason).sort()).toEqual(['bad_timestamp', 'late_event', 'unknown_field', 'wrong_type']);
    expect(beyond.plan).toEqual([]);
  });
});
