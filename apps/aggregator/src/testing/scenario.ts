/**
 * Building blocks of the aggregator's integration tests: a seeded dataset with
 * real device time on fresh topics, aggregator processes run the way an
 * operator runs them, and the comparison of ClickHouse and the DLQ against the
 * brute-force oracle.
 */
import { createClickHouseClient, readDeadLetterCounts, readDeviceMinute, readMinuteAgg, readMinuteStats, TABLES, type ClickHouseSinkClient } from '@stream-analytics/clickhouse-sink';
import { generateEvents, parseDeadLetterHeaders, type EventDecoder, type GeneratorOptions } from '@stream-analytics/event-schema';
import {
  comparableDeadLetterCounts,
  comparableWindows,
  computeOracle,
  connectTestProducer,
  createTestTopic,
  getTestEndpoints,
  oracleRange,
  readTopic,
  waitFor,
  type AggregatorTopics,
  type OracleResult,
  type OracleWindow,
} from '@stream-analytics/testing';
import { SKETCH_RELATIVE_ACCURACY } from '@stream-analytics/windowing';
import { randomInt, randomUUID } from 'node:crypto';

/** Fresh topics, a consumer group and ClickHouse for one test: what the aggregator under test (libs/testing startAggregator) runs on. */
export interface Scenario extends AggregatorTopics {
  clickhouse: ClickHouseSinkClient;
  partitions: number;
  /** Simulated start of the dataset: a whole minute far in the past, unique per scenario. */
  baseTimeMs: number;
}

/** What real device time does to a stream (see {@link scenarioRecords}). */
export interface EventTimeFaults {
  /** This device's clock runs five years ahead: all its events are future_event_time. */
  futureClockDevice?: string;
  /** This device is offline for a while and then sends its buffer, oldest first. */
  offlineDevice?: string;
  /** Offline from this far into the dataset (simulated ms)... */
  offlineFromMs?: number;
  /** ...for this long. */
  offlineForMs?: number;
  /** Share of valid events sent an hour after they happened (counted, late). */
  hourLateFraction?: number;
  /** Share of valid events sent three days after they happened (beyond the 24 h horizon: late_event). */
  daysLateFraction?: number;
}

export type ScenarioOptions = Omit<GeneratorOptions, 'startTimeMs'> & { startTimeMs?: number; eventTime?: EventTimeFaults };

/**
 * The integration tests' standard dataset: 80 simulated events/s for 12.5
 * minutes from 300 devices, with out-of-order events within the 10 s bound,
 * events 2-5 minutes late, every kind of malformed payload, and real device
 * time: one device whose clock is five years ahead, one device offline for
 * ten minutes that then sends its buffer, events an hour late (counted) and
 * three days late (dead-lettered).
 */
export const dataset = (seed: number): ScenarioOptions & { count: number } => ({
  seed,
  devices: 300,
  users: 120,
  count: 60000,
  ratePerSec: 80,
  faults: { invalidFraction: 0.01, outOfOrderFraction: 0.05, lateFraction: 0.01 },
  eventTime: {
    futureClockDevice: 'dev-000007',
    offlineDevice: 'dev-000011',
    offlineFromMs: 60_000,
    offlineForMs: 10 * 60_000,
    hourLateFraction: 0.002,
    daysLateFraction: 0.001,
  },
});

const HOUR_MS = 3_600_000;
const FIVE_YEARS_MS = Math.round(5 * 365.25 * 24 * HOUR_MS);

export interface ScenarioRecord {
  key: string;
  value: Buffer;
  /** Kafka record timestamp: when the record was sent (simulated). */
  timestampMs: number;
}

/**
 * The records of a dataset in the order they are sent, with their send times
 * (Kafka timestamps): generated events at the dataset's rate, transformed by
 * the event-time faults. Deterministic for the same options.
 */
