/**
 * Aggregator entry point: configuration, schema, signals and the pipelines.
 * With --migrate-only it applies the schema and exits (deploy jobs).
 * The logic lives in the libraries: the windowing engine (libs/windowing),
 * the stream pipeline and its commit protocol (libs/stream-pipeline) and the
 * ClickHouse sink; app/pipeline-worker.ts wires one pipeline to real clients
 * (app/adapters.ts). The first pipeline runs in this process; with --workers > 1
 * this same script is also each further, forked pipeline process (see
 * app/pipeline-pool.ts).
 */
import { createClickHouseClient, describeClickHouseSecurityError, ensureDeviceHealthView, findMigrationsDir, migrateSchema } from '@stream-analytics/clickhouse-sink';
import { createLogger, onShutdownSignal, runMain, startOpsServer, type Logger, type ShutdownSignal } from '@stream-analytics/runtime';
import cluster from 'node:cluster';
import path from 'node:path';
import { Registry } from 'prom-client';
import { clickhouseClientConfig, migrateWaitMs, parseAggregatorConfig, schemaProfile, type AggregatorConfig } from './app/config';
import { launchForked, launchInProcess, PipelinePool, runForkedPipeline, WORKER_INDEX_ENV } from './app/pipeline-pool';

runMain(cluster.isWorker ? forkedPipeline : main);

async function main(): Promise<number> {
  const config = parseAggregatorConfig(process.argv.slice(2));
  const logger = createLogger('aggregator');
  const shutdown = onShutdownSignal();
  if (config.migrateOnly) return (await migrate(config, logger, shutdown)) ? 0 : 1;

  // Set once the schema is in place; the probes answer before that.
  const app: { pool?: PipelinePool } = {};
  const ops = await startOpsServer({
    port: config.metricsPort,
    registry: { contentType: Registry.PROMETHEUS_CONTENT_TYPE, metrics: () => app.pool?.metrics() ?? Promise.resolve('') },
    health: {
      live: () => app.pool?.live() ?? true,
      ready: () => app.pool?.ready() ?? { ready: false, reason: 'starting' },
    },
  });
  logger.info({ metricsPort: ops.port, topic: config.topic, group: config.group, clickhouse: config.clickhouseUrl, workers: config.workers }, 'aggregator starting');

  // ClickHouse first: without the schema nothing can be written.
  if (config.migrate && !(await migrate(config, logger, shutdown))) return 1;
  if (shutdown.isRequested()) return 1;

  // Pipeline 0 runs in this process; any others each get a child process.
  const inProcess = launchInProcess(config, config.workers > 1 ? logger.child({ worker: 0 }) : logger);
  const forked = launchForked();
  const pool = new PipelinePool(config.workers, (index) => (index === 0 ? inProcess(index) : forked(index)), logger);
  app.pool = pool;
  void shutdown.requested.then((signal) => {
    logger.info({ signal }, 'stopping: final flush and commit');
    pool.stop();
  });
  const code = await pool.exited;
  await ops.close();
  logger.info({ code }, 'aggregator stopped');
  return code;
}

/**
 * Applies clickhouse/init with the versioned runner (the only way the schema
 * is applied). An unreachable server is retried with a log line per attempt,
 * until a signal or the configured wait; false when stopped by a signal.
 */
async function migrate(config: AggregatorConfig, logger: Logger, shutdown: ShutdownSignal): Promise<boolean> {
  const clickhouse = createClickHouseClient(clickhouseClientConfig(config));
  const dir = config.migrationsDir ?? findMigrationsDir(path.dirname(process.argv[1] ?? process.cwd()));
  const stop = new AbortController();
  void shutdown.requested.then(() => stop.abort());
  try {
    const result = await migrateSchema(clickhouse, dir, {
      profile: schemaProfile(config),
      waitMs: migrateWaitMs(config),
      signal: stop.signal,
      // Wrong credentials or an untrusted certificate: retrying cannot help.
      fatal: (err) => describeClickHouseSecurityError(err, config.clickhouseUrl),
      onRetry: (info) =>
        logger.error({ err: info.error instanceof Error ? info.error.message : String(info.error), attempt: info.attempt, retryInMs: info.delayMs }, `ClickHouse at ${config.clickhouseUrl} is not usable yet; retrying`),
    });
    if (result.unreachable.length > 0) logger.warn({ unreachable: result.unreachable }, 'ClickHouse nodes not answering were left out of the migration; they keep the schema they had');
    logger.info({ applied: result.applied, skipped: result.skipped.length, profile: config.clickhouseSchemaProfile, dir }, 'ClickHouse schema up to date');
    // The health view carries this deployment's silence rule and retention (SILENT_FACTOR, SILENT_MIN_SECS,
    // AGGREGATE_RETENTION_DAYS). A view is local to a server: created on every node that answers.
    const health = { rule: { silentFactor: config.silentFactor, silentMinSecs: config.silentMinSecs }, retentionDays: config.retention.aggregateDays };
    for (const url of clickhouse.config.urls) {
      const node = clickhouse.config.urls.length > 1 ? clickhouse.forEndpoint(url) : clickhouse;
      try {
        await ensureDeviceHealthView(node, health);
      } catch (err) {
        logger.warn({ url, err: (err as Error).message }, 'could not create iot_device_health on this ClickHouse node; it keeps the view it had');
      } finally {
        if (node !== clickhouse) await node.close();
      }
    }
    return true;
  } catch (err) {
    if (shutdown.isRequested()) return false;
    throw err;
  } finally {
    await clickhouse.close();
  }
}

/** A forked pipeline: the parent parsed the same argv and environment, and supervises it. */
async function forkedPipeline(): Promise<number> {
  const config = parseAggregatorConfig(process.argv.slice(2));
  const index = Number(process.env[WORKER_INDEX_ENV]);
  const logger = createLogger('aggregator').child({ worker: index });
  // A signal to the whole process group (Ctrl-C) reaches the children too;
  // the parent's stop message does the same, so the signal itself is ignored
  // here and a second one cannot cut a final flush short.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  return runForkedPipeline(config, index, logger);
}
