/**
 * Property tests: the engine against a brute-force oracle, and the crash/restore
 * determinism property that exactly-once rests on. Deterministic: fixed seeds
 * (set WINDOWING_FC_SEED to explore others).
 */
import fc from 'fast-check';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import type { WindowingConfig } from './config';
import { WindowingEngine } from './engine';
import type { LateEvent, PartitionCommit, WindowRecord, WindowRow } from './types';

const SEED = process.env['WINDOWING_FC_SEED'] ? Number(process.env['WINDOWING_FC_SEED']) : 20261124;

// ---- actions -----------------------------------------------------------------

type Action =
  | { type: 'rec'; p: number; rec: WindowRecord }
  | { type: 'invalid'; p: number; offset: number }
  /** `ignored`: no record of p precedes it, so the engine must ignore it (no position). */
  | { type: 'idle'; p: number; wm: number; ignored: boolean }
  | { type: 'flush' }
  /** A flush whose rows are written but whose commit is lost (crash before commit). */
  | { type: 'flushLost' };

interface RawStep {
  kind: 'rec' | 'late' | 'jump' | 'invalid' | 'idle' | 'flush';
  p: number;
  a: number;
  b: number;
  user: number;
  metric: number;
  score: number;
  gap: number;
}

const SCORES = [0, 0.5, 0.8999999999999999, 0.9, 0.95, 1];

function rawStepArb(nParts: number): fc.Arbitrary<RawStep> {
  return fc.record({
    kind: fc.constantFrom<RawStep['kind']>(...(['rec', 'rec', 'rec', 'rec', 'rec', 'rec', 'rec', 'rec', 'late', 'jump', 'invalid', 'idle', 'idle', 'flush', 'flush'] as const)),
    p: fc.nat(nParts - 1),
    a: fc.nat(1000),
    b: fc.nat(1000),
    user: fc.nat(6),
    metric: fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -1e3, max: 1e3, noNaN: true })),
    score: fc.nat(SCORES.length - 1),
    gap: fc.constantFrom(0, 0, 0, 0, 1, 3),
  });
}

/** Turns raw steps into a concrete stream; event times stay within the out-of-orderness bound except 'late'. */
function materialize(cfg: WindowingConfig, nParts: number, starts: number[], steps: RawStep[]): Action[] {
  const size = cfg.windowSizeMs;
  const ooo = cfg.maxOutOfOrdernessMs;
  const clock = starts.slice(0, nParts);
  const next = new Array<number>(nParts).fill(0).map((_, p) => p * 2); // first offsets differ per partition
  const seen = new Array<boolean>(nParts).fill(false);
  const out: Action[] = [];
  for (const s of steps) {
    const p = s.p;
    const offset = () => {
      const o = next[p] + s.gap;
      next[p] = o + 1;
      seen[p] = true;
      return o;
    };
    switch (s.kind) {
      case 'flush':
        out.push({ type: 'flush' });
        break;
      case 'invalid':
        out.push({ type: 'invalid', p, offset: offset() });
        break;
      case 'idle':
        out.push({ type: 'idle', p, wm: clock[p] + (s.a % (3 * size)) - size - ooo, ignored: !seen[p] });
        break;
      default: {
        let t: number;
        if (s.kind === 'rec') {
          clock[p] += s.a % (size + 1);
          t = clock[p] - (s.b % (ooo + 1));
        } else if (s.kind === 'jump') {
          clock[p] += size * (2 + (s.a % 5));
          t = clock[p];
        } else {
          t = clock[p] - ooo - cfg.allowedLatenessMs - size - (s.b % (3 * size));
        }
        out.push({ type: 'rec', p, rec: { offset: offset(), eventTimeMs: t, userId: `user-${s.user}`, metricValue: s.metric, anomalyScore: SCORES[s.score] } });
      }
    }
  }
  return out;
}

const cfgArb: fc.Arbitrary<WindowingConfig> = fc.record({
  windowSizeMs: fc.integer({ min: 3, max: 30 }),
  maxOutOfOrdernessMs: fc.integer({ min: 0, max: 25 }),
  allowedLatenessMs: fc.constantFrom(0, 0, 1, 5, 17, 40),
  anomalyThreshold: fc.constant(0.9),
});

