/**
 * The judged scenario against the real broker, aggregator and ClickHouse:
 * malformed events of each repairable kind (and every unrepairable kind, late
 * and out-of-order events) go through the aggregator to the DLQ; `inspect`
 * counts them exactly; `replay` with the matching repairs puts the repairable
 * ones back while their windows are still open; the aggregator's table then
 * equals the oracle computed as if those events had been valid from the start.
 *
 * Why the replay happens between two parts of the data: a replayed record is
 * appended at the end of its raw partition, and the aggregator judges lateness
 * by the partition's watermark, so an event can only still count while its
 * window is open. The first part is one minute of data (window W0 stays open:
 * the watermark is at most W0 + 50 s); after the replay the remaining two
 * minutes arrive. A second replay at the end shows the other side: repaired
 * events of W1 (now final) are flagged by a dry run and refused as
 * window_final with --closed-windows refuse, those of W2 (open) are replayed.
 */
import { computeOracle, type ConsumedMessage, type OracleResult } from '@stream-analytics/testing';
import { generateEvents, parseAndValidate, parseDeadLetterHeaders, REPLAY_HEADERS, type GeneratedRecord } from '@stream-analytics/event-schema';
import { LATE_REFUSAL } from './app/decide';
import {
  clickhouse,
  comparable,
  createReplayScenario,
  metricValue,
  produceDeadLetters,
  produceRaw,
  readCommitted,
  readDeadLetterWindows,
  readWindows,
  runInspect,
  runReplayer,
  startAggregator,
  stopAggregator,
  waitFor,
  type ReplayScenario,
} from './testing/harness';

jest.setTimeout(300000);

const RATE = 200;
const options = {
  seed: 4242,
  devices: 300,
  users: 120,
  ratePerSec: RATE,
  faults: {
    invalidFraction: 0.05,
    // Every malformed kind; the two repairable ones twice as often.
    invalidKinds: [
      'repairable_numeric_string',
      'repairable_timestamp',
      'repairable_numeric_string',
      'repairable_timestamp',
      'invalid_json',
      'too_large',
      'wrong_type',
      'missing_field',
      'unknown_field',
      'out_of_range',
      'invalid_value',
      'bad_timestamp',
    ] as const,
    outOfOrderFraction: 0.05,
    lateFraction: 0.01,
  },
};
const PART1 = 60 * RATE; // W0: the first minute
const TOTAL = 180 * RATE; // W0..W2

const coords = (p: number, o: number) => `${p}:${o}`;
const countBy = <T>(items: T[], key: (t: T) => string) => items.reduce<Record<string, number>>((acc, t) => ((acc[key(t)] = (acc[key(t)] ?? 0) + 1), acc), {});
const sorted = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/** Distinct DLQ entries (by source coordinates) with their reasons. */
async function dlqEntries(s: ReplayScenario): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of await readCommitted(s.brokers, s.dlqTopic)) {
    const parsed = parseDeadLetterHeaders(Object.entries(m.headers).map(([k, v]) => ({ [k]: v })));
    if (parsed.ok) out.set(coords(parsed.entry.sourcePartition, parsed.entry.sourceOffset), parsed.entry.reason);
  }
  return out;
}

async function waitForDeadLetters(s: ReplayScenario, oracle: OracleResult): Promise<void> {
  await waitFor(`${oracle.deadLetters.length} DLQ entries`, async () => (await dlqEntries(s)).size >= oracle.deadLetters.length, 120000, 500);
}

/** The raw topic as if each replayed record had been valid at its original position. */
function asIfValidFromTheStart(raw: ConsumedMessage[]): ConsumedMessage[] {
  const replacement = new Map<string, Buffer | null>();
  for (const m of raw) {
    const p = m.headers[REPLAY_HEADERS.sourcePartition];
    if (p !== undefined) replacement.set(coords(Number(p.toString()), Number(m.headers[REPLAY_HEADERS.sourceOffset].toString())), m.value);
  }
  return raw
    .filter((m) => m.headers[REPLAY_HEADERS.sourcePartition] === undefined)
    .map((m) => (replacement.has(coords(m.partition, m.offset)) ? { ...m, value: replacement.get(coords(m.partition, m.offset))! } : m));
}

