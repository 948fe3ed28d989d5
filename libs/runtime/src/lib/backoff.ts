/**
 * The one exponential backoff of the project (the ClickHouse writer's retries,
 * the pipeline's paused window-state loads and flushes): pure, no timers.
 */
export interface BackoffPolicy {
  /** Delay after the first failure, in ms. */
  initialDelayMs: number;
  /** No delay is longer, in ms. */
  maxDelayMs: number;
  /** Growth per failure (default 2). */
  multiplier?: number;
  /**
   * 'none': the delay itself. 'equal' ("equal jitter"): half of it fixed, the
   * other half random, so that retries of several writers spread out but
   * never collapse to zero.
   */
  jitter?: 'none' | 'equal';
}

/**
 * The delay before the next attempt after `failures` consecutive failures
 * (1 = after the first): `initialDelayMs * multiplier^(failures - 1)`, at most
 * `maxDelayMs`, then jittered as the policy says (`random` in [0, 1)).
 */
export function backoffDelayMs(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (!Number.isInteger(failures) || failures < 1) throw new RangeError(`failures must be a whole number >= 1 (got ${failures})`);
  const { initialDelayMs, maxDelayMs, multiplier = 2, jitter = 'none' } = policy;
  if (!(initialDelayMs >= 0 && maxDelayMs >= 0 && multiplier >= 1)) {
    throw new RangeError(`backoff needs initialDelayMs >= 0, maxDelayMs >= 0 and multiplier >= 1 (got ${initialDelayMs}, ${maxDelayMs}, ${multiplier})`);
  }
  // Past the cap the power may overflow to Infinity; min() keeps the cap.
  const delay = Math.min(maxDelayMs, initialDelayMs * multiplier ** (failures - 1));
  if (jitter === 'none') return delay;
  const half = delay / 2;
  return Math.round(half + random() * half);
}
