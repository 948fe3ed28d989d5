/**
 * --format avro|protobuf against a real broker and a real schema registry
 * (Apicurio): devices still POST JSON; the raw topic gets each valid event in
 * the Confluent wire format under the registered schema, decoding to the
 * same event; an invalid item goes to the DLQ with its original JSON bytes.
 */
import { generateEvents, schemaIdOf, subjectFor, type TelemetryEvent } from '@stream-analytics/event-schema';
import { createSchemaRegistry, RegistryDecoder } from '@stream-analytics/schema-registry';
import { createTestTopic, deleteTopic, getTestEndpoints, readTopic, startTestSchemaRegistry, type TestSchemaRegistry } from '@stream-analytics/testing';
import { startGateway } from './testing/harness';

jest.setTimeout(180000);

let registry: TestSchemaRegistry;
beforeAll(async () => {
  registry = await startTestSchemaRegistry();
});
afterAll(async () => {
  await registry?.close();
});

it.each(['avro', 'protobuf'] as const)('--format %s: JSON from devices, the Confluent wire format on the raw topic', async (format) => {
  const brokers = (await getTestEndpoints()).kafkaBrokers;
  const raw = await createTestTopic(brokers, { prefix: `gw.${format}.raw`, partitions: 3 });
  const dlq = await createTestTopic(brokers, { prefix: `gw.${format}.dlq`, partitions: 1 });
  const gw = await startGateway({ brokers, rawTopic: raw, dlqTopic: dlq, args: ['--format', format], env: { SCHEMA_REGISTRY_URL: registry.url } });
  try {
    const records = [...generateEvents({ seed: 3, count: 50, devices: 5, startTimeMs: Date.parse('2026-11-24T09:00:00Z') })].filter((r) => r.event);
    const body = `[${records.map((r) => r.value.toString()).join(',')},{"device_id":"dev-x","temperature":"hot"}]`;
    const res = await fetch(gw.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(207); // some accepted, one rejected
    expect(await res.json()).toMatchObject({ accepted: records.length, rejected: [{ index: records.length }] });

    const messages = await readTopic(brokers, raw, { partitions: 3 });
    const versions = await (await fetch(`${registry.url}/subjects/${encodeURIComponent(subjectFor(raw, format))}/versions`)).json();
    expect(versions).toEqual([1]);
    const decoder = new RegistryDecoder(createSchemaRegistry({ url: registry.url }));
    await decoder.prepare(messages.map((m) => m.value));
    expect(new Set(messages.map((m) => schemaIdOf(m.value))).size).toBe(1);
    const decoded = messages.map((m) => decoder.decode(m.value)).map((r) => (r.ok ? r.event : r.reason));
    const byId = (a: TelemetryEvent | string, b: TelemetryEvent | string) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    expect(decoded.sort(byId)).toEqual(records.map((r) => r.event as TelemetryEvent).sort(byId));
    const dead = await readTopic(brokers, dlq, { partitions: 1 });
    expect(dead.map((m) => m.value?.toString())).toEqual(['{"device_id":"dev-x","temperature":"hot"}']);
  } finally {
    gw.app.child.kill('SIGTERM');
    await gw.app.exited;
    for (const t of [raw, dlq]) await deleteTopic(brokers, t).catch(() => undefined);
  }
});
