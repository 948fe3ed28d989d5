/**
 * The built aggregator as the integration tests of several apps run it (the
 * aggregator's own, the DLQ replayer's, the ingest gateway's): started on a
 * scenario's topics the way an operator starts it, stopped gracefully, its
 * metrics read; and the shapes in which its ClickHouse results are compared
 * with the brute-force oracle (oracle.ts).
 */
import { startApp, type AppRun } from './apps';
import type { OracleResult } from './oracle';
import { scrapeMetric } from './wait';

/** Where an aggregator under test reads and writes. */
export interface AggregatorTopics {
  brokers: string;
  clickhouseUrl: string;
  rawTopic: string;
  dlqTopic: string;
  aggTopic: string;
  /** Its consumer group. */
  group: string;
}

export interface RunningAggregator {
  run: AppRun;
  metricsPort: number;
}

/** Starts the built aggregator on these topics (flushing every second); `extraEnv` sets its knobs (e.g. ALLOWED_LATENESS_SECS). */
export async function startAggregator(t: AggregatorTopics, extraEnv: Record<string, string> = {}): Promise<RunningAggregator> {
  const run = startApp('aggregator', [], {
    KAFKA_BROKERS: t.brokers,
    RAW_TOPIC: t.rawTopic,
    DLQ_TOPIC: t.dlqTopic,
    AGG_TOPIC: t.aggTopic,
    CONSUMER_GROUP: t.group,
    CLICKHOUSE_URL: t.clickhouseUrl,
    FLUSH_INTERVAL_SECS: '1',
    // Tests compare against the oracle, which has no processing-time idleness.
    IDLE_PARTITION_TIMEOUT_SECS: '3600',
    // The datasets live in the past (2001) and DLQ replays carry today's record timestamps: with the
    // default retention the aggregator would dead-letter replayed events as beyond_retention.
    AGGREGATE_RETENTION_DAYS: '36500',
    METRICS_PORT: '0',
    ...extraEnv,
  });
  const line = await run.waitForOutput(/"metricsPort":(\d+)/, 60000);
  const port = /(\d+)/.exec(line);
  if (!port) throw new Error(`no metrics port in: ${line}`);
  return { run, metricsPort: Number(port[1]) };
}

/** Stops an aggregator gracefully (final flush + commit) and checks it exited cleanly. */
export async function stopAggregator(a: RunningAggregator): Promise<void> {
  a.run.child.kill('SIGTERM');
  const { code } = await a.run.exited;
  if (code !== 0) throw new Error(`aggregator exited with ${code}:\n${a.run.stderr()}\n${a.run.stdout().slice(-4000)}`);
}

/** One counter/gauge (summed over labels) from the aggregator's /metrics. */
export function aggregatorMetric(a: RunningAggregator, name: string): Promise<number> {
  return scrapeMetric(a.metricsPort, name);
}

/** [first window, end of the last window) of everything the oracle has: the range to read results in. */
export function oracleRange(oracle: OracleResult): [number, number] {
  const starts = [...oracle.windows.map((w) => w.windowStartMs), ...oracle.deadLetterCounts.map((c) => c.windowStartMs)];
  return [Math.min(...starts), Math.max(...starts) + 60000];
}

/**
 * The per-window columns that must match the oracle exactly (the average is
 * compared within float rounding); with `late`, also the events counted after
 * their window was final (which depends on where in the partition an event
 * arrived, so not for as-if oracles).
 */
export function comparableWindows(rows: Array<{ windowStartMs: number; totalEvents: number; uniqueUsers: number; anomalyEvents: number; lateEvents: number }>, late = true) {
  return rows.map((r) => ({
    windowStartMs: r.windowStartMs,
    totalEvents: r.totalEvents,
    uniqueUsers: r.uniqueUsers,
    anomalyEvents: r.anomalyEvents,
    ...(late ? { lateEvents: r.lateEvents } : {}),
  }));
}

/** The dead-letter counts per window (malformed, beyond the horizon, future), as the oracle has them. */
export function comparableDeadLetterCounts(rows: Array<{ windowStartMs: number; invalidEvents: number; lateEvents: number; futureEvents: number }>) {
  return rows
    .filter((c) => c.invalidEvents + c.lateEvents + c.futureEvents > 0)
    .map((c) => ({ windowStartMs: c.windowStartMs, invalidEvents: c.invalidEvents, lateEvents: c.lateEvents, futureEvents: c.futureEvents }));
}
