import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { WindowingEngine } from './engine';
import type { LateEvent, WindowRecord } from './types';

const M = 60_000;

function rec(offset: number, eventTimeMs: number, userId = 'u1', metricValue = 1, anomalyScore = 0): WindowRecord {
  return { offset, eventTimeMs, userId, metricValue, anomalyScore };
}

describe('WindowingEngine: folding and rows', () => {
  it('aggregates a window and emits a partial row per change', () => {
    const e = new WindowingEngine();
    expect(e.process(3, rec(100, 1000, 'bob', 2.5))).toEqual({ kind: 'folded' });
    e.process(3, rec(101, 2000, 'alice', 3.5, 0.95));
    e.process(3, rec(102, 59_999, 'bob', 6));
    const { rows, commits } = e.collectChanges();
    expect(rows).toEqual([
      {
        partition: 3,
        windowStart: 0,
        totalEvents: 3,
        metricSum: 12,
        avgMetric: 4,
        users: ['alice', 'bob'],
        uniqueUsers: 2,
        anomalyEvents: 1,
        version: 102,
        final: false,
        rowVersion: 204,
      },
    ]);
    expect(commits).toEqual([{ partition: 3, offset: 100, metadata: expect.any(String) }]);
    // Nothing changed: no rows, same commit.
    const again = e.collectChanges();
    expect(again.rows).toEqual([]);
    expect(again.commits[0].offset).toBe(100);
  });

  it('emits only windows that changed since the last collect', () => {
    const e = new WindowingEngine({ maxOutOfOrdernessMs: 120_000 });
    e.process(0, rec(0, 1000));
    e.process(0, rec(1, M + 1000));
    e.collectChanges();
    e.process(0, rec(2, 2000));
    expect(e.collectChanges().rows.map((r) => [r.windowStart, r.totalEvents, r.version])).toEqual([[0, 2, 2]]);
  });

  it('counts an anomaly when the score equals the threshold', () => {
    const e = new WindowingEngine({ anomalyThreshold: 0.9 });
    e.process(0, rec(0, 10, 'u', 1, 0.9));
    e.process(0, rec(1, 11, 'u', 1, 0.8999999999999999));
    e.process(0, rec(2, 12, 'u', 1, 1));
    e.process(0, rec(3, 13, 'u', 1, 0));
    expect(e.collectChanges().rows[0].anomalyEvents).toBe(2);
  });

  it('keeps partitions independent', () => {
    const e = new WindowingEngine();
    e.process(0, rec(0, 1000, 'a'));
    e.process(1, rec(0, 1000, 'b'));
    e.process(1, rec(1, 200_000, 'b')); // finalizes window 0 of partition 1 only
    const rows = e.collectChanges().rows;
    expect(rows.filter((r) => r.final).map((r) => [r.partition, r.windowStart])).toEqual([[1, 0]]);
    expect(e.watermark(0)).toBe(1000 - 10_000);
    expect(e.watermark(1)).toBe(200_000 - 10_000);
  });

  it('rejects invalid input loudly (the app must validate first)', () => {
    const e = new WindowingEngine();
    expect(() => e.process(0, rec(-1, 0))).toThrow(/offset/);
    expect(() => e.process(0, rec(1.5, 0))).toThrow(/offset/);
    expect(() => e.process(0, rec(0, NaN))).toThrow(/eventTimeMs/);
    expect(() => e.process(0, rec(0, 0, 'u', Infinity))).toThrow(/metricValue/);
    expect(() => e.process(-1, rec(0, 0))).toThrow(/partition/);
    expect(() => e.advanceIdlePartition(0, Infinity)).toThrow(/finite/);
  });
});

