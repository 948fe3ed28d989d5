/**
 * Two gateways in one MQTT share group split a fleet's messages; one of them
 * is stopped (SIGTERM) in the middle: it unsubscribes, acknowledges what it
 * took once Kafka has it, and exits; the other takes the rest. Every event
 * reaches the raw topic exactly once. (Per-device order is not promised
 * across the members of a share group: the broker hands consecutive messages
 * of a device to different members.)
 */
import { generateEvents } from '@stream-analytics/event-schema';
import { readTopic, waitFor } from '@stream-analytics/testing';
import { publishFleet, startGateway, topicRoot, useTestBed, waitForMetric } from './testing/harness';

jest.setTimeout(240000);

const bed = useTestBed();

it('two instances in one share group split the load; one drains on SIGTERM mid-stream; every event lands exactly once', async () => {
  const { raw, dlq } = await bed.topicPair('share', 12);
  const root = topicRoot();
  const records = [...generateEvents({ seed: 5, count: 30_000, devices: 100, users: 50, startTimeMs: Date.parse('2026-11-24T09:00:00Z'), ratePerSec: 2000 })];
  const options = (id: string) => ({
    brokers: bed.brokers,
    rawTopic: raw,
    dlqTopic: dlq,
    mqttUrl: bed.mosquitto.url,
    mqttTopic: `${root}/+/telemetry`,
    clientId: `gw-share-${id}-${root}`,
    args: ['--mqtt-share-group', `g-${root}`],
  });
  const [a, b] = await Promise.all([startGateway(options('a')), startGateway(options('b'))]);
  const publishing = publishFleet(bed.mosquitto.url, root, records, { ratePerSec: 6000 });
  await waitForMetric(a, 'ingest_gateway_acknowledged_total', 3000);
  a.app.child.kill('SIGTERM');
  const stopped = await a.app.exited;
  expect(stopped.code).toBe(0);
  expect(stopped.stdout).toMatch(/unsubscribed from the share group/);
  const byA = (JSON.parse(stopped.stdout.split('\n').find((l) => l.includes('"msg":"stopped"'))!) as { acknowledged: { mqtt: number } }).acknowledged.mqtt;
  await publishing;
  await waitForMetric(b, 'ingest_gateway_acknowledged_total', records.length - byA);
  await waitFor('nothing in flight', async () => (await b.metric('ingest_gateway_in_flight_events')) === 0, 30000);
  const byB = await b.metric('ingest_gateway_acknowledged_total');
  b.app.child.kill('SIGTERM');
  expect((await b.app.exited).code).toBe(0);
  process.stderr.write(`[ingest-gateway] share group: instance a acknowledged ${byA} (then drained), b ${byB}, of ${records.length}\n`);
  expect(byA).toBeGreaterThan(1000);
  expect(byB).toBeGreaterThan(1000);
  const messages = await readTopic(bed.brokers, raw, { partitions: 12 });
  const ids = messages.map((m) => (JSON.parse(m.value!.toString()) as { event_id: string }).event_id);
  expect(ids.length).toBe(records.length);
  expect(new Set(ids)).toEqual(new Set(records.map((r) => r.event!.event_id)));
});
