import { BINARY_FORMAT_REASONS, EVENT_TIME_REASONS, MAX_EVENT_BYTES, REASON_CODE_LIST, TELEMETRY_EVENT_SCHEMA, parseAndValidate, serializeEvent, validateEvent, type ReasonCode, type TelemetryEvent } from '../index';
import Ajv from 'ajv';

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
const json = (patch: Record<string, unknown> = {}, drop: string[] = []) => {
  const o: Record<string, unknown> = { ...valid, ...patch };
  for (const k of drop) delete o[k];
  return JSON.stringify(o);
};

describe('parseAndValidate', () => {
  it('accepts a valid event from a Buffer, a Uint8Array and a string, returning its time in ms', () => {
    for (const payload of [Buffer.from(json()), new Uint8Array(Buffer.from(json())), json()]) {
      const r = parseAndValidate(payload);
      expect(r).toEqual({ ok: true, event: valid, eventTimeMs: Date.parse(valid.event_time) });
    }
  });

  it.each(['ok', 'warning', 'error', 'offline'])('accepts status %s', (status) => {
    expect(parseAndValidate(json({ status })).ok).toBe(true);
  });

  it.each([
    ['temperature', -100],
    ['temperature', 150],
    ['anomaly_score', 0],
    ['anomaly_score', 1],
    ['metric_value', -1e9],
    ['metric_value', 1e9],
    ['event_time', '2026-11-24T09:00:00Z'],
    ['event_time', '2026-11-24T09:00:00.1Z'],
    ['event_time', '2026-11-24T09:00:00.123456789Z'],
    ['event_time', '2028-02-29T23:59:59.999Z'],
    ['event_time', '1970-01-01T00:00:00.000Z'],
    ['device_id', 'd'],
    ['device_id', 'x'.repeat(64)],
    ['user_id', 'tenant:42.user_7-a'],
    ['event_id', '2149F46C-57F3-4DDF-A16B-26B708EF9FC4'],
  ])('accepts the boundary value %s = %j', (field, value) => {
    expect(parseAndValidate(json({ [field]: value }))).toMatchObject({ ok: true });
  });

  const cases: Array<[ReasonCode, string, string | Buffer, RegExp, string | undefined]> = [
    ['invalid_json', 'truncated', json().slice(0, 40), /^invalid JSON: /, undefined],
    ['invalid_json', 'trailing comma', json().replace(/}$/, ',}'), /^invalid JSON/, undefined],
    ['invalid_json', 'empty', '', /^empty payload/, undefined],
    ['invalid_json', 'not JSON', 'hello', /^invalid JSON/, undefined],
    ['invalid_json', 'invalid UTF-8', Buffer.concat([Buffer.from('{"device_id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), /not valid UTF-8/, undefined],
    ['too_large', 'over the limit', json({ device_id: 'd', padding: 'x'.repeat(MAX_EVENT_BYTES) }), /bytes; the limit is 8192/, undefined],
    ['wrong_type', 'array at top level', '[1,2]', /event must be a JSON object \(got array\)/, undefined],
    ['wrong_type', 'null at top level', 'null', /got null/, undefined],
    ['wrong_type', 'number at top level', '42', /got number/, undefined],
    ['wrong_type', 'numeric string', json({ temperature: '21.5' }), /temperature must be a number \(got string "21.5"\)/, 'temperature'],
    ['wrong_type', 'boolean metric', json({ metric_value: true }), /metric_value must be a number/, 'metric_value'],
    ['wrong_type', 'number as id', json({ device_id: 7 }), /device_id must be a string \(got number 7\)/, 'device_id'],
    ['wrong_type', 'epoch event_time', json({ event_time: 1764000000000 }), /event_time must be a string/, 'event_time'],
    ['missing_field', 'no status', json({}, ['status']), /missing required field "status"/, 'status'],
    ['missing_field', 'empty object', '{}', /missing required field "event_id"/, 'event_id'],
    ['unknown_field', 'extra field', json({ firmware: '1.2' }), /unknown field "firmware"/, 'firmware'],
    ['out_of_range', 'hot', json({ temperature: 999.5 }), /temperature must be <= 150 \(got 999.5\)/, 'temperature'],
    ['out_of_range', 'score above 1', json({ anomaly_score: 1.0001 }), /anomaly_score must be <= 1/, 'anomaly_score'],
    ['out_of_range', 'negative score', json({ anomaly_score: -0.5 }), /anomaly_score must be >= 0/, 'anomaly_score'],
    ['out_of_range', 'infinite', json().replace('"temperature":21.5', '"temperature":1e999'), /temperature must be a finite number \(got Infinity\)/, 'temperature'],
    ['out_of_range', 'huge metric', json({ metric_value: 5e9 }), /metric_value must be <= 1000000000/, 'metric_value'],
    ['invalid_value', 'unknown status', json({ status: 'bogus' }), /status must be one of ok, warning, error, offline \(got "bogus"\)/, 'status'],
    ['invalid_value', 'bad uuid', json({ event_id: 'not-a-uuid' }), /event_id/, 'event_id'],
    ['invalid_value', 'empty device', json({ device_id: '' }), /device_id/, 'device_id'],
    ['invalid_value', 'long user', json({ user_id: 'u'.repeat(65) }), /user_id must NOT have more than 64 characters/, 'user_id'],
    ['invalid_value', 'space in id', json({ device_id: 'dev 1' }), /device_id must match pattern/, 'device_id'],
    ['bad_timestamp', 'offset', json({ event_time: '2026-11-24T10:00:00.123+01:00' }), /event_time "2026-11-24T10:00:00.123\+01:00" is not a UTC ISO-8601 instant/, 'event_time'],
    ['bad_timestamp', 'space separator', json({ event_time: '2026-11-24 09:00:00' }), /is not a UTC ISO-8601 instant/, 'event_time'],
    ['bad_timestamp', 'no zone', json({ event_time: '2026-11-24T09:00:00.123' }), /is not a UTC/, 'event_time'],
    ['bad_timestamp', 'impossible date', json({ event_time: '2026-02-29T09:00:00.000Z' }), /is not a UTC/, 'event_time'],
    ['bad_timestamp', 'impossible time', json({ event_time: '2026-11-24T24:00:00.000Z' }), /is not a UTC/, 'event_time'],
    ['bad_timestamp', 'before 1970', json({ event_time: '1969-12-31T23:59:59.999Z' }), /is not a UTC/, 'event_time'],
    ['bad_timestamp', 'ten fraction digits', json({ event_time: '2026-11-24T09:00:00.1234567891Z' }), /is not a UTC/, 'event_time'],
    ['bad_timestamp', 'empty', json({ event_time: '' }), /is not a UTC/, 'event_time'],
    ['bad_timestamp', 'words', json({ event_time: 'yesterday' }), /is not a UTC/, 'event_time'],
  ];

  it.each(cases)('rejects with %s: %s', (reason, _name, payload, message, field) => {
    const r = parseAndValidate(payload);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe(reason);
    expect(r.message).toMatch(message);
    expect(r.field).toBe(field);
  });

  it('covers every reason code the validator can emit (all but the aggregator\u2019s event-time reasons)', () => {
    const emitted = new Set(cases.map(([reason]) => reason));
    expect([...emitted].sort()).toEqual(REASON_CODE_LIST.filter((r) => !EVENT_TIME_REASONS.includes(r) && !BINARY_FORMAT_REASONS.includes(r)).sort());
    expect(REASON_CODE_LIST).toContain('late_event');
  });

  it('accepts exactly MAX_EVENT_BYTES and rejects one byte more', () => {
    const base = json({ device_id: 'd' });
    const padded = (extra: number) => base.replace('"device_id":"d"', `"device_id":"d","pad":"${'x'.repeat(extra)}"`);
    const exact = padded(MAX_EVENT_BYTES - Buffer.byteLength(padded(0)));
    expect(Buffer.byteLength(exact)).toBe(MAX_EVENT_BYTES);
    expect(parseAndValidate(exact)).toMatchObject({ ok: false, reason: 'unknown_field' }); // parsed, not too_large
    expect(parseAndValidate(exact + ' ')).toMatchObject({ ok: false, reason: 'too_large' });
    expect(parseAndValidate(Buffer.from(exact + ' '))).toMatchObject({ ok: false, reason: 'too_large' });
  });

  it('counts multi-byte characters in string payloads as bytes', () => {
    const text = json({ user_id: 'é'.repeat(MAX_EVENT_BYTES / 2) });
    expect(text.length).toBeLessThan(MAX_EVENT_BYTES);
    expect(parseAndValidate(text)).toMatchObject({ ok: false, reason: 'too_large' });
  });

  it('returns the event time of the event just validated, whatever came before', () => {
    const later = '2026-11-24T10:30:00.5Z';
    expect(parseAndValidate(json({ status: 'bogus' }))).toMatchObject({ ok: false });
    expect(parseAndValidate(json({ event_time: later }))).toMatchObject({ ok: true, eventTimeMs: Date.parse(later) });
    expect(validateEvent({ ...valid })).toMatchObject({ ok: true, eventTimeMs: Date.parse(valid.event_time) });
  });

  it('treats a null message value as invalid_json', () => {
    expect(parseAndValidate(null)).toMatchObject({ ok: false, reason: 'invalid_json' });
  });

  it('validateEvent checks parsed values and never throws on odd input', () => {
    expect(validateEvent(valid)).toMatchObject({ ok: true });
    for (const odd of [undefined, 1, 'x', [], null, { ...valid, status: undefined }]) expect(validateEvent(odd).ok).toBe(false);
  });

  it('serializeEvent writes canonical JSON that round-trips', () => {
    const text = serializeEvent({ ...valid });
    expect(Object.keys(JSON.parse(text))).toEqual(TELEMETRY_EVENT_SCHEMA.required);
    expect(parseAndValidate(text)).toMatchObject({ ok: true, event: valid });
  });

  it('publishes a schema that is valid draft-07 and usable by any ajv', () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    expect(ajv.validateSchema(TELEMETRY_EVENT_SCHEMA)).toBe(true);
    const check = ajv.compile(TELEMETRY_EVENT_SCHEMA);
    expect(check(valid)).toBe(true);
    expect(check({ ...valid, event_time: '2026-11-24T10:00:00+01:00' })).toBe(false);
  });
});
