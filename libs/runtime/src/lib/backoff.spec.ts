import fc from 'fast-check';
import { backoffDelayMs, type BackoffPolicy } from './backoff';

/** Brute force: start at the initial delay and grow it once per further failure, capping at every step. */
function oracle(failures: number, p: Required<Pick<BackoffPolicy, 'initialDelayMs' | 'maxDelayMs' | 'multiplier'>>): number {
  let delay = Math.min(p.maxDelayMs, p.initialDelayMs);
  for (let i = 1; i < failures; i++) delay = Math.min(p.maxDelayMs, delay * p.multiplier);
  return delay;
}

describe('backoffDelayMs', () => {
  it('doubles from the initial delay up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(n, { initialDelayMs: 250, maxDelayMs: 10_000 }))).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(backoffDelayMs(10_000, { initialDelayMs: 500, maxDelayMs: 10_000 })).toBe(10_000); // the power overflows; the cap holds
  });

  it('equal jitter keeps half of the delay and randomises the other half', () => {
    const policy: BackoffPolicy = { initialDelayMs: 200, maxDelayMs: 10_000, jitter: 'equal' };
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, policy, () => 1))).toEqual([200, 400, 800, 1600]);
    expect(backoffDelayMs(30, policy, () => 0)).toBe(5_000);
    expect(backoffDelayMs(30, policy, () => 1)).toBe(10_000);
  });

  it('equals the step-by-step oracle, and jitter stays within [delay / 2, delay]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 0, max: 120_000 }),
        fc.constantFrom(1, 1.5, 2, 3),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, initialDelayMs, maxDelayMs, multiplier, r) => {
          const exact = oracle(failures, { initialDelayMs, maxDelayMs, multiplier });
          expect(backoffDelayMs(failures, { initialDelayMs, maxDelayMs, multiplier })).toBeCloseTo(exact, 6);
          const jittered = backoffDelayMs(failures, { initialDelayMs, maxDelayMs, multiplier, jitter: 'equal' }, () => r);
          expect(jittered).toBeGreaterThanOrEqual(Math.floor(exact / 2));
          expect(jittered).toBeLessThanOrEqual(Math.ceil(exact));
        },
      ),
    );
  });

  it('refuses a failure count below one and a shrinking policy', () => {
    expect(() => backoffDelayMs(0, { initialDelayMs: 1, maxDelayMs: 2 })).toThrow(/failures must be a whole number >= 1 \(got 0\)/);
    expect(() => backoffDelayMs(1.5, { initialDelayMs: 1, maxDelayMs: 2 })).toThrow(RangeError);
    expect(() => backoffDelayMs(1, { initialDelayMs: 1, maxDelayMs: 2, multiplier: 0.5 })).toThrow(/multiplier >= 1/);
  });
});
