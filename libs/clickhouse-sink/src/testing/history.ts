/**
 * Test kit (not part of the library build): window-state rows built the way
 * the aggregator builds them (rowVersion from the windowing engine's
 * rowVersionOf), random histories of cumulative per-(window, partition)
 * snapshots inserted in random order with duplicates, older versions, final
 * re-writes and late events after finality, each flush's new users written
 * before its state rows (and written again by replays), and a brute-force
 * oracle of the state reads. Used by the chdb and the 18.16 tests.
 */
import fc from 'fast-check';
import { rowVersionOf } from '@stream-analytics/windowing';
import type { ClickHouseSinkClient } from '../lib/client';
import { expectedDeadLetterCounts, expectedMinuteAgg } from './oracle';
import {
  aggregateOfStateRow,
  minuteDeadLetterRollupSelect,
  MINUTE_DEAD_LETTER_ROLLUP_COLUMNS,
  minuteRollupSelect,
  MINUTE_ROLLUP_COLUMNS,
  VIEW_READ_SETTINGS,
  windowStartList,
  type DeadLetterCountRow,
  type StoredWindowRow,
} from '../lib/readers';
import { toDeviceStateRecord, toWindowPartitionRecord, type DeadLetterRow, type WindowPartitionRecord, type WindowPartitionRow, type WindowUsersRow } from '../lib/rows';
import { TABLES } from '../lib/schema';
import type { WindowRowWriter } from '../lib/writer';

export const MINUTE = 60_000;

type StateRowFields = Partial<WindowPartitionRow> & Pick<WindowPartitionRow, 'windowStartMs' | 'sourceTopic'>;

/** A window-state row with empty defaults; rowVersion is rowVersionOf(lastOffset, isFinal) unless given. */
export function stateRow(fields: StateRowFields): WindowPartitionRow {
  const lastOffset = fields.lastOffset ?? 0;
  const isFinal = fields.isFinal ?? false;
  return {
    sourcePartition: 0,
    totalEvents: 0,
    metricSum: 0,
    anomalyEvents: 0,
    lateEvents: 0,
    updatedAtMs: fields.windowStartMs + 5_000,
    ...fields,
    lastOffset,
    isFinal,
    rowVersion: fields.rowVersion ?? rowVersionOf(lastOffset, isFinal),
  };
}

/** The state a store read must return for a row (what StoredWindowRow keeps of it). */
export function storedOf(r: WindowPartitionRow): StoredWindowRow {
  return {
    windowStartMs: r.windowStartMs,
    sourcePartition: r.sourcePartition,
    totalEvents: r.totalEvents,
    metricSum: r.metricSum,
    anomalyEvents: r.anomalyEvents,
    lateEvents: r.lateEvents,
    lastOffset: r.lastOffset,
    isFinal: r.isFinal,
    rowVersion: r.rowVersion,
    aggregate: storedAggregateOf(toWindowPartitionRecord(r)),
    devices: [...(r.devices ?? [])]
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0))
      .map((d) => ({ deviceId: d.deviceId, aggregate: storedAggregateOf(toDeviceStateRecord(r, d)), lastOffset: d.lastOffset, rowVersion: d.rowVersion })),
  };
}

/** What a store read gives back of a state record's accumulator (the stored columns, as aggregateOfStateRow maps them). */
export function storedAggregateOf(rec: WindowPartitionRecord): StoredWindowRow['aggregate'] {
  return aggregateOfStateRow(Object.fromEntries(Object.entries(rec).map(([k, v]) => [`s_${k}`, v])));
}

export type WantedStates = ReadonlyArray<{ partition: number; windowStartsMs: readonly number[] }>;

/**
 * Brute-force oracle of readWindowStates: for each requested (partition,
 * window) of `topic` that has rows, the inserted row with the greatest
 * rowVersion; sorted by (partition, window).
 */
