/**
 * The replay decision for one DLQ record, as a pure function of the record,
 * the run's options and what is known so far (entries seen in this run, the
 * ledger of entries already replayed, the target partitions' watermarks).
 *
 * Order of the checks (the first that applies wins):
 *   unreadable        envelope headers missing/unreadable: reported, left alone
 *   not_selected      outside the selection
 *   duplicate         same source topic/partition/offset seen earlier in this run
 *   already_replayed  in the ledger: replayed by an earlier (committed) run
 *   refused late_event       the aggregator found its window final: never replayed
 *   refused <reason code>    still invalid after the chosen repairs
 *   refused window_final     valid, but its window is already final on the target
 *                            partition (only with --closed-windows refuse; by
 *                            default it is replayed and flagged intoClosedWindow:
 *                            the aggregator will dead-letter it again as late_event)
 *   replay
 */
import { repairPayload, type RepairName, type TelemetryEvent } from '@stream-analytics/event-schema';
import { ledgerKey, sourceKey, type DlqRecord } from './dlq-record';
import { selects, type Selection } from './selection';

export interface WindowRules {
  windowSizeMs: number;
  maxOutOfOrderMs: number;
  allowedLatenessMs: number;
}

export const windowStartOf = (t: number, size: number) => Math.floor(t / size) * size;

/**
 * The aggregator's finality rule (libs/windowing): a partition's watermark is
 * its max event time minus the out-of-orderness bound, and window w is final
 * once the watermark reaches w + size + allowed lateness.
 */
export function isWindowFinal(maxEventTimeMs: number, eventTimeMs: number, rules: WindowRules): boolean {
  if (!Number.isFinite(maxEventTimeMs)) return false;
  const w = windowStartOf(eventTimeMs, rules.windowSizeMs);
  return maxEventTimeMs - rules.maxOutOfOrderMs >= w + rules.windowSizeMs + rules.allowedLatenessMs;
}

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
      /** The window already looks final on the target partition: the aggregator will dead-letter it as late_event. */
      intoClosedWindow: boolean;
    };

export interface DecisionContext {
  selection: Selection;
  repairs: readonly RepairName[];
  targetTopic: string;
  targetPartitions: number;
  rules: WindowRules;
  /** Source keys already decided in this run. */
  seen: Set<string>;
  /** Ledger keys of entries replayed by committed runs. */
  ledger: Set<string>;
  /** Max event time known on a target partition (-Infinity when none); undefined = unknown, no check. */
  maxEventTime: (partition: number) => number | undefined;
  /** What to do with a valid entry whose window is already final on its target partition. */
  closedWindows: 'publish' | 'refuse';
}

export const LATE_REFUSAL = 'late: window final; not replayed (the aggregator already closed its window)';

/** Decides and records the record in ctx.seen (readable, selected records only). */
export function decide(rec: DlqRecord, ctx: DecisionContext): Decision {
  if (rec.entry === undefined) return { kind: 'unreadable', problem: rec.problem ?? 'unreadable envelope' };
  if (!selects(ctx.selection, rec)) return { kind: 'not_selected' };
  const key = sourceKey(rec.entry);
  if (ctx.seen.has(key)) return { kind: 'duplicate' };
  ctx.seen.add(key);
  if (ctx.ledger.has(ledgerKey(ctx.targetTopic, rec.entry))) return { kind: 'already_replayed' };
  if (rec.entry.reason === 'late_event') return { kind: 'refused', code: 'late_event', message: LATE_REFUSAL, applied: [] };
  const repaired = repairPayload(rec.value, ctx.repairs);
  if (!repaired.ok) return { kind: 'refused', code: repaired.reason, message: repaired.message, applied: repaired.applied };
  const partition = targetPartition(rec, ctx.targetTopic, ctx.targetPartitions);
  const windowStartMs = windowStartOf(repaired.eventTimeMs, ctx.rules.windowSizeMs);
  let intoClosedWindow = false;
  if (partition !== undefined) {
    const max = ctx.maxEventTime(partition);
    if (max !== undefined && isWindowFinal(max, repaired.eventTimeMs, ctx.rules)) {
      if (ctx.closedWindows === 'refuse') {
        return {
          kind: 'refused',
          code: 'window_final',
          message: `window ${new Date(windowStartMs).toISOString()} is already final on ${ctx.targetTopic}[${partition}] (watermark ${new Date(max - ctx.rules.maxOutOfOrderMs).toISOString()}); the aggregator would dead-letter it again as late_event`,
          applied: repaired.applied,
        };
      }
      intoClosedWindow = true;
    }
  }
  return { kind: 'replay', payload: repaired.payload, event: repaired.event, eventTimeMs: repaired.eventTimeMs, applied: repaired.applied, partition, windowStartMs, intoClosedWindow };
}