describe('replay with repairs (real Kafka + aggregator + ClickHouse)', () => {
  it('inspects exactly, replays repairable events once, refuses the rest, and leaves ClickHouse equal to the as-if-valid oracle', async () => {
    const s = await createReplayScenario(6, 2);
    const records: GeneratedRecord[] = [...generateEvents({ ...options, startTimeMs: s.baseTimeMs, count: TOTAL })];
    const repairable = (r: GeneratedRecord) => r.repaired !== undefined;
    const aggregator = await startAggregator(s);
    const ch = clickhouse(s);
    try {
      // ---- part 1: one minute with every kind of fault; the aggregator dead-letters the bad ones.
      await produceRaw(s, options, { from: 0, to: PART1 });
      const oracle1 = computeOracle(await readCommitted(s.brokers, s.rawTopic));
      await waitForDeadLetters(s, oracle1);
      const part1 = records.slice(0, PART1);
      const repairable1 = part1.filter(repairable);
      const late1 = oracle1.deadLetters.filter((d) => d.reason === 'late_event').length;
      expect(repairable1.length).toBeGreaterThan(100);
      expect(late1).toBeGreaterThan(50);

      // The aggregator may write an entry twice (after a crash): ten repeats, plus two broken envelopes.
      const dlq1 = await readCommitted(s.brokers, s.dlqTopic);
      await produceDeadLetters(s, [
        ...dlq1.slice(0, 10).map((m) => ({
          key: m.key,
          value: m.value,
          partition: m.partition,
          headers: Object.entries(m.headers).map(([k, v]) => ({ [k]: v.toString() })),
        })),
        { key: 'dev-broken', value: Buffer.from('{"event_id":1}'), headers: [{ 'dlq.reason': 'wrong_type' }] },
        { key: null, value: Buffer.from([0xff, 0xfe]), headers: [{ 'dlq.reason': 'invalid_json' }, { 'dlq.source.topic': s.rawTopic }, { 'dlq.source.partition': '-1' }, { 'dlq.source.offset': '7' }] },
      ]);

      // ---- inspect: distinct source events, exactly the injected faults.
      const inspect1 = (await runInspect(s)).report;
      expect(inspect1.entries).toBe(oracle1.deadLetters.length);
      expect(inspect1.duplicates).toBe(10);
      expect(inspect1.unreadable.count).toBe(2);
      expect(sorted(inspect1.byReason)).toEqual(sorted(countBy(oracle1.deadLetters, (d) => d.reason)));
      // ...which are the generator's faults: each malformed record with its reason, plus the oracle's late events.
      expect(sorted(inspect1.byReason)).toEqual(sorted({ ...countBy(part1.filter((r) => r.reason !== undefined), (r) => r.reason!), late_event: late1 }));
      expect(inspect1.bySourcePartition).toEqual(countBy(oracle1.deadLetters, (d) => String(d.partition)));
      expect(Object.values(inspect1.byDevice).reduce((a, b) => a + b, 0)).toBe(oracle1.deadLetters.length);
      expect(inspect1.outlook).toEqual({
        late: late1,
        validNow: 0,
        repairable: sorted({
          'numeric-strings': part1.filter((r) => r.fault === 'repairable_numeric_string').length,
          timestamps: part1.filter((r) => r.fault === 'repairable_timestamp').length,
        }),
        unrepairable: oracle1.deadLetters.length - late1 - repairable1.length,
        alreadyReplayed: 0,
      });
      expect(inspect1.samples['bad_timestamp'].length).toBe(3);

      // ---- dry run: shows the plan, publishes nothing.
      const rawBefore = (await readCommitted(s.brokers, s.rawTopic)).length;
      const dry = (await runReplayer(s, ['replay', '--dry-run', '--reason', 'bad_timestamp', '--repair', 'timestamps'])).report;
      expect(dry.mode).toBe('dry-run');
      expect(dry.counts.replayed).toBe(part1.filter((r) => r.fault === 'repairable_timestamp').length);
      expect(dry.plan!.filter((p) => p.action === 'replay').every((p) => p.why === 'valid after timestamps')).toBe(true);
      expect(dry.plan!.filter((p) => p.action === 'refuse').every((p) => p.code === 'bad_timestamp')).toBe(true);
      expect((await readCommitted(s.brokers, s.rawTopic)).length).toBe(rawBefore);

      // ---- replay with both repairs while W0 is open.
      const r1 = (await runReplayer(s, ['replay', '--repair', 'numeric-strings,timestamps'])).report;
      expect(r1.counts.replayed).toBe(repairable1.length);
      expect(r1.repairsApplied).toEqual(inspect1.outlook.repairable);
      expect(r1.counts.duplicate).toBe(10);
      expect(r1.counts.unreadable).toBe(2);
      expect(r1.counts.refused).toBe(oracle1.deadLetters.length - repairable1.length);
      expect(r1.refusedByCode['late_event']).toBe(late1);
      expect(r1.refusedByCode['window_final']).toBeUndefined();
      expect(r1.counts.intoClosedWindow).toBe(0);
      expect(r1.refused.filter((p) => p.reason === 'late_event').every((p) => p.why === `late_event: ${LATE_REFUSAL}`)).toBe(true);

      // ---- part 2: two more minutes (with more faults).
      await produceRaw(s, options, { from: PART1, to: TOTAL });
      const oracle2 = computeOracle(await readCommitted(s.brokers, s.rawTopic));
      await waitForDeadLetters(s, oracle2);

      // ---- a second replay: W1 is final by now, W2 still open.
      const part2 = records.slice(PART1);
      const inW1 = part2.filter((r) => repairable(r) && r.index < 120 * RATE).length;
      const inW2 = part2.filter((r) => repairable(r) && r.index >= 120 * RATE).length;
      expect(Math.min(inW1, inW2)).toBeGreaterThan(100);
      // By default they would be published with a warning (the aggregator would dead-letter them again)...
      const dry2 = (await runReplayer(s, ['replay', '--dry-run', '--repair', 'timestamps,numeric-strings'])).report;
      expect(dry2.counts).toMatchObject({ replayed: inW1 + inW2, intoClosedWindow: inW1, alreadyReplayed: repairable1.length });
      // ...with --closed-windows refuse they stay in the DLQ.
      const r2 = (await runReplayer(s, ['replay', '--repair', 'timestamps', '--repair', 'numeric-strings', '--closed-windows', 'refuse'])).report;
      expect(r2.counts.alreadyReplayed).toBe(repairable1.length);
      expect(r2.counts.intoClosedWindow).toBe(0);
      expect(r2.refusedByCode['window_final']).toBe(inW1);
      expect(r2.counts.replayed).toBe(inW2);

      // ---- the aggregator's table equals the oracle of the raw topic as it is...
      const raw = await readCommitted(s.brokers, s.rawTopic);
      const oracle = computeOracle(raw);
      const expectedTotal = oracle.windows.reduce((n, w) => n + w.totalEvents, 0);
      await waitFor(`${expectedTotal} events in ClickHouse`, async () => (await readWindows(ch, oracle)).reduce((n, r) => n + r.totalEvents, 0) === expectedTotal, 120000, 500);
      await waitFor('all raw records consumed', async () => (await metricValue(aggregator, 'aggregator_events_consumed_total')) >= raw.length, 60000);
      await stopAggregator(aggregator);
      const rows = await readWindows(ch, oracle);
      expect(comparable(rows)).toEqual(comparable(oracle.windows));
      rows.forEach((r, i) => expect(Math.abs(r.avgMetric - oracle.windows[i].avgMetric)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(oracle.windows[i].avgMetric))));
      const counts = (await readDeadLetterWindows(ch, oracle)).filter((c) => c.invalidEvents + c.lateEvents > 0);
      expect(counts.map((c) => ({ windowStartMs: c.windowStartMs, invalidEvents: c.invalidEvents, lateEvents: c.lateEvents }))).toEqual(oracle.deadLetterCounts);

      // ...and the oracle as if the replayed events had been valid from the start.
      const asIf = computeOracle(asIfValidFromTheStart(raw));
      expect(comparable(rows)).toEqual(comparable(asIf.windows));
      rows.forEach((r, i) => expect(Math.abs(r.avgMetric - asIf.windows[i].avgMetric)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(asIf.windows[i].avgMetric))));
      // Nothing replayed was dead-lettered again (no second late_event), and the DLQ holds exactly the oracle's entries.
      expect([...(await dlqEntries(s)).entries()].sort()).toEqual(oracle.deadLetters.map((d) => [coords(d.partition, d.offset), d.reason]).sort());
      const replayedCoords = new Set(raw.filter((m) => m.headers[REPLAY_HEADERS.sourceOffset]).map((m) => coords(m.partition, m.offset)));
      expect(oracle.deadLetters.filter((d) => replayedCoords.has(coords(d.partition, d.offset)))).toEqual([]);

      // Each replayed record is the generator's correct repair, once, with its provenance; no late event was replayed.
      const replayed = raw.filter((m) => m.headers[REPLAY_HEADERS.sourceOffset] !== undefined);
      const expected = new Map([...records.slice(0, PART1), ...records.slice(120 * RATE)].filter(repairable).map((r) => [r.repaired!.event_id, r]));
      expect(replayed.length).toBe(expected.size);
      const ids = new Set<string>();
      for (const m of replayed) {
        const v = parseAndValidate(m.value);
        if (!v.ok) throw new Error(`replayed record does not validate: ${v.message}`);
        expect(v.event).toEqual(expected.get(v.event.event_id)?.repaired);
        expect(m.key).toBe(v.event.device_id);
        expect(m.headers[REPLAY_HEADERS.reason].toString()).not.toBe('late_event');
        ids.add(v.event.event_id);
      }
      expect(ids.size).toBe(expected.size);

      // ---- a final inspect counts every injected fault (all three minutes) and what was replayed.
      const inspect2 = (await runInspect(s)).report;
      expect(sorted(inspect2.byReason)).toEqual(sorted(countBy(oracle.deadLetters, (d) => d.reason)));
      expect(inspect2.outlook.alreadyReplayed).toBe(expected.size);
      const lateOnly = (await runInspect(s, ['--reason', 'late_event'])).report;
      expect(lateOnly.byReason).toEqual({ late_event: oracle.deadLetters.filter((d) => d.reason === 'late_event').length });
    } finally {
      if (aggregator.run.child.exitCode === null) aggregator.run.child.kill('SIGKILL');
      await ch.close();
    }
  });
});
