/**
 * Avro and Protobuf on the wire (Confluent wire format) with a real schema
 * registry (Apicurio, its Confluent-compatible API), a real broker and a real
 * ClickHouse: each format end to end (producer -> aggregator -> ClickHouse)
 * equal to the oracle; JSON, Avro v1, Avro v2 and Protobuf on one topic; a
 * newer writer schema read without restarting the aggregator; an
 * incompatible schema refused; malformed binary input dead-lettered with its
 * reason and schema id; and the registry stopped mid-run.
 */
import { createEventEncoder, generateEvents, parseDeadLetterHeaders, schemaIdOf, subjectFor, type BinaryFormat, type TelemetryEvent, type WireFormat } from '@stream-analytics/event-schema';
import { applySubjects, createSchemaRegistry, eventSubjects, IncompatibleSchemaError, planSubjects, RegistryDecoder, registeredEncoder, schemaOf } from '@stream-analytics/schema-registry';
import { connectTestProducer, readTopic, startAggregator, startApp, startTestSchemaRegistry, stopAggregator, waitFor, type TestSchemaRegistry } from '@stream-analytics/testing';
import { computeScenarioOracle, createScenario, expectMatchesOracle, waitForTotals, type Scenario } from './testing/scenario';

jest.setTimeout(300000);

let registry: TestSchemaRegistry;
beforeAll(async () => {
  registry = await startTestSchemaRegistry();
});
afterAll(async () => {
  await registry?.close();
});

const client = () => createSchemaRegistry({ url: registry.url });
const decoder = () => new RegistryDecoder(client());
const MIN = 60_000;

/** Runs the built producer to completion: `count` events from `startMs` on, in `format`. */
async function produce(s: Scenario, format: WireFormat, o: { seed: number; count: number; startMs: number; version?: 1 | 2 }): Promise<void> {
  const run = startApp(
    'producer',
    [
      ...['--brokers', s.brokers, '--topic', s.rawTopic, '--format', format, '--count', String(o.count), '--rate', '0', '--event-rate', '20'],
      ...['--seed', String(o.seed), '--start-time', new Date(o.startMs).toISOString(), '--devices', '40', '--schema-version', String(o.version ?? 1)],
      ...['--status-interval', '60'],
    ],
    { SCHEMA_REGISTRY_URL: registry.url, METRICS_PORT: '0' },
  );
  const { code, stdout, stderr } = await run.exited;
  if (code !== 0) throw new Error(`producer --format ${format} exited with ${code}:\n${stderr}\n${stdout.slice(-3000)}`);
}

/**
 * Produces ready-made values keyed by device, with the record timestamps
 * given: in the scenario's own time, so its dead letters' minutes are its own
 * (the per-minute dead-letter counts span every topic).
 */
async function produceValues(s: Scenario, records: Array<{ key: string; value: Buffer; timestampMs: number }>): Promise<void> {
  const producer = await connectTestProducer(s.brokers);
  for (const r of records) await producer.produce(s.rawTopic, null, r.value, Buffer.from(r.key), r.timestampMs);
  await producer.settle(records.length);
}

const aggregatorEnv = () => ({ SCHEMA_REGISTRY_URL: registry.url });

