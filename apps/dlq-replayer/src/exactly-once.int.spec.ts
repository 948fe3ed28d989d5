/**
 * Exactly-once replay against a real broker: a replay killed with SIGKILL in
 * the middle of its transactions and run again publishes every replayable
 * entry exactly once (checked by event_id on the raw topic, read_committed);
 * a third run publishes nothing; repeated DLQ entries are published once.
 */
import { generateEvents, parseAndValidate, REPLAY_HEADERS, type DeadLetterEntry, type GeneratedRecord } from '@stream-analytics/event-schema';
import { disconnectClient } from '@stream-analytics/runtime';
import { createConsumer, watermarks } from './app/kafka';
import { createReplayScenario, produceDeadLetters, readCommitted, runReplayer, startReplayer, waitFor, type DeadLetterToWrite } from './testing/harness';

jest.setTimeout(240000);

describe('replay exactly once (real Kafka)', () => {
  it('publishes each entry once across a SIGKILL mid-run, a rerun and a third run', async () => {
    const s = await createReplayScenario(6, 2);
    const records: GeneratedRecord[] = [
      ...generateEvents({
        seed: 2024,
        startTimeMs: s.baseTimeMs,
        count: 1500,
        devices: 300,
        users: 100,
        ratePerSec: 200,
        faults: { invalidFraction: 1, invalidKinds: ['repairable_numeric_string', 'repairable_timestamp', 'repairable_numeric_string', 'repairable_timestamp', 'missing_field'] },
      }),
    ];
    const entry = (r: GeneratedRecord): DeadLetterEntry => ({
      reason: r.reason!,
      message: `${r.reason} (test)`,
      sourceTopic: s.rawTopic,
      sourcePartition: r.index % s.rawPartitions,
      sourceOffset: Math.floor(r.index / s.rawPartitions),
      sourceTimestampMs: s.baseTimeMs + r.index * 5,
      windowStartMs: s.baseTimeMs,
      recordedAtMs: Date.now(),
    });
    const letters: DeadLetterToWrite[] = records.map((r) => ({ key: r.key, value: r.value, entry: entry(r) }));
    // The aggregator may write an entry again after a crash: same source coordinates, later in the DLQ.
    const repeats = records.filter((r) => r.index % 25 === 0);
    letters.push(...repeats.map((r) => ({ key: r.key, value: r.value, entry: { ...entry(r), recordedAtMs: Date.now() + 1 } })));
    // Entries without a readable envelope are reported, not fatal.
    letters.push({ key: 'dev-x', value: Buffer.from('{}'), headers: [{ 'dlq.reason': 'wrong_type' }] });
    letters.push({ key: null, value: null, headers: [{ 'dlq.reason': 'x' }, { 'dlq.source.topic': s.rawTopic }, { 'dlq.source.partition': 'zero' }, { 'dlq.source.offset': '1' }] });
    await produceDeadLetters(s, letters);

    const replayable = records.filter((r) => r.repaired !== undefined);
    const expectedIds = new Set(replayable.map((r) => r.repaired!.event_id));
    expect(expectedIds.size).toBeGreaterThan(1000);
    const args = ['replay', '--repair', 'numeric-strings', '--repair', 'timestamps'];

    // Run 1: slow (200 entries/s, 50 per transaction), killed once a few transactions committed.
    const first = startReplayer(s, [...args, '--rate', '200', '--batch-size', '50', '--progress-secs', '0.3']);
    await first.waitForOutput(/replayed [2-9]\d\d,/, 120000);
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    const afterKill = (await readCommitted(s.brokers, s.rawTopic)).filter((m) => m.headers[REPLAY_HEADERS.sourceOffset] !== undefined);
    expect(afterKill.length).toBeGreaterThanOrEqual(200);
    expect(afterKill.length).toBeLessThan(expectedIds.size);

    // Run 2: completes; it skips what run 1 committed and publishes the rest.
    const second = await runReplayer(s, args);
    const r2 = second.report;
    expect(r2.stoppedBy).toBe('end');
    expect(r2.counts.alreadyReplayed).toBe(afterKill.length);
    expect(r2.counts.replayed).toBe(expectedIds.size - afterKill.length);
    expect(r2.counts.duplicate).toBe(repeats.length);
    expect(r2.counts.refused).toBe(records.length - replayable.length);
    expect(r2.refusedByCode).toEqual({ missing_field: records.length - replayable.length });
    expect(r2.counts.unreadable).toBe(2);
    expect(r2.unreadable.map((u) => u.problem)).toEqual(expect.arrayContaining([expect.stringMatching(/missing headers/), expect.stringMatching(/not integers/)]));

    // Exactly once, by event_id, read_committed; each record is the correct repair with provenance headers.
    const raw = await readCommitted(s.brokers, s.rawTopic);
    const replayed = raw.filter((m) => m.headers[REPLAY_HEADERS.sourceOffset] !== undefined);
    const byId = new Map<string, number>();
    const bySource = new Map(replayable.map((r) => [`${entry(r).sourcePartition}:${entry(r).sourceOffset}`, r]));
    for (const m of replayed) {
      const v = parseAndValidate(m.value);
      expect(v.ok).toBe(true);
      if (!v.ok) continue;
      byId.set(v.event.event_id, (byId.get(v.event.event_id) ?? 0) + 1);
      const src = bySource.get(`${m.headers[REPLAY_HEADERS.sourcePartition].toString()}:${m.headers[REPLAY_HEADERS.sourceOffset].toString()}`);
      expect(src?.repaired).toEqual(v.event);
      expect(m.key).toBe(src?.key);
      expect(m.partition).toBe(Number(m.headers[REPLAY_HEADERS.sourcePartition].toString()));
      expect(m.headers[REPLAY_HEADERS.repairs].toString()).toBe(src?.fault === 'repairable_timestamp' ? 'timestamps' : 'numeric-strings');
    }
    expect(replayed.length).toBe(expectedIds.size);
    expect([...byId.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(byId.keys())).toEqual(expectedIds);

    // The DLQ offsets were committed for the group inside the transactions: all consumed.
    const consumer = await createConsumer({ brokers: s.brokers }, 'test', s.replayerGroup, 30000);
    try {
      const committed = await new Promise<Array<{ partition: number; offset: number }>>((resolve, reject) =>
        consumer.committed(
          Array.from({ length: s.dlqPartitions }, (_, partition) => ({ topic: s.dlqTopic, partition })),
          30000,
          (err, c) => (err ? reject(err) : resolve(c)),
        ),
      );
      for (const c of committed) expect(c.offset).toBe((await watermarks(consumer, s.dlqTopic, c.partition, 30000)).high);
    } finally {
      await disconnectClient(consumer);
    }

    // Run 3 (also with --resume: nothing left after the committed offsets): publishes nothing.
    const third = await runReplayer(s, args);
    expect(third.report.counts.replayed).toBe(0);
    expect(third.report.counts.alreadyReplayed).toBe(expectedIds.size);
    const resumed = await runReplayer(s, [...args, '--resume']);
    expect(resumed.report.counts.read).toBe(0);
    await waitFor('raw topic unchanged', async () => (await readCommitted(s.brokers, s.rawTopic)).length === raw.length, 10000);
  });

  it('never publishes twice when a second replayer starts while one is running (it fences the first)', async () => {
    const s = await createReplayScenario(3, 1);
    const records = [
      ...generateEvents({ seed: 77, startTimeMs: s.baseTimeMs, count: 800, devices: 50, ratePerSec: 200, faults: { invalidFraction: 1, invalidKinds: ['repairable_timestamp'] } }),
    ];
    await produceDeadLetters(
      s,
      records.map((r) => ({
        key: r.key,
        value: r.value,
        entry: { reason: 'bad_timestamp', message: 'test', sourceTopic: s.rawTopic, sourcePartition: r.index % 3, sourceOffset: r.index, sourceTimestampMs: s.baseTimeMs, recordedAtMs: Date.now() },
      })),
    );
    const slow = startReplayer(s, ['replay', '--repair', 'timestamps', '--rate', '200', '--batch-size', '40', '--progress-secs', '0.3']);
    await slow.waitForOutput(/replayed [1-9]\d\d,/, 60000);
    const fast = await runReplayer(s, ['replay', '--repair', 'timestamps']);
    const fenced = await slow.exited;
    expect(fenced.code).toBe(1);
    expect(fenced.stderr).toMatch(/fenced/);
    expect(fast.report.counts.replayed + fast.report.counts.alreadyReplayed).toBe(records.length);
    const replayed = (await readCommitted(s.brokers, s.rawTopic)).filter((m) => m.headers[REPLAY_HEADERS.sourceOffset] !== undefined);
    const ids = replayed.map((m) => (parseAndValidate(m.value) as { event: { event_id: string } }).event.event_id);
    expect(ids.length).toBe(records.length);
    expect(new Set(ids)).toEqual(new Set(records.map((r) => r.repaired!.event_id)));
  });
});
