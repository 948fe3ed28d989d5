/**
 * MQTT ingress against a real Mosquitto (private, on a free port) and the
 * real Kafka broker: a device fleet publishes a seeded dataset, and the raw
 * topic and the DLQ are compared with it byte for byte.
 */
import { generateEvents, type GeneratedRecord } from '@stream-analytics/event-schema';
import { randomInt } from 'node:crypto';
import { computeOracle, readTopic, runApp } from '@stream-analytics/testing';
import { aggregate, expectDeadLetters, expectRawExactlyOnce, publishFleet, startGateway, topicRoot, useTestBed, waitForMetric } from './testing/harness';

jest.setTimeout(240000);

const RAW_PARTITIONS = 24;
const DLQ_PARTITIONS = 6;
const bed = useTestBed();
const topicPair = (name: string) => bed.topicPair(name, RAW_PARTITIONS, DLQ_PARTITIONS);

function dataset(count: number, seed: number, startTimeMs = Date.parse('2026-11-24T09:00:00Z')): GeneratedRecord[] {
  return [...generateEvents({ seed, count, devices: 100, users: 50, startTimeMs, ratePerSec: 2000, faults: { invalidFraction: 0.01 } })];
}

describe('MQTT ingress', () => {
  it('100 devices, 100,000 events: every valid event on the raw topic exactly once, bytes intact, keyed and ordered per device; every invalid one in the DLQ with its reason; the aggregator\u2019s table equals the oracle', async () => {
    const { raw, dlq } = await topicPair('fleet');
    const root = topicRoot();
    // A minute of its own far in the past, so the shared ClickHouse table has no other rows there.
    const startTimeMs = Date.UTC(2002, 0, 1) + randomInt(0, 5_000_000) * 60000;
    const records = dataset(100_000, 14, startTimeMs);
    const valid = records.filter((r) => r.reason === undefined);
    const invalid = records.filter((r) => r.reason !== undefined);
    expect(invalid.length).toBeGreaterThan(500);
    const gw = await startGateway({ brokers: bed.brokers, rawTopic: raw, dlqTopic: dlq, mqttUrl: bed.mosquitto.url, mqttTopic: `${root}/+/telemetry` });
    const t0 = Date.now();
    await publishFleet(bed.mosquitto.url, root, records);
    await waitForMetric(gw, 'ingest_gateway_acknowledged_total', records.length);
    const elapsed = (Date.now() - t0) / 1000;
    process.stderr.write(`[ingest-gateway] 100,000 MQTT messages published and acknowledged in ${elapsed.toFixed(1)} s\n`);
    expect(await gw.metric('ingest_gateway_received_events_total')).toBe(records.length);
    expect(await gw.metric('ingest_gateway_accepted_events_total')).toBe(valid.length);
    expect(await gw.metric('ingest_gateway_rejected_events_total')).toBe(invalid.length);
    gw.app.child.kill('SIGTERM');
    const exit = await gw.app.exited;
    expect(exit.code).toBe(0);
    const [rawMessages, dlqMessages] = await Promise.all([readTopic(bed.brokers, raw, { partitions: RAW_PARTITIONS }), readTopic(bed.brokers, dlq, { partitions: DLQ_PARTITIONS })]);
    expectRawExactlyOnce(rawMessages, valid);
    expectDeadLetters(dlqMessages, invalid, root);

    // The devices' valid events in generation order (one stream: event times never go back) are the oracle's input.
    const oracle = computeOracle(valid.map((r, offset) => ({ topic: raw, partition: 0, offset, key: r.key, value: r.value, timestamp: undefined, headers: {} })));
    const fromMs = oracle.windows[0].windowStartMs;
    const rows = await aggregate(bed, raw, { fromMs, toMs: oracle.windows[oracle.windows.length - 1].windowStartMs + 60000 }, valid.length);
    expect(rows.map((r) => ({ windowStartMs: r.windowStartMs, totalEvents: r.totalEvents, uniqueUsers: r.uniqueUsers, anomalyEvents: r.anomalyEvents }))).toEqual(
      oracle.windows.map((w) => ({ windowStartMs: w.windowStartMs, totalEvents: w.totalEvents, uniqueUsers: w.uniqueUsers, anomalyEvents: w.anomalyEvents })),
    );
    rows.forEach((r, i) => expect(Math.abs(r.avgMetric - oracle.windows[i].avgMetric)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(oracle.windows[i].avgMetric))));
  });

  it('splits array and NDJSON payloads into events and acknowledges the message once all are in Kafka', async () => {
    const { raw, dlq } = await topicPair('batch');
    const root = topicRoot();
    const records = dataset(600, 15).filter((r) => r.reason === undefined);
    const gw = await startGateway({ brokers: bed.brokers, rawTopic: raw, dlqTopic: dlq, mqttUrl: bed.mosquitto.url, mqttTopic: `${root}/+/telemetry`, args: ['--mqtt-protocol-version', '4'] });
    const mqtt = await import('mqtt');
    const client = await mqtt.connectAsync(bed.mosquitto.url, { clientId: `batch-${root}` });
    const arrays = records.slice(0, 300);
    const ndjson = records.slice(300);
    for (let i = 0; i < arrays.length; i += 100) {
      await client.publishAsync(`${root}/fleet/telemetry`, Buffer.from(`[${arrays.slice(i, i + 100).map((r) => r.value.toString()).join(',')}]`), { qos: 1 });
    }
    for (let i = 0; i < ndjson.length; i += 100) {
      await client.publishAsync(`${root}/fleet/telemetry`, Buffer.from(ndjson.slice(i, i + 100).map((r) => r.value.toString()).join('\n') + '\n'), { qos: 1 });
    }
    await client.endAsync();
    await waitForMetric(gw, 'ingest_gateway_acknowledged_total', 6);
    expect(await gw.metric('ingest_gateway_accepted_events_total')).toBe(records.length);
    gw.app.child.kill('SIGTERM');
    expect((await gw.app.exited).code).toBe(0);
    expectRawExactlyOnce(await readTopic(bed.brokers, raw, { partitions: RAW_PARTITIONS }), records);
  });

  it('carries the producer\u2019s MQTT mode (--mqtt-url) to the raw topic: the whole device path', async () => {
    const { raw, dlq } = await topicPair('producer');
    const root = topicRoot();
    const gw = await startGateway({ brokers: bed.brokers, rawTopic: raw, dlqTopic: dlq, mqttUrl: bed.mosquitto.url, mqttTopic: `${root}/+/telemetry` });
    const start = '2026-11-24T09:00:00.000Z';
    const run = await runApp('producer', ['--mqtt-url', bed.mosquitto.url, '--mqtt-topic-prefix', root, '--count', '5000', '--rate', '0', '--devices', '50', '--seed', '7', '--start-time', start, '--metrics-port', '0']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/"acked":5000/);
    await waitForMetric(gw, 'ingest_gateway_acknowledged_total', 5000);
    gw.app.child.kill('SIGTERM');
    expect((await gw.app.exited).code).toBe(0);
    const expected = [...generateEvents({ seed: 7, count: 5000, devices: 50, startTimeMs: Date.parse(start), ratePerSec: 10000 })];
    expectRawExactlyOnce(await readTopic(bed.brokers, raw, { partitions: RAW_PARTITIONS }), expected);
  });
});
