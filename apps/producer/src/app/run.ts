/**
 * The producer's run: connect (bounded), then a paced send loop that never
 * awaits individual messages, then a bounded drain and an honest summary.
 *
 * Accounting. Every generated event is either rejected by librdkafka at
 * produce() time (failed) or sent; every sent event ends acknowledged by the
 * broker (acks=all), failed (error delivery report after librdkafka's
 * retries), or still in flight when the drain deadline passes (undelivered).
 * Acknowledgements are counted either from one delivery report per message
 * (--delivery-reports all) or, by default, from librdkafka's statistics:
 * acked = messages produced to the topic's partitions - messages still in
 * librdkafka's queues - failed, taken from one consistent snapshot per second;
 * after a successful final flush nothing is queued, so acked = sent - failed
 * exactly.
 *
 * Backpressure: librdkafka's queue holds at most --max-in-flight messages;
 * beyond that produce() fails with QUEUE_FULL, the event is kept, and the loop
 * waits for deliveries to free space. Nothing is dropped.
 */
import { performance } from 'node:perf_hooks';
import Kafka from '@confluentinc/kafka-javascript';
import { EventGenerator, type BinaryFormat, type EventEncoder, type GeneratedPayload, type TelemetryEvent, type WireEvent } from '@stream-analytics/event-schema';
import { startEncoder } from '@stream-analytics/schema-registry';
import { describeKafkaSecurityError, startOpsServer, type Logger, type ShutdownSignal } from '@stream-analytics/runtime';
import { Accounting, createMetrics } from './accounting';
import { generatorOptions, type ProducerConfig } from './config';
import { connectProducer, producerSettings, type NativeProducer } from './kafka';
import { Pacer } from './pacer';

const QUEUE_FULL = Kafka.CODES.ERRORS.ERR__QUEUE_FULL;
/** Events per send-loop step when unthrottled (then the loop yields to I/O). */
const UNTHROTTLED_CHUNK = 2000;
/** Longest sleep between pacer ticks. */
const TICK_MS = 5;
/** Sleep after QUEUE_FULL before trying again. */
const QUEUE_FULL_WAIT_MS = 2;
/** Flush slice: the drain re-checks signals and deadlines this often. */
const FLUSH_SLICE_MS = 500;

export interface Summary {
  topic: string;
  partitions: number;
  seed: number;
  startTime: string;
  targetRate: number;
  generated: number;
  sent: number;
  acked: number;
  failed: number;
  deliveryFailed: number;
  rejected: number;
  undelivered: number;
  /** Seconds from the first send until everything was acknowledged (or the drain gave up). */
  elapsedSec: number;
  /** Seconds spent sending (first to last produce call). */
  sendSec: number;
  /** Acknowledged events per second over elapsedSec. */
  rate: number;
  avgMessageBytes: number;
  faults: Record<string, number>;
  stoppedBy: 'count' | 'duration' | 'signal' | 'fatal';
  deliveryReports: 'errors' | 'all';
  lastError?: string;
}

