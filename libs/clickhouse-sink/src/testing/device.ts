/**
 * Test kit (not part of the library build): a stream of device events on
 * several partitions (some devices on more than one), folded by the real
 * windowing engine, written and refreshed as the aggregator does, and a
 * brute-force oracle of what iot_device_minute and the fleet columns of
 * iot_minute_agg must then return. Used by the chdb and the 18.16 tests.
 */
import { quantileRank, SKETCH_RELATIVE_ACCURACY, WindowingEngine, type WindowRecord } from '@stream-analytics/windowing';
import type { ClickHouseSinkClient } from '../lib/client';
import { isSilent, readDeviceHealth, silentAfterMs, TYPICAL_INTERVAL_LOOKBACK_MS, writeDeviceRecent, type SilenceRule } from '../lib/device-health';
import { readDeviceCompleteness, readDeviceMinute, readMinuteStats, type DeviceMinuteRow, type MinuteStats } from '../lib/device-readers';
import { windowPartitionRowOf } from '../lib/engine-rows';
import { rollupHours } from '../lib/device-rollup';
import { readWindowStates } from '../lib/readers';
import { DEVICE_HOURS_NEWEST } from '../lib/schema';
import type { WindowPartitionRow } from '../lib/rows';
import type { WindowRowWriter } from '../lib/writer';

export const DEVICE_STATUSES = ['ok', 'warning', 'error', 'offline'] as const;

export interface PartitionedRecord extends WindowRecord {
  readonly partition: number;
}

/** A deterministic generator (mulberry32): the same stream on every run and engine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Flushes of events over three minutes from w0 on three partitions: six
 * devices, dev-0 and dev-1 sending on two partitions, metric values of either
 * sign, temperatures below and above zero, every status; the last flush
 * holds late events into the first minute (after the watermark passed it).
 */
export function deviceScenario(w0: number, seed = 7): { flushes: PartitionedRecord[][] } {
  const rnd = random(seed);
  const offsets = [0, 0, 0];
  const partitionsOf = (d: number) => (d === 0 ? [0, 1] : d === 1 ? [1, 2] : [d % 3]);
  const event = (partition: number, device: number, t: number): PartitionedRecord => {
    const u = rnd();
    return {
      partition,
      offset: offsets[partition]++,
      eventTimeMs: t,
      recordTimestampMs: t + Math.floor(rnd() * 3000),
      deviceId: `dev-${device}`,
      userId: `user-${Math.floor(rnd() * 20)}`,
      metricValue: u < 0.1 ? -rnd() * 40 : u < 0.12 ? 0 : rnd() * 150,
      temperature: -20 + rnd() * 65,
      status: DEVICE_STATUSES[u < 0.7 ? 0 : u < 0.85 ? 1 : u < 0.95 ? 2 : 3],
      anomalyScore: rnd() < 0.1 ? 0.9 + rnd() * 0.1 : rnd() * 0.8,
    };
  };
  const flushes: PartitionedRecord[][] = [];
  for (let minute = 0; minute < 3; minute++) {
    const batch: PartitionedRecord[] = [];
    for (let i = 0; i < 120; i++) {
      const device = Math.floor(rnd() * 6);
      const parts = partitionsOf(device);
      batch.push(event(parts[i % parts.length], device, w0 + minute * 60_000 + Math.floor((i / 120) * 60_000)));
    }
    flushes.push(batch);
  }
  // Late into the first minute (every partition's watermark is past it by now), from two devices.
  flushes.push([0, 1, 2, 1, 0].map((p, i) => event(p, i % 2 === 0 ? 0 : 1, w0 + 1000 * (i + 1))));
  return { flushes };
}

/**
 * Folds the flushes with the windowing engine and hands each flush's rows to
 * `write`, then the written windows to `refresh`, as the aggregator does.
 */
