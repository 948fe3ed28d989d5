/**
 * Which DLQ entries a run looks at. Every criterion is optional; an entry is
 * selected when it meets all given ones. Times are DLQ record timestamps (when
 * the aggregator dead-lettered the event), partitions and offsets are the
 * entry's source coordinates on the raw topic.
 */
import type { DlqRecord } from './dlq-record';

export interface Selection {
  reasons?: Set<string>;
  /** Inclusive, ms since the epoch (DLQ record timestamp). */
  fromMs?: number;
  /** Exclusive, ms since the epoch (DLQ record timestamp). */
  toMs?: number;
  /** Source partitions. */
  partitions?: Set<number>;
  /** Inclusive source offset bounds (only with exactly one partition). */
  fromOffset?: number;
  toOffset?: number;
  devices?: Set<string>;
}

/** True when the time criteria admit the record (applies to unreadable records too). */
export function inTimeRange(sel: Selection, rec: Pick<DlqRecord, 'dlqTimestampMs'>): boolean {
  if (sel.fromMs !== undefined && !(rec.dlqTimestampMs >= sel.fromMs)) return false;
  if (sel.toMs !== undefined && !(rec.dlqTimestampMs < sel.toMs)) return false;
  return true;
}

/** Whether a readable record is selected. */
export function selects(sel: Selection, rec: DlqRecord): boolean {
  if (!inTimeRange(sel, rec)) return false;
  const e = rec.entry;
  if (e === undefined) return false;
  if (sel.reasons !== undefined && !sel.reasons.has(e.reason)) return false;
  if (sel.partitions !== undefined && !sel.partitions.has(e.sourcePartition)) return false;
  if (sel.fromOffset !== undefined && e.sourceOffset < sel.fromOffset) return false;
  if (sel.toOffset !== undefined && e.sourceOffset > sel.toOffset) return false;
  if (sel.devices !== undefined && (rec.device === null || !sel.devices.has(rec.device))) return false;
  return true;
}

/** A JSON-friendly echo of the selection for reports. */
export function describeSelection(sel: Selection): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (sel.reasons) out['reasons'] = [...sel.reasons];
  if (sel.fromMs !== undefined) out['from'] = new Date(sel.fromMs).toISOString();
  if (sel.toMs !== undefined) out['to'] = new Date(sel.toMs).toISOString();
  if (sel.partitions) out['sourcePartitions'] = [...sel.partitions];
  if (sel.fromOffset !== undefined) out['fromSourceOffset'] = sel.fromOffset;
  if (sel.toOffset !== undefined) out['toSourceOffset'] = sel.toOffset;
  if (sel.devices) out['devices'] = [...sel.devices];
  return out;
}
