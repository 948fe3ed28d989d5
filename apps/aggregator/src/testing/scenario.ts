/**
 * Building blocks of the aggregator's integration tests: a seeded dataset on
 * fresh topics, aggregator processes run the way an operator runs them, and
 * the comparison of ClickHouse and the DLQ against the brute-force oracle.
 */
import { createClickHouseClient, readDeadLetterCounts, readMinuteAgg, type ClickHouseSinkClient } from '@stream-analytics/clickhouse-sink';
import { generateEvents, parseDeadLetterHeaders, type GeneratorOptions } from '@stream-analytics/event-schema';
import { computeOracle, connectTestProducer, createTestTopic, getTestEndpoints, readTopic, scrapeMetric, startApp, waitFor, type AppRun, type OracleResult } from '@stream-analytics/testing';
import { randomInt, randomUUID } from 'node:crypto';

export interface Scenario {
  brokers: string;
  clickhouseUrl: string;
  clickhouse: ClickHouseSinkClient;
  rawTopic: string;
  dlqTopic: string;
  aggTopic: string;
  group: string;
  partitions: number;
  /** Simulated start of the dataset: a whole minute far in the past, unique per scenario. */
  baseTimeMs: number;
}

/**
 * The integration tests' standard dataset: 200 simulated events/s for 5
 * minutes, so five windows per partition, late events 2-5 minutes old that hit
 * windows already final, out-of-order events within the 10 s bound, and every
 * kind of malformed payload.
 */
export const dataset = (seed: number) => ({
  seed,
  devices: 300,
  users: 120,
  count: 60000,
  ratePerSec: 200,
  faults: { invalidFraction: 0.01, outOfOrderFraction: 0.05, lateFraction: 0.01 },
});

export async function createScenario(partitions = 6): Promise<Scenario> {
  const { kafkaBrokers, clickhouseUrl } = await getTestEndpoints();
  // Old event and record timestamps: keep the test topics' data regardless of age.
  const config = { 'retention.ms': '-1' };
  const [rawTopic, dlqTopic, aggTopic] = await Promise.all([
    createTestTopic(kafkaBrokers, { prefix: 'agg-test.raw', partitions, config }),
    createTestTopic(kafkaBrokers, { prefix: 'agg-test.dlq', partitions: 2, config }),
    createTestTopic(kafkaBrokers, { prefix: 'agg-test.agg', partitions: 1, config }),
  ]);
  // Windows of different scenarios never overlap in the shared tables.
  const baseTimeMs = Date.UTC(2001, 0, 1) + randomInt(0, 5_000_000) * 60000;
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
 * Produces generated records keyed by device, with the Kafka timestamp set to
 * the simulated time of the record (so invalid events land in the scenario's
 * own windows). Resolves when every record is acknowledged.
 */
export async function produceRecords(s: Scenario, options: Omit<GeneratorOptions, 'startTimeMs'> & { startTimeMs?: number }, range?: { from: number; to: number }): Promise<number> {
  const producer = await connectTestProducer(s.brokers);
  const rate = options.ratePerSec ?? 10000;
  const startTimeMs = options.startTimeMs ?? s.baseTimeMs;
  let sent = 0;
  for (const r of generateEvents({ ...options, startTimeMs })) {
    if (range && (r.index < range.from || r.index >= range.to)) continue;
    await producer.produce(s.rawTopic, null, r.value, r.key, startTimeMs + Math.floor((r.index * 1000) / rate));
    sent++;
  }
  await producer.settle(sent);
  return sent;
}

export interface RunningAggregator {
  run: AppRun;
  metricsPort: number;
}

export async function startAggregator(s: Scenario, extraEnv: Record<string, string> = {}): Promise<RunningAggregator> {
  const run = startApp('aggregator', [], {
    KAFKA_BROKERS: s.brokers,
    RAW_TOPIC: s.rawTopic,
    DLQ_TOPIC: s.dlqTopic,
    AGG_TOPIC: s.aggTopic,
    CONSUMER_GROUP: s.group,
    CLICKHOUSE_URL: s.clickhouseUrl,
    FLUSH_INTERVAL_SECS: '1',
    // Tests compare against the oracle, which has no processing-time idleness.
    IDLE_PARTITION_TIMEOUT_SECS: '3600',
    METRICS_PORT: '0',
    ...extraEnv,
  });
  const line = await run.waitForOutput(/"metricsPort":(\d+)/, 60000);
  return { run, metricsPort: Number(/(\d+)/.exec(line)![1]) };
}

/** Reads one counter/gauge (summed over labels) from the aggregator's /metrics. */
export function metricValue(a: RunningAggregator, name: string): Promise<number> {
  return scrapeMetric(a.metricsPort, name);
}

export { waitFor };

/** Stops an aggregator gracefully (final flush + commit) and checks it exited cleanly. */
export async function stopAggregator(a: RunningAggregator): Promise<void> {
  a.run.child.kill('SIGTERM');
  const { code } = await a.run.exited;
  if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${a.run.stderr()}\n${a.run.stdout().slice(-4000)}`);
}

/** Waits until ClickHouse shows every counted event of the oracle (the aggregator caught up). */
export async function waitForTotals(s: Scenario, oracle: OracleResult, timeoutMs = 180000): Promise<void> {
  const expected = oracle.windows.reduce((n, w) => n + w.totalEvents, 0);
  await waitFor(`${expected} events visible in iot_minute_agg`, async () => (await visibleTotal(s, oracle)) === expected, timeoutMs, 500);
}

export async function visibleTotal(s: Scenario, oracle: OracleResult): Promise<number> {
  const rows = await readMinuteAgg(s.clickhouse, ...scenarioRange(oracle));
  return rows.reduce((n, r) => n + r.totalEvents, 0);
}

function scenarioRange(oracle: OracleResult): [number, number] {
  const starts = [...oracle.windows.map((w) => w.windowStartMs), ...oracle.deadLetterCounts.map((c) => c.windowStartMs)];
  return [Math.min(...starts), Math.max(...starts) + 60000];
}

export async function computeScenarioOracle(s: Scenario): Promise<OracleResult> {
  const messages = await readTopic(s.brokers, s.rawTopic, { partitions: s.partitions });
  return computeOracle(messages);
}

/** Everything the oracle says, compared with ClickHouse and the DLQ topic. */
export async function expectMatchesOracle(s: Scenario, oracle: OracleResult): Promise<void> {
  const [from, to] = scenarioRange(oracle);
  const rows = await readMinuteAgg(s.clickhouse, from, to);
  expect(rows.map((r) => ({ windowStartMs: r.windowStartMs, totalEvents: r.totalEvents, uniqueUsers: r.uniqueUsers, anomalyEvents: r.anomalyEvents }))).toEqual(
    oracle.windows.map((w) => ({ windowStartMs: w.windowStartMs, totalEvents: w.totalEvents, uniqueUsers: w.uniqueUsers, anomalyEvents: w.anomalyEvents })),
  );
  rows.forEach((r, i) => expect(Math.abs(r.avgMetric - oracle.windows[i].avgMetric)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(oracle.windows[i].avgMetric))));

  const counts = await readDeadLetterCounts(s.clickhouse, from, to);
  expect(counts.filter((c) => c.invalidEvents + c.lateEvents > 0).map((c) => ({ windowStartMs: c.windowStartMs, invalidEvents: c.invalidEvents, lateEvents: c.lateEvents }))).toEqual(
    oracle.deadLetterCounts,
  );

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
