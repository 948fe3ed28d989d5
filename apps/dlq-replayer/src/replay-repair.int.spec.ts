/**
 * Repairs against the real broker, aggregator and ClickHouse: malformed
 * events of each repairable kind (and every unrepairable kind) go through the
 * aggregator to the DLQ, while late and out-of-order events are counted (the
 * default 24 h horizon); `inspect` counts the DLQ exactly; `replay` with the
 * matching repairs puts the repairable ones back; the aggregator's table then
 * equals the oracle of the raw topic as it is, and the oracle as if those
 * events had been valid from the start.
 *
 * The replay happens twice, between two parts of the data: first while the
 * first minute W0 is open (the watermark is at most W0 + 50 s), then after two
 * more minutes, when W1 is final on every partition and W2 still open. The
 * repaired events of W1 are replayed into a final window and counted there, as
 * late events, exactly once; those of W2 land in an open window.
 */
import { aggregatorMetric, comparableDeadLetterCounts, comparableWindows, computeOracle, type OracleResult, startAggregator, stopAggregator } from '@stream-analytics/testing';
import { generateEvents, parseAndValidate, REPLAY_HEADERS, type GeneratedRecord } from '@stream-analytics/event-schema';
import {
  asIfValidFromTheStart,
  clickhouse,
  createReplayScenario,
  dlqEntries,
  expectedDlqEntries,
  expectSameAverages,
  produceDeadLetters,
  produceRaw,
  readCommitted,
  readDeadLetterWindows,
  readWindows,
  replayedRecords,
  runInspect,
  runReplayer,
  waitFor,
  waitForDeadLetters,
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

const countBy = <T>(items: T[], key: (t: T) => string) => items.reduce<Record<string, number>>((acc, t) => ((acc[key(t)] = (acc[key(t)] ?? 0) + 1), acc), {});
const sorted = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
const total = (o: OracleResult) => o.windows.reduce((n, w) => n + w.totalEvents, 0);

describe('replay with repairs (real Kafka + aggregator + ClickHouse)', () => {
  it('inspects exactly, replays repairable events once (into open and final windows), refuses the rest, and leaves ClickHouse equal to the as-if-valid oracle', async () => {
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
      expect(repairable1.length).toBeGreaterThan(100);
      // Late events (2-5 minutes) are counted, not dead-lettered.
      expect(part1.filter((r) => r.fault === 'late').length).toBeGreaterThan(50);
      expect(oracle1.deadLetters.filter((d) => d.reason === 'late_event' || d.reason === 'future_event_time')).toEqual([]);

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
      // ...which are the generator's faults: each malformed record with its reason.
      expect(sorted(inspect1.byReason)).toEqual(sorted(countBy(part1.filter((r) => r.reason !== undefined), (r) => r.reason!)));
      expect(inspect1.bySourcePartition).toEqual(countBy(oracle1.deadLetters, (d) => String(d.partition)));
      expect(Object.values(inspect1.byDevice).reduce((a, b) => a + b, 0)).toBe(oracle1.deadLetters.length);
      expect(inspect1.outlook).toEqual({
        late: 0,
        future: 0,
        validNow: 0,
        repairable: sorted({
          'numeric-strings': part1.filter((r) => r.fault === 'repairable_numeric_string').length,
          timestamps: part1.filter((r) => r.fault === 'repairable_timestamp').length,
        }),
        unrepairable: oracle1.deadLetters.length - repairable1.length,
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
      expect(sorted(r1.refusedByCode)).toEqual(sorted(countBy(part1.filter((r) => r.reason !== undefined && !repairable(r)), (r) => r.reason!)));
      expect(r1.counts.intoFinalWindow).toBe(0);

      // ---- part 2: two more minutes (with more faults).
      await produceRaw(s, options, { from: PART1, to: TOTAL });
      const oracle2 = computeOracle(await readCommitted(s.brokers, s.rawTopic));
      await waitForDeadLetters(s, oracle2);

      // ---- a second replay: W1 is final by now, W2 still open; both are within the horizon and count.
      const part2 = records.slice(PART1);
      const inW1 = part2.filter((r) => repairable(r) && r.index < 120 * RATE).length;
      const inW2 = part2.filter((r) => repairable(r) && r.index >= 120 * RATE).length;
      expect(Math.min(inW1, inW2)).toBeGreaterThan(100);
      const dry2 = (await runReplayer(s, ['replay', '--dry-run', '--repair', 'timestamps,numeric-strings'])).report;
      expect(dry2.counts).toMatchObject({ replayed: inW1 + inW2, intoFinalWindow: inW1, alreadyReplayed: repairable1.length });
      expect(dry2.plan!.filter((p) => p.action === 'replay' && p.why.includes('is already final: counted as a late event')).length).toBe(inW1);
      const r2 = (await runReplayer(s, ['replay', '--repair', 'timestamps', '--repair', 'numeric-strings'])).report;
      expect(r2.counts).toMatchObject({ replayed: inW1 + inW2, intoFinalWindow: inW1, alreadyReplayed: repairable1.length });
      expect(r2.refusedByCode['late_event']).toBeUndefined();

      // ---- the aggregator's table equals the oracle of the raw topic as it is...
      const raw = await readCommitted(s.brokers, s.rawTopic);
      const oracle = computeOracle(raw);
      await waitFor(`${total(oracle)} events in ClickHouse`, async () => (await readWindows(ch, oracle)).reduce((n, r) => n + r.totalEvents, 0) === total(oracle), 120000, 500);
      await waitFor('all raw records consumed', async () => (await aggregatorMetric(aggregator, 'aggregator_events_consumed_total')) >= raw.length, 60000);
      await stopAggregator(aggregator);
      const rows = await readWindows(ch, oracle);
      // W1's repaired events arrived after its window was final: counted there, as late events.
      expect(comparableWindows(rows)).toEqual(comparableWindows(oracle.windows));
      expectSameAverages(rows, oracle.windows);
      expect(comparableDeadLetterCounts(await readDeadLetterWindows(ch, oracle))).toEqual(comparableDeadLetterCounts(oracle.deadLetterCounts));

      // ...and the oracle as if the replayed events had been valid from the start (where they would not have been late).
      const asIf = computeOracle(asIfValidFromTheStart(raw));
      expect(comparableWindows(rows, false)).toEqual(comparableWindows(asIf.windows, false));
      expectSameAverages(rows, asIf.windows);
      // Nothing replayed was dead-lettered again, and the DLQ holds exactly the oracle's entries.
      expect([...(await dlqEntries(s)).entries()].sort()).toEqual(expectedDlqEntries(oracle));
      const replayedCoords = new Set(replayedRecords(raw).map((m) => `${m.partition}:${m.offset}`));
      expect(oracle.deadLetters.filter((d) => replayedCoords.has(`${d.partition}:${d.offset}`))).toEqual([]);

      // Each replayed record is the generator's correct repair, once, with its provenance: every repairable one of the three minutes.
      const replayed = replayedRecords(raw);
      const expected = new Map(records.filter(repairable).map((r) => [r.repaired!.event_id, r]));
      expect(replayed.length).toBe(expected.size);
      const ids = new Set<string>();
      for (const m of replayed) {
        const v = parseAndValidate(m.value);
        if (!v.ok) throw new Error(`replayed record does not validate: ${v.message}`);
        expect(v.event).toEqual(expected.get(v.event.event_id)?.repaired);
        expect(m.key).toBe(v.event.device_id);
        expect(m.headers[REPLAY_HEADERS.reason].toString()).toBe(expected.get(v.event.event_id)?.reason);
        ids.add(v.event.event_id);
      }
      expect(ids.size).toBe(expected.size);

      // ---- a final inspect counts every injected fault (all three minutes) and what was replayed.
      const inspect2 = (await runInspect(s)).report;
      expect(sorted(inspect2.byReason)).toEqual(sorted(countBy(oracle.deadLetters, (d) => d.reason)));
      expect(inspect2.outlook.alreadyReplayed).toBe(expected.size);
      const badTimestamps = (await runInspect(s, ['--reason', 'bad_timestamp'])).report;
      expect(badTimestamps.byReason).toEqual({ bad_timestamp: oracle.deadLetters.filter((d) => d.reason === 'bad_timestamp').length });
    } finally {
      if (aggregator.run.child.exitCode === null) aggregator.run.child.kill('SIGKILL');
      await ch.close();
    }
  });
});