interface Scenario {
  cfg: WindowingConfig;
  actions: Action[];
}

function scenarioArb(maxSteps: number): fc.Arbitrary<Scenario> {
  return fc
    .record({ cfg: cfgArb, nParts: fc.integer({ min: 1, max: 4 }) })
    .chain(({ cfg, nParts }) =>
      fc.record({
        cfg: fc.constant(cfg),
        nParts: fc.constant(nParts),
        starts: fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 4, maxLength: 4 }),
        steps: fc.array(rawStepArb(nParts), { minLength: 0, maxLength: maxSteps, size: 'max' }),
      }),
    )
    .map(({ cfg, nParts, starts, steps }) => ({ cfg, actions: materialize(cfg, nParts, starts, steps) }));
}

// ---- brute-force oracle ------------------------------------------------------

interface OracleRow {
  totalEvents: number;
  metricSum: number;
  users: string[];
  anomalyEvents: number;
  version: number;
  final: boolean;
}
interface OracleResult {
  rows: Map<string, OracleRow>;
  /** "p:offset" -> [windowStart, watermark at that event] */
  late: Map<string, [number, number]>;
}

/**
 * Written independently of the engine and as plainly as possible: for every record,
 * recompute the watermark from the whole prefix, decide late or not, and at the
 * end group the accepted records by window with arrays.
 */
