import { CatchUpEnd, nextFlushDueAt } from './flush-schedule';

describe('nextFlushDueAt', () => {
  it('keeps a steady cadence after a fast flush: one interval after it started', () => {
    expect(nextFlushDueAt(10_000, 10_300, 5_000)).toBe(15_000);
    expect(nextFlushDueAt(10_000, 10_000, 5_000)).toBe(15_000);
    expect(nextFlushDueAt(10_000, 12_500, 5_000)).toBe(15_000); // exactly half the interval left
  });

  it('gives a whole interval of consuming after a slow flush', () => {
    expect(nextFlushDueAt(10_000, 12_501, 5_000)).toBe(17_501);
    expect(nextFlushDueAt(10_000, 19_000, 5_000)).toBe(24_000); // longer than the interval
  });

  it('never schedules the next flush sooner than half an interval after this one ended', () => {
    for (let duration = 0; duration <= 20_000; duration += 137) {
      const due = nextFlushDueAt(1_000, 1_000 + duration, 5_000);
      expect(due - (1_000 + duration)).toBeGreaterThanOrEqual(2_500);
      expect(due - 1_000).toBeGreaterThanOrEqual(5_000);
    }
  });
});

describe('CatchUpEnd', () => {
  it('says a catch-up ended at the first empty batch after a full one, until a flush takes the rows', () => {
    const c = new CatchUpEnd();
    expect([500, 500, 120].map((n) => c.observe(n, 500))).toEqual([false, false, false]);
    expect(c.observe(0, 500)).toBe(true);
    // Until a flush takes the rows, every empty batch says so.
    expect(c.observe(0, 500)).toBe(true);
    c.flushTaken();
    expect(c.observe(0, 500)).toBe(false);
  });

  it('never fires for live traffic that does not fill a batch', () => {
    const c = new CatchUpEnd();
    const sizes = [3, 0, 17, 499, 0, 0, 42, 0];
    expect(sizes.map((n) => c.observe(n, 500))).toEqual(sizes.map(() => false));
  });
});
