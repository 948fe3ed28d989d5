/**
 * The replayer as an operator runs it (dist/apps/dlq-replayer/main.js): usage
 * errors exit 2, a missing topic exits 1, the selection flags, --limit,
 * --resume and --dry-run do what they say against a real broker, and entries
 * are judged by the aggregator's event-time rules against the tail of their
 * raw partition (a bad clock in the tail does not move the estimate).
 */
import { generateEvents, REPLAY_HEADERS, type DeadLetterEntry, type TelemetryEvent } from '@stream-analytics/event-schema';
import { runApp } from '@stream-analytics/testing';
import type { ReplayReport } from './app/summary';
import { createReplayScenario, produceDeadLetters, produceRawRecords, readCommitted, replayerEnv, runInspect, runReplayer, type ReplayScenario } from './testing/harness';

jest.setTimeout(180000);

describe('dlq-replayer command line (built app)', () => {
  it.each([
    [[], /missing command/],
    [['reply'], /unknown command "reply"/],
    [['replay', '--bogus'], /Unknown option '--bogus'/],
    [['inspect', '--repair', 'timestamps'], /Unknown option '--repair'/],
    [['replay', '--repair', 'everything'], /unknown repair "everything"/],
    [['replay', '--reason', 'late'], /unknown reason code "late"/],
    [['replay', '--from', '2026-11-25T00:00:00Z', '--to', '2026-11-24T00:00:00Z'], /must be before --to/],
    [['replay', '--from-offset', '3'], /add --partition/],
    [['replay', '--dry-run', '--rate', '5'], /--rate .* --dry-run/],
    [['replay', '--resume', '--from-start'], /contradict/],
    [['inspect', '--limit', '5'], /Unknown option '--limit'/],
    [['replay', '--closed-windows', 'refuse'], /--closed-windows \(REPLAY_CLOSED_WINDOWS\) is gone: the aggregator now counts a late event/],
    [['replay', '--allowed-lateness-secs', '9999999'], /--allowed-lateness-secs: expected a value <= 2592000/],
  ])('exits 2 with a usage message for %j', async (args, pattern) => {
    const res = await runApp('dlq-replayer', args as string[], { KAFKA_BROKERS: '127.0.0.1:1' }, 30000);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(pattern as RegExp);
    expect(res.stderr).toMatch(/Usage: dlq-replayer/);
  });

  it('prints help and exits 0', async () => {
    for (const args of [['--help'], ['replay', '--help'], ['inspect', '--help']]) {
      const res = await runApp('dlq-replayer', args, {}, 30000);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/Usage: dlq-replayer/);
    }
  });

  it('exits 1 with a clear message when the DLQ topic does not exist', async () => {
    const s = await createReplayScenario(2, 1);
    const res = await runApp('dlq-replayer', ['inspect'], { ...replayerEnv(s), DLQ_TOPIC: `${s.dlqTopic}.missing` }, 60000);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/does not exist/);
  });
});

describe('selection, --limit and --resume (real Kafka)', () => {
  let s: ReplayScenario;
  const T0 = Date.parse('2026-01-10T12:00:00.000Z');
  const N = 60;

  beforeAll(async () => {
    s = await createReplayScenario(3, 1);
    const records = [...generateEvents({ seed: 99, startTimeMs: s.baseTimeMs, count: N, devices: 5, ratePerSec: 10, faults: { invalidFraction: 1, invalidKinds: ['repairable_numeric_string'] } })];
    // DLQ entry i: source partition i % 3, offset i, dead-lettered at T0 + i s.
    await produceDeadLetters(
      s,
      records.map((r) => {
        const entry: DeadLetterEntry = {
          reason: 'wrong_type',
          message: 'numeric string',
          sourceTopic: s.rawTopic,
          sourcePartition: r.index % 3,
          sourceOffset: r.index,
          sourceTimestampMs: s.baseTimeMs + r.index * 100,
          recordedAtMs: T0 + r.index * 1000,
        };
        return { key: r.key, value: r.value, entry, partition: 0, timestampMs: T0 + r.index * 1000 };
      }),
    );
  });

  const replayedOffsets = async () =>
    (await readCommitted(s.brokers, s.rawTopic))
      .filter((m) => m.headers[REPLAY_HEADERS.sourceOffset])
      .map((m) => Number(m.headers[REPLAY_HEADERS.sourceOffset].toString()))
      .sort((a, b) => a - b);

  it('selects by DLQ time, source partition/offset range and device (dry run)', async () => {
    const plan = async (...args: string[]) => (await runReplayer<ReplayReport>(s, ['replay', '--dry-run', '--repair', 'numeric-strings', ...args])).report;
    const byTime = await plan('--from', new Date(T0 + 10000).toISOString(), '--to', new Date(T0 + 20000).toISOString());
    expect(byTime.plan!.map((p) => p.sourceOffset)).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i));
    const byOffsets = await plan('--partition', '1', '--from-offset', '10', '--to-offset', '30');
    expect(byOffsets.plan!.map((p) => p.sourceOffset)).toEqual([10, 13, 16, 19, 22, 25, 28]);
    expect(byOffsets.counts.notSelected).toBe(N - 7);
    const byDevice = await plan('--device', 'dev-000002', '--device', 'dev-000003');
    expect(byDevice.plan!.every((p) => p.device === 'dev-000002' || p.device === 'dev-000003')).toBe(true);
    expect(byDevice.plan!.length).toBeGreaterThan(0);
    const byReason = await plan('--reason', 'bad_timestamp');
    expect(byReason.counts.replayed).toBe(0);
    const withoutRepair = (await runReplayer<ReplayReport>(s, ['replay', '--dry-run'])).report;
    expect(withoutRepair.refusedByCode).toEqual({ wrong_type: N });
    const inspect = (await runInspect(s, ['--from', new Date(T0 + 50000).toISOString()])).report;
    expect(inspect.entries).toBe(10);
    expect(inspect.deadLetteredAt.first).toBe(new Date(T0 + 50000).toISOString());
    expect(await replayedOffsets()).toEqual([]);
  });

  it('stops at --limit, continues with --resume, and a full rescan publishes only the rest', async () => {
    const first = (await runReplayer<ReplayReport>(s, ['replay', '--repair', 'numeric-strings', '--limit', '10', '--batch-size', '7'])).report;
    expect(first.stoppedBy).toBe('limit');
    expect(first.counts.replayed).toBe(10);
    expect(await replayedOffsets()).toEqual(Array.from({ length: 10 }, (_, i) => i));
    const resumed = (await runReplayer<ReplayReport>(s, ['replay', '--repair', 'numeric-strings', '--resume', '--limit', '5'])).report;
    expect(resumed.counts).toMatchObject({ replayed: 5, alreadyReplayed: 0 });
    expect(resumed.ranges[0].startOffset).toBe(10);
    const rest = (await runReplayer<ReplayReport>(s, ['replay', '--repair', 'numeric-strings', '--rate', '1000'])).report;
    expect(rest.counts).toMatchObject({ replayed: N - 15, alreadyReplayed: 15 });
    expect(await replayedOffsets()).toEqual(Array.from({ length: N }, (_, i) => i));
  });
});

