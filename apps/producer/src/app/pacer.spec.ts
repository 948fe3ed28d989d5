import fc from 'fast-check';
import { Pacer } from './pacer';

describe('Pacer', () => {
  it('schedules event i at start + i/rate, exactly on average', () => {
    const p = new Pacer(10000, 1000);
    expect(p.dueBy(999)).toBe(0);
    expect(p.dueBy(1000)).toBe(1);
    expect(p.dueBy(1000.1)).toBe(2);
    expect(p.dueBy(2000)).toBe(10001);
    expect(p.dueBy(61000)).toBe(600001);
    expect(p.dueAt(10000)).toBe(2000);
  });

  it('is unthrottled at rate 0', () => {
    expect(new Pacer(0, 0).dueBy(0)).toBe(Infinity);
  });

  it('sends a smooth stream whatever the tick jitter, and catches up after stalls (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200000 }),
        fc.array(fc.double({ min: 0.5, max: 30, noNaN: true }), { minLength: 50, maxLength: 400 }),
        (rate, gaps) => {
          const p = new Pacer(rate, 0);
          let now = 0;
          let sent = 0;
          for (const gap of gaps) {
            now += gap;
            const due = p.dueBy(now);
            expect(due).toBeGreaterThanOrEqual(sent); // monotonic
            // Each tick sends only what accumulated since the last one: at most rate*gap + 1.
            expect(due - sent).toBeLessThanOrEqual(Math.ceil((rate * gap) / 1000) + 1);
            sent = due;
          }
          // After any sequence of ticks the total is within one event of rate * elapsed.
          expect(Math.abs(sent - (now * rate) / 1000)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});
