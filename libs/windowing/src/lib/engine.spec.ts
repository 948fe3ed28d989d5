import { decodeCheckpoint } from './checkpoint';
import { rowVersionOf } from './config';
import { WindowingEngine } from './engine';
import { accumulatorState, createAccumulator } from './fold';
import type { StoredWindow, WindowRecord } from './types';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
let nextOffset = 0;
const rec = (eventTimeMs: number, extra: Partial<WindowRecord> = {}): WindowRecord => ({
  offset: nextOffset++,
  eventTimeMs,
  recordTimestampMs: eventTimeMs,
  userId: 'u1',
  deviceId: 'd1',
  metricValue: 1,
  temperature: 20,
  status: 'ok',
  anomalyScore: 0,
  ...extra,
});

beforeEach(() => {
  nextOffset = 0;
});

describe('WindowingEngine: folding and rows', () => {
  it('aggregates a window and emits a partial row per change, then a final row', () => {
    const e = new WindowingEngine();
    e.process(0, rec(T0 + 1000, { userId: 'a', metricValue: 2, anomalyScore: 0.9 }));
    e.process(0, rec(T0 + 2000, { userId: 'b', metricValue: 4 }));
    e.process(0, rec(T0 + 3000, { userId: 'a', metricValue: 6 }));
    const first = e.collectChanges();
    expect(first.rows).toEqual([
      expect.objectContaining({ partition: 0, windowStart: T0, totalEvents: 3, metricSum: 12, avgMetric: 4, newUsers: ['a', 'b'], anomalyEvents: 1, lateEvents: 0, version: 2, final: false, rowVersion: 4 }),
    ]);
    expect(first.rows[0].aggregate).toMatchObject({ totalEvents: 3, metricMin: 2, metricMax: 6, statusCounts: { ok: 3, warning: 0, error: 0, offline: 0 } });
    // The device's row: the same accumulator, versioned by the device's last offset.
    expect(first.rows[0].devices).toEqual([expect.objectContaining({ deviceId: 'd1', version: 2, rowVersion: 4 })]);
    expect(e.collectChanges().rows).toEqual([]);
    // A user seen again is not handed out again; a new one is.
    e.process(0, rec(T0 + 4000, { userId: 'b' }));
    e.process(0, rec(T0 + 5000, { userId: 'c' }));
    expect(e.collectChanges().rows).toEqual([expect.objectContaining({ totalEvents: 5, newUsers: ['c'] })]);
    // The watermark passes the window's end (60 s + 10 s of out-of-orderness): the same content, final.
    e.process(0, rec(T0 + MIN + 10_000));
    const rows = e.collectChanges().rows;
    expect(rows.find((r) => r.windowStart === T0)).toMatchObject({ totalEvents: 5, version: 4, final: true, rowVersion: 9, newUsers: [] });
  });

  it('orders rows by last offset, a final row above a partial one at the same offset', () => {
    expect(rowVersionOf(7, true)).toBeGreaterThan(rowVersionOf(7, false));
    expect(rowVersionOf(8, false)).toBeGreaterThan(rowVersionOf(7, true));
  });

  it('rejects invalid input loudly (the app must validate first)', () => {
    const e = new WindowingEngine();
    expect(() => e.process(0, { ...rec(T0), offset: -1 })).toThrow(RangeError);
    expect(() => e.process(0, rec(Number.NaN))).toThrow(RangeError);
    expect(() => e.process(0, rec(T0, { metricValue: Infinity }))).toThrow(RangeError);
    expect(() => new WindowingEngine({ allowedLatenessMs: -1 })).toThrow(RangeError);
  });
});