describe('event-time judgement against the raw partition tail (real Kafka, dry run)', () => {
  const MIN = 60_000;
  const HOUR = 60 * MIN;
  let s: ReplayScenario;
  let events: TelemetryEvent[];
  const at = (i: number, ms: number) => Buffer.from(JSON.stringify({ ...events[i], event_time: new Date(ms).toISOString() }));

  beforeAll(async () => {
    s = await createReplayScenario(2, 1);
    events = [...generateEvents({ seed: 5, startTimeMs: s.baseTimeMs, count: 40, devices: 4, ratePerSec: 10 })].map((r) => r.event!);
    const base = s.baseTimeMs;
    // Raw partition 0: an event every 10 minutes up to base + 2 h (watermark base + 2 h - 10 s), then a clock five
    // years ahead, which the aggregator dead-letters and which must not raise the estimate. Partition 1 stays empty.
    await produceRawRecords(s, [
      ...Array.from({ length: 13 }, (_, i) => ({ key: events[i].device_id, value: at(i, base + i * 10 * MIN), timestampMs: base + i * 10 * MIN, partition: 0 })),
      { key: events[13].device_id, value: at(13, base + 5 * 365 * 24 * HOUR), timestampMs: base + 2 * HOUR, partition: 0 },
    ]);
    const entry = (i: number, reason: string, sourcePartition: number, sourceTimestampMs: number): DeadLetterEntry => ({
      reason,
      message: 'test',
      sourceTopic: s.rawTopic,
      sourcePartition,
      sourceOffset: 1000 + i,
      sourceTimestampMs,
      recordedAtMs: Date.now(),
    });
    const letter = (i: number, reason: string, eventTimeMs: number, sourcePartition = 0, sourceTimestampMs = eventTimeMs) => ({
      key: events[20 + i].device_id,
      value: at(20 + i, eventTimeMs),
      entry: entry(i, reason, sourcePartition, sourceTimestampMs),
      partition: 0,
    });
    await produceDeadLetters(s, [
      letter(0, 'late_event', base + 30 * MIN), // final, within the horizon
      letter(1, 'late_event', base + 2 * HOUR - 5000), // its window is still open
      letter(2, 'late_event', base - 23 * HOUR), // its window ended about 25 h before the watermark: beyond
      letter(3, 'late_event', base - 21 * HOUR), // within
      letter(4, 'future_event_time', base + 5 * 365 * 24 * HOUR, 0, base + HOUR), // a clock years ahead of its record timestamp
      letter(5, 'late_event', base - 72 * HOUR, 1), // partition 1 has no watermark yet
      letter(6, 'bad_timestamp', base + 90 * MIN), // valid now, into a final window
    ]);
  });

  const planOf = async (...args: string[]) => {
    const r = (await runReplayer<ReplayReport>(s, ['replay', '--dry-run', ...args])).report;
    return r.plan!.map((p) => [p.sourceOffset - 1000, p.action === 'refuse' ? p.code : p.why.includes('already final') ? 'final' : 'open']);
  };

  it('replays what the aggregator counts (into final windows too), refuses what it would dead-letter again', async () => {
    expect(await planOf()).toEqual([
      [0, 'final'],
      [1, 'open'],
      [2, 'late_event'],
      [3, 'final'],
      [4, 'future_event_time'],
      [5, 'open'],
      [6, 'final'],
    ]);
  });

  it("uses the aggregator's knobs, from its flags or its environment", async () => {
    const oneHour = [
      [0, 'late_event'],
      [1, 'open'],
      [2, 'late_event'],
      [3, 'late_event'],
      [4, 'future_event_time'],
      [5, 'open'],
      [6, 'final'],
    ];
    expect(await planOf('--allowed-lateness-secs', '3600')).toEqual(oneHour);
    const viaEnv = (await runReplayer<ReplayReport>(s, ['replay', '--dry-run'], { ALLOWED_LATENESS_SECS: '3600' })).report;
    expect(viaEnv.refusedByCode).toEqual({ late_event: 3, future_event_time: 1 });
    // A 30 min out-of-orderness bound lowers the watermark to base + 1 h 30 min: entry 0's window (ending base + 31 min) is within the hour again.
    expect((await planOf('--allowed-lateness-secs', '3600', '--max-out-of-order-secs', '1800'))[0]).toEqual([0, 'final']);
  });
});
