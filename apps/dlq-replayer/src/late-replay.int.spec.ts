/**
 * The judged case against the real broker, aggregator and ClickHouse:
 * late_event entries within the horizon are replayed and counted exactly
 * once, also after a kill -9 of the replayer.
 *
 * To get late_event entries that are within today's horizon, the aggregator
 * first runs with a small horizon (ALLOWED_LATENESS_SECS=30) over three
 * minutes of data with events 2-5 minutes late: it dead-letters most of them,
 * and ClickHouse equals the oracle with that horizon. The data also holds
 * events three days late (beyond any horizon) and a device whose clock is five
 * years ahead of its record timestamps (future_event_time), interleaved with
 * everything else. Then the aggregator runs with the default horizon (24 h)
 * and so does the replayer: a slow replay is killed with SIGKILL after a few
 * committed transactions, a second run finishes, a third publishes nothing.
 * ClickHouse then equals the oracle with the default horizon of the raw topic
 * as if every replayed entry had been valid at its original position, the
 * late ones counted (late) in their final windows; the three-days-late and
 * future entries were refused with their reasons; no entry came back to the
 * DLQ, and every late_event entry within the horizon is on the raw topic
 * exactly once.
 */
import { readDeadLetterCounts, readMinuteAgg } from '@stream-analytics/clickhouse-sink';
import { generateEvents, parseAndValidate, REPLAY_HEADERS } from '@stream-analytics/event-schema';
import { aggregatorMetric, comparableDeadLetterCounts, comparableWindows, computeOracle, startAggregator, stopAggregator } from '@stream-analytics/testing';
import {
  asIfValidFromTheStart,
  clickhouse,
  createReplayScenario,
  dlqEntries,
  expectedDlqEntries,
  expectSameAverages,
  produceRawRecords,
  readCommitted,
  replayedRecords,
  runReplayer,
  startReplayer,
  waitFor,
  waitForDeadLetters,
  type RawRecordToWrite,
} from './testing/harness';

jest.setTimeout(420000);

const RATE = 200;
const COUNT = 180 * RATE; // three minutes
const SMALL_HORIZON_SECS = 30;
const FUTURE_DEVICE = 'dev-000007';
const FIVE_YEARS_MS = Math.round(5 * 365.25 * 86_400_000);
const THREE_DAYS_MS = 3 * 86_400_000;

