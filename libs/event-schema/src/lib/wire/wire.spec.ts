import fc from 'fast-check';
import { generateEvents } from '../generator';
import { parseAndValidate, serializeEvent } from '../validator';
import type { TelemetryEvent } from '../schema';
import { confluentHeader, decodeMessageIndexes, encodeMessageIndexes, payloadKind, readConfluentFrame } from './confluent';
import { compileWriterSchema, createEventEncoder, type WireEvent } from './codecs';
import { JSON_ONLY_DECODER, decodeEvent, schemaIdOf, staticDecoder } from './decoder';
import { schemaTextFor, type BinaryFormat } from './schemas';

const events: TelemetryEvent[] = [...generateEvents({ seed: 7, count: 300, devices: 50, startTimeMs: Date.parse('2026-11-24T09:00:00Z') })].flatMap((r) => (r.event ? [r.event] : []));
const event = fc.constantFrom(...events);

/** Schema ids as a registry would assign them. */
const IDS = { avro: { 1: 11, 2: 12 }, protobuf: { 1: 21, 2: 22 } } as const;
const FORMATS: BinaryFormat[] = ['avro', 'protobuf'];
const all = FORMATS.flatMap((f) => ([1, 2] as const).map((v) => compileWriterSchema(IDS[f][v], { schemaType: f === 'avro' ? 'AVRO' : 'PROTOBUF', schema: schemaTextFor(f, v) })));
const decoder = staticDecoder(all);
const encoders = FORMATS.flatMap((f) => ([1, 2] as const).map((v) => createEventEncoder(f, IDS[f][v], v)));
const encoder = fc.constantFrom(...encoders);

describe('Confluent framing', () => {
  it('header: magic byte 0 and the id big-endian, read back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (id) => {
        const h = confluentHeader(id);
        expect(h[0]).toBe(0);
        expect(readConfluentFrame(h)).toEqual({ ok: true, schemaId: id, payloadOffset: 5 });
      }),
    );
    expect(readConfluentFrame(Buffer.from([0, 0, 1]))).toMatchObject({ ok: false });
  });

  it('message indexes: decode(encode(ix)) = ix, [0] is the single byte 0', () => {
    expect(encodeMessageIndexes([0])).toEqual(Buffer.from([0]));
    expect(encodeMessageIndexes([1, 2])).toEqual(Buffer.from([4, 2, 4]));
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 100000 }), { minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 4 }), (ix, tail) => {
        const enc = Buffer.concat([encodeMessageIndexes(ix), tail]);
        expect(decodeMessageIndexes(enc, 0)).toEqual({ ok: true, indexes: ix, offset: enc.length - tail.length });
      }),
    );
  });

  it('dispatch: 0 is the wire format, other control bytes are unknown magic, the rest is JSON', () => {
    expect(payloadKind(Buffer.from([0, 1]))).toBe('confluent');
    expect(payloadKind(Buffer.from([1]))).toBe('unknown_magic');
    expect(payloadKind(Buffer.from(' {'))).toBe('json');
    expect(payloadKind(Buffer.from('\n{'))).toBe('json');
    expect(payloadKind(Buffer.alloc(0))).toBe('json');
    expect(payloadKind(null)).toBe('json');
  });
});

