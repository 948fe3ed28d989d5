import {
  NonRetryableClickHouseError,
  RetriesExhaustedError,
  RowValidationError,
  WriteAbortedError,
  clickHouseErrorCode,
  isRetryableError,
} from './errors';
import { computeBackoffDelay, retryWithBackoff, type RetryInfo, type RetryRuntime } from './retry';

function fakeRuntime(): RetryRuntime & { sleeps: number[]; clock: number } {
  const rt = {
    sleeps: [] as number[],
    clock: 0,
    now: () => rt.clock,
    random: () => 0.5,
    sleep: async (ms: number) => {
      rt.sleeps.push(ms);
      rt.clock += ms;
    },
  };
  return rt;
}

const connRefused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
const oldServerError = (code: number, text: string): Error =>
  new Error(`Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`);
const newServerError = (code: number, text: string, type: string): Error =>
  Object.assign(new Error(text), { code: String(code), type });

describe('error classification', () => {
  it('reads codes from 18.16 messages, current messages and ClickHouseError objects', () => {
    expect(clickHouseErrorCode(oldServerError(60, "Table x.y doesn't exist."))).toBe(60);
    expect(clickHouseErrorCode(new Error('Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS) (version 24.8)'))).toBe(252);
    expect(clickHouseErrorCode(newServerError(16, 'No such column', 'NO_SUCH_COLUMN_IN_TABLE'))).toBe(16);
    expect(clickHouseErrorCode(connRefused())).toBeUndefined();
  });

  it('retries connection errors, timeouts, transient server errors and unknown failures', () => {
    expect(isRetryableError(connRefused())).toBe(true);
    expect(isRetryableError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableError(new Error('Timeout error.'))).toBe(true);
    expect(isRetryableError(new Error('socket hang up'))).toBe(true);
    expect(isRetryableError(oldServerError(252, 'Too many parts'))).toBe(true);
    expect(isRetryableError(oldServerError(241, 'Memory limit exceeded'))).toBe(true);
    expect(isRetryableError(new Error('<html>502 Bad Gateway</html>'))).toBe(true);
  });

  it('does not retry schema mismatches, bad data, bad SQL, auth or programming errors', () => {
    expect(isRetryableError(oldServerError(60, "Table doesn't exist"))).toBe(false);
    expect(isRetryableError(oldServerError(16, 'There is no column'))).toBe(false);
    expect(isRetryableError(oldServerError(117, 'Unknown field found while parsing JSONEachRow format'))).toBe(false);
    expect(isRetryableError(newServerError(516, 'Authentication failed', 'AUTHENTICATION_FAILED'))).toBe(false);
    expect(isRetryableError(new TypeError('x is not a function'))).toBe(false);
    expect(isRetryableError(new RowValidationError('bad row'))).toBe(false);
  });
});

describe('computeBackoffDelay', () => {
  it('grows exponentially from 200 ms, caps at 10 s, and jitters within [d/2, d]', () => {
    expect([1, 2, 3, 4].map((a) => computeBackoffDelay(a, {}, () => 1))).toEqual([200, 400, 800, 1600]);
    expect(computeBackoffDelay(30, {}, () => 1)).toBe(10_000);
    expect(computeBackoffDelay(30, {}, () => 0)).toBe(5_000);
    expect(computeBackoffDelay(1, { initialDelayMs: 50, maxDelayMs: 60 }, () => 1)).toBe(50);
    expect(computeBackoffDelay(5, { initialDelayMs: 50, maxDelayMs: 60 }, () => 1)).toBe(60);
  });
});

describe('retryWithBackoff', () => {
  it('retries retryable failures and resolves with the first success', async () => {
    const rt = fakeRuntime();
    const seen: RetryInfo[] = [];
    let calls = 0;
    const result = await retryWithBackoff(
      'op',
      async () => {
        calls++;
        if (calls < 3) throw connRefused();
        return 'done';
      },
      { onRetry: (i) => seen.push(i) },
      rt,
    );
    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(rt.sleeps).toEqual([150, 300]);
    expect(seen.map((s) => [s.attempt, s.delayMs])).toEqual([
      [1, 150],
      [2, 300],
    ]);
  });

  it('fails at once with NonRetryableClickHouseError carrying the code', async () => {
    const rt = fakeRuntime();
    const err = await retryWithBackoff('op', async () => Promise.reject(oldServerError(60, 'no table')), {}, rt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetryableClickHouseError);
    expect((err as NonRetryableClickHouseError).clickhouseCode).toBe(60);
    expect(rt.sleeps).toEqual([]);
  });

  it('stops after maxAttempts with RetriesExhaustedError', async () => {
    const rt = fakeRuntime();
    const err = await retryWithBackoff('op', async () => Promise.reject(connRefused()), { maxAttempts: 4 }, rt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect((err as RetriesExhaustedError).attempts).toBe(4);
    expect(rt.sleeps).toHaveLength(3);
  });

  it('stops before the deadline would be passed', async () => {
    const rt = fakeRuntime();
    const err = await retryWithBackoff('op', async () => Promise.reject(connRefused()), { deadlineMs: 1000 }, rt).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    // sleeps 150 + 300 = 450; the next (600) would end past 1000 ms
    expect(rt.sleeps).toEqual([150, 300]);
  });

  it('stops retrying when the signal fires, with real timers', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = performance.now();
    const p = retryWithBackoff(
      'op',
      async () => {
        calls++;
        throw connRefused();
      },
      { initialDelayMs: 60_000, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 50);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteAbortedError);
    expect(calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('does not start when the signal is already aborted', async () => {
    const fn = jest.fn(async () => 1);
    await expect(retryWithBackoff('op', fn, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(WriteAbortedError);
    expect(fn).not.toHaveBeenCalled();
  });
});

