/**
 * The decoder port: one place that turns a raw message value into a
 * ValidationResult, whatever format it is in (a message says what it is, so
 * JSON, Avro and Protobuf can share a topic while a fleet migrates).
 *
 *  - decode() is synchronous and pure: JSON goes to parseAndValidate,
 *    unchanged; the Confluent wire format is framed (confluent.ts), its
 *    payload read with the writer schema (codecs.ts) and the result checked by
 *    the same JSON Schema rules (validateEvent), so reason codes match JSON's.
 *  - prepare() is the async batch step: it resolves the schema ids of a batch
 *    before the synchronous fold. Implementations that talk to a registry
 *    (libs/schema-registry) reject while the registry is unreachable for an id
 *    they do not know; the caller retries, it never dead-letters valid data.
 */
import { MAX_EVENT_BYTES } from '../schema';
import { scanEvent } from '../event-scanner';
import { parseAndValidate, validateEvent, type InvalidEvent, type ValidationResult } from '../validator';
import type { ReasonCode } from '../reasons';
import { payloadKind, readConfluentFrame } from './confluent';
import type { CompiledSchema } from './codecs';

/** Known writer schemas by id; undefined means the id is not known (unknown_schema). */
export interface SchemaLookup {
  schemaFor(id: number): CompiledSchema | undefined;
  /** Why an id is unknown, for the dead letter's message. */
  unknownReason?(id: number): string;
}

export type MessageHeaders = ReadonlyArray<Record<string, string | Buffer | undefined>> | undefined;

export interface EventDecoder {
  /** Decodes and validates one message value. Never throws. */
  decode(value: Buffer | null | undefined, headers?: MessageHeaders): ValidationResult;
  /** decode() of the value `buf[start, end)`, read in place (a message in a packed batch). */
  decodeRange(buf: Buffer, start: number, end: number): ValidationResult;
  /**
   * Makes every schema id among `values` known to decode() (or known to be
   * unknown). Rejects when that cannot be decided now (registry unreachable):
   * retry later, do not decode those values meanwhile.
   */
  prepare(values: ReadonlyArray<Buffer | null | undefined>): Promise<void>;
}

function invalid(reason: ReasonCode, message: string, schemaId?: number): InvalidEvent {
  return schemaId === undefined ? { ok: false, reason, message } : { ok: false, reason, message, schemaId };
}

/** The schema id of a Confluent-framed value, or undefined for anything else. */
export function schemaIdOf(value: Uint8Array | null | undefined): number | undefined {
  if (payloadKind(value) !== 'confluent') return undefined;
  const frame = readConfluentFrame(value as Uint8Array);
  return frame.ok ? frame.schemaId : undefined;
}

/** Decodes one message value with the schemas `lookup` knows. */
export function decodeEvent(value: Buffer | null | undefined, lookup: SchemaLookup): ValidationResult {
  const kind = payloadKind(value);
  if (kind === 'json') return parseAndValidate(value);
  const bytes = value as Buffer;
  if (kind === 'unknown_magic') {
    return invalid('undecodable', `unknown magic byte 0x${bytes[0].toString(16).padStart(2, '0')}: neither JSON nor the Confluent wire format (magic byte 0)`);
  }
  if (bytes.length > MAX_EVENT_BYTES) return invalid('too_large', `payload is ${bytes.length} bytes; the limit is ${MAX_EVENT_BYTES}`);
  const frame = readConfluentFrame(bytes);
  if (!frame.ok) return invalid('undecodable', frame.message);
  const schema = lookup.schemaFor(frame.schemaId);
  if (!schema) return invalid('unknown_schema', lookup.unknownReason?.(frame.schemaId) ?? `schema id ${frame.schemaId} is not known to the schema registry`, frame.schemaId);
  const decoded = schema.decode(bytes, frame.payloadOffset);
  if (!decoded.ok) return invalid('undecodable', decoded.message, frame.schemaId);
  const r = validateEvent(decoded.value);
  return r.ok ? r : { ...r, schemaId: frame.schemaId };
}

/**
 * decodeEvent of the value `buf[start, end)`. The scanner reads a JSON event
 * where it lies; whatever it does not accept takes decodeEvent's path over a
 * view of the same bytes, so every verdict is decodeEvent's by construction.
 */
export function decodeEventRange(buf: Buffer, start: number, end: number, lookup: SchemaLookup): ValidationResult {
  return scanEvent(buf, start, end) ?? decodeEvent(buf.subarray(start, end), lookup);
}

/** A decoder over a fixed set of schemas (tests, tools); prepare() has nothing to fetch. */
export function staticDecoder(schemas: Iterable<CompiledSchema> = [], unknownReason?: (id: number) => string): EventDecoder {
  const byId = new Map<number, CompiledSchema>();
  for (const s of schemas) byId.set(s.id, s);
  const lookup: SchemaLookup = { schemaFor: (id) => byId.get(id), unknownReason };
  return { decode: (value) => decodeEvent(value, lookup), decodeRange: (buf, start, end) => decodeEventRange(buf, start, end, lookup), prepare: () => Promise.resolve() };
}

/**
 * The decoder of an app without a schema registry: JSON as always; a
 * Confluent-framed message is unknown_schema (nothing can resolve its id).
 */
export const JSON_ONLY_DECODER: EventDecoder = staticDecoder([], (id) => `schema id ${id}: no schema registry is configured (SCHEMA_REGISTRY_URL)`);
