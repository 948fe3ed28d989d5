/**
 * The dead-letter vocabulary: every reason an event can be rejected for, with
 * what it means. The validator emits all of them except `late_event`,
 * `future_event_time` and `beyond_retention`, which the aggregator assigns
 * (the event is valid but its event time cannot be counted); they live here
 * so the DLQ has one vocabulary.
 */
export const REASON_CODES = {
  invalid_json: 'The payload is not a JSON document (syntax error, truncated, empty, or not valid UTF-8).',
  too_large: 'The payload is larger than MAX_EVENT_BYTES (8192 bytes); it is rejected before parsing.',
  wrong_type: 'The payload is not a JSON object, or a field has the wrong JSON type (e.g. "temperature":"21.5", a numeric string).',
  missing_field: 'A required field is absent.',
  unknown_field: 'The object has a field the schema does not define.',
  out_of_range: 'A number is outside its allowed range (or not finite, e.g. 1e999).',
  invalid_value: 'A string breaks its constraint: not one of the status values, wrong length, or forbidden characters.',
  bad_timestamp: 'event_time is not a UTC ISO-8601 instant such as 2026-11-24T09:00:00.123Z (offset, space separator, no Z, impossible date).',
  undecodable:
    'A binary message that does not decode: an unknown magic byte (neither JSON nor the Confluent wire format), a truncated header, or an Avro/Protobuf payload its writer schema cannot read.',
  unknown_schema: 'A Confluent wire-format message whose schema id the schema registry does not know (or no registry is configured).',
  late_event: "Valid event whose window ended ALLOWED_LATENESS_SECS (default 24 h) or more before its partition's watermark: beyond the lateness horizon; assigned by the aggregator.",
  future_event_time: 'Valid event whose event_time is more than MAX_FUTURE_SKEW_SECS (default 300 s) ahead of its Kafka record timestamp (a device clock far ahead); never moves a watermark; assigned by the aggregator.',
  beyond_retention:
    "Valid event whose window's day is older than AGGREGATE_RETENTION_DAYS (default 30) at its Kafka record timestamp: its rows would be dropped by the retention job; raise the retention before backfilling such history; assigned by the aggregator.",
} as const;

export type ReasonCode = keyof typeof REASON_CODES;
export const REASON_CODE_LIST = Object.keys(REASON_CODES) as ReasonCode[];

/** Valid event beyond the lateness horizon (assigned by the aggregator). */
export const LATE_EVENT = 'late_event' satisfies ReasonCode;
/** Valid event too far ahead of its record timestamp (assigned by the aggregator). */
export const FUTURE_EVENT_TIME = 'future_event_time' satisfies ReasonCode;
/** Valid event whose window is older than the aggregate retention (assigned by the aggregator). */
export const BEYOND_RETENTION = 'beyond_retention' satisfies ReasonCode;

/** The reasons of the binary wire formats (Avro, Protobuf), assigned by the decoder (wire/decoder.ts), never by the JSON validator. */
export const BINARY_FORMAT_REASONS: readonly ReasonCode[] = ['undecodable', 'unknown_schema'];

/** The reasons the aggregator assigns to valid events (the validator never emits them). */
export const EVENT_TIME_REASONS: readonly ReasonCode[] = [LATE_EVENT, FUTURE_EVENT_TIME, BEYOND_RETENTION];

/**
 * How readers count a dead letter: `late` and `future` are valid events the
 * aggregator could not count by their time, `invalid` is everything else
 * (malformed input). The one classification: the SQL views that count dead
 * letters per minute are checked against it (clickhouse-sink's
 * reason-classes spec), and the test oracles use it.
 */
export type DeadLetterClass = 'invalid' | 'late' | 'future';

export function deadLetterClassOf(reason: string): DeadLetterClass {
  return reason === LATE_EVENT ? 'late' : reason === FUTURE_EVENT_TIME ? 'future' : 'invalid';
}