describe('decodeEvent', () => {
  it('decode(encode(e)) = e for Avro and Protobuf, v1 and v2 writers (the v2 fields are dropped)', () => {
    fc.assert(
      fc.property(event, encoder, fc.option(fc.double({ min: 0, max: 100, noNaN: true })), (e, enc, battery) => {
        const wire: WireEvent = enc.format === 'avro' || battery !== null ? { ...e, battery_level: battery, firmware_version: battery === null ? null : '2.1.0' } : e;
        const r = decoder.decode(enc.encode(wire));
        expect(r).toEqual({ ok: true, event: e, eventTimeMs: Date.parse(e.event_time) });
      }),
    );
  });

  it('JSON goes through parseAndValidate unchanged', () => {
    fc.assert(
      fc.property(event, (e) => {
        const b = Buffer.from(serializeEvent(e));
        expect(decoder.decode(b)).toEqual(parseAndValidate(b));
      }),
    );
  });

  it('semantic checks give the JSON reason codes (ranges, statuses, timestamps)', () => {
    const bad: Array<Partial<TelemetryEvent> | Record<string, unknown>> = [
      { temperature: 999.5 },
      { anomaly_score: 1.5 },
      { metric_value: -2e9 },
      { status: 'broken' },
      { event_time: '2026-11-24 09:00:00Z' },
      { event_time: '2026-02-30T09:00:00Z' },
      { event_id: 'not-a-uuid' },
      { device_id: '' },
      { temperature: Number.POSITIVE_INFINITY },
    ];
    fc.assert(
      fc.property(event, fc.constantFrom(...bad), encoder, (e, patch, enc) => {
        const broken = { ...e, ...patch } as TelemetryEvent;
        const expected = parseAndValidate(JSON.stringify(broken).replace('"temperature":null', '"temperature":1e999'));
        const r = decoder.decode(enc.encode(broken));
        expect(r.ok).toBe(false);
        if (r.ok || expected.ok) return;
        expect(r.reason).toBe(expected.reason);
        expect(r.schemaId).toBe(enc.schemaId);
      }),
    );
  });

  it('truncated or extended Avro payloads are undecodable, with the schema id', () => {
    const avroEncoders = encoders.filter((x) => x.format === 'avro');
    fc.assert(
      fc.property(event, fc.constantFrom(...avroEncoders), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (e, enc, cut, extra) => {
        const full = enc.encode(e);
        const truncated = full.subarray(0, 5 + (cut % (full.length - 5)));
        expect(decoder.decode(truncated)).toMatchObject({ ok: false, reason: 'undecodable', schemaId: enc.schemaId });
        expect(decoder.decode(Buffer.concat([full, extra]))).toMatchObject({ ok: false, reason: 'undecodable', schemaId: enc.schemaId });
      }),
    );
  });

  it('arbitrary bytes after a known header never throw and never pass as a valid event unless they are one', () => {
    fc.assert(
      fc.property(fc.constantFrom(...encoders), fc.uint8Array({ maxLength: 200 }), (enc, bytes) => {
        const value = Buffer.concat([confluentHeader(enc.schemaId), enc.format === 'protobuf' ? Buffer.from([0]) : Buffer.alloc(0), bytes]);
        const r = decoder.decode(value);
        if (r.ok) expect(decoder.decode(enc.encode(r.event))).toEqual(r);
        else expect(['undecodable', 'invalid_value', 'bad_timestamp', 'out_of_range', 'missing_field', 'wrong_type']).toContain(r.reason);
      }),
    );
  });

  it('unknown schema ids, short headers and unknown magic bytes', () => {
    const enc = createEventEncoder('avro', 99);
    expect(decoder.decode(enc.encode(events[0]))).toMatchObject({ ok: false, reason: 'unknown_schema', schemaId: 99 });
    expect(JSON_ONLY_DECODER.decode(enc.encode(events[0]))).toMatchObject({ ok: false, reason: 'unknown_schema', message: expect.stringContaining('SCHEMA_REGISTRY_URL') });
    expect(decoder.decode(Buffer.from([0, 0, 0]))).toMatchObject({ ok: false, reason: 'undecodable' });
    expect(decoder.decode(Buffer.from([2, 0, 0, 0, 11, 1]))).toMatchObject({ ok: false, reason: 'undecodable', message: expect.stringContaining('magic byte 0x02') });
    expect(decoder.decode(Buffer.concat([confluentHeader(11), Buffer.alloc(9000)]))).toMatchObject({ ok: false, reason: 'too_large' });
    expect(schemaIdOf(enc.encode(events[0]))).toBe(99);
    expect(schemaIdOf(Buffer.from('{}'))).toBeUndefined();
  });

  it('a writer schema that cannot be read as the event (an incompatible type, not a schema) is undecodable, saying why', () => {
    const wrong = compileWriterSchema(5, { schema: JSON.stringify({ type: 'record', name: 'X', fields: [{ name: 'event_id', type: 'int' }] }) });
    const garbage = compileWriterSchema(6, { schemaType: 'PROTOBUF', schema: 'message {' });
    const d = staticDecoder([wrong, garbage]);
    expect(d.decode(Buffer.concat([confluentHeader(5), Buffer.from([2])]))).toMatchObject({ ok: false, reason: 'undecodable', message: expect.stringContaining('writer schema 5') });
    expect(d.decode(Buffer.concat([confluentHeader(6), Buffer.from([0])]))).toMatchObject({ ok: false, reason: 'undecodable', message: expect.stringContaining('writer schema 6') });
  });

  it('a Protobuf writer that names a message index it does not have is undecodable', () => {
    const v = Buffer.concat([confluentHeader(21), encodeMessageIndexes([3]), Buffer.from([])]);
    expect(decodeEvent(v, { schemaFor: (id) => all.find((s) => s.id === id) })).toMatchObject({ ok: false, reason: 'undecodable', message: expect.stringContaining('index path [3]') });
  });
});
