/**
 * Brute-force offline computation of what the aggregator must produce for the
 * messages of a raw topic, written independently of the windowing engine:
 * for each partition, in offset order, an event is late when the partition's
 * watermark (max event time seen before it, minus the out-of-orderness bound)
 * has passed its window's end plus the allowed lateness; otherwise it counts.
 * Invalid messages are dead letters of the minute of their Kafka timestamp.
 */
import { parseAndValidate } from '@stream-analytics/event-schema';
import type { ConsumedMessage } from './kafka';

export interface OracleOptions {
  windowSizeMs?: number;
  maxOutOfOrdernessMs?: number;
  allowedLatenessMs?: number;
  anomalyThreshold?: number;
}

export interface OracleWindow {
  windowStartMs: number;
  totalEvents: number;
  metricSum: number;
  avgMetric: number;
  uniqueUsers: number;
  anomalyEvents: number;
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
  /** Per window: invalid (any reason but late_event) and late counts. */
  deadLetterCounts: Array<{ windowStartMs: number; invalidEvents: number; lateEvents: number }>;
}

export function computeOracle(messages: readonly ConsumedMessage[], opts: OracleOptions = {}): OracleResult {
  const size = opts.windowSizeMs ?? 60000;
  const ooo = opts.maxOutOfOrdernessMs ?? 10000;
  const lateness = opts.allowedLatenessMs ?? 0;
  const threshold = opts.anomalyThreshold ?? 0.9;
  const windowOf = (t: number) => Math.floor(t / size) * size;

  const byPartition = new Map<number, ConsumedMessage[]>();
  for (const m of messages) {
    const list = byPartition.get(m.partition);
    if (list) list.push(m);
    else byPartition.set(m.partition, [m]);
  }

  const windows = new Map<number, { total: number; metricSum: number; users: Set<string>; anomalies: number }>();
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
      if (maxEventTime - ooo >= w + size + lateness) {
        deadLetters.push({ partition, offset: m.offset, reason: 'late_event', windowStartMs: w });
      } else {
        const agg = windows.get(w) ?? { total: 0, metricSum: 0, users: new Set<string>(), anomalies: 0 };
        agg.total++;
        agg.metricSum += parsed.event.metric_value;
        agg.users.add(parsed.event.user_id);
        if (parsed.event.anomaly_score >= threshold) agg.anomalies++;
        windows.set(w, agg);
      }
      maxEventTime = Math.max(maxEventTime, t);
    }
  }

  const counts = new Map<number, { invalidEvents: number; lateEvents: number }>();
  for (const d of deadLetters) {
    const c = counts.get(d.windowStartMs) ?? { invalidEvents: 0, lateEvents: 0 };
    if (d.reason === 'late_event') c.lateEvents++;
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
      })),
    deadLetters: deadLetters.sort((a, b) => a.partition - b.partition || a.offset - b.offset),
    deadLetterCounts: [...counts.entries()].sort(([a], [b]) => a - b).map(([windowStartMs, c]) => ({ windowStartMs, ...c })),
  };
}
