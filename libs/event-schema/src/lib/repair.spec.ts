import fc from 'fast-check';
import {
  REPAIR_NAMES,
  coerceNumericString,
  formatUtcMillis,
  generateEvents,
  isRepairName,
  normalizeTimestamp,
  parseAndValidate,
  repairPayload,
  serializeEvent,
  type RepairName,
  type TelemetryEvent,
} from '../index';

const valid: TelemetryEvent = {
  event_id: '2149f46c-57f3-4ddf-a16b-26b708ef9fc4',
  event_time: '2026-11-24T09:00:00.123Z',
  device_id: 'dev-000001',
  user_id: 'user-00001',
  temperature: 21.5,
  metric_value: 426.1,
  status: 'ok',
  anomaly_score: 0.1571,
};
const payload = (patch: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ ...valid, ...patch }));
const ALL: RepairName[] = ['numeric-strings', 'timestamps'];

describe('coerceNumericString', () => {
  it.each([
    ['21.5', 21.5],
    ['-0.25', -0.25],
    ['0', 0],
    ['1e3', 1000],
    ['1.5E-2', 0.015],
    ['426.1', 426.1],
  ])('accepts the JSON number literal %s', (text, n) => expect(coerceNumericString(text)).toBe(n));

  it.each(['', ' 21.5', '21.5 ', '+21.5', '21,5', '021.5', '.5', '5.', '0x10', 'NaN', 'Infinity', '-Infinity', '1e999', '-1e999', 'hot', 'n/a', '1_000', '21.5°C'])(
    'refuses %j',
    (text) => expect(coerceNumericString(text)).toBeUndefined(),
  );
});

describe('normalizeTimestamp', () => {
  it.each([
    ['2026-11-24 09:00:00.123', '2026-11-24T09:00:00.123Z'],
    ['2026-11-24T09:00:00.123', '2026-11-24T09:00:00.123Z'],
    ['2026-11-24T10:00:00.123+01:00', '2026-11-24T09:00:00.123Z'],
    ['2026-11-24T04:00:00.123-05:00', '2026-11-24T09:00:00.123Z'],
    ['2026-11-24T14:30:00.123+0530', '2026-11-24T09:00:00.123Z'],
    ['2026-11-24 09:00:00+00:00', '2026-11-24T09:00:00.000Z'],
    ['2026-11-24T09:00:00.5', '2026-11-24T09:00:00.500Z'],
    ['2026-11-24T09:00:00.123456+01:00', '2026-11-24T08:00:00.123456Z'],
    ['2026-01-01T00:30:00.000+01:00', '2025-12-31T23:30:00.000Z'],
    ['2024-03-01T00:00:00.000+02:00', '2024-02-29T22:00:00.000Z'],
    ['2026-11-24 09:00:00.123Z', '2026-11-24T09:00:00.123Z'],
  ])('normalises %s to %s', (text, canonical) => expect(normalizeTimestamp(text)).toBe(canonical));

  it('leaves a valid UTC instant as it is (also without milliseconds)', () => {
    for (const t of ['2026-11-24T09:00:00.123Z', '2026-11-24T09:00:00Z', '2026-11-24T09:00:00.1Z']) expect(normalizeTimestamp(t)).toBe(t);
  });

  it.each([
    'not-a-time',
    '',
    '24/11/2026 09:00',
    '11/24/2026 09:00:00',
    '2026-11-24',
    '2026-11-24T09:00',
    '2026-11-24T09:00Z',
    '2026-02-30T10:00:00.000Z',
    '2026-02-30 10:00:00.000',
    '2026-11-24T25:61:00.000Z',
    '2026-11-24T23:59:60.000',
    '2026-11-24t09:00:00.000z',
    '2026-11-24T09:00:00.000-00:00',
    '2026-11-24T09:00:00.000+15:00',
    '2026-11-24T09:00:00.000+01:75',
    '2026-11-24T09:00:00.000 +01:00',
    '1969-12-31 23:59:59.999',
    '0070-01-01 00:00:00.000',
    '2026-11-24T09:00:00.0000000000',
    '2026-W48-2T09:00:00Z',
    '2026-11-24T09:00:00.123ZZ',
  ])('refuses the ambiguous or impossible %j', (text) => expect(normalizeTimestamp(text)).toBeUndefined());
});