export async function runDeviceScenario(
  topic: string,
  flushes: readonly (readonly PartitionedRecord[])[],
  write: (rows: WindowPartitionRow[]) => Promise<void>,
  refresh: (windowStartsMs: number[]) => Promise<void>,
): Promise<void> {
  const engine = new WindowingEngine();
  let at = 1_700_000_000_000;
  for (const batch of flushes) {
    for (const r of batch) {
      const out = engine.process(r.partition, r);
      if (out.kind !== 'folded') throw new Error(`scenario event ${r.partition}@${r.offset} was ${out.kind}, not folded`);
    }
    const changes = engine.collectChanges();
    const rows = changes.rows.map((r) => windowPartitionRowOf(r, topic, (at += 5000)));
    await write(rows);
    await refresh([...new Set(rows.map((r) => r.windowStartMs))]);
    engine.markDurable(changes.flushId);
  }
}

interface Judged {
  r: PartitionedRecord;
  window: number;
  late: boolean;
}

/** Every event with its window and whether its partition's watermark (max event time - 10 s) had passed the window's end. */
function judge(flushes: readonly (readonly PartitionedRecord[])[]): Judged[] {
  const maxTime = new Map<number, number>();
  const out: Judged[] = [];
  for (const r of flushes.flat()) {
    const window = Math.floor(r.eventTimeMs / 60_000) * 60_000;
    const wm = (maxTime.get(r.partition) ?? -Infinity) - 10_000;
    out.push({ r, window, late: wm >= window + 60_000 });
    maxTime.set(r.partition, Math.max(maxTime.get(r.partition) ?? -Infinity, r.eventTimeMs));
  }
  return out;
}

function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[quantileRank(q, sorted.length)];
}

/** The exact statistics of a group of events (quantiles exact: compare with withinSketchAccuracy). */
function statsOf(window: number, group: readonly Judged[]): MinuteStats {
  const metrics = group.map((x) => x.r.metricValue);
  const temps = group.map((x) => x.r.temperature);
  const count = (s: string) => group.filter((x) => x.r.status === s).length;
  const n = group.length;
  return {
    windowStartMs: window,
    totalEvents: n,
    avgMetric: metrics.reduce((a, b) => a + b, 0) / n,
    minMetric: Math.min(...metrics),
    maxMetric: Math.max(...metrics),
    avgTemperature: temps.reduce((a, b) => a + b, 0) / n,
    minTemperature: Math.min(...temps),
    maxTemperature: Math.max(...temps),
    statusOk: count('ok'),
    statusWarning: count('warning'),
    statusError: count('error'),
    statusOffline: count('offline'),
    anomalyEvents: group.filter((x) => x.r.anomalyScore >= 0.9).length,
    lateEvents: group.filter((x) => x.late).length,
    p50Metric: exactQuantile(metrics, 0.5),
    p95Metric: exactQuantile(metrics, 0.95),
    p99Metric: exactQuantile(metrics, 0.99),
    p95Temperature: exactQuantile(temps, 0.95),
  };
}

function groupBy<K>(xs: readonly Judged[], key: (x: Judged) => K): Map<K, Judged[]> {
  const m = new Map<K, Judged[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
}

/** What iot_device_minute must return (quantiles exact), ordered by device, then window. */
export function expectedDeviceMinutes(flushes: readonly (readonly PartitionedRecord[])[]): DeviceMinuteRow[] {
  const byKey = groupBy(judge(flushes), (x) => `${x.r.deviceId}\u0000${x.window}`);
  return [...byKey.values()]
    .map((group) => {
      const arrivals = group.map((x) => x.r.recordTimestampMs as number);
      const last = group.reduce((a, b) => ((b.r.recordTimestampMs as number) >= (a.r.recordTimestampMs as number) ? b : a));
      return {
        deviceId: group[0].r.deviceId,
        ...statsOf(group[0].window, group),
        lastEventTimeMs: Math.max(...group.map((x) => x.r.eventTimeMs)),
        firstSeenMs: Math.min(...arrivals),
        lastSeenMs: Math.max(...arrivals),
        lastStatus: last.r.status,
        lastTemperature: last.r.temperature,
        sourcePartitions: new Set(group.map((x) => x.r.partition)).size,
      };
    })
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.windowStartMs - b.windowStartMs));
}

