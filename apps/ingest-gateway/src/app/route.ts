/**
 * Where each event of a message or request goes: valid events to the raw
 * topic keyed by device_id, with their bytes as received; invalid ones to the
 * DLQ with the shared envelope (reason, message, source) and the gateway's
 * origin headers. Every record is added to the ingest it belongs to.
 */
import { deadLetterHeaders, parseAndValidate, type EventEncoder, type KafkaHeaders, type ReasonCode, type ValidationResult } from '@stream-analytics/event-schema';
import type { Ingest } from './acks';

/** Headers the gateway adds to a dead letter, saying where the event came from. */
export const ORIGIN_HEADERS = {
  transport: 'ingest.transport',
  mqttTopic: 'ingest.mqtt.topic',
  httpClient: 'ingest.http.client',
  httpRemote: 'ingest.http.remote',
  gateway: 'ingest.gateway',
  index: 'ingest.event.index',
} as const;

export type Origin = { transport: 'mqtt'; topic: string } | { transport: 'http'; client: string; remote: string };

export interface RecordSink {
  send(topic: string, value: Buffer, key: string | Buffer | null, headers: KafkaHeaders | undefined, ingest: Ingest): void;
}

export interface Verdict {
  index: number;
  reason: ReasonCode;
  message: string;
}

/**
 * The dead-letter identity of an event: source topic = the origin
 * (`mqtt:<topic>` or `http:<client>`), partition = the event's index in its
 * message, offset = a sequence unique within the gateway process and
 * increasing across restarts (epoch microseconds at start, then +1 per dead letter).
 */
export class DeadLetterSequence {
  private next: number;
  constructor(nowMs = Date.now()) {
    this.next = nowMs * 1000;
  }
  take(): number {
    return this.next++;
  }
}

export interface Router {
  rawTopic: string;
  dlqTopic: string;
  gatewayId: string;
  sink: RecordSink;
  sequence: DeadLetterSequence;
  /** --format avro|protobuf: valid events are re-encoded (devices send JSON); undefined: the device's bytes as they are. */
  encoder?: EventEncoder;
}

function deviceOf(item: Buffer): string | null {
  try {
    const d = (JSON.parse(item.toString('utf8')) as Record<string, unknown>)?.['device_id'];
    return typeof d === 'string' && d.length > 0 ? d : null;
  } catch {
    return null;
  }
}

function originHeaders(origin: Origin, gatewayId: string, index: number): KafkaHeaders {
  const h: KafkaHeaders = [{ [ORIGIN_HEADERS.transport]: origin.transport }];
  if (origin.transport === 'mqtt') h.push({ [ORIGIN_HEADERS.mqttTopic]: origin.topic });
  else h.push({ [ORIGIN_HEADERS.httpClient]: origin.client }, { [ORIGIN_HEADERS.httpRemote]: origin.remote });
  h.push({ [ORIGIN_HEADERS.gateway]: gatewayId }, { [ORIGIN_HEADERS.index]: String(index) });
  return h;
}

export const originName = (o: Origin): string => (o.transport === 'mqtt' ? `mqtt:${o.topic}` : `http:${o.client}`);

export const validateItems = (items: readonly Buffer[]): ValidationResult[] => items.map((item) => parseAndValidate(item));

/** Sends each validated item where it belongs; returns the rejected ones (already on their way to the DLQ). */
export function routeItems(router: Router, items: readonly Buffer[], results: readonly ValidationResult[], origin: Origin, receivedAtMs: number, ingest: Ingest): Verdict[] {
  const rejected: Verdict[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const result = results[index];
    if (result.ok) {
      router.sink.send(router.rawTopic, router.encoder ? router.encoder.encode(result.event) : item, result.event.device_id, undefined, ingest);
      continue;
    }
    rejected.push({ index, reason: result.reason, message: result.message });
    const headers = [
      ...deadLetterHeaders({
        reason: result.reason,
        message: result.message,
        sourceTopic: originName(origin),
        sourcePartition: index,
        sourceOffset: router.sequence.take(),
        sourceTimestampMs: receivedAtMs,
        recordedAtMs: Date.now(),
      }),
      ...originHeaders(origin, router.gatewayId, index),
    ];
    router.sink.send(router.dlqTopic, item, deviceOf(item), headers, ingest);
  }
  return rejected;
}