describe('WindowingEngine: watermark, finality, lateness', () => {
  it('finalizes a window exactly when watermark reaches windowEnd + allowedLateness', () => {
    const e = new WindowingEngine(); // size 60 s, out-of-orderness 10 s, lateness 0
    expect(e.watermark(0)).toBe(-Infinity);
    e.process(0, rec(0, 1000));
    expect(e.watermark(0)).toBe(-9000);
    e.process(0, rec(1, 69_999)); // watermark 59_999 < 60_000
    expect(e.collectChanges().rows.every((r) => !r.final)).toBe(true);
    e.process(0, rec(2, 70_000)); // watermark 60_000 == end of window 0
    const rows = e.collectChanges().rows;
    expect(rows.find((r) => r.windowStart === 0)).toMatchObject({ final: true, totalEvents: 1, version: 0, rowVersion: 1 });
    expect(e.stats().openWindows).toBe(1);
  });

  it('emits a final row even when nothing changed since the last partial row', () => {
    const e = new WindowingEngine();
    e.process(0, rec(0, 1000));
    expect(e.collectChanges().rows).toMatchObject([{ windowStart: 0, final: false, version: 0, rowVersion: 0 }]);
    e.process(0, rec(1, 200_000));
    expect(e.collectChanges().rows).toMatchObject([
      { windowStart: 0, final: true, version: 0, rowVersion: 1 },
      { windowStart: 180_000, final: false, version: 1 },
    ]);
  });

  it('routes events of final windows to a late side output without counting them', () => {
    const e = new WindowingEngine();
    e.process(0, rec(0, 1000));
    e.process(0, rec(1, 70_000)); // window 0 final
    const late = e.process(0, rec(2, 59_999, 'x', 100)) as LateEvent;
    expect(late).toEqual({ kind: 'late', partition: 0, offset: 2, eventTimeMs: 59_999, windowStart: 0, reason: 'late_event', watermark: 60_000 });
    // A window that never had events is final too once the watermark passed it.
    expect(e.process(0, rec(3, -1))).toMatchObject({ kind: 'late', windowStart: -M });
    // Exactly on the boundary belongs to the next (open) window.
    expect(e.process(0, rec(4, 60_000))).toEqual({ kind: 'folded' });
    const rows = e.collectChanges().rows;
    expect(rows.find((r) => r.windowStart === 0)).toMatchObject({ totalEvents: 1, metricSum: 1, final: true });
    expect(rows.find((r) => r.windowStart === M)).toMatchObject({ totalEvents: 2 });
    expect(e.stats()).toMatchObject({ lateEvents: 2, eventsFolded: 3 });
  });

  it('accepts out-of-order events within allowed lateness', () => {
    const e = new WindowingEngine({ allowedLatenessMs: 5000 });
    e.process(0, rec(0, 1000));
    e.process(0, rec(1, 74_999)); // watermark 64_999 < 60_000 + 5_000
    expect(e.process(0, rec(2, 30_000))).toEqual({ kind: 'folded' });
    e.process(0, rec(3, 75_000)); // watermark 65_000: final
    expect(e.process(0, rec(4, 30_000))).toMatchObject({ kind: 'late', windowStart: 0, watermark: 65_000 });
    expect(e.collectChanges().rows.find((r) => r.windowStart === 0)).toMatchObject({ totalEvents: 2, final: true, version: 2 });
  });

  it('lets one far-future event finalize every open window at once', () => {
    const e = new WindowingEngine({ maxOutOfOrdernessMs: 300_000 });
    for (let i = 0; i < 5; i++) e.process(0, rec(i, (4 - i) * M + 5)); // windows 4,3,2,1,0 (descending)
    expect(e.stats().openWindows).toBe(5);
    e.process(0, rec(5, 100 * M));
    const rows = e.collectChanges().rows;
    expect(rows.filter((r) => r.final).map((r) => r.windowStart)).toEqual([0, M, 2 * M, 3 * M, 4 * M]);
    expect(e.stats().openWindows).toBe(1);
  });

  it('handles pre-epoch event times', () => {
    const e = new WindowingEngine({ windowSizeMs: 10, maxOutOfOrdernessMs: 0 });
    e.process(0, rec(0, -15));
    e.process(0, rec(1, -10));
    e.process(0, rec(2, -1));
    e.process(0, rec(3, 0)); // watermark 0: window [-10, 0) final
    const rows = e.collectChanges().rows;
    expect(rows.map((r) => [r.windowStart, r.totalEvents, r.final])).toEqual([
      [-20, 1, true],
      [-10, 2, true],
      [0, 1, false],
    ]);
  });
});