/** What the fleet columns of iot_minute_agg must return (quantiles exact), ordered by window. */
export function expectedMinuteStats(flushes: readonly (readonly PartitionedRecord[])[]): MinuteStats[] {
  return [...groupBy(judge(flushes), (x) => x.window).entries()].sort(([a], [b]) => a - b).map(([w, group]) => statsOf(w, group));
}

const QUANTILE_FIELDS = ['p50Metric', 'p95Metric', 'p99Metric', 'p95Temperature'] as const;
const SUM_FIELDS = ['avgMetric', 'avgTemperature'] as const;

/**
 * Compares read rows with the oracle: everything exact but the averages
 * (summed in another order across partitions: 1e-9 relative) and the
 * quantiles (the sketch's 1 %). Returns the differences, empty when none.
 */
export function statsDifferences<T extends MinuteStats>(got: readonly T[], want: readonly T[]): string[] {
  const problems: string[] = [];
  if (got.length !== want.length) problems.push(`${got.length} rows, want ${want.length}`);
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const g = got[i] as unknown as Record<string, unknown>;
    const w = want[i] as unknown as Record<string, unknown>;
    for (const k of Object.keys(w)) {
      const gv = g[k];
      const wv = w[k];
      const close = (tol: number) => typeof gv === 'number' && typeof wv === 'number' && Math.abs(gv - wv) <= tol * Math.abs(wv) + 1e-12;
      const ok = (QUANTILE_FIELDS as readonly string[]).includes(k) ? close(SKETCH_RELATIVE_ACCURACY) : (SUM_FIELDS as readonly string[]).includes(k) ? close(1e-9) : gv === wv;
      if (!ok) problems.push(`row ${i} (${String(w['deviceId'] ?? '')} ${String(w['windowStartMs'])}): ${k} = ${String(gv)}, want ${String(wv)}`);
    }
  }
  return problems;
}

/**
 * The scenario through a writer and the library's readers: returns what
 * differs from the oracles (empty when nothing), and whether the state read
 * back equals, bit for bit, the newest row written of every (window,
 * partition) with its device rows.
 */
