import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as avro from 'avsc';
import * as protobuf from 'protobufjs';
import { EVENT_FIELDS, TELEMETRY_EVENT_SCHEMA } from '../schema';
import { AVRO_SCHEMA_V1, AVRO_SCHEMA_V2, PROTO_SCHEMA_V1, PROTO_SCHEMA_V2, V2_FIELDS, schemaFiles, subjectFor } from './schemas';

const DIR = join(__dirname, '..', '..', '..', 'schemas');

describe('schema files (libs/event-schema/schemas)', () => {
  it('are exactly the rendered definitions, and nothing else', () => {
    const files = schemaFiles();
    expect(readdirSync(DIR).sort()).toEqual(Object.keys(files).sort());
    for (const [name, text] of Object.entries(files)) expect(readFileSync(join(DIR, name), 'utf8')).toBe(text);
  });
});

/** The field list of each description as (name, JSON-ish type), in order. */
const JSON_FIELDS = EVENT_FIELDS.map((f) => [f, TELEMETRY_EVENT_SCHEMA.properties[f].type]);
const TYPE_OF = { string: 'string', double: 'number' } as Record<string, string>;

function avroFields(schema: object): string[][] {
  const t = avro.Type.forSchema(schema as avro.Schema) as avro.types.RecordType;
  return t.fields.map((f) => [f.name, TYPE_OF[f.type.typeName] ?? `optional ${TYPE_OF[(f.type as avro.types.UnwrappedUnionType).types.find((u: avro.Type) => u.typeName !== 'null')?.typeName ?? ''] ?? '?'}`]);
}

function protoFields(text: string): Array<[string, string, number]> {
  const root = protobuf.parse(text, { keepCase: true }).root;
  const type = root.lookupType('iot.telemetry.v1.TelemetryEvent');
  return type.fieldsArray.map((f) => [f.name, TYPE_OF[f.type] ?? '?', f.id]);
}

describe('the JSON Schema, the Avro schema and the .proto describe the same event', () => {
  it('v1: same fields in the same order with the same types; every JSON field is required and has no Avro default', () => {
    expect(TELEMETRY_EVENT_SCHEMA.required).toEqual(EVENT_FIELDS);
    expect(avroFields(AVRO_SCHEMA_V1)).toEqual(JSON_FIELDS);
    expect(AVRO_SCHEMA_V1.fields.every((f) => !('default' in f))).toBe(true);
    expect(protoFields(PROTO_SCHEMA_V1)).toEqual(JSON_FIELDS.map(([n, t], i) => [n, t, i + 1]));
  });

  it('v2 is v1 plus optional fields only (nullable with a null default in Avro, new field numbers in Protobuf)', () => {
    const extra = V2_FIELDS.map((f) => [f.name, `optional ${TYPE_OF[f.avro]}`]);
    expect(avroFields(AVRO_SCHEMA_V2)).toEqual([...JSON_FIELDS, ...extra]);
    expect(AVRO_SCHEMA_V2.fields.slice(EVENT_FIELDS.length).every((f) => f.default === null)).toBe(true);
    expect(protoFields(PROTO_SCHEMA_V2)).toEqual([...JSON_FIELDS.map(([n, t], i) => [n, t, i + 1]), ...V2_FIELDS.map((f, i) => [f.name, TYPE_OF[f.proto], EVENT_FIELDS.length + i + 1])]);
  });

  it('a v1 Avro reader resolves the v2 writer (BACKWARD compatible)', () => {
    const reader = avro.Type.forSchema(AVRO_SCHEMA_V1 as avro.Schema);
    expect(() => reader.createResolver(avro.Type.forSchema(AVRO_SCHEMA_V2 as avro.Schema))).not.toThrow();
  });

  it('Avro and Protobuf have separate subjects on one topic', () => {
    expect(subjectFor('t', 'avro')).toBe('t-value');
    expect(subjectFor('t', 'protobuf')).toBe('t-iot.telemetry.v1.TelemetryEvent');
  });
});
