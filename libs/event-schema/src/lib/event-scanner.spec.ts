import fc from 'fast-check';
import { scanEvent } from './event-scanner';
import { generateEvents, MALFORMED_KINDS } from './generator';
import { parseAndValidate, parseJsonAndValidate } from './validator';

// Differential tests: the scanner (parseAndValidate's fast path) against the
// general JSON.parse + ajv path as the oracle. Whatever the input,
// parseAndValidate must return exactly what the general path returns (same
// verdict, same reason code and message, the same event with bit-identical
// numbers: toStrictEqual compares numbers with Object.is, so -0 is not 0),
// and the scanner may accept only what the general path accepts.

const expectSameAsGeneralPath = (payload: Buffer) => {
  const oracle = parseJsonAndValidate(payload);
  expect(parseAndValidate(payload)).toStrictEqual(oracle);
  const scanned = scanEvent(payload);
  if (scanned !== undefined) expect(scanned).toStrictEqual(oracle);
  expectSameInPlace(payload, scanned);
};

/**
 * A message read where it lies in a packed batch (scanEvent over a range)
 * must be judged as on its own: the bytes around it, here the same bytes
 * again (so a truncated field could be completed by them), are never read.
 */
const expectSameInPlace = (payload: Buffer, alone: ReturnType<typeof scanEvent>) => {
  const before = Buffer.from('{"event_id":"');
  const packed = Buffer.concat([before, payload, payload, Buffer.from('"}')]);
  expect(scanEvent(packed, before.length, before.length + payload.length)).toStrictEqual(alone);
};

const FIELDS = ['event_id', 'event_time', 'device_id', 'user_id', 'temperature', 'metric_value', 'status', 'anomaly_score'] as const;
type Field = (typeof FIELDS)[number];

/** Raw JSON texts per field: valid ones and every kind of near miss. */
const NUMBER_LITERALS = [
  '0', '-0', '0.0', '-0.0', '1', '-1', '21.5', '-100', '150', '150.0000000000001', '-100.00000000000001', '1e9', '-1e9', '1E2', '1e+2', '1e-2', '2.5e1',
  '0.1', '0.30000000000000004', '0.1000000000000000055511151231257827', '123456789012345', '1234567890123456', '12345678901234567890', '999999999.99999999',
  '0.000000000000000000000000000001', '1.7976931348623157e308', '1e999', '-1e999', '01', '-01', '1.', '.5', '+1', '-', '1e', '1e+', '--1', '0x10', 'NaN',
  'Infinity', '1_0', '1.2.3', '"21.5"', 'null', 'true', '[]', '{}', '0.9', '0.8999999999999999', '1.0000000000000002', '0.99995', '3.14159265358979',
];
const STRING_VALUES: Record<Exclude<Field, 'temperature' | 'metric_value' | 'anomaly_score'>, string[]> = {
  event_id: ['"2149f46c-57f3-4ddf-a16b-26b708ef9fc4"', '"2149F46C-57F3-4DDF-A16B-26B708EF9FC4"', '"2149f46c-57f3-4ddf-a16b-26b708ef9fc"', '"2149f46c-57f3-4ddf-a16b-26b708ef9fc4x"', '"2149f46c_57f3-4ddf-a16b-26b708ef9fc4"', '"g149f46c-57f3-4ddf-a16b-26b708ef9fc4"', '"\\u0032149f46c-57f3-4ddf-a16b-26b708ef9fc4"', '42', 'null'],
  event_time: ['"2026-11-24T09:00:00.123Z"', '"2026-11-24T09:00:00Z"', '"2026-11-24T09:00:00.1Z"', '"2026-11-24T09:00:00.123456789Z"', '"2026-11-24T09:00:00.1234567890Z"', '"2028-02-29T23:59:59.999Z"', '"2026-02-29T00:00:00.000Z"', '"1969-12-31T23:59:59.999Z"', '"2105-12-31T23:59:59.999Z"', '"2106-01-01T00:00:00.000Z"', '"2026-11-24 09:00:00.123Z"', '"2026-11-24T09:00:00.123+01:00"', '"2026-11-24T09:00:00.123"', '"2026-11-24T24:00:00.000Z"', '"2026-11-24T09:60:00.000Z"', '"2026-11-24T09:00:00.Z"', '"2026-13-24T09:00:00.000Z"', '"2026-11-24t09:00:00.000Z"', '1700000000000', '""'],
  device_id: ['"d-0001"', '"d"', `"${'x'.repeat(64)}"`, `"${'x'.repeat(65)}"`, '"tenant:42.dev_7-a"', '""', '"-d"', '"d 1"', '"d/1"', '"dé"', '"d\\n"', '"d\\"q"', '7'],
  user_id: ['"u-0001"', '"u"', `"${'u'.repeat(64)}"`, `"${'u'.repeat(65)}"`, '"_u"', '""', '"u\\u0031"', '"u\t1"', 'false'],
  status: ['"ok"', '"warning"', '"error"', '"offline"', '"OK"', '"okay"', '"o"', '""', '"ok "', '1', 'null'],
};
const valueArb = (f: Field) => fc.constantFrom(...(f === 'temperature' || f === 'metric_value' || f === 'anomaly_score' ? NUMBER_LITERALS : STRING_VALUES[f]));
const WHITESPACE = ['', '', '', ' ', '\n', '\t', '\r\n  ', '\u00a0', '\f'];

