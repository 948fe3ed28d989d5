import fc from 'fast-check';
import {
  EventGenerator,
  MALFORMED_KINDS,
  MALFORMED_REASONS,
  REPAIRABLE_KINDS,
  deviceId,
  generateEvents,
  parseAndValidate,
  parseUtcInstant,
  type GeneratedRecord,
  type GeneratorOptions,
  type TelemetryEvent,
} from '../index';

const START = Date.parse('2026-11-24T09:00:00.000Z');
const gen = (opts: Partial<GeneratorOptions> = {}): GeneratedRecord[] => [...generateEvents({ seed: 7, startTimeMs: START, count: 5000, ...opts })];
/** Non-null or fail the test. */
function must<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('missing value');
  return value;
}
const hash = (records: GeneratedRecord[]) => Buffer.concat(records.map((r) => r.value)).toString('base64');

/** The repair a DLQ replayer would do, used to check `repaired`. */
function repair(value: Buffer): TelemetryEvent {
  const o = JSON.parse(value.toString()) as Record<string, unknown>;
  for (const f of ['temperature', 'metric_value', 'anomaly_score']) if (typeof o[f] === 'string') o[f] = Number(o[f]);
  const t = String(o['event_time']);
  const hasZone = /([+-]\d\d:\d\d|Z)$/.test(t);
  o['event_time'] = new Date(Date.parse(hasZone ? t.replace(' ', 'T') : `${t.replace(' ', 'T')}Z`)).toISOString();
  return o as unknown as TelemetryEvent;
}

