import { compileWriterSchema, createEventEncoder, generateEvents, parseDeadLetterHeaders, schemaTextFor, serializeEvent, staticDecoder, type KafkaHeaders, type TelemetryEvent } from '@stream-analytics/event-schema';
import { Ingest } from './acks';
import { DeadLetterSequence, routeItems, validateItems, type Router } from './route';

const event = [...generateEvents({ seed: 5, count: 1, startTimeMs: Date.parse('2026-11-24T09:00:00Z') })][0].event as TelemetryEvent;

function router(format: 'json' | 'avro' | 'protobuf') {
  const sent: Array<{ topic: string; value: Buffer; key: string | Buffer | null; headers?: KafkaHeaders }> = [];
  const r: Router = {
    rawTopic: 'raw',
    dlqTopic: 'dlq',
    gatewayId: 'gw',
    sink: { send: (topic, value, key, headers) => void sent.push({ topic, value, key, headers }) },
    sequence: new DeadLetterSequence(0),
    ...(format === 'json' ? {} : { encoder: createEventEncoder(format, 7) }),
  };
  return { r, sent };
}

describe('routeItems', () => {
  it.each(['avro', 'protobuf'] as const)('with --format %s re-encodes the devices\u2019 JSON; invalid items keep their bytes in the DLQ', (format) => {
    const { r, sent } = router(format);
    const items = [Buffer.from(serializeEvent(event)), Buffer.from('{"device_id":"dev-2","temperature":1')];
    routeItems(r, items, validateItems(items), { transport: 'mqtt', topic: 'devices/dev-000001/telemetry' }, 0, new Ingest(0, () => undefined, () => 0));
    const decoder = staticDecoder([compileWriterSchema(7, { schemaType: format === 'avro' ? 'AVRO' : 'PROTOBUF', schema: schemaTextFor(format) })]);
    expect(sent.map((s) => s.topic)).toEqual(['raw', 'dlq']);
    expect(sent[0].value[0]).toBe(0);
    expect(decoder.decode(sent[0].value)).toEqual({ ok: true, event, eventTimeMs: Date.parse(event.event_time) });
    expect(sent[0].key).toBe(event.device_id);
    expect(sent[1].value).toEqual(items[1]);
    expect(parseDeadLetterHeaders(sent[1].headers)).toMatchObject({ ok: true, entry: { reason: 'invalid_json' } });
  });

  it('with json sends the device\u2019s bytes unchanged', () => {
    const { r, sent } = router('json');
    const items = [Buffer.from(` ${serializeEvent(event)}`)];
    routeItems(r, items, validateItems(items), { transport: 'mqtt', topic: 't' }, 0, new Ingest(0, () => undefined, () => 0));
    expect(sent[0].value).toBe(items[0]);
  });
});
