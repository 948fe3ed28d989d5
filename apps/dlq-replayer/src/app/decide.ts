/**
 * The replay decision for one DLQ record, as a pure function of the record,
 * the run's options and what is known so far (entries seen in this run, the
 * ledger of entries already replayed, the target partitions' newest event
 * times, the timestamp the replayed record will carry).
 *
 * Order of the checks (the first that applies wins):
 *   unreadable        envelope headers missing/unreadable: reported, left alone
 *   not_selected      outside the selection
 *   duplicate         same source topic/partition/offset seen earlier in this run
 *   already_replayed  in the ledger: replayed by an earlier (committed) run
 *   refused <reason code>      still invalid after the chosen repairs
 *   refused future_event_time  more than the future skew ahead of the replayed
 *                              record's timestamp or of its original one (a
 *                              wrong clock stays wrong however late the replay)
 *   refused late_event         beyond the lateness horizon of its target
 *                              partition's watermark (estimate)
 *   replay            counted by the aggregator, exactly once; flagged
 *                     intoFinalWindow when its window is already final (it is
 *                     counted as a late event and revises that window)
 *
 * The event-time rules are the aggregator's own (libs/windowing), with the
 * same knobs: a late_event entry dead-lettered under a smaller horizon, or a
 * repaired entry of a window final by now, is replayed and counted.
 */
import { JSON_ONLY_DECODER, repairPayload, type EventDecoder, type RepairName, type TelemetryEvent } from '@stream-analytics/event-schema';
import { BEYOND_RETENTION_REASON, isBeyondAggregateRetention } from '@stream-analytics/clickhouse-sink';
import { isFutureEvent, judgeEventTime, type WindowingConfig } from '@stream-analytics/windowing';
import { ledgerKey, sourceKey, type DlqRecord } from './dlq-record';
import { selects, type Selection } from './selection';

/**
 * A partition's watermark as the aggregator defines it (max accepted event
 * time minus the out-of-orderness bound), from the newest accepted event time
 * known on it; -Infinity when none is known.
 */
export function watermarkEstimate(maxAcceptedEventTimeMs: number | undefined, cfg: WindowingConfig): number {
  return maxAcceptedEventTimeMs === undefined || !Number.isFinite(maxAcceptedEventTimeMs) ? -Infinity : maxAcceptedEventTimeMs - cfg.maxOutOfOrdernessMs;
}

/**
 * The event time a raw record moves its partition's watermark to, or
 * undefined when it moves nothing: invalid, or in the future of its own
 * record timestamp (the aggregator dead-letters it and its watermark ignores it).
 */
export function acceptedEventTime(value: Buffer | null, recordTimestampMs: number | undefined, cfg: WindowingConfig, decoder: EventDecoder = JSON_ONLY_DECODER): number | undefined {
  const r = decoder.decode(value);
  if (!r.ok || isFutureEvent(cfg, r.eventTimeMs, recordTimestampMs)) return undefined;
  return r.eventTimeMs;
}

