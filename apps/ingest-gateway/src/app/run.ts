/**
 * The gateway's run: Kafka first (bounded connect, topics checked), then the
 * HTTP and MQTT ingresses, a status line every few seconds, and on SIGTERM a
 * drain: stop taking messages and requests, wait until Kafka acknowledged
 * everything in flight (acknowledging it: PUBACKs, responses), then close.
 */
import type { BinaryFormat } from '@stream-analytics/event-schema';
import { startEncoder } from '@stream-analytics/schema-registry';
import fs from 'node:fs';
import os from 'node:os';
import { startOpsServer, type Logger, type ShutdownSignal } from '@stream-analytics/runtime';
import type { GatewayConfig } from './config';
import { HttpIngress } from './http-ingress';
import { EventSink } from './kafka';
import { createMetrics } from './metrics';
import { MqttIngress } from './mqtt-ingress';
import { DeadLetterSequence, type Router } from './route';
import { parseTokensFile, type TokenStore } from './tokens';

export async function runGateway(cfg: GatewayConfig, logger: Logger, shutdown: ShutdownSignal): Promise<number> {
  const tokens: TokenStore | undefined = cfg.httpAuth === 'tokens' ? parseTokensFile(fs.readFileSync(cfg.tokensFile!, 'utf8'), cfg.tokensFile) : undefined;
  const sink = new EventSink(cfg, logger);
  const metrics = createMetrics(sink.inFlight, () => sink.available);
  sink.onDeliveryFailed = () => metrics.counters.deliveryFailures++;
  let mqtt: MqttIngress | undefined;
  let started = false;
  const ops = await startOpsServer({
    port: cfg.metricsPort,
    registry: metrics.registry,
    health: {
      live: () => sink.fatal === undefined,
      ready: () => {
        if (!started) return { ready: false, reason: 'starting' };
        if (!sink.available) return { ready: false, reason: sink.unavailableReason };
        if (mqtt && !mqtt.connected) return { ready: false, reason: 'MQTT broker not connected' };
        return { ready: true };
      },
    },
  });
  const http: { ingress?: HttpIngress } = {};
  try {
    await sink.connect();
    // Devices send JSON; with --format avro|protobuf valid events go to the raw topic re-encoded.
    const encoder =
      cfg.format === 'json' || cfg.registry === undefined
        ? undefined
        : await startEncoder(cfg.registry, cfg.topic, cfg.format as BinaryFormat, 1, {
            onRetry: (err, attempt, retryInMs) => logger.warn({ err: err.message, attempt, retryInMs }, 'schema registry unreachable; retrying'),
          });
    const router: Router = { rawTopic: cfg.topic, dlqTopic: cfg.dlqTopic, gatewayId: `${os.hostname()}/${process.pid}`, sink, sequence: new DeadLetterSequence(), encoder };
    http.ingress = new HttpIngress(cfg, router, sink, tokens, metrics, logger);
    const httpPort = await http.ingress.start();
    if (cfg.mqttUrl) {
      mqtt = new MqttIngress(cfg, router, metrics, logger);
      await mqtt.start();
    }
    started = true;
    logger.info(
      { brokers: cfg.brokers, topic: cfg.topic, dlqTopic: cfg.dlqTopic, format: cfg.format, ...(encoder ? { schemaId: encoder.schemaId } : {}), httpPort, httpAuth: cfg.httpAuth, tokens: tokens?.size, mqtt: cfg.mqttUrl ? cfg.mqttTopic : 'disabled', metricsPort: ops.port },
      'started',
    );
  } catch (err) {
    await http.ingress?.stop();
    await mqtt?.stop();
    await sink.close();
    await ops.close();
    throw err;
  }

  const c = metrics.counters;
  const status = setInterval(() => {
    logger.info(
      {
        received: c.received,
        accepted: c.accepted,
        acknowledged: c.acknowledged,
        rejected: { mqtt: Object.fromEntries(c.rejected.mqtt), http: Object.fromEntries(c.rejected.http) },
        inFlight: sink.inFlight.events,
        kafkaAvailable: sink.available,
      },
      'status',
    );
  }, cfg.statusInterval * 1000);
  status.unref();

  const fatal = new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (sink.fatal !== undefined) {
        clearInterval(t);
        resolve();
      }
    }, 500);
    t.unref();
    void shutdown.requested.then(() => clearInterval(t));
  });
  await Promise.race([shutdown.requested, fatal]);
  logger.info({ inFlight: sink.inFlight.events }, 'draining');
  http.ingress?.beginDrain();
  await mqtt?.beginDrain();
  const drained = await sink.drain(Math.round(cfg.shutdownTimeout * 1000));
  clearInterval(status);
  await mqtt?.stop();
  await http.ingress?.stop();
  await sink.close();
  await ops.close();
  const summary = { received: c.received, accepted: c.accepted, acknowledged: c.acknowledged, undrained: sink.inFlight.events, droppedAcks: mqtt?.droppedAcks ?? 0 };
  if (!drained || sink.fatal !== undefined) {
    logger.error(summary, 'stopped with events not acknowledged by Kafka (MQTT redelivers them; HTTP clients got 503)');
    return 1;
  }
  logger.info(summary, 'stopped');
  return 0;
}
