/**
 * What a window accumulates, in one place: the fleet's state of a (window,
 * source partition) and a device's state of a (window, device, source
 * partition) are the same accumulator, in the spirit of Flink's
 * AggregateFunction (createAccumulator, add, merge, getResult):
 *
 *   createAccumulator()  the empty state
 *   addToAccumulator()   folds one event in (in offset order: sums are then
 *                        bit-identical on every replay)
 *   mergeAccumulators()  two partial states of the same window (partitions,
 *                        devices) into one; counts, extremes and sketch bins
 *                        merge exactly, in any order
 *   accumulatorResult()  what readers get: averages and quantiles
 *
 * A new field is added here, once, with its fold and its merge; the engine,
 * the store and the property tests' oracle take it from here.
 */
import { EVENT_STATUSES, type EventStatus } from '@stream-analytics/event-schema';
import { addToSketch, createSketch, mergeSketchInto, sketchBins, sketchFromBins, sketchQuantile, type QuantileSketch } from './sketch';

/** One event as the fold sees it. */
export interface FoldableEvent {
  readonly eventTimeMs: number;
  /** Kafka record timestamp (arrival); the event time stands in for a record without one. */
  readonly recordTimestampMs?: number;
  readonly metricValue: number;
  readonly temperature: number;
  readonly status: EventStatus;
  readonly anomalyScore: number;
}

/** Events per status, one field per value of EVENT_STATUSES (event-schema). */
export type StatusCounts = Record<EventStatus, number>;

/** The stored bins of a quantile sketch: keys ascending, counts beside them. */
export interface SketchBins {
  readonly keys: readonly number[];
  readonly counts: readonly number[];
}

/**
 * The durable form of an accumulator (what a state row stores, and what is
 * loaded back). Extremes of an empty state are +/-Infinity; a stored row is
 * never empty.
 */
export interface AggregateState {
  readonly totalEvents: number;
  readonly metricSum: number;
  readonly metricMin: number;
  readonly metricMax: number;
  readonly temperatureSum: number;
  readonly temperatureMin: number;
  readonly temperatureMax: number;
  readonly statusCounts: Readonly<StatusCounts>;
  readonly anomalyEvents: number;
  /** Events folded in after the partition's watermark had passed the window's end. */
  readonly lateEvents: number;
  readonly metricSketch: SketchBins;
  readonly temperatureSketch: SketchBins;
  /** Largest event time folded in. */
  readonly lastEventTimeMs: number;
  /** Smallest and largest record timestamp (arrival) folded in. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Status and temperature of the event that arrived last (largest record timestamp, then offset order). */
  readonly lastStatus: EventStatus | '';
  readonly lastTemperature: number;
}

/** The mutable in-memory accumulator. */
export interface Accumulator {
  totalEvents: number;
  metricSum: number;
  metricMin: number;
  metricMax: number;
  temperatureSum: number;
  temperatureMin: number;
  temperatureMax: number;
  statusCounts: StatusCounts;
  anomalyEvents: number;
  lateEvents: number;
  metricSketch: QuantileSketch;
  temperatureSketch: QuantileSketch;
  lastEventTimeMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  lastStatus: EventStatus | '';
  lastTemperature: number;
}

/** What readers see of an accumulator (the columns of the minute tables). */
export interface AggregateResult {
  readonly totalEvents: number;
  readonly avgMetric: number;
  readonly minMetric: number;
  readonly maxMetric: number;
  readonly avgTemperature: number;
  readonly minTemperature: number;
  readonly maxTemperature: number;
  readonly statusCounts: Readonly<StatusCounts>;
  readonly anomalyEvents: number;
  readonly lateEvents: number;
  readonly p50Metric: number;
  readonly p95Metric: number;
  readonly p99Metric: number;
  readonly p95Temperature: number;
  readonly lastEventTimeMs: number;
}

/** The quantiles the minute tables carry, by column. */
export const RESULT_QUANTILES = Object.freeze({
  p50Metric: { of: 'metric', q: 0.5 },
  p95Metric: { of: 'metric', q: 0.95 },
  p99Metric: { of: 'metric', q: 0.99 },
  p95Temperature: { of: 'temperature', q: 0.95 },
} as const);

const STATUS_SET = new Set<string>(EVENT_STATUSES);

export function isEventStatus(s: unknown): s is EventStatus {
  return typeof s === 'string' && STATUS_SET.has(s);
}

