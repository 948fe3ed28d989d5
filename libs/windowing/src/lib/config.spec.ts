import { DEFAULT_WINDOWING_CONFIG, judgeEventTime, resolveWindowingConfig, windowStartOf } from './config';

describe('windowStartOf', () => {
  const M = 60_000;

  it('maps times inside a window to its start', () => {
    expect(windowStartOf(0, M)).toBe(0);
    expect(windowStartOf(1, M)).toBe(0);
    expect(windowStartOf(59_999, M)).toBe(0);
    expect(windowStartOf(61_234, M)).toBe(60_000);
  });

  it('puts a time exactly on a boundary into the window that starts there', () => {
    expect(windowStartOf(60_000, M)).toBe(60_000);
    expect(windowStartOf(120_000, M)).toBe(120_000);
  });

  it('rounds pre-epoch times down, not towards zero', () => {
    expect(windowStartOf(-1, M)).toBe(-60_000);
    expect(windowStartOf(-59_999, M)).toBe(-60_000);
    expect(windowStartOf(-60_000, M)).toBe(-60_000);
    expect(windowStartOf(-60_001, M)).toBe(-120_000);
  });

  it('never returns -0', () => {
    expect(Object.is(windowStartOf(-0, M), 0)).toBe(true);
    expect(Object.is(windowStartOf(0.5, M), 0)).toBe(true);
  });

  it('handles real epoch times exactly', () => {
    const t = Date.parse('2026-11-24T09:00:00.000Z');
    expect(windowStartOf(t, M)).toBe(t);
    expect(windowStartOf(t + 59_999, M)).toBe(t);
    expect(windowStartOf(t - 1, M)).toBe(t - M);
    expect(windowStartOf(Date.parse('2026-11-24T09:00:59.999Z'), M)).toBe(t);
  });

  it('handles fractional times just below a boundary', () => {
    const t = Date.parse('2026-11-24T09:01:00.000Z');
    expect(windowStartOf(t - 1e-3, M)).toBe(t - M);
    expect(windowStartOf(-1e-9, M)).toBe(-M);
  });

  it('is the largest multiple of size <= t for any integer t and size', () => {
    for (const size of [1, 7, 1000, 60_000, 3_600_000]) {
      for (const t of [-7_777_777_777, -3_600_001, -1, 0, 1, 59_999, 1_764_000_000_123, 8_640_000_000_000_000]) {
        const w = windowStartOf(t, size);
        expect(w % size === 0).toBe(true);
        expect(w <= t && t < w + size).toBe(true);
      }
    }
  });
});

describe('resolveWindowingConfig', () => {
  it('fills the contract defaults (docs/architecture.md)', () => {
    expect(resolveWindowingConfig()).toEqual({
      windowSizeMs: 60_000,
      maxOutOfOrdernessMs: 10_000,
      allowedLatenessMs: 86_400_000,
      maxFutureSkewMs: 300_000,
      anomalyThreshold: 0.9,
      retainFinalWindowsForFlushes: 12,
    });
    expect(resolveWindowingConfig({ allowedLatenessMs: undefined })).toEqual(DEFAULT_WINDOWING_CONFIG);
    expect(resolveWindowingConfig({ allowedLatenessMs: 5000 }).allowedLatenessMs).toBe(5000);
  });

  it.each([
    [{ windowSizeMs: 0 }, /windowSizeMs/],
    [{ windowSizeMs: 1.5 }, /windowSizeMs/],
    [{ windowSizeMs: -60_000 }, /windowSizeMs/],
    [{ maxOutOfOrdernessMs: -1 }, /maxOutOfOrdernessMs/],
    [{ maxOutOfOrdernessMs: Infinity }, /maxOutOfOrdernessMs/],
    [{ allowedLatenessMs: NaN }, /allowedLatenessMs/],
    [{ anomalyThreshold: NaN }, /anomalyThreshold/],
    [{ maxFutureSkewMs: -5 }, /maxFutureSkewMs/],
    [{ retainFinalWindowsForFlushes: 1.5 }, /retainFinalWindowsForFlushes/],
  ])('rejects %j', (cfg, msg) => {
    expect(() => resolveWindowingConfig(cfg)).toThrow(msg);
  });
});

describe('judgeEventTime (the window rules other components share)', () => {
  const cfg = resolveWindowingConfig({ allowedLatenessMs: 3_600_000, maxFutureSkewMs: 300_000 });
  const T = Date.UTC(2026, 11, 1, 12, 0, 0);
  it('tells future, too late, final and counted apart', () => {
    expect(judgeEventTime(cfg, T + 300_001, T, T)).toMatchObject({ future: true, tooLate: false });
    expect(judgeEventTime(cfg, T + 300_000, T, T)).toMatchObject({ future: false });
    expect(judgeEventTime(cfg, T - 30 * 60_000, T, T)).toEqual({ windowStart: T - 30 * 60_000, future: false, tooLate: false, windowFinal: true });
    expect(judgeEventTime(cfg, T - 61 * 60_000, T, T)).toMatchObject({ tooLate: true, windowFinal: true });
    expect(judgeEventTime(cfg, T - 1, T, T - 10_000)).toMatchObject({ tooLate: false, windowFinal: false });
    expect(judgeEventTime(cfg, T - 1, T, T)).toMatchObject({ tooLate: false, windowFinal: true });
    expect(judgeEventTime(cfg, T + 10 ** 12, undefined, T)).toMatchObject({ future: false });
  });
});