describe('WindowingEngine: commit offsets and checkpoints', () => {
  // windows: A = [0, 60 s), B = [60 s, 120 s), C = [120 s, 180 s)
  function scenario() {
    const e = new WindowingEngine();
    e.process(0, rec(10, 61_000)); // B opens first (offset 10)
    e.process(0, rec(11, 59_000)); // A opens later in offsets but earlier in time (watermark 51 s)
    return e;
  }

  it('commits at the first offset of the oldest-by-offset open window, not the oldest-by-time', () => {
    const e = scenario();
    expect(e.collectChanges().commits).toEqual([{ partition: 0, offset: 10, metadata: expect.any(String) }]);
    e.process(0, rec(12, 70_000)); // A final at position 13; B (first offset 10) still open
    const c1 = e.collectChanges().commits[0];
    expect(c1.offset).toBe(10);
    expect(decodeCheckpoint(c1.metadata)).toEqual({
      commitOffset: 10,
      windowSizeMs: M,
      maxEventTimeBefore: -Infinity, // nothing before offset 10
      watermarkFloor: -Infinity,
      finals: [[0, 13]],
    });
    e.process(0, rec(13, 130_000)); // B final at position 14; C opens at 13
    const c2 = e.collectChanges().commits[0];
    expect(decodeCheckpoint(c2.metadata)).toEqual({
      commitOffset: 13,
      windowSizeMs: M,
      maxEventTimeBefore: 70_000,
      watermarkFloor: -Infinity,
      finals: [[M, 14]], // A (finalized at 13 <= 13) pruned: the watermark alone finalizes it on replay
    });
  });

  it('commits past the last processed/invalid offset when no window is open', () => {
    const e = new WindowingEngine();
    e.process(0, rec(5, 1000));
    e.process(0, rec(6, 500_000));
    e.skip(0, 9); // invalid record, e.g. unparseable JSON
    e.process(0, rec(10, 1000)); // late
    e.advanceIdlePartition(0, 10_000_000);
    const { commits } = e.collectChanges();
    expect(commits[0].offset).toBe(11);
    expect(decodeCheckpoint(commits[0].metadata)).toMatchObject({ commitOffset: 11, maxEventTimeBefore: 500_000, watermarkFloor: 10_000_000, finals: [] });
  });

  it('replays from a checkpoint: skips events already in final rows, re-reports late ones', () => {
    const e = scenario();
    e.process(0, rec(12, 70_000));
    const { rows: before, commits } = e.collectChanges();
    const md = commits[0].metadata;
    expect(before.find((r) => r.windowStart === 0)).toMatchObject({ final: true, totalEvents: 1, version: 11 });

    const r = new WindowingEngine();
    expect(r.restorePartition(0, md)).toBe(10);
    expect(r.process(0, rec(9, 61_000))).toEqual({ kind: 'duplicate' }); // below the commit offset
    expect(r.process(0, rec(10, 61_000))).toEqual({ kind: 'folded' });
    expect(r.process(0, rec(11, 59_000))).toEqual({ kind: 'skipped_final' }); // A's final row has it
    expect(r.process(0, rec(12, 70_000))).toEqual({ kind: 'folded' });
    expect(r.process(0, rec(13, 1000))).toMatchObject({ kind: 'late', windowStart: 0 });
    const rows = r.collectChanges().rows;
    expect(rows.map((x) => x.windowStart)).toEqual([M]); // A is never written again
    expect(rows[0]).toEqual(before.find((x) => x.windowStart === M));
    expect(r.stats()).toMatchObject({ skippedFinal: 1, duplicates: 1, lateEvents: 1, eventsFolded: 2 });
  });

  it('rejects metadata of another window size and returns undefined without a checkpoint', () => {
    const e = new WindowingEngine({ windowSizeMs: 1000 });
    const md = encodeCheckpoint({ commitOffset: 1, windowSizeMs: M, maxEventTimeBefore: 0, watermarkFloor: -Infinity, finals: [] });
    expect(() => e.restorePartition(0, md)).toThrow(CheckpointError);
    expect(() => e.restorePartition(0, md)).toThrow(/window size 60000 ms, engine uses 1000 ms/);
    expect(() => e.restorePartition(0, 'garbage')).toThrow(/invalid windowing checkpoint metadata: not JSON/);
    expect(e.restorePartition(0, undefined)).toBeUndefined();
    expect(e.collectChanges().commits).toEqual([]); // position unknown until the first record
  });

  it('accepts a decoded checkpoint object and resumes its position', () => {
    const e = new WindowingEngine();
    expect(e.restorePartition(2, { commitOffset: 42, windowSizeMs: M, maxEventTimeBefore: 100_000, watermarkFloor: -Infinity, finals: [] })).toBe(42);
    expect(e.watermark(2)).toBe(90_000);
    expect(e.collectChanges().commits[0]).toMatchObject({ partition: 2, offset: 42 });
    expect(e.checkpoint(2)).toMatchObject({ commitOffset: 42, maxEventTimeBefore: 100_000 });
  });

  it('revokePartition drops all state', () => {
    const e = new WindowingEngine();
    e.process(4, rec(0, 0));
    expect(e.revokePartition(4)).toBe(true);
    expect(e.revokePartition(4)).toBe(false);
    expect(e.collectChanges()).toEqual({ rows: [], commits: [] });
    expect(e.partitions()).toEqual([]);
  });

  it('ignores redelivered offsets of processed and invalid records', () => {
    const e = new WindowingEngine();
    e.process(0, rec(3, 0));
    e.skip(0, 4);
    expect(e.process(0, rec(3, 0))).toEqual({ kind: 'duplicate' });
    expect(e.process(0, rec(4, 0))).toEqual({ kind: 'duplicate' });
    e.skip(0, 2);
    expect(e.collectChanges().rows[0].totalEvents).toBe(1);
    expect(e.stats()).toMatchObject({ duplicates: 3, invalidRecords: 1 });
  });
});