export async function deviceScenarioDifferences(
  client: ClickHouseSinkClient,
  writer: WindowRowWriter,
  topic: string,
  w0: number,
): Promise<{ devices: string[]; fleet: string[]; states: string[]; completeness: string[]; hours: string[] }> {
  const s = deviceScenario(w0);
  const written = new Map<string, WindowPartitionRow>();
  await runDeviceScenario(
    topic,
    s.flushes,
    async (rows) => {
      await writer.writeWindowRows(rows);
      for (const r of rows) {
        const prev = written.get(`${r.sourcePartition}:${r.windowStartMs}`);
        const devices = new Map([...(prev?.devices ?? []), ...(r.devices ?? [])].map((d) => [d.deviceId, d]));
        written.set(`${r.sourcePartition}:${r.windowStartMs}`, { ...r, devices: [...devices.values()].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)) });
      }
    },
    async (windows) => void (await writer.refreshMinuteRollup(windows)),
  );
  const to = w0 + 3 * 60_000;
  const devices = statsDifferences(await readDeviceMinute(client, w0, to), expectedDeviceMinutes(s.flushes));
  const fleet = statsDifferences(await readMinuteStats(client, w0, to), expectedMinuteStats(s.flushes));
  const wanted = [0, 1, 2].map((partition) => ({ partition, windowStartsMs: [w0, w0 + 60_000, w0 + 120_000] }));
  const states: string[] = [];
  for (const st of await readWindowStates(client, topic, wanted)) {
    const w = written.get(`${st.sourcePartition}:${st.windowStartMs}`);
    const want = { aggregate: w?.aggregate, devices: (w?.devices ?? []).map((d) => ({ deviceId: d.deviceId, aggregate: d.aggregate, lastOffset: d.lastOffset, rowVersion: d.rowVersion })) };
    if (JSON.stringify({ aggregate: st.aggregate, devices: st.devices }) !== JSON.stringify(want)) states.push(`state ${st.sourcePartition}:${st.windowStartMs} differs from the rows written`);
    if (!Object.is(st.aggregate.metricSum, w?.aggregate?.metricSum)) states.push(`state ${st.sourcePartition}:${st.windowStartMs}: metric_sum not bit-exact`);
  }
  if (states.length === 0 && written.size !== (await readWindowStates(client, topic, wanted)).length) states.push('not every (window, partition) written was read back');

  // Completeness of dev-0: its counted events and its dead letters by reason, a replayed record once.
  const dead = (offset: number, reason: string, recordedAtMs = w0 + 70_000) => ({ sourceTopic: topic, sourcePartition: 0, sourceOffset: 10_000 + offset, windowStartMs: w0, reason, deviceId: 'dev-0', recordedAtMs });
  await writer.writeDeadLetters([dead(1, 'late_event'), dead(2, 'late_event'), dead(2, 'late_event', w0 + 90_000), dead(3, 'future_event_time'), dead(4, 'beyond_retention'), dead(5, 'out_of_range'), { ...dead(6, 'late_event'), deviceId: 'dev-1' }]);
  const mine = expectedDeviceMinutes(s.flushes).filter((d) => d.deviceId === 'dev-0');
  const want = { countedEvents: mine.reduce((n, d) => n + d.totalEvents, 0), countedLate: mine.reduce((n, d) => n + d.lateEvents, 0), tooLate: 2, futureClock: 1, beyondRetention: 1, invalid: 1 };
  const got = await readDeviceCompleteness(client, 'dev-0', w0, to);
  const completeness = JSON.stringify(got) === JSON.stringify(want) ? [] : [`completeness of dev-0: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`];
  if (want.countedLate === 0) completeness.push('the scenario has no late events of dev-0');
  await rollupHours(client, scenarioHoursS(s.flushes), w0);
  return { devices, fleet, states, completeness, hours: await deviceHourDifferences(client, expectedDeviceMinutes(s.flushes)) };
}

/** The hour starts (epoch seconds) of a scenario's events. */
function scenarioHoursS(flushes: readonly (readonly PartitionedRecord[])[]): number[] {
  return [...new Set(flushes.flat().map((r) => Math.floor(r.eventTimeMs / 3_600_000) * 3600))];
}

/**
 * Every (hour, device) of iot_device_hour (DEVICE_HOURS_NEWEST) against the sum of the expected
 * device minutes of that hour (events, anomalies, statuses, late events,
 * first and last arrival, events per minute).
 */
async function deviceHourDifferences(client: ClickHouseSinkClient, minutes: readonly DeviceMinuteRow[]): Promise<string[]> {
  const HOUR = 3_600_000;
  const want = new Map<string, Record<string, unknown>>();
  for (const m of minutes) {
    const hour = Math.floor(m.windowStartMs / HOUR) * HOUR;
    const key = `${hour}|${m.deviceId}`;
    const w = (want.get(key) ?? { events: 0, anomalies: 0, ok: 0, warning: 0, error: 0, offline: 0, late: 0, first: Infinity, last: -Infinity, minutes: new Array(60).fill(0) }) as Record<string, number> & { minutes: number[] };
    w.events += m.totalEvents;
    w.anomalies += m.anomalyEvents;
    w.ok += m.statusOk;
    w.warning += m.statusWarning;
    w.error += m.statusError;
    w.offline += m.statusOffline;
    w.late += m.lateEvents;
    w.first = Math.min(w.first, m.firstSeenMs);
    w.last = Math.max(w.last, m.lastSeenMs);
    w.minutes[(m.windowStartMs - hour) / 60_000] += m.totalEvents;
    want.set(key, w);
  }
  const hours = [...new Set([...want.keys()].map((k) => Number(k.split('|')[0])))];
  const devices = [...new Set(minutes.map((m) => m.deviceId))].map((d) => `'${d}'`).join(', ');
  const rows = await client.queryRows<Record<string, number | string | Array<number | string>>>(
    `SELECT toUInt32(window_start) AS h, device_id, total_events, anomaly_events, status_ok, status_warning, status_error, status_offline, late_events, first_seen_ms, last_seen_ms, minute_events
FROM ${DEVICE_HOURS_NEWEST}
WHERE window_start IN (${hours.map((h) => `toDateTime(${h / 1000})`).join(', ')}) AND device_id IN (${devices})`,
    { settings: { enable_optimize_predicate_expression: 1 } },
  );
  const got = new Map(
    rows.map((r) => [
      `${Number(r['h']) * 1000}|${String(r['device_id'])}`,
      {
        events: Number(r['total_events']),
        anomalies: Number(r['anomaly_events']),
        ok: Number(r['status_ok']),
        warning: Number(r['status_warning']),
        error: Number(r['status_error']),
        offline: Number(r['status_offline']),
        late: Number(r['late_events']),
        first: Number(r['first_seen_ms']),
        last: Number(r['last_seen_ms']),
        minutes: (r['minute_events'] as Array<number | string>).map(Number),
      },
    ]),
  );
  const problems: string[] = [];
  for (const [key, w] of want) if (JSON.stringify(got.get(key)) !== JSON.stringify(w)) problems.push(`hour|device ${key}: ${JSON.stringify(got.get(key))}, want ${JSON.stringify(w)}`);
  for (const key of got.keys()) if (!want.has(key)) problems.push(`hour|device ${key} in the rollup but in no expected minute`);
  if (want.size === 0) problems.push('the scenario has no device minutes');
  return problems;
}

