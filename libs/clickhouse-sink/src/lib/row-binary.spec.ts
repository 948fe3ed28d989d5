import { rowBinaryStructure, toRowBinaryChunks, type RowBinarySchema } from './row-binary';

const one = (schema: RowBinarySchema, record: object) => toRowBinaryChunks(schema, [record], Infinity)[0].body;
const hex = (b: Buffer) => b.toString('hex');

describe('RowBinary', () => {
  it('writes integers little-endian at their width, UInt64 and Int64 beyond 32 bits, DateTime as UInt32 seconds', () => {
    expect(hex(one([['v', 'UInt8']], { v: 200 }))).toBe('c8');
    expect(hex(one([['v', 'UInt16']], { v: 0x1234 }))).toBe('3412');
    expect(hex(one([['v', 'DateTime']], { v: 1_764_000_000 }))).toBe(Buffer.from(Uint32Array.of(1_764_000_000).buffer).toString('hex'));
    expect(hex(one([['v', 'UInt64']], { v: 2 ** 40 + 5 }))).toBe('0500000000010000');
    expect(hex(one([['v', 'UInt64']], { v: Number.MAX_SAFE_INTEGER }))).toBe('ffffffffffff1f00');
    expect(hex(one([['v', 'Int64']], { v: -1 }))).toBe('ffffffffffffffff');
    expect(hex(one([['v', 'Int64']], { v: -(2 ** 40) }))).toBe('0000000000ffffff');
  });

  it('writes a Float64 as its exact IEEE-754 bits', () => {
    for (const x of [0.1 + 0.2, -0, 5e-324, Number.MAX_VALUE, -123.456, 1 / 3]) {
      const b = one([['v', 'Float64']], { v: x });
      expect(b).toHaveLength(8);
      expect(Object.is(b.readDoubleLE(0), x)).toBe(true);
    }
  });

  it('prefixes strings (UTF-8 bytes) and arrays with an unsigned LEB128 length', () => {
    expect(hex(one([['v', 'String']], { v: 'é' }))).toBe('02c3a9');
    expect(one([['v', 'String']], { v: 'x'.repeat(300) }).subarray(0, 2)).toEqual(Buffer.from([0xac, 0x02]));
    expect(hex(one([['v', 'Array(Int32)']], { v: [-1, 2] }))).toBe('02ffffffff02000000');
    expect(hex(one([['v', 'Array(UInt64)']], { v: [] }))).toBe('00');
    expect(hex(one([['v', 'Array(UInt64)']], { v: [2 ** 33] }))).toBe('010000000002000000');
  });

  it('writes the columns of a row in schema order, rows one after another', () => {
    const schema: RowBinarySchema = [
      ['b', 'UInt8'],
      ['a', 'String'],
    ];
    expect(toRowBinaryChunks(schema, [{ a: 'x', b: 1 }, { a: '', b: 2 }], Infinity)).toEqual([{ body: Buffer.from('01017802' + '00', 'hex'), rows: 2 }]);
    expect(rowBinaryStructure(schema)).toBe('b UInt8, a String');
  });

  it('cuts at row boundaries into pieces of at most maxBytes that join back to the whole (a longer row alone)', () => {
    const schema: RowBinarySchema = [['s', 'String']];
    const records = Array.from({ length: 60 }, (_, i) => ({ s: 'y'.repeat(i % 13) }));
    const whole = toRowBinaryChunks(schema, records, Infinity);
    expect(whole).toHaveLength(1);
    const chunks = toRowBinaryChunks(schema, records, 40);
    expect(chunks.length).toBeGreaterThan(5);
    expect(Buffer.concat(chunks.map((c) => c.body))).toEqual(whole[0].body);
    expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(60);
    let at = 0;
    for (const [i, c] of chunks.entries()) {
      expect(c.body.length).toBeLessThanOrEqual(40);
      at += c.rows;
      // Full: the next row would not have fitted.
      if (i < chunks.length - 1) expect(c.body.length + 1 + (records[at].s.length)).toBeGreaterThan(40);
    }
    expect(toRowBinaryChunks(schema, [{ s: 'z'.repeat(50) }], 10)).toEqual([{ body: Buffer.concat([Buffer.from([50]), Buffer.from('z'.repeat(50))]), rows: 1 }]);
    expect(toRowBinaryChunks(schema, [], 10)).toEqual([]);
  });
});
