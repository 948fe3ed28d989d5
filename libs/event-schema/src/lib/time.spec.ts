import fc from 'fast-check';
import { formatUtcMillis, parseUtcInstant } from './time';

const MIN = Date.UTC(1970, 0, 1);
const MAX = Date.UTC(2105, 11, 31, 23, 59, 59, 999);

describe('UTC instants', () => {
  it('formatUtcMillis matches Date#toISOString and parseUtcInstant inverts it', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN, max: MAX }), (ms) => {
        const text = formatUtcMillis(ms);
        expect(text).toBe(new Date(ms).toISOString());
        expect(parseUtcInstant(text)).toBe(ms);
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with Date.parse on every syntactically valid instant with 0-9 fraction digits', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN / 1000, max: Math.floor(MAX / 1000) }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 999999999 }), (sec, digits, frac) => {
        const base = new Date(sec * 1000).toISOString().slice(0, 19);
        const fraction = digits === 0 ? '' : `.${String(frac).padStart(9, '0').slice(0, digits)}`;
        const text = `${base}${fraction}Z`;
        expect(parseUtcInstant(text)).toBe(Date.parse(`${base}.${(fraction.slice(1) + '000').slice(0, 3)}Z`));
      }),
    );
  });

  it('rejects impossible calendar dates that Date.parse would roll over', () => {
    for (const text of ['2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2100-02-29T00:00:00Z', '2026-00-10T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-00T00:00:00Z']) {
      expect(parseUtcInstant(text)).toBeNaN();
    }
    expect(parseUtcInstant('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
  });

  it('rejects anything that is not the strict UTC form', () => {
    for (const text of ['2026-11-24T09:00:00+00:00', '2026-11-24 09:00:00Z', '2026-11-24T09:00:00', '2026-11-24t09:00:00z', '2026-11-24T09:00:60Z', '2026-11-24T9:00:00Z', '2026-11-24T09:00:00.Z', '+02026-11-24T09:00:00Z', '2106-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '2026-11-24T09:00:00.12a Z', '']) {
      expect(parseUtcInstant(text)).toBeNaN();
    }
  });
});
