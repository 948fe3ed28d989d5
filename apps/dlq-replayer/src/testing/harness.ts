/**
 * Integration-test building blocks for the DLQ replayer: fresh topics per
 * scenario, seeded data on the raw topic, the real aggregator and replayer run
 * as processes (dist/apps/<app>/main.js), and exact readers of topics with
 * transactional data (read_committed, end detected by partition EOF, so the
 * transaction markers at the end of a partition cost no waiting).
 *
 * The aggregator is started, stopped and compared with the oracle by the
 * shared helpers of libs/testing (startAggregator, oracleRange, ...).
 */
import { createClickHouseClient, readDeadLetterCounts, readMinuteAgg, type ClickHouseSinkClient } from '@stream-analytics/clickhouse-sink';
import { deadLetterHeaders, generateEvents, parseDeadLetterHeaders, REPLAY_HEADERS, type DeadLetterEntry, type GeneratorOptions } from '@stream-analytics/event-schema';
import { disconnectClient, type KafkaMessage } from '@stream-analytics/runtime';
import {
  connectTestProducer,
  createTestTopic,
  getTestEndpoints,
  oracleRange,
  runApp,
  startApp,
  toConsumedMessage,
  waitFor,
  type AggregatorTopics,
  type AppRun,
  type ConsumedMessage,
  type OracleResult,
} from '@stream-analytics/testing';
import { randomInt, randomUUID } from 'node:crypto';
import { createConsumer, partitionCount, readRanges, resolveRanges } from '../app/kafka';
import type { InspectReport, ReplayReport } from '../app/summary';

/** Fresh topics and groups for one test; the aggregator (libs/testing startAggregator) runs on them as they are. */
export interface ReplayScenario extends AggregatorTopics {
  ledgerTopic: string;
  replayerGroup: string;
  rawPartitions: number;
  dlqPartitions: number;
  /** A whole minute far in the past, unique per scenario. */
  baseTimeMs: number;
}

export async function createReplayScenario(rawPartitions = 6, dlqPartitions = 2): Promise<ReplayScenario> {
  const { kafkaBrokers, clickhouseUrl } = await getTestEndpoints();
  const config = { 'retention.ms': '-1' };
  const [rawTopic, dlqTopic, aggTopic] = await Promise.all([
    createTestTopic(kafkaBrokers, { prefix: 'replay-test.raw', partitions: rawPartitions, config }),
    createTestTopic(kafkaBrokers, { prefix: 'replay-test.dlq', partitions: dlqPartitions, config }),
    createTestTopic(kafkaBrokers, { prefix: 'replay-test.agg', partitions: 1, config }),
  ]);
  const id = randomUUID().slice(0, 8);
  return {
    brokers: kafkaBrokers,
    clickhouseUrl,
    rawTopic,
    dlqTopic,
    aggTopic,
    // Created by the replayer itself (compacted, one partition).
    ledgerTopic: `replay-test.ledger.${id}`,
    group: `replay-test-agg-${id}`,
    replayerGroup: `replay-test-replayer-${id}`,
    rawPartitions,
    dlqPartitions,
    baseTimeMs: Date.UTC(2001, 0, 1) + randomInt(0, 5_000_000) * 60000,
  };
}

/**
 * Produces generated records [from, to) keyed by device to the raw topic, the
 * Kafka timestamp set to the record's simulated time.
 */
export async function produceRaw(s: ReplayScenario, options: Omit<GeneratorOptions, 'startTimeMs'>, range: { from: number; to: number }): Promise<number> {
  const producer = await connectTestProducer(s.brokers);
  const rate = options.ratePerSec ?? 10000;
  let sent = 0;
  for (const r of generateEvents({ ...options, startTimeMs: s.baseTimeMs, count: range.to })) {
    if (r.index < range.from) continue;
    await producer.produce(s.rawTopic, null, r.value, r.key, s.baseTimeMs + Math.floor((r.index * 1000) / rate));
    sent++;
  }
  await producer.settle(sent);
  return sent;
}

export interface RawRecordToWrite {
  key: string;
  value: Buffer;
  /** Kafka record timestamp: when the record was sent (simulated). */
  timestampMs: number;
  /** Default: the key's partition. */
  partition?: number;
}

/** Produces the given records to the raw topic in order, keyed by device. */
export async function produceRawRecords(s: ReplayScenario, records: readonly RawRecordToWrite[]): Promise<number> {
  const producer = await connectTestProducer(s.brokers);
  for (const r of records) await producer.produce(s.rawTopic, r.partition ?? null, r.value, r.key, r.timestampMs);
  await producer.settle(records.length);
  return records.length;
}

export interface DeadLetterToWrite {
  key: string | null;
  value: Buffer | null;
  /** Envelope; undefined writes the given raw headers instead. */
  entry?: DeadLetterEntry;
  headers?: Array<Record<string, string>>;
  partition?: number;
  /** DLQ record timestamp (default now). */
  timestampMs?: number;
}

/** Writes DLQ records directly (what the aggregator would write, or broken ones). */
export async function produceDeadLetters(s: ReplayScenario, records: DeadLetterToWrite[]): Promise<void> {
  const producer = await connectTestProducer(s.brokers);
  for (const r of records) {
    const headers = r.entry ? deadLetterHeaders(r.entry) : r.headers ?? [];
    await producer.produce(s.dlqTopic, r.partition ?? null, r.value, r.key, r.timestampMs ?? Date.now(), undefined, headers);
  }
  await producer.settle(records.length);
}

