/**
 * The producer's MQTT mode (--mqtt-url): the same seeded events, published as
 * a device fleet would, one MQTT message per event to
 * <prefix>/<device_id>/telemetry with QoS 1, paced like the Kafka mode and
 * bounded by --max-in-flight unacknowledged publishes. The ingest gateway
 * takes them from the broker into Kafka. One connection carries every device
 * (a simulator, not a fleet of sockets).
 */
import { performance } from 'node:perf_hooks';
import { EventGenerator } from '@stream-analytics/event-schema';
import { connectMqtt, mqttConnectionOf, redactUrl, type Logger, type ShutdownSignal } from '@stream-analytics/runtime';
import { generatorOptions, type ProducerConfig } from './config';
import { Pacer } from './pacer';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface MqttSummary {
  mqttUrl: string;
  generated: number;
  acked: number;
  failed: number;
  undelivered: number;
  elapsedSec: number;
  rate: number;
  stoppedBy: 'count' | 'duration' | 'signal';
}

export async function runMqttProducer(cfg: ProducerConfig, logger: Logger, shutdown: ShutdownSignal): Promise<number> {
  const conn = mqttConnectionOf(cfg.mqttUrl, cfg);
  const client = await connectMqtt(conn, { clientId: `producer-${process.pid}`, clean: true }, Math.round(cfg.mqttConnectTimeout * 1000));
  const gen = new EventGenerator(generatorOptions(cfg));
  logger.info({ mqttUrl: redactUrl(cfg.mqttUrl), topic: `${cfg.mqttTopicPrefix}/<device_id>/telemetry`, rate: cfg.rate, devices: cfg.devices, count: cfg.count, seed: cfg.seed }, 'started (MQTT)');
  let inFlight = 0;
  let acked = 0;
  let failed = 0;
  let generated = 0;
  let wake: (() => void) | undefined;
  const t0 = performance.now();
  const pacer = new Pacer(cfg.rate, t0);
  const limit = Math.min(cfg.count ?? Infinity, cfg.duration !== undefined && cfg.rate > 0 ? Math.round(cfg.rate * cfg.duration) : Infinity);
  const endAt = cfg.duration !== undefined ? t0 + cfg.duration * 1000 + (cfg.rate > 0 ? 1000 : 0) : Infinity;
  const status = setInterval(() => logger.info({ sent: generated, acked, failed, inFlight }, 'status'), cfg.statusInterval * 1000);
  let stoppedBy: MqttSummary['stoppedBy'] = 'count';
  for (;;) {
    if (shutdown.isRequested()) {
      stoppedBy = 'signal';
      break;
    }
    if (generated >= limit) {
      stoppedBy = cfg.count !== undefined && generated >= cfg.count ? 'count' : 'duration';
      break;
    }
    const now = performance.now();
    if (now >= endAt) {
      stoppedBy = 'duration';
      break;
    }
    if (inFlight >= cfg.maxInFlight) {
      await new Promise<void>((resolve) => (wake = resolve));
      continue;
    }
    const due = Math.min(pacer.dueBy(now), limit, generated + cfg.maxInFlight - inFlight, generated + 2000) - generated;
    if (due <= 0) {
      await sleep(Math.max(1, Math.min(5, pacer.dueAt(generated) - now)));
      continue;
    }
    for (let i = 0; i < due; i++) {
      const rec = gen.nextPayload();
      generated++;
      inFlight++;
      client.publish(`${cfg.mqttTopicPrefix}/${rec.key}/telemetry`, rec.value, { qos: 1 }, (err) => {
        inFlight--;
        if (err) failed++;
        else acked++;
        const w = wake;
        wake = undefined;
        w?.();
      });
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const giveUpAt = performance.now() + cfg.shutdownTimeout * 1000;
  while (inFlight > 0 && performance.now() < giveUpAt) await sleep(20);
  clearInterval(status);
  const elapsedSec = (performance.now() - t0) / 1000;
  const summary: MqttSummary = {
    mqttUrl: redactUrl(cfg.mqttUrl),
    generated,
    acked,
    failed,
    undelivered: inFlight,
    elapsedSec: Math.round(elapsedSec * 1000) / 1000,
    rate: elapsedSec > 0 ? Math.round(acked / elapsedSec) : 0,
    stoppedBy,
  };
  const ok = failed === 0 && inFlight === 0 && (cfg.count === undefined || acked === cfg.count);
  (ok ? logger.info.bind(logger) : logger.error.bind(logger))({ ...summary, exitCode: ok ? 0 : 1 }, 'summary');
  await client.endAsync().catch(() => undefined);
  return ok ? 0 : 1;
}
