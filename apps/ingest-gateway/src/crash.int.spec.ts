/**
 * kill -9 of the gateway in the middle of a fleet's MQTT stream, then a
 * restart with the same client id: the broker redelivers what was not
 * acknowledged (persistent session), so no event is lost; events that Kafka
 * had acknowledged but whose PUBACK had not left yet arrive twice. The test
 * counts and reports those duplicates: they are bounded by the messages in
 * flight at the kill (the MQTT receive window).
 */
import { generateEvents } from '@stream-analytics/event-schema';
import { endOffsets, readTopic, waitFor } from '@stream-analytics/testing';
import { publishFleet, startGateway, topicRoot, useTestBed, waitForMetric } from './testing/harness';

jest.setTimeout(240000);

const RECEIVE_MAXIMUM = 500;
const bed = useTestBed();

it('loses no event through kill -9 and a restart; duplicates are counted and bounded by the receive window', async () => {
  const { raw, dlq } = await bed.topicPair('crash', 12);
  const brokers = bed.brokers;
  const mosquitto = bed.mosquitto;
  const root = topicRoot();
  const records = [...generateEvents({ seed: 99, count: 40_000, devices: 100, users: 50, startTimeMs: Date.parse('2026-11-24T09:00:00Z'), ratePerSec: 2000 })];
  const gatewayOptions = {
    brokers,
    rawTopic: raw,
    dlqTopic: dlq,
    mqttUrl: mosquitto.url,
    mqttTopic: `${root}/+/telemetry`,
    clientId: `gw-crash-${root}`,
    args: ['--mqtt-receive-maximum', String(RECEIVE_MAXIMUM)],
  };
  const first = await startGateway(gatewayOptions);
  // About 8 s of traffic; the gateway dies after a quarter of it.
  const publishing = publishFleet(mosquitto.url, root, records, { ratePerSec: 5000 });
  await waitForMetric(first, 'ingest_gateway_acknowledged_total', 10_000);
  first.app.child.kill('SIGKILL');
  const killed = await first.app.exited;
  expect(killed.signal).toBe('SIGKILL');
  const second = await startGateway(gatewayOptions);
  await publishing;
  // Everything published reaches Kafka once the restarted gateway caught up.
  const valid = records.filter((r) => r.event !== undefined);
  await waitFor('the restarted gateway to drain the backlog', async () => (await second.metric('ingest_gateway_in_flight_events')) === 0 && (await second.metric('ingest_gateway_acknowledged_total')) > 0, 60000);
  await waitFor('every valid event on the raw topic', async () => {
    const ends = await endOffsets(brokers, raw, 12);
    return ends.reduce((a, b) => a + b, 0) >= valid.length;
  }, 60000, 500);
  // The broker has nothing left for the gateway once it acknowledged everything it delivered.
  await new Promise((r) => setTimeout(r, 1500));
  second.app.child.kill('SIGTERM');
  expect((await second.app.exited).code).toBe(0);

  const messages = await readTopic(brokers, raw, { partitions: 12 });
  const counts = new Map<string, number>();
  for (const m of messages) {
    const id = (JSON.parse(m.value!.toString()) as { event_id: string }).event_id;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const missing = valid.filter((r) => !counts.has(r.event!.event_id));
  const duplicates = messages.length - counts.size;
  process.stderr.write(
    `[ingest-gateway] kill -9 mid-run: ${valid.length} valid events, ${counts.size} distinct on the raw topic, ${missing.length} missing, ${duplicates} duplicates (receive window ${RECEIVE_MAXIMUM})\n`,
  );
  expect(missing).toEqual([]);
  expect(counts.size).toBe(valid.length);
  expect(duplicates).toBeLessThanOrEqual(RECEIVE_MAXIMUM);
});