describe('generateEvents', () => {
  it('is a pure function of its options: same seed same bytes, other seed other bytes', () => {
    expect(hash(gen())).toBe(hash(gen()));
    expect(hash(gen({ seed: 8 }))).not.toBe(hash(gen()));
    const faulty = { invalidFraction: 0.2, outOfOrderFraction: 0.1, lateFraction: 0.05 };
    expect(hash(gen({ faults: faulty }))).toBe(hash(gen({ faults: faulty })));
  });

  it('yields a prefix of a longer run for a smaller count, and is endless without count', () => {
    expect(hash(gen({ count: 1000 }))).toBe(hash(gen({ count: 5000 }).slice(0, 1000)));
    const endless = generateEvents({ seed: 7, startTimeMs: START });
    for (let i = 0; i < 6000; i++) expect(endless.next().done).toBe(false);
    expect(gen({ count: 0 })).toEqual([]);
  });

  it('produces valid events equal to their payload, keyed by device, with a stable user per device', () => {
    const records = gen({ count: 20000 });
    const userOf = new Map<string, string>();
    const problems: string[] = [];
    for (const r of records) {
      const v = parseAndValidate(r.value);
      if (!v.ok) {
        problems.push(`${r.index}: ${v.message}`);
        continue;
      }
      // Canonical field order and formatting: the payload is exactly JSON.stringify of the event.
      if (JSON.stringify(v.event) !== r.value.toString() || JSON.stringify(r.event) !== r.value.toString()) problems.push(`${r.index}: payload != event`);
      if (r.key !== v.event.device_id) problems.push(`${r.index}: key ${r.key}`);
      if ((userOf.get(r.key) ?? v.event.user_id) !== v.event.user_id) problems.push(`${r.index}: user changed`);
      if (r.fault !== undefined) problems.push(`${r.index}: fault ${r.fault}`);
      userOf.set(r.key, v.event.user_id);
    }
    expect(problems).toEqual([]);
    expect(userOf.size).toBeGreaterThan(1900); // 2000 devices, ~10 events each
    expect(new Set(records.map((r) => must(r.event).event_id)).size).toBe(records.length);
  });

  it('advances the simulated clock at ratePerSec and keeps fault-free event times in order', () => {
    const records = gen({ count: 3000, ratePerSec: 1000 });
    records.forEach((r, i) => expect(parseUtcInstant(must(r.event).event_time)).toBe(START + i));
  });

  it('uses all devices and users, and maps device i to user i mod users', () => {
    const records = gen({ devices: 10, users: 3, count: 500 });
    expect(new Set(records.map((r) => r.key))).toEqual(new Set(Array.from({ length: 10 }, (_, d) => deviceId(d))));
    for (const r of records) expect(Number(must(r.event).user_id.slice(5)) % 3).toBe(Number(r.key.slice(4)) % 3);
  });

  it('simulates plausible readings: smooth per-device series, anomalies near 1 at about anomalyFraction', () => {
    const records = gen({ count: 50000, devices: 50 });
    const events = records.map((r) => must(r.event));
    const anomalies = events.filter((e) => e.anomaly_score >= 0.9);
    expect(anomalies.length / events.length).toBeGreaterThan(0.003);
    expect(anomalies.length / events.length).toBeLessThan(0.008);
    // Not uniform noise: consecutive readings of a device are close (except around anomalies).
    const last = new Map<string, number>();
    const steps: number[] = [];
    for (const e of events) {
      if (e.anomaly_score < 0.9 && last.has(e.device_id)) steps.push(Math.abs(e.temperature - must(last.get(e.device_id))));
      if (e.anomaly_score < 0.9) last.set(e.device_id, e.temperature);
    }
    steps.sort((a, b) => a - b);
    expect(steps[Math.floor(steps.length * 0.99)]).toBeLessThan(1.5);
    const temps = events.map((e) => e.temperature);
    expect(Math.min(...temps)).toBeGreaterThan(0);
    expect(Math.max(...temps)).toBeLessThan(100);
    const statuses = new Set(events.map((e) => e.status));
    expect(statuses).toEqual(new Set(['ok', 'warning', 'error', 'offline']));
    expect(events.filter((e) => e.status === 'ok').length / events.length).toBeGreaterThan(0.9);
  });

  it('injects malformed payloads of every kind with the reason the validator gives, deterministically', () => {
    const records = gen({ count: 20000, faults: { invalidFraction: 0.2 } });
    const seen = new Map<string, number>();
    for (const r of records) {
      const v = parseAndValidate(r.value);
      if (r.reason === undefined) {
        expect(v.ok).toBe(true);
        continue;
      }
      expect(r.event).toBeUndefined();
      expect(r.fault && MALFORMED_REASONS[r.fault as keyof typeof MALFORMED_REASONS]).toBe(r.reason);
      expect(v.ok ? 'ok' : v.reason).toBe(r.reason);
      seen.set(must(r.fault), (seen.get(must(r.fault)) ?? 0) + 1);
      expect(r.key).toMatch(/^dev-\d{6}$/);
    }
    expect([...seen.keys()].sort()).toEqual([...MALFORMED_KINDS].sort());
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    expect(total / records.length).toBeCloseTo(0.2, 1);
  });

  it('attaches the repaired event to repairable payloads, and a simple repair restores it exactly', () => {
    const records = gen({ count: 5000, faults: { invalidFraction: 1, invalidKinds: REPAIRABLE_KINDS } });
    const formats = new Set<string>();
    for (const r of records) {
      expect(REPAIRABLE_KINDS).toContain(r.fault);
      expect(r.repaired).toBeDefined();
      const fixed = repair(r.value);
      expect(fixed).toEqual(r.repaired);
      expect(parseAndValidate(JSON.stringify(fixed))).toMatchObject({ ok: true, event: r.repaired });
      if (r.fault === 'repairable_timestamp') formats.add(String(JSON.parse(r.value.toString()).event_time).replace(/\d/g, '9'));
    }
    expect(formats).toEqual(
      new Set(['9999-99-99 99:99:99.999', '9999-99-99T99:99:99.999', '9999-99-99T99:99:99.999+99:99', '9999-99-99T99:99:99.999-99:99']),
    );
    const notRepairable = gen({ count: 2000, faults: { invalidFraction: 1, invalidKinds: ['wrong_type', 'bad_timestamp'] } });
    for (const r of notRepairable) expect(r.repaired).toBeUndefined();
  });

  it('moves out-of-order events back by at most maxOutOfOrderMs and late events by lateMin..lateMax', () => {
    const opts = { ratePerSec: 100, count: 20000, faults: { outOfOrderFraction: 0.1, lateFraction: 0.05, maxOutOfOrderMs: 3000 } };
    const records = gen(opts);
    let ooo = 0;
    let late = 0;
    records.forEach((r, i) => {
      const nominal = START + i * 10;
      const shift = nominal - parseUtcInstant(must(r.event).event_time);
      if (r.fault === 'out_of_order') {
        ooo++;
        expect(shift).toBeGreaterThanOrEqual(1);
        expect(shift).toBeLessThanOrEqual(3000);
      } else if (r.fault === 'late') {
        late++;
        expect(shift).toBeGreaterThanOrEqual(120000);
        expect(shift).toBeLessThanOrEqual(300000);
      } else expect(shift).toBe(0);
    });
    expect(ooo / records.length).toBeCloseTo(0.1, 1);
    expect(late / records.length).toBeCloseTo(0.05, 1);
  });

  it('keeps the underlying readings when only the fault fractions change', () => {
    const plain = gen({ count: 3000 });
    const faulty = gen({ count: 3000, faults: { outOfOrderFraction: 0.3, invalidFraction: 0.3 } });
    plain.forEach((p, i) => {
      const f = faulty[i];
      expect(f.key).toBe(p.key);
      const e = f.event ?? f.repaired;
      if (e && f.fault !== 'out_of_order') expect(e).toEqual(p.event);
      if (f.fault === 'out_of_order') expect({ ...f.event, event_time: must(p.event).event_time }).toEqual(p.event);
    });
  });

  it('holds its invariants for arbitrary options (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 0, max: 0xffffffff }),
          devices: fc.integer({ min: 1, max: 5000 }),
          users: fc.integer({ min: 1, max: 1000 }),
          ratePerSec: fc.integer({ min: 1, max: 200000 }),
          startTimeMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
          invalid: fc.double({ min: 0, max: 0.4, noNaN: true }),
          ooo: fc.double({ min: 0, max: 0.3, noNaN: true }),
          late: fc.double({ min: 0, max: 0.3, noNaN: true }),
        }),
        (o) => {
          const opts: GeneratorOptions = {
            seed: o.seed,
            devices: o.devices,
            users: o.users,
            ratePerSec: o.ratePerSec,
            startTimeMs: o.startTimeMs,
            count: 300,
            faults: { invalidFraction: o.invalid, outOfOrderFraction: o.ooo, lateFraction: o.late },
          };
          const a = [...generateEvents(opts)];
          expect(a.length).toBe(300);
          for (const r of a) {
            const v = parseAndValidate(r.value);
            expect(v.ok ? undefined : v.reason).toBe(r.reason);
            if (v.ok) expect(v.event).toEqual(r.event);
            expect(Number(r.key.slice(4))).toBeLessThan(o.devices);
          }
          expect(hash([...generateEvents(opts)])).toBe(hash(a));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('nextPayload() yields the same keys, bytes and faults as next() without building events', () => {
    const opts = { seed: 21, startTimeMs: START, faults: { invalidFraction: 0.2, outOfOrderFraction: 0.1, lateFraction: 0.05 } };
    const full = new EventGenerator(opts);
    const lean = new EventGenerator(opts);
    const mismatches: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const a = full.next();
      const b = lean.nextPayload();
      if (a.index !== b.index || a.key !== b.key || a.fault !== b.fault || !a.value.equals(b.value)) mismatches.push(i);
    }
    expect(mismatches).toEqual([]);
  });

  it('rejects impossible options with a RangeError', () => {
    const base = { seed: 1, startTimeMs: START };
    expect(() => new EventGenerator({ ...base, devices: 0 })).toThrow(RangeError);
    expect(() => new EventGenerator({ ...base, seed: -1 })).toThrow(/seed/);
    expect(() => new EventGenerator({ ...base, ratePerSec: 0 })).toThrow(/ratePerSec/);
    expect(() => new EventGenerator({ ...base, faults: { invalidFraction: 0.6, lateFraction: 0.6 } })).toThrow(/must not exceed 1/);
    expect(() => new EventGenerator({ ...base, faults: { invalidKinds: ['nope' as never] } })).toThrow(/unknown malformed kind/);
  });
});