describe('repairPayload', () => {
  it('accepts REPAIR_NAMES only', () => {
    expect(REPAIR_NAMES).toEqual(ALL);
    expect(isRepairName('timestamps')).toBe(true);
    expect(isRepairName('toString')).toBe(false);
  });

  it('returns a valid payload unchanged (same bytes, nothing applied), with or without repairs', () => {
    const bytes = Buffer.from(`{"event_id":"${valid.event_id}", "event_time":"2026-11-24T09:00:00Z","device_id":"dev-000001","user_id":"user-00001","temperature":21.50,"metric_value":426.1,"status":"ok","anomaly_score":0.1571}`);
    for (const repairs of [[], ALL] as RepairName[][]) {
      const r = repairPayload(bytes, repairs);
      expect(r.ok).toBe(true);
      if (r.ok) {
        expect(r.payload).toBe(bytes);
        expect(r.applied).toEqual([]);
      }
    }
  });

  it('coerces numeric strings only when asked', () => {
    const bytes = payload({ temperature: '21.5', anomaly_score: '0.1571' });
    expect(repairPayload(bytes, [])).toMatchObject({ ok: false, reason: 'wrong_type', applied: [] });
    expect(repairPayload(bytes, ['timestamps'])).toMatchObject({ ok: false, reason: 'wrong_type', applied: [] });
    const r = repairPayload(bytes, ['numeric-strings']);
    expect(r).toMatchObject({ ok: true, event: valid, applied: ['numeric-strings'] });
    if (r.ok) {
      expect(r.payload.toString()).toBe(serializeEvent(valid));
      expect(r.changes.map((c) => c.field)).toEqual(['temperature', 'anomaly_score']);
    }
  });

  it('normalises timestamps only when asked', () => {
    const bytes = payload({ event_time: '2026-11-24T10:00:00.123+01:00' });
    expect(repairPayload(bytes, ['numeric-strings'])).toMatchObject({ ok: false, reason: 'bad_timestamp' });
    expect(repairPayload(bytes, ['timestamps'])).toMatchObject({ ok: true, event: valid, eventTimeMs: Date.parse(valid.event_time), applied: ['timestamps'] });
  });

  it('applies both repairs to one payload', () => {
    const r = repairPayload(payload({ event_time: '2026-11-24 09:00:00.123', metric_value: '426.1' }), ALL);
    expect(r).toMatchObject({ ok: true, event: valid, applied: ['numeric-strings', 'timestamps'] });
  });

  it('reports what still fails after a repair, with the repairs that applied', () => {
    expect(repairPayload(payload({ temperature: '999.5' }), ALL)).toMatchObject({ ok: false, reason: 'out_of_range', field: 'temperature', applied: ['numeric-strings'] });
    expect(repairPayload(payload({ temperature: '21.5', firmware: '1.2' }), ALL)).toMatchObject({ ok: false, reason: 'unknown_field', applied: ['numeric-strings'] });
    expect(repairPayload(payload({ temperature: 'hot' }), ALL)).toMatchObject({ ok: false, reason: 'wrong_type', applied: [] });
    expect(repairPayload(payload({ event_time: '24/11/2026 09:00' }), ALL)).toMatchObject({ ok: false, reason: 'bad_timestamp', applied: [] });
    expect(repairPayload(payload({ status: 'bogus' }), ALL)).toMatchObject({ ok: false, reason: 'invalid_value' });
  });

  it('never repairs unreadable bytes', () => {
    for (const bytes of [null, undefined, Buffer.alloc(0), Buffer.from('{"temperature":"21.5"'), Buffer.from([0x7b, 0xff, 0x7d]), Buffer.from('[1,2]'), Buffer.from('"21.5"')]) {
      const r = repairPayload(bytes, ALL);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(['invalid_json', 'wrong_type']).toContain(r.reason);
    }
    const big = Buffer.from(JSON.stringify({ ...valid, temperature: '21.5', padding: 'x'.repeat(9000) }));
    expect(repairPayload(big, ALL)).toMatchObject({ ok: false, reason: 'too_large' });
  });

  it('yields exactly the generator`s `repaired` event for every repairable record', () => {
    let seen = 0;
    for (const rec of generateEvents({
      seed: 11,
      startTimeMs: Date.parse('2026-11-24T09:00:00.000Z'),
      count: 4000,
      faults: { invalidFraction: 1, invalidKinds: ['repairable_numeric_string', 'repairable_timestamp'] },
    })) {
      const kind = rec.fault === 'repairable_numeric_string' ? 'numeric-strings' : 'timestamps';
      expect(parseAndValidate(rec.value).ok).toBe(false);
      const other = repairPayload(rec.value, [kind === 'timestamps' ? 'numeric-strings' : 'timestamps']);
      expect(other.ok).toBe(false);
      const r = repairPayload(rec.value, [kind]);
      expect(r).toMatchObject({ ok: true, event: rec.repaired, applied: [kind] });
      seen++;
    }
    expect(seen).toBe(4000);
  });

  it('refuses every unrepairable malformed kind of the generator', () => {
    for (const rec of generateEvents({
      seed: 12,
      startTimeMs: Date.parse('2026-11-24T09:00:00.000Z'),
      count: 3000,
      faults: { invalidFraction: 1, invalidKinds: ['invalid_json', 'too_large', 'wrong_type', 'missing_field', 'unknown_field', 'out_of_range', 'invalid_value', 'bad_timestamp'] },
    })) {
      const r = repairPayload(rec.value, ALL);
      // wrong_type never uses a numeric string; bad_timestamp never uses a repairable form
      expect(r.ok).toBe(false);
    }
  });
});

