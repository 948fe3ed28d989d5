import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type PartitionCheckpoint } from './checkpoint';

const M = 60_000;
const T0 = Date.parse('2026-11-24T09:00:00.000Z');

describe('checkpoint metadata', () => {
  const cp: PartitionCheckpoint = {
    commitOffset: 123_456_789,
    windowSizeMs: M,
    maxEventTimeBefore: T0 + 59_123,
    watermarkFloor: T0 - 5000,
    finals: [
      [T0 - 2 * M, 123_456_800],
      [T0 - M, 123_456_790],
    ],
  };

  it('round-trips', () => {
    const s = encodeCheckpoint(cp);
    expect(decodeCheckpoint(s)).toEqual(cp);
  });

  it('round-trips -Infinity as null and empty finals', () => {
    const empty: PartitionCheckpoint = { commitOffset: 0, windowSizeMs: M, maxEventTimeBefore: -Infinity, watermarkFloor: -Infinity, finals: [] };
    const s = encodeCheckpoint(empty);
    expect(s).toBe('{"v":1,"o":0,"s":60000,"m":null,"w":null,"f":[]}');
    expect(decodeCheckpoint(s)).toEqual(empty);
  });

  it('round-trips negative (pre-epoch) window starts and fractional event times', () => {
    const neg: PartitionCheckpoint = { commitOffset: 5, windowSizeMs: 7, maxEventTimeBefore: -12.5, watermarkFloor: -Infinity, finals: [[-21, 6], [0, 9]] };
    expect(decodeCheckpoint(encodeCheckpoint(neg))).toEqual(neg);
  });

  it('is compact: a dozen finals stay far under 1 KB', () => {
    const many: PartitionCheckpoint = {
      ...cp,
      finals: Array.from({ length: 12 }, (_, i) => [T0 + i * M, cp.commitOffset + 1000 + i] as const),
    };
    const s = encodeCheckpoint(many);
    expect(s.length).toBeLessThan(400);
    expect(decodeCheckpoint(s)).toEqual(many);
  });

  it.each([
    ['', /empty string/],
    ['not json', /not JSON/],
    ['[1,2]', /JSON object/],
    ['null', /JSON object/],
    ['{"v":2,"o":0,"s":60000,"m":null,"w":null,"f":[]}', /unsupported format version 2/],
    ['{"o":0,"s":60000,"m":null,"w":null,"f":[]}', /unsupported format version undefined/],
    ['{"v":1,"s":60000,"m":null,"w":null,"f":[]}', /"o" \(commit offset\)/],
    ['{"v":1,"o":-1,"s":60000,"m":null,"w":null,"f":[]}', /"o" \(commit offset\)/],
    ['{"v":1,"o":1.5,"s":60000,"m":null,"w":null,"f":[]}', /"o" \(commit offset\)/],
    ['{"v":1,"o":"7","s":60000,"m":null,"w":null,"f":[]}', /"o" \(commit offset\)/],
    ['{"v":1,"o":0,"s":0,"m":null,"w":null,"f":[]}', /"s" \(window size\)/],
    ['{"v":1,"o":0,"s":60000,"w":null,"f":[]}', /"m \(max event time/],
    ['{"v":1,"o":0,"s":60000,"m":"x","w":null,"f":[]}', /"m \(max event time/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":true,"f":[]}', /"w \(watermark floor\)"/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":null}', /"f" \(finals\) must be an array/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":null,"f":[[1]]}', /each "f" entry/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":null,"f":[[1,0.5]]}', /each "f" entry/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":null,"f":[[1,0]]}', /finalizedAt 0 must be an integer > commit offset 0/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":null,"f":[[2,1],[1,1]]}', /strictly increasing/],
    ['{"v":1,"o":0,"s":60000,"m":null,"w":null,"f":[[1,1],[1,2]]}', /strictly increasing/],
  ])('rejects %s', (metadata, msg) => {
    let err: unknown;
    try {
      decodeCheckpoint(metadata);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/^invalid windowing checkpoint metadata: /);
    expect((err as Error).message).toMatch(msg);
  });

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeCheckpoint({ ...cp, finals: [[T0 + 1, cp.commitOffset + 1]] })).toThrow(/not a multiple/);
    expect(() => encodeCheckpoint({ ...cp, finals: [[T0, cp.commitOffset]] })).toThrow(CheckpointError);
    expect(() => encodeCheckpoint({ ...cp, maxEventTimeBefore: NaN })).toThrow(/maxEventTimeBefore/);
    expect(() => encodeCheckpoint({ ...cp, watermarkFloor: Infinity })).toThrow(/watermarkFloor/);
  });
});