describe('wire formats with a schema registry (real registry, Kafka, ClickHouse)', () => {
  it.each(['json', 'avro', 'protobuf'] as const)('%s end to end: producer -> aggregator -> ClickHouse equals the oracle', async (format) => {
    const s = await createScenario();
    // No malformed payloads here: the producer stamps records with the wall clock, and the per-minute
    // dead-letter counts are shared by every topic (malformed input is the mixed test's, in its own minutes).
    await produce(s, format, { seed: 11, count: 2000, startMs: s.baseTimeMs });
    const messages = await readTopic(s.brokers, s.rawTopic, { partitions: s.partitions });
    // Every event is in the format asked for.
    const binary = messages.filter((m) => schemaIdOf(m.value) !== undefined).length;
    if (format === 'json') expect(binary).toBe(0);
    else expect(binary).toBe(2000);
    const oracle = await computeScenarioOracle(s, decoder());
    const aggregator = await startAggregator(s, aggregatorEnv());
    await waitForTotals(s, oracle);
    await stopAggregator(aggregator);
    await expectMatchesOracle(s, oracle);
  });

  it('one topic with JSON, Avro v1, Protobuf, then Avro v2 and Protobuf v2 registered while the aggregator runs: exact, no restart; malformed binary input dead-lettered with its reason and schema id', async () => {
    const s = await createScenario();
    const base = s.baseTimeMs;
    await produce(s, 'json', { seed: 1, count: 1200, startMs: base });
    await produce(s, 'avro', { seed: 2, count: 1200, startMs: base + 2 * MIN });
    await produce(s, 'protobuf', { seed: 3, count: 1200, startMs: base + 4 * MIN });
    const aggregator = await startAggregator(s, aggregatorEnv());
    await waitForTotals(s, await computeScenarioOracle(s, decoder()));

    // A newer firmware: v2 (optional battery_level, firmware_version) registered now, beside v1.
    await produce(s, 'avro', { seed: 4, count: 1200, startMs: base + 6 * MIN, version: 2 });
    await produce(s, 'protobuf', { seed: 5, count: 1200, startMs: base + 8 * MIN, version: 2 });
    const avroSubject = subjectFor(s.rawTopic, 'avro');
    const versions = await (await fetch(`${registry.url}/subjects/${avroSubject}/versions`)).json();
    expect(versions).toEqual([1, 2]);
    const ids = new Set((await readTopic(s.brokers, s.rawTopic, { partitions: s.partitions })).map((m) => schemaIdOf(m.value)).filter((id) => id !== undefined));
    expect(ids.size).toBe(4); // Avro v1, v2, Protobuf v1, v2

    // Malformed binary input.
    const known = Number(await client().lookup(avroSubject, schemaOf('avro', 1)));
    const valid = createEventEncoder('avro', known).encode([...generateEvents({ seed: 9, count: 1, startTimeMs: base + 10 * MIN })][0].event as TelemetryEvent);
    const bad = [
      { key: 'dev-bad-1', value: valid.subarray(0, valid.length - 3) }, // truncated Avro
      { key: 'dev-bad-2', value: Buffer.concat([Buffer.from([0, 0, 0x0f, 0x42, 0x3f]), valid.subarray(5)]) }, // id 999999: unknown
      { key: 'dev-bad-3', value: Buffer.from([5, 1, 2, 3]) }, // unknown magic byte
      { key: 'dev-bad-4', value: Buffer.from([0, 0, 0]) }, // header cut short
      { key: 'dev-bad-5', value: Buffer.concat([Buffer.from([0, 0, 0, 0, known]), Buffer.from('garbage that is no record')]) },
    ];
    await produceValues(s, bad.map((b) => ({ ...b, timestampMs: base + 20 * MIN })));
    const oracle = await computeScenarioOracle(s, decoder());
    await waitForTotals(s, oracle);
    const badReasons = ['undecodable', 'unknown_schema', 'undecodable', 'undecodable', 'undecodable'];
    let dlq: ReturnType<typeof parseDeadLetterHeaders>[] = [];
    let values: Buffer[] = [];
    await waitFor('the malformed binaries in the DLQ', async () => {
      const msgs = (await readTopic(s.brokers, s.dlqTopic, { partitions: 2 })).filter((m) => m.key?.startsWith('dev-bad-'));
      msgs.sort((a, b) => (a.key ?? '').localeCompare(b.key ?? ''));
      dlq = msgs.map((m) => parseDeadLetterHeaders(Object.entries(m.headers).map(([k, v]) => ({ [k]: v }))));
      values = msgs.map((m) => m.value ?? Buffer.alloc(0));
      return msgs.length === bad.length;
    });
    await stopAggregator(aggregator);
    expect(dlq.map((d) => (d.ok ? d.entry.reason : d.problem))).toEqual(badReasons);
    expect(dlq.map((d) => (d.ok ? d.entry.schemaId : d.problem))).toEqual([schemaIdOf(bad[0].value), 999999, undefined, undefined, known]);
    expect(values).toEqual(bad.map((b) => b.value)); // the original bytes
    await expectMatchesOracle(s, oracle);
  });

  it('the topics tool plan: subjects with BACKWARD compatibility, idempotent; an incompatible change refused with the registry reason', async () => {
    const r = client();
    const topic = `formats-test.${Date.now()}`;
    const specs = eventSubjects(topic);
    const plan = await planSubjects(r, specs);
    expect(plan.map((c) => c.kind).sort()).toEqual(['create', 'create', 'set_compatibility', 'set_compatibility']);
    await applySubjects(r, plan);
    expect(await planSubjects(r, specs)).toEqual([]);
    expect(await r.compatibility(subjectFor(topic, 'avro'))).toBe('BACKWARD');
    // v2 adds optional fields: compatible.
    expect((await planSubjects(r, eventSubjects(topic, 'BACKWARD', 2))).map((c) => c.kind)).toEqual(['add_version', 'add_version']);
    // temperature as a string: a v1 reader cannot read it.
    const v1 = JSON.parse(schemaOf('avro').schema) as { fields: Array<{ name: string; type: unknown }> };
    const broken = { ...v1, fields: v1.fields.map((f) => (f.name === 'temperature' ? { ...f, type: 'string' } : f)) };
    const refused = await r.register(subjectFor(topic, 'avro'), { schemaType: 'AVRO', schema: JSON.stringify(broken) }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(IncompatibleSchemaError);
    expect((refused as Error).message).toMatch(/^the registry refused the schema for .*-value as incompatible: .*field temperature \(\/fields\/4\/type\)$/);
    expect((refused as Error).message.split('\n')).toHaveLength(1);
  });

  it('registry stopped mid-run: known schemas keep flowing; a new schema id waits (unready, nothing dead-lettered) and is counted exactly once the registry is back', async () => {
    const s = await createScenario();
    const base = s.baseTimeMs;
    await produce(s, 'avro', { seed: 21, count: 1000, startMs: base });
    const aggregator = await startAggregator(s, aggregatorEnv());
    await waitForTotals(s, await computeScenarioOracle(s, decoder()));
    // The id of Protobuf v2 exists in the registry, but the aggregator has never seen it.
    const r = client();
    const avroV1 = await registeredEncoder(r, s.rawTopic, 'avro', 1);
    const protoV2 = await registeredEncoder(r, s.rawTopic, 'protobuf' as BinaryFormat, 2);
    const events = (seed: number, startMs: number) => [...generateEvents({ seed, count: 400, devices: 20, ratePerSec: 10, startTimeMs: startMs })].flatMap((g) => (g.event ? [g.event] : []));

    await registry.stop();
    const known = events(22, base + 2 * MIN);
    await produceValues(s, known.map((e) => ({ key: e.device_id, value: avroV1.encode(e), timestampMs: Date.parse(e.event_time) })));
    // Known schemas: counted while the registry is down.
    await waitFor('known-schema events counted during the outage', async () => {
      const res = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/metrics`);
      const consumed = /aggregator_events_consumed_total (\d+)/.exec(await res.text());
      return Number(consumed?.[1] ?? 0) >= 1000 + known.length;
    });
    const fresh = events(23, base + 4 * MIN);
    await produceValues(s, fresh.map((e) => ({ key: e.device_id, value: protoV2.encode({ ...e, battery_level: 50, firmware_version: '2.0.0' }), timestampMs: Date.parse(e.event_time) })));
    let reason = '';
    await waitFor('unready, waiting for the registry', async () => {
      const res = await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`);
      reason = await res.text();
      return res.status === 503 && /schema registry/.test(reason);
    });
    expect(reason).toMatch(/waiting for the schema registry/);
    const dlqDuring = await readTopic(s.brokers, s.dlqTopic, { partitions: 2 });
    expect(dlqDuring).toHaveLength(0);

    await registry.start();
    const oracle = await computeScenarioOracle(s, decoder());
    expect(oracle.deadLetters).toHaveLength(0);
    await waitForTotals(s, oracle);
    await waitFor('ready again', async () => (await fetch(`http://127.0.0.1:${aggregator.metricsPort}/readyz`)).status === 200);
    await stopAggregator(aggregator);
    expect(await readTopic(s.brokers, s.dlqTopic, { partitions: 2 })).toHaveLength(0);
    await expectMatchesOracle(s, oracle);
  });
});
