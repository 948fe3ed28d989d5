/**
 * The event-time knobs (docs/architecture.md, "Contracts") as flags +
 * environment, declared once for every app that judges event time: the
 * aggregator applies them, the DLQ replayer pre-checks entries with the same
 * values. Their defaults are the engine's own (DEFAULT_WINDOWING_CONFIG).
 */
import { DEFAULT_WINDOWING_CONFIG as D } from '@stream-analytics/windowing';
import type { OptionSpecs, ParsedConfig } from './config';

/** The aggregate topic's retention (30 d): a horizon beyond it could fold into rows already gone. */
export const MAX_ALLOWED_LATENESS_SECS = 30 * 24 * 3600;

export const windowingOptions = {
  windowSizeSecs: { type: 'integer', env: 'WINDOW_SIZE_SECS', default: D.windowSizeMs / 1000, min: 1, max: 86400, description: 'Tumbling window size in seconds.' },
  maxOutOfOrderSecs: {
    type: 'number',
    env: 'MAX_OUT_OF_ORDER_SECS',
    default: D.maxOutOfOrdernessMs / 1000,
    min: 0,
    max: 3600,
    description: "Bounded out-of-orderness: a partition's watermark trails its newest accepted event time by this much; a window is final once the watermark passes its end.",
  },
  allowedLatenessSecs: {
    type: 'number',
    env: 'ALLOWED_LATENESS_SECS',
    default: D.allowedLatenessMs / 1000,
    min: 0,
    max: MAX_ALLOWED_LATENESS_SECS,
    description: "Lateness horizon: a valid event is counted in its own window while that window ended less than this long before its partition's watermark; beyond it, it is dead-lettered as late_event.",
  },
  maxFutureSkewSecs: {
    type: 'number',
    env: 'MAX_FUTURE_SKEW_SECS',
    default: D.maxFutureSkewMs / 1000,
    min: 0,
    max: 31 * 24 * 3600,
    description: 'An event whose event_time is more than this far ahead of its Kafka record timestamp is dead-lettered as future_event_time and never moves a watermark.',
  },
  anomalyThreshold: { type: 'number', env: 'ANOMALY_THRESHOLD', default: D.anomalyThreshold, min: 0, max: 1, description: 'An event is an anomaly when anomaly_score >= this.' },
} satisfies OptionSpecs;

export type WindowingOptions = ParsedConfig<typeof windowingOptions>;

/** The parsed knobs in the windowing engine's units (milliseconds); structurally a Partial<WindowingConfig>. */
export function windowingConfigOf(c: WindowingOptions) {
  return {
    windowSizeMs: c.windowSizeSecs * 1000,
    maxOutOfOrdernessMs: c.maxOutOfOrderSecs * 1000,
    allowedLatenessMs: c.allowedLatenessSecs * 1000,
    maxFutureSkewMs: c.maxFutureSkewSecs * 1000,
    anomalyThreshold: c.anomalyThreshold,
  };
}
