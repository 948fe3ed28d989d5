/** Names fixed by the design contract; overridable through the shared environment names. */
export const DEFAULT_TOPICS = {
  raw: 'iot.telemetry.raw.v1',
  aggregate: 'iot.telemetry.minute-agg.v1',
  deadLetter: 'iot.telemetry.dlq.v1',
} as const;

export const DEFAULT_BROKERS = '127.0.0.1:9092';
export const DEFAULT_CLICKHOUSE_URL = 'http://127.0.0.1:8123';
