/**
 * Integration tests: the built producer (dist/apps/producer/main.js) against a
 * real Kafka broker. Every dataset is regenerated offline from the same seed
 * and options with @stream-analytics/event-schema and compared byte for byte
 * with what landed in the topic.
 */
import { parseAndValidate } from '@stream-analytics/event-schema';
import { endOffsets, readTopic, runApp, startApp } from '@stream-analytics/testing';
import { commonArgs, dataset, expectTopicEquals, logLines, must, PARTITIONS, START, summaryOf, useProducerTopics } from './testing/producer-run';

jest.setTimeout(180000);

const { topic, brokers: testBrokers } = useProducerTopics();
let brokers: string;
beforeAll(() => {
  brokers = testBrokers();
});
const common = (t: string) => commonArgs(brokers, t);

describe('producer against a real broker', () => {
  it('--count 100000 leaves exactly 100000 valid events, each device in one partition in generation order', async () => {
    const t = await topic('count');
    const run = await runApp('producer', [...common(t), '--count', '100000', '--rate', '0', '--seed', '11']);
    expect(run.code).toBe(0);
    const summary = summaryOf(run.stdout);
    expect(summary).toMatchObject({ generated: 100000, sent: 100000, acked: 100000, failed: 0, undelivered: 0, stoppedBy: 'count' });
    expect((await endOffsets(brokers, t, PARTITIONS)).reduce((a, b) => a + b, 0)).toBe(100000);

    const messages = await readTopic(brokers, t, { partitions: PARTITIONS });
    const ids = new Set<string>();
    for (const m of messages) {
      const v = parseAndValidate(m.value);
      expect(v.ok).toBe(true);
      if (v.ok) {
        expect(m.key).toBe(v.event.device_id);
        ids.add(v.event.event_id);
      }
    }
    expect(ids.size).toBe(100000);
    expectTopicEquals(messages, dataset({ seed: 11, count: 100000, ratePerSec: 10000 }));
    expect(new Set(messages.map((m) => m.partition)).size).toBe(PARTITIONS);
  });

  it('counts every delivery report in --delivery-reports all mode too', async () => {
    const t = await topic('dr-all');
    const run = await runApp('producer', [...common(t), '--count', '30000', '--rate', '0', '--seed', '12', '--delivery-reports', 'all', '--max-in-flight', '5000']);
    expect(run.code).toBe(0);
    expect(summaryOf(run.stdout)).toMatchObject({ sent: 30000, acked: 30000, failed: 0, deliveryReports: 'all' });
    expectTopicEquals(await readTopic(brokers, t, { partitions: PARTITIONS }), dataset({ seed: 12, count: 30000 }));
  });

  it('injects each fault kind exactly as the shared generator describes it', async () => {
    const t = await topic('faults');
    const args = ['--count', '20000', '--rate', '0', '--seed', '13', '--event-rate', '1000', '--devices', '300', '--users', '40'];
    const faults = ['--invalid-fraction', '0.1', '--out-of-order-fraction', '0.05', '--late-fraction', '0.01', '--max-out-of-order-ms', '4000'];
    const run = await runApp('producer', [...common(t), ...args, ...faults]);
    expect(run.code).toBe(0);
    const expected = dataset({
      seed: 13,
      count: 20000,
      ratePerSec: 1000,
      devices: 300,
      users: 40,
      faults: { invalidFraction: 0.1, outOfOrderFraction: 0.05, lateFraction: 0.01, maxOutOfOrderMs: 4000 },
    });
    const messages = await readTopic(brokers, t, { partitions: PARTITIONS });
    expectTopicEquals(messages, expected);
    // The validator gives each malformed payload the reason the generator announced.
    const reasons = new Map<string, number>();
    for (const m of messages) {
      const v = parseAndValidate(m.value);
      if (!v.ok) reasons.set(v.reason, (reasons.get(v.reason) ?? 0) + 1);
    }
    const announced = new Map<string, number>();
    for (const r of expected) if (r.reason) announced.set(r.reason, (announced.get(r.reason) ?? 0) + 1);
    expect(reasons).toEqual(announced);
    expect([...reasons.keys()].sort()).toEqual(['bad_timestamp', 'invalid_json', 'invalid_value', 'missing_field', 'out_of_range', 'too_large', 'unknown_field', 'wrong_type']);
    const faultCounts: Record<string, number> = {};
    for (const r of expected) if (r.fault) faultCounts[r.fault] = (faultCounts[r.fault] ?? 0) + 1;
    expect(summaryOf(run.stdout)['faults']).toEqual(faultCounts);
  });

  it.each(['errors', 'all'])('accounts exactly for events the broker rejects (--delivery-reports %s): acked + failed = count, exit 1', async (mode) => {
    // The topic takes records up to 4 KiB; the too_large payloads (8-12 KiB) are refused by the broker.
    const t = await topic('reject', { 'max.message.bytes': '4096' });
    const args = ['--count', '20000', '--rate', '0', '--seed', '19', '--invalid-fraction', '0.05', '--invalid-kinds', 'too_large'];
    const run = await runApp('producer', [...common(t), ...args, '--compression', 'none', '--batch-size', '4000', '--delivery-reports', mode]);
    expect(run.code).toBe(1);
    const expected = dataset({ seed: 19, count: 20000, faults: { invalidFraction: 0.05, invalidKinds: ['too_large'] } });
    const refused = expected.filter((r) => r.fault === 'too_large').length;
    expect(refused).toBeGreaterThan(800);
    expect(summaryOf(run.stdout)).toMatchObject({ sent: 20000, acked: 20000 - refused, failed: refused, undelivered: 0, lastError: 'Broker: Message size too large' });
    expectTopicEquals(await readTopic(brokers, t, { partitions: PARTITIONS }), expected.filter((r) => r.fault !== 'too_large'));
  });

  it('holds 10000 events/s within 2% over 10 s, smoothly (no bursts)', async () => {
    const t = await topic('rate');
    const run = await runApp('producer', [...common(t), '--count', '100000', '--rate', '10000', '--seed', '14']);
    expect(run.code).toBe(0);
    const messages = await readTopic(brokers, t, { partitions: PARTITIONS });
    expect(messages.length).toBe(100000);
    // Message timestamps are set by librdkafka when produce() is called: they show the pacing.
    const ts = messages.map((m) => must(m.timestamp)).sort((a, b) => a - b);
    const spanSec = (ts[ts.length - 1] - ts[0]) / 1000;
    expect(Math.abs(99999 / spanSec - 10000) / 10000).toBeLessThan(0.02);
    // Smoothness: every full 250 ms bucket holds 2500 events give or take 25%.
    const buckets = new Map<number, number>();
    for (const x of ts) buckets.set(Math.floor((x - ts[0]) / 250), (buckets.get(Math.floor((x - ts[0]) / 250)) ?? 0) + 1);
    const full = [...buckets.entries()].filter(([b]) => b > 0 && b < Math.floor((ts[ts.length - 1] - ts[0]) / 250)).map(([, n]) => n);
    expect(full.length).toBeGreaterThan(30);
    const outside = full.filter((n) => n < 2500 * 0.75 || n > 2500 * 1.25);
    expect(outside.length).toBeLessThanOrEqual(Math.ceil(full.length * 0.05)); // tolerate a rare GC/scheduler hiccup
  });

  it('--duration S at --rate R sends exactly R*S events over S seconds', async () => {
    const t = await topic('duration');
    const started = Date.now();
    const run = await runApp('producer', [...common(t), '--duration', '3', '--rate', '2000', '--seed', '15']);
    const took = (Date.now() - started) / 1000;
    expect(run.code).toBe(0);
    expect(summaryOf(run.stdout)).toMatchObject({ sent: 6000, acked: 6000, stoppedBy: 'duration' });
    expect(took).toBeGreaterThan(2.9);
    expect((await endOffsets(brokers, t, PARTITIONS)).reduce((a, b) => a + b, 0)).toBe(6000);
  });

  it('stops on SIGTERM: flushes, reports status lines and a summary, serves metrics meanwhile', async () => {
    const t = await topic('sigterm');
    const app = startApp('producer', [...common(t), '--rate', '5000', '--status-interval', '0.5', '--seed', '16']);
    const port = Number(must(/\d+/.exec(await app.waitForOutput(/"metricsPort":\d+/)))[0]);
    await app.waitForOutput(/"msg":"status"[\s\S]*"msg":"status"[\s\S]*"msg":"status"/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of ['producer_events_sent_total', 'producer_events_acked_total', 'producer_events_failed_total', 'producer_queue_depth', 'producer_send_rate']) {
      expect(metrics).toMatch(new RegExp(`^${name} \\d+`, 'm'));
    }
    expect(Number(must(/^producer_events_sent_total (\d+)/m.exec(metrics))[1])).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    app.child.kill('SIGTERM');
    const exit = await app.exited;
    expect(exit.code).toBe(0);
    const lines = logLines(exit.stdout);
    const status = lines.filter((l) => l.msg === 'status');
    for (const s of status) expect(Object.keys(s)).toEqual(expect.arrayContaining(['rate', 'sent', 'acked', 'failed', 'queue']));
    const summary = summaryOf(exit.stdout);
    expect(summary).toMatchObject({ stoppedBy: 'signal', failed: 0, undelivered: 0 });
    expect(summary['acked']).toBe(summary['sent']);
    expect((await endOffsets(brokers, t, PARTITIONS)).reduce((a, b) => a + b, 0)).toBe(summary['acked']);
  });

  it('reports an unreachable broker within the connect timeout and exits 1', async () => {
    const started = Date.now();
    const run = await runApp('producer', ['--brokers', '127.0.0.1:1', '--connect-timeout', '4', '--metrics-port', '0', '--count', '10'], {}, 30000);
    expect(run.code).toBe(1);
    expect((Date.now() - started) / 1000).toBeLessThan(10);
    expect(run.stderr).toContain('Cannot reach Kafka at 127.0.0.1:1 within 4 s; check --brokers/KAFKA_BROKERS');
  });

  it('refuses a topic that does not exist', async () => {
    const run = await runApp('producer', [...common('producer.no-such-topic'), '--count', '10'], {}, 60000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Topic "producer.no-such-topic" does not exist');
  });

  it.each([
    [['--rate', 'fast'], /Invalid value "fast" for --rate: expected an integer/],
    [['--count', '5', '--duration', '3'], /--count and --duration are mutually exclusive/],
    [['--invalid-kinds', 'bogus'], /unknown kind\(s\) bogus/],
    [['--brokers', 'localhost'], /"localhost" is not host:port/],
    [['--invalid-fraction', '0.7', '--late-fraction', '0.7'], /must not exceed 1/],
    [['--nope'], /Unknown option '--nope'/],
  ])('exits 2 with the usage for %j', async (args, message) => {
    const run = await runApp('producer', args as string[], {}, 30000);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Usage: producer [options]');
  });

  it('reads every option from the environment too', async () => {
    const t = await topic('env');
    const run = await runApp('producer', [], { KAFKA_BROKERS: brokers, RAW_TOPIC: t, METRICS_PORT: '0', PRODUCER_COUNT: '500', PRODUCER_RATE: '0', PRODUCER_SEED: '17', PRODUCER_START_TIME: START, PRODUCER_DEVICES: '10' });
    expect(run.code).toBe(0);
    expectTopicEquals(await readTopic(brokers, t, { partitions: PARTITIONS }), dataset({ seed: 17, count: 500, devices: 10 }));
  });
});
