/**
 * The one definition of a telemetry event. The JSON Schema below is the
 * source of truth: the TypeScript type is derived from it at compile time, the
 * validator compiles it with ajv, and the README's field table is rendered
 * from it (a unit test keeps the README in sync).
 */

/** Values of `status`, in order of severity, with what each one means. */
export const STATUS_MEANINGS = {
  ok: 'normal operation',
  warning: 'the device reports a reading outside its usual band',
  error: 'the device reports a fault (often together with a high anomaly_score)',
  offline: 'a gateway reports the device as unreachable; readings are the last known values',
} as const;

export type EventStatus = keyof typeof STATUS_MEANINGS;
export const EVENT_STATUSES: readonly EventStatus[] = Object.keys(STATUS_MEANINGS) as EventStatus[];

/** Largest accepted message, in bytes; larger payloads are rejected as `too_large` before parsing. */
export const MAX_EVENT_BYTES = 8192;

/** Default anomaly threshold: an event with `anomaly_score >= 0.9` is an anomaly. */
export const DEFAULT_ANOMALY_THRESHOLD = 0.9;

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]*$';
export const UTC_INSTANT_PATTERN =
  '^(19[7-9][0-9]|20[0-9][0-9]|210[0-5])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?Z$';

/** JSON Schema (draft-07) of one raw telemetry event, as carried on `iot.telemetry.raw.v1`. */
export const TELEMETRY_EVENT_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://stream-analytics-platform/schemas/telemetry-event.v1.json',
  title: 'TelemetryEvent',
  description: 'One IoT telemetry reading: a JSON object per Kafka message, keyed by device_id.',
  type: 'object',
  additionalProperties: false,
  required: ['event_id', 'event_time', 'device_id', 'user_id', 'temperature', 'metric_value', 'status', 'anomaly_score'],
  properties: {
    event_id: {
      type: 'string',
      minLength: 36,
      maxLength: 36,
      pattern: UUID_PATTERN,
      description: 'Unique id of the event (UUID, 8-4-4-4-12 hex digits); a redelivered event keeps its id.',
    },
    event_time: {
      type: 'string',
      minLength: 20,
      maxLength: 30,
      pattern: UTC_INSTANT_PATTERN,
      format: 'date-time',
      description:
        'When the reading was taken: UTC ISO-8601 with a Z suffix and 0-9 fractional digits, e.g. 2026-11-24T09:00:00.123Z; a real calendar date in years 1970-2105. Windows are assigned by this time.',
    },
    device_id: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: ID_PATTERN,
      description: 'Sending device; also the Kafka message key, so one device keeps its order within one partition. Letters, digits and . _ : - only.',
    },
    user_id: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: ID_PATTERN,
      description: 'Owner of the device (stable per device). Letters, digits and . _ : - only.',
    },
    temperature: {
      type: 'number',
      minimum: -100,
      maximum: 150,
      description: 'Measured temperature in degrees Celsius (the sensors\u2019 range).',
    },
    metric_value: {
      type: 'number',
      minimum: -1e9,
      maximum: 1e9,
      description: 'The device\u2019s primary metric (e.g. power draw); averaged per window.',
    },
    status: {
      type: 'string',
      enum: EVENT_STATUSES,
      description: `Device status: ${Object.entries(STATUS_MEANINGS)
        .map(([k, v]) => `${k} (${v})`)
        .join('; ')}.`,
    },
    anomaly_score: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: `Anomaly score in [0, 1]; the event counts as an anomaly when it is at least the threshold (default ${DEFAULT_ANOMALY_THRESHOLD}).`,
    },
  },
} as const;

type Props = typeof TELEMETRY_EVENT_SCHEMA.properties;
type FieldValue<P> = P extends { readonly enum: readonly (infer E)[] }
  ? E
  : P extends { readonly type: 'string' }
    ? string
    : P extends { readonly type: 'number' | 'integer' }
      ? number
      : P extends { readonly type: 'boolean' }
        ? boolean
        : never;

/** A valid telemetry event, derived from TELEMETRY_EVENT_SCHEMA (every property is required). */
export type TelemetryEvent = { [K in keyof Props]: FieldValue<Props[K]> };
export type EventField = keyof TelemetryEvent;

// Compile-time guarantee that `required` names exactly the declared properties,
// so deriving an all-required type from `properties` is faithful.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const requiredIsComplete: Same<(typeof TELEMETRY_EVENT_SCHEMA.required)[number], EventField> = true;
void requiredIsComplete;

/** Field names in schema order (the order the generator writes them). */
export const EVENT_FIELDS = [...TELEMETRY_EVENT_SCHEMA.required] as EventField[];
