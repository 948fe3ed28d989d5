/**
 * Prometheus metrics of the gateway. Counters are kept as plain numbers on
 * the hot path (one increment per event) and read by prom-client at scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InFlight } from './acks';

export type Transport = 'mqtt' | 'http';
export const TRANSPORTS: readonly Transport[] = ['mqtt', 'http'];

export class GatewayCounters {
  readonly received: Record<Transport, number> = { mqtt: 0, http: 0 };
  readonly accepted: Record<Transport, number> = { mqtt: 0, http: 0 };
  /** transport -> reason -> events rejected (dead-lettered, or refused over HTTP). */
  readonly rejected: Record<Transport, Map<string, number>> = { mqtt: new Map(), http: new Map() };
  /** Messages (MQTT) and requests (HTTP) acknowledged after Kafka acknowledged all their events. */
  readonly acknowledged: Record<Transport, number> = { mqtt: 0, http: 0 };
  /** Messages/requests not acknowledged because a record failed (MQTT: redelivered; HTTP: 503). */
  readonly unacknowledged: Record<Transport, number> = { mqtt: 0, http: 0 };
  deliveryFailures = 0;
  /** Times MQTT reading paused because --mqtt-receive-maximum messages waited for Kafka. */
  mqttPauses = 0;
  readonly httpResponses = new Map<number, number>();

  reject(transport: Transport, reason: string): void {
    const m = this.rejected[transport];
    m.set(reason, (m.get(reason) ?? 0) + 1);
  }

  respond(status: number): void {
    this.httpResponses.set(status, (this.httpResponses.get(status) ?? 0) + 1);
  }
}

export interface GatewayMetrics {
  registry: Registry;
  counters: GatewayCounters;
  observeAck(transport: Transport, seconds: number): void;
}

export function createMetrics(inFlight: InFlight, kafkaAvailable: () => boolean): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ingest_gateway_' });
  const c = new GatewayCounters();
  // Counters read from the plain numbers at scrape time.
  const counterFrom = (name: string, help: string, labelNames: string[], read: () => Array<[string[], number]>) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, n] of read()) (labels.length ? this.labels(...labels) : this).inc(n);
      },
    });
  const perTransport = (read: Record<Transport, number>) => () => TRANSPORTS.map((t): [string[], number] => [[t], read[t]]);
  counterFrom('ingest_gateway_received_events_total', 'Events received (after splitting messages and requests into events).', ['transport'], perTransport(c.received));
  counterFrom('ingest_gateway_accepted_events_total', 'Valid events produced to the raw topic.', ['transport'], perTransport(c.accepted));
  counterFrom(
    'ingest_gateway_acknowledged_total',
    'MQTT messages (PUBACK) and HTTP requests (2xx) acknowledged after Kafka acknowledged all their events.',
    ['transport'],
    perTransport(c.acknowledged),
  );
  counterFrom(
    'ingest_gateway_unacknowledged_total',
    'MQTT messages and HTTP requests not acknowledged because Kafka failed a record (MQTT: redelivered by the broker; HTTP: 503).',
    ['transport'],
    perTransport(c.unacknowledged),
  );
  counterFrom(
    'ingest_gateway_rejected_events_total',
    'Events rejected, by reason (validation reasons go to the DLQ; HTTP device_not_allowed is refused).',
    ['transport', 'reason'],
    () => TRANSPORTS.flatMap((t) => [...c.rejected[t]].map(([reason, n]): [string[], number] => [[t, reason], n])),
  );
  counterFrom('ingest_gateway_delivery_failures_total', 'Kafka records that failed after librdkafka\u2019s retries.', [], () => [[[], c.deliveryFailures]]);
  counterFrom(
    'ingest_gateway_mqtt_read_pauses_total',
    'Times MQTT reading paused because --mqtt-receive-maximum messages waited for Kafka (the broker keeps the rest).',
    [],
    () => [[[], c.mqttPauses]],
  );
  counterFrom('ingest_gateway_http_responses_total', 'HTTP responses of /v1/events by status code.', ['code'], () => [...c.httpResponses].map(([code, n]): [string[], number] => [[String(code)], n]));
  new Gauge({ name: 'ingest_gateway_in_flight_events', help: 'Events handed to Kafka and not yet acknowledged.', registers: [registry], collect() { this.set(inFlight.events); } });
  new Gauge({ name: 'ingest_gateway_in_flight_bytes', help: 'Bytes handed to Kafka and not yet acknowledged.', registers: [registry], collect() { this.set(inFlight.bytes); } });
  new Gauge({ name: 'ingest_gateway_kafka_available', help: '1 while Kafka is reachable and keeping up, else 0 (HTTP answers 503).', registers: [registry], collect() { this.set(kafkaAvailable() ? 1 : 0); } });
  const latency = new Histogram({
    name: 'ingest_gateway_ack_latency_seconds',
    help: 'Receipt of an MQTT message or HTTP request to its acknowledgement (PUBACK sent / response written).',
    labelNames: ['transport'],
    buckets: [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const children = { mqtt: latency.labels('mqtt'), http: latency.labels('http') };
  return { registry, counters: c, observeAck: (t, s) => children[t].observe(s) };
}
