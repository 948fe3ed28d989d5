/**
 * Aggregator entry point: configuration, clients, signals. The logic lives in
 * the windowing engine, the ClickHouse sink and app/pipeline.ts.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { applyMigrations, createClickHouseClient, findMigrationsDir, WindowRowWriter } from '@stream-analytics/clickhouse-sink';
import { baseKafkaConfig, connectClient, createLogger, disconnectClient, onShutdownSignal, runMain, startOpsServer } from '@stream-analytics/runtime';
import { WindowingEngine } from '@stream-analytics/windowing';
import path from 'node:path';
import { parseAggregatorConfig } from './app/config';
import { createAggregatorMetrics } from './app/metrics';
import { AggregatorPipeline } from './app/pipeline';

runMain(async () => {
  const config = parseAggregatorConfig(process.argv.slice(2));
  const logger = createLogger('aggregator');
  const metrics = createAggregatorMetrics();
  const shutdown = onShutdownSignal();

  const clickhouse = createClickHouseClient({
    url: config.clickhouseUrl,
    username: config.clickhouseUser,
    password: config.clickhousePassword,
    database: config.clickhouseDatabase,
  });
  const abort = new AbortController();
  const writer = new WindowRowWriter(clickhouse, {
    // A flush gives up after a few quick attempts; the pipeline then pauses
    // consumption and keeps retrying the flush with its own backoff.
    maxAttempts: 4,
    initialDelayMs: 200,
    maxDelayMs: 2000,
    signal: abort.signal,
    onRetry: (info) => logger.warn({ attempt: info.attempt, delayMs: info.delayMs, err: String((info.error as Error)?.message ?? info.error) }, "ClickHouse write failed; retrying"),
  });

  // Set once Kafka is reachable; the probes answer before that.
  const app: { pipeline?: AggregatorPipeline } = {};
  const ops = await startOpsServer({
    port: config.metricsPort,
    registry: metrics.registry,
    health: {
      live: () => app.pipeline?.isLive() ?? true,
      ready: () =>
        !app.pipeline
          ? { ready: false, reason: 'starting' }
          : app.pipeline.clickhouseHealthy
            ? { ready: true }
            : { ready: false, reason: 'ClickHouse writes are failing' },
    },
  });
  logger.info({ metricsPort: ops.port, topic: config.topic, group: config.group, clickhouse: config.clickhouseUrl }, 'aggregator starting');

  // ClickHouse first: without the schema nothing can be written. Unreachable
  // servers are reported and retried until a signal arrives.
  if (config.migrate) {
    const dir = config.migrationsDir ?? findMigrationsDir(path.dirname(process.argv[1] ?? process.cwd()));
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await applyMigrations(clickhouse, dir);
        logger.info({ applied: result.applied, skipped: result.skipped.length }, 'ClickHouse schema up to date');
        break;
      } catch (err) {
        if (shutdown.isRequested()) return 1;
        logger.error({ err: (err as Error).message, attempt }, `ClickHouse at ${config.clickhouseUrl} is not usable yet; retrying in 5 s`);
        await Promise.race([new Promise((r) => setTimeout(r, 5000)), shutdown.requested]);
      }
    }
  }

  const kafka = baseKafkaConfig({ brokers: config.brokers, clientId: `aggregator-${process.pid}` });
  const consumer = new Kafka.KafkaConsumer(
    {
      ...kafka,
      'group.id': config.group,
      ...(config.groupInstanceId ? { 'group.instance.id': config.groupInstanceId } : {}),
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      // Aborted transactional writes (e.g. by the DLQ replayer) are never counted.
      'isolation.level': 'read_committed',
      'partition.assignment.strategy': 'range,roundrobin',
      'rebalance_cb': true,
      'session.timeout.ms': 15000,
      'heartbeat.interval.ms': 3000,
      'max.poll.interval.ms': 300000,
      // Bounded prefetch (per partition): with consumption paused this is all
      // that is buffered, and it caps the process's memory with 24+ partitions.
      'queued.max.messages.kbytes': 16384,
      'fetch.wait.max.ms': 100,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  consumer.setDefaultConsumeTimeout(100);
  const producer = new Kafka.Producer({
    ...kafka,
    'client.id': `aggregator-dlq-${process.pid}`,
    dr_cb: true,
    'enable.idempotence': true,
    acks: 'all',
    'compression.type': 'lz4',
    'linger.ms': 5,
    // Dead letters are never given up on: a flush waits for their acks.
    'message.timeout.ms': 0,
  } as Kafka.ProducerGlobalConfig);
  producer.setPollInterval(50);

  for (let attempt = 1; ; attempt++) {
    try {
      await connectClient(consumer, config.brokers, 15000);
      await connectClient(producer, config.brokers, 15000);
      break;
    } catch (err) {
      if (shutdown.isRequested()) return 1;
      logger.error({ err: (err as Error).message, attempt }, 'Kafka not reachable; retrying in 5 s');
      await Promise.race([new Promise((r) => setTimeout(r, 5000)), shutdown.requested]);
      if (shutdown.isRequested()) return 1;
    }
  }
  consumer.on('event.error', (err) => logger.warn({ err: err.message }, 'Kafka client error'));
  producer.on('event.error', (err) => logger.warn({ err: err.message }, 'Kafka producer error'));

  const pipeline = new AggregatorPipeline({
    config,
    logger,
    metrics,
    consumer,
    producer,
    clickhouse,
    writer,
    createEngine: () =>
      new WindowingEngine({
        windowSizeMs: config.windowSizeSecs * 1000,
        maxOutOfOrdernessMs: config.maxOutOfOrderSecs * 1000,
        allowedLatenessMs: config.allowedLatenessSecs * 1000,
        anomalyThreshold: config.anomalyThreshold,
      }),
  });
  app.pipeline = pipeline;
  void shutdown.requested.then((signal) => {
    logger.info({ signal }, 'stopping: final flush and commit');
    pipeline.stop();
  });
  await pipeline.run();
  abort.abort();
  await disconnectClient(consumer);
  await disconnectClient(producer);
  await ops.close();
  logger.info('aggregator stopped');
  return 0;
});
