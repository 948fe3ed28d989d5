import { idleAdvances } from './idle-partitions';

const watermarks = new Map([
  [0, 1000],
  [1, 5000],
  [2, 200],
]);
const wm = (p: number) => watermarks.get(p) ?? -Infinity;

describe('idleAdvances', () => {
  it('raises partitions idle for idleTimeoutMs to the lowest active watermark', () => {
    const last = new Map([
      [0, 10_000],
      [1, 10_000],
      [2, 1_000],
    ]);
    expect(idleAdvances(new Set([0, 1, 2]), last, 11_000, 5_000, wm)).toEqual([{ partition: 2, watermark: 1000 }]);
  });

  it('advances nothing when every partition is active, or every one is idle', () => {
    const last = new Map([
      [0, 10_000],
      [1, 10_000],
    ]);
    expect(idleAdvances(new Set([0, 1]), last, 11_000, 5_000, wm)).toEqual([]);
    expect(idleAdvances(new Set([0, 1]), last, 100_000, 5_000, wm)).toEqual([]);
  });

  it('never lowers a watermark, and waits for an active partition with a watermark', () => {
    const last = new Map([
      [0, 10_000],
      [1, 1_000],
    ]);
    // Idle partition 1 is already ahead of active partition 0.
    expect(idleAdvances(new Set([0, 1]), last, 11_000, 5_000, wm)).toEqual([]);
    // The active partition has no watermark yet (no record folded).
    expect(idleAdvances(new Set([1, 7]), new Map([[7, 10_000], [1, 1_000]]), 11_000, 5_000, wm)).toEqual([]);
  });
});