/** An object text from chosen members, with optional missing, duplicate and unknown keys, escaped keys and odd whitespace. */
const eventText = fc
  .record({
    order: fc.shuffledSubarray([...FIELDS], { minLength: 6, maxLength: 8 }),
    values: fc.record(Object.fromEntries(FIELDS.map((f) => [f, valueArb(f)])) as { [K in Field]: fc.Arbitrary<string> }),
    duplicate: fc.option(fc.constantFrom(...FIELDS), { freq: 8 }),
    unknown: fc.option(fc.constantFrom('"battery":0.5', '"Temperature":21', '"":1', '"event_id ":"x"'), { freq: 8 }),
    escapedKey: fc.boolean(),
    ws: fc.array(fc.constantFrom(...WHITESPACE), { minLength: 40, maxLength: 40 }),
    wrapper: fc.constantFrom(['{', '}'], ['{', '}'], ['{', '}'], ['[{', '}]'], ['{', '},'], ['{', '}}'], ['{', ''], ['\ufeff{', '}']),
  })
  .map(({ order, values, duplicate, unknown, escapedKey, ws, wrapper }) => {
    let w = 0;
    const s = () => ws[w++ % ws.length];
    const members = order.map((f, i) => `${s()}"${escapedKey && i === 0 ? f.replace('_', '\\u005f') : f}"${s()}:${s()}${values[f]}${s()}`);
    if (duplicate) members.push(`"${duplicate}":${values[duplicate]}`);
    if (unknown) members.splice(1, 0, unknown);
    return Buffer.from(`${s()}${wrapper[0]}${members.join(',')}${wrapper[1]}${s()}`, 'utf8');
  });

