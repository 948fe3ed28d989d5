/**
 * Avro and Protobuf payloads of the event, on avsc and protobufjs. A writer
 * schema (as the registry returns it, or as this repo defines it) is compiled
 * once into a CompiledSchema whose decode() reads the bytes after the
 * Confluent header into the event's fields: the reader is always v1 (the
 * fields the aggregator counts), so a compatible newer writer (v2, extra
 * optional fields) is read without a redeploy and its extra fields are
 * dropped. Decoding never throws; the semantic checks (ranges, statuses,
 * timestamps) are the JSON Schema's, applied by the decoder afterwards.
 */
import * as avro from 'avsc';
import * as protobuf from 'protobufjs';
import { EVENT_FIELDS, type TelemetryEvent } from '../schema';
import { confluentHeader, decodeMessageIndexes, encodeMessageIndexes } from './confluent';
import { AVRO_SCHEMA_V1, AVRO_SCHEMA_V2, PROTO_SCHEMA_V1, PROTO_SCHEMA_V2, type BinaryFormat } from './schemas';

/** A schema as the registry serves it (`schemaType` absent means AVRO). */
export interface RegistrySchema {
  schemaType?: string;
  schema: string;
}

export type PayloadDecode = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

export interface CompiledSchema {
  readonly id: number;
  readonly format: BinaryFormat;
  /** Reads the bytes from `offset` (after magic byte and id) into the v1 fields. */
  decode(value: Buffer, offset: number): PayloadDecode;
}

const describeError = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function unreadable(id: number, format: BinaryFormat, why: string): CompiledSchema {
  const message = `writer schema ${id} (${format}) cannot be read as a TelemetryEvent: ${why}`;
  return { id, format, decode: () => ({ ok: false, message }) };
}

function compileAvro(id: number, text: string): CompiledSchema {
  let writer: avro.Type;
  try {
    writer = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
  } catch (err) {
    return unreadable(id, 'avro', describeError(err));
  }
  // Avro resolves records by name: accept the writer's name as an alias of ours.
  const name = writer.name;
  const reader = avro.Type.forSchema(name && name !== `${AVRO_SCHEMA_V1.namespace}.${AVRO_SCHEMA_V1.name}` ? ({ ...AVRO_SCHEMA_V1, aliases: [name] } as avro.Schema) : (AVRO_SCHEMA_V1 as avro.Schema));
  // A writer of the reader's own shape (v1 as this repo registers it) needs no resolution step.
  let resolver: avro.Resolver | undefined;
  if (!reader.equals(writer)) {
    try {
      resolver = reader.createResolver(writer);
    } catch (err) {
      return unreadable(id, 'avro', describeError(err));
    }
  }
  return {
    id,
    format: 'avro',
    decode(value, offset) {
      try {
        const r = resolver ? reader.decode(value, offset, resolver) : reader.decode(value, offset);
        if (r.offset < 0) return { ok: false, message: `Avro payload is truncated (writer schema ${id})` };
        if (r.offset !== value.length) return { ok: false, message: `Avro payload has ${value.length - r.offset} trailing bytes after the record (writer schema ${id})` };
        return { ok: true, value: { ...(r.value as Record<string, unknown>) } };
      } catch (err) {
        return { ok: false, message: `Avro payload does not decode with writer schema ${id}: ${describeError(err)}` };
      }
    },
  };
}

/** The top-level message types of a parsed .proto, in declaration order, with their nested ones. */
function messageAt(root: protobuf.Namespace, indexes: readonly number[]): protobuf.Type | undefined {
  let types = topLevelTypes(root);
  let type: protobuf.Type | undefined;
  for (const i of indexes) {
    type = types[i];
    if (!type) return undefined;
    types = type.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
  }
  return type;
}

