/**
 * The event's binary schemas: Avro (`.avsc`) and Protobuf (`.proto`), beside
 * the JSON Schema of schema.ts. The files in libs/event-schema/schemas/ are
 * rendered from these definitions (a test keeps them byte-equal), and another
 * test keeps the three descriptions equivalent: same fields, same order, same
 * types (string -> string, number -> double).
 *
 * v1 is the event every app reads. v2 is the first evolution: a firmware that
 * adds optional fields (battery level, firmware version). It is registered
 * beside v1 (BACKWARD compatible: a v1 reader reads it) and the aggregator,
 * which reads with v1, counts v2 events without a redeploy.
 */
import { EVENT_FIELDS, TELEMETRY_EVENT_SCHEMA, type EventField } from '../schema';

/** The binary wire formats (Confluent wire format: magic byte 0, 4-byte schema id, payload). */
export type BinaryFormat = 'avro' | 'protobuf';
export type WireFormat = 'json' | BinaryFormat;
export const WIRE_FORMATS: readonly WireFormat[] = ['json', 'avro', 'protobuf'];

/** Field types on the binary wires, derived from the JSON Schema types. */
const AVRO_TYPE_OF = { string: 'string', number: 'double' } as const;
const PROTO_TYPE_OF = { string: 'string', number: 'double' } as const;

export const AVRO_NAMESPACE = 'iot.telemetry';
export const AVRO_RECORD_NAME = 'TelemetryEvent';
export const PROTO_PACKAGE = 'iot.telemetry.v1';
export const PROTO_MESSAGE_NAME = 'TelemetryEvent';

const jsonTypeOf = (f: EventField): 'string' | 'number' => TELEMETRY_EVENT_SCHEMA.properties[f].type;

/** Fields added by v2, all optional (null / absent by default). */
export const V2_FIELDS = [
  { name: 'battery_level', avro: 'double', proto: 'double', doc: 'Battery charge in percent (firmware 2 and later); null when unknown.' },
  { name: 'firmware_version', avro: 'string', proto: 'string', doc: 'Firmware version of the device (firmware 2 and later); null when unknown.' },
] as const;

export interface AvroField {
  name: string;
  type: string | readonly string[];
  doc?: string;
  default?: null;
}
export interface AvroRecordSchema {
  type: 'record';
  name: string;
  namespace: string;
  doc: string;
  fields: AvroField[];
}

function avroSchema(version: 1 | 2): AvroRecordSchema {
  const fields: AvroField[] = EVENT_FIELDS.map((f) => ({ name: f, type: AVRO_TYPE_OF[jsonTypeOf(f)], doc: TELEMETRY_EVENT_SCHEMA.properties[f].description }));
  if (version === 2) for (const f of V2_FIELDS) fields.push({ name: f.name, type: ['null', f.avro], doc: f.doc, default: null });
  return {
    type: 'record',
    name: AVRO_RECORD_NAME,
    namespace: AVRO_NAMESPACE,
    doc: `${TELEMETRY_EVENT_SCHEMA.description} Avro, schema version ${version}; the ranges, status values and timestamp form of the JSON Schema apply to the decoded event.`,
    fields,
  };
}

/** The Avro schema of v1 (the reader schema of every consumer). */
export const AVRO_SCHEMA_V1: AvroRecordSchema = avroSchema(1);
/** v1 plus optional battery_level and firmware_version. */
export const AVRO_SCHEMA_V2: AvroRecordSchema = avroSchema(2);

function protoSchema(version: 1 | 2): string {
  const lines = [
    '// One IoT telemetry reading (Confluent wire format: magic byte 0, schema id, message indexes, payload).',
    `// Schema version ${version}. The ranges, status values and timestamp form of the JSON Schema`,
    '// (libs/event-schema) apply to the decoded event; proto3 has no presence for plain scalars, so an',
    '// absent number reads as 0 and an absent string as "" (which the string rules refuse).',
    'syntax = "proto3";',
    '',
    `package ${PROTO_PACKAGE};`,
    '',
    `message ${PROTO_MESSAGE_NAME} {`,
    ...EVENT_FIELDS.map((f, i) => `  ${PROTO_TYPE_OF[jsonTypeOf(f)]} ${f} = ${i + 1};`),
    ...(version === 2 ? V2_FIELDS.map((f, i) => `  ${f.proto} ${f.name} = ${EVENT_FIELDS.length + i + 1};`) : []),
    '}',
    '',
  ];
  return lines.join('\n');
}

/** The .proto of v1 (field numbers 1-8 in schema order). */
export const PROTO_SCHEMA_V1: string = protoSchema(1);
/** v1 plus battery_level (9) and firmware_version (10). */
export const PROTO_SCHEMA_V2: string = protoSchema(2);

/** The schema files kept in libs/event-schema/schemas/, by file name (rendered from the definitions above). */
export function schemaFiles(): Record<string, string> {
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  return {
    'telemetry-event.v1.schema.json': json(TELEMETRY_EVENT_SCHEMA),
    'telemetry-event.v1.avsc': json(AVRO_SCHEMA_V1),
    'telemetry-event.v2.avsc': json(AVRO_SCHEMA_V2),
    'telemetry-event.v1.proto': PROTO_SCHEMA_V1,
    'telemetry-event.v2.proto': PROTO_SCHEMA_V2,
  };
}

/**
 * The registry subject of a format on a topic. Avro uses the default
 * TopicNameStrategy (`<topic>-value`), as any Confluent Avro producer does;
 * Protobuf uses TopicRecordNameStrategy (`<topic>-<package>.<message>`), so
 * both formats can share one topic (one subject holds one schema type).
 */
export function subjectFor(topic: string, format: BinaryFormat): string {
  return format === 'avro' ? `${topic}-value` : `${topic}-${PROTO_PACKAGE}.${PROTO_MESSAGE_NAME}`;
}

/** The schema text registered for a format and version. */
export function schemaTextFor(format: BinaryFormat, version: 1 | 2 = 1): string {
  if (format === 'avro') return JSON.stringify(version === 1 ? AVRO_SCHEMA_V1 : AVRO_SCHEMA_V2);
  return version === 1 ? PROTO_SCHEMA_V1 : PROTO_SCHEMA_V2;
}

/** The registry's schemaType of a format. */
export const REGISTRY_SCHEMA_TYPE: Record<BinaryFormat, 'AVRO' | 'PROTOBUF'> = { avro: 'AVRO', protobuf: 'PROTOBUF' };
