/**
 * One pipeline: its own Kafka consumer (a member of the group), DLQ producer,
 * ClickHouse client and windowing engine, reporting to the pool
 * (pipeline-pool.ts) through a channel. Each pipeline is what a whole
 * aggregator instance is, so several pipelines are exactly as correct as
 * several instances in one group.
 */
import Kafka from '@confluentinc/kafka-javascript';
import { createClickHouseClient, WindowRowWriter, type ReplicationState } from '@stream-analytics/clickhouse-sink';
import {
  baseKafkaConfig,
  connectClient,
  describeKafkaSecurityError,
  disconnectClient,
  KafkaSecurityError,
  ReliableProducer,
  watchKafkaSecurity,
  windowingConfigOf,
  type Logger,
} from '@stream-analytics/runtime';
import { createSchemaRegistry, RegistryDecoder } from '@stream-analytics/schema-registry';
import { StreamPipeline } from '@stream-analytics/stream-pipeline';
import { aggregateTopicPublisher, clickhouseResultSink, clickhouseWindowStateStore, consumeModeOf, kafkaRecordSource, metricsObserver } from './adapters';
import { clickhouseClientConfig, type AggregatorConfig } from './config';
import { createAggregatorMetrics } from './metrics';
import { startDeviceRollupJob, type DeviceRollupJob } from './device-rollup-job';
import { startRetentionJob, type RetentionJob } from './retention-job';
import { readDeviceSilence, registerSilentDevicesGauges } from './silent-devices-gauge';

/** How long a Kafka security failure keeps the pipeline unready after it was last reported. */
const KAFKA_FAULT_HOLD_MS = 30_000;

/** What the pool tells a pipeline. */
export type ToWorker = { type: 'stop' } | { type: 'metrics'; id: number };

/** What a pipeline tells the pool. */
export type FromWorker =
  | { type: 'status'; live: boolean; ready: boolean; reason?: string }
  | { type: 'metrics'; id: number; metrics: unknown[] };

export interface WorkerChannel {
  post(message: FromWorker): void;
  onMessage(handler: (message: ToWorker) => void): void;
}

/**
 * Consumer settings. The prefetch is bounded on purpose: librdkafka keeps each
 * fetch response in memory until its last message is consumed, so the fetch
 * sizes bound the native memory per pipeline as much as the queue limit does.
 * With packed batches the consuming thread drains 1 MB of queue in about 30 ms:
 * 8 MB queues and 256 KB partition fetches keep it fed when the machine is
 * busy (on an 8M-event backlog, docs/benchmarks.md: builds with them ran
 * 1.0-1.5 times as fast as with 1 MB and 64 KB under load, the same on a quiet
 * machine) for 10-25 MB more per pipeline.
 * fetch.queue.backoff.ms: once the queue limit is hit librdkafka waits this
 * long before fetching again; its default of 1 s left the pipeline idle for a
 * third of a catch-up.
 */
export function consumerConfig(config: AggregatorConfig, workerIndex: number): Kafka.ConsumerGlobalConfig {
  const memberSuffix = config.workers > 1 ? `-${workerIndex}` : '';
  return {
    ...baseKafkaConfig({ brokers: config.brokers, clientId: `aggregator-${process.pid}${memberSuffix}`, security: config.kafkaSecurity }),
    'group.id': config.group,
    // Static membership: each pipeline is its own member, so each needs its own id.
    ...(config.groupInstanceId ? { 'group.instance.id': `${config.groupInstanceId}${memberSuffix}` } : {}),
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    // Aborted transactional writes (e.g. by the DLQ replayer) are never counted.
    'isolation.level': 'read_committed',
    'partition.assignment.strategy': 'range,roundrobin',
    rebalance_cb: true,
    'session.timeout.ms': 15000,
    'heartbeat.interval.ms': 3000,
    'max.poll.interval.ms': 300000,
    // Bounded prefetch; with consumption paused this is all that is buffered.
    'queued.max.messages.kbytes': 8192,
    'fetch.queue.backoff.ms': 10,
    'max.partition.fetch.bytes': 262144,
    'fetch.max.bytes': 4194304,
    'fetch.wait.max.ms': 100,
  };
}

