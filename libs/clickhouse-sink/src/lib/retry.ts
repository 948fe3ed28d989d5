import { backoffDelayMs } from '@stream-analytics/runtime';
import {
  ClickHouseSinkError,
  NonRetryableClickHouseError,
  RetriesExhaustedError,
  WriteAbortedError,
  clickHouseErrorCode,
  errorMessage,
  isRetryableError,
} from './errors';

export interface RetryInfo {
  /** What is being retried, e.g. `insert stream_analytics.iot_window_partition_state`. */
  operation: string;
  /** The attempt that just failed (1-based). */
  attempt: number;
  /** Sleep before the next attempt. */
  delayMs: number;
  /** The failure of this attempt. */
  error: unknown;
  /** Milliseconds since the first attempt started. */
  elapsedMs: number;
}

export interface RetryOptions {
  /** Backoff before the second attempt (before jitter). Default 200. */
  initialDelayMs?: number;
  /** Cap of the backoff. Default 10000. */
  maxDelayMs?: number;
  /** Growth factor per attempt. Default 2. */
  multiplier?: number;
  /** Give up after this many attempts. Default: unlimited (an outage is waited out). */
  maxAttempts?: number;
  /**
   * Give up once this many milliseconds have passed since the first attempt
   * (no attempt starts after it). Default: none.
   */
  deadlineMs?: number;
  /** Called before each sleep; use it for logging and metrics. Must not throw. */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Stops retrying (e.g. on shutdown): a pending backoff sleep ends at once and
   * the call rejects with {@link WriteAbortedError}. An attempt already in
   * flight is not cut off; it finishes (bounded by the request timeout), and
   * if the server acknowledged it the call resolves.
   */
  signal?: AbortSignal;
  /** Which failures are retried. Default {@link isRetryableError}. */
  isRetryable?: (err: unknown) => boolean;
}

/** Test seams. */
export interface RetryRuntime {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  now(): number;
  random(): number;
}

export const DEFAULT_RETRY = {
  initialDelayMs: 200,
  maxDelayMs: 10_000,
  multiplier: 2,
} as const;

/** Backoff before attempt `attempt + 1`: the shared backoff (libs/runtime) with equal jitter. */
export function computeBackoffDelay(attempt: number, options: RetryOptions = {}, random: () => number = Math.random): number {
  return backoffDelayMs(
    attempt,
    {
      initialDelayMs: options.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
      multiplier: options.multiplier ?? DEFAULT_RETRY.multiplier,
      jitter: 'equal',
    },
    random,
  );
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const defaultRuntime: RetryRuntime = { sleep: abortableSleep, now: () => Date.now(), random: Math.random };

/**
 * Runs `fn` until it succeeds, retrying retryable failures (see
 * {@link isRetryableError}, or `options.isRetryable`) with exponential backoff and jitter.
 *
 * Rejects with {@link NonRetryableClickHouseError} for a permanent failure
 * (the original error is its `cause`), {@link RetriesExhaustedError} when
 * maxAttempts/deadline is reached, {@link WriteAbortedError} when the signal
 * fired. It resolves only with `fn`'s own result, i.e. only after the server
 * acknowledged.
 */
export async function retryWithBackoff<T>(
  operation: string,
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
  runtime: RetryRuntime = defaultRuntime,
): Promise<T> {
  const started = runtime.now();
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  let lastError: unknown = undefined;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) {
      throw new WriteAbortedError(
        `${operation}: aborted after ${attempt - 1} attempt(s)` + (lastError === undefined ? '' : `, last error: ${errorMessage(lastError)}`),
        attempt - 1,
        lastError,
      );
    }
    try {
      return await fn(attempt);
    } catch (err) {
      lastError = err;
      if (!(options.isRetryable ?? isRetryableError)(err)) {
        if (err instanceof ClickHouseSinkError) throw err;
        throw new NonRetryableClickHouseError(`${operation} failed permanently: ${errorMessage(err)}`, {
          cause: err,
          clickhouseCode: clickHouseErrorCode(err),
        });
      }
      const elapsed = runtime.now() - started;
      const delayMs = computeBackoffDelay(attempt, options, runtime.random);
      const pastDeadline = options.deadlineMs !== undefined && elapsed + delayMs >= options.deadlineMs;
      if (attempt >= maxAttempts || pastDeadline) {
        throw new RetriesExhaustedError(
          `${operation} failed after ${attempt} attempt(s) in ${elapsed} ms: ${errorMessage(err)}`,
          attempt,
          err,
        );
      }
      if (options.onRetry) {
        try {
          options.onRetry({ operation, attempt, delayMs, error: err, elapsedMs: elapsed });
        } catch {
          // a logging callback must not break the write path
        }
      }
      await runtime.sleep(delayMs, options.signal);
    }
  }
}
