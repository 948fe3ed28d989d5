/**
 * Brute-force offline computation of what the aggregator must produce for the
 * messages of a raw topic, written independently of the windowing engine:
 * for each partition, in offset order, an event more than the skew bound ahead
 * of its Kafka timestamp is a future_event_time dead letter (of the minute of
 * its Kafka timestamp) and moves nothing; an event whose window ended the
 * allowed lateness or more before the partition's watermark (max accepted
 * event time seen before it, minus the out-of-orderness bound) is a
 * late_event dead letter; every other valid event counts, late or not.
 * Invalid messages are dead letters of the minute of their Kafka timestamp.
 */
import { deadLetterClassOf, FUTURE_EVENT_TIME, LATE_EVENT, parseAndValidate } from '@stream-analytics/event-schema';
import type { ConsumedMessage } from './kafka';

export interface OracleOptions {
  windowSizeMs?: number;
  maxOutOfOrdernessMs?: number;
  allowedLatenessMs?: number;
  maxFutureSkewMs?: number;
  anomalyThreshold?: number;
}

export interface OracleWindow {
  windowStartMs: number;
  totalEvents: number;
  metricSum: number;
  avgMetric: number;
  uniqueUsers: number;
  anomalyEvents: number;
  /** Counted events whose window the partition watermark had already passed. */
  lateEvents: number;
}

export interface OracleDeadLetter {
  partition: number;
  offset: number;
  reason: string;
  windowStartMs: number;
}

export interface OracleResult {
  windows: OracleWindow[];
  deadLetters: OracleDeadLetter[];
  /** Per window: invalid (malformed), late (beyond the horizon) and future dead letters. */
  deadLetterCounts: Array<{ windowStartMs: number; invalidEvents: number; lateEvents: number; futureEvents: number }>;
}

export function computeOracle(messages: readonly ConsumedMessage[], opts: OracleOptions = {}): OracleResult {
  const size = opts.windowSizeMs ?? 60000;
  const ooo = opts.maxOutOfOrdernessMs ?? 10000;
  const lateness = opts.allowedLatenessMs ?? 86_400_000;
  const skew = opts.maxFutureSkewMs ?? 300_000;
  const threshold = opts.anomalyThreshold ?? 0.9;
  const windowOf = (t: number) => Math.floor(t / size) * size;

  const byPartition = new Map<number, ConsumedMessage[]>();
  for (const m of messages) {
    const list = byPartition.get(m.partition);
    if (list) list.push(m);
    else byPartition.set(m.partition, [m]);
  }

  const windows = new Map<number, { total: number; metricSum: number; users: Set<string>; anomalies: number; late: number }>();
  const deadLetters: OracleDeadLetter[] = [];
  for (const [partition, list] of byPartition) {
    list.sort((a, b) => a.offset - b.offset);
    let maxEventTime = -Infinity;
    for (const m of list) {
      const parsed = parseAndValidate(m.value ?? Buffer.alloc(0));
      if (!parsed.ok) {
        deadLetters.push({ partition, offset: m.offset, reason: parsed.reason, windowStartMs: windowOf(m.timestamp ?? 0) });
        continue;
      }
      const t = parsed.eventTimeMs;
      const w = windowOf(t);
      const ts = m.timestamp;
      if (ts !== undefined && ts >= 0 && t > ts + skew) {
        deadLetters.push({ partition, offset: m.offset, reason: FUTURE_EVENT_TIME, windowStartMs: windowOf(ts) });
        continue;
      }
      const watermark = maxEventTime - ooo;
      if (watermark >= w + size + lateness) {
        deadLetters.push({ partition, offset: m.offset, reason: LATE_EVENT, windowStartMs: w });
      } else {
        const agg = windows.get(w) ?? { total: 0, metricSum: 0, users: new Set<string>(), anomalies: 0, late: 0 };
        agg.total++;
        agg.metricSum += parsed.event.metric_value;
        agg.users.add(parsed.event.user_id);
        if (parsed.event.anomaly_score >= threshold) agg.anomalies++;
        if (watermark >= w + size) agg.late++;
        windows.set(w, agg);
      }
      maxEventTime = Math.max(maxEventTime, t);
    }
  }

  const counts = new Map<number, { invalidEvents: number; lateEvents: number; futureEvents: number }>();
  for (const d of deadLetters) {
    const c = counts.get(d.windowStartMs) ?? { invalidEvents: 0, lateEvents: 0, futureEvents: 0 };
    const cls = deadLetterClassOf(d.reason);
    if (cls === 'late') c.lateEvents++;
    else if (cls === 'future') c.futureEvents++;
    else c.invalidEvents++;
    counts.set(d.windowStartMs, c);
  }
  return {
    windows: [...windows.entries()]
      .sort(([a], [b]) => a - b)
      .map(([windowStartMs, a]) => ({
        windowStartMs,
        totalEvents: a.total,
        metricSum: a.metricSum,
        avgMetric: a.metricSum / a.total,
        uniqueUsers: a.users.size,
        anomalyEvents: a.anomalies,
        lateEvents: a.late,
      })),
    deadLetters: deadLetters.sort((a, b) => a.partition - b.partition || a.offset - b.offset),
    deadLetterCounts: [...counts.entries()].sort(([a], [b]) => a - b).map(([windowStartMs, c]) => ({ windowStartMs, ...c })),
  };
}
