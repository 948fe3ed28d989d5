import { Reader, Writer, parseBrokers } from './kafka-wire';

describe('wire encoding', () => {
  it('round-trips the primitive types', () => {
    const buf = new Writer()
      .int8(-3)
      .int16(-2)
      .int32(123456789)
      .bool(true)
      .string('héllo')
      .string(null)
      .compactString('abc')
      .compactString(null)
      .uvarint(300)
      .array([1, 2, 3], (w, n) => w.int32(n))
      .compactArray(['x', 'y'], (w, s) => w.compactString(s))
      .compactArray(null, () => undefined)
      .tags()
      .bytes();
    const r = new Reader(buf);
    expect([r.int8(), r.int16(), r.int32(), r.bool(), r.string(), r.string(), r.compactString(), r.compactString(), r.uvarint()]).toEqual([
      -3, -2, 123456789, true, 'héllo', null, 'abc', null, 300,
    ]);
    expect(r.array((x) => x.int32())).toEqual([1, 2, 3]);
    expect(r.compactArray((x) => x.compactString())).toEqual(['x', 'y']);
    expect(r.compactArray((x) => x.int8())).toEqual([]);
    r.tags();
    expect(r.remaining).toBe(0);
  });

  it('encodes unsigned varints as the protocol does', () => {
    expect(new Writer().uvarint(0).bytes()).toEqual(Buffer.from([0]));
    expect(new Writer().uvarint(127).bytes()).toEqual(Buffer.from([0x7f]));
    expect(new Writer().uvarint(128).bytes()).toEqual(Buffer.from([0x80, 0x01]));
    expect(new Writer().uvarint(300).bytes()).toEqual(Buffer.from([0xac, 0x02]));
  });

  it('skips unknown tagged fields', () => {
    const buf = Buffer.concat([new Writer().uvarint(2).uvarint(0).uvarint(3).bytes(), Buffer.from([1, 2, 3]), new Writer().uvarint(5).uvarint(1).int8(9).int32(7).bytes()]);
    const r = new Reader(buf);
    r.tags();
    expect(r.int32()).toBe(7);
  });

  it('reports a truncated response instead of reading garbage', () => {
    expect(() => new Reader(Buffer.from([0, 5, 65])).string()).toThrow(/truncated/);
  });

  it('parses broker lists', () => {
    expect(parseBrokers('a:1, 127.0.0.1:9092,[::1]:19092')).toEqual([
      { host: 'a', port: 1 },
      { host: '127.0.0.1', port: 9092 },
      { host: '::1', port: 19092 },
    ]);
  });
});
