/**
 * The dead-letter envelope shared by the aggregator (which writes it) and the
 * DLQ replayer (which reads it). A DLQ message keeps the original key and the
 * original bytes as its value; everything else travels in headers, so the
 * payload is never re-encoded and a reader can always get the exact input back.
 *
 * The source partition and offset identify an entry: after a crash the
 * aggregator may write the same entry again, and readers count distinct
 * (source topic, partition, offset).
 */
export const DLQ_HEADERS = {
  reason: 'dlq.reason',
  message: 'dlq.message',
  sourceTopic: 'dlq.source.topic',
  sourcePartition: 'dlq.source.partition',
  sourceOffset: 'dlq.source.offset',
  sourceTimestamp: 'dlq.source.timestamp',
  /** Event-time window start (ISO-8601) for late events; empty for unparseable ones. */
  windowStart: 'dlq.window.start',
  recordedAt: 'dlq.recorded.at',
  /** Binary formats only: the schema id the message named (absent for JSON). */
  schemaId: 'dlq.schema.id',
} as const;

export interface DeadLetterEntry {
  reason: string;
  message: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  /** Kafka timestamp of the source record, ms since the epoch. */
  sourceTimestampMs: number;
  windowStartMs?: number;
  recordedAtMs: number;
  /** The schema id of a Confluent wire-format message (header only when set). */
  schemaId?: number;
}

export type KafkaHeaders = Array<Record<string, string | Buffer>>;

export function deadLetterHeaders(entry: DeadLetterEntry): KafkaHeaders {
  const headers: KafkaHeaders = [
    { [DLQ_HEADERS.reason]: entry.reason },
    { [DLQ_HEADERS.message]: entry.message },
    { [DLQ_HEADERS.sourceTopic]: entry.sourceTopic },
    { [DLQ_HEADERS.sourcePartition]: String(entry.sourcePartition) },
    { [DLQ_HEADERS.sourceOffset]: String(entry.sourceOffset) },
    { [DLQ_HEADERS.sourceTimestamp]: String(entry.sourceTimestampMs) },
    { [DLQ_HEADERS.windowStart]: entry.windowStartMs === undefined ? '' : new Date(entry.windowStartMs).toISOString() },
    { [DLQ_HEADERS.recordedAt]: String(entry.recordedAtMs) },
  ];
  if (entry.schemaId !== undefined) headers.push({ [DLQ_HEADERS.schemaId]: String(entry.schemaId) });
  return headers;
}

export type ParsedDeadLetter = { ok: true; entry: DeadLetterEntry } | { ok: false; problem: string };

/**
 * Reads the envelope back. Missing or unreadable headers are reported as a
 * problem (the replayer lists them) rather than thrown.
 */
export function parseDeadLetterHeaders(headers: KafkaHeaders | undefined): ParsedDeadLetter {
  const flat = new Map<string, string>();
  for (const h of headers ?? []) for (const [k, v] of Object.entries(h)) flat.set(k, Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  const missing = [DLQ_HEADERS.reason, DLQ_HEADERS.sourceTopic, DLQ_HEADERS.sourcePartition, DLQ_HEADERS.sourceOffset].filter((k) => !flat.has(k));
  if (missing.length > 0) return { ok: false, problem: `missing headers: ${missing.join(', ')}` };
  const int = (k: string) => {
    const text = flat.get(k) ?? '';
    return /^\d+$/.test(text) ? Number(text) : NaN;
  };
  const sourcePartition = int(DLQ_HEADERS.sourcePartition);
  const sourceOffset = int(DLQ_HEADERS.sourceOffset);
  if (!Number.isSafeInteger(sourcePartition) || !Number.isSafeInteger(sourceOffset)) return { ok: false, problem: 'source partition/offset headers are not integers' };
  const windowText = flat.get(DLQ_HEADERS.windowStart) ?? '';
  const windowStartMs = windowText ? Date.parse(windowText) : undefined;
  return {
    ok: true,
    entry: {
      reason: flat.get(DLQ_HEADERS.reason) ?? '',
      message: flat.get(DLQ_HEADERS.message) ?? '',
      sourceTopic: flat.get(DLQ_HEADERS.sourceTopic) ?? '',
      sourcePartition,
      sourceOffset,
      sourceTimestampMs: Number(flat.get(DLQ_HEADERS.sourceTimestamp) ?? NaN),
      windowStartMs: windowStartMs !== undefined && Number.isFinite(windowStartMs) ? windowStartMs : undefined,
      recordedAtMs: Number(flat.get(DLQ_HEADERS.recordedAt) ?? NaN),
      ...(flat.has(DLQ_HEADERS.schemaId) ? { schemaId: Number(flat.get(DLQ_HEADERS.schemaId)) } : {}),
    },
  };
}
