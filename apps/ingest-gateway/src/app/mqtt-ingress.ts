/**
 * MQTT ingress: a QoS 1 subscription (optionally shared, $share/<group>/...)
 * on a persistent session, each message acknowledged (PUBACK) only once Kafka
 * acknowledged every record it produced.
 *
 * Acknowledgement without head-of-line blocking. MQTT.js processes incoming
 * packets one at a time: the next PUBLISH is handled only after the current
 * one's handleMessage callback, and the PUBACK is written in that callback.
 * Waiting there for Kafka would allow one message per Kafka round trip. So
 * handleMessage hands the message to Kafka and lets MQTT.js move on at once
 * without writing a PUBACK (its "handler failed" path), and the gateway
 * writes the PUBACK itself when the message's last record is acknowledged.
 * The broker's in-flight window (MQTT 5 Receive Maximum, else the broker's
 * max_inflight_messages) should bound how many messages wait at once; the
 * gateway does not rely on it (Mosquitto 2.0.11 sends far beyond it once
 * PUBACKs flow). When --mqtt-receive-maximum messages wait, the gateway
 * holds MQTT.js's callback of the last one: MQTT.js stops reading, TCP flow
 * control stops the broker, which keeps the rest. Reading resumes when half
 * the window is acknowledged. While reading is held, a PINGRESP is not read
 * either: a Kafka outage longer than the keepalive (--mqtt-keepalive) makes
 * MQTT.js reconnect, and the broker then redelivers the waiting window
 * (duplicates once Kafka is back).
 *
 * A PUBACK belongs to the connection the PUBLISH came on: after a reconnect
 * the broker redelivers every unacknowledged message (persistent session), so
 * acknowledgements still pending from the old connection are dropped, and
 * those messages arrive again (duplicates on the raw topic, counted by the
 * aggregator's exactness only from the raw topic on). A message whose record
 * failed in Kafka is not acknowledged; the gateway reconnects so the broker
 * redelivers it.
 */
import type { IPublishPacket } from 'mqtt';
import { connectMqtt, mqttConnectionOf, redactUrl, type IClientOptions, type Logger, type MqttClient } from '@stream-analytics/runtime';
import { Ingest, type IngestOutcome } from './acks';
import type { GatewayConfig } from './config';
import type { GatewayMetrics } from './metrics';
import { splitPayload } from './payload';
import { routeItems, validateItems, type Router } from './route';

/** Tells MQTT.js to go on with the next packet without writing a PUBACK (see above). */
const ACK_DEFERRED = Object.assign(new Error('acknowledgement deferred to Kafka delivery'), { deferred: true });

export function subscriptionFilter(topic: string, shareGroup: string): string {
  return shareGroup ? `$share/${shareGroup}/${topic}` : topic;
}

export class MqttIngress {
  private client: MqttClient | undefined;
  /** Incremented on every connection loss: PUBACKs of older connections are dropped. */
  private generation = 0;
  private draining = false;
  private reconnectScheduled = false;
  /** Messages handed to Kafka and not yet acknowledged (or failed). */
  private waiting = 0;
  /** MQTT.js's callback held while the window is full (reading paused). */
  private held: (() => void) | undefined;
  private corked = false;
  droppedAcks = 0;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly router: Router,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  async start(): Promise<void> {
    const v5 = this.cfg.mqttProtocolVersion === 5;
    const options: IClientOptions = {
      clientId: this.cfg.mqttClientId,
      clean: false,
      protocolVersion: v5 ? 5 : 4,
      ...(v5 ? { properties: { sessionExpiryInterval: this.cfg.mqttSessionExpiry, receiveMaximum: this.cfg.mqttReceiveMaximum } } : {}),
      keepalive: this.cfg.mqttKeepalive,
      resubscribe: true,
    };
    const conn = mqttConnectionOf(this.cfg.mqttUrl, this.cfg);
    const client = await connectMqtt(conn, options, Math.round(this.cfg.mqttConnectTimeout * 1000), (c) => {
      this.client = c;
      c.handleMessage = (packet, callback) => this.onPublish(packet, callback);
      c.on('close', () => {
        this.generation++;
      });
    });
    client.on('connect', (connack) => {
      this.reconnectScheduled = false;
      this.logger.info({ sessionPresent: connack.sessionPresent }, 'MQTT connected');
    });
    client.on('offline', () => this.logger.warn({ url: redactUrl(conn.url) }, 'MQTT broker unreachable; reconnecting'));
    client.on('error', (err) => this.logger.warn({ error: err.message }, 'MQTT client error'));
    const filter = subscriptionFilter(this.cfg.mqttTopic, this.cfg.mqttShareGroup);
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    const refused = granted.find((g) => g.qos !== 1 && g.qos !== 0);
    if (refused) throw new Error(`The MQTT broker refused the subscription to ${filter} (code ${refused.qos}).`);
    this.logger.info({ url: redactUrl(conn.url), filter, clientId: this.cfg.mqttClientId, protocolVersion: options.protocolVersion }, 'MQTT subscribed');
  }

