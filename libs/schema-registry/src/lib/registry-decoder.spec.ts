import { createEventEncoder, generateEvents, schemaTextFor, type RegistrySchema, type TelemetryEvent } from '@stream-analytics/event-schema';
import { RegistryUnavailableError } from './client';
import { RegistryDecoder } from './registry-decoder';

const events: TelemetryEvent[] = [...generateEvents({ seed: 3, count: 20, startTimeMs: Date.parse('2026-11-24T09:00:00Z') })].flatMap((r) => (r.event ? [r.event] : []));

/** A registry that holds `schemas` and can be taken down; counts its requests. */
class FakeRegistry {
  down = false;
  requests: number[] = [];
  constructor(readonly schemas: Map<number, RegistrySchema>) {}
  async schemaById(id: number): Promise<RegistrySchema | undefined> {
    this.requests.push(id);
    if (this.down) throw new RegistryUnavailableError(`schema registry did not answer for schema id ${id}: connect ECONNREFUSED`);
    return this.schemas.get(id);
  }
}

describe('RegistryDecoder', () => {
  const avro = createEventEncoder('avro', 1);
  const avroV2 = createEventEncoder('avro', 2, 2);
  const proto = createEventEncoder('protobuf', 3);
  const schemas = new Map<number, RegistrySchema>([
    [1, { schemaType: 'AVRO', schema: schemaTextFor('avro', 1) }],
    [2, { schemaType: 'AVRO', schema: schemaTextFor('avro', 2) }],
    [3, { schemaType: 'PROTOBUF', schema: schemaTextFor('protobuf', 1) }],
  ]);

  it('fetches each id once, then decodes from the cache while the registry is down', async () => {
    const reg = new FakeRegistry(schemas);
    const d = new RegistryDecoder(reg);
    const values = events.map((e, i) => [avro, avroV2, proto][i % 3].encode(e));
    await d.prepare([...values, Buffer.from('{}'), null]);
    expect(reg.requests.sort()).toEqual([1, 2, 3]);
    reg.down = true;
    await d.prepare(values);
    expect(values.map((v) => d.decode(v))).toEqual(events.map((e) => ({ ok: true, event: e, eventTimeMs: Date.parse(e.event_time) })));
    expect(reg.requests).toHaveLength(3);
  });

  it('rejects prepare() for an id it does not know while the registry is down, and resolves it once the registry answers', async () => {
    const reg = new FakeRegistry(schemas);
    const d = new RegistryDecoder(reg);
    reg.down = true;
    await expect(d.prepare([avroV2.encode(events[0])])).rejects.toThrow(/schema id 2/);
    reg.down = false;
    await d.prepare([avroV2.encode(events[0])]);
    expect(d.decode(avroV2.encode(events[0]))).toMatchObject({ ok: true });
  });

  it('an id the registry does not know is unknown_schema, asked again only after the TTL', async () => {
    let now = 0;
    const reg = new FakeRegistry(schemas);
    const d = new RegistryDecoder(reg, { now: () => now, unknownTtlMs: 1000 });
    const v = createEventEncoder('avro', 77).encode(events[0]);
    await d.prepare([v, v]);
    expect(d.decode(v)).toMatchObject({ ok: false, reason: 'unknown_schema', schemaId: 77 });
    await d.prepare([v]);
    expect(reg.requests).toEqual([77]);
    now = 1001;
    reg.schemas.set(77, schemas.get(1)!);
    await d.prepare([v]);
    expect(d.decode(v)).toMatchObject({ ok: true });
  });
});