describe('WindowingEngine: idle partitions', () => {
  it('advances the watermark, finalizes windows, never goes backwards', () => {
    const e = new WindowingEngine();
    e.process(0, rec(0, 1000));
    e.advanceIdlePartition(0, 59_999);
    expect(e.watermark(0)).toBe(59_999);
    expect(e.collectChanges().rows[0].final).toBe(false);
    e.advanceIdlePartition(0, 60_000);
    const { rows, commits } = e.collectChanges();
    expect(rows[0]).toMatchObject({ windowStart: 0, final: true });
    expect(decodeCheckpoint(commits[0].metadata)).toMatchObject({ commitOffset: 1, watermarkFloor: 60_000, maxEventTimeBefore: 1000 });
    e.advanceIdlePartition(0, 10);
    expect(e.watermark(0)).toBe(60_000);
    // An event that is late only because of the idle floor is late.
    expect(e.process(0, rec(1, 2000))).toMatchObject({ kind: 'late', watermark: 60_000 });
    // Events move the watermark past the floor again.
    e.process(0, rec(2, 80_000));
    expect(e.watermark(0)).toBe(70_000);
  });

  it('restores the floor from the checkpoint', () => {
    const e = new WindowingEngine();
    e.process(0, rec(0, 1000));
    e.advanceIdlePartition(0, 500_000);
    const md = e.collectChanges().commits[0].metadata;
    const r = new WindowingEngine();
    r.restorePartition(0, md);
    expect(r.watermark(0)).toBe(500_000);
    expect(r.process(0, rec(1, 400_000))).toMatchObject({ kind: 'late' });
  });

  it('ignores idle advances of a partition that has no position yet (nothing to checkpoint)', () => {
    const e = new WindowingEngine();
    e.advanceIdlePartition(7, 1_000_000);
    expect(e.watermark(7)).toBe(-Infinity);
    expect(e.process(7, rec(0, 0))).toEqual({ kind: 'folded' });
  });

  it('global watermark is the min over partitions not marked idle', () => {
    const e = new WindowingEngine({ maxOutOfOrdernessMs: 0 });
    expect(e.globalWatermark()).toBe(-Infinity);
    e.process(0, rec(0, 100_000));
    e.process(1, rec(0, 50_000));
    e.process(2, rec(0, 10_000));
    expect(e.globalWatermark()).toBe(10_000);
    e.advanceIdlePartition(2, 20_000);
    expect(e.globalWatermark()).toBe(50_000);
    e.advanceIdlePartition(0, 0);
    e.advanceIdlePartition(1, 0);
    expect(e.globalWatermark()).toBe(20_000); // all idle: min over all
    e.process(2, rec(1, 30_000)); // a record clears the idle mark
    expect(e.globalWatermark()).toBe(30_000);
    expect(e.stats().partitions.map((p) => [p.partition, p.idle, p.watermark])).toEqual([
      [0, true, 100_000],
      [1, true, 50_000],
      [2, false, 30_000],
    ]);
  });
});