  private onPublish(packet: IPublishPacket, callback: (error?: Error) => void): void {
    if (this.draining) {
      // Not taken: the broker redelivers it to the next session (or another group member).
      callback(packet.qos > 0 ? ACK_DEFERRED : undefined);
      return;
    }
    const receivedAtMs = Date.now();
    const generation = this.generation;
    const messageId = packet.messageId;
    const needsAck = packet.qos > 0 && messageId !== undefined;
    if (needsAck) this.waiting++;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const ingest = new Ingest(receivedAtMs, (outcome) => this.onComplete(outcome, generation, needsAck ? messageId : undefined));
    const { items } = splitPayload(payload);
    const results = validateItems(items);
    const counters = this.metrics.counters;
    counters.received.mqtt += items.length;
    const rejected = routeItems(this.router, items, results, { transport: 'mqtt', topic: packet.topic }, receivedAtMs, ingest);
    counters.accepted.mqtt += items.length - rejected.length;
    for (const r of rejected) counters.reject('mqtt', r.reason);
    ingest.seal();
    if (needsAck && this.waiting >= this.cfg.mqttReceiveMaximum && !ingest.isComplete) {
      this.metrics.counters.mqttPauses++;
      this.held = () => callback(ACK_DEFERRED);
      return;
    }
    callback(needsAck ? ACK_DEFERRED : undefined);
  }

  private onComplete(outcome: IngestOutcome, generation: number, messageId: number | undefined): void {
    try {
      this.acknowledge(outcome, generation, messageId);
    } finally {
      // After this message's PUBACK is written: settling may resume reading.
      if (messageId !== undefined) this.settleWaiting();
    }
  }

  private acknowledge(outcome: IngestOutcome, generation: number, messageId: number | undefined): void {
    const counters = this.metrics.counters;
    if (outcome.failed > 0) {
      counters.unacknowledged.mqtt++;
      this.logger.error({ failed: outcome.failed, error: outcome.error }, 'Kafka failed records of an MQTT message; not acknowledged, reconnecting for redelivery');
      this.scheduleReconnect();
      return;
    }
    if (messageId === undefined) return;
    const client = this.client;
    if (!client || generation !== this.generation || !client.connected) {
      this.droppedAcks++;
      return;
    }
    // Delivery reports arrive in batches: write the PUBACKs of one batch in one system call.
    const stream = client.stream;
    if (!this.corked && stream) {
      this.corked = true;
      stream.cork();
      process.nextTick(() => {
        this.corked = false;
        stream.uncork();
      });
    }
    (client as unknown as { _sendPacket(p: object, cb: () => void, put: () => void, noStore: boolean): void })._sendPacket(
      { cmd: 'puback', messageId, reasonCode: 0 },
      () => undefined,
      () => undefined,
      true,
    );
    counters.acknowledged.mqtt++;
    this.metrics.observeAck('mqtt', outcome.latencyMs / 1000);
  }

  private settleWaiting(): void {
    this.waiting--;
    if (this.held && this.waiting <= this.cfg.mqttReceiveMaximum / 2) {
      const resume = this.held;
      this.held = undefined;
      resume();
    }
  }

  private scheduleReconnect(): void {
    if (this.reconnectScheduled || this.draining || !this.client) return;
    this.reconnectScheduled = true;
    // Closing the stream makes MQTT.js reconnect; the broker then redelivers what was not acknowledged.
    this.client.stream?.destroy();
  }

  /**
   * Stops taking messages; those taken are still acknowledged until stop().
   * In a share group the gateway first unsubscribes, so the broker sends the
   * group's next messages to the other members instead of queueing them in
   * this session (which a replacement pod, with another client id, would
   * never resume); what arrived before the UNSUBACK is processed as usual.
   * Alone, it stays subscribed: the broker queues for its next start.
   */
  async beginDrain(): Promise<void> {
    const client = this.client;
    if (this.cfg.mqttShareGroup && client?.connected) {
      const filter = subscriptionFilter(this.cfg.mqttTopic, this.cfg.mqttShareGroup);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.unsubscribeAsync(filter).then(
          () => this.logger.info({ filter }, 'MQTT unsubscribed from the share group; draining'),
          (err: Error) => this.logger.warn({ error: err.message }, 'MQTT unsubscribe failed; draining anyway'),
        ),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000))),
      ]);
      clearTimeout(timer);
    }
    this.draining = true;
    const resume = this.held;
    this.held = undefined;
    resume?.();
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.end(true);
        resolve();
      }, 5000);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
