import { Accounting, createMetrics } from './accounting';

describe('Accounting', () => {
  it('derives in-flight and failed from the counters', () => {
    const acc = new Accounting();
    acc.sent = 100;
    acc.acked = 60;
    acc.deliveryFailed = 5;
    acc.rejected = 2;
    expect(acc.inFlight).toBe(35);
    expect(acc.failed).toBe(7);
  });

  it('takes acks from statistics, never beyond what can have been acknowledged', () => {
    const acc = new Accounting();
    acc.sent = 100;
    acc.deliveryFailed = 10;
    acc.observeAcked(50);
    expect(acc.acked).toBe(50);
    acc.observeAcked(1000);
    expect(acc.acked).toBe(90);
    acc.observeAcked(-5);
    expect(acc.acked).toBe(0);
  });

  it('exposes the counters as Prometheus metrics', async () => {
    const acc = new Accounting();
    acc.sent = 12;
    acc.acked = 10;
    acc.deliveryFailed = 1;
    acc.sendRate = 5;
    acc.countFault('late');
    acc.countFault('late');
    const text = await createMetrics(acc, 10000).metrics();
    expect(text).toMatch(/^producer_events_sent_total 12$/m);
    expect(text).toMatch(/^producer_events_acked_total 10$/m);
    expect(text).toMatch(/^producer_events_failed_total 1$/m);
    expect(text).toMatch(/^producer_queue_depth 1$/m);
    expect(text).toMatch(/^producer_send_rate 5$/m);
    expect(text).toMatch(/^producer_target_rate 10000$/m);
    expect(text).toMatch(/^producer_faults_injected_total\{kind="late"\} 2$/m);
    acc.sent = 13;
    expect(await createMetrics(acc, 0).metrics()).toMatch(/^producer_events_sent_total 13$/m);
  });
});
