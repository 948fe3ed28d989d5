/**
 * The retention job: every RETENTION_INTERVAL_SECS, the pipeline that holds
 * partition 0 of the raw topic applies the retention (applyRetention: drop
 * the expired whole-day partitions, set the TTL where the server has it).
 *
 * An OwnerJob: of all the aggregator instances and their pipelines exactly
 * one runs it. During a rebalance two may briefly both run it, which is
 * harmless: dropping a partition that is gone is a no-op and setting the
 * same TTL is never even sent. A failed run is logged and counted, and
 * retried at the next interval; it never stops the pipeline.
 */
import { applyRetention, type ClickHouseSinkClient, type RetentionRunResult } from '@stream-analytics/clickhouse-sink';
import type { Logger } from '@stream-analytics/runtime';
import { schemaProfile, type AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import { OwnerJob } from './owner-job';

/** First check soon after start (once partitions are assigned), then every interval. */
const FIRST_RUN_DELAY_MS = 60_000;

export type RetentionMetrics = Pick<AggregatorMetrics, 'retentionRuns' | 'retentionPartitionsDropped' | 'retentionRowsDropped' | 'retentionLastRun'>;

export interface RetentionJobOptions {
  intervalMs: number;
  /** Delay of the first check after start; default the smaller of one minute and the interval. */
  firstDelayMs?: number;
  /** Whether this pipeline owns the job now (holds partition 0 of the raw topic). */
  isOwner: () => boolean;
  /** One retention run at `nowMs`. */
  run: (nowMs: number) => Promise<RetentionRunResult>;
  logger: Logger;
  metrics: RetentionMetrics;
  now?: () => number;
}

export type RetentionOutcome = { kind: 'not-owner' } | { kind: 'done'; result: RetentionRunResult } | { kind: 'failed'; error: unknown };

export class RetentionJob extends OwnerJob<RetentionOutcome> {
  private readonly now: () => number;

  constructor(private readonly options: RetentionJobOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`retention interval must be > 0 ms (got ${options.intervalMs})`);
    super(options.intervalMs, options.firstDelayMs ?? Math.min(FIRST_RUN_DELAY_MS, options.intervalMs));
    this.now = options.now ?? Date.now;
  }

  protected async check(): Promise<RetentionOutcome> {
    const { logger, metrics } = this.options;
    try {
      if (!this.options.isOwner()) {
        logger.debug('retention: partition 0 of the raw topic is not held here; another instance runs it');
        return { kind: 'not-owner' };
      }
      const result = await this.options.run(this.now());
      for (const d of result.dropped) {
        metrics.retentionPartitionsDropped.inc({ class: d.cls });
        metrics.retentionRowsDropped.inc({ class: d.cls }, d.rows);
      }
      metrics.retentionRuns.inc({ outcome: 'ok' });
      metrics.retentionLastRun.set(Math.floor(this.now() / 1000));
      logger.info(
        {
          dropped: result.dropped.map((d) => ({ table: d.table, day: d.day, rows: d.rows })),
          ttlSet: result.ttlSet,
          ttlSupported: result.ttlSupported,
          server: result.server,
        },
        result.dropped.length > 0 ? `retention: dropped ${result.dropped.length} expired day partition(s)` : 'retention: nothing expired',
      );
      return { kind: 'done', result };
    } catch (error) {
      metrics.retentionRuns.inc({ outcome: 'failed' });
      logger.error({ err: (error as Error)?.message ?? String(error) }, 'retention run failed; retrying at the next interval');
      return { kind: 'failed', error };
    }
  }
}

/**
 * The job of one pipeline as the configuration says (undefined when
 * RETENTION_INTERVAL_SECS is 0), started; stop it before closing the client.
 */
export function startRetentionJob(
  config: AggregatorConfig,
  deps: { clickhouse: ClickHouseSinkClient; isOwner: () => boolean; logger: Logger; metrics: RetentionMetrics },
): RetentionJob | undefined {
  if (config.retentionIntervalSecs === 0) return undefined;
  const profile = schemaProfile(config);
  const job = new RetentionJob({
    intervalMs: config.retentionIntervalSecs * 1000,
    isOwner: deps.isOwner,
    run: (nowMs) => applyRetention(deps.clickhouse, config.retention, nowMs, { profile }),
    logger: deps.logger.child({ job: 'retention' }),
    metrics: deps.metrics,
  });
  job.start();
  return job;
}