function oracle(cfg: WindowingConfig, actions: Action[]): OracleResult {
  const size = cfg.windowSizeMs;
  const finalAfter = size + cfg.allowedLatenessMs;
  const history = new Map<number, number[]>(); // event times of p so far
  const floors = new Map<number, number[]>(); // idle watermarks applied to p so far
  const accepted: Array<{ p: number; w: number; r: WindowRecord }> = [];
  const late = new Map<string, [number, number]>();
  const wmOf = (p: number) => {
    const ts = history.get(p) ?? [];
    const fs = floors.get(p) ?? [];
    return Math.max(ts.length ? Math.max(...ts) - cfg.maxOutOfOrdernessMs : -Infinity, fs.length ? Math.max(...fs) : -Infinity);
  };
  const windowOf = (t: number) => {
    // independent formulation: integer division via BigInt (event times are integers here)
    const q = BigInt(t) / BigInt(size);
    const adj = BigInt(t) < q * BigInt(size) ? q - 1n : q;
    return Number(adj * BigInt(size));
  };
  for (const a of actions) {
    if (a.type === 'rec') {
      const wm = wmOf(a.p);
      const w = windowOf(a.rec.eventTimeMs);
      if (wm >= w + finalAfter) late.set(`${a.p}:${a.rec.offset}`, [w, wm]);
      else accepted.push({ p: a.p, w, r: a.rec });
      if (!history.has(a.p)) history.set(a.p, []);
      history.get(a.p)?.push(a.rec.eventTimeMs);
    } else if (a.type === 'idle' && !a.ignored) {
      if (!floors.has(a.p)) floors.set(a.p, []);
      floors.get(a.p)?.push(a.wm);
    }
  }
  const groups = new Map<string, Array<{ p: number; w: number; r: WindowRecord }>>();
  for (const x of accepted) {
    const k = `${x.p}:${x.w}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)?.push(x);
  }
  const rows = new Map<string, OracleRow>();
  for (const [k, mine] of groups) {
    let metricSum = 0;
    for (const x of mine) metricSum += x.r.metricValue;
    rows.set(k, {
      totalEvents: mine.length,
      metricSum,
      users: [...new Set(mine.map((x) => x.r.userId))].sort(),
      anomalyEvents: mine.filter((x) => x.r.anomalyScore >= cfg.anomalyThreshold).length,
      version: Math.max(...mine.map((x) => x.r.offset)),
      final: wmOf(mine[0].p) >= mine[0].w + finalAfter,
    });
  }
  return { rows, late };
}

// ---- running the engine ------------------------------------------------------

interface RunResult {
  rows: WindowRow[];
  late: LateEvent[];
}

let maxMeta = 0;

/** Straight through, checking invariants at every flush. */
function runStraight(cfg: WindowingConfig, actions: Action[]): RunResult {
  const eng = new WindowingEngine(cfg);
  const rows: WindowRow[] = [];
  const late: LateEvent[] = [];
  const lastCommit = new Map<number, number>();
  const flush = () => {
    const ch = eng.collectChanges();
    rows.push(...ch.rows);
    for (const c of ch.commits) {
      expect(c.offset).toBeGreaterThanOrEqual(lastCommit.get(c.partition) ?? 0);
      lastCommit.set(c.partition, c.offset);
      expect(c.metadata.length).toBeLessThan(1024);
      const cp = decodeCheckpoint(c.metadata);
      expect(cp.commitOffset).toBe(c.offset);
      // The README's size bound: finals come from windows open around the commit offset.
      const bound = 2 * Math.ceil((cfg.windowSizeMs + cfg.maxOutOfOrdernessMs + cfg.allowedLatenessMs) / cfg.windowSizeMs) + 1;
      if (cp.finals.length > bound) expect({ finals: cp.finals.length }).toEqual({ finals: `<= ${bound}` });
      maxMeta = Math.max(maxMeta, c.metadata.length);
    }
  };
  for (const a of actions) {
    if (a.type === 'rec') {
      const out = eng.process(a.p, a.rec);
      if (out.kind === 'late') late.push(out);
      else if (out.kind !== 'folded') expect(out).toEqual({ kind: 'folded' }); // no restore here: nothing else is possible
    } else if (a.type === 'invalid') eng.skip(a.p, a.offset);
    else if (a.type === 'idle') eng.advanceIdlePartition(a.p, a.wm);
    else flush();
  }
  flush();
  expect(eng.collectChanges().rows).toEqual([]);
  return { rows, late };
}

interface Segment {
  actions: Action[];
  /** Crash after executing actions[0..end); undefined = run to the end. */
  end?: number;
  /** Which checkpoint (index into all committed so far, any run, modulo) the next segment restores. */
  pick?: number | 'latest';
  /**
   * Test-only tampering: store the partition's current maxEventTime instead of the one
   * before the commit offset, to show the argument tolerates any value in between.
   */
  inflate?: boolean;
}

/** A committed checkpoint: per-partition metadata, plus `eff`: every idle action with index < eff is inside its floors. */
interface Committed {
  eff: number;
  commits: Map<number, string>;
}

/**
 * Runs segments with crashes in between. After a crash a fresh engine restores every
 * partition from one committed checkpoint and replays the stream from each partition's
 * commit offset, as a consumer seeking to the committed offsets would. Idle advances
 * issued before the checkpoint are not re-issued (their effect must come from the
 * checkpoint's floor); later ones are re-issued at the same stream positions. Rows and
 * late outputs of every run are all kept: rows emitted after the last commit were
 * written to ClickHouse before the crash, and any of them must be harmless.
 */
function runWithCrashes(cfg: WindowingConfig, segments: Segment[]): RunResult {
  const rows: WindowRow[] = [];
  const late: LateEvent[] = [];
  const pool: Committed[] = [{ eff: 0, commits: new Map() }]; // "nothing committed yet" is a valid restart point
  let resume = pool[0];
  for (const seg of segments) {
    const eng = new WindowingEngine(cfg);
    const from = new Map<number, number>();
    for (const [p, md] of resume.commits) from.set(p, eng.restorePartition(p, md) as number);
    const lastCommit = new Map(from);
    const end = seg.end ?? seg.actions.length;
    for (let i = 0; i < end; i++) {
      const a = seg.actions[i];
      if (a.type === 'rec') {
        if (a.rec.offset < (from.get(a.p) ?? 0)) continue;
        const out = eng.process(a.p, a.rec);
        if (out.kind === 'late') late.push(out);
        else if (out.kind === 'duplicate') expect(out.kind).not.toBe('duplicate');
      } else if (a.type === 'invalid') {
        if (a.offset >= (from.get(a.p) ?? 0)) eng.skip(a.p, a.offset);
      } else if (a.type === 'idle') {
        if (!a.ignored && i >= resume.eff) eng.advanceIdlePartition(a.p, a.wm);
      } else {
        const ch = eng.collectChanges();
        rows.push(...ch.rows);
        for (const c of ch.commits) {
          expect(c.offset).toBeGreaterThanOrEqual(lastCommit.get(c.partition) ?? 0);
          lastCommit.set(c.partition, c.offset);
        }
        if (a.type === 'flush') {
          const md = (c: PartitionCommit) => {
            if (!seg.inflate) return c.metadata;
            const cp = decodeCheckpoint(c.metadata);
            const now = eng.stats().partitions.find((x) => x.partition === c.partition)?.maxEventTime ?? -Infinity;
            return encodeCheckpoint({ ...cp, maxEventTimeBefore: now });
          };
          pool.push({ eff: Math.max(i, resume.eff), commits: new Map(ch.commits.map((c) => [c.partition, md(c)])) });
        }
      }
    }
    if (seg.end === undefined) {
      rows.push(...eng.collectChanges().rows);
    } else {
      resume = seg.pick === 'latest' ? pool[pool.length - 1] : pool[(seg.pick ?? 0) % pool.length];
    }
  }
  return { rows, late };
}

// ---- comparison --------------------------------------------------------------

const key = (r: { partition: number; windowStart: number }) => `${r.partition}:${r.windowStart}`;
const aggregates = (r: WindowRow) => ({ ...r, final: undefined, rowVersion: undefined });

function closeTo(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Rows with equal (key, version) must carry identical aggregates; equal rowVersion, identical rows. */
function expectSameVersionSameContent(rows: WindowRow[]): void {
  const byVersion = new Map<string, WindowRow>();
  const byRowVersion = new Map<string, WindowRow>();
  for (const r of rows) {
    const kv = `${key(r)}@${r.version}`;
    const prev = byVersion.get(kv);
    if (!prev) byVersion.set(kv, r);
    else if (JSON.stringify(aggregates(r)) !== JSON.stringify(aggregates(prev))) expect(aggregates(r)).toEqual(aggregates(prev));
    const krv = `${key(r)}#${r.rowVersion}`;
    const prevR = byRowVersion.get(krv);
    if (!prevR) byRowVersion.set(krv, r);
    else if (JSON.stringify(r) !== JSON.stringify(prevR) || !Object.is(r.metricSum, prevR.metricSum)) expect(r).toEqual(prevR);
  }
}