function zeroStatusCounts(): StatusCounts {
  const c = {} as StatusCounts;
  for (const s of EVENT_STATUSES) c[s] = 0;
  return c;
}

export function createAccumulator(): Accumulator {
  return {
    totalEvents: 0,
    metricSum: 0,
    metricMin: Infinity,
    metricMax: -Infinity,
    temperatureSum: 0,
    temperatureMin: Infinity,
    temperatureMax: -Infinity,
    statusCounts: zeroStatusCounts(),
    anomalyEvents: 0,
    lateEvents: 0,
    metricSketch: createSketch(),
    temperatureSketch: createSketch(),
    lastEventTimeMs: -Infinity,
    firstSeenMs: Infinity,
    lastSeenMs: -Infinity,
    lastStatus: '',
    lastTemperature: 0,
  };
}

/**
 * Folds one event in. `late`: its window was already final for the partition.
 * An anomaly is anomalyScore >= anomalyThreshold (the engine's config holds the threshold).
 */
export function addToAccumulator(acc: Accumulator, e: FoldableEvent, anomalyThreshold: number, late: boolean): void {
  if (!isEventStatus(e.status)) throw new RangeError(`status must be one of ${EVENT_STATUSES.join(', ')}, got ${JSON.stringify(e.status)}`);
  if (!Number.isFinite(e.temperature)) throw new RangeError(`temperature must be finite, got ${e.temperature}`);
  acc.totalEvents++;
  acc.metricSum += e.metricValue;
  // Math.min/max, as the merge: of -0 and 0 the minimum is -0 and the maximum 0, in any order.
  acc.metricMin = Math.min(acc.metricMin, e.metricValue);
  acc.metricMax = Math.max(acc.metricMax, e.metricValue);
  acc.temperatureSum += e.temperature;
  acc.temperatureMin = Math.min(acc.temperatureMin, e.temperature);
  acc.temperatureMax = Math.max(acc.temperatureMax, e.temperature);
  acc.statusCounts[e.status]++;
  if (e.anomalyScore >= anomalyThreshold) acc.anomalyEvents++;
  if (late) acc.lateEvents++;
  addToSketch(acc.metricSketch, e.metricValue);
  addToSketch(acc.temperatureSketch, e.temperature);
  if (e.eventTimeMs > acc.lastEventTimeMs) acc.lastEventTimeMs = e.eventTimeMs;
  const seen = arrivalOf(e);
  if (seen < acc.firstSeenMs) acc.firstSeenMs = seen;
  // Offset order: of two events with the same record timestamp the later one is the last.
  if (seen >= acc.lastSeenMs) {
    acc.lastSeenMs = seen;
    acc.lastStatus = e.status;
    acc.lastTemperature = e.temperature;
  }
}

/** The arrival time the fold records: the Kafka record timestamp, or the event time without one. */
export function arrivalOf(e: Pick<FoldableEvent, 'eventTimeMs' | 'recordTimestampMs'>): number {
  return e.recordTimestampMs !== undefined && e.recordTimestampMs >= 0 ? e.recordTimestampMs : e.eventTimeMs;
}

/**
 * a and b merged into a new accumulator. Exact and order-free for counts,
 * extremes and sketches; sums are added (a then b), so merge in a fixed order
 * where bit-identical sums matter. Of two "last" readings at the same arrival
 * time the one ordered later by (status, temperature) wins, so the merge is
 * commutative.
 */
export function mergeAccumulators(a: Accumulator, b: Accumulator): Accumulator {
  const out = createAccumulator();
  for (const x of [a, b]) {
    out.totalEvents += x.totalEvents;
    out.metricSum += x.metricSum;
    out.metricMin = Math.min(out.metricMin, x.metricMin);
    out.metricMax = Math.max(out.metricMax, x.metricMax);
    out.temperatureSum += x.temperatureSum;
    out.temperatureMin = Math.min(out.temperatureMin, x.temperatureMin);
    out.temperatureMax = Math.max(out.temperatureMax, x.temperatureMax);
    for (const s of EVENT_STATUSES) out.statusCounts[s] += x.statusCounts[s];
    out.anomalyEvents += x.anomalyEvents;
    out.lateEvents += x.lateEvents;
    mergeSketchInto(out.metricSketch, x.metricSketch);
    mergeSketchInto(out.temperatureSketch, x.temperatureSketch);
    out.lastEventTimeMs = Math.max(out.lastEventTimeMs, x.lastEventTimeMs);
    out.firstSeenMs = Math.min(out.firstSeenMs, x.firstSeenMs);
    if (x.totalEvents > 0 && laterReading(x, out)) {
      out.lastSeenMs = x.lastSeenMs;
      out.lastStatus = x.lastStatus;
      out.lastTemperature = x.lastTemperature;
    }
  }
  return out;
}