describe('repair properties', () => {
  const instant = fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2104, 11, 1) });
  const event = fc.record({
    event_id: fc.uuid(),
    event_time: instant.map((ms) => formatUtcMillis(ms)),
    device_id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/),
    user_id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/),
    temperature: fc.double({ min: -100, max: 150, noNaN: true }).map((n) => n + 0),
    metric_value: fc.double({ min: -1e9, max: 1e9, noNaN: true }).map((n) => n + 0),
    status: fc.constantFrom('ok', 'warning', 'error', 'offline'),
    anomaly_score: fc.double({ min: 0, max: 1, noNaN: true }).map((n) => n + 0),
  }) as fc.Arbitrary<TelemetryEvent>;
  const repairs = fc.subarray(ALL);
  const offsetMinutes = fc.constantFrom(0, 60, 120, -300, 330, -480, 345, 840, -720, -59);

  /** The same event written in a repairable shape. */
  const damaged = fc.tuple(event, fc.subarray(['temperature', 'metric_value', 'anomaly_score'] as const), fc.nat(3), offsetMinutes).map(([e, numericAsString, style, offset]) => {
    const o: Record<string, unknown> = { ...e };
    for (const f of numericAsString) o[f] = String(e[f]);
    const ms = Date.parse(e.event_time);
    const iso = formatUtcMillis(ms);
    const local = new Date(ms + offset * 60000).toISOString().slice(0, 23);
    const abs = Math.abs(offset);
    const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    o['event_time'] = [iso, `${iso.slice(0, 10)} ${iso.slice(11, 23)}`, iso.slice(0, 23), `${local}${zone}`][style];
    return { event: e, bytes: Buffer.from(JSON.stringify(o)), needs: [...(numericAsString.length > 0 ? ['numeric-strings'] : []), ...(style > 0 ? ['timestamps'] : [])] as RepairName[] };
  });

  it('never changes a valid event', () => {
    fc.assert(
      fc.property(event, repairs, (e, rs) => {
        const bytes = Buffer.from(serializeEvent(e));
        const r = repairPayload(bytes, rs);
        return r.ok && r.payload === bytes && r.applied.length === 0;
      }),
    );
  });

  it('repairs a damaged event back to the original exactly when the needed repairs are chosen', () => {
    fc.assert(
      fc.property(damaged, repairs, ({ event: e, bytes, needs }, rs) => {
        const r = repairPayload(bytes, rs);
        const enough = needs.every((n) => rs.includes(n));
        if (!enough) return !r.ok;
        if (!r.ok) return false;
        expect(r.event).toEqual(e);
        expect(r.applied.sort()).toEqual([...needs].sort());
        return parseAndValidate(r.payload).ok;
      }),
    );
  });

  it('is idempotent, and whatever it returns as repaired validates (arbitrary objects)', () => {
    const anyValue = fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.stringMatching(/^-?[0-9]{1,4}(\.[0-9]{1,3})?$/), fc.constantFrom('2026-11-24 09:00:00.123', '2026-11-24T09:00:00+01:00', '1e999'));
    const object = fc.tuple(event, fc.dictionary(fc.constantFrom('temperature', 'metric_value', 'anomaly_score', 'event_time', 'status', 'extra'), anyValue)).map(([e, patch]) => ({ ...e, ...patch }));
    fc.assert(
      fc.property(fc.oneof(object.map((o) => Buffer.from(JSON.stringify(o))), damaged.map((d) => d.bytes)), repairs, (bytes, rs) => {
        const r = repairPayload(bytes, rs);
        if (!r.ok) return true;
        const v = parseAndValidate(r.payload);
        if (!v.ok) return false;
        expect(v.event).toEqual(r.event);
        const again = repairPayload(r.payload, rs);
        return again.ok && again.payload === r.payload && again.applied.length === 0;
      }),
    );
  });
});