export function scenarioRecords(options: ScenarioOptions, startTimeMs: number): ScenarioRecord[] {
  const rate = options.ratePerSec ?? 10000;
  const f = options.eventTime ?? {};
  const offlineFrom = startTimeMs + (f.offlineFromMs ?? 0);
  const offlineEnd = offlineFrom + (f.offlineForMs ?? 0);
  let seed = (options.seed ^ 0x5bd1e995) >>> 0;
  const random = () => {
    // mulberry32: the late picks are independent of the generator's own stream.
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: ScenarioRecord[] = [];
  const buffered: ScenarioRecord[] = [];
  for (const r of generateEvents({ ...options, startTimeMs })) {
    const sentAt = startTimeMs + Math.floor((r.index * 1000) / rate);
    if (buffered.length > 0 && sentAt >= offlineEnd) for (const b of buffered.splice(0)) out.push({ ...b, timestampMs: sentAt });
    let value = r.value;
    if (r.event) {
      let shift = 0;
      if (r.key === f.futureClockDevice) shift = FIVE_YEARS_MS;
      else {
        const x = random();
        if (x < (f.hourLateFraction ?? 0)) shift = -HOUR_MS;
        else if (x < (f.hourLateFraction ?? 0) + (f.daysLateFraction ?? 0)) shift = -72 * HOUR_MS;
      }
      if (shift !== 0) value = Buffer.from(JSON.stringify({ ...r.event, event_time: new Date(Date.parse(r.event.event_time) + shift).toISOString() }));
    }
    const record = { key: r.key, value, timestampMs: sentAt };
    if (r.key === f.offlineDevice && sentAt >= offlineFrom && sentAt < offlineEnd) buffered.push(record);
    else out.push(record);
  }
  const last = out.length > 0 ? out[out.length - 1].timestampMs : startTimeMs;
  for (const b of buffered) out.push({ ...b, timestampMs: last });
  return out;
}

export async function createScenario(partitions = 6): Promise<Scenario> {
  const { kafkaBrokers, clickhouseUrl } = await getTestEndpoints();
  // Old event and record timestamps: keep the test topics' data regardless of age.
  const config = { 'retention.ms': '-1' };
  const [rawTopic, dlqTopic, aggTopic] = await Promise.all([
    createTestTopic(kafkaBrokers, { prefix: 'agg-test.raw', partitions, config }),
    createTestTopic(kafkaBrokers, { prefix: 'agg-test.dlq', partitions: 2, config }),
    createTestTopic(kafkaBrokers, { prefix: 'agg-test.agg', partitions: 1, config }),
  ]);
  // Windows of different scenarios (almost) never overlap in the shared tables, and the
  // comparison ignores another scenario's windows. Record timestamps stay in the past
  // (Kafka 4 rejects records more than message.timestamp.after.max.ms ahead).
  const baseTimeMs = Date.UTC(2001, 0, 1) + randomInt(0, 12_000_000) * 60000;
  return {
    brokers: kafkaBrokers,
    clickhouseUrl,
    clickhouse: createClickHouseClient({ url: clickhouseUrl }),
    rawTopic,
    dlqTopic,
    aggTopic,
    group: `agg-test-${randomUUID().slice(0, 8)}`,
    partitions,
    baseTimeMs,
  };
}

/**
 * Produces the dataset's records (or those with index in [from, to) of
 * {@link scenarioRecords}) keyed by device, with the Kafka timestamp set to
 * the simulated send time (so invalid events land in the scenario's own
 * windows). Resolves when every record is acknowledged.
 */
export async function produceRecords(s: Scenario, options: ScenarioOptions, range?: { from: number; to: number }): Promise<number> {
  const producer = await connectTestProducer(s.brokers);
  const records = scenarioRecords(options, options.startTimeMs ?? s.baseTimeMs);
  let sent = 0;
  for (let i = range?.from ?? 0; i < (range?.to ?? records.length); i++) {
    const r = records[i];
    await producer.produce(s.rawTopic, null, r.value, r.key, r.timestampMs);
    sent++;
  }
  await producer.settle(sent);
  return sent;
}

export { waitFor };

/** Waits until ClickHouse shows every counted event of the oracle (the aggregator caught up). */
export async function waitForTotals(s: Scenario, oracle: OracleResult, timeoutMs = 180000): Promise<void> {
  const expected = oracle.windows.reduce((n, w) => n + w.totalEvents, 0);
  await waitFor(`${expected} events visible in iot_minute_agg`, async () => (await visibleTotal(s, oracle)) === expected, timeoutMs, 500);
}

export async function visibleTotal(s: Scenario, oracle: OracleResult): Promise<number> {
  return (await scenarioRows(s, oracle)).reduce((n, r) => n + r.totalEvents, 0);
}

/**
 * Reader-contract rows of the oracle's windows. The scenario's range spans
 * days (late events), so another scenario's minutes may fall inside it; only
 * this scenario's windows are compared (and the state table is checked to
 * hold no other window of this scenario's topic).
 */
async function scenarioRows(s: Scenario, oracle: OracleResult) {
  const windows = new Set(oracle.windows.map((w) => w.windowStartMs));
  return (await readMinuteAgg(s.clickhouse, ...oracleRange(oracle))).filter((r) => windows.has(r.windowStartMs));
}

/** Window starts (ms) that this scenario's raw topic has rows for in the state table. */
export async function windowsOfTopic(s: Scenario): Promise<number[]> {
  const rows = await s.clickhouse.queryRows<{ ws: number | string }>(
    `SELECT DISTINCT toUInt32(window_start) AS ws FROM ${TABLES.windowState} WHERE source_topic = '${s.rawTopic}' ORDER BY ws`,
  );
  return rows.map((r) => Number(r.ws) * 1000);
}

/** The oracle of everything on the scenario's raw topic; Avro and Protobuf messages are read with `decoder` (prepared here). */
export async function computeScenarioOracle(s: Scenario, decoder?: EventDecoder): Promise<OracleResult> {
  const messages = await readTopic(s.brokers, s.rawTopic, { partitions: s.partitions });
  await decoder?.prepare(messages.map((m) => m.value));
  return computeOracle(messages, decoder ? { decoder } : {});
}

type Stats = Pick<OracleWindow, 'windowStartMs' | 'totalEvents' | 'anomalyEvents' | 'lateEvents' | 'minMetric' | 'maxMetric' | 'minTemperature' | 'maxTemperature' | 'statusOk' | 'statusWarning' | 'statusError' | 'statusOffline'>;

/** What must match exactly: counts, statuses, extremes. */
function exactStats(r: Stats): Stats {
  const { windowStartMs, totalEvents, anomalyEvents, lateEvents, minMetric, maxMetric, minTemperature, maxTemperature, statusOk, statusWarning, statusError, statusOffline } = r;
  return { windowStartMs, totalEvents, anomalyEvents, lateEvents, minMetric, maxMetric, minTemperature, maxTemperature, statusOk, statusWarning, statusError, statusOffline };
}

/** Averages up to the summation order (1e-9), quantiles within the sketch's accuracy. */
function expectApproximate(got: Pick<OracleWindow, 'avgMetric' | 'avgTemperature' | 'p50Metric' | 'p95Metric' | 'p99Metric' | 'p95Temperature'>, want: typeof got, what: string): void {
  for (const [k, tol] of [
    ['avgMetric', 1e-9],
    ['avgTemperature', 1e-9],
    ['p50Metric', SKETCH_RELATIVE_ACCURACY],
    ['p95Metric', SKETCH_RELATIVE_ACCURACY],
    ['p99Metric', SKETCH_RELATIVE_ACCURACY],
    ['p95Temperature', SKETCH_RELATIVE_ACCURACY],
  ] as const) {
    if (!(Math.abs(got[k] - want[k]) <= tol * Math.abs(want[k]) + 1e-9)) throw new Error(`${what}: ${k} = ${got[k]}, want ${want[k]} (tolerance ${tol})`);
  }
}

/** Everything the oracle says, compared with ClickHouse and the DLQ topic. */
export async function expectMatchesOracle(s: Scenario, oracle: OracleResult): Promise<void> {
  const [from, to] = oracleRange(oracle);
  // No window of this topic beyond the oracle's (e.g. a future device's years ahead).
  expect(await windowsOfTopic(s)).toEqual(oracle.windows.map((w) => w.windowStartMs));
  const rows = await scenarioRows(s, oracle);
  expect(comparableWindows(rows)).toEqual(comparableWindows(oracle.windows));
  rows.forEach((r, i) => expect(Math.abs(r.avgMetric - oracle.windows[i].avgMetric)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(oracle.windows[i].avgMetric))));

  // The fleet minute's accumulator columns, and one exact row per (window, device) of the oracle's windows.
  const windowSet = new Set(oracle.windows.map((w) => w.windowStartMs));
  const stats = (await readMinuteStats(s.clickhouse, from, to)).filter((r) => windowSet.has(r.windowStartMs));
  expect(stats.map(exactStats)).toEqual(oracle.windows.map(exactStats));
  stats.forEach((r, i) => expectApproximate(r, oracle.windows[i], `window ${new Date(r.windowStartMs).toISOString()}`));
  const devices = (await readDeviceMinute(s.clickhouse, from, to)).filter((r) => windowSet.has(r.windowStartMs));
  expect(devices.map((d) => ({ deviceId: d.deviceId, lastEventTimeMs: d.lastEventTimeMs, ...exactStats(d) }))).toEqual(
    oracle.devices.map((d) => ({ deviceId: d.deviceId, lastEventTimeMs: d.lastEventTimeMs, ...exactStats(d) })),
  );
  devices.forEach((r, i) => expectApproximate(r, oracle.devices[i], `device ${r.deviceId} window ${new Date(r.windowStartMs).toISOString()}`));

  const dlWindows = new Set(oracle.deadLetterCounts.map((c) => c.windowStartMs));
  const counts = (await readDeadLetterCounts(s.clickhouse, from, to)).filter((c) => dlWindows.has(c.windowStartMs));
  expect(comparableDeadLetterCounts(counts)).toEqual(oracle.deadLetterCounts);

  // The DLQ holds every malformed and late event; a repeat (after a crash)
  // must carry the same source partition/offset so it can be told apart.
  const dlq = await readTopic(s.brokers, s.dlqTopic, { partitions: 2 });
  const entries = new Map<string, string>();
  for (const m of dlq) {
    const parsed = parseDeadLetterHeaders(Object.entries(m.headers).map(([k, v]) => ({ [k]: v })));
    if (!parsed.ok) throw new Error(`DLQ entry without a readable envelope: ${parsed.problem}`);
    const key = `${parsed.entry.sourcePartition}:${parsed.entry.sourceOffset}`;
    const previous = entries.get(key);
    if (previous !== undefined && previous !== parsed.entry.reason) throw new Error(`DLQ entry ${key} repeated with another reason`);
    entries.set(key, parsed.entry.reason);
  }
  expect([...entries.entries()].sort()).toEqual(oracle.deadLetters.map((d) => [`${d.partition}:${d.offset}`, d.reason]).sort());
  await s.clickhouse.close();
}