describe('WindowingEngine: real-world event time', () => {
  it('dead-letters an event far ahead of its record timestamp without moving the watermark', () => {
    const e = new WindowingEngine();
    e.process(0, rec(T0));
    const wm = e.watermark(0);
    const out = e.process(0, rec(Date.UTC(2030, 0, 1), { recordTimestampMs: T0 + 1000 }));
    expect(out).toMatchObject({ kind: 'future', reason: 'future_event_time' });
    expect(e.watermark(0)).toBe(wm);
    // 200 on-time events after the wrong clock: every one counted.
    for (let i = 0; i < 200; i++) expect(e.process(0, rec(T0 + 100 * i)).kind).toBe('folded');
    const rows = e.collectChanges().rows;
    expect(rows.reduce((n, r) => n + r.totalEvents, 0)).toBe(201);
    expect(rows.every((r) => r.windowStart < Date.UTC(2029, 0, 1))).toBe(true);
  });

  it('accepts an event up to the skew bound ahead, and one without a record timestamp', () => {
    const e = new WindowingEngine({ maxFutureSkewMs: 300_000 });
    expect(e.process(0, rec(T0 + 300_000, { recordTimestampMs: T0 })).kind).toBe('folded');
    expect(e.process(0, rec(T0 + 300_001, { recordTimestampMs: T0 })).kind).toBe('future');
    expect(e.process(0, rec(T0 + 10 * MIN, { recordTimestampMs: undefined })).kind).toBe('folded');
  });

  it('counts late events within the horizon (with how late) and dead-letters only those beyond it', () => {
    const e = new WindowingEngine({ allowedLatenessMs: 3_600_000 });
    e.process(0, rec(T0 + 2 * 3_600_000));
    const watermark = e.watermark(0);
    const hourLateRecord = rec(T0 + 3_600_000 + 5_000);
    // An older window may have a stored row: the engine asks for it first.
    expect(e.process(0, hourLateRecord)).toEqual({ kind: 'needs_state', windowStart: T0 + 3_600_000 });
    e.installWindows(0, [T0 + 3_600_000], []);
    const hourLate = e.process(0, hourLateRecord);
    expect(hourLate.kind).toBe('folded');
    expect(hourLate.kind === 'folded' && hourLate.lateByMs).toBe(watermark - (T0 + 3_600_000 + MIN));
    const beyond = e.process(0, rec(T0 + 3_600_000 - 2 * MIN));
    expect(beyond).toMatchObject({ kind: 'too_late', reason: 'late_event', windowStart: T0 + 3_600_000 - 2 * MIN, watermark });
  });
});