/** What readiness says about replicated ClickHouse when it is not fully healthy. */
function describeReplication(state: ReplicationState): string {
  const parts = [`ClickHouse writes through ${state.endpoint}`];
  if (state.unavailable.length > 0) parts.push(`not in use: ${state.unavailable.join(', ')}`);
  if (state.degraded) parts.push(`degraded since ${new Date(state.degraded.sinceMs).toISOString()}: ${state.degraded.reason}`);
  return parts.join('; ');
}

/** Runs one pipeline until the pool says stop; resolves with the exit code. */
export async function runPipelineWorker(
  config: AggregatorConfig,
  workerIndex: number,
  logger: Logger,
  channel: WorkerChannel,
  options: { processMetrics: boolean },
): Promise<number> {
  const metrics = createAggregatorMetrics(options);
  let stopRequested = false;
  let pipeline: StreamPipeline | undefined;
  let retention: RetentionJob | undefined;
  let deviceRollup: DeviceRollupJob | undefined;
  let wakeUp: () => void = () => undefined;
  let replication: ReplicationState | undefined;
  // A security failure during the run (credentials revoked, certificate rotated): librdkafka keeps
  // retrying and nothing is committed past what was written, but the pipeline is not ready.
  let kafkaFault: { sentence: string; at: number } | undefined;
  const kafkaFaulty = () => kafkaFault !== undefined && Date.now() - kafkaFault.at < KAFKA_FAULT_HOLD_MS;
  const status = (): FromWorker =>
    !pipeline
      ? { type: 'status', live: true, ready: false, reason: 'connecting to Kafka' }
      : kafkaFaulty()
        ? { type: 'status', live: pipeline.isLive(), ready: false, reason: kafkaFault?.sentence }
        : {
            type: 'status',
            live: pipeline.isLive(),
            ready: pipeline.isHealthy,
            reason: [pipeline.healthReason, replication && describeReplication(replication)].filter((r) => r).join('; ') || undefined,
          };
  channel.onMessage((message) => {
    if (message.type === 'stop') {
      stopRequested = true;
      pipeline?.stop();
      wakeUp();
    } else if (message.type === 'metrics') {
      void metrics.registry.getMetricsAsJSON().then((json) => channel.post({ type: 'metrics', id: message.id, metrics: json }));
    }
  });
  // The pool judges liveness by these reports: a pipeline whose event loop is stuck stops sending them.
  const statusTimer = setInterval(() => channel.post(status()), 1000);
  const unwatch: Array<() => void> = [];
  channel.post(status());

  const clickhouse = createClickHouseClient(
    clickhouseClientConfig(config, (state) => {
      replication = state.degraded || state.unavailable.length > 0 ? state : undefined;
      metrics.clickhouseDegraded.set(state.degraded ? 1 : 0);
      logger.warn({ endpoint: state.endpoint, unavailable: state.unavailable, degraded: state.degraded }, state.degraded ? 'ClickHouse degraded: inserts acknowledged without quorum' : 'ClickHouse endpoint state changed');
      channel.post(status());
    }),
  );
  const abort = new AbortController();
  const writer = new WindowRowWriter(clickhouse, {
    // A flush gives up after a few quick attempts; the pipeline then pauses
    // consumption and keeps retrying the flush with its own backoff.
    maxAttempts: 4,
    initialDelayMs: 200,
    maxDelayMs: 2000,
    signal: abort.signal,
    onRetry: (info) => logger.warn({ attempt: info.attempt, delayMs: info.delayMs, err: String((info.error as Error)?.message ?? info.error) }, 'ClickHouse write failed; retrying'),
  });

  const consumer = new Kafka.KafkaConsumer(consumerConfig(config, workerIndex), { 'auto.offset.reset': 'earliest' });
  consumer.setDefaultConsumeTimeout(100);
  // The 100 ms wait is for the first message of a batch only: a batch never waits for its last ones.
  (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
  const consumeMode = consumeModeOf(consumer, config.packedConsume);
  metrics.packedConsume.set(consumeMode === 'packed' ? 1 : 0);
  logger.info(
    { consumeMode },
    consumeMode === 'packed'
      ? 'consuming packed batches (consumePacked)'
      : config.packedConsume
        ? 'consuming message objects: this build of the Kafka client has no consumePacked (the install did not apply patches/)'
        : 'consuming message objects (KAFKA_PACKED_CONSUME=false)',
  );
  const producer = new Kafka.Producer({
    ...baseKafkaConfig({ brokers: config.brokers, clientId: `aggregator-dlq-${process.pid}${config.workers > 1 ? `-${workerIndex}` : ''}`, security: config.kafkaSecurity }),
    dr_cb: true,
    'enable.idempotence': true,
    acks: 'all',
    'compression.type': 'lz4',
    'linger.ms': 5,
    // Dead letters are never given up on: a flush waits for their acks.
    'message.timeout.ms': 0,
  } as Kafka.ProducerGlobalConfig);
  producer.setPollInterval(50);

  try {
    for (let attempt = 1; !stopRequested; attempt++) {
      try {
        await connectClient(consumer, config.brokers, 15000, config.kafkaSecurity);
        await connectClient(producer, config.brokers, 15000, config.kafkaSecurity);
        break;
      } catch (err) {
        // Wrong credentials or an untrusted certificate: retrying cannot help, so the start fails.
        if (err instanceof KafkaSecurityError) throw err;
        logger.error({ err: (err as Error).message, attempt }, 'Kafka not reachable; retrying in 5 s');
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
          setTimeout(resolve, 5000);
        });
      }
    }
    if (stopRequested) return 1;
    consumer.on('event.error', (err) => logger.warn({ err: err.message }, 'Kafka client error'));
    producer.on('event.error', (err) => logger.warn({ err: err.message }, 'Kafka producer error'));
    const onKafkaFault = (sentence: string) => {
      if (!kafkaFaulty() || kafkaFault!.sentence !== sentence) logger.error({ err: sentence }, 'Kafka refuses this client; retrying, not ready until it is accepted again');
      kafkaFault = { sentence, at: Date.now() };
      channel.post(status());
    };
    unwatch.push(watchKafkaSecurity(consumer, config.brokers, config.kafkaSecurity, onKafkaFault), watchKafkaSecurity(producer, config.brokers, config.kafkaSecurity, onKafkaFault));

    // ReliableProducer is the pipeline's OutputSink as it is (send + settled).
    const output = new ReliableProducer(producer);
    const windowing = windowingConfigOf(config);
    pipeline = new StreamPipeline({
      options: {
        topic: config.topic,
        dlqTopic: config.dlqTopic,
        windowing,
        flushIntervalMs: config.flushIntervalSecs * 1000,
        idleTimeoutMs: config.idleTimeoutSecs * 1000,
        batchSize: config.batchSize,
        aggregateRetentionDays: config.retention.aggregateDays,
      },
      source: kafkaRecordSource(consumer, config.topic, consumeMode),
      output,
      state: clickhouseWindowStateStore(clickhouse, writer),
      results: clickhouseResultSink(writer),
      publisher: aggregateTopicPublisher(clickhouse, output, config.aggTopic),
      logger,
      // JSON always; Avro and Protobuf through the registry's schemas, cached by id.
      ...(config.registry ? { decoder: new RegistryDecoder(createSchemaRegistry(config.registry)) } : {}),
      // Readiness must not trail the flush outcome (and clickhouse_up) by a report interval.
      observer: {
        ...metricsObserver(metrics, () => channel.post(status())),
        consumeFailed: (err) => {
          const sentence = describeKafkaSecurityError(err as { code?: number; message?: string }, config.brokers, config.kafkaSecurity);
          if (sentence) onKafkaFault(sentence);
        },
      },
    });
    if (stopRequested) pipeline.stop();
    channel.post(status());
    const holdsPartitionZero = () => pipeline?.holdsPartition(0) ?? false;
    retention = startRetentionJob(config, { clickhouse, isOwner: holdsPartitionZero, logger, metrics });
    deviceRollup = startDeviceRollupJob(config, { clickhouse, isOwner: holdsPartitionZero, logger, metrics });
    registerSilentDevicesGauges({ registry: metrics.registry, isOwner: holdsPartitionZero, read: () => readDeviceSilence(clickhouse), logger });
    await pipeline.run();
    return 0;
  } finally {
    unwatch.forEach((stop) => stop());
    clearInterval(statusTimer);
    abort.abort();
    await retention?.stop();
    await deviceRollup?.stop();
    await disconnectClient(consumer);
    await disconnectClient(producer);
    await clickhouse.close();
  }
}