function topLevelTypes(root: protobuf.Namespace): protobuf.Type[] {
  // The file's package is a chain of namespaces; its messages are the first level holding types.
  let ns: protobuf.NamespaceBase = root;
  for (;;) {
    const types = ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
    if (types.length > 0) return types;
    const next = ns.nestedArray.filter((n): n is protobuf.Namespace => n instanceof protobuf.Namespace);
    if (next.length !== 1) return [];
    ns = next[0];
  }
}

const PROTO_OBJECT_OPTIONS: protobuf.IConversionOptions = { defaults: true, longs: Number, enums: String };

function compileProtobuf(id: number, text: string): CompiledSchema {
  let root: protobuf.Root;
  try {
    root = protobuf.parse(text, { keepCase: true }).root;
    root.resolveAll();
  } catch (err) {
    return unreadable(id, 'protobuf', describeError(err));
  }
  const byPath = new Map<string, protobuf.Type | undefined>();
  return {
    id,
    format: 'protobuf',
    decode(value, offset) {
      const ix = decodeMessageIndexes(value, offset);
      if (!ix.ok) return { ok: false, message: `${ix.message} (writer schema ${id})` };
      const key = ix.indexes.join('.');
      if (!byPath.has(key)) byPath.set(key, messageAt(root, ix.indexes));
      const type = byPath.get(key);
      if (!type) return { ok: false, message: `writer schema ${id} has no message at index path [${ix.indexes.join(', ')}]` };
      try {
        const msg = type.decode(value.subarray(ix.offset));
        const all = type.toObject(msg, PROTO_OBJECT_OPTIONS);
        const out: Record<string, unknown> = {};
        for (const f of EVENT_FIELDS) if (f in all) out[f] = all[f];
        return { ok: true, value: out };
      } catch (err) {
        return { ok: false, message: `Protobuf payload does not decode with writer schema ${id}: ${describeError(err)}` };
      }
    },
  };
}

/** Compiles a writer schema for decoding; an unreadable one decodes every payload as a failure that says why. */
export function compileWriterSchema(id: number, s: RegistrySchema): CompiledSchema {
  const type = (s.schemaType ?? 'AVRO').toUpperCase();
  if (type === 'AVRO') return compileAvro(id, s.schema);
  if (type === 'PROTOBUF') return compileProtobuf(id, s.schema);
  return unreadable(id, 'avro', `schema type ${type} is not a wire format of the event (avro, protobuf)`);
}

/** An event of v1, or of v2 with its optional fields. */
export type WireEvent = TelemetryEvent & { battery_level?: number | null; firmware_version?: string | null };

/** Writes events in one binary format under one registered schema id. */
export interface EventEncoder {
  readonly format: BinaryFormat;
  readonly schemaId: number;
  encode(event: WireEvent): Buffer;
}

/** Encoder for the repo's schema of `version` registered as `schemaId`. */
export function createEventEncoder(format: BinaryFormat, schemaId: number, version: 1 | 2 = 1): EventEncoder {
  const header = confluentHeader(schemaId);
  if (format === 'avro') {
    const type = avro.Type.forSchema((version === 1 ? AVRO_SCHEMA_V1 : AVRO_SCHEMA_V2) as avro.Schema);
    const v2 = version === 2;
    return {
      format,
      schemaId,
      encode(e) {
        const record = v2 ? { ...e, battery_level: e.battery_level ?? null, firmware_version: e.firmware_version ?? null } : e;
        return Buffer.concat([header, type.toBuffer(record)]);
      },
    };
  }
  const root = protobuf.parse(version === 1 ? PROTO_SCHEMA_V1 : PROTO_SCHEMA_V2, { keepCase: true }).root;
  const type = messageAt(root, [0]) as protobuf.Type;
  const prefix = Buffer.concat([header, encodeMessageIndexes([0])]);
  return {
    format,
    schemaId,
    encode(e) {
      const payload = type.encode(e as unknown as Record<string, unknown>).finish();
      return Buffer.concat([prefix, payload]);
    },
  };
}