describe('scanEvent against JSON.parse + ajv', () => {
  it('accepts every valid event of the generator, with the same event and time as the general path', () => {
    let valid = 0;
    for (const r of generateEvents({ seed: 7, count: 5000, startTimeMs: Date.UTC(2026, 10, 24), anomalyFraction: 0.05 })) {
      const scanned = scanEvent(r.value);
      expect(scanned).toBeDefined();
      expectSameInPlace(r.value, scanned);
      expect(scanned).toStrictEqual(parseJsonAndValidate(r.value));
      valid++;
    }
    expect(valid).toBe(5000);
  });

  it('leaves every malformed payload the generator knows to the general path (same reason code and message)', () => {
    let malformed = 0;
    for (const r of generateEvents({ seed: 11, count: 10_000, startTimeMs: Date.UTC(2026, 10, 24), faults: { invalidFraction: 0.5, invalidKinds: MALFORMED_KINDS } })) {
      if (r.reason === undefined) continue;
      malformed++;
      expect(scanEvent(r.value)).toBeUndefined();
      expectSameInPlace(r.value, undefined);
      const result = parseAndValidate(r.value);
      expect(result).toStrictEqual(parseJsonAndValidate(r.value));
      expect(result).toMatchObject({ ok: false, reason: r.reason });
    }
    expect(malformed).toBeGreaterThan(4500);
  });

  it('returns what the general path returns for generated objects: any key order, whitespace, near-miss values and numbers', () => {
    fc.assert(fc.property(eventText, expectSameAsGeneralPath), { numRuns: 10_000 });
  });

  it('returns what the general path returns for valid events with random bytes changed, inserted or removed', () => {
    const payloads = [...generateEvents({ seed: 3, count: 200, startTimeMs: Date.UTC(2026, 10, 24) })].map((r) => r.value);
    const edit = fc.record({
      payload: fc.constantFrom(...payloads),
      edits: fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom('set', 'insert', 'delete'), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...Buffer.from('{}[]",:.-+eE0123456789 \\'))) }), { minLength: 1, maxLength: 3 }),
    });
    fc.assert(
      fc.property(edit, ({ payload, edits }) => {
        let bytes = [...payload];
        for (const e of edits) {
          const at = e.at % (bytes.length + 1);
          if (e.kind === 'set' && at < bytes.length) bytes[at] = e.byte;
          else if (e.kind === 'insert') bytes = [...bytes.slice(0, at), e.byte, ...bytes.slice(at)];
          else bytes = [...bytes.slice(0, at), ...bytes.slice(at + 1)];
        }
        expectSameAsGeneralPath(Buffer.from(bytes));
      }),
      { numRuns: 10_000 },
    );
  });

  it('parses numbers bit-identically to JSON.parse, whatever their digits', () => {
    const template = (n: string) => Buffer.from(`{"event_id":"2149f46c-57f3-4ddf-a16b-26b708ef9fc4","event_time":"2026-11-24T09:00:00.123Z","device_id":"d","user_id":"u","temperature":21,"metric_value":${n},"status":"ok","anomaly_score":0}`);
    const literal = fc.oneof(
      fc.double({ min: -1e9, max: 1e9, noNaN: true }).map((x) => JSON.stringify(x)),
      fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.nat({ max: 25 })).map(([neg, digits, point]) => {
        const s = digits.toString().padStart(point + 1, '0');
        return `${neg ? '-' : ''}${point === 0 ? s : `${s.slice(0, s.length - point)}.${s.slice(s.length - point)}`}`;
      }),
    );
    fc.assert(
      fc.property(literal, (n) => {
        const payload = template(n);
        const scanned = scanEvent(payload);
        const oracle = parseJsonAndValidate(payload);
        expect(scanned === undefined).toBe(!oracle.ok);
        if (scanned) expect(Object.is(scanned.event.metric_value, JSON.parse(n))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('accepts uncommon but valid writing: key order, whitespace, exponents, -0, long fractions', () => {
    const text = ' \n{ "status" : "ok", "anomaly_score":1e-1,"metric_value":-0,\t"temperature":-1.5E1, "user_id":"u:1","device_id":"d.1", "event_time":"2026-11-24T09:00:00.123456789Z","event_id":"2149F46C-57F3-4DDF-A16B-26B708EF9FC4"}\r\n';
    const scanned = scanEvent(Buffer.from(text));
    expect(scanned).toStrictEqual(parseJsonAndValidate(text));
    expect(Object.is(scanned?.event.metric_value, -0)).toBe(true);
  });
});
