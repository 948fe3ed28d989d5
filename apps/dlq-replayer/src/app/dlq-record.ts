/**
 * One message of the dead-letter topic, decoded defensively: the envelope
 * headers may be missing or unreadable (reported, never fatal), the value is
 * the original bytes and may be anything.
 */
import { parseDeadLetterHeaders, type DeadLetterEntry, type KafkaHeaders } from '@stream-analytics/event-schema';

export interface DlqMessageLike {
  topic: string;
  partition: number;
  offset: number;
  timestamp?: number;
  key?: Buffer | string | null;
  value: Buffer | null;
  headers?: KafkaHeaders;
}

export interface DlqRecord {
  dlqTopic: string;
  dlqPartition: number;
  dlqOffset: number;
  /** Kafka timestamp of the DLQ record (when it was dead-lettered). */
  dlqTimestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  /** The envelope, when the headers are readable. */
  entry?: DeadLetterEntry;
  /** Why the envelope is unreadable. */
  problem?: string;
  /** The message key, else the payload's device_id, else null. */
  device: string | null;
}

/** Identity of a dead-lettered source event: its source topic, partition and offset. */
export function sourceKey(e: Pick<DeadLetterEntry, 'sourceTopic' | 'sourcePartition' | 'sourceOffset'>): string {
  return `${e.sourceTopic}|${e.sourcePartition}|${e.sourceOffset}`;
}

/** Ledger key: the source event replayed to one target topic. */
export function ledgerKey(targetTopic: string, e: Pick<DeadLetterEntry, 'sourceTopic' | 'sourcePartition' | 'sourceOffset'>): string {
  return `${targetTopic}|${sourceKey(e)}`;
}

function deviceOf(key: Buffer | null, value: Buffer | null): string | null {
  if (key !== null && key.length > 0 && key.length <= 256) {
    const text = key.toString('utf8');
    if (!text.includes('\uFFFD')) return text;
  }
  if (value === null || value.length === 0 || value.length > 65536) return null;
  try {
    const data = JSON.parse(value.toString('utf8')) as unknown;
    if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
      const d = (data as Record<string, unknown>)['device_id'];
      if (typeof d === 'string' && d.length > 0) return d;
    }
  } catch {
    // not JSON: no device
  }
  return null;
}

export function decodeDlqMessage(m: DlqMessageLike): DlqRecord {
  const key = m.key == null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(String(m.key));
  const value = m.value ?? null;
  const base = {
    dlqTopic: m.topic,
    dlqPartition: m.partition,
    dlqOffset: m.offset,
    dlqTimestampMs: m.timestamp ?? NaN,
    key,
    value,
    device: deviceOf(key, value),
  };
  let parsed: ReturnType<typeof parseDeadLetterHeaders>;
  try {
    parsed = parseDeadLetterHeaders(m.headers);
  } catch (err) {
    return { ...base, problem: `unreadable headers: ${(err as Error).message}` };
  }
  if (!parsed.ok) return { ...base, problem: parsed.problem };
  if (parsed.entry.sourceTopic === '') return { ...base, problem: 'empty source topic header' };
  return { ...base, entry: parsed.entry };
}