describe('late_event entries replayed into final windows (real Kafka + aggregator + ClickHouse)', () => {
  it('counts every late_event entry within the horizon exactly once, across a SIGKILL of the replayer, and refuses the rest with their reasons', async () => {
    const s = await createReplayScenario(6, 2);
    const generated = [
      ...generateEvents({
        seed: 1010,
        startTimeMs: s.baseTimeMs,
        count: COUNT,
        devices: 300,
        users: 120,
        ratePerSec: RATE,
        faults: { invalidFraction: 0, outOfOrderFraction: 0.05, lateFraction: 0.03 },
      }),
    ];
    // Sent at the simulated time; one device's clock is five years ahead, and every 1500th other event (from 3.5 s in, when every partition has a watermark) is three days old.
    const records: RawRecordToWrite[] = generated.map((r) => {
      const shift = r.key === FUTURE_DEVICE ? FIVE_YEARS_MS : r.index % 1500 === 700 ? -THREE_DAYS_MS : 0;
      const value = shift === 0 ? r.value : Buffer.from(JSON.stringify({ ...r.event!, event_time: new Date(Date.parse(r.event!.event_time) + shift).toISOString() }));
      return { key: r.key, value, timestampMs: s.baseTimeMs + Math.floor((r.index * 1000) / RATE) };
    });
    const futureCount = generated.filter((r) => r.key === FUTURE_DEVICE).length;
    const daysLateCount = generated.filter((r) => r.key !== FUTURE_DEVICE && r.index % 1500 === 700).length;
    expect(futureCount).toBeGreaterThan(50);
    expect(daysLateCount).toBeGreaterThan(15);

    // Counted windows: the three minutes and the 2-5 minutes before them (late faults).
    const [from, to] = [s.baseTimeMs - 10 * 60_000, s.baseTimeMs + 10 * 60_000];
    const ch = clickhouse(s);
    let aggregator = await startAggregator(s, { ALLOWED_LATENESS_SECS: String(SMALL_HORIZON_SECS) });
    try {
      // ---- phase 1: the small horizon dead-letters most late events.
      await produceRawRecords(s, records);
      const raw1 = await readCommitted(s.brokers, s.rawTopic);
      expect(raw1.length).toBe(COUNT);
      const small = computeOracle(raw1, { allowedLatenessMs: SMALL_HORIZON_SECS * 1000 });
      const byReason = (reason: string) => small.deadLetters.filter((d) => d.reason === reason);
      expect(byReason('future_event_time').length).toBe(futureCount);
      expect(byReason('late_event').length).toBeGreaterThan(700 + daysLateCount);
      await waitForDeadLetters(s, small);
      const smallTotal = small.windows.reduce((n, w) => n + w.totalEvents, 0);
      await waitFor(`${smallTotal} events in ClickHouse`, async () => (await readMinuteAgg(ch, from, to)).reduce((n, r) => n + r.totalEvents, 0) === smallTotal, 120000, 500);
      await stopAggregator(aggregator);
      const rows1 = await readMinuteAgg(ch, from, to);
      expect(comparableWindows(rows1)).toEqual(comparableWindows(small.windows));
      expectSameAverages(rows1, small.windows);
      expect(comparableDeadLetterCounts(await readDeadLetterCounts(ch, from, to))).toEqual(
        comparableDeadLetterCounts(small.deadLetterCounts.filter((c) => c.windowStartMs >= from && c.windowStartMs < to)),
      );
      const dlq1 = await dlqEntries(s);
      expect([...dlq1.entries()].sort()).toEqual(expectedDlqEntries(small));

      // ---- phase 2: the aggregator with the default horizon; the replayer with its defaults (the same).
      aggregator = await startAggregator(s);
      const full = computeOracle(raw1);
      // What the replay must bring back: the late_event entries the default horizon counts.
      const stillLate = new Set(full.deadLetters.filter((d) => d.reason === 'late_event').map((d) => `${d.partition}:${d.offset}`));
      const within = byReason('late_event').filter((d) => !stillLate.has(`${d.partition}:${d.offset}`));
      expect(stillLate.size).toBe(daysLateCount);
      expect(within.length).toBeGreaterThan(700);

      // Run 1: slow (150 entries/s, 30 per transaction), killed once a few transactions committed.
      const first = startReplayer(s, ['replay', '--rate', '150', '--batch-size', '30', '--progress-secs', '0.3']);
      await first.waitForOutput(/replayed [1-9]\d\d,/, 120000);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const afterKill = replayedRecords(await readCommitted(s.brokers, s.rawTopic)).length;
      expect(afterKill).toBeGreaterThanOrEqual(100);
      expect(afterKill).toBeLessThan(within.length);

      // Run 2 finishes: the rest of the late entries, into final windows; the others refused with the reason they would be dead-lettered for again.
      const r2 = (await runReplayer(s, ['replay'])).report;
      expect(r2.stoppedBy).toBe('end');
      expect(r2.counts.alreadyReplayed).toBe(afterKill);
      expect(r2.counts.replayed).toBe(within.length - afterKill);
      expect(r2.counts.intoFinalWindow).toBe(r2.counts.replayed);
      expect(r2.replayedByReason).toEqual({ late_event: within.length - afterKill });
      expect(r2.refusedByCode).toEqual({ late_event: daysLateCount, future_event_time: futureCount });
      expect(r2.refused.filter((p) => p.code === 'late_event').every((p) => /^late_event: beyond the lateness horizon/.test(p.why))).toBe(true);
      expect(r2.refused.filter((p) => p.code === 'future_event_time').every((p) => /ahead of its original record timestamp/.test(p.why) && p.device === FUTURE_DEVICE)).toBe(true);
      // Run 3: nothing left.
      const r3 = (await runReplayer(s, ['replay'])).report;
      expect(r3.counts).toMatchObject({ replayed: 0, alreadyReplayed: within.length, refused: daysLateCount + futureCount });

      // Exactly once on the raw topic (read_committed): each late entry within the horizon, once, as it was.
      const raw = await readCommitted(s.brokers, s.rawTopic);
      const replayed = replayedRecords(raw);
      const bySource = new Map(raw1.map((m) => [`${m.partition}:${m.offset}`, m]));
      const sources = replayed.map((m) => `${m.headers[REPLAY_HEADERS.sourcePartition].toString()}:${m.headers[REPLAY_HEADERS.sourceOffset].toString()}`);
      expect(sources.length).toBe(within.length);
      expect(new Set(sources)).toEqual(new Set(within.map((d) => `${d.partition}:${d.offset}`)));
      for (const [i, m] of replayed.entries()) {
        const original = bySource.get(sources[i])!;
        expect(m.value).toEqual(original.value);
        expect(m.key).toBe(original.key);
        expect(m.partition).toBe(original.partition);
        expect(m.headers[REPLAY_HEADERS.reason].toString()).toBe('late_event');
        expect(parseAndValidate(m.value).ok).toBe(true);
      }

      // ---- ClickHouse equals the default-horizon oracle as if the replayed entries had been valid where they were first sent.
      const asIf = computeOracle(asIfValidFromTheStart(raw));
      expect(asIf.windows.reduce((n, w) => n + w.totalEvents, 0)).toBe(smallTotal + within.length);
      const expectedTotal = smallTotal + within.length;
      await waitFor(`${expectedTotal} events in ClickHouse`, async () => (await readMinuteAgg(ch, from, to)).reduce((n, r) => n + r.totalEvents, 0) === expectedTotal, 120000, 500);
      await waitFor('every replayed record consumed', async () => (await aggregatorMetric(aggregator, 'aggregator_events_consumed_total')) >= replayed.length, 60000);
      await stopAggregator(aggregator);
      const rows = await readMinuteAgg(ch, from, to);
      expect(comparableWindows(rows)).toEqual(comparableWindows(asIf.windows));
      expectSameAverages(rows, asIf.windows);
      // Every replayed entry was counted as a late event of a final window.
      expect(rows.reduce((n, r) => n + r.lateEvents, 0) - rows1.reduce((n, r) => n + r.lateEvents, 0)).toBe(within.length);

      // Nothing came back to the DLQ: it holds exactly the first run's entries, and the oracle's dead letters are those left.
      expect([...(await dlqEntries(s)).entries()].sort()).toEqual(expectedDlqEntries(small));
      const replayedCoords = new Set(sources);
      expect(expectedDlqEntries(asIf)).toEqual(expectedDlqEntries(small).filter(([coords]) => !replayedCoords.has(coords)));
      expect(comparableDeadLetterCounts(await readDeadLetterCounts(ch, from, to))).toEqual(
        comparableDeadLetterCounts(small.deadLetterCounts.filter((c) => c.windowStartMs >= from && c.windowStartMs < to)),
      );
    } finally {
      if (aggregator.run.child.exitCode === null) aggregator.run.child.kill('SIGKILL');
      await ch.close();
    }
  });
});
