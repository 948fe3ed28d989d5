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
import { deadLetterClassOf, FUTURE_EVENT_TIME, JSON_ONLY_DECODER, LATE_EVENT, type EventDecoder } from '@stream-analytics/event-schema';
import type { ConsumedMessage } from './kafka';

export interface OracleOptions {
  windowSizeMs?: number;
  maxOutOfOrdernessMs?: number;
  allowedLatenessMs?: number;
  maxFutureSkewMs?: number;
  anomalyThreshold?: number;
  /** How a message value reads (Avro and Protobuf need their schemas, already prepared); default JSON only. */
  decoder?: EventDecoder;
}

/** What a window accumulates beyond the counts, exact (quantiles: the value of rank floor(q * (n - 1)) among the sorted values). */
export interface OracleStats {
  minMetric: number;
  maxMetric: number;
  avgTemperature: number;
  minTemperature: number;
  maxTemperature: number;
  statusOk: number;
  statusWarning: number;
  statusError: number;
  statusOffline: number;
  p50Metric: number;
  p95Metric: number;
  p99Metric: number;
  p95Temperature: number;
}

export interface OracleWindow extends OracleStats {
  windowStartMs: number;
  totalEvents: number;
  metricSum: number;
  avgMetric: number;
  uniqueUsers: number;
  anomalyEvents: number;
  /** Counted events whose window the partition watermark had already passed. */
  lateEvents: number;
}

/** One (window, device): what iot_device_minute must hold for it. */
export interface OracleDeviceWindow extends OracleStats {
  windowStartMs: number;
  deviceId: string;
  totalEvents: number;
  avgMetric: number;
  anomalyEvents: number;
  lateEvents: number;
  lastEventTimeMs: number;
}

export interface OracleDeadLetter {
  partition: number;
  offset: number;
  reason: string;
  windowStartMs: number;
}

export interface OracleResult {
  windows: OracleWindow[];
  /** Per (window, device), ordered by device, then window. */
  devices: OracleDeviceWindow[];
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
  const decoder = opts.decoder ?? JSON_ONLY_DECODER;
  const windowOf = (t: number) => Math.floor(t / size) * size;

  const byPartition = new Map<number, ConsumedMessage[]>();
  for (const m of messages) {
    const list = byPartition.get(m.partition);
    if (list) list.push(m);
    else byPartition.set(m.partition, [m]);
  }

  const windows = new Map<number, { total: number; metricSum: number; users: Set<string>; anomalies: number; late: number }>();
  const counted: Array<{ w: number; late: boolean; event: CountedEvent }> = [];
  const deadLetters: OracleDeadLetter[] = [];
  for (const [partition, list] of byPartition) {
    list.sort((a, b) => a.offset - b.offset);
    let maxEventTime = -Infinity;
    for (const m of list) {
      const parsed = decoder.decode(m.value ?? Buffer.alloc(0));
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
        counted.push({ w, late: watermark >= w + size, event: { ...parsed.event, eventTimeMs: t } });
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
  const byWindow = groupBy(counted, (c) => String(c.w));
  const byDevice = groupBy(counted, (c) => `${c.event.device_id}\u0000${c.w}`);
  return {
    devices: [...byDevice.values()]
      .map((group) => {
        let metricSum = 0;
        for (const c of group) metricSum += c.event.metric_value;
        return {
          windowStartMs: group[0].w,
          deviceId: group[0].event.device_id,
          totalEvents: group.length,
          avgMetric: metricSum / group.length,
          anomalyEvents: group.filter((c) => c.event.anomaly_score >= threshold).length,
          lateEvents: group.filter((c) => c.late).length,
          lastEventTimeMs: Math.max(...group.map((c) => c.event.eventTimeMs)),
          ...statsOf(group.map((c) => c.event)),
        };
      })
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.windowStartMs - b.windowStartMs)),
    windows: [...windows.entries()]
      .sort(([a], [b]) => a - b)
      .map(([windowStartMs, a]) => ({
        ...statsOf((byWindow.get(String(windowStartMs)) ?? []).map((c) => c.event)),
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

interface CountedEvent {
  eventTimeMs: number;
  device_id: string;
  metric_value: number;
  temperature: number;
  status: string;
  anomaly_score: number;
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const list = m.get(key(x));
    if (list) list.push(x);
    else m.set(key(x), [x]);
  }
  return m;
}

/** The value of rank floor(q * (n - 1)) among the sorted values: what the sketch's quantile approximates. */
function rankValue(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

function statsOf(events: readonly CountedEvent[]): OracleStats {
  const metrics = events.map((e) => e.metric_value).sort((a, b) => a - b);
  const temps = events.map((e) => e.temperature).sort((a, b) => a - b);
  let temperatureSum = 0;
  for (const e of events) temperatureSum += e.temperature;
  const status = (s: string) => events.filter((e) => e.status === s).length;
  return {
    minMetric: metrics[0],
    maxMetric: metrics[metrics.length - 1],
    avgTemperature: temperatureSum / events.length,
    minTemperature: temps[0],
    maxTemperature: temps[temps.length - 1],
    statusOk: status('ok'),
    statusWarning: status('warning'),
    statusError: status('error'),
    statusOffline: status('offline'),
    p50Metric: rankValue(metrics, 0.5),
    p95Metric: rankValue(metrics, 0.95),
    p99Metric: rankValue(metrics, 0.99),
    p95Temperature: rankValue(temps, 0.95),
  };
}