/** Devices of different rhythms, some stopping: [id, period ms, stops this long before the end (0: never)]. */
export const RHYTHMS: ReadonlyArray<readonly [string, number, number]> = [
  ['every-1s-on', 1000, 0],
  ['every-1s-stopped', 1000, 30 * 60_000],
  ['every-10s-on', 10_000, 0],
  ['every-10s-stopped', 10_000, 20 * 60_000],
  ['every-5min-on', 300_000, 0],
  ['every-5min-stopped', 300_000, 60 * 60_000],
];

/**
 * Two hours of traffic from the RHYTHMS devices ending at `endMs`, arriving
 * 200 ms after their event time, as one flush per 10 minutes of traffic.
 * Device ids start with `devicePrefix`: health is per device across all
 * topics, so a run must not meet the devices of an earlier run.
 */
export function rhythmScenario(endMs: number, devicePrefix = ''): { flushes: PartitionedRecord[][]; arrivals: Map<string, number[]> } {
  const startMs = endMs - 2 * 3_600_000;
  const offsets = [0, 0, 0];
  const all: PartitionedRecord[] = [];
  const arrivals = new Map<string, number[]>();
  RHYTHMS.forEach(([name, period, stoppedFor], i) => {
    const deviceId = devicePrefix + name;
    const partition = i % 3;
    const list: number[] = [];
    for (let t = startMs; t < endMs - stoppedFor; t += period) {
      all.push({ partition, offset: 0, eventTimeMs: t, recordTimestampMs: t + 200, deviceId, userId: 'u', metricValue: 1, temperature: 20 + (i % 4), status: DEVICE_STATUSES[i % 4], anomalyScore: 0 });
      list.push(t + 200);
    }
    arrivals.set(deviceId, list);
  });
  all.sort((a, b) => (a.recordTimestampMs as number) - (b.recordTimestampMs as number) || a.partition - b.partition);
  const flushes: PartitionedRecord[][] = [];
  for (const r of all) {
    const withOffset = { ...r, offset: offsets[r.partition]++ };
    const k = Math.floor(((r.recordTimestampMs as number) - startMs) / 600_000);
    (flushes[k] ??= []).push(withOffset);
  }
  return { flushes: flushes.filter((f) => f !== undefined), arrivals };
}

/**
 * The silence oracle from the arrivals alone: per device its last arrival,
 * typical interval (mean gap over the 24 h up to its last arrival) and when
 * the rule (silentAfterMs, the one definition) makes it silent. (Health learns
 * the interval from whole hours within the lookback: over scenarios shorter
 * than a day, the same arrivals.)
 */
