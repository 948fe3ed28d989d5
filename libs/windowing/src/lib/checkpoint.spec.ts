import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type PartitionCheckpoint } from './checkpoint';

const M = 60_000;
const T0 = Date.parse('2026-11-24T09:00:00.000Z');

describe('checkpoint metadata', () => {
  const cp: PartitionCheckpoint = { commitOffset: 123_456_789, windowSizeMs: M, maxEventTimeBefore: T0 + 59_123, watermarkFloor: T0 - 5000 };

  it('round-trips, in a constant size far under Kafka metadata limits', () => {
    const s = encodeCheckpoint(cp);
    expect(decodeCheckpoint(s)).toEqual(cp);
    expect(s.length).toBeLessThan(100);
  });

  it('round-trips -Infinity as null', () => {
    const empty: PartitionCheckpoint = { commitOffset: 0, windowSizeMs: M, maxEventTimeBefore: -Infinity, watermarkFloor: -Infinity };
    const s = encodeCheckpoint(empty);
    expect(s).toBe('{"v":2,"o":0,"s":60000,"m":null,"w":null}');
    expect(decodeCheckpoint(s)).toEqual(empty);
  });

  it('round-trips fractional and pre-epoch event times', () => {
    const neg: PartitionCheckpoint = { commitOffset: 5, windowSizeMs: 7, maxEventTimeBefore: -12.5, watermarkFloor: -Infinity };
    expect(decodeCheckpoint(encodeCheckpoint(neg))).toEqual(neg);
  });

  it('reads format 1, whose list of final windows the stored rows now imply', () => {
    expect(decodeCheckpoint('{"v":1,"o":9,"s":60000,"m":5,"w":null,"f":[[1,3]]}')).toEqual({ commitOffset: 9, windowSizeMs: M, maxEventTimeBefore: 5, watermarkFloor: -Infinity });
  });

  it.each([
    ['', /empty string/],
    ['not json', /not JSON/],
    ['[1,2]', /JSON object/],
    ['null', /JSON object/],
    ['{"v":3,"o":0,"s":60000,"m":null,"w":null}', /unsupported format version 3/],
    ['{"o":0,"s":60000,"m":null,"w":null}', /unsupported format version undefined/],
    ['{"v":2,"s":60000,"m":null,"w":null}', /"o" \(commit offset\)/],
    ['{"v":2,"o":-1,"s":60000,"m":null,"w":null}', /"o" \(commit offset\)/],
    ['{"v":2,"o":1.5,"s":60000,"m":null,"w":null}', /"o" \(commit offset\)/],
    ['{"v":2,"o":"7","s":60000,"m":null,"w":null}', /"o" \(commit offset\)/],
    ['{"v":2,"o":0,"s":0,"m":null,"w":null}', /"s" \(window size\)/],
    ['{"v":2,"o":0,"s":60000,"w":null}', /"m \(max event time/],
    ['{"v":2,"o":0,"s":60000,"m":"x","w":null}', /"m \(max event time/],
    ['{"v":2,"o":0,"s":60000,"m":null,"w":true}', /"w \(watermark floor\)"/],
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
    expect(() => encodeCheckpoint({ ...cp, maxEventTimeBefore: NaN })).toThrow(/maxEventTimeBefore/);
    expect(() => encodeCheckpoint({ ...cp, watermarkFloor: Infinity })).toThrow(/watermarkFloor/);
    expect(() => encodeCheckpoint({ ...cp, commitOffset: -1 })).toThrow(CheckpointError);
  });
});
