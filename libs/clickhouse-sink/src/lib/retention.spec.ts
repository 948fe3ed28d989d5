import fc from 'fast-check';
import { formatUsage, UsageError } from '@stream-analytics/runtime';
import { supportsTableTtl } from './apply-retention';
import {
  DAY_MS,
  dayOfPartitionId,
  DEFAULT_RETENTION_POLICY,
  expiredPartitions,
  minAggregateRetentionDays,
  RETENTION_TABLES,
  retentionPolicyProblem,
  retentionTables,
  tableTtlOf,
  ttlExpression,
  type PartitionRef,
} from './retention';
import { RETENTION_OPTIONS, retentionPolicyOf } from './retention-options';
import { TABLES } from './schema';

const SECOND = 1000;
const policy = { aggregateDays: 30, deadLetterDays: 14 };
const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
const at = (table: string, dayStartMs: number): PartitionRef => ({ table, partitionId: ymd(dayStartMs) });
const dropped = (present: PartitionRef[], nowMs: number, p = policy) => expiredPartitions(present, nowMs, p).map((e) => `${e.table} ${e.partitionId}`);

describe('retention rules', () => {
  it('covers the tables that hold data, by class, and leaves the legacy tables alone', () => {
    expect(RETENTION_TABLES).toEqual({
      aggregate: [TABLES.windowState, TABLES.windowUsers, TABLES.minuteRollup, TABLES.devicePartitionMinute, TABLES.deviceHour, TABLES.legacyWindowState, TABLES.legacyMinuteRollup],
      deadLetter: [TABLES.deadLetters, TABLES.minuteDeadLetterRollup],
    });
    expect(retentionTables(policy)).toEqual([
      { table: 'stream_analytics.iot_window_agg_state', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.iot_window_users', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.iot_minute_results', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.iot_device_partition_minute', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.iot_device_hour', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.iot_window_state', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.iot_minute_rollup', cls: 'aggregate', days: 30 },
      { table: 'stream_analytics.dead_letters', cls: 'deadLetter', days: 14 },
      { table: 'stream_analytics.iot_minute_dead_letter_rollup', cls: 'deadLetter', days: 14 },
    ]);
    expect(DEFAULT_RETENTION_POLICY).toEqual({ aggregateDays: 30, deadLetterDays: 14 });
    const now = Date.UTC(2026, 11, 1);
    const ancient = Date.UTC(2000, 0, 1);
    expect(dropped([at(TABLES.deadLetterEvents, ancient), at('stream_analytics.iot_window_partition_state', ancient), at('other.iot_window_agg_state', ancient)], now)).toEqual([]);
  });

  it('drops a day whose end is exactly at now - retention, keeps the day one second inside', () => {
    // now - 30 days is exactly midnight: the day before it ends exactly at the cutoff.
    const now = Date.UTC(2026, 11, 1);
    const cutoff = now - 30 * DAY_MS; // 2026-11-01T00:00Z
    const endsAtCutoff = cutoff - DAY_MS; // 2026-10-31
    const present = [at(TABLES.windowState, endsAtCutoff), at(TABLES.windowState, cutoff)];
    expect(dropped(present, now)).toEqual(['stream_analytics.iot_window_agg_state 20261031']);
    // One second earlier the day 2026-10-31 still ends one second inside the retention.
    expect(dropped(present, now - SECOND)).toEqual([]);
    // A day that began exactly at the cutoff is wholly inside; it goes a whole day later.
    expect(dropped([at(TABLES.windowState, cutoff)], now + DAY_MS - SECOND)).toEqual([]);
    expect(dropped([at(TABLES.windowState, cutoff)], now + DAY_MS)).toEqual(['stream_analytics.iot_window_agg_state 20261101']);
  });

  it('uses each class its own days', () => {
    const now = Date.UTC(2026, 11, 1, 13, 45, 7);
    const day = (n: number) => Date.UTC(2026, 11, 1) - n * DAY_MS; // n days before today
    const present = [15, 14, 13, 31, 30, 29].flatMap((n) => [at(TABLES.deadLetters, day(n)), at(TABLES.minuteRollup, day(n)), at(TABLES.windowUsers, day(n))]);
    // Day n ends at today - (n - 1) days, expired when that is at or before now - retention:
    // n >= 15 for the dead letters (14 days), n >= 31 for the aggregates (30 days).
    expect(dropped(present, now)).toEqual([
      'stream_analytics.dead_letters 20261031',
      'stream_analytics.dead_letters 20261101',
      'stream_analytics.dead_letters 20261102',
      'stream_analytics.dead_letters 20261116',
      'stream_analytics.iot_minute_results 20261031',
      'stream_analytics.iot_window_users 20261031',
    ]);
  });

  it('equals a brute-force check of every row of the day: dropped exactly when the newest instant of the day is older than now - retention (property)', () => {
    const dayArb = fc.integer({ min: Date.UTC(1990, 0, 1) / DAY_MS, max: Date.UTC(2040, 0, 1) / DAY_MS }).map((d) => d * DAY_MS);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...retentionTables(policy).map((t) => t.table)), dayArb), { maxLength: 20 }),
        dayArb,
        fc.integer({ min: -2 * DAY_MS, max: 2 * DAY_MS }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 60 }),
        (parts, base, offset, aggregateDays, deadLetterDays) => {
          const p = { aggregateDays, deadLetterDays };
          const now = base + offset;
          const present = parts.map(([table, day]) => at(table, day));
          const days = (table: string) => (RETENTION_TABLES.deadLetter.includes(table) ? deadLetterDays : aggregateDays);
          // The newest instant a row of the day can have is its end minus one ms.
          const want = [...new Set(present.filter((x) => (dayOfPartitionId(x.partitionId) ?? NaN) + DAY_MS - 1 < now - days(x.table) * DAY_MS).map((x) => `${x.table} ${x.partitionId}`))].sort();
          expect(dropped(present, now, p).sort()).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('collapses several parts of one partition, sorts by table then day, and ignores ids that are not a calendar day', () => {
    const now = Date.UTC(2026, 11, 1);
    const present = [
      { table: TABLES.windowState, partitionId: '20260102' },
      { table: TABLES.windowState, partitionId: '20260101' },
      { table: TABLES.windowState, partitionId: '20260101' },
      { table: TABLES.windowState, partitionId: '202601' },
      { table: TABLES.windowState, partitionId: '20260230' },
      { table: TABLES.windowState, partitionId: 'all' },
      { table: TABLES.deadLetters, partitionId: '20260101' },
    ];
    expect(expiredPartitions(present, now, policy)).toEqual([
      { table: TABLES.deadLetters, partitionId: '20260101', cls: 'deadLetter', dayStartMs: Date.UTC(2026, 0, 1) },
      { table: TABLES.windowState, partitionId: '20260101', cls: 'aggregate', dayStartMs: Date.UTC(2026, 0, 1) },
      { table: TABLES.windowState, partitionId: '20260102', cls: 'aggregate', dayStartMs: Date.UTC(2026, 0, 2) },
    ]);
    expect(dayOfPartitionId('20240229')).toBe(Date.UTC(2024, 1, 29));
    expect(dayOfPartitionId('20230229')).toBeUndefined();
  });

  it('rejects a policy that is not whole days >= 1', () => {
    expect(retentionPolicyProblem({ aggregateDays: 0, deadLetterDays: 14 })).toMatch(/aggregate retention must be a whole number of days >= 1/);
    expect(retentionPolicyProblem({ aggregateDays: 30, deadLetterDays: 1.5 })).toMatch(/dead-letter retention/);
    expect(retentionPolicyProblem(policy)).toBeUndefined();
    expect(() => expiredPartitions([], Date.UTC(2026, 11, 6), { aggregateDays: 30, deadLetterDays: 0 })).toThrow(RangeError);
  });

  it('TTL expression: the form current servers print back, and read from engine_full', () => {
    expect(ttlExpression(30)).toBe('window_start + toIntervalDay(30)');
    expect(tableTtlOf('ReplacingMergeTree PARTITION BY toYYYYMMDD(window_start) ORDER BY window_start TTL window_start + toIntervalDay(30) SETTINGS index_granularity = 8192')).toBe(
      'window_start + toIntervalDay(30)',
    );
    expect(tableTtlOf('ReplacingMergeTree PARTITION BY toYYYYMMDD(window_start) ORDER BY window_start TTL window_start + toIntervalDay(7)')).toBe('window_start + toIntervalDay(7)');
    expect(tableTtlOf('ReplacingMergeTree PARTITION BY toYYYYMMDD(window_start) ORDER BY window_start SETTINGS index_granularity = 8192')).toBeUndefined();
    expect(supportsTableTtl({ text: '18.16.1', major: 18, minor: 16 })).toBe(false);
    expect(supportsTableTtl({ text: '19.5.1', major: 19, minor: 5 })).toBe(false);
    expect(supportsTableTtl({ text: '19.6.2', major: 19, minor: 6 })).toBe(true);
    expect(supportsTableTtl({ text: '26.7.2.1', major: 26, minor: 7 })).toBe(true);
  });
});

