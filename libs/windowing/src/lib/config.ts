/**
 * Engine configuration. Every value is in event-time milliseconds; the engine
 * never reads a clock, so "ms" always means "ms of event time".
 */
export interface WindowingConfig {
  /** Tumbling window length. Must be a positive integer so window starts are exact integers. */
  readonly windowSizeMs: number;
  /** watermark = max event time seen - maxOutOfOrdernessMs. */
  readonly maxOutOfOrdernessMs: number;
  /** A window is final once watermark >= windowEnd + allowedLatenessMs. */
  readonly allowedLatenessMs: number;
  /** An event is an anomaly when anomalyScore >= anomalyThreshold (inclusive, per DESIGN.md). */
  readonly anomalyThreshold: number;
}

export const DEFAULT_WINDOWING_CONFIG: WindowingConfig = Object.freeze({
  windowSizeMs: 60_000,
  maxOutOfOrdernessMs: 10_000,
  allowedLatenessMs: 0,
  anomalyThreshold: 0.9,
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
  if (!Number.isFinite(cfg.maxOutOfOrdernessMs) || cfg.maxOutOfOrdernessMs < 0) {
    throw new RangeError(`maxOutOfOrdernessMs must be a finite number >= 0, got ${cfg.maxOutOfOrdernessMs}`);
  }
  if (!Number.isFinite(cfg.allowedLatenessMs) || cfg.allowedLatenessMs < 0) {
    throw new RangeError(`allowedLatenessMs must be a finite number >= 0, got ${cfg.allowedLatenessMs}`);
  }
  if (!Number.isFinite(cfg.anomalyThreshold)) {
    throw new RangeError(`anomalyThreshold must be a finite number, got ${cfg.anomalyThreshold}`);
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
