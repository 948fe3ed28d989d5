/**
 * The device rollup job: every DEVICE_ROLLUP_INTERVAL_SECS, the pipeline that
 * holds partition 0 of the raw topic sums the hours of device minutes that
 * changed since its last run into iot_device_hour (clickhouse-sink
 * device-rollup.ts), then writes the device-recent summary device health
 * reads (events in the last hour and day, typical interval: writeDeviceRecent)
 * as of that run. Running it twice is harmless (the newest row per hour and
 * device wins and both are complete), so the OwnerJob rule suffices. A new
 * owner resumes shortly before the newest rollup written; a failed run is
 * logged and counted and retried at the next interval from the same point.
 */
import { rollupDeviceHours, rollupResumePointMs, writeDeviceRecent, type ClickHouseSinkClient, type DeviceRollupRun } from '@stream-analytics/clickhouse-sink';
import type { Logger } from '@stream-analytics/runtime';
import type { AggregatorConfig } from './config';
import type { AggregatorMetrics } from './metrics';
import { OwnerJob } from './owner-job';

export type DeviceRollupMetrics = Pick<AggregatorMetrics, 'deviceRollupRuns' | 'deviceRollupHours' | 'deviceRollupLastRun'>;

export type DeviceRollupOutcome = { kind: 'not-owner' } | { kind: 'done'; run: DeviceRollupRun } | { kind: 'failed'; error: unknown };

export interface DeviceRollupJobOptions {
  intervalMs: number;
  isOwner: () => boolean;
  clickhouse: Pick<ClickHouseSinkClient, 'queryRows' | 'insertSelect'>;
  logger: Logger;
  metrics: DeviceRollupMetrics;
  now?: () => number;
}

export class DeviceRollupJob extends OwnerJob<DeviceRollupOutcome> {
  /** Where the next run looks from; undefined until this pipeline has run it as the owner. */
  private sinceMs: number | undefined;
  private readonly now: () => number;

  constructor(private readonly options: DeviceRollupJobOptions) {
    // The first run soon after start: health and the top-device tables read what it writes.
    super(options.intervalMs, Math.min(5000, options.intervalMs));
    this.now = options.now ?? Date.now;
  }

  protected async check(): Promise<DeviceRollupOutcome> {
    const { logger, metrics, clickhouse } = this.options;
    if (!this.options.isOwner()) {
      this.sinceMs = undefined;
      return { kind: 'not-owner' };
    }
    try {
      this.sinceMs ??= await rollupResumePointMs(clickhouse);
      const nowMs = this.now();
      const run = await rollupDeviceHours(clickhouse, this.sinceMs, nowMs);
      this.sinceMs = run.nextSinceMs;
      // Every run, changed hours or not: the last hour and day slide with the clock.
      await writeDeviceRecent(clickhouse, nowMs);
      metrics.deviceRollupRuns.inc({ outcome: 'ok' });
      metrics.deviceRollupHours.inc(run.hoursMs.length);
      metrics.deviceRollupLastRun.set(Math.floor(this.now() / 1000));
      const fields = { hours: run.hoursMs.map((h) => new Date(h).toISOString()), deferred: run.deferred };
      if (run.hoursMs.length > 0) logger.info(fields, `device rollup: ${run.hoursMs.length} hour(s) summed${run.deferred > 0 ? `, ${run.deferred} left for the next run` : ''}`);
      else logger.debug(fields, 'device rollup: nothing changed');
      return { kind: 'done', run };
    } catch (error) {
      metrics.deviceRollupRuns.inc({ outcome: 'failed' });
      logger.error({ err: (error as Error)?.message ?? String(error) }, 'device rollup run failed; retrying at the next interval');
      return { kind: 'failed', error };
    }
  }
}

/** The job of one pipeline as the configuration says (undefined when DEVICE_ROLLUP_INTERVAL_SECS is 0), started. */
export function startDeviceRollupJob(
  config: AggregatorConfig,
  deps: { clickhouse: ClickHouseSinkClient; isOwner: () => boolean; logger: Logger; metrics: DeviceRollupMetrics },
): DeviceRollupJob | undefined {
  if (config.deviceRollupIntervalSecs === 0) return undefined;
  const job = new DeviceRollupJob({ intervalMs: config.deviceRollupIntervalSecs * 1000, isOwner: deps.isOwner, clickhouse: deps.clickhouse, logger: deps.logger.child({ job: 'device-rollup' }), metrics: deps.metrics });
  job.start();
  return job;
}