/** What ClickHouse ends up with: per key, the row with the highest rowVersion. */
function winners(rows: WindowRow[]): Map<string, WindowRow> {
  const best = new Map<string, WindowRow>();
  for (const r of rows) {
    const b = best.get(key(r));
    if (!b || r.rowVersion > b.rowVersion) best.set(key(r), r);
  }
  return best;
}

interface MatchOpts {
  checkFinal: boolean;
  /** exact: the late event's watermark equals the oracle's; atLeast: replay may judge with a higher one. */
  lateWatermark: 'exact' | 'atLeast';
}

/**
 * Builds both sides as plain, sorted arrays and compares them with one expect, so a
 * mismatch shows a readable diff and matching cases stay cheap.
 */
function expectMatchesOracle(res: RunResult, exp: OracleResult, opts: MatchOpts): void {
  expectSameVersionSameContent(res.rows);
  const got = [...winners(res.rows)].sort(([a], [b]) => (a < b ? -1 : 1));
  const want = [...exp.rows].sort(([a], [b]) => (a < b ? -1 : 1));
  const show = (k: string, r: { totalEvents: number; users: string[]; anomalyEvents: number; version: number; final: boolean }, sum: number, avg: number) => ({
    k,
    n: r.totalEvents,
    users: r.users.join(','),
    an: r.anomalyEvents,
    v: r.version,
    final: opts.checkFinal ? r.final : '-',
    sum,
    avg,
  });
  const gotView = got.map(([k, r]) => {
    expect(r.uniqueUsers).toBe(r.users.length);
    expect(r.rowVersion).toBe(r.version * 2 + (r.final ? 1 : 0));
    const o = exp.rows.get(k);
    // Tolerate float noise by snapping to the oracle's value when within 1e-9 relative.
    const sum = o && closeTo(r.metricSum, o.metricSum) ? o.metricSum : r.metricSum;
    const avg = o && closeTo(r.avgMetric, o.metricSum / o.totalEvents) ? o.metricSum / o.totalEvents : r.avgMetric;
    return show(k, r, sum, avg);
  });
  const wantView = want.map(([k, o]) => show(k, o, o.metricSum, o.metricSum / o.totalEvents));
  expect(gotView).toEqual(wantView);

  const gotLate = new Map<string, LateEvent>();
  for (const l of res.late) {
    const k = `${l.partition}:${l.offset}`;
    const prev = gotLate.get(k);
    // A replay may report the same late record again; with the same window and a watermark at least as high.
    if (prev && prev.windowStart !== l.windowStart) expect(l).toMatchObject({ windowStart: prev.windowStart });
    if (!prev || l.watermark > prev.watermark) gotLate.set(k, l);
  }
  const lateView = [...gotLate].map(([k, l]) => {
    const o = exp.late.get(k);
    const wmOk = o !== undefined && (opts.lateWatermark === 'exact' ? l.watermark === o[1] : l.watermark >= o[1]);
    return [k, l.windowStart, wmOk];
  });
  const wantLate = [...exp.late].map(([k, [w]]) => [k, w, true]);
  const byKey = (x: unknown[], y: unknown[]) => ((x[0] as string) < (y[0] as string) ? -1 : 1);
  expect(lateView.sort(byKey)).toEqual(wantLate.sort(byKey));
}

