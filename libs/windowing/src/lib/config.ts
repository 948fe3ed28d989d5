import { DEFAULT_ANOMALY_THRESHOLD } from '@stream-analytics/event-schema';

/**
 * Engine configuration. Every value is in event-time milliseconds; the engine
 * never reads a clock, so "ms" always means "ms of event time" (or of Kafka
 * record time, for the future guard).
 */
export interface WindowingConfig {
  /** Tumbling window length. Must be a positive integer so window starts are exact integers. */
  readonly windowSizeMs: number;
  /** watermark = max accepted event time - maxOutOfOrdernessMs. */
  readonly maxOutOfOrdernessMs: number;
  /**
   * Lateness horizon: an event is still counted while its window ended less
   * than this long before its partition's watermark; beyond it, it is too late.
   */
  readonly allowedLatenessMs: number;
  /** An event more than this far ahead of its record timestamp is in the future (never counted). */
  readonly maxFutureSkewMs: number;
  /** An event is an anomaly when anomalyScore >= anomalyThreshold (inclusive; the default is the event schema's). */
  readonly anomalyThreshold: number;
  /**
   * A final window no event touched for this many flushes leaves memory once its
   * row is durable; a later (late) event loads it back from the store. Only
   * memory and store reads depend on it, never a result.
   */
  readonly retainFinalWindowsForFlushes: number;
}

export const DEFAULT_WINDOWING_CONFIG: WindowingConfig = Object.freeze({
  windowSizeMs: 60_000,
  maxOutOfOrdernessMs: 10_000,
  allowedLatenessMs: 86_400_000,
  maxFutureSkewMs: 300_000,
  anomalyThreshold: DEFAULT_ANOMALY_THRESHOLD,
  retainFinalWindowsForFlushes: 12,
});

/**
 * Fills defaults and rejects nonsense early: a bad config would otherwise
 * surface as silently wrong windows (e.g. fractional starts, NaN watermarks).
 */
export function resolveWindowingConfig(partial: Partial<WindowingConfig> = {}): WindowingConfig {
  const cfg: WindowingConfig = { ...DEFAULT_WINDOWING_CONFIG, ...stripUndefined(partial) };
  if (!Number.isSafeInteger(cfg.windowSizeMs) || cfg.windowSizeMs <= 0) {
    throw new RangeError(`windowSizeMs must be a positive integer, got ${cfg.windowSizeMs}`);
  }
  for (const key of ['maxOutOfOrdernessMs', 'allowedLatenessMs', 'maxFutureSkewMs'] as const) {
    if (!Number.isFinite(cfg[key]) || cfg[key] < 0) throw new RangeError(`${key} must be a finite number >= 0, got ${cfg[key]}`);
  }
  if (!Number.isFinite(cfg.anomalyThreshold)) {
    throw new RangeError(`anomalyThreshold must be a finite number, got ${cfg.anomalyThreshold}`);
  }
  if (!Number.isSafeInteger(cfg.retainFinalWindowsForFlushes) || cfg.retainFinalWindowsForFlushes < 0) {
    throw new RangeError(`retainFinalWindowsForFlushes must be an integer >= 0, got ${cfg.retainFinalWindowsForFlushes}`);
  }
  return Object.freeze(cfg);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * Start of the tumbling window containing t: the largest multiple of size <= t,
 * so negative (pre-epoch) times round down, not towards zero. The division can
 * round a time just below a boundary up onto it, hence the one-step correction.
 * The trailing `+ 0` turns -0 into 0 so keys compare and serialise cleanly.
 */
export function windowStartOf(eventTimeMs: number, windowSizeMs: number): number {
  let w = Math.floor(eventTimeMs / windowSizeMs) * windowSizeMs;
  if (w > eventTimeMs) w -= windowSizeMs;
  else if (w + windowSizeMs <= eventTimeMs) w += windowSizeMs;
  return w + 0;
}

/**
 * The window rules every component judges an event by (the engine, the DLQ
 * replayer's pre-checks, dashboards' docs): one definition.
 */
export interface EventTimeVerdict {
  readonly windowStart: number;
  /** More than maxFutureSkewMs ahead of its record timestamp: dead-lettered, never counted. */
  readonly future: boolean;
  /** Its window ended allowedLatenessMs or more before the watermark: dead-lettered as late_event. */
  readonly tooLate: boolean;
  /** The watermark has passed the window's end (a counted event of a final window is "late"). */
  readonly windowFinal: boolean;
}

/**
 * The future guard: more than maxFutureSkewMs ahead of the record timestamp.
 * A record without a timestamp (undefined or negative, as in old message
 * formats) cannot be judged: it is not in the future.
 */
export function isFutureEvent(cfg: WindowingConfig, eventTimeMs: number, recordTimestampMs: number | undefined): boolean {
  return recordTimestampMs !== undefined && recordTimestampMs >= 0 && eventTimeMs > recordTimestampMs + cfg.maxFutureSkewMs;
}

/** Beyond the lateness horizon: the window ended allowedLatenessMs or more before the watermark. */
export function isTooLate(cfg: WindowingConfig, windowStart: number, watermarkMs: number): boolean {
  return windowStart + cfg.windowSizeMs + cfg.allowedLatenessMs <= watermarkMs;
}

/**
 * Judges an event time against a partition watermark and its record
 * timestamp, with the rules above (for components other than the engine,
 * such as the DLQ replayer's pre-checks).
 */
export function judgeEventTime(cfg: WindowingConfig, eventTimeMs: number, recordTimestampMs: number | undefined, watermarkMs: number): EventTimeVerdict {
  const windowStart = windowStartOf(eventTimeMs, cfg.windowSizeMs);
  const future = isFutureEvent(cfg, eventTimeMs, recordTimestampMs);
  return {
    windowStart,
    future,
    tooLate: !future && isTooLate(cfg, windowStart, watermarkMs),
    windowFinal: isWindowFinal(windowStart, cfg.windowSizeMs, watermarkMs),
  };
}

/** A window is final for a partition once its watermark has passed the window's end. */
export function isWindowFinal(windowStart: number, windowSizeMs: number, watermarkMs: number): boolean {
  return windowStart + windowSizeMs <= watermarkMs;
}

/**
 * The one order of rows of a (window, source partition): the row with the
 * higher last offset is newer, and at the same last offset the final row
 * outranks the partial one. This number is the ReplacingMergeTree version
 * column and the argMax key of the reader view. Exact while offsets < 2^52.
 */
export function rowVersionOf(lastOffset: number, final: boolean): number {
  return lastOffset * 2 + (final ? 1 : 0);
}