describe('WindowingEngine: state in the store', () => {
  const stored = (windowStart: number, lastOffset: number, totalEvents: number): StoredWindow => ({
    windowStart,
    aggregate: { ...accumulatorState(createAccumulator()), totalEvents, metricSum: totalEvents, lateEvents: 2 },
    lastOffset,
    final: true,
  });

  it('asks for a window it has not got and that may be stored, and folds into the stored row', () => {
    const e = new WindowingEngine();
    e.restorePartition(0, { commitOffset: 100, windowSizeMs: MIN, maxEventTimeBefore: T0 + 30 * MIN + 20_000, watermarkFloor: -Infinity });
    // The restored partition first loads the windows that may still be open.
    expect(e.windowsToLoad(0, [])).toEqual([T0 + 30 * MIN]);
    e.installWindows(0, [T0 + 30 * MIN], []);
    nextOffset = 100;
    const late = rec(T0 + 5 * MIN);
    expect(e.process(0, late)).toEqual({ kind: 'needs_state', windowStart: T0 + 5 * MIN });
    expect(e.windowsToLoad(0, [late, rec(T0 + 6 * MIN)])).toEqual([T0 + 5 * MIN, T0 + 6 * MIN]);
    e.installWindows(0, [T0 + 5 * MIN], [stored(T0 + 5 * MIN, 40, 10)]);
    expect(e.process(0, late).kind).toBe('folded');
    expect(e.collectChanges().rows).toEqual([expect.objectContaining({ windowStart: T0 + 5 * MIN, totalEvents: 11, lateEvents: 3, newUsers: ['u1'], version: 100, final: true })]);
    // The stored row (offset 40) is behind the position (100): this engine wrote it, nothing to revisit.
    expect(e.collectChanges().revisitedWindows).toEqual([]);
  });

  it('skips an event already inside the stored row (a replay after a crash)', () => {
    const e = new WindowingEngine();
    e.restorePartition(0, { commitOffset: 10, windowSizeMs: MIN, maxEventTimeBefore: T0 + 1000, watermarkFloor: -Infinity });
    const open = e.windowsToLoad(0, []);
    // The watermark (T0 - 9 s) has not passed the end of the previous window either.
    expect(open).toEqual([T0 - MIN, T0]);
    e.installWindows(0, open, [{ ...stored(T0, 12, 5), final: false }]);
    // Written at offset 12, past the checkpoint (10): a flush that was not committed wrote it, so the
    // window's result may be missing and is refreshed with the next flush, even if nothing changes it.
    expect(e.collectChanges()).toMatchObject({ rows: [], revisitedWindows: [T0] });
    expect(e.collectChanges().revisitedWindows).toEqual([]);
    nextOffset = 10;
    expect(e.process(0, rec(T0 + 2000)).kind).toBe('already_counted');
    expect(e.process(0, rec(T0 + 2000)).kind).toBe('already_counted');
    expect(e.process(0, rec(T0 + 2000)).kind).toBe('already_counted');
    expect(e.process(0, rec(T0 + 2000)).kind).toBe('folded');
    expect(e.collectChanges().rows).toEqual([expect.objectContaining({ totalEvents: 6, version: 13, final: false })]);
  });

  it('lists the following windows that may be stored and are not in memory, for reading ahead', () => {
    const e = new WindowingEngine();
    e.process(0, rec(T0 + 10 * MIN));
    expect(e.windowsAfter(0, T0, 3)).toEqual([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    expect(e.windowsAfter(0, T0 + 8 * MIN, 5)).toEqual([T0 + 9 * MIN]); // T0 + 10 min is in memory
    expect(e.windowsAfter(1, T0, 3)).toEqual([]); // nothing processed yet: nothing stored
  });

  it('needs no store read for a window newer than any before (the in-order path)', () => {
    const e = new WindowingEngine();
    for (let i = 0; i < 600; i++) expect(e.process(0, rec(T0 + i * 1000)).kind).toBe('folded');
    expect(e.stats().windowsLoaded).toBe(0);
  });

  it('evicts final windows only after their rows are durable and the retention has passed', () => {
    const e = new WindowingEngine({ retainFinalWindowsForFlushes: 1 });
    e.process(0, rec(T0));
    e.process(0, rec(T0 + 2 * MIN));
    const a = e.collectChanges();
    expect(e.stats().cachedWindows).toBe(2);
    e.markDurable(a.flushId - 1); // an older flush: the row of T0 is not durable yet
    expect(e.stats().cachedWindows).toBe(2);
    e.collectChanges();
    const c = e.collectChanges();
    e.markDurable(c.flushId);
    expect(e.stats()).toMatchObject({ cachedWindows: 1, openWindows: 1, windowsEvicted: 1 });
    // A late event for the evicted window asks for it again.
    expect(e.process(0, rec(T0 + 5)).kind).toBe('needs_state');
  });

  it('never evicts an open window', () => {
    const e = new WindowingEngine({ retainFinalWindowsForFlushes: 0 });
    e.process(0, rec(T0));
    for (let i = 0; i < 5; i++) e.markDurable(e.collectChanges().flushId);
    expect(e.stats().cachedWindows).toBe(1);
  });
});

describe('WindowingEngine: commits and checkpoints', () => {
  it('commits the position with a constant-size checkpoint', () => {
    const e = new WindowingEngine();
    for (let i = 0; i < 50; i++) e.process(3, rec(T0 + i * 10_000));
    e.skip(3, nextOffset++);
    const [commit] = e.collectChanges().commits;
    expect(commit.offset).toBe(51);
    expect(decodeCheckpoint(commit.metadata)).toEqual({ commitOffset: 51, windowSizeMs: MIN, maxEventTimeBefore: T0 + 490_000, watermarkFloor: -Infinity });
    expect(commit.metadata.length).toBeLessThan(80);
  });

  it('rejects metadata of another window size and returns undefined without a checkpoint', () => {
    const e = new WindowingEngine();
    expect(e.restorePartition(0)).toBeUndefined();
    expect(() => e.restorePartition(0, '{"v":2,"o":1,"s":1000,"m":null,"w":null}')).toThrow(/window size/);
  });

  it('reads format-1 checkpoints (with finals) as their position and watermark', () => {
    const e = new WindowingEngine();
    expect(e.restorePartition(0, `{"v":1,"o":7,"s":60000,"m":${T0},"w":null,"f":[[1,3]]}`)).toBe(7);
    expect(e.watermark(0)).toBe(T0 - 10_000);
  });

  it('ignores redelivered offsets of processed and invalid records', () => {
    const e = new WindowingEngine();
    e.process(0, rec(T0));
    e.skip(0, 1);
    expect(e.process(0, { ...rec(T0), offset: 0 }).kind).toBe('duplicate');
    e.skip(0, 1);
    expect(e.stats()).toMatchObject({ duplicates: 2, eventsFolded: 1, invalidRecords: 1 });
  });
});

describe('WindowingEngine: idle partitions', () => {
  it('advances the watermark (never backwards), finalises windows and checkpoints the floor', () => {
    const e = new WindowingEngine();
    e.process(0, rec(T0));
    e.collectChanges();
    e.advanceIdlePartition(0, T0 + 2 * MIN);
    e.advanceIdlePartition(0, T0);
    expect(e.watermark(0)).toBe(T0 + 2 * MIN);
    const { rows, commits } = e.collectChanges();
    expect(rows).toEqual([expect.objectContaining({ windowStart: T0, final: true })]);
    expect(decodeCheckpoint(commits[0].metadata).watermarkFloor).toBe(T0 + 2 * MIN);
  });

  it('ignores idle advances of a partition that has no position yet (nothing to checkpoint)', () => {
    const e = new WindowingEngine();
    e.advanceIdlePartition(1, T0);
    expect(e.watermark(1)).toBe(-Infinity);
  });

  it('global watermark is the min over partitions not marked idle', () => {
    const e = new WindowingEngine();
    e.process(0, rec(T0));
    e.process(1, rec(T0 + MIN));
    expect(e.globalWatermark()).toBe(T0 - 10_000);
    e.advanceIdlePartition(0, T0 + 5);
    expect(e.globalWatermark()).toBe(T0 + MIN - 10_000);
  });
});