/** Every committed message of a topic up to its end now (read_committed). */
export async function readCommitted(brokers: string, topic: string): Promise<ConsumedMessage[]> {
  const consumer = await createConsumer({ brokers }, 'replay-test-reader', undefined, 30000);
  const out: ConsumedMessage[] = [];
  try {
    const partitions = await partitionCount(consumer, topic, 30000);
    if (partitions === undefined) return out;
    const ranges = await resolveRanges(consumer, topic, partitions, { kind: 'beginning' }, 30000);
    const complete = await readRanges(consumer, topic, ranges, (m: KafkaMessage) => out.push(toConsumedMessage(m)), 60000);
    if (!complete) throw new Error(`readCommitted(${topic}): end not reached`);
  } finally {
    await disconnectClient(consumer);
  }
  return out;
}

export function replayerEnv(s: ReplayScenario): Record<string, string> {
  return {
    KAFKA_BROKERS: s.brokers,
    RAW_TOPIC: s.rawTopic,
    DLQ_TOPIC: s.dlqTopic,
    LEDGER_TOPIC: s.ledgerTopic,
    REPLAYER_GROUP: s.replayerGroup,
    // As the aggregator's (startAggregator): the scenarios' windows are in 2001.
    AGGREGATE_RETENTION_DAYS: '36500',
  };
}

export interface ReplayerRun<R> {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  report: R;
}

/** Runs the replayer to completion with --json and parses its report (throws on a non-zero exit). */
export async function runReplayer<R = ReplayReport>(s: ReplayScenario, args: string[], env: Record<string, string> = {}): Promise<ReplayerRun<R>> {
  const res = await runApp('dlq-replayer', [...args, '--json'], { ...replayerEnv(s), ...env }, 180000);
  if (res.code !== 0) throw new Error(`dlq-replayer ${args.join(' ')} exited with ${res.code}/${res.signal}:\n${res.stderr}\n${res.stdout}`);
  return { ...res, report: JSON.parse(res.stdout) as R };
}

export const runInspect = (s: ReplayScenario, args: string[] = []) => runReplayer<InspectReport>(s, ['inspect', ...args]);

export function startReplayer(s: ReplayScenario, args: string[], env: Record<string, string> = {}): AppRun {
  return startApp('dlq-replayer', args, { ...replayerEnv(s), ...env });
}

export { waitFor };

// ---------------------------------------------------------------- ClickHouse

export function clickhouse(s: ReplayScenario): ClickHouseSinkClient {
  return createClickHouseClient({ url: s.clickhouseUrl });
}

export async function readWindows(ch: ClickHouseSinkClient, oracle: OracleResult) {
  return readMinuteAgg(ch, ...oracleRange(oracle));
}

export async function readDeadLetterWindows(ch: ClickHouseSinkClient, oracle: OracleResult) {
  return readDeadLetterCounts(ch, ...oracleRange(oracle));
}

/** Average metric per window equal within float rounding (sums in another order). */
export function expectSameAverages(rows: Array<{ avgMetric: number }>, expected: Array<{ avgMetric: number }>): void {
  expect(rows.length).toBe(expected.length);
  rows.forEach((r, i) => expect(Math.abs(r.avgMetric - expected[i].avgMetric)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected[i].avgMetric))));
}

/** Distinct DLQ entries (by source partition:offset) with their reasons. */
export async function dlqEntries(s: ReplayScenario): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of await readCommitted(s.brokers, s.dlqTopic)) {
    const parsed = parseDeadLetterHeaders(Object.entries(m.headers).map(([k, v]) => ({ [k]: v })));
    if (parsed.ok) out.set(`${parsed.entry.sourcePartition}:${parsed.entry.sourceOffset}`, parsed.entry.reason);
  }
  return out;
}

/** Waits until the DLQ holds (at least) every dead letter of the oracle. */
export async function waitForDeadLetters(s: ReplayScenario, oracle: OracleResult): Promise<void> {
  await waitFor(`${oracle.deadLetters.length} DLQ entries`, async () => (await dlqEntries(s)).size >= oracle.deadLetters.length, 120000, 500);
}

/** The oracle's dead letters in the shape of dlqEntries(). */
export const expectedDlqEntries = (oracle: OracleResult) => oracle.deadLetters.map((d) => [`${d.partition}:${d.offset}`, d.reason]).sort();

/**
 * The raw topic as if each replayed record had been valid at its original
 * position: the replayed records (replay.* headers) replace the values at
 * their source coordinates and are dropped from the end.
 */
export function asIfValidFromTheStart(raw: ConsumedMessage[]): ConsumedMessage[] {
  const replacement = new Map<string, Buffer | null>();
  for (const m of raw) {
    const p = m.headers[REPLAY_HEADERS.sourcePartition];
    if (p !== undefined) replacement.set(`${p.toString()}:${m.headers[REPLAY_HEADERS.sourceOffset].toString()}`, m.value);
  }
  return raw
    .filter((m) => m.headers[REPLAY_HEADERS.sourcePartition] === undefined)
    .map((m) => (replacement.has(`${m.partition}:${m.offset}`) ? { ...m, value: replacement.get(`${m.partition}:${m.offset}`)! } : m));
}

/** The replayed records of the raw topic (those with replay.* headers). */
export const replayedRecords = (raw: ConsumedMessage[]) => raw.filter((m) => m.headers[REPLAY_HEADERS.sourceOffset] !== undefined);
