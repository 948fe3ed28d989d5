/**
 * The built producer through a broker restart: nothing lost, nothing
 * duplicated (idempotent producer). It restarts the broker the tests talk to,
 * so it runs in the test-disruptive target, alone, after everything else, with
 * KAFKA_RESTART_CMD set (npm test sets it against the local stack it controls).
 * Elsewhere it is skipped and says so.
 */
import { exec } from 'node:child_process';
import { readTopic, startApp } from '@stream-analytics/testing';
import { commonArgs, dataset, expectTopicEquals, logLines, must, PARTITIONS, summaryOf, useProducerTopics } from './testing/producer-run';

jest.setTimeout(180000);

const { topic, brokers } = useProducerTopics();
const restartCmd = process.env['KAFKA_RESTART_CMD'];
if (!restartCmd) {
  console.warn('[producer] skipping the broker-restart test: set KAFKA_RESTART_CMD to a command that restarts the broker at KAFKA_BROKERS');
}

describe('producer through a broker restart', () => {
  (restartCmd ? it : it.skip)('loses and duplicates nothing when the broker restarts during a --count run (idempotent producer)', async () => {
    const t = await topic('restart');
    const count = 300000;
    const app = startApp('producer', [...commonArgs(brokers(), t), '--count', String(count), '--rate', '25000', '--seed', '18', '--status-interval', '1']);
    await app.waitForOutput(/"msg":"status"/);
    const restart = await new Promise<{ code: number | null; out: string }>((resolve) =>
      exec(must(restartCmd), { timeout: 120000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr })),
    );
    expect(restart).toMatchObject({ code: 0 });
    const exit = await app.exited;
    const summary = summaryOf(exit.stdout);
    expect(exit.code).toBe(0);
    expect(summary).toMatchObject({ acked: count, failed: 0, undelivered: 0 });
    expect(logLines(exit.stdout).some((l) => l.msg.startsWith('Kafka client error'))).toBe(true); // it did notice the outage
    const messages = await readTopic(brokers(), t, { partitions: PARTITIONS, timeoutMs: 120000 });
    expect(messages.length).toBe(count);
    const expected = dataset({ seed: 18, count, ratePerSec: 25000 });
    const ids = new Set(messages.map((m) => (JSON.parse(must(m.value).toString()) as { event_id: string }).event_id));
    expect(ids.size).toBe(count);
    expect(ids).toEqual(new Set(expected.map((r) => must(r.event).event_id)));
    expectTopicEquals(messages, expected);
  });
});