describe('retention options', () => {
  const spec = { name: 'x', summary: 'x', options: RETENTION_OPTIONS };

  it('aggregate retention must exceed the lateness horizon by at least one day', () => {
    expect(minAggregateRetentionDays(86_400_000)).toBe(2);
    expect(minAggregateRetentionDays(86_400_000 + 1)).toBe(3);
    expect(minAggregateRetentionDays(0)).toBe(1);
    expect(minAggregateRetentionDays(30 * DAY_MS)).toBe(31);
    expect(retentionPolicyOf({ aggregateRetentionDays: 30, deadLetterRetentionDays: 14 }, 86400, spec)).toEqual({ aggregateDays: 30, deadLetterDays: 14 });
    expect(retentionPolicyOf({ aggregateRetentionDays: 2, deadLetterRetentionDays: 1 }, 86400, spec)).toEqual({ aggregateDays: 2, deadLetterDays: 1 });
    const tooShort = () => retentionPolicyOf({ aggregateRetentionDays: 1, deadLetterRetentionDays: 14 }, 86400, spec);
    expect(tooShort).toThrow(UsageError);
    expect(tooShort).toThrow(/AGGREGATE_RETENTION_DAYS \(1\) must exceed the lateness horizon ALLOWED_LATENESS_SECS \(86400 s = 1 day\) by at least one day, so be at least 2/);
    expect(() => retentionPolicyOf({ aggregateRetentionDays: 30, deadLetterRetentionDays: 14 }, 30 * 86400, spec)).toThrow(/so be at least 31/);
  });

  it('usage lists the knobs with their environment names and defaults', () => {
    const usage = formatUsage(spec);
    expect(usage).toMatch(/--aggregate-retention-days <integer>.*env AGGREGATE_RETENTION_DAYS, default 30/);
    expect(usage).toMatch(/--dead-letter-retention-days <integer>.*env DEAD_LETTER_RETENTION_DAYS, default 14/);
    expect(usage).toMatch(/--retention-interval-secs <integer>.*env RETENTION_INTERVAL_SECS, default 3600/);
  });
});
