/**
 * Test kit (not part of the library build): random histories of cumulative
 * per-(window, partition) snapshots, inserted in random order with duplicates,
 * older versions and final re-writes. Used by the chdb and the 18.16 tests.
 */
import fc from 'fast-check';
import type { MinuteAggRow } from './readers';
import type { WindowPartitionRow } from './rows';

const MINUTE = 60_000;

export function countsOnly(r: MinuteAggRow): Omit<MinuteAggRow, 'isFinal' | 'updatedAtMs'> {
  const { isFinal: _f, updatedAtMs: _u, ...rest } = r;
  return rest;
}

// ---- random histories: cumulative snapshots per (window, partition), inserted
// in random order with duplicates, older versions and final re-writes.

export interface Step {
  events: number;
  metricHalves: number;
  users: number[];
  anomalies: number;
  versionGap: number;
}
export interface KeyHistory {
  window: number;
  partition: number;
  steps: Step[];
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
  versionGap: fc.integer({ min: 1, max: 50 }),
});

export const historyArb: fc.Arbitrary<History> = fc.record({
  keys: fc.uniqueArray(
    fc.record({
      window: fc.integer({ min: 0, max: 3 }),
      partition: fc.integer({ min: 0, max: 4 }),
      steps: fc.array(stepArb, { minLength: 1, maxLength: 4 }),
      finalRewrite: fc.boolean(),
    }),
    { selector: (k) => `${k.window}/${k.partition}`, minLength: 1, maxLength: 8 },
  ),
  picks: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 64, maxLength: 64 }),
  order: fc.array(fc.nat(), { minLength: 128, maxLength: 128 }),
  batchCuts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 64, maxLength: 64 }),
});

export function materialise(h: History, baseMs: number): { inserted: WindowPartitionRow[]; batches: WindowPartitionRow[][] } {
  const snapshots: WindowPartitionRow[] = [];
  for (const k of h.keys) {
    const windowStartMs = baseMs + k.window * MINUTE;
    let totalEvents = 0;
    let metricHalves = 0;
    let anomalyEvents = 0;
    let version = 100 * k.partition;
    const users = new Set<string>();
    k.steps.forEach((s, i) => {
      totalEvents += s.events;
      metricHalves += s.metricHalves;
      anomalyEvents += Math.min(s.anomalies, s.events);
      version += s.versionGap;
      s.users.forEach((u) => users.add(`user-${u}`));
      snapshots.push({
        windowStartMs,
        sourcePartition: k.partition,
        totalEvents,
        metricSum: metricHalves / 2,
        users: [...users],
        anomalyEvents,
        version,
        isFinal: false,
        updatedAtMs: windowStartMs + 5_000 * (i + 1) + 123,
      });
    });
    if (k.finalRewrite) {
      const last = snapshots[snapshots.length - 1];
      snapshots.push({ ...last, isFinal: true, updatedAtMs: last.updatedAtMs + 30_000 });
    }
  }
  // each snapshot inserted 0-2 times, the newest of every key at least once
  const inserted: WindowPartitionRow[] = [];
  snapshots.forEach((s, i) => {
    const isNewest = i === snapshots.length - 1 || snapshots[i + 1].windowStartMs !== s.windowStartMs || snapshots[i + 1].sourcePartition !== s.sourcePartition;
    const copies = Math.max(isNewest ? 1 : 0, h.picks[i % h.picks.length]);
    for (let c = 0; c < copies; c++) inserted.push(s);
  });
  // shuffle (Fisher-Yates with the generated numbers)
  for (let i = inserted.length - 1; i > 0; i--) {
    const j = h.order[i % h.order.length] % (i + 1);
    [inserted[i], inserted[j]] = [inserted[j], inserted[i]];
  }
  const batches: WindowPartitionRow[][] = [];
  for (let i = 0, c = 0; i < inserted.length; c++) {
    const n = h.batchCuts[c % h.batchCuts.length];
    batches.push(inserted.slice(i, i + n));
    i += n;
  }
  return { inserted, batches };
}
