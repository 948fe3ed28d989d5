/**
 * The sentences a dead letter carries for the events the engine rejects by
 * their time (the validator writes its own for malformed ones). They name the
 * knob that decided, so an operator knows what to change.
 */
import type { WindowingConfig } from '@stream-analytics/windowing';

const iso = (ms: number) => new Date(ms).toISOString();

export function tooLateMessage(eventTime: string, windowStartMs: number, watermarkMs: number, config: WindowingConfig): string {
  return `event_time ${eventTime} falls in window ${iso(windowStartMs)}, which ended ${config.allowedLatenessMs / 1000} s or more before the partition's watermark ${iso(watermarkMs)} (ALLOWED_LATENESS_SECS)`;
}

export function futureMessage(eventTime: string, skewMs: number, recordTimestampMs: number, config: WindowingConfig): string {
  return `event_time ${eventTime} is ${Math.round(skewMs / 1000)} s ahead of the record timestamp ${iso(recordTimestampMs)} (more than MAX_FUTURE_SKEW_SECS ${config.maxFutureSkewMs / 1000})`;
}
