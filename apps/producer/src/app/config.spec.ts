import { HelpRequested, UsageError } from '@stream-analytics/runtime';
import { MALFORMED_KINDS } from '@stream-analytics/event-schema';
import { loadConfig } from './config';

const NOW = Date.parse('2026-11-24T09:00:00Z');

describe('producer configuration', () => {
  it('defaults to the README contract: 10000 events/s from 2000 devices to the raw topic', () => {
    const c = loadConfig([], {}, NOW);
    expect(c).toMatchObject({
      brokers: '127.0.0.1:9092',
      topic: 'iot.telemetry.raw.v1',
      rate: 10000,
      devices: 2000,
      users: 500,
      count: undefined,
      duration: undefined,
      startTimeMs: NOW,
      eventRate: 10000,
      invalidFraction: 0,
      outOfOrderFraction: 0,
      lateFraction: 0,
      maxOutOfOrderMs: 5000,
      compression: 'lz4',
      deliveryReports: 'errors',
      metricsPort: 9464,
    });
    expect(c.invalidKinds).toEqual(MALFORMED_KINDS);
    expect(Number.isInteger(c.seed)).toBe(true);
  });

  it('reads the shared and PRODUCER_* environment names; flags win', () => {
    const env = { KAFKA_BROKERS: 'k1:9092,k2:9092', RAW_TOPIC: 't', PRODUCER_RATE: '500', PRODUCER_DEVICES: '7', METRICS_PORT: '0', PRODUCER_SEED: '9' };
    expect(loadConfig([], env, NOW)).toMatchObject({ brokers: 'k1:9092,k2:9092', topic: 't', rate: 500, devices: 7, metricsPort: 0, seed: 9, eventRate: 500 });
    expect(loadConfig(['--rate', '0', '--devices', '3'], env, NOW)).toMatchObject({ rate: 0, devices: 3, eventRate: 10000 });
  });

  it('accepts now, epoch milliseconds or a UTC instant as --start-time', () => {
    expect(loadConfig(['--start-time', '2026-11-24T10:00:00.5Z'], {}, NOW).startTimeMs).toBe(Date.parse('2026-11-24T10:00:00.500Z'));
    expect(loadConfig(['--start-time', '1764000000000'], {}, NOW).startTimeMs).toBe(1764000000000);
    expect(() => loadConfig(['--start-time', '2026-11-24 10:00'], {}, NOW)).toThrow(/expected "now", epoch milliseconds or a UTC instant/);
  });

  it('parses fault options', () => {
    const c = loadConfig(['--invalid-fraction', '0.1', '--invalid-kinds', 'too_large, repairable_timestamp', '--late-fraction', '0.01', '--out-of-order-fraction', '0.2'], {}, NOW);
    expect(c).toMatchObject({ invalidFraction: 0.1, invalidKinds: ['too_large', 'repairable_timestamp'], lateFraction: 0.01, outOfOrderFraction: 0.2 });
  });

  it.each([
    [['--count', '1', '--duration', '1'], /mutually exclusive/],
    [['--invalid-fraction', '0.5', '--out-of-order-fraction', '0.6'], /must not exceed 1/],
    [['--invalid-kinds', 'too_large,nope'], /unknown kind\(s\) nope/],
    [['--rate=-1'], /--rate: expected a value >= 0/],
    [['--count', '0'], /--count: expected a value >= 1/],
    [['--compression', 'brotli'], /expected one of none, gzip, snappy, lz4, zstd/],
    [['--delivery-reports', 'some'], /expected one of errors, all/],
    [['--brokers', 'nohost'], /is not host:port/],
    [['--seed=-3'], /--seed: expected a value >= 0/],
    [['--topic', ' '], /must not be empty/],
  ])('rejects %j with a usage error', (argv, message) => {
    expect(() => loadConfig(argv, {}, NOW)).toThrow(UsageError);
    expect(() => loadConfig(argv, {}, NOW)).toThrow(message);
  });

  it('shows every flag and environment name in --help', () => {
    try {
      loadConfig(['--help'], {}, NOW);
      throw new Error('expected HelpRequested');
    } catch (err) {
      expect(err).toBeInstanceOf(HelpRequested);
      const usage = (err as HelpRequested).usage;
      for (const text of ['--brokers', 'KAFKA_BROKERS', '--topic', 'RAW_TOPIC', '--rate', 'PRODUCER_RATE', '--devices', 'PRODUCER_DEVICES', '--count', '--duration', '--seed', '--users', '--metrics-port', 'METRICS_PORT', '--invalid-fraction', '--out-of-order-fraction', '--max-out-of-order-ms', '--late-fraction']) {
        expect(usage).toContain(text);
      }
    }
  });
});
