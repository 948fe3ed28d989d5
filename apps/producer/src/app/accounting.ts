/**
 * What the producer knows about its events: generated, handed to librdkafka
 * (sent), acknowledged by the broker (acked), failed (delivery error or
 * rejected by librdkafka), and what is still in flight. Plain counters on the
 * hot path; Prometheus reads them at scrape time through collect().
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class Accounting {
  generated = 0;
  sent = 0;
  acked = 0;
  /** Delivery reports with an error (after librdkafka's own retries). */
  deliveryFailed = 0;
  /** produce() refused the message (other than a full queue, which is retried). */
  rejected = 0;
  bytesSent = 0;
  readonly faults = new Map<string, number>();
  lastError: string | undefined;
  /** Events/s sent over the last status interval. */
  sendRate = 0;

  get failed(): number {
    return this.deliveryFailed + this.rejected;
  }

  /** Handed to librdkafka, no delivery report yet. */
  get inFlight(): number {
    return this.sent - this.acked - this.deliveryFailed;
  }

  /**
   * Sets the ack count from an external tally (librdkafka statistics),
   * clamped to what can have been acknowledged.
   */
  observeAcked(acked: number): void {
    this.acked = Math.max(0, Math.min(acked, this.sent - this.deliveryFailed));
  }

  countFault(kind: string): void {
    this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
  }
}

export function createMetrics(acc: Accounting, targetRate: number): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter('producer_events_sent_total', 'Events handed to librdkafka.', () => acc.sent);
  counter('producer_events_acked_total', 'Events acknowledged by the broker (acks=all).', () => acc.acked);
  counter('producer_events_failed_total', 'Events that failed: delivery error after retries, or rejected by librdkafka.', () => acc.failed);
  counter('producer_bytes_sent_total', 'Payload bytes handed to librdkafka.', () => acc.bytesSent);
  new Counter({
    name: 'producer_faults_injected_total',
    help: 'Injected faults by kind (malformed kinds, out_of_order, late).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, n] of acc.faults) this.inc({ kind }, n);
    },
  });
  new Gauge({ name: 'producer_queue_depth', help: 'Events in flight: sent but not yet acknowledged or failed.', registers: [registry], collect() { this.set(acc.inFlight); } });
  new Gauge({ name: 'producer_send_rate', help: 'Events per second sent over the last status interval.', registers: [registry], collect() { this.set(acc.sendRate); } });
  new Gauge({ name: 'producer_target_rate', help: 'Configured events per second (0 = unthrottled).', registers: [registry], collect() { this.set(targetRate); } });
  return registry;
}
