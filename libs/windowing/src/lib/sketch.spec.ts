import fc from 'fast-check';
import { accumulatorResult, accumulatorState, addToAccumulator, createAccumulator, mergeAccumulators, type FoldableEvent } from './fold';
import { addToSketch, createSketch, mergeSketchInto, quantileRank, sketchKeyOf, sketchQuantile, sketchValueOf, SKETCH_MIN_MAGNITUDE, SKETCH_RELATIVE_ACCURACY } from './sketch';

const SEED = 20261205;

const valueArb = fc.oneof(
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.double({ min: -1e-3, max: 1e-3, noNaN: true }),
  fc.constantFrom(0, -0, 1, -1, 1e300, -1e300, 5e-324, 1e-9, -1e-9),
  fc.integer({ min: -40, max: 120 }),
);

function exact(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[quantileRank(q, s.length)];
}

function within(got: number, want: number): boolean {
  if (Math.abs(want) < SKETCH_MIN_MAGNITUDE) return Math.abs(got) <= SKETCH_MIN_MAGNITUDE;
  return Math.abs(got - want) <= SKETCH_RELATIVE_ACCURACY * Math.abs(want);
}

describe('quantile sketch (DDSketch, both signs, zero bin)', () => {
  it('every bin stands for its values within the accuracy, and keys order as values', () => {
    fc.assert(
      fc.property(valueArb, valueArb, (a, b) => {
        expect(within(sketchValueOf(sketchKeyOf(a)), a)).toBe(true);
        if (a < b) expect(sketchKeyOf(a)).toBeLessThanOrEqual(sketchKeyOf(b));
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });

  it('answers every quantile within 1 % of the exact value of its rank, merged in any split', () => {
    fc.assert(
      fc.property(fc.array(valueArb, { minLength: 1, maxLength: 300 }), fc.nat(300), fc.double({ min: 0, max: 1, noNaN: true }), (values, cut, q) => {
        const whole = createSketch();
        const left = createSketch();
        const right = createSketch();
        values.forEach((v, i) => {
          addToSketch(whole, v);
          addToSketch(i < cut ? left : right, v);
        });
        mergeSketchInto(right, left);
        expect(new Map([...right].sort())).toEqual(new Map([...whole].sort()));
        for (const qq of [q, 0, 0.5, 0.95, 0.99, 1]) {
          const got = sketchQuantile(whole, qq, Math.min(...values), Math.max(...values));
          if (!within(got, exact(values, qq))) throw new Error(`q=${qq}: ${got} vs exact ${exact(values, qq)}`);
        }
      }),
      { seed: SEED + 1, numRuns: 2000 },
    );
  });

  it('an empty sketch has no quantile; a quantile outside [0, 1] is refused', () => {
    expect(sketchQuantile(createSketch(), 0.5)).toBeNaN();
    expect(() => sketchQuantile(createSketch(), 1.5)).toThrow(RangeError);
  });
});

describe('window accumulator', () => {
  const ev = (metricValue: number, temperature: number, status: FoldableEvent['status'], recordTimestampMs: number): FoldableEvent => ({ eventTimeMs: 1000, recordTimestampMs, metricValue, temperature, status, anomalyScore: 0.95 });

  it('merges exactly and in either order (counts, extremes, statuses, sketches, last reading)', () => {
    const a = createAccumulator();
    const b = createAccumulator();
    addToAccumulator(a, ev(1, -5, 'ok', 10), 0.9, false);
    addToAccumulator(a, ev(3, 7, 'error', 30), 0.9, true);
    addToAccumulator(b, ev(-2, 40, 'warning', 30), 0.9, false);
    const ab = accumulatorState(mergeAccumulators(a, b));
    const ba = accumulatorState(mergeAccumulators(b, a));
    expect({ ...ab, metricSum: 0, temperatureSum: 0 }).toEqual({ ...ba, metricSum: 0, temperatureSum: 0 });
    expect(ab).toMatchObject({ totalEvents: 3, metricMin: -2, metricMax: 3, temperatureMin: -5, temperatureMax: 40, anomalyEvents: 3, lateEvents: 1, statusCounts: { ok: 1, warning: 1, error: 1, offline: 0 }, firstSeenMs: 10, lastSeenMs: 30 });
    const r = accumulatorResult(mergeAccumulators(a, b));
    expect(r.avgMetric).toBeCloseTo(2 / 3, 12);
    expect(r.p50Metric).toBeCloseTo(1, 1);
  });

  it('refuses a status it does not know and a non-finite temperature', () => {
    expect(() => addToAccumulator(createAccumulator(), { ...ev(1, 1, 'ok', 1), status: 'broken' as never }, 0.9, false)).toThrow(/status must be one of ok, warning, error, offline/);
    expect(() => addToAccumulator(createAccumulator(), ev(1, NaN, 'ok', 1), 0.9, false)).toThrow(RangeError);
  });
});