// ---- properties --------------------------------------------------------------

describe('WindowingEngine vs brute-force oracle', () => {
  it('matches the oracle on random multi-partition streams (late, jumps, idle, invalid, flushes)', () => {
    fc.assert(
      fc.property(scenarioArb(160), ({ cfg, actions }) => {
        const res = runStraight(cfg, actions);
        expectMatchesOracle(res, oracle(cfg, actions), { checkFinal: true, lateWatermark: 'exact' });
        // Emission order already respects versions: the last row per key is the winner.
        const last = new Map<string, WindowRow>();
        for (const r of res.rows) last.set(key(r), r);
        expect(last).toEqual(winners(res.rows));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('crash / restore determinism', () => {
  const crashesArb = fc.array(fc.record({ at: fc.nat(10_000), pick: fc.nat(10_000) }), { minLength: 1, maxLength: 4 });

  it('restoring from any committed checkpoint and replaying gives the straight-through result', () => {
    fc.assert(
      fc.property(scenarioArb(140), crashesArb, ({ cfg, actions }, crashes) => {
        const ends = crashes.map((c) => ({ end: c.at % (actions.length + 1), pick: c.pick })).sort((a, b) => a.end - b.end);
        const segments: Segment[] = [...ends.map((c) => ({ actions, end: c.end, pick: c.pick })), { actions }];
        const crashed = runWithCrashes(cfg, segments);
        const straight = runStraight(cfg, actions);
        expectMatchesOracle(crashed, oracle(cfg, actions), { checkFinal: true, lateWatermark: 'atLeast' });
        // Across runs, too: one version, one content.
        expectSameVersionSameContent([...straight.rows, ...crashed.rows]);
        expect(winners(crashed.rows)).toEqual(winners(straight.rows));
      }),
      { seed: SEED + 1, numRuns: 300 },
    );
  });

  it('always restoring the newest committed checkpoint (the real-life case), many crashes', () => {
    fc.assert(
      fc.property(scenarioArb(140), fc.array(fc.nat(10_000), { minLength: 1, maxLength: 8 }), ({ cfg, actions }, ats) => {
        const ends = ats.map((a) => a % (actions.length + 1)).sort((a, b) => a - b);
        const segments: Segment[] = [...ends.map((end) => ({ actions, end, pick: 'latest' as const })), { actions }];
        expectMatchesOracle(runWithCrashes(cfg, segments), oracle(cfg, actions), { checkFinal: true, lateWatermark: 'atLeast' });
      }),
      { seed: SEED + 2, numRuns: 200 },
    );
  });

  it('replay tolerates a checkpoint whose max event time is anywhere up to the value at checkpoint time', () => {
    // Not what the engine writes (it stores the exact max before the commit offset), but
    // the same argument is what makes storing the idle floor (applied later in the
    // original run, from the commit offset on in the replay) safe; see README.
    fc.assert(
      fc.property(scenarioArb(140), crashesArb, ({ cfg, actions }, crashes) => {
        const ends = crashes.map((c) => ({ end: c.at % (actions.length + 1), pick: c.pick })).sort((a, b) => a.end - b.end);
        const segments: Segment[] = [...ends.map((c) => ({ actions, end: c.end, pick: c.pick, inflate: true })), { actions }];
        expectMatchesOracle(runWithCrashes(cfg, segments), oracle(cfg, actions), { checkFinal: true, lateWatermark: 'atLeast' });
      }),
      { seed: SEED + 4, numRuns: 150 },
    );
  });

  it('an idle advance whose commit was lost only costs a final flag; counts stay exact', () => {
    fc.assert(
      fc.property(scenarioArb(120), fc.nat(10_000), fc.integer({ min: 0, max: 200 }), fc.nat(10_000), ({ cfg, actions }, at, bump, pick) => {
        // Inject "idle advance + flush" at a point of a partition that has a position,
        // crash right after that flush wrote its rows but before it committed.
        const recIdx = actions.findIndex((a) => a.type === 'rec');
        if (recIdx < 0) return;
        const first = actions[recIdx] as Extract<Action, { type: 'rec' }>;
        const i = recIdx + 1 + (at % (actions.length - recIdx));
        const wm = first.rec.eventTimeMs + bump;
        const withIdle: Action[] = [...actions.slice(0, i), { type: 'idle', p: first.p, wm, ignored: false }, { type: 'flushLost' }, ...actions.slice(i)];
        const crashed = runWithCrashes(cfg, [{ actions: withIdle, end: i + 2, pick }, { actions }]);
        expectMatchesOracle(crashed, oracle(cfg, actions), { checkFinal: false, lateWatermark: 'atLeast' });
      }),
      { seed: SEED + 3, numRuns: 200 },
    );
  });
});


describe('realistic stream (defaults: 60 s windows, 10 s out-of-orderness)', () => {
  /** Small seeded PRNG so the stream is the same on every run. */
  function mulberry32(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function stream(): Action[] {
    const rnd = mulberry32(7);
    const T0 = Date.parse('2026-11-24T09:00:00.000Z');
    const P = 24;
    const next = new Array<number>(P).fill(1000);
    const actions: Action[] = [];
    let now = T0;
    for (let i = 0; i < 24_000; i++) {
      now += Math.floor(rnd() * 25); // ~80 events/s of event time over ~5 minutes
      const device = Math.floor(rnd() * 2000);
      const p = device % P;
      if (p === 7 && now > T0 + 120_000) continue; // partition 7 falls silent after 2 minutes
      const offset = next[p]++;
      const roll = rnd();
      if (roll < 0.005) {
        actions.push({ type: 'invalid', p, offset });
        continue;
      }
      const t = roll < 0.008 ? now - 70_000 - Math.floor(rnd() * 130_000) : now - Math.floor(rnd() * 10_000);
      actions.push({
        type: 'rec',
        p,
        rec: { offset, eventTimeMs: t, userId: `user-${device % 700}`, metricValue: Math.round(rnd() * 10_000) / 100, anomalyScore: Math.round(rnd() * 100) / 100 },
      });
      if (i % 1000 === 999) {
        // Flush time: the app judges partition 7 idle and advances it to the others' pace.
        if (now > T0 + 150_000) actions.push({ type: 'idle', p: 7, wm: now - 15_000, ignored: false });
        actions.push({ type: 'flush' });
      }
    }
    return actions;
  }

  const cfg: WindowingConfig = { windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 0, anomalyThreshold: 0.9 };

  it('matches the oracle straight through and across crashes', () => {
    const actions = stream();
    const exp = oracle(cfg, actions);
    expect(exp.late.size).toBeGreaterThan(20);
    expect([...exp.rows.values()].filter((r) => r.final).length).toBeGreaterThan(24 * 3);
    expect([...exp.rows.keys()].some((k) => k.startsWith('7:') && exp.rows.get(k)?.final)).toBe(true);
    maxMeta = 0;
    expectMatchesOracle(runStraight(cfg, actions), exp, { checkFinal: true, lateWatermark: 'exact' });
    expect(maxMeta).toBeLessThan(200);
    const ends = [3_001, 11_500, 11_501, 19_000];
    const crashed = runWithCrashes(cfg, [...ends.map((end) => ({ actions, end, pick: 'latest' as const })), { actions }]);
    expectMatchesOracle(crashed, exp, { checkFinal: true, lateWatermark: 'atLeast' });
  });
});