export function expectedWindowStates(inserted: readonly WindowPartitionRow[], topic: string, wanted: WantedStates): StoredWindowRow[] {
  const out: StoredWindowRow[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    for (const ws of w.windowStartsMs) {
      const key = `${w.partition}:${ws}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const candidates = inserted.filter((r) => r.sourceTopic === topic && r.sourcePartition === w.partition && r.windowStartMs === ws);
      if (candidates.length === 0) continue;
      out.push(storedOf(candidates.reduce((a, b) => (b.rowVersion > a.rowVersion ? b : a))));
    }
  }
  return sortStates(out);
}

export function sortStates(rows: readonly StoredWindowRow[]): StoredWindowRow[] {
  return [...rows].sort((a, b) => a.sourcePartition - b.sourcePartition || a.windowStartMs - b.windowStartMs);
}

// ---- random histories: cumulative snapshots per (window, partition), inserted
// in random order with duplicates, older versions and final re-writes.

export interface Step {
  events: number;
  metricHalves: number;
  users: number[];
  anomalies: number;
  offsetGap: number;
}
export interface KeyHistory {
  window: number;
  partition: number;
  steps: Step[];
  /** Steps from this index on are final (the watermark passed); their events are late. */
  finalFrom: number;
  /** The last partial snapshot is re-written as final at the same offset (a flush after the watermark moved). */
  finalRewrite: boolean;
}
export interface History {
  keys: KeyHistory[];
  picks: number[];
  order: number[];
  batchCuts: number[];
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  events: fc.integer({ min: 1, max: 5 }),
  metricHalves: fc.integer({ min: -20, max: 40 }),
  users: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }),
  anomalies: fc.integer({ min: 0, max: 5 }),
  offsetGap: fc.integer({ min: 1, max: 50 }),
});

export const historyArb: fc.Arbitrary<History> = fc.record({
  keys: fc.uniqueArray(
    fc.record({
      window: fc.integer({ min: 0, max: 3 }),
      partition: fc.integer({ min: 0, max: 4 }),
      steps: fc.array(stepArb, { minLength: 1, maxLength: 4 }),
      finalFrom: fc.integer({ min: 0, max: 4 }),
      finalRewrite: fc.boolean(),
    }),
    { selector: (k) => `${k.window}/${k.partition}`, minLength: 1, maxLength: 8 },
  ),
  picks: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 64, maxLength: 64 }),
  order: fc.array(fc.nat(), { minLength: 128, maxLength: 128 }),
  batchCuts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 64, maxLength: 64 }),
});

/** A snapshot of one (window, partition) and the users of the events it counts (cumulative, like the counts). */
export interface Snapshot {
  row: WindowPartitionRow;
  users: readonly string[];
}

/** The snapshots of one history in write order, per key: offsets and row versions only grow. */
export function snapshotsOf(h: History, baseMs: number, topic: string): Snapshot[][] {
  return h.keys.map((k) => {
    const out: Snapshot[] = [];
    const windowStartMs = baseMs + k.window * MINUTE;
    let totalEvents = 0;
    let metricHalves = 0;
    let anomalyEvents = 0;
    let lateEvents = 0;
    let lastOffset = 1000 * k.partition;
    let updatedAtMs = windowStartMs + 5_123;
    const users = new Set<string>();
    const rewriteFinal = (): void => {
      const prev = out[out.length - 1];
      if (prev && !prev.row.isFinal) {
        out.push({ row: { ...prev.row, isFinal: true, rowVersion: rowVersionOf(prev.row.lastOffset, true), updatedAtMs: (updatedAtMs += 5_000) }, users: prev.users });
      }
    };
    k.steps.forEach((s, i) => {
      const isFinal = i >= k.finalFrom;
      if (isFinal && i === k.finalFrom && k.finalRewrite) rewriteFinal();
      totalEvents += s.events;
      metricHalves += s.metricHalves;
      anomalyEvents += Math.min(s.anomalies, s.events);
      if (isFinal) lateEvents += s.events;
      lastOffset += s.offsetGap;
      s.users.forEach((u) => users.add(`user-${u}`));
      out.push({
        row: {
          windowStartMs,
          sourceTopic: topic,
          sourcePartition: k.partition,
          totalEvents,
          metricSum: metricHalves / 2,
          anomalyEvents,
          lateEvents,
          lastOffset,
          isFinal,
          rowVersion: rowVersionOf(lastOffset, isFinal),
          updatedAtMs: (updatedAtMs += 5_000),
        },
        users: [...users],
      });
    });
    if (k.finalRewrite && k.finalFrom >= k.steps.length) rewriteFinal();
    return out;
  });
}

/** One flush as the aggregator writes it: users rows first, then state rows, then a refresh of `windowStartsMs`. */
export interface Flush {
  users: WindowUsersRow[];
  rows: WindowPartitionRow[];
  windowStartsMs: number[];
}

/**
 * A history's writes in random order with duplicates, cut into flushes. The
 * first write of a snapshot hands out the users of its key not written yet
 * (as the engine does); a repeated write (a replay) writes all of the
 * snapshot's users again.
 */
export function materialise(h: History, baseMs: number, topic: string): { inserted: WindowPartitionRow[]; userRows: WindowUsersRow[]; flushes: Flush[] } {
  // each snapshot inserted 0-2 times, the newest of every key at least once
  const writes: { snapshot: Snapshot; replay: boolean }[] = [];
  let n = 0;
  for (const key of snapshotsOf(h, baseMs, topic)) {
    key.forEach((s, i) => {
      const copies = Math.max(i === key.length - 1 ? 1 : 0, h.picks[n++ % h.picks.length]);
      for (let c = 0; c < copies; c++) writes.push({ snapshot: s, replay: c > 0 });
    });
  }
  // shuffle (Fisher-Yates with the generated numbers)
  for (let i = writes.length - 1; i > 0; i--) {
    const j = h.order[i % h.order.length] % (i + 1);
    [writes[i], writes[j]] = [writes[j], writes[i]];
  }
  const handedOut = new Map<string, Set<string>>();
  const usersOf = ({ snapshot, replay }: (typeof writes)[number]): WindowUsersRow => {
    const key = `${snapshot.row.windowStartMs}/${snapshot.row.sourcePartition}`;
    const done = handedOut.get(key) ?? new Set<string>();
    handedOut.set(key, done);
    const userIds = replay ? [...snapshot.users] : snapshot.users.filter((u) => !done.has(u));
    userIds.forEach((u) => done.add(u));
    return { windowStartMs: snapshot.row.windowStartMs, userIds };
  };
  const flushes: Flush[] = [];
  for (let i = 0, c = 0; i < writes.length; c++) {
    const batch = writes.slice(i, i + h.batchCuts[c % h.batchCuts.length]);
    const rows = batch.map((w) => w.snapshot.row);
    flushes.push({ users: batch.map(usersOf), rows, windowStartsMs: [...new Set(rows.map((r) => r.windowStartMs))] });
    i += batch.length;
  }
  return { inserted: flushes.flatMap((f) => f.rows), userRows: flushes.flatMap((f) => f.users), flushes };
}

/** The windows of a set of rows, ascending. */
export function windowsOf(rows: readonly { windowStartMs: number }[]): number[] {
  return [...new Set(rows.map((r) => r.windowStartMs))].sort((a, b) => a - b);
}

/** A subset (by `pick`) of the (partition, window) pairs a history can have, plus pairs it never has (partition 5, window 4). */
export function wantedOf(baseMs: number, pick: readonly boolean[]): WantedStates {
  const byPartition = new Map<number, number[]>();
  for (let p = 0; p <= 5; p++) {
    for (let w = 0; w <= 4; w++) {
      if (pick[(p * 5 + w) % pick.length]) {
        const list = byPartition.get(p) ?? [];
        list.push(baseMs + w * MINUTE);
        byPartition.set(p, list);
      }
    }
  }
  return [...byPartition].map(([partition, windowStartsMs]) => ({ partition, windowStartsMs }));
}

/**
 * Doubles a window's metric_sum must survive bit for bit: sums such as
 * 0.1 + 0.2, tiny and huge magnitudes, subnormals, negative zero, many
 * significant digits.
 */
export const TRICKY_DOUBLES: readonly number[] = [
  0.1 + 0.2,
  1e-300,
  // eslint-disable-next-line no-loss-of-precision -- written as a user would; the double it rounds to is the value under test
  -123.456789012345678,
  1.7976931348623157e308,
  -1.7976931348623157e308,
  5e-324,
  2.2250738585072014e-308,
  2.225073858507201e-308,
  123456789.12345679,
  2 ** 53 + 2,
  1 / 3,
  Math.PI * 1e200,
  -4.9406564584124654e-320,
  -0,
  0,
  1e21,
  12345.678901234567,
  0.1 * 3,
];

/** Finite doubles of every magnitude (fast-check's full-range generator). */
export const finiteDoubleArb: fc.Arbitrary<number> = fc.double({ noNaN: true, noDefaultInfinity: true });

// ---- fixed scenarios, run on both servers (chdb.spec.ts and the *.int.spec.ts files)

/** Users with characters the text formats must escape or keep raw. */
export const AWKWARD_USERS: readonly string[] = ["o'hara", 'back\\slash', "\\'", 'tab\there', 'line\nbreak', 'ünïcødé-用户', '[a,b]', ''];

/**
 * readWindowStates: three versions of (p0, w0) inserted newest first, then
 * older ones and duplicates; (p0, w1) partial and final at one offset; (p2, w2)
 * and pairs that exist but are not asked for ((p0, w2), (p2, w0), p1); the same
 * keys under another topic with higher versions; a pair asked for that has no row.
 */
export function readScenario(topic: string, otherTopic: string, w0: number) {
  const [w1, w2, w3] = [w0 + MINUTE, w0 + 2 * MINUTE, w0 + 3 * MINUTE];
  const r = (f: Omit<StateRowFields, 'sourceTopic'> & { sourceTopic?: string }): WindowPartitionRow => stateRow({ sourceTopic: topic, ...f });
  const p0w0 = [
    r({ windowStartMs: w0, lastOffset: 40, totalEvents: 9, metricSum: 4.25, anomalyEvents: 2, lateEvents: 1, isFinal: true }),
    r({ windowStartMs: w0, lastOffset: 30, totalEvents: 6, metricSum: 3, anomalyEvents: 1 }),
    r({ windowStartMs: w0, lastOffset: 12, totalEvents: 2, metricSum: 1 }),
  ];
  const p0w1Partial = r({ windowStartMs: w1, lastOffset: 77, totalEvents: 3, metricSum: -2.5, updatedAtMs: w1 + 60_000 });
  const p0w1Final = { ...p0w1Partial, isFinal: true, rowVersion: rowVersionOf(77, true), updatedAtMs: w1 + 75_000 };
  const p2w2 = r({ windowStartMs: w2, sourcePartition: 2, lastOffset: 5, totalEvents: 1, metricSum: 0.5 });
  const notAsked = [
    r({ windowStartMs: w2, lastOffset: 90, totalEvents: 50 }),
    r({ windowStartMs: w0, sourcePartition: 2, lastOffset: 91, totalEvents: 51 }),
    r({ windowStartMs: w0, sourcePartition: 1, lastOffset: 92, totalEvents: 52 }),
  ];
  const other = [p0w0[0], p0w1Final, p2w2].map((x) => ({ ...x, sourceTopic: otherTopic, lastOffset: x.lastOffset + 1000, rowVersion: x.rowVersion + 2000, totalEvents: 999 }));
  const batches: WindowPartitionRow[][] = [
    [p0w0[0], p0w1Final, ...other],
    [p0w0[1], p0w1Partial, p2w2, ...notAsked],
    [p0w0[2], p0w0[1], p0w0[0], p0w1Partial], // older snapshots and duplicates after the newest
    [p2w2, p0w1Final],
  ];
  const wanted: WantedStates = [
    { partition: 0, windowStartsMs: [w0, w1, w3] },
    { partition: 2, windowStartsMs: [w2] },
    { partition: 1, windowStartsMs: [] },
  ];
  return { batches, wanted, expected: sortStates([p0w0[0], p0w1Final, p2w2].map(storedOf)) };
}

/**
 * is_final after merges: per window one key where partial and final rows
 * share the last offset, inserted final-first (w0), partial-first (w1) and
 * both in one insert in either order (w2, w3); and in w4 a partial row at a
 * higher offset than a final one (a late event folded in after a flush that
 * marked it final, from an engine that does not mark it final again).
 */
export function finalityScenario(topic: string, w0: number) {
  const ws = [0, 1, 2, 3, 4].map((i) => w0 + i * MINUTE);
  const partial = ws.map((w, i) => stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 3, lastOffset: 500 + i, totalEvents: 4, metricSum: 2, updatedAtMs: w + 61_000 }));
  const final = partial.map((p) => ({ ...p, isFinal: true, rowVersion: rowVersionOf(p.lastOffset, true), updatedAtMs: p.updatedAtMs + 5_000 }));
  const laterPartial = { ...partial[4], lastOffset: 600, rowVersion: rowVersionOf(600, false), totalEvents: 5, metricSum: 2.5, lateEvents: 1, updatedAtMs: final[4].updatedAtMs + 5_000 };
  const batches: WindowPartitionRow[][] = [[final[0]], [partial[0]], [partial[1]], [final[1]], [final[2], partial[2]], [partial[3], final[3]], [laterPartial], [final[4]]];
  const winners = [final[0], final[1], final[2], final[3], laterPartial];
  return {
    batches,
    ws,
    wanted: [{ partition: 3, windowStartsMs: ws }] as WantedStates,
    expectedStates: sortStates(winners.map(storedOf)),
    /** Per window: is_final and total_events in iot_minute_agg. */
    expectedAgg: winners.map((w) => ({ windowStartMs: w.windowStartMs, isFinal: w.isFinal, totalEvents: w.totalEvents, lateEvents: w.lateEvents, updatedAtMs: w.updatedAtMs })),
  };
}

/** metric_sum values for (partition p, window w0 + i minutes): the tricky ones, then random ones. */
export function floatScenario(topic: string, w0: number, randoms: readonly number[]) {
  const values = [...TRICKY_DOUBLES, ...randoms];
  const rows = values.map((metricSum, i) =>
    stateRow({ sourceTopic: topic, windowStartMs: w0 + Math.floor(i / 16) * MINUTE, sourcePartition: i % 16, lastOffset: i, totalEvents: 1, metricSum }),
  );
  const byPartition = new Map<number, Set<number>>();
  for (const r of rows) byPartition.set(r.sourcePartition, (byPartition.get(r.sourcePartition) ?? new Set()).add(r.windowStartMs));
  const wanted: WantedStates = [...byPartition].map(([partition, s]) => ({ partition, windowStartsMs: [...s] }));
  return { rows, wanted, expected: sortStates(rows.map(storedOf)) };
}

/** The raw IEEE-754 bits of each metricSum, to compare bit for bit (Object.is would do for one value, this names the difference). */
export function metricBits(rows: readonly { metricSum: number }[]): string[] {
  return rows.map((r) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(r.metricSum);
    return b.toString('hex');
  });
}

/** Users rows and state rows: one flush, or one snapshot of several writers' flushes. */
export interface Writes {
  users: WindowUsersRow[];
  rows: WindowPartitionRow[];
}

/** A flush as the aggregator writes it: users, state rows, then the refresh of their windows. */
export async function writeFlush(writer: WindowRowWriter, w: Writes): Promise<void> {
  await writer.writeWindowUsers(w.users);
  await writer.writeWindowRows(w.rows);
  await writer.refreshMinuteRollup(windowsOf(w.rows));
}

/**
 * Inserts the results of `s.snapshots`, each computed by the refresh's own
 * SELECT in a database holding only that snapshot (`snapshotDbs[i]`), into
 * the rollup, in the order `s.orders[k]` for window k, stamped `computedAtMs`.
 */
export async function insertRollupsInOrder(
  client: ClickHouseSinkClient,
  s: ReturnType<typeof rollupOrderScenario>,
  snapshotDbs: readonly string[],
  computedAtMs: number,
): Promise<void> {
  for (let position = 0; position < 3; position++) {
    for (let snapshot = 0; snapshot < 3; snapshot++) {
      const windows = s.windows.filter((_, k) => s.orders[k][position] === snapshot);
      if (windows.length === 0) continue;
      const select = forDatabase(minuteRollupSelect(windows, computedAtMs), snapshotDbs[snapshot]);
      await client.insertSelect(TABLES.minuteRollup, MINUTE_ROLLUP_COLUMNS, select, { settings: VIEW_READ_SETTINGS });
    }
  }
}

/**
 * Unique users across partitions: 24 partitions of one window, each with 500
 * users overlapping the next partition's by 200 (partition 0 also has the
 * awkward ones), handed out half in a partial flush and half in the final
 * one, then all of them again with the final rows by a replay (a restart
 * that does not know what was written): the users table is a set.
 */
export function manyUsersScenario(topic: string, w: number) {
  const partial: Writes = { users: [], rows: [] };
  const final: Writes = { users: [], rows: [] };
  const replay: Writes = { users: [], rows: [] };
  for (let p = 0; p < 24; p++) {
    const users = Array.from({ length: 500 }, (_, u) => `user-${p * 300 + u}`);
    if (p === 0) users.push(...AWKWARD_USERS);
    const half = users.length >> 1;
    const fields = { sourceTopic: topic, windowStartMs: w, sourcePartition: p, metricSum: 250 * (p + 1), anomalyEvents: p };
    partial.users.push({ windowStartMs: w, userIds: users.slice(0, half) });
    partial.rows.push(stateRow({ ...fields, totalEvents: 400, lastOffset: 1000 + p, updatedAtMs: w + 30_000 }));
    final.users.push({ windowStartMs: w, userIds: users.slice(half) });
    final.rows.push(stateRow({ ...fields, totalEvents: 1000, lastOffset: 2000 + p, isFinal: true, updatedAtMs: w + 65_000 }));
    replay.users.push({ windowStartMs: w, userIds: [...users].reverse() });
  }
  replay.rows = final.rows;
  const flushes = [partial, final, replay];
  return {
    flushes,
    uniqueUsers: 23 * 300 + 500 + new Set(AWKWARD_USERS).size,
    expected: expectedMinuteAgg(
      flushes.flatMap((f) => f.rows),
      flushes.flatMap((f) => f.users),
    ),
  };
}

/**
 * Rollup ordering: partitions A (0) and B (1) of a window, each with an old
 * and a new row. Three results of the window: computed from {A new, B old}
 * and from {A old, B new} (what a refresh sees when it runs before the other
 * writer's rows are in) and from {A new, B new} (complete); inserted into
 * the rollup in each of the 6 orders, one window per order. The complete
 * result must win every time.
 */
export function rollupOrderScenario(topic: string, w0: number) {
  const windows = [0, 1, 2, 3, 4, 5].map((i) => w0 + i * MINUTE);
  const a = (w: number, version: 'old' | 'new') =>
    version === 'old'
      ? stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 0, lastOffset: 10, totalEvents: 3, metricSum: 1.5, updatedAtMs: w + 20_000 })
      : stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 0, lastOffset: 40, totalEvents: 7, metricSum: 4, anomalyEvents: 1, updatedAtMs: w + 40_000 });
  const b = (w: number, version: 'old' | 'new') =>
    version === 'old'
      ? stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 1, lastOffset: 500, totalEvents: 2, metricSum: -1, updatedAtMs: w + 25_000 })
      : stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 1, lastOffset: 505, totalEvents: 5, metricSum: 0.25, lateEvents: 1, isFinal: true, updatedAtMs: w + 70_000 });
  const usersOf = (w: number, part: 'a' | 'b', version: 'old' | 'new'): WindowUsersRow => ({
    windowStartMs: w,
    userIds: part === 'a' ? (version === 'old' ? ['a1', 'shared'] : ['a1', 'a2', 'a3', 'shared']) : version === 'old' ? ['b1'] : ['b1', 'b2', 'shared'],
  });
  const snapshot = (va: 'old' | 'new', vb: 'old' | 'new'): Writes => ({
    rows: windows.flatMap((w) => [a(w, va), b(w, vb)]),
    users: windows.flatMap((w) => [usersOf(w, 'a', va), usersOf(w, 'b', vb)]),
  });
  const snapshots = [snapshot('new', 'old'), snapshot('old', 'new'), snapshot('new', 'new')];
  const orders = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
  ];
  const complete = expectedMinuteAgg(snapshots[2].rows, snapshots[2].users);
  const incomplete = [expectedMinuteAgg(snapshots[0].rows, snapshots[0].users), expectedMinuteAgg(snapshots[1].rows, snapshots[1].users)];
  return { windows, snapshots, orders, complete, incomplete };
}

/** Rollup rows of these windows per total_events (each result of rollupOrderScenario has its own). */
export function rollupTotalsQuery(windowStartsMs: readonly number[]): string {
  return `SELECT total_events, count() AS c FROM ${TABLES.minuteRollup} WHERE window_start IN (${windowStartList(windowStartsMs)}) GROUP BY total_events ORDER BY total_events`;
}

/** What rollupTotalsQuery returns once every result of `s` is inserted and none merged: three distinct results, once per window each. */
export function rollupTotals(s: ReturnType<typeof rollupOrderScenario>): { totalEvents: number; rows: number }[] {
  return [...s.incomplete, s.complete]
    .map((r) => ({ totalEvents: r[0].totalEvents, rows: s.windows.length }))
    .sort((a, b) => a.totalEvents - b.totalEvents);
}

/**
 * A window revised after its rollup was written: two final partitions, then
 * a late event folded into partition 0 (a higher row_version, one more
 * late event and a user the window did not have).
 */
export function lateRevisionScenario(topic: string, w: number) {
  const first: Writes = {
    users: [
      { windowStartMs: w, userIds: ['u1', 'u2'] },
      { windowStartMs: w, userIds: ['u2', 'u3'] },
    ],
    rows: [
      stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 0, lastOffset: 100, totalEvents: 4, metricSum: 2, isFinal: true, updatedAtMs: w + 65_000 }),
      stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 1, lastOffset: 200, totalEvents: 3, metricSum: 1.5, isFinal: true, updatedAtMs: w + 66_000 }),
    ],
  };
  const late: Writes = {
    users: [{ windowStartMs: w, userIds: ['u9'] }],
    rows: [stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: 0, lastOffset: 130, totalEvents: 5, metricSum: 2.5, lateEvents: 1, isFinal: true, updatedAtMs: w + 600_000 })],
  };
  const before = expectedMinuteAgg(first.rows, first.users);
  const after = expectedMinuteAgg([...first.rows, ...late.rows], [...first.users, ...late.users]);
  return { first, late, before, after };
}

/**
 * Many other windows around the ones a refresh asks for: every minute of
 * one day, 4 partitions and 200 users per window.
 */
export function busyDayScenario(topic: string, day: number) {
  const windows = Array.from({ length: 1440 }, (_, i) => day + i * MINUTE);
  const rows = windows.flatMap((w, i) => [0, 1, 2, 3].map((p) => stateRow({ sourceTopic: topic, windowStartMs: w, sourcePartition: p, lastOffset: i, totalEvents: 10 + p, metricSum: p })));
  const users = windows.map((w, i): WindowUsersRow => ({ windowStartMs: w, userIds: Array.from({ length: 200 }, (_, u) => `user-${(i * 7 + u) % 5000}`) }));
  const asked = [windows[700], windows[701], windows[1100]];
  const pick = <T extends { windowStartMs: number }>(xs: readonly T[]) => xs.filter((x) => asked.includes(x.windowStartMs));
  return { rows, users, asked, totalRows: rows.length + users.length * 200, expected: expectedMinuteAgg(pick(rows), pick(users)) };
}

/**
 * Dead letters of one topic: invalid reasons, late_event and
 * future_event_time, one recorded twice, one re-recorded later with another
 * reason (the latest record counts), one of another partition at the same offset.
 */
export function deadLetterScenario(topic: string, w0: number) {
  const dl = (p: Partial<DeadLetterRow>): DeadLetterRow => ({
    sourceTopic: topic,
    sourcePartition: 0,
    sourceOffset: 0,
    windowStartMs: w0,
    reason: 'invalid_json',
    recordedAtMs: w0 + 1_000,
    ...p,
  });
  const batch = [
    dl({ sourceOffset: 1 }),
    dl({ sourceOffset: 2, reason: 'missing_field', deviceId: 'dev-1' }),
    dl({ sourceOffset: 3, reason: 'late_event', deviceId: 'dev-2' }),
    dl({ sourceOffset: 3, reason: 'late_event', deviceId: 'dev-2' }), // recorded twice
    dl({ sourceOffset: 4, reason: 'future_event_time', deviceId: 'dev-3' }),
    dl({ sourceOffset: 5, reason: 'future_event_time', deviceId: 'dev-3' }),
    dl({ sourcePartition: 1, sourceOffset: 1, reason: 'late_event' }), // same offset, other partition
    dl({ sourceOffset: 6, reason: 'future_event_time' }),
    dl({ sourceOffset: 6, reason: 'out_of_range', recordedAtMs: w0 + 3_000 }), // re-recorded later: counts as invalid
    dl({ sourceOffset: 7, windowStartMs: w0 + MINUTE + 59_999, reason: 'too_large' }), // floored to the second
    dl({ sourceOffset: 8, windowStartMs: w0 + MINUTE + 59_999, reason: 'future_event_time' }),
  ];
  const replayed = batch.slice(0, 5);
  const expected: DeadLetterCountRow[] = [
    { windowStartMs: w0, invalidEvents: 3, lateEvents: 2, futureEvents: 2 },
    { windowStartMs: w0 + MINUTE + 59_000, invalidEvents: 1, lateEvents: 0, futureEvents: 1 },
  ];
  return { batches: [batch, replayed], expected };
}

/**
 * Dead letters as the aggregator writes them: the rows, then the refresh of
 * their minutes (window starts are whole seconds once stored, and the
 * refresh takes them as stored).
 */
export async function writeDeadLetterFlush(writer: WindowRowWriter, rows: readonly DeadLetterRow[]): Promise<void> {
  await writer.writeDeadLetters(rows);
  await writer.refreshDeadLetterRollup(windowsOf(rows).map((ms) => Math.floor(ms / 1000) * 1000));
}

/**
 * Replays across refreshes: three flushes over two minutes, each refreshed.
 * The second re-records every message of the first (a restart from an older
 * offset: same reasons, later recorded_at) and adds new ones; the third
 * re-records part of both again, one of them with another reason (it counts
 * by its newest record), and adds one more. `expected[i]` is what the
 * counts are after flush i.
 */
export function deadLetterReplayScenario(topic: string, w0: number) {
  const w1 = w0 + MINUTE;
  const dl = (sourcePartition: number, sourceOffset: number, windowStartMs: number, reason: string, recordedAtMs: number): DeadLetterRow => ({
    sourceTopic: topic,
    sourcePartition,
    sourceOffset,
    windowStartMs,
    reason,
    recordedAtMs,
  });
  const first = [
    dl(0, 10, w0, 'invalid_json', w0 + 61_000),
    dl(0, 11, w0, 'late_event', w0 + 61_000),
    dl(1, 10, w0, 'future_event_time', w0 + 61_000),
    dl(1, 12, w1, 'missing_field', w1 + 61_000),
  ];
  const second = [
    ...first.map((r) => ({ ...r, recordedAtMs: r.recordedAtMs + 120_000 })),
    dl(0, 13, w0, 'late_event', w0 + 190_000),
    dl(2, 20, w1, 'late_event', w1 + 130_000),
  ];
  const third = [
    ...second.slice(0, 3).map((r) => ({ ...r, recordedAtMs: r.recordedAtMs + 60_000 })),
    { ...second[1], reason: 'out_of_range', recordedAtMs: second[1].recordedAtMs + 90_000 }, // judged otherwise by a newer release
    second[5], // the same record again (a retried insert)
    dl(2, 21, w1, 'future_event_time', w1 + 250_000),
  ];
  const flushes = [first, second, third];
  const expected = flushes.map((_, i) => expectedDeadLetterCounts(flushes.slice(0, i + 1).flat()));
  return { windows: [w0, w1], flushes, expected };
}

/**
 * The rollup rows a dead-letter refresh would insert now (its own SELECT,
 * stamped `computedAtMs`), as Values text to insert later: a refresh that
 * read older dead letters and reaches the table after a newer one.
 */
export async function deadLetterRollupSnapshot(client: ClickHouseSinkClient, windowStartsMs: readonly number[], computedAtMs: number): Promise<string> {
  const select = minuteDeadLetterRollupSelect(windowStartsMs, computedAtMs);
  const rows = await client.queryRows<Record<string, unknown>>(`SELECT toUInt32(window_start) AS ws, * FROM (${select}) ORDER BY ws`, { settings: VIEW_READ_SETTINGS });
  return rows
    .map((r) => `(${[`toDateTime(${Number(r['ws'])})`, ...MINUTE_DEAD_LETTER_ROLLUP_COLUMNS.slice(1).map((c) => String(Number(r[c])))].join(', ')})`)
    .join(', ');
}

/** Rollup rows per minute of these windows: (dead_letter_events, computed_at_ms) in order. */
export function deadLetterRollupRowsQuery(windowStartsMs: readonly number[]): string {
  return `SELECT toUInt32(window_start) AS ws, dead_letter_events AS n, computed_at_ms AS at FROM ${TABLES.minuteDeadLetterRollup}
WHERE window_start IN (${windowStartList(windowStartsMs)}) ORDER BY ws, n, at`;
}

/**
 * Per minute of `windowStartsMs`, from the rows of deadLetterRollupRowsQuery:
 * the message count of its most recently stamped row, and the greatest count.
 */
export function newestStampedCounts(windowStartsMs: readonly number[], rows: readonly Record<string, unknown>[]): { newestStamped: number; most: number }[] {
  const stored = rows.map((r) => ({ ws: Number(r['ws']), n: Number(r['n']), at: Number(r['at']) }));
  return windowStartsMs.map((w) => {
    const ofMinute = stored.filter((r) => r.ws === w / 1000);
    return { newestStamped: ofMinute.reduce((a, b) => (b.at > a.at ? b : a)).n, most: Math.max(...ofMinute.map((r) => r.n)) };
  });
}

/** Messages counted per minute in `counts`. */
export function deadLetterTotals(counts: readonly DeadLetterCountRow[]): number[] {
  return counts.map((c) => c.invalidEvents + c.lateEvents + c.futureEvents);
}

/**
 * Many other minutes around the ones a dead-letter refresh asks for: every
 * minute of `day` and of the days before and after it, 20 dead letters each
 * (2 of them re-recording a message of the minute). The asked minutes are
 * in `day`; `dayRows` of the rows are in it.
 */
export function busyDeadLetterDayScenario(topic: string, day: number) {
  const windows = Array.from({ length: 3 * 1440 }, (_, i) => day - 1440 * MINUTE + i * MINUTE);
  const rows = windows.flatMap((w, i) =>
    Array.from({ length: 20 }, (_, k): DeadLetterRow => ({
      sourceTopic: topic,
      sourcePartition: k % 4,
      sourceOffset: i * 20 + (k % 18), // 2 of the 20 re-record a message of the minute
      windowStartMs: w,
      reason: k % 3 === 0 ? 'late_event' : 'invalid_json',
      recordedAtMs: w + 61_000 + (k >= 18 ? 5_000 : 0),
    })),
  );
  const asked = [day + 700 * MINUTE, day + 701 * MINUTE, day + 1100 * MINUTE];
  const pick = (ms: number) => rows.filter((r) => r.windowStartMs === ms);
  return { rows, asked, totalRows: rows.length, dayRows: rows.length / 3, askedRows: asked.flatMap(pick).length, expected: expectedDeadLetterCounts(asked.flatMap(pick)) };
}

/**
 * Rows of the pre-006 table iot_window_partition_state (JSONEachRow records,
 * `version` = last offset, users cumulative as the aggregator wrote them), the
 * state 006 must copy them to, and their users as users rows (what 007 copies
 * into iot_window_users).
 */
export function legacyScenario(topic: string, w0: number) {
  const rec = (p: { partition: number; window: number; version: number; isFinal: 0 | 1; total: number; topic?: string }) => ({
    window_start: w0 / 1000 + p.window * 60,
    source_topic: p.topic ?? topic,
    source_partition: p.partition,
    total_events: p.total,
    metric_sum: p.total * 0.25, // exact in binary: the old table was written as JSON text
    users: Array.from({ length: p.total }, (_, i) => `${p.topic ?? topic}/u${i}`), // shared by the topic's partitions
    anomaly_events: 1,
    version: p.version,
    is_final: p.isFinal,
    updated_at: w0 / 1000 + 65 + p.version,
    updated_at_ms: w0 + 65_000 + p.version * 1000 + 7,
  });
  const rows = [
    rec({ partition: 0, window: 0, version: 10, isFinal: 1, total: 6 }),
    rec({ partition: 0, window: 0, version: 10, isFinal: 0, total: 6 }), // its partial twin, inserted after it
    rec({ partition: 0, window: 0, version: 4, isFinal: 0, total: 2 }),
    rec({ partition: 1, window: 0, version: 7, isFinal: 0, total: 3 }),
    rec({ partition: 0, window: 1, version: 12, isFinal: 1, total: 1 }),
    rec({ partition: 0, window: 0, version: 99, isFinal: 1, total: 50, topic: `${topic}.other` }),
  ];
  const asState = (r: ReturnType<typeof rec>): WindowPartitionRow => ({
    windowStartMs: r.window_start * 1000,
    sourceTopic: r.source_topic,
    sourcePartition: r.source_partition,
    totalEvents: r.total_events,
    metricSum: r.metric_sum,
    anomalyEvents: r.anomaly_events,
    lateEvents: 0,
    lastOffset: r.version,
    isFinal: r.is_final === 1,
    rowVersion: r.version * 2 + r.is_final,
    updatedAtMs: r.updated_at_ms,
  });
  const wanted: WantedStates = [
    { partition: 0, windowStartsMs: [w0, w0 + MINUTE] },
    { partition: 1, windowStartsMs: [w0] },
  ];
  const copied = rows.map(asState);
  const newest = new Map<string, WindowPartitionRow>();
  for (const c of copied) {
    const key = `${c.sourceTopic}/${c.windowStartMs}/${c.sourcePartition}`;
    if ((newest.get(key)?.rowVersion ?? -1) < c.rowVersion) newest.set(key, c);
  }
  /** Each key's newest copied row, ordered by (topic, window, partition). */
  const newestPerKey = [...newest.values()].sort((a, b) => a.sourceTopic.localeCompare(b.sourceTopic) || a.windowStartMs - b.windowStartMs || a.sourcePartition - b.sourcePartition);
  const users: WindowUsersRow[] = rows.map((r) => ({ windowStartMs: r.window_start * 1000, userIds: r.users }));
  return { rows, copied, users, newestPerKey, wanted, expected: expectedWindowStates(copied, topic, wanted) };
}

/** The init files' statements for another database (the files name stream_analytics literally). */
export function forDatabase(statement: string, db: string): string {
  return statement.replace(/\bstream_analytics\./g, `${db}.`).replace(/\bstream_analytics\b/g, db);
}