export interface RunResult {
  exitCode: number;
  summary?: Summary;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

interface LibrdkafkaStats {
  msg_cnt: number;
  topics?: Record<string, { partitions: Record<string, { msgs: number }> }>;
}

export async function runProducer(cfg: ProducerConfig, logger: Logger, shutdown: ShutdownSignal): Promise<RunResult> {
  const acc = new Accounting();
  const perMessageReports = cfg.deliveryReports === 'all';
  let connected = false;
  let fatal: string | undefined;
  const registry = createMetrics(acc, cfg.rate);
  const ops = await startOpsServer({
    port: cfg.metricsPort,
    registry,
    health: {
      live: () => fatal === undefined,
      ready: () => (connected ? { ready: true } : { ready: false, reason: fatal ?? 'not connected to Kafka' }),
    },
  });

  const producer: NativeProducer = new Kafka.Producer(producerSettings(cfg));

  // Delivery reports: per message in "all" mode, failures only in "errors" mode. Kept minimal (hot path).
  let lastDeliveryLog = 0;
  producer.on('delivery-report', (err) => {
    if (err) {
      acc.deliveryFailed++;
      // A missing permission (ACL) says so in one sentence.
      acc.lastError = describeKafkaSecurityError(err, cfg.brokers, cfg.kafkaSecurity) ?? err.message;
      const now = Date.now();
      if (now - lastDeliveryLog > 5000) {
        lastDeliveryLog = now;
        logger.error({ code: err.code, error: acc.lastError, failed: acc.deliveryFailed }, 'delivery failed');
      }
    } else acc.acked++;
    if (wake !== undefined && acc.inFlight <= wakeAt) {
      const w = wake;
      wake = undefined;
      w();
    }
  });
  // In "all" mode delivery reports queue up in the client binding after they
  // leave librdkafka's queue, so the loop also bounds what JS has not yet seen.
  let wake: (() => void) | undefined;
  let wakeAt = -1;
  const waitForInFlight = (target: number, maxMs: number) =>
    new Promise<void>((resolve) => {
      if (acc.inFlight <= target) return resolve();
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, maxMs);
      wakeAt = target;
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  // Statistics: the ack count in "errors" mode (one consistent librdkafka snapshot per second).
  // completed = produced to the topic's partitions - still in librdkafka (acked, or failed and reported).
  // While deliveries fail, reports still on their way to JS make this run ahead for up to a second.
  let statsSeen = 0;
  let lastStats: { completed: number } | undefined;
  const applyStats = (snapshot: { completed: number } | undefined) => {
    if (snapshot && !perMessageReports) acc.observeAcked(snapshot.completed - acc.deliveryFailed);
  };
  producer.on('event.stats', (event: { message: string }) => {
    statsSeen++;
    if (perMessageReports) return;
    let stats: LibrdkafkaStats;
    try {
      stats = JSON.parse(event.message) as LibrdkafkaStats;
    } catch {
      return;
    }
    let produced = 0;
    for (const [partition, p] of Object.entries(stats.topics?.[cfg.topic]?.partitions ?? {})) if (Number(partition) >= 0) produced += p.msgs;
    lastStats = { completed: produced - stats.msg_cnt };
    applyStats(lastStats);
  });

  let lastClientErrorLog = 0;
  producer.on('event.error', (err: Kafka.LibrdKafkaError) => {
    if (err.isFatal) {
      fatal = describeKafkaSecurityError(err, cfg.brokers, cfg.kafkaSecurity) ?? err.message;
      logger.error({ code: err.code, error: fatal }, 'fatal producer error; stopping');
      return;
    }
    if (!connected) return; // reported by connectProducer
    const now = Date.now();
    if (now - lastClientErrorLog > 5000) {
      lastClientErrorLog = now;
      logger.warn({ code: err.code, error: err.message, queue: acc.inFlight }, 'Kafka client error (librdkafka keeps retrying)');
    }
  });

  let partitions: number;
  try {
    partitions = await connectProducer(producer, cfg);
  } catch (err) {
    await ops.close();
    await disconnect(producer, 2000);
    throw err;
  }
  connected = true;
  producer.setPollInBackground(true);

  let encoder: EventEncoder | undefined;
  try {
    encoder = await binaryEncoder(cfg, logger, shutdown);
  } catch (err) {
    await ops.close();
    await disconnect(producer, 2000);
    throw err;
  }
  const gen = new EventGenerator(generatorOptions(cfg));
  // Binary formats re-encode each valid event; malformed payloads stay as generated (they are dead letters either way).
  const nextPayload = (): GeneratedPayload => {
    if (encoder === undefined) return gen.nextPayload();
    const r = gen.next();
    return r.event === undefined ? r : { index: r.index, key: r.key, value: encoder.encode(cfg.schemaVersion === 2 ? withFirmwareFields(r.event, r.index) : r.event), ...(r.fault ? { fault: r.fault } : {}) };
  };
  const startTime = new Date(cfg.startTimeMs).toISOString();
  logger.info(
    {
      brokers: cfg.brokers,
      topic: cfg.topic,
      format: cfg.format,
      ...(encoder ? { schemaId: encoder.schemaId, schemaVersion: cfg.schemaVersion } : {}),
      partitions,
      rate: cfg.rate,
      eventRate: cfg.eventRate,
      devices: cfg.devices,
      users: cfg.users,
      count: cfg.count,
      duration: cfg.duration,
      seed: cfg.seed,
      startTime,
      faults: { invalidFraction: cfg.invalidFraction, invalidKinds: cfg.invalidKinds, outOfOrderFraction: cfg.outOfOrderFraction, maxOutOfOrderMs: cfg.maxOutOfOrderMs, lateFraction: cfg.lateFraction },
      compression: cfg.compression,
      lingerMs: cfg.lingerMs,
      deliveryReports: cfg.deliveryReports,
      metricsPort: ops.port,
    },
    'started',
  );

  const t0 = performance.now();
  const pacer = new Pacer(cfg.rate, t0);
  // With a rate, --duration S means exactly rate*S events (sent over S seconds when keeping up).
  const limit = Math.min(cfg.count ?? Infinity, cfg.duration !== undefined && cfg.rate > 0 ? Math.round(cfg.rate * cfg.duration) : Infinity);
  const endAt = cfg.duration !== undefined ? t0 + cfg.duration * 1000 + (cfg.rate > 0 ? 1000 : 0) : Infinity;

  let lastStatusAt = t0;
  let lastStatusSent = 0;
  const status = setInterval(() => {
    const now = performance.now();
    acc.sendRate = Math.round(((acc.sent - lastStatusSent) * 1000) / (now - lastStatusAt));
    lastStatusAt = now;
    lastStatusSent = acc.sent;
    const behind = cfg.rate > 0 ? Math.max(0, Math.min(pacer.dueBy(now), limit) - acc.generated) : undefined;
    logger.info({ rate: acc.sendRate, sent: acc.sent, acked: acc.acked, failed: acc.failed, queue: acc.inFlight, ...(behind !== undefined ? { behind } : {}) }, 'status');
  }, cfg.statusInterval * 1000);

  // ---- send loop ----
  const keys = new Map<string, Buffer>(); // device_id -> key bytes (saves a UTF-8 conversion per produce)
  let pending: GeneratedPayload | undefined;
  let lastSendAt = t0;
  let stoppedBy: Summary['stoppedBy'] = 'count';
  const topic = cfg.topic;
  for (;;) {
    if (fatal !== undefined) {
      stoppedBy = 'fatal';
      break;
    }
    if (shutdown.isRequested()) {
      stoppedBy = 'signal';
      break;
    }
    if (pending === undefined && acc.generated >= limit) {
      stoppedBy = cfg.count !== undefined && acc.generated >= cfg.count ? 'count' : 'duration';
      break;
    }
    const now = performance.now();
    if (now >= endAt) {
      stoppedBy = 'duration';
      break;
    }
    if (perMessageReports && acc.inFlight >= cfg.maxInFlight) {
      await waitForInFlight(Math.floor(cfg.maxInFlight * 0.9), 50);
      continue;
    }
    const due = Math.min(pacer.dueBy(now), limit) - acc.generated + (pending ? 1 : 0);
    if (due <= 0) {
      await sleep(Math.max(1, Math.min(TICK_MS, pacer.dueAt(acc.generated) - now)));
      continue;
    }
    let budget = Math.min(due, cfg.rate > 0 ? Number.MAX_SAFE_INTEGER : UNTHROTTLED_CHUNK);
    let queueFull = false;
    while (budget-- > 0) {
      let rec = pending;
      if (rec === undefined) {
        rec = nextPayload();
        acc.generated++;
        if (rec.fault !== undefined) acc.countFault(rec.fault);
      }
      let key = keys.get(rec.key);
      if (key === undefined) keys.set(rec.key, (key = Buffer.from(rec.key)));
      try {
        producer.produce(topic, null, rec.value, key);
        acc.sent++;
        acc.bytesSent += rec.value.length;
        pending = undefined;
      } catch (err) {
        const e = err as Kafka.LibrdKafkaError;
        if (e.code === QUEUE_FULL) {
          pending = rec;
          queueFull = true;
          break;
        }
        pending = undefined;
        acc.rejected++;
        acc.lastError = e.message;
        logger.error({ code: e.code, error: e.message }, 'produce() rejected an event');
      }
    }
    lastSendAt = performance.now();
    if (queueFull) await sleep(QUEUE_FULL_WAIT_MS);
    else await yieldToIo();
  }

  // ---- drain: bounded flush, then settle the counts ----
  const giveUpAt = () => {
    const normal = stoppedBy === 'signal' ? Infinity : t0 + (lastSendAt - t0) + (cfg.deliveryTimeout + 10) * 1000;
    return shutdown.isRequested() ? Math.min(normal, (signalAt ??= performance.now()) + cfg.shutdownTimeout * 1000) : normal;
  };
  let signalAt: number | undefined = stoppedBy === 'signal' ? performance.now() : undefined;
  logger.info({ queue: acc.inFlight, stoppedBy }, 'flushing in-flight events');
  let flushed = false;
  while (fatal === undefined) {
    const remaining = giveUpAt() - performance.now();
    if (remaining <= 0) break;
    flushed = await flush(producer, Math.max(1, Math.min(FLUSH_SLICE_MS, remaining)));
    if (flushed) break;
  }
  if (perMessageReports) {
    // librdkafka is done; wait until JS has seen every delivery report.
    while (acc.inFlight > 0 && fatal === undefined) {
      const remaining = giveUpAt() - performance.now();
      if (remaining <= 0) break;
      await waitForInFlight(0, Math.min(FLUSH_SLICE_MS, remaining));
    }
  }
  const endedAt = performance.now();
  clearInterval(status);
  // librdkafka has handed every report it served to the client binding, which
  // passes them to JS 100 per event-loop turn: wait until the count settles.
  await settleDeliveryReports(acc);
  if (!perMessageReports) {
    if (flushed) {
      acc.observeAcked(acc.sent - acc.deliveryFailed); // nothing left in librdkafka: every event not reported failed was acknowledged
    } else {
      // Count from a statistics snapshot taken after the last produce() and after the reports above.
      const seen = statsSeen;
      const until = performance.now() + 3000;
      while (statsSeen < seen + 2 && performance.now() < until) await sleep(20);
      await settleDeliveryReports(acc);
      applyStats(lastStats);
    }
  }
  const undelivered = acc.inFlight;
  if (undelivered > 0) {
    logger.error(
      { undelivered, waitedSec: Math.round((endedAt - lastSendAt) / 100) / 10 },
      `${undelivered} events were not acknowledged before giving up; they may or may not have reached the broker`,
    );
  }

  const elapsedSec = (endedAt - t0) / 1000;
  const summary: Summary = {
    topic,
    partitions,
    seed: cfg.seed,
    startTime,
    targetRate: cfg.rate,
    generated: acc.generated,
    sent: acc.sent,
    acked: acc.acked,
    failed: acc.failed,
    deliveryFailed: acc.deliveryFailed,
    rejected: acc.rejected,
    undelivered,
    elapsedSec: Math.round(elapsedSec * 1000) / 1000,
    sendSec: Math.round(lastSendAt - t0) / 1000,
    rate: elapsedSec > 0 ? Math.round(acc.acked / elapsedSec) : 0,
    avgMessageBytes: acc.sent > 0 ? Math.round((acc.bytesSent / acc.sent) * 10) / 10 : 0,
    faults: Object.fromEntries(acc.faults),
    stoppedBy,
    deliveryReports: cfg.deliveryReports as Summary['deliveryReports'],
    ...(acc.lastError ? { lastError: acc.lastError } : {}),
  };
  const ok = fatal === undefined && summary.failed === 0 && undelivered === 0 && (cfg.count === undefined || summary.acked === cfg.count);
  const exitCode = ok ? 0 : 1;
  (ok ? logger.info.bind(logger) : logger.error.bind(logger))({ ...summary, exitCode }, 'summary');

  connected = false;
  await disconnect(producer, 5000);
  await ops.close();
  return { exitCode, summary };
}

/** Waits until no delivery report has arrived for several event-loop turns (at most 5 s). */
async function settleDeliveryReports(acc: Accounting): Promise<void> {
  const until = performance.now() + 5000;
  let seen = acc.acked + acc.deliveryFailed;
  let quietTurns = 0;
  const started = performance.now();
  while (performance.now() < until) {
    await yieldToIo();
    const now = acc.acked + acc.deliveryFailed;
    quietTurns = now === seen ? quietTurns + 1 : 0;
    seen = now;
    if (quietTurns >= 10 && performance.now() - started >= 20) return;
    if (quietTurns >= 3) await sleep(2);
  }
}

/** librdkafka flush with a timeout; true when nothing is left in its queues. */
function flush(producer: NativeProducer, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    try {
      producer.flush(Math.round(timeoutMs), (err) => resolve(!err));
    } catch {
      resolve(false);
    }
  });
}

/** Disconnects, giving up after `timeoutMs` (e.g. broker gone, messages stuck). */
function disconnect(producer: NativeProducer, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    try {
      producer.disconnect(Math.min(1000, timeoutMs), () => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/** v2's optional fields, as a newer firmware reports them (deterministic from the record index). */
function withFirmwareFields(e: TelemetryEvent, index: number): WireEvent {
  return { ...e, battery_level: 20 + (index % 80), firmware_version: '2.0.0' };
}

/** The encoder of --format avro|protobuf (undefined for json); retries while the registry does not answer. */
function binaryEncoder(cfg: ProducerConfig, logger: Logger, shutdown: ShutdownSignal): Promise<EventEncoder | undefined> {
  if (cfg.format === 'json' || cfg.registry === undefined) return Promise.resolve(undefined);
  return startEncoder(cfg.registry, cfg.topic, cfg.format as BinaryFormat, cfg.schemaVersion as 1 | 2, {
    shouldStop: () => shutdown.isRequested(),
    onRetry: (err, attempt, retryInMs) => logger.warn({ err: err.message, attempt, retryInMs }, 'schema registry unreachable; retrying'),
  });
}