/** The source record's timestamp from the envelope; 0, negative or missing means unknown (old formats, writers without one). */
const originalTimestamp = (ms: number): number | undefined => (Number.isFinite(ms) && ms > 0 ? ms : undefined);

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));
const secs = (ms: number) => `${ms / 1000} s`;

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as librdkafka's murmur2 partitioners use. */
export function murmur2(data: Buffer): number {
  const length = data.length;
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= data[whole + 2] << 16;
  if (tail >= 2) h ^= data[whole + 1] << 8;
  if (tail >= 1) {
    h ^= data[whole];
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * Partition a replayed record goes to: its source partition when it is
 * replayed into the topic it came from (the device's partition, whatever
 * partitioner the producer used); otherwise the key's murmur2 partition (the
 * producer app's partitioner), or undefined without a key (librdkafka picks).
 */
export function targetPartition(rec: DlqRecord, targetTopic: string, targetPartitions: number): number | undefined {
  const e = rec.entry!;
  if (e.sourceTopic === targetTopic && e.sourcePartition < targetPartitions) return e.sourcePartition;
  if (rec.key === null) return undefined;
  return (murmur2(rec.key) & 0x7fffffff) % targetPartitions;
}

export type Decision =
  | { kind: 'unreadable'; problem: string }
  | { kind: 'not_selected' }
  | { kind: 'duplicate' }
  | { kind: 'already_replayed' }
  | { kind: 'refused'; code: string; message: string; applied: RepairName[] }
  | {
      kind: 'replay';
      payload: Buffer;
      event: TelemetryEvent;
      eventTimeMs: number;
      applied: RepairName[];
      partition: number | undefined;
      windowStartMs: number;
      /** Kafka timestamp to publish the record with: the one the future guard was judged against. */
      recordTimestampMs: number;
      /** Its window is already final on the target partition: counted as a late event, revising that window. */
      intoFinalWindow: boolean;
    };

export interface DecisionContext {
  selection: Selection;
  repairs: readonly RepairName[];
  targetTopic: string;
  targetPartitions: number;
  /** The aggregator's event-time rules (resolveWindowingConfig of the shared knobs). */
  windowing: WindowingConfig;
  /** Source keys already decided in this run. */
  seen: Set<string>;
  /** Ledger keys of entries replayed by committed runs. */
  ledger: Set<string>;
  /**
   * Newest accepted event time known on a target partition (-Infinity when it
   * has none); undefined = unknown, no lateness check.
   */
  maxEventTime: (partition: number) => number | undefined;
  /** Kafka timestamp a record replayed now carries (the replay's clock): the future guard judges with it. */
  replayTimestampMs: number;
  /** AGGREGATE_RETENTION_DAYS of the aggregator: an entry whose window is beyond it would be dead-lettered again (beyond_retention). */
  aggregateRetentionDays?: number;
  /**
   * How the aggregator reads a payload (JSON, Avro, Protobuf); prepared for
   * the batch before decide(). Binary entries are replayed as they are (the
   * repairs are JSON text repairs). Default: JSON only.
   */
  decoder?: EventDecoder;
}

/** Decides and records the record in ctx.seen (readable, selected records only). */
export function decide(rec: DlqRecord, ctx: DecisionContext): Decision {
  if (rec.entry === undefined) return { kind: 'unreadable', problem: rec.problem ?? 'unreadable envelope' };
  if (!selects(ctx.selection, rec)) return { kind: 'not_selected' };
  const key = sourceKey(rec.entry);
  if (ctx.seen.has(key)) return { kind: 'duplicate' };
  ctx.seen.add(key);
  if (ctx.ledger.has(ledgerKey(ctx.targetTopic, rec.entry))) return { kind: 'already_replayed' };
  const repaired = repairPayload(rec.value, ctx.repairs, ctx.decoder ?? JSON_ONLY_DECODER);
  if (!repaired.ok) return { kind: 'refused', code: repaired.reason, message: repaired.message, applied: repaired.applied };
  const cfg = ctx.windowing;
  const partition = targetPartition(rec, ctx.targetTopic, ctx.targetPartitions);
  const watermark = watermarkEstimate(partition === undefined ? undefined : ctx.maxEventTime(partition), cfg);
  const t = repaired.eventTimeMs;
  const verdict = judgeEventTime(cfg, t, ctx.replayTimestampMs, watermark);
  // The aggregator judges the replayed record by the timestamp it carries (the
  // replay's); judged by the original one too, a replay decides as the first
  // run did and cannot launder a wrong clock just because time has passed.
  const sentAt = originalTimestamp(rec.entry.sourceTimestampMs);
  const aheadOfOriginal = isFutureEvent(cfg, t, sentAt);
  if (verdict.future || aheadOfOriginal) {
    const message = aheadOfOriginal
      ? `event_time ${iso(t)} is ${secs(t - sentAt!)} ahead of its original record timestamp ${iso(sentAt!)} (more than MAX_FUTURE_SKEW_SECS = ${secs(cfg.maxFutureSkewMs)}): its clock was ahead when it was sent, and a later replay does not make it right (a repair of event_time may)`
      : `event_time ${iso(t)} is ${secs(t - ctx.replayTimestampMs)} ahead of the replayed record's timestamp ${iso(ctx.replayTimestampMs)} (more than MAX_FUTURE_SKEW_SECS = ${secs(cfg.maxFutureSkewMs)}); the aggregator would dead-letter it again as future_event_time`;
    return { kind: 'refused', code: 'future_event_time', message, applied: repaired.applied };
  }
  if (verdict.tooLate) {
    return {
      kind: 'refused',
      code: 'late_event',
      message: `beyond the lateness horizon: window ${iso(verdict.windowStart)} ended ALLOWED_LATENESS_SECS = ${secs(cfg.allowedLatenessMs)} or more before the watermark of ${ctx.targetTopic}[${partition}] (at least ${iso(watermark)}); the aggregator would dead-letter it again as late_event`,
      applied: repaired.applied,
    };
  }
  if (ctx.aggregateRetentionDays !== undefined && isBeyondAggregateRetention(verdict.windowStart, ctx.replayTimestampMs, ctx.aggregateRetentionDays)) {
    return {
      kind: 'refused',
      code: BEYOND_RETENTION_REASON,
      message: `window ${iso(verdict.windowStart)} is older than the aggregate retention of ${ctx.aggregateRetentionDays} days (AGGREGATE_RETENTION_DAYS) at the replay's timestamp ${iso(ctx.replayTimestampMs)}: the aggregator would dead-letter it again as beyond_retention; raise the retention first to backfill it`,
      applied: repaired.applied,
    };
  }
  return {
    kind: 'replay',
    payload: repaired.payload,
    event: repaired.event,
    eventTimeMs: t,
    applied: repaired.applied,
    partition,
    windowStartMs: verdict.windowStart,
    recordTimestampMs: ctx.replayTimestampMs,
    intoFinalWindow: verdict.windowFinal,
  };
}