function laterReading(x: Accumulator, than: Accumulator): boolean {
  if (than.lastStatus === '') return true;
  if (x.lastSeenMs !== than.lastSeenMs) return x.lastSeenMs > than.lastSeenMs;
  if (x.lastStatus !== than.lastStatus) return EVENT_STATUSES.indexOf(x.lastStatus as EventStatus) > EVENT_STATUSES.indexOf(than.lastStatus as EventStatus);
  return x.lastTemperature > than.lastTemperature;
}

export function accumulatorResult(acc: Accumulator): AggregateResult {
  const n = acc.totalEvents;
  const quantile = (of: 'metric' | 'temperature', q: number) =>
    of === 'metric' ? sketchQuantile(acc.metricSketch, q, acc.metricMin, acc.metricMax) : sketchQuantile(acc.temperatureSketch, q, acc.temperatureMin, acc.temperatureMax);
  return {
    totalEvents: n,
    avgMetric: n === 0 ? 0 : acc.metricSum / n,
    minMetric: acc.metricMin,
    maxMetric: acc.metricMax,
    avgTemperature: n === 0 ? 0 : acc.temperatureSum / n,
    minTemperature: acc.temperatureMin,
    maxTemperature: acc.temperatureMax,
    statusCounts: { ...acc.statusCounts },
    anomalyEvents: acc.anomalyEvents,
    lateEvents: acc.lateEvents,
    p50Metric: quantile(RESULT_QUANTILES.p50Metric.of, RESULT_QUANTILES.p50Metric.q),
    p95Metric: quantile(RESULT_QUANTILES.p95Metric.of, RESULT_QUANTILES.p95Metric.q),
    p99Metric: quantile(RESULT_QUANTILES.p99Metric.of, RESULT_QUANTILES.p99Metric.q),
    p95Temperature: quantile(RESULT_QUANTILES.p95Temperature.of, RESULT_QUANTILES.p95Temperature.q),
    lastEventTimeMs: acc.lastEventTimeMs,
  };
}

/** The durable form (a snapshot: later folds do not change it). */
export function accumulatorState(acc: Accumulator): AggregateState {
  return {
    totalEvents: acc.totalEvents,
    metricSum: acc.metricSum,
    metricMin: acc.metricMin,
    metricMax: acc.metricMax,
    temperatureSum: acc.temperatureSum,
    temperatureMin: acc.temperatureMin,
    temperatureMax: acc.temperatureMax,
    statusCounts: { ...acc.statusCounts },
    anomalyEvents: acc.anomalyEvents,
    lateEvents: acc.lateEvents,
    metricSketch: sketchBins(acc.metricSketch),
    temperatureSketch: sketchBins(acc.temperatureSketch),
    lastEventTimeMs: acc.lastEventTimeMs,
    firstSeenMs: acc.firstSeenMs,
    lastSeenMs: acc.lastSeenMs,
    lastStatus: acc.lastStatus,
    lastTemperature: acc.lastTemperature,
  };
}

/** An accumulator continuing from a stored state. */
export function accumulatorFromState(s: AggregateState): Accumulator {
  const statusCounts = zeroStatusCounts();
  for (const st of EVENT_STATUSES) statusCounts[st] = s.statusCounts[st] ?? 0;
  return {
    totalEvents: s.totalEvents,
    metricSum: s.metricSum,
    metricMin: s.metricMin,
    metricMax: s.metricMax,
    temperatureSum: s.temperatureSum,
    temperatureMin: s.temperatureMin,
    temperatureMax: s.temperatureMax,
    statusCounts,
    anomalyEvents: s.anomalyEvents,
    lateEvents: s.lateEvents,
    metricSketch: sketchFromBins(s.metricSketch.keys, s.metricSketch.counts),
    temperatureSketch: sketchFromBins(s.temperatureSketch.keys, s.temperatureSketch.counts),
    lastEventTimeMs: s.lastEventTimeMs,
    firstSeenMs: s.firstSeenMs,
    lastSeenMs: s.lastSeenMs,
    lastStatus: s.lastStatus,
    lastTemperature: s.lastTemperature,
  };
}