export function expectedSilence(arrivals: ReadonlyMap<string, readonly number[]>, rule: SilenceRule): Map<string, { lastSeenMs: number; typicalIntervalMs: number | undefined; silentAfterMs: number }> {
  const out = new Map<string, { lastSeenMs: number; typicalIntervalMs: number | undefined; silentAfterMs: number }>();
  for (const [deviceId, list] of arrivals) {
    const last = Math.max(...list);
    const recent = list.filter((t) => t >= last - TYPICAL_INTERVAL_LOOKBACK_MS);
    const typical = recent.length > 1 ? (last - Math.min(...recent)) / (recent.length - 1) : undefined;
    out.set(deviceId, { lastSeenMs: last, typicalIntervalMs: typical, silentAfterMs: silentAfterMs(typical, rule) });
  }
  return out;
}

/**
 * The rhythm scenario through the writer, then device health read at the
 * instants around each device's moment of silence: at lastSeen + silentAfter
 * no device the rule spares may be silent, one millisecond later it must be.
 * Returns the disagreements with the oracle (empty when none).
 */
export async function silenceDifferences(client: ClickHouseSinkClient, writer: WindowRowWriter, topic: string, endMs: number, rule: SilenceRule): Promise<string[]> {
  const s = rhythmScenario(endMs, `${topic}/`);
  await runDeviceScenario(topic, s.flushes, (rows) => writer.writeWindowRows(rows).then(() => undefined), async () => undefined);
  // The device rollup over the scenario's hours (which hours a job finds is the job's own test).
  await rollupHours(client, scenarioHoursS(s.flushes), endMs);
  const want = expectedSilence(s.arrivals, rule);
  const probes = [...want.values()].flatMap((w) => [w.lastSeenMs + w.silentAfterMs, w.lastSeenMs + w.silentAfterMs + 1]);
  const problems: string[] = [];
  for (const nowMs of [endMs, ...probes].sort((a, b) => a - b)) {
    // The rollup job's summary as of this instant (a run at nowMs), then health at nowMs.
    await writeDeviceRecent(client, nowMs);
    const health = new Map((await readDeviceHealth(client, { rule, retentionDays: 30, nowMs })).map((h) => [h.deviceId, h]));
    for (const [deviceId, w] of want) {
      const h = health.get(deviceId);
      const silent = isSilent(nowMs - w.lastSeenMs, w.typicalIntervalMs, rule);
      // Events whose minute (by event time; arrivals are 200 ms after it) starts within the last hour and day (now in whole seconds).
      const since = (spanMs: number) => (s.arrivals.get(deviceId) ?? []).filter((t) => Math.floor((t - 200) / 60_000) * 60_000 >= Math.floor(nowMs / 1000) * 1000 - spanMs).length;
      if (h && (h.eventsLastHour !== since(3_600_000) || h.eventsLast24h !== since(86_400_000))) {
        problems.push(`${deviceId} at now=${new Date(nowMs).toISOString()}: events in the last hour ${h.eventsLastHour} (want ${since(3_600_000)}), 24 h ${h.eventsLast24h} (want ${since(86_400_000)})`);
      }
      if (!h) problems.push(`${deviceId} missing at ${nowMs}`);
      else if (h.countsAsOfMs !== Math.floor(nowMs / 1000) * 1000) problems.push(`${deviceId} at now=${new Date(nowMs).toISOString()}: counts as of ${h.countsAsOfMs}`);
      else if (h.silent !== silent || h.lastSeenMs !== w.lastSeenMs || h.typicalIntervalMs !== w.typicalIntervalMs || h.silentAfterMs !== w.silentAfterMs) {
        problems.push(`${deviceId} at now=${new Date(nowMs).toISOString()}: silent ${h.silent} (want ${silent}), last seen ${h.lastSeenMs} (want ${w.lastSeenMs}), interval ${h.typicalIntervalMs} (want ${w.typicalIntervalMs}), silent after ${h.silentAfterMs} (want ${w.silentAfterMs})`);
      }
    }
  }
  return problems;
}
