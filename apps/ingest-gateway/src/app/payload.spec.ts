import { splitPayload } from './payload';

const b = (s: string) => Buffer.from(s, 'utf8');
const texts = (s: string) => splitPayload(b(s)).items.map((i) => i.toString('utf8'));

describe('splitPayload', () => {
  it('keeps a single event whole, byte for byte', () => {
    const event = b('{"device_id":"d-1","x":[1,2,{"y":"]"}]}');
    const { shape, items } = splitPayload(event);
    expect(shape).toBe('single');
    expect(items).toHaveLength(1);
    expect(items[0].equals(event)).toBe(true);
  });

  it('splits a JSON array into its elements without re-encoding them', () => {
    expect(texts('[{"a":1}, {"b":"x,]}"} ,\n{"c":[1,{"d":2}]}]')).toEqual(['{"a":1}', '{"b":"x,]}"}', '{"c":[1,{"d":2}]}']);
    expect(splitPayload(b('[{"a":1}]')).shape).toBe('array');
    expect(texts('[]')).toEqual([]);
    // Non-object elements are items too (the validator rejects them as wrong_type).
    expect(texts('[1, "s", null, {"a":"\\"quoted\\" ]"}]')).toEqual(['1', '"s"', 'null', '{"a":"\\"quoted\\" ]"}']);
  });

  it('splits NDJSON by line, ignoring blank lines, CRLF and a trailing newline', () => {
    expect(texts('{"a":1}\n{"b":2}\r\n\n{"c":3}\n')).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(splitPayload(b('{"a":1}\n{"b":2}')).shape).toBe('ndjson');
    // A broken line is one item of its own; the others are unaffected.
    expect(texts('{"a":1}\n{"b":\n{"c":3}')).toEqual(['{"a":1}', '{"b":', '{"c":3}']);
  });

  it('reads a pretty-printed event as one value, not as lines', () => {
    const pretty = JSON.stringify({ device_id: 'd-1', n: [1, 2] }, null, 2);
    expect(texts(pretty)).toEqual([pretty]);
    expect(splitPayload(b(pretty)).shape).toBe('single');
  });

  it('keeps a structurally malformed array as one item (rejected whole as invalid_json)', () => {
    for (const bad of ['[{"a":1},', '[{"a":1}] trailing', '[{"a":1} {"b":2}]', '[,]', '["unterminated]']) {
      const { shape, items } = splitPayload(b(bad));
      expect({ bad, shape, n: items.length }).toEqual({ bad, shape: 'single', n: 1 });
      expect(items[0].toString()).toBe(bad);
    }
  });

  it('returns an empty or blank payload as one item', () => {
    expect(splitPayload(b('')).items).toHaveLength(1);
    expect(splitPayload(b('  \n')).items).toHaveLength(1);
  });

  it('handles multi-byte UTF-8 inside strings', () => {
    expect(texts('[{"s":"température °C ✓"},{"t":"é]"}]')).toEqual(['{"s":"température °C ✓"}', '{"t":"é]"}']);
  });
});
